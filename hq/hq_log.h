/*
 * hq_log: one line per event on stderr, "memberlink-hq[level]: message", for the
 * reference HQ: agent/log.c writes them (memberlink-hq's main sets the name), so the
 * shared modules (agent/, sync/) log the same way. journald or the caller adds time stamps.
 */
#ifndef ML_HQ_LOG_H
#define ML_HQ_LOG_H

#include <stdarg.h>

enum hq_log_level { HQ_LOG_ERROR = 0, HQ_LOG_WARN, HQ_LOG_INFO, HQ_LOG_DEBUG };

void hq_log_set_level(enum hq_log_level level);
void hq_log(enum hq_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hq_vlog(enum hq_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#define hq_error(...) hq_log(HQ_LOG_ERROR, __VA_ARGS__)
#define hq_warn(...) hq_log(HQ_LOG_WARN, __VA_ARGS__)
#define hq_info(...) hq_log(HQ_LOG_INFO, __VA_ARGS__)
#define hq_debug(...) hq_log(HQ_LOG_DEBUG, __VA_ARGS__)

#endif
