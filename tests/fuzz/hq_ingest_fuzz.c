/*
 * hq_ingest_fuzz: libFuzzer target for HQ's side of the event stream (docs/protocol.md,
 * "Store → HQ"): hq_ingest_message() (sync/hq/hq_ingest.h) takes the batches stores publish
 * and stores their events and report rows in a real HQ database (sync/hq/hq_store.h),
 * settling coupons redeemed twice (sync/hq/hq_settle.h) with the test key.
 *
 * Input: segments (fuzz_common.h), each one MQTT message. The control byte picks
 *   bits 0-1  the topic: 0 ml/demo/s/S001/T01/ev, 1 .../S002/T02/ev, 2 .../S001/T02/ev,
 *             3 the payload's first line (the rest is the message);
 *   bit 2     group commit: consecutive segments with it set are one group
 *             (hq_ingest_group_begin/commit), as the serve loop does under load;
 *   bit 3     no settlement: coupon conflicts are not booked (as in tools and tests).
 *
 * Besides not crashing, it checks: the outcome is one of those documented (a storage error
 * is a bug here: no payload may make the database refuse a write); an ack is
 * {"v":1,"acked":[ids]} on the terminal's ack topic; the settlement messages HQ signs
 * verify at a store with HQ's key. Each input starts from an empty database: the tables
 * are emptied after it.
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "hq_config.h"
#include "hq_ingest.h"
#include "log.h"
#include "hq_push.h"
#include "hq_settle.h"
#include "hq_store.h"
#include "sign.h"

#define BRAND "demo"
#define TABLES_MAX 32

static const char *const topics[3] = {
    "ml/" BRAND "/s/S001/T01/ev",
    "ml/" BRAND "/s/S002/T02/ev",
    "ml/" BRAND "/s/S001/T02/ev",
};

static struct {
    struct hq_store *st;
    struct hq_ingest *in;
    struct hq_settle *settle;
    struct hq_config cfg;
    struct sign_keyring *kr;
    EVP_PKEY *priv;
    char *tables[TABLES_MAX];
    size_t ntables;
    int verbose; /* FUZZ_VERBOSE set: log and print each outcome */
} fx;

static void close_store(void)
{
    hq_settle_free(fx.settle);
    hq_ingest_free(fx.in);
    hq_store_close(fx.st);
    fx.kr = sign_keyring_free(fx.kr);
    EVP_PKEY_free(fx.priv);
    for (size_t i = 0; i < fx.ntables; i++)
        free(fx.tables[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[600], err[512] = "";
    (void)argc;
    (void)argv;
    fuzz_utc();
    fx.verbose = getenv("FUZZ_VERBOSE") != NULL;
    log_set_level(fx.verbose ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
    fuzz_tmpfile("ml-fuzz-hq-ingest", "hq.db", path, sizeof(path));
    if (hq_store_open(path, HQ_STORE_READWRITE, &fx.st, err, sizeof(err)) != ML_OK) {
        fprintf(stderr, "fuzz: hq_store_open: %s\n", err);
        abort();
    }
    atexit(close_store);
    sqlite3 *db = db_sqlite(hq_store_conn(fx.st));
    sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                           "LIKE 'sqlite_%' ORDER BY name",
                           -1, &s, NULL) != SQLITE_OK)
        abort();
    while (sqlite3_step(s) == SQLITE_ROW && fx.ntables < TABLES_MAX)
        fx.tables[fx.ntables++] = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);

    hq_config_defaults(&fx.cfg);
    snprintf(fx.cfg.brand, sizeof(fx.cfg.brand), BRAND);
    snprintf(fx.cfg.stores[0], sizeof(fx.cfg.stores[0]), "S001");
    snprintf(fx.cfg.stores[1], sizeof(fx.cfg.stores[1]), "S002");
    fx.cfg.nstores = 2;
    fx.priv = fuzz_test_key();
    fx.kr = sign_keyring_new();
    if (fx.kr == NULL || sign_keyring_add(fx.kr, FUZZ_KID, FUZZ_PUB) != ML_OK ||
        hq_ingest_new(fx.st, BRAND, &fx.in) != ML_OK ||
        hq_settle_new(&fx.cfg, fx.priv, FUZZ_KID, &fx.settle) != ML_OK)
        abort();
    return 0;
}

/* What the serve loop publishes after a commit: HQ's signed messages must verify. */
static void publish_settlement(void)
{
    for (size_t i = 0; i < hq_settle_count(fx.settle); i++) {
        struct hq_push_msg *m = hq_settle_msg(fx.settle, i);
        if (m->skipped)
            continue;
        struct ml_refusal r = {0, NULL, ""};
        cJSON *msg = cJSON_ParseWithLength(m->text, m->len);
        fuzz_expect(msg != NULL, "a settlement message parses");
        fuzz_expect(sign_verify(fx.kr, m->topic, msg, FUZZ_NOW_MS, &r) == ML_OK,
                    "a settlement message verifies at the store");
        if (fx.verbose)
            fprintf(stderr, "fuzz: publish %s: %s\n", m->topic, m->text);
        cJSON_Delete(msg);
    }
    hq_settle_clear(fx.settle);
}

static void check_ack(const struct hq_ack *ack, const char *topic)
{
    char want[TOPIC_MAX];
    size_t tl = strlen(topic);
    fuzz_expect(tl > 3 && strcmp(topic + tl - 3, "/ev") == 0, "acked on an event topic");
    snprintf(want, sizeof(want), "%.*s/ack", (int)(tl - 3), topic);
    fuzz_expect(strcmp(ack->topic, want) == 0, "the ack goes to the terminal's ack topic");
    cJSON *a = cJSON_ParseWithLength(ack->payload, ack->len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "v");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(a, "acked");
    fuzz_expect(cJSON_IsNumber(v) && v->valuedouble == 1 && cJSON_IsArray(ids) &&
                    cJSON_GetArraySize(ids) > 0,
                "an ack is {\"v\":1,\"acked\":[..]}");
    const cJSON *id;
    cJSON_ArrayForEach(id, ids)
    {
        fuzz_expect(cJSON_IsString(id) && id->valuestring[0] != '\0', "acked ids are strings");
    }
    if (fx.verbose)
        fprintf(stderr, "fuzz: %s: %s\n", ack->topic, ack->payload);
    cJSON_Delete(a);
}

static void group_end(int *group)
{
    if (!*group)
        return;
    *group = 0;
    fuzz_expect(hq_ingest_group_commit(fx.in) == ML_OK, "a group commits");
    publish_settlement();
}

static void run_segment(const struct fuzz_seg *s, int *group)
{
    char topic[TOPIC_MAX + 1];
    const char *p = s->p;
    size_t n = s->n;

    if ((s->ctl & 3) == 3) {
        const char *nl = memchr(p, '\n', n);
        size_t tl = nl ? (size_t)(nl - p) : n;
        if (tl > TOPIC_MAX || memchr(p, '\0', tl) != NULL)
            return; /* not an MQTT topic this HQ can subscribe to */
        memcpy(topic, p, tl);
        topic[tl] = '\0';
        p += nl ? tl + 1 : tl;
        n -= nl ? tl + 1 : tl;
    } else {
        snprintf(topic, sizeof(topic), "%s", topics[s->ctl & 3]);
    }
    if (!(s->ctl & 4))
        group_end(group);
    else if (!*group) {
        fuzz_expect(hq_ingest_group_begin(fx.in) == ML_OK, "a group begins");
        *group = 1;
    }
    hq_ingest_set_settle(fx.in, (s->ctl & 8) ? NULL : fx.settle);

    struct hq_ack ack;
    ml_err err = hq_ingest_message(fx.in, topic, p, n, FUZZ_NOW_MS, &ack);
    if (fx.verbose)
        fprintf(stderr, "fuzz: %s: %s\n", topic, ml_strerror(err));
    fuzz_expect(err == ML_OK || err == ML_PARSE || err == ML_LIMIT,
                "a batch is stored or dropped, never a storage error");
    fuzz_expect(err == ML_OK || ack.payload == NULL, "only a stored batch is acked");
    if (ack.payload != NULL)
        check_ack(&ack, topic);
    free(ack.payload);
    if (!*group)
        publish_settlement();
}

static void reset(void)
{
    char sql[128];
    sqlite3 *db = db_sqlite(hq_store_conn(fx.st));
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (size_t i = 0; i < fx.ntables; i++) {
        snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"", fx.tables[i]);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            abort();
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_seg segs[FUZZ_SEGMENTS_MAX];
    size_t n = fuzz_split(data, size, segs);
    int group = 0;
    for (size_t i = 0; i < n; i++)
        run_segment(&segs[i], &group);
    group_end(&group);
    reset();
    return 0;
}
