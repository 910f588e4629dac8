/*
 * day: calendar days and times written as text. Days are local (the TZ of the process: the
 * terminal's, HQ's), "YYYY-MM-DD"; times given on a command line are UTC unless they say
 * otherwise.
 */
#ifndef ML_DAY_H
#define ML_DAY_H

#include <stddef.h>
#include <stdint.h>

#define DAY_TEXT_LEN 10      /* "YYYY-MM-DD" */
#define DAY_TIME_TEXT_LEN 19 /* "YYYY-MM-DD HH:MM:SS" */

/* The local calendar day holding ms; "0000-00-00" for a time the C library cannot convert. */
void day_of(int64_t ms, char out[DAY_TEXT_LEN + 1]);

/*
 * Start and end (exclusive) in ms of the local calendar day holding ms. Returns 0, or -1
 * (writing nothing) when the C library cannot convert ms to a local date and back, or a
 * bound does not fit in int64_t ms (a day some 292 million years from the epoch).
 */
int day_bounds(int64_t ms, int64_t *ret_start, int64_t *ret_end);

/*
 * The local time of ms as "YYYY-MM-DD HH:MM:SS" in buf (len bytes; DAY_TIME_TEXT_LEN + 1
 * hold it for a four-digit year). The second is rounded down as in day_of(): 1 ms before
 * the epoch is 1969-12-31 23:59:59 UTC. Returns 0, or -1 when the C library cannot convert
 * ms or the text does not fit in len; buf's contents are then unspecified, and the caller
 * writes its own fallback.
 */
int day_time_text(int64_t ms, char *buf, size_t len);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day 1..31). */
int64_t day_from_civil(int64_t year, int64_t month, int64_t day);

/*
 * Parses "YYYY-MM-DD" strictly: exactly that shape, ASCII digits, a date that exists, a year
 * in [min_year, max_year]. 0 and *ret_days (days since the epoch; may be NULL) on success,
 * -1 otherwise (nothing written).
 */
int day_parse(const char *s, int min_year, int max_year, int64_t *ret_days);

/*
 * Parses a time into ms since the epoch: plain digits are ms; else ISO 8601
 * YYYY-MM-DD[(T| )HH:MM[:SS[.f]][Z|(+|-)HH[[:]MM]]] (a fraction of 1 to 9 digits, of which
 * the first 3 count; a zone only after a time), UTC when no zone is given. 0 and *ret_ms when
 * the result is within [0, max_ms]; -1 otherwise (nothing written).
 */
int day_parse_time(const char *s, int64_t max_ms, int64_t *ret_ms);

#endif
