/*
 * outbox: the durable queue of events for HQ (transactional outbox), and the only module
 * whose SQL names the outbox table.
 *
 * outbox_append() runs inside the transaction that made the change, so an event exists
 * exactly when its change does. Each event gets a UUIDv7 id, the next gapless per-terminal
 * seq and an HLC stamp; the row holds the whole envelope (docs/protocol.md). Rows leave only
 * when HQ acknowledges them (outbox_ack).
 *
 * Batches for HQ are the next run of rows after a given seq, up to a count and a byte budget,
 * framed as {"v":1,"batch":"<id>","events":[envelope,...]} from the stored envelope texts
 * (no re-encoding).
 */
#ifndef ML_OUTBOX_H
#define ML_OUTBOX_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "ml_err.h"
#include "uuid.h"

#define OUTBOX_EVENT_ID_LEN UUID_TEXT_LEN

/* Appends one event; takes ownership of `body` in every case. */
ml_err outbox_append(struct db *db, const char *store_id, const char *terminal, int64_t now_ms,
                     const char *type, cJSON *body);

/* Events waiting for HQ's ack (-1 when it cannot be read), and the creation time (ms) of the
 * oldest (0 if none). */
int64_t outbox_depth(struct db *db);
int64_t outbox_oldest_at(struct db *db);

struct outbox_batch {
    char id[OUTBOX_EVENT_ID_LEN + 1]; /* UUIDv7; "" when the batch is empty */
    int64_t first_seq, last_seq;      /* inclusive range the batch covers */
    int nevents;
    char *payload; /* malloc'd JSON text; NULL when the batch was empty */
    size_t len;
};

/*
 * Builds the batch of the rows with seq > after_seq: at most max_events events and
 * max_bytes of payload (a single event larger than max_bytes still goes, alone).
 * nevents == 0 when nothing is waiting. Release with outbox_batch_release().
 */
ml_err outbox_batch_next(struct db *db, int64_t after_seq, int max_events, size_t max_bytes,
                         int64_t now_ms, struct outbox_batch *ret);

/* Rebuilds a batch for resending: the rows of [first_seq, last_seq] still in the outbox,
 * under the same batch id. nevents == 0 when all were acknowledged meanwhile. */
ml_err outbox_batch_again(struct db *db, const struct outbox_batch *old, struct outbox_batch *ret);

void outbox_batch_release(struct outbox_batch *b); /* NULL-safe */

/* Deletes the acknowledged events (ids not in the outbox are ignored). One transaction. */
ml_err outbox_ack(struct db *db, char (*ids)[OUTBOX_EVENT_ID_LEN + 1], size_t n,
                  size_t *ret_deleted);

/* Whether any row of [first_seq, last_seq] is still waiting (1 also when it cannot be read:
 * the batch is then kept and resent, which HQ deduplicates). */
int outbox_pending_in(struct db *db, int64_t first_seq, int64_t last_seq);

#endif
