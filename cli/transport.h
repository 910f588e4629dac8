/*
 * transport: the HTTP calls of `memberlink` to memberlinkd's local API, with libcurl.
 * Where to send them and with which token comes from the memberlinkd configuration
 * (agent/config/config.h) or the --url/--token options. A request has a bounded answer
 * (CLI_RESPONSE_MAX), a connect and total timeout (CLI_TIMEOUT_S) and no proxy.
 *
 * A function that returns an exit status (cli_exit.h) has reported its failure once: on
 * stderr ("memberlink: ..."), or for an API error as "error: CODE: MESSAGE" (the error
 * object on stdout with --json). It is CLI_EXIT_API for an API error, CLI_EXIT_UNREACHABLE
 * for no usable answer, CLI_EXIT_USAGE for a local or configuration error, and the command
 * ends with it. Nothing here knows the commands.
 */
#ifndef ML_CLI_TRANSPORT_H
#define ML_CLI_TRANSPORT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "config.h"

#define CLI_RESPONSE_MAX (4u * 1024u * 1024u) /* bytes of one response body */
#define CLI_TIMEOUT_S 10L                     /* connect + whole request, seconds */
#define CLI_URL_MAX 512                       /* bytes of the base URL, with its NUL */
#define CLI_KEY_MAX 128                       /* Idempotency-Key length */

/* Where requests go; filled by transport_setup(), read only by this module. */
struct transport {
    int json;                         /* --json: an API error object goes to stdout */
    char base[CLI_URL_MAX];           /* "http://host:port", no trailing '/' */
    char auth[CONFIG_TOKEN_MAX + 32]; /* "Authorization: Bearer <token>" */
};

/* One answer with a 2xx status and a JSON object body. Release with
 * transport_reply_free(). */
struct transport_reply {
    long status;
    char *body;  /* the body as received, NUL-terminated, owned */
    size_t len;  /* bytes of body, without the NUL */
    cJSON *json; /* the parsed body, an object, owned */
};

/* curl_global_init(): CLI_EXIT_OK, or CLI_EXIT_USAGE (reported). Once, before any request;
 * transport_global_cleanup() after the last. */
int transport_global_init(void);
void transport_global_cleanup(void);

/*
 * Fills t from the configuration at config_path (NULL: the embedded defaults), or from
 * `url` and `token` where given (NULL: from the configuration; the token then from
 * [agent] api_token or <data_dir>/api.token). `json` is the --json option. Borrows every
 * argument. CLI_EXIT_OK, or CLI_EXIT_USAGE (reported) for a configuration that does not
 * load, a token that is not 1..CONFIG_TOKEN_MAX printable characters without spaces, or a
 * URL that is not http(s):// and shorter than CLI_URL_MAX.
 */
int transport_setup(struct transport *t, const char *config_path, const char *url,
                    const char *token, int json);

/*
 * Sends one request to t->base + path. `body` (JSON text, may be NULL) makes it a POST,
 * NULL a GET; `idem_key` (may be NULL; transport_header_safe() to CLI_KEY_MAX) becomes the
 * Idempotency-Key header. On a 2xx answer with a JSON object body, fills *ret (caller
 * frees with transport_reply_free()) and returns CLI_EXIT_OK. Otherwise reports, leaves
 * *ret untouched and returns CLI_EXIT_API, CLI_EXIT_UNREACHABLE or CLI_EXIT_USAGE.
 * Borrows everything it is given.
 */
int transport_request(const struct transport *t, const char *path, const char *body,
                      const char *idem_key, struct transport_reply *ret);

/* transport_request() with the body a cJSON tree printed compactly (NULL for a GET). */
int transport_request_json(const struct transport *t, const char *path, const cJSON *body,
                           const char *idem_key, struct transport_reply *ret);

/* Frees what r holds and zeroes it; NULL-safe, and safe on a zeroed reply. */
void transport_reply_free(struct transport_reply *r);

/* s percent-escaped as one URL path segment or query value; NULL when out of memory.
 * Caller frees with transport_escape_free(). */
char *transport_escape(const char *s);
void transport_escape_free(char *escaped); /* NULL-safe */

/* 1 when s is 1..max bytes of printable ASCII without spaces (safe in an HTTP header). */
int transport_header_safe(const char *s, size_t max);

#endif
