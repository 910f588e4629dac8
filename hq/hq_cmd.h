/*
 * hq_cmd: the commands of memberlink-hq that sign and send to stores (docs/hq.md):
 *
 *   keygen [--kid KID] [--force]    a new Ed25519 signing key; prints the stores' line
 *   pubkey                          prints `pubkey = <kid>=<base64>` again
 *   push campaign FILE              one campaign.upsert, retained on its campaign topic
 *   push member FILE [--store S]... member.upsert per member and store (phones keyed)
 *   push guide FILE [--store S]...  guide.upsert per guide and store
 *   grant coupon --id C ...         coupon.grant
 *   revoke coupon --id C ...        coupon.revoke
 *   bind guide --member M ...       guide.bind
 *   withdraw campaign ID            campaign.withdraw, retained in place of its upsert
 *   deny member|coupon --id X --reason R [--lift]
 *                                   deny.upsert per store (--lift: the entry lifted)
 *   republish                       sends again what was never published, and every
 *                                   unexpired campaign (retained)
 *
 * Each push signs and stores its messages in one transaction (hq_push.h), then publishes
 * them (hq_pub.h) and prints one line per message. Without --store, a per-store message
 * goes to every store of [hq] stores.
 *
 * Exit status: 0 stored (published or not: stores catch up over HTTP), 1 runtime error,
 * 2 usage, configuration or refused input (nothing stored).
 */
#ifndef ML_HQ_CMD_H
#define ML_HQ_CMD_H

/* 1 if `cmd` is one of the commands above. */
int hq_cmd_handles(const char *cmd);

/* Runs the whole command line (global options -c FILE, -v and -h included); returns the
 * exit status. */
int hq_cmd_main(int argc, char **argv);

#endif
