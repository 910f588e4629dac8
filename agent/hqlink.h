/*
 * hqlink: the agent's side of the sync engine (sync/engine/link.h, inbox.h): the link's
 * settings, taken from [agent], [mqtt] and [hq], and the handler through which verified HQ
 * messages and store peers' events reach the store's domain. The engine verifies, orders and
 * deduplicates; what a message means is decided here:
 *
 *   a fact (member.upsert, coupon.grant, ...)  facts_apply() (facts.h)
 *   HQ's time beacon                           the trusted clock (trust.h)
 *   a peer's coupon.redeemed / .restored       the deny-list's peer entries (deny.h)
 */
#ifndef ML_HQLINK_H
#define ML_HQLINK_H

#include "ctx.h"
#include "inbox.h"
#include "link.h"
#include "ml_err.h"

/* Fills *ret with the agent's handler for ctx (borrowed: ctx must outlive every use). */
void hqlink_handler(struct ml_ctx *ctx, struct link_handler *ret);

/* Starts the link described by ctx->cfg, with the agent's handler, into ctx->link. The link
 * borrows ctx: it must outlive it. errbuf as link_start(). */
ml_err hqlink_start(struct ml_ctx *ctx, char *errbuf, size_t errlen);

#endif
