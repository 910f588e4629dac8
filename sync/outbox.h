/*
 * outbox: the durable queue of events for HQ (transactional outbox).
 *
 * outbox_append() runs inside the transaction that made the change, so an event exists
 * exactly when its change does. Each event gets a UUIDv7 id, the next gapless per-terminal
 * seq and an HLC stamp; the row holds the whole envelope (docs/protocol.md). Rows leave
 * only when HQ acknowledges them (sync, a later module).
 */
#ifndef ML_OUTBOX_H
#define ML_OUTBOX_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "ml_err.h"
#include "store.h"

#define UUID_TEXT_LEN 36

/* Appends one event; takes ownership of `body` in every case. */
ml_err outbox_append(struct store *st, const char *store_id, const char *terminal, int64_t now_ms,
                     const char *type, cJSON *body);

/* Events waiting for HQ's ack, and the creation time (ms) of the oldest (0 if none). */
int64_t outbox_depth(struct store *st);
int64_t outbox_oldest_at(struct store *st);

/* A UUIDv7 (RFC 9562) for time now_ms: 48-bit ms, version 7, 74 random bits. */
void outbox_uuid_v7(int64_t now_ms, char out[UUID_TEXT_LEN + 1]);

#endif
