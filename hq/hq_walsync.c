/*
 * hq_walsync: WAL flushes on a second thread; see hq_walsync.h.
 */
#include "hq_walsync.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

struct hq_walsync {
    char wal_path[1100];
    int wal_fd; /* opened by the thread when the WAL first exists */
    int efd;    /* eventfd: a flush completed */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* requests for the thread, completions for hq_walsync_wait() */
    uint64_t requested;   /* under mu */
    uint64_t done;        /* under mu */
    int failed, stopping; /* under mu */
};

/* One flush of the WAL file; 0 on success. */
static int flush_wal(struct hq_walsync *w)
{
    if (w->wal_fd < 0) {
        w->wal_fd = open(w->wal_path, O_RDWR | O_CLOEXEC);
        if (w->wal_fd < 0) {
            log_error("%s: cannot open the WAL to flush it: %s", w->wal_path, strerror(errno));
            return -1;
        }
    }
    if (fdatasync(w->wal_fd) != 0) {
        log_error("%s: fdatasync failed: %s; nothing more is acknowledged", w->wal_path,
                  strerror(errno));
        return -1;
    }
    return 0;
}

static void *walsync_loop(void *arg)
{
    struct hq_walsync *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->requested == w->done && !w->stopping && !w->failed)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->failed || (w->stopping && w->requested == w->done))
            break;
        uint64_t gen = w->requested; /* everything committed before this request */
        pthread_mutex_unlock(&w->mu);
        int rc = flush_wal(w);
        pthread_mutex_lock(&w->mu);
        if (rc == 0)
            w->done = gen;
        else
            w->failed = 1;
        pthread_cond_broadcast(&w->cv);
        uint64_t one = 1;
        if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            log_error("walsync: cannot signal a flush: %s", strerror(errno));
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

ml_err hq_walsync_start(const char *db_path, struct hq_walsync **ret)
{
    struct hq_walsync *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return ML_NOMEM;
    if (snprintf(w->wal_path, sizeof(w->wal_path), "%s-wal", db_path) >= (int)sizeof(w->wal_path)) {
        free(w);
        return ML_LIMIT;
    }
    w->wal_fd = -1;
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->efd < 0) {
        free(w);
        return ML_FAILURE;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, walsync_loop, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        close(w->efd);
        free(w);
        return ML_FAILURE;
    }
    *ret = w;
    return ML_OK;
}

void hq_walsync_stop(struct hq_walsync *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    if (w->wal_fd >= 0)
        close(w->wal_fd);
    close(w->efd);
    free(w);
}

int hq_walsync_fd(const struct hq_walsync *w)
{
    return w->efd;
}

uint64_t hq_walsync_request(struct hq_walsync *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t gen = ++w->requested;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return gen;
}

uint64_t hq_walsync_done(struct hq_walsync *w, int *ret_failed)
{
    uint64_t count;
    while (read(w->efd, &count, sizeof(count)) == (ssize_t)sizeof(count))
        ;
    pthread_mutex_lock(&w->mu);
    uint64_t done = w->done;
    *ret_failed = w->failed;
    pthread_mutex_unlock(&w->mu);
    return done;
}

int hq_walsync_wait(struct hq_walsync *w, uint64_t gen)
{
    pthread_mutex_lock(&w->mu);
    while (w->done < gen && !w->failed)
        pthread_cond_wait(&w->cv, &w->mu);
    int rc = w->done >= gen ? 0 : -1;
    pthread_mutex_unlock(&w->mu);
    return rc;
}
