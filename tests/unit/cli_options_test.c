/*
 * cli_options_test: unit tests for cli/options.h, the command line of `memberlink`.
 *
 * opt_parse_yuan and opt_parse_item have a table of what they take and one of what they
 * refuse, every limit at the limit and one past it (CLI_NUM_MAX, CLI_ITEM_SKU_MAX,
 * CLI_ITEM_CATEGORY_MAX). opt_parse_command runs over a table of command lines against a
 * small command of each shape the CLI has (options only, options and a positional, a
 * subcommand); what it reports on stderr is captured and compared to the letter, since
 * scripts and docs/api.md quote those texts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_exit.h"
#include "options.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL ((int64_t)-7)
#define TRY "\nTry 'memberlink help'.\n"
#define ERR_MAX 4096

/* ---- stderr capture ------------------------------------------------------------------- */

struct capture {
    FILE *file;
    int saved_fd;
};

static void capture_start(struct capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved_fd = dup(STDERR_FILENO);
    assert_true(c->saved_fd >= 0);
    assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
}

/* Restores stderr and returns what was written to it (at most ERR_MAX - 1 bytes) in buf. */
static const char *capture_end(struct capture *c, char buf[ERR_MAX])
{
    fflush(stderr);
    assert_true(dup2(c->saved_fd, STDERR_FILENO) >= 0);
    close(c->saved_fd);
    rewind(c->file);
    size_t n = fread(buf, 1, ERR_MAX - 1, c->file);
    buf[n] = '\0';
    fclose(c->file);
    return buf;
}

/* ---- opt_parse_yuan ------------------------------------------------------------------- */

struct yuan_case {
    const char *text;
    int64_t want;
};

static const struct yuan_case yuan_taken[] = {
    {"0", 0},       {"0.01", 1},
    {"0.1", 10},    {"59", 5900},
    {"59.9", 5990}, {"59.90", 5990},
    {"007.5", 750}, {"9999999999999.99", CLI_NUM_MAX}, /* the limit */
};

static const char *const yuan_refused[] = {
    "",
    "59.",   /* a point needs a digit after it */
    ".5",    /* and one before it */
    "0.001", /* at most two decimals */
    "1.234",
    "-1", /* no sign */
    "+1",
    " 1", /* no spaces */
    "1 ",
    "1e3",               /* no exponent */
    "1,5",               /* no other separator */
    "10000000000000",    /* one past the limit, in whole yuan */
    "10000000000000.00", /* CLI_NUM_MAX + 1 minor units */
    "99999999999999999999",
};

static void parse_yuan_takes_up_to_two_decimals_exactly(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(yuan_taken); i++) {
        int64_t got = SENTINEL;
        int rc = opt_parse_yuan(yuan_taken[i].text, &got);
        if (rc != 0 || got != yuan_taken[i].want)
            fail_msg("\"%s\": want 0 and %lld, got %d and %lld", yuan_taken[i].text,
                     (long long)yuan_taken[i].want, rc, (long long)got);
    }
}

static void parse_yuan_refuses_and_writes_nothing(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(yuan_refused); i++) {
        int64_t got = SENTINEL;
        int rc = opt_parse_yuan(yuan_refused[i], &got);
        if (rc != -1 || got != SENTINEL)
            fail_msg("\"%s\": want -1 with nothing written, got %d and %lld", yuan_refused[i], rc,
                     (long long)got);
    }
}

/* ---- opt_parse_item ------------------------------------------------------------------- */

static void parse_item_splits_from_the_right(void **state)
{
    (void)state;
    struct opt_item it;
    assert_int_equal(opt_parse_item("TEA-01:drinks:2:59.9", &it), 0);
    assert_string_equal(it.sku, "TEA-01");
    assert_string_equal(it.category, "drinks");
    assert_int_equal(it.qty, 2);
    assert_int_equal(it.unit_price, 5990);

    /* The SKU may hold ':'; the category, quantity and price may not. */
    assert_int_equal(opt_parse_item("a:b:c:food:1:0.01", &it), 0);
    assert_string_equal(it.sku, "a:b:c");
    assert_string_equal(it.category, "food");
    assert_int_equal(it.qty, 1);
    assert_int_equal(it.unit_price, 1);

    assert_int_equal(opt_parse_item("A:f:999999999999999:9999999999999.99", &it), 0);
    assert_int_equal(it.qty, CLI_NUM_MAX);
    assert_int_equal(it.unit_price, CLI_NUM_MAX);
}

static void parse_item_takes_sku_and_category_at_their_limits(void **state)
{
    (void)state;
    char spec[CLI_ITEM_SKU_MAX + CLI_ITEM_CATEGORY_MAX + 16];
    struct opt_item it;
    char sku[CLI_ITEM_SKU_MAX + 2], cat[CLI_ITEM_CATEGORY_MAX + 2];
    memset(sku, 's', sizeof(sku) - 1);
    sku[sizeof(sku) - 1] = '\0';
    memset(cat, 'c', sizeof(cat) - 1);
    cat[sizeof(cat) - 1] = '\0';

    snprintf(spec, sizeof(spec), "%.*s:%.*s:1:1", CLI_ITEM_SKU_MAX, sku, CLI_ITEM_CATEGORY_MAX,
             cat);
    assert_int_equal(opt_parse_item(spec, &it), 0);
    assert_int_equal(strlen(it.sku), CLI_ITEM_SKU_MAX);
    assert_int_equal(strlen(it.category), CLI_ITEM_CATEGORY_MAX);

    struct capture cap;
    char err[ERR_MAX];
    snprintf(spec, sizeof(spec), "%s:c:1:1", sku); /* one past CLI_ITEM_SKU_MAX */
    capture_start(&cap);
    int rc = opt_parse_item(spec, &it);
    capture_end(&cap, err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "expected SKU:CATEGORY:QTY:PRICE"));

    snprintf(spec, sizeof(spec), "s:%s:1:1", cat); /* one past CLI_ITEM_CATEGORY_MAX */
    capture_start(&cap);
    rc = opt_parse_item(spec, &it);
    capture_end(&cap, err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "expected SKU:CATEGORY:QTY:PRICE"));
}

struct item_refusal {
    const char *spec;
    const char *want_err;
};

#define SHAPE(s) "memberlink: --item '" s "': expected SKU:CATEGORY:QTY:PRICE" TRY
#define QTY(s) "memberlink: --item '" s "': QTY must be a positive integer" TRY
#define PRICE(s)                                                                                   \
    "memberlink: --item '" s "': PRICE must be yuan with at most 2 decimals, e.g. 59.90" TRY

static const struct item_refusal item_refusals[] = {
    {"", SHAPE("")},
    {"A:food:1", SHAPE("A:food:1")},
    {":food:1:1", SHAPE(":food:1:1")},
    {"A::1:1", SHAPE("A::1:1")},
    {"A:food::1", QTY("A:food::1")},
    {"A:food:0:1", QTY("A:food:0:1")},
    {"A:food:-1:1", QTY("A:food:-1:1")},
    {"A:food:1000000000000000:1", QTY("A:food:1000000000000000:1")}, /* CLI_NUM_MAX + 1 */
    {"A:food:1:", PRICE("A:food:1:")},
    {"A:food:1:59.", PRICE("A:food:1:59.")},
    {"A:food:1:0.001", PRICE("A:food:1:0.001")},
    {"A:food:1:10000000000000.00", PRICE("A:food:1:10000000000000.00")},
};

static void parse_item_refuses_with_one_message(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(item_refusals); i++) {
        struct opt_item it;
        struct capture cap;
        char err[ERR_MAX];
        capture_start(&cap);
        int rc = opt_parse_item(item_refusals[i].spec, &it);
        capture_end(&cap, err);
        if (rc != -1 || strcmp(err, item_refusals[i].want_err) != 0)
            fail_msg("\"%s\": want -1 and \"%s\", got %d and \"%s\"", item_refusals[i].spec,
                     item_refusals[i].want_err, rc, err);
    }
}

/* ---- opt_parse_command ---------------------------------------------------------------- */

/* What a command line parsed into. */
struct parsed {
    struct opt_global g;
    int dry_run;
    const char *key;
    const char *items[CLI_REPEAT_MAX];
    size_t nitems;
    const char *pos[1];
};

/* Parses argv[0..argc) as the arguments after the command `cmd`, with --dry-run, --key and
 * --item, and npos positional arguments. Returns the result; stderr into err. */
static int parse(const char *cmd, size_t npos, int argc, char **argv, struct parsed *p,
                 char err[ERR_MAX])
{
    memset(p, 0, sizeof(*p));
    p->pos[0] = "unset";
    const struct opt_spec spec[] = {
        {"--dry-run", OPT_FLAG, .flag = &p->dry_run},
        {"--key", OPT_VALUE, .value = &p->key},
        {"--item", OPT_LIST, .list = p->items, .count = &p->nitems},
    };
    struct opt_cursor a = {argc, argv, 0, 0};
    struct capture cap;
    capture_start(&cap);
    int rc =
        opt_parse_command(&p->g, &a, cmd, spec, ARRAY_LEN(spec), npos > 0 ? p->pos : NULL, npos);
    capture_end(&cap, err);
    return rc;
}

struct command_case {
    const char *what;
    const char *cmd;
    size_t npos;
    const char *args[8]; /* NULL-terminated */
    int want_rc;
    const char *want_err; /* "" when nothing is reported */
    int want_dry_run;
    const char *want_key;
    size_t want_nitems;
    const char *want_pos; /* NULL: none given */
};

static const struct command_case command_cases[] = {
    {"nothing", "sales", 0, {NULL}, CLI_EXIT_OK, "", 0, NULL, 0, NULL},
    {"a flag", "sales", 0, {"--dry-run", NULL}, CLI_EXIT_OK, "", 1, NULL, 0, NULL},
    {"a value", "sales", 0, {"--key", "K", NULL}, CLI_EXIT_OK, "", 0, "K", 0, NULL},
    {"a value after =", "sales", 0, {"--key=K", NULL}, CLI_EXIT_OK, "", 0, "K", 0, NULL},
    {"an empty value after =", "sales", 0, {"--key=", NULL}, CLI_EXIT_OK, "", 0, "", 0, NULL},
    {"the last value wins",
     "sales",
     0,
     {"--key", "a", "--key=b", NULL},
     CLI_EXIT_OK,
     "",
     0,
     "b",
     0,
     NULL},
    {"a list", "sales", 0, {"--item", "x", "--item=y", NULL}, CLI_EXIT_OK, "", 0, NULL, 2, NULL},
    {"a missing value",
     "sales",
     0,
     {"--key", NULL},
     CLI_EXIT_USAGE,
     "memberlink: --key needs a value" TRY,
     0,
     NULL,
     0,
     NULL},
    {"a missing list value",
     "sales",
     0,
     {"--item", NULL},
     CLI_EXIT_USAGE,
     "memberlink: --item needs a value" TRY,
     0,
     NULL,
     0,
     NULL},
    {"a flag with a value",
     "sales",
     0,
     {"--dry-run=1", NULL},
     CLI_EXIT_USAGE,
     "memberlink: sales: unexpected argument '--dry-run=1'" TRY,
     0,
     NULL,
     0,
     NULL},
    {"a prefix of an option",
     "sales",
     0,
     {"--ke", "K", NULL},
     CLI_EXIT_USAGE,
     "memberlink: sales: unexpected argument '--ke'" TRY,
     0,
     NULL,
     0,
     NULL},
    {"no positionals: an unknown option",
     "sales",
     0,
     {"--bogus", NULL},
     CLI_EXIT_USAGE,
     "memberlink: sales: unexpected argument '--bogus'" TRY,
     0,
     NULL,
     0,
     NULL},
    {"no positionals: a positional",
     "sales",
     0,
     {"x", NULL},
     CLI_EXIT_USAGE,
     "memberlink: sales: unexpected argument 'x'" TRY,
     0,
     NULL,
     0,
     NULL},
    {"no positionals: an option after --",
     "sales",
     0,
     {"--", "--key", "K", NULL},
     CLI_EXIT_USAGE,
     "memberlink: sales: unexpected argument '--key'" TRY,
     0,
     NULL,
     0,
     NULL},
    {"a positional", "refund", 1, {"S1", "--key", "K", NULL}, CLI_EXIT_OK, "", 0, "K", 0, "S1"},
    {"no positional given", "refund", 1, {"--key", "K", NULL}, CLI_EXIT_OK, "", 0, "K", 0, NULL},
    {"'-' is a positional", "refund", 1, {"-", NULL}, CLI_EXIT_OK, "", 0, NULL, 0, "-"},
    {"an option after -- is a positional",
     "refund",
     1,
     {"--", "--key", NULL},
     CLI_EXIT_OK,
     "",
     0,
     NULL,
     0,
     "--key"},
    {"an unknown option",
     "refund",
     1,
     {"S1", "--bogus", NULL},
     CLI_EXIT_USAGE,
     "memberlink: refund: unknown option '--bogus'" TRY,
     0,
     NULL,
     0,
     "S1"},
    {"a positional too many",
     "refund",
     1,
     {"S1", "S2", NULL},
     CLI_EXIT_USAGE,
     "memberlink: refund: unexpected argument 'S2'" TRY,
     0,
     NULL,
     0,
     "S1"},
    {"the subcommand and a positional",
     "guide commissions",
     1,
     {"commissions", "G", NULL},
     CLI_EXIT_OK,
     "",
     0,
     NULL,
     0,
     "G"},
    {"the subcommand after an option",
     "guide commissions",
     1,
     {"--key", "K", "commissions", NULL},
     CLI_EXIT_OK,
     "",
     0,
     "K",
     0,
     NULL},
    {"another subcommand",
     "guide commissions",
     1,
     {"comm", "G", NULL},
     CLI_EXIT_USAGE,
     "memberlink: guide: unknown subcommand 'comm' (expected 'commissions')" TRY,
     0,
     NULL,
     0,
     NULL},
    {"another subcommand, then an unknown option",
     "guide commissions",
     1,
     {"x", "--bogus", NULL},
     CLI_EXIT_USAGE,
     "memberlink: guide: unknown subcommand 'x' (expected 'commissions')" TRY,
     0,
     NULL,
     0,
     NULL},
    {"no subcommand",
     "guide commissions",
     1,
     {"--key", "K", NULL},
     CLI_EXIT_USAGE,
     "memberlink: guide: missing subcommand (expected 'commissions')" TRY,
     0,
     "K",
     0,
     NULL},
    {"an unknown option of a subcommand",
     "guide commissions",
     1,
     {"commissions", "--bogus", NULL},
     CLI_EXIT_USAGE,
     "memberlink: guide: unknown option '--bogus'" TRY,
     0,
     NULL,
     0,
     NULL},
    {"a positional too many after a subcommand",
     "guide commissions",
     1,
     {"commissions", "G", "H", NULL},
     CLI_EXIT_USAGE,
     "memberlink: guide commissions: unexpected argument 'H'" TRY,
     0,
     NULL,
     0,
     "G"},
};

static void parse_command_matches_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(command_cases); i++) {
        const struct command_case *t = &command_cases[i];
        char *argv[ARRAY_LEN(t->args)];
        int argc = 0;
        while (t->args[argc] != NULL) {
            argv[argc] = (char *)t->args[argc];
            argc++;
        }
        argv[argc] = NULL;
        struct parsed p;
        char err[ERR_MAX];
        int rc = parse(t->cmd, t->npos, argc, argv, &p, err);
        const char *pos = t->npos > 0 ? p.pos[0] : NULL;
        if (rc != t->want_rc || strcmp(err, t->want_err) != 0)
            fail_msg("%s: want %d and \"%s\", got %d and \"%s\"", t->what, t->want_rc, t->want_err,
                     rc, err);
        if (p.dry_run != t->want_dry_run || p.nitems != t->want_nitems)
            fail_msg("%s: want dry_run %d and %zu items, got %d and %zu", t->what, t->want_dry_run,
                     t->want_nitems, p.dry_run, p.nitems);
        if ((p.key == NULL) != (t->want_key == NULL) ||
            (p.key != NULL && strcmp(p.key, t->want_key) != 0))
            fail_msg("%s: want key %s, got %s", t->what, t->want_key ? t->want_key : "(none)",
                     p.key ? p.key : "(none)");
        if ((pos == NULL) != (t->want_pos == NULL) ||
            (pos != NULL && strcmp(pos, t->want_pos) != 0))
            fail_msg("%s: want positional %s, got %s", t->what,
                     t->want_pos ? t->want_pos : "(none)", pos ? pos : "(none)");
    }
}

static void parse_command_takes_the_global_options_anywhere(void **state)
{
    (void)state;
    char *argv[] = {"--json", "S1", "-c", "ml.conf", "--url=http://x", "--token", "T", NULL};
    struct parsed p;
    char err[ERR_MAX];
    assert_int_equal(parse("refund", 1, (int)ARRAY_LEN(argv) - 1, argv, &p, err), CLI_EXIT_OK);
    assert_string_equal(err, "");
    assert_int_equal(p.g.json, 1);
    assert_string_equal(p.g.config_path, "ml.conf");
    assert_string_equal(p.g.url, "http://x");
    assert_string_equal(p.g.token, "T");
    assert_string_equal(p.pos[0], "S1");
}

/* A list holds CLI_REPEAT_MAX values; one more is refused, naming the option. */
static void parse_command_list_at_and_past_its_limit(void **state)
{
    (void)state;
    static char *argv[2 * (CLI_REPEAT_MAX + 1) + 1];
    char opt[] = "--item", val[] = "a:b:1:1";
    for (int i = 0; i < 2 * (CLI_REPEAT_MAX + 1); i += 2) {
        argv[i] = opt;
        argv[i + 1] = val;
    }
    struct parsed p;
    char err[ERR_MAX];
    assert_int_equal(parse("sales", 0, 2 * CLI_REPEAT_MAX, argv, &p, err), CLI_EXIT_OK);
    assert_int_equal(p.nitems, CLI_REPEAT_MAX);
    assert_int_equal(parse("sales", 0, 2 * (CLI_REPEAT_MAX + 1), argv, &p, err), CLI_EXIT_USAGE);
    assert_string_equal(err, "memberlink: too many --item options (at most 256)" TRY);
    assert_int_equal(p.nitems, CLI_REPEAT_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_yuan_takes_up_to_two_decimals_exactly),
        cmocka_unit_test(parse_yuan_refuses_and_writes_nothing),
        cmocka_unit_test(parse_item_splits_from_the_right),
        cmocka_unit_test(parse_item_takes_sku_and_category_at_their_limits),
        cmocka_unit_test(parse_item_refuses_with_one_message),
        cmocka_unit_test(parse_command_matches_table),
        cmocka_unit_test(parse_command_takes_the_global_options_anywhere),
        cmocka_unit_test(parse_command_list_at_and_past_its_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
