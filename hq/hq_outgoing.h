/*
 * hq_outgoing: the signed messages HQ sent to stores, as sent. It owns these tables
 * (hq_outgoing.c is the only file whose SQL names them):
 *
 *   outgoing            every signed per-store message, by store and cursor (the gapless
 *                       per-store sequence), as the exact text sent
 *   outgoing_campaigns  the current signed message of each campaign (an upsert or a
 *                       withdrawal)
 *
 * hq_push.h writes them, the push commands and `serve` mark what they published (see
 * hq_outgoing_mark_published()), republish and the catch-up endpoint (hq_http.h) read them
 * back. Every function works on
 * the connection of a hq_store (hq_store.h), inside the caller's transaction when it has
 * one, returns ML_STORAGE on SQLite errors and logs nothing (hq_store_errmsg() says what
 * SQLite said).
 */
#ifndef ML_HQ_OUTGOING_H
#define ML_HQ_OUTGOING_H

#include <stddef.h>
#include <stdint.h>

#include "hq_store.h"
#include "ml_err.h"

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
ml_err hq_outgoing_last_cursor(struct hq_store *st, const char *store, int64_t *ret_cursor);

/* The highest version sent for `entity` to any store (0: none). */
ml_err hq_outgoing_last_version(struct hq_store *st, const char *entity, int64_t *ret_version);

/* The highest version sent for `entity` to `store` (0: none). */
ml_err hq_outgoing_last_version_at(struct hq_store *st, const char *store, const char *entity,
                                   int64_t *ret_version);

/* Inserts a per-store message. ML_STORAGE also when (store, cursor) or id is taken. */
ml_err hq_outgoing_put(struct hq_store *st, const struct hq_outgoing *m);

/* Current version of a campaign (0: none yet). */
ml_err hq_outgoing_campaign_version(struct hq_store *st, const char *campaign_id,
                                    int64_t *ret_version);

/* Count and total text bytes of the campaigns whose message has not expired at now_ms,
 * leaving out `except` (NULL: none). */
ml_err hq_outgoing_live_campaigns(struct hq_store *st, int64_t now_ms, const char *except,
                                  int64_t *ret_count, int64_t *ret_bytes);

/* Makes m (store "*") the current message of `campaign_id`, not yet published. */
ml_err hq_outgoing_put_campaign(struct hq_store *st, const char *campaign_id,
                                const struct hq_outgoing *m);

/* Marks a message (per-store or campaign) published; a second mark keeps the first time.
 * The push commands mark what the broker acknowledged (its PUBACK, hq_pub.h); `serve` marks
 * a settlement message once libmosquitto took it (mosquitto_publish() succeeded), before any
 * PUBACK: one lost on the way is not sent again by republish, and its store catches up. */
ml_err hq_outgoing_mark_published(struct hq_store *st, const char *id, int64_t now_ms);

/* Calls fn with the topic of every campaign whose current message has expired at now_ms:
 * its retained copy would only draw msg_expired refusals. */
ml_err hq_outgoing_expired_campaigns(struct hq_store *st, int64_t now_ms,
                                     void (*fn)(void *arg, const char *topic), void *arg);

/* ---- reading messages back ------------------------------------------------------------- */

/* A stored message handed to a walk; borrowed for the call. */
struct hq_outgoing_text {
    const char *topic, *id;
    const char *text;
    size_t len; /* bytes of text */
};

/* What a walk's fn returns: go on, stop here (not an error), or fail (out of memory). */
enum hq_walk { HQ_WALK_NEXT, HQ_WALK_STOP, HQ_WALK_FAIL };

typedef enum hq_walk (*hq_outgoing_fn)(void *arg, const struct hq_outgoing_text *m);

/*
 * Each walk calls fn with the messages in order, at most `max` of them. ML_OK when the
 * walk ended or fn stopped it, ML_NOMEM when fn failed, ML_STORAGE.
 *
 *   campaigns    the campaign messages unexpired at now_ms, by campaign id
 *   unpublished  per-store messages unexpired at now_ms never marked published, by
 *                store and cursor
 *   changes      the messages of `store` with cursor > since, by cursor
 */
ml_err hq_outgoing_campaigns(struct hq_store *st, int64_t now_ms, int64_t max, hq_outgoing_fn fn,
                             void *arg);
ml_err hq_outgoing_unpublished(struct hq_store *st, int64_t now_ms, int64_t max, hq_outgoing_fn fn,
                               void *arg);
ml_err hq_outgoing_changes(struct hq_store *st, const char *store, int64_t since, int64_t max,
                           hq_outgoing_fn fn, void *arg);

/* *ret_known = 1 when anything was ever stored for `store`. */
ml_err hq_outgoing_known(struct hq_store *st, const char *store, int *ret_known);

/* Calls fn with each store a message was stored for, in byte order, the first `max` of them;
 * a result of fn other than ML_OK stops the walk and is returned. */
ml_err hq_outgoing_stores(struct hq_store *st, int64_t max,
                          ml_err (*fn)(void *arg, const char *store), void *arg);

#endif
