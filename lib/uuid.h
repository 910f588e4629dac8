/* uuid: UUIDv7 (RFC 9562) ids for events and HQ messages: sortable by time, 74 random bits. */
#ifndef ML_UUID_H
#define ML_UUID_H

#include <stdint.h>

#define UUID_TEXT_LEN 36

/* The text of a UUIDv7 for time now_ms (48-bit ms, version 7, variant 10, 74 random bits
 * from OpenSSL's CSPRNG), lower-case hex with dashes, NUL-terminated. */
void uuid_v7(int64_t now_ms, char out[UUID_TEXT_LEN + 1]);

#endif
