/* hqlink: what the agent hands to the sync engine; see hqlink.h. */
#include "hqlink.h"

#include <stdio.h>
#include <string.h>

#include "deny.h"
#include "facts.h"
#include "log.h"
#include "trust.h"

static ml_err apply_fact(void *arg, const char *kind, const cJSON *body, int *ret_applied,
                         struct ml_refusal *r)
{
    struct ml_ctx *ctx = arg;
    return facts_apply(ctx->db, kind, body, ret_applied, r);
}

static ml_err hq_time(void *arg, int64_t issued_ms)
{
    struct ml_ctx *ctx = arg;
    return ctx->trust != NULL ? trust_hq_time(ctx->trust, ctx->db, issued_ms) : ML_OK;
}

/* A peer's redemption denies the coupon here at once, even with the WAN down, and its
 * restoration lifts that; an event out of form is skipped, not fatal. */
static ml_err peer_event(void *arg, const char *terminal, const char *type, const cJSON *body,
                         int64_t at_ms)
{
    struct ml_ctx *ctx = arg;
    const cJSON *coupon = cJSON_GetObjectItemCaseSensitive(body, "coupon_id");
    if (!cJSON_IsString(coupon))
        return ML_OK;
    ml_err err = ML_OK;
    int denied = 0;
    if (strcmp(type, "coupon.redeemed") == 0) {
        err = deny_peer_redeemed(ctx->db, coupon->valuestring, terminal, at_ms, &denied);
        if (err == ML_OK && denied)
            log_info("peer %s redeemed coupon %s: refused here from now on", terminal,
                     coupon->valuestring);
    } else if (strcmp(type, "coupon.restored") == 0) {
        err = deny_lift_peer(ctx->db, coupon->valuestring, terminal);
    }
    return err == ML_STORAGE || err == ML_NOMEM ? err : ML_OK;
}

void hqlink_handler(struct ml_ctx *ctx, struct link_handler *ret)
{
    *ret = (struct link_handler){
        .inbox = {.arg = ctx, .apply = apply_fact, .hq_time = hq_time},
        .peer_event = peer_event,
    };
}

ml_err hqlink_start(struct ml_ctx *ctx, char *errbuf, size_t errlen)
{
    const struct config *cfg = ctx->cfg;
    /* Copied by link_start(); its strings are ctx->cfg's, which outlives the link. */
    struct link_config lc = {.brand = cfg->brand,
                             .store = cfg->store,
                             .terminal = cfg->terminal,
                             .version = ML_VERSION,
                             .host = cfg->mqtt_host,
                             .port = cfg->mqtt_port,
                             .client_id = cfg->mqtt_client_id,
                             .keepalive = cfg->mqtt_keepalive,
                             .tls_ca = cfg->mqtt_tls_ca,
                             .tls_cert = cfg->mqtt_tls_cert,
                             .tls_key = cfg->mqtt_tls_key,
                             .batch_events = cfg->mqtt_batch_events,
                             .batch_bytes = cfg->mqtt_batch_bytes,
                             .inflight = cfg->mqtt_inflight,
                             .ack_timeout_s = cfg->mqtt_ack_timeout_s,
                             .hq_url = cfg->hq_url,
                             .outbox_warn_events = cfg->outbox_warn_events};
    struct link_handler h;
    hqlink_handler(ctx, &h);
    return link_start(&lc, ctx->db, ctx->keys, ctx->now_ms, &h, &ctx->link, errbuf, errlen);
}
