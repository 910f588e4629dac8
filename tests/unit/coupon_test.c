/*
 * coupon_test: unit tests for coupon.h: the usability state table, the discount rule
 * (minimum spend, eligibility, caps), and the redemption state machine against a real
 * store (a use is taken at most once, an N-use coupon gives exactly N uses).
 *
 * The pure functions are driven from tables of in-memory coupons; everything that touches
 * the database is seeded through HQ facts (testdb.h) and exercised both directly
 * (coupon_redeem) and through checkout, as the API uses it.
 */
#include "testdb.h"

#include "checkout.h"
#include "coupon.h"

#define VALID "\"valid_from\":1764633600000,\"valid_to\":1798761600000"

/* ------------------------------------------------------------------------------------ */
/* coupon_check_usable                                                                    */

struct usable_case {
    const char *what;
    const char *state;
    int64_t uses_left;
    const char *owner;  /* "" = bearer */
    const char *member; /* NULL = no member identified */
    int64_t now;        /* the coupon is valid over [1000, 2000) */
    const char *want;   /* NULL = usable */
};

static const struct usable_case usable_cases[] = {
    {"available bearer", "available", 1, "", NULL, 1500, NULL},
    {"available, last ms of validity", "available", 1, "", NULL, 1999, NULL},
    {"available, first ms of validity", "available", 1, "", NULL, 1000, NULL},
    {"revoked", "revoked", 1, "", NULL, 1500, "coupon_revoked"},
    {"redeemed", "redeemed", 0, "", NULL, 1500, "coupon_already_redeemed"},
    {"available but no uses left", "available", 0, "", NULL, 1500, "coupon_already_redeemed"},
    {"now == valid_to", "available", 1, "", NULL, 2000, "coupon_expired"},
    {"after valid_to", "available", 1, "", NULL, 99999, "coupon_expired"},
    {"state expired", "expired", 1, "", NULL, 1500, "coupon_expired"},
    {"now one ms before valid_from", "available", 1, "", NULL, 999, "coupon_not_yet_valid"},
    {"member coupon, no member", "available", 1, "M1", NULL, 1500, "coupon_member_mismatch"},
    {"member coupon, other member", "available", 1, "M1", "M2", 1500, "coupon_member_mismatch"},
    {"member coupon, id prefix only", "available", 1, "M1", "M10", 1500, "coupon_member_mismatch"},
    {"member coupon, its member", "available", 1, "M1", "M1", 1500, NULL},
    {"bearer coupon, any member", "available", 1, "", "M2", 1500, NULL},
    {"multi-use, uses left", "available", 2, "", NULL, 1500, NULL},
};

static void check_usable_follows_the_state_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(usable_cases); i++) {
        const struct usable_case *k = &usable_cases[i];
        struct coupon c;
        memset(&c, 0, sizeof(c));
        snprintf(c.coupon_id, sizeof(c.coupon_id), "C%zu", i);
        snprintf(c.member_id, sizeof(c.member_id), "%s", k->owner);
        snprintf(c.state, sizeof(c.state), "%s", k->state);
        c.value = 100;
        c.valid_from = 1000;
        c.valid_to = 2000;
        c.uses_total = 2;
        c.uses_left = k->uses_left;
        struct ml_refusal r = {0};
        ml_err err = coupon_check_usable(&c, k->member, k->now, &r);
        if (k->want == NULL) {
            if (err != ML_OK)
                fail_msg("%s: refused %s, want usable", k->what, r.code ? r.code : "-");
            continue;
        }
        if (err != ML_REFUSED || r.code == NULL || strcmp(r.code, k->want) != 0)
            fail_msg("%s: got %s %s, want %s", k->what, ml_strerror(err), r.code ? r.code : "-",
                     k->want);
        assert_int_equal(r.http_status, 409);
        assert_true(r.message[0] != '\0');
    }
}

/* ------------------------------------------------------------------------------------ */
/* coupon_discount and coupon_applies_to                                                  */

struct discount_case {
    const char *what;
    int percent;
    int64_t value, max_off, min_spend;
    int64_t eligible_gross, eligible_remaining;
    const char *want_code; /* NULL: ML_OK with want_amount */
    int64_t want_amount;
};

static const struct discount_case discount_cases[] = {
    {"min spend met exactly", 0, 1000, 0, 10000, 10000, 10000, NULL, 1000},
    {"min spend one below", 0, 1000, 0, 10000, 9999, 9999, "coupon_min_spend_not_met", 0},
    {"min spend judged on gross, not what is left", 0, 1000, 0, 10000, 10000, 4000, NULL, 1000},
    {"no minimum", 0, 1000, 0, 0, 1, 1, NULL, 1},
    {"no eligible lines", 0, 1000, 0, 0, 0, 0, "coupon_not_applicable", 0},
    {"eligible lines already paid by earlier coupons", 0, 1000, 0, 0, 5000, 0,
     "coupon_not_applicable", 0},
    {"amount off capped by what is left", 0, 3000, 0, 0, 5000, 2000, NULL, 2000},
    {"percent of what is left", 1, 1000, 0, 0, 10000, 8000, NULL, 800},
    {"percent half-even down", 1, 1000, 0, 0, 125, 125, NULL, 12},
    {"percent half-even up", 1, 1000, 0, 0, 135, 135, NULL, 14},
    {"percent capped by max_off", 1, 1000, 500, 0, 10000, 10000, NULL, 500},
    {"percent 100%", 1, 10000, 0, 0, 777, 777, NULL, 777},
};

static void discount_follows_min_spend_eligibility_and_caps(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(discount_cases); i++) {
        const struct discount_case *k = &discount_cases[i];
        struct coupon c;
        memset(&c, 0, sizeof(c));
        snprintf(c.coupon_id, sizeof(c.coupon_id), "D%zu", i);
        c.percent = k->percent;
        c.value = k->value;
        c.max_off = k->max_off;
        c.min_spend = k->min_spend;
        struct ml_refusal r = {0};
        int64_t amount = -7;
        ml_err err = coupon_discount(&c, k->eligible_gross, k->eligible_remaining, &amount, &r);
        if (k->want_code == NULL) {
            if (err != ML_OK || amount != k->want_amount)
                fail_msg("%s: got %s %s amount %lld, want %lld", k->what, ml_strerror(err),
                         r.code ? r.code : "-", (long long)amount, (long long)k->want_amount);
        } else {
            if (err != ML_REFUSED || r.code == NULL || strcmp(r.code, k->want_code) != 0)
                fail_msg("%s: got %s %s, want %s", k->what, ml_strerror(err), r.code ? r.code : "-",
                         k->want_code);
            assert_int_equal(r.http_status, 409);
            assert_int_equal(amount, -7); /* untouched on refusal */
        }
    }
}

static void applies_to_every_category_or_only_the_listed_ones(void **state)
{
    (void)state;
    struct coupon c;
    memset(&c, 0, sizeof(c));
    assert_true(coupon_applies_to(&c, "apparel"));
    assert_true(coupon_applies_to(&c, "anything"));
    c.categories = testdb_json("[\"apparel\",\"shoes\"]");
    assert_true(coupon_applies_to(&c, "apparel"));
    assert_true(coupon_applies_to(&c, "shoes"));
    assert_false(coupon_applies_to(&c, "food"));
    assert_false(coupon_applies_to(&c, "Apparel"));
    assert_false(coupon_applies_to(&c, "appare"));
    coupon_release(&c);
    assert_null(c.categories);
    coupon_release(NULL);
}

/* ------------------------------------------------------------------------------------ */
/* Against the store.                                                                     */

static ml_err checkout(struct testdb *t, const char *json, cJSON **ret_sale, struct ml_refusal *r)
{
    struct checkout_req *req = NULL;
    cJSON *body = testdb_json(json);
    memset(r, 0, sizeof(*r));
    *ret_sale = NULL;
    ml_err err = checkout_parse(body, t->cfg.terminal, &req, r);
    cJSON_Delete(body);
    if (err != ML_OK)
        return err;
    assert_int_equal(db_begin(t->db), ML_OK);
    err = checkout_run(&t->ctx, req, ret_sale, r);
    if (err == ML_OK)
        assert_int_equal(db_commit(t->db), ML_OK);
    else
        db_rollback(t->db);
    checkout_req_free(req);
    return err;
}

static void checkout_refused(struct testdb *t, const char *json, const char *want_code)
{
    struct ml_refusal r;
    cJSON *sale = NULL;
    ml_err err = checkout(t, json, &sale, &r);
    if (err == ML_OK || r.code == NULL || strcmp(r.code, want_code) != 0)
        fail_msg("%s: got %s %s, want %s", json, ml_strerror(err), r.code ? r.code : "-",
                 want_code);
    assert_null(sale);
}

static void checkout_ok(struct testdb *t, const char *json, int64_t want_discount)
{
    struct ml_refusal r;
    cJSON *sale = NULL;
    ml_err err = checkout(t, json, &sale, &r);
    if (err != ML_OK)
        fail_msg("%s: refused %s %s", json, r.code ? r.code : "-", r.message);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(sale, "discount");
    assert_true(cJSON_IsNumber(d));
    assert_int_equal((int64_t)d->valuedouble, want_discount);
    cJSON_Delete(sale);
}

static void coupon_get_returns_the_granted_terms(void **state)
{
    struct testdb *t = *state;
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"FULL\",\"member_id\":\"M1\",\"campaign_id\":\"camp\","
                "\"kind\":\"percent_off\",\"value\":1500,\"max_off\":3000,\"min_spend\":20000,"
                "\"categories\":[\"apparel\"]," VALID ",\"uses\":3,\"offline_ok\":false,"
                "\"version\":4}");
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"BEARER\",\"kind\":\"amount_off\",\"value\":500," VALID
                ",\"version\":1}");
    struct coupon c;
    assert_int_equal(coupon_get(t->db, "FULL", &c), ML_OK);
    assert_string_equal(c.coupon_id, "FULL");
    assert_string_equal(c.member_id, "M1");
    assert_string_equal(c.campaign_id, "camp");
    assert_int_equal(c.percent, 1);
    assert_int_equal(c.value, 1500);
    assert_int_equal(c.max_off, 3000);
    assert_int_equal(c.min_spend, 20000);
    assert_true(coupon_applies_to(&c, "apparel"));
    assert_false(coupon_applies_to(&c, "food"));
    assert_int_equal(c.valid_from, INT64_C(1764633600000));
    assert_int_equal(c.valid_to, INT64_C(1798761600000));
    assert_int_equal(c.uses_total, 3);
    assert_int_equal(c.uses_left, 3);
    assert_int_equal(c.offline_ok, 0);
    assert_string_equal(c.state, "available");
    coupon_release(&c);

    assert_int_equal(coupon_get(t->db, "BEARER", &c), ML_OK);
    assert_string_equal(c.member_id, "");
    assert_string_equal(c.campaign_id, "");
    assert_int_equal(c.percent, 0);
    assert_null(c.categories);
    assert_int_equal(c.uses_total, 1);
    assert_int_equal(c.offline_ok, 1);
    coupon_release(&c);

    assert_int_equal(coupon_get(t->db, "NOPE", &c), ML_NOENTRY);
}

static void revoked_by_hq_is_coupon_revoked(void **state)
{
    struct testdb *t = *state;
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"R\",\"kind\":\"amount_off\",\"value\":500," VALID
                ",\"version\":1}");
    testdb_fact(t, "coupon.revoke", "{\"coupon_id\":\"R\",\"version\":2}");
    struct coupon c;
    struct ml_refusal r = {0};
    assert_int_equal(coupon_get(t->db, "R", &c), ML_OK);
    assert_int_equal(coupon_check_usable(&c, NULL, testdb_clock, &r), ML_REFUSED);
    assert_string_equal(r.code, "coupon_revoked");
    coupon_release(&c);
    checkout_refused(t,
                     "{\"coupons\":[\"R\"],\"items\":[{\"sku\":\"A\",\"category\":\"x\","
                     "\"qty\":1,\"unit_price\":1000}]}",
                     "coupon_revoked");
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM redemptions"), 0);
}

static void validity_window_is_judged_at_checkout_time(void **state)
{
    struct testdb *t = *state;
    /* Ends exactly now; starts a millisecond from now. */
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"ENDS\",\"kind\":\"amount_off\",\"value\":100,"
                "\"valid_from\":1764633600000,\"valid_to\":1767225600000,\"version\":1}");
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"STARTS\",\"kind\":\"amount_off\",\"value\":100,"
                "\"valid_from\":1767225600001,\"valid_to\":1798761600000,\"version\":1}");
    static const char body_ends[] = "{\"coupons\":[\"ENDS\"],\"items\":[{\"sku\":\"A\","
                                    "\"category\":\"x\",\"qty\":1,\"unit_price\":1000}]}";
    static const char body_starts[] = "{\"coupons\":[\"STARTS\"],\"items\":[{\"sku\":\"A\","
                                      "\"category\":\"x\",\"qty\":1,\"unit_price\":1000}]}";
    checkout_refused(t, body_ends, "coupon_expired");
    checkout_refused(t, body_starts, "coupon_not_yet_valid");
    testdb_clock -= 1; /* a millisecond earlier ENDS is still good */
    checkout_ok(t, body_ends, 100);
    testdb_clock += 2; /* a millisecond later STARTS is good */
    checkout_ok(t, body_starts, 100);
}

static void member_coupon_needs_its_member_and_bearer_coupon_takes_anyone(void **state)
{
    struct testdb *t = *state;
    testdb_fact(t, "member.upsert", "{\"member_id\":\"M1\",\"version\":1}");
    testdb_fact(t, "member.upsert", "{\"member_id\":\"M2\",\"version\":1}");
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"MINE\",\"member_id\":\"M1\",\"kind\":\"amount_off\","
                "\"value\":100," VALID ",\"version\":1}");
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"ANY\",\"kind\":\"amount_off\",\"value\":50,\"uses\":2," VALID
                ",\"version\":1}");
    checkout_refused(t,
                     "{\"coupons\":[\"MINE\"],\"items\":[{\"sku\":\"A\",\"category\":\"x\","
                     "\"qty\":1,\"unit_price\":1000}]}",
                     "coupon_member_mismatch");
    checkout_refused(t,
                     "{\"member\":\"M2\",\"coupons\":[\"MINE\"],\"items\":[{\"sku\":\"A\","
                     "\"category\":\"x\",\"qty\":1,\"unit_price\":1000}]}",
                     "coupon_member_mismatch");
    checkout_ok(t,
                "{\"member\":\"M1\",\"coupons\":[\"MINE\"],\"items\":[{\"sku\":\"A\","
                "\"category\":\"x\",\"qty\":1,\"unit_price\":1000}]}",
                100);
    checkout_ok(t,
                "{\"member\":\"M2\",\"coupons\":[\"ANY\"],\"items\":[{\"sku\":\"A\","
                "\"category\":\"x\",\"qty\":1,\"unit_price\":1000}]}",
                50);
    checkout_ok(t,
                "{\"coupons\":[\"ANY\"],\"items\":[{\"sku\":\"A\",\"category\":\"x\","
                "\"qty\":1,\"unit_price\":1000}]}",
                50);
}

struct min_spend_case {
    const char *items;
    const char *want_code; /* NULL: accepted */
};

static const struct min_spend_case min_spend_cases[] = {
    /* min_spend 10000 on apparel */
    {"{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":9999}",
     "coupon_min_spend_not_met"},
    {"{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":9999},"
     "{\"sku\":\"F\",\"category\":\"food\",\"qty\":1,\"unit_price\":5000}",
     "coupon_min_spend_not_met"}, /* food does not count toward the minimum */
    {"{\"sku\":\"F\",\"category\":\"food\",\"qty\":1,\"unit_price\":50000}",
     "coupon_not_applicable"},
    {"{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":10000}", NULL},
    {"{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":2,\"unit_price\":5000}", NULL},
    {"{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":4000},"
     "{\"sku\":\"B\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":6000}",
     NULL},
};

static void coupon_min_spend_at_the_limit_is_accepted_and_one_below_is_refused(void **state)
{
    struct testdb *t = *state;
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"MIN\",\"kind\":\"amount_off\",\"value\":1000,\"min_spend\":10000,"
                "\"categories\":[\"apparel\"],\"uses\":100," VALID ",\"version\":1}");
    for (size_t i = 0; i < ARRAY_LEN(min_spend_cases); i++) {
        char body[1024];
        snprintf(body, sizeof(body), "{\"coupons\":[\"MIN\"],\"items\":[%s]}",
                 min_spend_cases[i].items);
        if (min_spend_cases[i].want_code != NULL)
            checkout_refused(t, body, min_spend_cases[i].want_code);
        else
            checkout_ok(t, body, 1000);
    }
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM redemptions"), 3);
    assert_int_equal(testdb_i64(t, "SELECT uses_left FROM coupons"), 97);
}

static void coupon_with_three_uses_redeems_three_times_then_is_already_redeemed(void **state)
{
    struct testdb *t = *state;
    static const char body[] = "{\"coupons\":[\"THREE\"],\"items\":[{\"sku\":\"A\",\"category\":"
                               "\"x\",\"qty\":1,\"unit_price\":1000}]}";
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"THREE\",\"kind\":\"amount_off\",\"value\":100,\"uses\":3," VALID
                ",\"version\":1}");
    for (int64_t use = 1; use <= 3; use++) {
        checkout_ok(t, body, 100);
        assert_int_equal(testdb_i64(t, "SELECT uses_left FROM coupons"), 3 - use);
        assert_int_equal(
            testdb_i64f(t, "SELECT count(*) FROM redemptions WHERE use_no = %lld", (long long)use),
            1);
    }
    char *before = testdb_dump(t, "SELECT * FROM redemptions ORDER BY use_no");
    checkout_refused(t, body, "coupon_already_redeemed");
    char *after = testdb_dump(t, "SELECT * FROM redemptions ORDER BY use_no");
    assert_string_equal(after, before);
    free(before);
    free(after);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM redemptions"), 3);
    assert_int_equal(testdb_i64(t, "SELECT count(DISTINCT sale_id) FROM redemptions"), 3);
    assert_int_equal(testdb_i64(t, "SELECT state = 'redeemed' AND uses_left = 0 FROM coupons"), 1);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM outbox WHERE type = 'coupon.redeemed'"),
                     3);
}

static void redeem_twice_single_use_refuses_the_second_and_keeps_one_row(void **state)
{
    struct testdb *t = *state;
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"ONCE\",\"kind\":\"amount_off\",\"value\":100," VALID
                ",\"version\":1}");
    /* Two requests that both read the coupon as available, as concurrent ones would. */
    struct coupon c;
    assert_int_equal(coupon_get(t->db, "ONCE", &c), ML_OK);
    struct ml_refusal r = {0};
    assert_int_equal(coupon_check_usable(&c, NULL, testdb_clock, &r), ML_OK);

    int64_t use_no = -1;
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(
        coupon_redeem(t->db, &c, "SALE-A", 100, "[1]", testdb_clock, 0, 0, &use_no, &r), ML_OK);
    assert_int_equal(use_no, 1);
    assert_int_equal(db_commit(t->db), ML_OK);

    int64_t second = -1;
    memset(&r, 0, sizeof(r));
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(
        coupon_redeem(t->db, &c, "SALE-B", 100, "[1]", testdb_clock, 0, 0, &second, &r),
        ML_REFUSED);
    assert_string_equal(r.code, "coupon_already_redeemed");
    assert_int_equal(r.http_status, 409);
    assert_int_equal(second, -1);
    /* Even committed, the refused attempt left nothing behind. */
    assert_int_equal(db_commit(t->db), ML_OK);

    /* And again inside one transaction with the first. */
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"ONCE2\",\"kind\":\"amount_off\",\"value\":100," VALID
                ",\"version\":1}");
    struct coupon c2;
    assert_int_equal(coupon_get(t->db, "ONCE2", &c2), ML_OK);
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(
        coupon_redeem(t->db, &c2, "SALE-C", 100, "[1]", testdb_clock, 0, 0, &use_no, &r), ML_OK);
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        coupon_redeem(t->db, &c2, "SALE-D", 100, "[1]", testdb_clock, 0, 0, &use_no, &r),
        ML_REFUSED);
    assert_string_equal(r.code, "coupon_already_redeemed");
    assert_int_equal(db_commit(t->db), ML_OK);

    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM redemptions WHERE coupon_id = 'ONCE'"), 1);
    assert_int_equal(
        testdb_i64(t, "SELECT count(*) FROM redemptions WHERE coupon_id = 'ONCE' AND "
                      "sale_id = 'SALE-A' AND use_no = 1 AND amount = 100 AND restored = 0"),
        1);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM redemptions WHERE coupon_id = 'ONCE2'"),
                     1);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM coupons WHERE state = 'redeemed' AND "
                                   "uses_left = 0"),
                     2);

    /* The state now reads as redeemed. */
    coupon_release(&c);
    assert_int_equal(coupon_get(t->db, "ONCE", &c), ML_OK);
    assert_int_equal(coupon_check_usable(&c, NULL, testdb_clock, &r), ML_REFUSED);
    assert_string_equal(r.code, "coupon_already_redeemed");
    coupon_release(&c);
    coupon_release(&c2);
}

static void two_connections_redeeming_one_use_take_it_once(void **state)
{
    struct testdb *t = *state;
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"ONCE\",\"kind\":\"amount_off\",\"value\":100," VALID
                ",\"version\":1}");
    struct db *other = NULL;
    char err[256];
    assert_int_equal(schema_open(t->path, &other, err, sizeof(err)), ML_OK);
    /* Both read the coupon as usable before either redeems. */
    struct coupon a, b;
    struct ml_refusal r = {0};
    assert_int_equal(coupon_get(t->db, "ONCE", &a), ML_OK);
    assert_int_equal(coupon_get(other, "ONCE", &b), ML_OK);
    assert_int_equal(coupon_check_usable(&a, NULL, testdb_clock, &r), ML_OK);
    assert_int_equal(coupon_check_usable(&b, NULL, testdb_clock, &r), ML_OK);

    int64_t use_no = 0;
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(
        coupon_redeem(t->db, &a, "SALE-A", 100, "[1]", testdb_clock, 0, 0, &use_no, &r), ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);

    assert_int_equal(db_begin(other), ML_OK);
    assert_int_equal(
        coupon_redeem(other, &b, "SALE-B", 100, "[1]", testdb_clock, 0, 0, &use_no, &r),
        ML_REFUSED);
    assert_string_equal(r.code, "coupon_already_redeemed");
    assert_int_equal(db_commit(other), ML_OK);
    coupon_release(&a);
    coupon_release(&b);
    db_close(other);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM redemptions"), 1);
    assert_int_equal(testdb_i64(t, "SELECT sale_id = 'SALE-A' FROM redemptions"), 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, testdb_setup, testdb_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_usable_follows_the_state_table),
        cmocka_unit_test(discount_follows_min_spend_eligibility_and_caps),
        cmocka_unit_test(applies_to_every_category_or_only_the_listed_ones),
        T(coupon_get_returns_the_granted_terms),
        T(revoked_by_hq_is_coupon_revoked),
        T(validity_window_is_judged_at_checkout_time),
        T(member_coupon_needs_its_member_and_bearer_coupon_takes_anyone),
        T(coupon_min_spend_at_the_limit_is_accepted_and_one_below_is_refused),
        T(coupon_with_three_uses_redeems_three_times_then_is_already_redeemed),
        T(redeem_twice_single_use_refuses_the_second_and_keeps_one_row),
        T(two_connections_redeeming_one_use_take_it_once),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
