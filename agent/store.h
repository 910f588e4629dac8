/*
 * store: the agent's SQLite database: open, pragmas, migrations, transactions and a
 * cache of prepared statements.
 *
 * One connection, owned by the main thread. WAL mode with synchronous=FULL: a commit
 * is on disk (the WAL fsynced) before store_commit() returns, so the API answers only
 * after the sale is durable.
 */
#ifndef ML_STORE_H
#define ML_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"

#define STORE_SCHEMA_VERSION 2

struct store;

/*
 * Opens (creating if needed) the database at `path` and applies pending migrations.
 * Refuses a schema newer than STORE_SCHEMA_VERSION with ML_CONFIG and a message in
 * errbuf. Caller frees with store_close().
 */
ml_err store_open(const char *path, struct store **ret_store, char *errbuf, size_t errlen);

/* NULL-safe. */
void store_close(struct store *st);

sqlite3 *store_db(struct store *st);

ml_err store_begin(struct store *st);  /* BEGIN IMMEDIATE */
ml_err store_commit(struct store *st); /* durable on ML_OK */
void store_rollback(struct store *st); /* NULL-safe, no-op outside a transaction */

/*
 * Savepoints: a unit of work that is its own transaction when none is open, and a nested
 * one inside the caller's (e.g. one HQ message inside a whole catch-up). store_release()
 * commits it when it is the outermost; store_undo() rolls back to it and releases it.
 */
ml_err store_savepoint(struct store *st);
ml_err store_release(struct store *st);
void store_undo(struct store *st);

/*
 * Commits are durable (synchronous=FULL) unless durable is set to 0 between transactions:
 * then they are written to the OS without waiting for the disk, so they survive a crash of
 * the process but not a power cut, and the next durable commit flushes them too. For
 * caches whose loss is harmless, such as the QR replay cache (identify.h); set it back to 1
 * right after. Called inside a transaction it changes nothing (SQLite would ignore it).
 */
ml_err store_set_durable(struct store *st, int durable);

/*
 * Returns a reset, cleared statement for `sql`, prepared once per connection and cached
 * by the address of `sql` (pass string literals). NULL on a prepare error (logged once).
 * The statement stays owned by the store.
 */
sqlite3_stmt *store_stmt(struct store *st, const char *sql);

/* Executes one statement with no result rows. */
ml_err store_exec(struct store *st, const char *sql);

/* sync_state key/value helpers (inside the caller's transaction). */
ml_err store_state_get_i64(struct store *st, const char *key, int64_t dflt, int64_t *ret);
ml_err store_state_set_i64(struct store *st, const char *key, int64_t value);

/* Count of rows for a whole-table "SELECT count(*) FROM t" style query. */
int64_t store_count(struct store *st, const char *sql);

#endif
