/* link: MQTT session with HQ on the agent's loop; see link.h. */
#include "link.h"

#include <mosquitto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catchup.h"
#include "deny.h"
#include "drain.h"
#include "inbox.h"
#include "jsonutil.h"
#include "log.h"
#include "outbox.h"

#define LINK_BACKOFF_MIN_MS 500
#define LINK_BACKOFF_MAX_MS 60000
#define LINK_MISC_MS 1000                     /* keepalive bookkeeping while connected */
#define LINK_ACK_RETRY_MS 1000                /* after a failed ack commit */
#define LINK_READS_PER_WAKE 256               /* MQTT packets read per poll wake-up */
#define LINK_PEER_BATCH_MAX (2 * 1024 * 1024) /* a peer's batch larger than this is ignored */
#define LINK_STATUS_MS 60000                  /* status refresh */
#define LINK_WARN_REPEAT_MS 600000            /* outbox-size warning repeat */

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

    /* HQ -> store */
    char topic_inbox[160], topic_campaigns[160], topic_time[160];
    char topic_peers[160]; /* ml/<brand>/s/<store>/+/ev: this store's terminals */
    size_t peers_prefix_len;
    size_t campaign_prefix_len;
    struct catchup *catchup; /* NULL without [hq] url */
    int catchup_again;
    int64_t catchup_retry_at;
    int warned_no_url;
    struct inbox_stats inbox;
};

#define LINK_CATCHUP_RETRY_MS 30000

static int64_t mono_ms(void);

static void request_catchup(struct link *l)
{
    if (l->catchup == NULL) {
        if (!l->warned_no_url)
            log_warn("hq: a message was missed and [hq] url is not set: cannot catch up");
        l->warned_no_url = 1;
        return;
    }
    if (catchup_busy(l->catchup)) {
        l->catchup_again = 1;
        return;
    }
    char url[1024];
    snprintf(url, sizeof(url), "%s/v1/stores/%s/changes?since=%lld", l->ctx->cfg->hq_url,
             l->ctx->cfg->store, (long long)inbox_cursor(l->ctx->st));
    l->catchup_again = 0;
    l->catchup_retry_at = 0;
    if (catchup_start(l->catchup, url) != ML_OK) {
        log_warn("hq: cannot start catching up");
        l->catchup_retry_at = mono_ms() + LINK_CATCHUP_RETRY_MS;
    }
}

static void hq_message(struct link *l, const char *topic, const char *text, size_t len)
{
    enum inbox_result res;
    if (inbox_handle(l->ctx, l->ctx->keys, topic, text, len, &res, &l->inbox) != ML_OK) {
        log_error("hq: cannot record a message from %s; it will come again", topic);
        return;
    }
    if (res == INBOX_GAP)
        request_catchup(l);
}

/* A catch-up line names no topic: it is the inbox's, HQ's time beacon by its kind, or a
 * campaign's by its body. */
static void catchup_line(struct link *l, const char *line, size_t len)
{
    char topic[256];
    snprintf(topic, sizeof(topic), "%s", l->topic_inbox);
    cJSON *msg = json_parse_bounded(line, len, NULL);
    const cJSON *store = cJSON_GetObjectItemCaseSensitive(msg, "store");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(msg, "kind");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(body, "campaign_id");
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "hq.time") == 0)
        snprintf(topic, sizeof(topic), "%s", l->topic_time);
    else if (cJSON_IsString(store) && strcmp(store->valuestring, "*") == 0 && cJSON_IsString(cid) &&
             strlen(cid->valuestring) <= 64)
        snprintf(topic, sizeof(topic), "%.*s%s", (int)l->campaign_prefix_len, l->topic_campaigns,
                 cid->valuestring);
    cJSON_Delete(msg);
    hq_message(l, topic, line, len);
}

static void catchup_done(struct link *l)
{
    struct catchup_result r;
    if (catchup_collect(l->catchup, &r) != 0)
        return;
    if (r.status != 200) {
        log_warn("hq: catching up failed (%s); retrying in %d s", r.error,
                 LINK_CATCHUP_RETRY_MS / 1000);
        l->catchup_retry_at = mono_ms() + LINK_CATCHUP_RETRY_MS;
        free(r.body);
        return;
    }
    size_t lines = 0;
    /* The whole response is imported in one transaction (each message a savepoint in it). */
    if (store_begin(l->ctx->st) != ML_OK) {
        free(r.body);
        l->catchup_retry_at = mono_ms() + LINK_CATCHUP_RETRY_MS;
        return;
    }
    for (char *p = r.body; p != NULL && p < r.body + r.len;) {
        char *nl = memchr(p, '\n', (size_t)(r.body + r.len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(r.body + r.len - p);
        if (n > 0) {
            catchup_line(l, p, n);
            lines++;
        }
        p = nl ? nl + 1 : NULL;
    }
    if (store_commit(l->ctx->st) != ML_OK) {
        store_rollback(l->ctx->st);
        log_error("hq: cannot record the caught-up messages; retrying");
        l->catchup_retry_at = mono_ms() + LINK_CATCHUP_RETRY_MS;
        free(r.body);
        return;
    }
    free(r.body);
    log_info("hq: caught up %zu messages, at cursor %lld", lines,
             (long long)inbox_cursor(l->ctx->st));
    if (r.more || l->catchup_again)
        request_catchup(l);
}

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
    l->backoff_ms =
        l->backoff_ms * 2 > LINK_BACKOFF_MAX_MS ? LINK_BACKOFF_MAX_MS : l->backoff_ms * 2;
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
    mosquitto_subscribe(l->mosq, NULL, l->topic_inbox, 1);
    mosquitto_subscribe(l->mosq, NULL, l->topic_campaigns, 1);
    mosquitto_subscribe(l->mosq, NULL, l->topic_time, 0);
    mosquitto_subscribe(l->mosq, NULL, l->topic_peers, 1);
    publish_status(l, 1);
    /* What the broker could not keep while we were away comes over HTTP. */
    request_catchup(l);
    log_info("mqtt: connected to %s:%u", l->ctx->cfg->mqtt_host, (unsigned)l->ctx->cfg->mqtt_port);
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

/* 1 if this store knows coupon_id as a coupon of several uses (a peer's use does not take
 * the last one); 0 for single-use or unknown coupons. */
static int multi_use(struct store *st, const char *coupon_id)
{
    static const char sql[] = "SELECT uses_total > 1 FROM coupons WHERE coupon_id = ?1";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return 0;
    sqlite3_bind_text(s, 1, coupon_id, -1, SQLITE_TRANSIENT);
    int multi = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0);
    sqlite3_reset(s);
    return multi;
}

/*
 * A batch another terminal of this store sent to HQ, heard on the (store-local) broker:
 * its single-use coupon redemptions become local deny entries at once, even with the WAN
 * down, and its restorations lift them (deny.h). HQ stays the record; this only closes the
 * window until HQ's own deny arrives.
 */
static void peer_batch(struct link *l, const char *terminal, const char *payload, size_t len)
{
    struct store *st = l->ctx->st;
    cJSON *batch = json_parse_bounded(payload, len, NULL);
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(batch, "events");
    if (!cJSON_IsArray(events) || store_savepoint(st) != ML_OK) {
        cJSON_Delete(batch);
        return;
    }
    ml_err err = ML_OK;
    int denied = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(e, "body");
        const cJSON *coupon = cJSON_GetObjectItemCaseSensitive(body, "coupon_id");
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(e, "at");
        if (!cJSON_IsString(type) || !cJSON_IsString(coupon))
            continue;
        if (strcmp(type->valuestring, "coupon.redeemed") == 0 &&
            !multi_use(st, coupon->valuestring)) {
            err = deny_add_peer(st, coupon->valuestring, terminal,
                                cJSON_IsNumber(at) ? (int64_t)at->valuedouble : l->ctx->now_ms());
            denied += err == ML_OK;
        } else if (strcmp(type->valuestring, "coupon.restored") == 0) {
            err = deny_lift_peer(st, coupon->valuestring, terminal);
        }
        if (err == ML_STORAGE || err == ML_NOMEM)
            break;
        err = ML_OK; /* an id out of form is skipped, not fatal */
    }
    if (err == ML_OK && store_release(st) == ML_OK) {
        if (denied)
            log_info("peer %s redeemed %d coupon(s): refused here from now on", terminal, denied);
    } else {
        store_undo(st);
        log_error("peer %s: cannot record its redemptions", terminal);
    }
    cJSON_Delete(batch);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    struct link *l = obj;
    (void)m;
    if (strcmp(msg->topic, l->topic_inbox) == 0 || strcmp(msg->topic, l->topic_time) == 0 ||
        strncmp(msg->topic, l->topic_campaigns, l->campaign_prefix_len) == 0) {
        if (msg->payloadlen > 0) /* an empty retained payload withdraws nothing unsigned */
            hq_message(l, msg->topic, msg->payload, (size_t)msg->payloadlen);
        return;
    }
    size_t tl = strlen(msg->topic);
    if (strncmp(msg->topic, l->topic_peers, l->peers_prefix_len) == 0 && tl > 3 &&
        strcmp(msg->topic + tl - 3, "/ev") == 0) {
        char terminal[64];
        const char *t = msg->topic + l->peers_prefix_len;
        size_t n = strcspn(t, "/");
        if (strcmp(msg->topic, l->topic_ev) != 0 && n > 0 && n < sizeof(terminal) &&
            strcmp(t + n, "/ev") == 0 && msg->payloadlen > 0 &&
            msg->payloadlen <= LINK_PEER_BATCH_MAX) {
            memcpy(terminal, t, n);
            terminal[n] = '\0';
            peer_batch(l, terminal, msg->payload, (size_t)msg->payloadlen);
        }
        return;
    }
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
    int rc =
        l->ever_connected || l->stats.disconnects > 0
            ? mosquitto_reconnect_async(l->mosq)
            : mosquitto_connect_async(l->mosq, cfg->mqtt_host, cfg->mqtt_port, cfg->mqtt_keepalive);
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
    snprintf(l->topic_inbox, sizeof(l->topic_inbox), "ml/%s/s/%s/inbox", cfg->brand, cfg->store);
    snprintf(l->topic_campaigns, sizeof(l->topic_campaigns), "ml/%s/hq/campaign/+", cfg->brand);
    snprintf(l->topic_time, sizeof(l->topic_time), "ml/%s/hq/time", cfg->brand);
    snprintf(l->topic_peers, sizeof(l->topic_peers), "ml/%s/s/%s/+/ev", cfg->brand, cfg->store);
    l->peers_prefix_len = strlen(l->topic_peers) - 4;        /* without "+/ev" */
    l->campaign_prefix_len = strlen(l->topic_campaigns) - 1; /* without the '+' */
    if (cfg->hq_npubkeys == 0)
        log_warn("hq: no [hq] pubkey configured: every message from HQ will be refused");
    if (cfg->hq_url[0] != '\0' && (l->catchup = catchup_new()) == NULL) {
        link_stop(l);
        return ML_NOMEM;
    }
    if (cfg->mqtt_client_id[0])
        snprintf(client_id, sizeof(client_id), "%s", cfg->mqtt_client_id);
    else
        snprintf(client_id, sizeof(client_id), "%s-%s-%s", cfg->brand, cfg->store, cfg->terminal);
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
    if (cfg->mqtt_tls_ca[0] && mosquitto_tls_set(l->mosq, cfg->mqtt_tls_ca, NULL,
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

int link_catchup_fd(struct link *l)
{
    return l->catchup != NULL && catchup_busy(l->catchup) ? catchup_fd(l->catchup) : -1;
}

void link_catchup_ready(struct link *l)
{
    catchup_done(l);
}

const struct inbox_stats *link_inbox_stats(const struct link *l)
{
    return &l->inbox;
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
    if (l->catchup_retry_at && l->catchup_retry_at < next)
        next = l->catchup_retry_at;
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
    if (l->catchup_retry_at && now >= l->catchup_retry_at)
        request_catchup(l);
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
    catchup_free(l->catchup);
    free(l->acked);
    free(l);
    mosquitto_lib_cleanup();
}
