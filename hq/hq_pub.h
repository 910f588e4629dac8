/*
 * hq_pub: publishes already stored messages once, for the commands that push (not for
 * `serve`, which has its own session): a short MQTT session with clean_session = true
 * under the client id "<[mqtt] client_id>-push-<pid>", so it never takes over the
 * persistent session of `serve`. QoS 1; a message counts as sent when the broker's PUBACK
 * arrives.
 *
 * Failing to publish is not fatal for HQ: the messages are stored, and stores fetch them
 * over HTTP catch-up. So this module reports how far it got and logs nothing.
 */
#ifndef ML_HQ_PUB_H
#define ML_HQ_PUB_H

#include <stddef.h>

#include "hq_config.h"
#include "ml_err.h"

#define HQ_PUB_WINDOW 64             /* messages waiting for their PUBACK at a time */
#define HQ_PUB_IDLE_TIMEOUT_MS 10000 /* give up when the broker stays silent this long */

struct hq_pub_item {
    const char *topic; /* borrowed */
    const char *text;  /* borrowed */
    size_t len;
    int retain;
    int acked; /* out: 1 once the broker acknowledged it */
};

/*
 * Connects to the broker of cfg and publishes items in order. Returns ML_OK when every
 * item was acknowledged, else ML_FAILURE with one line in errbuf, which does not name the
 * broker (some items may be acked; see their flags). Borrows everything.
 */
ml_err hq_pub_send(const struct hq_config *cfg, struct hq_pub_item *items, size_t n, char *errbuf,
                   size_t errlen);

#endif
