/*
 * hq_settle: booking coupons redeemed past their uses; see hq_settle.h.
 *
 * Owns (the only SQL naming them): coupon_terms, conflicts. The redemptions it orders are
 * hq_store.c's, the stores it denies a coupon to come from hq_store.c (terminals) and
 * hq_outgoing.c (outgoing).
 */
#include "hq_settle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hq_log.h"
#include "hq_outgoing.h"

/* Stores a deny goes to past the configured ones are collected (sorted, once each) before
 * any is sent: sending writes outgoing, which the collection reads. */
#define HQ_SETTLE_STORES_MAX HQ_PUSH_MESSAGES_MAX

struct hq_settle {
    const struct hq_config *cfg;
    EVP_PKEY *key;
    char kid[SIGN_KID_MAX + 1];
    struct hq_push *push; /* messages of the open transaction; NULL when none */
};

/* One redemption of the coupon, in settlement order. */
struct live {
    char event_id[HQ_EVENT_ID_MAX + 1], store[HQ_CONFIG_ID_MAX + 1], terminal[HQ_CONFIG_ID_MAX + 1],
        sale_id[HQ_EVENT_ID_MAX + 1], day[16];
    int64_t amount, t;
    int booked;
};

struct lives {
    struct live *v;
    size_t n, cap;
};

ml_err hq_settle_new(const struct hq_config *cfg, EVP_PKEY *key, const char *kid,
                     struct hq_settle **ret_settle)
{
    struct hq_settle *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ML_NOMEM;
    s->cfg = cfg;
    s->key = key;
    snprintf(s->kid, sizeof(s->kid), "%s", kid ? kid : "");
    *ret_settle = s;
    return ML_OK;
}

void hq_settle_free(struct hq_settle *s)
{
    if (s == NULL)
        return;
    hq_push_free(s->push);
    free(s);
}

static ml_err add_live(void *arg, const struct hq_live_redemption *r)
{
    struct lives *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        struct live *grown = realloc(l->v, cap * sizeof(*grown));
        if (grown == NULL)
            return ML_NOMEM;
        l->v = grown;
        l->cap = cap;
    }
    struct live *e = &l->v[l->n++];
    snprintf(e->event_id, sizeof(e->event_id), "%s", r->event_id);
    snprintf(e->store, sizeof(e->store), "%s", r->store);
    snprintf(e->terminal, sizeof(e->terminal), "%s", r->terminal);
    snprintf(e->sale_id, sizeof(e->sale_id), "%s", r->sale_id);
    snprintf(e->day, sizeof(e->day), "%s", r->day);
    e->amount = r->amount;
    e->t = r->t;
    e->booked = 0;
    return ML_OK;
}

/* *ret_booked = 1 when the redemption stored by event_id is booked as a conflict. */
static ml_err booked(struct db *db, const char *event_id, int *ret_booked)
{
    sqlite3_stmt *b = db_stmt(db, "SELECT 1 FROM conflicts WHERE event_id = ?1");
    if (b == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, b, 1, event_id);
    int rc = db_step(db, b);
    sqlite3_reset(b);
    *ret_booked = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

/* The coupon's live redemptions in settlement order; *ret_n of them in *ret (caller frees). */
static ml_err load_live(struct hq_store *st, const char *coupon_id, struct live **ret,
                        size_t *ret_n)
{
    struct lives l = {0};
    ml_err err = hq_store_live_redemptions(st, coupon_id, add_live, &l);
    for (size_t i = 0; err == ML_OK && i < l.n; i++)
        err = booked(hq_store_conn(st), l.v[i].event_id, &l.v[i].booked);
    if (err != ML_OK) {
        free(l.v);
        return err;
    }
    *ret = l.v;
    *ret_n = l.n;
    return ML_OK;
}

static ml_err book(struct hq_store *st, const char *coupon_id, const char *campaign_id,
                   const struct live *loser, const struct live *winner, const char *notice_id,
                   int64_t now_ms)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *b = db_stmt(
        db, "INSERT OR IGNORE INTO conflicts (event_id, coupon_id, campaign_id, store, terminal,"
            " sale_id, amount, at, winner_event_id, winner_store, winner_terminal,"
            " winner_sale_id, winner_at, day, notice_id, detected_at)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    if (b == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, b, 1, loser->event_id);
    db_bind_text_static(db, b, 2, coupon_id);
    db_bind_text_static(db, b, 3, campaign_id);
    db_bind_text_static(db, b, 4, loser->store);
    db_bind_text_static(db, b, 5, loser->terminal);
    db_bind_text_static(db, b, 6, loser->sale_id);
    db_bind_i64(db, b, 7, loser->amount);
    db_bind_i64(db, b, 8, loser->t);
    db_bind_text_static(db, b, 9, winner->event_id);
    db_bind_text_static(db, b, 10, winner->store);
    db_bind_text_static(db, b, 11, winner->terminal);
    db_bind_text_static(db, b, 12, winner->sale_id);
    db_bind_i64(db, b, 13, winner->t);
    db_bind_text_static(db, b, 14, loser->day);
    db_bind_text_static(db, b, 15, notice_id);
    db_bind_i64(db, b, 16, now_ms);
    return db_run(db, b);
}

/* Store ids, sorted and each once. */
struct store_set {
    char (*id)[HQ_CONFIG_ID_MAX + 1];
    size_t n, cap;
    int over; /* more than HQ_SETTLE_STORES_MAX were offered */
};

static ml_err add_store(void *arg, const char *store)
{
    struct store_set *set = arg;
    if (strlen(store) > HQ_CONFIG_ID_MAX)
        return ML_OK; /* not a store id any message could go to */
    if (set->n == HQ_SETTLE_STORES_MAX) {
        set->over = 1;
        return ML_OK;
    }
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        char(*grown)[HQ_CONFIG_ID_MAX + 1] = realloc(set->id, cap * sizeof(*grown));
        if (grown == NULL)
            return ML_NOMEM;
        set->id = grown;
        set->cap = cap;
    }
    snprintf(set->id[set->n++], sizeof(set->id[0]), "%s", store);
    return ML_OK;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Every store HQ knows besides the configured ones: heard from, or sent to. */
static ml_err known_stores(struct hq_store *st, struct store_set *set)
{
    ml_err err = hq_store_terminal_stores(st, add_store, set);
    if (err == ML_OK)
        err = hq_outgoing_stores(st, add_store, set);
    if (err != ML_OK)
        return err;
    qsort(set->id, set->n, sizeof(set->id[0]), by_id);
    size_t k = 0;
    for (size_t i = 0; i < set->n; i++)
        if (k == 0 || strcmp(set->id[k - 1], set->id[i]) != 0)
            memmove(set->id[k++], set->id[i], sizeof(set->id[0]));
    set->n = k;
    return ML_OK;
}

/* Prepares body as `kind` and stores it for `store`. Only storage and memory fail. */
static ml_err send_to(struct hq_settle *s, const char *store, const char *kind, cJSON *body)
{
    struct ml_refusal r = {0};
    ml_err err = hq_push_to_store(s->push, store, kind, body, &r);
    if (err == ML_OK || err == ML_STORAGE || err == ML_NOMEM)
        return err;
    hq_error("settlement: %s for store %s not stored: %s", kind, store, r.message);
    return ML_OK;
}

/* Sends the prepared deny to the configured stores first, then to every other store HQ
 * has heard from or sent to (in byte order). Only storage and memory fail. */
static ml_err deny_everywhere(struct hq_settle *s, struct hq_store *st, cJSON *deny)
{
    struct store_set set = {0};
    ml_err err = ML_OK;
    for (size_t i = 0; err == ML_OK && i < s->cfg->nstores; i++)
        err = send_to(s, s->cfg->stores[i], "deny.upsert", deny);
    if (err == ML_OK)
        err = known_stores(st, &set);
    if (err == ML_OK && set.over)
        hq_error("settlement: more than %d stores known; the deny reaches the first %d of them",
                 HQ_SETTLE_STORES_MAX, HQ_SETTLE_STORES_MAX);
    for (size_t i = 0; err == ML_OK && i < set.n; i++) {
        int configured = 0;
        for (size_t k = 0; k < s->cfg->nstores && !configured; k++)
            configured = strcmp(s->cfg->stores[k], set.id[i]) == 0;
        if (!configured)
            err = send_to(s, set.id[i], "deny.upsert", deny);
    }
    free(set.id);
    return err;
}

static ml_err notify(struct hq_settle *s, struct hq_store *st, const char *coupon_id,
                     const char *campaign_id, const struct live *loser, const struct live *winner,
                     const char *notice_id, int64_t now_ms, int send_deny)
{
    struct ml_refusal r = {0};
    ml_err err = ML_NOMEM;
    if (s->push == NULL &&
        (err = hq_push_new(st, s->cfg->brand, s->key, s->kid, now_ms, &s->push)) != ML_OK)
        return err;
    cJSON *notice = cJSON_CreateObject(), *deny = cJSON_CreateObject();
    cJSON *w = notice ? cJSON_AddObjectToObject(notice, "winner") : NULL;
    if (w == NULL || deny == NULL)
        goto out;
    cJSON_AddStringToObject(notice, "notice_id", notice_id);
    cJSON_AddStringToObject(notice, "coupon_id", coupon_id);
    cJSON_AddStringToObject(notice, "sale_id", loser->sale_id);
    cJSON_AddNumberToObject(notice, "amount", (double)loser->amount);
    if (campaign_id != NULL)
        cJSON_AddStringToObject(notice, "campaign_id", campaign_id);
    else
        cJSON_AddNullToObject(notice, "campaign_id");
    cJSON_AddStringToObject(notice, "terminal", loser->terminal);
    cJSON_AddStringToObject(notice, "reason", "redeemed_elsewhere");
    cJSON_AddStringToObject(w, "store", winner->store);
    cJSON_AddStringToObject(w, "terminal", winner->terminal);
    cJSON_AddStringToObject(w, "sale_id", winner->sale_id);
    cJSON_AddNumberToObject(w, "at", (double)winner->t);
    cJSON_AddStringToObject(deny, "subject", "coupon");
    cJSON_AddStringToObject(deny, "id", coupon_id);
    cJSON_AddStringToObject(deny, "reason", "redeemed_elsewhere");
    cJSON_AddBoolToObject(deny, "lifted", 0);
    /* The notice and the deny go separately: a notice HQ cannot send (logged) must not keep
     * the coupon from being denied everywhere. */
    if ((err = hq_push_prepare(s->push, "settlement.notice", notice, NULL, &r)) == ML_OK)
        err = send_to(s, loser->store, "settlement.notice", notice);
    if (err == ML_STORAGE || err == ML_NOMEM)
        goto out;
    if (err != ML_OK)
        hq_error("settlement: notice for coupon %s to store %s not stored: %s", coupon_id,
                 loser->store, r.message);
    if (!send_deny) {
        err = ML_OK;
        goto out;
    }
    if ((err = hq_push_prepare(s->push, "deny.upsert", deny, NULL, &r)) != ML_OK)
        goto out;
    err = deny_everywhere(s, st, deny);
out:
    if (err != ML_OK && err != ML_STORAGE && err != ML_NOMEM) {
        hq_error("settlement: deny of coupon %s not stored: %s", coupon_id, r.message);
        err = ML_OK; /* the conflict stays booked and reported */
    }
    cJSON_Delete(notice);
    cJSON_Delete(deny);
    return err;
}

/* The uses HQ granted the coupon (1 when it never granted it) and its campaign ("": none). */
static ml_err coupon_terms(struct hq_store *st, const char *coupon_id, int64_t *ret_uses,
                           char *campaign, size_t len)
{
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *t =
        db_stmt(db, "SELECT uses, campaign_id FROM coupon_terms WHERE coupon_id = ?1");
    if (t == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, t, 1, coupon_id);
    int rc = db_step(db, t);
    if (rc == SQLITE_ROW) {
        *ret_uses = sqlite3_column_int64(t, 0);
        db_col_copy(t, 1, campaign, len);
    }
    sqlite3_reset(t);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

ml_err hq_settle_redeemed(struct hq_settle *s, struct hq_store *st, const char *event_id,
                          const char *coupon_id, int64_t trusted_at, int64_t now_ms,
                          int *ret_conflicts)
{
    *ret_conflicts = 0;
    if (trusted_at > 0 && hq_store_set_trusted(st, event_id, trusted_at) != ML_OK)
        return ML_STORAGE;
    int64_t uses = 1;
    char campaign[HQ_FACT_ID_MAX + 1] = "";
    if (coupon_terms(st, coupon_id, &uses, campaign, sizeof(campaign)) != ML_OK)
        return ML_STORAGE;

    struct live *v = NULL;
    size_t n = 0;
    ml_err err = load_live(st, coupon_id, &v, &n);
    if (err != ML_OK || n <= (size_t)uses) {
        free(v);
        return err;
    }
    const char *cid = campaign[0] ? campaign : NULL;
    int denied = 0;
    for (size_t i = (size_t)uses; i < n && err == ML_OK; i++) {
        if (v[i].booked)
            continue;
        const char *notice_id = v[i].event_id; /* one notice per losing redemption */
        const struct live *winner = &v[0];
        err = book(st, coupon_id, cid, &v[i], winner, s->key ? notice_id : NULL, now_ms);
        if (err != ML_OK)
            break;
        (*ret_conflicts)++;
        hq_warn("settlement: coupon %s redeemed past its %lld use(s): sale %s at %s/%s is "
                "booked as an overage of %lld (first: sale %s at %s/%s)%s",
                coupon_id, (long long)uses, v[i].sale_id, v[i].store, v[i].terminal,
                (long long)v[i].amount, winner->sale_id, winner->store, winner->terminal,
                s->key ? "" : "; no signing key, so no notice is sent");
        if (s->key != NULL)
            err = notify(s, st, coupon_id, cid, &v[i], winner, notice_id, now_ms, !denied);
        denied = 1;
    }
    free(v);
    return err;
}

size_t hq_settle_count(const struct hq_settle *s)
{
    return s->push ? hq_push_count(s->push) : 0;
}

struct hq_push_msg *hq_settle_msg(struct hq_settle *s, size_t i)
{
    return hq_push_msg(s->push, i);
}

void hq_settle_truncate(struct hq_settle *s, size_t n)
{
    if (n == 0)
        hq_settle_clear(s); /* the next messages get a fresh `issued` */
    else if (s->push != NULL)
        hq_push_truncate(s->push, n);
}

void hq_settle_clear(struct hq_settle *s)
{
    hq_push_free(s->push);
    s->push = NULL;
}

ml_err hq_settle_note_grant(struct hq_store *st, const cJSON *body)
{
    static const char sql[] = "INSERT INTO coupon_terms (coupon_id, campaign_id, uses)"
                              " VALUES (?1, ?2, ?3) ON CONFLICT (coupon_id) DO UPDATE SET"
                              " campaign_id = excluded.campaign_id, uses = excluded.uses";
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "coupon_id");
    const cJSON *campaign = cJSON_GetObjectItemCaseSensitive(body, "campaign_id");
    const cJSON *uses = cJSON_GetObjectItemCaseSensitive(body, "uses");
    if (!cJSON_IsString(id))
        return ML_OK; /* hq_fact_check refused it already */
    struct db *db = hq_store_conn(st);
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, id->valuestring);
    db_bind_text_static(db, s, 2, cJSON_IsString(campaign) ? campaign->valuestring : NULL);
    db_bind_i64(db, s, 3, cJSON_IsNumber(uses) ? (int64_t)uses->valuedouble : 1);
    return db_run(db, s);
}

/* ---- rows for the conflicts report --------------------------------------------------------- */

ml_err hq_settle_conflict_rows(struct hq_store *st, const char *from, const char *to,
                               struct hq_rows *ret)
{
    static const char sql[] = "SELECT day, coupon_id, campaign_id, store, terminal, sale_id,"
                              " amount, at, winner_store, winner_terminal, winner_sale_id,"
                              " winner_at, notice_id, detected_at FROM conflicts"
                              " WHERE day BETWEEN ?1 AND ?2"
                              " ORDER BY day, at, coupon_id, event_id";
    return hq_store_rows_open(st, sql, from, to, ret);
}

int hq_settle_conflict_next(struct hq_rows *r, struct hq_conflict_row *row)
{
    int rc = hq_store_rows_step(r);
    if (rc != 1)
        return rc;
    sqlite3_stmt *s = r->stmt;
    *row = (struct hq_conflict_row){
        .day = db_col_text(s, 0),
        .coupon_id = db_col_text(s, 1),
        .campaign_id = (const char *)sqlite3_column_text(s, 2),
        .store = db_col_text(s, 3),
        .terminal = db_col_text(s, 4),
        .sale_id = db_col_text(s, 5),
        .amount = sqlite3_column_int64(s, 6),
        .at = sqlite3_column_int64(s, 7),
        .winner_store = db_col_text(s, 8),
        .winner_terminal = db_col_text(s, 9),
        .winner_sale_id = db_col_text(s, 10),
        .winner_at = sqlite3_column_int64(s, 11),
        .notice_id = (const char *)sqlite3_column_text(s, 12),
        .detected_at = sqlite3_column_int64(s, 13),
    };
    return 1;
}

ml_err hq_settle_exposure_rows(struct hq_store *st, const char *from, const char *to,
                               struct hq_rows *ret)
{
    static const char sql[] = "SELECT campaign_id, count(*), sum(amount) FROM conflicts"
                              " WHERE day BETWEEN ?1 AND ?2 GROUP BY campaign_id"
                              " ORDER BY campaign_id IS NULL, campaign_id";
    return hq_store_rows_open(st, sql, from, to, ret);
}

int hq_settle_exposure_next(struct hq_rows *r, struct hq_exposure_row *row)
{
    int rc = hq_store_rows_step(r);
    if (rc == 1)
        *row =
            (struct hq_exposure_row){.campaign_id = (const char *)sqlite3_column_text(r->stmt, 0),
                                     .conflicts = sqlite3_column_int64(r->stmt, 1),
                                     .amount = sqlite3_column_int64(r->stmt, 2)};
    return rc;
}
