/*
 * hq_http: the catch-up endpoint of `memberlink-hq serve` (libmicrohttpd), from which a
 * store fetches the signed messages MQTT did not bring it:
 *
 *   GET /v1/stores/<store>/changes?since=<cursor>
 *     200 application/x-ndjson: one signed message text per line (exactly the text
 *         published on MQTT), that store's messages with cursor > since in cursor order,
 *         at most HQ_CHANGES_LINES_MAX lines and HQ_CHANGES_BYTES_MAX bytes (at least one
 *         line); "X-More: 1" when more remain. With since=0 (a first start), every
 *         unexpired campaign message comes first. A store HQ does not know (not in
 *         [hq] stores, never sent anything): 200 with no lines.
 *     400 since missing or not an integer 0..2^53; 404 other paths; 405 other methods.
 *
 * MHD runs its own single polling thread; that thread alone uses this module's read-only
 * SQLite connection (WAL readers never block the writer). Each request reads in one read
 * transaction, so a response is one consistent snapshot. Errors are logged here (this is
 * the handler).
 */
#ifndef ML_HQ_HTTP_H
#define ML_HQ_HTTP_H

#include <stddef.h>

#include "hq_config.h"
#include "ml_err.h"

#define HQ_CHANGES_LINES_MAX 1000
#define HQ_CHANGES_BYTES_MAX (8u * 1024u * 1024u) /* per-store lines of one response */
#define HQ_HTTP_CONNECTIONS_MAX 64
#define HQ_HTTP_TIMEOUT_S 30

struct hq_http;

/*
 * Opens db_path read-only and listens on cfg->http_host:http_port. Borrows cfg (must
 * outlive the server). ML_CONFIG when the address cannot be used, ML_STORAGE when the
 * database cannot be opened; one line in errbuf. Stop with hq_http_stop().
 */
ml_err hq_http_start(const struct hq_config *cfg, const char *db_path, struct hq_http **ret_http,
                     char *errbuf, size_t errlen);

/* Stops the thread, closes the connection. NULL-safe. */
void hq_http_stop(struct hq_http *h);

#endif
