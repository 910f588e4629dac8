/*
 * facts: the one path by which HQ data enters the store database.
 *
 * Each function applies one HQ fact (a JSON body as HQ sends it, see docs/facts.md)
 * inside the caller's transaction. Facts are versioned: an older or equal version never
 * overwrites a newer one (the call succeeds and changes nothing, *ret_applied = 0).
 * Nothing else writes the members, guides, campaigns or coupons tables, except checkout
 * moving a coupon through its redemption states.
 */
#ifndef ML_FACTS_H
#define ML_FACTS_H

#include <cjson/cJSON.h>

#include "ml_err.h"
#include "store.h"

#define FACT_ID_MAX 64

/*
 * Member upsert. Body: member_id, phone_hmac (64 hex), phone_masked, tier, plan?,
 * plan_until?, points, points_version, status, version.
 */
ml_err facts_member_upsert(struct store *st, const cJSON *body, int *ret_applied,
                           struct ml_refusal *r);

/* Guide upsert. Body: guide_id, name, store?, status, version. */
ml_err facts_guide_upsert(struct store *st, const cJSON *body, int *ret_applied,
                          struct ml_refusal *r);

/* Guide binding of a member. Body: member_id, guide_id (null to unbind), until, version. */
ml_err facts_guide_bind(struct store *st, const cJSON *body, int *ret_applied,
                        struct ml_refusal *r);

/* Campaign upsert. Body: campaign_id, version, priority?, valid_from, valid_to, targets and
 * rules as in rules.h; validated before it is stored. */
ml_err facts_campaign_upsert(struct store *st, const cJSON *body, int *ret_applied,
                             struct ml_refusal *r);

/* Campaign withdrawal. Body: campaign_id, version. The campaign stops applying to sales;
 * its rules stay for refunds of the sales it already applied to. */
ml_err facts_campaign_withdraw(struct store *st, const cJSON *body, int *ret_applied,
                               struct ml_refusal *r);

/* Settlement notice: a redemption of this store lost a cross-store conflict at HQ and was
 * booked as an overage. Body: notice_id, coupon_id, sale_id, amount, version, and HQ's
 * details (winner, campaign_id) kept as sent. Recorded once per notice_id, logged. */
ml_err facts_settlement_notice(struct store *st, const cJSON *body, int *ret_applied,
                               struct ml_refusal *r);

/* Coupon grant. Body: coupon_id, member_id? (absent = bearer), campaign_id?, kind, value,
 * max_off?, min_spend?, categories?, valid_from, valid_to, uses?, offline_ok?, version. */
ml_err facts_coupon_grant(struct store *st, const cJSON *body, int *ret_applied,
                          struct ml_refusal *r);

/* Coupon revoke. Body: coupon_id, version. */
ml_err facts_coupon_revoke(struct store *st, const cJSON *body, int *ret_applied,
                           struct ml_refusal *r);

/* Dispatches on kind: "member.upsert", "guide.upsert", "guide.bind", "campaign.upsert",
 * "coupon.grant", "coupon.revoke", "campaign.withdraw", "settlement.notice", "deny.upsert"
 * (deny.h). Unknown kind: ML_PARSE. */
ml_err facts_apply(struct store *st, const char *kind, const cJSON *body, int *ret_applied,
                   struct ml_refusal *r);

#endif
