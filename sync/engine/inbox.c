/* inbox: verify and apply signed HQ messages; see inbox.h. */
#include "inbox.h"

#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "hlc.h"
#include "jsonutil.h"
#include "log.h"
#include "outbox.h"
#include "state.h"
#include "topic.h"

struct inbox {
    struct db *db;
    const struct sign_keyring *keys;
    const struct inbox_site *site;
    int64_t (*now_ms)(void);
    const struct inbox_handler *h;
    struct inbox_stats stats;
    char topic_inbox[TOPIC_MAX], topic_time[TOPIC_MAX];
};

ml_err inbox_new(struct db *db, const struct sign_keyring *keys, const struct inbox_site *site,
                 int64_t (*now_ms)(void), const struct inbox_handler *h, struct inbox **ret)
{
    struct inbox *ib = calloc(1, sizeof(*ib));
    if (ib == NULL)
        return ML_NOMEM;
    ib->db = db;
    ib->keys = keys;
    ib->site = site;
    ib->now_ms = now_ms;
    ib->h = h;
    topic_inbox(ib->topic_inbox, sizeof(ib->topic_inbox), site->brand, site->store);
    topic_time(ib->topic_time, sizeof(ib->topic_time), site->brand);
    *ret = ib;
    return ML_OK;
}

void inbox_free(struct inbox *ib)
{
    free(ib);
}

const struct inbox_stats *inbox_stats(const struct inbox *ib)
{
    return &ib->stats;
}

int64_t inbox_cursor(struct db *db)
{
    int64_t c = 0;
    if (state_get_i64(db, "inbox_cursor", 0, &c) != ML_OK)
        return -1;
    return c;
}

/* Records the refusal for HQ (security.rejected) in its own transaction. */
static ml_err reject(struct inbox *ib, const char *topic, const cJSON *msg,
                     const struct ml_refusal *r)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(msg, "kind");
    char idbuf[SIGN_ID_MAX + 1] = "", kindbuf[SIGN_KIND_MAX + 1] = "";
    if (cJSON_IsString(id))
        snprintf(idbuf, sizeof(idbuf), "%s", id->valuestring);
    if (cJSON_IsString(kind))
        snprintf(kindbuf, sizeof(kindbuf), "%s", kind->valuestring);
    log_warn("hq message %s (%s) on %s refused: %s: %s", idbuf[0] ? idbuf : "?",
             kindbuf[0] ? kindbuf : "?", topic, r->code, r->message);
    cJSON *ev = cJSON_CreateObject();
    if (ev == NULL)
        return ML_NOMEM;
    if (idbuf[0] && json_utf8_valid(idbuf))
        cJSON_AddStringToObject(ev, "message_id", idbuf);
    else
        cJSON_AddNullToObject(ev, "message_id");
    if (kindbuf[0] && json_utf8_valid(kindbuf))
        cJSON_AddStringToObject(ev, "kind", kindbuf);
    else
        cJSON_AddNullToObject(ev, "kind");
    cJSON_AddStringToObject(ev, "topic", topic);
    cJSON_AddStringToObject(ev, "code", r->code);
    cJSON_AddStringToObject(ev, "reason", r->message);
    if (db_savepoint(ib->db) != ML_OK) {
        cJSON_Delete(ev);
        return ML_STORAGE;
    }
    if (outbox_append(ib->db, ib->site->store, ib->site->terminal, ib->now_ms(),
                      "security.rejected", ev) != ML_OK ||
        db_release(ib->db) != ML_OK) {
        db_undo(ib->db);
        return ML_STORAGE;
    }
    return ML_OK;
}

static int already_applied(struct db *db, const char *id)
{
    static const char sql[] = "SELECT 1 FROM inbox_applied WHERE message_id = ?1";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return -1;
    db_bind_text(db, s, 1, id);
    int rc = db_step(db, s);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static ml_err mark_applied(struct db *db, const char *id, const char *kind, int64_t version,
                           int64_t now)
{
    static const char sql[] = "INSERT INTO inbox_applied (message_id, kind, version, applied_at) "
                              "VALUES (?1, ?2, ?3, ?4)";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, id);
    db_bind_text(db, s, 2, kind);
    db_bind_i64(db, s, 3, version);
    db_bind_i64(db, s, 4, now);
    return db_run(db, s);
}

/* Handles text received on topic; `parsed` (NULL: parse text here) is text already parsed,
 * and is freed here. */
static ml_err handle(struct inbox *ib, const char *topic, const char *text, size_t len,
                     cJSON *parsed, enum inbox_result *ret)
{
    struct db *db = ib->db;
    struct inbox_stats *stats = &ib->stats;
    struct ml_refusal r = {0};
    int per_store = strcmp(topic, ib->topic_inbox) == 0;
    int campaign = topic_campaign_id(topic, ib->site->brand) != NULL;
    int beacon = strcmp(topic, ib->topic_time) == 0;
    cJSON *msg = parsed;
    ml_err err = ML_OK;

    if (len > INBOX_MSG_MAX) {
        ml_refuse(&r, ML_LIMIT, 413, "msg_too_large", "message of %zu bytes, past %d", len,
                  INBOX_MSG_MAX);
        goto rejected;
    }
    if (!per_store && !campaign && !beacon) {
        ml_refuse(&r, ML_REFUSED, 403, "msg_wrong_topic", "not a topic of this store");
        goto rejected;
    }
    if (msg == NULL && (msg = json_parse_bounded(text, len, &r)) == NULL) {
        ml_refuse(&r, ML_PARSE, 400, "msg_malformed", "not one JSON object");
        goto rejected;
    }
    /* Signature over the topic, expiry: sign.c. */
    if (sign_verify(ib->keys, topic, msg, ib->now_ms(), &r) != ML_OK)
        goto rejected;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(msg, "kind");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
    const char *store_id = NULL;
    int64_t cursor = -1, version = 0;
    if (json_str(msg, "store", 1, 64, &store_id, &r) != ML_OK ||
        json_i64(msg, "cursor", 1, 0, JSON_INT_MAX, &cursor, &r) != ML_OK ||
        json_i64(msg, "version", 1, 1, JSON_INT_MAX, &version, &r) != ML_OK) {
        char why[ML_REFUSAL_MSG_MAX];
        snprintf(why, sizeof(why), "%s", r.message); /* not formatted into itself */
        ml_refuse(&r, ML_PARSE, 400, "msg_malformed", "%s", why);
        goto rejected;
    }
    /* Signed, but meant for someone else: a campaign is brand-wide, the rest per store. */
    if ((per_store && (strcmp(store_id, ib->site->store) != 0 || cursor < 1)) ||
        (campaign && (strcmp(store_id, "*") != 0 || cursor != 0 ||
                      (strcmp(kind->valuestring, "campaign.upsert") != 0 &&
                       strcmp(kind->valuestring, "campaign.withdraw") != 0))) ||
        (beacon && (strcmp(store_id, "*") != 0 || cursor != 0 ||
                    strcmp(kind->valuestring, "hq.time") != 0)) ||
        (!beacon && strcmp(kind->valuestring, "hq.time") == 0)) {
        ml_refuse(&r, ML_REFUSED, 403, "msg_wrong_topic",
                  "store '%s' / cursor %lld / kind %s do not belong on %s", store_id,
                  (long long)cursor, kind->valuestring, topic);
        goto rejected;
    }

    const cJSON *issued = cJSON_GetObjectItemCaseSensitive(msg, "issued");
    if (beacon) {
        /* HQ's time: the terminal's trusted clock and HQ contact. Nothing else to apply, and
         * nothing kept per message (one arrives every 30 s). */
        if ((err = db_savepoint(db)) != ML_OK)
            goto out;
        if ((err = ib->h->hq_time(ib->h->arg, (int64_t)issued->valuedouble)) != ML_OK)
            goto abort;
        if ((err = hlc_observe(db, (int64_t)issued->valuedouble, ib->now_ms())) != ML_OK ||
            (err = db_release(db)) != ML_OK)
            goto abort;
        *ret = INBOX_APPLIED;
        stats->beacons++;
        goto out;
    }
    if ((err = db_savepoint(db)) != ML_OK)
        goto out;
    int seen = already_applied(db, id->valuestring);
    int64_t last = per_store ? inbox_cursor(db) : 0;
    if (seen < 0 || last < 0) {
        err = ML_STORAGE;
        goto abort;
    }
    if (seen || (per_store && cursor <= last)) {
        db_undo(db);
        *ret = INBOX_DUPLICATE;
        stats->duplicates++;
        goto out;
    }
    if (per_store && cursor > last + 1) {
        db_undo(db);
        *ret = INBOX_GAP;
        stats->gaps++;
        goto out;
    }
    int applied = 0;
    struct ml_refusal fr = {0};
    err = ib->h->apply(ib->h->arg, kind->valuestring, body, &applied, &fr);
    if (err == ML_STORAGE || err == ML_NOMEM)
        goto abort;
    if (err != ML_OK) {
        /* HQ signed something this agent cannot apply (an unknown kind, a body it refuses).
         * The cursor still moves on, so one bad fact does not stop the stream; HQ hears of
         * it through security.rejected. */
        log_warn("hq message %s (%s) cannot be applied: %s", id->valuestring, kind->valuestring,
                 fr.message);
    } else if (!applied) {
        /* Verified, but what it says is older than what is here (a newer version arrived
         * first, or an old message is replayed under the cursor): the newer state stays. */
        ml_refuse(&fr, ML_REFUSED, 409, "msg_old_version",
                  "version %lld is not newer than what this store holds", (long long)version);
    }
    /* HQ's stamp moves this terminal's clock forward if HQ is ahead. */
    if ((err = mark_applied(db, id->valuestring, kind->valuestring, version, ib->now_ms())) !=
            ML_OK ||
        (err = hlc_observe(db, (int64_t)issued->valuedouble, ib->now_ms())) != ML_OK ||
        (per_store && (err = state_set_i64(db, "inbox_cursor", cursor)) != ML_OK) ||
        (err = db_release(db)) != ML_OK)
        goto abort;
    if (fr.code != NULL) {
        r = fr;
        if (strcmp(fr.code, "msg_old_version") != 0)
            ml_refuse(&r, ML_REFUSED, 422, "msg_not_applicable", "%s: %s", fr.code, fr.message);
        goto rejected;
    }
    *ret = INBOX_APPLIED;
    stats->applied++;
    goto out;

abort:
    db_undo(db);
    goto out;
rejected:
    *ret = INBOX_REJECTED;
    stats->rejected++;
    if (beacon && strcmp(r.code, "msg_expired") == 0) {
        /* A beacon that came late (QoS 0, 2 min lifetime) or a wall clock set wrong: not an
         * attack, and one arrives every 30 s, so it is not reported to HQ. */
        log_debug("hq time beacon on %s refused: %s", topic, r.message);
        goto out;
    }
    err = reject(ib, topic, msg, &r);
out:
    cJSON_Delete(msg);
    return err;
}

ml_err inbox_handle(struct inbox *ib, const char *topic, const char *text, size_t len,
                    enum inbox_result *ret)
{
    return handle(ib, topic, text, len, NULL, ret);
}

ml_err inbox_handle_line(struct inbox *ib, const char *text, size_t len, enum inbox_result *ret)
{
    char topic[TOPIC_MAX];
    cJSON *msg = len <= INBOX_MSG_MAX ? json_parse_bounded(text, len, NULL) : NULL;
    const cJSON *store = cJSON_GetObjectItemCaseSensitive(msg, "store");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(msg, "kind");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(body, "campaign_id");
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "hq.time") == 0)
        snprintf(topic, sizeof(topic), "%s", ib->topic_time);
    else if (cJSON_IsString(store) && strcmp(store->valuestring, "*") == 0 && cJSON_IsString(cid) &&
             strlen(cid->valuestring) <= TOPIC_ID_MAX)
        topic_campaign(topic, sizeof(topic), ib->site->brand, cid->valuestring);
    else
        snprintf(topic, sizeof(topic), "%s", ib->topic_inbox);
    return handle(ib, topic, text, len, msg, ret);
}
