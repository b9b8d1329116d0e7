/* SPDX-License-Identifier: MIT */
/* posthorn SDK: the IMAP command parser (RFC 3501 section 9).
 *
 * The parser does no I/O. The caller feeds it whatever bytes it has read;
 * the parser copies what it needs, can stop at any byte, and answers with
 * one event at a time. Feeding a command byte by byte gives the same events
 * and the same tree as feeding it in one piece.
 *
 * Driving it:
 *
 *   for (;;) {
 *       size_t used;
 *       switch (ph_imap_parser_feed(p, buf, len, &used)) {
 *       case PH_IMAP_PARSE_MORE:    read more input; break;
 *       case PH_IMAP_PARSE_COMMAND: run ph_imap_parser_command(p); break;
 *       case PH_IMAP_PARSE_LITERAL: decide (below); break;
 *       case PH_IMAP_PARSE_LINE:    use ph_imap_parser_line(p); break;
 *       case PH_IMAP_PARSE_ERROR:   send BAD (ph_imap_parser_error(p)); break;
 *       }
 *       buf += used; len -= used;
 *   }
 *
 * Literals. When a literal header ("{n}", "{n+}", "~{n}" where allowed)
 * has been read, including its CRLF, feed returns PH_IMAP_PARSE_LITERAL and
 * ph_imap_parser_literal() tells its size, whether it is synchronizing and
 * where it sits in the command. Before feeding again the caller decides:
 *   - ph_imap_parser_literal_accept(): buffer it as a string value (small
 *     literals: mailbox names, passwords, search strings), within
 *     max_literal_size and max_command_size;
 *   - ph_imap_parser_literal_stream(): hand its bytes to a sink callback in
 *     chunks as they arrive, never buffered (APPEND's message);
 *   - ph_imap_parser_literal_reject(): the caller answers the command itself
 *     (NO [TOOBIG], BAD ...). A synchronizing literal is then never sent by
 *     the client (RFC 3501 7.5), so the command ends there; a
 *     non-synchronizing one is read and discarded with the rest of the
 *     command (RFC 7888 section 4), and no further event is reported for it.
 * For a synchronizing literal the caller sends "+ ..." after accepting or
 * streaming, never after rejecting. Feeding without deciding buffers the
 * literal when it fits the limits and fails the command with "Literal too
 * large" otherwise.
 *
 * Errors. A syntax error or an exceeded limit gives PH_IMAP_PARSE_ERROR with
 * a text for "tag BAD text" (or "* BAD text" when the tag could not be
 * read); the parser then discards input up to the end of the command by
 * itself (past non-synchronizing literals on the way) and continues with the
 * next one. A fatal error means the parser cannot tell where the next
 * command starts: the caller should answer and close the connection.
 *
 * Line mode. ph_imap_parser_line_mode() makes the parser read the next line
 * as raw bytes (AUTHENTICATE continuations, IDLE's DONE); it returns to
 * command parsing after that line.
 *
 * Lifetimes: everything an event points to (the command tree, the line,
 * the error, the literal info) stays valid until the next call of
 * ph_imap_parser_feed(), ph_imap_parser_reset() or ph_imap_parser_free().
 *
 * Tolerances, as widely deployed servers have them: a bare LF ends a line
 * like CRLF; several spaces separate arguments like one, and spaces before
 * the end of the line or a ')' are ignored. Quoted strings may hold 8-bit
 * bytes (UTF-8 search strings, RFC 6855); atoms may not. An empty line is
 * an error without a tag (RFC 3501 7.1.3: answer "* BAD"), so that a
 * client that sends one is not left waiting. */
#ifndef POSTHORN_IMAP_PARSER_H
#define POSTHORN_IMAP_PARSER_H

#include <posthorn/common.h>

/* ---- Limits ------------------------------------------------------------- */

struct ph_imap_parser_limits {
    /* Bytes of one line outside literals, CRLF not counted. Also the
     * bound of a line read in line mode. Default 64 KiB. */
    size_t max_line_length;
    /* The largest literal ph_imap_parser_literal_accept() buffers (streamed
     * literals have no parser limit: the caller checks their size).
     * Default 64 KiB. */
    uint64_t max_literal_size;
    /* Bytes a command may hold in memory: its strings and buffered literals
     * together. Default 1 MiB. */
    size_t max_command_size;
    /* Parenthesized list nesting. Default 64. */
    unsigned max_depth;
    /* Values in one command, counting every list and list item (the tag
     * and the command name not included). Default 10000. */
    size_t max_args;
    /* Default 128. */
    size_t max_tag_length;
    /* Accept literal8 "~{n}" (RFC 3516 BINARY, RFC 4469 CATENATE). Default
     * false: "Binary literals are not supported". */
    bool allow_literal8;
};

void ph_imap_parser_limits_default(struct ph_imap_parser_limits *limits_r);

/* ---- The command tree --------------------------------------------------- */

enum ph_imap_value_type {
    /* An atom-like token: an atom, a sequence set ("1:3,*"), a flag
     * ("\Seen"), a list-mailbox with wildcards ("INBOX.*"), a number, or a
     * fetch attribute with a section and partial, kept whole as sent:
     * "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>". A section ("[...]") is
     * recognized only in FETCH and UID FETCH, right after BODY, BODY.PEEK,
     * BINARY, BINARY.PEEK and BINARY.SIZE; it may hold spaces, parentheses
     * and quoted strings. Elsewhere "BODY[x" is an atom like any other.
     * Check the shape with the getters below. */
    PH_IMAP_VALUE_ATOM,
    /* The atom NIL (any case); str is "NIL" as sent, so an astring getter
     * still reads it as the name "NIL". */
    PH_IMAP_VALUE_NIL,
    PH_IMAP_VALUE_STRING,  /* quoted string, unescaped */
    PH_IMAP_VALUE_LITERAL, /* buffered literal; may contain NUL bytes */
    /* A literal whose bytes went to a sink; only literal_size is set. */
    PH_IMAP_VALUE_LITERAL_STREAMED,
    PH_IMAP_VALUE_LIST,
};

struct ph_imap_value {
    enum ph_imap_value_type type;
    bool literal8; /* LITERAL[_STREAMED] sent as "~{n}" */
    /* ATOM, NIL, STRING, LITERAL: bytes of str (which is NUL-terminated);
     * LIST: number of items. */
    size_t len;
    uint64_t literal_size; /* LITERAL, LITERAL_STREAMED */
    union {
        const char *str;
        const struct ph_imap_value *list;
    };
};

struct ph_imap_command {
    const char *tag;
    const char *name; /* as sent: compare case-insensitively */
    /* The arguments after the name ("UID FETCH ...": "FETCH" is args[0]). */
    const struct ph_imap_value *args;
    size_t n_args;
};

/* ---- The parser --------------------------------------------------------- */

enum ph_imap_parse_event {
    PH_IMAP_PARSE_MORE,    /* every byte used, nothing complete yet */
    PH_IMAP_PARSE_COMMAND, /* ph_imap_parser_command() */
    PH_IMAP_PARSE_LITERAL, /* ph_imap_parser_literal(): decide */
    PH_IMAP_PARSE_LINE,    /* ph_imap_parser_line() (line mode) */
    PH_IMAP_PARSE_ERROR,   /* ph_imap_parser_error() */
};

struct ph_imap_parser;

/* limits may be NULL for the defaults. */
struct ph_imap_parser *
ph_imap_parser_new(const struct ph_imap_parser_limits *limits);
void ph_imap_parser_free(struct ph_imap_parser **p);
/* Forgets everything, as for a new connection (after STARTTLS). */
void ph_imap_parser_reset(struct ph_imap_parser *p);

/* Parses up to len bytes of data; *used_r tells how many were used (all of
 * them for PH_IMAP_PARSE_MORE, up to the end of the event otherwise). */
enum ph_imap_parse_event ph_imap_parser_feed(struct ph_imap_parser *p,
                                             const void *data, size_t len,
                                             size_t *used_r);

/* True between commands: nothing of a next command has been read. */
bool ph_imap_parser_at_command_start(const struct ph_imap_parser *p);

/* After PH_IMAP_PARSE_COMMAND. */
const struct ph_imap_command *
ph_imap_parser_command(const struct ph_imap_parser *p);

struct ph_imap_parse_error {
    const char *tag; /* NULL: answer with an untagged BAD */
    const char *text;
    /* The parser cannot resynchronize: answer, then close. Every later
     * feed uses all input and reports nothing. */
    bool fatal;
};

/* After PH_IMAP_PARSE_ERROR. In line mode the tag is NULL: the caller
 * answers for the command that asked for the line. */
const struct ph_imap_parse_error *
ph_imap_parser_error(const struct ph_imap_parser *p);

/* ---- Literals ----------------------------------------------------------- */

struct ph_imap_literal {
    uint64_t size;
    bool sync;              /* "{n}": send a continuation once accepted */
    bool literal8;          /* "~{n}" */
    const char *tag, *name; /* of the command being read */
    /* Which top-level argument the literal is (0: the first after the
     * command name) or, when depth > 0, lies in. */
    size_t arg_index;
    unsigned depth; /* list nesting of the literal, 0 at top level */
};

/* After PH_IMAP_PARSE_LITERAL. */
const struct ph_imap_literal *
ph_imap_parser_literal(const struct ph_imap_parser *p);

/* After PH_IMAP_PARSE_LITERAL, before deciding: the top-level arguments
 * read before the literal (*n_r = its arg_index of them; a list the literal
 * lies in is not among them), so that a caller can check them before it
 * takes the literal: APPEND refuses a bad mailbox, flag or date before the
 * client uploads the message. Valid until the caller decides (accept,
 * stream or reject). (ABI 1.4) */
const struct ph_imap_value *
ph_imap_parser_literal_args(const struct ph_imap_parser *p, size_t *n_r);

/* After PH_IMAP_PARSE_LITERAL, before deciding, for a literal in a list
 * (depth > 0): the items of that innermost list read before the literal,
 * so that a caller can tell what the literal is (APPEND's CATENATE: the
 * part after "TEXT" is the message's, one after "URL" is a URL). Valid
 * until the caller decides. (ABI 1.6) */
const struct ph_imap_value *
ph_imap_parser_literal_list(const struct ph_imap_parser *p, size_t *n_r);

/* Buffers the literal. Returns -1 with *error_r (for a BAD or NO [TOOBIG])
 * when it is over max_literal_size or the command's memory limit; the
 * caller then answers and calls ph_imap_parser_literal_reject(). */
int ph_imap_parser_literal_accept(struct ph_imap_parser *p,
                                  const char **error_r) PH_WUR;

/* Gets the bytes of a streamed literal, in order, in chunks of any size as
 * they are fed; after the last byte it is called once with NULL, 0. It is
 * never called again for a literal the parser is reset or freed in the
 * middle of. */
typedef void ph_imap_literal_sink(void *context, const void *data, size_t len);
void ph_imap_parser_literal_stream(struct ph_imap_parser *p,
                                   ph_imap_literal_sink *sink, void *context);
void ph_imap_parser_literal_reject(struct ph_imap_parser *p);

/* ---- Line mode ---------------------------------------------------------- */

/* Reads the next line raw (only between commands). The line ends at LF; a
 * CR before it is removed. Longer than max_line_length: an error, the rest
 * of the line is discarded. */
void ph_imap_parser_line_mode(struct ph_imap_parser *p);
/* After PH_IMAP_PARSE_LINE: the line without its CRLF, NUL-terminated (it
 * may contain NUL bytes: *len_r counts them all). */
const char *ph_imap_parser_line(const struct ph_imap_parser *p, size_t *len_r);

/* ---- Reading values ----------------------------------------------------- */

/* Each getter returns false when the value does not have the shape. */

/* An atom (not NIL) equal to name, case-insensitively. */
bool ph_imap_value_is_atom(const struct ph_imap_value *v, const char *name);
/* ATOM or NIL: the token as sent (sequence sets, flags, fetch attributes,
 * numbers). */
bool ph_imap_value_get_atom(const struct ph_imap_value *v, const char **str_r);
/* astring: an atom of ASTRING-CHARs, NIL (as "NIL"), a quoted string or a
 * buffered literal without NUL bytes. */
bool ph_imap_value_get_astring(const struct ph_imap_value *v,
                               const char **str_r);
/* string: quoted or buffered literal without NUL bytes. */
bool ph_imap_value_get_string(const struct ph_imap_value *v,
                              const char **str_r);
/* nstring: NIL (*str_r = NULL) or a string. */
bool ph_imap_value_get_nstring(const struct ph_imap_value *v,
                               const char **str_r);
/* list-mailbox: like astring, and the atom may hold '%' and '*'. */
bool ph_imap_value_get_list_mailbox(const struct ph_imap_value *v,
                                    const char **str_r);
/* A parenthesized list. */
bool ph_imap_value_get_list(const struct ph_imap_value *v,
                            const struct ph_imap_value **items_r, size_t *n_r);
/* An atom of digits without a leading zero (but "0"), at most max. */
bool ph_imap_value_get_number(const struct ph_imap_value *v, uint64_t max,
                              uint64_t *n_r);

#endif
