/*
 * phone_test: unit tests for phone.h.
 *
 * Normalization is a table of accepted spellings (ASCII and full-width, with every country
 * prefix) and a table of refusals, each checked for its error class and for leaving `out`
 * untouched. phone_key is checked against a vector computed outside this code base
 * (openssl dgst) and against OpenSSL's EVP_MAC, a different API from the one phone.c uses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

#include "phone.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Table tests report every failing row, then fail once, so one bad row hides no other. */
#define ROW_FAIL(...)                                                                              \
    do {                                                                                           \
        print_error("ERROR: " __VA_ARGS__);                                                        \
        print_error("\n");                                                                         \
        row_failures++;                                                                            \
    } while (0)
#define UNTOUCHED 'Z'

/* UTF-8 spellings, written as escapes so the table does not depend on the editor. */
#define FW_0 "\xEF\xBC\x90"
#define FW_1 "\xEF\xBC\x91"
#define FW_3 "\xEF\xBC\x93"
#define FW_6 "\xEF\xBC\x96"
#define FW_8 "\xEF\xBC\x98"
#define FW_PLUS "\xEF\xBC\x8B"    /* U+FF0B */
#define FW_HYPHEN "\xEF\xBC\x8D"  /* U+FF0D */
#define FW_LPAREN "\xEF\xBC\x88"  /* U+FF08 */
#define FW_RPAREN "\xEF\xBC\x89"  /* U+FF09 */
#define IDEO_SPACE "\xE3\x80\x80" /* U+3000 */
#define FW_13800138000 FW_1 FW_3 FW_8 FW_0 FW_0 FW_1 FW_3 FW_8 FW_0 FW_0 FW_0

struct accept_case {
    const char *input;
    const char *want;
};

static const struct accept_case accepted[] = {
    {"13800138000", "13800138000"},
    {"138 0013 8000", "13800138000"},
    {"138-0013-8000", "13800138000"},
    {"138.0013.8000", "13800138000"},
    {"(138) 0013-8000", "13800138000"},
    {" 13800138000 ", "13800138000"},
    {"+86 138 0013 8000", "13800138000"},
    {"+86-138-0013-8000", "13800138000"},
    {"+8613800138000", "13800138000"},
    {"(+86) 138 0013 8000", "13800138000"},
    {"+86 (138) 0013 8000", "13800138000"},
    {"008613800138000", "13800138000"},
    {"0086 138 0013 8000", "13800138000"},
    {"8613800138000", "13800138000"},
    {"86 138 0013 8000", "13800138000"},
    {"19912345678", "19912345678"},
    {"14712345678", "14712345678"},
    {FW_13800138000, "13800138000"},
    {FW_PLUS FW_8 FW_6 FW_13800138000, "13800138000"},
    {FW_PLUS FW_8 FW_6 IDEO_SPACE FW_13800138000, "13800138000"},
    {FW_0 FW_0 FW_8 FW_6 FW_13800138000, "13800138000"},
    {"138" IDEO_SPACE "0013" IDEO_SPACE "8000", "13800138000"},
    {"+86" IDEO_SPACE "138" IDEO_SPACE "0013" IDEO_SPACE "8000", "13800138000"},
    {"138" FW_HYPHEN "0013" FW_HYPHEN "8000", "13800138000"},
    {FW_LPAREN "138" FW_RPAREN "00138000", "13800138000"},
    {"138 " FW_0 FW_0 FW_1 FW_3 " 8000", "13800138000"}, /* mixed widths */
};

static void normalize_accepts_common_spellings(void **state)
{
    (void)state;
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(accepted); i++) {
        char out[PHONE_DIGITS + 1];
        memset(out, UNTOUCHED, sizeof(out));
        ml_err err = phone_normalize(accepted[i].input, out);
        if (err != ML_OK) {
            ROW_FAIL("accept case %zu \"%s\": want ML_OK, got %s", i, accepted[i].input,
                     ml_strerror(err));
            continue;
        }
        if (memcmp(out, accepted[i].want, PHONE_DIGITS + 1) != 0)
            ROW_FAIL("accept case %zu \"%s\": want %s, got %.12s", i, accepted[i].input,
                     accepted[i].want, out);
    }
    assert_int_equal(row_failures, 0);
}

struct reject_case {
    const char *what;
    const char *input;
    ml_err want;
};

/* clang-format off */
static const struct reject_case rejected[] = {
    {"empty", "", ML_PARSE},
    {"only separators", " - ", ML_PARSE},
    {"only a plus", "+", ML_PARSE},
    {"letters", "abcdefghijk", ML_PARSE},
    {"a letter inside", "1380013800O", ML_PARSE},
    {"second digit 2", "12800138000", ML_PARSE},
    {"second digit 0", "10800138000", ML_PARSE},
    {"second digit 1", "11800138000", ML_PARSE},
    {"first digit not 1", "23800138000", ML_PARSE},
    {"10 digits", "1380013800", ML_PARSE},
    {"12 digits", "138001380001", ML_PARSE},
    {"landline with area code", "01012345678", ML_PARSE},
    {"+1 country code", "+1 415 555 0100", ML_PARSE},
    {"+1 with 11 digits", "+1 13800138000", ML_PARSE},
    {"+ without country code", "+13800138000", ML_PARSE},
    {"+0086", "+0086 13800138000", ML_PARSE},
    {"+86 with 10 digits", "+86 138 0013 800", ML_PARSE},
    {"+86 twice", "+86 86 13800138000", ML_PARSE},
    {"plus in the middle", "138+00138000", ML_PARSE},
    {"plus at the end", "13800138000+", ML_PARSE},
    {"double plus", "++8613800138000", ML_PARSE},
    {"plus after the country code", "86+13800138000", ML_PARSE},
    {"0086 with 10 digits", "0086 138 0013 800", ML_PARSE},
    {"86 with 10 digits", "86 138 0013 800", ML_PARSE},
    {"trailing newline", "13800138000\n", ML_PARSE},
    {"tab separator", "138\t0013\t8000", ML_PARSE},
    {"slash separator", "138/0013/8000", ML_PARSE},
    {"emoji", "\xF0\x9F\x93\xB1" "13800138000", ML_PARSE},
    {"CJK text", "\xE7\x94\xB5\xE8\xAF\x9D" "13800138000", ML_PARSE},
    {"full-width letter", "\xEF\xBC\xA1" "13800138000", ML_PARSE},
    {"full-width full stop", "138\xEF\xBC\x8E" "0013" "8000", ML_PARSE},
    {"overlong encoding of '1'", "\xC0\xB1" "3800138000", ML_PARSE},
    {"lone byte 0xEF", "\xEF", ML_PARSE},
    {"lone byte 0xEF after digits", "13800138000\xEF", ML_PARSE},
    {"truncated full-width digit", "13800138000\xEF\xBC", ML_PARSE},
    {"continuation byte alone", "\x80" "13800138000", ML_PARSE},
    {"NBSP is not a separator", "138\xC2\xA0" "0013" "8000", ML_PARSE},
};
/* clang-format on */

static void normalize_refuses_malformed_input_without_writing(void **state)
{
    (void)state;
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(rejected); i++) {
        char out[PHONE_DIGITS + 1];
        memset(out, UNTOUCHED, sizeof(out));
        ml_err err = phone_normalize(rejected[i].input, out);
        if (err != rejected[i].want)
            ROW_FAIL("reject case \"%s\": want %s, got %s", rejected[i].what,
                     ml_strerror(rejected[i].want), ml_strerror(err));
        for (size_t j = 0; j < sizeof(out); j++)
            if (out[j] != UNTOUCHED)
                ROW_FAIL("reject case \"%s\": out[%zu] written", rejected[i].what, j);
    }
    assert_int_equal(row_failures, 0);
}

/* Pads "13800138000" with leading spaces to exactly `len` bytes. */
static void padded_number(char *buf, size_t len)
{
    const char *digits = "13800138000";
    size_t nd = strlen(digits);
    assert_true(len >= nd);
    memset(buf, ' ', len - nd);
    memcpy(buf + len - nd, digits, nd + 1);
}

static void normalize_accepts_input_of_exactly_input_max_bytes(void **state)
{
    (void)state;
    char in[PHONE_INPUT_MAX + 1];
    char out[PHONE_DIGITS + 1];
    padded_number(in, PHONE_INPUT_MAX);
    assert_int_equal(strlen(in), PHONE_INPUT_MAX);
    assert_int_equal(phone_normalize(in, out), ML_OK);
    assert_string_equal(out, "13800138000");
}

static void normalize_accepts_full_width_input_of_exactly_input_max_bytes(void **state)
{
    (void)state;
    /* 9 ideographic spaces (27 bytes) + "+86" + 11 full-width digits (33 bytes) + " " = 64. */
    char in[PHONE_INPUT_MAX + 1];
    char out[PHONE_DIGITS + 1];
    int n = snprintf(in, sizeof(in), "%s%s%s%s%s%s%s%s%s+86%s ", IDEO_SPACE, IDEO_SPACE, IDEO_SPACE,
                     IDEO_SPACE, IDEO_SPACE, IDEO_SPACE, IDEO_SPACE, IDEO_SPACE, IDEO_SPACE,
                     FW_13800138000);
    assert_int_equal(n, PHONE_INPUT_MAX);
    assert_int_equal(phone_normalize(in, out), ML_OK);
    assert_string_equal(out, "13800138000");
}

static void normalize_refuses_input_max_plus_one_bytes_with_limit(void **state)
{
    (void)state;
    char in[PHONE_INPUT_MAX + 2];
    char out[PHONE_DIGITS + 1];
    memset(out, UNTOUCHED, sizeof(out));
    padded_number(in, PHONE_INPUT_MAX + 1);
    assert_int_equal(strlen(in), PHONE_INPUT_MAX + 1);
    assert_int_equal(phone_normalize(in, out), ML_LIMIT);
    for (size_t j = 0; j < sizeof(out); j++)
        assert_int_equal(out[j], UNTOUCHED);
}

/* The length limit is checked before the content: a long run of garbage is ML_LIMIT. */
static void normalize_refuses_long_garbage_with_limit(void **state)
{
    (void)state;
    char in[4096];
    char out[PHONE_DIGITS + 1];
    memset(in, 'x', sizeof(in) - 1);
    in[sizeof(in) - 1] = '\0';
    assert_int_equal(phone_normalize(in, out), ML_LIMIT);
}

/* Every digit survives normalization in place, whichever width it was written in. */
static void normalize_maps_each_full_width_digit(void **state)
{
    (void)state;
    for (int d = 0; d <= 9; d++) {
        /* 1 3 d d d d d d d d d */
        char in[64], want[PHONE_DIGITS + 1], out[PHONE_DIGITS + 1];
        size_t pos = 0;
        in[pos++] = '1';
        in[pos++] = '3';
        for (int k = 0; k < 9; k++) {
            in[pos++] = '\xEF';
            in[pos++] = '\xBC';
            in[pos++] = (char)(0x90 + d);
        }
        in[pos] = '\0';
        want[0] = '1';
        want[1] = '3';
        memset(want + 2, '0' + d, 9);
        want[PHONE_DIGITS] = '\0';
        assert_int_equal(phone_normalize(in, out), ML_OK);
        assert_string_equal(out, want);
    }
}

static void normalize_accepts_second_digits_3_to_9_only(void **state)
{
    (void)state;
    for (char second = '0'; second <= '9'; second++) {
        char in[PHONE_DIGITS + 1] = "1x012345678";
        char out[PHONE_DIGITS + 1];
        in[1] = second;
        ml_err want = (second >= '3') ? ML_OK : ML_PARSE;
        ml_err err = phone_normalize(in, out);
        if (err != want)
            fail_msg("%s: want %s, got %s", in, ml_strerror(want), ml_strerror(err));
    }
}

struct mask_case {
    const char *normalized;
    const char *want;
};

static const struct mask_case masks[] = {
    {"13800138000", "138****8000"},
    {"19912345678", "199****5678"},
    {"15000000001", "150****0001"},
};

static void mask_keeps_first_three_and_last_four_digits(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(masks); i++) {
        char out[PHONE_MASKED_LEN + 2];
        memset(out, UNTOUCHED, sizeof(out));
        phone_mask(masks[i].normalized, out);
        assert_string_equal(out, masks[i].want);
        assert_int_equal(out[PHONE_MASKED_LEN + 1], UNTOUCHED);
    }
}

static const uint8_t key_a[PHONE_KEY_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/*
 * Expected values from outside this code base:
 *   K=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
 *   printf %s 13800138000 | openssl dgst -sha256 -mac HMAC -macopt hexkey:$K
 */
static void key_matches_openssl_dgst_hmac_sha256_vector(void **state)
{
    (void)state;
    static const struct {
        const char *normalized;
        const char *hex;
    } vectors[] = {
        {"13800138000", "f0365c81699373289c1fc09ca5d5f8fde06cc6821d74be861474d0a5b8b10df5"},
        {"19912345678", "e977b743ea2be02522c1f42fd7b21975beba6460ad86c4cf61eab37e74890b64"},
    };
    for (size_t i = 0; i < ARRAY_LEN(vectors); i++) {
        uint8_t mac[PHONE_KEY_LEN];
        char hex[2 * PHONE_KEY_LEN + 1];
        phone_key(key_a, vectors[i].normalized, mac);
        hex_of(mac, sizeof(mac), hex);
        assert_string_equal(hex, vectors[i].hex);
    }
}

/* Computes HMAC-SHA256 through EVP_MAC, independently of phone.c's HMAC() call. */
static void evp_hmac_sha256(const uint8_t *key, size_t keylen, const char *msg,
                            uint8_t out[PHONE_KEY_LEN])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    assert_non_null(mac);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    assert_non_null(ctx);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    size_t outlen = 0;
    assert_int_equal(EVP_MAC_init(ctx, key, keylen, params), 1);
    assert_int_equal(EVP_MAC_update(ctx, (const unsigned char *)msg, strlen(msg)), 1);
    assert_int_equal(EVP_MAC_final(ctx, out, &outlen, PHONE_KEY_LEN), 1);
    assert_int_equal(outlen, PHONE_KEY_LEN);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
}

static void key_equals_evp_mac_hmac_sha256_for_many_keys(void **state)
{
    (void)state;
    static const char *numbers[] = {"13800138000", "19912345678", "15000000001"};
    for (int k = 0; k < 8; k++) {
        uint8_t key[PHONE_KEY_LEN];
        for (size_t i = 0; i < sizeof(key); i++)
            key[i] = (uint8_t)(k * 37 + (int)i * 11 + 0xa5);
        for (size_t n = 0; n < ARRAY_LEN(numbers); n++) {
            uint8_t got[PHONE_KEY_LEN], want[PHONE_KEY_LEN];
            phone_key(key, numbers[n], got);
            evp_hmac_sha256(key, sizeof(key), numbers[n], want);
            assert_memory_equal(got, want, PHONE_KEY_LEN);
        }
    }
}

static void key_is_deterministic(void **state)
{
    (void)state;
    uint8_t a[PHONE_KEY_LEN], b[PHONE_KEY_LEN];
    phone_key(key_a, "13800138000", a);
    phone_key(key_a, "13800138000", b);
    assert_memory_equal(a, b, PHONE_KEY_LEN);
}

static void key_differs_by_key(void **state)
{
    (void)state;
    uint8_t other[PHONE_KEY_LEN];
    memcpy(other, key_a, sizeof(other));
    other[PHONE_KEY_LEN - 1] ^= 0x01; /* last byte: the whole key is used */
    uint8_t a[PHONE_KEY_LEN], b[PHONE_KEY_LEN];
    phone_key(key_a, "13800138000", a);
    phone_key(other, "13800138000", b);
    assert_memory_not_equal(a, b, PHONE_KEY_LEN);
}

static void key_differs_by_number(void **state)
{
    (void)state;
    uint8_t a[PHONE_KEY_LEN], b[PHONE_KEY_LEN];
    phone_key(key_a, "13800138000", a);
    phone_key(key_a, "13800138001", b);
    assert_memory_not_equal(a, b, PHONE_KEY_LEN);
}

/* Every spelling of one number must land on the same lookup key. */
static void key_is_equal_for_every_spelling_of_a_number(void **state)
{
    (void)state;
    uint8_t first[PHONE_KEY_LEN];
    phone_key(key_a, "13800138000", first);
    for (size_t i = 0; i < ARRAY_LEN(accepted); i++) {
        if (strcmp(accepted[i].want, "13800138000") != 0)
            continue;
        char norm[PHONE_DIGITS + 1];
        uint8_t mac[PHONE_KEY_LEN];
        assert_int_equal(phone_normalize(accepted[i].input, norm), ML_OK);
        phone_key(key_a, norm, mac);
        assert_memory_equal(mac, first, PHONE_KEY_LEN);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(normalize_accepts_common_spellings),
        cmocka_unit_test(normalize_refuses_malformed_input_without_writing),
        cmocka_unit_test(normalize_accepts_input_of_exactly_input_max_bytes),
        cmocka_unit_test(normalize_accepts_full_width_input_of_exactly_input_max_bytes),
        cmocka_unit_test(normalize_refuses_input_max_plus_one_bytes_with_limit),
        cmocka_unit_test(normalize_refuses_long_garbage_with_limit),
        cmocka_unit_test(normalize_maps_each_full_width_digit),
        cmocka_unit_test(normalize_accepts_second_digits_3_to_9_only),
        cmocka_unit_test(mask_keeps_first_three_and_last_four_digits),
        cmocka_unit_test(key_matches_openssl_dgst_hmac_sha256_vector),
        cmocka_unit_test(key_equals_evp_mac_hmac_sha256_for_many_keys),
        cmocka_unit_test(key_is_deterministic),
        cmocka_unit_test(key_differs_by_key),
        cmocka_unit_test(key_differs_by_number),
        cmocka_unit_test(key_is_equal_for_every_spelling_of_a_number),
    };
    return cmocka_run_group_tests_name("phone", tests, NULL, NULL);
}
