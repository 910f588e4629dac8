/* hq_cli: the command-line helpers memberlink-hq's commands share; see hq_cli.h. */
#include "hq_cli.h"

#include <stdarg.h>
#include <stdio.h>

int hq_cli_usage(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "memberlink-hq: %s (see memberlink-hq --help)\n", msg);
    return HQ_EXIT_USAGE;
}

int64_t hq_cli_clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hq_cli_wall_ms(void)
{
    return hq_cli_clock_ms(CLOCK_REALTIME);
}
