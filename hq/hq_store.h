/*
 * hq_store: the HQ database, and the tables of what stores send. It owns these tables
 * (hq_store.c is the only file whose SQL names them):
 *
 *   events              one row per event id (the record; body kept as JSON text)
 *   terminals           per store/terminal: next_seq (lowest seq not yet received),
 *                       max_seq, received (distinct seqs) and gaps (max_seq - received)
 *   rejections          per store/terminal/reason: events refused and not acknowledged
 *   sales, refunds, commission_entries, redemptions   derived at ingest, for reports
 *
 * The other HQ tables have owners of their own on the same connection: outgoing and
 * outgoing_campaigns (hq_outgoing.h), coupon_terms and conflicts (hq_settle.h). The schema
 * is hq/sql/NNN_*.sql, embedded at build time; hq_store_open() migrates forward and refuses
 * a database newer than it knows (lib/db.h). Writes use WAL with synchronous=FULL, so a
 * committed batch survives power loss before HQ acknowledges it (or synchronous=NORMAL
 * with hq_walsync.h flushing before the acks, see hq_store_set_synchronous()).
 *
 * A hq_store belongs to one thread. Functions return ML_STORAGE on SQLite errors and log
 * nothing; the caller logs once (hq_store_errmsg() says what SQLite said).
 */
#ifndef ML_HQ_STORE_H
#define ML_HQ_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "ml_err.h"

#define HQ_SCHEMA_VERSION 3 /* hq/sql/001..003 */
#define HQ_EVENT_ID_MAX 64  /* bytes of an event id (a UUIDv7 has 36) */

struct hq_store;

enum hq_store_mode {
    HQ_STORE_READWRITE, /* creates and migrates the database (serve, the push commands) */
    HQ_STORE_READONLY,  /* existing database at the current version (report, status, the
                           catch-up endpoint) */
};

/*
 * Opens the database at `path` (db_open(), DB_READWRITE or DB_READONLY). On failure
 * returns ML_STORAGE (or ML_CONFIG for a schema newer than this program, ML_NOENTRY for a
 * missing file in READONLY mode) with one line in errbuf naming path, and leaves
 * *ret_store alone. Caller frees with hq_store_close().
 */
ml_err hq_store_open(const char *path, enum hq_store_mode mode, struct hq_store **ret_store,
                     char *errbuf, size_t errlen);

/* NULL-safe. */
void hq_store_close(struct hq_store *st);

/* The connection, borrowed, for the owners of the other HQ tables (hq_outgoing.c,
 * hq_settle.c), which run their own statements on it. */
struct db *hq_store_conn(struct hq_store *st);

/* What SQLite said about the last failure ("out of memory" for st NULL). */
const char *hq_store_errmsg(struct hq_store *st);

/*
 * One transaction per batch: BEGIN IMMEDIATE ... COMMIT (or ROLLBACK, which never fails).
 * HQ does not track outcomes (db.h's track_outcome is off): after a commit that failed,
 * hq_store_begin() opens the next transaction on the same connection without reopening the
 * database, and what the failed commit held may or may not be on disk. Nothing of it was
 * acknowledged, so the stores resend and HQ deduplicates by event id.
 */
ml_err hq_store_begin(struct hq_store *st);
ml_err hq_store_commit(struct hq_store *st);
void hq_store_rollback(struct hq_store *st);

/* A savepoint inside the open transaction (one batch of a group commit): release keeps its
 * changes for the enclosing COMMIT, rollback_to undoes only them. */
ml_err hq_store_savepoint(struct hq_store *st);
ml_err hq_store_release(struct hq_store *st);
void hq_store_rollback_to(struct hq_store *st);

/* A read transaction, so that several queries see one snapshot (a catch-up response).
 * read_end never fails. */
ml_err hq_store_read_begin(struct hq_store *st);
void hq_store_read_end(struct hq_store *st);

/* synchronous=FULL (1, the default: each commit flushes the WAL) or NORMAL (0: the caller
 * flushes, see hq_walsync.h). Between transactions only. */
ml_err hq_store_set_synchronous(struct hq_store *st, int full);

/* 1 while a transaction is open (SQLite may end one itself, e.g. on SQLITE_FULL). */
int hq_store_in_tx(struct hq_store *st);

/* ---- events, terminals, rejections ---------------------------------------------------- */

/* An event as received; all strings borrowed. */
struct hq_event {
    const char *id;
    int64_t seq;
    const char *type;
    const char *store;
    const char *terminal;
    const char *hlc;
    int64_t at;        /* wall clock of the store, ms */
    const char *body;  /* JSON text of the body object */
    const char *batch; /* batch id, or NULL */
    /* Hints from a caller that handles a whole batch (hq_ingest); 0 for the plain path. */
    int seq_new;        /* no stored event of this terminal has `seq`: skip that lookup */
    int defer_terminal; /* the caller accounts the terminal per batch (hq_store_count_terminal) */
};

enum hq_put {
    HQ_PUT_NEW,       /* stored now */
    HQ_PUT_DUPLICATE, /* same id, same store/terminal/seq/type already stored */
    HQ_PUT_CONFLICT,  /* same id already stored for a different store/terminal/seq/type */
};

struct hq_put_result {
    enum hq_put put;
    /* HQ_PUT_NEW only: another event already had this store/terminal/seq (a store bug,
     * e.g. a database restored from backup); its id is in other_id. Both are kept. */
    int seq_reused;
    char other_id[HQ_EVENT_ID_MAX + 1];
};

/*
 * Stores `ev` unless its id is known, and counts its seq for the terminal. Inside a
 * transaction. Fills *ret on ML_OK.
 */
ml_err hq_store_put_event(struct hq_store *st, const struct hq_event *ev, int64_t now_ms,
                          struct hq_put_result *ret);

/* The highest seq stored for the terminal (0: never heard). */
ml_err hq_store_terminal_max_seq(struct hq_store *st, const char *store, const char *terminal,
                                 int64_t *ret_max_seq);

/* What hq_store_put_event() does per event unless defer_terminal, for a batch at once:
 * `received` new events (seq not reused) up to `max_seq`. */
ml_err hq_store_count_terminal(struct hq_store *st, const char *store, const char *terminal,
                               int64_t max_seq, int64_t received, int64_t now_ms);

struct hq_seq_state {
    int64_t next_seq; /* lowest seq not yet received */
    int64_t max_seq;
    int64_t received; /* distinct seqs received */
    int64_t gaps;     /* seqs below max_seq not received */
};

/*
 * After a batch: walks next_seq forward over the received seqs and recomputes gaps.
 * *ret_before is the state as last refreshed; *ret_after the new one. A terminal with no
 * event yet gives ML_NOENTRY.
 */
ml_err hq_store_refresh_terminal(struct hq_store *st, const char *store, const char *terminal,
                                 struct hq_seq_state *ret_before, struct hq_seq_state *ret_after);

/* Counts a refused event against the store/terminal of the topic it came on. */
ml_err hq_store_note_rejected(struct hq_store *st, const char *store, const char *terminal,
                              const char *reason, const char *event_id, int64_t now_ms);

/* Calls fn with each store that has a terminal HQ heard from, in byte order, the first `max`
 * of them; a result of fn other than ML_OK stops the walk and is returned. */
ml_err hq_store_terminal_stores(struct hq_store *st, int64_t max,
                                ml_err (*fn)(void *arg, const char *store), void *arg);

/* ---- derived rows, for a HQ_PUT_NEW event; `day` is the local date of ev->at --------- */

struct hq_sale {
    const char *sale_id;
    const char *member_id; /* NULL: anonymous */
    const char *guide_id;  /* NULL: none */
    int64_t total;
    int64_t commission;
};

/* *ret_dup = 1 when the sale id was already recorded by another event (nothing changed). */
ml_err hq_store_put_sale(struct hq_store *st, const struct hq_event *ev, const char *day,
                         const struct hq_sale *sale, int *ret_dup);
ml_err hq_store_put_refund(struct hq_store *st, const struct hq_event *ev, const char *day,
                           const char *refund_id, const char *sale_id, int64_t amount);
ml_err hq_store_put_commission(struct hq_store *st, const struct hq_event *ev, const char *day,
                               const char *guide_id, const char *sale_id, const char *refund_id,
                               int64_t amount);
struct hq_redemption {
    const char *coupon_id, *sale_id;
    int64_t use_no, amount;
    int64_t trusted_at; /* the trusted time the terminal stamped, for settlement; 0: none */
};
ml_err hq_store_put_redemption(struct hq_store *st, const struct hq_event *ev, const char *day,
                               const struct hq_redemption *red);
/* *ret_found = 0 when no matching, unrestored redemption of that store is known. */
ml_err hq_store_restore_redemption(struct hq_store *st, const struct hq_event *ev,
                                   const char *coupon_id, const char *sale_id, int64_t use_no,
                                   int *ret_found);

/* A redemption not restored, in settlement order; strings borrowed for the call. */
struct hq_live_redemption {
    const char *event_id, *store, *terminal, *sale_id, *day;
    int64_t amount;
    int64_t t; /* the trusted time, else the terminal's wall clock */
};

/* Calls fn with each unrestored redemption of coupon_id ordered by t, store, terminal and
 * event id; a result of fn other than ML_OK stops the walk and is returned. */
ml_err hq_store_live_redemptions(struct hq_store *st, const char *coupon_id,
                                 ml_err (*fn)(void *arg, const struct hq_live_redemption *r),
                                 void *arg);

/* ---- rows for the reports (hq_report.h) ----------------------------------------------- */

/*
 * The rows of a report query, read one at a time: opened by an owner's *_rows() function
 * (ML_STORAGE when the query cannot be prepared), read with its *_next(), which fills a
 * row whose strings are borrowed until the next call and returns 1 for a row, 0 at the
 * end, -1 on a storage error (hq_store_errmsg() says which). At the end or after an error
 * the rows are closed already; hq_store_rows_close() ends a walk early and may be called
 * again. The statement belongs to the connection: one walk of each query at a time.
 */
struct hq_rows {
    struct db *db;
    sqlite3_stmt *stmt; /* NULL once closed */
};

/* For the owners' *_rows(): opens r on sql (a literal), binding ?1 = from and ?2 = to unless
 * from is NULL. ML_STORAGE when it cannot be prepared. */
ml_err hq_store_rows_open(struct hq_store *st, const char *sql, const char *from, const char *to,
                          struct hq_rows *ret);

/* For the owners' *_next(): steps r (1 row, 0 end, -1 error; closed at 0 and -1). */
int hq_store_rows_step(struct hq_rows *r);
void hq_store_rows_close(struct hq_rows *r);

/* Per store, sales whose local day is in [from, to]; by store. */
struct hq_sales_row {
    const char *store;
    int64_t sales, total, refunded;
};
ml_err hq_store_sales_rows(struct hq_store *st, const char *from, const char *to,
                           struct hq_rows *ret);
int hq_store_sales_next(struct hq_rows *r, struct hq_sales_row *row);

/* Per guide, commission entries recorded on a day in [from, to] and the sales (entries
 * without a refund) behind them; by guide. */
struct hq_commission_row {
    const char *guide_id;
    int64_t commission, sales;
};
ml_err hq_store_commission_rows(struct hq_store *st, const char *from, const char *to,
                                struct hq_rows *ret);
int hq_store_commission_next(struct hq_rows *r, struct hq_commission_row *row);

/* Each redemption of a day in [from, to], by time, coupon and event id. */
struct hq_redemption_row {
    const char *coupon_id, *store, *terminal, *sale_id;
    int64_t amount, use_no, at;
    int restored;
};
ml_err hq_store_redemption_rows(struct hq_store *st, const char *from, const char *to,
                                struct hq_rows *ret);
int hq_store_redemption_next(struct hq_rows *r, struct hq_redemption_row *row);

/* Each terminal, by store and terminal. */
struct hq_terminal_row {
    const char *store, *terminal;
    int64_t next_seq, max_seq, gaps, received, first_received_at, last_received_at;
};
ml_err hq_store_terminal_rows(struct hq_store *st, struct hq_rows *ret);
int hq_store_terminal_next(struct hq_rows *r, struct hq_terminal_row *row);

/* Refused events per store, terminal and reason, in that order. */
struct hq_rejection_row {
    const char *store, *terminal, *reason;
    const char *last_event_id; /* NULL: the last one had no usable id */
    int64_t count, last_at;
};
ml_err hq_store_rejection_rows(struct hq_store *st, struct hq_rows *ret);
int hq_store_rejection_next(struct hq_rows *r, struct hq_rejection_row *row);

#endif
