/*
 * coupon: a coupon's terms and its state machine
 *   available -> redeemed (last use taken) -> available again (refund, if the campaign
 *   restores) ; available -> revoked (HQ) ; expiry is judged by valid_to at use time.
 * A use is taken with a guarded UPDATE plus a UNIQUE (coupon_id, use_no) redemption row,
 * so one store database never takes the same use twice.
 */
#ifndef ML_COUPON_H
#define ML_COUPON_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "db.h"
#include "fact.h"
#include "ml_err.h"

struct coupon {
    char coupon_id[65];
    char member_id[65]; /* empty: bearer coupon */
    char campaign_id[65];
    int percent; /* 1: percent_off (value in bp), 0: amount_off (value in minor units) */
    int64_t value;
    int64_t max_off;   /* percent_off cap, 0 = none */
    int64_t min_spend; /* on the gross of the eligible lines */
    cJSON *categories; /* owned; NULL = every category */
    int64_t valid_from, valid_to;
    int64_t uses_total, uses_left;
    int offline_ok;
    char state[16];
};

/* ML_NOENTRY when unknown. Release with coupon_release(). */
ml_err coupon_get(struct db *db, const char *coupon_id, struct coupon *ret);
void coupon_release(struct coupon *c);

/*
 * Whether the coupon can be used now by `member_id` (NULL: no member identified).
 * ML_REFUSED with coupon_revoked / coupon_already_redeemed / coupon_expired /
 * coupon_not_yet_valid / coupon_member_mismatch otherwise.
 */
ml_err coupon_check_usable(const struct coupon *c, const char *member_id, int64_t now,
                           struct ml_refusal *r);

/* Whether a line of `category` is eligible. */
int coupon_applies_to(const struct coupon *c, const char *category);

/*
 * The discount on eligible lines whose gross sums to `eligible_gross` and of which
 * `eligible_remaining` is still unpaid after earlier coupons. ML_REFUSED with
 * coupon_min_spend_not_met or coupon_not_applicable.
 */
ml_err coupon_discount(const struct coupon *c, int64_t eligible_gross, int64_t eligible_remaining,
                       int64_t *ret_amount, struct ml_refusal *r);

/*
 * Takes one use for `sale_id` inside the caller's transaction and records the redemption
 * (ledger.h), made offline or not and at trusted time trusted_at (0: none), for the offline
 * caps. Returns the use number in *ret_use_no. ML_REFUSED coupon_already_redeemed if the use
 * is gone (it never is for a coupon that passed coupon_check_usable in this transaction).
 */
ml_err coupon_redeem(struct db *db, const struct coupon *c, const char *sale_id, int64_t amount,
                     const char *lines_json, int64_t now, int offline, int64_t trusted_at,
                     int64_t *ret_use_no, struct ml_refusal *r);

/* Gives a use back (refund) and marks that sale's redemption restored, freeing the use. */
ml_err coupon_restore(struct db *db, const char *coupon_id, int64_t use_no, const char *sale_id);

/* The identify answer's coupons of member_id usable at now (at most 100, soonest to expire
 * first); NULL on failure. Caller deletes it. */
cJSON *coupon_usable_json(struct db *db, const char *member_id, int64_t now);

/* HQ's coupon.grant and coupon.revoke (fact.h), version-guarded: an older or equal version
 * changes nothing (*ret_applied = 0). Inside the caller's transaction. ML_STORAGE, ML_NOMEM. */
ml_err coupon_apply_grant(struct db *db, const char *coupon_id, const struct fact_grant *g,
                          int64_t version, int *ret_applied);
ml_err coupon_apply_revoke(struct db *db, const char *coupon_id, int64_t version, int *ret_applied);

/* Coupons this store knows; -1 when it cannot be read. */
int64_t coupon_count(struct db *db);

#endif
