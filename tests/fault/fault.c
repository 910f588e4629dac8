/*
 * fault: an LD_PRELOAD shim that makes chosen system calls fail, for tests of what the agent
 * answers when the disk does (docs/api.md, storage_outcome_unknown).
 *
 * The test names a control file in ML_FAULT_FILE and writes into it, at the moment it wants,
 * lines of the form
 *
 *     <call> <errno> <count>        e.g.  fdatasync EIO 1
 *
 * Each of the next <count> calls of <call> (fdatasync, fsync or signalfd) then fails with that
 * errno (EIO, ENOSPC, EMFILE) without reaching the kernel, and the line's count goes down in
 * the file; a missing or empty file fails nothing. The file is read at every intercepted
 * call, so a test arms a fault while the program runs. Calls are counted under a lock (the
 * agent's checkpoint thread flushes too).
 *
 * ML_BOOT_SHIFT_MS=N makes CLOCK_BOOTTIME read N ms less than it is (never below 0): a
 * machine that booted moments ago, for tests that must not depend on the uptime. Every
 * process with the shim and the same N reads the same boot clock.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FAULT_FILE_MAX 1024
#define FAULT_LINES_MAX 8

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* The shim's own file I/O goes through syscall(), so it never meets an intercepted call. */
static ssize_t read_file(const char *path, char *buf, size_t cap)
{
    long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = (ssize_t)syscall(SYS_read, (int)fd, buf, cap - 1);
    syscall(SYS_close, (int)fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

static void write_file(const char *path, const char *buf, size_t len)
{
    long fd = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)syscall(SYS_write, (int)fd, buf, len);
    syscall(SYS_close, (int)fd);
}

static int errno_of(const char *name)
{
    if (strcmp(name, "EIO") == 0)
        return EIO;
    if (strcmp(name, "ENOSPC") == 0)
        return ENOSPC;
    if (strcmp(name, "EMFILE") == 0)
        return EMFILE;
    return 0;
}

/* 0: let the call through; else the errno it fails with (one use of the rule is taken). */
static int take_fault(const char *call)
{
    const char *path = getenv("ML_FAULT_FILE");
    char buf[FAULT_FILE_MAX], out[FAULT_FILE_MAX];
    int fail = 0;
    if (path == NULL)
        return 0;
    pthread_mutex_lock(&mu);
    ssize_t n = read_file(path, buf, sizeof(buf));
    if (n > 0) {
        size_t used = 0;
        for (char *line = buf, *next; line != NULL && *line != '\0'; line = next) {
            next = strchr(line, '\n');
            if (next != NULL)
                *next++ = '\0';
            char name[32], err[32];
            long count = 0;
            if (sscanf(line, "%31s %31s %ld", name, err, &count) != 3)
                continue;
            if (!fail && strcmp(name, call) == 0 && count > 0 && errno_of(err) != 0) {
                fail = errno_of(err);
                count--;
            }
            int w = snprintf(out + used, sizeof(out) - used, "%s %s %ld\n", name, err, count);
            if (w > 0 && (size_t)w < sizeof(out) - used)
                used += (size_t)w;
        }
        if (fail)
            write_file(path, out, used);
    }
    pthread_mutex_unlock(&mu);
    return fail;
}

int fdatasync(int fd)
{
    static int (*real)(int);
    int e = take_fault("fdatasync");
    if (e) {
        errno = e;
        return -1;
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}

int fsync(int fd)
{
    static int (*real)(int);
    int e = take_fault("fsync");
    if (e) {
        errno = e;
        return -1;
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int signalfd(int fd, const sigset_t *mask, int flags)
{
    static int (*real)(int, const sigset_t *, int);
    int e = take_fault("signalfd");
    if (e) {
        errno = e;
        return -1;
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "signalfd");
    return real(fd, mask, flags);
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    const char *shift = id == CLOCK_BOOTTIME ? getenv("ML_BOOT_SHIFT_MS") : NULL;
    if (rc != 0 || shift == NULL)
        return rc;
    char *end = NULL;
    long long by = strtoll(shift, &end, 10);
    if (end == shift || *end != '\0' || by < 0)
        return rc;
    long long ms = (long long)ts->tv_sec * 1000 + ts->tv_nsec / 1000000 - by;
    if (ms < 0)
        ms = 0;
    ts->tv_sec = (time_t)(ms / 1000);
    ts->tv_nsec = (long)(ms % 1000) * 1000000;
    return 0;
}
