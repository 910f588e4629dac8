/* options: the argv cursor, the table-driven command parser, yuan and --item values; see
 * options.h. */
#include "options.h"

#include <stdarg.h>
#include <string.h>

#include "cli_exit.h"
#include "num.h"

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

int opt_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("memberlink: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'memberlink help'.\n", stderr);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

void opt_print_usage(FILE *out)
{
    fputs(usage_text, out);
}

const char *opt_arg(const struct opt_cursor *a)
{
    return a->i < a->argc ? a->argv[a->i] : NULL;
}

/*
 * If the current argument is option `name` ("--name VALUE" or "--name=VALUE"; "-c VALUE"
 * for a one-dash name), stores the value in *ret, advances and returns 1; returns 0 when it
 * is another argument, -1 (reported) when the value is missing.
 */
static int opt_value(struct opt_cursor *a, const char *name, const char **ret)
{
    const char *arg = opt_arg(a);
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
        opt_usage_error("%s needs a value", name);
        return -1;
    }
    *ret = a->argv[a->i + 1];
    a->i += 2;
    return 1;
}

/* 1 (and advances) when the current argument is exactly `name`, else 0. */
static int opt_flag(struct opt_cursor *a, const char *name)
{
    const char *arg = opt_arg(a);
    if (arg == NULL || a->only_positional || strcmp(arg, name) != 0)
        return 0;
    a->i++;
    return 1;
}

int opt_global(struct opt_global *g, struct opt_cursor *a)
{
    int r;
    if (opt_flag(a, "--json")) {
        g->json = 1;
        return 1;
    }
    if ((r = opt_value(a, "-c", &g->config_path)) != 0)
        return r;
    if ((r = opt_value(a, "--config", &g->config_path)) != 0)
        return r;
    if ((r = opt_value(a, "--url", &g->url)) != 0)
        return r;
    if ((r = opt_value(a, "--token", &g->token)) != 0)
        return r;
    return 0;
}

/*
 * Steps past a global option or "--". 1 when something was consumed (the caller loops
 * again), 0 when the current argument is the caller's, -1 on a reported error.
 */
static int opt_skip_common(struct opt_global *g, struct opt_cursor *a)
{
    const char *arg = opt_arg(a);
    if (!a->only_positional && arg != NULL && strcmp(arg, "--") == 0) {
        a->only_positional = 1;
        a->i++;
        return 1;
    }
    return opt_global(g, a);
}

/* 1 when the current argument looks like an option ("-x", not "-" nor after "--"). */
static int opt_is_option(const struct opt_cursor *a)
{
    const char *arg = opt_arg(a);
    return !a->only_positional && arg != NULL && arg[0] == '-' && arg[1] != '\0';
}

/* Appends v to list (CLI_REPEAT_MAX entries); 0, or -1 (reported) when it is full. `name`
 * is the option, for the message. */
static int opt_push(const char **list, size_t *n, const char *v, const char *name)
{
    if (*n >= CLI_REPEAT_MAX) {
        opt_usage_error("too many %s options (at most %d)", name, CLI_REPEAT_MAX);
        return -1;
    }
    list[(*n)++] = v;
    return 0;
}

/* One of the specs at the cursor: 1 consumed, 0 none of them, -1 reported error. */
static int opt_take_spec(struct opt_cursor *a, const struct opt_spec *specs, size_t nspecs)
{
    for (size_t k = 0; k < nspecs; k++) {
        const struct opt_spec *s = &specs[k];
        const char *v = NULL;
        int r;
        if (s->kind == OPT_FLAG) {
            if (!opt_flag(a, s->name))
                continue;
            *s->flag = 1;
            return 1;
        }
        if ((r = opt_value(a, s->name, &v)) == 0)
            continue;
        if (r < 0)
            return -1;
        if (s->kind == OPT_VALUE)
            *s->value = v;
        else if (opt_push(s->list, s->count, v, s->name) != 0)
            return -1;
        return 1;
    }
    return 0;
}

int opt_parse_command(struct opt_global *g, struct opt_cursor *a, const char *cmd,
                      const struct opt_spec *specs, size_t nspecs, const char **pos, size_t npos)
{
    /* "guide commissions": the command is "guide", its subcommand "commissions". */
    const char *space = strchr(cmd, ' ');
    const char *sub = space != NULL ? space + 1 : NULL;
    int name_len = space != NULL ? (int)(space - cmd) : (int)strlen(cmd);
    int sub_seen = 0;
    size_t got = 0;

    for (size_t k = 0; k < npos; k++)
        pos[k] = NULL;
    while (opt_arg(a) != NULL) {
        int r = opt_skip_common(g, a);
        if (r == 0)
            r = opt_take_spec(a, specs, nspecs);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        const char *arg = opt_arg(a);
        if (npos == 0 && sub == NULL)
            return opt_usage_error("%s: unexpected argument '%s'", cmd, arg);
        if (opt_is_option(a))
            return opt_usage_error("%.*s: unknown option '%s'", name_len, cmd, arg);
        if (sub != NULL && !sub_seen) {
            if (strcmp(arg, sub) != 0)
                return opt_usage_error("%.*s: unknown subcommand '%s' (expected '%s')", name_len,
                                       cmd, arg, sub);
            sub_seen = 1;
        } else if (got < npos) {
            pos[got++] = arg;
        } else {
            return opt_usage_error("%s: unexpected argument '%s'", cmd, arg);
        }
        a->i++;
    }
    if (sub != NULL && !sub_seen)
        return opt_usage_error("%.*s: missing subcommand (expected '%s')", name_len, cmd, sub);
    return CLI_EXIT_OK;
}

int opt_parse_yuan(const char *s, int64_t *ret)
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

int opt_parse_item(const char *spec, struct opt_item *ret)
{
    const char *sep[3];
    const char *p = spec + strlen(spec);
    char qty_s[32], price_s[32];
    int64_t qty, price;
    for (int k = 2; k >= 0; k--) {
        while (p > spec && p[-1] != ':')
            p--;
        if (p == spec)
            goto bad_shape;
        sep[k] = --p;
    }
    size_t nsku = (size_t)(sep[0] - spec), ncat = (size_t)(sep[1] - sep[0] - 1);
    size_t nqty = (size_t)(sep[2] - sep[1] - 1), nprice = strlen(sep[2] + 1);
    if (nsku == 0 || nsku >= sizeof(ret->sku) || ncat == 0 || ncat >= sizeof(ret->category) ||
        nqty >= sizeof(qty_s) || nprice >= sizeof(price_s))
        goto bad_shape;
    memcpy(qty_s, sep[1] + 1, nqty);
    qty_s[nqty] = '\0';
    memcpy(price_s, sep[2] + 1, nprice + 1);
    if (num_parse_i64(qty_s, 1, CLI_NUM_MAX, &qty) != 0) {
        opt_usage_error("--item '%s': QTY must be a positive integer", spec);
        return -1;
    }
    if (opt_parse_yuan(price_s, &price) != 0) {
        opt_usage_error("--item '%s': PRICE must be yuan with at most 2 decimals, e.g. 59.90",
                        spec);
        return -1;
    }
    memcpy(ret->sku, spec, nsku);
    ret->sku[nsku] = '\0';
    memcpy(ret->category, sep[0] + 1, ncat);
    ret->category[ncat] = '\0';
    ret->qty = qty;
    ret->unit_price = price;
    return 0;
bad_shape:
    opt_usage_error("--item '%s': expected SKU:CATEGORY:QTY:PRICE", spec);
    return -1;
}
