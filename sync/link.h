/*
 * link: the MQTT session with HQ (docs/protocol.md), driven by the agent's poll loop.
 *
 * libmosquitto runs without its thread: the loop polls link_fd() for link_events() and
 * calls link_io(); link_tick() runs the timers (keepalive, reconnect with jittered
 * backoff, ack flushing, resending, status). Every callback therefore runs on the thread
 * that owns the database.
 *
 * Delivery: the SQLite outbox is the only durable queue. Batches of at most
 * [mqtt] batch_events events / batch_bytes bytes go out at QoS 1, at most [mqtt] inflight
 * at a time; an event leaves the outbox only when HQ's application ack names it. A batch
 * not acknowledged within [mqtt] ack_timeout_s, and everything unacknowledged after a
 * reconnect, is sent again; HQ deduplicates by event id.
 */
#ifndef ML_LINK_H
#define ML_LINK_H

#include <stdint.h>

#include "ctx.h"
#include "ml_err.h"

#define LINK_ACK_IDS_MAX 4096        /* acked ids buffered before a forced flush */
#define LINK_ACK_PAYLOAD_MAX 1048576 /* bytes of one ack message accepted */
#define LINK_INFLIGHT_MAX 64

struct link;

struct link_stats {
    uint64_t batches_sent, batches_resent, events_acked, connects, disconnects;
};

/* Creates the session and starts connecting. Caller frees with link_stop(). */
ml_err link_start(struct ml_ctx *ctx, struct link **ret, char *errbuf, size_t errlen);

int link_fd(struct link *l);         /* -1 while not connected */
short link_events(struct link *l);   /* POLLIN, plus POLLOUT while output is queued */
int link_timeout_ms(struct link *l); /* until the next timer */
void link_io(struct link *l, short revents);
void link_tick(struct link *l);

int link_connected(const struct link *l);

/* The HTTP catch-up's fd while a download runs (-1 otherwise); when it is readable, call
 * link_catchup_ready(). */
int link_catchup_fd(struct link *l);
void link_catchup_ready(struct link *l);

struct inbox_stats;
const struct inbox_stats *link_inbox_stats(const struct link *l);
const struct link_stats *link_get_stats(const struct link *l);

/* Publishes the offline status, disconnects and frees. NULL-safe. */
void link_stop(struct link *l);

#endif
