/* SPDX-License-Identifier: MIT */
/* Hostile shapes: deep nesting, many parts, giant headers, long lines. The
 * parser must stay linear and bounded and still give a valid answer. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_message.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0, l = strlen(needle);
    for (const char *p = strstr(s, needle); p; p = strstr(p + l, needle))
        n++;
    return n;
}

/* The stored form of a result must read back: a valid tree. */
static void assert_round_trips(const struct ph_message_info *info)
{
    size_t len;
    char *s = tm_serialize(info, &len);
    struct ph_message_info *back;
    const char *error = NULL;
    if (ph_message_info_deserialize(s, len, &back, &error) != 0)
        fail_msg("result does not read back: %s", error);
    ph_message_info_free(&back);
    free(s);
}

static void test_deep_multipart_nesting_stops_at_limit(void **state)
{
    (void)state;
    struct ph_buf m = {0};
    for (int i = 0; i < 1000; i++)
        ph_buf_printf(&m,
                      "Content-Type: multipart/mixed; boundary=b%dx\r\n"
                      "\r\n--b%dx\r\n",
                      i, i);
    ph_buf_puts(&m, "\r\nleaf\r\n");
    struct ph_message_info *info = ph_message_parse(m.data, m.len);
    /* Depth 0..99: 100 nodes; the deepest is a leaf reported as text. */
    assert_int_equal(info->n_parts, 100);
    assert_true(info->parts[99].flags & PH_MESSAGE_PART_LIMITED);
    assert_false(info->parts[99].flags & PH_MESSAGE_PART_MULTIPART);
    assert_string_equal(info->parts[99].type, "text");
    assert_int_equal(count(info->bodystructure, "\"mixed\""), 99);
    assert_round_trips(info);
    ph_message_info_free(&info);
    ph_buf_free(&m);
}

static void test_deep_rfc822_nesting_stops_at_limit(void **state)
{
    (void)state;
    struct ph_buf m = {0};
    for (int i = 0; i < 5000; i++)
        ph_buf_puts(&m, "Content-Type: message/rfc822\r\n\r\n");
    ph_buf_puts(&m, "Subject: inner\r\n\r\nbody\r\n");
    struct ph_message_info *info = ph_message_parse(m.data, m.len);
    assert_int_equal(info->n_parts, 100);
    assert_int_equal(count(info->bodystructure, "\"message\" \"rfc822\""), 99);
    assert_round_trips(info);
    ph_message_info_free(&info);
    ph_buf_free(&m);
}

static void test_hundred_thousand_parts_linear_time(void **state)
{
    (void)state;
    struct ph_buf m = {0};
    ph_buf_puts(&m, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
    for (int i = 0; i < 100000; i++)
        ph_buf_printf(&m,
                      "--b\r\nContent-Type: text/plain\r\n\r\n"
                      "part %d\r\n",
                      i);
    ph_buf_puts(&m, "--b--\r\n");
    double t0 = now();
    struct ph_message_info *info = ph_message_parse(m.data, m.len);
    double t1 = now();
    /* max_parts (5000) nodes: the root and 4999 parts; the last one holds
     * the rest of the message. */
    assert_int_equal(info->n_parts, 5000);
    assert_int_equal(info->parts[0].n_children, 4999);
    const struct ph_message_part *last = &info->parts[4999];
    assert_int_equal(last->body_offset + last->body_size, m.len);
    assert_round_trips(info);
    ph_message_info_free(&info);

    /* Linear: twice the input takes about twice the time, not four. */
    struct ph_buf m2 = {0};
    ph_buf_append(&m2, m.data, m.len - 7);
    for (int i = 0; i < 100000; i++)
        ph_buf_printf(&m2,
                      "--b\r\nContent-Type: text/plain\r\n\r\n"
                      "part %d\r\n",
                      i);
    ph_buf_puts(&m2, "--b--\r\n");
    double t2 = now();
    info = ph_message_parse(m2.data, m2.len);
    double t3 = now();
    ph_message_info_free(&info);
    /* Generous bounds for sanitizer and valgrind builds. */
    assert_true(t1 - t0 < 30.0);
    assert_true(t3 - t2 < 6 * (t1 - t0) + 0.5);
    ph_buf_free(&m);
    ph_buf_free(&m2);
}

static void test_part_limit_is_configurable(void **state)
{
    (void)state;
    struct ph_message_limits lim;
    ph_message_limits_default(&lim);
    lim.max_parts = 3;
    const char *m = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                    "--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b\r\n\r\nthree\r\n"
                    "--b--\r\n";
    struct ph_message_parser *p = ph_message_parser_new(&lim);
    ph_message_parser_feed(p, m, strlen(m));
    struct ph_message_info *info = ph_message_parser_finish(&p);
    assert_int_equal(info->n_parts, 3);
    assert_string_equal(info->body, "((\"text\" \"plain\" (\"charset\" "
                                    "\"us-ascii\") NIL NIL \"7bit\" 3 0)"
                                    "(\"text\" \"plain\" (\"charset\" "
                                    "\"us-ascii\") NIL NIL \"7bit\" 26 5) "
                                    "\"mixed\")");
    ph_message_info_free(&info);
}

static void test_giant_header_is_bounded(void **state)
{
    (void)state;
    /* 3 MB of To: addresses, folded. */
    struct ph_buf m = {0};
    ph_buf_puts(&m, "Subject: big\r\nTo: a@example.com");
    while (m.len < 3 * 1024 * 1024)
        ph_buf_puts(&m, ",\r\n b@example.com");
    ph_buf_puts(&m, "\r\nContent-Type: text/html\r\n\r\nbody\r\n");
    struct ph_message_info *info = ph_message_parse(m.data, m.len);
    /* The header keeps its true extent; 1 MiB of it is kept. */
    assert_int_equal(info->parts[0].header_size, m.len - 6);
    assert_int_equal(info->parts[0].body_size, 6);
    assert_true(info->parts[0].flags & PH_MESSAGE_PART_HEADER_TRUNCATED);
    assert_int_equal(info->header_size, 1024 * 1024);
    assert_string_equal(info->subject, "big");
    /* Content-Type came after the limit: the default applies. */
    assert_string_equal(info->parts[0].subtype, "plain");
    assert_true(strlen(info->envelope) < 2 * 1024 * 1024);
    assert_round_trips(info);
    ph_message_info_free(&info);
    ph_buf_free(&m);
}

static void test_long_lines_and_huge_boundary(void **state)
{
    (void)state;
    struct ph_buf m = {0};
    char boundary[9000];
    memset(boundary, 'x', sizeof(boundary) - 1);
    boundary[sizeof(boundary) - 1] = '\0';
    /* A boundary over max_boundary_size (8192) is ignored. */
    ph_buf_printf(&m,
                  "Content-Type: multipart/mixed; boundary=%s\r\n\r\n"
                  "--%s\r\n\r\nx\r\n",
                  boundary, boundary);
    /* A 5 MB line without LF. */
    for (int i = 0; i < 5 * 1024; i++)
        ph_buf_append(&m, boundary, 1024);
    struct ph_message_info *info = ph_message_parse(m.data, m.len);
    assert_int_equal(info->n_parts, 1);
    assert_string_equal(info->body,
                        "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
                        "NIL \"7bit\" 0 0) \"mixed\")");
    assert_round_trips(info);
    ph_message_info_free(&info);
    ph_buf_free(&m);
}

static void test_garbage_never_crashes(void **state)
{
    (void)state;
    /* Deterministic pseudo-random bytes from an alphabet of MIME
     * punctuation, fed in random chunks. */
    static const char alphabet[] = "-\r\n:;=\"() \tab<>@,.\\/?*'%\x80\xff"
                                   "Content-Type multipart boundary=b "
                                   "message/rfc822 --b";
    uint32_t seed = 12345;
    for (int round = 0; round < 300; round++) {
        struct ph_buf m = {0};
        size_t len = (size_t)(seed % 3000);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245 + 12345;
            ph_buf_putc(&m, alphabet[(seed >> 16) % (sizeof(alphabet) - 1)]);
        }
        struct ph_message_info *a = ph_message_parse(m.data, m.len);
        struct ph_message_info *b =
            tm_parse_chunked(m.data, m.len, 1 + seed % 13, 1 + seed % 61);
        size_t la, lb;
        char *sa = tm_serialize(a, &la);
        char *sb = tm_serialize(b, &lb);
        tm_assert_bytes("chunked garbage", sa, la, sb, lb);
        assert_round_trips(a);
        free(sa);
        free(sb);
        ph_message_info_free(&a);
        ph_message_info_free(&b);
        ph_buf_free(&m);
    }
}

int tm_run_limit_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_multipart_nesting_stops_at_limit),
        cmocka_unit_test(test_deep_rfc822_nesting_stops_at_limit),
        cmocka_unit_test(test_hundred_thousand_parts_linear_time),
        cmocka_unit_test(test_part_limit_is_configurable),
        cmocka_unit_test(test_giant_header_is_bounded),
        cmocka_unit_test(test_long_lines_and_huge_boundary),
        cmocka_unit_test(test_garbage_never_crashes),
    };
    return cmocka_run_group_tests_name("message_limits", tests, NULL, NULL);
}
