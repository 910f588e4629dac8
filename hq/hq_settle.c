/*
 * hq_settle: booking coupons redeemed past their uses; see hq_settle.h.
 */
#include "hq_settle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hq_log.h"

enum settle_stmt {
    Q_TRUSTED,
    Q_TERMS,
    Q_LIVE,
    Q_BOOK,
    Q_STORES,
    Q_COUNT,
};

static const char *const settle_sql[Q_COUNT] = {
    [Q_TRUSTED] = "UPDATE redemptions SET trusted_at = ?2 WHERE event_id = ?1",
    [Q_TERMS] = "SELECT uses, campaign_id FROM coupon_terms WHERE coupon_id = ?1",
    [Q_LIVE] = "SELECT r.event_id, r.store, r.terminal, r.sale_id, r.amount,"
               " coalesce(r.trusted_at, r.at) AS t, r.day,"
               " EXISTS (SELECT 1 FROM conflicts c WHERE c.event_id = r.event_id)"
               " FROM redemptions r WHERE r.coupon_id = ?1 AND r.restored_at IS NULL"
               " ORDER BY t, r.store, r.terminal, r.event_id",
    [Q_BOOK] = "INSERT OR IGNORE INTO conflicts (event_id, coupon_id, campaign_id, store, terminal,"
               " sale_id, amount, at, winner_event_id, winner_store, winner_terminal,"
               " winner_sale_id, winner_at, day, notice_id, detected_at)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    /* Every store HQ knows: configured, heard from, or sent to. */
    [Q_STORES] = "SELECT store FROM terminals UNION SELECT store FROM outgoing"
                 " WHERE store <> '*' ORDER BY 1",
};

struct hq_settle {
    const struct hq_config *cfg;
    EVP_PKEY *key;
    char kid[SIGN_KID_MAX + 1];
    sqlite3 *db; /* the statements belong to this connection */
    sqlite3_stmt *q[Q_COUNT];
    struct hq_push *push; /* messages of the open transaction; NULL when none */
};

/* One redemption of the coupon, in settlement order. */
struct live {
    char event_id[HQ_EVENT_ID_MAX + 1], store[HQ_CONFIG_ID_MAX + 1], terminal[HQ_CONFIG_ID_MAX + 1],
        sale_id[HQ_EVENT_ID_MAX + 1], day[16];
    int64_t amount, t;
    int booked;
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

static void finalize_all(struct hq_settle *s)
{
    for (int i = 0; i < Q_COUNT; i++) {
        sqlite3_finalize(s->q[i]);
        s->q[i] = NULL;
    }
}

void hq_settle_free(struct hq_settle *s)
{
    if (s == NULL)
        return;
    finalize_all(s);
    hq_push_free(s->push);
    free(s);
}

static sqlite3_stmt *q(struct hq_settle *s, struct hq_store *st, enum settle_stmt id)
{
    sqlite3 *db = hq_store_db(st);
    if (s->db != db) {
        finalize_all(s);
        s->db = db;
    }
    if (s->q[id] == NULL && sqlite3_prepare_v3(db, settle_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                               &s->q[id], NULL) != SQLITE_OK)
        return NULL;
    sqlite3_reset(s->q[id]);
    sqlite3_clear_bindings(s->q[id]);
    return s->q[id];
}

static void copy_col(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    snprintf(dst, cap, "%s", v ? (const char *)v : "");
}

/* The coupon's live redemptions in settlement order; *ret_n of them in *ret (caller frees). */
static ml_err load_live(struct hq_settle *s, struct hq_store *st, const char *coupon_id,
                        struct live **ret, size_t *ret_n)
{
    sqlite3_stmt *l = q(s, st, Q_LIVE);
    if (l == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(l, 1, coupon_id, -1, SQLITE_STATIC);
    struct live *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(l)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            struct live *grown = realloc(v, cap * sizeof(*v));
            if (grown == NULL) {
                free(v);
                sqlite3_reset(l);
                return ML_NOMEM;
            }
            v = grown;
        }
        struct live *e = &v[n++];
        copy_col(e->event_id, sizeof(e->event_id), l, 0);
        copy_col(e->store, sizeof(e->store), l, 1);
        copy_col(e->terminal, sizeof(e->terminal), l, 2);
        copy_col(e->sale_id, sizeof(e->sale_id), l, 3);
        e->amount = sqlite3_column_int64(l, 4);
        e->t = sqlite3_column_int64(l, 5);
        copy_col(e->day, sizeof(e->day), l, 6);
        e->booked = sqlite3_column_int(l, 7);
    }
    sqlite3_reset(l);
    if (rc != SQLITE_DONE) {
        free(v);
        return ML_STORAGE;
    }
    *ret = v;
    *ret_n = n;
    return ML_OK;
}

static ml_err book(struct hq_settle *s, struct hq_store *st, const char *coupon_id,
                   const char *campaign_id, const struct live *loser, const struct live *winner,
                   const char *notice_id, int64_t now_ms)
{
    sqlite3_stmt *b = q(s, st, Q_BOOK);
    if (b == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(b, 1, loser->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(b, 2, coupon_id, -1, SQLITE_STATIC);
    if (campaign_id != NULL)
        sqlite3_bind_text(b, 3, campaign_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(b, 4, loser->store, -1, SQLITE_STATIC);
    sqlite3_bind_text(b, 5, loser->terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(b, 6, loser->sale_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(b, 7, loser->amount);
    sqlite3_bind_int64(b, 8, loser->t);
    sqlite3_bind_text(b, 9, winner->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(b, 10, winner->store, -1, SQLITE_STATIC);
    sqlite3_bind_text(b, 11, winner->terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(b, 12, winner->sale_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(b, 13, winner->t);
    sqlite3_bind_text(b, 14, loser->day, -1, SQLITE_STATIC);
    if (notice_id != NULL)
        sqlite3_bind_text(b, 15, notice_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(b, 16, now_ms);
    int rc = sqlite3_step(b);
    sqlite3_reset(b);
    return rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
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
    /* Configured stores first, then every other store HQ has heard from or sent to. */
    for (size_t i = 0; i < s->cfg->nstores; i++)
        if ((err = send_to(s, s->cfg->stores[i], "deny.upsert", deny)) != ML_OK)
            goto out;
    sqlite3_stmt *k = q(s, st, Q_STORES);
    if (k == NULL) {
        err = ML_STORAGE;
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(k)) == SQLITE_ROW) {
        const char *store = (const char *)sqlite3_column_text(k, 0);
        int configured = 0;
        for (size_t i = 0; i < s->cfg->nstores && !configured; i++)
            configured = strcmp(s->cfg->stores[i], store) == 0;
        if (!configured && (err = send_to(s, store, "deny.upsert", deny)) != ML_OK)
            break;
    }
    sqlite3_reset(k);
    if (err == ML_OK && rc != SQLITE_DONE)
        err = ML_STORAGE;
out:
    if (err != ML_OK && err != ML_STORAGE && err != ML_NOMEM) {
        hq_error("settlement: deny of coupon %s not stored: %s", coupon_id, r.message);
        err = ML_OK; /* the conflict stays booked and reported */
    }
    cJSON_Delete(notice);
    cJSON_Delete(deny);
    return err;
}

ml_err hq_settle_redeemed(struct hq_settle *s, struct hq_store *st, const char *event_id,
                          const char *coupon_id, int64_t trusted_at, int64_t now_ms,
                          int *ret_conflicts)
{
    *ret_conflicts = 0;
    sqlite3_stmt *t = NULL;
    if (trusted_at > 0) {
        if ((t = q(s, st, Q_TRUSTED)) == NULL)
            return ML_STORAGE;
        sqlite3_bind_text(t, 1, event_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(t, 2, trusted_at);
        int rc = sqlite3_step(t);
        sqlite3_reset(t);
        if (rc != SQLITE_DONE)
            return ML_STORAGE;
    }
    int64_t uses = 1;
    char campaign[HQ_FACT_ID_MAX + 1] = "";
    if ((t = q(s, st, Q_TERMS)) == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(t, 1, coupon_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(t);
    if (rc == SQLITE_ROW) {
        uses = sqlite3_column_int64(t, 0);
        copy_col(campaign, sizeof(campaign), t, 1);
    }
    sqlite3_reset(t);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ML_STORAGE;

    struct live *v = NULL;
    size_t n = 0;
    ml_err err = load_live(s, st, coupon_id, &v, &n);
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
        err = book(s, st, coupon_id, cid, &v[i], winner, s->key ? notice_id : NULL, now_ms);
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
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(hq_store_db(st), sql, -1, &s, NULL) != SQLITE_OK)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, id->valuestring, -1, SQLITE_STATIC);
    if (cJSON_IsString(campaign))
        sqlite3_bind_text(s, 2, campaign->valuestring, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, cJSON_IsNumber(uses) ? (sqlite3_int64)uses->valuedouble : 1);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}
