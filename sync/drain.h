/*
 * drain: reading the outbox in batches for HQ, and removing what HQ acknowledged.
 *
 * A batch is the next run of outbox rows after a given seq, up to a count and a byte
 * budget, framed as {"v":1,"batch":"<id>","events":[envelope,...]} from the stored
 * envelope texts (no re-encoding). Acknowledged event ids are deleted in one transaction
 * per call, so a burst of acks costs one fsync, not one per event.
 */
#ifndef ML_DRAIN_H
#define ML_DRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"
#include "store.h"

#define DRAIN_EVENT_ID_LEN 36

struct drain_batch {
    char id[DRAIN_EVENT_ID_LEN + 1]; /* UUIDv7 */
    int64_t first_seq, last_seq;     /* inclusive range the batch covers */
    int nevents;
    char *payload; /* malloc'd JSON text; NULL when the batch was empty */
    size_t len;
};

/*
 * Builds the batch of the rows with seq > after_seq: at most max_events events and
 * max_bytes of payload (a single event larger than max_bytes still goes, alone).
 * nevents == 0 when nothing is waiting. Release with drain_batch_release().
 */
ml_err drain_next(struct store *st, int64_t after_seq, int max_events, size_t max_bytes,
                  int64_t now_ms, struct drain_batch *ret);

/* Rebuilds a batch for resending: the rows of [first_seq, last_seq] still in the outbox,
 * under the same batch id. nevents == 0 when all were acknowledged meanwhile. */
ml_err drain_again(struct store *st, const struct drain_batch *old, struct drain_batch *ret);

void drain_batch_release(struct drain_batch *b);

/* Deletes the acknowledged events (ids not in the outbox are ignored). One transaction. */
ml_err drain_ack(struct store *st, char (*ids)[DRAIN_EVENT_ID_LEN + 1], size_t n,
                 size_t *ret_deleted);

/* Whether any row of [first_seq, last_seq] is still waiting. */
int drain_pending_in(struct store *st, int64_t first_seq, int64_t last_seq);

#endif
