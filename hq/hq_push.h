/*
 * hq_push: signed messages from HQ to stores, stored before they are sent.
 *
 * A push is one SQLite transaction: each message gets its id, its cursor (per-store
 * messages: the next of that store's gapless sequence) and its signature, and is stored
 * as the exact text to send (canon_json of the signed message, which keeps every integer
 * exact). Only after the commit does the caller publish the texts (hq_pub.h); a message
 * that never reaches the broker still reaches its store through the catch-up endpoint
 * (hq_http.h), which serves the same texts.
 *
 *   per-store  topic ml/<brand>/s/<store>/inbox, QoS 1, not retained; "store" = the store,
 *              "cursor" = 1, 2, 3... per store; expires = issued + 30 days
 *   campaign   topic ml/<brand>/hq/campaign/<campaign_id>, QoS 1, retained; "store" = "*",
 *              "cursor" = 0; expires = max(valid_to, issued + 30 days); replaces the
 *              campaign's current message only with a newer version
 *
 * "version" is the body's own "version" (facts carry it); a body without one gets
 * max(now in ms, last version HQ sent for that entity + 1), written into the body.
 * A per-store message whose entity that store already got at the same or a newer version
 * is skipped (the store would ignore it).
 *
 * Topics are sync/wire/topic.h's. The messages are stored through hq_outgoing.h; a
 * coupon.grant's terms are the sender's to record (hq_settle_note_grant). A hq_push belongs to one
 * thread and borrows the store and key. Functions return refusals (bad bodies, limits) in an
 * ml_refusal and log nothing.
 */
#ifndef ML_HQ_PUSH_H
#define ML_HQ_PUSH_H

#include <cjson/cJSON.h>
#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#include "hq_fact.h"
#include "hq_store.h"
#include "ml_err.h"
#include "sign.h"
#include "topic.h"

#define HQ_MSG_TEXT_MAX (64 * 1024)             /* bytes of one signed message text */
#define HQ_MSG_TTL_MS (30LL * 24 * 3600 * 1000) /* expires = issued + 30 days */
/* Messages stored by one push. The push holds the database's write lock while it signs
 * (about 20000 messages a second), and the ingest of `serve` waits at most 5 s for it. */
#define HQ_PUSH_MESSAGES_MAX 50000
#define HQ_CAMPAIGNS_LIVE_MAX 1000                    /* unexpired campaigns at a time */
#define HQ_CAMPAIGNS_LIVE_BYTES_MAX (4 * 1024 * 1024) /* their texts together */
#define HQ_PUSH_KIND_MAX 31 /* bytes of a message kind ("settlement.notice") */

/* One message of a push, for printing and publishing after the commit. */
struct hq_push_msg {
    char id[SIGN_ID_MAX + 1];
    char store[40]; /* store id or "*" */
    int64_t cursor; /* 0 for a campaign */
    char kind[HQ_PUSH_KIND_MAX + 1];
    char entity[HQ_ENTITY_MAX + 1];
    int64_t version;
    char topic[TOPIC_MAX];
    int retain;
    int skipped; /* not stored: this store has this entity at version >= this one */
    char *text;  /* canonical text, NUL-terminated; NULL when skipped */
    size_t len;
    int acked; /* set by the caller once the broker acknowledged it */
};

struct hq_push;

/* Borrows st and key; kid and brand are copied. now_ms is `issued` for every message. */
ml_err hq_push_new(struct hq_store *st, const char *brand, EVP_PKEY *key, const char *kid,
                   int64_t now_ms, struct hq_push **ret_push);
/* NULL-safe; rolls back an open transaction. */
void hq_push_free(struct hq_push *p);

/* BEGIN IMMEDIATE. */
ml_err hq_push_begin(struct hq_push *p);
/* COMMIT; ML_STORAGE when it fails: nothing was sent, and whether the messages are stored
 * is not known (hq_store.h); if they are, catch-up and republish serve them. */
ml_err hq_push_commit(struct hq_push *p);

/* What hq_push_prepare() made of a body: its kind, what its version counts for, and that
 * version. Checked once per body, however many stores it goes to. */
struct hq_prepared {
    char kind[HQ_PUSH_KIND_MAX + 1];
    char entity[HQ_ENTITY_MAX + 1];
    int64_t version; /* 0: not prepared */
};

/*
 * Gets body ready to be sent as `kind` (a per-store kind): keys a plaintext "phone" of a
 * member with phone_key (NULL: none configured), checks it (hq_fact_check) and gives it a
 * version when it has none. body is changed in place and stays the caller's. Inside the
 * transaction. Fills *ret on ML_OK only.
 */
ml_err hq_push_prepare(struct hq_push *p, const char *kind, cJSON *body, const uint8_t *phone_key,
                       struct hq_prepared *ret, struct ml_refusal *r);

/* Signs and stores for `store` the body that hq_push_prepare() filled prep from (unchanged
 * since). ML_PARSE for a bad store id or a prep never filled; ML_LIMIT past
 * HQ_PUSH_MESSAGES_MAX or HQ_MSG_TEXT_MAX; ML_STORAGE. Borrows body and prep. */
ml_err hq_push_to_store(struct hq_push *p, const char *store, const cJSON *body,
                        const struct hq_prepared *prep, struct ml_refusal *r);

/*
 * Checks, signs and stores a campaign body (campaign.upsert) as the campaign's current
 * message. Refused (ML_REFUSED) when its version is not newer than the current one, ML_LIMIT
 * past HQ_CAMPAIGNS_LIVE_MAX / HQ_CAMPAIGNS_LIVE_BYTES_MAX. A body without a version gets
 * one. Borrows body (may add "version").
 */
ml_err hq_push_campaign(struct hq_push *p, cJSON *body, struct ml_refusal *r);

/*
 * Signs and stores a campaign.withdraw {campaign_id, version} as the campaign's current
 * retained message, replacing its campaign.upsert: stores that connect later receive the
 * withdrawal, and catch-up from 0 serves it. Version: newer than the campaign's. Same
 * refusals as hq_push_campaign().
 */
ml_err hq_push_campaign_withdraw(struct hq_push *p, const char *campaign_id, struct ml_refusal *r);

/*
 * HQ's time beacon: a signed hq.time message ("store" "*", cursor 0, empty body, expires =
 * issued + HQ_TIME_TTL_MS) for ml/<brand>/hq/time. Terminals take `issued` as trusted
 * time (docs/protocol.md). `serve` publishes one every [hq] time_beacon_s and the catch-up
 * endpoint ends every response with a fresh one. ret->text is the caller's to free.
 */
#define HQ_TIME_TTL_MS 120000
ml_err hq_push_time_beacon(const char *brand, EVP_PKEY *key, const char *kid, int64_t now_ms,
                           struct hq_push_msg *ret);

/* Forgets the messages from index n on (their transaction or savepoint was rolled back). */
void hq_push_truncate(struct hq_push *p, size_t n);

/* The messages so far, in the order they were added. */
size_t hq_push_count(const struct hq_push *p);
struct hq_push_msg *hq_push_msg(struct hq_push *p, size_t i);

#endif
