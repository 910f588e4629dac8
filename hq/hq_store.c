/*
 * hq_store: the HQ database and the tables of what stores send; see hq_store.h.
 *
 * Owns (the only SQL naming them): events, terminals, rejections, and the derived sales,
 * refunds, commission_entries and redemptions it fills at ingest.
 *
 * Every statement is a literal cached by its address (db_stmt()), bound with the checked
 * binders of db.h: a bind that fails makes the statement refuse to run.
 *
 * A real deployment with several ingest instances (shared subscription) points them at one
 * database server, so deduplication by event id and the per-terminal seq tracking are
 * global. This reference keeps one SQLite file per instance: with a share_group, each
 * instance deduplicates only what it saw, and as the broker spreads a terminal's batches
 * over the instances, each one reports gaps that another instance filled.
 */
#include "hq_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generated from hq/sql/ (lib/sql_embed.sh). */
extern const char *const hq_migrations[];
extern const size_t hq_migrations_count;

/* 64 KiB pages (for a new database; an existing one keeps its size): HQ appends ~1 KB
 * events by the thousand per commit, and large pages write the same bytes in a sixteenth
 * of the WAL frames and system calls, which was most of the ingest's CPU. */
#define HQ_PAGE_SIZE 65536
/* Bulk ingest: checkpoint in large steps, off the commit path (walckpt.h). */
#define HQ_WAL_WAKE_BYTES (INT64_C(16) << 20)
#define HQ_WAL_RESTART_BYTES (INT64_C(256) << 20)

struct hq_store {
    struct db *db;
};

ml_err hq_store_open(const char *path, enum hq_store_mode mode, struct hq_store **ret_store,
                     char *errbuf, size_t errlen)
{
    const struct db_options opts = {
        .mode = mode == HQ_STORE_READONLY ? DB_READONLY : DB_READWRITE,
        .migrations = hq_migrations,
        .nmigrations = hq_migrations_count,
        .version = HQ_SCHEMA_VERSION,
        .program = "memberlink-hq",
        .page_size = HQ_PAGE_SIZE,
        .wal_wake_bytes = HQ_WAL_WAKE_BYTES,
        .wal_restart_bytes = HQ_WAL_RESTART_BYTES,
        .missing_hint = "no HQ database (has `memberlink-hq serve` run with this data_dir?)",
        .old_hint = "start `memberlink-hq serve` (or run a push) once to migrate",
    };
    struct hq_store *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return ML_NOMEM;
    }
    ml_err err = db_open(path, &opts, &st->db, errbuf, errlen);
    if (err != ML_OK) {
        free(st);
        return err;
    }
    *ret_store = st;
    return ML_OK;
}

void hq_store_close(struct hq_store *st)
{
    if (st == NULL)
        return;
    db_close(st->db);
    free(st);
}

struct db *hq_store_conn(struct hq_store *st)
{
    return st->db;
}

const char *hq_store_errmsg(struct hq_store *st)
{
    return st != NULL ? db_errmsg(st->db) : "out of memory";
}

/* ---- transactions ------------------------------------------------------------------------ */

ml_err hq_store_begin(struct hq_store *st)
{
    return db_begin(st->db);
}

ml_err hq_store_commit(struct hq_store *st)
{
    return db_commit(st->db);
}

void hq_store_rollback(struct hq_store *st)
{
    db_rollback(st->db); /* a no-op when SQLite already rolled back (e.g. after SQLITE_FULL) */
}

ml_err hq_store_savepoint(struct hq_store *st)
{
    return db_savepoint(st->db);
}

ml_err hq_store_release(struct hq_store *st)
{
    return db_release(st->db);
}

void hq_store_rollback_to(struct hq_store *st)
{
    db_undo(st->db);
}

ml_err hq_store_read_begin(struct hq_store *st)
{
    return db_savepoint(st->db); /* outside a transaction: BEGIN DEFERRED, no write lock */
}

void hq_store_read_end(struct hq_store *st)
{
    db_undo(st->db); /* nothing was written: rolling back ends the snapshot, and never fails */
}

ml_err hq_store_set_synchronous(struct hq_store *st, int full)
{
    return db_set_durable(st->db, full);
}

int hq_store_in_tx(struct hq_store *st)
{
    return db_in_tx(st->db);
}

/* ---- events, terminals, rejections ------------------------------------------------------- */

/* The id of an event with this store/terminal/seq into `out`; 0 if none, -1 on error. */
static int event_by_seq(struct hq_store *st, const char *store, const char *terminal, int64_t seq,
                        char out[HQ_EVENT_ID_MAX + 1])
{
    sqlite3_stmt *s = db_stmt(st->db, "SELECT id FROM events"
                                      " WHERE store = ?1 AND terminal = ?2 AND seq = ?3 LIMIT 1");
    if (s == NULL)
        return -1;
    db_bind_text_static(st->db, s, 1, store);
    db_bind_text_static(st->db, s, 2, terminal);
    db_bind_i64(st->db, s, 3, seq);
    int rc = db_step(st->db, s), found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        db_col_copy(s, 0, out, HQ_EVENT_ID_MAX + 1);
    } else if (rc != SQLITE_DONE) {
        found = -1;
    }
    sqlite3_reset(s);
    return found;
}

/* A known id: *ret_same = 1 when it was stored for the same store/terminal/seq/type. */
static ml_err same_event(struct hq_store *st, const struct hq_event *ev, int *ret_same)
{
    sqlite3_stmt *s =
        db_stmt(st->db, "SELECT store, terminal, seq, type FROM events WHERE id = ?1");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, ev->id);
    if (db_step(st->db, s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return ML_STORAGE;
    }
    *ret_same = strcmp(db_col_text(s, 0), ev->store) == 0 &&
                strcmp(db_col_text(s, 1), ev->terminal) == 0 &&
                sqlite3_column_int64(s, 2) == ev->seq && strcmp(db_col_text(s, 3), ev->type) == 0;
    sqlite3_reset(s);
    return ML_OK;
}

ml_err hq_store_count_terminal(struct hq_store *st, const char *store, const char *terminal,
                               int64_t max_seq, int64_t received, int64_t now_ms)
{
    sqlite3_stmt *s =
        db_stmt(st->db, "INSERT INTO terminals (store, terminal, next_seq, max_seq, received,"
                        " gaps, first_received_at, last_received_at)"
                        " VALUES (?1, ?2, 1, ?3, ?4, 0, ?5, ?5)"
                        " ON CONFLICT (store, terminal) DO UPDATE SET"
                        " max_seq = max(max_seq, excluded.max_seq),"
                        " received = received + excluded.received,"
                        " last_received_at = excluded.last_received_at");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, store);
    db_bind_text_static(st->db, s, 2, terminal);
    db_bind_i64(st->db, s, 3, max_seq);
    db_bind_i64(st->db, s, 4, received);
    db_bind_i64(st->db, s, 5, now_ms);
    return db_run(st->db, s);
}

ml_err hq_store_put_event(struct hq_store *st, const struct hq_event *ev, int64_t now_ms,
                          struct hq_put_result *ret)
{
    struct hq_put_result res = {.put = HQ_PUT_NEW};
    int seen = ev->seq_new ? 0 : event_by_seq(st, ev->store, ev->terminal, ev->seq, res.other_id);
    if (seen < 0)
        return ML_STORAGE;

    sqlite3_stmt *s =
        db_stmt(st->db, "INSERT OR IGNORE INTO events"
                        " (id, store, terminal, seq, type, hlc, at, body, batch, received_at)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, ev->id);
    db_bind_text_static(st->db, s, 2, ev->store);
    db_bind_text_static(st->db, s, 3, ev->terminal);
    db_bind_i64(st->db, s, 4, ev->seq);
    db_bind_text_static(st->db, s, 5, ev->type);
    db_bind_text_static(st->db, s, 6, ev->hlc);
    db_bind_i64(st->db, s, 7, ev->at);
    db_bind_text_static(st->db, s, 8, ev->body);
    db_bind_text_static(st->db, s, 9, ev->batch);
    db_bind_i64(st->db, s, 10, now_ms);
    if (db_run(st->db, s) != ML_OK)
        return ML_STORAGE;

    if (db_changes(st->db) == 0) {
        /* Known id: a resend (acknowledge again) or a different event under a used id. */
        int same = 0;
        if (same_event(st, ev, &same) != ML_OK)
            return ML_STORAGE;
        res.put = same ? HQ_PUT_DUPLICATE : HQ_PUT_CONFLICT;
        res.other_id[0] = '\0';
        *ret = res;
        return ML_OK;
    }
    res.seq_reused = seen;
    if (!seen)
        res.other_id[0] = '\0';
    if (!ev->defer_terminal && hq_store_count_terminal(st, ev->store, ev->terminal, ev->seq,
                                                       seen ? 0 : 1, now_ms) != ML_OK)
        return ML_STORAGE;
    *ret = res;
    return ML_OK;
}

ml_err hq_store_terminal_max_seq(struct hq_store *st, const char *store, const char *terminal,
                                 int64_t *ret_max_seq)
{
    sqlite3_stmt *s =
        db_stmt(st->db, "SELECT max_seq FROM terminals WHERE store = ?1 AND terminal = ?2");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, store);
    db_bind_text_static(st->db, s, 2, terminal);
    int rc = db_step(st->db, s);
    *ret_max_seq = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

/* The terminal's row as last refreshed; ML_NOENTRY without one. */
static ml_err terminal_state(struct hq_store *st, const char *store, const char *terminal,
                             struct hq_seq_state *ret)
{
    sqlite3_stmt *s = db_stmt(st->db, "SELECT next_seq, max_seq, received, gaps FROM terminals"
                                      " WHERE store = ?1 AND terminal = ?2");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, store);
    db_bind_text_static(st->db, s, 2, terminal);
    int rc = db_step(st->db, s);
    if (rc == SQLITE_ROW) {
        ret->next_seq = sqlite3_column_int64(s, 0);
        ret->max_seq = sqlite3_column_int64(s, 1);
        ret->received = sqlite3_column_int64(s, 2);
        ret->gaps = sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? ML_OK : rc == SQLITE_DONE ? ML_NOENTRY : ML_STORAGE;
}

ml_err hq_store_refresh_terminal(struct hq_store *st, const char *store, const char *terminal,
                                 struct hq_seq_state *ret_before, struct hq_seq_state *ret_after)
{
    struct hq_seq_state before;
    ml_err err = terminal_state(st, store, terminal, &before);
    if (err != ML_OK)
        return err;

    /* Each seq is stepped over once in the terminal's life: amortised O(1) per event, in
     * one ordered index scan (a reused seq shows twice and is passed over). */
    struct hq_seq_state after = before;
    sqlite3_stmt *s = db_stmt(st->db, "SELECT seq FROM events"
                                      " WHERE store = ?1 AND terminal = ?2 AND seq >= ?3"
                                      " ORDER BY seq");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, store);
    db_bind_text_static(st->db, s, 2, terminal);
    db_bind_i64(st->db, s, 3, after.next_seq);
    int rc;
    while ((rc = db_step(st->db, s)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(s, 0);
        if (seq == after.next_seq)
            after.next_seq++;
        else if (seq > after.next_seq)
            break;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ML_STORAGE;
    after.gaps = after.max_seq - after.received;
    if (after.next_seq != before.next_seq || after.gaps != before.gaps) {
        s = db_stmt(st->db, "UPDATE terminals SET next_seq = ?3, gaps = ?4"
                            " WHERE store = ?1 AND terminal = ?2");
        if (s == NULL)
            return ML_STORAGE;
        db_bind_text_static(st->db, s, 1, store);
        db_bind_text_static(st->db, s, 2, terminal);
        db_bind_i64(st->db, s, 3, after.next_seq);
        db_bind_i64(st->db, s, 4, after.gaps);
        if (db_run(st->db, s) != ML_OK)
            return ML_STORAGE;
    }
    *ret_before = before;
    *ret_after = after;
    return ML_OK;
}

ml_err hq_store_note_rejected(struct hq_store *st, const char *store, const char *terminal,
                              const char *reason, const char *event_id, int64_t now_ms)
{
    sqlite3_stmt *s =
        db_stmt(st->db, "INSERT INTO rejections (store, terminal, reason, count, last_event_id,"
                        " last_at) VALUES (?1, ?2, ?3, 1, ?4, ?5)"
                        " ON CONFLICT (store, terminal, reason) DO UPDATE SET"
                        " count = count + 1, last_event_id = excluded.last_event_id,"
                        " last_at = excluded.last_at");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, store);
    db_bind_text_static(st->db, s, 2, terminal);
    db_bind_text_static(st->db, s, 3, reason);
    db_bind_text_static(st->db, s, 4, event_id);
    db_bind_i64(st->db, s, 5, now_ms);
    return db_run(st->db, s);
}

ml_err hq_store_terminal_stores(struct hq_store *st, int64_t max,
                                ml_err (*fn)(void *arg, const char *store), void *arg)
{
    sqlite3_stmt *s =
        db_stmt(st->db, "SELECT DISTINCT store FROM terminals ORDER BY store LIMIT ?1");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_i64(st->db, s, 1, max);
    ml_err err = ML_OK;
    int rc = SQLITE_DONE;
    while (err == ML_OK && (rc = db_step(st->db, s)) == SQLITE_ROW)
        err = fn(arg, db_col_text(s, 0));
    sqlite3_reset(s);
    return err != ML_OK ? err : rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

/* ---- derived rows ------------------------------------------------------------------------ */

ml_err hq_store_put_sale(struct hq_store *st, const struct hq_event *ev, const char *day,
                         const struct hq_sale *sale, int *ret_dup)
{
    /* Refunds may arrive before their sale (a lost batch resent late): count them in. */
    sqlite3_stmt *s =
        db_stmt(st->db, "INSERT OR IGNORE INTO sales (sale_id, store, terminal, day, at,"
                        " member_id, guide_id, total, commission, refunded, event_id)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                        " (SELECT coalesce(sum(amount), 0) FROM refunds"
                        "  WHERE sale_id = ?1 AND store = ?2), ?10)");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, sale->sale_id);
    db_bind_text_static(st->db, s, 2, ev->store);
    db_bind_text_static(st->db, s, 3, ev->terminal);
    db_bind_text_static(st->db, s, 4, day);
    db_bind_i64(st->db, s, 5, ev->at);
    db_bind_text_static(st->db, s, 6, sale->member_id);
    db_bind_text_static(st->db, s, 7, sale->guide_id);
    db_bind_i64(st->db, s, 8, sale->total);
    db_bind_i64(st->db, s, 9, sale->commission);
    db_bind_text_static(st->db, s, 10, ev->id);
    if (db_run(st->db, s) != ML_OK)
        return ML_STORAGE;
    *ret_dup = db_changes(st->db) == 0;
    return ML_OK;
}

ml_err hq_store_put_refund(struct hq_store *st, const struct hq_event *ev, const char *day,
                           const char *refund_id, const char *sale_id, int64_t amount)
{
    sqlite3_stmt *s = db_stmt(st->db, "INSERT OR IGNORE INTO refunds (event_id, refund_id,"
                                      " sale_id, store, terminal, amount, day, at)"
                                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, ev->id);
    db_bind_text_static(st->db, s, 2, refund_id);
    db_bind_text_static(st->db, s, 3, sale_id);
    db_bind_text_static(st->db, s, 4, ev->store);
    db_bind_text_static(st->db, s, 5, ev->terminal);
    db_bind_i64(st->db, s, 6, amount);
    db_bind_text_static(st->db, s, 7, day);
    db_bind_i64(st->db, s, 8, ev->at);
    if (db_run(st->db, s) != ML_OK)
        return ML_STORAGE;
    s = db_stmt(st->db,
                "UPDATE sales SET refunded = refunded + ?3 WHERE sale_id = ?1 AND store = ?2");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, sale_id);
    db_bind_text_static(st->db, s, 2, ev->store);
    db_bind_i64(st->db, s, 3, amount);
    return db_run(st->db, s);
}

ml_err hq_store_put_commission(struct hq_store *st, const struct hq_event *ev, const char *day,
                               const char *guide_id, const char *sale_id, const char *refund_id,
                               int64_t amount)
{
    sqlite3_stmt *s = db_stmt(st->db, "INSERT OR IGNORE INTO commission_entries (event_id,"
                                      " guide_id, sale_id, refund_id, store, terminal, amount,"
                                      " day, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, ev->id);
    db_bind_text_static(st->db, s, 2, guide_id);
    db_bind_text_static(st->db, s, 3, sale_id);
    db_bind_text_static(st->db, s, 4, refund_id);
    db_bind_text_static(st->db, s, 5, ev->store);
    db_bind_text_static(st->db, s, 6, ev->terminal);
    db_bind_i64(st->db, s, 7, amount);
    db_bind_text_static(st->db, s, 8, day);
    db_bind_i64(st->db, s, 9, ev->at);
    return db_run(st->db, s);
}

ml_err hq_store_put_redemption(struct hq_store *st, const struct hq_event *ev, const char *day,
                               const struct hq_redemption *red)
{
    sqlite3_stmt *s =
        db_stmt(st->db, "INSERT OR IGNORE INTO redemptions (event_id, coupon_id,"
                        " sale_id, store, terminal, use_no, amount, at, day,"
                        " trusted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, ev->id);
    db_bind_text_static(st->db, s, 2, red->coupon_id);
    db_bind_text_static(st->db, s, 3, red->sale_id);
    db_bind_text_static(st->db, s, 4, ev->store);
    db_bind_text_static(st->db, s, 5, ev->terminal);
    db_bind_i64(st->db, s, 6, red->use_no);
    db_bind_i64(st->db, s, 7, red->amount);
    db_bind_i64(st->db, s, 8, ev->at);
    db_bind_text_static(st->db, s, 9, day);
    if (red->trusted_at > 0)
        db_bind_i64(st->db, s, 10, red->trusted_at);
    else
        db_bind_null(st->db, s, 10);
    return db_run(st->db, s);
}

ml_err hq_store_restore_redemption(struct hq_store *st, const struct hq_event *ev,
                                   const char *coupon_id, const char *sale_id, int64_t use_no,
                                   int *ret_found)
{
    sqlite3_stmt *s = db_stmt(st->db, "UPDATE redemptions SET restored_at = ?5"
                                      " WHERE coupon_id = ?1 AND sale_id = ?2 AND use_no = ?3"
                                      " AND store = ?4 AND restored_at IS NULL");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, coupon_id);
    db_bind_text_static(st->db, s, 2, sale_id);
    db_bind_i64(st->db, s, 3, use_no);
    db_bind_text_static(st->db, s, 4, ev->store);
    db_bind_i64(st->db, s, 5, ev->at);
    if (db_run(st->db, s) != ML_OK)
        return ML_STORAGE;
    *ret_found = db_changes(st->db) > 0;
    return ML_OK;
}

ml_err hq_store_live_redemptions(struct hq_store *st, const char *coupon_id,
                                 ml_err (*fn)(void *arg, const struct hq_live_redemption *r),
                                 void *arg)
{
    sqlite3_stmt *s = db_stmt(st->db, "SELECT event_id, store, terminal, sale_id, amount,"
                                      " coalesce(trusted_at, at) AS t, day FROM redemptions"
                                      " WHERE coupon_id = ?1 AND restored_at IS NULL"
                                      " ORDER BY t, store, terminal, event_id");
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(st->db, s, 1, coupon_id);
    ml_err err = ML_OK;
    int rc = SQLITE_DONE;
    while (err == ML_OK && (rc = db_step(st->db, s)) == SQLITE_ROW) {
        const struct hq_live_redemption r = {.event_id = db_col_text(s, 0),
                                             .store = db_col_text(s, 1),
                                             .terminal = db_col_text(s, 2),
                                             .sale_id = db_col_text(s, 3),
                                             .amount = sqlite3_column_int64(s, 4),
                                             .t = sqlite3_column_int64(s, 5),
                                             .day = db_col_text(s, 6)};
        err = fn(arg, &r);
    }
    sqlite3_reset(s);
    return err != ML_OK ? err : rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

/* ---- rows for the reports ---------------------------------------------------------------- */

int hq_store_rows_step(struct hq_rows *r)
{
    if (r->stmt == NULL)
        return 0;
    int rc = db_step(r->db, r->stmt);
    if (rc == SQLITE_ROW)
        return 1;
    hq_store_rows_close(r);
    return rc == SQLITE_DONE ? 0 : -1;
}

void hq_store_rows_close(struct hq_rows *r)
{
    if (r->stmt != NULL)
        sqlite3_reset(r->stmt); /* ends its read of the database */
    r->stmt = NULL;
}

/* Opens rows of `sql`, a report query over the days [from, to] (from NULL: no days). */
ml_err hq_store_rows_open(struct hq_store *st, const char *sql, const char *from, const char *to,
                          struct hq_rows *ret)
{
    sqlite3_stmt *s = db_stmt(st->db, sql);
    if (s == NULL)
        return ML_STORAGE;
    if (from != NULL) {
        db_bind_text(st->db, s, 1, from);
        db_bind_text(st->db, s, 2, to);
    }
    *ret = (struct hq_rows){.db = st->db, .stmt = s};
    return ML_OK;
}

ml_err hq_store_sales_rows(struct hq_store *st, const char *from, const char *to,
                           struct hq_rows *ret)
{
    static const char sql[] = "SELECT store, count(*), sum(total), sum(refunded) FROM sales"
                              " WHERE day BETWEEN ?1 AND ?2 GROUP BY store ORDER BY store";
    return hq_store_rows_open(st, sql, from, to, ret);
}

int hq_store_sales_next(struct hq_rows *r, struct hq_sales_row *row)
{
    int rc = hq_store_rows_step(r);
    if (rc == 1)
        *row = (struct hq_sales_row){.store = db_col_text(r->stmt, 0),
                                     .sales = sqlite3_column_int64(r->stmt, 1),
                                     .total = sqlite3_column_int64(r->stmt, 2),
                                     .refunded = sqlite3_column_int64(r->stmt, 3)};
    return rc;
}

ml_err hq_store_commission_rows(struct hq_store *st, const char *from, const char *to,
                                struct hq_rows *ret)
{
    /* Sales are the entries without a refund; reversals lower the total on their own day. */
    static const char sql[] = "SELECT guide_id, sum(amount),"
                              " count(DISTINCT CASE WHEN refund_id IS NULL THEN sale_id END)"
                              " FROM commission_entries WHERE day BETWEEN ?1 AND ?2"
                              " GROUP BY guide_id ORDER BY guide_id";
    return hq_store_rows_open(st, sql, from, to, ret);
}

int hq_store_commission_next(struct hq_rows *r, struct hq_commission_row *row)
{
    int rc = hq_store_rows_step(r);
    if (rc == 1)
        *row = (struct hq_commission_row){.guide_id = db_col_text(r->stmt, 0),
                                          .commission = sqlite3_column_int64(r->stmt, 1),
                                          .sales = sqlite3_column_int64(r->stmt, 2)};
    return rc;
}

ml_err hq_store_redemption_rows(struct hq_store *st, const char *from, const char *to,
                                struct hq_rows *ret)
{
    static const char sql[] = "SELECT coupon_id, store, terminal, amount, sale_id, use_no, at,"
                              " restored_at FROM redemptions WHERE day BETWEEN ?1 AND ?2"
                              " ORDER BY at, coupon_id, event_id";
    return hq_store_rows_open(st, sql, from, to, ret);
}

int hq_store_redemption_next(struct hq_rows *r, struct hq_redemption_row *row)
{
    int rc = hq_store_rows_step(r);
    if (rc == 1)
        *row =
            (struct hq_redemption_row){.coupon_id = db_col_text(r->stmt, 0),
                                       .store = db_col_text(r->stmt, 1),
                                       .terminal = db_col_text(r->stmt, 2),
                                       .amount = sqlite3_column_int64(r->stmt, 3),
                                       .sale_id = db_col_text(r->stmt, 4),
                                       .use_no = sqlite3_column_int64(r->stmt, 5),
                                       .at = sqlite3_column_int64(r->stmt, 6),
                                       .restored = sqlite3_column_type(r->stmt, 7) != SQLITE_NULL};
    return rc;
}

ml_err hq_store_terminal_rows(struct hq_store *st, struct hq_rows *ret)
{
    static const char sql[] = "SELECT store, terminal, next_seq, max_seq, gaps, received,"
                              " first_received_at, last_received_at FROM terminals"
                              " ORDER BY store, terminal";
    return hq_store_rows_open(st, sql, NULL, NULL, ret);
}

int hq_store_terminal_next(struct hq_rows *r, struct hq_terminal_row *row)
{
    int rc = hq_store_rows_step(r);
    if (rc == 1)
        *row = (struct hq_terminal_row){.store = db_col_text(r->stmt, 0),
                                        .terminal = db_col_text(r->stmt, 1),
                                        .next_seq = sqlite3_column_int64(r->stmt, 2),
                                        .max_seq = sqlite3_column_int64(r->stmt, 3),
                                        .gaps = sqlite3_column_int64(r->stmt, 4),
                                        .received = sqlite3_column_int64(r->stmt, 5),
                                        .first_received_at = sqlite3_column_int64(r->stmt, 6),
                                        .last_received_at = sqlite3_column_int64(r->stmt, 7)};
    return rc;
}

ml_err hq_store_rejection_rows(struct hq_store *st, struct hq_rows *ret)
{
    static const char sql[] = "SELECT store, terminal, reason, count, last_event_id, last_at"
                              " FROM rejections ORDER BY store, terminal, reason";
    return hq_store_rows_open(st, sql, NULL, NULL, ret);
}

int hq_store_rejection_next(struct hq_rows *r, struct hq_rejection_row *row)
{
    int rc = hq_store_rows_step(r);
    if (rc == 1)
        *row = (struct hq_rejection_row){.store = db_col_text(r->stmt, 0),
                                         .terminal = db_col_text(r->stmt, 1),
                                         .reason = db_col_text(r->stmt, 2),
                                         .count = sqlite3_column_int64(r->stmt, 3),
                                         .last_event_id =
                                             (const char *)sqlite3_column_text(r->stmt, 4),
                                         .last_at = sqlite3_column_int64(r->stmt, 5)};
    return rc;
}
