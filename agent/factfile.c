/* factfile: NDJSON fact import in one transaction; see factfile.h. */
#include "factfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facts.h"
#include "jsonutil.h"
#include "phone.h"

ml_err factfile_import(struct db *db, const uint8_t phone_key_bytes[32], const char *path,
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
    if (line == NULL || (result = db_begin(db)) != ML_OK)
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
        } else if (phone_key_fact(body, phone_key_bytes, &r) != ML_OK) {
            snprintf(errbuf, errlen, "%s:%d: %s", path, lineno, r.message);
        } else if ((result = facts_apply(db, kind->valuestring, body, &one, &r)) != ML_OK) {
            snprintf(errbuf, errlen, "%s:%d: %s: %s", path, lineno, kind->valuestring, r.message);
        }
        cJSON_Delete(fact);
        if (result != ML_OK)
            goto out;
        applied += (size_t)one;
    }
    result = db_commit(db);
out:
    if (result != ML_OK)
        db_rollback(db);
    free(line);
    fclose(f);
    if (result == ML_OK)
        *ret_applied = applied;
    return result;
}
