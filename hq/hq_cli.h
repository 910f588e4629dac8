/*
 * hq_cli: what the commands of memberlink-hq share (main.c, hq_cmd.h, hq_qr.h): the exit
 * statuses, the one-line usage error, and millisecond clocks for the serve loop, the
 * catch-up server and message versions.
 */
#ifndef ML_HQ_CLI_H
#define ML_HQ_CLI_H

#include <stdint.h>
#include <time.h>

/* memberlink-hq's exit statuses, as docs/hq.md lists them. */
enum hq_exit {
    HQ_EXIT_OK = 0,      /* success */
    HQ_EXIT_RUNTIME = 1, /* runtime error: database, broker, I/O, OpenSSL */
    HQ_EXIT_USAGE = 2,   /* usage, configuration or refused input */
};

/*
 * Prints "memberlink-hq: <message> (see memberlink-hq --help)" as one line on stderr, the
 * message cut at 511 bytes. Returns HQ_EXIT_USAGE, so callers can `return hq_cli_usage(..)`.
 */
int hq_cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* `clock` (CLOCK_REALTIME, CLOCK_MONOTONIC, ..) in milliseconds. */
int64_t hq_cli_clock_ms(clockid_t clock);

/* Wall-clock time in milliseconds since the epoch: hq_cli_clock_ms(CLOCK_REALTIME). */
int64_t hq_cli_wall_ms(void);

#endif
