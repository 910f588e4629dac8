/*
 * hq_push: sign and store messages to stores in one transaction; see hq_push.h. The
 * message's topic is inside what is signed, so a per-store message is signed once per
 * store, each with its own id and cursor.
 */
#include "hq_push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "hq_config.h"
#include "hq_outgoing.h"
#include "jsonutil.h"
#include "phone.h"
#include "topic.h"
#include "uuid.h"

struct hq_push {
    struct hq_store *st;
    char brand[HQ_CONFIG_ID_MAX + 1];
    EVP_PKEY *key;
    char kid[SIGN_KID_MAX + 1];
    int64_t now_ms;
    int in_tx;
    struct hq_push_msg *msgs;
    size_t n, cap;
};

ml_err hq_push_new(struct hq_store *st, const char *brand, EVP_PKEY *key, const char *kid,
                   int64_t now_ms, struct hq_push **ret_push)
{
    struct hq_push *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return ML_NOMEM;
    p->st = st;
    snprintf(p->brand, sizeof(p->brand), "%s", brand);
    p->key = key;
    snprintf(p->kid, sizeof(p->kid), "%s", kid);
    p->now_ms = now_ms;
    *ret_push = p;
    return ML_OK;
}

void hq_push_free(struct hq_push *p)
{
    if (p == NULL)
        return;
    if (p->in_tx)
        hq_store_rollback(p->st);
    for (size_t i = 0; i < p->n; i++)
        free(p->msgs[i].text);
    free(p->msgs);
    free(p);
}

ml_err hq_push_begin(struct hq_push *p)
{
    if (hq_store_begin(p->st) != ML_OK)
        return ML_STORAGE;
    p->in_tx = 1;
    return ML_OK;
}

ml_err hq_push_commit(struct hq_push *p)
{
    p->in_tx = 0;
    if (hq_store_commit(p->st) != ML_OK) {
        hq_store_rollback(p->st);
        return ML_STORAGE;
    }
    return ML_OK;
}

size_t hq_push_count(const struct hq_push *p)
{
    return p->n;
}

struct hq_push_msg *hq_push_msg(struct hq_push *p, size_t i)
{
    return i < p->n ? &p->msgs[i] : NULL;
}

/* A new zeroed entry at the end; NULL with r filled at the limit or out of memory. */
static struct hq_push_msg *add_msg(struct hq_push *p, struct ml_refusal *r)
{
    if (p->n >= HQ_PUSH_MESSAGES_MAX) {
        ml_refuse(r, ML_LIMIT, 400, "too_many_messages",
                  "more than %d messages in one push; split the input", HQ_PUSH_MESSAGES_MAX);
        return NULL;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct hq_push_msg *m = realloc(p->msgs, cap * sizeof(*m));
        if (m == NULL) {
            ml_refuse(r, ML_NOMEM, 500, "out_of_memory", "out of memory");
            return NULL;
        }
        p->msgs = m;
        p->cap = cap;
    }
    struct hq_push_msg *m = &p->msgs[p->n++];
    memset(m, 0, sizeof(*m));
    return m;
}

/* Drops the last entry (a message that could not be built). */
static void drop_last(struct hq_push *p)
{
    free(p->msgs[p->n - 1].text);
    p->n--;
}

static ml_err storage(struct hq_push *p, struct ml_refusal *r)
{
    return ml_refuse(r, ML_STORAGE, 503, "storage_error", "database: %s", hq_store_errmsg(p->st));
}

/*
 * Builds, signs and prints the message for m (topic, kind, version, store, cursor set)
 * with a copy of body. Sets m->id, m->text, m->len.
 */
static ml_err build(struct hq_push *p, struct hq_push_msg *m, int64_t expires, const cJSON *body,
                    struct ml_refusal *r)
{
    ml_err result = ML_NOMEM;
    cJSON *msg = cJSON_CreateObject();
    cJSON *b = cJSON_Duplicate(body, 1);
    uuid_v7(p->now_ms, m->id);
    if (msg == NULL || b == NULL || json_add_i64(msg, "v", 1) == NULL ||
        cJSON_AddStringToObject(msg, "id", m->id) == NULL ||
        cJSON_AddStringToObject(msg, "kind", m->kind) == NULL ||
        json_add_i64(msg, "version", m->version) == NULL ||
        json_add_i64(msg, "issued", p->now_ms) == NULL ||
        json_add_i64(msg, "expires", expires) == NULL ||
        cJSON_AddStringToObject(msg, "store", m->store) == NULL ||
        json_add_i64(msg, "cursor", m->cursor) == NULL) {
        cJSON_Delete(b);
        goto out;
    }
    cJSON_AddItemToObject(msg, "body", b);
    result = sign_message(p->key, p->kid, m->topic, msg);
    if (result == ML_PARSE) {
        ml_refuse(r, ML_PARSE, 400, "invalid_request",
                  "the message cannot be signed: the body nests too deep or holds a number that "
                  "is not an exact integer");
        goto out;
    }
    if (result != ML_OK) {
        ml_refuse(r, result, 500, "sign_failed", "signing failed: %s", ml_strerror(result));
        goto out;
    }
    if ((m->text = canon_json(msg)) == NULL) {
        result = ML_NOMEM;
        goto out;
    }
    m->len = strlen(m->text);
    if (m->len > HQ_MSG_TEXT_MAX) {
        result = ml_refuse(r, ML_LIMIT, 400, "message_too_large",
                           "%s %s: the signed message has %zu bytes, over the %d-byte limit",
                           m->kind, m->entity, m->len, HQ_MSG_TEXT_MAX);
        goto out;
    }
    result = ML_OK;
out:
    if (result == ML_NOMEM)
        ml_refuse(r, ML_NOMEM, 500, "out_of_memory", "out of memory");
    cJSON_Delete(msg);
    return result;
}

/* The version for a body without one: now, or past the last version sent. */
static ml_err fresh_version(struct hq_push *p, const char *entity, int64_t *ret)
{
    int64_t last = 0;
    if (hq_outgoing_last_version(p->st, entity, &last) != ML_OK)
        return ML_STORAGE;
    *ret = last >= p->now_ms ? last + 1 : p->now_ms;
    return ML_OK;
}

ml_err hq_push_prepare(struct hq_push *p, const char *kind, cJSON *body, const uint8_t *phone_key,
                       struct hq_prepared *ret, struct ml_refusal *r)
{
    char entity[HQ_ENTITY_MAX + 1];
    int64_t version = 0;
    ml_err err;
    if (!fact_per_store(kind))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "'%s' is not a per-store kind", kind);
    if (!cJSON_IsObject(body))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "a %s body must be a JSON object",
                         kind);
    if (strcmp(kind, "member.upsert") == 0 && (err = phone_key_fact(body, phone_key, r)) != ML_OK)
        return err;
    if ((err = hq_fact_check(kind, body, entity, &version, r)) != ML_OK)
        return err;
    if (version == 0) {
        if (fresh_version(p, entity, &version) != ML_OK)
            return storage(p, r);
        if (json_add_i64(body, "version", version) == NULL)
            return ml_refuse(r, ML_NOMEM, 500, "out_of_memory", "out of memory");
    }
    snprintf(ret->kind, sizeof(ret->kind), "%s", kind);
    snprintf(ret->entity, sizeof(ret->entity), "%s", entity);
    ret->version = version;
    return ML_OK;
}

ml_err hq_push_time_beacon(const char *brand, EVP_PKEY *key, const char *kid, int64_t now_ms,
                           struct hq_push_msg *ret)
{
    struct hq_push p = {.key = key, .now_ms = now_ms};
    struct ml_refusal r = {0};
    snprintf(p.kid, sizeof(p.kid), "%s", kid);
    memset(ret, 0, sizeof(*ret));
    snprintf(ret->store, sizeof(ret->store), "*");
    snprintf(ret->kind, sizeof(ret->kind), "hq.time");
    snprintf(ret->entity, sizeof(ret->entity), "time");
    ret->version = now_ms;
    topic_time(ret->topic, sizeof(ret->topic), brand);
    cJSON *body = cJSON_CreateObject();
    if (body == NULL)
        return ML_NOMEM;
    ml_err err = build(&p, ret, now_ms + HQ_TIME_TTL_MS, body, &r);
    cJSON_Delete(body);
    if (err != ML_OK) {
        free(ret->text);
        ret->text = NULL;
    }
    return err;
}

void hq_push_truncate(struct hq_push *p, size_t n)
{
    while (p->n > n)
        drop_last(p);
}

ml_err hq_push_to_store(struct hq_push *p, const char *store, const cJSON *body,
                        const struct hq_prepared *prep, struct ml_refusal *r)
{
    int64_t last = 0, cursor = 0;
    ml_err err;
    if (prep->version == 0 || !inifile_valid_id(store, HQ_CONFIG_ID_MAX))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         prep->version == 0 ? "the body is not prepared (hq_push_prepare)"
                                            : "a store id is 1-32 characters of [A-Za-z0-9_-]");
    struct hq_push_msg *m = add_msg(p, r);
    if (m == NULL)
        return r->code && strcmp(r->code, "out_of_memory") == 0 ? ML_NOMEM : ML_LIMIT;
    snprintf(m->store, sizeof(m->store), "%s", store);
    snprintf(m->kind, sizeof(m->kind), "%s", prep->kind);
    snprintf(m->entity, sizeof(m->entity), "%s", prep->entity);
    m->version = prep->version;
    topic_inbox(m->topic, sizeof(m->topic), p->brand, store);
    if (hq_outgoing_last_version_at(p->st, store, prep->entity, &last) != ML_OK ||
        hq_outgoing_last_cursor(p->st, store, &cursor) != ML_OK) {
        drop_last(p);
        return storage(p, r);
    }
    if (last >= prep->version) {
        m->skipped = 1;
        return ML_OK;
    }
    m->cursor = cursor + 1;
    if ((err = build(p, m, p->now_ms + HQ_MSG_TTL_MS, body, r)) != ML_OK) {
        drop_last(p);
        return err;
    }
    struct hq_outgoing o = {.store = store,
                            .cursor = m->cursor,
                            .id = m->id,
                            .kind = m->kind,
                            .entity = m->entity,
                            .version = m->version,
                            .topic = m->topic,
                            .text = m->text,
                            .issued = p->now_ms,
                            .expires = p->now_ms + HQ_MSG_TTL_MS};
    if (hq_outgoing_put(p->st, &o) != ML_OK) {
        drop_last(p);
        return storage(p, r);
    }
    return ML_OK;
}

/* A campaign.upsert or campaign.withdraw as the campaign's current, retained message. */
static ml_err campaign_msg(struct hq_push *p, const char *kind, cJSON *body, struct ml_refusal *r)
{
    char entity[HQ_ENTITY_MAX + 1];
    int64_t version = 0, current = 0, live = 0, live_bytes = 0, valid_to = 0;
    ml_err err = hq_fact_check(kind, body, entity, &version, r);
    if (err != ML_OK)
        return err;
    const char *id = cJSON_GetObjectItemCaseSensitive(body, "campaign_id")->valuestring;
    if (cJSON_GetObjectItemCaseSensitive(body, "valid_to") != NULL)
        (void)json_i64(body, "valid_to", 1, 0, HQ_VERSION_MAX, &valid_to, r);
    if (hq_outgoing_campaign_version(p->st, id, &current) != ML_OK ||
        hq_outgoing_live_campaigns(p->st, p->now_ms, id, &live, &live_bytes) != ML_OK)
        return storage(p, r);
    if (current == 0 && strcmp(kind, "campaign.withdraw") == 0)
        return ml_refuse(r, ML_REFUSED, 404, "unknown_campaign",
                         "campaign %s was never pushed from this HQ", id);
    if (version == 0) {
        version = current >= p->now_ms ? current + 1 : p->now_ms;
        if (json_add_i64(body, "version", version) == NULL)
            return ml_refuse(r, ML_NOMEM, 500, "out_of_memory", "out of memory");
    } else if (version <= current) {
        return ml_refuse(r, ML_REFUSED, 409, "version_not_newer",
                         "campaign %s is at version %lld; send a newer version (not %lld)", id,
                         (long long)current, (long long)version);
    }
    if (live + 1 > HQ_CAMPAIGNS_LIVE_MAX)
        return ml_refuse(r, ML_LIMIT, 400, "too_many_campaigns",
                         "%lld unexpired campaigns already; at most %d", (long long)live,
                         HQ_CAMPAIGNS_LIVE_MAX);

    struct hq_push_msg *m = add_msg(p, r);
    if (m == NULL)
        return r->code && strcmp(r->code, "out_of_memory") == 0 ? ML_NOMEM : ML_LIMIT;
    snprintf(m->store, sizeof(m->store), "*");
    snprintf(m->kind, sizeof(m->kind), "%s", kind);
    snprintf(m->entity, sizeof(m->entity), "%s", entity);
    m->version = version;
    m->retain = 1;
    topic_campaign(m->topic, sizeof(m->topic), p->brand, id);
    int64_t expires = p->now_ms + HQ_MSG_TTL_MS;
    if (valid_to > expires)
        expires = valid_to;
    if ((err = build(p, m, expires, body, r)) != ML_OK) {
        drop_last(p);
        return err;
    }
    if (live_bytes + (int64_t)m->len > HQ_CAMPAIGNS_LIVE_BYTES_MAX) {
        drop_last(p);
        return ml_refuse(r, ML_LIMIT, 400, "too_many_campaigns",
                         "unexpired campaigns would hold more than %d bytes together",
                         HQ_CAMPAIGNS_LIVE_BYTES_MAX);
    }
    struct hq_outgoing o = {.store = "*",
                            .cursor = 0,
                            .id = m->id,
                            .kind = m->kind,
                            .entity = entity,
                            .version = version,
                            .topic = m->topic,
                            .text = m->text,
                            .issued = p->now_ms,
                            .expires = expires};
    if (hq_outgoing_put_campaign(p->st, id, &o) != ML_OK) {
        drop_last(p);
        return storage(p, r);
    }
    return ML_OK;
}

ml_err hq_push_campaign(struct hq_push *p, cJSON *body, struct ml_refusal *r)
{
    return campaign_msg(p, "campaign.upsert", body, r);
}

ml_err hq_push_campaign_withdraw(struct hq_push *p, const char *campaign_id, struct ml_refusal *r)
{
    cJSON *body = cJSON_CreateObject();
    if (body == NULL || cJSON_AddStringToObject(body, "campaign_id", campaign_id) == NULL) {
        cJSON_Delete(body);
        return ml_refuse(r, ML_NOMEM, 500, "out_of_memory", "out of memory");
    }
    ml_err err = campaign_msg(p, "campaign.withdraw", body, r);
    cJSON_Delete(body);
    return err;
}
