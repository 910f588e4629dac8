/*
 * inifile: strict INI reading (inih underneath) shared by memberlinkd's and memberlink-hq's
 * configurations. Every error is one line naming the file, line and key: an unknown
 * section (even an empty one), an unknown key, a bad value, a line longer than inih's
 * buffer (refused, never split), a syntax error.
 */
#ifndef ML_INIFILE_H
#define ML_INIFILE_H

#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"

/*
 * Called for each key. Returns 0 when applied, -1 for a bad value (setting *why to what
 * was expected), -2 for a key the section does not have.
 */
typedef int (*inifile_apply_fn)(void *user, const char *section, const char *name,
                                const char *value, const char **why);

/* Value checks shared by the configurations. */

/* 1 if v is 1..max characters of [A-Za-z0-9_-] (ids that go into MQTT topics), and '.' as
 * well when dots is set (inifile_valid_id: not). */
int inifile_valid_token(const char *v, size_t max, int dots);
int inifile_valid_id(const char *v, size_t max);

/* "host:port" (a port of 1..65535; an IPv6 host in brackets, "[::1]:8787", loses them):
 * 0 with host (NUL-terminated, at most hostlen - 1 bytes, not empty) and *ret_port; -1 with
 * nothing written for anything else. */
int inifile_parse_listen(const char *v, char *host, size_t hostlen, uint16_t *ret_port);

/* `sections`: the NULL-terminated names allowed. ML_CONFIG with a line in errbuf. */
ml_err inifile_load(const char *path, const char *const *sections, inifile_apply_fn apply,
                    void *user, char *errbuf, size_t errlen);

#endif
