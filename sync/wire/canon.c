/*
 * canon: canonical JSON text for signatures; the rules are in canon.h.
 *
 * The text is built in one growing buffer capped at CANON_TEXT_MAX. Any rule broken
 * anywhere in the tree makes the whole result NULL: a partial or "best effort" canonical
 * form would let two different messages share one signature.
 */
#include "canon.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct canon__buf {
    char *p;
    size_t len;
    size_t cap;
};

/* Returns 0 when the buffer cannot grow (memory, CANON_TEXT_MAX). */
static int canon__reserve(struct canon__buf *b, size_t more)
{
    if (more > CANON_TEXT_MAX || b->len > CANON_TEXT_MAX - more)
        return 0;
    size_t need = b->len + more + 1; /* + NUL */
    if (need <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

static int canon__put(struct canon__buf *b, const char *s, size_t n)
{
    if (!canon__reserve(b, n))
        return 0;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 1;
}

static int canon__putc(struct canon__buf *b, char c)
{
    return canon__put(b, &c, 1);
}

/*
 * Length of the valid UTF-8 sequence starting at s (RFC 3629 table 3.7 of Unicode), or 0
 * when it is not one. s is NUL-terminated, so reading stops at the NUL, which is never a
 * continuation byte.
 */
static size_t canon__utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong forms */
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* no overlong forms */
        else if (c == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        return 0; /* continuation byte, 0xc0, 0xc1, 0xf5..0xff */
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

static int canon__string(struct canon__buf *b, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    if (str == NULL)
        return 0;
    if (!canon__putc(b, '"'))
        return 0;
    const unsigned char *s = (const unsigned char *)str;
    while (*s != '\0') {
        /* Copy the longest run that needs no escape in one go. */
        const unsigned char *run = s;
        while (*s >= 0x20 && *s != '"' && *s != '\\') {
            size_t n = canon__utf8_len(s);
            if (n == 0)
                return 0;
            s += n;
        }
        if (s > run && !canon__put(b, (const char *)run, (size_t)(s - run)))
            return 0;
        if (*s == '\0')
            break;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (*s) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default: /* other bytes below 0x20 */
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[*s >> 4];
            esc[5] = hex[*s & 0x0f];
            n = 6;
            break;
        }
        if (!canon__put(b, esc, n))
            return 0;
        s++;
    }
    return canon__putc(b, '"');
}

static int canon__number(struct canon__buf *b, double d)
{
    if (!isfinite(d) || d != trunc(d) || d > (double)CANON_INT_MAX || d < -(double)CANON_INT_MAX)
        return 0;
    char text[24];
    int n = snprintf(text, sizeof(text), "%lld", (long long)d); /* -0.0 becomes 0 */
    if (n <= 0 || (size_t)n >= sizeof(text))
        return 0;
    return canon__put(b, text, (size_t)n);
}

static int canon__key_cmp(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a;
    const cJSON *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string); /* compares as unsigned char: bytewise */
}

static int canon__value(struct canon__buf *b, const cJSON *v, int depth, const char *omit);

static int canon__object(struct canon__buf *b, const cJSON *v, int depth, const char *omit)
{
    size_t n = 0;
    for (const cJSON *c = v->child; c != NULL; c = c->next) {
        if (c->string == NULL)
            return 0;
        n++;
    }
    if (n == 0)
        return canon__put(b, "{}", 2);
    const cJSON **m = malloc(n * sizeof(*m));
    if (m == NULL)
        return 0;
    int ok = 0;
    size_t i = 0;
    for (const cJSON *c = v->child; c != NULL; c = c->next)
        m[i++] = c;
    qsort(m, n, sizeof(*m), canon__key_cmp);
    for (i = 1; i < n; i++)
        if (strcmp(m[i - 1]->string, m[i]->string) == 0)
            goto out;
    if (!canon__putc(b, '{'))
        goto out;
    int first = 1;
    for (i = 0; i < n; i++) {
        if (omit != NULL && strcmp(m[i]->string, omit) == 0)
            continue;
        if ((!first && !canon__putc(b, ',')) || !canon__string(b, m[i]->string) ||
            !canon__putc(b, ':') || !canon__value(b, m[i], depth + 1, NULL))
            goto out;
        first = 0;
    }
    ok = canon__putc(b, '}');
out:
    free(m);
    return ok;
}

/* depth: the level an array or object at v would have. */
static int canon__value(struct canon__buf *b, const cJSON *v, int depth, const char *omit)
{
    switch (v->type & 0xff) {
    case cJSON_False:
        return canon__put(b, "false", 5);
    case cJSON_True:
        return canon__put(b, "true", 4);
    case cJSON_NULL:
        return canon__put(b, "null", 4);
    case cJSON_Number:
        return canon__number(b, v->valuedouble);
    case cJSON_String:
        return canon__string(b, v->valuestring);
    case cJSON_Array:
        if (depth > CANON_DEPTH_MAX || !canon__putc(b, '['))
            return 0;
        for (const cJSON *c = v->child; c != NULL; c = c->next)
            if ((c != v->child && !canon__putc(b, ',')) || !canon__value(b, c, depth + 1, NULL))
                return 0;
        return canon__putc(b, ']');
    case cJSON_Object:
        if (depth > CANON_DEPTH_MAX)
            return 0;
        return canon__object(b, v, depth, omit);
    default: /* cJSON_Raw, cJSON_Invalid, anything unknown */
        return 0;
    }
}

static char *canon__run(const cJSON *v, const char *omit)
{
    struct canon__buf b = {NULL, 0, 0};
    if (v == NULL || !canon__value(&b, v, 1, omit)) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

char *canon_json(const cJSON *v)
{
    return canon__run(v, NULL);
}

char *canon_json_omit(const cJSON *obj, const char *omit)
{
    if (obj == NULL || !cJSON_IsObject(obj) || omit == NULL)
        return NULL;
    return canon__run(obj, omit);
}
