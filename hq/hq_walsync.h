/*
 * hq_walsync: `serve`'s commits made durable on a second thread, so parsing the next burst
 * of store batches overlaps the disk flush of the last one.
 *
 * `serve` commits its bursts with synchronous=NORMAL: SQLite writes the WAL frames to the
 * OS and returns without waiting for the disk. A commit then asks this syncer for an
 * fdatasync() of the WAL file and gets a generation number; the acks (and settlement
 * messages) of that commit wait, queued, until the syncer reports that generation done.
 * Only then are they published, so HQ still acknowledges nothing that a power cut could
 * take back: a commit that never got its flush was never acknowledged, and the stores send
 * it again. The WAL stays consistent through a power cut under synchronous=NORMAL (it may
 * only lose the unflushed tail); checkpoints flush the database file themselves.
 *
 * A failed fdatasync() is final, as in other databases: the kernel may have dropped the
 * pages, and a later flush would not say so. hq_walsync_done() reports it and `serve`
 * stops without acknowledging anything more.
 */
#ifndef ML_HQ_WALSYNC_H
#define ML_HQ_WALSYNC_H

#include <stdint.h>

#include "ml_err.h"

struct hq_walsync;

/* Starts the thread for the database at db_path (its WAL is db_path + "-wal"). */
ml_err hq_walsync_start(const char *db_path, struct hq_walsync **ret);

/* Finishes every requested flush, then stops the thread. NULL-safe. */
void hq_walsync_stop(struct hq_walsync *w);

/* A descriptor that becomes readable when a flush completes (for poll()). */
int hq_walsync_fd(const struct hq_walsync *w);

/* Asks for a flush of everything committed so far; returns its generation (>= 1). */
uint64_t hq_walsync_request(struct hq_walsync *w);

/*
 * The highest generation flushed so far (0: none); clears the descriptor's readiness.
 * *ret_failed is set to 1 once a flush has failed (then nothing more may be acknowledged).
 */
uint64_t hq_walsync_done(struct hq_walsync *w, int *ret_failed);

/* Waits until generation `gen` is flushed (or a flush failed: -1). 0 when flushed. */
int hq_walsync_wait(struct hq_walsync *w, uint64_t gen);

#endif
