/* SPDX-License-Identifier: MIT */
/* Unit tests of SEARCH programs: every RFC 3501 key parsed from real
 * command lines, the normalized tree written back, errors, and evaluation
 * over synthetic messages (with the callbacks counted, to prove that cheap
 * keys go first). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <posthorn/imap-search.h>
#include <posthorn/message.h>
#include <posthorn/storage.h>

/* ---- Harness ------------------------------------------------------------ */

/* Parses "a SEARCH <keys>\r\n"; literals are buffered. */
static struct ph_imap_parser *parse_line(const char *keys, size_t len,
                                         const struct ph_imap_command **cmd_r)
{
    struct ph_buf line = {0};
    ph_buf_puts(&line, "a SEARCH ");
    ph_buf_append(&line, keys, len);
    ph_buf_puts(&line, "\r\n");
    struct ph_imap_parser *p = ph_imap_parser_new(NULL);
    size_t off = 0, used;
    enum ph_imap_parse_event ev;
    while ((ev = ph_imap_parser_feed(p, line.data + off, line.len - off,
                                     &used)) == PH_IMAP_PARSE_LITERAL) {
        const char *error;
        assert_int_equal(ph_imap_parser_literal_accept(p, &error), 0);
        off += used;
    }
    if (ev != PH_IMAP_PARSE_COMMAND)
        fail_msg("\"%s\" does not parse: %s", keys,
                 ph_imap_parser_error(p)->text);
    ph_buf_free(&line);
    *cmd_r = ph_imap_parser_command(p);
    return p;
}

static const struct ph_imap_search_params default_params = {
    .max_seq = 10,
    .max_uid = 100,
};

/* "OK <program>", "BAD <text>" or "BADCHARSET <text>". */
static char *search_str(const char *keys, size_t len,
                        const struct ph_imap_search_params *params)
{
    const struct ph_imap_command *cmd;
    struct ph_imap_parser *p = parse_line(keys, len, &cmd);
    struct ph_imap_search *prog = NULL;
    const char *error = NULL;
    int r = ph_imap_search_parse(cmd->args, cmd->n_args, params, &prog, &error);
    char *out;
    if (r == PH_IMAP_SEARCH_OK) {
        struct ph_buf b = {0};
        ph_buf_puts(&b, "OK ");
        ph_imap_search_write(&b, prog);
        out = ph_buf_steal(&b);
        /* Writing is a fixed point of parsing. */
        const struct ph_imap_command *cmd2;
        struct ph_imap_parser *p2 = parse_line(out + 3, strlen(out + 3), &cmd2);
        struct ph_imap_search *prog2 = NULL;
        /* What is written has no charset. */
        struct ph_imap_search_params params2 = *params;
        params2.charset_first = false;
        assert_int_equal(ph_imap_search_parse(cmd2->args, cmd2->n_args,
                                              &params2, &prog2, &error),
                         PH_IMAP_SEARCH_OK);
        struct ph_buf b2 = {0};
        ph_imap_search_write(&b2, prog2);
        assert_string_equal(b2.data, out + 3);
        assert_int_equal(prog2->has_modseq, prog->has_modseq);
        ph_buf_free(&b2);
        ph_imap_search_free(&prog2);
        ph_imap_parser_free(&p2);
        ph_imap_search_free(&prog);
        assert_null(prog);
    } else {
        assert_null(prog);
        out = ph_strdup_printf(
            "%s %s", r == PH_IMAP_SEARCH_BADCHARSET ? "BADCHARSET" : "BAD",
            error);
    }
    ph_imap_parser_free(&p);
    return out;
}

static void check(const char *keys, const char *want, const char *file,
                  int line)
{
    char *got = search_str(keys, strlen(keys), &default_params);
    if (strcmp(got, want) != 0) {
        print_error("SEARCH %s\nwant: %s\ngot:  %s\n", keys, want, got);
        free(got);
        _fail(file, line);
    }
    free(got);
}

#define CHECK(keys, want) check(keys, want, __FILE__, __LINE__)

/* ---- Parsing ------------------------------------------------------------ */

static void test_every_key(void **state)
{
    (void)state;
    CHECK("ALL", "OK ALL");
    CHECK("ANSWERED", "OK ANSWERED");
    CHECK("BCC joe", "OK HEADER BCC joe");
    CHECK("BEFORE 1-Feb-1994", "OK BEFORE 1-Feb-1994");
    CHECK("BODY \"hello world\"", "OK BODY \"hello world\"");
    CHECK("CC \"\"", "OK HEADER CC \"\"");
    CHECK("DELETED", "OK DELETED");
    CHECK("DRAFT", "OK DRAFT");
    CHECK("FLAGGED", "OK FLAGGED");
    CHECK("FROM Smith", "OK HEADER FROM Smith");
    CHECK("HEADER X-Mailer \"Foo Bar\"", "OK HEADER X-Mailer \"Foo Bar\"");
    CHECK("KEYWORD $Forwarded", "OK KEYWORD $Forwarded");
    CHECK("LARGER 1000", "OK LARGER 1000");
    CHECK("NEW", "OK RECENT NOT SEEN");
    CHECK("NOT SEEN", "OK NOT SEEN");
    CHECK("OLD", "OK NOT RECENT");
    CHECK("ON \"07-Feb-1994\"", "OK ON 7-Feb-1994");
    CHECK("OR SEEN FLAGGED", "OK OR SEEN FLAGGED");
    CHECK("RECENT", "OK RECENT");
    CHECK("SEEN", "OK SEEN");
    CHECK("SENTBEFORE 1-Jan-2000", "OK SENTBEFORE 1-Jan-2000");
    CHECK("SENTON 29-Feb-2020", "OK SENTON 29-Feb-2020");
    CHECK("SENTSINCE 31-Dec-1999", "OK SENTSINCE 31-Dec-1999");
    CHECK("SINCE 1-jan-2001", "OK SINCE 1-Jan-2001");
    CHECK("SMALLER 4294967296", "OK SMALLER 4294967296");
    CHECK("SUBJECT {3}\r\nfoo", "OK HEADER SUBJECT foo");
    CHECK("TEXT x", "OK TEXT x");
    CHECK("TO \"a@b\"", "OK HEADER TO a@b");
    CHECK("UID 1:*", "OK UID 1:100");
    CHECK("UNANSWERED", "OK NOT ANSWERED");
    CHECK("UNDELETED", "OK NOT DELETED");
    CHECK("UNDRAFT", "OK NOT DRAFT");
    CHECK("UNFLAGGED", "OK NOT FLAGGED");
    CHECK("UNKEYWORD $Junk", "OK NOT KEYWORD $Junk");
    CHECK("UNSEEN", "OK NOT SEEN");
    CHECK("1:3,*", "OK 1:3,10");
    CHECK("2,1,4:3", "OK 1:4");
    CHECK("MODSEQ 620162338", "OK MODSEQ 620162338");
    CHECK("MODSEQ \"/flags/\\\\draft\" all 620162338", "OK MODSEQ 620162338");
    CHECK("MODSEQ \"/flags/$Junk\" priv 0", "OK MODSEQ 0");
    CHECK("MODSEQ \"/FLAGS/\\\\Seen\" shared 7", "OK MODSEQ 7");
    /* Key names in any case. */
    CHECK("seen Or Flagged deleted", "OK SEEN OR FLAGGED DELETED");
}

static void test_normalization(void **state)
{
    (void)state;
    /* RFC 3501's example: cheap keys first. */
    CHECK("FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
          "OK FLAGGED SINCE 1-Feb-1994 NOT HEADER FROM Smith");
    CHECK("TEXT foo SUBJECT bar SEEN", "OK SEEN HEADER SUBJECT bar TEXT foo");
    CHECK("OR BODY x UID 5", "OK OR UID 5 BODY x");
    CHECK("OR FROM x TO y", "OK OR HEADER FROM x HEADER TO y");
    /* Groups: flattened into the enclosing AND, kept inside OR and NOT. */
    CHECK("(FROM a (TO b)) SEEN", "OK SEEN HEADER FROM a HEADER TO b");
    CHECK("((((SEEN))))", "OK SEEN");
    CHECK("OR (SEEN FLAGGED) DELETED", "OK OR (SEEN FLAGGED) DELETED");
    CHECK("NOT (SEEN TEXT x)", "OK NOT (SEEN TEXT x)");
    CHECK("NOT NOT SEEN", "OK NOT NOT SEEN");
    CHECK("NEW UNSEEN", "OK RECENT NOT SEEN NOT SEEN");
    CHECK("OR NEW OLD", "OK OR (RECENT NOT SEEN) NOT RECENT");
    CHECK("OR OR OR SEEN DRAFT FLAGGED BODY x",
          "OK OR OR OR SEEN DRAFT FLAGGED BODY x");
    CHECK("OR BODY x OR TEXT y SEEN", "OK OR BODY x OR SEEN TEXT y");
    /* Strings that are not atoms are written quoted or as literals. */
    CHECK("SUBJECT \"a \\\"b\\\\\"", "OK HEADER SUBJECT \"a \\\"b\\\\\"");
    CHECK("CHARSET UTF-8 SUBJECT {3}\r\n\xe2\x82\xac",
          "OK HEADER SUBJECT {3}\r\n\xe2\x82\xac");
    CHECK("BODY NIL", "OK BODY \"NIL\"");
    CHECK("HEADER \"X-A\" \"\"", "OK HEADER X-A \"\"");
}

static void test_sets(void **state)
{
    (void)state;
    CHECK("1:*", "OK 1:10");
    CHECK("5:*", "OK 5:10");
    CHECK("20:*", "OK 10:20");
    CHECK("UID 200:*", "OK UID 100:200");
    CHECK("UID 1,3,5:7", "OK UID 1,3,5:7");
    CHECK("4294967295", "OK 4294967295");
    struct ph_imap_search_params empty = {.max_seq = 0, .max_uid = 0};
    char *got = search_str("1:* UID *", 9, &empty);
    assert_string_equal(got, "OK NOT ALL NOT ALL");
    free(got);
    got = search_str("1,2:*", 5, &empty);
    assert_string_equal(got, "OK 1");
    free(got);
    struct ph_imap_search_params few = default_params;
    few.max_ranges = 2;
    got = search_str("1,2,3", 5, &few);
    assert_string_equal(got, "BAD Too many ranges in sequence set");
    free(got);
}

static void test_charset(void **state)
{
    (void)state;
    CHECK("CHARSET UTF-8 ALL", "OK ALL");
    CHECK("CHARSET utf-8 ALL", "OK ALL");
    CHECK("CHARSET \"US-ASCII\" ALL", "OK ALL");
    CHECK("CHARSET {5}\r\nutf-8 ALL", "OK ALL");
    CHECK("CHARSET ISO-8859-1 ALL", "BADCHARSET Unsupported charset");
    CHECK("CHARSET UTF8 ALL", "BADCHARSET Unsupported charset");
    CHECK("CHARSET KOI8-R FOO", "BAD Unknown search key FOO");
    CHECK("CHARSET KOI8-R", "BAD Missing search key");
    CHECK("CHARSET", "BAD Missing charset");
    CHECK("CHARSET (UTF-8) ALL", "BAD Missing charset");
    CHECK("CHARSET UTF-8", "BAD Missing search key");
    /* CHARSET is only a prefix. */
    CHECK("ALL CHARSET UTF-8", "BAD Unknown search key CHARSET");
}

static void test_errors(void **state)
{
    (void)state;
    const struct ph_imap_command *cmd;
    struct ph_imap_parser *p = parse_line("X", 1, &cmd);
    struct ph_imap_search *prog = NULL;
    const char *error = NULL;
    assert_int_equal(
        ph_imap_search_parse(cmd->args, 0, &default_params, &prog, &error),
        PH_IMAP_SEARCH_BAD);
    assert_string_equal(error, "Missing search key");
    assert_null(prog);
    ph_imap_parser_free(&p);

    CHECK("FOO", "BAD Unknown search key FOO");
    CHECK("SEEN FOO", "BAD Unknown search key FOO");
    CHECK("ALLX", "BAD Unknown search key ALLX");
    CHECK("\"SEEN\"", "BAD Invalid search key");
    CHECK("NIL", "BAD Invalid search key");
    CHECK("()", "BAD Empty search key list");
    CHECK("SEEN ()", "BAD Empty search key list");
    CHECK("FROM", "BAD Missing argument for FROM");
    CHECK("HEADER", "BAD Missing argument for HEADER");
    CHECK("HEADER X", "BAD Missing argument for HEADER");
    /* header-fld-name = astring (RFC 3501 9): a name no header field can
     * have (RFC 5322 2.2) is valid syntax that matches no message. */
    CHECK("HEADER \"\" x", "OK NOT ALL");
    CHECK("HEADER a:b x", "OK NOT ALL");
    CHECK("NOT HEADER \"a b\" \"\"", "OK NOT NOT ALL");
    CHECK("HEADER {3}\r\n\x01"
          "bc x",
          "OK NOT ALL");
    CHECK("HEADER \"\" (x)", "BAD Invalid string for HEADER");
    CHECK("HEADER (a) x", "BAD Invalid field name for HEADER");
    CHECK("FROM (a)", "BAD Invalid string for FROM");
    char *got = search_str("FROM {3}\r\na\0b", 13, &default_params);
    assert_string_equal(got, "BAD Invalid string for FROM");
    free(got);
    CHECK("BODY a%", "BAD Invalid string for BODY");
    CHECK("OR SEEN", "BAD Missing argument for OR");
    CHECK("OR", "BAD Missing argument for OR");
    CHECK("NOT", "BAD Missing argument for NOT");
    CHECK("NOT FOO", "BAD Unknown search key FOO");
    CHECK("OR SEEN (FROM)", "BAD Missing argument for FROM");
    CHECK("SINCE 1-Foo-2000", "BAD Invalid date for SINCE");
    CHECK("SENTON 30-Feb-2000", "BAD Invalid date for SENTON");
    CHECK("BEFORE 1-Feb-94", "BAD Invalid date for BEFORE");
    CHECK("ON", "BAD Missing argument for ON");
    CHECK("LARGER x", "BAD Invalid number for LARGER");
    CHECK("LARGER -1", "BAD Invalid number for LARGER");
    CHECK("SMALLER 01", "BAD Invalid number for SMALLER");
    CHECK("SMALLER \"5\"", "BAD Invalid number for SMALLER");
    CHECK("LARGER 18446744073709551616", "BAD Invalid number for LARGER");
    CHECK("KEYWORD \\Seen", "BAD Invalid keyword for KEYWORD");
    CHECK("KEYWORD \"x\"", "BAD Invalid keyword for KEYWORD");
    CHECK("KEYWORD a]", "BAD Invalid keyword for KEYWORD");
    /* flag-keyword = atom, and NIL is an atom. */
    CHECK("UNKEYWORD NIL", "OK NOT KEYWORD NIL");
    CHECK("KEYWORD nil", "OK KEYWORD nil");
    CHECK("UID x", "BAD Invalid sequence set");
    CHECK("UID \"1\"", "BAD Invalid sequence set");
    CHECK("UID", "BAD Missing argument for UID");
    CHECK("0", "BAD Invalid sequence number 0");
    CHECK("1:4294967296", "BAD Sequence number too large");
    CHECK("1,", "BAD Invalid sequence set");
    /* "$" needs the saved result (params.saved), test_saved_result(). */
    CHECK("$", "BAD Saved search results ($) are not supported");
    CHECK("MODSEQ", "BAD Invalid MODSEQ value");
    CHECK("MODSEQ x", "BAD Invalid MODSEQ value");
    CHECK("MODSEQ 9223372036854775808", "BAD Invalid MODSEQ value");
    CHECK("MODSEQ \"/x/y\" all 5", "BAD Invalid MODSEQ entry name");
    CHECK("MODSEQ \"/flags/\" all 5", "BAD Invalid MODSEQ entry name");
    /* attr-flag: a keyword atom or "\\" atom (RFC 7162 7). */
    CHECK("MODSEQ \"/flags/\\\\\" all 5", "BAD Invalid MODSEQ entry name");
    CHECK("MODSEQ \"/flags/a b\" all 5", "BAD Invalid MODSEQ entry name");
    CHECK("MODSEQ \"/flags/a(\" all 5", "BAD Invalid MODSEQ entry name");
    CHECK("MODSEQ \"/flags/\\\\a\\\\b\" shared 5",
          "BAD Invalid MODSEQ entry name");
    CHECK("MODSEQ \"/flags/x\" foo 5", "BAD Invalid MODSEQ entry type");
    CHECK("MODSEQ \"/flags/x\" all", "BAD Invalid MODSEQ value");
    CHECK("MODSEQ \"/flags/x\"", "BAD Invalid MODSEQ entry type");
}

static void test_unknown_key_text_is_bounded(void **state)
{
    (void)state;
    char key[301];
    memset(key, 'K', 300);
    key[300] = '\0';
    char *got = search_str(key, 300, &default_params);
    char want[100];
    snprintf(want, sizeof(want), "BAD Unknown search key %.40s", key);
    assert_string_equal(got, want);
    free(got);
}

static void test_depth(void **state)
{
    (void)state;
    struct ph_buf in = {0};
    for (int i = 0; i < 999; i++)
        ph_buf_puts(&in, "NOT ");
    ph_buf_puts(&in, "SEEN");
    char *got = search_str(in.data, in.len, &default_params);
    assert_memory_equal(got, "OK NOT NOT", 10);
    free(got);
    ph_buf_reset(&in);
    for (int i = 0; i < 1001; i++)
        ph_buf_puts(&in, "NOT ");
    ph_buf_puts(&in, "SEEN");
    got = search_str(in.data, in.len, &default_params);
    assert_string_equal(got, "BAD Search program nested too deeply");
    free(got);
    /* OR chains count too, as do groups. */
    ph_buf_reset(&in);
    for (int i = 0; i < 1001; i++)
        ph_buf_puts(&in, "OR SEEN ");
    ph_buf_puts(&in, "SEEN");
    got = search_str(in.data, in.len, &default_params);
    assert_string_equal(got, "BAD Search program nested too deeply");
    free(got);
    struct ph_imap_search_params shallow = default_params;
    shallow.max_depth = 4; /* a group is a level, and so is its content */
    got = search_str("NOT (NOT (SEEN))", 16, &shallow);
    assert_string_equal(got, "OK NOT NOT SEEN");
    free(got);
    got = search_str("NOT (NOT (NOT SEEN))", 20, &shallow);
    assert_string_equal(got, "BAD Search program nested too deeply");
    free(got);
    ph_buf_free(&in);
}

static void test_modseq_flag(void **state)
{
    (void)state;
    const struct ph_imap_command *cmd;
    struct ph_imap_parser *p = parse_line("OR SEEN MODSEQ 5", 16, &cmd);
    struct ph_imap_search *prog;
    const char *error;
    assert_int_equal(ph_imap_search_parse(cmd->args, cmd->n_args,
                                          &default_params, &prog, &error),
                     PH_IMAP_SEARCH_OK);
    assert_true(prog->has_modseq);
    assert_int_equal(ph_imap_search_cost(prog), PH_IMAP_SEARCH_COST_META);
    ph_imap_search_free(&prog);
    ph_imap_search_free(&prog);
    ph_imap_parser_free(&p);
    p = parse_line("SEEN FROM x", 11, &cmd);
    assert_int_equal(ph_imap_search_parse(cmd->args, cmd->n_args,
                                          &default_params, &prog, &error),
                     PH_IMAP_SEARCH_OK);
    assert_false(prog->has_modseq);
    assert_int_equal(ph_imap_search_cost(prog), PH_IMAP_SEARCH_COST_HEADER);
    ph_imap_search_free(&prog);
    ph_imap_parser_free(&p);
    p = parse_line("SEEN OR FROM x TEXT y", 21, &cmd);
    assert_int_equal(ph_imap_search_parse(cmd->args, cmd->n_args,
                                          &default_params, &prog, &error),
                     PH_IMAP_SEARCH_OK);
    assert_int_equal(ph_imap_search_cost(prog), PH_IMAP_SEARCH_COST_BODY);
    assert_int_equal(prog->root.op, PH_IMAP_SEARCH_AND);
    assert_int_equal(prog->root.n_children, 2);
    assert_int_equal(prog->root.children[0].op, PH_IMAP_SEARCH_FLAG);
    assert_int_equal(prog->root.children[0].flag, PH_FLAG_SEEN);
    assert_int_equal(prog->root.children[1].op, PH_IMAP_SEARCH_OR);
    ph_imap_search_free(&prog);
    ph_imap_parser_free(&p);
}

/* ---- Evaluation --------------------------------------------------------- */

struct test_msg {
    uint32_t uid, flags;
    bool recent;
    const char *keywords[3];
    uint64_t size;
    long long internal_date;
    int internal_tz;
    bool has_date;
    long long date;
    int date_tz;
    uint64_t modseq;
    const char *headers[8]; /* "Name: decoded value" */
    const char *body;
    bool fail; /* the callbacks fail */
};

/* Message 5's callbacks fail while this is set. */
static bool failing;

struct counters {
    const struct test_msg *m;
    unsigned header_calls, text_calls;
    const char *values[8];
};

static int header_cb(void *context, const char *name,
                     const char *const **values_r, size_t *n_r)
{
    struct counters *c = context;
    c->header_calls++;
    if (c->m->fail && failing)
        return -1;
    size_t n = 0, nlen = strlen(name);
    for (size_t i = 0; i < 8 && c->m->headers[i] != NULL; i++) {
        const char *h = c->m->headers[i];
        if (strncasecmp(h, name, nlen) == 0 && h[nlen] == ':')
            c->values[n++] = h + nlen + 2;
    }
    *values_r = c->values;
    *n_r = n;
    return 0;
}

static int text_cb(void *context, bool whole, const char *key, size_t len,
                   bool *match_r)
{
    struct counters *c = context;
    c->text_calls++;
    if (c->m->fail && failing)
        return -1;
    struct ph_buf text = {0};
    if (whole) {
        for (size_t i = 0; i < 8 && c->m->headers[i] != NULL; i++) {
            ph_buf_puts(&text, c->m->headers[i]);
            ph_buf_puts(&text, "\r\n");
        }
        ph_buf_puts(&text, "\r\n");
    }
    ph_buf_puts(&text, c->m->body ? c->m->body : "");
    *match_r = ph_message_text_contains(text.data, text.len, key, len);
    ph_buf_free(&text);
    return 0;
}

/* Messages 1..5 of a mailbox. */
static const struct test_msg msgs[] = {
    {.uid = 10,
     .flags = PH_FLAG_SEEN | PH_FLAG_ANSWERED,
     .size = 500,
     .keywords = {"$Forwarded"},
     /* 1994-02-01 23:30 -0800: Feb 2 in UTC, Feb 1 in its zone. */
     .internal_date = 760174200,
     .internal_tz = -480,
     .has_date = true,
     .date = 760174200,
     .date_tz = -480,
     .modseq = 3,
     .headers = {"From: Joe Smith <joe@example.org>", "To: ann@example.org",
                 "Subject: Stra\xc3\x9f"
                 "e und Platz"},
     .body = "Hello world\r\n"},
    {.uid = 20,
     .flags = PH_FLAG_FLAGGED,
     .recent = true,
     .size = 2000,
     .internal_date = 760160000,
     .internal_tz = 0,
     .has_date = false,
     .modseq = 7,
     .headers = {"From: ann@example.org", "Cc: joe@example.org", "X-Empty: "},
     .body = "Meeting minutes"},
    {.uid = 30,
     .flags = PH_FLAG_DELETED | PH_FLAG_DRAFT,
     .size = 1000,
     .keywords = {"$junk", "work"},
     .internal_date = 0,
     .has_date = true,
     .date = 86400 * 365,
     .modseq = 12,
     .headers = {"Subject: Re: hello", "Bcc: secret@example.org",
                 "Subject: second subject"},
     .body = ""},
    {.uid = 40,
     .recent = true,
     .size = 1001,
     .internal_date = 760160000,
     .modseq = 1,
     .headers = {"Subject: \xce\xa3\xce\x91\xce\xa3"},
     .body = "\xcf\x83\xce\xb1\xcf\x82 text"},
    {.uid = 50,
     .flags = PH_FLAG_SEEN,
     .size = 999,
     .fail = true,
     .headers = {"From: x"}},
};

/* "1 3 5": the sequence numbers that match; "E" where a callback failed. */
static char *run(const char *keys, struct counters *totals)
{
    const struct ph_imap_command *cmd;
    struct ph_imap_parser *p = parse_line(keys, strlen(keys), &cmd);
    struct ph_imap_search *prog;
    const char *error;
    struct ph_imap_search_params params = {.max_seq = 5, .max_uid = 50};
    if (ph_imap_search_parse(cmd->args, cmd->n_args, &params, &prog, &error))
        fail_msg("%s: %s", keys, error);
    struct ph_buf out = {0};
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        const struct test_msg *m = &msgs[i];
        struct counters c = {.m = m};
        size_t nk = 0;
        while (nk < 3 && m->keywords[nk] != NULL)
            nk++;
        struct ph_imap_search_msg sm = {
            .seq = (uint32_t)i + 1,
            .uid = m->uid,
            .flags = m->flags,
            .recent = m->recent,
            .keywords = (char *const *)m->keywords,
            .n_keywords = nk,
            .size = m->size,
            .internal_date = (time_t)m->internal_date,
            .internal_tz = m->internal_tz,
            .has_date = m->has_date,
            .date = (time_t)m->date,
            .date_tz = m->date_tz,
            .modseq = m->modseq,
            .header = header_cb,
            .text_contains = text_cb,
            .context = &c,
        };
        int r = ph_imap_search_match(prog, &sm);
        if (r != 0)
            ph_buf_printf(&out, "%s%s", out.len ? " " : "",
                          r < 0 ? "E" : (char[]){(char)('1' + i), '\0'});
        if (totals != NULL) {
            totals->header_calls += c.header_calls;
            totals->text_calls += c.text_calls;
        }
    }
    ph_imap_search_free(&prog);
    ph_imap_parser_free(&p);
    return ph_buf_steal(&out);
}

static void check_run(const char *keys, const char *want, const char *file,
                      int line)
{
    char *got = run(keys, NULL);
    if (strcmp(got, want) != 0) {
        print_error("SEARCH %s\nwant: \"%s\"\ngot:  \"%s\"\n", keys, want, got);
        free(got);
        _fail(file, line);
    }
    free(got);
}

#define RUN(keys, want) check_run(keys, want, __FILE__, __LINE__)

static void test_match_meta(void **state)
{
    (void)state;
    RUN("ALL", "1 2 3 4 5");
    RUN("SEEN", "1 5");
    RUN("UNSEEN", "2 3 4");
    RUN("ANSWERED", "1");
    RUN("UNANSWERED", "2 3 4 5");
    RUN("FLAGGED", "2");
    RUN("UNFLAGGED", "1 3 4 5");
    RUN("DELETED", "3");
    RUN("UNDELETED", "1 2 4 5");
    RUN("DRAFT", "3");
    RUN("UNDRAFT", "1 2 4 5");
    RUN("RECENT", "2 4");
    RUN("NEW", "2 4");
    RUN("OLD", "1 3 5");
    RUN("KEYWORD $forwarded", "1");
    RUN("KEYWORD $Junk", "3");
    RUN("KEYWORD work", "3");
    RUN("KEYWORD nothing", "");
    RUN("UNKEYWORD $Junk", "1 2 4 5");
    RUN("LARGER 1000", "2 4");
    RUN("SMALLER 1000", "1 5");
    RUN("LARGER 999 SMALLER 1001", "3");
    RUN("2:3", "2 3");
    RUN("*", "5");
    RUN("4:*", "4 5");
    RUN("UID 20:30", "2 3");
    RUN("UID *", "5");
    RUN("UID 35:*", "4 5");
    RUN("UID 1,40", "4");
    RUN("MODSEQ 7", "2 3");
    RUN("MODSEQ 0", "1 2 3 4 5");
    RUN("NOT 2:4", "1 5");
    RUN("OR SEEN FLAGGED", "1 2 5");
    RUN("OR 1 OR 3 5", "1 3 5");
    RUN("NOT OR SEEN FLAGGED", "3 4");
    RUN("(SEEN ANSWERED) ", "1");
    RUN("OR (SEEN ANSWERED) DRAFT", "1 3");
}

static void test_match_dates(void **state)
{
    (void)state;
    /* Message 1: Feb 1 1994 in its own zone (Feb 2 in UTC). */
    RUN("ON 1-Feb-1994", "1");
    RUN("BEFORE 2-Feb-1994", "1 3 5");
    RUN("SINCE 2-Feb-1994", "2 4");
    RUN("SINCE 1-Feb-1994 BEFORE 2-Feb-1994", "1");
    RUN("ON 2-Feb-1994", "2 4");
    RUN("BEFORE 1-Jan-1970", "");
    RUN("ON 1-Jan-1970", "3 5");
    /* SENT*: the Date header; messages without one never match. */
    RUN("SENTON 1-Feb-1994", "1");
    RUN("SENTBEFORE 1-Feb-1994", "3");
    RUN("SENTSINCE 2-Jan-1971", "1");
    RUN("SENTON 1-Jan-1971", "3");
    RUN("NOT SENTON 1-Feb-1994", "2 3 4 5");
}

static void test_match_text(void **state)
{
    (void)state;
    RUN("FROM smith", "1");
    RUN("FROM EXAMPLE.ORG", "1 2");
    RUN("TO ann", "1");
    RUN("CC joe", "2");
    RUN("BCC secret", "3");
    /* Every occurrence of a field is searched. */
    RUN("SUBJECT second", "3");
    /* Unicode case folding through the message layer's matcher. */
    RUN("SUBJECT STRASSE", "1");
    RUN("SUBJECT \"\xcf\x83\xce\xb1\xcf\x82\"", "4");
    RUN("HEADER subject re:", "3");
    /* An empty string: the field exists. */
    RUN("HEADER X-Empty \"\"", "2");
    RUN("HEADER Subject \"\"", "1 3 4");
    RUN("BODY world", "1");
    RUN("BODY minutes", "2");
    RUN("BODY \"\"", "1 2 3 4 5");
    RUN("TEXT ann@", "1 2");
    RUN("TEXT TEXT", "4");
    RUN("BODY Subject", "");
    RUN("TEXT Subject", "1 3 4");
}

static void test_match_failures(void **state)
{
    (void)state;
    /* Message 5's callbacks fail: the answer is an error only where it
     * depends on them. */
    failing = true;
    RUN("FROM zzz", "E");
    RUN("BODY zzz", "E");
    RUN("SEEN FROM zzz", "E");
    RUN("UNSEEN FROM zzz", "");
    RUN("OR SEEN FROM zzz", "1 5");
    RUN("OR FLAGGED FROM zzz", "2 E");
    RUN("NOT FROM zzz", "1 2 3 4 E");
    RUN("NOT BODY \"\"", "");
    failing = false;
}

static void test_cheap_keys_first(void **state)
{
    (void)state;
    /* Only the two messages that are seen and not deleted reach the header
     * key; only message 1 reaches the body key. */
    struct counters totals = {0};
    char *got = run("TEXT hello FROM joe NOT DELETED SEEN", &totals);
    assert_string_equal(got, "1");
    free(got);
    assert_int_equal(totals.header_calls, 2); /* messages 1 and 5 */
    assert_int_equal(totals.text_calls, 1);   /* message 1 */
    memset(&totals, 0, sizeof(totals));
    got = run("OR BODY world SEEN", &totals);
    assert_string_equal(got, "1 5");
    free(got);
    assert_int_equal(totals.text_calls, 3); /* messages 2, 3, 4 */
    memset(&totals, 0, sizeof(totals));
    got = run("UID 20 SUBJECT x BODY y", &totals);
    assert_string_equal(got, "");
    free(got);
    assert_int_equal(totals.header_calls, 1);
    assert_int_equal(totals.text_calls, 0);
}

static void test_callbacks_missing(void **state)
{
    (void)state;
    const struct ph_imap_command *cmd;
    struct ph_imap_parser *p = parse_line("OR SEEN BODY x", 14, &cmd);
    struct ph_imap_search *prog;
    const char *error;
    assert_int_equal(ph_imap_search_parse(cmd->args, cmd->n_args,
                                          &default_params, &prog, &error),
                     0);
    struct ph_imap_search_msg m = {.seq = 1, .uid = 1, .flags = PH_FLAG_SEEN};
    assert_int_equal(ph_imap_search_match(prog, &m), 1);
    m.flags = 0;
    assert_int_equal(ph_imap_search_match(prog, &m), -1);
    ph_imap_search_free(&prog);
    ph_imap_parser_free(&p);
}

/* ---- RFC 5182 "$", RFC 5032 OLDER/YOUNGER, charset first --------------- */

static void test_saved_result(void **state)
{
    (void)state;
    struct ph_imap_seqset saved = {0};
    ph_imap_seqset_add(&saved, 7, 9);
    ph_imap_seqset_add(&saved, 3, 3);
    ph_imap_seqset_sort(&saved);
    struct ph_imap_search_params params = default_params;
    params.saved = &saved;
    /* RFC 5182 3: sequence-set =/ seq-last-command; "$" stands for the
     * saved messages as a sequence set and after UID alike (2.1, "can
     * reference IMAP message sequences or UID sequences"). */
    char *got = search_str("$ SMALLER 4096", 14, &params);
    assert_string_equal(got, "OK UID 3,7:9 SMALLER 4096");
    free(got);
    got = search_str("UID $", 5, &params);
    assert_string_equal(got, "OK UID 3,7:9");
    free(got);
    got = search_str("OR $ 1,5", 8, &params);
    assert_string_equal(got, "OK OR UID 3,7:9 1,5");
    free(got);
    /* seq-last-command is "$" alone, not an element of a larger set. */
    got = search_str("$,1", 3, &params);
    assert_string_equal(got, "BAD Invalid sequence set");
    free(got);
    got = search_str("1:$", 3, &params);
    assert_string_equal(got, "BAD Invalid sequence set");
    free(got);
    /* An empty "$" is "a valid, but non-matching list of messages". */
    struct ph_imap_seqset none = {0};
    params.saved = &none;
    got = search_str("$", 1, &params);
    assert_string_equal(got, "OK NOT ALL");
    free(got);
    ph_imap_seqset_clear(&saved);
}

struct within_calls {
    unsigned n;
    bool younger;
    uint64_t seconds;
};

static void within_cb(void *ctx, bool younger, uint64_t seconds,
                      struct ph_imap_seqset *uids_r)
{
    struct within_calls *c = ctx;
    c->n++;
    c->younger = younger;
    c->seconds = seconds;
    /* Unsorted, as the header allows. */
    ph_imap_seqset_add(uids_r, 9, 9);
    ph_imap_seqset_add(uids_r, 4, 5);
}

static void test_within(void **state)
{
    (void)state;
    /* Without the callback the keys are unknown. */
    CHECK("YOUNGER 10", "BAD Unknown search key YOUNGER");
    struct within_calls calls = {0};
    struct ph_imap_search_params params = default_params;
    params.within = within_cb;
    params.within_ctx = &calls;
    /* RFC 5032 4: "C: a1 SEARCH UNSEEN YOUNGER 259200". */
    char *got = search_str("UNSEEN YOUNGER 259200", 21, &params);
    assert_string_equal(got, "OK NOT SEEN UID 4:5,9");
    free(got);
    assert_true(calls.younger);
    assert_int_equal(calls.seconds, 259200);
    got = search_str("older 1", 7, &params);
    assert_string_equal(got, "OK UID 4:5,9");
    free(got);
    assert_false(calls.younger);
    assert_int_equal(calls.seconds, 1);
    /* RFC 5032 3: ( "OLDER" / "YOUNGER" ) SP nz-number. */
    calls.n = 0;
    static const char *const bad[] = {"OLDER 0", "OLDER -1", "OLDER x",
                                      "YOUNGER 4294967296", "YOUNGER 01"};
    for (size_t i = 0; i < PH_N_ELEMENTS(bad); i++) {
        got = search_str(bad[i], strlen(bad[i]), &params);
        assert_string_equal(got, bad[i][0] == 'O'
                                     ? "BAD Invalid interval for OLDER"
                                     : "BAD Invalid interval for YOUNGER");
        free(got);
    }
    got = search_str("OLDER", 5, &params);
    assert_string_equal(got, "BAD Missing argument for OLDER");
    free(got);
    assert_int_equal(calls.n, 0);
}

static void test_charset_first(void **state)
{
    (void)state;
    /* RFC 5256 5: sort = ["UID" SP] "SORT" SP sort-criteria SP
     * search-criteria, search-criteria = charset 1*(SP search-key): the
     * charset is required and not preceded by CHARSET. */
    struct ph_imap_search_params params = default_params;
    params.charset_first = true;
    static const struct {
        const char *keys, *want;
    } cases[] = {
        {"UTF-8 ALL", "OK ALL"},
        {"us-ascii SEEN", "OK SEEN"},
        {"\"UTF-8\" 1:2", "OK 1:2"},
        {"KOI8-R ALL", "BADCHARSET Unsupported charset"},
        /* The first argument is the charset, whatever it says; the syntax
         * is checked before the charset (RFC 3501 7.1.5). */
        {"ALL", "BAD Missing search key"},
        {"UTF-8", "BAD Missing search key"},
        {"(UTF-8) ALL", "BAD Missing charset"},
        {"CHARSET UTF-8 ALL", "BAD Unknown search key UTF-8"},
        {"CHARSET ALL", "BADCHARSET Unsupported charset"},
        {"KOI8-R FOO", "BAD Unknown search key FOO"},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(cases); i++) {
        char *got = search_str(cases[i].keys, strlen(cases[i].keys), &params);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: want %s, got %s", cases[i].keys, cases[i].want, got);
        free(got);
    }
}

/* ---- RETURN options and ESEARCH ----------------------------------------- */

/* "OK <options> <pos>" or "BAD <text>" for the arguments keys. */
static char *return_str(const char *keys, unsigned accepted)
{
    const struct ph_imap_command *cmd;
    struct ph_imap_parser *p = parse_line(keys, strlen(keys), &cmd);
    struct ph_imap_search_return ret;
    const char *error;
    size_t pos = 0;
    char *out;
    if (ph_imap_search_return_parse(cmd->args, cmd->n_args, &pos, accepted,
                                    &ret, &error) < 0)
        out = ph_strdup_printf("BAD %s", error);
    else if (ret.options & PH_IMAP_RETURN_PARTIAL) {
        struct ph_buf b = {0};
        ph_imap_partial_write(&b, &ret.partial);
        out = ph_strdup_printf("OK %d %#x %zu %s", ret.present, ret.options,
                               pos, b.data);
        ph_buf_free(&b);
    } else
        out = ph_strdup_printf("OK %d %#x %zu", ret.present, ret.options, pos);
    ph_imap_parser_free(&p);
    return out;
}

#define E_PARTIAL "Invalid partial range (n:m or -n:-m, n and m from 1)"

static void test_return_options(void **state)
{
    (void)state;
    const unsigned all = PH_IMAP_RETURN_MIN | PH_IMAP_RETURN_MAX |
                         PH_IMAP_RETURN_ALL | PH_IMAP_RETURN_COUNT |
                         PH_IMAP_RETURN_SAVE | PH_IMAP_RETURN_PARTIAL |
                         PH_IMAP_RETURN_UPDATE | PH_IMAP_RETURN_CONTEXT;
    static const struct {
        const char *keys, *want;
    } cases[] = {
        /* RFC 4731 3.1: "C: A282 SEARCH RETURN (MIN COUNT) FLAGGED". */
        {"RETURN (MIN COUNT) FLAGGED", "OK 1 0x9 2"},
        {"return (min Max all COUNT save) ALL", "OK 1 0x1f 2"},
        /* "If the list of result options is empty ... equivalent to
         * "(ALL)"." */
        {"RETURN () FLAGGED", "OK 1 0x4 2"},
        {"RETURN (SAVE) FLAGGED", "OK 1 0x10 2"},
        {"RETURN (MIN MIN) ALL", "OK 1 0x1 2"},
        /* Not RETURN: nothing read. */
        {"CHARSET UTF-8 ALL", "OK 0 0 0"},
        {"FLAGGED", "OK 0 0 0"},
        {"RETURN", "BAD RETURN takes a list of options"},
        {"RETURN MIN ALL", "BAD RETURN takes a list of options"},
        /* RFC 5267 4.4, 5: PARTIAL, UPDATE, CONTEXT; RFC 9394 4:
         * partial-range-last. */
        {"RETURN (PARTIAL 1:10) ALL", "OK 1 0x20 2 1:10"},
        {"RETURN (partial 500:400 COUNT) ALL", "OK 1 0x28 2 500:400"},
        {"RETURN (PARTIAL -1:-100) ALL", "OK 1 0x20 2 -1:-100"},
        {"RETURN (UPDATE CONTEXT COUNT) ALL", "OK 1 0xc8 2"},
        {"RETURN (PARTIAL 4294967295:1) ALL", "OK 1 0x20 2 4294967295:1"},
        {"RETURN (PARTIAL 1:10 ALL) ALL",
         "BAD PARTIAL and ALL cannot be combined"},
        {"RETURN (PARTIAL 1:10 PARTIAL 11:20) ALL", "BAD PARTIAL given twice"},
        {"RETURN (PARTIAL) ALL", "BAD PARTIAL needs a range"},
        {"RETURN (PARTIAL (1:10)) ALL", "BAD PARTIAL needs a range"},
        {"RETURN (PARTIAL 0:10) ALL", "BAD " E_PARTIAL},
        {"RETURN (PARTIAL 1:-10) ALL", "BAD " E_PARTIAL},
        {"RETURN (PARTIAL -1:10) ALL", "BAD " E_PARTIAL},
        {"RETURN (PARTIAL 1:*) ALL", "BAD " E_PARTIAL},
        {"RETURN (PARTIAL 01:10) ALL", "BAD " E_PARTIAL},
        {"RETURN (PARTIAL 1:4294967296) ALL", "BAD " E_PARTIAL},
        {"RETURN (PARTIAL 1:99999999999999999999) ALL", "BAD " E_PARTIAL},
        {"RETURN (PARTIAL 5) ALL", "BAD " E_PARTIAL},
        {"RETURN (PARTIAL 1:2:3) ALL", "BAD " E_PARTIAL},
        {"RETURN (PARTIAL --1:-2) ALL", "BAD " E_PARTIAL},
        {"RETURN ((MIN)) ALL", "BAD Unknown RETURN option"},
        {"RETURN (\"MIN\") ALL", "BAD Unknown RETURN option"},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(cases); i++) {
        char *got = return_str(cases[i].keys, all);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: want %s, got %s", cases[i].keys, cases[i].want, got);
        free(got);
    }
    /* An option the caller does not take is unknown. */
    char *got = return_str("RETURN (SAVE) ALL", all & ~PH_IMAP_RETURN_SAVE);
    assert_string_equal(got, "BAD Unknown RETURN option");
    free(got);
    got = return_str("RETURN (PARTIAL 1:5) ALL", all & ~PH_IMAP_RETURN_PARTIAL);
    assert_string_equal(got, "BAD Unknown RETURN option");
    free(got);
}

static char *esearch_str(unsigned options, const uint32_t *nums,
                         const uint64_t *modseqs, size_t n)
{
    struct ph_buf b = {0};
    struct ph_imap_search_return ret = {.present = true, .options = options};
    ph_imap_esearch_write(&b, "A282", false, &ret, nums, modseqs, n);
    return ph_buf_steal(&b);
}

#define ESEARCH(opts, nums, modseqs, n, want)                                  \
    do {                                                                       \
        char *got_ = esearch_str(opts, nums, modseqs, n);                      \
        assert_string_equal(got_, want);                                       \
        free(got_);                                                            \
    } while (0)

static void test_esearch_write(void **state)
{
    (void)state;
    const uint32_t nums[] = {2, 10, 11};
    /* RFC 4731 3.1: "S: * ESEARCH (TAG "A282") MIN 2 COUNT 3". */
    ESEARCH(PH_IMAP_RETURN_MIN | PH_IMAP_RETURN_COUNT, nums, NULL, 3,
            "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n");
    /* "S: * ESEARCH (TAG "A283") ALL 2,10:11". */
    ESEARCH(PH_IMAP_RETURN_ALL, nums, NULL, 3,
            "* ESEARCH (TAG \"A282\") ALL 2,10:11\r\n");
    /* No match: MIN, MAX and ALL "MUST NOT" be included, COUNT "MUST
     * always", and the ESEARCH response is still sent. */
    ESEARCH(PH_IMAP_RETURN_MIN | PH_IMAP_RETURN_MAX | PH_IMAP_RETURN_ALL |
                PH_IMAP_RETURN_COUNT,
            nums, NULL, 0, "* ESEARCH (TAG \"A282\") COUNT 0\r\n");
    ESEARCH(PH_IMAP_RETURN_MIN, nums, NULL, 0, "* ESEARCH (TAG \"A282\")\r\n");
    /* UID indicator: "S: * ESEARCH (TAG "A285") UID MIN 7 MAX 3800". */
    struct ph_buf b = {0};
    ph_imap_esearch_write(
        &b, "A285", true,
        &(struct ph_imap_search_return){.options = PH_IMAP_RETURN_MIN |
                                                   PH_IMAP_RETURN_MAX},
        (const uint32_t[]){7, 100, 3800}, NULL, 3);
    assert_string_equal(b.data,
                        "* ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800\r\n");
    ph_buf_free(&b);
    /* ESORT (RFC 5267 3.2, RFC 7162 Example 20): ALL in the sort order,
     * "ALL 5,3,2,1". */
    ESEARCH(PH_IMAP_RETURN_ALL, ((const uint32_t[]){5, 3, 2, 1, 6, 7}), NULL, 6,
            "* ESEARCH (TAG \"A282\") ALL 5,3,2,1,6:7\r\n");
    /* RFC 4731 3.2: MODSEQ of MIN alone, MAX alone, the higher of MIN and
     * MAX, else the highest of all. */
    const uint32_t n4[] = {2, 5, 9, 23};
    const uint64_t m4[] = {917162488, 917162500, 1, 907162321};
    ESEARCH(PH_IMAP_RETURN_MIN, n4, m4, 4,
            "* ESEARCH (TAG \"A282\") MIN 2 MODSEQ 917162488\r\n");
    ESEARCH(PH_IMAP_RETURN_MAX, n4, m4, 4,
            "* ESEARCH (TAG \"A282\") MAX 23 MODSEQ 907162321\r\n");
    ESEARCH(PH_IMAP_RETURN_MIN | PH_IMAP_RETURN_MAX, n4, m4, 4,
            "* ESEARCH (TAG \"A282\") MIN 2 MAX 23 MODSEQ 917162488\r\n");
    ESEARCH(PH_IMAP_RETURN_MIN | PH_IMAP_RETURN_COUNT, n4, m4, 4,
            "* ESEARCH (TAG \"A282\") MIN 2 COUNT 4 MODSEQ 917162500\r\n");
    ESEARCH(PH_IMAP_RETURN_ALL | PH_IMAP_RETURN_SAVE, n4, m4, 4,
            "* ESEARCH (TAG \"A282\") ALL 2,5,9,23 MODSEQ 917162500\r\n");
    /* RFC 7162 3.1.10: MODSEQ only with a non-empty result. */
    ESEARCH(PH_IMAP_RETURN_COUNT, n4, m4, 0,
            "* ESEARCH (TAG \"A282\") COUNT 0\r\n");
}

static char *partial_str(const char *range, unsigned options,
                         const uint32_t *nums, const uint64_t *modseqs,
                         size_t n)
{
    struct ph_imap_search_return ret = {
        .present = true, .options = options | PH_IMAP_RETURN_PARTIAL};
    const char *err;
    struct ph_buf b = {0};
    assert_int_equal(
        ph_imap_partial_parse(range, strlen(range), &ret.partial, &err), 0);
    ph_imap_esearch_write(&b, "A01", true, &ret, nums, modseqs, n);
    return ph_buf_steal(&b);
}

#define PARTIAL(range, opts, nums, modseqs, n, want)                           \
    do {                                                                       \
        char *got_ = partial_str(range, opts, nums, modseqs, n);               \
        assert_string_equal(got_, want);                                       \
        free(got_);                                                            \
    } while (0)

/* RFC 9394 3.1 (RFC 5267 4.4): the results the range names, counted from
 * the first (n:m) or from the last (-n:-m), the range as requested, NIL
 * when it names none. */
static void test_esearch_partial(void **state)
{
    (void)state;
    const uint32_t nums[] = {3, 4, 5, 9, 12, 13};
    const uint64_t ms[] = {10, 60, 20, 30, 50, 40};
    PARTIAL("1:3", 0, nums, NULL, 6,
            "* ESEARCH (TAG \"A01\") UID PARTIAL (1:3 3:5)\r\n");
    PARTIAL("3:1", 0, nums, NULL, 6,
            "* ESEARCH (TAG \"A01\") UID PARTIAL (3:1 3:5)\r\n");
    PARTIAL("-1:-2", 0, nums, NULL, 6,
            "* ESEARCH (TAG \"A01\") UID PARTIAL (-1:-2 12:13)\r\n");
    PARTIAL("-3:-1", 0, nums, NULL, 6,
            "* ESEARCH (TAG \"A01\") UID PARTIAL (-3:-1 9,12:13)\r\n");
    /* "a range that starts or ends higher (or lower) than the current
     * number of results": what is there. */
    PARTIAL("5:500", 0, nums, NULL, 6,
            "* ESEARCH (TAG \"A01\") UID PARTIAL (5:500 12:13)\r\n");
    PARTIAL("-5:-500", 0, nums, NULL, 6,
            "* ESEARCH (TAG \"A01\") UID PARTIAL (-5:-500 3:4)\r\n");
    PARTIAL("7:8", 0, nums, NULL, 6,
            "* ESEARCH (TAG \"A01\") UID PARTIAL (7:8 NIL)\r\n");
    PARTIAL("-7:-4294967295", 0, nums, NULL, 6,
            "* ESEARCH (TAG \"A01\") UID PARTIAL (-7:-4294967295 NIL)\r\n");
    PARTIAL("1:4294967295", 0, nums, NULL, 0,
            "* ESEARCH (TAG \"A01\") UID PARTIAL (1:4294967295 NIL)\r\n");
    /* With COUNT, MIN, MAX; MODSEQ the highest of what is returned. */
    PARTIAL("2:3", PH_IMAP_RETURN_COUNT, nums, ms, 6,
            "* ESEARCH (TAG \"A01\") UID COUNT 6 PARTIAL (2:3 4:5) MODSEQ "
            "60\r\n");
    PARTIAL("-1:-1", PH_IMAP_RETURN_MIN, nums, ms, 6,
            "* ESEARCH (TAG \"A01\") UID MIN 3 PARTIAL (-1:-1 13) MODSEQ "
            "40\r\n");
    PARTIAL("-2:-3", PH_IMAP_RETURN_MIN | PH_IMAP_RETURN_MAX, nums, ms, 6,
            "* ESEARCH (TAG \"A01\") UID MIN 3 MAX 13 PARTIAL (-2:-3 9,12) "
            "MODSEQ 50\r\n");
    PARTIAL("9:10", 0, nums, ms, 6,
            "* ESEARCH (TAG \"A01\") UID PARTIAL (9:10 NIL)\r\n");
    /* SORT order kept: the slice of the sorted list. */
    const uint32_t sorted[] = {9, 3, 4, 13, 12};
    PARTIAL("2:4", 0, sorted, NULL, 5,
            "* ESEARCH (TAG \"A01\") UID PARTIAL (2:4 3:4,13)\r\n");
}

/* ---- SORT criteria ------------------------------------------------------ */

/* "OK REVERSE DATE SUBJECT..." or "BAD <text>" for the first argument. */
static char *criteria_str(const char *keys, bool display)
{
    const struct ph_imap_command *cmd;
    struct ph_imap_parser *p = parse_line(keys, strlen(keys), &cmd);
    struct ph_sort_program_item *prog;
    size_t n;
    const char *error;
    struct ph_buf b = {0};
    if (ph_imap_sort_criteria_parse(&cmd->args[0], display, &prog, &n, &error) <
        0) {
        assert_null(prog);
        ph_buf_printf(&b, "BAD %s", error);
    } else {
        ph_buf_puts(&b, "OK");
        for (size_t i = 0; i < n; i++)
            ph_buf_printf(&b, "%s %s", prog[i].reverse ? " REVERSE" : "",
                          ph_sort_criterion_name(prog[i].criterion));
        free(prog);
    }
    ph_imap_parser_free(&p);
    return ph_buf_steal(&b);
}

static void test_sort_criteria(void **state)
{
    (void)state;
    static const struct {
        const char *keys;
        bool display;
        const char *want;
    } cases[] = {
        /* RFC 5256 5: sort-key = "ARRIVAL" / "CC" / "DATE" / "FROM" /
         * "SIZE" / "SUBJECT" / "TO"; REVERSE applies to the key after it. */
        {"(ARRIVAL CC DATE FROM SIZE SUBJECT TO)", false,
         "OK ARRIVAL CC DATE FROM SIZE SUBJECT TO"},
        /* "C: A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL". */
        {"(SUBJECT REVERSE DATE)", false, "OK SUBJECT REVERSE DATE"},
        {"(reverse subject Reverse size)", false,
         "OK REVERSE SUBJECT REVERSE SIZE"},
        /* RFC 5957 5: sort-key =/ "DISPLAYFROM" / "DISPLAYTO", with
         * SORT=DISPLAY only. */
        {"(DISPLAYFROM REVERSE DISPLAYTO)", true,
         "OK DISPLAYFROM REVERSE DISPLAYTO"},
        {"(DISPLAYFROM)", false, "BAD Unknown sort key"},
        {"()", false, "BAD SORT takes a list of sort criteria"},
        {"DATE", false, "BAD SORT takes a list of sort criteria"},
        {"(REVERSE)", false, "BAD REVERSE needs a sort key"},
        {"(DATE REVERSE)", false, "BAD REVERSE needs a sort key"},
        {"(REVERSE REVERSE DATE)", false, "BAD Unknown sort key"},
        {"(MODSEQ)", false, "BAD Unknown sort key"},
        {"((DATE))", false, "BAD Unknown sort key"},
        {"(\"DATE\")", false, "BAD Unknown sort key"},
        {"(DATEX)", false, "BAD Unknown sort key"},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(cases); i++) {
        char *got = criteria_str(cases[i].keys, cases[i].display);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: want %s, got %s", cases[i].keys, cases[i].want, got);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_normalization),
        cmocka_unit_test(test_sets),
        cmocka_unit_test(test_charset),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_unknown_key_text_is_bounded),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_modseq_flag),
        cmocka_unit_test(test_match_meta),
        cmocka_unit_test(test_match_dates),
        cmocka_unit_test(test_match_text),
        cmocka_unit_test(test_match_failures),
        cmocka_unit_test(test_cheap_keys_first),
        cmocka_unit_test(test_callbacks_missing),
        cmocka_unit_test(test_saved_result),
        cmocka_unit_test(test_within),
        cmocka_unit_test(test_charset_first),
        cmocka_unit_test(test_return_options),
        cmocka_unit_test(test_esearch_write),
        cmocka_unit_test(test_esearch_partial),
        cmocka_unit_test(test_sort_criteria),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
