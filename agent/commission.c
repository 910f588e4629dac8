/* commission: per-guide statements from the ledger's commission entries; see commission.h. */
#include "commission.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "day.h"
#include "jsonutil.h"
#include "guide.h"
#include "ledger.h"

static ml_err storage(struct ml_ctx *ctx, struct ml_refusal *r)
{
    return ml_refuse(r, ML_STORAGE, 503, "storage_error", "cannot read the commissions: %s",
                     db_errmsg(ctx->db));
}

ml_err commission_report(struct ml_ctx *ctx, const char *guide_id, const char *from, const char *to,
                         cJSON **ret, struct ml_refusal *r)
{
    char today[DAY_TEXT_LEN + 1];
    day_of(ctx->now_ms(), today);
    if (from == NULL)
        from = today;
    if (to == NULL)
        to = today;
    int64_t fd, td;
    if (day_parse(from, 1970, 9999, &fd) != 0 || day_parse(to, 1970, 9999, &td) != 0)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "'from' and 'to' must be dates as YYYY-MM-DD");
    if (td < fd || td - fd >= COMMISSION_DAYS_MAX)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "'to' must not be before 'from', and the range at most %d days",
                         COMMISSION_DAYS_MAX);
    struct guide g;
    ml_err err = guide_get(ctx->db, guide_id, &g);
    if (err == ML_NOENTRY)
        return ml_refuse(r, ML_NOENTRY, 404, "guide_not_found", "guide %s is not known", guide_id);
    if (err != ML_OK)
        return storage(ctx, r);

    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "guide_id", g.guide_id);
    cJSON_AddStringToObject(o, "name", g.name);
    cJSON_AddStringToObject(o, "from", from);
    cJSON_AddStringToObject(o, "to", to);
    int64_t total = 0;
    int truncated = 0;
    cJSON *days = cJSON_CreateArray();
    if (ledger_commission_days(ctx->db, guide_id, from, to, days, &total) != ML_OK)
        goto fail;
    json_add_i64(o, "total", total);
    cJSON_AddItemToObject(o, "days", days);
    days = NULL;
    cJSON *sales = cJSON_AddArrayToObject(o, "sales");
    if (ledger_commission_sales(ctx->db, guide_id, from, to, COMMISSION_SALES_MAX, sales,
                                &truncated) != ML_OK)
        goto fail;
    cJSON_AddBoolToObject(o, "truncated", truncated);
    *ret = o;
    return ML_OK;
fail:
    cJSON_Delete(days);
    cJSON_Delete(o);
    return storage(ctx, r);
}
