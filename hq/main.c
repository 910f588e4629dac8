/*
 * memberlink-hq: the reference HQ end. This file is its command line; `serve` is
 * hq_serve.h, the other commands hq_cmd.h and hq_qr.h.
 *
 *   memberlink-hq [-c FILE] [-v] serve
 *   memberlink-hq [-c FILE] report sales|commissions|redemptions|conflicts [--from D] [--to D]
 *                 [--json]
 *   memberlink-hq [-c FILE] status [--json]
 *   memberlink-hq [-c FILE] keygen|pubkey|push|grant|revoke|bind|withdraw|deny|republish ...
 *                                                                            (hq_cmd.h)
 *   memberlink-hq [-c FILE] enroll|member-qr|guide-card|coupon-code ...    (hq_qr.h)
 *
 * The global options (-c, -v, -h) come before the command word (hq_cli_command()); the
 * usage text is hq_cli_help()'s. Exit status: 0 success, 1 runtime error (database, broker
 * setup), 2 usage or config.
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

int main(int argc, char **argv)
{
    static struct hq_cli_args a; /* large (the --store list of the push commands) */
    static struct hq_config cfg; /* large (the [hq] stores list): not on the stack */
    log_set_name("memberlink-hq");
    /* The other command families read the whole command line themselves. */
    const char *word = hq_cli_command(argc, argv);
    if (word != NULL && hq_cmd_handles(word))
        return hq_cmd_main(argc, argv);
    if (word != NULL && hq_qr_handles(word))
        return hq_qr_main(argc, argv);

    int rc = hq_cli_parse(argc, argv, &main_spec, &a);
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a.help)
        return hq_cli_help();
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
