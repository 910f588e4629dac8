/*
 * bench/drain: how fast a terminal empties a big outbox once the broker is back, next to
 * a bare libmosquitto QoS 1 publisher sending the same events one per message.
 *
 *   1. Fill the outbox of a stopped terminal with N events (BENCH_DRAIN_N, default
 *      100000) through outbox_append(), in one transaction (as days offline would).
 *   2. Start memberlinkd with the broker down, then start the broker and memberlink-hq
 *      serve (which stores every event durably before acknowledging it); time from the
 *      broker being up to an empty outbox. Report events/s, CPU seconds and peak RSS.
 *      The same again with a bare acker in place of HQ, for the transport's own ceiling.
 *   3. Against the same broker, a bare publisher sends the same N event texts, one per
 *      QoS 1 message, and waits for every PUBACK. Report events/s.
 * The goal of the issue: drain rate >= 1.0x the bare publisher. Prints figures; exit 0
 * whatever they are, 1 only when something broke.
 */
#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tests/integration/harness.h"
#include "outbox.h"
#include "db.h"
#include "schema.h"

#include "sale_body.h"

#define DRAIN_N_DEFAULT 100000
#define DRAIN_N_MAX 2000000
#define EV_TOPIC "ml/demo/s/S001/T01/ev"
#define ACK_TOPIC "ml/demo/s/S001/T01/ack"
#define BARE_TOPIC "ml/demo/s/S001/T99/ev"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CPU seconds (user + system) a process has used so far. */
static double proc_cpu_s(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, db = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &db) != 2)
        return -1;
    return (double)(ut + db) / (double)sysconf(_SC_CLK_TCK);
}

static int fill_outbox(const char *dir, long n)
{
    char path[400], err[256];
    struct db *db = NULL;
    snprintf(path, sizeof(path), "%s/memberlink.db", dir);
    if (schema_open(path, &db, err, sizeof(err)) != ML_OK) {
        fprintf(stderr, "drain: %s\n", err);
        return -1;
    }
    int rc = db_begin(db) == ML_OK ? 0 : -1;
    char text[sizeof(SALE_BODY_FMT) + 16];
    for (long i = 0; rc == 0 && i < n; i++) {
        snprintf(text, sizeof(text), SALE_BODY_FMT, i + 1);
        cJSON *body = cJSON_CreateRaw(text);
        if (outbox_append(db, "S001", "T01", wall_ms(), "sale.completed", body) != ML_OK)
            rc = -1;
    }
    if (rc == 0 && db_commit(db) != ML_OK)
        rc = -1;
    db_close(db);
    return rc;
}

/* The HQ side: acknowledges every event it receives. */
struct acker {
    struct mosquitto *mosq;
    long received;
};

static void acker_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    struct acker *a = obj;
    cJSON *batch = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen);
    cJSON *ack = cJSON_CreateObject();
    cJSON_AddNumberToObject(ack, "v", 1);
    cJSON *ids = cJSON_AddArrayToObject(ack, "acked");
    const cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(batch, "events"))
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
        if (cJSON_IsString(id)) {
            cJSON_AddItemToArray(ids, cJSON_CreateString(id->valuestring));
            a->received++;
        }
    }
    char *text = cJSON_PrintUnformatted(ack);
    mosquitto_publish(m, NULL, ACK_TOPIC, (int)strlen(text), text, 1, false);
    free(text);
    cJSON_Delete(ack);
    cJSON_Delete(batch);
}

static void acker_on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)obj;
    if (rc == 0)
        mosquitto_subscribe(m, NULL, EV_TOPIC, 1);
}

/* The bare publisher: N events, one per QoS 1 message; done when every PUBACK is in. */
struct bare {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long acked;
};

static void bare_on_publish(struct mosquitto *m, void *obj, int mid)
{
    struct bare *b = obj;
    (void)m;
    (void)mid;
    pthread_mutex_lock(&b->mu);
    b->acked++;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static double bare_publisher(uint16_t port, long n, const char *event)
{
    struct bare b = {.acked = 0};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    struct mosquitto *m = mosquitto_new("bench-bare", true, &b);
    mosquitto_publish_callback_set(m, bare_on_publish);
    if (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS)
        return -1;
    double t0 = mono_s();
    size_t len = strlen(event);
    for (long i = 0; i < n; i++) {
        if (mosquitto_publish(m, NULL, BARE_TOPIC, (int)len, event, 1, false) != MOSQ_ERR_SUCCESS)
            return -1;
    }
    pthread_mutex_lock(&b.mu);
    while (b.acked < n) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 60;
        if (pthread_cond_timedwait(&b.cv, &b.mu, &until) != 0)
            break;
    }
    long done = b.acked;
    pthread_mutex_unlock(&b.mu);
    double secs = mono_s() - t0;
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, true);
    mosquitto_destroy(m);
    return done == n ? secs : -1;
}

struct drain_run {
    double fill_s, drain_s, agent_cpu_s, hq_cpu_s;
    long agent_hwm_kb;
};

/* Starts `memberlink-hq serve` against the broker in its own temp dir. */
static pid_t hq_start(const char *dir, uint16_t port)
{
    char conf[400], exe[400];
    snprintf(conf, sizeof(conf), "%s/hq.conf", dir);
    FILE *f = fopen(conf, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "[hq]\nbrand = demo\ndata_dir = %s\n[mqtt]\nhost = 127.0.0.1\nport = %u\n", dir,
            (unsigned)port);
    fclose(f);
    const char *bin = getenv("ML_BIN");
    snprintf(exe, sizeof(exe), "%s/memberlink-hq", bin && *bin ? bin : "./build");
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, 2);
        execl(exe, exe, "-c", conf, "serve", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/*
 * One drain: a terminal offline with n events in its outbox; the broker comes up with HQ
 * (the reference HQ, storing each event durably before its ack, or with use_hq = 0 a bare
 * acker that only acknowledges); time until the outbox is empty.
 */
static int drain_once(struct broker *b, long n, int use_hq, struct drain_run *ret)
{
    struct daemon d;
    char extra[160], hqdir[64] = "";
    struct acker a = {0};
    pid_t hq = -1;
    int result = -1;
    memset(ret, 0, sizeof(*ret));
    broker_stop(b); /* the terminal was offline */
    snprintf(extra, sizeof(extra), "[mqtt]\nhost = 127.0.0.1\nport = %u\n", (unsigned)b->port);
    if (daemon_setup(&d, extra) != 0 || daemon_import(&d, "packaging/demo/facts.ndjson") != 0)
        goto out;
    double t = mono_s();
    if (fill_outbox(d.dir, n) != 0)
        goto out;
    ret->fill_s = mono_s() - t;
    if (daemon_start(&d) != 0)
        goto out;
    double cpu0 = proc_cpu_s(d.pid);
    if (broker_start(b) != 0)
        goto out;
    double t0 = mono_s();
    if (use_hq) {
        snprintf(hqdir, sizeof(hqdir), "/tmp/memberlink-bench-hq-XXXXXX");
        if (mkdtemp(hqdir) == NULL || (hq = hq_start(hqdir, b->port)) < 0)
            goto out;
    } else {
        a.mosq = mosquitto_new("bench-hq", true, &a);
        mosquitto_connect_callback_set(a.mosq, acker_on_connect);
        mosquitto_message_callback_set(a.mosq, acker_on_message);
        if (mosquitto_connect(a.mosq, "127.0.0.1", b->port, 30) != MOSQ_ERR_SUCCESS ||
            mosquitto_loop_start(a.mosq) != MOSQ_ERR_SUCCESS)
            goto out;
    }
    /* Poll the outbox four times a second: each status call counts the outbox, and the
     * bench should measure the drain, not its own polling. */
    int empty = 0;
    for (int i = 0; i < 2400 && !empty; i++) {
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
        empty = wait_status_num(&d, "outbox.depth", 0, 0) == 0;
    }
    if (!empty) {
        fprintf(stderr, "drain: outbox did not empty within 10 minutes\n");
        goto out;
    }
    ret->drain_s = mono_s() - t0;
    ret->agent_cpu_s = proc_cpu_s(d.pid) - cpu0;
    ret->agent_hwm_kb = proc_rss_kb(d.pid, 1);
    if (hq > 0)
        ret->hq_cpu_s = proc_cpu_s(hq);
    result = 0;
out:
    if (a.mosq != NULL) {
        mosquitto_disconnect(a.mosq);
        mosquitto_loop_stop(a.mosq, true);
        mosquitto_destroy(a.mosq);
    }
    if (hq > 0) {
        kill(hq, SIGTERM);
        waitpid(hq, NULL, 0);
    }
    if (hqdir[0] != '\0' && getenv("ML_KEEP") == NULL) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", hqdir);
        if (system(cmd) != 0)
            fprintf(stderr, "drain: cannot remove %s\n", hqdir);
    }
    daemon_cleanup(&d);
    return result;
}

int main(void)
{
    long n = DRAIN_N_DEFAULT;
    const char *env = getenv("BENCH_DRAIN_N");
    if (env != NULL) {
        char *end = NULL;
        n = strtol(env, &end, 10);
        if (end == env || *end != '\0' || n < 1 || n > DRAIN_N_MAX) {
            fprintf(stderr, "drain: BENCH_DRAIN_N must be 1..%d\n", DRAIN_N_MAX);
            return 2;
        }
    }
    mosquitto_lib_init();
    struct broker b = {0};
    struct drain_run hq_run, ack_run;
    int result = 1;
    if (broker_start(&b) != 0 || drain_once(&b, n, 1, &hq_run) != 0 ||
        drain_once(&b, n, 0, &ack_run) != 0)
        goto out;

    /* The same event text the outbox holds, one per message. */
    char event[2048];
    snprintf(
        event, sizeof(event),
        "{\"id\":\"01936f4e-8c1a-7b3e-9f00-1c2d3e4f5a6b\",\"seq\":1,\"type\":\"sale.completed\","
        "\"store\":\"S001\",\"terminal\":\"T01\",\"hlc\":\"1795555627370-0\",\"at\":1795555627370,"
        "\"body\":" SALE_BODY_FMT "}",
        1L);
    double bare_s = bare_publisher(b.port, n, event);
    if (bare_s <= 0)
        goto out;

    printf(
        "memberlink bench/drain  N=%ld events (%zu bytes each); times from the broker coming up\n",
        n, strlen(event));
    printf("  (outbox filled offline in %.2f s)\n", hq_run.fill_s);
    printf("  drain to memberlink-hq (durable ingest + ack): %7.2f s %9.0f events/s  agent CPU "
           "%.2f s, peak RSS %ld kB; HQ CPU %.2f s\n",
           hq_run.drain_s, (double)n / hq_run.drain_s, hq_run.agent_cpu_s, hq_run.agent_hwm_kb,
           hq_run.hq_cpu_s);
    printf("  drain to a bare acker (ack only)            : %7.2f s %9.0f events/s  agent CPU "
           "%.2f s, peak RSS %ld kB\n",
           ack_run.drain_s, (double)n / ack_run.drain_s, ack_run.agent_cpu_s, ack_run.agent_hwm_kb);
    printf("  bare QoS 1 publisher, 1 event per message   : %7.2f s %9.0f events/s\n", bare_s,
           (double)n / bare_s);
    printf("  drain rate (to memberlink-hq) / bare rate = %.2fx (goal >= 1.0x: %s)\n",
           bare_s / hq_run.drain_s, bare_s / hq_run.drain_s >= 1.0 ? "met" : "missed");
    result = 0;
out:
    broker_cleanup(&b);
    return result;
}
