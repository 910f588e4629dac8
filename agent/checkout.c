/*
 * checkout: pricing, commit and read-back of sales. See checkout.h for the order of
 * computation. All amounts are int64_t minor units; every split goes through
 * money_allocate() so parts sum exactly to the whole.
 */
#include "checkout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coupon.h"
#include "deny.h"
#include "guide.h"
#include "jsonutil.h"
#include "ledger.h"
#include "member.h"
#include "money.h"
#include "outbox.h"
#include "risk.h"
#include "rules.h"
#include "state.h"

/* A committed sale is handed to the ledger whole: its limits are the checkout's. */
_Static_assert(CHECKOUT_LINES_MAX == LEDGER_LINES_MAX, "a sale's lines fit the ledger");
_Static_assert(CHECKOUT_ID_MAX == LEDGER_ID_MAX, "member, guide and coupon ids fit the ledger");
_Static_assert(CHECKOUT_CATEGORY_MAX == LEDGER_CATEGORY_MAX, "categories fit the ledger");

struct line {
    char sku[CHECKOUT_SKU_MAX + 1];
    char category[CHECKOUT_CATEGORY_MAX + 1];
    int64_t qty, unit_price, gross, discount, points_value, net, points_earned, points_spent;
    int64_t commission_bp, commission;
};

struct checkout_req {
    char member[CHECKOUT_ID_MAX + 1]; /* empty: anonymous sale */
    char guide[CHECKOUT_ID_MAX + 1];  /* empty: none given */
    size_t nlines;
    struct line lines[CHECKOUT_LINES_MAX];
    size_t ncoupons;
    char coupons[CHECKOUT_COUPONS_MAX][CHECKOUT_ID_MAX + 1];
    int64_t points;
    int dry_run;
};

/* One applied coupon during pricing. */
struct applied {
    struct coupon c;
    int64_t amount;
    int64_t *parts; /* per line */
};

int checkout_is_dry_run(const struct checkout_req *req)
{
    return req->dry_run;
}

void checkout_req_free(struct checkout_req *req)
{
    free(req);
}

static ml_err parse_line(const cJSON *it, size_t idx, struct line *ln, struct ml_refusal *r)
{
    const char *sku = NULL, *cat = NULL;
    if (!cJSON_IsObject(it))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "items[%zu] must be an object", idx);
    if (json_str(it, "sku", 1, CHECKOUT_SKU_MAX, &sku, r) ||
        json_str(it, "category", 1, CHECKOUT_CATEGORY_MAX, &cat, r) ||
        json_i64(it, "qty", 1, 1, CHECKOUT_QTY_MAX, &ln->qty, r) ||
        json_i64(it, "unit_price", 1, 0, CHECKOUT_PRICE_MAX, &ln->unit_price, r)) {
        /* Say which item is wrong. */
        char msg[ML_REFUSAL_MSG_MAX + 32];
        snprintf(msg, sizeof(msg), "items[%zu]: %s", idx, r ? r->message : "");
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "%s", msg);
    }
    snprintf(ln->sku, sizeof(ln->sku), "%s", sku);
    snprintf(ln->category, sizeof(ln->category), "%s", cat);
    ln->gross = ln->qty * ln->unit_price;
    return ML_OK;
}

ml_err checkout_parse(const cJSON *body, const char *terminal, struct checkout_req **ret,
                      struct ml_refusal *r)
{
    const char *member = NULL, *guide = NULL, *term = NULL;
    if (!cJSON_IsObject(body))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "body must be a JSON object");
    struct checkout_req *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return ML_NOMEM;
    ml_err err = ML_PARSE;
    if (json_str(body, "terminal", 0, CHECKOUT_ID_MAX, &term, r) ||
        json_str(body, "member", 0, CHECKOUT_ID_MAX, &member, r) ||
        json_str(body, "guide", 0, CHECKOUT_ID_MAX, &guide, r) ||
        json_i64(body, "points_to_redeem", 0, 0, CHECKOUT_POINTS_MAX, &req->points, r) ||
        json_bool(body, "dry_run", &req->dry_run, r))
        goto out;
    if (term != NULL && strcmp(term, terminal) != 0) {
        ml_refuse(r, ML_PARSE, 400, "invalid_request", "terminal '%s' is not this terminal ('%s')",
                  term, terminal);
        goto out;
    }
    if (member != NULL)
        snprintf(req->member, sizeof(req->member), "%s", member);
    if (guide != NULL)
        snprintf(req->guide, sizeof(req->guide), "%s", guide);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(body, "items");
    int nitems = cJSON_GetArraySize(items);
    if (!cJSON_IsArray(items) || nitems < 1 || nitems > CHECKOUT_LINES_MAX) {
        ml_refuse(r, ML_PARSE, 400, "invalid_request",
                  "field 'items' must be an array of 1 to %d items", CHECKOUT_LINES_MAX);
        goto out;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        if (parse_line(it, req->nlines, &req->lines[req->nlines], r) != ML_OK)
            goto out;
        req->nlines++;
    }
    const cJSON *coupons = cJSON_GetObjectItemCaseSensitive(body, "coupons");
    if (coupons != NULL && !cJSON_IsNull(coupons)) {
        if (!cJSON_IsArray(coupons) || cJSON_GetArraySize(coupons) > CHECKOUT_COUPONS_MAX) {
            ml_refuse(r, ML_PARSE, 400, "invalid_request",
                      "field 'coupons' must be an array of at most %d coupon ids",
                      CHECKOUT_COUPONS_MAX);
            goto out;
        }
        const cJSON *c;
        cJSON_ArrayForEach(c, coupons)
        {
            if (!cJSON_IsString(c) || c->valuestring[0] == '\0' ||
                strlen(c->valuestring) > CHECKOUT_ID_MAX) {
                ml_refuse(r, ML_PARSE, 400, "invalid_request",
                          "coupon ids must be strings of 1 to %d bytes", CHECKOUT_ID_MAX);
                goto out;
            }
            for (size_t k = 0; k < req->ncoupons; k++) {
                if (strcmp(req->coupons[k], c->valuestring) == 0) {
                    ml_refuse(r, ML_PARSE, 400, "invalid_request", "coupon %s is listed twice",
                              c->valuestring);
                    goto out;
                }
            }
            snprintf(req->coupons[req->ncoupons++], CHECKOUT_ID_MAX + 1, "%s", c->valuestring);
        }
    }
    int64_t subtotal = 0;
    for (size_t i = 0; i < req->nlines; i++)
        subtotal += req->lines[i].gross;
    if (subtotal > CHECKOUT_SUBTOTAL_MAX) {
        ml_refuse(r, ML_PARSE, 400, "invalid_request",
                  "the sale's subtotal is above %lld minor units",
                  (long long)CHECKOUT_SUBTOTAL_MAX);
        goto out;
    }
    if (req->points > 0 && req->member[0] == '\0') {
        ml_refuse(r, ML_PARSE, 400, "member_required", "paying with points needs a member");
        goto out;
    }
    err = ML_OK;
out:
    if (err != ML_OK) {
        free(req);
        return err;
    }
    *ret = req;
    return ML_OK;
}

static int64_t sum_remaining(const struct line *lines, size_t n, const struct applied *a,
                             int64_t *weights)
{
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t rem = lines[i].gross - lines[i].discount;
        weights[i] = (a == NULL || coupon_applies_to(&a->c, lines[i].category)) ? rem : 0;
        total += weights[i];
    }
    return total;
}

static cJSON *lines_array(const int64_t *parts, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        if (parts[i] > 0)
            cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)(i + 1)));
    return arr;
}

/* A coupon an offline cap left out of the sale. */
struct refused {
    char coupon_id[CHECKOUT_ID_MAX + 1];
    const char *code;
    char message[ML_REFUSAL_MSG_MAX];
};

/* Everything the pricing decided, before anything is written. */
struct priced {
    struct member m;
    int has_member;
    char guide[CHECKOUT_ID_MAX + 1];
    const char *guide_source;
    struct rules rl;
    struct applied applied[CHECKOUT_COUPONS_MAX];
    size_t napplied;
    struct risk rk;
    struct refused refused[CHECKOUT_COUPONS_MAX];
    size_t nrefused;
    int64_t points_offline_limit; /* -1: no offline limit applies */
    int64_t subtotal, discount, points_requested, points_value, points_spent, points_earned;
    int64_t total, commission;
    const char *capped_by;
    int64_t *tmp; /* scratch, n entries */
};

static void priced_release(struct priced *p)
{
    for (size_t i = 0; i < p->napplied; i++) {
        coupon_release(&p->applied[i].c);
        free(p->applied[i].parts);
    }
    rules_free(&p->rl);
    free(p->tmp);
}

static ml_err price(struct ml_ctx *ctx, struct checkout_req *req, int64_t now, struct priced *p,
                    struct ml_refusal *r)
{
    struct db *db = ctx->db;
    size_t n = req->nlines;
    ml_err err;
    p->tmp = calloc(n, sizeof(int64_t));
    if (p->tmp == NULL)
        return ML_NOMEM;

    if (req->member[0] != '\0') {
        err = member_get(db, req->member, now, &p->m);
        if (err == ML_NOENTRY)
            return ml_refuse(r, ML_NOENTRY, 404, "member_not_found", "member %s is not known",
                             req->member);
        if (err != ML_OK)
            return err;
        if ((err = deny_check_member(db, req->member, p->m.blocked, r)) != ML_OK)
            return err;
        p->has_member = 1;
    }
    err = risk_begin(&p->rk, ctx, p->has_member ? p->m.member_id : NULL);
    if (err != ML_OK)
        return err;

    /* Guide attribution: explicit guide > member's bound guide in date > none. */
    struct guide g;
    if (req->guide[0] != '\0') {
        err = guide_get(db, req->guide, &g);
        if (err == ML_NOENTRY || (err == ML_OK && !g.active))
            return ml_refuse(r, ML_NOENTRY, 404, "guide_not_found",
                             "guide %s is not an active guide", req->guide);
        if (err != ML_OK)
            return err;
        snprintf(p->guide, sizeof(p->guide), "%s", req->guide);
        p->guide_source = "explicit";
    } else if (p->has_member && member_bound_guide(&p->m, now) != NULL &&
               guide_get(db, p->m.guide_id, &g) == ML_OK && g.active) {
        snprintf(p->guide, sizeof(p->guide), "%s", p->m.guide_id);
        p->guide_source = "bound";
    }

    err = rules_load(db, ctx->cfg->store, now, p->has_member ? p->m.tier : NULL,
                     p->has_member && p->m.plan_active ? p->m.plan : NULL, &p->rl);
    if (err != ML_OK)
        return err;

    for (size_t i = 0; i < n; i++) {
        req->lines[i].discount = req->lines[i].points_value = 0;
        p->subtotal += req->lines[i].gross;
    }

    for (size_t k = 0; k < req->ncoupons; k++) {
        struct applied *a = &p->applied[p->napplied];
        err = coupon_get(db, req->coupons[k], &a->c);
        if (err != ML_OK && err != ML_NOENTRY)
            return err;
        int known = err == ML_OK;
        if (known)
            p->napplied++;
        /* HQ may deny a coupon this store never saw: the deny-list answers first. */
        if ((err = deny_check_coupon(db, req->coupons[k], known ? &a->c : NULL, r)) != ML_OK)
            return err;
        if (!known)
            return ml_refuse(r, ML_NOENTRY, 404, "coupon_not_found", "coupon %s is not known",
                             req->coupons[k]);
        err = coupon_check_usable(&a->c, p->has_member ? p->m.member_id : NULL, now, r);
        if (err != ML_OK)
            return err;
        int64_t eligible_gross = 0;
        for (size_t i = 0; i < n; i++)
            if (coupon_applies_to(&a->c, req->lines[i].category))
                eligible_gross += req->lines[i].gross;
        int64_t remaining = sum_remaining(req->lines, n, a, p->tmp);
        err = coupon_discount(&a->c, eligible_gross, remaining, &a->amount, r);
        if (err != ML_OK)
            return err;
        struct ml_refusal cap = {0};
        if (risk_coupon(&p->rk, &a->c, a->amount, &cap) != ML_OK) {
            struct refused *f = &p->refused[p->nrefused++];
            snprintf(f->coupon_id, sizeof(f->coupon_id), "%s", req->coupons[k]);
            f->code = cap.code;
            snprintf(f->message, sizeof(f->message), "%s", cap.message);
            coupon_release(&a->c);
            p->napplied--;
            continue;
        }
        a->parts = calloc(n, sizeof(int64_t));
        if (a->parts == NULL || money_allocate(a->amount, p->tmp, n, a->parts) != 0)
            return ML_NOMEM;
        for (size_t i = 0; i < n; i++)
            req->lines[i].discount += a->parts[i];
        p->discount += a->amount;
    }

    int64_t due = sum_remaining(req->lines, n, NULL, p->tmp);
    p->points_requested = req->points;
    p->points_offline_limit = -1;
    if (p->has_member && p->rk.offline)
        p->points_offline_limit = risk_points_limit(&p->rk, member_points_available(&p->m));
    if (req->points > 0) {
        if (!p->rl.has_points || p->rl.redeem_ppy <= 0)
            return ml_refuse(r, ML_REFUSED, 409, "points_redemption_unavailable",
                             "no active campaign lets points pay for this sale");
        int64_t pts = req->points, avail = member_points_available(&p->m);
        if (pts > avail) {
            pts = avail;
            p->capped_by = "available";
        }
        if (p->points_offline_limit >= 0 && pts > p->points_offline_limit) {
            pts = p->points_offline_limit;
            p->capped_by = "offline_margin";
        }
        int64_t value = money_muldiv_floor(pts, 100, p->rl.redeem_ppy);
        int64_t max_value = money_muldiv_floor(due, p->rl.redeem_max_bp, BP_ONE);
        if (value > max_value) {
            value = max_value;
            p->capped_by = "bill_share";
        }
        p->points_value = value;
        /* Charge only the points the value needs: ceil(value * ppy / 100) <= pts. */
        p->points_spent = (value * p->rl.redeem_ppy + 99) / 100;
        int64_t *parts = calloc(n, sizeof(int64_t));
        if (parts == NULL || money_allocate(value, p->tmp, n, parts) != 0) {
            free(parts);
            return ML_NOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            req->lines[i].points_value = parts[i];
            p->tmp[i] = parts[i];
        }
        if (money_allocate(p->points_spent, p->tmp, n, parts) != 0) {
            free(parts);
            return ML_NOMEM;
        }
        for (size_t i = 0; i < n; i++)
            req->lines[i].points_spent = parts[i];
        free(parts);
    } else {
        for (size_t i = 0; i < n; i++)
            req->lines[i].points_spent = 0;
    }

    for (size_t i = 0; i < n; i++) {
        struct line *ln = &req->lines[i];
        ln->net = ln->gross - ln->discount - ln->points_value;
        p->tmp[i] = ln->net;
        p->total += ln->net;
        ln->points_earned = 0;
    }
    if (p->has_member && p->rl.has_points && p->total > 0) {
        p->points_earned = money_muldiv_half_even(
            p->total, p->rl.earn_per_yuan * p->rl.multiplier_bp2, INT64_C(100) * BP_ONE * BP_ONE);
        int64_t *parts = calloc(n, sizeof(int64_t));
        if (parts == NULL || money_allocate(p->points_earned, p->tmp, n, parts) != 0) {
            free(parts);
            return ML_NOMEM;
        }
        for (size_t i = 0; i < n; i++)
            req->lines[i].points_earned = parts[i];
        free(parts);
    }
    for (size_t i = 0; i < n; i++) {
        struct line *ln = &req->lines[i];
        ln->commission_bp = p->guide[0] ? rules_commission_bp(&p->rl, ln->category) : 0;
        ln->commission = money_muldiv_half_even(ln->net, ln->commission_bp, BP_ONE);
        p->commission += ln->commission;
    }
    return ML_OK;
}

static cJSON *sale_json(const struct ml_ctx *ctx, const struct checkout_req *req,
                        const struct priced *p, const char *sale_id, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    if (sale_id != NULL)
        cJSON_AddStringToObject(o, "sale_id", sale_id);
    else
        cJSON_AddNullToObject(o, "sale_id");
    cJSON_AddBoolToObject(o, "dry_run", req->dry_run);
    cJSON_AddStringToObject(o, "store", ctx->cfg->store);
    cJSON_AddStringToObject(o, "terminal", ctx->cfg->terminal);
    json_add_i64(o, "created_at", now);
    cJSON_AddBoolToObject(o, "offline", p->rk.offline);
    if (p->has_member) {
        cJSON *m = cJSON_AddObjectToObject(o, "member");
        cJSON_AddStringToObject(m, "member_id", p->m.member_id);
        cJSON_AddStringToObject(m, "tier", p->m.tier);
        int64_t after =
            p->m.points_confirmed + p->m.points_pending - p->points_spent + p->points_earned;
        json_add_i64(m, "points_available", after > 0 ? after : 0); /* as identify shows it */
    } else {
        cJSON_AddNullToObject(o, "member");
    }
    if (p->guide[0]) {
        cJSON *g = cJSON_AddObjectToObject(o, "guide");
        cJSON_AddStringToObject(g, "guide_id", p->guide);
        cJSON_AddStringToObject(g, "source", p->guide_source);
    } else {
        cJSON_AddNullToObject(o, "guide");
    }
    cJSON *lines = cJSON_AddArrayToObject(o, "lines");
    for (size_t i = 0; i < req->nlines; i++) {
        const struct line *ln = &req->lines[i];
        cJSON *l = cJSON_CreateObject();
        cJSON_AddItemToArray(lines, l);
        json_add_i64(l, "line_no", (int64_t)i + 1);
        cJSON_AddStringToObject(l, "sku", ln->sku);
        cJSON_AddStringToObject(l, "category", ln->category);
        json_add_i64(l, "qty", ln->qty);
        json_add_i64(l, "unit_price", ln->unit_price);
        json_add_i64(l, "gross", ln->gross);
        json_add_i64(l, "discount", ln->discount);
        json_add_i64(l, "points_value", ln->points_value);
        json_add_i64(l, "net", ln->net);
        json_add_i64(l, "points_earned", ln->points_earned);
        json_add_i64(l, "points_spent", ln->points_spent);
        json_add_i64(l, "commission_bp", ln->commission_bp);
        json_add_i64(l, "commission", ln->commission);
    }
    cJSON *discounts = cJSON_AddArrayToObject(o, "discounts");
    for (size_t k = 0; k < p->napplied; k++) {
        const struct applied *a = &p->applied[k];
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToArray(discounts, d);
        cJSON_AddStringToObject(d, "coupon_id", a->c.coupon_id);
        cJSON_AddStringToObject(d, "kind", a->c.percent ? "percent_off" : "amount_off");
        json_add_i64(d, "amount", a->amount);
        cJSON_AddItemToObject(d, "lines", lines_array(a->parts, req->nlines));
    }
    cJSON *refused = cJSON_AddArrayToObject(o, "coupons_refused");
    for (size_t k = 0; k < p->nrefused; k++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddItemToArray(refused, f);
        cJSON_AddStringToObject(f, "coupon_id", p->refused[k].coupon_id);
        cJSON_AddStringToObject(f, "code", p->refused[k].code);
        cJSON_AddStringToObject(f, "message", p->refused[k].message);
    }
    json_add_i64(o, "subtotal", p->subtotal);
    json_add_i64(o, "discount", p->discount);
    cJSON *pts = cJSON_AddObjectToObject(o, "points");
    json_add_i64(pts, "requested", p->points_requested);
    json_add_i64(pts, "spent", p->points_spent);
    json_add_i64(pts, "value", p->points_value);
    if (p->capped_by)
        cJSON_AddStringToObject(pts, "capped_by", p->capped_by);
    else
        cJSON_AddNullToObject(pts, "capped_by");
    if (p->points_offline_limit >= 0)
        json_add_i64(pts, "offline_limit", p->points_offline_limit);
    else
        cJSON_AddNullToObject(pts, "offline_limit");
    json_add_i64(pts, "earned", p->points_earned);
    if (p->rl.has_points)
        cJSON_AddStringToObject(pts, "campaign_id", p->rl.points_campaign);
    else
        cJSON_AddNullToObject(pts, "campaign_id");
    json_add_i64(o, "total", p->total);
    if (p->guide[0]) {
        cJSON *c = cJSON_AddObjectToObject(o, "commission");
        cJSON_AddStringToObject(c, "guide_id", p->guide);
        json_add_i64(c, "amount", p->commission);
        if (p->rl.has_commission)
            cJSON_AddStringToObject(c, "campaign_id", p->rl.commission_campaign);
        else
            cJSON_AddNullToObject(c, "campaign_id");
    } else {
        cJSON_AddNullToObject(o, "commission");
    }
    return o;
}

static ml_err next_sale_id(struct ml_ctx *ctx, char *out, size_t len)
{
    int64_t no = 0;
    if (state_get_i64(ctx->db, "next_sale_no", 1, &no) != ML_OK ||
        state_set_i64(ctx->db, "next_sale_no", no + 1) != ML_OK)
        return ML_STORAGE;
    snprintf(out, len, "%s-%s-%06lld", ctx->cfg->store, ctx->cfg->terminal, (long long)no);
    return ML_OK;
}

static ml_err emit(struct ml_ctx *ctx, int64_t now, const char *type, cJSON *body)
{
    if (body == NULL)
        return ML_NOMEM;
    return outbox_append(ctx->db, ctx->cfg->store, ctx->cfg->terminal, now, type, body);
}

static ml_err record(struct ml_ctx *ctx, const struct checkout_req *req, struct priced *p,
                     const char *sale_id, const cJSON *sale, int64_t now, struct ml_refusal *r)
{
    struct db *db = ctx->db;
    char *doc = json_print(sale);
    if (doc == NULL)
        return ML_NOMEM;
    /* The sale.completed event carries the same text, printed once. */
    cJSON *event_body = cJSON_CreateRaw(doc);
    if (event_body == NULL) {
        free(doc);
        return ML_NOMEM;
    }
    struct ledger_sale row = {.sale_id = sale_id,
                              .terminal = ctx->cfg->terminal,
                              .member_id = p->has_member ? p->m.member_id : NULL,
                              .guide_id = p->guide[0] ? p->guide : NULL,
                              .guide_source = p->guide_source,
                              .subtotal = p->subtotal,
                              .discount = p->discount,
                              .points_value = p->points_value,
                              .total = p->total,
                              .points_earned = p->points_earned,
                              .points_spent = p->points_spent,
                              .commission = p->commission,
                              .created_at = now};
    if (ledger_add_sale(db, &row, doc) != ML_OK) {
        cJSON_Delete(event_body);
        return ML_STORAGE;
    }
    ml_err err = emit(ctx, now, "sale.completed", event_body);
    if (err != ML_OK)
        return err;

    for (size_t i = 0; i < req->nlines; i++) {
        const struct line *ln = &req->lines[i];
        struct ledger_line l = {.sku = ln->sku,
                                .category = ln->category,
                                .qty = ln->qty,
                                .unit_price = ln->unit_price,
                                .gross = ln->gross,
                                .discount = ln->discount,
                                .points_value = ln->points_value,
                                .net = ln->net,
                                .points_earned = ln->points_earned,
                                .points_spent = ln->points_spent,
                                .commission_bp = ln->commission_bp,
                                .commission = ln->commission};
        if (ledger_add_line(db, sale_id, (int64_t)i + 1, &l) != ML_OK)
            return ML_STORAGE;
        if (p->guide[0] && ledger_add_commission(db, p->guide, sale_id, (int64_t)i + 1,
                                                 ln->commission, ln->commission_bp, now) != ML_OK)
            return ML_STORAGE;
    }

    for (size_t k = 0; err == ML_OK && k < p->napplied; k++) {
        struct applied *a = &p->applied[k];
        cJSON *lines = lines_array(a->parts, req->nlines);
        char *lines_text = json_print(lines);
        int64_t use_no = 0;
        err = lines_text
                  ? coupon_redeem(db, &a->c, sale_id, a->amount, lines_text, now, p->rk.offline,
                                  p->rk.trusted ? p->rk.trusted_ms : 0, &use_no, r)
                  : ML_NOMEM;
        free(lines_text);
        if (err != ML_OK) {
            cJSON_Delete(lines);
            break;
        }
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "coupon_id", a->c.coupon_id);
        cJSON_AddStringToObject(ev, "sale_id", sale_id);
        json_add_i64(ev, "use_no", use_no);
        json_add_i64(ev, "amount", a->amount);
        cJSON_AddItemToObject(ev, "lines", lines);
        if (a->c.member_id[0])
            cJSON_AddStringToObject(ev, "member_id", a->c.member_id);
        else
            cJSON_AddNullToObject(ev, "member_id");
        cJSON_AddBoolToObject(ev, "offline_ok", a->c.offline_ok);
        cJSON_AddBoolToObject(ev, "offline", p->rk.offline);
        if (p->rk.trusted)
            json_add_i64(ev, "trusted_at", p->rk.trusted_ms);
        else
            cJSON_AddNullToObject(ev, "trusted_at");
        err = emit(ctx, now, "coupon.redeemed", ev);
    }
    if (err == ML_OK && p->has_member && (p->points_earned || p->points_spent)) {
        if (p->points_spent)
            err = member_add_points(db, p->m.member_id, sale_id, "spend", -p->points_spent, now);
        if (err == ML_OK && p->points_earned)
            err = member_add_points(db, p->m.member_id, sale_id, "earn", p->points_earned, now);
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "member_id", p->m.member_id);
        cJSON_AddStringToObject(ev, "sale_id", sale_id);
        cJSON_AddStringToObject(ev, "reason", "sale");
        json_add_i64(ev, "earned", p->points_earned);
        json_add_i64(ev, "spent", p->points_spent);
        json_add_i64(ev, "delta", p->points_earned - p->points_spent);
        if (err == ML_OK)
            err = emit(ctx, now, "points.changed", ev);
        else
            cJSON_Delete(ev);
    }
    if (err == ML_OK && p->guide[0]) {
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "guide_id", p->guide);
        cJSON_AddStringToObject(ev, "sale_id", sale_id);
        cJSON_AddStringToObject(ev, "source", p->guide_source);
        cJSON_AddStringToObject(ev, "reason", "sale");
        json_add_i64(ev, "amount", p->commission);
        cJSON *lines = cJSON_AddArrayToObject(ev, "lines");
        for (size_t i = 0; i < req->nlines; i++) {
            cJSON *l = cJSON_CreateObject();
            cJSON_AddItemToArray(lines, l);
            json_add_i64(l, "line_no", (int64_t)i + 1);
            cJSON_AddStringToObject(l, "category", req->lines[i].category);
            json_add_i64(l, "net", req->lines[i].net);
            json_add_i64(l, "rate_bp", req->lines[i].commission_bp);
            json_add_i64(l, "commission", req->lines[i].commission);
        }
        err = emit(ctx, now, "commission.recorded", ev);
    }
    return err;
}

ml_err checkout_run(struct ml_ctx *ctx, const struct checkout_req *req_in, cJSON **ret_sale,
                    struct ml_refusal *r)
{
    struct priced p;
    memset(&p, 0, sizeof(p));
    int64_t now = ctx->now_ms();
    char sale_id[CONFIG_ID_MAX * 2 + 24];
    cJSON *sale = NULL;
    /* Pricing writes per-line results into the request; work on a copy. */
    struct checkout_req *req = malloc(sizeof(*req));
    ml_err err = ML_NOMEM;
    if (req == NULL)
        goto out;
    memcpy(req, req_in, sizeof(*req));
    err = price(ctx, req, now, &p, r);
    if (err != ML_OK)
        goto out;
    if (!req->dry_run) {
        err = next_sale_id(ctx, sale_id, sizeof(sale_id));
        if (err != ML_OK)
            goto out;
    }
    err = ML_NOMEM;
    sale = sale_json(ctx, req, &p, req->dry_run ? NULL : sale_id, now);
    if (sale == NULL)
        goto out;
    err = ML_OK;
    if (!req->dry_run)
        err = record(ctx, req, &p, sale_id, sale, now, r);
out:
    priced_release(&p);
    free(req);
    if (err != ML_OK) {
        cJSON_Delete(sale);
        if (r != NULL && r->code == NULL)
            ml_refuse(r, err, err == ML_STORAGE ? 503 : 500,
                      err == ML_STORAGE ? "storage_error" : "internal_error",
                      "the sale could not be %s: %s", req_in->dry_run ? "priced" : "recorded",
                      ml_strerror(err));
        return err;
    }
    *ret_sale = sale;
    return ML_OK;
}
