/* member: member and guide reads, points availability, the identify answer. */
#include "member.h"

#include <stdio.h>
#include <string.h>

#include "jsonutil.h"

#define MEMBER_COLS                                                                                \
    "m.member_id, m.phone_masked, m.tier, m.plan, m.plan_until, m.points_confirmed, "              \
    "m.guide_id, m.guide_until, m.status, "                                                        \
    "(SELECT coalesce(sum(delta), 0) FROM points_ledger p "                                        \
    " WHERE p.member_id = m.member_id AND p.confirmed = 0) "

static void copy_col(sqlite3_stmt *s, int col, char *dst, size_t len)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    snprintf(dst, len, "%s", v ? (const char *)v : "");
}

static ml_err read_member(sqlite3_stmt *s, int64_t now, struct member *ret)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(ret, 0, sizeof(*ret));
        copy_col(s, 0, ret->member_id, sizeof(ret->member_id));
        copy_col(s, 1, ret->phone_masked, sizeof(ret->phone_masked));
        copy_col(s, 2, ret->tier, sizeof(ret->tier));
        copy_col(s, 3, ret->plan, sizeof(ret->plan));
        ret->plan_until = sqlite3_column_int64(s, 4);
        ret->plan_active = ret->plan[0] != '\0' && ret->plan_until > now;
        ret->points_confirmed = sqlite3_column_int64(s, 5);
        copy_col(s, 6, ret->guide_id, sizeof(ret->guide_id));
        ret->guide_until = sqlite3_column_int64(s, 7);
        ret->blocked = strcmp((const char *)sqlite3_column_text(s, 8), "blocked") == 0;
        ret->points_pending = sqlite3_column_int64(s, 9);
    }
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return ML_OK;
    return rc == SQLITE_DONE ? ML_NOENTRY : ML_STORAGE;
}

ml_err member_get(struct store *st, const char *member_id, int64_t now, struct member *ret)
{
    static const char sql[] = "SELECT " MEMBER_COLS "FROM members m WHERE m.member_id = ?1";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, member_id, -1, SQLITE_TRANSIENT);
    return read_member(s, now, ret);
}

ml_err member_find_by_phone(struct store *st, const uint8_t key[32], int64_t now,
                            struct member *ret)
{
    static const char sql[] = "SELECT " MEMBER_COLS "FROM members m WHERE m.phone_key = ?1";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_blob(s, 1, key, 32, SQLITE_TRANSIENT);
    return read_member(s, now, ret);
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

ml_err guide_get(struct store *st, const char *guide_id, struct guide *ret)
{
    static const char sql[] = "SELECT guide_id, name, status FROM guides WHERE guide_id = ?1";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (s == NULL)
        return ML_STORAGE;
    sqlite3_bind_text(s, 1, guide_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        copy_col(s, 0, ret->guide_id, sizeof(ret->guide_id));
        copy_col(s, 1, ret->name, sizeof(ret->name));
        ret->active = strcmp((const char *)sqlite3_column_text(s, 2), "active") == 0;
    }
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return ML_OK;
    return rc == SQLITE_DONE ? ML_NOENTRY : ML_STORAGE;
}

static cJSON *usable_coupons(struct store *st, const char *member_id, int64_t now)
{
    static const char sql[] =
        "SELECT coupon_id, campaign_id, kind, value, max_off, min_spend, categories, valid_to, "
        " uses_left, offline_ok FROM coupons WHERE member_id = ?1 AND state = 'available' "
        " AND uses_left > 0 AND valid_from <= ?2 AND valid_to > ?2 "
        "ORDER BY valid_to, coupon_id LIMIT 100";
    cJSON *arr = cJSON_CreateArray();
    sqlite3_stmt *s = store_stmt(st, sql);
    if (arr == NULL || s == NULL) {
        cJSON_Delete(arr);
        return NULL;
    }
    sqlite3_bind_text(s, 1, member_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, now);
    while (sqlite3_step(s) == SQLITE_ROW) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, c);
        cJSON_AddStringToObject(c, "coupon_id", (const char *)sqlite3_column_text(s, 0));
        if (sqlite3_column_type(s, 1) == SQLITE_NULL)
            cJSON_AddNullToObject(c, "campaign_id");
        else
            cJSON_AddStringToObject(c, "campaign_id", (const char *)sqlite3_column_text(s, 1));
        cJSON_AddStringToObject(c, "kind", (const char *)sqlite3_column_text(s, 2));
        json_add_i64(c, "value", sqlite3_column_int64(s, 3));
        json_add_i64(c, "max_off", sqlite3_column_int64(s, 4));
        json_add_i64(c, "min_spend", sqlite3_column_int64(s, 5));
        if (sqlite3_column_type(s, 6) == SQLITE_NULL)
            cJSON_AddNullToObject(c, "categories");
        else
            cJSON_AddItemToObject(c, "categories",
                                  cJSON_Parse((const char *)sqlite3_column_text(s, 6)));
        json_add_i64(c, "valid_to", sqlite3_column_int64(s, 7));
        json_add_i64(c, "uses_left", sqlite3_column_int64(s, 8));
        cJSON_AddBoolToObject(c, "offline_ok", sqlite3_column_int(s, 9));
    }
    sqlite3_reset(s);
    return arr;
}

cJSON *member_identify_json(struct store *st, const struct member *m, int64_t now)
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
    if (gid != NULL && guide_get(st, gid, &g) == ML_OK) {
        cJSON *go = cJSON_AddObjectToObject(o, "guide");
        cJSON_AddStringToObject(go, "guide_id", g.guide_id);
        cJSON_AddStringToObject(go, "name", g.name);
        json_add_i64(go, "until", m->guide_until);
    } else {
        cJSON_AddNullToObject(o, "guide");
    }
    cJSON *coupons = usable_coupons(st, m->member_id, now);
    if (coupons == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToObject(o, "coupons", coupons);
    return o;
}
