/* jsonutil: bounded JSON parsing and typed field access. */
#include "jsonutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int depth_ok(const cJSON *v, int depth)
{
    if (depth > JSON_DEPTH_MAX)
        return 0;
    for (const cJSON *c = v->child; c != NULL; c = c->next)
        if (!depth_ok(c, depth + 1))
            return 0;
    return 1;
}

cJSON *json_parse_bounded(const char *text, size_t len, struct ml_refusal *r)
{
    const char *end = NULL;
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
    if (!cJSON_IsString(f) || f->valuestring[0] == '\0' || strlen(f->valuestring) > maxlen)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "field '%s' must be a string of 1 to %zu bytes", name, maxlen);
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
    return cJSON_AddNumberToObject(obj, name, (double)v);
}

char *json_print(const cJSON *v)
{
    return cJSON_PrintUnformatted(v);
}
