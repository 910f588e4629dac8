/*
 * hq_push_test: memberlink-hq's HQ -> store half against a real mosquitto. The
 * group fixture starts a broker (harness.h) and `memberlink-hq serve` ($ML_BIN,
 * default ./build) with its HTTP catch-up endpoint on a free loopback port, and
 * a test store: a libmosquitto client subscribed to every store inbox. The
 * tests run the push commands as an operator would and check what a store gets:
 * over MQTT (signatures verified with the keyring built from the printed
 * `pubkey = ` line, canonical text, cursors) and over HTTP catch-up (the same
 * texts, in cursor order, bounded per response).
 *
 * The tests run in order and share the broker, HQ and its database; each uses
 * its own stores where cursors matter. Every wait is bounded (WAIT_MS).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <mosquitto.h>

#include "canon.h"
#include "harness.h"
#include "hq_http.h" /* HQ_CHANGES_LINES_MAX */
#include "phone.h"
#include "sign.h"

#define WAIT_MS 10000
#define MSGS_MAX 8192
#define BRAND "demo"
#define PHONE_KEY_HEX "00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef"
#define CAMPAIGN_ID "points-2026"
#define CAMPAIGN_TOPIC "ml/" BRAND "/hq/campaign/" CAMPAIGN_ID

/* A message a test client received. */
struct rmsg {
    char topic[128];
    char *payload; /* NUL-terminated */
    size_t len;
    int retain;
};

/* A libmosquitto client that keeps what it receives. */
struct client {
    struct mosquitto *m;
    struct rmsg *msgs;
    size_t n;
    int connected, subscribed;
};

struct env {
    char dir[256];
    char hq_conf[320], hq_log[320], data_dir[300];
    struct broker broker;
    uint16_t http_port;
    pid_t hq;
    int lib_init;
    struct client store; /* subscribed to ml/demo/s/+/inbox from the start */
    char pubkey_line[128];
    struct sign_keyring *kr;
    char *campaign_text; /* the retained campaign as received */
    char *s001[4];       /* S001's texts by cursor 1..3 as received */
};

static struct env E;

/* ---- small helpers
 * ------------------------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 if the file's bytes contain needle (binary-safe); 0 if not or no file. */
static int file_has_bytes(const char *path, const char *needle)
{
    size_t n = 0, k = strlen(needle);
    char *buf = harness_read_file(path, &n);
    int found = 0;
    for (size_t i = 0; buf != NULL && i + k <= n && !found; i++)
        found = memcmp(buf + i, needle, k) == 0;
    free(buf);
    return found;
}

/* Runs memberlink-hq -c conf <args> to completion within WAIT_MS; exit code or
 * -1. */
static int run_hq(char **ret_out, char **ret_err, const char *first, ...)
{
    char *out = NULL, *err = NULL;
    va_list ap;
    va_start(ap, first);
    int rc = harness_hq_vrun(E.hq_conf, E.dir, WAIT_MS, &out, &err, first, ap);
    va_end(ap);
    if (rc != 0 && rc != 2)
        fprintf(stderr, "memberlink-hq exited %d:\n%s%s", rc, out ? out : "", err ? err : "");
    if (ret_out)
        *ret_out = out;
    else
        free(out);
    if (ret_err)
        *ret_err = err;
    else
        free(err);
    return rc;
}

static const cJSON *field(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

/* The lowercase hex HMAC a store computes for a normalized number under the
 * test key. */
static void expected_phone_hmac(const char *normalized, char out[65])
{
    uint8_t key[PHONE_KEY_LEN], mac[PHONE_KEY_LEN];
    for (size_t i = 0; i < PHONE_KEY_LEN; i++) {
        unsigned v = 0;
        sscanf(PHONE_KEY_HEX + 2 * i, "%2x", &v);
        key[i] = (uint8_t)v;
    }
    phone_key(key, normalized, mac);
    for (size_t i = 0; i < PHONE_KEY_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

/*
 * Checks a received message text as a store would: parses, verifies on `topic`
 * with the keyring from the printed pubkey line, and checks that the text is
 * exactly its canonical form. Returns the parsed message (caller frees) or
 * NULL.
 */
static cJSON *verified(const char *topic, const char *text, size_t len)
{
    cJSON *msg = cJSON_ParseWithLength(text, len);
    struct ml_refusal r = {0};
    if (msg == NULL) {
        fprintf(stderr, "not JSON on %s: %.*s\n", topic, (int)len, text);
        return NULL;
    }
    if (sign_verify(E.kr, topic, msg, wall_ms(), &r) != ML_OK) {
        fprintf(stderr, "sign_verify on %s: %s: %s\n", topic, r.code ? r.code : "?", r.message);
        cJSON_Delete(msg);
        return NULL;
    }
    char *canon = canon_json(msg);
    int same = canon != NULL && strlen(canon) == len && memcmp(canon, text, len) == 0;
    if (!same)
        fprintf(stderr, "text on %s is not canonical:\n%.*s\n%s\n", topic, (int)len, text,
                canon ? canon : "(null)");
    free(canon);
    if (!same) {
        cJSON_Delete(msg);
        return NULL;
    }
    return msg;
}

/* ---- MQTT clients
 * -------------------------------------------------------------------- */

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    struct client *c = obj;
    c->connected = rc == 0 ? 1 : -1;
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    (void)m;
    (void)mid;
    struct client *c = obj;
    c->subscribed = n > 0 && granted[0] == 1 ? 1 : -1;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    struct client *c = obj;
    if (c->n >= MSGS_MAX || msg->payloadlen < 0)
        return;
    struct rmsg *r = &c->msgs[c->n];
    r->payload = malloc((size_t)msg->payloadlen + 1);
    if (r->payload == NULL)
        return;
    memcpy(r->payload, msg->payload, (size_t)msg->payloadlen);
    r->payload[msg->payloadlen] = '\0';
    r->len = (size_t)msg->payloadlen;
    r->retain = msg->retain;
    snprintf(r->topic, sizeof(r->topic), "%s", msg->topic);
    c->n++;
}

static void client_clear(struct client *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->msgs[i].payload);
    c->n = 0;
}

static void client_close(struct client *c)
{
    if (c->m != NULL) {
        mosquitto_disconnect(c->m);
        mosquitto_destroy(c->m);
    }
    client_clear(c);
    free(c->msgs);
    memset(c, 0, sizeof(*c));
}

/* Connects a clean-session client and subscribes to `sub` with QoS 1. 0 on
 * success. */
static int client_open(struct client *c, const char *name, const char *sub)
{
    char id[64];
    memset(c, 0, sizeof(*c));
    snprintf(id, sizeof(id), "hq-push-test-%s-%ld", name, (long)getpid());
    c->msgs = calloc(MSGS_MAX, sizeof(*c->msgs));
    c->m = mosquitto_new(id, true, c);
    if (c->msgs == NULL || c->m == NULL)
        return -1;
    mosquitto_connect_callback_set(c->m, on_connect);
    mosquitto_subscribe_callback_set(c->m, on_subscribe);
    mosquitto_message_callback_set(c->m, on_message);
    if (mosquitto_connect(c->m, "127.0.0.1", E.broker.port, 30) != MOSQ_ERR_SUCCESS)
        return -1;
    int64_t deadline = harness_mono_ms() + WAIT_MS;
    while (c->connected == 0 && harness_mono_ms() < deadline)
        mosquitto_loop(c->m, 20, 1);
    if (c->connected != 1 || mosquitto_subscribe(c->m, NULL, sub, 1) != MOSQ_ERR_SUCCESS)
        return -1;
    while (c->subscribed == 0 && harness_mono_ms() < deadline)
        mosquitto_loop(c->m, 20, 1);
    return c->subscribed == 1 ? 0 : -1;
}

static void pump(struct client *c, int ms)
{
    int64_t until = harness_mono_ms() + ms;
    while (harness_mono_ms() < until)
        mosquitto_loop(c->m, 20, 1);
}

/* Messages received on `topic`. */
static size_t count_on(const struct client *c, const char *topic)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += strcmp(c->msgs[i].topic, topic) == 0;
    return n;
}

/* Pumps until `want` messages arrived on `topic` (WAIT_MS at most). 0 when they
 * did. */
static int wait_on(struct client *c, const char *topic, size_t want)
{
    int64_t deadline = harness_mono_ms() + WAIT_MS;
    while (count_on(c, topic) < want) {
        if (harness_mono_ms() >= deadline) {
            fprintf(stderr, "%zu of %zu messages on %s within %d ms\n", count_on(c, topic), want,
                    topic, WAIT_MS);
            return -1;
        }
        mosquitto_loop(c->m, 20, 1);
    }
    return 0;
}

/* The i-th message received on topic (0-based), or NULL. */
static const struct rmsg *nth_on(const struct client *c, const char *topic, size_t i)
{
    for (size_t k = 0; k < c->n; k++)
        if (strcmp(c->msgs[k].topic, topic) == 0 && i-- == 0)
            return &c->msgs[k];
    return NULL;
}

/* ---- HTTP
 * ----------------------------------------------------------------------------
 */

struct http_result {
    long status;
    char *body;
    size_t len;
    int more;
    char type[64];
};

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    struct http_result *r = user;
    size_t add = size * n;
    char *b = realloc(r->body, r->len + add + 1);
    if (b == NULL)
        return 0;
    memcpy(b + r->len, p, add);
    r->len += add;
    b[r->len] = '\0';
    r->body = b;
    return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *user)
{
    struct http_result *r = user;
    size_t len = size * n;
    if (len >= 8 && strncasecmp(p, "X-More: ", 8) == 0 && len > 8 && p[8] == '1')
        r->more = 1;
    if (len > 14 && strncasecmp(p, "Content-Type: ", 14) == 0) {
        size_t k = len - 14;
        while (k > 0 && (p[14 + k - 1] == '\r' || p[14 + k - 1] == '\n'))
            k--;
        snprintf(r->type, sizeof(r->type), "%.*s", (int)k, p + 14);
    }
    return len;
}

/* GET path on HQ's catch-up endpoint. 0 on transport success. */
static int http_get(const char *path, struct http_result *r)
{
    char url[512];
    memset(r, 0, sizeof(*r));
    r->body = calloc(1, 1);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)E.http_port, path);
    CURL *c = curl_easy_init();
    if (c == NULL || r->body == NULL)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)WAIT_MS);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

static void http_free(struct http_result *r)
{
    free(r->body);
    r->body = NULL;
}

/* GET changes of store since; asserts 200 NDJSON. */
static void get_changes(const char *store, long long since, struct http_result *r)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/stores/%s/changes?since=%lld", store, since);
    assert_int_equal(http_get(path, r), 0);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->type, "application/x-ndjson");
}

/* The lines of an NDJSON body: pointers into body (newlines replaced by NUL).
 */
static size_t split_lines(char *body, size_t len, char **lines, size_t max)
{
    size_t n = 0;
    char *p = body;
    while (p < body + len && n < max) {
        char *nl = memchr(p, '\n', (size_t)(body + len - p));
        assert_non_null(nl); /* every line ends with a newline */
        *nl = '\0';
        lines[n++] = p;
        p = nl + 1;
    }
    return n;
}

static long status_of(const char *path)
{
    struct http_result r;
    long status = http_get(path, &r) == 0 ? r.status : -1;
    http_free(&r);
    return status;
}

/* ---- the tests
 * ----------------------------------------------------------------------- */

static void keygen_prints_the_pubkey_line_and_never_overwrites_by_accident(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(run_hq(&out, &err, "keygen", NULL), 0);
    assert_non_null(out);
    /* Exactly "pubkey = k1=<44 base64 characters>\n" */
    assert_int_equal(strncmp(out, "pubkey = k1=", 12), 0);
    assert_int_equal(strlen(out), 12 + SIGN_PUB_B64_LEN + 1);
    assert_int_equal(out[strlen(out) - 1], '\n');
    snprintf(E.pubkey_line, sizeof(E.pubkey_line), "%.*s", (int)strlen(out) - 1, out);
    E.kr = sign_keyring_new();
    assert_non_null(E.kr);
    assert_int_equal(sign_keyring_add_spec(E.kr, E.pubkey_line + strlen("pubkey = ")), ML_OK);
    free(out);
    free(err);

    char key_path[400];
    struct stat sb;
    snprintf(key_path, sizeof(key_path), "%s/hq-signing.key", E.data_dir);
    assert_int_equal(stat(key_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* A second keygen would make every store's key stale: refused without
     * --force. */
    out = err = NULL;
    assert_int_equal(run_hq(&out, &err, "keygen", NULL), 2);
    assert_non_null(strstr(err, "--force"));
    free(out);
    free(err);

    out = NULL;
    assert_int_equal(run_hq(&out, NULL, "pubkey", NULL), 0);
    assert_non_null(out);
    char want[160];
    snprintf(want, sizeof(want), "%s\n", E.pubkey_line);
    assert_string_equal(out, want);
    free(out);

    /* A bad kid is refused and changes nothing. */
    out = err = NULL;
    assert_int_equal(run_hq(&out, &err, "keygen", "--force", "--kid", "bad kid!", NULL), 2);
    free(out);
    free(err);
    out = NULL;
    assert_int_equal(run_hq(&out, NULL, "pubkey", NULL), 0);
    assert_string_equal(out, want);
    free(out);
}

static const char campaign_json[] =
    "{\"campaign_id\": \"" CAMPAIGN_ID "\", \"version\": 3, \"priority\": 0,\n"
    " \"valid_from\": 1735689600000, \"valid_to\": 2051222400000,\n"
    " \"stores\": [\"S001\", \"S002\"], \"tiers\": [\"gold\", \"silver\"],\n"
    " \"points\": {\"earn_per_yuan\": 1, \"tier_multiplier_bp\": {\"gold\": "
    "15000},\n"
    "            \"redeem_points_per_yuan\": 100, \"redeem_max_bp\": 5000},\n"
    " \"commission\": {\"default_bp\": 200, \"categories\": {\"apparel\": "
    "500}},\n"
    " \"coupons\": {\"restore_on_refund\": true}}\n";

static void campaign_is_retained_signed_and_canonical(void **state)
{
    (void)state;
    char path[400], *out = NULL;
    snprintf(path, sizeof(path), "%s/campaign.json", E.dir);
    assert_int_equal(harness_write_file(path, campaign_json), 0);
    assert_int_equal(run_hq(&out, NULL, "push", "campaign", path, NULL), 0);
    assert_non_null(strstr(out, "published"));
    assert_non_null(strstr(out, CAMPAIGN_TOPIC));
    free(out);

    /* A store that subscribes afterwards gets it from the broker: retained. */
    struct client late;
    assert_int_equal(client_open(&late, "campaign", "ml/" BRAND "/hq/campaign/+"), 0);
    assert_int_equal(wait_on(&late, CAMPAIGN_TOPIC, 1), 0);
    const struct rmsg *m = nth_on(&late, CAMPAIGN_TOPIC, 0);
    assert_true(m->retain);
    cJSON *msg = verified(CAMPAIGN_TOPIC, m->payload, m->len);
    assert_non_null(msg);
    assert_string_equal(json_str_at(msg, "kind"), "campaign.upsert");
    assert_string_equal(json_str_at(msg, "store"), "*");
    assert_int_equal((int)json_num_at(msg, "cursor"), 0);
    assert_int_equal((int)json_num_at(msg, "version"), 3);
    assert_int_equal((int)json_num_at(msg, "v"), 1);
    assert_string_equal(json_str_at(msg, "kid"), "k1");
    /* expires = max(valid_to, issued + 30 days): here valid_to */
    assert_true(json_num_at(msg, "expires") == 2051222400000.0);
    const cJSON *body = field(msg, "body");
    assert_string_equal(json_str_at(body, "campaign_id"), CAMPAIGN_ID);
    assert_true(json_num_at(field(field(body, "points"), "tier_multiplier_bp"), "gold") == 15000);
    E.campaign_text = strdup(m->payload);

    /* Moved to another topic, the same bytes no longer verify. */
    cJSON *moved = cJSON_ParseWithLength(m->payload, m->len);
    struct ml_refusal r = {0};
    assert_int_equal(sign_verify(E.kr, "ml/" BRAND "/hq/campaign/other", moved, wall_ms(), &r),
                     ML_REFUSED);
    assert_string_equal(r.code, "msg_bad_signature");
    cJSON_Delete(moved);
    cJSON_Delete(msg);
    client_close(&late);

    /* The same version again is refused: stores would ignore it. */
    char *err = NULL;
    assert_int_equal(run_hq(NULL, &err, "push", "campaign", path, NULL), 2);
    assert_non_null(strstr(err, "version"));
    free(err);
}

static void member_phone_is_keyed_and_cursors_count_per_store(void **state)
{
    (void)state;
    char path[400], *out = NULL;
    snprintf(path, sizeof(path), "%s/members.ndjson", E.dir);
    assert_int_equal(
        harness_write_file(path, "# two members with plaintext phones, as HQ's CRM exports them\n"
                                 "{\"member_id\":\"M1001\",\"phone\":\"138 0013 "
                                 "8000\",\"tier\":\"gold\","
                                 "\"points\":1200,\"points_version\":4,\"version\":7}\n"
                                 "\n"
                                 "{\"kind\":\"member.upsert\",\"body\":{\"member_id\":\"M1002\","
                                 "\"phone\":\"+86 139-0000-0000\",\"version\":2}}\n"),
        0);
    client_clear(&E.store);
    /* No --store: both stores of [hq] stores. */
    assert_int_equal(run_hq(&out, NULL, "push", "member", path, NULL), 0);
    assert_non_null(strstr(out, "4 stored, 4 published"));
    free(out);
    out = NULL;
    assert_int_equal(run_hq(&out, NULL, "grant", "coupon", "--id", "CPN-1", "--kind", "amount_off",
                            "--value", "2000", "--member", "M1001", "--min-spend", "10000",
                            "--categories", "apparel,shoes", "--to", "2030-01-01", "--version", "5",
                            "--store", "S001", NULL),
                     0);
    assert_non_null(strstr(out, "1 stored, 1 published"));
    free(out);

    const char *t1 = "ml/" BRAND "/s/S001/inbox", *t2 = "ml/" BRAND "/s/S002/inbox";
    assert_int_equal(wait_on(&E.store, t1, 3), 0);
    assert_int_equal(wait_on(&E.store, t2, 2), 0);
    pump(&E.store, 200);
    assert_int_equal(count_on(&E.store, t1), 3);
    assert_int_equal(count_on(&E.store, t2), 2);

    char hmac1[65], hmac2[65];
    expected_phone_hmac("13800138000", hmac1);
    expected_phone_hmac("13900000000", hmac2);
    const char *topics[] = {t1, t2};
    const char *stores[] = {"S001", "S002"};
    for (int s = 0; s < 2; s++) {
        size_t n = count_on(&E.store, topics[s]);
        for (size_t i = 0; i < n; i++) {
            const struct rmsg *m = nth_on(&E.store, topics[s], i);
            assert_false(m->retain);
            /* The plaintext number never leaves HQ. */
            assert_null(strstr(m->payload, "13800138000"));
            assert_null(strstr(m->payload, "13900000000"));
            cJSON *msg = verified(topics[s], m->payload, m->len);
            assert_non_null(msg);
            assert_string_equal(json_str_at(msg, "store"), stores[s]);
            assert_int_equal((int)json_num_at(msg, "cursor"), (int)i + 1); /* 1, 2, 3 per store */
            assert_true(json_num_at(msg, "expires") - json_num_at(msg, "issued") ==
                        30.0 * 24 * 3600 * 1000);
            const cJSON *body = field(msg, "body");
            assert_true(json_num_at(msg, "version") == json_num_at(body, "version"));
            if (i < 2) {
                assert_string_equal(json_str_at(msg, "kind"), "member.upsert");
                assert_null(field(body, "phone"));
                assert_string_equal(json_str_at(body, "member_id"), i == 0 ? "M1001" : "M1002");
                assert_string_equal(json_str_at(body, "phone_hmac"), i == 0 ? hmac1 : hmac2);
                assert_string_equal(json_str_at(body, "phone_masked"),
                                    i == 0 ? "138****8000" : "139****0000");
                assert_int_equal((int)json_num_at(msg, "version"), i == 0 ? 7 : 2);
            } else {
                assert_string_equal(json_str_at(msg, "kind"), "coupon.grant");
                assert_string_equal(json_str_at(body, "coupon_id"), "CPN-1");
                assert_int_equal((int)json_num_at(msg, "version"), 5);
                assert_true(json_num_at(body, "valid_to") == 1893456000000.0); /* 2030-01-01Z */
                assert_int_equal(cJSON_GetArraySize(field(body, "categories")), 2);
                assert_true(cJSON_IsTrue(field(body, "offline_ok")));
            }
            if (s == 0)
                E.s001[i + 1] = strdup(m->payload);
            cJSON_Delete(msg);
        }
    }

    /* Neither HQ's database nor its write-ahead log ever held the plaintext. */
    char db[400];
    snprintf(db, sizeof(db), "%s/hq.db", E.data_dir);
    assert_false(file_has_bytes(db, "13800138000"));
    snprintf(db, sizeof(db), "%s/hq.db-wal", E.data_dir);
    assert_false(file_has_bytes(db, "13800138000"));
}

static void http_changes_serve_the_same_texts_in_cursor_order(void **state)
{
    (void)state;
    struct http_result r;
    char *lines[8];
    assert_non_null(E.campaign_text);
    assert_non_null(E.s001[3]);

    /* since=0: a first start gets the campaigns first, then everything. */
    get_changes("S001", 0, &r);
    assert_false(r.more);
    assert_int_equal(split_lines(r.body, r.len, lines, 8), 4);
    assert_string_equal(lines[0], E.campaign_text);
    for (int i = 1; i <= 3; i++)
        assert_string_equal(lines[i], E.s001[i]);
    http_free(&r);

    get_changes("S001", 2, &r);
    assert_int_equal(split_lines(r.body, r.len, lines, 8), 1);
    assert_string_equal(lines[0], E.s001[3]);
    http_free(&r);

    get_changes("S001", 3, &r);
    assert_int_equal(r.len, 0);
    http_free(&r);

    get_changes("S002", 0, &r);
    assert_int_equal(split_lines(r.body, r.len, lines, 8), 3);
    assert_string_equal(lines[0], E.campaign_text);
    http_free(&r);

    /* A store HQ does not know: no lines, not even campaigns. */
    get_changes("S999", 0, &r);
    assert_int_equal(r.len, 0);
    http_free(&r);

    const char *bad[] = {"/v1/stores/S001/changes?since=abc",
                         "/v1/stores/S001/changes?since=-1",
                         "/v1/stores/S001/changes",
                         "/v1/stores/S001/changes?since=",
                         "/v1/stores/S001/changes?since=9007199254740993",
                         "/v1/stores/S001/changes?since=1.5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(status_of(bad[i]), 400);
    assert_int_equal(status_of("/v1/stores/S001/changes?since=9007199254740992"), 200);
    assert_int_equal(status_of("/v1/stores/S001/other?since=0"), 404);
    assert_int_equal(status_of("/v1/stores/S0.01/changes?since=0"), 404);
    assert_int_equal(status_of("/"), 404);
}

static void store_subscribing_after_the_push_catches_up_over_http(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(run_hq(&out, NULL, "bind", "guide", "--member", "M1001", "--guide", "G01",
                            "--until", "2030-01-01T00:00:00+08:00", "--store", "S002", NULL),
                     0);
    free(out);
    out = NULL;
    assert_int_equal(
        run_hq(&out, NULL, "revoke", "coupon", "--id", "CPN-9", "--store", "S002", NULL), 0);
    free(out);

    /* Per-store messages are not retained: a store that subscribes now gets
     * nothing... */
    const char *topic = "ml/" BRAND "/s/S002/inbox";
    struct client late;
    assert_int_equal(client_open(&late, "late", topic), 0);
    pump(&late, 500);
    assert_int_equal(late.n, 0);
    client_close(&late);

    /* ...and everything over HTTP, each line verifiable on the topic it belongs
     * to. */
    struct http_result r;
    char *lines[16];
    get_changes("S002", 0, &r);
    size_t n = split_lines(r.body, r.len, lines, 16);
    assert_int_equal(n, 5); /* the campaign, 2 members, the binding, the revoke */
    int64_t cursor = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = i == 0 ? CAMPAIGN_TOPIC : topic;
        cJSON *msg = verified(t, lines[i], strlen(lines[i]));
        assert_non_null(msg);
        if (i > 0) {
            assert_int_equal((int64_t)json_num_at(msg, "cursor"), ++cursor); /* gapless */
            assert_string_equal(json_str_at(msg, "store"), "S002");
        }
        if (i == 3) {
            assert_string_equal(json_str_at(msg, "kind"), "guide.bind");
            assert_true(json_num_at(field(msg, "body"), "until") == 1893427200000.0);
        }
        if (i == 4)
            assert_string_equal(json_str_at(msg, "kind"), "coupon.revoke");
        cJSON_Delete(msg);
    }
    http_free(&r);
}

static void push_while_the_broker_is_down_is_stored_and_served(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    broker_stop(&E.broker);
    assert_int_equal(
        run_hq(&out, &err, "revoke", "coupon", "--id", "CPN-1", "--store", "S001", NULL), 0);
    assert_non_null(strstr(out, "1 stored, 0 published"));
    assert_non_null(strstr(err, "warning"));
    free(out);
    free(err);

    struct http_result r;
    char *lines[4];
    get_changes("S001", 3, &r);
    assert_int_equal(split_lines(r.body, r.len, lines, 4), 1);
    cJSON *msg = verified("ml/" BRAND "/s/S001/inbox", lines[0], strlen(lines[0]));
    assert_non_null(msg);
    assert_int_equal((int)json_num_at(msg, "cursor"), 4);
    assert_string_equal(json_str_at(msg, "kind"), "coupon.revoke");
    cJSON_Delete(msg);
    http_free(&r);

    /* The broker comes back empty (no persistence): republish restores the
     * retained campaign and sends what was never acknowledged. */
    assert_int_equal(broker_start(&E.broker), 0);
    out = NULL;
    assert_int_equal(run_hq(&out, NULL, "republish", NULL), 0);
    assert_non_null(strstr(out, "1 campaigns and 1 unpublished messages sent again, 2 published"));
    free(out);
    struct client late;
    assert_int_equal(client_open(&late, "after-restart", CAMPAIGN_TOPIC), 0);
    assert_int_equal(wait_on(&late, CAMPAIGN_TOPIC, 1), 0);
    assert_true(late.msgs[0].retain);
    assert_string_equal(late.msgs[0].payload, E.campaign_text);
    client_close(&late);

    /* Nothing is left unpublished now. */
    out = NULL;
    assert_int_equal(run_hq(&out, NULL, "republish", NULL), 0);
    assert_non_null(strstr(out, "0 unpublished messages"));
    free(out);
}

static void changes_stop_at_the_line_limit_and_say_more(void **state)
{
    (void)state;
    char path[400];
    const int n = HQ_CHANGES_LINES_MAX + 1;
    snprintf(path, sizeof(path), "%s/many.ndjson", E.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 1; i <= n; i++)
        fprintf(f, "{\"member_id\":\"BULK%04d\",\"version\":1}\n", i);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(run_hq(NULL, NULL, "push", "member", path, "--store", "S777", NULL), 0);

    struct http_result r;
    char **lines = calloc((size_t)n + 2, sizeof(*lines));
    assert_non_null(lines);
    /* One past the limit: the campaign, then 1000 lines and X-More. */
    get_changes("S777", 0, &r);
    assert_true(r.more);
    assert_int_equal(split_lines(r.body, r.len, lines, (size_t)n + 2), 1 + HQ_CHANGES_LINES_MAX);
    cJSON *last = cJSON_Parse(lines[HQ_CHANGES_LINES_MAX]);
    assert_int_equal((int)json_num_at(last, "cursor"), HQ_CHANGES_LINES_MAX);
    cJSON_Delete(last);
    http_free(&r);

    /* Exactly at the limit: all 1000, no X-More. */
    get_changes("S777", 1, &r);
    assert_false(r.more);
    assert_int_equal(split_lines(r.body, r.len, lines, (size_t)n + 2), HQ_CHANGES_LINES_MAX);
    http_free(&r);

    get_changes("S777", HQ_CHANGES_LINES_MAX, &r);
    assert_false(r.more);
    assert_int_equal(split_lines(r.body, r.len, lines, (size_t)n + 2), 1);
    cJSON *msg = verified("ml/" BRAND "/s/S777/inbox", lines[0], strlen(lines[0]));
    assert_non_null(msg);
    assert_int_equal((int)json_num_at(msg, "cursor"), n);
    assert_string_equal(json_str_at(field(msg, "body"), "member_id"), "BULK1001");
    cJSON_Delete(msg);
    http_free(&r);
    free(lines);
}

static void refused_input_stores_nothing(void **state)
{
    (void)state;
    char path[400], *err = NULL;
    snprintf(path, sizeof(path), "%s/bad.ndjson", E.dir);
    /* The second line is bad: the first is not sent either. */
    assert_int_equal(
        harness_write_file(path, "{\"member_id\":\"M2001\",\"version\":1}\n"
                                 "{\"member_id\":\"M2002\",\"phone\":\"12345\",\"version\":1}\n"),
        0);
    assert_int_equal(run_hq(NULL, &err, "push", "member", path, "--store", "S001", NULL), 2);
    assert_non_null(strstr(err, ":2:"));
    assert_non_null(strstr(err, "phone"));
    free(err);

    const char *const bad[][16] = {
        {"grant", "coupon", "--id", "C", "--kind", "percent_off", "--value", "20000", "--to",
         "2030-01-01", "--store", "S001", NULL},
        {"grant", "coupon", "--id", "C", "--kind", "amount_off", "--value", "100", "--to",
         "2030-02-30", "--store", "S001", NULL},
        {"grant", "coupon", "--id", "C", "--kind", "amount_off", "--value", "100", "--from",
         "2030-01-01", "--to", "2029-01-01", "--store", "S001", NULL},
        {"bind", "guide", "--member", "M1", "--guide", "G1", "--store", "S001", NULL},
        {"revoke", "coupon", "--id", "C", "--store", "bad/store", NULL},
        {"revoke", "coupon", "--id", "C", "--bogus", NULL},
        {"push", "member", "/nonexistent/file", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *const *a = bad[i];
        int rc = run_hq(NULL, NULL, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9],
                        a[10], a[11], a[12], a[13], a[14], NULL);
        if (rc != 2)
            fprintf(stderr, "case %zu (%s %s) exited %d\n", i, a[0], a[1], rc);
        assert_int_equal(rc, 2);
    }
    /* S001 is still at cursor 4. */
    struct http_result r;
    get_changes("S001", 4, &r);
    assert_int_equal(r.len, 0);
    http_free(&r);
}

/* -h is answered by whichever command family the line names, before the family's own
 * options are read: the usage, every command in it (withdraw and deny too), exit 0. */
static void help_lists_every_command_whatever_the_command(void **state)
{
    (void)state;
    const char *const lines[][4] = {
        {"-h", NULL},
        {"--help", "status", NULL},
        {"push", "member", "-h", NULL},
        {"deny", "--help", NULL},
        {"-v", "-h", "withdraw", NULL},
        {"coupon-code", "-h", NULL},
    };
    static const char *const commands[] = {
        "serve",     "grant coupon", "withdraw campaign", "deny member|coupon",
        "republish", "coupon-code"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char *out = NULL;
        int rc = run_hq(&out, NULL, lines[i][0], lines[i][1], lines[i][2], lines[i][3]);
        if (rc != 0 || out == NULL || strncmp(out, "usage: memberlink-hq", 20) != 0)
            fail_msg("line %zu (%s %s): exit %d, output %.60s", i, lines[i][0],
                     lines[i][1] ? lines[i][1] : "", rc, out ? out : "(none)");
        for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
            if (strstr(out, commands[k]) == NULL)
                fail_msg("line %zu: the usage does not name %s", i, commands[k]);
        free(out);
    }
}

/* ---- fixture
 * ------------------------------------------------------------------------- */

static int hq_start(void)
{
    static const char *const ready[] = {"subscribed to", "http: catch-up on", NULL};
    return harness_hq_serve(E.hq_conf, E.hq_log, ready, WAIT_MS, &E.hq);
}

static int setup_env(void)
{
    memset(&E, 0, sizeof(E));
    snprintf(E.dir, sizeof(E.dir), "/tmp/memberlink-hq-push-test-XXXXXX");
    if (mkdtemp(E.dir) == NULL)
        return -1;
    snprintf(E.hq_conf, sizeof(E.hq_conf), "%s/hq.ini", E.dir);
    snprintf(E.hq_log, sizeof(E.hq_log), "%s/hq.log", E.dir);
    snprintf(E.data_dir, sizeof(E.data_dir), "%s/hq", E.dir);
    if (broker_start(&E.broker) != 0) {
        fprintf(stderr, "mosquitto did not start\n");
        return -1;
    }
    E.http_port = harness_free_port();
    char text[1024];
    snprintf(text, sizeof(text),
             "# memberlink-hq push test configuration\n[hq]\nbrand = " BRAND "\ndata_dir = %s\n"
             "stores = S001,S002\nphone_key = " PHONE_KEY_HEX "\nhttp_listen = 127.0.0.1:%u\n"
             "[mqtt]\nhost = 127.0.0.1\nport = %u\nclient_id = hq-push-test-%ld\n",
             E.data_dir, (unsigned)E.http_port, (unsigned)E.broker.port, (long)getpid());
    if (harness_write_file(E.hq_conf, text) != 0 || hq_start() != 0)
        return -1;
    mosquitto_lib_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    E.lib_init = 1;
    return client_open(&E.store, "store", "ml/" BRAND "/s/+/inbox");
}

static void release(void)
{
    client_close(&E.store);
    if (E.lib_init) {
        mosquitto_lib_cleanup();
        curl_global_cleanup();
    }
    sign_keyring_free(E.kr);
    free(E.campaign_text);
    for (int i = 0; i < 4; i++)
        free(E.s001[i]);
}

static int group_setup(void **state)
{
    (void)state;
    if (setup_env() == 0)
        return 0;
    harness_stop(&E.hq, SIGTERM, WAIT_MS);
    release();
    broker_cleanup(&E.broker);
    fprintf(stderr, "hq_push: setup failed; logs in %s\n", E.dir);
    return -1;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = harness_stop(&E.hq, SIGTERM, WAIT_MS);
    release();
    broker_cleanup(&E.broker);
    if (rc != 0) {
        fprintf(stderr, "memberlink-hq serve exited %d; logs kept in %s\n", rc, E.dir);
        return -1;
    }
    if (getenv("ML_KEEP") == NULL) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", E.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", E.dir);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keygen_prints_the_pubkey_line_and_never_overwrites_by_accident),
        cmocka_unit_test(campaign_is_retained_signed_and_canonical),
        cmocka_unit_test(member_phone_is_keyed_and_cursors_count_per_store),
        cmocka_unit_test(http_changes_serve_the_same_texts_in_cursor_order),
        cmocka_unit_test(store_subscribing_after_the_push_catches_up_over_http),
        cmocka_unit_test(push_while_the_broker_is_down_is_stored_and_served),
        cmocka_unit_test(changes_stop_at_the_line_limit_and_say_more),
        cmocka_unit_test(refused_input_stores_nothing),
        cmocka_unit_test(help_lists_every_command_whatever_the_command),
    };
    return cmocka_run_group_tests_name("hq_push", tests, group_setup, group_teardown);
}
