/*
 * harness: runs a real memberlinkd for integration tests and benchmarks: a temp data
 * dir, a free loopback port, facts imported through `memberlinkd --import-facts`, and
 * libcurl calls to the real HTTP API. The daemon binary is $ML_BIN/memberlinkd
 * (ML_BIN defaults to ./build). Also what the HQ tests share: a mosquitto broker,
 * `memberlink-hq serve` and its commands, processes, files and JSON fields.
 */
#ifndef ML_HARNESS_H
#define ML_HARNESS_H

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#define HARNESS_TOKEN "integration-test-token-0001"

struct daemon {
    pid_t pid;
    char dir[256];
    char conf[320];
    char url[64];
    uint16_t port;
    char log[320];
    int exit_status; /* set when daemon_start saw the daemon exit */
};

struct http_resp {
    long status;
    char *body;  /* NUL-terminated */
    cJSON *json; /* parsed body or NULL */
};

/*
 * Runs argv (NULL-terminated, argv[0] a path) to completion within timeout_ms, its stdout
 * and stderr going to files in `dir`. Returns the exit code (128+signal), or -1 on a
 * timeout (the program is killed). *ret_out / *ret_err (may be NULL) receive the output,
 * caller frees.
 */
int harness_run(const char *const argv[], const char *dir, int timeout_ms, char **ret_out,
                char **ret_err);

/* A whole file, NUL-terminated (caller frees), or NULL. */
char *harness_read_file(const char *path, size_t *ret_len);

/* Writes `text` to path (created or truncated). 0 on success. */
int harness_write_file(const char *path, const char *text);

/* How often `needle` occurs in the file at path; 0 when it cannot be read. */
int harness_count_in_file(const char *path, const char *needle);

/* CLOCK_MONOTONIC in ms, for deadlines. */
int64_t harness_mono_ms(void);

void harness_sleep_ms(int ms);

/* Where the programs under test are: $ML_BIN, default ./build. */
const char *harness_bin_dir(void);

/* Starts argv (argv[0] a path, or a name looked up on PATH) with stdout and stderr appended
 * to `log` (NULL: inherited). The child's pid, or -1. */
pid_t harness_spawn(const char *const argv[], const char *log);

/*
 * Sends `sig` to *pid and reaps it within timeout_ms, then SIGKILL. Returns the exit code
 * (128+signal when a signal ended it), or -1 on a timeout or when *pid is not a process;
 * *pid is 0 afterwards.
 */
int harness_stop(pid_t *pid, int sig, int timeout_ms);

/*
 * Runs $ML_BIN/memberlink-hq as harness_run() does, with `-c conf` first unless conf is
 * NULL, then the arguments from `first` to a NULL (at most 36).
 */
int harness_hq_vrun(const char *conf, const char *dir, int timeout_ms, char **ret_out,
                    char **ret_err, const char *first, va_list ap);

/*
 * Starts `$ML_BIN/memberlink-hq -c conf serve` with its output appended to `log`, and waits
 * up to timeout_ms until each line of the NULL-terminated `ready` appears in the log once
 * more than before the start. 0 when it did. *ret_pid is the process while it runs (stop
 * it with harness_stop()), 0 when it exited.
 */
int harness_hq_serve(const char *conf, const char *log, const char *const ready[], int timeout_ms,
                     pid_t *ret_pid);

/* A loopback TCP port nobody listens on right now. */
uint16_t harness_free_port(void);

/* Creates the data dir and config; `extra_conf` (may be NULL) is appended to [agent]. */
int daemon_setup(struct daemon *d, const char *extra_conf);

/* Imports an NDJSON facts file with `memberlinkd --import-facts`. 0 on success. */
int daemon_import(struct daemon *d, const char *facts_path);

/* Starts the daemon and waits until GET /v1/status answers (up to 10 s). 0 on success. */
int daemon_start(struct daemon *d);

/* Sends `sig`, reaps the process and sets exit_status. */
void daemon_signal(struct daemon *d, int sig);

/*
 * Stops the daemon with SIGTERM if running and removes the data dir. Returns -1 (keeping
 * the dir for its log) when the daemon did not exit 0.
 */
int daemon_cleanup(struct daemon *d);

/* Calls the API with the harness token. idem_key and body may be NULL. 0 on transport success. */
int http_call(const struct daemon *d, const char *method, const char *path, const char *idem_key,
              const char *body, struct http_resp *ret);

/* Same with full control of the Authorization header (NULL: none) and body length. */
int http_call_raw(const struct daemon *d, const char *method, const char *path,
                  const char *auth_header, const char *idem_key, const char *body, size_t len,
                  struct http_resp *ret);

void http_resp_free(struct http_resp *r);

/* The error code of an error answer, or "" */
const char *http_error_code(const struct http_resp *r);

/* Number from a dotted path in a JSON object ("outbox.depth"), booleans as 1 or 0; -1 if
 * absent. */
double json_num_at(const cJSON *root, const char *path);

/* The string member `name` of obj; "" when absent or not a string. */
const char *json_str_at(const cJSON *obj, const char *name);

/* Writes `text` to a new file under the daemon dir; returns the path in a static buffer. */
const char *daemon_write_file(struct daemon *d, const char *name, const char *text);

/* A real mosquitto broker on a loopback port, restartable on the same port. */
struct broker {
    pid_t pid;
    uint16_t port;
    char dir[256];
};

/* Starts mosquitto (port 0: pick a free one) and waits until it accepts connections. */
int broker_start(struct broker *b);
/* SIGTERM and reap; the port stays reserved in b->port for a restart. */
void broker_stop(struct broker *b);
void broker_cleanup(struct broker *b);

/* The number at `path` of one GET /v1/status answer (json_num_at()); -1 when the call fails or
 * the field is absent. */
double daemon_status_num(const struct daemon *d, const char *path);

/* Polls GET /v1/status until the number at `path` equals `want` (timeout ms). 0 if it did. */
int wait_status_num(const struct daemon *d, const char *path, double want, int timeout_ms);

/* Peak and current resident set size in kB of a pid (VmHWM, VmRSS). */
long proc_rss_kb(pid_t pid, int peak);

#endif
