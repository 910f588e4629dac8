/*
 * hq_pub: one short MQTT session that publishes stored messages; see hq_pub.h. Runs
 * mosquitto_loop() on the calling thread; every wait is bounded by
 * HQ_PUB_IDLE_TIMEOUT_MS without progress.
 */
#include "hq_pub.h"

#include <errno.h>
#include <mosquitto.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

struct pub_state {
    struct hq_pub_item *items;
    int mids[HQ_PUB_WINDOW]; /* mid of each slot, 0 = free */
    size_t slot_item[HQ_PUB_WINDOW];
    size_t inflight;
    size_t acked;
    int connack; /* 0 waiting, 1 accepted, -1 refused */
    int connack_rc;
    int64_t progress_at;
};

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    struct pub_state *s = obj;
    s->connack = rc == 0 ? 1 : -1;
    s->connack_rc = rc;
    s->progress_at = clock_mono_ms();
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m;
    struct pub_state *s = obj;
    for (size_t i = 0; i < HQ_PUB_WINDOW; i++) {
        if (s->mids[i] != mid)
            continue;
        s->items[s->slot_item[i]].acked = 1;
        s->mids[i] = 0;
        s->inflight--;
        s->acked++;
        s->progress_at = clock_mono_ms();
        return;
    }
}

/* One loop step; -1 when the connection is gone or the broker is silent too long. */
static int step(struct mosquitto *m, struct pub_state *s, char *errbuf, size_t errlen)
{
    int rc = mosquitto_loop(m, 50, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(errbuf, errlen, "connection lost: %s",
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        return -1;
    }
    if (clock_mono_ms() - s->progress_at > HQ_PUB_IDLE_TIMEOUT_MS) {
        snprintf(errbuf, errlen, "no answer from the broker for %d s",
                 HQ_PUB_IDLE_TIMEOUT_MS / 1000);
        return -1;
    }
    return 0;
}

ml_err hq_pub_send(const struct hq_config *cfg, struct hq_pub_item *items, size_t n, char *errbuf,
                   size_t errlen)
{
    ml_err result = ML_FAILURE;
    struct pub_state s = {.items = items, .progress_at = clock_mono_ms()};
    char client_id[HQ_CONFIG_CLIENT_ID_MAX + 32];
    snprintf(client_id, sizeof(client_id), "%s-push-%ld", cfg->mqtt_client_id, (long)getpid());
    if (n == 0)
        return ML_OK;

    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(client_id, true, &s);
    if (m == NULL) {
        snprintf(errbuf, errlen, "cannot create an MQTT client: %s", strerror(errno));
        goto out;
    }
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_publish_callback_set(m, on_publish);
    int rc = mosquitto_connect(m, cfg->mqtt_host, cfg->mqtt_port, cfg->mqtt_keepalive);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(errbuf, errlen, "cannot connect: %s",
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        goto out;
    }
    s.progress_at = clock_mono_ms();
    while (s.connack == 0)
        if (step(m, &s, errbuf, errlen) != 0)
            goto out;
    if (s.connack < 0) {
        snprintf(errbuf, errlen, "the broker refused the connection: %s",
                 mosquitto_connack_string(s.connack_rc));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        while (s.inflight >= HQ_PUB_WINDOW)
            if (step(m, &s, errbuf, errlen) != 0)
                goto out;
        size_t slot = 0;
        while (s.mids[slot] != 0)
            slot++;
        int mid = 0;
        rc = mosquitto_publish(m, &mid, items[i].topic, (int)items[i].len, items[i].text, 1,
                               items[i].retain != 0);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(errbuf, errlen, "publish on %s failed: %s", items[i].topic,
                     rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
            goto out;
        }
        s.mids[slot] = mid;
        s.slot_item[slot] = i;
        s.inflight++;
    }
    while (s.inflight > 0)
        if (step(m, &s, errbuf, errlen) != 0)
            goto out;
    result = ML_OK;
out:
    if (m != NULL) {
        mosquitto_disconnect(m);
        (void)mosquitto_loop(m, 0, 1);
        mosquitto_destroy(m);
    }
    mosquitto_lib_cleanup();
    return result;
}
