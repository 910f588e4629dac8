/*
 * testdb: the fixture the store-backed unit tests share: a fresh temporary directory under
 * /tmp holding a real SQLite database opened with schema_open(), a struct ml_ctx whose clock
 * is a variable the test sets, and helpers that seed data through facts_apply() (the
 * product's only data entry path) and read tables back with plain SQL.
 *
 * Header-only: every function is static inline, so a test file pays only for what it uses.
 * Use testdb_setup/testdb_teardown as a cmocka per-test fixture; *state is a struct testdb.
 * Helpers fail the running test (cmocka assertions) on anything unexpected, so callers never
 * check their results.
 */
#ifndef ML_TESTDB_H
#define ML_TESTDB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctx.h"
#include "facts.h"
#include "log.h"
#include "sqlread.h"
#include "ml_err.h"
#include "db.h"
#include "schema.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define TESTDB_T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z: "now" unless a test moves it */
#define TESTDB_HOUR INT64_C(3600000)
#define TESTDB_DAY INT64_C(86400000)
#define TESTDB_TEXT_MAX 4096 /* bytes of SQL or JSON a helper formats */

/* The clock every test ctx reads; tests assign it to move time. */
static int64_t testdb_clock = TESTDB_T0;

static inline int64_t testdb_now(void)
{
    return testdb_clock;
}

struct testdb {
    char dir[64];
    char path[128];
    struct db *db;
    struct config cfg;
    struct ml_ctx ctx;
};

static inline void testdb_open(struct testdb *t)
{
    char err[256] = "";
    ml_err rc = schema_open(t->path, &t->db, err, sizeof(err));
    if (rc != ML_OK)
        fail_msg("schema_open(%s): %s: %s", t->path, ml_strerror(rc), err);
    t->ctx.db = t->db;
}

/* cmocka setup: a new database in a new directory, clock at TESTDB_T0. */
static inline int testdb_setup(void **state)
{
    struct testdb *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    snprintf(t->dir, sizeof(t->dir), "/tmp/ml-unit-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/store.db", t->dir);
    config_defaults(&t->cfg);
    t->ctx.cfg = &t->cfg;
    t->ctx.metrics = NULL;
    t->ctx.now_ms = testdb_now;
    testdb_clock = TESTDB_T0;
    log_set_level(LOG_LVL_WARN); /* no "database migrated" line per test */
    t->ctx.started_ms = testdb_clock;
    testdb_open(t);
    *state = t;
    return 0;
}

static inline int testdb_teardown(void **state)
{
    struct testdb *t = *state;
    char p[160];
    if (t == NULL)
        return 0;
    db_rollback(t->db);
    db_close(t->db);
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < ARRAY_LEN(suffixes); i++) {
        snprintf(p, sizeof(p), "%s%s", t->path, suffixes[i]);
        (void)unlink(p);
    }
    (void)rmdir(t->dir);
    free(t);
    *state = NULL;
    return 0;
}

/* Closes and reopens the database file, as a restart of the agent would. */
static inline void testdb_reopen(struct testdb *t)
{
    db_close(t->db);
    t->db = NULL;
    testdb_open(t);
}

static inline cJSON *testdb_json(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    if (v == NULL)
        fail_msg("test JSON does not parse: %s", text);
    return v;
}

/*
 * Applies one HQ fact in its own transaction, as the fact importer does: committed on
 * ML_OK, rolled back otherwise. Returns what facts_apply() returned.
 */
static inline ml_err testdb_fact_try(struct testdb *t, const char *kind, const char *json,
                                     int *ret_applied, struct ml_refusal *r)
{
    cJSON *body = testdb_json(json);
    assert_int_equal(db_begin(t->db), ML_OK);
    ml_err err = facts_apply(t->db, kind, body, ret_applied, r);
    if (err == ML_OK)
        assert_int_equal(db_commit(t->db), ML_OK);
    else
        db_rollback(t->db);
    cJSON_Delete(body);
    return err;
}

/* Applies a fact that must be accepted and change the database. */
static inline void testdb_fact(struct testdb *t, const char *kind, const char *json)
{
    struct ml_refusal r = {0};
    int applied = -1;
    ml_err err = testdb_fact_try(t, kind, json, &applied, &r);
    if (err != ML_OK)
        fail_msg("fact %s refused: %s %s: %s (%s)", kind, ml_strerror(err), r.code ? r.code : "-",
                 r.message, json);
    if (applied != 1)
        fail_msg("fact %s was accepted but not applied: %s", kind, json);
}

static inline void testdb_factf(struct testdb *t, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void testdb_factf(struct testdb *t, const char *kind, const char *fmt, ...)
{
    char json[TESTDB_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(json, sizeof(json), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(json));
    testdb_fact(t, kind, json);
}

/* The first column of the only row of `sql` as an integer (NULL reads as 0). */
static inline int64_t testdb_i64(struct testdb *t, const char *sql)
{
    return sqlread_i64(db_sqlite(t->db), sql);
}

static inline int64_t testdb_i64f(struct testdb *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int64_t testdb_i64f(struct testdb *t, const char *fmt, ...)
{
    char sql[TESTDB_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(sql));
    return testdb_i64(t, sql);
}

/*
 * Every row of `sql` as text, columns joined by '|', rows by '\n', NULL as "NULL": a
 * snapshot to compare before and after an operation that must change nothing.
 * Caller frees with free().
 */
static inline char *testdb_dump(struct testdb *t, const char *sql)
{
    return sqlread_dump(db_sqlite(t->db), sql);
}

static inline char *testdb_dumpf(struct testdb *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline char *testdb_dumpf(struct testdb *t, const char *fmt, ...)
{
    char sql[TESTDB_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(sql));
    return testdb_dump(t, sql);
}

#endif
