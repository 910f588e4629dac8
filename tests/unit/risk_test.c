/*
 * risk_test: unit tests for risk.h, the offline caps.
 *
 * The decision table fills struct risk by hand, so every cap is checked at its limit and one
 * past it without a database. The counter tests write redemption rows straight into a real
 * store (testdb.h) and read them back through risk_begin() with a trusted clock whose boot
 * clock the test moves. Runs in the fixed zone CST-8 (UTC+8, no daylight saving), so
 * calendar days are known.
 */
#include "testdb.h"

#include <time.h>

#include "day.h"
#include "coupon.h"
#include "risk.h"
#include "trust.h"

#define SEC INT64_C(1000)
/* 2026-01-01T12:00:00+08:00: noon of a local day that starts at 2025-12-31T16:00:00Z. */
#define NOON INT64_C(1767240000000)
#define DAY_START INT64_C(1767196800000)
#define DAY_END (DAY_START + TESTDB_DAY)

static struct config_offline caps(void)
{
    struct config cfg;
    config_defaults(&cfg);
    return cfg.offline;
}

/* An offline sale with trusted time, nothing redeemed yet, a member. */
static struct risk offline_risk(void)
{
    struct risk rk;
    memset(&rk, 0, sizeof(rk));
    rk.cfg = caps();
    rk.offline = 1;
    rk.trusted = 1;
    rk.trusted_ms = NOON;
    rk.since_contact_ms = 10 * 60 * SEC;
    rk.has_member = 1;
    return rk;
}

static struct coupon coupon_of(int offline_ok)
{
    struct coupon c;
    memset(&c, 0, sizeof(c));
    snprintf(c.coupon_id, sizeof(c.coupon_id), "C1");
    c.offline_ok = offline_ok;
    c.uses_total = c.uses_left = 1;
    snprintf(c.state, sizeof(c.state), "available");
    return c;
}

enum field {
    F_NONE,
    F_ONLINE,
    F_UNTRUSTED,
    F_SINCE,
    F_MEMBER_TODAY,
    F_ANONYMOUS,
    F_TERMINAL_VALUE,
    F_CAP_DAILY,
    F_CAP_COUPON,
    F_CAP_TERMINAL
};

struct cap_case {
    const char *what;
    int offline_ok;
    int64_t amount;
    enum field field; /* what the row changes from offline_risk() */
    int64_t value;
    const char *want; /* NULL: accepted */
};

/* Defaults: coupon_max_value 10000, member_daily_redemptions 3, terminal_max_value 200000,
 * max_offline_s 86400. */
/* clang-format off */
static const struct cap_case cap_cases[] = {
    {"online: no cap applies",                 0, 999999999, F_ONLINE, 0, NULL},
    {"offline, within every cap",              1, 100, F_NONE, 0, NULL},
    {"not offline_ok",                         0, 100, F_NONE, 0, "offline_not_allowed"},
    {"not offline_ok wins over untrusted",     0, 100, F_UNTRUSTED, 0, "offline_not_allowed"},
    {"no trusted time",                        1, 100, F_UNTRUSTED, 0, "clock_untrusted"},
    {"offline exactly max_offline_s",          1, 100, F_SINCE, 86400 * SEC, NULL},
    {"offline 1 ms past max_offline_s",        1, 100, F_SINCE, 86400 * SEC + 1, "offline_too_long"},
    {"discount at coupon_max_value",           1, 10000, F_NONE, 0, NULL},
    {"discount 1 past coupon_max_value",       1, 10001, F_NONE, 0, "offline_coupon_value"},
    {"coupon_max_value 0 refuses any discount",1, 1, F_CAP_COUPON, 0, "offline_coupon_value"},
    {"member's 3rd offline redemption today",  1, 100, F_MEMBER_TODAY, 2, NULL},
    {"member's 4th offline redemption today",  1, 100, F_MEMBER_TODAY, 3, "offline_member_daily"},
    {"anonymous sale has no per-member count", 1, 100, F_ANONYMOUS, 3, NULL},
    {"member_daily_redemptions 0",             1, 100, F_CAP_DAILY, 0, "offline_member_daily"},
    {"terminal total reaches the cap",         1, 10000, F_TERMINAL_VALUE, 190000, NULL},
    {"terminal total 1 past the cap",          1, 10000, F_TERMINAL_VALUE, 190001, "offline_terminal_value"},
    {"terminal_max_value 0",                   1, 1, F_CAP_TERMINAL, 0, "offline_terminal_value"},
    {"value cap reported before terminal cap", 1, 10001, F_TERMINAL_VALUE, 200000, "offline_coupon_value"},
};
/* clang-format on */

static int same_counts(const struct risk *a, const struct risk *b)
{
    return a->member_today == b->member_today && a->terminal_value == b->terminal_value;
}

static void each_cap_holds_at_its_limit_and_refuses_one_past(void **state)
{
    (void)state;
    size_t bad = 0;
    for (size_t i = 0; i < ARRAY_LEN(cap_cases); i++) {
        const struct cap_case *k = &cap_cases[i];
        struct risk rk = offline_risk();
        switch (k->field) {
        case F_ONLINE:
            rk.offline = 0;
            break;
        case F_UNTRUSTED:
            rk.trusted = 0;
            break;
        case F_SINCE:
            rk.since_contact_ms = k->value;
            break;
        case F_MEMBER_TODAY:
            rk.member_today = k->value;
            break;
        case F_ANONYMOUS:
            rk.has_member = 0;
            rk.member_today = k->value;
            break;
        case F_TERMINAL_VALUE:
            rk.terminal_value = k->value;
            break;
        case F_CAP_DAILY:
            rk.cfg.member_daily_redemptions = k->value;
            break;
        case F_CAP_COUPON:
            rk.cfg.coupon_max_value = k->value;
            break;
        case F_CAP_TERMINAL:
            rk.cfg.terminal_max_value = k->value;
            break;
        case F_NONE:
            break;
        }
        struct risk before = rk;
        struct coupon c = coupon_of(k->offline_ok);
        struct ml_refusal r = {0};
        ml_err err = risk_coupon(&rk, &c, k->amount, &r);
        const char *got = err == ML_OK ? NULL : r.code;
        if ((got == NULL) != (k->want == NULL) || (got && strcmp(got, k->want) != 0)) {
            print_error("%s: want %s, got %s (%s)\n", k->what, k->want ? k->want : "accepted",
                        got ? got : "accepted", r.message);
            bad++;
            continue;
        }
        if (err != ML_OK) {
            /* A refusal is a 409 with a message naming the coupon, and counts nothing. */
            if (err != ML_REFUSED || r.http_status != 409 || strstr(r.message, "C1") == NULL ||
                !same_counts(&rk, &before)) {
                print_error("%s: refusal not shaped right or counted\n", k->what);
                bad++;
            }
        } else if (rk.offline && (rk.terminal_value != before.terminal_value + k->amount ||
                                  rk.member_today != before.member_today + before.has_member)) {
            print_error("%s: accepted offline redemption not counted\n", k->what);
            bad++;
        } else if (!rk.offline && !same_counts(&rk, &before)) {
            print_error("%s: an online redemption was counted\n", k->what);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void coupons_of_one_sale_count_against_each_other(void **state)
{
    (void)state;
    struct risk rk = offline_risk();
    rk.cfg.member_daily_redemptions = 2;
    rk.cfg.terminal_max_value = 15000;
    struct coupon c = coupon_of(1);
    struct ml_refusal r = {0};
    assert_int_equal(risk_coupon(&rk, &c, 6000, &r), ML_OK);
    assert_int_equal(risk_coupon(&rk, &c, 9001, &r), ML_REFUSED);
    assert_string_equal(r.code, "offline_terminal_value");
    assert_int_equal(risk_coupon(&rk, &c, 9000, &r), ML_OK);
    assert_int_equal(rk.terminal_value, 15000);
    assert_int_equal(rk.member_today, 2);
    assert_int_equal(risk_coupon(&rk, &c, 0, &r), ML_REFUSED);
    assert_string_equal(r.code, "offline_member_daily");
}

struct points_case {
    int offline;
    int64_t margin_bp, available, want;
};

static const struct points_case points_cases[] = {
    {0, 2000, 1000, 1000}, /* online: the whole balance */
    {1, 2000, 1000, 800},  /* 20 % kept back */
    {1, 2000, 999, 799},   /* 799.2 rounds down, in the store's favour */
    {1, 2000, 4, 3},       /* 3.2 -> 3 */
    {1, 0, 1000, 1000},    /* margin 0: the whole balance */
    {1, 10000, 1000, 0},   /* margin 100 %: nothing offline */
    {1, 9999, 10000, 1},   /* one basis point left */
    {1, 2000, 0, 0},       /* nothing to spend */
    {1, 2000, INT64_C(1000000000000), INT64_C(800000000000)},
};

static void points_limit_keeps_the_margin_back_offline_only(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(points_cases); i++) {
        const struct points_case *k = &points_cases[i];
        struct risk rk = offline_risk();
        rk.offline = k->offline;
        rk.cfg.points_margin_bp = k->margin_bp;
        int64_t got = risk_points_limit(&rk, k->available);
        if (got != k->want)
            fail_msg("row %zu: limit of %lld at %lld bp: %lld, want %lld", i,
                     (long long)k->available, (long long)k->margin_bp, (long long)got,
                     (long long)k->want);
    }
}

static void day_bounds_are_the_local_calendar_day(void **state)
{
    (void)state;
    int64_t start, end;
    day_bounds(NOON, &start, &end);
    assert_int_equal(start, DAY_START);
    assert_int_equal(end, DAY_END);
    day_bounds(DAY_START, &start, &end);
    assert_int_equal(start, DAY_START);
    day_bounds(DAY_START - 1, &start, &end);
    assert_int_equal(start, DAY_START - TESTDB_DAY);
    assert_int_equal(end, DAY_START);
}

/* ------------------------------------------------------------------------------------ */
/* risk_begin(): the clock and the counters from the database.                           */

static int64_t boot_clock;

static int64_t fake_boot_ms(void)
{
    return boot_clock;
}

/* A terminal that syncs with HQ, heard HQ at NOON - since_ms; the boot clock is now. */
static void heard_ago(struct testdb *t, struct trust *tr, int64_t since_ms)
{
    snprintf(t->cfg.mqtt_host, sizeof(t->cfg.mqtt_host), "broker.local");
    boot_clock = 1000 * SEC;
    assert_int_equal(trust_open_with(tr, t->db, fake_boot_ms, "3f1c2a9e-0000"), ML_OK);
    assert_int_equal(trust_hq_time(tr, t->db, NOON - since_ms), ML_OK);
    boot_clock += since_ms;
    t->ctx.trust = tr;
}

static void exec(struct testdb *t, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db_sqlite(t->db), sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

/* One sale of `member` ("" for anonymous) with one redemption. */
static void redemption(struct testdb *t, const char *sale, const char *member, int offline,
                       int64_t trusted_at, int64_t amount, int restored)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO sales (sale_id, terminal, member_id, subtotal, discount, points_value, "
             " total, points_earned, points_spent, commission, created_at, doc) "
             "VALUES ('%s', 'T01', %s%s%s, 0, 0, 0, 0, 0, 0, 0, 0, '{}');"
             "INSERT INTO redemptions (coupon_id, use_no, sale_id, amount, lines, created_at, "
             " offline, trusted_at, restored) VALUES ('C-%s', 1, '%s', %lld, '[1]', 0, %d, %lld, "
             " %d)",
             sale, member[0] ? "'" : "", member[0] ? member : "NULL", member[0] ? "'" : "", sale,
             sale, (long long)amount, offline, (long long)trusted_at, restored);
    exec(t, sql);
}

static void standalone_terminal_is_never_offline(void **state)
{
    struct testdb *t = *state;
    struct risk rk;
    assert_string_equal(t->cfg.mqtt_host, "");
    assert_int_equal(risk_begin(&rk, &t->ctx, "M1"), ML_OK);
    assert_int_equal(rk.offline, 0);
    assert_int_equal(rk.trusted, 0);
}

static void sale_is_offline_past_the_contact_window(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    struct risk rk;
    heard_ago(t, &tr, 120 * SEC); /* exactly contact_window_s: still online */
    assert_int_equal(risk_begin(&rk, &t->ctx, "M1"), ML_OK);
    assert_int_equal(rk.offline, 0);
    assert_int_equal(rk.trusted, 1);
    assert_int_equal(rk.trusted_ms, NOON);
    boot_clock += 1;
    assert_int_equal(risk_begin(&rk, &t->ctx, "M1"), ML_OK);
    assert_int_equal(rk.offline, 1);
    assert_int_equal(rk.since_contact_ms, 120 * SEC + 1);
}

static void syncing_terminal_that_never_heard_hq_is_offline_and_untrusted(void **state)
{
    struct testdb *t = *state;
    struct risk rk;
    snprintf(t->cfg.mqtt_host, sizeof(t->cfg.mqtt_host), "broker.local");
    assert_int_equal(risk_begin(&rk, &t->ctx, NULL), ML_OK); /* ctx.trust is NULL */
    assert_int_equal(rk.offline, 1);
    assert_int_equal(rk.trusted, 0);
    assert_int_equal(rk.since_contact_ms, -1);
}

static void member_count_is_live_offline_redemptions_of_the_trusted_day(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    heard_ago(t, &tr, 10 * 60 * SEC);
    redemption(t, "S1", "M1", 1, NOON - 1, 100, 0);      /* counts */
    redemption(t, "S2", "M1", 1, DAY_START, 100, 0);     /* first ms of the day: counts */
    redemption(t, "S3", "M1", 1, DAY_START - 1, 100, 0); /* yesterday */
    redemption(t, "S4", "M1", 1, DAY_END, 100, 0);       /* tomorrow */
    redemption(t, "S5", "M1", 0, NOON - 1, 100, 0);      /* online */
    redemption(t, "S6", "M1", 1, NOON - 1, 100, 1);      /* given back by a refund */
    redemption(t, "S7", "M2", 1, NOON - 1, 100, 0);      /* another member */
    redemption(t, "S8", "", 1, NOON - 1, 100, 0);        /* anonymous */
    struct risk rk;
    assert_int_equal(risk_begin(&rk, &t->ctx, "M1"), ML_OK);
    assert_int_equal(rk.offline, 1);
    assert_int_equal(rk.has_member, 1);
    assert_int_equal(rk.member_today, 2);
    assert_int_equal(risk_begin(&rk, &t->ctx, NULL), ML_OK);
    assert_int_equal(rk.has_member, 0);
    assert_int_equal(rk.member_today, 0);
}

static void terminal_value_is_live_offline_redemptions_since_contact(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    int64_t contact = NOON - 10 * 60 * SEC;
    heard_ago(t, &tr, 10 * 60 * SEC);
    redemption(t, "S1", "M1", 1, contact, 1000, 0);     /* at the contact: counts */
    redemption(t, "S2", "", 1, NOON - 1, 200, 0);       /* counts */
    redemption(t, "S3", "M1", 1, contact - 1, 4000, 0); /* before the contact */
    redemption(t, "S4", "M1", 0, NOON - 1, 8000, 0);    /* online */
    redemption(t, "S5", "M1", 1, NOON - 1, 16000, 1);   /* restored */
    struct risk rk;
    assert_int_equal(risk_begin(&rk, &t->ctx, "M9"), ML_OK);
    assert_int_equal(rk.terminal_value, 1200);
    /* HQ heard again, then offline again: the count starts over. */
    assert_int_equal(trust_hq_time(&tr, t->db, NOON), ML_OK);
    boot_clock += 121 * SEC;
    assert_int_equal(risk_begin(&rk, &t->ctx, "M9"), ML_OK);
    assert_int_equal(rk.offline, 1);
    assert_int_equal(rk.terminal_value, 0);
}

/* The redemption a sale writes carries its offline flag and trusted time, which the counters
 * above read; an online redemption without trusted time carries neither. */
static void record_marks_the_redemption_offline_with_trusted_time(void **state)
{
    struct testdb *t = *state;
    struct ml_refusal r = {0};
    int64_t use_no = 0;
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"C-S1\",\"kind\":\"amount_off\",\"value\":100,"
                "\"valid_from\":0,\"valid_to\":4102444800000,\"uses\":2,\"version\":1}");
    struct coupon c;
    assert_int_equal(coupon_get(t->db, "C-S1", &c), ML_OK);
    struct risk rk = offline_risk();
    assert_int_equal(
        coupon_redeem(t->db, &c, "S1", 100, "[1]", NOON, rk.offline, rk.trusted_ms, &use_no, &r),
        ML_OK);
    assert_int_equal(testdb_i64(t, "SELECT offline FROM redemptions WHERE use_no = 1"), 1);
    assert_int_equal(testdb_i64(t, "SELECT trusted_at FROM redemptions WHERE use_no = 1"), NOON);
    assert_int_equal(coupon_redeem(t->db, &c, "S2", 100, "[1]", NOON, 0, 0, &use_no, &r), ML_OK);
    assert_int_equal(testdb_i64(t, "SELECT offline FROM redemptions WHERE use_no = 2"), 0);
    assert_int_equal(testdb_i64(t, "SELECT trusted_at IS NULL FROM redemptions WHERE use_no = 2"),
                     1);
    coupon_release(&c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, testdb_setup, testdb_teardown)

int main(void)
{
    setenv("TZ", "CST-8", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_cap_holds_at_its_limit_and_refuses_one_past),
        cmocka_unit_test(coupons_of_one_sale_count_against_each_other),
        cmocka_unit_test(points_limit_keeps_the_margin_back_offline_only),
        cmocka_unit_test(day_bounds_are_the_local_calendar_day),
        T(standalone_terminal_is_never_offline),
        T(sale_is_offline_past_the_contact_window),
        T(syncing_terminal_that_never_heard_hq_is_offline_and_untrusted),
        T(member_count_is_live_offline_redemptions_of_the_trusted_day),
        T(terminal_value_is_live_offline_redemptions_since_contact),
        T(record_marks_the_redemption_offline_with_trusted_time),
    };
    return cmocka_run_group_tests_name("risk", tests, NULL, NULL);
}
