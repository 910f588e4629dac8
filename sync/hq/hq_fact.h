/*
 * hq_fact: the bodies HQ signs (docs/facts.md), checked before they are signed, so HQ
 * never sends a fact every store would refuse. The store's agent/facts.c stays the
 * authority; these checks follow it field by field.
 *
 * Refusals come back in an ml_refusal (code "invalid_request") naming the field.
 */
#ifndef ML_HQ_FACT_H
#define ML_HQ_FACT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"

#define HQ_FACT_ID_MAX 64 /* member_id, coupon_id, campaign_id... (FACT_ID_MAX) */
/* "kind:id": what a version counts for, e.g. "coupon:C1" (grant and revoke share it) */
#define HQ_ENTITY_MAX (16 + HQ_FACT_ID_MAX)
#define HQ_VERSION_MAX (INT64_C(1) << 50) /* facts.c's bound on times and versions */

/* 1 for the per-store kinds: member.upsert, guide.upsert, guide.bind, coupon.grant,
 * coupon.revoke. */
int hq_fact_per_store(const char *kind);

/*
 * Checks body as the store would apply it as `kind` (per-store kinds and
 * "campaign.upsert"). "version" may be absent (the caller picks one); when present it
 * must be 1..HQ_VERSION_MAX. On ML_OK, entity[HQ_ENTITY_MAX + 1] names what the version
 * counts for and *ret_version is the body's version or 0. ML_PARSE with r filled
 * otherwise. Borrows body.
 */
ml_err hq_fact_check(const char *kind, const cJSON *body, char entity[HQ_ENTITY_MAX + 1],
                     int64_t *ret_version, struct ml_refusal *r);

/*
 * A member body's plaintext "phone" replaced by "phone_hmac" (HMAC-SHA256 under key, lower
 * case hex) and "phone_masked". A body without "phone" is left alone. ML_CONFIG when there
 * is a phone but key is NULL; ML_PARSE when it is not a mainland mobile number.
 */
ml_err hq_fact_key_phone(cJSON *body, const uint8_t *key, struct ml_refusal *r);

/* 1 if id may be a topic level: 1..64 of [A-Za-z0-9_.-] (campaign ids). */
int hq_fact_topic_id(const char *id);

#endif
