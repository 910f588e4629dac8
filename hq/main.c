/*
 * memberlink-hq: the reference HQ end. This file is its command line; `serve` is
 * hq_serve.h, the other commands hq_cmd.h and hq_qr.h.
 *
 *   memberlink-hq [-c FILE] [-v] serve
 *   memberlink-hq [-c FILE] report sales|commissions|redemptions|conflicts [--from D] [--to D]
 *                 [--json]
 *   memberlink-hq [-c FILE] status [--json]
 *   memberlink-hq [-c FILE] keygen|pubkey|push|grant|revoke|bind|republish ...  (hq_cmd.h)
 *   memberlink-hq [-c FILE] enroll|member-qr|guide-card|coupon-code ...          (hq_qr.h)
 *
 * Exit status: 0 success, 1 runtime error (database, broker setup), 2 usage or config.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "day.h"
#include "hq_cli.h"
#include "hq_cmd.h"
#include "hq_config.h"
#include "hq_qr.h"
#include "hq_report.h"
#include "hq_serve.h"
#include "hq_store.h"
#include "log.h"

static const char usage_text[] =
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
    "  push, grant, revoke, bind\n"
    "               sign, store and publish messages to stores (per store: to --store,\n"
    "               default every store of [hq] stores); T is ms or YYYY-MM-DD[THH:MM[:SS]]\n"
    "               (UTC unless it ends in Z or +HH:MM); --version defaults to now in ms\n"
    "  republish    send again what the broker did not acknowledge, and every campaign\n"
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

/* ---- report, status --------------------------------------------------------------------- */

static int open_readonly(const struct hq_config *cfg, struct hq_store **ret)
{
    char path[HQ_CONFIG_PATH_MAX + 32], errbuf[512];
    snprintf(path, sizeof(path), "%s/hq.db", cfg->data_dir);
    ml_err err = hq_store_open(path, HQ_STORE_READONLY, ret, errbuf, sizeof(errbuf));
    if (err != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf);
        return err == ML_CONFIG ? HQ_EXIT_USAGE : HQ_EXIT_RUNTIME;
    }
    return HQ_EXIT_OK;
}

static int finish_output(ml_err err, const char *errbuf)
{
    if (err != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf[0] ? errbuf : ml_strerror(err));
        return HQ_EXIT_RUNTIME;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "memberlink-hq: cannot write the output: %s\n", strerror(errno));
        return HQ_EXIT_RUNTIME;
    }
    return HQ_EXIT_OK;
}

static int cmd_report(const struct hq_config *cfg, const char *kind, const char *from,
                      const char *to, int json)
{
    char today[DAY_TEXT_LEN + 1], f[DAY_TEXT_LEN + 1], t[DAY_TEXT_LEN + 1], errbuf[512] = "";
    ml_err (*fn)(struct hq_store *, const char *, const char *, int, FILE *, char *, size_t);
    if (strcmp(kind, "sales") == 0)
        fn = hq_report_sales;
    else if (strcmp(kind, "commissions") == 0)
        fn = hq_report_commissions;
    else if (strcmp(kind, "redemptions") == 0)
        fn = hq_report_redemptions;
    else if (strcmp(kind, "conflicts") == 0)
        fn = hq_report_conflicts;
    else
        return hq_cli_usage("unknown report '%s' (sales, commissions, redemptions or conflicts)",
                            kind);
    if (from != NULL && day_parse(from, HQ_REPORT_YEAR_MIN, HQ_REPORT_YEAR_MAX, NULL) != 0)
        return hq_cli_usage("--from: '%s' is not a date YYYY-MM-DD", from);
    if (to != NULL && day_parse(to, HQ_REPORT_YEAR_MIN, HQ_REPORT_YEAR_MAX, NULL) != 0)
        return hq_cli_usage("--to: '%s' is not a date YYYY-MM-DD", to);
    day_of(clock_wall_ms(), today);
    snprintf(t, sizeof(t), "%s", to ? to : from && strcmp(from, today) > 0 ? from : today);
    snprintf(f, sizeof(f), "%s", from ? from : t);
    if (strcmp(f, t) > 0)
        return hq_cli_usage("--to %s is before --from", t);

    struct hq_store *st = NULL;
    int rc = open_readonly(cfg, &st);
    if (rc != HQ_EXIT_OK)
        return rc;
    ml_err err = fn(st, f, t, json, stdout, errbuf, sizeof(errbuf));
    hq_store_close(st);
    return finish_output(err, errbuf);
}

static int cmd_status(const struct hq_config *cfg, int json)
{
    char errbuf[512] = "";
    struct hq_store *st = NULL;
    int rc = open_readonly(cfg, &st);
    if (rc != HQ_EXIT_OK)
        return rc;
    ml_err err = hq_report_status(st, json, stdout, errbuf, sizeof(errbuf));
    hq_store_close(st);
    return finish_output(err, errbuf);
}

/* ---- command line ----------------------------------------------------------------------- */

enum main_opt { M_FROM, M_TO, M_JSON, M_COUNT };

static const struct hq_cli_option main_options[M_COUNT] = {
    [M_FROM] = {"--from", 1, 0},
    [M_TO] = {"--to", 1, 0},
    [M_JSON] = {"--json", 0, 0},
};

/* serve, report KIND, status; a later --from or --to replaces an earlier one. */
static const struct hq_cli_spec main_spec = {
    .options = main_options, .noptions = M_COUNT, .max_pos = 2, .replace = 1, .help_word = 1};

/* The command word: the first argument that is neither an option nor an option's value. */
static const char *command_word(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 || strcmp(a, "--from") == 0 ||
            strcmp(a, "--to") == 0) {
            i++;
            continue;
        }
        if (a[0] != '-')
            return a;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static struct hq_cli_args a; /* large (the --store list of the push commands) */
    static struct hq_config cfg; /* large (the [hq] stores list): not on the stack */
    log_set_name("memberlink-hq");
    const char *word = command_word(argc, argv);
    if (word != NULL && (hq_cmd_handles(word) || hq_qr_handles(word))) {
        for (int i = 1; i < argc; i++)
            if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                fputs(usage_text, stdout);
                return HQ_EXIT_OK;
            }
        return hq_qr_handles(word) ? hq_qr_main(argc, argv) : hq_cmd_main(argc, argv);
    }

    int rc = hq_cli_parse(argc, argv, &main_spec, &a);
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a.help) {
        fputs(usage_text, stdout);
        return HQ_EXIT_OK;
    }
    if (a.npos == 0)
        return hq_cli_usage("%s", "no command given");
    if ((rc = hq_cli_config(&a, &cfg)) != HQ_EXIT_OK)
        return rc;

    const char *cmd = a.pos[0], *from = a.val[M_FROM], *to = a.val[M_TO];
    int json = a.seen[M_JSON];
    int is_report = strcmp(cmd, "report") == 0;
    if (!is_report && (from != NULL || to != NULL))
        return hq_cli_usage("--from and --to belong to '%s'", "report");
    if (strcmp(cmd, "serve") == 0) {
        if (a.npos > 1 || json)
            return hq_cli_usage("%s", "serve takes no arguments");
        return hq_serve(&cfg);
    }
    if (is_report) {
        if (a.npos < 2)
            return hq_cli_usage("%s", "report needs sales, commissions, redemptions or conflicts");
        return cmd_report(&cfg, a.pos[1], from, to, json);
    }
    if (strcmp(cmd, "status") == 0) {
        if (a.npos > 1)
            return hq_cli_usage("unexpected argument '%s'", a.pos[1]);
        return cmd_status(&cfg, json);
    }
    return hq_cli_usage("unknown command '%s'", cmd);
}
