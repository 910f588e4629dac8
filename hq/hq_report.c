/*
 * hq_report: reports over the HQ database; see hq_report.h. Each report walks the rows of
 * one query of the table's owner (hq_store.h, hq_settle.h) and formats them; redemptions
 * and conflicts are printed row by row, so a long range never builds up in memory.
 */
#include "hq_report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "day.h"
#include "hq_settle.h"
#include "jsonutil.h"
#include "money.h"

/* A query that cannot be prepared or read: ML_STORAGE, what SQLite said in errbuf. */
static ml_err failed(struct hq_store *st, char *errbuf, size_t errlen)
{
    snprintf(errbuf, errlen, "query failed: %s", hq_store_errmsg(st));
    return ML_STORAGE;
}

/* The local time of ms as "YYYY-MM-DD HH:MM:SS" ("" when it cannot be converted). */
static const char *local_time(int64_t ms, char when[32])
{
    if (day_time_text(ms, when, 32) != 0)
        when[0] = '\0';
    return when;
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
    struct hq_rows q = {0};
    struct hq_sales_row row;
    cJSON *doc = NULL, *rows = NULL;
    ml_err result = ML_NOMEM;
    if (hq_store_sales_rows(st, from, to, &q) != ML_OK)
        return failed(st, errbuf, errlen);
    if (json) {
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
    while ((rc = hq_store_sales_next(&q, &row)) > 0) {
        n_all += row.sales;
        total_all += row.total;
        refunded_all += row.refunded;
        if (json) {
            cJSON *r = cJSON_CreateObject();
            if (r == NULL || !cJSON_AddItemToArray(rows, r)) {
                cJSON_Delete(r);
                goto out;
            }
            cJSON_AddStringToObject(r, "store", row.store);
            json_add_i64(r, "sales", row.sales);
            json_add_i64(r, "total", row.total);
            json_add_i64(r, "refunded", row.refunded);
            json_add_i64(r, "net", row.total - row.refunded);
        } else {
            fprintf(out, "%-20s %8" PRId64 " %14s %14s %14s\n", row.store, row.sales,
                    money_format(row.total, m1, sizeof(m1)),
                    money_format(row.refunded, m2, sizeof(m2)),
                    money_format(row.total - row.refunded, m3, sizeof(m3)));
        }
    }
    if (rc < 0) {
        result = failed(st, errbuf, errlen);
        goto out;
    }
    if (json) {
        cJSON *t = cJSON_AddObjectToObject(doc, "total");
        if (t == NULL)
            goto out;
        json_add_i64(t, "sales", n_all);
        json_add_i64(t, "total", total_all);
        json_add_i64(t, "refunded", refunded_all);
        json_add_i64(t, "net", total_all - refunded_all);
        result = print_json(doc, out);
        doc = NULL;
    } else {
        fprintf(out, "%-20s %8" PRId64 " %14s %14s %14s\n", "total", n_all,
                money_format(total_all, m1, sizeof(m1)), money_format(refunded_all, m2, sizeof(m2)),
                money_format(total_all - refunded_all, m3, sizeof(m3)));
        result = ML_OK;
    }
out:
    cJSON_Delete(doc);
    hq_store_rows_close(&q);
    return result;
}

ml_err hq_report_commissions(struct hq_store *st, const char *from, const char *to, int json,
                             FILE *out, char *errbuf, size_t errlen)
{
    struct hq_rows q = {0};
    struct hq_commission_row row;
    cJSON *doc = NULL, *rows = NULL;
    ml_err result = ML_NOMEM;
    if (hq_store_commission_rows(st, from, to, &q) != ML_OK)
        return failed(st, errbuf, errlen);
    if (json) {
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
    while ((rc = hq_store_commission_next(&q, &row)) > 0) {
        sum += row.commission;
        n_all += row.sales;
        if (json) {
            cJSON *r = cJSON_CreateObject();
            if (r == NULL || !cJSON_AddItemToArray(rows, r)) {
                cJSON_Delete(r);
                goto out;
            }
            cJSON_AddStringToObject(r, "guide_id", row.guide_id);
            json_add_i64(r, "commission", row.commission);
            json_add_i64(r, "sales", row.sales);
        } else {
            fprintf(out, "%-20s %8" PRId64 " %14s\n", row.guide_id, row.sales,
                    money_format(row.commission, m1, sizeof(m1)));
        }
    }
    if (rc < 0) {
        result = failed(st, errbuf, errlen);
        goto out;
    }
    if (json) {
        json_add_i64(doc, "total", sum);
        result = print_json(doc, out);
        doc = NULL;
    } else {
        fprintf(out, "%-20s %8" PRId64 " %14s\n", "total", n_all,
                money_format(sum, m1, sizeof(m1)));
        result = ML_OK;
    }
out:
    cJSON_Delete(doc);
    hq_store_rows_close(&q);
    return result;
}

/* Prints one JSON object of an array being streamed; takes ownership of r. */
static ml_err stream_json(cJSON *r, int first, FILE *out)
{
    char *text = r ? json_print(r) : NULL;
    cJSON_Delete(r);
    if (text == NULL)
        return ML_NOMEM;
    fprintf(out, "%s%s", first ? "" : ",", text);
    free(text);
    return ML_OK;
}

ml_err hq_report_redemptions(struct hq_store *st, const char *from, const char *to, int json,
                             FILE *out, char *errbuf, size_t errlen)
{
    struct hq_rows q = {0};
    struct hq_redemption_row row;
    ml_err result = ML_OK;
    if (hq_store_redemption_rows(st, from, to, &q) != ML_OK)
        return failed(st, errbuf, errlen);
    if (json)
        fprintf(out, "{\"from\":\"%s\",\"to\":\"%s\",\"redemptions\":[", from, to);
    else
        fprintf(out, "redemptions %s .. %s\n%-24s %-10s %-10s %12s %-24s %4s %-19s %s\n", from, to,
                "coupon", "store", "terminal", "amount", "sale", "use", "at", "restored");
    int rc, first = 1;
    int64_t n = 0, sum = 0;
    char m1[32], when[32];
    while ((rc = hq_store_redemption_next(&q, &row)) > 0) {
        n++;
        sum += row.amount;
        if (json) {
            cJSON *r = cJSON_CreateObject();
            if (r != NULL) {
                cJSON_AddStringToObject(r, "coupon_id", row.coupon_id);
                cJSON_AddStringToObject(r, "store", row.store);
                cJSON_AddStringToObject(r, "terminal", row.terminal);
                json_add_i64(r, "amount", row.amount);
                cJSON_AddStringToObject(r, "sale_id", row.sale_id);
                json_add_i64(r, "use_no", row.use_no);
                json_add_i64(r, "at", row.at);
                cJSON_AddBoolToObject(r, "restored", row.restored);
            }
            if ((result = stream_json(r, first, out)) != ML_OK)
                goto out;
        } else {
            fprintf(out, "%-24s %-10s %-10s %12s %-24s %4" PRId64 " %-19s %s\n", row.coupon_id,
                    row.store, row.terminal, money_format(row.amount, m1, sizeof(m1)), row.sale_id,
                    row.use_no, local_time(row.at, when), row.restored ? "yes" : "no");
        }
        first = 0;
    }
    if (rc < 0) {
        result = failed(st, errbuf, errlen);
        if (json)
            fprintf(out, "]}\n"); /* keep stdout parseable; the exit status says it failed */
        goto out;
    }
    if (json)
        fprintf(out, "],\"count\":%" PRId64 ",\"total\":%" PRId64 "}\n", n, sum);
    else
        fprintf(out, "%" PRId64 " redemption(s), %s\n", n, money_format(sum, m1, sizeof(m1)));
out:
    hq_store_rows_close(&q);
    return result;
}

/* The exposure per campaign over the range: conflicts and their amount, a coupon outside
 * any campaign as campaign null / "(none)". */
static ml_err conflicts_by_campaign(struct hq_store *st, const char *from, const char *to, int json,
                                    FILE *out, char *errbuf, size_t errlen)
{
    struct hq_rows q = {0};
    struct hq_exposure_row row;
    if (hq_settle_exposure_rows(st, from, to, &q) != ML_OK)
        return failed(st, errbuf, errlen);
    if (json)
        fprintf(out, "\"campaigns\":[");
    else
        fprintf(out, "\nexposure per campaign\n%-24s %10s %14s\n", "campaign", "conflicts",
                "amount");
    int rc, first = 1;
    ml_err result = ML_OK;
    char m1[32];
    while ((rc = hq_settle_exposure_next(&q, &row)) > 0) {
        if (json) {
            cJSON *r = cJSON_CreateObject();
            if (r != NULL) {
                if (row.campaign_id == NULL)
                    cJSON_AddNullToObject(r, "campaign_id");
                else
                    cJSON_AddStringToObject(r, "campaign_id", row.campaign_id);
                json_add_i64(r, "conflicts", row.conflicts);
                json_add_i64(r, "amount", row.amount);
            }
            if ((result = stream_json(r, first, out)) != ML_OK)
                goto out;
        } else {
            fprintf(out, "%-24s %10" PRId64 " %14s\n", row.campaign_id ? row.campaign_id : "(none)",
                    row.conflicts, money_format(row.amount, m1, sizeof(m1)));
        }
        first = 0;
    }
    result = rc == 0 ? ML_OK : failed(st, errbuf, errlen);
out:
    if (json)
        fprintf(out, "],");
    hq_store_rows_close(&q);
    return result;
}

ml_err hq_report_conflicts(struct hq_store *st, const char *from, const char *to, int json,
                           FILE *out, char *errbuf, size_t errlen)
{
    struct hq_rows q = {0};
    struct hq_conflict_row row;
    ml_err result = ML_OK;
    if (hq_settle_conflict_rows(st, from, to, &q) != ML_OK)
        return failed(st, errbuf, errlen);
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
    while ((rc = hq_settle_conflict_next(&q, &row)) > 0) {
        n++;
        sum += row.amount;
        if (json) {
            cJSON *r = cJSON_CreateObject();
            cJSON *w = r ? cJSON_AddObjectToObject(r, "winner") : NULL;
            if (w == NULL) {
                cJSON_Delete(r);
                result = ML_NOMEM;
                goto out;
            }
            cJSON_AddStringToObject(r, "day", row.day);
            cJSON_AddStringToObject(r, "coupon_id", row.coupon_id);
            if (row.campaign_id == NULL)
                cJSON_AddNullToObject(r, "campaign_id");
            else
                cJSON_AddStringToObject(r, "campaign_id", row.campaign_id);
            cJSON_AddStringToObject(r, "store", row.store);
            cJSON_AddStringToObject(r, "terminal", row.terminal);
            cJSON_AddStringToObject(r, "sale_id", row.sale_id);
            json_add_i64(r, "amount", row.amount);
            json_add_i64(r, "at", row.at);
            cJSON_AddStringToObject(w, "store", row.winner_store);
            cJSON_AddStringToObject(w, "terminal", row.winner_terminal);
            cJSON_AddStringToObject(w, "sale_id", row.winner_sale_id);
            json_add_i64(w, "at", row.winner_at);
            if (row.notice_id == NULL)
                cJSON_AddNullToObject(r, "notice_id");
            else
                cJSON_AddStringToObject(r, "notice_id", row.notice_id);
            json_add_i64(r, "detected_at", row.detected_at);
            if ((result = stream_json(r, first, out)) != ML_OK)
                goto out;
        } else {
            fprintf(out, "%-10s %-24s %-24s %-10s %-10s %-24s %12s  %-10s %-10s %s\n", row.day,
                    row.coupon_id, row.campaign_id ? row.campaign_id : "(none)", row.store,
                    row.terminal, row.sale_id, money_format(row.amount, m1, sizeof(m1)),
                    row.winner_store, row.winner_terminal, row.winner_sale_id);
        }
        first = 0;
    }
    if (rc < 0) {
        result = failed(st, errbuf, errlen);
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
        fprintf(out, "%" PRId64 " conflict(s), %s\n", n, money_format(sum, m1, sizeof(m1)));
out:
    hq_store_rows_close(&q);
    return result;
}

/* The rejections part of status: a table after the terminals, or "rejections" in doc. */
static ml_err status_rejections(struct hq_store *st, cJSON *doc, FILE *out, char *errbuf,
                                size_t errlen)
{
    struct hq_rows q = {0};
    struct hq_rejection_row row;
    cJSON *rows = NULL;
    if (hq_store_rejection_rows(st, &q) != ML_OK)
        return failed(st, errbuf, errlen);
    if (doc != NULL && (rows = cJSON_AddArrayToObject(doc, "rejections")) == NULL) {
        hq_store_rows_close(&q);
        return ML_NOMEM;
    }
    int rc, header = 0;
    while ((rc = hq_store_rejection_next(&q, &row)) > 0) {
        if (doc != NULL) {
            cJSON *r = cJSON_CreateObject();
            if (r == NULL || !cJSON_AddItemToArray(rows, r)) {
                cJSON_Delete(r);
                hq_store_rows_close(&q);
                return ML_NOMEM;
            }
            cJSON_AddStringToObject(r, "store", row.store);
            cJSON_AddStringToObject(r, "terminal", row.terminal);
            cJSON_AddStringToObject(r, "reason", row.reason);
            json_add_i64(r, "count", row.count);
            if (row.last_event_id == NULL)
                cJSON_AddNullToObject(r, "last_event_id");
            else
                cJSON_AddStringToObject(r, "last_event_id", row.last_event_id);
            json_add_i64(r, "last_at", row.last_at);
        } else {
            if (!header++)
                fprintf(out,
                        "\nrejected events (not stored, not acked)\n%-20s %-20s %-16s %8s  %s\n",
                        "store", "terminal", "reason", "count", "last event");
            fprintf(out, "%-20s %-20s %-16s %8" PRId64 "  %s\n", row.store, row.terminal,
                    row.reason, row.count, row.last_event_id ? row.last_event_id : "");
        }
    }
    return rc < 0 ? failed(st, errbuf, errlen) : ML_OK;
}

ml_err hq_report_status(struct hq_store *st, int json, FILE *out, char *errbuf, size_t errlen)
{
    struct hq_rows q = {0};
    struct hq_terminal_row row;
    cJSON *doc = NULL, *rows = NULL;
    ml_err result = ML_NOMEM;
    if (hq_store_terminal_rows(st, &q) != ML_OK)
        return failed(st, errbuf, errlen);
    if (json) {
        if ((doc = cJSON_CreateObject()) == NULL ||
            (rows = cJSON_AddArrayToObject(doc, "terminals")) == NULL)
            goto out;
    } else {
        fprintf(out, "%-20s %-20s %10s %10s %8s %10s  %s\n", "store", "terminal", "next_seq",
                "max_seq", "gaps", "received", "last received");
    }
    int rc;
    char when[32];
    while ((rc = hq_store_terminal_next(&q, &row)) > 0) {
        if (json) {
            cJSON *r = cJSON_CreateObject();
            if (r == NULL || !cJSON_AddItemToArray(rows, r)) {
                cJSON_Delete(r);
                goto out;
            }
            cJSON_AddStringToObject(r, "store", row.store);
            cJSON_AddStringToObject(r, "terminal", row.terminal);
            json_add_i64(r, "next_seq", row.next_seq);
            json_add_i64(r, "max_seq", row.max_seq);
            json_add_i64(r, "gaps", row.gaps);
            json_add_i64(r, "received", row.received);
            json_add_i64(r, "first_received_at", row.first_received_at);
            json_add_i64(r, "last_received_at", row.last_received_at);
        } else {
            fprintf(out, "%-20s %-20s %10" PRId64 " %10" PRId64 " %8" PRId64 " %10" PRId64 "  %s\n",
                    row.store, row.terminal, row.next_seq, row.max_seq, row.gaps, row.received,
                    local_time(row.last_received_at, when));
        }
    }
    if (rc < 0) {
        result = failed(st, errbuf, errlen);
        goto out;
    }
    if ((result = status_rejections(st, doc, out, errbuf, errlen)) != ML_OK)
        goto out;
    result = json ? print_json(doc, out) : ML_OK;
    doc = NULL;
out:
    cJSON_Delete(doc);
    hq_store_rows_close(&q);
    return result;
}
