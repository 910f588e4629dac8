/*
 * db: one SQLite database of one program (memberlinkd's, memberlink-hq's): open with its
 * pragmas, migrations, transactions and savepoints, a cache of prepared statements, checked
 * binding, and recovery after a commit whose outcome is unknown.
 *
 * A struct db is one connection owned by one thread (plus, in read-write mode, the
 * background checkpointer of walckpt.h with a connection of its own). WAL mode with
 * synchronous=FULL: a commit is on disk (the WAL fsynced) before db_commit() returns.
 *
 * Functions return ml_err classes and log nothing; db_errmsg() says what SQLite said about
 * the last failure, for the one caller that logs it.
 *
 * Binding is checked without a test at every call: db_bind_*() record a failed bind against
 * its statement, and db_step() refuses to run a statement whose binding failed (SQLITE_MISUSE,
 * "a parameter could not be bound"), so a statement never runs with a parameter silently
 * left NULL.
 */
#ifndef ML_DB_H
#define ML_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"

/* Prepared statements one database caches (one per SQL text). Past it db_stmt() refuses:
 * a program's statements are a fixed set of literals, so reaching it is a bug. */
#define DB_STMTS_MAX 256
#define DB_ERRMSG_MAX 256
#define DB_BUSY_TIMEOUT_MS 5000

enum db_mode {
    DB_READWRITE, /* creates the file and migrates it forward */
    DB_READONLY,  /* an existing file at exactly the current schema version */
};

struct db_options {
    enum db_mode mode;
    /* Schema version N is reached by migrations[0..N); the version is their count. Each
     * runs in its own transaction; PRAGMA user_version records how far a file is. */
    const char *const *migrations;
    size_t nmigrations;
    int version; /* the schema version the program expects: db_open() refuses another count */
    const char *program; /* named in the refusal of a newer schema ("memberlinkd") */
    int page_size;       /* bytes, for a new file; 0: SQLite's default */
    int foreign_keys;    /* PRAGMA foreign_keys=ON */
    /* Background WAL checkpoints (walckpt.h) in read-write mode; 0: SQLite's own. */
    int64_t wal_wake_bytes, wal_restart_bytes;
    /* What DB_READONLY says of a missing file (the program's own hint), and of a file at
     * an older schema version; NULL: a plain message. */
    const char *missing_hint, *old_hint;
    /* After a failed commit, refuse to write until the outcome is known (db_recover). For a
     * program that is the only one with the file open (memberlinkd); without it a failed
     * commit is only ML_STORAGE, and whoever wrote must not have claimed anything yet
     * (memberlink-hq acknowledges only flushed commits). */
    int track_outcome;
};

struct db;

/*
 * Opens (read-write: creating if needed, then migrating forward) the database at path.
 * ML_CONFIG for a schema newer than opts knows; ML_NOENTRY for a missing file in read-only
 * mode; ML_STORAGE for anything else, ML_NOMEM. One line in errbuf naming path on failure,
 * and *ret_db is not written. Borrows opts (copied) and path (copied). Caller frees with
 * db_close().
 */
ml_err db_open(const char *path, const struct db_options *opts, struct db **ret_db, char *errbuf,
               size_t errlen);

/* Stops the checkpointer, finalizes the statements, closes. NULL-safe. */
void db_close(struct db *db);

/* The connection, for read-only inspection (tests) and code that needs SQLite itself. */
sqlite3 *db_sqlite(struct db *db);

/* What SQLite said about the last failure of a db_* call on db (static text when none). */
const char *db_errmsg(const struct db *db);

/* Schema version of the open file (PRAGMA user_version); -1 when it cannot be read. */
int db_schema_version(struct db *db);

/* The schema version the file had before db_open() migrated it (0: a new file). */
int db_migrated_from(const struct db *db);

/* ---- transactions ------------------------------------------------------------------------ */

ml_err db_begin(struct db *db);  /* BEGIN IMMEDIATE (after db_recover() when needed) */
void db_rollback(struct db *db); /* NULL-safe, no-op outside a transaction */
int db_in_tx(struct db *db);     /* 1 while a transaction is open */

/*
 * COMMIT. ML_OK: durable. On failure the transaction is over, and whether it reached the
 * disk is not known: a write of the log may have landed and its flush failed (SQLite then
 * reports the transaction rolled back, yet its frames are in the WAL file, where the next
 * open after a crash finds them). With track_outcome, db_outcome_unknown() is 1 from then
 * on, and the next db_begin() (or outermost db_savepoint()) first runs db_recover(): it
 * refuses (ML_STORAGE) while that fails.
 */
ml_err db_commit(struct db *db);

/* 1 after a failed commit (with track_outcome), until db_recover() succeeds. */
int db_outcome_unknown(const struct db *db);

/*
 * Finds the truth after a failed commit: closes every connection without the checkpoint that
 * closing would run (it would use SQLite's in-memory view and drop the WAL), reopens, so that
 * SQLite rebuilds its view from the WAL file as after a crash, and checkpoints what it found
 * into the database file with a flush (TRUNCATE). Cached statements are dropped (db_stmt()
 * prepares them again). ML_OK: db is usable and shows what the disk holds; otherwise db stays
 * in the unknown state (db_begin() refuses) and db_recover() may be called again.
 */
ml_err db_recover(struct db *db);

/*
 * Savepoints: a unit of work that is its own transaction when none is open, and a nested
 * one inside the caller's (e.g. one HQ message inside a whole catch-up). db_release()
 * commits it when it is the outermost; db_undo() rolls back to it and releases it.
 */
ml_err db_savepoint(struct db *db);
ml_err db_release(struct db *db);
void db_undo(struct db *db);

/*
 * Commits are durable (synchronous=FULL) unless durable is set to 0 between transactions:
 * then they are written to the OS without waiting for the disk, so they survive a crash of
 * the process but not a power cut, and the next durable commit flushes them too. Called
 * inside a transaction it changes nothing (SQLite would ignore it).
 */
ml_err db_set_durable(struct db *db, int durable);

/* Executes SQL text (one or more statements, no result rows). */
ml_err db_exec(struct db *db, const char *sql);

/* ---- statements -------------------------------------------------------------------------- */

/*
 * Returns a reset statement with cleared bindings for sql, prepared once per connection and
 * cached by the address of sql (pass string literals). NULL on a prepare error, or when
 * DB_STMTS_MAX statements are cached (ML_LIMIT in db_errmsg()); nothing is leaked either way.
 * The statement stays owned by db.
 */
sqlite3_stmt *db_stmt(struct db *db, const char *sql);

/* Binders, for statements from db_stmt(). v == NULL binds NULL. A failure is remembered for
 * db_step() (see the top). */
void db_bind_text(struct db *db, sqlite3_stmt *s, int i, const char *v); /* copies */
void db_bind_text_owned(struct db *db, sqlite3_stmt *s, int i, char *v); /* frees v */
void db_bind_text_static(struct db *db, sqlite3_stmt *s, int i,
                         const char *v); /* v outlives step */
void db_bind_i64(struct db *db, sqlite3_stmt *s, int i, int64_t v);
void db_bind_blob(struct db *db, sqlite3_stmt *s, int i, const void *v, size_t n); /* copies */
void db_bind_null(struct db *db, sqlite3_stmt *s, int i);

/*
 * sqlite3_step(), refusing (SQLITE_MISUSE, nothing run) a statement one of whose binds
 * failed since it was handed out; the statement is then reset. Records the error message on
 * any result other than SQLITE_ROW and SQLITE_DONE.
 */
int db_step(struct db *db, sqlite3_stmt *s);

/* Steps a statement expected to give no row and resets it: ML_OK on SQLITE_DONE. */
ml_err db_run(struct db *db, sqlite3_stmt *s);

/* Rows changed by the last statement. */
int64_t db_changes(struct db *db);

/* Column text as a string, "" for NULL; borrowed until the statement steps or resets. */
const char *db_col_text(sqlite3_stmt *s, int col);

/* Column text as a string ("" for NULL) copied into dst (cut to len - 1 bytes). */
void db_col_copy(sqlite3_stmt *s, int col, char *dst, size_t len);

/* The first column of the first row of sql (no parameters) as an integer; -1 when it cannot
 * be read. */
int64_t db_count(struct db *db, const char *sql);

#endif
