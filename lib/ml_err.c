/* ml_err: error class names and the refusal helper. */
#include "ml_err.h"

#include <stdarg.h>
#include <stdio.h>

const char *ml_strerror(ml_err err)
{
    switch (err) {
    case ML_OK:
        return "ok";
    case ML_FAILURE:
        return "failure";
    case ML_NOMEM:
        return "out of memory";
    case ML_STORAGE:
        return "storage error";
    case ML_CONFIG:
        return "configuration error";
    case ML_PARSE:
        return "parse error";
    case ML_NOENTRY:
        return "not found";
    case ML_REFUSED:
        return "refused";
    case ML_LIMIT:
        return "limit exceeded";
    }
    return "unknown error";
}

ml_err ml_refuse(struct ml_refusal *r, ml_err err, int http_status, const char *code,
                 const char *fmt, ...)
{
    if (r == NULL)
        return err;
    r->http_status = http_status;
    r->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
    return err;
}
