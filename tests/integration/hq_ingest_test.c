/*
 * hq_ingest_test: memberlink-hq's ingest against a real mosquitto. The group fixture
 * starts a broker on a free loopback port and `memberlink-hq serve` ($ML_BIN, default
 * ./build); the tests publish batches as a store would (libmosquitto, QoS 1), watch the ack
 * topic, and read the results back through `memberlink-hq report|status --json`.
 *
 * The tests run in order and share the broker, HQ and its database: each uses its own
 * terminal (T01, T02...) so their sequences do not interfere. A "not acknowledged" check
 * publishes the bad batch, then a good one on the same topic and waits for the good one's
 * ack: HQ handles messages in order, so an ack for the bad batch would have come first.
 * Every wait is bounded (WAIT_MS).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <mosquitto.h>

#include "harness.h"
#include "hq_ingest.h" /* HQ_BATCH_EVENTS_MAX, HQ_BATCH_BYTES_MAX */

#define WAIT_MS 10000
#define ACKS_MAX 8192
#define BRAND "demo"

struct ack_entry {
    char topic[96];
    char id[72];
};

struct env {
    char dir[256];
    char hq_conf[320], hq_log[320], bad_conf[320];
    struct broker broker;
    pid_t hq;
    struct mosquitto *pub;
    int lib_init;
    int connected, subscribed;
    int last_puback_mid;
    struct ack_entry *acks;
    size_t nacks;
    char today[16];
    int64_t at; /* `at` of every event: the test's start, so all fall on `today` */
};

static struct env E;

/* ---- small helpers ------------------------------------------------------------------- */

/*
 * Runs memberlink-hq with `args` (NULL-terminated) to completion within WAIT_MS.
 * Returns the exit code (-1 on timeout); stdout and stderr go to *ret_out / *ret_err
 * (caller frees; may be NULL arguments).
 */
static int run_hq(char **ret_out, char **ret_err, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    int rc = harness_hq_vrun(NULL, E.dir, WAIT_MS, ret_out, ret_err, first, ap);
    va_end(ap);
    return rc;
}

/* `memberlink-hq -c conf <args> --json` parsed; NULL unless it exited 0 with JSON. */
static cJSON *hq_json(const char *a1, const char *a2)
{
    char *out = NULL, *err = NULL;
    int rc = a2 ? run_hq(&out, &err, "-c", E.hq_conf, a1, a2, "--from", E.today, "--to", E.today,
                         "--json", NULL)
                : run_hq(&out, &err, "-c", E.hq_conf, a1, "--json", NULL);
    cJSON *doc = rc == 0 && out ? cJSON_Parse(out) : NULL;
    if (doc == NULL)
        fprintf(stderr, "memberlink-hq %s %s exited %d: %s%s\n", a1, a2 ? a2 : "", rc,
                out ? out : "", err ? err : "");
    free(out);
    free(err);
    return doc;
}

/* The element of array `name` whose `key` equals `value` (and `key2` == `value2`). */
static const cJSON *find_row(const cJSON *doc, const char *name, const char *key, const char *value,
                             const char *key2, const char *value2)
{
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(doc, name))
    {
        if (strcmp(json_str_at(row, key), value) == 0 &&
            (key2 == NULL || strcmp(json_str_at(row, key2), value2) == 0))
            return row;
    }
    return NULL;
}

/* ---- the test store: a libmosquitto publisher that collects acks ----------------------- */

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    (void)obj;
    E.connected = rc == 0 ? 1 : -1;
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    (void)m;
    (void)obj;
    (void)mid;
    E.subscribed = n > 0 && granted[0] == 1 ? 1 : -1;
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m;
    (void)obj;
    E.last_puback_mid = mid;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    (void)obj;
    cJSON *doc = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen);
    const cJSON *id;
    if (doc != NULL && json_num_at(doc, "v") == 1) {
        cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(doc, "acked"))
        {
            if (cJSON_IsString(id) && E.nacks < ACKS_MAX) {
                snprintf(E.acks[E.nacks].topic, sizeof(E.acks[0].topic), "%s", msg->topic);
                snprintf(E.acks[E.nacks].id, sizeof(E.acks[0].id), "%s", id->valuestring);
                E.nacks++;
            }
        }
    }
    cJSON_Delete(doc);
}

static void pump(int ms)
{
    int64_t until = harness_mono_ms() + ms;
    while (harness_mono_ms() < until)
        mosquitto_loop(E.pub, 20, 1);
}

static void acks_clear(void)
{
    E.nacks = 0;
}

/* How often `id` was acked since acks_clear(), on `topic` (NULL: any). */
static int acked(const char *id, const char *topic)
{
    int n = 0;
    for (size_t i = 0; i < E.nacks; i++)
        if (strcmp(E.acks[i].id, id) == 0 && (topic == NULL || strcmp(E.acks[i].topic, topic) == 0))
            n++;
    return n;
}

/* Pumps until every id is acked (on `topic`), at most WAIT_MS. 0 when all were. */
static int wait_acked(const char *const *ids, size_t n, const char *topic)
{
    int64_t deadline = harness_mono_ms() + WAIT_MS;
    for (;;) {
        size_t have = 0;
        for (size_t i = 0; i < n; i++)
            have += acked(ids[i], topic) > 0;
        if (have == n)
            return 0;
        if (harness_mono_ms() >= deadline) {
            fprintf(stderr, "only %zu of %zu ids acked within %d ms\n", have, n, WAIT_MS);
            return -1;
        }
        mosquitto_loop(E.pub, 20, 1);
    }
}

/* Publishes with QoS 1 and waits for the broker's PUBACK. 0 on success. */
static int publish(const char *topic, const char *payload, size_t len)
{
    int mid = 0;
    if (mosquitto_publish(E.pub, &mid, topic, (int)len, payload, 1, false) != MOSQ_ERR_SUCCESS)
        return -1;
    int64_t deadline = harness_mono_ms() + WAIT_MS;
    while (E.last_puback_mid != mid) {
        if (harness_mono_ms() >= deadline)
            return -1;
        mosquitto_loop(E.pub, 20, 1);
    }
    return 0;
}

static int publish_text(const char *topic, const char *payload)
{
    return publish(topic, payload, strlen(payload));
}

static void ev_topic(char *buf, size_t len, const char *store, const char *terminal)
{
    snprintf(buf, len, "ml/" BRAND "/s/%s/%s/ev", store, terminal);
}

static void ack_topic(char *buf, size_t len, const char *store, const char *terminal)
{
    snprintf(buf, len, "ml/" BRAND "/s/%s/%s/ack", store, terminal);
}

/* ---- events -------------------------------------------------------------------------- */

/* A UUIDv7-shaped id unique per (terminal tag, n). */
static const char *event_id(char buf[40], int tag, int n)
{
    snprintf(buf, 40, "01936f4e-8c1a-7b3e-9%03d-%012d", tag, n);
    return buf;
}

/* An envelope; takes ownership of body (a JSON text). */
static cJSON *envelope(const char *id, int64_t seq, const char *type, const char *store,
                       const char *terminal, const char *body_json)
{
    cJSON *e = cJSON_CreateObject();
    char hlc[48];
    snprintf(hlc, sizeof(hlc), "%lld-%lld", (long long)E.at, (long long)seq);
    cJSON_AddStringToObject(e, "id", id);
    cJSON_AddNumberToObject(e, "seq", (double)seq);
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddStringToObject(e, "store", store);
    cJSON_AddStringToObject(e, "terminal", terminal);
    cJSON_AddStringToObject(e, "hlc", hlc);
    cJSON_AddNumberToObject(e, "at", (double)E.at);
    cJSON_AddItemToObject(e, "body", cJSON_Parse(body_json));
    return e;
}

static cJSON *batch_new(const char *batch_id)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "v", 1);
    cJSON_AddStringToObject(b, "batch", batch_id);
    cJSON_AddArrayToObject(b, "events");
    return b;
}

static void batch_add(cJSON *b, cJSON *event)
{
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(b, "events"), event);
}

/* Prints and frees the batch; caller frees the text. */
static char *batch_text(cJSON *b)
{
    char *text = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    return text;
}

/* A batch of one points.changed event; caller frees. */
static char *single_event_batch(const char *id, int64_t seq, const char *store,
                                const char *terminal)
{
    cJSON *b = batch_new("single");
    batch_add(b, envelope(id, seq, "points.changed", store, terminal,
                          "{\"member_id\":\"M1001\",\"sale_id\":\"X\",\"reason\":\"sale\","
                          "\"earned\":10,\"spent\":0,\"delta\":10}"));
    return batch_text(b);
}

static const char sale_body[] =
    "{\"sale_id\":\"S001-T01-000001\",\"dry_run\":false,\"store\":\"S001\",\"terminal\":\"T01\","
    "\"created_at\":1795000000000,"
    "\"member\":{\"member_id\":\"M1001\",\"tier\":\"gold\",\"points_available\":2466},"
    "\"guide\":{\"guide_id\":\"G01\",\"source\":\"bound\"},"
    "\"lines\":[{\"line_no\":1,\"sku\":\"TSHIRT-01\",\"category\":\"apparel\",\"qty\":2,"
    "\"unit_price\":5990,\"gross\":11980,\"discount\":2000,\"points_value\":200,\"net\":9780,"
    "\"points_earned\":293,\"points_spent\":200,\"commission_bp\":500,\"commission\":489},"
    "{\"line_no\":2,\"sku\":\"SHOE-9\",\"category\":\"shoes\",\"qty\":1,\"unit_price\":39900,"
    "\"gross\":39900,\"discount\":0,\"points_value\":800,\"net\":39100,\"points_earned\":1173,"
    "\"points_spent\":800,\"commission_bp\":300,\"commission\":1173}],"
    "\"discounts\":[{\"coupon_id\":\"CPN-20OFF\",\"kind\":\"amount_off\",\"amount\":2000,"
    "\"lines\":[1]}],"
    "\"subtotal\":51880,\"discount\":2000,"
    "\"points\":{\"requested\":1000,\"spent\":1000,\"value\":1000,\"capped_by\":null,"
    "\"earned\":1466,\"campaign_id\":\"points-2026\"},"
    "\"total\":48880,"
    "\"commission\":{\"guide_id\":\"G01\",\"amount\":1662,\"campaign_id\":\"guide-commission\"}}";

static const char redeem_body[] =
    "{\"coupon_id\":\"CPN-20OFF\",\"sale_id\":\"S001-T01-000001\",\"use_no\":1,\"amount\":2000,"
    "\"lines\":[{\"line_no\":1,\"amount\":2000}],\"member_id\":\"M1001\",\"offline_ok\":true}";

static const char commission_body[] =
    "{\"guide_id\":\"G01\",\"sale_id\":\"S001-T01-000001\",\"source\":\"bound\","
    "\"reason\":\"sale\",\"amount\":1662,\"lines\":[{\"line_no\":1,\"rate_bp\":500,"
    "\"commission\":489},{\"line_no\":2,\"rate_bp\":300,\"commission\":1173}]}";

/* The batch of test 1 and 2: the three events of one sale on S001/T01. */
static char *sale_batch(char ids[3][40])
{
    cJSON *b = batch_new("b-sale-1");
    batch_add(b, envelope(event_id(ids[0], 1, 1), 1, "sale.completed", "S001", "T01", sale_body));
    batch_add(b,
              envelope(event_id(ids[1], 1, 2), 2, "coupon.redeemed", "S001", "T01", redeem_body));
    batch_add(b, envelope(event_id(ids[2], 1, 3), 3, "commission.recorded", "S001", "T01",
                          commission_body));
    return batch_text(b);
}

/* ---- HQ process ---------------------------------------------------------------------- */

static int hq_start(void)
{
    static const char *const ready[] = {"subscribed to", NULL};
    return harness_hq_serve(E.hq_conf, E.hq_log, ready, WAIT_MS, &E.hq);
}

static int setup_env(void)
{
    memset(&E, 0, sizeof(E));
    E.acks = calloc(ACKS_MAX, sizeof(*E.acks));
    snprintf(E.dir, sizeof(E.dir), "/tmp/memberlink-hq-test-XXXXXX");
    if (E.acks == NULL || mkdtemp(E.dir) == NULL)
        return -1;
    snprintf(E.hq_conf, sizeof(E.hq_conf), "%s/hq.ini", E.dir);
    snprintf(E.hq_log, sizeof(E.hq_log), "%s/hq.log", E.dir);
    snprintf(E.bad_conf, sizeof(E.bad_conf), "%s/bad.ini", E.dir);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    E.at = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    time_t t = (time_t)(E.at / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(E.today, sizeof(E.today), "%Y-%m-%d", &tm);

    if (broker_start(&E.broker) != 0) {
        fprintf(stderr, "mosquitto did not start; log in %s\n", E.broker.dir);
        return -1;
    }
    char text[1024];
    snprintf(text, sizeof(text),
             "# memberlink-hq test configuration\n[hq]\nbrand = " BRAND "\ndata_dir = %s/hq\n"
             "share_group =\n[mqtt]\nhost = 127.0.0.1\nport = %u\nclient_id = hq-test-%ld\n"
             "keepalive = 30\n",
             E.dir, (unsigned)E.broker.port, (long)getpid());
    if (harness_write_file(E.hq_conf, text) != 0)
        return -1;

    if (hq_start() != 0)
        return -1;

    mosquitto_lib_init();
    E.lib_init = 1;
    char client_id[64];
    snprintf(client_id, sizeof(client_id), "hq-test-store-%ld", (long)getpid());
    E.pub = mosquitto_new(client_id, true, NULL);
    if (E.pub == NULL)
        return -1;
    mosquitto_connect_callback_set(E.pub, on_connect);
    mosquitto_subscribe_callback_set(E.pub, on_subscribe);
    mosquitto_publish_callback_set(E.pub, on_publish);
    mosquitto_message_callback_set(E.pub, on_message);
    if (mosquitto_connect(E.pub, "127.0.0.1", E.broker.port, 30) != MOSQ_ERR_SUCCESS)
        return -1;
    int64_t deadline = harness_mono_ms() + WAIT_MS;
    while (E.connected == 0 && harness_mono_ms() < deadline)
        mosquitto_loop(E.pub, 20, 1);
    if (E.connected != 1 ||
        mosquitto_subscribe(E.pub, NULL, "ml/" BRAND "/s/+/+/ack", 1) != MOSQ_ERR_SUCCESS)
        return -1;
    while (E.subscribed == 0 && harness_mono_ms() < deadline)
        mosquitto_loop(E.pub, 20, 1);
    return E.subscribed == 1 ? 0 : -1;
}

/* cmocka skips the group teardown when the setup fails: stop what did start, keep logs. */
static int group_setup(void **state)
{
    (void)state;
    if (setup_env() == 0)
        return 0;
    if (E.pub != NULL)
        mosquitto_destroy(E.pub);
    if (E.lib_init)
        mosquitto_lib_cleanup();
    harness_stop(&E.hq, SIGTERM, WAIT_MS);
    broker_stop(&E.broker);
    fprintf(stderr, "hq_ingest: setup failed; logs in %s and %s\n", E.dir, E.broker.dir);
    free(E.acks);
    E.acks = NULL;
    return -1;
}

static int group_teardown(void **state)
{
    (void)state;
    int failed = 0;
    if (E.pub != NULL) {
        mosquitto_disconnect(E.pub);
        mosquitto_destroy(E.pub);
    }
    if (E.lib_init)
        mosquitto_lib_cleanup();
    if (E.hq > 0) {
        /* A clean shutdown exits 0; under ASan a leak makes it non-zero. */
        int rc = harness_stop(&E.hq, SIGTERM, WAIT_MS);
        if (rc != 0) {
            fprintf(stderr, "memberlink-hq exited %d on SIGTERM (log kept: %s)\n", rc, E.hq_log);
            failed = 1;
        }
    }
    if (failed)
        broker_stop(&E.broker);
    else
        broker_cleanup(&E.broker);
    if (!failed && getenv("ML_KEEP") == NULL && E.dir[0] != '\0') {
        char cmd[320];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", E.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", E.dir);
    }
    free(E.acks);
    return failed ? -1 : 0;
}

/* ---- tests --------------------------------------------------------------------------- */

static void batch_of_three_is_acked_and_reported(void **state)
{
    (void)state;
    char ids[3][40], topic[96], atopic[96];
    char *payload = sale_batch(ids);
    ev_topic(topic, sizeof(topic), "S001", "T01");
    ack_topic(atopic, sizeof(atopic), "S001", "T01");
    acks_clear();
    assert_int_equal(publish_text(topic, payload), 0);
    const char *const want[] = {ids[0], ids[1], ids[2]};
    assert_int_equal(wait_acked(want, 3, atopic), 0);
    free(payload);

    cJSON *sales = hq_json("report", "sales");
    assert_non_null(sales);
    const cJSON *row = find_row(sales, "stores", "store", "S001", NULL, NULL);
    assert_non_null(row);
    assert_int_equal((int)json_num_at(row, "sales"), 1);
    assert_int_equal((int)json_num_at(row, "total"), 48880);
    assert_int_equal((int)json_num_at(row, "refunded"), 0);
    cJSON_Delete(sales);

    cJSON *comm = hq_json("report", "commissions");
    assert_non_null(comm);
    row = find_row(comm, "guides", "guide_id", "G01", NULL, NULL);
    assert_non_null(row);
    assert_int_equal((int)json_num_at(row, "commission"), 1662);
    assert_int_equal((int)json_num_at(row, "sales"), 1);
    cJSON_Delete(comm);

    cJSON *red = hq_json("report", "redemptions");
    assert_non_null(red);
    row = find_row(red, "redemptions", "coupon_id", "CPN-20OFF", NULL, NULL);
    assert_non_null(row);
    assert_string_equal(json_str_at(row, "store"), "S001");
    assert_string_equal(json_str_at(row, "terminal"), "T01");
    assert_int_equal((int)json_num_at(row, "amount"), 2000);
    cJSON_Delete(red);
}

static void resent_batch_is_acked_again_and_stored_once(void **state)
{
    (void)state;
    char ids[3][40], topic[96], atopic[96];
    char *payload = sale_batch(ids);
    ev_topic(topic, sizeof(topic), "S001", "T01");
    ack_topic(atopic, sizeof(atopic), "S001", "T01");
    acks_clear();
    assert_int_equal(publish_text(topic, payload), 0);
    const char *const want[] = {ids[0], ids[1], ids[2]};
    assert_int_equal(wait_acked(want, 3, atopic), 0);
    free(payload);

    cJSON *sales = hq_json("report", "sales");
    assert_non_null(sales);
    const cJSON *row = find_row(sales, "stores", "store", "S001", NULL, NULL);
    assert_non_null(row);
    assert_int_equal((int)json_num_at(row, "sales"), 1);
    assert_int_equal((int)json_num_at(row, "total"), 48880);
    cJSON_Delete(sales);

    cJSON *status = hq_json("status", NULL);
    assert_non_null(status);
    row = find_row(status, "terminals", "store", "S001", "terminal", "T01");
    assert_non_null(row);
    assert_int_equal((int)json_num_at(row, "received"), 3);
    assert_int_equal((int)json_num_at(row, "next_seq"), 4);
    assert_int_equal((int)json_num_at(row, "gaps"), 0);
    cJSON_Delete(status);
}

static void event_for_another_store_is_rejected_not_acked(void **state)
{
    (void)state;
    char bad_id[40], good_id[40], topic[96];
    ev_topic(topic, sizeof(topic), "S001", "T02");
    event_id(bad_id, 2, 1);
    event_id(good_id, 2, 2);

    /* A sale for S002 on S001's topic: a store may only speak for itself. */
    cJSON *b = batch_new("b-mismatch");
    batch_add(b, envelope(bad_id, 1, "sale.completed", "S002", "T02", sale_body));
    char *bad = batch_text(b);
    char *good = single_event_batch(good_id, 1, "S001", "T02");
    acks_clear();
    assert_int_equal(publish_text(topic, bad), 0);
    assert_int_equal(publish_text(topic, good), 0);
    const char *const want[] = {good_id};
    assert_int_equal(wait_acked(want, 1, NULL), 0);
    assert_int_equal(acked(bad_id, NULL), 0);
    free(bad);
    free(good);

    cJSON *status = hq_json("status", NULL);
    assert_non_null(status);
    const cJSON *row = find_row(status, "rejections", "store", "S001", "terminal", "T02");
    assert_non_null(row);
    assert_string_equal(json_str_at(row, "reason"), "topic_mismatch");
    assert_int_equal((int)json_num_at(row, "count"), 1);
    assert_string_equal(json_str_at(row, "last_event_id"), bad_id);
    row = find_row(status, "terminals", "store", "S001", "terminal", "T02");
    assert_non_null(row);
    assert_int_equal((int)json_num_at(row, "received"), 1);
    assert_null(find_row(status, "terminals", "store", "S002", NULL, NULL));
    cJSON_Delete(status);

    cJSON *sales = hq_json("report", "sales");
    assert_non_null(sales);
    assert_null(find_row(sales, "stores", "store", "S002", NULL, NULL));
    cJSON_Delete(sales);
    assert_true(harness_count_in_file(E.hq_log, "topic_mismatch") > 0);
}

static void seq_gap_shows_in_status_and_closes(void **state)
{
    (void)state;
    char ids[4][40], topic[96];
    ev_topic(topic, sizeof(topic), "S001", "T03");
    cJSON *b = batch_new("b-gap");
    const int seqs[] = {1, 2, 4};
    for (int i = 0; i < 3; i++)
        batch_add(b, envelope(event_id(ids[i], 3, seqs[i]), seqs[i], "points.changed", "S001",
                              "T03", "{\"member_id\":\"M1\",\"delta\":1}"));
    char *payload = batch_text(b);
    acks_clear();
    assert_int_equal(publish_text(topic, payload), 0);
    const char *const want[] = {ids[0], ids[1], ids[2]};
    assert_int_equal(wait_acked(want, 3, NULL), 0);
    free(payload);

    cJSON *status = hq_json("status", NULL);
    assert_non_null(status);
    const cJSON *row = find_row(status, "terminals", "store", "S001", "terminal", "T03");
    assert_non_null(row);
    assert_int_equal((int)json_num_at(row, "next_seq"), 3);
    assert_int_equal((int)json_num_at(row, "max_seq"), 4);
    assert_int_equal((int)json_num_at(row, "gaps"), 1);
    cJSON_Delete(status);
    assert_true(harness_count_in_file(E.hq_log, "S001/T03: seq gap: 1 seq(s) missing") > 0);

    /* The missing event arrives late: the gap closes. */
    payload = single_event_batch(event_id(ids[3], 3, 3), 3, "S001", "T03");
    acks_clear();
    assert_int_equal(publish_text(topic, payload), 0);
    const char *const want2[] = {ids[3]};
    assert_int_equal(wait_acked(want2, 1, NULL), 0);
    free(payload);
    status = hq_json("status", NULL);
    assert_non_null(status);
    row = find_row(status, "terminals", "store", "S001", "terminal", "T03");
    assert_non_null(row);
    assert_int_equal((int)json_num_at(row, "next_seq"), 5);
    assert_int_equal((int)json_num_at(row, "max_seq"), 4);
    assert_int_equal((int)json_num_at(row, "gaps"), 0);
    cJSON_Delete(status);
    assert_true(harness_count_in_file(E.hq_log, "S001/T03: seq gap closed") > 0);
}

/* A batch of n points.changed events on S001/T05 from seq `first`; ids[i] filled. */
static char *many_events(int n, int tag, int first, char (*ids)[40])
{
    cJSON *b = batch_new("b-many");
    for (int i = 0; i < n; i++)
        batch_add(b, envelope(event_id(ids[i], tag, first + i), first + i, "points.changed", "S001",
                              "T05", "{\"member_id\":\"M1\",\"delta\":1}"));
    return batch_text(b);
}

static void batch_at_event_limit_is_acked_one_past_is_dropped(void **state)
{
    (void)state;
    char topic[96], follow_id[40];
    char(*ids)[40] = calloc(HQ_BATCH_EVENTS_MAX + 1, 40);
    const char **want = calloc(HQ_BATCH_EVENTS_MAX, sizeof(*want));
    assert_non_null(ids);
    assert_non_null(want);
    ev_topic(topic, sizeof(topic), "S001", "T05");

    /* One past the limit first (seqs 1..1001, tag 6): dropped whole, nothing acked. */
    char *over = many_events(HQ_BATCH_EVENTS_MAX + 1, 6, 1, ids);
    char *follow = single_event_batch(event_id(follow_id, 7, 1), 5000, "S001", "T05");
    acks_clear();
    assert_int_equal(publish_text(topic, over), 0);
    assert_int_equal(publish_text(topic, follow), 0);
    const char *const want_follow[] = {follow_id};
    assert_int_equal(wait_acked(want_follow, 1, NULL), 0);
    for (int i = 0; i < HQ_BATCH_EVENTS_MAX + 1; i++)
        assert_int_equal(acked(ids[i], NULL), 0);
    free(over);
    free(follow);

    /* Exactly at the limit (tag 5): every event acked in one ack. */
    char *at = many_events(HQ_BATCH_EVENTS_MAX, 5, 1, ids);
    for (int i = 0; i < HQ_BATCH_EVENTS_MAX; i++)
        want[i] = ids[i];
    acks_clear();
    assert_int_equal(publish_text(topic, at), 0);
    assert_int_equal(wait_acked(want, HQ_BATCH_EVENTS_MAX, NULL), 0);
    free(at);

    cJSON *status = hq_json("status", NULL);
    assert_non_null(status);
    const cJSON *row = find_row(status, "terminals", "store", "S001", "terminal", "T05");
    assert_non_null(row);
    assert_int_equal((int)json_num_at(row, "received"), HQ_BATCH_EVENTS_MAX + 1);
    assert_int_equal((int)json_num_at(row, "next_seq"), HQ_BATCH_EVENTS_MAX + 1);
    assert_int_equal((int)json_num_at(row, "max_seq"), 5000);
    cJSON_Delete(status);
    free(ids);
    free(want);
}

/* `payload` padded with trailing spaces (valid JSON whitespace) to exactly `len` bytes. */
static char *padded(const char *payload, size_t len)
{
    size_t n = strlen(payload);
    char *p = malloc(len + 1);
    assert_non_null(p);
    assert_true(n <= len);
    memcpy(p, payload, n);
    memset(p + n, ' ', len - n);
    p[len] = '\0';
    return p;
}

static void batch_at_byte_limit_is_acked_one_past_and_garbage_are_dropped(void **state)
{
    (void)state;
    char topic[96], at_id[40], over_id[40], follow_id[40];
    ev_topic(topic, sizeof(topic), "S001", "T06");
    char *at_src = single_event_batch(event_id(at_id, 8, 2), 2, "S001", "T06");
    char *over_src = single_event_batch(event_id(over_id, 8, 1), 1, "S001", "T06");
    char *at = padded(at_src, HQ_BATCH_BYTES_MAX);
    char *over = padded(over_src, HQ_BATCH_BYTES_MAX + 1);
    char *follow = single_event_batch(event_id(follow_id, 8, 3), 3, "S001", "T06");
    const char *garbage[] = {"not json", "{\"v\":2,\"batch\":\"x\",\"events\":[]}",
                             "{\"v\":1,\"batch\":\"x\",\"events\":{}}", "[1,2,3]"};

    acks_clear();
    assert_int_equal(publish(topic, over, HQ_BATCH_BYTES_MAX + 1), 0);
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        assert_int_equal(publish_text(topic, garbage[i]), 0);
    assert_int_equal(publish(topic, at, HQ_BATCH_BYTES_MAX), 0);
    assert_int_equal(publish_text(topic, follow), 0);
    const char *const want[] = {at_id, follow_id};
    assert_int_equal(wait_acked(want, 2, NULL), 0);
    assert_int_equal(acked(over_id, NULL), 0);
    free(at_src);
    free(over_src);
    free(at);
    free(over);
    free(follow);

    cJSON *status = hq_json("status", NULL);
    assert_non_null(status);
    const cJSON *row = find_row(status, "terminals", "store", "S001", "terminal", "T06");
    assert_non_null(row);
    assert_int_equal((int)json_num_at(row, "received"), 2);
    assert_int_equal((int)json_num_at(row, "next_seq"), 1);
    assert_int_equal((int)json_num_at(row, "gaps"), 1);
    cJSON_Delete(status);
    assert_true(harness_count_in_file(E.hq_log, "over the 1048576-byte limit") > 0);
}

static void batch_published_while_hq_down_is_acked_after_restart(void **state)
{
    (void)state;
    char id[40], topic[96], atopic[96];
    ev_topic(topic, sizeof(topic), "S001", "T04");
    ack_topic(atopic, sizeof(atopic), "S001", "T04");
    assert_int_equal(harness_stop(&E.hq, SIGTERM, WAIT_MS), 0);

    /* QoS 1 to a persistent session: the broker queues it for HQ. */
    char *payload = single_event_batch(event_id(id, 4, 1), 1, "S001", "T04");
    acks_clear();
    assert_int_equal(publish_text(topic, payload), 0);
    free(payload);
    pump(200);
    assert_int_equal(acked(id, NULL), 0);

    assert_int_equal(hq_start(), 0);
    const char *const want[] = {id};
    assert_int_equal(wait_acked(want, 1, atopic), 0);
    assert_true(harness_count_in_file(E.hq_log, "(resumed session)") > 0);

    cJSON *status = hq_json("status", NULL);
    assert_non_null(status);
    const cJSON *row = find_row(status, "terminals", "store", "S001", "terminal", "T04");
    assert_non_null(row);
    assert_int_equal((int)json_num_at(row, "received"), 1);
    cJSON_Delete(status);
}

static void unknown_config_key_exits_2_naming_it(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(harness_write_file(E.bad_conf, "[hq]\nbrand = demo\nbrnad = typo\n"), 0);
    assert_int_equal(run_hq(&out, &err, "-c", E.bad_conf, "status", NULL), 2);
    assert_non_null(err);
    assert_non_null(strstr(err, "brnad"));
    assert_non_null(strstr(err, ":3:"));
    int lines = 0;
    for (const char *c = err; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 1); /* one line naming the key */
    free(out);
    free(err);

    out = err = NULL;
    assert_int_equal(harness_write_file(E.bad_conf, "[hq]\n[broker]\nhost = x\n"), 0);
    assert_int_equal(run_hq(&out, &err, "-c", E.bad_conf, "status", NULL), 2);
    assert_non_null(err);
    assert_non_null(strstr(err, "broker"));
    free(out);
    free(err);

    out = err = NULL;
    assert_int_equal(
        run_hq(&out, &err, "-c", E.hq_conf, "report", "sales", "--from", "2026-02-30", NULL), 2);
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_of_three_is_acked_and_reported),
        cmocka_unit_test(resent_batch_is_acked_again_and_stored_once),
        cmocka_unit_test(event_for_another_store_is_rejected_not_acked),
        cmocka_unit_test(seq_gap_shows_in_status_and_closes),
        cmocka_unit_test(batch_at_event_limit_is_acked_one_past_is_dropped),
        cmocka_unit_test(batch_at_byte_limit_is_acked_one_past_and_garbage_are_dropped),
        cmocka_unit_test(batch_published_while_hq_down_is_acked_after_restart),
        cmocka_unit_test(unknown_config_key_exits_2_naming_it),
    };
    return cmocka_run_group_tests_name("hq_ingest", tests, group_setup, group_teardown);
}
