/*
 * storage_test: what the real daemon answers when the disk fails, through the fault shim
 * (tests/fault/fault.c, preloaded into memberlinkd only).
 *
 * A commit whose flush fails may or may not be on disk: the agent answers 503
 * storage_outcome_unknown (never "nothing was recorded"), reopens the database to learn what
 * reached it, and the retry with the same Idempotency-Key returns the true outcome, which a
 * kill -9 and restart confirm. A startup that fails after the link to HQ was made releases it
 * (the ASan+UBSan daemon of the second integration run reports any leak, which fails it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "harness.h"

#define BODY                                                                                       \
    "{\"member\":\"M1001\",\"items\":[{\"sku\":\"TS-01\",\"category\":\"apparel\",\"qty\":1,"      \
    "\"unit_price\":5990}]}"
#define EVENTS_PER_SALE 3

struct fx {
    struct daemon d;
    char ctl[320]; /* the shim's control file */
};

/* ASAN_OPTIONS as this test found it (NULL: unset), restored by no_preload(). */
static char *asan_options;

/* The shim goes into the environment of the processes started from here on. */
static void preload(struct fx *f)
{
    char shim[512], asan[1024];
    snprintf(shim, sizeof(shim), "%s/tests/libfault.so", harness_bin_dir());
    setenv("LD_PRELOAD", shim, 1);
    setenv("ML_FAULT_FILE", f->ctl, 1);
    /* An ASan daemon wants its runtime first; the shim is only a few system calls. The
     * options the run was given stay. */
    snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", asan_options ? asan_options : "",
             asan_options && asan_options[0] ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
}

static void no_preload(void)
{
    unsetenv("LD_PRELOAD");
    unsetenv("ML_FAULT_FILE");
    if (asan_options != NULL)
        setenv("ASAN_OPTIONS", asan_options, 1);
    else
        unsetenv("ASAN_OPTIONS");
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || daemon_setup(&f->d, NULL) != 0 ||
        daemon_import(&f->d, "packaging/demo/facts.ndjson") != 0)
        return -1;
    snprintf(f->ctl, sizeof(f->ctl), "%s/fault.ctl", f->d.dir);
    if (harness_write_file(f->ctl, "") != 0)
        return -1;
    preload(f);
    int rc = daemon_start(&f->d);
    no_preload();
    if (rc != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    no_preload();
    int rc = daemon_cleanup(&f->d);
    free(f);
    return rc;
}

/* The fault rules left in the control file, to show the armed fault was used. */
static void assert_ctl(struct fx *f, const char *want)
{
    char *got = harness_read_file(f->ctl, NULL);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* One sale committed normally: the WAL now holds frames, so the next commit's flush is the
 * flush of its own frames (with an empty WAL, SQLite flushes the new log's header first). */
static void warm(struct fx *f)
{
    struct http_resp w;
    assert_int_equal(http_call(&f->d, "POST", "/v1/checkout", "warm", BODY, &w), 0);
    assert_int_equal(w.status, 200);
    http_resp_free(&w);
}

static int64_t created_at(const struct http_resp *r)
{
    return (int64_t)json_num_at(r->json, "created_at");
}

static void failed_flush_at_commit_is_outcome_unknown_and_the_retry_tells_the_truth(void **state)
{
    struct fx *f = *state;
    struct http_resp a, b, c, sales;
    warm(f);
    int64_t before = clock_wall_ms();
    assert_int_equal(harness_write_file(f->ctl, "fdatasync EIO 1\n"), 0);
    assert_int_equal(http_call(&f->d, "POST", "/v1/checkout", "disk-1", BODY, &a), 0);
    assert_int_equal(a.status, 503);
    assert_string_equal(http_error_code(&a), "storage_outcome_unknown");
    assert_ctl(f, "fdatasync EIO 0\n"); /* it was the commit's flush that failed */
    harness_sleep_ms(50);
    int64_t retried = clock_wall_ms();

    /* The retry learns what the disk holds: the frames of the failed commit were written, so
     * the sale is there, made before the retry was sent, and the retry returns its answer. */
    assert_int_equal(http_call(&f->d, "POST", "/v1/checkout", "disk-1", BODY, &b), 0);
    assert_int_equal(b.status, 200);
    assert_string_equal(json_str_at(b.json, "sale_id"), "S001-T01-000002");
    assert_true(created_at(&b) >= before && created_at(&b) < retried);
    assert_true(daemon_status_num(&f->d, "sales") == 2);
    assert_true(daemon_status_num(&f->d, "outbox.depth") == 2 * EVENTS_PER_SALE);

    /* A crash right now keeps exactly that: two sales, the same answer for the same key. */
    daemon_signal(&f->d, SIGKILL);
    assert_int_equal(daemon_start(&f->d), 0);
    assert_int_equal(http_call(&f->d, "GET", "/v1/sales", NULL, NULL, &sales), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(sales.json, "sales")), 2);
    assert_int_equal(http_call(&f->d, "POST", "/v1/checkout", "disk-1", BODY, &c), 0);
    assert_int_equal(c.status, 200);
    assert_string_equal(b.body, c.body);
    assert_true(daemon_status_num(&f->d, "outbox.depth") == 2 * EVENTS_PER_SALE);

    /* Logged once, where it was handled, with what SQLite said. */
    assert_int_equal(harness_count_in_file(f->d.log, "storage_outcome_unknown"), 1);
    assert_int_equal(harness_count_in_file(f->d.log, "disk I/O error"), 1);
    http_resp_free(&a);
    http_resp_free(&b);
    http_resp_free(&c);
    http_resp_free(&sales);
}

static void failed_flush_of_a_new_log_is_not_recorded_and_the_retry_records_it_once(void **state)
{
    struct fx *f = *state;
    struct http_resp a, b;
    /* The WAL is empty: the flush that fails is the new log header's, before any frame. */
    assert_int_equal(harness_write_file(f->ctl, "fdatasync EIO 1\n"), 0);
    assert_int_equal(http_call(&f->d, "POST", "/v1/checkout", "disk-1", BODY, &a), 0);
    assert_int_equal(a.status, 503);
    assert_string_equal(http_error_code(&a), "storage_outcome_unknown");
    assert_ctl(f, "fdatasync EIO 0\n");
    harness_sleep_ms(50);
    int64_t retried = clock_wall_ms();
    assert_int_equal(http_call(&f->d, "POST", "/v1/checkout", "disk-1", BODY, &b), 0);
    assert_int_equal(b.status, 200);
    assert_string_equal(json_str_at(b.json, "sale_id"), "S001-T01-000001");
    assert_true(created_at(&b) >= retried); /* made by the retry: nothing had been recorded */
    assert_true(daemon_status_num(&f->d, "sales") == 1);
    assert_true(daemon_status_num(&f->d, "outbox.depth") == EVENTS_PER_SALE);
    http_resp_free(&a);
    http_resp_free(&b);
}

static void writes_wait_until_the_database_is_read_back(void **state)
{
    struct fx *f = *state;
    struct http_resp a, b, n;
    warm(f);
    /* The commit's flush fails, then so does the reopened database's checkpoint. */
    assert_int_equal(harness_write_file(f->ctl, "fdatasync EIO 2\n"), 0);
    assert_int_equal(http_call(&f->d, "POST", "/v1/checkout", "disk-2", BODY, &a), 0);
    assert_int_equal(a.status, 503);
    assert_string_equal(http_error_code(&a), "storage_outcome_unknown");
    assert_ctl(f, "fdatasync EIO 0\n");
    assert_int_equal(harness_count_in_file(f->d.log, "cannot be reopened"), 1);
    /* Reads go on meanwhile. */
    assert_true(daemon_status_num(&f->d, "sales") >= 1);
    /* The next write reopens first, then answers truthfully. */
    assert_int_equal(http_call(&f->d, "POST", "/v1/checkout", "disk-2", BODY, &b), 0);
    assert_int_equal(b.status, 200);
    assert_string_equal(json_str_at(b.json, "sale_id"), "S001-T01-000002");
    assert_int_equal(http_call(&f->d, "POST", "/v1/checkout", "disk-3", BODY, &n), 0);
    assert_int_equal(n.status, 200);
    assert_string_equal(json_str_at(n.json, "sale_id"), "S001-T01-000003");
    assert_true(daemon_status_num(&f->d, "sales") == 3);
    http_resp_free(&a);
    http_resp_free(&b);
    http_resp_free(&n);
}

/* The daemon with a link to a broker, whose signalfd() fails at start: it exits 1 having
 * stopped the link and released everything (the ASan daemon of the second run says so). */
static void startup_failure_after_the_link_exits_1_and_releases_it(void **state)
{
    struct fx *f = *state;
    struct broker b = {0};
    char conf[1024], extra[256], bin[512];
    daemon_signal(&f->d, SIGTERM);
    assert_int_equal(broker_start(&b), 0);
    snprintf(extra, sizeof(extra), "\n[mqtt]\nhost = 127.0.0.1\nport = %u\n", (unsigned)b.port);
    char *base = harness_read_file(f->d.conf, NULL);
    assert_non_null(base);
    snprintf(conf, sizeof(conf), "%s%s", base, extra);
    free(base);
    assert_int_equal(harness_write_file(f->d.conf, conf), 0);
    assert_int_equal(harness_write_file(f->ctl, "signalfd EMFILE 1\n"), 0);
    snprintf(bin, sizeof(bin), "%s/memberlinkd", harness_bin_dir());
    const char *argv[] = {bin, "-c", f->d.conf, NULL};
    char *err = NULL;
    preload(f);
    int rc = harness_run(argv, f->d.dir, 20000, NULL, &err);
    no_preload();
    broker_stop(&b);
    broker_cleanup(&b);
    assert_non_null(err);
    if (rc != 1)
        fail_msg("memberlinkd exited %d, want 1; it said:\n%s", rc, err);
    assert_non_null(strstr(err, "signalfd:"));
    /* The ASan+UBSan daemon reports what was not released on the way out. */
    if (strstr(err, "LeakSanitizer") != NULL || strstr(err, "AddressSanitizer") != NULL)
        fail_msg("memberlinkd left memory behind:\n%s", err);
    free(err);
    assert_ctl(f, "signalfd EMFILE 0\n");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const char *given = getenv("ASAN_OPTIONS");
    asan_options = given ? strdup(given) : NULL;
    const struct CMUnitTest tests[] = {
        T(failed_flush_at_commit_is_outcome_unknown_and_the_retry_tells_the_truth),
        T(failed_flush_of_a_new_log_is_not_recorded_and_the_retry_records_it_once),
        T(writes_wait_until_the_database_is_read_back),
        T(startup_failure_after_the_link_exits_1_and_releases_it),
    };
    int failed =
        cmocka_run_group_tests_name("storage (real memberlinkd, failing disk)", tests, NULL, NULL);
    free(asan_options);
    return failed;
}
