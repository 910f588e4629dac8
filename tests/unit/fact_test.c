/*
 * fact_test: unit tests for fact.h, the schema of HQ facts (docs/facts.md).
 *
 * Each kind has a minimal valid body, written as JSON text; a test reads back the typed
 * fields and defaults of each. The schema tables change one to three fields of that body
 * (each value also written as JSON text and parsed, the way a fact arrives) and say whether
 * fact_parse() takes it, with the field read back, or refuses it as ML_PARSE, a 400
 * invalid_request whose message names the field. Every limit is taken from fact.h's FACT_*
 * constants and tried at the limit and one past it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fact.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct kind_base {
    const char *kind;
    enum fact_kind e;
    const char *body; /* the smallest body the schema takes */
};

static const struct kind_base bases[] = {
    {"member.upsert", FACT_MEMBER_UPSERT, "{\"member_id\": \"M1\", \"version\": 1}"},
    {"guide.upsert", FACT_GUIDE_UPSERT, "{\"guide_id\": \"G1\", \"version\": 1}"},
    {"guide.bind", FACT_GUIDE_BIND,
     "{\"member_id\": \"M1\", \"guide_id\": \"G1\", \"until\": 1767225600000, \"version\": 1}"},
    {"campaign.upsert", FACT_CAMPAIGN_UPSERT,
     "{\"campaign_id\": \"points-2026\", \"valid_from\": 1735689600000,"
     " \"valid_to\": 2051222400000, \"version\": 1}"},
    {"campaign.withdraw", FACT_CAMPAIGN_WITHDRAW,
     "{\"campaign_id\": \"points-2026\", \"version\": 2}"},
    {"coupon.grant", FACT_COUPON_GRANT,
     "{\"coupon_id\": \"C1\", \"kind\": \"amount_off\", \"value\": 500,"
     " \"valid_from\": 1735689600000, \"valid_to\": 2051222400000, \"version\": 1}"},
    {"coupon.revoke", FACT_COUPON_REVOKE, "{\"coupon_id\": \"C1\", \"version\": 1}"},
    {"deny.upsert", FACT_DENY_UPSERT,
     "{\"subject\": \"coupon\", \"id\": \"C1\", \"reason\": \"revoked\", \"version\": 1}"},
    {"settlement.notice", FACT_SETTLEMENT_NOTICE,
     "{\"notice_id\": \"N1\", \"coupon_id\": \"C1\", \"sale_id\": \"SA1\", \"amount\": 300,"
     " \"version\": 1}"},
};

static const struct kind_base *base_of(const char *kind)
{
    for (size_t i = 0; i < ARRAY_LEN(bases); i++)
        if (strcmp(bases[i].kind, kind) == 0)
            return &bases[i];
    fail_msg("no base body for kind \"%s\"", kind);
    return NULL;
}

static cJSON *json(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    if (v == NULL)
        fail_msg("the test's own JSON does not parse: %s", text);
    return v;
}

/* ---- changes to a base body ------------------------------------------------------------- */

enum val {
    V_ABSENT, /* the field is removed */
    V_NULL,   /* null */
    V_INT,    /* the integer n */
    V_STR,    /* a string of n 'a's, then text */
    V_STRS,   /* an array of n short distinct strings */
    V_ARR1,   /* an array of one string of n 'a's */
    V_MAP,    /* an object of n distinct keys, each 0 */
    V_JSON,   /* text as it is */
};

struct change {
    const char *path; /* field name; "a.b" is field b of object a (made when absent) */
    enum val type;
    int64_t n;
    const char *text;
};

#define INT(p, v)                                                                                  \
    {                                                                                              \
        p, V_INT, v, NULL                                                                          \
    }
#define STR(p, n)                                                                                  \
    {                                                                                              \
        p, V_STR, n, NULL                                                                          \
    }
#define TXT(p, s)                                                                                  \
    {                                                                                              \
        p, V_STR, 0, s                                                                             \
    }
#define AS(p, n, s)                                                                                \
    {                                                                                              \
        p, V_STR, n, s                                                                             \
    }
#define RAW(p, t)                                                                                  \
    {                                                                                              \
        p, V_JSON, 0, t                                                                            \
    }
#define GONE(p)                                                                                    \
    {                                                                                              \
        p, V_ABSENT, 0, NULL                                                                       \
    }
#define NUL(p)                                                                                     \
    {                                                                                              \
        p, V_NULL, 0, NULL                                                                         \
    }
#define STRS(p, n)                                                                                 \
    {                                                                                              \
        p, V_STRS, n, NULL                                                                         \
    }
#define ARR1(p, n)                                                                                 \
    {                                                                                              \
        p, V_ARR1, n, NULL                                                                         \
    }
#define MAP(p, n)                                                                                  \
    {                                                                                              \
        p, V_MAP, n, NULL                                                                          \
    }

#define TEXT_MAX 4096

static void append(char *buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > TEXT_MAX)
        fail_msg("test value text past %d bytes", TEXT_MAX);
    memcpy(buf + *len, s, n + 1);
    *len += n;
}

static void append_as(char *buf, size_t *len, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        append(buf, len, "a");
}

/* The change's value as JSON text, into buf (TEXT_MAX bytes). */
static void value_text(const struct change *c, char *buf)
{
    size_t len = 0;
    char item[32];
    buf[0] = '\0';
    switch (c->type) {
    case V_ABSENT:
        append(buf, &len, "(absent)");
        break;
    case V_NULL:
        append(buf, &len, "null");
        break;
    case V_INT:
        snprintf(item, sizeof(item), "%lld", (long long)c->n);
        append(buf, &len, item);
        break;
    case V_STR:
        append(buf, &len, "\"");
        append_as(buf, &len, c->n);
        append(buf, &len, c->text ? c->text : "");
        append(buf, &len, "\"");
        break;
    case V_STRS:
    case V_MAP:
        append(buf, &len, c->type == V_STRS ? "[" : "{");
        for (int64_t i = 0; i < c->n; i++) {
            snprintf(item, sizeof(item), "%s\"c%lld\"%s", i ? "," : "", (long long)i,
                     c->type == V_MAP ? ":0" : "");
            append(buf, &len, item);
        }
        append(buf, &len, c->type == V_STRS ? "]" : "}");
        break;
    case V_ARR1:
        append(buf, &len, "[\"");
        append_as(buf, &len, c->n);
        append(buf, &len, "\"]");
        break;
    case V_JSON:
        append(buf, &len, c->text);
        break;
    }
}

static void apply(cJSON *body, const struct change *c)
{
    char path[64], text[TEXT_MAX];
    snprintf(path, sizeof(path), "%s", c->path);
    cJSON *obj = body;
    char *seg = path, *dot;
    while ((dot = strchr(seg, '.')) != NULL) {
        *dot = '\0';
        cJSON *next = cJSON_GetObjectItemCaseSensitive(obj, seg);
        if (next == NULL)
            next = cJSON_AddObjectToObject(obj, seg);
        assert_non_null(next);
        obj = next;
        seg = dot + 1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, seg);
    if (c->type == V_ABSENT)
        return;
    value_text(c, text);
    assert_true(cJSON_AddItemToObject(obj, seg, json(text)));
}

/* ---- what a row expects ------------------------------------------------------------------ */

static int64_t slen(const char *s)
{
    return s ? (int64_t)strlen(s) : -1;
}

#define READER(name, expr)                                                                         \
    static int64_t name(const struct fact *f)                                                      \
    {                                                                                              \
        return (int64_t)(expr);                                                                    \
    }

READER(r_version, f->version)
READER(r_id_len, slen(f->id))
/* The last byte of the decoded phone key; -1 when there is none. */
READER(r_phone_key_last, f->u.member.has_phone_key ? f->u.member.phone_key[PHONE_KEY_LEN - 1] : -1)
READER(r_tier_len, slen(f->u.member.tier))
READER(r_plan_len, slen(f->u.member.plan))
READER(r_plan_until, f->u.member.plan_until)
READER(r_points, f->u.member.points)
READER(r_points_version, f->u.member.points_version)
READER(r_blocked, f->u.member.blocked)
READER(r_name_len, slen(f->u.guide.name))
READER(r_guide_store_len, slen(f->u.guide.store))
READER(r_active, f->u.guide.active)
READER(r_bind_guide_len, slen(f->u.bind.guide_id))
READER(r_until, f->u.bind.until)
READER(r_priority, f->u.campaign.priority)
READER(r_c_valid_from, f->u.campaign.valid_from)
READER(r_c_valid_to, f->u.campaign.valid_to)
READER(r_g_member_len, slen(f->u.grant.member_id))
READER(r_g_campaign_len, slen(f->u.grant.campaign_id))
READER(r_g_percent, f->u.grant.percent)
READER(r_g_value, f->u.grant.value)
READER(r_g_max_off, f->u.grant.max_off)
READER(r_g_min_spend, f->u.grant.min_spend)
READER(r_g_valid_from, f->u.grant.valid_from)
READER(r_g_valid_to, f->u.grant.valid_to)
READER(r_g_uses, f->u.grant.uses)
READER(r_g_offline_ok, f->u.grant.offline_ok)
READER(r_g_categories, f->u.grant.categories ? cJSON_GetArraySize(f->u.grant.categories) : -1)
READER(r_deny_member, f->u.deny.member)
READER(r_deny_reason_len, slen(f->u.deny.reason))
READER(r_deny_lifted, f->u.deny.lifted)
READER(r_s_coupon_len, slen(f->u.settlement.coupon_id))
READER(r_s_sale_len, slen(f->u.settlement.sale_id))
READER(r_s_amount, f->u.settlement.amount)

struct row {
    const char *kind; /* NULL: fact_check_rules() on {} and the changes */
    int flags;
    struct change c[3];
    const char *refused; /* NULL: taken; else what the refusal's message names */
    int64_t (*read)(const struct fact *);
    int64_t want;
};

#define OK(kind_, read_, want_, ...)                                                               \
    {                                                                                              \
        .kind = kind_, .c = {__VA_ARGS__}, .read = read_, .want = want_                            \
    }
#define NO(kind_, names, ...)                                                                      \
    {                                                                                              \
        .kind = kind_, .c = {__VA_ARGS__}, .refused = names                                        \
    }
#define SEND_OK(kind_, read_, want_, ...)                                                          \
    {                                                                                              \
        .kind = kind_, .flags = FACT_VERSION_OPTIONAL | FACT_TO_SEND, .c = {__VA_ARGS__},          \
        .read = read_, .want = want_                                                               \
    }
#define SEND_NO(kind_, names, ...)                                                                 \
    {                                                                                              \
        .kind = kind_, .flags = FACT_VERSION_OPTIONAL | FACT_TO_SEND, .c = {__VA_ARGS__},          \
        .refused = names                                                                           \
    }
#define OPT_OK(kind_, read_, want_, ...)                                                           \
    {                                                                                              \
        .kind = kind_, .flags = FACT_VERSION_OPTIONAL, .c = {__VA_ARGS__}, .read = read_,          \
        .want = want_                                                                              \
    }
#define OPT_NO(kind_, names, ...)                                                                  \
    {                                                                                              \
        .kind = kind_, .flags = FACT_VERSION_OPTIONAL, .c = {__VA_ARGS__}, .refused = names        \
    }

/* "kind: a = 1, b = "x"" for a failure message. */
static void describe(const struct row *t, char *out, size_t len)
{
    char text[TEXT_MAX];
    int n = snprintf(out, len, "%s%s:", t->kind ? t->kind : "rules",
                     t->flags & FACT_TO_SEND            ? " (to send)"
                     : t->flags & FACT_VERSION_OPTIONAL ? " (version optional)"
                                                        : "");
    for (size_t j = 0; j < ARRAY_LEN(t->c) && t->c[j].path != NULL; j++) {
        value_text(&t->c[j], text);
        if (n >= 0 && (size_t)n < len)
            n += snprintf(out + n, len - (size_t)n, "%s %s = %.80s%s", j ? "," : "", t->c[j].path,
                          text, strlen(text) > 80 ? "..." : "");
    }
}

static void run_rows(const struct row *rows, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const struct row *t = &rows[i];
        char what[512];
        describe(t, what, sizeof(what));
        const struct kind_base *b = t->kind ? base_of(t->kind) : NULL;
        cJSON *body = json(b ? b->body : "{}");
        for (size_t j = 0; j < ARRAY_LEN(t->c) && t->c[j].path != NULL; j++)
            apply(body, &t->c[j]);
        struct fact f;
        memset(&f, 0, sizeof(f));
        struct ml_refusal r = {0};
        ml_err err = b ? fact_parse(t->kind, body, t->flags, &f, &r) : fact_check_rules(body, &r);
        if (t->refused == NULL) {
            if (err != ML_OK)
                fail_msg("%s: want it taken, got %s: %s", what, ml_strerror(err), r.message);
            if (b != NULL && f.kind != b->e)
                fail_msg("%s: want kind %d, got %d", what, (int)b->e, (int)f.kind);
            if (t->read != NULL && t->read(&f) != t->want)
                fail_msg("%s: want %lld read back, got %lld", what, (long long)t->want,
                         (long long)t->read(&f));
        } else {
            if (err != ML_PARSE)
                fail_msg("%s: want ML_PARSE, got %s", what, ml_strerror(err));
            if (r.http_status != 400 || r.code == NULL || strcmp(r.code, "invalid_request") != 0)
                fail_msg("%s: want 400 invalid_request, got %d %s", what, r.http_status,
                         r.code ? r.code : "(null)");
            if (strstr(r.message, t->refused) == NULL)
                fail_msg("%s: want a message naming %s, got \"%s\"", what, t->refused, r.message);
        }
        cJSON_Delete(body);
    }
}

/* ---- the minimal body of each kind, read back typed ------------------------------------- */

struct parsed {
    cJSON *body;
    struct fact f;
    struct ml_refusal r;
    ml_err err;
};

static void parse(struct parsed *p, const char *kind, const char *text, int flags)
{
    memset(p, 0, sizeof(*p));
    p->body = json(text);
    p->err = fact_parse(kind, p->body, flags, &p->f, &p->r);
    if (p->err != ML_OK)
        fail_msg("%s %s: want ML_OK, got %s: %s", kind, text, ml_strerror(p->err), p->r.message);
}

static void member_upsert_minimal_body_takes_the_defaults(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "member.upsert", base_of("member.upsert")->body, 0);
    assert_int_equal(p.f.kind, FACT_MEMBER_UPSERT);
    assert_string_equal(p.f.id, "M1");
    assert_int_equal(p.f.version, 1);
    assert_int_equal(p.f.u.member.has_phone_key, 0);
    assert_string_equal(p.f.u.member.phone_masked, "");
    assert_string_equal(p.f.u.member.tier, "basic");
    assert_null(p.f.u.member.plan);
    assert_int_equal(p.f.u.member.plan_until, 0);
    assert_int_equal(p.f.u.member.points, 0);
    assert_int_equal(p.f.u.member.points_version, 0);
    assert_int_equal(p.f.u.member.blocked, 0);
    cJSON_Delete(p.body);
}

static void member_upsert_reads_every_field_typed(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "member.upsert",
          "{\"member_id\": \"M1001\", \"version\": 7,"
          " \"phone_hmac\": \"0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef\","
          " \"phone_masked\": \"138****8000\", \"tier\": \"gold\", \"plan\": \"vip\","
          " \"plan_until\": 1767225600000, \"points\": 1200, \"points_version\": 5,"
          " \"status\": \"blocked\"}",
          0);
    assert_string_equal(p.f.id, "M1001");
    assert_int_equal(p.f.version, 7);
    static const uint8_t key[PHONE_KEY_LEN] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                               0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                               0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                               0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    assert_int_equal(p.f.u.member.has_phone_key, 1);
    assert_memory_equal(p.f.u.member.phone_key, key, sizeof(key));
    assert_string_equal(p.f.u.member.phone_masked, "138****8000");
    assert_string_equal(p.f.u.member.tier, "gold");
    assert_string_equal(p.f.u.member.plan, "vip");
    assert_int_equal(p.f.u.member.plan_until, INT64_C(1767225600000));
    assert_int_equal(p.f.u.member.points, 1200);
    assert_int_equal(p.f.u.member.points_version, 5);
    assert_int_equal(p.f.u.member.blocked, 1);
    cJSON_Delete(p.body);
}

static void guide_upsert_minimal_body_takes_the_defaults(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "guide.upsert", base_of("guide.upsert")->body, 0);
    assert_int_equal(p.f.kind, FACT_GUIDE_UPSERT);
    assert_string_equal(p.f.id, "G1");
    assert_int_equal(p.f.version, 1);
    assert_string_equal(p.f.u.guide.name, "");
    assert_null(p.f.u.guide.store);
    assert_int_equal(p.f.u.guide.active, 1);
    cJSON_Delete(p.body);

    parse(&p, "guide.upsert",
          "{\"guide_id\": \"G2\", \"name\": \"王芳\", \"store\": \"S001\","
          " \"status\": \"inactive\", \"version\": 3}",
          0);
    assert_string_equal(p.f.id, "G2");
    assert_string_equal(p.f.u.guide.name, "王芳");
    assert_string_equal(p.f.u.guide.store, "S001");
    assert_int_equal(p.f.u.guide.active, 0);
    assert_int_equal(p.f.version, 3);
    cJSON_Delete(p.body);
}

static void guide_bind_binds_and_unbinds(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "guide.bind", base_of("guide.bind")->body, 0);
    assert_int_equal(p.f.kind, FACT_GUIDE_BIND);
    assert_string_equal(p.f.id, "M1");
    assert_string_equal(p.f.u.bind.guide_id, "G1");
    assert_int_equal(p.f.u.bind.until, INT64_C(1767225600000));
    assert_int_equal(p.f.version, 1);
    cJSON_Delete(p.body);

    parse(&p, "guide.bind", "{\"member_id\": \"M1\", \"version\": 2}", 0);
    assert_null(p.f.u.bind.guide_id);
    assert_int_equal(p.f.u.bind.until, 0);
    cJSON_Delete(p.body);

    parse(&p, "guide.bind", "{\"member_id\": \"M1\", \"guide_id\": null, \"version\": 2}", 0);
    assert_null(p.f.u.bind.guide_id);
    cJSON_Delete(p.body);
}

static void campaign_upsert_minimal_body_is_read_typed(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "campaign.upsert", base_of("campaign.upsert")->body, 0);
    assert_int_equal(p.f.kind, FACT_CAMPAIGN_UPSERT);
    assert_string_equal(p.f.id, "points-2026");
    assert_int_equal(p.f.version, 1);
    assert_int_equal(p.f.u.campaign.priority, 0);
    assert_int_equal(p.f.u.campaign.valid_from, INT64_C(1735689600000));
    assert_int_equal(p.f.u.campaign.valid_to, INT64_C(2051222400000));
    cJSON_Delete(p.body);
}

/* The example of docs/facts.md, as written there. */
static const char docs_campaign[] =
    "{\"campaign_id\": \"points-2026\", \"version\": 1, \"priority\": 0,\n"
    " \"valid_from\": 1735689600000, \"valid_to\": 2051222400000,\n"
    " \"stores\": [\"S001\"], \"tiers\": [\"gold\", \"silver\"], \"plans\": [\"vip\"],\n"
    " \"points\": {\"earn_per_yuan\": 1,\n"
    "            \"tier_multiplier_bp\": {\"gold\": 15000}, \"plan_multiplier_bp\": {\"vip\": "
    "20000},\n"
    "            \"redeem_points_per_yuan\": 100, \"redeem_max_bp\": 5000},\n"
    " \"commission\": {\"default_bp\": 200, \"categories\": {\"apparel\": 500}},\n"
    " \"coupons\": {\"restore_on_refund\": true}}";

static void campaign_upsert_takes_the_documented_example(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "campaign.upsert", docs_campaign, 0);
    assert_string_equal(p.f.id, "points-2026");
    assert_int_equal(p.f.version, 1);
    assert_int_equal(p.f.u.campaign.priority, 0);
    assert_int_equal(p.f.u.campaign.valid_from, INT64_C(1735689600000));
    assert_int_equal(p.f.u.campaign.valid_to, INT64_C(2051222400000));
    struct ml_refusal r = {0};
    assert_int_equal(fact_check_rules(p.body, &r), ML_OK);
    cJSON_Delete(p.body);
}

static void campaign_withdraw_reads_the_campaign_id(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "campaign.withdraw", base_of("campaign.withdraw")->body, 0);
    assert_int_equal(p.f.kind, FACT_CAMPAIGN_WITHDRAW);
    assert_string_equal(p.f.id, "points-2026");
    assert_int_equal(p.f.version, 2);
    cJSON_Delete(p.body);
}

static void coupon_grant_minimal_body_takes_the_defaults(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "coupon.grant", base_of("coupon.grant")->body, 0);
    assert_int_equal(p.f.kind, FACT_COUPON_GRANT);
    assert_string_equal(p.f.id, "C1");
    assert_int_equal(p.f.version, 1);
    assert_null(p.f.u.grant.member_id);
    assert_null(p.f.u.grant.campaign_id);
    assert_int_equal(p.f.u.grant.percent, 0);
    assert_int_equal(p.f.u.grant.value, 500);
    assert_int_equal(p.f.u.grant.max_off, 0);
    assert_int_equal(p.f.u.grant.min_spend, 0);
    assert_null(p.f.u.grant.categories);
    assert_int_equal(p.f.u.grant.valid_from, INT64_C(1735689600000));
    assert_int_equal(p.f.u.grant.valid_to, INT64_C(2051222400000));
    assert_int_equal(p.f.u.grant.uses, 1);
    assert_int_equal(p.f.u.grant.offline_ok, 1);
    cJSON_Delete(p.body);
}

static void coupon_grant_reads_every_field_typed(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "coupon.grant",
          "{\"coupon_id\": \"C9\", \"member_id\": \"M1\", \"campaign_id\": \"spring.2026\","
          " \"kind\": \"percent_off\", \"value\": 1500, \"max_off\": 2000, \"min_spend\": 10000,"
          " \"categories\": [\"apparel\", \"shoes\"], \"valid_from\": 10, \"valid_to\": 20,"
          " \"uses\": 3, \"offline_ok\": false, \"version\": 4}",
          0);
    assert_string_equal(p.f.id, "C9");
    assert_string_equal(p.f.u.grant.member_id, "M1");
    assert_string_equal(p.f.u.grant.campaign_id, "spring.2026");
    assert_int_equal(p.f.u.grant.percent, 1);
    assert_int_equal(p.f.u.grant.value, 1500);
    assert_int_equal(p.f.u.grant.max_off, 2000);
    assert_int_equal(p.f.u.grant.min_spend, 10000);
    assert_non_null(p.f.u.grant.categories);
    assert_int_equal(cJSON_GetArraySize(p.f.u.grant.categories), 2);
    assert_string_equal(cJSON_GetArrayItem(p.f.u.grant.categories, 1)->valuestring, "shoes");
    assert_int_equal(p.f.u.grant.valid_from, 10);
    assert_int_equal(p.f.u.grant.valid_to, 20);
    assert_int_equal(p.f.u.grant.uses, 3);
    assert_int_equal(p.f.u.grant.offline_ok, 0);
    assert_int_equal(p.f.version, 4);
    cJSON_Delete(p.body);
}

static void coupon_revoke_reads_the_coupon_id(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "coupon.revoke", base_of("coupon.revoke")->body, 0);
    assert_int_equal(p.f.kind, FACT_COUPON_REVOKE);
    assert_string_equal(p.f.id, "C1");
    assert_int_equal(p.f.version, 1);
    cJSON_Delete(p.body);
}

static void deny_upsert_minimal_body_takes_the_defaults(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "deny.upsert", base_of("deny.upsert")->body, 0);
    assert_int_equal(p.f.kind, FACT_DENY_UPSERT);
    assert_string_equal(p.f.id, "C1");
    assert_int_equal(p.f.version, 1);
    assert_int_equal(p.f.u.deny.member, 0);
    assert_string_equal(p.f.u.deny.reason, "revoked");
    assert_int_equal(p.f.u.deny.lifted, 0);
    cJSON_Delete(p.body);

    parse(&p, "deny.upsert",
          "{\"subject\": \"member\", \"id\": \"M1\", \"reason\": \"blocked\", \"lifted\": true,"
          " \"version\": 2}",
          0);
    assert_string_equal(p.f.id, "M1");
    assert_int_equal(p.f.u.deny.member, 1);
    assert_string_equal(p.f.u.deny.reason, "blocked");
    assert_int_equal(p.f.u.deny.lifted, 1);
    cJSON_Delete(p.body);
}

static void settlement_notice_reads_its_fields(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "settlement.notice", base_of("settlement.notice")->body, 0);
    assert_int_equal(p.f.kind, FACT_SETTLEMENT_NOTICE);
    assert_string_equal(p.f.id, "N1");
    assert_string_equal(p.f.u.settlement.coupon_id, "C1");
    assert_string_equal(p.f.u.settlement.sale_id, "SA1");
    assert_int_equal(p.f.u.settlement.amount, 300);
    assert_int_equal(p.f.version, 1);
    cJSON_Delete(p.body);

    /* the other fields of docs/facts.md are carried along */
    parse(&p, "settlement.notice",
          "{\"notice_id\": \"N2\", \"coupon_id\": \"C1\", \"sale_id\": \"SA1\", \"amount\": 0,"
          " \"campaign_id\": null, \"terminal\": \"T01\", \"reason\": \"redeemed_elsewhere\","
          " \"winner\": {\"store\": \"S002\", \"terminal\": \"T01\", \"sale_id\": \"SB1\","
          " \"at\": 1767225600000}, \"version\": 1}",
          0);
    assert_string_equal(p.f.id, "N2");
    assert_int_equal(p.f.u.settlement.amount, 0);
    cJSON_Delete(p.body);
}

/* ---- the schema tables ------------------------------------------------------------------- */

static const struct row required_rows[] = {
    NO("member.upsert", "'member_id'", GONE("member_id")),
    NO("member.upsert", "'member_id'", NUL("member_id")),
    NO("member.upsert", "'version'", GONE("version")),
    NO("member.upsert", "'plan_until'", TXT("plan", "vip")),
    NO("member.upsert", "'plan_until'", TXT("plan", "vip"), NUL("plan_until")),
    NO("guide.upsert", "'guide_id'", GONE("guide_id")),
    NO("guide.upsert", "'version'", GONE("version")),
    NO("guide.bind", "'member_id'", GONE("member_id")),
    NO("guide.bind", "'until'", GONE("until")),
    NO("guide.bind", "'version'", GONE("version")),
    NO("campaign.upsert", "'campaign_id'", GONE("campaign_id")),
    NO("campaign.upsert", "'valid_from'", GONE("valid_from")),
    NO("campaign.upsert", "'valid_to'", GONE("valid_to")),
    NO("campaign.upsert", "'version'", GONE("version")),
    NO("campaign.withdraw", "'campaign_id'", GONE("campaign_id")),
    NO("campaign.withdraw", "'version'", GONE("version")),
    NO("coupon.grant", "'coupon_id'", GONE("coupon_id")),
    NO("coupon.grant", "'kind'", GONE("kind")),
    NO("coupon.grant", "'value'", GONE("value")),
    NO("coupon.grant", "'valid_from'", GONE("valid_from")),
    NO("coupon.grant", "'valid_to'", GONE("valid_to")),
    NO("coupon.grant", "'version'", GONE("version")),
    NO("coupon.revoke", "'coupon_id'", GONE("coupon_id")),
    NO("coupon.revoke", "'version'", GONE("version")),
    NO("deny.upsert", "'subject'", GONE("subject")),
    NO("deny.upsert", "'id'", GONE("id")),
    NO("deny.upsert", "'reason'", GONE("reason")),
    NO("deny.upsert", "'version'", GONE("version")),
    NO("settlement.notice", "'notice_id'", GONE("notice_id")),
    NO("settlement.notice", "'coupon_id'", GONE("coupon_id")),
    NO("settlement.notice", "'sale_id'", GONE("sale_id")),
    NO("settlement.notice", "'amount'", GONE("amount")),
    NO("settlement.notice", "'version'", GONE("version")),
};

static void a_missing_required_field_is_refused_naming_it(void **state)
{
    (void)state;
    run_rows(required_rows, ARRAY_LEN(required_rows));
}

static const struct row member_rows[] = {
    OK("member.upsert", r_id_len, FACT_ID_MAX, STR("member_id", FACT_ID_MAX)),
    NO("member.upsert", "'member_id'", STR("member_id", FACT_ID_MAX + 1)),
    NO("member.upsert", "'member_id'", STR("member_id", 0)),
    OK("member.upsert", r_phone_key_last, 0xaa, STR("phone_hmac", 64)),
    OK("member.upsert", r_phone_key_last, 0xaf, AS("phone_hmac", 63, "F")),
    NO("member.upsert", "phone_hmac", STR("phone_hmac", 63)),
    NO("member.upsert", "phone_hmac", STR("phone_hmac", 65)),
    NO("member.upsert", "phone_hmac", AS("phone_hmac", 63, "g")),
    NO("member.upsert", "phone_hmac", AS("phone_hmac", 62, "0x")),
    OK("member.upsert", r_tier_len, FACT_TIER_MAX, STR("tier", FACT_TIER_MAX)),
    NO("member.upsert", "'tier'", STR("tier", FACT_TIER_MAX + 1)),
    OK("member.upsert", r_plan_len, FACT_TIER_MAX, STR("plan", FACT_TIER_MAX),
       INT("plan_until", 1)),
    NO("member.upsert", "'plan'", STR("plan", FACT_TIER_MAX + 1), INT("plan_until", 1)),
    OK("member.upsert", r_plan_until, FACT_TIME_MAX, TXT("plan", "vip"),
       INT("plan_until", FACT_TIME_MAX)),
    NO("member.upsert", "'plan_until'", TXT("plan", "vip"), INT("plan_until", FACT_TIME_MAX + 1)),
    NO("member.upsert", "'plan_until'", TXT("plan", "vip"), INT("plan_until", -1)),
    OK("member.upsert", r_points, 0, INT("points", 0)),
    OK("member.upsert", r_points, FACT_POINTS_MAX, INT("points", FACT_POINTS_MAX)),
    NO("member.upsert", "'points'", INT("points", FACT_POINTS_MAX + 1)),
    NO("member.upsert", "'points'", INT("points", -1)),
    NO("member.upsert", "'points'", RAW("points", "1.5")),
    NO("member.upsert", "'points'", RAW("points", "\"5\"")),
    OK("member.upsert", r_points_version, FACT_TIME_MAX, INT("points_version", FACT_TIME_MAX)),
    NO("member.upsert", "'points_version'", INT("points_version", FACT_TIME_MAX + 1)),
    OK("member.upsert", r_blocked, 0, TXT("status", "active")),
    OK("member.upsert", r_blocked, 1, TXT("status", "blocked")),
    NO("member.upsert", "'status'", TXT("status", "Blocked")),
    NO("member.upsert", "'status'", TXT("status", "deleted")),
    NO("member.upsert", "'status'", RAW("status", "1")),
    NO("member.upsert", "'member_id'", RAW("member_id", "1001")),
};

static void member_upsert_fields_are_held_to_the_schema(void **state)
{
    (void)state;
    run_rows(member_rows, ARRAY_LEN(member_rows));
}

static const struct row phone_rows[] = {
    NO("member.upsert", "'phone'", TXT("phone", "13800138000")),
    NO("member.upsert", "'phone'", TXT("phone", "13800138000"), STR("phone_hmac", 64),
       TXT("phone_masked", "138****8000")),
};

static void member_upsert_refuses_a_plaintext_phone(void **state)
{
    (void)state;
    run_rows(phone_rows, ARRAY_LEN(phone_rows));
}

static const struct row guide_rows[] = {
    OK("guide.upsert", r_id_len, FACT_ID_MAX, STR("guide_id", FACT_ID_MAX)),
    NO("guide.upsert", "'guide_id'", STR("guide_id", FACT_ID_MAX + 1)),
    NO("guide.upsert", "'guide_id'", STR("guide_id", 0)),
    OK("guide.upsert", r_name_len, FACT_NAME_MAX, STR("name", FACT_NAME_MAX)),
    NO("guide.upsert", "'name'", STR("name", FACT_NAME_MAX + 1)),
    OK("guide.upsert", r_guide_store_len, FACT_STORE_MAX, STR("store", FACT_STORE_MAX)),
    NO("guide.upsert", "'store'", STR("store", FACT_STORE_MAX + 1)),
    OK("guide.upsert", r_active, 1, TXT("status", "active")),
    OK("guide.upsert", r_active, 0, TXT("status", "inactive")),
    NO("guide.upsert", "'status'", TXT("status", "retired")),
};

static void guide_upsert_fields_are_held_to_the_schema(void **state)
{
    (void)state;
    run_rows(guide_rows, ARRAY_LEN(guide_rows));
}

static const struct row bind_rows[] = {
    OK("guide.bind", r_id_len, FACT_ID_MAX, STR("member_id", FACT_ID_MAX)),
    NO("guide.bind", "'member_id'", STR("member_id", FACT_ID_MAX + 1)),
    OK("guide.bind", r_bind_guide_len, FACT_ID_MAX, STR("guide_id", FACT_ID_MAX)),
    NO("guide.bind", "'guide_id'", STR("guide_id", FACT_ID_MAX + 1)),
    NO("guide.bind", "'guide_id'", STR("guide_id", 0)),
    OK("guide.bind", r_until, 0, INT("until", 0)),
    OK("guide.bind", r_until, FACT_TIME_MAX, INT("until", FACT_TIME_MAX)),
    NO("guide.bind", "'until'", INT("until", FACT_TIME_MAX + 1)),
    NO("guide.bind", "'until'", INT("until", -1)),
    OK("guide.bind", r_bind_guide_len, -1, GONE("guide_id"), GONE("until")),
    OK("guide.bind", r_bind_guide_len, -1, NUL("guide_id"), GONE("until")),
};

static void guide_bind_fields_are_held_to_the_schema(void **state)
{
    (void)state;
    run_rows(bind_rows, ARRAY_LEN(bind_rows));
}

static const struct row campaign_rows[] = {
    OK("campaign.upsert", r_id_len, FACT_ID_MAX, STR("campaign_id", FACT_ID_MAX)),
    NO("campaign.upsert", "campaign_id", STR("campaign_id", FACT_ID_MAX + 1)),
    OK("campaign.upsert", r_priority, FACT_PRIORITY_MAX, INT("priority", FACT_PRIORITY_MAX)),
    OK("campaign.upsert", r_priority, -FACT_PRIORITY_MAX, INT("priority", -FACT_PRIORITY_MAX)),
    NO("campaign.upsert", "'priority'", INT("priority", FACT_PRIORITY_MAX + 1)),
    NO("campaign.upsert", "'priority'", INT("priority", -FACT_PRIORITY_MAX - 1)),
    OK("campaign.upsert", r_c_valid_from, 0, INT("valid_from", 0)),
    NO("campaign.upsert", "'valid_from'", INT("valid_from", -1)),
    OK("campaign.upsert", r_c_valid_to, FACT_TIME_MAX, INT("valid_to", FACT_TIME_MAX)),
    NO("campaign.upsert", "'valid_to'", INT("valid_to", FACT_TIME_MAX + 1)),
    /* its rules are checked too (fact_check_rules' own table is below) */
    NO("campaign.upsert", "'stores'", STRS("stores", FACT_TARGETS_MAX + 1)),
    NO("campaign.upsert", "'earn_per_yuan'",
       INT("points.earn_per_yuan", FACT_EARN_PER_YUAN_MAX + 1)),
};

static void campaign_upsert_fields_are_held_to_the_schema(void **state)
{
    (void)state;
    run_rows(campaign_rows, ARRAY_LEN(campaign_rows));
}

static const struct row grant_rows[] = {
    OK("coupon.grant", r_id_len, FACT_ID_MAX, STR("coupon_id", FACT_ID_MAX)),
    NO("coupon.grant", "'coupon_id'", STR("coupon_id", FACT_ID_MAX + 1)),
    NO("coupon.grant", "'coupon_id'", STR("coupon_id", 0)),
    OK("coupon.grant", r_g_member_len, FACT_ID_MAX, STR("member_id", FACT_ID_MAX)),
    NO("coupon.grant", "'member_id'", STR("member_id", FACT_ID_MAX + 1)),
    OK("coupon.grant", r_g_campaign_len, FACT_ID_MAX, STR("campaign_id", FACT_ID_MAX)),
    NO("coupon.grant", "'campaign_id'", STR("campaign_id", FACT_ID_MAX + 1)),
    NO("coupon.grant", "'kind'", TXT("kind", "percent")),
    NO("coupon.grant", "'kind'", TXT("kind", "")),
    OK("coupon.grant", r_g_value, 1, INT("value", 1)),
    NO("coupon.grant", "'value'", INT("value", 0)),
    OK("coupon.grant", r_g_value, FACT_MONEY_MAX, INT("value", FACT_MONEY_MAX)),
    NO("coupon.grant", "'value'", INT("value", FACT_MONEY_MAX + 1)),
    OK("coupon.grant", r_g_max_off, 0, INT("max_off", 0)),
    OK("coupon.grant", r_g_max_off, FACT_MONEY_MAX, INT("max_off", FACT_MONEY_MAX)),
    NO("coupon.grant", "'max_off'", INT("max_off", FACT_MONEY_MAX + 1)),
    NO("coupon.grant", "'max_off'", INT("max_off", -1)),
    OK("coupon.grant", r_g_min_spend, 0, INT("min_spend", 0)),
    OK("coupon.grant", r_g_min_spend, FACT_MONEY_MAX, INT("min_spend", FACT_MONEY_MAX)),
    NO("coupon.grant", "'min_spend'", INT("min_spend", FACT_MONEY_MAX + 1)),
    NO("coupon.grant", "'min_spend'", INT("min_spend", -1)),
    OK("coupon.grant", r_g_uses, 1, INT("uses", 1)),
    NO("coupon.grant", "'uses'", INT("uses", 0)),
    OK("coupon.grant", r_g_uses, FACT_USES_MAX, INT("uses", FACT_USES_MAX)),
    NO("coupon.grant", "'uses'", INT("uses", FACT_USES_MAX + 1)),
    OK("coupon.grant", r_g_valid_from, 0, INT("valid_from", 0)),
    NO("coupon.grant", "'valid_from'", INT("valid_from", -1)),
    OK("coupon.grant", r_g_valid_to, FACT_TIME_MAX, INT("valid_to", FACT_TIME_MAX)),
    NO("coupon.grant", "'valid_to'", INT("valid_to", FACT_TIME_MAX + 1)),
    OK("coupon.grant", r_g_offline_ok, 1, RAW("offline_ok", "true")),
    OK("coupon.grant", r_g_offline_ok, 0, RAW("offline_ok", "false")),
    NO("coupon.grant", "'offline_ok'", TXT("offline_ok", "yes")),
    NO("coupon.grant", "'offline_ok'", RAW("offline_ok", "0")),
    OK("coupon.grant", r_g_categories, 1, STRS("categories", 1)),
    OK("coupon.grant", r_g_categories, FACT_CATEGORIES_MAX,
       STRS("categories", FACT_CATEGORIES_MAX)),
    NO("coupon.grant", "'categories'", STRS("categories", FACT_CATEGORIES_MAX + 1)),
    NO("coupon.grant", "'categories'", STRS("categories", 0)),
    OK("coupon.grant", r_g_categories, 1, ARR1("categories", FACT_CATEGORY_MAX)),
    NO("coupon.grant", "'categories'", ARR1("categories", FACT_CATEGORY_MAX + 1)),
    SEND_NO("coupon.grant", "'categories'", ARR1("categories", 0)),
    /* An empty category a store applies as what it is: one that matches no line. */
    OK("coupon.grant", r_g_categories, 1, ARR1("categories", 0)),
    NO("coupon.grant", "'categories'", RAW("categories", "[\"apparel\", 1]")),
    NO("coupon.grant", "'categories'", TXT("categories", "apparel")),
    OK("coupon.grant", r_g_categories, -1, NUL("categories")),
};

static void coupon_grant_fields_are_held_to_the_schema(void **state)
{
    (void)state;
    run_rows(grant_rows, ARRAY_LEN(grant_rows));
}

static const struct row percent_rows[] = {
    OK("coupon.grant", r_g_percent, 1, TXT("kind", "percent_off"), INT("value", 1)),
    OK("coupon.grant", r_g_value, 10000, TXT("kind", "percent_off"), INT("value", 10000)),
    NO("coupon.grant", "value", TXT("kind", "percent_off"), INT("value", 10001)),
    OK("coupon.grant", r_g_value, 10001, TXT("kind", "amount_off"), INT("value", 10001)),
};

static void coupon_grant_percent_off_value_is_at_most_10000(void **state)
{
    (void)state;
    run_rows(percent_rows, ARRAY_LEN(percent_rows));
}

static const struct row window_rows[] = {
    OK("coupon.grant", r_g_valid_to, 1001, INT("valid_from", 1000), INT("valid_to", 1001)),
    NO("coupon.grant", "valid_to", INT("valid_from", 1000), INT("valid_to", 1000)),
    NO("coupon.grant", "valid_to", INT("valid_from", 1000), INT("valid_to", 999)),
    OK("campaign.upsert", r_c_valid_to, 1001, INT("valid_from", 1000), INT("valid_to", 1001)),
    NO("campaign.upsert", "valid_to", INT("valid_from", 1000), INT("valid_to", 1000)),
    NO("campaign.upsert", "valid_to", INT("valid_from", 1000), INT("valid_to", 999)),
};

static void valid_to_must_be_after_valid_from(void **state)
{
    (void)state;
    run_rows(window_rows, ARRAY_LEN(window_rows));
}

static const struct row campaign_id_rows[] = {
    SEND_OK("campaign.upsert", r_id_len, 11, TXT("campaign_id", "spring.2026")),
    SEND_OK("campaign.upsert", r_id_len, 6, TXT("campaign_id", "A-z_09")),
    SEND_OK("campaign.upsert", r_id_len, FACT_ID_MAX, AS("campaign_id", FACT_ID_MAX - 1, ".")),
    SEND_NO("campaign.upsert", "campaign_id", STR("campaign_id", FACT_ID_MAX + 1)),
    SEND_NO("campaign.upsert", "campaign_id", STR("campaign_id", 0)),
    SEND_NO("campaign.upsert", "campaign_id", TXT("campaign_id", "a/b")),
    SEND_NO("campaign.upsert", "campaign_id", TXT("campaign_id", "a+")),
    SEND_NO("campaign.upsert", "campaign_id", TXT("campaign_id", "#")),
    SEND_NO("campaign.upsert", "campaign_id", TXT("campaign_id", "a b")),
    SEND_NO("campaign.upsert", "campaign_id", TXT("campaign_id", "caf\xc3\xa9")),
    SEND_OK("campaign.withdraw", r_id_len, FACT_ID_MAX, AS("campaign_id", FACT_ID_MAX - 1, ".")),
    SEND_OK("campaign.withdraw", r_id_len, 11, TXT("campaign_id", "spring.2026")),
    SEND_NO("campaign.withdraw", "campaign_id", STR("campaign_id", FACT_ID_MAX + 1)),
    SEND_NO("campaign.withdraw", "campaign_id", TXT("campaign_id", "a/b")),
    SEND_NO("campaign.withdraw", "campaign_id", TXT("campaign_id", "+")),
    SEND_NO("campaign.withdraw", "campaign_id", TXT("campaign_id", "a#b")),
    /* A store applies any 1..64-byte id, as it always has (a fact file, another HQ). */
    OK("campaign.upsert", r_id_len, 3, TXT("campaign_id", "a b")),
    OK("campaign.upsert", r_id_len, 5, TXT("campaign_id", "caf\xc3\xa9")),
    OK("campaign.withdraw", r_id_len, 3, TXT("campaign_id", "a/b")),
    NO("campaign.upsert", "'campaign_id'", STR("campaign_id", FACT_ID_MAX + 1)),
    NO("campaign.withdraw", "'campaign_id'", STR("campaign_id", 0)),
};

static void campaign_id_sent_must_be_a_topic_id(void **state)
{
    (void)state;
    run_rows(campaign_id_rows, ARRAY_LEN(campaign_id_rows));
}

static const struct row revoke_rows[] = {
    OK("coupon.revoke", r_id_len, FACT_ID_MAX, STR("coupon_id", FACT_ID_MAX)),
    NO("coupon.revoke", "'coupon_id'", STR("coupon_id", FACT_ID_MAX + 1)),
    NO("coupon.revoke", "'coupon_id'", STR("coupon_id", 0)),
};

static void coupon_revoke_fields_are_held_to_the_schema(void **state)
{
    (void)state;
    run_rows(revoke_rows, ARRAY_LEN(revoke_rows));
}

static const struct row deny_rows[] = {
    OK("deny.upsert", r_deny_member, 1, TXT("subject", "member")),
    OK("deny.upsert", r_deny_member, 0, TXT("subject", "coupon")),
    NO("deny.upsert", "'subject'", TXT("subject", "Member")),
    NO("deny.upsert", "'subject'", TXT("subject", "phone")),
    OK("deny.upsert", r_id_len, FACT_ID_MAX, STR("id", FACT_ID_MAX)),
    NO("deny.upsert", "'id'", STR("id", FACT_ID_MAX + 1)),
    NO("deny.upsert", "'id'", STR("id", 0)),
    OK("deny.upsert", r_deny_reason_len, FACT_REASON_MAX, STR("reason", FACT_REASON_MAX)),
    NO("deny.upsert", "'reason'", STR("reason", FACT_REASON_MAX + 1)),
    NO("deny.upsert", "'reason'", STR("reason", 0)),
    OK("deny.upsert", r_deny_lifted, 1, RAW("lifted", "true")),
    OK("deny.upsert", r_deny_lifted, 0, RAW("lifted", "false")),
    NO("deny.upsert", "'lifted'", TXT("lifted", "true")),
};

static void deny_upsert_fields_are_held_to_the_schema(void **state)
{
    (void)state;
    run_rows(deny_rows, ARRAY_LEN(deny_rows));
}

static const struct row reason_rows[] = {
    OK("deny.upsert", r_deny_reason_len, 18, TXT("reason", "redeemed_elsewhere")),
    OK("deny.upsert", r_deny_reason_len, 1, TXT("reason", "_")),
    NO("deny.upsert", "'reason'", TXT("reason", "Blocked")),
    NO("deny.upsert", "'reason'", TXT("reason", "redeemed-elsewhere")),
    NO("deny.upsert", "'reason'", TXT("reason", "reason2")),
    NO("deny.upsert", "'reason'", TXT("reason", "two words")),
    NO("deny.upsert", "'reason'", TXT("reason", "revoked.")),
    NO("deny.upsert", "'reason'", TXT("reason", "caf\xc3\xa9")),
};

static void deny_reason_must_be_lowercase_letters_and_underscores(void **state)
{
    (void)state;
    run_rows(reason_rows, ARRAY_LEN(reason_rows));
}

static const struct row settlement_rows[] = {
    OK("settlement.notice", r_id_len, FACT_ID_MAX, STR("notice_id", FACT_ID_MAX)),
    NO("settlement.notice", "'notice_id'", STR("notice_id", FACT_ID_MAX + 1)),
    OK("settlement.notice", r_s_coupon_len, FACT_ID_MAX, STR("coupon_id", FACT_ID_MAX)),
    NO("settlement.notice", "'coupon_id'", STR("coupon_id", FACT_ID_MAX + 1)),
    OK("settlement.notice", r_s_sale_len, FACT_ID_MAX, STR("sale_id", FACT_ID_MAX)),
    NO("settlement.notice", "'sale_id'", STR("sale_id", FACT_ID_MAX + 1)),
    NO("settlement.notice", "'sale_id'", STR("sale_id", 0)),
    OK("settlement.notice", r_s_amount, 0, INT("amount", 0)),
    OK("settlement.notice", r_s_amount, FACT_MONEY_MAX, INT("amount", FACT_MONEY_MAX)),
    NO("settlement.notice", "'amount'", INT("amount", -1)),
    NO("settlement.notice", "'amount'", RAW("amount", "3.5")),
};

static void settlement_notice_fields_are_held_to_the_schema(void **state)
{
    (void)state;
    run_rows(settlement_rows, ARRAY_LEN(settlement_rows));
}

static const struct row version_rows[] = {
    OK("member.upsert", r_version, 1, INT("version", 1)),
    OK("member.upsert", r_version, FACT_TIME_MAX, INT("version", FACT_TIME_MAX)),
    NO("member.upsert", "'version'", INT("version", FACT_TIME_MAX + 1)),
    NO("member.upsert", "'version'", INT("version", 0)),
    NO("member.upsert", "'version'", INT("version", -1)),
    NO("member.upsert", "'version'", RAW("version", "1.5")),
    NO("member.upsert", "'version'", RAW("version", "\"1\"")),
    NO("member.upsert", "'version'", NUL("version")),
    NO("coupon.grant", "'version'", INT("version", FACT_TIME_MAX + 1)),
    NO("deny.upsert", "'version'", INT("version", 0)),
};

static void version_is_required_by_default_and_1_to_time_max(void **state)
{
    (void)state;
    run_rows(version_rows, ARRAY_LEN(version_rows));
}

static const struct row optional_version_rows[] = {
    OPT_OK("member.upsert", r_version, 0, GONE("version")),
    OPT_OK("guide.upsert", r_version, 0, GONE("version")),
    OPT_OK("guide.bind", r_version, 0, GONE("version")),
    OPT_OK("campaign.upsert", r_version, 0, GONE("version")),
    OPT_OK("campaign.withdraw", r_version, 0, GONE("version")),
    OPT_OK("coupon.grant", r_version, 0, GONE("version")),
    OPT_OK("coupon.revoke", r_version, 0, GONE("version")),
    OPT_OK("deny.upsert", r_version, 0, GONE("version")),
    OPT_OK("settlement.notice", r_version, 0, GONE("version")),
    OPT_OK("member.upsert", r_version, 0, NUL("version")),
    OPT_OK("member.upsert", r_version, 1, INT("version", 1)),
    OPT_OK("coupon.grant", r_version, FACT_TIME_MAX, INT("version", FACT_TIME_MAX)),
    OPT_NO("member.upsert", "'version'", INT("version", 0)),
    OPT_NO("coupon.grant", "'version'", INT("version", FACT_TIME_MAX + 1)),
    OPT_NO("deny.upsert", "'version'", INT("version", -1)),
    OPT_NO("settlement.notice", "'version'", RAW("version", "\"7\"")),
    /* the flag makes only the version optional */
    OPT_NO("member.upsert", "'member_id'", GONE("member_id"), GONE("version")),
};

static void version_is_optional_with_the_flag_and_absent_reads_0(void **state)
{
    (void)state;
    run_rows(optional_version_rows, ARRAY_LEN(optional_version_rows));
}

/* ---- fact_check_rules on a campaign document alone -------------------------------------- */

#define RULES_OK(...)                                                                              \
    {                                                                                              \
        .c = { __VA_ARGS__ }                                                                       \
    }
#define RULES_NO(names, ...)                                                                       \
    {                                                                                              \
        .c = {__VA_ARGS__}, .refused = names                                                       \
    }

static const struct row rules_rows[] = {
    RULES_OK(RAW("coupons", "{}")),
    RULES_OK(STRS("stores", FACT_TARGETS_MAX)),
    RULES_NO("'stores'", STRS("stores", FACT_TARGETS_MAX + 1)),
    RULES_OK(STRS("tiers", FACT_TARGETS_MAX)),
    RULES_NO("'tiers'", STRS("tiers", FACT_TARGETS_MAX + 1)),
    RULES_OK(STRS("plans", FACT_TARGETS_MAX)),
    RULES_NO("'plans'", STRS("plans", FACT_TARGETS_MAX + 1)),
    RULES_OK(ARR1("stores", FACT_TARGET_MAX)),
    RULES_NO("'stores'", ARR1("stores", FACT_TARGET_MAX + 1)),
    RULES_NO("'stores'", TXT("stores", "S001")),
    RULES_NO("'tiers'", RAW("tiers", "[\"gold\", 1]")),
    RULES_OK(INT("points.earn_per_yuan", 0)),
    RULES_OK(INT("points.earn_per_yuan", FACT_EARN_PER_YUAN_MAX)),
    RULES_NO("'earn_per_yuan'", INT("points.earn_per_yuan", FACT_EARN_PER_YUAN_MAX + 1)),
    RULES_NO("'earn_per_yuan'", INT("points.earn_per_yuan", -1)),
    RULES_OK(INT("points.redeem_points_per_yuan", FACT_REDEEM_PPY_MAX)),
    RULES_NO("'redeem_points_per_yuan'",
             INT("points.redeem_points_per_yuan", FACT_REDEEM_PPY_MAX + 1)),
    RULES_OK(INT("points.redeem_max_bp", 10000)),
    RULES_NO("'redeem_max_bp'", INT("points.redeem_max_bp", 10001)),
    RULES_OK(INT("points.tier_multiplier_bp.gold", FACT_MULTIPLIER_BP_MAX)),
    RULES_NO("'tier_multiplier_bp'",
             INT("points.tier_multiplier_bp.gold", FACT_MULTIPLIER_BP_MAX + 1)),
    RULES_NO("'tier_multiplier_bp'", INT("points.tier_multiplier_bp.gold", -1)),
    RULES_OK(INT("points.plan_multiplier_bp.vip", FACT_MULTIPLIER_BP_MAX)),
    RULES_NO("'plan_multiplier_bp'",
             INT("points.plan_multiplier_bp.vip", FACT_MULTIPLIER_BP_MAX + 1)),
    RULES_OK(MAP("points.tier_multiplier_bp", FACT_TARGETS_MAX)),
    RULES_NO("'tier_multiplier_bp'", MAP("points.tier_multiplier_bp", FACT_TARGETS_MAX + 1)),
    RULES_NO("'tier_multiplier_bp'", RAW("points.tier_multiplier_bp", "[15000]")),
    RULES_NO("'points'", RAW("points", "1")),
    RULES_OK(INT("commission.default_bp", 10000)),
    RULES_NO("'default_bp'", INT("commission.default_bp", 10001)),
    RULES_OK(INT("commission.categories.apparel", 10000)),
    RULES_NO("'categories'", INT("commission.categories.apparel", 10001)),
    RULES_OK(MAP("commission.categories", FACT_TARGETS_MAX)),
    RULES_NO("'categories'", MAP("commission.categories", FACT_TARGETS_MAX + 1)),
    RULES_NO("'commission'", RAW("commission", "[]")),
    RULES_OK(RAW("coupons.restore_on_refund", "false")),
    RULES_NO("'coupons'", TXT("coupons.restore_on_refund", "yes")),
    RULES_NO("'coupons'", RAW("coupons", "true")),
};

static void check_rules_takes_each_limit_and_refuses_one_past(void **state)
{
    (void)state;
    struct ml_refusal r = {0};
    cJSON *empty = json("{}");
    assert_int_equal(fact_check_rules(empty, &r), ML_OK);
    cJSON_Delete(empty);
    run_rows(rules_rows, ARRAY_LEN(rules_rows));
}

/* ---- kinds and bodies -------------------------------------------------------------------- */

static void an_unknown_kind_is_refused(void **state)
{
    (void)state;
    static const char *const unknown[] = {
        "member.delete", "MEMBER.UPSERT", "member.upsert ", "member", "hq.time", "",
    };
    for (size_t i = 0; i < ARRAY_LEN(unknown); i++) {
        cJSON *body = json("{\"member_id\": \"M1\", \"version\": 1}");
        struct fact f;
        struct ml_refusal r = {0};
        ml_err err = fact_parse(unknown[i], body, 0, &f, &r);
        cJSON_Delete(body);
        if (err != ML_PARSE || r.http_status != 400 || r.code == NULL ||
            strcmp(r.code, "invalid_request") != 0)
            fail_msg("kind \"%s\": want ML_PARSE 400 invalid_request, got %s %d %s", unknown[i],
                     ml_strerror(err), r.http_status, r.code ? r.code : "(null)");
        if (strstr(r.message, "kind") == NULL || strstr(r.message, unknown[i]) == NULL)
            fail_msg("kind \"%s\": want a message naming the kind, got \"%s\"", unknown[i],
                     r.message);
    }
}

static void a_body_that_is_not_an_object_is_refused(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "[]", "[{\"member_id\": \"M1\", \"version\": 1}]", "\"M1\"", "1", "null", "true"};
    static const char *const kinds[] = {"member.upsert", "coupon.grant", "settlement.notice"};
    for (size_t k = 0; k < ARRAY_LEN(kinds); k++) {
        for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
            cJSON *body = json(bodies[i]);
            struct fact f;
            struct ml_refusal r = {0};
            ml_err err = fact_parse(kinds[k], body, FACT_VERSION_OPTIONAL, &f, &r);
            cJSON_Delete(body);
            if (err != ML_PARSE || r.http_status != 400 || r.code == NULL ||
                strcmp(r.code, "invalid_request") != 0 || strstr(r.message, "object") == NULL)
                fail_msg("%s with body %s: want ML_PARSE 400 invalid_request about an object, "
                         "got %s %d %s \"%s\"",
                         kinds[k], bodies[i], ml_strerror(err), r.http_status,
                         r.code ? r.code : "(null)", r.message);
        }
    }
}

struct per_store_case {
    const char *kind;
    int want;
};

static const struct per_store_case per_store[] = {
    {"member.upsert", 1},
    {"guide.upsert", 1},
    {"guide.bind", 1},
    {"coupon.grant", 1},
    {"coupon.revoke", 1},
    {"deny.upsert", 1},
    {"settlement.notice", 1},
    {"campaign.upsert", 0},
    {"campaign.withdraw", 0},
    {"hq.time", 0},
    {"member.upsertx", 0},
    {"Member.upsert", 0},
    {"", 0},
};

static void per_store_is_1_for_inbox_kinds_and_0_for_campaigns_and_unknown(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(per_store); i++) {
        int got = fact_per_store(per_store[i].kind);
        if (got != per_store[i].want)
            fail_msg("\"%s\": want %d, got %d", per_store[i].kind, per_store[i].want, got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(member_upsert_minimal_body_takes_the_defaults),
        cmocka_unit_test(member_upsert_reads_every_field_typed),
        cmocka_unit_test(guide_upsert_minimal_body_takes_the_defaults),
        cmocka_unit_test(guide_bind_binds_and_unbinds),
        cmocka_unit_test(campaign_upsert_minimal_body_is_read_typed),
        cmocka_unit_test(campaign_upsert_takes_the_documented_example),
        cmocka_unit_test(campaign_withdraw_reads_the_campaign_id),
        cmocka_unit_test(coupon_grant_minimal_body_takes_the_defaults),
        cmocka_unit_test(coupon_grant_reads_every_field_typed),
        cmocka_unit_test(coupon_revoke_reads_the_coupon_id),
        cmocka_unit_test(deny_upsert_minimal_body_takes_the_defaults),
        cmocka_unit_test(settlement_notice_reads_its_fields),
        cmocka_unit_test(a_missing_required_field_is_refused_naming_it),
        cmocka_unit_test(member_upsert_fields_are_held_to_the_schema),
        cmocka_unit_test(member_upsert_refuses_a_plaintext_phone),
        cmocka_unit_test(guide_upsert_fields_are_held_to_the_schema),
        cmocka_unit_test(guide_bind_fields_are_held_to_the_schema),
        cmocka_unit_test(campaign_upsert_fields_are_held_to_the_schema),
        cmocka_unit_test(coupon_grant_fields_are_held_to_the_schema),
        cmocka_unit_test(coupon_grant_percent_off_value_is_at_most_10000),
        cmocka_unit_test(valid_to_must_be_after_valid_from),
        cmocka_unit_test(campaign_id_sent_must_be_a_topic_id),
        cmocka_unit_test(coupon_revoke_fields_are_held_to_the_schema),
        cmocka_unit_test(deny_upsert_fields_are_held_to_the_schema),
        cmocka_unit_test(deny_reason_must_be_lowercase_letters_and_underscores),
        cmocka_unit_test(settlement_notice_fields_are_held_to_the_schema),
        cmocka_unit_test(version_is_required_by_default_and_1_to_time_max),
        cmocka_unit_test(version_is_optional_with_the_flag_and_absent_reads_0),
        cmocka_unit_test(check_rules_takes_each_limit_and_refuses_one_past),
        cmocka_unit_test(an_unknown_kind_is_refused),
        cmocka_unit_test(a_body_that_is_not_an_object_is_refused),
        cmocka_unit_test(per_store_is_1_for_inbox_kinds_and_0_for_campaigns_and_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
