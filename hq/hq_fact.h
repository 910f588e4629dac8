/*
 * hq_fact: the bodies HQ signs (docs/facts.md), checked before they are signed, so HQ never
 * sends a fact every store would refuse: by the schema the stores apply (sync/wire/fact.h),
 * and by what signing needs (canon.h).
 *
 * Refusals come back in an ml_refusal (code "invalid_request") naming the field.
 */
#ifndef ML_HQ_FACT_H
#define ML_HQ_FACT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "fact.h"
#include "ml_err.h"

#define HQ_FACT_ID_MAX FACT_ID_MAX
/* "kind:id": what a version counts for, e.g. "coupon:C1" (grant and revoke share it) */
#define HQ_ENTITY_MAX (16 + HQ_FACT_ID_MAX)
#define HQ_VERSION_MAX FACT_TIME_MAX /* the bound on times and versions */

/*
 * Checks body as the store would apply it as `kind`. "version" may be absent (the caller
 * picks one); when present it must be 1..HQ_VERSION_MAX. On ML_OK, entity[HQ_ENTITY_MAX + 1]
 * names what the version counts for and *ret_version is the body's version or 0. ML_PARSE
 * with r filled otherwise. Borrows body.
 */
ml_err hq_fact_check(const char *kind, const cJSON *body, char entity[HQ_ENTITY_MAX + 1],
                     int64_t *ret_version, struct ml_refusal *r);

#endif
