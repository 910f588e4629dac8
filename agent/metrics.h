/*
 * metrics: in-memory counters and a latency histogram, rendered in the Prometheus text
 * format by GET /metrics. Error codes are the API's stable codes, a fixed small set.
 */
#ifndef ML_METRICS_H
#define ML_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_CODES_MAX 48
#define METRICS_BUCKETS 12

struct metrics {
    uint64_t checkouts, quotes, refunds, identifies, requests;
    struct {
        const char *code; /* static */
        uint64_t count;
    } errors[METRICS_CODES_MAX];
    size_t nerrors;
    uint64_t buckets[METRICS_BUCKETS]; /* cumulative counts are built when rendering */
    uint64_t latency_count;
    double latency_sum;
};

void metrics_error(struct metrics *m, const char *code);
void metrics_latency(struct metrics *m, double seconds);

/* Values sampled by the caller when rendering. */
struct metrics_gauges {
    int64_t outbox_depth, oldest_age_ms;
    int outbox_warning;  /* depth past [agent] outbox_warn_events */
    int connected;       /* MQTT session with HQ up */
    int64_t hq_rejected; /* signed HQ messages refused since start */
};

/* Renders into a malloc'd string (caller frees). */
char *metrics_render(const struct metrics *m, const struct metrics_gauges *g);

#endif
