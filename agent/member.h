/*
 * member: read access to members and guides as HQ facts left them, plus the local
 * points ledger. Points available = HQ-confirmed balance + unconfirmed local deltas,
 * shown as zero when a refund reversal drives the sum below zero (HQ settles).
 */
#ifndef ML_MEMBER_H
#define ML_MEMBER_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "ml_err.h"
#include "store.h"

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

struct guide {
    char guide_id[65];
    char name[65];
    int active;
};

/* ML_NOENTRY when unknown. */
ml_err member_get(struct store *st, const char *member_id, int64_t now, struct member *ret);
ml_err member_find_by_phone(struct store *st, const uint8_t key[32], int64_t now,
                            struct member *ret);
int64_t member_points_available(const struct member *m);

/* The bound guide if the binding is in date at `now`, else NULL. */
const char *member_bound_guide(const struct member *m, int64_t now);

ml_err guide_get(struct store *st, const char *guide_id, struct guide *ret);

/* The identify answer: member, points, bound guide and usable coupons. NULL on failure. */
cJSON *member_identify_json(struct store *st, const struct member *m, int64_t now);

#endif
