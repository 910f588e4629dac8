/*
 * hq_ingest_unit_test: unit tests for hq_ingest.h without a broker. Each test feeds
 * hq_ingest_message() the topic and payload a store would publish, against a real HQ
 * database (hq_store.h) in a fresh temporary directory, and checks the ack it returns and
 * the rows stored.
 *
 * Covered: a valid batch is stored and acknowledged; a resent batch is acknowledged again
 * and stored once; batches that are not for this HQ (topic, JSON, version, shape, size,
 * nesting, event count) are dropped whole, unacknowledged, storing nothing; a bad event is
 * refused alone, counted in `rejections` and never acknowledged; seq gaps per terminal; a
 * storage failure rolls back and acknowledges nothing; a group of batches commits together.
 * Local days are UTC (TZ is set).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hq_ingest.h"
#include "log.h"
#include "sqlread.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define NOW (T0 + 5000)           /* HQ's clock: received_at */
#define TOPIC "ml/demo/s/S001/T01/ev"
#define ACK_TOPIC "ml/demo/s/S001/T01/ack"
#define SQL_MAX 1024
#define ID_64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Table tests report every failing row, then fail once, so one bad row hides no other. */
#define ROW_FAIL(...)                                                                              \
    do {                                                                                           \
        print_error("ERROR: " __VA_ARGS__);                                                        \
        print_error("\n");                                                                         \
        row_failures++;                                                                            \
    } while (0)

struct fx {
    char dir[64];
    char path[128];
    struct hq_store *st;
    struct hq_ingest *in;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[512] = "";
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ml-hq-ingest-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/hq.db", f->dir);
    if (hq_store_open(f->path, HQ_STORE_READWRITE, &f->st, err, sizeof(err)) != ML_OK)
        fail_msg("hq_store_open: %s", err);
    assert_int_equal(hq_ingest_new(f->st, "demo", &f->in), ML_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];
    hq_ingest_free(f->in);
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

/* ---- reading the database back -------------------------------------------------------- */

static int64_t q_i64(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t q_i64(struct fx *f, const char *fmt, ...)
{
    char sql[SQL_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(sql));
    return sqlread_i64(db_sqlite(hq_store_conn(f->st)), sql);
}

/* Every row of sql, columns joined by '|', rows ended by '\n', NULL as "NULL". Caller
 * frees. */
static char *q_dump(struct fx *f, const char *sql)
{
    return sqlread_dump(db_sqlite(hq_store_conn(f->st)), sql);
}

static void assert_dump(struct fx *f, const char *sql, const char *want)
{
    sqlread_assert(db_sqlite(hq_store_conn(f->st)), sql, want);
}

/* Rows in every table ingest writes to, as one string: a snapshot for "nothing changed". */
static char *snapshot(struct fx *f)
{
    return q_dump(f, "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM terminals),"
                     " (SELECT count(*) FROM rejections), (SELECT count(*) FROM sales),"
                     " (SELECT count(*) FROM redemptions),"
                     " (SELECT count(*) FROM commission_entries), (SELECT count(*) FROM refunds)");
}

/* ---- building batches ----------------------------------------------------------------- */

struct sb {
    char *p;
    size_t len, cap;
};

static void sb_addf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_addf(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* An envelope as a store writes it, for S001/T01 unless store/terminal say otherwise. */
static void sb_event(struct sb *b, const char *id, int64_t seq, const char *type, const char *store,
                     const char *terminal, const char *body)
{
    sb_addf(b,
            "{\"id\":\"%s\",\"seq\":%lld,\"type\":\"%s\",\"store\":\"%s\",\"terminal\":\"%s\","
            "\"hlc\":\"%lld-%lld\",\"at\":%lld,\"body\":%s}",
            id, (long long)seq, type, store, terminal, (long long)T0, (long long)seq, (long long)T0,
            body);
}

#define POINTS_BODY                                                                                \
    "{\"member_id\":\"M1\",\"reason\":\"sale\",\"earned\":1,\"spent\":0,\"delta\":1}"

/* A batch of n points.changed events on S001/T01, seqs first.., ids "<tag>-<seq>". */
static char *points_batch(const char *tag, int64_t first, int n)
{
    struct sb b = {0};
    sb_addf(&b, "{\"v\":1,\"batch\":\"b-%s\",\"events\":[", tag);
    for (int i = 0; i < n; i++) {
        char id[40];
        snprintf(id, sizeof(id), "%s-%lld", tag, (long long)(first + i));
        if (i > 0)
            sb_addf(&b, ",");
        sb_event(&b, id, first + i, "points.changed", "S001", "T01", POINTS_BODY);
    }
    sb_addf(&b, "]}");
    return b.p;
}

static const char sale_body[] =
    "{\"sale_id\":\"S001-T01-000001\",\"store\":\"S001\",\"terminal\":\"T01\","
    "\"member\":{\"member_id\":\"M1001\",\"tier\":\"gold\"},"
    "\"guide\":{\"guide_id\":\"G01\",\"source\":\"bound\"},"
    "\"lines\":[{\"line_no\":1,\"sku\":\"TS-01\",\"category\":\"apparel\",\"qty\":2,"
    "\"net\":9780}],\"subtotal\":11780,\"discount\":2000,\"total\":9780,"
    "\"commission\":{\"guide_id\":\"G01\",\"amount\":489}}";
static const char redeem_body[] =
    "{\"coupon_id\":\"CPN-20OFF\",\"sale_id\":\"S001-T01-000001\",\"use_no\":1,\"amount\":2000,"
    "\"lines\":[{\"line_no\":1,\"amount\":2000}],\"member_id\":\"M1001\",\"offline_ok\":true}";
static const char commission_body[] =
    "{\"guide_id\":\"G01\",\"sale_id\":\"S001-T01-000001\",\"source\":\"bound\","
    "\"reason\":\"sale\",\"amount\":489,\"lines\":[{\"line_no\":1,\"rate_bp\":500,"
    "\"commission\":489}]}";

/* The three events of one sale on S001/T01, seqs 1-3. */
static char *sale_batch(void)
{
    struct sb b = {0};
    sb_addf(&b, "{\"v\":1,\"batch\":\"b-sale\",\"events\":[");
    sb_event(&b, "ev-1", 1, "sale.completed", "S001", "T01", sale_body);
    sb_addf(&b, ",");
    sb_event(&b, "ev-2", 2, "coupon.redeemed", "S001", "T01", redeem_body);
    sb_addf(&b, ",");
    sb_event(&b, "ev-3", 3, "commission.recorded", "S001", "T01", commission_body);
    sb_addf(&b, "]}");
    return b.p;
}

/* Hands one message to ingest; the ack payload is returned (caller frees) or NULL. */
static ml_err ingest(struct fx *f, const char *topic, const char *payload, size_t len,
                     char **ret_ack_payload)
{
    struct hq_ack ack;
    memset(&ack, 0x5a, sizeof(ack));
    ml_err rc = hq_ingest_message(f->in, topic, payload, len, NOW, &ack);
    if (rc != ML_OK) {
        assert_null(ack.payload);
        *ret_ack_payload = NULL;
        return rc;
    }
    if (ack.payload != NULL) {
        assert_string_equal(ack.topic, ACK_TOPIC);
        assert_int_equal(ack.len, strlen(ack.payload));
    }
    *ret_ack_payload = ack.payload;
    return rc;
}

static ml_err ingest_text(struct fx *f, const char *topic, const char *payload,
                          char **ret_ack_payload)
{
    return ingest(f, topic, payload, strlen(payload), ret_ack_payload);
}

static void assert_acked(char *ack, const char *want)
{
    if (ack == NULL)
        fail_msg("no ack; want %s", want);
    if (strcmp(ack, want) != 0)
        fail_msg("ack %s, want %s", ack, want);
    free(ack);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void valid_batch_is_stored_with_its_report_rows_and_acked(void **state)
{
    struct fx *f = *state;
    char *batch = sale_batch(), *ack = NULL;
    assert_int_equal(ingest_text(f, TOPIC, batch, &ack), ML_OK);
    assert_acked(ack, "{\"v\":1,\"acked\":[\"ev-1\",\"ev-2\",\"ev-3\"]}");
    free(batch);

    assert_dump(f,
                "SELECT id, store, terminal, seq, type, hlc, at, batch, received_at FROM events"
                " ORDER BY seq",
                "ev-1|S001|T01|1|sale.completed|1767225600000-1|1767225600000|b-sale|"
                "1767225605000\n"
                "ev-2|S001|T01|2|coupon.redeemed|1767225600000-2|1767225600000|b-sale|"
                "1767225605000\n"
                "ev-3|S001|T01|3|commission.recorded|1767225600000-3|1767225600000|b-sale|"
                "1767225605000\n");
    assert_dump(f,
                "SELECT sale_id, store, terminal, day, member_id, guide_id, total, commission,"
                " refunded, event_id FROM sales",
                "S001-T01-000001|S001|T01|2026-01-01|M1001|G01|9780|489|0|ev-1\n");
    assert_dump(f,
                "SELECT coupon_id, sale_id, store, use_no, amount, day, restored_at"
                " FROM redemptions",
                "CPN-20OFF|S001-T01-000001|S001|1|2000|2026-01-01|NULL\n");
    assert_dump(f, "SELECT guide_id, sale_id, refund_id, amount, day FROM commission_entries",
                "G01|S001-T01-000001|NULL|489|2026-01-01\n");
    assert_dump(f, "SELECT next_seq, max_seq, received, gaps FROM terminals", "4|3|3|0\n");

    const struct hq_ingest_stats *s = hq_ingest_stats(f->in);
    assert_int_equal(s->batches, 1);
    assert_int_equal(s->events_new, 3);
    assert_int_equal(s->events_duplicate, 0);
    assert_int_equal(s->events_rejected, 0);
    assert_int_equal(s->batches_dropped, 0);
}

/* The store resends until it sees the ack: every resend is acked, nothing stored twice. */
static void resent_batch_is_acked_again_and_stored_once(void **state)
{
    struct fx *f = *state;
    char *batch = sale_batch(), *ack = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ingest_text(f, TOPIC, batch, &ack), ML_OK);
        assert_acked(ack, "{\"v\":1,\"acked\":[\"ev-1\",\"ev-2\",\"ev-3\"]}");
    }
    free(batch);
    char *snap = snapshot(f);
    assert_string_equal(snap, "3|1|0|1|1|1|0\n");
    free(snap);
    assert_dump(f, "SELECT next_seq, max_seq, received, gaps FROM terminals", "4|3|3|0\n");
    const struct hq_ingest_stats *s = hq_ingest_stats(f->in);
    assert_int_equal(s->batches, 3);
    assert_int_equal(s->events_new, 3);
    assert_int_equal(s->events_duplicate, 6);
}

/* An id twice in one batch is stored and acknowledged once. */
static void event_twice_in_one_batch_is_stored_and_acked_once(void **state)
{
    struct fx *f = *state;
    struct sb b = {0};
    char *ack = NULL;
    sb_addf(&b, "{\"v\":1,\"batch\":\"b\",\"events\":[");
    sb_event(&b, "ev-1", 1, "points.changed", "S001", "T01", POINTS_BODY);
    sb_addf(&b, ",");
    sb_event(&b, "ev-1", 1, "points.changed", "S001", "T01", POINTS_BODY);
    sb_addf(&b, "]}");
    assert_int_equal(ingest_text(f, TOPIC, b.p, &ack), ML_OK);
    assert_acked(ack, "{\"v\":1,\"acked\":[\"ev-1\"]}");
    free(b.p);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM events"), 1);
    assert_int_equal(hq_ingest_stats(f->in)->events_duplicate, 1);
}

static void empty_batch_is_committed_without_an_ack(void **state)
{
    struct fx *f = *state;
    char *ack = (char *)"not null";
    assert_int_equal(ingest_text(f, TOPIC, "{\"v\":1,\"batch\":\"b\",\"events\":[]}", &ack), ML_OK);
    assert_null(ack);
    assert_int_equal(hq_ingest_stats(f->in)->batches, 1);
}

/* Messages that are not a batch for this HQ are dropped whole: ML_PARSE, no ack, nothing
 * stored, not even a rejection. */
static void batch_not_for_this_hq_is_dropped_storing_nothing(void **state)
{
    struct fx *f = *state;
    char *good = points_batch("ok", 1, 1);
    static char deep[512];
    /* batch (1) > events (2) > envelope (3) > body (4) > 13 more levels: 17 */
    snprintf(deep, sizeof(deep),
             "{\"v\":1,\"batch\":\"b\",\"events\":[{\"id\":\"d1\",\"seq\":1,\"type\":\"x\","
             "\"store\":\"S001\",\"terminal\":\"T01\",\"hlc\":\"1-0\",\"at\":1,\"body\":"
             "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
             "{\"a\":[1]}}}}}}}}}}}}}}]}");
    const struct {
        const char *topic;
        const char *payload;
    } cases[] = {
        /* topics: not ml/demo/s/<store>/<terminal>/ev with ids of [A-Za-z0-9_-]{1,32} */
        {"ml/other/s/S001/T01/ev", good},
        {"ml/demox/s/S001/T01/ev", good},
        {"ml/dem/s/S001/T01/ev", good},
        {"xml/demo/s/S001/T01/ev", good},
        {"ml/demo/s/S001/T01/ack", good},
        {"ml/demo/s/S001/T01/status", good},
        {"ml/demo/s/S001/ev", good},
        {"ml/demo/s/S001/T01/ev/x", good},
        {"ml/demo/s/S001/T01/x/ev", good},
        {"ml/demo/s//T01/ev", good},
        {"ml/demo/s/S001//ev", good},
        {"ml/demo/s/S.01/T01/ev", good},
        {"ml/demo/s/S001/T+1/ev", good},
        {"ml/demo/s/S001/" ID_64 "/ev", good},
        {"ml/demo/hq/S001/T01/ev", good},
        {"", good},
        /* payloads */
        {TOPIC, ""},
        {TOPIC, "not json"},
        {TOPIC, "[1,2,3]"},
        {TOPIC, "\"batch\""},
        {TOPIC, "{}"},
        {TOPIC, "{\"batch\":\"b\",\"events\":[]}"},
        {TOPIC, "{\"v\":2,\"batch\":\"b\",\"events\":[]}"},
        {TOPIC, "{\"v\":\"1\",\"batch\":\"b\",\"events\":[]}"},
        {TOPIC, "{\"v\":1,\"batch\":\"b\"}"},
        {TOPIC, "{\"v\":1,\"batch\":\"b\",\"events\":{}}"},
        {TOPIC, "{\"v\":1,\"batch\":\"b\",\"events\":null}"},
        {TOPIC, "{\"v\":1,\"batch\":\"b\",\"events\":[]} x"},
        {TOPIC, "{\"v\":1,\"batch\":\"b\",\"events\":[]}{}"},
        {TOPIC, "{\"v\":1,\"batch\":\"b\",\"events\":["},
        {TOPIC, deep},
    };
    size_t row_failures = 0;
    char *before = snapshot(f);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *ack = NULL;
        uint64_t dropped = hq_ingest_stats(f->in)->batches_dropped;
        ml_err rc = ingest_text(f, cases[i].topic, cases[i].payload, &ack);
        if (rc != ML_PARSE)
            ROW_FAIL("case %zu (%s, %.40s): %s, want ML_PARSE", i, cases[i].topic, cases[i].payload,
                     ml_strerror(rc));
        if (hq_ingest_stats(f->in)->batches_dropped != dropped + 1)
            ROW_FAIL("case %zu: not counted as dropped", i);
        free(ack);
    }
    char *after = snapshot(f);
    assert_string_equal(after, before);
    free(before);
    free(after);
    assert_int_equal(row_failures, 0);
    assert_int_equal(hq_ingest_stats(f->in)->batches, 0);

    /* The same good batch on the right topic goes in: the topic alone refused it above. */
    char *ack = NULL;
    assert_int_equal(ingest_text(f, TOPIC, good, &ack), ML_OK);
    assert_acked(ack, "{\"v\":1,\"acked\":[\"ok-1\"]}");
    free(good);
}

/* Nesting of 16 levels of objects and arrays (batch > events > envelope > body > ...) is
 * accepted. */
static void batch_nesting_16_levels_is_accepted(void **state)
{
    struct fx *f = *state;
    char *ack = NULL;
    const char *at_limit =
        "{\"v\":1,\"batch\":\"b\",\"events\":[{\"id\":\"d1\",\"seq\":1,\"type\":\"x\","
        "\"store\":\"S001\",\"terminal\":\"T01\",\"hlc\":\"1-0\",\"at\":1,\"body\":"
        "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
        "[]}}}}}}}}}}}}}]}";
    assert_int_equal(ingest_text(f, TOPIC, at_limit, &ack), ML_OK);
    assert_acked(ack, "{\"v\":1,\"acked\":[\"d1\"]}");
}

/* `batch` padded with spaces (JSON whitespace) to exactly len bytes, not NUL-terminated
 * within len. Caller frees. */
static char *padded(const char *batch, size_t len)
{
    size_t n = strlen(batch);
    char *p = malloc(len + 1);
    assert_non_null(p);
    assert_true(n <= len);
    memcpy(p, batch, n);
    memset(p + n, ' ', len - n);
    p[len] = '\0';
    return p;
}

static void batch_at_byte_limit_is_stored_one_past_is_dropped(void **state)
{
    struct fx *f = *state;
    char *src = points_batch("e", 1, 1), *ack = NULL;
    char *over = padded(src, HQ_BATCH_BYTES_MAX + 1);
    assert_int_equal(ingest(f, TOPIC, over, HQ_BATCH_BYTES_MAX + 1, &ack), ML_LIMIT);
    assert_null(ack);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM events"), 0);
    assert_int_equal(hq_ingest_stats(f->in)->batches_dropped, 1);

    char *at = padded(src, HQ_BATCH_BYTES_MAX);
    assert_int_equal(ingest(f, TOPIC, at, HQ_BATCH_BYTES_MAX, &ack), ML_OK);
    assert_acked(ack, "{\"v\":1,\"acked\":[\"e-1\"]}");
    assert_int_equal(q_i64(f, "SELECT count(*) FROM events"), 1);
    free(src);
    free(over);
    free(at);
}

static void batch_at_event_limit_is_stored_one_past_is_dropped(void **state)
{
    struct fx *f = *state;
    char *ack = NULL;
    char *over = points_batch("o", 1, HQ_BATCH_EVENTS_MAX + 1);
    assert_int_equal(ingest_text(f, TOPIC, over, &ack), ML_LIMIT);
    assert_null(ack);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM events"), 0);
    free(over);

    char *at = points_batch("a", 1, HQ_BATCH_EVENTS_MAX);
    assert_int_equal(ingest_text(f, TOPIC, at, &ack), ML_OK);
    assert_non_null(ack);
    cJSON *doc = cJSON_Parse(ack);
    assert_non_null(doc);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "acked")),
                     HQ_BATCH_EVENTS_MAX);
    cJSON_Delete(doc);
    free(ack);
    free(at);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM events"), HQ_BATCH_EVENTS_MAX);
    assert_dump(f, "SELECT next_seq, max_seq, received, gaps FROM terminals", "1001|1000|1000|0\n");
}

/* Each bad envelope goes in a batch after a good event: the good one is stored and acked,
 * the bad one is refused alone, counted under its reason, and never acknowledged. */
static void bad_event_is_refused_alone_counted_and_not_acked(void **state)
{
    struct fx *f = *state;
#define ENV(id, seq, type, store, terminal, hlc, at, body)                                         \
    "{\"id\":" id ",\"seq\":" seq ",\"type\":" type ",\"store\":" store ",\"terminal\":" terminal  \
    ",\"hlc\":" hlc ",\"at\":" at ",\"body\":" body "}"
#define OK_ID "\"bad\""
#define OK_SEQ "2"
#define OK_TYPE "\"points.changed\""
#define OK_STORE "\"S001\""
#define OK_TERM "\"T01\""
#define OK_HLC "\"1767225600000-0\""
#define OK_AT "1767225600000"
#define OK_BODY "{}"
    static const struct {
        const char *envelope;
        const char *reason;
        const char *last_event_id; /* "NULL" when the event has no usable id */
    } cases[] = {
        {"42", "malformed", "NULL"},
        {"[]", "malformed", "NULL"},
        {"{\"seq\":2,\"type\":\"points.changed\",\"store\":\"S001\",\"terminal\":\"T01\","
         "\"hlc\":\"1-0\",\"at\":1,\"body\":{}}",
         "malformed", "NULL"},
        {ENV("\"\"", OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY), "malformed",
         "NULL"},
        {ENV("7", OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY), "malformed", "NULL"},
        {ENV("\"a b\"", OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY), "malformed",
         "NULL"},
        {ENV("\"a/b\"", OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY), "malformed",
         "NULL"},
        {ENV("\"" ID_64 "x\"", OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY),
         "malformed", "NULL"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, "\"S002\"", OK_TERM, OK_HLC, OK_AT, OK_BODY), "topic_mismatch",
         "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, "\"T02\"", OK_HLC, OK_AT, OK_BODY), "topic_mismatch",
         "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, "\"s001\"", OK_TERM, OK_HLC, OK_AT, OK_BODY), "topic_mismatch",
         "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, "1", OK_TERM, OK_HLC, OK_AT, OK_BODY), "malformed", "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, "null", OK_HLC, OK_AT, OK_BODY), "malformed", "bad"},
        {ENV(OK_ID, "0", OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY), "malformed", "bad"},
        {ENV(OK_ID, "-1", OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY), "malformed", "bad"},
        {ENV(OK_ID, "2.5", OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY), "malformed", "bad"},
        {ENV(OK_ID, "\"2\"", OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY), "malformed",
         "bad"},
        {ENV(OK_ID, "null", OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY), "malformed",
         "bad"},
        {ENV(OK_ID, OK_SEQ, "\"\"", OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY), "malformed", "bad"},
        {ENV(OK_ID, OK_SEQ, "\"sale completed\"", OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY),
         "malformed", "bad"},
        {ENV(OK_ID, OK_SEQ, "\"sale-completed\"", OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY),
         "malformed", "bad"},
        {ENV(OK_ID, OK_SEQ, "\"" ID_64 "x\"", OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY),
         "malformed", "bad"},
        {ENV(OK_ID, OK_SEQ, "3", OK_STORE, OK_TERM, OK_HLC, OK_AT, OK_BODY), "malformed", "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, "\"abc\"", OK_AT, OK_BODY), "malformed",
         "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, "\"123\"", OK_AT, OK_BODY), "malformed",
         "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, "\"123-\"", OK_AT, OK_BODY), "malformed",
         "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, "\"-5\"", OK_AT, OK_BODY), "malformed",
         "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, "\"12-3x\"", OK_AT, OK_BODY), "malformed",
         "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, "1767225600000", OK_AT, OK_BODY),
         "malformed", "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, OK_HLC, "-1", OK_BODY), "malformed", "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, OK_HLC, "\"now\"", OK_BODY), "malformed",
         "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, "[]"), "malformed", "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, "null"), "malformed", "bad"},
        {ENV(OK_ID, OK_SEQ, OK_TYPE, OK_STORE, OK_TERM, OK_HLC, OK_AT, "\"{}\""), "malformed",
         "bad"},
        {"{\"id\":\"bad\",\"seq\":2,\"type\":\"points.changed\",\"store\":\"S001\","
         "\"terminal\":\"T01\",\"hlc\":\"1-0\",\"at\":1}",
         "malformed", "bad"},
    };
#undef ENV
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        /* A fresh database per case, so each case's counts stand alone. */
        teardown(state);
        setup(state);
        f = *state;
        struct sb b = {0};
        char *ack = NULL;
        sb_addf(&b, "{\"v\":1,\"batch\":\"b\",\"events\":[");
        sb_event(&b, "good", 1, "points.changed", "S001", "T01", POINTS_BODY);
        sb_addf(&b, ",%s]}", cases[i].envelope);
        ml_err rc = ingest_text(f, TOPIC, b.p, &ack);
        free(b.p);
        if (rc != ML_OK) {
            ROW_FAIL("case %zu: %s, want ML_OK (the batch commits)", i, ml_strerror(rc));
            continue;
        }
        if (ack == NULL || strcmp(ack, "{\"v\":1,\"acked\":[\"good\"]}") != 0)
            ROW_FAIL("case %zu: ack %s, want only the good event", i, ack ? ack : "(none)");
        free(ack);
        char *events = q_dump(f, "SELECT id FROM events");
        if (strcmp(events, "good\n") != 0)
            ROW_FAIL("case %zu: events stored:\n%s", i, events);
        free(events);
        char *rej = q_dump(f, "SELECT store, terminal, reason, count, last_event_id, last_at"
                              " FROM rejections");
        char want[256];
        snprintf(want, sizeof(want), "S001|T01|%s|1|%s|%lld\n", cases[i].reason,
                 cases[i].last_event_id, (long long)NOW);
        if (strcmp(rej, want) != 0)
            ROW_FAIL("case %zu (%s): rejections\n%swant\n%s", i, cases[i].envelope, rej, want);
        free(rej);
        if (hq_ingest_stats(f->in)->events_rejected != 1)
            ROW_FAIL("case %zu: events_rejected %llu", i,
                     (unsigned long long)hq_ingest_stats(f->in)->events_rejected);
    }
    assert_int_equal(row_failures, 0);
}

/* An id of 64 characters of [A-Za-z0-9-_.:] is accepted (65 is refused above). */
static void event_id_of_64_characters_is_accepted(void **state)
{
    struct fx *f = *state;
    struct sb b = {0};
    char *ack = NULL;
    const char *id = "01936f4e-8c1a-7b3e-9f00-1c2d3e4f5a6b.S001:T01_abcdefghijklmnopqr";
    assert_int_equal(strlen(id), 64);
    sb_addf(&b, "{\"v\":1,\"batch\":\"b\",\"events\":[");
    sb_event(&b, id, 1, "points.changed", "S001", "T01", POINTS_BODY);
    sb_addf(&b, "]}");
    assert_int_equal(ingest_text(f, TOPIC, b.p, &ack), ML_OK);
    free(b.p);
    char want[128];
    snprintf(want, sizeof(want), "{\"v\":1,\"acked\":[\"%s\"]}", id);
    assert_acked(ack, want);
}

/* Another event under a stored id is refused as id_conflict and never acknowledged. */
static void other_event_under_a_stored_id_is_refused_not_acked(void **state)
{
    struct fx *f = *state;
    char *first = points_batch("e", 1, 1), *ack = NULL;
    assert_int_equal(ingest_text(f, TOPIC, first, &ack), ML_OK);
    assert_acked(ack, "{\"v\":1,\"acked\":[\"e-1\"]}");
    free(first);

    struct sb b = {0};
    sb_addf(&b, "{\"v\":1,\"batch\":\"b2\",\"events\":[");
    sb_event(&b, "e-1", 2, "points.changed", "S001", "T01", POINTS_BODY);
    sb_addf(&b, "]}");
    assert_int_equal(ingest_text(f, TOPIC, b.p, &ack), ML_OK);
    assert_null(ack);
    free(b.p);
    assert_dump(f, "SELECT id, seq FROM events", "e-1|1\n");
    assert_dump(f, "SELECT reason, count, last_event_id FROM rejections", "id_conflict|1|e-1\n");
    assert_dump(f, "SELECT next_seq, max_seq, received FROM terminals", "2|1|1\n");
}

/* HQ checks seq for gaps per terminal: a missing seq shows until it arrives. */
static void seq_gap_is_recorded_per_terminal_and_closes(void **state)
{
    struct fx *f = *state;
    char *ack = NULL;
    struct sb b = {0};
    sb_addf(&b, "{\"v\":1,\"batch\":\"b1\",\"events\":[");
    sb_event(&b, "t1-1", 1, "points.changed", "S001", "T01", POINTS_BODY);
    sb_addf(&b, ",");
    sb_event(&b, "t1-2", 2, "points.changed", "S001", "T01", POINTS_BODY);
    sb_addf(&b, ",");
    sb_event(&b, "t1-5", 5, "points.changed", "S001", "T01", POINTS_BODY);
    sb_addf(&b, "]}");
    assert_int_equal(ingest_text(f, TOPIC, b.p, &ack), ML_OK);
    free(ack);
    free(b.p);

    /* Another terminal of the same store is tracked on its own. */
    memset(&b, 0, sizeof(b));
    sb_addf(&b, "{\"v\":1,\"batch\":\"b2\",\"events\":[");
    sb_event(&b, "t2-1", 1, "points.changed", "S001", "T02", POINTS_BODY);
    sb_addf(&b, "]}");
    struct hq_ack a;
    assert_int_equal(hq_ingest_message(f->in, "ml/demo/s/S001/T02/ev", b.p, b.len, NOW, &a), ML_OK);
    assert_string_equal(a.topic, "ml/demo/s/S001/T02/ack");
    assert_string_equal(a.payload, "{\"v\":1,\"acked\":[\"t2-1\"]}");
    free(a.payload);
    free(b.p);
    assert_dump(f,
                "SELECT terminal, next_seq, max_seq, received, gaps FROM terminals"
                " ORDER BY terminal",
                "T01|3|5|3|2\nT02|2|1|1|0\n");

    /* seq 4 narrows the gap; seq 3 closes it. */
    char *late = points_batch("t1", 4, 1);
    assert_int_equal(ingest_text(f, TOPIC, late, &ack), ML_OK);
    free(ack);
    free(late);
    assert_dump(f, "SELECT next_seq, max_seq, received, gaps FROM terminals WHERE terminal = 'T01'",
                "3|5|4|1\n");
    late = points_batch("t1", 3, 1);
    assert_int_equal(ingest_text(f, TOPIC, late, &ack), ML_OK);
    free(ack);
    free(late);
    assert_dump(f, "SELECT next_seq, max_seq, received, gaps FROM terminals WHERE terminal = 'T01'",
                "6|5|5|0\n");
}

/* The event is the record: one whose body lacks what a report row needs, or of a type HQ
 * does not know, is stored and acknowledged, and left out of the reports. */
static void event_without_report_fields_is_stored_acked_and_not_reported(void **state)
{
    struct fx *f = *state;
    struct sb b = {0};
    char *ack = NULL;
    sb_addf(&b, "{\"v\":1,\"batch\":\"b\",\"events\":[");
    sb_event(&b, "e1", 1, "sale.completed", "S001", "T01", "{\"sale_id\":\"X1\"}");
    sb_addf(&b, ",");
    sb_event(&b, "e2", 2, "coupon.redeemed", "S001", "T01", "{\"coupon_id\":\"C1\"}");
    sb_addf(&b, ",");
    sb_event(&b, "e3", 3, "commission.recorded", "S001", "T01", "{\"amount\":\"12\"}");
    sb_addf(&b, ",");
    sb_event(&b, "e4", 4, "sale.refunded", "S001", "T01", "{\"refund_id\":\"R1\"}");
    sb_addf(&b, ",");
    sb_event(&b, "e5", 5, "member.visited", "S001", "T01", "{}");
    sb_addf(&b, "]}");
    assert_int_equal(ingest_text(f, TOPIC, b.p, &ack), ML_OK);
    free(b.p);
    assert_acked(ack, "{\"v\":1,\"acked\":[\"e1\",\"e2\",\"e3\",\"e4\",\"e5\"]}");
    char *snap = snapshot(f);
    assert_string_equal(snap, "5|1|0|0|0|0|0\n");
    free(snap);
}

/* A refund and a coupon restore change the rows of the sale they name. */
static void refund_and_restore_update_the_sale_and_redemption(void **state)
{
    struct fx *f = *state;
    char *batch = sale_batch(), *ack = NULL;
    assert_int_equal(ingest_text(f, TOPIC, batch, &ack), ML_OK);
    free(ack);
    free(batch);
    struct sb b = {0};
    sb_addf(&b, "{\"v\":1,\"batch\":\"b-refund\",\"events\":[");
    sb_event(&b, "ev-4", 4, "sale.refunded", "S001", "T01",
             "{\"refund_id\":\"S001-T01-000001-R1\",\"sale_id\":\"S001-T01-000001\","
             "\"lines\":[{\"line_no\":1}],\"amount\":9780}");
    sb_addf(&b, ",");
    sb_event(&b, "ev-5", 5, "coupon.restored", "S001", "T01",
             "{\"coupon_id\":\"CPN-20OFF\",\"sale_id\":\"S001-T01-000001\",\"use_no\":1}");
    sb_addf(&b, ",");
    sb_event(&b, "ev-6", 6, "commission.recorded", "S001", "T01",
             "{\"guide_id\":\"G01\",\"sale_id\":\"S001-T01-000001\","
             "\"refund_id\":\"S001-T01-000001-R1\",\"reason\":\"refund\",\"amount\":-489}");
    sb_addf(&b, "]}");
    assert_int_equal(ingest_text(f, TOPIC, b.p, &ack), ML_OK);
    free(b.p);
    assert_acked(ack, "{\"v\":1,\"acked\":[\"ev-4\",\"ev-5\",\"ev-6\"]}");
    assert_dump(f, "SELECT total, refunded FROM sales", "9780|9780\n");
    assert_dump(f, "SELECT restored_at FROM redemptions", "1767225600000\n");
    assert_dump(f, "SELECT amount, refund_id FROM commission_entries ORDER BY amount",
                "-489|S001-T01-000001-R1\n489|NULL\n");
}

/* A batch whose transaction cannot start (another writer holds the lock) is rolled back and
 * not acknowledged; the resend is stored and acknowledged. */
static void storage_failure_stores_nothing_and_acks_nothing(void **state)
{
    struct fx *f = *state;
    sqlite3 *other = NULL;
    char *batch = points_batch("e", 1, 2), *ack = NULL;
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_busy_timeout(db_sqlite(hq_store_conn(f->st)), 0), SQLITE_OK);

    assert_int_equal(ingest_text(f, TOPIC, batch, &ack), ML_STORAGE);
    assert_null(ack);
    assert_int_equal(hq_ingest_stats(f->in)->batches_failed, 1);
    assert_int_equal(hq_ingest_stats(f->in)->batches, 0);

    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM events"), 0);
    assert_int_equal(ingest_text(f, TOPIC, batch, &ack), ML_OK);
    assert_acked(ack, "{\"v\":1,\"acked\":[\"e-1\",\"e-2\"]}");
    assert_int_equal(q_i64(f, "SELECT count(*) FROM events"), 2);
    free(batch);
}

/* In a group, batches become durable together at group_commit: another connection sees
 * none of them before, all after; a batch dropped in the middle takes nothing with it, and
 * an event resent within the group is stored once and acknowledged again. */
static void group_commit_stores_the_batches_of_a_group_together(void **state)
{
    struct fx *f = *state;
    char *a = points_batch("a", 1, 2), *b = points_batch("a", 3, 1), *ack = NULL;
    sqlite3 *reader = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);

    assert_int_equal(hq_ingest_group_begin(f->in), ML_OK);
    assert_int_equal(ingest_text(f, TOPIC, a, &ack), ML_OK);
    assert_acked(ack, "{\"v\":1,\"acked\":[\"a-1\",\"a-2\"]}");
    assert_int_equal(ingest_text(f, TOPIC, "not json", &ack), ML_PARSE);
    assert_int_equal(ingest_text(f, TOPIC, b, &ack), ML_OK);
    assert_acked(ack, "{\"v\":1,\"acked\":[\"a-3\"]}");
    assert_int_equal(ingest_text(f, TOPIC, a, &ack), ML_OK);
    assert_acked(ack, "{\"v\":1,\"acked\":[\"a-1\",\"a-2\"]}");

    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*) FROM events", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(s, 0), 0);
    sqlite3_reset(s);

    assert_int_equal(hq_ingest_group_commit(f->in), ML_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(s, 0), 3);
    sqlite3_finalize(s);
    sqlite3_close(reader);
    assert_dump(f, "SELECT next_seq, max_seq, received, gaps FROM terminals", "4|3|3|0\n");
    const struct hq_ingest_stats *st = hq_ingest_stats(f->in);
    assert_int_equal(st->batches, 3);
    assert_int_equal(st->events_new, 3);
    assert_int_equal(st->events_duplicate, 2);
    free(a);
    free(b);
}

static void subscription_is_the_ev_wildcard_shared_when_a_group_is_set(void **state)
{
    (void)state;
    static const struct {
        const char *brand, *group, *want;
    } cases[] = {
        {"demo", NULL, "ml/demo/s/+/+/ev"},
        {"demo", "", "ml/demo/s/+/+/ev"},
        {"acme", "ingest", "$share/ingest/ml/acme/s/+/+/ev"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char buf[TOPIC_MAX];
        topic_events_filter(buf, sizeof(buf), cases[i].brand, NULL, cases[i].group);
        assert_string_equal(buf, cases[i].want);
    }
}

int main(void)
{
    /* Local days in the report rows are UTC here, whatever the machine's zone. */
    setenv("TZ", "UTC", 1);
    tzset();
    log_set_level(LOG_LVL_ERROR);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(valid_batch_is_stored_with_its_report_rows_and_acked),
        T(resent_batch_is_acked_again_and_stored_once),
        T(event_twice_in_one_batch_is_stored_and_acked_once),
        T(empty_batch_is_committed_without_an_ack),
        T(batch_not_for_this_hq_is_dropped_storing_nothing),
        T(batch_nesting_16_levels_is_accepted),
        T(batch_at_byte_limit_is_stored_one_past_is_dropped),
        T(batch_at_event_limit_is_stored_one_past_is_dropped),
        T(bad_event_is_refused_alone_counted_and_not_acked),
        T(event_id_of_64_characters_is_accepted),
        T(other_event_under_a_stored_id_is_refused_not_acked),
        T(seq_gap_is_recorded_per_terminal_and_closes),
        T(event_without_report_fields_is_stored_acked_and_not_reported),
        T(refund_and_restore_update_the_sale_and_redemption),
        T(storage_failure_stores_nothing_and_acks_nothing),
        T(group_commit_stores_the_batches_of_a_group_together),
        T(subscription_is_the_ev_wildcard_shared_when_a_group_is_set),
    };
#undef T
    return cmocka_run_group_tests_name("hq_ingest_unit", tests, NULL, NULL);
}
