/*
 * idem_test: unit tests for idem.h: key validation at its limits, the request fingerprint
 * (checked against vectors computed outside this code base with sha256sum), and the
 * record/lookup cycle against a real store.
 */
#include "testdb.h"

#include "idem.h"

/* ------------------------------------------------------------------------------------ */
/* Keys                                                                                   */

static void key_of_1_to_128_printable_characters_is_valid(void **state)
{
    (void)state;
    char key[IDEM_KEY_MAX + 2];
    memset(key, 'k', sizeof(key));
    key[IDEM_KEY_MAX] = '\0';
    assert_true(idem_key_valid(key)); /* 128 */
    key[IDEM_KEY_MAX] = 'k';
    key[IDEM_KEY_MAX + 1] = '\0';
    assert_false(idem_key_valid(key)); /* 129 */
    assert_true(idem_key_valid("a"));
    assert_true(idem_key_valid("6f1c0c2a-9d3e-4b5f-8a7b-6c5d4e3f2a1b"));
    assert_true(idem_key_valid("!~{}[]:;\"'<>?/\\|`")); /* both ends of printable ASCII */
}

static void empty_or_non_printable_key_is_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",     "with space", " lead",   "trail ",   "tab\there",
        "nl\n", "del\x7f",    "ctl\x01", "\xc3\xa9", /* é in UTF-8 */ "\xff",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        if (idem_key_valid(bad[i]))
            fail_msg("key %zu (\"%s\") accepted", i, bad[i]);
}

/* ------------------------------------------------------------------------------------ */
/* Fingerprints                                                                           */

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void fingerprint_is_sha256_of_method_nul_path_nul_body(void **state)
{
    (void)state;
    uint8_t h[IDEM_HASH_LEN];
    char text[2 * IDEM_HASH_LEN + 1];
    static const char body[] = "{\"items\":[]}";
    /* printf 'POST\0/v1/checkout\0{"items":[]}' | sha256sum */
    idem_fingerprint("POST", "/v1/checkout", body, strlen(body), h);
    hex(h, sizeof(h), text);
    assert_string_equal(text, "818c028dfbe8b3c22c0aca2bf8e93e5c6da7e9589afea641fa94c9372e563c7b");
    /* printf 'GET\0/\0' | sha256sum: an empty body */
    idem_fingerprint("GET", "/", "", 0, h);
    hex(h, sizeof(h), text);
    assert_string_equal(text, "19fb856f52074c83ad846d55cca99520ef8e16fc483079093cc491a6ddc3dae2");
}

struct fp_case {
    const char *method, *path, *body;
    size_t len;
};

/* Pairwise different requests; the last ones differ only in where a boundary falls. */
static const struct fp_case fp_cases[] = {
    {"POST", "/v1/checkout", "{\"a\":1}", 7},
    {"PUT", "/v1/checkout", "{\"a\":1}", 7},
    {"POST", "/v1/checkout/", "{\"a\":1}", 7},
    {"POST", "/v1/checkout", "{\"a\":2}", 7},
    {"POST", "/v1/checkout", "{\"a\":1} ", 8},
    {"POST", "/v1/checkout", "{\"a\":1}", 6}, /* only the first len bytes count */
    {"POST", "/v1/sales/S1/refund", "", 0},
    {"POST", "/v1/sales/S1/refun", "d", 1},
    {"POS", "T/v1/sales/S1/refund", "", 0},
    {"POST", "/v1/x", "a\0b", 3}, /* bytes after a NUL in the body count */
    {"POST", "/v1/x", "a\0c", 3},
};

static void fingerprint_differs_by_method_path_and_body(void **state)
{
    (void)state;
    uint8_t h[ARRAY_LEN(fp_cases)][IDEM_HASH_LEN];
    for (size_t i = 0; i < ARRAY_LEN(fp_cases); i++)
        idem_fingerprint(fp_cases[i].method, fp_cases[i].path, fp_cases[i].body, fp_cases[i].len,
                         h[i]);
    for (size_t i = 0; i < ARRAY_LEN(fp_cases); i++)
        for (size_t j = i + 1; j < ARRAY_LEN(fp_cases); j++)
            if (memcmp(h[i], h[j], IDEM_HASH_LEN) == 0)
                fail_msg("requests %zu and %zu have the same fingerprint", i, j);
    /* And the same request gives the same fingerprint. */
    uint8_t again[IDEM_HASH_LEN];
    idem_fingerprint("POST", "/v1/checkout", "{\"a\":1}", 7, again);
    assert_memory_equal(again, h[0], IDEM_HASH_LEN);
}

/* ------------------------------------------------------------------------------------ */
/* Record and lookup                                                                      */

static void record(struct testdb *t, const char *key, const uint8_t *hash, int status,
                   const char *body)
{
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(idem_record(t->db, key, hash, status, body, testdb_clock), ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);
}

static void lookup_with_the_same_request_returns_the_first_answer(void **state)
{
    struct testdb *t = *state;
    uint8_t h[IDEM_HASH_LEN];
    static const char answer[] = "{\"sale_id\":\"S001-T01-000001\",\"total\":100}";
    idem_fingerprint("POST", "/v1/checkout", "{}", 2, h);
    record(t, "key-1", h, 200, answer);

    int status = -1;
    char *body = NULL;
    struct ml_refusal r = {0};
    assert_int_equal(idem_lookup(t->db, "key-1", h, &status, &body, &r), ML_OK);
    assert_int_equal(status, 200);
    assert_string_equal(body, answer);
    assert_null(r.code);
    free(body);

    /* It survives a restart. */
    testdb_reopen(t);
    body = NULL;
    assert_int_equal(idem_lookup(t->db, "key-1", h, &status, &body, &r), ML_OK);
    assert_string_equal(body, answer);
    free(body);
}

static void lookup_with_a_different_request_is_idempotency_key_reused(void **state)
{
    struct testdb *t = *state;
    uint8_t h1[IDEM_HASH_LEN], h2[IDEM_HASH_LEN];
    idem_fingerprint("POST", "/v1/checkout", "{\"a\":1}", 7, h1);
    idem_fingerprint("POST", "/v1/checkout", "{\"a\":2}", 7, h2);
    record(t, "key-1", h1, 200, "{}");

    int status = -7;
    char *body = NULL;
    struct ml_refusal r = {0};
    assert_int_equal(idem_lookup(t->db, "key-1", h2, &status, &body, &r), ML_REFUSED);
    assert_string_equal(r.code, "idempotency_key_reused");
    assert_int_equal(r.http_status, 422);
    assert_int_equal(status, -7); /* outputs untouched */
    assert_null(body);
}

static void lookup_of_an_unknown_key_is_noentry(void **state)
{
    struct testdb *t = *state;
    uint8_t h[IDEM_HASH_LEN];
    idem_fingerprint("POST", "/v1/checkout", "{}", 2, h);
    int status = -7;
    char *body = NULL;
    struct ml_refusal r = {0};
    assert_int_equal(idem_lookup(t->db, "never", h, &status, &body, &r), ML_NOENTRY);
    assert_int_equal(status, -7);
    assert_null(body);
    assert_null(r.code);

    /* Keys are exact: another key, even a prefix, is not the recorded one. */
    record(t, "key-10", h, 200, "{}");
    assert_int_equal(idem_lookup(t->db, "key-1", h, &status, &body, &r), ML_NOENTRY);
    assert_int_equal(idem_lookup(t->db, "KEY-10", h, &status, &body, &r), ML_NOENTRY);
}

static void answer_recorded_in_a_rolled_back_transaction_is_not_kept(void **state)
{
    struct testdb *t = *state;
    uint8_t h[IDEM_HASH_LEN];
    idem_fingerprint("POST", "/v1/checkout", "{}", 2, h);
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(idem_record(t->db, "key-1", h, 200, "{}", testdb_clock), ML_OK);
    db_rollback(t->db);
    int status = 0;
    char *body = NULL;
    struct ml_refusal r = {0};
    assert_int_equal(idem_lookup(t->db, "key-1", h, &status, &body, &r), ML_NOENTRY);
    /* The key can then be used. */
    record(t, "key-1", h, 200, "{\"ok\":true}");
    assert_int_equal(idem_lookup(t->db, "key-1", h, &status, &body, &r), ML_OK);
    assert_string_equal(body, "{\"ok\":true}");
    free(body);
}

static void a_key_is_recorded_once(void **state)
{
    struct testdb *t = *state;
    uint8_t h[IDEM_HASH_LEN];
    idem_fingerprint("POST", "/v1/checkout", "{}", 2, h);
    record(t, "key-1", h, 200, "{\"first\":1}");
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_not_equal(idem_record(t->db, "key-1", h, 200, "{\"second\":2}", testdb_clock),
                         ML_OK);
    db_rollback(t->db);
    int status = 0;
    char *body = NULL;
    struct ml_refusal r = {0};
    assert_int_equal(idem_lookup(t->db, "key-1", h, &status, &body, &r), ML_OK);
    assert_string_equal(body, "{\"first\":1}");
    free(body);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, testdb_setup, testdb_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_of_1_to_128_printable_characters_is_valid),
        cmocka_unit_test(empty_or_non_printable_key_is_refused),
        cmocka_unit_test(fingerprint_is_sha256_of_method_nul_path_nul_body),
        cmocka_unit_test(fingerprint_differs_by_method_path_and_body),
        T(lookup_with_the_same_request_returns_the_first_answer),
        T(lookup_with_a_different_request_is_idempotency_key_reused),
        T(lookup_of_an_unknown_key_is_noentry),
        T(answer_recorded_in_a_rolled_back_transaction_is_not_kept),
        T(a_key_is_recorded_once),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
