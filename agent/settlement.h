/*
 * settlement: HQ's settlement notices (docs/facts.md, "settlement.notice"): a redemption of
 * this store lost a cross-store conflict at HQ and was booked as an overage. The settlements
 * table is this module's; a notice is recorded once per notice_id and logged as a warning;
 * the sale itself stands.
 */
#ifndef ML_SETTLEMENT_H
#define ML_SETTLEMENT_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "db.h"
#include "fact.h"
#include "ml_err.h"

/* Records the notice notice_id (its checked fields, and doc, the whole body, as sent) inside
 * the caller's transaction; *ret_applied = 0 when it was recorded before. ML_STORAGE, ML_NOMEM. */
ml_err settlement_apply(struct db *db, const char *notice_id, const struct fact_settlement *n,
                        const cJSON *doc, int *ret_applied);

/* Notices recorded; -1 when it cannot be read. */
int64_t settlement_count(struct db *db);

#endif
