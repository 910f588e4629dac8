/*
 * trust: the terminal's trusted clock, and when HQ was last heard.
 *
 * The wall clock of a terminal can be set by whoever holds it, and a QR code says whatever
 * its maker wants, so neither is time the terminal trusts. Trusted time is the latest
 * HQ-signed time seen (the `issued` stamp of a verified HQ message; HQ sends a signed time
 * beacon every 30 s) plus the monotonic time elapsed since, on CLOCK_BOOTTIME, which keeps
 * counting through suspend and nobody can set.
 *
 * The anchor (HQ time, boot clock, boot id) is kept in sync_state, so an agent restarted
 * within the same boot keeps trusted time. After a reboot the boot clock starts over and
 * there is no trusted time until HQ is heard again. Trusted time never goes backwards: a
 * new stamp moves it to max(estimate, stamp). A stamp older than the estimate by more than
 * TRUST_STALE_MS (a message delivered late, or replayed) is neither time nor contact; after
 * a reboot a stamp older than the newest HQ time ever seen is ignored the same way.
 *
 * The struct is the caller's (one per agent, in main); the fields are private to trust.c.
 */
#ifndef ML_TRUST_H
#define ML_TRUST_H

#include <stdint.h>

#include "ml_err.h"
#include "db.h"

#define TRUST_BOOT_ID_MAX 64          /* /proc/sys/kernel/random/boot_id is 36 */
#define TRUST_STALE_MS INT64_C(60000) /* older stamps are not HQ contact: two beacons */

struct trust {
    int64_t (*boot_ms)(void);            /* CLOCK_BOOTTIME in ms */
    char boot_id[TRUST_BOOT_ID_MAX + 1]; /* "" when unknown: nothing is restored */
    int valid;                           /* the anchor belongs to this boot */
    int64_t hq_ms;                       /* trusted time at the anchor */
    int64_t anchor_boot_ms;              /* boot clock at the anchor: the last HQ contact */
    int64_t floor_ms;                    /* newest HQ time ever seen, any boot; 0: none */
};

/* What the clock says at one instant. */
struct trust_reading {
    int trusted;              /* 0: HQ not heard since boot */
    int64_t now_ms;           /* trusted time now, ms UTC (when trusted) */
    int64_t contact_ms;       /* trusted time of the last HQ contact (when trusted) */
    int64_t since_contact_ms; /* monotonic ms since that contact; -1 when not trusted */
};

/*
 * Restores the anchor from sync_state if it was taken in this boot. Reads the boot id from
 * /proc/sys/kernel/random/boot_id (unreadable: nothing is restored). ML_STORAGE only if the
 * database cannot be read; *t is then usable and untrusted.
 */
ml_err trust_open(struct trust *t, struct db *db);

/* trust_open() with the boot clock and boot id given (tests). `boot_id` may be NULL. */
ml_err trust_open_with(struct trust *t, struct db *db, int64_t (*boot_ms)(void),
                       const char *boot_id);

/*
 * HQ was heard: `issued_ms` is the signed `issued` stamp of a verified, fresh HQ message.
 * Call it inside the transaction that applies the message; it writes the anchor there.
 * The in-memory clock moves only when the write succeeded (a later rollback of the
 * caller's transaction leaves memory ahead of the database, which only loses a contact).
 * ML_STORAGE.
 */
ml_err trust_hq_time(struct trust *t, struct db *db, int64_t issued_ms);

/* Reads the clock once. t may be NULL (untrusted). */
void trust_read(const struct trust *t, struct trust_reading *ret);

/* 1 and the trusted time in *ms, or 0 (ms untouched). t may be NULL. */
int trust_now_ms(const struct trust *t, int64_t *ms);

/* Monotonic ms since HQ was last heard in this boot; -1 if never or unknown. t may be NULL. */
int64_t trust_since_contact_ms(const struct trust *t);

#endif
