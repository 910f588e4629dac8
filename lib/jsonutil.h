/*
 * jsonutil: bounded parsing of JSON from outside and typed field access that explains
 * what is wrong in an ml_refusal (400 invalid_request) the API can return as is.
 */
#ifndef ML_JSONUTIL_H
#define ML_JSONUTIL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"

#define JSON_DEPTH_MAX 8 /* nested objects/arrays accepted in a request body */
/* Integers must be exact in a double: |v| <= 2^53. */
#define JSON_INT_MAX 9007199254740992LL

/*
 * Parses exactly `len` bytes. Returns NULL and fills r with 400 malformed_json when the
 * text is not one JSON value, or nests deeper than JSON_DEPTH_MAX. Caller frees with
 * cJSON_Delete().
 */
cJSON *json_parse_bounded(const char *text, size_t len, struct ml_refusal *r);

/* Field getters. A missing field with required=0 leaves *ret as is and returns ML_OK. */
ml_err json_str(const cJSON *obj, const char *name, int required, size_t maxlen, const char **ret,
                struct ml_refusal *r);
ml_err json_i64(const cJSON *obj, const char *name, int required, int64_t min, int64_t max,
                int64_t *ret, struct ml_refusal *r);
ml_err json_bool(const cJSON *obj, const char *name, int *ret, struct ml_refusal *r);

/* 1 if s is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int json_utf8_valid(const char *s);

/* Adds a number that is an exact integer (money, counts, ms), printed exactly. */
cJSON *json_add_i64(cJSON *obj, const char *name, int64_t v);

/* Prints compactly; NULL on allocation failure. Caller frees with free(). */
char *json_print(const cJSON *v);

#endif
