/*
 * trust_test: unit tests for trust.h: trusted time from HQ stamps plus the boot clock, what
 * a restart in the same boot keeps and what a reboot loses, and that time never goes back.
 * The boot clock is a variable the tests move; the database is a real store (testdb.h).
 */
#include "testdb.h"

#include "clock.h"
#include "trust.h"

#define BOOT_A "3f1c2a9e-5b7d-4c1e-9a2b-0d6e8f7a1b2c"
#define BOOT_B "7e2d1c0b-4a3f-4e5d-8c9b-1a2b3c4d5e6f"
#define HQ_T INT64_C(1767225600000) /* an HQ stamp */
#define SEC INT64_C(1000)

static int64_t boot_clock;

static int64_t fake_boot_ms(void)
{
    return boot_clock;
}

static void open_trust(struct testdb *t, struct trust *tr, const char *boot_id)
{
    assert_int_equal(trust_open_with(tr, t->db, fake_boot_ms, boot_id), ML_OK);
}

/* trust_hq_time in its own transaction, as the inbox applies a message. */
static void heard(struct testdb *t, struct trust *tr, int64_t issued)
{
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(trust_hq_time(tr, t->db, issued), ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);
}

static int64_t now_of(const struct trust *tr)
{
    int64_t ms = -1;
    if (!trust_now_ms(tr, &ms))
        fail_msg("no trusted time");
    return ms;
}

static void no_trusted_time_before_hq_is_heard(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    boot_clock = 5 * SEC;
    open_trust(t, &tr, BOOT_A);
    int64_t ms = 42;
    assert_int_equal(trust_now_ms(&tr, &ms), 0);
    assert_int_equal(ms, 42);
    assert_int_equal(trust_since_contact_ms(&tr), -1);
    struct trust_reading rd;
    trust_read(&tr, &rd);
    assert_int_equal(rd.trusted, 0);
    assert_int_equal(rd.since_contact_ms, -1);
}

static void null_trust_is_untrusted(void **state)
{
    (void)state;
    int64_t ms = 42;
    assert_int_equal(trust_now_ms(NULL, &ms), 0);
    assert_int_equal(ms, 42);
    assert_int_equal(trust_since_contact_ms(NULL), -1);
}

static void trusted_time_is_the_hq_stamp_plus_boot_clock_elapsed(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    boot_clock = 10 * SEC;
    open_trust(t, &tr, BOOT_A);
    heard(t, &tr, HQ_T);
    assert_int_equal(now_of(&tr), HQ_T);
    assert_int_equal(trust_since_contact_ms(&tr), 0);
    boot_clock += 45 * SEC;
    assert_int_equal(now_of(&tr), HQ_T + 45 * SEC);
    assert_int_equal(trust_since_contact_ms(&tr), 45 * SEC);
    struct trust_reading rd;
    trust_read(&tr, &rd);
    assert_int_equal(rd.contact_ms, HQ_T);
    assert_int_equal(rd.now_ms, HQ_T + 45 * SEC);
    /* The wall clock of the ctx plays no part: moving it changes nothing. */
    testdb_clock += TESTDB_DAY;
    assert_int_equal(now_of(&tr), HQ_T + 45 * SEC);
}

static void stamp_behind_the_estimate_never_moves_time_back_but_is_contact(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    boot_clock = 0;
    open_trust(t, &tr, BOOT_A);
    heard(t, &tr, HQ_T);
    boot_clock = 60 * SEC; /* estimate HQ_T + 60 s; HQ's next stamp says + 30 s */
    heard(t, &tr, HQ_T + 30 * SEC);
    assert_int_equal(now_of(&tr), HQ_T + 60 * SEC);
    assert_int_equal(trust_since_contact_ms(&tr), 0);
    boot_clock += 1;
    assert_int_equal(now_of(&tr), HQ_T + 60 * SEC + 1);
}

static void stamp_ahead_of_the_estimate_moves_time_forward(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    boot_clock = 0;
    open_trust(t, &tr, BOOT_A);
    heard(t, &tr, HQ_T);
    boot_clock = 30 * SEC;
    heard(t, &tr, HQ_T + 90 * SEC);
    assert_int_equal(now_of(&tr), HQ_T + 90 * SEC);
}

static void stamp_older_than_the_stale_limit_is_neither_time_nor_contact(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    boot_clock = 0;
    open_trust(t, &tr, BOOT_A);
    heard(t, &tr, HQ_T);
    boot_clock = 20 * 60 * SEC; /* estimate HQ_T + 20 min */
    int64_t est = HQ_T + 20 * 60 * SEC;
    heard(t, &tr, est - TRUST_STALE_MS - 1); /* one past the limit */
    assert_int_equal(trust_since_contact_ms(&tr), 20 * 60 * SEC);
    assert_int_equal(now_of(&tr), est);
    heard(t, &tr, est - TRUST_STALE_MS); /* at the limit */
    assert_int_equal(trust_since_contact_ms(&tr), 0);
    assert_int_equal(now_of(&tr), est);
}

static void restart_in_the_same_boot_keeps_trusted_time(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    boot_clock = 100 * SEC;
    open_trust(t, &tr, BOOT_A);
    heard(t, &tr, HQ_T);
    boot_clock += 7 * SEC;
    testdb_reopen(t);
    struct trust again;
    open_trust(t, &again, BOOT_A);
    assert_int_equal(now_of(&again), HQ_T + 7 * SEC);
    assert_int_equal(trust_since_contact_ms(&again), 7 * SEC);
}

static void reboot_loses_trusted_time_until_hq_is_heard_again(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    boot_clock = 100 * SEC;
    open_trust(t, &tr, BOOT_A);
    heard(t, &tr, HQ_T);
    testdb_reopen(t);
    boot_clock = 3 * SEC; /* a new boot starts its clock over */
    struct trust after;
    open_trust(t, &after, BOOT_B);
    int64_t ms;
    assert_int_equal(trust_now_ms(&after, &ms), 0);
    assert_int_equal(trust_since_contact_ms(&after), -1);
    /* A stamp older than the newest HQ time ever seen is a replay: ignored. */
    heard(t, &after, HQ_T - 1);
    assert_int_equal(trust_now_ms(&after, &ms), 0);
    heard(t, &after, HQ_T);
    assert_int_equal(now_of(&after), HQ_T);
    assert_int_equal(trust_since_contact_ms(&after), 0);
}

static void unknown_boot_id_restores_nothing(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    boot_clock = 100 * SEC;
    open_trust(t, &tr, NULL);
    heard(t, &tr, HQ_T);
    assert_int_equal(now_of(&tr), HQ_T); /* trusted for this run */
    testdb_reopen(t);
    struct trust again;
    open_trust(t, &again, NULL);
    assert_int_equal(trust_since_contact_ms(&again), -1);
}

#define HEX_64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void boot_id_of_64_characters_restores_and_one_more_restores_nothing(void **state)
{
    struct testdb *t = *state;
    static const struct {
        const char *id;
        int restored;
    } cases[] = {{HEX_64, 1}, {HEX_64 "0", 0}, {"3F1C2A9E", 0}, {"", 0}};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct trust tr, again;
        boot_clock = 100 * SEC;
        open_trust(t, &tr, cases[i].id);
        heard(t, &tr, HQ_T + (int64_t)i);
        open_trust(t, &again, cases[i].id);
        if ((trust_since_contact_ms(&again) == 0) != cases[i].restored)
            fail_msg("boot id \"%s\": restored %d, want %d", cases[i].id,
                     trust_since_contact_ms(&again) == 0, cases[i].restored);
    }
}

static void boot_clock_behind_the_stored_anchor_is_not_trusted(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    boot_clock = 100 * SEC;
    open_trust(t, &tr, BOOT_A);
    heard(t, &tr, HQ_T);
    boot_clock = 100 * SEC - 1;
    struct trust again;
    open_trust(t, &again, BOOT_A);
    assert_int_equal(trust_since_contact_ms(&again), -1);
    boot_clock = 100 * SEC;
    open_trust(t, &again, BOOT_A);
    assert_int_equal(trust_since_contact_ms(&again), 0);
}

static void contact_rolled_back_with_its_transaction_is_not_restored(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    boot_clock = 100 * SEC;
    open_trust(t, &tr, BOOT_A);
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(trust_hq_time(&tr, t->db, HQ_T), ML_OK);
    db_rollback(t->db);
    struct trust again;
    open_trust(t, &again, BOOT_A);
    assert_int_equal(trust_since_contact_ms(&again), -1);
}

static void real_boot_clock_and_boot_id_keep_trust_across_a_reopen(void **state)
{
    struct testdb *t = *state;
    struct trust tr;
    assert_int_equal(trust_open(&tr, t->db), ML_OK);
    assert_true(tr.boot_id[0] != '\0'); /* Linux always has one */
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(trust_hq_time(&tr, t->db, HQ_T), ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);
    int64_t b0 = clock_boot_ms();
    testdb_reopen(t);
    struct trust again;
    assert_int_equal(trust_open(&again, t->db), ML_OK);
    int64_t ms = 0, since = trust_since_contact_ms(&again);
    assert_int_equal(trust_now_ms(&again, &ms), 1);
    assert_true(since >= 0 && since <= clock_boot_ms() - b0 + 1000);
    assert_true(ms >= HQ_T && ms <= HQ_T + since + 1000);
}

#define T(f) cmocka_unit_test_setup_teardown(f, testdb_setup, testdb_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(no_trusted_time_before_hq_is_heard),
        cmocka_unit_test(null_trust_is_untrusted),
        T(trusted_time_is_the_hq_stamp_plus_boot_clock_elapsed),
        T(stamp_behind_the_estimate_never_moves_time_back_but_is_contact),
        T(stamp_ahead_of_the_estimate_moves_time_forward),
        T(stamp_older_than_the_stale_limit_is_neither_time_nor_contact),
        T(restart_in_the_same_boot_keeps_trusted_time),
        T(reboot_loses_trusted_time_until_hq_is_heard_again),
        T(unknown_boot_id_restores_nothing),
        T(boot_id_of_64_characters_restores_and_one_more_restores_nothing),
        T(boot_clock_behind_the_stored_anchor_is_not_trusted),
        T(contact_rolled_back_with_its_transaction_is_not_restored),
        T(real_boot_clock_and_boot_id_keep_trust_across_a_reopen),
    };
    return cmocka_run_group_tests_name("trust", tests, NULL, NULL);
}
