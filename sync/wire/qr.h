/*
 * qr: the offline QR credentials of docs/qr.md: member codes ("ML1:"), guide cards
 * ("MLG1:") and bearer coupons ("MLC1:").
 *
 * A code is a prefix and the Base45 (base45.h) of a binary credential signed by HQ
 * (Ed25519, the keys of sign.h, named by their fingerprint), followed for member codes by
 * a display proof signed by the member's device key (ECDSA P-256). docs/qr.md fixes every
 * byte; tests/vectors/qr_vectors.json pins them.
 *
 * The agent checks a scanned code in this order (DESIGN.md):
 *
 *   qr_parse()          prefix, strict Base45, exact lengths, field syntax -> qr_malformed
 *   qr_verify_issuer()  issuer key -> qr_unknown_key; issuer signature -> qr_bad_signature;
 *                       not_after -> qr_expired
 *   (the caller)        the deny-list
 *   qr_verify_proof()   device signature -> qr_bad_signature; time window -> qr_expired
 *   (the caller)        the replay cache of (id, proof_time, counter)
 *
 * Refusals: qr_malformed is ML_PARSE with HTTP 400; qr_unknown_key, qr_bad_signature and
 * qr_expired are ML_REFUSED with HTTP 403 (the code was read and is not acceptable; no
 * other credentials would help, so never 401). When OpenSSL or memory fails the result is
 * ML_FAILURE or ML_NOMEM with code "internal_error" and HTTP 500. Messages never quote the
 * scanned text: they name the kind of code, the field at fault, the key fingerprint in hex
 * and, once the issuer signature has verified, the id and times HQ signed.
 *
 * The encoder half (qr_issue, qr_prove, qr_render) is for memberlink-hq and the tests.
 *
 * Pure functions: no database, no clock, no global state; thread-safe.
 */
#ifndef ML_QR_H
#define ML_QR_H

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#include "base45.h"
#include "ml_err.h"
#include "sign.h"

#define QR_VERSION 1
#define QR_ID_MAX 32 /* id: 1..32 of [A-Za-z0-9_-] */
#define QR_KID_FP_LEN SIGN_FP_LEN
#define QR_DEVICE_PUB_LEN 33 /* compressed P-256 point */
#define QR_SIG_LEN 64        /* Ed25519 signature; ECDSA P-256 r || s */
/* version, kid_fp, id_len, not_after, flags: the credential bytes besides id and keys */
#define QR_HEAD_LEN (1 + QR_KID_FP_LEN + 1 + 4 + 1)
#define QR_PROOF_LEN (4 + 4 + QR_SIG_LEN) /* time, counter, device signature */
#define QR_CRED_MAX (QR_HEAD_LEN + QR_ID_MAX + QR_DEVICE_PUB_LEN + QR_SIG_LEN) /* 140 */
#define QR_BIN_MAX (QR_CRED_MAX + QR_PROOF_LEN)                                /* 212 */
#define QR_MEMBER_PREFIX "ML1:"
#define QR_GUIDE_PREFIX "MLG1:"
#define QR_COUPON_PREFIX "MLC1:"
/* The longest text: a member code with a 32-byte id. Longer input is qr_malformed before
 * anything else is looked at. */
#define QR_TEXT_MAX (sizeof(QR_MEMBER_PREFIX) - 1 + BASE45_ENCODED_LEN(QR_BIN_MAX)) /* 322 */
#define QR_WINDOW_DEFAULT 60 /* seconds either side of the terminal's time */

enum qr_kind {
    QR_MEMBER = 1, /* "ML1:": credential and display proof */
    QR_GUIDE,      /* "MLG1:": credential only */
    QR_COUPON,     /* "MLC1:": credential only */
};

/*
 * One code, as parsed or as being built. A plain value: no owned resources, copy freely.
 * The caller reads the fields above `len`; the rest is for the qr_verify_* functions.
 */
struct qr_code {
    enum qr_kind kind;
    char id[QR_ID_MAX + 1]; /* NUL-terminated member_id, guide_id or coupon_id */
    uint8_t kid_fp[QR_KID_FP_LEN];
    uint32_t not_after;  /* unix seconds; valid through this second */
    uint8_t flags;       /* always 0 in version 1 */
    int has_proof;       /* member codes: 1 once a display proof is attached */
    uint32_t proof_time; /* unix seconds, from the device: compare, never trust */
    uint32_t counter;
    size_t len;      /* bytes of bin in use */
    size_t cred_len; /* bytes of the credential at the start of bin */
    uint8_t bin[QR_BIN_MAX];
};

/* "member code", "guide card", "coupon code"; "code" for anything else. Static. */
const char *qr_kind_name(enum qr_kind kind);

/*
 * Parses a scanned text of len bytes (no NUL needed; text may be NULL when len is 0).
 * Refuses with qr_malformed (ML_PARSE) anything but exactly one of the three prefixes,
 * strict Base45, version 1, an id of 1..QR_ID_MAX of [A-Za-z0-9_-], flags 0, for member
 * codes a device key that is a valid compressed P-256 point, and a length that is exactly
 * what id_len implies; len > QR_TEXT_MAX first. On success *ret is filled; on failure it
 * is not written. Checks no signature. r is NULL-safe. ML_NOMEM / ML_FAILURE when OpenSSL
 * cannot decode the device key.
 */
ml_err qr_parse(const char *text, size_t len, struct qr_code *ret, struct ml_refusal *r);

/*
 * Checks the issuer half of a parsed code at now_s (unix seconds, the terminal's trusted
 * time): a key in kr with the credential's fingerprint, else qr_unknown_key; the Ed25519
 * signature over the prefix and the credential bytes, else qr_bad_signature; now_s <=
 * not_after, else qr_expired (all ML_REFUSED). Borrows everything.
 */
ml_err qr_verify_issuer(const struct qr_code *c, const struct sign_keyring *kr, int64_t now_s,
                        struct ml_refusal *r);

/*
 * Checks the display proof of a member code whose issuer half has passed: the device
 * signature, else qr_bad_signature; |proof_time - now_s| <= window_s (the edge is
 * accepted), else qr_expired. window_s >= 0, usually QR_WINDOW_DEFAULT. Guide cards and
 * coupons carry no proof: ML_OK. A member credential without a proof is qr_malformed.
 */
ml_err qr_verify_proof(const struct qr_code *c, int64_t now_s, int window_s, struct ml_refusal *r);

/*
 * Builds the credential of a code of `kind` for `id`, valid through not_after, signed
 * with issuer (an Ed25519 private key; its fingerprint goes into the credential). A
 * member credential binds device (a P-256 key: its public half is used); guide cards and
 * coupons take device == NULL. Returns ML_PARSE for a bad id, ML_CONFIG for a wrong key
 * (or a device key given or missing against kind), ML_FAILURE when OpenSSL fails. On
 * success *ret holds the credential (has_proof 0); on failure it is not written. Borrows
 * the keys.
 */
ml_err qr_issue(enum qr_kind kind, const char *id, uint32_t not_after, EVP_PKEY *issuer,
                EVP_PKEY *device, struct qr_code *ret);

/*
 * Attaches a display proof (time, counter, ECDSA P-256 signature with device, a private
 * key) to the member credential in c, replacing any proof it had. ML_CONFIG when c is not
 * a member code or device is not the private half of the key in the credential;
 * ML_FAILURE when OpenSSL fails (c is then unchanged). Borrows device.
 */
ml_err qr_prove(struct qr_code *c, EVP_PKEY *device, uint32_t time, uint32_t counter);

/*
 * Writes the text of c (prefix and Base45) and a NUL into out (out_size bytes;
 * QR_TEXT_MAX + 1 always suffices). ML_CONFIG for a member code without a proof, ML_LIMIT
 * when out is too small (out is then not written).
 */
ml_err qr_render(const struct qr_code *c, char *out, size_t out_size);

/*
 * Rebuilds a code from credential bytes kept apart from their text (a wallet): the
 * checks of qr_parse() on a bare credential of `kind`. has_proof is 0. Same results.
 */
ml_err qr_from_credential(enum qr_kind kind, const uint8_t *cred, size_t len, struct qr_code *ret,
                          struct ml_refusal *r);

#endif
