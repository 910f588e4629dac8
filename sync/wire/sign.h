/*
 * sign: Ed25519 signatures on the messages HQ sends to stores.
 *
 * A signed message is a JSON object
 *
 *   {"v":1,"id":..,"kind":..,"version":..,"issued":..,"expires":..,"body":{..},
 *    "kid":..,"sig":".."}
 *
 * and "sig" is the standard base64 (with padding) of the 64-byte Ed25519 signature (RFC
 * 8032, pure Ed25519, no pre-hash) over the signing input
 *
 *   "memberlink-sig-v1\n" + topic + "\n" + canon_json(message without its "sig" member)
 *
 * where topic is the MQTT topic the message is published on, as raw bytes, and canon_json
 * is defined in canon.h. Expiry, version and kid are inside what is signed; so is the
 * topic, so a message moved to another store's topic no longer verifies. Stores hold HQ
 * public keys by key id ("kid") in a keyring, so HQ can rotate keys.
 * tests/vectors/sign_vectors.json pins the bytes; docs/protocol.md explains them to HQ
 * implementers.
 *
 * sync/ returns errors and refusals; the caller logs.
 */
#ifndef ML_SIGN_H
#define ML_SIGN_H

#include <cjson/cJSON.h>
#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"

#define SIGN_PREFIX "memberlink-sig-v1\n"
#define SIGN_KEYS_MAX 16       /* public keys in one keyring */
#define SIGN_KID_MAX 32        /* kid: 1..32 of [A-Za-z0-9_-] */
#define SIGN_ID_MAX 64         /* "id": a string of 1..64 bytes */
#define SIGN_KIND_MAX 64       /* "kind": a string of 1..64 bytes */
#define SIGN_TOPIC_MAX 65535   /* an MQTT topic's limit; a topic must not hold '\n' */
#define SIGN_PUB_B64_LEN 44    /* base64 of a 32-byte public key */
#define SIGN_SIG_B64_LEN 88    /* base64 of a 64-byte signature */
#define SIGN_KEYFILE_MAX 16384 /* bytes of a private key file read at most */
#define SIGN_FP_LEN 4          /* bytes of a key fingerprint (sign_key_fingerprint) */

/*
 * HQ public keys by kid. Filled once at start, then only read: sign_verify() may run on
 * several threads at once on one keyring.
 */
struct sign_keyring;

/* Returns an empty keyring, or NULL when memory runs out. Free with sign_keyring_free(). */
struct sign_keyring *sign_keyring_new(void);

/* Frees kr and its keys. NULL-safe; returns NULL. */
struct sign_keyring *sign_keyring_free(struct sign_keyring *kr);

/*
 * Adds the Ed25519 public key pub_b64 (standard padded base64 of the 32-byte raw key,
 * exactly SIGN_PUB_B64_LEN characters, no whitespace) under kid. Returns ML_CONFIG for a
 * kid that is not 1..SIGN_KID_MAX of [A-Za-z0-9_-] or is already in kr, or a key that is
 * not such base64 of 32 bytes, or a key whose fingerprint (sign_key_fingerprint) equals
 * that of a different key already in kr (the same key under a second kid is accepted);
 * ML_LIMIT when kr holds SIGN_KEYS_MAX keys; ML_NOMEM. On failure kr is unchanged. Copies
 * kid and the key.
 */
ml_err sign_keyring_add(struct sign_keyring *kr, const char *kid, const char *pub_b64);

/* As sign_keyring_add() for the config form "kid=base64" ([hq] pubkey = kid=base64):
 * no spaces; the first '=' ends the kid. ML_CONFIG when there is no '='. */
ml_err sign_keyring_add_spec(struct sign_keyring *kr, const char *spec);

/* Number of keys in kr. */
size_t sign_keyring_count(const struct sign_keyring *kr);

/*
 * Writes key's fingerprint: the first SIGN_FP_LEN bytes of SHA-256 over its 32-byte raw
 * Ed25519 public key. QR credentials (agent/qr.h) name their issuer key by it. ML_CONFIG
 * when key is not an Ed25519 key, ML_FAILURE when OpenSSL fails (fp is then not written).
 * Borrows key.
 */
ml_err sign_key_fingerprint(EVP_PKEY *key, unsigned char fp[SIGN_FP_LEN]);

/*
 * Finds the key of kr whose fingerprint is fp. sign_keyring_add() keeps fingerprints
 * unique per key, so there is at most one. On success *ret_key (borrowed from kr, valid
 * until sign_keyring_free()) and, when ret_kid is not NULL, *ret_kid (the kid it was first
 * added under, borrowed likewise) are set; ML_NOENTRY when no key matches (nothing is then
 * written). Thread-safe like sign_verify().
 */
ml_err sign_keyring_find_fp(const struct sign_keyring *kr, const unsigned char fp[SIGN_FP_LEN],
                            EVP_PKEY **ret_key, const char **ret_kid);

/* A fresh Ed25519 private key, or NULL when OpenSSL fails. Free with EVP_PKEY_free(). */
EVP_PKEY *sign_key_generate(void);

/*
 * The passphrase callback (pem_password_cb) for reading private keys: an encrypted key is a
 * configuration error here, never a prompt on the terminal. Always returns -1.
 */
int sign_no_passphrase(char *buf, int size, int rwflag, void *u);

/*
 * Reads an Ed25519 private key from a PEM file (PKCS#8, unencrypted: an encrypted key is
 * refused, never prompted for). Returns ML_NOENTRY when the file does not exist,
 * ML_FAILURE when it cannot be read, ML_LIMIT when it is larger than SIGN_KEYFILE_MAX,
 * ML_CONFIG when it holds no unencrypted Ed25519 private key, ML_NOMEM. On success *ret is
 * set and the caller frees it with EVP_PKEY_free(); on failure *ret is not written.
 */
ml_err sign_key_load_private(const char *path, EVP_PKEY **ret);

/*
 * Writes key as PEM PKCS#8 (unencrypted) to path, mode 0600, replacing the file
 * atomically through path + ".tmp" (file_replace(); a leftover of that name is
 * overwritten). The PEM text is only ever in OpenSSL's secure heap. Returns
 * ML_CONFIG when key is not an Ed25519 private key, ML_LIMIT when path is too long,
 * ML_FAILURE on any I/O error (path is then as it was). Borrows key.
 */
ml_err sign_key_save_private(const char *path, EVP_PKEY *key);

/* Writes the standard base64 of key's 32-byte public key, NUL-terminated, into out.
 * ML_CONFIG when key is not an Ed25519 key; out is then not written. */
ml_err sign_key_public_b64(EVP_PKEY *key, char out[SIGN_PUB_B64_LEN + 1]);

/*
 * Builds the signing input for msg on topic (see the top of this file). Returns ML_PARSE
 * when topic is empty, longer than SIGN_TOPIC_MAX or holds '\n', when msg is not an object,
 * or when canon_json refuses it (which it also does when memory runs out); ML_NOMEM. On
 * success *ret (NUL-terminated, caller frees with free()) and *ret_len (bytes, without the
 * NUL) are set; on failure neither is.
 */
ml_err sign_input(const char *topic, const cJSON *msg, char **ret, size_t *ret_len);

/*
 * Signs msg for topic with priv under kid: sets msg["kid"] = kid (replacing any), removes
 * any "sig", then adds "sig". msg must already have the shape sign_verify() wants (v, id,
 * kind, version, issued, expires, body) and canonicalize; otherwise ML_PARSE. ML_CONFIG for
 * a bad kid or a key that is not an Ed25519 private key; ML_NOMEM; ML_FAILURE when OpenSSL
 * fails. On failure msg may have lost its "sig" and gained "kid", never a wrong "sig".
 * Borrows everything; msg stays the caller's.
 */
ml_err sign_message(EVP_PKEY *priv, const char *kid, const char *topic, cJSON *msg);

/*
 * Verifies msg as received on topic at time now_ms (ms since the epoch, UTC). In order:
 *
 *   - msg is an object with "v" == 1, "id" a string of 1..SIGN_ID_MAX bytes, "kind" a
 *     string of 1..SIGN_KIND_MAX bytes, "version" an integer >= 1, "issued" and "expires"
 *     integers, "body" an object, "kid" a kid (see sign_keyring_add), "sig" exactly the
 *     base64 of 64 bytes (SIGN_SIG_B64_LEN characters, canonical padding) and no key twice;
 *     the topic is 1..SIGN_TOPIC_MAX bytes without '\n'; the message canonicalizes
 *     (canon.h) -- else ML_PARSE, code "msg_malformed";
 *   - kid is in kr -- else ML_REFUSED, "msg_unknown_key";
 *   - the signature verifies over the signing input -- else ML_REFUSED,
 *     "msg_bad_signature" (also for a message moved to another topic);
 *   - now_ms < expires -- else ML_REFUSED, "msg_expired".
 *
 * Integers are exact: at most 2^53 in magnitude, no fraction. Returns ML_OK when all pass;
 * ML_NOMEM / ML_FAILURE (with r filled, code "msg_verify_failed") when memory or OpenSSL
 * fails. Version ordering, deduplication and which topics a store accepts are the caller's.
 * Never crashes on any msg (NULL included); r is NULL-safe. Borrows everything.
 */
ml_err sign_verify(const struct sign_keyring *kr, const char *topic, const cJSON *msg,
                   int64_t now_ms, struct ml_refusal *r);

#endif
