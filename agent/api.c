/*
 * api: routing, authentication, body limits and the JSON error shape of the local API.
 *
 * Order of checks for every request: bearer token (401), route and method (404/405),
 * body size (413), JSON (400), then the endpoint. Every error answer is
 * {"error":{"code":..,"message":..}} and is given before anything is changed.
 * Mutations (checkout commit, refund) run in one transaction together with their
 * idempotency record; the answer goes out only after that transaction is durable.
 */
#include "api.h"

#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "checkout.h"
#include "commission.h"
#include "idem.h"
#include "identify.h"
#include "jsonutil.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "num.h"
#include "refund.h"
#include "status.h"

#define API_CONNECTIONS_MAX 64
#define API_CONNECTION_TIMEOUT_S 30
#define API_PATH_ID_MAX 128 /* sale ids are <store>-<terminal>-<n>: up to 72+ bytes */
#define API_SALES_LIMIT_MAX 100
#define API_SALES_LIMIT_DEFAULT 20

struct api {
    struct MHD_Daemon *mhd;
    struct ml_ctx *ctx;
};

struct request {
    char *body;
    size_t len;
    int too_large;
    struct timespec start;
};

/* An answer being built: status and a malloc'd JSON text. */
struct answer {
    int status;
    char *text;
    const char *content_type;
};

static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void answer_json(struct answer *a, int status, cJSON *v)
{
    a->status = status;
    a->text = v ? json_print(v) : NULL;
    cJSON_Delete(v);
    if (a->text == NULL) {
        a->status = 500;
        a->text = strdup("{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}");
    }
}

static void answer_error(struct api *api, struct answer *a, const struct ml_refusal *r)
{
    const char *code = r->code ? r->code : "internal_error";
    int status = r->code ? r->http_status : 500;
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", r->code ? r->message : "internal error");
    metrics_error(api->ctx->metrics, code);
    /* The one log line of a failure the client cannot fix; storage failures name what
     * SQLite said, which the client is not told. */
    if (status >= 500 && status != 501 && strncmp(code, "storage_", 8) == 0)
        log_error("api: %s: %s (%s)", code, r->message, db_errmsg(api->ctx->db));
    else if (status >= 500 && status != 501)
        log_error("api: %s: %s", code, r->message);
    answer_json(a, status, o);
}

static void fail(struct api *api, struct answer *a, int status, const char *code, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));

static void fail(struct api *api, struct answer *a, int status, const char *code, const char *fmt,
                 ...)
{
    struct ml_refusal r = {0};
    char msg[ML_REFUSAL_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ml_refuse(&r, ML_REFUSED, status, code, "%s", msg);
    answer_error(api, a, &r);
}

static int authorized(struct api *api, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *token = api->ctx->cfg->api_token;
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    size_t n = strlen(token);
    return strlen(h) == n && CRYPTO_memcmp(h, token, n) == 0;
}

/* Splits "/v1/sales/ID/refund" style paths; returns the number of segments (max 4). */
static int split_path(const char *url, char seg[4][API_PATH_ID_MAX + 1])
{
    int n = 0;
    const char *p = url;
    while (*p == '/') {
        p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n == 4 || len == 0 || len > API_PATH_ID_MAX)
            return -1;
        memcpy(seg[n], p, len);
        seg[n][len] = '\0';
        n++;
        p += len;
    }
    return *p == '\0' ? n : -1;
}

/* ---- endpoints ---- */

static void do_identify(struct api *api, const cJSON *body, struct answer *a)
{
    struct ml_refusal r = {0};
    cJSON *out = NULL;
    if (identify(api->ctx, body, &out, &r) != ML_OK)
        return answer_error(api, a, &r);
    if (api->ctx->metrics)
        api->ctx->metrics->identifies++;
    answer_json(a, 200, out);
}

enum mutation { MUT_CHECKOUT, MUT_REFUND };

/*
 * Runs a checkout commit or a refund under its idempotency key, in one transaction with
 * the idempotency record.
 */
static void do_mutation(struct api *api, struct MHD_Connection *conn, const char *method,
                        const char *url, const struct request *rq, enum mutation kind,
                        const char *sale_id, struct answer *a)
{
    struct ml_ctx *ctx = api->ctx;
    struct ml_refusal r = {0};
    cJSON *body = NULL, *result = NULL;
    struct checkout_req *req = NULL;

    if (rq->len == 0 && kind == MUT_REFUND) {
        body = cJSON_CreateObject();
    } else if ((body = json_parse_bounded(rq->body ? rq->body : "", rq->len, &r)) == NULL) {
        answer_error(api, a, &r);
        goto out;
    }
    if (kind == MUT_CHECKOUT) {
        if (checkout_parse(body, ctx->cfg->terminal, &req, &r) != ML_OK) {
            answer_error(api, a, &r);
            goto out;
        }
        if (checkout_is_dry_run(req)) {
            if (checkout_run(ctx, req, &result, &r) != ML_OK) {
                answer_error(api, a, &r);
            } else {
                if (ctx->metrics)
                    ctx->metrics->quotes++;
                answer_json(a, 200, result);
                result = NULL;
            }
            goto out;
        }
    }

    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (key == NULL) {
        fail(api, a, 400, "idempotency_key_required", "%s",
             "this request changes state: send an Idempotency-Key header");
        goto out;
    }
    if (!idem_key_valid(key)) {
        fail(api, a, 400, "invalid_request", "%s",
             "Idempotency-Key must be 1 to 128 printable ASCII characters");
        goto out;
    }
    uint8_t hash[IDEM_HASH_LEN];
    idem_fingerprint(method, url, rq->body ? rq->body : "", rq->len, hash);
    /* After a failed commit db_begin() first reopens the database, to show what reached the
     * disk: only then can this key's first answer be found. */
    if (db_begin(ctx->db) != ML_OK) {
        if (db_outcome_unknown(ctx->db))
            fail(api, a, 503, "storage_outcome_unknown", "%s",
                 "an earlier change may or may not have been recorded and the database cannot "
                 "be read back yet; retry with the same Idempotency-Key");
        else
            fail(api, a, 503, "storage_error", "%s", "cannot start a transaction");
        goto out;
    }
    int status = 0;
    char *stored = NULL;
    ml_err err = idem_lookup(ctx->db, key, hash, &status, &stored, &r);
    if (err == ML_OK) {
        db_rollback(ctx->db);
        a->status = status;
        a->text = stored;
        goto out;
    }
    if (err != ML_NOENTRY) {
        db_rollback(ctx->db);
        if (r.code == NULL)
            ml_refuse(&r, err, 503, "storage_error", "idempotency lookup failed");
        answer_error(api, a, &r);
        goto out;
    }
    if (kind == MUT_CHECKOUT)
        err = checkout_run(ctx, req, &result, &r);
    else
        err = refund_run(ctx, sale_id, body, &result, &r);
    char *text = err == ML_OK ? json_print(result) : NULL;
    if (err == ML_OK && text == NULL)
        err = ml_refuse(&r, ML_NOMEM, 500, "internal_error", "out of memory");
    if (err == ML_OK && idem_record(ctx->db, key, hash, 200, text, ctx->now_ms()) != ML_OK)
        err = ml_refuse(&r, ML_STORAGE, 503, "storage_error",
                        "the change could not be recorded; nothing was recorded");
    if (err == ML_OK && db_commit(ctx->db) != ML_OK) {
        /* The commit's flush failed: the change may be on disk or not. Say so, and find out
         * at once, so the retry with this key gets the true outcome. */
        free(text);
        fail(api, a, 503, "storage_outcome_unknown", "%s",
             "the change may or may not have been recorded (the disk reported a failure); "
             "retry with the same Idempotency-Key to learn which");
        if (db_recover(ctx->db) != ML_OK)
            log_error("database: cannot be reopened after the failed commit (%s); writes wait",
                      db_errmsg(ctx->db));
        goto out;
    }
    if (err != ML_OK) {
        db_rollback(ctx->db);
        free(text);
        answer_error(api, a, &r);
        goto out;
    }
    if (ctx->metrics) {
        if (kind == MUT_CHECKOUT)
            ctx->metrics->checkouts++;
        else
            ctx->metrics->refunds++;
    }
    a->status = 200;
    a->text = text;
out:
    cJSON_Delete(result);
    cJSON_Delete(body);
    checkout_req_free(req);
}

static void do_status(struct api *api, struct answer *a)
{
    cJSON *o = status_json(api->ctx);
    if (o == NULL)
        return fail(api, a, 500, "internal_error", "%s", "out of memory");
    answer_json(a, 200, o);
}

static void do_metrics(struct api *api, struct answer *a)
{
    struct ml_ctx *ctx = api->ctx;
    static struct metrics empty;
    struct metrics_gauges g;
    status_gauges(ctx, &g);
    a->status = 200;
    a->content_type = "text/plain; version=0.0.4";
    a->text = metrics_render(ctx->metrics ? ctx->metrics : &empty, &g);
    if (a->text == NULL)
        fail(api, a, 500, "internal_error", "%s", "out of memory");
}

static int parse_limit(const char *v, int64_t *ret)
{
    if (v == NULL) {
        *ret = API_SALES_LIMIT_DEFAULT;
        return 0;
    }
    return num_parse_i64(v, 1, API_SALES_LIMIT_MAX, ret);
}

static void route(struct api *api, struct MHD_Connection *conn, const char *method, const char *url,
                  const struct request *rq, struct answer *a)
{
    struct ml_ctx *ctx = api->ctx;
    char seg[4][API_PATH_ID_MAX + 1];
    int n = split_path(url, seg);
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    struct ml_refusal r = {0};
    cJSON *out = NULL;

    if (n == 1 && strcmp(seg[0], "metrics") == 0) {
        if (!get)
            goto not_allowed;
        return do_metrics(api, a);
    }
    if (n < 2 || strcmp(seg[0], "v1") != 0)
        goto not_found;
    if (n == 2 && strcmp(seg[1], "identify") == 0) {
        if (!post)
            goto not_allowed;
        cJSON *body = json_parse_bounded(rq->body ? rq->body : "", rq->len, &r);
        if (body == NULL)
            return answer_error(api, a, &r);
        if (!cJSON_IsObject(body)) {
            cJSON_Delete(body);
            return fail(api, a, 400, "invalid_request", "%s", "body must be a JSON object");
        }
        do_identify(api, body, a);
        cJSON_Delete(body);
        return;
    }
    if (n == 2 && strcmp(seg[1], "checkout") == 0) {
        if (!post)
            goto not_allowed;
        return do_mutation(api, conn, method, url, rq, MUT_CHECKOUT, NULL, a);
    }
    if (n == 2 && strcmp(seg[1], "status") == 0) {
        if (!get)
            goto not_allowed;
        return do_status(api, a);
    }
    if (n == 2 && strcmp(seg[1], "sales") == 0) {
        if (!get)
            goto not_allowed;
        int64_t limit = 0;
        if (parse_limit(MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit"),
                        &limit) != 0)
            return fail(api, a, 400, "invalid_request", "%s", "limit must be 1 to 100");
        if (ledger_sales_json(ctx->db, limit, &out) != ML_OK)
            return fail(api, a, 503, "storage_error", "%s", "cannot list sales");
        return answer_json(a, 200, out);
    }
    if (n == 3 && strcmp(seg[1], "sales") == 0) {
        if (!get)
            goto not_allowed;
        ml_err err = ledger_sale_json(ctx->db, seg[2], &out);
        if (err == ML_NOENTRY)
            return fail(api, a, 404, "sale_not_found", "sale %s is not known", seg[2]);
        if (err != ML_OK)
            return fail(api, a, 503, "storage_error", "cannot read sale %s", seg[2]);
        return answer_json(a, 200, out);
    }
    if (n == 4 && strcmp(seg[1], "sales") == 0 && strcmp(seg[3], "refund") == 0) {
        if (!post)
            goto not_allowed;
        return do_mutation(api, conn, method, url, rq, MUT_REFUND, seg[2], a);
    }
    if (n == 4 && strcmp(seg[1], "guides") == 0 && strcmp(seg[3], "commissions") == 0) {
        if (!get)
            goto not_allowed;
        const char *from = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "from");
        const char *to = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "to");
        if (commission_report(ctx, seg[2], from, to, &out, &r) != ML_OK)
            return answer_error(api, a, &r);
        return answer_json(a, 200, out);
    }
not_found:
    return fail(api, a, 404, "not_found", "no endpoint %s", url);
not_allowed:
    return fail(api, a, 405, "method_not_allowed", "%s is not allowed here", method);
}

static enum MHD_Result send_answer(struct MHD_Connection *conn, struct answer *a)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(a->text), a->text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(a->text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            a->content_type ? a->content_type : "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned int)a->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct api *api = cls;
    struct request *rq = *con_cls;
    size_t max = api->ctx->cfg->api_max_body;
    (void)version;
    if (rq == NULL) {
        rq = calloc(1, sizeof(*rq));
        if (rq == NULL)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &rq->start);
        *con_cls = rq;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl != NULL && strtoull(cl, NULL, 10) > max)
            rq->too_large = 1;
        else
            return MHD_YES;
        /* Answer now; MHD closes the connection instead of reading the body. */
    } else if (*upload_data_size != 0) {
        if (!rq->too_large && rq->len + *upload_data_size <= max) {
            char *nb = realloc(rq->body, rq->len + *upload_data_size + 1);
            if (nb == NULL)
                return MHD_NO;
            rq->body = nb;
            memcpy(rq->body + rq->len, upload_data, *upload_data_size);
            rq->len += *upload_data_size;
            rq->body[rq->len] = '\0';
        } else {
            rq->too_large = 1;
            free(rq->body);
            rq->body = NULL;
            rq->len = 0;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    struct answer a = {0};
    if (!authorized(api, conn))
        fail(api, &a, 401, "unauthorized", "%s",
             "send Authorization: Bearer <token> ([agent] api_token)");
    else if (rq->too_large) {
        fail(api, &a, 413, "body_too_large", "request body is larger than %zu bytes", max);
    } else
        route(api, conn, method, url, rq, &a);
    if (api->ctx->metrics) {
        api->ctx->metrics->requests++;
        metrics_latency(api->ctx->metrics, since(&rq->start));
    }
    return send_answer(conn, &a);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct request *rq = *con_cls;
    if (rq != NULL) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

ml_err api_start(struct ml_ctx *ctx, struct api **ret_api, char *errbuf, size_t errlen)
{
    const struct config *cfg = ctx->cfg;
    struct addrinfo hints = {0}, *ai = NULL;
    char port[8];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    snprintf(port, sizeof(port), "%u", (unsigned)cfg->api_port);
    int gai = getaddrinfo(cfg->api_host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(errbuf, errlen, "[agent] api_listen %s:%u: %s", cfg->api_host,
                 (unsigned)cfg->api_port, gai_strerror(gai));
        return ML_CONFIG;
    }
    struct api *api = calloc(1, sizeof(*api));
    if (api == NULL) {
        freeaddrinfo(ai);
        return ML_NOMEM;
    }
    api->ctx = ctx;
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_TURBO;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    api->mhd = MHD_start_daemon(flags, cfg->api_port, NULL, NULL, on_request, api,
                                MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
                                (unsigned int)API_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
                                (unsigned int)API_CONNECTION_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED,
                                on_completed, api, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (api->mhd == NULL) {
        snprintf(errbuf, errlen,
                 "[agent] api_listen %s:%u: cannot listen (address in use or not local?)",
                 cfg->api_host, (unsigned)cfg->api_port);
        free(api);
        return ML_CONFIG;
    }
    *ret_api = api;
    return ML_OK;
}

int api_poll_fd(struct api *api)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

int api_timeout_ms(struct api *api)
{
    MHD_UNSIGNED_LONG_LONG t = 0;
    if (MHD_get_timeout(api->mhd, &t) != MHD_YES)
        return -1;
    return t > 60000 ? 60000 : (int)t;
}

void api_run(struct api *api)
{
    MHD_run(api->mhd);
}

void api_stop(struct api *api)
{
    if (api == NULL)
        return;
    MHD_stop_daemon(api->mhd);
    free(api);
}
