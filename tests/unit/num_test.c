/*
 * num_test: unit tests for num.h.
 *
 * num_parse_i64 is checked against tables of what it must take (with the value it must give)
 * and what it must refuse (leaving *ret as it was): the '-' only when min < 0, the digit
 * count at NUM_DIGITS_MAX and one past, each range bound at the bound and one past it, and
 * the forms strtoll() alone would take. The hex codec is checked on known vectors, both
 * cases, lengths one short and one long, and a round trip of every byte value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "num.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL ((int64_t)-7777)

struct parse_ok {
    const char *s;
    int64_t min, max;
    int64_t want;
};

static const struct parse_ok parse_oks[] = {
    {"0", 0, 10, 0},
    {"8", 0, 10, 8},
    {"10", 0, 10, 10},
    {"007", 0, 10, 7},
    {"1024", 1024, 65535, 1024},
    {"65535", 1024, 65535, 65535},
    {"-10", -10, 10, -10},
    {"-1", -10, 10, -1},
    {"-0", -10, 10, 0},
    {"999999999999999999", 0, INT64_MAX, INT64_C(999999999999999999)},
    {"-999999999999999999", INT64_MIN, 0, -INT64_C(999999999999999999)},
    {"000000000000000001", 0, 1, 1},
};

static void parse_i64_takes_digits_within_range(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(parse_oks); i++) {
        const struct parse_ok *t = &parse_oks[i];
        int64_t got = SENTINEL;
        int rc = num_parse_i64(t->s, t->min, t->max, &got);
        if (rc != 0 || got != t->want)
            fail_msg("\"%s\" in [%lld, %lld]: want 0 and %lld, got %d and %lld", t->s,
                     (long long)t->min, (long long)t->max, (long long)t->want, rc, (long long)got);
    }
}

struct parse_bad {
    const char *what;
    const char *s;
    int64_t min, max;
};

static const struct parse_bad parse_bads[] = {
    {"NULL", NULL, 0, 10},
    {"empty", "", 0, 10},
    {"leading space", " 8", 0, 10},
    {"trailing space", "8 ", 0, 10},
    {"leading tab", "\t8", 0, 10},
    {"trailing newline", "8\n", 0, 10},
    {"plus sign", "+8", 0, 10},
    {"plus sign with a signed range", "+8", -10, 10},
    {"trailing letter", "8x", 0, 10},
    {"hex prefix", "0x10", 0, 100},
    {"exponent", "1e3", 0, 10000},
    {"fraction", "1.0", 0, 10},
    {"minus alone, unsigned range", "-", 0, 10},
    {"minus alone, signed range", "-", -10, 10},
    {"minus when min is 0", "-1", 0, 10},
    {"minus zero when min is 0", "-0", 0, 10},
    {"two minus signs", "--1", -10, 10},
    {"minus after digits", "1-", -10, 10},
    {"fullwidth digit", "\xef\xbc\x98", 0, 10},
    {"one past max", "11", 0, 10},
    {"one past max 65535", "65536", 1024, 65535},
    {"one below min", "1023", 1024, 65535},
    {"one below negative min", "-11", -10, 10},
    {"one past negative max", "-4", -10, -5},
    {"19 digits, though within int64", "1000000000000000000", 0, INT64_MAX},
    {"19 zeros", "0000000000000000000", 0, INT64_MAX},
    {"minus and 19 digits", "-1000000000000000000", INT64_MIN, 0},
    {"INT64_MAX's digits", "9223372036854775807", INT64_MIN, INT64_MAX},
    {"past INT64_MAX", "9223372036854775808", INT64_MIN, INT64_MAX},
};

static void parse_i64_refuses_and_writes_nothing(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(parse_bads); i++) {
        const struct parse_bad *t = &parse_bads[i];
        int64_t got = SENTINEL;
        int rc = num_parse_i64(t->s, t->min, t->max, &got);
        if (rc != -1 || got != SENTINEL)
            fail_msg("%s: \"%s\" in [%lld, %lld]: want -1 with nothing written, got %d and %lld",
                     t->what, t->s ? t->s : "(null)", (long long)t->min, (long long)t->max, rc,
                     (long long)got);
    }
}

/* The digit limit, built from NUM_DIGITS_MAX: that many 9s are taken, one more is refused,
 * with and without a '-'. */
static void parse_i64_takes_18_digits_and_refuses_19(void **state)
{
    (void)state;
    assert_int_equal(NUM_DIGITS_MAX, 18);
    char text[NUM_DIGITS_MAX + 3];
    int64_t all_nines = 0;
    for (int i = 0; i < NUM_DIGITS_MAX; i++)
        all_nines = all_nines * 10 + 9;

    memset(text, '9', NUM_DIGITS_MAX);
    text[NUM_DIGITS_MAX] = '\0';
    int64_t got = SENTINEL;
    assert_int_equal(num_parse_i64(text, 0, INT64_MAX, &got), 0);
    assert_int_equal(got, all_nines);

    memset(text, '1', NUM_DIGITS_MAX + 1);
    text[NUM_DIGITS_MAX + 1] = '\0';
    got = SENTINEL;
    assert_int_equal(num_parse_i64(text, 0, INT64_MAX, &got), -1);
    assert_int_equal(got, SENTINEL);

    text[0] = '-';
    memset(text + 1, '9', NUM_DIGITS_MAX);
    text[NUM_DIGITS_MAX + 1] = '\0';
    assert_int_equal(num_parse_i64(text, INT64_MIN, 0, &got), 0);
    assert_int_equal(got, -all_nines);

    memset(text + 1, '1', NUM_DIGITS_MAX + 1);
    text[NUM_DIGITS_MAX + 2] = '\0';
    got = SENTINEL;
    assert_int_equal(num_parse_i64(text, INT64_MIN, 0, &got), -1);
    assert_int_equal(got, SENTINEL);
}

struct hex_case {
    const char *hex;
    size_t n;
    uint8_t want[8];
};

static const struct hex_case hex_decodes[] = {
    {"", 0, {0}},
    {"00", 1, {0x00}},
    {"ff", 1, {0xff}},
    {"FF", 1, {0xff}},
    {"0123456789abcdef", 8, {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}},
    {"0123456789ABCDEF", 8, {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}},
    {"dEaDbEeF", 4, {0xde, 0xad, 0xbe, 0xef}},
    {"a0B1", 2, {0xa0, 0xb1}},
};

static void hex_decode_takes_exactly_2n_digits_of_either_case(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(hex_decodes); i++) {
        const struct hex_case *t = &hex_decodes[i];
        uint8_t out[8];
        memset(out, 0x5a, sizeof(out));
        int rc = num_hex_decode(t->hex, out, t->n);
        if (rc != 0)
            fail_msg("\"%s\" as %zu bytes: want 0, got %d", t->hex, t->n, rc);
        if (memcmp(out, t->want, t->n) != 0)
            fail_msg("\"%s\" as %zu bytes: wrong bytes", t->hex, t->n);
        for (size_t j = t->n; j < sizeof(out); j++)
            if (out[j] != 0x5a)
                fail_msg("\"%s\" as %zu bytes: wrote out[%zu]", t->hex, t->n, j);
    }
}

struct hex_bad {
    const char *what;
    const char *hex;
    size_t n;
};

static const struct hex_bad hex_bads[] = {
    {"one digit short", "abcdef0", 4},
    {"one digit long", "abcdef012", 4},
    {"one byte short", "abcdef", 4},
    {"one byte long", "abcdef0123", 4},
    {"digits for n = 0", "00", 0},
    {"empty for n = 1", "", 1},
    {"g", "0g", 1},
    {"G first", "G0", 1},
    {"bad digit in the last byte", "abcdef0z", 4},
    {"space", "ab cd", 2},
    {"hex prefix", "0x", 1},
    {"minus", "-1", 1},
    {"non-ASCII", "\xc3\xa9", 1},
};

static void hex_decode_refuses_bad_digits_and_wrong_lengths(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(hex_bads); i++) {
        const struct hex_bad *t = &hex_bads[i];
        uint8_t out[8];
        int rc = num_hex_decode(t->hex, out, t->n);
        if (rc != -1)
            fail_msg("%s: \"%s\" as %zu bytes: want -1, got %d", t->what, t->hex, t->n, rc);
    }
}

struct hex_enc {
    size_t n;
    uint8_t in[8];
    const char *want;
};

static const struct hex_enc hex_encodes[] = {
    {0, {0}, ""},
    {1, {0x00}, "00"},
    {1, {0xff}, "ff"},
    {4, {0xde, 0xad, 0xbe, 0xef}, "deadbeef"},
    {8, {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, "0123456789abcdef"},
    {3, {0x0a, 0xb0, 0x5c}, "0ab05c"},
};

static void hex_encode_writes_lower_case_and_a_nul(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(hex_encodes); i++) {
        const struct hex_enc *t = &hex_encodes[i];
        char out[2 * 8 + 2];
        memset(out, 'x', sizeof(out));
        num_hex_encode(t->in, t->n, out);
        if (out[2 * t->n] != '\0')
            fail_msg("%zu bytes -> \"%s\": no NUL at %zu", t->n, t->want, 2 * t->n);
        if (strcmp(out, t->want) != 0)
            fail_msg("%zu bytes: want \"%s\", got \"%s\"", t->n, t->want, out);
        if (out[2 * t->n + 1] != 'x')
            fail_msg("%zu bytes -> \"%s\": wrote past 2n + 1 bytes", t->n, t->want);
    }
}

/* Every byte value encodes to two lower-case digits and decodes back to itself. */
static void hex_every_byte_round_trips(void **state)
{
    (void)state;
    uint8_t in[256], back[256];
    char text[2 * 256 + 1];
    for (size_t i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    num_hex_encode(in, sizeof(in), text);
    assert_int_equal(strlen(text), 2 * 256);
    assert_int_equal(strspn(text, "0123456789abcdef"), 2 * 256);
    assert_int_equal(num_hex_decode(text, back, sizeof(back)), 0);
    assert_memory_equal(back, in, sizeof(in));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_i64_takes_digits_within_range),
        cmocka_unit_test(parse_i64_refuses_and_writes_nothing),
        cmocka_unit_test(parse_i64_takes_18_digits_and_refuses_19),
        cmocka_unit_test(hex_decode_takes_exactly_2n_digits_of_either_case),
        cmocka_unit_test(hex_decode_refuses_bad_digits_and_wrong_lengths),
        cmocka_unit_test(hex_encode_writes_lower_case_and_a_nul),
        cmocka_unit_test(hex_every_byte_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
