/*
 * ctx: what a request handler needs: the database, the configuration, the clock.
 * The clock is a function so tests can run a sale at a chosen time.
 */
#ifndef ML_CTX_H
#define ML_CTX_H

#include <stdint.h>

#include "config.h"
#include "db.h"

#include "version.h"

struct metrics;
struct link;
struct trust;
struct sign_keyring;

struct ml_ctx {
    struct db *db;
    const struct config *cfg;
    struct metrics *metrics; /* may be NULL (tests, tools) */
    struct link *link;       /* the MQTT session with HQ; NULL when [mqtt] host is empty */
    struct trust *trust;     /* trusted clock and last HQ contact; NULL: none (untrusted) */
    /* HQ public keys ([hq] pubkey): signed messages and QR codes. NULL: none configured. */
    const struct sign_keyring *keys;
    int64_t (*now_ms)(void); /* wall clock, ms UTC */
    int64_t started_ms;
};

#endif
