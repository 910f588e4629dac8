/*
 * hq_config_test: unit tests for hq_config.h, the INI configuration of memberlink-hq.
 *
 * Each case writes a real INI file (mkstemp under /tmp) and loads it over the defaults, so
 * inih's parsing is covered as memberlink-hq sees it. Every key of docs/hq.md is checked at
 * its limits and one past them; every refusal must be ML_CONFIG with one message naming the
 * file, the line and the key (or the unknown section).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hq_config.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Table tests report every failing row, then fail once, so one bad row hides no other. */
#define ROW_FAIL(...)                                                                              \
    do {                                                                                           \
        print_error("ERROR: " __VA_ARGS__);                                                        \
        print_error("\n");                                                                         \
        row_failures++;                                                                            \
    } while (0)
#define TMP_TEMPLATE "/tmp/ml-hq-config-test-XXXXXX"
#define ERRBUF_LEN 1024
#define TEXT_MAX (64 * 1024)

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

/* Loads `text` over what cfg holds; path receives the (already removed) file name. */
static ml_err load_over(const char *text, struct hq_config *cfg, char *errbuf, size_t errlen,
                        char path[sizeof(TMP_TEMPLATE)])
{
    write_temp_file(path, text);
    errbuf[0] = '\0';
    ml_err err = hq_config_load(cfg, path, errbuf, errlen);
    (void)unlink(path);
    return err;
}

/* Loads `text` over the defaults. */
static ml_err load_text(const char *text, struct hq_config *cfg, char *errbuf, size_t errlen,
                        char path[sizeof(TMP_TEMPLATE)])
{
    hq_config_defaults(cfg);
    return load_over(text, cfg, errbuf, errlen, path);
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

/* struct hq_config holds 33 KiB of store ids: keep it off the test's stack. */
static struct hq_config cfg_a, cfg_b;

static void defaults_are_the_documented_values(void **state)
{
    (void)state;
    memset(&cfg_a, 0x5a, sizeof(cfg_a));
    hq_config_defaults(&cfg_a);
    assert_string_equal(cfg_a.brand, "demo");
    assert_string_equal(cfg_a.data_dir, "./var/hq");
    assert_string_equal(cfg_a.share_group, "");
    assert_int_equal(cfg_a.nstores, 0);
    assert_int_equal(cfg_a.has_phone_key, 0);
    assert_string_equal(cfg_a.http_host, "");
    assert_int_equal(cfg_a.http_port, 0);
    assert_string_equal(cfg_a.mqtt_host, "127.0.0.1");
    assert_int_equal(cfg_a.mqtt_port, 1883);
    assert_string_equal(cfg_a.mqtt_client_id, "memberlink-hq");
    assert_int_equal(cfg_a.mqtt_keepalive, 30);
    assert_int_equal(cfg_a.time_beacon_s, 30);
}

static void load_of_comments_and_empty_sections_keeps_defaults(void **state)
{
    (void)state;
    char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)];
    assert_int_equal(load_text("; memberlink-hq\n# nothing set\n\n[hq]\n[mqtt]\n", &cfg_a, err,
                               sizeof(err), path),
                     ML_OK);
    hq_config_defaults(&cfg_b);
    assert_memory_equal(&cfg_a, &cfg_b, sizeof(cfg_a));
}

#define PHONE_KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* The example configuration of docs/hq.md, every key set. */
static void load_of_full_file_sets_every_key(void **state)
{
    (void)state;
    char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)];
    const char *text = "[hq]\n"
                       "brand = acme\n"
                       "data_dir = /var/lib/memberlink-hq\n"
                       "share_group = ingest_1\n"
                       "stores = S001,S002,S003\n"
                       "stores = S004\n"
                       "phone_key = " PHONE_KEY_HEX "\n"
                       "http_listen = 127.0.0.1:8788\n"
                       "\n"
                       "[mqtt]\n"
                       "host = broker.acme.internal\n"
                       "port = 8883\n"
                       "client_id = memberlink-hq-2\n"
                       "keepalive = 60\n";
    ml_err rc = load_text(text, &cfg_a, err, sizeof(err), path);
    if (rc != ML_OK)
        fail_msg("load failed: %s", err);
    assert_string_equal(cfg_a.brand, "acme");
    assert_string_equal(cfg_a.data_dir, "/var/lib/memberlink-hq");
    assert_string_equal(cfg_a.share_group, "ingest_1");
    assert_int_equal(cfg_a.nstores, 4);
    assert_string_equal(cfg_a.stores[0], "S001");
    assert_string_equal(cfg_a.stores[1], "S002");
    assert_string_equal(cfg_a.stores[2], "S003");
    assert_string_equal(cfg_a.stores[3], "S004");
    assert_int_equal(cfg_a.has_phone_key, 1);
    char hex[2 * HQ_PHONE_KEY_LEN + 1];
    hex_of(cfg_a.phone_key, HQ_PHONE_KEY_LEN, hex);
    assert_string_equal(hex, PHONE_KEY_HEX);
    assert_string_equal(cfg_a.http_host, "127.0.0.1");
    assert_int_equal(cfg_a.http_port, 8788);
    assert_string_equal(cfg_a.mqtt_host, "broker.acme.internal");
    assert_int_equal(cfg_a.mqtt_port, 8883);
    assert_string_equal(cfg_a.mqtt_client_id, "memberlink-hq-2");
    assert_int_equal(cfg_a.mqtt_keepalive, 60);
}

/* Renders the field behind [section] key the way a file would spell it. */
static void render_field(const struct hq_config *cfg, const char *section, const char *key,
                         char *buf, size_t len)
{
    int hq = strcmp(section, "hq") == 0;
    if (hq && strcmp(key, "brand") == 0) {
        snprintf(buf, len, "%s", cfg->brand);
    } else if (hq && strcmp(key, "data_dir") == 0) {
        snprintf(buf, len, "%s", cfg->data_dir);
    } else if (hq && strcmp(key, "share_group") == 0) {
        snprintf(buf, len, "%s", cfg->share_group);
    } else if (hq && strcmp(key, "stores") == 0) {
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < cfg->nstores && used < len; i++)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "", cfg->stores[i]);
    } else if (hq && strcmp(key, "phone_key") == 0) {
        assert_int_equal(cfg->has_phone_key, 1);
        assert_true(len > 2 * HQ_PHONE_KEY_LEN);
        hex_of(cfg->phone_key, HQ_PHONE_KEY_LEN, buf);
    } else if (hq && strcmp(key, "http_listen") == 0) {
        if (cfg->http_port == 0)
            snprintf(buf, len, "%s", cfg->http_host); /* "" when off */
        else
            snprintf(buf, len, "%s|%u", cfg->http_host, (unsigned)cfg->http_port);
    } else if (hq && strcmp(key, "time_beacon_s") == 0) {
        snprintf(buf, len, "%d", cfg->time_beacon_s);
    } else if (!hq && strcmp(key, "host") == 0) {
        snprintf(buf, len, "%s", cfg->mqtt_host);
    } else if (!hq && strcmp(key, "port") == 0) {
        snprintf(buf, len, "%u", (unsigned)cfg->mqtt_port);
    } else if (!hq && strcmp(key, "client_id") == 0) {
        snprintf(buf, len, "%s", cfg->mqtt_client_id);
    } else if (!hq && strcmp(key, "keepalive") == 0) {
        snprintf(buf, len, "%d", cfg->mqtt_keepalive);
    } else {
        fail_msg("no renderer for [%s] %s", section, key);
    }
}

#define ID_32 "abcdefghijklmnopqrstuvwxyz_-0123"
#define ID_64 ID_32 "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-4567"
#define DIR_10 "/abcdefghi"
#define DIR_100 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10
#define DIR_160 DIR_100 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10 DIR_10
#define HOST_10 "h234567890"
#define HOST_160                                                                                   \
    HOST_10 HOST_10 HOST_10 HOST_10 HOST_10 HOST_10 HOST_10 HOST_10 HOST_10 HOST_10 HOST_10        \
        HOST_10 HOST_10 HOST_10 HOST_10 HOST_10

struct value_case {
    const char *section;
    const char *key;
    const char *value;
    int ok;
    const char *want; /* rendering when accepted; NULL means `value` */
};

static const struct value_case value_cases[] = {
    /* brand: [A-Za-z0-9_-]{1,32} (a topic level) */
    {"hq", "brand", "a", 1, NULL},
    {"hq", "brand", ID_32, 1, NULL},
    {"hq", "brand", ID_32 "4", 0, NULL},
    {"hq", "brand", "", 0, NULL},
    {"hq", "brand", "ac me", 0, NULL},
    {"hq", "brand", "ac.me", 0, NULL},
    {"hq", "brand", "ac/me", 0, NULL},
    {"hq", "brand", "ac+me", 0, NULL},
    {"hq", "brand", "\xE5\x93\x81\xE7\x89\x8C", 0, NULL},
    /* data_dir: non-empty, at most 160 characters */
    {"hq", "data_dir", "/srv/hq", 1, NULL},
    {"hq", "data_dir", DIR_160, 1, NULL},
    {"hq", "data_dir", DIR_160 "i", 0, NULL},
    {"hq", "data_dir", "", 0, NULL},
    /* share_group: nothing, or [A-Za-z0-9_-]{1,32} */
    {"hq", "share_group", "", 1, NULL},
    {"hq", "share_group", "g", 1, NULL},
    {"hq", "share_group", ID_32, 1, NULL},
    {"hq", "share_group", ID_32 "4", 0, NULL},
    {"hq", "share_group", "a b", 0, NULL},
    {"hq", "share_group", "a/b", 0, NULL},
    {"hq", "share_group", "+", 0, NULL},
    /* stores: store ids separated by commas, each once */
    {"hq", "stores", "S001", 1, NULL},
    {"hq", "stores", "S001,S002", 1, NULL},
    {"hq", "stores", "S001 , S002,\tS003", 1, "S001,S002,S003"},
    {"hq", "stores", ID_32, 1, NULL},
    {"hq", "stores", ID_32 "4", 0, NULL},
    {"hq", "stores", "S001,", 0, NULL},
    {"hq", "stores", ",S001", 0, NULL},
    {"hq", "stores", "S001,,S002", 0, NULL},
    {"hq", "stores", "S001, ,S002", 0, NULL},
    {"hq", "stores", "S001,S001", 0, NULL},
    {"hq", "stores", "S 001", 0, NULL},
    {"hq", "stores", "S/001", 0, NULL},
    {"hq", "stores", "S001;S002", 0, NULL},
    /* phone_key: exactly 64 hex digits */
    {"hq", "phone_key", PHONE_KEY_HEX, 1, NULL},
    {"hq", "phone_key", "00AABBCCDDEEFF00aabbccddeeff00112233445566778899AaBbCcDdEeFf0011", 1,
     "00aabbccddeeff00aabbccddeeff00112233445566778899aabbccddeeff0011"},
    {"hq", "phone_key", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1", 0, NULL},
    {"hq", "phone_key", PHONE_KEY_HEX "2", 0, NULL},
    {"hq", "phone_key", "g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 0,
     NULL},
    {"hq", "phone_key", "", 0, NULL},
    /* http_listen: host:port with a port of 1-65535, [v6]:port, or nothing (off) */
    {"hq", "http_listen", "", 1, NULL},
    {"hq", "http_listen", "127.0.0.1:8788", 1, "127.0.0.1|8788"},
    {"hq", "http_listen", "[::1]:8788", 1, "::1|8788"},
    {"hq", "http_listen", "localhost:1", 1, "localhost|1"},
    {"hq", "http_listen", "0.0.0.0:65535", 1, "0.0.0.0|65535"},
    {"hq", "http_listen", HOST_160 ":80", 1, HOST_160 "|80"},
    {"hq", "http_listen", HOST_160 "x:80", 0, NULL},
    {"hq", "http_listen", "127.0.0.1", 0, NULL},
    {"hq", "http_listen", "127.0.0.1:", 0, NULL},
    {"hq", "http_listen", ":8788", 0, NULL},
    {"hq", "http_listen", "[]:8788", 0, NULL},
    {"hq", "http_listen", "127.0.0.1:0", 0, NULL},
    {"hq", "http_listen", "127.0.0.1:65536", 0, NULL},
    {"hq", "http_listen", "127.0.0.1:-1", 0, NULL},
    {"hq", "http_listen", "127.0.0.1:+80", 0, NULL},
    {"hq", "http_listen", "127.0.0.1:80x", 0, NULL},
    /* [mqtt] host: 1-160 characters */
    {"mqtt", "host", "broker.acme.internal", 1, NULL},
    {"mqtt", "host", "::1", 1, NULL},
    {"mqtt", "host", HOST_160, 1, NULL},
    {"mqtt", "host", HOST_160 "x", 0, NULL},
    {"mqtt", "host", "", 0, NULL},
    /* [mqtt] port: 1-65535 */
    {"mqtt", "port", "1", 1, NULL},
    {"mqtt", "port", "65535", 1, NULL},
    {"mqtt", "port", "0", 0, NULL},
    {"mqtt", "port", "65536", 0, NULL},
    {"mqtt", "port", "-1", 0, NULL},
    {"mqtt", "port", "+1883", 0, NULL},
    {"mqtt", "port", "1883x", 0, NULL},
    {"mqtt", "port", "0x50", 0, NULL},
    {"mqtt", "port", "99999999999999999999999", 0, NULL},
    {"mqtt", "port", "", 0, NULL},
    /* [mqtt] client_id: [A-Za-z0-9_-]{1,64} */
    {"mqtt", "client_id", "a", 1, NULL},
    {"mqtt", "client_id", ID_64, 1, NULL},
    {"mqtt", "client_id", ID_64 "x", 0, NULL},
    {"mqtt", "client_id", "", 0, NULL},
    {"mqtt", "client_id", "hq id", 0, NULL},
    {"mqtt", "client_id", "hq/id", 0, NULL},
    /* [hq] time_beacon_s: 1-3600 seconds */
    {"hq", "time_beacon_s", "1", 1, NULL},
    {"hq", "time_beacon_s", "3600", 1, NULL},
    {"hq", "time_beacon_s", "0", 0, NULL},
    {"hq", "time_beacon_s", "3601", 0, NULL},
    {"hq", "time_beacon_s", "", 0, NULL},
    /* [mqtt] keepalive: 5-3600 seconds */
    {"mqtt", "keepalive", "5", 1, NULL},
    {"mqtt", "keepalive", "3600", 1, NULL},
    {"mqtt", "keepalive", "4", 0, NULL},
    {"mqtt", "keepalive", "3601", 0, NULL},
    {"mqtt", "keepalive", "0", 0, NULL},
    {"mqtt", "keepalive", "30s", 0, NULL},
    {"mqtt", "keepalive", "", 0, NULL},
};

static void load_checks_each_value_at_and_past_its_limits(void **state)
{
    (void)state;
    size_t row_failures = 0;
    static char text[2048], render[2048];
    for (size_t i = 0; i < ARRAY_LEN(value_cases); i++) {
        const struct value_case *t = &value_cases[i];
        char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)], name[64], where[sizeof(path) + 8];
        /* Line 3, after a comment and a blank line, so the line number is not a lucky 1. */
        snprintf(text, sizeof(text), "; case\n[%s]\n%s = %s\n", t->section, t->key, t->value);
        snprintf(name, sizeof(name), "[%s] %s", t->section, t->key);
        ml_err rc = load_text(text, &cfg_a, err, sizeof(err), path);
        snprintf(where, sizeof(where), "%s:3:", path);
        if (t->ok) {
            if (rc != ML_OK) {
                ROW_FAIL("%s = \"%s\" (%zu chars): want accepted, got %s: %s", name, t->value,
                         strlen(t->value), ml_strerror(rc), err);
                continue;
            }
            render_field(&cfg_a, t->section, t->key, render, sizeof(render));
            const char *want = t->want ? t->want : t->value;
            if (strcmp(render, want) != 0)
                ROW_FAIL("%s = \"%s\": loaded as \"%s\", want \"%s\"", name, t->value, render,
                         want);
        } else {
            if (rc != ML_CONFIG)
                ROW_FAIL("%s = \"%s\" (%zu chars): want ML_CONFIG, got %s", name, t->value,
                         strlen(t->value), ml_strerror(rc));
            else if (strstr(err, name) == NULL || strstr(err, where) == NULL ||
                     strchr(err, '\n') != NULL)
                ROW_FAIL("%s = \"%s\": message \"%s\" is not one line naming %s and the key", name,
                         t->value, err, where);
        }
    }
    assert_int_equal(row_failures, 0);
}

/* Unknown sections and keys are refused, naming file and line, so a typo never silently
 * falls back to a default. */
static void unknown_section_or_key_is_refused_naming_file_and_line(void **state)
{
    (void)state;
    size_t row_failures = 0;
    static const struct {
        const char *text;
        const char *what; /* the part of the message naming the culprit */
        int line;
    } cases[] = {
        {"[hq]\nbrand = demo\nbrnad = typo\n", "unknown key [hq] brnad", 3},
        {"[mqtt]\nbrand = demo\n", "unknown key [mqtt] brand", 2},
        {"[hq]\nhost = broker\n", "unknown key [hq] host", 2},
        {"[hq]\nbrand = a\n\n; c\n[mqtt]\nport = 1883\nkeepalive = 30\nbogus = 1\n",
         "unknown key [mqtt] bogus", 8},
        {"brand = demo\n", "unknown key [] brand", 1},
        {"[hq]\n[broker]\nhost = x\n", "unknown section [broker]", 2},
        {"[hq]\nbrand = a\n[extra]\n", "unknown section [extra]", 3},
        {"[HQ]\nbrand = a\n", "unknown section [HQ]", 1},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)], where[sizeof(path) + 16];
        ml_err rc = load_text(cases[i].text, &cfg_a, err, sizeof(err), path);
        snprintf(where, sizeof(where), "%s:%d:", path, cases[i].line);
        if (rc != ML_CONFIG)
            ROW_FAIL("case %zu: want ML_CONFIG, got %s", i, ml_strerror(rc));
        else if (strstr(err, where) == NULL || strstr(err, cases[i].what) == NULL)
            ROW_FAIL("case %zu: message \"%s\" does not say \"%s\" at %s", i, err, cases[i].what,
                     where);
    }
    assert_int_equal(row_failures, 0);
}

static void missing_file_is_refused_naming_it(void **state)
{
    (void)state;
    char err[ERRBUF_LEN];
    hq_config_defaults(&cfg_a);
    assert_int_equal(hq_config_load(&cfg_a, "/nonexistent/hq.ini", err, sizeof(err)), ML_CONFIG);
    assert_contains(err, "/nonexistent/hq.ini");
}

/* inih's line buffer is 200 bytes: a longer line is refused, never split into a value. */
static void line_longer_than_the_reader_buffer_is_refused(void **state)
{
    (void)state;
    char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)], where[sizeof(path) + 8];
    assert_int_equal(load_text("[mqtt]\nhost = " HOST_160 HOST_10 HOST_10 HOST_10 HOST_10 "\n",
                               &cfg_a, err, sizeof(err), path),
                     ML_CONFIG);
    snprintf(where, sizeof(where), "%s:2:", path);
    assert_contains(err, where);
    assert_contains(err, "line longer than");
}

/* A later line for the same key wins, and a file only changes the keys it sets. */
static void load_reads_over_the_values_already_set(void **state)
{
    (void)state;
    char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)];
    assert_int_equal(load_text("[hq]\nbrand = first\nbrand = second\n[mqtt]\nport = 1884\n", &cfg_a,
                               err, sizeof(err), path),
                     ML_OK);
    assert_string_equal(cfg_a.brand, "second");
    assert_int_equal(load_over("[mqtt]\nkeepalive = 90\n", &cfg_a, err, sizeof(err), path), ML_OK);
    assert_string_equal(cfg_a.brand, "second");
    assert_int_equal(cfg_a.mqtt_port, 1884);
    assert_int_equal(cfg_a.mqtt_keepalive, 90);
    assert_string_equal(cfg_a.data_dir, "./var/hq");

    /* http_listen set, then switched off by an empty value. */
    assert_int_equal(load_text("[hq]\nhttp_listen = 127.0.0.1:8788\nhttp_listen =\n", &cfg_a, err,
                               sizeof(err), path),
                     ML_OK);
    assert_string_equal(cfg_a.http_host, "");
    assert_int_equal(cfg_a.http_port, 0);
}

/* Appends "stores = ..." lines for ids S0001..S<n>, 30 ids per line (188 bytes, under inih's
 * 200-byte line). */
static void stores_lines(char *text, size_t cap, int first, int n)
{
    size_t used = strlen(text);
    for (int i = 0; i < n; i++) {
        int last_on_line = (i + 1) % 30 == 0 || i + 1 == n;
        used +=
            (size_t)snprintf(text + used, cap - used, "%sS%04d%s", i % 30 == 0 ? "stores = " : "",
                             first + i, last_on_line ? "\n" : ",");
        assert_true(used < cap);
    }
}

/* [hq] stores may repeat, each line adding to the list in order, at most 1024 stores. */
static void stores_lines_add_up_to_1024_and_refuse_one_more(void **state)
{
    (void)state;
    static char text[TEXT_MAX];
    char err[ERRBUF_LEN], path[sizeof(TMP_TEMPLATE)], where[sizeof(path) + 16];

    snprintf(text, sizeof(text), "[hq]\n");
    stores_lines(text, sizeof(text), 1, HQ_CONFIG_STORES_MAX);
    ml_err rc = load_text(text, &cfg_a, err, sizeof(err), path);
    if (rc != ML_OK)
        fail_msg("1024 stores: want accepted, got %s: %s", ml_strerror(rc), err);
    assert_int_equal(cfg_a.nstores, HQ_CONFIG_STORES_MAX);
    assert_string_equal(cfg_a.stores[0], "S0001");
    assert_string_equal(cfg_a.stores[30], "S0031");
    assert_string_equal(cfg_a.stores[HQ_CONFIG_STORES_MAX - 1], "S1024");

    /* 1025: the 35th stores line (file line 36) holds the one too many. */
    snprintf(text, sizeof(text), "[hq]\n");
    stores_lines(text, sizeof(text), 1, HQ_CONFIG_STORES_MAX + 1);
    assert_int_equal(load_text(text, &cfg_a, err, sizeof(err), path), ML_CONFIG);
    snprintf(where, sizeof(where), "%s:36:", path);
    assert_contains(err, where);
    assert_contains(err, "[hq] stores");

    /* A store repeated on a later line is refused there. */
    assert_int_equal(
        load_text("[hq]\nstores = S1,S2\nstores = S3,S1\n", &cfg_a, err, sizeof(err), path),
        ML_CONFIG);
    snprintf(where, sizeof(where), "%s:3:", path);
    assert_contains(err, where);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_the_documented_values),
        cmocka_unit_test(load_of_comments_and_empty_sections_keeps_defaults),
        cmocka_unit_test(load_of_full_file_sets_every_key),
        cmocka_unit_test(load_checks_each_value_at_and_past_its_limits),
        cmocka_unit_test(unknown_section_or_key_is_refused_naming_file_and_line),
        cmocka_unit_test(missing_file_is_refused_naming_it),
        cmocka_unit_test(line_longer_than_the_reader_buffer_is_refused),
        cmocka_unit_test(load_reads_over_the_values_already_set),
        cmocka_unit_test(stores_lines_add_up_to_1024_and_refuse_one_more),
    };
    return cmocka_run_group_tests_name("hq_config", tests, NULL, NULL);
}
