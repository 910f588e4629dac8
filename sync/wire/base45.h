/*
 * base45: the Base45 encoding of RFC 9285, which packs bytes into the 45 characters of the
 * QR code alphanumeric mode ("0-9A-Z $%*+-./:"). Two bytes become three characters, a
 * last odd byte two, least significant digit first.
 *
 * Decoding is strict, so one byte string has exactly one text: only the 45 characters
 * (uppercase), a length that is not 1 modulo 3, each three-character group at most 65535
 * and a trailing two-character group at most 255. No whitespace, no padding.
 *
 * Pure functions: no allocation, no global state.
 */
#ifndef ML_BASE45_H
#define ML_BASE45_H

#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"

/* Characters of the Base45 text of n bytes (without a terminating NUL). */
#define BASE45_ENCODED_LEN(n) (((n) / 2) * 3 + ((n) % 2) * 2)

/*
 * Writes the Base45 text of in[0..n) and a NUL into out (out_size bytes). Returns ML_LIMIT
 * when out cannot hold BASE45_ENCODED_LEN(n) + 1 bytes (out is then not written). Borrows
 * in and out; in may be NULL when n is 0.
 */
ml_err base45_encode(const uint8_t *in, size_t n, char *out, size_t out_size);

/*
 * Decodes the len characters at text (no NUL needed) into out (out_size bytes). Returns
 * ML_PARSE when text is not strict Base45 (see the top of this file); ML_LIMIT when the
 * bytes would not fit in out_size, which is known from len before any character is read.
 * On success *ret_len is the number of bytes written. On failure *ret_len is not written
 * and out may hold part of the bytes.
 */
ml_err base45_decode(const char *text, size_t len, uint8_t *out, size_t out_size, size_t *ret_len);

#endif
