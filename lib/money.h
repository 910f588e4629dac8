/*
 * money: integer arithmetic on minor units (fen/cents) in int64_t.
 *
 * Every rounding in memberlink goes through money_muldiv_half_even(); every split of an
 * amount over sale lines goes through money_allocate(), so the parts always sum exactly
 * to the whole.
 */
#ifndef ML_MONEY_H
#define ML_MONEY_H

#include <stddef.h>
#include <stdint.h>

#define BP_ONE 10000 /* basis points in 1: rates are written in them */
/* Bytes of the longest money_format() text with its NUL: "-92233720368547758.08". */
#define MONEY_TEXT_MAX 22

/*
 * round_half_even(a * b / c) computed without intermediate overflow.
 * Preconditions: a >= 0, b >= 0, c > 0, and the result fits in int64_t.
 */
int64_t money_muldiv_half_even(int64_t a, int64_t b, int64_t c);

/* floor(a * b / c) under the same preconditions. */
int64_t money_muldiv_floor(int64_t a, int64_t b, int64_t c);

/*
 * Splits `total` (>= 0) over n parts in proportion to `weights` (each >= 0) by the
 * largest-remainder method: each part gets floor(total * w / W); the units left over go
 * one each to the largest remainders, ties to the lower index. A part never exceeds
 * total * w / W rounded up, so a zero weight gets zero.
 * Writes ret_parts[0..n) and returns 0; returns -1 (writing nothing) if the weights sum to
 * zero while total > 0, or overflow.
 */
int money_allocate(int64_t total, const int64_t *weights, size_t n, int64_t *ret_parts);

/*
 * Minor units as yuan text, the way every report and receipt prints them: 5990 -> "59.90",
 * -50 -> "-0.50", 0 -> "0.00"; any int64_t, INT64_MIN included. Writes into buf (len > 0
 * bytes; the text is cut short, still NUL-terminated, when len < MONEY_TEXT_MAX) and
 * returns buf.
 */
const char *money_format(int64_t minor, char *buf, size_t len);

#endif
