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
 * facts_apply(), version-guarded), the message id in inbox_applied, the new cursor. A refused
 * message changes nothing but the outbox, where a security.rejected event tells HQ. A verified
 * message older than what the store holds is refused the same way (msg_old_version), but its cursor
 * is taken, so the stream goes on.
 */
#ifndef ML_INBOX_H
#define ML_INBOX_H

#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
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

/*
 * Handles one message text received on `topic`. Returns ML_OK with *ret set for the four
 * outcomes above; another ml_err only when storage failed (nothing was applied).
 */
ml_err inbox_handle(struct ml_ctx *ctx, const struct sign_keyring *kr, const char *topic,
                    const char *text, size_t len, enum inbox_result *ret,
                    struct inbox_stats *stats);

/* The cursor of the last per-store message applied (0: none yet). */
int64_t inbox_cursor(struct store *st);

#endif
