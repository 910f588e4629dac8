/*
 * store_broker_test: two terminals of one store on a store-local broker bridged to HQ's, as
 * packaging/store-broker/mosquitto.conf sets it up (the template, rendered with test ports
 * and run by a real mosquitto). HQ's broker, `memberlink-hq serve` and both memberlinkd
 * are real too.
 *
 * With the WAN down (HQ's broker stopped), the terminals still hear each other through the
 * store broker: a single-use coupon redeemed at T01 is refused at T02 within a second,
 * while T02 goes on selling. When the WAN is back, the bridge delivers both terminals'
 * events to HQ and HQ's acks back, and both outboxes empty.
 *
 * Runs from the top of the source tree (as `make test` does), where the template is.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define TEMPLATE "packaging/store-broker/mosquitto.conf"
#define WAIT_MS 20000
#define RECONNECT_MS 120000 /* the bridge's, HQ's and the agents' reconnect backoff */
#define PEER_MS 1000        /* a peer's redemption is refused within this */
#define COUPON "ONCE-1"

struct fixture {
    struct broker hq_broker;
    char dir[256], hq_conf[320], hq_log[320];
    char store_conf[320], store_log[320];
    uint16_t store_port, http_port;
    pid_t hq, store_broker;
    char pubkey[160];
    struct daemon t[2]; /* T01, T02 of store S001 */
    int nterminals;
};

static int hq_cmd(struct fixture *f, char **ret_out, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    char *err = NULL;
    int rc = harness_hq_vrun(f->hq_conf, f->dir, 30000, ret_out, &err, first, ap);
    va_end(ap);
    if (rc != 0)
        fprintf(stderr, "memberlink-hq %s exited %d: %s\n", first, rc, err ? err : "");
    free(err);
    return rc;
}

/* Replaces every `from` in *text by `to`; *text is reallocated. 0 on success. */
static int replace_all(char **text, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to), n = 0;
    for (const char *p = *text; (p = strstr(p, from)) != NULL; p += nf)
        n++;
    size_t len = strlen(*text) + n * nt + 1;
    char *out = malloc(len), *o = out;
    if (out == NULL)
        return -1;
    const char *p = *text, *hit;
    while ((hit = strstr(p, from)) != NULL) {
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, to, nt);
        o += nt;
        p = hit + nf;
    }
    memcpy(o, p, strlen(p) + 1);
    free(*text);
    *text = out;
    return 0;
}

/* The store broker's config: the packaged template with this test's values. */
static int render_store_broker(struct fixture *f)
{
    char data[300], port[16], hq[64];
    snprintf(data, sizeof(data), "%s/store-broker", f->dir);
    /* Started as root, mosquitto drops to its own user before it writes persistence. */
    if (chmod(f->dir, 0755) != 0 || mkdir(data, 0777) != 0 || chmod(data, 0777) != 0)
        return -1;
    snprintf(port, sizeof(port), "%u", (unsigned)f->store_port);
    snprintf(hq, sizeof(hq), "127.0.0.1:%u", (unsigned)f->hq_broker.port);
    char *text = harness_read_file(TEMPLATE, NULL);
    if (text == NULL) {
        fprintf(stderr, "%s: cannot read (run from the top of the source tree)\n", TEMPLATE);
        return -1;
    }
    int rc = replace_all(&text, "@BRAND@", "demo") || replace_all(&text, "@STORE@", "S001") ||
             replace_all(&text, "@LISTEN_ADDRESS@", "127.0.0.1") ||
             replace_all(&text, "@LISTEN_PORT@", port) || replace_all(&text, "@DATA_DIR@", data) ||
             replace_all(&text, "@HQ_BROKER@", hq);
    if (rc == 0 && strchr(text, '@') != NULL) {
        fprintf(stderr, "%s: a placeholder is left: %s\n", TEMPLATE, strchr(text, '@'));
        rc = -1;
    }
    if (rc == 0)
        rc = harness_write_file(f->store_conf, text);
    free(text);
    return rc;
}

static int port_accepts(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static int start_store_broker(struct fixture *f)
{
    const char *argv[] = {"mosquitto", "-c", f->store_conf, NULL};
    if ((f->store_broker = harness_spawn(argv, f->store_log)) <= 0)
        return -1;
    for (int64_t deadline = harness_mono_ms() + WAIT_MS; harness_mono_ms() < deadline;) {
        if (port_accepts(f->store_port))
            return 0;
        harness_sleep_ms(50);
    }
    fprintf(stderr, "store broker did not start; log: %s\n", f->store_log);
    return -1;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || broker_start(&f->hq_broker) != 0)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/memberlink-store-broker-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->hq_conf, sizeof(f->hq_conf), "%s/hq.conf", f->dir);
    snprintf(f->hq_log, sizeof(f->hq_log), "%s/serve.log", f->dir);
    snprintf(f->store_conf, sizeof(f->store_conf), "%s/store-broker.conf", f->dir);
    snprintf(f->store_log, sizeof(f->store_log), "%s/store-broker.log", f->dir);
    f->http_port = harness_free_port();
    f->store_port = harness_free_port();
    char text[1024];
    snprintf(text, sizeof(text),
             "[hq]\nbrand = demo\ndata_dir = %s/hq\nstores = S001\nhttp_listen = 127.0.0.1:%u\n"
             "[mqtt]\nhost = 127.0.0.1\nport = %u\n",
             f->dir, (unsigned)f->http_port, (unsigned)f->hq_broker.port);
    char *out = NULL;
    if (harness_write_file(f->hq_conf, text) != 0 || hq_cmd(f, NULL, "keygen", NULL) != 0 ||
        hq_cmd(f, &out, "pubkey", NULL) != 0 || out == NULL) {
        free(out);
        return -1;
    }
    out[strcspn(out, "\n")] = '\0';
    snprintf(f->pubkey, sizeof(f->pubkey), "%s", out);
    free(out);
    static const char *const ready[] = {"subscribed to", "http: catch-up on", NULL};
    if (render_store_broker(f) != 0 || start_store_broker(f) != 0 ||
        harness_hq_serve(f->hq_conf, f->hq_log, ready, WAIT_MS, &f->hq) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = 0;
    for (int i = 0; i < f->nterminals; i++)
        if (daemon_cleanup(&f->t[i]) != 0)
            rc = -1;
    if (harness_stop(&f->hq, SIGTERM, WAIT_MS) != 0) {
        fprintf(stderr, "memberlink-hq serve did not exit 0; log: %s\n", f->hq_log);
        rc = -1;
    }
    if (harness_stop(&f->store_broker, SIGTERM, WAIT_MS) != 0) {
        fprintf(stderr, "store broker did not exit 0; log: %s\n", f->store_log);
        rc = -1;
    }
    broker_cleanup(&f->hq_broker);
    if (rc == 0 && getenv("ML_KEEP") == NULL) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
            rc = -1;
    }
    free(f);
    return rc;
}

/* Starts terminal `terminal` of store S001 on the store broker. */
static struct daemon *add_terminal(struct fixture *f, const char *terminal)
{
    struct daemon *d = &f->t[f->nterminals++];
    char conf[1024];
    snprintf(conf, sizeof(conf),
             "[mqtt]\nhost = 127.0.0.1\nport = %u\nack_timeout_s = 2\n"
             "[hq]\nurl = http://127.0.0.1:%u\n%s\n",
             (unsigned)f->store_port, (unsigned)f->http_port, f->pubkey);
    assert_int_equal(daemon_setup(d, conf), 0);
    /* daemon_setup writes terminal T01. */
    char *text = harness_read_file(d->conf, NULL);
    assert_non_null(text);
    char *at = strstr(text, "terminal = T01\n");
    assert_non_null(at);
    memcpy(at + strlen("terminal = "), terminal, 3);
    assert_int_equal(harness_write_file(d->conf, text), 0);
    free(text);
    assert_int_equal(daemon_start(d), 0);
    return d;
}

static void checkout(const struct daemon *d, const char *key, const char *coupon,
                     struct http_resp *r)
{
    char body[512], c[96] = "";
    if (coupon != NULL)
        snprintf(c, sizeof(c), ",\"coupons\":[\"%s\"]", coupon);
    snprintf(body, sizeof(body),
             "{\"items\":[{\"sku\":\"A\",\"category\":\"x\",\"qty\":1,\"unit_price\":10000}]%s}",
             c);
    assert_int_equal(http_call(d, "POST", "/v1/checkout", key, body, r), 0);
}

/* `report NAME --json` over every day; caller frees. */
static cJSON *report(struct fixture *f, const char *name)
{
    char *out = NULL;
    assert_int_equal(hq_cmd(f, &out, "report", name, "--from", "2000-01-01", "--to", "2999-12-31",
                            "--json", NULL),
                     0);
    cJSON *doc = cJSON_Parse(out);
    if (doc == NULL)
        fail_msg("report %s: not JSON: %s", name, out ? out : "");
    free(out);
    return doc;
}

static void
peer_redemption_is_refused_in_the_store_with_the_wan_down_and_reaches_hq_after(void **state)
{
    struct fixture *f = *state;
    struct daemon *t1 = add_terminal(f, "T01"), *t2 = add_terminal(f, "T02");
    assert_int_equal(hq_cmd(f, NULL, "grant", "coupon", "--id", COUPON, "--kind", "amount_off",
                            "--value", "800", "--to", "2099-01-01", "--uses", "1", NULL),
                     0);
    /* Both terminals hold the coupon, and a sale of each went over the bridge to HQ and its
     * ack came back: the whole path works. */
    struct http_resp r;
    struct daemon *t[2] = {t1, t2};
    for (int i = 0; i < 2; i++) {
        char key[32];
        assert_int_equal(wait_status_num(t[i], "connected", 1, WAIT_MS), 0);
        assert_int_equal(wait_status_num(t[i], "cache.coupons", 1, WAIT_MS), 0);
        snprintf(key, sizeof(key), "before-%d", i);
        checkout(t[i], key, NULL, &r);
        assert_int_equal(r.status, 200);
        http_resp_free(&r);
        assert_int_equal(wait_status_num(t[i], "outbox.depth", 0, RECONNECT_MS), 0);
    }

    /* WAN down: the store broker stays, HQ's is gone. */
    broker_stop(&f->hq_broker);
    checkout(t1, "t1-coupon", COUPON, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_num_at(r.json, "discount") == 800);
    http_resp_free(&r);
    assert_int_equal(wait_status_num(t2, "cache.deny_entries", 1, PEER_MS), 0);
    checkout(t2, "t2-coupon", COUPON, &r);
    if (r.status != 409 || strcmp(http_error_code(&r), "coupon_redeemed_elsewhere") != 0)
        fail_msg("T02 with the coupon T01 used: %ld %s", r.status, r.body);
    http_resp_free(&r);
    checkout(t2, "t2-plain", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_num_at(r.json, "total") == 10000);
    http_resp_free(&r);
    /* HQ has not heard of either sale yet. */
    cJSON *sales = report(f, "sales");
    assert_true(json_num_at(sales, "total.sales") == 2);
    cJSON_Delete(sales);

    /* WAN back: the bridge reconnects; every event reaches HQ once, every ack comes back. */
    assert_int_equal(broker_start(&f->hq_broker), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(wait_status_num(t[i], "outbox.depth", 0, RECONNECT_MS), 0);
    sales = report(f, "sales");
    assert_true(json_num_at(sales, "total.sales") == 4);
    assert_true(json_num_at(sales, "total.total") == 4 * 10000 - 800);
    cJSON_Delete(sales);
    cJSON *red = report(f, "redemptions");
    assert_true(json_num_at(red, "count") == 1);
    const cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(red, "redemptions"), 0);
    assert_string_equal(json_str_at(r0, "terminal"), "T01");
    cJSON_Delete(red);
    cJSON *st = report(f, "conflicts");
    assert_true(json_num_at(st, "count") == 0);
    cJSON_Delete(st);
    char *out = NULL;
    assert_int_equal(hq_cmd(f, &out, "status", "--json", NULL), 0);
    st = cJSON_Parse(out);
    free(out);
    assert_non_null(st);
    const cJSON *terms = cJSON_GetObjectItemCaseSensitive(st, "terminals");
    assert_int_equal(cJSON_GetArraySize(terms), 2);
    for (int i = 0; i < 2; i++) {
        const cJSON *row = cJSON_GetArrayItem(terms, i);
        assert_string_equal(json_str_at(row, "terminal"), i == 0 ? "T01" : "T02");
        assert_true(json_num_at(row, "gaps") == 0);
    }
    cJSON_Delete(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            peer_redemption_is_refused_in_the_store_with_the_wan_down_and_reaches_hq_after, setup,
            teardown),
    };
    return cmocka_run_group_tests_name("store broker (packaged template, bridged to HQ)", tests,
                                       NULL, NULL);
}
