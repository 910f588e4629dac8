/*
 * state: the sync_state table, small named values the store keeps across restarts (the
 * outbox's next seq, the HLC, the inbox cursor, the trusted clock's anchor, the next sale
 * number). Every read and write runs inside the caller's transaction, so a value moves
 * exactly when the change that uses it is committed.
 */
#ifndef ML_STATE_H
#define ML_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "ml_err.h"

/* *ret = the value of key, or dflt when there is none. ML_STORAGE. */
ml_err state_get_i64(struct db *db, const char *key, int64_t dflt, int64_t *ret);
ml_err state_set_i64(struct db *db, const char *key, int64_t value);

/* The text of key into out (len bytes; "" when there is none). ML_STORAGE. */
ml_err state_get_text(struct db *db, const char *key, char *out, size_t len);
ml_err state_set_text(struct db *db, const char *key, const char *value);

#endif
