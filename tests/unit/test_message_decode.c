/* SPDX-License-Identifier: MIT */
/* Decoding for SEARCH: RFC 2047 words, transfer encodings, charsets, the
 * case-insensitive matcher, RFC 5322 dates, CRLF normalization. */
#include <stdlib.h>
#include <string.h>

#include "test_message.h"

/* ---- RFC 2047 ---- */

static void expect_2047(const char *in, const char *want)
{
    struct ph_buf out = {0};
    ph_rfc2047_decode(in, strlen(in), &out);
    tm_assert_bytes(in, want, strlen(want), out.data, out.len);
    ph_buf_free(&out);
}

static void test_rfc2047_decodes_b_and_q_words(void **state)
{
    (void)state;
    /* RFC 2047 section 8 examples. */
    expect_2047("=?US-ASCII?Q?Keith_Moore?=", "Keith Moore");
    expect_2047("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=",
                "Keld J\xc3\xb8rn Simonsen");
    expect_2047("=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard");
    expect_2047("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?= "
                "=?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
                "If you can read this you understand the example.");
    expect_2047("(=?ISO-8859-1?Q?a?=)", "(a)");
    expect_2047("(=?ISO-8859-1?Q?a?= b)", "(a b)");
    expect_2047("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)");
    expect_2047("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)");
    expect_2047("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)");
    expect_2047("(=?ISO-8859-1?Q?a_b?=)", "(a b)");
    expect_2047("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)");
}

static void test_rfc2047_tolerates_real_world_forms(void **state)
{
    (void)state;
    /* Lower-case encoding letter and hex, charset case. */
    expect_2047("=?utf-8?q?caf=c3=a9?=", "caf\xc3\xa9");
    expect_2047("=?UTF-8?b?w7Y=?=", "\xc3\xb6");
    /* A UTF-8 character split across two words. */
    expect_2047("=?utf-8?B?0LjQstCw0LXRiNGM?= =?utf-8?B?Pw==?=",
                "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xb5\xd1\x88\xd1\x8c?");
    expect_2047("=?utf-8?Q?a=C3?= =?utf-8?Q?=A9b?=", "a\xc3\xa9"
                                                     "b");
    /* RFC 2231 language suffix. */
    expect_2047("=?iso-8859-1*de?Q?Gr=FC=DFe?=", "Gr\xc3\xbc\xc3\x9f"
                                                 "e");
    /* A stateful charset. */
    expect_2047("=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=",
                "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
    /* Unknown charset: the word stays as it is. */
    expect_2047("x =?x-unknown-cs?Q?abc?= y", "x =?x-unknown-cs?Q?abc?= y");
    /* Not encoded words: kept. */
    expect_2047("=?utf-8?X?abc?=", "=?utf-8?X?abc?=");
    expect_2047("=?utf-8?Q?a b?=", "=?utf-8?Q?a b?=");
    expect_2047("=?utf-8?Q?abc", "=?utf-8?Q?abc");
    expect_2047("plain text, no words", "plain text, no words");
    expect_2047("", "");
    /* Bad bytes in the charset become U+FFFD. */
    expect_2047("=?utf-8?Q?a=FFb?=", "a\xef\xbf\xbd"
                                     "b");
    /* Adjacent to text without space (RFC says no, mailers do). */
    expect_2047("Re:=?utf-8?Q?x?=", "Re:x");
    /* Folding inside the value is unfolded. */
    expect_2047("a\r\n b", "a b");
}

/* ---- Transfer decoding + charset, streamed ---- */

static void collect(void *ctx, const char *data, size_t len)
{
    struct ph_buf *b = ctx;
    ph_buf_append(b, data, len);
    /* Whole characters only: never ends inside a UTF-8 sequence when a
     * charset is set (checked by the caller on the joined text). */
}

static void decode_all(enum ph_message_encoding enc, const char *charset,
                       const char *in, size_t len, size_t step,
                       struct ph_buf *out)
{
    struct ph_message_decoder *d =
        ph_message_decoder_new(enc, charset, collect, out);
    for (size_t i = 0; i < len; i += step)
        ph_message_decoder_feed(d, in + i, len - i < step ? len - i : step);
    ph_message_decoder_finish(&d);
    assert_null(d);
    ph_buf_append(out, "", 0);
}

static void expect_decode(enum ph_message_encoding enc, const char *charset,
                          const char *in, const char *want)
{
    size_t steps[] = {1, 2, 3, 5, 7, 4096};
    for (size_t s = 0; s < PH_N_ELEMENTS(steps); s++) {
        struct ph_buf out = {0};
        decode_all(enc, charset, in, strlen(in), steps[s], &out);
        tm_assert_bytes(in, want, strlen(want), out.data, out.len);
        ph_buf_free(&out);
    }
}

static void test_qp_decoder_streams_rfc2045_rules(void **state)
{
    (void)state;
    enum ph_message_encoding qp = PH_MESSAGE_ENCODING_QUOTED_PRINTABLE;
    expect_decode(qp, NULL, "a=3Db", "a=b");
    expect_decode(qp, NULL, "soft=\r\nbreak", "softbreak");
    expect_decode(qp, NULL, "soft= \t\r\nbreak", "softbreak");
    expect_decode(qp, NULL, "soft=\nbreak", "softbreak");
    expect_decode(qp, NULL, "trailing   \r\nspace", "trailing\r\nspace");
    expect_decode(qp, NULL, "in  side", "in  side");
    expect_decode(qp, NULL, "lower=3d=c3=a9", "lower=\xc3\xa9");
    expect_decode(qp, NULL, "bad=ZZ=4", "bad=ZZ=4");
    expect_decode(qp, NULL, "end=", "end");
    expect_decode(qp, NULL, "a\rb", "a\rb");
    expect_decode(qp, "iso-8859-1", "J=F6rg", "J\xc3\xb6rg");
    expect_decode(qp, "utf-8", "=E2=82=AC", "\xe2\x82\xac");
}

static void test_base64_decoder_streams_and_skips_noise(void **state)
{
    (void)state;
    enum ph_message_encoding b64 = PH_MESSAGE_ENCODING_BASE64;
    expect_decode(b64, NULL, "aGVsbG8gd29ybGQ=", "hello world");
    expect_decode(b64, NULL, "aGVs\r\nbG8g\r\nd29y\r\nbGQ=\r\n", "hello world");
    expect_decode(b64, NULL, "aGV*sbG8!", "hello");
    expect_decode(b64, "utf-8", "w7bDtsO2", "\xc3\xb6\xc3\xb6\xc3\xb6");
    /* UTF-16 text, as in corpus 0233. */
    expect_decode(b64, "utf-16", "//5oAGkA", "hi");
    /* Windows-1252 euro sign. */
    expect_decode(b64, "windows-1252", "gA==", "\xe2\x82\xac");
    /* Unknown charset: checked as UTF-8. */
    expect_decode(b64, "x-nonsense", "w7b/", "\xc3\xb6\xef\xbf\xbd");
}

static void test_decoder_passes_7bit_and_fixes_bad_utf8(void **state)
{
    (void)state;
    expect_decode(PH_MESSAGE_ENCODING_7BIT, NULL, "raw \xff", "raw \xff");
    expect_decode(PH_MESSAGE_ENCODING_8BIT, "utf-8",
                  "ok \xc3\xa9 bad \xc3 \xe2\x82",
                  "ok \xc3\xa9 bad "
                  "\xef\xbf\xbd "
                  "\xef\xbf\xbd");
    expect_decode(PH_MESSAGE_ENCODING_8BIT, "us-ascii", "caf\xc3\xa9",
                  "caf\xc3\xa9");
    expect_decode(PH_MESSAGE_ENCODING_OTHER, "iso-8859-15", "\xa4",
                  "\xe2\x82"
                  "\xac");
    expect_decode(PH_MESSAGE_ENCODING_8BIT, "shift_jis", "\x93\xfa\x96\x7b",
                  "\xe6\x97\xa5\xe6\x9c\xac");
    /* A cut multibyte character at the very end. */
    expect_decode(PH_MESSAGE_ENCODING_8BIT, "shift_jis", "a\x93",
                  "a\xef\xbf\xbd");
}

/* A large body streams: the callback never gets more than a few KiB. */
struct chunk_stats {
    size_t total, max;
};

static void count_chunk(void *ctx, const char *data, size_t len)
{
    struct chunk_stats *st = ctx;
    (void)data;
    st->total += len;
    if (len > st->max)
        st->max = len;
}

static void test_decoder_bounded_chunks_for_large_body(void **state)
{
    (void)state;
    struct chunk_stats st = {0, 0};
    struct ph_message_decoder *d = ph_message_decoder_new(
        PH_MESSAGE_ENCODING_BASE64, "iso-8859-1", count_chunk, &st);
    char line[78];
    memset(line, 'Q', 76);
    line[76] = '\r';
    line[77] = '\n';
    size_t lines = 20 * 1024 * 1024 / 78;
    /* Fed a line at a time and a megabyte at a time. */
    for (size_t i = 0; i < lines; i++)
        ph_message_decoder_feed(d, line, sizeof(line));
    ph_message_decoder_finish(&d);
    /* 76 base64 chars = 57 bytes, each 0x41 'A' ... (Latin-1 ASCII) */
    assert_int_equal(st.total, lines * 57);
    assert_true(st.max <= 16384);
}

/* ---- Matching ---- */

static void test_matcher_folds_case_unicode(void **state)
{
    (void)state;
    static const struct {
        const char *text, *key;
        bool found;
    } v[] = {
        {"Hello World", "WORLD", true},
        {"Hello World", "worlds", false},
        {"Die Stra\xc3\x9f"
         "e",
         "STRASSE", true},
        {"\xce\xa3\xce\x91\xce\xa3", "\xcf\x83\xce\xb1\xcf\x82", true},
        {"CAF\xc3\x89", "caf\xc3\xa9", true},
        {"abc", "", true},
        {"", "a", false},
        {"latin1 caf\xe9", "CAF\xe9", true},
        {"x\xff", "\xff", true},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(v); i++) {
        bool r = ph_message_text_contains(v[i].text, strlen(v[i].text),
                                          v[i].key, strlen(v[i].key));
        if (r != v[i].found)
            fail_msg("\"%s\" in \"%s\": %d", v[i].key, v[i].text, r);
    }
}

static void test_matcher_finds_match_across_chunks(void **state)
{
    (void)state;
    const char *text = "abc Hello \xc3\x89t\xc3\xa9 world xyz";
    struct ph_message_matcher *m =
        ph_message_matcher_new("hello \xc3\xa9t\xc3\xa9 WORLD",
                               strlen("hello \xc3\xa9t\xc3\xa9 WORLD"));
    size_t len = strlen(text);
    /* Cut only between characters, as the decoder does. */
    static const size_t cuts[] = {3, 8, 10, 12, 13, 15, 20, 24};
    size_t prev = 0;
    bool found = false;
    for (size_t i = 0; i <= PH_N_ELEMENTS(cuts); i++) {
        size_t c = i < PH_N_ELEMENTS(cuts) ? cuts[i] : len;
        found = ph_message_matcher_feed(m, text + prev, c - prev);
        /* The match ends at byte 21. */
        assert_true(found == (c >= 21));
        prev = c;
    }
    assert_true(found);
    ph_message_matcher_reset(m);
    assert_false(ph_message_matcher_feed(m, "hello", 5));
    ph_message_matcher_free(&m);
    assert_null(m);
}

/* ---- Dates ---- */

/* ---- The text of SEARCH TEXT and BODY ---- */

static int mem_read(void *arg, uint64_t offset, uint64_t size,
                    ph_message_data_cb *cb, void *cb_arg)
{
    const char *m = arg;
    return cb(cb_arg, m + offset, (size_t)size);
}

static bool text_collect(void *arg, const char *data, size_t len)
{
    ph_buf_append(arg, data, len);
    return false;
}

static bool text_has(const struct ph_message_info *info, const char *m,
                     enum ph_message_text what, const char *key)
{
    struct ph_buf t = {0};
    assert_int_equal(ph_message_search_text(info, strlen(m), what, mem_read,
                                            (void *)m, text_collect, &t),
                     0);
    bool found =
        ph_message_text_contains(t.data ? t.data : "", t.len, key, strlen(key));
    ph_buf_free(&t);
    return found;
}

/* RFC 3501 6.4.4: TEXT is the header or body of the message, and the body
 * is everything after the top-level header: MIME part headers, the file
 * names they carry (decoded: RFC 2231 continuations and charsets, RFC 2047
 * words) and embedded messages' headers (decoded) are found by TEXT. BODY
 * is the text of the parts only (as Dovecot's), without any header. */
static void
test_search_text_covers_part_headers_names_and_embedded(void **state)
{
    (void)state;
    const char *m =
        "From: a@example.org\r\nSubject: outer\r\n"
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nhello\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nworld\r\n"
        "--b\r\nContent-Type: application/pdf\r\n"
        "Content-Disposition: attachment; filename=\"Rechnung.pdf\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment;\r\n"
        " filename*=UTF-8''Gr%C3%BC%C3%9Fe%20aus%20K%C3%B6ln.txt\r\n\r\nx\r\n"
        "--b\r\nContent-Type: application/vnd.ms-excel;\r\n"
        " name*0=\"Jahres\"; name*1=\"abschluss\"; name*2=\".xls\"\r\n\r\ny\r\n"
        "--b\r\nContent-Type: image/png;\r\n"
        " name=\"=?UTF-8?B?U2Now7ZuZXMgQmlsZC5wbmc=?=\"\r\n\r\nz\r\n"
        "--b\r\nContent-Type: message/rfc822\r\n\r\n"
        "From: =?ISO-8859-1?Q?J=F6rg?= <joerg@example.de>\r\n"
        "Subject: =?UTF-8?Q?Re:_Angebot_f=C3=BCr_Sie?=\r\n\r\n"
        "embedded body text\r\n--b--\r\n";
    struct ph_message_info *info = ph_message_parse(m, strlen(m));
    const enum ph_message_text all = PH_MESSAGE_TEXT_ALL,
                               body = PH_MESSAGE_TEXT_BODY;
    assert_true(text_has(info, m, all, "Content-Transfer-Encoding"));
    assert_false(text_has(info, m, body, "Content-Transfer-Encoding"));
    assert_true(text_has(info, m, all, "Rechnung"));
    assert_false(text_has(info, m, body, "Rechnung"));
    assert_true(text_has(info, m, all,
                         "gr\xc3\xbc\xc3\x9f"
                         "e aus k\xc3\xb6ln"));
    assert_true(text_has(info, m, all, "Jahresabschluss.xls"));
    assert_true(text_has(info, m, all, "Sch\xc3\xb6nes Bild"));
    assert_true(text_has(info, m, all, "J\xc3\xb6rg"));
    assert_true(text_has(info, m, all, "joerg@example.de"));
    assert_true(text_has(info, m, all, "Angebot f\xc3\xbcr Sie"));
    assert_false(text_has(info, m, body, "Angebot"));
    assert_true(text_has(info, m, body, "embedded body text"));
    assert_true(text_has(info, m, all, "subject: outer"));
    assert_false(text_has(info, m, body, "outer"));
    /* Two parts are two texts: no match joins them. */
    assert_true(text_has(info, m, body, "hello"));
    assert_false(text_has(info, m, body, "helloworld"));
    assert_false(text_has(info, m, all, "helloworld"));
    /* HEADERS then BODY is exactly ALL. */
    struct ph_buf a = {0}, hb = {0};
    assert_int_equal(ph_message_search_text(info, strlen(m), all, mem_read,
                                            (void *)m, text_collect, &a),
                     0);
    assert_int_equal(ph_message_search_text(info, strlen(m),
                                            PH_MESSAGE_TEXT_HEADERS, mem_read,
                                            (void *)m, text_collect, &hb),
                     0);
    assert_int_equal(ph_message_search_text(info, strlen(m), body, mem_read,
                                            (void *)m, text_collect, &hb),
                     0);
    assert_int_equal(a.len, hb.len);
    assert_memory_equal(a.data, hb.data, a.len);
    ph_buf_free(&a);
    ph_buf_free(&hb);
    ph_message_info_free(&info);
}

static void test_date_parser_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int ok;
        long long t;
        int tz;
    } v[] = {
        {"Tue, 10 Jul 2012 08:14:18 +0200", 0, 1341900858, 120},
        {"10 Jul 2012 08:14:18 +0200", 0, 1341900858, 120},
        {"Tue, 10 Jul 2012 08:14 +0200", 0, 1341900840, 120},
        {"Sun, 9 Sep 2004 03:15:52 -0500", 0, 1094717752, -300},
        {"Thu, 13 Feb 1969 23:32:54 -0330", 0, -27723426, -210},
        {"Fri, 21 Nov 1997 09:55:06 -0600", 0, 880127706, -360},
        {"Wed, 11 Feb 98 11:51 CST", 0, 887219460, -360},
        {"Tue, 6 Jun 2000 03:20:11 UT", 0, 960261611, 0},
        {"Mon, 6 Feb 1993 02:53:47 -0800 (PST)", 0, 728996027, -480},
        {"Thu, 16 Jun 2016 00:41:19 (UTC)", 0, 1466037679, 0},
        {"21 Nov 97 09:55:06 GMT", 0, 880106106, 0},
        {"1 Jan 49 00:00:00 +0000", 0, 2493072000, 0},
        {"1 Jan 050 00:00:00 +0000", 0, -631152000, 0},
        {"Fri, 7 Jun 91 09:09:05 EDT", 0, 676300145, -240},
        {"Tue, 12 Oct 2010 16:21:05 H0500", 0, 1286900465, 0},
        {"Sat, 29 Feb 2020 12:00:00 +0000", 0, 1582977600, 0},
        {"Tue, 3 Jan 2023 09:00:00 -5000", 0, 1672736400, 0},
        {"Tue, 3 Jan 2023 09:00:00 +2359", 0, 1672650060, 1439},
        {" Tue , 10 Jul 2012 08:14:18", 0, 1341908058, 0},
        {"Sat, 29 Feb 2021 12:00:00 +0000", -1, 0, 0},
        {"Whenever", -1, 0, 0},
        {"", -1, 0, 0},
        {"32 Jan 2012 00:00:00 +0000", -1, 0, 0},
        {"1 Foo 2012 00:00:00 +0000", -1, 0, 0},
        {"1 Jan 2012 24:00:00 +0000", -1, 0, 0},
        {"1 Jan 2012", -1, 0, 0},
        {"1 Jan 20123 00:00:00 +0000", -1, 0, 0},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(v); i++) {
        time_t t = 0;
        int tz = 0;
        int r = ph_rfc5322_date_parse(v[i].in, strlen(v[i].in), &t, &tz);
        if (r != v[i].ok)
            fail_msg("[%s]: %d", v[i].in, r);
        if (r == 0 && ((long long)t != v[i].t || tz != v[i].tz))
            fail_msg("[%s]: %lld %d, want %lld %d", v[i].in, (long long)t, tz,
                     v[i].t, v[i].tz);
    }
}

/* ---- Normalization ---- */

static void test_normalizer_rules(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t in_len;
        const char *out;
        size_t out_len;
        unsigned nul, bare_cr;
    } v[] = {
        {"a\nb\n", 4, "a\r\nb\r\n", 6, 0, 0},
        {"a\r\nb", 4, "a\r\nb", 4, 0, 0},
        {"a\r\r\nb", 5, "a\r\nb", 4, 0, 0},
        {"a\r\r\r\nb", 6, "a\r\r\nb", 5, 0, 1},
        {"a\rb\r", 4, "a\rb\r", 4, 0, 2},
        {"a\0b", 3,
         "a\x80"
         "b",
         3, 1, 0},
        {"\n\n", 2, "\r\n\r\n", 4, 0, 0},
        {"\r", 1, "\r", 1, 0, 1},
        {"\r\r", 2, "\r\r", 2, 0, 2},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(v); i++) {
        for (size_t step = 1; step <= v[i].in_len; step++) {
            struct ph_crlf_normalizer n;
            ph_crlf_normalizer_init(&n);
            char out[64];
            size_t o = 0;
            for (size_t k = 0; k < v[i].in_len; k += step) {
                size_t len = v[i].in_len - k < step ? v[i].in_len - k : step;
                o += ph_crlf_normalize(&n, v[i].in + k, len, out + o);
            }
            o += ph_crlf_normalize_finish(&n, out + o);
            tm_assert_bytes("normalized", v[i].out, v[i].out_len, out, o);
            assert_int_equal(n.nul_count, v[i].nul);
            assert_int_equal(n.bare_cr_count, v[i].bare_cr);
            assert_int_equal(n.in_size, v[i].in_len);
            assert_int_equal(n.out_size, v[i].out_len);
        }
    }
    size_t len;
    char *s = ph_crlf_normalize_buf("x\ny", 3, &len);
    assert_int_equal(len, 4);
    assert_string_equal(s, "x\r\ny");
    free(s);
}

/* ---- BINARY (RFC 3516) ---- */

static void expect_crlf(const char *in, const char *want)
{
    size_t len = strlen(in);
    for (size_t step = 1; step <= len + 1; step++) {
        struct ph_text_crlf st = {0};
        struct ph_buf out = {0};
        for (size_t i = 0; i < len; i += step)
            ph_text_crlf_feed(&st, in + i, len - i < step ? len - i : step,
                              &out);
        ph_buf_append(&out, "", 0);
        tm_assert_bytes(in, want, strlen(want), out.data, out.len);
        ph_buf_free(&out);
    }
}

static void test_text_crlf_makes_bare_lf_crlf(void **state)
{
    (void)state;
    /* RFC 3516 6: textual sections go out with CRLF line ends. */
    expect_crlf("one\ntwo\r\nthree\n", "one\r\ntwo\r\nthree\r\n");
    expect_crlf("\n\n", "\r\n\r\n");
    /* A bare CR is no line end to fix; CR CR LF keeps its first CR. */
    expect_crlf("a\rb\r\r\nc", "a\rb\r\r\nc");
    expect_crlf("", "");
}

static void expect_set_encoding(const char *hdr, const char *want)
{
    struct ph_buf out = {0};
    ph_message_header_set_encoding(hdr, strlen(hdr), "binary", &out);
    ph_buf_append(&out, "", 0);
    tm_assert_bytes(hdr, want, strlen(want), out.data, out.len);
    ph_buf_free(&out);
}

static void test_header_set_encoding_replaces_the_field(void **state)
{
    (void)state;
    expect_set_encoding("Content-Type: text/plain\r\n"
                        "content-transfer-encoding:\r\n base64\r\n"
                        "X-A: 1\r\n\r\n",
                        "Content-Type: text/plain\r\nX-A: 1\r\n"
                        "Content-Transfer-Encoding: binary\r\n\r\n");
    /* None yet, no blank line, bare LF: one is added, the blank made. */
    expect_set_encoding(
        "Subject: x\n",
        "Subject: x\nContent-Transfer-Encoding: binary\r\n\r\n");
    expect_set_encoding("", "Content-Transfer-Encoding: binary\r\n\r\n");
}

static void test_section_part_names_the_node(void **state)
{
    (void)state;
    static const char msg[] =
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\none\r\n"
        "--b\r\nContent-Type: message/rfc822\r\n\r\n"
        "Subject: in\r\nContent-Transfer-Encoding: base64\r\n\r\naW4=\r\n"
        "--b--\r\n";
    struct ph_message_info *info = ph_message_parse(msg, sizeof(msg) - 1);
    uint32_t p1[] = {1}, p2[] = {2}, p21[] = {2, 1}, p3[] = {3}, p11[] = {1, 1};
    assert_int_equal(ph_message_section_part(info, NULL, 0), 0);
    uint32_t one = ph_message_section_part(info, p1, 1);
    assert_string_equal(info->parts[one].subtype, "plain");
    uint32_t two = ph_message_section_part(info, p2, 1);
    assert_true(info->parts[two].flags & PH_MESSAGE_PART_RFC822);
    /* 2.1: the embedded message's own part 1, its base64 body. */
    uint32_t inner = ph_message_section_part(info, p21, 2);
    assert_int_equal(inner, info->parts[two].first_child);
    assert_int_equal(info->parts[inner].encoding, PH_MESSAGE_ENCODING_BASE64);
    assert_int_equal(ph_message_section_part(info, p3, 1),
                     PH_MESSAGE_PART_NONE);
    assert_int_equal(ph_message_section_part(info, p11, 2),
                     PH_MESSAGE_PART_NONE);
    ph_message_info_free(&info);
}

static int bin_read(void *arg, uint64_t off, uint64_t size,
                    ph_message_data_cb *cb, void *cb_arg)
{
    const char *m = arg;
    return size > 0 ? cb(cb_arg, m + off, (size_t)size) : 0;
}

static int out_buf(void *arg, const void *data, size_t len)
{
    ph_buf_append(arg, data, len);
    return 0;
}

static int binary_encode(const char *msg, size_t len, struct ph_buf *out)
{
    struct ph_message_info *info = ph_message_parse(msg, len);
    int r = ph_message_binary_encode(info, len, bin_read, (void *)msg, out_buf,
                                     out);
    ph_message_info_free(&info);
    ph_buf_append(out, "", 0);
    return r;
}

static void test_binary_encode_keeps_what_storage_would_lose(void **state)
{
    (void)state;
    /* RFC 3516 4.4: a CTE change, "MUST NOT result in a loss of data". */
    static const char msg[] =
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nok\r\n"
        "--b\r\nContent-Type: application/x\r\n"
        "Content-Transfer-Encoding: binary\r\n\r\nA\0B\nC\r\n--b--\r\n";
    static const char want[] =
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nok\r\n"
        "--b\r\nContent-Type: application/x\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nQQBCCkM=\r\n--b--\r\n";
    struct ph_buf out = {0};
    assert_int_equal(binary_encode(msg, sizeof(msg) - 1, &out),
                     PH_MESSAGE_BINARY_ENCODED);
    tm_assert_bytes("binary part", want, sizeof(want) - 1, out.data, out.len);
    ph_buf_free(&out);
    /* A "binary" part's bare LF is data too; a text part's is a line end
     * that storage makes CRLF, no loss. */
    static const char lf[] = "Content-Transfer-Encoding: binary\r\n\r\na\nb";
    assert_int_equal(binary_encode(lf, sizeof(lf) - 1, &out),
                     PH_MESSAGE_BINARY_ENCODED);
    tm_assert_bytes("bare LF",
                    "Content-Transfer-Encoding: base64\r\n\r\nYQpi\r\n", 43,
                    out.data, out.len);
    ph_buf_free(&out);
    static const char text[] = "Subject: x\n\nline\nline\xff\n";
    assert_int_equal(binary_encode(text, sizeof(text) - 1, &out),
                     PH_MESSAGE_BINARY_AS_IS);
    assert_int_equal(out.len, 0);
    ph_buf_free(&out);
    /* A NUL in a header: no encoding carries it. */
    static const char hdr[] = "Subject: \0\r\n\r\nbody\0\r\n";
    assert_int_equal(binary_encode(hdr, sizeof(hdr) - 1, &out),
                     PH_MESSAGE_BINARY_UNENCODABLE);
    assert_int_equal(out.len, 0);
    ph_buf_free(&out);
    /* 57 octets a line: 76 characters (RFC 2045 6.8). */
    char big[200] = "Content-Transfer-Encoding: 8bit\r\n\r\n";
    size_t h = strlen(big);
    memset(big + h, 0, 114);
    assert_int_equal(binary_encode(big, h + 114, &out),
                     PH_MESSAGE_BINARY_ENCODED);
    const char *body = strstr(out.data, "\r\n\r\n") + 4;
    assert_int_equal(strspn(body, "A"), 76);
    assert_memory_equal(body + 76, "\r\n", 2);
    assert_int_equal(strspn(body + 78, "A"), 76);
    assert_string_equal(body + 154, "\r\n");
    ph_buf_free(&out);
}

int tm_run_decode_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc2047_decodes_b_and_q_words),
        cmocka_unit_test(test_rfc2047_tolerates_real_world_forms),
        cmocka_unit_test(test_qp_decoder_streams_rfc2045_rules),
        cmocka_unit_test(test_base64_decoder_streams_and_skips_noise),
        cmocka_unit_test(test_decoder_passes_7bit_and_fixes_bad_utf8),
        cmocka_unit_test(test_decoder_bounded_chunks_for_large_body),
        cmocka_unit_test(test_matcher_folds_case_unicode),
        cmocka_unit_test(test_matcher_finds_match_across_chunks),
        cmocka_unit_test(
            test_search_text_covers_part_headers_names_and_embedded),
        cmocka_unit_test(test_date_parser_vectors),
        cmocka_unit_test(test_normalizer_rules),
        cmocka_unit_test(test_text_crlf_makes_bare_lf_crlf),
        cmocka_unit_test(test_header_set_encoding_replaces_the_field),
        cmocka_unit_test(test_section_part_names_the_node),
        cmocka_unit_test(test_binary_encode_keeps_what_storage_would_lose),
    };
    return cmocka_run_group_tests_name("message_decode", tests, NULL, NULL);
}
