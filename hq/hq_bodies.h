/*
 * hq_bodies: the JSON bodies a push command reads from its input file (docs/hq.md): one
 * JSON object, a JSON array of objects, or NDJSON (one object per line; blank lines and
 * lines starting with '#' skipped). Each object is a body, or a fact line
 * {"kind":..,"body":{..}} whose kind must be the command's. Bounded: HQ_BODIES_FILE_MAX
 * bytes of input, HQ_BODIES_MAX bodies.
 */
#ifndef ML_HQ_BODIES_H
#define ML_HQ_BODIES_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "hq_push.h"

#define HQ_BODIES_FILE_MAX (64L * 1024 * 1024) /* bytes of an input file */
#define HQ_BODIES_MAX HQ_PUSH_MESSAGES_MAX

/* Bodies in input order, owned; a zeroed struct is empty. */
struct hq_bodies {
    cJSON **v;
    int *line; /* source line of each, 0 when the file is one JSON document */
    size_t n, cap;
};

/* Frees every body and empties b. */
void hq_bodies_free(struct hq_bodies *b);

/* Takes ownership of v. -1 when out of memory or past HQ_BODIES_MAX (v freed then). */
int hq_bodies_add(struct hq_bodies *b, cJSON *v, int line);

/*
 * Reads the bodies of `kind` from path into out; `many` = 0 allows exactly one. HQ_EXIT_OK,
 * or HQ_EXIT_USAGE after one usage line naming the file (and the line or element) and what
 * is wrong; out may then hold some bodies (free it either way).
 */
int hq_bodies_read(const char *path, const char *kind, int many, struct hq_bodies *out);

#endif
