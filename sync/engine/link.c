/* link: the MQTT session with HQ on the agent's loop; see link.h. */
#include "link.h"

#include <mosquitto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catchup.h"
#include "clock.h"
#include "jsonutil.h"
#include "log.h"
#include "outbox.h"
#include "presence.h"
#include "topic.h"
#include "window.h"

#define LINK_BACKOFF_MIN_MS 500
#define LINK_BACKOFF_MAX_MS 60000
#define LINK_MISC_MS 1000          /* keepalive bookkeeping while connected */
#define LINK_ACK_RETRY_MS 1000     /* after a failed ack commit */
#define LINK_READS_PER_WAKE 256    /* MQTT packets read per poll wake-up */
#define LINK_STATUS_MS 60000       /* status refresh and outbox count */
#define LINK_WARN_REPEAT_MS 600000 /* outbox-size warning repeat */
#define LINK_SUBSCRIPTIONS 5

struct link {
    struct link_config cfg;
    struct db *db;
    int64_t (*now_ms)(void);
    struct link_handler h; /* the agent's, copied */
    struct inbox_site site;
    struct mosquitto *mosq;
    int connected;
    int ever_connected;
    int64_t reconnect_at;
    int backoff_ms;
    struct window *window;
    struct inbox *inbox;
    struct catchup *catchup; /* NULL without [hq] url */
    int warned_no_url;
    int64_t ack_flush_at;
    int64_t misc_at, warned_at, depth_check_at;
    uint64_t disconnects;
    char topic_ev[TOPIC_MAX], topic_ack[TOPIC_MAX], topic_status[TOPIC_MAX];
    char topic_inbox[TOPIC_MAX], topic_campaigns[TOPIC_MAX], topic_time[TOPIC_MAX];
    char topic_peers[TOPIC_MAX]; /* ml/<brand>/s/<store>/+/ev: this store's terminals */
    /* The topics subscribed on every connect, and the message id of each SUBSCRIBE. */
    struct {
        const char *topic;
        int qos;
        int mid;
    } subs[LINK_SUBSCRIPTIONS];
};

static void request_catchup(struct link *l)
{
    if (l->catchup == NULL) {
        if (!l->warned_no_url)
            log_warn("hq: a message was missed and [hq] url is not set: cannot catch up");
        l->warned_no_url = 1;
        return;
    }
    catchup_request(l->catchup);
}

static void hq_message(struct link *l, const char *topic, const char *text, size_t len)
{
    enum inbox_result res;
    if (inbox_handle(l->inbox, topic, text, len, &res) != ML_OK) {
        /* The broker has it as delivered: only the catch-up can bring it again. */
        log_error("hq: cannot record a message from %s (%s); catching up", topic, db_errmsg(l->db));
        request_catchup(l);
        return;
    }
    if (res == INBOX_GAP)
        request_catchup(l);
}

/* Exponential backoff with "equal jitter": half fixed, half random, so a thousand stores
 * that lost the same broker do not come back in lockstep. */
static void schedule_reconnect(struct link *l)
{
    unsigned int r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (unsigned int)rand();
    int half = l->backoff_ms / 2;
    l->reconnect_at = clock_mono_ms() + half + (int64_t)(r % (unsigned int)(half + 1));
    l->backoff_ms =
        l->backoff_ms * 2 > LINK_BACKOFF_MAX_MS ? LINK_BACKOFF_MAX_MS : l->backoff_ms * 2;
}

static void publish_status(struct link *l, int online, int64_t depth)
{
    int64_t oldest = outbox_oldest_at(l->db), now = l->now_ms();
    struct presence p = {.online = online,
                         .version = l->cfg.version,
                         .store = l->cfg.store,
                         .terminal = l->cfg.terminal,
                         .outbox_depth = depth,
                         .oldest_unacked_age_ms = oldest > 0 ? now - oldest : 0,
                         .outbox_warning = depth > l->cfg.outbox_warn_events,
                         .at = now};
    char msg[PRESENCE_MSG_MAX];
    int n = presence_message(msg, sizeof(msg), &p);
    if (n < 0)
        return;
    int rc = mosquitto_publish(l->mosq, NULL, l->topic_status, n, msg, 1, true);
    if (rc != MOSQ_ERR_SUCCESS)
        log_warn("mqtt: status not published: %s (tried again in %d s)", mosquitto_strerror(rc),
                 LINK_STATUS_MS / 1000);
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
    /* Everything unacknowledged goes again, from the oldest. */
    window_reset(l->window);
    for (int i = 0; i < LINK_SUBSCRIPTIONS; i++) {
        int src = mosquitto_subscribe(l->mosq, &l->subs[i].mid, l->subs[i].topic, l->subs[i].qos);
        if (src != MOSQ_ERR_SUCCESS) {
            /* Without every subscription the session is of no use (acks would never arrive):
             * drop it; the disconnect schedules a new attempt. */
            log_error("mqtt: cannot subscribe to %s: %s; reconnecting", l->subs[i].topic,
                      mosquitto_strerror(src));
            mosquitto_disconnect(l->mosq);
            return;
        }
    }
    publish_status(l, 1, outbox_depth(l->db));
    /* What the broker could not keep while we were away comes over HTTP. */
    request_catchup(l);
    log_info("mqtt: connected to %s:%u", l->cfg.host, (unsigned)l->cfg.port);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int qos_count,
                         const int *granted_qos)
{
    struct link *l = obj;
    (void)m;
    for (int i = 0; i < LINK_SUBSCRIPTIONS; i++) {
        if (l->subs[i].mid != mid)
            continue;
        if (qos_count < 1 || granted_qos[0] < 0 || granted_qos[0] > 2)
            log_error("mqtt: the broker refused the subscription to %s (check its ACL)",
                      l->subs[i].topic);
        return;
    }
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    struct link *l = obj;
    (void)m;
    if (l->connected)
        log_warn("mqtt: connection lost (%s); sales continue offline",
                 rc == 0 ? "closed" : mosquitto_strerror(rc));
    l->connected = 0;
    l->disconnects++;
    schedule_reconnect(l);
}

/*
 * A batch another terminal of this store sent to HQ, heard on the (store-local) broker:
 * each event goes to the agent's peer handler, the whole batch in one savepoint. HQ stays
 * the record; this only closes the window until HQ's own messages arrive.
 */
static void peer_batch(struct link *l, const char *terminal, const char *payload, size_t len)
{
    cJSON *batch = json_parse_bounded(payload, len, NULL);
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(batch, "events");
    if (!cJSON_IsArray(events) || db_savepoint(l->db) != ML_OK) {
        cJSON_Delete(batch);
        return;
    }
    ml_err err = ML_OK;
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(e, "body");
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(e, "at");
        if (!cJSON_IsString(type) || !cJSON_IsObject(body))
            continue;
        err = l->h.peer_event(l->h.inbox.arg, terminal, type->valuestring, body,
                              cJSON_IsNumber(at) ? (int64_t)at->valuedouble : l->now_ms());
        if (err != ML_OK)
            break;
    }
    if (err != ML_OK || db_release(l->db) != ML_OK) {
        db_undo(l->db);
        log_error("peer %s: cannot record its events: %s", terminal, db_errmsg(l->db));
    }
    cJSON_Delete(batch);
}

static void on_ack(struct link *l, const void *payload, int len)
{
    if (len <= 0 || len > LINK_ACK_PAYLOAD_MAX) {
        log_warn("mqtt: ack of %d bytes ignored", len);
        return;
    }
    cJSON *ack = json_parse_bounded(payload, (size_t)len, NULL);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(ack, "acked");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ack, "v");
    if (!cJSON_IsArray(ids) || !cJSON_IsNumber(v) || v->valuedouble != 1) {
        log_warn("mqtt: malformed ack ignored");
        cJSON_Delete(ack);
        return;
    }
    int due = window_take_acks(l->window, ids);
    cJSON_Delete(ack);
    /* Recorded at the end of this wake-up, together with any other acks read in it. */
    if (window_pending_acks(l->window) > 0 && (l->ack_flush_at == 0 || due))
        l->ack_flush_at = clock_mono_ms();
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    struct link *l = obj;
    (void)m;
    /* Everything under the campaign topics goes to the inbox, which refuses (and reports) a
     * message whose topic is not a campaign's. */
    if (strcmp(msg->topic, l->topic_inbox) == 0 || strcmp(msg->topic, l->topic_time) == 0 ||
        strncmp(msg->topic, l->topic_campaigns, strlen(l->topic_campaigns) - 1) == 0) {
        if (msg->payloadlen > 0) /* an empty retained payload withdraws nothing unsigned */
            hq_message(l, msg->topic, msg->payload, (size_t)msg->payloadlen);
        return;
    }
    if (strcmp(msg->topic, l->topic_ack) == 0) {
        on_ack(l, msg->payload, msg->payloadlen);
        return;
    }
    char store[TOPIC_ID_MAX + 1], terminal[TOPIC_ID_MAX + 1];
    if (strcmp(msg->topic, l->topic_ev) != 0 &&
        topic_parse_events(msg->topic, l->cfg.brand, TOPIC_ID_MAX, store, terminal) == 0 &&
        strcmp(store, l->cfg.store) == 0 && msg->payloadlen > 0 &&
        msg->payloadlen <= LINK_PEER_BATCH_MAX)
        peer_batch(l, terminal, msg->payload, (size_t)msg->payloadlen);
}

static void flush_acks(struct link *l)
{
    l->ack_flush_at = 0;
    if (window_flush(l->window) != ML_OK) {
        log_error("outbox: cannot record %zu acks (%s); trying again",
                  window_pending_acks(l->window), db_errmsg(l->db));
        l->ack_flush_at = clock_mono_ms() + LINK_ACK_RETRY_MS;
    }
}

static int send_batch(void *arg, const char *payload, size_t len)
{
    struct link *l = arg;
    int rc = mosquitto_publish(l->mosq, NULL, l->topic_ev, (int)len, payload, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_warn("mqtt: publish failed: %s", mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

static void try_connect(struct link *l)
{
    int rc = l->ever_connected || l->disconnects > 0
                 ? mosquitto_reconnect_async(l->mosq)
                 : mosquitto_connect_async(l->mosq, l->cfg.host, l->cfg.port, l->cfg.keepalive);
    l->reconnect_at = 0;
    if (rc != MOSQ_ERR_SUCCESS) {
        log_debug("mqtt: connect to %s:%u: %s", l->cfg.host, (unsigned)l->cfg.port,
                  mosquitto_strerror(rc));
        l->disconnects++;
        schedule_reconnect(l);
    }
}

static int set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

ml_err link_start(const struct link_config *cfg, struct db *db, const struct sign_keyring *keys,
                  int64_t (*now_ms)(void), const struct link_handler *h, struct link **ret,
                  char *errbuf, size_t errlen)
{
    char client_id[160];
    mosquitto_lib_init();
    struct link *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        mosquitto_lib_cleanup();
        return ML_NOMEM;
    }
    l->cfg = *cfg;
    l->db = db;
    l->now_ms = now_ms;
    l->h = *h;
    l->site = (struct inbox_site){cfg->brand, cfg->store, cfg->terminal};
    l->backoff_ms = LINK_BACKOFF_MIN_MS;
    topic_terminal(l->topic_ev, sizeof(l->topic_ev), cfg->brand, cfg->store, cfg->terminal,
                   TOPIC_EV);
    topic_terminal(l->topic_ack, sizeof(l->topic_ack), cfg->brand, cfg->store, cfg->terminal,
                   TOPIC_ACK);
    topic_terminal(l->topic_status, sizeof(l->topic_status), cfg->brand, cfg->store, cfg->terminal,
                   TOPIC_STATUS);
    topic_inbox(l->topic_inbox, sizeof(l->topic_inbox), cfg->brand, cfg->store);
    topic_campaigns_filter(l->topic_campaigns, sizeof(l->topic_campaigns), cfg->brand);
    topic_time(l->topic_time, sizeof(l->topic_time), cfg->brand);
    topic_events_filter(l->topic_peers, sizeof(l->topic_peers), cfg->brand, cfg->store, NULL);
    const char *topics[LINK_SUBSCRIPTIONS] = {l->topic_ack, l->topic_inbox, l->topic_campaigns,
                                              l->topic_time, l->topic_peers};
    for (int i = 0; i < LINK_SUBSCRIPTIONS; i++) {
        l->subs[i].topic = topics[i];
        l->subs[i].qos = topics[i] == l->topic_time ? 0 : 1; /* a lost beacon has a successor */
        l->subs[i].mid = -1;
    }
    struct window_config wc = {.inflight = cfg->inflight,
                               .batch_events = cfg->batch_events,
                               .batch_bytes = cfg->batch_bytes,
                               .ack_timeout_ms = (int64_t)cfg->ack_timeout_s * 1000};
    ml_err err = window_new(db, &wc, now_ms, &l->window);
    if (err == ML_OK)
        err = inbox_new(db, keys, &l->site, now_ms, &l->h.inbox, &l->inbox);
    if (err == ML_OK && set(cfg->hq_url))
        err = catchup_new(cfg->hq_url, db, l->inbox, &l->site, &l->catchup);
    if (err != ML_OK) {
        snprintf(errbuf, errlen, "[mqtt] cannot set up the link: %s", ml_strerror(err));
        link_stop(l);
        return err;
    }
    if (keys == NULL || sign_keyring_count(keys) == 0)
        log_warn("hq: no [hq] pubkey configured: every message from HQ will be refused");
    if (set(cfg->client_id))
        snprintf(client_id, sizeof(client_id), "%s", cfg->client_id);
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
    mosquitto_subscribe_callback_set(l->mosq, on_subscribe);
    mosquitto_disconnect_callback_set(l->mosq, on_disconnect);
    mosquitto_message_callback_set(l->mosq, on_message);
    if (set(cfg->tls_ca) &&
        mosquitto_tls_set(l->mosq, cfg->tls_ca, NULL, set(cfg->tls_cert) ? cfg->tls_cert : NULL,
                          set(cfg->tls_key) ? cfg->tls_key : NULL, NULL) != MOSQ_ERR_SUCCESS) {
        snprintf(errbuf, errlen, "[mqtt] tls_ca/tls_cert/tls_key: cannot load");
        link_stop(l);
        return ML_CONFIG;
    }
    char will[PRESENCE_MSG_MAX];
    int n = presence_will(will, sizeof(will), cfg->version, cfg->store, cfg->terminal);
    if (n < 0 ||
        mosquitto_will_set(l->mosq, l->topic_status, n, will, 1, true) != MOSQ_ERR_SUCCESS) {
        snprintf(errbuf, errlen, "[mqtt] cannot set the offline will");
        link_stop(l);
        return ML_FAILURE;
    }
    try_connect(l);
    *ret = l;
    return ML_OK;
}

int link_catchup_fd(struct link *l)
{
    return catchup_fd(l->catchup);
}

void link_catchup_ready(struct link *l)
{
    catchup_ready(l->catchup);
}

const struct inbox_stats *link_inbox_stats(const struct link *l)
{
    return inbox_stats(l->inbox);
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
    int64_t now = clock_mono_ms(), next = now + LINK_MISC_MS;
    int64_t retry = catchup_retry_at(l->catchup);
    if (l->reconnect_at && l->reconnect_at < next)
        next = l->reconnect_at;
    if (retry && retry < next)
        next = retry;
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
    int64_t now = clock_mono_ms();
    if (l->reconnect_at && now >= l->reconnect_at)
        try_connect(l);
    catchup_tick(l->catchup, now);
    if (mosquitto_socket(l->mosq) >= 0 && now >= l->misc_at) {
        mosquitto_loop_misc(l->mosq);
        l->misc_at = now + LINK_MISC_MS;
    }
    if (l->ack_flush_at && now >= l->ack_flush_at)
        flush_acks(l);
    if (l->connected)
        window_fill(l->window, now, send_batch, l);
    /* Counting the outbox is a table scan: once a minute, for the status and the warning. */
    if (now >= l->depth_check_at) {
        int64_t depth = outbox_depth(l->db);
        l->depth_check_at = now + LINK_STATUS_MS;
        if (l->connected)
            publish_status(l, 1, depth);
        if (depth > l->cfg.outbox_warn_events &&
            (l->warned_at == 0 || now - l->warned_at >= LINK_WARN_REPEAT_MS)) {
            log_warn("outbox holds %lld events, past [agent] outbox_warn_events = %lld: HQ "
                     "has not acknowledged them; sales continue and nothing is dropped",
                     (long long)depth, (long long)l->cfg.outbox_warn_events);
            l->warned_at = now;
        }
    }
}

int link_connected(const struct link *l)
{
    return l != NULL && l->connected;
}

void link_stop(struct link *l)
{
    if (l == NULL)
        return;
    if (l->mosq != NULL) {
        if (l->connected) {
            flush_acks(l);
            publish_status(l, 0, outbox_depth(l->db));
            /* Give the offline status a moment to leave before the clean disconnect. */
            for (int i = 0; i < 10 && mosquitto_want_write(l->mosq); i++)
                mosquitto_loop_write(l->mosq, 1);
            mosquitto_disconnect(l->mosq);
        }
        mosquitto_destroy(l->mosq);
    }
    window_free(l->window);
    catchup_free(l->catchup);
    inbox_free(l->inbox);
    free(l);
    mosquitto_lib_cleanup();
}
