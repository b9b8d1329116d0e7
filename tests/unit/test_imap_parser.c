/* SPDX-License-Identifier: MIT */
/* Unit tests of the IMAP command parser. Every input is parsed three ways,
 * in one piece, byte by byte and in random pieces, and the three event logs
 * (commands with their trees, literal requests, errors, lines) must be the
 * same and equal to the expected log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <posthorn/imap-condstore.h>
#include <posthorn/imap-parser.h>

/* ---- Harness ------------------------------------------------------------ */

enum policy {
    ACCEPT,        /* buffer every literal */
    STREAM_APPEND, /* stream APPEND's message literals, buffer the rest */
    REJECT_SYNC,   /* reject synchronizing literals, accept the others */
    REJECT_ALL,    /* reject every literal */
    NO_DECISION,   /* feed without deciding */
};

struct run {
    struct ph_imap_parser *p;
    enum policy policy;
    struct ph_buf log;
    struct ph_buf stream; /* bytes a sink got */
    size_t sink_ends;
    /* Line mode after a command of this name (AUTHENTICATE, IDLE). */
    const char *line_after;
};

static void dump_bytes(struct ph_buf *b, const char *s, size_t len)
{
    ph_buf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            ph_buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            ph_buf_printf(b, "\\x%02x", c);
        else
            ph_buf_putc(b, (char)c);
    }
    ph_buf_putc(b, '"');
}

static void dump_value(struct ph_buf *b, const struct ph_imap_value *v)
{
    switch (v->type) {
    case PH_IMAP_VALUE_ATOM: ph_buf_puts(b, v->str); break;
    case PH_IMAP_VALUE_NIL: ph_buf_printf(b, "NIL<%s>", v->str); break;
    case PH_IMAP_VALUE_STRING: dump_bytes(b, v->str, v->len); break;
    case PH_IMAP_VALUE_LITERAL:
        ph_buf_printf(b, "%s{%llu}", v->literal8 ? "~" : "",
                      (unsigned long long)v->literal_size);
        dump_bytes(b, v->str, v->len);
        break;
    case PH_IMAP_VALUE_LITERAL_STREAMED:
        ph_buf_printf(b, "{%llu stream}", (unsigned long long)v->literal_size);
        break;
    case PH_IMAP_VALUE_LIST:
        ph_buf_putc(b, '(');
        for (size_t i = 0; i < v->len; i++) {
            if (i > 0)
                ph_buf_putc(b, ' ');
            dump_value(b, &v->list[i]);
        }
        ph_buf_putc(b, ')');
        break;
    }
}

static void sink(void *context, const void *data, size_t len)
{
    struct run *r = context;
    if (data == NULL) {
        assert_int_equal(len, 0);
        r->sink_ends++;
        ph_buf_puts(&r->stream, "|END|");
    } else {
        assert_true(len > 0);
        ph_buf_append(&r->stream, data, len);
    }
}

static void on_literal(struct run *r)
{
    const struct ph_imap_literal *lit = ph_imap_parser_literal(r->p);
    ph_buf_printf(&r->log, "LIT %s %s %llu%s%s arg=%zu depth=%u\n", lit->tag,
                  lit->name, (unsigned long long)lit->size,
                  lit->sync ? " sync" : "", lit->literal8 ? " lit8" : "",
                  lit->arg_index, lit->depth);
    const char *error = NULL;
    switch (r->policy) {
    case ACCEPT:
        if (ph_imap_parser_literal_accept(r->p, &error) < 0) {
            ph_buf_printf(&r->log, "NO %s %s\n", lit->tag, error);
            ph_imap_parser_literal_reject(r->p);
        }
        break;
    case STREAM_APPEND:
        if (strcasecmp(lit->name, "APPEND") == 0 && lit->depth == 0 &&
            lit->arg_index >= 1) {
            ph_imap_parser_literal_stream(r->p, sink, r);
        } else if (ph_imap_parser_literal_accept(r->p, &error) < 0) {
            ph_buf_printf(&r->log, "NO %s %s\n", lit->tag, error);
            ph_imap_parser_literal_reject(r->p);
        }
        break;
    case REJECT_SYNC:
        if (lit->sync) {
            ph_buf_printf(&r->log, "NO %s rejected\n", lit->tag);
            ph_imap_parser_literal_reject(r->p);
        } else if (ph_imap_parser_literal_accept(r->p, &error) < 0) {
            ph_buf_printf(&r->log, "NO %s %s\n", lit->tag, error);
            ph_imap_parser_literal_reject(r->p);
        }
        break;
    case REJECT_ALL:
        ph_buf_printf(&r->log, "NO %s rejected\n", lit->tag);
        ph_imap_parser_literal_reject(r->p);
        break;
    case NO_DECISION: break;
    }
}

static void on_event(struct run *r, enum ph_imap_parse_event ev)
{
    switch (ev) {
    case PH_IMAP_PARSE_MORE: break;
    case PH_IMAP_PARSE_COMMAND: {
        const struct ph_imap_command *cmd = ph_imap_parser_command(r->p);
        ph_buf_printf(&r->log, "CMD %s %s", cmd->tag, cmd->name);
        for (size_t i = 0; i < cmd->n_args; i++) {
            ph_buf_putc(&r->log, ' ');
            dump_value(&r->log, &cmd->args[i]);
        }
        ph_buf_putc(&r->log, '\n');
        if (r->line_after != NULL && strcasecmp(cmd->name, r->line_after) == 0)
            ph_imap_parser_line_mode(r->p);
        break;
    }
    case PH_IMAP_PARSE_LITERAL: on_literal(r); break;
    case PH_IMAP_PARSE_LINE: {
        size_t len;
        const char *line = ph_imap_parser_line(r->p, &len);
        ph_buf_puts(&r->log, "LINE ");
        dump_bytes(&r->log, line, len);
        ph_buf_putc(&r->log, '\n');
        break;
    }
    case PH_IMAP_PARSE_ERROR: {
        const struct ph_imap_parse_error *e = ph_imap_parser_error(r->p);
        ph_buf_printf(&r->log, "BAD %s %s%s\n", e->tag ? e->tag : "*", e->text,
                      e->fatal ? " (fatal)" : "");
        break;
    }
    }
}

/* Feeds input in pieces: split 0 = one piece, 1 = byte by byte, other =
 * random pieces from that seed. Returns the log (caller frees). */
static char *run_split(const struct ph_imap_parser_limits *limits,
                       enum policy policy, const char *line_after,
                       const char *input, size_t len, unsigned split,
                       char **stream_r)
{
    struct run r = {.policy = policy, .line_after = line_after};
    r.p = ph_imap_parser_new(limits);
    size_t pos = 0;
    unsigned seed = split;
    while (pos < len) {
        size_t piece = len - pos;
        if (split == 1)
            piece = 1;
        else if (split > 1)
            piece = 1 + (size_t)(rand_r(&seed) % 23);
        if (piece > len - pos)
            piece = len - pos;
        const char *chunk = input + pos;
        size_t left = piece;
        /* The caller keeps unused bytes and offers them again. */
        for (;;) {
            size_t used = 99999;
            enum ph_imap_parse_event ev =
                ph_imap_parser_feed(r.p, chunk, left, &used);
            assert_true(used <= left);
            chunk += used;
            left -= used;
            on_event(&r, ev);
            if (ev == PH_IMAP_PARSE_MORE) {
                assert_int_equal(left, 0);
                break;
            }
            if (left == 0)
                break;
        }
        pos += piece;
    }
    ph_imap_parser_free(&r.p);
    assert_null(r.p);
    if (stream_r != NULL)
        *stream_r = ph_buf_steal(&r.stream);
    else
        ph_buf_free(&r.stream);
    return ph_buf_steal(&r.log);
}

static void check_log(const struct ph_imap_parser_limits *limits,
                      enum policy policy, const char *line_after,
                      const char *input, size_t len, const char *want,
                      const char *want_stream, const char *file, int line)
{
    static const unsigned splits[] = {0, 1, 2, 3, 7, 1234};
    for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        char *stream = NULL;
        char *got = run_split(limits, policy, line_after, input, len, splits[i],
                              &stream);
        if (strcmp(got, want) != 0) {
            print_error("split %u of:\n%.*s\nwant:\n%sgot:\n%s", splits[i],
                        (int)(len > 400 ? 400 : len), input, want, got);
            free(got);
            free(stream);
            _fail(file, line);
        }
        if (want_stream != NULL && strcmp(stream, want_stream) != 0) {
            print_error("split %u: stream want \"%s\" got \"%s\"\n", splits[i],
                        want_stream, stream);
            free(got);
            free(stream);
            _fail(file, line);
        }
        free(got);
        free(stream);
    }
}

#define CHECK(input, want)                                                     \
    check_log(NULL, ACCEPT, NULL, input, strlen(input), want, NULL, __FILE__,  \
              __LINE__)
#define CHECK_LIMITS(limits, input, want)                                      \
    check_log(limits, ACCEPT, NULL, input, strlen(input), want, NULL,          \
              __FILE__, __LINE__)
#define CHECK_POLICY(policy, input, want)                                      \
    check_log(NULL, policy, NULL, input, strlen(input), want, NULL, __FILE__,  \
              __LINE__)
#define CHECK_BYTES(input, want)                                               \
    check_log(NULL, ACCEPT, NULL, input, sizeof(input) - 1, want, NULL,        \
              __FILE__, __LINE__)

/* ---- Every RFC 3501 command -----------------------------------------------
 */

static void test_any_state_commands(void **state)
{
    (void)state;
    CHECK("a CAPABILITY\r\n", "CMD a CAPABILITY\n");
    CHECK("a1 noop\r\n", "CMD a1 noop\n");
    CHECK("A023 LOGOUT\r\n", "CMD A023 LOGOUT\n");
    CHECK("a STARTTLS\r\n", "CMD a STARTTLS\n");
    CHECK("a ID (\"name\" \"sodr\" \"version\" \"19.34\")\r\n",
          "CMD a ID (\"name\" \"sodr\" \"version\" \"19.34\")\n");
    CHECK("a ID NIL\r\n", "CMD a ID NIL<NIL>\n");
    CHECK("a ENABLE CONDSTORE UTF8=ACCEPT\r\n",
          "CMD a ENABLE CONDSTORE UTF8=ACCEPT\n");
}

static void test_not_authenticated_commands(void **state)
{
    (void)state;
    CHECK("a001 LOGIN SMITH SESAME\r\n", "CMD a001 LOGIN SMITH SESAME\n");
    CHECK("a LOGIN \"fred\" \"p\\\"w \\\\d\"\r\n",
          "CMD a LOGIN \"fred\" \"p\\\"w \\\\d\"\n");
    CHECK("a LOGIN {4}\r\nfred {5}\r\np w\"d\r\n",
          "LIT a LOGIN 4 sync arg=0 depth=0\n"
          "LIT a LOGIN 5 sync arg=1 depth=0\n"
          "CMD a LOGIN {4}\"fred\" {5}\"p w\\\"d\"\n");
    CHECK("a AUTHENTICATE PLAIN\r\n", "CMD a AUTHENTICATE PLAIN\n");
    /* SASL-IR: base64 is atom characters; "=" is an empty response. */
    CHECK("a AUTHENTICATE PLAIN AGZyZWQAc2VzYW1l+/==\r\n",
          "CMD a AUTHENTICATE PLAIN AGZyZWQAc2VzYW1l+/==\n");
    CHECK("a AUTHENTICATE PLAIN =\r\n", "CMD a AUTHENTICATE PLAIN =\n");
}

static void test_authenticated_commands(void **state)
{
    (void)state;
    CHECK("A142 SELECT INBOX\r\n", "CMD A142 SELECT INBOX\n");
    CHECK("a SELECT INBOX (CONDSTORE)\r\n", "CMD a SELECT INBOX (CONDSTORE)\n");
    CHECK("A932 EXAMINE blurdybloop\r\n", "CMD A932 EXAMINE blurdybloop\n");
    CHECK("A003 CREATE owatagusiam/\r\n", "CMD A003 CREATE owatagusiam/\n");
    CHECK("t CREATE \"Sent Items\" (USE (\\Sent))\r\n",
          "CMD t CREATE \"Sent Items\" (USE (\\Sent))\n");
    CHECK("A683 DELETE blurdybloop\r\n", "CMD A683 DELETE blurdybloop\n");
    CHECK("A683 RENAME blurdybloop sarasoop\r\n",
          "CMD A683 RENAME blurdybloop sarasoop\n");
    CHECK("A002 SUBSCRIBE #news.comp.mail.mime\r\n",
          "CMD A002 SUBSCRIBE #news.comp.mail.mime\n");
    CHECK("A002 UNSUBSCRIBE #news.comp.mail.mime\r\n",
          "CMD A002 UNSUBSCRIBE #news.comp.mail.mime\n");
    CHECK("A101 LIST \"\" \"\"\r\n", "CMD A101 LIST \"\" \"\"\n");
    CHECK("A102 LIST #news.comp.mail.misc \"\"\r\n",
          "CMD A102 LIST #news.comp.mail.misc \"\"\n");
    CHECK("A202 LIST ~/Mail/ %\r\n", "CMD A202 LIST ~/Mail/ %\n");
    CHECK("a LIST \"\" *\r\n", "CMD a LIST \"\" *\n");
    CHECK("a LIST \"\" INBOX.*\r\n", "CMD a LIST \"\" INBOX.*\n");
    CHECK("a LIST (SPECIAL-USE) \"\" \"*\" RETURN (CHILDREN)\r\n",
          "CMD a LIST (SPECIAL-USE) \"\" \"*\" RETURN (CHILDREN)\n");
    CHECK("A002 LSUB \"#news.\" \"comp.mail.*\"\r\n",
          "CMD A002 LSUB \"#news.\" \"comp.mail.*\"\n");
    CHECK("A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n",
          "CMD A042 STATUS blurdybloop (UIDNEXT MESSAGES)\n");
    CHECK("a NAMESPACE\r\n", "CMD a NAMESPACE\n");
    CHECK("a SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-\r\n",
          "CMD a SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-\n");
    /* astring allows ']'; '[' outside a section is an atom character. */
    CHECK("a SELECT a[b]c\r\n", "CMD a SELECT a[b]c\n");
}

static void test_append(void **state)
{
    (void)state;
    static const char input[] =
        "A003 APPEND saved-messages (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" "
        "{21}\r\nDate: Mon\r\n\r\nHello!\r\n\r\n";
    check_log(NULL, STREAM_APPEND, NULL, input, sizeof(input) - 1,
              "LIT A003 APPEND 21 sync arg=3 depth=0\n"
              "CMD A003 APPEND saved-messages (\\Seen) \" 7-Feb-1994 "
              "21:52:25 -0800\" {21 stream}\n",
              "Date: Mon\r\n\r\nHello!\r\n|END|", __FILE__, __LINE__);
    /* Buffered when the caller says so. */
    CHECK("a APPEND INBOX {3+}\r\nabc\r\n", "LIT a APPEND 3 arg=1 depth=0\n"
                                            "CMD a APPEND INBOX {3}\"abc\"\n");
    /* A mailbox name literal is buffered, the message streamed. */
    static const char two[] = "a APPEND {5}\r\nDraft {4+}\r\nxy\r\n\r\n";
    check_log(NULL, STREAM_APPEND, NULL, two, sizeof(two) - 1,
              "LIT a APPEND 5 sync arg=0 depth=0\n"
              "LIT a APPEND 4 arg=1 depth=0\n"
              "CMD a APPEND {5}\"Draft\" {4 stream}\n",
              "xy\r\n|END|", __FILE__, __LINE__);
    /* Empty streamed literal: the sink only sees the end. */
    static const char empty[] = "a APPEND x {0}\r\n\r\n";
    check_log(NULL, STREAM_APPEND, NULL, empty, sizeof(empty) - 1,
              "LIT a APPEND 0 sync arg=1 depth=0\n"
              "CMD a APPEND x {0 stream}\n",
              "|END|", __FILE__, __LINE__);
}

static void test_selected_commands(void **state)
{
    (void)state;
    CHECK("FXXZ CHECK\r\n", "CMD FXXZ CHECK\n");
    CHECK("A341 CLOSE\r\n", "CMD A341 CLOSE\n");
    CHECK("A202 EXPUNGE\r\n", "CMD A202 EXPUNGE\n");
    CHECK("a UNSELECT\r\n", "CMD a UNSELECT\n");
    CHECK("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
          "CMD A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\n");
    CHECK("A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX\r\n",
          "LIT A284 SEARCH 6 sync arg=3 depth=0\n"
          "CMD A284 SEARCH CHARSET UTF-8 TEXT {6}\"XXXXXX\"\n");
    CHECK("a SEARCH OR (FROM a SUBJECT \"b c\") (TO d) 1:3,*\r\n",
          "CMD a SEARCH OR (FROM a SUBJECT \"b c\") (TO d) 1:3,*\n");
    CHECK("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n",
          "CMD A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\n");
    CHECK("a FETCH 1 BODY.PEEK[HEADER.FIELDS (A B)]<0.100>\r\n",
          "CMD a FETCH 1 BODY.PEEK[HEADER.FIELDS (A B)]<0.100>\n");
    CHECK("a FETCH 1 (BODY[] BODY[1.2.MIME] body[TEXT]<5> "
          "BINARY.PEEK[1]<0.10> BINARY.SIZE[2])\r\n",
          "CMD a FETCH 1 (BODY[] BODY[1.2.MIME] body[TEXT]<5> "
          "BINARY.PEEK[1]<0.10> BINARY.SIZE[2])\n");
    CHECK("a FETCH 1 BODY[HEADER.FIELDS.NOT (\"X-A]\" Y)]\r\n",
          "CMD a FETCH 1 BODY[HEADER.FIELDS.NOT (\"X-A]\" Y)]\n");
    CHECK("a FETCH 1:* ALL\r\n", "CMD a FETCH 1:* ALL\n");
    CHECK("a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n",
          "CMD a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\n");
    CHECK("a FETCH 1 (ENVELOPE BODYSTRUCTURE INTERNALDATE RFC822.SIZE "
          "RFC822.HEADER RFC822.TEXT RFC822 UID)\r\n",
          "CMD a FETCH 1 (ENVELOPE BODYSTRUCTURE INTERNALDATE RFC822.SIZE "
          "RFC822.HEADER RFC822.TEXT RFC822 UID)\n");
    CHECK("A003 STORE 2:4 +FLAGS (\\Deleted)\r\n",
          "CMD A003 STORE 2:4 +FLAGS (\\Deleted)\n");
    CHECK("a STORE 1 -FLAGS.SILENT (\\Seen $Forwarded)\r\n",
          "CMD a STORE 1 -FLAGS.SILENT (\\Seen $Forwarded)\n");
    CHECK("a STORE 1 (UNCHANGEDSINCE 7) FLAGS \\Seen\r\n",
          "CMD a STORE 1 (UNCHANGEDSINCE 7) FLAGS \\Seen\n");
    CHECK("A003 COPY 2:4 MEETING\r\n", "CMD A003 COPY 2:4 MEETING\n");
    CHECK("a MOVE 1:3 Trash\r\n", "CMD a MOVE 1:3 Trash\n");
    CHECK("A999 UID FETCH 4827313:4828442 FLAGS\r\n",
          "CMD A999 UID FETCH 4827313:4828442 FLAGS\n");
    CHECK("a UID STORE 1,3:5 +FLAGS (\\Seen)\r\n",
          "CMD a UID STORE 1,3:5 +FLAGS (\\Seen)\n");
    CHECK("a UID COPY 1:* x\r\n", "CMD a UID COPY 1:* x\n");
    CHECK("a UID MOVE 7 x\r\n", "CMD a UID MOVE 7 x\n");
    CHECK("a UID SEARCH UID 1:*\r\n", "CMD a UID SEARCH UID 1:*\n");
    CHECK("a UID EXPUNGE 3000:3002\r\n", "CMD a UID EXPUNGE 3000:3002\n");
    CHECK("a IDLE\r\n", "CMD a IDLE\n");
}

/* ---- Tolerances and shapes ---------------------------------------------- */

static void test_tolerances(void **state)
{
    (void)state;
    /* Bare LF, extra spaces, trailing spaces. */
    CHECK("a NOOP\n", "CMD a NOOP\n");
    CHECK("a  FETCH  1   (FLAGS  UID )  \r\n", "CMD a FETCH 1 (FLAGS UID)\n");
    CHECK("a NOOP \r\n", "CMD a NOOP\n");
    CHECK("a X ( )\r\n", "CMD a X ()\n");
    CHECK("a X ((a) ((b)) \"\" {0}\r\n)\r\n",
          "LIT a X 0 sync arg=0 depth=1\n"
          "CMD a X ((a) ((b)) \"\" {0}\"\")\n");
    /* Quoted strings may hold 8-bit bytes and control characters but CR LF;
     * NIL in any case; "NIL" quoted is a string. */
    CHECK("a X \"\xc3\xa9\tz\" nil Nil \"NIL\"\r\n",
          "CMD a X \"\\xc3\\xa9\\x09z\" NIL<nil> NIL<Nil> \"NIL\"\n");
    /* '~' starts an atom unless a literal8 follows. */
    CHECK("a X ~ ~a\r\n", "CMD a X ~ ~a\n");
    /* Tags: any ASTRING-CHAR but '+', including ']'. */
    CHECK("a]1.x NOOP\r\n", "CMD a]1.x NOOP\n");
}

static void test_literal_shapes(void **state)
{
    (void)state;
    /* A literal may hold anything, CRLF included; 8-bit too. */
    CHECK("a X {5}\r\n\r\n)(\xff Y\r\n",
          "LIT a X 5 sync arg=0 depth=0\n"
          "CMD a X {5}\"\\x0d\\x0a)(\\xff\" Y\n");
    /* NUL in a literal is kept, the string getters refuse it. */
    CHECK_BYTES("a X {3}\r\na\0b\r\n",
                "LIT a X 3 sync arg=0 depth=0\nCMD a X {3}\"a\\x00b\"\n");
    /* LITERAL+ and literals inside lists. */
    CHECK("a X ({1+}\r\na {2}\r\nbc) {0+}\r\n\r\n",
          "LIT a X 1 arg=0 depth=1\n"
          "LIT a X 2 sync arg=0 depth=1\n"
          "LIT a X 0 arg=1 depth=0\n"
          "CMD a X ({1}\"a\" {2}\"bc\") {0}\"\"\n");
    /* A literal header must end the line. */
    CHECK("a X {3} abc\r\nb NOOP\r\n",
          "BAD a Expected CRLF after literal size\nCMD b NOOP\n");
    CHECK("a X {3x}\r\nb NOOP\r\n", "BAD a Invalid literal size\nCMD b NOOP\n");
    CHECK("a X {}\r\nb NOOP\r\n", "BAD a Invalid literal size\nCMD b NOOP\n");
    CHECK("a X {+}\r\nb NOOP\r\n", "BAD a Invalid literal size\nCMD b NOOP\n");
    CHECK("a X {3+\r\nb NOOP\r\n", "BAD a Invalid literal size\nCMD b NOOP\n");
    /* A literal right after a value needs a space first. */
    CHECK("a X y{3}\r\nb NOOP\r\n",
          "BAD a Invalid character in atom\nCMD b NOOP\n");
    /* After a literal, a space, ')' or the end of the line. */
    CHECK("a X {1}\r\nay\r\nb NOOP\r\n",
          "LIT a X 1 sync arg=0 depth=0\n"
          "BAD a Missing space between arguments\nCMD b NOOP\n");
}

static void test_literal8(void **state)
{
    (void)state;
    CHECK("a X ~{3}\r\nb NOOP\r\n",
          "BAD a Binary literals are not supported\nCMD b NOOP\n");
    /* Non-synchronizing: the literal is discarded. */
    CHECK("a X ~{3+}\r\n\r\nZ more\r\nb NOOP\r\n",
          "BAD a Binary literals are not supported\nCMD b NOOP\n");
    struct ph_imap_parser_limits limits;
    ph_imap_parser_limits_default(&limits);
    limits.allow_literal8 = true;
    CHECK_LIMITS(&limits, "a APPEND x ~{3}\r\nabc\r\n",
                 "LIT a APPEND 3 sync lit8 arg=1 depth=0\n"
                 "CMD a APPEND x ~{3}\"abc\"\n");
}

static void test_sync_literal_reject(void **state)
{
    (void)state;
    /* A rejected synchronizing literal ends the command: the client does
     * not send it, the next line is a new command. */
    CHECK_POLICY(REJECT_SYNC, "a LOGIN {4}\r\nb NOOP\r\n",
                 "LIT a LOGIN 4 sync arg=0 depth=0\n"
                 "NO a rejected\n"
                 "CMD b NOOP\n");
    CHECK_POLICY(REJECT_SYNC, "a X (({4}\r\nb NOOP\r\n",
                 "LIT a X 4 sync arg=0 depth=2\n"
                 "NO a rejected\n"
                 "CMD b NOOP\n");
}

static void test_nonsync_literal_reject(void **state)
{
    (void)state;
    /* RFC 7888 section 4: read and discard the literal and the rest of the
     * command, which may hold more literals. */
    CHECK_POLICY(
        REJECT_ALL,
        "a APPEND x {10+}\r\nb NOOP\r\n\r\n) {3+}\r\nabc\r\nc NOOP\r\n",
        "LIT a APPEND 10 arg=1 depth=0\n"
        "NO a rejected\n"
        "CMD c NOOP\n");
    /* ... up to a synchronizing literal, which the client then never
     * sends. */
    CHECK_POLICY(REJECT_ALL, "a X {2+}\r\nab {3}\r\nb NOOP\r\n",
                 "LIT a X 2 arg=0 depth=0\n"
                 "NO a rejected\n"
                 "CMD b NOOP\n");
}

static void test_literal_limits(void **state)
{
    (void)state;
    struct ph_imap_parser_limits limits;
    ph_imap_parser_limits_default(&limits);
    limits.max_literal_size = 4;
    limits.max_command_size = 200;
    /* accept() refuses what is over the limit with a text for NO. */
    CHECK_LIMITS(&limits, "a LOGIN {5}\r\nb NOOP\r\n",
                 "LIT a LOGIN 5 sync arg=0 depth=0\n"
                 "NO a Literal too large (5 bytes, at most 4)\n"
                 "CMD b NOOP\n");
    CHECK_LIMITS(&limits, "a LOGIN {5+}\r\nabcde\r\nb NOOP\r\n",
                 "LIT a LOGIN 5 arg=0 depth=0\n"
                 "NO a Literal too large (5 bytes, at most 4)\n"
                 "CMD b NOOP\n");
    CHECK_LIMITS(&limits, "a LOGIN {4}\r\nabcd x\r\n",
                 "LIT a LOGIN 4 sync arg=0 depth=0\n"
                 "CMD a LOGIN {4}\"abcd\" x\n");
    /* Without a decision: buffered when it fits, else a BAD. */
    check_log(&limits, NO_DECISION, NULL, "a X {4}\r\nabcd\r\n",
              strlen("a X {4}\r\nabcd\r\n"),
              "LIT a X 4 sync arg=0 depth=0\nCMD a X {4}\"abcd\"\n", NULL,
              __FILE__, __LINE__);
    const char *big = "a X {5+}\r\nabcde\r\nb NOOP\r\n";
    check_log(&limits, NO_DECISION, NULL, big, strlen(big),
              "LIT a X 5 arg=0 depth=0\nBAD a Literal too large\n"
              "CMD b NOOP\n",
              NULL, __FILE__, __LINE__);
    /* The command's memory bounds many small literals together. */
    struct ph_buf in = {0};
    ph_buf_puts(&in, "a X");
    for (int i = 0; i < 10; i++)
        ph_buf_puts(&in, " {4+}\r\nabcd");
    ph_buf_puts(&in, "\r\nb NOOP\r\n");
    /* Where it stops depends on the value size: check the outcome. */
    char *got = run_split(&limits, ACCEPT, NULL, in.data, in.len, 0, NULL);
    assert_non_null(strstr(got, "NO a Literal too large"));
    assert_non_null(strstr(got, "CMD b NOOP\n"));
    assert_null(strstr(got, "CMD a"));
    char *bytewise = run_split(&limits, ACCEPT, NULL, in.data, in.len, 1, NULL);
    assert_string_equal(got, bytewise);
    free(got);
    free(bytewise);
    ph_buf_free(&in);
}

static void test_huge_literal_sizes(void **state)
{
    (void)state;
    /* Sizes beyond 32 bits are reported; the caller decides. */
    CHECK_POLICY(REJECT_ALL, "a APPEND x {4294967296}\r\nb NOOP\r\n",
                 "LIT a APPEND 4294967296 sync arg=1 depth=0\n"
                 "NO a rejected\nCMD b NOOP\n");
    /* Sizes beyond 64 bits: synchronizing ends the command... */
    CHECK("a X {99999999999999999999999}\r\nb NOOP\r\n",
          "BAD a Invalid literal size\nCMD b NOOP\n");
    /* ... non-synchronizing cannot be skipped: fatal. */
    CHECK("a X {99999999999999999999999+}\r\nb NOOP\r\n",
          "BAD a Invalid literal size (fatal)\n");
    /* Met while skipping after an error: fatal too. */
    CHECK("a X ) {99999999999999999999999+}\r\nb NOOP\r\n",
          "BAD a Unexpected ')'\nBAD * Invalid literal size (fatal)\n");
}

/* ---- Streaming ---------------------------------------------------------- */

static void stream_count(void *context, const void *data, size_t len)
{
    size_t *n = context;
    if (data != NULL)
        *n += len;
}

static void test_stream_large_literal(void **state)
{
    (void)state;
    /* 20 MB through the sink in 64 KiB reads; nothing is buffered. */
    struct ph_imap_parser *p = ph_imap_parser_new(NULL);
    const char *hdr = "a APPEND INBOX {20971520}\r\n";
    size_t used;
    assert_int_equal(ph_imap_parser_feed(p, hdr, strlen(hdr), &used),
                     PH_IMAP_PARSE_LITERAL);
    assert_int_equal(used, strlen(hdr));
    size_t got = 0;
    ph_imap_parser_literal_stream(p, stream_count, &got);
    static char chunk[65536];
    memset(chunk, 'x', sizeof(chunk));
    for (size_t sent = 0; sent < 20971520; sent += sizeof(chunk)) {
        assert_int_equal(ph_imap_parser_feed(p, chunk, sizeof(chunk), &used),
                         PH_IMAP_PARSE_MORE);
        assert_int_equal(used, sizeof(chunk));
    }
    assert_int_equal(got, 20971520);
    assert_int_equal(ph_imap_parser_feed(p, "\r\n", 2, &used),
                     PH_IMAP_PARSE_COMMAND);
    const struct ph_imap_command *cmd = ph_imap_parser_command(p);
    assert_int_equal(cmd->n_args, 2);
    assert_int_equal(cmd->args[1].type, PH_IMAP_VALUE_LITERAL_STREAMED);
    assert_int_equal(cmd->args[1].literal_size, 20971520);
    ph_imap_parser_free(&p);
}

/* ---- Errors ------------------------------------------------------------- */

static void test_bad_syntax(void **state)
{
    (void)state;
    CHECK("* NOOP\r\nb NOOP\r\n", "BAD * Invalid tag\nCMD b NOOP\n");
    CHECK("+ NOOP\r\n", "BAD * Invalid tag\n");
    CHECK("a+b NOOP\r\n", "BAD * Invalid tag\n");
    CHECK(" a NOOP\r\n", "BAD * Invalid tag\n");
    CHECK("(a NOOP\r\n", "BAD * Invalid tag\n");
    CHECK("a\r\n", "BAD a Missing command\n");
    CHECK("a \r\n", "BAD a Missing command\n");
    /* RFC 3501 7.1.3: a line without a tag is answered untagged; an empty
     * one too, so no client waits for an answer that never comes. */
    CHECK("\r\nb NOOP\r\n", "BAD * Empty command line\nCMD b NOOP\n");
    CHECK("\n\r\n\n", "BAD * Empty command line\nBAD * Empty command line\n"
                      "BAD * Empty command line\n");
    CHECK("   \r\nb NOOP\r\n", "BAD * Invalid tag\nCMD b NOOP\n");
    CHECK("\t\r\n", "BAD * Invalid tag\n");
    CHECK("a (NOOP)\r\n", "BAD a Invalid command name\n");
    CHECK("a NO*OP\r\n", "BAD a Invalid command name\n");
    CHECK("a {4}\r\n", "BAD a Invalid command name\n");
    CHECK("a X (b\r\nc NOOP\r\n", "BAD a Missing ')'\nCMD c NOOP\n");
    CHECK("a X b)\r\n", "BAD a Unexpected ')'\n");
    CHECK("a X ())\r\n", "BAD a Unexpected ')'\n");
    CHECK("a X \"abc\r\nb NOOP\r\n",
          "BAD a Unterminated quoted string\nCMD b NOOP\n");
    CHECK("a X \"abc\nb NOOP\r\n",
          "BAD a Unterminated quoted string\nCMD b NOOP\n");
    CHECK("a X \"a\\bc\"\r\n", "BAD a Invalid escape in quoted string\n");
    CHECK("a X \"a\"b\r\n", "BAD a Missing space between arguments\n");
    CHECK("a X (a)(b)\r\n", "BAD a Missing space between arguments\n");
    CHECK("a X a\"b\"\r\n", "BAD a Invalid character in atom\n");
    CHECK("a X a(b)\r\n", "BAD a Invalid character in atom\n");
    CHECK("a X a\x01\r\n", "BAD a Control character in command\n");
    CHECK("a X \x7f\r\n", "BAD a Control character in command\n");
    CHECK("a NOOP\rb NOOP\r\n", "BAD a CR not followed by LF\n");
    CHECK("a NOOP\r\r\nb NOOP\r\n",
          "BAD a CR not followed by LF\nCMD b NOOP\n");
    /* Sections and partials. */
    CHECK("a FETCH 1 BODY[HEADER\r\nb NOOP\r\n",
          "BAD a Unterminated section\nCMD b NOOP\n");
    CHECK("a FETCH 1 BODY[[]\r\n", "BAD a Invalid character in section\n");
    CHECK("a FETCH 1 BODY[\"x]\r\n", "BAD a Unterminated quoted string\n");
    CHECK("a FETCH 1 BODY[]x\r\n",
          "BAD a Unexpected character after section\n");
    CHECK("a FETCH 1 BODY[]<>\r\n", "BAD a Invalid partial\n");
    CHECK("a FETCH 1 BODY[]<1.>\r\n", "BAD a Invalid partial\n");
    CHECK("a FETCH 1 BODY[]<.1>\r\n", "BAD a Invalid partial\n");
    CHECK("a FETCH 1 BODY[]<1.2.3>\r\n", "BAD a Invalid partial\n");
    CHECK("a FETCH 1 BODY[]<1>x\r\n", "BAD a Invalid partial\n");
    CHECK("a FETCH 1 BODY[]<1\r\n", "BAD a Invalid partial\n");
    /* A literal inside a section is not supported. */
    CHECK("a FETCH 1 BODY[HEADER.FIELDS {4+}\r\nFrom)]\r\nb NOOP\r\n",
          "BAD a Invalid character in section\nCMD b NOOP\n");
}

/* Sections are FETCH's (RFC 3501 9, fetch-att): elsewhere "BODY[x" is an
 * atom of ASTRING-CHARs ("[" and "]" are), a mailbox name, and what follows
 * it is the next argument. */
static void test_sections_only_in_fetch(void **state)
{
    (void)state;
    CHECK("a SELECT BODY[x\r\n", "CMD a SELECT BODY[x\n");
    CHECK("a STATUS body[x (MESSAGES)\r\n", "CMD a STATUS body[x (MESSAGES)\n");
    CHECK("a RENAME BINARY[1]< BODY.PEEK[\r\n",
          "CMD a RENAME BINARY[1]< BODY.PEEK[\n");
    CHECK("a X (BODY[ y\r\n", "BAD a Missing ')'\n");
    CHECK("a SELECT BODY[\"x\"]\r\n", "BAD a Invalid character in atom\n");
    CHECK("a UID FETCH 1 BODY[HEADER.FIELDS (A B)]\r\n",
          "CMD a UID FETCH 1 BODY[HEADER.FIELDS (A B)]\n");
    CHECK("a uid fetch 1 (BODY.PEEK[1 2] UID)\r\n",
          "CMD a uid fetch 1 (BODY.PEEK[1 2] UID)\n");
    CHECK("a UID STORE 1 FLAGS (BODY[x)\r\n",
          "CMD a UID STORE 1 FLAGS (BODY[x)\n");
}

static void test_nul_and_8bit(void **state)
{
    (void)state;
    CHECK_BYTES("\0a NOOP\r\nb NOOP\r\n",
                "BAD * NUL byte in command\nCMD b NOOP\n");
    CHECK_BYTES("a\0 NOOP\r\n", "BAD * NUL byte in command\n");
    CHECK_BYTES("a NO\0OP\r\n", "BAD a NUL byte in command\n");
    CHECK_BYTES("a X a\0\r\n", "BAD a NUL byte in command\n");
    CHECK_BYTES("a X \"a\0\"\r\n", "BAD a NUL byte in command\n");
    CHECK_BYTES("a X \0\r\n", "BAD a NUL byte in command\n");
    CHECK_BYTES("a X (a)\0\r\n", "BAD a NUL byte in command\n");
    CHECK_BYTES("a FETCH 1 BODY[\0]\r\n", "BAD a NUL byte in command\n");
    CHECK("a X \xc3\xa9\r\n", "BAD a 8-bit character in atom\n");
    CHECK("a X ab\xff\r\n", "BAD a 8-bit character in atom\n");
    CHECK("\xc3\xa9 NOOP\r\n", "BAD * Invalid tag\n");
    CHECK("a N\xc3\xa9\r\n", "BAD a Invalid command name\n");
}

static void test_long_lines(void **state)
{
    (void)state;
    struct ph_imap_parser_limits limits;
    ph_imap_parser_limits_default(&limits);
    limits.max_line_length = 20;
    /* 20 bytes before CRLF pass, 21 do not. */
    CHECK_LIMITS(&limits, "a X 1234567890123456\r\n",
                 "CMD a X 1234567890123456\n");
    CHECK_LIMITS(&limits, "a X 12345678901234567\r\nb NOOP\r\n",
                 "BAD a Command line too long\nCMD b NOOP\n");
    /* The count starts again after a literal. */
    CHECK_LIMITS(&limits, "a X 1234567890 {3}\r\nabc 12345678901234567\r\n",
                 "LIT a X 3 sync arg=1 depth=0\n"
                 "CMD a X 1234567890 {3}\"abc\" 12345678901234567\n");
    /* Default: 64 KiB. */
    struct ph_buf in = {0};
    ph_buf_puts(&in, "a X ");
    for (int i = 0; i < 65536; i++)
        ph_buf_putc(&in, 'x');
    ph_buf_puts(&in, "\r\nb NOOP\r\n");
    check_log(NULL, ACCEPT, NULL, in.data, in.len,
              "BAD a Command line too long\nCMD b NOOP\n", NULL, __FILE__,
              __LINE__);
    ph_buf_free(&in);
}

static void test_long_tag(void **state)
{
    (void)state;
    struct ph_buf in = {0};
    for (int i = 0; i < 128; i++)
        ph_buf_putc(&in, 't');
    ph_buf_puts(&in, " NOOP\r\n");
    char *want = ph_strdup_printf("CMD %.*s NOOP\n", 128, in.data);
    check_log(NULL, ACCEPT, NULL, in.data, in.len, want, NULL, __FILE__,
              __LINE__);
    free(want);
    ph_buf_reset(&in);
    for (int i = 0; i < 129; i++)
        ph_buf_putc(&in, 't');
    ph_buf_puts(&in, " NOOP\r\nb NOOP\r\n");
    check_log(NULL, ACCEPT, NULL, in.data, in.len,
              "BAD * Tag too long\nCMD b NOOP\n", NULL, __FILE__, __LINE__);
    ph_buf_free(&in);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    struct ph_buf in = {0}, want = {0};
    ph_buf_puts(&in, "a X ");
    ph_buf_puts(&want, "CMD a X ");
    for (int i = 0; i < 64; i++) {
        ph_buf_putc(&in, '(');
        ph_buf_putc(&want, '(');
    }
    for (int i = 0; i < 64; i++) {
        ph_buf_putc(&in, ')');
        ph_buf_putc(&want, ')');
    }
    ph_buf_puts(&in, "\r\n");
    ph_buf_puts(&want, "\n");
    check_log(NULL, ACCEPT, NULL, in.data, in.len, want.data, NULL, __FILE__,
              __LINE__);
    ph_buf_reset(&in);
    ph_buf_puts(&in, "a X ");
    for (int i = 0; i < 10000; i++)
        ph_buf_putc(&in, '(');
    ph_buf_puts(&in, "\r\nb NOOP\r\n");
    check_log(NULL, ACCEPT, NULL, in.data, in.len,
              "BAD a Lists nested too deeply\nCMD b NOOP\n", NULL, __FILE__,
              __LINE__);
    ph_buf_free(&in);
    ph_buf_free(&want);
}

static void test_too_many_args(void **state)
{
    (void)state;
    struct ph_imap_parser_limits limits;
    ph_imap_parser_limits_default(&limits);
    limits.max_args = 4;
    CHECK_LIMITS(&limits, "a X a (b c)\r\n", "CMD a X a (b c)\n");
    CHECK_LIMITS(&limits, "a X a (b c) d\r\nb NOOP\r\n",
                 "BAD a Too many arguments\nCMD b NOOP\n");
    CHECK_LIMITS(&limits, "a X a b c d \"e\"\r\n",
                 "BAD a Too many arguments\n");
    /* Met at a literal: the literal is not requested; the non-synchronizing
     * one is skipped. */
    CHECK_LIMITS(&limits, "a X a b c d {4+}\r\nabcd\r\nb NOOP\r\n",
                 "BAD a Too many arguments\nCMD b NOOP\n");
}

static void test_command_size(void **state)
{
    (void)state;
    struct ph_imap_parser_limits limits;
    ph_imap_parser_limits_default(&limits);
    limits.max_command_size = 300;
    struct ph_buf in = {0};
    ph_buf_puts(&in, "a X");
    for (int i = 0; i < 40; i++)
        ph_buf_puts(&in, " abcdefghij");
    ph_buf_puts(&in, "\r\nb NOOP\r\n");
    check_log(&limits, ACCEPT, NULL, in.data, in.len,
              "BAD a Command too long\nCMD b NOOP\n", NULL, __FILE__, __LINE__);
    ph_buf_free(&in);
}

/* ---- Line mode ---------------------------------------------------------- */

static void test_line_mode(void **state)
{
    (void)state;
    const char *in = "a AUTHENTICATE PLAIN\r\nAGZyZWQAc2VzYW1l\r\nb NOOP\r\n";
    check_log(NULL, ACCEPT, "AUTHENTICATE", in, strlen(in),
              "CMD a AUTHENTICATE PLAIN\n"
              "LINE \"AGZyZWQAc2VzYW1l\"\n"
              "CMD b NOOP\n",
              NULL, __FILE__, __LINE__);
    in = "a IDLE\r\nDONE\nb NOOP\r\n";
    check_log(NULL, ACCEPT, "IDLE", in, strlen(in),
              "CMD a IDLE\nLINE \"DONE\"\nCMD b NOOP\n", NULL, __FILE__,
              __LINE__);
    /* Raw: anything but LF; only the final CR goes. */
    static const char raw[] = "a IDLE\r\n* (\"x\r\0\r\r\nb NOOP\r\n";
    check_log(NULL, ACCEPT, "IDLE", raw, sizeof(raw) - 1,
              "CMD a IDLE\nLINE \"* (\\\"x\\x0d\\x00\\x0d\"\nCMD b NOOP\n",
              NULL, __FILE__, __LINE__);
    in = "a IDLE\r\n\r\n";
    check_log(NULL, ACCEPT, "IDLE", in, strlen(in), "CMD a IDLE\nLINE \"\"\n",
              NULL, __FILE__, __LINE__);
    struct ph_imap_parser_limits limits;
    ph_imap_parser_limits_default(&limits);
    limits.max_line_length = 6;
    in = "a IDLE\r\nDONEXY\r\nb IDLE\r\nDONEXYZ\r\nc NOOP\r\n";
    check_log(&limits, ACCEPT, "IDLE", in, strlen(in),
              "CMD a IDLE\nLINE \"DONEXY\"\nCMD b IDLE\nBAD * Line too long\n"
              "CMD c NOOP\n",
              NULL, __FILE__, __LINE__);
    /* The line mode's CR counts when it is not the last. */
    in = "a IDLE\r\nDON\rEXY\r\nc NOOP\r\n";
    check_log(&limits, ACCEPT, "IDLE", in, strlen(in),
              "CMD a IDLE\nBAD * Line too long\nCMD c NOOP\n", NULL, __FILE__,
              __LINE__);
}

/* ---- Pipelining --------------------------------------------------------- */

static void test_pipelined_commands(void **state)
{
    (void)state;
    struct ph_buf in = {0}, want = {0};
    for (int i = 0; i < 10000; i++) {
        switch (i % 4) {
        case 0:
            ph_buf_printf(&in, "t%d NOOP\r\n", i);
            ph_buf_printf(&want, "CMD t%d NOOP\n", i);
            break;
        case 1:
            ph_buf_printf(&in, "t%d FETCH %d (FLAGS BODY.PEEK[1]<0.5>)\r\n", i,
                          i);
            ph_buf_printf(&want, "CMD t%d FETCH %d (FLAGS BODY.PEEK[1]<0.5>)\n",
                          i, i);
            break;
        case 2:
            ph_buf_printf(&in, "t%d LOGIN {2+}\r\nab \"c\"\r\n", i);
            ph_buf_printf(&want,
                          "LIT t%d LOGIN 2 arg=0 depth=0\n"
                          "CMD t%d LOGIN {2}\"ab\" \"c\"\n",
                          i, i);
            break;
        default:
            ph_buf_printf(&in, "t%d X )\r\n", i);
            ph_buf_printf(&want, "BAD t%d Unexpected ')'\n", i);
            break;
        }
    }
    char *whole = run_split(NULL, ACCEPT, NULL, in.data, in.len, 0, NULL);
    assert_string_equal(whole, want.data);
    char *bytewise = run_split(NULL, ACCEPT, NULL, in.data, in.len, 1, NULL);
    assert_string_equal(bytewise, want.data);
    free(whole);
    free(bytewise);
    ph_buf_free(&in);
    ph_buf_free(&want);
}

/* ---- The API around events ---------------------------------------------- */

static void test_events_and_offsets(void **state)
{
    (void)state;
    struct ph_imap_parser *p = ph_imap_parser_new(NULL);
    /* Offsets are tracked by hand: GCC 12.2 at -O1 folds strlen() of a
     * pointer advanced by out-parameters wrongly. */
    static const char in[] = "a NOOP\r\nb LOGIN {3}\r\nxyz y\r\n";
    const size_t len = sizeof(in) - 1;
    size_t used, off = 0;
    assert_true(ph_imap_parser_at_command_start(p));
    assert_int_equal(ph_imap_parser_feed(p, in, len, &used),
                     PH_IMAP_PARSE_COMMAND);
    assert_int_equal(used, 8);
    assert_true(ph_imap_parser_at_command_start(p));
    off += used;
    assert_int_equal(ph_imap_parser_feed(p, in + off, 3, &used),
                     PH_IMAP_PARSE_MORE);
    assert_int_equal(used, 3);
    assert_false(ph_imap_parser_at_command_start(p));
    off += used;
    assert_int_equal(ph_imap_parser_feed(p, in + off, len - off, &used),
                     PH_IMAP_PARSE_LITERAL);
    assert_int_equal(used, 10);
    const struct ph_imap_literal *lit = ph_imap_parser_literal(p);
    assert_int_equal(lit->size, 3);
    assert_true(lit->sync);
    assert_string_equal(lit->tag, "b");
    assert_string_equal(lit->name, "LOGIN");
    const char *error;
    assert_int_equal(ph_imap_parser_literal_accept(p, &error), 0);
    off += used;
    assert_int_equal(ph_imap_parser_feed(p, in + off, len - off, &used),
                     PH_IMAP_PARSE_COMMAND);
    assert_int_equal(off + used, len);
    const struct ph_imap_command *cmd = ph_imap_parser_command(p);
    const char *s;
    assert_true(ph_imap_value_get_astring(&cmd->args[0], &s));
    assert_string_equal(s, "xyz");
    assert_true(ph_imap_value_get_string(&cmd->args[0], &s));
    assert_true(ph_imap_value_get_astring(&cmd->args[1], &s));
    assert_false(ph_imap_value_get_string(&cmd->args[1], &s));
    /* reset forgets a half-read command. */
    assert_int_equal(ph_imap_parser_feed(p, "c X (", 5, &used),
                     PH_IMAP_PARSE_MORE);
    ph_imap_parser_reset(p);
    assert_true(ph_imap_parser_at_command_start(p));
    assert_int_equal(ph_imap_parser_feed(p, "d NOOP\r\n", 8, &used),
                     PH_IMAP_PARSE_COMMAND);
    assert_string_equal(ph_imap_parser_command(p)->tag, "d");
    assert_int_equal(ph_imap_parser_feed(p, "", 0, &used), PH_IMAP_PARSE_MORE);
    assert_int_equal(used, 0);
    ph_imap_parser_free(&p);
    ph_imap_parser_free(&p);
}

/* Feeds input up to its first literal event, in one piece or byte by
 * byte. */
static struct ph_imap_parser *parser_at_literal(const char *input,
                                                bool bytewise)
{
    struct ph_imap_parser *p = ph_imap_parser_new(NULL);
    size_t len = strlen(input), pos = 0, used;
    enum ph_imap_parse_event ev = PH_IMAP_PARSE_MORE;
    while (pos < len && ev == PH_IMAP_PARSE_MORE) {
        ev = ph_imap_parser_feed(p, input + pos, bytewise ? 1 : len - pos,
                                 &used);
        pos += used;
    }
    assert_int_equal(ev, PH_IMAP_PARSE_LITERAL);
    assert_int_equal(pos, len);
    return p;
}

/* The arguments read before input's first literal, dumped. */
static char *args_before_literal(const char *input, bool bytewise)
{
    struct ph_imap_parser *p = parser_at_literal(input, bytewise);
    size_t n;
    const struct ph_imap_value *args = ph_imap_parser_literal_args(p, &n);
    assert_int_equal(n, ph_imap_parser_literal(p)->arg_index);
    struct ph_buf b = {0};
    ph_buf_printf(&b, "%zu:", n);
    for (size_t i = 0; i < n; i++) {
        ph_buf_putc(&b, ' ');
        dump_value(&b, &args[i]);
    }
    ph_imap_parser_literal_reject(p);
    ph_imap_parser_free(&p);
    return ph_buf_steal(&b);
}

/* What APPEND checks before it sends "+": the arguments before its
 * message literal, whole (lists closed, strings unescaped). */
static void test_literal_args(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"a APPEND INBOX (\\Seen $x) \" 7-Feb-1994 21:52:25 -0800\" {5}\r\n",
         "3: INBOX (\\Seen $x) \" 7-Feb-1994 21:52:25 -0800\""},
        {"a APPEND \"a \\\"b\" NIL {5+}\r\n", "2: \"a \\\"b\" NIL<NIL>"},
        {"a APPEND {5}\r\n", "0:"},
        {"a X y ((z) {3}\r\n", "1: y"},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(cases); i++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            char *got = args_before_literal(cases[i].in, bytewise);
            assert_string_equal(got, cases[i].want);
            free(got);
        }
    }
    /* The args of a literal after a buffered one include it. */
    struct ph_imap_parser *p = ph_imap_parser_new(NULL);
    static const char in[] = "a APPEND {5}\r\nDraft {3}\r\n";
    size_t used, n;
    const char *error;
    assert_int_equal(ph_imap_parser_feed(p, in, sizeof(in) - 1, &used),
                     PH_IMAP_PARSE_LITERAL);
    assert_int_equal(ph_imap_parser_literal_accept(p, &error), 0);
    assert_int_equal(
        ph_imap_parser_feed(p, in + used, sizeof(in) - 1 - used, &used),
        PH_IMAP_PARSE_LITERAL);
    const struct ph_imap_value *args = ph_imap_parser_literal_args(p, &n);
    assert_int_equal(n, 1);
    assert_int_equal(args[0].type, PH_IMAP_VALUE_LITERAL);
    assert_string_equal(args[0].str, "Draft");
    ph_imap_parser_free(&p);
}

/* CATENATE's TEXT literals: the items of the list the literal lies in,
 * read before it (ABI 1.6), byte by byte the same. */
static void test_literal_list(void **state)
{
    (void)state;
    static const char in[] =
        "a APPEND INBOX CATENATE (URL \"/INBOX/;UID=1\" TEXT {3}\r\n";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct ph_imap_parser *p = parser_at_literal(in, bytewise);
        assert_int_equal(ph_imap_parser_literal(p)->depth, 1);
        size_t n;
        const struct ph_imap_value *items = ph_imap_parser_literal_list(p, &n);
        assert_int_equal(n, 3);
        assert_true(ph_imap_value_is_atom(&items[0], "URL"));
        assert_string_equal(items[1].str, "/INBOX/;UID=1");
        assert_true(ph_imap_value_is_atom(&items[2], "TEXT"));
        /* The top level: mailbox and CATENATE, not the open list. */
        const struct ph_imap_value *args = ph_imap_parser_literal_args(p, &n);
        assert_int_equal(n, 2);
        assert_true(ph_imap_value_is_atom(&args[1], "CATENATE"));
        ph_imap_parser_literal_reject(p);
        ph_imap_parser_free(&p);
    }
}

static void test_getters(void **state)
{
    (void)state;
    struct ph_imap_parser *p = ph_imap_parser_new(NULL);
    static const char in[] =
        "a X INBOX \"q\" {2+}\r\na\0 NIL * a%b \\Seen 42 042 0 "
        "18446744073709551615 18446744073709551616 (x) ab]c\r\n";
    size_t used, off = 0;
    enum ph_imap_parse_event ev;
    while ((ev = ph_imap_parser_feed(p, in + off, sizeof(in) - 1 - off,
                                     &used)) == PH_IMAP_PARSE_LITERAL) {
        const char *error;
        assert_int_equal(ph_imap_parser_literal_accept(p, &error), 0);
        off += used;
    }
    assert_int_equal(ev, PH_IMAP_PARSE_COMMAND);
    const struct ph_imap_command *cmd = ph_imap_parser_command(p);
    const struct ph_imap_value *a = cmd->args;
    assert_int_equal(cmd->n_args, 14);
    const char *s;
    uint64_t n;
    const struct ph_imap_value *items;
    size_t count;
    assert_true(ph_imap_value_is_atom(&a[0], "inbox"));
    assert_false(ph_imap_value_is_atom(&a[1], "q"));
    assert_true(ph_imap_value_get_astring(&a[1], &s));
    /* A literal with NUL is no string. */
    assert_int_equal(a[2].type, PH_IMAP_VALUE_LITERAL);
    assert_int_equal(a[2].len, 2);
    assert_false(ph_imap_value_get_astring(&a[2], &s));
    assert_false(ph_imap_value_get_nstring(&a[2], &s));
    /* NIL is an astring "NIL" and an nstring NULL. */
    assert_true(ph_imap_value_get_astring(&a[3], &s));
    assert_string_equal(s, "NIL");
    assert_true(ph_imap_value_get_nstring(&a[3], &s));
    assert_null(s);
    assert_false(ph_imap_value_is_atom(&a[3], "NIL"));
    assert_true(ph_imap_value_get_atom(&a[3], &s));
    /* Wildcards: list-mailbox only. */
    assert_false(ph_imap_value_get_astring(&a[4], &s));
    assert_true(ph_imap_value_get_list_mailbox(&a[4], &s));
    assert_true(ph_imap_value_get_list_mailbox(&a[5], &s));
    assert_string_equal(s, "a%b");
    assert_false(ph_imap_value_get_astring(&a[6], &s));
    assert_true(ph_imap_value_get_atom(&a[6], &s));
    assert_string_equal(s, "\\Seen");
    assert_true(ph_imap_value_get_number(&a[7], UINT32_MAX, &n));
    assert_int_equal(n, 42);
    assert_false(ph_imap_value_get_number(&a[7], 41, &n));
    assert_false(ph_imap_value_get_number(&a[8], UINT32_MAX, &n));
    assert_true(ph_imap_value_get_number(&a[9], UINT32_MAX, &n));
    assert_int_equal(n, 0);
    assert_true(ph_imap_value_get_number(&a[10], UINT64_MAX, &n));
    assert_true(n == UINT64_MAX);
    assert_false(ph_imap_value_get_number(&a[11], UINT64_MAX, &n));
    assert_false(ph_imap_value_get_number(&a[1], UINT64_MAX, &n));
    assert_true(ph_imap_value_get_list(&a[12], &items, &count));
    assert_int_equal(count, 1);
    assert_true(ph_imap_value_is_atom(&items[0], "X"));
    assert_false(ph_imap_value_get_list(&a[0], &items, &count));
    assert_false(ph_imap_value_get_astring(&a[12], &s));
    assert_true(ph_imap_value_get_astring(&a[13], &s));
    assert_string_equal(s, "ab]c");
    ph_imap_parser_free(&p);
}

/* ---- CONDSTORE and QRESYNC syntax (RFC 7162 7) ------------------------- */

/* Parses "t X " + args as one command and gives its arguments to fn,
 * which describes what it made of them; the parser is freed after. */
typedef void describe_fn(const struct ph_imap_value *args, size_t n,
                         struct ph_buf *out);

static char *describe(const char *args, describe_fn *fn)
{
    struct ph_imap_parser *p = ph_imap_parser_new(NULL);
    char *line = ph_strdup_printf("t X %s\r\n", args);
    size_t used;
    enum ph_imap_parse_event ev =
        ph_imap_parser_feed(p, line, strlen(line), &used);
    assert_int_equal(ev, PH_IMAP_PARSE_COMMAND);
    const struct ph_imap_command *cmd = ph_imap_parser_command(p);
    struct ph_buf out = {0};
    fn(cmd->args, cmd->n_args, &out);
    ph_imap_parser_free(&p);
    free(line);
    return ph_buf_steal(&out);
}

static void put_set(struct ph_buf *out, const char *name,
                    const struct ph_imap_seqset *set)
{
    ph_buf_printf(out, " %s=", name);
    ph_imap_seqset_write(out, set);
}

static void describe_select(const struct ph_imap_value *args, size_t n,
                            struct ph_buf *out)
{
    struct ph_imap_select_params sp;
    const char *error = NULL;
    assert_int_equal(n, 1);
    if (ph_imap_select_params_parse(&args[0], 13, &sp, &error) < 0) {
        assert_non_null(error);
        ph_buf_printf(out, "BAD %s", error);
    } else {
        ph_buf_puts(out, "OK");
        if (sp.condstore)
            ph_buf_puts(out, " condstore");
        if (sp.qresync)
            ph_buf_printf(out, " qresync %u %llu", sp.qr.uidvalidity,
                          (unsigned long long)sp.qr.modseq);
        if (sp.qr.has_known_uids)
            put_set(out, "known", &sp.qr.known_uids);
        if (sp.qr.has_seq_match) {
            put_set(out, "seqs", &sp.qr.match_seqs);
            put_set(out, "uids", &sp.qr.match_uids);
        }
    }
    ph_imap_select_params_clear(&sp);
}

static void describe_fetch(const struct ph_imap_value *args, size_t n,
                           struct ph_buf *out)
{
    struct ph_imap_fetch_modifiers m;
    const char *error = NULL;
    assert_int_equal(n, 1);
    if (ph_imap_fetch_modifiers_parse(&args[0], &m, &error) < 0) {
        ph_buf_printf(out, "BAD %s", error);
        return;
    }
    ph_buf_puts(out, "OK");
    if (m.changedsince_set)
        ph_buf_printf(out, " changedsince %llu%s",
                      (unsigned long long)m.changedsince,
                      m.vanished ? " vanished" : "");
    if (m.partial_set) {
        ph_buf_puts(out, " partial ");
        ph_imap_partial_write(out, &m.partial);
    }
}

static void describe_store(const struct ph_imap_value *args, size_t n,
                           struct ph_buf *out)
{
    struct ph_imap_store_modifiers m;
    const char *error = NULL;
    assert_int_equal(n, 1);
    if (ph_imap_store_modifiers_parse(&args[0], &m, &error) < 0)
        ph_buf_printf(out, "BAD %s", error);
    else
        ph_buf_printf(out, "OK unchangedsince %llu",
                      (unsigned long long)m.unchangedsince);
}

#define CHECK_DESCRIBE(fn, args, want)                                         \
    do {                                                                       \
        char *got_ = describe(args, fn);                                       \
        assert_string_equal(got_, want);                                       \
        free(got_);                                                            \
    } while (0)

static void test_select_params(void **state)
{
    (void)state;
    /* RFC 7162 3.1.8, Example 18. */
    CHECK_DESCRIBE(describe_select, "(CONDSTORE)", "OK condstore");
    CHECK_DESCRIBE(describe_select, "(condstore)", "OK condstore");
    /* 3.2.5: the four arguments, the last two optional. */
    CHECK_DESCRIBE(describe_select,
                   "(QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
                   "OK qresync 67890007 20050715194045000 "
                   "known=41,43:211,214:541");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2))", "OK qresync 1 2");
    /* 3.2.5.2, Example B04 (shortened): known-uids and seq-match-data. */
    CHECK_DESCRIBE(describe_select,
                   "(QRESYNC (67890007 90060115194045000 1:29997 "
                   "(5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,"
                   "29976,29979,29982,29985,29988,29991,29994,29997)))",
                   "OK qresync 67890007 90060115194045000 known=1:29997 "
                   "seqs=5000,7500,9000,9990:9999 "
                   "uids=15000,22500,27000,29970,29973,29976,29979,29982,"
                   "29985,29988,29991,29994,29997");
    /* seq-match-data without known-uids; known-uids sorted and merged. */
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 (3:4 7,9)))",
                   "OK qresync 1 2 seqs=3:4 uids=7,9");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 9,1:3,4) CONDSTORE)",
                   "OK condstore qresync 1 2 known=1:4,9");
    /* The largest mod-sequence is 2^63-1. */
    CHECK_DESCRIBE(describe_select,
                   "(QRESYNC (4294967295 9223372036854775807))",
                   "OK qresync 4294967295 9223372036854775807");

    CHECK_DESCRIBE(describe_select, "()",
                   "BAD SELECT parameters are a non-empty list");
    CHECK_DESCRIBE(describe_select, "CONDSTORE",
                   "BAD SELECT parameters are a non-empty list");
    CHECK_DESCRIBE(describe_select, "(FOO)", "BAD Unknown SELECT parameter");
    CHECK_DESCRIBE(describe_select, "(CONDSTORE CONDSTORE)",
                   "BAD CONDSTORE given twice");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2) QRESYNC (1 2))",
                   "BAD QRESYNC given twice");
    static const char e_qresync[] =
        "BAD QRESYNC takes (uidvalidity mod-sequence [known-uids] "
        "[(known-sequence-set known-uid-set)])";
    CHECK_DESCRIBE(describe_select, "(QRESYNC)", e_qresync);
    CHECK_DESCRIBE(describe_select, "(QRESYNC 1)", e_qresync);
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1))", e_qresync);
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 3 (1 1) 4))", e_qresync);
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 (1 1) 3))", e_qresync);
    CHECK_DESCRIBE(describe_select, "(QRESYNC (0 2))",
                   "BAD Invalid QRESYNC UIDVALIDITY");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (4294967296 2))",
                   "BAD Invalid QRESYNC UIDVALIDITY");
    /* QRESYNC's mod-sequence is a mod-sequence-value: not 0. */
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 0))",
                   "BAD Invalid QRESYNC mod-sequence");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 9223372036854775808))",
                   "BAD Invalid QRESYNC mod-sequence");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 02))",
                   "BAD Invalid QRESYNC mod-sequence");
    /* known-uids: "*" is not allowed (7). */
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 1:*))",
                   "BAD \"*\" is not allowed in QRESYNC sets (RFC 7162 7)");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 0:3))",
                   "BAD Invalid sequence number 0");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 \"1:3\"))",
                   "BAD Invalid QRESYNC known-uids");
    /* At most max_ranges ranges (13 here). */
    CHECK_DESCRIBE(describe_select,
                   "(QRESYNC (1 2 1,3,5,7,9,11,13,15,17,19,21,23,25,27))",
                   "BAD Too many ranges in sequence set");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 (1:3)))",
                   "BAD QRESYNC seq-match-data is (known-sequence-set "
                   "known-uid-set)");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 (1:3 4:* )))",
                   "BAD \"*\" is not allowed in QRESYNC sets (RFC 7162 7)");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 (1 (2))))",
                   "BAD Invalid QRESYNC known-uid-set");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 (3,1 5,6)))",
                   "BAD QRESYNC seq-match-data must be in ascending order");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 (1:2 6,5)))",
                   "BAD QRESYNC seq-match-data must be in ascending order");
    CHECK_DESCRIBE(describe_select, "(QRESYNC (1 2 (1:3 5,6)))",
                   "BAD QRESYNC seq-match-data pairs a message number with "
                   "each UID: the sets differ in size");
}

/* Matches the pairs of a QRESYNC parameter against a view. */
static uint32_t match(const char *param, const uint32_t *uids, size_t n)
{
    struct ph_imap_parser *p = ph_imap_parser_new(NULL);
    char *line = ph_strdup_printf("t X (QRESYNC (1 2 %s))\r\n", param);
    size_t used;
    assert_int_equal(ph_imap_parser_feed(p, line, strlen(line), &used),
                     PH_IMAP_PARSE_COMMAND);
    struct ph_imap_select_params sp;
    const char *error;
    assert_int_equal(ph_imap_select_params_parse(
                         &ph_imap_parser_command(p)->args[0], 0, &sp, &error),
                     0);
    uint32_t floor = ph_imap_qresync_match(&sp.qr, uids, n);
    ph_imap_select_params_clear(&sp);
    ph_imap_parser_free(&p);
    free(line);
    return floor;
}

static void test_qresync_match(void **state)
{
    (void)state;
    /* RFC 7162 3.2.5.2: "if the Nth message number ... is 4, and the Nth
     * UID ... is 8, and the mailbox's fourth message has UID 8, then no
     * UIDs equal to or less than 8 are present in the VANISHED response.
     * If the (N+1)th message number is 12, and the (N+1)th UID is 24, and
     * the (N+1)th message in the mailbox has UID 25, then the lowest UID
     * included in the VANISHED response would be 9." */
    uint32_t view[20];
    for (size_t i = 0; i < 20; i++)
        view[i] = (uint32_t)(2 * i + 2); /* message 4 is UID 8 */
    view[11] = 25;                       /* message 12 */
    assert_int_equal(match("(4,12 8,24)", view, 20), 8);
    assert_int_equal(match("(4,12 8,25)", view, 20), 25);
    /* The first pair already differs. */
    assert_int_equal(match("(1:2 3:4)", view, 20), 0);
    /* A pair past the end of the mailbox matches nothing. */
    assert_int_equal(match("(1,21 2,50)", view, 20), 2);
    /* Ranges pair up number by number. */
    assert_int_equal(match("(1:3 2,4,6)", view, 20), 6);
    assert_int_equal(match("(1:3 2,4,7)", view, 20), 4);
    /* No seq-match data: no shortcut. */
    assert_int_equal(match("1:5", view, 20), 0);
    /* Example B04: every third UID exists; all pairs match. */
    static uint32_t thirds[10003];
    for (size_t i = 0; i < 10003; i++)
        thirds[i] = (uint32_t)(3 * (i + 1));
    assert_int_equal(match("1:29997 (5000,7500,9000,9990:9999 15000,22500,"
                           "27000,29970,29973,29976,29979,29982,29985,29988,"
                           "29991,29994,29997)",
                           thirds, 10003),
                     29997);
    /* A hostile pair list of four billion numbers over an empty mailbox
     * looks at one pair. */
    assert_int_equal(match("(1:4294967295 1:4294967295)", view, 0), 0);
    assert_int_equal(match("(1:4294967295 1:4294967295)", thirds, 10003), 0);
}

static void test_fetch_store_modifiers(void **state)
{
    (void)state;
    /* RFC 7162 3.1.4.1, Example 12; 3.2.6. */
    CHECK_DESCRIBE(describe_fetch, "(CHANGEDSINCE 12345)",
                   "OK changedsince 12345");
    CHECK_DESCRIBE(describe_fetch, "(CHANGEDSINCE 12345 VANISHED)",
                   "OK changedsince 12345 vanished");
    CHECK_DESCRIBE(describe_fetch, "(vanished changedsince 1)",
                   "OK changedsince 1 vanished");
    /* "The VANISHED UID FETCH modifier MUST only be specified together with
     * the CHANGEDSINCE UID FETCH modifier." */
    CHECK_DESCRIBE(describe_fetch, "(VANISHED)",
                   "BAD VANISHED needs CHANGEDSINCE (RFC 7162 3.2.6)");
    /* chgsince-fetch-mod = "CHANGEDSINCE" SP mod-sequence-value: not 0. */
    CHECK_DESCRIBE(describe_fetch, "(CHANGEDSINCE 0)",
                   "BAD Invalid CHANGEDSINCE mod-sequence");
    CHECK_DESCRIBE(describe_fetch, "(CHANGEDSINCE)",
                   "BAD Invalid CHANGEDSINCE mod-sequence");
    CHECK_DESCRIBE(describe_fetch, "(CHANGEDSINCE x)",
                   "BAD Invalid CHANGEDSINCE mod-sequence");
    CHECK_DESCRIBE(describe_fetch, "(CHANGEDSINCE 9223372036854775808)",
                   "BAD Invalid CHANGEDSINCE mod-sequence");
    CHECK_DESCRIBE(describe_fetch, "(CHANGEDSINCE 1 CHANGEDSINCE 2)",
                   "BAD CHANGEDSINCE given twice");
    CHECK_DESCRIBE(describe_fetch, "(CHANGEDSINCE 1 VANISHED VANISHED)",
                   "BAD VANISHED given twice");
    CHECK_DESCRIBE(describe_fetch, "(CHANGEDSINCE (1))",
                   "BAD Invalid CHANGEDSINCE mod-sequence");
    /* RFC 9394 3.3, 3.4: PARTIAL, in either order with CHANGEDSINCE. */
    CHECK_DESCRIBE(describe_fetch, "(PARTIAL -1:-3)", "OK partial -1:-3");
    CHECK_DESCRIBE(describe_fetch, "(PARTIAL -1:-30 CHANGEDSINCE 98305)",
                   "OK changedsince 98305 partial -1:-30");
    CHECK_DESCRIBE(describe_fetch, "(CHANGEDSINCE 98305 partial 1:5)",
                   "OK changedsince 98305 partial 1:5");
    CHECK_DESCRIBE(describe_fetch, "(PARTIAL 1:5 PARTIAL 1:5)",
                   "BAD PARTIAL given twice");
    CHECK_DESCRIBE(describe_fetch, "(PARTIAL)", "BAD PARTIAL needs a range");
    CHECK_DESCRIBE(describe_fetch, "(PARTIAL 0:1)",
                   "BAD Invalid partial range (n:m or -n:-m, n and m from 1)");
    CHECK_DESCRIBE(describe_fetch, "(PARTIAL 1:-1)",
                   "BAD Invalid partial range (n:m or -n:-m, n and m from 1)");
    CHECK_DESCRIBE(describe_fetch, "(FOO 1)", "BAD Unknown FETCH modifier");
    CHECK_DESCRIBE(describe_fetch, "()",
                   "BAD FETCH modifiers are a non-empty list");
    CHECK_DESCRIBE(describe_fetch, "CHANGEDSINCE",
                   "BAD FETCH modifiers are a non-empty list");

    /* 3.1.3; store-modifier =/ "UNCHANGEDSINCE" SP mod-sequence-valzer:
     * 0 is valid (Example 8). */
    CHECK_DESCRIBE(describe_store, "(UNCHANGEDSINCE 12121230045)",
                   "OK unchangedsince 12121230045");
    CHECK_DESCRIBE(describe_store, "(UNCHANGEDSINCE 0)", "OK unchangedsince 0");
    /* "Only a single "UNCHANGEDSINCE" may be specified in a STORE
     * operation." */
    CHECK_DESCRIBE(describe_store, "(UNCHANGEDSINCE 1 UNCHANGEDSINCE 1)",
                   "BAD UNCHANGEDSINCE given twice");
    CHECK_DESCRIBE(describe_store, "(UNCHANGEDSINCE)",
                   "BAD Invalid UNCHANGEDSINCE mod-sequence");
    CHECK_DESCRIBE(describe_store, "(UNCHANGEDSINCE -1)",
                   "BAD Invalid UNCHANGEDSINCE mod-sequence");
    CHECK_DESCRIBE(describe_store, "(UNCHANGEDSINCE 9223372036854775808)",
                   "BAD Invalid UNCHANGEDSINCE mod-sequence");
    CHECK_DESCRIBE(describe_store, "(CHANGEDSINCE 1)",
                   "BAD Unknown STORE modifier");
    CHECK_DESCRIBE(describe_store, "()",
                   "BAD STORE modifiers are a non-empty list");
}

static void test_get_modseq(void **state)
{
    (void)state;
    struct ph_imap_parser *p = ph_imap_parser_new(NULL);
    static const char in[] = "t X 0 1 9223372036854775807 "
                             "9223372036854775808 01 \"5\"\r\n";
    size_t used;
    assert_int_equal(ph_imap_parser_feed(p, in, sizeof(in) - 1, &used),
                     PH_IMAP_PARSE_COMMAND);
    const struct ph_imap_value *a = ph_imap_parser_command(p)->args;
    uint64_t n = 99;
    assert_false(ph_imap_value_get_modseq(&a[0], false, &n));
    assert_true(ph_imap_value_get_modseq(&a[0], true, &n));
    assert_int_equal(n, 0);
    assert_true(ph_imap_value_get_modseq(&a[1], false, &n));
    assert_int_equal(n, 1);
    assert_true(ph_imap_value_get_modseq(&a[2], false, &n));
    assert_true(n == PH_IMAP_MODSEQ_MAX);
    assert_false(ph_imap_value_get_modseq(&a[3], true, &n));
    assert_false(ph_imap_value_get_modseq(&a[4], true, &n));
    assert_false(ph_imap_value_get_modseq(&a[5], true, &n));
    ph_imap_parser_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_any_state_commands),
        cmocka_unit_test(test_not_authenticated_commands),
        cmocka_unit_test(test_authenticated_commands),
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_selected_commands),
        cmocka_unit_test(test_tolerances),
        cmocka_unit_test(test_literal_shapes),
        cmocka_unit_test(test_literal8),
        cmocka_unit_test(test_sync_literal_reject),
        cmocka_unit_test(test_nonsync_literal_reject),
        cmocka_unit_test(test_literal_limits),
        cmocka_unit_test(test_huge_literal_sizes),
        cmocka_unit_test(test_stream_large_literal),
        cmocka_unit_test(test_bad_syntax),
        cmocka_unit_test(test_sections_only_in_fetch),
        cmocka_unit_test(test_nul_and_8bit),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_long_tag),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_too_many_args),
        cmocka_unit_test(test_command_size),
        cmocka_unit_test(test_line_mode),
        cmocka_unit_test(test_pipelined_commands),
        cmocka_unit_test(test_events_and_offsets),
        cmocka_unit_test(test_literal_args),
        cmocka_unit_test(test_literal_list),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_select_params),
        cmocka_unit_test(test_qresync_match),
        cmocka_unit_test(test_fetch_store_modifiers),
        cmocka_unit_test(test_get_modseq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
