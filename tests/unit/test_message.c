/* SPDX-License-Identifier: MIT */
/* Tests of the message parser: hand-written fixtures (tests/data/messages),
 * split feeding, sections, serialization. The corpus comparison, decoders
 * and limits are in the other test_message_*.c files. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_message.h"

/* ---- Helpers ---- */

char *tm_read_file(const char *path, size_t *len_r)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct ph_buf b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        ph_buf_append(&b, tmp, n);
    fclose(f);
    *len_r = b.len;
    return ph_buf_steal(&b);
}

char *tm_srcdir_path(const char *rel)
{
    const char *top = getenv("top_srcdir");
    if (top == NULL || *top == '\0')
        return ph_strdup(rel);
    return ph_strdup_printf("%s/%s", top, rel);
}

struct ph_message_info *tm_parse_raw(const char *raw, size_t len, char **msg_r,
                                     size_t *msg_len_r)
{
    *msg_r = ph_crlf_normalize_buf(raw, len, msg_len_r);
    return ph_message_parse(*msg_r, *msg_len_r);
}

struct ph_message_info *tm_parse_chunked(const char *msg, size_t len,
                                         size_t first, size_t rest)
{
    struct ph_message_parser *p = ph_message_parser_new(NULL);
    size_t off = 0, n = first;
    while (off < len) {
        if (n > len - off)
            n = len - off;
        ph_message_parser_feed(p, msg + off, n);
        off += n;
        n = rest;
    }
    return ph_message_parser_finish(&p);
}

char *tm_serialize(const struct ph_message_info *info, size_t *len_r)
{
    void *buf;
    ph_message_info_serialize(info, &buf, len_r);
    return buf;
}

static void print_escaped(const char *s, size_t len)
{
    for (size_t i = 0; i < len && i < 4000; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r')
            fputs("\\r", stderr);
        else if (c == '\n')
            fputs("\\n", stderr);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fputc('\n', stderr);
}

void tm_assert_bytes(const char *what, const char *expected, size_t elen,
                     const char *actual, size_t alen)
{
    if (elen == alen && memcmp(expected, actual, elen) == 0)
        return;
    size_t i = 0;
    while (i < elen && i < alen && expected[i] == actual[i])
        i++;
    fprintf(stderr, "%s differs at byte %zu\n  expected: ", what, i);
    print_escaped(expected, elen);
    fputs("  actual:   ", stderr);
    print_escaped(actual, alen);
    fail_msg("%s differs", what);
}

void tm_unescape(const char *s, size_t len, struct ph_buf *out)
{
    ph_buf_append(out, "", 0);
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\' || i + 1 >= len) {
            ph_buf_putc(out, s[i]);
            continue;
        }
        char c = s[++i];
        if (c == 'r')
            ph_buf_putc(out, '\r');
        else if (c == 'n')
            ph_buf_putc(out, '\n');
        else if (c == 't')
            ph_buf_putc(out, '\t');
        else if (c == 'x' && i + 2 < len) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            ph_buf_putc(out, (char)strtol(hex, NULL, 16));
            i += 2;
        } else
            ph_buf_putc(out, c);
    }
}

void tm_section(const struct ph_message_info *info, const char *msg,
                const char *spec, struct ph_buf *out)
{
    /* An optional partial: SPEC<start.count> */
    char *s = ph_strdup(spec);
    uint64_t start = 0, count = 0;
    bool partial = false;
    char *lt = strrchr(s, '<');
    if (lt != NULL && s[strlen(s) - 1] == '>') {
        unsigned long long a, b;
        assert_int_equal(sscanf(lt, "<%llu.%llu>", &a, &b), 2);
        start = a;
        count = b;
        partial = true;
        *lt = '\0';
    }
    struct ph_message_section sec;
    const char *error = NULL;
    assert_int_equal(ph_message_section_parse(s, strlen(s), &sec, &error), 0);
    uint64_t off, size;
    ph_buf_append(out, "", 0);
    if (ph_message_section_lookup(info, &sec, &off, &size) ==
        PH_MESSAGE_SECTION_FOUND) {
        if (sec.text == PH_MESSAGE_SECTION_HEADER_FIELDS ||
            sec.text == PH_MESSAGE_SECTION_HEADER_FIELDS_NOT) {
            struct ph_buf f = {0};
            ph_message_header_filter(
                msg + off, (size_t)size, &sec.fields,
                sec.text == PH_MESSAGE_SECTION_HEADER_FIELDS_NOT, &f);
            off = 0;
            size = f.len;
            if (partial)
                ph_message_range_partial(&off, &size, start, count);
            /* No field and no blank line: nothing, and no buffer. */
            ph_buf_append(out, f.data ? f.data + off : "", (size_t)size);
            ph_buf_free(&f);
        } else {
            if (partial)
                ph_message_range_partial(&off, &size, start, count);
            ph_buf_append(out, msg + off, (size_t)size);
        }
    }
    ph_message_section_clear(&sec);
    free(s);
}

/* ---- Fixtures: tests/data/messages/NAME.eml + NAME.expected ---- */

struct fixture {
    char *name, *eml, *expected;
};

static struct fixture *fixtures;
static size_t n_fixtures;

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_fixtures(void)
{
    char *dir = tm_srcdir_path("tests/data/messages");
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "cannot open %s\n", dir);
        free(dir);
        return;
    }
    struct ph_strlist names = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".eml") == 0)
            ph_strlist_add_owned(&names, ph_strndup(e->d_name, l - 4));
    }
    closedir(d);
    if (names.n > 0)
        qsort(names.v, names.n, sizeof(char *), name_cmp);
    fixtures = ph_calloc(names.n + 1, sizeof(*fixtures));
    for (size_t i = 0; i < names.n; i++) {
        fixtures[i].name = ph_strdup(names.v[i]);
        fixtures[i].eml = ph_strdup_printf("%s/%s.eml", dir, names.v[i]);
        fixtures[i].expected =
            ph_strdup_printf("%s/%s.expected", dir, names.v[i]);
    }
    n_fixtures = names.n;
    ph_strlist_clear(&names);
    free(dir);
}

static void free_fixtures(void)
{
    for (size_t i = 0; i < n_fixtures; i++) {
        free(fixtures[i].name);
        free(fixtures[i].eml);
        free(fixtures[i].expected);
    }
    free(fixtures);
    fixtures = NULL;
    n_fixtures = 0;
}

static void check_field(const char *name, const char *key, const char *want,
                        size_t want_len, const char *have)
{
    char *what = ph_strdup_printf("%s %s", name, key);
    tm_assert_bytes(what, want, want_len, have, strlen(have));
    free(what);
}

/* Each line of NAME.expected: "KEY VALUE" with KEY one of size, lines,
 * envelope, bodystructure, body, or "section SPEC<TAB>BYTES"; values use
 * \r \n \t \\ \xHH escapes; '#' starts a comment line. */
static void test_fixture_matches_expected(void **state)
{
    const struct fixture *fx = *state;
    size_t raw_len, exp_len, msg_len;
    char *raw = tm_read_file(fx->eml, &raw_len);
    char *exp = tm_read_file(fx->expected, &exp_len);
    assert_non_null(raw);
    if (exp == NULL)
        fail_msg("%s has no .expected file", fx->name);
    char *msg;
    struct ph_message_info *info = tm_parse_raw(raw, raw_len, &msg, &msg_len);
    unsigned checked = 0;

    char *line = exp, *end = exp + exp_len;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t llen = nl ? (size_t)(nl - line) : (size_t)(end - line);
        char *sp = memchr(line, ' ', llen);
        if (llen > 0 && line[0] != '#' && sp != NULL) {
            size_t klen = (size_t)(sp - line);
            const char *v = sp + 1;
            size_t vlen = llen - klen - 1;
            struct ph_buf want = {0};
            if (klen == 7 && memcmp(line, "section", 7) == 0) {
                const char *tab = memchr(v, '\t', vlen);
                assert_non_null(tab);
                char *spec = ph_strndup(v, (size_t)(tab - v));
                tm_unescape(tab + 1, vlen - (size_t)(tab + 1 - v), &want);
                struct ph_buf have = {0};
                tm_section(info, msg, spec, &have);
                char *what = ph_strdup_printf("%s BODY[%s]", fx->name, spec);
                tm_assert_bytes(what, want.data, want.len, have.data, have.len);
                free(what);
                free(spec);
                ph_buf_free(&have);
            } else {
                char *key = ph_strndup(line, klen);
                tm_unescape(v, vlen, &want);
                char num[32];
                if (strcmp(key, "size") == 0) {
                    snprintf(num, sizeof(num), "%llu",
                             (unsigned long long)info->size);
                    check_field(fx->name, key, want.data, want.len, num);
                } else if (strcmp(key, "lines") == 0) {
                    snprintf(num, sizeof(num), "%llu",
                             (unsigned long long)info->lines);
                    check_field(fx->name, key, want.data, want.len, num);
                } else if (strcmp(key, "envelope") == 0) {
                    check_field(fx->name, key, want.data, want.len,
                                info->envelope);
                } else if (strcmp(key, "bodystructure") == 0) {
                    check_field(fx->name, key, want.data, want.len,
                                info->bodystructure);
                } else if (strcmp(key, "body") == 0) {
                    check_field(fx->name, key, want.data, want.len, info->body);
                } else {
                    fail_msg("%s: unknown key %s", fx->name, key);
                }
                free(key);
            }
            ph_buf_free(&want);
            checked++;
        }
        line = nl ? nl + 1 : end;
    }
    /* Every fixture states at least ENVELOPE and BODYSTRUCTURE. */
    assert_true(checked >= 2);
    ph_message_info_free(&info);
    free(msg);
    free(raw);
    free(exp);
}

/* Any split of the input, and byte-by-byte feeding, give one result. */
static void test_fixture_split_anywhere_same_result(void **state)
{
    const struct fixture *fx = *state;
    size_t raw_len, msg_len, ref_len;
    char *raw = tm_read_file(fx->eml, &raw_len);
    assert_non_null(raw);
    char *msg;
    struct ph_message_info *info = tm_parse_raw(raw, raw_len, &msg, &msg_len);
    char *ref = tm_serialize(info, &ref_len);
    ph_message_info_free(&info);

    for (size_t k = 0; k <= msg_len; k++) {
        struct ph_message_info *i2 = tm_parse_chunked(msg, msg_len, k, msg_len);
        size_t l2;
        char *s2 = tm_serialize(i2, &l2);
        if (l2 != ref_len || memcmp(s2, ref, l2) != 0)
            fail_msg("%s: split at %zu changes the result", fx->name, k);
        free(s2);
        ph_message_info_free(&i2);
    }
    struct ph_message_info *i3 = tm_parse_chunked(msg, msg_len, 1, 1);
    size_t l3;
    char *s3 = tm_serialize(i3, &l3);
    tm_assert_bytes("byte-by-byte", ref, ref_len, s3, l3);
    free(s3);
    ph_message_info_free(&i3);

    /* The normalizer too: byte by byte gives the same bytes. */
    struct ph_crlf_normalizer n;
    ph_crlf_normalizer_init(&n);
    struct ph_buf nb = {0};
    char out[4];
    for (size_t i = 0; i < raw_len; i++)
        ph_buf_append(&nb, out, ph_crlf_normalize(&n, raw + i, 1, out));
    ph_buf_append(&nb, out, ph_crlf_normalize_finish(&n, out));
    tm_assert_bytes("normalized byte by byte", msg, msg_len, nb.data, nb.len);
    assert_int_equal(n.out_size, msg_len);
    ph_buf_free(&nb);
    free(ref);
    free(msg);
    free(raw);
}

/* serialize -> deserialize -> serialize is the identity, and the
 * deserialized info answers like the parsed one. */
static void test_fixture_serialization_round_trip(void **state)
{
    const struct fixture *fx = *state;
    size_t raw_len, msg_len, l1, l2;
    char *raw = tm_read_file(fx->eml, &raw_len);
    assert_non_null(raw);
    char *msg;
    struct ph_message_info *info = tm_parse_raw(raw, raw_len, &msg, &msg_len);
    char *s1 = tm_serialize(info, &l1);
    struct ph_message_info *back;
    const char *error = NULL;
    assert_int_equal(ph_message_info_deserialize(s1, l1, &back, &error), 0);
    char *s2 = tm_serialize(back, &l2);
    tm_assert_bytes("round trip", s1, l1, s2, l2);
    assert_string_equal(back->envelope, info->envelope);
    assert_string_equal(back->bodystructure, info->bodystructure);
    assert_string_equal(back->body, info->body);
    assert_int_equal(back->size, info->size);
    /* Every truncation is refused, never a crash. */
    for (size_t k = 0; k < l1; k++) {
        struct ph_message_info *bad = NULL;
        assert_int_equal(ph_message_info_deserialize(s1, k, &bad, &error), -1);
        assert_non_null(error);
        assert_null(bad);
    }
    ph_message_info_free(&back);
    ph_message_info_free(&info);
    free(s1);
    free(s2);
    free(msg);
    free(raw);
}

static int run_fixture_group(void (*fn)(void **), const char *suffix)
{
    struct CMUnitTest *tests = ph_calloc(n_fixtures + 1, sizeof(*tests));
    char **names = ph_calloc(n_fixtures + 1, sizeof(char *));
    for (size_t i = 0; i < n_fixtures; i++) {
        names[i] = ph_strdup_printf("%s_%s", fixtures[i].name, suffix);
        tests[i].name = names[i];
        tests[i].test_func = fn;
        tests[i].initial_state = &fixtures[i];
    }
    int r = _cmocka_run_group_tests(suffix, tests, n_fixtures, NULL, NULL);
    for (size_t i = 0; i < n_fixtures; i++)
        free(names[i]);
    free(names);
    free(tests);
    return r;
}

int tm_run_fixture_tests(void)
{
    load_fixtures();
    if (n_fixtures < 40)
        fprintf(stderr, "only %zu fixtures in tests/data/messages\n",
                n_fixtures);
    int r = n_fixtures < 40;
    r += run_fixture_group(test_fixture_matches_expected,
                           "fixture_matches_expected");
    r += run_fixture_group(test_fixture_split_anywhere_same_result,
                           "split_anywhere_same_result");
    r += run_fixture_group(test_fixture_serialization_round_trip,
                           "serialization_round_trip");
    free_fixtures();
    return r;
}

/* ---- Section syntax ---- */

static void test_section_parse_accepts_rfc3501_forms(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        size_t path_len;
        enum ph_message_section_text text;
        size_t n_fields;
    } ok[] = {
        {"", 0, PH_MESSAGE_SECTION_ALL, 0},
        {"1", 1, PH_MESSAGE_SECTION_ALL, 0},
        {"1.2.3", 3, PH_MESSAGE_SECTION_ALL, 0},
        {"HEADER", 0, PH_MESSAGE_SECTION_HEADER, 0},
        {"header", 0, PH_MESSAGE_SECTION_HEADER, 0},
        {"TEXT", 0, PH_MESSAGE_SECTION_TEXT, 0},
        {"2.HEADER", 1, PH_MESSAGE_SECTION_HEADER, 0},
        {"2.TEXT", 1, PH_MESSAGE_SECTION_TEXT, 0},
        {"1.2.MIME", 2, PH_MESSAGE_SECTION_MIME, 0},
        {"HEADER.FIELDS (From)", 0, PH_MESSAGE_SECTION_HEADER_FIELDS, 1},
        {"HEADER.FIELDS (From To \"X-A b\")", 0,
         PH_MESSAGE_SECTION_HEADER_FIELDS, 3},
        {"HEADER.FIELDS ({7}\r\nSubject)", 0, PH_MESSAGE_SECTION_HEADER_FIELDS,
         1},
        {"3.HEADER.FIELDS.NOT (Received)", 1,
         PH_MESSAGE_SECTION_HEADER_FIELDS_NOT, 1},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(ok); i++) {
        struct ph_message_section sec;
        const char *error = NULL;
        int r = ph_message_section_parse(ok[i].spec, strlen(ok[i].spec), &sec,
                                         &error);
        if (r != 0)
            fail_msg("[%s] refused: %s", ok[i].spec, error);
        assert_int_equal(sec.path_len, ok[i].path_len);
        assert_int_equal(sec.text, ok[i].text);
        assert_int_equal(sec.fields.n, ok[i].n_fields);
        ph_message_section_clear(&sec);
    }
}

static void test_section_parse_rejects_malformed_for_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "0",
        "1.0",
        "01",
        "1.",
        ".1",
        "MIME",
        "1.FOO",
        "HEADER.FIELDS",
        "HEADER.FIELDS ()",
        "HEADER.FIELDS (a",
        "HEADER.FIELDS(a)",
        "TEXT.1",
        "1..2",
        "HEADERX",
        "99999999999",
        "HEADER.FIELDS (\"a)",
        "HEADER.FIELDS ({5}\r\nab)",
        "1 ",
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(bad); i++) {
        struct ph_message_section sec;
        const char *error = NULL;
        if (ph_message_section_parse(bad[i], strlen(bad[i]), &sec, &error) ==
            0) {
            ph_message_section_clear(&sec);
            fail_msg("[%s] accepted", bad[i]);
        }
        assert_non_null(error);
    }
}

/* ---- Section ranges on a known message ---- */

static const char nested_msg[] =
    "From: a@example.com\r\n"
    "Subject: nested\r\n"
    "Content-Type: multipart/mixed; boundary=outer\r\n"
    "\r\n"
    "preamble\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=inner\r\n"
    "\r\n"
    "--inner\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "plain\r\n"
    "--inner\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<b>html</b>\r\n"
    "--inner--\r\n"
    "--outer\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner message\r\n"
    "X-Other: 1\r\n"
    "\r\n"
    "inner body\r\n"
    "--outer--\r\n"
    "epilogue\r\n";

static void expect_section(const struct ph_message_info *info, const char *msg,
                           const char *spec, const char *want)
{
    struct ph_buf have = {0};
    tm_section(info, msg, spec, &have);
    char *what = ph_strdup_printf("BODY[%s]", spec);
    tm_assert_bytes(what, want, strlen(want), have.data, have.len);
    free(what);
    ph_buf_free(&have);
}

static void test_section_ranges_give_exact_bytes(void **state)
{
    (void)state;
    const char *m = nested_msg;
    struct ph_message_info *info = ph_message_parse(m, strlen(m));
    expect_section(info, m, "1.1", "plain");
    expect_section(info, m, "1.2", "<b>html</b>");
    expect_section(info, m, "1.2.MIME", "Content-Type: text/html\r\n\r\n");
    expect_section(info, m, "1.MIME",
                   "Content-Type: multipart/alternative; boundary=inner\r\n"
                   "\r\n");
    expect_section(info, m, "2.HEADER",
                   "Subject: inner message\r\nX-Other: 1\r\n\r\n");
    expect_section(info, m, "2.TEXT", "inner body");
    expect_section(info, m, "2",
                   "Subject: inner message\r\nX-Other: 1\r\n"
                   "\r\ninner body");
    expect_section(info, m, "2.1", "inner body");
    expect_section(info, m, "2.1.MIME",
                   "Subject: inner message\r\nX-Other: 1\r\n\r\n");
    expect_section(info, m, "2.HEADER.FIELDS (x-other)", "X-Other: 1\r\n\r\n");
    expect_section(info, m, "HEADER",
                   "From: a@example.com\r\nSubject: nested\r\n"
                   "Content-Type: multipart/mixed; boundary=outer\r\n\r\n");
    expect_section(info, m, "HEADER.FIELDS (SUBJECT FROM)",
                   "From: a@example.com\r\nSubject: nested\r\n\r\n");
    expect_section(info, m, "HEADER.FIELDS.NOT (Content-Type From)",
                   "Subject: nested\r\n\r\n");
    expect_section(info, m, "HEADER.FIELDS (X-None)", "\r\n");
    const char *text = strstr(m, "\r\n\r\n") + 4;
    expect_section(info, m, "TEXT", text);
    expect_section(info, m, "", m);
    /* Partials: <start.count>, past the end empty. */
    expect_section(info, m, "1.1<1.3>", "lai");
    expect_section(info, m, "1.1<3.100>", "in");
    expect_section(info, m, "1.1<5.1>", "");
    expect_section(info, m, "HEADER.FIELDS (SUBJECT)<0.7>", "Subject");
    /* Absent parts answer with nothing. */
    expect_section(info, m, "3", "");
    expect_section(info, m, "1.3", "");
    expect_section(info, m, "1.1.1", "");
    expect_section(info, m, "1.HEADER", "");
    expect_section(info, m, "2.2", "");
    uint64_t off, size;
    const char *error = NULL;
    assert_int_equal(
        ph_message_section_range(info, "2.TEXT", &off, &size, &error), 1);
    assert_int_equal(ph_message_section_range(info, "7", &off, &size, &error),
                     0);
    assert_int_equal(ph_message_section_range(info, "1.X", &off, &size, &error),
                     -1);
    assert_non_null(error);
    ph_message_info_free(&info);
}

static void test_section_single_part_message_is_part_one(void **state)
{
    (void)state;
    const char *m = "Subject: one\r\n\r\nbody\r\n";
    struct ph_message_info *info = ph_message_parse(m, strlen(m));
    expect_section(info, m, "1", "body\r\n");
    expect_section(info, m, "1.MIME", "Subject: one\r\n\r\n");
    expect_section(info, m, "TEXT", "body\r\n");
    expect_section(info, m, "2", "");
    expect_section(info, m, "1.1", "");
    ph_message_info_free(&info);
}

static void test_header_filter_matches_case_insensitively(void **state)
{
    (void)state;
    const char hdr[] = "Received: a\r\n b\r\nSUBJECT: s\r\nX-A: 1\r\n"
                       "subject: again\r\nbroken line\r\n\r\n";
    struct ph_strlist names = {0};
    ph_strlist_add(&names, "Subject");
    struct ph_buf out = {0};
    ph_message_header_filter(hdr, sizeof(hdr) - 1, &names, false, &out);
    assert_string_equal(out.data, "SUBJECT: s\r\nsubject: again\r\n\r\n");
    ph_buf_reset(&out);
    ph_message_header_filter(hdr, sizeof(hdr) - 1, &names, true, &out);
    assert_string_equal(out.data,
                        "Received: a\r\n b\r\nX-A: 1\r\nbroken line\r\n\r\n");
    ph_buf_free(&out);
    ph_strlist_clear(&names);
}

/* RFC 3501 6.4.5: "the blank line is always included in header data,
 * except in the case of a message which has no body and no blank line",
 * for HEADER.FIELDS and HEADER.FIELDS.NOT as for HEADER. */
static void test_header_filter_adds_no_blank_line_a_header_lacks(void **state)
{
    (void)state;
    const char bare[] = "Subject: only a header\r\nFrom: x@example.com\r\n";
    struct ph_strlist names = {0};
    ph_strlist_add(&names, "From");
    struct ph_buf out = {0};
    ph_message_header_filter(bare, sizeof(bare) - 1, &names, false, &out);
    assert_string_equal(out.data, "From: x@example.com\r\n");
    ph_buf_reset(&out);
    ph_message_header_filter(bare, sizeof(bare) - 1, &names, true, &out);
    assert_string_equal(out.data, "Subject: only a header\r\n");
    /* No EOL after the last field, no blank line: still one line a field. */
    ph_buf_reset(&out);
    ph_message_header_filter(bare, sizeof(bare) - 3, &names, false, &out);
    assert_string_equal(out.data, "From: x@example.com\r\n");
    /* Nothing matches: the blank line alone, or nothing without one. */
    const char full[] = "Subject: s\r\n\r\n";
    ph_buf_reset(&out);
    ph_message_header_filter(full, sizeof(full) - 1, &names, false, &out);
    assert_string_equal(out.data, "\r\n");
    ph_buf_reset(&out);
    ph_message_header_filter(bare, 24, &names, false, &out);
    assert_true(out.len == 0);
    /* An empty header with its blank line (a message starting with CRLF). */
    ph_buf_reset(&out);
    ph_message_header_filter("\r\n", 2, &names, true, &out);
    assert_string_equal(out.data, "\r\n");
    ph_buf_free(&out);
    ph_strlist_clear(&names);
}

/* RFC 3501 6.4.5: HEADER.FIELDS is the subset of fields whose names match
 * one of the list, compared without case; a name twice in the list
 * changes nothing, and HEADER.FIELDS.NOT the same; inside a message/rfc822
 * part (2.HEADER.FIELDS) it applies to the embedded message's header. */
static void test_header_fields_ignore_duplicates_and_case_of_names(void **state)
{
    (void)state;
    const char *m = "From: a@x\r\nSubject: s\r\nReferences: <r@x>\r\n"
                    "X-Other: o\r\nContent-Type: multipart/mixed; boundary=b"
                    "\r\n\r\n--b\r\n\r\none\r\n--b\r\n"
                    "Content-Type: message/rfc822\r\n\r\n"
                    "subject: inner\r\nFROM: b@y\r\nX-Other: p\r\n\r\n"
                    "inner body\r\n--b--\r\n";
    struct ph_message_info *info = ph_message_parse(m, strlen(m));
    const char *want = "From: a@x\r\nSubject: s\r\nReferences: <r@x>\r\n\r\n";
    expect_section(info, m, "HEADER.FIELDS (From Subject References)", want);
    expect_section(info, m, "HEADER.FIELDS (From Subject References Subject)",
                   want);
    expect_section(info, m,
                   "HEADER.FIELDS (from SUBJECT \"References\" subject FROM)",
                   want);
    expect_section(info, m,
                   "header.fields.not (X-Other CONTENT-TYPE x-other "
                   "Content-Type)",
                   want);
    expect_section(info, m, "2.HEADER.FIELDS (Subject From SUBJECT)",
                   "subject: inner\r\nFROM: b@y\r\n\r\n");
    expect_section(info, m, "2.HEADER.FIELDS.NOT (subject from Subject)",
                   "X-Other: p\r\n\r\n");
    expect_section(info, m, "2.MIME", "Content-Type: message/rfc822\r\n\r\n");
    expect_section(info, m, "1.HEADER.FIELDS (From From)", "");
    ph_message_info_free(&info);
}

/* RFC 5322 3.2.2, 3.4.1: comments and folding whitespace may stand around
 * the '@' and the dots of an addr-spec, inside the angle brackets, in
 * display names, group syntax and the obsolete route; SEARCH compares
 * the address they leave (ph_message_address_forms), ENVELOPE shows it. */
static void test_address_forms_skip_comments(void **state)
{
    (void)state;
    static const struct {
        const char *value, *forms, *envelope_from;
    } cases[] = {
        {"<user-from (comment)@ (comment) domain.org>", "user-from@domain.org|",
         "((NIL NIL \"user-from\" \"domain.org\"))"},
        {"\"Joe (not a comment)\" (c) <joe . (x) q @ example . com>",
         "Joe (not a comment) <joe.q@example.com>|",
         "((\"Joe (not a comment)\" NIL \"joe.q\" \"example.com\"))"},
        {"Group (c) : (x) <a (y) @ b.example> ,\r\n c@d.example (Carl) ; (z)",
         "Group|a@b.example|Carl <c@d.example>|",
         "((NIL NIL \"Group\" NIL)(NIL NIL \"a\" \"b.example\")"
         "(\"Carl\" NIL \"c\" \"d.example\")(NIL NIL NIL NIL))"},
        {"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
         "Pete <pete@silly.test>|", "((\"Pete\" NIL \"pete\" \"silly.test\"))"},
        {"<@route.example, @ (c) two.example:bcc-user @ (c) bcc.example>",
         "bcc-user@bcc.example|",
         "((NIL \"@route.example,@two.example\" \"bcc-user\" "
         "\"bcc.example\"))"},
        {"=?UTF-8?Q?J=C3=B6rg?= (c) <j@x.de>, <broken@",
         "J\xc3\xb6rg <j@x.de>|broken|",
         "((\"=?UTF-8?Q?J=C3=B6rg?=\" NIL \"j\" \"x.de\")"
         "(NIL NIL \"broken\" \"SYNTAX_ERROR\"))"},
        {"\"quoted (no comment)\"@ (c) example.org",
         "c <quoted (no comment)@example.org>|",
         "((\"c\" NIL \"quoted (no comment)\" \"example.org\"))"},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(cases); i++) {
        struct ph_strlist forms = {0};
        ph_message_address_forms(cases[i].value, strlen(cases[i].value),
                                 &forms);
        struct ph_buf joined = {0};
        for (size_t k = 0; k < forms.n; k++) {
            ph_buf_puts(&joined, forms.v[k]);
            ph_buf_putc(&joined, '|');
        }
        ph_buf_append(&joined, "", 0);
        if (strcmp(joined.data, cases[i].forms) != 0)
            fail_msg("[%s] forms \"%s\", expected \"%s\"", cases[i].value,
                     joined.data, cases[i].forms);
        char *msg = ph_strdup_printf("From: %s\r\n\r\n", cases[i].value);
        struct ph_message_info *info = ph_message_parse(msg, strlen(msg));
        char *want = ph_strdup_printf(
            "(NIL NIL %s %s %s NIL NIL NIL NIL NIL)", cases[i].envelope_from,
            cases[i].envelope_from, cases[i].envelope_from);
        if (strcmp(info->envelope, want) != 0)
            fail_msg("[%s] envelope %s, expected %s", cases[i].value,
                     info->envelope, want);
        free(want);
        ph_message_info_free(&info);
        free(msg);
        ph_buf_free(&joined);
        ph_strlist_clear(&forms);
    }
}

/* ---- The info fields for SEARCH ---- */

static void test_info_keeps_search_headers(void **state)
{
    (void)state;
    const char m[] = "Date: Sun, 9 Sep 2004 03:15:52 -0500\r\n"
                     "From: A <a@example.com>\r\n"
                     "To: b@example.com,\r\n c@example.com\r\n"
                     "Subject:  =?utf-8?q?caf=C3=A9?= ok\r\n"
                     "Message-ID: <1@x>\r\n\r\nbody\r\n";
    struct ph_message_info *info = ph_message_parse(m, sizeof(m) - 1);
    assert_string_equal(info->subject, "=?utf-8?q?caf=C3=A9?= ok");
    assert_string_equal(info->from, "A <a@example.com>");
    assert_string_equal(info->to, "b@example.com, c@example.com");
    assert_null(info->cc);
    assert_null(info->bcc);
    assert_string_equal(info->message_id, "<1@x>");
    assert_true(info->has_date);
    assert_int_equal(info->date, 1094717752);
    assert_int_equal(info->date_tz_offset, -300);
    assert_int_equal(info->header_size, sizeof(m) - 1 - 6);
    assert_memory_equal(info->header, m, info->header_size);
    assert_int_equal(info->parts[0].encoding, PH_MESSAGE_ENCODING_7BIT);
    assert_string_equal(info->parts[0].type, "text");
    assert_string_equal(info->parts[0].subtype, "plain");
    assert_null(info->parts[0].charset);
    ph_message_info_free(&info);
}

static void test_part_tree_links_and_kinds(void **state)
{
    (void)state;
    const char *m = nested_msg;
    struct ph_message_info *info = ph_message_parse(m, strlen(m));
    /* 0 message, 1 alternative, 2 plain, 3 html, 4 rfc822, 5 embedded */
    assert_int_equal(info->n_parts, 6);
    assert_true(info->parts[0].flags & PH_MESSAGE_PART_MULTIPART);
    assert_true(info->parts[0].flags & PH_MESSAGE_PART_MESSAGE);
    assert_int_equal(info->parts[0].n_children, 2);
    assert_int_equal(info->parts[1].parent, 0);
    assert_int_equal(info->parts[1].next_sibling, 4);
    assert_int_equal(info->parts[2].parent, 1);
    assert_true(info->parts[2].flags & PH_MESSAGE_PART_TEXT);
    assert_string_equal(info->parts[3].subtype, "html");
    assert_true(info->parts[4].flags & PH_MESSAGE_PART_RFC822);
    assert_int_equal(info->parts[4].first_child, 5);
    assert_true(info->parts[5].flags & PH_MESSAGE_PART_MESSAGE);
    assert_int_equal(info->parts[5].header_offset, info->parts[4].body_offset);
    ph_message_info_free(&info);
}

/* ---- Deserialization refuses inconsistent data ---- */

static void test_deserialize_refuses_corrupt_info(void **state)
{
    (void)state;
    const char *m = nested_msg;
    struct ph_message_info *info = ph_message_parse(m, strlen(m));
    size_t len;
    char *buf = tm_serialize(info, &len);
    const char *error = NULL;
    struct ph_message_info *back = NULL;

    /* Every single-byte change is either refused or gives an info that
     * serializes to those very bytes (no silent repair, no crash). */
    for (size_t i = 0; i < len; i++) {
        for (unsigned x = 1; x < 256; x <<= 1) {
            buf[i] ^= (char)x;
            if (ph_message_info_deserialize(buf, len, &back, &error) == 0) {
                size_t l2;
                char *s2 = tm_serialize(back, &l2);
                tm_assert_bytes("accepted change", buf, len, s2, l2);
                free(s2);
                ph_message_info_free(&back);
            } else {
                assert_non_null(error);
            }
            buf[i] ^= (char)x;
        }
    }
    assert_int_equal(ph_message_info_deserialize("PHMI\x02", 5, &back, &error),
                     -1);
    assert_string_equal(error, "unsupported message info version");
    assert_int_equal(ph_message_info_deserialize("", 0, &back, &error), -1);
    free(buf);
    ph_message_info_free(&info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_section_parse_accepts_rfc3501_forms),
        cmocka_unit_test(test_section_parse_rejects_malformed_for_bad),
        cmocka_unit_test(test_section_ranges_give_exact_bytes),
        cmocka_unit_test(test_section_single_part_message_is_part_one),
        cmocka_unit_test(test_header_filter_matches_case_insensitively),
        cmocka_unit_test(test_header_filter_adds_no_blank_line_a_header_lacks),
        cmocka_unit_test(
            test_header_fields_ignore_duplicates_and_case_of_names),
        cmocka_unit_test(test_address_forms_skip_comments),
        cmocka_unit_test(test_info_keeps_search_headers),
        cmocka_unit_test(test_part_tree_links_and_kinds),
        cmocka_unit_test(test_deserialize_refuses_corrupt_info),
    };
    int r = cmocka_run_group_tests_name("message", tests, NULL, NULL);
    r += tm_run_fixture_tests();
    r += tm_run_corpus_tests();
    r += tm_run_decode_tests();
    r += tm_run_limit_tests();
    return r == 0 ? 0 : 1;
}
