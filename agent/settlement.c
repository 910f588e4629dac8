/* settlement: HQ's settlement notices; see settlement.h. */
#include "settlement.h"

#include <stdlib.h>

#include "jsonutil.h"
#include "log.h"

ml_err settlement_apply(struct db *db, const char *notice_id, const struct fact_settlement *n,
                        const cJSON *doc, int *ret_applied)
{
    static const char sql[] =
        "INSERT OR IGNORE INTO settlements (notice_id, coupon_id, sale_id, amount, doc, "
        "created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))";
    char *text = json_print(doc);
    if (text == NULL)
        return ML_NOMEM;
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL) {
        free(text);
        return ML_STORAGE;
    }
    db_bind_text(db, s, 1, notice_id);
    db_bind_text(db, s, 2, n->coupon_id);
    db_bind_text(db, s, 3, n->sale_id);
    db_bind_i64(db, s, 4, n->amount);
    db_bind_text_owned(db, s, 5, text);
    if (db_run(db, s) != ML_OK)
        return ML_STORAGE;
    *ret_applied = db_changes(db) > 0;
    if (*ret_applied)
        log_warn("settlement: HQ booked coupon %s of sale %s (%lld) as an overage: it was "
                 "redeemed first elsewhere",
                 n->coupon_id, n->sale_id, (long long)n->amount);
    return ML_OK;
}

int64_t settlement_count(struct db *db)
{
    static const char sql[] = "SELECT count(*) FROM settlements";
    return db_count(db, sql);
}
