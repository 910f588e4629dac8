/*
 * money_test: unit tests for money.h.
 *
 * Rounding is checked against hand-computed tables (including products that overflow 64
 * bits) and against the defining inequalities over a small exhaustive grid. Allocation is
 * checked on hand-computed cases and, for many seeded random weight sets, against the
 * largest-remainder rules themselves: exact sum, floor or floor+1, remainders ranked with
 * ties to the lower index. Yuan text is checked on a table, INT64_MIN and INT64_MAX included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "money.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Table tests report every failing row, then fail once, so one bad row hides no other. */
#define ROW_FAIL(...)                                                                              \
    do {                                                                                           \
        print_error("ERROR: " __VA_ARGS__);                                                        \
        print_error("\n");                                                                         \
        row_failures++;                                                                            \
    } while (0)
#define SENTINEL ((int64_t)-7)

struct muldiv_case {
    const char *what;
    int64_t a, b, c;
    int64_t want;
};

static const struct muldiv_case half_even_cases[] = {
    {"zero", 0, 12345, 7, 0},
    {"exact", 6, 1, 2, 3},
    {"exact with rate", 2000, 6, 100, 120},
    {"half rounds down to even 0", 1, 1, 2, 0},
    {"half rounds up to even 2", 3, 1, 2, 2},
    {"2.5 rounds to 2", 5, 1, 2, 2},
    {"3.5 rounds to 4", 7, 1, 2, 4},
    {"2.50 rounds to 2", 250, 1, 100, 2},
    {"3.50 rounds to 4", 350, 1, 100, 4},
    {"just below half 2.49", 249, 1, 100, 2},
    {"just above half 2.51", 251, 1, 100, 3},
    {"just below half 3.49", 349, 1, 100, 3},
    {"just above half 2.500001", 2500001, 1, 1000000, 3},
    {"just below half 2.499999", 2499999, 1, 1000000, 2},
    {"one third", 1, 1, 3, 0},
    {"two thirds", 2, 1, 3, 1},
    {"tax 6% of 19.99", 1999, 6, 100, 120},    /* 119.94 */
    {"tax 6% of 0.25", 25, 6, 100, 2},         /* 1.50 -> 2 */
    {"tax 6% of 0.75", 75, 6, 100, 4},         /* 4.50 -> 4 */
    {"discount 85% of 0.10", 10, 85, 100, 8},  /* 8.50 -> 8 */
    {"discount 85% of 0.30", 30, 85, 100, 26}, /* 25.50 -> 26 */
    /* a*b overflows 64 bits (signed and unsigned); the result fits. */
    {"max*max/max", INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX},
    {"max*(max-1)/max", INT64_MAX, INT64_MAX - 1, INT64_MAX, INT64_MAX - 1},
    {"1e12*1e12/1e6", 1000000000000, 1000000000000, 1000000, 1000000000000000000},
    {"max*3/3", INT64_MAX, 3, 3, INT64_MAX},
    {"max*2/3 rounds 0.67 up", INT64_MAX, 2, 3, 6148914691236517205},
    {"max/3 rounds 0.33 down", INT64_MAX, 1, 3, 3074457345618258602},
    {"max/2 is x.5 with odd x, rounds up", INT64_MAX, 1, 2, 4611686018427387904},
    {"(max-2)/2 is x.5 with even x, rounds down", INT64_MAX - 2, 1, 2, 4611686018427387902},
    {"2^62*4/8 exact", INT64_C(4611686018427387904), 4, 8, INT64_C(2305843009213693952)},
    /* 2^63 - 1 = 7^2 * 73 * 127 * 337 * 92737 * 649657, so these products are exact. */
    {"overflowing product, x.5 odd rounds up", INT64_MAX, 5, 10, 4611686018427387904},
    {"overflowing product, x.5 even rounds down", INT64_MAX - 2, 5, 10, 4611686018427387902},
};

static const struct muldiv_case floor_cases[] = {
    {"zero", 0, 12345, 7, 0},
    {"exact", 6, 1, 2, 3},
    {"2.5 floors to 2", 5, 1, 2, 2},
    {"3.5 floors to 3", 7, 1, 2, 3},
    {"0.99 floors to 0", 99, 1, 100, 0},
    {"tax 6% of 19.99", 1999, 6, 100, 119},
    {"max*max/max", INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX},
    {"max*(max-1)/max", INT64_MAX, INT64_MAX - 1, INT64_MAX, INT64_MAX - 1},
    {"max*2/3 floors 0.67", INT64_MAX, 2, 3, 6148914691236517204},
    {"1e12*1e12/1e6", 1000000000000, 1000000000000, 1000000, 1000000000000000000},
    {"(1e12+1)*1e12/1e6", 1000000000001, 1000000000000, 1000000, 1000000000001000000},
    {"max*(max-1)/(max-1)", INT64_MAX, INT64_MAX - 1, INT64_MAX - 1, INT64_MAX},
};

static void muldiv_half_even_matches_table(void **state)
{
    (void)state;
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(half_even_cases); i++) {
        const struct muldiv_case *t = &half_even_cases[i];
        int64_t got = money_muldiv_half_even(t->a, t->b, t->c);
        if (got != t->want)
            ROW_FAIL("half_even case \"%s\": %lld*%lld/%lld: want %lld, got %lld", t->what,
                     (long long)t->a, (long long)t->b, (long long)t->c, (long long)t->want,
                     (long long)got);
    }
    assert_int_equal(row_failures, 0);
}

static void muldiv_floor_matches_table(void **state)
{
    (void)state;
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(floor_cases); i++) {
        const struct muldiv_case *t = &floor_cases[i];
        int64_t got = money_muldiv_floor(t->a, t->b, t->c);
        if (got != t->want)
            ROW_FAIL("floor case \"%s\": %lld*%lld/%lld: want %lld, got %lld", t->what,
                     (long long)t->a, (long long)t->b, (long long)t->c, (long long)t->want,
                     (long long)got);
    }
    assert_int_equal(row_failures, 0);
}

/*
 * Checks the definitions directly, without re-deriving the algorithm: over a grid small
 * enough that every product fits in int64_t, floor f satisfies f*c <= a*b < (f+1)*c and
 * half-even h satisfies |2*(a*b - h*c)| <= c, with h even when equality holds.
 */
static void muldiv_satisfies_definitions_on_small_grid(void **state)
{
    (void)state;
    for (int64_t a = 0; a <= 60; a++) {
        for (int64_t b = 0; b <= 12; b++) {
            for (int64_t c = 1; c <= 24; c++) {
                int64_t p = a * b;
                int64_t f = money_muldiv_floor(a, b, c);
                if (!(f * c <= p && p < (f + 1) * c))
                    fail_msg("floor(%lld*%lld/%lld) = %lld is not the floor", (long long)a,
                             (long long)b, (long long)c, (long long)f);
                int64_t h = money_muldiv_half_even(a, b, c);
                int64_t twice_err = 2 * (p - h * c);
                if (twice_err < 0)
                    twice_err = -twice_err;
                if (twice_err > c || (twice_err == c && h % 2 != 0))
                    fail_msg("half_even(%lld*%lld/%lld) = %lld is not nearest-even", (long long)a,
                             (long long)b, (long long)c, (long long)h);
            }
        }
    }
}

struct alloc_case {
    const char *what;
    int64_t total;
    size_t n;
    int64_t weights[8];
    int64_t want[8];
};

/* clang-format off */
static const struct alloc_case alloc_cases[] = {
    {"exact proportions", 7, 3, {1, 2, 4}, {1, 2, 4}},
    {"equal weights, leftover to lowest index", 100, 3, {1, 1, 1}, {34, 33, 33}},
    {"two leftovers, ties to lower indices", 11, 3, {1, 1, 1}, {4, 4, 3}},
    {"largest remainder wins over lower index", 10, 3, {3, 3, 1}, {4, 4, 2}},
    {"largest remainder wins, second largest next", 10, 4, {1, 2, 2, 2}, {1, 3, 3, 3}},
    {"all remainders tie, lowest indices first", 5, 6, {1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 0}},
    {"zero weights get zero", 10, 4, {0, 1, 0, 1}, {0, 5, 0, 5}},
    {"zero weights get zero even with leftover", 3, 4, {0, 1, 0, 1}, {0, 2, 0, 1}},
    {"zero weight first never takes the leftover", 1, 3, {0, 1, 1}, {0, 1, 0}},
    {"single part takes everything", 12345, 1, {7}, {12345}},
    {"total zero", 0, 3, {1, 2, 3}, {0, 0, 0}},
    {"total zero with zero weights", 0, 3, {0, 0, 0}, {0, 0, 0}},
    {"total smaller than parts", 2, 5, {1, 1, 1, 1, 1}, {1, 1, 0, 0, 0}},
    {"sale lines 10.00 discount over 3.33/3.33/3.34", 1000, 3, {333, 333, 334}, {333, 333, 334}},
    {"sale lines 1.00 discount over 0.99/0.01", 100, 2, {99, 1}, {99, 1}},
    /* total * w overflows 64 bits. */
    {"max total over equal weights", INT64_MAX, 3, {1, 1, 1},
     {3074457345618258603, 3074457345618258602, 3074457345618258602}},
    {"max total over large weights", INT64_MAX, 2, {INT64_MAX / 2, INT64_MAX / 2},
     {4611686018427387904, 4611686018427387903}},
    {"large weights summing to max", 10, 2, {INT64_MAX - 1, 1}, {10, 0}},
};
/* clang-format on */

static void allocate_matches_table(void **state)
{
    (void)state;
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(alloc_cases); i++) {
        const struct alloc_case *t = &alloc_cases[i];
        int64_t got[8];
        for (size_t j = 0; j < ARRAY_LEN(got); j++)
            got[j] = SENTINEL;
        int rc = money_allocate(t->total, t->weights, t->n, got);
        if (rc != 0) {
            ROW_FAIL("allocate case \"%s\": returned %d", t->what, rc);
            continue;
        }
        for (size_t j = 0; j < t->n; j++)
            if (got[j] != t->want[j])
                ROW_FAIL("allocate case \"%s\": part %zu: want %lld, got %lld", t->what, j,
                         (long long)t->want[j], (long long)got[j]);
        for (size_t j = t->n; j < ARRAY_LEN(got); j++)
            if (got[j] != SENTINEL)
                ROW_FAIL("allocate case \"%s\": wrote past n at %zu", t->what, j);
    }
    assert_int_equal(row_failures, 0);
}

/* splitmix64: a fixed seed makes every run see the same weight sets. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static int64_t rng_below(uint64_t *s, uint64_t bound)
{
    return (int64_t)(rng_next(s) % bound);
}

#define RANDOM_ROUNDS 2000
#define RANDOM_MAX_N 24

/*
 * For each random case (values kept small enough that total * w fits in int64_t, so the
 * test computes remainders exactly): parts sum to total; each part is floor(total*w/W) or
 * one more; zero weights get zero; and whoever got the extra unit had a larger remainder
 * than, or an equal remainder and a lower index than, everyone who did not.
 */
static void allocate_sums_exactly_to_total_for_random_weights(void **state)
{
    (void)state;
    uint64_t seed = UINT64_C(20240611);
    for (int round = 0; round < RANDOM_ROUNDS; round++) {
        size_t n = (size_t)rng_below(&seed, RANDOM_MAX_N) + 1;
        int64_t weights[RANDOM_MAX_N], parts[RANDOM_MAX_N];
        int64_t wsum = 0;
        /* Mix weight scales: tiny weights force ties, large ones force big remainders. */
        uint64_t wscale = (round % 3 == 0) ? 4 : (round % 3 == 1) ? 1000 : 1000000;
        for (size_t i = 0; i < n; i++) {
            weights[i] = rng_below(&seed, 5) == 0 ? 0 : rng_below(&seed, wscale);
            wsum += weights[i];
        }
        if (wsum == 0) {
            weights[rng_below(&seed, n)] = 1;
            wsum = 1;
        }
        int64_t total = rng_below(&seed, (round % 2 == 0) ? 100 : 10000000);

        int rc = money_allocate(total, weights, n, parts);
        if (rc != 0)
            fail_msg("round %d: allocate returned %d", round, rc);

        int64_t sum = 0, floor_sum = 0;
        int64_t rem[RANDOM_MAX_N];
        int got_extra[RANDOM_MAX_N];
        for (size_t i = 0; i < n; i++) {
            int64_t fl = total * weights[i] / wsum;
            rem[i] = total * weights[i] % wsum;
            sum += parts[i];
            floor_sum += fl;
            if (parts[i] != fl && parts[i] != fl + 1)
                fail_msg("round %d: part %zu = %lld, floor is %lld", round, i, (long long)parts[i],
                         (long long)fl);
            if (parts[i] == fl + 1 && rem[i] == 0)
                fail_msg("round %d: part %zu exceeds its exact share %lld", round, i,
                         (long long)fl);
            if (weights[i] == 0 && parts[i] != 0)
                fail_msg("round %d: zero weight at %zu got %lld", round, i, (long long)parts[i]);
            got_extra[i] = parts[i] == fl + 1;
        }
        if (sum != total)
            fail_msg("round %d: parts sum to %lld, total %lld", round, (long long)sum,
                     (long long)total);
        if (total - floor_sum >= (int64_t)n && n > 0)
            fail_msg("round %d: %lld units left over with n = %zu", round,
                     (long long)(total - floor_sum), n);
        for (size_t i = 0; i < n; i++) {
            if (!got_extra[i])
                continue;
            for (size_t j = 0; j < n; j++) {
                if (got_extra[j])
                    continue;
                if (rem[j] > rem[i] || (rem[j] == rem[i] && j < i))
                    fail_msg("round %d: extra unit went to %zu (rem %lld) over %zu (rem %lld)",
                             round, i, (long long)rem[i], j, (long long)rem[j]);
            }
        }
    }
}

static void allocate_n_zero_with_total_zero_returns_0(void **state)
{
    (void)state;
    int64_t weights[1] = {5};
    int64_t parts[1] = {SENTINEL};
    assert_int_equal(money_allocate(0, weights, 0, parts), 0);
    assert_int_equal(parts[0], SENTINEL);
}

static void allocate_n_zero_with_total_positive_returns_minus_1(void **state)
{
    (void)state;
    int64_t weights[1] = {5};
    int64_t parts[1] = {SENTINEL};
    assert_int_equal(money_allocate(10, weights, 0, parts), -1);
    assert_int_equal(parts[0], SENTINEL);
}

struct alloc_refusal {
    const char *what;
    int64_t total;
    size_t n;
    int64_t weights[4];
};

static const struct alloc_refusal alloc_refusals[] = {
    {"weights sum to zero with total > 0", 10, 3, {0, 0, 0}},
    {"weights sum to zero with total 1", 1, 1, {0}},
    {"negative weight", 10, 3, {1, -1, 1}},
    {"negative weight with total 0", 0, 2, {-1, 2}},
    {"negative weight cancelling to a positive sum", 10, 3, {5, -2, 5}},
    {"weight sum overflows", 10, 2, {INT64_MAX, 1}},
    {"weight sum overflows later", 10, 4, {1, INT64_MAX / 2, INT64_MAX / 2, 2}},
};

static void allocate_refusals_return_minus_1_and_write_nothing(void **state)
{
    (void)state;
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(alloc_refusals); i++) {
        const struct alloc_refusal *t = &alloc_refusals[i];
        int64_t parts[4] = {SENTINEL, SENTINEL, SENTINEL, SENTINEL};
        int rc = money_allocate(t->total, t->weights, t->n, parts);
        if (rc != -1)
            ROW_FAIL("refusal case \"%s\": want -1, got %d", t->what, rc);
        for (size_t j = 0; j < ARRAY_LEN(parts); j++)
            if (parts[j] != SENTINEL)
                ROW_FAIL("refusal case \"%s\": part %zu written (%lld)", t->what, j,
                         (long long)parts[j]);
    }
    assert_int_equal(row_failures, 0);
}

/* Many parts and a large leftover: every part still gets floor or floor+1. */
static void allocate_many_parts_gives_each_leftover_unit_once(void **state)
{
    (void)state;
    enum { N = 1000 };
    static int64_t weights[N], parts[N];
    for (size_t i = 0; i < N; i++)
        weights[i] = 1;
    assert_int_equal(money_allocate(N - 1, weights, N, parts), 0);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(parts[i], i < N - 1 ? 1 : 0);
}

struct format_case {
    int64_t minor;
    const char *want;
};

/* What receipts and HQ reports have always printed: the sign, whole yuan, two decimals. */
static const struct format_case format_cases[] = {
    {0, "0.00"},
    {1, "0.01"},
    {-1, "-0.01"},
    {10, "0.10"},
    {99, "0.99"},
    {100, "1.00"},
    {-50, "-0.50"},
    {5990, "59.90"},
    {-123456, "-1234.56"},
    {999999999999999, "9999999999999.99"},
    {INT64_MAX, "92233720368547758.07"},
    {INT64_MIN + 1, "-92233720368547758.07"},
    {INT64_MIN, "-92233720368547758.08"},
};

static void format_writes_yuan_with_two_decimals(void **state)
{
    (void)state;
    int row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(format_cases); i++) {
        char buf[MONEY_TEXT_MAX];
        memset(buf, 'x', sizeof(buf));
        const char *got = money_format(format_cases[i].minor, buf, sizeof(buf));
        if (got != buf || strcmp(buf, format_cases[i].want) != 0)
            ROW_FAIL("%lld: want \"%s\", got \"%.*s\"", (long long)format_cases[i].minor,
                     format_cases[i].want, (int)sizeof(buf), buf);
    }
    if (row_failures > 0)
        fail_msg("%d money_format row(s) failed", row_failures);
}

/* The longest text is MONEY_TEXT_MAX - 1 bytes; a shorter buffer gets a NUL-terminated cut. */
static void format_cuts_short_in_a_small_buffer(void **state)
{
    (void)state;
    char buf[MONEY_TEXT_MAX];
    assert_int_equal(strlen(money_format(INT64_MIN, buf, sizeof(buf))), MONEY_TEXT_MAX - 1);
    assert_string_equal(money_format(-5990, buf, 4), "-59");
    assert_string_equal(money_format(5990, buf, 1), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(muldiv_half_even_matches_table),
        cmocka_unit_test(muldiv_floor_matches_table),
        cmocka_unit_test(muldiv_satisfies_definitions_on_small_grid),
        cmocka_unit_test(allocate_matches_table),
        cmocka_unit_test(allocate_sums_exactly_to_total_for_random_weights),
        cmocka_unit_test(allocate_n_zero_with_total_zero_returns_0),
        cmocka_unit_test(allocate_n_zero_with_total_positive_returns_minus_1),
        cmocka_unit_test(allocate_refusals_return_minus_1_and_write_nothing),
        cmocka_unit_test(allocate_many_parts_gives_each_leftover_unit_once),
        cmocka_unit_test(format_writes_yuan_with_two_decimals),
        cmocka_unit_test(format_cuts_short_in_a_small_buffer),
    };
    return cmocka_run_group_tests_name("money", tests, NULL, NULL);
}
