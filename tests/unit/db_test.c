/*
 * db_test: unit tests for lib/db.h against real SQLite files in a temporary directory.
 *
 * Covered: opening, migrating and refusing schemas in both modes; the statement cache at
 * DB_STMTS_MAX and one past (refused, nothing left prepared); checked binding (a failed bind
 * makes db_step refuse and run nothing); a failed commit
 * (a deferred foreign key at COMMIT, and at the release of an outermost savepoint) leaves the
 * outcome unknown, refuses new transactions, and db_recover() clears it showing the file's
 * truth. The recovery of a commit whose flush failed is shown against the real daemon with a
 * fault shim in tests/integration/storage_test.c.
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

#include "db.h"
#include "sqlread.h"

static const char *const migrations[] = {
    "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n"
    "CREATE TABLE child (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES parent (id));\n",
    "CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT);\n",
};

struct fx {
    char dir[64];
    char path[128];
    struct db *db;
};

static struct db_options options(size_t nmigrations, enum db_mode mode)
{
    return (struct db_options){.mode = mode,
                               .migrations = migrations,
                               .nmigrations = nmigrations,
                               .version = (int)nmigrations,
                               .program = "db_test",
                               .foreign_keys = 1,
                               .missing_hint = "no database here yet",
                               .old_hint = "open it read-write once",
                               .track_outcome = 1};
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ml-db-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    struct db_options o = options(2, DB_READWRITE);
    char err[256] = "";
    if (db_open(f->path, &o, &f->db, err, sizeof(err)) != ML_OK)
        fail_msg("db_open: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];
    db_close(f->db);
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

/* Statements prepared on the connection, cached or not. */
static int prepared(struct db *db)
{
    int n = 0;
    for (sqlite3_stmt *s = sqlite3_next_stmt(db_sqlite(db), NULL); s != NULL;
         s = sqlite3_next_stmt(db_sqlite(db), s))
        n++;
    return n;
}

/* ---- opening ------------------------------------------------------------------------------ */

static void open_applies_every_migration_in_order(void **state)
{
    struct fx *f = *state;
    assert_int_equal(db_schema_version(f->db), 2);
    assert_int_equal(db_migrated_from(f->db), 0);
    assert_int_equal(sqlread_i64(db_sqlite(f->db), "SELECT count(*) FROM sqlite_schema "
                                                   "WHERE name IN ('parent', 'child', 'note')"),
                     3);
}

static void reopen_with_more_migrations_moves_forward_only(void **state)
{
    struct fx *f = *state;
    db_close(f->db);
    f->db = NULL;
    struct db_options one = options(1, DB_READWRITE), two = options(2, DB_READWRITE);
    char err[256] = "";
    /* A file at version 2 opened by a program that knows only 1: refused, named. */
    assert_int_equal(db_open(f->path, &one, &f->db, err, sizeof(err)), ML_CONFIG);
    assert_null(f->db);
    assert_non_null(strstr(err, "schema version 2 is newer than this db_test knows (1)"));
    assert_non_null(strstr(err, f->path));
    assert_int_equal(db_open(f->path, &two, &f->db, err, sizeof(err)), ML_OK);
    assert_int_equal(db_migrated_from(f->db), 2);
}

/* A program whose migrations do not reach the version it was built for opens nothing. */
static void migrations_that_miss_the_expected_version_are_refused(void **state)
{
    struct fx *f = *state;
    struct db *other = NULL;
    char path[160], err[256] = "";
    snprintf(path, sizeof(path), "%s/other.db", f->dir);
    struct db_options o = options(2, DB_READWRITE);
    o.version = 3;
    assert_int_equal(db_open(path, &o, &other, err, sizeof(err)), ML_CONFIG);
    assert_null(other);
    assert_non_null(strstr(err, "built with 2 migrations for schema version 3"));
    assert_int_equal(access(path, F_OK), -1);
}

static void read_only_refuses_a_missing_file_and_an_older_schema(void **state)
{
    struct fx *f = *state;
    struct db *ro = NULL;
    char missing[160], err[256] = "";
    snprintf(missing, sizeof(missing), "%s/none.db", f->dir);
    struct db_options o = options(2, DB_READONLY);
    assert_int_equal(db_open(missing, &o, &ro, err, sizeof(err)), ML_NOENTRY);
    assert_non_null(strstr(err, "no database here yet"));
    assert_int_equal(access(missing, F_OK), -1); /* read-only mode creates nothing */
    /* The file is at version 2; a program at version 3 may not read it read-only. */
    const char *const three[] = {migrations[0], migrations[1], "CREATE TABLE x (a);\n"};
    o.migrations = three;
    o.nmigrations = 3;
    o.version = 3;
    assert_int_equal(db_open(f->path, &o, &ro, err, sizeof(err)), ML_STORAGE);
    assert_non_null(strstr(err, "schema version 2, expected 3; open it read-write once"));
    assert_null(ro);
    o.nmigrations = 2;
    o.version = 2;
    assert_int_equal(db_open(f->path, &o, &ro, err, sizeof(err)), ML_OK);
    assert_int_equal(db_exec(ro, "INSERT INTO note (text) VALUES ('x')"), ML_STORAGE);
    db_close(ro);
}

/* ---- the statement cache --------------------------------------------------------------- */

static void statement_cache_holds_its_limit_and_refuses_one_past_without_a_leak(void **state)
{
    struct fx *f = *state;
    /* Cached by the address of the text: DB_STMTS_MAX + 1 copies are that many statements. */
    char(*sql)[24] = calloc(DB_STMTS_MAX + 1, sizeof(*sql));
    assert_non_null(sql);
    for (int i = 0; i <= DB_STMTS_MAX; i++)
        snprintf(sql[i], sizeof(sql[i]), "SELECT %d", i);
    int before = prepared(f->db);
    for (int i = 0; i < DB_STMTS_MAX; i++)
        if (db_stmt(f->db, sql[i]) == NULL)
            fail_msg("statement %d of %d refused: %s", i + 1, DB_STMTS_MAX, db_errmsg(f->db));
    assert_int_equal(prepared(f->db), before + DB_STMTS_MAX);
    assert_null(db_stmt(f->db, sql[DB_STMTS_MAX]));
    assert_non_null(strstr(db_errmsg(f->db), "distinct statements"));
    assert_int_equal(prepared(f->db), before + DB_STMTS_MAX); /* nothing left behind */
    /* The cached ones still work, and come back as the same statement. */
    sqlite3_stmt *s = db_stmt(f->db, sql[7]);
    assert_ptr_equal(s, db_stmt(f->db, sql[7]));
    assert_int_equal(db_step(f->db, s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 7);
    sqlite3_reset(s);
    free(sql); /* no slot may be used again: the cache keys on these addresses */
}

static void prepare_error_is_refused_and_named(void **state)
{
    struct fx *f = *state;
    static const char bad[] = "SELECT FROM nowhere WHERE";
    assert_null(db_stmt(f->db, bad));
    assert_non_null(strstr(db_errmsg(f->db), "prepare:"));
}

/* ---- binding ---------------------------------------------------------------------------- */

static void failed_bind_makes_step_refuse_and_run_nothing(void **state)
{
    struct fx *f = *state;
    static const char ins[] = "INSERT INTO note (id, text) VALUES (?1, ?2)";
    sqlite3_stmt *s = db_stmt(f->db, ins);
    assert_non_null(s);
    db_bind_i64(f->db, s, 1, 1);
    db_bind_text(f->db, s, 3, "no such parameter"); /* SQLITE_RANGE */
    assert_int_equal(db_step(f->db, s), SQLITE_MISUSE);
    assert_non_null(strstr(db_errmsg(f->db), "could not be bound"));
    assert_int_equal(sqlread_i64(db_sqlite(f->db), "SELECT count(*) FROM note"), 0);
    /* Handed out again, the statement is clean: bound right, it runs. */
    s = db_stmt(f->db, ins);
    db_bind_i64(f->db, s, 1, 1);
    db_bind_text(f->db, s, 2, "ok");
    assert_int_equal(db_run(f->db, s), ML_OK);
    assert_int_equal(sqlread_i64(db_sqlite(f->db), "SELECT count(*) FROM note"), 1);
}

static void failed_bind_refuses_db_run_too(void **state)
{
    struct fx *f = *state;
    static const char ins[] = "INSERT INTO note (id, text) VALUES (?1, ?2)";
    sqlite3_stmt *s = db_stmt(f->db, ins);
    db_bind_i64(f->db, s, 0, 5); /* indexes start at 1 */
    db_bind_text(f->db, s, 2, "x");
    assert_int_equal(db_run(f->db, s), ML_STORAGE);
    assert_int_equal(sqlread_i64(db_sqlite(f->db), "SELECT count(*) FROM note"), 0);
}

/* ---- a commit that fails ---------------------------------------------------------------- */

/* An orphan child under a deferred foreign key: the violation surfaces only at COMMIT. */
static void write_orphan(struct fx *f)
{
    assert_int_equal(db_exec(f->db, "PRAGMA defer_foreign_keys = ON"), ML_OK);
    assert_int_equal(db_exec(f->db, "INSERT INTO child (id, pid) VALUES (1, 99)"), ML_OK);
}

static void failed_commit_leaves_the_outcome_unknown_until_recovered(void **state)
{
    struct fx *f = *state;
    assert_int_equal(db_outcome_unknown(f->db), 0);
    assert_int_equal(db_begin(f->db), ML_OK);
    write_orphan(f);
    assert_int_equal(db_commit(f->db), ML_STORAGE);
    assert_int_equal(db_in_tx(f->db), 0);
    assert_int_equal(db_outcome_unknown(f->db), 1);
    assert_int_equal(db_recover(f->db), ML_OK);
    assert_int_equal(db_outcome_unknown(f->db), 0);
    assert_int_equal(sqlread_i64(db_sqlite(f->db), "SELECT count(*) FROM child"), 0);
    assert_int_equal(db_begin(f->db), ML_OK);
    assert_int_equal(db_exec(f->db, "INSERT INTO note (text) VALUES ('after')"), ML_OK);
    assert_int_equal(db_commit(f->db), ML_OK);
    assert_int_equal(sqlread_i64(db_sqlite(f->db), "SELECT count(*) FROM note"), 1);
}

/* Nothing more is written before the truth is known: the next transaction finds it out. */
static void next_write_after_a_failed_commit_recovers_first(void **state)
{
    struct fx *f = *state;
    assert_int_equal(db_begin(f->db), ML_OK);
    write_orphan(f);
    assert_int_equal(db_commit(f->db), ML_STORAGE);
    assert_int_equal(db_outcome_unknown(f->db), 1);
    assert_int_equal(db_savepoint(f->db), ML_OK); /* an outermost savepoint begins one too */
    assert_int_equal(db_outcome_unknown(f->db), 0);
    db_undo(f->db);
    assert_int_equal(db_begin(f->db), ML_OK);
    write_orphan(f);
    assert_int_equal(db_commit(f->db), ML_STORAGE);
    assert_int_equal(db_begin(f->db), ML_OK);
    assert_int_equal(db_outcome_unknown(f->db), 0);
    assert_int_equal(sqlread_i64(db_sqlite(f->db), "SELECT count(*) FROM child"), 0);
    db_rollback(f->db);
}

/* A program that does not track outcomes (memberlink-hq) gets the failure and goes on. */
static void without_tracking_a_failed_commit_is_only_a_failure(void **state)
{
    struct fx *f = *state;
    db_close(f->db);
    f->db = NULL;
    struct db_options o = options(2, DB_READWRITE);
    o.track_outcome = 0;
    char err[256] = "";
    assert_int_equal(db_open(f->path, &o, &f->db, err, sizeof(err)), ML_OK);
    assert_int_equal(db_begin(f->db), ML_OK);
    write_orphan(f);
    assert_int_equal(db_commit(f->db), ML_STORAGE);
    assert_int_equal(db_outcome_unknown(f->db), 0);
    sqlite3 *before = db_sqlite(f->db);
    assert_int_equal(db_count(f->db, "SELECT count(*) FROM note"), 0);
    assert_int_equal(db_begin(f->db), ML_OK);
    db_rollback(f->db);
    assert_ptr_equal(db_sqlite(f->db), before); /* no reopening: the connection stays */
}

static void failed_release_of_an_outermost_savepoint_is_a_failed_commit(void **state)
{
    struct fx *f = *state;
    assert_int_equal(db_savepoint(f->db), ML_OK);
    write_orphan(f);
    assert_int_equal(db_release(f->db), ML_STORAGE);
    assert_int_equal(db_outcome_unknown(f->db), 1);
    assert_int_equal(db_recover(f->db), ML_OK);
    /* A nested savepoint's release commits nothing: the outer transaction still decides. */
    assert_int_equal(db_begin(f->db), ML_OK);
    assert_int_equal(db_savepoint(f->db), ML_OK);
    assert_int_equal(db_exec(f->db, "INSERT INTO note (text) VALUES ('inner')"), ML_OK);
    assert_int_equal(db_release(f->db), ML_OK);
    assert_int_equal(db_commit(f->db), ML_OK);
    assert_int_equal(db_outcome_unknown(f->db), 0);
}

static void recovered_database_hands_out_statements_again(void **state)
{
    struct fx *f = *state;
    static const char q[] = "SELECT count(*) FROM note";
    assert_int_equal(db_count(f->db, q), 0);
    assert_int_equal(db_begin(f->db), ML_OK);
    write_orphan(f);
    assert_int_equal(db_commit(f->db), ML_STORAGE);
    assert_int_equal(db_recover(f->db), ML_OK);
    /* The cache was emptied with the old connection; the same text prepares anew. */
    assert_int_equal(db_count(f->db, q), 0);
    assert_int_equal(prepared(f->db), 1);
}

/* A unit that asked for no flush (a QR scan) and whose commit failed leaves no trace of
 * that choice: the reopened database flushes every commit again. */
static void recovered_database_is_durable_again(void **state)
{
    struct fx *f = *state;
    assert_int_equal(db_set_durable(f->db, 0), ML_OK);
    assert_int_equal(db_savepoint(f->db), ML_OK);
    write_orphan(f);
    assert_int_equal(db_release(f->db), ML_STORAGE);
    assert_int_equal(db_outcome_unknown(f->db), 1);
    assert_int_equal(db_recover(f->db), ML_OK);
    assert_int_equal(sqlread_i64(db_sqlite(f->db), "PRAGMA synchronous"), 2); /* FULL */
}

static void durability_cannot_change_inside_a_transaction(void **state)
{
    struct fx *f = *state;
    assert_int_equal(sqlread_i64(db_sqlite(f->db), "PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(db_set_durable(f->db, 0), ML_OK);
    assert_int_equal(sqlread_i64(db_sqlite(f->db), "PRAGMA synchronous"), 1); /* NORMAL */
    assert_int_equal(db_begin(f->db), ML_OK);
    assert_int_equal(db_set_durable(f->db, 1), ML_OK);
    assert_int_equal(sqlread_i64(db_sqlite(f->db), "PRAGMA synchronous"), 1);
    db_rollback(f->db);
    assert_int_equal(db_set_durable(f->db, 1), ML_OK);
    assert_int_equal(sqlread_i64(db_sqlite(f->db), "PRAGMA synchronous"), 2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(open_applies_every_migration_in_order),
        T(reopen_with_more_migrations_moves_forward_only),
        T(migrations_that_miss_the_expected_version_are_refused),
        T(read_only_refuses_a_missing_file_and_an_older_schema),
        T(statement_cache_holds_its_limit_and_refuses_one_past_without_a_leak),
        T(prepare_error_is_refused_and_named),
        T(failed_bind_makes_step_refuse_and_run_nothing),
        T(failed_bind_refuses_db_run_too),
        T(failed_commit_leaves_the_outcome_unknown_until_recovered),
        T(next_write_after_a_failed_commit_recovers_first),
        T(without_tracking_a_failed_commit_is_only_a_failure),
        T(failed_release_of_an_outermost_savepoint_is_a_failed_commit),
        T(recovered_database_hands_out_statements_again),
        T(recovered_database_is_durable_again),
        T(durability_cannot_change_inside_a_transaction),
    };
    return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
