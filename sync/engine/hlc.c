/* hlc: hybrid logical clock (Kulkarni et al.), persisted in sync_state. */
#include "hlc.h"

#include <stdio.h>

#include "state.h"

void hlc_advance(struct hlc *h, int64_t now_ms)
{
    if (now_ms > h->wall) {
        h->wall = now_ms;
        h->counter = 0;
    } else {
        h->counter++;
    }
}

void hlc_merge(struct hlc *h, const struct hlc *remote, int64_t now_ms)
{
    int64_t wall = h->wall > remote->wall ? h->wall : remote->wall;
    if (now_ms > wall) {
        h->wall = now_ms;
        h->counter = 0;
    } else if (h->wall == remote->wall) {
        h->counter = (h->counter > remote->counter ? h->counter : remote->counter) + 1;
    } else if (wall == h->wall) {
        h->counter++;
    } else {
        h->wall = remote->wall;
        h->counter = remote->counter + 1;
    }
}

void hlc_format(const struct hlc *h, char out[HLC_TEXT_MAX])
{
    snprintf(out, HLC_TEXT_MAX, "%lld-%lld", (long long)h->wall, (long long)h->counter);
}

static ml_err load(struct db *db, struct hlc *h)
{
    if (state_get_i64(db, "hlc_wall", 0, &h->wall) != ML_OK ||
        state_get_i64(db, "hlc_counter", 0, &h->counter) != ML_OK)
        return ML_STORAGE;
    return ML_OK;
}

static ml_err store(struct db *db, const struct hlc *h)
{
    if (state_set_i64(db, "hlc_wall", h->wall) != ML_OK ||
        state_set_i64(db, "hlc_counter", h->counter) != ML_OK)
        return ML_STORAGE;
    return ML_OK;
}

ml_err hlc_observe(struct db *db, int64_t remote_wall_ms, int64_t now_ms)
{
    struct hlc h, remote = {.wall = remote_wall_ms, .counter = 0};
    if (load(db, &h) != ML_OK)
        return ML_STORAGE;
    hlc_merge(&h, &remote, now_ms);
    return store(db, &h);
}

ml_err hlc_tick(struct db *db, int64_t now_ms, struct hlc *ret)
{
    struct hlc h;
    if (load(db, &h) != ML_OK)
        return ML_STORAGE;
    hlc_advance(&h, now_ms);
    if (store(db, &h) != ML_OK)
        return ML_STORAGE;
    *ret = h;
    return ML_OK;
}
