/* hq_cli: the command-line helpers memberlink-hq's commands share; see hq_cli.h. */
#include "hq_cli.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hq_log.h"
#include "inifile.h"

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
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 ||
            (spec->help_word && strcmp(arg, "help") == 0)) {
            ret->help = 1;
            return HQ_EXIT_OK;
        }
        if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
            ret->verbose = 1;
            continue;
        }
        if (arg[0] != '-' || (arg[1] == '\0' && spec->dash)) {
            if (ret->npos >= spec->max_pos)
                return hq_cli_usage("unexpected argument '%s'", arg);
            ret->pos[ret->npos++] = arg;
            continue;
        }
        const char *conf = matches(arg, "-c", 1)         ? "-c"
                           : matches(arg, "--config", 1) ? "--config"
                                                         : NULL;
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
        hq_log_set_level(HQ_LOG_DEBUG);
    return HQ_EXIT_OK;
}
