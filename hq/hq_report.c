/*
 * hq_report: reports over the HQ database; see hq_report.h. Each report is one query;
 * redemptions are streamed row by row, so a long range never builds up in memory.
 */
#include "hq_report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonutil.h"

ml_err hq_report_check_day(const char *day)
{
    if (strlen(day) != HQ_DAY_LEN || day[4] != '-' || day[7] != '-')
        return ML_PARSE;
    for (int i = 0; i < HQ_DAY_LEN; i++)
        if (i != 4 && i != 7 && (day[i] < '0' || day[i] > '9'))
            return ML_PARSE;
    int y = (day[0] - '0') * 1000 + (day[1] - '0') * 100 + (day[2] - '0') * 10 + (day[3] - '0');
    int m = (day[5] - '0') * 10 + (day[6] - '0');
    int d = (day[8] - '0') * 10 + (day[9] - '0');
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 2000 || y > 2999 || m < 1 || m > 12 || d < 1)
        return ML_PARSE;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap) ? ML_OK : ML_PARSE;
}

void hq_report_today(char out[HQ_DAY_LEN + 1])
{
    time_t t = time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL || strftime(out, HQ_DAY_LEN + 1, "%Y-%m-%d", &tm) == 0)
        snprintf(out, HQ_DAY_LEN + 1, "1970-01-01");
}

/* Minor units as yuan, "-12.30". */
static const char *money(int64_t v, char buf[32])
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    snprintf(buf, 32, "%s%" PRIu64 ".%02" PRIu64, v < 0 ? "-" : "", a / 100, a % 100);
    return buf;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

static ml_err prepare(struct hq_store *st, const char *sql, sqlite3_stmt **ret, char *errbuf,
                      size_t errlen)
{
    if (sqlite3_prepare_v2(hq_store_db(st), sql, -1, ret, NULL) != SQLITE_OK) {
        snprintf(errbuf, errlen, "query failed: %s", hq_store_errmsg(st));
        return ML_STORAGE;
    }
    return ML_OK;
}

static ml_err step_failed(struct hq_store *st, char *errbuf, size_t errlen)
{
    snprintf(errbuf, errlen, "query failed: %s", hq_store_errmsg(st));
    return ML_STORAGE;
}

/* Prints a cJSON document on one line; takes ownership of `doc`. */
static ml_err print_json(cJSON *doc, FILE *out)
{
    char *text = doc ? json_print(doc) : NULL;
    cJSON_Delete(doc);
    if (text == NULL)
        return ML_NOMEM;
    fprintf(out, "%s\n", text);
    free(text);
    return ML_OK;
}

static cJSON *range_doc(const char *from, const char *to)
{
    cJSON *doc = cJSON_CreateObject();
    if (doc != NULL) {
        cJSON_AddStringToObject(doc, "from", from);
        cJSON_AddStringToObject(doc, "to", to);
    }
    return doc;
}

ml_err hq_report_sales(struct hq_store *st, const char *from, const char *to, int json, FILE *out,
                       char *errbuf, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    cJSON *doc = NULL, *rows = NULL;
    ml_err result = prepare(st,
                            "SELECT store, count(*), sum(total), sum(refunded) FROM sales"
                            " WHERE day BETWEEN ?1 AND ?2 GROUP BY store ORDER BY store",
                            &s, errbuf, errlen);
    if (result != ML_OK)
        goto out;
    sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
    if (json) {
        result = ML_NOMEM;
        if ((doc = range_doc(from, to)) == NULL ||
            (rows = cJSON_AddArrayToObject(doc, "stores")) == NULL)
            goto out;
    } else {
        fprintf(out, "sales %s .. %s\n%-20s %8s %14s %14s %14s\n", from, to, "store", "sales",
                "total", "refunded", "net");
    }
    int64_t n_all = 0, total_all = 0, refunded_all = 0;
    int rc;
    char m1[32], m2[32], m3[32];
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(s, 1), total = sqlite3_column_int64(s, 2),
                refunded = sqlite3_column_int64(s, 3);
        n_all += n;
        total_all += total;
        refunded_all += refunded;
        if (json) {
            cJSON *r = cJSON_CreateObject();
            if (r == NULL || !cJSON_AddItemToArray(rows, r)) {
                cJSON_Delete(r);
                result = ML_NOMEM;
                goto out;
            }
            cJSON_AddStringToObject(r, "store", col_text(s, 0));
            json_add_i64(r, "sales", n);
            json_add_i64(r, "total", total);
            json_add_i64(r, "refunded", refunded);
            json_add_i64(r, "net", total - refunded);
        } else {
            fprintf(out, "%-20s %8" PRId64 " %14s %14s %14s\n", col_text(s, 0), n, money(total, m1),
                    money(refunded, m2), money(total - refunded, m3));
        }
    }
    if (rc != SQLITE_DONE) {
        result = step_failed(st, errbuf, errlen);
        goto out;
    }
    if (json) {
        cJSON *t = cJSON_AddObjectToObject(doc, "total");
        if (t == NULL) {
            result = ML_NOMEM;
            goto out;
        }
        json_add_i64(t, "sales", n_all);
        json_add_i64(t, "total", total_all);
        json_add_i64(t, "refunded", refunded_all);
        json_add_i64(t, "net", total_all - refunded_all);
        result = print_json(doc, out);
        doc = NULL;
    } else {
        fprintf(out, "%-20s %8" PRId64 " %14s %14s %14s\n", "total", n_all, money(total_all, m1),
                money(refunded_all, m2), money(total_all - refunded_all, m3));
        result = ML_OK;
    }
out:
    cJSON_Delete(doc);
    sqlite3_finalize(s);
    return result;
}

ml_err hq_report_commissions(struct hq_store *st, const char *from, const char *to, int json,
                             FILE *out, char *errbuf, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    cJSON *doc = NULL, *rows = NULL;
    /* Sales are the entries without a refund; reversals lower the total on their own day. */
    ml_err result = prepare(st,
                            "SELECT guide_id, sum(amount),"
                            " count(DISTINCT CASE WHEN refund_id IS NULL THEN sale_id END)"
                            " FROM commission_entries WHERE day BETWEEN ?1 AND ?2"
                            " GROUP BY guide_id ORDER BY guide_id",
                            &s, errbuf, errlen);
    if (result != ML_OK)
        goto out;
    sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
    if (json) {
        result = ML_NOMEM;
        if ((doc = range_doc(from, to)) == NULL ||
            (rows = cJSON_AddArrayToObject(doc, "guides")) == NULL)
            goto out;
    } else {
        fprintf(out, "commissions %s .. %s\n%-20s %8s %14s\n", from, to, "guide", "sales",
                "commission");
    }
    int64_t sum = 0, n_all = 0;
    int rc;
    char m1[32];
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t amount = sqlite3_column_int64(s, 1), n = sqlite3_column_int64(s, 2);
        sum += amount;
        n_all += n;
        if (json) {
            cJSON *r = cJSON_CreateObject();
            if (r == NULL || !cJSON_AddItemToArray(rows, r)) {
                cJSON_Delete(r);
                result = ML_NOMEM;
                goto out;
            }
            cJSON_AddStringToObject(r, "guide_id", col_text(s, 0));
            json_add_i64(r, "commission", amount);
            json_add_i64(r, "sales", n);
        } else {
            fprintf(out, "%-20s %8" PRId64 " %14s\n", col_text(s, 0), n, money(amount, m1));
        }
    }
    if (rc != SQLITE_DONE) {
        result = step_failed(st, errbuf, errlen);
        goto out;
    }
    if (json) {
        json_add_i64(doc, "total", sum);
        result = print_json(doc, out);
        doc = NULL;
    } else {
        fprintf(out, "%-20s %8" PRId64 " %14s\n", "total", n_all, money(sum, m1));
        result = ML_OK;
    }
out:
    cJSON_Delete(doc);
    sqlite3_finalize(s);
    return result;
}

ml_err hq_report_redemptions(struct hq_store *st, const char *from, const char *to, int json,
                             FILE *out, char *errbuf, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    ml_err result = prepare(st,
                            "SELECT coupon_id, store, terminal, amount, sale_id, use_no, at,"
                            " restored_at FROM redemptions WHERE day BETWEEN ?1 AND ?2"
                            " ORDER BY at, coupon_id, event_id",
                            &s, errbuf, errlen);
    if (result != ML_OK)
        return result;
    sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
    if (json)
        fprintf(out, "{\"from\":\"%s\",\"to\":\"%s\",\"redemptions\":[", from, to);
    else
        fprintf(out, "redemptions %s .. %s\n%-24s %-10s %-10s %12s %-24s %4s %-19s %s\n", from, to,
                "coupon", "store", "terminal", "amount", "sale", "use", "at", "restored");
    int rc, first = 1;
    int64_t n = 0, sum = 0;
    char m1[32];
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t amount = sqlite3_column_int64(s, 3), use_no = sqlite3_column_int64(s, 5),
                at = sqlite3_column_int64(s, 6);
        int restored = sqlite3_column_type(s, 7) != SQLITE_NULL;
        n++;
        sum += amount;
        if (json) {
            cJSON *r = cJSON_CreateObject();
            if (r == NULL) {
                result = ML_NOMEM;
                goto out;
            }
            cJSON_AddStringToObject(r, "coupon_id", col_text(s, 0));
            cJSON_AddStringToObject(r, "store", col_text(s, 1));
            cJSON_AddStringToObject(r, "terminal", col_text(s, 2));
            json_add_i64(r, "amount", amount);
            cJSON_AddStringToObject(r, "sale_id", col_text(s, 4));
            json_add_i64(r, "use_no", use_no);
            json_add_i64(r, "at", at);
            cJSON_AddBoolToObject(r, "restored", restored);
            char *text = json_print(r);
            cJSON_Delete(r);
            if (text == NULL) {
                result = ML_NOMEM;
                goto out;
            }
            fprintf(out, "%s%s", first ? "" : ",", text);
            free(text);
        } else {
            char when[32] = "";
            time_t t = (time_t)(at / 1000);
            struct tm tm;
            if (localtime_r(&t, &tm) != NULL)
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
            fprintf(out, "%-24s %-10s %-10s %12s %-24s %4" PRId64 " %-19s %s\n", col_text(s, 0),
                    col_text(s, 1), col_text(s, 2), money(amount, m1), col_text(s, 4), use_no, when,
                    restored ? "yes" : "no");
        }
        first = 0;
    }
    if (rc != SQLITE_DONE) {
        result = step_failed(st, errbuf, errlen);
        if (json)
            fprintf(out, "]}\n"); /* keep stdout parseable; the exit status says it failed */
        goto out;
    }
    if (json)
        fprintf(out, "],\"count\":%" PRId64 ",\"total\":%" PRId64 "}\n", n, sum);
    else
        fprintf(out, "%" PRId64 " redemption(s), %s\n", n, money(sum, m1));
    result = ML_OK;
out:
    sqlite3_finalize(s);
    return result;
}

/* The exposure per campaign over the range: conflicts and their amount, a coupon outside
 * any campaign as campaign null / "(none)". */
static ml_err conflicts_by_campaign(struct hq_store *st, const char *from, const char *to, int json,
                                    FILE *out, char *errbuf, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    ml_err result = prepare(st,
                            "SELECT campaign_id, count(*), sum(amount) FROM conflicts"
                            " WHERE day BETWEEN ?1 AND ?2 GROUP BY campaign_id"
                            " ORDER BY campaign_id IS NULL, campaign_id",
                            &s, errbuf, errlen);
    if (result != ML_OK)
        return result;
    sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
    if (json)
        fprintf(out, "\"campaigns\":[");
    else
        fprintf(out, "\nexposure per campaign\n%-24s %10s %14s\n", "campaign", "conflicts",
                "amount");
    int rc, first = 1;
    char m1[32];
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int none = sqlite3_column_type(s, 0) == SQLITE_NULL;
        int64_t n = sqlite3_column_int64(s, 1), amount = sqlite3_column_int64(s, 2);
        if (json) {
            cJSON *r = cJSON_CreateObject();
            if (r == NULL) {
                result = ML_NOMEM;
                goto out;
            }
            if (none)
                cJSON_AddNullToObject(r, "campaign_id");
            else
                cJSON_AddStringToObject(r, "campaign_id", col_text(s, 0));
            json_add_i64(r, "conflicts", n);
            json_add_i64(r, "amount", amount);
            char *text = json_print(r);
            cJSON_Delete(r);
            if (text == NULL) {
                result = ML_NOMEM;
                goto out;
            }
            fprintf(out, "%s%s", first ? "" : ",", text);
            free(text);
        } else {
            fprintf(out, "%-24s %10" PRId64 " %14s\n", none ? "(none)" : col_text(s, 0), n,
                    money(amount, m1));
        }
        first = 0;
    }
    result = rc == SQLITE_DONE ? ML_OK : step_failed(st, errbuf, errlen);
out:
    if (json)
        fprintf(out, "],");
    sqlite3_finalize(s);
    return result;
}

ml_err hq_report_conflicts(struct hq_store *st, const char *from, const char *to, int json,
                           FILE *out, char *errbuf, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    ml_err result = prepare(st,
                            "SELECT day, coupon_id, campaign_id, store, terminal, sale_id, amount,"
                            " at, winner_store, winner_terminal, winner_sale_id, winner_at,"
                            " notice_id, detected_at FROM conflicts WHERE day BETWEEN ?1 AND ?2"
                            " ORDER BY day, at, coupon_id, event_id",
                            &s, errbuf, errlen);
    if (result != ML_OK)
        return result;
    sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
    if (json)
        fprintf(out, "{\"from\":\"%s\",\"to\":\"%s\",\"conflicts\":[", from, to);
    else
        fprintf(out,
                "conflicts %s .. %s (later redemptions of a coupon past its uses)\n"
                "%-10s %-24s %-24s %-10s %-10s %-24s %12s  %-10s %-10s %s\n",
                from, to, "day", "coupon", "campaign", "store", "terminal", "sale", "amount",
                "won by", "terminal", "sale");
    int rc, first = 1;
    int64_t n = 0, sum = 0;
    char m1[32];
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t amount = sqlite3_column_int64(s, 6);
        int no_campaign = sqlite3_column_type(s, 2) == SQLITE_NULL;
        n++;
        sum += amount;
        if (json) {
            cJSON *r = cJSON_CreateObject();
            cJSON *w = r ? cJSON_AddObjectToObject(r, "winner") : NULL;
            if (w == NULL) {
                cJSON_Delete(r);
                result = ML_NOMEM;
                goto out;
            }
            cJSON_AddStringToObject(r, "day", col_text(s, 0));
            cJSON_AddStringToObject(r, "coupon_id", col_text(s, 1));
            if (no_campaign)
                cJSON_AddNullToObject(r, "campaign_id");
            else
                cJSON_AddStringToObject(r, "campaign_id", col_text(s, 2));
            cJSON_AddStringToObject(r, "store", col_text(s, 3));
            cJSON_AddStringToObject(r, "terminal", col_text(s, 4));
            cJSON_AddStringToObject(r, "sale_id", col_text(s, 5));
            json_add_i64(r, "amount", amount);
            json_add_i64(r, "at", sqlite3_column_int64(s, 7));
            cJSON_AddStringToObject(w, "store", col_text(s, 8));
            cJSON_AddStringToObject(w, "terminal", col_text(s, 9));
            cJSON_AddStringToObject(w, "sale_id", col_text(s, 10));
            json_add_i64(w, "at", sqlite3_column_int64(s, 11));
            if (sqlite3_column_type(s, 12) == SQLITE_NULL)
                cJSON_AddNullToObject(r, "notice_id");
            else
                cJSON_AddStringToObject(r, "notice_id", col_text(s, 12));
            json_add_i64(r, "detected_at", sqlite3_column_int64(s, 13));
            char *text = json_print(r);
            cJSON_Delete(r);
            if (text == NULL) {
                result = ML_NOMEM;
                goto out;
            }
            fprintf(out, "%s%s", first ? "" : ",", text);
            free(text);
        } else {
            fprintf(out, "%-10s %-24s %-24s %-10s %-10s %-24s %12s  %-10s %-10s %s\n",
                    col_text(s, 0), col_text(s, 1), no_campaign ? "(none)" : col_text(s, 2),
                    col_text(s, 3), col_text(s, 4), col_text(s, 5), money(amount, m1),
                    col_text(s, 8), col_text(s, 9), col_text(s, 10));
        }
        first = 0;
    }
    if (rc != SQLITE_DONE) {
        result = step_failed(st, errbuf, errlen);
        if (json)
            fprintf(out, "]}\n"); /* keep stdout parseable; the exit status says it failed */
        goto out;
    }
    if (json)
        fprintf(out, "],");
    result = conflicts_by_campaign(st, from, to, json, out, errbuf, errlen);
    if (json)
        fprintf(out, "\"count\":%" PRId64 ",\"total\":%" PRId64 "}\n", n, sum);
    else if (result == ML_OK)
        fprintf(out, "%" PRId64 " conflict(s), %s\n", n, money(sum, m1));
out:
    sqlite3_finalize(s);
    return result;
}

ml_err hq_report_status(struct hq_store *st, int json, FILE *out, char *errbuf, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    cJSON *doc = NULL, *rows = NULL;
    int rc;
    ml_err result = prepare(st,
                            "SELECT store, terminal, next_seq, max_seq, gaps, received,"
                            " first_received_at, last_received_at FROM terminals"
                            " ORDER BY store, terminal",
                            &s, errbuf, errlen);
    if (result != ML_OK)
        goto out;
    if (json) {
        result = ML_NOMEM;
        if ((doc = cJSON_CreateObject()) == NULL ||
            (rows = cJSON_AddArrayToObject(doc, "terminals")) == NULL)
            goto out;
    } else {
        fprintf(out, "%-20s %-20s %10s %10s %8s %10s  %s\n", "store", "terminal", "next_seq",
                "max_seq", "gaps", "received", "last received");
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t v[6];
        for (int i = 0; i < 6; i++)
            v[i] = sqlite3_column_int64(s, i + 2);
        if (json) {
            cJSON *r = cJSON_CreateObject();
            if (r == NULL || !cJSON_AddItemToArray(rows, r)) {
                cJSON_Delete(r);
                result = ML_NOMEM;
                goto out;
            }
            cJSON_AddStringToObject(r, "store", col_text(s, 0));
            cJSON_AddStringToObject(r, "terminal", col_text(s, 1));
            json_add_i64(r, "next_seq", v[0]);
            json_add_i64(r, "max_seq", v[1]);
            json_add_i64(r, "gaps", v[2]);
            json_add_i64(r, "received", v[3]);
            json_add_i64(r, "first_received_at", v[4]);
            json_add_i64(r, "last_received_at", v[5]);
        } else {
            char when[32] = "";
            time_t t = (time_t)(v[5] / 1000);
            struct tm tm;
            if (localtime_r(&t, &tm) != NULL)
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
            fprintf(out, "%-20s %-20s %10" PRId64 " %10" PRId64 " %8" PRId64 " %10" PRId64 "  %s\n",
                    col_text(s, 0), col_text(s, 1), v[0], v[1], v[2], v[3], when);
        }
    }
    if (rc != SQLITE_DONE) {
        result = step_failed(st, errbuf, errlen);
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;

    if ((result = prepare(st,
                          "SELECT store, terminal, reason, count, last_event_id, last_at"
                          " FROM rejections ORDER BY store, terminal, reason",
                          &s, errbuf, errlen)) != ML_OK)
        goto out;
    if (json) {
        result = ML_NOMEM;
        if ((rows = cJSON_AddArrayToObject(doc, "rejections")) == NULL)
            goto out;
    }
    int header = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (json) {
            cJSON *r = cJSON_CreateObject();
            if (r == NULL || !cJSON_AddItemToArray(rows, r)) {
                cJSON_Delete(r);
                result = ML_NOMEM;
                goto out;
            }
            cJSON_AddStringToObject(r, "store", col_text(s, 0));
            cJSON_AddStringToObject(r, "terminal", col_text(s, 1));
            cJSON_AddStringToObject(r, "reason", col_text(s, 2));
            json_add_i64(r, "count", sqlite3_column_int64(s, 3));
            if (sqlite3_column_type(s, 4) == SQLITE_NULL)
                cJSON_AddNullToObject(r, "last_event_id");
            else
                cJSON_AddStringToObject(r, "last_event_id", col_text(s, 4));
            json_add_i64(r, "last_at", sqlite3_column_int64(s, 5));
        } else {
            if (!header++)
                fprintf(out,
                        "\nrejected events (not stored, not acked)\n%-20s %-20s %-16s %8s  %s\n",
                        "store", "terminal", "reason", "count", "last event");
            fprintf(out, "%-20s %-20s %-16s %8" PRId64 "  %s\n", col_text(s, 0), col_text(s, 1),
                    col_text(s, 2), (int64_t)sqlite3_column_int64(s, 3), col_text(s, 4));
        }
    }
    if (rc != SQLITE_DONE) {
        result = step_failed(st, errbuf, errlen);
        goto out;
    }
    result = json ? print_json(doc, out) : ML_OK;
    doc = NULL;
out:
    cJSON_Delete(doc);
    sqlite3_finalize(s);
    return result;
}
