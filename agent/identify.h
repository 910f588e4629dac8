/*
 * identify: who or what is at the checkout (POST /v1/identify, docs/api.md).
 *
 *   {"phone": ".."}  a member by the number a shop assistant types (keyed, phone.h)
 *   {"qr": "ML1:.."}  a member by the code of their app: HQ's credential plus a fresh
 *                    display proof from their phone (docs/qr.md)
 *   {"qr": "MLG1:.."} a guide by their card, for attribution of the sale
 *   {"qr": "MLC1:.."} a bearer coupon by its code, looked up and checked
 *
 * A QR code is checked in the order DESIGN.md fixes: format (qr_malformed), issuer key
 * (qr_unknown_key), issuer signature (qr_bad_signature), not_after (qr_expired), the
 * deny-list (member_blocked), the device signature (qr_bad_signature), the time window
 * of [qr] time_window_s (qr_expired), and the replay cache (qr_replayed): a display proof
 * (member, time, counter) is accepted once, and remembered in the database for twice the
 * window, so a screenshot cannot be shown twice, across restarts and crashes too (the entry
 * is not flushed to disk before the answer: only a power cut could forget it).
 *
 * Time is the terminal's trusted clock (trust.h), never the code's. Without trusted time a
 * member is still identified (by the wall clock, "clock_trusted": false in the answer);
 * a bearer coupon code on a terminal that syncs with HQ is refused (qr_clock_untrusted),
 * since it could only be redeemed offline without limits.
 */
#ifndef ML_IDENTIFY_H
#define ML_IDENTIFY_H

#include <cjson/cJSON.h>

#include "ctx.h"
#include "ml_err.h"

#define IDENTIFY_PHONE_MAX 256 /* bytes of the "phone" field */
#define IDENTIFY_QR_MAX 4096   /* bytes of the "qr" field (qr.h refuses past QR_TEXT_MAX) */

/*
 * Answers an identify request body. ML_OK with *ret (the caller's); otherwise r says why
 * and nothing changed except, for a member code, its proof taken into the replay cache.
 */
ml_err identify(struct ml_ctx *ctx, const cJSON *body, cJSON **ret, struct ml_refusal *r);

#endif
