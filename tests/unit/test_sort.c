/* SPDX-License-Identifier: MIT */
/* Unit tests of what SORT compares (posthorn/sort.h): the base subject of
 * RFC 5256 section 2.1, collations, Message IDs, the per-message keys and
 * the SORT order (RFC 5256 section 3, RFC 5957). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <posthorn/message.h>
#include <posthorn/sort.h>

/* ---- Base subject ------------------------------------------------------- */

static void expect_base(const char *subject, const char *base, bool reply)
{
    struct ph_buf out = {0};
    bool r = ph_sort_base_subject(subject, strlen(subject), &out);
    if (strcmp(out.data ? out.data : "", base) != 0 || r != reply)
        fail_msg("base subject of \"%s\": \"%s\" reply=%d, want \"%s\" "
                 "reply=%d",
                 subject, out.data ? out.data : "", r, base, reply);
    ph_buf_free(&out);
}

/* subj-trailer = "(fwd)" / WSP, removed repeatedly from the end (2). */
static void test_base_subject_trailers(void **state)
{
    (void)state;
    expect_base("foo (fwd)", "foo", true);
    expect_base("foo(fwd)", "foo", true);
    expect_base("foo (FWD) (Fwd)  ", "foo", true);
    expect_base("foo   ", "foo", false);
    expect_base("foo (fw)", "foo (fw)", false);
    expect_base("(fwd)", "", true);
    /* A real one (mime-corpus 0070). */
    expect_base("I-D ACTION:draft-ietf-http-authentication-00.txt (fwd)",
                "I-D ACTION:draft-ietf-http-authentication-00.txt", true);
}

/* subj-leader = (*subj-blob subj-refwd) / WSP, subj-refwd = ("re" / ("fw"
 * ["d"])) *WSP [subj-blob] ":" (3). */
static void test_base_subject_leaders(void **state)
{
    (void)state;
    expect_base("Re: foo", "foo", true);
    expect_base("RE:foo", "foo", true);
    expect_base("re :foo", "foo", true);
    expect_base("Fw: foo", "foo", true);
    expect_base("FWD: foo", "foo", true);
    expect_base("Re[2]: foo", "foo", true);
    expect_base("Re [2] : foo", "foo", true);
    expect_base("fwd [x]: foo", "foo", true);
    expect_base("Re: Re: RE: foo", "foo", true);
    expect_base("Re: Fwd: hello world", "hello world", true);
    expect_base("[list] Re: foo", "foo", true);
    expect_base("[a][b] Re: foo", "foo", true);
    expect_base("[Bug 381598] Re: ubiquity crashes", "ubiquity crashes", true);
    expect_base("   foo", "foo", false);
    /* Not leaders: no colon, another word, two blobs inside the refwd. */
    expect_base("re foo", "re foo", false);
    expect_base("Ref: foo", "Ref: foo", false);
    expect_base("Fwd foo", "Fwd foo", false);
    expect_base("Re[a][b]: foo", "Re[a][b]: foo", false);
    expect_base("Aw: foo", "Aw: foo", false); /* RFC 5256 7: no translations */
    expect_base("Re: (fwd)", "", true);
    expect_base("Fwd:", "", true);
    /* The subject after the leader is kept as it is (RFC 5256 2.1 removes
     * artifacts only at the start and the end). */
    expect_base("Re: running server as root (Was: Re: PUT method)",
                "running server as root (Was: Re: PUT method)", true);
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP, removed when a non-empty subj-base
 * follows (4); BLOBCHAR is any CHAR8 but "[" and "]". */
static void test_base_subject_blobs(void **state)
{
    (void)state;
    expect_base("[list] foo", "foo", false);
    expect_base("[list]foo", "foo", false);
    expect_base("[list]", "[list]", false);
    expect_base("[a] [b]", "[b]", false);
    expect_base("[a][b][c]", "[c]", false);
    expect_base("[skynet-help][60666] How are files handled?",
                "How are files handled?", false);
    expect_base("Re: [PHP-DEV] [RFC] Remove PHP 4 Constructors",
                "Remove PHP 4 Constructors", true);
    expect_base("[a", "[a", false);
    expect_base("[a[b] c", "[a[b] c", false);
    expect_base("[] foo", "foo", false);
    expect_base("[list] ", "[list]", false);
}

/* subj-fwd = "[fwd:" subject "]" (6), and the loop back to (2). */
static void test_base_subject_fwd(void **state)
{
    (void)state;
    expect_base("[fwd: foo]", "foo", true);
    expect_base("[Fwd: Re: 34Mbit/s Netz]", "34Mbit/s Netz", true);
    expect_base("[FWD: [fwd: foo]]", "foo", true);
    expect_base("Re: [fwd: foo (fwd)] (fwd)", "foo", true);
    expect_base("[list] [fwd: foo]", "foo", true);
    expect_base("[fwd:]", "", true);
    expect_base("[fwd: foo", "[fwd: foo", false);
    expect_base("[fwd foo]", "[fwd foo]", false);
}

/* (1): encoded words become UTF-8 first, then tabs and continuations
 * become spaces and runs of spaces one. */
static void test_base_subject_decoding_and_whitespace(void **state)
{
    (void)state;
    expect_base("Re:\tfoo \t  bar", "foo bar", true);
    expect_base("foo\r\n bar", "foo bar", false);
    expect_base("=?utf-8?q?Re=3A_caf=C3=A9?=", "caf\xc3\xa9", true);
    expect_base("=?iso-8859-1?q?Re:?= =?iso-8859-1?q?_Fr=F6sche?=",
                "Fr\xc3\xb6sche", true);
    expect_base("=?utf-8?q?Re=3A=09=09x?=", "x", true);
    expect_base("", "", false);
}

/* A literal transcription of RFC 5256 2.1 steps (2)-(6), step by step and
 * quadratic, to hold the library's one-pass version against. */
static bool naive_blob(const char *s, size_t n, size_t at, size_t *end_r)
{
    if (at >= n || s[at] != '[')
        return false;
    size_t p = at + 1;
    while (p < n && s[p] != '[' && s[p] != ']')
        p++;
    if (p >= n || s[p] != ']')
        return false;
    for (p++; p < n && s[p] == ' '; p++)
        ;
    *end_r = p;
    return true;
}

static bool naive_ci(const char *s, size_t n, size_t at, const char *lit)
{
    size_t l = strlen(lit);
    if (n - at < l)
        return false;
    for (size_t i = 0; i < l; i++) {
        char c = s[at + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != lit[i])
            return false;
    }
    return true;
}

static bool naive_refwd(const char *s, size_t n, size_t at, size_t *end_r)
{
    static const char *const words[] = {"re", "fwd", "fw"};
    for (size_t w = 0; w < 3; w++) {
        if (!naive_ci(s, n, at, words[w]))
            continue;
        size_t p = at + strlen(words[w]);
        while (p < n && s[p] == ' ')
            p++;
        size_t b;
        if (naive_blob(s, n, p, &b))
            p = b;
        if (p < n && s[p] == ':') {
            *end_r = p + 1;
            return true;
        }
    }
    return false;
}

static bool naive_base(const char *in, char *out)
{
    char s[256];
    size_t n = 0;
    bool reply = false;
    for (size_t i = 0; in[i] != '\0'; i++) {
        char c = in[i] == '\t' ? ' ' : in[i];
        if (c == ' ' && n > 0 && s[n - 1] == ' ')
            continue;
        s[n++] = c;
    }
    size_t start = 0;
    for (;;) {
        for (;;) { /* (2) */
            if (n > start && s[n - 1] == ' ') {
                n--;
            } else if (n - start >= 5 && naive_ci(s, n, n - 5, "(fwd)")) {
                n -= 5;
                reply = true;
            } else {
                break;
            }
        }
        for (bool again = true; again;) { /* (5) */
            again = false;
            size_t p = start, e; /* (3) */
            if (p < n && s[p] == ' ') {
                start++;
                again = true;
            } else {
                while (naive_blob(s, n, p, &e))
                    p = e;
                if (naive_refwd(s, n, p, &e)) {
                    start = e;
                    reply = again = true;
                }
            }
            if (naive_blob(s, n, start, &e) && e < n) { /* (4) */
                start = e;
                again = true;
            }
        }
        if (n - start >= 6 && naive_ci(s, n, start, "[fwd:") && /* (6) */
            s[n - 1] == ']') {
            start += 5;
            n--;
            reply = true;
            continue;
        }
        break;
    }
    memcpy(out, s + start, n - start);
    out[n - start] = '\0';
    return reply;
}

/* Every string of up to four tokens of the ABNF's alphabet: the library
 * gives what the literal procedure gives, and its result is a fixed
 * point (extracting again changes nothing and finds no reply). */
static void test_base_subject_matches_literal_procedure(void **state)
{
    (void)state;
    static const char *const tok[] = {
        "re", "Fw",    "fwd",   ":", " ",  "[x]", "[",
        "]",  "(fwd)", "[fwd:", "a", "\t", "[]"};
    const size_t nt = PH_N_ELEMENTS(tok);
    size_t total = 1;
    for (int i = 0; i < 4; i++)
        total *= nt + 1;
    unsigned checked = 0;
    for (size_t code = 0; code < total; code++) {
        char in[64] = "";
        size_t c = code;
        for (int i = 0; i < 4; i++, c /= nt + 1)
            if (c % (nt + 1) != 0)
                strcat(in, tok[c % (nt + 1) - 1]);
        char want[64];
        bool want_reply = naive_base(in, want);
        struct ph_buf got = {0}, again = {0};
        bool reply = ph_sort_base_subject_decoded(in, strlen(in), &got);
        if (strcmp(got.data ? got.data : "", want) != 0 || reply != want_reply)
            fail_msg("\"%s\": \"%s\" reply=%d, the RFC's steps give \"%s\" "
                     "reply=%d",
                     in, got.data ? got.data : "", reply, want, want_reply);
        bool reply2 = ph_sort_base_subject_decoded(got.data, got.len, &again);
        if (again.len != got.len ||
            (got.len > 0 && memcmp(again.data, got.data, got.len) != 0) ||
            reply2)
            fail_msg("\"%s\" is not a fixed point", got.data);
        ph_buf_free(&got);
        ph_buf_free(&again);
        checked++;
    }
    assert_int_equal(checked, total);
}

/* A run of many blobs is linear, not one rescan per blob. */
static void test_base_subject_many_blobs_is_linear(void **state)
{
    (void)state;
    struct ph_buf in = {0}, out = {0};
    for (int i = 0; i < 200000; i++)
        ph_buf_puts(&in, "[]");
    ph_buf_puts(&in, "x");
    clock_t t0 = clock();
    assert_false(ph_sort_base_subject_decoded(in.data, in.len, &out));
    assert_string_equal(out.data, "x");
    /* Seconds if it rescanned: 200,000 x 400,000 bytes. */
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
    ph_buf_free(&in);
    ph_buf_free(&out);
}

/* ---- Collations ---------------------------------------------------------- */

static char *key(enum ph_collation coll, const char *s)
{
    struct ph_buf b = {0};
    ph_collation_key(coll, s, strlen(s), &b);
    return ph_buf_steal(&b);
}

static void test_collation_names(void **state)
{
    (void)state;
    enum ph_collation c;
    assert_true(ph_collation_lookup("i;unicode-casemap", 17, &c));
    assert_int_equal(c, PH_COLLATION_UNICODE_CASEMAP);
    assert_true(ph_collation_lookup("I;ASCII-CASEMAP", 15, &c));
    assert_int_equal(c, PH_COLLATION_ASCII_CASEMAP);
    assert_true(ph_collation_lookup("i;octet", 7, &c));
    assert_int_equal(c, PH_COLLATION_OCTET);
    assert_false(ph_collation_lookup("i;basic", 7, &c));
    assert_string_equal(ph_collation_name(PH_COLLATION_DEFAULT),
                        "i;unicode-casemap");
}

/* RFC 4790 9.2: i;ascii-casemap maps a-z to A-Z, then i;octet; so "_"
 * (0x5F) sorts after every letter and "ab" before "a_". */
static void test_collation_ascii_casemap(void **state)
{
    (void)state;
    char *k = key(PH_COLLATION_ASCII_CASEMAP, "Hello_w\xc3\xa9");
    assert_string_equal(k, "HELLO_W\xc3\xa9");
    free(k);
    assert_true(
        ph_collation_compare(PH_COLLATION_ASCII_CASEMAP, "ab", 2, "a_", 2) < 0);
    assert_int_equal(
        ph_collation_compare(PH_COLLATION_ASCII_CASEMAP, "aBc", 3, "AbC", 3),
        0);
    assert_true(ph_collation_compare(PH_COLLATION_OCTET, "aBc", 3, "AbC", 3) >
                0);
    /* The empty string sorts first (RFC 5256 section 3). */
    assert_true(
        ph_collation_compare(PH_COLLATION_ASCII_CASEMAP, "", 0, "a", 1) < 0);
}

/* RFC 5051: titlecase, then canonical decomposition; case and accents of
 * non-ASCII letters fold, invalid UTF-8 is binary. */
static void test_collation_unicode_casemap(void **state)
{
    (void)state;
    struct {
        const char *a, *b;
        int sign;
    } cases[] = {
        {"caf\xc3\xa9", "CAFE\xcc\x81", 0},            /* é = E + U+0301 */
        {"\xc3\xa9t\xc3\xa9", "\xc3\x89T\xc3\x89", 0}, /* été, ÉTÉ */
        {"\xce\xb1\xce\xb2", "\xce\x91\xce\x92", 0},   /* αβ, ΑΒ */
        {"\xc7\x86", "\xc7\x84", 0}, /* ǆ, Ǆ: both titlecase to ǅ */
        {"a", "B", -1},
        {"ab", "a_", -1},
        {"", "\xc3\xa9", -1},
        {"z", "\xc3\xa9", 1}, /* "Z" after "E" U+0301 */
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(cases); i++) {
        int r = ph_collation_compare(PH_COLLATION_UNICODE_CASEMAP, cases[i].a,
                                     strlen(cases[i].a), cases[i].b,
                                     strlen(cases[i].b));
        int sign = r < 0 ? -1 : r > 0;
        if (sign != cases[i].sign)
            fail_msg("compare(\"%s\", \"%s\") = %d, want %d", cases[i].a,
                     cases[i].b, sign, cases[i].sign);
    }
    char *k = key(PH_COLLATION_UNICODE_CASEMAP, "caf\xc3\xa9");
    assert_string_equal(k, "CAFE\xcc\x81");
    free(k);
    /* Not UTF-8: the bytes as they are (RFC 5051 "treated as binary"). */
    k = key(PH_COLLATION_UNICODE_CASEMAP, "caf\xe9");
    assert_string_equal(k, "caf\xe9");
    free(k);
    /* Hangul syllables stay whole (UnicodeData.txt has no decomposition). */
    k = key(PH_COLLATION_UNICODE_CASEMAP, "\xea\xb0\x80");
    assert_string_equal(k, "\xea\xb0\x80");
    free(k);
}

/* The key of a key is the key, so stored keys can be compared with keys
 * made later, and NUL never gets into one. */
static void test_collation_key_idempotent(void **state)
{
    (void)state;
    const char *samples[] = {"Hello",
                             "caf\xc3\xa9",
                             "\xc7\x85x",
                             "\xe1\xba\x9b",
                             "a\0b",
                             "\xff\xfe",
                             "\xef\xbd\x92\xef\xbd\x85",
                             /* not UTF-8 until its NULs go (fuzz_thread) */
                             "\xdb\0\x99\x61\x66"};
    for (int c = 0; c < 3; c++) {
        for (size_t i = 0; i < PH_N_ELEMENTS(samples); i++) {
            size_t len = i == 4 ? 3 : i == 7 ? 5 : strlen(samples[i]);
            struct ph_buf k1 = {0}, k2 = {0};
            ph_collation_key((enum ph_collation)c, samples[i], len, &k1);
            assert_null(memchr(k1.data ? k1.data : "", '\0', k1.len));
            ph_collation_key((enum ph_collation)c, k1.data ? k1.data : "",
                             k1.len, &k2);
            assert_int_equal(k1.len, k2.len);
            assert_memory_equal(k1.data ? k1.data : "", k2.data ? k2.data : "",
                                k1.len);
            ph_buf_free(&k1);
            ph_buf_free(&k2);
        }
    }
}

/* ---- Message IDs --------------------------------------------------------- */

static char *ids(const char *value)
{
    struct ph_buf out = {0};
    size_t pos = 0;
    bool first = true;
    for (;;) {
        size_t mark = out.len;
        if (!first)
            ph_buf_putc(&out, '|');
        if (!ph_msgid_next(value, strlen(value), &pos, &out)) {
            out.len = mark;
            if (out.data != NULL)
                out.data[mark] = '\0';
            break;
        }
        first = false;
    }
    return ph_buf_steal(&out);
}

static void expect_ids(const char *value, const char *want)
{
    char *got = ids(value);
    if (strcmp(got, want) != 0)
        fail_msg("IDs of \"%s\": \"%s\", want \"%s\"", value, got, want);
    free(got);
}

/* RFC 5256 section 3: quoting differences normalize away; RFC 5322 4.5.4
 * allows CFWS around the parts. */
static void test_msgid_normalization(void **state)
{
    (void)state;
    expect_ids("<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>",
               "<01KF8JCEOCBS0045PS@xxx.yyy.com>");
    expect_ids("<01KF8JCEOCBS0045PS@xxx.yyy.com>",
               "<01KF8JCEOCBS0045PS@xxx.yyy.com>");
    expect_ids("< a . b (c) @ example . org >", "<a.b@example.org>");
    expect_ids("<\"a\".\"b\"@x>", "<a.b@x>");
    expect_ids("<\"a b\"@x>", "<\"a b\"@x>");
    expect_ids("<\"a\\\"b\"@x>", "<\"a\\\"b\"@x>");
    expect_ids("<1234.5678@[192.168.1.1]>", "<1234.5678@[192.168.1.1]>");
    expect_ids("<a@b>\r\n <c@d>\t(comment) <e@f>", "<a@b>|<c@d>|<e@f>");
    /* Case is kept: RFC 5256 compares Message IDs case-sensitively. */
    expect_ids("<AbC@Example.ORG>", "<AbC@Example.ORG>");
    /* The normalized form reads back as itself. */
    expect_ids("<\"a b\"@x> <a.b@x>", "<\"a b\"@x>|<a.b@x>");
}

/* Invalid IDs are skipped: "the first valid Message ID" (RFC 5256 3). */
static void test_msgid_invalid_skipped(void **state)
{
    (void)state;
    expect_ids("<no-at-sign> <ok@x>", "<ok@x>");
    expect_ids("<a@b@c> <ok@x>", "<ok@x>");
    expect_ids("<a b@c> <ok@x>", "<ok@x>");
    expect_ids("<@x> <x@> <> < <ok@x>", "<ok@x>");
    expect_ids("user@example.org (John's message of Monday)", "");
    expect_ids("<ok@x> from John <john@example.org>",
               "<ok@x>|<john@example.org>");
    expect_ids("<\"unterminated@x> <ok@x>", "<ok@x>");
    expect_ids("<<ok@x>>", "<ok@x>");
    char *lng = ph_malloc(2100);
    memset(lng, 'a', 2100);
    lng[0] = '<';
    memcpy(lng + 2000, "@x> <ok@x>", 11);
    expect_ids(lng, "<ok@x>"); /* longer than PH_MSGID_MAX */
    free(lng);
}

static void expect_refs(const char *refs, const char *irt, const char *want)
{
    struct ph_buf out = {0};
    ph_thread_references(refs, refs ? strlen(refs) : 0, irt,
                         irt ? strlen(irt) : 0, &out);
    if (strcmp(out.data ? out.data : "", want) != 0)
        fail_msg("references(%s, %s) = \"%s\", want \"%s\"", refs, irt,
                 out.data ? out.data : "", want);
    ph_buf_free(&out);
}

/* RFC 5256 section 3: References when it has a valid ID, else the first
 * valid ID of In-Reply-To, else none. */
static void test_thread_references_rules(void **state)
{
    (void)state;
    expect_refs("<a@x> <b@x>", "<c@x>", "<a@x> <b@x>");
    expect_refs(NULL, "<c@x> <d@x>", "<c@x>");
    expect_refs("garbage <nope>", "<c@x>", "<c@x>");
    expect_refs("", "John's message <c@x> of Monday", "<c@x>");
    expect_refs(NULL, "no id here", "");
    expect_refs(NULL, NULL, "");
    /* At most the last PH_THREAD_MAX_REFERENCES, the closest ancestors. */
    struct ph_buf many = {0}, want = {0};
    for (int i = 0; i < PH_THREAD_MAX_REFERENCES + 20; i++) {
        ph_buf_printf(&many, "<m%d@x> ", i);
        if (i >= 20)
            ph_buf_printf(&want, "%s<m%d@x>", i > 20 ? " " : "", i);
    }
    expect_refs(many.data, NULL, want.data);
    ph_buf_free(&many);
    ph_buf_free(&want);
}

/* ---- Keys from a message ------------------------------------------------ */

static struct ph_message_info *parse(const char *msg)
{
    size_t len;
    char *crlf = ph_crlf_normalize_buf(msg, strlen(msg), &len);
    struct ph_message_info *info = ph_message_parse(crlf, len);
    free(crlf);
    return info;
}

static void keys_of(const char *msg, time_t internal, struct ph_sort_keys *k)
{
    struct ph_message_info *info = parse(msg);
    ph_sort_keys_from_info(info, internal, k);
    ph_message_info_free(&info);
}

static void test_keys_from_message(void **state)
{
    (void)state;
    struct ph_sort_keys k;
    keys_of("From: =?utf-8?q?Andr=C3=A9?= <andre@Example.org>\n"
            "To: undisclosed-recipients:;\n"
            "Cc: <bob@x>, carol@y\n"
            "Subject: Re: [list] caf=?utf-8?q?=C3=A9?=\n"
            "Date: Sun, 31 Dec 2000 16:01:33 -0800\n"
            "Message-ID: <\"id1\"@example.org>\n"
            "In-Reply-To: <parent@example.org>\n"
            "\nbody\n",
            1000, &k);
    assert_string_equal(k.subject, "CAFE\xcc\x81");
    assert_true(k.subject_is_reply);
    /* addr-mailbox, folded (RFC 5256 3 FROM). */
    assert_string_equal(k.from, "ANDRE");
    /* A group: ENVELOPE's first address is the group's name. */
    assert_string_equal(k.to, "UNDISCLOSED-RECIPIENTS");
    assert_string_equal(k.cc, "BOB");
    /* RFC 5957 3: the decoded display name; a group has only a mailbox. */
    assert_string_equal(k.display_from, "ANDRE\xcc\x81");
    assert_string_equal(k.display_to, "UNDISCLOSED-RECIPIENTS");
    /* RFC 5256 2.2: "31 Dec 2000 16:01:33 -0800" is 1 Jan 2001 00:01:33
     * UTC. */
    assert_true(k.date_from_header);
    assert_int_equal(k.sent_date, 978307293);
    assert_int_equal(k.arrival, 1000);
    assert_string_equal(k.message_id, "<id1@example.org>");
    assert_string_equal(k.references, "<parent@example.org>");
    ph_sort_keys_clear(&k);
}

/* Absent fields are the empty string; a missing or unparsable Date gives
 * the INTERNALDATE (RFC 5256 2.2); an address without a display name
 * sorts by mailbox@host (RFC 5957 3). */
static void test_keys_defaults(void **state)
{
    (void)state;
    struct ph_sort_keys k;
    keys_of("From: bob@Example.org (not a display name)\n"
            "Date: yesterday-ish\n"
            "References: <a@x> <b@x>\n"
            "In-Reply-To: <c@x>\n"
            "\n",
            1234567, &k);
    assert_string_equal(k.subject, "");
    assert_string_equal(k.to, "");
    assert_string_equal(k.cc, "");
    assert_string_equal(k.display_to, "");
    assert_string_equal(k.from, "BOB");
    /* The comment is no display-name for RFC 5957 (ENVELOPE shows it as
     * addr-name, as Dovecot's does: so it is the sort value). */
    assert_string_equal(k.display_from, "NOT A DISPLAY NAME");
    assert_false(k.date_from_header);
    assert_int_equal(k.sent_date, 1234567);
    assert_string_equal(k.message_id, "");
    assert_string_equal(k.references, "<a@x> <b@x>");
    ph_sort_keys_clear(&k);

    keys_of("From: <bob@Example.org>\nTo: \"\" <eve@x>\n\n", 0, &k);
    assert_string_equal(k.display_from, "BOB@EXAMPLE.ORG");
    assert_string_equal(k.display_to, "EVE@X");
    ph_sort_keys_clear(&k);

    /* A From field without an address: ENVELOPE joins repeated fields, so
     * the first address is the next field's. */
    keys_of("From: \nFrom: Zed <zed@x>\n\n", 0, &k);
    assert_string_equal(k.from, "ZED");
    ph_sort_keys_clear(&k);
}

/* Keys are cut to PH_SORT_KEY_MAX bytes at a character boundary. */
static void test_keys_length_limit(void **state)
{
    (void)state;
    struct ph_buf msg = {0};
    ph_buf_puts(&msg, "Subject: a");
    for (int i = 0; i < 3000; i++)
        ph_buf_puts(&msg, "\xc3\xa9");
    ph_buf_puts(&msg, "\n\n");
    struct ph_sort_keys k;
    keys_of(msg.data, 0, &k);
    size_t len = strlen(k.subject);
    assert_true(len <= PH_SORT_KEY_MAX && len > PH_SORT_KEY_MAX - 4);
    /* "A" then whole "E" U+0301 triples. */
    assert_int_equal((len - 1) % 3, 0);
    ph_sort_keys_clear(&k);
    ph_buf_free(&msg);
}

/* ---- SORT ---------------------------------------------------------------- */

static void test_sort_criterion_names(void **state)
{
    (void)state;
    enum ph_sort_criterion c;
    assert_true(ph_sort_criterion_lookup("displayFrom", 11, &c));
    assert_int_equal(c, PH_SORT_DISPLAYFROM);
    assert_true(ph_sort_criterion_lookup("ARRIVAL", 7, &c));
    assert_false(ph_sort_criterion_lookup("REVERSE", 7, &c));
    assert_string_equal(ph_sort_criterion_name(PH_SORT_SIZE), "SIZE");
}

/* RFC 5256 section 3's examples of the rules: criteria in priority order,
 * REVERSE for one criterion only, the sequence number last. */
static void test_sort_program_order(void **state)
{
    (void)state;
    static const char *const msgs[] = {
        "Subject: b\nDate: 2 Jan 2000 00:00:00 +0000\n\n",
        "Subject: Re: a\nDate: 3 Jan 2000 00:00:00 +0000\n\n",
        "Subject: A\nDate: 1 Jan 2000 00:00:00 +0000\n\n",
        "Subject: b\nDate: 1 Jan 2000 00:00:00 +0000\n\n",
        "Subject: [x] a\nDate: 3 Jan 2000 00:00:00 +0000\n\n",
    };
    struct ph_sort_keys k[5];
    const struct ph_sort_keys *kp[5];
    for (int i = 0; i < 5; i++) {
        keys_of(msgs[i], 0, &k[i]);
        kp[i] = &k[i];
    }
    uint32_t order[5];
    struct ph_sort_program_item subject_date[] = {{PH_SORT_SUBJECT, false},
                                                  {PH_SORT_DATE, false}};
    ph_sort_messages(kp, 5, subject_date, 2, order);
    uint32_t want1[] = {2, 1, 4, 3, 0};
    assert_memory_equal(order, want1, sizeof(want1));

    /* (SUBJECT REVERSE DATE): ties of date keep mailbox order. */
    struct ph_sort_program_item subject_rdate[] = {{PH_SORT_SUBJECT, false},
                                                   {PH_SORT_DATE, true}};
    ph_sort_messages(kp, 5, subject_rdate, 2, order);
    uint32_t want2[] = {1, 4, 2, 0, 3};
    assert_memory_equal(order, want2, sizeof(want2));

    /* REVERSE SUBJECT does not reverse the implicit sequence order. */
    struct ph_sort_program_item rsubject[] = {{PH_SORT_SUBJECT, true}};
    ph_sort_messages(kp, 5, rsubject, 1, order);
    uint32_t want3[] = {0, 3, 1, 2, 4};
    assert_memory_equal(order, want3, sizeof(want3));
    for (int i = 0; i < 5; i++)
        ph_sort_keys_clear(&k[i]);
}

/* ---- The mime-corpus ---------------------------------------------------- */

static char *corpus_dir(void)
{
    const char *env = getenv("POSTHORN_MIME_CORPUS");
    const char *top = getenv("top_srcdir");
    char *candidates[3] = {
        env != NULL && *env != '\0' ? ph_strdup(env) : NULL,
        top != NULL ? ph_strdup_printf("%s/../shared/mime-corpus", top) : NULL,
        ph_strdup("/work/shared/mime-corpus"),
    };
    char *found = NULL;
    for (size_t i = 0; i < 3; i++) {
        char *probe =
            candidates[i] == NULL || found != NULL
                ? NULL
                : ph_strdup_printf("%s/messages/0001.eml", candidates[i]);
        FILE *f = probe != NULL ? fopen(probe, "rb") : NULL;
        free(probe);
        if (f != NULL) {
            fclose(f);
            found = candidates[i];
        } else {
            free(candidates[i]);
        }
    }
    return found;
}

static char *read_file(const char *path, size_t *len_r)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct ph_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ph_buf_append(&b, chunk, n);
    fclose(f);
    *len_r = b.len;
    return ph_buf_steal(&b);
}

/* Real subjects (the messages of /work/shared/mime-corpus named here) and
 * every message's keys: the base subject is a fixed point, keys are
 * bounded and hold no NUL. */
static void test_corpus_keys(void **state)
{
    (void)state;
    static const struct {
        const char *file, *base;
        bool reply;
    } known[] = {
        {"0001", "fotos", true},
        {"0007", "hello world", true},
        {"0008", "34Mbit/s Netz", true},
        {"0036", "Die Hasen und die Fr\xc3\xb6sche", false},
        {"0070", "I-D ACTION:draft-ietf-http-authentication-00.txt", true},
        {"0097", "Remove PHP 4 Constructors", true},
        {"0102", "", true},
        {"0115", "ubiquity crashes in ubuntu 9.04 installation", true},
        {"0117", "(#5290765) Proxmox Shop E-Mails", true},
        {"0152", "Earn money", true},
        {"0252", "running server as root (Was: Re: PUT method)", true},
        {"0260", "How are intermediate files handled in SkyNet?", false},
    };
    char *dir = corpus_dir();
    if (dir == NULL) {
        fprintf(stderr, "mime-corpus not found (POSTHORN_MIME_CORPUS)\n");
        skip();
    }
    unsigned n = 0, named = 0;
    for (int i = 1; i <= 300; i++) {
        char *path = ph_strdup_printf("%s/messages/%04d.eml", dir, i);
        size_t len;
        char *data = read_file(path, &len);
        free(path);
        if (data == NULL)
            continue;
        size_t nlen;
        char *crlf = ph_crlf_normalize_buf(data, len, &nlen);
        struct ph_message_info *info = ph_message_parse(crlf, nlen);
        struct ph_sort_keys k;
        ph_sort_keys_from_info(info, 42, &k);
        const char *fields[] = {k.subject, k.from,         k.to,
                                k.cc,      k.display_from, k.display_to};
        for (size_t f = 0; f < PH_N_ELEMENTS(fields); f++)
            assert_true(strlen(fields[f]) <= PH_SORT_KEY_MAX);

        struct ph_buf base = {0}, again = {0}, want = {0};
        const char *subj = info->subject ? info->subject : "";
        bool reply = ph_sort_base_subject(subj, strlen(subj), &base);
        assert_int_equal(reply, k.subject_is_reply);
        assert_false(ph_sort_base_subject_decoded(base.data, base.len, &again));
        assert_int_equal(base.len, again.len);
        char num[16];
        snprintf(num, sizeof(num), "%04d", i);
        for (size_t j = 0; j < PH_N_ELEMENTS(known); j++) {
            if (strcmp(known[j].file, num) != 0)
                continue;
            if (strcmp(base.data ? base.data : "", known[j].base) != 0 ||
                reply != known[j].reply)
                fail_msg("%s: base subject \"%s\" reply=%d, want \"%s\"", num,
                         base.data ? base.data : "", reply, known[j].base);
            ph_collation_key(PH_COLLATION_DEFAULT, known[j].base,
                             strlen(known[j].base), &want);
            assert_string_equal(k.subject, want.data ? want.data : "");
            named++;
        }
        ph_buf_free(&base);
        ph_buf_free(&again);
        ph_buf_free(&want);
        ph_sort_keys_clear(&k);
        ph_message_info_free(&info);
        free(crlf);
        free(data);
        n++;
    }
    fprintf(stderr, "mime-corpus: keys of %u messages\n", n);
    assert_int_equal(named, PH_N_ELEMENTS(known));
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_subject_trailers),
        cmocka_unit_test(test_base_subject_leaders),
        cmocka_unit_test(test_base_subject_blobs),
        cmocka_unit_test(test_base_subject_fwd),
        cmocka_unit_test(test_base_subject_decoding_and_whitespace),
        cmocka_unit_test(test_base_subject_matches_literal_procedure),
        cmocka_unit_test(test_base_subject_many_blobs_is_linear),
        cmocka_unit_test(test_collation_names),
        cmocka_unit_test(test_collation_ascii_casemap),
        cmocka_unit_test(test_collation_unicode_casemap),
        cmocka_unit_test(test_collation_key_idempotent),
        cmocka_unit_test(test_msgid_normalization),
        cmocka_unit_test(test_msgid_invalid_skipped),
        cmocka_unit_test(test_thread_references_rules),
        cmocka_unit_test(test_keys_from_message),
        cmocka_unit_test(test_keys_defaults),
        cmocka_unit_test(test_keys_length_limit),
        cmocka_unit_test(test_sort_criterion_names),
        cmocka_unit_test(test_sort_program_order),
        cmocka_unit_test(test_corpus_keys),
    };
    return cmocka_run_group_tests_name("sort", tests, NULL, NULL);
}
