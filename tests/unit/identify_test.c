/*
 * identify_test: unit tests for identify.h (POST /v1/identify) against a real SQLite store
 * seeded only through HQ facts, with real codes minted by qr.h's encoder.
 *
 * HQ's signing key and two phones' device keys are made once per run; each test gets a
 * fresh database (testdb.h). Trusted time comes from a trust clock (trust.h) on a fake boot
 * clock, and the terminal's wall clock is set an hour behind it, so a check that read the
 * wall clock where it must read trusted time gives a different answer. Expected answers
 * are written out by hand, never computed by the code under test.
 */
#include "testdb.h"

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "base45.h"
#include "deny.h"
#include "identify.h"
#include "phone.h"
#include "qr.h"
#include "sign.h"
#include "trust.h"

#define SEC INT64_C(1000)
#define TRUSTED_MS TESTDB_T0               /* trusted time once HQ has been heard */
#define WALL_MS (TRUSTED_MS - TESTDB_HOUR) /* the terminal's own clock: an hour slow */
#define NOW_S ((uint32_t)(TRUSTED_MS / SEC))
#define WALL_S ((uint32_t)(WALL_MS / SEC))
#define YEAR_S UINT32_C(31536000)
#define BOOT_ID "5d2c9a7e-1d3f-4c7a-9e55-0dde0f000001"
#define TEXT_BUF (QR_TEXT_MAX + 16) /* a code's text, with room to make it too long */
#define VALID "\"valid_from\":1764633600000,\"valid_to\":1798761600000"
#define ID32 "M0123456789abcdefghijklmnopqrstu" /* a member id of QR_ID_MAX bytes */

/* Made once by the group fixture. */
static struct {
    EVP_PKEY *issuer;        /* HQ's key: the only one in kr */
    EVP_PKEY *other_issuer;  /* a key no keyring here holds */
    EVP_PKEY *device;        /* the member's phone */
    EVP_PKEY *other_device;  /* another phone */
    struct sign_keyring *kr; /* ctx->keys */
} keys;

static int64_t boot_clock;
static struct trust trust_clock;

static int64_t fake_boot_ms(void)
{
    return boot_clock;
}

/* ------------------------------------------------------------------------------------ */
/* Fixtures and seed data.                                                                */

static int keys_setup(void **state)
{
    char b64[SIGN_PUB_B64_LEN + 1];
    (void)state;
    keys.issuer = sign_key_generate();
    keys.other_issuer = sign_key_generate();
    keys.device = EVP_EC_gen("P-256");
    keys.other_device = EVP_EC_gen("P-256");
    keys.kr = sign_keyring_new();
    if (keys.issuer == NULL || keys.other_issuer == NULL || keys.device == NULL ||
        keys.other_device == NULL || keys.kr == NULL)
        return -1;
    if (sign_key_public_b64(keys.issuer, b64) != ML_OK ||
        sign_keyring_add(keys.kr, "hq-2026", b64) != ML_OK)
        return -1;
    return 0;
}

static int keys_teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(keys.issuer);
    EVP_PKEY_free(keys.other_issuer);
    EVP_PKEY_free(keys.device);
    EVP_PKEY_free(keys.other_device);
    keys.kr = sign_keyring_free(keys.kr);
    return 0;
}

/* The hex HMAC of a normalized number under the terminal's phone key, as HQ sends it. */
static void phone_hmac_hex(const struct testdb *t, const char *number, char out[65])
{
    uint8_t key[PHONE_KEY_LEN];
    phone_key(t->cfg.phone_key, number, key);
    for (size_t i = 0; i < sizeof(key); i++)
        snprintf(out + 2 * i, 3, "%02x", key[i]);
}

static void seed_member(struct testdb *t, const char *id, const char *number, const char *status)
{
    char hmac[65];
    char masked[PHONE_MASKED_LEN + 1];
    phone_hmac_hex(t, number, hmac);
    phone_mask(number, masked);
    testdb_factf(t, "member.upsert",
                 "{\"member_id\":\"%s\",\"phone_hmac\":\"%s\",\"phone_masked\":\"%s\","
                 "\"tier\":\"gold\",\"points\":1200,\"points_version\":1,\"status\":\"%s\","
                 "\"version\":1}",
                 id, hmac, masked, status);
}

static void deny(struct testdb *t, const char *subject, const char *id, const char *reason)
{
    testdb_factf(t, "deny.upsert",
                 "{\"subject\":\"%s\",\"id\":\"%s\",\"reason\":\"%s\",\"lifted\":false,"
                 "\"version\":1}",
                 subject, id, reason);
}

/*
 * Members M1001 (active, 138 0013 8000), MBLK (blocked, 139 0013 9000), MDENY (active,
 * 137 0013 7000), ID32; guides G01 (active), G03 (inactive); bearer coupons CPN-20OFF,
 * CPN-ELSE, CPN-REV, CPN-GONE, CPN-ENDS (valid to exactly trusted now) and M1001's own
 * CPN-MINE. Nothing is on the deny-list yet.
 */
static void seed(struct testdb *t)
{
    seed_member(t, "M1001", "13800138000", "active");
    seed_member(t, "MBLK", "13900139000", "blocked");
    seed_member(t, "MDENY", "13700137000", "active");
    seed_member(t, ID32, "13600136000", "active");
    testdb_fact(t, "guide.upsert",
                "{\"guide_id\":\"G01\",\"name\":\"Li Na\",\"store\":\"S001\",\"status\":\"active\","
                "\"version\":1}");
    testdb_fact(t, "guide.upsert",
                "{\"guide_id\":\"G03\",\"name\":\"Gone\",\"status\":\"inactive\",\"version\":1}");
    static const char *const bearer[] = {"CPN-20OFF", "CPN-ELSE", "CPN-REV", "CPN-GONE"};
    for (size_t i = 0; i < ARRAY_LEN(bearer); i++)
        testdb_factf(t, "coupon.grant",
                     "{\"coupon_id\":\"%s\",\"kind\":\"amount_off\",\"value\":2000,"
                     "\"min_spend\":10000," VALID ",\"version\":1}",
                     bearer[i]);
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"CPN-ENDS\",\"kind\":\"amount_off\",\"value\":500,"
                "\"valid_from\":1764633600000,\"valid_to\":1767225600000,\"version\":1}");
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"CPN-MINE\",\"member_id\":\"M1001\",\"kind\":\"percent_off\","
                "\"value\":1000," VALID ",\"version\":1}");
}

/* A fresh database at wall clock WALL_MS, HQ's key configured, no trust clock, seeded. */
static int fx_setup(void **state)
{
    int rc = testdb_setup(state);
    struct testdb *t = *state;
    testdb_clock = WALL_MS;
    t->ctx.keys = keys.kr;
    t->ctx.trust = NULL;
    memset(t->cfg.phone_key, 0x5a, sizeof(t->cfg.phone_key));
    t->cfg.has_phone_key = 1;
    memset(&trust_clock, 0, sizeof(trust_clock));
    boot_clock = 500 * SEC;
    seed(t);
    return rc;
}

/* Opens the trust clock on this boot and lets it hear HQ at hq_ms: trusted time is then
 * hq_ms and moves with boot_clock. */
static void hear_hq(struct testdb *t, int64_t hq_ms)
{
    assert_int_equal(trust_open_with(&trust_clock, t->db, fake_boot_ms, BOOT_ID), ML_OK);
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(trust_hq_time(&trust_clock, t->db, hq_ms), ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);
    t->ctx.trust = &trust_clock;
}

/* A trust clock that has not heard HQ since boot: no trusted time. */
static void never_heard_hq(struct testdb *t)
{
    assert_int_equal(trust_open_with(&trust_clock, t->db, fake_boot_ms, BOOT_ID), ML_OK);
    t->ctx.trust = &trust_clock;
    struct trust_reading rd;
    trust_read(&trust_clock, &rd);
    assert_false(rd.trusted);
}

static void syncing_terminal(struct testdb *t)
{
    snprintf(t->cfg.mqtt_host, sizeof(t->cfg.mqtt_host), "broker.local");
}

/* ------------------------------------------------------------------------------------ */
/* Minting codes.                                                                         */

static struct qr_code member_cred(const char *id, uint32_t not_after, EVP_PKEY *issuer,
                                  EVP_PKEY *device)
{
    struct qr_code c;
    assert_int_equal(qr_issue(QR_MEMBER, id, not_after, issuer, device, &c), ML_OK);
    return c;
}

static struct qr_code member_code(const char *id, uint32_t not_after, uint32_t time,
                                  uint32_t counter)
{
    struct qr_code c = member_cred(id, not_after, keys.issuer, keys.device);
    assert_int_equal(qr_prove(&c, keys.device, time, counter), ML_OK);
    return c;
}

static struct qr_code card_code(enum qr_kind kind, const char *id, uint32_t not_after,
                                EVP_PKEY *issuer)
{
    struct qr_code c;
    assert_int_equal(qr_issue(kind, id, not_after, issuer, NULL, &c), ML_OK);
    return c;
}

static void render(const struct qr_code *c, char out[TEXT_BUF])
{
    assert_int_equal(qr_render(c, out, TEXT_BUF), ML_OK);
}

/* M1001's code, valid a year, shown at `time` with `counter`. */
static void m1001_text(uint32_t time, uint32_t counter, char out[TEXT_BUF])
{
    struct qr_code c = member_code("M1001", NOW_S + YEAR_S, time, counter);
    render(&c, out);
}

/* prefix || Base45(bin[0..n)). */
static void encode(const char *prefix, const uint8_t *bin, size_t n, char out[TEXT_BUF])
{
    size_t p = strlen(prefix);
    assert_true(p + BASE45_ENCODED_LEN(n) < TEXT_BUF);
    memcpy(out, prefix, p);
    assert_int_equal(base45_encode(bin, n, out + p, TEXT_BUF - p), ML_OK);
}

/* ------------------------------------------------------------------------------------ */
/* Running identify the way the API does.                                                 */

static ml_err run(struct testdb *t, const cJSON *body, cJSON **ret, struct ml_refusal *r)
{
    memset(r, 0, sizeof(*r));
    *ret = NULL;
    return identify(&t->ctx, body, ret, r);
}

static cJSON *qr_body(const char *text)
{
    cJSON *body = cJSON_CreateObject();
    assert_non_null(body);
    assert_non_null(cJSON_AddStringToObject(body, "qr", text));
    return body;
}

static void check_refusal(ml_err err, const cJSON *ret, const struct ml_refusal *r, ml_err want_err,
                          int want_status, const char *want_code, const char *what)
{
    if (err != want_err || r->code == NULL || strcmp(r->code, want_code) != 0)
        fail_msg("%s: want %s %s, got %s %s (%s)", what, ml_strerror(want_err), want_code,
                 ml_strerror(err), r->code ? r->code : "-", r->message);
    assert_int_equal(r->http_status, want_status);
    assert_null(ret);
}

static cJSON *check_ok(ml_err err, cJSON *ret, const struct ml_refusal *r, const char *what)
{
    if (err != ML_OK)
        fail_msg("%s: refused: %s %s: %s", what, ml_strerror(err), r->code ? r->code : "-",
                 r->message);
    assert_non_null(ret);
    return ret;
}

/* A code that must be accepted; caller deletes the answer. */
static cJSON *qr_ok(struct testdb *t, const char *text)
{
    struct ml_refusal r;
    cJSON *ret = NULL, *body = qr_body(text);
    ml_err err = run(t, body, &ret, &r);
    cJSON_Delete(body);
    return check_ok(err, ret, &r, text);
}

static void qr_refused(struct testdb *t, const char *text, ml_err want_err, int want_status,
                       const char *want_code)
{
    struct ml_refusal r;
    cJSON *ret = NULL, *body = qr_body(text);
    ml_err err = run(t, body, &ret, &r);
    cJSON_Delete(body);
    check_refusal(err, ret, &r, want_err, want_status, want_code, text);
}

static cJSON *body_ok(struct testdb *t, const char *json)
{
    struct ml_refusal r;
    cJSON *ret = NULL, *body = testdb_json(json);
    ml_err err = run(t, body, &ret, &r);
    cJSON_Delete(body);
    return check_ok(err, ret, &r, json);
}

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v))
        fail_msg("'%s' is not a string in the answer", name);
    return v->valuestring;
}

static int jbool(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsBool(v))
        fail_msg("'%s' is not a boolean in the answer", name);
    return cJSON_IsTrue(v);
}

/* The whole answer equals `want` (JSON text). */
static void assert_json_equal(const cJSON *got, const char *want)
{
    cJSON *w = testdb_json(want);
    if (!cJSON_Compare(got, w, 1)) {
        char *g = cJSON_PrintUnformatted(got);
        cJSON_Delete(w);
        fail_msg("answer %s\n  want %s", g ? g : "(unprintable)", want);
    }
    cJSON_Delete(w);
}

static int64_t replay_rows(struct testdb *t)
{
    return testdb_i64(t, "SELECT count(*) FROM qr_replay");
}

/* ------------------------------------------------------------------------------------ */
/* Member codes.                                                                          */

static void member_code_with_trusted_time_answers_the_member_via_qr_clock_trusted(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    m1001_text(NOW_S - 5, 7, text);
    cJSON *m = qr_ok(t, text);
    assert_string_equal(jstr(m, "member_id"), "M1001");
    assert_string_equal(jstr(m, "phone"), "138****8000");
    assert_string_equal(jstr(m, "tier"), "gold");
    assert_string_equal(jstr(m, "via"), "qr");
    assert_true(jbool(m, "clock_trusted"));
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM qr_replay WHERE member_id = 'M1001' "
                                   "AND proof_time = 1767225595 AND counter = 7"),
                     1);
    cJSON_Delete(m);
}

static void member_code_without_trusted_time_is_checked_by_wall_clock_clock_untrusted(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    never_heard_hq(t);
    /* Shown at the wall clock's time, which is an hour before HQ's. */
    m1001_text(WALL_S, 1, text);
    cJSON *m = qr_ok(t, text);
    assert_string_equal(jstr(m, "member_id"), "M1001");
    assert_string_equal(jstr(m, "via"), "qr");
    assert_false(jbool(m, "clock_trusted"));
    cJSON_Delete(m);
    /* Without any trust clock at all, the same. */
    t->ctx.trust = NULL;
    m1001_text(WALL_S, 2, text);
    m = qr_ok(t, text);
    assert_false(jbool(m, "clock_trusted"));
    cJSON_Delete(m);
}

static void same_proof_again_within_the_window_is_qr_replayed(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    m1001_text(NOW_S, 7, text);
    cJSON_Delete(qr_ok(t, text));
    qr_refused(t, text, ML_REFUSED, 409, "qr_replayed");
    /* Still inside the window, at its very edge. */
    boot_clock += 60 * SEC;
    qr_refused(t, text, ML_REFUSED, 409, "qr_replayed");
    assert_int_equal(replay_rows(t), 1);
}

static void same_proof_after_the_window_is_qr_expired_before_the_replay_cache(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    m1001_text(NOW_S, 7, text);
    cJSON_Delete(qr_ok(t, text));
    boot_clock += 61 * SEC;
    /* The proof is still in the replay cache (kept for twice the window)... */
    assert_int_equal(replay_rows(t), 1);
    /* ...yet the window is checked first. */
    qr_refused(t, text, ML_REFUSED, 403, "qr_expired");
}

static void fresh_proof_with_the_next_counter_is_accepted(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    m1001_text(NOW_S, 7, text);
    cJSON_Delete(qr_ok(t, text));
    /* The same second, the next counter: a new proof. */
    m1001_text(NOW_S, 8, text);
    cJSON *m = qr_ok(t, text);
    assert_string_equal(jstr(m, "member_id"), "M1001");
    cJSON_Delete(m);
    assert_int_equal(replay_rows(t), 2);
}

static void replay_cache_survives_closing_and_reopening_the_store(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    m1001_text(NOW_S, 7, text);
    cJSON_Delete(qr_ok(t, text));
    testdb_reopen(t);
    /* The restarted agent restores its trusted clock from the same boot. */
    memset(&trust_clock, 0, sizeof(trust_clock));
    assert_int_equal(trust_open_with(&trust_clock, t->db, fake_boot_ms, BOOT_ID), ML_OK);
    boot_clock += 2 * SEC;
    qr_refused(t, text, ML_REFUSED, 409, "qr_replayed");
}

struct span {
    const char *field;
    size_t from, to;      /* byte offsets [from, to) in the binary */
    const char *codes[2]; /* the refusals a flipped bit there may give */
};

/* The fields of a code of `kind` with an id of n bytes (docs/qr.md, "Binary layout"). */
static size_t layout(enum qr_kind kind, size_t n, struct span out[12])
{
    static const char *const mal[2] = {"qr_malformed", NULL};
    static const char *const key[2] = {"qr_unknown_key", NULL};
    static const char *const sig[2] = {"qr_bad_signature", NULL};
    static const char *const mal_or_sig[2] = {"qr_malformed", "qr_bad_signature"};
    struct {
        const char *field;
        size_t len;
        const char *const *codes;
        int member_only;
    } f[] = {
        {"version", 1, mal, 0},
        {"kid_fp", 4, key, 0},
        {"id_len", 1, mal, 0},
        {"id", n, mal_or_sig, 0},
        {"not_after", 4, sig, 0},
        {"flags", 1, mal, 0},
        {"device_pub", 33, mal_or_sig, 1},
        {"issuer_sig", 64, sig, 0},
        {"time", 4, sig, 1},
        {"counter", 4, sig, 1},
        {"device_sig", 64, sig, 1},
    };
    size_t at = 0, k = 0;
    for (size_t i = 0; i < ARRAY_LEN(f); i++) {
        if (f[i].member_only && kind != QR_MEMBER)
            continue;
        out[k].field = f[i].field;
        out[k].from = at;
        out[k].to = at + f[i].len;
        out[k].codes[0] = f[i].codes[0];
        out[k].codes[1] = f[i].codes[1];
        at += f[i].len;
        k++;
    }
    return k;
}

static void every_single_bit_flip_is_refused_with_the_code_its_field_calls_for(void **state)
{
    struct testdb *t = *state;
    hear_hq(t, TRUSTED_MS);
    struct qr_code codes[] = {
        member_code("M1001", NOW_S + YEAR_S, NOW_S, 7),
        card_code(QR_COUPON, "CPN-20OFF", NOW_S + YEAR_S, keys.issuer),
        card_code(QR_GUIDE, "G01", NOW_S + YEAR_S, keys.issuer),
    };
    static const char *const prefix[] = {[QR_MEMBER] = QR_MEMBER_PREFIX,
                                         [QR_GUIDE] = QR_GUIDE_PREFIX,
                                         [QR_COUPON] = QR_COUPON_PREFIX};
    for (size_t c = 0; c < ARRAY_LEN(codes); c++) {
        const struct qr_code *good = &codes[c];
        struct span spans[12];
        size_t nspans = layout(good->kind, strlen(good->id), spans);
        assert_int_equal(spans[nspans - 1].to, good->len);
        for (size_t s = 0; s < nspans; s++) {
            for (size_t bit = spans[s].from * 8; bit < spans[s].to * 8; bit++) {
                uint8_t bin[QR_BIN_MAX];
                char text[TEXT_BUF];
                struct ml_refusal r;
                cJSON *ret = NULL;
                memcpy(bin, good->bin, good->len);
                bin[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
                encode(prefix[good->kind], bin, good->len, text);
                cJSON *body = qr_body(text);
                ml_err err = run(t, body, &ret, &r);
                cJSON_Delete(body);
                int want_status = 403;
                int matched = 0;
                for (size_t k = 0; k < 2 && spans[s].codes[k] != NULL; k++)
                    if (r.code != NULL && strcmp(r.code, spans[s].codes[k]) == 0)
                        matched = 1;
                if (err == ML_OK || !matched)
                    fail_msg("%s %s, bit %zu (%s byte %zu): got %s %s", qr_kind_name(good->kind),
                             good->id, bit, spans[s].field, bit / 8 - spans[s].from,
                             ml_strerror(err), r.code ? r.code : "(accepted)");
                if (strcmp(r.code, "qr_malformed") == 0) {
                    assert_int_equal(err, ML_PARSE);
                    want_status = 400;
                } else {
                    assert_int_equal(err, ML_REFUSED);
                }
                assert_int_equal(r.http_status, want_status);
                assert_null(ret);
            }
        }
    }
    /* No refused proof reached the replay cache, and the unflipped codes still pass. */
    assert_int_equal(replay_rows(t), 0);
    for (size_t c = 0; c < ARRAY_LEN(codes); c++) {
        char text[TEXT_BUF];
        render(&codes[c], text);
        cJSON_Delete(qr_ok(t, text));
    }
}

enum mangle {
    DROP_LAST_CHAR,
    BIN_ONE_SHORT,
    BIN_ONE_LONG,
    LOWERCASE_BODY,
    LOWERCASE_PREFIX,
    HASH_INSIDE,
    UNDERSCORE_INSIDE,
    NON_ASCII_INSIDE,
    TRAILING_NEWLINE,
    LEADING_SPACE,
    PREFIX_ONLY,
    UNKNOWN_PREFIX,
    MEMBER_AS_GUIDE,
};

struct mangle_case {
    const char *what;
    enum qr_kind kind;
    enum mangle how;
};

/* clang-format off */
static const struct mangle_case mangle_cases[] = {
    {"member code one Base45 character short", QR_MEMBER, DROP_LAST_CHAR},
    {"member code one byte short in binary", QR_MEMBER, BIN_ONE_SHORT},
    {"member code one byte long in binary", QR_MEMBER, BIN_ONE_LONG},
    {"guide card one byte short in binary", QR_GUIDE, BIN_ONE_SHORT},
    {"coupon code one byte long in binary", QR_COUPON, BIN_ONE_LONG},
    {"coupon code one Base45 character short", QR_COUPON, DROP_LAST_CHAR},
    {"member code in lowercase after the prefix", QR_MEMBER, LOWERCASE_BODY},
    {"member code with a lowercase prefix", QR_MEMBER, LOWERCASE_PREFIX},
    {"guide card with a lowercase prefix", QR_GUIDE, LOWERCASE_PREFIX},
    {"member code with '#' for one character", QR_MEMBER, HASH_INSIDE},
    {"coupon code with '_' for one character", QR_COUPON, UNDERSCORE_INSIDE},
    {"member code with a non-ASCII character", QR_MEMBER, NON_ASCII_INSIDE},
    {"member code with a trailing newline", QR_MEMBER, TRAILING_NEWLINE},
    {"guide card with a leading space", QR_GUIDE, LEADING_SPACE},
    {"prefix alone", QR_MEMBER, PREFIX_ONLY},
    {"member code under prefix ML2:", QR_MEMBER, UNKNOWN_PREFIX},
    {"member code under the guide prefix", QR_MEMBER, MEMBER_AS_GUIDE},
};
/* clang-format on */

static void mangle_text(const struct qr_code *c, enum mangle how, char out[TEXT_BUF])
{
    static const char *const prefix[] = {[QR_MEMBER] = QR_MEMBER_PREFIX,
                                         [QR_GUIDE] = QR_GUIDE_PREFIX,
                                         [QR_COUPON] = QR_COUPON_PREFIX};
    const char *pre = prefix[c->kind];
    size_t plen = strlen(pre);
    uint8_t bin[QR_BIN_MAX + 1];
    char good[TEXT_BUF];
    render(c, good);
    size_t len = strlen(good);
    memcpy(out, good, len + 1);
    switch (how) {
    case DROP_LAST_CHAR:
        out[len - 1] = '\0';
        break;
    case BIN_ONE_SHORT:
        encode(pre, c->bin, c->len - 1, out);
        break;
    case BIN_ONE_LONG:
        memcpy(bin, c->bin, c->len);
        bin[c->len] = 0;
        encode(pre, bin, c->len + 1, out);
        break;
    case LOWERCASE_BODY: {
        int changed = 0;
        for (size_t i = plen; i < len; i++)
            if (out[i] >= 'A' && out[i] <= 'Z') {
                out[i] = (char)(out[i] - 'A' + 'a');
                changed = 1;
            }
        assert_true(changed);
        break;
    }
    case LOWERCASE_PREFIX:
        for (size_t i = 0; i < plen; i++)
            if (out[i] >= 'A' && out[i] <= 'Z')
                out[i] = (char)(out[i] - 'A' + 'a');
        break;
    case HASH_INSIDE:
        out[plen + 10] = '#';
        break;
    case UNDERSCORE_INSIDE:
        out[plen + 10] = '_';
        break;
    case NON_ASCII_INSIDE: /* U+00E9 for two characters: the length stays */
        out[plen + 10] = (char)0xc3;
        out[plen + 11] = (char)0xa9;
        break;
    case TRAILING_NEWLINE:
        out[len] = '\n';
        out[len + 1] = '\0';
        break;
    case LEADING_SPACE:
        out[0] = ' ';
        memcpy(out + 1, good, len + 1);
        break;
    case PREFIX_ONLY:
        out[plen] = '\0';
        break;
    case UNKNOWN_PREFIX:
        out[2] = '2';
        break;
    case MEMBER_AS_GUIDE:
        snprintf(out, TEXT_BUF, "%s%s", QR_GUIDE_PREFIX, good + plen);
        break;
    }
}

static void malformed_texts_are_qr_malformed(void **state)
{
    struct testdb *t = *state;
    hear_hq(t, TRUSTED_MS);
    for (size_t i = 0; i < ARRAY_LEN(mangle_cases); i++) {
        const struct mangle_case *mc = &mangle_cases[i];
        struct qr_code c = mc->kind == QR_MEMBER
                               ? member_code("M1001", NOW_S + YEAR_S, NOW_S, (uint32_t)i)
                               : card_code(mc->kind, mc->kind == QR_GUIDE ? "G01" : "CPN-20OFF",
                                           NOW_S + YEAR_S, keys.issuer);
        char text[TEXT_BUF];
        struct ml_refusal r;
        cJSON *ret = NULL;
        mangle_text(&c, mc->how, text);
        cJSON *body = qr_body(text);
        ml_err err = run(t, body, &ret, &r);
        cJSON_Delete(body);
        check_refusal(err, ret, &r, ML_PARSE, 400, "qr_malformed", mc->what);
    }
    assert_int_equal(replay_rows(t), 0);
}

static void text_of_exactly_qr_text_max_is_accepted_and_one_past_is_qr_malformed(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    struct qr_code c = member_code(ID32, NOW_S + YEAR_S, NOW_S, 1);
    render(&c, text);
    assert_int_equal(strlen(text), QR_TEXT_MAX);
    cJSON *m = qr_ok(t, text);
    assert_string_equal(jstr(m, "member_id"), ID32);
    cJSON_Delete(m);
    /* A fresh proof, one Base45 character longer. */
    c = member_code(ID32, NOW_S + YEAR_S, NOW_S, 2);
    render(&c, text);
    size_t len = strlen(text);
    text[len] = '0';
    text[len + 1] = '\0';
    qr_refused(t, text, ML_PARSE, 400, "qr_malformed");
    /* And that proof was not taken: unchanged, it is accepted. */
    text[len] = '\0';
    cJSON_Delete(qr_ok(t, text));
}

static void code_whose_issuer_is_not_in_the_keyring_is_qr_unknown_key(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    struct qr_code c = member_cred("M1001", NOW_S + YEAR_S, keys.other_issuer, keys.device);
    assert_int_equal(qr_prove(&c, keys.device, NOW_S, 1), ML_OK);
    render(&c, text);
    qr_refused(t, text, ML_REFUSED, 403, "qr_unknown_key");
    c = card_code(QR_GUIDE, "G01", NOW_S + YEAR_S, keys.other_issuer);
    render(&c, text);
    qr_refused(t, text, ML_REFUSED, 403, "qr_unknown_key");
    c = card_code(QR_COUPON, "CPN-20OFF", NOW_S + YEAR_S, keys.other_issuer);
    render(&c, text);
    qr_refused(t, text, ML_REFUSED, 403, "qr_unknown_key");
    /* A terminal with no [hq] pubkey knows no key at all. */
    t->ctx.keys = NULL;
    m1001_text(NOW_S, 2, text);
    qr_refused(t, text, ML_REFUSED, 403, "qr_unknown_key");
    assert_int_equal(replay_rows(t), 0);
}

static void
credential_past_not_after_in_trusted_time_is_qr_expired_its_last_second_accepted(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    /* The wall clock, an hour slow, would still find these in date. */
    struct qr_code c = member_code("M1001", NOW_S - 1, NOW_S, 1);
    render(&c, text);
    qr_refused(t, text, ML_REFUSED, 403, "qr_expired");
    c = card_code(QR_GUIDE, "G01", NOW_S - 1, keys.issuer);
    render(&c, text);
    qr_refused(t, text, ML_REFUSED, 403, "qr_expired");
    c = card_code(QR_COUPON, "CPN-20OFF", NOW_S - 1, keys.issuer);
    render(&c, text);
    qr_refused(t, text, ML_REFUSED, 403, "qr_expired");
    assert_int_equal(replay_rows(t), 0);
    c = member_code("M1001", NOW_S, NOW_S, 2);
    render(&c, text);
    cJSON_Delete(qr_ok(t, text));
    c = card_code(QR_GUIDE, "G01", NOW_S, keys.issuer);
    render(&c, text);
    cJSON_Delete(qr_ok(t, text));
}

struct window_case {
    int64_t window_s; /* [qr] time_window_s */
    int64_t offset_s; /* proof time - trusted now */
    const char *want; /* NULL: accepted */
};

/* clang-format off */
static const struct window_case window_cases[] = {
    {60, -60, NULL}, {60, 60, NULL}, {60, -61, "qr_expired"}, {60, 61, "qr_expired"},
    {60, 0, NULL},
    {30, -30, NULL}, {30, 30, NULL}, {30, -31, "qr_expired"}, {30, 31, "qr_expired"},
    {300, -300, NULL}, {300, 301, "qr_expired"},
};
/* clang-format on */

static void proof_time_outside_the_window_is_qr_expired_and_the_edge_is_accepted(void **state)
{
    struct testdb *t = *state;
    hear_hq(t, TRUSTED_MS);
    for (size_t i = 0; i < ARRAY_LEN(window_cases); i++) {
        const struct window_case *w = &window_cases[i];
        char text[TEXT_BUF], what[64];
        struct ml_refusal r;
        cJSON *ret = NULL;
        t->cfg.qr_time_window_s = w->window_s;
        m1001_text((uint32_t)(NOW_S + w->offset_s), (uint32_t)i, text);
        snprintf(what, sizeof(what), "window %lld, proof at now%+lld s", (long long)w->window_s,
                 (long long)w->offset_s);
        cJSON *body = qr_body(text);
        ml_err err = run(t, body, &ret, &r);
        cJSON_Delete(body);
        if (w->want == NULL)
            cJSON_Delete(check_ok(err, ret, &r, what));
        else
            check_refusal(err, ret, &r, ML_REFUSED, 403, w->want, what);
    }
}

static void proof_signed_by_another_phone_is_qr_bad_signature(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    /* M1001's credential with the proof another phone made for its own credential. */
    struct qr_code c = member_cred("M1001", NOW_S + YEAR_S, keys.issuer, keys.device);
    struct qr_code other = member_cred("M1001", NOW_S + YEAR_S, keys.issuer, keys.other_device);
    assert_int_equal(qr_prove(&other, keys.other_device, NOW_S, 1), ML_OK);
    assert_int_equal(c.cred_len, other.cred_len);
    memcpy(c.bin + c.cred_len, other.bin + other.cred_len, other.len - other.cred_len);
    c.len = other.len;
    c.has_proof = 1;
    c.proof_time = other.proof_time;
    c.counter = other.counter;
    render(&c, text);
    qr_refused(t, text, ML_REFUSED, 403, "qr_bad_signature");
    assert_int_equal(replay_rows(t), 0);
}

static void deny_listed_member_is_member_blocked_even_with_a_valid_code(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    m1001_text(NOW_S, 1, text);
    cJSON_Delete(qr_ok(t, text));
    deny(t, "member", "M1001", "blocked");
    m1001_text(NOW_S, 2, text);
    qr_refused(t, text, ML_REFUSED, 403, "member_blocked");
    /* Refused before the replay cache: only the first proof is there. */
    assert_int_equal(replay_rows(t), 1);
}

static void deny_list_is_checked_before_the_device_signature(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    deny(t, "member", "MDENY", "blocked");
    struct qr_code c = member_cred("MDENY", NOW_S + YEAR_S, keys.issuer, keys.device);
    struct qr_code other = member_cred("MDENY", NOW_S + YEAR_S, keys.issuer, keys.other_device);
    assert_int_equal(qr_prove(&other, keys.other_device, NOW_S, 1), ML_OK);
    memcpy(c.bin + c.cred_len, other.bin + other.cred_len, other.len - other.cred_len);
    c.len = other.len;
    c.has_proof = 1;
    render(&c, text);
    qr_refused(t, text, ML_REFUSED, 403, "member_blocked");
}

static void member_blocked_by_member_upsert_is_member_blocked(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    struct qr_code c = member_code("MBLK", NOW_S + YEAR_S, NOW_S, 1);
    render(&c, text);
    qr_refused(t, text, ML_REFUSED, 403, "member_blocked");
}

static void member_code_of_an_unknown_member_is_member_not_found(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    struct qr_code c = member_code("M9999", NOW_S + YEAR_S, NOW_S, 1);
    render(&c, text);
    qr_refused(t, text, ML_NOENTRY, 404, "member_not_found");
}

/* ------------------------------------------------------------------------------------ */
/* Guide cards.                                                                           */

static void guide_card_answers_the_guide_via_qr(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    struct qr_code c = card_code(QR_GUIDE, "G01", NOW_S + YEAR_S, keys.issuer);
    render(&c, text);
    cJSON *g = qr_ok(t, text);
    assert_json_equal(g, "{\"guide\":{\"guide_id\":\"G01\",\"name\":\"Li Na\"},\"via\":\"qr\"}");
    cJSON_Delete(g);
}

struct card_refusal_case {
    const char *what;
    const char *id;
    ml_err err;
    int status;
    const char *code;
};

static const struct card_refusal_case guide_refusals[] = {
    {"unknown guide", "G99", ML_NOENTRY, 404, "guide_not_found"},
    {"inactive guide", "G03", ML_REFUSED, 403, "guide_inactive"},
};

static void guide_card_of_an_unknown_or_inactive_guide_is_refused(void **state)
{
    struct testdb *t = *state;
    hear_hq(t, TRUSTED_MS);
    for (size_t i = 0; i < ARRAY_LEN(guide_refusals); i++) {
        const struct card_refusal_case *g = &guide_refusals[i];
        char text[TEXT_BUF];
        struct ml_refusal r;
        cJSON *ret = NULL;
        struct qr_code c = card_code(QR_GUIDE, g->id, NOW_S + YEAR_S, keys.issuer);
        render(&c, text);
        cJSON *body = qr_body(text);
        ml_err err = run(t, body, &ret, &r);
        cJSON_Delete(body);
        check_refusal(err, ret, &r, g->err, g->status, g->code, g->what);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Bearer coupon codes.                                                                   */

#define CPN_20OFF_ANSWER                                                                           \
    "{\"coupon\":{\"coupon_id\":\"CPN-20OFF\",\"campaign_id\":null,\"kind\":\"amount_off\","       \
    "\"value\":2000,\"max_off\":0,\"min_spend\":10000,\"valid_to\":1798761600000,"                 \
    "\"uses_left\":1,\"offline_ok\":true},\"via\":\"qr\"}"

static void coupon_text(const char *id, char out[TEXT_BUF])
{
    struct qr_code c = card_code(QR_COUPON, id, NOW_S + YEAR_S, keys.issuer);
    render(&c, out);
}

static void bearer_coupon_code_answers_the_coupon_and_redeems_nothing(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    hear_hq(t, TRUSTED_MS);
    char *before = testdb_dump(t, "SELECT * FROM coupons ORDER BY coupon_id");
    coupon_text("CPN-20OFF", text);
    cJSON *cp = qr_ok(t, text);
    assert_json_equal(cp, CPN_20OFF_ANSWER);
    cJSON_Delete(cp);
    /* Shown twice, still the same: a look-up, not a redemption. */
    cp = qr_ok(t, text);
    assert_json_equal(cp, CPN_20OFF_ANSWER);
    cJSON_Delete(cp);
    char *after = testdb_dump(t, "SELECT * FROM coupons ORDER BY coupon_id");
    assert_string_equal(after, before);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM redemptions"), 0);
    free(before);
    free(after);
}

/* A peer terminal redeemed two bearer coupons before this store heard of either; HQ then
 * granted one with three uses and one with a single use. The peer took one use of the first
 * (two are left) and the last use of the second: identify decides as checkout does. */
static void
peer_redemption_before_the_grant_denies_a_single_use_code_not_a_multi_use_one(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    int written = 0;
    hear_hq(t, TRUSTED_MS);
    assert_int_equal(deny_peer_redeemed(t->db, "CPN-MULTI", "T02", TRUSTED_MS, &written), ML_OK);
    assert_int_equal(written, 1); /* unknown here: it may have been its last use */
    assert_int_equal(deny_peer_redeemed(t->db, "CPN-ONE", "T02", TRUSTED_MS, &written), ML_OK);
    assert_int_equal(written, 1);
    testdb_fact(
        t, "coupon.grant",
        "{\"coupon_id\":\"CPN-MULTI\",\"kind\":\"amount_off\",\"value\":300,\"uses\":3," VALID
        ",\"version\":1}");
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"CPN-ONE\",\"kind\":\"amount_off\",\"value\":300," VALID
                ",\"version\":1}");
    coupon_text("CPN-MULTI", text);
    cJSON *cp = qr_ok(t, text);
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(cp, "coupon"), "coupon_id"),
                        "CPN-MULTI");
    cJSON_Delete(cp);
    coupon_text("CPN-ONE", text);
    qr_refused(t, text, ML_REFUSED, 409, "coupon_redeemed_elsewhere");
}

static void
coupon_code_without_trusted_time_on_a_syncing_terminal_is_qr_clock_untrusted(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    syncing_terminal(t);
    never_heard_hq(t);
    coupon_text("CPN-20OFF", text);
    qr_refused(t, text, ML_REFUSED, 403, "qr_clock_untrusted");
    t->ctx.trust = NULL;
    qr_refused(t, text, ML_REFUSED, 403, "qr_clock_untrusted");
    /* Once HQ is heard, the same code is accepted. */
    hear_hq(t, TRUSTED_MS);
    cJSON_Delete(qr_ok(t, text));
}

static void coupon_code_without_trusted_time_on_a_standalone_terminal_is_accepted(void **state)
{
    struct testdb *t = *state;
    char text[TEXT_BUF];
    never_heard_hq(t);
    coupon_text("CPN-20OFF", text);
    cJSON *cp = qr_ok(t, text);
    assert_json_equal(cp, CPN_20OFF_ANSWER);
    cJSON_Delete(cp);
}

static const struct card_refusal_case coupon_refusals[] = {
    {"redeemed in another store (deny-list)", "CPN-ELSE", ML_REFUSED, 409,
     "coupon_redeemed_elsewhere"},
    {"revoked on the deny-list", "CPN-REV", ML_REFUSED, 409, "coupon_revoked"},
    {"revoked by coupon.revoke", "CPN-GONE", ML_REFUSED, 409, "coupon_revoked"},
    {"a member's coupon as a bearer code", "CPN-MINE", ML_REFUSED, 409, "coupon_member_mismatch"},
    {"unknown coupon", "CPN-NONE", ML_NOENTRY, 404, "coupon_not_found"},
    {"never seen here but denied by HQ", "CPN-NEVER", ML_REFUSED, 409, "coupon_redeemed_elsewhere"},
    {"past valid_to in trusted time", "CPN-ENDS", ML_REFUSED, 409, "coupon_expired"},
};

static void coupon_code_refusals_carry_the_coupons_code_and_change_nothing(void **state)
{
    struct testdb *t = *state;
    hear_hq(t, TRUSTED_MS);
    deny(t, "coupon", "CPN-ELSE", "redeemed_elsewhere");
    deny(t, "coupon", "CPN-REV", "revoked");
    deny(t, "coupon", "CPN-NEVER", "redeemed_elsewhere");
    testdb_fact(t, "coupon.revoke", "{\"coupon_id\":\"CPN-GONE\",\"version\":2}");
    char *before = testdb_dump(t, "SELECT * FROM coupons ORDER BY coupon_id");
    for (size_t i = 0; i < ARRAY_LEN(coupon_refusals); i++) {
        const struct card_refusal_case *cr = &coupon_refusals[i];
        char text[TEXT_BUF];
        struct ml_refusal r;
        cJSON *ret = NULL;
        coupon_text(cr->id, text);
        cJSON *body = qr_body(text);
        ml_err err = run(t, body, &ret, &r);
        cJSON_Delete(body);
        check_refusal(err, ret, &r, cr->err, cr->status, cr->code, cr->what);
    }
    char *after = testdb_dump(t, "SELECT * FROM coupons ORDER BY coupon_id");
    assert_string_equal(after, before);
    free(before);
    free(after);
}

/* ------------------------------------------------------------------------------------ */
/* Phone numbers.                                                                         */

static void phone_number_answers_the_member_via_phone(void **state)
{
    struct testdb *t = *state;
    cJSON *m = body_ok(t, "{\"phone\":\"+86 138-0013-8000\"}");
    assert_string_equal(jstr(m, "member_id"), "M1001");
    assert_string_equal(jstr(m, "phone"), "138****8000");
    assert_string_equal(jstr(m, "via"), "phone");
    assert_null(cJSON_GetObjectItemCaseSensitive(m, "clock_trusted"));
    cJSON_Delete(m);
}

struct body_case {
    const char *what;
    const char *json;
    ml_err err;
    int status;
    const char *code;
};

/* clang-format off */
static const struct body_case phone_refusals[] = {
    {"no member has the number", "{\"phone\":\"13500135000\"}", ML_NOENTRY, 404,
     "member_not_found"},
    {"member on the deny-list", "{\"phone\":\"13700137000\"}", ML_REFUSED, 403, "member_blocked"},
    {"member blocked by member.upsert", "{\"phone\":\"13900139000\"}", ML_REFUSED, 403,
     "member_blocked"},
    {"not a mobile number", "{\"phone\":\"12800138000\"}", ML_PARSE, 400, "invalid_phone"},
};
/* clang-format on */

static void phone_of_an_unknown_or_blocked_member_is_refused(void **state)
{
    struct testdb *t = *state;
    deny(t, "member", "MDENY", "blocked");
    for (size_t i = 0; i < ARRAY_LEN(phone_refusals); i++) {
        const struct body_case *b = &phone_refusals[i];
        struct ml_refusal r;
        cJSON *ret = NULL, *body = testdb_json(b->json);
        ml_err err = run(t, body, &ret, &r);
        cJSON_Delete(body);
        check_refusal(err, ret, &r, b->err, b->status, b->code, b->what);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Request bodies.                                                                        */

/* clang-format off */
static const struct body_case body_refusals[] = {
    {"neither field", "{}", ML_PARSE, 400, "invalid_request"},
    {"both fields", "{\"phone\":\"13800138000\",\"qr\":\"ML1:00\"}", ML_PARSE, 400,
     "invalid_request"},
    {"both fields null", "{\"phone\":null,\"qr\":null}", ML_PARSE, 400, "invalid_request"},
    {"qr not a string", "{\"qr\":5}", ML_PARSE, 400, "invalid_request"},
    {"qr empty", "{\"qr\":\"\"}", ML_PARSE, 400, "invalid_request"},
    {"phone not a string", "{\"phone\":13800138000}", ML_PARSE, 400, "invalid_request"},
};
/* clang-format on */

static void body_without_exactly_one_string_field_is_invalid_request(void **state)
{
    struct testdb *t = *state;
    for (size_t i = 0; i < ARRAY_LEN(body_refusals); i++) {
        const struct body_case *b = &body_refusals[i];
        struct ml_refusal r;
        cJSON *ret = NULL, *body = testdb_json(b->json);
        ml_err err = run(t, body, &ret, &r);
        cJSON_Delete(body);
        check_refusal(err, ret, &r, b->err, b->status, b->code, b->what);
    }
}

static void qr_field_past_identify_qr_max_is_invalid_request_and_at_it_qr_malformed(void **state)
{
    struct testdb *t = *state;
    static char text[IDENTIFY_QR_MAX + 2];
    hear_hq(t, TRUSTED_MS);
    memcpy(text, QR_MEMBER_PREFIX, strlen(QR_MEMBER_PREFIX));
    memset(text + strlen(QR_MEMBER_PREFIX), '0', IDENTIFY_QR_MAX + 1 - strlen(QR_MEMBER_PREFIX));
    text[IDENTIFY_QR_MAX + 1] = '\0';
    qr_refused(t, text, ML_PARSE, 400, "invalid_request");
    text[IDENTIFY_QR_MAX] = '\0';
    qr_refused(t, text, ML_PARSE, 400, "qr_malformed");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, testdb_teardown)
    const struct CMUnitTest tests[] = {
        T(member_code_with_trusted_time_answers_the_member_via_qr_clock_trusted),
        T(member_code_without_trusted_time_is_checked_by_wall_clock_clock_untrusted),
        T(same_proof_again_within_the_window_is_qr_replayed),
        T(same_proof_after_the_window_is_qr_expired_before_the_replay_cache),
        T(fresh_proof_with_the_next_counter_is_accepted),
        T(replay_cache_survives_closing_and_reopening_the_store),
        T(every_single_bit_flip_is_refused_with_the_code_its_field_calls_for),
        T(malformed_texts_are_qr_malformed),
        T(text_of_exactly_qr_text_max_is_accepted_and_one_past_is_qr_malformed),
        T(code_whose_issuer_is_not_in_the_keyring_is_qr_unknown_key),
        T(credential_past_not_after_in_trusted_time_is_qr_expired_its_last_second_accepted),
        T(proof_time_outside_the_window_is_qr_expired_and_the_edge_is_accepted),
        T(proof_signed_by_another_phone_is_qr_bad_signature),
        T(deny_listed_member_is_member_blocked_even_with_a_valid_code),
        T(deny_list_is_checked_before_the_device_signature),
        T(member_blocked_by_member_upsert_is_member_blocked),
        T(member_code_of_an_unknown_member_is_member_not_found),
        T(guide_card_answers_the_guide_via_qr),
        T(guide_card_of_an_unknown_or_inactive_guide_is_refused),
        T(bearer_coupon_code_answers_the_coupon_and_redeems_nothing),
        T(peer_redemption_before_the_grant_denies_a_single_use_code_not_a_multi_use_one),
        T(coupon_code_without_trusted_time_on_a_syncing_terminal_is_qr_clock_untrusted),
        T(coupon_code_without_trusted_time_on_a_standalone_terminal_is_accepted),
        T(coupon_code_refusals_carry_the_coupons_code_and_change_nothing),
        T(phone_number_answers_the_member_via_phone),
        T(phone_of_an_unknown_or_blocked_member_is_refused),
        T(body_without_exactly_one_string_field_is_invalid_request),
        T(qr_field_past_identify_qr_max_is_invalid_request_and_at_it_qr_malformed),
    };
#undef T
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
