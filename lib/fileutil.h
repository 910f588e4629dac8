/*
 * fileutil: whole-file I/O shared by the agent, sync/ and memberlink-hq: writing a whole
 * buffer, replacing a file atomically, reading a small file whole. Functions return errors
 * (with errno where it says so) and log nothing.
 */
#ifndef ML_FILEUTIL_H
#define ML_FILEUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "ml_err.h"

/* file_replace() writes path + FILE_TMP_SUFFIX first, then renames it over path. */
#define FILE_TMP_SUFFIX ".tmp"

/*
 * Writes all n bytes of buf to fd, going on after short writes and EINTR. 0, or -1 (errno
 * set by write(), unless write() returned 0). Borrows buf.
 */
int file_write_all(int fd, const void *buf, size_t n);

/*
 * Replaces path with data[0..len): writes path + FILE_TMP_SUFFIX (a leftover of that name
 * is overwritten, a symbolic link there refused), sets its mode to exactly `mode` (umask and
 * a leftover's mode do not count), fsyncs it, renames it over path, then fsyncs the
 * directory. A reader sees the old file or the new one, never part of one. 0 on success;
 * -1 with errno on failure (ENAMETOOLONG when the temporary name does not fit PATH_MAX),
 * path is then as it was and the temporary file removed. Borrows data.
 */
int file_replace(const char *path, const void *data, size_t len, mode_t mode);

/*
 * Reads the whole of path, at most max bytes. ML_NOENTRY when path does not exist,
 * ML_LIMIT when it holds more than max bytes, ML_NOMEM, ML_FAILURE with errno on any other
 * error. On success *ret (NUL-terminated; caller frees with free(), clearing it first if it
 * holds a secret) and *ret_len (bytes, without the NUL) are set; on failure neither is, and
 * whatever was read has been cleared before it was freed.
 */
ml_err file_read_small(const char *path, size_t max, char **ret, size_t *ret_len);

#endif
