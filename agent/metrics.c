/* metrics: counters and histogram in Prometheus text format. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bounds[METRICS_BUCKETS] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                               0.05,   0.1,   0.25,  0.5,   1.0,  2.5};

void metrics_error(struct metrics *m, const char *code)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nerrors; i++) {
        if (strcmp(m->errors[i].code, code) == 0) {
            m->errors[i].count++;
            return;
        }
    }
    if (m->nerrors < METRICS_CODES_MAX) {
        m->errors[m->nerrors].code = code;
        m->errors[m->nerrors].count = 1;
        m->nerrors++;
    }
}

void metrics_latency(struct metrics *m, double seconds)
{
    if (m == NULL)
        return;
    m->latency_count++;
    m->latency_sum += seconds;
    for (size_t i = 0; i < METRICS_BUCKETS; i++) {
        if (seconds <= bounds[i]) {
            m->buckets[i]++;
            break;
        }
    }
}

char *metrics_render(const struct metrics *m, const struct metrics_gauges *g)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    fprintf(f,
            "# HELP memberlink_checkouts_total Sales committed.\n"
            "# TYPE memberlink_checkouts_total counter\n"
            "memberlink_checkouts_total %llu\n",
            (unsigned long long)m->checkouts);
    fprintf(f,
            "# HELP memberlink_quotes_total Dry-run checkouts priced.\n"
            "# TYPE memberlink_quotes_total counter\n"
            "memberlink_quotes_total %llu\n",
            (unsigned long long)m->quotes);
    fprintf(f,
            "# HELP memberlink_refunds_total Refunds committed.\n"
            "# TYPE memberlink_refunds_total counter\n"
            "memberlink_refunds_total %llu\n",
            (unsigned long long)m->refunds);
    fprintf(f,
            "# HELP memberlink_identifies_total Members identified.\n"
            "# TYPE memberlink_identifies_total counter\n"
            "memberlink_identifies_total %llu\n",
            (unsigned long long)m->identifies);
    fprintf(f, "# HELP memberlink_errors_total API error answers by error code.\n"
               "# TYPE memberlink_errors_total counter\n");
    for (size_t i = 0; i < m->nerrors; i++)
        fprintf(f, "memberlink_errors_total{code=\"%s\"} %llu\n", m->errors[i].code,
                (unsigned long long)m->errors[i].count);
    fprintf(f,
            "# HELP memberlink_outbox_depth Events waiting for HQ's acknowledgement.\n"
            "# TYPE memberlink_outbox_depth gauge\n"
            "memberlink_outbox_depth %lld\n",
            (long long)g->outbox_depth);
    fprintf(f,
            "# HELP memberlink_outbox_warning 1 when the outbox is past [agent] "
            "outbox_warn_events.\n"
            "# TYPE memberlink_outbox_warning gauge\n"
            "memberlink_outbox_warning %d\n"
            "# HELP memberlink_hq_connected 1 while the MQTT session with HQ is up.\n"
            "# TYPE memberlink_hq_connected gauge\n"
            "memberlink_hq_connected %d\n"
            "# HELP memberlink_hq_rejected_total Signed HQ messages refused.\n"
            "# TYPE memberlink_hq_rejected_total counter\n"
            "memberlink_hq_rejected_total %lld\n",
            g->outbox_warning, g->connected, (long long)g->hq_rejected);
    fprintf(f,
            "# HELP memberlink_outbox_oldest_age_seconds Age of the oldest unacked event.\n"
            "# TYPE memberlink_outbox_oldest_age_seconds gauge\n"
            "memberlink_outbox_oldest_age_seconds %.3f\n",
            (double)g->oldest_age_ms / 1000.0);
    fprintf(f, "# HELP memberlink_http_request_duration_seconds Local API request latency.\n"
               "# TYPE memberlink_http_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < METRICS_BUCKETS; i++) {
        cum += m->buckets[i];
        fprintf(f, "memberlink_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n", bounds[i],
                (unsigned long long)cum);
    }
    fprintf(f,
            "memberlink_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
            "memberlink_http_request_duration_seconds_sum %.6f\n"
            "memberlink_http_request_duration_seconds_count %llu\n",
            (unsigned long long)m->latency_count, m->latency_sum,
            (unsigned long long)m->latency_count);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
