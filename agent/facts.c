/*
 * facts: HQ facts into the store database. fact_parse() (sync/wire/fact.h, the schema both
 * ends share) checks the body; the module owning the fact's table applies it, version-guarded:
 * every write is an upsert whose update arm fires only for a newer version, so replays and
 * reordering are safe.
 */
#include "facts.h"

#include "coupon.h"
#include "deny.h"
#include "guide.h"
#include "member.h"
#include "rules.h"
#include "settlement.h"

ml_err facts_apply(struct db *db, const char *kind, const cJSON *body, int *ret_applied,
                   struct ml_refusal *r)
{
    struct fact f;
    int applied = 0;
    ml_err err = fact_parse(kind, body, 0, &f, r);
    if (err != ML_OK)
        return err;
    switch (f.kind) {
    case FACT_MEMBER_UPSERT:
        err = member_apply_upsert(db, f.id, &f.u.member, f.version, &applied);
        break;
    case FACT_GUIDE_UPSERT:
        err = guide_apply_upsert(db, f.id, &f.u.guide, f.version, &applied);
        break;
    case FACT_GUIDE_BIND:
        err = member_apply_bind(db, f.id, &f.u.bind, f.version, &applied, r);
        break;
    case FACT_CAMPAIGN_UPSERT:
        err = rules_apply_campaign(db, f.id, &f.u.campaign, body, f.version, &applied);
        break;
    case FACT_CAMPAIGN_WITHDRAW:
        err = rules_apply_withdraw(db, f.id, f.version, &applied);
        break;
    case FACT_COUPON_GRANT:
        err = coupon_apply_grant(db, f.id, &f.u.grant, f.version, &applied);
        break;
    case FACT_COUPON_REVOKE:
        err = coupon_apply_revoke(db, f.id, f.version, &applied);
        break;
    case FACT_DENY_UPSERT:
        err = deny_apply(db, f.id, &f.u.deny, f.version, &applied);
        break;
    case FACT_SETTLEMENT_NOTICE:
        err = settlement_apply(db, f.id, &f.u.settlement, body, &applied);
        break;
    }
    if (err == ML_STORAGE)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error: %s", db_errmsg(db));
    if (err == ML_NOMEM)
        return ml_refuse(r, ML_NOMEM, 500, "internal_error", "out of memory");
    if (err == ML_OK && ret_applied != NULL)
        *ret_applied = applied;
    return err;
}
