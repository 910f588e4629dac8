/* member: the members table (HQ's facts in, reads out), their points ledger, points
 * availability and the identify answer; see member.h. */
#include "member.h"

#include <stdio.h>
#include <string.h>

#include "coupon.h"
#include "guide.h"
#include "jsonutil.h"

#define MEMBER_COLS                                                                                \
    "m.member_id, m.phone_masked, m.tier, m.plan, m.plan_until, m.points_confirmed, "              \
    "m.guide_id, m.guide_until, m.status, "                                                        \
    "(SELECT coalesce(sum(delta), 0) FROM points_ledger p "                                        \
    " WHERE p.member_id = m.member_id AND p.confirmed = 0) "

static ml_err read_member(struct db *db, sqlite3_stmt *s, int64_t now, struct member *ret)
{
    int rc = db_step(db, s);
    if (rc == SQLITE_ROW) {
        memset(ret, 0, sizeof(*ret));
        db_col_copy(s, 0, ret->member_id, sizeof(ret->member_id));
        db_col_copy(s, 1, ret->phone_masked, sizeof(ret->phone_masked));
        db_col_copy(s, 2, ret->tier, sizeof(ret->tier));
        db_col_copy(s, 3, ret->plan, sizeof(ret->plan));
        ret->plan_until = sqlite3_column_int64(s, 4);
        ret->plan_active = ret->plan[0] != '\0' && ret->plan_until > now;
        ret->points_confirmed = sqlite3_column_int64(s, 5);
        db_col_copy(s, 6, ret->guide_id, sizeof(ret->guide_id));
        ret->guide_until = sqlite3_column_int64(s, 7);
        ret->blocked = strcmp((const char *)sqlite3_column_text(s, 8), "blocked") == 0;
        ret->points_pending = sqlite3_column_int64(s, 9);
    }
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return ML_OK;
    return rc == SQLITE_DONE ? ML_NOENTRY : ML_STORAGE;
}

ml_err member_get(struct db *db, const char *member_id, int64_t now, struct member *ret)
{
    static const char sql[] = "SELECT " MEMBER_COLS "FROM members m WHERE m.member_id = ?1";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, member_id);
    return read_member(db, s, now, ret);
}

ml_err member_find_by_phone(struct db *db, const uint8_t key[32], int64_t now, struct member *ret)
{
    static const char sql[] = "SELECT " MEMBER_COLS "FROM members m WHERE m.phone_key = ?1";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_blob(db, s, 1, key, 32);
    return read_member(db, s, now, ret);
}

int64_t member_points_available(const struct member *m)
{
    int64_t v = m->points_confirmed + m->points_pending;
    return v > 0 ? v : 0;
}

const char *member_bound_guide(const struct member *m, int64_t now)
{
    return m->guide_id[0] != '\0' && m->guide_until > now ? m->guide_id : NULL;
}

cJSON *member_identify_json(struct db *db, const struct member *m, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "member_id", m->member_id);
    cJSON_AddStringToObject(o, "phone", m->phone_masked);
    cJSON_AddStringToObject(o, "tier", m->tier);
    cJSON_AddStringToObject(o, "status", m->blocked ? "blocked" : "active");
    if (m->plan[0] != '\0') {
        cJSON *p = cJSON_AddObjectToObject(o, "plan");
        cJSON_AddStringToObject(p, "name", m->plan);
        json_add_i64(p, "until", m->plan_until);
        cJSON_AddBoolToObject(p, "active", m->plan_active);
    } else {
        cJSON_AddNullToObject(o, "plan");
    }
    cJSON *pts = cJSON_AddObjectToObject(o, "points");
    json_add_i64(pts, "confirmed", m->points_confirmed);
    json_add_i64(pts, "pending", m->points_pending);
    json_add_i64(pts, "available", member_points_available(m));
    const char *gid = member_bound_guide(m, now);
    struct guide g;
    if (gid != NULL && guide_get(db, gid, &g) == ML_OK) {
        cJSON *go = cJSON_AddObjectToObject(o, "guide");
        cJSON_AddStringToObject(go, "guide_id", g.guide_id);
        cJSON_AddStringToObject(go, "name", g.name);
        json_add_i64(go, "until", m->guide_until);
    } else {
        cJSON_AddNullToObject(o, "guide");
    }
    cJSON *coupons = coupon_usable_json(db, m->member_id, now);
    if (coupons == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToObject(o, "coupons", coupons);
    return o;
}

ml_err member_apply_upsert(struct db *db, const char *member_id, const struct fact_member *m,
                           int64_t version, int *ret_applied)
{
    static const char sql[] =
        "INSERT INTO members (member_id, phone_key, phone_masked, tier, plan, plan_until, "
        " points_confirmed, points_version, status, version) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
        "ON CONFLICT (member_id) DO UPDATE SET phone_key = excluded.phone_key, "
        " phone_masked = excluded.phone_masked, tier = excluded.tier, plan = excluded.plan, "
        " plan_until = excluded.plan_until, status = excluded.status, version = excluded.version, "
        " points_confirmed = CASE WHEN excluded.points_version > members.points_version "
        "   THEN excluded.points_confirmed ELSE members.points_confirmed END, "
        " points_version = max(members.points_version, excluded.points_version) "
        "WHERE excluded.version > members.version";
    static const char current[] = "SELECT version FROM members WHERE member_id = ?1";
    static const char release_phone[] =
        "UPDATE members SET phone_key = NULL WHERE phone_key = ?1 AND member_id <> ?2";
    /* A phone number belongs to one member. When HQ gives it to another member (numbers are
     * recycled), the newer fact takes it over; a stale fact changes nothing. */
    sqlite3_stmt *s = db_stmt(db, current);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, member_id);
    int rc = db_step(db, s);
    int stale = rc == SQLITE_ROW && sqlite3_column_int64(s, 0) >= version;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ML_STORAGE;
    if (stale) {
        *ret_applied = 0;
        return ML_OK;
    }
    if (m->has_phone_key) {
        if ((s = db_stmt(db, release_phone)) == NULL)
            return ML_STORAGE;
        db_bind_blob(db, s, 1, m->phone_key, sizeof(m->phone_key));
        db_bind_text(db, s, 2, member_id);
        if (db_run(db, s) != ML_OK)
            return ML_STORAGE;
    }
    if ((s = db_stmt(db, sql)) == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, member_id);
    if (m->has_phone_key)
        db_bind_blob(db, s, 2, m->phone_key, sizeof(m->phone_key));
    else
        db_bind_null(db, s, 2);
    db_bind_text(db, s, 3, m->phone_masked);
    db_bind_text(db, s, 4, m->tier);
    db_bind_text(db, s, 5, m->plan);
    if (m->plan != NULL)
        db_bind_i64(db, s, 6, m->plan_until);
    db_bind_i64(db, s, 7, m->points);
    db_bind_i64(db, s, 8, m->points_version);
    db_bind_text_static(db, s, 9, m->blocked ? "blocked" : "active");
    db_bind_i64(db, s, 10, version);
    if (db_run(db, s) != ML_OK)
        return ML_STORAGE;
    *ret_applied = db_changes(db) > 0;
    return ML_OK;
}

ml_err member_apply_bind(struct db *db, const char *member_id, const struct fact_bind *b,
                         int64_t version, int *ret_applied, struct ml_refusal *r)
{
    static const char sql[] = "UPDATE members SET guide_id = ?2, guide_until = ?3, "
                              " guide_version = ?4 WHERE member_id = ?1 AND guide_version < ?4";
    static const char exists[] = "SELECT 1 FROM members WHERE member_id = ?1";
    sqlite3_stmt *e = db_stmt(db, exists);
    if (e == NULL)
        return ML_STORAGE;
    db_bind_text(db, e, 1, member_id);
    int rc = db_step(db, e);
    sqlite3_reset(e);
    if (rc == SQLITE_DONE)
        return ml_refuse(r, ML_NOENTRY, 404, "member_not_found",
                         "member %s is not known; send member.upsert first", member_id);
    if (rc != SQLITE_ROW)
        return ML_STORAGE;
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, member_id);
    db_bind_text(db, s, 2, b->guide_id);
    if (b->guide_id != NULL)
        db_bind_i64(db, s, 3, b->until);
    db_bind_i64(db, s, 4, version);
    if (db_run(db, s) != ML_OK)
        return ML_STORAGE;
    *ret_applied = db_changes(db) > 0;
    return ML_OK;
}

ml_err member_add_points(struct db *db, const char *member_id, const char *sale_id,
                         const char *reason, int64_t delta, int64_t now)
{
    static const char sql[] = "INSERT INTO points_ledger (member_id, sale_id, reason, delta, "
                              "created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, member_id);
    db_bind_text(db, s, 2, sale_id);
    db_bind_text_static(db, s, 3, reason);
    db_bind_i64(db, s, 4, delta);
    db_bind_i64(db, s, 5, now);
    return db_run(db, s);
}

int64_t member_count(struct db *db)
{
    static const char sql[] = "SELECT count(*) FROM members";
    return db_count(db, sql);
}
