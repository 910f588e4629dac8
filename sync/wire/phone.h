/*
 * phone: normalization, keyed hashing and masking of mainland-China mobile numbers.
 *
 * Plaintext numbers never reach the database or a log: the store keeps
 * HMAC-SHA256(brand phone key, normalized number) for lookup and the masked form
 * (138****8000) for display.
 */
#ifndef ML_PHONE_H
#define ML_PHONE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ml_err.h"

#define PHONE_DIGITS 11
#define PHONE_INPUT_MAX 64 /* bytes of raw input accepted before normalizing */
#define PHONE_KEY_LEN 32
#define PHONE_MASKED_LEN 11

/*
 * Normalizes `input` (UTF-8) to 11 ASCII digits matching 1[3-9]xxxxxxxxx: accepts a +86,
 * 0086 or 86 country prefix, spaces, dashes, dots and parentheses as separators, and
 * full-width digits, plus, hyphen and ideographic space. Writes out[0..12) and returns
 * ML_OK; returns ML_PARSE for anything else (out untouched) and ML_LIMIT past
 * PHONE_INPUT_MAX bytes.
 */
ml_err phone_normalize(const char *input, char out[PHONE_DIGITS + 1]);

/* HMAC-SHA256 of a normalized number under the brand key. */
void phone_key(const uint8_t key[PHONE_KEY_LEN], const char *normalized,
               uint8_t out[PHONE_KEY_LEN]);

/* The normalized 11 digits "138" "0013" "8000" -> "138****8000". */
void phone_mask(const char *normalized, char out[PHONE_MASKED_LEN + 1]);

/*
 * Replaces the plaintext "phone" of a member fact body by "phone_hmac" (HMAC-SHA256 under key,
 * lower-case hex) and "phone_masked", for HQ and for a fact file, so the number itself goes no
 * further. A body without "phone" is left alone. ML_CONFIG (400 in r) when there is a phone
 * but key is NULL; ML_PARSE when it is not a mainland mobile number or appears twice; ML_NOMEM.
 */
ml_err phone_key_fact(cJSON *body, const uint8_t *key, struct ml_refusal *r);

#endif
