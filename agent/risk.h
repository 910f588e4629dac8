/*
 * risk: every cap on what the terminal decides without HQ, in one place (docs/operations.md,
 * "Offline risk"; configured in [offline]).
 *
 * A sale is offline when the terminal syncs with HQ ([mqtt] host set) and has not heard HQ
 * within contact_window_s. Then each coupon, in request order, must pass, in this order:
 *   offline_not_allowed     the coupon is not offline_ok
 *   clock_untrusted         the terminal has no trusted time (trust.h)
 *   offline_too_long        HQ has not been heard for more than max_offline_s
 *   offline_coupon_value    its discount is above coupon_max_value
 *   offline_member_daily    the member has member_daily_redemptions offline redemptions
 *                           today (the trusted calendar day, local time)
 *   offline_terminal_value  offline redemptions since the last HQ contact would pass
 *                           terminal_max_value
 * A refused coupon is left out of the sale; the sale goes on. Points spent offline are
 * capped at the known balance less points_margin_bp.
 *
 * The counters come from the ledger's redemptions (offline = 1, trusted_at, not restored by
 * a refund; ledger.h), so they survive a crash; a sale adds its own coupons as they pass. A
 * terminal without [mqtt] host runs standalone and none of this applies.
 */
#ifndef ML_RISK_H
#define ML_RISK_H

#include <stdint.h>

#include "config.h"
#include "coupon.h"
#include "ctx.h"
#include "ml_err.h"
#include "db.h"

/* The offline picture for one sale. Filled by risk_begin(); tests may fill it by hand. */
struct risk {
    struct config_offline cfg;
    int offline;              /* the caps apply to this sale */
    int trusted;              /* trusted time known */
    int64_t trusted_ms;       /* trusted time now (when trusted) */
    int64_t since_contact_ms; /* -1: HQ not heard since boot */
    int has_member;           /* the sale has a member: the per-day count applies */
    int64_t member_today;     /* the member's offline redemptions today, this sale's included */
    int64_t terminal_value;   /* offline redemption value since contact, this sale's included */
};

/*
 * Reads the clock (ctx->trust, may be NULL) and, for an offline sale with trusted time, the
 * counters of `member_id` (NULL: anonymous sale). ML_STORAGE.
 */
ml_err risk_begin(struct risk *rk, const struct ml_ctx *ctx, const char *member_id);

/*
 * Whether coupon `c`, discounting `amount`, may be redeemed in this sale. ML_OK counts it
 * (always, online); ML_REFUSED fills r with one of the codes above (status 409) and counts
 * nothing.
 */
ml_err risk_coupon(struct risk *rk, const struct coupon *c, int64_t amount, struct ml_refusal *r);

/* The most points the member may spend in this sale out of `available`: all of them
 * online, available less points_margin_bp (rounded in the store's favour) offline. */
int64_t risk_points_limit(const struct risk *rk, int64_t available);

#endif
