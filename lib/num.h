/*
 * num: numbers from text. The one parser of decimal integers (configuration values,
 * command-line options, query parameters): strtoll() alone takes " 8", "+8" and "8x"; this
 * takes exactly an optional '-' (only when min < 0), then 1 to NUM_DIGITS_MAX ASCII digits,
 * nothing else. And bytes as hex (keys in configuration files, phone keys in facts).
 */
#ifndef ML_NUM_H
#define ML_NUM_H

#include <stddef.h>
#include <stdint.h>

#define NUM_DIGITS_MAX 18 /* always fits an int64_t */

/* 0 and *ret set when s is such an integer within [min, max]; -1 (nothing written) else.
 * s may be NULL (-1). */
int num_parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret);

/* Decodes exactly 2 * n hex digits (either case) into out[0..n): 0, or -1 with out possibly
 * partly written. */
int num_hex_decode(const char *hex, uint8_t *out, size_t n);

/* Lower-case hex of in[0..n) and a NUL into out (2 * n + 1 bytes). */
void num_hex_encode(const uint8_t *in, size_t n, char *out);

#endif
