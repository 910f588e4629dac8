/*
 * hq_ingest: turns one MQTT message from a store into stored events and an ack.
 *
 * A store publishes `{"v":1,"batch":"<id>","events":[envelope...]}` (docs/protocol.md) on
 * ml/<brand>/s/<store>/<terminal>/ev. Each event is checked, stored unless its id is
 * known, and its report rows derived, all in one SQLite transaction per batch. Only after
 * that transaction commits does the caller publish the ack
 * `{"v":1,"acked":[ids]}` on ml/<brand>/s/<store>/<terminal>/ack: new events and
 * duplicates (the store resends until acked) are acknowledged; events whose store or
 * terminal differ from the topic, malformed events and events reusing another event's id
 * are refused, counted in the `rejections` table and logged, and never acknowledged.
 *
 * Topics are read and built by sync/wire/topic.h (the subscription is
 * topic_events_filter(), for every store of the brand). This module decides and logs (it
 * is the handler); the caller only publishes the ack.
 */
#ifndef ML_HQ_INGEST_H
#define ML_HQ_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "hq_store.h"
#include "ml_err.h"
#include "topic.h"

#define HQ_BATCH_BYTES_MAX (1024u * 1024u) /* larger payloads are dropped unacked */
#define HQ_BATCH_EVENTS_MAX 1000           /* more events in one batch: dropped unacked */
#define HQ_JSON_DEPTH_MAX 16               /* batch > events > envelope > body > ... */

struct hq_ingest_stats {
    uint64_t batches;         /* committed */
    uint64_t batches_dropped; /* refused whole: malformed, too large, wrong topic */
    uint64_t batches_failed;  /* storage error: rolled back, not acked */
    uint64_t events_new;
    uint64_t events_duplicate; /* acknowledged again, not stored again */
    uint64_t events_rejected;  /* not stored, not acknowledged */
};

struct hq_ingest;

/* Borrows `st` (must outlive the ingest). Caller frees with hq_ingest_free(). */
ml_err hq_ingest_new(struct hq_store *st, const char *brand, struct hq_ingest **ret_ingest);
void hq_ingest_free(struct hq_ingest *in); /* NULL-safe */

const struct hq_ingest_stats *hq_ingest_stats(const struct hq_ingest *in);

/* An acknowledgement to publish with QoS 1. */
struct hq_ack {
    char topic[TOPIC_MAX];
    char *payload; /* NUL-terminated JSON; caller frees with free() */
    size_t len;
};

/*
 * Handles one message. `now_ms` is the wall clock (stored as received_at).
 *   ML_OK       the batch is committed (in a group: will be, see below); when
 *               ret_ack->payload is not NULL, publish it.
 *   ML_PARSE    not a batch for this HQ (topic, JSON, version, shape): dropped, not acked.
 *   ML_LIMIT    over HQ_BATCH_BYTES_MAX or HQ_BATCH_EVENTS_MAX: dropped, not acked.
 *   ML_STORAGE  the transaction failed and was rolled back: not acked; the store resends.
 *   ML_NOMEM
 * ret_ack->payload is NULL unless ML_OK. Every outcome but ML_OK is logged here.
 */
ml_err hq_ingest_message(struct hq_ingest *in, const char *topic, const void *payload, size_t len,
                         int64_t now_ms, struct hq_ack *ret_ack);

/* Settles coupons redeemed past their uses (hq_settle.h) as their events arrive; the
 * caller publishes the settlement's messages after each commit and clears it. Borrowed. */
struct hq_settle;
void hq_ingest_set_settle(struct hq_ingest *in, struct hq_settle *settle);

/*
 * Group commit: between group_begin and group_commit, hq_ingest_message() puts each batch
 * in a savepoint of one transaction, so a burst of batches costs one fsync. The acks it
 * returns must be held back until group_commit returns ML_OK; on ML_STORAGE nothing of the
 * group is stored and none of its acks may be published (the stores resend).
 */
ml_err hq_ingest_group_begin(struct hq_ingest *in);
ml_err hq_ingest_group_commit(struct hq_ingest *in);

#endif
