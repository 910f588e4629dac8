/*
 * deny: the deny-list. Members and coupons that must be refused whatever the local data
 * says: HQ's signed deny.upsert facts (a blocked member, a revoked coupon, a coupon
 * redeemed in another store) and store peers' redemptions (another terminal of this store
 * took a single-use coupon, heard on the store broker before HQ knows).
 *
 * One row per subject. HQ entries are version-guarded like every HQ fact: an older or
 * equal version changes nothing, and a lifted entry stays as a tombstone so an older deny
 * cannot come back. A peer entry never replaces a live HQ entry, keeps the HQ version it
 * replaces, and is lifted only by the same peer (its coupon.restored event) or by HQ.
 * All writes run inside the caller's transaction.
 */
#ifndef ML_DENY_H
#define ML_DENY_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "coupon.h"
#include "db.h"
#include "fact.h"
#include "ml_err.h"

#define DENY_ID_MAX 64                          /* member or coupon id, bytes */
#define DENY_REASON_MAX FACT_REASON_MAX         /* [a-z_], e.g. "redeemed_elsewhere" */
#define DENY_TERMINAL_MAX 32                    /* a peer terminal id, [A-Za-z0-9_-] */
#define DENY_SOURCE_MAX (5 + DENY_TERMINAL_MAX) /* "hq" or "peer:<terminal>" */

struct deny_entry {
    char reason[DENY_REASON_MAX + 1];
    char source[DENY_SOURCE_MAX + 1];
    int peer; /* 1: from a store peer, not HQ */
    int64_t version;
};

/*
 * Applies the HQ fact "deny.upsert" (facts_apply(), whose fact_parse() checked the body): an
 * older or equal version than the subject's is accepted and changes nothing
 * (*ret_applied = 0). ML_STORAGE.
 */
ml_err deny_apply(struct db *db, const char *subject_id, const struct fact_deny *d, int64_t version,
                  int *ret_applied);

/* Live entries (not lifted); -1 when it cannot be read. */
int64_t deny_count(struct db *db);

/*
 * A peer terminal of this store redeemed `coupon_id` at `at_ms` (its coupon.redeemed
 * event). Denies the coupon here with reason redeemed_elsewhere unless a live entry exists.
 * ML_PARSE for an id or terminal out of form; ML_STORAGE.
 */
ml_err deny_add_peer(struct db *db, const char *coupon_id, const char *terminal, int64_t at_ms);

/* The same peer gave the coupon back (its coupon.restored event): lifts that peer's entry
 * only; an HQ entry or another peer's is left alone. ML_PARSE, ML_STORAGE. */
ml_err deny_lift_peer(struct db *db, const char *coupon_id, const char *terminal);

/*
 * The one rule for store peers: a peer terminal's redemption of coupon c takes its last use
 * here for a single-use coupon and for one this store does not know (c NULL); a coupon of
 * several uses keeps its others (HQ settles if they run out). The writer of peer entries and
 * every reader of them (identify, checkout) decide by it.
 */
int deny_peer_takes_last_use(const struct coupon *c);

/*
 * A peer terminal redeemed coupon_id at at_ms: denies it here (deny_add_peer) when that took
 * its last use by the rule above, judged by the coupon as this store knows it now.
 * *ret_denied = 1 when an entry was written. ML_PARSE for an id or terminal out of form,
 * ML_STORAGE.
 */
ml_err deny_peer_redeemed(struct db *db, const char *coupon_id, const char *terminal, int64_t at_ms,
                          int *ret_denied);

/*
 * Whether the deny-list refuses coupon coupon_id, whose terms here are c (NULL: not known
 * here): an HQ entry always does; a peer's entry by the rule above. ML_OK when it is not
 * refused; ML_REFUSED with deny_coupon_code()'s code (409) in r; ML_STORAGE (503).
 */
ml_err deny_check_coupon(struct db *db, const char *coupon_id, const struct coupon *c,
                         struct ml_refusal *r);

/*
 * 1 if `subject` ("member" or "coupon") `id` is denied and not lifted, with the entry in
 * *ret (untouched unless 1 is returned); 0 if not; -1 on a storage error.
 */
int deny_get(struct db *db, const char *subject, const char *id, struct deny_entry *ret);

/*
 * Whether member member_id may be served: not when HQ blocked it (`blocked`, its status; then
 * nothing is read) or it is on the deny-list. ML_OK; ML_REFUSED 403 member_blocked in r;
 * ML_STORAGE (503).
 */
ml_err deny_check_member(struct db *db, const char *member_id, int blocked, struct ml_refusal *r);

/* The API error code for a denied coupon: coupon_revoked, coupon_redeemed_elsewhere, or
 * coupon_denied for any other reason. Static string. */
const char *deny_coupon_code(const char *reason);

#endif
