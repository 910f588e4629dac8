/*
 * checkout_test: unit tests for checkout.h (pricing, commit, refund) against a real SQLite
 * store seeded only through HQ facts.
 *
 * Each test gets a fresh database (testdb.h) at a fixed "now". Expected figures are
 * computed by hand in the tables and comments, never by calling money.h, so a rounding or
 * allocation slip in the product shows up as a wrong number here. Commits run inside
 * db_begin()/db_commit() exactly as the API does; dry runs run outside a transaction,
 * as the API runs them.
 */
#include "testdb.h"

#include "checkout.h"
#include "refund.h"
#include "coupon.h"
#include "deny.h"
#include "trust.h"

/* Validity window of every seeded campaign and coupon: now - 30 days .. now + 365 days. */
#define VALID "\"valid_from\":1764633600000,\"valid_to\":1798761600000"
#define T0_PLUS_1D "1767312000000"
#define T0_PLUS_365D "1798761600000"
#define T0_MINUS_1D "1767139200000"
#define T0_TEXT "1767225600000"
#define T0_MINUS_1MS "1767225599999"

#define SALE1 "S001-T01-000001"
#define SALE2 "S001-T01-000002"

/* ------------------------------------------------------------------------------------ */
/* JSON access: dotted paths, digits index arrays ("lines.0.discount").                  */

static const cJSON *jget(const cJSON *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    char *tok = buf;
    while (o != NULL && tok != NULL) {
        char *dot = strchr(tok, '.');
        if (dot != NULL)
            *dot = '\0';
        if (tok[0] >= '0' && tok[0] <= '9')
            o = cJSON_GetArrayItem(o, (int)strtol(tok, NULL, 10));
        else
            o = cJSON_GetObjectItemCaseSensitive(o, tok);
        tok = dot ? dot + 1 : NULL;
    }
    return o;
}

static int64_t jint(const cJSON *o, const char *path)
{
    const cJSON *v = jget(o, path);
    if (!cJSON_IsNumber(v))
        fail_msg("'%s' is not a number in the answer", path);
    return (int64_t)v->valuedouble;
}

/* The string at path, or NULL when it is JSON null. */
static const char *jstr(const cJSON *o, const char *path)
{
    const cJSON *v = jget(o, path);
    if (cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsString(v))
        fail_msg("'%s' is neither a string nor null in the answer", path);
    return v->valuestring;
}

static int jsize(const cJSON *o, const char *path)
{
    const cJSON *v = jget(o, path);
    if (!cJSON_IsArray(v))
        fail_msg("'%s' is not an array in the answer", path);
    return cJSON_GetArraySize(v);
}

/* ------------------------------------------------------------------------------------ */
/* Running checkouts and refunds the way the API does.                                   */

static ml_err co_run(struct testdb *t, const cJSON *body, cJSON **ret_sale, struct ml_refusal *r)
{
    struct checkout_req *req = NULL;
    memset(r, 0, sizeof(*r));
    *ret_sale = NULL;
    ml_err err = checkout_parse(body, t->cfg.terminal, &req, r);
    if (err != ML_OK)
        return err;
    if (checkout_is_dry_run(req)) {
        err = checkout_run(&t->ctx, req, ret_sale, r);
    } else {
        assert_int_equal(db_begin(t->db), ML_OK);
        err = checkout_run(&t->ctx, req, ret_sale, r);
        if (err == ML_OK)
            assert_int_equal(db_commit(t->db), ML_OK);
        else
            db_rollback(t->db);
    }
    checkout_req_free(req);
    return err;
}

static ml_err co_try(struct testdb *t, cJSON **ret_sale, struct ml_refusal *r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ml_err co_try(struct testdb *t, cJSON **ret_sale, struct ml_refusal *r, const char *fmt, ...)
{
    char json[TESTDB_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(json, sizeof(json), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(json));
    cJSON *body = testdb_json(json);
    ml_err err = co_run(t, body, ret_sale, r);
    cJSON_Delete(body);
    return err;
}

/* A checkout that must succeed; caller deletes the answer. */
static cJSON *co_ok(struct testdb *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cJSON *co_ok(struct testdb *t, const char *fmt, ...)
{
    char json[TESTDB_TEXT_MAX];
    struct ml_refusal r;
    cJSON *sale = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(json, sizeof(json), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(json));
    cJSON *body = testdb_json(json);
    ml_err err = co_run(t, body, &sale, &r);
    cJSON_Delete(body);
    if (err != ML_OK)
        fail_msg("checkout refused: %s %s: %s\n  body: %s", ml_strerror(err), r.code ? r.code : "-",
                 r.message, json);
    assert_non_null(sale);
    return sale;
}

/* A checkout that must be refused with `code`; checks nothing was answered. */
static void co_refused(struct testdb *t, ml_err want_err, int want_status, const char *want_code,
                       const char *json)
{
    struct ml_refusal r;
    cJSON *sale = NULL;
    cJSON *body = testdb_json(json);
    ml_err err = co_run(t, body, &sale, &r);
    cJSON_Delete(body);
    if (err != want_err || r.code == NULL || strcmp(r.code, want_code) != 0)
        fail_msg("want %s %s, got %s %s (%s)\n  body: %s", ml_strerror(want_err), want_code,
                 ml_strerror(err), r.code ? r.code : "-", r.message, json);
    assert_int_equal(r.http_status, want_status);
    assert_null(sale);
}

/* body NULL: the whole sale, as the API does for an empty request body. */
static ml_err refund_try(struct testdb *t, const char *sale_id, const char *json, cJSON **ret,
                         struct ml_refusal *r)
{
    cJSON *body = json ? testdb_json(json) : NULL;
    memset(r, 0, sizeof(*r));
    *ret = NULL;
    assert_int_equal(db_begin(t->db), ML_OK);
    ml_err err = refund_run(&t->ctx, sale_id, body, ret, r);
    if (err == ML_OK)
        assert_int_equal(db_commit(t->db), ML_OK);
    else
        db_rollback(t->db);
    cJSON_Delete(body);
    return err;
}

static cJSON *refund_ok(struct testdb *t, const char *sale_id, const char *json)
{
    struct ml_refusal r;
    cJSON *out = NULL;
    ml_err err = refund_try(t, sale_id, json, &out, &r);
    if (err != ML_OK)
        fail_msg("refund of %s %s refused: %s %s: %s", sale_id, json ? json : "(whole)",
                 ml_strerror(err), r.code ? r.code : "-", r.message);
    return out;
}

/* ------------------------------------------------------------------------------------ */
/* Seed data (HQ facts only).                                                             */

/* Guides G01, G02 active, G03 inactive; members for every tier/plan/binding case. */
static void seed_people(struct testdb *t)
{
    testdb_fact(t, "guide.upsert",
                "{\"guide_id\":\"G01\",\"name\":\"Li Na\",\"store\":\"S001\",\"status\":\"active\","
                "\"version\":1}");
    testdb_fact(
        t, "guide.upsert",
        "{\"guide_id\":\"G02\",\"name\":\"Wang Fang\",\"status\":\"active\",\"version\":1}");
    testdb_fact(t, "guide.upsert",
                "{\"guide_id\":\"G03\",\"name\":\"Gone\",\"status\":\"inactive\",\"version\":1}");
    /* gold with an active vip plan, 2000 points */
    testdb_fact(
        t, "member.upsert",
        "{\"member_id\":\"MGV\",\"tier\":\"gold\",\"plan\":\"vip\",\"plan_until\":" T0_PLUS_365D
        ",\"points\":2000,\"points_version\":1,\"status\":\"active\",\"version\":1}");
    testdb_fact(t, "member.upsert",
                "{\"member_id\":\"MB\",\"tier\":\"basic\",\"points\":500,\"points_version\":1,"
                "\"status\":\"active\",\"version\":1}");
    /* gold whose vip plan ended yesterday / ends exactly now */
    testdb_fact(
        t, "member.upsert",
        "{\"member_id\":\"MEXP\",\"tier\":\"gold\",\"plan\":\"vip\",\"plan_until\":" T0_MINUS_1D
        ",\"points\":0,\"points_version\":1,\"status\":\"active\",\"version\":1}");
    testdb_fact(
        t, "member.upsert",
        "{\"member_id\":\"MPNOW\",\"tier\":\"gold\",\"plan\":\"vip\",\"plan_until\":" T0_TEXT
        ",\"points\":0,\"points_version\":1,\"status\":\"active\",\"version\":1}");
    testdb_fact(t, "member.upsert",
                "{\"member_id\":\"MBLK\",\"tier\":\"gold\",\"points\":900,\"points_version\":1,"
                "\"status\":\"blocked\",\"version\":1}");
    static const struct {
        const char *member, *guide, *until;
    } bound[] = {
        {"MBOUND", "G01", T0_PLUS_1D},   /* in date */
        {"MBNOW", "G01", T0_TEXT},       /* binding ends exactly now */
        {"MBPAST", "G01", T0_MINUS_1MS}, /* ended a millisecond ago */
        {"MBINACT", "G03", T0_PLUS_1D},  /* bound to an inactive guide */
    };
    for (size_t i = 0; i < ARRAY_LEN(bound); i++) {
        testdb_factf(
            t, "member.upsert",
            "{\"member_id\":\"%s\",\"tier\":\"silver\",\"status\":\"active\",\"version\":1}",
            bound[i].member);
        testdb_factf(t, "guide.bind",
                     "{\"member_id\":\"%s\",\"guide_id\":\"%s\",\"until\":%s,\"version\":1}",
                     bound[i].member, bound[i].guide, bound[i].until);
    }
}

/* Points campaign "pts": gold x1.5, silver x1.2, vip plan x2. */
static void seed_points(struct testdb *t, int64_t earn_per_yuan, int64_t ppy, int64_t max_bp,
                        int64_t version)
{
    testdb_factf(t, "campaign.upsert",
                 "{\"campaign_id\":\"pts\",\"version\":%lld," VALID ",\"points\":{"
                 "\"earn_per_yuan\":%lld,\"tier_multiplier_bp\":{\"gold\":15000,\"silver\":12000},"
                 "\"plan_multiplier_bp\":{\"vip\":20000},\"redeem_points_per_yuan\":%lld,"
                 "\"redeem_max_bp\":%lld}}",
                 (long long)version, (long long)earn_per_yuan, (long long)ppy, (long long)max_bp);
}

/* Commission campaign "com": 2% by default, apparel 5%, shoes 3%. */
static void seed_commission(struct testdb *t)
{
    testdb_fact(t, "campaign.upsert",
                "{\"campaign_id\":\"com\",\"version\":1," VALID
                ",\"commission\":{\"default_bp\":200,"
                "\"categories\":{\"apparel\":500,\"shoes\":300}}}");
}

/* Coupon policy campaigns: "restore-yes" gives coupons back on refund, "restore-no" not. */
static void seed_coupon_campaigns(struct testdb *t)
{
    testdb_fact(t, "campaign.upsert",
                "{\"campaign_id\":\"restore-yes\",\"version\":1," VALID
                ",\"coupons\":{\"restore_on_refund\":true}}");
    testdb_fact(t, "campaign.upsert",
                "{\"campaign_id\":\"restore-no\",\"version\":1," VALID
                ",\"coupons\":{\"restore_on_refund\":false}}");
}

/* A bearer coupon; `terms` is the JSON members after coupon_id (kind, value, ...). */
static void grant(struct testdb *t, const char *coupon_id, const char *terms)
{
    testdb_factf(t, "coupon.grant", "{\"coupon_id\":\"%s\",%s," VALID ",\"version\":1}", coupon_id,
                 terms);
}

static int64_t count_rows(struct testdb *t, const char *table)
{
    return testdb_i64f(t, "SELECT count(*) FROM %s", table);
}

/* ------------------------------------------------------------------------------------ */
/* Coupon discounts.                                                                      */

struct alloc_case {
    const char *what;
    const char *coupon; /* terms */
    size_t n;
    const char *category[7];
    int64_t qty[7];
    int64_t price[7];
    int64_t want_amount;
    int64_t want_part[7];
};

/* One case per row. */
/* clang-format off */
static const struct alloc_case alloc_cases[] = {
    {"3 equal lines, 100 off: 34/33/33, leftover to the lowest index",
     "\"kind\":\"amount_off\",\"value\":100",
     3, {"a", "a", "a"}, {1, 1, 1}, {1000, 1000, 1000}, 100, {34, 33, 33}},
    {"3 equal lines, 200 off: 67/67/66",
     "\"kind\":\"amount_off\",\"value\":200",
     3, {"a", "a", "a"}, {1, 1, 1}, {1000, 1000, 1000}, 200, {67, 67, 66}},
    {"uneven lines 1999/1/5000, 1000 off",
     "\"kind\":\"amount_off\",\"value\":1000",
     3, {"a", "a", "a"}, {1, 1, 1}, {1999, 1, 5000}, 1000, {286, 0, 714}},
    {"33.33% of 1001 = 333.63 -> 334 over 333/667/1",
     "\"kind\":\"percent_off\",\"value\":3333",
     3, {"a", "a", "a"}, {1, 1, 1}, {333, 667, 1}, 334, {111, 223, 0}},
    {"apparel-only coupon skips the food line",
     "\"kind\":\"amount_off\",\"value\":500,\"categories\":[\"apparel\"]",
     3, {"apparel", "food", "apparel"}, {1, 1, 1}, {3000, 2000, 1000}, 500, {375, 0, 125}},
    {"5 over 7 equal lines: one each to the first five",
     "\"kind\":\"amount_off\",\"value\":5",
     7, {"a", "a", "a", "a", "a", "a", "a"}, {1, 1, 1, 1, 1, 1, 1},
     {100, 100, 100, 100, 100, 100, 100}, 5, {1, 1, 1, 1, 1, 0, 0}},
    {"qty counts: 3 x 333 and 1 x 1, 10 off",
     "\"kind\":\"amount_off\",\"value\":10",
     2, {"a", "a"}, {3, 1}, {333, 1}, 10, {10, 0}},
};
/* clang-format on */

static cJSON *items_json(size_t n, const char *const *category, const int64_t *qty,
                         const int64_t *price)
{
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        char sku[32];
        snprintf(sku, sizeof(sku), "SKU%zu", i + 1);
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "sku", sku);
        cJSON_AddStringToObject(it, "category", category[i]);
        cJSON_AddNumberToObject(it, "qty", (double)qty[i]);
        cJSON_AddNumberToObject(it, "unit_price", (double)price[i]);
        cJSON_AddItemToArray(items, it);
    }
    return items;
}

static void discounts_are_allocated_over_eligible_lines_and_sum_exactly(void **state)
{
    struct testdb *t = *state;
    for (size_t c = 0; c < ARRAY_LEN(alloc_cases); c++) {
        const struct alloc_case *k = &alloc_cases[c];
        char id[32];
        snprintf(id, sizeof(id), "ALLOC%zu", c);
        grant(t, id, k->coupon);
        cJSON *body = cJSON_CreateObject();
        cJSON_AddItemToObject(body, "items", items_json(k->n, k->category, k->qty, k->price));
        cJSON *coupons = cJSON_AddArrayToObject(body, "coupons");
        cJSON_AddItemToArray(coupons, cJSON_CreateString(id));
        cJSON *sale = NULL;
        struct ml_refusal r;
        ml_err err = co_run(t, body, &sale, &r);
        cJSON_Delete(body);
        if (err != ML_OK)
            fail_msg("%s: refused %s", k->what, r.code);
        const char *sale_id = jstr(sale, "sale_id");
        assert_non_null(sale_id);

        int64_t sum = 0, subtotal = 0;
        int listed = 0;
        for (size_t i = 0; i < k->n; i++) {
            char p[64];
            snprintf(p, sizeof(p), "lines.%zu.discount", i);
            int64_t got = jint(sale, p);
            if (got != k->want_part[i])
                fail_msg("%s: line %zu discount %lld, want %lld", k->what, i + 1, (long long)got,
                         (long long)k->want_part[i]);
            snprintf(p, sizeof(p), "lines.%zu.net", i);
            assert_int_equal(jint(sale, p), k->qty[i] * k->price[i] - k->want_part[i]);
            sum += got;
            subtotal += k->qty[i] * k->price[i];
            listed += got > 0;
        }
        assert_int_equal(sum, k->want_amount);
        assert_int_equal(jsize(sale, "discounts"), 1);
        assert_int_equal(jint(sale, "discounts.0.amount"), k->want_amount);
        assert_int_equal(jsize(sale, "discounts.0.lines"), listed);
        assert_int_equal(jint(sale, "discount"), k->want_amount);
        assert_int_equal(jint(sale, "subtotal"), subtotal);
        assert_int_equal(jint(sale, "total"), subtotal - k->want_amount);
        /* What was stored agrees with the answer. */
        assert_int_equal(
            testdb_i64f(t, "SELECT sum(discount) FROM sale_lines WHERE sale_id = '%s'", sale_id),
            k->want_amount);
        assert_int_equal(
            testdb_i64f(t, "SELECT amount FROM redemptions WHERE sale_id = '%s'", sale_id),
            k->want_amount);
        cJSON_Delete(sale);
    }
}

struct percent_case {
    int64_t gross, bp, max_off, want;
};

static const struct percent_case percent_cases[] = {
    {125, 1000, 0, 12},           /* 12.5 -> 12 */
    {135, 1000, 0, 14},           /* 13.5 -> 14 */
    {85, 1000, 0, 8},             /* 8.5 -> 8 */
    {75, 1000, 0, 8},             /* 7.5 -> 8 */
    {25, 5000, 0, 12},            /* 12.5 -> 12 */
    {12345, 1500, 0, 1852},       /* 1851.75 -> 1852 */
    {99, 10000, 0, 99},           /* 100% */
    {100000, 1000, 5000, 5000},   /* 10000 capped */
    {100000, 1000, 9999, 9999},   /* one below the uncapped amount */
    {100000, 1000, 10000, 10000}, /* cap equal to the amount */
    {100000, 1000, 10001, 10000}, /* cap above: no effect */
};

static void percent_off_rounds_half_even_and_is_capped_by_max_off(void **state)
{
    struct testdb *t = *state;
    for (size_t c = 0; c < ARRAY_LEN(percent_cases); c++) {
        const struct percent_case *k = &percent_cases[c];
        char id[32], terms[128];
        snprintf(id, sizeof(id), "PCT%zu", c);
        snprintf(terms, sizeof(terms), "\"kind\":\"percent_off\",\"value\":%lld,\"max_off\":%lld",
                 (long long)k->bp, (long long)k->max_off);
        grant(t, id, terms);
        cJSON *sale = co_ok(t,
                            "{\"dry_run\":true,\"coupons\":[\"%s\"],\"items\":[{\"sku\":\"X\","
                            "\"category\":\"food\",\"qty\":1,\"unit_price\":%lld}]}",
                            id, (long long)k->gross);
        if (jint(sale, "discount") != k->want)
            fail_msg("case %zu: %lld bp of %lld (max_off %lld): got %lld, want %lld", c,
                     (long long)k->bp, (long long)k->gross, (long long)k->max_off,
                     (long long)jint(sale, "discount"), (long long)k->want);
        assert_int_equal(jint(sale, "total"), k->gross - k->want);
        cJSON_Delete(sale);
    }
}

/* A coupon whose discount rounds to nothing is refused, so it does not spend a use. */
static void coupon_with_zero_discount_is_not_applicable_and_keeps_its_use(void **state)
{
    struct testdb *t = *state;
    grant(t, "TINY", "\"kind\":\"percent_off\",\"value\":1");
    co_refused(t, ML_REFUSED, 409, "coupon_not_applicable",
               "{\"coupons\":[\"TINY\"],\"items\":[{\"sku\":\"X\",\"category\":\"food\","
               "\"qty\":1,\"unit_price\":10}]}");
    assert_int_equal(testdb_i64(t, "SELECT uses_left FROM coupons WHERE coupon_id = 'TINY'"), 1);
}

static void amount_off_larger_than_eligible_remainder_is_capped(void **state)
{
    struct testdb *t = *state;
    grant(t, "BIG", "\"kind\":\"amount_off\",\"value\":5000,\"categories\":[\"apparel\"]");
    grant(t, "FIRST", "\"kind\":\"amount_off\",\"value\":2500,\"categories\":[\"apparel\"]");
    grant(t, "SECOND", "\"kind\":\"amount_off\",\"value\":1000,\"categories\":[\"apparel\"]");
    static const char items[] =
        "[{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":3000},"
        "{\"sku\":\"F\",\"category\":\"food\",\"qty\":1,\"unit_price\":5000}]";

    /* 5000 off on 3000 of apparel: 3000, the food line untouched. */
    cJSON *sale = co_ok(t, "{\"coupons\":[\"BIG\"],\"items\":%s}", items);
    assert_int_equal(jint(sale, "discounts.0.amount"), 3000);
    assert_int_equal(jint(sale, "lines.0.net"), 0);
    assert_int_equal(jint(sale, "lines.1.discount"), 0);
    assert_int_equal(jint(sale, "total"), 5000);
    assert_int_equal(testdb_i64(t, "SELECT amount FROM redemptions WHERE coupon_id = 'BIG'"), 3000);
    cJSON_Delete(sale);

    /* The second coupon sees only what the first left unpaid: 3000 - 2500 = 500. */
    sale = co_ok(t, "{\"coupons\":[\"FIRST\",\"SECOND\"],\"items\":%s}", items);
    assert_int_equal(jint(sale, "discounts.0.amount"), 2500);
    assert_int_equal(jint(sale, "discounts.1.amount"), 500);
    assert_int_equal(jint(sale, "discount"), 3000);
    assert_int_equal(jint(sale, "lines.0.net"), 0);
    assert_int_equal(jint(sale, "total"), 5000);
    cJSON_Delete(sale);
}

static void two_coupons_apply_in_request_order(void **state)
{
    struct testdb *t = *state;
    grant(t, "AMT", "\"kind\":\"amount_off\",\"value\":2000");
    grant(t, "PCT", "\"kind\":\"percent_off\",\"value\":1000");
    static const char items[] =
        "[{\"sku\":\"X\",\"category\":\"food\",\"qty\":2,\"unit_price\":5000}]";

    /* 2000 off, then 10% of the 8000 left. */
    cJSON *sale = co_ok(t, "{\"dry_run\":true,\"coupons\":[\"AMT\",\"PCT\"],\"items\":%s}", items);
    assert_string_equal(jstr(sale, "discounts.0.coupon_id"), "AMT");
    assert_int_equal(jint(sale, "discounts.0.amount"), 2000);
    assert_string_equal(jstr(sale, "discounts.1.coupon_id"), "PCT");
    assert_int_equal(jint(sale, "discounts.1.amount"), 800);
    assert_int_equal(jint(sale, "total"), 7200);
    cJSON_Delete(sale);

    /* 10% of 10000, then 2000 off. */
    sale = co_ok(t, "{\"dry_run\":true,\"coupons\":[\"PCT\",\"AMT\"],\"items\":%s}", items);
    assert_string_equal(jstr(sale, "discounts.0.coupon_id"), "PCT");
    assert_int_equal(jint(sale, "discounts.0.amount"), 1000);
    assert_int_equal(jint(sale, "discounts.1.amount"), 2000);
    assert_int_equal(jint(sale, "total"), 7000);
    cJSON_Delete(sale);
}

/* ------------------------------------------------------------------------------------ */
/* Points.                                                                                */

struct earn_case {
    const char *member;
    int64_t net;
    int64_t want;
};

/*
 * earn_per_yuan 2: points = half-even(net * 2 * tier_bp * plan_bp / (100 * 10000 * 10000)).
 * gold+vip = x3 -> net * 0.06; basic = x1 -> net * 0.02; gold without a live plan = x1.5 ->
 * net * 0.03.
 */
static const struct earn_case earn_cases[] = {
    {"MGV", 12345, 741},    /* 740.70 */
    {"MGV", 6175, 370},     /* 370.5 -> even 370 */
    {"MGV", 6225, 374},     /* 373.5 -> even 374 */
    {"MGV", 25, 2},         /* 1.5 -> 2 */
    {"MGV", 75, 4},         /* 4.5 -> 4 */
    {"MB", 12345, 247},     /* 246.9 */
    {"MB", 12325, 246},     /* 246.5 -> 246 */
    {"MB", 12375, 248},     /* 247.5 -> 248 */
    {"MB", 25, 0},          /* 0.5 -> 0: no ledger entry, no event */
    {"MEXP", 12345, 370},   /* plan ended yesterday: 370.35 */
    {"MEXP", 12350, 370},   /* 370.5 -> 370 */
    {"MEXP", 12450, 374},   /* 373.5 -> 374 */
    {"MEXP", 50, 2},        /* 1.5 -> 2 */
    {"MPNOW", 12450, 374},  /* plan_until == now: the plan is over */
    {"MBOUND", 12345, 296}, /* silver x1.2: 296.28 */
};

static void points_earned_follow_tier_and_live_plan_multipliers(void **state)
{
    struct testdb *t = *state;
    seed_people(t);
    seed_points(t, 2, 100, 5000, 1);
    for (size_t c = 0; c < ARRAY_LEN(earn_cases); c++) {
        const struct earn_case *k = &earn_cases[c];
        int64_t ledger_before = count_rows(t, "points_ledger");
        int64_t events_before =
            testdb_i64(t, "SELECT count(*) FROM outbox WHERE type = 'points.changed'");
        int64_t avail_before = testdb_i64f(
            t,
            "SELECT points_confirmed + (SELECT coalesce(sum(delta), 0) FROM points_ledger p "
            "WHERE p.member_id = m.member_id) FROM members m WHERE member_id = '%s'",
            k->member);
        cJSON *sale = co_ok(t,
                            "{\"member\":\"%s\",\"items\":[{\"sku\":\"X\",\"category\":\"food\","
                            "\"qty\":1,\"unit_price\":%lld}]}",
                            k->member, (long long)k->net);
        const char *sale_id = jstr(sale, "sale_id");
        if (jint(sale, "points.earned") != k->want)
            fail_msg("%s on %lld: earned %lld, want %lld", k->member, (long long)k->net,
                     (long long)jint(sale, "points.earned"), (long long)k->want);
        assert_int_equal(jint(sale, "lines.0.points_earned"), k->want);
        assert_string_equal(jstr(sale, "points.campaign_id"), "pts");
        assert_int_equal(jint(sale, "member.points_available"), avail_before + k->want);
        if (k->want > 0) {
            assert_int_equal(count_rows(t, "points_ledger"), ledger_before + 1);
            assert_int_equal(testdb_i64f(t,
                                         "SELECT delta FROM points_ledger WHERE sale_id = '%s' "
                                         "AND reason = 'earn' AND member_id = '%s'",
                                         sale_id, k->member),
                             k->want);
            assert_int_equal(
                testdb_i64(t, "SELECT count(*) FROM outbox WHERE type = 'points.changed'"),
                events_before + 1);
        } else {
            assert_int_equal(count_rows(t, "points_ledger"), ledger_before);
            assert_int_equal(
                testdb_i64(t, "SELECT count(*) FROM outbox WHERE type = 'points.changed'"),
                events_before);
        }
        cJSON_Delete(sale);
    }
}

static void points_are_earned_on_the_net_after_coupons_and_points(void **state)
{
    struct testdb *t = *state;
    seed_people(t);
    seed_points(t, 2, 100, 5000, 1);
    grant(t, "C1000", "\"kind\":\"amount_off\",\"value\":1000");
    /* 10000 - 1000 coupon - 500 points = 8500 net; x3 at 2 per yuan: 510. */
    cJSON *sale = co_ok(t, "{\"member\":\"MGV\",\"coupons\":[\"C1000\"],\"points_to_redeem\":500,"
                           "\"items\":[{\"sku\":\"X\",\"category\":\"food\",\"qty\":1,"
                           "\"unit_price\":10000}]}");
    assert_int_equal(jint(sale, "total"), 8500);
    assert_int_equal(jint(sale, "points.value"), 500);
    assert_int_equal(jint(sale, "points.spent"), 500);
    assert_int_equal(jint(sale, "points.earned"), 510);
    assert_int_equal(jint(sale, "member.points_available"), 2000 - 500 + 510);
    assert_int_equal(testdb_i64(t, "SELECT sum(delta) FROM points_ledger WHERE member_id = 'MGV'"),
                     10);
    cJSON_Delete(sale);
    /* An anonymous sale earns nothing and writes no ledger entry. */
    sale = co_ok(t, "{\"items\":[{\"sku\":\"X\",\"category\":\"food\",\"qty\":1,"
                    "\"unit_price\":10000}]}");
    assert_int_equal(jint(sale, "points.earned"), 0);
    assert_null(jstr(sale, "member"));
    assert_int_equal(count_rows(t, "points_ledger"), 2);
    cJSON_Delete(sale);
}

struct redeem_case {
    int64_t ppy, max_bp, bill, request;
    int64_t want_value, want_spent;
    const char *want_capped_by; /* NULL: not capped */
};

/* MGV has 2000 points available. */
static const struct redeem_case redeem_cases[] = {
    {100, 5000, 10000, 500, 500, 500, NULL},
    {100, 5000, 10000, 2000, 2000, 2000, NULL}, /* exactly what is available */
    {100, 5000, 10000, 2001, 2000, 2000, "available"},
    {100, 5000, 10000, 3000, 2000, 2000, "available"},
    {100, 5000, 1000, 500, 500, 500, NULL}, /* exactly half the bill */
    {100, 5000, 1000, 501, 500, 500, "bill_share"},
    {100, 5000, 1001, 800, 500, 500, "bill_share"},     /* floor(1001 * 50%) */
    {100, 1000, 10000, 3000, 1000, 1000, "bill_share"}, /* both caps: the bill share wins */
    {150, 10000, 10000, 100, 66, 99, NULL},             /* floor(100*100/150)=66; ceil(66*1.5)=99 */
    {150, 10000, 10000, 101, 67, 101, NULL},            /* ceil(100.5) = 101 */
    {150, 5000, 100, 1000, 50, 75, "bill_share"},
    {30, 10000, 10000, 7, 23, 7, NULL},  /* ceil(6.9) = 7 */
    {1000, 10000, 10000, 9, 0, 0, NULL}, /* 9 points buy less than 1 fen */
};

static void points_redemption_is_capped_by_available_points_and_bill_share(void **state)
{
    struct testdb *t = *state;
    seed_people(t);
    for (size_t c = 0; c < ARRAY_LEN(redeem_cases); c++) {
        const struct redeem_case *k = &redeem_cases[c];
        seed_points(t, 1, k->ppy, k->max_bp, (int64_t)c + 1);
        cJSON *sale = co_ok(t,
                            "{\"dry_run\":true,\"member\":\"MGV\",\"points_to_redeem\":%lld,"
                            "\"items\":[{\"sku\":\"A\",\"category\":\"food\",\"qty\":1,"
                            "\"unit_price\":%lld}]}",
                            (long long)k->request, (long long)k->bill);
        const char *capped = jstr(sale, "points.capped_by");
        if (jint(sale, "points.value") != k->want_value ||
            jint(sale, "points.spent") != k->want_spent ||
            (capped == NULL) != (k->want_capped_by == NULL) ||
            (capped != NULL && strcmp(capped, k->want_capped_by) != 0))
            fail_msg("case %zu (ppy %lld, max %lld bp, bill %lld, request %lld): value %lld "
                     "spent %lld capped_by %s; want %lld %lld %s",
                     c, (long long)k->ppy, (long long)k->max_bp, (long long)k->bill,
                     (long long)k->request, (long long)jint(sale, "points.value"),
                     (long long)jint(sale, "points.spent"), capped ? capped : "null",
                     (long long)k->want_value, (long long)k->want_spent,
                     k->want_capped_by ? k->want_capped_by : "null");
        assert_int_equal(jint(sale, "points.requested"), k->request);
        assert_int_equal(jint(sale, "lines.0.points_value"), k->want_value);
        assert_int_equal(jint(sale, "lines.0.points_spent"), k->want_spent);
        assert_int_equal(jint(sale, "total"), k->bill - k->want_value);
        cJSON_Delete(sale);
    }
    assert_int_equal(count_rows(t, "points_ledger"), 0);
}

static void points_spent_is_the_ceiling_of_the_value_and_never_above_the_request(void **state)
{
    struct testdb *t = *state;
    static const int64_t ppys[] = {1, 7, 30, 99, 100, 101, 150, 333, 1000, 1000000};
    testdb_fact(t, "member.upsert",
                "{\"member_id\":\"RICH\",\"points\":1000000000,\"points_version\":1,"
                "\"version\":1}");
    for (size_t p = 0; p < ARRAY_LEN(ppys); p++) {
        seed_points(t, 1, ppys[p], 10000, (int64_t)p + 1);
        for (int64_t req = 1; req <= 250; req++) {
            cJSON *sale = co_ok(t,
                                "{\"dry_run\":true,\"member\":\"RICH\",\"points_to_redeem\":%lld,"
                                "\"items\":[{\"sku\":\"A\",\"category\":\"x\",\"qty\":1,"
                                "\"unit_price\":100000000}]}",
                                (long long)req);
            int64_t value = jint(sale, "points.value"), spent = jint(sale, "points.spent");
            /* The most money the points buy, and the fewest points that money costs. */
            int64_t want_value = req * 100 / ppys[p];
            int64_t want_spent = (want_value * ppys[p] + 99) / 100;
            if (value != want_value || spent != want_spent || spent > req)
                fail_msg("ppy %lld, request %lld: value %lld spent %lld; want %lld %lld",
                         (long long)ppys[p], (long long)req, (long long)value, (long long)spent,
                         (long long)want_value, (long long)want_spent);
            cJSON_Delete(sale);
        }
    }
}

static void points_without_a_member_is_member_required(void **state)
{
    struct testdb *t = *state;
    seed_points(t, 1, 100, 5000, 1);
    co_refused(t, ML_PARSE, 400, "member_required",
               "{\"points_to_redeem\":100,\"items\":[{\"sku\":\"A\",\"category\":\"x\","
               "\"qty\":1,\"unit_price\":1000}]}");
    assert_int_equal(count_rows(t, "sales"), 0);
}

static void points_without_a_redeeming_campaign_are_unavailable(void **state)
{
    struct testdb *t = *state;
    static const char body[] = "{\"member\":\"MGV\",\"points_to_redeem\":100,\"items\":[{\"sku\":"
                               "\"A\",\"category\":\"x\",\"qty\":1,\"unit_price\":1000}]}";
    seed_people(t);
    /* No points campaign at all. */
    co_refused(t, ML_REFUSED, 409, "points_redemption_unavailable", body);
    /* A points campaign that earns but does not let points pay. */
    testdb_fact(t, "campaign.upsert",
                "{\"campaign_id\":\"earn-only\",\"version\":1," VALID
                ",\"points\":{\"earn_per_yuan\":1}}");
    co_refused(t, ML_REFUSED, 409, "points_redemption_unavailable", body);
    assert_int_equal(count_rows(t, "sales"), 0);
    assert_int_equal(count_rows(t, "points_ledger"), 0);
    assert_int_equal(count_rows(t, "outbox"), 0);
    /* Without points the same sale goes through. */
    cJSON *sale = co_ok(t, "{\"member\":\"MGV\",\"items\":[{\"sku\":\"A\",\"category\":\"x\","
                           "\"qty\":1,\"unit_price\":1000}]}");
    cJSON_Delete(sale);
}

/* ------------------------------------------------------------------------------------ */
/* Members and guides.                                                                    */

static void blocked_member_is_refused_member_blocked(void **state)
{
    struct testdb *t = *state;
    seed_people(t);
    co_refused(t, ML_REFUSED, 403, "member_blocked",
               "{\"member\":\"MBLK\",\"items\":[{\"sku\":\"A\",\"category\":\"x\",\"qty\":1,"
               "\"unit_price\":1000}]}");
    co_refused(t, ML_REFUSED, 403, "member_blocked",
               "{\"dry_run\":true,\"member\":\"MBLK\",\"items\":[{\"sku\":\"A\",\"category\":"
               "\"x\",\"qty\":1,\"unit_price\":1000}]}");
    assert_int_equal(count_rows(t, "sales"), 0);
    assert_int_equal(count_rows(t, "outbox"), 0);
}

static void unknown_member_is_member_not_found(void **state)
{
    struct testdb *t = *state;
    seed_people(t);
    co_refused(t, ML_NOENTRY, 404, "member_not_found",
               "{\"member\":\"NOBODY\",\"items\":[{\"sku\":\"A\",\"category\":\"x\",\"qty\":1,"
               "\"unit_price\":1000}]}");
    assert_int_equal(count_rows(t, "sales"), 0);
    assert_int_equal(count_rows(t, "outbox"), 0);
}

struct guide_case {
    const char *member;     /* NULL: anonymous */
    const char *guide;      /* NULL: none given */
    const char *want_guide; /* NULL: no attribution */
    const char *want_source;
    const char *want_code; /* non-NULL: refused with this code */
};

static const struct guide_case guide_cases[] = {
    {"MBOUND", "G02", "G02", "explicit", NULL}, /* explicit beats the bound guide */
    {"MBOUND", NULL, "G01", "bound", NULL},
    {"MBNOW", NULL, NULL, NULL, NULL},   /* guide_until == now: binding over */
    {"MBPAST", NULL, NULL, NULL, NULL},  /* expired binding */
    {"MBINACT", NULL, NULL, NULL, NULL}, /* bound guide is inactive */
    {"MBPAST", "G02", "G02", "explicit", NULL},
    {NULL, "G01", "G01", "explicit", NULL},
    {"MGV", NULL, NULL, NULL, NULL},                  /* no binding */
    {NULL, "G03", NULL, NULL, "guide_not_found"},     /* inactive */
    {NULL, "GXX", NULL, NULL, "guide_not_found"},     /* unknown */
    {"MBOUND", "G03", NULL, NULL, "guide_not_found"}, /* no fallback to the bound guide */
};

static void guide_attribution_explicit_beats_bound_and_bound_needs_a_live_binding(void **state)
{
    struct testdb *t = *state;
    seed_people(t);
    seed_commission(t);
    for (size_t c = 0; c < ARRAY_LEN(guide_cases); c++) {
        const struct guide_case *k = &guide_cases[c];
        char m[64] = "", g[64] = "", body[512];
        if (k->member)
            snprintf(m, sizeof(m), "\"member\":\"%s\",", k->member);
        if (k->guide)
            snprintf(g, sizeof(g), "\"guide\":\"%s\",", k->guide);
        snprintf(body, sizeof(body),
                 "{%s%s\"items\":[{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,"
                 "\"unit_price\":10000}]}",
                 m, g);
        int64_t sales = count_rows(t, "sales"), comms = count_rows(t, "commissions");
        if (k->want_code != NULL) {
            co_refused(t, ML_NOENTRY, 404, k->want_code, body);
            assert_int_equal(count_rows(t, "sales"), sales);
            continue;
        }
        cJSON *sale = co_ok(t, "%s", body);
        const char *sale_id = jstr(sale, "sale_id");
        if (k->want_guide == NULL) {
            if (jstr(sale, "guide") != NULL || jstr(sale, "commission") != NULL)
                fail_msg("case %zu: %s: attributed to a guide, want none", c, body);
            assert_int_equal(count_rows(t, "commissions"), comms);
            assert_int_equal(
                testdb_i64f(t, "SELECT guide_id IS NULL FROM sales WHERE sale_id = '%s'", sale_id),
                1);
        } else {
            const char *got = jstr(sale, "guide.guide_id");
            if (got == NULL || strcmp(got, k->want_guide) != 0)
                fail_msg("case %zu: %s: guide %s, want %s", c, body, got ? got : "none",
                         k->want_guide);
            assert_string_equal(jstr(sale, "guide.source"), k->want_source);
            assert_string_equal(jstr(sale, "commission.guide_id"), k->want_guide);
            assert_int_equal(jint(sale, "commission.amount"), 500); /* 5% of apparel 10000 */
            assert_int_equal(testdb_i64f(t,
                                         "SELECT count(*) FROM sales WHERE sale_id = '%s' AND "
                                         "guide_id = '%s' AND guide_source = '%s'",
                                         sale_id, k->want_guide, k->want_source),
                             1);
            assert_int_equal(testdb_i64f(t,
                                         "SELECT sum(amount) FROM commissions WHERE sale_id = "
                                         "'%s' AND guide_id = '%s'",
                                         sale_id, k->want_guide),
                             500);
        }
        cJSON_Delete(sale);
    }
}

struct commission_line {
    const char *category;
    int64_t net;
    int64_t want_bp, want;
};

static const struct commission_line commission_lines[] = {
    {"apparel", 12345, 500, 617}, /* 617.25 */
    {"shoes", 10050, 300, 302},   /* 301.5 -> even 302 */
    {"food", 1025, 200, 20},      /* default rate; 20.5 -> even 20 */
    {"food", 1075, 200, 22},      /* 21.5 -> even 22 */
    {"apparel", 4321, 500, 216},  /* 216.05 */
    {"toys", 0, 200, 0},          /* a free item earns nothing */
};

static void commission_per_line_is_half_even_at_category_rate_else_default(void **state)
{
    struct testdb *t = *state;
    seed_people(t);
    seed_commission(t);
    const size_t n = ARRAY_LEN(commission_lines);
    const char *cats[ARRAY_LEN(commission_lines)];
    int64_t qty[ARRAY_LEN(commission_lines)], price[ARRAY_LEN(commission_lines)];
    int64_t want_total = 0;
    for (size_t i = 0; i < n; i++) {
        cats[i] = commission_lines[i].category;
        qty[i] = 1;
        price[i] = commission_lines[i].net;
        want_total += commission_lines[i].want;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "guide", "G01");
    cJSON_AddItemToObject(body, "items", items_json(n, cats, qty, price));
    cJSON *sale = NULL;
    struct ml_refusal r;
    assert_int_equal(co_run(t, body, &sale, &r), ML_OK);
    cJSON_Delete(body);
    const char *sale_id = jstr(sale, "sale_id");
    for (size_t i = 0; i < n; i++) {
        char p[64];
        snprintf(p, sizeof(p), "lines.%zu.commission_bp", i);
        assert_int_equal(jint(sale, p), commission_lines[i].want_bp);
        snprintf(p, sizeof(p), "lines.%zu.commission", i);
        if (jint(sale, p) != commission_lines[i].want)
            fail_msg("line %zu (%s, net %lld): commission %lld, want %lld", i + 1,
                     commission_lines[i].category, (long long)commission_lines[i].net,
                     (long long)jint(sale, p), (long long)commission_lines[i].want);
        assert_int_equal(testdb_i64f(t,
                                     "SELECT amount FROM commissions WHERE sale_id = '%s' AND "
                                     "line_no = %zu AND rate_bp = %lld AND guide_id = 'G01'",
                                     sale_id, i + 1, (long long)commission_lines[i].want_bp),
                         commission_lines[i].want);
    }
    assert_int_equal(jint(sale, "commission.amount"), want_total);
    assert_string_equal(jstr(sale, "commission.campaign_id"), "com");
    assert_int_equal(testdb_i64f(t, "SELECT commission FROM sales WHERE sale_id = '%s'", sale_id),
                     want_total);
    cJSON_Delete(sale);

    /* Commission is on the net after discounts: 10000 - 1000 = 9000 at 5% = 450. */
    grant(t, "C1000", "\"kind\":\"amount_off\",\"value\":1000");
    sale = co_ok(t, "{\"guide\":\"G02\",\"coupons\":[\"C1000\"],\"items\":[{\"sku\":\"A\","
                    "\"category\":\"apparel\",\"qty\":1,\"unit_price\":10000}]}");
    assert_int_equal(jint(sale, "lines.0.commission"), 450);
    assert_int_equal(jint(sale, "commission.amount"), 450);
    cJSON_Delete(sale);
}

/* ------------------------------------------------------------------------------------ */
/* What a sale writes.                                                                    */

static const char *const ledger_tables[] = {"sales",         "sale_lines",  "redemptions",
                                            "points_ledger", "commissions", "outbox"};

static void dry_run_writes_nothing(void **state)
{
    struct testdb *t = *state;
    seed_people(t);
    seed_points(t, 2, 100, 5000, 1);
    seed_commission(t);
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"MINE\",\"member_id\":\"MGV\",\"kind\":\"amount_off\","
                "\"value\":500," VALID ",\"version\":1}");
    /* One committed sale first, so "nothing" is measured against a non-empty ledger. */
    cJSON *sale = co_ok(t, "{\"member\":\"MB\",\"guide\":\"G01\",\"items\":[{\"sku\":\"A\","
                           "\"category\":\"apparel\",\"qty\":1,\"unit_price\":5000}]}");
    cJSON_Delete(sale);

    int64_t before[ARRAY_LEN(ledger_tables)];
    for (size_t i = 0; i < ARRAY_LEN(ledger_tables); i++)
        before[i] = count_rows(t, ledger_tables[i]);
    char *coupons = testdb_dump(t, "SELECT * FROM coupons ORDER BY coupon_id");
    char *state_rows = testdb_dump(t, "SELECT * FROM sync_state ORDER BY key");

    sale = co_ok(t, "{\"dry_run\":true,\"member\":\"MGV\",\"guide\":\"G01\","
                    "\"coupons\":[\"MINE\"],\"points_to_redeem\":300,\"items\":[{\"sku\":\"A\","
                    "\"category\":\"apparel\",\"qty\":2,\"unit_price\":5000}]}");
    /* It priced everything... */
    assert_true(cJSON_IsTrue(jget(sale, "dry_run")));
    assert_null(jstr(sale, "sale_id"));
    assert_int_equal(jint(sale, "discount"), 500);
    assert_int_equal(jint(sale, "points.spent"), 300);
    assert_true(jint(sale, "points.earned") > 0);
    assert_true(jint(sale, "commission.amount") > 0);
    cJSON_Delete(sale);

    /* ...and wrote nothing. */
    for (size_t i = 0; i < ARRAY_LEN(ledger_tables); i++)
        if (count_rows(t, ledger_tables[i]) != before[i])
            fail_msg("dry run changed the row count of %s", ledger_tables[i]);
    char *coupons_after = testdb_dump(t, "SELECT * FROM coupons ORDER BY coupon_id");
    char *state_after = testdb_dump(t, "SELECT * FROM sync_state ORDER BY key");
    assert_string_equal(coupons_after, coupons);
    assert_string_equal(state_after, state_rows);
    free(coupons);
    free(coupons_after);
    free(state_rows);
    free(state_after);

    /* The next real sale still gets the next number. */
    sale = co_ok(t, "{\"items\":[{\"sku\":\"A\",\"category\":\"x\",\"qty\":1,\"unit_price\":1}]}");
    assert_string_equal(jstr(sale, "sale_id"), SALE2);
    cJSON_Delete(sale);
}

struct event_want {
    const char *type;
    const char *sale_id;
};

/* The outbox from seq `from` on must be exactly `want`, with seq gapless. */
static void assert_outbox_from(struct testdb *t, int64_t from, const struct event_want *want,
                               size_t n)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db_sqlite(t->db),
                                        "SELECT seq, type, payload FROM outbox WHERE seq >= ?1 "
                                        "ORDER BY seq",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(s, 1, from);
    size_t i = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(s, 0);
        const char *type = (const char *)sqlite3_column_text(s, 1);
        if (i >= n)
            fail_msg("unexpected event seq %lld %s", (long long)seq, type);
        if (seq != from + (int64_t)i || strcmp(type, want[i].type) != 0)
            fail_msg("event %zu: seq %lld %s, want seq %lld %s", i, (long long)seq, type,
                     (long long)(from + (int64_t)i), want[i].type);
        cJSON *env = testdb_json((const char *)sqlite3_column_text(s, 2));
        assert_int_equal(jint(env, "seq"), seq);
        assert_string_equal(jstr(env, "type"), want[i].type);
        assert_string_equal(jstr(env, "store"), "S001");
        assert_string_equal(jstr(env, "terminal"), "T01");
        assert_int_equal(jint(env, "at"), testdb_clock);
        assert_non_null(jstr(env, "id"));
        assert_non_null(jstr(env, "hlc"));
        assert_string_equal(jstr(env, "body.sale_id"), want[i].sale_id);
        cJSON_Delete(env);
        i++;
    }
    sqlite3_finalize(s);
    assert_int_equal(i, n);
}

static void commit_writes_exactly_its_events_with_gapless_seq(void **state)
{
    struct testdb *t = *state;
    seed_people(t);
    seed_points(t, 2, 100, 5000, 1);
    seed_commission(t);
    grant(t, "B100", "\"kind\":\"amount_off\",\"value\":100");
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"MINE\",\"member_id\":\"MGV\",\"kind\":\"percent_off\","
                "\"value\":1000," VALID ",\"version\":1}");

    /* Coupons, points both ways and a guide: five events. */
    cJSON *sale = co_ok(t, "{\"member\":\"MGV\",\"guide\":\"G02\",\"coupons\":[\"B100\",\"MINE\"],"
                           "\"points_to_redeem\":500,\"items\":[{\"sku\":\"A\",\"category\":"
                           "\"apparel\",\"qty\":1,\"unit_price\":10000}]}");
    assert_string_equal(jstr(sale, "sale_id"), SALE1);
    cJSON_Delete(sale);
    static const struct event_want first[] = {
        {"sale.completed", SALE1}, {"coupon.redeemed", SALE1},     {"coupon.redeemed", SALE1},
        {"points.changed", SALE1}, {"commission.recorded", SALE1},
    };
    assert_outbox_from(t, 1, first, ARRAY_LEN(first));
    char *redeemed = testdb_dump(t, "SELECT group_concat(json_extract(payload, '$.body.coupon_id')"
                                    " || ':' || json_extract(payload, '$.body.use_no')) FROM "
                                    "(SELECT payload FROM outbox WHERE type = 'coupon.redeemed' "
                                    "ORDER BY seq)");
    assert_string_equal(redeemed, "B100:1,MINE:1\n");
    free(redeemed);

    /* A refused sale leaves no trace and no gap. */
    struct ml_refusal r;
    cJSON *none = NULL;
    assert_int_equal(co_try(t, &none, &r,
                            "{\"coupons\":[\"B100\"],\"items\":[{\"sku\":\"A\",\"category\":"
                            "\"x\",\"qty\":1,\"unit_price\":1000}]}"),
                     ML_REFUSED);
    assert_string_equal(r.code, "coupon_already_redeemed");
    assert_int_equal(count_rows(t, "outbox"), 5);

    /* Anonymous, no guide: just the sale. */
    sale =
        co_ok(t, "{\"items\":[{\"sku\":\"A\",\"category\":\"x\",\"qty\":1,\"unit_price\":1000}]}");
    assert_string_equal(jstr(sale, "sale_id"), SALE2);
    cJSON_Delete(sale);
    static const struct event_want second[] = {{"sale.completed", SALE2}};
    assert_outbox_from(t, 6, second, ARRAY_LEN(second));

    /* A member earning points, no guide: the sale and its points. */
    sale = co_ok(t, "{\"member\":\"MB\",\"items\":[{\"sku\":\"A\",\"category\":\"x\",\"qty\":1,"
                    "\"unit_price\":1000}]}");
    assert_string_equal(jstr(sale, "sale_id"), "S001-T01-000003");
    cJSON_Delete(sale);
    static const struct event_want third[] = {{"sale.completed", "S001-T01-000003"},
                                              {"points.changed", "S001-T01-000003"}};
    assert_outbox_from(t, 7, third, ARRAY_LEN(third));
    assert_int_equal(testdb_i64(t, "SELECT count(*) = max(seq) AND min(seq) = 1 FROM outbox"), 1);
    assert_int_equal(count_rows(t, "outbox"), 8);
}

/* ------------------------------------------------------------------------------------ */
/* Limits.                                                                                */

struct limit_case {
    const char *what;
    int items, coupons;
    int64_t qty, price;
    size_t sku_len, category_len, member_len;
    int64_t points;
    int ok;
};

static const struct limit_case limit_cases[] = {
    {"200 items", 200, 0, 1, 100, 3, 4, 0, 0, 1},
    {"201 items", 201, 0, 1, 100, 3, 4, 0, 0, 0},
    {"no items", 0, 0, 1, 100, 3, 4, 0, 0, 0},
    {"10 coupons", 1, 10, 1, 100, 3, 4, 0, 0, 1},
    {"11 coupons", 1, 11, 1, 100, 3, 4, 0, 0, 0},
    {"qty 9999", 1, 0, 9999, 100, 3, 4, 0, 0, 1},
    {"qty 10000", 1, 0, 10000, 100, 3, 4, 0, 0, 0},
    {"qty 0", 1, 0, 0, 100, 3, 4, 0, 0, 0},
    {"unit_price 1000000000", 1, 0, 1, 1000000000, 3, 4, 0, 0, 1},
    {"unit_price 1000000001", 1, 0, 1, 1000000001, 3, 4, 0, 0, 0},
    {"unit_price 0", 1, 0, 1, 0, 3, 4, 0, 0, 1},
    {"unit_price -1", 1, 0, 1, -1, 3, 4, 0, 0, 0},
    {"sku 64 bytes", 1, 0, 1, 100, 64, 4, 0, 0, 1},
    {"sku 65 bytes", 1, 0, 1, 100, 65, 4, 0, 0, 0},
    {"sku empty", 1, 0, 1, 100, 0, 4, 0, 0, 0},
    {"category 32 bytes", 1, 0, 1, 100, 3, 32, 0, 0, 1},
    {"category 33 bytes", 1, 0, 1, 100, 3, 33, 0, 0, 0},
    {"member id 64 bytes", 1, 0, 1, 100, 3, 4, 64, 0, 1},
    {"member id 65 bytes", 1, 0, 1, 100, 3, 4, 65, 0, 0},
    {"points_to_redeem 1000000000", 1, 0, 1, 100, 3, 4, 64, 1000000000, 1},
    {"points_to_redeem 1000000001", 1, 0, 1, 100, 3, 4, 64, 1000000001, 0},
    {"subtotal 10^12 (the sale cap)", 1, 0, 1000, 1000000000, 3, 4, 0, 0, 1},
    {"subtotal past the sale cap", 1, 0, 1001, 1000000000, 3, 4, 0, 0, 0},
    {"everything at its maximum", 200, 10, 5, 1000000000, 64, 32, 64, 1000000000, 1},
};

static cJSON *limit_body(const struct limit_case *k)
{
    char sku[80], cat[80], member[80];
    memset(sku, 'S', k->sku_len);
    sku[k->sku_len] = '\0';
    memset(cat, 'c', k->category_len);
    cat[k->category_len] = '\0';
    memset(member, 'M', k->member_len);
    member[k->member_len] = '\0';
    cJSON *body = cJSON_CreateObject();
    if (k->member_len > 0)
        cJSON_AddStringToObject(body, "member", member);
    if (k->points > 0)
        cJSON_AddNumberToObject(body, "points_to_redeem", (double)k->points);
    cJSON *items = cJSON_AddArrayToObject(body, "items");
    for (int i = 0; i < k->items; i++) {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "sku", sku);
        cJSON_AddStringToObject(it, "category", cat);
        cJSON_AddNumberToObject(it, "qty", (double)k->qty);
        cJSON_AddNumberToObject(it, "unit_price", (double)k->price);
        cJSON_AddItemToArray(items, it);
    }
    if (k->coupons > 0) {
        cJSON *coupons = cJSON_AddArrayToObject(body, "coupons");
        for (int i = 0; i < k->coupons; i++) {
            char id[32];
            snprintf(id, sizeof(id), "L%02d", i + 1);
            cJSON_AddItemToArray(coupons, cJSON_CreateString(id));
        }
    }
    return body;
}

static void every_request_limit_holds_at_the_limit_and_refuses_one_past(void **state)
{
    struct testdb *t = *state;
    char member[80];
    memset(member, 'M', 64);
    member[64] = '\0';
    testdb_factf(t, "member.upsert",
                 "{\"member_id\":\"%s\",\"tier\":\"gold\",\"points\":5000,\"points_version\":1,"
                 "\"version\":1}",
                 member);
    seed_points(t, 100, 100, 10000, 1); /* the largest earn rate, to stress the arithmetic */
    testdb_fact(t, "guide.upsert", "{\"guide_id\":\"G01\",\"version\":1}");
    seed_commission(t);
    for (int i = 1; i <= 11; i++) {
        char id[32];
        snprintf(id, sizeof(id), "L%02d", i);
        grant(t, id, "\"kind\":\"amount_off\",\"value\":1,\"uses\":1000");
    }
    for (size_t c = 0; c < ARRAY_LEN(limit_cases); c++) {
        const struct limit_case *k = &limit_cases[c];
        int64_t sales = count_rows(t, "sales");
        cJSON *body = limit_body(k);
        cJSON *sale = NULL;
        struct ml_refusal r;
        ml_err err = co_run(t, body, &sale, &r);
        cJSON_Delete(body);
        if (k->ok) {
            if (err != ML_OK)
                fail_msg("%s: refused %s: %s", k->what, r.code ? r.code : "-", r.message);
            int64_t subtotal = (int64_t)k->items * k->qty * k->price;
            assert_int_equal(jint(sale, "subtotal"), subtotal);
            assert_int_equal(jint(sale, "discount"), k->coupons);
            assert_int_equal(jsize(sale, "lines"), k->items);
            assert_int_equal(count_rows(t, "sales"), sales + 1);
            assert_int_equal(testdb_i64f(t,
                                         "SELECT sum(gross) FROM sale_lines WHERE sale_id = '%s'",
                                         jstr(sale, "sale_id")),
                             subtotal);
            cJSON_Delete(sale);
        } else {
            if (err != ML_PARSE || r.code == NULL || strcmp(r.code, "invalid_request") != 0)
                fail_msg("%s: want ML_PARSE invalid_request, got %s %s", k->what, ml_strerror(err),
                         r.code ? r.code : "-");
            assert_int_equal(r.http_status, 400);
            assert_null(sale);
            assert_int_equal(count_rows(t, "sales"), sales);
        }
    }
}

/* Campaigns for other stores, however many and however high their priority, never hide
 * the one that targets this store. */
static void many_campaigns_for_other_stores_do_not_hide_this_stores_campaign(void **state)
{
    struct testdb *t = *state;
    testdb_fact(t, "member.upsert", "{\"member_id\":\"M\",\"tier\":\"basic\",\"version\":1}");
    for (int i = 0; i < 80; i++)
        testdb_factf(t, "campaign.upsert",
                     "{\"campaign_id\":\"other-%02d\",\"version\":1,\"priority\":9," VALID
                     ",\"stores\":[\"S999\"],\"points\":{\"earn_per_yuan\":50},"
                     "\"commission\":{\"default_bp\":900}}",
                     i);
    testdb_fact(t, "campaign.upsert",
                "{\"campaign_id\":\"mine\",\"version\":1,\"priority\":0," VALID
                ",\"stores\":[\"S001\"],\"points\":{\"earn_per_yuan\":2}}");
    cJSON *sale = co_ok(t, "{\"dry_run\":true,\"member\":\"M\",\"items\":[{\"sku\":\"A\","
                           "\"category\":\"x\",\"qty\":1,\"unit_price\":10000}]}");
    assert_string_equal(jstr(sale, "points.campaign_id"), "mine");
    assert_int_equal(jint(sale, "points.earned"), 200);
    cJSON_Delete(sale);
}

static void sku_that_is_not_utf8_is_invalid_request(void **state)
{
    struct testdb *t = *state;
    co_refused(t, ML_PARSE, 400, "invalid_request",
               "{\"items\":[{\"sku\":\"A\xff\",\"category\":\"x\",\"qty\":1,\"unit_price\":1}]}");
    co_refused(t, ML_PARSE, 400, "invalid_request",
               "{\"items\":[{\"sku\":\"\xed\xa0\x80\",\"category\":\"x\",\"qty\":1,"
               "\"unit_price\":1}]}"); /* an encoded surrogate */
}

static void duplicate_coupon_id_in_a_request_is_refused(void **state)
{
    struct testdb *t = *state;
    grant(t, "TWICE", "\"kind\":\"amount_off\",\"value\":100,\"uses\":5");
    co_refused(t, ML_PARSE, 400, "invalid_request",
               "{\"coupons\":[\"TWICE\",\"TWICE\"],\"items\":[{\"sku\":\"A\",\"category\":\"x\","
               "\"qty\":1,\"unit_price\":1000}]}");
    assert_int_equal(count_rows(t, "redemptions"), 0);
    assert_int_equal(testdb_i64(t, "SELECT uses_left FROM coupons WHERE coupon_id = 'TWICE'"), 5);
}

/* ------------------------------------------------------------------------------------ */
/* Refunds.                                                                               */

/*
 * MGV (gold+vip, 2000 points), explicit guide G01, 1000 points redeemed:
 *   line  gross  points_value  net   earned  spent  commission
 *   1     10000  555           9445  567     555    472 (5%)
 *   2      5000  278           4722  283     278    142 (3%, 141.66)
 *   3      3000  167           2833  170     167     57 (2%, 56.66)
 * points value 1000 over 10000/5000/3000: 555.6/277.8/166.7 -> 555/278/167;
 * earned 17000 * 0.06 = 1020 over the nets: 566.7/283.3/170.0 -> 567/283/170.
 */
static void seed_refund_sale(struct testdb *t)
{
    seed_people(t);
    seed_points(t, 2, 100, 5000, 1);
    seed_commission(t);
    cJSON *sale = co_ok(t, "{\"member\":\"MGV\",\"guide\":\"G01\",\"points_to_redeem\":1000,"
                           "\"items\":[{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,"
                           "\"unit_price\":10000},{\"sku\":\"S\",\"category\":\"shoes\",\"qty\":1,"
                           "\"unit_price\":5000},{\"sku\":\"F\",\"category\":\"food\",\"qty\":1,"
                           "\"unit_price\":3000}]}");
    assert_string_equal(jstr(sale, "sale_id"), SALE1);
    static const int64_t want[3][5] = {
        {9445, 567, 555, 472, 555}, {4722, 283, 278, 142, 278}, {2833, 170, 167, 57, 167}};
    for (int i = 0; i < 3; i++) {
        char p[64];
        snprintf(p, sizeof(p), "lines.%d.net", i);
        assert_int_equal(jint(sale, p), want[i][0]);
        snprintf(p, sizeof(p), "lines.%d.points_earned", i);
        assert_int_equal(jint(sale, p), want[i][1]);
        snprintf(p, sizeof(p), "lines.%d.points_spent", i);
        assert_int_equal(jint(sale, p), want[i][2]);
        snprintf(p, sizeof(p), "lines.%d.commission", i);
        assert_int_equal(jint(sale, p), want[i][3]);
        snprintf(p, sizeof(p), "lines.%d.points_value", i);
        assert_int_equal(jint(sale, p), want[i][4]);
    }
    assert_int_equal(jint(sale, "total"), 17000);
    cJSON_Delete(sale);
}

#define LEDGER_SUM "SELECT coalesce(sum(delta), 0) FROM points_ledger WHERE sale_id = '" SALE1 "'"
#define COMMISSION_SUM                                                                             \
    "SELECT coalesce(sum(amount), 0) FROM commissions WHERE sale_id = '" SALE1 "'"

static void partial_refund_reverses_exactly_that_lines_points_and_commission(void **state)
{
    struct testdb *t = *state;
    seed_refund_sale(t);
    assert_int_equal(testdb_i64(t, LEDGER_SUM), 1020 - 1000);
    assert_int_equal(testdb_i64(t, COMMISSION_SUM), 472 + 142 + 57);
    int64_t events = count_rows(t, "outbox");

    cJSON *out = refund_ok(t, SALE1, "{\"lines\":[2]}");
    assert_string_equal(jstr(out, "refund_id"), SALE1 "-R1");
    assert_int_equal(jsize(out, "lines"), 1);
    assert_int_equal(jint(out, "lines.0"), 2);
    assert_int_equal(jint(out, "amount"), 4722);
    assert_int_equal(jint(out, "points.earned_reversed"), 283);
    assert_int_equal(jint(out, "points.spent_returned"), 278);
    assert_int_equal(jint(out, "commission_reversed"), 142);
    assert_int_equal(jsize(out, "coupons_restored"), 0);
    cJSON_Delete(out);

    /* What is left is exactly lines 1 and 3. */
    assert_int_equal(testdb_i64(t, LEDGER_SUM), (567 + 170) - (555 + 167));
    assert_int_equal(testdb_i64(t, "SELECT delta FROM points_ledger WHERE reason = 'refund'"),
                     278 - 283);
    assert_int_equal(testdb_i64(t, COMMISSION_SUM), 472 + 57);
    assert_int_equal(
        testdb_i64(t, "SELECT amount FROM commissions WHERE amount < 0 AND line_no = 2"), -142);
    assert_int_equal(testdb_i64(t, "SELECT refunded FROM sales WHERE sale_id = '" SALE1 "'"), 4722);
    assert_int_equal(
        testdb_i64(t, "SELECT group_concat(line_no) FROM sale_lines WHERE refund_id IS NOT NULL"),
        2);
    static const struct event_want want[] = {
        {"sale.refunded", SALE1}, {"points.changed", SALE1}, {"commission.recorded", SALE1}};
    assert_outbox_from(t, events + 1, want, ARRAY_LEN(want));
}

static void refunding_the_same_line_again_is_already_refunded_and_changes_nothing(void **state)
{
    struct testdb *t = *state;
    seed_refund_sale(t);
    cJSON *out = refund_ok(t, SALE1, "{\"lines\":[2]}");
    cJSON_Delete(out);
    static const char snapshot[] =
        "SELECT (SELECT group_concat(entry_id || ':' || delta) FROM points_ledger), "
        "(SELECT group_concat(entry_id || ':' || amount) FROM commissions), "
        "(SELECT count(*) FROM outbox), (SELECT refunded FROM sales), "
        "(SELECT group_concat(line_no || ':' || coalesce(refund_id, '-')) FROM sale_lines), "
        "(SELECT group_concat(key || '=' || value) FROM sync_state)";
    char *before = testdb_dump(t, snapshot);

    static const char *const again[] = {"{\"lines\":[2]}", "{\"lines\":[1,2]}",
                                        "{\"lines\":[3,2]}"};
    for (size_t i = 0; i < ARRAY_LEN(again); i++) {
        struct ml_refusal r;
        cJSON *none = NULL;
        assert_int_equal(refund_try(t, SALE1, again[i], &none, &r), ML_REFUSED);
        assert_string_equal(r.code, "already_refunded");
        assert_int_equal(r.http_status, 409);
        assert_null(none);
        char *after = testdb_dump(t, snapshot);
        assert_string_equal(after, before);
        free(after);
    }
    free(before);
}

static void whole_refund_after_a_partial_one_refunds_only_the_rest(void **state)
{
    struct testdb *t = *state;
    seed_refund_sale(t);
    cJSON *out = refund_ok(t, SALE1, "{\"lines\":[2]}");
    cJSON_Delete(out);

    out = refund_ok(t, SALE1, NULL);
    assert_string_equal(jstr(out, "refund_id"), SALE1 "-R2");
    assert_int_equal(jsize(out, "lines"), 2);
    assert_int_equal(jint(out, "lines.0"), 1);
    assert_int_equal(jint(out, "lines.1"), 3);
    assert_int_equal(jint(out, "amount"), 9445 + 2833);
    assert_int_equal(jint(out, "points.earned_reversed"), 567 + 170);
    assert_int_equal(jint(out, "points.spent_returned"), 555 + 167);
    assert_int_equal(jint(out, "commission_reversed"), 472 + 57);
    cJSON_Delete(out);

    /* Everything reversed exactly once. */
    assert_int_equal(testdb_i64(t, LEDGER_SUM), 0);
    assert_int_equal(testdb_i64(t, COMMISSION_SUM), 0);
    assert_int_equal(testdb_i64(t, "SELECT refunded FROM sales"), 17000);
    assert_int_equal(testdb_i64(t, "SELECT sum(delta) FROM points_ledger WHERE member_id = 'MGV'"),
                     0);

    /* Nothing left: a whole refund (empty body or {}) and a line refund are refused. */
    static const char *const bodies[] = {NULL, "{}", "{\"lines\":null}", "{\"lines\":[1]}"};
    for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
        struct ml_refusal r;
        cJSON *none = NULL;
        assert_int_equal(refund_try(t, SALE1, bodies[i], &none, &r), ML_REFUSED);
        assert_string_equal(r.code, "already_refunded");
    }
    assert_int_equal(count_rows(t, "points_ledger"), 4);
    assert_int_equal(count_rows(t, "commissions"), 6);
}

static void refund_of_a_line_out_of_range_is_invalid_request(void **state)
{
    struct testdb *t = *state;
    seed_refund_sale(t);
    static const char *const bodies[] = {
        "{\"lines\":[0]}",     "{\"lines\":[4]}",
        "{\"lines\":[-1]}",    "{\"lines\":[1.5]}",
        "{\"lines\":[\"1\"]}", "{\"lines\":[]}",
        "{\"lines\":[1,1]}",   "{\"lines\":2}",
        "{\"lines\":[1,4]}",   "[1]",
    };
    char *before = testdb_dump(t, "SELECT (SELECT count(*) FROM points_ledger), (SELECT count(*) "
                                  "FROM commissions), (SELECT count(*) FROM outbox), "
                                  "(SELECT count(*) FROM sale_lines WHERE refund_id IS NULL)");
    for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
        struct ml_refusal r;
        cJSON *none = NULL;
        ml_err err = refund_try(t, SALE1, bodies[i], &none, &r);
        if (err != ML_PARSE || r.code == NULL || strcmp(r.code, "invalid_request") != 0)
            fail_msg("refund %s: got %s %s, want invalid_request", bodies[i], ml_strerror(err),
                     r.code ? r.code : "-");
        assert_int_equal(r.http_status, 400);
    }
    char *after = testdb_dump(t, "SELECT (SELECT count(*) FROM points_ledger), (SELECT count(*) "
                                 "FROM commissions), (SELECT count(*) FROM outbox), "
                                 "(SELECT count(*) FROM sale_lines WHERE refund_id IS NULL)");
    assert_string_equal(after, before);
    free(before);
    free(after);
}

static void refund_of_an_unknown_sale_is_sale_not_found(void **state)
{
    struct testdb *t = *state;
    seed_refund_sale(t);
    static const char *const ids[] = {"S001-T01-000002", "", "nope"};
    for (size_t i = 0; i < ARRAY_LEN(ids); i++) {
        struct ml_refusal r;
        cJSON *none = NULL;
        assert_int_equal(refund_try(t, ids[i], NULL, &none, &r), ML_NOENTRY);
        assert_string_equal(r.code, "sale_not_found");
        assert_int_equal(r.http_status, 404);
    }
    assert_int_equal(count_rows(t, "sales"), 1);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM outbox WHERE type = 'sale.refunded'"), 0);
}

/*
 * Lines: apparel 6000, apparel 4000, food 2000. Coupons in order:
 *   CY  member MGV, restore-yes, 1000 off apparel -> lines 1,2
 *   CN  bearer, restore-no, 500 off apparel       -> lines 1,2
 *   CX  bearer, no campaign, 100 off everything    -> lines 1,2,3
 */
static void seed_coupon_sale(struct testdb *t)
{
    seed_people(t);
    seed_coupon_campaigns(t);
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"CY\",\"member_id\":\"MGV\",\"campaign_id\":\"restore-yes\","
                "\"kind\":\"amount_off\",\"value\":1000,\"categories\":[\"apparel\"]," VALID
                ",\"version\":1}");
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"CN\",\"campaign_id\":\"restore-no\",\"kind\":\"amount_off\","
                "\"value\":500,\"categories\":[\"apparel\"]," VALID ",\"version\":1}");
    grant(t, "CX", "\"kind\":\"amount_off\",\"value\":100");
    cJSON *sale =
        co_ok(t, "{\"member\":\"MGV\",\"coupons\":[\"CY\",\"CN\",\"CX\"],\"items\":["
                 "{\"sku\":\"A1\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":6000},"
                 "{\"sku\":\"A2\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":4000},"
                 "{\"sku\":\"F\",\"category\":\"food\",\"qty\":1,\"unit_price\":2000}]}");
    assert_string_equal(jstr(sale, "sale_id"), SALE1);
    assert_int_equal(jsize(sale, "discounts.0.lines"), 2);
    assert_int_equal(jsize(sale, "discounts.1.lines"), 2);
    assert_int_equal(jsize(sale, "discounts.2.lines"), 3);
    cJSON_Delete(sale);
}

static const char *coupon_state(struct testdb *t, const char *id, char *buf, size_t len)
{
    char *d = testdb_dumpf(t, "SELECT state, uses_left FROM coupons WHERE coupon_id = '%s'", id);
    snprintf(buf, len, "%s", d);
    free(d);
    return buf;
}

static void
coupon_is_restored_only_when_all_its_lines_are_refunded_and_its_campaign_says_so(void **state)
{
    struct testdb *t = *state;
    char buf[64];
    seed_coupon_sale(t);

    /* Line 1 only: every coupon still has an unrefunded line. */
    cJSON *out = refund_ok(t, SALE1, "{\"lines\":[1]}");
    assert_int_equal(jsize(out, "coupons_restored"), 0);
    cJSON_Delete(out);
    assert_string_equal(coupon_state(t, "CY", buf, sizeof(buf)), "redeemed|0\n");

    /* Line 3: CX still has line 2. */
    out = refund_ok(t, SALE1, "{\"lines\":[3]}");
    assert_int_equal(jsize(out, "coupons_restored"), 0);
    cJSON_Delete(out);

    /* Line 2 completes every coupon; only the restore-yes one comes back. */
    out = refund_ok(t, SALE1, "{\"lines\":[2]}");
    assert_int_equal(jsize(out, "coupons_restored"), 1);
    assert_string_equal(jstr(out, "coupons_restored.0"), "CY");
    cJSON_Delete(out);
    assert_string_equal(coupon_state(t, "CY", buf, sizeof(buf)), "available|1\n");
    assert_string_equal(coupon_state(t, "CN", buf, sizeof(buf)), "redeemed|0\n");
    assert_string_equal(coupon_state(t, "CX", buf, sizeof(buf)), "redeemed|0\n");
    assert_int_equal(testdb_i64(t, "SELECT restored FROM redemptions WHERE coupon_id = 'CY'"), 1);
    assert_int_equal(
        testdb_i64(t, "SELECT sum(restored) FROM redemptions WHERE coupon_id IN ('CN', 'CX')"), 0);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM outbox WHERE type = 'coupon.restored' "
                                   "AND json_extract(payload, '$.body.coupon_id') = 'CY'"),
                     1);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM outbox WHERE type = 'coupon.restored'"),
                     1);

    /* The restored coupon passes the usability check again. */
    struct coupon c;
    struct ml_refusal r = {0};
    assert_int_equal(coupon_get(t->db, "CY", &c), ML_OK);
    assert_int_equal(coupon_check_usable(&c, "MGV", testdb_clock, &r), ML_OK);
    coupon_release(&c);
    /* The not-restored ones do not. */
    co_refused(t, ML_REFUSED, 409, "coupon_already_redeemed",
               "{\"coupons\":[\"CN\"],\"items\":[{\"sku\":\"A\",\"category\":\"apparel\","
               "\"qty\":1,\"unit_price\":6000}]}");
}

static void whole_refund_restores_coupons_at_once(void **state)
{
    struct testdb *t = *state;
    char buf[64];
    seed_coupon_sale(t);
    cJSON *out = refund_ok(t, SALE1, "{}");
    assert_int_equal(jsize(out, "coupons_restored"), 1);
    assert_string_equal(jstr(out, "coupons_restored.0"), "CY");
    cJSON_Delete(out);
    assert_string_equal(coupon_state(t, "CY", buf, sizeof(buf)), "available|1\n");
    assert_string_equal(coupon_state(t, "CN", buf, sizeof(buf)), "redeemed|0\n");
}

/* The refund's commission event names its source and each reversed line, like the sale's. */
static void refund_commission_event_lists_source_and_reversed_lines(void **state)
{
    struct testdb *t = *state;
    seed_people(t);
    seed_commission(t);
    cJSON *sale =
        co_ok(t, "{\"guide\":\"G01\",\"items\":["
                 "{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":6000},"
                 "{\"sku\":\"B\",\"category\":\"shoes\",\"qty\":1,\"unit_price\":4000}]}");
    cJSON *out = refund_ok(t, jstr(sale, "sale_id"), "{\"lines\":[2]}");
    cJSON_Delete(out);
    cJSON_Delete(sale);
    char *ev = testdb_dump(t, "SELECT json_extract(payload, '$.body.reason'), "
                              "json_extract(payload, '$.body.source'), "
                              "json_array_length(payload, '$.body.lines'), "
                              "json_extract(payload, '$.body.amount') "
                              "FROM outbox WHERE type = 'commission.recorded' ORDER BY seq");
    /* apparel 5% of 6000 = 300, shoes 3% of 4000 = 120 */
    assert_string_equal(ev, "sale|explicit|2|420\nrefund|explicit|1|-120\n");
    free(ev);
}

static void restored_coupon_is_usable_again(void **state)
{
    struct testdb *t = *state;
    char buf[64];
    seed_coupon_sale(t);
    cJSON *out = refund_ok(t, SALE1, NULL);
    cJSON_Delete(out);
    cJSON *sale = co_ok(t, "{\"member\":\"MGV\",\"coupons\":[\"CY\"],\"items\":[{\"sku\":\"A\","
                           "\"category\":\"apparel\",\"qty\":1,\"unit_price\":6000}]}");
    assert_int_equal(jint(sale, "discount"), 1000);
    cJSON_Delete(sale);
    assert_string_equal(coupon_state(t, "CY", buf, sizeof(buf)), "redeemed|0\n");
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM redemptions WHERE coupon_id = 'CY'"), 2);
    assert_int_equal(
        testdb_i64(t, "SELECT count(*) FROM redemptions WHERE coupon_id = 'CY' AND restored = 0"),
        1);
    /* Taken again, it is gone again. */
    co_refused(t, ML_REFUSED, 409, "coupon_already_redeemed",
               "{\"member\":\"MGV\",\"coupons\":[\"CY\"],\"items\":[{\"sku\":\"A\","
               "\"category\":\"apparel\",\"qty\":1,\"unit_price\":6000}]}");
}

static void single_line_sale(struct testdb *t, const char *coupon, char *ret_sale_id, size_t len)
{
    cJSON *sale = co_ok(t,
                        "{\"coupons\":[\"%s\"],\"items\":[{\"sku\":\"A\",\"category\":\"x\","
                        "\"qty\":1,\"unit_price\":1000}]}",
                        coupon);
    snprintf(ret_sale_id, len, "%s", jstr(sale, "sale_id"));
    cJSON_Delete(sale);
}

/* A multi-use coupon given back by refunding its newest use can be used again. */
static void multi_use_coupon_restored_by_its_last_sale_is_usable_again(void **state)
{
    struct testdb *t = *state;
    char a[64], b[64], c[64];
    seed_coupon_campaigns(t);
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"M3\",\"campaign_id\":\"restore-yes\",\"kind\":\"amount_off\","
                "\"value\":100,\"uses\":3," VALID ",\"version\":1}");
    single_line_sale(t, "M3", a, sizeof(a));
    single_line_sale(t, "M3", b, sizeof(b));
    cJSON *out = refund_ok(t, b, NULL);
    assert_string_equal(jstr(out, "coupons_restored.0"), "M3");
    cJSON_Delete(out);
    assert_int_equal(testdb_i64(t, "SELECT uses_left FROM coupons"), 2);
    single_line_sale(t, "M3", c, sizeof(c));
    single_line_sale(t, "M3", c, sizeof(c));
    assert_int_equal(testdb_i64(t, "SELECT uses_left FROM coupons"), 0);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM redemptions WHERE restored = 0"), 3);
}

/*
 * A multi-use coupon restored by refunding an *earlier* use is usable again: the next
 * redemption takes the lowest use number no live redemption holds.
 */
static void multi_use_coupon_restored_by_an_earlier_sale_is_usable_again(void **state)
{
    struct testdb *t = *state;
    char a[64], b[64], c[64];
    seed_coupon_campaigns(t);
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"M3\",\"campaign_id\":\"restore-yes\",\"kind\":\"amount_off\","
                "\"value\":100,\"uses\":3," VALID ",\"version\":1}");
    single_line_sale(t, "M3", a, sizeof(a));
    single_line_sale(t, "M3", b, sizeof(b));
    cJSON *out = refund_ok(t, a, NULL); /* the first use comes back, the second stays taken */
    assert_string_equal(jstr(out, "coupons_restored.0"), "M3");
    cJSON_Delete(out);
    assert_int_equal(testdb_i64(t, "SELECT uses_left FROM coupons"), 2);
    single_line_sale(t, "M3", c, sizeof(c)); /* takes the freed use 1 */
    single_line_sale(t, "M3", c, sizeof(c));
    assert_int_equal(testdb_i64(t, "SELECT uses_left FROM coupons"), 0);
}

/*
 * The tier and plan multipliers are combined without rounding; the one half-even rounding
 * is on the total: gold 15000 bp x plan 15001 bp on 10000.00 yuan at 1 point per yuan is
 * 22501.5 points, earned as 22502.
 */
static void points_multipliers_are_not_rounded_before_the_total(void **state)
{
    struct testdb *t = *state;
    testdb_fact(t, "member.upsert",
                "{\"member_id\":\"M\",\"tier\":\"gold\",\"plan\":\"p\",\"plan_until\":" T0_PLUS_365D
                ",\"version\":1}");
    testdb_fact(t, "campaign.upsert",
                "{\"campaign_id\":\"c\",\"version\":1," VALID ",\"points\":{\"earn_per_yuan\":1,"
                "\"tier_multiplier_bp\":{\"gold\":15000},\"plan_multiplier_bp\":{\"p\":15001}}}");
    cJSON *sale = co_ok(t, "{\"dry_run\":true,\"member\":\"M\",\"items\":[{\"sku\":\"A\","
                           "\"category\":\"x\",\"qty\":1,\"unit_price\":1000000}]}");
    assert_int_equal(jint(sale, "points.earned"), 22502);
    cJSON_Delete(sale);
}

/* ------------------------------------------------------------------------------------ */
/* Offline risk (risk.h) and the deny-list (deny.h) at checkout.                           */

#define SEC INT64_C(1000)
#define MIN (60 * SEC)
#define ONE_LINE_50000                                                                             \
    "\"items\":[{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":50000}]"

static int64_t boot_clock;

static int64_t fake_boot_ms(void)
{
    return boot_clock;
}

/*
 * Makes the terminal one that syncs with HQ and heard it `since_ms` ago, at a stamp that
 * makes trusted time now equal the ctx clock. The boot clock moves with boot_clock.
 */
static void heard_hq_ago(struct testdb *t, struct trust *tr, int64_t since_ms)
{
    snprintf(t->cfg.mqtt_host, sizeof(t->cfg.mqtt_host), "broker.local");
    boot_clock = 1000 * SEC;
    assert_int_equal(trust_open_with(tr, t->db, fake_boot_ms, "0b0e6d1c-0ff1-4e00"), ML_OK);
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(trust_hq_time(tr, t->db, testdb_clock - since_ms), ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);
    boot_clock += since_ms;
    t->ctx.trust = tr;
}

/* Bearer coupons BIG (20000 off, above the default 10000 offline cap) and SMALL (500 off). */
static void seed_offline(struct testdb *t)
{
    seed_people(t);
    grant(t, "BIG", "\"kind\":\"amount_off\",\"value\":20000");
    grant(t, "SMALL", "\"kind\":\"amount_off\",\"value\":500");
}

static int64_t redeemed_event_field_is_null(struct testdb *t, const char *coupon, const char *field)
{
    return testdb_i64f(t,
                       "SELECT json_type(payload, '$.body.%s') = 'null' FROM outbox "
                       "WHERE type = 'coupon.redeemed' AND json_extract(payload, "
                       "'$.body.coupon_id') = '%s'",
                       field, coupon);
}

static int64_t redeemed_event_i64(struct testdb *t, const char *coupon, const char *field)
{
    return testdb_i64f(t,
                       "SELECT json_extract(payload, '$.body.%s') FROM outbox "
                       "WHERE type = 'coupon.redeemed' AND json_extract(payload, "
                       "'$.body.coupon_id') = '%s'",
                       field, coupon);
}

static void offline_coupon_past_a_cap_is_left_out_and_the_sale_completes(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    char buf[64];
    seed_offline(t);
    heard_hq_ago(t, &tr, 10 * MIN);
    cJSON *sale =
        co_ok(t, "{\"member\":\"MB\",\"coupons\":[\"BIG\",\"SMALL\"]," ONE_LINE_50000 "}");
    assert_string_equal(jstr(sale, "sale_id"), SALE1);
    assert_true(cJSON_IsTrue(jget(sale, "offline")));
    assert_int_equal(jsize(sale, "discounts"), 1);
    assert_string_equal(jstr(sale, "discounts.0.coupon_id"), "SMALL");
    assert_int_equal(jsize(sale, "coupons_refused"), 1);
    assert_string_equal(jstr(sale, "coupons_refused.0.coupon_id"), "BIG");
    assert_string_equal(jstr(sale, "coupons_refused.0.code"), "offline_coupon_value");
    assert_non_null(strstr(jstr(sale, "coupons_refused.0.message"), "BIG"));
    assert_int_equal(jint(sale, "discount"), 500);
    assert_int_equal(jint(sale, "total"), 49500);
    cJSON_Delete(sale);
    /* BIG keeps its use; SMALL's redemption is recorded offline at trusted time. */
    assert_string_equal(coupon_state(t, "BIG", buf, sizeof(buf)), "available|1\n");
    assert_string_equal(coupon_state(t, "SMALL", buf, sizeof(buf)), "redeemed|0\n");
    assert_int_equal(count_rows(t, "redemptions"), 1);
    assert_int_equal(testdb_i64(t, "SELECT offline FROM redemptions"), 1);
    assert_int_equal(testdb_i64(t, "SELECT trusted_at FROM redemptions"), testdb_clock);
    assert_int_equal(redeemed_event_i64(t, "SMALL", "offline"), 1);
    assert_int_equal(redeemed_event_i64(t, "SMALL", "trusted_at"), testdb_clock);
    /* The stored sale is the answer, refusal included. */
    assert_int_equal(testdb_i64(t, "SELECT json_array_length(doc, '$.coupons_refused') FROM sales"),
                     1);
}

static void online_sale_redeems_past_the_offline_caps(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    seed_offline(t);
    heard_hq_ago(t, &tr, 120 * SEC); /* exactly [offline] contact_window_s: online */
    cJSON *sale = co_ok(t, "{\"member\":\"MB\",\"coupons\":[\"BIG\"]," ONE_LINE_50000 "}");
    assert_true(cJSON_IsFalse(jget(sale, "offline")));
    assert_int_equal(jsize(sale, "coupons_refused"), 0);
    assert_int_equal(jint(sale, "discount"), 20000);
    cJSON_Delete(sale);
    assert_int_equal(testdb_i64(t, "SELECT offline FROM redemptions"), 0);
    assert_int_equal(testdb_i64(t, "SELECT trusted_at FROM redemptions"), testdb_clock);
    assert_int_equal(redeemed_event_i64(t, "BIG", "offline"), 0);
    assert_int_equal(redeemed_event_i64(t, "BIG", "trusted_at"), testdb_clock);
}

static void offline_one_ms_past_the_contact_window_is_capped(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    seed_offline(t);
    heard_hq_ago(t, &tr, 120 * SEC + 1);
    cJSON *sale = co_ok(t, "{\"member\":\"MB\",\"coupons\":[\"BIG\"]," ONE_LINE_50000 "}");
    assert_true(cJSON_IsTrue(jget(sale, "offline")));
    assert_string_equal(jstr(sale, "coupons_refused.0.code"), "offline_coupon_value");
    assert_int_equal(jint(sale, "discount"), 0);
    cJSON_Delete(sale);
}

static void standalone_terminal_applies_no_offline_cap(void **state)
{
    struct testdb *t = *state;
    seed_offline(t);
    assert_string_equal(t->cfg.mqtt_host, "");
    cJSON *sale = co_ok(t, "{\"member\":\"MB\",\"coupons\":[\"BIG\"]," ONE_LINE_50000 "}");
    assert_true(cJSON_IsFalse(jget(sale, "offline")));
    assert_int_equal(jint(sale, "discount"), 20000);
    assert_true(cJSON_IsNull(jget(sale, "points.offline_limit")));
    cJSON_Delete(sale);
    assert_int_equal(testdb_i64(t, "SELECT trusted_at IS NULL AND offline = 0 FROM redemptions"),
                     1);
    assert_int_equal(redeemed_event_field_is_null(t, "BIG", "trusted_at"), 1);
}

static void offline_without_trusted_time_leaves_coupons_out_as_clock_untrusted(void **state)
{
    struct testdb *t = *state;
    seed_offline(t);
    snprintf(t->cfg.mqtt_host, sizeof(t->cfg.mqtt_host), "broker.local"); /* HQ never heard */
    cJSON *sale = co_ok(t, "{\"member\":\"MB\",\"coupons\":[\"SMALL\"]," ONE_LINE_50000 "}");
    assert_true(cJSON_IsTrue(jget(sale, "offline")));
    assert_string_equal(jstr(sale, "sale_id"), SALE1);
    assert_int_equal(jsize(sale, "discounts"), 0);
    assert_string_equal(jstr(sale, "coupons_refused.0.code"), "clock_untrusted");
    assert_int_equal(jint(sale, "total"), 50000);
    cJSON_Delete(sale);
    assert_int_equal(count_rows(t, "redemptions"), 0);
    assert_int_equal(count_rows(t, "sales"), 1);
}

static void coupon_not_offline_ok_is_left_out_offline_only(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    seed_offline(t);
    grant(t, "ONLINE-ONLY", "\"kind\":\"amount_off\",\"value\":100,\"offline_ok\":false");
    heard_hq_ago(t, &tr, 10 * MIN);
    cJSON *sale = co_ok(t, "{\"coupons\":[\"ONLINE-ONLY\"]," ONE_LINE_50000 "}");
    assert_string_equal(jstr(sale, "coupons_refused.0.code"), "offline_not_allowed");
    cJSON_Delete(sale);
    /* HQ heard again: the same coupon goes through. */
    assert_int_equal(trust_hq_time(&tr, t->db, testdb_clock), ML_OK);
    sale = co_ok(t, "{\"coupons\":[\"ONLINE-ONLY\"]," ONE_LINE_50000 "}");
    assert_int_equal(jsize(sale, "coupons_refused"), 0);
    assert_int_equal(jint(sale, "discount"), 100);
    cJSON_Delete(sale);
}

static void offline_time_limit_holds_at_max_offline_s_and_refuses_past_it(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    seed_offline(t);
    grant(t, "SMALL2", "\"kind\":\"amount_off\",\"value\":500");
    heard_hq_ago(t, &tr, 86400 * SEC);
    cJSON *sale = co_ok(t, "{\"coupons\":[\"SMALL\"]," ONE_LINE_50000 "}");
    assert_int_equal(jsize(sale, "coupons_refused"), 0);
    cJSON_Delete(sale);
    boot_clock += 1;
    sale = co_ok(t, "{\"coupons\":[\"SMALL2\"]," ONE_LINE_50000 "}");
    assert_string_equal(jstr(sale, "coupons_refused.0.code"), "offline_too_long");
    cJSON_Delete(sale);
}

static void member_daily_cap_counts_offline_redemptions_across_sales(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    seed_offline(t);
    t->cfg.offline.member_daily_redemptions = 2;
    t->cfg.offline.max_offline_s = 3 * 86400;
    static const char *const ids[] = {"D1", "D2", "D3", "D4"};
    for (size_t i = 0; i < ARRAY_LEN(ids); i++)
        grant(t, ids[i], "\"kind\":\"amount_off\",\"value\":100");
    heard_hq_ago(t, &tr, 10 * MIN);
    cJSON *sale = co_ok(t, "{\"member\":\"MB\",\"coupons\":[\"D1\"]," ONE_LINE_50000 "}");
    assert_int_equal(jsize(sale, "coupons_refused"), 0);
    cJSON_Delete(sale);
    sale = co_ok(t, "{\"member\":\"MB\",\"coupons\":[\"D2\",\"D3\"]," ONE_LINE_50000 "}");
    assert_int_equal(jsize(sale, "discounts"), 1); /* the second today: at the limit */
    assert_string_equal(jstr(sale, "coupons_refused.0.coupon_id"), "D3");
    assert_string_equal(jstr(sale, "coupons_refused.0.code"), "offline_member_daily");
    cJSON_Delete(sale);
    /* Another member is not counted against MB. */
    sale = co_ok(t, "{\"member\":\"MGV\",\"coupons\":[\"D3\"]," ONE_LINE_50000 "}");
    assert_int_equal(jsize(sale, "coupons_refused"), 0);
    cJSON_Delete(sale);
    /* The next trusted day starts a new count. */
    boot_clock += TESTDB_DAY;
    sale = co_ok(t, "{\"member\":\"MB\",\"coupons\":[\"D4\"]," ONE_LINE_50000 "}");
    assert_int_equal(jsize(sale, "coupons_refused"), 0);
    cJSON_Delete(sale);
}

static void terminal_value_cap_counts_since_contact_and_starts_over_at_contact(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    seed_offline(t);
    t->cfg.offline.terminal_max_value = 1000;
    static const char *const ids[] = {"V1", "V2", "V3", "V4"};
    for (size_t i = 0; i < ARRAY_LEN(ids); i++)
        grant(t, ids[i], "\"kind\":\"amount_off\",\"value\":500");
    heard_hq_ago(t, &tr, 10 * MIN);
    cJSON *sale = co_ok(t, "{\"coupons\":[\"V1\",\"V2\",\"V3\"]," ONE_LINE_50000 "}");
    assert_int_equal(jint(sale, "discount"), 1000); /* 500 + 500: at the cap */
    assert_int_equal(jsize(sale, "coupons_refused"), 1);
    assert_string_equal(jstr(sale, "coupons_refused.0.coupon_id"), "V3");
    assert_string_equal(jstr(sale, "coupons_refused.0.code"), "offline_terminal_value");
    cJSON_Delete(sale);
    /* A restart of the agent reads the count back from the database. */
    testdb_reopen(t);
    t->ctx.db = t->db;
    assert_int_equal(trust_open_with(&tr, t->db, fake_boot_ms, "0b0e6d1c-0ff1-4e00"), ML_OK);
    sale = co_ok(t, "{\"coupons\":[\"V3\"]," ONE_LINE_50000 "}");
    assert_string_equal(jstr(sale, "coupons_refused.0.code"), "offline_terminal_value");
    cJSON_Delete(sale);
    /* HQ heard a second later, then away again: the count starts over. */
    boot_clock += SEC;
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(trust_hq_time(&tr, t->db, testdb_clock), ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);
    boot_clock += 10 * MIN;
    sale = co_ok(t, "{\"coupons\":[\"V3\",\"V4\"]," ONE_LINE_50000 "}");
    assert_true(cJSON_IsTrue(jget(sale, "offline")));
    assert_int_equal(jsize(sale, "coupons_refused"), 0);
    assert_int_equal(jint(sale, "discount"), 1000);
    cJSON_Delete(sale);
}

static void refund_that_gives_a_coupon_back_frees_its_offline_count(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    seed_offline(t);
    seed_coupon_campaigns(t);
    t->cfg.offline.terminal_max_value = 500;
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"R1\",\"campaign_id\":\"restore-yes\",\"kind\":\"amount_off\","
                "\"value\":500," VALID ",\"version\":1}");
    heard_hq_ago(t, &tr, 10 * MIN);
    cJSON *sale = co_ok(t, "{\"coupons\":[\"R1\"]," ONE_LINE_50000 "}");
    assert_int_equal(jint(sale, "discount"), 500);
    cJSON_Delete(sale);
    sale = co_ok(t, "{\"coupons\":[\"SMALL\"]," ONE_LINE_50000 "}");
    assert_string_equal(jstr(sale, "coupons_refused.0.code"), "offline_terminal_value");
    cJSON_Delete(sale);
    cJSON *out = refund_ok(t, SALE1, NULL);
    assert_int_equal(jsize(out, "coupons_restored"), 1);
    cJSON_Delete(out);
    sale = co_ok(t, "{\"coupons\":[\"SMALL\"]," ONE_LINE_50000 "}");
    assert_int_equal(jsize(sale, "coupons_refused"), 0);
    assert_int_equal(jint(sale, "discount"), 500);
    cJSON_Delete(sale);
}

static void dry_run_quotes_the_same_offline_decisions_and_writes_nothing(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    seed_offline(t);
    heard_hq_ago(t, &tr, 10 * MIN);
    const char *body = "\"member\":\"MB\",\"coupons\":[\"BIG\",\"SMALL\"]," ONE_LINE_50000;
    char json[512];
    snprintf(json, sizeof(json), "{\"dry_run\":true,%s}", body);
    cJSON *quote = co_ok(t, "%s", json);
    for (size_t i = 0; i < ARRAY_LEN(ledger_tables); i++)
        assert_int_equal(count_rows(t, ledger_tables[i]), 0);
    snprintf(json, sizeof(json), "{%s}", body);
    cJSON *sale = co_ok(t, "%s", json);
    assert_true(cJSON_IsTrue(jget(quote, "offline")));
    assert_int_equal(jsize(quote, "coupons_refused"), 1);
    assert_string_equal(jstr(quote, "coupons_refused.0.code"), "offline_coupon_value");
    assert_string_equal(jstr(quote, "coupons_refused.0.code"),
                        jstr(sale, "coupons_refused.0.code"));
    assert_int_equal(jint(quote, "total"), jint(sale, "total"));
    assert_int_equal(jint(quote, "discount"), 500);
    cJSON_Delete(quote);
    cJSON_Delete(sale);
}

static void offline_points_are_capped_by_the_margin_and_say_so(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    seed_people(t);
    seed_points(t, 0, 100, 10000, 1); /* 100 points per yuan, up to the whole bill */
    /* MB has 500 points; offline, 20 % is kept back: 400 may be spent. */
    heard_hq_ago(t, &tr, 120 * SEC);
    cJSON *sale = co_ok(
        t, "{\"dry_run\":true,\"member\":\"MB\",\"points_to_redeem\":500," ONE_LINE_50000 "}");
    assert_int_equal(jint(sale, "points.spent"), 500);
    assert_null(jstr(sale, "points.capped_by"));
    assert_true(cJSON_IsNull(jget(sale, "points.offline_limit")));
    cJSON_Delete(sale);
    boot_clock += 1;
    sale = co_ok(t, "{\"member\":\"MB\",\"points_to_redeem\":500," ONE_LINE_50000 "}");
    assert_int_equal(jint(sale, "points.requested"), 500);
    assert_int_equal(jint(sale, "points.spent"), 400);
    assert_int_equal(jint(sale, "points.value"), 400);
    assert_string_equal(jstr(sale, "points.capped_by"), "offline_margin");
    assert_int_equal(jint(sale, "points.offline_limit"), 400);
    cJSON_Delete(sale);
    /* A request within the limit is not capped, and the limit follows the balance. */
    sale =
        co_ok(t, "{\"dry_run\":true,\"member\":\"MB\",\"points_to_redeem\":80," ONE_LINE_50000 "}");
    assert_int_equal(jint(sale, "points.spent"), 80);
    assert_null(jstr(sale, "points.capped_by"));
    assert_int_equal(jint(sale, "points.offline_limit"), 80); /* 100 left, 20 % kept */
    cJSON_Delete(sale);
}

static void deny(struct testdb *t, const char *subject, const char *id, const char *reason,
                 int lifted, int64_t version)
{
    char json[256];
    snprintf(json, sizeof(json),
             "{\"subject\":\"%s\",\"id\":\"%s\",\"reason\":\"%s\",\"lifted\":%s,\"version\":%lld}",
             subject, id, reason, lifted ? "true" : "false", (long long)version);
    cJSON *body = testdb_json(json);
    struct ml_refusal r = {0};
    int applied = 0;
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(facts_apply(t->db, "deny.upsert", body, &applied, &r), ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);
    assert_int_equal(applied, 1);
    cJSON_Delete(body);
}

static void denied_coupon_is_refused_with_its_reason_and_nothing_is_written(void **state)
{
    struct testdb *t = *state;
    static const struct {
        const char *coupon, *reason, *code;
    } cases[] = {
        {"DN1", "revoked", "coupon_revoked"},
        {"DN2", "redeemed_elsewhere", "coupon_redeemed_elsewhere"},
        {"DN3", "fraud_suspected", "coupon_denied"},
        {"NOT-HERE", "redeemed_elsewhere", "coupon_redeemed_elsewhere"}, /* not granted here */
    };
    seed_offline(t);
    char json[512];
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        if (strcmp(cases[i].coupon, "NOT-HERE") != 0)
            grant(t, cases[i].coupon, "\"kind\":\"amount_off\",\"value\":100");
        deny(t, "coupon", cases[i].coupon, cases[i].reason, 0, 1);
        snprintf(json, sizeof(json), "{\"coupons\":[\"SMALL\",\"%s\"]," ONE_LINE_50000 "}",
                 cases[i].coupon);
        co_refused(t, ML_REFUSED, 409, cases[i].code, json);
        snprintf(json, sizeof(json), "{\"dry_run\":true,\"coupons\":[\"%s\"]," ONE_LINE_50000 "}",
                 cases[i].coupon);
        co_refused(t, ML_REFUSED, 409, cases[i].code, json);
    }
    for (size_t i = 0; i < ARRAY_LEN(ledger_tables); i++)
        assert_int_equal(count_rows(t, ledger_tables[i]), 0);
    /* HQ lifts it: usable again. */
    deny(t, "coupon", "DN2", "redeemed_elsewhere", 1, 2);
    cJSON *sale = co_ok(t, "{\"coupons\":[\"DN2\"]," ONE_LINE_50000 "}");
    assert_int_equal(jint(sale, "discount"), 100);
    cJSON_Delete(sale);
}

static void peer_redemption_denies_a_single_use_coupon_not_a_multi_use_one(void **state)
{
    struct testdb *t = *state;
    seed_offline(t);
    grant(t, "MULTI", "\"kind\":\"amount_off\",\"value\":100,\"uses\":3");
    assert_int_equal(deny_add_peer(t->db, "SMALL", "T02", testdb_clock), ML_OK);
    assert_int_equal(deny_add_peer(t->db, "MULTI", "T02", testdb_clock), ML_OK);
    co_refused(t, ML_REFUSED, 409, "coupon_redeemed_elsewhere",
               "{\"coupons\":[\"SMALL\"]," ONE_LINE_50000 "}");
    cJSON *sale = co_ok(t, "{\"coupons\":[\"MULTI\"]," ONE_LINE_50000 "}");
    assert_int_equal(jint(sale, "discount"), 100);
    cJSON_Delete(sale);
    /* The peer gives it back: usable here. */
    assert_int_equal(deny_lift_peer(t->db, "SMALL", "T02"), ML_OK);
    sale = co_ok(t, "{\"coupons\":[\"SMALL\"]," ONE_LINE_50000 "}");
    assert_int_equal(jint(sale, "discount"), 500);
    cJSON_Delete(sale);
}

/* The same peer redemptions heard before the grants: decided as identify decides. */
static void
peer_redemption_before_the_grant_denies_a_single_use_coupon_not_a_multi_use_one(void **state)
{
    struct testdb *t = *state;
    int written = 0;
    seed_offline(t);
    assert_int_equal(deny_peer_redeemed(t->db, "LATE-MULTI", "T02", testdb_clock, &written), ML_OK);
    assert_int_equal(written, 1);
    assert_int_equal(deny_peer_redeemed(t->db, "LATE-ONE", "T02", testdb_clock, &written), ML_OK);
    assert_int_equal(written, 1);
    grant(t, "LATE-MULTI", "\"kind\":\"amount_off\",\"value\":100,\"uses\":3");
    grant(t, "LATE-ONE", "\"kind\":\"amount_off\",\"value\":100");
    co_refused(t, ML_REFUSED, 409, "coupon_redeemed_elsewhere",
               "{\"coupons\":[\"LATE-ONE\"]," ONE_LINE_50000 "}");
    cJSON *sale = co_ok(t, "{\"coupons\":[\"LATE-MULTI\"]," ONE_LINE_50000 "}");
    assert_int_equal(jint(sale, "discount"), 100);
    cJSON_Delete(sale);
}

static void denied_member_is_refused_as_member_blocked(void **state)
{
    struct testdb *t = *state;
    seed_offline(t);
    deny(t, "member", "MB", "blocked", 0, 1);
    co_refused(t, ML_REFUSED, 403, "member_blocked", "{\"member\":\"MB\"," ONE_LINE_50000 "}");
    co_refused(t, ML_REFUSED, 403, "member_blocked",
               "{\"dry_run\":true,\"member\":\"MB\"," ONE_LINE_50000 "}");
    assert_int_equal(count_rows(t, "sales"), 0);
    deny(t, "member", "MB", "blocked", 1, 2);
    cJSON *sale = co_ok(t, "{\"member\":\"MB\"," ONE_LINE_50000 "}");
    cJSON_Delete(sale);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, testdb_setup, testdb_teardown)
    const struct CMUnitTest tests[] = {
        T(discounts_are_allocated_over_eligible_lines_and_sum_exactly),
        T(percent_off_rounds_half_even_and_is_capped_by_max_off),
        T(amount_off_larger_than_eligible_remainder_is_capped),
        T(coupon_with_zero_discount_is_not_applicable_and_keeps_its_use),
        T(two_coupons_apply_in_request_order),
        T(points_earned_follow_tier_and_live_plan_multipliers),
        T(points_are_earned_on_the_net_after_coupons_and_points),
        T(points_redemption_is_capped_by_available_points_and_bill_share),
        T(points_spent_is_the_ceiling_of_the_value_and_never_above_the_request),
        T(points_without_a_member_is_member_required),
        T(points_without_a_redeeming_campaign_are_unavailable),
        T(blocked_member_is_refused_member_blocked),
        T(unknown_member_is_member_not_found),
        T(guide_attribution_explicit_beats_bound_and_bound_needs_a_live_binding),
        T(commission_per_line_is_half_even_at_category_rate_else_default),
        T(dry_run_writes_nothing),
        T(commit_writes_exactly_its_events_with_gapless_seq),
        T(every_request_limit_holds_at_the_limit_and_refuses_one_past),
        T(duplicate_coupon_id_in_a_request_is_refused),
        T(partial_refund_reverses_exactly_that_lines_points_and_commission),
        T(refunding_the_same_line_again_is_already_refunded_and_changes_nothing),
        T(whole_refund_after_a_partial_one_refunds_only_the_rest),
        T(refund_of_a_line_out_of_range_is_invalid_request),
        T(refund_of_an_unknown_sale_is_sale_not_found),
        T(coupon_is_restored_only_when_all_its_lines_are_refunded_and_its_campaign_says_so),
        T(whole_refund_restores_coupons_at_once),
        T(restored_coupon_is_usable_again),
        T(multi_use_coupon_restored_by_its_last_sale_is_usable_again),
        T(multi_use_coupon_restored_by_an_earlier_sale_is_usable_again),
        T(many_campaigns_for_other_stores_do_not_hide_this_stores_campaign),
        T(sku_that_is_not_utf8_is_invalid_request),
        T(refund_commission_event_lists_source_and_reversed_lines),
        T(points_multipliers_are_not_rounded_before_the_total),
        T(offline_coupon_past_a_cap_is_left_out_and_the_sale_completes),
        T(online_sale_redeems_past_the_offline_caps),
        T(offline_one_ms_past_the_contact_window_is_capped),
        T(standalone_terminal_applies_no_offline_cap),
        T(offline_without_trusted_time_leaves_coupons_out_as_clock_untrusted),
        T(coupon_not_offline_ok_is_left_out_offline_only),
        T(offline_time_limit_holds_at_max_offline_s_and_refuses_past_it),
        T(member_daily_cap_counts_offline_redemptions_across_sales),
        T(terminal_value_cap_counts_since_contact_and_starts_over_at_contact),
        T(refund_that_gives_a_coupon_back_frees_its_offline_count),
        T(dry_run_quotes_the_same_offline_decisions_and_writes_nothing),
        T(offline_points_are_capped_by_the_margin_and_say_so),
        T(denied_coupon_is_refused_with_its_reason_and_nothing_is_written),
        T(peer_redemption_denies_a_single_use_coupon_not_a_multi_use_one),
        T(peer_redemption_before_the_grant_denies_a_single_use_coupon_not_a_multi_use_one),
        T(denied_member_is_refused_as_member_blocked),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
