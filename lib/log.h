/*
 * log: one line per event on stderr, "<program>[level]: message" ("memberlinkd" unless
 * log_set_name() says otherwise; memberlink-hq logs through hq_log.h into here). journald
 * adds the time stamp. Never log a phone number in plaintext. A message longer than
 * LOG_LINE_MAX - 1 bytes is cut there; a control character in it is written as '?', so
 * nothing quoted from outside can begin a line of its own.
 */
#ifndef ML_LOG_H
#define ML_LOG_H

#define LOG_LINE_MAX 1024

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

#include <stdarg.h>

void log_set_level(enum log_level level);
/* The program name each line starts with; `name` must outlive the program (a literal). */
void log_set_name(const char *name);
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
