/* status: the terminal's status and gauges; see status.h. */
#include "status.h"

#include "coupon.h"
#include "day.h"
#include "deny.h"
#include "guide.h"
#include "inbox.h"
#include "jsonutil.h"
#include "ledger.h"
#include "link.h"
#include "member.h"
#include "outbox.h"
#include "rules.h"
#include "settlement.h"
#include "trust.h"

cJSON *status_json(struct ml_ctx *ctx)
{
    int64_t now = ctx->now_ms(), today, tomorrow;
    struct metrics_gauges g;
    status_gauges(ctx, &g);
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "brand", ctx->cfg->brand);
    cJSON_AddStringToObject(o, "store", ctx->cfg->store);
    cJSON_AddStringToObject(o, "terminal", ctx->cfg->terminal);
    cJSON_AddStringToObject(o, "version", ML_VERSION);
    json_add_i64(o, "uptime_s", (now - ctx->started_ms) / 1000);
    cJSON_AddBoolToObject(o, "connected", g.connected);
    cJSON *hq = cJSON_AddObjectToObject(o, "hq");
    json_add_i64(hq, "cursor", inbox_cursor(ctx->db));
    const struct inbox_stats *is = ctx->link ? link_inbox_stats(ctx->link) : NULL;
    json_add_i64(hq, "applied", is ? (int64_t)is->applied : 0);
    json_add_i64(hq, "rejected", g.hq_rejected);
    struct trust_reading tr;
    trust_read(ctx->trust, &tr);
    cJSON *clk = cJSON_AddObjectToObject(o, "clock");
    cJSON_AddBoolToObject(clk, "trusted", tr.trusted);
    if (tr.trusted) {
        json_add_i64(clk, "trusted_ms", tr.now_ms);
        json_add_i64(clk, "skew_ms", now - tr.now_ms);
        json_add_i64(clk, "since_contact_ms", tr.since_contact_ms);
    } else {
        cJSON_AddNullToObject(clk, "trusted_ms");
        cJSON_AddNullToObject(clk, "skew_ms");
        cJSON_AddNullToObject(clk, "since_contact_ms");
    }
    cJSON *ob = cJSON_AddObjectToObject(o, "outbox");
    json_add_i64(ob, "depth", g.outbox_depth);
    cJSON_AddBoolToObject(ob, "warning", g.outbox_warning);
    if (g.outbox_depth > 0)
        json_add_i64(ob, "oldest_age_ms", g.oldest_age_ms);
    else
        cJSON_AddNullToObject(ob, "oldest_age_ms");
    cJSON *c = cJSON_AddObjectToObject(o, "cache");
    json_add_i64(c, "members", member_count(ctx->db));
    json_add_i64(c, "guides", guide_count(ctx->db));
    json_add_i64(c, "campaigns", rules_campaign_count(ctx->db));
    json_add_i64(c, "coupons", coupon_count(ctx->db));
    json_add_i64(c, "deny_entries", deny_count(ctx->db));
    json_add_i64(o, "sales", ledger_sales_count(ctx->db, 0));
    json_add_i64(o, "settlements", settlement_count(ctx->db));
    if (day_bounds(now, &today, &tomorrow) != 0)
        today = now; /* no local day to be had: none of its sales are counted */
    json_add_i64(o, "sales_today", ledger_sales_count(ctx->db, today));
    return o;
}

void status_gauges(struct ml_ctx *ctx, struct metrics_gauges *ret)
{
    int64_t oldest = outbox_oldest_at(ctx->db);
    const struct inbox_stats *is = ctx->link ? link_inbox_stats(ctx->link) : NULL;
    *ret = (struct metrics_gauges){.outbox_depth = outbox_depth(ctx->db),
                                   .oldest_age_ms = oldest > 0 ? ctx->now_ms() - oldest : 0,
                                   .connected = link_connected(ctx->link),
                                   .hq_rejected = is ? (int64_t)is->rejected : 0};
    ret->outbox_warning = ret->outbox_depth > ctx->cfg->outbox_warn_events;
}
