/* SPDX-License-Identifier: MIT */
/* The LMTP command grammar (RFC 2033 over RFC 5321's syntax) and the DATA
 * stream's dot-unstuffing, apart from any socket, so that the unit tests
 * and the fuzz target reach every byte of it. */
#ifndef LMTP_SYNTAX_H
#define LMTP_SYNTAX_H

#include <posthorn/common.h>

/* RFC 5321 4.5.3.1: the limits a receiver must at least accept; a longer
 * line or path is refused, not cut. The command line limit counts CRLF,
 * and SIZE/BODY/SMTPUTF8 parameters fit well inside it. */
#define LMTP_MAX_LINE 512
#define LMTP_MAX_LOCAL_PART 64
#define LMTP_MAX_DOMAIN 255
#define LMTP_MAX_PATH 256

enum lmtp_verb {
    LMTP_VERB_UNKNOWN = 0,
    LMTP_VERB_LHLO,
    LMTP_VERB_MAIL,
    LMTP_VERB_RCPT,
    LMTP_VERB_DATA,
    LMTP_VERB_BDAT,
    LMTP_VERB_RSET,
    LMTP_VERB_NOOP,
    LMTP_VERB_QUIT,
    LMTP_VERB_VRFY,
    LMTP_VERB_HELP,
    LMTP_VERB_STARTTLS,
};

enum lmtp_body {
    LMTP_BODY_NONE = 0, /* no BODY= given: 7bit per RFC 6152 */
    LMTP_BODY_7BIT,
    LMTP_BODY_8BITMIME,
    LMTP_BODY_BINARYMIME,
};

/* A reverse- or forward-path. local is unquoted ("a b"@x for "a\ b"@x);
 * domain is NULL for <> and for RCPT TO:<Postmaster>. */
struct lmtp_path {
    char *local;
    char *domain;
    bool null;       /* <> */
    bool postmaster; /* <Postmaster> without a domain (RFC 5321 4.5.1) */
    bool utf8;       /* has non-ASCII octets (valid UTF-8): SMTPUTF8 only */
};

struct lmtp_command {
    enum lmtp_verb verb;
    struct lmtp_path path; /* MAIL, RCPT */
    char *arg;             /* LHLO's domain, VRFY's string */
    /* MAIL parameters */
    bool has_size;
    uint64_t size;
    enum lmtp_body body;
    bool smtputf8;
    /* BDAT chunk-size [LAST] */
    uint64_t chunk;
    bool last;
};

/* A refusal: the reply code, its RFC 3463 enhanced code, and the text. */
struct lmtp_refusal {
    int code;
    const char *enhanced;
    const char *text;
};

/* Parses one command line (without its CRLF). 0 and *cmd filled, or -1 and
 * *ref says what to answer. cmd must be freed with lmtp_command_clear in
 * both cases. */
int lmtp_command_parse(const char *line, size_t len, struct lmtp_command *cmd,
                       struct lmtp_refusal *ref);
void lmtp_command_clear(struct lmtp_command *cmd);

/* The path back in SMTP form (quoted where it needs to be), as written in
 * Return-Path and Delivered-To: "<>" or "<local@domain>". */
char *lmtp_path_text(const struct lmtp_path *p);

/* DATA's end and dot-stuffing (RFC 5321 4.5.2): fed the bytes as they
 * arrive, in any split, it appends the message with leading dots removed
 * and every line ending as CRLF (a bare LF becomes CRLF: IMAP serves
 * CRLF), and stops at the line ".". */
struct lmtp_data {
    int state;
    bool done;
};

/* Consumes up to len bytes; returns how many it used (fewer than len only
 * when the end line was reached: the rest is the next command). */
size_t lmtp_data_feed(struct lmtp_data *d, const char *in, size_t len,
                      struct ph_buf *out);

#endif
