/* SPDX-License-Identifier: MIT */
/* posthorn SDK: the message parser (RFC 5322, MIME) and what IMAP FETCH and
 * SEARCH need from a message.
 *
 * A storage module normalizes a message's line endings while it receives it
 * (ph_crlf_normalizer), stores the normalized bytes, and feeds the same bytes
 * to a ph_message_parser. The parser keeps only headers (bounded) and part
 * offsets, never the body. Its result, a ph_message_info, holds RFC822.SIZE,
 * ENVELOPE, BODYSTRUCTURE and BODY exactly as FETCH sends them, and the part
 * tree whose byte ranges answer BODY[section]. The storage keeps the info
 * serialized (ph_message_info_serialize) beside the bytes; FETCH deserializes
 * it and never re-parses.
 *
 * Every offset is into the bytes that were fed to the parser.
 *
 * How the FETCH values are built (RFC 3501 7.4.2; tests/unit/
 * test_message_corpus.c lists where this differs from Dovecot and why):
 *   - strings are quoted, or literals when they hold CR, LF or 8-bit bytes;
 *   - ENVELOPE fields are the raw values, unfolded by removing CRLF (RFC 5322
 *     2.2.3), encoded words left as they are; repeated address fields are
 *     joined; an address without mailbox or host gets MISSING_MAILBOX /
 *     MISSING_DOMAIN (a NIL host would mean a group), an unparsable
 *     angle-address SYNTAX_ERROR;
 *   - types, subtypes and parameters as sent; message/rfc822 written in
 *     lower case; no or an invalid Content-Type is text/plain (RFC 2045
 *     5.2), message/rfc822 in a multipart/digest (RFC 2046 5.1.5); text
 *     parts without a charset get ("charset" "us-ascii");
 *   - RFC 2231: continuations (name*0, name*1...) are joined; a value with
 *     a charset stays encoded under "name*" ("utf-8''%C3%A9"), so the list
 *     stays 7-bit and the client, which knows its charsets, decodes it;
 *   - the CRLF before a boundary line belongs to the boundary (RFC 2046
 *     5.1.1), always; line counts are the LFs of a body;
 *   - the boundary is the parameter without trailing whitespace (RFC 2046
 *     5.1.1 ends it in bcharsnospace; whitespace ends a delimiter line as
 *     transport padding), of any length up to max_boundary_size, RFC 2231
 *     continuations joined and an extended value %-decoded; an empty body
 *     part (a delimiter right after a delimiter) is a part of size 0;
 *   - a multipart without any body part shows one empty text/plain part
 *     (the grammar needs one); a base64 or quoted-printable message/rfc822
 *     shows an empty message (RFC 2046 5.2.1 forbids the encoding). */
#ifndef POSTHORN_MESSAGE_H
#define POSTHORN_MESSAGE_H

#include <time.h>

#include <posthorn/common.h>

/* ---- Line-ending normalization ------------------------------------------
 *
 * Messages are stored with CRLF line endings, as RFC 5322 section 2.3 and
 * RFC 3501 (which sends them in literals as they are) expect:
 *   - a bare LF becomes CRLF;
 *   - CR CR LF becomes CRLF (a CRLF that went through a second LF->CRLF
 *     conversion; Dovecot does the same);
 *   - any other bare CR is kept: RFC 3501's CHAR8 allows it in a literal, and
 *     turning it into a line break would change the text of binary parts;
 *   - NUL becomes 0x80: RFC 3501 CHAR8 excludes NUL, so a NUL could never be
 *     sent in a FETCH literal. The count is kept so that APPEND may refuse
 *     such a message instead (RFC 3501 6.3.11 allows a NO).
 * The output never grows by more than one byte per input byte plus the two
 * CRs that may be pending at a chunk end. */
struct ph_crlf_normalizer {
    unsigned pending_cr; /* CRs seen but not yet written (0..2) */
    uint64_t in_size, out_size;
    uint64_t nul_count, bare_cr_count;
};

void ph_crlf_normalizer_init(struct ph_crlf_normalizer *n);
/* Normalizes len bytes of in into out, which must hold 2 * len + 2 bytes;
 * returns the number of bytes written. Any split of the input gives the same
 * output. */
size_t ph_crlf_normalize(struct ph_crlf_normalizer *n, const void *in,
                         size_t len, void *out);
/* Writes what is still pending at the end of input (at most 2 bytes). */
size_t ph_crlf_normalize_finish(struct ph_crlf_normalizer *n, void *out);
/* One-shot: returns a malloc'ed normalized copy (NUL-terminated, not
 * counted in *len_r). */
char *ph_crlf_normalize_buf(const void *in, size_t len, size_t *len_r);

/* ---- The parsed message ------------------------------------------------- */

#define PH_MESSAGE_PART_NONE UINT32_MAX

enum ph_message_part_flags {
    /* multipart/<any> with a boundary: the children are its body parts. */
    PH_MESSAGE_PART_MULTIPART = 1u << 0,
    /* message/rfc822: the only child is the embedded message. */
    PH_MESSAGE_PART_RFC822 = 1u << 1,
    /* The node is a message (the root, or the child of an RFC822 part):
     * its header is a message header; HEADER and TEXT apply to it. */
    PH_MESSAGE_PART_MESSAGE = 1u << 2,
    /* text/<any>, or a part without a usable Content-Type. */
    PH_MESSAGE_PART_TEXT = 1u << 3,
    /* A limit (depth, part count) made this part a leaf: its declared type
     * is multipart or message, its structure is reported as text/plain. */
    PH_MESSAGE_PART_LIMITED = 1u << 4,
    /* The header block was longer than the limit; fields were parsed from
     * its first max_header_size bytes. */
    PH_MESSAGE_PART_HEADER_TRUNCATED = 1u << 5,
};

/* Content-Transfer-Encoding, as far as decoding is concerned. */
enum ph_message_encoding {
    PH_MESSAGE_ENCODING_7BIT = 0,
    PH_MESSAGE_ENCODING_8BIT,
    PH_MESSAGE_ENCODING_BINARY,
    PH_MESSAGE_ENCODING_BASE64,
    PH_MESSAGE_ENCODING_QUOTED_PRINTABLE,
    /* Anything else (x-uuencode, a typo): served as is, not decoded. */
    PH_MESSAGE_ENCODING_OTHER,
};

/* One node of the part tree. parts[0] is the message itself. Nodes are in
 * depth-first order: a node's descendants follow it. */
struct ph_message_part {
    uint32_t parent;       /* index, or PH_MESSAGE_PART_NONE for parts[0] */
    uint32_t first_child;  /* index, or PH_MESSAGE_PART_NONE */
    uint32_t next_sibling; /* index, or PH_MESSAGE_PART_NONE */
    uint32_t n_children;
    uint32_t flags;    /* enum ph_message_part_flags */
    uint32_t encoding; /* enum ph_message_encoding */
    /* The MIME header (for a message node: the message header), including
     * the blank line that ends it when there is one. */
    uint64_t header_offset, header_size;
    /* The body: what follows the header up to the CRLF before the next
     * boundary (RFC 2046 5.1.1), or to the end of the enclosing part. */
    uint64_t body_offset, body_size;
    uint64_t body_lines; /* LFs in the body */
    /* Lower-case media type and subtype ("text", "plain"); the charset
     * parameter as sent, or NULL. Never NULL for type and subtype. */
    char *type, *subtype, *charset;
};

struct ph_message_info {
    uint64_t size;  /* RFC822.SIZE: the number of bytes fed */
    uint64_t lines; /* LFs in the message */
    /* FETCH item values, exactly as sent after the item name. */
    char *envelope, *bodystructure, *body;
    uint32_t n_parts;
    struct ph_message_part *parts;
    /* The top-level header, at most max_header_size bytes of it (then
     * parts[0].flags has PH_MESSAGE_PART_HEADER_TRUNCATED): for
     * HEADER.FIELDS and SEARCH HEADER without reading the stored bytes. */
    char *header;
    size_t header_size;
    /* First Subject/From/To/Cc/Bcc/Message-ID of the top-level header,
     * unfolded (CR and LF removed), leading whitespace removed, encoded
     * words left as they are (ph_rfc2047_decode() them for SEARCH); NULL
     * when the field is absent. */
    char *subject, *from, *to, *cc, *bcc, *message_id;
    /* The Date header, parsed (for SEARCH SENTBEFORE/SENTON/SENTSINCE). */
    bool has_date;
    time_t date;        /* UTC */
    int date_tz_offset; /* minutes east of UTC, as written */
};

/* ---- Parsing ------------------------------------------------------------ */

/* Limits that keep a hostile message from taking unbounded memory or time.
 * Past max_depth or max_parts, the part being opened becomes a leaf that
 * holds the rest of its enclosing body (PH_MESSAGE_PART_LIMITED). */
struct ph_message_limits {
    size_t max_header_size;       /* per header block; default 1 MiB */
    size_t max_total_header_size; /* all blocks together; default 16 MiB */
    uint32_t max_depth;           /* nesting of parts; default 100 */
    uint32_t max_parts;           /* nodes in the tree; default 5000 */
    size_t max_boundary_size;     /* longer boundaries are ignored; 8192 */
};

void ph_message_limits_default(struct ph_message_limits *limits_r);

struct ph_message_parser;

/* limits may be NULL for the defaults. */
struct ph_message_parser *
ph_message_parser_new(const struct ph_message_limits *limits);
/* Feeds the next bytes: any split gives the same result. */
void ph_message_parser_feed(struct ph_message_parser *parser, const void *data,
                            size_t len);
/* Ends the input, frees the parser and returns the result, which the caller
 * frees with ph_message_info_free(). Parsing never fails: any input gives a
 * result (tolerant like real servers). */
struct ph_message_info *
ph_message_parser_finish(struct ph_message_parser **parser);
/* Abandons a parse. */
void ph_message_parser_free(struct ph_message_parser **parser);

/* One-shot convenience over the three calls above. */
struct ph_message_info *ph_message_parse(const void *data, size_t len);

void ph_message_info_free(struct ph_message_info **info);

/* ---- Serialization ------------------------------------------------------ */

/* A compact, versioned, length-prefixed binary form of info; *buf_r is
 * malloc'ed. */
void ph_message_info_serialize(const struct ph_message_info *info, void **buf_r,
                               size_t *len_r);
/* Reads what ph_message_info_serialize() wrote. The bytes come from a
 * database and are checked as hostile: a bad version, truncation, an
 * offset outside the message, an inconsistent tree or a FETCH string that is
 * not valid IMAP syntax gives -1 and *error_r. */
int ph_message_info_deserialize(const void *buf, size_t len,
                                struct ph_message_info **info_r,
                                const char **error_r) PH_WUR;

/* ---- BODY[section] ------------------------------------------------------ */

enum ph_message_section_text {
    PH_MESSAGE_SECTION_ALL,    /* BODY[] or BODY[1.2]: the part's body */
    PH_MESSAGE_SECTION_HEADER, /* [HEADER], [2.HEADER] */
    PH_MESSAGE_SECTION_HEADER_FIELDS,
    PH_MESSAGE_SECTION_HEADER_FIELDS_NOT,
    PH_MESSAGE_SECTION_TEXT, /* [TEXT], [2.TEXT] */
    PH_MESSAGE_SECTION_MIME, /* [1.2.MIME] */
};

/* A parsed section-spec (RFC 3501 section 9, "section-spec"). */
struct ph_message_section {
    uint32_t *path; /* part numbers, 1-based; path_len 0 for the message */
    size_t path_len;
    enum ph_message_section_text text;
    struct ph_strlist fields; /* for HEADER.FIELDS[.NOT], as sent */
};

/* Parses the text between "[" and "]" (e.g. `1.2.MIME`,
 * `HEADER.FIELDS (From "To")`). -1 with *error_r, a text for a tagged BAD.
 * The caller frees *sec_r with ph_message_section_clear() on success. */
int ph_message_section_parse(const char *spec, size_t len,
                             struct ph_message_section *sec_r,
                             const char **error_r) PH_WUR;
void ph_message_section_clear(struct ph_message_section *sec);

enum ph_message_section_lookup {
    PH_MESSAGE_SECTION_FOUND = 0,
    /* A well-formed section naming a part the message does not have (or
     * HEADER/TEXT on a part that is not message/rfc822): FETCH answers
     * with an empty string. */
    PH_MESSAGE_SECTION_ABSENT = 1,
};

/* The byte range a section refers to. For HEADER.FIELDS[.NOT] it is the
 * whole header, which the caller passes through ph_message_header_filter(). */
enum ph_message_section_lookup
ph_message_section_lookup(const struct ph_message_info *info,
                          const struct ph_message_section *sec,
                          uint64_t *offset_r, uint64_t *size_r);
/* Parse + lookup. Returns -1 with *error_r for a malformed spec. */
int ph_message_section_range(const struct ph_message_info *info,
                             const char *spec, uint64_t *offset_r,
                             uint64_t *size_r, const char **error_r) PH_WUR;
/* Appends to out the fields of header (hdr, len) whose names match (not:
 * do not match) one of names, case-insensitively, in message order, then
 * the blank line when the header ends with one (RFC 3501 6.4.5: a message
 * with no body and no blank line has none). */
void ph_message_header_filter(const char *hdr, size_t len,
                              const struct ph_strlist *names, bool not,
                              struct ph_buf *out);
/* Applies a partial fetch <start.count> to a range (RFC 3501 6.4.5): a
 * start past the end gives an empty range. */
void ph_message_range_partial(uint64_t *offset, uint64_t *size, uint64_t start,
                              uint64_t count);

/* The node of info->parts that the part numbers path[0..path_len) name,
 * walked as ph_message_section_lookup() walks them (path_len 0: the
 * message); PH_MESSAGE_PART_NONE when the message has no such part.
 * (ABI 1.6) */
uint32_t ph_message_section_part(const struct ph_message_info *info,
                                 const uint32_t *path, size_t path_len);

/* ---- BINARY (RFC 3516), ABI 1.6 ---------------------------------------- */

/* Appends header (a message or MIME header, its blank line included when
 * it has one) to out with its Content-Transfer-Encoding fields replaced
 * by one "Content-Transfer-Encoding: <encoding>", and the blank line after
 * it (made when header had none): the header of a part whose body was
 * decoded or re-encoded. */
void ph_message_header_set_encoding(const char *hdr, size_t len,
                                    const char *encoding, struct ph_buf *out);

/* Line ends of decoded text: "servers MUST ensure that textual
 * line-oriented sections are always transmitted using the IMAP CRLF line
 * termination" (RFC 3516 6, RFC 9051 7.5.2), so a bare LF that decoding
 * gave becomes CRLF; every other byte (a bare CR too) passes. Chunks may
 * be cut anywhere. Start from a zeroed struct. */
struct ph_text_crlf {
    bool cr; /* the last byte fed was a CR */
};
void ph_text_crlf_feed(struct ph_text_crlf *st, const void *in, size_t len,
                       struct ph_buf *out);

/* ---- Decoding for SEARCH ------------------------------------------------ */

/* Appends the UTF-8 text of a header value to out: RFC 2047 encoded words
 * (B and Q, RFC 2231 language suffix ignored) are converted from their
 * charset with iconv; whitespace between adjacent encoded words is dropped;
 * an encoded word in an unknown charset or with a bad encoding is kept as
 * it is; other bytes are copied. */
void ph_rfc2047_decode(const char *in, size_t len, struct ph_buf *out);

/* Appends to out what SEARCH FROM/TO/CC/BCC compare besides the raw
 * value of an address field (RFC 5322 3.4): one string per mailbox,
 * "Display Name <local@domain>" (or "local@domain" without a name), with
 * comments and folding whitespace gone from where RFC 5322 3.2.2 allows
 * them (around the '@' and the dots, inside the angle brackets, in the
 * display name, the group syntax and the obsolete route), quoted strings
 * unquoted and the name's encoded words decoded; and a group's name. So
 * `<user (c)@ (c) example.org>` is found by "user@example.org". */
void ph_message_address_forms(const char *value, size_t len,
                              struct ph_strlist *out);

/* Streams a part's body to UTF-8 text: undoes the transfer encoding, then
 * converts from charset (NULL: no conversion, raw decoded bytes; unknown or
 * us-ascii/utf-8: checked as UTF-8, bad bytes become U+FFFD). The callback
 * gets whole characters only, in chunks of at most a few KiB, so a 20 MB
 * body never sits in memory. */
typedef void ph_message_decoder_cb(void *context, const char *data, size_t len);
struct ph_message_decoder;
struct ph_message_decoder *
ph_message_decoder_new(enum ph_message_encoding encoding, const char *charset,
                       ph_message_decoder_cb *cb, void *context);
void ph_message_decoder_feed(struct ph_message_decoder *dec, const void *data,
                             size_t len);
/* Flushes what is pending and frees the decoder. */
void ph_message_decoder_finish(struct ph_message_decoder **dec);

/* Case-insensitive substring search for SEARCH over UTF-8 text. Both sides
 * go through Unicode full case folding (libunistring u8_casefold, no
 * normalization): "STRASSE" finds "straße", "ΣΑΣ" finds "σας". Text that is
 * not valid UTF-8 is compared byte for byte after ASCII folding. The text
 * may come in any number of chunks cut between characters; a match across
 * chunks is found. */
struct ph_message_matcher;
struct ph_message_matcher *ph_message_matcher_new(const char *key, size_t len);
/* Returns true once the key has been seen (and from then on). */
bool ph_message_matcher_feed(struct ph_message_matcher *m, const char *text,
                             size_t len);
/* Forgets what was fed, to search another text with the same key. */
void ph_message_matcher_reset(struct ph_message_matcher *m);
void ph_message_matcher_free(struct ph_message_matcher **m);
/* One-shot. */
bool ph_message_text_contains(const char *text, size_t text_len,
                              const char *key, size_t key_len);
/* Appends s to out folded as the matcher folds (text and key alike):
 * Unicode full case folding when s is valid UTF-8, ASCII folding
 * otherwise. Folding is idempotent: folded text searched again gives the
 * same answers. */
void ph_message_fold(const char *s, size_t len, struct ph_buf *out);

/* The text SEARCH TEXT and BODY compare (RFC 3501 6.4.4), streamed to
 * sink in pieces, each followed by a line break (so that no match spans
 * two pieces):
 *   - the headers (TEXT only): the message's header, then every MIME part
 *     header and every embedded message's header in message order, each
 *     with RFC 2047 words decoded, and after each the file name its
 *     Content-Type (name) and Content-Disposition (filename) carry,
 *     decoded (RFC 2231 continuations and charsets, RFC 2047 words); a
 *     part header is read up to 1 MiB;
 *   - the bodies (TEXT and BODY): the decoded content of every text leaf
 *     part, in message order.
 * TEXT is the header or body of the message, and the body is all that
 * follows the top-level header, MIME headers and embedded messages
 * included; BODY, like Dovecot's, is the text the parts hold, without any
 * header. PH_MESSAGE_TEXT_HEADERS gives the first half alone: HEADERS
 * then BODY is exactly ALL, so a storage may keep one text and answer
 * BODY from where the headers end. Without info (a structure that did not
 * read back), ALL and BODY are the whole message as stored, HEADERS
 * nothing. read delivers a byte range of the message to its callback
 * (ph_mailbox_read() has this shape); its first nonzero result ends the
 * walk and is returned. A sink that returns true has seen enough: the
 * walk stops there and returns 0. */
typedef int ph_message_data_cb(void *arg, const void *data, size_t len);
typedef int ph_message_reader(void *arg, uint64_t offset, uint64_t size,
                              ph_message_data_cb *cb, void *cb_arg);
typedef bool ph_message_text_sink(void *arg, const char *data, size_t len);
enum ph_message_text {
    PH_MESSAGE_TEXT_BODY = 0, /* SEARCH BODY */
    PH_MESSAGE_TEXT_ALL = 1,  /* SEARCH TEXT */
    PH_MESSAGE_TEXT_HEADERS = 2,
};
int ph_message_search_text(const struct ph_message_info *info, uint64_t size,
                           enum ph_message_text what, ph_message_reader *read,
                           void *read_arg, ph_message_text_sink *sink,
                           void *sink_arg);

/* ---- Preview (RFC 8970, ABI 1.6) ---------------------------------------- */

/* The PREVIEW of a message into out (reset first): UTF-8 text of at most
 * PH_MESSAGE_PREVIEW_CHARS characters, white space collapsed, HTML
 * markup removed, made of the message's first text/plain part (or
 * text/html, when the message has no plain alternative), decoded from its
 * transfer encoding and charset; empty when the message has no such text
 * (RFC 8970 3.2: "the server MUST return a zero-length string"). info
 * NULL gives the empty text. Reads at most 256 KiB of the part through
 * read; returns read's failure, else 0. */
#define PH_MESSAGE_PREVIEW_CHARS 200
int ph_message_preview(const struct ph_message_info *info,
                       ph_message_reader *read, void *read_arg,
                       struct ph_buf *out);

/* APPEND of a literal8 (RFC 3516 4.4: "The server MAY modify the CTE of
 * the appended data, however any such transformation MUST NOT result in
 * a loss of data"). Stored messages hold no NUL and have CRLF line ends
 * (see the normalization above), so the leaf parts (7bit, 8bit or binary)
 * whose body holds a NUL, and the "binary" ones with a CR or LF that is no
 * CRLF, are written base64-encoded (76-character lines) with their
 * Content-Transfer-Encoding field saying so; every other byte is written
 * as it is. info is the parse of the raw message of size bytes, which
 * read delivers; out gets the result. Returns PH_MESSAGE_BINARY_AS_IS
 * (nothing written: nothing needs it), PH_MESSAGE_BINARY_ENCODED,
 * PH_MESSAGE_BINARY_UNENCODABLE (nothing written: a NUL in a header, a
 * preamble or an encoded part, which no transfer encoding carries), or the
 * first nonzero result of read or out. (ABI 1.6) */
#define PH_MESSAGE_BINARY_AS_IS 0
#define PH_MESSAGE_BINARY_ENCODED 1
#define PH_MESSAGE_BINARY_UNENCODABLE 2
int ph_message_binary_encode(const struct ph_message_info *info, uint64_t size,
                             ph_message_reader *read, void *read_arg,
                             ph_message_data_cb *out, void *out_arg);

/* ---- Dates -------------------------------------------------------------- */

/* Parses an RFC 5322 date-time (section 3.3), tolerating the obsolete
 * syntax of section 4.3: missing day name or seconds, two- and three-digit
 * years, named zones (UT, GMT, EST...; military letters and unknown zones
 * count as -0000), comments, missing zone (taken as +0000). Returns 0 with
 * the UTC time and the zone offset in minutes east, or -1. */
int ph_rfc5322_date_parse(const char *value, size_t len, time_t *time_r,
                          int *tz_offset_r) PH_WUR;

#endif
