/*
 * refund: reverse a sale's lines exactly once. Each sale line carries a refund_id once
 * refunded; a line with one is never reversed again. Points earned on those lines are
 * taken back, points spent on them are returned, commission entries are reversed, and a
 * coupon whose every discounted line is now refunded is given back when its campaign
 * says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkout.h"
#include "coupon.h"
#include "jsonutil.h"
#include "outbox.h"
#include "rules.h"

struct rline {
    int64_t line_no, net, points_earned, points_spent, commission, commission_bp;
    char category[CHECKOUT_CATEGORY_MAX + 1];
    int refunded; /* before this refund */
    int selected; /* in this refund */
};

struct rsale {
    char member[CHECKOUT_ID_MAX + 1];
    char guide[CHECKOUT_ID_MAX + 1];
    char guide_source[16];
    int64_t nrefunds;
    struct rline lines[CHECKOUT_LINES_MAX];
    size_t n;
};

static ml_err load_sale(struct store *st, const char *sale_id, struct rsale *rs,
                        struct ml_refusal *r)
{
    static const char q_sale[] =
        "SELECT coalesce(member_id, ''), coalesce(guide_id, ''), coalesce(guide_source, ''), "
        " (SELECT count(DISTINCT refund_id) FROM sale_lines l WHERE l.sale_id = s.sale_id) "
        "FROM sales s WHERE sale_id = ?1";
    static const char q_lines[] =
        "SELECT line_no, net, points_earned, points_spent, commission, commission_bp, "
        " refund_id IS NOT NULL, category FROM sale_lines WHERE sale_id = ?1 ORDER BY line_no";
    sqlite3_stmt *s = store_stmt(st, q_sale);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, sale_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        snprintf(rs->member, sizeof(rs->member), "%s", sqlite3_column_text(s, 0));
        snprintf(rs->guide, sizeof(rs->guide), "%s", sqlite3_column_text(s, 1));
        snprintf(rs->guide_source, sizeof(rs->guide_source), "%s", sqlite3_column_text(s, 2));
        rs->nrefunds = sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return ml_refuse(r, ML_NOENTRY, 404, "sale_not_found", "sale %s is not known", sale_id);
    if (rc != SQLITE_ROW || (s = store_stmt(st, q_lines)) == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, sale_id, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && rs->n < CHECKOUT_LINES_MAX) {
        struct rline *l = &rs->lines[rs->n++];
        l->line_no = sqlite3_column_int64(s, 0);
        l->net = sqlite3_column_int64(s, 1);
        l->points_earned = sqlite3_column_int64(s, 2);
        l->points_spent = sqlite3_column_int64(s, 3);
        l->commission = sqlite3_column_int64(s, 4);
        l->commission_bp = sqlite3_column_int64(s, 5);
        l->refunded = sqlite3_column_int(s, 6);
        snprintf(l->category, sizeof(l->category), "%s", sqlite3_column_text(s, 7));
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? ML_OK : ML_STORAGE;
}

static ml_err select_lines(struct rsale *rs, const cJSON *body, const char *sale_id,
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
        struct rline *l = &rs->lines[(size_t)d - 1];
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
static ml_err restore_coupons(struct ml_ctx *ctx, const char *sale_id, const struct rsale *rs,
                              int64_t now, cJSON *restored)
{
    static const char q[] = "SELECT r.coupon_id, r.use_no, r.lines, c.campaign_id "
                            "FROM redemptions r JOIN coupons c USING (coupon_id) "
                            "WHERE r.sale_id = ?1 AND r.restored = 0";
    struct store *st = ctx->st;
    struct todo {
        char coupon[CHECKOUT_ID_MAX + 1];
        int64_t use_no;
    } todo[CHECKOUT_COUPONS_MAX];
    size_t ntodo = 0;
    sqlite3_stmt *s = store_stmt(st, q);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, sale_id, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && ntodo < CHECKOUT_COUPONS_MAX) {
        cJSON *lines = cJSON_Parse((const char *)sqlite3_column_text(s, 2));
        if (!cJSON_IsArray(lines)) { /* written by coupon_redeem; unreadable means damage */
            cJSON_Delete(lines);
            sqlite3_reset(s);
            return ML_STORAGE;
        }
        int all = 1;
        const cJSON *e;
        cJSON_ArrayForEach(e, lines)
        {
            size_t k = (size_t)e->valuedouble;
            if (k < 1 || k > rs->n || !(rs->lines[k - 1].refunded || rs->lines[k - 1].selected))
                all = 0;
        }
        cJSON_Delete(lines);
        const char *campaign = (const char *)sqlite3_column_text(s, 3);
        if (!all || campaign == NULL)
            continue;
        snprintf(todo[ntodo].coupon, sizeof(todo[ntodo].coupon), "%s", sqlite3_column_text(s, 0));
        todo[ntodo].use_no = sqlite3_column_int64(s, 1);
        ntodo++;
    }
    sqlite3_reset(s);
    /* A failed scan must fail the refund, not commit it without its coupons. */
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ML_STORAGE;
    /* The campaign policy is read after the scan: each cached statement runs one at a time. */
    for (size_t i = 0; i < ntodo; i++) {
        struct coupon c;
        if (coupon_get(st, todo[i].coupon, &c) != ML_OK)
            return ML_STORAGE;
        int restores = 0;
        ml_err err = rules_coupon_restores(st, c.campaign_id, &restores);
        coupon_release(&c);
        if (err != ML_OK)
            return err;
        if (!restores)
            continue;
        if (coupon_restore(st, todo[i].coupon, todo[i].use_no, sale_id) != ML_OK)
            return ML_STORAGE;
        cJSON_AddItemToArray(restored, cJSON_CreateString(todo[i].coupon));
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "coupon_id", todo[i].coupon);
        cJSON_AddStringToObject(ev, "sale_id", sale_id);
        json_add_i64(ev, "use_no", todo[i].use_no);
        if (outbox_append(st, ctx->cfg->store, ctx->cfg->terminal, now, "coupon.restored", ev) !=
            ML_OK)
            return ML_STORAGE;
    }
    return ML_OK;
}

static ml_err write_refund(struct ml_ctx *ctx, const char *sale_id, const char *refund_id,
                           const struct rsale *rs, int64_t now, cJSON *out)
{
    static const char mark[] = "UPDATE sale_lines SET refund_id = ?3 "
                               "WHERE sale_id = ?1 AND line_no = ?2 AND refund_id IS NULL";
    static const char upd_sale[] = "UPDATE sales SET refunded = refunded + ?2 WHERE sale_id = ?1";
    static const char ins_ledger[] =
        "INSERT INTO points_ledger (member_id, sale_id, reason, delta, created_at) "
        "VALUES (?1, ?2, 'refund', ?3, ?4)";
    static const char ins_comm[] =
        "INSERT INTO commissions (guide_id, sale_id, line_no, amount, rate_bp, day, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    struct store *st = ctx->st;
    int64_t amount = 0, earned = 0, spent = 0, commission = 0;
    char day[11];
    checkout_day(now, day);
    cJSON *lines = cJSON_AddArrayToObject(out, "lines");
    cJSON *ev_lines = cJSON_CreateArray();
    for (size_t i = 0; i < rs->n; i++) {
        const struct rline *l = &rs->lines[i];
        if (!l->selected)
            continue;
        sqlite3_stmt *s = store_stmt(st, mark);
        if (s == NULL)
            goto fail;
        sqlite3_bind_text(s, 1, sale_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, l->line_no);
        sqlite3_bind_text(s, 3, refund_id, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE || sqlite3_changes(store_db(st)) != 1)
            goto fail;
        amount += l->net;
        earned += l->points_earned;
        spent += l->points_spent;
        commission += l->commission;
        cJSON_AddItemToArray(lines, cJSON_CreateNumber((double)l->line_no));
        cJSON_AddItemToArray(ev_lines, cJSON_CreateNumber((double)l->line_no));
        if (rs->guide[0]) {
            if ((s = store_stmt(st, ins_comm)) == NULL)
                goto fail;
            sqlite3_bind_text(s, 1, rs->guide, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(s, 2, sale_id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(s, 3, l->line_no);
            sqlite3_bind_int64(s, 4, -l->commission);
            sqlite3_bind_int64(s, 5, l->commission_bp);
            sqlite3_bind_text(s, 6, day, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(s, 7, now);
            rc = sqlite3_step(s);
            sqlite3_reset(s);
            if (rc != SQLITE_DONE)
                goto fail;
        }
    }
    sqlite3_stmt *s = store_stmt(st, upd_sale);
    if (s == NULL)
        goto fail;
    sqlite3_bind_text(s, 1, sale_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, amount);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        goto fail;
    if (rs->member[0] && (earned || spent)) {
        if ((s = store_stmt(st, ins_ledger)) == NULL)
            goto fail;
        sqlite3_bind_text(s, 1, rs->member, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, sale_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 3, spent - earned);
        sqlite3_bind_int64(s, 4, now);
        rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            goto fail;
    }
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
    if (outbox_append(st, ctx->cfg->store, ctx->cfg->terminal, now, "sale.refunded", ev) != ML_OK)
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
        if (outbox_append(st, ctx->cfg->store, ctx->cfg->terminal, now, "points.changed", ev) !=
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
            const struct rline *l = &rs->lines[i];
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
        if (outbox_append(st, ctx->cfg->store, ctx->cfg->terminal, now, "commission.recorded",
                          ev) != ML_OK)
            goto fail;
    }
    return ML_OK;
fail:
    cJSON_Delete(ev_lines);
    return ML_STORAGE;
}

ml_err checkout_refund(struct ml_ctx *ctx, const char *sale_id, const cJSON *body,
                       cJSON **ret_refund, struct ml_refusal *r)
{
    int64_t now = ctx->now_ms();
    struct rsale *rs = calloc(1, sizeof(*rs));
    cJSON *out = NULL;
    ml_err err = ML_NOMEM;
    if (rs == NULL)
        goto out;
    if ((err = load_sale(ctx->st, sale_id, rs, r)) != ML_OK ||
        (err = select_lines(rs, body, sale_id, r)) != ML_OK)
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

ml_err checkout_sale_get(struct ml_ctx *ctx, const char *sale_id, cJSON **ret_sale,
                         struct ml_refusal *r)
{
    static const char q[] = "SELECT doc, refunded FROM sales WHERE sale_id = ?1";
    static const char ql[] = "SELECT line_no FROM sale_lines WHERE sale_id = ?1 "
                             "AND refund_id IS NOT NULL ORDER BY line_no";
    sqlite3_stmt *s = store_stmt(ctx->st, q);
    if (s == NULL)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "cannot read sale %s", sale_id);
    sqlite3_bind_text(s, 1, sale_id, -1, SQLITE_TRANSIENT);
    cJSON *sale = NULL;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        sale = cJSON_Parse((const char *)sqlite3_column_text(s, 0));
        if (sale != NULL)
            json_add_i64(sale, "refunded_amount", sqlite3_column_int64(s, 1));
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return ml_refuse(r, ML_NOENTRY, 404, "sale_not_found", "sale %s is not known", sale_id);
    if (sale == NULL || (s = store_stmt(ctx->st, ql)) == NULL) {
        cJSON_Delete(sale);
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "cannot read sale %s", sale_id);
    }
    cJSON *lines = cJSON_AddArrayToObject(sale, "refunded_lines");
    sqlite3_bind_text(s, 1, sale_id, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(s) == SQLITE_ROW)
        cJSON_AddItemToArray(lines, cJSON_CreateNumber((double)sqlite3_column_int64(s, 0)));
    sqlite3_reset(s);
    *ret_sale = sale;
    return ML_OK;
}

ml_err checkout_sales_list(struct ml_ctx *ctx, int64_t limit, cJSON **ret_list)
{
    static const char q[] = "SELECT sale_id, created_at, member_id, total, refunded FROM sales "
                            "ORDER BY created_at DESC, sale_id DESC LIMIT ?1";
    sqlite3_stmt *s = store_stmt(ctx->st, q);
    if (s == NULL)
        return ML_STORAGE;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "sales");
    sqlite3_bind_int64(s, 1, limit);
    while (sqlite3_step(s) == SQLITE_ROW) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, e);
        cJSON_AddStringToObject(e, "sale_id", (const char *)sqlite3_column_text(s, 0));
        json_add_i64(e, "created_at", sqlite3_column_int64(s, 1));
        if (sqlite3_column_type(s, 2) == SQLITE_NULL)
            cJSON_AddNullToObject(e, "member_id");
        else
            cJSON_AddStringToObject(e, "member_id", (const char *)sqlite3_column_text(s, 2));
        json_add_i64(e, "total", sqlite3_column_int64(s, 3));
        json_add_i64(e, "refunded_amount", sqlite3_column_int64(s, 4));
    }
    sqlite3_reset(s);
    *ret_list = o;
    return ML_OK;
}
