/* phone: normalize, key and mask mobile numbers; see phone.h. */
#include "phone.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "num.h"

/* Decodes one character of interest; returns the bytes consumed, 0 if not recognized. */
static size_t next_char(const unsigned char *s, char *ret_c)
{
    if (s[0] < 0x80) {
        *ret_c = (char)s[0];
        return 1;
    }
    /* Full-width forms U+FF01..U+FF5E are EF BC 81..EF BD 9E; digits are U+FF10..U+FF19. */
    if (s[0] == 0xEF && s[1] == 0xBC && s[2] >= 0x90 && s[2] <= 0x99) {
        *ret_c = (char)('0' + (s[2] - 0x90));
        return 3;
    }
    if (s[0] == 0xEF && s[1] == 0xBC && s[2] == 0x8B) { /* ＋ */
        *ret_c = '+';
        return 3;
    }
    if (s[0] == 0xEF && s[1] == 0xBC && (s[2] == 0x8D || s[2] == 0x88 || s[2] == 0x89)) {
        *ret_c = '-'; /* －（） are separators */
        return 3;
    }
    if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) { /* ideographic space */
        *ret_c = ' ';
        return 3;
    }
    return 0;
}

ml_err phone_normalize(const char *input, char out[PHONE_DIGITS + 1])
{
    size_t len = strlen(input);
    if (len > PHONE_INPUT_MAX)
        return ML_LIMIT;
    char digits[PHONE_INPUT_MAX + 1];
    size_t nd = 0;
    int plus = 0;
    const unsigned char *s = (const unsigned char *)input;
    while (*s) {
        char c;
        size_t used = next_char(s, &c);
        if (used == 0)
            return ML_PARSE;
        s += used;
        if (c >= '0' && c <= '9') {
            digits[nd++] = c;
        } else if (c == '+') {
            if (nd != 0 || plus)
                return ML_PARSE; /* a plus only leads */
            plus = 1;
        } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') {
            return ML_PARSE;
        }
    }
    digits[nd] = '\0';
    const char *d = digits;
    if (plus) {
        if (strncmp(d, "86", 2) != 0)
            return ML_PARSE; /* only mainland numbers are members' keys */
        d += 2;
    } else if (nd == 15 && strncmp(d, "0086", 4) == 0) {
        d += 4;
    } else if (nd == 13 && strncmp(d, "86", 2) == 0) {
        d += 2;
    }
    if (strlen(d) != PHONE_DIGITS || d[0] != '1' || d[1] < '3' || d[1] > '9')
        return ML_PARSE;
    memcpy(out, d, PHONE_DIGITS + 1);
    return ML_OK;
}

void phone_key(const uint8_t key[PHONE_KEY_LEN], const char *normalized, uint8_t out[PHONE_KEY_LEN])
{
    unsigned int outlen = PHONE_KEY_LEN;
    HMAC(EVP_sha256(), key, PHONE_KEY_LEN, (const unsigned char *)normalized, strlen(normalized),
         out, &outlen);
}

void phone_mask(const char *normalized, char out[PHONE_MASKED_LEN + 1])
{
    memcpy(out, normalized, 3);
    memcpy(out + 3, "****", 4);
    memcpy(out + 7, normalized + 7, 4);
    out[PHONE_MASKED_LEN] = '\0';
}

ml_err phone_key_fact(cJSON *body, const uint8_t *key, struct ml_refusal *r)
{
    cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "phone");
    if (p == NULL)
        return ML_OK;
    if (key == NULL)
        return ml_refuse(r, ML_CONFIG, 400, "invalid_request",
                         "a member has a plaintext 'phone' but no phone key is configured");
    char norm[PHONE_DIGITS + 1];
    if (!cJSON_IsString(p) || phone_normalize(p->valuestring, norm) != ML_OK)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request",
                         "field 'phone' is not a mainland China mobile number");
    uint8_t mac[PHONE_KEY_LEN];
    char hex[2 * PHONE_KEY_LEN + 1], masked[PHONE_MASKED_LEN + 1];
    phone_key(key, norm, mac);
    num_hex_encode(mac, sizeof(mac), hex);
    phone_mask(norm, masked);
    cJSON *h = cJSON_CreateString(hex), *m = cJSON_CreateString(masked);
    if (h == NULL || m == NULL) {
        cJSON_Delete(h);
        cJSON_Delete(m);
        return ml_refuse(r, ML_NOMEM, 500, "internal_error", "out of memory");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(body, "phone");
    /* What the number gives replaces every phone_hmac / phone_masked the body had (cJSON
     * keeps duplicate keys, and a reader takes the first). */
    while (cJSON_GetObjectItemCaseSensitive(body, "phone_hmac") != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(body, "phone_hmac");
    while (cJSON_GetObjectItemCaseSensitive(body, "phone_masked") != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(body, "phone_masked");
    cJSON_AddItemToObject(body, "phone_hmac", h);
    cJSON_AddItemToObject(body, "phone_masked", m);
    /* Duplicates of "phone" (cJSON keeps them) would still carry the plaintext. */
    if (cJSON_GetObjectItemCaseSensitive(body, "phone") != NULL)
        return ml_refuse(r, ML_PARSE, 400, "invalid_request", "field 'phone' appears twice");
    return ML_OK;
}
