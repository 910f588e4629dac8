/* uuid: UUIDv7; see uuid.h. */
#include "uuid.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

void uuid_v7(int64_t now_ms, char out[UUID_TEXT_LEN + 1])
{
    uint8_t b[16];
    /* OpenSSL's CSPRNG does not fail once seeded; should it, the kernel's is asked, and only
     * when both fail (no entropy at all) do ids rest on the time and the process alone. */
    if (RAND_bytes(b + 6, 10) != 1 && getrandom(b + 6, 10, 0) != 10) {
        uint64_t mix = (uint64_t)getpid() * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)rand();
        for (int i = 6; i < 16; i++)
            b[i] = (uint8_t)(mix >> (8 * (i % 8)));
    }
    uint64_t ms = (uint64_t)now_ms;
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (b[6] & 0x0f));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    snprintf(out, UUID_TEXT_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}
