/* factfile: NDJSON fact import in one transaction; see factfile.h. */
#include "factfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facts.h"
#include "jsonutil.h"
#include "phone.h"

/* Replaces a plaintext "phone" in a member body by its key and masked form. */
static ml_err key_phone(cJSON *body, const uint8_t phone_key_bytes[32])
{
    cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "phone");
    if (p == NULL)
        return ML_OK;
    char norm[PHONE_DIGITS + 1];
    if (!cJSON_IsString(p) || phone_normalize(p->valuestring, norm) != ML_OK)
        return ML_PARSE;
    uint8_t key[PHONE_KEY_LEN];
    char hex[2 * PHONE_KEY_LEN + 1], masked[PHONE_MASKED_LEN + 1];
    phone_key(phone_key_bytes, norm, key);
    for (size_t i = 0; i < PHONE_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    phone_mask(norm, masked);
    cJSON_DeleteItemFromObjectCaseSensitive(body, "phone");
    cJSON_DeleteItemFromObjectCaseSensitive(body, "phone_hmac");
    cJSON_DeleteItemFromObjectCaseSensitive(body, "phone_masked");
    cJSON_AddStringToObject(body, "phone_hmac", hex);
    cJSON_AddStringToObject(body, "phone_masked", masked);
    return ML_OK;
}

ml_err factfile_import(struct store *st, const uint8_t phone_key_bytes[32], const char *path,
                       size_t *ret_applied, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return ML_NOENTRY;
    }
    char *line = malloc(FACTFILE_LINE_MAX + 2);
    ml_err result = ML_NOMEM;
    size_t applied = 0;
    int lineno = 0;
    if (line == NULL || (result = store_begin(st)) != ML_OK)
        goto out;
    while (fgets(line, FACTFILE_LINE_MAX + 2, f) != NULL) {
        lineno++;
        size_t n = strlen(line);
        int complete = n > 0 && line[n - 1] == '\n';
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > FACTFILE_LINE_MAX || (!complete && n == FACTFILE_LINE_MAX + 1)) {
            snprintf(errbuf, errlen, "%s:%d: line longer than %d bytes", path, lineno,
                     FACTFILE_LINE_MAX);
            result = ML_LIMIT;
            goto out;
        }
        if (line[strspn(line, " \t")] == '\0' || line[0] == '#')
            continue;
        struct ml_refusal r = {0};
        cJSON *fact = json_parse_bounded(line, n, &r);
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(fact, "kind");
        cJSON *body = cJSON_GetObjectItemCaseSensitive(fact, "body");
        int one = 0;
        result = ML_PARSE;
        if (!cJSON_IsString(kind) || !cJSON_IsObject(body)) {
            snprintf(errbuf, errlen, "%s:%d: expected {\"kind\":..,\"body\":{..}}", path, lineno);
        } else if (key_phone(body, phone_key_bytes) != ML_OK) {
            snprintf(errbuf, errlen, "%s:%d: 'phone' is not a mainland mobile number", path,
                     lineno);
        } else if ((result = facts_apply(st, kind->valuestring, body, &one, &r)) != ML_OK) {
            snprintf(errbuf, errlen, "%s:%d: %s: %s", path, lineno, kind->valuestring, r.message);
        }
        cJSON_Delete(fact);
        if (result != ML_OK)
            goto out;
        applied += (size_t)one;
    }
    result = store_commit(st);
out:
    if (result != ML_OK)
        store_rollback(st);
    free(line);
    fclose(f);
    if (result == ML_OK)
        *ret_applied = applied;
    return result;
}
