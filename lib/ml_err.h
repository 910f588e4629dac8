/*
 * ml_err: the one error type of memberlink, and domain refusals.
 *
 * Functions return an ml_err class. When a function refuses for a domain reason
 * (a coupon already redeemed, a member blocked), it also fills a struct ml_refusal
 * with the stable API code, the HTTP status and a human message. The API layer turns
 * that into {"error":{"code":..,"message":..}}; nothing else logs it.
 */
#ifndef ML_ERR_H
#define ML_ERR_H

typedef enum ml_err {
    ML_OK = 0,
    ML_FAILURE, /* unexpected; a bug or an environment problem */
    ML_NOMEM,   /* allocation failed */
    ML_STORAGE, /* SQLite failed; nothing was committed */
    ML_CONFIG,  /* configuration is invalid */
    ML_PARSE,   /* input is not well-formed */
    ML_NOENTRY, /* the thing asked for does not exist */
    ML_REFUSED, /* a domain rule refused the request; see struct ml_refusal */
    ML_LIMIT,   /* input is past a named limit */
} ml_err;

const char *ml_strerror(ml_err err);

#define ML_REFUSAL_MSG_MAX 256

struct ml_refusal {
    int http_status;  /* 4xx/5xx */
    const char *code; /* static, stable API error code, e.g. "coupon_expired" */
    char message[ML_REFUSAL_MSG_MAX];
};

/* Fills r (NULL-safe) and returns `err`, so callers can `return ml_refuse(...)`. */
ml_err ml_refuse(struct ml_refusal *r, ml_err err, int http_status, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
