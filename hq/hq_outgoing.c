/*
 * hq_outgoing: the signed messages HQ sent to stores; see hq_outgoing.h.
 *
 * Owns (the only SQL naming them): outgoing, outgoing_campaigns.
 *
 * Statements are literals cached by address on the hq_store's connection (db_stmt()).
 */
#include "hq_outgoing.h"

#include <string.h>

/* Steps a statement that returns one row of one or two integers; resets it. */
static ml_err one_row(struct db *db, sqlite3_stmt *s, int64_t *ret, int64_t *ret2)
{
    int rc = db_step(db, s);
    if (rc == SQLITE_ROW) {
        *ret = sqlite3_column_int64(s, 0);
        if (ret2 != NULL)
            *ret2 = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? ML_OK : ML_STORAGE;
}

ml_err hq_outgoing_last_cursor(struct hq_store *st, const char *store, int64_t *ret_cursor)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s = db_stmt(db, "SELECT coalesce(max(cursor), 0) FROM outgoing WHERE store = ?1");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, store);
    return one_row(db, s, ret_cursor, NULL);
}

ml_err hq_outgoing_last_version(struct hq_store *st, const char *entity, int64_t *ret_version)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s =
        db_stmt(db, "SELECT coalesce(max(version), 0) FROM outgoing WHERE entity = ?1");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, entity);
    return one_row(db, s, ret_version, NULL);
}

ml_err hq_outgoing_last_version_at(struct hq_store *st, const char *store, const char *entity,
                                   int64_t *ret_version)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s = db_stmt(db, "SELECT coalesce(max(version), 0) FROM outgoing"
                                  " WHERE entity = ?1 AND store = ?2");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, entity);
    db_bind_text_static(db, s, 2, store);
    return one_row(db, s, ret_version, NULL);
}

ml_err hq_outgoing_put(struct hq_store *st, const struct hq_outgoing *m)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s =
        db_stmt(db, "INSERT INTO outgoing (store, cursor, id, kind, entity, version, topic, text,"
                    " issued, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, m->store);
    db_bind_i64(db, s, 2, m->cursor);
    db_bind_text_static(db, s, 3, m->id);
    db_bind_text_static(db, s, 4, m->kind);
    db_bind_text_static(db, s, 5, m->entity);
    db_bind_i64(db, s, 6, m->version);
    db_bind_text_static(db, s, 7, m->topic);
    db_bind_text_static(db, s, 8, m->text);
    db_bind_i64(db, s, 9, m->issued);
    db_bind_i64(db, s, 10, m->expires);
    return db_run(db, s);
}

ml_err hq_outgoing_campaign_version(struct hq_store *st, const char *campaign_id,
                                    int64_t *ret_version)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s = db_stmt(db, "SELECT version FROM outgoing_campaigns WHERE campaign_id = ?1");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, campaign_id);
    int rc = db_step(db, s);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ML_STORAGE;
    *ret_version = v;
    return ML_OK;
}

ml_err hq_outgoing_live_campaigns(struct hq_store *st, int64_t now_ms, const char *except,
                                  int64_t *ret_count, int64_t *ret_bytes)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s =
        db_stmt(db, "SELECT count(*), coalesce(sum(length(CAST(text AS BLOB))), 0)"
                    " FROM outgoing_campaigns WHERE expires > ?1 AND campaign_id IS NOT ?2");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_i64(db, s, 1, now_ms);
    db_bind_text_static(db, s, 2, except);
    return one_row(db, s, ret_count, ret_bytes);
}

ml_err hq_outgoing_put_campaign(struct hq_store *st, const char *campaign_id,
                                const struct hq_outgoing *m)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s =
        db_stmt(db, "INSERT INTO outgoing_campaigns (campaign_id, version, id, topic, text,"
                    " issued, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                    " ON CONFLICT (campaign_id) DO UPDATE SET version = excluded.version,"
                    " id = excluded.id, topic = excluded.topic, text = excluded.text,"
                    " issued = excluded.issued, expires = excluded.expires, published_at = NULL");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, campaign_id);
    db_bind_i64(db, s, 2, m->version);
    db_bind_text_static(db, s, 3, m->id);
    db_bind_text_static(db, s, 4, m->topic);
    db_bind_text_static(db, s, 5, m->text);
    db_bind_i64(db, s, 6, m->issued);
    db_bind_i64(db, s, 7, m->expires);
    return db_run(db, s);
}

ml_err hq_outgoing_mark_published(struct hq_store *st, const char *id, int64_t now_ms)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s = db_stmt(db, "UPDATE outgoing SET published_at = ?2"
                                  " WHERE id = ?1 AND published_at IS NULL");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, id);
    db_bind_i64(db, s, 2, now_ms);
    if (db_run(db, s) != ML_OK)
        return ML_STORAGE;
    s = db_stmt(db, "UPDATE outgoing_campaigns SET published_at = ?2"
                    " WHERE id = ?1 AND published_at IS NULL");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, id);
    db_bind_i64(db, s, 2, now_ms);
    return db_run(db, s);
}

ml_err hq_outgoing_expired_campaigns(struct hq_store *st, int64_t now_ms,
                                     void (*fn)(void *arg, const char *topic), void *arg)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s = db_stmt(db, "SELECT topic FROM outgoing_campaigns WHERE expires <= ?1");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_i64(db, s, 1, now_ms);
    int rc;
    while ((rc = db_step(db, s)) == SQLITE_ROW)
        fn(arg, db_col_text(s, 0));
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

/* ---- reading messages back --------------------------------------------------------------- */

/* Hands the rows (topic, id, text) of a bound statement to fn; resets it. */
static ml_err walk(struct db *db, sqlite3_stmt *s, hq_outgoing_fn fn, void *arg)
{
    enum hq_walk w = HQ_WALK_NEXT;
    int rc = SQLITE_DONE;
    while (w == HQ_WALK_NEXT && (rc = db_step(db, s)) == SQLITE_ROW) {
        const struct hq_outgoing_text m = {.topic = db_col_text(s, 0),
                                           .id = db_col_text(s, 1),
                                           .text = db_col_text(s, 2),
                                           .len = (size_t)sqlite3_column_bytes(s, 2)};
        w = fn(arg, &m);
    }
    sqlite3_reset(s);
    if (w == HQ_WALK_FAIL)
        return ML_NOMEM;
    return w == HQ_WALK_STOP || rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

ml_err hq_outgoing_campaigns(struct hq_store *st, int64_t now_ms, int64_t max, hq_outgoing_fn fn,
                             void *arg)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s = db_stmt(db, "SELECT topic, id, text FROM outgoing_campaigns"
                                  " WHERE expires > ?1 ORDER BY campaign_id LIMIT ?2");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_i64(db, s, 1, now_ms);
    db_bind_i64(db, s, 2, max);
    return walk(db, s, fn, arg);
}

ml_err hq_outgoing_unpublished(struct hq_store *st, int64_t now_ms, int64_t max, hq_outgoing_fn fn,
                               void *arg)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s = db_stmt(db, "SELECT topic, id, text FROM outgoing WHERE published_at IS NULL"
                                  " AND expires > ?1 ORDER BY store, cursor LIMIT ?2");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_i64(db, s, 1, now_ms);
    db_bind_i64(db, s, 2, max);
    return walk(db, s, fn, arg);
}

ml_err hq_outgoing_changes(struct hq_store *st, const char *store, int64_t since, int64_t max,
                           hq_outgoing_fn fn, void *arg)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s = db_stmt(db, "SELECT topic, id, text FROM outgoing"
                                  " WHERE store = ?1 AND cursor > ?2 ORDER BY cursor LIMIT ?3");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, store);
    db_bind_i64(db, s, 2, since);
    db_bind_i64(db, s, 3, max);
    return walk(db, s, fn, arg);
}

ml_err hq_outgoing_known(struct hq_store *st, const char *store, int *ret_known)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s = db_stmt(db, "SELECT 1 FROM outgoing WHERE store = ?1 LIMIT 1");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, store);
    int rc = db_step(db, s);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ML_STORAGE;
    *ret_known = rc == SQLITE_ROW;
    return ML_OK;
}

ml_err hq_outgoing_stores(struct hq_store *st, int64_t max,
                          ml_err (*fn)(void *arg, const char *store), void *arg)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s = db_stmt(
        db, "SELECT DISTINCT store FROM outgoing WHERE store <> '*' ORDER BY store LIMIT ?1");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_i64(db, s, 1, max);
    ml_err err = ML_OK;
    int rc = SQLITE_DONE;
    while (err == ML_OK && (rc = db_step(db, s)) == SQLITE_ROW)
        err = fn(arg, db_col_text(s, 0));
    sqlite3_reset(s);
    return err != ML_OK ? err : rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}
