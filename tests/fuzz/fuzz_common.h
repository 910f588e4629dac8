/*
 * fuzz_common: what the libFuzzer targets of tests/fuzz/ share.
 *
 *   - Inputs hold up to FUZZ_SEGMENTS_MAX segments separated by FUZZ_SEP; each segment is
 *     one control byte (the target says what its bits pick) and a payload. So one input is
 *     a sequence of messages or requests, and what one leaves in the database is seen by
 *     the next within the same input; each input starts again from the same state, which
 *     keeps a reproducer a reproducer.
 *   - A temporary directory (under $TMPDIR, else /tmp) for a target's SQLite database,
 *     created once per process and removed at exit.
 *   - A fixed clock and the public RFC 8032 test key of tests/vectors/sign_vectors.json,
 *     whose private half lets a target sign the messages it builds.
 *
 * Header-only, static functions: each target is one translation unit.
 */
#ifndef ML_FUZZ_COMMON_H
#define ML_FUZZ_COMMON_H

#include <dirent.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FUZZ_SEP "\n----\n"
#define FUZZ_SEGMENTS_MAX 16
#define FUZZ_NOW_MS INT64_C(1767225600000) /* the vectors' "now": 2026-01-01T00:00:00Z */

/* RFC 8032 section 7.1 TEST 1: public, for tests only (tests/vectors/sign_vectors.json). */
#define FUZZ_KID "hq-2026-01"
#define FUZZ_PUB "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define FUZZ_SEED_HEX "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"

struct fuzz_seg {
    uint8_t ctl;
    const char *p; /* payload, not NUL-terminated */
    size_t n;
};

static char fuzz_dir[512];

static inline void fuzz_expect(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz: property violated: %s\n", what);
        abort();
    }
}

/* Splits data into segments; empty ones (no control byte) are dropped. */
static inline size_t fuzz_split(const uint8_t *data, size_t size, struct fuzz_seg *segs)
{
    static const size_t seplen = sizeof(FUZZ_SEP) - 1;
    size_t n = 0, start = 0;
    while (start <= size && n < FUZZ_SEGMENTS_MAX) {
        size_t end = start;
        while (end + seplen <= size && memcmp(data + end, FUZZ_SEP, seplen) != 0)
            end++;
        if (end + seplen > size)
            end = size;
        if (end > start) {
            segs[n].ctl = data[start];
            segs[n].p = (const char *)data + start + 1;
            segs[n].n = end - start - 1;
            n++;
        }
        start = end + seplen;
    }
    return n;
}

static inline int64_t fuzz_now_ms(void)
{
    return FUZZ_NOW_MS;
}

static inline void fuzz_rmdir(void)
{
    DIR *d = fuzz_dir[0] ? opendir(fuzz_dir) : NULL;
    if (d == NULL)
        return;
    struct dirent *e;
    char path[sizeof(fuzz_dir) + 256];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", fuzz_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(fuzz_dir);
}

/* Creates the process's temporary directory; `file` names a path inside it in out. */
static inline void fuzz_tmpfile(const char *name, const char *file, char *out, size_t len)
{
    if (fuzz_dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", name);
        if (mkdtemp(fuzz_dir) == NULL) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_rmdir);
    }
    snprintf(out, len, "%s/%s", fuzz_dir, file);
}

/* Local days (checkout, reports) in UTC, whatever the machine says. */
static inline void fuzz_utc(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
}

/* The private half of FUZZ_PUB. */
static inline EVP_PKEY *fuzz_test_key(void)
{
    static const char hex[] = FUZZ_SEED_HEX;
    unsigned char seed[32];
    for (size_t i = 0; i < sizeof(seed); i++) {
        unsigned v = 0;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            abort();
        seed[i] = (unsigned char)v;
    }
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
    if (k == NULL)
        abort();
    return k;
}

#endif
