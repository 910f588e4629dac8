/*
 * catchup: the HTTP catch-up of HQ's signed messages for this store
 * (GET <hq_url>/v1/stores/<store>/changes?since=<cursor>, signed NDJSON; docs/protocol.md).
 *
 * The download runs on a helper thread, because libcurl would otherwise block the loop; the
 * thread never touches the database. It hands the body back through a pipe the loop polls
 * (catchup_fd); the loop's thread then imports the lines through the inbox, the whole
 * response in one transaction. A failed download or import, or a response that skips a
 * cursor or holds a line that could not be recorded, is tried again after CATCHUP_RETRY_MS;
 * "X-More: 1" fetches the next page at once.
 */
#ifndef ML_CATCHUP_H
#define ML_CATCHUP_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "inbox.h"
#include "ml_err.h"

#define CATCHUP_BODY_MAX (16u * 1024u * 1024u) /* bytes of one changes response */
#define CATCHUP_TIMEOUT_S 30
#define CATCHUP_URL_MAX 1024
#define CATCHUP_RETRY_MS 30000

struct catchup;

/* Borrows hq_url, db, ib and site (all must outlive it). ML_NOMEM, ML_FAILURE. Caller frees
 * with catchup_free(), which waits for a running download. */
ml_err catchup_new(const char *hq_url, struct db *db, struct inbox *ib,
                   const struct inbox_site *site, struct catchup **ret);
void catchup_free(struct catchup *c); /* NULL-safe */

/* Starts a download from the current cursor, or marks one to follow the running one. */
void catchup_request(struct catchup *c);

/* Readable when a download has finished (-1 while none runs; c may be NULL). */
int catchup_fd(const struct catchup *c);

/* Imports the finished download (after catchup_fd became readable). */
void catchup_ready(struct catchup *c);

/* The retry timer: when it is due (monotonic ms; 0: none; c may be NULL), and running it. */
int64_t catchup_retry_at(const struct catchup *c);
void catchup_tick(struct catchup *c, int64_t now_mono_ms);

#endif
