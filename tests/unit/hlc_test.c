/*
 * hlc_test: unit tests for hlc.h: advance and merge against hand-worked tables (each stamp
 * must also be strictly greater than what it came from), the text form, and the persisted
 * clock in a real store: it survives close/reopen and never goes backwards when the wall
 * clock is set back, including for the stamps outbox events carry.
 */
#include "testdb.h"

#include "hlc.h"
#include "outbox.h"

/* -1, 0, 1 as a < b, a == b, a > b in (wall, counter) order. */
static int hlc_cmp(const struct hlc *a, const struct hlc *b)
{
    if (a->wall != b->wall)
        return a->wall < b->wall ? -1 : 1;
    if (a->counter != b->counter)
        return a->counter < b->counter ? -1 : 1;
    return 0;
}

struct advance_case {
    const char *what;
    struct hlc start;
    int64_t now;
    struct hlc want;
};

static const struct advance_case advance_cases[] = {
    {"first event", {0, 0}, 1000, {1000, 0}},
    {"clock forward resets the counter", {1000, 5}, 1001, {1001, 0}},
    {"same ms increments the counter", {1000, 0}, 1000, {1000, 1}},
    {"same ms again", {1000, 1}, 1000, {1000, 2}},
    {"clock one ms back keeps the wall", {1000, 3}, 999, {1000, 4}},
    {"clock a day back keeps the wall", {1767225600000, 0}, 1767139200000, {1767225600000, 1}},
    {"zero clock on a zero stamp", {0, 0}, 0, {0, 1}},
};

static void advance_is_monotonic_and_resets_the_counter_on_a_new_ms(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(advance_cases); i++) {
        const struct advance_case *k = &advance_cases[i];
        struct hlc h = k->start;
        hlc_advance(&h, k->now);
        if (hlc_cmp(&h, &k->want) != 0)
            fail_msg("%s: got %lld-%lld, want %lld-%lld", k->what, (long long)h.wall,
                     (long long)h.counter, (long long)k->want.wall, (long long)k->want.counter);
        assert_true(hlc_cmp(&h, &k->start) > 0);
    }
}

static void advance_over_a_wall_clock_that_jumps_around_never_goes_back(void **state)
{
    (void)state;
    static const int64_t clock[] = {1000, 1000, 900, 800, 1000, 1001, 1001, 5, 2000, 1999};
    static const struct hlc want[] = {{1000, 0}, {1000, 1}, {1000, 2}, {1000, 3}, {1000, 4},
                                      {1001, 0}, {1001, 1}, {1001, 2}, {2000, 0}, {2000, 1}};
    struct hlc h = {0, 0}, prev = {0, 0};
    for (size_t i = 0; i < ARRAY_LEN(clock); i++) {
        hlc_advance(&h, clock[i]);
        if (hlc_cmp(&h, &want[i]) != 0)
            fail_msg("step %zu (clock %lld): got %lld-%lld, want %lld-%lld", i, (long long)clock[i],
                     (long long)h.wall, (long long)h.counter, (long long)want[i].wall,
                     (long long)want[i].counter);
        if (i > 0)
            assert_true(hlc_cmp(&h, &prev) > 0);
        prev = h;
    }
}

struct merge_case {
    const char *what;
    struct hlc local, remote;
    int64_t now;
    struct hlc want;
};

static const struct merge_case merge_cases[] = {
    {"physical clock ahead of both", {100, 3}, {150, 7}, 200, {200, 0}},
    {"physical clock one ms ahead of both", {200, 3}, {199, 9}, 201, {201, 0}},
    {"equal walls ahead of now: max counter + 1", {100, 3}, {100, 7}, 50, {100, 8}},
    {"equal walls, local counter larger", {100, 9}, {100, 2}, 100, {100, 10}},
    {"local ahead: local counter + 1", {200, 3}, {100, 9}, 150, {200, 4}},
    {"local ahead and equal to now", {200, 3}, {100, 9}, 200, {200, 4}},
    {"remote ahead: remote counter + 1", {100, 3}, {200, 9}, 150, {200, 10}},
    {"remote ahead and equal to now", {100, 3}, {200, 9}, 200, {200, 10}},
    {"remote far in the future", {100, 0}, {9000, 0}, 150, {9000, 1}},
    {"zero local stamp", {0, 0}, {100, 4}, 50, {100, 5}},
};

static void merge_takes_the_largest_of_local_remote_and_now(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(merge_cases); i++) {
        const struct merge_case *k = &merge_cases[i];
        struct hlc h = k->local, remote = k->remote;
        hlc_merge(&h, &remote, k->now);
        if (hlc_cmp(&h, &k->want) != 0)
            fail_msg("%s: got %lld-%lld, want %lld-%lld", k->what, (long long)h.wall,
                     (long long)h.counter, (long long)k->want.wall, (long long)k->want.counter);
        /* After a merge the clock is past everything it has seen. */
        assert_true(hlc_cmp(&h, &k->local) > 0);
        assert_true(hlc_cmp(&h, &k->remote) > 0);
        assert_true(h.wall >= k->now);
        assert_int_equal(hlc_cmp(&remote, &k->remote), 0); /* read, not written */
    }
}

static void format_is_wall_dash_counter(void **state)
{
    (void)state;
    char out[HLC_TEXT_MAX];
    struct hlc h = {1767225600000, 0};
    hlc_format(&h, out);
    assert_string_equal(out, "1767225600000-0");
    h.counter = 42;
    hlc_format(&h, out);
    assert_string_equal(out, "1767225600000-42");
    h = (struct hlc){INT64_MAX, INT64_MAX}; /* the widest stamp fits */
    hlc_format(&h, out);
    assert_string_equal(out, "9223372036854775807-9223372036854775807");
}

/* ------------------------------------------------------------------------------------ */
/* The persisted clock                                                                    */

static struct hlc tick(struct testdb *t, int64_t now)
{
    struct hlc h = {-1, -1};
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(hlc_tick(t->db, now, &h), ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);
    return h;
}

static void assert_hlc(struct hlc h, int64_t wall, int64_t counter)
{
    if (h.wall != wall || h.counter != counter)
        fail_msg("got %lld-%lld, want %lld-%lld", (long long)h.wall, (long long)h.counter,
                 (long long)wall, (long long)counter);
}

static void tick_persists_across_reopen_and_never_goes_back(void **state)
{
    struct testdb *t = *state;
    const int64_t t0 = TESTDB_T0;
    assert_hlc(tick(t, t0), t0, 0);
    assert_hlc(tick(t, t0), t0, 1);

    /* Restart with the wall clock set back an hour. */
    testdb_reopen(t);
    assert_hlc(tick(t, t0 - TESTDB_HOUR), t0, 2);
    assert_hlc(tick(t, t0 - 2 * TESTDB_HOUR), t0, 3);
    assert_hlc(tick(t, t0 + 5), t0 + 5, 0);

    /* Restart with the wall clock at the epoch. */
    testdb_reopen(t);
    assert_hlc(tick(t, 0), t0 + 5, 1);
    testdb_reopen(t);
    assert_hlc(tick(t, t0 + 5), t0 + 5, 2);
}

static void tick_in_a_rolled_back_transaction_is_not_kept(void **state)
{
    struct testdb *t = *state;
    const int64_t t0 = TESTDB_T0;
    assert_hlc(tick(t, t0), t0, 0);
    struct hlc h;
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(hlc_tick(t->db, t0 + 100, &h), ML_OK);
    assert_hlc(h, t0 + 100, 0);
    db_rollback(t->db);
    assert_hlc(tick(t, t0), t0, 1);
}

static void outbox_stamps_increase_even_when_the_clock_goes_back(void **state)
{
    struct testdb *t = *state;
    static const int64_t clock[] = {
        TESTDB_T0,     TESTDB_T0,    TESTDB_T0 - TESTDB_DAY, TESTDB_T0 - TESTDB_DAY,
        TESTDB_T0 + 1, TESTDB_T0 - 1};
    for (size_t i = 0; i < ARRAY_LEN(clock); i++) {
        assert_int_equal(db_begin(t->db), ML_OK);
        assert_int_equal(
            outbox_append(t->db, "S001", "T01", clock[i], "test.event", cJSON_CreateObject()),
            ML_OK);
        assert_int_equal(db_commit(t->db), ML_OK);
        if (i == 2)
            testdb_reopen(t);
    }
    static const char *const want[] = {"1767225600000-0", "1767225600000-1", "1767225600000-2",
                                       "1767225600000-3", "1767225600001-0", "1767225600001-1"};
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db_sqlite(t->db),
                                        "SELECT seq, hlc, at, json_extract(payload, '$.hlc') "
                                        "FROM outbox ORDER BY seq",
                                        -1, &s, NULL),
                     SQLITE_OK);
    size_t i = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        assert_true(i < ARRAY_LEN(want));
        assert_int_equal(sqlite3_column_int64(s, 0), (int64_t)i + 1);
        assert_string_equal((const char *)sqlite3_column_text(s, 1), want[i]);
        assert_int_equal(sqlite3_column_int64(s, 2), clock[i]); /* "at" is the wall clock */
        assert_string_equal((const char *)sqlite3_column_text(s, 3), want[i]);
        i++;
    }
    sqlite3_finalize(s);
    assert_int_equal(i, ARRAY_LEN(want));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, testdb_setup, testdb_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(advance_is_monotonic_and_resets_the_counter_on_a_new_ms),
        cmocka_unit_test(advance_over_a_wall_clock_that_jumps_around_never_goes_back),
        cmocka_unit_test(merge_takes_the_largest_of_local_remote_and_now),
        cmocka_unit_test(format_is_wall_dash_counter),
        T(tick_persists_across_reopen_and_never_goes_back),
        T(tick_in_a_rolled_back_transaction_is_not_kept),
        T(outbox_stamps_increase_even_when_the_clock_goes_back),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
