/*
 * inifile: strict INI reading (inih underneath) shared by memberlinkd's and memberlink-hq's
 * configurations. Every error is one line naming the file, line and key: an unknown
 * section (even an empty one), an unknown key, a bad value, a line longer than inih's
 * buffer (refused, never split), a syntax error.
 */
#ifndef ML_INIFILE_H
#define ML_INIFILE_H

#include <stddef.h>

#include "ml_err.h"

/*
 * Called for each key. Returns 0 when applied, -1 for a bad value (setting *why to what
 * was expected), -2 for a key the section does not have.
 */
typedef int (*inifile_apply_fn)(void *user, const char *section, const char *name,
                                const char *value, const char **why);

/* Value checks shared by the configurations. */

/* 1 if v is 1..max characters of [A-Za-z0-9_-] (ids that go into MQTT topics). */
int inifile_valid_id(const char *v, size_t max);

/* Digits only (no sign, no spaces), at most 18 of them, within [min, max]: 0, else -1. */
int inifile_parse_int(const char *v, long long min, long long max, long long *ret);

/* The value of one hex digit, or -1. */
int inifile_hex_digit(char c);

/* `sections`: the NULL-terminated names allowed. ML_CONFIG with a line in errbuf. */
ml_err inifile_load(const char *path, const char *const *sections, inifile_apply_fn apply,
                    void *user, char *errbuf, size_t errlen);

#endif
