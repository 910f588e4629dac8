/*
 * topic_test: unit tests for topic.h, the MQTT topics of docs/protocol.md.
 *
 * Every builder is checked against the topic written out by hand from the table at the top
 * of topic.h, also with ids at TOPIC_ID_MAX (the topic must still fit TOPIC_MAX). The readers
 * are checked on the topics they must take and on near misses: another brand or leaf, a
 * level too many or empty, an id one byte past the limit, wildcards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "topic.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* 64 bytes: an id at TOPIC_ID_MAX. */
#define ID64 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
#define ID65 ID64 "x"

enum builder { B_EV, B_ACK, B_STATUS, B_INBOX, B_CAMPAIGN, B_TIME, B_CAMPAIGNS, B_EVENTS };

struct build_case {
    enum builder b;
    const char *brand, *store, *terminal, *campaign, *group;
    const char *want;
};

static const struct build_case builds[] = {
    {B_EV, "acme", "S001", "T01", NULL, NULL, "ml/acme/s/S001/T01/ev"},
    {B_ACK, "acme", "S001", "T01", NULL, NULL, "ml/acme/s/S001/T01/ack"},
    {B_STATUS, "acme", "S001", "T01", NULL, NULL, "ml/acme/s/S001/T01/status"},
    {B_INBOX, "acme", "S001", NULL, NULL, NULL, "ml/acme/s/S001/inbox"},
    {B_CAMPAIGN, "acme", NULL, NULL, "C42", NULL, "ml/acme/hq/campaign/C42"},
    {B_CAMPAIGN, "acme", NULL, NULL, "spring.2026", NULL, "ml/acme/hq/campaign/spring.2026"},
    {B_TIME, "acme", NULL, NULL, NULL, NULL, "ml/acme/hq/time"},
    {B_CAMPAIGNS, "acme", NULL, NULL, NULL, NULL, "ml/acme/hq/campaign/+"},
    {B_EVENTS, "acme", "S001", NULL, NULL, NULL, "ml/acme/s/S001/+/ev"},
    {B_EVENTS, "acme", NULL, NULL, NULL, NULL, "ml/acme/s/+/+/ev"},
    {B_EVENTS, "acme", "S001", NULL, NULL, "", "ml/acme/s/S001/+/ev"},
    {B_EVENTS, "acme", NULL, NULL, NULL, "", "ml/acme/s/+/+/ev"},
    {B_EVENTS, "acme", "S001", NULL, NULL, "hq", "$share/hq/ml/acme/s/S001/+/ev"},
    {B_EVENTS, "acme", NULL, NULL, NULL, "hq-ingest", "$share/hq-ingest/ml/acme/s/+/+/ev"},
    /* every id at TOPIC_ID_MAX still fits TOPIC_MAX */
    {B_STATUS, ID64, ID64, ID64, NULL, NULL, "ml/" ID64 "/s/" ID64 "/" ID64 "/status"},
    {B_EV, ID64, ID64, ID64, NULL, NULL, "ml/" ID64 "/s/" ID64 "/" ID64 "/ev"},
    {B_INBOX, ID64, ID64, NULL, NULL, NULL, "ml/" ID64 "/s/" ID64 "/inbox"},
    {B_CAMPAIGN, ID64, NULL, NULL, ID64, NULL, "ml/" ID64 "/hq/campaign/" ID64},
    {B_TIME, ID64, NULL, NULL, NULL, NULL, "ml/" ID64 "/hq/time"},
    {B_CAMPAIGNS, ID64, NULL, NULL, NULL, NULL, "ml/" ID64 "/hq/campaign/+"},
    {B_EVENTS, ID64, ID64, NULL, NULL, ID64, "$share/" ID64 "/ml/" ID64 "/s/" ID64 "/+/ev"},
};

static void build(const struct build_case *t, char *buf, size_t len)
{
    switch (t->b) {
    case B_EV:
        topic_terminal(buf, len, t->brand, t->store, t->terminal, TOPIC_EV);
        break;
    case B_ACK:
        topic_terminal(buf, len, t->brand, t->store, t->terminal, TOPIC_ACK);
        break;
    case B_STATUS:
        topic_terminal(buf, len, t->brand, t->store, t->terminal, TOPIC_STATUS);
        break;
    case B_INBOX:
        topic_inbox(buf, len, t->brand, t->store);
        break;
    case B_CAMPAIGN:
        topic_campaign(buf, len, t->brand, t->campaign);
        break;
    case B_TIME:
        topic_time(buf, len, t->brand);
        break;
    case B_CAMPAIGNS:
        topic_campaigns_filter(buf, len, t->brand);
        break;
    case B_EVENTS:
        topic_events_filter(buf, len, t->brand, t->store, t->group);
        break;
    }
}

static void builders_write_the_documented_topics(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(builds); i++) {
        const struct build_case *t = &builds[i];
        char buf[TOPIC_MAX + 8];
        memset(buf, 'x', sizeof(buf));
        build(t, buf, TOPIC_MAX);
        if (memchr(buf, '\0', TOPIC_MAX) == NULL)
            fail_msg("row %zu (want \"%s\"): no NUL within TOPIC_MAX", i, t->want);
        if (strcmp(buf, t->want) != 0)
            fail_msg("row %zu: want \"%s\", got \"%s\"", i, t->want, buf);
        if (strlen(t->want) + 1 >= TOPIC_MAX)
            fail_msg("row %zu: \"%s\" is not below TOPIC_MAX", i, t->want);
        for (size_t j = TOPIC_MAX; j < sizeof(buf); j++)
            if (buf[j] != 'x')
                fail_msg("row %zu (\"%s\"): wrote past len", i, t->want);
    }
}

struct id_case {
    const char *id;
    size_t max;
    int dots;
    int want;
};

static const struct id_case ids[] = {
    {"S001", TOPIC_ID_MAX, 0, 1},
    {"a", TOPIC_ID_MAX, 0, 1},
    {"_", TOPIC_ID_MAX, 0, 1},
    {"-", TOPIC_ID_MAX, 0, 1},
    {ID64, TOPIC_ID_MAX, 0, 1}, /* every allowed character, at max */
    {ID65, TOPIC_ID_MAX, 0, 0}, /* max + 1 */
    {"abcde", 5, 0, 1},
    {"abcdef", 5, 0, 0},
    {"", TOPIC_ID_MAX, 0, 0},
    {"", TOPIC_ID_MAX, 1, 0},
    {"a.b", TOPIC_ID_MAX, 0, 0},
    {"a.b", TOPIC_ID_MAX, 1, 1},
    {".", TOPIC_ID_MAX, 1, 1},
    {"spring.2026", TOPIC_ID_MAX, 1, 1},
    {"a/b", TOPIC_ID_MAX, 0, 0},
    {"a/b", TOPIC_ID_MAX, 1, 0},
    {"/", TOPIC_ID_MAX, 0, 0},
    {"+", TOPIC_ID_MAX, 0, 0},
    {"a+", TOPIC_ID_MAX, 1, 0},
    {"#", TOPIC_ID_MAX, 0, 0},
    {"a#", TOPIC_ID_MAX, 1, 0},
    {"a b", TOPIC_ID_MAX, 0, 0},
    {" a", TOPIC_ID_MAX, 1, 0},
    {"a\tb", TOPIC_ID_MAX, 0, 0},
    {"a\nb", TOPIC_ID_MAX, 0, 0},
    {"$share", TOPIC_ID_MAX, 0, 0},
    {"a*b", TOPIC_ID_MAX, 0, 0},
    {"a,b", TOPIC_ID_MAX, 1, 0},
    {"caf\xc3\xa9", TOPIC_ID_MAX, 0, 0},
    {"\xe7\x8e\x8b", TOPIC_ID_MAX, 1, 0},
    {"\x7f", TOPIC_ID_MAX, 1, 0},
};

static void id_valid_takes_1_to_max_of_the_allowed_characters(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(ids); i++) {
        const struct id_case *t = &ids[i];
        int got = topic_id_valid(t->id, t->max, t->dots);
        if (got != t->want)
            fail_msg("\"%s\" (max %zu, dots %d): want %d, got %d", t->id, t->max, t->dots, t->want,
                     got);
    }
}

struct events_ok {
    const char *topic;
    size_t id_max;
    const char *store, *terminal;
};

static const struct events_ok events_oks[] = {
    {"ml/acme/s/S001/T01/ev", TOPIC_ID_MAX, "S001", "T01"},
    {"ml/acme/s/a/b/ev", TOPIC_ID_MAX, "a", "b"},
    {"ml/acme/s/S-1_x/T_0-1/ev", TOPIC_ID_MAX, "S-1_x", "T_0-1"},
    {"ml/acme/s/" ID64 "/" ID64 "/ev", TOPIC_ID_MAX, ID64, ID64},
    {"ml/acme/s/S001/T001/ev", 4, "S001", "T001"},
};

static void parse_events_reads_store_and_terminal(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(events_oks); i++) {
        const struct events_ok *t = &events_oks[i];
        /* buffers of exactly id_max + 1 bytes, so the sanitizer sees a write past them */
        char *store = malloc(t->id_max + 1), *terminal = malloc(t->id_max + 1);
        assert_non_null(store);
        assert_non_null(terminal);
        int rc = topic_parse_events(t->topic, "acme", t->id_max, store, terminal);
        if (rc != 0)
            fail_msg("\"%s\" (id_max %zu): want 0, got %d", t->topic, t->id_max, rc);
        if (strcmp(store, t->store) != 0 || strcmp(terminal, t->terminal) != 0)
            fail_msg("\"%s\": want %s and %s, got %s and %s", t->topic, t->store, t->terminal,
                     store, terminal);
        free(store);
        free(terminal);
    }
}

struct events_bad {
    const char *what;
    const char *topic;
    size_t id_max;
};

static const struct events_bad events_bads[] = {
    {"another brand", "ml/other/s/S001/T01/ev", TOPIC_ID_MAX},
    {"a brand the given one is a prefix of", "ml/acmex/s/S001/T01/ev", TOPIC_ID_MAX},
    {"a brand that is a prefix of the given one", "ml/acm/s/S001/T01/ev", TOPIC_ID_MAX},
    {"brand in upper case", "ml/ACME/s/S001/T01/ev", TOPIC_ID_MAX},
    {"another root", "mx/acme/s/S001/T01/ev", TOPIC_ID_MAX},
    {"no root", "acme/s/S001/T01/ev", TOPIC_ID_MAX},
    {"a leading slash", "/ml/acme/s/S001/T01/ev", TOPIC_ID_MAX},
    {"hq instead of s", "ml/acme/hq/S001/T01/ev", TOPIC_ID_MAX},
    {"ack leaf", "ml/acme/s/S001/T01/ack", TOPIC_ID_MAX},
    {"status leaf", "ml/acme/s/S001/T01/status", TOPIC_ID_MAX},
    {"leaf with a suffix", "ml/acme/s/S001/T01/evx", TOPIC_ID_MAX},
    {"leaf cut short", "ml/acme/s/S001/T01/e", TOPIC_ID_MAX},
    {"leaf in upper case", "ml/acme/s/S001/T01/EV", TOPIC_ID_MAX},
    {"no leaf", "ml/acme/s/S001/T01/", TOPIC_ID_MAX},
    {"no terminal level", "ml/acme/s/S001/T01", TOPIC_ID_MAX},
    {"the inbox", "ml/acme/s/S001/inbox", TOPIC_ID_MAX},
    {"the store's events filter", "ml/acme/s/S001/+/ev", TOPIC_ID_MAX},
    {"a level after the leaf", "ml/acme/s/S001/T01/ev/x", TOPIC_ID_MAX},
    {"a trailing slash", "ml/acme/s/S001/T01/ev/", TOPIC_ID_MAX},
    {"a level before the leaf", "ml/acme/s/S001/T01/x/ev", TOPIC_ID_MAX},
    {"a level missing", "ml/acme/s/S001/ev", TOPIC_ID_MAX},
    {"empty store", "ml/acme/s//T01/ev", TOPIC_ID_MAX},
    {"empty terminal", "ml/acme/s/S001//ev", TOPIC_ID_MAX},
    {"store of id_max + 1 bytes", "ml/acme/s/" ID65 "/T01/ev", TOPIC_ID_MAX},
    {"terminal of id_max + 1 bytes", "ml/acme/s/S001/" ID65 "/ev", TOPIC_ID_MAX},
    {"store of id_max + 1 bytes, small id_max", "ml/acme/s/S0012/T001/ev", 4},
    {"terminal of id_max + 1 bytes, small id_max", "ml/acme/s/S001/T0012/ev", 4},
    {"store +", "ml/acme/s/+/T01/ev", TOPIC_ID_MAX},
    {"terminal +", "ml/acme/s/S001/+/ev", TOPIC_ID_MAX},
    {"store #", "ml/acme/s/#/T01/ev", TOPIC_ID_MAX},
    {"# for the rest", "ml/acme/s/S001/#", TOPIC_ID_MAX},
    {"leaf +", "ml/acme/s/S001/T01/+", TOPIC_ID_MAX},
    {"a wildcard inside a store", "ml/acme/s/S+1/T01/ev", TOPIC_ID_MAX},
    {"a dot in a store", "ml/acme/s/S.01/T01/ev", TOPIC_ID_MAX},
    {"a space in a terminal", "ml/acme/s/S001/T 1/ev", TOPIC_ID_MAX},
    {"non-ASCII in a store", "ml/acme/s/S\xc3\xa9/T01/ev", TOPIC_ID_MAX},
    {"empty", "", TOPIC_ID_MAX},
    {"the root alone", "ml/acme", TOPIC_ID_MAX},
    {"a campaign topic", "ml/acme/hq/campaign/C42", TOPIC_ID_MAX},
};

static void parse_events_refuses_every_other_topic(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(events_bads); i++) {
        const struct events_bad *t = &events_bads[i];
        char *store = malloc(t->id_max + 1), *terminal = malloc(t->id_max + 1);
        assert_non_null(store);
        assert_non_null(terminal);
        int rc = topic_parse_events(t->topic, "acme", t->id_max, store, terminal);
        free(store);
        free(terminal);
        if (rc != -1)
            fail_msg("%s: \"%s\" (id_max %zu): want -1, got %d", t->what, t->topic, t->id_max, rc);
    }
}

/* What topic_parse_events reads back is what topic_terminal wrote. */
static void parse_events_reads_what_topic_terminal_builds(void **state)
{
    (void)state;
    char buf[TOPIC_MAX], store[TOPIC_ID_MAX + 1], terminal[TOPIC_ID_MAX + 1];
    topic_terminal(buf, sizeof(buf), "acme", ID64, "T-01", TOPIC_EV);
    assert_int_equal(topic_parse_events(buf, "acme", TOPIC_ID_MAX, store, terminal), 0);
    assert_string_equal(store, ID64);
    assert_string_equal(terminal, "T-01");
    topic_terminal(buf, sizeof(buf), "acme", "S001", "T01", TOPIC_ACK);
    assert_int_equal(topic_parse_events(buf, "acme", TOPIC_ID_MAX, store, terminal), -1);
}

struct campaign_case {
    const char *topic;
    const char *want; /* NULL: not a campaign topic of brand acme */
};

static const struct campaign_case campaigns[] = {
    {"ml/acme/hq/campaign/C42", "C42"},
    {"ml/acme/hq/campaign/points-2026", "points-2026"},
    {"ml/acme/hq/campaign/spring.2026", "spring.2026"},
    {"ml/acme/hq/campaign/" ID64, ID64},
    {"ml/other/hq/campaign/C42", NULL},
    {"ml/acmex/hq/campaign/C42", NULL},
    {"ml/acm/hq/campaign/C42", NULL},
    {"ml/acme/hq/time", NULL},
    {"ml/acme/hq/campaigns/C42", NULL},
    {"ml/acme/hq/campaignC42", NULL},
    {"ml/acme/s/S001/inbox", NULL},
    {"ml/acme/s/S001/T01/ev", NULL},
    {"mx/acme/hq/campaign/C42", NULL},
    {"", NULL},
};

static void campaign_id_is_borrowed_from_a_campaign_topic(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(campaigns); i++) {
        const struct campaign_case *t = &campaigns[i];
        const char *got = topic_campaign_id(t->topic, "acme");
        if (t->want == NULL) {
            if (got != NULL)
                fail_msg("\"%s\": want NULL, got \"%s\"", t->topic, got);
            continue;
        }
        if (got == NULL || strcmp(got, t->want) != 0)
            fail_msg("\"%s\": want \"%s\", got \"%s\"", t->topic, t->want, got ? got : "(null)");
        /* borrowed: a pointer into topic, at its last level */
        if (got != t->topic + strlen(t->topic) - strlen(t->want))
            fail_msg("\"%s\": the id is not borrowed from the topic", t->topic);
    }
}

/*
 * topic.h: "The campaign id of ml/<brand>/hq/campaign/<id> ...; NULL for other topics", and
 * every id in a topic is 1..TOPIC_ID_MAX of [A-Za-z0-9_.-]. A last level that is empty, a
 * wildcard, an extra level or an id past TOPIC_ID_MAX makes another topic.
 */
static void campaign_id_is_null_when_the_last_level_is_not_an_id(void **state)
{
    (void)state;
    static const char *const rows[] = {
        "ml/acme/hq/campaign/",      "ml/acme/hq/campaign/C42/x", "ml/acme/hq/campaign/C42/",
        "ml/acme/hq/campaign/+",     "ml/acme/hq/campaign/#",     "ml/acme/hq/campaign/C 42",
        "ml/acme/hq/campaign/" ID65,
    };
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        const char *got = topic_campaign_id(rows[i], "acme");
        if (got != NULL)
            fail_msg("\"%s\": want NULL, got \"%s\"", rows[i], got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builders_write_the_documented_topics),
        cmocka_unit_test(id_valid_takes_1_to_max_of_the_allowed_characters),
        cmocka_unit_test(parse_events_reads_store_and_terminal),
        cmocka_unit_test(parse_events_refuses_every_other_topic),
        cmocka_unit_test(parse_events_reads_what_topic_terminal_builds),
        cmocka_unit_test(campaign_id_is_borrowed_from_a_campaign_topic),
        cmocka_unit_test(campaign_id_is_null_when_the_last_level_is_not_an_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
