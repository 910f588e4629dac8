/*
 * catchup: HTTP download of HQ changes on a helper thread, imported on the loop's thread;
 * see catchup.h.
 *
 * libcurl and the libraries it pulls in (Kerberos, LDAP, SSH, HTTP/2...) cost about 1.5 MB
 * of resident memory once mapped, so the agent loads it only when it first catches up;
 * a terminal without [hq] url never maps it.
 */
#include "catchup.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "jsonutil.h"
#include "log.h"
#include "topic.h"

/* The libcurl entry points, resolved at first use. */
static struct {
    void *lib;
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
} curl;

static int curl_load(void)
{
    if (curl.lib != NULL)
        return 0;
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return -1;
        /* POSIX lets a void * from dlsym become a function pointer; memcpy keeps -Wpedantic quiet.
         */
#define LOAD(field, name)                                                                          \
    do {                                                                                           \
        void *sym = dlsym(lib, name);                                                              \
        if (sym == NULL) {                                                                         \
            dlclose(lib);                                                                          \
            return -1;                                                                             \
        }                                                                                          \
        memcpy(&curl.field, &sym, sizeof(sym));                                                    \
    } while (0)
    LOAD(global_init, "curl_global_init");
    LOAD(easy_init, "curl_easy_init");
    LOAD(easy_setopt, "curl_easy_setopt");
    LOAD(easy_perform, "curl_easy_perform");
    LOAD(easy_getinfo, "curl_easy_getinfo");
    LOAD(easy_cleanup, "curl_easy_cleanup");
    LOAD(easy_strerror, "curl_easy_strerror");
#undef LOAD
    if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        dlclose(lib);
        return -1;
    }
    curl.lib = lib;
    return 0;
}

/* One finished download. */
struct result {
    long status; /* HTTP status, 0 when the request failed */
    char *body;  /* malloc'd, NUL-terminated */
    size_t len;
    int more;        /* HQ said X-More: 1 */
    char error[160]; /* why, when status != 200 */
};

struct catchup {
    /* the download (the helper thread writes `result`, then one byte into the pipe) */
    int pipefd[2];
    pthread_t thread;
    int running;
    char url[CATCHUP_URL_MAX];
    struct result result;
    /* the import (the loop's thread) */
    const char *hq_url;
    struct db *db;
    struct inbox *inbox;
    const struct inbox_site *site;
    int again;        /* asked for while a download ran: go again when it ends */
    int incomplete;   /* a line skipped a cursor or was not recorded: again after a pause */
    int64_t retry_at; /* monotonic ms of the next attempt after a failure; 0: none */
};

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    struct result *r = user;
    size_t add = size * n;
    if (r->len + add > CATCHUP_BODY_MAX)
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    char *nb = realloc(r->body, r->len + add + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + r->len, p, add);
    r->body = nb;
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *user)
{
    struct result *r = user;
    size_t len = size * n;
    if (len >= 8 && strncasecmp(p, "X-More:", 7) == 0) {
        const char *v = p + 7;
        while (*v == ' ')
            v++;
        r->more = *v == '1';
    }
    return len;
}

static void *download(void *arg)
{
    struct catchup *c = arg;
    struct result *r = &c->result;
    CURL *h = curl.easy_init();
    if (h == NULL) {
        snprintf(r->error, sizeof(r->error), "cannot create an HTTP client");
    } else {
        curl.easy_setopt(h, CURLOPT_URL, c->url);
        curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl.easy_setopt(h, CURLOPT_WRITEDATA, r);
        curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl.easy_setopt(h, CURLOPT_HEADERDATA, r);
        curl.easy_setopt(h, CURLOPT_TIMEOUT, (long)CATCHUP_TIMEOUT_S);
        curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
        curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        CURLcode rc = curl.easy_perform(h);
        if (rc == CURLE_OK)
            curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        else
            snprintf(r->error, sizeof(r->error), "%s", curl.easy_strerror(rc));
        if (rc == CURLE_OK && r->status != 200)
            snprintf(r->error, sizeof(r->error), "HTTP status %ld", r->status);
        curl.easy_cleanup(h);
    }
    char done = 1;
    if (write(c->pipefd[1], &done, 1) != 1) {
        /* The loop then never collects; nothing else can be done from here. */
    }
    return NULL;
}

ml_err catchup_new(const char *hq_url, struct db *db, struct inbox *ib,
                   const struct inbox_site *site, struct catchup **ret)
{
    struct catchup *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ML_NOMEM;
    if (pipe2(c->pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(c);
        return ML_FAILURE;
    }
    c->hq_url = hq_url;
    c->db = db;
    c->inbox = ib;
    c->site = site;
    *ret = c;
    return ML_OK;
}

void catchup_free(struct catchup *c)
{
    if (c == NULL)
        return;
    if (c->running)
        pthread_join(c->thread, NULL);
    free(c->result.body);
    close(c->pipefd[0]);
    close(c->pipefd[1]);
    free(c);
}

int catchup_fd(const struct catchup *c)
{
    return c != NULL && c->running ? c->pipefd[0] : -1;
}

/* Downloads c->url. */
static ml_err start_download(struct catchup *c)
{
    if (c->running)
        return ML_FAILURE;
    if (curl_load() != 0)
        return ML_FAILURE; /* libcurl4 is a dependency; this means a broken install */
    free(c->result.body);
    memset(&c->result, 0, sizeof(c->result));
    if (pthread_create(&c->thread, NULL, download, c) != 0)
        return ML_FAILURE;
    c->running = 1;
    return ML_OK;
}

void catchup_request(struct catchup *c)
{
    if (c->running) {
        c->again = 1;
        return;
    }
    int n = snprintf(c->url, sizeof(c->url), "%s/v1/stores/%s/changes?since=%lld", c->hq_url,
                     c->site->store, (long long)inbox_cursor(c->db));
    c->again = 0;
    c->retry_at = 0;
    if (n < 0 || (size_t)n >= sizeof(c->url) || start_download(c) != ML_OK) {
        log_warn("hq: cannot start catching up");
        c->retry_at = clock_mono_ms() + CATCHUP_RETRY_MS;
    }
}

static void import_line(struct catchup *c, const char *line, size_t len)
{
    enum inbox_result res;
    if (inbox_handle_line(c->inbox, line, len, &res) != ML_OK) {
        log_error("hq: cannot record a caught-up message: %s", db_errmsg(c->db));
        c->incomplete = 1;
    } else if (res == INBOX_GAP) {
        c->incomplete = 1;
    }
}

void catchup_ready(struct catchup *c)
{
    char done;
    if (!c->running || read(c->pipefd[0], &done, 1) != 1)
        return;
    pthread_join(c->thread, NULL);
    c->running = 0;
    struct result r = c->result;
    memset(&c->result, 0, sizeof(c->result));
    if (r.status != 200) {
        log_warn("hq: catching up failed (%s); retrying in %d s", r.error, CATCHUP_RETRY_MS / 1000);
        c->retry_at = clock_mono_ms() + CATCHUP_RETRY_MS;
        free(r.body);
        return;
    }
    size_t lines = 0;
    c->incomplete = 0;
    /* The whole response is imported in one transaction (each message a savepoint in it). */
    if (db_begin(c->db) != ML_OK) {
        free(r.body);
        c->retry_at = clock_mono_ms() + CATCHUP_RETRY_MS;
        return;
    }
    for (char *p = r.body; p != NULL && p < r.body + r.len;) {
        char *nl = memchr(p, '\n', (size_t)(r.body + r.len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(r.body + r.len - p);
        if (n > 0) {
            import_line(c, p, n);
            lines++;
        }
        p = nl ? nl + 1 : NULL;
    }
    free(r.body);
    if (db_commit(c->db) != ML_OK) {
        log_error("hq: cannot record the caught-up messages (%s); retrying", db_errmsg(c->db));
        c->retry_at = clock_mono_ms() + CATCHUP_RETRY_MS;
        return;
    }
    log_info("hq: caught up %zu messages, at cursor %lld", lines, (long long)inbox_cursor(c->db));
    if (c->incomplete) {
        /* A hole HQ's next answer may not fill either: asking again at once could loop. */
        log_warn("hq: the catch-up skipped a cursor after %lld or could not record a line; "
                 "retrying in %d s",
                 (long long)inbox_cursor(c->db), CATCHUP_RETRY_MS / 1000);
        c->retry_at = clock_mono_ms() + CATCHUP_RETRY_MS;
    } else if (r.more || c->again) {
        catchup_request(c);
    }
}

int64_t catchup_retry_at(const struct catchup *c)
{
    return c == NULL ? 0 : c->retry_at;
}

void catchup_tick(struct catchup *c, int64_t now_mono_ms)
{
    if (c != NULL && c->retry_at && now_mono_ms >= c->retry_at)
        catchup_request(c);
}
