/* outbox: event envelopes written in the caller's transaction; see outbox.h. */
#include "outbox.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>

#include "hlc.h"
#include "jsonutil.h"

void outbox_uuid_v7(int64_t now_ms, char out[UUID_TEXT_LEN + 1])
{
    uint8_t b[16];
    if (RAND_bytes(b + 6, 10) != 1) {
        /* OpenSSL's CSPRNG does not fail once seeded; keep ids unique by time alone. */
        for (int i = 6; i < 16; i++)
            b[i] = (uint8_t)rand();
    }
    uint64_t ms = (uint64_t)now_ms;
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (b[6] & 0x0f));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    snprintf(out, UUID_TEXT_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

ml_err outbox_append(struct store *st, const char *store_id, const char *terminal, int64_t now_ms,
                     const char *type, cJSON *body)
{
    static const char sql[] = "INSERT INTO outbox (seq, event_id, type, hlc, at, payload) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    ml_err result = ML_STORAGE;
    cJSON *env = NULL;
    char *text = NULL;
    int64_t seq = 0;
    struct hlc h;
    char id[UUID_TEXT_LEN + 1], stamp[HLC_TEXT_MAX];

    if (store_state_get_i64(st, "outbox_next_seq", 1, &seq) != ML_OK ||
        store_state_set_i64(st, "outbox_next_seq", seq + 1) != ML_OK ||
        hlc_tick(st, now_ms, &h) != ML_OK)
        goto out;
    hlc_format(&h, stamp);
    outbox_uuid_v7(now_ms, id);
    result = ML_NOMEM;
    env = cJSON_CreateObject();
    if (env == NULL)
        goto out;
    cJSON_AddStringToObject(env, "id", id);
    json_add_i64(env, "seq", seq);
    cJSON_AddStringToObject(env, "type", type);
    cJSON_AddStringToObject(env, "store", store_id);
    cJSON_AddStringToObject(env, "terminal", terminal);
    cJSON_AddStringToObject(env, "hlc", stamp);
    json_add_i64(env, "at", now_ms);
    cJSON_AddItemToObject(env, "body", body);
    body = NULL;
    text = json_print(env);
    if (text == NULL)
        goto out;
    result = ML_STORAGE;
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        goto out;
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_text(s, 2, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, stamp, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, now_ms);
    sqlite3_bind_text(s, 6, text, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) == SQLITE_DONE)
        result = ML_OK;
    sqlite3_reset(s);
out:
    cJSON_Delete(body);
    cJSON_Delete(env);
    free(text);
    return result;
}

int64_t outbox_depth(struct store *st)
{
    static const char sql[] = "SELECT count(*) FROM outbox";
    return store_count(st, sql);
}

int64_t outbox_oldest_at(struct store *st)
{
    /* The lowest seq is the oldest event: one step down the primary key, no scan. */
    static const char sql[] = "SELECT coalesce((SELECT at FROM outbox ORDER BY seq LIMIT 1), 0)";
    return store_count(st, sql);
}
