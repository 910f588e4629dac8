/*
 * crash_test: durability across restarts and kill -9. A sale answered with 200 is on
 * disk; after a crash the same Idempotency-Key returns that sale, never a second one;
 * every committed sale has exactly its events in the outbox.
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

#include "harness.h"

/* Member M1001 has a bound guide: each sale makes sale.completed, points.changed and
 * commission.recorded. */
#define BODY                                                                                       \
    "{\"member\":\"M1001\",\"items\":[{\"sku\":\"TS-01\",\"category\":\"apparel\",\"qty\":1,"      \
    "\"unit_price\":5990}]}"
#define EVENTS_PER_SALE 3

static int setup(void **state)
{
    struct daemon *d = calloc(1, sizeof(*d));
    if (d == NULL || daemon_setup(d, NULL) != 0 ||
        daemon_import(d, "packaging/demo/facts.ndjson") != 0 || daemon_start(d) != 0)
        return -1;
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    int rc = daemon_cleanup(*state);
    free(*state);
    return rc;
}

static void kill9_after_commit_keeps_sale_and_key_returns_it(void **state)
{
    struct daemon *d = *state;
    struct http_resp a, b, s;
    assert_int_equal(http_call(d, "POST", "/v1/checkout", "crash-1", BODY, &a), 0);
    assert_int_equal(a.status, 200);
    daemon_signal(d, SIGKILL); /* right after the 200 */
    assert_int_equal(daemon_start(d), 0);

    char path[128];
    snprintf(path, sizeof(path), "/v1/sales/%s",
             cJSON_GetObjectItem(a.json, "sale_id")->valuestring);
    assert_int_equal(http_call(d, "GET", path, NULL, NULL, &s), 0);
    assert_int_equal(s.status, 200);
    assert_true(json_num_at(s.json, "total") == json_num_at(a.json, "total"));

    assert_int_equal(http_call(d, "POST", "/v1/checkout", "crash-1", BODY, &b), 0);
    assert_int_equal(b.status, 200);
    assert_string_equal(a.body, b.body); /* the first answer, byte for byte */
    assert_true(daemon_status_num(d, "sales") == 1);
    assert_true(daemon_status_num(d, "outbox.depth") == EVENTS_PER_SALE);
    http_resp_free(&a);
    http_resp_free(&b);
    http_resp_free(&s);
}

static void kill9_mid_stream_then_replay_all_keys_makes_no_duplicates(void **state)
{
    struct daemon *d = *state;
    enum { N = 20, KILL_AFTER = 10 };
    char first[N][64];
    char key[32];
    for (int i = 0; i < N; i++) {
        struct http_resp r;
        snprintf(key, sizeof(key), "stream-%d", i);
        assert_int_equal(http_call(d, "POST", "/v1/checkout", key, BODY, &r), 0);
        assert_int_equal(r.status, 200);
        snprintf(first[i], sizeof(first[i]), "%s",
                 cJSON_GetObjectItem(r.json, "sale_id")->valuestring);
        http_resp_free(&r);
        if (i + 1 == KILL_AFTER) {
            daemon_signal(d, SIGKILL);
            assert_int_equal(daemon_start(d), 0);
        }
    }
    /* The POS did not see some answers and retries everything: same sales come back. */
    daemon_signal(d, SIGKILL);
    assert_int_equal(daemon_start(d), 0);
    for (int i = 0; i < N; i++) {
        struct http_resp r;
        snprintf(key, sizeof(key), "stream-%d", i);
        assert_int_equal(http_call(d, "POST", "/v1/checkout", key, BODY, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(cJSON_GetObjectItem(r.json, "sale_id")->valuestring, first[i]);
        http_resp_free(&r);
    }
    assert_true(daemon_status_num(d, "sales") == N);
    assert_true(daemon_status_num(d, "outbox.depth") == N * EVENTS_PER_SALE);
}

static void restart_mid_day_keeps_state_refund_restores_coupon_for_reuse(void **state)
{
    struct daemon *d = *state;
    struct http_resp r;
    assert_int_equal(
        http_call(d, "POST", "/v1/checkout", "mid-1",
                  "{\"member\":\"M1001\",\"coupons\":[\"CPN-20OFF\"],\"items\":["
                  "{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":12000},"
                  "{\"sku\":\"B\",\"category\":\"shoes\",\"qty\":1,\"unit_price\":8000}]}",
                  &r),
        0);
    assert_int_equal(r.status, 200);
    char refund[128];
    snprintf(refund, sizeof(refund), "/v1/sales/%s/refund",
             cJSON_GetObjectItem(r.json, "sale_id")->valuestring);
    double earned = json_num_at(r.json, "points.earned");
    http_resp_free(&r);

    daemon_signal(d, SIGTERM);
    assert_int_equal(daemon_start(d), 0);

    /* Coupon still used, points still pending. */
    assert_int_equal(http_call(d, "POST", "/v1/identify", NULL, "{\"phone\":\"13800138000\"}", &r),
                     0);
    assert_true(json_num_at(r.json, "points.pending") == earned);
    assert_null(strstr(r.body, "CPN-20OFF"));
    http_resp_free(&r);

    /* Refund the whole sale: the coupon comes back (its campaign restores on refund). */
    assert_int_equal(http_call(d, "POST", refund, "mid-refund", "{}", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"coupons_restored\":[\"CPN-20OFF\"]"));
    http_resp_free(&r);
    assert_int_equal(http_call(d, "POST", "/v1/identify", NULL, "{\"phone\":\"13800138000\"}", &r),
                     0);
    assert_true(json_num_at(r.json, "points.pending") == 0);
    assert_non_null(strstr(r.body, "CPN-20OFF"));
    http_resp_free(&r);

    /* ...and can be redeemed again. */
    assert_int_equal(
        http_call(d, "POST", "/v1/checkout", "mid-2",
                  "{\"member\":\"M1001\",\"coupons\":[\"CPN-20OFF\"],\"items\":["
                  "{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":12000}]}",
                  &r),
        0);
    assert_int_equal(r.status, 200);
    assert_true(json_num_at(r.json, "discount") == 2000);
    http_resp_free(&r);
}

static void newer_schema_is_refused_with_exit_2(void **state)
{
    struct daemon *d = *state;
    daemon_signal(d, SIGTERM);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "sqlite3 '%s/memberlink.db' 'PRAGMA user_version = 99'", d->dir);
    assert_int_equal(system(cmd), 0);
    assert_int_not_equal(daemon_start(d), 0);
    assert_int_equal(d->exit_status, 2);
    snprintf(cmd, sizeof(cmd), "grep -q 'schema version 99 is newer' '%s'", d->log);
    assert_int_equal(system(cmd), 0);
}

static void bad_config_value_exits_2_naming_the_key(void **state)
{
    struct daemon *d = *state;
    daemon_signal(d, SIGTERM);
    FILE *f = fopen(d->conf, "a");
    assert_non_null(f);
    fputs("api_listen = 127.0.0.1:99999\n", f);
    fclose(f);
    assert_int_not_equal(daemon_start(d), 0);
    assert_int_equal(d->exit_status, 2);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "grep -q 'bad value for \\[agent\\] api_listen' '%s'", d->log);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(kill9_after_commit_keeps_sale_and_key_returns_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(kill9_mid_stream_then_replay_all_keys_makes_no_duplicates,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            restart_mid_day_keeps_state_refund_restores_coupon_for_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_schema_is_refused_with_exit_2, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_config_value_exits_2_naming_the_key, setup, teardown),
    };
    return cmocka_run_group_tests_name("crash (kill -9 and restart of a real memberlinkd)", tests,
                                       NULL, NULL);
}
