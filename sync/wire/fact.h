/*
 * fact: the one schema of HQ facts (docs/facts.md), for both ends: HQ checks a body before
 * it signs it, so it never sends a fact every store would refuse; the store checks it before
 * applying it. fact_parse() validates a body of a kind and hands back its fields typed, so
 * the applier reads values, not JSON, and no limit is written twice.
 *
 * Refusals are ML_PARSE with a 400 invalid_request ml_refusal naming the field. Strings in
 * the result are borrowed from the body (valid while it lives).
 */
#ifndef ML_FACT_H
#define ML_FACT_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "ml_err.h"
#include "phone.h"

#define FACT_ID_MAX 64                         /* member_id, coupon_id, campaign_id... */
#define FACT_TIME_MAX (INT64_C(1) << 50)       /* times (ms) and versions */
#define FACT_POINTS_MAX INT64_C(1000000000000) /* a member's balance */
#define FACT_MONEY_MAX INT64_C(100000000000)   /* a coupon's value, max_off, min_spend */
#define FACT_AMOUNT_MAX FACT_TIME_MAX /* a settlement: HQ's sum, may exceed one coupon's value */
#define FACT_TIER_MAX 32              /* tier and plan names */
#define FACT_NAME_MAX 64              /* a guide's name */
#define FACT_STORE_MAX 32             /* a store id */
#define FACT_CATEGORY_MAX 32          /* a sale line category */
#define FACT_CATEGORIES_MAX 64        /* categories of one coupon */
#define FACT_USES_MAX 1000000         /* uses of one coupon */
#define FACT_REASON_MAX 32            /* a deny reason: [a-z_] */
#define FACT_PRIORITY_MAX 1000        /* campaign priority, +- */
/* Campaign documents. The points bounds keep the largest sale's points exact in JSON:
 * 1e10 yuan x 100 x 5 x 5 = 2.5e13. */
#define FACT_TARGETS_MAX 64 /* entries of stores/tiers/plans lists and rate maps */
#define FACT_TARGET_MAX 64  /* bytes of one entry */
#define FACT_EARN_PER_YUAN_MAX 100
#define FACT_MULTIPLIER_BP_MAX 50000
#define FACT_REDEEM_PPY_MAX 1000000 /* redeem_points_per_yuan */

enum fact_kind {
    FACT_MEMBER_UPSERT = 1,
    FACT_GUIDE_UPSERT,
    FACT_GUIDE_BIND,
    FACT_CAMPAIGN_UPSERT,
    FACT_CAMPAIGN_WITHDRAW,
    FACT_COUPON_GRANT,
    FACT_COUPON_REVOKE,
    FACT_DENY_UPSERT,
    FACT_SETTLEMENT_NOTICE,
};

struct fact_member {
    int has_phone_key;                /* phone_hmac was given: */
    uint8_t phone_key[PHONE_KEY_LEN]; /* its 64 hex digits, decoded */
    const char *phone_masked;         /* "" when absent */
    const char *tier;                 /* "basic" when absent */
    const char *plan;                 /* NULL: none */
    int64_t plan_until;               /* with plan */
    int64_t points, points_version;
    int blocked; /* status "blocked" (else "active") */
};

struct fact_guide {
    const char *name;  /* "" when absent */
    const char *store; /* NULL when absent */
    int active;        /* status "active" (else "inactive") */
};

struct fact_bind {
    const char *guide_id; /* NULL: unbind */
    int64_t until;        /* with guide_id */
};

struct fact_campaign {
    int64_t priority, valid_from, valid_to;
};

struct fact_grant {
    const char *member_id;   /* NULL: a bearer coupon */
    const char *campaign_id; /* NULL: none */
    int percent;             /* kind percent_off (value in bp) or amount_off (minor units) */
    int64_t value, max_off, min_spend;
    const cJSON *categories; /* NULL (every category) or an array of 1..64 strings */
    int64_t valid_from, valid_to;
    int64_t uses;
    int offline_ok;
};

struct fact_deny {
    int member; /* subject "member" (else "coupon") */
    const char *reason;
    int lifted;
};

struct fact_settlement {
    const char *coupon_id, *sale_id;
    int64_t amount;
};

struct fact {
    enum fact_kind kind;
    const char *id;  /* the entity's id: member_id, guide_id, campaign_id, coupon_id, ... */
    int64_t version; /* 0 when absent (only with FACT_VERSION_OPTIONAL) */
    union {
        struct fact_member member;
        struct fact_guide guide;
        struct fact_bind bind;
        struct fact_campaign campaign;
        struct fact_grant grant;
        struct fact_deny deny;
        struct fact_settlement settlement;
    } u;
};

/* "version" may be absent (HQ assigns one before signing); present, it is 1..FACT_TIME_MAX. */
#define FACT_VERSION_OPTIONAL 1
/* What HQ sends is held to more than a store needs to apply it: a campaign_id that is a level
 * of its MQTT topic (1..64 of [A-Za-z0-9_.-]) and categories that are not empty. A store
 * keeps applying what stores always applied (a third party's HQ, a fact file). */
#define FACT_TO_SEND 2

/*
 * Validates body as a fact of `kind` ("member.upsert", ... see enum fact_kind) and fills
 * *ret. ML_PARSE with r filled for an unknown kind, a body that is not an object or a field
 * out of the schema (nothing of *ret is then meaningful). Borrows kind and body.
 */
ml_err fact_parse(const char *kind, const cJSON *body, int flags, struct fact *ret,
                  struct ml_refusal *r);

/* Checks a campaign document's rules alone (targets, points, commission, coupons): the part
 * of campaign.upsert that rules.h applies. ML_PARSE with r filled. */
ml_err fact_check_rules(const cJSON *campaign, struct ml_refusal *r);

/* 1 for the kinds HQ sends to one store (its inbox), 0 for brand-wide ones (campaigns) and
 * unknown kinds. */
int fact_per_store(const char *kind);

#endif
