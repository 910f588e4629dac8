/*
 * base45_test: unit tests for base45.h: the RFC 9285 examples both ways, the edges of each
 * group, every refusal of strict decoding, and the output size limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "base45.h"
#include "ml_err.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct pair {
    const char *bytes; /* raw bytes as a C string (no NUL inside) */
    const char *text;  /* their Base45 */
};

static const struct pair rfc_pairs[] = {
    {"AB", "BB8"},              /* RFC 9285 section 4.3 */
    {"Hello!!", "%69 VD92EX0"}, /* section 4.3, a space inside */
    {"base-45", "UJCLQE7W581"}, /* section 4.3 */
    {"ietf!", "QED8WEX0"},      /* section 4.4, decoding */
    {"", ""},                   /* nothing in, nothing out */
    {"\xff\xff", "FGW"},        /* the largest three-character group, 65535 */
    {"\xff", "U5"},             /* the largest two-character group, 255 */
    {"\x01", "10"},             /* least significant digit first */
};

static void encodes_the_rfc_examples(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rfc_pairs); i++) {
        char out[64];
        const char *in = rfc_pairs[i].bytes;
        assert_int_equal(base45_encode((const uint8_t *)in, strlen(in), out, sizeof(out)), ML_OK);
        assert_string_equal(out, rfc_pairs[i].text);
        assert_int_equal(strlen(out), BASE45_ENCODED_LEN(strlen(in)));
    }
}

static void decodes_the_rfc_examples(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rfc_pairs); i++) {
        uint8_t out[64];
        size_t n = 999;
        const char *text = rfc_pairs[i].text;
        assert_int_equal(base45_decode(text, strlen(text), out, sizeof(out), &n), ML_OK);
        assert_int_equal(n, strlen(rfc_pairs[i].bytes));
        assert_memory_equal(out, rfc_pairs[i].bytes, n);
    }
}

static void every_byte_and_pair_round_trips(void **state)
{
    (void)state;
    uint8_t in[2], back[2];
    char text[4];
    size_t n = 0;
    for (unsigned v = 0; v <= 0xffff; v++) {
        in[0] = (uint8_t)(v >> 8);
        in[1] = (uint8_t)v;
        assert_int_equal(base45_encode(in, 2, text, sizeof(text)), ML_OK);
        assert_int_equal(base45_decode(text, 3, back, sizeof(back), &n), ML_OK);
        assert_int_equal(n, 2);
        assert_memory_equal(back, in, 2);
        if (v <= 0xff) {
            in[0] = (uint8_t)v;
            assert_int_equal(base45_encode(in, 1, text, sizeof(text)), ML_OK);
            assert_int_equal(base45_decode(text, 2, back, sizeof(back), &n), ML_OK);
            assert_int_equal(n, 1);
            assert_int_equal(back[0], v);
        }
    }
}

struct bad {
    const char *what;
    const char *text;
    size_t len; /* 0: strlen(text) */
};

static const struct bad bad_texts[] = {
    {"one character (length 1 mod 3)", "B", 0},
    {"four characters (length 1 mod 3)", "BB8B", 0},
    {"seven characters (length 1 mod 3)", "BB8BB8B", 0},
    {"three-character group over 65535", "GGW", 0},
    {"three-character group at 65535 + 1 after a good one", "BB8GGW", 0},
    {"largest digits everywhere", ":::", 0},
    {"two-character group over 255", "V5", 0},
    {"two-character group far over 255", "::", 0},
    {"lowercase", "bb8", 0},
    {"lowercase in a later group", "BB8%69 vD9", 0},
    {"newline at the end", "BB8\n", 0},
    {"tab", "B\tB", 0},
    {"equals sign padding", "BB8==", 0},
    {"comma", "BB,", 0},
    {"underscore", "B_8", 0},
    {"a NUL inside", "B\0008", 3},
    {"a byte over 0x7f", "B\xc3\xa9", 0},
    {"a quote", "\"BB", 0},
};

static void refuses_what_is_not_strict_base45(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(bad_texts); i++) {
        const struct bad *b = &bad_texts[i];
        uint8_t out[16];
        size_t n = 12345;
        size_t len = b->len ? b->len : strlen(b->text);
        ml_err err = base45_decode(b->text, len, out, sizeof(out), &n);
        if (err != ML_PARSE)
            fail_msg("%s: want parse error, got %s", b->what, ml_strerror(err));
        assert_int_equal(n, 12345); /* not written on failure */
    }
}

static void decode_output_limit_is_exact(void **state)
{
    (void)state;
    uint8_t out[7];
    size_t n = 0;
    /* "Hello!!" needs 7 bytes: 7 fit, 6 do not */
    assert_int_equal(base45_decode("%69 VD92EX0", 11, out, 7, &n), ML_OK);
    assert_int_equal(n, 7);
    assert_int_equal(base45_decode("%69 VD92EX0", 11, out, 6, &n), ML_LIMIT);
    assert_int_equal(base45_decode("BB8", 3, out, 1, &n), ML_LIMIT);
    assert_int_equal(base45_decode("", 0, NULL, 0, &n), ML_OK);
    assert_int_equal(n, 0);
    assert_int_equal(base45_decode(NULL, 3, out, sizeof(out), &n), ML_PARSE);
}

static void encode_output_limit_counts_the_nul(void **state)
{
    (void)state;
    char out[12];
    memset(out, 'x', sizeof(out));
    /* 7 bytes -> 11 characters + NUL */
    assert_int_equal(base45_encode((const uint8_t *)"Hello!!", 7, out, 11), ML_LIMIT);
    assert_int_equal(out[0], 'x'); /* not written */
    assert_int_equal(base45_encode((const uint8_t *)"Hello!!", 7, out, 12), ML_OK);
    assert_string_equal(out, "%69 VD92EX0");
    assert_int_equal(base45_encode(NULL, 0, out, 1), ML_OK);
    assert_string_equal(out, "");
    assert_int_equal(base45_encode(NULL, 0, NULL, 0), ML_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encodes_the_rfc_examples),
        cmocka_unit_test(decodes_the_rfc_examples),
        cmocka_unit_test(every_byte_and_pair_round_trips),
        cmocka_unit_test(refuses_what_is_not_strict_base45),
        cmocka_unit_test(decode_output_limit_is_exact),
        cmocka_unit_test(encode_output_limit_counts_the_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
