/*
 * hq_qr: enroll, member-qr, guide-card and coupon-code; see hq_qr.h. The codes come from
 * agent/qr.h, so what HQ mints is byte for byte what the agent checks. The wallet stands
 * in for the member app: a real app keeps the device key in the phone's secure element
 * and never lets it leave; here it is a PEM string in a 0600 file.
 *
 * The PNG writer is the smallest that is correct: one IHDR, one IDAT (zlib), one IEND,
 * 8-bit grayscale, no filter. A QR code of version 12 at 6 pixels a module is about 450
 * pixels square and compresses to a few kilobytes.
 */
#include "hq_qr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <qrencode.h>
#include <zlib.h>

#include "clock.h"
#include "fileutil.h"
#include "hq_cli.h"
#include "hq_config.h"
#include "hq_key.h"
#include "jsonutil.h"
#include "num.h"

#define HQ_QR_WALLET_VERSION 1
#define HQ_QR_PNG_SIDE_MAX 4096 /* pixels; a version 40 code needs (177 + 8) * 6 = 1110 */

static __attribute__((format(printf, 4, 5))) ml_err fail_with(ml_err err, char *errbuf,
                                                              size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return err;
}

/* ---- the wallet ----------------------------------------------------------------------------- */

/* The PEM PKCS#8 text of key's private half; caller frees with OPENSSL_clear_free(p, n). */
static char *device_key_pem(EVP_PKEY *key, size_t *ret_len)
{
    char *out = NULL, *pem = NULL;
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio == NULL || PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
        goto out;
    long n = BIO_get_mem_data(bio, &pem);
    if (n <= 0 || (out = OPENSSL_malloc((size_t)n + 1)) == NULL)
        goto out;
    memcpy(out, pem, (size_t)n);
    out[n] = '\0';
    *ret_len = (size_t)n + 1;
out:
    ERR_clear_error();
    BIO_free(bio);
    return out;
}

/* Frees a wallet's JSON tree (NULL-safe), clearing the device key's PEM string first. */
static void wallet_json_free(cJSON *w)
{
    if (w == NULL)
        return;
    cJSON *k = cJSON_GetObjectItemCaseSensitive(w, "device_key");
    if (cJSON_IsString(k))
        OPENSSL_cleanse(k->valuestring, strlen(k->valuestring));
    cJSON_Delete(w);
}

ml_err hq_qr_wallet_write(const char *path, const struct qr_code *cred, EVP_PKEY *device,
                          uint32_t counter, char *errbuf, size_t errlen)
{
    ml_err result = ML_NOMEM;
    char hex[2 * QR_CRED_MAX + 1];
    char *pem = NULL, *text = NULL;
    size_t pem_len = 0;
    cJSON *w = NULL;
    struct qr_code probe;

    /* Prove once on a copy: checks that device is the credential's own private key. */
    probe = *cred;
    if (cred->kind != QR_MEMBER || qr_prove(&probe, device, 0, 0) != ML_OK)
        return fail_with(ML_CONFIG, errbuf, errlen,
                         "%s: not a member credential with its device key", path);
    num_hex_encode(cred->bin, cred->cred_len, hex);
    if ((pem = device_key_pem(device, &pem_len)) == NULL) {
        fail_with(ML_FAILURE, errbuf, errlen, "%s: cannot write the device key (OpenSSL)", path);
        result = ML_FAILURE;
        goto out;
    }
    w = cJSON_CreateObject();
    if (w == NULL || json_add_i64(w, "v", HQ_QR_WALLET_VERSION) == NULL ||
        cJSON_AddStringToObject(w, "member_id", cred->id) == NULL ||
        json_add_i64(w, "not_after", cred->not_after) == NULL ||
        cJSON_AddStringToObject(w, "credential", hex) == NULL ||
        cJSON_AddStringToObject(w, "device_key", pem) == NULL ||
        json_add_i64(w, "counter", counter) == NULL || (text = cJSON_Print(w)) == NULL) {
        fail_with(ML_NOMEM, errbuf, errlen, "%s: out of memory", path);
        goto out;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the NUL: the file ends in a newline */
    if (file_replace(path, text, n + 1, 0600) != 0) {
        result = fail_with(ML_FAILURE, errbuf, errlen, "%s: cannot write the wallet: %s", path,
                           strerror(errno));
        text[n] = '\0';
        goto out;
    }
    text[n] = '\0';
    result = ML_OK;
out:
    if (text != NULL) {
        OPENSSL_cleanse(text, strlen(text));
        free(text);
    }
    wallet_json_free(w);
    OPENSSL_clear_free(pem, pem_len);
    return result;
}

/* A wallet as read: the member code (credential only), its device key and counter. */
struct wallet {
    struct qr_code code;
    EVP_PKEY *device;
    uint32_t counter;
};

static ml_err wallet_load(const char *path, struct wallet *ret, char *errbuf, size_t errlen)
{
    ml_err result;
    char *text = NULL;
    size_t len = 0;
    cJSON *w = NULL;
    BIO *bio = NULL;
    unsigned char *cred = NULL;
    long cred_len = 0;
    const char *member = NULL, *hex = NULL, *pem = NULL;
    int64_t v = 0, counter = 0, not_after = 0;
    struct ml_refusal r = {0, NULL, ""};

    result = file_read_small(path, HQ_QR_WALLET_MAX, &text, &len);
    if (result != ML_OK) {
        if (result == ML_NOENTRY)
            return fail_with(result, errbuf, errlen,
                             "%s: no wallet; make one with `memberlink-hq enroll`", path);
        if (result == ML_LIMIT)
            return fail_with(result, errbuf, errlen, "%s: larger than %d bytes, not a wallet", path,
                             HQ_QR_WALLET_MAX);
        return fail_with(result, errbuf, errlen, "%s: cannot read: %s", path,
                         result == ML_NOMEM ? "out of memory" : strerror(errno));
    }
    result = ML_CONFIG;
    if ((w = json_parse_bounded(text, len, &r)) == NULL || !cJSON_IsObject(w)) {
        fail_with(result, errbuf, errlen, "%s: not a wallet: not a JSON object", path);
        goto out;
    }
    if (json_i64(w, "v", 1, HQ_QR_WALLET_VERSION, HQ_QR_WALLET_VERSION, &v, &r) != ML_OK ||
        json_str(w, "member_id", 1, QR_ID_MAX, &member, &r) != ML_OK ||
        json_i64(w, "not_after", 1, 0, UINT32_MAX, &not_after, &r) != ML_OK ||
        json_str(w, "credential", 1, 2 * QR_CRED_MAX, &hex, &r) != ML_OK ||
        json_str(w, "device_key", 1, HQ_QR_WALLET_MAX, &pem, &r) != ML_OK ||
        json_i64(w, "counter", 1, 0, UINT32_MAX, &counter, &r) != ML_OK) {
        fail_with(result, errbuf, errlen, "%s: not a wallet: %s", path, r.message);
        goto out;
    }
    cred = OPENSSL_hexstr2buf(hex, &cred_len);
    ERR_clear_error();
    if (cred == NULL || cred_len <= 0 ||
        qr_from_credential(QR_MEMBER, cred, (size_t)cred_len, &ret->code, &r) != ML_OK ||
        strcmp(ret->code.id, member) != 0 || ret->code.not_after != (uint32_t)not_after) {
        fail_with(result, errbuf, errlen, "%s: \"credential\" is not the member credential of %s",
                  path, member);
        goto out;
    }
    if ((bio = BIO_new_mem_buf(pem, -1)) == NULL) {
        result = fail_with(ML_NOMEM, errbuf, errlen, "%s: out of memory", path);
        goto out;
    }
    ret->device = PEM_read_bio_PrivateKey(bio, NULL, sign_no_passphrase, NULL);
    ERR_clear_error();
    struct qr_code probe = ret->code;
    if (ret->device == NULL || qr_prove(&probe, ret->device, 0, 0) != ML_OK) {
        EVP_PKEY_free(ret->device);
        ret->device = NULL;
        fail_with(result, errbuf, errlen,
                  "%s: \"device_key\" is not the private key the credential binds", path);
        goto out;
    }
    ret->counter = (uint32_t)counter;
    result = ML_OK;
out:
    BIO_free(bio);
    OPENSSL_free(cred);
    if (text != NULL) {
        OPENSSL_cleanse(text, len);
        free(text);
    }
    wallet_json_free(w);
    return result;
}

ml_err hq_qr_wallet_show(const char *path, uint32_t time, char text[QR_TEXT_MAX + 1],
                         uint32_t *ret_counter, char *errbuf, size_t errlen)
{
    struct wallet w = {.device = NULL};
    ml_err result = wallet_load(path, &w, errbuf, errlen);
    if (result != ML_OK)
        return result;
    if (w.counter == UINT32_MAX) {
        result = fail_with(ML_CONFIG, errbuf, errlen,
                           "%s: the counter is used up; enroll the member again", path);
        goto out;
    }
    uint32_t counter = w.counter + 1;
    /* Stored first: a crash after this shows the next counter, never this one twice. */
    result = hq_qr_wallet_write(path, &w.code, w.device, counter, errbuf, errlen);
    if (result != ML_OK)
        goto out;
    if (qr_prove(&w.code, w.device, time, counter) != ML_OK ||
        qr_render(&w.code, text, QR_TEXT_MAX + 1) != ML_OK) {
        result = fail_with(ML_FAILURE, errbuf, errlen, "%s: cannot sign a display proof", path);
        goto out;
    }
    if (ret_counter != NULL)
        *ret_counter = counter;
    result = ML_OK;
out:
    EVP_PKEY_free(w.device);
    return result;
}

/* ---- PNG ---------------------------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends one chunk (length, type, data, CRC over type and data) at *at. */
static void png_chunk(uint8_t **at, const char type[4], const uint8_t *data, size_t n)
{
    uint8_t *p = *at;
    put_be32(p, (uint32_t)n);
    memcpy(p + 4, type, 4);
    if (n > 0 && data != p + 8) /* IDAT is compressed in place */
        memcpy(p + 8, data, n);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, p + 4, (uInt)(n + 4));
    put_be32(p + 8 + n, (uint32_t)crc);
    *at = p + 12 + n;
}

ml_err hq_qr_png_write(const char *text, const char *path, char *errbuf, size_t errlen)
{
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    ml_err result = ML_FAILURE;
    QRinput *in = NULL;
    QRcode *qr = NULL;
    uint8_t *raw = NULL, *file = NULL;

    in = QRinput_new2(0, QR_ECLEVEL_M);
    if (in == NULL) {
        result = fail_with(ML_NOMEM, errbuf, errlen, "%s: out of memory", path);
        goto out;
    }
    if (QRinput_append(in, QR_MODE_AN, (int)strlen(text), (const unsigned char *)text) != 0) {
        result = fail_with(ML_PARSE, errbuf, errlen,
                           "%s: the text does not fit the QR alphanumeric mode", path);
        goto out;
    }
    if ((qr = QRcode_encodeInput(in)) == NULL) {
        fail_with(result, errbuf, errlen, "%s: libqrencode: %s", path, strerror(errno));
        goto out;
    }
    size_t modules = (size_t)qr->width + 2 * HQ_QR_PNG_BORDER;
    size_t side = modules * HQ_QR_PNG_SCALE, row = side + 1; /* a filter byte a row */
    if (side > HQ_QR_PNG_SIDE_MAX) {
        fail_with(result, errbuf, errlen, "%s: a QR code of %zu pixels is too large", path, side);
        goto out;
    }
    raw = malloc(row * side);
    uLongf zlen = compressBound((uLong)(row * side));
    /* signature, IHDR (13), IDAT (zlen), IEND: 12 bytes of framing each */
    size_t file_max = sizeof(signature) + 12 + 13 + 12 + zlen + 12;
    file = malloc(file_max);
    if (raw == NULL || file == NULL) {
        result = fail_with(ML_NOMEM, errbuf, errlen, "%s: out of memory", path);
        goto out;
    }
    for (size_t y = 0; y < side; y++) {
        uint8_t *p = raw + y * row;
        p[0] = 0; /* filter: none */
        size_t my = y / HQ_QR_PNG_SCALE;
        for (size_t x = 0; x < side; x++) {
            size_t mx = x / HQ_QR_PNG_SCALE;
            int dark =
                mx >= HQ_QR_PNG_BORDER && my >= HQ_QR_PNG_BORDER &&
                mx < modules - HQ_QR_PNG_BORDER && my < modules - HQ_QR_PNG_BORDER &&
                (qr->data[(my - HQ_QR_PNG_BORDER) * (size_t)qr->width + (mx - HQ_QR_PNG_BORDER)] &
                 1);
            p[1 + x] = dark ? 0x00 : 0xff;
        }
    }
    uint8_t ihdr[13];
    put_be32(ihdr, (uint32_t)side);
    put_be32(ihdr + 4, (uint32_t)side);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 0;  /* grayscale */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering, each row's filter byte */
    ihdr[12] = 0; /* no interlace */
    uint8_t *at = file;
    memcpy(at, signature, sizeof(signature));
    at += sizeof(signature);
    png_chunk(&at, "IHDR", ihdr, sizeof(ihdr));
    /* IDAT's data is compressed in place, after its length and type */
    if (compress2(at + 8, &zlen, raw, (uLong)(row * side), Z_BEST_COMPRESSION) != Z_OK) {
        fail_with(result, errbuf, errlen, "%s: zlib could not compress the image", path);
        goto out;
    }
    png_chunk(&at, "IDAT", at + 8, zlen);
    png_chunk(&at, "IEND", NULL, 0);
    if (file_replace(path, file, (size_t)(at - file), 0644) != 0) {
        fail_with(result, errbuf, errlen, "%s: cannot write: %s", path, strerror(errno));
        goto out;
    }
    result = ML_OK;
out:
    free(file);
    free(raw);
    QRcode_free(qr);
    QRinput_free(in);
    return result;
}

/* ---- commands ---------------------------------------------------------------------------- */

enum qr_opt { Q_MEMBER, Q_GUIDE, Q_COUPON, Q_DAYS, Q_WALLET, Q_TIME, Q_PNG, Q_COUNT };

static const struct hq_cli_option qr_options[Q_COUNT] = {
    [Q_MEMBER] = {"--member", 1, 0}, [Q_GUIDE] = {"--guide", 1, 0},
    [Q_COUPON] = {"--coupon", 1, 0}, [Q_DAYS] = {"--days", 1, 0},
    [Q_WALLET] = {"--wallet", 1, 0}, [Q_TIME] = {"--time", 1, 0},
    [Q_PNG] = {"--png", 1, 0},
};

static const struct hq_cli_spec qr_spec = {
    .options = qr_options, .noptions = Q_COUNT, .max_pos = 1};

/* The command line as read; a->pos[0] is the command. */
struct qr_args {
    struct hq_cli_args cli;
    const char *cmd;
    const char *const *val; /* cli.val, by enum qr_opt */
};

/* Usage error unless only the options in `allowed` (a bit per enum qr_opt) were given. */
static int only_options(const struct qr_args *a, unsigned allowed)
{
    return hq_cli_only(&a->cli, &qr_spec, allowed, a->cmd);
}

/* A whole number in [min, max], digits only; -1 when v is not one. */
static int parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *ret)
{
    int64_t x = 0;
    if (num_parse_i64(v, min, max, &x) != 0)
        return -1;
    *ret = (uint32_t)x;
    return 0;
}

static int exit_for(ml_err err)
{
    return err == ML_FAILURE || err == ML_NOMEM ? HQ_EXIT_RUNTIME : HQ_EXIT_USAGE;
}

/* not_after for --days (or dflt) from now; usage error when out of range. */
static int days_to_not_after(const struct qr_args *a, uint32_t dflt, uint32_t *ret)
{
    uint32_t days = dflt;
    if (a->val[Q_DAYS] != NULL && parse_u32(a->val[Q_DAYS], 1, HQ_QR_DAYS_MAX, &days) != 0)
        return hq_cli_usage("--days '%.20s': expected a whole number from 1 to %d", a->val[Q_DAYS],
                            HQ_QR_DAYS_MAX);
    int64_t na = clock_wall_ms() / 1000 + (int64_t)days * 86400;
    if (na > (int64_t)UINT32_MAX)
        return hq_cli_usage("--days %u: past the year 2106, which credentials cannot express",
                            days);
    *ret = (uint32_t)na;
    return HQ_EXIT_OK;
}

static int check_id(const char *opt, const char *id)
{
    if (id == NULL)
        return hq_cli_usage("%s ID is required", opt);
    if (!inifile_valid_id(id, QR_ID_MAX))
        return hq_cli_usage("%s '%.40s': expected 1-32 characters of [A-Za-z0-9_-]", opt, id);
    return HQ_EXIT_OK;
}

/* Prints text; with png != NULL also writes it as a PNG. */
static int emit(const char *text, const char *png)
{
    char errbuf[512];
    if (png != NULL) {
        ml_err err = hq_qr_png_write(text, png, errbuf, sizeof(errbuf));
        if (err != ML_OK) {
            fprintf(stderr, "memberlink-hq: %s\n", errbuf);
            return exit_for(err);
        }
    }
    printf("%s\n", text);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "memberlink-hq: cannot write the output: %s\n", strerror(errno));
        return HQ_EXIT_RUNTIME;
    }
    return HQ_EXIT_OK;
}

/* Loads HQ's signing key from data_dir. */
static int load_issuer(const struct hq_config *cfg, EVP_PKEY **ret)
{
    char kid[SIGN_KID_MAX + 1], errbuf[512];
    ml_err err = hq_key_load(cfg->data_dir, ret, kid, errbuf, sizeof(errbuf));
    if (err != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf);
        return exit_for(err);
    }
    return HQ_EXIT_OK;
}

static int cmd_enroll(const struct hq_config *cfg, const struct qr_args *a)
{
    char errbuf[512];
    uint32_t not_after = 0;
    EVP_PKEY *issuer = NULL, *device = NULL;
    struct qr_code cred;
    int rc = only_options(a, 1u << Q_MEMBER | 1u << Q_DAYS | 1u << Q_WALLET);
    if (rc == HQ_EXIT_OK)
        rc = check_id("--member", a->val[Q_MEMBER]);
    if (rc == HQ_EXIT_OK && a->val[Q_WALLET] == NULL)
        rc = hq_cli_usage("%s", "enroll: --wallet FILE is required");
    if (rc == HQ_EXIT_OK)
        rc = days_to_not_after(a, HQ_QR_DAYS_MEMBER, &not_after);
    if (rc == HQ_EXIT_OK)
        rc = load_issuer(cfg, &issuer);
    if (rc != HQ_EXIT_OK)
        return rc;
    rc = HQ_EXIT_RUNTIME;
    device = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ERR_clear_error();
    if (device == NULL ||
        qr_issue(QR_MEMBER, a->val[Q_MEMBER], not_after, issuer, device, &cred) != ML_OK) {
        fprintf(stderr, "memberlink-hq: cannot make the device key or credential (OpenSSL)\n");
        goto out;
    }
    ml_err err = hq_qr_wallet_write(a->val[Q_WALLET], &cred, device, 0, errbuf, sizeof(errbuf));
    if (err != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf);
        rc = exit_for(err);
        goto out;
    }
    fprintf(stderr,
            "memberlink-hq: wallet %s: member %s, credential valid until %" PRIu32
            " (unix seconds); `memberlink-hq member-qr --wallet %s` shows a code\n",
            a->val[Q_WALLET], cred.id, not_after, a->val[Q_WALLET]);
    rc = HQ_EXIT_OK;
out:
    EVP_PKEY_free(device);
    EVP_PKEY_free(issuer);
    return rc;
}

static int cmd_member_qr(const struct qr_args *a)
{
    char text[QR_TEXT_MAX + 1], errbuf[512];
    uint32_t t = 0;
    int rc = only_options(a, 1u << Q_WALLET | 1u << Q_TIME | 1u << Q_PNG);
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->val[Q_WALLET] == NULL)
        return hq_cli_usage("%s", "member-qr: --wallet FILE is required");
    if (a->val[Q_TIME] != NULL) {
        if (parse_u32(a->val[Q_TIME], 0, UINT32_MAX, &t) != 0)
            return hq_cli_usage("--time '%.20s': expected unix seconds, 0 to 4294967295",
                                a->val[Q_TIME]);
    } else {
        int64_t now = clock_wall_ms() / 1000;
        if (now < 0 || now > (int64_t)UINT32_MAX) {
            fprintf(stderr, "memberlink-hq: the clock is outside what a proof can express\n");
            return HQ_EXIT_RUNTIME;
        }
        t = (uint32_t)now;
    }
    ml_err err = hq_qr_wallet_show(a->val[Q_WALLET], t, text, NULL, errbuf, sizeof(errbuf));
    if (err != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf);
        return exit_for(err);
    }
    return emit(text, a->val[Q_PNG]);
}

/* guide-card and coupon-code */
static int cmd_card(const struct hq_config *cfg, const struct qr_args *a, enum qr_kind kind)
{
    enum qr_opt id_opt = kind == QR_GUIDE ? Q_GUIDE : Q_COUPON;
    char text[QR_TEXT_MAX + 1];
    uint32_t not_after = 0;
    EVP_PKEY *issuer = NULL;
    struct qr_code c;
    int rc = only_options(a, 1u << id_opt | 1u << Q_DAYS | 1u << Q_PNG);
    if (rc == HQ_EXIT_OK)
        rc = check_id(qr_options[id_opt].name, a->val[id_opt]);
    if (rc == HQ_EXIT_OK)
        rc = days_to_not_after(a, kind == QR_GUIDE ? HQ_QR_DAYS_GUIDE : HQ_QR_DAYS_COUPON,
                               &not_after);
    if (rc == HQ_EXIT_OK)
        rc = load_issuer(cfg, &issuer);
    if (rc != HQ_EXIT_OK)
        return rc;
    if (qr_issue(kind, a->val[id_opt], not_after, issuer, NULL, &c) != ML_OK ||
        qr_render(&c, text, sizeof(text)) != ML_OK) {
        fprintf(stderr, "memberlink-hq: cannot sign the %s (OpenSSL)\n", qr_kind_name(kind));
        rc = HQ_EXIT_RUNTIME;
    } else {
        rc = emit(text, a->val[Q_PNG]);
    }
    EVP_PKEY_free(issuer);
    return rc;
}

int hq_qr_handles(const char *cmd)
{
    return strcmp(cmd, "enroll") == 0 || strcmp(cmd, "member-qr") == 0 ||
           strcmp(cmd, "guide-card") == 0 || strcmp(cmd, "coupon-code") == 0;
}

int hq_qr_main(int argc, char **argv)
{
    static struct hq_config cfg; /* large (the [hq] stores list): not on the stack */
    static struct qr_args a;
    int rc = hq_cli_parse(argc, argv, &qr_spec, &a.cli);
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a.cli.help)
        return hq_cli_help();
    a.cmd = a.cli.npos > 0 ? a.cli.pos[0] : NULL;
    a.val = a.cli.val;
    if (a.cmd == NULL || !hq_qr_handles(a.cmd))
        return hq_cli_usage("%s", "no command given");
    if ((rc = hq_cli_config(&a.cli, &cfg)) != HQ_EXIT_OK)
        return rc;
    if (strcmp(a.cmd, "enroll") == 0)
        return cmd_enroll(&cfg, &a);
    if (strcmp(a.cmd, "member-qr") == 0)
        return cmd_member_qr(&a);
    return cmd_card(&cfg, &a, strcmp(a.cmd, "guide-card") == 0 ? QR_GUIDE : QR_COUPON);
}
