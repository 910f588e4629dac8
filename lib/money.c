/* money: half-even rounding, largest-remainder allocation and yuan text of int64_t minor
 * units; see money.h. */
#include "money.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

__extension__ typedef unsigned __int128 u128;

int64_t money_muldiv_floor(int64_t a, int64_t b, int64_t c)
{
    assert(a >= 0 && b >= 0 && c > 0);
    u128 p = (u128)(uint64_t)a * (uint64_t)b;
    return (int64_t)(p / (uint64_t)c);
}

int64_t money_muldiv_half_even(int64_t a, int64_t b, int64_t c)
{
    assert(a >= 0 && b >= 0 && c > 0);
    u128 p = (u128)(uint64_t)a * (uint64_t)b;
    u128 q = p / (uint64_t)c;
    u128 r = p % (uint64_t)c;
    u128 twice = r * 2;
    if (twice > (u128)(uint64_t)c || (twice == (u128)(uint64_t)c && (q & 1u)))
        q++;
    return (int64_t)q;
}

int money_allocate(int64_t total, const int64_t *weights, size_t n, int64_t *ret_parts)
{
    int64_t wsum = 0;
    for (size_t i = 0; i < n; i++) {
        if (weights[i] < 0 || wsum > INT64_MAX - weights[i])
            return -1;
        wsum += weights[i];
    }
    if (total < 0 || (wsum == 0 && total > 0))
        return -1;
    if (n == 0)
        return 0;
    int64_t *rem = malloc(n * sizeof(*rem));
    if (rem == NULL)
        return -1;
    int64_t given = 0;
    for (size_t i = 0; i < n; i++) {
        if (wsum == 0) {
            ret_parts[i] = 0;
            rem[i] = 0;
            continue;
        }
        u128 p = (u128)(uint64_t)total * (uint64_t)weights[i];
        ret_parts[i] = (int64_t)(p / (uint64_t)wsum);
        rem[i] = (int64_t)(p % (uint64_t)wsum);
        given += ret_parts[i];
    }
    /* At most n-1 units are left; give each to the largest remaining remainder. */
    for (int64_t left = total - given; left > 0; left--) {
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (rem[i] > 0 && (best == n || rem[i] > rem[best]))
                best = i;
        assert(best < n);
        ret_parts[best]++;
        rem[best] = 0;
    }
    free(rem);
    return 0;
}

const char *money_format(int64_t minor, char *buf, size_t len)
{
    assert(len > 0);
    /* The magnitude in unsigned arithmetic: -INT64_MIN does not fit in int64_t. */
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    snprintf(buf, len, "%s%" PRIu64 ".%02" PRIu64, minor < 0 ? "-" : "", mag / 100, mag % 100);
    return buf;
}
