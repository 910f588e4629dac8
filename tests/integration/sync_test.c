/*
 * sync_test: the store -> HQ half of the sync contract against a real mosquitto and a real
 * memberlinkd. The test plays the HQ application: it subscribes to the terminal's event
 * topic, records every event it receives and acknowledges it on the ack topic, as
 * docs/protocol.md says HQ does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define PEER_EVENTS_MAX 20000
#define EV_TOPIC "ml/demo/s/S001/T01/ev"
#define ACK_TOPIC "ml/demo/s/S001/T01/ack"

/* The HQ side of the test: records events, acknowledges them unless told not to. */
struct peer {
    struct mosquitto *mosq;
    pthread_mutex_t mu;
    int ack;                                 /* acknowledge what arrives */
    long deliveries;                         /* events received, duplicates included */
    unsigned char seen[PEER_EVENTS_MAX + 1]; /* by seq */
    long unique;
    int bad; /* an event that broke the envelope contract */
};

static void peer_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    struct peer *p = obj;
    cJSON *batch = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen);
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(batch, "events");
    cJSON *ack = cJSON_CreateObject();
    cJSON_AddNumberToObject(ack, "v", 1);
    cJSON *ids = cJSON_AddArrayToObject(ack, "acked");
    const cJSON *ev;
    pthread_mutex_lock(&p->mu);
    if (!cJSON_IsArray(events) || json_num_at(batch, "v") != 1)
        p->bad++;
    cJSON_ArrayForEach(ev, events)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
        double seq = json_num_at(ev, "seq");
        const cJSON *store = cJSON_GetObjectItemCaseSensitive(ev, "store");
        if (!cJSON_IsString(id) || seq < 1 || seq > PEER_EVENTS_MAX || !cJSON_IsString(store) ||
            strcmp(store->valuestring, "S001") != 0) {
            p->bad++;
            continue;
        }
        p->deliveries++;
        if (!p->seen[(int)seq]++)
            p->unique++;
        cJSON_AddItemToArray(ids, cJSON_CreateString(id->valuestring));
    }
    int ack_now = p->ack;
    pthread_mutex_unlock(&p->mu);
    if (ack_now) {
        char *text = cJSON_PrintUnformatted(ack);
        mosquitto_publish(m, NULL, ACK_TOPIC, (int)strlen(text), text, 1, false);
        free(text);
    }
    cJSON_Delete(ack);
    cJSON_Delete(batch);
}

static void peer_on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)obj;
    if (rc == 0)
        mosquitto_subscribe(m, NULL, EV_TOPIC, 1);
}

static int peer_start(struct peer *p, uint16_t port)
{
    mosquitto_lib_init();
    pthread_mutex_init(&p->mu, NULL);
    p->ack = 1;
    p->mosq = mosquitto_new("test-hq", true, p);
    mosquitto_connect_callback_set(p->mosq, peer_on_connect);
    mosquitto_message_callback_set(p->mosq, peer_on_message);
    if (mosquitto_connect(p->mosq, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS)
        return -1;
    return mosquitto_loop_start(p->mosq) == MOSQ_ERR_SUCCESS ? 0 : -1;
}

static void peer_stop(struct peer *p)
{
    mosquitto_disconnect(p->mosq);
    mosquitto_loop_stop(p->mosq, true);
    mosquitto_destroy(p->mosq);
    pthread_mutex_destroy(&p->mu);
}

struct fixture {
    struct broker b;
    struct daemon d;
    struct peer p;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char extra[200];
    if (f == NULL)
        return -1;
    f->b.port = 0;
    if (broker_start(&f->b) != 0)
        return -1;
    snprintf(extra, sizeof(extra),
             "[mqtt]\nhost = 127.0.0.1\nport = %u\nack_timeout_s = 2\nbatch_events = 100\n"
             "inflight = 4\n",
             (unsigned)f->b.port);
    if (daemon_setup(&f->d, extra) != 0 || daemon_import(&f->d, "packaging/demo/facts.ndjson") != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = daemon_cleanup(&f->d);
    broker_cleanup(&f->b);
    free(f);
    return rc;
}

/* An anonymous sale writes exactly one event, sale.completed. */
static void sell(struct daemon *d, int i)
{
    char key[32];
    struct http_resp r;
    snprintf(key, sizeof(key), "sync-%d", i);
    assert_int_equal(http_call(d, "POST", "/v1/checkout", key,
                               "{\"items\":[{\"sku\":\"A\",\"category\":\"food\",\"qty\":1,"
                               "\"unit_price\":100}]}",
                               &r),
                     0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
}

static void broker_down_1000_sales_then_up_hq_gets_all_exactly_once(void **state)
{
    struct fixture *f = *state;
    enum { N = 1000 };
    broker_stop(&f->b);
    assert_int_equal(daemon_start(&f->d), 0);
    for (int i = 0; i < N; i++)
        sell(&f->d, i);
    assert_int_equal(wait_status_num(&f->d, "connected", 0, 100), 0);
    assert_int_equal(wait_status_num(&f->d, "outbox.depth", N, 100), 0);

    assert_int_equal(broker_start(&f->b), 0);
    assert_int_equal(peer_start(&f->p, f->b.port), 0);
    /* Backoff is at most 60 s with jitter; the first retries come within seconds. */
    assert_int_equal(wait_status_num(&f->d, "outbox.depth", 0, 70000), 0);
    pthread_mutex_lock(&f->p.mu);
    assert_int_equal(f->p.unique, N);
    assert_int_equal(f->p.bad, 0);
    for (int s = 1; s <= N; s++)
        assert_true(f->p.seen[s] >= 1);
    pthread_mutex_unlock(&f->p.mu);
    peer_stop(&f->p);
}

static void unacked_batches_are_resent_within_the_window_and_leave_only_on_ack(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(peer_start(&f->p, f->b.port), 0);
    f->p.ack = 0; /* HQ receives but does not acknowledge (e.g. its database is down) */
    assert_int_equal(daemon_start(&f->d), 0);
    assert_int_equal(wait_status_num(&f->d, "connected", 1, 10000), 0);
    for (int i = 0; i < 10; i++)
        sell(&f->d, i);
    /* PUBACKs from the broker do not remove anything: after two ack timeouts all 10 are
     * still waiting; what was sent (at most [mqtt] inflight batches, 4 here, one sale
     * each) has been sent again. */
    struct timespec ts = {5, 0};
    nanosleep(&ts, NULL);
    assert_int_equal(wait_status_num(&f->d, "outbox.depth", 10, 100), 0);
    pthread_mutex_lock(&f->p.mu);
    assert_true(f->p.unique >= 1 && f->p.unique <= 4);
    assert_true(f->p.deliveries > f->p.unique);
    f->p.ack = 1;
    pthread_mutex_unlock(&f->p.mu);
    assert_int_equal(wait_status_num(&f->d, "outbox.depth", 0, 10000), 0);
    pthread_mutex_lock(&f->p.mu);
    assert_int_equal(f->p.unique, 10);
    pthread_mutex_unlock(&f->p.mu);
    peer_stop(&f->p);
}

static void broker_restart_while_connected_reconnects_by_itself(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(peer_start(&f->p, f->b.port), 0);
    assert_int_equal(daemon_start(&f->d), 0);
    assert_int_equal(wait_status_num(&f->d, "connected", 1, 10000), 0);
    sell(&f->d, 1);
    assert_int_equal(wait_status_num(&f->d, "outbox.depth", 0, 10000), 0);

    peer_stop(&f->p);
    broker_stop(&f->b);
    assert_int_equal(wait_status_num(&f->d, "connected", 0, 10000), 0);
    sell(&f->d, 2); /* offline: the checkout does not wait */
    assert_int_equal(broker_start(&f->b), 0);
    memset(&f->p, 0, sizeof(f->p));
    assert_int_equal(peer_start(&f->p, f->b.port), 0);
    assert_int_equal(wait_status_num(&f->d, "connected", 1, 20000), 0);
    assert_int_equal(wait_status_num(&f->d, "outbox.depth", 0, 20000), 0);
    peer_stop(&f->p);
}

static void kill9_mid_drain_loses_nothing(void **state)
{
    struct fixture *f = *state;
    enum { N = 300 };
    assert_int_equal(peer_start(&f->p, f->b.port), 0);
    f->p.ack = 0;
    assert_int_equal(daemon_start(&f->d), 0);
    for (int i = 0; i < N; i++)
        sell(&f->d, i);
    daemon_signal(&f->d, SIGKILL); /* events sent, none acknowledged */
    pthread_mutex_lock(&f->p.mu);
    f->p.ack = 1;
    pthread_mutex_unlock(&f->p.mu);
    assert_int_equal(daemon_start(&f->d), 0);
    assert_int_equal(wait_status_num(&f->d, "outbox.depth", 0, 20000), 0);
    pthread_mutex_lock(&f->p.mu);
    assert_int_equal(f->p.unique, N);
    assert_int_equal(f->p.bad, 0);
    pthread_mutex_unlock(&f->p.mu);
    peer_stop(&f->p);
}

/* Watches the terminal's retained status topic. */
struct watcher {
    pthread_mutex_t mu;
    char last[512];
};

static void watch_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    struct watcher *w = obj;
    (void)m;
    pthread_mutex_lock(&w->mu);
    snprintf(w->last, sizeof(w->last), "%.*s", msg->payloadlen, (const char *)msg->payload);
    pthread_mutex_unlock(&w->mu);
}

static int watch_until(struct watcher *w, const char *needle, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        pthread_mutex_lock(&w->mu);
        int found = strstr(w->last, needle) != NULL;
        pthread_mutex_unlock(&w->mu);
        if (found)
            return 0;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void status_is_retained_online_and_the_will_says_offline_after_kill9(void **state)
{
    struct fixture *f = *state;
    struct watcher w = {.last = ""};
    pthread_mutex_init(&w.mu, NULL);
    FILE *c = fopen(f->d.conf, "a");
    assert_non_null(c);
    fputs("keepalive = 5\n", c); /* [mqtt] is the last section: the will fires within 7.5 s */
    fclose(c);
    assert_int_equal(daemon_start(&f->d), 0);
    assert_int_equal(wait_status_num(&f->d, "connected", 1, 10000), 0);
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new("status-watch", true, &w);
    mosquitto_message_callback_set(m, watch_on_message);
    assert_int_equal(mosquitto_connect(m, "127.0.0.1", f->b.port, 30), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_subscribe(m, NULL, "ml/demo/s/S001/T01/status", 1),
                     MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_loop_start(m), MOSQ_ERR_SUCCESS);
    /* Retained: a subscriber that comes later still sees it. */
    assert_int_equal(watch_until(&w, "\"state\":\"online\"", 5000), 0);
    assert_int_equal(watch_until(&w, "\"outbox_depth\":", 100), 0);
    daemon_signal(&f->d, SIGKILL);
    assert_int_equal(watch_until(&w, "\"reason\":\"lost\"", 15000), 0);
    assert_int_equal(watch_until(&w, "\"state\":\"offline\"", 100), 0);
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, true);
    mosquitto_destroy(m);
    pthread_mutex_destroy(&w.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(broker_down_1000_sales_then_up_hq_gets_all_exactly_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            unacked_batches_are_resent_within_the_window_and_leave_only_on_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(broker_restart_while_connected_reconnects_by_itself, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(kill9_mid_drain_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            status_is_retained_online_and_the_will_says_offline_after_kill9, setup, teardown),
    };
    return cmocka_run_group_tests_name("sync (real mosquitto, real memberlinkd)", tests, NULL,
                                       NULL);
}
