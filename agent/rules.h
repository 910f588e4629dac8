/*
 * rules: campaign documents (points earning and redemption, guide commission, coupon
 * refund policy) and the choice of which campaign applies to a sale.
 *
 * Among the campaigns valid now that target this store, the member's tier and active
 * paid plan, the one with the highest priority wins for each rule kind (points,
 * commission); ties go to the later valid_from, then the smaller campaign_id.
 * The campaign JSON format is documented in docs/facts.md and checked by fact.h; this module
 * owns the campaigns table.
 */
#ifndef ML_RULES_H
#define ML_RULES_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "db.h"
#include "fact.h"
#include "ml_err.h"

#define RULES_CAMPAIGNS_MAX 2 /* documents kept per sale: the points and commission winners */

struct rules {
    int has_points;
    char points_campaign[65];
    int64_t earn_per_yuan;  /* points per 100 minor units of net amount */
    int64_t multiplier_bp2; /* tier_bp x plan_bp: the multiplier in units of 1/10000^2 */
    int64_t redeem_ppy;     /* points per yuan when paying with points; 0 = not allowed */
    int64_t redeem_max_bp;  /* largest share of the bill payable with points */

    int has_commission;
    char commission_campaign[65];
    int64_t commission_default_bp;
    cJSON *commission_categories; /* borrowed from docs[] */

    cJSON *docs[RULES_CAMPAIGNS_MAX];
    size_t ndocs;
};

/*
 * Picks the rules for a sale at `now` in `store_id` for a member of `tier` with the active
 * paid plan `plan` (either may be NULL: no member / no active plan). Fills *ret; release
 * with rules_free().
 */
ml_err rules_load(struct db *db, const char *store_id, int64_t now, const char *tier,
                  const char *plan, struct rules *ret);

/* Commission rate for a category: the category's rate, else the default, else 0. */
int64_t rules_commission_bp(const struct rules *rl, const char *category);

/* Whether coupons of `campaign_id` are given back when every line they discounted is
 * refunded ("coupons": {"restore_on_refund": true}); unknown campaign: no. ML_STORAGE when
 * the answer cannot be read (the caller must not guess). */
ml_err rules_coupon_restores(struct db *db, const char *campaign_id, int *ret_restores);

void rules_free(struct rules *rl);

/* HQ's campaign.upsert (doc is the whole checked body, stored as the campaign's document) and
 * campaign.withdraw, version-guarded (*ret_applied = 0: older or equal, nothing changed).
 * Inside the caller's transaction. ML_STORAGE, ML_NOMEM. */
ml_err rules_apply_campaign(struct db *db, const char *campaign_id, const struct fact_campaign *c,
                            const cJSON *doc, int64_t version, int *ret_applied);
ml_err rules_apply_withdraw(struct db *db, const char *campaign_id, int64_t version,
                            int *ret_applied);

/* Campaigns not withdrawn; -1 when it cannot be read. */
int64_t rules_campaign_count(struct db *db);

#endif
