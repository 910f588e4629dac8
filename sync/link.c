/* link: MQTT session with HQ on the agent's loop; see link.h. */
#include "link.h"

#include <mosquitto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drain.h"
#include "jsonutil.h"
#include "log.h"
#include "outbox.h"

#define LINK_BACKOFF_MIN_MS 500
#define LINK_BACKOFF_MAX_MS 60000
#define LINK_MISC_MS 1000          /* keepalive bookkeeping while connected */
#define LINK_ACK_RETRY_MS 1000     /* after a failed ack commit */
#define LINK_READS_PER_WAKE 256    /* MQTT packets read per poll wake-up */
#define LINK_STATUS_MS 60000       /* status refresh */
#define LINK_WARN_REPEAT_MS 600000 /* outbox-size warning repeat */

struct inflight {
    struct drain_batch b;
    int64_t sent_ms;
};

struct link {
    struct ml_ctx *ctx;
    struct mosquitto *mosq;
    int connected;
    int ever_connected;
    int64_t reconnect_at;
    int backoff_ms;
    char topic_ev[160], topic_ack[160], topic_status[160];

    struct inflight inflight[LINK_INFLIGHT_MAX];
    int ninflight;
    int64_t last_sent_seq;

    char (*acked)[DRAIN_EVENT_ID_LEN + 1];
    size_t nacked;
    int64_t ack_flush_at;

    int64_t status_at, misc_at, warned_at, depth_check_at;
    struct link_stats stats;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Exponential backoff with "equal jitter": half fixed, half random, so a thousand stores
 * that lost the same broker do not come back in lockstep. */
static void schedule_reconnect(struct link *l)
{
    unsigned int r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (unsigned int)rand();
    int half = l->backoff_ms / 2;
    l->reconnect_at = mono_ms() + half + (int64_t)(r % (unsigned int)(half + 1));
    l->backoff_ms = l->backoff_ms * 2 > LINK_BACKOFF_MAX_MS ? LINK_BACKOFF_MAX_MS
                                                             : l->backoff_ms * 2;
}

static void publish_status(struct link *l, int online)
{
    struct store *st = l->ctx->st;
    int64_t depth = outbox_depth(st), oldest = outbox_oldest_at(st);
    int64_t now = l->ctx->now_ms();
    char msg[512];
    int n = snprintf(msg, sizeof(msg),
                     "{\"v\":1,\"state\":\"%s\",\"version\":\"%s\",\"store\":\"%s\","
                     "\"terminal\":\"%s\",\"outbox_depth\":%lld,\"oldest_unacked_age_ms\":%lld,"
                     "\"outbox_warning\":%s,\"at\":%lld}",
                     online ? "online" : "offline", ML_VERSION, l->ctx->cfg->store,
                     l->ctx->cfg->terminal, (long long)depth,
                     (long long)(oldest > 0 ? now - oldest : 0),
                     depth > l->ctx->cfg->outbox_warn_events ? "true" : "false", (long long)now);
    mosquitto_publish(l->mosq, NULL, l->topic_status, n, msg, 1, true);
    l->status_at = mono_ms() + LINK_STATUS_MS;
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    struct link *l = obj;
    (void)m;
    if (rc != 0) {
        log_warn("mqtt: broker refused the connection: %s", mosquitto_connack_string(rc));
        return; /* the disconnect that follows schedules the retry */
    }
    l->connected = 1;
    l->ever_connected = 1;
    l->backoff_ms = LINK_BACKOFF_MIN_MS;
    l->stats.connects++;
    /* Everything unacknowledged goes again, from the oldest. */
    for (int i = 0; i < l->ninflight; i++)
        drain_batch_release(&l->inflight[i].b);
    l->ninflight = 0;
    l->last_sent_seq = 0;
    mosquitto_subscribe(l->mosq, NULL, l->topic_ack, 1);
    publish_status(l, 1);
    log_info("mqtt: connected to %s:%u", l->ctx->cfg->mqtt_host,
             (unsigned)l->ctx->cfg->mqtt_port);
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    struct link *l = obj;
    (void)m;
    if (l->connected)
        log_warn("mqtt: connection lost (%s); sales continue offline",
                 rc == 0 ? "closed" : mosquitto_strerror(rc));
    l->connected = 0;
    l->stats.disconnects++;
    schedule_reconnect(l);
}

static int valid_event_id(const char *s)
{
    if (strlen(s) != DRAIN_EVENT_ID_LEN)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == '-'))
            return 0;
    return 1;
}

static void flush_acks(struct link *l);

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    struct link *l = obj;
    (void)m;
    if (strcmp(msg->topic, l->topic_ack) != 0)
        return;
    if (msg->payloadlen <= 0 || msg->payloadlen > LINK_ACK_PAYLOAD_MAX) {
        log_warn("mqtt: ack of %d bytes ignored", msg->payloadlen);
        return;
    }
    cJSON *ack = json_parse_bounded(msg->payload, (size_t)msg->payloadlen, NULL);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(ack, "acked");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ack, "v");
    if (!cJSON_IsArray(ids) || !cJSON_IsNumber(v) || v->valuedouble != 1) {
        log_warn("mqtt: malformed ack ignored");
        cJSON_Delete(ack);
        return;
    }
    const cJSON *id;
    cJSON_ArrayForEach(id, ids)
    {
        if (!cJSON_IsString(id) || !valid_event_id(id->valuestring))
            continue;
        if (l->nacked == LINK_ACK_IDS_MAX)
            flush_acks(l);
        memcpy(l->acked[l->nacked++], id->valuestring, DRAIN_EVENT_ID_LEN + 1);
    }
    /* Recorded at the end of this wake-up, together with any other acks read in it. */
    if (l->nacked > 0 && l->ack_flush_at == 0)
        l->ack_flush_at = mono_ms();
    cJSON_Delete(ack);
}

static void flush_acks(struct link *l)
{
    size_t deleted = 0;
    l->ack_flush_at = 0;
    if (l->nacked == 0)
        return;
    if (drain_ack(l->ctx->st, l->acked, l->nacked, &deleted) != ML_OK) {
        /* Kept in memory; tried again on the next tick. */
        log_error("outbox: cannot record %zu acks", l->nacked);
        l->ack_flush_at = mono_ms() + LINK_ACK_RETRY_MS;
        return;
    }
    l->stats.events_acked += deleted;
    l->nacked = 0;
    /* Batches whose every event is acknowledged leave the window. */
    int k = 0;
    for (int i = 0; i < l->ninflight; i++) {
        struct inflight *f = &l->inflight[i];
        if (drain_pending_in(l->ctx->st, f->b.first_seq, f->b.last_seq))
            l->inflight[k++] = *f;
        else
            drain_batch_release(&f->b);
    }
    l->ninflight = k;
}

static int send_batch(struct link *l, struct inflight *f)
{
    int rc = mosquitto_publish(l->mosq, NULL, l->topic_ev, (int)f->b.len, f->b.payload, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_warn("mqtt: publish failed: %s", mosquitto_strerror(rc));
        return -1;
    }
    f->sent_ms = mono_ms();
    /* The payload is in libmosquitto's queue now; a resend rebuilds it from the outbox. */
    free(f->b.payload);
    f->b.payload = NULL;
    return 0;
}

static void drain(struct link *l)
{
    const struct config *cfg = l->ctx->cfg;
    int64_t now = mono_ms();
    /* Resend what HQ did not acknowledge in time. */
    for (int i = 0; i < l->ninflight; i++) {
        struct inflight *f = &l->inflight[i];
        if (now - f->sent_ms < (int64_t)cfg->mqtt_ack_timeout_s * 1000)
            continue;
        struct drain_batch again;
        if (drain_again(l->ctx->st, &f->b, &again) != ML_OK)
            return;
        if (again.nevents == 0) {
            f->sent_ms = now; /* acked meanwhile; flush_acks drops it */
            continue;
        }
        again.nevents = f->b.nevents;
        drain_batch_release(&f->b);
        f->b = again;
        if (send_batch(l, f) != 0)
            return;
        l->stats.batches_resent++;
    }
    while (l->ninflight < cfg->mqtt_inflight && l->ninflight < LINK_INFLIGHT_MAX) {
        struct inflight *f = &l->inflight[l->ninflight];
        if (drain_next(l->ctx->st, l->last_sent_seq, cfg->mqtt_batch_events,
                       (size_t)cfg->mqtt_batch_bytes, l->ctx->now_ms(), &f->b) != ML_OK)
            return;
        if (f->b.nevents == 0)
            return;
        if (send_batch(l, f) != 0) {
            drain_batch_release(&f->b);
            return;
        }
        l->last_sent_seq = f->b.last_seq;
        l->ninflight++;
        l->stats.batches_sent++;
    }
}

static void try_connect(struct link *l)
{
    const struct config *cfg = l->ctx->cfg;
    int rc = l->ever_connected || l->stats.disconnects > 0
                 ? mosquitto_reconnect_async(l->mosq)
                 : mosquitto_connect_async(l->mosq, cfg->mqtt_host, cfg->mqtt_port,
                                           cfg->mqtt_keepalive);
    l->reconnect_at = 0;
    if (rc != MOSQ_ERR_SUCCESS) {
        log_debug("mqtt: connect to %s:%u: %s", cfg->mqtt_host, (unsigned)cfg->mqtt_port,
                  mosquitto_strerror(rc));
        l->stats.disconnects++;
        schedule_reconnect(l);
    }
}

ml_err link_start(struct ml_ctx *ctx, struct link **ret, char *errbuf, size_t errlen)
{
    const struct config *cfg = ctx->cfg;
    char client_id[160];
    mosquitto_lib_init();
    struct link *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->acked = calloc(LINK_ACK_IDS_MAX, sizeof(*l->acked))) == NULL) {
        free(l);
        return ML_NOMEM;
    }
    l->ctx = ctx;
    l->backoff_ms = LINK_BACKOFF_MIN_MS;
    snprintf(l->topic_ev, sizeof(l->topic_ev), "ml/%s/s/%s/%s/ev", cfg->brand, cfg->store,
             cfg->terminal);
    snprintf(l->topic_ack, sizeof(l->topic_ack), "ml/%s/s/%s/%s/ack", cfg->brand, cfg->store,
             cfg->terminal);
    snprintf(l->topic_status, sizeof(l->topic_status), "ml/%s/s/%s/%s/status", cfg->brand,
             cfg->store, cfg->terminal);
    if (cfg->mqtt_client_id[0])
        snprintf(client_id, sizeof(client_id), "%s", cfg->mqtt_client_id);
    else
        snprintf(client_id, sizeof(client_id), "%s-%s-%s", cfg->brand, cfg->store,
                 cfg->terminal);
    /* A persistent session: acks and HQ messages published while this terminal was away
     * wait at the broker (within its limits; HTTP catch-up covers the rest). */
    l->mosq = mosquitto_new(client_id, false, l);
    if (l->mosq == NULL) {
        snprintf(errbuf, errlen, "[mqtt] cannot create a client");
        link_stop(l);
        return ML_NOMEM;
    }
    mosquitto_int_option(l->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(l->mosq, on_connect);
    mosquitto_disconnect_callback_set(l->mosq, on_disconnect);
    mosquitto_message_callback_set(l->mosq, on_message);
    if (cfg->mqtt_tls_ca[0] &&
        mosquitto_tls_set(l->mosq, cfg->mqtt_tls_ca, NULL,
                          cfg->mqtt_tls_cert[0] ? cfg->mqtt_tls_cert : NULL,
                          cfg->mqtt_tls_key[0] ? cfg->mqtt_tls_key : NULL,
                          NULL) != MOSQ_ERR_SUCCESS) {
        snprintf(errbuf, errlen, "[mqtt] tls_ca/tls_cert/tls_key: cannot load");
        link_stop(l);
        return ML_CONFIG;
    }
    char will[256];
    int n = snprintf(will, sizeof(will),
                     "{\"v\":1,\"state\":\"offline\",\"version\":\"%s\",\"store\":\"%s\","
                     "\"terminal\":\"%s\",\"reason\":\"lost\"}",
                     ML_VERSION, cfg->store, cfg->terminal);
    mosquitto_will_set(l->mosq, l->topic_status, n, will, 1, true);
    try_connect(l);
    *ret = l;
    return ML_OK;
}

int link_fd(struct link *l)
{
    return mosquitto_socket(l->mosq);
}

short link_events(struct link *l)
{
    return (short)(POLLIN | (mosquitto_want_write(l->mosq) ? POLLOUT : 0));
}

int link_timeout_ms(struct link *l)
{
    int64_t now = mono_ms(), next = now + LINK_MISC_MS;
    if (l->reconnect_at && l->reconnect_at < next)
        next = l->reconnect_at;
    if (l->ack_flush_at && l->ack_flush_at < next)
        next = l->ack_flush_at;
    return next <= now ? 0 : (int)(next - now);
}

void link_io(struct link *l, short revents)
{
    /* mosquitto_loop_read() handles one packet per call: read on while more is there, so a
     * burst of acks is taken in one pass and recorded in one commit. */
    if (revents & (POLLIN | POLLERR | POLLHUP)) {
        for (int i = 0; i < LINK_READS_PER_WAKE; i++) {
            if (mosquitto_loop_read(l->mosq, 1) != MOSQ_ERR_SUCCESS)
                break;
            struct pollfd p = {.fd = mosquitto_socket(l->mosq), .events = POLLIN};
            if (p.fd < 0 || poll(&p, 1, 0) != 1)
                break;
        }
    }
    if (revents & POLLOUT)
        mosquitto_loop_write(l->mosq, 1);
}

void link_tick(struct link *l)
{
    int64_t now = mono_ms();
    if (l->reconnect_at && now >= l->reconnect_at)
        try_connect(l);
    if (mosquitto_socket(l->mosq) >= 0 && now >= l->misc_at) {
        mosquitto_loop_misc(l->mosq);
        l->misc_at = now + LINK_MISC_MS;
    }
    if (l->ack_flush_at && (now >= l->ack_flush_at || l->nacked >= LINK_ACK_IDS_MAX / 2))
        flush_acks(l);
    if (l->connected) {
        drain(l);
        if (now >= l->status_at)
            publish_status(l, 1);
    }
    /* Counting the outbox is a table scan: once a minute, not every tick. */
    if (now >= l->depth_check_at) {
        int64_t depth = outbox_depth(l->ctx->st);
        l->depth_check_at = now + LINK_STATUS_MS;
        if (depth > l->ctx->cfg->outbox_warn_events &&
            (l->warned_at == 0 || now - l->warned_at >= LINK_WARN_REPEAT_MS)) {
            log_warn("outbox holds %lld events, past [agent] outbox_warn_events = %lld: HQ "
                     "has not acknowledged them; sales continue and nothing is dropped",
                     (long long)depth, (long long)l->ctx->cfg->outbox_warn_events);
            l->warned_at = now;
        }
    }
}

int link_connected(const struct link *l)
{
    return l != NULL && l->connected;
}

const struct link_stats *link_get_stats(const struct link *l)
{
    return &l->stats;
}

void link_stop(struct link *l)
{
    if (l == NULL)
        return;
    if (l->mosq != NULL) {
        if (l->connected) {
            flush_acks(l);
            publish_status(l, 0);
            /* Give the offline status a moment to leave before the clean disconnect. */
            for (int i = 0; i < 10 && mosquitto_want_write(l->mosq); i++)
                mosquitto_loop_write(l->mosq, 1);
            mosquitto_disconnect(l->mosq);
        }
        mosquitto_destroy(l->mosq);
    }
    for (int i = 0; i < l->ninflight; i++)
        drain_batch_release(&l->inflight[i].b);
    free(l->acked);
    free(l);
    mosquitto_lib_cleanup();
}
