/*
 * inbox_test: signed HQ messages against a real SQLite store. A valid message is applied
 * once; forged, expired, moved, unknown-key and replayed messages change nothing but the
 * outbox (a security.rejected event); a cursor gap applies nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "hqlink.h"
#include "inbox.h"
#include "outbox.h"
#include "sign.h"
#include "testdb.h"

#define INBOX "ml/demo/s/S001/inbox"
#define OTHER_INBOX "ml/demo/s/S002/inbox"
#define CAMPAIGN_TOPIC "ml/demo/hq/campaign/c1"

static EVP_PKEY *hq_key;
static struct sign_keyring *keys;

static int group_setup(void **state)
{
    (void)state;
    char pub[SIGN_PUB_B64_LEN + 1];
    hq_key = sign_key_generate();
    keys = sign_keyring_new();
    if (hq_key == NULL || keys == NULL || sign_key_public_b64(hq_key, pub) != ML_OK ||
        sign_keyring_add(keys, "k1", pub) != ML_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(hq_key);
    sign_keyring_free(keys);
    return 0;
}

/* A signed message text, as HQ sends it (canonical JSON). Caller frees. */
static char *hq_msg(const char *topic, const char *id, const char *store, int64_t cursor,
                    const char *kind, int64_t version, int64_t expires, const char *body)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"v\":1,\"id\":\"%s\",\"kind\":\"%s\",\"version\":%lld,\"issued\":%lld,"
             "\"expires\":%lld,\"store\":\"%s\",\"cursor\":%lld,\"body\":%s}",
             id, kind, (long long)version, (long long)TESTDB_T0, (long long)expires, store,
             (long long)cursor, body);
    cJSON *msg = cJSON_Parse(text);
    assert_non_null(msg);
    assert_int_equal(sign_message(hq_key, "k1", topic, msg), ML_OK);
    char *out = canon_json(msg);
    cJSON_Delete(msg);
    assert_non_null(out);
    return out;
}

#define MEMBER(v, tier)                                                                            \
    "{\"member_id\":\"M1\",\"tier\":\"" tier "\",\"status\":\"active\",\"version\":" #v "}"
#define LATER (TESTDB_T0 + TESTDB_DAY)

/* Hands one text to the inbox the agent runs: its fact, trust and peer handler (hqlink.h). */
static ml_err handle_len(struct testdb *t, const char *topic, const char *text, size_t len,
                         enum inbox_result *res)
{
    struct inbox_site site = {t->cfg.brand, t->cfg.store, t->cfg.terminal};
    struct inbox *ib = NULL;
    struct link_handler h;
    hqlink_handler(&t->ctx, &h);
    assert_int_equal(inbox_new(t->db, keys, &site, testdb_now, &h.inbox, &ib), ML_OK);
    ml_err err = inbox_handle(ib, topic, text, len, res);
    inbox_free(ib);
    return err;
}

static enum inbox_result handle(struct testdb *t, const char *topic, const char *text)
{
    enum inbox_result res = INBOX_REJECTED;
    assert_int_equal(handle_len(t, topic, text, strlen(text), &res), ML_OK);
    return res;
}

static int64_t rejected_events(struct testdb *t)
{
    return testdb_i64(t, "SELECT count(*) FROM outbox WHERE type = 'security.rejected'");
}

static void valid_message_is_applied_once_and_moves_the_cursor(void **state)
{
    struct testdb *t = *state;
    char *m = hq_msg(INBOX, "msg-1", "S001", 1, "member.upsert", 1, LATER, MEMBER(1, "gold"));
    assert_int_equal(handle(t, INBOX, m), INBOX_APPLIED);
    assert_int_equal(handle(t, INBOX, m), INBOX_DUPLICATE);
    assert_int_equal(inbox_cursor(t->db), 1);
    char *got = testdb_dump(t, "SELECT member_id, tier FROM members");
    assert_string_equal(got, "M1|gold\n");
    free(got);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM inbox_applied"), 1);
    assert_int_equal(rejected_events(t), 0);
    free(m);
}

static void attacks_are_rejected_and_last_good_state_kept(void **state)
{
    struct testdb *t = *state;
    char *good = hq_msg(INBOX, "msg-1", "S001", 1, "member.upsert", 1, LATER, MEMBER(1, "gold"));
    assert_int_equal(handle(t, INBOX, good), INBOX_APPLIED);

    /* forged: a valid message with its tier changed after signing */
    char *forged =
        hq_msg(INBOX, "msg-2", "S001", 2, "member.upsert", 2, LATER, MEMBER(2, "silver"));
    char *p = strstr(forged, "silver");
    memcpy(p, "bronze", 6);
    /* expired */
    char *expired =
        hq_msg(INBOX, "msg-3", "S001", 2, "member.upsert", 3, TESTDB_T0 - 1, MEMBER(3, "silver"));
    /* moved: signed for another store's inbox, replayed on ours */
    char *moved =
        hq_msg(OTHER_INBOX, "msg-4", "S002", 2, "member.upsert", 4, LATER, MEMBER(4, "silver"));
    /* signed for our topic but naming another store */
    char *other = hq_msg(INBOX, "msg-5", "S002", 2, "member.upsert", 5, LATER, MEMBER(5, "silver"));
    const struct {
        const char *name;
        const char *text;
        const char *code;
    } cases[] = {
        {"forged", forged, "msg_bad_signature"},    {"expired", expired, "msg_expired"},
        {"moved", moved, "msg_bad_signature"},      {"other store", other, "msg_wrong_topic"},
        {"not json", "{\"v\":1,", "msg_malformed"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int64_t before = rejected_events(t);
        if (handle(t, INBOX, cases[i].text) != INBOX_REJECTED)
            fail_msg("%s: not rejected", cases[i].name);
        assert_int_equal(rejected_events(t), before + 1);
        char *code = testdb_dump(t, "SELECT json_extract(payload, '$.body.code') FROM outbox "
                                    "WHERE type = 'security.rejected' ORDER BY seq DESC LIMIT 1");
        char want[64];
        snprintf(want, sizeof(want), "%s\n", cases[i].code);
        if (strcmp(code, want) != 0)
            fail_msg("%s: code %s, want %s", cases[i].name, code, cases[i].code);
        free(code);
    }
    /* Unknown key: signed by a key HQ never configured here. */
    EVP_PKEY *rogue = sign_key_generate();
    EVP_PKEY *real = hq_key;
    hq_key = rogue;
    char *unknown = hq_msg(INBOX, "msg-6", "S001", 2, "member.upsert", 6, LATER, MEMBER(6, "x"));
    hq_key = real;
    char *kid = strstr(unknown, "\"kid\":\"k1\"");
    assert_non_null(kid);
    memcpy(kid, "\"kid\":\"k9\"", 10);
    assert_int_equal(handle(t, INBOX, unknown), INBOX_REJECTED);
    EVP_PKEY_free(rogue);

    /* The last good state: gold, cursor 1. */
    char *got = testdb_dump(t, "SELECT tier FROM members");
    assert_string_equal(got, "gold\n");
    free(got);
    assert_int_equal(inbox_cursor(t->db), 1);
    free(good);
    free(forged);
    free(expired);
    free(moved);
    free(other);
    free(unknown);
}

static void older_version_after_newer_is_rejected_and_newer_kept(void **state)
{
    struct testdb *t = *state;
    char *newer = hq_msg(INBOX, "msg-1", "S001", 1, "member.upsert", 5, LATER, MEMBER(5, "gold"));
    char *older = hq_msg(INBOX, "msg-2", "S001", 2, "member.upsert", 4, LATER, MEMBER(4, "basic"));
    assert_int_equal(handle(t, INBOX, newer), INBOX_APPLIED);
    assert_int_equal(handle(t, INBOX, older), INBOX_REJECTED); /* reported, changes nothing */
    char *got = testdb_dump(t, "SELECT tier, version FROM members");
    assert_string_equal(got, "gold|5\n");
    free(got);
    got = testdb_dump(t, "SELECT json_extract(payload, '$.body.code') FROM outbox "
                         "WHERE type = 'security.rejected'");
    assert_string_equal(got, "msg_old_version\n");
    free(got);
    assert_int_equal(inbox_cursor(t->db), 2); /* the stream goes on */
    free(newer);
    free(older);
}

static void cursor_gap_applies_nothing_until_caught_up(void **state)
{
    struct testdb *t = *state;
    char *m1 = hq_msg(INBOX, "msg-1", "S001", 1, "member.upsert", 1, LATER, MEMBER(1, "basic"));
    char *m2 = hq_msg(INBOX, "msg-2", "S001", 2, "member.upsert", 2, LATER, MEMBER(2, "silver"));
    char *m3 = hq_msg(INBOX, "msg-3", "S001", 3, "member.upsert", 3, LATER, MEMBER(3, "gold"));
    assert_int_equal(handle(t, INBOX, m1), INBOX_APPLIED);
    assert_int_equal(handle(t, INBOX, m3), INBOX_GAP); /* m2 was lost on the broker */
    assert_int_equal(inbox_cursor(t->db), 1);
    /* The catch-up brings m2 and m3 again, in order. */
    assert_int_equal(handle(t, INBOX, m2), INBOX_APPLIED);
    assert_int_equal(handle(t, INBOX, m3), INBOX_APPLIED);
    assert_int_equal(inbox_cursor(t->db), 3);
    char *got = testdb_dump(t, "SELECT tier FROM members");
    assert_string_equal(got, "gold\n");
    free(got);
    free(m1);
    free(m2);
    free(m3);
}

static void campaign_on_its_retained_topic_is_applied(void **state)
{
    struct testdb *t = *state;
    char *c = hq_msg(CAMPAIGN_TOPIC, "msg-c", "*", 0, "campaign.upsert", 1, LATER,
                     "{\"campaign_id\":\"c1\",\"version\":1,\"valid_from\":1,"
                     "\"valid_to\":1900000000000,\"points\":{\"earn_per_yuan\":1}}");
    assert_int_equal(handle(t, CAMPAIGN_TOPIC, c), INBOX_APPLIED);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM campaigns"), 1);
    /* The same campaign message replayed on a store inbox is refused. */
    assert_int_equal(handle(t, INBOX, c), INBOX_REJECTED);
    free(c);
}

static void message_at_the_size_limit_passes_the_size_check_one_past_is_refused(void **state)
{
    struct testdb *t = *state;
    char *big = malloc(INBOX_MSG_MAX + 2);
    memset(big, ' ', INBOX_MSG_MAX + 1);
    big[INBOX_MSG_MAX + 1] = '\0';
    big[0] = '{';
    big[INBOX_MSG_MAX - 1] = '}'; /* exactly INBOX_MSG_MAX bytes of JSON */
    enum inbox_result res;
    assert_int_equal(handle_len(t, INBOX, big, INBOX_MSG_MAX, &res), ML_OK);
    char *code = testdb_dump(t, "SELECT json_extract(payload, '$.body.code') FROM outbox "
                                "ORDER BY seq DESC LIMIT 1");
    assert_string_equal(code, "msg_malformed\n"); /* parsed: refused for its content */
    free(code);
    assert_int_equal(handle_len(t, INBOX, big, INBOX_MSG_MAX + 1, &res), ML_OK);
    code = testdb_dump(t, "SELECT json_extract(payload, '$.body.code') FROM outbox "
                          "ORDER BY seq DESC LIMIT 1");
    assert_string_equal(code, "msg_too_large\n");
    free(code);
    free(big);
}

/* A stamp from HQ ahead of this terminal's clock moves the HLC: later events order after it. */
static void hq_issued_time_moves_the_hlc_forward(void **state)
{
    struct testdb *t = *state;
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"v\":1,\"id\":\"m-ahead\",\"kind\":\"member.upsert\",\"version\":1,"
             "\"issued\":%lld,\"expires\":%lld,\"store\":\"S001\",\"cursor\":1,\"body\":" MEMBER(
                 1, "gold") "}",
             (long long)(TESTDB_T0 + TESTDB_HOUR), (long long)LATER);
    cJSON *msg = cJSON_Parse(text);
    assert_int_equal(sign_message(hq_key, "k1", INBOX, msg), ML_OK);
    char *signed_text = canon_json(msg);
    cJSON_Delete(msg);
    assert_int_equal(handle(t, INBOX, signed_text), INBOX_APPLIED);
    free(signed_text);
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(
        outbox_append(t->db, "S001", "T01", TESTDB_T0, "sale.completed", cJSON_CreateObject()),
        ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);
    char *hlc = testdb_dump(t, "SELECT hlc FROM outbox WHERE type = 'sale.completed'");
    char want[64];
    /* merge: (T0+1h, 1); the local event after it: (T0+1h, 2) */
    snprintf(want, sizeof(want), "%lld-2\n", (long long)(TESTDB_T0 + TESTDB_HOUR));
    assert_string_equal(hlc, want);
    free(hlc);
}

/* A message text without `field`, signed over the rest with the test key for topic. The
 * signature is computed here rather than by sign_message(), which refuses a message without
 * "version". Caller frees. */
static char *hq_msg_without(const char *topic, const char *field)
{
    char *text = hq_msg(topic, "msg-1", "S001", 1, "member.upsert", 1, LATER, MEMBER(1, "gold"));
    cJSON *msg = cJSON_Parse(text);
    free(text);
    assert_non_null(msg);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(msg, field));
    cJSON_DeleteItemFromObjectCaseSensitive(msg, field);
    cJSON_DeleteItemFromObjectCaseSensitive(msg, "sig");
    char *input = NULL;
    size_t input_len = 0;
    unsigned char sig[64];
    size_t sig_len = sizeof(sig);
    char sig_b64[SIGN_SIG_B64_LEN + 1];
    assert_int_equal(sign_input(topic, msg, &input, &input_len), ML_OK);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_non_null(md);
    assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, hq_key), 1);
    assert_int_equal(EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)input, input_len), 1);
    EVP_MD_CTX_free(md);
    free(input);
    assert_int_equal(sig_len, sizeof(sig));
    assert_int_equal(EVP_EncodeBlock((unsigned char *)sig_b64, sig, (int)sig_len),
                     SIGN_SIG_B64_LEN);
    assert_non_null(cJSON_AddStringToObject(msg, "sig", sig_b64));
    char *out = canon_json(msg);
    cJSON_Delete(msg);
    assert_non_null(out);
    return out;
}

/* Regression: a signed message without "store", "cursor" or "version" is refused as
 * msg_malformed, and the reason HQ reads in security.rejected names the missing field (it
 * was once formatted into itself and came out empty). */
static void signed_message_without_store_cursor_or_version_names_the_missing_field(void **state)
{
    struct testdb *t = *state;
    static const struct {
        const char *field;
        int signature_verifies; /* the field is not one sign_verify() itself requires */
    } cases[] = {
        {"store", 1},
        {"cursor", 1},
        {"version", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *text = hq_msg_without(INBOX, cases[i].field);
        if (cases[i].signature_verifies) {
            struct ml_refusal r = {0};
            cJSON *msg = cJSON_Parse(text);
            if (sign_verify(keys, INBOX, msg, TESTDB_T0, &r) != ML_OK)
                fail_msg("without %s: the signature does not verify: %s", cases[i].field,
                         r.message);
            cJSON_Delete(msg);
        }
        int64_t before = rejected_events(t);
        if (handle(t, INBOX, text) != INBOX_REJECTED)
            fail_msg("without %s: not rejected", cases[i].field);
        free(text);
        assert_int_equal(rejected_events(t), before + 1);
        char *got = testdb_dump(t, "SELECT json_extract(payload, '$.body.code'),"
                                   " json_extract(payload, '$.body.message_id'),"
                                   " json_extract(payload, '$.body.topic')"
                                   " FROM outbox WHERE type = 'security.rejected'"
                                   " ORDER BY seq DESC LIMIT 1");
        if (strcmp(got, "msg_malformed|msg-1|" INBOX "\n") != 0)
            fail_msg("without %s: security.rejected %s", cases[i].field, got);
        free(got);
        char *reason = testdb_dump(t, "SELECT json_extract(payload, '$.body.reason')"
                                      " FROM outbox WHERE type = 'security.rejected'"
                                      " ORDER BY seq DESC LIMIT 1");
        if (strcmp(reason, "\n") == 0 || strcmp(reason, "NULL\n") == 0 ||
            strstr(reason, cases[i].field) == NULL)
            fail_msg("without %s: reason '%.*s' does not name it", cases[i].field,
                     (int)strcspn(reason, "\n"), reason);
        free(reason);
    }
    assert_int_equal(inbox_cursor(t->db), 0);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM members"), 0);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM inbox_applied"), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, testdb_setup, testdb_teardown)
    const struct CMUnitTest tests[] = {
        T(valid_message_is_applied_once_and_moves_the_cursor),
        T(attacks_are_rejected_and_last_good_state_kept),
        T(older_version_after_newer_is_rejected_and_newer_kept),
        T(cursor_gap_applies_nothing_until_caught_up),
        T(campaign_on_its_retained_topic_is_applied),
        T(message_at_the_size_limit_passes_the_size_check_one_past_is_refused),
        T(hq_issued_time_moves_the_hlc_forward),
        T(signed_message_without_store_cursor_or_version_names_the_missing_field),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
