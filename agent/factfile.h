/*
 * factfile: imports HQ facts from an NDJSON file, one {"kind":..,"body":{..}} per line,
 * through the facts module, all in one transaction. For seeding a terminal (make run's
 * demo data, a test fixture) while HQ sync is not configured. A member body may carry
 * "phone" in plaintext instead of phone_hmac/phone_masked: it is keyed and masked with
 * the terminal's phone key on the way in and never stored.
 */
#ifndef ML_FACTFILE_H
#define ML_FACTFILE_H

#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"
#include "db.h"

#define FACTFILE_LINE_MAX (64 * 1024)

ml_err factfile_import(struct db *db, const uint8_t phone_key[32], const char *path,
                       size_t *ret_applied, char *errbuf, size_t errlen);

#endif
