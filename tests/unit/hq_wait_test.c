/*
 * hq_wait_test: unit tests for hq_wait.h, the list of acks and settlement messages that
 * `serve` holds back until their commit's WAL flush is done.
 *
 * Covered: entries come out in the order they went in, each once its generation is flushed;
 * the list takes HQ_WAIT_MAX settlement messages and refuses the one past it (its payload
 * freed by the list: ASan's leak check in `make SANITIZE=1 unit-test` sees it otherwise),
 * without disturbing what waits; acks are taken at the limit and past it (a committed
 * burst's acks are never refused), and released in order with the rest; room comes back as
 * entries are released; the payloads still waiting are freed with the list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hq_wait.h"

#define ACKS_PAST 8 /* acks added past HQ_WAIT_MAX */

/* What a release handed out, in order. */
struct seen {
    char topic[HQ_WAIT_MAX + ACKS_PAST][24];
    char payload[HQ_WAIT_MAX + ACKS_PAST][24];
    char id[HQ_WAIT_MAX + ACKS_PAST][8];
    uint64_t gen[HQ_WAIT_MAX + ACKS_PAST];
    size_t n;
};

static void take(void *arg, const struct hq_wait_item *item)
{
    struct seen *s = arg;
    assert_true(s->n < HQ_WAIT_MAX + ACKS_PAST);
    assert_int_equal(item->len, strlen(item->payload));
    snprintf(s->topic[s->n], sizeof(s->topic[0]), "%.23s", item->topic);
    snprintf(s->payload[s->n], sizeof(s->payload[0]), "%.23s", item->payload);
    snprintf(s->id[s->n], sizeof(s->id[0]), "%.7s", item->id);
    s->gen[s->n++] = item->gen;
}

/* Adds entry i: a settlement message with `id`, or an ack when id is NULL. */
static ml_err add(struct hq_wait *w, uint64_t gen, size_t i, const char *id)
{
    char topic[24], payload[24];
    snprintf(topic, sizeof(topic), "t/%zu", i);
    snprintf(payload, sizeof(payload), "p%zu", i);
    char *copy = strdup(payload);
    assert_non_null(copy);
    return id ? hq_wait_add_msg(w, gen, topic, copy, strlen(copy), id)
              : hq_wait_add_ack(w, gen, topic, copy, strlen(copy));
}

static struct seen *seen_new(void)
{
    struct seen *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    return s;
}

static void release_hands_out_each_flushed_generation_in_order(void **state)
{
    (void)state;
    static const struct {
        uint64_t gen;
        const char *id;
    } in[] = {{1, NULL}, {1, "m1"}, {2, NULL}, {3, "m3"}, {3, NULL}};
    struct hq_wait *w = NULL;
    struct seen *s = seen_new();
    assert_int_equal(hq_wait_new(&w), ML_OK);
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        assert_int_equal(add(w, in[i].gen, i, in[i].id), ML_OK);

    hq_wait_release(w, 0, take, s); /* nothing flushed yet */
    assert_int_equal(s->n, 0);
    hq_wait_release(w, 1, take, s);
    assert_int_equal(s->n, 2);
    assert_int_equal(hq_wait_count(w), 3);
    hq_wait_release(w, 3, take, s);
    assert_int_equal(s->n, 5);
    assert_int_equal(hq_wait_count(w), 0);
    for (size_t i = 0; i < s->n; i++) {
        char want[24];
        snprintf(want, sizeof(want), "t/%zu", i);
        assert_string_equal(s->topic[i], want);
        snprintf(want, sizeof(want), "p%zu", i);
        assert_string_equal(s->payload[i], want);
        assert_string_equal(s->id[i], in[i].id ? in[i].id : "");
        assert_int_equal(s->gen[i], in[i].gen);
    }
    hq_wait_free(w);
    free(s);
}

/* HQ_WAIT_MAX entries wait; the settlement message past them is refused and freed, and what
 * waits is intact. */
static void list_takes_hq_wait_max_messages_and_refuses_one_past(void **state)
{
    (void)state;
    struct hq_wait *w = NULL;
    struct seen *s = seen_new();
    assert_int_equal(hq_wait_new(&w), ML_OK);
    for (size_t i = 0; i < HQ_WAIT_MAX - 1; i++)
        if (add(w, 1 + i / 100, i, i % 2 ? "m" : NULL) != ML_OK)
            fail_msg("entry %zu of %d refused", i + 1, HQ_WAIT_MAX);
    assert_int_equal(hq_wait_room(w), 1);
    assert_int_equal(add(w, 99, HQ_WAIT_MAX - 1, "m"), ML_OK); /* the limit */
    assert_int_equal(hq_wait_count(w), HQ_WAIT_MAX);
    assert_int_equal(hq_wait_room(w), 0);

    assert_int_equal(add(w, 99, HQ_WAIT_MAX, "m1"), ML_LIMIT); /* one past */
    assert_int_equal(add(w, 1, HQ_WAIT_MAX + 1, "m2"), ML_LIMIT);
    assert_int_equal(hq_wait_count(w), HQ_WAIT_MAX);

    hq_wait_release(w, UINT64_MAX, take, s);
    assert_int_equal(s->n, HQ_WAIT_MAX);
    assert_string_equal(s->payload[0], "p0");
    char last[24];
    snprintf(last, sizeof(last), "p%d", HQ_WAIT_MAX - 1);
    assert_string_equal(s->payload[HQ_WAIT_MAX - 1], last);
    assert_int_equal(hq_wait_count(w), 0);
    hq_wait_free(w);
    free(s);
}

/* A committed burst's acks are taken at the limit and past it, and come out in order with
 * what waited; a settlement message is still refused while the list is over. */
static void acks_are_taken_at_and_past_hq_wait_max(void **state)
{
    (void)state;
    struct hq_wait *w = NULL;
    struct seen *s = seen_new();
    assert_int_equal(hq_wait_new(&w), ML_OK);
    for (size_t i = 0; i < HQ_WAIT_MAX - 1; i++)
        assert_int_equal(add(w, 1, i, "m"), ML_OK);
    for (size_t i = HQ_WAIT_MAX - 1; i < HQ_WAIT_MAX + ACKS_PAST; i++)
        if (add(w, 2, i, NULL) != ML_OK)
            fail_msg("ack %zu refused", i + 1);
    assert_int_equal(hq_wait_count(w), HQ_WAIT_MAX + ACKS_PAST);
    assert_int_equal(hq_wait_room(w), 0);
    assert_int_equal(add(w, 2, 0, "m9"), ML_LIMIT);

    hq_wait_release(w, 1, take, s);
    assert_int_equal(s->n, HQ_WAIT_MAX - 1);
    assert_int_equal(hq_wait_room(w), HQ_WAIT_MAX - 1 - ACKS_PAST);
    hq_wait_release(w, 2, take, s);
    assert_int_equal(s->n, HQ_WAIT_MAX + ACKS_PAST);
    for (size_t i = 0; i < s->n; i++) {
        char want[24];
        snprintf(want, sizeof(want), "p%zu", i);
        assert_string_equal(s->payload[i], want);
        assert_string_equal(s->id[i], i < HQ_WAIT_MAX - 1 ? "m" : "");
    }
    assert_int_equal(hq_wait_count(w), 0);
    hq_wait_free(w);
    free(s);
}

/* A release makes room again: the list is bounded, not used up. */
static void released_entries_make_room_again(void **state)
{
    (void)state;
    struct hq_wait *w = NULL;
    struct seen *s = seen_new();
    assert_int_equal(hq_wait_new(&w), ML_OK);
    assert_int_equal(hq_wait_room(w), HQ_WAIT_MAX);
    for (size_t i = 0; i < HQ_WAIT_MAX; i++)
        assert_int_equal(add(w, i < 10 ? 1 : 2, i, "m"), ML_OK);
    hq_wait_release(w, 1, take, s);
    assert_int_equal(s->n, 10);
    assert_int_equal(hq_wait_room(w), 10);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(add(w, 3, HQ_WAIT_MAX + i, "m"), ML_OK);
    assert_int_equal(add(w, 3, 2 * HQ_WAIT_MAX, "m"), ML_LIMIT);
    hq_wait_free(w); /* frees the HQ_WAIT_MAX payloads still waiting */
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(release_hands_out_each_flushed_generation_in_order),
        cmocka_unit_test(list_takes_hq_wait_max_messages_and_refuses_one_past),
        cmocka_unit_test(acks_are_taken_at_and_past_hq_wait_max),
        cmocka_unit_test(released_entries_make_room_again),
    };
    return cmocka_run_group_tests_name("hq_wait", tests, NULL, NULL);
}
