/*
 * hq_store: the HQ database (SQLite): every event a store sent, once, plus the tables the
 * reports read, filled at ingest in the same transaction as the events themselves.
 *
 *   events              one row per event id (the record; body kept as JSON text)
 *   terminals           per store/terminal: next_seq (lowest seq not yet received),
 *                       max_seq, received (distinct seqs) and gaps (max_seq - received)
 *   sales, refunds, commission_entries, redemptions   derived, for reports
 *   rejections          per store/terminal/reason: events refused and not acknowledged
 *   outgoing            every signed per-store message HQ sent, by store and cursor (the
 *                       gapless per-store sequence), as the exact text sent
 *   outgoing_campaigns  the current signed campaign.upsert of each campaign
 *
 * The schema is versioned with PRAGMA user_version; hq_store_open() migrates forward and
 * refuses a database newer than it knows. Writes use WAL with synchronous=FULL, so a
 * committed batch survives power loss before HQ acknowledges it.
 *
 * A hq_store belongs to one thread. Functions return ML_STORAGE on SQLite errors and log
 * nothing; the caller logs once (hq_store_errmsg() says what SQLite said).
 */
#ifndef ML_HQ_STORE_H
#define ML_HQ_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"

#define HQ_SCHEMA_VERSION 3
#define HQ_EVENT_ID_MAX 64 /* bytes of an event id (a UUIDv7 has 36) */

struct hq_store;

enum hq_store_mode {
    HQ_STORE_READWRITE, /* creates and migrates the database (serve) */
    HQ_STORE_READONLY,  /* existing database at the current version (report, status) */
};

/*
 * Opens the database at `path`. On failure returns ML_STORAGE (or ML_CONFIG for a schema
 * newer than this program, ML_NOENTRY for a missing file in READONLY mode) with one line
 * in errbuf, and leaves *ret_store alone. Caller frees with hq_store_close().
 */
ml_err hq_store_open(const char *path, enum hq_store_mode mode, struct hq_store **ret_store,
                     char *errbuf, size_t errlen);

/* NULL-safe. */
void hq_store_close(struct hq_store *st);

/* Borrowed connection, for read-only queries (reports). */
sqlite3 *hq_store_db(struct hq_store *st);
const char *hq_store_errmsg(struct hq_store *st);

/* One transaction per batch: BEGIN IMMEDIATE ... COMMIT (or ROLLBACK, which never fails). */
ml_err hq_store_begin(struct hq_store *st);
ml_err hq_store_commit(struct hq_store *st);
void hq_store_rollback(struct hq_store *st);

/* A savepoint inside the open transaction (one batch of a group commit): release keeps its
 * changes for the enclosing COMMIT, rollback_to undoes only them. */
ml_err hq_store_savepoint(struct hq_store *st);
ml_err hq_store_release(struct hq_store *st);
void hq_store_rollback_to(struct hq_store *st);

/* Calls fn with the topic of every campaign whose current message (an upsert or a
 * withdrawal) has expired: its retained copy would only draw msg_expired refusals. */
ml_err hq_store_expired_campaigns(struct hq_store *st, int64_t now_ms,
                                  void (*fn)(void *arg, const char *topic), void *arg);

/* synchronous=FULL (1, the default: each commit flushes the WAL) or NORMAL (0: the caller
 * flushes, see hq_walsync.h). Between transactions only. */
ml_err hq_store_set_synchronous(struct hq_store *st, int full);

/* 1 while a transaction is open (SQLite may end one itself, e.g. on SQLITE_FULL). */
int hq_store_in_tx(struct hq_store *st);

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

/* Derived rows, for a HQ_PUT_NEW event; `day` is the local date of ev->at (YYYY-MM-DD). */
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
ml_err hq_store_put_redemption(struct hq_store *st, const struct hq_event *ev, const char *day,
                               const char *coupon_id, const char *sale_id, int64_t use_no,
                               int64_t amount);
/* *ret_found = 0 when no matching, unrestored redemption of that store is known. */
ml_err hq_store_restore_redemption(struct hq_store *st, const struct hq_event *ev,
                                   const char *coupon_id, const char *sale_id, int64_t use_no,
                                   int *ret_found);

/* Counts a refused event against the store/terminal of the topic it came on. */
ml_err hq_store_note_rejected(struct hq_store *st, const char *store, const char *terminal,
                              const char *reason, const char *event_id, int64_t now_ms);

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

/* ---- outgoing signed messages (hq_push.h) ----------------------------------------------- */

/* A signed message as sent; all strings borrowed. */
struct hq_outgoing {
    const char *store;  /* a store id, or "*" for a campaign */
    int64_t cursor;     /* per-store cursor; 0 for a campaign */
    const char *id;     /* message id (UUIDv7) */
    const char *kind;   /* "member.upsert", ... */
    const char *entity; /* what the version counts for: "member:M1", "coupon:C1"... */
    int64_t version;
    const char *topic;
    const char *text; /* the canonical JSON text, exactly as published */
    int64_t issued, expires;
};

/* The highest cursor given to `store` (0: none yet). Inside the writing transaction, so
 * the next one is gapless. */
ml_err hq_store_last_cursor(struct hq_store *st, const char *store, int64_t *ret_cursor);

/* The highest version sent for `entity` to any store (0: none). */
ml_err hq_store_last_version(struct hq_store *st, const char *entity, int64_t *ret_version);

/* The highest version sent for `entity` to `store` (0: none). */
ml_err hq_store_last_version_at(struct hq_store *st, const char *store, const char *entity,
                                int64_t *ret_version);

/* Inserts a per-store message. ML_STORAGE also when (store, cursor) or id is taken. */
ml_err hq_store_put_outgoing(struct hq_store *st, const struct hq_outgoing *m);

/* Current version of a campaign (0: none yet). */
ml_err hq_store_campaign_version(struct hq_store *st, const char *campaign_id,
                                 int64_t *ret_version);

/* Count and total text bytes of the campaigns whose message has not expired at now_ms,
 * leaving out `except` (NULL: none). */
ml_err hq_store_live_campaigns(struct hq_store *st, int64_t now_ms, const char *except,
                               int64_t *ret_count, int64_t *ret_bytes);

/* Makes m (store "*") the current message of `campaign_id`. */
ml_err hq_store_put_campaign(struct hq_store *st, const char *campaign_id,
                             const struct hq_outgoing *m);

/* Marks a message published (after the broker's PUBACK). */
ml_err hq_store_mark_published(struct hq_store *st, const char *id, int64_t now_ms);

#endif
