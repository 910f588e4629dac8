/*
 * api_body_fuzz: libFuzzer target for the bodies of the local HTTP API (docs/api.md) as
 * agent/api.c hands them on: json_parse_bounded(), then identify() (POST /v1/identify),
 * checkout_parse() and checkout_run() (POST /v1/checkout, quote and sale), and
 * checkout_refund() (POST /v1/sales/{id}/refund, whose body names the lines), against a
 * real SQLite store seeded once per process through HQ facts (facts.md) and a few sales.
 *
 * Input: segments (fuzz_common.h), each one request body. The control byte picks
 *   bits 0-1  the endpoint: 0 identify, 1 checkout, 2 refund of the (ctl >> 4)-th sale in
 *             the store (sales made by earlier segments count), 3 refund of the sale whose
 *             id is the payload's first line (the URL's path segment), the rest the body;
 *   bits 2-3  the terminal: 0 standalone (no [mqtt] host), 1 syncing without trusted time,
 *             2 syncing and in contact with HQ, 3 syncing, trusted, HQ last heard an hour
 *             ago (bit 4 clear: two days ago), so the offline caps apply.
 * The QR codes of tests/vectors/qr_vectors.json identify against it: its issuer is the
 * test key, its clock the vectors' "now", and the members, guide and coupon they name exist.
 *
 * Besides not crashing, it checks: a refusal carries a code, a message and a 4xx status (a
 * storage error, 5xx, is a bug here: every input must be refused before the database is
 * asked for something it cannot do); a priced sale adds up (per line gross = qty x
 * unit_price and net = gross - discount - points_value >= 0; subtotal, discount, points
 * value and total are the sums of the lines); a sale reads back with the total it was
 * answered with. Each input runs in one transaction rolled back at the end.
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkout.h"
#include "ledger.h"
#include "refund.h"
#include "config.h"
#include "ctx.h"
#include "factfile.h"
#include "fuzz_common.h"
#include "identify.h"
#include "jsonutil.h"
#include "log.h"
#include "sign.h"
#include "db.h"
#include "schema.h"
#include "trust.h"

#define BOOT_ID "0f0f0f0f-1d3f-4c7a-9e55-0dde0f000002"
#define HOUR_MS INT64_C(3600000)
#define PATH_ID_MAX 128 /* agent/api.c: a path segment */

/* Valid 2025-01-01 .. 2035-01-01, like the demo data. */
#define VALID "\"valid_from\":1735689600000,\"valid_to\":2051222400000"

static const char facts[] =
    "{\"kind\":\"guide.upsert\",\"body\":{\"guide_id\":\"G01\",\"name\":\"Li "
    "Na\",\"store\":\"S001\",\"status\":\"active\",\"version\":1}}\n"
    "{\"kind\":\"guide.upsert\",\"body\":{\"guide_id\":\"G02\",\"name\":\"Wang "
    "Fang\",\"status\":\"inactive\",\"version\":1}}\n"
    "{\"kind\":\"guide.upsert\",\"body\":{\"guide_id\":\"G07\",\"name\":\"Zhao "
    "Lei\",\"status\":\"active\",\"version\":1}}\n"
    "{\"kind\":\"member.upsert\",\"body\":{\"member_id\":\"M1001\",\"phone\":\"138-0013-8000\","
    "\"tier\":\"gold\",\"plan\":\"vip\",\"plan_until\":2051222400000,\"points\":2000,"
    "\"points_version\":1,\"status\":\"active\",\"version\":1}}\n"
    "{\"kind\":\"member.upsert\",\"body\":{\"member_id\":\"M1002\",\"phone\":\"139-0013-9000\","
    "\"tier\":\"silver\",\"points\":300,\"points_version\":1,\"version\":1}}\n"
    "{\"kind\":\"member.upsert\",\"body\":{\"member_id\":\"M1003\",\"phone\":\"137-0013-7000\","
    "\"status\":\"blocked\",\"version\":1}}\n"
    "{\"kind\":\"member.upsert\",\"body\":{\"member_id\":\"M1004\",\"phone\":\"136-0013-6000\","
    "\"points\":50000,\"points_version\":1,\"version\":1}}\n"
    "{\"kind\":\"member.upsert\",\"body\":{\"member_id\":\"M0123456789-abcdefghij_KLMNOPQRS\","
    "\"tier\":\"silver\",\"plan\":\"vip\",\"plan_until\":1767225000000,\"points\":10,"
    "\"points_version\":1,\"version\":1}}\n"
    "{\"kind\":\"guide.bind\",\"body\":{\"member_id\":\"M1001\",\"guide_id\":\"G01\","
    "\"until\":2051222400000,\"version\":1}}\n"
    "{\"kind\":\"guide.bind\",\"body\":{\"member_id\":\"M1002\",\"guide_id\":\"G02\","
    "\"until\":2051222400000,\"version\":1}}\n"
    "{\"kind\":\"campaign.upsert\",\"body\":{\"campaign_id\":\"points-2026\",\"version\":1," VALID
    ",\"points\":{\"earn_per_yuan\":1,\"tier_multiplier_bp\":{\"gold\":15000,\"silver\":12000},"
    "\"plan_multiplier_bp\":{\"vip\":20000},\"redeem_points_per_yuan\":100,"
    "\"redeem_max_bp\":5000}}}\n"
    "{\"kind\":\"campaign.upsert\",\"body\":{\"campaign_id\":\"vip-double\",\"version\":1,"
    "\"priority\":5," VALID ",\"stores\":[\"S001\"],\"plans\":[\"vip\"],\"points\":{"
    "\"earn_per_yuan\":2,\"redeem_points_per_yuan\":50}}}\n"
    "{\"kind\":\"campaign.upsert\",\"body\":{\"campaign_id\":\"guide-commission\",\"version\":"
    "1," VALID
    ",\"commission\":{\"default_bp\":200,\"categories\":{\"apparel\":500,\"shoes\":300}}}}\n"
    "{\"kind\":\"campaign.upsert\",\"body\":{\"campaign_id\":\"welcome-coupons\",\"version\":"
    "1," VALID ",\"coupons\":{\"restore_on_refund\":true}}}\n"
    "{\"kind\":\"coupon.grant\",\"body\":{\"coupon_id\":\"CPN-20OFF\","
    "\"campaign_id\":\"welcome-coupons\",\"kind\":\"amount_off\",\"value\":2000,"
    "\"min_spend\":10000,\"categories\":[\"apparel\"]," VALID ",\"uses\":100,\"version\":1}}\n"
    "{\"kind\":\"coupon.grant\",\"body\":{\"coupon_id\":\"CPN-10PCT\",\"member_id\":\"M1001\","
    "\"campaign_id\":\"welcome-coupons\",\"kind\":\"percent_off\",\"value\":1000,"
    "\"max_off\":5000," VALID ",\"uses\":3,\"version\":1}}\n"
    "{\"kind\":\"coupon.grant\",\"body\":{\"coupon_id\":\"BEARER-5\","
    "\"campaign_id\":\"welcome-coupons\",\"kind\":\"amount_off\",\"value\":500," VALID
    ",\"uses\":100,\"version\":1}}\n"
    "{\"kind\":\"coupon.grant\",\"body\":{\"coupon_id\":\"CPN-BIG\",\"kind\":\"amount_off\","
    "\"value\":50000," VALID ",\"uses\":5,\"version\":1}}\n"
    "{\"kind\":\"coupon.grant\",\"body\":{\"coupon_id\":\"CPN-ONLINE\",\"kind\":\"percent_off\","
    "\"value\":10000," VALID ",\"offline_ok\":false,\"version\":1}}\n"
    "{\"kind\":\"coupon.grant\",\"body\":{\"coupon_id\":\"CPN-OLD\",\"kind\":\"amount_off\","
    "\"value\":100,\"valid_from\":1735689600000,\"valid_to\":1767225600000,\"version\":1}}\n"
    "{\"kind\":\"coupon.grant\",\"body\":{\"coupon_id\":\"CPN-LATER\",\"kind\":\"amount_off\","
    "\"value\":100,\"valid_from\":1767225600001,\"valid_to\":2051222400000,\"version\":1}}\n"
    "{\"kind\":\"coupon.revoke\",\"body\":{\"coupon_id\":\"CPN-GONE\",\"version\":2}}\n"
    "{\"kind\":\"deny.upsert\",\"body\":{\"subject\":\"coupon\",\"id\":\"CPN-DENIED\","
    "\"reason\":\"redeemed_elsewhere\",\"version\":1}}\n"
    "{\"kind\":\"deny.upsert\",\"body\":{\"subject\":\"member\",\"id\":\"M1004\","
    "\"reason\":\"blocked\",\"version\":1}}\n";

/* Sales made at start, so refunds have something to refund. */
static const char *const sales[] = {
    "{\"member\":\"M1001\",\"items\":[{\"sku\":\"TSHIRT-01\",\"category\":\"apparel\",\"qty\":2,"
    "\"unit_price\":5990},{\"sku\":\"SHOE-9\",\"category\":\"shoes\",\"qty\":1,"
    "\"unit_price\":39900}],\"coupons\":[\"CPN-20OFF\",\"CPN-10PCT\"],\"points_to_redeem\":1000}",
    "{\"items\":[{\"sku\":\"CAP\",\"category\":\"accessories\",\"qty\":3,\"unit_price\":1500}],"
    "\"coupons\":[\"BEARER-5\"],\"guide\":\"G07\"}",
    "{\"member\":\"M1002\",\"items\":[{\"sku\":\"A\",\"category\":\"apparel\",\"qty\":1,"
    "\"unit_price\":12000},{\"sku\":\"B\",\"category\":\"shoes\",\"qty\":2,\"unit_price\":333},"
    "{\"sku\":\"C\",\"category\":\"food\",\"qty\":1,\"unit_price\":0}],"
    "\"coupons\":[\"CPN-20OFF\"],\"points_to_redeem\":100}",
};

static struct {
    struct db *db;
    struct config cfg, cfg_sync;
    struct ml_ctx ctx;
    struct sign_keyring *kr;
    struct trust trust;
    int verbose; /* FUZZ_VERBOSE set: log and print each answer */
} fx;

static int64_t boot_clock;

static int64_t boot_ms(void)
{
    return boot_clock;
}

static void close_store(void)
{
    db_close(fx.db);
    fx.kr = sign_keyring_free(fx.kr);
}

static void seed(const char *dir_file)
{
    char err[512] = "";
    size_t applied = 0;
    FILE *f = fopen(dir_file, "w");
    if (f == NULL || fputs(facts, f) == EOF || fclose(f) != 0)
        abort();
    if (factfile_import(fx.db, fx.cfg.phone_key, dir_file, &applied, err, sizeof(err)) != ML_OK) {
        fprintf(stderr, "fuzz: seed facts: %s\n", err);
        abort();
    }
    if (db_begin(fx.db) != ML_OK)
        abort();
    for (size_t i = 0; i < sizeof(sales) / sizeof(sales[0]); i++) {
        struct ml_refusal r = {0, NULL, ""};
        struct checkout_req *req = NULL;
        cJSON *body = cJSON_Parse(sales[i]), *sale = NULL;
        if (body == NULL || checkout_parse(body, fx.cfg.terminal, &req, &r) != ML_OK ||
            checkout_run(&fx.ctx, req, &sale, &r) != ML_OK) {
            fprintf(stderr, "fuzz: seed sale %zu: %s\n", i, r.message);
            abort();
        }
        checkout_req_free(req);
        cJSON_Delete(sale);
        cJSON_Delete(body);
    }
    /* Half of the first sale comes back, so "already refunded" has a line to refuse. */
    struct ml_refusal r = {0, NULL, ""};
    cJSON *body = cJSON_Parse("{\"lines\":[1]}"), *out = NULL;
    if (refund_run(&fx.ctx, "S001-T01-000001", body, &out, &r) != ML_OK) {
        fprintf(stderr, "fuzz: seed refund: %s\n", r.message);
        abort();
    }
    cJSON_Delete(out);
    cJSON_Delete(body);
    /* HQ's time, heard at boot clock 0. */
    if (trust_hq_time(&fx.trust, fx.db, FUZZ_NOW_MS) != ML_OK || db_commit(fx.db) != ML_OK)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[600], facts_path[600], err[256] = "";
    (void)argc;
    (void)argv;
    fuzz_utc();
    fx.verbose = getenv("FUZZ_VERBOSE") != NULL;
    log_set_level(fx.verbose ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
    fuzz_tmpfile("ml-fuzz-api", "agent.db", path, sizeof(path));
    fuzz_tmpfile("ml-fuzz-api", "facts.ndjson", facts_path, sizeof(facts_path));
    if (schema_open(path, &fx.db, err, sizeof(err)) != ML_OK) {
        fprintf(stderr, "fuzz: store_open: %s\n", err);
        abort();
    }
    atexit(close_store);
    sqlite3_exec(db_sqlite(fx.db), "PRAGMA synchronous=OFF", NULL, NULL, NULL);
    config_defaults(&fx.cfg);
    for (size_t i = 0; i < sizeof(fx.cfg.phone_key); i++)
        fx.cfg.phone_key[i] = (uint8_t)(0xa0 + i);
    fx.cfg.has_phone_key = 1;
    fx.cfg_sync = fx.cfg;
    snprintf(fx.cfg_sync.mqtt_host, sizeof(fx.cfg_sync.mqtt_host), "broker.invalid");
    fx.kr = sign_keyring_new();
    if (fx.kr == NULL || sign_keyring_add(fx.kr, FUZZ_KID, FUZZ_PUB) != ML_OK)
        abort();
    if (trust_open_with(&fx.trust, fx.db, boot_ms, BOOT_ID) != ML_OK)
        abort();
    fx.ctx.db = fx.db;
    fx.ctx.cfg = &fx.cfg;
    fx.ctx.keys = fx.kr;
    fx.ctx.now_ms = fuzz_now_ms;
    fx.ctx.started_ms = FUZZ_NOW_MS;
    seed(facts_path);
    return 0;
}

/* What agent/api.c would answer with: a code, a message, a client error. */
static void check_refusal(ml_err err, const struct ml_refusal *r)
{
    fuzz_expect(err != ML_OK, "refused");
    fuzz_expect(r->code != NULL && r->message[0] != '\0', "a refusal has a code and a message");
    if (r->http_status >= 500)
        fprintf(stderr, "fuzz: %s (%d): %s\n", r->code, r->http_status, r->message);
    fuzz_expect(r->http_status >= 400 && r->http_status < 500, "a refusal is a 4xx");
    fuzz_expect(err != ML_STORAGE && err != ML_NOMEM && err != ML_FAILURE,
                "no input makes storage fail");
}

static int64_t num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    fuzz_expect(cJSON_IsNumber(v), name);
    return (int64_t)v->valuedouble;
}

static void check_sale(const cJSON *sale)
{
    int64_t gross = 0, discount = 0, points = 0, net = 0, coupons = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(sale, "lines"))
    {
        int64_t g = num(l, "gross"), d = num(l, "discount"), p = num(l, "points_value");
        int64_t n = num(l, "net");
        fuzz_expect(g == num(l, "qty") * num(l, "unit_price"), "gross = qty x unit_price");
        fuzz_expect(d >= 0 && p >= 0 && n >= 0 && n == g - d - p,
                    "net = gross - discount - points_value >= 0");
        gross += g;
        discount += d;
        points += p;
        net += n;
    }
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(sale, "discounts"))
    {
        coupons += num(l, "amount");
    }
    fuzz_expect(num(sale, "subtotal") == gross, "subtotal is the lines' gross");
    fuzz_expect(num(sale, "discount") == discount && coupons == discount,
                "discount is the lines' and the coupons'");
    fuzz_expect(num(cJSON_GetObjectItemCaseSensitive(sale, "points"), "value") == points,
                "points value is the lines'");
    fuzz_expect(num(sale, "total") == net, "total is the lines' net");
}

static void answer(const char *what, cJSON *out)
{
    char *text = json_print(out);
    fuzz_expect(text != NULL, "the answer prints");
    if (fx.verbose)
        fprintf(stderr, "fuzz: %s: %s\n", what, text);
    free(text);
    cJSON_Delete(out);
}

static void do_identify(cJSON *body)
{
    struct ml_refusal r = {0, NULL, ""};
    cJSON *out = NULL;
    if (!cJSON_IsObject(body))
        return; /* refused by api.c before identify() */
    ml_err err = identify(&fx.ctx, body, &out, &r);
    if (err != ML_OK) {
        check_refusal(err, &r);
        if (fx.verbose)
            fprintf(stderr, "fuzz: identify: %s: %s\n", r.code, r.message);
        return;
    }
    fuzz_expect(cJSON_IsObject(out), "identify answers an object");
    answer("identify", out);
}

static void do_checkout(const cJSON *body)
{
    struct ml_refusal r = {0, NULL, ""};
    struct checkout_req *req = NULL;
    cJSON *sale = NULL;
    ml_err err = checkout_parse(body, fx.cfg.terminal, &req, &r);
    if (err == ML_OK)
        err = checkout_run(&fx.ctx, req, &sale, &r);
    if (err != ML_OK) {
        check_refusal(err, &r);
        if (fx.verbose)
            fprintf(stderr, "fuzz: checkout: %s: %s\n", r.code, r.message);
        checkout_req_free(req);
        return;
    }
    check_sale(sale);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(sale, "sale_id");
    fuzz_expect(checkout_is_dry_run(req) ? cJSON_IsNull(id) : cJSON_IsString(id),
                "a sale has an id, a quote none");
    if (cJSON_IsString(id)) {
        cJSON *back = NULL;
        fuzz_expect(ledger_sale_json(fx.db, id->valuestring, &back) == ML_OK, "a sale reads back");
        fuzz_expect(num(back, "total") == num(sale, "total"), "it reads back as answered");
        cJSON_Delete(back);
    }
    checkout_req_free(req);
    answer("checkout", sale);
}

static void do_refund(const char *sale_id, const cJSON *body)
{
    struct ml_refusal r = {0, NULL, ""};
    cJSON *out = NULL;
    ml_err err = refund_run(&fx.ctx, sale_id, body, &out, &r);
    if (err != ML_OK) {
        check_refusal(err, &r);
        if (fx.verbose)
            fprintf(stderr, "fuzz: refund %s: %s: %s\n", sale_id, r.code, r.message);
        return;
    }
    fuzz_expect(num(out, "amount") >= 0, "a refund pays back >= 0");
    answer("refund", out);
}

/* The k-th sale in the store, modulo their number; "" when there is none. */
static void nth_sale(unsigned k, char out[PATH_ID_MAX + 1])
{
    static const char sql[] = "SELECT sale_id FROM sales ORDER BY sale_id LIMIT 1 OFFSET "
                              "?1 % max(1, (SELECT count(*) FROM sales))";
    sqlite3_stmt *s = db_stmt(fx.db, sql);
    out[0] = '\0';
    if (s == NULL)
        abort();
    sqlite3_bind_int(s, 1, (int)k);
    if (sqlite3_step(s) == SQLITE_ROW)
        snprintf(out, PATH_ID_MAX + 1, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_reset(s);
}

static void run_segment(const struct fuzz_seg *s)
{
    static const int64_t since_contact[2] = {48 * HOUR_MS, HOUR_MS};
    struct ml_refusal r = {0, NULL, ""};
    char sale_id[PATH_ID_MAX + 1] = "";
    const char *p = s->p;
    size_t n = s->n;
    int op = s->ctl & 3, clock = (s->ctl >> 2) & 3;

    fx.ctx.cfg = clock == 0 ? &fx.cfg : &fx.cfg_sync;
    fx.ctx.trust = clock >= 2 ? &fx.trust : NULL;
    boot_clock = clock == 3 ? since_contact[(s->ctl >> 4) & 1] : 0;

    if (op == 2) {
        nth_sale((unsigned)(s->ctl >> 4), sale_id);
    } else if (op == 3) {
        const char *nl = memchr(p, '\n', n);
        size_t idlen = nl ? (size_t)(nl - p) : n;
        if (idlen == 0 || idlen > PATH_ID_MAX || memchr(p, '/', idlen) != NULL ||
            memchr(p, '\0', idlen) != NULL)
            return; /* not one path segment: api.c answers 404 */
        memcpy(sale_id, p, idlen);
        sale_id[idlen] = '\0';
        p += nl ? idlen + 1 : idlen;
        n -= nl ? idlen + 1 : idlen;
    }
    cJSON *body = NULL;
    if (op >= 2 && n == 0)
        body = cJSON_CreateObject(); /* an empty refund body: the whole sale */
    else if ((body = json_parse_bounded(p, n, &r)) == NULL) {
        fuzz_expect(r.code != NULL && r.http_status == 400, "malformed JSON is a 400");
        return;
    }
    if (op == 0)
        do_identify(body);
    else if (op == 1)
        do_checkout(body);
    else if (sale_id[0] != '\0')
        do_refund(sale_id, body);
    cJSON_Delete(body);
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
    return 0;
}
