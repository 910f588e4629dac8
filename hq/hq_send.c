/* hq_send: sign, store, publish and print the messages of a push; see hq_send.h. */
#include "hq_send.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "clock.h"
#include "hq_cli.h"
#include "hq_key.h"
#include "hq_outgoing.h"
#include "hq_push.h"
#include "hq_settle.h"

#define HQ_DB_PATH_MAX (HQ_CONFIG_PATH_MAX + 16)

static void db_path(const struct hq_config *cfg, char out[HQ_DB_PATH_MAX])
{
    snprintf(out, HQ_DB_PATH_MAX, "%s/hq.db", cfg->data_dir);
}

int hq_send_open(const struct hq_config *cfg, struct hq_store **ret)
{
    char path[HQ_DB_PATH_MAX], errbuf[512];
    if (hq_make_dirs(cfg->data_dir) != 0) {
        fprintf(stderr, "memberlink-hq: %s: cannot create data_dir: %s\n", cfg->data_dir,
                strerror(errno));
        return HQ_EXIT_RUNTIME;
    }
    db_path(cfg, path);
    ml_err err = hq_store_open(path, HQ_STORE_READWRITE, ret, errbuf, sizeof(errbuf));
    if (err != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf);
        return err == ML_CONFIG ? HQ_EXIT_USAGE : HQ_EXIT_RUNTIME;
    }
    return HQ_EXIT_OK;
}

/* Where a body came from, for an error message. */
static const char *where(const struct hq_send_job *j, size_t i, char *buf, size_t len)
{
    if (j->bodies->line[i] > 0)
        snprintf(buf, len, "%s:%d", j->source, j->bodies->line[i]);
    else if (j->bodies->n > 1)
        snprintf(buf, len, "%s: element %zu", j->source, i + 1);
    else
        snprintf(buf, len, "%s", j->source);
    return buf;
}

static int refusal_exit(ml_err err)
{
    return err == ML_STORAGE || err == ML_NOMEM || err == ML_FAILURE ? HQ_EXIT_RUNTIME
                                                                     : HQ_EXIT_USAGE;
}

/* Records the broker's acknowledgements; a failure here only means a later republish. */
static void mark_published(struct hq_store *st, const struct hq_pub_item *items,
                           const char *const *ids, size_t n)
{
    int64_t now = clock_wall_ms();
    if (hq_store_begin(st) != ML_OK)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (items[i].acked && hq_outgoing_mark_published(st, ids[i], now) != ML_OK) {
            hq_store_rollback(st);
            goto fail;
        }
    if (hq_store_commit(st) != ML_OK) {
        hq_store_rollback(st);
        goto fail;
    }
    return;
fail:
    fprintf(stderr, "memberlink-hq: warning: cannot record what was published: %s\n",
            hq_store_errmsg(st));
}

size_t hq_send_publish(const struct hq_config *cfg, struct hq_store *st, struct hq_pub_item *items,
                       const char *const *ids, size_t n, int any_campaign)
{
    char errbuf[512] = "";
    if (n == 0)
        return 0;
    ml_err err = hq_pub_send(cfg, items, n, errbuf, sizeof(errbuf));
    size_t acked = 0;
    for (size_t i = 0; i < n; i++)
        acked += items[i].acked != 0;
    if (acked > 0)
        mark_published(st, items, ids, n);
    if (err != ML_OK)
        fprintf(stderr,
                "memberlink-hq: warning: mqtt %s:%u: %s; %zu of %zu messages published. All are "
                "stored: stores fetch them over HTTP catch-up%s, and `memberlink-hq republish` "
                "sends the rest once the broker is back\n",
                cfg->mqtt_host, (unsigned)cfg->mqtt_port, errbuf, acked, n,
                any_campaign ? " (campaigns only on a first start)" : "");
    return acked;
}

int hq_send_run(const struct hq_config *cfg, const struct hq_send_job *j)
{
    int result = HQ_EXIT_RUNTIME;
    EVP_PKEY *key = NULL;
    char kid[SIGN_KID_MAX + 1], errbuf[512], loc[HQ_CONFIG_PATH_MAX + 64];
    struct hq_store *st = NULL;
    struct hq_push *p = NULL;
    struct hq_pub_item *items = NULL;
    const char **ids = NULL;
    struct ml_refusal r = {0};
    ml_err err;

    if ((err = hq_key_load(cfg->data_dir, &key, kid, errbuf, sizeof(errbuf))) != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf);
        return err == ML_FAILURE ? HQ_EXIT_RUNTIME : HQ_EXIT_USAGE;
    }
    if ((result = hq_send_open(cfg, &st)) != HQ_EXIT_OK)
        goto out;
    result = HQ_EXIT_RUNTIME;
    if (hq_push_new(st, cfg->brand, key, kid, clock_wall_ms(), &p) != ML_OK) {
        fprintf(stderr, "memberlink-hq: out of memory\n");
        goto out;
    }
    if (hq_push_begin(p) != ML_OK) {
        fprintf(stderr, "memberlink-hq: database: %s\n", hq_store_errmsg(st));
        goto out;
    }
    for (size_t i = 0; i < j->bodies->n; i++) {
        cJSON *body = j->bodies->v[i];
        struct hq_prepared prep;
        if (j->campaign && strcmp(j->kind, "campaign.withdraw") == 0)
            err = hq_push_campaign_withdraw(
                p, cJSON_GetObjectItemCaseSensitive(body, "campaign_id")->valuestring, &r);
        else if (j->campaign)
            err = hq_push_campaign(p, body, &r);
        else
            err = hq_push_prepare(p, j->kind, body, cfg->has_phone_key ? cfg->phone_key : NULL,
                                  &prep, &r);
        /* Settlement judges a grant's later redemptions by the terms it was sent with. */
        if (err == ML_OK && strcmp(j->kind, "coupon.grant") == 0 &&
            (err = hq_settle_note_grant(st, body)) != ML_OK)
            ml_refuse(&r, err, 503, "storage_error", "database: %s", hq_store_errmsg(st));
        for (size_t s = 0; err == ML_OK && !j->campaign && s < j->nstores; s++)
            err = hq_push_to_store(p, j->stores[s], body, &prep, &r);
        if (err != ML_OK) {
            fprintf(stderr, "memberlink-hq: %s: %s; nothing was sent\n",
                    where(j, i, loc, sizeof(loc)), r.message[0] ? r.message : ml_strerror(err));
            result = refusal_exit(err);
            goto out;
        }
    }
    if (hq_push_commit(p) != ML_OK) {
        fprintf(stderr, "memberlink-hq: database: %s; nothing was sent\n", hq_store_errmsg(st));
        goto out;
    }

    size_t total = hq_push_count(p), n = 0, skipped = 0;
    items = calloc(total ? total : 1, sizeof(*items));
    ids = calloc(total ? total : 1, sizeof(*ids));
    if (items == NULL || ids == NULL) {
        fprintf(stderr, "memberlink-hq: out of memory (the messages are stored; run "
                        "`memberlink-hq republish`)\n");
        goto out;
    }
    for (size_t i = 0; i < total; i++) {
        struct hq_push_msg *m = hq_push_msg(p, i);
        if (m->skipped)
            continue;
        items[n] = (struct hq_pub_item){
            .topic = m->topic, .text = m->text, .len = m->len, .retain = m->retain};
        ids[n++] = m->id;
    }
    size_t acked = hq_send_publish(cfg, st, items, ids, n, j->campaign);

    for (size_t i = 0, k = 0; i < total; i++) {
        const struct hq_push_msg *m = hq_push_msg(p, i);
        if (m->skipped) {
            skipped++;
            printf("skipped    %-8s %-16s %s version %" PRId64 " (already sent at this or a newer "
                   "version)\n",
                   m->store, m->kind, m->entity, m->version);
            continue;
        }
        const char *state = items[k++].acked ? "published" : "stored";
        if (m->retain)
            printf("%-10s %s (retained) %s %s version %" PRId64 " id %s\n", state, m->topic,
                   m->kind, m->entity, m->version, m->id);
        else
            printf("%-10s %-8s cursor %-6" PRId64 " %-16s %s version %" PRId64 " id %s\n", state,
                   m->store, m->cursor, m->kind, m->entity, m->version, m->id);
    }
    printf("%zu stored, %zu published, %zu skipped\n", n, acked, skipped);
    result = fflush(stdout) == 0 ? HQ_EXIT_OK : HQ_EXIT_RUNTIME;
out:
    free(items);
    free(ids);
    hq_push_free(p);
    hq_store_close(st);
    EVP_PKEY_free(key);
    return result;
}
