/*
 * config_test: unit tests for config.h.
 *
 * Each case writes a real INI file (mkstemp under /tmp) and loads it, so the tests cover
 * inih's parsing as memberlinkd sees it. Every key is checked at its limits and one past
 * them; every refusal must be ML_CONFIG with a message naming the file, the line and the
 * key. Secret resolution runs in a fresh mkdtemp directory per test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Table tests report every failing row, then fail once, so one bad row hides no other. */
#define ROW_FAIL(...)                                                                              \
    do {                                                                                           \
        print_error("ERROR: " __VA_ARGS__);                                                        \
        print_error("\n");                                                                         \
        row_failures++;                                                                            \
    } while (0)
#define TMP_TEMPLATE "/tmp/ml-config-test-XXXXXX"
#define ERRBUF_LEN 1024

/* Writes `text` to a new mkstemp file; path receives its name. */
static void write_temp_file(char path[sizeof(TMP_TEMPLATE)], const char *text)
{
    memcpy(path, TMP_TEMPLATE, sizeof(TMP_TEMPLATE));
    int fd = mkstemp(path);
    if (fd < 0)
        fail_msg("mkstemp: %s", strerror(errno));
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    assert_int_equal(w, (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* Loads `text` over the defaults; path receives the (already removed) file name. */
static ml_err load_text(const char *text, struct config *cfg, char *errbuf, size_t errlen,
                        char path[sizeof(TMP_TEMPLATE)])
{
    write_temp_file(path, text);
    config_defaults(cfg);
    errbuf[0] = '\0';
    ml_err err = config_load(cfg, path, errbuf, errlen);
    (void)unlink(path);
    return err;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void defaults_are_the_documented_values(void **state)
{
    (void)state;
    struct config cfg;
    memset(&cfg, 0x5a, sizeof(cfg));
    config_defaults(&cfg);
    assert_string_equal(cfg.brand, "demo");
    assert_string_equal(cfg.store, "S001");
    assert_string_equal(cfg.terminal, "T01");
    assert_string_equal(cfg.data_dir, "./var");
    assert_string_equal(cfg.api_host, "127.0.0.1");
    assert_int_equal(cfg.api_port, 8787);
    assert_int_equal(cfg.api_max_body, 65536);
    assert_string_equal(cfg.api_token, "");
    assert_int_equal(cfg.has_phone_key, 0);
    assert_int_equal(cfg.offline.contact_window_s, 120);
    assert_int_equal(cfg.offline.coupon_max_value, 10000);
    assert_int_equal(cfg.offline.member_daily_redemptions, 3);
    assert_int_equal(cfg.offline.terminal_max_value, 200000);
    assert_int_equal(cfg.offline.max_offline_s, 86400);
    assert_int_equal(cfg.offline.points_margin_bp, 2000);
    assert_int_equal(cfg.qr_time_window_s, 60);
}

static void load_of_file_with_only_comments_keeps_defaults(void **state)
{
    (void)state;
    struct config cfg, defaults;
    char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)];
    assert_int_equal(load_text("; memberlink\n# nothing set\n\n[store]\n[agent]\n", &cfg, err,
                               sizeof(err), path),
                     ML_OK);
    config_defaults(&defaults);
    assert_memory_equal(&cfg, &defaults, sizeof(cfg));
}

#define PHONE_KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define TOKEN_16 "0123456789abcdef"

static void load_of_full_file_sets_every_key(void **state)
{
    (void)state;
    struct config cfg;
    char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)];
    const char *text = "; a complete configuration\n"
                       "[store]\n"
                       "brand = acme_Brand-1\n"
                       "store = SH-0042\n"
                       "terminal = POS_7\n"
                       "phone_key = " PHONE_KEY_HEX "\n"
                       "\n"
                       "[agent]\n"
                       "data_dir = /var/lib/memberlink\n"
                       "api_listen = 0.0.0.0:9090\n"
                       "api_token = " TOKEN_16 "XYZ~!\n"
                       "api_max_body = 131072\n"
                       "\n"
                       "[offline]\n"
                       "contact_window_s = 300\n"
                       "coupon_max_value = 5000\n"
                       "member_daily_redemptions = 2\n"
                       "terminal_max_value = 100000\n"
                       "max_offline_s = 43200\n"
                       "points_margin_bp = 2500\n"
                       "\n"
                       "[qr]\n"
                       "time_window_s = 90\n";
    ml_err rc = load_text(text, &cfg, err, sizeof(err), path);
    if (rc != ML_OK)
        fail_msg("load failed: %s", err);
    assert_string_equal(cfg.brand, "acme_Brand-1");
    assert_string_equal(cfg.store, "SH-0042");
    assert_string_equal(cfg.terminal, "POS_7");
    assert_int_equal(cfg.has_phone_key, 1);
    char hex[2 * CONFIG_PHONE_KEY_LEN + 1];
    hex_of(cfg.phone_key, sizeof(cfg.phone_key), hex);
    assert_string_equal(hex, PHONE_KEY_HEX);
    assert_string_equal(cfg.data_dir, "/var/lib/memberlink");
    assert_string_equal(cfg.api_host, "0.0.0.0");
    assert_int_equal(cfg.api_port, 9090);
    assert_string_equal(cfg.api_token, TOKEN_16 "XYZ~!");
    assert_int_equal(cfg.api_max_body, 131072);
    assert_int_equal(cfg.offline.contact_window_s, 300);
    assert_int_equal(cfg.offline.coupon_max_value, 5000);
    assert_int_equal(cfg.offline.member_daily_redemptions, 2);
    assert_int_equal(cfg.offline.terminal_max_value, 100000);
    assert_int_equal(cfg.offline.max_offline_s, 43200);
    assert_int_equal(cfg.offline.points_margin_bp, 2500);
    assert_int_equal(cfg.qr_time_window_s, 90);
}

/* Renders the field behind [section] key the way a file would spell it. */
static void render_field(const struct config *cfg, const char *key, char *buf, size_t len)
{
    if (strcmp(key, "brand") == 0)
        snprintf(buf, len, "%s", cfg->brand);
    else if (strcmp(key, "store") == 0)
        snprintf(buf, len, "%s", cfg->store);
    else if (strcmp(key, "terminal") == 0)
        snprintf(buf, len, "%s", cfg->terminal);
    else if (strcmp(key, "phone_key") == 0) {
        assert_int_equal(cfg->has_phone_key, 1);
        assert_true(len > 2 * CONFIG_PHONE_KEY_LEN);
        hex_of(cfg->phone_key, CONFIG_PHONE_KEY_LEN, buf);
    } else if (strcmp(key, "data_dir") == 0)
        snprintf(buf, len, "%s", cfg->data_dir);
    else if (strcmp(key, "api_listen") == 0)
        snprintf(buf, len, "%s:%u", cfg->api_host, (unsigned)cfg->api_port);
    else if (strcmp(key, "api_token") == 0)
        snprintf(buf, len, "%s", cfg->api_token);
    else if (strcmp(key, "api_max_body") == 0)
        snprintf(buf, len, "%zu", cfg->api_max_body);
    else if (strcmp(key, "contact_window_s") == 0)
        snprintf(buf, len, "%lld", (long long)cfg->offline.contact_window_s);
    else if (strcmp(key, "coupon_max_value") == 0)
        snprintf(buf, len, "%lld", (long long)cfg->offline.coupon_max_value);
    else if (strcmp(key, "member_daily_redemptions") == 0)
        snprintf(buf, len, "%lld", (long long)cfg->offline.member_daily_redemptions);
    else if (strcmp(key, "terminal_max_value") == 0)
        snprintf(buf, len, "%lld", (long long)cfg->offline.terminal_max_value);
    else if (strcmp(key, "max_offline_s") == 0)
        snprintf(buf, len, "%lld", (long long)cfg->offline.max_offline_s);
    else if (strcmp(key, "points_margin_bp") == 0)
        snprintf(buf, len, "%lld", (long long)cfg->offline.points_margin_bp);
    else if (strcmp(key, "time_window_s") == 0)
        snprintf(buf, len, "%lld", (long long)cfg->qr_time_window_s);
    else
        fail_msg("no renderer for %s", key);
}

#define ID_32 "abcdefghijklmnopqrstuvwxyz_-0123"
#define TOKEN_128 TOKEN_16 TOKEN_16 TOKEN_16 TOKEN_16 TOKEN_16 TOKEN_16 TOKEN_16 TOKEN_16
#define HOST_63 "h23456789012345678901234567890123456789012345678901234567890123"
#define DIR_10 "/abcdefghi"
#define DIR_100 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10
#define DIR_160 DIR_100 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10

struct value_case {
    const char *section;
    const char *key;
    const char *value;
    int ok;
    const char *want; /* rendering when accepted; NULL means `value` */
};

static const struct value_case value_cases[] = {
    /* brand, store, terminal: [A-Za-z0-9_-]{1,32} */
    {"store", "brand", "a", 1, NULL},
    {"store", "brand", ID_32, 1, NULL},
    {"store", "brand", ID_32 "4", 0, NULL},
    {"store", "brand", "", 0, NULL},
    {"store", "brand", "de mo", 0, NULL},
    {"store", "brand", "demo!", 0, NULL},
    {"store", "brand", "de.mo", 0, NULL},
    {"store", "brand", "de/mo", 0, NULL},
    {"store", "brand", "\xE5\x93\x81\xE7\x89\x8C", 0, NULL}, /* CJK */
    {"store", "store", ID_32, 1, NULL},
    {"store", "store", ID_32 "4", 0, NULL},
    {"store", "store", "S 001", 0, NULL},
    {"store", "store", "S:001", 0, NULL},
    {"store", "terminal", ID_32, 1, NULL},
    {"store", "terminal", ID_32 "4", 0, NULL},
    {"store", "terminal", "T01\"", 0, NULL},
    {"store", "terminal", "", 0, NULL},
    /* phone_key: exactly 64 hex digits */
    {"store", "phone_key", PHONE_KEY_HEX, 1, NULL},
    {"store", "phone_key", "00AABBCCDDEEFF00aabbccddeeff00112233445566778899AaBbCcDdEeFf0011", 1,
     "00aabbccddeeff00aabbccddeeff00112233445566778899aabbccddeeff0011"},
    {"store", "phone_key", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1", 0,
     NULL},
    {"store", "phone_key", PHONE_KEY_HEX "2", 0, NULL},
    {"store", "phone_key", PHONE_KEY_HEX "20", 0, NULL},
    {"store", "phone_key", "g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 0,
     NULL},
    {"store", "phone_key", "0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 0,
     NULL},
    {"store", "phone_key", "", 0, NULL},
    /* api_listen: host:port, port 1-65535 */
    {"agent", "api_listen", "127.0.0.1:65535", 1, NULL},
    {"agent", "api_listen", "0.0.0.0:1", 1, NULL},
    {"agent", "api_listen", "localhost:8080", 1, NULL},
    {"agent", "api_listen", HOST_63 ":80", 1, NULL},
    {"agent", "api_listen", HOST_63 "4:80", 0, NULL},
    {"agent", "api_listen", "127.0.0.1", 0, NULL},
    {"agent", "api_listen", "127.0.0.1:", 0, NULL},
    {"agent", "api_listen", ":8787", 0, NULL},
    {"agent", "api_listen", "127.0.0.1:0", 0, NULL},
    {"agent", "api_listen", "127.0.0.1:65536", 0, NULL},
    {"agent", "api_listen", "127.0.0.1:-1", 0, NULL},
    {"agent", "api_listen", "127.0.0.1:80x", 0, NULL},
    {"agent", "api_listen", "127.0.0.1:99999999999999999999999", 0, NULL},
    {"agent", "api_listen", "", 0, NULL},
    /* api_token: 16-128 printable characters without spaces */
    {"agent", "api_token", TOKEN_16, 1, NULL},
    {"agent", "api_token", TOKEN_128, 1, NULL},
    {"agent", "api_token", "0123456789abcde", 0, NULL},
    {"agent", "api_token", TOKEN_128 "x", 0, NULL},
    {"agent", "api_token", "01234567 9abcdef", 0, NULL},
    {"agent", "api_token", "0123456789abcde\xC3\xA9", 0, NULL},
    {"agent", "api_token", "", 0, NULL},
    /* api_max_body: 1024-1048576 bytes */
    {"agent", "api_max_body", "1024", 1, NULL},
    {"agent", "api_max_body", "1048576", 1, NULL},
    {"agent", "api_max_body", "1023", 0, NULL},
    {"agent", "api_max_body", "1048577", 0, NULL},
    {"agent", "api_max_body", "0", 0, NULL},
    {"agent", "api_max_body", "-2048", 0, NULL},
    {"agent", "api_max_body", "64k", 0, NULL},
    {"agent", "api_max_body", "abc", 0, NULL},
    {"agent", "api_max_body", "99999999999999999999999", 0, NULL},
    {"agent", "api_max_body", "", 0, NULL},
    /* data_dir: non-empty, at most 160 characters (limits tested below) */
    {"agent", "data_dir", "/srv/memberlink", 1, NULL},
    {"agent", "data_dir", "", 0, NULL},
    /* [offline] contact_window_s: 5-3600 seconds */
    {"offline", "contact_window_s", "5", 1, NULL},
    {"offline", "contact_window_s", "3600", 1, NULL},
    {"offline", "contact_window_s", "4", 0, NULL},
    {"offline", "contact_window_s", "3601", 0, NULL},
    {"offline", "contact_window_s", "-120", 0, NULL},
    {"offline", "contact_window_s", "2m", 0, NULL},
    {"offline", "contact_window_s", "", 0, NULL},
    /* [offline] coupon_max_value, terminal_max_value: 0-10^12 minor units */
    {"offline", "coupon_max_value", "0", 1, NULL},
    {"offline", "coupon_max_value", "1000000000000", 1, NULL},
    {"offline", "coupon_max_value", "1000000000001", 0, NULL},
    {"offline", "coupon_max_value", "-1", 0, NULL},
    {"offline", "coupon_max_value", "100.50", 0, NULL},
    {"offline", "coupon_max_value", "", 0, NULL},
    {"offline", "terminal_max_value", "0", 1, NULL},
    {"offline", "terminal_max_value", "1000000000000", 1, NULL},
    {"offline", "terminal_max_value", "1000000000001", 0, NULL},
    {"offline", "terminal_max_value", "1e6", 0, NULL},
    {"offline", "terminal_max_value", "99999999999999999999999", 0, NULL},
    /* [offline] member_daily_redemptions: 0-1000 */
    {"offline", "member_daily_redemptions", "0", 1, NULL},
    {"offline", "member_daily_redemptions", "1000", 1, NULL},
    {"offline", "member_daily_redemptions", "1001", 0, NULL},
    {"offline", "member_daily_redemptions", "3 a day", 0, NULL},
    {"offline", "member_daily_redemptions", "three", 0, NULL},
    /* [offline] max_offline_s: 60-2592000 (30 days) */
    {"offline", "max_offline_s", "60", 1, NULL},
    {"offline", "max_offline_s", "2592000", 1, NULL},
    {"offline", "max_offline_s", "59", 0, NULL},
    {"offline", "max_offline_s", "2592001", 0, NULL},
    {"offline", "max_offline_s", "0", 0, NULL},
    /* [offline] points_margin_bp: 0-10000 */
    {"offline", "points_margin_bp", "0", 1, NULL},
    {"offline", "points_margin_bp", "10000", 1, NULL},
    {"offline", "points_margin_bp", "10001", 0, NULL},
    {"offline", "points_margin_bp", "20%", 0, NULL},
    /* [qr] time_window_s: 5-600 */
    {"qr", "time_window_s", "5", 1, NULL},
    {"qr", "time_window_s", "600", 1, NULL},
    {"qr", "time_window_s", "4", 0, NULL},
    {"qr", "time_window_s", "601", 0, NULL},
    {"qr", "time_window_s", "", 0, NULL},
};

static void load_checks_each_value_at_and_past_its_limits(void **state)
{
    (void)state;
    size_t row_failures = 0;
    static char text[2048], render[2048];
    for (size_t i = 0; i < ARRAY_LEN(value_cases); i++) {
        const struct value_case *t = &value_cases[i];
        struct config cfg;
        char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)], name[64];
        snprintf(text, sizeof(text), "[%s]\n%s = %s\n", t->section, t->key, t->value);
        snprintf(name, sizeof(name), "[%s] %s", t->section, t->key);
        ml_err rc = load_text(text, &cfg, err, sizeof(err), path);
        if (t->ok) {
            if (rc != ML_OK) {
                ROW_FAIL("%s = \"%s\" (%zu chars): want accepted, got %s: %s", name, t->value,
                         strlen(t->value), ml_strerror(rc), err);
                continue;
            }
            render_field(&cfg, t->key, render, sizeof(render));
            const char *want = t->want ? t->want : t->value;
            if (strcmp(render, want) != 0)
                ROW_FAIL("%s = \"%s\": loaded as \"%s\", want \"%s\"", name, t->value, render,
                         want);
        } else {
            if (rc != ML_CONFIG)
                ROW_FAIL("%s = \"%s\" (%zu chars): want ML_CONFIG, got %s", name, t->value,
                         strlen(t->value), ml_strerror(rc));
            if (strstr(err, name) == NULL || strstr(err, path) == NULL)
                ROW_FAIL("%s = \"%s\": message \"%s\" does not name the key and file", name,
                         t->value, err);
        }
    }
    assert_int_equal(row_failures, 0);
}

/*
 * data_dir is at most 160 characters: a 160-character path loads whole, 161 is refused
 * naming the key. A line longer than inih's 200-byte buffer is refused as such, never
 * split into a truncated value.
 */
static void load_limits_data_dir_to_160_characters(void **state)
{
    (void)state;
    struct config cfg;
    char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)];
    static const char dir_160[] = DIR_160;
    assert_int_equal(strlen(dir_160), 160);

    ml_err rc = load_text("[agent]\ndata_dir = " DIR_160 "\n", &cfg, err, sizeof(err), path);
    if (rc != ML_OK)
        fail_msg("data_dir of 160 characters: want accepted, got %s: %s", ml_strerror(rc), err);
    assert_string_equal(cfg.data_dir, dir_160);

    rc = load_text("[agent]\ndata_dir = " DIR_160 "i\n", &cfg, err, sizeof(err), path);
    assert_int_equal(rc, ML_CONFIG);
    assert_contains(err, "[agent] data_dir");

    rc = load_text("[agent]\ndata_dir = " DIR_100 DIR_100 "\n", &cfg, err, sizeof(err), path);
    assert_int_equal(rc, ML_CONFIG);
    assert_contains(err, ":2: line longer than");
}

/* The header promises file, line and key, so an operator can jump straight to it. */
static void load_error_names_file_line_and_key(void **state)
{
    (void)state;
    size_t row_failures = 0;
    static const struct {
        const char *text;
        const char *key;
        int line;
    } cases[] = {
        {"; line 1\n[store]\nbrand = acme\n\nstore = S 1\n", "[store] store", 5},
        {"[agent]\n\n; comment\napi_max_body = 2048\nlisten = :80\n", "[agent] listen", 5},
        {"[store]\nbrand = a\n[agent]\napi_max_body = 1\n", "[agent] api_max_body", 4},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct config cfg;
        char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)], where[64];
        assert_int_equal(load_text(cases[i].text, &cfg, err, sizeof(err), path), ML_CONFIG);
        snprintf(where, sizeof(where), "%s:%d:", path, cases[i].line);
        if (strstr(err, where) == NULL || strstr(err, cases[i].key) == NULL)
            ROW_FAIL("message \"%s\" does not name \"%s\" at \"%s\"", err, cases[i].key, where);
        assert_null(strchr(err, '\n'));
    }
    assert_int_equal(row_failures, 0);
}

struct unknown_case {
    const char *what;
    const char *text;
    const char *named; /* must appear in the message */
};

static const struct unknown_case unknown_cases[] = {
    {"unknown key in [store]", "[store]\nbrand = acme\nbrnad = acme\n", "[store] brnad"},
    {"unknown key in [agent]", "[agent]\napi_port = 8080\n", "[agent] api_port"},
    {"[store] key in [agent]", "[agent]\nbrand = acme\n", "[agent] brand"},
    {"unknown section", "[store]\nbrand = acme\n[stroe]\nstore = S1\n", "unknown section [stroe]"},
    {"empty unknown section", "[store]\nbrand = acme\n[bogus]\n", "unknown section [bogus]"},
    {"key before any section", "brand = acme\n", "brand"},
    {"section names are case-sensitive", "[Store]\nbrand = acme\n", "unknown section [Store]"},
    {"unknown key in [offline]", "[offline]\ncoupon_max = 100\n", "[offline] coupon_max"},
    {"[qr] key in [offline]", "[offline]\ntime_window_s = 60\n", "[offline] time_window_s"},
    {"unknown key in [qr]", "[qr]\nwindow = 60\n", "[qr] window"},
};

static void load_refuses_unknown_keys_and_sections_naming_them(void **state)
{
    (void)state;
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(unknown_cases); i++) {
        const struct unknown_case *t = &unknown_cases[i];
        struct config cfg;
        char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)];
        ml_err rc = load_text(t->text, &cfg, err, sizeof(err), path);
        if (rc != ML_CONFIG)
            ROW_FAIL("%s: want ML_CONFIG, got %s", t->what, ml_strerror(rc));
        if (strstr(err, t->named) == NULL || strstr(err, path) == NULL)
            ROW_FAIL("%s: message \"%s\" does not name \"%s\" in the file", t->what, err, t->named);
    }
    assert_int_equal(row_failures, 0);
}

static void load_refuses_syntax_errors(void **state)
{
    (void)state;
    static const char *texts[] = {
        "[store\nbrand = acme\n",
        "[store]\njust some words\n",
    };
    for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
        struct config cfg;
        char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)];
        assert_int_equal(load_text(texts[i], &cfg, err, sizeof(err), path), ML_CONFIG);
        assert_contains(err, path);
    }
}

static void load_refuses_missing_file_naming_it(void **state)
{
    (void)state;
    struct config cfg;
    char err[ERRBUF_LEN];
    const char *path = "/nonexistent-memberlink-dir/memberlink.ini";
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, path, err, sizeof(err)), ML_CONFIG);
    assert_contains(err, path);
}

static void load_error_is_truncated_to_errlen(void **state)
{
    (void)state;
    struct config cfg;
    char err[16], path[sizeof(TMP_TEMPLATE)];
    memset(err, 'Z', sizeof(err));
    char *small = err; /* only the first 8 bytes are offered */
    assert_int_equal(load_text("[store]\nbrand = !\n", &cfg, small, 8, path), ML_CONFIG);
    assert_int_equal(strlen(small), 7);
    for (size_t i = 8; i < sizeof(err); i++)
        assert_int_equal(err[i], 'Z');
}

struct listen_case {
    const char *value;
    ml_err want;
    const char *host;
    uint16_t port;
};

static const struct listen_case listen_cases[] = {
    {"127.0.0.1:8787", ML_OK, "127.0.0.1", 8787},
    {"localhost:1", ML_OK, "localhost", 1},
    {"0.0.0.0:65535", ML_OK, "0.0.0.0", 65535},
    {"127.0.0.1", ML_CONFIG, NULL, 0},
    {":8787", ML_CONFIG, NULL, 0},
    {"127.0.0.1:", ML_CONFIG, NULL, 0},
    {"127.0.0.1:0", ML_CONFIG, NULL, 0},
    {"127.0.0.1:65536", ML_CONFIG, NULL, 0},
    {"127.0.0.1:http", ML_CONFIG, NULL, 0},
};

static void parse_listen_splits_host_and_port_and_refuses_bad_ports(void **state)
{
    (void)state;
    size_t row_failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(listen_cases); i++) {
        const struct listen_case *t = &listen_cases[i];
        char host[64] = "untouched";
        uint16_t port = 4242;
        ml_err rc = config_parse_listen(t->value, host, sizeof(host), &port);
        if (rc != t->want) {
            ROW_FAIL("\"%s\": want %s, got %s", t->value, ml_strerror(t->want), ml_strerror(rc));
            continue;
        }
        if (rc == ML_OK) {
            assert_string_equal(host, t->host);
            assert_int_equal(port, t->port);
        } else {
            assert_string_equal(host, "untouched");
            assert_int_equal(port, 4242);
        }
    }
    assert_int_equal(row_failures, 0);
}

static void parse_listen_refuses_host_longer_than_hostlen(void **state)
{
    (void)state;
    char host[10] = "untouched";
    uint16_t port = 4242;
    assert_int_equal(config_parse_listen("1234567890:80", host, sizeof(host), &port), ML_CONFIG);
    assert_string_equal(host, "untouched");
    assert_int_equal(port, 4242);
    assert_int_equal(config_parse_listen("123456789:80", host, sizeof(host), &port), ML_OK);
    assert_string_equal(host, "123456789");
    assert_int_equal(port, 80);
}

/* Secret resolution: each test gets a fresh directory; data_dir is a child not yet made. */
struct secrets_fixture {
    char dir[sizeof(TMP_TEMPLATE)];
    char data_dir[sizeof(TMP_TEMPLATE) + 8];
};

static int secrets_setup(void **state)
{
    struct secrets_fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    memcpy(f->dir, TMP_TEMPLATE, sizeof(TMP_TEMPLATE));
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->data_dir, sizeof(f->data_dir), "%s/var", f->dir);
    *state = f;
    return 0;
}

static void remove_in(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    (void)unlink(path);
}

static int secrets_teardown(void **state)
{
    struct secrets_fixture *f = *state;
    remove_in(f->data_dir, "api.token");
    remove_in(f->data_dir, "phone.key");
    (void)rmdir(f->data_dir);
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

static void fixture_config(const struct secrets_fixture *f, struct config *cfg)
{
    config_defaults(cfg);
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", f->data_dir);
}

/* Reads a whole small file into buf (NUL-terminated); returns its length. */
static size_t slurp(const char *dir, const char *name, char *buf, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        fail_msg("%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, len - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return n;
}

static void write_in(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_msg("%s: %s", path, strerror(errno));
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static mode_t mode_of(const char *dir, const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (stat(path, &st) != 0)
        fail_msg("%s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

static int exists_in(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static int all_lower_hex(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static void resolve_with_create_makes_secret_files_with_mode_0600(void **state)
{
    struct secrets_fixture *f = *state;
    struct config cfg;
    char err[ERRBUF_LEN] = "";
    fixture_config(f, &cfg);
    ml_err rc = config_resolve_secrets(&cfg, 1, err, sizeof(err));
    if (rc != ML_OK)
        fail_msg("resolve: %s", err);

    assert_int_equal(mode_of(f->dir, "var") & 077, 0);
    assert_int_equal(mode_of(f->data_dir, "api.token"), 0600);
    assert_int_equal(mode_of(f->data_dir, "phone.key"), 0600);

    char buf[256];
    slurp(f->data_dir, "api.token", buf, sizeof(buf));
    assert_string_equal(cfg.api_token, buf);
    assert_in_range(strlen(cfg.api_token), CONFIG_TOKEN_MIN, CONFIG_TOKEN_MAX);
    assert_true(all_lower_hex(cfg.api_token));

    assert_int_equal(cfg.has_phone_key, 1);
    char hex[2 * CONFIG_PHONE_KEY_LEN + 1];
    hex_of(cfg.phone_key, CONFIG_PHONE_KEY_LEN, hex);
    slurp(f->data_dir, "phone.key", buf, sizeof(buf));
    assert_string_equal(buf, hex);
}

static void resolve_twice_reads_back_the_same_secrets(void **state)
{
    struct secrets_fixture *f = *state;
    struct config first, second, third;
    char err[ERRBUF_LEN] = "";
    fixture_config(f, &first);
    assert_int_equal(config_resolve_secrets(&first, 1, err, sizeof(err)), ML_OK);

    fixture_config(f, &second);
    assert_int_equal(config_resolve_secrets(&second, 1, err, sizeof(err)), ML_OK);
    assert_string_equal(second.api_token, first.api_token);
    assert_memory_equal(second.phone_key, first.phone_key, CONFIG_PHONE_KEY_LEN);

    fixture_config(f, &third);
    assert_int_equal(config_resolve_secrets(&third, 0, err, sizeof(err)), ML_OK);
    assert_string_equal(third.api_token, first.api_token);
    assert_memory_equal(third.phone_key, first.phone_key, CONFIG_PHONE_KEY_LEN);
}

/* Secrets are random: emptying data_dir and resolving again yields new ones. */
static void resolve_generates_fresh_random_secrets(void **state)
{
    struct secrets_fixture *f = *state;
    struct config a, b;
    char err[ERRBUF_LEN] = "";
    fixture_config(f, &a);
    assert_int_equal(config_resolve_secrets(&a, 1, err, sizeof(err)), ML_OK);
    remove_in(f->data_dir, "api.token");
    remove_in(f->data_dir, "phone.key");
    fixture_config(f, &b);
    assert_int_equal(config_resolve_secrets(&b, 1, err, sizeof(err)), ML_OK);
    assert_string_not_equal(a.api_token, b.api_token);
    assert_memory_not_equal(a.phone_key, b.phone_key, CONFIG_PHONE_KEY_LEN);
}

static void resolve_without_create_on_empty_dir_fails_with_config(void **state)
{
    struct secrets_fixture *f = *state;
    struct config cfg;
    char err[ERRBUF_LEN] = "";
    fixture_config(f, &cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", f->dir); /* exists, empty */
    assert_int_equal(config_resolve_secrets(&cfg, 0, err, sizeof(err)), ML_CONFIG);
    assert_contains(err, f->dir);
    assert_false(exists_in(f->dir, "api.token"));
    assert_false(exists_in(f->dir, "phone.key"));
}

static void resolve_without_create_on_missing_dir_fails_with_config(void **state)
{
    struct secrets_fixture *f = *state;
    struct config cfg;
    char err[ERRBUF_LEN] = "";
    fixture_config(f, &cfg); /* data_dir not created */
    assert_int_equal(config_resolve_secrets(&cfg, 0, err, sizeof(err)), ML_CONFIG);
    assert_false(exists_in(f->dir, "var"));
}

static void resolve_without_create_needs_phone_key_file_too(void **state)
{
    struct secrets_fixture *f = *state;
    struct config cfg;
    char err[ERRBUF_LEN] = "";
    assert_int_equal(mkdir(f->data_dir, 0700), 0);
    write_in(f->data_dir, "api.token", TOKEN_16 "\n");
    fixture_config(f, &cfg);
    assert_int_equal(config_resolve_secrets(&cfg, 0, err, sizeof(err)), ML_CONFIG);
    assert_contains(err, "phone.key");
}

static void resolve_reads_existing_files_trimming_newline(void **state)
{
    struct secrets_fixture *f = *state;
    struct config cfg;
    char err[ERRBUF_LEN] = "";
    assert_int_equal(mkdir(f->data_dir, 0700), 0);
    write_in(f->data_dir, "api.token", TOKEN_16 "\n");
    write_in(f->data_dir, "phone.key", PHONE_KEY_HEX "\n");
    fixture_config(f, &cfg);
    ml_err rc = config_resolve_secrets(&cfg, 0, err, sizeof(err));
    if (rc != ML_OK)
        fail_msg("resolve: %s", err);
    assert_string_equal(cfg.api_token, TOKEN_16);
    char hex[2 * CONFIG_PHONE_KEY_LEN + 1];
    hex_of(cfg.phone_key, CONFIG_PHONE_KEY_LEN, hex);
    assert_string_equal(hex, PHONE_KEY_HEX);
}

/* Files written on another system end their line with CRLF; a line end is not the secret. */
static void resolve_reads_files_ending_in_crlf_and_refuses_longer_ones(void **state)
{
    struct secrets_fixture *f = *state;
    struct config cfg;
    char err[ERRBUF_LEN] = "", hex[2 * CONFIG_PHONE_KEY_LEN + 1];
    assert_int_equal(mkdir(f->data_dir, 0700), 0);
    write_in(f->data_dir, "api.token", TOKEN_128 "\r\n");
    write_in(f->data_dir, "phone.key", PHONE_KEY_HEX "\r\n");
    fixture_config(f, &cfg);
    ml_err rc = config_resolve_secrets(&cfg, 0, err, sizeof(err));
    if (rc != ML_OK)
        fail_msg("resolve: %s", err);
    assert_string_equal(cfg.api_token, TOKEN_128);
    hex_of(cfg.phone_key, CONFIG_PHONE_KEY_LEN, hex);
    assert_string_equal(hex, PHONE_KEY_HEX);
    /* A file longer than a secret and its line end is refused as what it is, never cut to
     * size, and never taken for a missing one (which would be created). */
    write_in(f->data_dir, "phone.key", PHONE_KEY_HEX PHONE_KEY_HEX "\n");
    fixture_config(f, &cfg);
    assert_int_equal(config_resolve_secrets(&cfg, 1, err, sizeof(err)), ML_CONFIG);
    assert_contains(err, "phone.key: cannot read: longer than expected");
    write_in(f->data_dir, "phone.key", PHONE_KEY_HEX "0\n"); /* fits, but is no key */
    fixture_config(f, &cfg);
    assert_int_equal(config_resolve_secrets(&cfg, 1, err, sizeof(err)), ML_CONFIG);
    assert_contains(err, "phone.key: expected 64 hex digits");
    write_in(f->data_dir, "phone.key", PHONE_KEY_HEX);
    write_in(f->data_dir, "api.token", TOKEN_128 TOKEN_16);
    fixture_config(f, &cfg);
    assert_int_equal(config_resolve_secrets(&cfg, 1, err, sizeof(err)), ML_CONFIG);
    assert_contains(err, "api.token: cannot read: longer than expected");
}

static void resolve_refuses_malformed_phone_key_file(void **state)
{
    struct secrets_fixture *f = *state;
    struct config cfg;
    char err[ERRBUF_LEN] = "";
    assert_int_equal(mkdir(f->data_dir, 0700), 0);
    write_in(f->data_dir, "api.token", TOKEN_16);
    write_in(f->data_dir, "phone.key", "not a key\n");
    fixture_config(f, &cfg);
    assert_int_equal(config_resolve_secrets(&cfg, 1, err, sizeof(err)), ML_CONFIG);
    assert_contains(err, "phone.key");
}

/* A token file gives the same guarantee as [agent] api_token: 16-128 printable chars. */
static void resolve_refuses_empty_token_file(void **state)
{
    struct secrets_fixture *f = *state;
    struct config cfg;
    char err[ERRBUF_LEN] = "";
    assert_int_equal(mkdir(f->data_dir, 0700), 0);
    write_in(f->data_dir, "api.token", "\n");
    write_in(f->data_dir, "phone.key", PHONE_KEY_HEX);
    fixture_config(f, &cfg);
    ml_err rc = config_resolve_secrets(&cfg, 1, err, sizeof(err));
    if (rc != ML_CONFIG)
        fail_msg("empty api.token: want ML_CONFIG, got %s with api_token \"%s\"", ml_strerror(rc),
                 cfg.api_token);
}

static void resolve_keeps_configured_secrets_and_writes_no_files(void **state)
{
    struct secrets_fixture *f = *state;
    struct config cfg;
    char err[ERRBUF_LEN] = "";
    fixture_config(f, &cfg);
    snprintf(cfg.api_token, sizeof(cfg.api_token), "%s", TOKEN_16);
    memset(cfg.phone_key, 0x42, sizeof(cfg.phone_key));
    cfg.has_phone_key = 1;
    assert_int_equal(config_resolve_secrets(&cfg, 0, err, sizeof(err)), ML_OK);
    assert_string_equal(cfg.api_token, TOKEN_16);
    for (size_t i = 0; i < CONFIG_PHONE_KEY_LEN; i++)
        assert_int_equal(cfg.phone_key[i], 0x42);
    assert_false(exists_in(f->dir, "var"));
}

#define SECRETS_TEST(fn) cmocka_unit_test_setup_teardown(fn, secrets_setup, secrets_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_the_documented_values),
        cmocka_unit_test(load_of_file_with_only_comments_keeps_defaults),
        cmocka_unit_test(load_of_full_file_sets_every_key),
        cmocka_unit_test(load_checks_each_value_at_and_past_its_limits),
        cmocka_unit_test(load_limits_data_dir_to_160_characters),
        cmocka_unit_test(load_error_names_file_line_and_key),
        cmocka_unit_test(load_refuses_unknown_keys_and_sections_naming_them),
        cmocka_unit_test(load_refuses_syntax_errors),
        cmocka_unit_test(load_refuses_missing_file_naming_it),
        cmocka_unit_test(load_error_is_truncated_to_errlen),
        cmocka_unit_test(parse_listen_splits_host_and_port_and_refuses_bad_ports),
        cmocka_unit_test(parse_listen_refuses_host_longer_than_hostlen),
        SECRETS_TEST(resolve_with_create_makes_secret_files_with_mode_0600),
        SECRETS_TEST(resolve_twice_reads_back_the_same_secrets),
        SECRETS_TEST(resolve_generates_fresh_random_secrets),
        SECRETS_TEST(resolve_without_create_on_empty_dir_fails_with_config),
        SECRETS_TEST(resolve_without_create_on_missing_dir_fails_with_config),
        SECRETS_TEST(resolve_without_create_needs_phone_key_file_too),
        SECRETS_TEST(resolve_reads_existing_files_trimming_newline),
        SECRETS_TEST(resolve_reads_files_ending_in_crlf_and_refuses_longer_ones),
        SECRETS_TEST(resolve_refuses_malformed_phone_key_file),
        SECRETS_TEST(resolve_refuses_empty_token_file),
        SECRETS_TEST(resolve_keeps_configured_secrets_and_writes_no_files),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
