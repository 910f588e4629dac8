/*
 * bench/identify: how long a terminal takes to say who is at the checkout, with a million
 * members in its store: a member code (QR) checked and looked up, and a phone number looked
 * up, in-process and through the API.
 *
 *   1. Fill: a data dir as the integration harness makes it, the demo facts imported
 *      (guides, campaigns), then N members (BENCH_IDENTIFY_N, default 1000000; ids
 *      M0000001..) and a member coupon for every fourth one, written with one prepared
 *      INSERT each in one transaction, in a child process. Prints the time and the size.
 *   2. Keys: an Ed25519 HQ key made here, configured as [hq] pubkey; IDN_DEVICES P-256
 *      phone keys shared by the members. Codes are minted just before they are used, for
 *      random members, each proof with a fresh counter at the current time.
 *   3. The disk's floor: S/4 bare SQLite commits of one small row (WAL, synchronous=FULL)
 *      next to the store. In-process, on libml: qr_parse + qr_verify_issuer +
 *      qr_verify_proof + member_get; the whole identify() for a member code (which commits
 *      a replay-cache entry) and for a phone number.
 *   4. Through the API: memberlinkd on that data dir, POST /v1/identify {"qr": ..} and
 *      {"phone": ..} over one kept-alive connection.
 * Each series has S samples (BENCH_IDENTIFY_SAMPLES, default 20000). It prints p50/p99,
 * mean, max, throughput and peak RSS, then the goal of the issue (API p99 under 1 ms) as
 * "met"/"missed".
 *
 * A benchmark never fails on time: exit 0 whatever the figures, 1 only when something broke
 * (a request failed, the daemon did not start), 2 on a bad setting. Run from the repository
 * root (packaging/demo/facts.ndjson) with ML_BIN naming the build dir. ML_KEEP=1 keeps the
 * data dir.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tests/integration/harness.h"
#include "config.h"
#include "ctx.h"
#include "factfile.h"
#include "identify.h"
#include "member.h"
#include "phone.h"
#include "qr.h"
#include "sign.h"
#include "db.h"
#include "schema.h"

#define IDN_N_DEFAULT 1000000
#define IDN_N_MAX 9999999 /* ids are M + 7 digits */
#define IDN_SAMPLES_DEFAULT 20000
#define IDN_SAMPLES_MAX 1000000
#define IDN_DEVICES 256 /* P-256 phone keys, member i uses key i % IDN_DEVICES */
#define IDN_CHUNK 500   /* codes minted at a time, so every proof is seconds old when shown */
#define IDN_GOAL_P99_MS 1.0
#define IDN_FACTS "packaging/demo/facts.ndjson"
#define IDN_KID "bench"
#define IDN_FAR_MS INT64_C(2051222400000) /* 2035-01-01, as the demo facts */
#define IDN_VALID_FROM_MS INT64_C(1735689600000)
#define IDN_CRED_DAYS 30

/* One operation's input: the member it names and the text shown or typed. */
struct sample {
    uint32_t member;
    char text[QR_TEXT_MAX + 1]; /* a member code, or a phone number as typed */
};

/* Latencies of one operation, in seconds, and the time of the timed loops. */
struct series {
    double *lat;
    size_t n;
    double wall;
    long rss_kb; /* what the table prints as peak RSS; -1: none */
};

struct stats {
    double p50, p99, mean, max, ops;
};

struct bench {
    uint32_t n; /* members */
    uint64_t rng;
    uint32_t counter; /* the display proofs' counter, one up per code */
    EVP_PKEY *issuer;
    EVP_PKEY *device[IDN_DEVICES];
    struct config cfg;
    struct sign_keyring *keys;
    struct ml_ctx ctx; /* in-process phases */
    struct daemon *d;  /* API phases */
};

typedef int (*op_fn)(struct bench *b, const struct sample *s, double *ret_lat);

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* libml leaves the wall clock to the program (main.c defines clock_wall_ms for the daemon). */
static int64_t bench_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static uint32_t random_member(struct bench *b)
{
    return 1 + (uint32_t)(rng_next(&b->rng) % b->n);
}

static void member_id(uint32_t i, char out[16])
{
    snprintf(out, 16, "M%07u", (unsigned)i);
}

/*
 * Member i's number: 19, the last digit of i, then eight digits. k -> k * 7919 mod 10^8 is
 * a bijection (7919 is prime to 10), so numbers are unique; none is a demo member's (13x).
 */
static void member_phone(uint32_t i, char out[PHONE_DIGITS + 1])
{
    unsigned long long rest = (unsigned long long)(i / 10) * 7919u % 100000000u;
    snprintf(out, PHONE_DIGITS + 1, "19%u%08llu", (unsigned)(i % 10), rest);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least pct% of the n samples at or below it. */
static double percentile(const double *sorted, size_t n, size_t pct)
{
    size_t rank = (pct * n + 99) / 100;
    return sorted[(rank < 1 ? 1 : rank > n ? n : rank) - 1];
}

/* Sorts s->lat in place. */
static struct stats series_stats(struct series *s)
{
    struct stats db = {0};
    if (s->n == 0)
        return db;
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->lat[i];
    qsort(s->lat, s->n, sizeof(s->lat[0]), cmp_double);
    db.p50 = percentile(s->lat, s->n, 50) * 1e3;
    db.p99 = percentile(s->lat, s->n, 99) * 1e3;
    db.max = s->lat[s->n - 1] * 1e3;
    db.mean = sum / (double)s->n * 1e3;
    db.ops = s->wall > 0 ? (double)s->n / s->wall : 0;
    return db;
}

static long self_peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static void print_machine(void)
{
    struct utsname u;
    printf("machine: %ld CPUs online, kernel %s, SQLite %s\n", sysconf(_SC_NPROCESSORS_ONLN),
           uname(&u) == 0 ? u.release : "?", sqlite3_libversion());
}

/* The three load averages from /proc/loadavg, or "?". */
static void load_average(char *out, size_t len)
{
    char *text = harness_read_file("/proc/loadavg", NULL);
    double l1 = 0, l5 = 0, l15 = 0;
    if (text != NULL && sscanf(text, "%lf %lf %lf", &l1, &l5, &l15) == 3)
        snprintf(out, len, "%.2f %.2f %.2f", l1, l5, l15);
    else
        snprintf(out, len, "?");
    free(text);
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE;
}

/*
 * The disk's floor for a durable commit, next to the store: WAL + synchronous=FULL as the
 * store, one small row per transaction (as a replay-cache entry). 0 on success.
 */
static int bench_floor(const char *dir, struct series *s)
{
    char path[CONFIG_PATH_MAX + 32];
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    int result = -1;
    snprintf(path, sizeof(path), "%s/floor.db", dir);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                     "CREATE TABLE t (member TEXT, at INTEGER, counter INTEGER, "
                     " PRIMARY KEY (member, at, counter)) WITHOUT ROWID",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?1, ?2, ?3)", -1, &ins, NULL) != SQLITE_OK)
        goto out;
    double t0 = mono_s();
    for (size_t i = 0; i < s->n; i++) {
        char id[16];
        member_id((uint32_t)i + 1, id);
        double a = mono_s();
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 2, bench_wall_ms());
        sqlite3_bind_int64(ins, 3, (int64_t)i);
        if (!step_done(ins))
            goto out;
        s->lat[i] = mono_s() - a;
    }
    s->wall = mono_s() - t0;
    s->rss_kb = -1;
    result = 0;
out:
    if (result != 0)
        fprintf(stderr, "bench: disk floor: %s\n", db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_finalize(ins);
    sqlite3_close(db);
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char file[CONFIG_PATH_MAX + 48];
        snprintf(file, sizeof(file), "%s%s", path, suffix[i]);
        (void)unlink(file);
    }
    return result;
}

/*
 * Writes the members and their coupons into the store at `path`, after the demo facts, in
 * one transaction. Closing the last connection checkpoints the WAL into the database file
 * and removes it. 0 on success.
 */
static int fill_store(const struct config *cfg, const char *path, uint32_t n)
{
    static const char member_sql[] =
        "INSERT INTO members (member_id, phone_key, phone_masked, tier, plan, plan_until, "
        " points_confirmed, guide_id, guide_until, status, version) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'active', 1)";
    static const char coupon_sql[] =
        "INSERT INTO coupons (coupon_id, member_id, campaign_id, kind, value, min_spend, "
        " categories, valid_from, valid_to, uses_total, uses_left, offline_ok, version) "
        "VALUES (?1, ?2, 'welcome-coupons', 'amount_off', 2000, 10000, '[\"apparel\"]', ?3, ?4, "
        " 1, 1, 1, 1)";
    static const char *const tiers[] = {"gold",  "gold",  "silver", "silver", "silver",
                                        "basic", "basic", "basic",  "basic",  "basic"};
    struct db *db = NULL;
    char err[512];
    size_t applied = 0;
    int result = -1, began = 0;

    if (schema_open(path, &db, err, sizeof(err)) != ML_OK ||
        factfile_import(db, cfg->phone_key, IDN_FACTS, &applied, err, sizeof(err)) != ML_OK) {
        fprintf(stderr, "bench: fill: %s (run from the repository root)\n", err);
        goto out;
    }
    sqlite3 *raw = db_sqlite(db);
    /* 256 MB of page cache: the phone_key index takes its keys in random order. */
    if (sqlite3_exec(raw, "PRAGMA cache_size=-262144", NULL, NULL, NULL) != SQLITE_OK ||
        db_begin(db) != ML_OK)
        goto out;
    began = 1;
    sqlite3_stmt *m = db_stmt(db, member_sql), *c = db_stmt(db, coupon_sql);
    if (m == NULL || c == NULL)
        goto out;
    for (uint32_t i = 1; i <= n; i++) {
        char id[16], cid[16], phone[PHONE_DIGITS + 1], masked[PHONE_MASKED_LEN + 1];
        uint8_t key[PHONE_KEY_LEN];
        member_id(i, id);
        member_phone(i, phone);
        phone_key(cfg->phone_key, phone, key);
        phone_mask(phone, masked);
        sqlite3_bind_text(m, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(m, 2, key, sizeof(key), SQLITE_TRANSIENT);
        sqlite3_bind_text(m, 3, masked, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(m, 4, tiers[i % 10], -1, SQLITE_STATIC);
        if (i % 10 == 0) {
            sqlite3_bind_text(m, 5, "vip", -1, SQLITE_STATIC);
            sqlite3_bind_int64(m, 6, IDN_FAR_MS);
        }
        sqlite3_bind_int64(m, 7, (int64_t)(i * 37u % 5000u));
        if (i % 3 == 0) {
            sqlite3_bind_text(m, 8, i % 2 ? "G01" : "G02", -1, SQLITE_STATIC);
            sqlite3_bind_int64(m, 9, IDN_FAR_MS);
        }
        if (!step_done(m)) {
            fprintf(stderr, "bench: fill: member %s: %s\n", id, sqlite3_errmsg(raw));
            goto out;
        }
        sqlite3_clear_bindings(m);
        if (i % 4 != 0)
            continue;
        snprintf(cid, sizeof(cid), "C%07u", (unsigned)i);
        sqlite3_bind_text(c, 1, cid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(c, 2, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(c, 3, IDN_VALID_FROM_MS);
        sqlite3_bind_int64(c, 4, IDN_FAR_MS);
        if (!step_done(c)) {
            fprintf(stderr, "bench: fill: coupon %s: %s\n", cid, sqlite3_errmsg(raw));
            goto out;
        }
    }
    if (db_commit(db) != ML_OK)
        goto out;
    began = 0;
    result = 0;
out:
    if (began)
        db_rollback(db);
    db_close(db);
    return result;
}

/* Runs fill_store() in a child, so its page cache does not count in this process's RSS. */
static int fill(const struct config *cfg, const char *path, uint32_t n, double *ret_s,
                long *ret_rss_kb)
{
    double t0 = mono_s();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0)
        _exit(fill_store(cfg, path, n) == 0 ? 0 : 1);
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    *ret_s = mono_s() - t0;
    *ret_rss_kb = ru.ru_maxrss;
    return 0;
}

/* The HQ key and the phones' keys. 0 on success. */
static int make_keys(struct bench *b, char pub_b64[SIGN_PUB_B64_LEN + 1])
{
    if ((b->issuer = sign_key_generate()) == NULL ||
        sign_key_public_b64(b->issuer, pub_b64) != ML_OK) {
        fprintf(stderr, "bench: cannot make an Ed25519 key\n");
        return -1;
    }
    for (size_t i = 0; i < IDN_DEVICES; i++)
        if ((b->device[i] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
            fprintf(stderr, "bench: cannot make a P-256 key\n");
            return -1;
        }
    return 0;
}

/* A member code for a random member, its proof made now. 0 on success. */
static int mint(struct bench *b, struct sample *s)
{
    char id[16];
    struct qr_code c;
    uint32_t now_s = (uint32_t)(bench_wall_ms() / 1000);
    EVP_PKEY *device;
    s->member = random_member(b);
    device = b->device[s->member % IDN_DEVICES];
    member_id(s->member, id);
    if (qr_issue(QR_MEMBER, id, now_s + IDN_CRED_DAYS * 86400u, b->issuer, device, &c) != ML_OK ||
        qr_prove(&c, device, now_s, ++b->counter) != ML_OK ||
        qr_render(&c, s->text, sizeof(s->text)) != ML_OK) {
        fprintf(stderr, "bench: cannot mint a member code for %s\n", id);
        return -1;
    }
    return 0;
}

/* A random member's number as a shop assistant types it: "191 2345 6789". */
static void pick_phone(struct bench *b, struct sample *s)
{
    char digits[PHONE_DIGITS + 1];
    s->member = random_member(b);
    member_phone(s->member, digits);
    snprintf(s->text, sizeof(s->text), "%.3s %.4s %.4s", digits, digits + 3, digits + 7);
}

/*
 * Runs op on s->n samples, made IDN_CHUNK at a time just before they are used (member
 * codes when qr, else phone numbers); the time of making them is not counted. 0 on success.
 */
static int run_series(struct bench *b, int qr, op_fn op, struct series *s)
{
    static struct sample chunk[IDN_CHUNK];
    s->wall = 0;
    for (size_t done = 0; done < s->n;) {
        size_t k = s->n - done < IDN_CHUNK ? s->n - done : IDN_CHUNK;
        for (size_t j = 0; j < k; j++) {
            if (!qr)
                pick_phone(b, &chunk[j]);
            else if (mint(b, &chunk[j]) != 0)
                return -1;
        }
        double t0 = mono_s();
        for (size_t j = 0; j < k; j++)
            if (op(b, &chunk[j], &s->lat[done + j]) != 0)
                return -1;
        s->wall += mono_s() - t0;
        done += k;
    }
    return 0;
}

static int wrong_member(const char *what, const char *got, uint32_t want)
{
    char id[16];
    member_id(want, id);
    if (got != NULL && strcmp(got, id) == 0)
        return 0;
    fprintf(stderr, "bench: %s answered member %s, expected %s\n", what, got ? got : "(none)", id);
    return -1;
}

/* qr_parse + qr_verify_issuer + qr_verify_proof + member_get: the checks without writes. */
static int op_verify(struct bench *b, const struct sample *s, double *ret_lat)
{
    struct ml_refusal r = {0};
    struct qr_code c;
    struct member m;
    ml_err err;
    double t0 = mono_s();
    int64_t now_ms = b->ctx.now_ms();
    if ((err = qr_parse(s->text, strlen(s->text), &c, &r)) == ML_OK &&
        (err = qr_verify_issuer(&c, b->keys, now_ms / 1000, &r)) == ML_OK &&
        (err = qr_verify_proof(&c, now_ms / 1000, (int)b->cfg.qr_time_window_s, &r)) == ML_OK)
        err = member_get(b->ctx.db, c.id, now_ms, &m);
    *ret_lat = mono_s() - t0;
    if (err != ML_OK) {
        fprintf(stderr, "bench: in-process check: %s %s %s\n", ml_strerror(err),
                r.code ? r.code : "", r.message);
        return -1;
    }
    return wrong_member("member_get", m.member_id, s->member);
}

/* identify() on {"qr": ..} or {"phone": ..}; only the call is timed. */
static int op_identify(struct bench *b, const struct sample *s, const char *field, double *ret_lat)
{
    struct ml_refusal r = {0};
    cJSON *body = cJSON_CreateObject(), *out = NULL;
    int result = -1;
    if (body == NULL || cJSON_AddStringToObject(body, field, s->text) == NULL)
        goto out;
    double t0 = mono_s();
    ml_err err = identify(&b->ctx, body, &out, &r);
    *ret_lat = mono_s() - t0;
    if (err != ML_OK) {
        fprintf(stderr, "bench: identify(%s): %s %s %s\n", field, ml_strerror(err),
                r.code ? r.code : "", r.message);
        goto out;
    }
    result = wrong_member("identify()", json_str_at(out, "member_id"), s->member);
out:
    cJSON_Delete(out);
    cJSON_Delete(body);
    return result;
}

static int op_identify_qr(struct bench *b, const struct sample *s, double *ret_lat)
{
    return op_identify(b, s, "qr", ret_lat);
}

static int op_identify_phone(struct bench *b, const struct sample *s, double *ret_lat)
{
    return op_identify(b, s, "phone", ret_lat);
}

/* POST /v1/identify with {"<field>": text}; the round trip is timed, client included. */
static int op_api(struct bench *b, const struct sample *s, const char *field, double *ret_lat)
{
    char body[QR_TEXT_MAX + 32];
    struct http_resp r;
    /* Base45 and the typed numbers hold no character JSON would escape. */
    snprintf(body, sizeof(body), "{\"%s\":\"%s\"}", field, s->text);
    double t0 = mono_s();
    int rc = http_call(b->d, "POST", "/v1/identify", NULL, body, &r);
    *ret_lat = mono_s() - t0;
    if (rc != 0) {
        fprintf(stderr, "bench: POST /v1/identify: transport error (daemon log: %s)\n", b->d->log);
        return -1;
    }
    int result = -1;
    if (r.status != 200)
        fprintf(stderr, "bench: POST /v1/identify (%s): HTTP %ld %.300s\n", field, r.status,
                r.body ? r.body : "");
    else
        result = wrong_member("POST /v1/identify", json_str_at(r.json, "member_id"), s->member);
    http_resp_free(&r);
    return result;
}

static int op_api_qr(struct bench *b, const struct sample *s, double *ret_lat)
{
    return op_api(b, s, "qr", ret_lat);
}

static int op_api_phone(struct bench *b, const struct sample *s, double *ret_lat)
{
    return op_api(b, s, "phone", ret_lat);
}

/* Runs an in-process series; its RSS figure is the growth of this process's peak. */
static int run_inproc(struct bench *b, int qr, op_fn op, struct series *s)
{
    long before = self_peak_rss_kb();
    int rc = run_series(b, qr, op, s);
    s->rss_kb = self_peak_rss_kb() - before;
    return rc;
}

/* Runs an API series; its RSS figure is the daemon's VmHWM after it. */
static int run_api(struct bench *b, int qr, op_fn op, struct series *s)
{
    int rc = run_series(b, qr, op, s);
    s->rss_kb = proc_rss_kb(b->d->pid, 1);
    return rc;
}

static void print_row(const char *name, struct series *s, int inproc, struct stats *ret)
{
    char rss[64];
    *ret = series_stats(s);
    if (s->rss_kb < 0)
        snprintf(rss, sizeof(rss), "-");
    else if (inproc)
        snprintf(rss, sizeof(rss), "+%ld kB bench", s->rss_kb);
    else
        snprintf(rss, sizeof(rss), "%ld kB daemon VmHWM", s->rss_kb);
    printf("%-34s %8.3f %8.3f %8.3f %8.3f %8.0f   %s\n", name, ret->p50, ret->p99, ret->mean,
           ret->max, ret->ops, rss);
}

static const char *verdict(int met)
{
    return met ? "met" : "missed";
}

/* An integer setting from the environment in 1..max; 0 when unset, -1 when invalid. */
static int env_count(const char *name, long long max, long long dflt, long long *ret)
{
    const char *env = getenv(name);
    *ret = dflt;
    if (env == NULL || *env == '\0')
        return 0;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(env, &end, 10);
    if (errno != 0 || end == env || *end != '\0' || v < 1 || v > max) {
        fprintf(stderr, "bench: %s must be an integer 1..%lld\n", name, max);
        return -1;
    }
    *ret = v;
    return 0;
}

enum { S_FLOOR, S_VERIFY, S_IDENT_QR, S_IDENT_PHONE, S_API_QR, S_API_PHONE, S_COUNT };

int main(void)
{
    static struct bench b;
    static struct daemon d;
    struct series s[S_COUNT];
    long long n = 0, samples = 0;
    char pub[SIGN_PUB_B64_LEN + 1], extra[256], path[CONFIG_PATH_MAX + 32], err[512];
    char load_start[64], load_end[64];
    struct db *db = NULL;
    int rc = 1, have_daemon = 0;

    if (env_count("BENCH_IDENTIFY_N", IDN_N_MAX, IDN_N_DEFAULT, &n) != 0 ||
        env_count("BENCH_IDENTIFY_SAMPLES", IDN_SAMPLES_MAX, IDN_SAMPLES_DEFAULT, &samples) != 0)
        return 2;
    memset(s, 0, sizeof(s));
    for (size_t i = 0; i < S_COUNT; i++) {
        s[i].n = i == S_FLOOR && samples >= 4 ? (size_t)samples / 4 : (size_t)samples;
        if ((s[i].lat = calloc(s[i].n, sizeof(double))) == NULL) {
            fprintf(stderr, "bench: out of memory for %lld samples\n", samples);
            goto out;
        }
    }
    b.n = (uint32_t)n;
    b.rng = UINT64_C(0x9e3779b97f4a7c15);
    b.d = &d;

    load_average(load_start, sizeof(load_start));
    printf("memberlink bench/identify  members=%lld samples=%lld per series\n", n, samples);
    print_machine();
    fflush(stdout);

    if (make_keys(&b, pub) != 0)
        goto out;
    snprintf(extra, sizeof(extra), "[hq]\npubkey = %s=%s\n", IDN_KID, pub);
    if (daemon_setup(&d, extra) != 0) {
        fprintf(stderr, "bench: cannot make the data dir\n");
        goto out;
    }
    have_daemon = 1;
    config_defaults(&b.cfg);
    if (config_load(&b.cfg, d.conf, err, sizeof(err)) != ML_OK ||
        config_resolve_secrets(&b.cfg, 1, err, sizeof(err)) != ML_OK) {
        fprintf(stderr, "bench: %s\n", err);
        goto out;
    }
    if ((b.keys = sign_keyring_new()) == NULL)
        goto out;
    for (int i = 0; i < b.cfg.hq_npubkeys; i++)
        if (sign_keyring_add_spec(b.keys, b.cfg.hq_pubkeys[i]) != ML_OK) {
            fprintf(stderr, "bench: [hq] pubkey refused\n");
            goto out;
        }

    snprintf(path, sizeof(path), "%s/memberlink.db", b.cfg.data_dir);
    double fill_s = 0;
    long fill_rss = 0;
    if (fill(&b.cfg, path, b.n, &fill_s, &fill_rss) != 0) {
        fprintf(stderr, "bench: filling the store failed\n");
        goto out;
    }
    printf("fill: %u members, %u coupons in %.2f s (%.0f members/s, filler peak RSS %ld kB); "
           "database %.1f MB\n",
           (unsigned)b.n, (unsigned)(b.n / 4), fill_s, (double)b.n / fill_s, fill_rss,
           (double)file_size(path) / 1048576.0);
    fflush(stdout);

    if (schema_open(path, &db, err, sizeof(err)) != ML_OK) {
        fprintf(stderr, "bench: %s\n", err);
        goto out;
    }
    b.ctx = (struct ml_ctx){.db = db,
                            .cfg = &b.cfg,
                            .keys = b.keys,
                            .now_ms = bench_wall_ms,
                            .started_ms = bench_wall_ms()};
    if (bench_floor(b.cfg.data_dir, &s[S_FLOOR]) != 0 ||
        run_inproc(&b, 1, op_verify, &s[S_VERIFY]) != 0 ||
        run_inproc(&b, 1, op_identify_qr, &s[S_IDENT_QR]) != 0 ||
        run_inproc(&b, 0, op_identify_phone, &s[S_IDENT_PHONE]) != 0)
        goto out;
    db_close(db);
    db = NULL;

    if (daemon_start(&d) != 0) {
        fprintf(stderr, "bench: could not start memberlinkd (ML_BIN=%s; log %s)\n",
                harness_bin_dir(), d.log);
        goto out;
    }
    long idle_rss = proc_rss_kb(d.pid, 0);
    if (run_api(&b, 1, op_api_qr, &s[S_API_QR]) != 0 ||
        run_api(&b, 0, op_api_phone, &s[S_API_PHONE]) != 0)
        goto out;
    long end_rss = proc_rss_kb(d.pid, 0);
    load_average(load_end, sizeof(load_end));

    size_t over = 0;
    for (size_t i = 0; i < s[S_API_QR].n; i++)
        over += s[S_API_QR].lat[i] * 1e3 >= IDN_GOAL_P99_MS;
    struct stats st_[S_COUNT];
    printf("%-34s %8s %8s %8s %8s %8s   %s\n", "", "p50 ms", "p99 ms", "mean ms", "max ms", "ops/s",
           "peak RSS");
    print_row("bare sqlite FULL commit (floor)", &s[S_FLOOR], 1, &st_[S_FLOOR]);
    print_row("in-process QR check + member_get", &s[S_VERIFY], 1, &st_[S_VERIFY]);
    print_row("in-process identify() QR", &s[S_IDENT_QR], 1, &st_[S_IDENT_QR]);
    print_row("in-process identify() phone", &s[S_IDENT_PHONE], 1, &st_[S_IDENT_PHONE]);
    print_row("HTTP API identify QR", &s[S_API_QR], 0, &st_[S_API_QR]);
    print_row("HTTP API identify phone", &s[S_API_PHONE], 0, &st_[S_API_PHONE]);
    printf("daemon RSS: after start %ld kB, after the API series %ld kB\n", idle_rss, end_rss);
    printf("load average: %s at start, %s at end\n", load_start, load_end);
    printf("identify() QR p50 - check + member_get p50 = %.3f ms (deny-list, answer and the "
           "replay-cache entry, written without a flush; a durable commit here: p50 %.3f, "
           "p99 %.3f ms)\n",
           st_[S_IDENT_QR].p50 - st_[S_VERIFY].p50, st_[S_FLOOR].p50, st_[S_FLOOR].p99);
    printf("HTTP + client per request: API phone p50 - identify() phone p50 = %.3f ms\n",
           st_[S_API_PHONE].p50 - st_[S_IDENT_PHONE].p50);
    printf("API QR identify p99 = %.3f ms (goal < %.0f ms: %s; %.1f%% of requests took %.0f ms "
           "or more); API phone p99 = %.3f ms (%s)\n",
           st_[S_API_QR].p99, IDN_GOAL_P99_MS, verdict(st_[S_API_QR].p99 < IDN_GOAL_P99_MS),
           s[S_API_QR].n ? 100.0 * (double)over / (double)s[S_API_QR].n : 0.0, IDN_GOAL_P99_MS,
           st_[S_API_PHONE].p99, verdict(st_[S_API_PHONE].p99 < IDN_GOAL_P99_MS));
    rc = 0;
out:
    db_close(db);
    if (have_daemon && daemon_cleanup(&d) != 0)
        rc = 1;
    sign_keyring_free(b.keys);
    EVP_PKEY_free(b.issuer);
    for (size_t i = 0; i < IDN_DEVICES; i++)
        EVP_PKEY_free(b.device[i]);
    for (size_t i = 0; i < S_COUNT; i++)
        free(s[i].lat);
    return rc;
}
