/* deny: the deny-list table and its two sources, HQ facts and store peers; see deny.h. */
#include "deny.h"

#include <stdio.h>
#include <string.h>

#include "inifile.h"
#include "jsonutil.h"

static int id_valid(const char *v)
{
    size_t n = v ? strlen(v) : 0;
    return n >= 1 && n <= DENY_ID_MAX && json_utf8_valid(v);
}

ml_err deny_apply(struct db *db, const char *subject_id, const struct fact_deny *d, int64_t version,
                  int *ret_applied)
{
    /* A newer HQ version wins over anything, a peer entry included: HQ has the whole view. */
    static const char sql[] =
        "INSERT INTO deny_list (subject, subject_id, reason, source, version, lifted) "
        "VALUES (?1, ?2, ?3, 'hq', ?4, ?5) "
        "ON CONFLICT (subject, subject_id) DO UPDATE SET reason = excluded.reason, "
        " source = 'hq', version = excluded.version, lifted = excluded.lifted, peer_at = NULL "
        "WHERE excluded.version > deny_list.version";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, d->member ? "member" : "coupon");
    db_bind_text(db, s, 2, subject_id);
    db_bind_text(db, s, 3, d->reason);
    db_bind_i64(db, s, 4, version);
    db_bind_i64(db, s, 5, d->lifted);
    if (db_run(db, s) != ML_OK)
        return ML_STORAGE;
    if (ret_applied != NULL)
        *ret_applied = db_changes(db) > 0;
    return ML_OK;
}

int64_t deny_count(struct db *db)
{
    static const char sql[] = "SELECT count(*) FROM deny_list WHERE lifted = 0";
    return db_count(db, sql);
}

/*
 * Runs sql, a write keyed by ?1 = coupon_id and ?2 = "peer:<terminal>", with ?3 = *at_ms
 * when at_ms is not NULL. ML_PARSE for an id or terminal out of form; ML_STORAGE.
 */
static ml_err peer_write(struct db *db, const char *sql, const char *coupon_id,
                         const char *terminal, const int64_t *at_ms)
{
    char source[DENY_SOURCE_MAX + 1];
    if (!id_valid(coupon_id) || terminal == NULL || !inifile_valid_id(terminal, DENY_TERMINAL_MAX))
        return ML_PARSE;
    snprintf(source, sizeof(source), "peer:%s", terminal);
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, coupon_id);
    db_bind_text(db, s, 2, source);
    if (at_ms != NULL)
        db_bind_i64(db, s, 3, *at_ms);
    int rc = db_step(db, s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

ml_err deny_add_peer(struct db *db, const char *coupon_id, const char *terminal, int64_t at_ms)
{
    /* Only a lifted entry is replaced: a live one, HQ's or a peer's, already denies. */
    static const char sql[] =
        "INSERT INTO deny_list (subject, subject_id, reason, source, version, lifted, peer_at) "
        "VALUES ('coupon', ?1, 'redeemed_elsewhere', ?2, 0, 0, ?3) "
        "ON CONFLICT (subject, subject_id) DO UPDATE SET reason = excluded.reason, "
        " source = excluded.source, lifted = 0, peer_at = excluded.peer_at "
        "WHERE deny_list.lifted = 1";
    return peer_write(db, sql, coupon_id, terminal, &at_ms);
}

ml_err deny_lift_peer(struct db *db, const char *coupon_id, const char *terminal)
{
    static const char sql[] = "UPDATE deny_list SET lifted = 1 WHERE subject = 'coupon' "
                              "AND subject_id = ?1 AND source = ?2 AND lifted = 0";
    return peer_write(db, sql, coupon_id, terminal, NULL);
}

int deny_peer_takes_last_use(const struct coupon *c)
{
    return c == NULL || c->uses_total <= 1;
}

ml_err deny_peer_redeemed(struct db *db, const char *coupon_id, const char *terminal, int64_t at_ms,
                          int *ret_denied)
{
    struct coupon c;
    *ret_denied = 0;
    /* A coupon that cannot be read is taken as unknown: denying is the safe side. */
    ml_err err = coupon_get(db, coupon_id, &c);
    int takes = deny_peer_takes_last_use(err == ML_OK ? &c : NULL);
    if (err == ML_OK)
        coupon_release(&c);
    if (!takes)
        return ML_OK;
    err = deny_add_peer(db, coupon_id, terminal, at_ms);
    *ret_denied = err == ML_OK;
    return err;
}

ml_err deny_check_coupon(struct db *db, const char *coupon_id, const struct coupon *c,
                         struct ml_refusal *r)
{
    struct deny_entry e;
    int denied = deny_get(db, "coupon", coupon_id, &e);
    if (denied < 0)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "cannot read the deny-list: %s",
                         db_errmsg(db));
    if (!denied || (e.peer && !deny_peer_takes_last_use(c)))
        return ML_OK;
    return ml_refuse(r, ML_REFUSED, 409, deny_coupon_code(e.reason),
                     "coupon %s is on the deny-list (%s)", coupon_id, e.reason);
}

int deny_get(struct db *db, const char *subject, const char *id, struct deny_entry *ret)
{
    static const char sql[] = "SELECT reason, source, version FROM deny_list "
                              "WHERE subject = ?1 AND subject_id = ?2 AND lifted = 0";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return -1;
    db_bind_text(db, s, 1, subject);
    db_bind_text(db, s, 2, id);
    int rc = db_step(db, s);
    if (rc == SQLITE_ROW) {
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->reason, sizeof(ret->reason), "%s", (const char *)sqlite3_column_text(s, 0));
        snprintf(ret->source, sizeof(ret->source), "%s", (const char *)sqlite3_column_text(s, 1));
        ret->peer = strncmp(ret->source, "peer:", 5) == 0;
        ret->version = sqlite3_column_int64(s, 2);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

ml_err deny_check_member(struct db *db, const char *member_id, int blocked, struct ml_refusal *r)
{
    struct deny_entry e;
    int denied = blocked ? 0 : deny_get(db, "member", member_id, &e);
    if (denied < 0)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "cannot read the deny-list: %s",
                         db_errmsg(db));
    if (blocked || denied)
        return ml_refuse(r, ML_REFUSED, 403, "member_blocked", "member %s is blocked", member_id);
    return ML_OK;
}

const char *deny_coupon_code(const char *reason)
{
    if (strcmp(reason, "revoked") == 0)
        return "coupon_revoked";
    if (strcmp(reason, "redeemed_elsewhere") == 0)
        return "coupon_redeemed_elsewhere";
    return "coupon_denied";
}
