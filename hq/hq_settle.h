/*
 * hq_settle: coupons redeemed more often than they may be (docs/hq.md, "Settlement").
 *
 * Offline, two stores (or two terminals of one store whose store broker is down) can both
 * redeem the same single-use coupon: each store database refuses a second use, but only HQ
 * sees both. When a coupon.redeemed event arrives, its coupon's live redemptions are put in
 * order: the trusted time the terminal stamped (`trusted_at`, else its wall clock), then
 * store and terminal id (ties), then event id. The first `uses` of them (HQ's own grant says
 * how many; 1 when HQ never granted the coupon) stand; every later one is a conflict,
 * booked once in the `conflicts` table as an overage against the coupon's campaign. For each
 * new conflict HQ signs and stores, in the same transaction, a settlement.notice for the
 * losing store and a deny.upsert (coupon, redeemed_elsewhere) for every store, so the coupon
 * is refused everywhere from then on. Without a signing key the conflicts are still booked
 * and reported; no message is sent.
 *
 * It owns the tables coupon_terms (the uses and campaign of each coupon HQ granted) and
 * conflicts (the overages booked); hq_settle.c is the only file whose SQL names them.
 *
 * A hq_settle belongs to the serve thread. The messages it stores wait in it until the
 * caller has committed and publishes them (then clears), or rolled back (then truncates).
 */
#ifndef ML_HQ_SETTLE_H
#define ML_HQ_SETTLE_H

#include <cjson/cJSON.h>
#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#include "hq_config.h"
#include "hq_push.h"
#include "hq_store.h"
#include "ml_err.h"

struct hq_settle;

/* Borrows cfg and key (NULL: book conflicts, send nothing). */
ml_err hq_settle_new(const struct hq_config *cfg, EVP_PKEY *key, const char *kid,
                     struct hq_settle **ret_settle);
void hq_settle_free(struct hq_settle *s); /* NULL-safe */

/*
 * Inside the caller's transaction, right after a coupon.redeemed event was stored (with its
 * trusted time, hq_store_put_redemption()): books the coupon's conflicts as above. Returns
 * ML_OK, ML_STORAGE or ML_NOMEM; *ret_conflicts counts the new conflicts.
 */
ml_err hq_settle_redeemed(struct hq_settle *s, struct hq_store *st, const char *coupon_id,
                          int64_t now_ms, int *ret_conflicts);

/* Messages stored so far and not yet cleared, in order. */
size_t hq_settle_count(const struct hq_settle *s);
struct hq_push_msg *hq_settle_msg(struct hq_settle *s, size_t i);

/* Forgets messages from index n on (their savepoint was rolled back). */
void hq_settle_truncate(struct hq_settle *s, size_t n);

/* Forgets every message (published, or their transaction rolled back). */
void hq_settle_clear(struct hq_settle *s);

/* Remembers a coupon's uses and campaign from a coupon.grant body HQ is about to send, in
 * the push's transaction (hq_send.c, after hq_push_prepare). ML_STORAGE only. */
ml_err hq_settle_note_grant(struct hq_store *st, const cJSON *body);

/* ---- rows for the conflicts report (hq_report.h; struct hq_rows: hq_store.h) ------------ */

/* Each conflict whose losing redemption's local day is in [from, to], by day, time, coupon
 * and event id. */
struct hq_conflict_row {
    const char *day, *coupon_id;
    const char *campaign_id; /* NULL: the coupon is in no campaign */
    const char *store, *terminal, *sale_id;
    int64_t amount, at;
    const char *winner_store, *winner_terminal, *winner_sale_id;
    int64_t winner_at;
    const char *notice_id; /* NULL: booked without a signing key, no notice sent */
    int64_t detected_at;
};
ml_err hq_settle_conflict_rows(struct hq_store *st, const char *from, const char *to,
                               struct hq_rows *ret);
int hq_settle_conflict_next(struct hq_rows *r, struct hq_conflict_row *row);

/* The exposure per campaign over the same days: conflicts and their amount, by campaign
 * id, the coupons outside any campaign last (campaign_id NULL). */
struct hq_exposure_row {
    const char *campaign_id;
    int64_t conflicts, amount;
};
ml_err hq_settle_exposure_rows(struct hq_store *st, const char *from, const char *to,
                               struct hq_rows *ret);
int hq_settle_exposure_next(struct hq_rows *r, struct hq_exposure_row *row);

#endif
