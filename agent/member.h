/*
 * member: the members table and their points ledger (the only module whose SQL names them):
 * HQ's member.upsert and guide.bind facts in, members read back for identification and
 * checkout, the local points deltas of sales and refunds. Points available = HQ-confirmed
 * balance + unconfirmed local deltas, shown as zero when a refund reversal drives the sum
 * below zero (HQ settles).
 */
#ifndef ML_MEMBER_H
#define ML_MEMBER_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "db.h"
#include "fact.h"
#include "ml_err.h"

struct member {
    char member_id[65];
    char phone_masked[33];
    char tier[33];
    char plan[33]; /* empty: none */
    int64_t plan_until;
    int plan_active; /* plan set and plan_until > now */
    int64_t points_confirmed;
    int64_t points_pending; /* sum of unconfirmed local ledger deltas */
    char guide_id[65];      /* empty: not bound */
    int64_t guide_until;
    int blocked;
};

/* ML_NOENTRY when unknown. */
ml_err member_get(struct db *db, const char *member_id, int64_t now, struct member *ret);
ml_err member_find_by_phone(struct db *db, const uint8_t key[32], int64_t now, struct member *ret);
int64_t member_points_available(const struct member *m);

/* The bound guide if the binding is in date at `now`, else NULL. */
const char *member_bound_guide(const struct member *m, int64_t now);

/* The identify answer: member, points, bound guide and usable coupons. NULL on failure. */
cJSON *member_identify_json(struct db *db, const struct member *m, int64_t now);

/* HQ's member.upsert, version-guarded (*ret_applied = 0: older or equal, nothing changed); a
 * newer fact takes the phone key over from a member that held it. Inside the caller's
 * transaction. ML_STORAGE. */
ml_err member_apply_upsert(struct db *db, const char *member_id, const struct fact_member *m,
                           int64_t version, int *ret_applied);

/* HQ's guide.bind under the binding's own version. ML_NOENTRY member_not_found (404 in r) for
 * a member this store does not know yet; ML_STORAGE. */
ml_err member_apply_bind(struct db *db, const char *member_id, const struct fact_bind *b,
                         int64_t version, int *ret_applied, struct ml_refusal *r);

/* A points delta of member_id for sale_id (reason "earn", "spend" or "refund"), pending until
 * HQ's balance includes it; inside the caller's transaction. ML_STORAGE. */
ml_err member_add_points(struct db *db, const char *member_id, const char *sale_id,
                         const char *reason, int64_t delta, int64_t now);

/* Members this store knows; -1 when it cannot be read. */
int64_t member_count(struct db *db);

#endif
