/* fact: the schema of HQ facts; see fact.h. */
#include "fact.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jsonutil.h"
#include "money.h"
#include "num.h"
#include "topic.h"

static ml_err bad(struct ml_refusal *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static ml_err bad(struct ml_refusal *r, const char *fmt, ...)
{
    char msg[ML_REFUSAL_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ml_refuse(r, ML_PARSE, 400, "invalid_request", "%s", msg);
}

/* *ret = 1 when v is allowed[1], 0 when allowed[0]; refused otherwise. */
static ml_err pick(const char *v, const char *const allowed[2], const char *field, int *ret,
                   struct ml_refusal *r)
{
    for (int i = 0; i < 2; i++) {
        if (strcmp(v, allowed[i]) == 0) {
            *ret = i;
            return ML_OK;
        }
    }
    return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                     "field '%s' has an unknown value '%s' (expected %s or %s)", field, v,
                     allowed[0], allowed[1]);
}

static ml_err parse_member(const cJSON *b, struct fact *f, int flags, struct ml_refusal *r)
{
    (void)flags;
    static const char *const statuses[2] = {"active", "blocked"};
    struct fact_member *m = &f->u.member;
    const char *status = "active", *hmac = NULL;
    m->phone_masked = "";
    m->tier = "basic";
    if (json_str(b, "member_id", 1, FACT_ID_MAX, &f->id, r) ||
        json_str(b, "phone_hmac", 0, 2 * PHONE_KEY_LEN, &hmac, r) ||
        json_str(b, "phone_masked", 0, 32, &m->phone_masked, r) ||
        json_str(b, "tier", 0, FACT_TIER_MAX, &m->tier, r) ||
        json_str(b, "plan", 0, FACT_TIER_MAX, &m->plan, r) ||
        json_i64(b, "plan_until", m->plan != NULL, 0, FACT_TIME_MAX, &m->plan_until, r) ||
        json_i64(b, "points", 0, 0, FACT_POINTS_MAX, &m->points, r) ||
        json_i64(b, "points_version", 0, 0, FACT_TIME_MAX, &m->points_version, r) ||
        json_str(b, "status", 0, 16, &status, r) ||
        pick(status, statuses, "status", &m->blocked, r))
        return ML_PARSE;
    m->has_phone_key = hmac != NULL;
    if (hmac != NULL && num_hex_decode(hmac, m->phone_key, sizeof(m->phone_key)) != 0)
        return bad(r, "field 'phone_hmac' must be %d hex digits", 2 * PHONE_KEY_LEN);
    if (cJSON_GetObjectItemCaseSensitive(b, "phone") != NULL)
        return bad(r, "a plaintext 'phone' is never accepted: it is keyed into phone_hmac and "
                      "phone_masked first");
    return ML_OK;
}

static ml_err parse_guide(const cJSON *b, struct fact *f, int flags, struct ml_refusal *r)
{
    (void)flags;
    static const char *const statuses[2] = {"inactive", "active"};
    struct fact_guide *g = &f->u.guide;
    const char *status = "active";
    g->name = "";
    if (json_str(b, "guide_id", 1, FACT_ID_MAX, &f->id, r) ||
        json_str(b, "name", 0, FACT_NAME_MAX, &g->name, r) ||
        json_str(b, "store", 0, FACT_STORE_MAX, &g->store, r) ||
        json_str(b, "status", 0, 16, &status, r) || pick(status, statuses, "status", &g->active, r))
        return ML_PARSE;
    return ML_OK;
}

static ml_err parse_bind(const cJSON *b, struct fact *f, int flags, struct ml_refusal *r)
{
    (void)flags;
    struct fact_bind *k = &f->u.bind;
    if (json_str(b, "member_id", 1, FACT_ID_MAX, &f->id, r) ||
        json_str(b, "guide_id", 0, FACT_ID_MAX, &k->guide_id, r) ||
        json_i64(b, "until", k->guide_id != NULL, 0, FACT_TIME_MAX, &k->until, r))
        return ML_PARSE;
    return ML_OK;
}

/* campaign_id: what HQ sends is a level of the campaign's MQTT topic. */
static ml_err campaign_id(const cJSON *b, struct fact *f, int flags, struct ml_refusal *r)
{
    if (json_str(b, "campaign_id", 1, FACT_ID_MAX, &f->id, r))
        return ML_PARSE;
    if ((flags & FACT_TO_SEND) && !topic_id_valid(f->id, FACT_ID_MAX, 1))
        return bad(r,
                   "campaign_id '%s' is part of the MQTT topic: use 1-64 characters of "
                   "[A-Za-z0-9_.-]",
                   f->id);
    return ML_OK;
}

static ml_err check_str_array(const cJSON *c, const char *name, struct ml_refusal *r)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, name);
    if (a == NULL)
        return ML_OK;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > FACT_TARGETS_MAX)
        goto bad;
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (!cJSON_IsString(e) || strlen(e->valuestring) > FACT_TARGET_MAX)
            goto bad;
    }
    return ML_OK;
bad:
    return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                     "campaign field '%s' must be an array of up to %d strings", name,
                     FACT_TARGETS_MAX);
}

static ml_err check_bp_map(const cJSON *obj, const char *name, int64_t max, struct ml_refusal *r)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (m == NULL)
        return ML_OK;
    if (!cJSON_IsObject(m) || cJSON_GetArraySize(m) > FACT_TARGETS_MAX)
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

ml_err fact_check_rules(const cJSON *c, struct ml_refusal *r)
{
    int64_t v = 0;
    if (check_str_array(c, "stores", r) || check_str_array(c, "tiers", r) ||
        check_str_array(c, "plans", r))
        return ML_PARSE;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "points");
    if (p != NULL) {
        if (!cJSON_IsObject(p))
            return bad(r, "'points' must be an object");
        if (json_i64(p, "earn_per_yuan", 0, 0, FACT_EARN_PER_YUAN_MAX, &v, r) ||
            json_i64(p, "redeem_points_per_yuan", 0, 0, FACT_REDEEM_PPY_MAX, &v, r) ||
            json_i64(p, "redeem_max_bp", 0, 0, BP_ONE, &v, r) ||
            check_bp_map(p, "tier_multiplier_bp", FACT_MULTIPLIER_BP_MAX, r) ||
            check_bp_map(p, "plan_multiplier_bp", FACT_MULTIPLIER_BP_MAX, r))
            return ML_PARSE;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "commission");
    if (m != NULL) {
        if (!cJSON_IsObject(m))
            return bad(r, "'commission' must be an object");
        if (json_i64(m, "default_bp", 0, 0, BP_ONE, &v, r) ||
            check_bp_map(m, "categories", BP_ONE, r))
            return ML_PARSE;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(c, "coupons");
    if (k != NULL) {
        int restores = 0;
        if (!cJSON_IsObject(k) || json_bool(k, "restore_on_refund", &restores, r) != ML_OK)
            return bad(r, "'coupons' must be an object with a boolean restore_on_refund");
    }
    return ML_OK;
}

static ml_err parse_campaign(const cJSON *b, struct fact *f, int flags, struct ml_refusal *r)
{
    struct fact_campaign *c = &f->u.campaign;
    if (campaign_id(b, f, flags, r) ||
        json_i64(b, "priority", 0, -FACT_PRIORITY_MAX, FACT_PRIORITY_MAX, &c->priority, r) ||
        json_i64(b, "valid_from", 1, 0, FACT_TIME_MAX, &c->valid_from, r) ||
        json_i64(b, "valid_to", 1, 0, FACT_TIME_MAX, &c->valid_to, r))
        return ML_PARSE;
    if (c->valid_to <= c->valid_from)
        return bad(r, "valid_to must be after valid_from");
    return fact_check_rules(b, r);
}

static ml_err parse_withdraw(const cJSON *b, struct fact *f, int flags, struct ml_refusal *r)
{
    return campaign_id(b, f, flags, r);
}

static ml_err parse_grant(const cJSON *b, struct fact *f, int flags, struct ml_refusal *r)
{
    static const char *const kinds[2] = {"amount_off", "percent_off"};
    struct fact_grant *g = &f->u.grant;
    const char *kind = NULL;
    g->uses = 1;
    g->offline_ok = 1;
    if (json_str(b, "coupon_id", 1, FACT_ID_MAX, &f->id, r) ||
        json_str(b, "member_id", 0, FACT_ID_MAX, &g->member_id, r) ||
        json_str(b, "campaign_id", 0, FACT_ID_MAX, &g->campaign_id, r) ||
        json_str(b, "kind", 1, 16, &kind, r) || pick(kind, kinds, "kind", &g->percent, r) ||
        json_i64(b, "value", 1, 1, FACT_MONEY_MAX, &g->value, r) ||
        json_i64(b, "max_off", 0, 0, FACT_MONEY_MAX, &g->max_off, r) ||
        json_i64(b, "min_spend", 0, 0, FACT_MONEY_MAX, &g->min_spend, r) ||
        json_i64(b, "valid_from", 1, 0, FACT_TIME_MAX, &g->valid_from, r) ||
        json_i64(b, "valid_to", 1, 0, FACT_TIME_MAX, &g->valid_to, r) ||
        json_i64(b, "uses", 0, 1, FACT_USES_MAX, &g->uses, r) ||
        json_bool(b, "offline_ok", &g->offline_ok, r))
        return ML_PARSE;
    if (g->percent && g->value > BP_ONE)
        return bad(r, "percent_off value is in basis points (1..10000)");
    if (g->valid_to <= g->valid_from)
        return bad(r, "valid_to must be after valid_from");
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(b, "categories");
    g->categories = NULL;
    if (cats != NULL && !cJSON_IsNull(cats)) {
        int ok = cJSON_IsArray(cats) && cJSON_GetArraySize(cats) >= 1 &&
                 cJSON_GetArraySize(cats) <= FACT_CATEGORIES_MAX;
        const cJSON *c;
        cJSON_ArrayForEach(c, cats)
        {
            /* An empty category matches no line (a line's category is 1..32 bytes): HQ does
             * not send one; a store takes it as the no-op it is. */
            if (!cJSON_IsString(c) || ((flags & FACT_TO_SEND) && c->valuestring[0] == '\0') ||
                strlen(c->valuestring) > FACT_CATEGORY_MAX)
                ok = 0;
        }
        if (!ok)
            return bad(r, "field 'categories' must be an array of 1 to %d strings of %s%d bytes",
                       FACT_CATEGORIES_MAX, flags & FACT_TO_SEND ? "1 to " : "up to ",
                       FACT_CATEGORY_MAX);
        g->categories = cats;
    }
    return ML_OK;
}

static ml_err parse_revoke(const cJSON *b, struct fact *f, int flags, struct ml_refusal *r)
{
    (void)flags;
    return json_str(b, "coupon_id", 1, FACT_ID_MAX, &f->id, r);
}

static ml_err parse_deny(const cJSON *b, struct fact *f, int flags, struct ml_refusal *r)
{
    (void)flags;
    static const char *const subjects[2] = {"coupon", "member"};
    struct fact_deny *d = &f->u.deny;
    const char *subject = NULL;
    d->lifted = 0;
    if (json_str(b, "subject", 1, 16, &subject, r) ||
        pick(subject, subjects, "subject", &d->member, r) ||
        json_str(b, "id", 1, FACT_ID_MAX, &f->id, r) ||
        json_str(b, "reason", 1, FACT_REASON_MAX, &d->reason, r) ||
        json_bool(b, "lifted", &d->lifted, r))
        return ML_PARSE;
    if (strspn(d->reason, "abcdefghijklmnopqrstuvwxyz_") != strlen(d->reason))
        return bad(r, "field 'reason' must be 1 to %d of [a-z_]", FACT_REASON_MAX);
    return ML_OK;
}

static ml_err parse_settlement(const cJSON *b, struct fact *f, int flags, struct ml_refusal *r)
{
    (void)flags;
    struct fact_settlement *s = &f->u.settlement;
    if (json_str(b, "notice_id", 1, FACT_ID_MAX, &f->id, r) ||
        json_str(b, "coupon_id", 1, FACT_ID_MAX, &s->coupon_id, r) ||
        json_str(b, "sale_id", 1, FACT_ID_MAX, &s->sale_id, r) ||
        json_i64(b, "amount", 1, 0, FACT_AMOUNT_MAX, &s->amount, r))
        return ML_PARSE;
    return ML_OK;
}

static const struct {
    const char *name;
    enum fact_kind kind;
    int per_store;
    ml_err (*parse)(const cJSON *, struct fact *, int, struct ml_refusal *);
} kinds[] = {
    {"member.upsert", FACT_MEMBER_UPSERT, 1, parse_member},
    {"guide.upsert", FACT_GUIDE_UPSERT, 1, parse_guide},
    {"guide.bind", FACT_GUIDE_BIND, 1, parse_bind},
    {"campaign.upsert", FACT_CAMPAIGN_UPSERT, 0, parse_campaign},
    {"campaign.withdraw", FACT_CAMPAIGN_WITHDRAW, 0, parse_withdraw},
    {"coupon.grant", FACT_COUPON_GRANT, 1, parse_grant},
    {"coupon.revoke", FACT_COUPON_REVOKE, 1, parse_revoke},
    {"deny.upsert", FACT_DENY_UPSERT, 1, parse_deny},
    {"settlement.notice", FACT_SETTLEMENT_NOTICE, 1, parse_settlement},
};

ml_err fact_parse(const char *kind, const cJSON *body, int flags, struct fact *ret,
                  struct ml_refusal *r)
{
    if (!cJSON_IsObject(body))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "fact body must be an object");
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kind, kinds[i].name) != 0)
            continue;
        memset(ret, 0, sizeof(*ret));
        ret->kind = kinds[i].kind;
        int required = !(flags & FACT_VERSION_OPTIONAL);
        if (kinds[i].parse(body, ret, flags, r) != ML_OK ||
            json_i64(body, "version", required, 1, FACT_TIME_MAX, &ret->version, r) != ML_OK)
            return ML_PARSE;
        return ML_OK;
    }
    return ml_refuse(r, ML_PARSE, 400, "invalid_request", "unknown fact kind '%s'", kind);
}

int fact_per_store(const char *kind)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kind, kinds[i].name) == 0)
            return kinds[i].per_store;
    return 0;
}
