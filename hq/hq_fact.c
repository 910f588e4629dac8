/* hq_fact: body checks before signing; see hq_fact.h. */
#include "hq_fact.h"

#include <stdio.h>
#include <stdlib.h>

#include "canon.h"
#include "fact.h"

ml_err hq_fact_check(const char *kind, const cJSON *body, char entity[HQ_ENTITY_MAX + 1],
                     int64_t *ret_version, struct ml_refusal *r)
{
    /* What a version counts for: upsert and withdrawal share the campaign's versions, grant
     * and revoke the coupon's. */
    static const char *const entity_of[] = {
        [FACT_MEMBER_UPSERT] = "member",
        [FACT_GUIDE_UPSERT] = "guide",
        [FACT_GUIDE_BIND] = "bind",
        [FACT_CAMPAIGN_UPSERT] = "campaign",
        [FACT_CAMPAIGN_WITHDRAW] = "campaign",
        [FACT_COUPON_GRANT] = "coupon",
        [FACT_COUPON_REVOKE] = "coupon",
        [FACT_DENY_UPSERT] = "deny",
        [FACT_SETTLEMENT_NOTICE] = "settlement",
    };
    struct fact f;
    if (!cJSON_IsObject(body))
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "a %s body must be a JSON object",
                         kind);
    if (fact_parse(kind, body, FACT_VERSION_OPTIONAL | FACT_TO_SEND, &f, r) != ML_OK)
        return ML_PARSE;
    /* What canon refuses (invalid UTF-8, fractions, duplicate keys, depth) would fail at
     * signing; say so here, about the body. */
    char *text = canon_json(body);
    if (text == NULL)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "the body cannot be signed: a number that is not an integer of at "
                         "most 2^53, a key twice, invalid UTF-8 or nesting past %d levels",
                         CANON_DEPTH_MAX - 1);
    free(text);
    snprintf(entity, HQ_ENTITY_MAX + 1, "%s:%s", entity_of[f.kind], f.id);
    *ret_version = f.version;
    return ML_OK;
}
