/*
 * hq_serve: `memberlink-hq serve`; see hq_serve.h.
 *
 * One thread: a poll() loop drives libmosquitto with mosquitto_loop_read/write/misc, so the
 * MQTT callbacks, and with them every SQLite call of the ingest, run on this thread.
 * SIGTERM/SIGINT arrive through a signalfd and end the loop cleanly. Batches read in one
 * burst share one commit, flushed by the syncer (hq_walsync.h) while the next burst is read;
 * their acks and settlement messages wait in a hq_wait list until that flush is done.
 */
#include "hq_serve.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "clock.h"
#include "hq_cli.h"
#include "hq_http.h"
#include "hq_ingest.h"
#include "hq_key.h"
#include "log.h"
#include "hq_outgoing.h"
#include "hq_push.h"
#include "hq_settle.h"
#include "hq_store.h"
#include "hq_wait.h"
#include "hq_walsync.h"
#include "topic.h"

#define HQ_BACKOFF_MIN_MS 1000
#define HQ_BACKOFF_MAX_MS 30000
#define HQ_JITTER_PCT 20          /* each reconnect delay is +-20 % */
#define HQ_STATS_EVERY_MS 300000  /* ingest counters are logged this often when they moved */
#define HQ_FLUSH_MS 2000          /* at exit, time given to send queued acks */
#define HQ_CLEAR_EVERY_MS 3600000 /* expired retained campaign messages are cleared this often */

/* serve reads while the wait list has room for HQ_GROUP_MAX more entries (hq_wait.h). */
_Static_assert(HQ_GROUP_MAX <= HQ_WAIT_MAX, "an empty wait list lets serve read");

struct serve {
    const struct hq_config *cfg;
    struct mosquitto *mosq;
    struct hq_ingest *in;
    char sub[TOPIC_MAX];
    int connected; /* socket open: CONNECT sent, maybe CONNACKed */
    int stopping;
    int64_t backoff_ms; /* next reconnect delay before jitter */
    int64_t retry_at;   /* monotonic ms of the next connect attempt */
    uint64_t rng;       /* xorshift64 state for the jitter */
    struct hq_store *st;
    struct hq_settle *settle;
    EVP_PKEY *key; /* NULL without a signing key: no time beacon, no settlement notices */
    char kid[SIGN_KID_MAX + 1];
    int64_t beacon_at; /* monotonic ms of the next time beacon */
    int64_t clear_at;  /* monotonic ms of the next clearing of expired campaign messages */
    int grouping;      /* inside read_burst(): acks wait for the group commit */
    struct hq_ack *acks;
    size_t nacks, acks_cap;
    /* Committed, waiting for their WAL flush (hq_walsync.h) before they are published. */
    struct hq_walsync *walsync; /* NULL: commits are flushed in place (synchronous=FULL) */
    struct hq_wait *waiting;
    uint64_t last_gen;
};

static uint64_t next_random(struct serve *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

/* Plans the next connect attempt: backoff +-20 %, then doubles the backoff up to 30 s. */
static void schedule_retry(struct serve *s, const char *why_in)
{
    char why[160];
    snprintf(why, sizeof(why), "%s", why_in);
    size_t n = strlen(why);
    if (n > 0 && why[n - 1] == '.') /* mosquitto_strerror() ends with one */
        why[n - 1] = '\0';
    int64_t span = s->backoff_ms * HQ_JITTER_PCT / 100;
    int64_t delay = s->backoff_ms - span + (int64_t)(next_random(s) % (uint64_t)(2 * span + 1));
    s->retry_at = clock_mono_ms() + delay;
    log_warn("mqtt %s:%u: %s; reconnecting in %" PRId64 ".%01" PRId64 " s", s->cfg->mqtt_host,
             (unsigned)s->cfg->mqtt_port, why, delay / 1000, delay % 1000 / 100);
    s->backoff_ms = s->backoff_ms * 2 > HQ_BACKOFF_MAX_MS ? HQ_BACKOFF_MAX_MS : s->backoff_ms * 2;
}

static void clear_retained(void *arg, const char *topic)
{
    struct serve *s = arg;
    /* An empty retained message removes the broker's copy; stores ignore it (unsigned). */
    if (mosquitto_publish(s->mosq, NULL, topic, 0, NULL, 1, true) == MOSQ_ERR_SUCCESS)
        log_debug("mqtt: expired campaign message cleared from %s", topic);
}

/* Campaign messages that have expired stay retained at the broker until HQ clears them:
 * every store connecting would otherwise receive and refuse them. */
static void clear_expired_campaigns(struct serve *s)
{
    if (hq_outgoing_expired_campaigns(s->st, clock_wall_ms(), clear_retained, s) != ML_OK)
        log_warn("cannot list expired campaigns: %s", hq_store_errmsg(s->st));
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags)
{
    struct serve *s = obj;
    if (rc != 0) {
        /* libmosquitto closes the socket and reports it through on_disconnect. */
        log_error("mqtt %s:%u: broker refused the connection: %s", s->cfg->mqtt_host,
                  (unsigned)s->cfg->mqtt_port, mosquitto_connack_string(rc));
        return;
    }
    s->backoff_ms = HQ_BACKOFF_MIN_MS;
    log_info("mqtt %s:%u: connected as %s (%s session)", s->cfg->mqtt_host,
             (unsigned)s->cfg->mqtt_port, s->cfg->mqtt_client_id, flags & 1 ? "resumed" : "new");
    /* Subscribe on every CONNACK: a broker may have lost the session. */
    int src = mosquitto_subscribe(mosq, NULL, s->sub, 1);
    if (src != MOSQ_ERR_SUCCESS)
        log_error("mqtt: cannot subscribe to %s: %s", s->sub, mosquitto_strerror(src));
    clear_expired_campaigns(s);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count,
                         const int *granted_qos)
{
    (void)mosq;
    (void)mid;
    struct serve *s = obj;
    if (qos_count < 1 || granted_qos[0] < 0 || granted_qos[0] > 2)
        log_error("mqtt: the broker refused the subscription to %s (check its ACL); no events "
                  "will arrive",
                  s->sub);
    else
        log_info("mqtt: subscribed to %s (qos %d)", s->sub, granted_qos[0]);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    struct serve *s = obj;
    if (!s->connected)
        return;
    s->connected = 0;
    if (s->stopping)
        return;
    schedule_retry(s, rc == 0 ? "disconnected" : mosquitto_strerror(rc));
}

static void publish_one(void *arg, const struct hq_wait_item *d)
{
    struct serve *s = arg;
    int rc = mosquitto_publish(s->mosq, NULL, d->topic, (int)d->len, d->payload, 1, false);
    if (rc != MOSQ_ERR_SUCCESS)
        log_warn("mqtt: %s on %s not sent now: %s (%s)", d->id[0] ? "message" : "ack", d->topic,
                 mosquitto_strerror(rc),
                 d->id[0] ? "the store catches up" : "the store will resend");
    else if (d->id[0])
        (void)hq_outgoing_mark_published(s->st, d->id, clock_wall_ms());
}

/* Publishes what waited for generations up to `done`, in commit order. A settlement message
 * that does not reach the broker still reaches its store: the store sees a cursor gap and
 * catches up over HTTP. */
static void publish_durable(struct serve *s, uint64_t done)
{
    hq_wait_release(s->waiting, done, publish_one, s);
}

/*
 * After a commit: its acks and settlement messages wait for the WAL flush (or, without a
 * syncer, are published at once: the commit flushed in place). If `durable` is 0 the
 * commit failed and they are dropped: the stores resend. Every ack of a commit is queued,
 * however many the burst brought; settlement messages only while the wait list is under
 * HQ_WAIT_MAX (hq_wait.h).
 */
static void after_commit(struct serve *s, struct hq_ack *acks, size_t nacks, int durable)
{
    size_t n = s->settle ? hq_settle_count(s->settle) : 0, not_queued = 0, acks_dropped = 0;
    uint64_t gen = durable && s->walsync ? hq_walsync_request(s->walsync) : 0;
    for (size_t i = 0; durable && i < n; i++) {
        const struct hq_push_msg *m = hq_settle_msg(s->settle, i);
        if (m->skipped)
            continue;
        char *copy = hq_wait_room(s->waiting) > 0 ? strdup(m->text) : NULL;
        /* Not queued: it is stored, and the store catches up over HTTP. */
        if (copy == NULL ||
            hq_wait_add_msg(s->waiting, gen, m->topic, copy, m->len, m->id) != ML_OK)
            not_queued++;
    }
    if (s->settle != NULL)
        hq_settle_clear(s->settle); /* the next commit's messages get a fresh `issued` */
    for (size_t i = 0; i < nacks; i++) {
        /* Not queued (out of memory only): not acked, and the store resends. */
        if (!durable)
            free(acks[i].payload);
        else if (hq_wait_add_ack(s->waiting, gen, acks[i].topic, acks[i].payload, acks[i].len) !=
                 ML_OK)
            acks_dropped++;
        acks[i].payload = NULL;
    }
    if (not_queued > 0)
        log_warn("%zu settlement message(s) not published now (stored: the stores catch up): "
                 "the wait list for the WAL flush is full (%zu of %d)",
                 not_queued, hq_wait_count(s->waiting), HQ_WAIT_MAX);
    if (acks_dropped > 0)
        log_warn("%zu ack(s) not sent (the stores resend): out of memory", acks_dropped);
    if (gen > s->last_gen)
        s->last_gen = gen;
    if (s->walsync == NULL)
        publish_durable(s, 0);
}

/* Publishes a fresh signed hq.time, the terminals' trusted clock. QoS 0: a lost beacon is
 * replaced by the next one. */
static void send_time_beacon(struct serve *s)
{
    struct hq_push_msg m;
    if (s->key == NULL ||
        hq_push_time_beacon(s->cfg->brand, s->key, s->kid, clock_wall_ms(), &m) != ML_OK)
        return;
    (void)mosquitto_publish(s->mosq, NULL, m.topic, (int)m.len, m.text, 0, false);
    free(m.text);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    (void)mosq;
    struct serve *s = obj;
    struct hq_ack ack;
    if (msg->payloadlen < 0)
        return;
    if (hq_ingest_message(s->in, msg->topic, msg->payload, (size_t)msg->payloadlen, clock_wall_ms(),
                          &ack) != ML_OK ||
        ack.payload == NULL)
        return;
    if (!s->grouping) {
        /* Committed on its own: acknowledged once flushed. If an ack is lost, the store
         * resends and the duplicates are acknowledged again. */
        after_commit(s, &ack, 1, 1);
        return;
    }
    if (s->nacks == s->acks_cap) {
        size_t cap = s->acks_cap ? s->acks_cap * 2 : HQ_GROUP_MAX;
        struct hq_ack *grown = realloc(s->acks, cap * sizeof(*grown));
        if (grown == NULL) {
            free(ack.payload); /* not acked: the store resends */
            return;
        }
        s->acks = grown;
        s->acks_cap = cap;
    }
    s->acks[s->nacks++] = ack;
}

/*
 * Reads what the broker has sent, in up to HQ_GROUP_MAX reads (libmosquitto may hand over
 * several messages in one), as one group commit: one flush for the burst, done by the
 * syncer while the next burst is read. Only once it is durable are the acks published; if
 * the commit fails none is, and the stores resend.
 */
static int read_burst(struct serve *s)
{
    int rc = MOSQ_ERR_SUCCESS;
    s->grouping = hq_ingest_group_begin(s->in) == ML_OK;
    for (int i = 0; i < HQ_GROUP_MAX; i++) {
        rc = mosquitto_loop_read(s->mosq, 1);
        int sock = mosquitto_socket(s->mosq);
        if (rc != MOSQ_ERR_SUCCESS || sock < 0)
            break;
        struct pollfd p = {.fd = sock, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
            break;
    }
    int committed = s->grouping && hq_ingest_group_commit(s->in) == ML_OK;
    s->grouping = 0;
    after_commit(s, s->acks, s->nacks, committed);
    s->nacks = 0;
    return rc;
}

static void try_connect(struct serve *s)
{
    const struct hq_config *cfg = s->cfg;
    /* Blocking connect (DNS + TCP + CONNECT); CONNACK arrives through the loop. */
    int rc = mosquitto_connect(s->mosq, cfg->mqtt_host, cfg->mqtt_port, cfg->mqtt_keepalive);
    if (rc == MOSQ_ERR_SUCCESS) {
        s->connected = 1;
        return;
    }
    char why[160];
    snprintf(why, sizeof(why), "cannot connect: %s",
             rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    schedule_retry(s, why);
}

/* After a read/write/misc step: a closed socket without on_disconnect still means lost. */
static void check_socket(struct serve *s, int rc)
{
    if (s->connected && mosquitto_socket(s->mosq) < 0) {
        s->connected = 0;
        schedule_retry(s, rc == MOSQ_ERR_SUCCESS ? "connection closed" : mosquitto_strerror(rc));
    }
}

/* Sends what libmosquitto has queued (acks), for at most HQ_FLUSH_MS. */
static void flush_queued(struct serve *s)
{
    int64_t until = clock_mono_ms() + HQ_FLUSH_MS;
    while (s->connected && mosquitto_want_write(s->mosq) && mosquitto_socket(s->mosq) >= 0) {
        int64_t left = until - clock_mono_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = mosquitto_socket(s->mosq), .events = POLLOUT};
        if (poll(&p, 1, (int)left) <= 0 || mosquitto_loop_write(s->mosq, 1) != MOSQ_ERR_SUCCESS)
            break;
    }
}

static void log_stats(const struct hq_ingest *in)
{
    const struct hq_ingest_stats *st = hq_ingest_stats(in);
    log_info("ingest: %" PRIu64 " batches stored (%" PRIu64 " new events, %" PRIu64
             " duplicates acked again, %" PRIu64 " events rejected), %" PRIu64
             " batches dropped, %" PRIu64 " failed",
             st->batches, st->events_new, st->events_duplicate, st->events_rejected,
             st->batches_dropped, st->batches_failed);
}

/* The main loop; returns when a signal arrives or on a fatal error. */
static int serve_loop(struct serve *s, int sfd)
{
    int64_t next_stats = clock_mono_ms() + HQ_STATS_EVERY_MS;
    uint64_t stats_seen = 0;
    for (;;) {
        int64_t now = clock_mono_ms();
        if (!s->connected && now >= s->retry_at) {
            try_connect(s);
            now = clock_mono_ms();
        }
        struct pollfd pfd[3] = {
            {.fd = sfd, .events = POLLIN},
            {.fd = -1},
            {.fd = s->walsync ? hq_walsync_fd(s->walsync) : -1, .events = POLLIN}};
        int sock = s->connected ? mosquitto_socket(s->mosq) : -1;
        /* Backpressure: no new input while the wait list has less room than a burst of
         * HQ_GROUP_MAX reads; the syncer's next flush makes room (hq_wait.h). */
        int reading = hq_wait_room(s->waiting) >= HQ_GROUP_MAX;
        if (sock >= 0) {
            pfd[1].fd = sock;
            pfd[1].events =
                (short)((reading ? POLLIN : 0) | (mosquitto_want_write(s->mosq) ? POLLOUT : 0));
        }
        /* Idle, wake only for keepalive work: a quarter of the keepalive keeps pings on time
         * well within the broker's 1.5 x keepalive grace. */
        int64_t timeout = (int64_t)s->cfg->mqtt_keepalive * 250;
        if (s->connected && s->key != NULL && s->beacon_at - now < timeout)
            timeout = s->beacon_at - now < 0 ? 0 : s->beacon_at - now;
        if (!s->connected && s->retry_at - now < timeout)
            timeout = s->retry_at - now < 0 ? 0 : s->retry_at - now;
        if (poll(pfd, 3, (int)timeout) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            return HQ_EXIT_RUNTIME;
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                log_info("%s: shutting down", strsignal((int)si.ssi_signo));
            return HQ_EXIT_OK;
        }
        if (pfd[2].revents & POLLIN) {
            int failed = 0;
            uint64_t done = hq_walsync_done(s->walsync, &failed);
            if (failed)
                return HQ_EXIT_RUNTIME; /* logged by the syncer; nothing more is acked */
            publish_durable(s, done);
        }
        if (sock >= 0 && s->connected) {
            int rc = MOSQ_ERR_SUCCESS;
            /* A connection that is closing is read even then: what it still holds goes in
             * (its acks are queued past the limit), and the loss is noticed. */
            if ((reading && (pfd[1].revents & POLLIN)) || (pfd[1].revents & (POLLHUP | POLLERR)))
                rc = read_burst(s);
            check_socket(s, rc);
            if (s->connected && (pfd[1].revents & POLLOUT))
                check_socket(s, mosquitto_loop_write(s->mosq, 1));
            if (s->connected)
                check_socket(s, mosquitto_loop_misc(s->mosq));
        }
        if (s->connected && s->key != NULL && now >= s->beacon_at) {
            send_time_beacon(s);
            s->beacon_at = now + (int64_t)s->cfg->time_beacon_s * 1000;
        }
        if (s->connected && now >= s->clear_at) {
            clear_expired_campaigns(s);
            s->clear_at = now + HQ_CLEAR_EVERY_MS;
        }
        const struct hq_ingest_stats *st = hq_ingest_stats(s->in);
        uint64_t moved = st->batches + st->batches_dropped + st->batches_failed;
        if (now >= next_stats) {
            if (moved != stats_seen)
                log_stats(s->in);
            stats_seen = moved;
            next_stats = now + HQ_STATS_EVERY_MS;
        }
    }
}

int hq_serve(const struct hq_config *cfg)
{
    int result = HQ_EXIT_RUNTIME, sfd = -1, lock_fd = -1, lib_init = 0;
    struct hq_store *st = NULL;
    struct hq_http *http = NULL;
    struct serve s = {.cfg = cfg, .backoff_ms = HQ_BACKOFF_MIN_MS};
    char path[HQ_CONFIG_PATH_MAX + 32], errbuf[512];

    /* Signals are taken from a signalfd in the loop, never by a handler. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
        (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        log_error("signalfd: %s", strerror(errno));
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);

    if (hq_make_dirs(cfg->data_dir) != 0) {
        log_error("%s: cannot create data_dir: %s", cfg->data_dir, strerror(errno));
        goto out;
    }
    snprintf(path, sizeof(path), "%s/hq.lock", cfg->data_dir);
    lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        log_error("%s: %s", path,
                  errno == EWOULDBLOCK ? "another memberlink-hq serve uses this data_dir"
                                       : strerror(errno));
        goto out;
    }
    snprintf(path, sizeof(path), "%s/hq.db", cfg->data_dir);
    ml_err err = hq_store_open(path, HQ_STORE_READWRITE, &st, errbuf, sizeof(errbuf));
    if (err != ML_OK) {
        log_error("%s", errbuf);
        result = err == ML_CONFIG ? HQ_EXIT_USAGE : HQ_EXIT_RUNTIME;
        goto out;
    }
    if (hq_ingest_new(st, cfg->brand, &s.in) != ML_OK || hq_wait_new(&s.waiting) != ML_OK) {
        log_error("out of memory");
        goto out;
    }
    topic_events_filter(s.sub, sizeof(s.sub), cfg->brand, NULL, cfg->share_group);
    s.st = st;
    if (hq_key_load(cfg->data_dir, &s.key, s.kid, errbuf, sizeof(errbuf)) != ML_OK) {
        s.key = NULL;
        log_warn("no signing key (%s): no time beacon for the stores' clocks, and coupon "
                 "conflicts are booked without settlement notices",
                 errbuf);
    }
    if (hq_settle_new(cfg, s.key, s.kid, &s.settle) != ML_OK) {
        log_error("out of memory");
        goto out;
    }
    hq_ingest_set_settle(s.in, s.settle);
    /* Commits flushed by the syncer (hq_walsync.h); without it, each commit flushes itself. */
    if (hq_walsync_start(path, &s.walsync) != ML_OK || hq_store_set_synchronous(st, 0) != ML_OK) {
        hq_walsync_stop(s.walsync);
        s.walsync = NULL;
        log_warn("no WAL syncer: every commit waits for its own flush");
    }
    if (cfg->http_port != 0) {
        /* After hq_store_open: the database exists at the current schema version. */
        err = hq_http_start(cfg, path, &http, errbuf, sizeof(errbuf));
        if (err != ML_OK) {
            log_error("%s", errbuf);
            result = err == ML_CONFIG ? HQ_EXIT_USAGE : HQ_EXIT_RUNTIME;
            goto out;
        }
        log_info("http: catch-up on http://%s:%u/v1/stores/<store>/changes", cfg->http_host,
                 (unsigned)cfg->http_port);
    }

    if (getrandom(&s.rng, sizeof(s.rng), GRND_NONBLOCK) != (ssize_t)sizeof(s.rng))
        s.rng = (uint64_t)clock_wall_ms() ^ ((uint64_t)getpid() << 32);
    if (s.rng == 0)
        s.rng = 0x9e3779b97f4a7c15u;

    mosquitto_lib_init();
    lib_init = 1;
    /* clean_session = false: the broker keeps our subscription and queues QoS 1 batches
     * while HQ is down, under this fixed client id. */
    s.mosq = mosquitto_new(cfg->mqtt_client_id, false, &s);
    if (s.mosq == NULL) {
        log_error("mqtt: cannot create a client: %s", strerror(errno));
        goto out;
    }
    mosquitto_connect_with_flags_callback_set(s.mosq, on_connect);
    mosquitto_subscribe_callback_set(s.mosq, on_subscribe);
    mosquitto_disconnect_callback_set(s.mosq, on_disconnect);
    mosquitto_message_callback_set(s.mosq, on_message);

    log_info("serving brand %s from %s (database %s), subscription %s", cfg->brand, cfg->data_dir,
             path, s.sub);
    result = serve_loop(&s, sfd);

    s.stopping = 1;
    /* What is committed gets its flush; what is flushed gets acknowledged before leaving. */
    if (result == HQ_EXIT_OK && s.walsync != NULL && hq_walsync_wait(s.walsync, s.last_gen) == 0)
        publish_durable(&s, s.last_gen);
    if (s.connected) {
        flush_queued(&s);
        mosquitto_disconnect(s.mosq);
    }
    log_stats(s.in);
out:
    hq_walsync_stop(s.walsync);
    hq_wait_free(s.waiting);
    hq_http_stop(http);
    mosquitto_destroy(s.mosq);
    free(s.acks);
    if (lib_init)
        mosquitto_lib_cleanup();
    hq_ingest_free(s.in);
    hq_settle_free(s.settle);
    EVP_PKEY_free(s.key);
    hq_store_close(st);
    if (lock_fd >= 0)
        close(lock_fd);
    if (sfd >= 0)
        close(sfd);
    return result;
}
