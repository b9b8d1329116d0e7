/* SPDX-License-Identifier: MIT */
/* Internals of the message parser shared by core/lib/message*.c, mime*.c,
 * rfc2047.c. Names here have no ph_ prefix, so libposthorn does not export
 * them. */
#ifndef POSTHORN_MESSAGE_PRIVATE_H
#define POSTHORN_MESSAGE_PRIVATE_H

#include <posthorn/message.h>

static inline bool msg_is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static inline unsigned char msg_ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* The value of a hex digit, or -1. */
static inline int msg_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool msg_ascii_eq(const char *a, size_t alen, const char *b, size_t blen);
/* NUL-terminated b. */
bool msg_ascii_eqz(const char *a, size_t alen, const char *b);
char *msg_ascii_lower_dup(const char *s, size_t len);

/* ---- Header fields (message_header.c) ---- */

struct message_field {
    const char *name; /* NULL for a line without a colon */
    size_t name_len;
    const char *value; /* after the colon, folded, without the final EOL */
    size_t value_len;
    size_t start, end; /* the field's bytes in the block, EOL included */
};

/* Returns the next field of a header block at *pos (an offset into hdr),
 * stopping at the blank line that ends the block or at its end. */
bool message_header_next(const char *hdr, size_t len, size_t *pos,
                         struct message_field *field_r);
/* Appends value with CR and LF removed and leading whitespace skipped
 * (RFC 5322 2.2.3 unfolding). */
void message_header_unfold(const char *value, size_t len, struct ph_buf *out);
/* The unfolded value of the first field named name, malloc'ed, or NULL. */
char *message_header_get(const char *hdr, size_t len, const char *name);

/* ---- RFC 822 lexing (message_rfc822.c) ---- */

struct rfc822_lexer {
    const char *p, *end;
    struct ph_buf comments; /* text of the comments skipped, if wanted */
    bool keep_comments;
};

void rfc822_lexer_init(struct rfc822_lexer *lx, const char *s, size_t len);
void rfc822_lexer_clear(struct rfc822_lexer *lx);
/* Skips whitespace and (nested) comments. */
void rfc822_skip_cfws(struct rfc822_lexer *lx);
/* Appends the unescaped content of a quoted string at lx->p (which must be
 * at '"'); an unterminated string runs to the end. */
void rfc822_read_quoted(struct rfc822_lexer *lx, struct ph_buf *out);
/* Appends a run of characters that are not in specials, whitespace or
 * controls; returns its length. */
size_t rfc822_read_atom(struct rfc822_lexer *lx, const char *specials,
                        struct ph_buf *out);

/* RFC 5322 specials and RFC 2045 tspecials. */
#define RFC822_SPECIALS "()<>[]:;@\\,.\""
#define MIME_TSPECIALS "()<>@,;:\\\"/[]?="

/* ---- MIME fields (mime_content.c) ---- */

struct mime_param {
    char *name, *value;
};

struct mime_params {
    struct mime_param *v;
    size_t n, cap;
};

void mime_params_clear(struct mime_params *params);
const char *mime_params_get(const struct mime_params *params, const char *name);
/* Content-Type: on a syntax error returns -1 (RFC 2045 5.2: the caller
 * then assumes text/plain). type and subtype as sent. */
int mime_content_type_parse(const char *value, size_t len, char **type_r,
                            char **subtype_r, struct mime_params *params);
/* Content-Disposition: -1 when there is no disposition type. */
int mime_disposition_parse(const char *value, size_t len, char **type_r,
                           struct mime_params *params);
/* Merges RFC 2231 continuations (name*0, name*1*...) into one parameter;
 * an extended value (charset'lang'%XX) stays encoded, under "name*". */
void mime_params_rfc2231_merge(struct mime_params *params);
/* The value of parameter name (after the merge), malloc'ed, or NULL when
 * absent: an extended value ("name*", RFC 2231 4) %-decoded and, when
 * to_utf8, converted from its charset (bytes as they are when iconv does
 * not know it); a plain value as sent. *len_r counts the bytes. */
char *mime_params_value(const struct mime_params *params, const char *name,
                        bool to_utf8, size_t *len_r);

/* ---- IMAP output (message_imap.c) ---- */

/* NULL -> NIL; otherwise a quoted string, or a literal when the value
 * holds CR, LF, NUL or 8-bit bytes (RFC 3501 4.3, 9: QUOTED-CHAR). A NUL
 * is written as 0x80, since no IMAP4rev1 string may hold one. */
void imap_append_nstring(struct ph_buf *out, const char *s, size_t len);
void imap_append_nstringz(struct ph_buf *out, const char *s);
/* The same for a value taken from a header: unfolded (CR and LF removed). */
void imap_append_nstring_unfold(struct ph_buf *out, const char *s, size_t len);
/* Checks that s is one well-formed IMAP response value: NIL, a number, a
 * quoted string, a literal, or a parenthesized list of these. */
bool imap_value_valid(const char *s, size_t len);

/* The ENVELOPE of a message header (RFC 3501 7.4.2). */
void message_envelope_write(const char *hdr, size_t len, struct ph_buf *out);
/* Address list to IMAP address structure list, or NIL. */
void message_address_write(const char *value, size_t len, struct ph_buf *out);
/* The first address of an address list as an ENVELOPE address structure
 * has it (a group: its name as the mailbox, no host), but without the
 * placeholders ENVELOPE writes for a missing mailbox, host or a syntax
 * error: what SORT compares (RFC 5256, RFC 5957). false when the list has
 * no address; the caller clears *addr_r either way. */
struct message_address {
    struct ph_buf name, mailbox, domain;
    bool has_name, has_mailbox, has_domain;
};
bool message_address_first(const char *value, size_t len,
                           struct message_address *addr_r);
void message_address_clear(struct message_address *addr);

/* ---- Decoding (mime_decode.c) ---- */

/* Conversion of a byte stream in some charset to UTF-8. Invalid or
 * unconvertible input becomes U+FFFD; output is whole characters only. */
struct charset_conv;
/* NULL when iconv does not know the charset. */
struct charset_conv *charset_conv_new(const char *charset);
/* Appends the UTF-8 of in to out; last ends the stream (a cut character
 * becomes U+FFFD). */
void charset_conv_feed(struct charset_conv *conv, const unsigned char *in,
                       size_t len, bool last, struct ph_buf *out);
void charset_conv_free(struct charset_conv **conv);

#define QP_PENDING_MAX 256
struct qp_state {
    unsigned char pending[QP_PENDING_MAX]; /* '=' sequence or whitespace */
    size_t npending;
    bool cr; /* a CR waits for its LF */
};
void qp_decode_step(struct qp_state *st, const unsigned char *in, size_t len,
                    struct ph_buf *out);
void qp_decode_finish(struct qp_state *st, struct ph_buf *out);

#endif
