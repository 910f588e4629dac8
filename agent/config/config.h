/*
 * config: the INI configuration shared by memberlinkd and the memberlink CLI.
 *
 * The keys are a contract with operators (docs/operations.md). Every key has an
 * embedded default, so `memberlinkd` runs without a file. Unknown sections or keys
 * are errors, so a typo never silently falls back to a default.
 */
#ifndef ML_CONFIG_H
#define ML_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"

#define CONFIG_ID_MAX 32 /* brand, store, terminal: [A-Za-z0-9_-]{1,32} */
#define CONFIG_PATH_MAX 512
#define CONFIG_TOKEN_MIN 16
#define CONFIG_TOKEN_MAX 128
#define CONFIG_PHONE_KEY_LEN 32 /* bytes; hex in the file */
#define CONFIG_PUBKEYS_MAX 16
#define CONFIG_PUBKEY_SPEC_MAX 96 /* "kid=base64" */
/* Largest money figure a cap may name: the largest sale (CHECKOUT_SUBTOTAL_MAX). */
#define CONFIG_MONEY_MAX INT64_C(1000000000000)

/* [offline]: the caps on what the terminal decides without HQ (agent/risk.h). */
struct config_offline {
    int64_t contact_window_s;         /* HQ heard within this: the terminal is online */
    int64_t coupon_max_value;         /* largest discount of one coupon redeemed offline */
    int64_t member_daily_redemptions; /* offline redemptions per member per calendar day */
    int64_t terminal_max_value;       /* offline redemption value since the last HQ contact */
    int64_t max_offline_s;            /* no offline redemption past this long without HQ */
    int64_t points_margin_bp;         /* share of the known balance kept back offline */
};

struct config {
    char brand[CONFIG_ID_MAX + 1];
    char store[CONFIG_ID_MAX + 1];
    char terminal[CONFIG_ID_MAX + 1];
    /* Brand phone key; has_phone_key = 0 means "read or create <data_dir>/phone.key". */
    uint8_t phone_key[CONFIG_PHONE_KEY_LEN];
    int has_phone_key;

    char data_dir[CONFIG_PATH_MAX];
    char api_host[64];
    uint16_t api_port;
    /* Empty means "read or create <data_dir>/api.token". */
    char api_token[CONFIG_TOKEN_MAX + 1];
    size_t api_max_body;        /* bytes; [agent] api_max_body */
    int64_t outbox_warn_events; /* [agent] outbox_warn_events: warn loudly past this depth */

    /* [mqtt]: the link to HQ. An empty host means no sync: the terminal runs offline. */
    char mqtt_host[256];
    uint16_t mqtt_port;
    char mqtt_client_id[128]; /* empty: "<brand>-<store>-<terminal>" */
    int mqtt_keepalive;       /* seconds */
    char mqtt_tls_ca[CONFIG_PATH_MAX];
    char mqtt_tls_cert[CONFIG_PATH_MAX];
    char mqtt_tls_key[CONFIG_PATH_MAX];
    int mqtt_batch_events;  /* events per MQTT message */
    int mqtt_batch_bytes;   /* bytes per MQTT message */
    int mqtt_inflight;      /* batches sent and not yet acknowledged by HQ */
    int mqtt_ack_timeout_s; /* resend a batch HQ has not acknowledged after this */

    /* [hq] */
    char hq_url[512];
    char hq_pubkeys[CONFIG_PUBKEYS_MAX][CONFIG_PUBKEY_SPEC_MAX]; /* "kid=base64", repeatable */
    int hq_npubkeys;

    struct config_offline offline;
    int64_t qr_time_window_s; /* [qr] time_window_s: a display proof's time, +- this */
};

/* Fills cfg with the embedded defaults. */
void config_defaults(struct config *cfg);

/*
 * Loads `path` over the defaults. On failure returns ML_CONFIG and writes one line
 * naming the file, line and key into `errbuf` (never NULL, `errlen` > 0).
 */
ml_err config_load(struct config *cfg, const char *path, char *errbuf, size_t errlen);

/*
 * Resolves the secrets that may live in data_dir: the API token and the phone key.
 * With `create` set, missing files are generated (mode 0600); otherwise they must exist.
 */
ml_err config_resolve_secrets(struct config *cfg, int create, char *errbuf, size_t errlen);

/* Parses "host:port". Returns ML_CONFIG on anything else. */
ml_err config_parse_listen(const char *value, char *host, size_t hostlen, uint16_t *ret_port);

#endif
