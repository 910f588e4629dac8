/*
 * checkout: quote and commit a sale.
 *
 * The computation, in order (docs/api.md explains it to integrators):
 *   1. lines: gross = qty x unit_price;
 *   2. coupons in request order: a denied coupon (deny.h) or an unusable one refuses the
 *      sale; each other discounts the still-unpaid amount of its eligible lines, allocated
 *      over them by largest remainder, unless an offline cap (risk.h) leaves it out of the
 *      sale (listed in coupons_refused with the cap's code);
 *   3. points redemption: capped by points available, offline by the points margin, and by
 *      the campaign's share of the bill, allocated over all lines;
 *   4. net per line = gross - discounts - points value; points earned on the total net
 *      (half-even), allocated over lines; commission per line at its category rate.
 * A commit writes the sale, its lines, redemptions and commission entries (ledger.h), the
 * member's points deltas (member.h) and their outbox events, all in the caller's
 * transaction. Refunds are refund.h's.
 */
#ifndef ML_CHECKOUT_H
#define ML_CHECKOUT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "ml_err.h"

#define CHECKOUT_LINES_MAX 200
#define CHECKOUT_COUPONS_MAX 10
#define CHECKOUT_QTY_MAX 9999
#define CHECKOUT_PRICE_MAX INT64_C(1000000000) /* minor units per unit */
#define CHECKOUT_SKU_MAX 64
#define CHECKOUT_CATEGORY_MAX 32
#define CHECKOUT_POINTS_MAX INT64_C(1000000000)
#define CHECKOUT_ID_MAX 64
/* Largest sale: keeps every amount and points figure exact in JSON (below 2^53). */
#define CHECKOUT_SUBTOTAL_MAX INT64_C(1000000000000)

struct checkout_req;

/* Validates a checkout body. Caller frees with checkout_req_free(). */
ml_err checkout_parse(const cJSON *body, const char *terminal, struct checkout_req **ret,
                      struct ml_refusal *r);
void checkout_req_free(struct checkout_req *req);
int checkout_is_dry_run(const struct checkout_req *req);

/*
 * Prices the sale and, unless it is a dry run, records it (caller's transaction).
 * On ML_OK *ret_sale is the answer (caller deletes it).
 */
ml_err checkout_run(struct ml_ctx *ctx, const struct checkout_req *req, cJSON **ret_sale,
                    struct ml_refusal *r);

#endif
