/*
 * hq_outgoing_test: unit tests for hq_outgoing.h, the signed messages HQ sent to stores, on
 * a real SQLite file in a fresh temporary directory per test.
 *
 * Covered: per-store cursors and versions of outgoing messages; campaigns (one current
 * message each, the live ones, the expired ones listed for clearing); marking what the
 * broker acknowledged. Tables are read back with plain SQL on the store's connection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hq_outgoing.h"
#include "hq_store.h"
#include "sqlread.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

struct fx {
    char dir[64];
    char path[128];
    struct hq_store *st;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[512] = "";
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ml-hq-outgoing-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/hq.db", f->dir);
    if (hq_store_open(f->path, HQ_STORE_READWRITE, &f->st, err, sizeof(err)) != ML_OK)
        fail_msg("hq_store_open(%s): %s", f->path, err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];
    hq_store_close(f->st);
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < ARRAY_LEN(suffixes); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

static void assert_dump(struct hq_store *st, const char *sql, const char *want)
{
    sqlread_assert(db_sqlite(hq_store_conn(st)), sql, want);
}

static ml_err put_out(struct hq_store *st, const char *store, int64_t cursor, const char *id,
                      const char *entity, int64_t version)
{
    struct hq_outgoing m = {.store = store,
                            .cursor = cursor,
                            .id = id,
                            .kind = "member.upsert",
                            .entity = entity,
                            .version = version,
                            .topic = "ml/demo/s/x/inbox",
                            .text = "{}",
                            .issued = T0,
                            .expires = T0 + 1000};
    return hq_outgoing_put(st, &m);
}

static int64_t last_cursor(struct hq_store *st, const char *store)
{
    int64_t c = -1;
    assert_int_equal(hq_outgoing_last_cursor(st, store, &c), ML_OK);
    return c;
}

/* Cursors count per store; a taken (store, cursor) or id is refused, which is what keeps a
 * store's sequence gapless when two pushes race. */
static void cursors_are_per_store_and_a_taken_cursor_or_id_is_refused(void **state)
{
    struct fx *f = *state;
    assert_int_equal(last_cursor(f->st, "S001"), 0);
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    assert_int_equal(put_out(f->st, "S001", 1, "m1", "member:M1", 1), ML_OK);
    assert_int_equal(put_out(f->st, "S001", 2, "m2", "member:M2", 1), ML_OK);
    assert_int_equal(put_out(f->st, "S002", 1, "m3", "member:M1", 1), ML_OK);
    assert_int_equal(last_cursor(f->st, "S001"), 2);
    assert_int_equal(last_cursor(f->st, "S002"), 1);
    assert_int_equal(last_cursor(f->st, "S003"), 0);
    assert_int_equal(put_out(f->st, "S001", 2, "m4", "member:M3", 1), ML_STORAGE);
    assert_int_equal(put_out(f->st, "S003", 1, "m1", "member:M3", 1), ML_STORAGE);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    assert_int_equal(last_cursor(f->st, "S001"), 2);
    assert_int_equal(last_cursor(f->st, "S003"), 0);

    /* A rolled back push gives its cursors back. */
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    assert_int_equal(put_out(f->st, "S001", 3, "m5", "member:M5", 1), ML_OK);
    assert_int_equal(last_cursor(f->st, "S001"), 3);
    hq_store_rollback(f->st);
    assert_int_equal(last_cursor(f->st, "S001"), 2);
}

static void last_version_is_per_entity_and_per_store(void **state)
{
    struct fx *f = *state;
    int64_t v = -1;
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    assert_int_equal(put_out(f->st, "S001", 1, "m1", "member:M1", 5), ML_OK);
    assert_int_equal(put_out(f->st, "S002", 1, "m2", "member:M1", 9), ML_OK);
    assert_int_equal(put_out(f->st, "S001", 2, "m3", "coupon:C1", 3), ML_OK);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    static const struct {
        const char *store; /* NULL: any store */
        const char *entity;
        int64_t want;
    } cases[] = {
        {NULL, "member:M1", 9},   {NULL, "coupon:C1", 3},   {NULL, "member:M2", 0},
        {"S001", "member:M1", 5}, {"S002", "member:M1", 9}, {"S002", "coupon:C1", 0},
        {"S003", "member:M1", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        v = -1;
        if (cases[i].store == NULL)
            assert_int_equal(hq_outgoing_last_version(f->st, cases[i].entity, &v), ML_OK);
        else
            assert_int_equal(
                hq_outgoing_last_version_at(f->st, cases[i].store, cases[i].entity, &v), ML_OK);
        if (v != cases[i].want)
            fail_msg("case %zu: %s at %s: %lld, want %lld", i, cases[i].entity,
                     cases[i].store ? cases[i].store : "any", (long long)v,
                     (long long)cases[i].want);
    }
}

static ml_err put_campaign(struct hq_store *st, const char *campaign_id, const char *id,
                           int64_t version, const char *text, int64_t expires)
{
    struct hq_outgoing m = {.store = "*",
                            .cursor = 0,
                            .id = id,
                            .kind = "campaign.upsert",
                            .entity = "campaign:x",
                            .version = version,
                            .topic = "ml/demo/hq/campaign/x",
                            .text = text,
                            .issued = T0,
                            .expires = expires};
    return hq_outgoing_put_campaign(st, campaign_id, &m);
}

/* One current message per campaign; live ones are those not expired at now. */
static void campaigns_keep_one_current_message_and_count_live_ones(void **state)
{
    struct fx *f = *state;
    int64_t v = -1, n = -1, bytes = -1;
    assert_int_equal(hq_outgoing_campaign_version(f->st, "c1", &v), ML_OK);
    assert_int_equal(v, 0);
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    assert_int_equal(put_campaign(f->st, "c1", "id-1", 3, "abc", T0 + 1000), ML_OK);
    assert_int_equal(put_campaign(f->st, "c2", "id-2", 1, "\xE7\x8E\x8B", T0 + 2000), ML_OK);
    assert_int_equal(put_campaign(f->st, "c3", "id-3", 1, "zz", T0), ML_OK); /* expired */
    assert_int_equal(hq_outgoing_mark_published(f->st, "id-1", T0 + 1), ML_OK);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    assert_int_equal(hq_outgoing_campaign_version(f->st, "c1", &v), ML_OK);
    assert_int_equal(v, 3);
    assert_dump(f->st, "SELECT published_at FROM outgoing_campaigns WHERE campaign_id = 'c1'",
                "1767225600001\n");

    /* Bytes are the texts' UTF-8 bytes, not characters. */
    assert_int_equal(hq_outgoing_live_campaigns(f->st, T0, NULL, &n, &bytes), ML_OK);
    assert_int_equal(n, 2);
    assert_int_equal(bytes, 3 + 3);
    assert_int_equal(hq_outgoing_live_campaigns(f->st, T0, "c1", &n, &bytes), ML_OK);
    assert_int_equal(n, 1);
    assert_int_equal(bytes, 3);
    assert_int_equal(hq_outgoing_live_campaigns(f->st, T0 + 1000, NULL, &n, &bytes), ML_OK);
    assert_int_equal(n, 1);

    /* A new version replaces the current message, unpublished again. */
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    assert_int_equal(put_campaign(f->st, "c1", "id-4", 4, "abcd", T0 + 1000), ML_OK);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    assert_dump(f->st,
                "SELECT campaign_id, version, id, text, published_at FROM outgoing_campaigns"
                " WHERE campaign_id = 'c1'",
                "c1|4|id-4|abcd|NULL\n");
}

static void count_topic(void *arg, const char *topic)
{
    int *n = arg;
    assert_string_equal(topic, "ml/demo/hq/campaign/x");
    (*n)++;
}

/* serve clears the retained copies of campaign messages whose expiry has come. */
static void expired_campaign_messages_are_listed_for_clearing(void **state)
{
    struct fx *f = *state;
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    assert_int_equal(put_campaign(f->st, "c1", "id-1", 1, "a", T0 + 1000), ML_OK);
    assert_int_equal(put_campaign(f->st, "c2", "id-2", 1, "b", T0), ML_OK);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    static const struct {
        int64_t now;
        int want;
    } cases[] = {{T0 - 1, 0}, {T0, 1}, {T0 + 999, 1}, {T0 + 1000, 2}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = 0;
        assert_int_equal(hq_outgoing_expired_campaigns(f->st, cases[i].now, count_topic, &n),
                         ML_OK);
        if (n != cases[i].want)
            fail_msg("at T0%+lld: %d expired, want %d", (long long)(cases[i].now - T0), n,
                     cases[i].want);
    }
}

static void mark_published_sets_the_time_once(void **state)
{
    struct fx *f = *state;
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    assert_int_equal(put_out(f->st, "S001", 1, "m1", "member:M1", 1), ML_OK);
    assert_int_equal(put_out(f->st, "S001", 2, "m2", "member:M2", 1), ML_OK);
    assert_int_equal(hq_outgoing_mark_published(f->st, "m1", T0 + 10), ML_OK);
    assert_int_equal(hq_outgoing_mark_published(f->st, "m1", T0 + 20), ML_OK);
    assert_int_equal(hq_outgoing_mark_published(f->st, "nobody", T0 + 20), ML_OK);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    assert_dump(f->st, "SELECT id, published_at FROM outgoing ORDER BY cursor",
                "m1|1767225600010\nm2|NULL\n");
}

/* Appends each store a walk hands out to a comma-separated list. */
static ml_err list_store(void *arg, const char *store)
{
    char *list = arg;
    size_t n = strlen(list);
    snprintf(list + n, 128 - n, "%s%s", n ? "," : "", store);
    return ML_OK;
}

/* The stores sent to come once each, in byte order, without the campaigns' "*", the first
 * `max` of them: all at the limit (max = their count), one fewer one past it. */
static void stores_sent_to_are_distinct_in_byte_order_and_capped(void **state)
{
    struct fx *f = *state;
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    assert_int_equal(put_out(f->st, "S002", 1, "m1", "member:M1", 1), ML_OK);
    assert_int_equal(put_out(f->st, "S001", 1, "m2", "member:M1", 1), ML_OK);
    assert_int_equal(put_out(f->st, "S001", 2, "m3", "member:M2", 1), ML_OK);
    assert_int_equal(put_out(f->st, "S010", 1, "m4", "member:M1", 1), ML_OK);
    assert_int_equal(put_out(f->st, "*", 0, "m5", "campaign:c1", 1), ML_OK);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    char list[128] = "";
    assert_int_equal(hq_outgoing_stores(f->st, 3, list_store, list), ML_OK);
    assert_string_equal(list, "S001,S002,S010");
    list[0] = '\0';
    assert_int_equal(hq_outgoing_stores(f->st, 2, list_store, list), ML_OK);
    assert_string_equal(list, "S001,S002");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(cursors_are_per_store_and_a_taken_cursor_or_id_is_refused),
        T(last_version_is_per_entity_and_per_store),
        T(expired_campaign_messages_are_listed_for_clearing),
        T(campaigns_keep_one_current_message_and_count_live_ones),
        T(mark_published_sets_the_time_once),
        T(stores_sent_to_are_distinct_in_byte_order_and_capped),
    };
#undef T
    return cmocka_run_group_tests_name("hq_outgoing", tests, NULL, NULL);
}
