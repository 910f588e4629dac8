/*
 * fileutil_test: unit tests for fileutil.h.
 *
 * Each test works in a fresh temporary directory. file_replace() leaves exactly the new
 * bytes at exactly the asked mode (whatever the umask or a leftover temporary file says),
 * no temporary file behind, and on failure the old path untouched; it refuses a symbolic
 * link planted at the temporary name and a path too long for PATH_MAX. file_read_small()
 * reads a file of up to max bytes whole and refuses one byte more.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"

struct fx {
    char dir[64];
    char path[128]; /* <dir>/f */
    char tmp[128];  /* <dir>/f.tmp */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ml-fileutil-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/f", f->dir);
    snprintf(f->tmp, sizeof(f->tmp), "%s/f" FILE_TMP_SUFFIX, f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(file_write_all(fd, text, strlen(text)), 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

/* The whole of path, NUL-terminated (caller frees). */
static char *contents(const char *path, size_t *ret_len)
{
    char *text = NULL;
    size_t len = 0;
    ml_err err = file_read_small(path, 1 << 20, &text, &len);
    if (err != ML_OK)
        fail_msg("read %s: %s", path, ml_strerror(err));
    if (ret_len != NULL)
        *ret_len = len;
    return text;
}

static mode_t mode_of(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        fail_msg("stat %s: %s", path, strerror(errno));
    return sb.st_mode & 07777;
}

static void write_all_writes_every_byte(void **state)
{
    struct fx *f = *state;
    size_t n = 300000; /* several pages, written and read back whole */
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(file_write_all(fd, big, n), 0);
    assert_int_equal(file_write_all(fd, big, 0), 0);
    assert_int_equal(close(fd), 0);
    size_t len = 0;
    char *back = contents(f->path, &len);
    assert_int_equal(len, n);
    assert_true(memcmp(back, big, n) == 0);
    free(back);
    free(big);
}

static void write_all_to_a_bad_descriptor_fails_with_errno(void **state)
{
    (void)state;
    errno = 0;
    assert_int_equal(file_write_all(-1, "x", 1), -1);
    assert_int_equal(errno, EBADF);
}

static void replace_writes_the_bytes_at_exactly_the_mode_whatever_the_umask(void **state)
{
    struct fx *f = *state;
    static const struct {
        mode_t umask, mode;
    } rows[] = {{077, 0644}, {022, 0600}, {0, 0640}, {077, 0600}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        mode_t old = umask(rows[i].umask);
        char text[32];
        int n = snprintf(text, sizeof(text), "row %zu\n", i);
        int rc = file_replace(f->path, text, (size_t)n, rows[i].mode);
        umask(old);
        assert_int_equal(rc, 0);
        assert_int_equal(mode_of(f->path), rows[i].mode);
        char *back = contents(f->path, NULL);
        assert_string_equal(back, text);
        free(back);
        assert_int_equal(access(f->tmp, F_OK), -1); /* renamed into place */
    }
}

static void replace_with_no_bytes_leaves_an_empty_file(void **state)
{
    struct fx *f = *state;
    write_file(f->path, "old", 0644);
    assert_int_equal(file_replace(f->path, "", 0, 0644), 0);
    size_t len = 1;
    char *back = contents(f->path, &len);
    assert_int_equal(len, 0);
    free(back);
}

static void replace_overwrites_a_leftover_temporary_file_and_its_mode(void **state)
{
    struct fx *f = *state;
    write_file(f->tmp, "a leftover longer than the new text", 0666);
    assert_int_equal(file_replace(f->path, "new", 3, 0600), 0);
    assert_int_equal(mode_of(f->path), 0600);
    char *back = contents(f->path, NULL);
    assert_string_equal(back, "new");
    free(back);
    assert_int_equal(access(f->tmp, F_OK), -1);
}

static void replace_that_cannot_rename_leaves_path_and_no_temporary_file(void **state)
{
    struct fx *f = *state;
    assert_int_equal(mkdir(f->path, 0700), 0); /* a directory is not replaced by a file */
    errno = 0;
    assert_int_equal(file_replace(f->path, "new", 3, 0644), -1);
    assert_int_equal(errno, EISDIR);
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(access(f->tmp, F_OK), -1);
}

static void replace_in_a_missing_directory_fails_with_enoent(void **state)
{
    struct fx *f = *state;
    char p[192];
    snprintf(p, sizeof(p), "%s/no/such/dir/f", f->dir);
    errno = 0;
    assert_int_equal(file_replace(p, "x", 1, 0644), -1);
    assert_int_equal(errno, ENOENT);
}

static void replace_refuses_a_symlink_at_the_temporary_name(void **state)
{
    struct fx *f = *state;
    char target[160];
    snprintf(target, sizeof(target), "%s/target", f->dir);
    write_file(target, "keep", 0644);
    assert_int_equal(symlink(target, f->tmp), 0);
    errno = 0;
    assert_int_equal(file_replace(f->path, "new", 3, 0644), -1);
    assert_int_equal(errno, ELOOP);
    char *back = contents(target, NULL);
    assert_string_equal(back, "keep");
    free(back);
    assert_int_equal(access(f->path, F_OK), -1);
}

static void replace_refuses_a_path_too_long_for_the_temporary_name(void **state)
{
    (void)state;
    char *p = malloc(PATH_MAX);
    assert_non_null(p);
    /* PATH_MAX - 5 bytes + ".tmp" + NUL is one more than PATH_MAX */
    memset(p, 'a', PATH_MAX - 1);
    p[0] = '/';
    p[PATH_MAX - 5] = '\0';
    errno = 0;
    assert_int_equal(file_replace(p, "x", 1, 0644), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    free(p);
}

static void read_small_reads_up_to_max_and_refuses_one_byte_more(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *text;
        size_t max;
        ml_err want;
    } rows[] = {
        {"", 0, ML_OK},       {"", 8, ML_OK},      {"abc", 3, ML_OK},
        {"abc", 2, ML_LIMIT}, {"abc\n", 8, ML_OK}, {"abcdefghi", 8, ML_LIMIT},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        write_file(f->path, rows[i].text, 0600);
        char *text = (char *)0x1;
        size_t len = 12345;
        ml_err err = file_read_small(f->path, rows[i].max, &text, &len);
        if (err != rows[i].want)
            fail_msg("row %zu: %s, want %s", i, ml_strerror(err), ml_strerror(rows[i].want));
        if (err == ML_OK) {
            assert_int_equal(len, strlen(rows[i].text));
            assert_string_equal(text, rows[i].text);
            free(text);
        } else {
            assert_ptr_equal(text, (char *)0x1); /* never written on failure */
            assert_int_equal(len, 12345);
        }
    }
}

static void read_small_of_a_missing_file_is_noentry(void **state)
{
    struct fx *f = *state;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(file_read_small(f->path, 16, &text, &len), ML_NOENTRY);
    assert_null(text);
}

static void read_small_of_a_directory_fails_with_errno(void **state)
{
    struct fx *f = *state;
    char *text = NULL;
    size_t len = 0;
    errno = 0;
    assert_int_equal(file_read_small(f->dir, 16, &text, &len), ML_FAILURE);
    assert_int_equal(errno, EISDIR);
    assert_null(text);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(write_all_writes_every_byte),
        T(write_all_to_a_bad_descriptor_fails_with_errno),
        T(replace_writes_the_bytes_at_exactly_the_mode_whatever_the_umask),
        T(replace_with_no_bytes_leaves_an_empty_file),
        T(replace_overwrites_a_leftover_temporary_file_and_its_mode),
        T(replace_that_cannot_rename_leaves_path_and_no_temporary_file),
        T(replace_in_a_missing_directory_fails_with_enoent),
        T(replace_refuses_a_symlink_at_the_temporary_name),
        T(replace_refuses_a_path_too_long_for_the_temporary_name),
        T(read_small_reads_up_to_max_and_refuses_one_byte_more),
        T(read_small_of_a_missing_file_is_noentry),
        T(read_small_of_a_directory_fails_with_errno),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
