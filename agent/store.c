/*
 * store: SQLite connection, migrations and the prepared-statement cache.
 * Migrations are the files in agent/sql/, embedded at build time, applied in order in
 * one transaction each; PRAGMA user_version records the schema version.
 *
 * WAL checkpoints run on a second connection in a background thread. SQLite's automatic
 * checkpoint would run inside whichever commit crosses the threshold and fsync the
 * database file there, which is what set the checkout's p99. Here the owning connection
 * only notices (through its WAL hook) that the WAL has grown past STORE_CHECKPOINT_PAGES
 * and wakes the checkpointer, which copies pages back with a PASSIVE checkpoint — it
 * never blocks the writer and never touches data. When idle, the thread sleeps on a
 * condition variable: no timer wake-ups.
 */
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

extern const char *const store_migrations[];
extern const size_t store_migration_count;

#define ML_STR_(x) #x
#define ML_STR(x) ML_STR_(x)
#define STORE_STMT_CACHE_MAX 128
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_CHECKPOINT_PAGES 256 /* WAL pages (~1 MiB) that wake the checkpointer */
/*
 * Under sustained load a PASSIVE checkpoint never catches the writer, so the WAL is never
 * reset and would grow without bound; past this many pages (~16 MiB) see on_wal_commit().
 */
#define STORE_WAL_RESTART_PAGES 4096
/* A reset WAL keeps up to this many bytes of its file (more than the restart point), so
 * it is overwritten in place rather than regrown: growing a file costs page zeroing. */
#define STORE_WAL_SIZE_LIMIT 25165824

struct stmt_slot {
    const char *sql;
    sqlite3_stmt *stmt;
};

struct checkpointer {
    sqlite3 *db; /* its own connection, used only by the thread */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wanted, stopping, running;
    int signalled_at; /* WAL pages when the thread was last woken (owning thread only) */
    int restart_at;   /* WAL pages at which the next RESTART is tried (owning thread only) */
};

struct store {
    sqlite3 *db;
    struct stmt_slot stmts[STORE_STMT_CACHE_MAX];
    size_t nstmts;
    struct checkpointer ckpt;
};

static void *checkpoint_loop(void *arg)
{
    struct checkpointer *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->wanted && !c->stopping)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stopping)
            break;
        c->wanted = 0;
        pthread_mutex_unlock(&c->mu);
        int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warn("wal checkpoint: %s", sqlite3_errmsg(c->db));
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/*
 * Called by SQLite on the owning thread after each commit, with the WAL's page count.
 * Every STORE_CHECKPOINT_PAGES of growth wakes the background checkpointer. Past
 * STORE_WAL_RESTART_PAGES (only reached under sustained load, when a PASSIVE checkpoint
 * can never catch the writer) this commit runs a RESTART checkpoint itself, so the WAL
 * starts over; the background work has already copied most pages, so it is short, and it
 * happens once per thousands of pages, not once per thousand as SQLite's default would.
 */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct checkpointer *c = arg;
    if (pages >= c->restart_at) {
        /* Never wait here: a reader (a backup, an operator's sqlite3 shell) would stall
         * every commit for the busy timeout. If it cannot run now, try again later. */
        sqlite3_busy_timeout(db, 0);
        int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
        if (rc == SQLITE_OK) {
            c->restart_at = STORE_WAL_RESTART_PAGES;
            c->signalled_at = 0;
            return SQLITE_OK;
        }
        if (rc != SQLITE_BUSY)
            log_warn("wal checkpoint (restart): %s", sqlite3_errmsg(db));
        else if (c->restart_at == STORE_WAL_RESTART_PAGES)
            log_warn("wal checkpoint: a reader holds the database; the WAL keeps growing "
                     "until it lets go");
        c->restart_at = pages + STORE_WAL_RESTART_PAGES / 4;
    }
    if (pages < c->signalled_at)
        c->signalled_at = 0; /* the WAL started over */
    if (pages >= c->signalled_at + STORE_CHECKPOINT_PAGES) {
        c->signalled_at = pages;
        pthread_mutex_lock(&c->mu);
        c->wanted = 1;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

/* Starts the checkpointer; on failure SQLite's automatic checkpoint stays in place. */
static void checkpointer_start(struct store *st, const char *path)
{
    struct checkpointer *c = &st->ckpt;
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        log_warn("%s: no background checkpointer: %s", path, sqlite3_errmsg(c->db));
        sqlite3_close(c->db);
        c->db = NULL;
        return;
    }
    sqlite3_busy_timeout(c->db, STORE_BUSY_TIMEOUT_MS);
    /* A connection sees the WAL only once it has read the database; until then a
     * checkpoint on it is a silent no-op. */
    if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", NULL, NULL, NULL) !=
        SQLITE_OK) {
        log_warn("%s: no background checkpointer: %s", path, sqlite3_errmsg(c->db));
        sqlite3_close(c->db);
        c->db = NULL;
        return;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, checkpoint_loop, c) != 0) {
        log_warn("%s: no background checkpointer: cannot start a thread", path);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        sqlite3_close(c->db);
        c->db = NULL;
        return;
    }
    c->running = 1;
    c->restart_at = STORE_WAL_RESTART_PAGES;
    sqlite3_wal_hook(st->db, on_wal_commit, c); /* replaces the automatic checkpoint */
}

static void checkpointer_stop(struct store *st)
{
    struct checkpointer *c = &st->ckpt;
    if (!c->running)
        return;
    sqlite3_wal_hook(st->db, NULL, NULL);
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    sqlite3_close(c->db);
    c->running = 0;
}

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
        sqlite3_exec(st->db, "PRAGMA journal_size_limit=" ML_STR(STORE_WAL_SIZE_LIMIT), NULL, NULL,
                     NULL) != SQLITE_OK ||
        store_exec(st, "PRAGMA foreign_keys=ON") != ML_OK) {
        snprintf(errbuf, errlen, "%s: cannot configure database: %s", path, sqlite3_errmsg(st->db));
        goto out;
    }
    result = migrate(st, errbuf, errlen);
    if (result == ML_OK)
        checkpointer_start(st, path);
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
    checkpointer_stop(st);
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
