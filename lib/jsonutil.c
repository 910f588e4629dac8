/* jsonutil: bounded JSON parsing and typed field access. */
#include "jsonutil.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nesting counts objects and arrays only: {"a":{"b":1}} is two levels. */
static int depth_ok(const cJSON *v, int depth)
{
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return 1;
    if (depth > JSON_DEPTH_MAX)
        return 0;
    for (const cJSON *c = v->child; c != NULL; c = c->next)
        if (!depth_ok(c, depth + 1))
            return 0;
    return 1;
}

int json_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (p[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* 1 if the JSON text has the escape \u0000 in a string: cJSON would cut the string there
 * and silently drop the rest, so such text is refused. An escape is a backslash preceded by
 * an even number of backslashes. */
static int has_escaped_nul(const char *text, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++) {
        if (text[i] != '\\' || memcmp(text + i + 1, "u0000", 5) != 0)
            continue;
        size_t k = 0;
        while (k < i && text[i - 1 - k] == '\\')
            k++;
        if (k % 2 == 0)
            return 1;
    }
    return 0;
}

cJSON *json_parse_bounded(const char *text, size_t len, struct ml_refusal *r)
{
    const char *end = NULL;
    if (has_escaped_nul(text, len)) {
        ml_refuse(r, ML_PARSE, 400, "malformed_json", "a JSON string holds \\u0000");
        return NULL;
    }
    cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (v == NULL) {
        ml_refuse(r, ML_PARSE, 400, "malformed_json", "request body is not valid JSON");
        return NULL;
    }
    /* Only whitespace may follow the value. */
    for (; end != NULL && end < text + len; end++) {
        if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t' && *end != '\0') {
            cJSON_Delete(v);
            ml_refuse(r, ML_PARSE, 400, "malformed_json",
                      "request body has data after the JSON value");
            return NULL;
        }
    }
    if (!depth_ok(v, 1)) {
        cJSON_Delete(v);
        ml_refuse(r, ML_PARSE, 400, "malformed_json", "JSON nests deeper than %d levels",
                  JSON_DEPTH_MAX);
        return NULL;
    }
    return v;
}

ml_err json_str(const cJSON *obj, const char *name, int required, size_t maxlen, const char **ret,
                struct ml_refusal *r)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (f == NULL || cJSON_IsNull(f)) {
        if (required)
            return ml_refuse(r, ML_PARSE, 400, "invalid_request", "field '%s' is required", name);
        return ML_OK;
    }
    if (!cJSON_IsString(f) || f->valuestring[0] == '\0' || strlen(f->valuestring) > maxlen ||
        !json_utf8_valid(f->valuestring))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "field '%s' must be a UTF-8 string of 1 to %zu bytes", name, maxlen);
    *ret = f->valuestring;
    return ML_OK;
}

ml_err json_i64(const cJSON *obj, const char *name, int required, int64_t min, int64_t max,
                int64_t *ret, struct ml_refusal *r)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (f == NULL || cJSON_IsNull(f)) {
        if (required)
            return ml_refuse(r, ML_PARSE, 400, "invalid_request", "field '%s' is required", name);
        return ML_OK;
    }
    double d = f->valuedouble;
    if (!cJSON_IsNumber(f) || d != floor(d) || d < (double)min || d > (double)max ||
        fabs(d) > (double)JSON_INT_MAX)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "field '%s' must be an integer from %lld to %lld", name, (long long)min,
                         (long long)max);
    *ret = (int64_t)d;
    return ML_OK;
}

ml_err json_bool(const cJSON *obj, const char *name, int *ret, struct ml_refusal *r)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (f == NULL || cJSON_IsNull(f))
        return ML_OK;
    if (!cJSON_IsBool(f))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "field '%s' must be true or false",
                         name);
    *ret = cJSON_IsTrue(f);
    return ML_OK;
}

cJSON *json_add_i64(cJSON *obj, const char *name, int64_t v)
{
    /* cJSON prints doubles with 15 significant digits: past that, print the integer
     * exactly ourselves rather than in exponent form. */
    if (v >= INT64_C(1000000000000000) || v <= -INT64_C(1000000000000000)) {
        char text[24];
        snprintf(text, sizeof(text), "%" PRId64, v);
        return cJSON_AddRawToObject(obj, name, text);
    }
    return cJSON_AddNumberToObject(obj, name, (double)v);
}

char *json_print(const cJSON *v)
{
    return cJSON_PrintUnformatted(v);
}
