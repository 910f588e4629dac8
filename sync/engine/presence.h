/*
 * presence: the retained status message of a terminal (docs/protocol.md, "Status"), on
 * ml/<brand>/s/<store>/<terminal>/status: online with its outbox figures while connected,
 * and the offline will the broker publishes when the connection is lost.
 */
#ifndef ML_PRESENCE_H
#define ML_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#define PRESENCE_MSG_MAX 512

struct presence {
    int online;
    const char *version, *store, *terminal;
    int64_t outbox_depth;
    int64_t oldest_unacked_age_ms;
    int outbox_warning;
    int64_t at; /* wall ms */
};

/* The message text into buf (PRESENCE_MSG_MAX bytes); its length, or -1 when it does not fit. */
int presence_message(char *buf, size_t len, const struct presence *p);

/* The will: offline, reason "lost". Its length, or -1. */
int presence_will(char *buf, size_t len, const char *version, const char *store,
                  const char *terminal);

#endif
