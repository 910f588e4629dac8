/*
 * bench/hq_ingest: memberlink-hq's ingest in one process, without a broker: how many store
 * events a second it checks, stores durably (SQLite WAL, synchronous=FULL) and
 * acknowledges, and the CPU it spends per event. This is the HQ half of bench/drain,
 * isolated, so a change to the ingest can be measured without the noise of a broker.
 *
 *   batches of 200 sale.completed events (~1.1 KB each, bench/sale_body.h), each batch
 *   handled by hq_ingest_message(); one run commits every batch on its own, one run
 *   commits bursts of 8 batches as `serve` does (hq_ingest_group_begin/commit)
 *
 * BENCH_HQ_N sets the number of events (default 100000). Prints, never fails on time.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hq_ingest.h"
#include "hq_store.h"
#include "sale_body.h"
#include "uuid.h"

#define HQ_BENCH_N_DEFAULT 100000
#define HQ_BENCH_BATCH 200
#define HQ_BENCH_BURST 8

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* One batch payload of `count` events from seq `first`, as a terminal's link sends it. */
static char *make_batch(long first, int count, int64_t at)
{
    size_t cap = (size_t)count * 1400 + 256, len = 0;
    char *buf = malloc(cap), id[UUID_TEXT_LEN + 1];
    if (buf == NULL)
        return NULL;
    uuid_v7(at, id);
    len += (size_t)snprintf(buf + len, cap - len, "{\"v\":1,\"batch\":\"%s\",\"events\":[", id);
    for (int i = 0; i < count; i++) {
        long seq = first + i;
        uuid_v7(at, id);
        len += (size_t)snprintf(buf + len, cap - len,
                                "%s{\"id\":\"%s\",\"seq\":%ld,\"type\":\"sale.completed\","
                                "\"store\":\"S001\",\"terminal\":\"T01\",\"hlc\":\"%lld-0\","
                                "\"at\":%lld,\"body\":" SALE_BODY_FMT "}",
                                i ? "," : "", id, seq, (long long)at, (long long)at, seq);
    }
    snprintf(buf + len, cap - len, "]}");
    return buf;
}

struct run {
    double wall_s, cpu_s;
};

static int run_once(const char *dir, long n, int burst, struct run *ret)
{
    char path[300], err[256];
    snprintf(path, sizeof(path), "%s/hq-%d.db", dir, burst);
    struct hq_store *st = NULL;
    struct hq_ingest *in = NULL;
    if (hq_store_open(path, HQ_STORE_READWRITE, &st, err, sizeof(err)) != ML_OK ||
        hq_ingest_new(st, "demo", &in) != ML_OK) {
        fprintf(stderr, "hq_ingest: %s\n", err);
        hq_store_close(st);
        return -1;
    }
    long nbatches = (n + HQ_BENCH_BATCH - 1) / HQ_BENCH_BATCH;
    char **batches = calloc((size_t)nbatches, sizeof(*batches));
    int64_t at = (int64_t)time(NULL) * 1000;
    int rc = batches ? 0 : -1;
    for (long b = 0; rc == 0 && b < nbatches; b++) {
        long first = b * HQ_BENCH_BATCH + 1;
        int count = (int)(n - first + 1 < HQ_BENCH_BATCH ? n - first + 1 : HQ_BENCH_BATCH);
        if ((batches[b] = make_batch(first, count, at)) == NULL)
            rc = -1;
    }
    double w0 = mono_s(), c0 = cpu_s();
    for (long b = 0; rc == 0 && b < nbatches; b++) {
        if (burst > 1 && b % burst == 0 && hq_ingest_group_begin(in) != ML_OK)
            rc = -1;
        struct hq_ack ack;
        if (rc == 0 && hq_ingest_message(in, "ml/demo/s/S001/T01/ev", batches[b],
                                         strlen(batches[b]), at, &ack) != ML_OK)
            rc = -1;
        if (rc == 0)
            free(ack.payload);
        if (rc == 0 && burst > 1 && (b % burst == burst - 1 || b == nbatches - 1) &&
            hq_ingest_group_commit(in) != ML_OK)
            rc = -1;
    }
    ret->wall_s = mono_s() - w0;
    ret->cpu_s = cpu_s() - c0;
    if (rc == 0 && hq_ingest_stats(in)->events_new != (uint64_t)n) {
        fprintf(stderr, "hq_ingest: %llu of %ld events stored\n",
                (unsigned long long)hq_ingest_stats(in)->events_new, n);
        rc = -1;
    }
    for (long b = 0; batches && b < nbatches; b++)
        free(batches[b]);
    free(batches);
    hq_ingest_free(in);
    hq_store_close(st);
    return rc;
}

int main(void)
{
    const char *env = getenv("BENCH_HQ_N");
    long n = env ? strtol(env, NULL, 10) : HQ_BENCH_N_DEFAULT;
    if (n < 1 || n > 2000000) {
        fprintf(stderr, "hq_ingest: BENCH_HQ_N must be 1..2000000\n");
        return 2;
    }
    char dir[] = "/tmp/memberlink-bench-hq-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    struct run one, grouped;
    int rc =
        run_once(dir, n, 1, &one) == 0 && run_once(dir, n, HQ_BENCH_BURST, &grouped) == 0 ? 0 : 1;
    if (rc == 0) {
        printf("memberlink bench/hq_ingest  N=%ld sale.completed events, batches of %d\n", n,
               HQ_BENCH_BATCH);
        printf(
            "  one commit per batch      : %6.2f s %9.0f events/s  CPU %5.2f s = %5.1f us/event\n",
            one.wall_s, (double)n / one.wall_s, one.cpu_s, one.cpu_s * 1e6 / (double)n);
        printf(
            "  one commit per %d batches  : %6.2f s %9.0f events/s  CPU %5.2f s = %5.1f us/event\n",
            HQ_BENCH_BURST, grouped.wall_s, (double)n / grouped.wall_s, grouped.cpu_s,
            grouped.cpu_s * 1e6 / (double)n);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("  peak RSS %ld kB\n", ru.ru_maxrss);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
