/*
 * db: SQLite connection, migrations, the prepared-statement cache with checked binding, and
 * recovery after a failed commit; see db.h.
 *
 * Statements are found twice per use: by the address of their SQL text (db_stmt) and by
 * their own address (db_bind_*, db_step, to remember a failed bind), each through a small
 * open-addressing table, so neither costs a scan of the cache.
 */
#include "db.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "walckpt.h"

#define DB_INDEX_SIZE 512 /* > 2 x DB_STMTS_MAX, a power of two */
#define DB_STR_(x) #x
#define DB_STR(x) DB_STR_(x)

_Static_assert(DB_INDEX_SIZE >= 2 * DB_STMTS_MAX, "index tables at most half full");
_Static_assert((DB_INDEX_SIZE & (DB_INDEX_SIZE - 1)) == 0, "index size is a power of two");

struct slot {
    const char *sql;
    sqlite3_stmt *stmt;
    int bind_rc; /* first failed bind since the statement was handed out; 0: none */
};

struct db {
    sqlite3 *sql;
    char *path;
    struct db_options opts;
    struct walckpt *ckpt; /* NULL: SQLite's automatic checkpoint */
    int durable;          /* synchronous=FULL (1) or NORMAL (0) */
    int unknown;          /* a commit failed; db_recover() has not found out yet */
    int from_version;     /* schema version the file had when opened; 0: new */
    int sp_depth;         /* open savepoints */
    int sp_outer;         /* the outermost one began outside a transaction: its release commits */
    struct slot slots[DB_STMTS_MAX];
    size_t nslots;
    int16_t by_sql[DB_INDEX_SIZE];  /* slot index + 1 by SQL text address; 0: empty */
    int16_t by_stmt[DB_INDEX_SIZE]; /* slot index + 1 by statement address */
    char errmsg[DB_ERRMSG_MAX];
};

static void set_err(struct db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(struct db *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof(db->errmsg), fmt, ap);
    va_end(ap);
}

static void set_sqlite_err(struct db *db)
{
    set_err(db, "%s", db->sql ? sqlite3_errmsg(db->sql) : "database closed");
}

const char *db_errmsg(const struct db *db)
{
    return db == NULL ? "out of memory" : db->errmsg[0] ? db->errmsg : "no error";
}

sqlite3 *db_sqlite(struct db *db)
{
    return db->sql;
}

static size_t hash_ptr(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    v ^= v >> 17;
    v *= (uintptr_t)0x9e3779b97f4a7c15u;
    return (size_t)(v >> 7) & (DB_INDEX_SIZE - 1);
}

/* The slot whose key (sql text or statement, as `by` says) is p, or NULL. */
static struct slot *find(struct db *db, const int16_t *table, const void *p, int by_sql)
{
    for (size_t h = hash_ptr(p);; h = (h + 1) & (DB_INDEX_SIZE - 1)) {
        int16_t i = table[h];
        if (i == 0)
            return NULL;
        struct slot *s = &db->slots[i - 1];
        if ((by_sql ? (const void *)s->sql : (const void *)s->stmt) == p)
            return s;
    }
}

static void index_add(int16_t *table, const void *p, size_t slot)
{
    size_t h = hash_ptr(p);
    while (table[h] != 0)
        h = (h + 1) & (DB_INDEX_SIZE - 1);
    table[h] = (int16_t)(slot + 1);
}

static void drop_statements(struct db *db)
{
    for (size_t i = 0; i < db->nslots; i++)
        sqlite3_finalize(db->slots[i].stmt);
    db->nslots = 0;
    memset(db->by_sql, 0, sizeof(db->by_sql));
    memset(db->by_stmt, 0, sizeof(db->by_stmt));
}

ml_err db_exec(struct db *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db->sql, sql, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(db, "%s", msg ? msg : sqlite3_errmsg(db->sql));
        sqlite3_free(msg);
        return ML_STORAGE;
    }
    return ML_OK;
}

int db_schema_version(struct db *db)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db->sql, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static ml_err migrate(struct db *db, char *errbuf, size_t errlen)
{
    int target = (int)db->opts.nmigrations;
    for (int v = db->from_version; v < target; v++) {
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        if (db_exec(db, "BEGIN IMMEDIATE") != ML_OK)
            goto fail;
        /* Another process (memberlink-hq serve and a push command) may have migrated since
         * the version was read. */
        int now = db_schema_version(db);
        if (now < 0) {
            set_sqlite_err(db);
            db_rollback(db);
            goto fail;
        }
        if (now > v) {
            if (db_exec(db, "COMMIT") != ML_OK)
                goto fail;
            v = now - 1;
            continue;
        }
        if (db_exec(db, db->opts.migrations[v]) != ML_OK || db_exec(db, pragma) != ML_OK) {
            snprintf(errbuf, errlen, "%s: migration to schema version %d failed: %s", db->path,
                     v + 1, db->errmsg);
            db_rollback(db);
            return ML_STORAGE;
        }
        if (db_exec(db, "COMMIT") != ML_OK)
            goto fail;
    }
    return ML_OK;
fail:
    snprintf(errbuf, errlen, "%s: migration failed: %s", db->path, db->errmsg);
    return ML_STORAGE;
}

/* Opens db->sql with the pragmas of opts (always synchronous=FULL: a unit of work that
 * wants less asks for it, db_set_durable) and checks (and in read-write mode migrates) the
 * schema, whose version before migrating goes to *ret_found. Leaves db->sql open (or NULL) on
 * failure; the caller closes. */
static ml_err connect(struct db *db, int *ret_found, char *errbuf, size_t errlen)
{
    const struct db_options *o = &db->opts;
    int ro = o->mode == DB_READONLY;
    int flags = (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(db->path, &db->sql, flags, NULL) != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s: cannot open database: %s", db->path,
                 db->sql ? sqlite3_errmsg(db->sql) : "out of memory");
        return ML_STORAGE;
    }
    sqlite3_busy_timeout(db->sql, DB_BUSY_TIMEOUT_MS);
    if (!ro) {
        char page[48];
        snprintf(page, sizeof(page), "PRAGMA page_size=%d", o->page_size);
        /* WAL + FULL: each commit fsyncs the WAL, so what is committed survives power loss. */
        if ((o->page_size > 0 && db_exec(db, page) != ML_OK) ||
            db_exec(db, "PRAGMA journal_mode=WAL") != ML_OK ||
            db_exec(db, "PRAGMA synchronous=FULL") != ML_OK ||
            db_exec(db, "PRAGMA journal_size_limit=" DB_STR(WALCKPT_SIZE_LIMIT)) != ML_OK ||
            (o->foreign_keys && db_exec(db, "PRAGMA foreign_keys=ON") != ML_OK)) {
            snprintf(errbuf, errlen, "%s: cannot configure database: %s", db->path, db->errmsg);
            return ML_STORAGE;
        }
    }
    int have = db_schema_version(db);
    int target = (int)o->nmigrations;
    if (have < 0) {
        snprintf(errbuf, errlen, "%s: cannot read schema version: %s", db->path,
                 sqlite3_errmsg(db->sql));
        return ML_STORAGE;
    }
    *ret_found = have;
    if (have > target) {
        snprintf(errbuf, errlen,
                 "%s: schema version %d is newer than this %s knows (%d); run a newer %s or "
                 "restore a matching backup",
                 db->path, have, o->program, target, o->program);
        return ML_CONFIG;
    }
    if (ro) {
        if (have == target)
            return ML_OK;
        snprintf(errbuf, errlen, "%s: schema version %d, expected %d%s%s", db->path, have, target,
                 o->old_hint ? "; " : "", o->old_hint ? o->old_hint : "");
        return ML_STORAGE;
    }
    return migrate(db, errbuf, errlen);
}

static void start_checkpointer(struct db *db)
{
    if (db->opts.mode == DB_READWRITE && db->opts.wal_wake_bytes > 0)
        db->ckpt =
            walckpt_start(db->sql, db->path, db->opts.wal_wake_bytes, db->opts.wal_restart_bytes);
}

ml_err db_open(const char *path, const struct db_options *opts, struct db **ret_db, char *errbuf,
               size_t errlen)
{
    struct db *db = calloc(1, sizeof(*db));
    if (db == NULL || (db->path = strdup(path)) == NULL) {
        free(db);
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return ML_NOMEM;
    }
    db->opts = *opts;
    db->durable = 1;
    struct stat sb;
    ml_err result;
    if (opts->nmigrations != (size_t)opts->version) {
        snprintf(errbuf, errlen, "%s: built with %zu migrations for schema version %d", path,
                 opts->nmigrations, opts->version);
        result = ML_CONFIG;
    } else if (opts->mode == DB_READONLY && stat(path, &sb) != 0) {
        snprintf(errbuf, errlen, "%s: %s", path,
                 opts->missing_hint ? opts->missing_hint : "no such database");
        result = ML_NOENTRY;
    } else {
        result = connect(db, &db->from_version, errbuf, errlen);
    }
    if (result != ML_OK) {
        db_close(db);
        return result;
    }
    start_checkpointer(db);
    *ret_db = db;
    return ML_OK;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    walckpt_stop(db->ckpt, db->sql);
    drop_statements(db);
    sqlite3_close(db->sql);
    free(db->path);
    free(db);
}

int db_migrated_from(const struct db *db)
{
    return db->from_version;
}

/* ---- transactions ------------------------------------------------------------------------ */

/* Before a write that begins a transaction: after a failed commit, find out first. */
static ml_err known(struct db *db)
{
    if (!db->unknown || db_recover(db) == ML_OK)
        return ML_OK;
    char why[DB_ERRMSG_MAX];
    snprintf(why, sizeof(why), "%s", db->errmsg); /* not formatted into itself */
    set_err(db,
            "an earlier commit failed and its outcome is not known yet: the database "
            "cannot be reopened to find out (%.120s)",
            why);
    return ML_STORAGE;
}

int db_in_tx(struct db *db)
{
    return db->sql != NULL && !sqlite3_get_autocommit(db->sql);
}

ml_err db_begin(struct db *db)
{
    if (known(db) != ML_OK)
        return ML_STORAGE;
    return db_exec(db, "BEGIN IMMEDIATE");
}

/* A COMMIT (or the RELEASE that commits) failed: the transaction ends here, and whether it
 * reached the disk is not known until db_recover() looks. */
static ml_err commit_failed(struct db *db)
{
    db_rollback(db); /* still open when SQLITE_BUSY left it so */
    db->unknown = db->opts.track_outcome;
    return ML_STORAGE;
}

ml_err db_commit(struct db *db)
{
    return db_exec(db, "COMMIT") == ML_OK ? ML_OK : commit_failed(db);
}

void db_rollback(struct db *db)
{
    if (db != NULL && db_in_tx(db))
        (void)sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
    if (db != NULL)
        db->sp_depth = 0;
}

int db_outcome_unknown(const struct db *db)
{
    return db->unknown;
}

ml_err db_recover(struct db *db)
{
    char errbuf[DB_ERRMSG_MAX];
    walckpt_stop(db->ckpt, db->sql);
    db->ckpt = NULL;
    drop_statements(db);
    if (db->sql != NULL) {
        /* Closing the last connection would checkpoint from SQLite's in-memory view of the
         * WAL, which left out the failed commit, and then drop the WAL: the one place that
         * holds what may have reached the disk. */
        (void)sqlite3_db_config(db->sql, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        sqlite3_close(db->sql);
        db->sql = NULL;
    }
    db->sp_depth = 0;
    db->durable = 1; /* a unit that asked for less ended with the failure */
    int found;
    if (connect(db, &found, errbuf, sizeof(errbuf)) != ML_OK) {
        set_err(db, "%s", errbuf);
        sqlite3_close(db->sql);
        db->sql = NULL;
        return ML_STORAGE;
    }
    /* What the reopened database shows is what a restart would find; a TRUNCATE checkpoint
     * copies it into the database file and flushes it, so it is now durable. */
    int rc = sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    if (rc != SQLITE_OK) {
        set_sqlite_err(db);
        return ML_STORAGE;
    }
    db->unknown = 0;
    start_checkpointer(db);
    return ML_OK;
}

ml_err db_savepoint(struct db *db)
{
    int outer = !db_in_tx(db);
    if (outer && known(db) != ML_OK)
        return ML_STORAGE;
    if (db_exec(db, "SAVEPOINT unit") != ML_OK)
        return ML_STORAGE;
    if (outer)
        db->sp_depth = 0; /* SQLite may have ended the last transaction itself (an I/O error) */
    if (db->sp_depth++ == 0)
        db->sp_outer = outer;
    return ML_OK;
}

ml_err db_release(struct db *db)
{
    int commits = db->sp_depth == 1 && db->sp_outer;
    if (db_exec(db, "RELEASE unit") != ML_OK)
        return commits ? commit_failed(db) : ML_STORAGE;
    if (db->sp_depth > 0)
        db->sp_depth--;
    return ML_OK;
}

void db_undo(struct db *db)
{
    if (!db_in_tx(db)) { /* SQLite rolled the whole transaction back already */
        db->sp_depth = 0;
        return;
    }
    (void)sqlite3_exec(db->sql, "ROLLBACK TO unit; RELEASE unit", NULL, NULL, NULL);
    if (db->sp_depth > 0)
        db->sp_depth--;
}

ml_err db_set_durable(struct db *db, int durable)
{
    if (db_in_tx(db))
        return ML_OK; /* inside a transaction the pager would ignore it: stay as it is */
    if (db_exec(db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") != ML_OK)
        return ML_STORAGE;
    db->durable = durable != 0;
    return ML_OK;
}

/* ---- statements -------------------------------------------------------------------------- */

sqlite3_stmt *db_stmt(struct db *db, const char *sql)
{
    struct slot *slot = find(db, db->by_sql, sql, 1);
    if (slot != NULL) {
        sqlite3_reset(slot->stmt);
        sqlite3_clear_bindings(slot->stmt);
        slot->bind_rc = 0;
        return slot->stmt;
    }
    if (db->sql == NULL) {
        set_err(db, "database closed (an earlier failure; it is being reopened)");
        return NULL;
    }
    if (db->nslots == DB_STMTS_MAX) {
        set_err(db, "more than %d distinct statements: %.60s", DB_STMTS_MAX, sql);
        return NULL;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(db->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
        set_err(db, "prepare: %s: %.80s", sqlite3_errmsg(db->sql), sql);
        sqlite3_finalize(s);
        return NULL;
    }
    size_t i = db->nslots++;
    db->slots[i] = (struct slot){.sql = sql, .stmt = s};
    index_add(db->by_sql, sql, i);
    index_add(db->by_stmt, s, i);
    return s;
}

static void bound(struct db *db, sqlite3_stmt *s, int rc)
{
    if (rc == SQLITE_OK)
        return;
    struct slot *slot = find(db, db->by_stmt, s, 0);
    if (slot != NULL && slot->bind_rc == 0)
        slot->bind_rc = rc;
}

void db_bind_text(struct db *db, sqlite3_stmt *s, int i, const char *v)
{
    bound(db, s, v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i));
}

void db_bind_text_owned(struct db *db, sqlite3_stmt *s, int i, char *v)
{
    /* SQLite calls free() on v even when the bind fails. */
    bound(db, s, v ? sqlite3_bind_text(s, i, v, -1, free) : sqlite3_bind_null(s, i));
}

void db_bind_text_static(struct db *db, sqlite3_stmt *s, int i, const char *v)
{
    bound(db, s, v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i));
}

void db_bind_i64(struct db *db, sqlite3_stmt *s, int i, int64_t v)
{
    bound(db, s, sqlite3_bind_int64(s, i, v));
}

void db_bind_blob(struct db *db, sqlite3_stmt *s, int i, const void *v, size_t n)
{
    int rc = n > (size_t)INT32_MAX ? SQLITE_TOOBIG
                                   : sqlite3_bind_blob(s, i, v, (int)n, SQLITE_TRANSIENT);
    bound(db, s, rc);
}

void db_bind_null(struct db *db, sqlite3_stmt *s, int i)
{
    bound(db, s, sqlite3_bind_null(s, i));
}

int db_step(struct db *db, sqlite3_stmt *s)
{
    int failed = 0;
    struct slot *slot = find(db, db->by_stmt, s, 0);
    if (slot != NULL && slot->bind_rc != 0) {
        failed = slot->bind_rc;
        slot->bind_rc = 0;
    }
    if (failed) {
        sqlite3_reset(s);
        set_err(db, "a parameter could not be bound: %s", sqlite3_errstr(failed));
        return SQLITE_MISUSE;
    }
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        set_sqlite_err(db);
    return rc;
}

ml_err db_run(struct db *db, sqlite3_stmt *s)
{
    int rc = db_step(db, s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

int64_t db_changes(struct db *db)
{
    return sqlite3_changes64(db->sql);
}

const char *db_col_text(sqlite3_stmt *s, int col)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    return v ? (const char *)v : "";
}

void db_col_copy(sqlite3_stmt *s, int col, char *dst, size_t len)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    snprintf(dst, len, "%s", v ? (const char *)v : "");
}

int64_t db_count(struct db *db, const char *sql)
{
    sqlite3_stmt *s = db_stmt(db, sql);
    int64_t n = -1;
    if (s != NULL && db_step(db, s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    if (s != NULL)
        sqlite3_reset(s);
    return n;
}
