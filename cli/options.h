/*
 * options: the command line of `memberlink`. A cursor over argv shared by the global and the
 * per-command parsers; the global options (-c/--config, --url, --token, --json), accepted
 * before or after the command; option values ("--name VALUE" or "--name=VALUE"),
 * positional arguments, repeated options (at most CLI_REPEAT_MAX of each); the usage text;
 * and the values only the CLI takes: yuan written exactly ("59.90") and items
 * ("SKU:CATEGORY:QTY:PRICE"). Integers are parsed with num_parse_i64() (lib/num.h).
 *
 * Every function that refuses an argument reports it once on stderr through
 * opt_usage_error() ("memberlink: <what>" and a hint); callers then only return
 * CLI_EXIT_USAGE. Nothing here allocates: values borrow argv.
 */
#ifndef ML_CLI_OPTIONS_H
#define ML_CLI_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_REPEAT_MAX 256            /* --item, --coupon, --line occurrences */
#define CLI_NUM_MAX 999999999999999LL /* largest number sent: cJSON prints it as digits */
#define CLI_ITEM_SKU_MAX 255          /* bytes of an --item SKU */
#define CLI_ITEM_CATEGORY_MAX 127     /* bytes of an --item CATEGORY */

/* A position in argv. Start with {argc, argv, 1, 0}. */
struct opt_cursor {
    int argc;
    char **argv;
    int i;
    int only_positional; /* after "--" */
};

/* The global options; each pointer NULL when not given, borrowing argv. */
struct opt_global {
    const char *config_path; /* -c, --config; NULL = embedded defaults */
    const char *url;         /* --url; NULL = from the config */
    const char *token;       /* --token; NULL = from the config or <data_dir>/api.token */
    int json;                /* --json */
};

/* One --item, parsed. */
struct opt_item {
    char sku[CLI_ITEM_SKU_MAX + 1];
    char category[CLI_ITEM_CATEGORY_MAX + 1];
    int64_t qty;        /* 1..CLI_NUM_MAX */
    int64_t unit_price; /* minor units */
};

/* Prints "memberlink: <message>" and "Try 'memberlink help'." on stderr; returns
 * CLI_EXIT_USAGE. */
int opt_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes the usage text (`memberlink help`) to out. */
void opt_print_usage(FILE *out);

/* The current argument, or NULL past the end. */
const char *opt_arg(const struct opt_cursor *a);

/* A global option at the cursor: 1 consumed into g, 0 not one, -1 reported error. */
int opt_global(struct opt_global *g, struct opt_cursor *a);

/* What a command option takes. */
enum opt_kind {
    OPT_FLAG,  /* "--name": *flag = 1 */
    OPT_VALUE, /* "--name VALUE" or "--name=VALUE": *value, the last one given wins */
    OPT_LIST,  /* the same, repeatable: list[(*count)++], at most CLI_REPEAT_MAX */
};

/* One option of a command; the pointers borrow the caller's variables. */
struct opt_spec {
    const char *name; /* "--item" */
    enum opt_kind kind;
    int *flag;          /* OPT_FLAG */
    const char **value; /* OPT_VALUE */
    const char **list;  /* OPT_LIST: CLI_REPEAT_MAX entries */
    size_t *count;      /* OPT_LIST: entries used; the caller starts it at 0 */
};

/*
 * Reads the rest of the command line of command `cmd`: the global options (into g) and
 * "--" anywhere, the nspecs options of `specs`, and up to npos positional arguments into
 * pos[0..npos) in order (each set to NULL first; those not given stay NULL).
 *
 * `cmd` may name a subcommand after the command ("guide commissions"): the first
 * positional argument must then be that word, and is not stored. Refusals, reported
 * once through opt_usage_error():
 *   - a command without positional arguments (npos == 0, no subcommand): anything else is
 *     "<cmd>: unexpected argument 'ARG'";
 *   - otherwise another option is "<command>: unknown option 'ARG'" (the first word of
 *     cmd), another first word "<command>: unknown subcommand 'ARG' (expected 'SUB')", no
 *     word at all "<command>: missing subcommand (expected 'SUB')", and a positional past
 *     npos "<cmd>: unexpected argument 'ARG'";
 *   - a missing value "--name needs a value"; a list past its limit "too many --name
 *     options (at most CLI_REPEAT_MAX)".
 * A refusal stops at the argument refused. Returns CLI_EXIT_OK, or CLI_EXIT_USAGE.
 */
int opt_parse_command(struct opt_global *g, struct opt_cursor *a, const char *cmd,
                      const struct opt_spec *specs, size_t nspecs, const char **pos, size_t npos);

/*
 * Yuan with at most two decimals ("59.90", "59.9", "59") into minor units, exactly,
 * without floating point; at most CLI_NUM_MAX minor units. 0, or -1 writing nothing (not
 * reported: the caller names the option).
 */
int opt_parse_yuan(const char *s, int64_t *ret);

/*
 * Parses "SKU:CATEGORY:QTY:PRICE" (PRICE in yuan). The SKU may itself hold ':' since the
 * fields are split from the right. 0 with *ret filled, or -1 (reported) on error.
 */
int opt_parse_item(const char *spec, struct opt_item *ret);

#endif
