/*
 * hq_ingest: one MQTT message from a store -> events stored once + an ack; see
 * hq_ingest.h. Events are checked in the order they come; a bad event is refused on its
 * own, the others of the batch still go in. Report rows are derived from known event types
 * (docs/protocol.md); an event whose body lacks what its report row needs is still stored
 * and acknowledged (the event is the record) and a warning says it is not in the reports.
 */
#include "hq_ingest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "day.h"
#include "hq_config.h"
#include "log.h"
#include "hq_settle.h"
#include "jsonutil.h"

/* Warnings logged per batch; the rest are counted in one line, so a bad batch of 1000
 * events cannot flood the log. */
#define HQ_NOTES_PER_BATCH_MAX 5
#define HQ_TYPE_MAX 64
#define HQ_HLC_MAX 40

struct hq_ingest {
    struct hq_store *st;
    char brand[HQ_CONFIG_ID_MAX + 1];
    struct hq_ingest_stats stats;
    /* Group commit: batches of an open group go into savepoints of one transaction and
     * count in `pending` until the group commits. `broken`: SQLite dropped the transaction
     * under a batch, so nothing of the group may be acknowledged. */
    int group, broken;
    struct hq_ingest_stats pending;
    struct hq_settle *settle; /* NULL: conflicts are not settled (tests, tools) */
};

/* State of the batch being handled. */
struct batch {
    struct hq_ingest *in;
    char store[HQ_CONFIG_ID_MAX + 1];
    char terminal[HQ_CONFIG_ID_MAX + 1];
    char id[HQ_EVENT_ID_MAX + 1]; /* batch id for logs, "-" when absent */
    int64_t now_ms;
    int notes;
    cJSON *acked; /* array of event ids */
    uint64_t n_new, n_dup, n_rej;
    int64_t max_seq;  /* highest seq stored for the terminal, this batch's new events included */
    int64_t received; /* this batch's new events whose seq was not stored before */
};

ml_err hq_ingest_new(struct hq_store *st, const char *brand, struct hq_ingest **ret_ingest)
{
    struct hq_ingest *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return ML_NOMEM;
    in->st = st;
    snprintf(in->brand, sizeof(in->brand), "%s", brand);
    *ret_ingest = in;
    return ML_OK;
}

void hq_ingest_free(struct hq_ingest *in)
{
    free(in);
}

const struct hq_ingest_stats *hq_ingest_stats(const struct hq_ingest *in)
{
    return &in->stats;
}

void hq_ingest_set_settle(struct hq_ingest *in, struct hq_settle *settle)
{
    in->settle = settle;
}

ml_err hq_ingest_group_begin(struct hq_ingest *in)
{
    if (in->group)
        return ML_OK;
    ml_err err = hq_store_begin(in->st);
    if (err == ML_OK) {
        in->group = 1;
        in->broken = 0;
        memset(&in->pending, 0, sizeof(in->pending));
    }
    return err;
}

ml_err hq_ingest_group_commit(struct hq_ingest *in)
{
    if (!in->group)
        return ML_OK;
    in->group = 0;
    ml_err err = in->broken ? ML_STORAGE : hq_store_commit(in->st);
    if (err == ML_OK) {
        in->stats.batches += in->pending.batches;
        in->stats.events_new += in->pending.events_new;
        in->stats.events_duplicate += in->pending.events_duplicate;
        in->stats.events_rejected += in->pending.events_rejected;
        return ML_OK;
    }
    if (!in->broken)
        log_error("group commit of %llu batches failed, none acked (the stores will resend): %s",
                  (unsigned long long)in->pending.batches, hq_store_errmsg(in->st));
    hq_store_rollback(in->st);
    if (in->settle != NULL)
        hq_settle_clear(in->settle);
    in->stats.batches_failed += in->pending.batches;
    return ML_STORAGE;
}

/* Copies at most 64 bytes of untrusted text for a log line, '?' for anything unprintable. */
static const char *printable(const char *s, char out[68])
{
    size_t i = 0;
    for (; s[i] != '\0' && i < 64; i++)
        out[i] = s[i] >= ' ' && s[i] <= '~' ? s[i] : '?';
    if (s[i] != '\0')
        out[i++] = '~';
    out[i] = '\0';
    return out;
}

static __attribute__((format(printf, 2, 3))) void note(struct batch *b, const char *fmt, ...)
{
    if (++b->notes > HQ_NOTES_PER_BATCH_MAX)
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warn("%s/%s batch %s: %s", b->store, b->terminal, b->id, msg);
}

/* 1 to max characters, each in `set` or alphanumeric. */
static int valid_token(const char *s, size_t max, const char *set)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(set, c) != NULL))
            return 0;
    }
    return 1;
}

/* "<wall-ms>-<counter>" */
static int valid_hlc(const char *s)
{
    size_t n = strlen(s), wall = strspn(s, "0123456789");
    return n <= HQ_HLC_MAX && wall > 0 && s[wall] == '-' && s[wall + 1] != '\0' &&
           strspn(s + wall + 1, "0123456789") == n - wall - 1;
}

static int depth_ok(const cJSON *v, int depth)
{
    if (depth > HQ_JSON_DEPTH_MAX)
        return 0;
    for (const cJSON *c = v->child; c != NULL; c = c->next)
        if (!depth_ok(c, depth + 1))
            return 0;
    return 1;
}

/* One JSON object in exactly len bytes, nesting at most HQ_JSON_DEPTH_MAX; else NULL. */
static cJSON *parse_batch(const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (v == NULL)
        return NULL;
    for (; end != NULL && end < text + len; end++)
        if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t' && *end != '\0')
            goto bad;
    if (!cJSON_IsObject(v) || !depth_ok(v, 1))
        goto bad;
    return v;
bad:
    cJSON_Delete(v);
    return NULL;
}

/* Refuses one event: counted in `rejections`, logged, not acknowledged. */
static __attribute__((format(printf, 5, 6))) ml_err reject(struct batch *b, const char *id, int idx,
                                                           const char *reason, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    b->n_rej++;
    if (id != NULL)
        note(b, "event %s rejected, not acked (%s): %s", id, reason, msg);
    else
        note(b, "event #%d rejected, not acked (%s): %s", idx, reason, msg);
    return hq_store_note_rejected(b->in->st, b->store, b->terminal, reason, id, b->now_ms);
}

static const cJSON *field(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

/* An optional object holding a required string id: {"member_id": ..} or null/absent. */
static ml_err optional_ref(const cJSON *body, const char *name, const char *id_name,
                           const char **ret, struct ml_refusal *r)
{
    const cJSON *f = field(body, name);
    if (f == NULL || cJSON_IsNull(f))
        return ML_OK;
    if (!cJSON_IsObject(f))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "field '%s' must be an object", name);
    return json_str(f, id_name, 1, HQ_EVENT_ID_MAX, ret, r);
}

/* Report rows for a newly stored event. Only ML_STORAGE is an error. */
static ml_err derive(struct batch *b, const struct hq_event *ev, const cJSON *body)
{
    struct hq_store *st = b->in->st;
    struct ml_refusal r = {0};
    char day[DAY_TEXT_LEN + 1];
    day_of(ev->at, day);
    ml_err bad = ML_OK;
    const char *sale_id = NULL, *refund_id = NULL;
    int64_t amount = 0;

    if (strcmp(ev->type, "sale.completed") == 0) {
        struct hq_sale sale = {0};
        const cJSON *c = field(body, "commission");
        if ((bad = json_str(body, "sale_id", 1, HQ_EVENT_ID_MAX, &sale.sale_id, &r)) == ML_OK &&
            (bad = json_i64(body, "total", 1, 0, JSON_INT_MAX, &sale.total, &r)) == ML_OK &&
            (bad = optional_ref(body, "member", "member_id", &sale.member_id, &r)) == ML_OK &&
            (bad = optional_ref(body, "guide", "guide_id", &sale.guide_id, &r)) == ML_OK &&
            c != NULL && !cJSON_IsNull(c)) {
            bad = cJSON_IsObject(c)
                      ? json_i64(c, "amount", 1, -JSON_INT_MAX, JSON_INT_MAX, &sale.commission, &r)
                      : ml_refuse(&r, ML_PARSE, 400, "invalid_request",
                                  "field 'commission' must be an object");
        }
        if (bad == ML_OK) {
            int dup = 0;
            if (hq_store_put_sale(st, ev, day, &sale, &dup) != ML_OK)
                return ML_STORAGE;
            if (dup)
                note(b,
                     "event %s: sale %s was already recorded by another event; stored, not "
                     "counted again",
                     ev->id, sale.sale_id);
        }
    } else if (strcmp(ev->type, "sale.refunded") == 0) {
        if ((bad = json_str(body, "refund_id", 1, HQ_EVENT_ID_MAX * 2, &refund_id, &r)) == ML_OK &&
            (bad = json_str(body, "sale_id", 1, HQ_EVENT_ID_MAX, &sale_id, &r)) == ML_OK &&
            (bad = json_i64(body, "amount", 1, 0, JSON_INT_MAX, &amount, &r)) == ML_OK &&
            hq_store_put_refund(st, ev, day, refund_id, sale_id, amount) != ML_OK)
            return ML_STORAGE;
    } else if (strcmp(ev->type, "commission.recorded") == 0) {
        const char *guide_id = NULL;
        if ((bad = json_str(body, "guide_id", 1, HQ_EVENT_ID_MAX, &guide_id, &r)) == ML_OK &&
            (bad = json_str(body, "sale_id", 1, HQ_EVENT_ID_MAX, &sale_id, &r)) == ML_OK &&
            (bad = json_str(body, "refund_id", 0, HQ_EVENT_ID_MAX * 2, &refund_id, &r)) == ML_OK &&
            (bad = json_i64(body, "amount", 1, -JSON_INT_MAX, JSON_INT_MAX, &amount, &r)) ==
                ML_OK &&
            hq_store_put_commission(st, ev, day, guide_id, sale_id, refund_id, amount) != ML_OK)
            return ML_STORAGE;
    } else if (strcmp(ev->type, "coupon.redeemed") == 0 ||
               strcmp(ev->type, "coupon.restored") == 0) {
        const char *coupon_id = NULL;
        int64_t use_no = 0;
        int redeemed = strcmp(ev->type, "coupon.redeemed") == 0;
        if ((bad = json_str(body, "coupon_id", 1, HQ_EVENT_ID_MAX, &coupon_id, &r)) == ML_OK &&
            (bad = json_str(body, "sale_id", 1, HQ_EVENT_ID_MAX, &sale_id, &r)) == ML_OK &&
            (bad = json_i64(body, "use_no", 1, 0, JSON_INT_MAX, &use_no, &r)) == ML_OK &&
            (!redeemed ||
             (bad = json_i64(body, "amount", 1, 0, JSON_INT_MAX, &amount, &r)) == ML_OK)) {
            if (redeemed) {
                int64_t trusted_at = 0;
                int conflicts = 0;
                (void)json_i64(body, "trusted_at", 0, 0, JSON_INT_MAX, &trusted_at, &r);
                const struct hq_redemption red = {.coupon_id = coupon_id,
                                                  .sale_id = sale_id,
                                                  .use_no = use_no,
                                                  .amount = amount,
                                                  .trusted_at = trusted_at};
                if (hq_store_put_redemption(st, ev, day, &red) != ML_OK)
                    return ML_STORAGE;
                if (b->in->settle != NULL && hq_settle_redeemed(b->in->settle, st, coupon_id,
                                                                b->now_ms, &conflicts) != ML_OK)
                    return ML_STORAGE;
            } else {
                int found = 0;
                if (hq_store_restore_redemption(st, ev, coupon_id, sale_id, use_no, &found) !=
                    ML_OK)
                    return ML_STORAGE;
                if (!found)
                    note(b,
                         "event %s: no redemption of coupon %s use %lld in sale %s to "
                         "restore; stored",
                         ev->id, coupon_id, (long long)use_no, sale_id);
            }
        }
    } else if (strcmp(ev->type, "security.rejected") == 0) {
        log_info("%s/%s: security.rejected event %s stored", b->store, b->terminal, ev->id);
    } else if (strcmp(ev->type, "points.changed") != 0) {
        note(b, "event %s: unknown type %s; stored, not in reports", ev->id, ev->type);
    }
    if (bad != ML_OK)
        note(b, "event %s (%s): %s; stored, not in reports", ev->id, ev->type, r.message);
    return ML_OK;
}

/* Adds `id` to the ack unless it is there already (an id twice in one batch). */
static ml_err ack_add(struct batch *b, const char *id, int check_dup)
{
    if (check_dup) {
        const cJSON *a;
        cJSON_ArrayForEach(a, b->acked)
        {
            if (strcmp(a->valuestring, id) == 0)
                return ML_OK;
        }
    }
    cJSON *s = cJSON_CreateString(id);
    if (s == NULL || !cJSON_AddItemToArray(b->acked, s)) {
        cJSON_Delete(s);
        return ML_NOMEM;
    }
    return ML_OK;
}

/* Checks and stores one event. ML_OK unless storage or memory failed (batch aborts). */
static ml_err handle_event(struct batch *b, const cJSON *e, int idx)
{
    struct ml_refusal r = {0};
    char p1[68], p2[68];
    if (!cJSON_IsObject(e))
        return reject(b, NULL, idx, "malformed", "not a JSON object");
    const cJSON *f = field(e, "id");
    if (!cJSON_IsString(f) || !valid_token(f->valuestring, HQ_EVENT_ID_MAX, "-_.:"))
        return reject(b, NULL, idx, "malformed", "no valid 'id' (1-64 of [A-Za-z0-9-_.:])");
    const char *id = f->valuestring;

    const cJSON *fs = field(e, "store"), *ft = field(e, "terminal");
    if (!cJSON_IsString(fs) || !cJSON_IsString(ft))
        return reject(b, id, idx, "malformed", "'store' and 'terminal' must be strings");
    if (strcmp(fs->valuestring, b->store) != 0 || strcmp(ft->valuestring, b->terminal) != 0)
        return reject(b, id, idx, "topic_mismatch", "event says %s/%s",
                      printable(fs->valuestring, p1), printable(ft->valuestring, p2));

    struct hq_event ev = {
        .id = id, .store = b->store, .terminal = b->terminal, .defer_terminal = 1};
    ev.batch = strcmp(b->id, "-") != 0 ? b->id : NULL;
    if (json_i64(e, "seq", 1, 1, JSON_INT_MAX, &ev.seq, &r) != ML_OK ||
        json_str(e, "type", 1, HQ_TYPE_MAX, &ev.type, &r) != ML_OK ||
        json_str(e, "hlc", 1, HQ_HLC_MAX, &ev.hlc, &r) != ML_OK ||
        json_i64(e, "at", 1, 0, JSON_INT_MAX, &ev.at, &r) != ML_OK)
        return reject(b, id, idx, "malformed", "%s", r.message);
    if (!valid_token(ev.type, HQ_TYPE_MAX, "._"))
        return reject(b, id, idx, "malformed", "bad 'type' %s", printable(ev.type, p1));
    if (!valid_hlc(ev.hlc))
        return reject(b, id, idx, "malformed", "bad 'hlc' %s (want <wall-ms>-<counter>)",
                      printable(ev.hlc, p1));
    const cJSON *body = field(e, "body");
    if (!cJSON_IsObject(body))
        return reject(b, id, idx, "malformed", "'body' must be an object");
    ev.seq_new = ev.seq > b->max_seq; /* past every stored seq: no reuse to look for */

    /* Canonical text prints integers directly; cJSON's printer formats every large number
     * as a double and reads it back, which was most of HQ's ingest CPU. Bodies with a
     * fraction (no store sends one) fall back to cJSON's printer. */
    char *body_text = canon_json(body);
    if (body_text == NULL)
        body_text = cJSON_PrintUnformatted(body);
    if (body_text == NULL)
        return ML_NOMEM;
    ev.body = body_text;
    struct hq_put_result put;
    ml_err result = hq_store_put_event(b->in->st, &ev, b->now_ms, &put);
    if (result != ML_OK)
        goto out;
    switch (put.put) {
    case HQ_PUT_DUPLICATE:
        b->n_dup++;
        result = ack_add(b, id, 1);
        break;
    case HQ_PUT_CONFLICT:
        result = reject(b, id, idx, "id_conflict",
                        "id already stored for a different store/terminal/seq/type");
        break;
    case HQ_PUT_NEW:
        b->n_new++;
        b->received += !put.seq_reused;
        if (ev.seq > b->max_seq)
            b->max_seq = ev.seq;
        if (put.seq_reused)
            note(b, "event %s reuses seq %lld of event %s (store database restored?); both kept",
                 id, (long long)ev.seq, put.other_id);
        if ((result = derive(b, &ev, body)) == ML_OK)
            result = ack_add(b, id, 0);
        break;
    }
out:
    free(body_text);
    return result;
}

static void log_seq_change(const struct batch *b, const struct hq_seq_state *before,
                           const struct hq_seq_state *after)
{
    if (after->gaps > before->gaps)
        log_warn("%s/%s: seq gap: %lld seq(s) missing below max_seq %lld (next expected seq "
                 "%lld)",
                 b->store, b->terminal, (long long)after->gaps, (long long)after->max_seq,
                 (long long)after->next_seq);
    else if (after->gaps == 0 && before->gaps > 0)
        log_warn("%s/%s: seq gap closed: every seq up to %lld received", b->store, b->terminal,
                 (long long)after->max_seq);
    else if (after->gaps < before->gaps)
        log_info("%s/%s: seq gap narrowed: %lld seq(s) still missing (next expected seq %lld)",
                 b->store, b->terminal, (long long)after->gaps, (long long)after->next_seq);
}

ml_err hq_ingest_message(struct hq_ingest *in, const char *topic, const void *payload, size_t len,
                         int64_t now_ms, struct hq_ack *ret_ack)
{
    struct batch b = {.in = in, .now_ms = now_ms};
    struct hq_seq_state before = {0}, after = {0};
    int in_tx = 0, committed = 0, seq_known = 0;
    size_t settle_mark = 0;
    char why[256] = "";
    cJSON *root = NULL, *ack = NULL;
    char p1[68];
    ml_err result = ML_PARSE;

    ret_ack->topic[0] = '\0';
    ret_ack->payload = NULL;
    ret_ack->len = 0;
    snprintf(b.id, sizeof(b.id), "-");

    if (topic_parse_events(topic, in->brand, HQ_CONFIG_ID_MAX, b.store, b.terminal) != 0) {
        log_warn("message on unexpected topic %s dropped", printable(topic, p1));
        goto out;
    }
    if (len > HQ_BATCH_BYTES_MAX) {
        log_warn("%s/%s: batch of %zu bytes is over the %u-byte limit; dropped, not acked", b.store,
                 b.terminal, len, HQ_BATCH_BYTES_MAX);
        result = ML_LIMIT;
        goto out;
    }
    root = parse_batch(payload, len);
    if (root == NULL) {
        log_warn("%s/%s: message of %zu bytes is not a JSON object (or nests deeper than %d); "
                 "dropped, not acked",
                 b.store, b.terminal, len, HQ_JSON_DEPTH_MAX);
        goto out;
    }
    const cJSON *bid = field(root, "batch");
    if (cJSON_IsString(bid) && valid_token(bid->valuestring, HQ_EVENT_ID_MAX, "-_.:"))
        snprintf(b.id, sizeof(b.id), "%s", bid->valuestring);
    const cJSON *v = field(root, "v");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1.0) {
        log_warn("%s/%s batch %s: not batch version 1; dropped, not acked", b.store, b.terminal,
                 b.id);
        goto out;
    }
    const cJSON *events = field(root, "events");
    if (!cJSON_IsArray(events)) {
        log_warn("%s/%s batch %s: no 'events' array; dropped, not acked", b.store, b.terminal,
                 b.id);
        goto out;
    }
    int n = cJSON_GetArraySize(events);
    if (n > HQ_BATCH_EVENTS_MAX) {
        log_warn("%s/%s batch %s: %d events is over the limit of %d; dropped, not acked", b.store,
                 b.terminal, b.id, n, HQ_BATCH_EVENTS_MAX);
        result = ML_LIMIT;
        goto out;
    }

    result = ML_NOMEM;
    if ((b.acked = cJSON_CreateArray()) == NULL)
        goto out;
    if (in->broken) {
        result = ML_STORAGE;
        goto out;
    }
    if ((result = in->group ? hq_store_savepoint(in->st) : hq_store_begin(in->st)) != ML_OK)
        goto out;
    in_tx = 1;
    settle_mark = in->settle ? hq_settle_count(in->settle) : 0;
    if ((result = hq_store_terminal_max_seq(in->st, b.store, b.terminal, &b.max_seq)) != ML_OK)
        goto out;
    int idx = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        if ((result = handle_event(&b, e, idx++)) != ML_OK)
            goto out;
    }
    if (b.n_new > 0) {
        if ((result = hq_store_count_terminal(in->st, b.store, b.terminal, b.max_seq, b.received,
                                              now_ms)) != ML_OK ||
            (result = hq_store_refresh_terminal(in->st, b.store, b.terminal, &before, &after)) !=
                ML_OK)
            goto out;
        seq_known = 1;
    }
    if ((result = in->group ? hq_store_release(in->st) : hq_store_commit(in->st)) != ML_OK)
        goto out;
    in_tx = 0;
    committed = 1;

    /* Durable from here on (in a group: once the group commits): account, build the ack. */
    struct hq_ingest_stats *acc = in->group ? &in->pending : &in->stats;
    acc->batches++;
    acc->events_new += b.n_new;
    acc->events_duplicate += b.n_dup;
    acc->events_rejected += b.n_rej;
    if (b.notes > HQ_NOTES_PER_BATCH_MAX)
        log_warn("%s/%s batch %s: %d more warnings not logged", b.store, b.terminal, b.id,
                 b.notes - HQ_NOTES_PER_BATCH_MAX);
    if (seq_known)
        log_seq_change(&b, &before, &after);
    log_debug("%s/%s batch %s: %d events: %llu new, %llu duplicate, %llu rejected", b.store,
              b.terminal, b.id, n, (unsigned long long)b.n_new, (unsigned long long)b.n_dup,
              (unsigned long long)b.n_rej);

    if (cJSON_GetArraySize(b.acked) == 0) {
        result = ML_OK;
        goto out;
    }
    result = ML_NOMEM;
    if ((ack = cJSON_CreateObject()) == NULL || cJSON_AddNumberToObject(ack, "v", 1) == NULL)
        goto out;
    cJSON_AddItemToObject(ack, "acked", b.acked);
    b.acked = NULL;
    if ((ret_ack->payload = cJSON_PrintUnformatted(ack)) == NULL)
        goto out;
    ret_ack->len = strlen(ret_ack->payload);
    topic_terminal(ret_ack->topic, sizeof(ret_ack->topic), in->brand, b.store, b.terminal,
                   TOPIC_ACK);
    result = ML_OK;
out:
    if (result == ML_STORAGE)
        snprintf(why, sizeof(why), "%s", hq_store_errmsg(in->st));
    if (in_tx && in->settle != NULL)
        hq_settle_truncate(in->settle, settle_mark);
    if (in_tx && in->group)
        hq_store_rollback_to(in->st);
    else if (in_tx)
        hq_store_rollback(in->st);
    if (in->group && !hq_store_in_tx(in->st))
        in->broken = 1;
    switch (result) {
    case ML_OK:
        break;
    case ML_PARSE:
    case ML_LIMIT:
        in->stats.batches_dropped++;
        break;
    case ML_STORAGE:
        in->stats.batches_failed++;
        log_error("%s/%s batch %s: not stored, not acked (the store will resend): %s", b.store,
                  b.terminal, b.id, why);
        break;
    default:
        in->stats.batches_failed++;
        log_error("%s/%s batch %s: %s%s", b.store, b.terminal, b.id, ml_strerror(result),
                  committed ? "; stored, ack not sent" : "; not stored, not acked");
        break;
    }
    cJSON_Delete(ack);
    cJSON_Delete(b.acked);
    cJSON_Delete(root);
    return result;
}
