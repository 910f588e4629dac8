/*
 * status: what GET /v1/status and GET /metrics report about this terminal (docs/api.md):
 * identity, uptime, the HQ link and inbox, the trusted clock, the outbox, and the counts of
 * what the store holds, each asked of the module that owns its table.
 */
#ifndef ML_STATUS_H
#define ML_STATUS_H

#include <cjson/cJSON.h>

#include "ctx.h"
#include "metrics.h"

/* The /v1/status answer; NULL when memory runs out. Caller deletes it. */
cJSON *status_json(struct ml_ctx *ctx);

/* The gauges /metrics renders beside the counters. */
void status_gauges(struct ml_ctx *ctx, struct metrics_gauges *ret);

#endif
