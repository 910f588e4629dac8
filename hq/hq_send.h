/*
 * hq_send: what every push command of memberlink-hq does once its bodies are ready (hq_cmd.h):
 * load the signing key, sign and store every message in one transaction (hq_push.h), then
 * publish them (hq_pub.h), record which the broker acknowledged (hq_outgoing.h), and print
 * one line per message and a summary on stdout. Refusals and errors are reported on stderr,
 * once, here; nothing is sent when anything is refused.
 */
#ifndef ML_HQ_SEND_H
#define ML_HQ_SEND_H

#include <stddef.h>

#include "hq_bodies.h"
#include "hq_config.h"
#include "hq_pub.h"
#include "hq_store.h"

/* A push: messages of one kind, built from bodies; all borrowed. */
struct hq_send_job {
    const char *kind;
    int campaign; /* one campaign.upsert or campaign.withdraw, no stores */
    const struct hq_bodies *bodies;
    const char *source;        /* file name for error messages, or the command */
    const char *const *stores; /* per-store kinds: the stores each body goes to */
    size_t nstores;
};

/* Runs j; returns the exit status (hq_cli.h): 0 stored (published or not: stores catch up
 * over HTTP), 1 runtime error, 2 refused (nothing stored). */
int hq_send_run(const struct hq_config *cfg, const struct hq_send_job *j);

/* Opens (creating data_dir and migrating) the database of cfg for writing. The exit status;
 * on failure one line on stderr. */
int hq_send_open(const struct hq_config *cfg, struct hq_store **ret);

/*
 * Publishes n stored messages, ids[i] the message id of items[i], and records the
 * acknowledged ones. Returns how many the broker acknowledged; a failure is a warning on
 * stderr (the messages are stored), naming campaigns when any_campaign.
 */
size_t hq_send_publish(const struct hq_config *cfg, struct hq_store *st, struct hq_pub_item *items,
                       const char *const *ids, size_t n, int any_campaign);

#endif
