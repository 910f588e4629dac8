/*
 * qr_fuzz: libFuzzer target for the QR codec (agent/qr.h, agent/base45.h). `make fuzz`
 * builds it with clang -fsanitize=fuzzer,address,undefined and runs it, seeded with the
 * texts of tests/vectors/qr_vectors.json.
 *
 * Each input goes through qr_parse(), qr_verify_issuer() and qr_verify_proof() twice:
 * as scanned text, and as binary behind the prefix its first byte picks (so the fuzzer
 * reaches the layout checks without having to learn Base45). Besides not crashing, it
 * checks what must hold for every input: strict Base45 means one text per byte string, so
 * a text that decodes encodes back to itself, and a code that parses renders back to its
 * text; a parsed id is 1..32 of [A-Za-z0-9_-]; refusals carry one of the documented codes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base45.h"
#include "qr.h"
#include "sign.h"

#define FUZZ_NOW 1767225600 /* the vectors' "now" */
/* the vectors' issuer: RFC 8032 section 7.1 TEST 1, public */
#define FUZZ_KID "hq-2026-01"
#define FUZZ_PUB "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

static struct sign_keyring *fuzz_kr;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_kr = sign_keyring_new();
    if (fuzz_kr == NULL || sign_keyring_add(fuzz_kr, FUZZ_KID, FUZZ_PUB) != ML_OK)
        abort();
    return 0;
}

static void expect(int cond)
{
    if (!cond)
        abort();
}

static void check_refusal(ml_err err, const struct ml_refusal *r)
{
    if (err == ML_OK)
        return;
    expect(r->code != NULL && r->message[0] != '\0');
    if (err == ML_PARSE)
        expect(strcmp(r->code, "qr_malformed") == 0 && r->http_status == 400);
    else if (err == ML_REFUSED)
        expect((strcmp(r->code, "qr_unknown_key") == 0 ||
                strcmp(r->code, "qr_bad_signature") == 0 || strcmp(r->code, "qr_expired") == 0) &&
               r->http_status == 403);
    else
        expect(strcmp(r->code, "internal_error") == 0);
}

static void run(const char *text, size_t len)
{
    struct qr_code c;
    struct ml_refusal r = {0, NULL, ""};
    ml_err err = qr_parse(text, len, &c, &r);
    check_refusal(err, &r);
    if (err != ML_OK)
        return;

    size_t id_len = strlen(c.id);
    expect(id_len >= 1 && id_len <= QR_ID_MAX && c.flags == 0);
    expect(strspn(c.id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") ==
           id_len);
    expect(c.cred_len <= c.len && c.len <= QR_BIN_MAX);
    char back[QR_TEXT_MAX + 1];
    expect(qr_render(&c, back, sizeof(back)) == ML_OK);
    expect(strlen(back) == len && memcmp(back, text, len) == 0);

    err = qr_verify_issuer(&c, fuzz_kr, FUZZ_NOW, &r);
    check_refusal(err, &r);
    if (err != ML_OK)
        return;
    err = qr_verify_proof(&c, FUZZ_NOW, QR_WINDOW_DEFAULT, &r);
    check_refusal(err, &r);
    err = qr_verify_proof(&c, (int64_t)c.proof_time, 0, &r);
    check_refusal(err, &r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const prefixes[] = {QR_MEMBER_PREFIX, QR_GUIDE_PREFIX, QR_COUPON_PREFIX};
    char text[QR_TEXT_MAX + 64];

    /* as scanned */
    run((const char *)data, size);
    uint8_t bin[QR_TEXT_MAX];
    char back[BASE45_ENCODED_LEN(sizeof(bin)) + 1];
    size_t n = 0;
    if (base45_decode((const char *)data, size, bin, sizeof(bin), &n) == ML_OK) {
        expect(base45_encode(bin, n, back, sizeof(back)) == ML_OK);
        expect(strlen(back) == size && memcmp(back, data, size) == 0);
    }

    /* as the binary of a code */
    if (size >= 1 && size - 1 <= QR_BIN_MAX + 2) {
        const char *prefix = prefixes[data[0] % 3];
        size_t plen = strlen(prefix);
        memcpy(text, prefix, plen);
        expect(base45_encode(data + 1, size - 1, text + plen, sizeof(text) - plen) == ML_OK);
        run(text, strlen(text));
    }
    return 0;
}
