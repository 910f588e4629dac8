/*
 * hq_msg_fuzz: libFuzzer target for HQ's signed messages as a terminal receives them
 * (docs/protocol.md, "Signed messages from HQ"): json_parse_bounded(), canon_json(),
 * sign_verify(), and the whole of inbox_handle() (sync/inbox.h) against a real SQLite store,
 * so facts_apply() and its validators (agent/facts.c, agent/deny.c) see the bodies.
 *
 * Input: segments (fuzz_common.h), each one message. The control byte picks
 *   bits 0-1  the topic: 0 the store's inbox, 1 a campaign topic, 2 the time beacon topic,
 *             3 another store's inbox;
 *   bit 2     signed: the payload, parsed, is signed with the test key for that topic (the
 *             harness plays HQ, so what lies behind the signature gets fuzzed); when it
 *             cannot be signed (not a message's shape), the payload goes as it is;
 *   bit 3     the terminal has a trusted clock (hq.time beacons move it).
 * Raw payloads reach sign_verify() with their own "sig": the vectors' messages verify.
 *
 * Besides not crashing, it checks: canonical text parses back to a value with the same
 * canonical text; sign_verify() answers only with its documented codes; a message the
 * harness signed verifies (or has expired); inbox_handle() never fails on storage for
 * any message. All segments of an input run in one transaction rolled back at the end
 * (as the HTTP catch-up nests messages), so every input starts from the same store.
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "config.h"
#include "ctx.h"
#include "hqlink.h"
#include "fuzz_common.h"
#include "inbox.h"
#include "jsonutil.h"
#include "log.h"
#include "sign.h"
#include "db.h"
#include "schema.h"
#include "trust.h"

#define BRAND "acme"
#define STORE "S001"
#define BOOT_ID "0f0f0f0f-1d3f-4c7a-9e55-0dde0f000001"

static const char *const topics[4] = {
    "ml/" BRAND "/s/" STORE "/inbox",
    "ml/" BRAND "/hq/campaign/points-2026",
    "ml/" BRAND "/hq/time",
    "ml/" BRAND "/s/S002/inbox",
};

static struct {
    struct db *db;
    struct config cfg;
    struct ml_ctx ctx;
    struct sign_keyring *kr;
    EVP_PKEY *priv;
    struct trust trust, trust_start;
    int verbose; /* FUZZ_VERBOSE set: log and print each outcome */
} fx;

static int64_t boot_ms(void)
{
    return 0;
}

static void close_store(void)
{
    db_close(fx.db);
    fx.kr = sign_keyring_free(fx.kr);
    EVP_PKEY_free(fx.priv);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[600], err[256] = "";
    (void)argc;
    (void)argv;
    fuzz_utc();
    fx.verbose = getenv("FUZZ_VERBOSE") != NULL;
    log_set_level(fx.verbose ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
    fuzz_tmpfile("ml-fuzz-hq-msg", "agent.db", path, sizeof(path));
    if (schema_open(path, &fx.db, err, sizeof(err)) != ML_OK) {
        fprintf(stderr, "fuzz: schema_open: %s\n", err);
        abort();
    }
    atexit(close_store);
    /* Every input is rolled back: durability buys nothing here. */
    sqlite3_exec(db_sqlite(fx.db), "PRAGMA synchronous=OFF", NULL, NULL, NULL);
    config_defaults(&fx.cfg);
    snprintf(fx.cfg.brand, sizeof(fx.cfg.brand), BRAND);
    snprintf(fx.cfg.store, sizeof(fx.cfg.store), STORE);
    fx.kr = sign_keyring_new();
    fx.priv = fuzz_test_key();
    if (fx.kr == NULL || sign_keyring_add(fx.kr, FUZZ_KID, FUZZ_PUB) != ML_OK)
        abort();
    if (trust_open_with(&fx.trust, fx.db, boot_ms, BOOT_ID) != ML_OK)
        abort();
    fx.trust_start = fx.trust;
    fx.ctx.db = fx.db;
    fx.ctx.cfg = &fx.cfg;
    fx.ctx.keys = fx.kr;
    fx.ctx.now_ms = fuzz_now_ms;
    fx.ctx.started_ms = FUZZ_NOW_MS;
    return 0;
}

static int code_is(const struct ml_refusal *r, const char *const *codes)
{
    for (size_t i = 0; codes[i] != NULL; i++)
        if (r->code != NULL && strcmp(r->code, codes[i]) == 0)
            return 1;
    return 0;
}

/* canon_json() of v, parsed back, canonicalizes to the same text. */
static void check_canon(const cJSON *v)
{
    char *text = canon_json(v);
    if (text == NULL)
        return;
    cJSON *back = cJSON_Parse(text);
    fuzz_expect(back != NULL, "canonical text parses");
    char *again = canon_json(back);
    fuzz_expect(again != NULL && strcmp(again, text) == 0, "canonical text is a fixed point");
    free(again);
    cJSON_Delete(back);
    free(text);
    if (cJSON_IsObject(v)) {
        text = canon_json_omit(v, "sig");
        free(text);
    }
}

static void check_verify(const char *topic, const cJSON *msg)
{
    static const char *const refused[] = {"msg_unknown_key", "msg_bad_signature", "msg_expired",
                                          NULL};
    struct ml_refusal r = {0, NULL, ""};
    ml_err err = sign_verify(fx.kr, topic, msg, FUZZ_NOW_MS, &r);
    if (err == ML_OK)
        return;
    fuzz_expect(r.code != NULL && r.message[0] != '\0', "a refusal says why");
    if (err == ML_PARSE)
        fuzz_expect(strcmp(r.code, "msg_malformed") == 0, "ML_PARSE is msg_malformed");
    else
        fuzz_expect(err == ML_REFUSED && code_is(&r, refused), "sign_verify's codes");
}

/* Signs msg (a copy) for topic; returns the message text, or NULL when it cannot be signed. */
static char *sign_text(const cJSON *msg, const char *topic)
{
    cJSON *copy = cJSON_Duplicate(msg, 1);
    char *text = NULL;
    if (copy == NULL)
        return NULL;
    if (sign_message(fx.priv, FUZZ_KID, topic, copy) == ML_OK) {
        struct ml_refusal r = {0, NULL, ""};
        ml_err err = sign_verify(fx.kr, topic, copy, FUZZ_NOW_MS, &r);
        const cJSON *exp = cJSON_GetObjectItemCaseSensitive(copy, "expires");
        fuzz_expect(err == ML_OK || (err == ML_REFUSED && strcmp(r.code, "msg_expired") == 0 &&
                                     exp->valuedouble <= (double)FUZZ_NOW_MS),
                    "a message just signed verifies");
        text = cJSON_PrintUnformatted(copy);
    }
    cJSON_Delete(copy);
    return text;
}

static void run_segment(const struct fuzz_seg *s)
{
    const char *topic = topics[s->ctl & 3];
    struct ml_refusal r = {0, NULL, ""};
    char *signed_text = NULL;

    cJSON *msg = json_parse_bounded(s->p, s->n, &r);
    if (msg != NULL) {
        check_canon(msg);
        check_verify(topic, msg);
        if (s->ctl & 4)
            signed_text = sign_text(msg, topic);
        cJSON_Delete(msg);
    }
    fx.ctx.trust = (s->ctl & 8) ? &fx.trust : NULL;
    enum inbox_result res = INBOX_REJECTED;
    const char *text = signed_text ? signed_text : s->p;
    size_t len = signed_text ? strlen(signed_text) : s->n;
    struct inbox_site site = {fx.cfg.brand, fx.cfg.store, fx.cfg.terminal};
    struct inbox *ib = NULL;
    struct link_handler h;
    hqlink_handler(&fx.ctx, &h);
    fuzz_expect(inbox_new(fx.db, fx.kr, &site, fuzz_now_ms, &h.inbox, &ib) == ML_OK,
                "an inbox is made");
    ml_err err = inbox_handle(ib, topic, text, len, &res);
    struct inbox_stats stats = *inbox_stats(ib);
    inbox_free(ib);
    fuzz_expect(err == ML_OK, "inbox_handle does not fail on storage");
    fuzz_expect(res == INBOX_APPLIED || res == INBOX_DUPLICATE || res == INBOX_GAP ||
                    res == INBOX_REJECTED,
                "one of the four outcomes");
    fuzz_expect(stats.applied + stats.duplicates + stats.gaps + stats.rejected + stats.beacons == 1,
                "one outcome counted");
    if (fx.verbose)
        fprintf(stderr, "fuzz: %s %s: %s\n", topic, signed_text ? "signed" : "raw",
                (const char *[]){"applied", "duplicate", "gap", "rejected"}[res]);
    free(signed_text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_seg segs[FUZZ_SEGMENTS_MAX];
    size_t n = fuzz_split(data, size, segs);
    if (db_begin(fx.db) != ML_OK)
        abort();
    for (size_t i = 0; i < n; i++)
        run_segment(&segs[i]);
    db_rollback(fx.db);
    fx.trust = fx.trust_start;
    return 0;
}
