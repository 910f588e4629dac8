/*
 * walckpt: WAL checkpoints off the commit path.
 *
 * SQLite's automatic checkpoint runs inside whichever commit crosses the threshold and
 * fsyncs the database file there, which sets the tail latency of the writer (the agent's
 * checkout, HQ's ingest). With walckpt the owning connection only notices (through its WAL
 * hook) that the WAL has grown past wake_bytes and wakes a thread with its own
 * connection, which copies pages back with a PASSIVE checkpoint: it never blocks the
 * writer and never touches data. When idle, the thread sleeps on a condition variable.
 * Under sustained load a PASSIVE checkpoint never catches the writer, so past
 * restart_bytes one commit runs a short RESTART checkpoint itself and the WAL
 * starts over.
 */
#ifndef ML_WALCKPT_H
#define ML_WALCKPT_H

#include <sqlite3.h>
#include <stdint.h>

/* A reset WAL keeps up to this many bytes of its file (more than the restart point), so
 * it is overwritten in place rather than regrown: growing a file costs page zeroing.
 * Owners set it with PRAGMA journal_size_limit. */
#define WALCKPT_SIZE_LIMIT 25165824

struct walckpt;

/* Starts checkpointing for `owner`, a WAL-mode connection to the database at `path`, used
 * by one thread: the thread wakes every wake_bytes of WAL growth, and past restart_bytes a
 * commit starts the WAL over. A writer of small transactions that cares for its tail
 * latency wants small values (the agent: 1 and 16 MiB); a bulk writer large ones (HQ's
 * ingest: 16 and 256 MiB). NULL (logged) when it cannot: SQLite's automatic checkpoint
 * stays. */
struct walckpt *walckpt_start(sqlite3 *owner, const char *path, int64_t wake_bytes,
                              int64_t restart_bytes);

/* Stops the thread and gives the automatic checkpoint back to `owner`. NULL-safe. */
void walckpt_stop(struct walckpt *c, sqlite3 *owner);

#endif
