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

/*
 * If the current argument is option `name` ("--name VALUE" or "--name=VALUE"; "-c VALUE"
 * for a one-dash name), stores the value in *ret, advances and returns 1; returns 0 when it
 * is another argument, -1 (reported) when the value is missing.
 */
int opt_value(struct opt_cursor *a, const char *name, const char **ret);

/* 1 (and advances) when the current argument is exactly `name`, else 0. */
int opt_flag(struct opt_cursor *a, const char *name);

/* A global option at the cursor: 1 consumed into g, 0 not one, -1 reported error. */
int opt_global(struct opt_global *g, struct opt_cursor *a);

/*
 * Steps past a global option or "--". 1 when something was consumed (the caller loops
 * again), 0 when the current argument is the caller's, -1 on a reported error.
 */
int opt_skip_common(struct opt_global *g, struct opt_cursor *a);

/* 1 when the current argument looks like an option ("-x", not "-" nor after "--"). */
int opt_is_option(const struct opt_cursor *a);

/* Takes the current argument into *slot and advances; a second one for the same slot is
 * reported as "<cmd>: unexpected argument". CLI_EXIT_OK or CLI_EXIT_USAGE. */
int opt_take_positional(struct opt_cursor *a, const char *cmd, const char **slot);

/* Appends v to list (CLI_REPEAT_MAX entries); 0, or -1 (reported) when it is full. `name`
 * is the option, for the message. */
int opt_push(const char **list, size_t *n, const char *v, const char *name);

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
