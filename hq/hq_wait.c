/* hq_wait: messages waiting for their commit's flush; see hq_wait.h. */
#include "hq_wait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HQ_WAIT_CAP_FIRST 256 /* entries allocated at first; doubled as acks need */

struct hq_wait {
    struct hq_wait_item *v;
    size_t n, cap;
};

ml_err hq_wait_new(struct hq_wait **ret)
{
    struct hq_wait *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return ML_NOMEM;
    *ret = w;
    return ML_OK;
}

void hq_wait_free(struct hq_wait *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i].payload);
    free(w->v);
    free(w);
}

size_t hq_wait_count(const struct hq_wait *w)
{
    return w->n;
}

size_t hq_wait_room(const struct hq_wait *w)
{
    return w->n < HQ_WAIT_MAX ? HQ_WAIT_MAX - w->n : 0;
}

/* Appends, whatever the count (hq_wait_add_msg() holds the limit); frees payload on failure. */
static ml_err add(struct hq_wait *w, uint64_t gen, const char *topic, char *payload, size_t len,
                  const char *id)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : HQ_WAIT_CAP_FIRST;
        struct hq_wait_item *grown = realloc(w->v, cap * sizeof(*grown));
        if (grown == NULL) {
            free(payload);
            return ML_NOMEM;
        }
        w->v = grown;
        w->cap = cap;
    }
    struct hq_wait_item *d = &w->v[w->n++];
    d->gen = gen;
    snprintf(d->topic, sizeof(d->topic), "%s", topic);
    d->payload = payload;
    d->len = len;
    snprintf(d->id, sizeof(d->id), "%s", id);
    return ML_OK;
}

ml_err hq_wait_add_ack(struct hq_wait *w, uint64_t gen, const char *topic, char *payload,
                       size_t len)
{
    return add(w, gen, topic, payload, len, "");
}

ml_err hq_wait_add_msg(struct hq_wait *w, uint64_t gen, const char *topic, char *payload,
                       size_t len, const char *id)
{
    if (w->n >= HQ_WAIT_MAX) {
        free(payload);
        return ML_LIMIT;
    }
    return add(w, gen, topic, payload, len, id);
}

void hq_wait_release(struct hq_wait *w, uint64_t done,
                     void (*fn)(void *arg, const struct hq_wait_item *item), void *arg)
{
    size_t i = 0;
    for (; i < w->n && w->v[i].gen <= done; i++) {
        fn(arg, &w->v[i]);
        free(w->v[i].payload);
    }
    if (i > 0 && i < w->n)
        memmove(w->v, w->v + i, (w->n - i) * sizeof(*w->v));
    w->n -= i;
}
