/*
 * inbox: verifying and applying signed messages from HQ (docs/protocol.md, "Signed
 * messages from HQ"), from MQTT or from the HTTP catch-up alike.
 *
 * A message is applied only if its signature verifies against one of the configured HQ
 * keys, over the topic it belongs to, and it has not expired. Per-store messages carry a
 * gapless cursor: the next one is applied; an older one is a duplicate; a newer one means
 * something was lost on the way, so nothing is applied and the caller catches up over
 * HTTP. Applying is one unit (a savepoint: its own transaction, or nested in the caller's,
 * as the catch-up does to import a whole response in one transaction): the fact (through
 * the handler's apply(), version-guarded), the message id in inbox_applied, the new cursor.
 * A refused message changes nothing but the outbox, where a security.rejected event tells
 * HQ. A verified message older than what the store holds is refused the same way
 * (msg_old_version), but its cursor is taken, so the stream goes on.
 *
 * What a fact means is the agent's: the inbox verifies, orders and deduplicates, then hands
 * the body to the handler the agent supplies. The inbox_applied table is this module's.
 */
#ifndef ML_INBOX_H
#define ML_INBOX_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "ml_err.h"
#include "sign.h"

#define INBOX_MSG_MAX (256 * 1024) /* bytes of one signed message accepted */

enum inbox_result {
    INBOX_APPLIED,   /* applied */
    INBOX_DUPLICATE, /* already applied */
    INBOX_GAP,       /* its cursor is past the next one: catch up first */
    INBOX_REJECTED,  /* refused; see the refusal; a security.rejected event was written */
};

struct inbox_stats {
    uint64_t applied, duplicates, gaps, rejected;
    uint64_t beacons; /* hq.time messages taken as trusted time (not in `applied`) */
};

/* What the agent does with a verified message; each runs inside the message's savepoint. */
struct inbox_handler {
    void *arg;
    /*
     * Applies the fact `kind` with `body`. ML_OK with *ret_applied (0: older than what the
     * store holds, nothing changed). ML_PARSE or ML_REFUSED with r filled: the store cannot
     * apply it (the cursor moves on and HQ hears of it). ML_STORAGE / ML_NOMEM: nothing of the
     * message is kept; it comes again.
     */
    ml_err (*apply)(void *arg, const char *kind, const cJSON *body, int *ret_applied,
                    struct ml_refusal *r);
    /* HQ's signed time `issued_ms` (from its time beacon) was verified. ML_STORAGE. */
    ml_err (*hq_time)(void *arg, int64_t issued_ms);
};

/* Who the store is, for topics, refusal events and what messages must name. */
struct inbox_site {
    const char *brand, *store, *terminal;
};

struct inbox;

/* Borrows db, keys (NULL: every message is refused), site and h (all must outlive the
 * inbox). ML_NOMEM. Caller frees with inbox_free(). */
ml_err inbox_new(struct db *db, const struct sign_keyring *keys, const struct inbox_site *site,
                 int64_t (*now_ms)(void), const struct inbox_handler *h, struct inbox **ret);
void inbox_free(struct inbox *ib); /* NULL-safe */

/*
 * Handles one message text received on `topic`. Returns ML_OK with *ret set for the four
 * outcomes above; another ml_err only when storage failed (nothing was applied).
 */
ml_err inbox_handle(struct inbox *ib, const char *topic, const char *text, size_t len,
                    enum inbox_result *ret);

/* The same for a line of the HTTP catch-up, which names no topic: it is HQ's time beacon by
 * its kind, a campaign's by its store "*" and body, else the store's inbox. */
ml_err inbox_handle_line(struct inbox *ib, const char *text, size_t len, enum inbox_result *ret);

const struct inbox_stats *inbox_stats(const struct inbox *ib);

/* The cursor of the last per-store message applied (0: none yet; -1: cannot be read). */
int64_t inbox_cursor(struct db *db);

#endif
