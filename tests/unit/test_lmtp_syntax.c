/* SPDX-License-Identifier: MIT */
/* The LMTP command grammar (RFC 2033 4, RFC 5321 4.1.2, RFC 1870, RFC 3030,
 * RFC 6152, RFC 6531) and DATA's dot-stuffing (RFC 5321 4.5.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../modules/lmtp/lmtp-syntax.h"

static int parse(const char *line, struct lmtp_command *cmd,
                 struct lmtp_refusal *ref)
{
    memset(ref, 0, sizeof(*ref));
    return lmtp_command_parse(line, strlen(line), cmd, ref);
}

/* Parses line, expecting a refusal with code and enhanced code. */
static void refused(const char *line, int code, const char *enhanced)
{
    struct lmtp_command cmd;
    struct lmtp_refusal ref;
    int r = parse(line, &cmd, &ref);
    if (r != -1 || ref.code != code || strcmp(ref.enhanced, enhanced) != 0)
        fail_msg("%s: got %d %d %s", line, r, ref.code,
                 ref.enhanced ? ref.enhanced : "-");
    lmtp_command_clear(&cmd);
}

static void test_verbs(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        enum lmtp_verb verb;
    } ok[] = {
        {"LHLO mx.example.org", LMTP_VERB_LHLO},
        {"lhlo [127.0.0.1]", LMTP_VERB_LHLO},
        {"LHLO [IPv6:::1]", LMTP_VERB_LHLO},
        {"DATA", LMTP_VERB_DATA},
        {"rset", LMTP_VERB_RSET},
        {"NOOP", LMTP_VERB_NOOP},
        {"NOOP anything at all", LMTP_VERB_NOOP},
        {"QUIT", LMTP_VERB_QUIT},
        {"HELP", LMTP_VERB_HELP},
        {"VRFY someone", LMTP_VERB_VRFY},
        {"STARTTLS", LMTP_VERB_STARTTLS},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(ok); i++) {
        struct lmtp_command cmd;
        struct lmtp_refusal ref;
        if (parse(ok[i].line, &cmd, &ref) != 0)
            fail_msg("%s: %d %s", ok[i].line, ref.code, ref.text);
        assert_int_equal(cmd.verb, ok[i].verb);
        lmtp_command_clear(&cmd);
    }
    /* RFC 2033 4.1: LMTP greets with LHLO; HELO and EHLO are not LMTP. */
    refused("HELO mx.example.org", 500, "5.5.1");
    refused("EHLO mx.example.org", 500, "5.5.1");
    refused("XYZZY", 500, "5.5.1");
    refused("", 500, "5.5.1");
    refused("DATAX", 500, "5.5.1");
    /* "DATA" CRLF, "RSET" CRLF, "QUIT" CRLF (RFC 5321 4.1.1): no
     * arguments. */
    refused("DATA now", 501, "5.5.4");
    refused("QUIT please", 501, "5.5.4");
    refused("LHLO", 501, "5.5.4");
    refused("LHLO bad_host", 501, "5.5.4");
    refused("LHLO -a.example", 501, "5.5.4");
    refused("LHLO a..example", 501, "5.5.4");
    refused("LHLO [999.1.1.1]", 501, "5.5.4");
    refused("VRFY", 501, "5.5.4");
    /* Control characters never belong in a command line. */
    struct lmtp_command cmd;
    struct lmtp_refusal ref;
    assert_int_equal(lmtp_command_parse("NOOP\0x", 6, &cmd, &ref), -1);
    assert_int_equal(ref.code, 500);
    lmtp_command_clear(&cmd);
}

static void test_line_limit(void **state)
{
    (void)state;
    /* RFC 5321 4.5.3.1.4: 512 octets with CRLF; 4.5.3.1.10's "500 Line too
     * long" beyond. */
    char line[LMTP_MAX_LINE + 8];
    memset(line, 'a', sizeof(line));
    memcpy(line, "NOOP ", 5);
    struct lmtp_command cmd;
    struct lmtp_refusal ref;
    assert_int_equal(lmtp_command_parse(line, LMTP_MAX_LINE - 2, &cmd, &ref), 0);
    lmtp_command_clear(&cmd);
    assert_int_equal(lmtp_command_parse(line, LMTP_MAX_LINE - 1, &cmd, &ref), -1);
    assert_int_equal(ref.code, 500);
    lmtp_command_clear(&cmd);
}

static void test_mail(void **state)
{
    (void)state;
    struct lmtp_command cmd;
    struct lmtp_refusal ref;
    assert_int_equal(parse("MAIL FROM:<alice@example.org>", &cmd, &ref), 0);
    assert_int_equal(cmd.verb, LMTP_VERB_MAIL);
    assert_string_equal(cmd.path.local, "alice");
    assert_string_equal(cmd.path.domain, "example.org");
    assert_false(cmd.path.null);
    assert_false(cmd.has_size);
    assert_int_equal(cmd.body, LMTP_BODY_NONE);
    lmtp_command_clear(&cmd);

    /* The null reverse-path of bounces (RFC 5321 4.5.5). */
    assert_int_equal(parse("mail from:<>", &cmd, &ref), 0);
    assert_true(cmd.path.null);
    assert_null(cmd.path.local);
    lmtp_command_clear(&cmd);

    /* SIZE (RFC 1870 6), BODY (RFC 6152 2, RFC 3030 3), SMTPUTF8 (RFC 6531
     * 3.4), in any case. */
    assert_int_equal(parse("MAIL FROM:<a@b.c> SIZE=12345 body=8bitmime SMTPUTF8",
                           &cmd, &ref),
                     0);
    assert_true(cmd.has_size);
    assert_int_equal(cmd.size, 12345);
    assert_int_equal(cmd.body, LMTP_BODY_8BITMIME);
    assert_true(cmd.smtputf8);
    lmtp_command_clear(&cmd);
    assert_int_equal(parse("MAIL FROM:<a@b.c> BODY=BINARYMIME", &cmd, &ref), 0);
    assert_int_equal(cmd.body, LMTP_BODY_BINARYMIME);
    lmtp_command_clear(&cmd);

    /* A space after the colon is common and harmless. */
    assert_int_equal(parse("MAIL FROM: <a@b.c>", &cmd, &ref), 0);
    lmtp_command_clear(&cmd);

    /* A source route is accepted and ignored (RFC 5321 4.1.2). */
    assert_int_equal(parse("MAIL FROM:<@relay.one,@relay.two:joe@x.org>", &cmd,
                           &ref),
                     0);
    assert_string_equal(cmd.path.local, "joe");
    assert_string_equal(cmd.path.domain, "x.org");
    lmtp_command_clear(&cmd);

    /* A quoted local part is unquoted (RFC 5321 4.1.2: "Joe\,Smith"). */
    assert_int_equal(parse("MAIL FROM:<\"Joe\\,Smith\"@x.org>", &cmd, &ref), 0);
    assert_string_equal(cmd.path.local, "Joe,Smith");
    lmtp_command_clear(&cmd);

    /* An address literal. */
    assert_int_equal(parse("MAIL FROM:<a@[192.0.2.1]>", &cmd, &ref), 0);
    assert_string_equal(cmd.path.domain, "[192.0.2.1]");
    lmtp_command_clear(&cmd);

    refused("MAIL", 501, "5.5.2");
    refused("MAIL TO:<a@b.c>", 501, "5.5.2");
    refused("MAIL FROM:a@b.c", 501, "5.1.7");
    refused("MAIL FROM:<a@b.c", 501, "5.1.7");
    refused("MAIL FROM:<a..b@c.d>", 501, "5.1.7");
    refused("MAIL FROM:<.a@c.d>", 501, "5.1.7");
    refused("MAIL FROM:<a@>", 501, "5.1.7");
    refused("MAIL FROM:<a@b_c.d>", 501, "5.1.7");
    refused("MAIL FROM:<a b@c.d>", 501, "5.1.7");
    refused("MAIL FROM:<\"unterminated@c.d>", 501, "5.1.7");
    refused("MAIL FROM:<Postmaster>", 501, "5.1.7");
    /* RFC 5321 4.1.1.11: parameters not implemented are 555. */
    refused("MAIL FROM:<a@b.c> RET=HDRS", 555, "5.5.4");
    refused("MAIL FROM:<a@b.c> SIZE=", 501, "5.5.4");
    refused("MAIL FROM:<a@b.c> SIZE=12x", 501, "5.5.4");
    refused("MAIL FROM:<a@b.c> SIZE=99999999999999999999", 501, "5.5.4");
    refused("MAIL FROM:<a@b.c> SIZE=1 SIZE=2", 501, "5.5.4");
    refused("MAIL FROM:<a@b.c> BODY=9BIT", 501, "5.5.4");
    refused("MAIL FROM:<a@b.c> SMTPUTF8=yes", 501, "5.5.4");
    refused("MAIL FROM:<a@b.c> =x", 501, "5.5.4");
    refused("MAIL FROM:<a@b.c>junk", 501, "5.5.4");
}

static void test_limits(void **state)
{
    (void)state;
    /* RFC 5321 4.5.3.1.1: a local part of at most 64 octets. */
    char line[400];
    char local[70];
    memset(local, 'l', 64);
    local[64] = '\0';
    snprintf(line, sizeof(line), "RCPT TO:<%s@x.org>", local);
    struct lmtp_command cmd;
    struct lmtp_refusal ref;
    assert_int_equal(parse(line, &cmd, &ref), 0);
    lmtp_command_clear(&cmd);
    snprintf(line, sizeof(line), "RCPT TO:<%sl@x.org>", local);
    refused(line, 501, "5.1.3");
    /* 4.5.3.1.3: a path of at most 256 octets, brackets included. */
    char dom[300];
    memset(dom, 'd', sizeof(dom));
    for (size_t i = 60; i < 250; i += 61)
        dom[i] = '.';
    dom[248] = '\0'; /* <l@ + 248 + > = 252 */
    snprintf(line, sizeof(line), "RCPT TO:<l@%s>", dom);
    assert_int_equal(parse(line, &cmd, &ref), 0);
    lmtp_command_clear(&cmd);
    snprintf(line, sizeof(line), "RCPT TO:<%s@%s>", local, dom);
    refused(line, 501, "5.1.3");
}

static void test_rcpt(void **state)
{
    (void)state;
    struct lmtp_command cmd;
    struct lmtp_refusal ref;
    assert_int_equal(parse("RCPT TO:<bob+lists@example.org>", &cmd, &ref), 0);
    assert_int_equal(cmd.verb, LMTP_VERB_RCPT);
    assert_string_equal(cmd.path.local, "bob+lists");
    assert_string_equal(cmd.path.domain, "example.org");
    lmtp_command_clear(&cmd);
    /* RFC 5321 4.5.1: <Postmaster> with no domain, in any case. */
    assert_int_equal(parse("rcpt to:<postmaster>", &cmd, &ref), 0);
    assert_true(cmd.path.postmaster);
    assert_null(cmd.path.domain);
    lmtp_command_clear(&cmd);
    refused("RCPT TO:<>", 501, "5.1.3");
    refused("RCPT FROM:<a@b.c>", 501, "5.5.2");
    refused("RCPT TO:<a@b.c> NOTIFY=NEVER", 555, "5.5.4");
}

static void test_utf8(void **state)
{
    (void)state;
    struct lmtp_command cmd;
    struct lmtp_refusal ref;
    /* RFC 6531 3.3: UTF8-non-ascii in atext and in domain labels. */
    assert_int_equal(parse("MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc"
                           "cher.example> SMTPUTF8",
                           &cmd, &ref),
                     0);
    assert_true(cmd.path.utf8);
    assert_string_equal(cmd.path.local, "j\xc3\xb6rg");
    lmtp_command_clear(&cmd);
    /* RFC 6531 3.5: a non-ASCII sender without SMTPUTF8 is 550 5.6.7. */
    refused("MAIL FROM:<j\xc3\xb6rg@example.org>", 550, "5.6.7");
    /* Malformed UTF-8 is a syntax error, whatever the parameters. */
    refused("MAIL FROM:<j\xc3rg@example.org> SMTPUTF8", 501, "5.1.7");
    refused("RCPT TO:<a@\xff.example>", 501, "5.1.3");
    /* RCPT's path says it is non-ASCII; the session knows if SMTPUTF8 was
     * given. */
    assert_int_equal(parse("RCPT TO:<\xc3\xa9@x.org>", &cmd, &ref), 0);
    assert_true(cmd.path.utf8);
    lmtp_command_clear(&cmd);
}

static void test_bdat(void **state)
{
    (void)state;
    struct lmtp_command cmd;
    struct lmtp_refusal ref;
    /* RFC 3030 2: bdat-cmd ::= "BDAT" SP chunk-size [ SP end-marker ] */
    assert_int_equal(parse("BDAT 1000", &cmd, &ref), 0);
    assert_int_equal(cmd.chunk, 1000);
    assert_false(cmd.last);
    lmtp_command_clear(&cmd);
    assert_int_equal(parse("bdat 0 last", &cmd, &ref), 0);
    assert_int_equal(cmd.chunk, 0);
    assert_true(cmd.last);
    lmtp_command_clear(&cmd);
    refused("BDAT", 501, "5.5.4");
    refused("BDAT x", 501, "5.5.4");
    refused("BDAT 10 FIRST", 501, "5.5.4");
    refused("BDAT 10 LAST x", 501, "5.5.4");
    refused("BDAT -1", 501, "5.5.4");
}

static void test_path_text(void **state)
{
    (void)state;
    static const struct {
        const char *line, *text;
    } cases[] = {
        {"MAIL FROM:<a.b@x.org>", "<a.b@x.org>"},
        {"MAIL FROM:<>", "<>"},
        {"MAIL FROM:<\"a b\"@x.org>", "<\"a b\"@x.org>"},
        {"MAIL FROM:<\"a\\\"b\"@x.org>", "<\"a\\\"b\"@x.org>"},
        /* The least quoting: a dot-atom in quotes loses them. */
        {"MAIL FROM:<\"plain\"@x.org>", "<plain@x.org>"},
        {"MAIL FROM:<\"a..b\"@x.org>", "<\"a..b\"@x.org>"},
        {"RCPT TO:<Postmaster>", "<Postmaster>"},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(cases); i++) {
        struct lmtp_command cmd;
        struct lmtp_refusal ref;
        assert_int_equal(parse(cases[i].line, &cmd, &ref), 0);
        char *t = lmtp_path_text(&cmd.path);
        assert_string_equal(t, cases[i].text);
        free(t);
        lmtp_command_clear(&cmd);
    }
}

/* Feeds in in pieces of step bytes; returns the output and the bytes
 * consumed in *used. */
static char *feed(const char *in, size_t step, size_t *used, bool *done)
{
    struct lmtp_data d = {0};
    struct ph_buf out = {0};
    size_t len = strlen(in), i = 0;
    while (i < len && !d.done) {
        size_t n = len - i < step ? len - i : step;
        i += lmtp_data_feed(&d, in + i, n, &out);
    }
    *used = i;
    *done = d.done;
    ph_buf_putc(&out, '\0');
    return ph_buf_steal(&out);
}

static void test_data(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        size_t used; /* 0: all of in */
        bool done;
    } cases[] = {
        {"Subject: x\r\n\r\nbody\r\n.\r\n", "Subject: x\r\n\r\nbody\r\n", 0, true},
        /* RFC 5321 4.5.2: a leading dot is removed. */
        {"..\r\n..x\r\n.y\r\n.\r\n", ".\r\n.x\r\ny\r\n", 0, true},
        /* A bare LF ends a line as CRLF; ".\n" ends too. */
        {"a\nb\n.\n", "a\r\nb\r\n", 0, true},
        /* What follows the end is the next command's. */
        {"a\r\n.\r\nQUIT\r\n", "a\r\n", 6, true},
        /* A bare CR stays, also right after a dot. */
        {"a\rb\r\n.\rc\r\n\r\r\n.\r\n", "a\rb\r\n\rc\r\n\r\r\n", 0, true},
        /* No end yet. */
        {"a\r\n.", "a\r\n", 0, false},
        {"a\r\n.\r", "a\r\n", 0, false},
        /* An empty message. */
        {".\r\n", "", 0, true},
        /* A dot inside a line is content. */
        {"a.b\r\n .\r\n.\r\n", "a.b\r\n .\r\n", 0, true},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(cases); i++) {
        size_t len = strlen(cases[i].in);
        /* Every split of the input gives the same answer. */
        for (size_t step = 1; step <= len; step++) {
            size_t used;
            bool done;
            char *out = feed(cases[i].in, step, &used, &done);
            if (strcmp(out, cases[i].out) != 0 || done != cases[i].done ||
                used != (cases[i].used ? cases[i].used : len))
                fail_msg("case %zu step %zu: got \"%s\" used %zu done %d", i,
                         step, out, used, done);
            free(out);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verbs),     cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_mail),      cmocka_unit_test(test_limits),
        cmocka_unit_test(test_rcpt),      cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_bdat),      cmocka_unit_test(test_path_text),
        cmocka_unit_test(test_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
