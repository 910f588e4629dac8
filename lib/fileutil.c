/*
 * fileutil: whole-file I/O; see fileutil.h. Every descriptor is opened O_CLOEXEC and
 * O_NOCTTY. A file that may hold a secret (a private key, a wallet) goes through here, so
 * what is read is cleared before it is freed on every failure path.
 */
#include "fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

int file_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int file_replace(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s" FILE_TMP_SUFFIX, path) >= (int)sizeof(tmp) ||
        snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode);
    if (fd < 0)
        return -1;
    /* A leftover file keeps its old mode through O_CREAT: set it before writing. */
    int ok = fchmod(fd, mode) == 0 && file_write_all(fd, data, len) == 0 && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        (void)unlink(tmp);
        errno = saved;
        return -1;
    }
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* the rename is done; this only makes it durable sooner */
        close(dfd);
    }
    return 0;
}

ml_err file_read_small(const char *path, size_t max, char **ret, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno == ENOENT ? ML_NOENTRY : ML_FAILURE;
    ml_err result = ML_NOMEM;
    size_t len = 0;
    char *buf = malloc(max + 1);
    if (buf == NULL)
        goto out;
    result = ML_FAILURE;
    for (;;) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            result = ML_LIMIT;
            goto out;
        }
    }
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    buf = NULL;
    result = ML_OK;
out:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, max + 1);
        free(buf);
    }
    close(fd);
    return result;
}
