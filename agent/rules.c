/* rules: campaign validation and per-sale rule selection; see rules.h. */
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "money.h"

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

ml_err rules_load(struct db *db, const char *store_id, int64_t now, const char *tier,
                  const char *plan, struct rules *ret)
{
    /* Every campaign valid now is looked at, in precedence order, until both rule kinds
     * have their winner; campaigns that do not target this sale are dropped at once. */
    static const char sql[] = "SELECT campaign_id, doc FROM campaigns "
                              "WHERE valid_from <= ?1 AND valid_to > ?1 "
                              "ORDER BY priority DESC, valid_from DESC, campaign_id";
    memset(ret, 0, sizeof(*ret));
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_i64(db, s, 1, now);
    int rc = SQLITE_DONE;
    while (!(ret->has_points && ret->has_commission) && (rc = db_step(db, s)) == SQLITE_ROW) {
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

ml_err rules_coupon_restores(struct db *db, const char *campaign_id, int *ret_restores)
{
    static const char sql[] = "SELECT doc FROM campaigns WHERE campaign_id = ?1";
    *ret_restores = 0;
    if (campaign_id == NULL || campaign_id[0] == '\0')
        return ML_OK;
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, campaign_id);
    int rc = db_step(db, s);
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

ml_err rules_apply_campaign(struct db *db, const char *campaign_id, const struct fact_campaign *c,
                            const cJSON *doc, int64_t version, int *ret_applied)
{
    static const char sql[] =
        "INSERT INTO campaigns (campaign_id, version, priority, valid_from, valid_to, doc) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
        "ON CONFLICT (campaign_id) DO UPDATE SET version = excluded.version, "
        " priority = excluded.priority, valid_from = excluded.valid_from, "
        " valid_to = excluded.valid_to, doc = excluded.doc "
        "WHERE excluded.version > campaigns.version";
    char *text = json_print(doc);
    if (text == NULL)
        return ML_NOMEM;
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL) {
        free(text);
        return ML_STORAGE;
    }
    db_bind_text(db, s, 1, campaign_id);
    db_bind_i64(db, s, 2, version);
    db_bind_i64(db, s, 3, c->priority);
    db_bind_i64(db, s, 4, c->valid_from);
    db_bind_i64(db, s, 5, c->valid_to);
    db_bind_text_owned(db, s, 6, text);
    if (db_run(db, s) != ML_OK)
        return ML_STORAGE;
    *ret_applied = db_changes(db) > 0;
    return ML_OK;
}

ml_err rules_apply_withdraw(struct db *db, const char *campaign_id, int64_t version,
                            int *ret_applied)
{
    /* The window closes (valid_to = valid_from), the rules stay for refunds of its sales; an
     * unknown campaign gets a closed tombstone, so an older upsert arriving later stays out. */
    static const char sql[] =
        "INSERT INTO campaigns (campaign_id, version, priority, valid_from, valid_to, doc) "
        "VALUES (?1, ?2, 0, 0, 0, json_object('campaign_id', ?1, 'withdrawn', json('true'))) "
        "ON CONFLICT (campaign_id) DO UPDATE SET version = excluded.version, "
        " valid_to = campaigns.valid_from "
        "WHERE excluded.version > campaigns.version";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, campaign_id);
    db_bind_i64(db, s, 2, version);
    if (db_run(db, s) != ML_OK)
        return ML_STORAGE;
    *ret_applied = db_changes(db) > 0;
    return ML_OK;
}

int64_t rules_campaign_count(struct db *db)
{
    static const char sql[] = "SELECT count(*) FROM campaigns WHERE valid_to > valid_from";
    return db_count(db, sql);
}
