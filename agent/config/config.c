/*
 * config: INI parsing (inih) with strict validation. Each accepted key is listed in
 * the table below with its parser; anything not in the table is refused with the
 * file, line and key named.
 */
#include "config.h"

#include "fileutil.h"
#include "inifile.h"
#include "num.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY (64u * 1024u)
#define MAX_BODY_LIMIT (1024u * 1024u)

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->brand, sizeof(cfg->brand), "demo");
    snprintf(cfg->store, sizeof(cfg->store), "S001");
    snprintf(cfg->terminal, sizeof(cfg->terminal), "T01");
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./var");
    snprintf(cfg->api_host, sizeof(cfg->api_host), "127.0.0.1");
    cfg->api_port = 8787;
    cfg->api_max_body = DEFAULT_MAX_BODY;
    cfg->outbox_warn_events = 100000;
    cfg->mqtt_port = 1883;
    cfg->mqtt_keepalive = 30;
    cfg->mqtt_batch_events = 200;
    cfg->mqtt_batch_bytes = 256 * 1024;
    cfg->mqtt_inflight = 16;
    cfg->mqtt_ack_timeout_s = 15;
    cfg->offline.contact_window_s = 120;
    cfg->offline.coupon_max_value = 10000;
    cfg->offline.member_daily_redemptions = 3;
    cfg->offline.terminal_max_value = 200000;
    cfg->offline.max_offline_s = 86400;
    cfg->offline.points_margin_bp = 2000;
    cfg->qr_time_window_s = 60;
}

ml_err config_parse_listen(const char *value, char *host, size_t hostlen, uint16_t *ret_port)
{
    return inifile_parse_listen(value, host, hostlen, ret_port) == 0 ? ML_OK : ML_CONFIG;
}

/* A whole number in [min, max], digits only. */
static int set_path(char *dst, size_t len, const char *v)
{
    if (v[0] == '\0' || strlen(v) > 160)
        return -1;
    snprintf(dst, len, "%s", v);
    return 0;
}

static int set_id(char *dst, size_t len, const char *v)
{
    if (!inifile_valid_id(v, CONFIG_ID_MAX))
        return -1;
    snprintf(dst, len, "%s", v);
    return 0;
}

static int apply_mqtt(struct config *cfg, const char *name, const char *value, const char **why)
{
    int64_t n = 0;
    int rc;
    if (strcmp(name, "host") == 0) {
        *why = "expected a host name or address of at most 160 characters, or nothing";
        if (strlen(value) > 160)
            return -1;
        snprintf(cfg->mqtt_host, sizeof(cfg->mqtt_host), "%s", value);
        return 0;
    }
    if (strcmp(name, "client_id") == 0) {
        *why = "expected 1-64 characters of [A-Za-z0-9_-]";
        if (strlen(value) > 64 || !inifile_valid_id(value, 64))
            return -1;
        snprintf(cfg->mqtt_client_id, sizeof(cfg->mqtt_client_id), "%s", value);
        return 0;
    }
    if (strcmp(name, "tls_ca") == 0 || strcmp(name, "tls_cert") == 0 ||
        strcmp(name, "tls_key") == 0) {
        char *dst = name[4] == 'c' && name[5] == 'a' ? cfg->mqtt_tls_ca
                    : name[4] == 'c'                 ? cfg->mqtt_tls_cert
                                                     : cfg->mqtt_tls_key;
        *why = "expected a file path of at most 160 characters";
        return set_path(dst, CONFIG_PATH_MAX, value);
    }
    static const struct {
        const char *name;
        int64_t min, max;
        const char *why;
    } ints[] = {
        {"port", 1, 65535, "expected a port from 1 to 65535"},
        {"keepalive", 5, 3600, "expected seconds from 5 to 3600"},
        {"batch_events", 1, 1000, "expected a count from 1 to 1000"},
        {"batch_bytes", 1024, 1048576, "expected bytes from 1024 to 1048576"},
        {"inflight", 1, 64, "expected a count from 1 to 64"},
        {"ack_timeout_s", 1, 3600, "expected seconds from 1 to 3600"},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (strcmp(name, ints[i].name) != 0)
            continue;
        *why = ints[i].why;
        if ((rc = num_parse_i64(value, ints[i].min, ints[i].max, &n)) != 0)
            return rc;
        switch (i) {
        case 0:
            cfg->mqtt_port = (uint16_t)n;
            break;
        case 1:
            cfg->mqtt_keepalive = (int)n;
            break;
        case 2:
            cfg->mqtt_batch_events = (int)n;
            break;
        case 3:
            cfg->mqtt_batch_bytes = (int)n;
            break;
        case 4:
            cfg->mqtt_inflight = (int)n;
            break;
        default:
            cfg->mqtt_ack_timeout_s = (int)n;
            break;
        }
        return 0;
    }
    return -2;
}

static int apply_offline(struct config *cfg, const char *name, const char *value, const char **why)
{
    struct config_offline *o = &cfg->offline;
    const struct {
        const char *name;
        int64_t *dst;
        int64_t min, max;
        const char *why;
    } keys[] = {
        {"contact_window_s", &o->contact_window_s, 5, 3600, "expected seconds from 5 to 3600"},
        {"coupon_max_value", &o->coupon_max_value, 0, CONFIG_MONEY_MAX,
         "expected minor units from 0 to 1000000000000"},
        {"member_daily_redemptions", &o->member_daily_redemptions, 0, 1000,
         "expected a count from 0 to 1000"},
        {"terminal_max_value", &o->terminal_max_value, 0, CONFIG_MONEY_MAX,
         "expected minor units from 0 to 1000000000000"},
        {"max_offline_s", &o->max_offline_s, 60, 2592000, "expected seconds from 60 to 2592000"},
        {"points_margin_bp", &o->points_margin_bp, 0, 10000,
         "expected basis points from 0 to 10000"},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(name, keys[i].name) != 0)
            continue;
        *why = keys[i].why;
        return num_parse_i64(value, keys[i].min, keys[i].max, keys[i].dst);
    }
    return -2;
}

/* Returns 0 on success, -1 with a reason in `why` on a bad value, -2 for an unknown key. */
static int apply(void *user, const char *section, const char *name, const char *value,
                 const char **why)
{
    struct config *cfg = user;
    if (strcmp(section, "store") == 0) {
        *why = "expected 1-32 characters of [A-Za-z0-9_-]";
        if (strcmp(name, "brand") == 0)
            return set_id(cfg->brand, sizeof(cfg->brand), value);
        if (strcmp(name, "store") == 0)
            return set_id(cfg->store, sizeof(cfg->store), value);
        if (strcmp(name, "terminal") == 0)
            return set_id(cfg->terminal, sizeof(cfg->terminal), value);
        if (strcmp(name, "phone_key") == 0) {
            *why = "expected 64 hex digits (32 bytes)";
            if (num_hex_decode(value, cfg->phone_key, CONFIG_PHONE_KEY_LEN) != 0)
                return -1;
            cfg->has_phone_key = 1;
            return 0;
        }
        return -2;
    }
    if (strcmp(section, "agent") == 0) {
        if (strcmp(name, "data_dir") == 0) {
            *why = "expected a non-empty path of at most 160 characters";
            if (value[0] == '\0' || strlen(value) > 160)
                return -1;
            snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", value);
            return 0;
        }
        if (strcmp(name, "api_listen") == 0) {
            *why = "expected host:port with a port of 1-65535";
            return config_parse_listen(value, cfg->api_host, sizeof(cfg->api_host),
                                       &cfg->api_port) == ML_OK
                       ? 0
                       : -1;
        }
        if (strcmp(name, "api_token") == 0) {
            *why = "expected 16-128 printable characters without spaces";
            size_t n = strlen(value);
            if (n < CONFIG_TOKEN_MIN || n > CONFIG_TOKEN_MAX)
                return -1;
            for (size_t i = 0; i < n; i++)
                if (value[i] <= ' ' || value[i] > '~')
                    return -1;
            snprintf(cfg->api_token, sizeof(cfg->api_token), "%s", value);
            return 0;
        }
        if (strcmp(name, "outbox_warn_events") == 0) {
            *why = "expected a count from 1 to 1000000000";
            return num_parse_i64(value, 1, 1000000000, &cfg->outbox_warn_events);
        }
        if (strcmp(name, "api_max_body") == 0) {
            *why = "expected a byte count from 1024 to 1048576";
            int64_t v = 0;
            if (num_parse_i64(value, 1024, MAX_BODY_LIMIT, &v) != 0)
                return -1;
            cfg->api_max_body = (size_t)v;
            return 0;
        }
        return -2;
    }
    if (strcmp(section, "mqtt") == 0)
        return apply_mqtt(cfg, name, value, why);
    if (strcmp(section, "offline") == 0)
        return apply_offline(cfg, name, value, why);
    if (strcmp(section, "qr") == 0) {
        if (strcmp(name, "time_window_s") == 0) {
            *why = "expected seconds from 5 to 600";
            return num_parse_i64(value, 5, 600, &cfg->qr_time_window_s);
        }
        return -2;
    }
    if (strcmp(section, "hq") == 0) {
        if (strcmp(name, "url") == 0) {
            *why = "expected an http:// or https:// URL of at most 160 characters";
            if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
                return -1;
            return set_path(cfg->hq_url, sizeof(cfg->hq_url), value);
        }
        if (strcmp(name, "pubkey") == 0) {
            *why = "expected kid=base64 (kid of 1-32 [A-Za-z0-9_-]), at most 16 keys";
            const char *eq = strchr(value, '=');
            char kid[CONFIG_ID_MAX + 1];
            if (eq == NULL || eq == value || (size_t)(eq - value) > CONFIG_ID_MAX ||
                strlen(value) >= CONFIG_PUBKEY_SPEC_MAX || cfg->hq_npubkeys >= CONFIG_PUBKEYS_MAX)
                return -1;
            memcpy(kid, value, (size_t)(eq - value));
            kid[eq - value] = '\0';
            if (!inifile_valid_id(kid, CONFIG_ID_MAX) || eq[1] == '\0')
                return -1;
            snprintf(cfg->hq_pubkeys[cfg->hq_npubkeys++], CONFIG_PUBKEY_SPEC_MAX, "%s", value);
            return 0;
        }
        return -2;
    }
    return -2;
}

ml_err config_load(struct config *cfg, const char *path, char *errbuf, size_t errlen)
{
    static const char *const sections[] = {"store", "agent", "mqtt", "hq", "offline", "qr", NULL};
    return inifile_load(path, sections, apply, cfg, errbuf, errlen);
}

/* Reads a small secret file into buf (len bytes: the secret, a NUL; a trailing "\n" or
 * "\r\n" is allowed on top and dropped); the copy read is cleared before it is freed. 0, or -1
 * with errno set (ENOENT: no file; EFBIG: more than the secret and its line end). */
static int read_secret(const char *path, char *buf, size_t len)
{
    char *text = NULL;
    size_t n = 0;
    ml_err err = file_read_small(path, len + 1, &text, &n);
    if (err != ML_OK) {
        errno = err == ML_NOENTRY ? ENOENT : err == ML_LIMIT ? EFBIG : errno ? errno : EIO;
        return -1;
    }
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    int fits = n < len;
    if (fits)
        memcpy(buf, text, n + 1);
    explicit_bzero(text, n);
    free(text);
    if (!fits) {
        errno = EFBIG;
        return -1;
    }
    return 0;
}

/* Written to a temporary name, synced, then linked into place: a crash never leaves an
 * empty or half-written secret, and an existing one is never replaced. */
static int write_secret(const char *path, const char *text)
{
    char tmp[CONFIG_PATH_MAX + 48];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int ok = w == (ssize_t)n && fsync(fd) == 0;
    close(fd);
    ok = ok && link(tmp, path) == 0;
    unlink(tmp);
    return ok ? 0 : -1;
}

static int random_hex(char *out, size_t nbytes)
{
    uint8_t raw[64];
    if (nbytes > sizeof(raw))
        return -1;
    FILE *f = fopen("/dev/urandom", "re");
    if (f == NULL)
        return -1;
    size_t got = fread(raw, 1, nbytes, f);
    fclose(f);
    if (got != nbytes)
        return -1;
    num_hex_encode(raw, nbytes, out);
    return 0;
}

static ml_err resolve_one(const struct config *cfg, const char *file, size_t nbytes, int create,
                          char *out, size_t outlen, char *errbuf, size_t errlen)
{
    char path[CONFIG_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, file);
    if (read_secret(path, out, outlen) == 0)
        return ML_OK;
    if (errno != ENOENT) {
        snprintf(errbuf, errlen, "%s: cannot read: %s", path,
                 errno == EFBIG ? "longer than expected" : strerror(errno));
        return ML_CONFIG;
    }
    if (!create) {
        snprintf(errbuf, errlen, "%s: cannot read (%s); start memberlinkd once to create it", path,
                 strerror(errno));
        return ML_CONFIG;
    }
    char hex[129];
    if (random_hex(hex, nbytes) != 0 || write_secret(path, hex) != 0) {
        snprintf(errbuf, errlen, "%s: cannot create: %s", path, strerror(errno));
        return ML_CONFIG;
    }
    snprintf(out, outlen, "%s", hex);
    return ML_OK;
}

ml_err config_resolve_secrets(struct config *cfg, int create, char *errbuf, size_t errlen)
{
    if (create && mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(errbuf, errlen, "[agent] data_dir %s: cannot create: %s", cfg->data_dir,
                 strerror(errno));
        return ML_CONFIG;
    }
    if (cfg->api_token[0] == '\0') {
        char token[CONFIG_TOKEN_MAX + 2];
        const char *why = "";
        ml_err err =
            resolve_one(cfg, "api.token", 24, create, token, sizeof(token), errbuf, errlen);
        if (err != ML_OK)
            return err;
        if (apply(cfg, "agent", "api_token", token, &why) != 0) {
            snprintf(errbuf, errlen, "%s/api.token: %s", cfg->data_dir, why);
            return ML_CONFIG;
        }
    }
    if (!cfg->has_phone_key) {
        char hex[2 * CONFIG_PHONE_KEY_LEN + 2];
        ml_err err = resolve_one(cfg, "phone.key", CONFIG_PHONE_KEY_LEN, create, hex, sizeof(hex),
                                 errbuf, errlen);
        if (err != ML_OK)
            return err;
        if (num_hex_decode(hex, cfg->phone_key, CONFIG_PHONE_KEY_LEN) != 0) {
            snprintf(errbuf, errlen, "%s/phone.key: expected 64 hex digits", cfg->data_dir);
            return ML_CONFIG;
        }
        cfg->has_phone_key = 1;
    }
    return ML_OK;
}
