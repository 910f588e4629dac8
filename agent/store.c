/*
 * store: SQLite connection, migrations and the prepared-statement cache.
 * Migrations are the files in agent/sql/, embedded at build time, applied in order in
 * one transaction each; PRAGMA user_version records the schema version.
 *
 * WAL checkpoints run in the background (walckpt.h), off the commit path.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "walckpt.h"

extern const char *const store_migrations[];
extern const size_t store_migration_count;

#define ML_STR_(x) #x
#define ML_STR(x) ML_STR_(x)
#define STORE_STMT_CACHE_MAX 128
#define STORE_BUSY_TIMEOUT_MS 5000
/* Checkpoint often and keep the WAL short: a checkout's p99 is what matters (walckpt.h). */
#define STORE_WAL_WAKE_BYTES (INT64_C(1) << 20)
#define STORE_WAL_RESTART_BYTES (INT64_C(16) << 20)
struct stmt_slot {
    const char *sql;
    sqlite3_stmt *stmt;
};

struct store {
    sqlite3 *db;
    struct stmt_slot stmts[STORE_STMT_CACHE_MAX];
    size_t nstmts;
    struct walckpt *ckpt; /* NULL: SQLite's automatic checkpoint */
};

sqlite3 *store_db(struct store *st)
{
    return st->db;
}

ml_err store_exec(struct store *st, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("sqlite: %s", msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return ML_STORAGE;
    }
    return ML_OK;
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static ml_err migrate(struct store *st, char *errbuf, size_t errlen)
{
    int have = user_version(st->db);
    if (have < 0) {
        snprintf(errbuf, errlen, "cannot read schema version: %s", sqlite3_errmsg(st->db));
        return ML_STORAGE;
    }
    if (have > STORE_SCHEMA_VERSION) {
        snprintf(errbuf, errlen,
                 "database schema version %d is newer than this memberlinkd knows (%d); "
                 "run a newer memberlinkd or restore a matching backup",
                 have, STORE_SCHEMA_VERSION);
        return ML_CONFIG;
    }
    for (int v = have; v < STORE_SCHEMA_VERSION && (size_t)v < store_migration_count; v++) {
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        if (store_exec(st, "BEGIN IMMEDIATE") != ML_OK)
            goto fail;
        if (store_exec(st, store_migrations[v]) != ML_OK || store_exec(st, pragma) != ML_OK) {
            store_exec(st, "ROLLBACK");
            goto fail;
        }
        if (store_exec(st, "COMMIT") != ML_OK)
            goto fail;
        log_info("database migrated to schema version %d", v + 1);
    }
    return ML_OK;
fail:
    snprintf(errbuf, errlen, "migration failed: %s", sqlite3_errmsg(st->db));
    return ML_STORAGE;
}

ml_err store_open(const char *path, struct store **ret_store, char *errbuf, size_t errlen)
{
    struct store *st = calloc(1, sizeof(*st));
    ml_err result = ML_STORAGE;
    if (st == NULL)
        return ML_NOMEM;
    if (sqlite3_open_v2(path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s: cannot open database: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    /* WAL + FULL: each commit fsyncs the WAL, so a committed sale survives power loss. */
    if (store_exec(st, "PRAGMA journal_mode=WAL") != ML_OK ||
        store_exec(st, "PRAGMA synchronous=FULL") != ML_OK ||
        sqlite3_exec(st->db, "PRAGMA journal_size_limit=" ML_STR(WALCKPT_SIZE_LIMIT), NULL, NULL,
                     NULL) != SQLITE_OK ||
        store_exec(st, "PRAGMA foreign_keys=ON") != ML_OK) {
        snprintf(errbuf, errlen, "%s: cannot configure database: %s", path, sqlite3_errmsg(st->db));
        goto out;
    }
    result = migrate(st, errbuf, errlen);
    if (result == ML_OK)
        st->ckpt = walckpt_start(st->db, path, STORE_WAL_WAKE_BYTES, STORE_WAL_RESTART_BYTES);
out:
    if (result != ML_OK) {
        store_close(st);
        return result;
    }
    *ret_store = st;
    return ML_OK;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    walckpt_stop(st->ckpt, st->db);
    for (size_t i = 0; i < st->nstmts; i++)
        sqlite3_finalize(st->stmts[i].stmt);
    sqlite3_close(st->db);
    free(st);
}

sqlite3_stmt *store_stmt(struct store *st, const char *sql)
{
    for (size_t i = 0; i < st->nstmts; i++) {
        if (st->stmts[i].sql == sql) {
            sqlite3_reset(st->stmts[i].stmt);
            sqlite3_clear_bindings(st->stmts[i].stmt);
            return st->stmts[i].stmt;
        }
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
        log_error("sqlite prepare: %s: %.80s", sqlite3_errmsg(st->db), sql);
        return NULL;
    }
    if (st->nstmts == STORE_STMT_CACHE_MAX)
        return s; /* never reached with the project's fixed set of statements */
    st->stmts[st->nstmts].sql = sql;
    st->stmts[st->nstmts].stmt = s;
    st->nstmts++;
    return s;
}

ml_err store_begin(struct store *st)
{
    return store_exec(st, "BEGIN IMMEDIATE");
}

ml_err store_commit(struct store *st)
{
    return store_exec(st, "COMMIT");
}

void store_rollback(struct store *st)
{
    if (st != NULL && !sqlite3_get_autocommit(st->db))
        (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

ml_err store_savepoint(struct store *st)
{
    return store_exec(st, "SAVEPOINT unit");
}

ml_err store_release(struct store *st)
{
    return store_exec(st, "RELEASE unit");
}

ml_err store_set_durable(struct store *st, int durable)
{
    if (!sqlite3_get_autocommit(st->db))
        return ML_OK; /* inside a transaction the pager would ignore it: stay as it is */
    if (sqlite3_exec(st->db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                     NULL, NULL, NULL) != SQLITE_OK) {
        log_error("sqlite: cannot set synchronous: %s", sqlite3_errmsg(st->db));
        return ML_STORAGE;
    }
    return ML_OK;
}

void store_undo(struct store *st)
{
    (void)sqlite3_exec(st->db, "ROLLBACK TO unit; RELEASE unit", NULL, NULL, NULL);
}

ml_err store_state_get_i64(struct store *st, const char *key, int64_t dflt, int64_t *ret)
{
    static const char sql[] = "SELECT value FROM sync_state WHERE key = ?1";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE)
        *ret = dflt;
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

ml_err store_state_set_i64(struct store *st, const char *key, int64_t value)
{
    static const char sql[] = "INSERT INTO sync_state (key, value) VALUES (?1, ?2) "
                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, value);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

int64_t store_count(struct store *st, const char *sql)
{
    sqlite3_stmt *s = store_stmt(st, sql);
    int64_t n = -1;
    if (s != NULL && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    if (s != NULL)
        sqlite3_reset(s);
    return n;
}
