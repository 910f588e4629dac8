/*
 * commission: a guide's commission statement over local calendar days: per-day totals
 * (sale entries minus refund reversals) and the sales behind them.
 */
#ifndef ML_COMMISSION_H
#define ML_COMMISSION_H

#include <cjson/cJSON.h>

#include "ctx.h"
#include "ml_err.h"

#define COMMISSION_DAYS_MAX 366   /* longest range one request may ask for */
#define COMMISSION_SALES_MAX 1000 /* sales listed; "truncated" says when there are more */

/* from/to: "YYYY-MM-DD", inclusive; NULL means today. */
ml_err commission_report(struct ml_ctx *ctx, const char *guide_id, const char *from, const char *to,
                         cJSON **ret, struct ml_refusal *r);

#endif
