/*
 * facts: validate and apply HQ facts with version guards. Every statement is an upsert
 * whose update arm only fires for a newer version, so replays and reordering are safe.
 */
#include "facts.h"

#include <stdlib.h>
#include <string.h>

#include "deny.h"
#include "jsonutil.h"
#include "log.h"
#include "rules.h"

#define TIME_MAX (INT64_C(1) << 50)
#define POINTS_MAX INT64_C(1000000000000)

static int hex_to_bytes(const char *hex, unsigned char *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= (unsigned)(c - 'A' + 10);
            else
                return -1;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

static void bind_opt_text(sqlite3_stmt *s, int idx, const char *v)
{
    if (v != NULL)
        sqlite3_bind_text(s, idx, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, idx);
}

/* Steps a write statement; sets *ret_applied from the change count. */
static ml_err step_write(struct store *st, sqlite3_stmt *s, int *ret_applied, struct ml_refusal *r)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error: %s",
                         sqlite3_errmsg(store_db(st)));
    if (ret_applied != NULL)
        *ret_applied = sqlite3_changes(store_db(st)) > 0;
    return ML_OK;
}

static ml_err check_enum(const char *v, const char *const *allowed, const char *field,
                         struct ml_refusal *r)
{
    for (size_t i = 0; allowed[i] != NULL; i++)
        if (strcmp(v, allowed[i]) == 0)
            return ML_OK;
    return ml_refuse(r, ML_PARSE, 400, "invalid_request", "field '%s' has an unknown value '%s'",
                     field, v);
}

ml_err facts_member_upsert(struct store *st, const cJSON *b, int *ret_applied, struct ml_refusal *r)
{
    static const char sql[] =
        "INSERT INTO members (member_id, phone_key, phone_masked, tier, plan, plan_until, "
        " points_confirmed, points_version, status, version) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
        "ON CONFLICT (member_id) DO UPDATE SET phone_key = excluded.phone_key, "
        " phone_masked = excluded.phone_masked, tier = excluded.tier, plan = excluded.plan, "
        " plan_until = excluded.plan_until, status = excluded.status, version = excluded.version, "
        " points_confirmed = CASE WHEN excluded.points_version > members.points_version "
        "   THEN excluded.points_confirmed ELSE members.points_confirmed END, "
        " points_version = max(members.points_version, excluded.points_version) "
        "WHERE excluded.version > members.version";
    static const char current[] = "SELECT version FROM members WHERE member_id = ?1";
    static const char release_phone[] =
        "UPDATE members SET phone_key = NULL WHERE phone_key = ?1 AND member_id <> ?2";
    static const char *const statuses[] = {"active", "blocked", NULL};
    const char *id = NULL, *hmac = NULL, *masked = "", *tier = "basic", *plan = NULL;
    const char *status = "active";
    int64_t plan_until = 0, points = 0, points_version = 0, version = 0;
    unsigned char key[32];
    if (json_str(b, "member_id", 1, FACT_ID_MAX, &id, r) ||
        json_str(b, "phone_hmac", 0, 64, &hmac, r) ||
        json_str(b, "phone_masked", 0, 32, &masked, r) || json_str(b, "tier", 0, 32, &tier, r) ||
        json_str(b, "plan", 0, 32, &plan, r) ||
        json_i64(b, "plan_until", plan != NULL, 0, TIME_MAX, &plan_until, r) ||
        json_i64(b, "points", 0, 0, POINTS_MAX, &points, r) ||
        json_i64(b, "points_version", 0, 0, TIME_MAX, &points_version, r) ||
        json_str(b, "status", 0, 16, &status, r) ||
        json_i64(b, "version", 1, 1, TIME_MAX, &version, r) ||
        check_enum(status, statuses, "status", r))
        return ML_PARSE;
    if (hmac != NULL && hex_to_bytes(hmac, key, sizeof(key)) != 0)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "field 'phone_hmac' must be 64 hex digits");
    if (cJSON_GetObjectItemCaseSensitive(b, "phone") != NULL)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "plaintext 'phone' is never accepted; send phone_hmac and phone_masked");
    /* A phone number belongs to one member. When HQ gives it to another member (numbers are
     * recycled), the newer fact takes it over; a stale fact changes nothing. */
    sqlite3_stmt *s = store_stmt(st, current);
    if (s == NULL)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int stale = rc == SQLITE_ROW && sqlite3_column_int64(s, 0) >= version;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
    if (stale) {
        if (ret_applied != NULL)
            *ret_applied = 0;
        return ML_OK;
    }
    if (hmac != NULL) {
        if ((s = store_stmt(st, release_phone)) == NULL)
            return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
        sqlite3_bind_blob(s, 1, key, sizeof(key), SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, id, -1, SQLITE_TRANSIENT);
        if (step_write(st, s, NULL, r) != ML_OK)
            return ML_STORAGE;
    }
    s = store_stmt(st, sql);
    if (s == NULL)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    if (hmac != NULL)
        sqlite3_bind_blob(s, 2, key, sizeof(key), SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, 2);
    sqlite3_bind_text(s, 3, masked, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, tier, -1, SQLITE_TRANSIENT);
    bind_opt_text(s, 5, plan);
    if (plan != NULL)
        sqlite3_bind_int64(s, 6, plan_until);
    else
        sqlite3_bind_null(s, 6);
    sqlite3_bind_int64(s, 7, points);
    sqlite3_bind_int64(s, 8, points_version);
    sqlite3_bind_text(s, 9, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 10, version);
    return step_write(st, s, ret_applied, r);
}

ml_err facts_guide_upsert(struct store *st, const cJSON *b, int *ret_applied, struct ml_refusal *r)
{
    static const char sql[] =
        "INSERT INTO guides (guide_id, name, store, status, version) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (guide_id) DO UPDATE SET name = excluded.name, store = excluded.store, "
        " status = excluded.status, version = excluded.version "
        "WHERE excluded.version > guides.version";
    static const char *const statuses[] = {"active", "inactive", NULL};
    const char *id = NULL, *name = "", *gstore = NULL, *status = "active";
    int64_t version = 0;
    if (json_str(b, "guide_id", 1, FACT_ID_MAX, &id, r) || json_str(b, "name", 0, 64, &name, r) ||
        json_str(b, "store", 0, 32, &gstore, r) || json_str(b, "status", 0, 16, &status, r) ||
        json_i64(b, "version", 1, 1, TIME_MAX, &version, r) ||
        check_enum(status, statuses, "status", r))
        return ML_PARSE;
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_TRANSIENT);
    bind_opt_text(s, 3, gstore);
    sqlite3_bind_text(s, 4, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, version);
    return step_write(st, s, ret_applied, r);
}

ml_err facts_guide_bind(struct store *st, const cJSON *b, int *ret_applied, struct ml_refusal *r)
{
    static const char sql[] = "UPDATE members SET guide_id = ?2, guide_until = ?3, "
                              " guide_version = ?4 WHERE member_id = ?1 AND guide_version < ?4";
    static const char exists[] = "SELECT 1 FROM members WHERE member_id = ?1";
    const char *member = NULL, *guide = NULL;
    int64_t until = 0, version = 0;
    if (json_str(b, "member_id", 1, FACT_ID_MAX, &member, r) ||
        json_str(b, "guide_id", 0, FACT_ID_MAX, &guide, r) ||
        json_i64(b, "until", guide != NULL, 0, TIME_MAX, &until, r) ||
        json_i64(b, "version", 1, 1, TIME_MAX, &version, r))
        return ML_PARSE;
    sqlite3_stmt *e = store_stmt(st, exists);
    if (e == NULL)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
    sqlite3_bind_text(e, 1, member, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(e);
    sqlite3_reset(e);
    if (rc != SQLITE_ROW)
        return ml_refuse(r, ML_NOENTRY, 404, "member_not_found",
                         "member %s is not known; send member.upsert first", member);
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
    sqlite3_bind_text(s, 1, member, -1, SQLITE_TRANSIENT);
    bind_opt_text(s, 2, guide);
    if (guide != NULL)
        sqlite3_bind_int64(s, 3, until);
    else
        sqlite3_bind_null(s, 3);
    sqlite3_bind_int64(s, 4, version);
    return step_write(st, s, ret_applied, r);
}

ml_err facts_campaign_upsert(struct store *st, const cJSON *b, int *ret_applied,
                             struct ml_refusal *r)
{
    static const char sql[] =
        "INSERT INTO campaigns (campaign_id, version, priority, valid_from, valid_to, doc) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
        "ON CONFLICT (campaign_id) DO UPDATE SET version = excluded.version, "
        " priority = excluded.priority, valid_from = excluded.valid_from, "
        " valid_to = excluded.valid_to, doc = excluded.doc "
        "WHERE excluded.version > campaigns.version";
    const char *id = NULL;
    int64_t version = 0, priority = 0, from = 0, to = 0;
    if (json_str(b, "campaign_id", 1, FACT_ID_MAX, &id, r) ||
        json_i64(b, "version", 1, 1, TIME_MAX, &version, r) ||
        json_i64(b, "priority", 0, -1000, 1000, &priority, r) ||
        json_i64(b, "valid_from", 1, 0, TIME_MAX, &from, r) ||
        json_i64(b, "valid_to", 1, 0, TIME_MAX, &to, r))
        return ML_PARSE;
    if (to <= from)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "valid_to must be after valid_from");
    ml_err err = rules_validate(b, r);
    if (err != ML_OK)
        return err;
    char *doc = json_print(b);
    if (doc == NULL)
        return ML_NOMEM;
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL) {
        free(doc);
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, version);
    sqlite3_bind_int64(s, 3, priority);
    sqlite3_bind_int64(s, 4, from);
    sqlite3_bind_int64(s, 5, to);
    sqlite3_bind_text(s, 6, doc, -1, free);
    return step_write(st, s, ret_applied, r);
}

ml_err facts_campaign_withdraw(struct store *st, const cJSON *b, int *ret_applied,
                               struct ml_refusal *r)
{
    /* The window closes (valid_to = valid_from), the rules stay for refunds of its sales; an
     * unknown campaign gets a closed tombstone, so an older upsert arriving later stays out. */
    static const char sql[] =
        "INSERT INTO campaigns (campaign_id, version, priority, valid_from, valid_to, doc) "
        "VALUES (?1, ?2, 0, 0, 0, json_object('campaign_id', ?1, 'withdrawn', json('true'))) "
        "ON CONFLICT (campaign_id) DO UPDATE SET version = excluded.version, "
        " valid_to = campaigns.valid_from "
        "WHERE excluded.version > campaigns.version";
    const char *id = NULL;
    int64_t version = 0;
    if (json_str(b, "campaign_id", 1, FACT_ID_MAX, &id, r) ||
        json_i64(b, "version", 1, 1, TIME_MAX, &version, r))
        return ML_PARSE;
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, version);
    return step_write(st, s, ret_applied, r);
}

ml_err facts_settlement_notice(struct store *st, const cJSON *b, int *ret_applied,
                               struct ml_refusal *r)
{
    static const char sql[] =
        "INSERT OR IGNORE INTO settlements (notice_id, coupon_id, sale_id, amount, doc, "
        "created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))";
    const char *id = NULL, *coupon = NULL, *sale = NULL;
    int64_t amount = 0, version = 0;
    if (json_str(b, "notice_id", 1, FACT_ID_MAX, &id, r) ||
        json_str(b, "coupon_id", 1, FACT_ID_MAX, &coupon, r) ||
        json_str(b, "sale_id", 1, FACT_ID_MAX, &sale, r) ||
        json_i64(b, "amount", 1, 0, TIME_MAX, &amount, r) ||
        json_i64(b, "version", 1, 1, TIME_MAX, &version, r))
        return ML_PARSE;
    char *doc = json_print(b);
    if (doc == NULL)
        return ML_NOMEM;
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL) {
        free(doc);
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, coupon, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, sale, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, amount);
    sqlite3_bind_text(s, 5, doc, -1, free);
    ml_err err = step_write(st, s, ret_applied, r);
    if (err == ML_OK && ret_applied != NULL && *ret_applied)
        log_warn("settlement: HQ booked coupon %s of sale %s (%lld) as an overage: it was "
                 "redeemed first elsewhere",
                 coupon, sale, (long long)amount);
    return err;
}

ml_err facts_coupon_grant(struct store *st, const cJSON *b, int *ret_applied, struct ml_refusal *r)
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
    static const char *const kinds[] = {"amount_off", "percent_off", NULL};
    const char *id = NULL, *member = NULL, *campaign = NULL, *kind = NULL;
    int64_t value = 0, max_off = 0, min_spend = 0, from = 0, to = 0, uses = 1, version = 0;
    int offline_ok = 1;
    if (json_str(b, "coupon_id", 1, FACT_ID_MAX, &id, r) ||
        json_str(b, "member_id", 0, FACT_ID_MAX, &member, r) ||
        json_str(b, "campaign_id", 0, FACT_ID_MAX, &campaign, r) ||
        json_str(b, "kind", 1, 16, &kind, r) || check_enum(kind, kinds, "kind", r) ||
        json_i64(b, "value", 1, 1, INT64_C(100000000000), &value, r) ||
        json_i64(b, "max_off", 0, 0, INT64_C(100000000000), &max_off, r) ||
        json_i64(b, "min_spend", 0, 0, INT64_C(100000000000), &min_spend, r) ||
        json_i64(b, "valid_from", 1, 0, TIME_MAX, &from, r) ||
        json_i64(b, "valid_to", 1, 0, TIME_MAX, &to, r) ||
        json_i64(b, "uses", 0, 1, 1000000, &uses, r) ||
        json_bool(b, "offline_ok", &offline_ok, r) ||
        json_i64(b, "version", 1, 1, TIME_MAX, &version, r))
        return ML_PARSE;
    if (strcmp(kind, "percent_off") == 0 && value > 10000)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "percent_off value is in basis points (1..10000)");
    if (to <= from)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "valid_to must be after valid_from");
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(b, "categories");
    char *cats_json = NULL;
    if (cats != NULL && !cJSON_IsNull(cats)) {
        if (!cJSON_IsArray(cats) || cJSON_GetArraySize(cats) < 1 || cJSON_GetArraySize(cats) > 64)
            return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                             "field 'categories' must be an array of 1 to 64 strings");
        const cJSON *c;
        cJSON_ArrayForEach(c, cats) if (!cJSON_IsString(c) ||
                                        strlen(c->valuestring) >
                                            32) return ml_refuse(r, ML_PARSE, 400,
                                                                 "invalid_request",
                                                                 "field 'categories' must hold "
                                                                 "strings of up to 32 bytes");
        cats_json = json_print(cats);
        if (cats_json == NULL)
            return ML_NOMEM;
    }
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL) {
        free(cats_json);
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    bind_opt_text(s, 2, member);
    bind_opt_text(s, 3, campaign);
    sqlite3_bind_text(s, 4, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, value);
    sqlite3_bind_int64(s, 6, max_off);
    sqlite3_bind_int64(s, 7, min_spend);
    if (cats_json != NULL)
        sqlite3_bind_text(s, 8, cats_json, -1, free);
    else
        sqlite3_bind_null(s, 8);
    sqlite3_bind_int64(s, 9, from);
    sqlite3_bind_int64(s, 10, to);
    sqlite3_bind_int64(s, 11, uses);
    sqlite3_bind_int(s, 12, offline_ok);
    sqlite3_bind_int64(s, 13, version);
    return step_write(st, s, ret_applied, r);
}

ml_err facts_coupon_revoke(struct store *st, const cJSON *b, int *ret_applied, struct ml_refusal *r)
{
    /* A revoke for a coupon not granted here yet leaves a revoked placeholder, so a grant
     * that arrives later with an older version cannot make it usable. */
    static const char sql[] =
        "INSERT INTO coupons (coupon_id, kind, value, valid_from, valid_to, uses_total, "
        " uses_left, state, version) VALUES (?1, 'amount_off', 0, 0, 0, 1, 0, 'revoked', ?2) "
        "ON CONFLICT (coupon_id) DO UPDATE SET state = 'revoked', version = excluded.version "
        "WHERE excluded.version > coupons.version";
    const char *id = NULL;
    int64_t version = 0;
    if (json_str(b, "coupon_id", 1, FACT_ID_MAX, &id, r) ||
        json_i64(b, "version", 1, 1, TIME_MAX, &version, r))
        return ML_PARSE;
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, version);
    return step_write(st, s, ret_applied, r);
}

ml_err facts_apply(struct store *st, const char *kind, const cJSON *body, int *ret_applied,
                   struct ml_refusal *r)
{
    static const struct {
        const char *kind;
        ml_err (*fn)(struct store *, const cJSON *, int *, struct ml_refusal *);
    } table[] = {
        {"member.upsert", facts_member_upsert},
        {"guide.upsert", facts_guide_upsert},
        {"guide.bind", facts_guide_bind},
        {"campaign.upsert", facts_campaign_upsert},
        {"coupon.grant", facts_coupon_grant},
        {"coupon.revoke", facts_coupon_revoke},
        {"campaign.withdraw", facts_campaign_withdraw},
        {"settlement.notice", facts_settlement_notice},
        {"deny.upsert", deny_upsert_fact},
    };
    if (!cJSON_IsObject(body))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "fact body must be an object");
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(kind, table[i].kind) == 0)
            return table[i].fn(st, body, ret_applied, r);
    return ml_refuse(r, ML_PARSE, 400, "invalid_request", "unknown fact kind '%s'", kind);
}
