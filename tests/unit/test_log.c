/* SPDX-License-Identifier: MIT */
/* Log lines: a thread's context fields end each line it logs, and only its
 * own (ph_log_set_context); a long message is cut, never its context. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <posthorn/log.h>

static char log_path[32];

static int setup(void **state)
{
    (void)state;
    snprintf(log_path, sizeof(log_path), "/tmp/ph-log-XXXXXX");
    int fd = mkstemp(log_path);
    assert_true(fd >= 0);
    close(fd);
    const char *err;
    assert_int_equal(ph_log_set_target(PH_LOG_TARGET_FILE, log_path, &err), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *err;
    assert_int_equal(ph_log_set_target(PH_LOG_TARGET_STDERR, NULL, &err), 0);
    unlink(log_path);
    return 0;
}

/* The log's lines without their timestamps, "" when empty. */
static char *read_log(void)
{
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    static char out[65536];
    size_t n = 0;
    char line[8192];
    while (fgets(line, sizeof(line), f)) {
        const char *rest = strchr(line, ' ');
        assert_non_null(rest);
        size_t len = strlen(rest + 1);
        assert_true(n + len < sizeof(out));
        memcpy(out + n, rest + 1, len);
        n += len;
    }
    out[n] = '\0';
    fclose(f);
    return out;
}

static void *log_without_context(void *arg)
{
    (void)arg;
    ph_log_info("mod=test event=other_thread");
    return NULL;
}

static void test_context_ends_the_lines_of_its_thread_only(void **state)
{
    (void)state;
    ph_log_set_context("session=42");
    assert_string_equal(ph_log_context(), "session=42");
    ph_log_info("mod=test event=one");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, log_without_context, NULL), 0);
    pthread_join(t, NULL);
    ph_log_warn("mod=test event=two user=%s", "bob");
    ph_log_set_context(NULL);
    assert_string_equal(ph_log_context(), "");
    ph_log_info("mod=test event=three");
    assert_string_equal(read_log(),
                        "level=info mod=test event=one session=42\n"
                        "level=info mod=test event=other_thread\n"
                        "level=warn mod=test event=two user=bob session=42\n"
                        "level=info mod=test event=three\n");
}

static void test_a_long_line_keeps_its_context(void **state)
{
    (void)state;
    char big[6000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ph_log_set_context("session=7");
    ph_log_info("mod=test data=%s", big);
    ph_log_set_context(NULL);
    const char *text = read_log();
    size_t len = strlen(text);
    const char tail[] = "x session=7\n";
    assert_true(len > sizeof(tail));
    assert_string_equal(text + len - (sizeof(tail) - 1), tail);
    /* The message and its context fit the line buffer (4096 bytes). */
    assert_true(len < 4096 + sizeof("level=info "));
}

static void test_debug_lines_need_debug(void **state)
{
    (void)state;
    ph_log_debug("mod=test event=hidden");
    ph_log_set_debug(true);
    ph_log_debug("mod=test event=shown");
    ph_log_set_debug(false);
    assert_string_equal(read_log(), "level=debug mod=test event=shown\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_context_ends_the_lines_of_its_thread_only),
        T(test_a_long_line_keeps_its_context),
        T(test_debug_lines_need_debug),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
