/*
 * hq_key: the signing key files of memberlink-hq; see hq_key.h. The key is written first
 * (atomically, by sign_key_save_private), then the kid file (atomically, by file_replace),
 * so a crash between the two leaves a key under the old kid, which stores refuse as a bad
 * signature rather than accept wrongly.
 */
#include "hq_key.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileutil.h"
#include "hq_config.h"

#define HQ_KEY_PATH_MAX (HQ_CONFIG_PATH_MAX + 32)
#define HQ_KID_FILE_MAX (SIGN_KID_MAX + 7) /* the kid, a line end and some slack */

int hq_make_dirs(const char *path)
{
    char buf[HQ_KEY_PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

ml_err hq_key_pubkey_line(EVP_PKEY *key, const char *kid, char line[HQ_PUBKEY_LINE_MAX])
{
    char pub[SIGN_PUB_B64_LEN + 1];
    if (!inifile_valid_id(kid, SIGN_KID_MAX) || sign_key_public_b64(key, pub) != ML_OK)
        return ML_CONFIG;
    snprintf(line, HQ_PUBKEY_LINE_MAX, "pubkey = %s=%s", kid, pub);
    return ML_OK;
}

/* Writes "kid\n" to path through path.tmp, mode 0644. 0 on success, -1 with errno. */
static int write_kid(const char *path, const char *kid)
{
    char text[SIGN_KID_MAX + 2];
    int n = snprintf(text, sizeof(text), "%s\n", kid);
    return file_replace(path, text, (size_t)n, 0644);
}

ml_err hq_key_generate(const char *data_dir, const char *kid, int force,
                       char line[HQ_PUBKEY_LINE_MAX], char *errbuf, size_t errlen)
{
    char key_path[HQ_KEY_PATH_MAX], kid_path[HQ_KEY_PATH_MAX];
    struct stat sb;
    EVP_PKEY *key = NULL;
    ml_err result = ML_FAILURE;

    if (!inifile_valid_id(kid, SIGN_KID_MAX)) {
        snprintf(errbuf, errlen, "kid '%.40s': expected 1-32 characters of [A-Za-z0-9_-]", kid);
        return ML_CONFIG;
    }
    snprintf(key_path, sizeof(key_path), "%s/%s", data_dir, HQ_KEY_FILE);
    snprintf(kid_path, sizeof(kid_path), "%s/%s", data_dir, HQ_KID_FILE);
    if (!force && stat(key_path, &sb) == 0) {
        snprintf(errbuf, errlen,
                 "%s exists; stores trust its public key. Keep it (memberlink-hq pubkey prints "
                 "it), or replace it with --force",
                 key_path);
        return ML_CONFIG;
    }
    if (hq_make_dirs(data_dir) != 0) {
        snprintf(errbuf, errlen, "%s: cannot create data_dir: %s", data_dir, strerror(errno));
        return ML_FAILURE;
    }
    if ((key = sign_key_generate()) == NULL) {
        snprintf(errbuf, errlen, "cannot generate an Ed25519 key (OpenSSL)");
        goto out;
    }
    if (sign_key_save_private(key_path, key) != ML_OK) {
        snprintf(errbuf, errlen, "%s: cannot write the key: %s", key_path, strerror(errno));
        goto out;
    }
    if (write_kid(kid_path, kid) != 0) {
        snprintf(errbuf, errlen, "%s: cannot write the kid: %s", kid_path, strerror(errno));
        goto out;
    }
    result = hq_key_pubkey_line(key, kid, line);
out:
    EVP_PKEY_free(key);
    return result;
}

ml_err hq_key_load(const char *data_dir, EVP_PKEY **ret_key, char kid[SIGN_KID_MAX + 1],
                   char *errbuf, size_t errlen)
{
    char key_path[HQ_KEY_PATH_MAX], kid_path[HQ_KEY_PATH_MAX];
    EVP_PKEY *key = NULL;
    snprintf(key_path, sizeof(key_path), "%s/%s", data_dir, HQ_KEY_FILE);
    snprintf(kid_path, sizeof(kid_path), "%s/%s", data_dir, HQ_KID_FILE);

    /* The key signs for every store: refuse one that others on the host can read. */
    struct stat sb;
    if (stat(key_path, &sb) == 0 && (sb.st_mode & 077) != 0) {
        snprintf(errbuf, errlen,
                 "%s: readable by group or others (mode %03o); run `chmod 600 %s` (and check "
                 "who has read it)",
                 key_path, (unsigned)(sb.st_mode & 0777), key_path);
        return ML_CONFIG;
    }
    ml_err err = sign_key_load_private(key_path, &key);
    if (err != ML_OK) {
        if (err == ML_NOENTRY)
            snprintf(errbuf, errlen, "%s: no signing key; run `memberlink-hq keygen` first",
                     key_path);
        else
            snprintf(errbuf, errlen, "%s: %s", key_path,
                     err == ML_CONFIG  ? "not an unencrypted Ed25519 private key (PEM PKCS#8)"
                     : err == ML_LIMIT ? "too large to be a key"
                                       : "cannot read the key");
        return err == ML_LIMIT ? ML_CONFIG : err;
    }
    char *text = NULL;
    size_t n = 0;
    err = file_read_small(kid_path, HQ_KID_FILE_MAX, &text, &n);
    if (err != ML_OK && err != ML_LIMIT) {
        snprintf(errbuf, errlen, "%s: %s (run `memberlink-hq keygen --force --kid KID`)", kid_path,
                 strerror(err == ML_NOENTRY ? ENOENT
                          : err == ML_NOMEM ? ENOMEM
                                            : errno));
        EVP_PKEY_free(key);
        return err == ML_NOENTRY ? ML_NOENTRY : ML_FAILURE;
    }
    while (err == ML_OK && n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    if (err != ML_OK || !inifile_valid_id(text, SIGN_KID_MAX)) {
        snprintf(errbuf, errlen, "%s: expected one kid of 1-32 characters of [A-Za-z0-9_-]",
                 kid_path);
        free(text);
        EVP_PKEY_free(key);
        return ML_CONFIG;
    }
    memcpy(kid, text, n + 1);
    free(text);
    *ret_key = key;
    return ML_OK;
}
