/*
 * transport: memberlink's requests to the agent over libcurl; see transport.h.
 * Nothing here knows the commands: a path, a body and a key go out, a parsed JSON object
 * (or one reported failure) comes back.
 */
#include "transport.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_exit.h"
#include "jsonutil.h"
#include "print.h"

/* The answer being received: at most CLI_RESPONSE_MAX bytes, always NUL-terminated. */
struct body_buf {
    char *p;
    size_t len, cap;
    int overflow;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct body_buf *b = user;
    size_t n = size * nmemb;
    if (n > CLI_RESPONSE_MAX - b->len) {
        b->overflow = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > CLI_RESPONSE_MAX + 1)
            cap = CLI_RESPONSE_MAX + 1;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* Appends a header line; on failure the list is left as it was. Returns 0 or -1. */
static int add_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l == NULL)
        return -1;
    *list = l;
    return 0;
}

void transport_reply_free(struct transport_reply *r)
{
    if (r == NULL)
        return;
    cJSON_Delete(r->json);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/*
 * Parses an answer of len bytes (NUL-terminated at body[len]) as one JSON value; NULL when
 * it is not one. json_parse_bounded() takes a NUL byte after the value for whitespace; the
 * CLI refuses any NUL, since --json writes the body out as it came. Its depth limit
 * (JSON_DEPTH_MAX, 8) is twice what the deepest answer of the API nests (a sale: 4).
 * Caller frees with cJSON_Delete().
 */
static cJSON *parse_body(const char *body, size_t len)
{
    if (body == NULL || memchr(body, '\0', len) != NULL)
        return NULL;
    return json_parse_bounded(body, len, NULL);
}

/* A string member, or NULL when obj is NULL, or it is missing or not a string. */
static const char *str_field(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Reports a non-2xx answer: the error object on stdout with --json, else one line. */
static void report_api_error(const struct transport *t, long status, const char *body, size_t len)
{
    cJSON *json = parse_body(body, len);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(json, "error");
    const char *code = str_field(err, "code");
    const char *message = str_field(err, "message");
    char cbuf[128], mbuf[512];

    if (t->json && json != NULL) {
        print_json_pretty(stdout, body, len);
    } else if (code != NULL) {
        fprintf(stderr, "error: %s: %s\n", print_clean(code, cbuf, sizeof(cbuf)),
                print_clean(message != NULL ? message : "", mbuf, sizeof(mbuf)));
    } else {
        fprintf(stderr, "error: http_%ld: the agent answered HTTP %ld without an error object\n",
                status, status);
    }
    cJSON_Delete(json);
}

int transport_request(const struct transport *t, const char *path, const char *body,
                      const char *idem_key, struct transport_reply *ret)
{
    int result = CLI_EXIT_UNREACHABLE;
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    struct body_buf buf = {0};
    char url[CLI_URL_MAX + 1024];
    char keyhdr[CLI_KEY_MAX + 32];
    char errbuf[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURLcode cr = CURLE_OK;
    cJSON *json = NULL;

    if ((size_t)snprintf(url, sizeof(url), "%s%s", t->base, path) >= sizeof(url)) {
        fprintf(stderr, "memberlink: request URL too long\n");
        result = CLI_EXIT_USAGE;
        goto out;
    }
    curl = curl_easy_init();
    if (curl == NULL) {
        fprintf(stderr, "memberlink: cannot initialise libcurl\n");
        result = CLI_EXIT_USAGE;
        goto out;
    }
    if (add_header(&headers, t->auth) != 0 ||
        add_header(&headers, "Content-Type: application/json") != 0 ||
        add_header(&headers, "Accept: application/json") != 0 ||
        add_header(&headers, "Expect:") != 0) { /* no 100-continue round trip */
        fprintf(stderr, "memberlink: out of memory\n");
        result = CLI_EXIT_USAGE;
        goto out;
    }
    if (idem_key != NULL) {
        snprintf(keyhdr, sizeof(keyhdr), "Idempotency-Key: %s", idem_key);
        if (add_header(&headers, keyhdr) != 0) {
            fprintf(stderr, "memberlink: out of memory\n");
            result = CLI_EXIT_USAGE;
            goto out;
        }
    }

    cr = curl_easy_setopt(curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    if (cr == CURLE_OK)
        cr = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    if (cr == CURLE_OK)
        cr = curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    /* The agent is local: never send the token through a proxy from the environment. */
    if (cr == CURLE_OK)
        cr = curl_easy_setopt(curl, CURLOPT_PROXY, "");
    if (cr == CURLE_OK)
        cr = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (cr == CURLE_OK)
        cr = curl_easy_setopt(curl, CURLOPT_USERAGENT, "memberlink-cli");
    if (cr == CURLE_OK)
        cr = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (cr == CURLE_OK)
        cr = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CLI_TIMEOUT_S);
    if (cr == CURLE_OK)
        cr = curl_easy_setopt(curl, CURLOPT_TIMEOUT, CLI_TIMEOUT_S);
    if (cr == CURLE_OK)
        cr = curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    if (cr == CURLE_OK)
        cr = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    if (cr == CURLE_OK)
        cr = curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    if (body != NULL) {
        if (cr == CURLE_OK)
            cr = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        if (cr == CURLE_OK)
            cr = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    } else if (cr == CURLE_OK) {
        cr = curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    }
    if (cr != CURLE_OK) {
        fprintf(stderr, "memberlink: libcurl: %s\n", curl_easy_strerror(cr));
        result = CLI_EXIT_USAGE;
        goto out;
    }

    cr = curl_easy_perform(curl);
    if (cr != CURLE_OK) {
        if (buf.overflow)
            fprintf(stderr, "memberlink: %s: response larger than %u bytes\n", url,
                    CLI_RESPONSE_MAX);
        else
            fprintf(stderr, "memberlink: cannot reach the agent at %s: %s\n", t->base,
                    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cr));
        goto out;
    }
    (void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        report_api_error(t, status, buf.p, buf.len);
        result = CLI_EXIT_API;
        goto out;
    }
    json = parse_body(buf.p, buf.len);
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        fprintf(stderr, "memberlink: %s: the agent answered HTTP %ld without a JSON object\n", url,
                status);
        goto out;
    }
    ret->status = status;
    ret->body = buf.p;
    ret->len = buf.len;
    ret->json = json;
    buf.p = NULL;
    result = CLI_EXIT_OK;
out:
    free(buf.p);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return result;
}

char *transport_escape(const char *s)
{
    CURL *curl = curl_easy_init();
    if (curl == NULL)
        return NULL;
    char *e = curl_easy_escape(curl, s, 0);
    curl_easy_cleanup(curl);
    return e;
}

int transport_request_json(const struct transport *t, const char *path, const cJSON *body,
                           const char *idem_key, struct transport_reply *ret)
{
    char *text = NULL;
    if (body != NULL) {
        text = cJSON_PrintUnformatted(body);
        if (text == NULL) {
            fprintf(stderr, "memberlink: out of memory\n");
            return CLI_EXIT_USAGE;
        }
    }
    int result = transport_request(t, path, text, idem_key, ret);
    cJSON_free(text);
    return result;
}

void transport_escape_free(char *escaped)
{
    curl_free(escaped);
}

int transport_global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "memberlink: cannot initialise libcurl\n");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

void transport_global_cleanup(void)
{
    curl_global_cleanup();
}

int transport_setup(struct transport *t, const char *config_path, const char *url,
                    const char *token, int json)
{
    struct config cfg;
    char errbuf[CONFIG_PATH_MAX + 256];

    t->json = json;
    config_defaults(&cfg);
    if (config_path != NULL && config_load(&cfg, config_path, errbuf, sizeof(errbuf)) != ML_OK) {
        fprintf(stderr, "memberlink: %s\n", errbuf);
        return CLI_EXIT_USAGE;
    }
    if (token == NULL) {
        /* The CLI never uses the phone key: mark it present so only the token is read. */
        cfg.has_phone_key = 1;
        if (config_resolve_secrets(&cfg, 0, errbuf, sizeof(errbuf)) != ML_OK) {
            fprintf(stderr, "memberlink: %s\n", errbuf);
            return CLI_EXIT_USAGE;
        }
        token = cfg.api_token;
    }
    if (!transport_header_safe(token, CONFIG_TOKEN_MAX)) {
        fprintf(stderr,
                "memberlink: the API token must be 1-%d printable characters without "
                "spaces\n",
                CONFIG_TOKEN_MAX);
        return CLI_EXIT_USAGE;
    }
    snprintf(t->auth, sizeof(t->auth), "Authorization: Bearer %s", token);

    if (url != NULL) {
        size_t n = strlen(url);
        if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
            n >= sizeof(t->base) || !transport_header_safe(url, sizeof(t->base) - 1)) {
            fprintf(stderr,
                    "memberlink: --url: expected http://HOST:PORT (at most %zu "
                    "characters)\n",
                    sizeof(t->base) - 1);
            return CLI_EXIT_USAGE;
        }
        memcpy(t->base, url, n + 1);
    } else {
        /* A bare IPv6 address needs brackets in a URL. */
        int v6 = strchr(cfg.api_host, ':') != NULL && cfg.api_host[0] != '[';
        snprintf(t->base, sizeof(t->base), "http://%s%s%s:%u", v6 ? "[" : "", cfg.api_host,
                 v6 ? "]" : "", (unsigned)cfg.api_port);
    }
    size_t n = strlen(t->base);
    while (n > 0 && t->base[n - 1] == '/')
        t->base[--n] = '\0';
    return CLI_EXIT_OK;
}

int transport_header_safe(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return 0;
    return 1;
}
