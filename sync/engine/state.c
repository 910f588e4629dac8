/* state: the sync_state key/value table; see state.h. */
#include "state.h"

static const char q_get[] = "SELECT value FROM sync_state WHERE key = ?1";
static const char q_set[] = "INSERT INTO sync_state (key, value) VALUES (?1, ?2) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value";

ml_err state_get_i64(struct db *db, const char *key, int64_t dflt, int64_t *ret)
{
    sqlite3_stmt *s = db_stmt(db, q_get);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, key);
    int rc = db_step(db, s);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE)
        *ret = dflt;
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

ml_err state_set_i64(struct db *db, const char *key, int64_t value)
{
    sqlite3_stmt *s = db_stmt(db, q_set);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, key);
    db_bind_i64(db, s, 2, value);
    return db_run(db, s);
}

ml_err state_get_text(struct db *db, const char *key, char *out, size_t len)
{
    sqlite3_stmt *s = db_stmt(db, q_get);
    out[0] = '\0';
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, key);
    int rc = db_step(db, s);
    if (rc == SQLITE_ROW)
        db_col_copy(s, 0, out, len);
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

ml_err state_set_text(struct db *db, const char *key, const char *value)
{
    sqlite3_stmt *s = db_stmt(db, q_set);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text_static(db, s, 1, key);
    db_bind_text(db, s, 2, value);
    return db_run(db, s);
}
