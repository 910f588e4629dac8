/* guide: the guides table; see guide.h. */
#include "guide.h"

#include <string.h>

ml_err guide_get(struct db *db, const char *guide_id, struct guide *ret)
{
    static const char sql[] = "SELECT guide_id, name, status FROM guides WHERE guide_id = ?1";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, guide_id);
    int rc = db_step(db, s);
    if (rc == SQLITE_ROW) {
        db_col_copy(s, 0, ret->guide_id, sizeof(ret->guide_id));
        db_col_copy(s, 1, ret->name, sizeof(ret->name));
        ret->active = strcmp((const char *)sqlite3_column_text(s, 2), "active") == 0;
    }
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return ML_OK;
    return rc == SQLITE_DONE ? ML_NOENTRY : ML_STORAGE;
}

ml_err guide_apply_upsert(struct db *db, const char *guide_id, const struct fact_guide *g,
                          int64_t version, int *ret_applied)
{
    static const char sql[] =
        "INSERT INTO guides (guide_id, name, store, status, version) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (guide_id) DO UPDATE SET name = excluded.name, store = excluded.store, "
        " status = excluded.status, version = excluded.version "
        "WHERE excluded.version > guides.version";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, guide_id);
    db_bind_text(db, s, 2, g->name);
    db_bind_text(db, s, 3, g->store);
    db_bind_text_static(db, s, 4, g->active ? "active" : "inactive");
    db_bind_i64(db, s, 5, version);
    if (db_run(db, s) != ML_OK)
        return ML_STORAGE;
    *ret_applied = db_changes(db) > 0;
    return ML_OK;
}

int64_t guide_count(struct db *db)
{
    static const char sql[] = "SELECT count(*) FROM guides";
    return db_count(db, sql);
}
