/* hq_log: stderr logging with a level threshold; see hq_log.h. */
#include "hq_log.h"

#include <stdarg.h>
#include <stdio.h>

static enum hq_log_level threshold = HQ_LOG_INFO;

void hq_log_set_level(enum hq_log_level level)
{
    threshold = level;
}

void hq_log(enum hq_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hq_vlog(level, fmt, ap);
    va_end(ap);
}

void hq_vlog(enum hq_log_level level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (level > threshold)
        return;
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    fprintf(stderr, "memberlink-hq[%s]: %s\n", names[level], line);
    fflush(stderr);
}
