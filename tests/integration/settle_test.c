/*
 * settle_test: HQ's decisions reaching stores, each side real: mosquitto, `memberlink-hq
 * serve` (ingest, time beacon, catch-up endpoint, settlement) and one memberlinkd per store.
 *
 * The main case is the one settlement exists for: two stores cut off from HQ both redeem
 * the same single-use bearer coupon offline (each store database allows it once); when the
 * link is back, HQ books exactly one conflict, tells the store whose trusted time was later,
 * and denies the coupon everywhere, a third store included. The others check the rest of
 * what HQ pushes to a connected store: a campaign withdrawn, a member denied and lifted,
 * and the trusted clock the terminals take from HQ.
 *
 * Each test gets its own broker, HQ data dir and agents. Every wait is on a condition, with
 * generous bounds: an agent reconnects with a backoff of up to 60 s.
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
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 20000
#define RECONNECT_MS 120000 /* the agents' and HQ's reconnect backoff, with room to spare */
#define PHONE_KEY "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0"
#define COUPON "BEARER-1"
#define NSTORES 3

struct fixture {
    struct broker b;
    char dir[256], conf[320], log[320];
    char pubkey[160]; /* the stores' "pubkey = kid=..." line */
    uint16_t http_port;
    pid_t hq;
    struct daemon store[NSTORES]; /* S001, S002, S003 */
    int nstores;
};

/* Runs memberlink-hq with this fixture's config; the arguments end with NULL. Returns its
 * exit status; *ret_out (may be NULL) gets stdout, caller frees. */
static int hq_cmd(struct fixture *f, char **ret_out, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    char *err = NULL;
    int rc = harness_hq_vrun(f->conf, f->dir, 30000, ret_out, &err, first, ap);
    va_end(ap);
    if (rc != 0)
        fprintf(stderr, "memberlink-hq %s exited %d: %s\n", first, rc, err ? err : "");
    free(err);
    return rc;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || broker_start(&f->b) != 0)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/memberlink-settle-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->conf, sizeof(f->conf), "%s/hq.conf", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/serve.log", f->dir);
    f->http_port = harness_free_port();
    char text[1024];
    snprintf(text, sizeof(text),
             "[hq]\nbrand = demo\ndata_dir = %s\nstores = S001,S002,S003\nphone_key "
             "= " PHONE_KEY
             "\nhttp_listen = 127.0.0.1:%u\ntime_beacon_s = 2\n[mqtt]\nhost = 127.0.0.1\n"
             "port = %u\n",
             f->dir, (unsigned)f->http_port, (unsigned)f->b.port);
    char *out = NULL;
    if (harness_write_file(f->conf, text) != 0 || hq_cmd(f, NULL, "keygen", NULL) != 0 ||
        hq_cmd(f, &out, "pubkey", NULL) != 0 || out == NULL) {
        free(out);
        return -1;
    }
    out[strcspn(out, "\n")] = '\0';
    snprintf(f->pubkey, sizeof(f->pubkey), "%s", out);
    free(out);
    static const char *const ready[] = {"subscribed to", "http: catch-up on", NULL};
    if (harness_hq_serve(f->conf, f->log, ready, WAIT_MS, &f->hq) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = 0;
    for (int i = 0; i < f->nstores; i++)
        if (daemon_cleanup(&f->store[i]) != 0)
            rc = -1;
    if (harness_stop(&f->hq, SIGTERM, WAIT_MS) != 0) {
        fprintf(stderr, "memberlink-hq serve did not exit 0; log: %s\n", f->log);
        rc = -1;
    }
    broker_cleanup(&f->b);
    if (rc == 0 && getenv("ML_KEEP") == NULL) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
            rc = -1;
    }
    free(f);
    return rc;
}

/* Sets up and starts the agent of store `store` (terminal T01) on the fixture's broker and
 * HQ, with `extra` (may be "") appended to its config. */
static struct daemon *add_store(struct fixture *f, const char *store, int with_url,
                                const char *extra)
{
    assert_true(f->nstores < NSTORES);
    struct daemon *d = &f->store[f->nstores++];
    char conf[1024];
    char url[96] = "";
    if (with_url)
        snprintf(url, sizeof(url), "url = http://127.0.0.1:%u\n", (unsigned)f->http_port);
    snprintf(conf, sizeof(conf),
             "[mqtt]\nhost = 127.0.0.1\nport = %u\nack_timeout_s = 2\n[hq]\n%s%s\n%s",
             (unsigned)f->b.port, url, f->pubkey, extra);
    assert_int_equal(daemon_setup(d, conf), 0);
    /* daemon_setup writes store S001; this agent is `store`. */
    char *text = harness_read_file(d->conf, NULL);
    assert_non_null(text);
    char *at = strstr(text, "store = S001\n");
    assert_non_null(at);
    memcpy(at + strlen("store = "), store, 4);
    assert_int_equal(harness_write_file(d->conf, text), 0);
    free(text);
    assert_int_equal(daemon_start(d), 0);
    return d;
}

/* GET /v1/status; caller frees. */
static cJSON *status(const struct daemon *d)
{
    struct http_resp r;
    assert_int_equal(http_call(d, "GET", "/v1/status", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    cJSON *doc = r.json;
    r.json = NULL;
    http_resp_free(&r);
    return doc;
}

/* Polls /v1/status until the boolean at obj.name is `want`. 0 when it was. */
static int wait_status_bool(const struct daemon *d, const char *obj, const char *name, int want,
                            int timeout_ms)
{
    int64_t deadline = harness_mono_ms() + timeout_ms;
    for (;;) {
        cJSON *doc = status(d);
        const cJSON *v =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, obj), name);
        int ok = cJSON_IsBool(v) && (cJSON_IsTrue(v) ? 1 : 0) == want;
        cJSON_Delete(doc);
        if (ok)
            return 0;
        if (harness_mono_ms() >= deadline)
            return -1;
        harness_sleep_ms(100);
    }
}

static const char SALE_ITEMS[] = "\"items\":[{\"sku\":\"A\",\"category\":\"x\",\"qty\":1,"
                                 "\"unit_price\":10000}]";

/* A checkout (dry run without `key`) with an optional member and coupon. */
static void checkout(const struct daemon *d, const char *key, const char *member,
                     const char *coupon, struct http_resp *r)
{
    char body[512], m[96] = "", c[96] = "";
    if (member != NULL)
        snprintf(m, sizeof(m), "\"member\":\"%s\",", member);
    if (coupon != NULL)
        snprintf(c, sizeof(c), ",\"coupons\":[\"%s\"]", coupon);
    snprintf(body, sizeof(body), "{%s%s%s%s}", m, SALE_ITEMS, c,
             key == NULL ? ",\"dry_run\":true" : "");
    assert_int_equal(http_call(d, "POST", "/v1/checkout", key, body, r), 0);
}

/* Quotes until the agent calls a sale offline (HQ not heard within contact_window_s). */
static int wait_offline(const struct daemon *d, int timeout_ms)
{
    int64_t deadline = harness_mono_ms() + timeout_ms;
    for (;;) {
        struct http_resp r;
        checkout(d, NULL, NULL, NULL, &r);
        int offline =
            r.status == 200 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "offline"));
        http_resp_free(&r);
        if (offline)
            return 0;
        if (harness_mono_ms() >= deadline)
            return -1;
        harness_sleep_ms(250);
    }
}

static int64_t trusted_ms(const struct daemon *d)
{
    cJSON *doc = status(d);
    double v = json_num_at(doc, "clock.trusted_ms");
    cJSON_Delete(doc);
    return (int64_t)v;
}

/* `report conflicts --json` over every day; caller frees. */
static cJSON *conflicts(struct fixture *f)
{
    char *out = NULL;
    assert_int_equal(hq_cmd(f, &out, "report", "conflicts", "--from", "2000-01-01", "--to",
                            "2999-12-31", "--json", NULL),
                     0);
    cJSON *doc = cJSON_Parse(out);
    if (doc == NULL)
        fail_msg("report conflicts: not JSON: %s", out ? out : "");
    free(out);
    return doc;
}

static int wait_conflicts(struct fixture *f, double want, int timeout_ms)
{
    int64_t deadline = harness_mono_ms() + timeout_ms;
    for (;;) {
        cJSON *doc = conflicts(f);
        double n = json_num_at(doc, "count");
        cJSON_Delete(doc);
        if (n == want)
            return 0;
        if (harness_mono_ms() >= deadline)
            return -1;
        harness_sleep_ms(500);
    }
}

static void expect_error(const struct http_resp *r, long status, const char *code)
{
    if (r->status != status || strcmp(http_error_code(r), code) != 0)
        fail_msg("want %ld %s, got %ld %s", status, code, r->status, r->body);
}

/*
 * S001 and S002 both redeem the bearer coupon BEARER-1 (one use) while HQ's broker is away,
 * S002 a second later by its trusted clock. Back online: one conflict at HQ, S002's sale
 * booked against S001's; the notice goes to S002 only; the coupon is refused at all three
 * stores, S003 included, which never used it.
 */
static void
coupon_redeemed_offline_in_two_stores_is_settled_once_and_denied_everywhere(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[NSTORES] = {"S001", "S002", "S003"};
    struct daemon *d[NSTORES];
    for (int i = 0; i < NSTORES; i++)
        d[i] = add_store(f, ids[i], 1, "[offline]\ncontact_window_s = 5\n");
    assert_int_equal(hq_cmd(f, NULL, "grant", "coupon", "--id", COUPON, "--kind", "amount_off",
                            "--value", "500", "--to", "2099-01-01", "--uses", "1", "--offline-ok",
                            "yes", NULL),
                     0);
    for (int i = 0; i < NSTORES; i++) {
        assert_int_equal(wait_status_num(d[i], "cache.coupons", 1, WAIT_MS), 0);
        assert_int_equal(wait_status_bool(d[i], "clock", "trusted", 1, WAIT_MS), 0);
    }

    /* WAN down: after contact_window_s without HQ, both stores sell offline. */
    broker_stop(&f->b);
    assert_int_equal(wait_offline(d[0], 60000), 0);
    assert_int_equal(wait_offline(d[1], 60000), 0);
    struct http_resp r;
    char sale1[96], sale2[96];
    checkout(d[0], "settle-s1", NULL, COUPON, &r);
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "offline")));
    assert_true(json_num_at(r.json, "discount") == 500);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "coupons_refused")), 0);
    snprintf(sale1, sizeof(sale1), "%s", json_str_at(r.json, "sale_id"));
    http_resp_free(&r);
    /* S002 redeems later by its own trusted clock (the one HQ settles by). */
    int64_t first = trusted_ms(d[0]);
    int64_t deadline = harness_mono_ms() + WAIT_MS;
    while (trusted_ms(d[1]) < first + 1000 && harness_mono_ms() < deadline)
        harness_sleep_ms(100);
    assert_true(trusted_ms(d[1]) >= first + 1000);
    checkout(d[1], "settle-s2", NULL, COUPON, &r);
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "offline")));
    assert_true(json_num_at(r.json, "discount") == 500);
    snprintf(sale2, sizeof(sale2), "%s", json_str_at(r.json, "sale_id"));
    http_resp_free(&r);

    /* WAN back: both stores' events reach HQ. */
    assert_int_equal(broker_start(&f->b), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(wait_status_num(d[i], "outbox.depth", 0, RECONNECT_MS), 0);
    assert_int_equal(wait_conflicts(f, 1, WAIT_MS), 0);
    cJSON *doc = conflicts(f);
    assert_true(json_num_at(doc, "count") == 1);
    assert_true(json_num_at(doc, "total") == 500);
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "conflicts"), 0);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(c, "winner");
    assert_string_equal(json_str_at(c, "coupon_id"), COUPON);
    assert_string_equal(json_str_at(c, "store"), "S002");
    assert_string_equal(json_str_at(c, "sale_id"), sale2);
    assert_true(json_num_at(c, "amount") == 500);
    assert_string_equal(json_str_at(w, "store"), "S001");
    assert_string_equal(json_str_at(w, "sale_id"), sale1);
    assert_true(json_num_at(c, "at") > json_num_at(w, "at"));
    /* Granted outside any campaign: the exposure is booked under campaign null. */
    const cJSON *camps = cJSON_GetObjectItemCaseSensitive(doc, "campaigns");
    assert_int_equal(cJSON_GetArraySize(camps), 1);
    assert_true(cJSON_IsNull(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(camps, 0), "campaign_id")));
    assert_true(json_num_at(camps, "0.amount") == 500);
    cJSON_Delete(doc);

    /* The deny reaches every store; the notice only the later one. */
    for (int i = 0; i < NSTORES; i++)
        assert_int_equal(wait_status_num(d[i], "cache.deny_entries", 1, RECONNECT_MS), 0);
    assert_int_equal(wait_status_num(d[1], "settlements", 1, WAIT_MS), 0);
    assert_int_equal(wait_status_num(d[0], "settlements", 0, 100), 0);
    assert_int_equal(wait_status_num(d[2], "settlements", 0, 100), 0);
    for (int i = 0; i < NSTORES; i++) {
        char key[32];
        snprintf(key, sizeof(key), "settle-after-%d", i);
        checkout(d[i], key, NULL, COUPON, &r);
        expect_error(&r, 409, "coupon_redeemed_elsewhere");
        http_resp_free(&r);
    }
    /* Still exactly one conflict once everything has been delivered. */
    assert_int_equal(wait_conflicts(f, 1, 100), 0);
}

/* A withdrawn campaign leaves the connected store at once: it no longer earns points. */
static void withdrawn_campaign_leaves_a_connected_store(void **state)
{
    struct fixture *f = *state;
    struct daemon *d = add_store(f, "S001", 1, "");
    const char *camp =
        daemon_write_file(d, "campaign.json",
                          "{\"campaign_id\":\"pts\",\"version\":1,\"valid_from\":1735689600000,"
                          "\"valid_to\":2051222400000,\"points\":{\"earn_per_yuan\":2}}");
    assert_int_equal(hq_cmd(f, NULL, "push", "campaign", camp, NULL), 0);
    const char *member = daemon_write_file(d, "member.json",
                                           "{\"member_id\":\"M1\",\"phone\":\"13800138000\","
                                           "\"tier\":\"gold\",\"status\":\"active\","
                                           "\"version\":1}\n");
    assert_int_equal(hq_cmd(f, NULL, "push", "member", member, NULL), 0);
    assert_int_equal(wait_status_num(d, "cache.campaigns", 1, WAIT_MS), 0);
    assert_int_equal(wait_status_num(d, "cache.members", 1, WAIT_MS), 0);
    assert_int_equal(wait_status_num(d, "connected", 1, WAIT_MS), 0);
    struct http_resp r;
    checkout(d, "withdraw-1", "M1", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_num_at(r.json, "points.earned") == 200);
    http_resp_free(&r);

    assert_int_equal(hq_cmd(f, NULL, "withdraw", "campaign", "pts", NULL), 0);
    assert_int_equal(wait_status_num(d, "cache.campaigns", 0, WAIT_MS), 0);
    checkout(d, "withdraw-2", "M1", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_num_at(r.json, "points.earned") == 0);
    http_resp_free(&r);
}

static void identify(const struct daemon *d, struct http_resp *r)
{
    assert_int_equal(http_call(d, "POST", "/v1/identify", NULL, "{\"phone\":\"138 0013 8000\"}", r),
                     0);
}

/* HQ's deny-list blocks a member at the store, and lifting it lets the member in again. */
static void denied_member_is_blocked_until_hq_lifts_it(void **state)
{
    struct fixture *f = *state;
    struct daemon *d = add_store(f, "S001", 1, "");
    const char *member = daemon_write_file(d, "member.json",
                                           "{\"member_id\":\"M1\",\"phone\":\"13800138000\","
                                           "\"tier\":\"gold\",\"status\":\"active\","
                                           "\"version\":1}\n");
    assert_int_equal(hq_cmd(f, NULL, "push", "member", member, NULL), 0);
    assert_int_equal(wait_status_num(d, "cache.members", 1, WAIT_MS), 0);
    struct http_resp r;
    identify(d, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str_at(r.json, "member_id"), "M1");
    http_resp_free(&r);

    assert_int_equal(hq_cmd(f, NULL, "deny", "member", "--id", "M1", "--reason", "fraud", NULL), 0);
    assert_int_equal(wait_status_num(d, "cache.deny_entries", 1, WAIT_MS), 0);
    identify(d, &r);
    expect_error(&r, 403, "member_blocked");
    http_resp_free(&r);
    checkout(d, "deny-1", "M1", NULL, &r);
    expect_error(&r, 403, "member_blocked");
    http_resp_free(&r);

    assert_int_equal(
        hq_cmd(f, NULL, "deny", "member", "--id", "M1", "--reason", "fraud", "--lift", NULL), 0);
    assert_int_equal(wait_status_num(d, "cache.deny_entries", 0, WAIT_MS), 0);
    identify(d, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str_at(r.json, "member_id"), "M1");
    http_resp_free(&r);
}

/*
 * A terminal starts without trusted time; its first catch-up (which ends with HQ's signed
 * time) gives it, close to HQ's clock. A terminal on MQTT alone gets it from the beacon HQ
 * publishes every 30 s.
 */
static void catch_up_and_time_beacon_give_trusted_time(void **state)
{
    struct fixture *f = *state;
    /* Broker away: the first terminal has heard nothing from HQ yet. */
    broker_stop(&f->b);
    struct daemon *web = add_store(f, "S001", 1, "");
    assert_int_equal(wait_status_bool(web, "clock", "trusted", 0, 0), 0);
    struct daemon *mqtt = add_store(f, "S002", 0, "");
    assert_int_equal(wait_status_bool(mqtt, "clock", "trusted", 0, 0), 0);
    assert_int_equal(broker_start(&f->b), 0);

    assert_int_equal(wait_status_bool(web, "clock", "trusted", 1, RECONNECT_MS), 0);
    cJSON *doc = status(web);
    double skew = json_num_at(doc, "clock.skew_ms");
    assert_true(skew > -5000 && skew < 5000);
    cJSON_Delete(doc);

    /* No catch-up URL: only the beacon (every 30 s) can give it. */
    assert_int_equal(wait_status_bool(mqtt, "clock", "trusted", 1, RECONNECT_MS), 0);
    doc = status(mqtt);
    skew = json_num_at(doc, "clock.skew_ms");
    assert_true(skew > -5000 && skew < 5000);
    assert_true(json_num_at(doc, "clock.since_contact_ms") < 31000);
    cJSON_Delete(doc);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(coupon_redeemed_offline_in_two_stores_is_settled_once_and_denied_everywhere),
        T(withdrawn_campaign_leaves_a_connected_store),
        T(denied_member_is_blocked_until_hq_lifts_it),
        T(catch_up_and_time_beacon_give_trusted_time),
    };
#undef T
    return cmocka_run_group_tests_name("settle (mosquitto, memberlink-hq, memberlinkd x3)", tests,
                                       NULL, NULL);
}
