/*
 * hq_report: read-only reports over the HQ database, for people (aligned tables, money
 * in yuan) or scripts (--json: one JSON object, money in minor units).
 *
 *   sales        per store: sales, total, refunded, net   (by the local day of the sale)
 *   commissions  per guide: commission (sales minus refund reversals, by the day each
 *                entry was recorded) and the number of sales behind it
 *   redemptions  one row per coupon redemption: coupon, store, terminal, amount, sale...
 *   conflicts    one row per redemption settled as an overage (hq_settle.h): the losing
 *                store/terminal/sale and amount, and the winner; then the exposure per
 *                campaign (conflicts and their total amount)
 *   status       per terminal: next_seq, max_seq, gaps, received; refused events
 *
 * Days are inclusive YYYY-MM-DD bounds in HQ's local time zone (TZ), of the years
 * HQ_REPORT_YEAR_MIN..MAX (day_parse() of lib/day.h checks them). The rows come from the
 * tables' owners (hq_store.h, hq_settle.h); this module only formats them. Functions write
 * to `out` and return ML_STORAGE on a SQLite error (message in errbuf); nothing is logged.
 */
#ifndef ML_HQ_REPORT_H
#define ML_HQ_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "hq_store.h"
#include "ml_err.h"

#define HQ_REPORT_YEAR_MIN 2000
#define HQ_REPORT_YEAR_MAX 2999

ml_err hq_report_sales(struct hq_store *st, const char *from, const char *to, int json, FILE *out,
                       char *errbuf, size_t errlen);
ml_err hq_report_commissions(struct hq_store *st, const char *from, const char *to, int json,
                             FILE *out, char *errbuf, size_t errlen);
ml_err hq_report_redemptions(struct hq_store *st, const char *from, const char *to, int json,
                             FILE *out, char *errbuf, size_t errlen);
/* Conflicts by the local day of the losing redemption. */
ml_err hq_report_conflicts(struct hq_store *st, const char *from, const char *to, int json,
                           FILE *out, char *errbuf, size_t errlen);
ml_err hq_report_status(struct hq_store *st, int json, FILE *out, char *errbuf, size_t errlen);

#endif
