/* hq_log: memberlink-hq's log lines, written by agent/log.c under its name; see hq_log.h. */
#include "hq_log.h"

#include "log.h"

_Static_assert((int)HQ_LOG_ERROR == (int)LOG_LVL_ERROR && (int)HQ_LOG_DEBUG == (int)LOG_LVL_DEBUG,
               "hq_log levels are log.h's");

void hq_log_set_level(enum hq_log_level level)
{
    log_set_level((enum log_level)level);
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
    log_vmsg((enum log_level)level, fmt, ap);
}
