/*
 * sign: Ed25519 signatures on HQ messages; the contract is in sign.h and canon.h.
 *
 * Verification trusts nothing in the message before the signature has passed, and checks
 * the cheap, shape-only rules first so a malformed message never reaches OpenSSL. Base64
 * is decoded here, strictly, rather than with EVP_DecodeBlock(), which skips whitespace
 * and does not report padding: "exact base64 of 64 bytes" must mean one spelling.
 */
#include "sign.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "canon.h"
#include "fileutil.h"

#define SIGN__RAW_PUB 32
#define SIGN__RAW_SIG 64

struct sign_key {
    char kid[SIGN_KID_MAX + 1];
    unsigned char fp[SIGN_FP_LEN];
    EVP_PKEY *pub;
};

struct sign_keyring {
    size_t n;
    struct sign_key keys[SIGN_KEYS_MAX];
};

/* 1 when s is 1..SIGN_KID_MAX of [A-Za-z0-9_-]. */
static int sign__kid_ok(const char *s)
{
    if (s == NULL)
        return 0;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= SIGN_KID_MAX || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                   (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return n > 0;
}

static int sign__b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Decodes s, which must be exactly the standard padded base64 of out_len bytes: the exact
 * length, only alphabet characters then the right number of '=', unused bits zero.
 * Returns 1 and fills out, or 0 (out then holds garbage).
 */
static int sign__b64_decode(const char *s, unsigned char *out, size_t out_len)
{
    size_t chars = 4 * ((out_len + 2) / 3);
    size_t data = (out_len * 8 + 5) / 6;
    if (s == NULL || strnlen(s, chars + 1) != chars)
        return 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < data; i++) {
        int v = sign__b64_value(s[i]);
        if (v < 0)
            return 0;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    for (size_t i = data; i < chars; i++)
        if (s[i] != '=')
            return 0;
    return o == out_len && acc == 0;
}

/* Writes the padded base64 of in, NUL-terminated, into out (4 * ceil(n / 3) + 1 bytes). */
static void sign__b64_encode(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

struct sign_keyring *sign_keyring_new(void)
{
    return calloc(1, sizeof(struct sign_keyring));
}

struct sign_keyring *sign_keyring_free(struct sign_keyring *kr)
{
    if (kr == NULL)
        return NULL;
    for (size_t i = 0; i < kr->n; i++)
        EVP_PKEY_free(kr->keys[i].pub);
    free(kr);
    return NULL;
}

size_t sign_keyring_count(const struct sign_keyring *kr)
{
    return kr == NULL ? 0 : kr->n;
}

static const struct sign_key *sign__keyring_find(const struct sign_keyring *kr, const char *kid)
{
    if (kr == NULL)
        return NULL;
    for (size_t i = 0; i < kr->n; i++)
        if (strcmp(kr->keys[i].kid, kid) == 0)
            return &kr->keys[i];
    return NULL;
}

/* The fingerprint of a raw 32-byte public key; 0 when OpenSSL fails. */
static int sign__raw_fingerprint(const unsigned char raw[SIGN__RAW_PUB],
                                 unsigned char fp[SIGN_FP_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(raw, SIGN__RAW_PUB, md, &md_len, EVP_sha256(), NULL) != 1 || md_len < 32) {
        ERR_clear_error();
        return 0;
    }
    memcpy(fp, md, SIGN_FP_LEN);
    return 1;
}

ml_err sign_key_fingerprint(EVP_PKEY *key, unsigned char fp[SIGN_FP_LEN])
{
    unsigned char raw[SIGN__RAW_PUB];
    size_t len = sizeof(raw);
    if (key == NULL || !EVP_PKEY_is_a(key, "ED25519") ||
        EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof(raw)) {
        ERR_clear_error();
        return ML_CONFIG;
    }
    return sign__raw_fingerprint(raw, fp) ? ML_OK : ML_FAILURE;
}

ml_err sign_keyring_find_fp(const struct sign_keyring *kr, const unsigned char fp[SIGN_FP_LEN],
                            EVP_PKEY **ret_key, const char **ret_kid)
{
    if (kr == NULL || fp == NULL)
        return ML_NOENTRY;
    for (size_t i = 0; i < kr->n; i++) {
        if (memcmp(kr->keys[i].fp, fp, SIGN_FP_LEN) != 0)
            continue;
        *ret_key = kr->keys[i].pub;
        if (ret_kid != NULL)
            *ret_kid = kr->keys[i].kid;
        return ML_OK;
    }
    return ML_NOENTRY;
}

ml_err sign_keyring_add(struct sign_keyring *kr, const char *kid, const char *pub_b64)
{
    unsigned char raw[SIGN__RAW_PUB], fp[SIGN_FP_LEN];
    if (kr == NULL || !sign__kid_ok(kid) || sign__keyring_find(kr, kid) != NULL ||
        !sign__b64_decode(pub_b64, raw, sizeof(raw)))
        return ML_CONFIG;
    if (kr->n >= SIGN_KEYS_MAX)
        return ML_LIMIT;
    if (!sign__raw_fingerprint(raw, fp))
        return ML_NOMEM;
    EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
    if (pub == NULL) {
        ERR_clear_error();
        return ML_NOMEM;
    }
    /* A QR credential names its key by fingerprint only: two different keys sharing one
     * would make the lookup ambiguous. */
    for (size_t i = 0; i < kr->n; i++)
        if (memcmp(kr->keys[i].fp, fp, SIGN_FP_LEN) == 0 &&
            EVP_PKEY_eq(kr->keys[i].pub, pub) != 1) {
            ERR_clear_error();
            EVP_PKEY_free(pub);
            return ML_CONFIG;
        }
    struct sign_key *k = &kr->keys[kr->n++];
    snprintf(k->kid, sizeof(k->kid), "%s", kid);
    memcpy(k->fp, fp, SIGN_FP_LEN);
    k->pub = pub;
    return ML_OK;
}

ml_err sign_keyring_add_spec(struct sign_keyring *kr, const char *spec)
{
    char kid[SIGN_KID_MAX + 1];
    const char *eq = spec == NULL ? NULL : strchr(spec, '=');
    if (eq == NULL || eq == spec || (size_t)(eq - spec) > SIGN_KID_MAX)
        return ML_CONFIG;
    memcpy(kid, spec, (size_t)(eq - spec));
    kid[eq - spec] = '\0';
    return sign_keyring_add(kr, kid, eq + 1);
}

EVP_PKEY *sign_key_generate(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (key == NULL)
        ERR_clear_error();
    return key;
}

int sign_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static int sign__is_ed25519_private(EVP_PKEY *key)
{
    size_t len = 0;
    int ok = key != NULL && EVP_PKEY_is_a(key, "ED25519") &&
             EVP_PKEY_get_raw_private_key(key, NULL, &len) == 1 && len == 32;
    if (!ok)
        ERR_clear_error(); /* a public-only key leaves an error behind */
    return ok;
}

ml_err sign_key_load_private(const char *path, EVP_PKEY **ret)
{
    char *text = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;

    ml_err result = file_read_small(path, SIGN_KEYFILE_MAX, &text, &len);
    if (result != ML_OK)
        return result;
    result = ML_NOMEM;
    bio = BIO_new_mem_buf(text, (int)len);
    if (bio == NULL)
        goto out;
    result = ML_CONFIG;
    key = PEM_read_bio_PrivateKey(bio, NULL, sign_no_passphrase, NULL);
    if (!sign__is_ed25519_private(key))
        goto out;
    *ret = key;
    key = NULL;
    result = ML_OK;
out:
    ERR_clear_error();
    EVP_PKEY_free(key);
    BIO_free(bio);
    OPENSSL_cleanse(text, len);
    free(text);
    return result;
}

ml_err sign_key_save_private(const char *path, EVP_PKEY *key)
{
    ml_err result = ML_CONFIG;
    BIO *bio = NULL;
    char *pem = NULL;

    if (!sign__is_ed25519_private(key))
        goto out;
    result = ML_LIMIT;
    if (strlen(path) + sizeof(FILE_TMP_SUFFIX) > PATH_MAX)
        goto out;
    result = ML_NOMEM;
    bio = BIO_new(BIO_s_secmem()); /* cleared when freed; the PEM never leaves it */
    if (bio == NULL)
        goto out;
    result = ML_FAILURE;
    if (PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
        goto out;
    long pem_len = BIO_get_mem_data(bio, &pem);
    if (pem_len <= 0 || file_replace(path, pem, (size_t)pem_len, 0600) != 0)
        goto out;
    result = ML_OK;
out:
    ERR_clear_error();
    BIO_free(bio);
    return result;
}

ml_err sign_key_public_b64(EVP_PKEY *key, char out[SIGN_PUB_B64_LEN + 1])
{
    unsigned char raw[SIGN__RAW_PUB];
    size_t len = sizeof(raw);
    if (key == NULL || !EVP_PKEY_is_a(key, "ED25519") ||
        EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof(raw)) {
        ERR_clear_error();
        return ML_CONFIG;
    }
    sign__b64_encode(raw, sizeof(raw), out);
    return ML_OK;
}

static int sign__topic_ok(const char *topic)
{
    if (topic == NULL)
        return 0;
    size_t n = strnlen(topic, SIGN_TOPIC_MAX + 1);
    return n > 0 && n <= SIGN_TOPIC_MAX && memchr(topic, '\n', n) == NULL;
}

ml_err sign_input(const char *topic, const cJSON *msg, char **ret, size_t *ret_len)
{
    if (!sign__topic_ok(topic) || msg == NULL || !cJSON_IsObject(msg))
        return ML_PARSE;
    char *canon = canon_json_omit(msg, "sig");
    if (canon == NULL)
        return ML_PARSE;
    size_t plen = sizeof(SIGN_PREFIX) - 1, tlen = strlen(topic), clen = strlen(canon);
    char *buf = malloc(plen + tlen + 1 + clen + 1);
    if (buf == NULL) {
        free(canon);
        return ML_NOMEM;
    }
    memcpy(buf, SIGN_PREFIX, plen);
    memcpy(buf + plen, topic, tlen);
    buf[plen + tlen] = '\n';
    memcpy(buf + plen + tlen + 1, canon, clen + 1);
    free(canon);
    *ret = buf;
    *ret_len = plen + tlen + 1 + clen;
    return ML_OK;
}

static ml_err sign__malformed(struct ml_refusal *r, const char *what)
{
    return ml_refuse(r, ML_PARSE, 400, "msg_malformed", "signed message: %s", what);
}

/* An exact integer field >= min. */
static int sign__int_field(const cJSON *msg, const char *name, double min)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(msg, name);
    if (!cJSON_IsNumber(f))
        return 0;
    double d = f->valuedouble;
    return isfinite(d) && d == trunc(d) && d >= min && d <= (double)CANON_INT_MAX &&
           d >= -(double)CANON_INT_MAX;
}

/* A string field of 1..max bytes. */
static int sign__str_field(const cJSON *msg, const char *name, size_t max)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(msg, name);
    if (!cJSON_IsString(f) || f->valuestring == NULL)
        return 0;
    size_t n = strnlen(f->valuestring, max + 1);
    return n >= 1 && n <= max;
}

/*
 * The shape rules of sign_verify() on the fields, in its order; with want_sig=0 the "kid"
 * and "sig" fields are not looked at (sign_message() sets them).
 */
static ml_err sign__check_shape(const cJSON *msg, int want_sig, struct ml_refusal *r)
{
    if (msg == NULL || !cJSON_IsObject(msg))
        return sign__malformed(r, "not a JSON object");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, "v");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1.0)
        return sign__malformed(r, "\"v\" is not 1");
    if (!sign__str_field(msg, "id", SIGN_ID_MAX))
        return sign__malformed(r, "\"id\" is not a string of 1 to 64 bytes");
    if (!sign__str_field(msg, "kind", SIGN_KIND_MAX))
        return sign__malformed(r, "\"kind\" is not a string of 1 to 64 bytes");
    if (!sign__int_field(msg, "version", 1.0))
        return sign__malformed(r, "\"version\" is not an integer >= 1");
    if (!sign__int_field(msg, "issued", -(double)CANON_INT_MAX))
        return sign__malformed(r, "\"issued\" is not an integer");
    if (!sign__int_field(msg, "expires", -(double)CANON_INT_MAX))
        return sign__malformed(r, "\"expires\" is not an integer");
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(msg, "body")))
        return sign__malformed(r, "\"body\" is not an object");
    if (!want_sig)
        return ML_OK;
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(msg, "kid");
    if (!cJSON_IsString(kid) || !sign__kid_ok(kid->valuestring))
        return sign__malformed(r, "\"kid\" is not 1 to 32 of [A-Za-z0-9_-]");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(msg, "sig");
    unsigned char raw[SIGN__RAW_SIG];
    if (!cJSON_IsString(sig) || !sign__b64_decode(sig->valuestring, raw, sizeof(raw)))
        return sign__malformed(r, "\"sig\" is not the base64 of 64 bytes");
    return ML_OK;
}

/* Copies s into out with every byte outside printable ASCII as '?', for messages. */
static void sign__printable(const char *s, char out[SIGN_ID_MAX + 1])
{
    size_t i = 0;
    for (; s[i] != '\0' && i < SIGN_ID_MAX; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = '\0';
}

ml_err sign_message(EVP_PKEY *priv, const char *kid, const char *topic, cJSON *msg)
{
    ml_err result;
    EVP_MD_CTX *ctx = NULL;
    char *input = NULL;
    size_t input_len = 0;
    unsigned char sig[SIGN__RAW_SIG];
    size_t sig_len = sizeof(sig);
    char sig_b64[SIGN_SIG_B64_LEN + 1];

    if (!sign__kid_ok(kid) || !sign__is_ed25519_private(priv))
        return ML_CONFIG;
    if (msg == NULL || !cJSON_IsObject(msg))
        return ML_PARSE;
    while (cJSON_GetObjectItemCaseSensitive(msg, "sig") != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(msg, "sig");
    while (cJSON_GetObjectItemCaseSensitive(msg, "kid") != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(msg, "kid");
    if (cJSON_AddStringToObject(msg, "kid", kid) == NULL)
        return ML_NOMEM;
    result = sign__check_shape(msg, 0, NULL);
    if (result != ML_OK)
        goto out;
    result = sign_input(topic, msg, &input, &input_len);
    if (result != ML_OK)
        goto out;
    result = ML_NOMEM;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        goto out;
    result = ML_FAILURE;
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, priv) != 1 ||
        EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input, input_len) != 1 ||
        sig_len != sizeof(sig))
        goto out;
    sign__b64_encode(sig, sizeof(sig), sig_b64);
    result = ML_NOMEM;
    if (cJSON_AddStringToObject(msg, "sig", sig_b64) == NULL)
        goto out;
    result = ML_OK;
out:
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    free(input);
    return result;
}

/* 1 when sig verifies over input with pub, 0 when not, -1 when OpenSSL cannot check. */
static int sign__check_sig(EVP_PKEY *pub, const unsigned char sig[SIGN__RAW_SIG], const char *input,
                           size_t input_len)
{
    int ok = -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        goto out;
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) != 1)
        goto out;
    /* 0 is a bad signature, < 0 a malformed one (e.g. S out of range): both mean no. */
    ok = EVP_DigestVerify(ctx, sig, SIGN__RAW_SIG, (const unsigned char *)input, input_len) == 1;
out:
    ERR_clear_error(); /* a failed verify leaves errors other OpenSSL users must not see */
    EVP_MD_CTX_free(ctx);
    return ok;
}

ml_err sign_verify(const struct sign_keyring *kr, const char *topic, const cJSON *msg,
                   int64_t now_ms, struct ml_refusal *r)
{
    ml_err result;
    char *input = NULL;
    size_t input_len = 0;
    char id[SIGN_ID_MAX + 1];
    unsigned char sig[SIGN__RAW_SIG];

    if (!sign__topic_ok(topic))
        return sign__malformed(r, "topic is empty, too long or holds a newline");
    result = sign__check_shape(msg, 1, r);
    if (result != ML_OK)
        return result;
    sign__printable(cJSON_GetObjectItemCaseSensitive(msg, "id")->valuestring, id);
    const char *kid = cJSON_GetObjectItemCaseSensitive(msg, "kid")->valuestring;
    (void)sign__b64_decode(cJSON_GetObjectItemCaseSensitive(msg, "sig")->valuestring, sig,
                           sizeof(sig)); /* cannot fail: the shape check decoded it */
    /* Exact: the shape check bounded it to an integer of at most 2^53. */
    int64_t expires = (int64_t)cJSON_GetObjectItemCaseSensitive(msg, "expires")->valuedouble;

    result = sign_input(topic, msg, &input, &input_len);
    if (result == ML_NOMEM) {
        ml_refuse(r, result, 500, "msg_verify_failed", "message %s: out of memory", id);
        goto out;
    }
    if (result != ML_OK) {
        ml_refuse(r, result, 400, "msg_malformed",
                  "message %s: not canonical JSON (duplicate key, invalid UTF-8, a number "
                  "that is not an exact integer, or nested deeper than %d)",
                  id, CANON_DEPTH_MAX);
        goto out;
    }
    const struct sign_key *key = sign__keyring_find(kr, kid);
    if (key == NULL) {
        result = ml_refuse(r, ML_REFUSED, 403, "msg_unknown_key",
                           "message %s: no HQ public key with kid %s", id, kid);
        goto out;
    }
    int ok = sign__check_sig(key->pub, sig, input, input_len);
    if (ok < 0) {
        result = ml_refuse(r, ML_FAILURE, 500, "msg_verify_failed",
                           "message %s: OpenSSL could not verify", id);
        goto out;
    }
    if (ok == 0) {
        result =
            ml_refuse(r, ML_REFUSED, 403, "msg_bad_signature",
                      "message %s: signature by kid %s does not verify on this topic", id, kid);
        goto out;
    }
    if (now_ms >= expires) {
        result = ml_refuse(r, ML_REFUSED, 403, "msg_expired", "message %s: expired at %lld", id,
                           (long long)expires);
        goto out;
    }
    result = ML_OK;
out:
    free(input);
    return result;
}
