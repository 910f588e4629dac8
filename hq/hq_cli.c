/* hq_cli: the command-line helpers memberlink-hq's commands share; see hq_cli.h. */
#include "hq_cli.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "inifile.h"

static const char help_text[] =
    "usage: memberlink-hq [-c FILE] [-v] serve\n"
    "       memberlink-hq [-c FILE] report sales|commissions|redemptions|conflicts\n"
    "                     [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json]\n"
    "       memberlink-hq [-c FILE] status [--json]\n"
    "       memberlink-hq [-c FILE] keygen [--kid KID] [--force]\n"
    "       memberlink-hq [-c FILE] pubkey\n"
    "       memberlink-hq [-c FILE] push campaign FILE\n"
    "       memberlink-hq [-c FILE] push member|guide FILE [--store S]...\n"
    "       memberlink-hq [-c FILE] grant coupon --id C --kind amount_off|percent_off --value N\n"
    "                     --to T [--from T] [--member M] [--campaign C] [--min-spend N]\n"
    "                     [--max-off N] [--categories a,b] [--uses N] [--offline-ok yes|no]\n"
    "                     [--version N] [--store S]...\n"
    "       memberlink-hq [-c FILE] revoke coupon --id C [--version N] [--store S]...\n"
    "       memberlink-hq [-c FILE] bind guide --member M (--guide G --until T | --unbind)\n"
    "                     [--version N] [--store S]...\n"
    "       memberlink-hq [-c FILE] withdraw campaign ID\n"
    "       memberlink-hq [-c FILE] deny member|coupon --id X --reason R [--lift] [--version N]\n"
    "                     [--store S]...\n"
    "       memberlink-hq [-c FILE] republish\n"
    "       memberlink-hq [-c FILE] enroll --member ID [--days N] --wallet FILE\n"
    "       memberlink-hq member-qr --wallet FILE [--time UNIX] [--png FILE]\n"
    "       memberlink-hq [-c FILE] guide-card --guide ID [--days N] [--png FILE]\n"
    "       memberlink-hq [-c FILE] coupon-code --coupon ID [--days N] [--png FILE]\n"
    "\n"
    "  serve        ingest store events from MQTT and acknowledge them once stored; serve\n"
    "               the stores' catch-up requests over HTTP when [hq] http_listen is set\n"
    "  report       per store sales / per guide commissions / coupon redemptions /\n"
    "               coupons redeemed past their uses (conflicts, exposure per campaign)\n"
    "               for a range of local days (default: today); --json for scripts\n"
    "  status       per terminal: next expected seq, highest seq, gaps; refused events\n"
    "  keygen       new Ed25519 signing key in data_dir; prints the stores' [hq] pubkey line\n"
    "  pubkey       prints that line again\n"
    "  push, grant, revoke, bind, deny\n"
    "               sign, store and publish messages to stores (per store: to --store,\n"
    "               default every store of [hq] stores); T is ms or YYYY-MM-DD[THH:MM[:SS]]\n"
    "               (UTC unless it ends in Z or +HH:MM); --version defaults to now in ms;\n"
    "               deny --lift sends the entry lifted\n"
    "  withdraw     replaces a campaign's retained message with its signed withdrawal\n"
    "  republish    send again what was never published, and every campaign\n"
    "  enroll       a member credential bound to a fresh device key, written to a wallet\n"
    "               file (0600) as the member app would hold them; --days defaults to 365\n"
    "  member-qr    takes the wallet's next counter and prints a fresh ML1: member code\n"
    "               (--time: the proof's unix seconds instead of now)\n"
    "  guide-card, coupon-code\n"
    "               print an HQ-signed MLG1: / MLC1: code (--days: 365 / 30); --png FILE\n"
    "               also writes it as a QR code image\n"
    "  -c FILE      INI configuration ([hq] brand, data_dir, share_group, stores, phone_key,\n"
    "               http_listen; [mqtt] host, port, client_id, keepalive); built-in defaults\n"
    "               without it\n"
    "  -v           log debug lines (serve)\n"
    "\n"
    "exit status: 0 success, 1 runtime error, 2 usage, configuration or refused input\n"
    "See docs/hq.md.\n";

int hq_cli_help(void)
{
    fputs(help_text, stdout);
    return HQ_EXIT_OK;
}

int hq_cli_usage(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "memberlink-hq: %s (see memberlink-hq --help)\n", msg);
    return HQ_EXIT_USAGE;
}

/* 1 when arg is `name` alone, or "name=..." for an option with a value. */
static int matches(const char *arg, const char *name, int value)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || (arg[n] == '=' && value));
}

/* "-c" or "--config" when arg is that option (alone, or "-c=FILE"), else NULL. */
static const char *config_option(const char *arg)
{
    return matches(arg, "-c", 1) ? "-c" : matches(arg, "--config", 1) ? "--config" : NULL;
}

static int is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

static int is_verbose(const char *arg)
{
    return strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0;
}

const char *hq_cli_command(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *conf = config_option(arg);
        if (conf != NULL) {
            if (arg[strlen(conf)] == '\0')
                i++; /* its value */
            continue;
        }
        if (!is_help(arg) && !is_verbose(arg))
            return arg[0] != '-' ? arg : NULL;
    }
    return NULL;
}

/* The value of the option at argv[*i] named `name`: after '=', or the next argument. NULL
 * after a usage line when it is missing. */
static const char *value_of(int argc, char **argv, int *i, const char *name)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (arg[n] == '=')
        return arg + n + 1;
    if (*i + 1 < argc)
        return argv[++*i];
    hq_cli_usage("option '%s' needs a value", name);
    return NULL;
}

/* One more value of an `ids` option. */
static int add_id(struct hq_cli_args *a, const char *name, const char *v)
{
    if (a->nids >= HQ_CLI_IDS_MAX)
        return hq_cli_usage("more than %d %s options", HQ_CLI_IDS_MAX, name);
    if (!inifile_valid_id(v, HQ_CONFIG_ID_MAX))
        return hq_cli_usage("%s '%.40s': expected 1-%d characters of [A-Za-z0-9_-]", name, v,
                            HQ_CONFIG_ID_MAX);
    for (size_t k = 0; k < a->nids; k++)
        if (strcmp(a->ids[k], v) == 0)
            return hq_cli_usage("%s %s given twice", name, v);
    a->ids[a->nids++] = v;
    return HQ_EXIT_OK;
}

int hq_cli_parse(int argc, char **argv, const struct hq_cli_spec *spec, struct hq_cli_args *ret)
{
    assert(spec->noptions <= HQ_CLI_OPTIONS_MAX && spec->max_pos <= HQ_CLI_POS_MAX);
    memset(ret, 0, sizeof(*ret));
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (is_help(arg) || (spec->help_word && strcmp(arg, "help") == 0)) {
            ret->help = 1;
            return HQ_EXIT_OK;
        }
        if (is_verbose(arg)) {
            ret->verbose = 1;
            continue;
        }
        if (arg[0] != '-' || (arg[1] == '\0' && spec->dash)) {
            if (ret->npos >= spec->max_pos)
                return hq_cli_usage("unexpected argument '%s'", arg);
            ret->pos[ret->npos++] = arg;
            continue;
        }
        const char *conf = config_option(arg);
        if (conf != NULL) {
            if ((ret->conf = value_of(argc, argv, &i, conf)) == NULL)
                return HQ_EXIT_USAGE;
            continue;
        }
        size_t o = 0;
        while (o < spec->noptions && !matches(arg, spec->options[o].name, spec->options[o].value))
            o++;
        if (o == spec->noptions)
            return hq_cli_usage("unknown option '%s'", arg);
        const struct hq_cli_option *opt = &spec->options[o];
        const char *v = NULL;
        if (opt->value && (v = value_of(argc, argv, &i, opt->name)) == NULL)
            return HQ_EXIT_USAGE;
        if (opt->ids) {
            int rc = add_id(ret, opt->name, v);
            if (rc != HQ_EXIT_OK)
                return rc;
        } else if (ret->seen[o] && !spec->replace) {
            return hq_cli_usage("option '%s' given twice", opt->name);
        }
        ret->seen[o] = 1;
        ret->val[o] = v;
    }
    return HQ_EXIT_OK;
}

int hq_cli_only(const struct hq_cli_args *a, const struct hq_cli_spec *spec, unsigned long allowed,
                const char *cmd)
{
    for (size_t o = 0; o < spec->noptions; o++)
        if (a->seen[o] && !(allowed & (1UL << o)))
            return hq_cli_usage("option '%s' does not belong to '%s'", spec->options[o].name, cmd);
    return HQ_EXIT_OK;
}

int hq_cli_config(const struct hq_cli_args *a, struct hq_config *cfg)
{
    char errbuf[512];
    hq_config_defaults(cfg);
    if (a->conf != NULL && hq_config_load(cfg, a->conf, errbuf, sizeof(errbuf)) != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf);
        return HQ_EXIT_USAGE;
    }
    if (a->verbose)
        log_set_level(LOG_LVL_DEBUG);
    return HQ_EXIT_OK;
}
