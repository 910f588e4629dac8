/*
 * walckpt: WAL checkpoints on a second connection in a background thread (walckpt.h).
 */
#include "walckpt.h"

#include <pthread.h>
#include <stdlib.h>

#include "log.h"

#define WALCKPT_BUSY_TIMEOUT_MS 5000

struct walckpt {
    sqlite3 *db; /* its own connection, used only by the thread */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wanted, stopping;
    int working;      /* the thread is inside a checkpoint (under mu) */
    int signalled_at; /* WAL pages when the thread was last woken (owning thread only) */
    int restart_at;   /* WAL pages at which the next RESTART is tried (owning thread only) */
    int wake_pages, restart_pages; /* the owner's byte thresholds, in this database's pages */
};

static void *checkpoint_loop(void *arg)
{
    struct walckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->wanted && !c->stopping)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stopping)
            break;
        c->wanted = 0;
        c->working = 1;
        pthread_mutex_unlock(&c->mu);
        int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warn("wal checkpoint: %s", sqlite3_errmsg(c->db));
        pthread_mutex_lock(&c->mu);
        c->working = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/*
 * Called by SQLite on the owning thread after each commit, with the WAL's page count.
 * Every wake_bytes of growth wakes the background checkpointer. Past restart_bytes
 * (only reached under sustained load, when a PASSIVE checkpoint
 * can never catch the writer) this commit runs a RESTART checkpoint itself, so the WAL
 * starts over; the background work has already copied most pages, so it is short, and it
 * happens once per thousands of pages, not once per thousand as SQLite's default would.
 */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct walckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    int working = c->working;
    pthread_mutex_unlock(&c->mu);
    /* While the thread copies pages, a RESTART would only find the checkpoint lock taken:
     * try at a later commit, once it is done. */
    if (pages >= c->restart_at && !working) {
        /* Never wait here: a reader (a backup, an operator's sqlite3 shell) would stall
         * every commit for the busy timeout. If it cannot run now, try again later. */
        sqlite3_busy_timeout(db, 0);
        int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        sqlite3_busy_timeout(db, WALCKPT_BUSY_TIMEOUT_MS);
        if (rc == SQLITE_OK) {
            c->restart_at = c->restart_pages;
            c->signalled_at = 0;
            return SQLITE_OK;
        }
        if (rc != SQLITE_BUSY)
            log_warn("wal checkpoint (restart): %s", sqlite3_errmsg(db));
        else if (c->restart_at == c->restart_pages)
            log_warn("wal checkpoint: a reader holds the database; the WAL keeps growing "
                     "until it lets go");
        c->restart_at = pages + c->restart_pages / 4;
    }
    if (pages < c->signalled_at)
        c->signalled_at = 0; /* the WAL started over */
    if (pages >= c->signalled_at + c->wake_pages) {
        c->signalled_at = pages;
        pthread_mutex_lock(&c->mu);
        c->wanted = 1;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

struct walckpt *walckpt_start(sqlite3 *owner, const char *path, int64_t wake_bytes,
                              int64_t restart_bytes)
{
    struct walckpt *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        log_warn("%s: no background checkpointer: out of memory", path);
        return NULL;
    }
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        log_warn("%s: no background checkpointer: %s", path, sqlite3_errmsg(c->db));
        goto fail;
    }
    sqlite3_busy_timeout(c->db, WALCKPT_BUSY_TIMEOUT_MS);
    /* A connection sees the WAL only once it has read the database; until then a
     * checkpoint on it is a silent no-op. */
    if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", NULL, NULL, NULL) !=
        SQLITE_OK) {
        log_warn("%s: no background checkpointer: %s", path, sqlite3_errmsg(c->db));
        goto fail;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, checkpoint_loop, c) != 0) {
        log_warn("%s: no background checkpointer: cannot start a thread", path);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        goto fail;
    }
    int page = 4096;
    sqlite3_stmt *ps = NULL;
    if (sqlite3_prepare_v2(owner, "PRAGMA page_size", -1, &ps, NULL) == SQLITE_OK &&
        sqlite3_step(ps) == SQLITE_ROW && sqlite3_column_int(ps, 0) > 0)
        page = sqlite3_column_int(ps, 0);
    sqlite3_finalize(ps);
    c->wake_pages = wake_bytes / page > 0 ? (int)(wake_bytes / page) : 1;
    c->restart_pages = restart_bytes / page > 0 ? (int)(restart_bytes / page) : 1;
    c->restart_at = c->restart_pages;
    sqlite3_wal_hook(owner, on_wal_commit, c); /* replaces the automatic checkpoint */
    return c;
fail:
    sqlite3_close(c->db);
    free(c);
    return NULL;
}

void walckpt_stop(struct walckpt *c, sqlite3 *owner)
{
    if (c == NULL)
        return;
    sqlite3_wal_hook(owner, NULL, NULL);
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    sqlite3_close(c->db);
    free(c);
}
