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

#include "day.h"
#include "log.h"
#include "hq_outgoing.h"

/* Stores a deny goes to besides the configured ones, counted once each. They are collected
 * before any is sent: sending writes outgoing, which the collection reads. */
#define HQ_SETTLE_STORES_MAX HQ_PUSH_MESSAGES_MAX

struct hq_settle {
    const struct hq_config *cfg;
    EVP_PKEY *key;
    char kid[SIGN_KID_MAX + 1];
    struct hq_push *push; /* messages of the open transaction; NULL when none */
};

/* One redemption of the coupon. */
struct live {
    char event_id[HQ_EVENT_ID_MAX + 1], store[HQ_CONFIG_ID_MAX + 1], terminal[HQ_CONFIG_ID_MAX + 1],
        sale_id[HQ_EVENT_ID_MAX + 1], day[DAY_TEXT_LEN + 1];
    int64_t amount, t;
};

/* The coupon's live redemptions as settlement needs them: the first (the winner every
 * conflict names) and those past the coupon's uses (the losers), in settlement order. */
struct lives {
    int64_t uses;
    size_t n; /* live redemptions seen, the first and the losers among them */
    struct live first;
    struct live *loser;
    size_t nlosers, cap;
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

static void copy_live(struct live *e, const struct hq_live_redemption *r)
{
    snprintf(e->event_id, sizeof(e->event_id), "%s", r->event_id);
    snprintf(e->store, sizeof(e->store), "%s", r->store);
    snprintf(e->terminal, sizeof(e->terminal), "%s", r->terminal);
    snprintf(e->sale_id, sizeof(e->sale_id), "%s", r->sale_id);
    snprintf(e->day, sizeof(e->day), "%s", r->day);
    e->amount = r->amount;
    e->t = r->t;
}

/* Copies only the redemptions settlement uses: the first, and those past the uses. */
static ml_err add_live(void *arg, const struct hq_live_redemption *r)
{
    struct lives *l = arg;
    size_t i = l->n++;
    if (i == 0)
        copy_live(&l->first, r);
    if (l->uses < 0 || (int64_t)i < l->uses)
        return ML_OK;
    if (l->nlosers == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        struct live *grown = realloc(l->loser, cap * sizeof(*grown));
        if (grown == NULL)
            return ML_NOMEM;
        l->loser = grown;
        l->cap = cap;
    }
    copy_live(&l->loser[l->nlosers++], r);
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

/* Store ids in byte order, each once (a walk of hq_store or hq_outgoing). */
struct store_ids {
    char (*id)[HQ_CONFIG_ID_MAX + 1];
    size_t n, cap;
};

static ml_err add_store(void *arg, const char *store)
{
    struct store_ids *set = arg;
    if (strlen(store) > HQ_CONFIG_ID_MAX)
        return ML_OK; /* not a store id any message could go to */
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

/* Stores the prepared body for `store`. Only storage and memory fail. */
static ml_err send_to(struct hq_settle *s, const char *store, const cJSON *body,
                      const struct hq_prepared *prep)
{
    struct ml_refusal r = {0};
    ml_err err = hq_push_to_store(s->push, store, body, prep, &r);
    if (err == ML_OK || err == ML_STORAGE || err == ML_NOMEM)
        return err;
    log_error("settlement: %s for store %s not stored: %s", prep->kind, store, r.message);
    return ML_OK;
}

/*
 * Sends the prepared deny to the configured stores first, then to every other store HQ has
 * heard from (terminals) or sent to (outgoing), in byte order and once each, at most
 * HQ_SETTLE_STORES_MAX of them. Each list is read in order and capped in SQL; the first
 * HQ_SETTLE_STORES_MAX unconfigured stores of their union lie within the first
 * HQ_SETTLE_STORES_MAX + nstores + 1 of each. Only storage and memory fail.
 */
static ml_err deny_everywhere(struct hq_settle *s, struct hq_store *st, const cJSON *deny,
                              const struct hq_prepared *prep)
{
    const struct hq_config *cfg = s->cfg;
    const int64_t max = HQ_SETTLE_STORES_MAX + (int64_t)cfg->nstores + 1;
    struct store_ids heard = {0}, sent = {0};
    ml_err err = ML_OK;
    for (size_t i = 0; err == ML_OK && i < cfg->nstores; i++)
        err = send_to(s, cfg->stores[i], deny, prep);
    if (err == ML_OK)
        err = hq_store_terminal_stores(st, max, add_store, &heard);
    if (err == ML_OK)
        err = hq_outgoing_stores(st, max, add_store, &sent);
    size_t h = 0, o = 0, denied = 0;
    while (err == ML_OK && (h < heard.n || o < sent.n)) {
        int c = h == heard.n ? 1 : o == sent.n ? -1 : strcmp(heard.id[h], sent.id[o]);
        const char *store = c <= 0 ? heard.id[h] : sent.id[o];
        if (c <= 0)
            h++;
        if (c >= 0)
            o++;
        if (hq_config_has_store(cfg, store))
            continue;
        if (denied == HQ_SETTLE_STORES_MAX) {
            log_error("settlement: more than %d stores known; the deny reaches the first %d of "
                      "them",
                      HQ_SETTLE_STORES_MAX, HQ_SETTLE_STORES_MAX);
            break;
        }
        denied++;
        err = send_to(s, store, deny, prep);
    }
    free(heard.id);
    free(sent.id);
    return err;
}

static ml_err notify(struct hq_settle *s, struct hq_store *st, const char *coupon_id,
                     const char *campaign_id, const struct live *loser, const struct live *winner,
                     const char *notice_id, int64_t now_ms, int send_deny)
{
    struct ml_refusal r = {0};
    struct hq_prepared prep;
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
    if ((err = hq_push_prepare(s->push, "settlement.notice", notice, NULL, &prep, &r)) == ML_OK)
        err = send_to(s, loser->store, notice, &prep);
    if (err == ML_STORAGE || err == ML_NOMEM)
        goto out;
    if (err != ML_OK)
        log_error("settlement: notice for coupon %s to store %s not stored: %s", coupon_id,
                  loser->store, r.message);
    if (!send_deny) {
        err = ML_OK;
        goto out;
    }
    if ((err = hq_push_prepare(s->push, "deny.upsert", deny, NULL, &prep, &r)) != ML_OK)
        goto out;
    err = deny_everywhere(s, st, deny, &prep);
out:
    if (err != ML_OK && err != ML_STORAGE && err != ML_NOMEM) {
        log_error("settlement: deny of coupon %s not stored: %s", coupon_id, r.message);
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

ml_err hq_settle_redeemed(struct hq_settle *s, struct hq_store *st, const char *coupon_id,
                          int64_t now_ms, int *ret_conflicts)
{
    *ret_conflicts = 0;
    int64_t uses = 1;
    char campaign[HQ_FACT_ID_MAX + 1] = "";
    if (coupon_terms(st, coupon_id, &uses, campaign, sizeof(campaign)) != ML_OK)
        return ML_STORAGE;

    struct lives l = {.uses = uses};
    ml_err err = hq_store_live_redemptions(st, coupon_id, add_live, &l);
    const char *cid = campaign[0] ? campaign : NULL;
    const struct live *winner = &l.first;
    int denied = 0;
    /* Within its uses (the common case) nothing more is read: no loser, no conflict. */
    for (size_t i = 0; err == ML_OK && i < l.nlosers; i++) {
        const struct live *loser = &l.loser[i];
        int is_booked = 0;
        if ((err = booked(hq_store_conn(st), loser->event_id, &is_booked)) != ML_OK)
            break;
        if (is_booked)
            continue;
        const char *notice_id = loser->event_id; /* one notice per losing redemption */
        err = book(st, coupon_id, cid, loser, winner, s->key ? notice_id : NULL, now_ms);
        if (err != ML_OK)
            break;
        (*ret_conflicts)++;
        log_warn("settlement: coupon %s redeemed past its %lld use(s): sale %s at %s/%s is "
                 "booked as an overage of %lld (first: sale %s at %s/%s)%s",
                 coupon_id, (long long)uses, loser->sale_id, loser->store, loser->terminal,
                 (long long)loser->amount, winner->sale_id, winner->store, winner->terminal,
                 s->key ? "" : "; no signing key, so no notice is sent");
        if (s->key != NULL)
            err = notify(s, st, coupon_id, cid, loser, winner, notice_id, now_ms, !denied);
        denied = 1;
    }
    free(l.loser);
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
