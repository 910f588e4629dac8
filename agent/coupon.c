/* coupon: terms, eligibility and redemption state; see coupon.h. */
#include "coupon.h"

#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "jsonutil.h"
#include "ledger.h"
#include "money.h"

ml_err coupon_get(struct db *db, const char *coupon_id, struct coupon *ret)
{
    static const char sql[] =
        "SELECT coupon_id, member_id, campaign_id, kind, value, max_off, min_spend, categories, "
        " valid_from, valid_to, uses_total, uses_left, offline_ok, state "
        "FROM coupons WHERE coupon_id = ?1";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, coupon_id);
    int rc = db_step(db, s);
    if (rc == SQLITE_ROW) {
        memset(ret, 0, sizeof(*ret));
        db_col_copy(s, 0, ret->coupon_id, sizeof(ret->coupon_id));
        db_col_copy(s, 1, ret->member_id, sizeof(ret->member_id));
        db_col_copy(s, 2, ret->campaign_id, sizeof(ret->campaign_id));
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
        db_col_copy(s, 13, ret->state, sizeof(ret->state));
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

ml_err coupon_redeem(struct db *db, const struct coupon *c, const char *sale_id, int64_t amount,
                     const char *lines_json, int64_t now, int offline, int64_t trusted_at,
                     int64_t *ret_use_no, struct ml_refusal *r)
{
    static const char take[] = "UPDATE coupons SET uses_left = uses_left - 1, "
                               " state = CASE WHEN uses_left = 1 THEN 'redeemed' ELSE state END "
                               "WHERE coupon_id = ?1 AND state = 'available' AND uses_left > 0";
    sqlite3_stmt *s = db_stmt(db, take);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, c->coupon_id);
    if (db_run(db, s) != ML_OK)
        return ML_STORAGE;
    if (db_changes(db) == 0)
        return ml_refuse(r, ML_REFUSED, 409, "coupon_already_redeemed",
                         "coupon %s has no uses left", c->coupon_id);
    int64_t use_no = 0;
    ml_err err = ledger_add_redemption(db, c->coupon_id, sale_id, amount, lines_json, now, offline,
                                       trusted_at, &use_no);
    if (err == ML_REFUSED)
        return ml_refuse(r, ML_REFUSED, 409, "coupon_already_redeemed",
                         "coupon %s: a use it has left is already taken", c->coupon_id);
    if (err != ML_OK)
        return err;
    *ret_use_no = use_no;
    return ML_OK;
}

ml_err coupon_restore(struct db *db, const char *coupon_id, int64_t use_no, const char *sale_id)
{
    static const char give[] =
        "UPDATE coupons SET uses_left = uses_left + 1, "
        " state = CASE WHEN state = 'redeemed' THEN 'available' ELSE state END "
        "WHERE coupon_id = ?1 AND uses_left < uses_total";
    sqlite3_stmt *s = db_stmt(db, give);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, coupon_id);
    if (db_run(db, s) != ML_OK || db_changes(db) != 1)
        return ML_STORAGE;
    return ledger_restore_redemption(db, coupon_id, use_no, sale_id);
}

cJSON *coupon_usable_json(struct db *db, const char *member_id, int64_t now)
{
    static const char sql[] =
        "SELECT coupon_id, campaign_id, kind, value, max_off, min_spend, categories, valid_to, "
        " uses_left, offline_ok FROM coupons WHERE member_id = ?1 AND state = 'available' "
        " AND uses_left > 0 AND valid_from <= ?2 AND valid_to > ?2 "
        "ORDER BY valid_to, coupon_id LIMIT 100";
    cJSON *arr = cJSON_CreateArray();
    sqlite3_stmt *s = db_stmt(db, sql);
    if (arr == NULL || s == NULL) {
        cJSON_Delete(arr);
        return NULL;
    }
    db_bind_text(db, s, 1, member_id);
    db_bind_i64(db, s, 2, now);
    int rc;
    while ((rc = db_step(db, s)) == SQLITE_ROW) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, c);
        cJSON_AddStringToObject(c, "coupon_id", (const char *)sqlite3_column_text(s, 0));
        if (sqlite3_column_type(s, 1) == SQLITE_NULL)
            cJSON_AddNullToObject(c, "campaign_id");
        else
            cJSON_AddStringToObject(c, "campaign_id", (const char *)sqlite3_column_text(s, 1));
        cJSON_AddStringToObject(c, "kind", (const char *)sqlite3_column_text(s, 2));
        json_add_i64(c, "value", sqlite3_column_int64(s, 3));
        json_add_i64(c, "max_off", sqlite3_column_int64(s, 4));
        json_add_i64(c, "min_spend", sqlite3_column_int64(s, 5));
        if (sqlite3_column_type(s, 6) == SQLITE_NULL)
            cJSON_AddNullToObject(c, "categories");
        else
            cJSON_AddItemToObject(c, "categories",
                                  cJSON_Parse((const char *)sqlite3_column_text(s, 6)));
        json_add_i64(c, "valid_to", sqlite3_column_int64(s, 7));
        json_add_i64(c, "uses_left", sqlite3_column_int64(s, 8));
        cJSON_AddBoolToObject(c, "offline_ok", sqlite3_column_int(s, 9));
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}

ml_err coupon_apply_grant(struct db *db, const char *coupon_id, const struct fact_grant *g,
                          int64_t version, int *ret_applied)
{
    /* A grant never resurrects a coupon that is already redeemed or revoked here: the
     * update arm leaves state and uses_left alone and changes only the terms. */
    static const char sql[] =
        "INSERT INTO coupons (coupon_id, member_id, campaign_id, kind, value, max_off, "
        " min_spend, categories, valid_from, valid_to, uses_total, uses_left, offline_ok, "
        " state, version) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, 'available', ?13) "
        "ON CONFLICT (coupon_id) DO UPDATE SET member_id = excluded.member_id, "
        " campaign_id = excluded.campaign_id, kind = excluded.kind, value = excluded.value, "
        " max_off = excluded.max_off, min_spend = excluded.min_spend, "
        " categories = excluded.categories, valid_from = excluded.valid_from, "
        " valid_to = excluded.valid_to, offline_ok = excluded.offline_ok, "
        " version = excluded.version "
        "WHERE excluded.version > coupons.version";
    char *cats = NULL;
    if (g->categories != NULL && (cats = json_print(g->categories)) == NULL)
        return ML_NOMEM;
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL) {
        free(cats);
        return ML_STORAGE;
    }
    db_bind_text(db, s, 1, coupon_id);
    db_bind_text(db, s, 2, g->member_id);
    db_bind_text(db, s, 3, g->campaign_id);
    db_bind_text_static(db, s, 4, g->percent ? "percent_off" : "amount_off");
    db_bind_i64(db, s, 5, g->value);
    db_bind_i64(db, s, 6, g->max_off);
    db_bind_i64(db, s, 7, g->min_spend);
    db_bind_text_owned(db, s, 8, cats);
    db_bind_i64(db, s, 9, g->valid_from);
    db_bind_i64(db, s, 10, g->valid_to);
    db_bind_i64(db, s, 11, g->uses);
    db_bind_i64(db, s, 12, g->offline_ok);
    db_bind_i64(db, s, 13, version);
    if (db_run(db, s) != ML_OK)
        return ML_STORAGE;
    *ret_applied = db_changes(db) > 0;
    return ML_OK;
}

ml_err coupon_apply_revoke(struct db *db, const char *coupon_id, int64_t version, int *ret_applied)
{
    /* A revoke for a coupon not granted here yet leaves a revoked placeholder, so a grant
     * that arrives later with an older version cannot make it usable. */
    static const char sql[] =
        "INSERT INTO coupons (coupon_id, kind, value, valid_from, valid_to, uses_total, "
        " uses_left, state, version) VALUES (?1, 'amount_off', 0, 0, 0, 1, 0, 'revoked', ?2) "
        "ON CONFLICT (coupon_id) DO UPDATE SET state = 'revoked', version = excluded.version "
        "WHERE excluded.version > coupons.version";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, coupon_id);
    db_bind_i64(db, s, 2, version);
    if (db_run(db, s) != ML_OK)
        return ML_STORAGE;
    *ret_applied = db_changes(db) > 0;
    return ML_OK;
}

int64_t coupon_count(struct db *db)
{
    static const char sql[] = "SELECT count(*) FROM coupons";
    return db_count(db, sql);
}
