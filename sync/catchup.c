/*
 * catchup: HTTP download of HQ changes on a helper thread; see catchup.h.
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

struct catchup {
    int pipefd[2];
    pthread_t thread;
    int running;
    char url[1024];
    struct catchup_result result;
};

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    struct catchup_result *r = user;
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
    struct catchup_result *r = user;
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
    struct catchup_result *r = &c->result;
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

struct catchup *catchup_new(void)
{
    struct catchup *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    if (pipe2(c->pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(c);
        return NULL;
    }
    return c;
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
    return c->pipefd[0];
}

int catchup_busy(const struct catchup *c)
{
    return c->running;
}

ml_err catchup_start(struct catchup *c, const char *url)
{
    if (c->running || strlen(url) >= sizeof(c->url))
        return ML_FAILURE;
    if (curl_load() != 0)
        return ML_FAILURE; /* libcurl4 is a dependency; this means a broken install */
    snprintf(c->url, sizeof(c->url), "%s", url);
    free(c->result.body);
    memset(&c->result, 0, sizeof(c->result));
    if (pthread_create(&c->thread, NULL, download, c) != 0)
        return ML_FAILURE;
    c->running = 1;
    return ML_OK;
}

int catchup_collect(struct catchup *c, struct catchup_result *ret)
{
    char done;
    if (!c->running || read(c->pipefd[0], &done, 1) != 1)
        return -1;
    pthread_join(c->thread, NULL);
    c->running = 0;
    *ret = c->result;
    memset(&c->result, 0, sizeof(c->result));
    return 0;
}
