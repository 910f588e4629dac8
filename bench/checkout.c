/*
 * bench/checkout: what a durable checkout commit costs, next to what the disk makes
 * any durable commit cost.
 *
 * Three measurements in one run, each N commits (BENCH_N, default 2000), all on the
 * filesystem of /tmp:
 *   1. bare SQLite: WAL + synchronous=FULL, BEGIN IMMEDIATE; INSERT one ~1 KB row; COMMIT.
 *      This is the floor: one fsync of the WAL per commit.
 *   2. in-process checkout commit: the same work as the API's do_mutation() (parse, idem
 *      lookup, checkout_run, print, idem_record, store_commit) called directly on libml.
 *   3. HTTP API commit: a real memberlinkd (tests/integration/harness) and N POST
 *      /v1/checkout over one kept-alive connection, then N/4 dry-run quotes.
 * It prints p50/p99/mean/max per operation, ops/s and peak RSS, then the goals
 * (API p99 within 2x of bare p99; daemon idle RSS under 8 MB) as "met"/"missed".
 *
 * A benchmark never fails on time: exit 0 whatever the figures, 1 only when something
 * broke (a request failed, a file could not be created). Run from the repository root
 * (the demo facts are packaging/demo/facts.ndjson) with ML_BIN naming the build dir;
 * `make bench` does both. ML_KEEP=1 keeps the temp dirs.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <linux/magic.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "checkout.h"
#include "config.h"
#include "ctx.h"
#include "factfile.h"
#include "../tests/integration/harness.h"
#include "idem.h"
#include "jsonutil.h"
#include "db.h"
#include "schema.h"

#define BENCH_N_DEFAULT 2000
#define BENCH_N_MAX 1000000
#define BENCH_ROW_BYTES 1024
#define BENCH_FACTS "packaging/demo/facts.ndjson"
#define BENCH_IDLE_RSS_GOAL_KB 8192L /* 8 MB */
#define BENCH_P99_RATIO_GOAL 2.0

/* A realistic sale: member M1001 (gold, vip, bound guide G01), three lines, no coupon, so
 * every commit succeeds and earns points and commission. */
#define BENCH_ITEMS                                                                                \
    "\"items\":["                                                                                  \
    "{\"sku\":\"JKT-1042-M\",\"category\":\"apparel\",\"qty\":1,\"unit_price\":59900},"            \
    "{\"sku\":\"SNK-2210-42\",\"category\":\"shoes\",\"qty\":1,\"unit_price\":45900},"             \
    "{\"sku\":\"SCK-0007\",\"category\":\"accessories\",\"qty\":2,\"unit_price\":3900}]"
static const char commit_body[] = "{\"member\":\"M1001\"," BENCH_ITEMS "}";
static const char quote_body[] = "{\"member\":\"M1001\",\"dry_run\":true," BENCH_ITEMS "}";

/* Latencies of one operation, in seconds, and the wall time of the whole loop. */
struct series {
    double *lat;
    size_t n;
    double wall;
};

struct stats {
    double p50, p99, mean, max, ops;
};

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

/*
 * Median of the first and of the last tenth of the samples, in ms, in run order: shows
 * whether an operation slows down as the database grows. Call before series_stats().
 */
static void series_drift(const struct series *s, double *ret_first, double *ret_last)
{
    size_t k = s->n / 10 > 0 ? s->n / 10 : 1;
    double *tmp = malloc(k * sizeof(double));
    *ret_first = *ret_last = 0;
    if (tmp == NULL)
        return;
    memcpy(tmp, s->lat, k * sizeof(double));
    qsort(tmp, k, sizeof(double), cmp_double);
    *ret_first = percentile(tmp, k, 50) * 1e3;
    memcpy(tmp, s->lat + (s->n - k), k * sizeof(double));
    qsort(tmp, k, sizeof(double), cmp_double);
    *ret_last = percentile(tmp, k, 50) * 1e3;
    free(tmp);
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

static void print_row(const char *name, const struct stats *db, const char *rss)
{
    printf("%-26s %8.3f %8.3f %8.3f %8.3f %8.0f   %s\n", name, db->p50, db->p99, db->mean, db->max,
           db->ops, rss);
}

static long self_peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* RssAnon/RssFile of a pid in kB (-1 when unreadable): most of an idle daemon's RSS is
 * shared-library pages, which the 8 MB goal counts but which cost little per process. */
static void proc_rss_split_kb(pid_t pid, long *ret_anon, long *ret_file)
{
    char path[64], line[256];
    *ret_anon = *ret_file = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "RssAnon:", 8) == 0)
            *ret_anon = strtol(line + 8, NULL, 10);
        else if (strncmp(line, "RssFile:", 8) == 0)
            *ret_file = strtol(line + 8, NULL, 10);
    }
    fclose(f);
}

static const char *fs_name(long type)
{
    switch (type) {
    case EXT4_SUPER_MAGIC: /* also ext2/ext3 */
        return "ext2/3/4";
    case TMPFS_MAGIC:
        return "tmpfs (no real fsync)";
    case XFS_SUPER_MAGIC:
        return "xfs";
    case BTRFS_SUPER_MAGIC:
        return "btrfs";
    case OVERLAYFS_SUPER_MAGIC:
        return "overlayfs";
    default:
        return "other";
    }
}

static void print_machine(void)
{
    struct utsname u;
    struct statfs sf;
    char fs[64] = "unknown";
    if (statfs("/tmp", &sf) == 0)
        snprintf(fs, sizeof(fs), "%s, magic 0x%lx", fs_name((long)sf.f_type),
                 (unsigned long)sf.f_type);
    printf("machine: %ld CPUs online, kernel %s, /tmp on %s, SQLite %s\n",
           sysconf(_SC_NPROCESSORS_ONLN), uname(&u) == 0 ? u.release : "?", fs,
           sqlite3_libversion());
}

/* Removes a temp dir made by this bench: its database files, then the dir. */
static void temp_dir_remove(const char *dir, const char *db)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char path[512];
    if (dir[0] == '\0' || getenv("ML_KEEP") != NULL)
        return;
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s%s", dir, db, suffix[i]);
        (void)unlink(path);
    }
    if (rmdir(dir) != 0)
        fprintf(stderr, "bench: could not remove %s: %s\n", dir, strerror(errno));
}

static int sql_ok(sqlite3 *db, int rc, int want, const char *what)
{
    if (rc == want)
        return 1;
    fprintf(stderr, "bench: bare sqlite %s: %s\n", what, sqlite3_errmsg(db));
    return 0;
}

/* 1. Bare SQLite commits of one ~1 KB row each. 0 on success. */
static int bench_bare(struct series *s)
{
    char dir[64] = "/tmp/memberlink-bench-XXXXXX", path[128];
    sqlite3 *db = NULL;
    sqlite3_stmt *begin = NULL, *ins = NULL, *commit = NULL;
    unsigned char row[BENCH_ROW_BYTES];
    int result = -1;

    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench: mkdtemp: %s\n", strerror(errno));
        dir[0] = '\0';
        goto out;
    }
    snprintf(path, sizeof(path), "%s/bare.db", dir);
    /* Varied bytes, so the row is as incompressible as a JSON document with ids in it. */
    for (size_t i = 0; i < sizeof(row); i++)
        row[i] = (unsigned char)((i * 131u + 7u) ^ (i >> 3));
    if (!sql_ok(db, sqlite3_open(path, &db), SQLITE_OK, "open") ||
        !sql_ok(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL), SQLITE_OK,
                "journal_mode") ||
        !sql_ok(db, sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL), SQLITE_OK,
                "synchronous") ||
        !sql_ok(db,
                sqlite3_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, at INTEGER, doc BLOB)",
                             NULL, NULL, NULL),
                SQLITE_OK, "create") ||
        !sql_ok(db, sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL), SQLITE_OK,
                "prepare") ||
        !sql_ok(db,
                sqlite3_prepare_v2(db, "INSERT INTO t (at, doc) VALUES (?1, ?2)", -1, &ins, NULL),
                SQLITE_OK, "prepare") ||
        !sql_ok(db, sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL), SQLITE_OK, "prepare"))
        goto out;

    double t0 = mono_s();
    for (size_t i = 0; i < s->n; i++) {
        double a = mono_s();
        if (!sql_ok(db, sqlite3_step(begin), SQLITE_DONE, "BEGIN"))
            goto out;
        sqlite3_reset(begin);
        sqlite3_bind_int64(ins, 1, bench_wall_ms());
        sqlite3_bind_blob(ins, 2, row, (int)sizeof(row), SQLITE_STATIC);
        if (!sql_ok(db, sqlite3_step(ins), SQLITE_DONE, "INSERT"))
            goto out;
        sqlite3_reset(ins);
        if (!sql_ok(db, sqlite3_step(commit), SQLITE_DONE, "COMMIT"))
            goto out;
        sqlite3_reset(commit);
        s->lat[i] = mono_s() - a;
    }
    s->wall = mono_s() - t0;
    result = 0;
out:
    sqlite3_finalize(begin);
    sqlite3_finalize(ins);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    temp_dir_remove(dir, "bare.db");
    return result;
}

/*
 * One checkout commit as api.c's do_mutation() does it, minus HTTP. 0 on success; on a
 * refusal or a storage error prints why and returns -1.
 */
static int inproc_commit(struct ml_ctx *ctx, const char *key)
{
    static const char path[] = "/v1/checkout";
    size_t len = sizeof(commit_body) - 1;
    struct ml_refusal r = {0};
    struct checkout_req *req = NULL;
    cJSON *body = NULL, *sale = NULL;
    char *text = NULL, *stored = NULL;
    uint8_t hash[IDEM_HASH_LEN];
    int status = 0, result = -1;

    if ((body = json_parse_bounded(commit_body, len, &r)) == NULL ||
        checkout_parse(body, ctx->cfg->terminal, &req, &r) != ML_OK)
        goto out;
    idem_fingerprint("POST", path, commit_body, len, hash);
    if (db_begin(ctx->db) != ML_OK)
        goto out;
    if (idem_lookup(ctx->db, key, hash, &status, &stored, &r) != ML_NOENTRY) {
        snprintf(r.message, sizeof(r.message), "idempotency key %s already used", key);
        goto out;
    }
    if (checkout_run(ctx, req, &sale, &r) != ML_OK || (text = json_print(sale)) == NULL ||
        idem_record(ctx->db, key, hash, 200, text, ctx->now_ms()) != ML_OK ||
        db_commit(ctx->db) != ML_OK)
        goto out;
    result = 0;
out:
    if (result != 0) {
        db_rollback(ctx->db);
        fprintf(stderr, "bench: in-process commit %s failed: %s %s\n", key,
                r.code ? r.code : "storage_error", r.message);
    }
    free(stored);
    free(text);
    cJSON_Delete(sale);
    cJSON_Delete(body);
    checkout_req_free(req);
    return result;
}

/* 2. In-process commits on a fresh database seeded with the demo facts. */
static int bench_inproc(struct series *s, long *ret_rss_before, long *ret_rss_after)
{
    static struct config cfg;
    char dir[64] = "/tmp/memberlink-bench-XXXXXX", path[128], err[512], key[64];
    struct db *db = NULL;
    size_t applied = 0;
    int result = -1;

    *ret_rss_before = self_peak_rss_kb();
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench: mkdtemp: %s\n", strerror(errno));
        dir[0] = '\0';
        goto out;
    }
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
    for (size_t i = 0; i < sizeof(cfg.phone_key); i++)
        cfg.phone_key[i] = (uint8_t)(0x5a ^ i);
    cfg.has_phone_key = 1;
    snprintf(path, sizeof(path), "%s/memberlink.db", dir);
    if (schema_open(path, &db, err, sizeof(err)) != ML_OK ||
        factfile_import(db, cfg.phone_key, BENCH_FACTS, &applied, err, sizeof(err)) != ML_OK) {
        fprintf(stderr, "bench: in-process setup: %s (run from the repository root)\n", err);
        goto out;
    }
    struct ml_ctx ctx = {.db = db, .cfg = &cfg, .metrics = NULL, .now_ms = bench_wall_ms};
    ctx.started_ms = bench_wall_ms();

    double t0 = mono_s();
    for (size_t i = 0; i < s->n; i++) {
        snprintf(key, sizeof(key), "bench-inproc-%ld-%zu", (long)getpid(), i);
        double a = mono_s();
        if (inproc_commit(&ctx, key) != 0)
            goto out;
        s->lat[i] = mono_s() - a;
    }
    s->wall = mono_s() - t0;
    result = 0;
out:
    *ret_rss_after = self_peak_rss_kb();
    db_close(db);
    temp_dir_remove(dir, "memberlink.db");
    return result;
}

/* Calls the API once and checks for 200; prints the answer when it is anything else. */
static int api_ok(const struct daemon *d, const char *idem_key, const char *body)
{
    struct http_resp r;
    if (http_call(d, "POST", "/v1/checkout", idem_key, body, &r) != 0) {
        fprintf(stderr, "bench: POST /v1/checkout: transport error (daemon log: %s)\n", d->log);
        return -1;
    }
    int ok = r.status == 200;
    if (!ok)
        fprintf(stderr, "bench: POST /v1/checkout: HTTP %ld %.300s\n", r.status,
                r.body ? r.body : "");
    http_resp_free(&r);
    return ok ? 0 : -1;
}

struct api_figures {
    long idle_rss, idle_hwm, idle_anon, idle_file, commit_hwm, commit_rss, quote_hwm;
};

/* 3. Commits and then quotes through a real memberlinkd. */
static int bench_api(struct series *commits, struct series *quotes, struct api_figures *f)
{
    struct daemon d;
    char key[64];
    int result = -1;

    if (daemon_setup(&d, NULL) != 0 || daemon_import(&d, BENCH_FACTS) != 0 ||
        daemon_start(&d) != 0) {
        fprintf(stderr, "bench: could not start memberlinkd (ML_BIN=%s; log %s)\n",
                getenv("ML_BIN") ? getenv("ML_BIN") : "./build", d.log);
        goto out;
    }
    /* Only daemon_start's readiness GET /v1/status has been served so far. */
    f->idle_rss = proc_rss_kb(d.pid, 0);
    f->idle_hwm = proc_rss_kb(d.pid, 1);
    proc_rss_split_kb(d.pid, &f->idle_anon, &f->idle_file);

    double t0 = mono_s();
    for (size_t i = 0; i < commits->n; i++) {
        snprintf(key, sizeof(key), "bench-api-%ld-%zu", (long)getpid(), i);
        double a = mono_s();
        if (api_ok(&d, key, commit_body) != 0)
            goto out;
        commits->lat[i] = mono_s() - a;
    }
    commits->wall = mono_s() - t0;
    f->commit_hwm = proc_rss_kb(d.pid, 1);
    f->commit_rss = proc_rss_kb(d.pid, 0);

    t0 = mono_s();
    for (size_t i = 0; i < quotes->n; i++) {
        double a = mono_s();
        if (api_ok(&d, NULL, quote_body) != 0)
            goto out;
        quotes->lat[i] = mono_s() - a;
    }
    quotes->wall = mono_s() - t0;
    f->quote_hwm = proc_rss_kb(d.pid, 1);
    result = 0;
out:
    daemon_cleanup(&d);
    return result;
}

static const char *verdict(int met)
{
    return met ? "met" : "missed";
}

int main(void)
{
    long long n = BENCH_N_DEFAULT;
    const char *env = getenv("BENCH_N");
    if (env != NULL && *env != '\0') {
        char *end = NULL;
        errno = 0;
        n = strtoll(env, &end, 10);
        if (errno != 0 || end == env || *end != '\0' || n < 1 || n > BENCH_N_MAX) {
            fprintf(stderr, "bench: BENCH_N must be an integer 1..%d\n", BENCH_N_MAX);
            return 2;
        }
    }
    size_t nq = (size_t)n / 4 > 0 ? (size_t)n / 4 : 1;
    struct series bare = {.n = (size_t)n}, inproc = {.n = (size_t)n}, api = {.n = (size_t)n},
                  quote = {.n = nq};
    struct api_figures f = {-1, -1, -1, -1, -1, -1, -1};
    long inproc_before = -1, inproc_after = -1;
    int rc = 1;

    bare.lat = calloc(bare.n, sizeof(double));
    inproc.lat = calloc(inproc.n, sizeof(double));
    api.lat = calloc(api.n, sizeof(double));
    quote.lat = calloc(quote.n, sizeof(double));
    if (bare.lat == NULL || inproc.lat == NULL || api.lat == NULL || quote.lat == NULL) {
        fprintf(stderr, "bench: out of memory for %lld samples\n", n);
        goto out;
    }

    printf("memberlink bench/checkout  N=%lld (quotes: %zu)\n", n, nq);
    print_machine();
    fflush(stdout);
    if (bench_bare(&bare) != 0 || bench_inproc(&inproc, &inproc_before, &inproc_after) != 0 ||
        bench_api(&api, &quote, &f) != 0)
        goto out;

    double drift[3][2];
    series_drift(&bare, &drift[0][0], &drift[0][1]);
    series_drift(&inproc, &drift[1][0], &drift[1][1]);
    series_drift(&api, &drift[2][0], &drift[2][1]);
    struct stats sb = series_stats(&bare), si = series_stats(&inproc), sa = series_stats(&api),
                 sq = series_stats(&quote);
    char rss_in[64], rss_api[64], rss_q[64];
    snprintf(rss_in, sizeof(rss_in), "+%ld kB bench (%ld -> %ld)", inproc_after - inproc_before,
             inproc_before, inproc_after);
    snprintf(rss_api, sizeof(rss_api), "%ld kB daemon VmHWM", f.commit_hwm);
    snprintf(rss_q, sizeof(rss_q), "%ld kB daemon VmHWM", f.quote_hwm);

    printf("%-26s %8s %8s %8s %8s %8s   %s\n", "", "p50 ms", "p99 ms", "mean ms", "max ms", "ops/s",
           "peak RSS");
    print_row("bare sqlite FULL commit", &sb, "-");
    print_row("in-process commit", &si, rss_in);
    print_row("HTTP API commit", &sa, rss_api);
    print_row("HTTP API quote (dry run)", &sq, rss_q);
    printf("daemon RSS: idle %ld kB (anon %ld, file-backed %ld; VmHWM %ld), after commits %ld kB\n",
           f.idle_rss, f.idle_anon, f.idle_file, f.idle_hwm, f.commit_rss);
    printf("p50 of first -> last 10%% of commits: bare %.3f -> %.3f, in-process %.3f -> %.3f, "
           "API %.3f -> %.3f ms\n",
           drift[0][0], drift[0][1], drift[1][0], drift[1][1], drift[2][0], drift[2][1]);
    printf(
        "in-process p99 / bare p99 = %.2fx; API p50 - in-process p50 = %.3f ms (HTTP + client)\n",
        sb.p99 > 0 ? si.p99 / sb.p99 : 0.0, sa.p50 - si.p50);
    double ratio = sb.p99 > 0 ? sa.p99 / sb.p99 : 0.0;
    printf("API p99 / bare p99 = %.2fx (goal <= %.0fx: %s)\n", ratio, BENCH_P99_RATIO_GOAL,
           verdict(ratio <= BENCH_P99_RATIO_GOAL));
    printf("daemon idle RSS = %ld kB (goal < %ld kB: %s)\n", f.idle_rss, BENCH_IDLE_RSS_GOAL_KB,
           verdict(f.idle_rss >= 0 && f.idle_rss < BENCH_IDLE_RSS_GOAL_KB));
    rc = 0;
out:
    free(bare.lat);
    free(inproc.lat);
    free(api.lat);
    free(quote.lat);
    return rc;
}
