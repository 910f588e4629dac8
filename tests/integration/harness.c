/* harness: real-daemon fixtures for integration tests and benchmarks; see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HARNESS_BODY_MAX (8u * 1024u * 1024u)

const char *harness_bin_dir(void)
{
    const char *b = getenv("ML_BIN");
    return b && *b ? b : "./build";
}

int64_t harness_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

uint16_t harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

int daemon_setup(struct daemon *d, const char *extra_conf)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "/tmp/memberlink-test-XXXXXX");
    if (mkdtemp(d->dir) == NULL)
        return -1;
    d->port = harness_free_port();
    snprintf(d->url, sizeof(d->url), "http://127.0.0.1:%u", (unsigned)d->port);
    snprintf(d->conf, sizeof(d->conf), "%s/memberlink.conf", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
    FILE *f = fopen(d->conf, "w");
    if (f == NULL)
        return -1;
    fprintf(f,
            "[store]\nbrand = demo\nstore = S001\nterminal = T01\n"
            "phone_key = 0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0\n"
            "[agent]\ndata_dir = %s\napi_listen = 127.0.0.1:%u\napi_token = %s\n%s",
            d->dir, (unsigned)d->port, HARNESS_TOKEN, extra_conf ? extra_conf : "");
    return fclose(f) == 0 ? 0 : -1;
}

static pid_t spawn(struct daemon *d, const char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int daemon_import(struct daemon *d, const char *facts_path)
{
    char exe[512];
    snprintf(exe, sizeof(exe), "%s/memberlinkd", harness_bin_dir());
    const char *argv[] = {exe, "-c", d->conf, "--import-facts", facts_path, NULL};
    pid_t pid = spawn(d, argv);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int daemon_start(struct daemon *d)
{
    char exe[512];
    snprintf(exe, sizeof(exe), "%s/memberlinkd", harness_bin_dir());
    const char *argv[] = {exe, "-c", d->conf, NULL};
    d->pid = spawn(d, argv);
    if (d->pid < 0)
        return -1;
    for (int i = 0; i < 200; i++) {
        struct http_resp r;
        if (http_call(d, "GET", "/v1/status", NULL, NULL, &r) == 0 && r.status == 200) {
            http_resp_free(&r);
            return 0;
        }
        http_resp_free(&r);
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            d->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return -1;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

void daemon_signal(struct daemon *d, int sig)
{
    int status = 0;
    if (d->pid <= 0)
        return;
    kill(d->pid, sig);
    waitpid(d->pid, &status, 0);
    d->pid = 0;
    d->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int daemon_cleanup(struct daemon *d)
{
    int clean = 0;
    if (d->pid > 0) {
        daemon_signal(d, SIGTERM);
        /* A clean shutdown exits 0; under ASan a leak makes it non-zero. */
        if (d->exit_status != 0) {
            fprintf(stderr, "harness: memberlinkd exited %d on SIGTERM (log kept: %s)\n",
                    d->exit_status, d->log);
            return -1;
        }
    }
    if (d->dir[0] != '\0' && getenv("ML_KEEP") == NULL) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "harness: could not remove %s\n", d->dir);
    }
    return clean;
}

struct buf {
    char *data;
    size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *user)
{
    struct buf *b = user;
    size_t add = size * n;
    if (b->len + add > HARNESS_BODY_MAX)
        return 0;
    char *nd = realloc(b->data, b->len + add + 1);
    if (nd == NULL)
        return 0;
    memcpy(nd + b->len, p, add);
    b->data = nd;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

int http_call_raw(const struct daemon *d, const char *method, const char *path,
                  const char *auth_header, const char *idem_key, const char *body, size_t len,
                  struct http_resp *ret)
{
    /* One handle per thread of use, reused so benchmarks measure a kept-alive connection. */
    static CURL *h;
    memset(ret, 0, sizeof(*ret));
    if (h == NULL) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        h = curl_easy_init();
    }
    if (h == NULL)
        return -1;
    curl_easy_reset(h);
    char url[512], idem[200];
    snprintf(url, sizeof(url), "%s%s", d->url, path);
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    if (auth_header)
        hdr = curl_slist_append(hdr, auth_header);
    if (idem_key) {
        snprintf(idem, sizeof(idem), "Idempotency-Key: %s", idem_key);
        hdr = curl_slist_append(hdr, idem);
    }
    struct buf b = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdr);
    if (rc != CURLE_OK) {
        free(b.data);
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status);
    ret->body = b.data ? b.data : calloc(1, 1);
    ret->json = cJSON_Parse(ret->body);
    return 0;
}

int http_call(const struct daemon *d, const char *method, const char *path, const char *idem_key,
              const char *body, struct http_resp *ret)
{
    return http_call_raw(d, method, path, "Authorization: Bearer " HARNESS_TOKEN, idem_key, body,
                         body ? strlen(body) : 0, ret);
}

void http_resp_free(struct http_resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

const char *json_str_at(const cJSON *obj, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(f) ? f->valuestring : "";
}

const char *http_error_code(const struct http_resp *r)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->json, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    return cJSON_IsString(c) ? c->valuestring : "";
}

double json_num_at(const cJSON *root, const char *path)
{
    char part[64];
    const cJSON *cur = root;
    while (cur != NULL && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(part))
            return -1;
        memcpy(part, path, n);
        part[n] = '\0';
        if (cJSON_IsArray(cur))
            cur = cJSON_GetArrayItem(cur, (int)strtol(part, NULL, 10));
        else
            cur = cJSON_GetObjectItemCaseSensitive(cur, part);
        path += n + (dot ? 1 : 0);
    }
    if (cJSON_IsBool(cur))
        return cJSON_IsTrue(cur) ? 1 : 0;
    return cJSON_IsNumber(cur) ? cur->valuedouble : -1;
}

const char *daemon_write_file(struct daemon *d, const char *name, const char *text)
{
    static char path[400];
    snprintf(path, sizeof(path), "%s/%s", d->dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return NULL;
    fputs(text, f);
    fclose(f);
    return path;
}

long proc_rss_kb(pid_t pid, int peak)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    const char *key = peak ? "VmHWM:" : "VmRSS:";
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, key, strlen(key)) == 0)
            kb = strtol(line + strlen(key), NULL, 10);
    fclose(f);
    return kb;
}

static int port_accepts(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int broker_start(struct broker *b)
{
    if (b->dir[0] == '\0') {
        snprintf(b->dir, sizeof(b->dir), "/tmp/memberlink-broker-XXXXXX");
        if (mkdtemp(b->dir) == NULL)
            return -1;
    }
    if (b->port == 0)
        b->port = harness_free_port();
    char conf[300], log[300];
    snprintf(conf, sizeof(conf), "%s/mosquitto.conf", b->dir);
    snprintf(log, sizeof(log), "%s/mosquitto.log", b->dir);
    FILE *f = fopen(conf, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "listener %u 127.0.0.1\nallow_anonymous true\npersistence false\n",
            (unsigned)b->port);
    fclose(f);
    b->pid = fork();
    if (b->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        if (port_accepts(b->port))
            return 0;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

void broker_stop(struct broker *b)
{
    if (b->pid <= 0)
        return;
    kill(b->pid, SIGTERM);
    waitpid(b->pid, NULL, 0);
    b->pid = 0;
}

void broker_cleanup(struct broker *b)
{
    broker_stop(b);
    if (b->dir[0] != '\0' && getenv("ML_KEEP") == NULL) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "harness: could not remove %s\n", b->dir);
    }
}

double daemon_status_num(const struct daemon *d, const char *path)
{
    struct http_resp r;
    double v = -1;
    if (http_call(d, "GET", "/v1/status", NULL, NULL, &r) == 0 && r.status == 200)
        v = json_num_at(r.json, path);
    http_resp_free(&r);
    return v;
}

int wait_status_num(const struct daemon *d, const char *path, double want, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        struct http_resp r;
        if (http_call(d, "GET", "/v1/status", NULL, NULL, &r) == 0) {
            double v = json_num_at(r.json, path);
            if (v == want) {
                http_resp_free(&r);
                return 0;
            }
            /* booleans: "connected" */
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(r.json, path);
            if (cJSON_IsBool(c) && (cJSON_IsTrue(c) ? 1.0 : 0.0) == want) {
                http_resp_free(&r);
                return 0;
            }
        }
        http_resp_free(&r);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

char *harness_read_file(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    if (ret_len)
        *ret_len = len;
    return buf;
}

int harness_run(const char *const argv[], const char *dir, int timeout_ms, char **ret_out,
                char **ret_err)
{
    char out_path[400], err_path[400];
    snprintf(out_path, sizeof(out_path), "%s/run.out", dir);
    snprintf(err_path, sizeof(err_path), "%s/run.err", dir);
    unlink(out_path);
    unlink(err_path);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    pid_t r;
    for (int waited = 0; (r = waitpid(pid, &status, WNOHANG)) == 0 && waited < timeout_ms;
         waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
    }
    if (ret_out)
        *ret_out = harness_read_file(out_path, NULL);
    if (ret_err)
        *ret_err = harness_read_file(err_path, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int harness_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

int harness_count_in_file(const char *path, const char *needle)
{
    char *text = harness_read_file(path, NULL);
    int n = 0;
    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(text);
    return n;
}

pid_t harness_spawn(const char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (log != NULL) {
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int harness_stop(pid_t *pid, int sig, int timeout_ms)
{
    if (*pid <= 0)
        return -1;
    kill(*pid, sig);
    int status = 0;
    int64_t deadline = harness_mono_ms() + timeout_ms;
    pid_t r;
    while ((r = waitpid(*pid, &status, WNOHANG)) == 0 && harness_mono_ms() < deadline)
        harness_sleep_ms(20);
    if (r == 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, &status, 0);
        *pid = 0;
        return -1;
    }
    *pid = 0;
    if (r < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int harness_hq_vrun(const char *conf, const char *dir, int timeout_ms, char **ret_out,
                    char **ret_err, const char *first, va_list ap)
{
    const char *argv[40];
    char exe[512];
    snprintf(exe, sizeof(exe), "%s/memberlink-hq", harness_bin_dir());
    int argc = 0;
    argv[argc++] = exe;
    if (conf != NULL) {
        argv[argc++] = "-c";
        argv[argc++] = conf;
    }
    for (const char *a = first; a != NULL && argc < 39; a = va_arg(ap, const char *))
        argv[argc++] = a;
    argv[argc] = NULL;
    return harness_run(argv, dir, timeout_ms, ret_out, ret_err);
}

int harness_hq_serve(const char *conf, const char *log, const char *const ready[], int timeout_ms,
                     pid_t *ret_pid)
{
    char exe[512];
    int before[8] = {0};
    size_t n = 0;
    snprintf(exe, sizeof(exe), "%s/memberlink-hq", harness_bin_dir());
    if (access(exe, X_OK) != 0) {
        fprintf(stderr, "%s: %s (build it: make; or set ML_BIN)\n", exe, strerror(errno));
        return -1;
    }
    for (; ready[n] != NULL && n < sizeof(before) / sizeof(before[0]); n++)
        before[n] = harness_count_in_file(log, ready[n]);
    const char *argv[] = {exe, "-c", conf, "serve", NULL};
    if ((*ret_pid = harness_spawn(argv, log)) < 0) {
        *ret_pid = 0;
        return -1;
    }
    int64_t deadline = harness_mono_ms() + timeout_ms;
    for (;;) {
        size_t have = 0;
        for (size_t i = 0; i < n; i++)
            have += harness_count_in_file(log, ready[i]) > before[i];
        if (have == n)
            return 0;
        int status;
        if (waitpid(*ret_pid, &status, WNOHANG) == *ret_pid) {
            *ret_pid = 0;
            fprintf(stderr, "memberlink-hq exited at start; log: %s\n", log);
            return -1;
        }
        if (harness_mono_ms() >= deadline)
            return -1;
        harness_sleep_ms(20);
    }
}
