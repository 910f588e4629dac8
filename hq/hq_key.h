/*
 * hq_key: HQ's Ed25519 signing key and its key id (kid), kept in the data dir:
 *
 *   <data_dir>/hq-signing.key   PEM PKCS#8, mode 0600 (sign_key_save_private)
 *   <data_dir>/hq-signing.kid   the kid and a newline, mode 0644
 *
 * Stores hold the public half as `[hq] pubkey = <kid>=<base64>`; hq_key_pubkey_line() gives
 * exactly that line. Functions return errors with one line in errbuf and log nothing.
 */
#ifndef ML_HQ_KEY_H
#define ML_HQ_KEY_H

#include <openssl/types.h>
#include <stddef.h>

#include "ml_err.h"
#include "sign.h"

#define HQ_KEY_FILE "hq-signing.key"
#define HQ_KID_FILE "hq-signing.kid"
#define HQ_KID_DEFAULT "k1"
/* "pubkey = " + kid + "=" + base64 */
#define HQ_PUBKEY_LINE_MAX (9 + SIGN_KID_MAX + 1 + SIGN_PUB_B64_LEN + 1)

/*
 * Generates a new key into data_dir (created if missing) under `kid`. ML_CONFIG when a key
 * exists and `force` is 0, or kid is not 1..32 of [A-Za-z0-9_-]; ML_FAILURE on I/O or
 * OpenSSL errors. On success writes the store config line into line[HQ_PUBKEY_LINE_MAX].
 */
ml_err hq_key_generate(const char *data_dir, const char *kid, int force,
                       char line[HQ_PUBKEY_LINE_MAX], char *errbuf, size_t errlen);

/*
 * Loads the key and kid. ML_NOENTRY when there is no key (run keygen); ML_CONFIG for a
 * damaged, oversized or group/other-readable key file, or a damaged kid file; ML_FAILURE on
 * I/O errors. On success *ret_key (caller frees
 * with EVP_PKEY_free()) and kid are set; on failure neither.
 */
ml_err hq_key_load(const char *data_dir, EVP_PKEY **ret_key, char kid[SIGN_KID_MAX + 1],
                   char *errbuf, size_t errlen);

/* "pubkey = <kid>=<base64>" for key (borrowed). ML_CONFIG when key is not Ed25519. */
ml_err hq_key_pubkey_line(EVP_PKEY *key, const char *kid, char line[HQ_PUBKEY_LINE_MAX]);

/* mkdir -p with mode 0750. 0 on success, -1 with errno. */
int hq_make_dirs(const char *path);

#endif
