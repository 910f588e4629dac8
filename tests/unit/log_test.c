/*
 * log_test: unit tests for log.h, reading back what it wrote to stderr (a temp file).
 *
 * A line is "<program>[level]: message\n"; a control character in the message (a newline
 * quoted from an MQTT topic, say) is written as '?' so it cannot begin a forged line, while
 * UTF-8 text (a guide's name) passes unchanged; a message of LOG_LINE_MAX - 1 bytes is kept
 * whole and one byte longer is cut; levels above the threshold write nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int saved_stderr = -1;
static FILE *capture;

static int setup(void **state)
{
    (void)state;
    capture = tmpfile();
    if (capture == NULL)
        return -1;
    fflush(stderr);
    saved_stderr = dup(2);
    if (saved_stderr < 0 || dup2(fileno(capture), 2) < 0)
        return -1;
    log_set_name("logtest");
    log_set_level(LOG_LVL_INFO);
    return 0;
}

/* Gives stderr back (once), so what cmocka prints about a failure is seen. */
static void restore(void)
{
    fflush(stderr);
    if (saved_stderr >= 0) {
        dup2(saved_stderr, 2);
        close(saved_stderr);
        saved_stderr = -1;
    }
}

static int teardown(void **state)
{
    (void)state;
    restore();
    fclose(capture);
    return 0;
}

/* What was logged since setup, NUL-terminated (caller frees); stderr is given back first. */
static char *captured(void)
{
    restore();
    long n = lseek(fileno(capture), 0, SEEK_END);
    assert_true(n >= 0);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fileno(capture), buf, (size_t)n, 0), n);
    buf[n] = '\0';
    return buf;
}

static void a_line_names_the_program_and_level(void **state)
{
    (void)state;
    log_warn("outbox at %d events", 7);
    char *out = captured();
    assert_string_equal(out, "logtest[warn]: outbox at 7 events\n");
    free(out);
}

static void control_characters_from_outside_cannot_start_a_line(void **state)
{
    (void)state;
    const char *topic = "ml/demo/hq/campaign/x\nlogtest[info]: all is well\r\t\x1b[2J\x7f";
    log_warn("message on %s refused", topic);
    char *out = captured();
    assert_string_equal(out,
                        "logtest[warn]: message on ml/demo/hq/campaign/x?logtest[info]: all is "
                        "well???[2J? refused\n");
    free(out);
}

static void utf8_text_passes_unchanged(void **state)
{
    (void)state;
    log_info("guide %s bound", "\xe7\x8e\x8b\xe8\x8a\xb3"); /* 王芳 */
    char *out = captured();
    assert_string_equal(out, "logtest[info]: guide \xe7\x8e\x8b\xe8\x8a\xb3 bound\n");
    free(out);
}

static void a_message_at_the_limit_is_whole_and_one_past_is_cut(void **state)
{
    (void)state;
    char msg[LOG_LINE_MAX + 1];
    memset(msg, 'a', LOG_LINE_MAX - 1);
    msg[LOG_LINE_MAX - 1] = '\0';
    log_info("%s", msg); /* LOG_LINE_MAX - 1 bytes */
    msg[LOG_LINE_MAX - 1] = 'b';
    msg[LOG_LINE_MAX] = '\0';
    log_info("%s", msg); /* one past: the 'b' is cut */
    char *out = captured();
    const char *prefix = "logtest[info]: ";
    size_t line = strlen(prefix) + LOG_LINE_MAX - 1 + 1;
    assert_int_equal(strlen(out), 2 * line);
    for (int i = 0; i < 2; i++) {
        const char *l = out + (size_t)i * line;
        assert_memory_equal(l, prefix, strlen(prefix));
        assert_int_equal(strspn(l + strlen(prefix), "a"), LOG_LINE_MAX - 1);
        assert_int_equal(l[line - 1], '\n');
    }
    assert_null(strchr(out, 'b'));
    free(out);
}

static void levels_above_the_threshold_write_nothing(void **state)
{
    (void)state;
    log_debug("hidden");
    log_set_level(LOG_LVL_DEBUG);
    log_debug("shown");
    log_set_level(LOG_LVL_ERROR);
    log_warn("hidden too");
    log_error("kept");
    char *out = captured();
    assert_string_equal(out, "logtest[debug]: shown\nlogtest[error]: kept\n");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_line_names_the_program_and_level, setup, teardown),
        cmocka_unit_test_setup_teardown(control_characters_from_outside_cannot_start_a_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(utf8_text_passes_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(a_message_at_the_limit_is_whole_and_one_past_is_cut, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(levels_above_the_threshold_write_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
