/*
 * memberlinkd: the in-store membership agent.
 *
 * One thread, one poll loop: the local HTTP API (libmicrohttpd's epoll fd) and a
 * signalfd for SIGTERM/SIGINT. The database is only touched from this thread.
 *
 * Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad usage or configuration.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "clock.h"
#include "config.h"
#include "ctx.h"
#include "factfile.h"
#include "hqlink.h"
#include "link.h"
#include "log.h"
#include "metrics.h"
#include "schema.h"
#include "sign.h"
#include "trust.h"

#define MAIN_RECOVER_EVERY_MS 1000 /* retry of a database reopen after a failed commit */

static void usage(FILE *out)
{
    fprintf(out, "usage: memberlinkd [-c FILE] [--import-facts FILE] [--check-config] [-v]\n"
                 "  -c FILE               configuration (INI); embedded defaults without it\n"
                 "  --import-facts FILE   apply HQ facts from an NDJSON file, then exit\n"
                 "  --check-config        validate the configuration, then exit\n"
                 "  -v                    debug logging\n");
}

int main(int argc, char **argv)
{
    const char *conf = NULL, *import = NULL;
    int check_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            conf = argv[++i];
        } else if (strcmp(argv[i], "--import-facts") == 0 && i + 1 < argc) {
            import = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = 1;
        } else if (strcmp(argv[i], "-v") == 0) {
            log_set_level(LOG_LVL_DEBUG);
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    /* Block the shutdown signals before any thread exists (the database starts one), so
     * every thread inherits the mask and they arrive only through the signalfd. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);

    static struct config cfg;
    char err[512];
    config_defaults(&cfg);
    if (conf != NULL && config_load(&cfg, conf, err, sizeof(err)) != ML_OK) {
        log_error("%s", err);
        return 2;
    }
    if (check_only)
        return 0;
    if (config_resolve_secrets(&cfg, 1, err, sizeof(err)) != ML_OK) {
        log_error("%s", err);
        return 2;
    }

    char dbpath[CONFIG_PATH_MAX + 32];
    snprintf(dbpath, sizeof(dbpath), "%s/memberlink.db", cfg.data_dir);
    struct db *db = NULL;
    ml_err e = schema_open(dbpath, &db, err, sizeof(err));
    if (e != ML_OK) {
        log_error("%s", err);
        return e == ML_CONFIG ? 2 : 1;
    }
    if (db_migrated_from(db) < SCHEMA_VERSION)
        log_info("database migrated from schema version %d to %d", db_migrated_from(db),
                 SCHEMA_VERSION);

    if (import != NULL) {
        size_t applied = 0;
        e = factfile_import(db, cfg.phone_key, import, &applied, err, sizeof(err));
        db_close(db);
        if (e != ML_OK) {
            log_error("import failed, nothing applied: %s", err);
            return 1;
        }
        log_info("imported %zu facts from %s", applied, import);
        return 0;
    }

    int rc = 1, sfd = -1;
    struct api *api = NULL;
    static struct metrics metrics;
    static struct trust trust;
    struct ml_ctx ctx = {.db = db, .cfg = &cfg, .metrics = &metrics, .now_ms = clock_wall_ms};
    struct sign_keyring *keys = sign_keyring_new();
    if (keys == NULL) {
        log_error("out of memory");
        goto out;
    }
    ctx.keys = keys;
    for (int i = 0; i < cfg.hq_npubkeys; i++) {
        if (sign_keyring_add_spec(keys, cfg.hq_pubkeys[i]) != ML_OK) {
            log_error("[hq] pubkey %.40s...: not kid=<base64 Ed25519 key>", cfg.hq_pubkeys[i]);
            rc = 2;
            goto out;
        }
    }
    if (trust_open(&trust, db) != ML_OK)
        log_warn("trusted clock: cannot read its state (%s); no trusted time until HQ is heard",
                 db_errmsg(db));
    ctx.trust = &trust;
    ctx.started_ms = clock_wall_ms();
    if (api_start(&ctx, &api, err, sizeof(err)) != ML_OK ||
        (cfg.mqtt_host[0] != '\0' && hqlink_start(&ctx, err, sizeof(err)) != ML_OK)) {
        log_error("%s", err);
        rc = 2;
        goto out;
    }
    if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        log_error("signalfd: %s", strerror(errno));
        goto out;
    }
    log_info("memberlinkd %s: store %s terminal %s, API on http://%s:%u, data in %s", ML_VERSION,
             cfg.store, cfg.terminal, cfg.api_host, (unsigned)cfg.api_port, cfg.data_dir);

    int64_t recover_at = 0;
    for (;;) {
        struct pollfd fds[4] = {{.fd = api_poll_fd(api), .events = POLLIN},
                                {.fd = sfd, .events = POLLIN},
                                {.fd = -1},
                                {.fd = -1, .events = POLLIN}};
        int timeout = api_timeout_ms(api);
        if (ctx.link != NULL) {
            fds[2].fd = link_fd(ctx.link);
            fds[2].events = link_events(ctx.link);
            fds[3].fd = link_catchup_fd(ctx.link);
            int lt = link_timeout_ms(ctx.link);
            if (timeout < 0 || lt < timeout)
                timeout = lt;
        }
        if (db_outcome_unknown(db) && (timeout < 0 || timeout > MAIN_RECOVER_EVERY_MS))
            timeout = MAIN_RECOVER_EVERY_MS;
        int n = poll(fds, 4, timeout);
        if (n < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            goto out;
        }
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                log_info("signal %u: shutting down", si.ssi_signo);
                break;
            }
        }
        /* A commit failed somewhere (an ack, a catch-up): find out before more is written. */
        if (db_outcome_unknown(db) && clock_mono_ms() >= recover_at) {
            if (db_recover(db) == ML_OK)
                log_warn("database: reopened after a failed commit; it shows what reached the "
                         "disk");
            else
                recover_at = clock_mono_ms() + MAIN_RECOVER_EVERY_MS;
        }
        api_run(api);
        if (ctx.link != NULL) {
            if (fds[2].fd >= 0 && fds[2].revents)
                link_io(ctx.link, fds[2].revents);
            if (fds[3].fd >= 0 && (fds[3].revents & POLLIN))
                link_catchup_ready(ctx.link);
            link_tick(ctx.link);
        }
    }
    rc = 0;
out:
    link_stop(ctx.link);
    api_stop(api);
    sign_keyring_free(keys);
    db_close(db);
    if (sfd >= 0) {
        close(sfd);
        log_info("stopped");
    }
    return rc;
}
