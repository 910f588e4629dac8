/* refund: reverses a sale's lines exactly once; see refund.h. */
#include "refund.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkout.h"
#include "coupon.h"
#include "jsonutil.h"
#include "ledger.h"
#include "member.h"
#include "outbox.h"
#include "rules.h"

static ml_err select_lines(struct ledger_refund_sale *rs, const cJSON *body, const char *sale_id,
                           struct ml_refusal *r)
{
    const cJSON *lines = body ? cJSON_GetObjectItemCaseSensitive(body, "lines") : NULL;
    if (body != NULL && !cJSON_IsObject(body))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "body must be a JSON object");
    if (lines == NULL || cJSON_IsNull(lines)) {
        size_t left = 0;
        for (size_t i = 0; i < rs->n; i++) {
            rs->lines[i].selected = !rs->lines[i].refunded;
            left += (size_t)rs->lines[i].selected;
        }
        if (left == 0)
            return ml_refuse(r, ML_REFUSED, 409, "already_refunded",
                             "every line of sale %s is already refunded", sale_id);
        return ML_OK;
    }
    if (!cJSON_IsArray(lines) || cJSON_GetArraySize(lines) < 1 ||
        cJSON_GetArraySize(lines) > CHECKOUT_LINES_MAX)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "field 'lines' must be an array of 1 to %d line numbers",
                         CHECKOUT_LINES_MAX);
    const cJSON *e;
    cJSON_ArrayForEach(e, lines)
    {
        double d = cJSON_IsNumber(e) ? e->valuedouble : 0;
        if (d < 1 || d > (double)rs->n || d != (double)(int64_t)d)
            return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                             "sale %s has lines 1 to %zu; line numbers must be in that range",
                             sale_id, rs->n);
        struct ledger_refund_line *l = &rs->lines[(size_t)d - 1];
        if (l->selected)
            return ml_refuse(r, ML_PARSE, 400, "invalid_request", "line %lld is listed twice",
                             (long long)l->line_no);
        if (l->refunded)
            return ml_refuse(r, ML_REFUSED, 409, "already_refunded",
                             "line %lld of sale %s is already refunded", (long long)l->line_no,
                             sale_id);
        l->selected = 1;
    }
    return ML_OK;
}

/* Gives back coupons whose every discounted line is refunded once this refund lands. */
static ml_err restore_coupons(struct ml_ctx *ctx, const char *sale_id,
                              const struct ledger_refund_sale *rs, int64_t now, cJSON *restored)
{
    struct db *db = ctx->db;
    struct ledger_redemption red[CHECKOUT_COUPONS_MAX];
    size_t n = 0;
    ml_err err = ledger_sale_redemptions(db, sale_id, red, CHECKOUT_COUPONS_MAX, &n);
    if (err != ML_OK)
        return err;
    for (size_t i = 0; err == ML_OK && i < n; i++) {
        int all = 1;
        const cJSON *e;
        cJSON_ArrayForEach(e, red[i].lines)
        {
            size_t k = (size_t)e->valuedouble;
            if (k < 1 || k > rs->n || !(rs->lines[k - 1].refunded || rs->lines[k - 1].selected))
                all = 0;
        }
        if (!all)
            continue;
        struct coupon c;
        if ((err = coupon_get(db, red[i].coupon_id, &c)) == ML_NOENTRY) {
            err = ML_OK; /* no terms here, so no campaign to restore it */
            continue;
        }
        if (err != ML_OK)
            break;
        int restores = 0;
        err = rules_coupon_restores(db, c.campaign_id, &restores);
        coupon_release(&c);
        if (err != ML_OK || !restores)
            continue;
        if ((err = coupon_restore(db, red[i].coupon_id, red[i].use_no, sale_id)) != ML_OK)
            break;
        cJSON_AddItemToArray(restored, cJSON_CreateString(red[i].coupon_id));
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "coupon_id", red[i].coupon_id);
        cJSON_AddStringToObject(ev, "sale_id", sale_id);
        json_add_i64(ev, "use_no", red[i].use_no);
        err = outbox_append(db, ctx->cfg->store, ctx->cfg->terminal, now, "coupon.restored", ev);
    }
    ledger_redemptions_free(red, n);
    return err == ML_OK ? ML_OK : ML_STORAGE;
}

static ml_err write_refund(struct ml_ctx *ctx, const char *sale_id, const char *refund_id,
                           const struct ledger_refund_sale *rs, int64_t now, cJSON *out)
{
    struct db *db = ctx->db;
    int64_t amount = 0, earned = 0, spent = 0, commission = 0;
    cJSON *lines = cJSON_AddArrayToObject(out, "lines");
    cJSON *ev_lines = cJSON_CreateArray();
    for (size_t i = 0; i < rs->n; i++) {
        const struct ledger_refund_line *l = &rs->lines[i];
        if (!l->selected)
            continue;
        if (ledger_refund_line(db, sale_id, l->line_no, refund_id) != ML_OK)
            goto fail;
        amount += l->net;
        earned += l->points_earned;
        spent += l->points_spent;
        commission += l->commission;
        cJSON_AddItemToArray(lines, cJSON_CreateNumber((double)l->line_no));
        cJSON_AddItemToArray(ev_lines, cJSON_CreateNumber((double)l->line_no));
        if (rs->guide[0] && ledger_add_commission(db, rs->guide, sale_id, l->line_no,
                                                  -l->commission, l->commission_bp, now) != ML_OK)
            goto fail;
    }
    if (ledger_add_refunded(db, sale_id, amount) != ML_OK)
        goto fail;
    if (rs->member[0] && (earned || spent) &&
        member_add_points(db, rs->member, sale_id, "refund", spent - earned, now) != ML_OK)
        goto fail;
    json_add_i64(out, "amount", amount);
    cJSON *pts = cJSON_AddObjectToObject(out, "points");
    json_add_i64(pts, "earned_reversed", earned);
    json_add_i64(pts, "spent_returned", spent);
    json_add_i64(out, "commission_reversed", commission);

    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "refund_id", refund_id);
    cJSON_AddStringToObject(ev, "sale_id", sale_id);
    cJSON_AddItemToObject(ev, "lines", ev_lines);
    ev_lines = NULL;
    json_add_i64(ev, "amount", amount);
    if (outbox_append(db, ctx->cfg->store, ctx->cfg->terminal, now, "sale.refunded", ev) != ML_OK)
        goto fail;
    if (rs->member[0] && (earned || spent)) {
        ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "member_id", rs->member);
        cJSON_AddStringToObject(ev, "sale_id", sale_id);
        cJSON_AddStringToObject(ev, "refund_id", refund_id);
        cJSON_AddStringToObject(ev, "reason", "refund");
        json_add_i64(ev, "earned", -earned);
        json_add_i64(ev, "spent", -spent);
        json_add_i64(ev, "delta", spent - earned);
        if (outbox_append(db, ctx->cfg->store, ctx->cfg->terminal, now, "points.changed", ev) !=
            ML_OK)
            goto fail;
    }
    if (rs->guide[0]) {
        ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "guide_id", rs->guide);
        cJSON_AddStringToObject(ev, "sale_id", sale_id);
        cJSON_AddStringToObject(ev, "refund_id", refund_id);
        cJSON_AddStringToObject(ev, "source", rs->guide_source);
        cJSON_AddStringToObject(ev, "reason", "refund");
        json_add_i64(ev, "amount", -commission);
        cJSON *cl = cJSON_AddArrayToObject(ev, "lines");
        for (size_t i = 0; i < rs->n; i++) {
            const struct ledger_refund_line *l = &rs->lines[i];
            if (!l->selected)
                continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(cl, o);
            json_add_i64(o, "line_no", l->line_no);
            cJSON_AddStringToObject(o, "category", l->category);
            json_add_i64(o, "net", -l->net);
            json_add_i64(o, "rate_bp", l->commission_bp);
            json_add_i64(o, "commission", -l->commission);
        }
        if (outbox_append(db, ctx->cfg->store, ctx->cfg->terminal, now, "commission.recorded",
                          ev) != ML_OK)
            goto fail;
    }
    return ML_OK;
fail:
    cJSON_Delete(ev_lines);
    return ML_STORAGE;
}

ml_err refund_run(struct ml_ctx *ctx, const char *sale_id, const cJSON *body, cJSON **ret_refund,
                  struct ml_refusal *r)
{
    int64_t now = ctx->now_ms();
    struct ledger_refund_sale *rs = calloc(1, sizeof(*rs));
    cJSON *out = NULL;
    ml_err err = ML_NOMEM;
    if (rs == NULL)
        goto out;
    if ((err = ledger_refund_sale(ctx->db, sale_id, rs)) == ML_NOENTRY) {
        ml_refuse(r, ML_NOENTRY, 404, "sale_not_found", "sale %s is not known", sale_id);
        goto out;
    }
    if (err != ML_OK || (err = select_lines(rs, body, sale_id, r)) != ML_OK)
        goto out;
    char refund_id[CHECKOUT_ID_MAX * 2 + 32];
    snprintf(refund_id, sizeof(refund_id), "%s-R%lld", sale_id, (long long)rs->nrefunds + 1);
    err = ML_NOMEM;
    out = cJSON_CreateObject();
    if (out == NULL)
        goto out;
    cJSON_AddStringToObject(out, "refund_id", refund_id);
    cJSON_AddStringToObject(out, "sale_id", sale_id);
    json_add_i64(out, "created_at", now);
    if ((err = write_refund(ctx, sale_id, refund_id, rs, now, out)) != ML_OK)
        goto out;
    cJSON *restored = cJSON_AddArrayToObject(out, "coupons_restored");
    err = restore_coupons(ctx, sale_id, rs, now, restored);
out:
    free(rs);
    if (err != ML_OK) {
        cJSON_Delete(out);
        if (r != NULL && r->code == NULL)
            ml_refuse(r, err, 503, "storage_error", "the refund could not be recorded: %s",
                      ml_strerror(err));
        return err;
    }
    *ret_refund = out;
    return ML_OK;
}
