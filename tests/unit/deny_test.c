/*
 * deny_test: unit tests for deny.h against a real store (testdb.h): HQ deny.upsert facts
 * with their version guard and strict validation, peer entries from the store broker, and
 * the lookups checkout and identification use.
 */
#include "testdb.h"

#include "deny.h"
#include "hqlink.h"

#define ID_64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TERM_32 "T0123456789012345678901234567890"

/* Applies a deny.upsert body in its own transaction; returns what facts_apply did. */
static ml_err upsert(struct testdb *t, const char *json, int *ret_applied, struct ml_refusal *r)
{
    cJSON *body = testdb_json(json);
    memset(r, 0, sizeof(*r));
    assert_int_equal(db_begin(t->db), ML_OK);
    ml_err err = facts_apply(t->db, "deny.upsert", body, ret_applied, r);
    if (err == ML_OK)
        assert_int_equal(db_commit(t->db), ML_OK);
    else
        db_rollback(t->db);
    cJSON_Delete(body);
    return err;
}

/* A body that must be accepted; returns whether it changed the table. */
static int upsert_ok(struct testdb *t, const char *json)
{
    struct ml_refusal r;
    int applied = -1;
    ml_err err = upsert(t, json, &applied, &r);
    if (err != ML_OK)
        fail_msg("deny.upsert refused: %s %s: %s (%s)", ml_strerror(err), r.code ? r.code : "-",
                 r.message, json);
    return applied;
}

static int denied(struct testdb *t, const char *subject, const char *id, char *reason)
{
    struct deny_entry e;
    int found = deny_get(t->db, subject, id, &e);
    assert_true(found >= 0);
    if (reason != NULL)
        snprintf(reason, DENY_REASON_MAX + 1, "%s", found ? e.reason : "");
    return found;
}

static void hq_deny_denies_member_and_coupon_with_its_reason(void **state)
{
    struct testdb *t = *state;
    char reason[DENY_REASON_MAX + 1];
    assert_int_equal(upsert_ok(t, "{\"subject\":\"member\",\"id\":\"M1\",\"reason\":\"blocked\","
                                  "\"lifted\":false,\"version\":1}"),
                     1);
    assert_int_equal(upsert_ok(t, "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":"
                                  "\"redeemed_elsewhere\",\"version\":1}"),
                     1);
    assert_int_equal(denied(t, "member", "M1", reason), 1);
    assert_string_equal(reason, "blocked");
    assert_int_equal(denied(t, "coupon", "C1", reason), 1);
    assert_string_equal(reason, "redeemed_elsewhere");
    /* The subject is part of the key: a coupon M1 or a member C1 is not denied. */
    assert_int_equal(denied(t, "coupon", "M1", NULL), 0);
    assert_int_equal(denied(t, "member", "C1", NULL), 0);
    struct deny_entry e;
    assert_int_equal(deny_get(t->db, "coupon", "C1", &e), 1);
    assert_string_equal(e.source, "hq");
    assert_int_equal(e.peer, 0);
    assert_int_equal(e.version, 1);
}

static void older_or_equal_version_changes_nothing_newer_lifts(void **state)
{
    struct testdb *t = *state;
    char reason[DENY_REASON_MAX + 1];
    assert_int_equal(
        upsert_ok(t, "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"revoked\",\"version\":5}"),
        1);
    char *before = testdb_dump(t, "SELECT * FROM deny_list");
    assert_int_equal(upsert_ok(t, "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"revoked\","
                                  "\"lifted\":true,\"version\":5}"),
                     0);
    assert_int_equal(upsert_ok(t, "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"other\","
                                  "\"lifted\":true,\"version\":4}"),
                     0);
    char *after = testdb_dump(t, "SELECT * FROM deny_list");
    assert_string_equal(before, after);
    assert_int_equal(denied(t, "coupon", "C1", reason), 1);
    assert_string_equal(reason, "revoked");
    assert_int_equal(upsert_ok(t, "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"revoked\","
                                  "\"lifted\":true,\"version\":6}"),
                     1);
    assert_int_equal(denied(t, "coupon", "C1", NULL), 0);
    free(before);
    free(after);
}

static void lift_that_arrives_first_keeps_an_older_deny_out(void **state)
{
    struct testdb *t = *state;
    assert_int_equal(upsert_ok(t, "{\"subject\":\"member\",\"id\":\"M1\",\"reason\":\"blocked\","
                                  "\"lifted\":true,\"version\":3}"),
                     1);
    assert_int_equal(denied(t, "member", "M1", NULL), 0);
    assert_int_equal(testdb_i64(t, "SELECT lifted FROM deny_list WHERE subject_id = 'M1'"), 1);
    assert_int_equal(upsert_ok(t, "{\"subject\":\"member\",\"id\":\"M1\",\"reason\":\"blocked\","
                                  "\"version\":2}"),
                     0);
    assert_int_equal(denied(t, "member", "M1", NULL), 0);
}

struct bad_case {
    const char *what;
    const char *json;
};

/* clang-format off */
static const struct bad_case bad_cases[] = {
    {"not an object", "[1]"},
    {"no subject", "{\"id\":\"C1\",\"reason\":\"revoked\",\"version\":1}"},
    {"unknown subject", "{\"subject\":\"guide\",\"id\":\"C1\",\"reason\":\"revoked\",\"version\":1}"},
    {"subject not a string", "{\"subject\":1,\"id\":\"C1\",\"reason\":\"revoked\",\"version\":1}"},
    {"no id", "{\"subject\":\"coupon\",\"reason\":\"revoked\",\"version\":1}"},
    {"empty id", "{\"subject\":\"coupon\",\"id\":\"\",\"reason\":\"revoked\",\"version\":1}"},
    {"id of 65 bytes", "{\"subject\":\"coupon\",\"id\":\"" ID_64 "x\",\"reason\":\"revoked\",\"version\":1}"},
    {"id not UTF-8", "{\"subject\":\"coupon\",\"id\":\"C\xff\",\"reason\":\"revoked\",\"version\":1}"},
    {"no reason", "{\"subject\":\"coupon\",\"id\":\"C1\",\"version\":1}"},
    {"reason with capitals", "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"Revoked\",\"version\":1}"},
    {"reason with a space", "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"re voked\",\"version\":1}"},
    {"reason of 33 characters", "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"abcdefghijklmnopqrstuvwxyz_abcdef\",\"version\":1}"},
    {"lifted not a boolean", "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"revoked\",\"lifted\":1,\"version\":1}"},
    {"no version", "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"revoked\"}"},
    {"version 0", "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"revoked\",\"version\":0}"},
    {"version 2^50 + 1", "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"revoked\",\"version\":1125899906842625}"},
    {"version a fraction", "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"revoked\",\"version\":1.5}"},
};
/* clang-format on */

static void malformed_bodies_are_invalid_request_and_change_nothing(void **state)
{
    struct testdb *t = *state;
    for (size_t i = 0; i < ARRAY_LEN(bad_cases); i++) {
        struct ml_refusal r;
        int applied = -1;
        ml_err err = upsert(t, bad_cases[i].json, &applied, &r);
        if (err != ML_PARSE || r.code == NULL || strcmp(r.code, "invalid_request") != 0)
            fail_msg("%s: want ML_PARSE invalid_request, got %s %s", bad_cases[i].what,
                     ml_strerror(err), r.code ? r.code : "-");
        assert_int_equal(r.http_status, 400);
        assert_int_equal(applied, -1);
    }
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM deny_list"), 0);
}

static void id_reason_and_version_are_accepted_at_their_limits(void **state)
{
    struct testdb *t = *state;
    assert_int_equal(upsert_ok(t, "{\"subject\":\"coupon\",\"id\":\"" ID_64
                                  "\",\"reason\":\"abcdefghijklmnopqrstuvwxyz_abcde\","
                                  "\"version\":1125899906842624}"),
                     1);
    char reason[DENY_REASON_MAX + 1];
    assert_int_equal(denied(t, "coupon", ID_64, reason), 1);
    assert_string_equal(reason, "abcdefghijklmnopqrstuvwxyz_abcde");
}

static void peer_redemption_denies_until_that_peer_restores_it(void **state)
{
    struct testdb *t = *state;
    char reason[DENY_REASON_MAX + 1];
    assert_int_equal(deny_add_peer(t->db, "C1", "T02", TESTDB_T0), ML_OK);
    assert_int_equal(denied(t, "coupon", "C1", reason), 1);
    assert_string_equal(reason, "redeemed_elsewhere");
    struct deny_entry e;
    assert_int_equal(deny_get(t->db, "coupon", "C1", &e), 1);
    assert_int_equal(e.peer, 1);
    assert_string_equal(e.source, "peer:T02");
    assert_int_equal(testdb_i64(t, "SELECT peer_at FROM deny_list"), TESTDB_T0);
    /* Another peer's restore is not this redemption's. */
    assert_int_equal(deny_lift_peer(t->db, "C1", "T03"), ML_OK);
    assert_int_equal(denied(t, "coupon", "C1", NULL), 1);
    assert_int_equal(deny_lift_peer(t->db, "C1", "T02"), ML_OK);
    assert_int_equal(denied(t, "coupon", "C1", NULL), 0);
    /* Redeemed again later: denied again. */
    assert_int_equal(deny_add_peer(t->db, "C1", "T03", TESTDB_T0 + 1), ML_OK);
    assert_int_equal(denied(t, "coupon", "C1", NULL), 1);
    assert_int_equal(deny_get(t->db, "coupon", "C1", &e), 1);
    assert_string_equal(e.source, "peer:T03");
}

/* The one rule for store peers, used by the link's writer and by identify and checkout. */
static void peer_takes_the_last_use_of_a_single_use_or_unknown_coupon_only(void **state)
{
    (void)state;
    struct coupon one = {.uses_total = 1, .uses_left = 1};
    struct coupon three = {.uses_total = 3, .uses_left = 3};
    struct coupon three_last = {.uses_total = 3, .uses_left = 0};
    assert_int_equal(deny_peer_takes_last_use(NULL), 1);
    assert_int_equal(deny_peer_takes_last_use(&one), 1);
    assert_int_equal(deny_peer_takes_last_use(&three), 0);
    /* Judged by the coupon's kind, not the local count: HQ settles what runs out. */
    assert_int_equal(deny_peer_takes_last_use(&three_last), 0);
}

static void peer_redemption_is_written_only_when_it_takes_the_last_use(void **state)
{
    struct testdb *t = *state;
    int written = -1;
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"C3\",\"kind\":\"amount_off\",\"value\":100,\"uses\":3,"
                "\"valid_from\":0,\"valid_to\":4102444800000,\"version\":1}");
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"C1\",\"kind\":\"amount_off\",\"value\":100,"
                "\"valid_from\":0,\"valid_to\":4102444800000,\"version\":1}");
    assert_int_equal(deny_peer_redeemed(t->db, "C3", "T02", TESTDB_T0, &written), ML_OK);
    assert_int_equal(written, 0);
    assert_int_equal(deny_peer_redeemed(t->db, "C1", "T02", TESTDB_T0, &written), ML_OK);
    assert_int_equal(written, 1);
    assert_int_equal(deny_peer_redeemed(t->db, "UNKNOWN", "T02", TESTDB_T0, &written), ML_OK);
    assert_int_equal(written, 1);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM deny_list"), 2);
    /* An id out of form is refused, never written. */
    assert_int_equal(deny_peer_redeemed(t->db, "C9", "T 2", TESTDB_T0, &written), ML_PARSE);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM deny_list"), 2);
}

/* What the link hands the agent for each event of a peer's batch (hqlink.h): the same rule. */
static void link_peer_events_apply_the_rule_and_restores_lift_it(void **state)
{
    struct testdb *t = *state;
    struct link_handler hl;
    hqlink_handler(&t->ctx, &hl);
    const struct link_handler *h = &hl;
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"C3\",\"kind\":\"amount_off\",\"value\":100,\"uses\":3,"
                "\"valid_from\":0,\"valid_to\":4102444800000,\"version\":1}");
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"C1\",\"kind\":\"amount_off\",\"value\":100,"
                "\"valid_from\":0,\"valid_to\":4102444800000,\"version\":1}");
    cJSON *multi = testdb_json("{\"coupon_id\":\"C3\",\"use_no\":1}");
    cJSON *single = testdb_json("{\"coupon_id\":\"C1\",\"use_no\":1}");
    cJSON *sale = testdb_json("{\"sale_id\":\"S001-T02-000001\"}");
    assert_int_equal(h->peer_event(h->inbox.arg, "T02", "coupon.redeemed", multi, TESTDB_T0),
                     ML_OK);
    assert_int_equal(h->peer_event(h->inbox.arg, "T02", "coupon.redeemed", single, TESTDB_T0),
                     ML_OK);
    assert_int_equal(h->peer_event(h->inbox.arg, "T02", "sale.completed", sale, TESTDB_T0), ML_OK);
    assert_int_equal(denied(t, "coupon", "C3", NULL), 0);
    assert_int_equal(denied(t, "coupon", "C1", NULL), 1);
    assert_int_equal(h->peer_event(h->inbox.arg, "T02", "coupon.restored", single, TESTDB_T0),
                     ML_OK);
    assert_int_equal(denied(t, "coupon", "C1", NULL), 0);
    cJSON_Delete(multi);
    cJSON_Delete(single);
    cJSON_Delete(sale);
}

static void check_coupon_applies_the_rule_to_peer_entries_only(void **state)
{
    struct testdb *t = *state;
    struct ml_refusal r = {0};
    struct coupon three = {.uses_total = 3, .uses_left = 3};
    assert_int_equal(deny_add_peer(t->db, "P", "T02", TESTDB_T0), ML_OK);
    upsert_ok(t, "{\"subject\":\"coupon\",\"id\":\"H\",\"reason\":\"revoked\",\"version\":1}");
    assert_int_equal(deny_check_coupon(t->db, "P", NULL, &r), ML_REFUSED);
    assert_string_equal(r.code, "coupon_redeemed_elsewhere");
    assert_int_equal(deny_check_coupon(t->db, "P", &three, &r), ML_OK);
    /* HQ's entry refuses whatever the coupon is. */
    assert_int_equal(deny_check_coupon(t->db, "H", &three, &r), ML_REFUSED);
    assert_string_equal(r.code, "coupon_revoked");
    assert_int_equal(deny_check_coupon(t->db, "NONE", NULL, &r), ML_OK);
}

static void peer_never_replaces_or_lifts_a_live_hq_entry(void **state)
{
    struct testdb *t = *state;
    assert_int_equal(
        upsert_ok(t, "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"revoked\",\"version\":2}"),
        1);
    char *before = testdb_dump(t, "SELECT * FROM deny_list");
    assert_int_equal(deny_add_peer(t->db, "C1", "T02", TESTDB_T0), ML_OK);
    assert_int_equal(deny_lift_peer(t->db, "C1", "T02"), ML_OK);
    char *after = testdb_dump(t, "SELECT * FROM deny_list");
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void peer_entry_over_a_lifted_hq_entry_keeps_the_hq_version(void **state)
{
    struct testdb *t = *state;
    char reason[DENY_REASON_MAX + 1];
    assert_int_equal(upsert_ok(t, "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"revoked\","
                                  "\"lifted\":true,\"version\":3}"),
                     1);
    assert_int_equal(deny_add_peer(t->db, "C1", "T02", TESTDB_T0), ML_OK);
    assert_int_equal(denied(t, "coupon", "C1", reason), 1);
    assert_string_equal(reason, "redeemed_elsewhere");
    assert_int_equal(testdb_i64(t, "SELECT version FROM deny_list"), 3);
    /* An HQ message older than the lift still changes nothing; a newer one is HQ's word. */
    assert_int_equal(upsert_ok(t, "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"revoked\","
                                  "\"lifted\":true,\"version\":3}"),
                     0);
    assert_int_equal(denied(t, "coupon", "C1", NULL), 1);
    assert_int_equal(upsert_ok(t, "{\"subject\":\"coupon\",\"id\":\"C1\",\"reason\":\"revoked\","
                                  "\"lifted\":true,\"version\":4}"),
                     1);
    assert_int_equal(denied(t, "coupon", "C1", NULL), 0);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM deny_list WHERE source = 'hq'"), 1);
}

static void peer_ids_are_checked_at_and_past_their_limits(void **state)
{
    struct testdb *t = *state;
    assert_int_equal(deny_add_peer(t->db, ID_64, TERM_32, TESTDB_T0), ML_OK);
    assert_int_equal(denied(t, "coupon", ID_64, NULL), 1);
    assert_int_equal(deny_add_peer(t->db, ID_64 "x", "T02", TESTDB_T0), ML_PARSE);
    assert_int_equal(deny_add_peer(t->db, "", "T02", TESTDB_T0), ML_PARSE);
    assert_int_equal(deny_add_peer(t->db, "C2", TERM_32 "1", TESTDB_T0), ML_PARSE);
    assert_int_equal(deny_add_peer(t->db, "C2", "", TESTDB_T0), ML_PARSE);
    assert_int_equal(deny_add_peer(t->db, "C2", "T/2", TESTDB_T0), ML_PARSE);
    assert_int_equal(deny_add_peer(t->db, "C2", NULL, TESTDB_T0), ML_PARSE);
    assert_int_equal(deny_lift_peer(t->db, ID_64 "x", "T02"), ML_PARSE);
    assert_int_equal(deny_lift_peer(t->db, "C2", TERM_32 "1"), ML_PARSE);
    assert_int_equal(deny_lift_peer(t->db, ID_64, TERM_32), ML_OK);
    assert_int_equal(denied(t, "coupon", ID_64, NULL), 0);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM deny_list"), 1);
}

static void coupon_codes_follow_the_reason(void **state)
{
    (void)state;
    assert_string_equal(deny_coupon_code("revoked"), "coupon_revoked");
    assert_string_equal(deny_coupon_code("redeemed_elsewhere"), "coupon_redeemed_elsewhere");
    assert_string_equal(deny_coupon_code("blocked"), "coupon_denied");
    assert_string_equal(deny_coupon_code("fraud_suspected"), "coupon_denied");
}

static void deny_entries_survive_a_restart(void **state)
{
    struct testdb *t = *state;
    assert_int_equal(
        upsert_ok(t, "{\"subject\":\"member\",\"id\":\"M1\",\"reason\":\"blocked\",\"version\":1}"),
        1);
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(deny_add_peer(t->db, "C1", "T02", TESTDB_T0), ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);
    testdb_reopen(t);
    assert_int_equal(denied(t, "member", "M1", NULL), 1);
    assert_int_equal(denied(t, "coupon", "C1", NULL), 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, testdb_setup, testdb_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(hq_deny_denies_member_and_coupon_with_its_reason),
        T(older_or_equal_version_changes_nothing_newer_lifts),
        T(lift_that_arrives_first_keeps_an_older_deny_out),
        T(malformed_bodies_are_invalid_request_and_change_nothing),
        T(id_reason_and_version_are_accepted_at_their_limits),
        T(peer_redemption_denies_until_that_peer_restores_it),
        T(peer_takes_the_last_use_of_a_single_use_or_unknown_coupon_only),
        T(peer_redemption_is_written_only_when_it_takes_the_last_use),
        T(check_coupon_applies_the_rule_to_peer_entries_only),
        T(link_peer_events_apply_the_rule_and_restores_lift_it),
        T(peer_never_replaces_or_lifts_a_live_hq_entry),
        T(peer_entry_over_a_lifted_hq_entry_keeps_the_hq_version),
        T(peer_ids_are_checked_at_and_past_their_limits),
        cmocka_unit_test(coupon_codes_follow_the_reason),
        T(deny_entries_survive_a_restart),
    };
    return cmocka_run_group_tests_name("deny", tests, NULL, NULL);
}
