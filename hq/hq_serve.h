/*
 * hq_serve: `memberlink-hq serve`, the ingest. It subscribes to every store's event topic
 * (topic_events_filter()) and acknowledges what it has stored (hq_ingest.h), once the
 * commit holding it is on disk. With [hq] http_listen set it also answers the stores'
 * catch-up requests (hq_http.h) on a libmicrohttpd thread with its own read-only
 * connection; with a signing key it publishes the time beacon every [hq] time_beacon_s and
 * the settlement messages of coupons redeemed past their uses (hq_settle.h).
 *
 * The session is persistent (clean_session = false, fixed client_id): QoS 1 batches
 * published while HQ is down are queued by the broker and delivered on reconnect. Several
 * instances can share the load with [hq] share_group (a shared subscription); each then
 * needs its own client_id and data_dir (see hq_store.c on deduplication across instances).
 * The broker's message_size_limit should be set to HQ_BATCH_BYTES_MAX as well: libmosquitto
 * receives a whole message before HQ can refuse it.
 */
#ifndef ML_HQ_SERVE_H
#define ML_HQ_SERVE_H

#include "hq_config.h"

/* Socket reads of one burst; the batches they bring share one commit. A read may bring
 * several (libmosquitto reads what the socket holds), so a burst may hold more. */
#define HQ_GROUP_MAX 64

/* Runs until SIGTERM or SIGINT (exit status 0) or a fatal error (1; 2 for a database
 * newer than this program, or an [hq] http_listen that cannot be used). Logs what it does.
 * Borrows cfg. */
int hq_serve(const struct hq_config *cfg);

#endif
