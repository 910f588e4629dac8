/*
 * hq_settle_test: unit tests for hq_settle.h, driven the way `serve` drives it: coupon.redeemed and
 * coupon.restored events arrive in store batches through hq_ingest_message() with a hq_settle
 * attached, against a real HQ database in a fresh temporary directory, signed with an Ed25519 key
 * made for the test run. After each committed batch the settlement's messages are taken (as `serve`
 * publishes them) and cleared.
 *
 * Covered (docs/hq.md, "Settlement"): which redemption loses (trusted time, else wall clock, then
 * store, terminal and event id); HQ's granted uses; restored redemptions; resends; the
 * settlement.notice to the losing store and the deny.upsert to every known store, each verifying on
 * its own inbox topic with gapless cursors; notices for the longest event id and large amounts; no
 * key, no messages; rolled-back batches and groups leave no messages. Local days are UTC (TZ is
 * set).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hq_config.h"
#include "hq_ingest.h"
#include "log.h"
#include "hq_push.h"
#include "hq_settle.h"
#include "sign.h"
#include "sqlread.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define SEC INT64_C(1000)
#define NOW (T0 + 3600 * SEC) /* HQ's clock when the batches arrive */
#define KID "k1"
#define COUPON "CPN-20OFF"
#define NO_TRUST INT64_C(-1)   /* "trusted_at" absent */
#define NULL_TRUST INT64_C(-2) /* "trusted_at": null */
#define ID_64 "01936f4e-8c1a-7b3e-9f00-1c2d3e4f5a6b.S002:T01_abcdefghijklmnopqr"

/* Table tests report every failing row, then fail once, so one bad row hides no other. */
#define ROW_FAIL(...)                                                                              \
    do {                                                                                           \
        print_error("ERROR: " __VA_ARGS__);                                                        \
        print_error("\n");                                                                         \
        row_failures++;                                                                            \
    } while (0)

static EVP_PKEY *hq_key;
static struct sign_keyring *keys;

/* A settlement message as `serve` would publish it after the commit. */
struct sent {
    char store[40];
    char kind[32];
    char topic[TOPIC_MAX];
    int64_t cursor;
    char *text;
};

struct fx {
    char dir[64];
    char path[128];
    struct hq_config cfg;
    struct hq_store *st;
    struct hq_ingest *in;
    struct hq_settle *settle;
    struct sent *sent;
    size_t nsent, cap;
};

static int group_setup(void **state)
{
    (void)state;
    char pub[SIGN_PUB_B64_LEN + 1];
    hq_key = sign_key_generate();
    keys = sign_keyring_new();
    if (hq_key == NULL || keys == NULL || sign_key_public_b64(hq_key, pub) != ML_OK ||
        sign_keyring_add(keys, KID, pub) != ML_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(hq_key);
    keys = sign_keyring_free(keys);
    return 0;
}

/* Brand demo; [hq] stores S001, S002 and S009 (S009 never sends anything). */
static int open_fx(void **state, EVP_PKEY *key)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[512] = "";
    assert_non_null(f);
    hq_config_defaults(&f->cfg);
    snprintf(f->cfg.brand, sizeof(f->cfg.brand), "demo");
    static const char *const stores[] = {"S001", "S002", "S009"};
    for (size_t i = 0; i < ARRAY_LEN(stores); i++)
        snprintf(f->cfg.stores[i], sizeof(f->cfg.stores[i]), "%s", stores[i]);
    f->cfg.nstores = ARRAY_LEN(stores);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ml-hq-settle-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/hq.db", f->dir);
    if (hq_store_open(f->path, HQ_STORE_READWRITE, &f->st, err, sizeof(err)) != ML_OK)
        fail_msg("hq_store_open: %s", err);
    assert_int_equal(hq_ingest_new(f->st, f->cfg.brand, &f->in), ML_OK);
    assert_int_equal(hq_settle_new(&f->cfg, key, key ? KID : NULL, &f->settle), ML_OK);
    hq_ingest_set_settle(f->in, f->settle);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return open_fx(state, hq_key);
}

static int setup_unsigned(void **state)
{
    return open_fx(state, NULL);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];
    hq_ingest_free(f->in);
    hq_settle_free(f->settle);
    hq_store_close(f->st);
    for (size_t i = 0; i < f->nsent; i++)
        free(f->sent[i].text);
    free(f->sent);
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < ARRAY_LEN(suffixes); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- reading the database back --------------------------------------------------------------- */

static int64_t q_i64(struct fx *f, const char *sql)
{
    return sqlread_i64(db_sqlite(hq_store_conn(f->st)), sql);
}

/* Every row of sql, columns joined by '|', rows ended by '\n', NULL as "NULL". Caller frees. */
static char *q_dump(struct fx *f, const char *sql)
{
    return sqlread_dump(db_sqlite(hq_store_conn(f->st)), sql);
}

static void assert_dump(struct fx *f, const char *sql, const char *want)
{
    sqlread_assert(db_sqlite(hq_store_conn(f->st)), sql, want);
}

static void exec_sql(struct fx *f, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db_sqlite(hq_store_conn(f->st)), sql, NULL, NULL, &err) != SQLITE_OK) {
        print_error("%s: %s\n", sql, err ? err : "?");
        sqlite3_free(err);
        fail();
    }
}

static int64_t conflicts(struct fx *f)
{
    return q_i64(f, "SELECT count(*) FROM conflicts");
}

/* ---- building and sending batches ------------------------------------------------------------ */

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

/* One coupon.redeemed as a terminal sends it. */
struct red {
    const char *id;
    const char *store, *terminal;
    int64_t seq;
    const char *sale;
    int64_t at;         /* the terminal's wall clock */
    int64_t trusted_at; /* NO_TRUST: absent; NULL_TRUST: null */
    int64_t amount;     /* 0: 2000 */
    const char *coupon; /* NULL: COUPON */
};

static void sb_envelope(struct sb *b, const char *id, int64_t seq, const char *type,
                        const char *store, const char *terminal, int64_t at)
{
    sb_addf(b,
            "{\"id\":\"%s\",\"seq\":%lld,\"type\":\"%s\",\"store\":\"%s\","
            "\"terminal\":\"%s\","
            "\"hlc\":\"%lld-%lld\",\"at\":%lld,\"body\":",
            id, (long long)seq, type, store, terminal, (long long)at, (long long)seq,
            (long long)at);
}

static void sb_redeemed(struct sb *b, const struct red *r)
{
    int64_t amount = r->amount ? r->amount : 2000;
    char trusted[32];
    if (r->trusted_at == NO_TRUST)
        trusted[0] = '\0';
    else if (r->trusted_at == NULL_TRUST)
        snprintf(trusted, sizeof(trusted), ",\"trusted_at\":null");
    else
        snprintf(trusted, sizeof(trusted), ",\"trusted_at\":%lld", (long long)r->trusted_at);
    sb_envelope(b, r->id, r->seq, "coupon.redeemed", r->store, r->terminal, r->at);
    sb_addf(b,
            "{\"coupon_id\":\"%s\",\"sale_id\":\"%s\",\"use_no\":1,\"amount\":%lld,"
            "\"lines\":[{\"line_no\":1,\"amount\":%lld}],\"member_id\":\"M1001\","
            "\"offline_ok\":true,\"offline\":true%s}}",
            r->coupon ? r->coupon : COUPON, r->sale, (long long)amount, (long long)amount, trusted);
}

static void topic_of(const char *store, const char *terminal, char *buf, size_t len)
{
    snprintf(buf, len, "ml/demo/s/%s/%s/ev", store, terminal);
}

/* Hands one batch to ingest without taking the settlement's messages. */
static ml_err ingest(struct fx *f, const char *store, const char *terminal, const char *batch,
                     char **ret_ack_payload)
{
    char topic[TOPIC_MAX];
    struct hq_ack ack;
    topic_of(store, terminal, topic, sizeof(topic));
    ml_err rc = hq_ingest_message(f->in, topic, batch, strlen(batch), NOW, &ack);
    *ret_ack_payload = ack.payload;
    return rc;
}

/* Takes the messages of the committed batches, as `serve` publishes them, and clears. */
static void take_messages(struct fx *f)
{
    size_t n = hq_settle_count(f->settle);
    for (size_t i = 0; i < n; i++) {
        const struct hq_push_msg *m = hq_settle_msg(f->settle, i);
        assert_non_null(m);
        if (m->skipped || m->text == NULL)
            fail_msg("message %zu (%s for %s) was not stored", i, m->kind, m->store);
        if (f->nsent == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 16;
            f->sent = realloc(f->sent, f->cap * sizeof(*f->sent));
            assert_non_null(f->sent);
        }
        struct sent *s = &f->sent[f->nsent++];
        snprintf(s->store, sizeof(s->store), "%s", m->store);
        snprintf(s->kind, sizeof(s->kind), "%s", m->kind);
        snprintf(s->topic, sizeof(s->topic), "%s", m->topic);
        s->cursor = m->cursor;
        s->text = strdup(m->text);
        assert_non_null(s->text);
    }
    hq_settle_clear(f->settle);
    assert_int_equal(hq_settle_count(f->settle), 0);
}

/* Sends a batch that must commit and be acknowledged with exactly want_ack's ids. */
static void send_batch(struct fx *f, const char *store, const char *terminal, const char *batch,
                       const char *want_ack)
{
    char *ack = NULL;
    ml_err rc = ingest(f, store, terminal, batch, &ack);
    if (rc != ML_OK)
        fail_msg("batch on %s/%s: %s", store, terminal, ml_strerror(rc));
    if (ack == NULL || strcmp(ack, want_ack) != 0)
        fail_msg("ack %s, want %s", ack ? ack : "(none)", want_ack);
    free(ack);
    take_messages(f);
}

/* The batch of one redemption. Caller frees. */
static char *redeem_batch(const struct red *r)
{
    struct sb b = {0};
    sb_addf(&b, "{\"v\":1,\"batch\":\"b-%s\",\"events\":[", r->id);
    sb_redeemed(&b, r);
    sb_addf(&b, "]}");
    return b.p;
}

static void redeem(struct fx *f, const struct red *r)
{
    char *batch = redeem_batch(r), want[128];
    snprintf(want, sizeof(want), "{\"v\":1,\"acked\":[\"%s\"]}", r->id);
    send_batch(f, r->store, r->terminal, batch, want);
    free(batch);
}

static void restore(struct fx *f, const char *id, int64_t seq, const char *store,
                    const char *terminal, const char *sale, int64_t at)
{
    struct sb b = {0};
    char want[128];
    sb_addf(&b, "{\"v\":1,\"batch\":\"b-%s\",\"events\":[", id);
    sb_envelope(&b, id, seq, "coupon.restored", store, terminal, at);
    sb_addf(&b, "{\"coupon_id\":\"%s\",\"sale_id\":\"%s\",\"use_no\":1}}]}", COUPON, sale);
    snprintf(want, sizeof(want), "{\"v\":1,\"acked\":[\"%s\"]}", id);
    send_batch(f, store, terminal, b.p, want);
    free(b.p);
}

/* A store HQ hears from for something other than a coupon. */
static void points_event(struct fx *f, const char *id, const char *store, const char *terminal)
{
    struct sb b = {0};
    char want[128];
    sb_addf(&b, "{\"v\":1,\"batch\":\"b-%s\",\"events\":[", id);
    sb_envelope(&b, id, 1, "points.changed", store, terminal, T0);
    sb_addf(&b, "{\"member_id\":\"M1\",\"reason\":\"sale\",\"earned\":1,\"spent\":0,"
                "\"delta\":1}}]}");
    snprintf(want, sizeof(want), "{\"v\":1,\"acked\":[\"%s\"]}", id);
    send_batch(f, store, terminal, b.p, want);
    free(b.p);
}

/* ---- checking the messages ------------------------------------------------------------------- */

/* "<store> <kind> <cursor>\n" for every message taken so far. Caller frees. */
static char *sent_list(struct fx *f)
{
    struct sb b = {0};
    sb_addf(&b, "%s", "");
    for (size_t i = 0; i < f->nsent; i++)
        sb_addf(&b, "%s %s %lld\n", f->sent[i].store, f->sent[i].kind,
                (long long)f->sent[i].cursor);
    return b.p;
}

static void assert_sent(struct fx *f, const char *want)
{
    char *got = sent_list(f);
    if (strcmp(got, want) != 0) {
        print_error("messages\n--- got:\n%s--- want:\n%s", got, want);
        free(got);
        fail();
    }
    free(got);
}

static const char *str_of(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsString(v))
        fail_msg("'%s' is not a string", name);
    return v->valuestring;
}

static int64_t int_of(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v))
        fail_msg("'%s' is not a number", name);
    return (int64_t)v->valuedouble;
}

/* The message's text parsed; it verifies on ml/demo/s/<store>/inbox and not on another store's
 * inbox, and says the store, cursor and kind it was taken with. Caller deletes. */
static cJSON *verified(const struct sent *s)
{
    char own[TOPIC_MAX], other[TOPIC_MAX];
    struct ml_refusal r = {0};
    snprintf(own, sizeof(own), "ml/demo/s/%s/inbox", s->store);
    snprintf(other, sizeof(other), "ml/demo/s/%s/inbox",
             strcmp(s->store, "S001") ? "S001" : "S002");
    assert_string_equal(s->topic, own);
    cJSON *msg = cJSON_Parse(s->text);
    if (msg == NULL)
        fail_msg("%s for %s does not parse: %s", s->kind, s->store, s->text);
    if (sign_verify(keys, own, msg, NOW, &r) != ML_OK)
        fail_msg("%s for %s does not verify on %s: %s: %s", s->kind, s->store, own, r.code,
                 r.message);
    assert_int_equal(sign_verify(keys, other, msg, NOW, &r), ML_REFUSED);
    assert_string_equal(r.code, "msg_bad_signature");
    assert_string_equal(str_of(msg, "store"), s->store);
    assert_int_equal(int_of(msg, "cursor"), s->cursor);
    assert_string_equal(str_of(msg, "kind"), s->kind);
    assert_string_equal(str_of(msg, "kid"), KID);
    return msg;
}

/* Every message verifies on its own inbox topic; each store's cursors run 1, 2, 3... in the order
 * the messages were taken, and so do the stored ones. */
static void assert_all_verify_with_gapless_cursors(struct fx *f)
{
    for (size_t i = 0; i < f->nsent; i++) {
        int64_t before = 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(f->sent[j].store, f->sent[i].store) == 0)
                before++;
        if (f->sent[i].cursor != before + 1)
            fail_msg("message %zu for %s has cursor %lld, want %lld", i, f->sent[i].store,
                     (long long)f->sent[i].cursor, (long long)(before + 1));
        cJSON_Delete(verified(&f->sent[i]));
    }
    assert_int_equal(q_i64(f, "SELECT count(*) FROM (SELECT store FROM outgoing GROUP BY store"
                              " HAVING min(cursor) <> 1 OR max(cursor) <> count(*))"),
                     0);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM outgoing"), f->nsent);
}

/* Messages of `kind` taken so far. */
static size_t count_kind(struct fx *f, const char *kind)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nsent; i++)
        n += strcmp(f->sent[i].kind, kind) == 0;
    return n;
}

/* The one settlement.notice taken so far, verified; NULL when there is none. Caller deletes. */
static cJSON *only_notice(struct fx *f, const char **ret_store)
{
    cJSON *found = NULL;
    for (size_t i = 0; i < f->nsent; i++) {
        if (strcmp(f->sent[i].kind, "settlement.notice") != 0)
            continue;
        if (found != NULL)
            fail_msg("a second settlement.notice, for %s", f->sent[i].store);
        found = verified(&f->sent[i]);
        *ret_store = f->sent[i].store;
    }
    return found;
}

#define CONFLICT_COLS                                                                              \
    "SELECT event_id, store, terminal, sale_id, winner_event_id, winner_store, "                   \
    "winner_terminal,"                                                                             \
    " winner_at FROM conflicts ORDER BY event_id"

/* ---- tests ----------------------------------------------------------------------------------- */

/* Two stores redeem a single-use coupon HQ never granted: one conflict, whichever order the batches
 * arrive in; the later trusted time loses, ties go by store, terminal, event id. */
static void single_use_coupon_redeemed_twice_books_one_conflict_for_the_later(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *name;
        struct red first, second; /* in order of arrival */
        int loser;                /* 0: first, 1: second */
    } cases[] = {
        {"later trusted time arrives second",
         {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL},
         {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL},
         1},
        {"later trusted time arrives first",
         {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL},
         {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL},
         0},
        {"trusted time outranks the wall clock",
         {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 300 * SEC, 0, NULL},
         {"ev-b", "S002", "T01", 1, "S002-T01-1", T0 + 900 * SEC, T0 + 200 * SEC, 0, NULL},
         0},
        {"tie: the higher store id loses (arrives first)",
         {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 100 * SEC, 0, NULL},
         {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL},
         0},
        {"tie: the higher store id loses (arrives second)",
         {"ev-a", "S001", "T09", 1, "S001-T09-1", T0, T0 + 100 * SEC, 0, NULL},
         {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 100 * SEC, 0, NULL},
         1},
        {"tie in one store: the higher terminal id loses",
         {"ev-a", "S001", "T02", 1, "S001-T02-1", T0, T0 + 100 * SEC, 0, NULL},
         {"ev-b", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL},
         0},
        {"tie in one terminal: the higher event id loses",
         {"ev-b", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL},
         {"ev-a", "S001", "T01", 2, "S001-T01-2", T0, T0 + 100 * SEC, 0, NULL},
         0},
    };
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        teardown(state);
        setup(state);
        f = *state;
        redeem(f, &cases[i].first);
        if (conflicts(f) != 0 || f->nsent != 0)
            ROW_FAIL("%s: the first redemption alone conflicts", cases[i].name);
        redeem(f, &cases[i].second);
        const struct red *lose = cases[i].loser ? &cases[i].second : &cases[i].first;
        const struct red *win = cases[i].loser ? &cases[i].first : &cases[i].second;
        char want[512];
        snprintf(want, sizeof(want), "%s|%s|%s|%s|%s|%s|%s|%lld\n", lose->id, lose->store,
                 lose->terminal, lose->sale, win->id, win->store, win->terminal,
                 (long long)win->trusted_at);
        char *got = q_dump(f, CONFLICT_COLS);
        if (strcmp(got, want) != 0)
            ROW_FAIL("%s: conflicts\n%swant\n%s", cases[i].name, got, want);
        free(got);
        const char *to = NULL;
        cJSON *notice = only_notice(f, &to);
        if (notice == NULL)
            ROW_FAIL("%s: no settlement.notice", cases[i].name);
        else if (strcmp(to, lose->store) != 0 ||
                 strcmp(str_of(cJSON_GetObjectItemCaseSensitive(notice, "body"), "notice_id"),
                        lose->id) != 0)
            ROW_FAIL("%s: the notice went to %s, want the loser %s", cases[i].name, to,
                     lose->store);
        cJSON_Delete(notice);
    }
    assert_int_equal(row_failures, 0);
}

/* Past the first conflict, every further redemption is one more, against the first. */
static void third_redemption_books_a_second_conflict(void **state)
{
    struct fx *f = *state;
    const struct red a = {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL};
    const struct red b = {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL};
    const struct red c = {"ev-c", "S003", "T01", 1, "S003-T01-1", T0, T0 + 300 * SEC, 0, NULL};
    redeem(f, &a);
    redeem(f, &b);
    assert_int_equal(conflicts(f), 1);
    redeem(f, &c);
    assert_dump(f, CONFLICT_COLS,
                "ev-b|S002|T01|S002-T01-1|ev-a|S001|T01|1767225700000\n"
                "ev-c|S003|T01|S003-T01-1|ev-a|S001|T01|1767225700000\n");
    assert_int_equal(count_kind(f, "settlement.notice"), 2);
}

/* Stores resend until acknowledged: the same events again book and send nothing more. */
static void resent_redemptions_book_nothing_more(void **state)
{
    struct fx *f = *state;
    const struct red reds[] = {
        {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL},
        {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL},
        {"ev-c", "S003", "T01", 1, "S003-T01-1", T0, T0 + 300 * SEC, 0, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(reds); i++)
        redeem(f, &reds[i]);
    char *before = q_dump(f, "SELECT * FROM conflicts ORDER BY event_id");
    size_t sent = f->nsent;
    int64_t outgoing = q_i64(f, "SELECT count(*) FROM outgoing");
    assert_int_equal(conflicts(f), 2);
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < ARRAY_LEN(reds); i++)
            redeem(f, &reds[i]); /* acknowledged again */
    char *after = q_dump(f, "SELECT * FROM conflicts ORDER BY event_id");
    assert_string_equal(after, before);
    free(before);
    free(after);
    assert_int_equal(f->nsent, sent);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM outgoing"), outgoing);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM redemptions"), 3);
    assert_int_equal(hq_ingest_stats(f->in)->events_duplicate, 6);
}

/* HQ's grant says how many redemptions stand; without one (or without "uses"), one does. */
static void granted_uses_stand_and_the_next_redemption_conflicts(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *name;
        const char *grant; /* NULL: HQ never granted the coupon */
        int64_t conflicts_after[3];
        const char *campaign; /* of the booked conflicts */
    } cases[] = {
        {"never granted", NULL, {0, 1, 2}, "NULL"},
        {"granted without uses",
         "{\"coupon_id\":\"" COUPON "\",\"campaign_id\":\"camp-1\",\"kind\":\"amount_off\","
         "\"value\":2000,\"valid_from\":0,\"valid_to\":1900000000000,\"version\":"
         "1}",
         {0, 1, 2},
         "camp-1"},
        {"uses 1",
         "{\"coupon_id\":\"" COUPON "\",\"campaign_id\":\"camp-1\",\"kind\":\"amount_off\","
         "\"value\":2000,\"uses\":1,\"valid_from\":0,\"valid_to\":1900000000000,"
         "\"version\":1}",
         {0, 1, 2},
         "camp-1"},
        {"uses 2",
         "{\"coupon_id\":\"" COUPON "\",\"campaign_id\":\"camp-1\",\"kind\":\"amount_off\","
         "\"value\":2000,\"uses\":2,\"valid_from\":0,\"valid_to\":1900000000000,"
         "\"version\":1}",
         {0, 0, 1},
         "camp-1"},
        {"uses 3",
         "{\"coupon_id\":\"" COUPON "\",\"kind\":\"amount_off\",\"value\":2000,\"uses\":3,"
         "\"valid_from\":0,\"valid_to\":1900000000000,\"version\":1}",
         {0, 0, 0},
         "NULL"},
    };
    const struct red reds[] = {
        {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL},
        {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL},
        {"ev-c", "S003", "T01", 1, "S003-T01-1", T0, T0 + 300 * SEC, 0, NULL},
    };
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        teardown(state);
        setup(state);
        f = *state;
        if (cases[i].grant != NULL) {
            cJSON *grant = cJSON_Parse(cases[i].grant);
            assert_non_null(grant);
            assert_int_equal(hq_settle_note_grant(f->st, grant), ML_OK);
            cJSON_Delete(grant);
        }
        for (size_t j = 0; j < ARRAY_LEN(reds); j++) {
            redeem(f, &reds[j]);
            if (conflicts(f) != cases[i].conflicts_after[j])
                ROW_FAIL("%s: after redemption %zu: %lld conflicts, want %lld", cases[i].name,
                         j + 1, (long long)conflicts(f), (long long)cases[i].conflicts_after[j]);
            if ((int64_t)count_kind(f, "settlement.notice") != cases[i].conflicts_after[j])
                ROW_FAIL("%s: after redemption %zu: %zu notices", cases[i].name, j + 1,
                         count_kind(f, "settlement.notice"));
        }
        char *got = q_dump(f, "SELECT DISTINCT coalesce(campaign_id, 'NULL') FROM conflicts");
        char want[64] = "";
        if (cases[i].conflicts_after[2] > 0)
            snprintf(want, sizeof(want), "%s\n", cases[i].campaign);
        if (strcmp(got, want) != 0)
            ROW_FAIL("%s: campaign of the conflicts %s, want %s", cases[i].name, got, want);
        free(got);
    }
    assert_int_equal(row_failures, 0);
}

/* A refund gave the coupon back before the other store's redemption arrived: that one stands alone;
 * the next redemption conflicts with it. */
static void redemption_restored_before_the_other_arrives_books_no_conflict(void **state)
{
    struct fx *f = *state;
    const struct red a = {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL};
    const struct red b = {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL};
    const struct red c = {"ev-c", "S003", "T01", 1, "S003-T01-1", T0, T0 + 300 * SEC, 0, NULL};
    redeem(f, &a);
    restore(f, "ev-a-back", 2, "S001", "T01", "S001-T01-1", T0 + 150 * SEC);
    assert_dump(f, "SELECT event_id FROM redemptions WHERE restored_at IS NOT NULL", "ev-a\n");
    redeem(f, &b);
    assert_int_equal(conflicts(f), 0);
    assert_int_equal(f->nsent, 0);
    redeem(f, &c);
    assert_dump(f, CONFLICT_COLS, "ev-c|S003|T01|S003-T01-1|ev-b|S002|T01|1767225800000\n");
}

/* Without a trusted time (absent or null), the terminal's wall clock `at` orders. */
static void without_trusted_time_the_wall_clock_orders(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *name;
        struct red first, second;
        const char *want; /* CONFLICT_COLS */
    } cases[] = {
        {"absent",
         {"ev-a", "S001", "T01", 1, "S001-T01-1", T0 + 20 * SEC, NO_TRUST, 0, NULL},
         {"ev-b", "S002", "T01", 1, "S002-T01-1", T0 + 10 * SEC, NO_TRUST, 0, NULL},
         "ev-a|S001|T01|S001-T01-1|ev-b|S002|T01|1767225610000\n"},
        {"null",
         {"ev-a", "S001", "T01", 1, "S001-T01-1", T0 + 20 * SEC, NULL_TRUST, 0, NULL},
         {"ev-b", "S002", "T01", 1, "S002-T01-1", T0 + 10 * SEC, NULL_TRUST, 0, NULL},
         "ev-a|S001|T01|S001-T01-1|ev-b|S002|T01|1767225610000\n"},
        {"absent on one, trusted on the other",
         {"ev-a", "S001", "T01", 1, "S001-T01-1", T0 + 20 * SEC, NO_TRUST, 0, NULL},
         {"ev-b", "S002", "T01", 1, "S002-T01-1", T0 + 90 * SEC, T0 + 15 * SEC, 0, NULL},
         "ev-a|S001|T01|S001-T01-1|ev-b|S002|T01|1767225615000\n"},
        {"absent on one, a later trusted time on the other",
         {"ev-a", "S001", "T01", 1, "S001-T01-1", T0 + 20 * SEC, NO_TRUST, 0, NULL},
         {"ev-b", "S002", "T01", 1, "S002-T01-1", T0 + 10 * SEC, T0 + 25 * SEC, 0, NULL},
         "ev-b|S002|T01|S002-T01-1|ev-a|S001|T01|1767225620000\n"},
    };
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        teardown(state);
        setup(state);
        f = *state;
        redeem(f, &cases[i].first);
        redeem(f, &cases[i].second);
        char *got = q_dump(f, CONFLICT_COLS);
        if (strcmp(got, cases[i].want) != 0)
            ROW_FAIL("%s: conflicts\n%swant\n%s", cases[i].name, got, cases[i].want);
        free(got);
    }
    assert_int_equal(row_failures, 0);
}

/* For each conflict: the notice to the losing store only, then the deny to every store HQ knows
 * ([hq] stores first, then stores heard from), each signed for its own inbox, each store's cursors
 * gapless. */
static void conflict_notifies_the_loser_and_denies_the_coupon_at_every_known_store(void **state)
{
    struct fx *f = *state;
    const struct red a = {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL};
    const struct red b = {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL};
    const struct red c = {"ev-c", "S003", "T02", 1, "S003-T02-1", T0, T0 + 300 * SEC, 0, NULL};
    points_event(f, "pts-1", "S003", "T01"); /* S003: heard from, not configured */
    redeem(f, &a);
    assert_int_equal(f->nsent, 0);
    redeem(f, &b);
    assert_sent(f, "S002 settlement.notice 1\n"
                   "S001 deny.upsert 1\n"
                   "S002 deny.upsert 2\n"
                   "S009 deny.upsert 1\n"
                   "S003 deny.upsert 1\n");
    redeem(f, &c);
    assert_sent(f, "S002 settlement.notice 1\n"
                   "S001 deny.upsert 1\n"
                   "S002 deny.upsert 2\n"
                   "S009 deny.upsert 1\n"
                   "S003 deny.upsert 1\n"
                   "S003 settlement.notice 2\n"
                   "S001 deny.upsert 2\n"
                   "S002 deny.upsert 3\n"
                   "S009 deny.upsert 2\n"
                   "S003 deny.upsert 3\n");
    assert_all_verify_with_gapless_cursors(f);

    cJSON *msg = verified(&f->sent[0]);
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
    assert_string_equal(str_of(body, "notice_id"), "ev-b");
    assert_string_equal(str_of(body, "coupon_id"), COUPON);
    assert_string_equal(str_of(body, "sale_id"), "S002-T01-1");
    assert_int_equal(int_of(body, "amount"), 2000);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(body, "campaign_id")));
    assert_string_equal(str_of(body, "terminal"), "T01");
    assert_string_equal(str_of(body, "reason"), "redeemed_elsewhere");
    assert_true(int_of(body, "version") >= 1);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(body, "winner");
    assert_string_equal(str_of(w, "store"), "S001");
    assert_string_equal(str_of(w, "terminal"), "T01");
    assert_string_equal(str_of(w, "sale_id"), "S001-T01-1");
    assert_int_equal(int_of(w, "at"), T0 + 100 * SEC);
    cJSON_Delete(msg);

    msg = verified(&f->sent[5]);
    body = cJSON_GetObjectItemCaseSensitive(msg, "body");
    assert_string_equal(str_of(body, "notice_id"), "ev-c");
    assert_string_equal(str_of(body, "terminal"), "T02");
    cJSON_Delete(msg);

    int64_t last_version = 0;
    for (size_t i = 0; i < f->nsent; i++) {
        if (strcmp(f->sent[i].kind, "deny.upsert") != 0)
            continue;
        msg = verified(&f->sent[i]);
        body = cJSON_GetObjectItemCaseSensitive(msg, "body");
        assert_string_equal(str_of(body, "subject"), "coupon");
        assert_string_equal(str_of(body, "id"), COUPON);
        assert_string_equal(str_of(body, "reason"), "redeemed_elsewhere");
        assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(body, "lifted")));
        /* The second conflict's deny is newer, so stores holding the first apply it. */
        if (i > 5)
            assert_true(int_of(body, "version") > last_version);
        else
            last_version = int_of(body, "version");
        cJSON_Delete(msg);
    }
}

/* Regression: the cap on the stores a deny goes to counts each store once. 25000 stores are
 * both heard from and sent to (50000 names in the two lists), and one more was only sent to:
 * every one of the 25001 gets the deny, the one sorting last too. */
static void deny_reaches_every_store_known_twice_under_the_cap(void **state)
{
    struct fx *f = *state;
    enum { KNOWN = 25000 };
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d - 1)"
             " INSERT INTO terminals (store, terminal, first_received_at, last_received_at)"
             " SELECT printf('K%%05d', i), 'T01', 0, 0 FROM n",
             KNOWN);
    exec_sql(f, sql);
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d - 1)"
             " INSERT INTO outgoing (store, cursor, id, kind, entity, version, topic, text,"
             " issued, expires) SELECT printf('K%%05d', i), 1, printf('m%%d', i),"
             " 'member.upsert', 'member:M1', 1, 't', '{}', 0, 1 FROM n",
             KNOWN);
    exec_sql(f, sql);
    exec_sql(f, "INSERT INTO outgoing (store, cursor, id, kind, entity, version, topic, text,"
                " issued, expires) VALUES ('Z9', 1, 'mz', 'member.upsert', 'member:M1', 1, 't',"
                " '{}', 0, 1)");
    const struct red a = {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL};
    const struct red b = {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL};
    redeem(f, &a);
    redeem(f, &b);
    size_t denies = 0, last_store = 0;
    for (size_t i = 0; i < f->nsent; i++)
        if (strcmp(f->sent[i].kind, "deny.upsert") == 0) {
            denies++;
            last_store = i;
        }
    assert_int_equal(denies, 3 + KNOWN + 1); /* [hq] stores, then the others once each */
    assert_string_equal(f->sent[last_store].store, "Z9");
    assert_int_equal(q_i64(f, "SELECT count(DISTINCT store) FROM outgoing"
                              " WHERE kind = 'deny.upsert'"),
                     3 + KNOWN + 1);
}

/* Regressions: a losing event id of 64 characters (the maximum) is the notice_id as it is, and
 * amounts above the money limit of facts (1e11) up to 2^50 are notified. */
static void notice_is_sent_for_the_longest_event_id_and_a_large_amount(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *name;
        const char *loser_id;
        int64_t amount;
    } cases[] = {
        {"event id of 64 characters", ID_64, 2000},
        {"amount 500000000000", "ev-big", INT64_C(500000000000)},
        {"amount 2^50", "ev-limit", INT64_C(1) << 50},
    };
    assert_int_equal(strlen(ID_64), HQ_EVENT_ID_MAX);
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        teardown(state);
        setup(state);
        f = *state;
        const struct red a = {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL};
        const struct red b = {.id = cases[i].loser_id,
                              .store = "S002",
                              .terminal = "T01",
                              .seq = 1,
                              .sale = "S002-T01-1",
                              .at = T0,
                              .trusted_at = T0 + 200 * SEC,
                              .amount = cases[i].amount};
        redeem(f, &a);
        redeem(f, &b);
        char want[256];
        snprintf(want, sizeof(want), "%s|%lld|%s\n", cases[i].loser_id, (long long)cases[i].amount,
                 cases[i].loser_id);
        char *got = q_dump(f, "SELECT event_id, amount, notice_id FROM conflicts");
        if (strcmp(got, want) != 0)
            ROW_FAIL("%s: conflicts %swant %s", cases[i].name, got, want);
        free(got);
        const char *to = NULL;
        cJSON *notice = only_notice(f, &to);
        if (notice == NULL) {
            ROW_FAIL("%s: no settlement.notice was stored", cases[i].name);
        } else {
            const cJSON *body = cJSON_GetObjectItemCaseSensitive(notice, "body");
            if (strcmp(to, "S002") != 0 || strcmp(str_of(body, "notice_id"), cases[i].loser_id))
                ROW_FAIL("%s: notice %s to %s", cases[i].name, str_of(body, "notice_id"), to);
            if (int_of(body, "amount") != cases[i].amount)
                ROW_FAIL("%s: notice amount %lld", cases[i].name,
                         (long long)int_of(body, "amount"));
        }
        cJSON_Delete(notice);
        if (count_kind(f, "deny.upsert") != 3)
            ROW_FAIL("%s: %zu deny.upsert, want 3", cases[i].name, count_kind(f, "deny.upsert"));
        assert_all_verify_with_gapless_cursors(f);
    }
    assert_int_equal(row_failures, 0);
}

/* Without a signing key conflicts are booked (no notice id) and nothing is stored to send. */
static void without_a_key_conflicts_are_booked_and_no_message_is_stored(void **state)
{
    struct fx *f = *state;
    const struct red a = {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL};
    const struct red b = {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL};
    const struct red c = {"ev-c", "S003", "T01", 1, "S003-T01-1", T0, T0 + 300 * SEC, 0, NULL};
    redeem(f, &a);
    redeem(f, &b);
    redeem(f, &c);
    assert_dump(f,
                "SELECT event_id, winner_event_id, notice_id FROM conflicts "
                "ORDER BY event_id",
                "ev-b|ev-a|NULL\nev-c|ev-a|NULL\n");
    assert_int_equal(f->nsent, 0);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM outgoing"), 0);
}

/* A batch whose transaction rolls back (an event fails to store after a conflict was booked) leaves
 * no messages behind; its resend books and sends them. */
static void failed_batch_leaves_no_pending_messages(void **state)
{
    struct fx *f = *state;
    const struct red a = {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL};
    const struct red b = {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL};
    exec_sql(f, "CREATE TEMP TRIGGER poison BEFORE INSERT ON main.events"
                " WHEN NEW.id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
    redeem(f, &a);

    struct sb batch = {0};
    sb_addf(&batch, "{\"v\":1,\"batch\":\"b-bad\",\"events\":[");
    sb_redeemed(&batch, &b);
    sb_addf(&batch, ",");
    sb_envelope(&batch, "poison", 2, "points.changed", "S002", "T01", T0);
    sb_addf(&batch, "{}}]}");
    char *ack = NULL;
    assert_int_equal(ingest(f, "S002", "T01", batch.p, &ack), ML_STORAGE);
    assert_null(ack);
    free(batch.p);
    assert_int_equal(hq_settle_count(f->settle), 0);
    assert_int_equal(conflicts(f), 0);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM outgoing"), 0);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM redemptions"), 1);

    redeem(f, &b);
    assert_int_equal(conflicts(f), 1);
    assert_sent(f, "S002 settlement.notice 1\n"
                   "S001 deny.upsert 1\n"
                   "S002 deny.upsert 2\n"
                   "S009 deny.upsert 1\n");
    assert_all_verify_with_gapless_cursors(f);
}

/* In a group, a batch rolled back to its savepoint takes only its own messages with it. */
static void batch_rolled_back_in_a_group_keeps_the_other_batches_messages(void **state)
{
    struct fx *f = *state;
    const struct red a = {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL};
    const struct red b = {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL};
    const struct red c = {"ev-c", "S003", "T01", 1, "S003-T01-1", T0, T0 + 300 * SEC, 0, NULL};
    exec_sql(f, "CREATE TEMP TRIGGER poison BEFORE INSERT ON main.events"
                " WHEN NEW.id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
    redeem(f, &a);

    assert_int_equal(hq_ingest_group_begin(f->in), ML_OK);
    char *one = redeem_batch(&b), *ack = NULL;
    assert_int_equal(ingest(f, "S002", "T01", one, &ack), ML_OK);
    free(ack);
    free(one);
    size_t kept = hq_settle_count(f->settle);
    assert_int_equal(kept, 4); /* notice to S002, deny to S001, S002, S009 */

    struct sb batch = {0};
    sb_addf(&batch, "{\"v\":1,\"batch\":\"b-bad\",\"events\":[");
    sb_redeemed(&batch, &c);
    sb_addf(&batch, ",");
    sb_envelope(&batch, "poison", 2, "points.changed", "S003", "T01", T0);
    sb_addf(&batch, "{}}]}");
    assert_int_equal(ingest(f, "S003", "T01", batch.p, &ack), ML_STORAGE);
    assert_null(ack);
    free(batch.p);
    assert_int_equal(hq_settle_count(f->settle), kept);

    assert_int_equal(hq_ingest_group_commit(f->in), ML_OK);
    take_messages(f);
    assert_dump(f, "SELECT event_id FROM conflicts", "ev-b\n");
    assert_sent(f, "S002 settlement.notice 1\n"
                   "S001 deny.upsert 1\n"
                   "S002 deny.upsert 2\n"
                   "S009 deny.upsert 1\n");
    assert_all_verify_with_gapless_cursors(f);
}

/* A group whose COMMIT fails stores nothing, and nothing of it is left to publish. */
static void failed_group_commit_leaves_no_pending_messages(void **state)
{
    struct fx *f = *state;
    const struct red a = {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL};
    const struct red b = {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL};
    /* An event whose insert leaves a deferred foreign key unresolved: COMMIT refuses. */
    exec_sql(f, "PRAGMA foreign_keys = ON;"
                "CREATE TEMP TABLE fk_parent (id TEXT PRIMARY KEY);"
                "CREATE TEMP TABLE fk_child (p TEXT REFERENCES fk_parent(id)"
                " DEFERRABLE INITIALLY DEFERRED);"
                "CREATE TEMP TRIGGER poison AFTER INSERT ON main.events"
                " WHEN NEW.id = 'poison' BEGIN INSERT INTO fk_child VALUES "
                "('none'); END");
    redeem(f, &a);

    assert_int_equal(hq_ingest_group_begin(f->in), ML_OK);
    char *one = redeem_batch(&b), *ack = NULL;
    assert_int_equal(ingest(f, "S002", "T01", one, &ack), ML_OK);
    free(ack);
    free(one);
    assert_int_equal(hq_settle_count(f->settle), 4);
    struct sb batch = {0};
    sb_addf(&batch, "{\"v\":1,\"batch\":\"b-bad\",\"events\":[");
    sb_envelope(&batch, "poison", 1, "points.changed", "S003", "T01", T0);
    sb_addf(&batch, "{}}]}");
    assert_int_equal(ingest(f, "S003", "T01", batch.p, &ack), ML_OK);
    free(ack);
    free(batch.p);

    assert_int_equal(hq_ingest_group_commit(f->in), ML_STORAGE);
    assert_int_equal(hq_settle_count(f->settle), 0);
    assert_false(hq_store_in_tx(f->st));
    assert_int_equal(conflicts(f), 0);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM outgoing"), 0);
    assert_int_equal(q_i64(f, "SELECT count(*) FROM redemptions"), 1);
}

/* hq_settle_truncate keeps the messages before index n, in order, and forgets the rest. */
static void truncate_forgets_the_messages_from_index_n(void **state)
{
    struct fx *f = *state;
    const struct red a = {"ev-a", "S001", "T01", 1, "S001-T01-1", T0, T0 + 100 * SEC, 0, NULL};
    const struct red b = {"ev-b", "S002", "T01", 1, "S002-T01-1", T0, T0 + 200 * SEC, 0, NULL};
    redeem(f, &a);
    char *one = redeem_batch(&b), *ack = NULL;
    assert_int_equal(ingest(f, "S002", "T01", one, &ack), ML_OK);
    free(ack);
    free(one);
    assert_int_equal(hq_settle_count(f->settle), 4);
    char id0[SIGN_ID_MAX + 1], id1[SIGN_ID_MAX + 1];
    snprintf(id0, sizeof(id0), "%s", hq_settle_msg(f->settle, 0)->id);
    snprintf(id1, sizeof(id1), "%s", hq_settle_msg(f->settle, 1)->id);
    hq_settle_truncate(f->settle, 2);
    assert_int_equal(hq_settle_count(f->settle), 2);
    assert_string_equal(hq_settle_msg(f->settle, 0)->id, id0);
    assert_string_equal(hq_settle_msg(f->settle, 1)->id, id1);
    assert_null(hq_settle_msg(f->settle, 2));
    hq_settle_truncate(f->settle, 3);
    assert_int_equal(hq_settle_count(f->settle), 2);
    hq_settle_truncate(f->settle, 0);
    assert_int_equal(hq_settle_count(f->settle), 0);
}

int main(void)
{
    /* Local days in the report rows are UTC here, whatever the machine's zone. */
    setenv("TZ", "UTC", 1);
    tzset();
    log_set_level(LOG_LVL_ERROR);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(single_use_coupon_redeemed_twice_books_one_conflict_for_the_later),
        T(third_redemption_books_a_second_conflict),
        T(resent_redemptions_book_nothing_more),
        T(granted_uses_stand_and_the_next_redemption_conflicts),
        T(redemption_restored_before_the_other_arrives_books_no_conflict),
        T(without_trusted_time_the_wall_clock_orders),
        T(conflict_notifies_the_loser_and_denies_the_coupon_at_every_known_store),
        T(notice_is_sent_for_the_longest_event_id_and_a_large_amount),
        T(deny_reaches_every_store_known_twice_under_the_cap),
        cmocka_unit_test_setup_teardown(without_a_key_conflicts_are_booked_and_no_message_is_stored,
                                        setup_unsigned, teardown),
        T(failed_batch_leaves_no_pending_messages),
        T(batch_rolled_back_in_a_group_keeps_the_other_batches_messages),
        T(failed_group_commit_leaves_no_pending_messages),
        T(truncate_forgets_the_messages_from_index_n),
    };
#undef T
    return cmocka_run_group_tests_name("hq_settle", tests, group_setup, group_teardown);
}
