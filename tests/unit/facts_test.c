/*
 * facts_test: unit tests for facts.h, the one path by which HQ data enters the store.
 *
 * Every fact kind is applied and read back; every kind is checked for version order (older
 * and equal versions change nothing, a newer one wins) from one table; invalid bodies are a
 * table of refusals. A refused fact is applied inside a transaction that the test then
 * COMMITS, so "nothing written" is the product's behaviour, not the test's rollback.
 */
#include "testdb.h"

#include "checkout.h"
#include "coupon.h"

#define VALID "\"valid_from\":1764633600000,\"valid_to\":1798761600000"
#define HMAC_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* Every table a fact may write, in one snapshot. */
static const char all_facts[] =
    "SELECT 'm', member_id, hex(phone_key), phone_masked, tier, plan, plan_until, "
    " points_confirmed, points_version, guide_id, guide_until, guide_version, status, version "
    " FROM members "
    "UNION ALL SELECT 'g', guide_id, name, store, status, version, 0, 0, 0, 0, 0, 0, 0, 0 "
    " FROM guides "
    "UNION ALL SELECT 'c', campaign_id, version, priority, valid_from, valid_to, doc, 0, 0, 0, "
    " 0, 0, 0, 0 FROM campaigns "
    "UNION ALL SELECT 'k', coupon_id, member_id, campaign_id, kind, value, max_off, min_spend, "
    " categories, valid_from || '-' || valid_to, uses_total || '/' || uses_left, offline_ok, "
    " state, version FROM coupons "
    "ORDER BY 1, 2";

/*
 * Applies a fact in a transaction that is committed whatever facts_apply() answers, so a
 * refusal that wrote half a row would show.
 */
static ml_err apply_and_commit(struct testdb *t, const char *kind, const char *json,
                               int *ret_applied, struct ml_refusal *r)
{
    cJSON *body = testdb_json(json);
    memset(r, 0, sizeof(*r));
    assert_int_equal(db_begin(t->db), ML_OK);
    ml_err err = facts_apply(t->db, kind, body, ret_applied, r);
    assert_int_equal(db_commit(t->db), ML_OK);
    cJSON_Delete(body);
    return err;
}

static int apply_version(struct testdb *t, const char *kind, const char *json)
{
    struct ml_refusal r;
    int applied = -1;
    ml_err err = apply_and_commit(t, kind, json, &applied, &r);
    if (err != ML_OK)
        fail_msg("%s refused: %s %s (%s)", kind, r.code ? r.code : "-", r.message, json);
    assert_true(applied == 0 || applied == 1);
    return applied;
}

/* ------------------------------------------------------------------------------------ */

struct apply_case {
    const char *kind;
    const char *body;
    const char *query; /* one row, compared with want */
    const char *want;
};

static const struct apply_case apply_cases[] = {
    {"guide.upsert",
     "{\"guide_id\":\"G01\",\"name\":\"Li Na\",\"store\":\"S001\",\"status\":\"active\","
     "\"version\":1}",
     "SELECT guide_id, name, store, status, version FROM guides WHERE guide_id = 'G01'",
     "G01|Li Na|S001|active|1\n"},
    {"guide.upsert", "{\"guide_id\":\"G02\",\"version\":3}",
     "SELECT guide_id, name, store, status, version FROM guides WHERE guide_id = 'G02'",
     "G02||NULL|active|3\n"},
    {"member.upsert",
     "{\"member_id\":\"M1\",\"phone_hmac\":\"" HMAC_A "\",\"phone_masked\":\"138****8000\","
     "\"tier\":\"gold\",\"plan\":\"vip\",\"plan_until\":1798761600000,\"points\":2000,"
     "\"points_version\":7,\"status\":\"active\",\"version\":2}",
     "SELECT member_id, lower(hex(phone_key)), phone_masked, tier, plan, plan_until, "
     "points_confirmed, points_version, status, version, guide_id FROM members "
     "WHERE member_id = 'M1'",
     "M1|" HMAC_A "|138****8000|gold|vip|1798761600000|2000|7|active|2|NULL\n"},
    {"member.upsert", "{\"member_id\":\"M2\",\"status\":\"blocked\",\"version\":1}",
     "SELECT member_id, phone_key, phone_masked, tier, plan, plan_until, points_confirmed, "
     "status FROM members WHERE member_id = 'M2'",
     "M2|NULL||basic|NULL|NULL|0|blocked\n"},
    {"guide.bind",
     "{\"member_id\":\"M1\",\"guide_id\":\"G01\",\"until\":1798761600000,"
     "\"version\":1}",
     "SELECT guide_id, guide_until, guide_version, version FROM members WHERE member_id = 'M1'",
     "G01|1798761600000|1|2\n"},
    {"guide.bind", "{\"member_id\":\"M1\",\"guide_id\":null,\"version\":2}",
     "SELECT guide_id, guide_until, guide_version FROM members WHERE member_id = 'M1'",
     "NULL|NULL|2\n"},
    {"campaign.upsert",
     "{\"campaign_id\":\"pts\",\"version\":1,\"priority\":5," VALID
     ",\"points\":{\"earn_per_yuan\":100,\"redeem_points_per_yuan\":100,\"redeem_max_bp\":10000},"
     "\"commission\":{\"default_bp\":10000,\"categories\":{\"a\":10000}},"
     "\"coupons\":{\"restore_on_refund\":true}}",
     "SELECT campaign_id, version, priority, valid_from, valid_to, "
     "json_extract(doc, '$.points.earn_per_yuan') FROM campaigns WHERE campaign_id = 'pts'",
     "pts|1|5|1764633600000|1798761600000|100\n"},
    {"coupon.grant",
     "{\"coupon_id\":\"K1\",\"member_id\":\"M1\",\"campaign_id\":\"pts\",\"kind\":\"percent_off\","
     "\"value\":10000,\"max_off\":500,\"min_spend\":100,\"categories\":[\"a\",\"b\"]," VALID
     ",\"uses\":1000000,\"offline_ok\":false,\"version\":9}",
     "SELECT coupon_id, member_id, campaign_id, kind, value, max_off, min_spend, categories, "
     "uses_total, uses_left, offline_ok, state, version FROM coupons WHERE coupon_id = 'K1'",
     "K1|M1|pts|percent_off|10000|500|100|[\"a\",\"b\"]|1000000|1000000|0|available|9\n"},
    {"coupon.grant",
     "{\"coupon_id\":\"K2\",\"kind\":\"amount_off\",\"value\":1," VALID ",\"version\":1}",
     "SELECT coupon_id, member_id, campaign_id, categories, uses_total, uses_left, offline_ok, "
     "state FROM coupons WHERE coupon_id = 'K2'",
     "K2|NULL|NULL|NULL|1|1|1|available\n"},
    {"coupon.revoke", "{\"coupon_id\":\"K2\",\"version\":2}",
     "SELECT state, version FROM coupons WHERE coupon_id = 'K2'", "revoked|2\n"},
};

static void each_fact_kind_applies(void **state)
{
    struct testdb *t = *state;
    for (size_t i = 0; i < ARRAY_LEN(apply_cases); i++) {
        const struct apply_case *k = &apply_cases[i];
        if (apply_version(t, k->kind, k->body) != 1)
            fail_msg("case %zu %s was not applied: %s", i, k->kind, k->body);
        char *got = testdb_dump(t, k->query);
        if (strcmp(got, k->want) != 0)
            fail_msg("case %zu %s: stored\n  %s want\n  %s", i, k->kind, got, k->want);
        free(got);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Version order. Templates use {V} for the version and {X} for a field that differs.     */

struct version_case {
    const char *kind;
    const char *prereq_kind, *prereq; /* applied first, may be NULL */
    const char *tmpl;
    const char *row; /* the row the fact writes */
};

static const struct version_case version_cases[] = {
    {"member.upsert", NULL, NULL,
     "{\"member_id\":\"M1\",\"tier\":\"{X}\",\"points\":5,\"points_version\":1,\"version\":{V}}",
     "SELECT * FROM members WHERE member_id = 'M1'"},
    {"guide.upsert", NULL, NULL, "{\"guide_id\":\"G1\",\"name\":\"{X}\",\"version\":{V}}",
     "SELECT * FROM guides WHERE guide_id = 'G1'"},
    {"guide.bind", "member.upsert", "{\"member_id\":\"M1\",\"version\":1}",
     "{\"member_id\":\"M1\",\"guide_id\":\"{X}\",\"until\":1798761600000,\"version\":{V}}",
     "SELECT * FROM members WHERE member_id = 'M1'"},
    {"campaign.upsert", NULL, NULL,
     "{\"campaign_id\":\"C1\",\"version\":{V}," VALID ",\"stores\":[\"{X}\"]}",
     "SELECT * FROM campaigns WHERE campaign_id = 'C1'"},
    {"coupon.grant", NULL, NULL,
     "{\"coupon_id\":\"K1\",\"campaign_id\":\"{X}\",\"kind\":\"amount_off\",\"value\":100," VALID
     ",\"version\":{V}}",
     "SELECT * FROM coupons WHERE coupon_id = 'K1'"},
    {"coupon.revoke", "coupon.grant",
     "{\"coupon_id\":\"K1\",\"kind\":\"amount_off\",\"value\":100," VALID ",\"version\":1}",
     "{\"coupon_id\":\"K1\",\"version\":{V}}", "SELECT * FROM coupons WHERE coupon_id = 'K1'"},
};

/* Expands {V} and {X} in a template. */
static void expand(const char *tmpl, int version, const char *x, char *out, size_t len)
{
    size_t o = 0;
    for (const char *p = tmpl; *p != '\0';) {
        int n = 0;
        if (strncmp(p, "{V}", 3) == 0) {
            n = snprintf(out + o, len - o, "%d", version);
            p += 3;
        } else if (strncmp(p, "{X}", 3) == 0) {
            n = snprintf(out + o, len - o, "%s", x);
            p += 3;
        } else {
            n = snprintf(out + o, len - o, "%c", *p);
            p++;
        }
        assert_true(n > 0 && o + (size_t)n < len);
        o += (size_t)n;
    }
}

static void older_or_equal_version_never_overwrites_and_newer_does(void **state)
{
    struct testdb *t = *state;
    for (size_t i = 0; i < ARRAY_LEN(version_cases); i++) {
        const struct version_case *k = &version_cases[i];
        char body[1024];
        /* A fresh database per kind. */
        assert_int_equal(testdb_teardown(state), 0);
        assert_int_equal(testdb_setup(state), 0);
        t = *state;
        if (k->prereq != NULL)
            assert_int_equal(apply_version(t, k->prereq_kind, k->prereq), 1);

        expand(k->tmpl, 5, "first", body, sizeof(body));
        if (apply_version(t, k->kind, body) != 1)
            fail_msg("%s v5 not applied", k->kind);
        char *v5 = testdb_dump(t, k->row);
        assert_true(v5[0] != '\0');

        static const int stale[] = {4, 1, 5};
        for (size_t s = 0; s < ARRAY_LEN(stale); s++) {
            expand(k->tmpl, stale[s], "stale", body, sizeof(body));
            if (apply_version(t, k->kind, body) != 0)
                fail_msg("%s v%d applied over v5", k->kind, stale[s]);
            char *now = testdb_dump(t, k->row);
            if (strcmp(now, v5) != 0)
                fail_msg("%s v%d changed the row:\n  %s  was\n  %s", k->kind, stale[s], now, v5);
            free(now);
        }

        expand(k->tmpl, 6, "newer", body, sizeof(body));
        if (apply_version(t, k->kind, body) != 1)
            fail_msg("%s v6 not applied over v5", k->kind);
        char *v6 = testdb_dump(t, k->row);
        assert_string_not_equal(v6, v5);
        if (strstr(k->tmpl, "{X}") != NULL && strstr(v6, "newer") == NULL)
            fail_msg("%s v6 did not store its content: %s", k->kind, v6);
        free(v5);
        free(v6);
    }
}

static void member_points_are_replaced_only_by_a_newer_points_version(void **state)
{
    struct testdb *t = *state;
    static const char q[] = "SELECT tier, points_confirmed, points_version, version FROM members";
    static const struct {
        const char *body;
        const char *want;
    } steps[] = {
        {"{\"member_id\":\"M1\",\"tier\":\"basic\",\"points\":100,\"points_version\":10,"
         "\"version\":1}",
         "basic|100|10|1\n"},
        /* newer member, older points: the member changes, the balance stays */
        {"{\"member_id\":\"M1\",\"tier\":\"silver\",\"points\":200,\"points_version\":9,"
         "\"version\":2}",
         "silver|100|10|2\n"},
        /* equal points version */
        {"{\"member_id\":\"M1\",\"tier\":\"gold\",\"points\":300,\"points_version\":10,"
         "\"version\":3}",
         "gold|100|10|3\n"},
        /* no points in the fact at all */
        {"{\"member_id\":\"M1\",\"tier\":\"gold\",\"version\":4}", "gold|100|10|4\n"},
        /* newer points version */
        {"{\"member_id\":\"M1\",\"tier\":\"gold\",\"points\":400,\"points_version\":11,"
         "\"version\":5}",
         "gold|400|11|5\n"},
        /* a balance of zero is a balance */
        {"{\"member_id\":\"M1\",\"tier\":\"gold\",\"points\":0,\"points_version\":12,"
         "\"version\":6}",
         "gold|0|12|6\n"},
    };
    for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
        assert_int_equal(apply_version(t, "member.upsert", steps[i].body), 1);
        char *got = testdb_dump(t, q);
        if (strcmp(got, steps[i].want) != 0)
            fail_msg("step %zu: %s  want %s", i, got, steps[i].want);
        free(got);
    }
}

static void member_upsert_keeps_the_guide_binding(void **state)
{
    struct testdb *t = *state;
    testdb_fact(t, "member.upsert", "{\"member_id\":\"M1\",\"version\":1}");
    testdb_fact(t, "guide.bind",
                "{\"member_id\":\"M1\",\"guide_id\":\"G1\",\"until\":1798761600000,\"version\":1}");
    testdb_fact(t, "member.upsert", "{\"member_id\":\"M1\",\"tier\":\"gold\",\"version\":2}");
    char *got = testdb_dump(t, "SELECT tier, guide_id, guide_until, guide_version FROM members");
    assert_string_equal(got, "gold|G1|1798761600000|1\n");
    free(got);
}

static void coupon_grant_replayed_after_redemption_does_not_make_it_available(void **state)
{
    struct testdb *t = *state;
    static const char grant_v1[] = "{\"coupon_id\":\"K\",\"kind\":\"amount_off\",\"value\":100,"
                                   "\"uses\":1," VALID ",\"version\":1}";
    testdb_fact(t, "coupon.grant", grant_v1);
    struct coupon c;
    struct ml_refusal r = {0};
    int64_t use_no = 0;
    assert_int_equal(coupon_get(t->db, "K", &c), ML_OK);
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(
        coupon_redeem(t->db, &c, "SALE-1", 100, "[1]", testdb_clock, 0, 0, &use_no, &r), ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);
    coupon_release(&c);

    /* The same grant again (a replay). */
    assert_int_equal(apply_version(t, "coupon.grant", grant_v1), 0);
    char *got = testdb_dump(t, "SELECT state, uses_left, value, version FROM coupons");
    assert_string_equal(got, "redeemed|0|100|1\n");
    free(got);

    /* A newer grant changes the terms but not the redemption state. */
    assert_int_equal(apply_version(t, "coupon.grant",
                                   "{\"coupon_id\":\"K\",\"kind\":\"amount_off\",\"value\":300,"
                                   "\"uses\":1," VALID ",\"version\":2}"),
                     1);
    got = testdb_dump(t, "SELECT state, uses_left, value, version FROM coupons");
    assert_string_equal(got, "redeemed|0|300|2\n");
    free(got);
    assert_int_equal(coupon_get(t->db, "K", &c), ML_OK);
    assert_int_equal(coupon_check_usable(&c, NULL, testdb_clock, &r), ML_REFUSED);
    assert_string_equal(r.code, "coupon_already_redeemed");
    coupon_release(&c);
}

static void coupon_revoke_revokes_and_a_later_grant_does_not_undo_it(void **state)
{
    struct testdb *t = *state;
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"K\",\"kind\":\"amount_off\",\"value\":100," VALID
                ",\"version\":1}");
    assert_int_equal(apply_version(t, "coupon.revoke", "{\"coupon_id\":\"K\",\"version\":2}"), 1);
    char *got = testdb_dump(t, "SELECT state, version FROM coupons");
    assert_string_equal(got, "revoked|2\n");
    free(got);
    /* A newer grant updates the terms only. */
    assert_int_equal(
        apply_version(t, "coupon.grant",
                      "{\"coupon_id\":\"K\",\"kind\":\"amount_off\",\"value\":200," VALID
                      ",\"version\":3}"),
        1);
    got = testdb_dump(t, "SELECT state, value, version FROM coupons");
    assert_string_equal(got, "revoked|200|3\n");
    free(got);
    /* Revoking a coupon this store never saw leaves a revoked placeholder, never usable. */
    assert_int_equal(apply_version(t, "coupon.revoke", "{\"coupon_id\":\"NEVER\",\"version\":1}"),
                     1);
    got = testdb_dump(t, "SELECT state, uses_left FROM coupons WHERE coupon_id = 'NEVER'");
    assert_string_equal(got, "revoked|0\n");
    free(got);
}

static void guide_bind_for_an_unknown_member_is_member_not_found(void **state)
{
    struct testdb *t = *state;
    testdb_fact(t, "guide.upsert", "{\"guide_id\":\"G1\",\"version\":1}");
    testdb_fact(t, "member.upsert", "{\"member_id\":\"M1\",\"version\":1}");
    char *before = testdb_dump(t, all_facts);
    struct ml_refusal r;
    int applied = -1;
    ml_err err = apply_and_commit(
        t, "guide.bind",
        "{\"member_id\":\"M2\",\"guide_id\":\"G1\",\"until\":1798761600000,\"version\":1}",
        &applied, &r);
    assert_int_equal(err, ML_NOENTRY);
    assert_string_equal(r.code, "member_not_found");
    assert_int_equal(r.http_status, 404);
    char *after = testdb_dump(t, all_facts);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

/* ------------------------------------------------------------------------------------ */
/* Refusals.                                                                              */

struct refuse_case {
    const char *what;
    const char *kind;
    const char *body;
};

static const struct refuse_case refuse_cases[] = {
    {"member without member_id", "member.upsert", "{\"tier\":\"gold\",\"version\":1}"},
    {"member_id empty", "member.upsert", "{\"member_id\":\"\",\"version\":1}"},
    {"member_id 65 bytes", "member.upsert",
     "{\"member_id\":\"MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM\","
     "\"version\":1}"},
    {"member_id a number", "member.upsert", "{\"member_id\":7,\"version\":1}"},
    {"member without version", "member.upsert", "{\"member_id\":\"M9\"}"},
    {"member version 0", "member.upsert", "{\"member_id\":\"M9\",\"version\":0}"},
    {"member version 1.5", "member.upsert", "{\"member_id\":\"M9\",\"version\":1.5}"},
    {"phone_hmac 63 hex digits", "member.upsert",
     "{\"member_id\":\"M9\",\"phone_hmac\":\""
     "0011223344556677889900112233445566778899001122334"
     "45566778899aab\",\"version\":1}"},
    {"phone_hmac 65 hex digits", "member.upsert",
     "{\"member_id\":\"M9\",\"phone_hmac\":\"" HMAC_A "0\",\"version\":1}"},
    {"phone_hmac not hex", "member.upsert",
     "{\"member_id\":\"M9\",\"phone_hmac\":\"zz112233445566778899aabbccddeeff00112233445566778899"
     "aabbccddeeff\",\"version\":1}"},
    {"member status unknown", "member.upsert",
     "{\"member_id\":\"M9\",\"status\":\"deleted\",\"version\":1}"},
    {"plan without plan_until", "member.upsert",
     "{\"member_id\":\"M9\",\"plan\":\"vip\",\"version\":1}"},
    {"negative points", "member.upsert", "{\"member_id\":\"M9\",\"points\":-1,\"version\":1}"},
    {"guide without guide_id", "guide.upsert", "{\"name\":\"x\",\"version\":1}"},
    {"guide status unknown", "guide.upsert",
     "{\"guide_id\":\"G9\",\"status\":\"retired\",\"version\":1}"},
    {"bind without member_id", "guide.bind", "{\"guide_id\":\"G1\",\"until\":1,\"version\":1}"},
    {"bind a guide without until", "guide.bind",
     "{\"member_id\":\"M1\",\"guide_id\":\"G1\",\"version\":2}"},
    {"coupon percent_off 10001 bp", "coupon.grant",
     "{\"coupon_id\":\"K9\",\"kind\":\"percent_off\",\"value\":10001," VALID ",\"version\":1}"},
    {"coupon value 0", "coupon.grant",
     "{\"coupon_id\":\"K9\",\"kind\":\"amount_off\",\"value\":0," VALID ",\"version\":1}"},
    {"coupon valid_to == valid_from", "coupon.grant",
     "{\"coupon_id\":\"K9\",\"kind\":\"amount_off\",\"value\":1,\"valid_from\":1000,"
     "\"valid_to\":1000,\"version\":1}"},
    {"coupon valid_to before valid_from", "coupon.grant",
     "{\"coupon_id\":\"K9\",\"kind\":\"amount_off\",\"value\":1,\"valid_from\":1000,"
     "\"valid_to\":999,\"version\":1}"},
    {"coupon without valid_to", "coupon.grant",
     "{\"coupon_id\":\"K9\",\"kind\":\"amount_off\",\"value\":1,\"valid_from\":1000,"
     "\"version\":1}"},
    {"coupon kind unknown", "coupon.grant",
     "{\"coupon_id\":\"K9\",\"kind\":\"free_item\",\"value\":1," VALID ",\"version\":1}"},
    {"coupon uses 0", "coupon.grant",
     "{\"coupon_id\":\"K9\",\"kind\":\"amount_off\",\"value\":1,\"uses\":0," VALID
     ",\"version\":1}"},
    {"coupon uses 1000001", "coupon.grant",
     "{\"coupon_id\":\"K9\",\"kind\":\"amount_off\",\"value\":1,\"uses\":1000001," VALID
     ",\"version\":1}"},
    {"coupon categories empty", "coupon.grant",
     "{\"coupon_id\":\"K9\",\"kind\":\"amount_off\",\"value\":1,\"categories\":[]," VALID
     ",\"version\":1}"},
    {"coupon categories not strings", "coupon.grant",
     "{\"coupon_id\":\"K9\",\"kind\":\"amount_off\",\"value\":1,\"categories\":[1]," VALID
     ",\"version\":1}"},
    {"coupon offline_ok not a boolean", "coupon.grant",
     "{\"coupon_id\":\"K9\",\"kind\":\"amount_off\",\"value\":1,\"offline_ok\":1," VALID
     ",\"version\":1}"},
    {"revoke without version", "coupon.revoke", "{\"coupon_id\":\"K1\"}"},
    {"campaign valid_to == valid_from", "campaign.upsert",
     "{\"campaign_id\":\"C9\",\"version\":1,\"valid_from\":5,\"valid_to\":5}"},
    {"campaign earn_per_yuan 101", "campaign.upsert",
     "{\"campaign_id\":\"C9\",\"version\":1," VALID ",\"points\":{\"earn_per_yuan\":101}}"},
    {"campaign earn_per_yuan -1", "campaign.upsert",
     "{\"campaign_id\":\"C9\",\"version\":1," VALID ",\"points\":{\"earn_per_yuan\":-1}}"},
    {"campaign redeem_max_bp 10001", "campaign.upsert",
     "{\"campaign_id\":\"C9\",\"version\":1," VALID ",\"points\":{\"redeem_max_bp\":10001}}"},
    {"campaign tier multiplier 50001", "campaign.upsert",
     "{\"campaign_id\":\"C9\",\"version\":1," VALID
     ",\"points\":{\"tier_multiplier_bp\":{\"gold\":50001}}}"},
    {"campaign commission default_bp 10001", "campaign.upsert",
     "{\"campaign_id\":\"C9\",\"version\":1," VALID ",\"commission\":{\"default_bp\":10001}}"},
    {"campaign commission category 10001", "campaign.upsert",
     "{\"campaign_id\":\"C9\",\"version\":1," VALID
     ",\"commission\":{\"categories\":{\"a\":10001}}}"},
    {"campaign points not an object", "campaign.upsert",
     "{\"campaign_id\":\"C9\",\"version\":1," VALID ",\"points\":5}"},
    {"campaign restore_on_refund not a boolean", "campaign.upsert",
     "{\"campaign_id\":\"C9\",\"version\":1," VALID
     ",\"coupons\":{\"restore_on_refund\":\"yes\"}}"},
    {"campaign stores not strings", "campaign.upsert",
     "{\"campaign_id\":\"C9\",\"version\":1," VALID ",\"stores\":[1]}"},
    {"campaign priority 1001", "campaign.upsert",
     "{\"campaign_id\":\"C9\",\"version\":1,\"priority\":1001," VALID "}"},
    {"unknown kind", "member.delete", "{\"member_id\":\"M1\",\"version\":9}"},
    {"body not an object", "member.upsert", "[\"M9\"]"},
};

static void invalid_facts_are_refused_and_write_nothing(void **state)
{
    struct testdb *t = *state;
    /* Something to overwrite, so a stray write would show. */
    testdb_fact(t, "member.upsert", "{\"member_id\":\"M1\",\"tier\":\"gold\",\"version\":1}");
    testdb_fact(t, "guide.upsert", "{\"guide_id\":\"G1\",\"version\":1}");
    testdb_fact(t, "coupon.grant",
                "{\"coupon_id\":\"K1\",\"kind\":\"amount_off\",\"value\":1," VALID
                ",\"version\":1}");
    testdb_fact(t, "campaign.upsert", "{\"campaign_id\":\"C1\",\"version\":1," VALID "}");
    char *before = testdb_dump(t, all_facts);
    for (size_t i = 0; i < ARRAY_LEN(refuse_cases); i++) {
        const struct refuse_case *k = &refuse_cases[i];
        struct ml_refusal r;
        int applied = -1;
        ml_err err = apply_and_commit(t, k->kind, k->body, &applied, &r);
        if (err != ML_PARSE || r.code == NULL || strcmp(r.code, "invalid_request") != 0)
            fail_msg("%s: got %s %s, want ML_PARSE invalid_request", k->what, ml_strerror(err),
                     r.code ? r.code : "-");
        assert_int_equal(r.http_status, 400);
        assert_true(r.message[0] != '\0');
        char *after = testdb_dump(t, all_facts);
        if (strcmp(after, before) != 0)
            fail_msg("%s: the refused fact changed the tables:\n%s\nwas\n%s", k->what, after,
                     before);
        free(after);
    }
    free(before);
}

struct accept_case {
    const char *what;
    const char *kind;
    const char *body;
};

/* The other side of each limit above. */
static const struct accept_case accept_cases[] = {
    {"member_id 64 bytes", "member.upsert",
     "{\"member_id\":\"MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM\","
     "\"version\":1}"},
    {"phone_hmac upper-case hex", "member.upsert",
     "{\"member_id\":\"M8\",\"phone_hmac\":\"00112233445566778899AABBCCDDEEFF00112233445566778899"
     "AABBCCDDEEFF\",\"version\":1}"},
    {"coupon percent_off 10000 bp", "coupon.grant",
     "{\"coupon_id\":\"K8\",\"kind\":\"percent_off\",\"value\":10000," VALID ",\"version\":1}"},
    {"coupon valid for one ms", "coupon.grant",
     "{\"coupon_id\":\"K7\",\"kind\":\"amount_off\",\"value\":1,\"valid_from\":1000,"
     "\"valid_to\":1001,\"version\":1}"},
    {"coupon uses 1000000", "coupon.grant",
     "{\"coupon_id\":\"K6\",\"kind\":\"amount_off\",\"value\":1,\"uses\":1000000," VALID
     ",\"version\":1}"},
    {"campaign earn_per_yuan 100", "campaign.upsert",
     "{\"campaign_id\":\"C8\",\"version\":1," VALID ",\"points\":{\"earn_per_yuan\":100}}"},
    {"campaign commission default_bp 10000", "campaign.upsert",
     "{\"campaign_id\":\"C7\",\"version\":1," VALID ",\"commission\":{\"default_bp\":10000}}"},
    {"campaign tier multiplier 50000", "campaign.upsert",
     "{\"campaign_id\":\"C6\",\"version\":1," VALID
     ",\"points\":{\"tier_multiplier_bp\":{\"gold\":50000}}}"},
    {"campaign priority -1000", "campaign.upsert",
     "{\"campaign_id\":\"C5\",\"version\":1,\"priority\":-1000," VALID "}"},
};

static void facts_at_each_limit_are_accepted(void **state)
{
    struct testdb *t = *state;
    for (size_t i = 0; i < ARRAY_LEN(accept_cases); i++) {
        struct ml_refusal r;
        int applied = -1;
        ml_err err = apply_and_commit(t, accept_cases[i].kind, accept_cases[i].body, &applied, &r);
        if (err != ML_OK || applied != 1)
            fail_msg("%s: got %s %s applied %d", accept_cases[i].what, ml_strerror(err),
                     r.code ? r.code : "-", applied);
    }
    assert_int_equal(testdb_i64(t, "SELECT length(phone_key) FROM members WHERE member_id = 'M8'"),
                     32);
}

static void plaintext_phone_is_never_stored(void **state)
{
    struct testdb *t = *state;
    struct ml_refusal r;
    int applied = -1;
    /* Only the fact-file importer keys a plaintext number; here it must not reach the disk
     * whether the fact is accepted or refused. */
    (void)apply_and_commit(t, "member.upsert",
                           "{\"member_id\":\"M1\",\"phone\":\"13800138000\",\"version\":1}",
                           &applied, &r);
    char *all = testdb_dump(t, "SELECT * FROM members");
    assert_null(strstr(all, "13800138000"));
    assert_null(strstr(all, "8000"));
    free(all);
}

/* Reordering is harmless for revokes too: a revoke that arrives before its grant wins. */
static void coupon_revoke_arriving_before_its_grant_still_revokes(void **state)
{
    struct testdb *t = *state;
    assert_int_equal(apply_version(t, "coupon.revoke", "{\"coupon_id\":\"K\",\"version\":2}"), 1);
    assert_int_equal(
        apply_version(t, "coupon.grant",
                      "{\"coupon_id\":\"K\",\"kind\":\"amount_off\",\"value\":100," VALID
                      ",\"version\":1}"),
        0);
    assert_int_equal(testdb_i64(t, "SELECT count(*) FROM coupons WHERE state = 'available'"), 0);
}

/*
 * A phone number belongs to one member. HQ recycles numbers: a newer member.upsert that
 * carries a key held by another member takes it over; a stale one changes nothing.
 */
static void phone_hmac_given_to_another_member_moves_to_it(void **state)
{
    struct testdb *t = *state;
    testdb_fact(t, "member.upsert",
                "{\"member_id\":\"M1\",\"phone_hmac\":\"" HMAC_A "\",\"version\":1}");
    assert_int_equal(apply_version(t, "member.upsert",
                                   "{\"member_id\":\"M2\",\"phone_hmac\":\"" HMAC_A
                                   "\",\"version\":1}"),
                     1);
    char *got = testdb_dump(t, "SELECT member_id, phone_key IS NOT NULL FROM members ORDER BY 1");
    assert_string_equal(got, "M1|0\nM2|1\n");
    free(got);
    /* A replay of M1's old fact does not take the number back. */
    assert_int_equal(apply_version(t, "member.upsert",
                                   "{\"member_id\":\"M1\",\"phone_hmac\":\"" HMAC_A
                                   "\",\"version\":1}"),
                     0);
    got = testdb_dump(t, "SELECT member_id, phone_key IS NOT NULL FROM members ORDER BY 1");
    assert_string_equal(got, "M1|0\nM2|1\n");
    free(got);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, testdb_setup, testdb_teardown)
    const struct CMUnitTest tests[] = {
        T(each_fact_kind_applies),
        T(older_or_equal_version_never_overwrites_and_newer_does),
        T(member_points_are_replaced_only_by_a_newer_points_version),
        T(member_upsert_keeps_the_guide_binding),
        T(coupon_grant_replayed_after_redemption_does_not_make_it_available),
        T(coupon_revoke_revokes_and_a_later_grant_does_not_undo_it),
        T(guide_bind_for_an_unknown_member_is_member_not_found),
        T(invalid_facts_are_refused_and_write_nothing),
        T(facts_at_each_limit_are_accepted),
        T(plaintext_phone_is_never_stored),
        T(coupon_revoke_arriving_before_its_grant_still_revokes),
        T(phone_hmac_given_to_another_member_moves_to_it),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
