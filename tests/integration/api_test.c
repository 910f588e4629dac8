/*
 * api_test: a full offline day and every API error code, against a real memberlinkd
 * over real HTTP. One daemon per test, seeded with packaging/demo/facts.ndjson plus
 * test facts through `memberlinkd --import-facts`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "facts.h"
#include "harness.h"
#include "db.h"
#include "clock.h"
#include "schema.h"
#include "trust.h"

/* Extra facts: an expired coupon, a coupon of another member, a member with no points
 * campaign reach is not needed; times are ms UTC. */
static const char test_facts[] =
    "{\"kind\":\"coupon.grant\",\"body\":{\"coupon_id\":\"OLD-1\",\"member_id\":\"M1001\","
    "\"kind\":\"amount_off\",\"value\":100,\"valid_from\":1600000000000,"
    "\"valid_to\":1600000001000,\"version\":1}}\n"
    "{\"kind\":\"coupon.grant\",\"body\":{\"coupon_id\":\"M2-ONLY\",\"member_id\":\"M1002\","
    "\"kind\":\"amount_off\",\"value\":100,\"valid_from\":1735689600000,"
    "\"valid_to\":2051222400000,\"version\":1}}\n"
    "{\"kind\":\"coupon.grant\",\"body\":{\"coupon_id\":\"FUTURE-1\",\"kind\":\"amount_off\","
    "\"value\":100,\"valid_from\":2040000000000,\"valid_to\":2051222400000,\"version\":1}}\n"
    "{\"kind\":\"coupon.grant\",\"body\":{\"coupon_id\":\"REVOKED-1\",\"kind\":\"amount_off\","
    "\"value\":100,\"valid_from\":1735689600000,\"valid_to\":2051222400000,\"version\":1}}\n"
    "{\"kind\":\"coupon.revoke\",\"body\":{\"coupon_id\":\"REVOKED-1\",\"version\":2}}\n"
    "{\"kind\":\"coupon.grant\",\"body\":{\"coupon_id\":\"SHOES-ONLY\",\"kind\":\"amount_off\","
    "\"value\":100,\"categories\":[\"shoes\"],\"valid_from\":1735689600000,"
    "\"valid_to\":2051222400000,\"uses\":5,\"version\":1}}\n"
    "{\"kind\":\"guide.upsert\",\"body\":{\"guide_id\":\"G-OFF\",\"name\":\"Gone\","
    "\"status\":\"inactive\",\"version\":1}}\n";

static int setup(void **state)
{
    struct daemon *d = calloc(1, sizeof(*d));
    if (d == NULL || daemon_setup(d, NULL) != 0 ||
        daemon_import(d, "packaging/demo/facts.ndjson") != 0 ||
        daemon_import(d, daemon_write_file(d, "test.ndjson", test_facts)) != 0 ||
        daemon_start(d) != 0) {
        fprintf(stderr, "api_test: cannot start memberlinkd (see %s)\n", d ? d->log : "?");
        return -1;
    }
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    int rc = daemon_cleanup(*state);
    free(*state);
    return rc;
}

static int has_coupon(const cJSON *identify, const char *id)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(identify, "coupons"))
    {
        const cJSON *cid = cJSON_GetObjectItemCaseSensitive(c, "coupon_id");
        if (cJSON_IsString(cid) && strcmp(cid->valuestring, id) == 0)
            return 1;
    }
    return 0;
}

#define SALE_BODY                                                                                  \
    "{\"member\":\"M1001\",\"items\":["                                                            \
    "{\"sku\":\"TS-01\",\"category\":\"apparel\",\"qty\":2,\"unit_price\":5990},"                  \
    "{\"sku\":\"SH-9\",\"category\":\"shoes\",\"qty\":1,\"unit_price\":39900}],"                   \
    "\"coupons\":[\"CPN-20OFF\"],\"points_to_redeem\":500"

static void full_offline_day_identify_quote_commit_refund(void **state)
{
    struct daemon *d = *state;
    struct http_resp r, q, c;

    /* Identify by phone, typed the way a shop assistant might. */
    assert_int_equal(
        http_call(d, "POST", "/v1/identify", NULL, "{\"phone\":\"+86 138-0013-8000\"}", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "member_id")->valuestring, "M1001");
    assert_string_equal(cJSON_GetObjectItem(r.json, "phone")->valuestring, "138****8000");
    assert_true(json_num_at(r.json, "points.available") == 2000);
    assert_true(has_coupon(r.json, "CPN-20OFF"));
    http_resp_free(&r);

    /* Quote: prices everything, changes nothing. */
    double depth0 = daemon_status_num(d, "outbox.depth"), sales0 = daemon_status_num(d, "sales");
    assert_int_equal(http_call(d, "POST", "/v1/checkout", NULL, SALE_BODY ",\"dry_run\":true}", &q),
                     0);
    assert_int_equal(q.status, 200);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(q.json, "sale_id")));
    assert_true(daemon_status_num(d, "outbox.depth") == depth0);
    assert_true(daemon_status_num(d, "sales") == sales0);

    /* Commit: same figures as the quote. 51880 - 2000 coupon - 500 points = 49380. */
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "day-sale-1", SALE_BODY "}", &c), 0);
    assert_int_equal(c.status, 200);
    assert_true(json_num_at(c.json, "total") == 49380);
    assert_true(json_num_at(c.json, "total") == json_num_at(q.json, "total"));
    assert_true(json_num_at(c.json, "points.earned") == json_num_at(q.json, "points.earned"));
    /* gold 1.5x * vip 2x * 1 point per yuan on 493.80 yuan = 1481.4 -> 1481 */
    assert_true(json_num_at(c.json, "points.earned") == 1481);
    assert_true(json_num_at(c.json, "points.spent") == 500);
    /* Bound guide G01: apparel 5% of 9880 = 494, shoes 3% of 39500 = 1185. */
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(c.json, "guide"), "source")->valuestring, "bound");
    assert_true(json_num_at(c.json, "commission.amount") == 1679);
    const char *sale_id = cJSON_GetObjectItem(c.json, "sale_id")->valuestring;
    assert_string_equal(sale_id, "S001-T01-000001");
    /* sale.completed, coupon.redeemed, points.changed, commission.recorded */
    assert_true(daemon_status_num(d, "outbox.depth") == depth0 + 4);
    http_resp_free(&q);

    /* The coupon is used, the points moved. */
    assert_int_equal(http_call(d, "POST", "/v1/identify", NULL, "{\"phone\":\"13800138000\"}", &r),
                     0);
    assert_false(has_coupon(r.json, "CPN-20OFF"));
    assert_true(json_num_at(r.json, "points.available") == 2000 - 500 + 1481);
    http_resp_free(&r);

    /* Read back. */
    char path[128];
    snprintf(path, sizeof(path), "/v1/sales/%s", sale_id);
    assert_int_equal(http_call(d, "GET", path, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(json_num_at(r.json, "total") == 49380);
    http_resp_free(&r);

    /* Partial refund of the shoes line. */
    snprintf(path, sizeof(path), "/v1/sales/%s/refund", sale_id);
    assert_int_equal(http_call(d, "POST", path, "day-refund-1", "{\"lines\":[2]}", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(json_num_at(r.json, "amount") == 39500);
    assert_true(json_num_at(r.json, "commission_reversed") == 1185);
    assert_true(json_num_at(r.json, "points.earned_reversed") ==
                json_num_at(c.json, "lines.1.points_earned"));
    assert_true(json_num_at(r.json, "points.spent_returned") ==
                json_num_at(c.json, "lines.1.points_spent"));
    http_resp_free(&r);

    /* The guide's statement shows only the kept line's commission. */
    assert_int_equal(http_call(d, "GET", "/v1/guides/G01/commissions", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(json_num_at(r.json, "total") == 494);
    http_resp_free(&r);

    /* Metrics count what happened. */
    assert_int_equal(http_call(d, "GET", "/metrics", NULL, NULL, &r), 0);
    assert_non_null(strstr(r.body, "memberlink_checkouts_total 1\n"));
    assert_non_null(strstr(r.body, "memberlink_refunds_total 1\n"));
    assert_non_null(strstr(r.body, "memberlink_quotes_total 1\n"));
    http_resp_free(&r);
    http_resp_free(&c);
}

struct err_case {
    const char *name;
    const char *method, *path, *auth, *idem, *body;
    long status;
    const char *code;
};

#define AUTH "Authorization: Bearer " HARNESS_TOKEN
#define ITEMS "\"items\":[{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":1000}]"

static const struct err_case err_cases[] = {
    {"no token", "GET", "/v1/status", NULL, NULL, NULL, 401, "unauthorized"},
    {"wrong token", "GET", "/v1/status", "Authorization: Bearer wrong-token-wrong-token", NULL,
     NULL, 401, "unauthorized"},
    {"token prefix", "GET", "/v1/status", "Authorization: Bearer integration-test-token-000", NULL,
     NULL, 401, "unauthorized"},
    {"unknown path", "GET", "/v1/nothing", AUTH, NULL, NULL, 404, "not_found"},
    {"wrong method", "GET", "/v1/checkout", AUTH, NULL, NULL, 405, "method_not_allowed"},
    {"malformed json", "POST", "/v1/identify", AUTH, NULL, "{\"phone\":", 400, "malformed_json"},
    {"trailing garbage", "POST", "/v1/identify", AUTH, NULL, "{\"phone\":\"13800138000\"} x", 400,
     "malformed_json"},
    {"not an object", "POST", "/v1/identify", AUTH, NULL, "[1]", 400, "invalid_request"},
    {"escaped NUL in a string", "POST", "/v1/identify", AUTH, NULL,
     "{\"phone\":\"13800138000\\u0000x\"}", 400, "malformed_json"},
    {"escaped backslash before u0000 is text", "POST", "/v1/identify", AUTH, NULL,
     "{\"phone\":\"\\\\u0000\"}", 400, "invalid_phone"},
    {"both phone and qr", "POST", "/v1/identify", AUTH, NULL,
     "{\"phone\":\"13800138000\",\"qr\":\"x\"}", 400, "invalid_request"},
    {"bad phone", "POST", "/v1/identify", AUTH, NULL, "{\"phone\":\"12345\"}", 400,
     "invalid_phone"},
    {"unknown phone", "POST", "/v1/identify", AUTH, NULL, "{\"phone\":\"13611112222\"}", 404,
     "member_not_found"},
    {"blocked member", "POST", "/v1/identify", AUTH, NULL, "{\"phone\":\"13700137000\"}", 403,
     "member_blocked"},
    {"qr malformed", "POST", "/v1/identify", AUTH, NULL, "{\"qr\":\"ML1:ABC\"}", 400,
     "qr_malformed"},
    {"no idempotency key", "POST", "/v1/checkout", AUTH, NULL, "{" ITEMS "}", 400,
     "idempotency_key_required"},
    {"idempotency key too long", "POST", "/v1/checkout", AUTH,
     "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
     "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
     "{" ITEMS "}", 400, "invalid_request"},
    {"no items", "POST", "/v1/checkout", AUTH, "e1", "{\"items\":[]}", 400, "invalid_request"},
    {"qty zero", "POST", "/v1/checkout", AUTH, "e2",
     "{\"items\":[{\"sku\":\"A\",\"category\":\"c\",\"qty\":0,\"unit_price\":1}]}", 400,
     "invalid_request"},
    {"price fraction", "POST", "/v1/checkout", AUTH, "e3",
     "{\"items\":[{\"sku\":\"A\",\"category\":\"c\",\"qty\":1,\"unit_price\":1.5}]}", 400,
     "invalid_request"},
    {"other terminal", "POST", "/v1/checkout", AUTH, "e4", "{\"terminal\":\"T99\"," ITEMS "}", 400,
     "invalid_request"},
    {"unknown member", "POST", "/v1/checkout", AUTH, "e5", "{\"member\":\"NOPE\"," ITEMS "}", 404,
     "member_not_found"},
    {"blocked member checkout", "POST", "/v1/checkout", AUTH, "e6",
     "{\"member\":\"M1003\"," ITEMS "}", 403, "member_blocked"},
    {"unknown guide", "POST", "/v1/checkout", AUTH, "e7", "{\"guide\":\"G404\"," ITEMS "}", 404,
     "guide_not_found"},
    {"inactive guide", "POST", "/v1/checkout", AUTH, "e8", "{\"guide\":\"G-OFF\"," ITEMS "}", 404,
     "guide_not_found"},
    {"unknown coupon", "POST", "/v1/checkout", AUTH, "e9", "{\"coupons\":[\"NOPE\"]," ITEMS "}",
     404, "coupon_not_found"},
    {"expired coupon", "POST", "/v1/checkout", AUTH, "e10",
     "{\"member\":\"M1001\",\"coupons\":[\"OLD-1\"]," ITEMS "}", 409, "coupon_expired"},
    {"future coupon", "POST", "/v1/checkout", AUTH, "e11", "{\"coupons\":[\"FUTURE-1\"]," ITEMS "}",
     409, "coupon_not_yet_valid"},
    {"revoked coupon", "POST", "/v1/checkout", AUTH, "e12",
     "{\"coupons\":[\"REVOKED-1\"]," ITEMS "}", 409, "coupon_revoked"},
    {"other member's coupon", "POST", "/v1/checkout", AUTH, "e13",
     "{\"member\":\"M1001\",\"coupons\":[\"M2-ONLY\"]," ITEMS "}", 409, "coupon_member_mismatch"},
    {"member coupon, no member", "POST", "/v1/checkout", AUTH, "e14",
     "{\"coupons\":[\"M2-ONLY\"]," ITEMS "}", 409, "coupon_member_mismatch"},
    {"min spend one below", "POST", "/v1/checkout", AUTH, "e15",
     "{\"member\":\"M1001\",\"coupons\":[\"CPN-20OFF\"],\"items\":[{\"sku\":\"A\",\"category\":"
     "\"apparel\",\"qty\":1,\"unit_price\":9999}]}",
     409, "coupon_min_spend_not_met"},
    {"coupon for other category", "POST", "/v1/checkout", AUTH, "e16",
     "{\"coupons\":[\"SHOES-ONLY\"]," ITEMS "}", 409, "coupon_not_applicable"},
    {"duplicate coupon", "POST", "/v1/checkout", AUTH, "e17",
     "{\"coupons\":[\"BEARER-5\",\"BEARER-5\"]," ITEMS "}", 400, "invalid_request"},
    {"points without member", "POST", "/v1/checkout", AUTH, "e18",
     "{\"points_to_redeem\":10," ITEMS "}", 400, "member_required"},
    {"unknown sale", "GET", "/v1/sales/S001-T01-999999", AUTH, NULL, NULL, 404, "sale_not_found"},
    {"refund unknown sale", "POST", "/v1/sales/NOPE/refund", AUTH, "e19", "{}", 404,
     "sale_not_found"},
    {"refund without key", "POST", "/v1/sales/NOPE/refund", AUTH, NULL, "{}", 400,
     "idempotency_key_required"},
    {"commissions bad date", "GET", "/v1/guides/G01/commissions?from=2026-13-01", AUTH, NULL, NULL,
     400, "invalid_request"},
    {"commissions 367 days", "GET", "/v1/guides/G01/commissions?from=2025-01-01&to=2026-01-02",
     AUTH, NULL, NULL, 400, "invalid_request"},
    {"commissions unknown guide", "GET", "/v1/guides/G404/commissions", AUTH, NULL, NULL, 404,
     "guide_not_found"},
    {"sales limit 101", "GET", "/v1/sales?limit=101", AUTH, NULL, NULL, 400, "invalid_request"},
};

static void every_error_has_its_code_and_changes_nothing(void **state)
{
    struct daemon *d = *state;
    double depth0 = daemon_status_num(d, "outbox.depth"), sales0 = daemon_status_num(d, "sales");
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const struct err_case *e = &err_cases[i];
        struct http_resp r;
        assert_int_equal(http_call_raw(d, e->method, e->path, e->auth, e->idem, e->body,
                                       e->body ? strlen(e->body) : 0, &r),
                         0);
        if (r.status != e->status || strcmp(http_error_code(&r), e->code) != 0)
            fail_msg("%s: expected %ld %s, got %ld %s", e->name, e->status, e->code, r.status,
                     r.body);
        /* Every error carries a human message too. */
        const cJSON *msg = cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "error"), "message");
        assert_true(cJSON_IsString(msg) && msg->valuestring[0] != '\0');
        http_resp_free(&r);
    }
    assert_true(daemon_status_num(d, "outbox.depth") == depth0);
    assert_true(daemon_status_num(d, "sales") == sales0);
}

/* A body of `len` bytes: {"phone":"13800138000"} padded with spaces. */
static char *padded_identify(size_t len)
{
    static const char json[] = "{\"phone\":\"13800138000\"}";
    char *b = malloc(len + 1);
    memset(b, ' ', len);
    memcpy(b, json, sizeof(json) - 1);
    b[len] = '\0';
    return b;
}

static void body_limit_accepts_64k_refuses_one_more(void **state)
{
    struct daemon *d = *state;
    struct http_resp r;
    char *at = padded_identify(65536), *past = padded_identify(65537);
    assert_int_equal(http_call(d, "POST", "/v1/identify", NULL, at, &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
    assert_int_equal(http_call(d, "POST", "/v1/identify", NULL, past, &r), 0);
    assert_int_equal(r.status, 413);
    assert_string_equal(http_error_code(&r), "body_too_large");
    http_resp_free(&r);
    free(at);
    free(past);
}

static char *nested(int depth)
{
    /* {"a":{"a":...{}...}} with `depth` objects in all. */
    size_t n = (size_t)depth * 6 + 2;
    char *b = calloc(1, n + 1);
    size_t k = 0;
    for (int i = 0; i < depth - 1; i++) {
        memcpy(b + k, "{\"a\":", 5);
        k += 5;
    }
    b[k++] = '{';
    for (int i = 0; i < depth; i++)
        b[k++] = '}';
    return b;
}

static void json_depth_8_parses_9_is_malformed(void **state)
{
    struct daemon *d = *state;
    struct http_resp r;
    char *ok = nested(8), *deep = nested(9);
    assert_int_equal(http_call(d, "POST", "/v1/identify", NULL, ok, &r), 0);
    assert_string_equal(http_error_code(&r), "invalid_request"); /* parsed; no phone */
    http_resp_free(&r);
    assert_int_equal(http_call(d, "POST", "/v1/identify", NULL, deep, &r), 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(http_error_code(&r), "malformed_json");
    http_resp_free(&r);
    free(ok);
    free(deep);
}

static void idempotency_repeat_returns_first_answer_other_body_refused(void **state)
{
    struct daemon *d = *state;
    struct http_resp a, b, c;
    const char *body = "{\"coupons\":[\"BEARER-5\"]," ITEMS "}";
    double sales0 = daemon_status_num(d, "sales");
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "idem-1", body, &a), 0);
    assert_int_equal(a.status, 200);
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "idem-1", body, &b), 0);
    assert_int_equal(b.status, 200);
    assert_string_equal(a.body, b.body);
    assert_true(daemon_status_num(d, "sales") == sales0 + 1);
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "idem-1", "{" ITEMS "}", &c), 0);
    assert_int_equal(c.status, 422);
    assert_string_equal(http_error_code(&c), "idempotency_key_reused");
    assert_true(daemon_status_num(d, "sales") == sales0 + 1);
    http_resp_free(&a);
    http_resp_free(&b);
    http_resp_free(&c);
}

static void single_use_coupon_second_redemption_is_refused(void **state)
{
    struct daemon *d = *state;
    struct http_resp r;
    const char *body = "{\"member\":\"M1001\",\"coupons\":[\"CPN-10PCT\"]," ITEMS "}";
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "once-1", body, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(json_num_at(r.json, "discount") == 100); /* 10% of 1000 */
    http_resp_free(&r);
    double depth = daemon_status_num(d, "outbox.depth");
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "once-2", body, &r), 0);
    assert_int_equal(r.status, 409);
    assert_string_equal(http_error_code(&r), "coupon_already_redeemed");
    http_resp_free(&r);
    assert_true(daemon_status_num(d, "outbox.depth") == depth);
}

static void refund_twice_is_already_refunded(void **state)
{
    struct daemon *d = *state;
    struct http_resp r;
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "rf-sale", "{" ITEMS "}", &r), 0);
    assert_int_equal(r.status, 200);
    char path[128];
    snprintf(path, sizeof(path), "/v1/sales/%s/refund",
             cJSON_GetObjectItem(r.json, "sale_id")->valuestring);
    http_resp_free(&r);
    assert_int_equal(http_call(d, "POST", path, "rf-1", "{}", &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
    double depth = daemon_status_num(d, "outbox.depth");
    assert_int_equal(http_call(d, "POST", path, "rf-2", "{}", &r), 0);
    assert_int_equal(r.status, 409);
    assert_string_equal(http_error_code(&r), "already_refunded");
    http_resp_free(&r);
    assert_int_equal(http_call(d, "POST", path, "rf-3", "{\"lines\":[2]}", &r), 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(http_error_code(&r), "invalid_request");
    http_resp_free(&r);
    assert_true(daemon_status_num(d, "outbox.depth") == depth);
}

static int setup_warn(void **state)
{
    struct daemon *d = calloc(1, sizeof(*d));
    if (d == NULL || daemon_setup(d, "outbox_warn_events = 2\n") != 0 || daemon_start(d) != 0)
        return -1;
    *state = d;
    return 0;
}

/* Offline for long: past [agent] outbox_warn_events the agent says so, and keeps selling. */
static void outbox_past_its_warning_size_is_reported_and_sales_continue(void **state)
{
    struct daemon *d = *state;
    struct http_resp r;
    char key[16];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof(key), "w-%d", i);
        assert_int_equal(http_call(d, "POST", "/v1/checkout", key, "{" ITEMS "}", &r), 0);
        assert_int_equal(r.status, 200);
        http_resp_free(&r);
        assert_int_equal(http_call(d, "GET", "/v1/status", NULL, NULL, &r), 0);
        const cJSON *w = cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "outbox"), "warning");
        assert_true(i + 1 > 2 ? cJSON_IsTrue(w) : cJSON_IsFalse(w)); /* at the limit: no */
        http_resp_free(&r);
    }
    assert_int_equal(http_call(d, "GET", "/metrics", NULL, NULL, &r), 0);
    assert_non_null(strstr(r.body, "memberlink_outbox_warning 1\n"));
    assert_non_null(strstr(r.body, "memberlink_outbox_depth 3\n"));
    http_resp_free(&r);
}

/* ---- offline risk and the deny-list, against a terminal that syncs with HQ ---- */

#define OFFLINE_SALE                                                                               \
    "{\"member\":\"M1001\",\"coupons\":[\"CPN-20OFF\",\"BEARER-5\"],\"items\":["                   \
    "{\"sku\":\"TS-01\",\"category\":\"apparel\",\"qty\":2,\"unit_price\":5990}]}"
#define CONTACT_AGO_MS                                                                             \
    INT64_C(300000) /* HQ last heard 5 minutes ago, if the machine is up as long */
#define CONTACT_AGO_MIN_MS INT64_C(31000) /* past the tests' contact_window_s of 30 */

static int64_t contact_boot_ms;

static int64_t contact_boot_clock(void)
{
    return contact_boot_ms;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Writes into the stopped daemon's database what HQ would have left there: its signed time
 * heard CONTACT_AGO_MS ago in this boot, coupon CPN-10PCT redeemed in another store and
 * member M1002 blocked (deny.upsert facts).
 */
static int seed_hq_state(struct daemon *d)
{
    char path[320], err[256];
    struct db *db = NULL;
    struct trust now, then;
    struct ml_refusal r = {0};
    int applied = 0, rc = -1;
    snprintf(path, sizeof(path), "%s/memberlink.db", d->dir);
    if (schema_open(path, &db, err, sizeof(err)) != ML_OK)
        return -1;
    cJSON *coupon = cJSON_Parse("{\"subject\":\"coupon\",\"id\":\"CPN-10PCT\","
                                "\"reason\":\"redeemed_elsewhere\",\"version\":1}");
    cJSON *member = cJSON_Parse("{\"subject\":\"member\",\"id\":\"M1002\","
                                "\"reason\":\"blocked\",\"version\":1}");
    /* HQ was heard in this boot, so no earlier than boot itself: on a machine up for less than
     * CONTACT_AGO_MS the contact is at boot, and one up for less than CONTACT_AGO_MIN_MS waits
     * until it has been up that long. The outcome never depends on the uptime. */
    int64_t boot = clock_boot_ms();
    if (boot < CONTACT_AGO_MIN_MS) {
        usleep((useconds_t)(CONTACT_AGO_MIN_MS - boot) * 1000);
        boot = clock_boot_ms();
    }
    int64_t ago = boot < CONTACT_AGO_MS ? boot : CONTACT_AGO_MS;
    contact_boot_ms = boot - ago;
    if (trust_open(&now, db) == ML_OK &&
        trust_open_with(&then, db, contact_boot_clock, now.boot_id) == ML_OK &&
        db_begin(db) == ML_OK && trust_hq_time(&then, db, wall_ms() - ago) == ML_OK &&
        facts_apply(db, "deny.upsert", coupon, &applied, &r) == ML_OK &&
        facts_apply(db, "deny.upsert", member, &applied, &r) == ML_OK && db_commit(db) == ML_OK)
        rc = 0;
    cJSON_Delete(coupon);
    cJSON_Delete(member);
    db_close(db);
    return rc;
}

/* [mqtt] host set to a port nobody listens on: a terminal that syncs, with HQ away. */
static int setup_offline_with(void **state, const char *offline_conf, int heard_hq)
{
    struct daemon *d = calloc(1, sizeof(*d));
    char conf[512];
    if (d == NULL)
        return -1;
    snprintf(conf, sizeof(conf), "[mqtt]\nhost = 127.0.0.1\nport = %u\n%s",
             (unsigned)harness_free_port(), offline_conf);
    if (daemon_setup(d, conf) != 0 || daemon_import(d, "packaging/demo/facts.ndjson") != 0) {
        free(d);
        return -1;
    }
    if (heard_hq && seed_hq_state(d) != 0) {
        free(d);
        return -1;
    }
    if (daemon_start(d) != 0) {
        fprintf(stderr, "api_test: cannot start memberlinkd (see %s)\n", d->log);
        free(d);
        return -1;
    }
    *state = d;
    return 0;
}

static int setup_offline_untrusted(void **state)
{
    return setup_offline_with(state, "", 0);
}

static int setup_offline_trusted(void **state)
{
    return setup_offline_with(state, "[offline]\ncontact_window_s = 30\ncoupon_max_value = 1000\n",
                              1);
}

static void offline_without_trusted_time_sells_without_coupons_and_replays_its_answer(void **state)
{
    struct daemon *d = *state;
    struct http_resp a, b;
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "off-1", OFFLINE_SALE, &a), 0);
    assert_int_equal(a.status, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a.json, "offline")));
    assert_true(json_num_at(a.json, "discount") == 0);
    assert_true(json_num_at(a.json, "total") == 11980);
    const cJSON *refused = cJSON_GetObjectItem(a.json, "coupons_refused");
    assert_int_equal(cJSON_GetArraySize(refused), 2);
    for (int i = 0; i < 2; i++)
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetArrayItem(refused, i), "code")->valuestring,
            "clock_untrusted");
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "off-1", OFFLINE_SALE, &b), 0);
    assert_int_equal(b.status, 200);
    assert_string_equal(a.body, b.body);
    assert_true(daemon_status_num(d, "sales") == 1);
    http_resp_free(&a);
    http_resp_free(&b);
}

static void offline_caps_apply_with_trusted_time_and_replays_keep_the_first_answer(void **state)
{
    struct daemon *d = *state;
    struct http_resp a, b, c;
    /* Trusted time restored from the database (same boot), HQ away for 5 min: offline.
     * CPN-20OFF (2000) is past coupon_max_value = 1000 and left out; BEARER-5 (500) is in. */
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "cap-1", OFFLINE_SALE, &a), 0);
    assert_int_equal(a.status, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a.json, "offline")));
    assert_true(json_num_at(a.json, "discount") == 500);
    const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(a.json, "coupons_refused"), 0);
    assert_string_equal(cJSON_GetObjectItem(f, "coupon_id")->valuestring, "CPN-20OFF");
    assert_string_equal(cJSON_GetObjectItem(f, "code")->valuestring, "offline_coupon_value");

    /* Restart with a higher cap: a replay still gets the first answer, byte for byte... */
    daemon_signal(d, SIGTERM);
    assert_int_equal(d->exit_status, 0);
    FILE *conf = fopen(d->conf, "a");
    assert_non_null(conf);
    fputs("[offline]\ncoupon_max_value = 5000\n", conf);
    assert_int_equal(fclose(conf), 0);
    assert_int_equal(daemon_start(d), 0);
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "cap-1", OFFLINE_SALE, &b), 0);
    assert_int_equal(b.status, 200);
    assert_string_equal(a.body, b.body);
    /* ...while a new sale is decided under the new cap, still offline and trusted. */
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "cap-2", OFFLINE_SALE, &c), 0);
    assert_int_equal(c.status, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c.json, "offline")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c.json, "coupons_refused")), 0);
    assert_true(json_num_at(c.json, "discount") == 2500);
    assert_true(daemon_status_num(d, "sales") == 2);
    http_resp_free(&a);
    http_resp_free(&b);
    http_resp_free(&c);
}

static void denied_coupon_and_member_are_refused_at_checkout(void **state)
{
    struct daemon *d = *state;
    struct http_resp r;
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "deny-1",
                               "{\"member\":\"M1001\",\"coupons\":[\"CPN-10PCT\"]," ITEMS "}", &r),
                     0);
    assert_int_equal(r.status, 409);
    assert_string_equal(http_error_code(&r), "coupon_redeemed_elsewhere");
    http_resp_free(&r);
    assert_int_equal(
        http_call(d, "POST", "/v1/checkout", "deny-2", "{\"member\":\"M1002\"," ITEMS "}", &r), 0);
    assert_int_equal(r.status, 403);
    assert_string_equal(http_error_code(&r), "member_blocked");
    http_resp_free(&r);
    assert_true(daemon_status_num(d, "sales") == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(full_offline_day_identify_quote_commit_refund, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(every_error_has_its_code_and_changes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(body_limit_accepts_64k_refuses_one_more, setup, teardown),
        cmocka_unit_test_setup_teardown(json_depth_8_parses_9_is_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(idempotency_repeat_returns_first_answer_other_body_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(single_use_coupon_second_redemption_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refund_twice_is_already_refunded, setup, teardown),
        cmocka_unit_test_setup_teardown(outbox_past_its_warning_size_is_reported_and_sales_continue,
                                        setup_warn, teardown),
        cmocka_unit_test_setup_teardown(
            offline_without_trusted_time_sells_without_coupons_and_replays_its_answer,
            setup_offline_untrusted, teardown),
        cmocka_unit_test_setup_teardown(
            offline_caps_apply_with_trusted_time_and_replays_keep_the_first_answer,
            setup_offline_trusted, teardown),
        cmocka_unit_test_setup_teardown(denied_coupon_and_member_are_refused_at_checkout,
                                        setup_offline_trusted, teardown),
    };
    return cmocka_run_group_tests_name("api (real memberlinkd over HTTP)", tests, NULL, NULL);
}
