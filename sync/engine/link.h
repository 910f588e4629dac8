/*
 * link: the MQTT session with HQ (docs/protocol.md), driven by the agent's poll loop.
 *
 * libmosquitto runs without its thread: the loop polls link_fd() for link_events() and
 * calls link_io(); link_tick() runs the timers (keepalive, reconnect with jittered backoff,
 * ack flushing, resending, status). Every callback therefore runs on the thread that owns
 * the database.
 *
 * What arrives is routed by topic: HQ's signed messages to the inbox (inbox.h; a cursor gap
 * starts the HTTP catch-up, catchup.h), acks to the in-flight window (window.h), and the
 * batches other terminals of this store publish (heard on the store broker) event by event
 * to the agent's peer_event handler. What goes out is the outbox (window.h) and this
 * terminal's retained presence (presence.h).
 */
#ifndef ML_LINK_H
#define ML_LINK_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "db.h"
#include "inbox.h"
#include "ml_err.h"
#include "sign.h"

#define LINK_ACK_PAYLOAD_MAX 1048576          /* bytes of one ack message accepted */
#define LINK_PEER_BATCH_MAX (2 * 1024 * 1024) /* a peer's batch larger than this is ignored */

/* The settings of the session; strings are borrowed and must outlive the link. */
struct link_config {
    const char *brand, *store, *terminal;
    const char *version; /* the agent's, in the presence message */
    const char *host;
    uint16_t port;
    const char *client_id;                   /* "" or NULL: "<brand>-<store>-<terminal>" */
    int keepalive;                           /* seconds */
    const char *tls_ca, *tls_cert, *tls_key; /* "" or NULL: none */
    int batch_events, batch_bytes, inflight, ack_timeout_s;
    const char *hq_url;         /* "" or NULL: no HTTP catch-up */
    int64_t outbox_warn_events; /* warn loudly past this outbox depth */
};

/* What the agent does with what arrives; every function runs on the loop's thread. */
struct link_handler {
    struct inbox_handler inbox; /* verified HQ messages (inbox.h) */
    /*
     * Another terminal of this store sent this event to HQ (one event of its batch on the
     * store broker: type, body and its `at`), called with inbox.arg (the agent's one
     * argument for all of these). Runs inside a savepoint
     * for the whole batch.
     * ML_OK, also for an event it ignores or refuses as out of form; ML_STORAGE / ML_NOMEM
     * undo the batch.
     */
    ml_err (*peer_event)(void *arg, const char *terminal, const char *type, const cJSON *body,
                         int64_t at_ms);
};

struct link;

/* Creates the session and starts connecting. Copies cfg and h; borrows the rest, and cfg's
 * strings (keys may be NULL: every HQ message is refused). Caller frees with link_stop(). */
ml_err link_start(const struct link_config *cfg, struct db *db, const struct sign_keyring *keys,
                  int64_t (*now_ms)(void), const struct link_handler *h, struct link **ret,
                  char *errbuf, size_t errlen);

int link_fd(struct link *l);         /* -1 while not connected */
short link_events(struct link *l);   /* POLLIN, plus POLLOUT while output is queued */
int link_timeout_ms(struct link *l); /* until the next timer */
void link_io(struct link *l, short revents);
void link_tick(struct link *l);

int link_connected(const struct link *l); /* NULL-safe: 0 */

/* The HTTP catch-up's fd while a download runs (-1 otherwise); when it is readable, call
 * link_catchup_ready(). */
int link_catchup_fd(struct link *l);
void link_catchup_ready(struct link *l);

const struct inbox_stats *link_inbox_stats(const struct link *l);

/* Publishes the offline status, disconnects and frees. NULL-safe. */
void link_stop(struct link *l);

#endif
