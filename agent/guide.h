/*
 * guide: the store guides (导购) HQ told this store about: the guides table, the only module
 * whose SQL names it. A guide is attributed sales by their card or by a member's binding.
 */
#ifndef ML_GUIDE_H
#define ML_GUIDE_H

#include <stdint.h>

#include "db.h"
#include "fact.h"
#include "ml_err.h"

struct guide {
    char guide_id[65];
    char name[65];
    int active;
};

/* ML_NOENTRY when unknown, ML_STORAGE. */
ml_err guide_get(struct db *db, const char *guide_id, struct guide *ret);

/* HQ's guide.upsert, version-guarded (*ret_applied = 0: older or equal). ML_STORAGE. */
ml_err guide_apply_upsert(struct db *db, const char *guide_id, const struct fact_guide *g,
                          int64_t version, int *ret_applied);

/* Guides this store knows; -1 when it cannot be read. */
int64_t guide_count(struct db *db);

#endif
