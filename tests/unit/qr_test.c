/*
 * qr_test: unit tests for qr.h: every case of tests/vectors/qr_vectors.json (made with the
 * openssl command line tool, not with this code); the encoder reproducing those bytes;
 * round trips of all three kinds; every single-bit change to a member code refused with the
 * code its place calls for; lengths one byte off; prefixes, characters and the text length
 * limit; keys, expiry and the proof window at their edges; the keyring's fingerprint
 * lookup. And for memberlink-hq (hq_qr.h): the wallet's counter and checks, and the PNG.
 *
 * Tests run from the repository root, where the vector file is read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base45.h"
#include "hq_qr.h"
#include "ml_err.h"
#include "qr.h"
#include "sign.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define VECTORS_PATH "tests/vectors/qr_vectors.json"
#define VECTORS_MAX (64 * 1024) /* bytes of a vector or test file read at most */
#define SEC1_HEAD "30310201010420"
#define SEC1_TAIL "a00a06082a8648ce3d030107" /* [0] prime256v1 */

/* Loaded once by the group fixture. */
static struct {
    cJSON *root;
    EVP_PKEY *issuer;        /* the vectors' HQ key */
    EVP_PKEY *other_issuer;  /* a key no keyring here holds */
    EVP_PKEY *device;        /* the phone's P-256 key */
    EVP_PKEY *other_device;  /* another P-256 key */
    struct sign_keyring *kr; /* holds only the issuer */
    int64_t now;
    int window;
} vec;

/* ---- helpers ---- */

static char *read_file(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s (tests run from the repository root)", path);
    char *buf = malloc(VECTORS_MAX + 1);
    assert_non_null(buf);
    size_t n = fread(buf, 1, VECTORS_MAX + 1, f);
    fclose(f);
    assert_true(n <= VECTORS_MAX);
    buf[n] = '\0';
    *ret_len = n;
    return buf;
}

static const char *vstr(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double vnum(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

/* Decodes hex into out; returns the byte count. */
static size_t unhex(const char *hex, uint8_t *out, size_t out_size)
{
    long n = 0;
    unsigned char *buf = OPENSSL_hexstr2buf(hex, &n);
    assert_non_null(buf);
    assert_true(n >= 0 && (size_t)n <= out_size);
    memcpy(out, buf, (size_t)n);
    OPENSSL_free(buf);
    return (size_t)n;
}

static EVP_PKEY *ed25519_from_seed(const char *seed_hex)
{
    uint8_t seed[32];
    if (seed_hex == NULL || unhex(seed_hex, seed, sizeof(seed)) != 32)
        return NULL;
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
}

/* A P-256 private key from its scalar, through SEC1 DER (OpenSSL derives the
 * point). */
static EVP_PKEY *p256_from_hex(const char *d_hex)
{
    char hex[200];
    uint8_t der[100];
    if (d_hex == NULL)
        return NULL;
    snprintf(hex, sizeof(hex), "%s%s%s", SEC1_HEAD, d_hex, SEC1_TAIL);
    size_t n = unhex(hex, der, sizeof(der));
    const unsigned char *p = der;
    return d2i_AutoPrivateKey(NULL, &p, (long)n);
}

static EVP_PKEY *p256_generate(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    return k;
}

/* Parses and verifies text at now; returns "ok" or the first refusal code,
 * after checking that the class and HTTP status go with the code. */
static const char *check_text(const char *text, size_t len, const struct sign_keyring *kr,
                              int64_t now, int window)
{
    struct qr_code c;
    struct ml_refusal r = {0, NULL, ""};
    ml_err err = qr_parse(text, len, &c, &r);
    if (err == ML_OK)
        err = qr_verify_issuer(&c, kr, now, &r);
    if (err == ML_OK)
        err = qr_verify_proof(&c, now, window, &r);
    if (err == ML_OK)
        return "ok";
    assert_non_null(r.code);
    assert_true(r.message[0] != '\0');
    if (strcmp(r.code, "qr_malformed") == 0) {
        assert_int_equal(err, ML_PARSE);
        assert_int_equal(r.http_status, 400);
    } else {
        assert_int_equal(err, ML_REFUSED);
        assert_int_equal(r.http_status, 403);
    }
    return r.code;
}

static const char *check_code(const char *text)
{
    return check_text(text, strlen(text), vec.kr, vec.now, vec.window);
}

/* The text of bin under prefix, into out. */
static void render_bytes(const char *prefix, const uint8_t *bin, size_t n, char *out,
                         size_t out_size)
{
    size_t plen = strlen(prefix);
    assert_true(out_size > plen);
    memcpy(out, prefix, plen);
    assert_int_equal(base45_encode(bin, n, out + plen, out_size - plen), ML_OK);
}

static const cJSON *vector_case(const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(vec.root, "cases"))
    {
        if (strcmp(vstr(c, "name"), name) == 0)
            return c;
    }
    fail_msg("no vector case %s", name);
    return NULL;
}

/* The binary of vector case name; returns its length. */
static size_t vector_bin(const char *name, uint8_t out[QR_BIN_MAX + 8])
{
    return unhex(vstr(vector_case(name), "hex"), out, QR_BIN_MAX + 8);
}

static int group_setup(void **state)
{
    (void)state;
    size_t len;
    char *text = read_file(VECTORS_PATH, &len);
    vec.root = cJSON_ParseWithLength(text, len);
    free(text);
    if (vec.root == NULL)
        return -1;
    const cJSON *issuer = cJSON_GetObjectItemCaseSensitive(vec.root, "issuer");
    vec.issuer = ed25519_from_seed(vstr(issuer, "seed_hex"));
    vec.other_issuer = ed25519_from_seed(
        vstr(cJSON_GetObjectItemCaseSensitive(vec.root, "unknown_issuer"), "seed_hex"));
    vec.device =
        p256_from_hex(vstr(cJSON_GetObjectItemCaseSensitive(vec.root, "device"), "private_hex"));
    vec.other_device = p256_from_hex(
        vstr(cJSON_GetObjectItemCaseSensitive(vec.root, "other_device"), "private_hex"));
    vec.now = (int64_t)vnum(vec.root, "now");
    vec.window = (int)vnum(vec.root, "window");
    vec.kr = sign_keyring_new();
    if (vec.issuer == NULL || vec.other_issuer == NULL || vec.device == NULL ||
        vec.other_device == NULL || vec.kr == NULL ||
        sign_keyring_add(vec.kr, vstr(issuer, "kid"), vstr(issuer, "public_b64")) != ML_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    vec.kr = sign_keyring_free(vec.kr);
    EVP_PKEY_free(vec.issuer);
    EVP_PKEY_free(vec.other_issuer);
    EVP_PKEY_free(vec.device);
    EVP_PKEY_free(vec.other_device);
    cJSON_Delete(vec.root);
    return 0;
}

/* ---- the vectors ---- */

static void every_vector_gives_its_expected_result(void **state)
{
    (void)state;
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(vec.root, "cases"))
    {
        const char *name = vstr(c, "name"), *text = vstr(c, "text"), *want = vstr(c, "expected");
        const char *got = check_code(text);
        if (strcmp(got, want) != 0)
            fail_msg("%s: want %s, got %s", name, want, got);

        /* the text decodes to the vector's bytes, and renders back to the same text
         */
        uint8_t bin[QR_BIN_MAX + 8];
        size_t bin_len = vector_bin(name, bin);
        struct qr_code code;
        assert_int_equal(qr_parse(text, strlen(text), &code, NULL), ML_OK);
        assert_int_equal(code.len, bin_len);
        assert_memory_equal(code.bin, bin, bin_len);
        char back[QR_TEXT_MAX + 1];
        assert_int_equal(qr_render(&code, back, sizeof(back)), ML_OK);
        assert_string_equal(back, text);
        assert_memory_equal(code.kid_fp, bin + 1, QR_KID_FP_LEN);

        if (strcmp(want, "ok") == 0) {
            assert_string_equal(code.id, vstr(c, "id"));
            assert_int_equal(code.not_after, (uint32_t)vnum(c, "not_after"));
            assert_int_equal(code.flags, 0);
            if (code.kind == QR_MEMBER) {
                assert_true(code.has_proof);
                assert_int_equal(code.proof_time, (uint32_t)vnum(c, "proof_time"));
                assert_int_equal(code.counter, (uint32_t)vnum(c, "counter"));
            } else {
                assert_false(code.has_proof);
            }
        }
        n++;
    }
    assert_true(n >= 10);
}

static void the_vector_keys_are_the_documented_ones(void **state)
{
    (void)state;
    uint8_t fp[SIGN_FP_LEN], want[SIGN_FP_LEN];
    assert_int_equal(sign_key_fingerprint(vec.issuer, fp), ML_OK);
    unhex(vstr(cJSON_GetObjectItemCaseSensitive(vec.root, "issuer"), "fingerprint_hex"), want,
          sizeof(want));
    assert_memory_equal(fp, want, SIGN_FP_LEN);
    EVP_PKEY *found = NULL;
    const char *kid = NULL;
    assert_int_equal(sign_keyring_find_fp(vec.kr, fp, &found, &kid), ML_OK);
    assert_string_equal(kid, "hq-2026-01");
    assert_true(EVP_PKEY_eq(found, vec.issuer) == 1);

    /* the device key's compressed point, as qr_issue() puts it in a credential */
    struct qr_code c;
    uint8_t pub[QR_DEVICE_PUB_LEN];
    unhex(vstr(cJSON_GetObjectItemCaseSensitive(vec.root, "device"), "public_hex"), pub,
          sizeof(pub));
    assert_int_equal(qr_issue(QR_MEMBER, "M1001", 1, vec.issuer, vec.device, &c), ML_OK);
    assert_memory_equal(c.bin + c.cred_len - QR_SIG_LEN - QR_DEVICE_PUB_LEN, pub, sizeof(pub));
}

/* Ed25519 is deterministic: the encoder must produce the vectors' credentials
 * exactly. */
static void the_encoder_reproduces_the_vector_credentials(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum qr_kind kind;
    } cases[] = {
        {"member_valid", QR_MEMBER},
        {"member_longest_id", QR_MEMBER},
        {"member_credential_last_second", QR_MEMBER},
        {"guide_valid", QR_GUIDE},
        {"coupon_valid", QR_COUPON},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const cJSON *v = vector_case(cases[i].name);
        uint8_t bin[QR_BIN_MAX + 8];
        size_t bin_len = vector_bin(cases[i].name, bin);
        struct qr_code c;
        assert_int_equal(qr_issue(cases[i].kind, vstr(v, "id"), (uint32_t)vnum(v, "not_after"),
                                  vec.issuer, cases[i].kind == QR_MEMBER ? vec.device : NULL, &c),
                         ML_OK);
        assert_false(c.has_proof);
        assert_memory_equal(c.bin, bin, c.cred_len);
        if (cases[i].kind != QR_MEMBER) {
            char text[QR_TEXT_MAX + 1];
            assert_int_equal(c.cred_len, bin_len);
            assert_int_equal(qr_render(&c, text, sizeof(text)), ML_OK);
            assert_string_equal(text, vstr(v, "text"));
            continue;
        }
        /* ECDSA is not deterministic: a fresh proof differs but verifies */
        uint32_t t = (uint32_t)vnum(v, "proof_time"), n = (uint32_t)vnum(v, "counter");
        assert_int_equal(qr_prove(&c, vec.device, t, n), ML_OK);
        assert_int_equal(c.len, bin_len);
        assert_memory_equal(c.bin + c.cred_len, bin + c.cred_len, 8); /* time, counter */
        char text[QR_TEXT_MAX + 1];
        assert_int_equal(qr_render(&c, text, sizeof(text)), ML_OK);
        assert_string_equal(check_code(text), "ok");
    }
}

/* ---- round trips ---- */

static void all_three_kinds_round_trip(void **state)
{
    (void)state;
    static const struct {
        enum qr_kind kind;
        const char *id, *prefix;
        size_t bytes, chars;
    } cases[] = {
        {QR_MEMBER, "M1001", "ML1:", 185, 282},
        {QR_MEMBER, "A", "ML1:", 181, 276},
        {QR_GUIDE, "G07", "MLG1:", 78, 122},
        {QR_GUIDE, "guide_0123456789-0123456789abcde", "MLG1:", 107, 166},
        {QR_COUPON, "CPN-20OFF", "MLC1:", 84, 131},
        {QR_COUPON, "c", "MLC1:", 76, 119},
    };
    EVP_PKEY *issuer = sign_key_generate(), *device = p256_generate();
    assert_non_null(issuer);
    char line[SIGN_PUB_B64_LEN + 1];
    assert_int_equal(sign_key_public_b64(issuer, line), ML_OK);
    struct sign_keyring *kr = sign_keyring_new();
    assert_int_equal(sign_keyring_add(kr, "fresh", line), ML_OK);

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct qr_code c, back;
        char text[QR_TEXT_MAX + 1];
        int member = cases[i].kind == QR_MEMBER;
        assert_int_equal(
            qr_issue(cases[i].kind, cases[i].id, 2000000000u, issuer, member ? device : NULL, &c),
            ML_OK);
        if (member)
            assert_int_equal(qr_prove(&c, device, 1900000000u, 42), ML_OK);
        assert_int_equal(c.len, cases[i].bytes);
        assert_int_equal(qr_render(&c, text, sizeof(text)), ML_OK);
        assert_int_equal(strlen(text), cases[i].chars);
        assert_int_equal(strncmp(text, cases[i].prefix, strlen(cases[i].prefix)), 0);
        assert_string_equal(check_text(text, strlen(text), kr, 1900000000, 60), "ok");

        assert_int_equal(qr_parse(text, strlen(text), &back, NULL), ML_OK);
        assert_int_equal(back.kind, cases[i].kind);
        assert_string_equal(back.id, cases[i].id);
        assert_int_equal(back.not_after, 2000000000u);
        assert_int_equal(back.proof_time, member ? 1900000000u : 0);
        assert_int_equal(back.counter, member ? 42 : 0);
        assert_int_equal(back.cred_len, c.cred_len);
        assert_memory_equal(back.bin, c.bin, c.len);

        /* the bare credential, as a wallet keeps it, comes back too */
        struct qr_code w;
        assert_int_equal(qr_from_credential(cases[i].kind, c.bin, c.cred_len, &w, NULL), ML_OK);
        assert_false(w.has_proof);
        assert_string_equal(w.id, cases[i].id);
        if (member) {
            assert_int_equal(qr_prove(&w, device, 1900000001u, 43), ML_OK);
            assert_int_equal(qr_render(&w, text, sizeof(text)), ML_OK);
            assert_string_equal(check_text(text, strlen(text), kr, 1900000000, 60), "ok");
        }
        /* a credential with a proof, or one byte short, is not a bare credential */
        struct ml_refusal r = {0, NULL, ""};
        assert_int_equal(qr_from_credential(cases[i].kind, c.bin, c.cred_len - 1, &w, &r),
                         ML_PARSE);
        assert_string_equal(r.code, "qr_malformed");
        if (member)
            assert_int_equal(qr_from_credential(cases[i].kind, c.bin, c.len, &w, NULL), ML_PARSE);
    }
    sign_keyring_free(kr);
    EVP_PKEY_free(issuer);
    EVP_PKEY_free(device);
}

/* ---- every bit ---- */

/* Independent of qr.c: does OpenSSL's EC_POINT layer take these 33 bytes as a
 * P-256 point? */
static int point_decodes(const uint8_t *p)
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *pt = g == NULL ? NULL : EC_POINT_new(g);
    assert_non_null(pt);
    int ok = EC_POINT_oct2point(g, pt, p, QR_DEVICE_PUB_LEN, NULL) == 1;
    EC_POINT_free(pt);
    EC_GROUP_free(g);
    return ok;
}

static int id_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* What a member code with id_len 5 must be refused as, when byte i has been
 * changed to b. */
static const char *expected_for_member_byte(size_t i, const uint8_t *flipped)
{
    const size_t id = 6, not_after = id + 5, flags = not_after + 4, dev = flags + 1,
                 sig = dev + QR_DEVICE_PUB_LEN;
    if (i == 0) /* version */
        return "qr_malformed";
    if (i < 5) /* kid fingerprint */
        return "qr_unknown_key";
    if (i == 5) /* id_len: the length no longer adds up */
        return "qr_malformed";
    if (i < not_after)
        return id_char(flipped[i]) ? "qr_bad_signature" : "qr_malformed";
    if (i < flags)
        return "qr_bad_signature";
    if (i == flags) /* reserved */
        return "qr_malformed";
    if (i < sig)
        return point_decodes(flipped + dev) ? "qr_bad_signature" : "qr_malformed";
    /* issuer signature, then the proof's time, counter and signature */
    return "qr_bad_signature";
}

static void every_single_bit_flip_of_a_member_code_is_refused(void **state)
{
    (void)state;
    uint8_t bin[QR_BIN_MAX + 8], flipped[QR_BIN_MAX + 8];
    size_t n = vector_bin("member_valid", bin);
    assert_int_equal(n, 185);
    assert_int_equal(bin[5], 5); /* the layout expected_for_member_byte() assumes */
    char text[QR_TEXT_MAX + 8];
    int counts[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 8; b++) {
            memcpy(flipped, bin, n);
            flipped[i] ^= (uint8_t)(1u << b);
            render_bytes(QR_MEMBER_PREFIX, flipped, n, text, sizeof(text));
            const char *want = expected_for_member_byte(i, flipped);
            const char *got = check_code(text);
            if (strcmp(got, want) != 0)
                fail_msg("byte %zu bit %d: want %s, got %s", i, b, want, got);
            counts[strcmp(got, "qr_malformed") == 0       ? 0
                   : strcmp(got, "qr_unknown_key") == 0   ? 1
                   : strcmp(got, "qr_bad_signature") == 0 ? 2
                                                          : 3]++;
        }
    }
    /* each kind of refusal happened, and nothing else did */
    assert_true(counts[0] > 0 && counts[1] == 32 && counts[2] > 0 && counts[3] == 0);
}

static void a_guide_card_bit_flip_is_refused_too(void **state)
{
    (void)state;
    uint8_t bin[QR_BIN_MAX + 8];
    size_t n = vector_bin("guide_valid", bin);
    char text[QR_TEXT_MAX + 8];
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 8; b++) {
            bin[i] ^= (uint8_t)(1u << b);
            render_bytes(QR_GUIDE_PREFIX, bin, n, text, sizeof(text));
            if (strcmp(check_code(text), "ok") == 0)
                fail_msg("byte %zu bit %d: accepted", i, b);
            bin[i] ^= (uint8_t)(1u << b);
        }
}

/* ---- lengths ---- */

static void one_byte_short_or_long_is_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *name, *prefix;
    } cases[] = {
        {"member_valid", QR_MEMBER_PREFIX},
        {"member_longest_id", QR_MEMBER_PREFIX},
        {"guide_valid", QR_GUIDE_PREFIX},
        {"coupon_valid", QR_COUPON_PREFIX},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        uint8_t bin[QR_BIN_MAX + 8];
        char text[QR_TEXT_MAX + 16];
        size_t n = vector_bin(cases[i].name, bin);
        render_bytes(cases[i].prefix, bin, n - 1, text, sizeof(text));
        if (strcmp(check_code(text), "qr_malformed") != 0)
            fail_msg("%s truncated by one byte: not malformed", cases[i].name);
        for (unsigned extra = 0; extra < 256; extra += 85) {
            bin[n] = (uint8_t)extra;
            render_bytes(cases[i].prefix, bin, n + 1, text, sizeof(text));
            if (strcmp(check_code(text), "qr_malformed") != 0)
                fail_msg("%s extended by byte %u: not malformed", cases[i].name, extra);
        }
        /* a member code without its proof, a guide card with one's worth of bytes
         */
        if (strcmp(cases[i].prefix, QR_MEMBER_PREFIX) == 0) {
            render_bytes(cases[i].prefix, bin, n - QR_PROOF_LEN, text, sizeof(text));
            assert_string_equal(check_code(text), "qr_malformed");
        }
    }
}

static void text_length_is_limited_to_qr_text_max(void **state)
{
    (void)state;
    const char *longest = vstr(vector_case("member_longest_id"), "text");
    assert_int_equal(strlen(longest), QR_TEXT_MAX);
    assert_int_equal(QR_TEXT_MAX, 322);
    assert_string_equal(check_code(longest), "ok");

    char text[QR_TEXT_MAX + 8];
    struct ml_refusal r = {0, NULL, ""};
    struct qr_code c;
    /* one past, however it ends */
    static const char *const tails[] = {"0", ":", " "};
    for (size_t i = 0; i < ARRAY_LEN(tails); i++) {
        snprintf(text, sizeof(text), "%s%s", longest, tails[i]);
        assert_int_equal(strlen(text), QR_TEXT_MAX + 1);
        assert_int_equal(qr_parse(text, strlen(text), &c, &r), ML_PARSE);
        assert_string_equal(r.code, "qr_malformed");
        assert_non_null(strstr(r.message, "longer than 322"));
    }
    /* a guide card of 323 characters: 5 + 318 Base45 that would decode to 212
     * bytes */
    memcpy(text, QR_GUIDE_PREFIX, 5);
    memcpy(text + 5, longest + 4, 318);
    assert_int_equal(qr_parse(text, QR_TEXT_MAX + 1, &c, &r), ML_PARSE);
    assert_non_null(strstr(r.message, "longer than 322"));
    /* and at exactly 322, the length does not match what its id length implies */
    assert_int_equal(qr_parse(text, QR_TEXT_MAX, &c, &r), ML_PARSE);
    assert_string_equal(r.code, "qr_malformed");
    /* the empty text */
    assert_int_equal(qr_parse("", 0, &c, &r), ML_PARSE);
    assert_int_equal(qr_parse(NULL, 0, &c, &r), ML_PARSE);
    assert_int_equal(qr_parse(NULL, 10, &c, &r), ML_PARSE);
}

/* ---- characters and prefixes ---- */

static void prefixes_and_characters_outside_the_rules_are_malformed(void **state)
{
    (void)state;
    const char *good = vstr(vector_case("coupon_valid"), "text"); /* MLC1:... */
    const char *body = good + 5;
    char text[QR_TEXT_MAX + 8];
    static const char *const prefixes[] = {
        "mlc1:", "MLC1", "MLC2:", "MLC1;", "ML1:", "MLG1:", "MLX1:", " MLC1:", "MLC1: ", ""};
    for (size_t i = 0; i < ARRAY_LEN(prefixes); i++) {
        snprintf(text, sizeof(text), "%s%s", prefixes[i], body);
        const char *got = check_code(text);
        /* MLG1: is a valid prefix: those bytes then fail the guide card's signature
         */
        const char *want = strcmp(prefixes[i], "MLG1:") == 0 ? "qr_bad_signature" : "qr_malformed";
        if (strcmp(got, want) != 0)
            fail_msg("prefix '%s': want %s, got %s", prefixes[i], want, got);
    }
    assert_string_equal(check_code(good), "ok");

    /* one character replaced, at the start, in the middle and at the end of the
     * Base45 */
    static const char bad_chars[] = {'a', 'z', '\n', '\r', '\t', '=', '_', '#', ',', '\0', '\x7f'};
    size_t len = strlen(good);
    size_t places[] = {5, len / 2, len - 1};
    for (size_t i = 0; i < ARRAY_LEN(bad_chars); i++)
        for (size_t p = 0; p < ARRAY_LEN(places); p++) {
            memcpy(text, good, len);
            text[places[p]] = bad_chars[i];
            const char *got = check_text(text, len, vec.kr, vec.now, vec.window);
            if (strcmp(got, "qr_malformed") != 0)
                fail_msg("byte 0x%02x at %zu: got %s", (unsigned char)bad_chars[i], places[p], got);
        }
    /* UTF-8 and a trailing newline, as a scanner in keyboard mode might send */
    snprintf(text, sizeof(text), "%s\n", good);
    assert_string_equal(check_code(text), "qr_malformed");
    snprintf(text, sizeof(text), "MLC1:\xc3\xa9%s", body + 2);
    assert_string_equal(check_code(text), "qr_malformed");
    /* Base45 groups over their maximum */
    snprintf(text, sizeof(text), "MLC1:GGW%s", body + 3);
    assert_string_equal(check_code(text), "qr_malformed");
}

static void refusal_messages_never_quote_the_scanned_text(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "MLC1:SECRETPAYLOAD",        /* Base45, too short */
        "MLC1:SECRETPAYLOADsecret",  /* lowercase */
        "SECRET:PAYLOAD",            /* no prefix */
        "ML1:SECRET\x1b[31mPAYLOAD", /* an escape sequence */
    };
    for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
        struct ml_refusal r = {0, NULL, ""};
        struct qr_code c;
        assert_int_equal(qr_parse(texts[i], strlen(texts[i]), &c, &r), ML_PARSE);
        assert_null(strstr(r.message, "SECRET"));
        assert_null(strstr(r.message, "PAYLOAD"));
        assert_null(strchr(r.message, '\x1b'));
    }
    /* an unknown key is named by its fingerprint, in hex */
    struct ml_refusal r = {0, NULL, ""};
    struct qr_code c;
    const char *text = vstr(vector_case("member_unknown_key"), "text");
    assert_int_equal(qr_parse(text, strlen(text), &c, &r), ML_OK);
    assert_int_equal(qr_verify_issuer(&c, vec.kr, vec.now, &r), ML_REFUSED);
    assert_non_null(
        strstr(r.message, vstr(cJSON_GetObjectItemCaseSensitive(vec.root, "unknown_issuer"),
                               "fingerprint_hex")));
}

/* ---- keys, expiry, window ---- */

static void an_issuer_the_keyring_lacks_is_unknown_key(void **state)
{
    (void)state;
    const char *text = vstr(vector_case("member_valid"), "text");
    struct sign_keyring *empty = sign_keyring_new();
    assert_string_equal(check_text(text, strlen(text), empty, vec.now, 60), "qr_unknown_key");
    assert_string_equal(check_text(text, strlen(text), NULL, vec.now, 60), "qr_unknown_key");

    /* a keyring holding other keys, then the right one under a second kid */
    struct sign_keyring *kr = sign_keyring_new();
    char pub[SIGN_PUB_B64_LEN + 1];
    assert_int_equal(sign_key_public_b64(vec.other_issuer, pub), ML_OK);
    assert_int_equal(sign_keyring_add(kr, "old", pub), ML_OK);
    assert_string_equal(check_text(text, strlen(text), kr, vec.now, 60), "qr_unknown_key");
    assert_int_equal(sign_key_public_b64(vec.issuer, pub), ML_OK);
    assert_int_equal(sign_keyring_add(kr, "new", pub), ML_OK);
    assert_string_equal(check_text(text, strlen(text), kr, vec.now, 60), "ok");

    /* a credential made by the other key, against the vectors' keyring */
    struct qr_code c;
    char out[QR_TEXT_MAX + 1];
    assert_int_equal(qr_issue(QR_GUIDE, "G07", 2000000000u, vec.other_issuer, NULL, &c), ML_OK);
    assert_int_equal(qr_render(&c, out, sizeof(out)), ML_OK);
    assert_string_equal(check_code(out), "qr_unknown_key");
    assert_string_equal(check_text(out, strlen(out), kr, vec.now, 60), "ok");
    sign_keyring_free(kr);
    sign_keyring_free(empty);
}

static void keyring_refuses_two_keys_with_one_fingerprint(void **state)
{
    (void)state;
    /* two Ed25519 public keys whose SHA-256 both start c6034c0e (found by search)
     */
    static const char a[] = "u6c2gcIPs1X1SZjEbZYRCzva6BEfgRfNgAwJqNbXNmE=";
    static const char b[] = "OIGDbUalq8rIt6kVVrok5rZvBEju/ylqYHepITYFvqA=";
    struct sign_keyring *kr = sign_keyring_new();
    assert_int_equal(sign_keyring_add(kr, "a", a), ML_OK);
    assert_int_equal(sign_keyring_add(kr, "b", b), ML_CONFIG);
    assert_int_equal(sign_keyring_count(kr), 1);
    assert_int_equal(sign_keyring_add(kr, "a2", a), ML_OK); /* the same key again is fine */
    const uint8_t fp[SIGN_FP_LEN] = {0xc6, 0x03, 0x4c, 0x0e};
    EVP_PKEY *found = NULL;
    const char *kid = NULL;
    assert_int_equal(sign_keyring_find_fp(kr, fp, &found, &kid), ML_OK);
    assert_string_equal(kid, "a");
    const uint8_t other[SIGN_FP_LEN] = {0xc6, 0x03, 0x4c, 0x0f};
    found = NULL;
    assert_int_equal(sign_keyring_find_fp(kr, other, &found, NULL), ML_NOENTRY);
    assert_null(found);
    sign_keyring_free(kr);
}

static void a_credential_is_valid_through_its_not_after_second(void **state)
{
    (void)state;
    static const struct {
        int64_t not_after_from_now;
        const char *want;
    } cases[] = {
        {-86400, "qr_expired"}, {-1, "qr_expired"}, {0, "ok"}, {1, "ok"}, {86400, "ok"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        static const enum qr_kind kinds[] = {QR_MEMBER, QR_GUIDE, QR_COUPON};
        for (size_t k = 0; k < ARRAY_LEN(kinds); k++) {
            struct qr_code c;
            char text[QR_TEXT_MAX + 1];
            uint32_t na = (uint32_t)(vec.now + cases[i].not_after_from_now);
            EVP_PKEY *dev = kinds[k] == QR_MEMBER ? vec.device : NULL;
            assert_int_equal(qr_issue(kinds[k], "X1", na, vec.issuer, dev, &c), ML_OK);
            if (dev != NULL)
                assert_int_equal(qr_prove(&c, dev, (uint32_t)vec.now, 1), ML_OK);
            assert_int_equal(qr_render(&c, text, sizeof(text)), ML_OK);
            const char *got = check_code(text);
            if (strcmp(got, cases[i].want) != 0)
                fail_msg("%s, not_after now%+lld: want %s, got %s", qr_kind_name(kinds[k]),
                         (long long)cases[i].not_after_from_now, cases[i].want, got);
        }
    }
}

static void the_proof_window_includes_its_edges(void **state)
{
    (void)state;
    static const struct {
        int window;
        int64_t shown_from_now;
        const char *want;
    } cases[] = {
        {60, 0, "ok"},          {60, 60, "ok"},           {60, -60, "ok"},
        {60, 61, "qr_expired"}, {60, -61, "qr_expired"},  {60, -3600, "qr_expired"},
        {0, 0, "ok"},           {0, 1, "qr_expired"},     {0, -1, "qr_expired"},
        {300, -300, "ok"},      {300, 301, "qr_expired"},
    };
    struct qr_code c;
    assert_int_equal(qr_issue(QR_MEMBER, "M1001", 2000000000u, vec.issuer, vec.device, &c), ML_OK);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char text[QR_TEXT_MAX + 1];
        assert_int_equal(
            qr_prove(&c, vec.device, (uint32_t)(vec.now + cases[i].shown_from_now), (uint32_t)i),
            ML_OK);
        assert_int_equal(qr_render(&c, text, sizeof(text)), ML_OK);
        const char *got = check_text(text, strlen(text), vec.kr, vec.now, cases[i].window);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("window %d, shown now%+lld: want %s, got %s", cases[i].window,
                     (long long)cases[i].shown_from_now, cases[i].want, got);
    }
    /* the far ends of the u32 time and int64 now do not overflow */
    assert_int_equal(qr_prove(&c, vec.device, UINT32_MAX, 0), ML_OK);
    struct ml_refusal r = {0, NULL, ""};
    assert_int_equal(qr_verify_proof(&c, INT64_MIN, 60, &r), ML_REFUSED);
    assert_string_equal(r.code, "qr_expired");
    assert_int_equal(qr_verify_proof(&c, INT64_MAX, 60, &r), ML_REFUSED);
    assert_int_equal(qr_verify_proof(&c, (int64_t)UINT32_MAX + 60, 60, &r), ML_OK);
}

static void a_proof_by_another_device_is_a_bad_signature(void **state)
{
    (void)state;
    struct qr_code c;
    char text[QR_TEXT_MAX + 1];
    assert_int_equal(qr_issue(QR_MEMBER, "M1001", 2000000000u, vec.issuer, vec.device, &c), ML_OK);
    /* qr_prove() refuses the wrong key, so splice a proof signed for another
     * credential */
    struct qr_code other;
    assert_int_equal(
        qr_issue(QR_MEMBER, "M1001", 2000000000u, vec.issuer, vec.other_device, &other), ML_OK);
    assert_int_equal(qr_prove(&c, vec.other_device, (uint32_t)vec.now, 1), ML_CONFIG);
    assert_int_equal(qr_prove(&other, vec.other_device, (uint32_t)vec.now, 1), ML_OK);
    assert_int_equal(qr_prove(&c, vec.device, (uint32_t)vec.now, 1), ML_OK);
    memcpy(c.bin + c.cred_len, other.bin + other.cred_len, QR_PROOF_LEN);
    assert_int_equal(qr_render(&c, text, sizeof(text)), ML_OK);
    assert_string_equal(check_code(text), "qr_bad_signature");
    /* r = 0 and s = 0, and all ones (past the group order) */
    for (int fill = 0; fill < 0x100; fill += 0xff) {
        memset(c.bin + c.cred_len + 8, fill, QR_SIG_LEN);
        assert_int_equal(qr_render(&c, text, sizeof(text)), ML_OK);
        assert_string_equal(check_code(text), "qr_bad_signature");
    }
}

static void guide_and_coupon_codes_need_no_proof(void **state)
{
    (void)state;
    struct qr_code c;
    struct ml_refusal r = {0, NULL, ""};
    const char *text = vstr(vector_case("guide_valid"), "text");
    assert_int_equal(qr_parse(text, strlen(text), &c, NULL), ML_OK);
    assert_int_equal(qr_verify_proof(&c, 0, 0, &r), ML_OK);
    /* a member credential that never got a proof */
    assert_int_equal(qr_issue(QR_MEMBER, "M1001", 2000000000u, vec.issuer, vec.device, &c), ML_OK);
    assert_int_equal(qr_verify_proof(&c, vec.now, 60, &r), ML_PARSE);
    assert_string_equal(r.code, "qr_malformed");
}

/* ---- the encoder's refusals ---- */

static void the_encoder_refuses_bad_ids_and_wrong_keys(void **state)
{
    (void)state;
    struct qr_code c;
    memset(&c, 0x5a, sizeof(c));
    static const char *const bad_ids[] = {"",        "M 1",  "M.1",
                                          "M1001\n", "名字", "M0123456789012345678901234567890X"};
    for (size_t i = 0; i < ARRAY_LEN(bad_ids); i++)
        assert_int_equal(qr_issue(QR_GUIDE, bad_ids[i], 1, vec.issuer, NULL, &c), ML_PARSE);
    assert_int_equal(qr_issue(QR_GUIDE, NULL, 1, vec.issuer, NULL, &c), ML_PARSE);
    assert_int_equal(qr_issue((enum qr_kind)9, "G1", 1, vec.issuer, NULL, &c), ML_PARSE);
    assert_int_equal(c.kind, 0x5a5a5a5a); /* not written */

    /* 32 characters is the longest id */
    assert_int_equal(
        qr_issue(QR_GUIDE, "G0123456789012345678901234567890", 1, vec.issuer, NULL, &c), ML_OK);
    /* keys against kinds */
    assert_int_equal(qr_issue(QR_MEMBER, "M1", 1, vec.issuer, NULL, &c), ML_CONFIG);
    assert_int_equal(qr_issue(QR_GUIDE, "G1", 1, vec.issuer, vec.device, &c), ML_CONFIG);
    assert_int_equal(qr_issue(QR_GUIDE, "G1", 1, vec.device, NULL, &c), ML_CONFIG);
    assert_int_equal(qr_issue(QR_MEMBER, "M1", 1, vec.issuer, vec.issuer, &c), ML_CONFIG);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(p384);
    assert_int_equal(qr_issue(QR_MEMBER, "M1", 1, vec.issuer, p384, &c), ML_CONFIG);
    EVP_PKEY_free(p384);

    /* an issuer given only as a public key cannot sign */
    char pub[SIGN_PUB_B64_LEN + 1];
    uint8_t raw[32];
    size_t raw_len = sizeof(raw);
    assert_int_equal(sign_key_public_b64(vec.issuer, pub), ML_OK);
    assert_int_equal(EVP_PKEY_get_raw_public_key(vec.issuer, raw, &raw_len), 1);
    EVP_PKEY *pub_only = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, raw_len);
    assert_int_equal(qr_issue(QR_GUIDE, "G1", 1, pub_only, NULL, &c), ML_CONFIG);
    EVP_PKEY_free(pub_only);

    /* proofs: member codes only, with the credential's own private key */
    assert_int_equal(qr_issue(QR_GUIDE, "G1", 1, vec.issuer, NULL, &c), ML_OK);
    assert_int_equal(qr_prove(&c, vec.device, 1, 1), ML_CONFIG);
    char text[QR_TEXT_MAX + 1];
    assert_int_equal(qr_render(&c, text, 5 + BASE45_ENCODED_LEN(c.len)), ML_LIMIT);
    assert_int_equal(qr_render(&c, text, 5 + BASE45_ENCODED_LEN(c.len) + 1), ML_OK);
    assert_int_equal(qr_issue(QR_MEMBER, "M1", 1, vec.issuer, vec.device, &c), ML_OK);
    assert_int_equal(qr_render(&c, text, sizeof(text)), ML_CONFIG); /* no proof yet */
    assert_int_equal(qr_prove(&c, vec.other_device, 1, 1), ML_CONFIG);
    assert_int_equal(qr_prove(NULL, vec.device, 1, 1), ML_CONFIG);
    EVP_PKEY *dev_pub = NULL;
    {
        /* the device's public half alone */
        unsigned char *der = NULL;
        int n = i2d_PUBKEY(vec.device, &der);
        assert_true(n > 0);
        const unsigned char *p = der;
        dev_pub = d2i_PUBKEY(NULL, &p, n);
        OPENSSL_free(der);
    }
    assert_non_null(dev_pub);
    assert_int_equal(qr_prove(&c, dev_pub, 1, 1), ML_CONFIG);
    EVP_PKEY_free(dev_pub);
    assert_false(c.has_proof);
    assert_int_equal(qr_prove(&c, vec.device, 1, 1), ML_OK);
    assert_int_equal(qr_render(&c, text, sizeof(text)), ML_OK);
}

/* ---- memberlink-hq: wallet and PNG (hq_qr.h) ---- */

struct tmp_dir {
    char path[64];
    char file[128];
};

static int tmp_setup(void **state)
{
    struct tmp_dir *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    snprintf(t->path, sizeof(t->path), "/tmp/qr_test.XXXXXX");
    if (mkdtemp(t->path) == NULL)
        return -1;
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    struct tmp_dir *t = *state;
    static const char *const names[] = {"w.json", "w.json.tmp", "c.png", "c.png.tmp"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        snprintf(t->file, sizeof(t->file), "%s/%s", t->path, names[i]);
        (void)unlink(t->file);
    }
    rmdir(t->path);
    free(t);
    return 0;
}

static const char *tmp_file(struct tmp_dir *t, const char *name)
{
    snprintf(t->file, sizeof(t->file), "%s/%s", t->path, name);
    return t->file;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void a_wallet_counts_up_and_its_codes_verify(void **state)
{
    struct tmp_dir *t = *state;
    char errbuf[256], text1[QR_TEXT_MAX + 1], text2[QR_TEXT_MAX + 1];
    const char *path = tmp_file(t, "w.json");
    EVP_PKEY *device = p256_generate();
    struct qr_code cred;
    assert_int_equal(qr_issue(QR_MEMBER, "M1001", 2000000000u, vec.issuer, device, &cred), ML_OK);
    write_text(path, "old"); /* replaced, mode and all */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(hq_qr_wallet_write(path, &cred, device, 0, errbuf, sizeof(errbuf)), ML_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    uint32_t n1 = 0, n2 = 0;
    uint32_t now = (uint32_t)vec.now;
    assert_int_equal(hq_qr_wallet_show(path, now, text1, &n1, errbuf, sizeof(errbuf)), ML_OK);
    assert_int_equal(hq_qr_wallet_show(path, now, text2, &n2, errbuf, sizeof(errbuf)), ML_OK);
    assert_int_equal(n1, 1);
    assert_int_equal(n2, 2);
    assert_string_not_equal(text1, text2);
    assert_string_equal(check_code(text1), "ok");
    assert_string_equal(check_code(text2), "ok");
    struct qr_code c;
    assert_int_equal(qr_parse(text2, strlen(text2), &c, NULL), ML_OK);
    assert_int_equal(c.counter, 2);
    assert_string_equal(c.id, "M1001");
    /* a stale proof, as member-qr --time makes them for tests */
    assert_int_equal(hq_qr_wallet_show(path, now - 61, text1, NULL, errbuf, sizeof(errbuf)), ML_OK);
    assert_string_equal(check_code(text1), "qr_expired");

    /* a wallet at the end of its counter refuses to show a code */
    assert_int_equal(hq_qr_wallet_write(path, &cred, device, UINT32_MAX, errbuf, sizeof(errbuf)),
                     ML_OK);
    assert_int_equal(hq_qr_wallet_show(path, now, text1, NULL, errbuf, sizeof(errbuf)), ML_CONFIG);
    assert_non_null(strstr(errbuf, "counter"));

    /* a key other than the credential's is refused */
    assert_int_equal(hq_qr_wallet_write(path, &cred, vec.device, 0, errbuf, sizeof(errbuf)),
                     ML_CONFIG);
    EVP_PKEY_free(device);
}

static void a_damaged_wallet_is_refused(void **state)
{
    struct tmp_dir *t = *state;
    char errbuf[256], text[QR_TEXT_MAX + 1];
    const char *path = tmp_file(t, "w.json");
    assert_int_equal(hq_qr_wallet_show(path, 1, text, NULL, errbuf, sizeof(errbuf)), ML_NOENTRY);

    /* a good wallet, then each field spoiled in turn */
    struct qr_code cred;
    assert_int_equal(qr_issue(QR_MEMBER, "M1001", 2000000000u, vec.issuer, vec.device, &cred),
                     ML_OK);
    assert_int_equal(hq_qr_wallet_write(path, &cred, vec.device, 5, errbuf, sizeof(errbuf)), ML_OK);
    size_t len = 0;
    char *good = read_file(path, &len);
    static const struct {
        const char *field, *value;
    } spoil[] = {
        {"member_id", "\"M1002\""}, {"not_after", "2000000001"},
        {"credential", "\"0102\""}, {"credential", "\"zz\""},
        {"device_key", "\"nope\""}, {"counter", "-1"},
        {"counter", "4294967296"},  {"v", "2"},
    };
    for (size_t i = 0; i < ARRAY_LEN(spoil); i++) {
        cJSON *w = cJSON_Parse(good), *v = cJSON_Parse(spoil[i].value);
        assert_non_null(w);
        assert_non_null(v);
        assert_true(cJSON_ReplaceItemInObjectCaseSensitive(w, spoil[i].field, v));
        char *bad = cJSON_Print(w);
        write_text(path, bad);
        ml_err err = hq_qr_wallet_show(path, 1, text, NULL, errbuf, sizeof(errbuf));
        if (err != ML_CONFIG)
            fail_msg("%s = %s: want a config error, got %s", spoil[i].field, spoil[i].value,
                     ml_strerror(err));
        free(bad);
        cJSON_Delete(w);
    }

    /* the device key of another wallet */
    assert_int_equal(qr_issue(QR_MEMBER, "M1001", 2000000000u, vec.issuer, vec.other_device, &cred),
                     ML_OK);
    assert_int_equal(hq_qr_wallet_write(path, &cred, vec.other_device, 5, errbuf, sizeof(errbuf)),
                     ML_OK);
    size_t other_len = 0;
    char *other = read_file(path, &other_len);
    cJSON *w = cJSON_Parse(good), *o = cJSON_Parse(other);
    assert_true(cJSON_ReplaceItemInObjectCaseSensitive(
        w, "device_key", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o, "device_key"), 1)));
    char *mixed = cJSON_Print(w);
    write_text(path, mixed);
    assert_int_equal(hq_qr_wallet_show(path, 1, text, NULL, errbuf, sizeof(errbuf)), ML_CONFIG);
    free(mixed);
    cJSON_Delete(w);
    cJSON_Delete(o);
    free(other);

    write_text(path, "not json");
    assert_int_equal(hq_qr_wallet_show(path, 1, text, NULL, errbuf, sizeof(errbuf)), ML_CONFIG);
    /* a file at the size limit is read (and refused as JSON); one byte more is not read */
    char *big = malloc(HQ_QR_WALLET_MAX + 2);
    assert_non_null(big);
    memset(big, ' ', HQ_QR_WALLET_MAX + 1);
    big[HQ_QR_WALLET_MAX] = '\0';
    write_text(path, big);
    assert_int_equal(hq_qr_wallet_show(path, 1, text, NULL, errbuf, sizeof(errbuf)), ML_CONFIG);
    big[HQ_QR_WALLET_MAX] = ' ';
    big[HQ_QR_WALLET_MAX + 1] = '\0';
    write_text(path, big);
    assert_int_equal(hq_qr_wallet_show(path, 1, text, NULL, errbuf, sizeof(errbuf)), ML_LIMIT);
    free(big);
    free(good);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The PNG: signature, IHDR, one IDAT whose pixels show a quiet zone and a finder pattern,
 * IEND, every CRC right. */
static void the_png_is_a_grayscale_qr_code(void **state)
{
    struct tmp_dir *t = *state;
    char errbuf[256];
    const char *path = tmp_file(t, "c.png");
    const char *text = vstr(vector_case("coupon_valid"), "text");
    assert_int_equal(hq_qr_png_write(text, path, errbuf, sizeof(errbuf)), ML_OK);
    size_t len = 0;
    uint8_t *png = (uint8_t *)read_file(path, &len);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    size_t off = 8;
    uint32_t side = 0;
    uint8_t *pixels = NULL;
    int chunks = 0;
    while (off + 12 <= len) {
        uint32_t n = be32(png + off);
        assert_true(off + 12 + n <= len);
        uLong crc = crc32(crc32(0L, Z_NULL, 0), png + off + 4, n + 4);
        assert_int_equal(be32(png + off + 8 + n), (uint32_t)crc);
        const uint8_t *data = png + off + 8;
        if (memcmp(png + off + 4, "IHDR", 4) == 0) {
            side = be32(data);
            assert_int_equal(be32(data + 4), side);
            assert_int_equal(side % HQ_QR_PNG_SCALE, 0);
            assert_memory_equal(data + 8, "\x08\x00\x00\x00\x00", 5);
        } else if (memcmp(png + off + 4, "IDAT", 4) == 0) {
            uLongf raw_len = (uLongf)(side + 1) * side;
            pixels = malloc(raw_len);
            assert_non_null(pixels);
            assert_int_equal(uncompress(pixels, &raw_len, data, n), Z_OK);
            assert_int_equal(raw_len, (uLongf)(side + 1) * side);
        }
        off += 12 + n;
        chunks++;
    }
    assert_int_equal(off, len);
    assert_int_equal(chunks, 3);
    assert_non_null(pixels);
    /* 21 + 4 (version - 1) modules, and the quiet zone on both sides */
    size_t modules = side / HQ_QR_PNG_SCALE, q = HQ_QR_PNG_BORDER * HQ_QR_PNG_SCALE;
    assert_int_equal((modules - 2 * HQ_QR_PNG_BORDER - 21) % 4, 0);
    size_t row = side + 1;
    assert_int_equal(pixels[0], 0);               /* filter byte */
    assert_int_equal(pixels[1], 0xff);            /* quiet zone */
    assert_int_equal(pixels[q * row + 1 + q], 0); /* the finder pattern's dark corner */
    size_t in = q + HQ_QR_PNG_SCALE;              /* one module in: its light ring */
    assert_int_equal(pixels[in * row + 1 + in], 0xff);
    free(pixels);
    free(png);

    /* lowercase is not QR alphanumeric */
    assert_int_equal(hq_qr_png_write("MLC1:abc", path, errbuf, sizeof(errbuf)), ML_PARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_vector_gives_its_expected_result),
        cmocka_unit_test(the_vector_keys_are_the_documented_ones),
        cmocka_unit_test(the_encoder_reproduces_the_vector_credentials),
        cmocka_unit_test(all_three_kinds_round_trip),
        cmocka_unit_test(every_single_bit_flip_of_a_member_code_is_refused),
        cmocka_unit_test(a_guide_card_bit_flip_is_refused_too),
        cmocka_unit_test(one_byte_short_or_long_is_malformed),
        cmocka_unit_test(text_length_is_limited_to_qr_text_max),
        cmocka_unit_test(prefixes_and_characters_outside_the_rules_are_malformed),
        cmocka_unit_test(refusal_messages_never_quote_the_scanned_text),
        cmocka_unit_test(an_issuer_the_keyring_lacks_is_unknown_key),
        cmocka_unit_test(keyring_refuses_two_keys_with_one_fingerprint),
        cmocka_unit_test(a_credential_is_valid_through_its_not_after_second),
        cmocka_unit_test(the_proof_window_includes_its_edges),
        cmocka_unit_test(a_proof_by_another_device_is_a_bad_signature),
        cmocka_unit_test(guide_and_coupon_codes_need_no_proof),
        cmocka_unit_test(the_encoder_refuses_bad_ids_and_wrong_keys),
        cmocka_unit_test_setup_teardown(a_wallet_counts_up_and_its_codes_verify, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(a_damaged_wallet_is_refused, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(the_png_is_a_grayscale_qr_code, tmp_setup, tmp_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
