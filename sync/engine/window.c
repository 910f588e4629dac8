/* window: in-flight batches and their acks; see window.h. */
#include "window.h"

#include <stdlib.h>
#include <string.h>

struct inflight {
    struct outbox_batch b;
    int64_t sent_ms;
};

struct window {
    struct db *db;
    struct window_config cfg;
    int64_t (*now_ms)(void);
    struct inflight inflight[WINDOW_INFLIGHT_MAX];
    int ninflight;
    int64_t last_sent_seq;
    char (*acked)[OUTBOX_EVENT_ID_LEN + 1];
    size_t nacked;
};

ml_err window_new(struct db *db, const struct window_config *cfg, int64_t (*now_ms)(void),
                  struct window **ret)
{
    struct window *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->acked = calloc(WINDOW_ACK_IDS_MAX, sizeof(*w->acked))) == NULL) {
        free(w);
        return ML_NOMEM;
    }
    w->db = db;
    w->cfg = *cfg;
    if (w->cfg.inflight < 1 || w->cfg.inflight > WINDOW_INFLIGHT_MAX)
        w->cfg.inflight = w->cfg.inflight < 1 ? 1 : WINDOW_INFLIGHT_MAX;
    w->now_ms = now_ms;
    *ret = w;
    return ML_OK;
}

void window_reset(struct window *w)
{
    for (int i = 0; i < w->ninflight; i++)
        outbox_batch_release(&w->inflight[i].b);
    w->ninflight = 0;
    w->last_sent_seq = 0;
}

void window_free(struct window *w)
{
    if (w == NULL)
        return;
    window_reset(w);
    free(w->acked);
    free(w);
}

static int send_batch(struct inflight *f, int64_t now, window_send_fn send, void *arg)
{
    if (send(arg, f->b.payload, f->b.len) != 0)
        return -1;
    f->sent_ms = now;
    /* The payload is in libmosquitto's queue now; a resend rebuilds it from the outbox. */
    free(f->b.payload);
    f->b.payload = NULL;
    return 0;
}

void window_fill(struct window *w, int64_t now, window_send_fn send, void *arg)
{
    /* Resend what HQ did not acknowledge in time. */
    for (int i = 0; i < w->ninflight; i++) {
        struct inflight *f = &w->inflight[i];
        if (now - f->sent_ms < w->cfg.ack_timeout_ms)
            continue;
        struct outbox_batch again;
        if (outbox_batch_again(w->db, &f->b, &again) != ML_OK)
            return;
        if (again.nevents == 0) {
            f->sent_ms = now; /* acked meanwhile; window_flush drops it */
            continue;
        }
        again.nevents = f->b.nevents;
        outbox_batch_release(&f->b);
        f->b = again;
        if (send_batch(f, now, send, arg) != 0)
            return;
    }
    while (w->ninflight < w->cfg.inflight) {
        struct inflight *f = &w->inflight[w->ninflight];
        if (outbox_batch_next(w->db, w->last_sent_seq, w->cfg.batch_events,
                              (size_t)w->cfg.batch_bytes, w->now_ms(), &f->b) != ML_OK)
            return;
        if (f->b.nevents == 0)
            return;
        if (send_batch(f, now, send, arg) != 0) {
            outbox_batch_release(&f->b);
            return;
        }
        w->last_sent_seq = f->b.last_seq;
        w->ninflight++;
    }
}

static int valid_event_id(const char *s)
{
    if (strlen(s) != OUTBOX_EVENT_ID_LEN)
        return 0;
    return strspn(s, "0123456789abcdef-") == OUTBOX_EVENT_ID_LEN;
}

int window_take_acks(struct window *w, const cJSON *ids)
{
    const cJSON *id;
    cJSON_ArrayForEach(id, ids)
    {
        if (!cJSON_IsString(id) || !valid_event_id(id->valuestring))
            continue;
        if (w->nacked == WINDOW_ACK_IDS_MAX && window_flush(w) != ML_OK)
            return 1; /* full and not recorded: the rest of this ack is resent by HQ */
        memcpy(w->acked[w->nacked++], id->valuestring, OUTBOX_EVENT_ID_LEN + 1);
    }
    return w->nacked >= WINDOW_ACK_IDS_MAX / 2;
}

ml_err window_flush(struct window *w)
{
    size_t deleted = 0;
    if (w->nacked == 0)
        return ML_OK;
    if (outbox_ack(w->db, w->acked, w->nacked, &deleted) != ML_OK)
        return ML_STORAGE; /* kept in memory; tried again */
    w->nacked = 0;
    /* Batches whose every event is acknowledged leave the window. */
    int k = 0;
    for (int i = 0; i < w->ninflight; i++) {
        struct inflight *f = &w->inflight[i];
        if (outbox_pending_in(w->db, f->b.first_seq, f->b.last_seq))
            w->inflight[k++] = *f;
        else
            outbox_batch_release(&f->b);
    }
    w->ninflight = k;
    return ML_OK;
}

size_t window_pending_acks(const struct window *w)
{
    return w->nacked;
}
