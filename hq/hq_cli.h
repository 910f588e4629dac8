/*
 * hq_cli: what the commands of memberlink-hq share (main.c, hq_cmd.h, hq_qr.h): the exit
 * statuses, the one-line usage error, the one command-line parser, and loading the
 * configuration the global options name.
 *
 * Every command line is read by hq_cli_parse() against a table of the command family's
 * options: "-c FILE" / "--config FILE" and "-v" / "--verbose" everywhere, "-h" / "--help"
 * too, then the family's own. An option that takes a value is given as "--name VALUE" or
 * "--name=VALUE". Errors are printed as one usage line (hq_cli_usage()) and come back as
 * HQ_EXIT_USAGE.
 */
#ifndef ML_HQ_CLI_H
#define ML_HQ_CLI_H

#include <stddef.h>

#include "hq_config.h"

/* memberlink-hq's exit statuses, as docs/hq.md lists them. */
enum hq_exit {
    HQ_EXIT_OK = 0,      /* success */
    HQ_EXIT_RUNTIME = 1, /* runtime error: database, broker, I/O, OpenSSL */
    HQ_EXIT_USAGE = 2,   /* usage, configuration or refused input */
};

#define HQ_CLI_POS_MAX 4      /* positional arguments a command line may hold */
#define HQ_CLI_OPTIONS_MAX 32 /* options of one family */
#define HQ_CLI_IDS_MAX HQ_CONFIG_STORES_MAX

/* Prints memberlink-hq's usage (every command) on stdout; returns HQ_EXIT_OK. */
int hq_cli_help(void);

/*
 * The command word: the first argument after the global options (-c FILE, --config FILE,
 * -v, --verbose, -h, --help), which come before it; NULL when that argument is an option
 * (or there is none). main.c hands the whole line to the family the word belongs to.
 */
const char *hq_cli_command(int argc, char **argv);

/*
 * Prints "memberlink-hq: <message> (see memberlink-hq --help)" as one line on stderr, the
 * message cut at 511 bytes. Returns HQ_EXIT_USAGE, so callers can `return hq_cli_usage(..)`.
 */
int hq_cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct hq_cli_option {
    const char *name; /* "--store" */
    int value;        /* takes a value */
    int ids;          /* may be repeated, each value an id of 1..HQ_CONFIG_ID_MAX of
                         [A-Za-z0-9_-] given once, at most HQ_CLI_IDS_MAX times */
};

/* A command family: its options (index = the option's number) and what else it allows. */
struct hq_cli_spec {
    const struct hq_cli_option *options;
    size_t noptions; /* at most HQ_CLI_OPTIONS_MAX */
    size_t max_pos;  /* positional arguments, at most HQ_CLI_POS_MAX */
    int replace;     /* an option given again replaces its value (else: refused) */
    int help_word;   /* a positional "help" asks for the usage, like -h */
    int dash;        /* "-" alone is a positional argument (else: an unknown option) */
};

/* A parsed command line; strings borrowed from argv. Large: keep it off the stack. */
struct hq_cli_args {
    const char *conf; /* -c, --config: the last one given */
    int verbose;
    int help; /* -h, --help (or "help"): parsing stopped there */
    const char *pos[HQ_CLI_POS_MAX];
    size_t npos;
    const char *val[HQ_CLI_OPTIONS_MAX]; /* NULL for an option without a value */
    int seen[HQ_CLI_OPTIONS_MAX];
    const char *ids[HQ_CLI_IDS_MAX]; /* the values of the `ids` option, in order */
    size_t nids;
};

/*
 * Reads argv[1..argc) into *ret (cleared first). Words not starting with '-' are
 * positional (and "-" when spec->dash). -c/--config may be given again: the last counts.
 * HQ_EXIT_OK, or HQ_EXIT_USAGE after one usage line: an unknown option, a missing value, an option
 * given twice (unless spec->replace), too many positional arguments, a bad or repeated id.
 */
int hq_cli_parse(int argc, char **argv, const struct hq_cli_spec *spec, struct hq_cli_args *ret);

/* HQ_EXIT_OK unless an option outside `allowed` (a bit per option number) was given: then
 * "option '..' does not belong to '<cmd>'" and HQ_EXIT_USAGE. */
int hq_cli_only(const struct hq_cli_args *a, const struct hq_cli_spec *spec, unsigned long allowed,
                const char *cmd);

/* Fills cfg with the defaults, then the file of -c (if given), and applies -v. A file that
 * cannot be used is reported on stderr: HQ_EXIT_USAGE. */
int hq_cli_config(const struct hq_cli_args *a, struct hq_config *cfg);

#endif
