/*
 * ledger: the store's record of what it sold, the only module whose SQL names its tables:
 *
 *   sales          one row per sale, with the answer checkout gave as its document
 *   sale_lines     the lines of a sale, each marked with its refund once refunded
 *   redemptions    which sale took which use of a coupon (coupon.h moves the coupon itself)
 *   commissions    a guide's commission entries, sales and refund reversals, by local day
 *
 * A sale's points deltas are the member's (member.h owns the points ledger).
 *
 * Writes run inside the caller's transaction (checkout and refund, with their outbox events);
 * every function returns ML_STORAGE when SQLite fails (db_errmsg() says why) and logs nothing.
 */
#ifndef ML_LEDGER_H
#define ML_LEDGER_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "day.h"
#include "ml_err.h"

#define LEDGER_LINES_MAX 200 /* lines of one sale (CHECKOUT_LINES_MAX) */
#define LEDGER_ID_MAX 64     /* member, guide, coupon ids */
#define LEDGER_CATEGORY_MAX 32

/* ---- writing a sale ---------------------------------------------------------------------- */

struct ledger_sale {
    const char *sale_id, *terminal;
    const char *member_id; /* NULL: anonymous */
    const char *guide_id;  /* NULL: none */
    const char *guide_source;
    int64_t subtotal, discount, points_value, total, points_earned, points_spent, commission;
    int64_t created_at;
};

struct ledger_line {
    const char *sku, *category;
    int64_t qty, unit_price, gross, discount, points_value, net, points_earned, points_spent;
    int64_t commission_bp, commission;
};

/* The sale row; doc is the sale's answer text, taken over (freed) in every case. */
ml_err ledger_add_sale(struct db *db, const struct ledger_sale *s, char *doc);
ml_err ledger_add_line(struct db *db, const char *sale_id, int64_t line_no,
                       const struct ledger_line *l);

/* A commission entry of guide_id for a line (negative for a refund reversal), on the local
 * day of now. */
ml_err ledger_add_commission(struct db *db, const char *guide_id, const char *sale_id,
                             int64_t line_no, int64_t amount, int64_t rate_bp, int64_t now);

/*
 * Records that sale_id took a use of coupon_id: the lowest use number no live redemption
 * holds (a refund may have freed any), into *ret_use_no. offline and trusted_at (0: no trusted
 * time) feed the offline caps (risk.h). ML_REFUSED when that use is held after all (the UNIQUE
 * index of live uses refused it), ML_STORAGE.
 */
ml_err ledger_add_redemption(struct db *db, const char *coupon_id, const char *sale_id,
                             int64_t amount, const char *lines_json, int64_t now, int offline,
                             int64_t trusted_at, int64_t *ret_use_no);

/* Marks that redemption restored (a refund gave the use back). ML_STORAGE also when there is
 * no such live redemption. */
ml_err ledger_restore_redemption(struct db *db, const char *coupon_id, int64_t use_no,
                                 const char *sale_id);

/* ---- refunding --------------------------------------------------------------------------- */

struct ledger_refund_line {
    int64_t line_no, net, points_earned, points_spent, commission, commission_bp;
    char category[LEDGER_CATEGORY_MAX + 1];
    int refunded; /* before this refund */
    int selected; /* in this refund (the caller's) */
};

struct ledger_refund_sale {
    char member[LEDGER_ID_MAX + 1]; /* "": anonymous */
    char guide[LEDGER_ID_MAX + 1];  /* "": none */
    char guide_source[16];
    int64_t nrefunds; /* refunds so far */
    struct ledger_refund_line lines[LEDGER_LINES_MAX];
    size_t n;
};

/* What a refund needs of sale_id. ML_NOENTRY when there is no such sale. */
ml_err ledger_refund_sale(struct db *db, const char *sale_id, struct ledger_refund_sale *ret);

/* Marks line line_no of sale_id refunded by refund_id. ML_STORAGE also when it already was. */
ml_err ledger_refund_line(struct db *db, const char *sale_id, int64_t line_no,
                          const char *refund_id);

/* Adds amount to the money refunded of sale_id. */
ml_err ledger_add_refunded(struct db *db, const char *sale_id, int64_t amount);

/* A live (not restored) redemption of a sale. */
struct ledger_redemption {
    char coupon_id[LEDGER_ID_MAX + 1];
    int64_t use_no;
    cJSON *lines; /* the line numbers it discounted; owned, release with ledger_redemptions_free */
};

/* The live redemptions of sale_id, at most max, into ret[]; *ret_n how many. ML_STORAGE also
 * for a lines record that does not read back as an array (damage). */
ml_err ledger_sale_redemptions(struct db *db, const char *sale_id, struct ledger_redemption *ret,
                               size_t max, size_t *ret_n);
void ledger_redemptions_free(struct ledger_redemption *r, size_t n);

/* ---- reading ----------------------------------------------------------------------------- */

/* The sale as checkout answered it, plus refunded_amount and refunded_lines. ML_NOENTRY. */
ml_err ledger_sale_json(struct db *db, const char *sale_id, cJSON **ret);

/* {"sales": [...]}: the newest `limit` sales, newest first. */
ml_err ledger_sales_json(struct db *db, int64_t limit, cJSON **ret);

/* Sales created at or after since_ms (0: all); -1 when it cannot be read. */
int64_t ledger_sales_count(struct db *db, int64_t since_ms);

/* A guide's commission over the local days [from, to]: per day {day, amount, sales} appended
 * to days and their sum in *ret_total; then per sale {sale_id, day, amount}, in the order they
 * were made, at most max appended to sales, *ret_truncated = 1 when there were more. */
ml_err ledger_commission_days(struct db *db, const char *guide_id, const char *from, const char *to,
                              cJSON *days, int64_t *ret_total);
ml_err ledger_commission_sales(struct db *db, const char *guide_id, const char *from,
                               const char *to, int max, cJSON *sales, int *ret_truncated);

/* Offline redemptions (offline = 1, not restored) of member_id's sales with a trusted time in
 * [start, end); and the value of all offline redemptions with a trusted time at or after since. */
ml_err ledger_offline_redemptions(struct db *db, const char *member_id, int64_t start, int64_t end,
                                  int64_t *ret);
ml_err ledger_offline_value_since(struct db *db, int64_t since, int64_t *ret);

#endif
