/* ledger: sales, their lines, redemptions, points and commission entries; see ledger.h. */
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

/* ---- writing a sale ---------------------------------------------------------------------- */

ml_err ledger_add_sale(struct db *db, const struct ledger_sale *v, char *doc)
{
    static const char sql[] =
        "INSERT INTO sales (sale_id, terminal, member_id, guide_id, guide_source, subtotal, "
        " discount, points_value, total, points_earned, points_spent, commission, created_at, doc) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL) {
        free(doc);
        return ML_STORAGE;
    }
    db_bind_text(db, s, 1, v->sale_id);
    db_bind_text(db, s, 2, v->terminal);
    db_bind_text(db, s, 3, v->member_id);
    db_bind_text(db, s, 4, v->guide_id);
    db_bind_text_static(db, s, 5, v->guide_id ? v->guide_source : NULL);
    db_bind_i64(db, s, 6, v->subtotal);
    db_bind_i64(db, s, 7, v->discount);
    db_bind_i64(db, s, 8, v->points_value);
    db_bind_i64(db, s, 9, v->total);
    db_bind_i64(db, s, 10, v->points_earned);
    db_bind_i64(db, s, 11, v->points_spent);
    db_bind_i64(db, s, 12, v->commission);
    db_bind_i64(db, s, 13, v->created_at);
    db_bind_text_owned(db, s, 14, doc);
    return db_run(db, s);
}

ml_err ledger_add_line(struct db *db, const char *sale_id, int64_t line_no,
                       const struct ledger_line *l)
{
    static const char sql[] =
        "INSERT INTO sale_lines (sale_id, line_no, sku, category, qty, unit_price, gross, "
        " discount, points_value, net, points_earned, points_spent, commission_bp, commission) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, sale_id);
    db_bind_i64(db, s, 2, line_no);
    db_bind_text(db, s, 3, l->sku);
    db_bind_text(db, s, 4, l->category);
    db_bind_i64(db, s, 5, l->qty);
    db_bind_i64(db, s, 6, l->unit_price);
    db_bind_i64(db, s, 7, l->gross);
    db_bind_i64(db, s, 8, l->discount);
    db_bind_i64(db, s, 9, l->points_value);
    db_bind_i64(db, s, 10, l->net);
    db_bind_i64(db, s, 11, l->points_earned);
    db_bind_i64(db, s, 12, l->points_spent);
    db_bind_i64(db, s, 13, l->commission_bp);
    db_bind_i64(db, s, 14, l->commission);
    return db_run(db, s);
}

ml_err ledger_add_commission(struct db *db, const char *guide_id, const char *sale_id,
                             int64_t line_no, int64_t amount, int64_t rate_bp, int64_t now)
{
    static const char sql[] = "INSERT INTO commissions (guide_id, sale_id, line_no, amount, "
                              "rate_bp, day, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    char day[DAY_TEXT_LEN + 1];
    day_of(now, day);
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, guide_id);
    db_bind_text(db, s, 2, sale_id);
    db_bind_i64(db, s, 3, line_no);
    db_bind_i64(db, s, 4, amount);
    db_bind_i64(db, s, 5, rate_bp);
    db_bind_text(db, s, 6, day);
    db_bind_i64(db, s, 7, now);
    return db_run(db, s);
}

ml_err ledger_add_redemption(struct db *db, const char *coupon_id, const char *sale_id,
                             int64_t amount, const char *lines_json, int64_t now, int offline,
                             int64_t trusted_at, int64_t *ret_use_no)
{
    /* The lowest use number no live redemption holds: a refund may free any of them. */
    static const char free_use[] =
        "SELECT min(n) FROM (SELECT 1 AS n UNION ALL "
        " SELECT use_no + 1 FROM redemptions WHERE coupon_id = ?1 AND restored = 0) "
        "WHERE n NOT IN (SELECT use_no FROM redemptions WHERE coupon_id = ?1 AND restored = 0)";
    static const char record[] =
        "INSERT INTO redemptions (coupon_id, use_no, sale_id, amount, lines, created_at, "
        " offline, trusted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    sqlite3_stmt *s = db_stmt(db, free_use);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, coupon_id);
    int rc = db_step(db, s);
    int64_t use_no = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (use_no <= 0 || (s = db_stmt(db, record)) == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, coupon_id);
    db_bind_i64(db, s, 2, use_no);
    db_bind_text(db, s, 3, sale_id);
    db_bind_i64(db, s, 4, amount);
    db_bind_text(db, s, 5, lines_json);
    db_bind_i64(db, s, 6, now);
    db_bind_i64(db, s, 7, offline != 0);
    if (trusted_at > 0)
        db_bind_i64(db, s, 8, trusted_at);
    rc = db_step(db, s);
    sqlite3_reset(s);
    if (rc == SQLITE_CONSTRAINT)
        return ML_REFUSED;
    if (rc != SQLITE_DONE)
        return ML_STORAGE;
    *ret_use_no = use_no;
    return ML_OK;
}

ml_err ledger_restore_redemption(struct db *db, const char *coupon_id, int64_t use_no,
                                 const char *sale_id)
{
    static const char sql[] =
        "UPDATE redemptions SET restored = 1 "
        "WHERE coupon_id = ?1 AND use_no = ?2 AND sale_id = ?3 AND restored = 0";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, coupon_id);
    db_bind_i64(db, s, 2, use_no);
    db_bind_text(db, s, 3, sale_id);
    return db_run(db, s) == ML_OK && db_changes(db) == 1 ? ML_OK : ML_STORAGE;
}

/* ---- refunding --------------------------------------------------------------------------- */

ml_err ledger_refund_sale(struct db *db, const char *sale_id, struct ledger_refund_sale *rs)
{
    static const char q_sale[] =
        "SELECT coalesce(member_id, ''), coalesce(guide_id, ''), coalesce(guide_source, ''), "
        " (SELECT count(DISTINCT refund_id) FROM sale_lines l WHERE l.sale_id = s.sale_id) "
        "FROM sales s WHERE sale_id = ?1";
    static const char q_lines[] =
        "SELECT line_no, net, points_earned, points_spent, commission, commission_bp, "
        " refund_id IS NOT NULL, category FROM sale_lines WHERE sale_id = ?1 ORDER BY line_no";
    memset(rs, 0, sizeof(*rs));
    sqlite3_stmt *s = db_stmt(db, q_sale);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, sale_id);
    int rc = db_step(db, s);
    if (rc == SQLITE_ROW) {
        db_col_copy(s, 0, rs->member, sizeof(rs->member));
        db_col_copy(s, 1, rs->guide, sizeof(rs->guide));
        db_col_copy(s, 2, rs->guide_source, sizeof(rs->guide_source));
        rs->nrefunds = sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return ML_NOENTRY;
    if (rc != SQLITE_ROW || (s = db_stmt(db, q_lines)) == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, sale_id);
    while ((rc = db_step(db, s)) == SQLITE_ROW && rs->n < LEDGER_LINES_MAX) {
        struct ledger_refund_line *l = &rs->lines[rs->n++];
        l->line_no = sqlite3_column_int64(s, 0);
        l->net = sqlite3_column_int64(s, 1);
        l->points_earned = sqlite3_column_int64(s, 2);
        l->points_spent = sqlite3_column_int64(s, 3);
        l->commission = sqlite3_column_int64(s, 4);
        l->commission_bp = sqlite3_column_int64(s, 5);
        l->refunded = sqlite3_column_int(s, 6);
        db_col_copy(s, 7, l->category, sizeof(l->category));
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? ML_OK : ML_STORAGE;
}

ml_err ledger_refund_line(struct db *db, const char *sale_id, int64_t line_no,
                          const char *refund_id)
{
    static const char sql[] = "UPDATE sale_lines SET refund_id = ?3 "
                              "WHERE sale_id = ?1 AND line_no = ?2 AND refund_id IS NULL";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, sale_id);
    db_bind_i64(db, s, 2, line_no);
    db_bind_text(db, s, 3, refund_id);
    return db_run(db, s) == ML_OK && db_changes(db) == 1 ? ML_OK : ML_STORAGE;
}

ml_err ledger_add_refunded(struct db *db, const char *sale_id, int64_t amount)
{
    static const char sql[] = "UPDATE sales SET refunded = refunded + ?2 WHERE sale_id = ?1";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, sale_id);
    db_bind_i64(db, s, 2, amount);
    return db_run(db, s);
}

ml_err ledger_sale_redemptions(struct db *db, const char *sale_id, struct ledger_redemption *ret,
                               size_t max, size_t *ret_n)
{
    static const char sql[] = "SELECT coupon_id, use_no, lines FROM redemptions "
                              "WHERE sale_id = ?1 AND restored = 0 ORDER BY redemption_id";
    size_t n = 0;
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, sale_id);
    int rc;
    ml_err err = ML_OK;
    while (n < max && (rc = db_step(db, s)) == SQLITE_ROW) {
        struct ledger_redemption *e = &ret[n];
        e->lines = cJSON_Parse((const char *)sqlite3_column_text(s, 2));
        if (!cJSON_IsArray(e->lines)) { /* written by ledger_add_redemption: damage */
            cJSON_Delete(e->lines);
            err = ML_STORAGE;
            break;
        }
        db_col_copy(s, 0, e->coupon_id, sizeof(e->coupon_id));
        e->use_no = sqlite3_column_int64(s, 1);
        n++;
    }
    if (err == ML_OK && n < max && rc != SQLITE_DONE)
        err = ML_STORAGE;
    sqlite3_reset(s);
    if (err != ML_OK) {
        ledger_redemptions_free(ret, n);
        return err;
    }
    *ret_n = n;
    return ML_OK;
}

void ledger_redemptions_free(struct ledger_redemption *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cJSON_Delete(r[i].lines);
        r[i].lines = NULL;
    }
}

/* ---- reading ----------------------------------------------------------------------------- */

ml_err ledger_sale_json(struct db *db, const char *sale_id, cJSON **ret)
{
    static const char q[] = "SELECT doc, refunded FROM sales WHERE sale_id = ?1";
    static const char ql[] = "SELECT line_no FROM sale_lines WHERE sale_id = ?1 "
                             "AND refund_id IS NOT NULL ORDER BY line_no";
    sqlite3_stmt *s = db_stmt(db, q);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, sale_id);
    cJSON *sale = NULL;
    int rc = db_step(db, s);
    if (rc == SQLITE_ROW) {
        sale = cJSON_Parse((const char *)sqlite3_column_text(s, 0));
        if (sale != NULL)
            json_add_i64(sale, "refunded_amount", sqlite3_column_int64(s, 1));
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return ML_NOENTRY;
    if (sale == NULL || (s = db_stmt(db, ql)) == NULL) {
        cJSON_Delete(sale);
        return ML_STORAGE;
    }
    cJSON *lines = cJSON_AddArrayToObject(sale, "refunded_lines");
    db_bind_text(db, s, 1, sale_id);
    while ((rc = db_step(db, s)) == SQLITE_ROW)
        cJSON_AddItemToArray(lines, cJSON_CreateNumber((double)sqlite3_column_int64(s, 0)));
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        cJSON_Delete(sale);
        return ML_STORAGE;
    }
    *ret = sale;
    return ML_OK;
}

ml_err ledger_sales_json(struct db *db, int64_t limit, cJSON **ret)
{
    static const char q[] = "SELECT sale_id, created_at, member_id, total, refunded FROM sales "
                            "ORDER BY created_at DESC, sale_id DESC LIMIT ?1";
    sqlite3_stmt *s = db_stmt(db, q);
    if (s == NULL)
        return ML_STORAGE;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "sales");
    db_bind_i64(db, s, 1, limit);
    int rc;
    while ((rc = db_step(db, s)) == SQLITE_ROW) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, e);
        cJSON_AddStringToObject(e, "sale_id", (const char *)sqlite3_column_text(s, 0));
        json_add_i64(e, "created_at", sqlite3_column_int64(s, 1));
        if (sqlite3_column_type(s, 2) == SQLITE_NULL)
            cJSON_AddNullToObject(e, "member_id");
        else
            cJSON_AddStringToObject(e, "member_id", (const char *)sqlite3_column_text(s, 2));
        json_add_i64(e, "total", sqlite3_column_int64(s, 3));
        json_add_i64(e, "refunded_amount", sqlite3_column_int64(s, 4));
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE || arr == NULL) {
        cJSON_Delete(o);
        return ML_STORAGE;
    }
    *ret = o;
    return ML_OK;
}

int64_t ledger_sales_count(struct db *db, int64_t since_ms)
{
    static const char sql[] = "SELECT count(*) FROM sales WHERE created_at >= ?1";
    sqlite3_stmt *s = db_stmt(db, sql);
    int64_t n = -1;
    if (s == NULL)
        return -1;
    db_bind_i64(db, s, 1, since_ms);
    if (db_step(db, s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return n;
}

/* Runs s (parameters bound) for one integer row: its first column into *ret. */
static ml_err one_i64(struct db *db, sqlite3_stmt *s, int64_t *ret)
{
    int rc = db_step(db, s);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? ML_OK : ML_STORAGE;
}

ml_err ledger_commission_days(struct db *db, const char *guide_id, const char *from, const char *to,
                              cJSON *days, int64_t *ret_total)
{
    static const char sql[] =
        "SELECT day, sum(amount), count(DISTINCT sale_id) FROM commissions "
        "WHERE guide_id = ?1 AND day BETWEEN ?2 AND ?3 GROUP BY day ORDER BY day";
    int64_t total = 0;
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, guide_id);
    db_bind_text(db, s, 2, from);
    db_bind_text(db, s, 3, to);
    int rc;
    while ((rc = db_step(db, s)) == SQLITE_ROW) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToArray(days, d);
        cJSON_AddStringToObject(d, "day", (const char *)sqlite3_column_text(s, 0));
        json_add_i64(d, "amount", sqlite3_column_int64(s, 1));
        json_add_i64(d, "sales", sqlite3_column_int64(s, 2));
        total += sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    *ret_total = total;
    return rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

ml_err ledger_commission_sales(struct db *db, const char *guide_id, const char *from,
                               const char *to, int max, cJSON *sales, int *ret_truncated)
{
    static const char sql[] = "SELECT sale_id, min(day), sum(amount) FROM commissions "
                              "WHERE guide_id = ?1 AND day BETWEEN ?2 AND ?3 GROUP BY sale_id "
                              "ORDER BY min(created_at), sale_id LIMIT ?4";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, guide_id);
    db_bind_text(db, s, 2, from);
    db_bind_text(db, s, 3, to);
    db_bind_i64(db, s, 4, (int64_t)max + 1);
    int n = 0, rc = SQLITE_DONE;
    while (n < max && (rc = db_step(db, s)) == SQLITE_ROW) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(sales, e);
        cJSON_AddStringToObject(e, "sale_id", (const char *)sqlite3_column_text(s, 0));
        cJSON_AddStringToObject(e, "day", (const char *)sqlite3_column_text(s, 1));
        json_add_i64(e, "amount", sqlite3_column_int64(s, 2));
        n++;
    }
    if (n == max && rc == SQLITE_ROW)
        rc = db_step(db, s);
    sqlite3_reset(s);
    *ret_truncated = n == max && rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

ml_err ledger_offline_redemptions(struct db *db, const char *member_id, int64_t start, int64_t end,
                                  int64_t *ret)
{
    static const char sql[] =
        "SELECT count(*) FROM sales s JOIN redemptions r ON r.sale_id = s.sale_id "
        "WHERE s.member_id = ?1 AND r.offline = 1 AND r.restored = 0 "
        " AND r.trusted_at >= ?2 AND r.trusted_at < ?3";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, member_id);
    db_bind_i64(db, s, 2, start);
    db_bind_i64(db, s, 3, end);
    return one_i64(db, s, ret);
}

ml_err ledger_offline_value_since(struct db *db, int64_t since, int64_t *ret)
{
    static const char sql[] = "SELECT coalesce(sum(amount), 0) FROM redemptions "
                              "WHERE offline = 1 AND restored = 0 AND trusted_at >= ?1";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_i64(db, s, 1, since);
    return one_i64(db, s, ret);
}
