/* outbox: event envelopes written in the caller's transaction, batches and acks; see outbox.h. */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlc.h"
#include "jsonutil.h"
#include "state.h"

ml_err outbox_append(struct db *db, const char *store_id, const char *terminal, int64_t now_ms,
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

    if (state_get_i64(db, "outbox_next_seq", 1, &seq) != ML_OK ||
        state_set_i64(db, "outbox_next_seq", seq + 1) != ML_OK || hlc_tick(db, now_ms, &h) != ML_OK)
        goto out;
    hlc_format(&h, stamp);
    uuid_v7(now_ms, id);
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
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        goto out;
    db_bind_i64(db, s, 1, seq);
    db_bind_text(db, s, 2, id);
    db_bind_text_static(db, s, 3, type);
    db_bind_text(db, s, 4, stamp);
    db_bind_i64(db, s, 5, now_ms);
    db_bind_text_owned(db, s, 6, text);
    text = NULL;
    result = db_run(db, s);
out:
    cJSON_Delete(body);
    cJSON_Delete(env);
    free(text);
    return result;
}

int64_t outbox_depth(struct db *db)
{
    static const char sql[] = "SELECT count(*) FROM outbox";
    return db_count(db, sql);
}

int64_t outbox_oldest_at(struct db *db)
{
    /* The lowest seq is the oldest event: one step down the primary key, no scan. */
    static const char sql[] = "SELECT coalesce((SELECT at FROM outbox ORDER BY seq LIMIT 1), 0)";
    return db_count(db, sql);
}

/* ---- batches ----------------------------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* Frames rows from `s` (seq, payload) into a batch under ret->id; an empty ret->id gets a
 * fresh one once there is an event (nothing is drawn for an empty outbox). */
static ml_err frame(struct db *db, sqlite3_stmt *s, int64_t now_ms, int max_events,
                    size_t max_bytes, struct outbox_batch *ret)
{
    struct buf b = {0};
    char head[96];
    int n = 0, rc;
    while ((rc = db_step(db, s)) == SQLITE_ROW) {
        if (n == 0) {
            if (ret->id[0] == '\0')
                uuid_v7(now_ms, ret->id);
            snprintf(head, sizeof(head), "{\"v\":1,\"batch\":\"%s\",\"events\":[", ret->id);
            if (buf_add(&b, head, strlen(head)) != 0)
                goto nomem;
        }
        const char *ev = (const char *)sqlite3_column_text(s, 1);
        size_t len = (size_t)sqlite3_column_bytes(s, 1);
        /* The framed batch with this event: what it holds, ',', the event and "]}". */
        if (n > 0 && (n >= max_events || b.len + 1 + len + 2 > max_bytes))
            break;
        if ((n > 0 && buf_add(&b, ",", 1) != 0) || buf_add(&b, ev, len) != 0)
            goto nomem;
        if (n == 0)
            ret->first_seq = sqlite3_column_int64(s, 0);
        ret->last_seq = sqlite3_column_int64(s, 0);
        n++;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        free(b.p);
        return ML_STORAGE;
    }
    ret->nevents = n;
    if (n == 0)
        return ML_OK; /* payload NULL, len 0 */
    if (buf_add(&b, "]}", 2) != 0)
        goto nomem;
    ret->payload = b.p;
    ret->len = b.len;
    return ML_OK;
nomem:
    sqlite3_reset(s);
    free(b.p);
    return ML_NOMEM;
}

ml_err outbox_batch_next(struct db *db, int64_t after_seq, int max_events, size_t max_bytes,
                         int64_t now_ms, struct outbox_batch *ret)
{
    static const char sql[] = "SELECT seq, payload FROM outbox WHERE seq > ?1 ORDER BY seq "
                              "LIMIT ?2";
    memset(ret, 0, sizeof(*ret));
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_i64(db, s, 1, after_seq);
    db_bind_i64(db, s, 2, max_events + 1);
    return frame(db, s, now_ms, max_events, max_bytes, ret);
}

ml_err outbox_batch_again(struct db *db, const struct outbox_batch *old, struct outbox_batch *ret)
{
    static const char sql[] = "SELECT seq, payload FROM outbox WHERE seq BETWEEN ?1 AND ?2 "
                              "ORDER BY seq";
    memset(ret, 0, sizeof(*ret));
    memcpy(ret->id, old->id, sizeof(ret->id));
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_i64(db, s, 1, old->first_seq);
    db_bind_i64(db, s, 2, old->last_seq);
    ml_err err = frame(db, s, 0, old->nevents, SIZE_MAX, ret);
    /* Keep the original range: acks may have removed its ends. */
    if (err == ML_OK && ret->nevents > 0) {
        ret->first_seq = old->first_seq;
        ret->last_seq = old->last_seq;
    }
    return err;
}

void outbox_batch_release(struct outbox_batch *b)
{
    if (b == NULL)
        return;
    free(b->payload);
    b->payload = NULL;
    b->len = 0;
}

ml_err outbox_ack(struct db *db, char (*ids)[OUTBOX_EVENT_ID_LEN + 1], size_t n,
                  size_t *ret_deleted)
{
    static const char sql[] = "DELETE FROM outbox WHERE event_id = ?1";
    size_t deleted = 0;
    if (n == 0) {
        *ret_deleted = 0;
        return ML_OK;
    }
    if (db_begin(db) != ML_OK)
        return ML_STORAGE;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *s = db_stmt(db, sql);
        if (s == NULL)
            goto fail;
        db_bind_text_static(db, s, 1, ids[i]);
        if (db_run(db, s) != ML_OK)
            goto fail;
        deleted += (size_t)db_changes(db);
    }
    if (db_commit(db) != ML_OK)
        return ML_STORAGE;
    *ret_deleted = deleted;
    return ML_OK;
fail:
    db_rollback(db);
    return ML_STORAGE;
}

int outbox_pending_in(struct db *db, int64_t first_seq, int64_t last_seq)
{
    static const char sql[] = "SELECT 1 FROM outbox WHERE seq BETWEEN ?1 AND ?2 LIMIT 1";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return 1;
    db_bind_i64(db, s, 1, first_seq);
    db_bind_i64(db, s, 2, last_seq);
    int rc = db_step(db, s);
    sqlite3_reset(s);
    return rc != SQLITE_DONE;
}
