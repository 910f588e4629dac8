/*
 * hq_config: the INI configuration of memberlink-hq, the reference HQ.
 *
 *   [hq]   brand = demo          topic root ml/<brand>/
 *          data_dir = ./var/hq   hq.db (SQLite), hq.lock and the signing key live here
 *          share_group =         empty: plain subscription; else $share/<group>/...
 *          stores = S001,S002    stores a push goes to without --store; the key may be
 *                                repeated, each line adds to the list
 *          phone_key =           64 hex: the brand phone key (HMAC-SHA256) that keys a
 *                                plaintext "phone" in `push member`
 *          http_listen =         host:port of the catch-up endpoint of `serve`; empty: off
 *   [mqtt] host = 127.0.0.1, port = 1883, client_id = memberlink-hq, keepalive = 30
 *
 * Every key has an embedded default, so no file is needed. Unknown sections or keys are
 * errors, so a typo never silently falls back to a default.
 */
#ifndef ML_HQ_CONFIG_H
#define ML_HQ_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "inifile.h" /* inifile_valid_id() for ids */
#include "ml_err.h"

#define HQ_CONFIG_ID_MAX 32        /* brand, share_group: [A-Za-z0-9_-]{1,32} */
#define HQ_CONFIG_CLIENT_ID_MAX 64 /* [A-Za-z0-9_-]{1,64} */
#define HQ_CONFIG_PATH_MAX 160
#define HQ_CONFIG_HOST_MAX 160
#define HQ_CONFIG_STORES_MAX 1024 /* [hq] stores: ids listed at most */
#define HQ_PHONE_KEY_LEN 32       /* bytes of [hq] phone_key */

struct hq_config {
    char brand[HQ_CONFIG_ID_MAX + 1];
    char data_dir[HQ_CONFIG_PATH_MAX + 1];
    char share_group[HQ_CONFIG_ID_MAX + 1]; /* "" = plain subscription */
    char mqtt_host[HQ_CONFIG_HOST_MAX + 1];
    uint16_t mqtt_port;
    char mqtt_client_id[HQ_CONFIG_CLIENT_ID_MAX + 1];
    int mqtt_keepalive;                                      /* seconds */
    char stores[HQ_CONFIG_STORES_MAX][HQ_CONFIG_ID_MAX + 1]; /* [hq] stores, in order */
    size_t nstores;
    uint8_t phone_key[HQ_PHONE_KEY_LEN];
    int has_phone_key;
    char http_host[HQ_CONFIG_HOST_MAX + 1]; /* "" with http_port 0: no HTTP endpoint */
    uint16_t http_port;
    int time_beacon_s; /* [hq] time_beacon_s: the signed hq.time beacon's period */
};

/* Fills cfg with the embedded defaults. */
void hq_config_defaults(struct hq_config *cfg);

/*
 * Reads `path` over the values already in cfg. On failure returns ML_CONFIG with one
 * line in errbuf naming the file, line and key; cfg may then be partly updated.
 */
ml_err hq_config_load(struct hq_config *cfg, const char *path, char *errbuf, size_t errlen);

/* 1 when `store` is one of [hq] stores. */
int hq_config_has_store(const struct hq_config *cfg, const char *store);

#endif
