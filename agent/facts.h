/*
 * facts: the one path by which HQ data enters the store database.
 *
 * facts_apply() applies one HQ fact (a JSON body as HQ sends it, docs/facts.md) inside the
 * caller's transaction: checked by the schema both ends share (sync/wire/fact.h), written by
 * the module that owns its table (member, guide, rules, coupon, deny, settlement). Facts are
 * versioned: an older or equal version never overwrites a newer one (the call succeeds and
 * changes nothing, *ret_applied = 0).
 */
#ifndef ML_FACTS_H
#define ML_FACTS_H

#include <cjson/cJSON.h>

#include "db.h"
#include "fact.h"
#include "ml_err.h"

/* kind: "member.upsert", "guide.upsert", "guide.bind", "campaign.upsert",
 * "campaign.withdraw", "coupon.grant", "coupon.revoke", "deny.upsert", "settlement.notice".
 * ML_PARSE (400 invalid_request in r) for an unknown kind or a body out of the schema,
 * ML_NOENTRY member_not_found for a binding of an unknown member, ML_STORAGE (503), ML_NOMEM. */
ml_err facts_apply(struct db *db, const char *kind, const cJSON *body, int *ret_applied,
                   struct ml_refusal *r);

#endif
