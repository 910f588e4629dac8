/* drain: outbox batches and acks; see drain.h. */
#include "drain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox.h"

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

/* Frames rows from `s` (seq, payload) into a batch. */
static ml_err frame(sqlite3_stmt *s, const char *batch_id, int max_events, size_t max_bytes,
                    struct drain_batch *ret)
{
    struct buf b = {0};
    char head[96];
    int n = 0, rc;
    snprintf(head, sizeof(head), "{\"v\":1,\"batch\":\"%s\",\"events\":[", batch_id);
    if (buf_add(&b, head, strlen(head)) != 0)
        goto nomem;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *ev = (const char *)sqlite3_column_text(s, 1);
        size_t len = (size_t)sqlite3_column_bytes(s, 1);
        if (n > 0 && (n >= max_events || b.len + len + 2 > max_bytes))
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
    if (buf_add(&b, "]}", 2) != 0)
        goto nomem;
    ret->nevents = n;
    if (n == 0) {
        free(b.p);
        ret->payload = NULL;
        ret->len = 0;
    } else {
        ret->payload = b.p;
        ret->len = b.len;
    }
    return ML_OK;
nomem:
    sqlite3_reset(s);
    free(b.p);
    return ML_NOMEM;
}

ml_err drain_next(struct store *st, int64_t after_seq, int max_events, size_t max_bytes,
                  int64_t now_ms, struct drain_batch *ret)
{
    static const char sql[] = "SELECT seq, payload FROM outbox WHERE seq > ?1 ORDER BY seq "
                              "LIMIT ?2";
    memset(ret, 0, sizeof(*ret));
    outbox_uuid_v7(now_ms, ret->id);
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_int64(s, 1, after_seq);
    sqlite3_bind_int(s, 2, max_events + 1);
    return frame(s, ret->id, max_events, max_bytes, ret);
}

ml_err drain_again(struct store *st, const struct drain_batch *old, struct drain_batch *ret)
{
    static const char sql[] = "SELECT seq, payload FROM outbox WHERE seq BETWEEN ?1 AND ?2 "
                              "ORDER BY seq";
    memset(ret, 0, sizeof(*ret));
    memcpy(ret->id, old->id, sizeof(ret->id));
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_int64(s, 1, old->first_seq);
    sqlite3_bind_int64(s, 2, old->last_seq);
    ml_err err = frame(s, ret->id, old->nevents, SIZE_MAX, ret);
    /* Keep the original range: acks may have removed its ends. */
    if (err == ML_OK && ret->nevents > 0) {
        ret->first_seq = old->first_seq;
        ret->last_seq = old->last_seq;
    }
    return err;
}

void drain_batch_release(struct drain_batch *b)
{
    if (b == NULL)
        return;
    free(b->payload);
    b->payload = NULL;
    b->len = 0;
}

ml_err drain_ack(struct store *st, char (*ids)[DRAIN_EVENT_ID_LEN + 1], size_t n,
                 size_t *ret_deleted)
{
    static const char sql[] = "DELETE FROM outbox WHERE event_id = ?1";
    size_t deleted = 0;
    if (n == 0) {
        *ret_deleted = 0;
        return ML_OK;
    }
    if (store_begin(st) != ML_OK)
        return ML_STORAGE;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *s = store_stmt(st, sql);
        if (s == NULL)
            goto fail;
        sqlite3_bind_text(s, 1, ids[i], -1, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            goto fail;
        deleted += (size_t)sqlite3_changes(store_db(st));
    }
    if (store_commit(st) != ML_OK)
        goto fail;
    *ret_deleted = deleted;
    return ML_OK;
fail:
    store_rollback(st);
    return ML_STORAGE;
}

int drain_pending_in(struct store *st, int64_t first_seq, int64_t last_seq)
{
    static const char sql[] = "SELECT 1 FROM outbox WHERE seq BETWEEN ?1 AND ?2 LIMIT 1";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return 1;
    sqlite3_bind_int64(s, 1, first_seq);
    sqlite3_bind_int64(s, 2, last_seq);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_ROW;
}
