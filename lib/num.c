/* num: strict decimal integers; see num.h. */
#include "num.h"

#include <stdlib.h>
#include <string.h>

int num_parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
    if (s == NULL)
        return -1;
    const char *digits = s[0] == '-' && min < 0 ? s + 1 : s;
    size_t n = strlen(digits);
    if (n == 0 || n > NUM_DIGITS_MAX || strspn(digits, "0123456789") != n)
        return -1;
    long long v = strtoll(s, NULL, 10);
    if (v < min || v > max)
        return -1;
    *ret = (int64_t)v;
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int num_hex_decode(const char *hex, uint8_t *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void num_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}
