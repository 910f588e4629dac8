/*
 * hq_http: GET /v1/stores/<store>/changes; see hq_http.h. One MHD polling thread, one
 * read-only connection (hq_store_open() READONLY: db_open() with DB_READONLY) used only by
 * that thread, on which the messages are read through hq_outgoing.h, their owner; each
 * response is built in memory (bounded by HQ_CHANGES_BYTES_MAX plus the campaigns, which
 * hq_push bounds) and handed to MHD whole.
 */
#include "hq_http.h"

#include <inttypes.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "canon.h"
#include "clock.h"
#include "hq_key.h"
#include "log.h"
#include "hq_outgoing.h"
#include "hq_push.h"
#include "hq_store.h"
#include "num.h"
#include "sign.h"
#include "topic.h"

#define STORES_PREFIX "/v1/stores/"
#define CHANGES_SUFFIX "/changes"

/*
 * Per-store messages are kept as signed; one served after (or close to) its expiry is
 * signed again with fresh issued/expires, same id, version and cursor, so a store that was
 * away longer than a message's lifetime can still catch up, and still applies it once.
 */
#define HQ_RESIGN_MARGIN_MS (INT64_C(24) * 3600 * 1000)
#define HQ_RESIGN_LIFETIME_MS (INT64_C(30) * 24 * 3600 * 1000)

struct hq_http {
    EVP_PKEY *key; /* NULL without a signing key: messages are served as stored */
    char kid[SIGN_KID_MAX + 1];
    const struct hq_config *cfg;
    struct hq_store *st; /* read-only, this thread's */
    struct MHD_Daemon *mhd;
};

/* A growing response body. */
struct body {
    char *buf;
    size_t len, cap;
};

static int body_add_line(struct body *b, const char *text, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->buf, cap);
        if (p == NULL)
            return -1;
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, text, n);
    b->buf[b->len + n] = '\n';
    b->len += n + 1;
    return 0;
}

/* A re-signed copy of a stored message whose expiry is near or past, or NULL (serve as is). */
static char *resign_if_stale(struct hq_http *h, const char *store, const char *text, size_t n)
{
    if (h->key == NULL)
        return NULL;
    cJSON *msg = cJSON_ParseWithLength(text, n);
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(msg, "expires");
    int64_t now = clock_wall_ms();
    char *out = NULL;
    if (cJSON_IsNumber(exp) && (int64_t)exp->valuedouble < now + HQ_RESIGN_MARGIN_MS) {
        char topic[TOPIC_MAX];
        topic_inbox(topic, sizeof(topic), h->cfg->brand, store);
        cJSON_ReplaceItemInObjectCaseSensitive(msg, "issued", cJSON_CreateNumber((double)now));
        cJSON_ReplaceItemInObjectCaseSensitive(
            msg, "expires", cJSON_CreateNumber((double)(now + HQ_RESIGN_LIFETIME_MS)));
        if (sign_message(h->key, h->kid, topic, msg) == ML_OK)
            out = canon_json(msg);
    }
    cJSON_Delete(msg);
    return out;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned int status, const char *type,
                                 char *buf, size_t len, int more)
{
    struct MHD_Response *resp =
        len == 0 ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
                 : MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(buf);
        return MHD_NO;
    }
    if (len == 0)
        free(buf);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (more)
        MHD_add_response_header(resp, "X-More", "1");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned int status,
                                  const char *code, const char *message)
{
    char text[512];
    int n = snprintf(text, sizeof(text), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", code,
                     message);
    char *buf = strdup(text);
    if (buf == NULL)
        return MHD_NO;
    return send_text(conn, status, "application/json", buf, (size_t)n, 0);
}

/* The store id of /v1/stores/<store>/changes into store; -1 for any other path. */
static int parse_path(const char *url, char store[HQ_CONFIG_ID_MAX + 1])
{
    size_t pl = strlen(STORES_PREFIX);
    if (strncmp(url, STORES_PREFIX, pl) != 0)
        return -1;
    const char *s = url + pl;
    const char *slash = strchr(s, '/');
    if (slash == NULL || strcmp(slash, CHANGES_SUFFIX) != 0)
        return -1;
    size_t n = (size_t)(slash - s);
    if (n == 0 || n > HQ_CONFIG_ID_MAX)
        return -1;
    memcpy(store, s, n);
    store[n] = '\0';
    return inifile_valid_id(store, HQ_CONFIG_ID_MAX) ? 0 : -1;
}

/* A response being collected: the store's lines after its campaigns. */
struct collect {
    struct hq_http *h;
    const char *store;
    struct body *b;
    size_t start, lines; /* where the store's own lines begin, and how many */
    int more;            /* lines were left out */
};

static enum hq_walk add_campaign(void *arg, const struct hq_outgoing_text *m)
{
    struct collect *c = arg;
    return body_add_line(c->b, m->text, m->len) == 0 ? HQ_WALK_NEXT : HQ_WALK_FAIL;
}

static enum hq_walk add_change(void *arg, const struct hq_outgoing_text *m)
{
    struct collect *c = arg;
    struct body *b = c->b;
    if (c->lines == HQ_CHANGES_LINES_MAX ||
        (c->lines > 0 && b->len - c->start + m->len + 1 > HQ_CHANGES_BYTES_MAX)) {
        c->more = 1;
        return HQ_WALK_STOP;
    }
    char *fresh = resign_if_stale(c->h, c->store, m->text, m->len);
    int added = fresh ? body_add_line(b, fresh, strlen(fresh)) : body_add_line(b, m->text, m->len);
    free(fresh);
    if (added != 0)
        return HQ_WALK_FAIL;
    c->lines++;
    return HQ_WALK_NEXT;
}

/*
 * Fills b with the response for store since `since` inside one read transaction. *ret_more
 * when lines were left out. -1 on a storage error or out of memory.
 */
static int collect(struct hq_http *h, const char *store, int64_t since, struct body *b,
                   int *ret_more)
{
    struct collect c = {.h = h, .store = store, .b = b};
    int known = 0;
    *ret_more = 0;
    if (hq_store_read_begin(h->st) != ML_OK)
        return -1;
    ml_err err = hq_outgoing_known(h->st, store, &known);
    if (err != ML_OK || (!known && !hq_config_has_store(h->cfg, store)))
        goto out; /* unknown store: nothing, not even campaigns */
    if (since == 0 && (err = hq_outgoing_campaigns(h->st, clock_wall_ms(), HQ_CAMPAIGNS_LIVE_MAX,
                                                   add_campaign, &c)) != ML_OK)
        goto out;
    c.start = b->len;
    err = hq_outgoing_changes(h->st, store, since, HQ_CHANGES_LINES_MAX + 1, add_change, &c);
    *ret_more = c.more;
out:
    hq_store_read_end(h->st);
    return err == ML_OK ? 0 : -1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    static int started; /* its address marks a request whose headers were seen */
    struct hq_http *h = cls;
    char store[HQ_CONFIG_ID_MAX + 1];
    int64_t since = 0;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                          "only GET is served");
    /* Answer once the whole request is in (the second call), so MHD keeps the connection
     * open for the next request of a catch-up. */
    if (*con_cls == NULL) {
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if ((cl != NULL && strcmp(cl, "0") != 0) ||
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding") != NULL)
            return send_error(conn, MHD_HTTP_BAD_REQUEST, "unexpected_body",
                              "a GET request carries no body");
        *con_cls = &started;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* not announced in the headers: dropped */
        return MHD_YES;
    }
    if (parse_path(url, store) != 0)
        return send_error(conn, MHD_HTTP_NOT_FOUND, "not_found",
                          "expected /v1/stores/<store>/changes?since=<cursor>");
    const char *sv = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since");
    if (num_parse_i64(sv, 0, CANON_INT_MAX, &since) != 0)
        return send_error(conn, MHD_HTTP_BAD_REQUEST, "bad_since",
                          "since must be a cursor: an integer from 0 to 2^53");
    struct body b = {0};
    int more = 0;
    if (collect(h, store, since, &b, &more) != 0) {
        log_error("http: changes of %s since %" PRId64 ": %s", store, since,
                  hq_store_errmsg(h->st));
        free(b.buf);
        return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "storage_error",
                          "the HQ database cannot be read now; try again");
    }
    /* Last line: a fresh signed hq.time, the store's trusted clock (hq_push.h). */
    struct hq_push_msg beacon;
    if (h->key != NULL && (b.len > 0 || hq_config_has_store(h->cfg, store)) &&
        hq_push_time_beacon(h->cfg->brand, h->key, h->kid, clock_wall_ms(), &beacon) == ML_OK) {
        int bad = body_add_line(&b, beacon.text, beacon.len);
        free(beacon.text);
        if (bad) {
            free(b.buf);
            return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out_of_memory",
                              "out of memory; try again");
        }
    }
    log_debug("http: %s since %" PRId64 ": %zu bytes%s", store, since, b.len, more ? ", more" : "");
    return send_text(conn, MHD_HTTP_OK, "application/x-ndjson", b.buf, b.len, more);
}

ml_err hq_http_start(const struct hq_config *cfg, const char *db_path, struct hq_http **ret_http,
                     char *errbuf, size_t errlen)
{
    ml_err result = ML_NOMEM;
    struct addrinfo hints = {0}, *ai = NULL;
    struct hq_http *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        snprintf(errbuf, errlen, "http: out of memory");
        return ML_NOMEM;
    }
    h->cfg = cfg;
    char keyerr[256];
    if (hq_key_load(cfg->data_dir, &h->key, h->kid, keyerr, sizeof(keyerr)) != ML_OK) {
        h->key = NULL;
        log_warn("http: no signing key (%s): expired messages are served as stored", keyerr);
    }
    if ((result = hq_store_open(db_path, HQ_STORE_READONLY, &h->st, errbuf, errlen)) != ML_OK)
        goto out;
    char port[8];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    snprintf(port, sizeof(port), "%u", (unsigned)cfg->http_port);
    int gai = getaddrinfo(cfg->http_host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(errbuf, errlen, "[hq] http_listen %s:%u: %s", cfg->http_host,
                 (unsigned)cfg->http_port, gai_strerror(gai));
        result = ML_CONFIG;
        goto out;
    }
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->mhd = MHD_start_daemon(flags, cfg->http_port, NULL, NULL, on_request, h,
                              MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned int)HQ_HTTP_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned int)HQ_HTTP_TIMEOUT_S, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (h->mhd == NULL) {
        snprintf(errbuf, errlen, "[hq] http_listen %s:%u: cannot listen (address in use?)",
                 cfg->http_host, (unsigned)cfg->http_port);
        result = ML_CONFIG;
        goto out;
    }
    *ret_http = h;
    return ML_OK;
out:
    hq_http_stop(h);
    return result;
}

void hq_http_stop(struct hq_http *h)
{
    if (h == NULL)
        return;
    if (h->mhd != NULL)
        MHD_stop_daemon(h->mhd);
    hq_store_close(h->st);
    EVP_PKEY_free(h->key);
    free(h);
}
