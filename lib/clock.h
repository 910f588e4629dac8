/*
 * clock: the three clocks memberlink reads, in milliseconds. The wall clock can be set by
 * whoever holds the machine; the monotonic clock is for timers; the boot clock keeps counting
 * through suspend and nobody can set it (trusted time, agent/trust.h, is built on it).
 */
#ifndef ML_CLOCK_H
#define ML_CLOCK_H

#include <stdint.h>

int64_t clock_wall_ms(void); /* CLOCK_REALTIME: ms since the epoch, UTC */
int64_t clock_mono_ms(void); /* CLOCK_MONOTONIC */
int64_t clock_boot_ms(void); /* CLOCK_BOOTTIME */

#endif
