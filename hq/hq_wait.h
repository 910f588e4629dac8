/*
 * hq_wait: what `serve` holds back until the commit it belongs to is durable: the acks of
 * the batches stored (and the settlement messages booked) by a commit whose WAL flush the
 * syncer has not confirmed yet (hq_walsync.h). Each entry carries the flush generation it
 * waits for; entries are added in commit order and released in that order once their
 * generation is flushed.
 *
 * The list holds at most HQ_WAIT_MAX entries: a syncer that falls behind (a slow disk) must
 * not let input grow it without bound. `serve` stops reading MQTT input while the list has
 * no room for a whole burst's acks (hq_wait_room() < HQ_GROUP_MAX, hq_serve.h), so in
 * practice nothing is refused; what is refused all the same is dropped at once: an ack
 * never sent (the store sends the batch again, and HQ acknowledges the duplicates), a
 * settlement message not published now (it is stored: the store catches up over HTTP, and
 * `memberlink-hq republish` sends it).
 *
 * A hq_wait belongs to the serve thread. It takes ownership of every payload handed to it.
 */
#ifndef ML_HQ_WAIT_H
#define ML_HQ_WAIT_H

#include <stddef.h>
#include <stdint.h>

#include "hq_ingest.h" /* HQ_TOPIC_MAX */
#include "ml_err.h"
#include "sign.h" /* SIGN_ID_MAX */

/* Entries waiting at a time: 16 bursts of HQ_GROUP_MAX acks, ~0.3 MB of entries plus their
 * payloads (an ack of a 1000-event batch is ~40 KB). */
#define HQ_WAIT_MAX 1024

/* One message waiting for its flush. */
struct hq_wait_item {
    uint64_t gen; /* the flush generation it waits for */
    char topic[HQ_TOPIC_MAX];
    char *payload; /* owned by the list */
    size_t len;
    char id[SIGN_ID_MAX + 1]; /* outgoing message id to mark published; "" for an ack */
};

struct hq_wait;

ml_err hq_wait_new(struct hq_wait **ret);

/* Frees every entry still waiting (their payloads too). NULL-safe. */
void hq_wait_free(struct hq_wait *w);

/* Entries waiting, and how many more the list takes (HQ_WAIT_MAX - count). */
size_t hq_wait_count(const struct hq_wait *w);
size_t hq_wait_room(const struct hq_wait *w);

/*
 * Appends an entry for generation gen; topic and id (NULL: an ack) are copied, payload is
 * taken. ML_OK; ML_LIMIT when HQ_WAIT_MAX entries wait already, or ML_NOMEM: then payload
 * has been freed and nothing was added (see the top for what becomes of the message).
 */
ml_err hq_wait_add(struct hq_wait *w, uint64_t gen, const char *topic, char *payload, size_t len,
                   const char *id);

/* Hands every entry of a generation up to `done` to fn, in the order added, and frees it
 * (fn borrows the entry for the call). */
void hq_wait_release(struct hq_wait *w, uint64_t done,
                     void (*fn)(void *arg, const struct hq_wait_item *item), void *arg);

#endif
