/*
 * outbox_test: unit tests for outbox.h on a real database (testdb.h).
 *
 * A batch is framed from the stored envelopes within max_events and max_bytes: a budget of
 * exactly the framed size of two events holds both, one byte less holds only the first (and
 * the batch is then within the budget, which HQ's own limit relies on); a single event larger
 * than the budget still goes, alone; the count limit holds at the limit and one past; a batch
 * rebuilt for resending keeps its id and range, and acked events leave it.
 */
#include "testdb.h"

#include "outbox.h"

static void append(struct testdb *t, int i)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"n\":%d,\"pad\":\"%.*s\"}", i, 10 + i, "xxxxxxxxxxxxxxxxxxxx");
    assert_int_equal(db_begin(t->db), ML_OK);
    assert_int_equal(
        outbox_append(t->db, "S001", "T01", testdb_clock, "test.event", testdb_json(body)), ML_OK);
    assert_int_equal(db_commit(t->db), ML_OK);
}

static void batch(struct testdb *t, int max_events, size_t max_bytes, struct outbox_batch *b)
{
    assert_int_equal(outbox_batch_next(t->db, 0, max_events, max_bytes, testdb_clock, b), ML_OK);
}

static void byte_budget_holds_at_the_framed_size_and_one_byte_less(void **state)
{
    struct testdb *t = *state;
    append(t, 1);
    append(t, 2);
    struct outbox_batch all, one, at, under;
    batch(t, 10, SIZE_MAX, &all);
    assert_int_equal(all.nevents, 2);
    batch(t, 1, SIZE_MAX, &one);
    assert_int_equal(one.nevents, 1);
    assert_true(one.len < all.len);

    batch(t, 10, all.len, &at); /* exactly the two events framed */
    assert_int_equal(at.nevents, 2);
    assert_int_equal(at.len, all.len);
    batch(t, 10, all.len - 1, &under); /* one byte short: the second waits */
    assert_int_equal(under.nevents, 1);
    assert_int_equal(under.last_seq, 1);
    assert_int_equal(under.len, one.len);
    assert_true(under.len <= all.len - 1);

    struct outbox_batch tiny;
    batch(t, 10, 16, &tiny); /* an event larger than the budget goes alone */
    assert_int_equal(tiny.nevents, 1);
    assert_non_null(strstr(tiny.payload, "\"n\":1"));
    outbox_batch_release(&all);
    outbox_batch_release(&one);
    outbox_batch_release(&at);
    outbox_batch_release(&under);
    outbox_batch_release(&tiny);
}

static void event_count_holds_at_the_limit_and_one_past(void **state)
{
    struct testdb *t = *state;
    for (int i = 1; i <= 4; i++)
        append(t, i);
    struct outbox_batch b3, b4;
    batch(t, 3, SIZE_MAX, &b3);
    assert_int_equal(b3.nevents, 3);
    assert_int_equal(b3.first_seq, 1);
    assert_int_equal(b3.last_seq, 3);
    batch(t, 4, SIZE_MAX, &b4);
    assert_int_equal(b4.nevents, 4);
    outbox_batch_release(&b3);
    outbox_batch_release(&b4);

    struct outbox_batch empty;
    assert_int_equal(outbox_batch_next(t->db, 4, 10, SIZE_MAX, testdb_clock, &empty), ML_OK);
    assert_int_equal(empty.nevents, 0);
    assert_null(empty.payload);
    assert_string_equal(empty.id, ""); /* no id is drawn for nothing */
}

static void resent_batch_keeps_its_id_and_range_and_loses_acked_events(void **state)
{
    struct testdb *t = *state;
    for (int i = 1; i <= 3; i++)
        append(t, i);
    struct outbox_batch b, again;
    batch(t, 10, SIZE_MAX, &b);
    assert_int_equal(b.nevents, 3);
    char ids[1][OUTBOX_EVENT_ID_LEN + 1];
    char *id = sqlread_dump(db_sqlite(t->db), "SELECT event_id FROM outbox WHERE seq = 2");
    assert_int_equal(strlen(id), OUTBOX_EVENT_ID_LEN + 1); /* the id and '\n' */
    memcpy(ids[0], id, OUTBOX_EVENT_ID_LEN);
    ids[0][OUTBOX_EVENT_ID_LEN] = '\0';
    free(id);
    size_t deleted = 0;
    assert_int_equal(outbox_ack(t->db, ids, 1, &deleted), ML_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(outbox_depth(t->db), 2);
    assert_int_equal(outbox_batch_again(t->db, &b, &again), ML_OK);
    assert_string_equal(again.id, b.id);
    assert_int_equal(again.nevents, 2);
    assert_int_equal(again.first_seq, 1);
    assert_int_equal(again.last_seq, 3);
    assert_null(strstr(again.payload, "\"seq\":2,"));
    outbox_batch_release(&b);
    outbox_batch_release(&again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(byte_budget_holds_at_the_framed_size_and_one_byte_less,
                                        testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(event_count_holds_at_the_limit_and_one_past, testdb_setup,
                                        testdb_teardown),
        cmocka_unit_test_setup_teardown(resent_batch_keeps_its_id_and_range_and_loses_acked_events,
                                        testdb_setup, testdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
