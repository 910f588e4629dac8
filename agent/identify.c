/*
 * identify: members by phone or QR, guides by card, bearer coupons by code; see identify.h.
 */
#include "identify.h"

#include <stdio.h>
#include <string.h>

#include "coupon.h"
#include "deny.h"
#include "guide.h"
#include "jsonutil.h"
#include "member.h"
#include "phone.h"
#include "qr.h"
#include "trust.h"

static ml_err storage(struct ml_refusal *r)
{
    return ml_refuse(r, ML_STORAGE, 503, "storage_error", "member lookup failed");
}

static ml_err by_phone(struct ml_ctx *ctx, const char *phone, cJSON **ret, struct ml_refusal *r)
{
    char norm[PHONE_DIGITS + 1];
    if (phone_normalize(phone, norm) != ML_OK)
        return ml_refuse(r, ML_PARSE, 400, "invalid_phone",
                         "not a mainland China mobile number (11 digits starting 13-19)");
    uint8_t key[PHONE_KEY_LEN];
    phone_key(ctx->cfg->phone_key, norm, key);
    struct member m;
    int64_t now = ctx->now_ms();
    ml_err err = member_find_by_phone(ctx->db, key, now, &m);
    if (err == ML_NOENTRY) {
        char masked[PHONE_MASKED_LEN + 1];
        phone_mask(norm, masked);
        return ml_refuse(r, ML_NOENTRY, 404, "member_not_found", "no member with phone %s", masked);
    }
    if (err != ML_OK)
        return storage(r);
    if ((err = deny_check_member(ctx->db, m.member_id, m.blocked, r)) != ML_OK)
        return err;
    if ((*ret = member_identify_json(ctx->db, &m, now)) == NULL)
        return storage(r);
    cJSON_AddStringToObject(*ret, "via", "phone");
    return ML_OK;
}

/*
 * Takes the proof (member, time, counter) into the replay cache, in its own savepoint,
 * dropping entries past their time. ML_REFUSED qr_replayed if it was there. The entry is
 * written without waiting for the disk: it survives a crash or restart of the agent, and
 * only a power cut within the proof's minute could forget it; a scan stays far from an
 * fsync's latency.
 */
static ml_err take_proof(struct ml_ctx *ctx, const struct qr_code *c, int64_t now_ms,
                         struct ml_refusal *r)
{
    static const char purge[] = "DELETE FROM qr_replay WHERE expires_at < ?1";
    static const char insert[] =
        "INSERT OR IGNORE INTO qr_replay (member_id, proof_time, counter, expires_at) "
        "VALUES (?1, ?2, ?3, ?4)";
    struct db *db = ctx->db;
    if (db_set_durable(db, 0) != ML_OK || db_savepoint(db) != ML_OK) {
        (void)db_set_durable(db, 1);
        return storage(r);
    }
    sqlite3_stmt *p = db_stmt(db, purge), *s = NULL;
    int rc = SQLITE_ERROR;
    if (p != NULL) {
        db_bind_i64(db, p, 1, now_ms);
        rc = db_step(db, p);
        sqlite3_reset(p);
    }
    if (rc == SQLITE_DONE && (s = db_stmt(db, insert)) != NULL) {
        db_bind_text(db, s, 1, c->id);
        db_bind_i64(db, s, 2, c->proof_time);
        db_bind_i64(db, s, 3, c->counter);
        db_bind_i64(db, s, 4, now_ms + 2 * ctx->cfg->qr_time_window_s * 1000);
        rc = db_step(db, s);
        sqlite3_reset(s);
    }
    int fresh = rc == SQLITE_DONE && db_changes(db) > 0;
    ml_err err = rc == SQLITE_DONE ? db_release(db) : ML_STORAGE;
    if (err != ML_OK)
        db_undo(db); /* a no-op when the failed commit ended the transaction */
    ml_err durable = db_set_durable(db, 1); /* whatever happened, the next write flushes */
    if (err != ML_OK && db_outcome_unknown(db))
        return ml_refuse(r, ML_STORAGE, 503, "storage_outcome_unknown",
                         "the code may or may not have been taken (the disk reported a failure): "
                         "ask the member to show a fresh code");
    if (durable != ML_OK || err != ML_OK)
        return storage(r);
    if (!fresh)
        return ml_refuse(r, ML_REFUSED, 409, "qr_replayed",
                         "this member code (proof %u/%u) was already shown: ask the member to "
                         "refresh the code in the app",
                         (unsigned)c->proof_time, (unsigned)c->counter);
    return ML_OK;
}

static ml_err member_code(struct ml_ctx *ctx, const struct qr_code *c, int64_t now_ms, int trusted,
                          cJSON **ret, struct ml_refusal *r)
{
    /* HQ's deny-list first: a denied member's code is refused before it is verified. */
    ml_err err = deny_check_member(ctx->db, c->id, 0, r);
    if (err != ML_OK)
        return err;
    err = qr_verify_proof(c, now_ms / 1000, (int)ctx->cfg->qr_time_window_s, r);
    if (err != ML_OK)
        return err;
    struct member m;
    err = member_get(ctx->db, c->id, ctx->now_ms(), &m);
    if (err == ML_NOENTRY)
        return ml_refuse(r, ML_NOENTRY, 404, "member_not_found",
                         "member %s is not known at this terminal yet", c->id);
    if (err != ML_OK)
        return storage(r);
    if (m.blocked)
        return deny_check_member(ctx->db, m.member_id, 1, r); /* refused, as blocked */
    if ((err = take_proof(ctx, c, now_ms, r)) != ML_OK)
        return err;
    if ((*ret = member_identify_json(ctx->db, &m, ctx->now_ms())) == NULL)
        return storage(r);
    cJSON_AddStringToObject(*ret, "via", "qr");
    cJSON_AddBoolToObject(*ret, "clock_trusted", trusted);
    return ML_OK;
}

static ml_err guide_card(struct ml_ctx *ctx, const struct qr_code *c, cJSON **ret,
                         struct ml_refusal *r)
{
    struct guide g;
    ml_err err = guide_get(ctx->db, c->id, &g);
    if (err == ML_NOENTRY)
        return ml_refuse(r, ML_NOENTRY, 404, "guide_not_found",
                         "guide %s is not known at this terminal", c->id);
    if (err != ML_OK)
        return storage(r);
    if (!g.active)
        return ml_refuse(r, ML_REFUSED, 403, "guide_inactive", "guide %s is not active",
                         g.guide_id);
    cJSON *o = cJSON_CreateObject();
    cJSON *gj = o ? cJSON_AddObjectToObject(o, "guide") : NULL;
    if (gj == NULL) {
        cJSON_Delete(o);
        return ml_refuse(r, ML_NOMEM, 500, "internal_error", "out of memory");
    }
    cJSON_AddStringToObject(gj, "guide_id", g.guide_id);
    cJSON_AddStringToObject(gj, "name", g.name);
    cJSON_AddStringToObject(o, "via", "qr");
    *ret = o;
    return ML_OK;
}

static ml_err coupon_code(struct ml_ctx *ctx, const struct qr_code *c, int64_t now_ms, cJSON **ret,
                          struct ml_refusal *r)
{
    struct coupon cp;
    ml_err err = coupon_get(ctx->db, c->id, &cp);
    if (err != ML_OK && err != ML_NOENTRY)
        return storage(r);
    int known = err == ML_OK;
    /* The deny-list first: HQ may deny a coupon this store has never seen. */
    if ((err = deny_check_coupon(ctx->db, c->id, known ? &cp : NULL, r)) != ML_OK || !known) {
        if (known)
            coupon_release(&cp);
        if (err != ML_OK)
            return err;
        return ml_refuse(r, ML_NOENTRY, 404, "coupon_not_found",
                         "coupon %s is not known at this terminal", c->id);
    }
    if (cp.member_id[0] != '\0')
        err = ml_refuse(r, ML_REFUSED, 409, "coupon_member_mismatch",
                        "coupon %s belongs to a member: identify the member instead", cp.coupon_id);
    else
        err = coupon_check_usable(&cp, NULL, now_ms, r);
    cJSON *o = NULL, *j = NULL;
    if (err == ML_OK &&
        ((o = cJSON_CreateObject()) == NULL || (j = cJSON_AddObjectToObject(o, "coupon")) == NULL))
        err = ml_refuse(r, ML_NOMEM, 500, "internal_error", "out of memory");
    if (err == ML_OK) {
        cJSON_AddStringToObject(j, "coupon_id", cp.coupon_id);
        if (cp.campaign_id[0])
            cJSON_AddStringToObject(j, "campaign_id", cp.campaign_id);
        else
            cJSON_AddNullToObject(j, "campaign_id");
        cJSON_AddStringToObject(j, "kind", cp.percent ? "percent_off" : "amount_off");
        json_add_i64(j, "value", cp.value);
        json_add_i64(j, "max_off", cp.max_off);
        json_add_i64(j, "min_spend", cp.min_spend);
        json_add_i64(j, "valid_to", cp.valid_to);
        json_add_i64(j, "uses_left", cp.uses_left);
        cJSON_AddBoolToObject(j, "offline_ok", cp.offline_ok);
        cJSON_AddStringToObject(o, "via", "qr");
        *ret = o;
    } else {
        cJSON_Delete(o);
    }
    coupon_release(&cp);
    return err;
}

static ml_err by_qr(struct ml_ctx *ctx, const char *text, cJSON **ret, struct ml_refusal *r)
{
    struct qr_code c;
    ml_err err = qr_parse(text, strlen(text), &c, r);
    if (err != ML_OK)
        return err;
    struct trust_reading tr;
    trust_read(ctx->trust, &tr);
    int64_t now_ms = tr.trusted ? tr.now_ms : ctx->now_ms();
    if (ctx->keys == NULL)
        return ml_refuse(r, ML_REFUSED, 403, "qr_unknown_key",
                         "no HQ key is configured ([hq] pubkey): no %s can be verified",
                         qr_kind_name(c.kind));
    if ((err = qr_verify_issuer(&c, ctx->keys, now_ms / 1000, r)) != ML_OK)
        return err;
    switch (c.kind) {
    case QR_MEMBER:
        return member_code(ctx, &c, now_ms, tr.trusted, ret, r);
    case QR_GUIDE:
        return guide_card(ctx, &c, ret, r);
    case QR_COUPON:
        if (!tr.trusted && ctx->cfg->mqtt_host[0] != '\0')
            return ml_refuse(r, ML_REFUSED, 403, "qr_clock_untrusted",
                             "this terminal has not heard HQ's time since it started: coupon "
                             "codes are refused until it has");
        return coupon_code(ctx, &c, now_ms, ret, r);
    }
    return ml_refuse(r, ML_PARSE, 400, "qr_malformed", "not a memberlink code");
}

ml_err identify(struct ml_ctx *ctx, const cJSON *body, cJSON **ret, struct ml_refusal *r)
{
    const char *phone = NULL, *qr = NULL;
    *ret = NULL;
    if (json_str(body, "phone", 0, IDENTIFY_PHONE_MAX, &phone, r) ||
        json_str(body, "qr", 0, IDENTIFY_QR_MAX, &qr, r))
        return ML_PARSE;
    if ((phone == NULL) == (qr == NULL))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "give exactly one of 'phone' or 'qr'");
    return phone != NULL ? by_phone(ctx, phone, ret, r) : by_qr(ctx, qr, ret, r);
}
