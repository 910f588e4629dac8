/*
 * hq_wait: what `serve` holds back until the commit it belongs to is durable: the acks of
 * the batches stored (and the settlement messages booked) by a commit whose WAL flush the
 * syncer has not confirmed yet (hq_walsync.h). Each entry carries the flush generation it
 * waits for; entries are added in commit order and released in that order once their
 * generation is flushed.
 *
 * HQ_WAIT_MAX bounds the list without refusing what a committed burst owes its stores:
 *   - an ack is always taken (only out of memory drops one): once its batch has committed,
 *     dropping it would only make the store send the batch again;
 *   - a settlement message is refused at HQ_WAIT_MAX entries: it is stored, so its store
 *     catches up over HTTP (and `memberlink-hq republish` sends it);
 *   - `serve` stops reading MQTT input while hq_wait_room() < HQ_GROUP_MAX (hq_serve.h),
 *     and the syncer's next flush makes room.
 * A burst may bring more acks than HQ_GROUP_MAX (one mosquitto_loop_read() reads whatever
 * packets the socket holds), so the list may pass HQ_WAIT_MAX by the acks of the last burst
 * read (and of what a closing connection still held); it grows no further, since nothing
 * more is read until its room is back to HQ_GROUP_MAX.
 *
 * A hq_wait belongs to the serve thread. It takes ownership of every payload handed to it.
 */
#ifndef ML_HQ_WAIT_H
#define ML_HQ_WAIT_H

#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"
#include "sign.h"  /* SIGN_ID_MAX */
#include "topic.h" /* TOPIC_MAX */

/* Entries the list takes before it refuses settlement messages and `serve` stops reading:
 * 16 bursts of HQ_GROUP_MAX acks, ~0.3 MB of entries plus their payloads (an ack of a
 * 1000-event batch is ~40 KB). */
#define HQ_WAIT_MAX 1024

/* One message waiting for its flush. */
struct hq_wait_item {
    uint64_t gen; /* the flush generation it waits for */
    char topic[TOPIC_MAX];
    char *payload; /* owned by the list */
    size_t len;
    char id[SIGN_ID_MAX + 1]; /* outgoing message id to mark published; "" for an ack */
};

struct hq_wait;

ml_err hq_wait_new(struct hq_wait **ret);

/* Frees every entry still waiting (their payloads too). NULL-safe. */
void hq_wait_free(struct hq_wait *w);

/* Entries waiting, and how many more settlement messages the list takes (HQ_WAIT_MAX -
 * count, 0 once the acks of a burst took it to HQ_WAIT_MAX or past). */
size_t hq_wait_count(const struct hq_wait *w);
size_t hq_wait_room(const struct hq_wait *w);

/*
 * Appends an entry for generation gen; topic (and id) are copied, payload is taken.
 *   hq_wait_add_ack  an ack: ML_OK whatever the count, or ML_NOMEM
 *   hq_wait_add_msg  a settlement message, id its outgoing id: ML_OK; ML_LIMIT when
 *                    HQ_WAIT_MAX entries (or more) wait, or ML_NOMEM
 * On failure payload has been freed and nothing was added (see the top for what becomes of
 * the message).
 */
ml_err hq_wait_add_ack(struct hq_wait *w, uint64_t gen, const char *topic, char *payload,
                       size_t len);
ml_err hq_wait_add_msg(struct hq_wait *w, uint64_t gen, const char *topic, char *payload,
                       size_t len, const char *id);

/* Hands every entry of a generation up to `done` to fn, in the order added, and frees it
 * (fn borrows the entry for the call). */
void hq_wait_release(struct hq_wait *w, uint64_t done,
                     void (*fn)(void *arg, const struct hq_wait_item *item), void *arg);

#endif
