/*
 * day_test: unit tests for day.h.
 *
 * Dates and times are checked against values computed outside the code (Python's datetime:
 * date.toordinal() - date(1970, 1, 1).toordinal(), datetime.fromisoformat().timestamp()).
 * day_parse and day_parse_time have a table of what they take and one of what they refuse,
 * every bound at the bound and one past it. The local-day functions run with TZ set by the
 * test itself: UTC, and Asia/Shanghai (UTC+8, no daylight saving since 1991), whose day
 * begins at 16:00 UTC.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "day.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL ((int64_t)-7777)

#define SEC INT64_C(1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define JAN1_2024 INT64_C(1704067200000) /* 2024-01-01T00:00:00Z */

static void set_tz(const char *tz)
{
    assert_int_equal(setenv("TZ", tz, 1), 0);
    tzset();
}

struct civil {
    int64_t y, m, d;
    int64_t want;
};

static const struct civil civils[] = {
    {1970, 1, 1, 0},         {1970, 1, 2, 1},      {1969, 12, 31, -1},    {2000, 2, 29, 11016},
    {2000, 3, 1, 11017},     {2024, 2, 29, 19782}, {1900, 2, 28, -25509}, {1900, 3, 1, -25508},
    {1600, 3, 1, -135080},   {2026, 1, 1, 20454},  {2038, 1, 19, 24855},  {1, 1, 1, -719162},
    {9999, 12, 31, 2932896},
};

static void from_civil_matches_known_days(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(civils); i++) {
        const struct civil *t = &civils[i];
        int64_t got = day_from_civil(t->y, t->m, t->d);
        if (got != t->want)
            fail_msg("%04lld-%02lld-%02lld: want %lld, got %lld", (long long)t->y, (long long)t->m,
                     (long long)t->d, (long long)t->want, (long long)got);
    }
}

struct parse_ok {
    const char *s;
    int min_year, max_year;
    int64_t want;
};

static const struct parse_ok parse_oks[] = {
    {"1970-01-01", 1900, 2100, 0},
    {"2000-03-01", 1900, 2100, 11017},
    {"1969-12-31", 1900, 2100, -1},
    {"2000-02-29", 1900, 2100, 11016}, /* divisible by 400: leap */
    {"2024-02-29", 1900, 2100, 19782}, /* divisible by 4: leap */
    {"1900-02-28", 1900, 2100, -25509},
    {"1900-03-01", 1900, 2100, -25508},
    {"2024-01-31", 1900, 2100, 19753},
    {"2024-04-30", 1900, 2100, 19843},
    {"2024-12-31", 1900, 2100, 20088},
    {"2000-01-01", 2000, 2030, 10957}, /* min_year itself */
    {"2030-12-31", 2000, 2030, 22279}, /* max_year itself */
    {"0001-01-01", 1, 9999, -719162},
    {"9999-12-31", 1, 9999, 2932896},
};

static void parse_takes_existing_dates_and_returns_days_since_epoch(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(parse_oks); i++) {
        const struct parse_ok *t = &parse_oks[i];
        int64_t got = SENTINEL;
        int rc = day_parse(t->s, t->min_year, t->max_year, &got);
        if (rc != 0 || got != t->want)
            fail_msg("\"%s\" in [%d, %d]: want 0 and %lld, got %d and %lld", t->s, t->min_year,
                     t->max_year, (long long)t->want, rc, (long long)got);
        if (day_parse(t->s, t->min_year, t->max_year, NULL) != 0)
            fail_msg("\"%s\" with ret_days NULL: want 0", t->s);
    }
}

struct parse_bad {
    const char *what;
    const char *s;
    int min_year, max_year;
};

static const struct parse_bad parse_bads[] = {
    {"empty", "", 1900, 2100},
    {"1900 is not leap", "1900-02-29", 1800, 2100},
    {"2023 is not leap", "2023-02-29", 1900, 2100},
    {"2100 is not leap", "2100-02-29", 1900, 2100},
    {"February 30 of a leap year", "2024-02-30", 1900, 2100},
    {"April 31", "2024-04-31", 1900, 2100},
    {"January 32", "2024-01-32", 1900, 2100},
    {"day 0", "2024-01-00", 1900, 2100},
    {"month 0", "2024-00-10", 1900, 2100},
    {"month 13", "2024-13-01", 1900, 2100},
    {"one year below min", "1999-12-31", 2000, 2030},
    {"one year past max", "2031-01-01", 2000, 2030},
    {"one-digit month", "2024-1-01", 1900, 2100},
    {"one-digit day", "2024-01-1", 1900, 2100},
    {"two-digit year", "24-01-01", 1900, 2100},
    {"slashes", "2024/01/01", 1900, 2100},
    {"no separators", "20240101", 1900, 2100},
    {"trailing space", "2024-01-01 ", 1900, 2100},
    {"leading space", " 2024-01-01", 1900, 2100},
    {"a time after it", "2024-01-01T00:00", 1900, 2100},
    {"letter in the day", "2024-01-0a", 1900, 2100},
    {"sign in the year", "+024-01-01", 1900, 2100},
    {"sign in the month", "2024-+1-01", 1900, 2100},
    {"space in the month", "2024- 1-01", 1900, 2100},
    {"non-ASCII digit", "2024-01-\xd9\xa3", 1900, 2100},
};

static void parse_refuses_bad_dates_and_writes_nothing(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(parse_bads); i++) {
        const struct parse_bad *t = &parse_bads[i];
        int64_t got = SENTINEL;
        int rc = day_parse(t->s, t->min_year, t->max_year, &got);
        if (rc != -1 || got != SENTINEL)
            fail_msg("%s: \"%s\" in [%d, %d]: want -1 with nothing written, got %d and %lld",
                     t->what, t->s, t->min_year, t->max_year, rc, (long long)got);
        if (day_parse(t->s, t->min_year, t->max_year, NULL) != -1)
            fail_msg("%s: \"%s\" with ret_days NULL: want -1", t->what, t->s);
    }
}

struct time_ok {
    const char *s;
    int64_t max;
    int64_t want;
};

#define TMAX INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

static const struct time_ok time_oks[] = {
    /* plain digits are ms */
    {"0", 10, 0},
    {"10", 10, 10}, /* at max */
    {"0001704067200000", TMAX, JAN1_2024},
    {"1704067200000", TMAX, JAN1_2024},
    /* a date alone is its midnight UTC */
    {"2024-01-01", TMAX, JAN1_2024},
    {"1970-01-01", TMAX, 0},
    {"2024-02-29", TMAX, JAN1_2024 + 59 * DAY},
    {"2024-01-01", JAN1_2024, JAN1_2024}, /* result at max */
    /* with a time, after T or a space */
    {"2024-01-01T10:20", TMAX, JAN1_2024 + 10 * HOUR + 20 * MIN},
    {"2024-01-01 10:20", TMAX, JAN1_2024 + 10 * HOUR + 20 * MIN},
    {"2024-01-01T00:00", TMAX, JAN1_2024},
    {"2024-01-01T23:59", TMAX, JAN1_2024 + 23 * HOUR + 59 * MIN},
    {"2024-01-01T10:20:30", TMAX, JAN1_2024 + 10 * HOUR + 20 * MIN + 30 * SEC},
    {"2024-01-01T23:59:59", TMAX, JAN1_2024 + DAY - SEC},
    /* fractions: 1..9 digits, past the third ignored */
    {"2024-01-01T10:20:30.5", TMAX, JAN1_2024 + 10 * HOUR + 20 * MIN + 30 * SEC + 500},
    {"2024-01-01T10:20:30.12", TMAX, JAN1_2024 + 10 * HOUR + 20 * MIN + 30 * SEC + 120},
    {"2024-01-01T10:20:30.123", TMAX, JAN1_2024 + 10 * HOUR + 20 * MIN + 30 * SEC + 123},
    {"2024-01-01T10:20:30.1239", TMAX, JAN1_2024 + 10 * HOUR + 20 * MIN + 30 * SEC + 123},
    {"2024-01-01T10:20:30.999999999", TMAX, JAN1_2024 + 10 * HOUR + 20 * MIN + 30 * SEC + 999},
    {"2024-01-01T10:20:30.007", TMAX, JAN1_2024 + 10 * HOUR + 20 * MIN + 30 * SEC + 7},
    {"2023-12-31T23:59:59.999", JAN1_2024 - 1, JAN1_2024 - 1}, /* result at max */
    /* zones */
    {"2024-01-01T10:20Z", TMAX, JAN1_2024 + 10 * HOUR + 20 * MIN},
    {"2024-01-01T10:20:30Z", TMAX, JAN1_2024 + 10 * HOUR + 20 * MIN + 30 * SEC},
    {"2024-01-01T10:20:30.123Z", TMAX, JAN1_2024 + 10 * HOUR + 20 * MIN + 30 * SEC + 123},
    {"2024-01-01T08:00+08:00", TMAX, JAN1_2024},
    {"2024-01-01T08:00:00.250+08:00", TMAX, JAN1_2024 + 250},
    {"2024-01-01T10:20+05:30", TMAX, INT64_C(1704084600000)},
    {"2023-12-31T19:00-05", TMAX, JAN1_2024},
    {"2023-12-31T19:00-05:00", TMAX, JAN1_2024},
    {"2024-01-01T00:00+00:00", TMAX, JAN1_2024},
    {"2024-01-01T23:59+23:59", TMAX, JAN1_2024},
    {"2023-12-31T00:01-23:59", TMAX, JAN1_2024},
    {"1970-01-01T00:00+00:00", TMAX, 0}, /* result 0 */
    {"1970-01-01T00:00-01", TMAX, HOUR},
};

static void parse_time_takes_ms_and_iso_forms(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(time_oks); i++) {
        const struct time_ok *t = &time_oks[i];
        int64_t got = SENTINEL;
        int rc = day_parse_time(t->s, t->max, &got);
        if (rc != 0 || got != t->want)
            fail_msg("\"%s\" (max %lld): want 0 and %lld, got %d and %lld", t->s, (long long)t->max,
                     (long long)t->want, rc, (long long)got);
    }
}

struct time_bad {
    const char *what;
    const char *s;
    int64_t max;
};

static const struct time_bad time_bads[] = {
    /* plain digits */
    {"ms one past max", "11", 10},
    {"19 digits", "1000000000000000000", INT64_MAX},
    {"negative ms", "-1", 10},
    {"plus sign", "+1", 10},
    {"empty", "", TMAX},
    /* shape */
    {"letters", "yesterday", TMAX},
    {"one-digit month", "2024-1-01", TMAX},
    {"slashes", "2024/01/01", TMAX},
    {"T and nothing", "2024-01-01T", TMAX},
    {"space and nothing", "2024-01-01 ", TMAX},
    {"lower-case t", "2024-01-01t10:20", TMAX},
    {"hour only", "2024-01-01T10", TMAX},
    {"one-digit minute", "2024-01-01T10:2", TMAX},
    {"no colon", "2024-01-01T1020", TMAX},
    {"one-digit second", "2024-01-01T10:20:3", TMAX},
    {"colon and nothing", "2024-01-01T10:20:", TMAX},
    {"dot and no digits", "2024-01-01T10:20:30.", TMAX},
    {"ten fraction digits", "2024-01-01T10:20:30.1234567890", TMAX},
    {"fraction without seconds", "2024-01-01T10:20.5", TMAX},
    {"comma fraction", "2024-01-01T10:20:30,5", TMAX},
    {"something after Z", "2024-01-01T10:20Zx", TMAX},
    {"lower-case z", "2024-01-01T10:20z", TMAX},
    {"space before Z", "2024-01-01T10:20 Z", TMAX},
    {"one-digit offset", "2024-01-01T10:20+8", TMAX},
    {"one-digit offset minutes", "2024-01-01T10:20+08:0", TMAX},
    {"offset and garbage", "2024-01-01T10:20+08:00x", TMAX},
    {"sign alone", "2024-01-01T10:20+", TMAX},
    {"trailing space", "2024-01-01T10:20 ", TMAX},
    /* values */
    {"hour 24", "2024-01-01T24:00", TMAX},
    {"minute 60", "2024-01-01T23:60", TMAX},
    {"second 60", "2024-01-01T23:59:60", TMAX},
    {"offset hour 24", "2024-01-01T10:20+24:00", TMAX},
    {"offset minute 60", "2024-01-01T10:20+08:60", TMAX},
    {"no such date", "2023-02-29", TMAX},
    {"month 13", "2024-13-01", TMAX},
    {"day 0", "2024-01-00", TMAX},
    {"year 1969", "1969-12-31", TMAX},
    {"year 1969 with a time", "1969-12-31T23:59:59.999Z", TMAX},
    {"year 1969 brought past 1970 by an offset", "1969-12-31T23:00-02:00", TMAX},
    {"result below 0", "1970-01-01T00:00+00:01", TMAX},
    {"result 1 ms past max", "2024-01-01T00:00:00.001", JAN1_2024},
    {"result 1 s past max", "2024-01-01T00:00:01Z", JAN1_2024},
    {"date past max", "2024-01-02", JAN1_2024},
};

static void parse_time_refuses_bad_times_and_writes_nothing(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(time_bads); i++) {
        const struct time_bad *t = &time_bads[i];
        int64_t got = SENTINEL;
        int rc = day_parse_time(t->s, t->max, &got);
        if (rc != -1 || got != SENTINEL)
            fail_msg("%s: \"%s\" (max %lld): want -1 with nothing written, got %d and %lld",
                     t->what, t->s, (long long)t->max, rc, (long long)got);
    }
}

/*
 * day.h's grammar is (+|-)HH[:MM]: the offset's minutes are a ':' and two digits, or absent.
 * A ':' with nothing after it, or minutes without the ':', are not that shape.
 */
static void parse_time_offset_minutes_need_a_colon_and_two_digits(void **state)
{
    (void)state;
    /* +HHMM and +HH:MM are the zone; a colon without its two minutes is not. */
    static const struct time_ok ok[] = {
        {"2024-01-01T08:00+0800", TMAX, JAN1_2024},
        {"2024-01-01T08:00+08:00", TMAX, JAN1_2024},
        {"2024-01-01T08:00+08", TMAX, JAN1_2024},
    };
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        int64_t got = SENTINEL;
        int rc = day_parse_time(ok[i].s, ok[i].max, &got);
        if (rc != 0 || got != ok[i].want)
            fail_msg("\"%s\": want 0 and %lld, got %d and %lld", ok[i].s, (long long)ok[i].want, rc,
                     (long long)got);
    }
    static const char *const rows[] = {"2024-01-01T08:00+08:", "2024-01-01T08:00+08:0",
                                       "2024-01-01T08:00+080", "2024-01-01T08:00+08:000"};
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        int64_t got = SENTINEL;
        int rc = day_parse_time(rows[i], TMAX, &got);
        if (rc != -1 || got != SENTINEL)
            fail_msg("\"%s\": want -1 with nothing written, got %d and %lld", rows[i], rc,
                     (long long)got);
    }
}

/*
 * day.h's grammar puts the zone inside the optional time: a date alone is a UTC midnight and
 * carries no zone (memberlink-hq's --from/--to have always read it so).
 */
static void parse_time_refuses_a_zone_after_a_date_alone(void **state)
{
    (void)state;
    static const char *const rows[] = {"2024-01-01Z", "2024-01-01+08:00", "2024-01-01-05"};
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        int64_t got = SENTINEL;
        int rc = day_parse_time(rows[i], TMAX, &got);
        if (rc != -1 || got != SENTINEL)
            fail_msg("\"%s\": want -1 with nothing written, got %d and %lld", rows[i], rc,
                     (long long)got);
    }
}

struct day_of_case {
    int64_t ms;
    const char *want;
};

static const struct day_of_case utc_days[] = {
    {0, "1970-01-01"},
    {DAY - 1, "1970-01-01"},
    {DAY, "1970-01-02"},
    {INT64_C(951782400000), "2000-02-29"},
    {JAN1_2024 - 1, "2023-12-31"},
    {JAN1_2024, "2024-01-01"},
    {JAN1_2024 + 16 * HOUR, "2024-01-01"},
    {JAN1_2024 + DAY - 1, "2024-01-01"},
    {JAN1_2024 + 59 * DAY, "2024-02-29"},
    {TMAX, "9999-12-31"},
    {INT64_MAX, "0000-00-00"}, /* no 10-character date */
};

static void day_of_gives_the_utc_day_when_tz_is_utc(void **state)
{
    (void)state;
    set_tz("UTC");
    for (size_t i = 0; i < ARRAY_LEN(utc_days); i++) {
        char out[DAY_TEXT_LEN + 1];
        memset(out, 'x', sizeof(out));
        day_of(utc_days[i].ms, out);
        if (strcmp(out, utc_days[i].want) != 0)
            fail_msg("%lld ms: want \"%s\", got \"%.*s\"", (long long)utc_days[i].ms,
                     utc_days[i].want, DAY_TEXT_LEN + 1, out);
    }
}

static const struct day_of_case shanghai_days[] = {
    {JAN1_2024 - 8 * HOUR - 1, "2023-12-31"},
    {JAN1_2024 - 8 * HOUR, "2024-01-01"},
    {JAN1_2024, "2024-01-01"},
    {JAN1_2024 + 16 * HOUR - 1, "2024-01-01"}, /* 15:59:59.999Z */
    {JAN1_2024 + 16 * HOUR, "2024-01-02"},     /* 16:00:00.000Z */
    {JAN1_2024 + 59 * DAY - 8 * HOUR, "2024-02-29"},
};

static void day_of_changes_at_16_utc_in_shanghai(void **state)
{
    (void)state;
    set_tz("Asia/Shanghai");
    for (size_t i = 0; i < ARRAY_LEN(shanghai_days); i++) {
        char out[DAY_TEXT_LEN + 1];
        memset(out, 'x', sizeof(out));
        day_of(shanghai_days[i].ms, out);
        if (strcmp(out, shanghai_days[i].want) != 0)
            fail_msg("%lld ms: want \"%s\", got \"%.*s\"", (long long)shanghai_days[i].ms,
                     shanghai_days[i].want, DAY_TEXT_LEN + 1, out);
    }
}

struct bounds_case {
    const char *tz;
    int64_t ms;
    int64_t start, end;
};

static const struct bounds_case bounds[] = {
    {"UTC", 0, 0, DAY},
    {"UTC", DAY - 1, 0, DAY},
    {"UTC", JAN1_2024, JAN1_2024, JAN1_2024 + DAY},     /* midnight exactly */
    {"UTC", JAN1_2024 - 1, JAN1_2024 - DAY, JAN1_2024}, /* one ms before */
    {"UTC", JAN1_2024 + 12 * HOUR, JAN1_2024, JAN1_2024 + DAY},
    {"UTC", JAN1_2024 + DAY - 1, JAN1_2024, JAN1_2024 + DAY},
    {"UTC", JAN1_2024 + 59 * DAY, JAN1_2024 + 59 * DAY, JAN1_2024 + 60 * DAY}, /* Feb 29 */
    /* Asia/Shanghai: the local 2024-01-02 is [2024-01-01T16:00Z, 2024-01-02T16:00Z) */
    {"Asia/Shanghai", JAN1_2024 + 16 * HOUR, JAN1_2024 + 16 * HOUR, JAN1_2024 + 40 * HOUR},
    {"Asia/Shanghai", JAN1_2024 + 16 * HOUR - 1, JAN1_2024 - 8 * HOUR, JAN1_2024 + 16 * HOUR},
    {"Asia/Shanghai", JAN1_2024, JAN1_2024 - 8 * HOUR, JAN1_2024 + 16 * HOUR},
    {"Asia/Shanghai", JAN1_2024 + 40 * HOUR - 1, JAN1_2024 + 16 * HOUR, JAN1_2024 + 40 * HOUR},
};

static void day_bounds_are_start_and_end_of_the_local_day(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(bounds); i++) {
        const struct bounds_case *t = &bounds[i];
        set_tz(t->tz);
        int64_t start = SENTINEL, end = SENTINEL;
        int rc = day_bounds(t->ms, &start, &end);
        if (rc != 0 || start != t->start || end != t->end)
            fail_msg("%s, %lld ms: want [%lld, %lld), got [%lld, %lld)", t->tz, (long long)t->ms,
                     (long long)t->start, (long long)t->end, (long long)start, (long long)end);
    }
}

/* day.h: "the local calendar day holding ms", for any int64_t. 1 ms before the epoch is
 * 1969-12-31T23:59:59.999Z; its day is 1969-12-31, [-DAY, 0). */
static void day_of_and_bounds_before_the_epoch_are_1969_12_31(void **state)
{
    (void)state;
    set_tz("UTC");
    char out[DAY_TEXT_LEN + 1];
    day_of(-1, out);
    if (strcmp(out, "1969-12-31") != 0)
        fail_msg("day_of(-1): want \"1969-12-31\", got \"%s\"", out);
    int64_t start = SENTINEL, end = SENTINEL;
    assert_int_equal(day_bounds(-1, &start, &end), 0);
    if (start != -DAY || end != 0)
        fail_msg("day_bounds(-1): want [%lld, 0), got [%lld, %lld)", (long long)-DAY,
                 (long long)start, (long long)end);
}

struct time_text_case {
    const char *tz;
    int64_t ms;
    const char *want;
};

/* Expected texts from Python (datetime, and Hinnant's civil_from_days past year 9999). */
static const struct time_text_case time_texts[] = {
    {"UTC", 0, "1970-01-01 00:00:00"},
    {"UTC", 999, "1970-01-01 00:00:00"},
    {"UTC", SEC, "1970-01-01 00:00:01"},
    {"UTC", -1, "1969-12-31 23:59:59"}, /* rounded down, as day_of() */
    {"UTC", -SEC, "1969-12-31 23:59:59"},
    {"UTC", -SEC - 1, "1969-12-31 23:59:58"},
    {"UTC", JAN1_2024 + 16 * HOUR - 1, "2024-01-01 15:59:59"},
    {"UTC", TMAX, "9999-12-31 23:59:59"},
    {"UTC", INT64_MAX, "292278994-08-17 07:12:55"},
    {"UTC", INT64_MIN, "-292275055-05-16 16:47:04"},
    {"Asia/Shanghai", 0, "1970-01-01 08:00:00"},
    {"Asia/Shanghai", -1, "1970-01-01 07:59:59"},
    {"Asia/Shanghai", JAN1_2024 + 16 * HOUR - 1, "2024-01-01 23:59:59"},
    {"Asia/Shanghai", JAN1_2024 + 16 * HOUR, "2024-01-02 00:00:00"},
};

static void time_text_is_the_local_second_rounded_down(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(time_texts); i++) {
        const struct time_text_case *t = &time_texts[i];
        char out[32];
        set_tz(t->tz);
        memset(out, 'x', sizeof(out));
        int rc = day_time_text(t->ms, out, sizeof(out));
        if (rc != 0 || strcmp(out, t->want) != 0)
            fail_msg("%s, %lld ms: want 0 and \"%s\", got %d and \"%.*s\"", t->tz, (long long)t->ms,
                     t->want, rc, (int)sizeof(out), out);
    }
}

static void time_text_needs_room_for_the_text_and_its_nul(void **state)
{
    (void)state;
    set_tz("UTC");
    char out[DAY_TIME_TEXT_LEN + 1];
    assert_int_equal(day_time_text(JAN1_2024, out, sizeof(out)), 0);
    assert_string_equal(out, "2024-01-01 00:00:00");
    assert_int_equal(day_time_text(JAN1_2024, out, DAY_TIME_TEXT_LEN), -1);
    assert_int_equal(day_time_text(JAN1_2024, out, 0), -1);
    /* A nine-digit year is longer than DAY_TIME_TEXT_LEN. */
    assert_int_equal(day_time_text(INT64_MAX, out, sizeof(out)), -1);
}

/* Past the days whose bounds fit in int64_t ms, day_bounds() refuses and writes nothing. */
static void day_bounds_refuses_a_day_past_int64_ms(void **state)
{
    (void)state;
    set_tz("UTC");
    const int64_t rows[] = {INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        int64_t start = SENTINEL, end = SENTINEL;
        int rc = day_bounds(rows[i], &start, &end);
        if (rc != -1 || start != SENTINEL || end != SENTINEL)
            fail_msg("%lld ms: want -1 with nothing written, got %d and [%lld, %lld)",
                     (long long)rows[i], rc, (long long)start, (long long)end);
    }
    int64_t start = SENTINEL, end = SENTINEL;
    assert_int_equal(day_bounds(TMAX, &start, &end), 0);
    assert_true(start == TMAX + 1 - DAY && end == TMAX + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(from_civil_matches_known_days),
        cmocka_unit_test(parse_takes_existing_dates_and_returns_days_since_epoch),
        cmocka_unit_test(parse_refuses_bad_dates_and_writes_nothing),
        cmocka_unit_test(parse_time_takes_ms_and_iso_forms),
        cmocka_unit_test(parse_time_refuses_bad_times_and_writes_nothing),
        cmocka_unit_test(parse_time_offset_minutes_need_a_colon_and_two_digits),
        cmocka_unit_test(parse_time_refuses_a_zone_after_a_date_alone),
        cmocka_unit_test(day_of_gives_the_utc_day_when_tz_is_utc),
        cmocka_unit_test(day_of_changes_at_16_utc_in_shanghai),
        cmocka_unit_test(day_bounds_are_start_and_end_of_the_local_day),
        cmocka_unit_test(day_of_and_bounds_before_the_epoch_are_1969_12_31),
        cmocka_unit_test(time_text_is_the_local_second_rounded_down),
        cmocka_unit_test(time_text_needs_room_for_the_text_and_its_nul),
        cmocka_unit_test(day_bounds_refuses_a_day_past_int64_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
