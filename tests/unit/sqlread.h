/*
 * sqlread: reading a SQLite database back in unit tests, for the agent's store (testdb.h)
 * and HQ's (hq_*_test.c) alike. Header-only; every helper fails the running cmocka test
 * on anything unexpected, so callers never check results.
 */
#ifndef ML_SQLREAD_H
#define ML_SQLREAD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first column of the first row of `sql`, as an integer (NULL reads as 0). */
static inline int64_t sqlread_i64(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("prepare: %s: %s", sqlite3_errmsg(db), sql);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        fail_msg("no row: %s", sql);
    }
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/*
 * Every row of `sql` as text, columns joined by '|', rows ended by '\n', NULL as "NULL": a
 * snapshot to compare before and after an operation that must change nothing. Caller
 * frees with free().
 */
static inline char *sqlread_dump(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("prepare: %s: %s", sqlite3_errmsg(db), sql);
    size_t cap = 4096, len = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int cols = sqlite3_column_count(s);
        for (int c = 0; c < cols; c++) {
            const char *v = sqlite3_column_type(s, c) == SQLITE_NULL
                                ? "NULL"
                                : (const char *)sqlite3_column_text(s, c);
            size_t need = len + strlen(v) + 2;
            if (need >= cap) {
                cap = need * 2;
                out = realloc(out, cap);
                assert_non_null(out);
            }
            len += (size_t)snprintf(out + len, cap - len, "%s%c", v, c + 1 == cols ? '\n' : '|');
        }
    }
    sqlite3_finalize(s);
    assert_int_equal(rc, SQLITE_DONE);
    return out;
}

/* Fails the test, printing both, unless sqlread_dump(db, sql) is exactly `want`. */
static inline void sqlread_assert(sqlite3 *db, const char *sql, const char *want)
{
    char *got = sqlread_dump(db, sql);
    if (strcmp(got, want) != 0) {
        print_error("%s\n--- got:\n%s--- want:\n%s", sql, got, want);
        free(got);
        fail();
    }
    free(got);
}

#endif
