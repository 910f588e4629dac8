/* risk: the offline caps; see risk.h. */
#include "risk.h"

#include <string.h>
#include <time.h>

#include "day.h"
#include "ledger.h"
#include "money.h"
#include "trust.h"

ml_err risk_begin(struct risk *rk, const struct ml_ctx *ctx, const char *member_id)
{
    struct trust_reading rd;
    memset(rk, 0, sizeof(*rk));
    rk->cfg = ctx->cfg->offline;
    trust_read(ctx->trust, &rd);
    rk->trusted = rd.trusted;
    rk->trusted_ms = rd.now_ms;
    rk->since_contact_ms = rd.since_contact_ms;
    rk->has_member = member_id != NULL;
    int syncs = ctx->cfg->mqtt_host[0] != '\0';
    rk->offline = syncs && (rd.since_contact_ms < 0 ||
                            rd.since_contact_ms > rk->cfg.contact_window_s * INT64_C(1000));
    if (!rk->offline || !rk->trusted)
        return ML_OK;
    /* Trusted time never goes back, so every redemption after the contact is at or past it;
     * one made in the contact's own millisecond counts too, on the safe side. */
    if (ledger_offline_value_since(ctx->db, rd.contact_ms, &rk->terminal_value) != ML_OK)
        return ML_STORAGE;
    int64_t start, end;
    if (day_bounds(rd.now_ms, &start, &end) != 0) {
        start = 0; /* no local day to be had: count every offline redemption, the safe side */
        end = INT64_MAX;
    }
    if (member_id != NULL &&
        ledger_offline_redemptions(ctx->db, member_id, start, end, &rk->member_today) != ML_OK)
        return ML_STORAGE;
    return ML_OK;
}

ml_err risk_coupon(struct risk *rk, const struct coupon *c, int64_t amount, struct ml_refusal *r)
{
    const struct config_offline *cf = &rk->cfg;
    if (!rk->offline)
        return ML_OK;
    if (!c->offline_ok)
        return ml_refuse(r, ML_REFUSED, 409, "offline_not_allowed",
                         "coupon %s can be redeemed only while HQ is reachable", c->coupon_id);
    if (!rk->trusted)
        return ml_refuse(r, ML_REFUSED, 409, "clock_untrusted",
                         "coupon %s: no trusted time since this terminal started; offline "
                         "redemption waits for HQ to be heard",
                         c->coupon_id);
    if (rk->since_contact_ms > cf->max_offline_s * INT64_C(1000))
        return ml_refuse(r, ML_REFUSED, 409, "offline_too_long",
                         "coupon %s: HQ not heard for %lld s, past the offline limit of %lld s",
                         c->coupon_id, (long long)(rk->since_contact_ms / 1000),
                         (long long)cf->max_offline_s);
    if (amount > cf->coupon_max_value)
        return ml_refuse(r, ML_REFUSED, 409, "offline_coupon_value",
                         "coupon %s: discount %lld is above the offline cap of %lld", c->coupon_id,
                         (long long)amount, (long long)cf->coupon_max_value);
    if (rk->has_member && rk->member_today >= cf->member_daily_redemptions)
        return ml_refuse(r, ML_REFUSED, 409, "offline_member_daily",
                         "coupon %s: the member has had %lld offline redemptions today, the "
                         "most allowed",
                         c->coupon_id, (long long)rk->member_today);
    if (rk->terminal_value + amount > cf->terminal_max_value)
        return ml_refuse(r, ML_REFUSED, 409, "offline_terminal_value",
                         "coupon %s: %lld more would take offline redemptions since HQ was last "
                         "heard to %lld, past the cap of %lld",
                         c->coupon_id, (long long)amount, (long long)(rk->terminal_value + amount),
                         (long long)cf->terminal_max_value);
    rk->member_today += rk->has_member;
    rk->terminal_value += amount;
    return ML_OK;
}

int64_t risk_points_limit(const struct risk *rk, int64_t available)
{
    if (!rk->offline || available <= 0)
        return available;
    return money_muldiv_floor(available, BP_ONE - rk->cfg.points_margin_bp, BP_ONE);
}
