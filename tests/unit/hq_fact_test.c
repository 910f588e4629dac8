/*
 * hq_fact_test: unit tests for what HQ signs and sends to stores: the body checks and
 * phone keying of hq_fact.h, and the signed messages hq_push.h builds and stores.
 *
 * Body checks are table-driven: each kind accepted with its entity, each refusal named by
 * the field it is about. Signed messages are checked as a store checks them: sign_verify()
 * with a keyring holding only HQ's public key, on the topic the message is published on
 * (and refused on any other), canonical text, per-store gapless cursors, version rules.
 * The database is a real HQ database in a fresh temporary directory per test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "canon.h"
#include "hq_fact.h"
#include "topic.h"
#include "hq_push.h"
#include "phone.h"
#include "sign.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z: `issued` of every push */
#define KID "k1"
#define INBOX_S001 "ml/demo/s/S001/inbox"
#define INBOX_S002 "ml/demo/s/S002/inbox"
#define HEX_64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define ID_64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SQL_MAX 1024

/* Table tests report every failing row, then fail once, so one bad row hides no other. */
#define ROW_FAIL(...)                                                                              \
    do {                                                                                           \
        print_error("ERROR: " __VA_ARGS__);                                                        \
        print_error("\n");                                                                         \
        row_failures++;                                                                            \
    } while (0)

static cJSON *json(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    if (v == NULL)
        fail_msg("test JSON does not parse: %s", text);
    return v;
}

/* ---- hq_fact: kinds, topic ids -------------------------------------------------------- */

static void per_store_kinds_are_the_five_inbox_kinds(void **state)
{
    (void)state;
    static const struct {
        const char *kind;
        int want;
    } cases[] = {
        {"member.upsert", 1}, {"guide.upsert", 1},   {"guide.bind", 1},
        {"coupon.grant", 1},  {"coupon.revoke", 1},  {"campaign.upsert", 0},
        {"member.delete", 0}, {"member.upsert ", 0}, {"", 0},
        {"Member.upsert", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        if (fact_per_store(cases[i].kind) != cases[i].want)
            fail_msg("fact_per_store(\"%s\") != %d", cases[i].kind, cases[i].want);
}

static void topic_id_is_1_to_64_of_the_topic_safe_characters(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        int want;
    } cases[] = {
        {"a", 1},   {"points-2026", 1},  {"v1.2_b", 1},
        {ID_64, 1}, {ID_64 "x", 0},      {"", 0},
        {"a/b", 0}, {"a+b", 0},          {"a#", 0},
        {"a b", 0}, {"\xE7\x8E\x8B", 0}, {"$share", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        if (topic_id_valid(cases[i].id, FACT_ID_MAX, 1) != cases[i].want)
            fail_msg("topic_id_valid(\"%s\") != %d", cases[i].id, cases[i].want);
}

/* ---- hq_fact_check ------------------------------------------------------------------- */

#define CAMPAIGN_BODY(id, version_field)                                                           \
    "{\"campaign_id\":\"" id "\"," version_field "\"priority\":0,"                                 \
    "\"valid_from\":1735689600000,\"valid_to\":2051222400000,"                                     \
    "\"stores\":[\"S001\",\"S002\"],\"tiers\":[\"gold\",\"silver\"],"                              \
    "\"points\":{\"earn_per_yuan\":1,\"tier_multiplier_bp\":{\"gold\":15000},"                     \
    "\"redeem_points_per_yuan\":100,\"redeem_max_bp\":5000},"                                      \
    "\"commission\":{\"default_bp\":200,\"categories\":{\"apparel\":500}},"                        \
    "\"coupons\":{\"restore_on_refund\":true}}"
#define GRANT_OF(kind, value, fields)                                                              \
    "{\"coupon_id\":\"C1\",\"kind\":" kind ",\"value\":" value ",\"valid_from\":1,"                \
    "\"valid_to\":2" fields "}"
#define GRANT(fields) GRANT_OF("\"amount_off\"", "2000", fields)

static void check_accepts_each_kind_and_names_its_entity(void **state)
{
    (void)state;
    static const struct {
        const char *kind, *body, *entity;
        int64_t version;
    } cases[] = {
        {"member.upsert", "{\"member_id\":\"M1\"}", "member:M1", 0},
        {"member.upsert",
         "{\"member_id\":\"M1\",\"phone_hmac\":\"" HEX_64 "\",\"phone_masked\":\"138****8000\","
         "\"tier\":\"gold\",\"plan\":\"plus\",\"plan_until\":1893456000000,\"points\":1200,"
         "\"points_version\":3,\"status\":\"blocked\",\"version\":7}",
         "member:M1", 7},
        {"member.upsert", "{\"member_id\":\"" ID_64 "\",\"version\":1125899906842624}",
         "member:" ID_64, INT64_C(1125899906842624)},
        {"guide.upsert", "{\"guide_id\":\"G01\"}", "guide:G01", 0},
        {"guide.upsert",
         "{\"guide_id\":\"G01\",\"name\":\"\xE7\x8E\x8B\xE8\x8A\xB3\",\"store\":\"S001\","
         "\"status\":\"inactive\",\"version\":2}",
         "guide:G01", 2},
        {"guide.bind", "{\"member_id\":\"M1\",\"guide_id\":\"G01\",\"until\":1893427200000}",
         "bind:M1", 0},
        {"guide.bind", "{\"member_id\":\"M1\",\"guide_id\":null,\"version\":4}", "bind:M1", 4},
        {"coupon.grant", GRANT(""), "coupon:C1", 0},
        {"coupon.grant",
         "{\"coupon_id\":\"C1\",\"member_id\":\"M1\",\"campaign_id\":\"points-2026\","
         "\"kind\":\"percent_off\",\"value\":10000,\"max_off\":5000,\"min_spend\":0,"
         "\"valid_from\":1,\"valid_to\":2,\"uses\":1000000,\"offline_ok\":false,"
         "\"categories\":[\"apparel\",\"shoes\"],\"version\":9}",
         "coupon:C1", 9},
        {"coupon.revoke", "{\"coupon_id\":\"C1\"}", "coupon:C1", 0},
        {"campaign.upsert", CAMPAIGN_BODY("points-2026", ""), "campaign:points-2026", 0},
        {"campaign.upsert", CAMPAIGN_BODY("c.1_x-y", "\"version\":3,"), "campaign:c.1_x-y", 3},
    };
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        cJSON *body = json(cases[i].body);
        char entity[HQ_ENTITY_MAX + 1] = "";
        int64_t version = -1;
        struct ml_refusal r = {0};
        ml_err rc = hq_fact_check(cases[i].kind, body, entity, &version, &r);
        if (rc != ML_OK)
            ROW_FAIL("case %zu (%s): %s: %s", i, cases[i].kind, ml_strerror(rc), r.message);
        else if (strcmp(entity, cases[i].entity) != 0 || version != cases[i].version)
            ROW_FAIL("case %zu: entity %s version %lld, want %s %lld", i, entity,
                     (long long)version, cases[i].entity, (long long)cases[i].version);
        cJSON_Delete(body);
    }
    assert_int_equal(row_failures, 0);
}

/* Each refusal is ML_PARSE, code invalid_request, with a message naming what is wrong. */
static void check_refuses_what_a_store_would_refuse_naming_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *kind, *body, *names;
    } cases[] = {
        {"member.delete", "{\"member_id\":\"M1\"}", "member.delete"},
        {"member.upsert", "[]", "object"},
        {"member.upsert", "{}", "member_id"},
        {"member.upsert", "{\"member_id\":\"\"}", "member_id"},
        {"member.upsert", "{\"member_id\":\"" ID_64 "x\"}", "member_id"},
        {"member.upsert", "{\"member_id\":7}", "member_id"},
        {"member.upsert", "{\"member_id\":\"M1\",\"version\":0}", "version"},
        {"member.upsert", "{\"member_id\":\"M1\",\"version\":-1}", "version"},
        {"member.upsert", "{\"member_id\":\"M1\",\"version\":1125899906842625}", "version"},
        {"member.upsert", "{\"member_id\":\"M1\",\"version\":\"7\"}", "version"},
        {"member.upsert", "{\"member_id\":\"M1\",\"version\":1.5}", "version"},
        {"member.upsert", "{\"member_id\":\"M1\",\"status\":\"gone\"}", "status"},
        {"member.upsert", "{\"member_id\":\"M1\",\"phone_hmac\":\"xyz\"}", "phone_hmac"},
        {"member.upsert", "{\"member_id\":\"M1\",\"phone_hmac\":\"" HEX_64 "0\"}", "phone_hmac"},
        {"member.upsert", "{\"member_id\":\"M1\",\"phone\":\"13800138000\"}", "phone"},
        {"member.upsert", "{\"member_id\":\"M1\",\"plan\":\"plus\"}", "plan_until"},
        {"member.upsert", "{\"member_id\":\"M1\",\"points\":-1}", "points"},
        {"member.upsert", "{\"member_id\":\"M1\",\"note\":0.5}", "integer"},
        {"member.upsert", "{\"member_id\":\"M1\",\"note\":9007199254740994}", "integer"},
        {"member.upsert", "{\"member_id\":\"M1\",\"tier\":\"a\",\"tier\":\"b\"}", "twice"},
        {"guide.upsert", "{\"name\":\"x\"}", "guide_id"},
        {"guide.upsert", "{\"guide_id\":\"G1\",\"status\":\"blocked\"}", "status"},
        {"guide.upsert", "{\"guide_id\":\"G1\",\"name\":\"\"}", "name"},
        {"guide.bind", "{\"guide_id\":\"G1\"}", "member_id"},
        {"guide.bind", "{\"member_id\":\"M1\",\"guide_id\":\"G1\"}", "until"},
        {"coupon.grant", GRANT_OF("\"free\"", "2000", ""), "kind"},
        {"coupon.grant", "{\"coupon_id\":\"C1\",\"value\":1,\"valid_from\":1,\"valid_to\":2}",
         "kind"},
        {"coupon.grant", GRANT_OF("\"amount_off\"", "0", ""), "value"},
        {"coupon.grant", GRANT_OF("\"amount_off\"", "100000000001", ""), "value"},
        {"coupon.grant",
         "{\"coupon_id\":\"C1\",\"kind\":\"percent_off\",\"value\":10001,\"valid_from\":1,"
         "\"valid_to\":2}",
         "percent_off"},
        {"coupon.grant",
         "{\"coupon_id\":\"C1\",\"kind\":\"amount_off\",\"value\":1,\"valid_from\":2,"
         "\"valid_to\":2}",
         "valid_to"},
        {"coupon.grant",
         "{\"coupon_id\":\"C1\",\"kind\":\"amount_off\",\"value\":1,\"valid_from\":1}", "valid_to"},
        {"coupon.grant", GRANT(",\"categories\":[]"), "categories"},
        {"coupon.grant", GRANT(",\"categories\":[\"\"]"), "categories"},
        {"coupon.grant", GRANT(",\"categories\":[\"abcdefghijklmnopqrstuvwxyz0123456\"]"),
         "categories"},
        {"coupon.grant", GRANT(",\"categories\":\"apparel\""), "categories"},
        {"coupon.grant", GRANT(",\"uses\":0"), "uses"},
        {"coupon.grant", GRANT(",\"offline_ok\":\"yes\""), "offline_ok"},
        {"coupon.revoke", "{}", "coupon_id"},
        {"campaign.upsert", CAMPAIGN_BODY("a/b", ""), "campaign_id"},
        {"campaign.upsert", CAMPAIGN_BODY("", ""), "campaign_id"},
        {"campaign.upsert", "{\"campaign_id\":\"c1\",\"valid_from\":5,\"valid_to\":5}", "valid_to"},
        {"campaign.upsert", "{\"campaign_id\":\"c1\",\"valid_to\":5}", "valid_from"},
        {"campaign.upsert",
         "{\"campaign_id\":\"c1\",\"valid_from\":1,\"valid_to\":5,\"points\":[]}", "points"},
    };
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        cJSON *body = json(cases[i].body);
        char entity[HQ_ENTITY_MAX + 1] = "";
        int64_t version = -1;
        struct ml_refusal r = {0};
        ml_err rc = hq_fact_check(cases[i].kind, body, entity, &version, &r);
        if (rc != ML_PARSE)
            ROW_FAIL("case %zu (%s %s): %s, want ML_PARSE", i, cases[i].kind, cases[i].body,
                     ml_strerror(rc));
        else if (r.code == NULL || strcmp(r.code, "invalid_request") != 0 ||
                 strstr(r.message, cases[i].names) == NULL)
            ROW_FAIL("case %zu (%s %s): refusal %s \"%s\" does not name %s", i, cases[i].kind,
                     cases[i].body, r.code ? r.code : "(none)", r.message, cases[i].names);
        cJSON_Delete(body);
    }
    assert_int_equal(row_failures, 0);
}

/* ---- hq_fact_key_phone --------------------------------------------------------------- */

static const uint8_t phone_key_bytes[PHONE_KEY_LEN] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};

/* The lowercase hex HMAC a store computes for a normalized number. */
static void expected_hmac(const char *normalized, char out[2 * PHONE_KEY_LEN + 1])
{
    uint8_t mac[PHONE_KEY_LEN];
    phone_key(phone_key_bytes, normalized, mac);
    for (size_t i = 0; i < PHONE_KEY_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static const char *str_of(const cJSON *obj, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(f) ? f->valuestring : NULL;
}

/* A plaintext phone becomes the store's HMAC and mask; the plaintext is gone. */
static void key_phone_replaces_the_number_by_its_hmac_and_mask(void **state)
{
    (void)state;
    static const char *const spellings[] = {"13800138000", "138 0013 8000", "+86 138-0013-8000"};
    char want[2 * PHONE_KEY_LEN + 1];
    expected_hmac("13800138000", want);
    for (size_t i = 0; i < ARRAY_LEN(spellings); i++) {
        char text[256];
        /* Every phone_hmac / phone_masked it came with is replaced, a duplicate too. */
        snprintf(text, sizeof(text),
                 "{\"member_id\":\"M1\",\"phone\":\"%s\",\"phone_hmac\":\"" HEX_64
                 "\",\"phone_masked\":\"x\",\"phone_hmac\":\"" HEX_64 "\",\"phone_masked\":\"y\"}",
                 spellings[i]);
        cJSON *body = json(text);
        struct ml_refusal r = {0};
        if (phone_key_fact(body, phone_key_bytes, &r) != ML_OK)
            fail_msg("%s: %s", spellings[i], r.message);
        assert_null(cJSON_GetObjectItemCaseSensitive(body, "phone"));
        assert_string_equal(str_of(body, "phone_hmac"), want);
        assert_string_equal(str_of(body, "phone_masked"), "138****8000");
        char *out = cJSON_PrintUnformatted(body);
        assert_null(strstr(out, "0013"));
        assert_null(strstr(out, HEX_64));
        assert_null(strstr(out, "\"y\""));
        free(out);
        /* What it leaves is a body the check accepts. */
        char entity[HQ_ENTITY_MAX + 1];
        int64_t version = 0;
        assert_int_equal(hq_fact_check("member.upsert", body, entity, &version, &r), ML_OK);
        cJSON_Delete(body);
    }
}

static void key_phone_refuses_without_key_or_for_a_bad_number(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int with_key;
        ml_err want;
    } cases[] = {
        {"{\"member_id\":\"M1\",\"phone\":\"13800138000\"}", 0, ML_CONFIG},
        {"{\"member_id\":\"M1\",\"phone\":\"12345\"}", 1, ML_PARSE},
        {"{\"member_id\":\"M1\",\"phone\":\"23800138000\"}", 1, ML_PARSE},
        {"{\"member_id\":\"M1\",\"phone\":13800138000}", 1, ML_PARSE},
        {"{\"member_id\":\"M1\",\"phone\":\"\"}", 1, ML_PARSE},
        {"{\"member_id\":\"M1\",\"phone\":\"13800138000\",\"phone\":\"13900139000\"}", 1, ML_PARSE},
    };
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        cJSON *body = json(cases[i].body);
        struct ml_refusal r = {0};
        ml_err rc = phone_key_fact(body, cases[i].with_key ? phone_key_bytes : NULL, &r);
        if (rc != cases[i].want)
            ROW_FAIL("case %zu (%s): %s, want %s", i, cases[i].body, ml_strerror(rc),
                     ml_strerror(cases[i].want));
        else if (strstr(r.message, "phone") == NULL)
            ROW_FAIL("case %zu: message \"%s\" does not name phone", i, r.message);
        cJSON_Delete(body);
    }
    assert_int_equal(row_failures, 0);
}

static void key_phone_leaves_a_body_without_phone_alone(void **state)
{
    (void)state;
    const char *text = "{\"member_id\":\"M1\",\"phone_hmac\":\"" HEX_64 "\",\"tier\":\"gold\"}";
    cJSON *body = json(text);
    struct ml_refusal r = {0};
    assert_int_equal(phone_key_fact(body, NULL, &r), ML_OK);
    char *out = cJSON_PrintUnformatted(body);
    assert_string_equal(out, text);
    free(out);
    cJSON_Delete(body);
}

/* ---- hq_push: signed messages --------------------------------------------------------- */

struct pfx {
    char dir[64];
    char path[128];
    struct hq_store *st;
    EVP_PKEY *key;
    struct sign_keyring *kr; /* HQ's public key only, as a store holds it */
};

static int push_setup(void **state)
{
    struct pfx *f = calloc(1, sizeof(*f));
    char err[512] = "", pub[SIGN_PUB_B64_LEN + 1];
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ml-hq-push-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/hq.db", f->dir);
    if (hq_store_open(f->path, HQ_STORE_READWRITE, &f->st, err, sizeof(err)) != ML_OK)
        fail_msg("hq_store_open: %s", err);
    f->key = sign_key_generate();
    f->kr = sign_keyring_new();
    assert_non_null(f->key);
    assert_non_null(f->kr);
    assert_int_equal(sign_key_public_b64(f->key, pub), ML_OK);
    assert_int_equal(sign_keyring_add(f->kr, KID, pub), ML_OK);
    *state = f;
    return 0;
}

static int push_teardown(void **state)
{
    struct pfx *f = *state;
    char p[160];
    hq_store_close(f->st);
    EVP_PKEY_free(f->key);
    sign_keyring_free(f->kr);
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < ARRAY_LEN(suffixes); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

static struct hq_push *push_begin(struct pfx *f, int64_t now)
{
    struct hq_push *p = NULL;
    assert_int_equal(hq_push_new(f->st, "demo", f->key, KID, now, &p), ML_OK);
    assert_int_equal(hq_push_begin(p), ML_OK);
    return p;
}

/* Prepares `body_text` as `kind` and sends it to each store of the NULL-terminated list. */
static void push_to(struct hq_push *p, const char *kind, const char *body_text,
                    const char *const *stores)
{
    cJSON *body = json(body_text);
    struct ml_refusal r = {0};
    struct hq_prepared prep;
    if (hq_push_prepare(p, kind, body, NULL, &prep, &r) != ML_OK)
        fail_msg("prepare %s: %s", body_text, r.message);
    for (const char *const *s = stores; *s != NULL; s++)
        if (hq_push_to_store(p, *s, body, &prep, &r) != ML_OK)
            fail_msg("to_store %s %s: %s", *s, body_text, r.message);
    cJSON_Delete(body);
}

static int64_t p_i64(struct pfx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t p_i64(struct pfx *f, const char *fmt, ...)
{
    char sql[SQL_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(sql));
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db_sqlite(hq_store_conn(f->st)), sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("prepare: %s: %s", hq_store_errmsg(f->st), sql);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        fail_msg("no row: %s", sql);
    }
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The stored text of message `id` (outgoing or campaign), or NULL. Caller frees. */
static char *stored_text(struct pfx *f, const char *id)
{
    sqlite3_stmt *s = NULL;
    char *out = NULL;
    assert_int_equal(sqlite3_prepare_v2(db_sqlite(hq_store_conn(f->st)),
                                        "SELECT text FROM outgoing WHERE id = ?1 UNION ALL"
                                        " SELECT text FROM outgoing_campaigns WHERE id = ?1",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        out = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
}

static int64_t i64_of(const cJSON *obj, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(f))
        fail_msg("no number '%s'", name);
    return (int64_t)f->valuedouble;
}

/* Verifies text on topic as a store holding keyring kr would; returns the refusal code
 * ("ok" when it verifies). */
static const char *verify_with(const struct sign_keyring *kr, const char *topic, const char *text)
{
    static char code[64];
    cJSON *msg = cJSON_Parse(text);
    struct ml_refusal r = {0};
    if (msg == NULL)
        return "not json";
    ml_err rc = sign_verify(kr, topic, msg, T0, &r);
    snprintf(code, sizeof(code), "%s", rc == ML_OK ? "ok" : r.code ? r.code : "?");
    cJSON_Delete(msg);
    return code;
}

static const char *verify(struct pfx *f, const char *topic, const char *text)
{
    return verify_with(f->kr, topic, text);
}

/* A message text is its own canonical form (what is published is what is signed). */
static void assert_canonical(const char *text)
{
    cJSON *msg = json(text);
    char *canon = canon_json(msg);
    assert_non_null(canon);
    assert_string_equal(canon, text);
    free(canon);
    cJSON_Delete(msg);
}

/* One fact to two stores is two messages, each signed for its own inbox: it verifies there
 * with HQ's public key and nowhere else. */
static void per_store_message_verifies_on_its_own_inbox_only(void **state)
{
    struct pfx *f = *state;
    static const char *const stores[] = {"S001", "S002", NULL};
    struct hq_push *p = push_begin(f, T0);
    push_to(p, "member.upsert", "{\"member_id\":\"M1\",\"tier\":\"gold\",\"version\":7}", stores);
    assert_int_equal(hq_push_commit(p), ML_OK);
    assert_int_equal(hq_push_count(p), 2);

    for (size_t i = 0; i < 2; i++) {
        struct hq_push_msg *m = hq_push_msg(p, i);
        const char *own = i == 0 ? INBOX_S001 : INBOX_S002;
        const char *other = i == 0 ? INBOX_S002 : INBOX_S001;
        assert_non_null(m);
        assert_int_equal(m->skipped, 0);
        assert_int_equal(m->retain, 0);
        assert_string_equal(m->topic, own);
        assert_string_equal(m->store, stores[i]);
        assert_string_equal(m->kind, "member.upsert");
        assert_string_equal(m->entity, "member:M1");
        assert_int_equal(m->version, 7);
        assert_int_equal(m->cursor, 1);
        assert_int_equal(m->len, strlen(m->text));
        assert_canonical(m->text);
        assert_string_equal(verify(f, own, m->text), "ok");
        assert_string_equal(verify(f, other, m->text), "msg_bad_signature");
        assert_string_equal(verify(f, "ml/demo/hq/campaign/M1", m->text), "msg_bad_signature");

        cJSON *msg = json(m->text);
        assert_int_equal(i64_of(msg, "v"), 1);
        assert_string_equal(str_of(msg, "id"), m->id);
        assert_string_equal(str_of(msg, "kind"), "member.upsert");
        assert_int_equal(i64_of(msg, "version"), 7);
        assert_int_equal(i64_of(msg, "issued"), T0);
        assert_int_equal(i64_of(msg, "expires"), T0 + HQ_MSG_TTL_MS);
        assert_string_equal(str_of(msg, "store"), stores[i]);
        assert_int_equal(i64_of(msg, "cursor"), 1);
        assert_string_equal(str_of(msg, "kid"), KID);
        char *body = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(msg, "body"));
        assert_string_equal(body, "{\"member_id\":\"M1\",\"tier\":\"gold\",\"version\":7}");
        free(body);
        cJSON_Delete(msg);

        /* The stored text is the one to publish and to serve on catch-up. */
        char *stored = stored_text(f, m->id);
        assert_non_null(stored);
        assert_string_equal(stored, m->text);
        free(stored);
    }
    assert_string_not_equal(hq_push_msg(p, 0)->id, hq_push_msg(p, 1)->id);

    /* A store holding another key under the same kid refuses it. */
    EVP_PKEY *other = sign_key_generate();
    char pub[SIGN_PUB_B64_LEN + 1];
    struct sign_keyring *kr = sign_keyring_new();
    assert_non_null(other);
    assert_non_null(kr);
    assert_int_equal(sign_key_public_b64(other, pub), ML_OK);
    assert_int_equal(sign_keyring_add(kr, KID, pub), ML_OK);
    assert_string_equal(verify_with(kr, INBOX_S001, hq_push_msg(p, 0)->text), "msg_bad_signature");
    sign_keyring_free(kr);
    EVP_PKEY_free(other);
    hq_push_free(p);
}

/* Cursors are each store's gapless sequence 1, 2, 3..., across pushes; a push that is not
 * committed gives its cursors back. */
static void cursors_are_gapless_per_store_across_pushes(void **state)
{
    struct pfx *f = *state;
    static const char *const s1[] = {"S001", NULL}, *const both[] = {"S001", "S002", NULL},
                             *const s3[] = {"S003", NULL};
    struct hq_push *p = push_begin(f, T0);
    push_to(p, "member.upsert", "{\"member_id\":\"M1\",\"version\":1}", both);
    push_to(p, "guide.upsert", "{\"guide_id\":\"G1\",\"version\":1}", s1);
    push_to(p, "coupon.revoke", "{\"coupon_id\":\"C1\",\"version\":1}", both);
    assert_int_equal(hq_push_commit(p), ML_OK);
    static const struct {
        const char *store;
        int64_t cursor;
    } want[] = {{"S001", 1}, {"S002", 1}, {"S001", 2}, {"S001", 3}, {"S002", 2}};
    assert_int_equal(hq_push_count(p), ARRAY_LEN(want));
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        assert_string_equal(hq_push_msg(p, i)->store, want[i].store);
        assert_int_equal(hq_push_msg(p, i)->cursor, want[i].cursor);
    }
    assert_null(hq_push_msg(p, ARRAY_LEN(want)));
    hq_push_free(p);

    /* Not committed: rolled back when freed, its cursor given back. */
    p = push_begin(f, T0 + 1);
    push_to(p, "member.upsert", "{\"member_id\":\"M2\",\"version\":1}", s1);
    assert_int_equal(hq_push_msg(p, 0)->cursor, 4);
    hq_push_free(p);

    p = push_begin(f, T0 + 2);
    push_to(p, "member.upsert", "{\"member_id\":\"M3\",\"version\":1}", s1);
    push_to(p, "member.upsert", "{\"member_id\":\"M3\",\"version\":1}", s3);
    assert_int_equal(hq_push_commit(p), ML_OK);
    assert_int_equal(hq_push_msg(p, 0)->cursor, 4);
    assert_int_equal(hq_push_msg(p, 1)->cursor, 1);
    hq_push_free(p);

    /* Every store's cursors are exactly 1..n. */
    assert_int_equal(p_i64(f, "SELECT count(*) FROM (SELECT store FROM outgoing GROUP BY store"
                              " HAVING min(cursor) != 1 OR max(cursor) != count(*))"),
                     0);
    assert_int_equal(p_i64(f, "SELECT count(*) FROM outgoing"), 7);
    assert_int_equal(p_i64(f, "SELECT count(*) FROM outgoing WHERE entity = 'member:M2'"), 0);
}

/* A store that already has an entity at this or a newer version would ignore it: skipped,
 * no cursor used. Versions count per store. */
static void same_or_older_version_for_a_store_is_skipped(void **state)
{
    struct pfx *f = *state;
    static const char *const s1[] = {"S001", NULL}, *const s2[] = {"S002", NULL};
    static const struct {
        const char *body;
        const char *const *stores;
        int skipped;
        int64_t cursor;
    } steps[] = {
        {"{\"member_id\":\"M1\",\"version\":5}", s1, 0, 1},
        {"{\"member_id\":\"M1\",\"version\":5}", s1, 1, 0},
        {"{\"member_id\":\"M1\",\"version\":4}", s1, 1, 0},
        {"{\"member_id\":\"M1\",\"version\":5}", s2, 0, 1},
        {"{\"member_id\":\"M1\",\"version\":6}", s1, 0, 2},
        {"{\"member_id\":\"M2\",\"version\":1}", s1, 0, 3},
    };
    for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
        struct hq_push *p = push_begin(f, T0);
        push_to(p, "member.upsert", steps[i].body, steps[i].stores);
        assert_int_equal(hq_push_commit(p), ML_OK);
        struct hq_push_msg *m = hq_push_msg(p, 0);
        if (m->skipped != steps[i].skipped || (!m->skipped && m->cursor != steps[i].cursor))
            fail_msg("step %zu (%s to %s): skipped %d cursor %lld, want %d %lld", i, steps[i].body,
                     steps[i].stores[0], m->skipped, (long long)m->cursor, steps[i].skipped,
                     (long long)steps[i].cursor);
        if (m->skipped)
            assert_null(m->text);
        hq_push_free(p);
    }
    assert_int_equal(p_i64(f, "SELECT count(*) FROM outgoing"), 4);
    /* Grants and revokes of a coupon share one version sequence. */
    struct hq_push *p = push_begin(f, T0);
    push_to(p, "coupon.grant", GRANT(",\"version\":3"), s1);
    push_to(p, "coupon.revoke", "{\"coupon_id\":\"C1\",\"version\":3}", s1);
    assert_int_equal(hq_push_msg(p, 0)->skipped, 0);
    assert_int_equal(hq_push_msg(p, 1)->skipped, 1);
    hq_push_free(p);
}

/* A body without a version gets now, or one past the last version sent for its entity. */
static void version_is_assigned_when_the_body_has_none(void **state)
{
    struct pfx *f = *state;
    static const char *const s1[] = {"S001", NULL}, *const s2[] = {"S002", NULL};
    struct hq_push *p = push_begin(f, T0);
    cJSON *body = json("{\"member_id\":\"M1\"}");
    struct ml_refusal r = {0};
    struct hq_prepared prep;
    assert_int_equal(hq_push_prepare(p, "member.upsert", body, NULL, &prep, &r), ML_OK);
    assert_int_equal(i64_of(body, "version"), T0);
    assert_int_equal(prep.version, T0);
    cJSON_Delete(body);
    push_to(p, "member.upsert", "{\"member_id\":\"M2\",\"version\":1767225600100}", s1);
    assert_int_equal(hq_push_commit(p), ML_OK);
    hq_push_free(p);

    /* Later versions sent (to any store) push the assigned one past them. */
    p = push_begin(f, T0 + 10);
    body = json("{\"member_id\":\"M2\"}");
    assert_int_equal(hq_push_prepare(p, "member.upsert", body, NULL, &prep, &r), ML_OK);
    assert_int_equal(i64_of(body, "version"), T0 + 101);
    assert_int_equal(hq_push_to_store(p, "S002", body, &prep, &r), ML_OK);
    assert_int_equal(hq_push_msg(p, 0)->version, T0 + 101);
    cJSON_Delete(body);
    push_to(p, "guide.upsert", "{\"guide_id\":\"G1\"}", s2);
    assert_int_equal(hq_push_msg(p, 1)->version, T0 + 10);
    hq_push_free(p);
}

/* Campaigns go to every store on their own topic: retained, store "*", cursor 0; expires
 * at the later of valid_to and issued + 30 days; only a newer version replaces one. */
static void campaign_message_is_retained_and_verifies_on_its_campaign_topic(void **state)
{
    struct pfx *f = *state;
    const char *topic = "ml/demo/hq/campaign/points-2026";
    struct ml_refusal r = {0};
    struct hq_push *p = push_begin(f, T0);
    cJSON *body = json(CAMPAIGN_BODY("points-2026", "\"version\":3,"));
    assert_int_equal(hq_push_campaign(p, body, &r), ML_OK);
    cJSON_Delete(body);
    assert_int_equal(hq_push_commit(p), ML_OK);
    struct hq_push_msg *m = hq_push_msg(p, 0);
    assert_string_equal(m->topic, topic);
    assert_string_equal(m->store, "*");
    assert_int_equal(m->cursor, 0);
    assert_int_equal(m->retain, 1);
    assert_int_equal(m->version, 3);
    assert_canonical(m->text);
    assert_string_equal(verify(f, topic, m->text), "ok");
    assert_string_equal(verify(f, "ml/demo/hq/campaign/other", m->text), "msg_bad_signature");
    assert_string_equal(verify(f, INBOX_S001, m->text), "msg_bad_signature");
    cJSON *msg = json(m->text);
    assert_string_equal(str_of(msg, "kind"), "campaign.upsert");
    assert_string_equal(str_of(msg, "store"), "*");
    assert_int_equal(i64_of(msg, "cursor"), 0);
    assert_int_equal(i64_of(msg, "expires"), INT64_C(2051222400000)); /* valid_to */
    cJSON_Delete(msg);
    char *stored = stored_text(f, m->id);
    assert_string_equal(stored, m->text);
    free(stored);
    hq_push_free(p);

    /* Same or older version: refused, nothing replaced. */
    static const char *const stale[] = {"\"version\":3,", "\"version\":2,"};
    for (size_t i = 0; i < ARRAY_LEN(stale); i++) {
        char text[1024];
        snprintf(text, sizeof(text), CAMPAIGN_BODY("points-2026", "%s"), stale[i]);
        p = push_begin(f, T0);
        body = json(text);
        memset(&r, 0, sizeof(r));
        assert_int_equal(hq_push_campaign(p, body, &r), ML_REFUSED);
        assert_string_equal(r.code, "version_not_newer");
        assert_int_equal(hq_push_count(p), 0);
        cJSON_Delete(body);
        hq_push_free(p);
    }

    /* Without a version it gets now; valid_to before issued + 30 days: expires then. */
    p = push_begin(f, T0);
    body = json("{\"campaign_id\":\"points-2026\",\"valid_from\":1,\"valid_to\":1767225600001}");
    assert_int_equal(hq_push_campaign(p, body, &r), ML_OK);
    assert_int_equal(i64_of(body, "version"), T0);
    cJSON_Delete(body);
    assert_int_equal(hq_push_commit(p), ML_OK);
    m = hq_push_msg(p, 0);
    msg = json(m->text);
    assert_int_equal(i64_of(msg, "expires"), T0 + HQ_MSG_TTL_MS);
    assert_int_equal(i64_of(msg, "version"), T0);
    cJSON_Delete(msg);
    assert_string_equal(verify(f, topic, m->text), "ok");
    hq_push_free(p);
    assert_int_equal(p_i64(f, "SELECT count(*) FROM outgoing_campaigns"), 1);
    assert_int_equal(p_i64(f, "SELECT version FROM outgoing_campaigns"), T0);
    assert_int_equal(p_i64(f, "SELECT count(*) FROM outgoing"), 0);
}

/* Sends a member with a "note" of n bytes to S001 in a push that is rolled back; returns
 * the result and, on ML_OK, the text length. */
static ml_err push_note(struct pfx *f, size_t n, size_t *ret_len, struct ml_refusal *r)
{
    char *note = malloc(n + 1);
    assert_non_null(note);
    memset(note, 'x', n);
    note[n] = '\0';
    cJSON *body = json("{\"member_id\":\"M1\",\"version\":1}");
    assert_non_null(cJSON_AddStringToObject(body, "note", note));
    free(note);
    struct hq_push *p = push_begin(f, T0);
    struct hq_prepared prep;
    ml_err rc = hq_push_prepare(p, "member.upsert", body, NULL, &prep, r);
    if (rc == ML_OK)
        rc = hq_push_to_store(p, "S001", body, &prep, r);
    if (rc == ML_OK)
        *ret_len = hq_push_msg(p, 0)->len;
    else
        assert_int_equal(hq_push_count(p), 0);
    hq_push_free(p);
    cJSON_Delete(body);
    return rc;
}

/* A signed message text of HQ_MSG_TEXT_MAX bytes is stored; one byte more is refused. */
static void message_text_at_limit_is_stored_one_past_is_refused(void **state)
{
    struct pfx *f = *state;
    struct ml_refusal r = {0};
    size_t len = 0;
    assert_int_equal(push_note(f, 1, &len, &r), ML_OK);
    size_t n_at = 1 + (HQ_MSG_TEXT_MAX - len);
    assert_int_equal(push_note(f, n_at, &len, &r), ML_OK);
    assert_int_equal(len, HQ_MSG_TEXT_MAX);
    assert_int_equal(push_note(f, n_at + 1, &len, &r), ML_LIMIT);
    assert_string_equal(r.code, "message_too_large");
    assert_int_equal(p_i64(f, "SELECT count(*) FROM outgoing"), 0);
}

/* What cannot be sent is refused before anything is stored. */
static void push_refuses_bad_kind_store_or_unprepared_body(void **state)
{
    struct pfx *f = *state;
    struct hq_push *p = push_begin(f, T0);
    struct ml_refusal r = {0};
    cJSON *body = json("{\"member_id\":\"M1\",\"version\":1}");
    cJSON *campaign = json(CAMPAIGN_BODY("c1", ""));
    cJSON *bare = json("{\"member_id\":\"M1\"}");
    struct hq_prepared prep;
    const struct hq_prepared unprepared = {0};
    assert_int_equal(hq_push_prepare(p, "campaign.upsert", campaign, NULL, &prep, &r), ML_PARSE);
    /* What prepare found is what every to_store uses: the body is checked once. */
    assert_int_equal(hq_push_prepare(p, "member.upsert", body, NULL, &prep, &r), ML_OK);
    assert_string_equal(prep.kind, "member.upsert");
    assert_string_equal(prep.entity, "member:M1");
    assert_int_equal(prep.version, 1);
    static const char *const bad_stores[] = {"", "S/1", "*", "+", ID_64};
    for (size_t i = 0; i < ARRAY_LEN(bad_stores); i++)
        if (hq_push_to_store(p, bad_stores[i], body, &prep, &r) != ML_PARSE)
            fail_msg("store \"%s\" accepted", bad_stores[i]);
    assert_int_equal(hq_push_to_store(p, "S001", bare, &unprepared, &r), ML_PARSE);
    /* A plaintext phone without [hq] phone_key configured. */
    cJSON *phone = json("{\"member_id\":\"M1\",\"phone\":\"13800138000\"}");
    assert_int_equal(hq_push_prepare(p, "member.upsert", phone, NULL, &prep, &r), ML_CONFIG);
    assert_int_equal(hq_push_count(p), 0);
    assert_int_equal(hq_push_commit(p), ML_OK);
    hq_push_free(p);
    assert_int_equal(p_i64(f, "SELECT count(*) FROM outgoing"), 0);
    cJSON_Delete(body);
    cJSON_Delete(campaign);
    cJSON_Delete(bare);
    cJSON_Delete(phone);
}

/* With a phone key, what is signed carries the HMAC and the mask, never the number. */
static void pushed_member_carries_the_keyed_phone_not_the_number(void **state)
{
    struct pfx *f = *state;
    struct hq_push *p = push_begin(f, T0);
    struct ml_refusal r = {0};
    cJSON *body = json("{\"member_id\":\"M1\",\"phone\":\"138 0013 8000\",\"version\":2}");
    struct hq_prepared prep;
    assert_int_equal(hq_push_prepare(p, "member.upsert", body, phone_key_bytes, &prep, &r), ML_OK);
    assert_int_equal(hq_push_to_store(p, "S001", body, &prep, &r), ML_OK);
    assert_int_equal(hq_push_commit(p), ML_OK);
    const char *text = hq_push_msg(p, 0)->text;
    char want[2 * PHONE_KEY_LEN + 1];
    expected_hmac("13800138000", want);
    assert_null(strstr(text, "13800138000"));
    assert_null(strstr(text, "0013"));
    assert_non_null(strstr(text, want));
    assert_string_equal(verify(f, INBOX_S001, text), "ok");
    assert_int_equal(p_i64(f, "SELECT count(*) FROM outgoing WHERE text LIKE '%%13800138000%%'"),
                     0);
    cJSON_Delete(body);
    hq_push_free(p);
}

static void topics_are_the_inbox_and_campaign_topics(void **state)
{
    (void)state;
    char buf[TOPIC_MAX];
    topic_inbox(buf, sizeof(buf), "acme", "S042");
    assert_string_equal(buf, "ml/acme/s/S042/inbox");
    topic_campaign(buf, sizeof(buf), "acme", "points-2026");
    assert_string_equal(buf, "ml/acme/hq/campaign/points-2026");
}

int main(void)
{
#define P(name) cmocka_unit_test_setup_teardown(name, push_setup, push_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_store_kinds_are_the_five_inbox_kinds),
        cmocka_unit_test(topic_id_is_1_to_64_of_the_topic_safe_characters),
        cmocka_unit_test(check_accepts_each_kind_and_names_its_entity),
        cmocka_unit_test(check_refuses_what_a_store_would_refuse_naming_the_field),
        cmocka_unit_test(key_phone_replaces_the_number_by_its_hmac_and_mask),
        cmocka_unit_test(key_phone_refuses_without_key_or_for_a_bad_number),
        cmocka_unit_test(key_phone_leaves_a_body_without_phone_alone),
        P(per_store_message_verifies_on_its_own_inbox_only),
        P(cursors_are_gapless_per_store_across_pushes),
        P(same_or_older_version_for_a_store_is_skipped),
        P(version_is_assigned_when_the_body_has_none),
        P(campaign_message_is_retained_and_verifies_on_its_campaign_topic),
        P(message_text_at_limit_is_stored_one_past_is_refused),
        P(push_refuses_bad_kind_store_or_unprepared_body),
        P(pushed_member_carries_the_keyed_phone_not_the_number),
        cmocka_unit_test(topics_are_the_inbox_and_campaign_topics),
    };
#undef P
    return cmocka_run_group_tests_name("hq_fact", tests, NULL, NULL);
}
