/* SPDX-License-Identifier: MIT */
/* Unit tests of the IMAP syntax helpers: modified UTF-7, sequence sets,
 * dates and the string writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <posthorn/imap-util.h>

/* ---- Modified UTF-7 ----------------------------------------------------- */

#define E_CHAR "Invalid character in mailbox name"
#define E_UNTERMINATED "Unterminated &-sequence in mailbox name"
#define E_BASE64 "Invalid modified BASE64 in mailbox name"
#define E_CANONICAL "Mailbox name is not canonical modified UTF-7"
#define E_UTF16 "Invalid UTF-16 in mailbox name"
#define E_UTF8 "Mailbox name is not valid UTF-8"
#define E_NUL "NUL in mailbox name"

/* Both directions, in both orders. */
static void expect_pair(const char *mutf7, const char *utf8, size_t utf8_len)
{
    struct ph_buf out = {0};
    const char *error = NULL;
    if (ph_imap_mutf7_to_utf8(mutf7, strlen(mutf7), &out, &error) != 0)
        fail_msg("decode \"%s\": %s", mutf7, error);
    assert_int_equal(out.len, utf8_len);
    if (utf8_len > 0)
        assert_memory_equal(out.data, utf8, utf8_len);
    ph_buf_reset(&out);
    if (ph_imap_utf8_to_mutf7(utf8, utf8_len, &out, &error) != 0)
        fail_msg("encode \"%s\": %s", utf8, error);
    assert_string_equal(out.data ? out.data : "", mutf7);
    ph_buf_free(&out);
}

#define PAIR(m, u) expect_pair(m, u, sizeof(u) - 1)

static void expect_decode_error(const char *mutf7, const char *want)
{
    struct ph_buf out = {0};
    const char *error = NULL;
    if (ph_imap_mutf7_to_utf8(mutf7, strlen(mutf7), &out, &error) == 0)
        fail_msg("decode \"%s\" succeeded: \"%s\"", mutf7,
                 out.data ? out.data : "");
    assert_string_equal(error, want);
    ph_buf_free(&out);
}

static void expect_encode_error(const char *utf8, size_t len, const char *want)
{
    struct ph_buf out = {0};
    const char *error = NULL;
    assert_int_equal(ph_imap_utf8_to_mutf7(utf8, len, &out, &error), -1);
    assert_string_equal(error, want);
    ph_buf_free(&out);
}

static void test_mutf7_vectors(void **state)
{
    (void)state;
    /* RFC 3501 section 5.1.3. */
    PAIR("~peter/mail/&U,BTFw-/&ZeVnLIqe-",
         "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
         "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
    PAIR("", "");
    PAIR("INBOX", "INBOX");
    PAIR("&-", "&");
    PAIR("Tom &- Jerry &-&-", "Tom & Jerry &&");
    PAIR("&AMk-t&AOk-", "\xc3\x89t\xc3\xa9");
    PAIR("&Jjo-!", "\xe2\x98\xba!");
    /* Outside the BMP: a surrogate pair. */
    PAIR("&2D3eAA-", "\xf0\x9f\x98\x80");
    PAIR("&2D3eANg93gA-", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80");
    /* Control characters are encoded; "&-" right after a run. */
    PAIR("&AAEAfw-", "\x01\x7f");
    PAIR("&AMk-&-", "\xc3\x89&");
    /* Every run length mod 3 (padding bits 2, 4, 0). */
    PAIR("&AOkA6QDp-", "\xc3\xa9\xc3\xa9\xc3\xa9");
    PAIR("&AOkA6Q-", "\xc3\xa9\xc3\xa9");
}

static void test_mutf7_invalid(void **state)
{
    (void)state;
    expect_decode_error("&", E_UNTERMINATED);
    expect_decode_error("a&U,BTFw", E_UNTERMINATED);
    expect_decode_error("&U,BTFw-&", E_UNTERMINATED);
    expect_decode_error("a\x80", E_CHAR);
    expect_decode_error("\xe5\x8f\xb0", E_CHAR);
    expect_decode_error("a\tb", E_CHAR);
    expect_decode_error("a\x7f", E_CHAR);
    expect_decode_error("&U,BT\x80w-", E_CHAR);
    expect_decode_error("&U/BTFw-", E_BASE64);
    expect_decode_error("&U,BTFw=-", E_BASE64);
    expect_decode_error("&U BTFw-", E_BASE64);
    /* Printable ASCII encoded ("a" and "&"). */
    expect_decode_error("&AGE-", E_CANONICAL);
    expect_decode_error("&ACY-", E_CANONICAL);
    /* Two runs in a row must be one. */
    expect_decode_error("&Jjo-&Jjo-", E_CANONICAL);
    /* Non-zero padding bits; a superfluous character; too few bits. */
    expect_decode_error("&AMl-", E_CANONICAL);
    expect_decode_error("&AMkA-", E_CANONICAL);
    expect_decode_error("&AM-", E_CANONICAL);
    expect_decode_error("&A-", E_CANONICAL);
    /* Unpaired surrogates. */
    expect_decode_error("&2D0-", E_UTF16);
    expect_decode_error("&3gA-", E_UTF16);
    expect_decode_error("&2D3YPQ-", E_UTF16);
    expect_decode_error("&2D0AQQ-", E_UTF16);
    /* NUL. */
    expect_decode_error("&AAA-", E_NUL);

    expect_encode_error("\xc0\xaf", 2, E_UTF8);
    expect_encode_error("\xe0\x80\xaf", 3, E_UTF8);
    expect_encode_error("\xed\xa0\x80", 3, E_UTF8);
    expect_encode_error("\xf4\x90\x80\x80", 4, E_UTF8);
    expect_encode_error("\xf5\x80\x80\x80", 4, E_UTF8);
    expect_encode_error("\xe6\x97", 2, E_UTF8);
    expect_encode_error("a\x80", 2, E_UTF8);
    expect_encode_error("\xe6\x97"
                        "a",
                        3, E_UTF8);
    expect_encode_error("a\0b", 3, E_NUL);
}

static void test_mutf7_all_bmp_round_trip(void **state)
{
    (void)state;
    /* Every BMP code point but surrogates and NUL, one at a time and as a
     * run: encode, decode, compare. */
    struct ph_buf utf8 = {0}, m = {0}, back = {0};
    const char *error;
    for (uint32_t cp = 1; cp < 0x10000; cp++) {
        if (cp >= 0xd800 && cp <= 0xdfff)
            continue;
        char b[3];
        size_t n;
        if (cp < 0x80) {
            b[0] = (char)cp;
            n = 1;
        } else if (cp < 0x800) {
            b[0] = (char)(0xc0 | (cp >> 6));
            b[1] = (char)(0x80 | (cp & 0x3f));
            n = 2;
        } else {
            b[0] = (char)(0xe0 | (cp >> 12));
            b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
            b[2] = (char)(0x80 | (cp & 0x3f));
            n = 3;
        }
        ph_buf_append(&utf8, b, n);
        ph_buf_reset(&m);
        ph_buf_reset(&back);
        assert_int_equal(ph_imap_utf8_to_mutf7(b, n, &m, &error), 0);
        assert_int_equal(ph_imap_mutf7_to_utf8(m.data, m.len, &back, &error),
                         0);
        assert_int_equal(back.len, n);
        assert_memory_equal(back.data, b, n);
    }
    ph_buf_reset(&m);
    ph_buf_reset(&back);
    assert_int_equal(ph_imap_utf8_to_mutf7(utf8.data, utf8.len, &m, &error), 0);
    assert_int_equal(ph_imap_mutf7_to_utf8(m.data, m.len, &back, &error), 0);
    assert_int_equal(back.len, utf8.len);
    assert_memory_equal(back.data, utf8.data, utf8.len);
    ph_buf_free(&utf8);
    ph_buf_free(&m);
    ph_buf_free(&back);
}

/* ---- Sequence sets ------------------------------------------------------ */

static char *seqset(const char *s, uint32_t star, size_t max_ranges, bool sort,
                    bool *star_r)
{
    struct ph_imap_seqset set;
    const char *error = NULL;
    if (ph_imap_seqset_parse(s, strlen(s), star, max_ranges, &set, &error) <
        0) {
        ph_imap_seqset_clear(&set);
        return ph_strdup_printf("ERROR %s", error);
    }
    if (sort)
        ph_imap_seqset_sort(&set);
    if (star_r != NULL)
        *star_r = set.has_star;
    struct ph_buf out = {0};
    ph_imap_seqset_write(&out, &set);
    ph_imap_seqset_clear(&set);
    return ph_buf_steal(&out);
}

#define SEQ(s, star, want)                                                     \
    do {                                                                       \
        char *got_ = seqset(s, star, 0, false, NULL);                          \
        assert_string_equal(got_, want);                                       \
        free(got_);                                                            \
    } while (0)
#define SEQ_SORTED(s, star, want)                                              \
    do {                                                                       \
        char *got_ = seqset(s, star, 0, true, NULL);                           \
        assert_string_equal(got_, want);                                       \
        free(got_);                                                            \
    } while (0)

static void test_seqset_parse(void **state)
{
    (void)state;
    SEQ("1:3,5,7:*,*", 10, "1:3,5,7:10,10");
    SEQ_SORTED("1:3,5,7:*,*", 10, "1:3,5,7:10");
    SEQ("4:2", 10, "2:4");
    SEQ("*:4", 10, "4:10");
    SEQ("5:*", 3, "3:5"); /* RFC 3501: 559:* includes the last UID */
    SEQ("*:*", 5, "5");
    SEQ("*", 7, "7");
    SEQ("1:4294967295", 5, "1:4294967295");
    SEQ("4294967295", 5, "4294967295");
    SEQ_SORTED("3,1,2,7:9,8,20:10", 0, "1:3,7:20");
    SEQ_SORTED("1:5,2:3,4:10,12", 0, "1:10,12");
    SEQ_SORTED("4294967295,1:4294967295", 0, "1:4294967295");
}

static void test_seqset_empty_mailbox(void **state)
{
    (void)state;
    bool star = false;
    char *got = seqset("1:*", 0, 0, true, &star);
    assert_string_equal(got, "");
    assert_true(star);
    free(got);
    got = seqset("1,3:*,*,5", 0, 0, true, &star);
    assert_string_equal(got, "1,5");
    assert_true(star);
    free(got);
    got = seqset("1,3", 0, 0, true, &star);
    assert_string_equal(got, "1,3");
    assert_false(star);
    free(got);
}

static void test_seqset_invalid(void **state)
{
    (void)state;
    SEQ("0", 5, "ERROR Invalid sequence number 0");
    SEQ("1:0", 5, "ERROR Invalid sequence number 0");
    SEQ("0:*", 5, "ERROR Invalid sequence number 0");
    SEQ("4294967296", 5, "ERROR Sequence number too large");
    SEQ("1:99999999999999999999", 5, "ERROR Sequence number too large");
    SEQ("01", 5, "ERROR Invalid sequence set");
    SEQ("00", 5, "ERROR Invalid sequence set");
    SEQ("", 5, "ERROR Invalid sequence set");
    SEQ("1,", 5, "ERROR Invalid sequence set");
    SEQ(",1", 5, "ERROR Invalid sequence set");
    SEQ("1,,2", 5, "ERROR Invalid sequence set");
    SEQ("1:", 5, "ERROR Invalid sequence set");
    SEQ(":1", 5, "ERROR Invalid sequence set");
    SEQ("1:2:3", 5, "ERROR Invalid sequence set");
    SEQ("1 2", 5, "ERROR Invalid sequence set");
    SEQ("a", 5, "ERROR Invalid sequence set");
    SEQ("-1", 5, "ERROR Invalid sequence set");
    SEQ("**", 5, "ERROR Invalid sequence set");
    SEQ("$", 5, "ERROR Invalid sequence set");
    SEQ("1:*x", 5, "ERROR Invalid sequence set");
    char *got = seqset("1,2,3", 5, 2, false, NULL);
    assert_string_equal(got, "ERROR Too many ranges in sequence set");
    free(got);
    got = seqset("1,2", 5, 2, false, NULL);
    assert_string_equal(got, "1,2");
    free(got);
    /* The default limit. */
    struct ph_buf in = {0};
    for (int i = 0; i < PH_IMAP_SEQSET_MAX_RANGES + 1; i++)
        ph_buf_printf(&in, "%s%d", i ? "," : "", 2 * i + 1);
    got = seqset(in.data, 5, 0, false, NULL);
    assert_string_equal(got, "ERROR Too many ranges in sequence set");
    free(got);
    ph_buf_free(&in);
}

static void test_seqset_queries(void **state)
{
    (void)state;
    struct ph_imap_seqset set;
    const char *error;
    assert_int_equal(
        ph_imap_seqset_parse("9,1:3,5:6,4294967295", 20, 0, 0, &set, &error),
        0);
    ph_imap_seqset_sort(&set);
    assert_false(ph_imap_seqset_contains(&set, 0));
    assert_true(ph_imap_seqset_contains(&set, 1));
    assert_true(ph_imap_seqset_contains(&set, 6));
    assert_false(ph_imap_seqset_contains(&set, 7));
    assert_true(ph_imap_seqset_contains(&set, 9));
    assert_false(ph_imap_seqset_contains(&set, 10));
    assert_true(ph_imap_seqset_contains(&set, 4294967295u));
    assert_int_equal(ph_imap_seqset_count(&set), 7);
    assert_int_equal(ph_imap_seqset_max(&set), 4294967295u);
    ph_imap_seqset_clear(&set);
    assert_int_equal(ph_imap_seqset_count(&set), 0);
    assert_int_equal(ph_imap_seqset_max(&set), 0);
    assert_false(ph_imap_seqset_contains(&set, 1));
    assert_int_equal(
        ph_imap_seqset_parse("1:4294967295", 12, 1, 0, &set, &error), 0);
    assert_true(ph_imap_seqset_count(&set) == 4294967295ull);
    ph_imap_seqset_add(&set, 7, 3);
    assert_int_equal(set.ranges[1].lo, 3);
    assert_int_equal(set.ranges[1].hi, 7);
    ph_imap_seqset_clear(&set);
}

/* ---- Dates -------------------------------------------------------------- */

static void expect_date_time(const char *s, long long want_t, int want_tz)
{
    time_t t;
    int tz;
    const char *error = NULL;
    if (ph_imap_date_time_parse(s, strlen(s), &t, &tz, &error) != 0)
        fail_msg("\"%s\": %s", s, error);
    assert_int_equal((long long)t, want_t);
    assert_int_equal(tz, want_tz);
}

static void expect_date_time_error(const char *s)
{
    time_t t;
    int tz;
    const char *error = NULL;
    if (ph_imap_date_time_parse(s, strlen(s), &t, &tz, &error) == 0)
        fail_msg("\"%s\" parsed", s);
    assert_string_equal(error, "Invalid date-time");
}

static void test_date_time_parse(void **state)
{
    (void)state;
    expect_date_time("17-Jul-1996 02:44:25 -0700", 837596665, -420);
    expect_date_time(" 7-Feb-1994 21:52:25 -0800", 760686745, -480);
    expect_date_time("07-Feb-1994 21:52:25 -0800", 760686745, -480);
    expect_date_time("7-feb-1994 21:52:25 -0800", 760686745, -480);
    expect_date_time("08-FEB-1994 05:52:25 +0000", 760686745, 0);
    expect_date_time("08-Feb-1994 11:22:25 +0530", 760686745, 330);
    expect_date_time("01-Jan-1970 00:00:00 +0000", 0, 0);
    expect_date_time("31-Dec-1969 23:59:59 +0000", -1, 0);
    expect_date_time("29-Feb-2000 00:00:00 +0000", 951782400, 0);
    expect_date_time("31-Dec-1998 23:59:60 +0000", 915148799, 0);
    expect_date_time("01-Jan-0001 00:00:00 +0000", -62135596800LL, 0);
    expect_date_time("31-Dec-9999 23:59:59 +2359", 253402300799LL - 86340,
                     1439);

    expect_date_time_error("");
    expect_date_time_error("32-Jan-2020 00:00:00 +0000");
    expect_date_time_error("00-Jan-2020 00:00:00 +0000");
    expect_date_time_error("29-Feb-2019 00:00:00 +0000");
    expect_date_time_error("29-Feb-1900 00:00:00 +0000");
    expect_date_time_error("31-Apr-2020 00:00:00 +0000");
    expect_date_time_error("01-Foo-2020 00:00:00 +0000");
    expect_date_time_error("01-Jan-20 00:00:00 +0000");
    expect_date_time_error("01-Jan-20200 00:00:00 +0000");
    expect_date_time_error("001-Jan-2020 00:00:00 +0000");
    expect_date_time_error("  1-Jan-2020 00:00:00 +0000");
    expect_date_time_error("01-Jan-2020 24:00:00 +0000");
    expect_date_time_error("01-Jan-2020 00:60:00 +0000");
    expect_date_time_error("01-Jan-2020 00:00:61 +0000");
    expect_date_time_error("01-Jan-2020 00:00:00 +0060");
    expect_date_time_error("01-Jan-2020 00:00:00 0000");
    expect_date_time_error("01-Jan-2020 00:00:00 +000");
    expect_date_time_error("01-Jan-2020 00:00:00 +00000");
    expect_date_time_error("01-Jan-2020 0:00:00 +0000");
    expect_date_time_error("01-Jan-2020  00:00:00 +0000");
    expect_date_time_error("01-Jan-2020 00:00:00");
    expect_date_time_error("01-Jan-2020 00:00:00 +0000 ");
    expect_date_time_error("01-Jan-2020");
    expect_date_time_error("01 Jan 2020 00:00:00 +0000");
}

static void expect_write(long long t, int tz, const char *want)
{
    struct ph_buf out = {0};
    ph_imap_date_time_write(&out, (time_t)t, tz);
    assert_string_equal(out.data, want);
    /* And back. */
    time_t back;
    int back_tz;
    const char *error;
    assert_int_equal(ph_imap_date_time_parse(out.data + 1, out.len - 2, &back,
                                             &back_tz, &error),
                     0);
    assert_int_equal((long long)back, t);
    assert_int_equal(back_tz, tz);
    ph_buf_free(&out);
}

static void test_date_time_write(void **state)
{
    (void)state;
    expect_write(837596665, -420, "\"17-Jul-1996 02:44:25 -0700\"");
    expect_write(760686745, -480, "\"07-Feb-1994 21:52:25 -0800\"");
    expect_write(760686745, 330, "\"08-Feb-1994 11:22:25 +0530\"");
    expect_write(0, 0, "\"01-Jan-1970 00:00:00 +0000\"");
    expect_write(-1, 0, "\"31-Dec-1969 23:59:59 +0000\"");
    expect_write(951868799, 0, "\"29-Feb-2000 23:59:59 +0000\"");
    expect_write(4102444800LL, 0, "\"01-Jan-2100 00:00:00 +0000\"");
    /* An impossible zone is written as +0000. */
    struct ph_buf out = {0};
    ph_imap_date_time_write(&out, 0, 100000);
    assert_string_equal(out.data, "\"01-Jan-1970 00:00:00 +0000\"");
    ph_buf_free(&out);
}

static void test_search_date(void **state)
{
    (void)state;
    int64_t day;
    const char *error = NULL;
    assert_int_equal(ph_imap_date_parse("1-Feb-1994", 10, &day, &error), 0);
    assert_int_equal(day, 8797);
    assert_int_equal(ph_imap_date_parse("01-feb-1994", 11, &day, &error), 0);
    assert_int_equal(day, 8797);
    assert_int_equal(ph_imap_date_parse("29-Feb-2020", 11, &day, &error), 0);
    assert_int_equal(day, 18321);
    assert_int_equal(ph_imap_date_parse("1-Jan-0001", 10, &day, &error), 0);
    assert_int_equal(day, -719162);
    static const char *const bad[] = {
        "",
        "1-Feb-94",
        "001-Feb-1994",
        " 1-Feb-1994",
        "1-Feb-1994x",
        "1-Feb-1994 ",
        "30-Feb-2020",
        "0-Feb-2020",
        "1-Fe-1994",
        "1/Feb/1994",
        "1-February-1994",
        "-Feb-1994",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        error = NULL;
        if (ph_imap_date_parse(bad[i], strlen(bad[i]), &day, &error) == 0)
            fail_msg("\"%s\" parsed", bad[i]);
        assert_string_equal(error, "Invalid date");
    }
    assert_int_equal(ph_imap_day_of(0, 0), 0);
    assert_int_equal(ph_imap_day_of(0, -1), -1);
    assert_int_equal(ph_imap_day_of(86399, 1), 1);
    assert_int_equal(ph_imap_day_of(-1, 0), -1);
    assert_int_equal(ph_imap_day_of(-86400, 0), -1);
    assert_int_equal(ph_imap_day_of(-86401, 0), -2);
}

/* ---- Writers ------------------------------------------------------------ */

static void expect_astring(const char *s, size_t len, const char *want,
                           size_t want_len)
{
    struct ph_buf out = {0};
    ph_imap_write_astring(&out, s, len);
    assert_int_equal(out.len, want_len);
    assert_memory_equal(out.data, want, want_len);
    ph_buf_free(&out);
}

#define ASTRING(s, want)                                                       \
    expect_astring(s, sizeof(s) - 1, want, sizeof(want) - 1)

static void test_writers(void **state)
{
    (void)state;
    ASTRING("INBOX", "INBOX");
    ASTRING("a]b.c", "a]b.c");
    ASTRING("", "\"\"");
    ASTRING("NIL", "\"NIL\"");
    ASTRING("nil", "\"nil\"");
    ASTRING("NILS", "NILS");
    ASTRING("a b", "\"a b\"");
    ASTRING("a*", "\"a*\"");
    ASTRING("a%", "\"a%\"");
    ASTRING("(a)", "\"(a)\"");
    ASTRING("{3}", "\"{3}\"");
    ASTRING("a\"b", "\"a\\\"b\"");
    ASTRING("a\\b", "\"a\\\\b\"");
    ASTRING("\\\"", "\"\\\\\\\"\"");
    ASTRING("a\tb", "\"a\tb\"");
    ASTRING("a\r\nb", "{4}\r\na\r\nb");
    ASTRING("a\rb", "{3}\r\na\rb");
    ASTRING("a\nb", "{3}\r\na\nb");
    ASTRING("\xc3\xa9", "{2}\r\n\xc3\xa9");
    ASTRING("a\0b", "{3}\r\na\0b");

    struct ph_buf out = {0};
    ph_imap_write_nstring(&out, NULL, 0);
    ph_buf_putc(&out, ' ');
    ph_imap_write_nstring(&out, "NIL", 3);
    ph_buf_putc(&out, ' ');
    ph_imap_write_string(&out, "INBOX", 5);
    ph_buf_putc(&out, ' ');
    ph_imap_write_string(&out, "", 0);
    ph_buf_putc(&out, ' ');
    ph_imap_write_literal(&out, "ab", 2);
    ph_buf_putc(&out, ' ');
    ph_imap_write_nil(&out);
    assert_string_equal(out.data, "NIL \"NIL\" \"INBOX\" \"\" {2}\r\nab NIL");
    ph_buf_free(&out);
    assert_true(ph_imap_string_quotable("a\"\\\t", 4));
    assert_false(ph_imap_string_quotable("a\r", 2));
    assert_false(ph_imap_string_quotable("\x80", 1));
    assert_false(ph_imap_string_quotable("a\0", 2));
}

/* RFC 3629 4: strict UTF-8; RFC 6855 3 and RFC 5198 2: what a new UTF-8
 * mailbox name may hold. */
static void test_utf8_mailbox_names(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool valid, name_ok;
    } v[] = {
        {"INBOX", true, true},
        {"\xc3\x84rger", true, true},       /* U+00C4, NFC */
        {"A\xcc\x88rger", true, false},     /* A + U+0308: NFD */
        {"\xf0\x9f\x93\xab", true, true},   /* U+1F4EB */
        {"a\x7f", true, false},             /* DEL */
        {"a\x1f", true, false},             /* C0 */
        {"a\xc2\x9f", true, false},         /* C1 */
        {"a\xe2\x80\xa8", true, false},     /* LINE SEPARATOR */
        {"a\xe2\x80\xa9", true, false},     /* PARAGRAPH SEPARATOR */
        {"\x80", false, false},             /* lone continuation */
        {"\xc3", false, false},             /* truncated */
        {"\xc0\xaf", false, false},         /* overlong "/" */
        {"\xed\xa0\x80", false, false},     /* surrogate */
        {"\xf4\x90\x80\x80", false, false}, /* above U+10FFFF */
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(v); i++) {
        const char *err = NULL;
        size_t len = strlen(v[i].s);
        if (ph_imap_utf8_valid(v[i].s, len) != v[i].valid)
            fail_msg("utf8_valid #%zu", i);
        int r = ph_imap_mailbox_name_check(v[i].s, len, &err);
        if ((r == 0) != v[i].name_ok)
            fail_msg("mailbox_name_check #%zu: %d", i, r);
        if (r < 0)
            assert_non_null(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutf7_vectors),
        cmocka_unit_test(test_mutf7_invalid),
        cmocka_unit_test(test_mutf7_all_bmp_round_trip),
        cmocka_unit_test(test_utf8_mailbox_names),
        cmocka_unit_test(test_seqset_parse),
        cmocka_unit_test(test_seqset_empty_mailbox),
        cmocka_unit_test(test_seqset_invalid),
        cmocka_unit_test(test_seqset_queries),
        cmocka_unit_test(test_date_time_parse),
        cmocka_unit_test(test_date_time_write),
        cmocka_unit_test(test_search_date),
        cmocka_unit_test(test_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
