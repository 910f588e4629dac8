/*
 * hq_config: INI parsing (inih) with strict validation for memberlink-hq. Each accepted
 * key is handled in apply(); anything else is refused with file, line and key named.
 */
#include "hq_config.h"

#include "inifile.h"
#include "num.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hq_config_defaults(struct hq_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->brand, sizeof(cfg->brand), "demo");
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./var/hq");
    snprintf(cfg->mqtt_host, sizeof(cfg->mqtt_host), "127.0.0.1");
    cfg->mqtt_port = 1883;
    snprintf(cfg->mqtt_client_id, sizeof(cfg->mqtt_client_id), "memberlink-hq");
    cfg->mqtt_keepalive = 30;
    cfg->time_beacon_s = 30;
}

int hq_config_has_store(const struct hq_config *cfg, const char *store)
{
    for (size_t i = 0; i < cfg->nstores; i++)
        if (strcmp(cfg->stores[i], store) == 0)
            return 1;
    return 0;
}

/* [hq] stores: a comma-separated list of store ids, appended to what earlier lines gave. */
static int add_stores(struct hq_config *cfg, const char *value, const char **why)
{
    const char *p = value;
    *why = "expected store ids of 1-32 characters of [A-Za-z0-9_-] separated by commas, "
           "each once, at most 1024";
    while (*p != '\0') {
        p += strspn(p, " \t");
        size_t n = strcspn(p, ",");
        size_t len = n;
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 || len > HQ_CONFIG_ID_MAX || cfg->nstores >= HQ_CONFIG_STORES_MAX)
            return -1;
        char id[HQ_CONFIG_ID_MAX + 1];
        memcpy(id, p, len);
        id[len] = '\0';
        if (!inifile_valid_id(id, HQ_CONFIG_ID_MAX))
            return -1;
        if (hq_config_has_store(cfg, id))
            return -1;
        memcpy(cfg->stores[cfg->nstores++], id, len + 1);
        p += n;
        if (*p == ',' && *++p == '\0')
            return -1; /* a trailing comma */
    }
    return 0;
}

/* [hq] http_listen: host:port, or empty for no HTTP endpoint. */
static int set_http_listen(struct hq_config *cfg, const char *value, const char **why)
{
    *why = "expected host:port with a port of 1-65535, or nothing";
    if (value[0] == '\0') {
        cfg->http_host[0] = '\0';
        cfg->http_port = 0;
        return 0;
    }
    return inifile_parse_listen(value, cfg->http_host, sizeof(cfg->http_host), &cfg->http_port);
}

/* Returns 0 on success, -1 with a reason in `why` on a bad value, -2 for an unknown key. */
static int apply(void *user, const char *section, const char *name, const char *value,
                 const char **why)
{
    struct hq_config *cfg = user;
    int64_t n = 0;
    if (strcmp(section, "hq") == 0) {
        if (strcmp(name, "brand") == 0) {
            *why = "expected 1-32 characters of [A-Za-z0-9_-]";
            if (!inifile_valid_id(value, HQ_CONFIG_ID_MAX))
                return -1;
            snprintf(cfg->brand, sizeof(cfg->brand), "%s", value);
            return 0;
        }
        if (strcmp(name, "data_dir") == 0) {
            *why = "expected a non-empty path of at most 160 characters";
            if (value[0] == '\0' || strlen(value) > HQ_CONFIG_PATH_MAX)
                return -1;
            snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", value);
            return 0;
        }
        if (strcmp(name, "share_group") == 0) {
            *why = "expected nothing or 1-32 characters of [A-Za-z0-9_-]";
            if (value[0] != '\0' && !inifile_valid_id(value, HQ_CONFIG_ID_MAX))
                return -1;
            snprintf(cfg->share_group, sizeof(cfg->share_group), "%s", value);
            return 0;
        }
        if (strcmp(name, "stores") == 0)
            return add_stores(cfg, value, why);
        if (strcmp(name, "phone_key") == 0) {
            *why = "expected 64 hex digits (32 bytes)";
            if (num_hex_decode(value, cfg->phone_key, HQ_PHONE_KEY_LEN) != 0)
                return -1;
            cfg->has_phone_key = 1;
            return 0;
        }
        if (strcmp(name, "http_listen") == 0)
            return set_http_listen(cfg, value, why);
        if (strcmp(name, "time_beacon_s") == 0) {
            *why = "expected seconds from 1 to 3600";
            if (num_parse_i64(value, 1, 3600, &n) != 0)
                return -1;
            cfg->time_beacon_s = (int)n;
            return 0;
        }
        return -2;
    }
    if (strcmp(section, "mqtt") == 0) {
        if (strcmp(name, "host") == 0) {
            *why = "expected a host name or address of 1-160 characters";
            if (value[0] == '\0' || strlen(value) > HQ_CONFIG_HOST_MAX)
                return -1;
            snprintf(cfg->mqtt_host, sizeof(cfg->mqtt_host), "%s", value);
            return 0;
        }
        if (strcmp(name, "port") == 0) {
            *why = "expected a port from 1 to 65535";
            if (num_parse_i64(value, 1, 65535, &n) != 0)
                return -1;
            cfg->mqtt_port = (uint16_t)n;
            return 0;
        }
        if (strcmp(name, "client_id") == 0) {
            *why = "expected 1-64 characters of [A-Za-z0-9_-]";
            if (!inifile_valid_id(value, HQ_CONFIG_CLIENT_ID_MAX))
                return -1;
            snprintf(cfg->mqtt_client_id, sizeof(cfg->mqtt_client_id), "%s", value);
            return 0;
        }
        if (strcmp(name, "keepalive") == 0) {
            /* mosquitto refuses keepalives below 5 s. */
            *why = "expected seconds from 5 to 3600";
            if (num_parse_i64(value, 5, 3600, &n) != 0)
                return -1;
            cfg->mqtt_keepalive = (int)n;
            return 0;
        }
        return -2;
    }
    return -2;
}

ml_err hq_config_load(struct hq_config *cfg, const char *path, char *errbuf, size_t errlen)
{
    static const char *const sections[] = {"hq", "mqtt", NULL};
    return inifile_load(path, sections, apply, cfg, errbuf, errlen);
}
