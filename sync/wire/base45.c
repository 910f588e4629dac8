/*
 * base45: RFC 9285 Base45; the rules are in base45.h. Decoding checks every rule before
 * it writes a group, and reports success only after the last one, so input that breaks
 * a rule never yields bytes the caller could mistake for a result.
 */
#include "base45.h"

static const char base45__alphabet[45] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/* The value of c, or -1 when c is not in the alphabet (lowercase included). */
static int base45__value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    switch (c) {
    case ' ':
        return 36;
    case '$':
        return 37;
    case '%':
        return 38;
    case '*':
        return 39;
    case '+':
        return 40;
    case '-':
        return 41;
    case '.':
        return 42;
    case '/':
        return 43;
    case ':':
        return 44;
    default:
        return -1;
    }
}

ml_err base45_encode(const uint8_t *in, size_t n, char *out, size_t out_size)
{
    if (out == NULL || out_size < BASE45_ENCODED_LEN(n) + 1)
        return ML_LIMIT;
    size_t o = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v = (unsigned)in[i] * 256u + in[i + 1];
        out[o++] = base45__alphabet[v % 45];
        out[o++] = base45__alphabet[v / 45 % 45];
        out[o++] = base45__alphabet[v / (45 * 45)];
    }
    if (n % 2 == 1) {
        unsigned v = in[n - 1];
        out[o++] = base45__alphabet[v % 45];
        out[o++] = base45__alphabet[v / 45];
    }
    out[o] = '\0';
    return ML_OK;
}

ml_err base45_decode(const char *text, size_t len, uint8_t *out, size_t out_size, size_t *ret_len)
{
    if (len % 3 == 1 || (text == NULL && len > 0))
        return ML_PARSE;
    if (len / 3 * 2 + len % 3 / 2 > out_size)
        return ML_LIMIT;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        size_t group = len - i >= 3 ? 3 : 2;
        unsigned v = 0, scale = 1;
        for (size_t k = 0; k < group; k++) {
            int d = base45__value(text[i + k]);
            if (d < 0)
                return ML_PARSE;
            v += (unsigned)d * scale;
            scale *= 45;
        }
        if (v > (group == 3 ? 65535u : 255u))
            return ML_PARSE;
        if (group == 3) {
            out[o++] = (uint8_t)(v >> 8);
            out[o++] = (uint8_t)(v & 0xff);
        } else {
            out[o++] = (uint8_t)v;
        }
    }
    *ret_len = o;
    return ML_OK;
}
