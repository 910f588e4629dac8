/*
 * sign_test: unit tests for canon.h and sign.h: the canonical JSON rules case by case and
 * at their limits; every case of tests/vectors/sign_vectors.json (the bytes HQs must
 * reproduce); every single-bit change to a signature or a body byte failing; the checks of
 * sign_verify() in their documented order; keyring limits; private key files.
 *
 * Tests run from the repository root, where the vector file is read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "canon.h"
#include "ml_err.h"
#include "sign.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define VECTORS_PATH "tests/vectors/sign_vectors.json"
#define VECTORS_MAX (64 * 1024) /* bytes of vector file read at most */
#define TOPIC_A "ml/acme/s/S001/inbox"

/* Loaded once by the group fixture. */
static struct {
    cJSON *root;             /* the vector file */
    EVP_PKEY *key;           /* its private key, from seed_hex */
    const char *kid;         /* its kid */
    int64_t now;             /* its now_ms */
    struct sign_keyring *kr; /* holds only the vector key */
} vec;

/* ---- helpers ---- */

static cJSON *parse(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    if (v == NULL)
        fail_msg("test JSON does not parse: %s", text);
    return v;
}

static const cJSON *vector_case(const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(vec.root, "cases"))
    {
        if (strcmp(cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring, name) == 0)
            return c;
    }
    fail_msg("no vector case %s", name);
    return NULL;
}

/* A copy of the message of vector case `name`; caller frees with cJSON_Delete(). */
static cJSON *vector_message(const char *name)
{
    cJSON *m = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(vector_case(name), "message"), 1);
    assert_non_null(m);
    return m;
}

/* Verifies and returns the refusal code, or "ok"; checks the class matches the code. */
static const char *verify_code(const struct sign_keyring *kr, const char *topic, const cJSON *msg,
                               int64_t now)
{
    struct ml_refusal r = {0, NULL, ""};
    ml_err err = sign_verify(kr, topic, msg, now, &r);
    if (err == ML_OK)
        return "ok";
    assert_non_null(r.code);
    if (strcmp(r.code, "msg_malformed") == 0)
        assert_int_equal(err, ML_PARSE);
    else
        assert_int_equal(err, ML_REFUSED);
    assert_true(r.message[0] != '\0');
    return r.code;
}

static void set_sig_bytes(cJSON *msg, const unsigned char sig[64])
{
    char b64[SIGN_SIG_B64_LEN + 1];
    assert_int_equal(EVP_EncodeBlock((unsigned char *)b64, sig, 64), SIGN_SIG_B64_LEN);
    assert_non_null(cJSON_ReplaceItemInObjectCaseSensitive(msg, "sig", cJSON_CreateString(b64)));
}

static void get_sig_bytes(const cJSON *msg, unsigned char sig[64])
{
    unsigned char raw[66];
    const char *b64 = cJSON_GetObjectItemCaseSensitive(msg, "sig")->valuestring;
    /* EVP_DecodeBlock counts the padding as zero bytes: 88 chars -> 66. */
    assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)b64, SIGN_SIG_B64_LEN), 66);
    memcpy(sig, raw, 64);
}

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

static int group_setup(void **state)
{
    (void)state;
    size_t len;
    char *text = read_file(VECTORS_PATH, &len);
    vec.root = cJSON_ParseWithLength(text, len);
    free(text);
    if (vec.root == NULL)
        return -1;
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(vec.root, "key");
    long seed_len = 0;
    unsigned char *seed = OPENSSL_hexstr2buf(
        cJSON_GetObjectItemCaseSensitive(key, "seed_hex")->valuestring, &seed_len);
    if (seed == NULL || seed_len != 32)
        return -1;
    vec.key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    OPENSSL_free(seed);
    vec.kid = cJSON_GetObjectItemCaseSensitive(key, "kid")->valuestring;
    vec.now = (int64_t)cJSON_GetObjectItemCaseSensitive(vec.root, "now_ms")->valuedouble;
    vec.kr = sign_keyring_new();
    if (vec.key == NULL || vec.kr == NULL ||
        sign_keyring_add(vec.kr, vec.kid,
                         cJSON_GetObjectItemCaseSensitive(key, "public_b64")->valuestring) != ML_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    vec.kr = sign_keyring_free(vec.kr);
    EVP_PKEY_free(vec.key);
    cJSON_Delete(vec.root);
    return 0;
}

/* ---- canonical JSON ---- */

struct canon_case {
    const char *what;
    const char *in;   /* JSON text, parsed with cJSON */
    const char *want; /* canonical text, or NULL: refused */
};

static const struct canon_case canon_cases[] = {
    /* key order */
    {"keys sorted", "{\"b\":1,\"a\":2,\"c\":3}", "{\"a\":2,\"b\":1,\"c\":3}"},
    {"prefix first", "{\"abc\":1,\"ab\":2,\"a\":3,\"\":4}", "{\"\":4,\"a\":3,\"ab\":2,\"abc\":1}"},
    {"uppercase before lowercase (bytes)", "{\"a\":1,\"B\":2,\"_\":3}",
     "{\"B\":2,\"_\":3,\"a\":1}"},
    {"non-ASCII keys by UTF-8 bytes",
     "{\"\xf0\x9f\x98\x80\":5,\"\xef\xbd\xb1\":4,\"\xe7\x8e\x8b\":3,\"\xc3\xa9\":1,\"z\":2}",
     "{\"z\":2,\"\xc3\xa9\":1,\"\xe7\x8e\x8b\":3,\"\xef\xbd\xb1\":4,\"\xf0\x9f\x98\x80\":5}"},
    {"escaped key sorts by its bytes", "{\"b\":1,\"\\u0061\":2}", "{\"a\":2,\"b\":1}"},
    {"nested objects sorted, arrays kept in order",
     "{\"z\":[{\"y\":1,\"x\":2},3,[2,1]],\"a\":{\"d\":{\"c\":0,\"b\":0}}}",
     "{\"a\":{\"d\":{\"b\":0,\"c\":0}},\"z\":[{\"x\":2,\"y\":1},3,[2,1]]}"},
    {"whitespace dropped", " { \"a\" : [ 1 , 2 , { } , [ ] ] ,\n\t\"b\" : \"x y\" } ",
     "{\"a\":[1,2,{},[]],\"b\":\"x y\"}"},
    {"empty containers", "[{},[],\"\"]", "[{},[],\"\"]"},
    {"literals", "[true,false,null]", "[true,false,null]"},
    {"scalar at the top", "\"x\"", "\"x\""},
    {"duplicate key refused", "{\"a\":1,\"a\":2}", NULL},
    {"duplicate key with the same value refused", "{\"a\":1,\"b\":0,\"a\":1}", NULL},
    {"nested duplicate key refused", "{\"x\":[{\"k\":1,\"k\":2}]}", NULL},
    /* strings */
    {"short escapes", "\"\\\"\\\\\\b\\f\\n\\r\\t\"", "\"\\\"\\\\\\b\\f\\n\\r\\t\""},
    {"other controls as lowercase \\u00XX", "\"\\u0001\\u001F\\u000b\\u001e\"",
     "\"\\u0001\\u001f\\u000b\\u001e\""},
    {"escaped specials come out short", "\"\\u0022\\u005c\\u0008\\u000a\"", "\"\\\"\\\\\\b\\n\""},
    {"solidus raw", "\"a\\/b/c\"", "\"a/b/c\""},
    {"DEL raw", "\"\\u007f\"", "\"\x7f\""},
    {"escaped non-ASCII comes out raw", "\"\\u00e9\\u738b\\uD83D\\uDE00\"",
     "\"\xc3\xa9\xe7\x8e\x8b\xf0\x9f\x98\x80\""},
    {"raw non-ASCII stays raw", "\"\xe7\x8e\x8b\xe8\x8a\xb3\"", "\"\xe7\x8e\x8b\xe8\x8a\xb3\""},
    {"escapes in keys", "{\"a\\nb\":1,\"\\u0001\":2}", "{\"\\u0001\":2,\"a\\nb\":1}"},
    {"UTF-8 edges: U+D7FF U+E000 U+FFFF U+10FFFF",
     "\"\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\"",
     "\"\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\""},
    {"invalid UTF-8: 0xff", "\"\xff\"", NULL},
    {"invalid UTF-8: lone continuation", "\"a\x80\"", NULL},
    {"invalid UTF-8: truncated", "\"\xc3\"", NULL},
    {"invalid UTF-8: truncated 3-byte", "\"\xe7\x8e\"", NULL},
    {"invalid UTF-8: overlong 2-byte /", "\"\xc0\xaf\"", NULL},
    {"invalid UTF-8: overlong 3-byte", "\"\xe0\x80\xaf\"", NULL},
    {"invalid UTF-8: overlong 4-byte", "\"\xf0\x80\x80\xaf\"", NULL},
    {"invalid UTF-8: surrogate", "\"\xed\xa0\x80\"", NULL},
    {"invalid UTF-8: above U+10FFFF", "\"\xf4\x90\x80\x80\"", NULL},
    {"invalid UTF-8: 5-byte form", "\"\xf8\x88\x80\x80\x80\"", NULL},
    {"invalid UTF-8 in a key", "{\"\xfe\":1}", NULL},
    {"invalid UTF-8 deep inside", "[1,{\"a\":[\"ok\",\"\xc3\x28\"]}]", NULL},
    /* numbers */
    {"zero", "0", "0"},
    {"minus zero prints 0", "-0", "0"},
    {"negative", "-42", "-42"},
    {"integer written with a fraction", "1.0", "1"},
    {"integer written with an exponent", "1e2", "100"},
    {"2^53", "9007199254740992", "9007199254740992"},
    {"-2^53", "-9007199254740992", "-9007199254740992"},
    {"2^53-1", "9007199254740991", "9007199254740991"},
    /* A double cannot hold 2^53+1: the text arrives here as 2^53 (canon.h says so). The
     * tree-level 2^53+1 test is integer_just_past_2_53_refused. */
    {"text 2^53+1 has become 2^53 in the tree", "9007199254740993", "9007199254740992"},
    {"2^53+2 refused", "9007199254740994", NULL},
    {"-(2^53+2) refused", "-9007199254740994", NULL},
    {"1.5 refused", "1.5", NULL},
    {"-0.5 refused", "-0.5", NULL},
    {"0.1 refused", "[0.1]", NULL},
    {"1e300 refused", "1e300", NULL},
    {"1e400 (infinite) refused", "{\"a\":1e400}", NULL},
    {"fraction deep inside refused", "{\"a\":{\"b\":[1,2,3.25]}}", NULL},
};

static void canon_table_gives_the_expected_text_or_refuses(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(canon_cases); i++) {
        const struct canon_case *k = &canon_cases[i];
        cJSON *v = cJSON_Parse(k->in);
        if (v == NULL)
            fail_msg("%s: input does not parse", k->what);
        char *got = canon_json(v);
        if (k->want == NULL && got != NULL)
            fail_msg("%s: want refused, got %s", k->what, got);
        if (k->want != NULL && (got == NULL || strcmp(got, k->want) != 0))
            fail_msg("%s: want %s, got %s", k->what, k->want, got ? got : "(refused)");
        free(got);
        cJSON_Delete(v);
    }
}

static void integer_just_past_2_53_refused(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *want;
    } cases[] = {
        {9007199254740992.0, "9007199254740992"},
        {-9007199254740992.0, "-9007199254740992"},
        {9007199254740994.0, NULL}, /* the next double above 2^53: 2^53+1 does not exist */
        {-9007199254740994.0, NULL},
        {-0.0, "0"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        cJSON *n = cJSON_CreateNumber(cases[i].d);
        char *got = canon_json(n);
        if (cases[i].want == NULL)
            assert_null(got);
        else
            assert_string_equal(got, cases[i].want);
        free(got);
        cJSON_Delete(n);
    }
    assert_true(nextafter(9007199254740992.0, INFINITY) == 9007199254740994.0);
    cJSON *n = cJSON_CreateNumber(NAN);
    assert_null(canon_json(n));
    cJSON_Delete(n);
    n = cJSON_CreateNumber(INFINITY);
    assert_null(canon_json(n));
    cJSON_Delete(n);
}

/* Text of `levels` nested containers, objects ({"a":...}) or arrays, around `inner`. */
static char *nested(int levels, int objects, const char *inner)
{
    size_t cap = (size_t)levels * 6 + strlen(inner) + 1;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t n = 0;
    for (int i = 0; i < levels; i++) {
        const char *open = objects ? "{\"a\":" : "[";
        memcpy(s + n, open, strlen(open));
        n += strlen(open);
    }
    memcpy(s + n, inner, strlen(inner));
    n += strlen(inner);
    for (int i = 0; i < levels; i++)
        s[n++] = objects ? '}' : ']';
    s[n] = '\0';
    return s;
}

static void depth_16_is_accepted_and_17_refused(void **state)
{
    (void)state;
    static const struct {
        int levels, objects;
        const char *inner;
        int ok;
    } cases[] = {
        {16, 0, "", 1},   {17, 0, "", 0},   {16, 0, "1", 1},  {16, 0, "[]", 0},
        {16, 1, "1", 1},  {17, 1, "1", 0},  {15, 1, "{}", 1}, {16, 1, "{}", 0},
        {15, 0, "{}", 1}, {16, 0, "{}", 0}, {100, 0, "", 0},  {1, 0, "", 1},
    };
    assert_int_equal(CANON_DEPTH_MAX, 16);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *text = nested(cases[i].levels, cases[i].objects, cases[i].inner);
        cJSON *v = parse(text);
        char *got = canon_json(v);
        if (cases[i].ok) {
            if (got == NULL)
                fail_msg("refused: %s", text);
            assert_string_equal(got, text);
        } else if (got != NULL) {
            fail_msg("accepted: %s", text);
        }
        free(got);
        free(text);
        cJSON_Delete(v);
    }
}

static void canon_refuses_trees_json_cannot_express(void **state)
{
    (void)state;
    assert_null(canon_json(NULL));
    cJSON *raw = cJSON_CreateRaw("{\"b\":1}");
    assert_null(canon_json(raw));
    cJSON_Delete(raw);

    /* A member without a key: an item added to an object as if to an array. */
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddItemToArray(obj, cJSON_CreateNumber(1));
    assert_null(canon_json(obj));
    cJSON_Delete(obj);

    cJSON *arr = cJSON_CreateArray();
    cJSON *inv = cJSON_CreateNull();
    inv->type = cJSON_Invalid;
    cJSON_AddItemToArray(arr, inv);
    assert_null(canon_json(arr));
    cJSON_Delete(arr);

    /* References print as what they refer to. */
    cJSON *target = parse("{\"y\":1,\"x\":2}");
    cJSON *holder = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(holder, "r", target);
    char *got = canon_json(holder);
    assert_string_equal(got, "{\"r\":{\"x\":2,\"y\":1}}");
    free(got);
    cJSON_Delete(holder);
    cJSON_Delete(target);
}

static void canon_omit_leaves_out_only_the_top_level_member(void **state)
{
    (void)state;
    cJSON *v = parse("{\"sig\":\"x\",\"b\":{\"sig\":1},\"a\":1}");
    char *got = canon_json_omit(v, "sig");
    assert_string_equal(got, "{\"a\":1,\"b\":{\"sig\":1}}");
    free(got);
    cJSON_Delete(v);

    v = parse("{\"sig\":\"x\",\"a\":1,\"sig\":\"y\"}"); /* a duplicate is still a duplicate */
    assert_null(canon_json_omit(v, "sig"));
    cJSON_Delete(v);

    v = parse("{\"sig\":\"x\"}");
    got = canon_json_omit(v, "sig");
    assert_string_equal(got, "{}");
    free(got);
    cJSON_Delete(v);

    v = parse("{\"sig\":\"\xff\",\"a\":1}"); /* the omitted value is not looked at */
    got = canon_json_omit(v, "sig");
    assert_string_equal(got, "{\"a\":1}");
    free(got);
    cJSON_Delete(v);

    v = parse("[1]");
    assert_null(canon_json_omit(v, "sig"));
    cJSON_Delete(v);
}

/* ---- the vector file ---- */

static void vector_public_key_is_the_seeds(void **state)
{
    (void)state;
    char pub[SIGN_PUB_B64_LEN + 1];
    assert_int_equal(sign_key_public_b64(vec.key, pub), ML_OK);
    assert_string_equal(pub, cJSON_GetObjectItemCaseSensitive(
                                 cJSON_GetObjectItemCaseSensitive(vec.root, "key"), "public_b64")
                                 ->valuestring);
}

static void every_vector_has_its_signing_input_signature_and_outcome(void **state)
{
    (void)state;
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(vec.root, "cases"))
    {
        const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
        const char *topic = cJSON_GetObjectItemCaseSensitive(c, "topic")->valuestring;
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c, "message");
        const char *want_input = cJSON_GetObjectItemCaseSensitive(c, "signing_input")->valuestring;
        const char *expected = cJSON_GetObjectItemCaseSensitive(c, "expected")->valuestring;
        int sig_valid = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "sig_valid"));

        char *input = NULL;
        size_t len = 0;
        assert_int_equal(sign_input(topic, msg, &input, &len), ML_OK);
        if (strcmp(input, want_input) != 0)
            fail_msg("%s: signing input\n got %s\nwant %s", name, input, want_input);
        assert_int_equal(len, strlen(want_input));
        free(input);

        const char *got = verify_code(vec.kr, topic, msg, vec.now);
        if (strcmp(got, expected) != 0)
            fail_msg("%s: want %s, got %s", name, expected, got);

        /* Ed25519 is deterministic: signing again gives the file's signature exactly when
         * the file says it is valid over this input. */
        cJSON *again = cJSON_Duplicate(msg, 1);
        const char *kid = cJSON_GetObjectItemCaseSensitive(msg, "kid")->valuestring;
        assert_int_equal(sign_message(vec.key, kid, topic, again), ML_OK);
        int same = strcmp(cJSON_GetObjectItemCaseSensitive(again, "sig")->valuestring,
                          cJSON_GetObjectItemCaseSensitive(msg, "sig")->valuestring) == 0;
        if (same != sig_valid)
            fail_msg("%s: re-signed signature %s the file's", name,
                     same ? "equals" : "differs from");
        cJSON_Delete(again);
        n++;
    }
    assert_true(n >= 6);
}

static void the_message_text_of_a_vector_verifies_as_received(void **state)
{
    (void)state;
    /* What a store gets off the wire: text, parsed. Key order and whitespace don't matter. */
    static const char text[] =
        "{ \"sig\": \"cKYxW8hXjiGGbL/PC63rDNLEoB//sDAtEyPbFEzF4wslxUaw0LZHIM+CjslZOYZReNYEwJ3mqXVRz"
        "op8MeVgCA==\", \"kid\": \"hq-2026-01\", \"body\": {\"tier\": \"gold\", \"points\": 1200,"
        " \"member_id\": \"M1001\"}, \"expires\": 1767830400000, \"issued\": 1767225000000,"
        " \"version\": 7, \"kind\": \"member.upsert\", \"id\": "
        "\"01936f4e-8c1a-7b3e-9f00-1c2d3e4f5a6b\","
        " \"v\": 1 }";
    cJSON *m = parse(text);
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, vec.now), "ok");
    cJSON_Delete(m);
}

/* ---- single-bit changes ---- */

static void every_single_bit_flip_of_the_signature_is_a_bad_signature(void **state)
{
    (void)state;
    cJSON *m = vector_message("valid_member_upsert");
    unsigned char sig[64];
    get_sig_bytes(m, sig);
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, vec.now), "ok");
    for (int bit = 0; bit < 64 * 8; bit++) {
        sig[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        set_sig_bytes(m, sig);
        const char *got = verify_code(vec.kr, TOPIC_A, m, vec.now);
        if (strcmp(got, "msg_bad_signature") != 0)
            fail_msg("signature bit %d flipped: %s", bit, got);
        sig[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    set_sig_bytes(m, sig);
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, vec.now), "ok");
    cJSON_Delete(m);
}

static void every_single_bit_flip_of_a_body_byte_fails(void **state)
{
    (void)state;
    cJSON *m = vector_message("valid_member_upsert");
    cJSON *body = cJSON_GetObjectItemCaseSensitive(m, "body");
    char *tier = cJSON_GetObjectItemCaseSensitive(body, "tier")->valuestring; /* "gold" */
    for (int bit = 0; bit < 8; bit++) {
        tier[1] = (char)(tier[1] ^ (1 << bit));
        const char *got = verify_code(vec.kr, TOPIC_A, m, vec.now);
        /* 'o' with its top bit set is not UTF-8: malformed before any key is used. */
        const char *want = bit == 7 ? "msg_malformed" : "msg_bad_signature";
        if (strcmp(got, want) != 0)
            fail_msg("body byte bit %d flipped: want %s, got %s", bit, want, got);
        tier[1] = (char)(tier[1] ^ (1 << bit));
    }
    /* Every bit of the body's integer that keeps it exact. */
    cJSON *points = cJSON_GetObjectItemCaseSensitive(body, "points");
    for (int bit = 0; bit < 53; bit++) {
        int64_t v = (int64_t)1200 ^ ((int64_t)1 << bit);
        cJSON_SetNumberValue(points, (double)v);
        const char *got = verify_code(vec.kr, TOPIC_A, m, vec.now);
        if (strcmp(got, "msg_bad_signature") != 0)
            fail_msg("points bit %d flipped: %s", bit, got);
    }
    cJSON_SetNumberValue(points, 1200);
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, vec.now), "ok");
    cJSON_Delete(m);
}

/* Any text a rogue broker makes by flipping one bit is refused unless it is the same message
 * (same signing input), and nothing crashes. */
static void bit_flips_in_the_message_text_never_verify_a_different_message(void **state)
{
    (void)state;
    cJSON *m = vector_message("valid_member_upsert");
    /* cJSON's printer is exact for these numbers (fewer than 16 digits); the text as is
     * verifies. */
    char *text = cJSON_PrintUnformatted(m);
    char *orig_input = NULL;
    size_t orig_len = 0, len = strlen(text);
    assert_int_equal(sign_input(TOPIC_A, m, &orig_input, &orig_len), ML_OK);
    cJSON *same = parse(text);
    assert_string_equal(verify_code(vec.kr, TOPIC_A, same, vec.now), "ok");
    cJSON_Delete(same);
    int accepted = 0;
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            text[i] = (char)(text[i] ^ (1 << bit));
            cJSON *v = cJSON_ParseWithLength(text, len);
            if (v != NULL) {
                struct ml_refusal r = {0, NULL, ""};
                if (sign_verify(vec.kr, TOPIC_A, v, vec.now, &r) == ML_OK) {
                    char *input = NULL;
                    size_t n = 0;
                    assert_int_equal(sign_input(TOPIC_A, v, &input, &n), ML_OK);
                    assert_string_equal(input, orig_input);
                    free(input);
                    accepted++;
                }
                cJSON_Delete(v);
            }
            text[i] = (char)(text[i] ^ (1 << bit));
        }
    }
    (void)accepted; /* e.g. "\n" written as another escape of the same string: allowed */
    free(orig_input);
    free(text);
    cJSON_Delete(m);
}

/* ---- sign_verify: checks and their order ---- */

struct malformed_case {
    const char *what;
    const char *field; /* top-level member to change */
    const char *json;  /* its new value as JSON text; NULL removes it */
    int append;        /* add as a second member of that name */
};

static const struct malformed_case malformed_cases[] = {
    {"v missing", "v", NULL, 0},
    {"v is 2", "v", "2", 0},
    {"v is a string", "v", "\"1\"", 0},
    {"v is 1.5", "v", "1.5", 0},
    {"id missing", "id", NULL, 0},
    {"id empty", "id", "\"\"", 0},
    {"id of 65 bytes", "id",
     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", 0},
    {"id a number", "id", "7", 0},
    {"kind missing", "kind", NULL, 0},
    {"kind empty", "kind", "\"\"", 0},
    {"kind null", "kind", "null", 0},
    {"version missing", "version", NULL, 0},
    {"version 0", "version", "0", 0},
    {"version -1", "version", "-1", 0},
    {"version 1.5", "version", "1.5", 0},
    {"version a string", "version", "\"7\"", 0},
    {"version past 2^53", "version", "9007199254740994", 0},
    {"issued missing", "issued", NULL, 0},
    {"issued a fraction", "issued", "1767225000000.5", 0},
    {"expires missing", "expires", NULL, 0},
    {"expires 1e300", "expires", "1e300", 0},
    {"expires true", "expires", "true", 0},
    {"body missing", "body", NULL, 0},
    {"body an array", "body", "[]", 0},
    {"body a string", "body", "\"{}\"", 0},
    {"kid missing", "kid", NULL, 0},
    {"kid empty", "kid", "\"\"", 0},
    {"kid with a space", "kid", "\"hq 2026\"", 0},
    {"kid of 33 chars", "kid", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", 0},
    {"kid a number", "kid", "1", 0},
    {"sig missing", "sig", NULL, 0},
    {"sig empty", "sig", "\"\"", 0},
    {"sig a number", "sig", "0", 0},
    {"sig of 87 chars", "sig",
     "\"cKYxW8hXjiGGbL/PC63rDNLEoB//sDAtEyPbFEzF4wslxUaw0LZHIM+CjslZOYZReNYEwJ3mqXVRzop8MeVgCA=\"",
     0},
    {"sig of 89 chars", "sig",
     "\"cKYxW8hXjiGGbL/PC63rDNLEoB//"
     "sDAtEyPbFEzF4wslxUaw0LZHIM+CjslZOYZReNYEwJ3mqXVRzop8MeVgCA===\"",
     0},
    {"sig without padding", "sig",
     "\"cKYxW8hXjiGGbL/PC63rDNLEoB//sDAtEyPbFEzF4wslxUaw0LZHIM+CjslZOYZReNYEwJ3mqXVRzop8MeVgCA\"",
     0},
    {"sig with a newline", "sig",
     "\"cKYxW8hXjiGGbL/PC63rDNLEoB//"
     "sDAtEyPbFEzF4wslxUaw0LZHIM+CjslZOYZReNYEwJ3mqXVRzop8MeVgC\\n=\"",
     0},
    {"sig non-canonical last char (unused bits set)", "sig",
     "\"cKYxW8hXjiGGbL/PC63rDNLEoB//sDAtEyPbFEzF4wslxUaw0LZHIM+CjslZOYZReNYEwJ3mqXVRzop8MeVgCB==\"",
     0},
    {"sig url-safe alphabet", "sig",
     "\"cKYxW8hXjiGGbL_PC63rDNLEoB__sDAtEyPbFEzF4wslxUaw0LZHIM-CjslZOYZReNYEwJ3mqXVRzop8MeVgCA==\"",
     0},
    {"sig of 65 bytes", "sig",
     "\"cKYxW8hXjiGGbL/PC63rDNLEoB//sDAtEyPbFEzF4wslxUaw0LZHIM+CjslZOYZReNYEwJ3mqXVRzop8MeVgCAA=\"",
     0},
    {"two sig members", "sig",
     "\"cKYxW8hXjiGGbL/PC63rDNLEoB//sDAtEyPbFEzF4wslxUaw0LZHIM+CjslZOYZReNYEwJ3mqXVRzop8MeVgCA==\"",
     1},
    {"two v members", "v", "1", 1},
    {"two body members", "body", "{}", 1},
    {"duplicate key inside body", "body", "{\"a\":1,\"a\":1}", 0},
    {"fraction inside body", "body", "{\"amount\":12.5}", 0},
    {"invalid UTF-8 inside body", "body", "{\"name\":\"\xe7\x8e\"}", 0},
    {"body nested 17 deep", "body",
     "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{"
     "\"a\":{\"a\":{\"a\":1}}}}}}}}}}}}}}}}",
     0},
    {"invalid UTF-8 in an extra member", "extra", "\"\xff\"", 0},
};

static void malformed_messages_are_refused_before_any_key_is_used(void **state)
{
    (void)state;
    /* An empty keyring: a malformed message must say so, never "unknown key". */
    struct sign_keyring *empty = sign_keyring_new();
    for (size_t i = 0; i < ARRAY_LEN(malformed_cases); i++) {
        const struct malformed_case *k = &malformed_cases[i];
        cJSON *m = vector_message("valid_member_upsert");
        if (k->json == NULL) {
            cJSON_DeleteItemFromObjectCaseSensitive(m, k->field);
        } else {
            cJSON *v = cJSON_Parse(k->json);
            if (v == NULL)
                fail_msg("%s: value does not parse", k->what);
            if (k->append || cJSON_GetObjectItemCaseSensitive(m, k->field) == NULL)
                cJSON_AddItemToObject(m, k->field, v);
            else
                cJSON_ReplaceItemInObjectCaseSensitive(m, k->field, v);
        }
        const char *got = verify_code(vec.kr, TOPIC_A, m, vec.now);
        if (strcmp(got, "msg_malformed") != 0)
            fail_msg("%s: want msg_malformed, got %s", k->what, got);
        assert_string_equal(verify_code(empty, TOPIC_A, m, vec.now), "msg_malformed");
        cJSON_Delete(m);
    }
    sign_keyring_free(empty);
}

static void non_objects_and_bad_topics_are_malformed(void **state)
{
    (void)state;
    cJSON *m = vector_message("valid_member_upsert");
    static const char *const not_objects[] = {"[]", "null", "1", "\"x\"", "{}", "[{\"v\":1}]"};
    for (size_t i = 0; i < ARRAY_LEN(not_objects); i++) {
        cJSON *v = parse(not_objects[i]);
        assert_string_equal(verify_code(vec.kr, TOPIC_A, v, vec.now), "msg_malformed");
        cJSON_Delete(v);
    }
    assert_string_equal(verify_code(vec.kr, TOPIC_A, NULL, vec.now), "msg_malformed");
    assert_string_equal(verify_code(vec.kr, NULL, m, vec.now), "msg_malformed");
    assert_string_equal(verify_code(vec.kr, "", m, vec.now), "msg_malformed");
    assert_string_equal(verify_code(vec.kr, "ml/acme/s/S001/inbox\n", m, vec.now), "msg_malformed");
    char *long_topic = malloc(SIGN_TOPIC_MAX + 2);
    assert_non_null(long_topic);
    memset(long_topic, 'a', SIGN_TOPIC_MAX + 1);
    long_topic[SIGN_TOPIC_MAX + 1] = '\0';
    assert_string_equal(verify_code(vec.kr, long_topic, m, vec.now), "msg_malformed");
    long_topic[SIGN_TOPIC_MAX] = '\0'; /* at the limit: well-formed, wrong topic */
    assert_string_equal(verify_code(vec.kr, long_topic, m, vec.now), "msg_bad_signature");
    free(long_topic);
    /* NULL refusal and NULL keyring are fine. */
    assert_int_equal(sign_verify(vec.kr, TOPIC_A, m, vec.now, NULL), ML_OK);
    assert_int_equal(sign_verify(NULL, TOPIC_A, m, vec.now, NULL), ML_REFUSED);
    assert_string_equal(verify_code(NULL, TOPIC_A, m, vec.now), "msg_unknown_key");
    cJSON_Delete(m);
}

static void checks_run_in_order_unknown_key_then_signature_then_expiry(void **state)
{
    (void)state;
    /* expired and tampered: the signature is checked first */
    cJSON *m = vector_message("expired_at_now");
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, vec.now), "msg_expired");
    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(m, "body"), "x", "y");
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, vec.now), "msg_bad_signature");
    cJSON_Delete(m);
    /* unknown kid and tampered: the key is looked up first */
    m = vector_message("unknown_kid");
    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(m, "body"), "x", "y");
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, vec.now), "msg_unknown_key");
    cJSON_Delete(m);
    /* the kid is signed: swapping it for a known one breaks the signature */
    m = vector_message("unknown_kid");
    cJSON_ReplaceItemInObjectCaseSensitive(m, "kid", cJSON_CreateString(vec.kid));
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, vec.now), "msg_bad_signature");
    cJSON_Delete(m);
}

static void a_message_is_valid_only_while_now_is_before_expires(void **state)
{
    (void)state;
    cJSON *m = vector_message("expired_at_now");
    int64_t expires = (int64_t)cJSON_GetObjectItemCaseSensitive(m, "expires")->valuedouble;
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, expires - 1), "ok");
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, expires), "msg_expired");
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, expires + 1), "msg_expired");
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, INT64_MAX), "msg_expired");
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, INT64_MIN), "ok");
    /* Pushing expiry out after signing breaks the signature. */
    cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "expires"), (double)(expires + 1));
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, expires), "msg_bad_signature");
    cJSON_Delete(m);
}

/* ---- sign_message ---- */

static void sign_message_replaces_kid_and_sig_and_verifies(void **state)
{
    (void)state;
    cJSON *m =
        parse("{\"sig\":\"old\",\"kid\":\"old\",\"v\":1,\"id\":\"m-1\",\"kind\":\"guide.upsert\","
              "\"version\":1,\"issued\":0,\"expires\":9007199254740992,\"body\":{},"
              "\"sig\":\"older\",\"kid\":\"older\"}");
    assert_int_equal(sign_message(vec.key, vec.kid, TOPIC_A, m), ML_OK);
    int kids = 0, sigs = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, m)
    {
        kids += strcmp(c->string, "kid") == 0;
        sigs += strcmp(c->string, "sig") == 0;
    }
    assert_int_equal(kids, 1);
    assert_int_equal(sigs, 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(m, "kid")->valuestring, vec.kid);
    assert_int_equal(strlen(cJSON_GetObjectItemCaseSensitive(m, "sig")->valuestring),
                     SIGN_SIG_B64_LEN);
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, vec.now), "ok");
    assert_string_equal(verify_code(vec.kr, "ml/acme/s/S002/inbox", m, vec.now),
                        "msg_bad_signature");
    /* A fresh key signs too, and verifies once its public key is in the keyring. */
    EVP_PKEY *k2 = sign_key_generate();
    assert_non_null(k2);
    assert_int_equal(sign_message(k2, "hq-2", TOPIC_A, m), ML_OK);
    assert_string_equal(verify_code(vec.kr, TOPIC_A, m, vec.now), "msg_unknown_key");
    struct sign_keyring *kr = sign_keyring_new();
    char pub[SIGN_PUB_B64_LEN + 1];
    assert_int_equal(sign_key_public_b64(k2, pub), ML_OK);
    assert_int_equal(sign_keyring_add(kr, "hq-2", pub), ML_OK);
    assert_string_equal(verify_code(kr, TOPIC_A, m, vec.now), "ok");
    /* another key under the same kid: bad signature */
    assert_int_equal(sign_message(vec.key, "hq-2", TOPIC_A, m), ML_OK);
    assert_string_equal(verify_code(kr, TOPIC_A, m, vec.now), "msg_bad_signature");
    sign_keyring_free(kr);
    EVP_PKEY_free(k2);
    cJSON_Delete(m);
}

static void sign_message_refuses_what_verify_would_refuse(void **state)
{
    (void)state;
    cJSON *m = vector_message("valid_member_upsert");
    assert_int_equal(sign_message(vec.key, "", TOPIC_A, m), ML_CONFIG);
    assert_int_equal(sign_message(vec.key, "bad kid", TOPIC_A, m), ML_CONFIG);
    assert_int_equal(sign_message(vec.key, NULL, TOPIC_A, m), ML_CONFIG);
    assert_int_equal(sign_message(NULL, vec.kid, TOPIC_A, m), ML_CONFIG);
    assert_int_equal(sign_message(vec.key, vec.kid, "a\nb", m), ML_PARSE);
    assert_int_equal(sign_message(vec.key, vec.kid, "", m), ML_PARSE);
    assert_int_equal(sign_message(vec.key, vec.kid, TOPIC_A, NULL), ML_PARSE);

    /* a public-only key and a P-256 key cannot sign */
    char pub[SIGN_PUB_B64_LEN + 1];
    assert_int_equal(sign_key_public_b64(vec.key, pub), ML_OK);
    unsigned char raw[33];
    assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)pub, SIGN_PUB_B64_LEN), 33);
    EVP_PKEY *pub_only = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
    assert_int_equal(sign_message(pub_only, vec.kid, TOPIC_A, m), ML_CONFIG);
    EVP_PKEY_free(pub_only);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);
    assert_int_equal(sign_message(ec, vec.kid, TOPIC_A, m), ML_CONFIG);
    assert_int_equal(sign_key_public_b64(ec, pub), ML_CONFIG);
    EVP_PKEY_free(ec);

    static const char *const bad[] = {
        "{\"v\":2,\"id\":\"a\",\"kind\":\"k\",\"version\":1,\"issued\":0,\"expires\":1,\"body\":{}"
        "}",
        "{\"v\":1,\"id\":\"a\",\"kind\":\"k\",\"version\":0,\"issued\":0,\"expires\":1,\"body\":{}"
        "}",
        "{\"v\":1,\"id\":\"a\",\"kind\":\"k\",\"version\":1,\"issued\":0,\"expires\":1}",
        "{\"v\":1,\"id\":\"a\",\"kind\":\"k\",\"version\":1,\"issued\":0,\"expires\":1,"
        "\"body\":{\"x\":0.5}}",
        "[1]",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        cJSON *b = parse(bad[i]);
        assert_int_equal(sign_message(vec.key, vec.kid, TOPIC_A, b), ML_PARSE);
        assert_null(cJSON_GetObjectItemCaseSensitive(b, "sig"));
        cJSON_Delete(b);
    }
    cJSON_Delete(m);
}

/* ---- keyring ---- */

static void keyring_holds_16_keys_and_refuses_the_17th(void **state)
{
    (void)state;
    char pub[SIGN_PUB_B64_LEN + 1];
    assert_int_equal(sign_key_public_b64(vec.key, pub), ML_OK);
    struct sign_keyring *kr = sign_keyring_new();
    assert_non_null(kr);
    char kid[16];
    for (int i = 0; i < SIGN_KEYS_MAX; i++) {
        snprintf(kid, sizeof(kid), "k%d", i);
        assert_int_equal(sign_keyring_add(kr, kid, pub), ML_OK);
    }
    assert_int_equal(sign_keyring_count(kr), SIGN_KEYS_MAX);
    assert_int_equal(sign_keyring_add(kr, "k16", pub), ML_LIMIT);
    assert_int_equal(sign_keyring_add_spec(kr, "k16=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="),
                     ML_LIMIT);
    assert_int_equal(sign_keyring_count(kr), SIGN_KEYS_MAX);
    /* the last key added still works */
    cJSON *m = vector_message("valid_member_upsert");
    assert_int_equal(sign_message(vec.key, "k15", TOPIC_A, m), ML_OK);
    assert_string_equal(verify_code(kr, TOPIC_A, m, vec.now), "ok");
    cJSON_Delete(m);
    assert_null(sign_keyring_free(kr));
    assert_null(sign_keyring_free(NULL));
    assert_int_equal(sign_keyring_count(NULL), 0);
}

struct key_case {
    const char *what;
    const char *kid;
    const char *pub;
    ml_err want;
};

#define PUB_OK "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

static const struct key_case key_cases[] = {
    {"kid of 32 chars", "abcdefghijklmnopqrstuvwxyz012345", PUB_OK, ML_OK},
    {"kid of every allowed kind", "AZaz09_-", PUB_OK, ML_OK},
    {"kid of 33 chars", "abcdefghijklmnopqrstuvwxyz0123456", PUB_OK, ML_CONFIG},
    {"kid empty", "", PUB_OK, ML_CONFIG},
    {"kid NULL", NULL, PUB_OK, ML_CONFIG},
    {"kid with a dot", "hq.1", PUB_OK, ML_CONFIG},
    {"kid with a space", "hq 1", PUB_OK, ML_CONFIG},
    {"kid with '='", "hq=1", PUB_OK, ML_CONFIG},
    {"kid non-ASCII", "hq\xc3\xa9", PUB_OK, ML_CONFIG},
    {"key NULL", "k", NULL, ML_CONFIG},
    {"key empty", "k", "", ML_CONFIG},
    {"key with a bad character", "k", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUR*=", ML_CONFIG},
    {"key without padding", "k", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo", ML_CONFIG},
    {"key with a trailing newline", "k", PUB_OK "\n", ML_CONFIG},
    {"key with a leading space", "k", " " PUB_OK, ML_CONFIG},
    {"key of 31 bytes", "k", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUQ==", ML_CONFIG},
    {"key of 33 bytes", "k", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURoA", ML_CONFIG},
    {"key of 64 bytes (a signature)", "k",
     "cKYxW8hXjiGGbL/PC63rDNLEoB//sDAtEyPbFEzF4wslxUaw0LZHIM+CjslZOYZReNYEwJ3mqXVRzop8MeVgCA==",
     ML_CONFIG},
    {"key non-canonical (unused bits set)", "k",
     "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURp=", ML_CONFIG},
    {"key url-safe alphabet", "k", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=", ML_CONFIG},
};

static void keyring_checks_kid_and_key_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(key_cases); i++) {
        const struct key_case *k = &key_cases[i];
        struct sign_keyring *kr = sign_keyring_new();
        ml_err got = sign_keyring_add(kr, k->kid, k->pub);
        if (got != k->want)
            fail_msg("%s: want %s, got %s", k->what, ml_strerror(k->want), ml_strerror(got));
        assert_int_equal(sign_keyring_count(kr), k->want == ML_OK ? 1 : 0);
        sign_keyring_free(kr);
    }
    /* a kid only once */
    struct sign_keyring *kr = sign_keyring_new();
    assert_int_equal(sign_keyring_add(kr, "hq", PUB_OK), ML_OK);
    assert_int_equal(sign_keyring_add(kr, "hq", PUB_OK), ML_CONFIG);
    assert_int_equal(sign_keyring_add(kr, "HQ", PUB_OK), ML_OK); /* case-sensitive */
    assert_int_equal(sign_keyring_add(NULL, "x", PUB_OK), ML_CONFIG);
    sign_keyring_free(kr);
}

static void keyring_spec_is_kid_equals_base64(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        ml_err want;
    } cases[] = {
        {"hq-2026-01=" PUB_OK, ML_OK},
        {"abcdefghijklmnopqrstuvwxyz012345=" PUB_OK, ML_OK},
        {"abcdefghijklmnopqrstuvwxyz0123456=" PUB_OK, ML_CONFIG},
        {"=" PUB_OK, ML_CONFIG},
        {PUB_OK, ML_CONFIG}, /* kid "11qY...URo": too long */
        {"hq", ML_CONFIG},
        {"hq=", ML_CONFIG},
        {"", ML_CONFIG},
        {NULL, ML_CONFIG},
        {"hq = " PUB_OK, ML_CONFIG},
        {"hq==" PUB_OK, ML_CONFIG},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct sign_keyring *kr = sign_keyring_new();
        ml_err got = sign_keyring_add_spec(kr, cases[i].spec);
        if (got != cases[i].want)
            fail_msg("spec %s: want %s, got %s", cases[i].spec ? cases[i].spec : "(null)",
                     ml_strerror(cases[i].want), ml_strerror(got));
        sign_keyring_free(kr);
    }
    /* the spec form gives the same keyring as the two-argument form */
    struct sign_keyring *kr = sign_keyring_new();
    assert_int_equal(sign_keyring_add_spec(kr, "hq-2026-01=" PUB_OK), ML_OK);
    cJSON *m = vector_message("valid_member_upsert");
    assert_string_equal(verify_code(kr, TOPIC_A, m, vec.now), "ok");
    cJSON_Delete(m);
    sign_keyring_free(kr);
}

/* ---- private key files ---- */

struct keydir {
    char dir[64];
    char path[128];
};

static int keydir_setup(void **state)
{
    struct keydir *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/ml-sign-test-XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/hq.key", t->dir);
    *state = t;
    return 0;
}

static int keydir_teardown(void **state)
{
    struct keydir *t = *state;
    static const char *const names[] = {"hq.key", "hq.key.tmp", "big", "junk", "ec.key", "enc.key"};
    char p[160];
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        snprintf(p, sizeof(p), "%s/%s", t->dir, names[i]);
        unlink(p);
    }
    rmdir(t->dir);
    free(t);
    return 0;
}

static void write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void private_key_round_trips_through_a_0600_file(void **state)
{
    struct keydir *t = *state;
    EVP_PKEY *key = sign_key_generate();
    assert_non_null(key);
    /* An existing key file and a leftover temporary file, both with a looser mode, are
     * replaced, and the result is 0600. */
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", t->path);
    write_text(t->path, "old", 3);
    assert_int_equal(chmod(t->path, 0644), 0);
    write_text(tmp, "leftover", 8);
    assert_int_equal(chmod(tmp, 0644), 0);
    assert_int_equal(sign_key_save_private(t->path, key), ML_OK);
    struct stat st;
    assert_int_equal(stat(t->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed into place */

    size_t len;
    char *pem = read_file(t->path, &len);
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----")); /* PKCS#8, unencrypted */
    free(pem);

    EVP_PKEY *loaded = (EVP_PKEY *)0x1;
    assert_int_equal(sign_key_load_private(t->path, &loaded), ML_OK);
    assert_true(EVP_PKEY_eq(key, loaded) == 1);
    char a[SIGN_PUB_B64_LEN + 1], b[SIGN_PUB_B64_LEN + 1];
    assert_int_equal(sign_key_public_b64(key, a), ML_OK);
    assert_int_equal(sign_key_public_b64(loaded, b), ML_OK);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), SIGN_PUB_B64_LEN);

    /* the loaded key signs what the original's public key verifies */
    struct sign_keyring *kr = sign_keyring_new();
    assert_int_equal(sign_keyring_add(kr, "hq-file", a), ML_OK);
    cJSON *m = vector_message("valid_member_upsert");
    assert_int_equal(sign_message(loaded, "hq-file", TOPIC_A, m), ML_OK);
    assert_string_equal(verify_code(kr, TOPIC_A, m, vec.now), "ok");
    cJSON_Delete(m);
    sign_keyring_free(kr);

    /* the vector key too, whose bytes are known */
    assert_int_equal(sign_key_save_private(t->path, vec.key), ML_OK);
    EVP_PKEY *v2 = NULL;
    assert_int_equal(sign_key_load_private(t->path, &v2), ML_OK);
    assert_true(EVP_PKEY_eq(vec.key, v2) == 1);
    EVP_PKEY_free(v2);

    EVP_PKEY_free(loaded);
    EVP_PKEY_free(key);
}

static void private_key_files_that_are_not_ed25519_keys_are_refused(void **state)
{
    struct keydir *t = *state;
    char p[160];
    EVP_PKEY *untouched = (EVP_PKEY *)0x1;

    snprintf(p, sizeof(p), "%s/missing", t->dir);
    assert_int_equal(sign_key_load_private(p, &untouched), ML_NOENTRY);

    snprintf(p, sizeof(p), "%s/junk", t->dir);
    write_text(p, "not a key\n", 10);
    assert_int_equal(sign_key_load_private(p, &untouched), ML_CONFIG);

    /* past SIGN_KEYFILE_MAX */
    snprintf(p, sizeof(p), "%s/big", t->dir);
    char *big = malloc(SIGN_KEYFILE_MAX + 1);
    assert_non_null(big);
    memset(big, '\n', SIGN_KEYFILE_MAX + 1);
    write_text(p, big, SIGN_KEYFILE_MAX + 1);
    assert_int_equal(sign_key_load_private(p, &untouched), ML_LIMIT);
    free(big);

    /* a P-256 key: wrong type, both ways */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);
    snprintf(p, sizeof(p), "%s/ec.key", t->dir);
    assert_int_equal(sign_key_save_private(p, ec), ML_CONFIG);
    BIO *bio = BIO_new_file(p, "w");
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, ec, NULL, NULL, 0, NULL, NULL), 1);
    BIO_free(bio);
    assert_int_equal(sign_key_load_private(p, &untouched), ML_CONFIG);
    EVP_PKEY_free(ec);

    /* an encrypted Ed25519 key: refused without prompting */
    snprintf(p, sizeof(p), "%s/enc.key", t->dir);
    bio = BIO_new_file(p, "w");
    assert_non_null(bio);
    assert_int_equal(
        PEM_write_bio_PKCS8PrivateKey(bio, vec.key, EVP_aes_256_cbc(), "secret", 6, NULL, NULL), 1);
    BIO_free(bio);
    assert_int_equal(sign_key_load_private(p, &untouched), ML_CONFIG);

    /* nothing to save, nowhere to save */
    assert_int_equal(sign_key_save_private(t->path, NULL), ML_CONFIG);
    snprintf(p, sizeof(p), "%s/no/such/dir/hq.key", t->dir);
    assert_int_equal(sign_key_save_private(p, vec.key), ML_FAILURE);
    char long_path[5000];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    assert_int_equal(sign_key_save_private(long_path, vec.key), ML_LIMIT);

    assert_ptr_equal(untouched, (EVP_PKEY *)0x1); /* never written on failure */
}

int main(void)
{
#define K(f) cmocka_unit_test_setup_teardown(f, keydir_setup, keydir_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(canon_table_gives_the_expected_text_or_refuses),
        cmocka_unit_test(integer_just_past_2_53_refused),
        cmocka_unit_test(depth_16_is_accepted_and_17_refused),
        cmocka_unit_test(canon_refuses_trees_json_cannot_express),
        cmocka_unit_test(canon_omit_leaves_out_only_the_top_level_member),
        cmocka_unit_test(vector_public_key_is_the_seeds),
        cmocka_unit_test(every_vector_has_its_signing_input_signature_and_outcome),
        cmocka_unit_test(the_message_text_of_a_vector_verifies_as_received),
        cmocka_unit_test(every_single_bit_flip_of_the_signature_is_a_bad_signature),
        cmocka_unit_test(every_single_bit_flip_of_a_body_byte_fails),
        cmocka_unit_test(bit_flips_in_the_message_text_never_verify_a_different_message),
        cmocka_unit_test(malformed_messages_are_refused_before_any_key_is_used),
        cmocka_unit_test(non_objects_and_bad_topics_are_malformed),
        cmocka_unit_test(checks_run_in_order_unknown_key_then_signature_then_expiry),
        cmocka_unit_test(a_message_is_valid_only_while_now_is_before_expires),
        cmocka_unit_test(sign_message_replaces_kid_and_sig_and_verifies),
        cmocka_unit_test(sign_message_refuses_what_verify_would_refuse),
        cmocka_unit_test(keyring_holds_16_keys_and_refuses_the_17th),
        cmocka_unit_test(keyring_checks_kid_and_key_text),
        cmocka_unit_test(keyring_spec_is_kid_equals_base64),
        K(private_key_round_trips_through_a_0600_file),
        K(private_key_files_that_are_not_ed25519_keys_are_refused),
    };
#undef K
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
