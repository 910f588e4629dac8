/* trust: HQ-signed time plus the boot clock; see trust.h. */
#include "trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "fileutil.h"
#include "state.h"

#define TRUST_BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

static const char key_hq[] = "trust_hq_ms";
static const char key_boot[] = "trust_boot_ms";
static const char key_boot_id[] = "trust_boot_id";

/* 1 if v is a plausible boot id: 1..TRUST_BOOT_ID_MAX of [0-9a-f-]. */
static int boot_id_valid(const char *v)
{
    size_t n = strlen(v);
    return n >= 1 && n <= TRUST_BOOT_ID_MAX && strspn(v, "0123456789abcdef-") == n;
}

static void read_boot_id(char out[TRUST_BOOT_ID_MAX + 1])
{
    char *text = NULL;
    size_t n = 0;
    out[0] = '\0';
    if (file_read_small(TRUST_BOOT_ID_PATH, TRUST_BOOT_ID_MAX + 1, &text, &n) != ML_OK)
        return;
    text[strcspn(text, "\n")] = '\0';
    if (boot_id_valid(text))
        memcpy(out, text, strlen(text) + 1);
    free(text);
}

/* The stored boot id into out ("" when absent or not a boot id). */
static ml_err load_boot_id(struct db *db, char out[TRUST_BOOT_ID_MAX + 1])
{
    if (state_get_text(db, key_boot_id, out, TRUST_BOOT_ID_MAX + 1) != ML_OK)
        return ML_STORAGE;
    if (!boot_id_valid(out))
        out[0] = '\0';
    return ML_OK;
}

ml_err trust_open_with(struct trust *t, struct db *db, int64_t (*boot_ms)(void),
                       const char *boot_id)
{
    memset(t, 0, sizeof(*t));
    t->boot_ms = boot_ms;
    if (boot_id != NULL && boot_id_valid(boot_id))
        snprintf(t->boot_id, sizeof(t->boot_id), "%s", boot_id);
    char stored_id[TRUST_BOOT_ID_MAX + 1];
    int64_t hq = 0, at = -1;
    if (state_get_i64(db, key_hq, 0, &hq) != ML_OK ||
        state_get_i64(db, key_boot, -1, &at) != ML_OK || load_boot_id(db, stored_id) != ML_OK)
        return ML_STORAGE;
    t->floor_ms = hq > 0 ? hq : 0;
    /* Same boot, and the boot clock has not gone backwards: the anchor still holds. */
    if (hq > 0 && at >= 0 && t->boot_id[0] != '\0' && strcmp(stored_id, t->boot_id) == 0 &&
        at <= t->boot_ms()) {
        t->valid = 1;
        t->hq_ms = hq;
        t->anchor_boot_ms = at;
    }
    return ML_OK;
}

ml_err trust_open(struct trust *t, struct db *db)
{
    char id[TRUST_BOOT_ID_MAX + 1];
    read_boot_id(id);
    return trust_open_with(t, db, clock_boot_ms, id);
}

ml_err trust_hq_time(struct trust *t, struct db *db, int64_t issued_ms)
{
    int64_t now = t->boot_ms(), hq;
    if (t->valid) {
        int64_t est = t->hq_ms + (now - t->anchor_boot_ms);
        if (issued_ms < est - TRUST_STALE_MS)
            return ML_OK;
        hq = issued_ms > est ? issued_ms : est;
    } else {
        if (issued_ms <= 0 || issued_ms < t->floor_ms)
            return ML_OK;
        hq = issued_ms;
    }
    if (state_set_i64(db, key_hq, hq) != ML_OK || state_set_i64(db, key_boot, now) != ML_OK ||
        state_set_text(db, key_boot_id, t->boot_id) != ML_OK)
        return ML_STORAGE;
    t->valid = 1;
    t->hq_ms = hq;
    t->anchor_boot_ms = now;
    if (hq > t->floor_ms)
        t->floor_ms = hq;
    return ML_OK;
}

void trust_read(const struct trust *t, struct trust_reading *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->since_contact_ms = -1;
    if (t == NULL || !t->valid)
        return;
    int64_t since = t->boot_ms() - t->anchor_boot_ms;
    if (since < 0)
        return;
    ret->trusted = 1;
    ret->since_contact_ms = since;
    ret->contact_ms = t->hq_ms;
    ret->now_ms = t->hq_ms + since;
}

int trust_now_ms(const struct trust *t, int64_t *ms)
{
    struct trust_reading rd;
    trust_read(t, &rd);
    if (rd.trusted)
        *ms = rd.now_ms;
    return rd.trusted;
}

int64_t trust_since_contact_ms(const struct trust *t)
{
    struct trust_reading rd;
    trust_read(t, &rd);
    return rd.since_contact_ms;
}
