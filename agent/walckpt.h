/*
 * walckpt: WAL checkpoints off the commit path.
 *
 * SQLite's automatic checkpoint runs inside whichever commit crosses the threshold and
 * fsyncs the database file there, which sets the tail latency of the writer (the agent's
 * checkout, HQ's ingest). With walckpt the owning connection only notices (through its WAL
 * hook) that the WAL has grown past WALCKPT_PAGES and wakes a thread with its own
 * connection, which copies pages back with a PASSIVE checkpoint: it never blocks the
 * writer and never touches data. When idle, the thread sleeps on a condition variable.
 * Under sustained load a PASSIVE checkpoint never catches the writer, so past
 * WALCKPT_RESTART_PAGES one commit runs a short RESTART checkpoint itself and the WAL
 * starts over.
 */
#ifndef ML_WALCKPT_H
#define ML_WALCKPT_H

#include <sqlite3.h>

/* A reset WAL keeps up to this many bytes of its file (more than the restart point), so
 * it is overwritten in place rather than regrown: growing a file costs page zeroing.
 * Owners set it with PRAGMA journal_size_limit. */
#define WALCKPT_SIZE_LIMIT 25165824

struct walckpt;

/* Starts checkpointing for `owner`, a WAL-mode connection to the database at `path`, used
 * by one thread. NULL (logged) when it cannot: SQLite's automatic checkpoint stays. */
struct walckpt *walckpt_start(sqlite3 *owner, const char *path);

/* Stops the thread and gives the automatic checkpoint back to `owner`. NULL-safe. */
void walckpt_stop(struct walckpt *c, sqlite3 *owner);

#endif
