/* hq_fact: body checks before signing and phone keying; see hq_fact.h. */
#include "hq_fact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "jsonutil.h"
#include "phone.h"
#include "rules.h"

#define HQ_MONEY_MAX INT64_C(100000000000) /* facts.c: value, max_off, min_spend */
#define HQ_POINTS_MAX INT64_C(1000000000000)

int hq_fact_per_store(const char *kind)
{
    static const char *const kinds[] = {"member.upsert",    "guide.upsert",  "guide.bind",
                                        "coupon.grant",     "coupon.revoke", "deny.upsert",
                                        "settlement.notice"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kind, kinds[i]) == 0)
            return 1;
    return 0;
}

int hq_fact_topic_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > HQ_FACT_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
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

static int is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    return strspn(s, "0123456789abcdefABCDEF") == 64;
}

static ml_err check_member(const cJSON *b, const char **id, struct ml_refusal *r)
{
    static const char *const statuses[] = {"active", "blocked", NULL};
    const char *hmac = NULL, *masked = NULL, *tier = NULL, *plan = NULL, *status = "active";
    int64_t n = 0;
    if (json_str(b, "member_id", 1, HQ_FACT_ID_MAX, id, r) ||
        json_str(b, "phone_hmac", 0, 64, &hmac, r) ||
        json_str(b, "phone_masked", 0, 32, &masked, r) || json_str(b, "tier", 0, 32, &tier, r) ||
        json_str(b, "plan", 0, 32, &plan, r) ||
        json_i64(b, "plan_until", plan != NULL, 0, HQ_VERSION_MAX, &n, r) ||
        json_i64(b, "points", 0, 0, HQ_POINTS_MAX, &n, r) ||
        json_i64(b, "points_version", 0, 0, HQ_VERSION_MAX, &n, r) ||
        json_str(b, "status", 0, 16, &status, r) || check_enum(status, statuses, "status", r))
        return ML_PARSE;
    if (hmac != NULL && !is_hex64(hmac))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "field 'phone_hmac' must be 64 hex digits");
    if (cJSON_GetObjectItemCaseSensitive(b, "phone") != NULL)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "plaintext 'phone' never leaves HQ; it must be keyed first");
    return ML_OK;
}

static ml_err check_guide(const cJSON *b, const char **id, struct ml_refusal *r)
{
    static const char *const statuses[] = {"active", "inactive", NULL};
    const char *name = NULL, *gstore = NULL, *status = "active";
    if (json_str(b, "guide_id", 1, HQ_FACT_ID_MAX, id, r) || json_str(b, "name", 0, 64, &name, r) ||
        json_str(b, "store", 0, 32, &gstore, r) || json_str(b, "status", 0, 16, &status, r) ||
        check_enum(status, statuses, "status", r))
        return ML_PARSE;
    return ML_OK;
}

static ml_err check_bind(const cJSON *b, const char **id, struct ml_refusal *r)
{
    const char *guide = NULL;
    int64_t until = 0;
    if (json_str(b, "member_id", 1, HQ_FACT_ID_MAX, id, r) ||
        json_str(b, "guide_id", 0, HQ_FACT_ID_MAX, &guide, r) ||
        json_i64(b, "until", guide != NULL, 0, HQ_VERSION_MAX, &until, r))
        return ML_PARSE;
    return ML_OK;
}

static ml_err check_grant(const cJSON *b, const char **id, struct ml_refusal *r)
{
    static const char *const kinds[] = {"amount_off", "percent_off", NULL};
    const char *member = NULL, *campaign = NULL, *kind = NULL;
    int64_t value = 0, n = 0, from = 0, to = 0;
    int offline_ok = 1;
    if (json_str(b, "coupon_id", 1, HQ_FACT_ID_MAX, id, r) ||
        json_str(b, "member_id", 0, HQ_FACT_ID_MAX, &member, r) ||
        json_str(b, "campaign_id", 0, HQ_FACT_ID_MAX, &campaign, r) ||
        json_str(b, "kind", 1, 16, &kind, r) || check_enum(kind, kinds, "kind", r) ||
        json_i64(b, "value", 1, 1, HQ_MONEY_MAX, &value, r) ||
        json_i64(b, "max_off", 0, 0, HQ_MONEY_MAX, &n, r) ||
        json_i64(b, "min_spend", 0, 0, HQ_MONEY_MAX, &n, r) ||
        json_i64(b, "valid_from", 1, 0, HQ_VERSION_MAX, &from, r) ||
        json_i64(b, "valid_to", 1, 0, HQ_VERSION_MAX, &to, r) ||
        json_i64(b, "uses", 0, 1, 1000000, &n, r) || json_bool(b, "offline_ok", &offline_ok, r))
        return ML_PARSE;
    if (strcmp(kind, "percent_off") == 0 && value > 10000)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "percent_off value is in basis points (1..10000)");
    if (to <= from)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "valid_to must be after valid_from");
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(b, "categories");
    if (cats != NULL && !cJSON_IsNull(cats)) {
        int ok =
            cJSON_IsArray(cats) && cJSON_GetArraySize(cats) >= 1 && cJSON_GetArraySize(cats) <= 64;
        const cJSON *c;
        cJSON_ArrayForEach(c, cats)
        {
            if (!cJSON_IsString(c) || c->valuestring[0] == '\0' || strlen(c->valuestring) > 32)
                ok = 0;
        }
        if (!ok)
            return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                             "field 'categories' must be an array of 1 to 64 strings of up to "
                             "32 bytes");
    }
    return ML_OK;
}

static ml_err check_revoke(const cJSON *b, const char **id, struct ml_refusal *r)
{
    return json_str(b, "coupon_id", 1, HQ_FACT_ID_MAX, id, r);
}

static ml_err check_campaign(const cJSON *b, const char **id, struct ml_refusal *r)
{
    int64_t priority = 0, from = 0, to = 0;
    if (json_str(b, "campaign_id", 1, HQ_FACT_ID_MAX, id, r) ||
        json_i64(b, "priority", 0, -1000, 1000, &priority, r) ||
        json_i64(b, "valid_from", 1, 0, HQ_VERSION_MAX, &from, r) ||
        json_i64(b, "valid_to", 1, 0, HQ_VERSION_MAX, &to, r))
        return ML_PARSE;
    if (!hq_fact_topic_id(*id))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "campaign_id '%s' is part of the MQTT topic: use 1-64 characters of "
                         "[A-Za-z0-9_.-]",
                         *id);
    if (to <= from)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "valid_to must be after valid_from");
    return rules_validate(b, r);
}

static ml_err check_withdraw(const cJSON *b, const char **id, struct ml_refusal *r)
{
    if (json_str(b, "campaign_id", 1, HQ_FACT_ID_MAX, id, r))
        return ML_PARSE;
    if (!hq_fact_topic_id(*id))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "campaign_id '%s' is not a campaign topic id", *id);
    return ML_OK;
}

/* deny.upsert: what identification and checkout refuse at every store. */
static ml_err check_deny(const cJSON *b, const char **id, struct ml_refusal *r)
{
    static const char *const subjects[] = {"member", "coupon", NULL};
    const char *subject = NULL, *reason = NULL;
    if (json_str(b, "subject", 1, 16, &subject, r) || check_enum(subject, subjects, "subject", r) ||
        json_str(b, "id", 1, HQ_FACT_ID_MAX, id, r) || json_str(b, "reason", 1, 32, &reason, r))
        return ML_PARSE;
    const cJSON *lifted = cJSON_GetObjectItemCaseSensitive(b, "lifted");
    if (lifted != NULL && !cJSON_IsBool(lifted))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "field 'lifted' must be a boolean");
    return ML_OK;
}

/* settlement.notice: HQ booked a store's offline redemption as an overage. */
static ml_err check_settlement(const cJSON *b, const char **id, struct ml_refusal *r)
{
    const char *coupon = NULL, *sale = NULL;
    int64_t amount = 0;
    if (json_str(b, "notice_id", 1, HQ_FACT_ID_MAX, id, r) ||
        json_str(b, "coupon_id", 1, HQ_FACT_ID_MAX, &coupon, r) ||
        json_str(b, "sale_id", 1, HQ_FACT_ID_MAX, &sale, r) ||
        json_i64(b, "amount", 1, 0, HQ_VERSION_MAX, &amount, r))
        return ML_PARSE;
    return ML_OK;
}

ml_err hq_fact_check(const char *kind, const cJSON *body, char entity[HQ_ENTITY_MAX + 1],
                     int64_t *ret_version, struct ml_refusal *r)
{
    static const struct {
        const char *kind, *entity;
        ml_err (*check)(const cJSON *, const char **, struct ml_refusal *);
    } table[] = {
        {"member.upsert", "member", check_member},
        {"guide.upsert", "guide", check_guide},
        {"guide.bind", "bind", check_bind},
        {"coupon.grant", "coupon", check_grant},
        {"coupon.revoke", "coupon", check_revoke},
        {"campaign.upsert", "campaign", check_campaign},
        /* upsert and withdrawal share the campaign's versions */
        {"campaign.withdraw", "campaign", check_withdraw},
        {"deny.upsert", "deny", check_deny},
        {"settlement.notice", "settlement", check_settlement},
    };
    if (!cJSON_IsObject(body))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "a %s body must be a JSON object",
                         kind);
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(kind, table[i].kind) != 0)
            continue;
        const char *id = NULL;
        int64_t version = 0;
        if (table[i].check(body, &id, r) != ML_OK ||
            json_i64(body, "version", 0, 1, HQ_VERSION_MAX, &version, r) != ML_OK)
            return ML_PARSE;
        /* What canon refuses (invalid UTF-8, fractions, duplicate keys, depth) would fail at
         * signing; say so here, about the body. */
        char *text = canon_json(body);
        if (text == NULL)
            return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                             "the body cannot be signed: a number that is not an integer of at "
                             "most 2^53, a key twice, invalid UTF-8 or nesting past %d levels",
                             CANON_DEPTH_MAX - 1);
        free(text);
        snprintf(entity, HQ_ENTITY_MAX + 1, "%s:%s", table[i].entity, id);
        *ret_version = version;
        return ML_OK;
    }
    return ml_refuse(r, ML_PARSE, 400, "invalid_request", "unknown kind '%s'", kind);
}

ml_err hq_fact_key_phone(cJSON *body, const uint8_t *key, struct ml_refusal *r)
{
    cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "phone");
    if (p == NULL)
        return ML_OK;
    if (key == NULL)
        return ml_refuse(r, ML_CONFIG, 400, "invalid_request",
                         "a member has a plaintext 'phone' but [hq] phone_key is not set");
    char norm[PHONE_DIGITS + 1];
    if (!cJSON_IsString(p) || phone_normalize(p->valuestring, norm) != ML_OK)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "field 'phone' is not a mainland China mobile number");
    uint8_t mac[PHONE_KEY_LEN];
    char hex[2 * PHONE_KEY_LEN + 1], masked[PHONE_MASKED_LEN + 1];
    phone_key(key, norm, mac);
    for (size_t i = 0; i < PHONE_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    phone_mask(norm, masked);
    cJSON *h = cJSON_CreateString(hex), *m = cJSON_CreateString(masked);
    if (h == NULL || m == NULL) {
        cJSON_Delete(h);
        cJSON_Delete(m);
        return ML_NOMEM;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(body, "phone");
    cJSON_DeleteItemFromObjectCaseSensitive(body, "phone_hmac");
    cJSON_DeleteItemFromObjectCaseSensitive(body, "phone_masked");
    cJSON_AddItemToObject(body, "phone_hmac", h);
    cJSON_AddItemToObject(body, "phone_masked", m);
    /* Duplicates of "phone" (cJSON keeps them) would still carry the plaintext. */
    if (cJSON_GetObjectItemCaseSensitive(body, "phone") != NULL)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "field 'phone' appears twice");
    return ML_OK;
}
