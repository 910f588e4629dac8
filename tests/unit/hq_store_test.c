/*
 * hq_store_test: unit tests for hq_store.h, the HQ database, on a real SQLite file in a
 * fresh temporary directory per test.
 *
 * Covered: opening, migrating and refusing schemas; events stored once per id (duplicate
 * and conflicting resends); per-terminal seq tracking (next_seq, max_seq, received, gaps)
 * step by step; rejections; the report rows. (The outgoing messages are
 * hq_outgoing_test.c's.) Tables are read back with plain SQL on the store's connection.
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

#include "hq_store.h"
#include "sqlread.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define SQL_MAX 1024

struct fx {
    char dir[64];
    char path[128];
    struct hq_store *st;
};

static void fx_open(struct fx *f, enum hq_store_mode mode)
{
    char err[512] = "";
    ml_err rc = hq_store_open(f->path, mode, &f->st, err, sizeof(err));
    if (rc != ML_OK)
        fail_msg("hq_store_open(%s): %s: %s", f->path, ml_strerror(rc), err);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ml-hq-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/hq.db", f->dir);
    fx_open(f, HQ_STORE_READWRITE);
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

static void fx_reopen(struct fx *f, enum hq_store_mode mode)
{
    hq_store_close(f->st);
    f->st = NULL;
    fx_open(f, mode);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        char copy[256];
        snprintf(copy, sizeof(copy), "%s", msg ? msg : "?");
        sqlite3_free(msg);
        fail_msg("%s: %s", sql, copy);
    }
}

/* The first column of the only row of the query, as an integer (NULL reads as 0). */
static int64_t q_i64(struct hq_store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int64_t q_i64(struct hq_store *st, const char *fmt, ...)
{
    char sql[SQL_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(sql));
    return sqlread_i64(db_sqlite(hq_store_conn(st)), sql);
}

static void assert_dump(struct hq_store *st, const char *sql, const char *want)
{
    sqlread_assert(db_sqlite(hq_store_conn(st)), sql, want);
}

static struct hq_event event(const char *id, const char *store, const char *terminal, int64_t seq,
                             const char *type)
{
    struct hq_event ev = {.id = id,
                          .seq = seq,
                          .type = type,
                          .store = store,
                          .terminal = terminal,
                          .hlc = "1767225600000-0",
                          .at = T0,
                          .body = "{}",
                          .batch = "b1"};
    return ev;
}

/* Stores ev in its own transaction; returns the result. */
static struct hq_put_result put(struct hq_store *st, const struct hq_event *ev)
{
    struct hq_put_result res;
    memset(&res, 0x5a, sizeof(res));
    assert_int_equal(hq_store_begin(st), ML_OK);
    assert_int_equal(hq_store_put_event(st, ev, T0 + 1, &res), ML_OK);
    assert_int_equal(hq_store_commit(st), ML_OK);
    return res;
}

/* ---- opening and migrating ----------------------------------------------------------- */

static void open_creates_every_table_at_the_current_version_in_wal_mode(void **state)
{
    struct fx *f = *state;
    static const char *const tables[] = {"events",     "terminals",          "sales",
                                         "refunds",    "commission_entries", "redemptions",
                                         "rejections", "outgoing",           "outgoing_campaigns"};
    assert_int_equal(q_i64(f->st, "PRAGMA user_version"), HQ_SCHEMA_VERSION);
    assert_dump(f->st, "PRAGMA journal_mode", "wal\n");
    for (size_t i = 0; i < ARRAY_LEN(tables); i++)
        if (q_i64(f->st, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'",
                  tables[i]) != 1)
            fail_msg("table %s missing", tables[i]);
}

static void reopen_keeps_events_in_both_modes(void **state)
{
    struct fx *f = *state;
    struct hq_event ev = event("e1", "S001", "T01", 1, "points.changed");
    assert_int_equal(put(f->st, &ev).put, HQ_PUT_NEW);
    fx_reopen(f, HQ_STORE_READWRITE);
    assert_int_equal(q_i64(f->st, "SELECT count(*) FROM events WHERE id = 'e1'"), 1);
    fx_reopen(f, HQ_STORE_READONLY);
    assert_int_equal(q_i64(f->st, "SELECT count(*) FROM events WHERE id = 'e1'"), 1);
    assert_int_equal(q_i64(f->st, "PRAGMA user_version"), HQ_SCHEMA_VERSION);
}

/* The schema of memberlink-hq's first release (schema version 1), as such a database is
 * on disk: the fixture for migrating forward. Migrations only ever append, so this stays. */
static const char schema_v1[] =
    "CREATE TABLE events (\n"
    "  id TEXT PRIMARY KEY,\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  seq INTEGER NOT NULL,\n"
    "  type TEXT NOT NULL,\n"
    "  hlc TEXT NOT NULL,\n"
    "  at INTEGER NOT NULL,\n"
    "  body TEXT NOT NULL,\n"
    "  batch TEXT,\n"
    "  received_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX events_terminal_seq ON events(store, terminal, seq);\n"
    "CREATE TABLE terminals (\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  next_seq INTEGER NOT NULL DEFAULT 1,\n"
    "  max_seq INTEGER NOT NULL DEFAULT 0,\n"
    "  received INTEGER NOT NULL DEFAULT 0,\n"
    "  gaps INTEGER NOT NULL DEFAULT 0,\n"
    "  first_received_at INTEGER NOT NULL,\n"
    "  last_received_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (store, terminal)\n"
    ");\n"
    "CREATE TABLE sales (\n"
    "  sale_id TEXT PRIMARY KEY,\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  day TEXT NOT NULL,\n"
    "  at INTEGER NOT NULL,\n"
    "  member_id TEXT,\n"
    "  guide_id TEXT,\n"
    "  total INTEGER NOT NULL,\n"
    "  commission INTEGER NOT NULL,\n"
    "  refunded INTEGER NOT NULL DEFAULT 0,\n"
    "  event_id TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX sales_day ON sales(day, store);\n"
    "CREATE TABLE refunds (\n"
    "  event_id TEXT PRIMARY KEY,\n"
    "  refund_id TEXT NOT NULL,\n"
    "  sale_id TEXT NOT NULL,\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  amount INTEGER NOT NULL,\n"
    "  day TEXT NOT NULL,\n"
    "  at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX refunds_sale ON refunds(sale_id);\n"
    "CREATE TABLE commission_entries (\n"
    "  event_id TEXT PRIMARY KEY,\n"
    "  guide_id TEXT NOT NULL,\n"
    "  sale_id TEXT NOT NULL,\n"
    "  refund_id TEXT,\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  amount INTEGER NOT NULL,\n"
    "  day TEXT NOT NULL,\n"
    "  at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX commission_entries_day ON commission_entries(day, guide_id);\n"
    "CREATE TABLE redemptions (\n"
    "  event_id TEXT PRIMARY KEY,\n"
    "  coupon_id TEXT NOT NULL,\n"
    "  sale_id TEXT NOT NULL,\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  use_no INTEGER NOT NULL,\n"
    "  amount INTEGER NOT NULL,\n"
    "  at INTEGER NOT NULL,\n"
    "  day TEXT NOT NULL,\n"
    "  restored_at INTEGER\n"
    ");\n"
    "CREATE INDEX redemptions_coupon ON redemptions(coupon_id, use_no);\n"
    "CREATE INDEX redemptions_day ON redemptions(day);\n"
    "CREATE TABLE rejections (\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  reason TEXT NOT NULL,\n"
    "  count INTEGER NOT NULL,\n"
    "  last_event_id TEXT,\n"
    "  last_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (store, terminal, reason)\n"
    ");\n";

/* A database left at version 1 by an older memberlink-hq is taken forward on a read-write
 * open, keeping its data; a read-only open refuses it. */
static void open_migrates_a_version_1_database_forward(void **state)
{
    struct fx *f = *state;
    hq_store_close(f->st);
    f->st = NULL;
    (void)unlink(f->path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    exec_sql(db, schema_v1);
    exec_sql(db, "INSERT INTO events (id, store, terminal, seq, type, hlc, at, body, batch,"
                 " received_at) VALUES ('e1', 'S001', 'T01', 1, 'points.changed', '1-0', 1,"
                 " '{}', NULL, 1);"
                 "INSERT INTO terminals (store, terminal, next_seq, max_seq, received,"
                 " first_received_at, last_received_at) VALUES ('S001', 'T01', 2, 1, 1, 1, 1);"
                 "PRAGMA user_version = 1");
    sqlite3_close(db);

    char err[512] = "";
    struct hq_store *st = NULL;
    assert_int_equal(hq_store_open(f->path, HQ_STORE_READONLY, &st, err, sizeof(err)), ML_STORAGE);
    assert_null(st);
    assert_non_null(strstr(err, "schema version 1"));

    fx_open(f, HQ_STORE_READWRITE);
    assert_int_equal(q_i64(f->st, "PRAGMA user_version"), HQ_SCHEMA_VERSION);
    assert_int_equal(q_i64(f->st, "SELECT count(*) FROM outgoing"), 0);
    assert_int_equal(q_i64(f->st, "SELECT count(*) FROM outgoing_campaigns"), 0);
    assert_dump(f->st, "SELECT id, seq FROM events", "e1|1\n");

    /* The migrated database takes new events where the old one left off. */
    struct hq_event ev = event("e2", "S001", "T01", 2, "points.changed");
    struct hq_seq_state before, after;
    struct hq_put_result res;
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    assert_int_equal(hq_store_put_event(f->st, &ev, T0, &res), ML_OK);
    assert_int_equal(hq_store_refresh_terminal(f->st, "S001", "T01", &before, &after), ML_OK);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    assert_int_equal(after.next_seq, 3);
    assert_int_equal(after.gaps, 0);
}

static void newer_schema_is_refused_in_both_modes(void **state)
{
    struct fx *f = *state;
    static const enum hq_store_mode modes[] = {HQ_STORE_READWRITE, HQ_STORE_READONLY};
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", HQ_SCHEMA_VERSION + 1);
    exec_sql(db_sqlite(hq_store_conn(f->st)), pragma);
    hq_store_close(f->st);
    f->st = NULL;
    for (size_t i = 0; i < ARRAY_LEN(modes); i++) {
        char err[512] = "";
        struct hq_store *sentinel = (struct hq_store *)&err, *st = sentinel;
        assert_int_equal(hq_store_open(f->path, modes[i], &st, err, sizeof(err)), ML_CONFIG);
        assert_ptr_equal(st, sentinel); /* left alone on failure */
        assert_non_null(strstr(err, "newer"));
        assert_non_null(strstr(err, f->path));
    }
    /* Put the version back so the fixture can open it again. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", HQ_SCHEMA_VERSION);
    exec_sql(db, pragma);
    sqlite3_close(db);
    fx_open(f, HQ_STORE_READWRITE);
}

static void open_of_missing_file_or_directory_is_refused(void **state)
{
    struct fx *f = *state;
    char path[160], err[512] = "";
    struct hq_store *st = NULL;
    snprintf(path, sizeof(path), "%s/absent.db", f->dir);
    assert_int_equal(hq_store_open(path, HQ_STORE_READONLY, &st, err, sizeof(err)), ML_NOENTRY);
    assert_null(st);
    assert_non_null(strstr(err, path));
    assert_int_equal(access(path, F_OK), -1); /* READONLY creates nothing */

    snprintf(path, sizeof(path), "%s/no/such/dir/hq.db", f->dir);
    err[0] = '\0';
    assert_int_equal(hq_store_open(path, HQ_STORE_READWRITE, &st, err, sizeof(err)), ML_STORAGE);
    assert_null(st);
    assert_non_null(strstr(err, path));
}

/* ---- events: once per id ------------------------------------------------------------- */

/* A resend of the same event is a duplicate; the same id on anything else is a conflict.
 * Neither stores a row nor counts a seq. */
static void put_event_twice_is_duplicate_and_other_event_under_its_id_is_conflict(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *store, *terminal;
        int64_t seq;
        const char *type;
        enum hq_put want;
    } cases[] = {
        {"S001", "T01", 1, "sale.completed", HQ_PUT_DUPLICATE},
        {"S001", "T01", 2, "sale.completed", HQ_PUT_CONFLICT},
        {"S001", "T01", 1, "sale.refunded", HQ_PUT_CONFLICT},
        {"S001", "T02", 1, "sale.completed", HQ_PUT_CONFLICT},
        {"S002", "T01", 1, "sale.completed", HQ_PUT_CONFLICT},
    };
    struct hq_event first = event("e1", "S001", "T01", 1, "sale.completed");
    struct hq_put_result res = put(f->st, &first);
    assert_int_equal(res.put, HQ_PUT_NEW);
    assert_int_equal(res.seq_reused, 0);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct hq_event ev =
            event("e1", cases[i].store, cases[i].terminal, cases[i].seq, cases[i].type);
        ev.body = "{\"changed\":true}";
        res = put(f->st, &ev);
        if (res.put != cases[i].want)
            fail_msg("case %zu: put %d, want %d", i, (int)res.put, (int)cases[i].want);
    }
    assert_dump(f->st, "SELECT id, store, terminal, seq, type, body, received_at FROM events",
                "e1|S001|T01|1|sale.completed|{}|1767225600001\n");
    assert_dump(f->st, "SELECT store, terminal, max_seq, received FROM terminals",
                "S001|T01|1|1\n");
}

/* A store that reuses a seq under a new id (a restored database) keeps both events, says
 * whose seq it was, and the seq is counted once. */
static void put_event_with_a_reused_seq_is_new_and_names_the_other_id(void **state)
{
    struct fx *f = *state;
    struct hq_event a = event("e-a", "S001", "T01", 7, "points.changed");
    struct hq_event b = event("e-b", "S001", "T01", 7, "points.changed");
    assert_int_equal(put(f->st, &a).put, HQ_PUT_NEW);
    struct hq_put_result res = put(f->st, &b);
    assert_int_equal(res.put, HQ_PUT_NEW);
    assert_int_equal(res.seq_reused, 1);
    assert_string_equal(res.other_id, "e-a");
    assert_int_equal(q_i64(f->st, "SELECT count(*) FROM events WHERE seq = 7"), 2);
    assert_dump(f->st, "SELECT max_seq, received FROM terminals", "7|1\n");
}

static void rolled_back_event_leaves_nothing(void **state)
{
    struct fx *f = *state;
    struct hq_event ev = event("e1", "S001", "T01", 1, "points.changed");
    struct hq_put_result res;
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    assert_int_equal(hq_store_put_event(f->st, &ev, T0, &res), ML_OK);
    assert_int_equal(hq_store_note_rejected(f->st, "S001", "T01", "malformed", "x", T0), ML_OK);
    hq_store_rollback(f->st);
    assert_int_equal(q_i64(f->st, "SELECT count(*) FROM events"), 0);
    assert_int_equal(q_i64(f->st, "SELECT count(*) FROM terminals"), 0);
    assert_int_equal(q_i64(f->st, "SELECT count(*) FROM rejections"), 0);
    /* The same event goes in afterwards as new. */
    assert_int_equal(put(f->st, &ev).put, HQ_PUT_NEW);
}

/* ---- seq tracking per terminal ------------------------------------------------------- */

static void refresh_terminal_tracks_next_seq_and_gaps_per_terminal(void **state)
{
    struct fx *f = *state;
    /* Each step stores one event, then refreshes its terminal. */
    static const struct {
        const char *store, *terminal;
        int64_t seq;
        struct hq_seq_state want;
    } steps[] = {
        {"S001", "T01", 1, {2, 1, 1, 0}},
        {"S001", "T01", 2, {3, 2, 2, 0}},
        {"S001", "T01", 4, {3, 4, 3, 1}},
        {"S001", "T02", 3, {1, 3, 1, 2}}, /* another terminal starts out of order */
        {"S002", "T01", 1, {2, 1, 1, 0}}, /* the same terminal id at another store */
        {"S001", "T01", 6, {3, 6, 4, 2}},
        {"S001", "T01", 3, {5, 6, 5, 1}}, /* a late event moves next_seq over what came */
        {"S001", "T01", 5, {7, 6, 6, 0}},
        {"S001", "T02", 1, {2, 3, 2, 1}},
        {"S001", "T02", 2, {4, 3, 3, 0}},
    };
    char ids[ARRAY_LEN(steps)][16];
    for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
        struct hq_seq_state before_want = {1, 0, 0, 0}, before, after;
        for (size_t k = 0; k < i; k++)
            if (strcmp(steps[k].store, steps[i].store) == 0 &&
                strcmp(steps[k].terminal, steps[i].terminal) == 0)
                before_want = steps[k].want;
        snprintf(ids[i], sizeof(ids[i]), "e%zu", i);
        struct hq_event ev =
            event(ids[i], steps[i].store, steps[i].terminal, steps[i].seq, "points.changed");
        struct hq_put_result res;
        assert_int_equal(hq_store_begin(f->st), ML_OK);
        assert_int_equal(hq_store_put_event(f->st, &ev, T0, &res), ML_OK);
        assert_int_equal(
            hq_store_refresh_terminal(f->st, steps[i].store, steps[i].terminal, &before, &after),
            ML_OK);
        assert_int_equal(hq_store_commit(f->st), ML_OK);
        /* max_seq and received count at put; next_seq and gaps are as last refreshed. */
        if (before.next_seq != before_want.next_seq || before.gaps != before_want.gaps)
            fail_msg("step %zu: before {next %lld, gaps %lld}, want {%lld, %lld}", i,
                     (long long)before.next_seq, (long long)before.gaps,
                     (long long)before_want.next_seq, (long long)before_want.gaps);
        if (memcmp(&after, &steps[i].want, sizeof(after)) != 0)
            fail_msg("step %zu (%s/%s seq %lld): after {next %lld, max %lld, received %lld, "
                     "gaps %lld}, want {%lld,%lld,%lld,%lld}",
                     i, steps[i].store, steps[i].terminal, (long long)steps[i].seq,
                     (long long)after.next_seq, (long long)after.max_seq, (long long)after.received,
                     (long long)after.gaps, (long long)steps[i].want.next_seq,
                     (long long)steps[i].want.max_seq, (long long)steps[i].want.received,
                     (long long)steps[i].want.gaps);
    }
    /* What refresh wrote is what the status report reads. */
    assert_dump(f->st,
                "SELECT store, terminal, next_seq, max_seq, received, gaps FROM terminals"
                " ORDER BY store, terminal",
                "S001|T01|7|6|6|0\nS001|T02|4|3|3|0\nS002|T01|2|1|1|0\n");
}

static void refresh_of_a_terminal_without_events_is_noentry(void **state)
{
    struct fx *f = *state;
    struct hq_seq_state before = {-1, -1, -1, -1}, after = {-1, -1, -1, -1};
    struct hq_event ev = event("e1", "S001", "T01", 1, "points.changed");
    assert_int_equal(put(f->st, &ev).put, HQ_PUT_NEW);
    assert_int_equal(hq_store_refresh_terminal(f->st, "S001", "T09", &before, &after), ML_NOENTRY);
    assert_int_equal(hq_store_refresh_terminal(f->st, "S009", "T01", &before, &after), ML_NOENTRY);
    assert_int_equal(before.next_seq, -1); /* not written */
    assert_int_equal(after.next_seq, -1);
}

/* A refused event is counted per store/terminal/reason, naming the last one refused. */
static void note_rejected_counts_per_terminal_and_reason(void **state)
{
    struct fx *f = *state;
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    assert_int_equal(hq_store_note_rejected(f->st, "S001", "T01", "malformed", "x1", T0), ML_OK);
    assert_int_equal(hq_store_note_rejected(f->st, "S001", "T01", "malformed", "x2", T0 + 5),
                     ML_OK);
    assert_int_equal(hq_store_note_rejected(f->st, "S001", "T01", "topic_mismatch", NULL, T0),
                     ML_OK);
    assert_int_equal(hq_store_note_rejected(f->st, "S001", "T02", "malformed", "y1", T0), ML_OK);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    assert_dump(f->st,
                "SELECT store, terminal, reason, count, last_event_id, last_at FROM rejections"
                " ORDER BY store, terminal, reason",
                "S001|T01|malformed|2|x2|1767225600005\n"
                "S001|T01|topic_mismatch|1|NULL|1767225600000\n"
                "S001|T02|malformed|1|y1|1767225600000\n");
}

/* ---- report rows --------------------------------------------------------------------- */

/* A sale counts once; a refund counts against its sale whether it arrives before or after
 * it, and only against the sale of its own store. */
static void sales_count_once_and_refunds_in_any_order(void **state)
{
    struct fx *f = *state;
    struct hq_event s1 = event("e-s1", "S001", "T01", 1, "sale.completed");
    struct hq_event s1_again = event("e-s1b", "S001", "T01", 2, "sale.completed");
    struct hq_event r_early = event("e-r1", "S001", "T01", 3, "sale.refunded");
    struct hq_event r_late = event("e-r2", "S001", "T01", 4, "sale.refunded");
    struct hq_event r_other = event("e-r3", "S002", "T01", 1, "sale.refunded");
    struct hq_sale sale = {.sale_id = "SALE-1",
                           .member_id = "M1",
                           .guide_id = NULL,
                           .total = 10000,
                           .commission = 300};
    int dup = -1;
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    /* The refund comes first (its sale's batch was lost and resent later). */
    assert_int_equal(hq_store_put_refund(f->st, &r_early, "2026-01-02", "R1", "SALE-1", 1500),
                     ML_OK);
    assert_int_equal(hq_store_put_refund(f->st, &r_other, "2026-01-02", "R9", "SALE-1", 7000),
                     ML_OK);
    assert_int_equal(hq_store_put_sale(f->st, &s1, "2026-01-01", &sale, &dup), ML_OK);
    assert_int_equal(dup, 0);
    assert_int_equal(hq_store_put_refund(f->st, &r_late, "2026-01-03", "R2", "SALE-1", 500), ML_OK);
    struct hq_sale changed = sale;
    changed.total = 1;
    assert_int_equal(hq_store_put_sale(f->st, &s1_again, "2026-01-05", &changed, &dup), ML_OK);
    assert_int_equal(dup, 1);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    assert_dump(f->st,
                "SELECT sale_id, store, terminal, day, member_id, guide_id, total, commission,"
                " refunded, event_id FROM sales",
                "SALE-1|S001|T01|2026-01-01|M1|NULL|10000|300|2000|e-s1\n");
}

/* A restore marks the matching redemption of the same store once. */
static void restore_redemption_marks_the_matching_one_once(void **state)
{
    struct fx *f = *state;
    struct hq_event red = event("e-red", "S001", "T01", 1, "coupon.redeemed");
    struct hq_event res1 = event("e-res", "S001", "T01", 2, "coupon.restored");
    struct hq_event other = event("e-oth", "S002", "T01", 1, "coupon.restored");
    res1.at = T0 + 60000;
    int found = -1;
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    const struct hq_redemption r1 = {
        .coupon_id = "C1", .sale_id = "SALE-1", .use_no = 1, .amount = 2000};
    assert_int_equal(hq_store_put_redemption(f->st, &red, "2026-01-01", &r1), ML_OK);
    static const struct {
        const char *coupon, *sale;
        int64_t use_no;
        int other_store;
        int want;
    } cases[] = {
        {"C1", "SALE-1", 2, 0, 0}, /* another use */
        {"C1", "SALE-2", 1, 0, 0}, /* another sale */
        {"C2", "SALE-1", 1, 0, 0}, /* another coupon */
        {"C1", "SALE-1", 1, 1, 0}, /* another store */
        {"C1", "SALE-1", 1, 0, 1}, /* the one */
        {"C1", "SALE-1", 1, 0, 0}, /* already restored */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        found = -1;
        assert_int_equal(hq_store_restore_redemption(f->st, cases[i].other_store ? &other : &res1,
                                                     cases[i].coupon, cases[i].sale,
                                                     cases[i].use_no, &found),
                         ML_OK);
        if (found != cases[i].want)
            fail_msg("case %zu: found %d, want %d", i, found, cases[i].want);
    }
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    assert_dump(f->st,
                "SELECT event_id, coupon_id, sale_id, store, use_no, amount, day, restored_at"
                " FROM redemptions",
                "e-red|C1|SALE-1|S001|1|2000|2026-01-01|1767225660000\n");
}

/* The trusted time the terminal stamped goes in with the redemption; 0 leaves it NULL (the
 * wall clock then orders it, hq_settle.h). */
static void put_redemption_stores_its_trusted_time(void **state)
{
    struct fx *f = *state;
    struct hq_event a = event("e-a", "S001", "T01", 1, "coupon.redeemed");
    struct hq_event b = event("e-b", "S001", "T01", 2, "coupon.redeemed");
    const struct hq_redemption ra = {
        .coupon_id = "C1", .sale_id = "SALE-1", .use_no = 1, .amount = 2000, .trusted_at = T0 + 5};
    const struct hq_redemption rb = {
        .coupon_id = "C1", .sale_id = "SALE-2", .use_no = 1, .amount = 2000};
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    assert_int_equal(hq_store_put_redemption(f->st, &a, "2026-01-01", &ra), ML_OK);
    assert_int_equal(hq_store_put_redemption(f->st, &b, "2026-01-01", &rb), ML_OK);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    assert_dump(f->st, "SELECT event_id, sale_id, trusted_at FROM redemptions ORDER BY event_id",
                "e-a|SALE-1|1767225600005\ne-b|SALE-2|NULL\n");
}

/* Appends each store a walk hands out to a comma-separated list. */
static ml_err list_store(void *arg, const char *store)
{
    char *list = arg;
    size_t n = strlen(list);
    snprintf(list + n, 128 - n, "%s%s", n ? "," : "", store);
    return ML_OK;
}

/* The stores heard from come once each, in byte order, the first `max` of them: all at the
 * limit (max = their count), one fewer one past it. */
static void terminal_stores_are_distinct_in_byte_order_and_capped(void **state)
{
    struct fx *f = *state;
    static const char *const terminals[][2] = {
        {"S002", "T01"}, {"S001", "T02"}, {"S001", "T01"}, {"S010", "T01"}};
    assert_int_equal(hq_store_begin(f->st), ML_OK);
    for (size_t i = 0; i < ARRAY_LEN(terminals); i++)
        assert_int_equal(hq_store_count_terminal(f->st, terminals[i][0], terminals[i][1], 1, 1, T0),
                         ML_OK);
    assert_int_equal(hq_store_commit(f->st), ML_OK);
    char list[128] = "";
    assert_int_equal(hq_store_terminal_stores(f->st, 3, list_store, list), ML_OK);
    assert_string_equal(list, "S001,S002,S010");
    list[0] = '\0';
    assert_int_equal(hq_store_terminal_stores(f->st, 2, list_store, list), ML_OK);
    assert_string_equal(list, "S001,S002");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(open_creates_every_table_at_the_current_version_in_wal_mode),
        T(reopen_keeps_events_in_both_modes),
        T(open_migrates_a_version_1_database_forward),
        T(newer_schema_is_refused_in_both_modes),
        T(open_of_missing_file_or_directory_is_refused),
        T(put_event_twice_is_duplicate_and_other_event_under_its_id_is_conflict),
        T(put_event_with_a_reused_seq_is_new_and_names_the_other_id),
        T(rolled_back_event_leaves_nothing),
        T(refresh_terminal_tracks_next_seq_and_gaps_per_terminal),
        T(refresh_of_a_terminal_without_events_is_noentry),
        T(note_rejected_counts_per_terminal_and_reason),
        T(sales_count_once_and_refunds_in_any_order),
        T(restore_redemption_marks_the_matching_one_once),
        T(put_redemption_stores_its_trusted_time),
        T(terminal_stores_are_distinct_in_byte_order_and_capped),
    };
#undef T
    return cmocka_run_group_tests_name("hq_store", tests, NULL, NULL);
}
