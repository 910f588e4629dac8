/* rules: campaign validation and per-sale rule selection; see rules.h. */
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

static ml_err check_str_array(const cJSON *c, const char *name, struct ml_refusal *r)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, name);
    if (a == NULL)
        return ML_OK;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > RULES_TARGETS_MAX)
        goto bad;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) if (!cJSON_IsString(e) || strlen(e->valuestring) > 64) goto bad;
    return ML_OK;
bad:
    return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                     "campaign field '%s' must be an array of up to %d strings", name,
                     RULES_TARGETS_MAX);
}

static ml_err check_bp_map(const cJSON *obj, const char *name, int64_t max, struct ml_refusal *r)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (m == NULL)
        return ML_OK;
    if (!cJSON_IsObject(m) || cJSON_GetArraySize(m) > RULES_TARGETS_MAX)
        goto bad;
    const cJSON *e;
    cJSON_ArrayForEach(e, m)
    {
        int64_t v = 0;
        if (json_i64(m, e->string, 1, 0, max, &v, NULL) != ML_OK)
            goto bad;
    }
    return ML_OK;
bad:
    return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                     "campaign field '%s' must map names to basis points 0..%lld", name,
                     (long long)max);
}

ml_err rules_validate(const cJSON *c, struct ml_refusal *r)
{
    int64_t v = 0;
    if (check_str_array(c, "stores", r) || check_str_array(c, "tiers", r) ||
        check_str_array(c, "plans", r))
        return ML_PARSE;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "points");
    if (p != NULL) {
        if (!cJSON_IsObject(p))
            return ml_refuse(r, ML_PARSE, 400, "invalid_request", "'points' must be an object");
        if (json_i64(p, "earn_per_yuan", 0, 0, RULES_EARN_PER_YUAN_MAX, &v, r) ||
            json_i64(p, "redeem_points_per_yuan", 0, 0, 1000000, &v, r) ||
            json_i64(p, "redeem_max_bp", 0, 0, BP_ONE, &v, r) ||
            check_bp_map(p, "tier_multiplier_bp", RULES_MULTIPLIER_BP_MAX, r) ||
            check_bp_map(p, "plan_multiplier_bp", RULES_MULTIPLIER_BP_MAX, r))
            return ML_PARSE;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "commission");
    if (m != NULL) {
        if (!cJSON_IsObject(m))
            return ml_refuse(r, ML_PARSE, 400, "invalid_request", "'commission' must be an object");
        if (json_i64(m, "default_bp", 0, 0, BP_ONE, &v, r) ||
            check_bp_map(m, "categories", BP_ONE, r))
            return ML_PARSE;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(c, "coupons");
    if (k != NULL) {
        int b = 0;
        if (!cJSON_IsObject(k) || json_bool(k, "restore_on_refund", &b, r) != ML_OK)
            return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                             "'coupons' must be an object with a boolean restore_on_refund");
    }
    return ML_OK;
}

/* Absent list = everyone; present list must contain `value` (NULL never matches). */
static int targets(const cJSON *c, const char *name, const char *value)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, name);
    if (a == NULL)
        return 1;
    if (value == NULL)
        return 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) if (cJSON_IsString(e) && strcmp(e->valuestring, value) == 0) return 1;
    return 0;
}

static int64_t map_bp(const cJSON *obj, const char *map, const char *key, int64_t dflt)
{
    if (key == NULL)
        return dflt;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, map);
    const cJSON *e = m ? cJSON_GetObjectItemCaseSensitive(m, key) : NULL;
    return cJSON_IsNumber(e) ? (int64_t)e->valuedouble : dflt;
}

static int64_t num(const cJSON *obj, const char *name, int64_t dflt)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(e) ? (int64_t)e->valuedouble : dflt;
}

ml_err rules_load(struct store *st, const char *store_id, int64_t now, const char *tier,
                  const char *plan, struct rules *ret)
{
    /* Every campaign valid now is looked at, in precedence order, until both rule kinds
     * have their winner; campaigns that do not target this sale are dropped at once. */
    static const char sql[] = "SELECT campaign_id, doc FROM campaigns "
                              "WHERE valid_from <= ?1 AND valid_to > ?1 "
                              "ORDER BY priority DESC, valid_from DESC, campaign_id";
    memset(ret, 0, sizeof(*ret));
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_int64(s, 1, now);
    int rc = SQLITE_DONE;
    while (!(ret->has_points && ret->has_commission) && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        cJSON *c = cJSON_Parse((const char *)sqlite3_column_text(s, 1));
        if (c == NULL)
            continue; /* validated on the way in; unreachable unless the file was edited */
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "points");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "commission");
        if (!targets(c, "stores", store_id) || !targets(c, "tiers", tier) ||
            !targets(c, "plans", plan) ||
            !((p && !ret->has_points) || (m && !ret->has_commission))) {
            cJSON_Delete(c);
            continue;
        }
        ret->docs[ret->ndocs++] = c; /* at most two: one per rule kind */
        if (p != NULL && !ret->has_points) {
            ret->has_points = 1;
            snprintf(ret->points_campaign, sizeof(ret->points_campaign), "%s", id);
            ret->earn_per_yuan = num(p, "earn_per_yuan", 0);
            ret->redeem_ppy = num(p, "redeem_points_per_yuan", 0);
            ret->redeem_max_bp = num(p, "redeem_max_bp", BP_ONE);
            int64_t t = map_bp(p, "tier_multiplier_bp", tier, BP_ONE);
            int64_t pl = map_bp(p, "plan_multiplier_bp", plan, BP_ONE);
            ret->multiplier_bp2 = t * pl; /* kept whole: one rounding, at the end */
        }
        if (m != NULL && !ret->has_commission) {
            ret->has_commission = 1;
            snprintf(ret->commission_campaign, sizeof(ret->commission_campaign), "%s", id);
            ret->commission_default_bp = num(m, "default_bp", 0);
            ret->commission_categories = cJSON_GetObjectItemCaseSensitive(m, "categories");
        }
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rules_free(ret);
        return ML_STORAGE;
    }
    return ML_OK;
}

int64_t rules_commission_bp(const struct rules *rl, const char *category)
{
    if (!rl->has_commission)
        return 0;
    const cJSON *e = rl->commission_categories
                         ? cJSON_GetObjectItemCaseSensitive(rl->commission_categories, category)
                         : NULL;
    return cJSON_IsNumber(e) ? (int64_t)e->valuedouble : rl->commission_default_bp;
}

ml_err rules_coupon_restores(struct store *st, const char *campaign_id, int *ret_restores)
{
    static const char sql[] = "SELECT doc FROM campaigns WHERE campaign_id = ?1";
    *ret_restores = 0;
    if (campaign_id == NULL || campaign_id[0] == '\0')
        return ML_OK;
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, campaign_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        cJSON *c = cJSON_Parse((const char *)sqlite3_column_text(s, 0));
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(c, "coupons");
        *ret_restores = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k, "restore_on_refund"));
        cJSON_Delete(c);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

void rules_free(struct rules *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i < rl->ndocs; i++)
        cJSON_Delete(rl->docs[i]);
    memset(rl, 0, sizeof(*rl));
}
