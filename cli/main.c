/*
 * cli: `memberlink`, the command-line client of memberlinkd's local HTTP API
 * (docs/api.md). It is a thin client: it builds a request from the command line,
 * sends it with libcurl, and prints the answer either as the server's JSON (--json) or
 * as compact human-readable text. Business rules (limits, validity) are the server's;
 * the CLI only checks what it must to build a well-formed request.
 *
 * Exit codes are a contract with scripts: 0 success, 1 the API answered an error,
 * 2 usage/config/local error, 3 no usable answer from the agent.
 *
 * Everything read from outside is bounded: response bodies (CLI_RESPONSE_MAX), the
 * --items-file (CLI_FILE_MAX), repeated options (CLI_REPEAT_MAX). Text from the server
 * is stripped of control characters before it reaches the terminal.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

#define CLI_RESPONSE_MAX (4u * 1024u * 1024u) /* bytes of one response body */
#define CLI_FILE_MAX (1024u * 1024u)          /* bytes of an --items-file */
#define CLI_REPEAT_MAX 256                    /* --item, --coupon, --line occurrences */
#define CLI_TIMEOUT_S 10L                     /* connect + whole request */
#define CLI_URL_MAX 512                       /* base URL */
#define CLI_KEY_MAX 128                       /* Idempotency-Key length */
#define CLI_KEY_BYTES 16                      /* random key: 32 hex characters */
#define CLI_SALES_DEFAULT 10                  /* `sales` without --limit */
#define CLI_EXACT_MAX 9007199254740992LL      /* 2^53: integers exact in a JSON number */
#define CLI_NUM_MAX 999999999999999LL         /* largest we send: cJSON prints it as digits */

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_API = 1,         /* the API answered 4xx/5xx */
    CLI_EXIT_USAGE = 2,       /* usage, config or local error */
    CLI_EXIT_UNREACHABLE = 3, /* no connection, timeout, or an unusable answer */
};

struct cli {
    const char *config_path; /* -c; NULL = embedded defaults */
    const char *url;         /* --url; NULL = from config */
    const char *token;       /* --token; NULL = from config or <data_dir>/api.token */
    int json;                /* --json */
    char base[CLI_URL_MAX];  /* resolved by cli_setup(), no trailing '/' */
    char auth[CONFIG_TOKEN_MAX + 32];
};

/* A position in argv, shared by the global and per-command option parsers. */
struct cursor {
    int argc;
    char **argv;
    int i;
    int only_positional; /* after "--" */
};

/* One HTTP answer with a 2xx status and a JSON body. Release with reply_free(). */
struct reply {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t len;
    cJSON *json; /* the parsed body, owned */
};

static const char usage_text[] =
    "usage: memberlink [-c FILE] [--json] [--url URL] [--token T] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  identify --phone NUMBER | --qr TEXT\n"
    "      Look a member up: tier, plan, points, bound guide, usable coupons.\n"
    "  checkout [--member ID] [--guide ID] [--item SKU:CATEGORY:QTY:PRICE]...\n"
    "           [--items-file FILE.json] [--coupon ID]... [--points N] [--dry-run]\n"
    "           [--key IDEMPOTENCY_KEY]\n"
    "      Record a sale (or quote it with --dry-run). PRICE is in yuan, e.g. 59.90.\n"
    "      FILE.json holds an array of items (unit_price in minor units) or a whole\n"
    "      request object; options add to or override it. Without --key a random key\n"
    "      is used and printed, so the same sale can be retried safely.\n"
    "  refund SALE_ID|last [--line N]... [--key IDEMPOTENCY_KEY]\n"
    "      Refund the given lines, or the whole sale without --line.\n"
    "  sale SALE_ID|last         Show one sale.\n"
    "  sales [--limit N]         List recent sales, newest first (default 10).\n"
    "  guide commissions GUIDE_ID [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
    "      A guide's commission per day, FROM..TO inclusive (default: today).\n"
    "  status                    Agent status: HQ link, outbox, cache, sales today.\n"
    "  help                      This text.\n"
    "\n"
    "Options:\n"
    "  -c FILE       configuration file (API address and token); default: built-in\n"
    "  --json        print the server's JSON answer instead of text\n"
    "  --url URL     agent base URL (default http://<api_listen> from the config)\n"
    "  --token T     API token (default [agent] api_token or <data_dir>/api.token)\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  the API answered an error (printed as \"error: CODE: MESSAGE\";\n"
    "     with --json the error object is printed on stdout)\n"
    "  2  usage, configuration or local error\n"
    "  3  cannot reach the agent (connection refused, 10 s timeout, unreadable answer);\n"
    "     a checkout or refund may or may not have happened: retry with the same --key\n";

/* ---- small helpers ---------------------------------------------------------------- */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "memberlink: <message>" and a hint on stderr; returns CLI_EXIT_USAGE. */
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("memberlink: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'memberlink help'.\n", stderr);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

/* Parses a whole decimal integer in [min, max]. Returns 0, or -1 writing nothing. */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *ret)
{
    if (s == NULL || !((s[0] >= '0' && s[0] <= '9') || s[0] == '-'))
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *ret = (int64_t)v;
    return 0;
}

/*
 * Parses yuan with at most two decimals ("59.90", "59.9", "59") into minor units,
 * exactly, without floating point. Returns 0, or -1 writing nothing.
 */
static int parse_yuan(const char *s, int64_t *ret)
{
    const int64_t max_yuan = CLI_NUM_MAX / 100;
    int64_t yuan = 0, frac = 0;
    size_t i = 0;
    if (!(s[0] >= '0' && s[0] <= '9'))
        return -1;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        int d = s[i] - '0';
        if (yuan > (max_yuan - d) / 10)
            return -1;
        yuan = yuan * 10 + d;
    }
    if (s[i] == '.') {
        i++;
        if (!(s[i] >= '0' && s[i] <= '9'))
            return -1;
        frac = (s[i++] - '0') * 10;
        if (s[i] >= '0' && s[i] <= '9')
            frac += s[i++] - '0';
    }
    if (s[i] != '\0')
        return -1;
    *ret = yuan * 100 + frac;
    return 0;
}

/* Printable ASCII without spaces, 1..max bytes: safe inside an HTTP header. */
static int header_safe(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return 0;
    return 1;
}

/* Writes 2*CLI_KEY_BYTES hex characters from /dev/urandom into out. Returns 0 or -1. */
static int random_key(char out[2 * CLI_KEY_BYTES + 1])
{
    unsigned char raw[CLI_KEY_BYTES];
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (got < sizeof(raw)) {
        ssize_t n = read(fd, raw + got, sizeof(raw) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != sizeof(raw))
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/*
 * Reads a whole file of at most `max` bytes. Returns a NUL-terminated buffer the caller
 * frees with free(), or NULL with a reason in errbuf.
 */
static char *read_file_bounded(const char *path, size_t max, size_t *ret_len, char *errbuf,
                               size_t errlen)
{
    char *buf = NULL;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(max + 1);
    if (buf == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        goto out;
    }
    size_t n = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        snprintf(errbuf, errlen, "%s: read error", path);
        free(buf);
        buf = NULL;
        goto out;
    }
    if (n > max) {
        snprintf(errbuf, errlen, "%s: larger than %zu bytes", path, max);
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
    *ret_len = n;
out:
    fclose(f);
    return buf;
}

/*
 * Parses exactly `len` bytes of `text` (NUL-terminated at text[len]) as one JSON value.
 * NULL when it is not, or holds a NUL byte. Caller frees with cJSON_Delete().
 */
static cJSON *parse_json(const char *text, size_t len)
{
    if (memchr(text, '\0', len) != NULL)
        return NULL;
    /* With require_null_terminated, cJSON wants the terminator inside the length. */
    return cJSON_ParseWithLengthOpts(text, len + 1, NULL, 1);
}

/*
 * Prints JSON text re-indented by two spaces, token by token, so that every number and
 * string is exactly the server's. Precondition: `text` is valid JSON.
 */
static void print_json_pretty(FILE *out, const char *text, size_t len)
{
    int depth = 0, in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (in_str) {
            fputc(ch, out);
            if (esc)
                esc = 0;
            else if (ch == '\\')
                esc = 1;
            else if (ch == '"')
                in_str = 0;
            continue;
        }
        switch (ch) {
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            break;
        case '"':
            in_str = 1;
            fputc(ch, out);
            break;
        case '{':
        case '[': {
            size_t j = i + 1;
            while (j < len &&
                   (text[j] == ' ' || text[j] == '\t' || text[j] == '\n' || text[j] == '\r'))
                j++;
            fputc(ch, out);
            if (j < len && (text[j] == '}' || text[j] == ']')) {
                fputc(text[j], out);
                i = j;
                break;
            }
            depth++;
            fprintf(out, "\n%*s", 2 * depth, "");
            break;
        }
        case '}':
        case ']':
            depth--;
            fprintf(out, "\n%*s%c", 2 * depth, "", ch);
            break;
        case ',':
            fprintf(out, ",\n%*s", 2 * depth, "");
            break;
        case ':':
            fputs(": ", out);
            break;
        default:
            fputc(ch, out);
        }
    }
    fputc('\n', out);
}

/* ---- reading the server's JSON for human output ----------------------------------- */

static const cJSON *j_get(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

/* A string field, or NULL when missing or not a string. */
static const char *j_str(const cJSON *obj, const char *name)
{
    const cJSON *v = j_get(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An exact integer value. Returns 0, or -1 (writing nothing) when it is not one. */
static int j_int_value(const cJSON *v, int64_t *ret)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= -(double)CLI_EXACT_MAX && d <= (double)CLI_EXACT_MAX))
        return -1;
    int64_t i = (int64_t)d;
    if ((double)i != d)
        return -1;
    *ret = i;
    return 0;
}

static int j_int(const cJSON *obj, const char *name, int64_t *ret)
{
    return j_int_value(j_get(obj, name), ret);
}

static int64_t j_int_or(const cJSON *obj, const char *name, int64_t dflt)
{
    int64_t v = dflt;
    (void)j_int(obj, name, &v);
    return v;
}

/* Copies s into buf with control characters replaced by '?'; NULL becomes "-". */
static const char *clean(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    if (s == NULL)
        s = "-";
    for (; s[i] != '\0' && i + 1 < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    buf[i] = '\0';
    return buf;
}

/* Minor units as yuan: 5990 -> "59.90", -50 -> "-0.50". */
static const char *fmt_money(int64_t minor, char *buf, size_t len)
{
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    snprintf(buf, len, "%s%" PRIu64 ".%02" PRIu64, minor < 0 ? "-" : "", mag / 100, mag % 100);
    return buf;
}

/* A money field as yuan, or "-" when missing. */
static const char *fmt_money_field(const cJSON *obj, const char *name, char *buf, size_t len)
{
    int64_t v;
    if (j_int(obj, name, &v) != 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    return fmt_money(v, buf, len);
}

/* A reduction shown with its sign: 2000 -> "-20.00", 0 -> "0.00". Precondition: |minor| <= 2^53. */
static const char *fmt_minus(int64_t minor, char *buf, size_t len)
{
    return fmt_money(-minor, buf, len);
}

/* Basis points as a percentage: 1500 -> "15%", 1250 -> "12.5%", 1234 -> "12.34%". */
static const char *fmt_bp(int64_t bp, char *buf, size_t len)
{
    int64_t whole = bp / 100, frac = bp % 100;
    if (frac < 0)
        frac = -frac;
    if (frac == 0)
        snprintf(buf, len, "%" PRId64 "%%", whole);
    else if (frac % 10 == 0)
        snprintf(buf, len, "%" PRId64 ".%" PRId64 "%%", whole, frac / 10);
    else
        snprintf(buf, len, "%" PRId64 ".%02" PRId64 "%%", whole, frac);
    return buf;
}

/* Milliseconds since the epoch (UTC) as local time "YYYY-MM-DD HH:MM:SS". */
static const char *fmt_time(int64_t ms, char *buf, size_t len)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    if (localtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "%" PRId64, ms);
    return buf;
}

static const char *fmt_time_field(const cJSON *obj, const char *name, char *buf, size_t len)
{
    int64_t ms;
    if (j_int(obj, name, &ms) != 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    return fmt_time(ms, buf, len);
}

/* Seconds as "2d 3h", "3h 12m", "5m 3s" or "42s". */
static const char *fmt_duration(int64_t s, char *buf, size_t len)
{
    if (s < 0)
        s = 0;
    if (s >= 86400)
        snprintf(buf, len, "%" PRId64 "d %" PRId64 "h", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(buf, len, "%" PRId64 "h %" PRId64 "m", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(buf, len, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
    else
        snprintf(buf, len, "%" PRId64 "s", s);
    return buf;
}

/* Appends to a fixed buffer; silently stops when full (display only). */
struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    if (b->len + 1 >= b->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    b->len += (size_t)n;
    if (b->len >= b->cap)
        b->len = b->cap - 1;
}

/* Joins an array of integers or strings with `sep`; `empty` when missing or empty. */
static const char *fmt_list(const cJSON *arr, const char *sep, const char *empty, char *buf,
                            size_t len)
{
    struct sbuf b = {buf, 0, len};
    const cJSON *v;
    int n = 0;
    buf[0] = '\0';
    cJSON_ArrayForEach(v, arr)
    {
        int64_t i;
        char tmp[128];
        if (n++ > 0)
            sb_add(&b, "%s", sep);
        if (cJSON_IsString(v))
            sb_add(&b, "%s", clean(v->valuestring, tmp, sizeof(tmp)));
        else if (j_int_value(v, &i) == 0)
            sb_add(&b, "%" PRId64, i);
        else
            sb_add(&b, "?");
    }
    if (n == 0)
        snprintf(buf, len, "%s", empty);
    return buf;
}

static int list_has_int(const cJSON *arr, int64_t want)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, arr)
    {
        int64_t i;
        if (j_int_value(v, &i) == 0 && i == want)
            return 1;
    }
    return 0;
}

/* ---- HTTP ------------------------------------------------------------------------- */

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

static void reply_free(struct reply *r)
{
    if (r == NULL)
        return;
    cJSON_Delete(r->json);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Reports a non-2xx answer: the error object on stdout with --json, else one line. */
static void report_api_error(const struct cli *c, long status, const char *body, size_t len)
{
    cJSON *json = body != NULL ? parse_json(body, len) : NULL;
    const cJSON *err = j_get(json, "error");
    const char *code = j_str(err, "code");
    const char *message = j_str(err, "message");
    char cbuf[128], mbuf[512];

    if (c->json && json != NULL) {
        print_json_pretty(stdout, body, len);
    } else if (code != NULL) {
        fprintf(stderr, "error: %s: %s\n", clean(code, cbuf, sizeof(cbuf)),
                clean(message != NULL ? message : "", mbuf, sizeof(mbuf)));
    } else {
        fprintf(stderr, "error: http_%ld: the agent answered HTTP %ld without an error object\n",
                status, status);
    }
    cJSON_Delete(json);
}

/*
 * Sends one request to the agent. `body` (JSON text) makes it a POST, NULL a GET;
 * `idem_key` (may be NULL) becomes the Idempotency-Key header.
 * On a 2xx answer with a JSON object body, fills *ret (caller frees with reply_free())
 * and returns CLI_EXIT_OK. Otherwise reports once on stderr (or the error object on
 * stdout with --json), leaves *ret untouched and returns CLI_EXIT_API or
 * CLI_EXIT_UNREACHABLE.
 */
static int api_request(const struct cli *c, const char *path, const char *body,
                       const char *idem_key, struct reply *ret)
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

    if ((size_t)snprintf(url, sizeof(url), "%s%s", c->base, path) >= sizeof(url)) {
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
    if (add_header(&headers, c->auth) != 0 ||
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
            fprintf(stderr, "memberlink: cannot reach the agent at %s: %s\n", c->base,
                    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cr));
        goto out;
    }
    (void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        report_api_error(c, status, buf.p, buf.len);
        result = CLI_EXIT_API;
        goto out;
    }
    json = buf.p != NULL ? parse_json(buf.p, buf.len) : NULL;
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

/* Escapes one path segment. Caller frees with curl_free(); NULL on allocation failure. */
static char *escape_segment(const char *s)
{
    CURL *curl = curl_easy_init();
    if (curl == NULL)
        return NULL;
    char *e = curl_easy_escape(curl, s, 0);
    curl_easy_cleanup(curl);
    return e;
}

/* Sends a request whose body is a cJSON tree (NULL for GET). */
static int api_request_json(const struct cli *c, const char *path, const cJSON *body,
                            const char *idem_key, struct reply *ret)
{
    char *text = NULL;
    if (body != NULL) {
        text = cJSON_PrintUnformatted(body);
        if (text == NULL) {
            fprintf(stderr, "memberlink: out of memory\n");
            return CLI_EXIT_USAGE;
        }
    }
    int result = api_request(c, path, text, idem_key, ret);
    cJSON_free(text);
    return result;
}

/*
 * Resolves the configuration into c->base and c->auth. Config errors print one line and
 * return CLI_EXIT_USAGE.
 */
static int cli_setup(struct cli *c)
{
    struct config cfg;
    char errbuf[CONFIG_PATH_MAX + 256];
    const char *token = c->token;

    config_defaults(&cfg);
    if (c->config_path != NULL &&
        config_load(&cfg, c->config_path, errbuf, sizeof(errbuf)) != ML_OK) {
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
    if (!header_safe(token, CONFIG_TOKEN_MAX)) {
        fprintf(stderr,
                "memberlink: the API token must be 1-%d printable characters without "
                "spaces\n",
                CONFIG_TOKEN_MAX);
        return CLI_EXIT_USAGE;
    }
    snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", token);

    if (c->url != NULL) {
        size_t n = strlen(c->url);
        if ((strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0) ||
            n >= sizeof(c->base) || !header_safe(c->url, sizeof(c->base) - 1)) {
            fprintf(stderr,
                    "memberlink: --url: expected http://HOST:PORT (at most %zu "
                    "characters)\n",
                    sizeof(c->base) - 1);
            return CLI_EXIT_USAGE;
        }
        memcpy(c->base, c->url, n + 1);
    } else {
        /* A bare IPv6 address needs brackets in a URL. */
        int v6 = strchr(cfg.api_host, ':') != NULL && cfg.api_host[0] != '[';
        snprintf(c->base, sizeof(c->base), "http://%s%s%s:%u", v6 ? "[" : "", cfg.api_host,
                 v6 ? "]" : "", (unsigned)cfg.api_port);
    }
    size_t n = strlen(c->base);
    while (n > 0 && c->base[n - 1] == '/')
        c->base[--n] = '\0';
    return CLI_EXIT_OK;
}

/* ---- argument parsing ------------------------------------------------------------- */

static const char *cur_arg(const struct cursor *a)
{
    return a->i < a->argc ? a->argv[a->i] : NULL;
}

/*
 * If the current argument is option `name` ("--name VALUE" or "--name=VALUE"), stores the
 * value, advances and returns 1; returns 0 when it is another argument, -1 (reported)
 * when the value is missing.
 */
static int opt_value(struct cursor *a, const char *name, const char **ret)
{
    const char *arg = cur_arg(a);
    size_t n = strlen(name);
    if (arg == NULL || a->only_positional || strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=' && name[1] == '-') {
        *ret = arg + n + 1;
        a->i++;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (a->i + 1 >= a->argc) {
        usage_error("%s needs a value", name);
        return -1;
    }
    *ret = a->argv[a->i + 1];
    a->i += 2;
    return 1;
}

static int opt_flag(struct cursor *a, const char *name)
{
    const char *arg = cur_arg(a);
    if (arg == NULL || a->only_positional || strcmp(arg, name) != 0)
        return 0;
    a->i++;
    return 1;
}

/* Global options, accepted anywhere. Returns 1 consumed, 0 not one, -1 reported error. */
static int global_opt(struct cli *c, struct cursor *a)
{
    int r;
    if (opt_flag(a, "--json")) {
        c->json = 1;
        return 1;
    }
    if ((r = opt_value(a, "-c", &c->config_path)) != 0)
        return r;
    if ((r = opt_value(a, "--config", &c->config_path)) != 0)
        return r;
    if ((r = opt_value(a, "--url", &c->url)) != 0)
        return r;
    if ((r = opt_value(a, "--token", &c->token)) != 0)
        return r;
    return 0;
}

/*
 * Steps past a global option, "--", or returns what the caller must look at. Returns 1
 * when the caller should loop again (something was consumed), 0 when the current
 * argument is the caller's, -1 on a reported error.
 */
static int skip_common(struct cli *c, struct cursor *a)
{
    const char *arg = cur_arg(a);
    if (!a->only_positional && arg != NULL && strcmp(arg, "--") == 0) {
        a->only_positional = 1;
        a->i++;
        return 1;
    }
    return global_opt(c, a);
}

static int is_option(const struct cursor *a)
{
    const char *arg = cur_arg(a);
    return !a->only_positional && arg != NULL && arg[0] == '-' && arg[1] != '\0';
}

/* Stores a positional argument in *slot; a second one is an error. */
static int take_positional(struct cursor *a, const char *cmd, const char **slot)
{
    if (*slot != NULL)
        return usage_error("%s: unexpected argument '%s'", cmd, cur_arg(a));
    *slot = cur_arg(a);
    a->i++;
    return CLI_EXIT_OK;
}

/* ---- human output ----------------------------------------------------------------- */

static void print_coupon_header(void)
{
    printf("  %-14s %-22s %10s  %-16s %-19s %4s  %s\n", "COUPON", "OFFER", "MIN SPEND",
           "CATEGORIES", "VALID TO", "USES", "OFFLINE");
}

static void print_coupon_row(const cJSON *cp)
{
    char b1[128], b2[128], b4[64], b5[64], b6[64], offer[96];
    const char *kind = j_str(cp, "kind");
    int64_t value = j_int_or(cp, "value", 0), max_off = j_int_or(cp, "max_off", 0);
    if (kind != NULL && strcmp(kind, "amount_off") == 0) {
        snprintf(offer, sizeof(offer), "%s off", fmt_money(value, b4, sizeof(b4)));
    } else if (kind != NULL && strcmp(kind, "percent_off") == 0) {
        if (max_off > 0)
            snprintf(offer, sizeof(offer), "%s off (max %s)", fmt_bp(value, b4, sizeof(b4)),
                     fmt_money(max_off, b5, sizeof(b5)));
        else
            snprintf(offer, sizeof(offer), "%s off", fmt_bp(value, b4, sizeof(b4)));
    } else {
        snprintf(offer, sizeof(offer), "%s %" PRId64, clean(kind, b4, sizeof(b4)), value);
    }
    const cJSON *cats = j_get(cp, "categories");
    printf("  %-14s %-22s %10s  %-16s %-19s %4" PRId64 "  %s\n",
           clean(j_str(cp, "coupon_id"), b1, sizeof(b1)), offer,
           fmt_money_field(cp, "min_spend", b5, sizeof(b5)),
           fmt_list(cats, ",", "any", b2, sizeof(b2)),
           fmt_time_field(cp, "valid_to", b6, sizeof(b6)), j_int_or(cp, "uses_left", 0),
           cJSON_IsFalse(j_get(cp, "offline_ok")) ? "no" : "yes");
}

/* A guide card or a bearer coupon code (identify --qr MLG1:/MLC1:). */
static void print_identified_card(const cJSON *o)
{
    char b1[128], b2[128];
    const cJSON *guide = j_get(o, "guide"), *coupon = j_get(o, "coupon");
    if (cJSON_IsObject(guide)) {
        printf("guide       %s %s (use: checkout --guide %s)\n",
               clean(j_str(guide, "guide_id"), b1, sizeof(b1)),
               clean(j_str(guide, "name"), b2, sizeof(b2)), b1);
    } else if (cJSON_IsObject(coupon)) {
        printf("coupon      usable (use: checkout --coupon %s)\n",
               clean(j_str(coupon, "coupon_id"), b1, sizeof(b1)));
        print_coupon_header();
        print_coupon_row(coupon);
    }
}

static void print_identify(const cJSON *m)
{
    char b1[128], b2[128], b3[128], b4[64];
    if (j_get(m, "member_id") == NULL) {
        print_identified_card(m);
        return;
    }
    const cJSON *plan = j_get(m, "plan");
    const cJSON *points = j_get(m, "points");
    const cJSON *guide = j_get(m, "guide");
    const cJSON *coupons = j_get(m, "coupons");

    printf("member      %s  %s  %s%s\n", clean(j_str(m, "member_id"), b1, sizeof(b1)),
           clean(j_str(m, "tier"), b2, sizeof(b2)), clean(j_str(m, "status"), b3, sizeof(b3)),
           cJSON_IsFalse(j_get(m, "clock_trusted")) ? "  (code judged by this terminal's own clock)"
                                                    : "");
    printf("phone       %s\n", clean(j_str(m, "phone"), b1, sizeof(b1)));
    if (cJSON_IsObject(plan)) {
        int active = cJSON_IsTrue(j_get(plan, "active"));
        printf("plan        %s, %s until %s\n", clean(j_str(plan, "name"), b1, sizeof(b1)),
               active ? "active" : "inactive", fmt_time_field(plan, "until", b4, sizeof(b4)));
    } else {
        printf("plan        none\n");
    }
    printf("points      %" PRId64 " available (%" PRId64 " confirmed, %" PRId64 " pending)\n",
           j_int_or(points, "available", 0), j_int_or(points, "confirmed", 0),
           j_int_or(points, "pending", 0));
    if (cJSON_IsObject(guide))
        printf("guide       %s %s, bound until %s\n",
               clean(j_str(guide, "guide_id"), b1, sizeof(b1)),
               clean(j_str(guide, "name"), b2, sizeof(b2)),
               fmt_time_field(guide, "until", b4, sizeof(b4)));
    else
        printf("guide       none\n");

    int n = cJSON_GetArraySize(coupons);
    if (n == 0) {
        printf("coupons     none\n");
        return;
    }
    printf("coupons     %d usable\n", n);
    print_coupon_header();
    const cJSON *cp;
    cJSON_ArrayForEach(cp, coupons)
    {
        print_coupon_row(cp);
    }
}

/* A sale as checkout returns it; GET /v1/sales/{id} adds the refunded_* fields. */
static void print_sale(const cJSON *s)
{
    char b1[128], b2[128], b3[64], b4[32], b5[32], b6[32], b7[32];
    const char *sale_id = j_str(s, "sale_id");
    const cJSON *member = j_get(s, "member");
    const cJSON *guide = j_get(s, "guide");
    const cJSON *lines = j_get(s, "lines");
    const cJSON *discounts = j_get(s, "discounts");
    const cJSON *points = j_get(s, "points");
    const cJSON *commission = j_get(s, "commission");
    const cJSON *refunded_lines = j_get(s, "refunded_lines");
    int dry_run = cJSON_IsTrue(j_get(s, "dry_run")) || sale_id == NULL;

    if (dry_run)
        printf("QUOTE (dry run) — nothing saved\n");
    else
        printf("SALE %s\n", clean(sale_id, b1, sizeof(b1)));
    printf("terminal %s, %s\n", clean(j_str(s, "terminal"), b1, sizeof(b1)),
           fmt_time_field(s, "created_at", b3, sizeof(b3)));
    if (cJSON_IsObject(member))
        printf("member   %s (%s), %" PRId64 " points available\n",
               clean(j_str(member, "member_id"), b1, sizeof(b1)),
               clean(j_str(member, "tier"), b2, sizeof(b2)),
               j_int_or(member, "points_available", 0));
    else
        printf("member   none\n");
    if (cJSON_IsObject(guide))
        printf("guide    %s (%s)\n", clean(j_str(guide, "guide_id"), b1, sizeof(b1)),
               clean(j_str(guide, "source"), b2, sizeof(b2)));
    else
        printf("guide    none\n");

    printf("\n%3s  %-20s %5s %10s %10s %10s %10s\n", "#", "SKU", "QTY", "PRICE", "DISCOUNT",
           "POINTS", "NET");
    const cJSON *ln;
    cJSON_ArrayForEach(ln, lines)
    {
        int64_t no = j_int_or(ln, "line_no", 0);
        printf("%3" PRId64 "  %-20s %5" PRId64 " %10s %10s %10s %10s%s\n", no,
               clean(j_str(ln, "sku"), b1, sizeof(b1)), j_int_or(ln, "qty", 0),
               fmt_money_field(ln, "unit_price", b4, sizeof(b4)),
               fmt_minus(j_int_or(ln, "discount", 0), b5, sizeof(b5)),
               fmt_minus(j_int_or(ln, "points_value", 0), b6, sizeof(b6)),
               fmt_money_field(ln, "net", b7, sizeof(b7)),
               list_has_int(refunded_lines, no) ? "  refunded" : "");
    }
    printf("\n");
    printf("subtotal       %12s\n", fmt_money_field(s, "subtotal", b4, sizeof(b4)));
    printf("discount       %12s\n", fmt_minus(j_int_or(s, "discount", 0), b4, sizeof(b4)));
    const cJSON *d;
    cJSON_ArrayForEach(d, discounts)
    {
        printf("  %-12s %12s  %s, lines %s\n", clean(j_str(d, "coupon_id"), b1, sizeof(b1)),
               fmt_minus(j_int_or(d, "amount", 0), b4, sizeof(b4)),
               clean(j_str(d, "kind"), b3, sizeof(b3)),
               fmt_list(j_get(d, "lines"), ",", "-", b2, sizeof(b2)));
    }
    int64_t requested = j_int_or(points, "requested", 0), spent = j_int_or(points, "spent", 0);
    if (requested > 0 || spent > 0) {
        const char *capped = j_str(points, "capped_by");
        printf("points         %12s  (%" PRId64 " points spent of %" PRId64 " requested%s%s)\n",
               fmt_minus(j_int_or(points, "value", 0), b4, sizeof(b4)), spent, requested,
               capped != NULL ? ", capped by " : "",
               capped != NULL ? clean(capped, b1, sizeof(b1)) : "");
    }
    printf("total          %12s\n", fmt_money_field(s, "total", b4, sizeof(b4)));
    printf("points earned  %12" PRId64 "\n", j_int_or(points, "earned", 0));
    if (cJSON_IsObject(commission))
        printf("commission     %12s  guide %s\n",
               fmt_money_field(commission, "amount", b4, sizeof(b4)),
               clean(j_str(commission, "guide_id"), b1, sizeof(b1)));
    if (j_get(s, "refunded_amount") != NULL)
        printf("refunded       %12s  lines %s\n",
               fmt_money_field(s, "refunded_amount", b4, sizeof(b4)),
               fmt_list(refunded_lines, ",", "none", b2, sizeof(b2)));
}

static void print_refund(const cJSON *r)
{
    char b1[128], b2[128], b3[256], b4[32];
    const cJSON *points = j_get(r, "points");
    printf("REFUND %s of sale %s\n", clean(j_str(r, "refund_id"), b1, sizeof(b1)),
           clean(j_str(r, "sale_id"), b2, sizeof(b2)));
    printf("lines       %s\n", fmt_list(j_get(r, "lines"), ", ", "-", b3, sizeof(b3)));
    printf("amount      %s\n", fmt_money_field(r, "amount", b4, sizeof(b4)));
    printf("points      %" PRId64 " earned reversed, %" PRId64 " spent returned\n",
           j_int_or(points, "earned_reversed", 0), j_int_or(points, "spent_returned", 0));
    printf("commission  %s reversed\n", fmt_money_field(r, "commission_reversed", b4, sizeof(b4)));
    const cJSON *restored = j_get(r, "coupons_restored");
    if (cJSON_GetArraySize(restored) > 0)
        printf("coupons     restored: %s\n", fmt_list(restored, ", ", "", b3, sizeof(b3)));
    else
        printf("coupons     none restored\n");
}

static void print_sales(const cJSON *list)
{
    char b1[128], b2[128], b3[64], b4[32], b5[32];
    const cJSON *sales = j_get(list, "sales");
    if (cJSON_GetArraySize(sales) == 0) {
        printf("no sales\n");
        return;
    }
    printf("%-24s %-19s  %-12s %12s %12s\n", "SALE", "TIME", "MEMBER", "TOTAL", "REFUNDED");
    const cJSON *s;
    cJSON_ArrayForEach(s, sales)
    {
        printf("%-24s %-19s  %-12s %12s %12s\n", clean(j_str(s, "sale_id"), b1, sizeof(b1)),
               fmt_time_field(s, "created_at", b3, sizeof(b3)),
               clean(j_str(s, "member_id"), b2, sizeof(b2)),
               fmt_money_field(s, "total", b4, sizeof(b4)),
               fmt_money_field(s, "refunded_amount", b5, sizeof(b5)));
    }
}

static void print_commissions(const cJSON *g)
{
    char b1[128], b2[64], b3[64], b4[32], b5[128];
    const cJSON *days = j_get(g, "days");
    int64_t nsales = 0;
    const char *name = j_str(g, "name");
    printf("guide %s%s%s, %s .. %s\n", clean(j_str(g, "guide_id"), b1, sizeof(b1)),
           name != NULL ? " " : "", name != NULL ? clean(name, b5, sizeof(b5)) : "",
           clean(j_str(g, "from"), b2, sizeof(b2)), clean(j_str(g, "to"), b3, sizeof(b3)));
    printf("%-12s %6s %12s\n", "DAY", "SALES", "AMOUNT");
    const cJSON *d;
    cJSON_ArrayForEach(d, days)
    {
        int64_t k = j_int_or(d, "sales", 0);
        nsales += k;
        printf("%-12s %6" PRId64 " %12s\n", clean(j_str(d, "day"), b1, sizeof(b1)), k,
               fmt_money_field(d, "amount", b4, sizeof(b4)));
    }
    printf("%-12s %6" PRId64 " %12s\n", "total", nsales,
           fmt_money_field(g, "total", b4, sizeof(b4)));
    if (cJSON_IsTrue(j_get(g, "truncated")))
        printf("note: the server truncated the per-sale list (see --json)\n");
}

static void print_status(const cJSON *st)
{
    char b1[128], b2[128], b3[128], b4[64];
    const cJSON *outbox = j_get(st, "outbox");
    const cJSON *cache = j_get(st, "cache");
    int64_t age;
    printf("store        %s / %s / %s\n", clean(j_str(st, "brand"), b1, sizeof(b1)),
           clean(j_str(st, "store"), b2, sizeof(b2)), clean(j_str(st, "terminal"), b3, sizeof(b3)));
    printf("version      %s, up %s\n", clean(j_str(st, "version"), b1, sizeof(b1)),
           fmt_duration(j_int_or(st, "uptime_s", 0), b4, sizeof(b4)));
    printf("HQ           %s\n",
           cJSON_IsTrue(j_get(st, "connected")) ? "connected" : "not connected");
    printf("outbox       %" PRId64 " queued", j_int_or(outbox, "depth", 0));
    if (j_int(outbox, "oldest_age_ms", &age) == 0)
        printf(", oldest %s", fmt_duration(age / 1000, b4, sizeof(b4)));
    printf("\n");
    printf("cache        %" PRId64 " members, %" PRId64 " guides, %" PRId64 " campaigns, %" PRId64
           " coupons\n",
           j_int_or(cache, "members", 0), j_int_or(cache, "guides", 0),
           j_int_or(cache, "campaigns", 0), j_int_or(cache, "coupons", 0));
    int64_t sales;
    if (j_int(st, "sales_today", &sales) == 0)
        printf("sales today  %" PRId64 "\n", sales);
    else if (j_int(st, "sales", &sales) == 0)
        printf("sales        %" PRId64 "\n", sales);
}

/* Prints a successful reply as JSON (--json) or through `human`. */
static void emit(const struct cli *c, const struct reply *r, void (*human)(const cJSON *))
{
    if (c->json)
        print_json_pretty(stdout, r->body, r->len);
    else
        human(r->json);
}

/* ---- commands --------------------------------------------------------------------- */

/*
 * Resolves "last" to the newest sale id via GET /v1/sales?limit=1. Writes the id into
 * ret (len bytes) and returns CLI_EXIT_OK, or reports and returns an exit code.
 */
static int resolve_sale_id(const struct cli *c, const char *arg, char *ret, size_t len)
{
    struct reply r = {0};
    if (strcmp(arg, "last") != 0) {
        if ((size_t)snprintf(ret, len, "%s", arg) >= len)
            return usage_error("sale id too long");
        return CLI_EXIT_OK;
    }
    int result = api_request(c, "/v1/sales?limit=1", NULL, NULL, &r);
    if (result != CLI_EXIT_OK)
        return result;
    const char *id = j_str(cJSON_GetArrayItem(j_get(r.json, "sales"), 0), "sale_id");
    if (id == NULL) {
        if (c->json)
            printf("{\n  \"error\": {\n    \"code\": \"sale_not_found\",\n    \"message\": "
                   "\"no sales recorded yet\"\n  }\n}\n");
        else
            fprintf(stderr, "error: sale_not_found: no sales recorded yet\n");
        result = CLI_EXIT_API;
    } else if ((size_t)snprintf(ret, len, "%s", id) >= len) {
        fprintf(stderr, "memberlink: the agent returned an over-long sale id\n");
        result = CLI_EXIT_UNREACHABLE;
    }
    reply_free(&r);
    return result;
}

/* Tells the user how to retry a state-changing request whose outcome is unknown. */
static void retry_hint(int result, const char *what, const char *key)
{
    if (result == CLI_EXIT_UNREACHABLE && key != NULL)
        fprintf(stderr,
                "memberlink: the %s may or may not have been recorded; to retry without "
                "risk of a duplicate, use --key %s\n",
                what, key);
}

static int cmd_identify(struct cli *c, struct cursor *a)
{
    const char *phone = NULL, *qr = NULL;
    int r;
    while (cur_arg(a) != NULL) {
        if ((r = skip_common(c, a)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(a, "--phone", &phone)) != 0 || (r = opt_value(a, "--qr", &qr)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        return usage_error("identify: unexpected argument '%s'", cur_arg(a));
    }
    if ((phone == NULL) == (qr == NULL))
        return usage_error("identify: give exactly one of --phone NUMBER or --qr TEXT");
    if ((r = cli_setup(c)) != CLI_EXIT_OK)
        return r;

    int result = CLI_EXIT_USAGE;
    struct reply rep = {0};
    cJSON *body = cJSON_CreateObject();
    if (body == NULL || cJSON_AddStringToObject(body, phone != NULL ? "phone" : "qr",
                                                phone != NULL ? phone : qr) == NULL) {
        fprintf(stderr, "memberlink: out of memory\n");
        goto out;
    }
    result = api_request_json(c, "/v1/identify", body, NULL, &rep);
    if (result == CLI_EXIT_OK)
        emit(c, &rep, print_identify);
out:
    reply_free(&rep);
    cJSON_Delete(body);
    return result;
}

/* Sets obj[name] = item, replacing any earlier value; takes ownership of item. */
static int set_field(cJSON *obj, const char *name, cJSON *item)
{
    if (item == NULL)
        return -1;
    if (j_get(obj, name) != NULL)
        return cJSON_ReplaceItemInObjectCaseSensitive(obj, name, item) ? 0 : -1;
    if (!cJSON_AddItemToObject(obj, name, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

/* The array obj[name], created when missing; NULL when it exists and is not an array. */
static cJSON *get_array(cJSON *obj, const char *name)
{
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (arr == NULL)
        return cJSON_AddArrayToObject(obj, name);
    return cJSON_IsArray(arr) ? arr : NULL;
}

/*
 * Parses "SKU:CATEGORY:QTY:PRICE" (PRICE in yuan) into an item object. The SKU may itself
 * contain ':' since the fields are split from the right. NULL (reported) on error.
 */
static cJSON *parse_item(const char *spec)
{
    const char *sep[3];
    const char *p = spec + strlen(spec);
    char sku[256], category[128], qty_s[32], price_s[32];
    int64_t qty, price;
    for (int k = 2; k >= 0; k--) {
        while (p > spec && p[-1] != ':')
            p--;
        if (p == spec) {
            usage_error("--item '%s': expected SKU:CATEGORY:QTY:PRICE", spec);
            return NULL;
        }
        sep[k] = --p;
    }
    size_t nsku = (size_t)(sep[0] - spec), ncat = (size_t)(sep[1] - sep[0] - 1);
    size_t nqty = (size_t)(sep[2] - sep[1] - 1), nprice = strlen(sep[2] + 1);
    if (nsku == 0 || nsku >= sizeof(sku) || ncat == 0 || ncat >= sizeof(category) ||
        nqty >= sizeof(qty_s) || nprice >= sizeof(price_s)) {
        usage_error("--item '%s': expected SKU:CATEGORY:QTY:PRICE", spec);
        return NULL;
    }
    memcpy(sku, spec, nsku);
    sku[nsku] = '\0';
    memcpy(category, sep[0] + 1, ncat);
    category[ncat] = '\0';
    memcpy(qty_s, sep[1] + 1, nqty);
    qty_s[nqty] = '\0';
    memcpy(price_s, sep[2] + 1, nprice + 1);
    if (parse_int(qty_s, 1, CLI_NUM_MAX, &qty) != 0) {
        usage_error("--item '%s': QTY must be a positive integer", spec);
        return NULL;
    }
    if (parse_yuan(price_s, &price) != 0) {
        usage_error("--item '%s': PRICE must be yuan with at most 2 decimals, e.g. 59.90", spec);
        return NULL;
    }
    cJSON *item = cJSON_CreateObject();
    if (item == NULL || cJSON_AddStringToObject(item, "sku", sku) == NULL ||
        cJSON_AddStringToObject(item, "category", category) == NULL ||
        cJSON_AddNumberToObject(item, "qty", (double)qty) == NULL ||
        cJSON_AddNumberToObject(item, "unit_price", (double)price) == NULL) {
        cJSON_Delete(item);
        fprintf(stderr, "memberlink: out of memory\n");
        return NULL;
    }
    return item;
}

/*
 * The checkout request: --items-file first (an item array, or a whole request), then the
 * options on top. Returns a tree the caller frees with cJSON_Delete(), or NULL (reported).
 */
static cJSON *build_checkout(const char *items_file, const char *member, const char *guide,
                             const char *const *items, size_t nitems, const char *const *coupons,
                             size_t ncoupons, const char *points, int dry_run)
{
    cJSON *body = NULL, *arr;
    char errbuf[CONFIG_PATH_MAX + 64];
    int64_t npoints = 0;

    if (points != NULL && parse_int(points, 0, CLI_NUM_MAX, &npoints) != 0) {
        usage_error("--points: expected a whole number of points >= 0");
        return NULL;
    }
    if (items_file != NULL) {
        size_t len = 0;
        char *text = read_file_bounded(items_file, CLI_FILE_MAX, &len, errbuf, sizeof(errbuf));
        if (text == NULL) {
            usage_error("--items-file %s", errbuf);
            return NULL;
        }
        cJSON *file = parse_json(text, len);
        free(text);
        if (cJSON_IsArray(file)) {
            body = cJSON_CreateObject();
            if (body == NULL || !cJSON_AddItemToObject(body, "items", file)) {
                cJSON_Delete(file);
                goto nomem;
            }
        } else if (cJSON_IsObject(file)) {
            body = file;
        } else {
            cJSON_Delete(file);
            usage_error("--items-file %s: expected a JSON array of items or a checkout "
                        "request object",
                        items_file);
            return NULL;
        }
    } else {
        body = cJSON_CreateObject();
        if (body == NULL)
            goto nomem;
    }

    if (member != NULL && set_field(body, "member", cJSON_CreateString(member)) != 0)
        goto nomem;
    if (guide != NULL && set_field(body, "guide", cJSON_CreateString(guide)) != 0)
        goto nomem;
    if (nitems > 0) {
        if ((arr = get_array(body, "items")) == NULL) {
            usage_error("--items-file %s: \"items\" is not an array", items_file);
            goto fail;
        }
        for (size_t i = 0; i < nitems; i++) {
            cJSON *item = parse_item(items[i]);
            if (item == NULL)
                goto fail;
            if (!cJSON_AddItemToArray(arr, item)) {
                cJSON_Delete(item);
                goto nomem;
            }
        }
    }
    if (ncoupons > 0) {
        if ((arr = get_array(body, "coupons")) == NULL) {
            usage_error("--items-file %s: \"coupons\" is not an array", items_file);
            goto fail;
        }
        for (size_t i = 0; i < ncoupons; i++) {
            cJSON *s = cJSON_CreateString(coupons[i]);
            if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
                cJSON_Delete(s);
                goto nomem;
            }
        }
    }
    if (points != NULL &&
        set_field(body, "points_to_redeem", cJSON_CreateNumber((double)npoints)) != 0)
        goto nomem;
    if (dry_run && set_field(body, "dry_run", cJSON_CreateTrue()) != 0)
        goto nomem;
    if (j_get(body, "items") == NULL) {
        usage_error("checkout: no items (use --item or --items-file)");
        goto fail;
    }
    return body;
nomem:
    fprintf(stderr, "memberlink: out of memory\n");
fail:
    cJSON_Delete(body);
    return NULL;
}

/* Appends a repeated option's value to list; reports when past CLI_REPEAT_MAX. */
static int push(const char **list, size_t *n, const char *v, const char *name)
{
    if (*n >= CLI_REPEAT_MAX) {
        usage_error("too many %s options (at most %d)", name, CLI_REPEAT_MAX);
        return -1;
    }
    list[(*n)++] = v;
    return 0;
}

/* The Idempotency-Key to send: --key, or a fresh random one into buf. NULL (reported). */
static const char *pick_key(const char *given, char *buf)
{
    if (given != NULL) {
        if (!header_safe(given, CLI_KEY_MAX)) {
            usage_error("--key: expected 1-%d printable characters without spaces", CLI_KEY_MAX);
            return NULL;
        }
        return given;
    }
    if (random_key(buf) != 0) {
        fprintf(stderr, "memberlink: cannot read /dev/urandom for an idempotency key\n");
        return NULL;
    }
    return buf;
}

static int cmd_checkout(struct cli *c, struct cursor *a)
{
    const char *items[CLI_REPEAT_MAX], *coupons[CLI_REPEAT_MAX];
    size_t nitems = 0, ncoupons = 0;
    const char *member = NULL, *guide = NULL, *items_file = NULL, *points = NULL;
    const char *key_opt = NULL, *v = NULL;
    int dry_run = 0, r;

    while (cur_arg(a) != NULL) {
        if ((r = skip_common(c, a)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if (opt_flag(a, "--dry-run")) {
            dry_run = 1;
            continue;
        }
        if ((r = opt_value(a, "--item", &v)) != 0) {
            if (r < 0 || push(items, &nitems, v, "--item") != 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(a, "--coupon", &v)) != 0) {
            if (r < 0 || push(coupons, &ncoupons, v, "--coupon") != 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(a, "--member", &member)) != 0 ||
            (r = opt_value(a, "--guide", &guide)) != 0 ||
            (r = opt_value(a, "--items-file", &items_file)) != 0 ||
            (r = opt_value(a, "--points", &points)) != 0 ||
            (r = opt_value(a, "--key", &key_opt)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        return usage_error("checkout: unexpected argument '%s'", cur_arg(a));
    }

    int result = CLI_EXIT_USAGE;
    struct reply rep = {0};
    char keybuf[2 * CLI_KEY_BYTES + 1];
    const char *key = NULL;
    cJSON *body = build_checkout(items_file, member, guide, items, nitems, coupons, ncoupons,
                                 points, dry_run);
    if (body == NULL)
        goto out;
    /* The file may ask for a dry run too; a quote changes nothing, so it needs no key. */
    int quote = cJSON_IsTrue(j_get(body, "dry_run"));
    if (key_opt != NULL || !quote) {
        if ((key = pick_key(key_opt, keybuf)) == NULL)
            goto out;
    }
    if ((result = cli_setup(c)) != CLI_EXIT_OK)
        goto out;
    result = api_request_json(c, "/v1/checkout", body, key, &rep);
    if (result == CLI_EXIT_OK) {
        emit(c, &rep, print_sale);
        if (key != NULL && !c->json)
            printf("idempotency key: %s\n", key);
        else if (key != NULL && key_opt == NULL)
            fprintf(stderr, "idempotency key: %s\n", key);
    }
    retry_hint(result, "checkout", key);
out:
    reply_free(&rep);
    cJSON_Delete(body);
    return result;
}

static int cmd_refund(struct cli *c, struct cursor *a)
{
    const char *lines[CLI_REPEAT_MAX];
    size_t nlines = 0;
    const char *sale_arg = NULL, *key_opt = NULL, *v = NULL;
    int r;

    while (cur_arg(a) != NULL) {
        if ((r = skip_common(c, a)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(a, "--line", &v)) != 0) {
            if (r < 0 || push(lines, &nlines, v, "--line") != 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(a, "--key", &key_opt)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if (is_option(a))
            return usage_error("refund: unknown option '%s'", cur_arg(a));
        if (take_positional(a, "refund", &sale_arg) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
    }
    if (sale_arg == NULL)
        return usage_error("refund: missing SALE_ID (or 'last')");

    int result = CLI_EXIT_USAGE;
    struct reply rep = {0};
    char keybuf[2 * CLI_KEY_BYTES + 1], sale_id[256], path[1024];
    const char *key = NULL;
    char *esc = NULL;
    cJSON *body = cJSON_CreateObject();
    if (body == NULL)
        goto nomem;
    if (nlines > 0) {
        cJSON *arr = cJSON_AddArrayToObject(body, "lines");
        if (arr == NULL)
            goto nomem;
        for (size_t i = 0; i < nlines; i++) {
            int64_t no;
            if (parse_int(lines[i], 1, CLI_NUM_MAX, &no) != 0) {
                result = usage_error("--line '%s': expected a line number >= 1", lines[i]);
                goto out;
            }
            cJSON *n = cJSON_CreateNumber((double)no);
            if (n == NULL || !cJSON_AddItemToArray(arr, n)) {
                cJSON_Delete(n);
                goto nomem;
            }
        }
    }
    if ((key = pick_key(key_opt, keybuf)) == NULL)
        goto out;
    if ((result = cli_setup(c)) != CLI_EXIT_OK)
        goto out;
    if ((result = resolve_sale_id(c, sale_arg, sale_id, sizeof(sale_id))) != CLI_EXIT_OK)
        goto out;
    result = CLI_EXIT_USAGE;
    if ((esc = escape_segment(sale_id)) == NULL)
        goto nomem;
    if ((size_t)snprintf(path, sizeof(path), "/v1/sales/%s/refund", esc) >= sizeof(path)) {
        result = usage_error("sale id too long");
        goto out;
    }
    result = api_request_json(c, path, body, key, &rep);
    if (result == CLI_EXIT_OK) {
        emit(c, &rep, print_refund);
        if (!c->json)
            printf("idempotency key: %s\n", key);
        else if (key_opt == NULL)
            fprintf(stderr, "idempotency key: %s\n", key);
    }
    retry_hint(result, "refund", key);
    goto out;
nomem:
    fprintf(stderr, "memberlink: out of memory\n");
    result = CLI_EXIT_USAGE;
out:
    curl_free(esc);
    reply_free(&rep);
    cJSON_Delete(body);
    return result;
}

static int cmd_sale(struct cli *c, struct cursor *a)
{
    const char *sale_arg = NULL;
    int r;
    while (cur_arg(a) != NULL) {
        if ((r = skip_common(c, a)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if (is_option(a))
            return usage_error("sale: unknown option '%s'", cur_arg(a));
        if (take_positional(a, "sale", &sale_arg) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
    }
    if (sale_arg == NULL)
        return usage_error("sale: missing SALE_ID (or 'last')");
    if ((r = cli_setup(c)) != CLI_EXIT_OK)
        return r;

    char sale_id[256], path[1024];
    struct reply rep = {0};
    char *esc = NULL;
    int result = resolve_sale_id(c, sale_arg, sale_id, sizeof(sale_id));
    if (result != CLI_EXIT_OK)
        goto out;
    result = CLI_EXIT_USAGE;
    if ((esc = escape_segment(sale_id)) == NULL) {
        fprintf(stderr, "memberlink: out of memory\n");
        goto out;
    }
    if ((size_t)snprintf(path, sizeof(path), "/v1/sales/%s", esc) >= sizeof(path)) {
        result = usage_error("sale id too long");
        goto out;
    }
    result = api_request(c, path, NULL, NULL, &rep);
    if (result == CLI_EXIT_OK)
        emit(c, &rep, print_sale);
out:
    curl_free(esc);
    reply_free(&rep);
    return result;
}

static int cmd_sales(struct cli *c, struct cursor *a)
{
    const char *limit_s = NULL;
    int64_t limit = CLI_SALES_DEFAULT;
    int r;
    while (cur_arg(a) != NULL) {
        if ((r = skip_common(c, a)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(a, "--limit", &limit_s)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        return usage_error("sales: unexpected argument '%s'", cur_arg(a));
    }
    /* The server enforces its own range; this only keeps the query a plain integer. */
    if (limit_s != NULL && parse_int(limit_s, 1, 1000000, &limit) != 0)
        return usage_error("--limit: expected a positive whole number");
    if ((r = cli_setup(c)) != CLI_EXIT_OK)
        return r;

    char path[64];
    struct reply rep = {0};
    snprintf(path, sizeof(path), "/v1/sales?limit=%" PRId64, limit);
    int result = api_request(c, path, NULL, NULL, &rep);
    if (result == CLI_EXIT_OK)
        emit(c, &rep, print_sales);
    reply_free(&rep);
    return result;
}

static int cmd_guide(struct cli *c, struct cursor *a)
{
    const char *sub = NULL, *guide_id = NULL, *from = NULL, *to = NULL;
    int r;
    while (cur_arg(a) != NULL) {
        if ((r = skip_common(c, a)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(a, "--from", &from)) != 0 || (r = opt_value(a, "--to", &to)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if (is_option(a))
            return usage_error("guide: unknown option '%s'", cur_arg(a));
        if (sub == NULL) {
            sub = cur_arg(a);
            a->i++;
            if (strcmp(sub, "commissions") != 0)
                return usage_error("guide: unknown subcommand '%s' (expected 'commissions')", sub);
            continue;
        }
        if (take_positional(a, "guide commissions", &guide_id) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
    }
    if (sub == NULL)
        return usage_error("guide: missing subcommand (expected 'commissions')");
    if (guide_id == NULL)
        return usage_error("guide commissions: missing GUIDE_ID");
    if ((r = cli_setup(c)) != CLI_EXIT_OK)
        return r;

    int result = CLI_EXIT_USAGE;
    struct reply rep = {0};
    char path[1024];
    char *esc_id = escape_segment(guide_id);
    char *esc_from = from != NULL ? escape_segment(from) : NULL;
    char *esc_to = to != NULL ? escape_segment(to) : NULL;
    if (esc_id == NULL || (from != NULL && esc_from == NULL) || (to != NULL && esc_to == NULL)) {
        fprintf(stderr, "memberlink: out of memory\n");
        goto out;
    }
    struct sbuf b = {path, 0, sizeof(path)};
    sb_add(&b, "/v1/guides/%s/commissions", esc_id);
    if (esc_from != NULL)
        sb_add(&b, "?from=%s", esc_from);
    if (esc_to != NULL)
        sb_add(&b, "%sto=%s", esc_from != NULL ? "&" : "?", esc_to);
    if (b.len + 1 >= sizeof(path)) {
        result = usage_error("guide commissions: arguments too long");
        goto out;
    }
    result = api_request(c, path, NULL, NULL, &rep);
    if (result == CLI_EXIT_OK)
        emit(c, &rep, print_commissions);
out:
    curl_free(esc_id);
    curl_free(esc_from);
    curl_free(esc_to);
    reply_free(&rep);
    return result;
}

static int cmd_status(struct cli *c, struct cursor *a)
{
    int r;
    while (cur_arg(a) != NULL) {
        if ((r = skip_common(c, a)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        return usage_error("status: unexpected argument '%s'", cur_arg(a));
    }
    if ((r = cli_setup(c)) != CLI_EXIT_OK)
        return r;
    struct reply rep = {0};
    int result = api_request(c, "/v1/status", NULL, NULL, &rep);
    if (result == CLI_EXIT_OK)
        emit(c, &rep, print_status);
    reply_free(&rep);
    return result;
}

static int cmd_help(struct cli *c, struct cursor *a)
{
    (void)c;
    (void)a;
    fputs(usage_text, stdout);
    return CLI_EXIT_OK;
}

static const struct command {
    const char *name;
    int (*run)(struct cli *c, struct cursor *a);
} commands[] = {
    {"identify", cmd_identify}, {"checkout", cmd_checkout}, {"refund", cmd_refund},
    {"sale", cmd_sale},         {"sales", cmd_sales},       {"guide", cmd_guide},
    {"status", cmd_status},     {"help", cmd_help},
};

int main(int argc, char **argv)
{
    struct cli c = {0};
    struct cursor a = {argc, argv, 1, 0};
    const char *name = NULL;
    int result;

    while (cur_arg(&a) != NULL) {
        int r = global_opt(&c, &a);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        const char *arg = cur_arg(&a);
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(usage_text, stdout);
            return CLI_EXIT_OK;
        }
        if (arg[0] == '-')
            return usage_error("unknown option '%s'", arg);
        name = arg;
        a.i++;
        break;
    }
    if (name == NULL) {
        fputs(usage_text, stderr);
        return CLI_EXIT_USAGE;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            cmd = &commands[i];
    if (cmd == NULL)
        return usage_error("unknown command '%s'", name);
    /* "memberlink COMMAND --help" prints the help, whatever the command. */
    for (int i = a.i; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return cmd_help(&c, &a);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "memberlink: cannot initialise libcurl\n");
        return CLI_EXIT_USAGE;
    }
    result = cmd->run(&c, &a);
    curl_global_cleanup();
    if (fflush(stdout) != 0 && result == CLI_EXIT_OK) {
        fprintf(stderr, "memberlink: cannot write output: %s\n", strerror(errno));
        result = CLI_EXIT_USAGE;
    }
    return result;
}
