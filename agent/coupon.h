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

#include "ml_err.h"
#include "store.h"

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
ml_err coupon_get(struct store *st, const char *coupon_id, struct coupon *ret);
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
 * Takes one use for `sale_id` inside the caller's transaction and records the redemption.
 * Returns the use number in *ret_use_no. ML_REFUSED coupon_already_redeemed if the use
 * is gone (it never is for a coupon that passed coupon_check_usable in this transaction).
 */
ml_err coupon_redeem(struct store *st, const struct coupon *c, const char *sale_id, int64_t amount,
                     const char *lines_json, int64_t now, int64_t *ret_use_no,
                     struct ml_refusal *r);

/* Gives a use back (refund) and marks that sale's redemption restored, freeing the use. */
ml_err coupon_restore(struct store *st, const char *coupon_id, int64_t use_no, const char *sale_id);

#endif
