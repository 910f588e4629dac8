/*
 * hlc: hybrid logical clock for event stamps, "<wall-ms>-<counter>".
 *
 * Stamps never go backwards, even when the wall clock is reset: the last stamp is kept in
 * sync_state inside the same transaction as the event that used it.
 */
#ifndef ML_HLC_H
#define ML_HLC_H

#include <stdint.h>

#include "ml_err.h"
#include "db.h"

#define HLC_TEXT_MAX 48

struct hlc {
    int64_t wall;
    int64_t counter;
};

/* Advances h for a local event at physical time now_ms. */
void hlc_advance(struct hlc *h, int64_t now_ms);

/* Merges a remote stamp (received from HQ) at physical time now_ms. */
void hlc_merge(struct hlc *h, const struct hlc *remote, int64_t now_ms);

void hlc_format(const struct hlc *h, char out[HLC_TEXT_MAX]);

/* Merges a stamp from HQ (its wall ms) into the persisted clock, in the caller's
 * transaction, so later local events order after what HQ had seen. */
ml_err hlc_observe(struct db *db, int64_t remote_wall_ms, int64_t now_ms);

/* Loads, advances and stores the persisted clock inside the caller's transaction. */
ml_err hlc_tick(struct db *db, int64_t now_ms, struct hlc *ret);

#endif
