/*
 * refund: reverses a sale's lines exactly once (POST /v1/sales/{id}/refund, docs/api.md).
 *
 * Each sale line carries a refund id once refunded; a line with one is never reversed again.
 * Points earned on the refunded lines are taken back, points spent on them returned,
 * commission entries reversed, and a coupon whose every discounted line is now refunded is
 * given back when its campaign says so ("coupons": {"restore_on_refund": true}). The ledger
 * rows and their outbox events are written in the caller's transaction.
 */
#ifndef ML_REFUND_H
#define ML_REFUND_H

#include <cjson/cJSON.h>

#include "ctx.h"
#include "ml_err.h"

/*
 * Refunds the lines listed in body {"lines":[n,...]} (absent or NULL body: every line not yet
 * refunded). On ML_OK *ret_refund is the answer (the caller's). ML_NOENTRY sale_not_found,
 * ML_PARSE invalid_request, ML_REFUSED already_refunded (a line was refunded before),
 * ML_STORAGE storage_error: r says which.
 */
ml_err refund_run(struct ml_ctx *ctx, const char *sale_id, const cJSON *body, cJSON **ret_refund,
                  struct ml_refusal *r);

#endif
