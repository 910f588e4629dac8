/* risk: the offline caps; see risk.h. */
#include "risk.h"

#include <string.h>
#include <time.h>

#include "money.h"
#include "rules.h"
#include "trust.h"

void risk_day_bounds(int64_t ms, int64_t *ret_start, int64_t *ret_end)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    struct tm next = tm;
    next.tm_mday++;
    *ret_start = (int64_t)mktime(&tm) * 1000;
    *ret_end = (int64_t)mktime(&next) * 1000;
}

static ml_err member_today(struct store *st, const char *member_id, int64_t trusted_ms,
                           int64_t *ret)
{
    static const char sql[] =
        "SELECT count(*) FROM sales s JOIN redemptions r ON r.sale_id = s.sale_id "
        "WHERE s.member_id = ?1 AND r.offline = 1 AND r.restored = 0 "
        " AND r.trusted_at >= ?2 AND r.trusted_at < ?3";
    int64_t start, end;
    risk_day_bounds(trusted_ms, &start, &end);
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, member_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, start);
    sqlite3_bind_int64(s, 3, end);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? ML_OK : ML_STORAGE;
}

/* Trusted time never goes back, so every redemption after the contact is at or past it;
 * one made in the contact's own millisecond counts too, on the safe side. */
static ml_err terminal_value(struct store *st, int64_t contact_ms, int64_t *ret)
{
    static const char sql[] = "SELECT coalesce(sum(amount), 0) FROM redemptions "
                              "WHERE offline = 1 AND restored = 0 AND trusted_at >= ?1";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_int64(s, 1, contact_ms);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? ML_OK : ML_STORAGE;
}

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
    if (terminal_value(ctx->st, rd.contact_ms, &rk->terminal_value) != ML_OK)
        return ML_STORAGE;
    if (member_id != NULL &&
        member_today(ctx->st, member_id, rd.now_ms, &rk->member_today) != ML_OK)
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

ml_err risk_record(struct store *st, const struct risk *rk, const char *coupon_id, int64_t use_no,
                   const char *sale_id)
{
    static const char sql[] = "UPDATE redemptions SET offline = ?4, trusted_at = ?5 "
                              "WHERE coupon_id = ?1 AND use_no = ?2 AND sale_id = ?3 "
                              "AND restored = 0";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, coupon_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, use_no);
    sqlite3_bind_text(s, 3, sale_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 4, rk->offline);
    if (rk->trusted)
        sqlite3_bind_int64(s, 5, rk->trusted_ms);
    else
        sqlite3_bind_null(s, 5);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE && sqlite3_changes(store_db(st)) == 1 ? ML_OK : ML_STORAGE;
}
