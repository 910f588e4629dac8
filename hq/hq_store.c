/*
 * hq_store: the HQ database; see hq_store.h. The schema below is the one place the HQ's
 * tables are defined; each entry of migrations[] takes the database one version forward.
 *
 * A real deployment with several ingest instances (shared subscription) points them at one
 * database server, so deduplication by event id and the per-terminal seq tracking are
 * global. This reference keeps one SQLite file per instance: with a share_group, each
 * instance deduplicates only what it saw, and as the broker spreads a terminal's batches
 * over the instances, each one reports gaps that another instance filled.
 */
#include "hq_store.h"

#include "walckpt.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const migrations[] = {
    /* 1: events, per-terminal sequence tracking, derived report tables, rejections. */
    "CREATE TABLE events (\n"
    "  id TEXT PRIMARY KEY,\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  seq INTEGER NOT NULL,\n"
    "  type TEXT NOT NULL,\n"
    "  hlc TEXT NOT NULL,\n"
    "  at INTEGER NOT NULL,\n"
    "  body TEXT NOT NULL,\n"
    "  batch TEXT,\n"
    "  received_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX events_terminal_seq ON events(store, terminal, seq);\n"
    "CREATE TABLE terminals (\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  next_seq INTEGER NOT NULL DEFAULT 1,\n"
    "  max_seq INTEGER NOT NULL DEFAULT 0,\n"
    "  received INTEGER NOT NULL DEFAULT 0,\n"
    "  gaps INTEGER NOT NULL DEFAULT 0,\n"
    "  first_received_at INTEGER NOT NULL,\n"
    "  last_received_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (store, terminal)\n"
    ");\n"
    "CREATE TABLE sales (\n"
    "  sale_id TEXT PRIMARY KEY,\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  day TEXT NOT NULL,\n"
    "  at INTEGER NOT NULL,\n"
    "  member_id TEXT,\n"
    "  guide_id TEXT,\n"
    "  total INTEGER NOT NULL,\n"
    "  commission INTEGER NOT NULL,\n"
    "  refunded INTEGER NOT NULL DEFAULT 0,\n"
    "  event_id TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX sales_day ON sales(day, store);\n"
    "CREATE TABLE refunds (\n"
    "  event_id TEXT PRIMARY KEY,\n"
    "  refund_id TEXT NOT NULL,\n"
    "  sale_id TEXT NOT NULL,\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  amount INTEGER NOT NULL,\n"
    "  day TEXT NOT NULL,\n"
    "  at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX refunds_sale ON refunds(sale_id);\n"
    "CREATE TABLE commission_entries (\n"
    "  event_id TEXT PRIMARY KEY,\n"
    "  guide_id TEXT NOT NULL,\n"
    "  sale_id TEXT NOT NULL,\n"
    "  refund_id TEXT,\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  amount INTEGER NOT NULL,\n"
    "  day TEXT NOT NULL,\n"
    "  at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX commission_entries_day ON commission_entries(day, guide_id);\n"
    "CREATE TABLE redemptions (\n"
    "  event_id TEXT PRIMARY KEY,\n"
    "  coupon_id TEXT NOT NULL,\n"
    "  sale_id TEXT NOT NULL,\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  use_no INTEGER NOT NULL,\n"
    "  amount INTEGER NOT NULL,\n"
    "  at INTEGER NOT NULL,\n"
    "  day TEXT NOT NULL,\n"
    "  restored_at INTEGER\n"
    ");\n"
    "CREATE INDEX redemptions_coupon ON redemptions(coupon_id, use_no);\n"
    "CREATE INDEX redemptions_day ON redemptions(day);\n"
    "CREATE TABLE rejections (\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  reason TEXT NOT NULL,\n"
    "  count INTEGER NOT NULL,\n"
    "  last_event_id TEXT,\n"
    "  last_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (store, terminal, reason)\n"
    ");\n",
    /* 2: signed messages to stores: per-store ones by gapless cursor, current campaigns. */
    "CREATE TABLE outgoing (\n"
    "  store TEXT NOT NULL,\n"
    "  cursor INTEGER NOT NULL,\n"
    "  id TEXT NOT NULL UNIQUE,\n"
    "  kind TEXT NOT NULL,\n"
    "  entity TEXT NOT NULL,\n"
    "  version INTEGER NOT NULL,\n"
    "  topic TEXT NOT NULL,\n"
    "  text TEXT NOT NULL,\n"
    "  issued INTEGER NOT NULL,\n"
    "  expires INTEGER NOT NULL,\n"
    "  published_at INTEGER,\n"
    "  UNIQUE (store, cursor)\n"
    ");\n"
    "CREATE INDEX outgoing_entity ON outgoing(entity, store, version);\n"
    "CREATE TABLE outgoing_campaigns (\n"
    "  campaign_id TEXT PRIMARY KEY,\n"
    "  version INTEGER NOT NULL,\n"
    "  id TEXT NOT NULL UNIQUE,\n"
    "  topic TEXT NOT NULL,\n"
    "  text TEXT NOT NULL,\n"
    "  issued INTEGER NOT NULL,\n"
    "  expires INTEGER NOT NULL,\n"
    "  published_at INTEGER\n"
    ");\n",
    /* 3: settlement of coupons redeemed twice offline (hq_settle.h) */
    "ALTER TABLE redemptions ADD COLUMN trusted_at INTEGER;\n"
    "CREATE TABLE coupon_terms (\n"
    "  coupon_id TEXT PRIMARY KEY,\n"
    "  campaign_id TEXT,\n"
    "  uses INTEGER NOT NULL DEFAULT 1\n"
    ");\n"
    "CREATE TABLE conflicts (\n"
    "  event_id TEXT PRIMARY KEY,\n"
    "  coupon_id TEXT NOT NULL,\n"
    "  campaign_id TEXT,\n"
    "  store TEXT NOT NULL,\n"
    "  terminal TEXT NOT NULL,\n"
    "  sale_id TEXT NOT NULL,\n"
    "  amount INTEGER NOT NULL,\n"
    "  at INTEGER NOT NULL,\n"
    "  winner_event_id TEXT NOT NULL,\n"
    "  winner_store TEXT NOT NULL,\n"
    "  winner_terminal TEXT NOT NULL,\n"
    "  winner_sale_id TEXT NOT NULL,\n"
    "  winner_at INTEGER NOT NULL,\n"
    "  day TEXT NOT NULL,\n"
    "  notice_id TEXT,\n"
    "  detected_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX conflicts_day ON conflicts(day);\n",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == HQ_SCHEMA_VERSION,
               "one migration per schema version");

enum stmt_id {
    S_EV_INSERT,
    S_EV_GET,
    S_EV_BY_SEQ,
    S_TERM_UPSERT,
    S_TERM_GET,
    S_TERM_MAX,
    S_EV_SEQ_FROM,
    S_TERM_SET,
    S_SALE_INSERT,
    S_REFUND_INSERT,
    S_SALE_ADD_REFUND,
    S_COMM_INSERT,
    S_RED_INSERT,
    S_RED_RESTORE,
    S_REJ_UPSERT,
    S_OUT_LAST_CURSOR,
    S_OUT_LAST_VERSION,
    S_OUT_LAST_VERSION_AT,
    S_OUT_INSERT,
    S_CAMP_VERSION,
    S_CAMP_LIVE,
    S_CAMP_UPSERT,
    S_OUT_PUBLISHED,
    S_CAMP_PUBLISHED,
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_EV_INSERT] = "INSERT OR IGNORE INTO events"
                    " (id, store, terminal, seq, type, hlc, at, body, batch, received_at)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [S_EV_GET] = "SELECT store, terminal, seq, type FROM events WHERE id = ?1",
    [S_EV_BY_SEQ] = "SELECT id FROM events WHERE store = ?1 AND terminal = ?2 AND seq = ?3"
                    " LIMIT 1",
    [S_TERM_UPSERT] = "INSERT INTO terminals (store, terminal, next_seq, max_seq, received, gaps,"
                      " first_received_at, last_received_at)"
                      " VALUES (?1, ?2, 1, ?3, ?4, 0, ?5, ?5)"
                      " ON CONFLICT (store, terminal) DO UPDATE SET"
                      " max_seq = max(max_seq, excluded.max_seq),"
                      " received = received + excluded.received,"
                      " last_received_at = excluded.last_received_at",
    [S_TERM_MAX] = "SELECT max_seq FROM terminals WHERE store = ?1 AND terminal = ?2",
    [S_EV_SEQ_FROM] = "SELECT seq FROM events WHERE store = ?1 AND terminal = ?2 AND seq >= ?3"
                      " ORDER BY seq",
    [S_TERM_GET] = "SELECT next_seq, max_seq, received, gaps FROM terminals"
                   " WHERE store = ?1 AND terminal = ?2",
    [S_TERM_SET] = "UPDATE terminals SET next_seq = ?3, gaps = ?4"
                   " WHERE store = ?1 AND terminal = ?2",
    /* Refunds may arrive before their sale (a lost batch resent late): count them in. */
    [S_SALE_INSERT] = "INSERT OR IGNORE INTO sales (sale_id, store, terminal, day, at, member_id,"
                      " guide_id, total, commission, refunded, event_id)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                      " (SELECT coalesce(sum(amount), 0) FROM refunds"
                      "  WHERE sale_id = ?1 AND store = ?2), ?10)",
    [S_REFUND_INSERT] = "INSERT OR IGNORE INTO refunds (event_id, refund_id, sale_id, store,"
                        " terminal, amount, day, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_SALE_ADD_REFUND] = "UPDATE sales SET refunded = refunded + ?3"
                          " WHERE sale_id = ?1 AND store = ?2",
    [S_COMM_INSERT] = "INSERT OR IGNORE INTO commission_entries (event_id, guide_id, sale_id,"
                      " refund_id, store, terminal, amount, day, at)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_RED_INSERT] = "INSERT OR IGNORE INTO redemptions (event_id, coupon_id, sale_id, store,"
                     " terminal, use_no, amount, at, day)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_RED_RESTORE] = "UPDATE redemptions SET restored_at = ?5"
                      " WHERE coupon_id = ?1 AND sale_id = ?2 AND use_no = ?3 AND store = ?4"
                      " AND restored_at IS NULL",
    [S_REJ_UPSERT] = "INSERT INTO rejections (store, terminal, reason, count, last_event_id,"
                     " last_at) VALUES (?1, ?2, ?3, 1, ?4, ?5)"
                     " ON CONFLICT (store, terminal, reason) DO UPDATE SET"
                     " count = count + 1, last_event_id = excluded.last_event_id,"
                     " last_at = excluded.last_at",
    [S_OUT_LAST_CURSOR] = "SELECT coalesce(max(cursor), 0) FROM outgoing WHERE store = ?1",
    [S_OUT_LAST_VERSION] = "SELECT coalesce(max(version), 0) FROM outgoing WHERE entity = ?1",
    [S_OUT_LAST_VERSION_AT] = "SELECT coalesce(max(version), 0) FROM outgoing"
                              " WHERE entity = ?1 AND store = ?2",
    [S_OUT_INSERT] = "INSERT INTO outgoing (store, cursor, id, kind, entity, version, topic, text,"
                     " issued, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [S_CAMP_VERSION] = "SELECT version FROM outgoing_campaigns WHERE campaign_id = ?1",
    [S_CAMP_LIVE] = "SELECT count(*), coalesce(sum(length(CAST(text AS BLOB))), 0)"
                    " FROM outgoing_campaigns WHERE expires > ?1 AND campaign_id IS NOT ?2",
    [S_CAMP_UPSERT] = "INSERT INTO outgoing_campaigns (campaign_id, version, id, topic, text,"
                      " issued, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                      " ON CONFLICT (campaign_id) DO UPDATE SET version = excluded.version,"
                      " id = excluded.id, topic = excluded.topic, text = excluded.text,"
                      " issued = excluded.issued, expires = excluded.expires, published_at = NULL",
    [S_OUT_PUBLISHED] = "UPDATE outgoing SET published_at = ?2"
                        " WHERE id = ?1 AND published_at IS NULL",
    [S_CAMP_PUBLISHED] = "UPDATE outgoing_campaigns SET published_at = ?2"
                         " WHERE id = ?1 AND published_at IS NULL",
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT batch",
    [S_RELEASE] = "RELEASE batch",
    [S_ROLLBACK_TO] = "ROLLBACK TO batch",
};

/* Bulk ingest: checkpoint in large steps, off the commit path (walckpt.h). */
#define HQ_WAL_WAKE_BYTES (INT64_C(16) << 20)
#define HQ_WAL_RESTART_BYTES (INT64_C(256) << 20)
#define HQ_STR_(x) #x
#define HQ_STR(x) HQ_STR_(x)

struct hq_store {
    sqlite3 *db;
    struct walckpt *ckpt;        /* READWRITE: WAL checkpoints off the ingest's commit path */
    sqlite3_stmt *stmt[S_COUNT]; /* prepared in READWRITE mode only */
};

sqlite3 *hq_store_db(struct hq_store *st)
{
    return st->db;
}

const char *hq_store_errmsg(struct hq_store *st)
{
    return st && st->db ? sqlite3_errmsg(st->db) : "out of memory";
}

void hq_store_close(struct hq_store *st)
{
    if (st == NULL)
        return;
    walckpt_stop(st->ckpt, st->db);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    free(st);
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static ml_err exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? ML_OK : ML_STORAGE;
}

static ml_err migrate(struct hq_store *st, int have, char *errbuf, size_t errlen)
{
    for (int v = have; v < HQ_SCHEMA_VERSION; v++) {
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        if (exec(st->db, "BEGIN IMMEDIATE") != ML_OK)
            goto fail;
        /* Another process (serve and a push command) may have migrated since we looked. */
        int now = user_version(st->db);
        if (now < 0) {
            (void)exec(st->db, "ROLLBACK");
            goto fail;
        }
        if (now > v) {
            if (exec(st->db, "COMMIT") != ML_OK)
                goto fail;
            v = now - 1;
            continue;
        }
        if (exec(st->db, migrations[v]) != ML_OK || exec(st->db, pragma) != ML_OK) {
            snprintf(errbuf, errlen, "migration to schema version %d failed: %s", v + 1,
                     sqlite3_errmsg(st->db));
            (void)exec(st->db, "ROLLBACK");
            return ML_STORAGE;
        }
        if (exec(st->db, "COMMIT") != ML_OK)
            goto fail;
    }
    return ML_OK;
fail:
    snprintf(errbuf, errlen, "migration failed: %s", sqlite3_errmsg(st->db));
    return ML_STORAGE;
}

ml_err hq_store_open(const char *path, enum hq_store_mode mode, struct hq_store **ret_store,
                     char *errbuf, size_t errlen)
{
    ml_err result = ML_STORAGE;
    struct hq_store *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return ML_NOMEM;
    }
    struct stat sb;
    if (mode == HQ_STORE_READONLY && stat(path, &sb) != 0) {
        snprintf(errbuf, errlen,
                 "%s: no HQ database (has `memberlink-hq serve` run with this "
                 "data_dir?)",
                 path);
        result = ML_NOENTRY;
        goto out;
    }
    int flags = mode == HQ_STORE_READONLY ? SQLITE_OPEN_READONLY
                                          : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s: cannot open database: %s", path, hq_store_errmsg(st));
        goto out;
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* 64 KiB pages (for a new database; an existing one keeps its size): HQ appends ~1 KB
     * events by the thousand per commit, and large pages write the same bytes in a sixteenth
     * of the WAL frames and system calls, which was most of the ingest's CPU. */
    if (mode == HQ_STORE_READWRITE &&
        (exec(st->db, "PRAGMA page_size=65536") != ML_OK ||
         exec(st->db, "PRAGMA journal_mode=WAL") != ML_OK ||
         exec(st->db, "PRAGMA synchronous=FULL") != ML_OK ||
         exec(st->db, "PRAGMA journal_size_limit=" HQ_STR(WALCKPT_SIZE_LIMIT)) != ML_OK)) {
        snprintf(errbuf, errlen, "%s: cannot configure database: %s", path, sqlite3_errmsg(st->db));
        goto out;
    }
    int have = user_version(st->db);
    if (have < 0) {
        snprintf(errbuf, errlen, "%s: cannot read schema version: %s", path,
                 sqlite3_errmsg(st->db));
        goto out;
    }
    if (have > HQ_SCHEMA_VERSION) {
        snprintf(errbuf, errlen,
                 "%s: schema version %d is newer than this memberlink-hq knows (%d); run a newer "
                 "memberlink-hq or restore a matching backup",
                 path, have, HQ_SCHEMA_VERSION);
        result = ML_CONFIG;
        goto out;
    }
    if (mode == HQ_STORE_READONLY) {
        if (have != HQ_SCHEMA_VERSION) {
            snprintf(errbuf, errlen,
                     "%s: schema version %d, expected %d; start `memberlink-hq serve` (or run a "
                     "push) once to migrate",
                     path, have, HQ_SCHEMA_VERSION);
            goto out;
        }
        result = ML_OK;
        goto out;
    }
    if ((result = migrate(st, have, errbuf, errlen)) != ML_OK)
        goto out;
    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK) {
            snprintf(errbuf, errlen, "%s: cannot prepare statement %d: %s", path, i,
                     sqlite3_errmsg(st->db));
            result = ML_STORAGE;
            goto out;
        }
    }
    st->ckpt = walckpt_start(st->db, path, HQ_WAL_WAKE_BYTES, HQ_WAL_RESTART_BYTES);
    result = ML_OK;
out:
    if (result != ML_OK) {
        hq_store_close(st);
        return result;
    }
    *ret_store = st;
    return ML_OK;
}

/* Prepared statement `id`, reset and unbound; NULL-safe binders below. */
static sqlite3_stmt *stmt(struct hq_store *st, enum stmt_id id)
{
    sqlite3_stmt *s = st->stmt[id];
    assert(s != NULL); /* only READWRITE stores write */
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* Steps a statement that returns no row; resets it either way. */
static ml_err run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

ml_err hq_store_begin(struct hq_store *st)
{
    return run(stmt(st, S_BEGIN));
}

ml_err hq_store_commit(struct hq_store *st)
{
    return run(stmt(st, S_COMMIT));
}

void hq_store_rollback(struct hq_store *st)
{
    if (sqlite3_get_autocommit(st->db))
        return; /* SQLite already rolled back (e.g. after SQLITE_FULL) */
    (void)run(stmt(st, S_ROLLBACK));
}

ml_err hq_store_expired_campaigns(struct hq_store *st, int64_t now_ms,
                                  void (*fn)(void *arg, const char *topic), void *arg)
{
    static const char sql[] = "SELECT topic FROM outgoing_campaigns WHERE expires <= ?1";
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return ML_STORAGE;
    sqlite3_bind_int64(s, 1, now_ms);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(arg, (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

ml_err hq_store_set_synchronous(struct hq_store *st, int full)
{
    return exec(st->db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
}

int hq_store_in_tx(struct hq_store *st)
{
    return !sqlite3_get_autocommit(st->db);
}

ml_err hq_store_savepoint(struct hq_store *st)
{
    return run(stmt(st, S_SAVEPOINT));
}

ml_err hq_store_release(struct hq_store *st)
{
    return run(stmt(st, S_RELEASE));
}

void hq_store_rollback_to(struct hq_store *st)
{
    if (sqlite3_get_autocommit(st->db))
        return; /* the whole transaction is gone already */
    if (run(stmt(st, S_ROLLBACK_TO)) == ML_OK)
        (void)run(stmt(st, S_RELEASE));
}

/* The id of an event with this store/terminal/seq into `out`; 0 if none, -1 on error. */
static int event_by_seq(struct hq_store *st, const char *store, const char *terminal, int64_t seq,
                        char out[HQ_EVENT_ID_MAX + 1])
{
    sqlite3_stmt *s = stmt(st, S_EV_BY_SEQ);
    bind_text(s, 1, store);
    bind_text(s, 2, terminal);
    sqlite3_bind_int64(s, 3, seq);
    int rc = sqlite3_step(s);
    int found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        if (out != NULL) {
            const unsigned char *id = sqlite3_column_text(s, 0);
            snprintf(out, HQ_EVENT_ID_MAX + 1, "%s", id ? (const char *)id : "");
        }
    } else if (rc != SQLITE_DONE) {
        found = -1;
    }
    sqlite3_reset(s);
    return found;
}

static int same_text(const unsigned char *a, const char *b)
{
    return a != NULL && strcmp((const char *)a, b) == 0;
}

ml_err hq_store_put_event(struct hq_store *st, const struct hq_event *ev, int64_t now_ms,
                          struct hq_put_result *ret)
{
    struct hq_put_result res = {.put = HQ_PUT_NEW};
    int seen = ev->seq_new ? 0 : event_by_seq(st, ev->store, ev->terminal, ev->seq, res.other_id);
    if (seen < 0)
        return ML_STORAGE;

    sqlite3_stmt *s = stmt(st, S_EV_INSERT);
    bind_text(s, 1, ev->id);
    bind_text(s, 2, ev->store);
    bind_text(s, 3, ev->terminal);
    sqlite3_bind_int64(s, 4, ev->seq);
    bind_text(s, 5, ev->type);
    bind_text(s, 6, ev->hlc);
    sqlite3_bind_int64(s, 7, ev->at);
    bind_text(s, 8, ev->body);
    bind_text(s, 9, ev->batch);
    sqlite3_bind_int64(s, 10, now_ms);
    if (run(s) != ML_OK)
        return ML_STORAGE;

    if (sqlite3_changes(st->db) == 0) {
        /* Known id: a resend (acknowledge again) or a different event under a used id. */
        s = stmt(st, S_EV_GET);
        bind_text(s, 1, ev->id);
        int rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) {
            sqlite3_reset(s);
            return ML_STORAGE;
        }
        int same = same_text(sqlite3_column_text(s, 0), ev->store) &&
                   same_text(sqlite3_column_text(s, 1), ev->terminal) &&
                   sqlite3_column_int64(s, 2) == ev->seq &&
                   same_text(sqlite3_column_text(s, 3), ev->type);
        sqlite3_reset(s);
        res.put = same ? HQ_PUT_DUPLICATE : HQ_PUT_CONFLICT;
        res.other_id[0] = '\0';
        *ret = res;
        return ML_OK;
    }

    res.seq_reused = seen;
    if (!seen)
        res.other_id[0] = '\0';
    if (ev->defer_terminal) {
        *ret = res;
        return ML_OK;
    }
    s = stmt(st, S_TERM_UPSERT);
    bind_text(s, 1, ev->store);
    bind_text(s, 2, ev->terminal);
    sqlite3_bind_int64(s, 3, ev->seq);
    sqlite3_bind_int(s, 4, seen ? 0 : 1);
    sqlite3_bind_int64(s, 5, now_ms);
    if (run(s) != ML_OK)
        return ML_STORAGE;
    *ret = res;
    return ML_OK;
}

ml_err hq_store_put_sale(struct hq_store *st, const struct hq_event *ev, const char *day,
                         const struct hq_sale *sale, int *ret_dup)
{
    sqlite3_stmt *s = stmt(st, S_SALE_INSERT);
    bind_text(s, 1, sale->sale_id);
    bind_text(s, 2, ev->store);
    bind_text(s, 3, ev->terminal);
    bind_text(s, 4, day);
    sqlite3_bind_int64(s, 5, ev->at);
    bind_text(s, 6, sale->member_id);
    bind_text(s, 7, sale->guide_id);
    sqlite3_bind_int64(s, 8, sale->total);
    sqlite3_bind_int64(s, 9, sale->commission);
    bind_text(s, 10, ev->id);
    if (run(s) != ML_OK)
        return ML_STORAGE;
    *ret_dup = sqlite3_changes(st->db) == 0;
    return ML_OK;
}

ml_err hq_store_put_refund(struct hq_store *st, const struct hq_event *ev, const char *day,
                           const char *refund_id, const char *sale_id, int64_t amount)
{
    sqlite3_stmt *s = stmt(st, S_REFUND_INSERT);
    bind_text(s, 1, ev->id);
    bind_text(s, 2, refund_id);
    bind_text(s, 3, sale_id);
    bind_text(s, 4, ev->store);
    bind_text(s, 5, ev->terminal);
    sqlite3_bind_int64(s, 6, amount);
    bind_text(s, 7, day);
    sqlite3_bind_int64(s, 8, ev->at);
    if (run(s) != ML_OK)
        return ML_STORAGE;
    s = stmt(st, S_SALE_ADD_REFUND);
    bind_text(s, 1, sale_id);
    bind_text(s, 2, ev->store);
    sqlite3_bind_int64(s, 3, amount);
    return run(s);
}

ml_err hq_store_put_commission(struct hq_store *st, const struct hq_event *ev, const char *day,
                               const char *guide_id, const char *sale_id, const char *refund_id,
                               int64_t amount)
{
    sqlite3_stmt *s = stmt(st, S_COMM_INSERT);
    bind_text(s, 1, ev->id);
    bind_text(s, 2, guide_id);
    bind_text(s, 3, sale_id);
    bind_text(s, 4, refund_id);
    bind_text(s, 5, ev->store);
    bind_text(s, 6, ev->terminal);
    sqlite3_bind_int64(s, 7, amount);
    bind_text(s, 8, day);
    sqlite3_bind_int64(s, 9, ev->at);
    return run(s);
}

ml_err hq_store_put_redemption(struct hq_store *st, const struct hq_event *ev, const char *day,
                               const char *coupon_id, const char *sale_id, int64_t use_no,
                               int64_t amount)
{
    sqlite3_stmt *s = stmt(st, S_RED_INSERT);
    bind_text(s, 1, ev->id);
    bind_text(s, 2, coupon_id);
    bind_text(s, 3, sale_id);
    bind_text(s, 4, ev->store);
    bind_text(s, 5, ev->terminal);
    sqlite3_bind_int64(s, 6, use_no);
    sqlite3_bind_int64(s, 7, amount);
    sqlite3_bind_int64(s, 8, ev->at);
    bind_text(s, 9, day);
    return run(s);
}

ml_err hq_store_restore_redemption(struct hq_store *st, const struct hq_event *ev,
                                   const char *coupon_id, const char *sale_id, int64_t use_no,
                                   int *ret_found)
{
    sqlite3_stmt *s = stmt(st, S_RED_RESTORE);
    bind_text(s, 1, coupon_id);
    bind_text(s, 2, sale_id);
    sqlite3_bind_int64(s, 3, use_no);
    bind_text(s, 4, ev->store);
    sqlite3_bind_int64(s, 5, ev->at);
    if (run(s) != ML_OK)
        return ML_STORAGE;
    *ret_found = sqlite3_changes(st->db) > 0;
    return ML_OK;
}

ml_err hq_store_note_rejected(struct hq_store *st, const char *store, const char *terminal,
                              const char *reason, const char *event_id, int64_t now_ms)
{
    sqlite3_stmt *s = stmt(st, S_REJ_UPSERT);
    bind_text(s, 1, store);
    bind_text(s, 2, terminal);
    bind_text(s, 3, reason);
    bind_text(s, 4, event_id);
    sqlite3_bind_int64(s, 5, now_ms);
    return run(s);
}

ml_err hq_store_terminal_max_seq(struct hq_store *st, const char *store, const char *terminal,
                                 int64_t *ret_max_seq)
{
    sqlite3_stmt *s = stmt(st, S_TERM_MAX);
    bind_text(s, 1, store);
    bind_text(s, 2, terminal);
    int rc = sqlite3_step(s);
    *ret_max_seq = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}

ml_err hq_store_count_terminal(struct hq_store *st, const char *store, const char *terminal,
                               int64_t max_seq, int64_t received, int64_t now_ms)
{
    sqlite3_stmt *s = stmt(st, S_TERM_UPSERT);
    bind_text(s, 1, store);
    bind_text(s, 2, terminal);
    sqlite3_bind_int64(s, 3, max_seq);
    sqlite3_bind_int64(s, 4, received);
    sqlite3_bind_int64(s, 5, now_ms);
    return run(s);
}

ml_err hq_store_refresh_terminal(struct hq_store *st, const char *store, const char *terminal,
                                 struct hq_seq_state *ret_before, struct hq_seq_state *ret_after)
{
    struct hq_seq_state before;
    sqlite3_stmt *s = stmt(st, S_TERM_GET);
    bind_text(s, 1, store);
    bind_text(s, 2, terminal);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return rc == SQLITE_DONE ? ML_NOENTRY : ML_STORAGE;
    }
    before.next_seq = sqlite3_column_int64(s, 0);
    before.max_seq = sqlite3_column_int64(s, 1);
    before.received = sqlite3_column_int64(s, 2);
    before.gaps = sqlite3_column_int64(s, 3);
    sqlite3_reset(s);

    /* Each seq is stepped over once in the terminal's life: amortised O(1) per event, in
     * one ordered index scan (a reused seq shows twice and is passed over). */
    struct hq_seq_state after = before;
    s = stmt(st, S_EV_SEQ_FROM);
    bind_text(s, 1, store);
    bind_text(s, 2, terminal);
    sqlite3_bind_int64(s, 3, after.next_seq);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(s, 0);
        if (seq == after.next_seq)
            after.next_seq++;
        else if (seq > after.next_seq)
            break;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ML_STORAGE;
    after.gaps = after.max_seq - after.received;
    if (after.next_seq != before.next_seq || after.gaps != before.gaps) {
        s = stmt(st, S_TERM_SET);
        bind_text(s, 1, store);
        bind_text(s, 2, terminal);
        sqlite3_bind_int64(s, 3, after.next_seq);
        sqlite3_bind_int64(s, 4, after.gaps);
        if (run(s) != ML_OK)
            return ML_STORAGE;
    }
    *ret_before = before;
    *ret_after = after;
    return ML_OK;
}

/* ---- outgoing signed messages --------------------------------------------------------- */

/* Steps a statement that returns one integer row; resets it. */
static ml_err one_int(sqlite3_stmt *s, int64_t *ret, int64_t *ret2)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *ret = sqlite3_column_int64(s, 0);
        if (ret2 != NULL)
            *ret2 = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? ML_OK : ML_STORAGE;
}

ml_err hq_store_last_cursor(struct hq_store *st, const char *store, int64_t *ret_cursor)
{
    sqlite3_stmt *s = stmt(st, S_OUT_LAST_CURSOR);
    bind_text(s, 1, store);
    return one_int(s, ret_cursor, NULL);
}

ml_err hq_store_last_version(struct hq_store *st, const char *entity, int64_t *ret_version)
{
    sqlite3_stmt *s = stmt(st, S_OUT_LAST_VERSION);
    bind_text(s, 1, entity);
    return one_int(s, ret_version, NULL);
}

ml_err hq_store_last_version_at(struct hq_store *st, const char *store, const char *entity,
                                int64_t *ret_version)
{
    sqlite3_stmt *s = stmt(st, S_OUT_LAST_VERSION_AT);
    bind_text(s, 1, entity);
    bind_text(s, 2, store);
    return one_int(s, ret_version, NULL);
}

ml_err hq_store_put_outgoing(struct hq_store *st, const struct hq_outgoing *m)
{
    sqlite3_stmt *s = stmt(st, S_OUT_INSERT);
    bind_text(s, 1, m->store);
    sqlite3_bind_int64(s, 2, m->cursor);
    bind_text(s, 3, m->id);
    bind_text(s, 4, m->kind);
    bind_text(s, 5, m->entity);
    sqlite3_bind_int64(s, 6, m->version);
    bind_text(s, 7, m->topic);
    bind_text(s, 8, m->text);
    sqlite3_bind_int64(s, 9, m->issued);
    sqlite3_bind_int64(s, 10, m->expires);
    return run(s);
}

ml_err hq_store_campaign_version(struct hq_store *st, const char *campaign_id, int64_t *ret_version)
{
    sqlite3_stmt *s = stmt(st, S_CAMP_VERSION);
    bind_text(s, 1, campaign_id);
    int rc = sqlite3_step(s);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ML_STORAGE;
    *ret_version = v;
    return ML_OK;
}

ml_err hq_store_live_campaigns(struct hq_store *st, int64_t now_ms, const char *except,
                               int64_t *ret_count, int64_t *ret_bytes)
{
    sqlite3_stmt *s = stmt(st, S_CAMP_LIVE);
    sqlite3_bind_int64(s, 1, now_ms);
    bind_text(s, 2, except);
    return one_int(s, ret_count, ret_bytes);
}

ml_err hq_store_put_campaign(struct hq_store *st, const char *campaign_id,
                             const struct hq_outgoing *m)
{
    sqlite3_stmt *s = stmt(st, S_CAMP_UPSERT);
    bind_text(s, 1, campaign_id);
    sqlite3_bind_int64(s, 2, m->version);
    bind_text(s, 3, m->id);
    bind_text(s, 4, m->topic);
    bind_text(s, 5, m->text);
    sqlite3_bind_int64(s, 6, m->issued);
    sqlite3_bind_int64(s, 7, m->expires);
    return run(s);
}

ml_err hq_store_mark_published(struct hq_store *st, const char *id, int64_t now_ms)
{
    sqlite3_stmt *s = stmt(st, S_OUT_PUBLISHED);
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, now_ms);
    if (run(s) != ML_OK)
        return ML_STORAGE;
    s = stmt(st, S_CAMP_PUBLISHED);
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, now_ms);
    return run(s);
}
