/* coupon: terms, eligibility and redemption state; see coupon.h. */
#include "coupon.h"

#include <stdio.h>
#include <string.h>

#include "money.h"
#include "rules.h"

static void copy_col(sqlite3_stmt *s, int col, char *dst, size_t len)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    snprintf(dst, len, "%s", v ? (const char *)v : "");
}

ml_err coupon_get(struct store *st, const char *coupon_id, struct coupon *ret)
{
    static const char sql[] =
        "SELECT coupon_id, member_id, campaign_id, kind, value, max_off, min_spend, categories, "
        " valid_from, valid_to, uses_total, uses_left, offline_ok, state "
        "FROM coupons WHERE coupon_id = ?1";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, coupon_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(ret, 0, sizeof(*ret));
        copy_col(s, 0, ret->coupon_id, sizeof(ret->coupon_id));
        copy_col(s, 1, ret->member_id, sizeof(ret->member_id));
        copy_col(s, 2, ret->campaign_id, sizeof(ret->campaign_id));
        ret->percent = strcmp((const char *)sqlite3_column_text(s, 3), "percent_off") == 0;
        ret->value = sqlite3_column_int64(s, 4);
        ret->max_off = sqlite3_column_int64(s, 5);
        ret->min_spend = sqlite3_column_int64(s, 6);
        if (sqlite3_column_type(s, 7) != SQLITE_NULL)
            ret->categories = cJSON_Parse((const char *)sqlite3_column_text(s, 7));
        ret->valid_from = sqlite3_column_int64(s, 8);
        ret->valid_to = sqlite3_column_int64(s, 9);
        ret->uses_total = sqlite3_column_int64(s, 10);
        ret->uses_left = sqlite3_column_int64(s, 11);
        ret->offline_ok = sqlite3_column_int(s, 12);
        copy_col(s, 13, ret->state, sizeof(ret->state));
    }
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return ML_OK;
    return rc == SQLITE_DONE ? ML_NOENTRY : ML_STORAGE;
}

void coupon_release(struct coupon *c)
{
    if (c == NULL)
        return;
    cJSON_Delete(c->categories);
    c->categories = NULL;
}

ml_err coupon_check_usable(const struct coupon *c, const char *member_id, int64_t now,
                           struct ml_refusal *r)
{
    if (strcmp(c->state, "revoked") == 0)
        return ml_refuse(r, ML_REFUSED, 409, "coupon_revoked", "coupon %s was revoked by HQ",
                         c->coupon_id);
    if (strcmp(c->state, "redeemed") == 0 || c->uses_left <= 0)
        return ml_refuse(r, ML_REFUSED, 409, "coupon_already_redeemed",
                         "coupon %s has no uses left", c->coupon_id);
    if (strcmp(c->state, "expired") == 0 || now >= c->valid_to)
        return ml_refuse(r, ML_REFUSED, 409, "coupon_expired", "coupon %s has expired",
                         c->coupon_id);
    if (now < c->valid_from)
        return ml_refuse(r, ML_REFUSED, 409, "coupon_not_yet_valid", "coupon %s is not valid yet",
                         c->coupon_id);
    if (c->member_id[0] != '\0' && (member_id == NULL || strcmp(member_id, c->member_id) != 0))
        return ml_refuse(r, ML_REFUSED, 409, "coupon_member_mismatch",
                         member_id == NULL
                             ? "coupon %s belongs to a member; identify the member first"
                             : "coupon %s belongs to another member",
                         c->coupon_id);
    return ML_OK;
}

int coupon_applies_to(const struct coupon *c, const char *category)
{
    if (c->categories == NULL)
        return 1;
    const cJSON *e;
    cJSON_ArrayForEach(e, c->categories) if (cJSON_IsString(e) &&
                                             strcmp(e->valuestring, category) == 0) return 1;
    return 0;
}

ml_err coupon_discount(const struct coupon *c, int64_t eligible_gross, int64_t eligible_remaining,
                       int64_t *ret_amount, struct ml_refusal *r)
{
    if (eligible_gross <= 0 || eligible_remaining <= 0)
        return ml_refuse(r, ML_REFUSED, 409, "coupon_not_applicable",
                         "coupon %s applies to no item of this sale", c->coupon_id);
    if (eligible_gross < c->min_spend)
        return ml_refuse(r, ML_REFUSED, 409, "coupon_min_spend_not_met",
                         "coupon %s needs a spend of %lld on eligible items, this sale has %lld",
                         c->coupon_id, (long long)c->min_spend, (long long)eligible_gross);
    int64_t amount;
    if (c->percent) {
        amount = money_muldiv_half_even(eligible_remaining, c->value, BP_ONE);
        if (c->max_off > 0 && amount > c->max_off)
            amount = c->max_off;
    } else {
        amount = c->value;
    }
    if (amount <= 0)
        return ml_refuse(r, ML_REFUSED, 409, "coupon_not_applicable",
                         "coupon %s gives no discount on this sale", c->coupon_id);
    *ret_amount = amount < eligible_remaining ? amount : eligible_remaining;
    return ML_OK;
}

ml_err coupon_redeem(struct store *st, const struct coupon *c, const char *sale_id, int64_t amount,
                     const char *lines_json, int64_t now, int64_t *ret_use_no, struct ml_refusal *r)
{
    static const char take[] = "UPDATE coupons SET uses_left = uses_left - 1, "
                               " state = CASE WHEN uses_left = 1 THEN 'redeemed' ELSE state END "
                               "WHERE coupon_id = ?1 AND state = 'available' AND uses_left > 0";
    /* The lowest use number no live redemption holds: a refund may free any of them. */
    static const char free_use[] =
        "SELECT min(n) FROM (SELECT 1 AS n UNION ALL "
        " SELECT use_no + 1 FROM redemptions WHERE coupon_id = ?1 AND restored = 0) "
        "WHERE n NOT IN (SELECT use_no FROM redemptions WHERE coupon_id = ?1 AND restored = 0)";
    static const char record[] =
        "INSERT INTO redemptions (coupon_id, use_no, sale_id, amount, lines, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    sqlite3_stmt *s = store_stmt(st, take);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, c->coupon_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return ML_STORAGE;
    if (sqlite3_changes(store_db(st)) == 0)
        return ml_refuse(r, ML_REFUSED, 409, "coupon_already_redeemed",
                         "coupon %s has no uses left", c->coupon_id);
    if ((s = store_stmt(st, free_use)) == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, c->coupon_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    int64_t use_no = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (use_no <= 0)
        return ML_STORAGE;
    s = store_stmt(st, record);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, c->coupon_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, use_no);
    sqlite3_bind_text(s, 3, sale_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, amount);
    sqlite3_bind_text(s, 5, lines_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 6, now);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_CONSTRAINT)
        return ml_refuse(r, ML_REFUSED, 409, "coupon_already_redeemed",
                         "coupon %s use %lld is already taken", c->coupon_id, (long long)use_no);
    if (rc != SQLITE_DONE)
        return ML_STORAGE;
    *ret_use_no = use_no;
    return ML_OK;
}

ml_err coupon_restore(struct store *st, const char *coupon_id, int64_t use_no, const char *sale_id)
{
    static const char give[] =
        "UPDATE coupons SET uses_left = uses_left + 1, "
        " state = CASE WHEN state = 'redeemed' THEN 'available' ELSE state END "
        "WHERE coupon_id = ?1 AND uses_left < uses_total";
    static const char mark[] =
        "UPDATE redemptions SET restored = 1 "
        "WHERE coupon_id = ?1 AND use_no = ?2 AND sale_id = ?3 AND restored = 0";
    sqlite3_stmt *s = store_stmt(st, give);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, coupon_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE || sqlite3_changes(store_db(st)) != 1 ||
        (s = store_stmt(st, mark)) == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, coupon_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, use_no);
    sqlite3_bind_text(s, 3, sale_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE && sqlite3_changes(store_db(st)) == 1 ? ML_OK : ML_STORAGE;
}
