/*
 * cli: `memberlink`, the command-line client of memberlinkd's local HTTP API
 * (docs/api.md). It is a thin client: it builds a request from the command line,
 * sends it, and prints the answer either as the server's JSON (--json) or as compact
 * human-readable text. Business rules (limits, validity) are the server's; the CLI only
 * checks what it must to build a well-formed request.
 *
 * This file holds the commands and main(); options.h reads the command line,
 * transport.h talks to the agent, print.h writes the answers.
 *
 * Exit codes are a contract with scripts (cli_exit.h): 0 success, 1 the API answered an
 * error, 2 usage/config/local error, 3 no usable answer from the agent.
 *
 * Everything read from outside is bounded: response bodies (CLI_RESPONSE_MAX), the
 * --items-file (CLI_FILE_MAX), repeated options (CLI_REPEAT_MAX). Text from the server
 * is stripped of control characters before it reaches the terminal.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_exit.h"
#include "fileutil.h"
#include "jsonutil.h"
#include "num.h"
#include "options.h"
#include "print.h"
#include "transport.h"

#define CLI_FILE_MAX (1024u * 1024u) /* bytes of an --items-file */
#define CLI_KEY_BYTES 16             /* random key: 32 hex characters */
#define CLI_SALES_DEFAULT 10         /* `sales` without --limit */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct cli {
    struct opt_global opt; /* the global options, wherever they were given */
    struct transport t;    /* set by cli_setup() once the command line is read */
};

/* Writes 2*CLI_KEY_BYTES hex characters from /dev/urandom into out. Returns 0 or -1. */
static int random_key(char out[2 * CLI_KEY_BYTES + 1])
{
    uint8_t raw[CLI_KEY_BYTES];
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
    num_hex_encode(raw, sizeof(raw), out);
    return 0;
}

/* Resolves the configuration once the command line is read; see transport_setup(). */
static int cli_setup(struct cli *c)
{
    return transport_setup(&c->t, c->opt.config_path, c->opt.url, c->opt.token, c->opt.json);
}

/* Prints a successful reply as JSON (--json) or through `human`. */
static void emit(const struct cli *c, const struct transport_reply *r, void (*human)(const cJSON *))
{
    if (c->opt.json)
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
    struct transport_reply r = {0};
    if (strcmp(arg, "last") != 0) {
        if ((size_t)snprintf(ret, len, "%s", arg) >= len)
            return opt_usage_error("sale id too long");
        return CLI_EXIT_OK;
    }
    int result = transport_request(&c->t, "/v1/sales?limit=1", NULL, NULL, &r);
    if (result != CLI_EXIT_OK)
        return result;
    const cJSON *newest = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "sales"), 0);
    const cJSON *sale_id = cJSON_GetObjectItemCaseSensitive(newest, "sale_id");
    const char *id = cJSON_IsString(sale_id) ? sale_id->valuestring : NULL;
    if (id == NULL) {
        if (c->opt.json)
            printf("{\n  \"error\": {\n    \"code\": \"sale_not_found\",\n    \"message\": "
                   "\"no sales recorded yet\"\n  }\n}\n");
        else
            fprintf(stderr, "error: sale_not_found: no sales recorded yet\n");
        result = CLI_EXIT_API;
    } else if ((size_t)snprintf(ret, len, "%s", id) >= len) {
        fprintf(stderr, "memberlink: the agent returned an over-long sale id\n");
        result = CLI_EXIT_UNREACHABLE;
    }
    transport_reply_free(&r);
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

/*
 * The API path of a sale: "/v1/sales/<id><suffix>", where id is sale_arg or, for "last",
 * the newest sale (resolve_sale_id()), escaped. Needs cli_setup(). CLI_EXIT_OK with path
 * written, or an exit code (reported).
 */
static int sale_path(const struct cli *c, const char *sale_arg, const char *suffix, char *path,
                     size_t len)
{
    char sale_id[256];
    int result = resolve_sale_id(c, sale_arg, sale_id, sizeof(sale_id));
    if (result != CLI_EXIT_OK)
        return result;
    char *esc = transport_escape(sale_id);
    if (esc == NULL) {
        fprintf(stderr, "memberlink: out of memory\n");
        return CLI_EXIT_USAGE;
    }
    if ((size_t)snprintf(path, len, "/v1/sales/%s%s", esc, suffix) >= len)
        result = opt_usage_error("sale id too long");
    transport_escape_free(esc);
    return result;
}

/*
 * After a recorded checkout or refund: the idempotency key used (NULL: none, a quote) on
 * stdout under the text answer; with --json on stderr, and only when the CLI made it up.
 */
static void print_key(const struct cli *c, const char *key, const char *key_opt)
{
    if (key == NULL)
        return;
    if (!c->opt.json)
        printf("idempotency key: %s\n", key);
    else if (key_opt == NULL)
        fprintf(stderr, "idempotency key: %s\n", key);
}

static int cmd_identify(struct cli *c, struct opt_cursor *a)
{
    const char *phone = NULL, *qr = NULL;
    const struct opt_spec spec[] = {
        {"--phone", OPT_VALUE, .value = &phone},
        {"--qr", OPT_VALUE, .value = &qr},
    };
    int r = opt_parse_command(&c->opt, a, "identify", spec, ARRAY_LEN(spec), NULL, 0);
    if (r != CLI_EXIT_OK)
        return r;
    if ((phone == NULL) == (qr == NULL))
        return opt_usage_error("identify: give exactly one of --phone NUMBER or --qr TEXT");
    if ((r = cli_setup(c)) != CLI_EXIT_OK)
        return r;

    int result = CLI_EXIT_USAGE;
    struct transport_reply rep = {0};
    cJSON *body = cJSON_CreateObject();
    if (body == NULL || cJSON_AddStringToObject(body, phone != NULL ? "phone" : "qr",
                                                phone != NULL ? phone : qr) == NULL) {
        fprintf(stderr, "memberlink: out of memory\n");
        goto out;
    }
    result = transport_request_json(&c->t, "/v1/identify", body, NULL, &rep);
    if (result == CLI_EXIT_OK)
        emit(c, &rep, print_identify);
out:
    transport_reply_free(&rep);
    cJSON_Delete(body);
    return result;
}

/* Sets obj[name] = item, replacing any earlier value; takes ownership of item. */
static int set_field(cJSON *obj, const char *name, cJSON *item)
{
    if (item == NULL)
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(obj, name) != NULL)
        return cJSON_ReplaceItemInObjectCaseSensitive(obj, name, item) ? 0 : -1;
    if (!cJSON_AddItemToObject(obj, name, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

/*
 * The array obj[name] into *ret, created when missing. ML_OK; ML_PARSE when obj[name] exists
 * and is not an array (it came from an --items-file); ML_NOMEM. Nothing is reported.
 */
static ml_err get_array(cJSON *obj, const char *name, cJSON **ret)
{
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (arr == NULL && (arr = cJSON_AddArrayToObject(obj, name)) == NULL)
        return ML_NOMEM;
    if (!cJSON_IsArray(arr))
        return ML_PARSE;
    *ret = arr;
    return ML_OK;
}

/* An --item SKU:CATEGORY:QTY:PRICE as an item of the request; NULL (reported) on error. */
static cJSON *item_object(const char *spec)
{
    struct opt_item it;
    if (opt_parse_item(spec, &it) != 0)
        return NULL;
    cJSON *item = cJSON_CreateObject();
    if (item == NULL || cJSON_AddStringToObject(item, "sku", it.sku) == NULL ||
        cJSON_AddStringToObject(item, "category", it.category) == NULL ||
        json_add_i64(item, "qty", it.qty) == NULL ||
        json_add_i64(item, "unit_price", it.unit_price) == NULL) {
        cJSON_Delete(item);
        fprintf(stderr, "memberlink: out of memory\n");
        return NULL;
    }
    return item;
}

/*
 * Reads the --items-file whole (at most CLI_FILE_MAX bytes) and reports a failure as the
 * CLI always has: "<path>: <reason>" when it cannot be opened, "read error" when read()
 * fails on a file open() accepted (a directory, an I/O error), "larger than N bytes", "out
 * of memory". 0 with *ret (caller frees with free()) and *ret_len, or -1 (reported).
 */
static int read_items_file(const char *path, char **ret, size_t *ret_len)
{
    ml_err err = file_read_small(path, CLI_FILE_MAX, ret, ret_len);
    int e = errno;
    if (err == ML_OK)
        return 0;
    if (err == ML_NOENTRY)
        opt_usage_error("--items-file %s: %s", path, strerror(ENOENT));
    else if (err == ML_LIMIT)
        opt_usage_error("--items-file %s: larger than %zu bytes", path, (size_t)CLI_FILE_MAX);
    else if (err == ML_NOMEM)
        opt_usage_error("--items-file %s: out of memory", path);
    else if (e == EISDIR || e == EIO)
        opt_usage_error("--items-file %s: read error", path);
    else
        opt_usage_error("--items-file %s: %s", path, strerror(e));
    return -1;
}

/*
 * The --items-file text (NUL-terminated at text[len]) as one JSON value; NULL when it is
 * not one, or holds a NUL byte. Not json_parse_bounded(): the file is a request body, whose
 * limits are the server's; that would refuse here, as a usage error (exit 2), a file
 * nesting past JSON_DEPTH_MAX that the server refuses as malformed_json (exit 1).
 * Caller frees with cJSON_Delete().
 */
static cJSON *parse_items_json(const char *text, size_t len)
{
    if (memchr(text, '\0', len) != NULL)
        return NULL;
    /* With require_null_terminated, cJSON wants the terminator inside the length. */
    return cJSON_ParseWithLengthOpts(text, len + 1, NULL, 1);
}

/*
 * The checkout request: --items-file first (an item array, or a whole request), then the
 * options on top. Returns a tree the caller frees with cJSON_Delete(), or NULL (reported).
 */
static cJSON *build_checkout(const char *items_file, const char *member, const char *guide,
                             const char *const *items, size_t nitems, const char *const *coupons,
                             size_t ncoupons, const char *points, int dry_run)
{
    cJSON *body = NULL, *arr = NULL;
    int64_t npoints = 0;
    ml_err err;

    if (points != NULL && num_parse_i64(points, 0, CLI_NUM_MAX, &npoints) != 0) {
        opt_usage_error("--points: expected a whole number of points >= 0");
        return NULL;
    }
    if (items_file != NULL) {
        size_t len = 0;
        char *text = NULL;
        if (read_items_file(items_file, &text, &len) != 0)
            return NULL;
        cJSON *file = parse_items_json(text, len);
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
            opt_usage_error("--items-file %s: expected a JSON array of items or a checkout "
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
        if ((err = get_array(body, "items", &arr)) == ML_NOMEM)
            goto nomem;
        if (err != ML_OK) {
            opt_usage_error("--items-file %s: \"items\" is not an array", items_file);
            goto fail;
        }
        for (size_t i = 0; i < nitems; i++) {
            cJSON *item = item_object(items[i]);
            if (item == NULL)
                goto fail;
            if (!cJSON_AddItemToArray(arr, item)) {
                cJSON_Delete(item);
                goto nomem;
            }
        }
    }
    if (ncoupons > 0) {
        if ((err = get_array(body, "coupons", &arr)) == ML_NOMEM)
            goto nomem;
        if (err != ML_OK) {
            opt_usage_error("--items-file %s: \"coupons\" is not an array", items_file);
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
    if (cJSON_GetObjectItemCaseSensitive(body, "items") == NULL) {
        opt_usage_error("checkout: no items (use --item or --items-file)");
        goto fail;
    }
    return body;
nomem:
    fprintf(stderr, "memberlink: out of memory\n");
fail:
    cJSON_Delete(body);
    return NULL;
}

/* The Idempotency-Key to send: --key, or a fresh random one into buf. NULL (reported). */
static const char *pick_key(const char *given, char *buf)
{
    if (given != NULL) {
        if (!transport_header_safe(given, CLI_KEY_MAX)) {
            opt_usage_error("--key: expected 1-%d printable characters without spaces",
                            CLI_KEY_MAX);
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

static int cmd_checkout(struct cli *c, struct opt_cursor *a)
{
    const char *items[CLI_REPEAT_MAX], *coupons[CLI_REPEAT_MAX];
    size_t nitems = 0, ncoupons = 0;
    const char *member = NULL, *guide = NULL, *items_file = NULL, *points = NULL;
    const char *key_opt = NULL;
    int dry_run = 0;
    const struct opt_spec spec[] = {
        {"--dry-run", OPT_FLAG, .flag = &dry_run},
        {"--item", OPT_LIST, .list = items, .count = &nitems},
        {"--coupon", OPT_LIST, .list = coupons, .count = &ncoupons},
        {"--member", OPT_VALUE, .value = &member},
        {"--guide", OPT_VALUE, .value = &guide},
        {"--items-file", OPT_VALUE, .value = &items_file},
        {"--points", OPT_VALUE, .value = &points},
        {"--key", OPT_VALUE, .value = &key_opt},
    };
    if (opt_parse_command(&c->opt, a, "checkout", spec, ARRAY_LEN(spec), NULL, 0) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;

    int result = CLI_EXIT_USAGE;
    struct transport_reply rep = {0};
    char keybuf[2 * CLI_KEY_BYTES + 1];
    const char *key = NULL;
    cJSON *body = build_checkout(items_file, member, guide, items, nitems, coupons, ncoupons,
                                 points, dry_run);
    if (body == NULL)
        goto out;
    /* The file may ask for a dry run too; a quote changes nothing, so it needs no key. */
    int quote = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "dry_run"));
    if (key_opt != NULL || !quote) {
        if ((key = pick_key(key_opt, keybuf)) == NULL)
            goto out;
    }
    if ((result = cli_setup(c)) != CLI_EXIT_OK)
        goto out;
    result = transport_request_json(&c->t, "/v1/checkout", body, key, &rep);
    if (result == CLI_EXIT_OK) {
        emit(c, &rep, print_sale);
        print_key(c, key, key_opt);
    }
    retry_hint(result, "checkout", key);
out:
    transport_reply_free(&rep);
    cJSON_Delete(body);
    return result;
}

static int cmd_refund(struct cli *c, struct opt_cursor *a)
{
    const char *lines[CLI_REPEAT_MAX];
    size_t nlines = 0;
    const char *sale_arg = NULL, *key_opt = NULL;
    const struct opt_spec spec[] = {
        {"--line", OPT_LIST, .list = lines, .count = &nlines},
        {"--key", OPT_VALUE, .value = &key_opt},
    };
    if (opt_parse_command(&c->opt, a, "refund", spec, ARRAY_LEN(spec), &sale_arg, 1) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    if (sale_arg == NULL)
        return opt_usage_error("refund: missing SALE_ID (or 'last')");

    int result = CLI_EXIT_USAGE;
    struct transport_reply rep = {0};
    char keybuf[2 * CLI_KEY_BYTES + 1], path[1024];
    const char *key = NULL;
    cJSON *body = cJSON_CreateObject();
    if (body == NULL)
        goto nomem;
    if (nlines > 0) {
        cJSON *arr = cJSON_AddArrayToObject(body, "lines");
        if (arr == NULL)
            goto nomem;
        for (size_t i = 0; i < nlines; i++) {
            int64_t no;
            if (num_parse_i64(lines[i], 1, CLI_NUM_MAX, &no) != 0) {
                result = opt_usage_error("--line '%s': expected a line number >= 1", lines[i]);
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
    if ((result = sale_path(c, sale_arg, "/refund", path, sizeof(path))) != CLI_EXIT_OK)
        goto out;
    result = transport_request_json(&c->t, path, body, key, &rep);
    if (result == CLI_EXIT_OK) {
        emit(c, &rep, print_refund);
        print_key(c, key, key_opt);
    }
    retry_hint(result, "refund", key);
    goto out;
nomem:
    fprintf(stderr, "memberlink: out of memory\n");
    result = CLI_EXIT_USAGE;
out:
    transport_reply_free(&rep);
    cJSON_Delete(body);
    return result;
}

static int cmd_sale(struct cli *c, struct opt_cursor *a)
{
    const char *sale_arg = NULL;
    int r = opt_parse_command(&c->opt, a, "sale", NULL, 0, &sale_arg, 1);
    if (r != CLI_EXIT_OK)
        return r;
    if (sale_arg == NULL)
        return opt_usage_error("sale: missing SALE_ID (or 'last')");
    if ((r = cli_setup(c)) != CLI_EXIT_OK)
        return r;

    char path[1024];
    struct transport_reply rep = {0};
    int result = sale_path(c, sale_arg, "", path, sizeof(path));
    if (result != CLI_EXIT_OK)
        return result;
    result = transport_request(&c->t, path, NULL, NULL, &rep);
    if (result == CLI_EXIT_OK)
        emit(c, &rep, print_sale);
    transport_reply_free(&rep);
    return result;
}

static int cmd_sales(struct cli *c, struct opt_cursor *a)
{
    const char *limit_s = NULL;
    int64_t limit = CLI_SALES_DEFAULT;
    const struct opt_spec spec[] = {{"--limit", OPT_VALUE, .value = &limit_s}};
    int r = opt_parse_command(&c->opt, a, "sales", spec, ARRAY_LEN(spec), NULL, 0);
    if (r != CLI_EXIT_OK)
        return r;
    /* The server enforces its own range; this only keeps the query a plain integer. */
    if (limit_s != NULL && num_parse_i64(limit_s, 1, 1000000, &limit) != 0)
        return opt_usage_error("--limit: expected a positive whole number");
    if ((r = cli_setup(c)) != CLI_EXIT_OK)
        return r;

    char path[64];
    struct transport_reply rep = {0};
    snprintf(path, sizeof(path), "/v1/sales?limit=%" PRId64, limit);
    int result = transport_request(&c->t, path, NULL, NULL, &rep);
    if (result == CLI_EXIT_OK)
        emit(c, &rep, print_sales);
    transport_reply_free(&rep);
    return result;
}

static int cmd_guide(struct cli *c, struct opt_cursor *a)
{
    const char *guide_id = NULL, *from = NULL, *to = NULL;
    const struct opt_spec spec[] = {
        {"--from", OPT_VALUE, .value = &from},
        {"--to", OPT_VALUE, .value = &to},
    };
    int r = opt_parse_command(&c->opt, a, "guide commissions", spec, ARRAY_LEN(spec), &guide_id, 1);
    if (r != CLI_EXIT_OK)
        return r;
    if (guide_id == NULL)
        return opt_usage_error("guide commissions: missing GUIDE_ID");
    if ((r = cli_setup(c)) != CLI_EXIT_OK)
        return r;

    int result = CLI_EXIT_USAGE;
    struct transport_reply rep = {0};
    char path[1024];
    char *esc_id = transport_escape(guide_id);
    char *esc_from = from != NULL ? transport_escape(from) : NULL;
    char *esc_to = to != NULL ? transport_escape(to) : NULL;
    if (esc_id == NULL || (from != NULL && esc_from == NULL) || (to != NULL && esc_to == NULL)) {
        fprintf(stderr, "memberlink: out of memory\n");
        goto out;
    }
    /* A path of sizeof(path) - 1 characters counts as too long too. */
    const char *to_sep = esc_from != NULL ? "&to=" : "?to=";
    int n = snprintf(path, sizeof(path), "/v1/guides/%s/commissions%s%s%s%s", esc_id,
                     esc_from != NULL ? "?from=" : "", esc_from != NULL ? esc_from : "",
                     esc_to != NULL ? to_sep : "", esc_to != NULL ? esc_to : "");
    if (n < 0 || (size_t)n + 1 >= sizeof(path)) {
        result = opt_usage_error("guide commissions: arguments too long");
        goto out;
    }
    result = transport_request(&c->t, path, NULL, NULL, &rep);
    if (result == CLI_EXIT_OK)
        emit(c, &rep, print_commissions);
out:
    transport_escape_free(esc_id);
    transport_escape_free(esc_from);
    transport_escape_free(esc_to);
    transport_reply_free(&rep);
    return result;
}

static int cmd_status(struct cli *c, struct opt_cursor *a)
{
    int r = opt_parse_command(&c->opt, a, "status", NULL, 0, NULL, 0);
    if (r != CLI_EXIT_OK)
        return r;
    if ((r = cli_setup(c)) != CLI_EXIT_OK)
        return r;
    struct transport_reply rep = {0};
    int result = transport_request(&c->t, "/v1/status", NULL, NULL, &rep);
    if (result == CLI_EXIT_OK)
        emit(c, &rep, print_status);
    transport_reply_free(&rep);
    return result;
}

static int cmd_help(struct cli *c, struct opt_cursor *a)
{
    (void)c;
    (void)a;
    opt_print_usage(stdout);
    return CLI_EXIT_OK;
}

static const struct command {
    const char *name;
    int (*run)(struct cli *c, struct opt_cursor *a);
} commands[] = {
    {"identify", cmd_identify}, {"checkout", cmd_checkout}, {"refund", cmd_refund},
    {"sale", cmd_sale},         {"sales", cmd_sales},       {"guide", cmd_guide},
    {"status", cmd_status},     {"help", cmd_help},
};

int main(int argc, char **argv)
{
    struct cli c = {0};
    struct opt_cursor a = {argc, argv, 1, 0};
    const char *name = NULL;
    int result;

    while (opt_arg(&a) != NULL) {
        int r = opt_global(&c.opt, &a);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        const char *arg = opt_arg(&a);
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            opt_print_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (arg[0] == '-')
            return opt_usage_error("unknown option '%s'", arg);
        name = arg;
        a.i++;
        break;
    }
    if (name == NULL) {
        opt_print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            cmd = &commands[i];
    if (cmd == NULL)
        return opt_usage_error("unknown command '%s'", name);
    /* "memberlink COMMAND --help" prints the help, whatever the command. */
    for (int i = a.i; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return cmd_help(&c, &a);

    if (transport_global_init() != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    result = cmd->run(&c, &a);
    transport_global_cleanup();
    if (fflush(stdout) != 0 && result == CLI_EXIT_OK) {
        fprintf(stderr, "memberlink: cannot write output: %s\n", strerror(errno));
        result = CLI_EXIT_USAGE;
    }
    return result;
}
