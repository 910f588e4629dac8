/*
 * catchup: one HTTP(S) download of HQ's changes for this store
 * (GET <hq_url>/v1/stores/<store>/changes?since=<cursor>, signed NDJSON), run on a helper
 * thread because libcurl would otherwise block the loop. The thread only downloads: it
 * never touches the database. It hands the body back through a pipe the loop polls; the
 * loop's thread verifies and applies the lines (inbox.c).
 */
#ifndef ML_CATCHUP_H
#define ML_CATCHUP_H

#include <stddef.h>

#include "ml_err.h"

#define CATCHUP_BODY_MAX (16u * 1024u * 1024u) /* bytes of one changes response */
#define CATCHUP_TIMEOUT_S 30

struct catchup;

struct catchup_result {
    long status; /* HTTP status, 0 when the request failed */
    char *body;  /* malloc'd, NUL-terminated; caller frees */
    size_t len;
    int more;        /* HQ said X-More: 1 */
    char error[160]; /* why, when status != 200 */
};

/* Caller frees with catchup_free(). */
struct catchup *catchup_new(void);
/* Joins a running download. NULL-safe. */
void catchup_free(struct catchup *c);

int catchup_fd(const struct catchup *c); /* readable when a result is ready */
int catchup_busy(const struct catchup *c);

/* Starts downloading `url`; ML_FAILURE when one is already running. */
ml_err catchup_start(struct catchup *c, const char *url);

/* Takes the finished result (after catchup_fd became readable). 0 on success. */
int catchup_collect(struct catchup *c, struct catchup_result *ret);

#endif
