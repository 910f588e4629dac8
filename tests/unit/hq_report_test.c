/*
 * hq_report_test: unit tests for hq_report.h, the reports over the HQ database.
 *
 * A fixture database holds sales, refunds, commission entries and redemptions on days
 * around a range (written through hq_store.h, then reopened read-only as `report` opens
 * it). Each report is read back as its --json document and checked for the per store / per
 * guide sums, with both bounds of the range inclusive (docs/hq.md: "a range of local
 * days"), and the day just outside each bound left out. Conflicts (coupons redeemed past
 * their uses) are written as hq_settle books them. Text output is checked for the
 * money format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "day.h"
#include "hq_report.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define HOUR INT64_C(3600000)
#define DAY (24 * HOUR)

struct fx {
    char dir[64];
    char path[128];
    struct hq_store *st;
};

static struct hq_event ev_of(const char *id, const char *store, int64_t at)
{
    struct hq_event ev = {.id = id,
                          .seq = 1,
                          .type = "x",
                          .store = store,
                          .terminal = "T01",
                          .hlc = "1-0",
                          .at = at,
                          .body = "{}",
                          .batch = NULL};
    return ev;
}

static void sale(struct hq_store *st, const char *event_id, const char *store, const char *day,
                 int64_t at, const char *sale_id, int64_t total)
{
    struct hq_event ev = ev_of(event_id, store, at);
    struct hq_sale s = {.sale_id = sale_id, .total = total};
    int dup = -1;
    assert_int_equal(hq_store_put_sale(st, &ev, day, &s, &dup), ML_OK);
    assert_int_equal(dup, 0);
}

static void refund(struct hq_store *st, const char *event_id, const char *store, const char *day,
                   const char *sale_id, int64_t amount)
{
    struct hq_event ev = ev_of(event_id, store, T0);
    assert_int_equal(hq_store_put_refund(st, &ev, day, "R", sale_id, amount), ML_OK);
}

static void commission(struct hq_store *st, const char *event_id, const char *day,
                       const char *guide, const char *sale_id, const char *refund_id,
                       int64_t amount)
{
    struct hq_event ev = ev_of(event_id, "S001", T0);
    assert_int_equal(hq_store_put_commission(st, &ev, day, guide, sale_id, refund_id, amount),
                     ML_OK);
}

static void redemption(struct hq_store *st, const char *event_id, const char *store,
                       const char *day, int64_t at, const char *coupon, const char *sale_id,
                       int64_t amount)
{
    struct hq_event ev = ev_of(event_id, store, at);
    const struct hq_redemption r = {
        .coupon_id = coupon, .sale_id = sale_id, .use_no = 1, .amount = amount};
    assert_int_equal(hq_store_put_redemption(st, &ev, day, &r), ML_OK);
}

/* The range under test is 2026-01-01 .. 2026-01-02; rows also sit on the day before and
 * the day after. */
static void fill(struct hq_store *st)
{
    assert_int_equal(hq_store_begin(st), ML_OK);
    sale(st, "s0", "S001", "2025-12-31", T0 - HOUR, "SALE-0", 100);
    sale(st, "s1", "S001", "2026-01-01", T0, "SALE-1", 1000);
    sale(st, "s2", "S001", "2026-01-02", T0 + DAY, "SALE-2", 2000);
    sale(st, "s3", "S002", "2026-01-02", T0 + DAY + HOUR, "SALE-3", 3000);
    sale(st, "s4", "S001", "2026-01-03", T0 + 2 * DAY, "SALE-4", 4000);
    /* A sale is reported on its own day with everything refunded of it, whenever. */
    refund(st, "r1", "S001", "2026-01-05", "SALE-2", 500);
    refund(st, "r2", "S001", "2026-01-01", "SALE-0", 100);

    commission(st, "c0", "2025-12-31", "G02", "SALE-0", NULL, 7);
    commission(st, "c1", "2026-01-01", "G01", "SALE-1", NULL, 300);
    commission(st, "c2", "2026-01-02", "G01", "SALE-2", NULL, 200);
    commission(st, "c3", "2026-01-02", "G01", "SALE-1", "SALE-1-R1", -100);
    commission(st, "c4", "2026-01-02", "G02", "SALE-3", NULL, 50);
    commission(st, "c5", "2026-01-03", "G01", "SALE-4", NULL, 999);

    redemption(st, "d0", "S001", "2025-12-31", T0 - HOUR, "C0", "SALE-0", 10);
    redemption(st, "d1", "S001", "2026-01-01", T0 + HOUR, "C1", "SALE-1", 2000);
    redemption(st, "d2", "S002", "2026-01-02", T0 + DAY, "C2", "SALE-3", 500);
    redemption(st, "d3", "S001", "2026-01-03", T0 + 2 * DAY, "C3", "SALE-4", 30);
    struct hq_event restore = ev_of("x1", "S001", T0 + 2 * HOUR);
    int found = 0;
    assert_int_equal(hq_store_restore_redemption(st, &restore, "C1", "SALE-1", 1, &found), ML_OK);
    assert_int_equal(found, 1);

    /* Overages as hq_settle books them: two in one campaign, one outside any campaign (and
     * without a signing key: no notice), one the day after the range. */
    static const char conflicts_sql[] =
        "INSERT INTO conflicts (event_id, coupon_id, campaign_id, store, terminal, sale_id,"
        " amount, at, winner_event_id, winner_store, winner_terminal, winner_sale_id, winner_at,"
        " day, notice_id, detected_at) VALUES"
        " ('k1', 'C1', 'camp-a', 'S002', 'T01', 'SALE-L1', 2000, 1767232800000, 'd1', 'S001',"
        "  'T01', 'SALE-1', 1767229200000, '2026-01-01', 'settle-k1', 1767236400000),"
        " ('k3', 'C5', NULL, 'S001', 'T02', 'SALE-L3', 300, 1767315600000, 'w3', 'S001', 'T01',"
        "  'SALE-W3', 1767312000000, '2026-01-02', NULL, 1767319200000),"
        " ('k2', 'C2', 'camp-a', 'S001', 'T02', 'SALE-L2', 500, 1767312000000, 'd2', 'S002',"
        "  'T01', 'SALE-3', 1767311000000, '2026-01-02', 'settle-k2', 1767319200000),"
        " ('k4', 'C3', 'camp-b', 'S003', 'T01', 'SALE-L4', 999, 1767398400000, 'd3', 'S001',"
        "  'T01', 'SALE-4', 1767398000000, '2026-01-03', 'settle-k4', 1767398500000)";
    assert_int_equal(sqlite3_exec(db_sqlite(hq_store_conn(st)), conflicts_sql, NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(hq_store_commit(st), ML_OK);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[512] = "";
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ml-hq-report-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/hq.db", f->dir);
    if (hq_store_open(f->path, HQ_STORE_READWRITE, &f->st, err, sizeof(err)) != ML_OK)
        fail_msg("hq_store_open: %s", err);
    fill(f->st);
    hq_store_close(f->st);
    if (hq_store_open(f->path, HQ_STORE_READONLY, &f->st, err, sizeof(err)) != ML_OK)
        fail_msg("hq_store_open read-only: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];
    hq_store_close(f->st);
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < ARRAY_LEN(suffixes); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

typedef ml_err (*range_report)(struct hq_store *, const char *, const char *, int, FILE *, char *,
                               size_t);

/* What a report wrote. Caller frees. */
static char *run_report(struct fx *f, range_report fn, const char *from, const char *to, int json)
{
    char *text = NULL, err[512] = "";
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    ml_err rc = fn(f->st, from, to, json, out, err, sizeof(err));
    assert_int_equal(fclose(out), 0);
    if (rc != ML_OK)
        fail_msg("report %s..%s: %s: %s", from, to, ml_strerror(rc), err);
    return text;
}

/* A report's --json document: exactly one line. Caller frees. */
static cJSON *report_json(struct fx *f, range_report fn, const char *from, const char *to)
{
    char *text = run_report(f, fn, from, to, 1);
    size_t len = strlen(text);
    assert_true(len > 0);
    assert_ptr_equal(strchr(text, '\n'), text + len - 1);
    cJSON *doc = cJSON_Parse(text);
    if (doc == NULL)
        fail_msg("not JSON: %s", text);
    free(text);
    return doc;
}

static int64_t num(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v))
        fail_msg("no number '%s'", name);
    return (int64_t)v->valuedouble;
}

static const char *str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsString(v))
        fail_msg("no string '%s'", name);
    return v->valuestring;
}

/* The rows of array `name` as "key:n1:n2:..." lines, for comparing whole reports. */
static void rows_as_text(const cJSON *doc, const char *name, const char *key,
                         const char *const *fields, size_t nfields, char *out, size_t len)
{
    size_t used = 0;
    const cJSON *row;
    out[0] = '\0';
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(doc, name))
    {
        used += (size_t)snprintf(out + used, len - used, "%s", str(row, key));
        for (size_t i = 0; i < nfields; i++)
            used +=
                (size_t)snprintf(out + used, len - used, ":%lld", (long long)num(row, fields[i]));
        used += (size_t)snprintf(out + used, len - used, "\n");
        assert_true(used < len);
    }
}

/* Per store over a range: sales, total, refunded (all of each sale's refunds) and net; the
 * range includes both of its days and nothing around them. */
static void sales_sum_per_store_over_an_inclusive_range(void **state)
{
    struct fx *f = *state;
    static const char *const fields[] = {"sales", "total", "refunded", "net"};
    static const struct {
        const char *from, *to, *rows, *total;
    } cases[] = {
        {"2026-01-01", "2026-01-02", "S001:2:3000:500:2500\nS002:1:3000:0:3000\n",
         "3:6000:500:5500"},
        {"2026-01-02", "2026-01-02", "S001:1:2000:500:1500\nS002:1:3000:0:3000\n",
         "2:5000:500:4500"},
        {"2026-01-03", "2026-01-03", "S001:1:4000:0:4000\n", "1:4000:0:4000"},
        {"2025-12-31", "2025-12-31", "S001:1:100:100:0\n", "1:100:100:0"},
        {"2025-12-01", "2026-12-31", "S001:4:7100:600:6500\nS002:1:3000:0:3000\n",
         "5:10100:600:9500"},
        {"2027-01-01", "2027-01-31", "", "0:0:0:0"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        cJSON *doc = report_json(f, hq_report_sales, cases[i].from, cases[i].to);
        char rows[512], total[128];
        rows_as_text(doc, "stores", "store", fields, ARRAY_LEN(fields), rows, sizeof(rows));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "total");
        snprintf(total, sizeof(total), "%lld:%lld:%lld:%lld", (long long)num(t, "sales"),
                 (long long)num(t, "total"), (long long)num(t, "refunded"),
                 (long long)num(t, "net"));
        if (strcmp(rows, cases[i].rows) != 0 || strcmp(total, cases[i].total) != 0)
            fail_msg("%s..%s: rows\n%stotal %s; want\n%stotal %s", cases[i].from, cases[i].to, rows,
                     total, cases[i].rows, cases[i].total);
        assert_string_equal(str(doc, "from"), cases[i].from);
        assert_string_equal(str(doc, "to"), cases[i].to);
        cJSON_Delete(doc);
    }
}

/* Per guide: commission by the day each entry was recorded (a refund's reversal lowers its
 * own day), and the sales behind it (reversals are not sales). */
static void commissions_sum_per_guide_over_an_inclusive_range(void **state)
{
    struct fx *f = *state;
    static const char *const fields[] = {"commission", "sales"};
    static const struct {
        const char *from, *to, *rows;
        int64_t total;
    } cases[] = {
        {"2026-01-01", "2026-01-02", "G01:400:2\nG02:50:1\n", 450},
        {"2026-01-02", "2026-01-02", "G01:100:1\nG02:50:1\n", 150},
        {"2026-01-01", "2026-01-01", "G01:300:1\n", 300},
        {"2025-12-31", "2026-01-03", "G01:1399:3\nG02:57:2\n", 1456},
        {"2026-02-01", "2026-02-28", "", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        cJSON *doc = report_json(f, hq_report_commissions, cases[i].from, cases[i].to);
        char rows[512];
        rows_as_text(doc, "guides", "guide_id", fields, ARRAY_LEN(fields), rows, sizeof(rows));
        if (strcmp(rows, cases[i].rows) != 0 || num(doc, "total") != cases[i].total)
            fail_msg("%s..%s: rows\n%stotal %lld; want\n%stotal %lld", cases[i].from, cases[i].to,
                     rows, (long long)num(doc, "total"), cases[i].rows, (long long)cases[i].total);
        cJSON_Delete(doc);
    }
}

/* One row per redemption in the range, in time order, restored or not. */
static void redemptions_list_each_one_in_the_range(void **state)
{
    struct fx *f = *state;
    cJSON *doc = report_json(f, hq_report_redemptions, "2026-01-01", "2026-01-02");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, "redemptions");
    assert_int_equal(cJSON_GetArraySize(rows), 2);
    const cJSON *a = cJSON_GetArrayItem(rows, 0), *b = cJSON_GetArrayItem(rows, 1);
    assert_string_equal(str(a, "coupon_id"), "C1");
    assert_string_equal(str(a, "store"), "S001");
    assert_string_equal(str(a, "terminal"), "T01");
    assert_string_equal(str(a, "sale_id"), "SALE-1");
    assert_int_equal(num(a, "amount"), 2000);
    assert_int_equal(num(a, "use_no"), 1);
    assert_int_equal(num(a, "at"), T0 + HOUR);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "restored")));
    assert_string_equal(str(b, "coupon_id"), "C2");
    assert_string_equal(str(b, "store"), "S002");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b, "restored")));
    assert_int_equal(num(doc, "count"), 2);
    assert_int_equal(num(doc, "total"), 2500);
    cJSON_Delete(doc);

    doc = report_json(f, hq_report_redemptions, "2026-01-03", "2026-01-03");
    assert_int_equal(num(doc, "count"), 1);
    assert_int_equal(num(doc, "total"), 30);
    cJSON_Delete(doc);
    doc = report_json(f, hq_report_redemptions, "2027-01-01", "2027-01-01");
    assert_int_equal(num(doc, "count"), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "redemptions")), 0);
    cJSON_Delete(doc);
}

/* One row per overage in the range, by day and time, with the redemption that won; then the
 * exposure per campaign (a coupon outside any campaign last, as null). */
static void conflicts_list_each_overage_and_the_exposure_per_campaign(void **state)
{
    struct fx *f = *state;
    cJSON *doc = report_json(f, hq_report_conflicts, "2026-01-01", "2026-01-02");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, "conflicts");
    assert_int_equal(cJSON_GetArraySize(rows), 3);
    const cJSON *a = cJSON_GetArrayItem(rows, 0), *b = cJSON_GetArrayItem(rows, 1),
                *c = cJSON_GetArrayItem(rows, 2);
    assert_string_equal(str(a, "day"), "2026-01-01");
    assert_string_equal(str(a, "coupon_id"), "C1");
    assert_string_equal(str(a, "campaign_id"), "camp-a");
    assert_string_equal(str(a, "store"), "S002");
    assert_string_equal(str(a, "terminal"), "T01");
    assert_string_equal(str(a, "sale_id"), "SALE-L1");
    assert_int_equal(num(a, "amount"), 2000);
    assert_int_equal(num(a, "at"), T0 + 2 * HOUR);
    assert_string_equal(str(a, "notice_id"), "settle-k1");
    assert_int_equal(num(a, "detected_at"), T0 + 3 * HOUR);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(a, "winner");
    assert_string_equal(str(w, "store"), "S001");
    assert_string_equal(str(w, "terminal"), "T01");
    assert_string_equal(str(w, "sale_id"), "SALE-1");
    assert_int_equal(num(w, "at"), T0 + HOUR);
    /* Same day: the earlier overage first. */
    assert_string_equal(str(b, "sale_id"), "SALE-L2");
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(b, "winner"), "store"), "S002");
    assert_string_equal(str(c, "sale_id"), "SALE-L3");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c, "campaign_id")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c, "notice_id")));
    assert_int_equal(num(doc, "count"), 3);
    assert_int_equal(num(doc, "total"), 2800);

    const cJSON *camps = cJSON_GetObjectItemCaseSensitive(doc, "campaigns");
    assert_int_equal(cJSON_GetArraySize(camps), 2);
    const cJSON *ca = cJSON_GetArrayItem(camps, 0), *cn = cJSON_GetArrayItem(camps, 1);
    assert_string_equal(str(ca, "campaign_id"), "camp-a");
    assert_int_equal(num(ca, "conflicts"), 2);
    assert_int_equal(num(ca, "amount"), 2500);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cn, "campaign_id")));
    assert_int_equal(num(cn, "conflicts"), 1);
    assert_int_equal(num(cn, "amount"), 300);
    cJSON_Delete(doc);
}

/* Both bounds are inclusive days; a range without conflicts is empty, not an error. */
static void conflicts_outside_the_range_are_left_out(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *from, *to;
        int64_t count, total, campaigns;
    } cases[] = {
        {"2026-01-01", "2026-01-01", 1, 2000, 1}, {"2026-01-02", "2026-01-02", 2, 800, 2},
        {"2026-01-03", "2026-01-03", 1, 999, 1},  {"2025-12-31", "2025-12-31", 0, 0, 0},
        {"2025-12-01", "2026-12-31", 4, 3799, 3}, {"2027-01-01", "2027-01-31", 0, 0, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        cJSON *doc = report_json(f, hq_report_conflicts, cases[i].from, cases[i].to);
        int rows = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "conflicts"));
        int camps = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "campaigns"));
        if (num(doc, "count") != cases[i].count || rows != cases[i].count ||
            num(doc, "total") != cases[i].total || camps != cases[i].campaigns)
            fail_msg("%s..%s: count %lld (%d rows), total %lld, %d campaigns", cases[i].from,
                     cases[i].to, (long long)num(doc, "count"), rows, (long long)num(doc, "total"),
                     camps);
        assert_string_equal(str(doc, "from"), cases[i].from);
        assert_string_equal(str(doc, "to"), cases[i].to);
        cJSON_Delete(doc);
    }
}

static int contains_line(const char *text, const char *prefix, const char *suffix)
{
    for (const char *line = text; line != NULL && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line), sl = strlen(suffix);
        if (strncmp(line, prefix, strlen(prefix)) == 0 && n >= sl &&
            strncmp(line + n - sl, suffix, sl) == 0)
            return 1;
    }
    return 0;
}

/* For people: money in yuan with two decimals, negative amounts signed. */
static void text_reports_print_money_in_yuan(void **state)
{
    struct fx *f = *state;
    char *text = run_report(f, hq_report_sales, "2026-01-01", "2026-01-02", 0);
    assert_true(contains_line(text, "S001", "30.00           5.00          25.00"));
    assert_true(contains_line(text, "total", "60.00           5.00          55.00"));
    free(text);
    text = run_report(f, hq_report_commissions, "2026-01-02", "2026-01-02", 0);
    assert_true(contains_line(text, "G01", " 1.00"));
    assert_true(contains_line(text, "total", " 1.50"));
    free(text);
    text = run_report(f, hq_report_redemptions, "2026-01-01", "2026-01-02", 0);
    assert_true(contains_line(text, "2 redemption(s)", "25.00"));
    free(text);
    text = run_report(f, hq_report_conflicts, "2026-01-01", "2026-01-02", 0);
    assert_true(contains_line(text, "2026-01-01 C1", "S001       T01        SALE-1"));
    assert_true(contains_line(text, "camp-a", "2          25.00"));
    assert_true(contains_line(text, "(none)", "1           3.00"));
    assert_true(contains_line(text, "3 conflict(s)", "28.00"));
    free(text);
}

/* A reversal on a day without sales shows as a negative amount. */
static void negative_commission_prints_with_its_sign(void **state)
{
    struct fx *f = *state;
    char err[512] = "";
    hq_store_close(f->st);
    assert_int_equal(hq_store_open(f->path, HQ_STORE_READWRITE, &f->st, err, sizeof(err)), ML_OK);
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    commission(f->st, "c9", "2026-03-01", "G03", "SALE-9", "SALE-9-R1", -1230);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    char *text = run_report(f, hq_report_commissions, "2026-03-01", "2026-03-01", 0);
    assert_true(contains_line(text, "G03", "-12.30"));
    free(text);
    cJSON *doc = report_json(f, hq_report_commissions, "2026-03-01", "2026-03-01");
    assert_int_equal(num(doc, "total"), -1230);
    cJSON_Delete(doc);
}

/* Per terminal seq state and refused events, as status --json prints them. */
static void status_lists_terminals_and_rejections(void **state)
{
    struct fx *f = *state;
    char err[512] = "";
    hq_store_close(f->st);
    assert_int_equal(hq_store_open(f->path, HQ_STORE_READWRITE, &f->st, err, sizeof(err)), ML_OK);
    static const int64_t seqs[] = {1, 2, 4};
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    for (size_t i = 0; i < ARRAY_LEN(seqs); i++) {
        char id[16];
        snprintf(id, sizeof(id), "e%lld", (long long)seqs[i]);
        struct hq_event ev = ev_of(id, "S001", T0);
        ev.seq = seqs[i];
        struct hq_put_result res;
        assert_int_equal(hq_store_put_event(f->st, &ev, T0 + (int64_t)i, &res), ML_OK);
    }
    struct hq_seq_state before, after;
    assert_int_equal(hq_store_refresh_terminal(f->st, "S001", "T01", &before, &after), ML_OK);
    assert_int_equal(hq_store_note_rejected(f->st, "S001", "T01", "topic_mismatch", "bad-1", T0),
                     ML_OK);
    assert_int_equal(hq_store_note_rejected(f->st, "S001", "T01", "malformed", NULL, T0), ML_OK);
    assert_int_equal(hq_store_commit(f->st), ML_OK);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_int_equal(hq_report_status(f->st, 1, out, err, sizeof(err)), ML_OK);
    fclose(out);
    cJSON *doc = cJSON_Parse(text);
    assert_non_null(doc);
    free(text);
    const cJSON *terms = cJSON_GetObjectItemCaseSensitive(doc, "terminals");
    assert_int_equal(cJSON_GetArraySize(terms), 1);
    const cJSON *t = cJSON_GetArrayItem(terms, 0);
    assert_string_equal(str(t, "store"), "S001");
    assert_string_equal(str(t, "terminal"), "T01");
    assert_int_equal(num(t, "next_seq"), 3);
    assert_int_equal(num(t, "max_seq"), 4);
    assert_int_equal(num(t, "gaps"), 1);
    assert_int_equal(num(t, "received"), 3);
    assert_int_equal(num(t, "first_received_at"), T0);
    assert_int_equal(num(t, "last_received_at"), T0 + 2);
    const cJSON *rej = cJSON_GetObjectItemCaseSensitive(doc, "rejections");
    assert_int_equal(cJSON_GetArraySize(rej), 2);
    const cJSON *r0 = cJSON_GetArrayItem(rej, 0), *r1 = cJSON_GetArrayItem(rej, 1);
    assert_string_equal(str(r0, "reason"), "malformed");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r0, "last_event_id")));
    assert_string_equal(str(r1, "reason"), "topic_mismatch");
    assert_string_equal(str(r1, "last_event_id"), "bad-1");
    assert_int_equal(num(r1, "count"), 1);
    cJSON_Delete(doc);
}

static void report_on_a_damaged_database_is_a_storage_error(void **state)
{
    struct fx *f = *state;
    char err[512] = "";
    hq_store_close(f->st);
    assert_int_equal(hq_store_open(f->path, HQ_STORE_READWRITE, &f->st, err, sizeof(err)), ML_OK);
    assert_int_equal(
        sqlite3_exec(db_sqlite(hq_store_conn(f->st)), "DROP TABLE sales", NULL, NULL, NULL),
        SQLITE_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    err[0] = '\0';
    assert_int_equal(hq_report_sales(f->st, "2026-01-01", "2026-01-02", 1, out, err, sizeof(err)),
                     ML_STORAGE);
    fclose(out);
    assert_non_null(strstr(err, "sales"));
    free(text);
}

/* The check `report` makes of --from and --to. */
static ml_err check_day(const char *day)
{
    return day_parse(day, HQ_REPORT_YEAR_MIN, HQ_REPORT_YEAR_MAX, NULL) == 0 ? ML_OK : ML_PARSE;
}

static void check_day_accepts_calendar_dates_of_2000_to_2999(void **state)
{
    (void)state;
    static const struct {
        const char *day;
        ml_err want;
    } cases[] = {
        {"2026-01-31", ML_OK},    {"2000-01-01", ML_OK},    {"2999-12-31", ML_OK},
        {"2024-02-29", ML_OK},    {"2000-02-29", ML_OK},    {"2026-04-30", ML_OK},
        {"2100-02-29", ML_PARSE}, {"2026-02-29", ML_PARSE}, {"2026-04-31", ML_PARSE},
        {"2026-13-01", ML_PARSE}, {"2026-00-10", ML_PARSE}, {"2026-01-00", ML_PARSE},
        {"2026-01-32", ML_PARSE}, {"1999-12-31", ML_PARSE}, {"3000-01-01", ML_PARSE},
        {"2026-1-01", ML_PARSE},  {"2026/01/01", ML_PARSE}, {"2026-01-011", ML_PARSE},
        {"2026-01-0", ML_PARSE},  {"", ML_PARSE},           {"abcd-ef-gh", ML_PARSE},
        {"+026-01-01", ML_PARSE}, {"2026-01-1 ", ML_PARSE}, {"20260101", ML_PARSE},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        if (check_day(cases[i].day) != cases[i].want)
            fail_msg("\"%s\": want %s", cases[i].day, ml_strerror(cases[i].want));
}

static void today_is_the_local_date(void **state)
{
    (void)state;
    char before[16], got[DAY_TEXT_LEN + 1], after[16];
    struct tm tm;
    time_t t = time(NULL);
    strftime(before, sizeof(before), "%Y-%m-%d", localtime_r(&t, &tm));
    day_of(clock_wall_ms(), got); /* what `report` takes for today */
    t = time(NULL);
    strftime(after, sizeof(after), "%Y-%m-%d", localtime_r(&t, &tm));
    assert_int_equal(check_day(got), ML_OK);
    assert_true(strcmp(got, before) == 0 || strcmp(got, after) == 0);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(sales_sum_per_store_over_an_inclusive_range),
        T(commissions_sum_per_guide_over_an_inclusive_range),
        T(redemptions_list_each_one_in_the_range),
        T(conflicts_list_each_overage_and_the_exposure_per_campaign),
        T(conflicts_outside_the_range_are_left_out),
        T(text_reports_print_money_in_yuan),
        T(negative_commission_prints_with_its_sign),
        T(status_lists_terminals_and_rejections),
        T(report_on_a_damaged_database_is_a_storage_error),
        cmocka_unit_test(check_day_accepts_calendar_dates_of_2000_to_2999),
        cmocka_unit_test(today_is_the_local_date),
    };
#undef T
    return cmocka_run_group_tests_name("hq_report", tests, NULL, NULL);
}
