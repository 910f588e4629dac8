/* hq_bodies: reading a push command's input file; see hq_bodies.h. */
#include "hq_bodies.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "hq_cli.h"
#include "jsonutil.h"

void hq_bodies_free(struct hq_bodies *b)
{
    for (size_t i = 0; i < b->n; i++)
        cJSON_Delete(b->v[i]);
    free(b->v);
    free(b->line);
    memset(b, 0, sizeof(*b));
}

int hq_bodies_add(struct hq_bodies *b, cJSON *v, int line)
{
    if (b->n >= HQ_BODIES_MAX) {
        cJSON_Delete(v);
        return -1;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        cJSON **nv = realloc(b->v, cap * sizeof(*nv));
        if (nv != NULL)
            b->v = nv;
        int *nl = realloc(b->line, cap * sizeof(*nl));
        if (nl != NULL)
            b->line = nl;
        if (nv == NULL || nl == NULL) {
            cJSON_Delete(v);
            return -1;
        }
        b->cap = cap;
    }
    b->v[b->n] = v;
    b->line[b->n] = line;
    b->n++;
    return 0;
}

/* Whole file, NUL-terminated, at most HQ_BODIES_FILE_MAX bytes; NULL with errbuf filled.
 * Caller frees. */
static char *slurp(const char *path, size_t *ret_len, char *errbuf, size_t errlen)
{
    char *buf = NULL;
    ml_err err = file_read_small(path, HQ_BODIES_FILE_MAX, &buf, ret_len);
    if (err == ML_FAILURE && errno == EISDIR)
        err = ML_LIMIT; /* not a regular file */
    if (err == ML_NOENTRY || err == ML_FAILURE) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(err == ML_NOENTRY ? ENOENT : errno));
        return NULL;
    }
    if (err == ML_LIMIT) {
        snprintf(errbuf, errlen, "%s: not a regular file of at most %ld bytes", path,
                 HQ_BODIES_FILE_MAX);
        return NULL;
    }
    if (err != ML_OK) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return NULL;
    }
    if (memchr(buf, '\0', *ret_len) != NULL) {
        snprintf(errbuf, errlen, "%s: holds a NUL byte: not a JSON text", path);
        free(buf);
        return NULL;
    }
    return buf;
}

/*
 * One body from a parsed value: the object itself, or the "body" of a fact line
 * {"kind":..,"body":{..}} whose kind must be `kind`. Takes ownership of v; NULL with errbuf
 * filled when it is neither.
 */
static cJSON *unwrap(cJSON *v, const char *kind, char *errbuf, size_t errlen)
{
    if (!cJSON_IsObject(v)) {
        snprintf(errbuf, errlen, "expected a JSON object");
        cJSON_Delete(v);
        return NULL;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(v, "kind");
    cJSON *body = cJSON_GetObjectItemCaseSensitive(v, "body");
    if (cJSON_IsString(k) && cJSON_IsObject(body)) {
        if (strcmp(k->valuestring, kind) != 0) {
            snprintf(errbuf, errlen, "a %.40s fact where %s was expected", k->valuestring, kind);
            cJSON_Delete(v);
            return NULL;
        }
        cJSON *b = cJSON_DetachItemViaPointer(v, body);
        cJSON_Delete(v);
        return b;
    }
    return v;
}

int hq_bodies_read(const char *path, const char *kind, int many, struct hq_bodies *out)
{
    char errbuf[512] = "";
    struct ml_refusal r = {0};
    size_t len = 0;
    char *text = slurp(path, &len, errbuf, sizeof(errbuf));
    if (text == NULL)
        return hq_cli_usage("%s", errbuf);
    int result = HQ_EXIT_USAGE;
    cJSON *doc = json_parse_bounded(text, len, &r);
    if (doc != NULL && cJSON_IsArray(doc) && many) {
        cJSON *item;
        while ((item = cJSON_DetachItemFromArray(doc, 0)) != NULL) {
            size_t i = out->n;
            cJSON *b = unwrap(item, kind, errbuf, sizeof(errbuf));
            if (b == NULL) {
                hq_cli_usage("%s: element %zu: %s", path, i + 1, errbuf);
                goto out;
            }
            if (hq_bodies_add(out, b, 0) != 0) {
                hq_cli_usage("%s: more than %d bodies", path, HQ_BODIES_MAX);
                goto out;
            }
        }
    } else if (doc != NULL) {
        cJSON *b = unwrap(doc, kind, errbuf, sizeof(errbuf));
        doc = NULL;
        if (b == NULL) {
            hq_cli_usage("%s: %s", path, errbuf);
            goto out;
        }
        if (hq_bodies_add(out, b, 0) != 0) {
            hq_cli_usage("%s: out of memory", path);
            goto out;
        }
    } else {
        /* NDJSON: one value per line. */
        int lineno = 0;
        for (char *line = text; line != NULL && *line != '\0';) {
            char *nl = strchr(line, '\n');
            size_t n = nl ? (size_t)(nl - line) : strlen(line);
            lineno++;
            const char *p = line + strspn(line, " \t\r");
            if (p < line + n && *p != '#') {
                cJSON *v = json_parse_bounded(line, n, &r);
                if (v == NULL) {
                    hq_cli_usage("%s:%d: not a JSON value (a file is one JSON document, or NDJSON: "
                                 "one object per line)",
                                 path, lineno);
                    goto out;
                }
                cJSON *b = unwrap(v, kind, errbuf, sizeof(errbuf));
                if (b == NULL) {
                    hq_cli_usage("%s:%d: %s", path, lineno, errbuf);
                    goto out;
                }
                if (hq_bodies_add(out, b, lineno) != 0) {
                    hq_cli_usage("%s: more than %d bodies", path, HQ_BODIES_MAX);
                    goto out;
                }
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    if (out->n == 0) {
        hq_cli_usage("%s: no %s body in the file", path, kind);
        goto out;
    }
    if (!many && out->n != 1) {
        hq_cli_usage("%s: expected one %s object, found %zu", path, kind, out->n);
        goto out;
    }
    result = HQ_EXIT_OK;
out:
    cJSON_Delete(doc);
    free(text);
    return result;
}
