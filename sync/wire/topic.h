/*
 * topic: the MQTT topics of the store-HQ protocol (docs/protocol.md), built and read in one
 * place for both ends. Every id in a topic is 1..TOPIC_ID_MAX of [A-Za-z0-9_-] (campaign ids
 * also '.'), so a topic never holds a wildcard, a '/' of its own or a NUL.
 *
 *   ml/<brand>/s/<store>/<terminal>/ev      store -> HQ: batches of events
 *   ml/<brand>/s/<store>/<terminal>/ack     HQ -> store: acknowledgements
 *   ml/<brand>/s/<store>/<terminal>/status  store -> all: retained presence, and the will
 *   ml/<brand>/s/<store>/inbox              HQ -> store: signed per-store messages
 *   ml/<brand>/hq/campaign/<campaign_id>    HQ -> stores: signed campaigns, retained
 *   ml/<brand>/hq/time                      HQ -> stores: the signed time beacon
 */
#ifndef ML_TOPIC_H
#define ML_TOPIC_H

#include <stddef.h>

#define TOPIC_MAX 256   /* bytes of every topic built here, NUL included, is below this */
#define TOPIC_ID_MAX 64 /* bytes of one id level */

enum topic_terminal_kind { TOPIC_EV, TOPIC_ACK, TOPIC_STATUS };

/* Each writes the topic into buf (len bytes; TOPIC_MAX suffices for valid ids). */
void topic_terminal(char *buf, size_t len, const char *brand, const char *store,
                    const char *terminal, enum topic_terminal_kind kind);
void topic_inbox(char *buf, size_t len, const char *brand, const char *store);
void topic_campaign(char *buf, size_t len, const char *brand, const char *campaign_id);
void topic_time(char *buf, size_t len, const char *brand);

/* Subscription filters: every campaign (ml/<brand>/hq/campaign/+); every terminal's events
 * of one store (ml/<brand>/s/<store>/+/ev), or of the whole brand (store NULL), optionally
 * as a shared subscription $share/<group>/... (group NULL or "": plain). */
void topic_campaigns_filter(char *buf, size_t len, const char *brand);
void topic_events_filter(char *buf, size_t len, const char *brand, const char *store,
                         const char *share_group);

/* 1 if id may be a topic level (1..max of [A-Za-z0-9_-], and '.' when dots is set). */
int topic_id_valid(const char *id, size_t max, int dots);

/*
 * Reads ml/<brand>/s/<store>/<terminal>/ev: 0 with store and terminal (each 1..id_max of
 * [A-Za-z0-9_-], NUL-terminated into buffers of id_max + 1 bytes), -1 for any other topic.
 */
int topic_parse_events(const char *topic, const char *brand, size_t id_max, char *store,
                       char *terminal);

/* The campaign id of ml/<brand>/hq/campaign/<id> (a valid id: topic_id_valid with dots),
 * borrowed from topic; NULL for any other topic. */
const char *topic_campaign_id(const char *topic, const char *brand);

#endif
