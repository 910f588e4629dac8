/* log: stderr logging with a level threshold. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static enum log_level threshold = LOG_LVL_INFO;

void log_set_level(enum log_level level)
{
    threshold = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (level > threshold)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "memberlinkd[%s]: %s\n", names[level], line);
}
