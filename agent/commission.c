/* commission: per-guide statements from the commissions ledger. */
#include "commission.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "checkout.h"
#include "jsonutil.h"
#include "member.h"

/* Parses YYYY-MM-DD strictly; returns days since the epoch (proleptic Gregorian). */
static int parse_day(const char *s, long *ret_days)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
        sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
        return -1;
    /* Days from civil (H. Hinnant's algorithm). */
    long yy = y - (m <= 2);
    long era = yy / 400;
    long yoe = yy - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *ret_days = era * 146097 + doe - 719468;
    return 0;
}

ml_err commission_report(struct ml_ctx *ctx, const char *guide_id, const char *from, const char *to,
                         cJSON **ret, struct ml_refusal *r)
{
    static const char q_days[] =
        "SELECT day, sum(amount), count(DISTINCT sale_id) FROM commissions "
        "WHERE guide_id = ?1 AND day BETWEEN ?2 AND ?3 GROUP BY day ORDER BY day";
    static const char q_sales[] = "SELECT sale_id, min(day), sum(amount) FROM commissions "
                                  "WHERE guide_id = ?1 AND day BETWEEN ?2 AND ?3 GROUP BY sale_id "
                                  "ORDER BY min(created_at), sale_id LIMIT ?4";
    char today[11];
    checkout_day(ctx->now_ms(), today);
    if (from == NULL)
        from = today;
    if (to == NULL)
        to = today;
    long fd, td;
    if (parse_day(from, &fd) != 0 || parse_day(to, &td) != 0)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "'from' and 'to' must be dates as YYYY-MM-DD");
    if (td < fd || td - fd >= COMMISSION_DAYS_MAX)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "'to' must not be before 'from', and the range at most %d days",
                         COMMISSION_DAYS_MAX);
    struct guide g;
    ml_err err = guide_get(ctx->st, guide_id, &g);
    if (err == ML_NOENTRY)
        return ml_refuse(r, ML_NOENTRY, 404, "guide_not_found", "guide %s is not known", guide_id);
    if (err != ML_OK)
        return err;

    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "guide_id", g.guide_id);
    cJSON_AddStringToObject(o, "name", g.name);
    cJSON_AddStringToObject(o, "from", from);
    cJSON_AddStringToObject(o, "to", to);
    int64_t total = 0;
    cJSON *days = cJSON_CreateArray();
    sqlite3_stmt *s = store_stmt(ctx->st, q_days);
    if (s == NULL)
        goto fail;
    sqlite3_bind_text(s, 1, guide_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, from, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, to, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(s) == SQLITE_ROW) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToArray(days, d);
        cJSON_AddStringToObject(d, "day", (const char *)sqlite3_column_text(s, 0));
        json_add_i64(d, "amount", sqlite3_column_int64(s, 1));
        json_add_i64(d, "sales", sqlite3_column_int64(s, 2));
        total += sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    json_add_i64(o, "total", total);
    cJSON_AddItemToObject(o, "days", days);
    days = NULL;
    cJSON *sales = cJSON_AddArrayToObject(o, "sales");
    if ((s = store_stmt(ctx->st, q_sales)) == NULL)
        goto fail;
    sqlite3_bind_text(s, 1, guide_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, from, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, to, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 4, COMMISSION_SALES_MAX + 1);
    int n = 0;
    while (n < COMMISSION_SALES_MAX && sqlite3_step(s) == SQLITE_ROW) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(sales, e);
        cJSON_AddStringToObject(e, "sale_id", (const char *)sqlite3_column_text(s, 0));
        cJSON_AddStringToObject(e, "day", (const char *)sqlite3_column_text(s, 1));
        json_add_i64(e, "amount", sqlite3_column_int64(s, 2));
        n++;
    }
    int more = n == COMMISSION_SALES_MAX && sqlite3_step(s) == SQLITE_ROW;
    sqlite3_reset(s);
    cJSON_AddBoolToObject(o, "truncated", more);
    *ret = o;
    return ML_OK;
fail:
    cJSON_Delete(days);
    cJSON_Delete(o);
    return ML_STORAGE;
}
