/*
 * qr: parse, verify and build the QR codes of qr.h; the byte layout is in docs/qr.md.
 *
 * Parsing trusts nothing and calls OpenSSL only to check that a member code's device key
 * is a point on P-256: every length is known from the prefix and id_len before a byte is
 * read. Verification uses only what qr_parse() or qr_issue() stored in struct qr_code, so
 * a code is never decoded twice in two different ways.
 */
#include "qr.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define QR__PROOF_DOMAIN "ML1P"
#define QR__P256_COORD 32
#define QR__OFF_KID 1
#define QR__OFF_ID_LEN (QR__OFF_KID + QR_KID_FP_LEN)
#define QR__OFF_ID (QR__OFF_ID_LEN + 1)
/* The issuer signs prefix || credential without its signature; the device signs
 * QR__PROOF_DOMAIN || credential || time || counter. */
#define QR__ISSUER_INPUT_MAX (sizeof(QR_GUIDE_PREFIX) - 1 + QR_CRED_MAX - QR_SIG_LEN)
#define QR__PROOF_INPUT_MAX (sizeof(QR__PROOF_DOMAIN) - 1 + QR_CRED_MAX + 8)

const char *qr_kind_name(enum qr_kind kind)
{
    switch (kind) {
    case QR_MEMBER:
        return "member code";
    case QR_GUIDE:
        return "guide card";
    case QR_COUPON:
        return "coupon code";
    }
    return "code";
}

static const char *qr__prefix(enum qr_kind kind)
{
    switch (kind) {
    case QR_MEMBER:
        return QR_MEMBER_PREFIX;
    case QR_GUIDE:
        return QR_GUIDE_PREFIX;
    case QR_COUPON:
        return QR_COUPON_PREFIX;
    }
    return NULL;
}

static void qr__put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t qr__get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int qr__id_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Credential bytes for an id of id_len; the proof comes on top for member codes. */
static size_t qr__cred_len(enum qr_kind kind, size_t id_len)
{
    return QR_HEAD_LEN + id_len + (kind == QR_MEMBER ? QR_DEVICE_PUB_LEN : 0) + QR_SIG_LEN;
}

static ml_err qr__malformed(struct ml_refusal *r, enum qr_kind kind, const char *what)
{
    return ml_refuse(r, ML_PARSE, 400, "qr_malformed", "%s: %s", qr_kind_name(kind), what);
}

static ml_err qr__internal(struct ml_refusal *r, ml_err err, enum qr_kind kind)
{
    return ml_refuse(r, err, 500, "internal_error", "%s: %s", qr_kind_name(kind),
                     err == ML_NOMEM ? "out of memory" : "OpenSSL could not check it");
}

/*
 * The P-256 public key whose compressed encoding is pub. ML_PARSE when pub is not a
 * point on the curve, ML_NOMEM when OpenSSL cannot allocate. Caller frees *ret.
 */
static ml_err qr__device_key(const uint8_t pub[QR_DEVICE_PUB_LEN], EVP_PKEY **ret)
{
    ml_err result = ML_PARSE;
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t copy[QR_DEVICE_PUB_LEN];

    /* The layout holds only the compressed forms; say so before OpenSSL sees the bytes. */
    if (pub[0] != 0x02 && pub[0] != 0x03)
        goto out;
    memcpy(copy, pub, sizeof(copy));
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, copy, sizeof(copy)),
        OSSL_PARAM_construct_end(),
    };
    result = ML_NOMEM;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1)
        goto out;
    /* Decompression fails for an x off the curve or not below p. */
    result = EVP_PKEY_fromdata(ctx, ret, EVP_PKEY_PUBLIC_KEY, params) == 1 ? ML_OK : ML_PARSE;
out:
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    return result;
}

/* 1 when key is a P-256 key. */
static int qr__is_p256(EVP_PKEY *key)
{
    char group[32];
    size_t len = 0;
    int ok = key != NULL && EVP_PKEY_is_a(key, "EC") &&
             EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            &len) == 1 &&
             strcmp(group, "prime256v1") == 0;
    ERR_clear_error();
    return ok;
}

/* Writes the compressed public point of the P-256 key; 0 when key is not one. */
static int qr__device_pub(EVP_PKEY *key, uint8_t out[QR_DEVICE_PUB_LEN])
{
    uint8_t enc[1 + 2 * QR__P256_COORD];
    size_t len = 0;
    int ok = 0;
    if (!qr__is_p256(key) ||
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, enc, sizeof(enc),
                                        &len) != 1)
        goto out;
    if (len == sizeof(enc) && enc[0] == 0x04) {
        out[0] = (uint8_t)(0x02 | (enc[sizeof(enc) - 1] & 1));
        memcpy(out + 1, enc + 1, QR__P256_COORD);
        ok = 1;
    } else if (len == QR_DEVICE_PUB_LEN && (enc[0] == 0x02 || enc[0] == 0x03)) {
        memcpy(out, enc, QR_DEVICE_PUB_LEN);
        ok = 1;
    }
out:
    ERR_clear_error();
    return ok;
}

/*
 * Checks bin[0..len) as a code of kind: a bare credential when with_proof is 0, else a
 * credential and its proof (member codes; guide cards and coupons never have one). Fills
 * *ret on success only.
 */
static ml_err qr__parse_bin(enum qr_kind kind, const uint8_t *bin, size_t len, int with_proof,
                            struct qr_code *ret, struct ml_refusal *r)
{
    int proof = with_proof && kind == QR_MEMBER;
    if (len < QR__OFF_ID)
        return qr__malformed(r, kind, "too short to hold a credential");
    if (bin[0] != QR_VERSION)
        return qr__malformed(r, kind, "not a version 1 credential");
    size_t id_len = bin[QR__OFF_ID_LEN];
    if (id_len < 1 || id_len > QR_ID_MAX)
        return qr__malformed(r, kind, "id length is not 1 to 32");
    size_t cred_len = qr__cred_len(kind, id_len);
    size_t want = cred_len + (proof ? QR_PROOF_LEN : 0);
    if (len != want) {
        char what[96];
        snprintf(what, sizeof(what), "%zu bytes where its id length implies %zu", len, want);
        return qr__malformed(r, kind, what);
    }
    for (size_t i = 0; i < id_len; i++)
        if (!qr__id_char(bin[QR__OFF_ID + i]))
            return qr__malformed(r, kind, "id holds a character outside [A-Za-z0-9_-]");
    size_t off = QR__OFF_ID + id_len;
    uint32_t not_after = qr__get32(bin + off);
    uint8_t flags = bin[off + 4];
    if (flags != 0)
        return qr__malformed(r, kind, "reserved flags are set");
    off += 5;
    if (kind == QR_MEMBER) {
        EVP_PKEY *dev = NULL;
        ml_err err = qr__device_key(bin + off, &dev);
        EVP_PKEY_free(dev);
        if (err == ML_PARSE)
            return qr__malformed(r, kind, "device key is not a compressed P-256 point");
        if (err != ML_OK)
            return qr__internal(r, err, kind);
    }

    memset(ret, 0, sizeof(*ret));
    ret->kind = kind;
    memcpy(ret->id, bin + QR__OFF_ID, id_len);
    ret->id[id_len] = '\0';
    memcpy(ret->kid_fp, bin + QR__OFF_KID, QR_KID_FP_LEN);
    ret->not_after = not_after;
    ret->flags = flags;
    if (proof) {
        ret->has_proof = 1;
        ret->proof_time = qr__get32(bin + cred_len);
        ret->counter = qr__get32(bin + cred_len + 4);
    }
    ret->len = len;
    ret->cred_len = cred_len;
    memcpy(ret->bin, bin, len);
    return ML_OK;
}

ml_err qr_parse(const char *text, size_t len, struct qr_code *ret, struct ml_refusal *r)
{
    static const enum qr_kind kinds[] = {QR_MEMBER, QR_GUIDE, QR_COUPON};
    uint8_t bin[QR_BIN_MAX];
    size_t bin_len = 0;

    if (len > QR_TEXT_MAX)
        return ml_refuse(r, ML_PARSE, 400, "qr_malformed",
                         "code: longer than %zu characters, the longest code", QR_TEXT_MAX);
    if (text == NULL && len > 0)
        return ml_refuse(r, ML_PARSE, 400, "qr_malformed", "code: no text");
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        const char *prefix = qr__prefix(kinds[k]);
        size_t plen = strlen(prefix);
        if (len < plen || memcmp(text, prefix, plen) != 0)
            continue;
        if (base45_decode(text + plen, len - plen, bin, sizeof(bin), &bin_len) != ML_OK)
            return qr__malformed(r, kinds[k],
                                 "not strict Base45 (a character outside 0-9, A-Z and "
                                 "\" $%*+-./:\", a length of 1 modulo 3, or a group too large)");
        return qr__parse_bin(kinds[k], bin, bin_len, 1, ret, r);
    }
    return ml_refuse(r, ML_PARSE, 400, "qr_malformed",
                     "code: does not start with " QR_MEMBER_PREFIX ", " QR_GUIDE_PREFIX
                     " or " QR_COUPON_PREFIX);
}

ml_err qr_from_credential(enum qr_kind kind, const uint8_t *cred, size_t len, struct qr_code *ret,
                          struct ml_refusal *r)
{
    if (qr__prefix(kind) == NULL)
        return qr__malformed(r, kind, "unknown kind");
    if (cred == NULL || len > QR_CRED_MAX)
        return qr__malformed(r, kind, "not a credential of at most 140 bytes");
    return qr__parse_bin(kind, cred, len, 0, ret, r);
}

/* prefix || the credential up to its signature; returns the length. */
static size_t qr__issuer_input(const struct qr_code *c, uint8_t out[QR__ISSUER_INPUT_MAX])
{
    const char *prefix = qr__prefix(c->kind);
    size_t plen = strlen(prefix), n = c->cred_len - QR_SIG_LEN;
    memcpy(out, prefix, plen);
    memcpy(out + plen, c->bin, n);
    return plen + n;
}

/* "ML1P" || credential || time || counter; returns the length. */
static size_t qr__proof_input(const struct qr_code *c, uint32_t time, uint32_t counter,
                              uint8_t out[QR__PROOF_INPUT_MAX])
{
    size_t dlen = sizeof(QR__PROOF_DOMAIN) - 1;
    memcpy(out, QR__PROOF_DOMAIN, dlen);
    memcpy(out + dlen, c->bin, c->cred_len);
    qr__put32(out + dlen + c->cred_len, time);
    qr__put32(out + dlen + c->cred_len + 4, counter);
    return dlen + c->cred_len + 8;
}

/* 1 when sig (DER for ECDSA, raw for Ed25519) verifies over in, 0 when not, -1 when
 * OpenSSL cannot check. md is NULL for Ed25519. */
static int qr__check(EVP_PKEY *pub, const EVP_MD *md, const uint8_t *sig, size_t sig_len,
                     const uint8_t *in, size_t in_len)
{
    int ok = -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub) != 1)
        goto out;
    /* 0 is a bad signature, < 0 a malformed one: both mean no. */
    ok = EVP_DigestVerify(ctx, sig, sig_len, in, in_len) == 1;
out:
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    return ok;
}

ml_err qr_verify_issuer(const struct qr_code *c, const struct sign_keyring *kr, int64_t now_s,
                        struct ml_refusal *r)
{
    uint8_t in[QR__ISSUER_INPUT_MAX];
    EVP_PKEY *pub = NULL;
    const char *kid = NULL;
    /* c comes from qr_parse() or qr_issue(), which keep these. */
    assert(c != NULL && qr__prefix(c->kind) != NULL && c->cred_len >= QR_SIG_LEN &&
           c->cred_len <= c->len && c->cred_len <= QR_CRED_MAX);
    const char *what = qr_kind_name(c->kind);

    if (sign_keyring_find_fp(kr, c->kid_fp, &pub, &kid) != ML_OK)
        return ml_refuse(r, ML_REFUSED, 403, "qr_unknown_key",
                         "%s: no HQ key with fingerprint %02x%02x%02x%02x", what, c->kid_fp[0],
                         c->kid_fp[1], c->kid_fp[2], c->kid_fp[3]);
    size_t in_len = qr__issuer_input(c, in);
    int ok = qr__check(pub, NULL, c->bin + c->cred_len - QR_SIG_LEN, QR_SIG_LEN, in, in_len);
    if (ok < 0)
        return qr__internal(r, ML_FAILURE, c->kind);
    if (ok == 0)
        return ml_refuse(r, ML_REFUSED, 403, "qr_bad_signature",
                         "%s: the HQ signature (key %s) does not verify", what, kid);
    if (now_s > (int64_t)c->not_after)
        return ml_refuse(r, ML_REFUSED, 403, "qr_expired", "%s %s: expired at %lu", what, c->id,
                         (unsigned long)c->not_after);
    return ML_OK;
}

/* The DER form of the raw r || s signature; returns its length, 0 when OpenSSL fails. */
static size_t qr__sig_der(const uint8_t raw[QR_SIG_LEN], uint8_t *der, size_t der_size)
{
    size_t n = 0;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(raw, QR__P256_COORD, NULL);
    BIGNUM *bs = BN_bin2bn(raw + QR__P256_COORD, QR__P256_COORD, NULL);
    if (sig == NULL || br == NULL || bs == NULL || ECDSA_SIG_set0(sig, br, bs) != 1)
        goto out;
    br = bs = NULL; /* owned by sig now */
    int len = i2d_ECDSA_SIG(sig, NULL);
    if (len <= 0 || (size_t)len > der_size)
        goto out;
    unsigned char *p = der;
    if (i2d_ECDSA_SIG(sig, &p) == len)
        n = (size_t)len;
out:
    ERR_clear_error();
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(sig);
    return n;
}

ml_err qr_verify_proof(const struct qr_code *c, int64_t now_s, int window_s, struct ml_refusal *r)
{
    ml_err result;
    uint8_t in[QR__PROOF_INPUT_MAX], der[80];
    EVP_PKEY *dev = NULL;
    assert(c != NULL && window_s >= 0 && c->cred_len <= QR_CRED_MAX && c->len <= QR_BIN_MAX);

    if (c->kind != QR_MEMBER)
        return ML_OK;
    if (!c->has_proof || c->len != c->cred_len + QR_PROOF_LEN)
        return qr__malformed(r, c->kind, "no display proof");
    result = qr__device_key(c->bin + c->cred_len - QR_SIG_LEN - QR_DEVICE_PUB_LEN, &dev);
    if (result != ML_OK) {
        /* qr_parse() or qr_issue() checked the point: only OpenSSL can fail here. */
        result = qr__internal(r, result == ML_PARSE ? ML_FAILURE : result, c->kind);
        goto out;
    }
    size_t in_len = qr__proof_input(c, c->proof_time, c->counter, in);
    size_t der_len = qr__sig_der(c->bin + c->cred_len + 8, der, sizeof(der));
    if (der_len == 0) {
        result = qr__internal(r, ML_NOMEM, c->kind);
        goto out;
    }
    int ok = qr__check(dev, EVP_sha256(), der, der_len, in, in_len);
    if (ok < 0) {
        result = qr__internal(r, ML_FAILURE, c->kind);
        goto out;
    }
    if (ok == 0) {
        result = ml_refuse(r, ML_REFUSED, 403, "qr_bad_signature",
                           "member code %s: the phone's signature does not verify", c->id);
        goto out;
    }
    /* Compared this way round, no value of now_s can overflow. */
    int64_t shown = (int64_t)c->proof_time;
    if (now_s < shown - window_s || now_s > shown + window_s) {
        result = ml_refuse(r, ML_REFUSED, 403, "qr_expired",
                           "member code %s: shown at %lu, outside %d s of this terminal's time "
                           "%lld; check the phone's clock",
                           c->id, (unsigned long)c->proof_time, window_s, (long long)now_s);
        goto out;
    }
    result = ML_OK;
out:
    EVP_PKEY_free(dev);
    return result;
}

/* 1 when key is an Ed25519 private key. */
static int qr__is_ed25519_private(EVP_PKEY *key)
{
    size_t len = 0;
    int ok = key != NULL && EVP_PKEY_is_a(key, "ED25519") &&
             EVP_PKEY_get_raw_private_key(key, NULL, &len) == 1 && len == 32;
    ERR_clear_error();
    return ok;
}

/* Signs in with key (md NULL for Ed25519) into the DER or raw sig; returns its length, 0
 * when OpenSSL fails. */
static size_t qr__sign(EVP_PKEY *key, const EVP_MD *md, const uint8_t *in, size_t in_len,
                       uint8_t *sig, size_t sig_size)
{
    size_t n = sig_size;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1 ||
        EVP_DigestSign(ctx, sig, &n, in, in_len) != 1)
        n = 0;
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    return n;
}

ml_err qr_issue(enum qr_kind kind, const char *id, uint32_t not_after, EVP_PKEY *issuer,
                EVP_PKEY *device, struct qr_code *ret)
{
    struct qr_code c;
    uint8_t in[QR__ISSUER_INPUT_MAX];

    if (qr__prefix(kind) == NULL || id == NULL)
        return ML_PARSE;
    size_t id_len = strnlen(id, QR_ID_MAX + 1);
    if (id_len < 1 || id_len > QR_ID_MAX)
        return ML_PARSE;
    for (size_t i = 0; i < id_len; i++)
        if (!qr__id_char((uint8_t)id[i]))
            return ML_PARSE;
    if (!qr__is_ed25519_private(issuer) || (kind == QR_MEMBER) != (device != NULL))
        return ML_CONFIG;

    memset(&c, 0, sizeof(c));
    c.kind = kind;
    memcpy(c.id, id, id_len);
    c.not_after = not_after;
    c.cred_len = c.len = qr__cred_len(kind, id_len);
    c.bin[0] = QR_VERSION;
    if (sign_key_fingerprint(issuer, c.kid_fp) != ML_OK)
        return ML_FAILURE;
    memcpy(c.bin + QR__OFF_KID, c.kid_fp, QR_KID_FP_LEN);
    c.bin[QR__OFF_ID_LEN] = (uint8_t)id_len;
    memcpy(c.bin + QR__OFF_ID, id, id_len);
    size_t off = QR__OFF_ID + id_len;
    qr__put32(c.bin + off, not_after);
    c.bin[off + 4] = 0; /* flags */
    off += 5;
    if (kind == QR_MEMBER) {
        if (!qr__device_pub(device, c.bin + off))
            return ML_CONFIG;
        off += QR_DEVICE_PUB_LEN;
    }
    size_t in_len = qr__issuer_input(&c, in);
    if (qr__sign(issuer, NULL, in, in_len, c.bin + off, QR_SIG_LEN) != QR_SIG_LEN)
        return ML_FAILURE;
    *ret = c;
    return ML_OK;
}

/* The raw r || s of a DER ECDSA signature; 0 when it is not one of P-256 size. */
static int qr__sig_raw(const uint8_t *der, size_t der_len, uint8_t raw[QR_SIG_LEN])
{
    const unsigned char *p = der;
    const BIGNUM *br = NULL, *bs = NULL;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    int ok = 0;
    if (sig == NULL)
        goto out;
    ECDSA_SIG_get0(sig, &br, &bs);
    ok = BN_bn2binpad(br, raw, QR__P256_COORD) == QR__P256_COORD &&
         BN_bn2binpad(bs, raw + QR__P256_COORD, QR__P256_COORD) == QR__P256_COORD;
out:
    ERR_clear_error();
    ECDSA_SIG_free(sig);
    return ok;
}

/* 1 when key holds a private half (a public key cannot sign). */
static int qr__has_private(EVP_PKEY *key)
{
    BIGNUM *d = NULL;
    int ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1;
    BN_clear_free(d);
    ERR_clear_error();
    return ok;
}

ml_err qr_prove(struct qr_code *c, EVP_PKEY *device, uint32_t time, uint32_t counter)
{
    uint8_t pub[QR_DEVICE_PUB_LEN], in[QR__PROOF_INPUT_MAX], der[80], raw[QR_SIG_LEN];

    if (c == NULL || c->kind != QR_MEMBER || c->cred_len < QR_SIG_LEN + QR_DEVICE_PUB_LEN ||
        c->cred_len > QR_CRED_MAX)
        return ML_CONFIG;
    if (!qr__device_pub(device, pub) || !qr__has_private(device) ||
        memcmp(pub, c->bin + c->cred_len - QR_SIG_LEN - QR_DEVICE_PUB_LEN, sizeof(pub)) != 0)
        return ML_CONFIG;
    size_t in_len = qr__proof_input(c, time, counter, in);
    size_t der_len = qr__sign(device, EVP_sha256(), in, in_len, der, sizeof(der));
    if (der_len == 0 || !qr__sig_raw(der, der_len, raw))
        return ML_FAILURE;
    qr__put32(c->bin + c->cred_len, time);
    qr__put32(c->bin + c->cred_len + 4, counter);
    memcpy(c->bin + c->cred_len + 8, raw, sizeof(raw));
    c->len = c->cred_len + QR_PROOF_LEN;
    c->has_proof = 1;
    c->proof_time = time;
    c->counter = counter;
    return ML_OK;
}

ml_err qr_render(const struct qr_code *c, char *out, size_t out_size)
{
    const char *prefix = c == NULL ? NULL : qr__prefix(c->kind);
    if (prefix == NULL || c->len > QR_BIN_MAX || (c->kind == QR_MEMBER && !c->has_proof))
        return ML_CONFIG;
    size_t plen = strlen(prefix);
    if (out == NULL || out_size < plen + BASE45_ENCODED_LEN(c->len) + 1)
        return ML_LIMIT;
    memcpy(out, prefix, plen);
    return base45_encode(c->bin, c->len, out + plen, out_size - plen);
}
