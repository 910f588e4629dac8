/*
 * idem: idempotency keys for state-changing requests.
 *
 * A request's fingerprint is SHA-256 over its method, path and body bytes. The first
 * successful answer is stored with the key in the same transaction as the change itself,
 * so "the change happened" and "the answer is stored" are one durable fact. A repeat with
 * the same fingerprint gets that answer back; a different fingerprint is refused.
 * Refused requests store nothing and may be retried with the same key.
 */
#ifndef ML_IDEM_H
#define ML_IDEM_H

#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"
#include "db.h"

#define IDEM_KEY_MAX 128 /* bytes; printable ASCII */
#define IDEM_HASH_LEN 32

/* 1 if the key is 1..IDEM_KEY_MAX printable ASCII characters. */
int idem_key_valid(const char *key);

void idem_fingerprint(const char *method, const char *path, const char *body, size_t len,
                      uint8_t out[IDEM_HASH_LEN]);

/*
 * ML_NOENTRY: key unused. ML_OK: same request seen; *ret_status and *ret_body (caller
 * frees) hold the first answer. ML_REFUSED: key used for a different request (422
 * idempotency_key_reused in r).
 */
ml_err idem_lookup(struct db *db, const char *key, const uint8_t hash[IDEM_HASH_LEN],
                   int *ret_status, char **ret_body, struct ml_refusal *r);

/* Stores the answer inside the caller's transaction. */
ml_err idem_record(struct db *db, const char *key, const uint8_t hash[IDEM_HASH_LEN], int status,
                   const char *body, int64_t now);

#endif
