/*
 * window: the batches sent to HQ and not yet acknowledged, and the acks that retire them.
 *
 * The SQLite outbox is the only durable queue; the window only remembers which seq ranges
 * are out. Batches of at most batch_events events / batch_bytes bytes go out, at most
 * `inflight` at a time; an event leaves the outbox only when HQ's ack names it. A batch not
 * acknowledged within ack_timeout_ms is sent again (HQ deduplicates by event id), and after
 * a reconnect everything unacknowledged goes again from the oldest (window_reset).
 *
 * Acks are buffered and recorded together (one transaction for a burst: one fsync), at the
 * latest when WINDOW_ACK_IDS_MAX ids are waiting.
 */
#ifndef ML_WINDOW_H
#define ML_WINDOW_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "ml_err.h"
#include "outbox.h"

#define WINDOW_INFLIGHT_MAX 64
#define WINDOW_ACK_IDS_MAX 4096 /* acked ids buffered before a forced flush */

struct window_config {
    int inflight;     /* 1..WINDOW_INFLIGHT_MAX */
    int batch_events; /* events per batch */
    int batch_bytes;  /* bytes per batch */
    int64_t ack_timeout_ms;
};

/* Sends one batch payload; 0 when it was queued for the broker, -1 when not. */
typedef int (*window_send_fn)(void *arg, const char *payload, size_t len);

struct window;

/* Borrows db. ML_NOMEM. Caller frees with window_free(). */
ml_err window_new(struct db *db, const struct window_config *cfg, int64_t (*now_ms)(void),
                  struct window **ret);
void window_free(struct window *w); /* NULL-safe */

/* Forgets what is out: the next window_fill() starts from the oldest unacknowledged event. */
void window_reset(struct window *w);

/* Resends overdue batches, then sends new ones while there is room. Stops at the first send
 * or storage failure (the next call goes on). */
void window_fill(struct window *w, int64_t now_mono_ms, window_send_fn send, void *arg);

/* Takes the well-formed event ids of an ack's "acked" array; ids are recorded at the next
 * window_flush(). Returns 1 when a flush is due now (the buffer is full). */
int window_take_acks(struct window *w, const cJSON *ids);

/* Records the buffered acks (one transaction) and retires the batches they complete.
 * ML_STORAGE keeps them buffered for the next call. */
ml_err window_flush(struct window *w);

size_t window_pending_acks(const struct window *w);

#endif
