/* deny: the deny-list table and its two sources, HQ facts and store peers; see deny.h. */
#include "deny.h"

#include <stdio.h>
#include <string.h>

#include "inifile.h"
#include "jsonutil.h"

#define DENY_VERSION_MAX (INT64_C(1) << 50) /* as every HQ fact version */

static int reason_valid(const char *v)
{
    size_t n = strlen(v);
    return n >= 1 && n <= DENY_REASON_MAX && strspn(v, "abcdefghijklmnopqrstuvwxyz_") == n;
}

static int id_valid(const char *v)
{
    size_t n = v ? strlen(v) : 0;
    return n >= 1 && n <= DENY_ID_MAX && json_utf8_valid(v);
}

ml_err deny_upsert_fact(struct store *st, const cJSON *b, int *ret_applied, struct ml_refusal *r)
{
    /* A newer HQ version wins over anything, a peer entry included: HQ has the whole view. */
    static const char sql[] =
        "INSERT INTO deny_list (subject, subject_id, reason, source, version, lifted) "
        "VALUES (?1, ?2, ?3, 'hq', ?4, ?5) "
        "ON CONFLICT (subject, subject_id) DO UPDATE SET reason = excluded.reason, "
        " source = 'hq', version = excluded.version, lifted = excluded.lifted, peer_at = NULL "
        "WHERE excluded.version > deny_list.version";
    const char *subject = NULL, *id = NULL, *reason = NULL;
    int64_t version = 0;
    int lifted = 0;
    if (!cJSON_IsObject(b))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "fact body must be an object");
    if (json_str(b, "subject", 1, 16, &subject, r) || json_str(b, "id", 1, DENY_ID_MAX, &id, r) ||
        json_str(b, "reason", 1, DENY_REASON_MAX, &reason, r) ||
        json_bool(b, "lifted", &lifted, r) ||
        json_i64(b, "version", 1, 1, DENY_VERSION_MAX, &version, r))
        return ML_PARSE;
    if (strcmp(subject, "member") != 0 && strcmp(subject, "coupon") != 0)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "field 'subject' must be \"member\" or \"coupon\"");
    if (!reason_valid(reason))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "field 'reason' must be 1 to %d of [a-z_]", DENY_REASON_MAX);
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error");
    sqlite3_bind_text(s, 1, subject, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, version);
    sqlite3_bind_int(s, 5, lifted);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return ml_refuse(r, ML_STORAGE, 503, "storage_error", "storage error: %s",
                         sqlite3_errmsg(store_db(st)));
    if (ret_applied != NULL)
        *ret_applied = sqlite3_changes(store_db(st)) > 0;
    return ML_OK;
}

/*
 * Runs sql, a write keyed by ?1 = coupon_id and ?2 = "peer:<terminal>", with ?3 = *at_ms
 * when at_ms is not NULL. ML_PARSE for an id or terminal out of form; ML_STORAGE.
 */
static ml_err peer_write(struct store *st, const char *sql, const char *coupon_id,
                         const char *terminal, const int64_t *at_ms)
{
    char source[DENY_SOURCE_MAX + 1];
    if (!id_valid(coupon_id) || terminal == NULL || !inifile_valid_id(terminal, DENY_TERMINAL_MAX))
        return ML_PARSE;
    snprintf(source, sizeof(source), "peer:%s", terminal);
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, coupon_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, source, -1, SQLITE_TRANSIENT);
    if (at_ms != NULL)
        sqlite3_bind_int64(s, 3, *at_ms);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

ml_err deny_add_peer(struct store *st, const char *coupon_id, const char *terminal, int64_t at_ms)
{
    /* Only a lifted entry is replaced: a live one, HQ's or a peer's, already denies. */
    static const char sql[] =
        "INSERT INTO deny_list (subject, subject_id, reason, source, version, lifted, peer_at) "
        "VALUES ('coupon', ?1, 'redeemed_elsewhere', ?2, 0, 0, ?3) "
        "ON CONFLICT (subject, subject_id) DO UPDATE SET reason = excluded.reason, "
        " source = excluded.source, lifted = 0, peer_at = excluded.peer_at "
        "WHERE deny_list.lifted = 1";
    return peer_write(st, sql, coupon_id, terminal, &at_ms);
}

ml_err deny_lift_peer(struct store *st, const char *coupon_id, const char *terminal)
{
    static const char sql[] = "UPDATE deny_list SET lifted = 1 WHERE subject = 'coupon' "
                              "AND subject_id = ?1 AND source = ?2 AND lifted = 0";
    return peer_write(st, sql, coupon_id, terminal, NULL);
}

int deny_get(struct store *st, const char *subject, const char *id, struct deny_entry *ret)
{
    static const char sql[] = "SELECT reason, source, version FROM deny_list "
                              "WHERE subject = ?1 AND subject_id = ?2 AND lifted = 0";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, subject, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
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

int deny_find(struct store *st, const char *subject, const char *id, char *reason, size_t reasonlen)
{
    struct deny_entry e;
    int found = deny_get(st, subject, id, &e);
    if (found == 1 && reason != NULL && reasonlen > 0)
        snprintf(reason, reasonlen, "%s", e.reason);
    return found;
}

const char *deny_coupon_code(const char *reason)
{
    if (strcmp(reason, "revoked") == 0)
        return "coupon_revoked";
    if (strcmp(reason, "redeemed_elsewhere") == 0)
        return "coupon_redeemed_elsewhere";
    return "coupon_denied";
}
