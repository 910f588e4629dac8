/* log: stderr logging with a level threshold, under the program's name (log.h). */
#include "log.h"

#include <stdio.h>

static enum log_level threshold = LOG_LVL_INFO;
static const char *program = "memberlinkd";

void log_set_level(enum log_level level)
{
    threshold = level;
}

void log_set_name(const char *name)
{
    program = name;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (level > threshold)
        return;
    char line[LOG_LINE_MAX];
    vsnprintf(line, sizeof(line), fmt, ap);
    /* Messages quote what arrived from outside (topics, ids): a control character in one
     * could start a forged line, so each shows as '?'. */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "%s[%s]: %s\n", program, names[level], line);
    fflush(stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
