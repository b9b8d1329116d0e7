/* SPDX-License-Identifier: MIT */
/* posthorn SDK: IMAP syntax helpers without I/O: modified UTF-7 mailbox
 * names, sequence sets, dates, and writing strings into responses. */
#ifndef POSTHORN_IMAP_UTIL_H
#define POSTHORN_IMAP_UTIL_H

#include <time.h>

#include <posthorn/common.h>

/* The system flags of RFC 3501 2.3.2 as bits (\Recent is the session's,
 * not stored). */
enum ph_flag {
    PH_FLAG_SEEN = 1u << 0,
    PH_FLAG_ANSWERED = 1u << 1,
    PH_FLAG_FLAGGED = 1u << 2,
    PH_FLAG_DELETED = 1u << 3,
    PH_FLAG_DRAFT = 1u << 4,
};

/* ---- Modified UTF-7 (RFC 3501 section 5.1.3) ---------------------------- */

/* Appends the UTF-8 form of a modified UTF-7 mailbox name to out. Strict:
 * only the canonical encoding is accepted, so that converting the result
 * back gives the input again. Rejected: bytes outside 0x20-0x7e, an "&"
 * sequence that is not closed by "-", characters outside modified BASE64,
 * printable ASCII or NUL encoded in BASE64, two encoded sequences next to
 * each other, non-zero or superfluous padding bits, unpaired surrogates.
 * -1 with *error_r (out then holds a partial result). */
int ph_imap_mutf7_to_utf8(const char *in, size_t len, struct ph_buf *out,
                          const char **error_r) PH_WUR;
/* Appends the modified UTF-7 form of a UTF-8 name to out. -1 with *error_r
 * for invalid UTF-8 (overlong forms, surrogates, > U+10FFFF) or NUL. */
int ph_imap_utf8_to_mutf7(const char *in, size_t len, struct ph_buf *out,
                          const char **error_r) PH_WUR;

/* ---- UTF-8 strings and mailbox names (RFC 6855, RFC 9051 5.1) ----------- */

/* Whether in[0..len) is strict UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). (ABI 1.6) */
bool ph_imap_utf8_valid(const char *in, size_t len);
/* 0 when in[0..len) may name a new mailbox of a UTF-8 client: valid UTF-8
 * in Net-Unicode (RFC 5198 2: Normalization Form C) without the control
 * characters, DEL and line and paragraph separators that RFC 6855 3 rules
 * out; else -1 with *error_r. (ABI 1.6) */
int ph_imap_mailbox_name_check(const char *in, size_t len,
                               const char **error_r) PH_WUR;

/* ---- Sequence sets (RFC 3501 section 9, sequence-set) ------------------- */

struct ph_imap_seq_range {
    uint32_t lo, hi; /* inclusive, 1 <= lo <= hi */
};

struct ph_imap_seqset {
    struct ph_imap_seq_range *ranges;
    size_t n, cap;
    /* The set used "*". When the star value passed to the parser was 0
     * (an empty mailbox: "*" is the largest number in use and there is
     * none), every range that used "*" was left out; the caller decides
     * what that means (for UIDs: nothing; for sequence numbers: RFC 3501
     * makes it an error). */
    bool has_star;
};

#define PH_IMAP_SEQSET_MAX_RANGES 10000

/* Parses "1:3,5,7:*,*" with "*" standing for star (the largest sequence
 * number or UID in use, 0 when there is none). Ranges may be written in
 * either order ("4:2" is "2:4"); they are kept in the order written (see
 * ph_imap_seqset_sort). Numbers are 1..4294967295 without leading zeros.
 * "$" (RFC 5182) is not handled: the caller checks for it first. More than
 * max_ranges ranges (0: PH_IMAP_SEQSET_MAX_RANGES) is an error. -1 with
 * *error_r for a tagged BAD. set_r is cleared first; free it with
 * ph_imap_seqset_clear() in every case. */
int ph_imap_seqset_parse(const char *str, size_t len, uint32_t star,
                         size_t max_ranges, struct ph_imap_seqset *set_r,
                         const char **error_r) PH_WUR;
void ph_imap_seqset_clear(struct ph_imap_seqset *set);
/* Sorts the ranges and merges overlapping and adjacent ones. */
void ph_imap_seqset_sort(struct ph_imap_seqset *set);
/* On a sorted set. */
bool ph_imap_seqset_contains(const struct ph_imap_seqset *set, uint32_t n);
/* How many numbers the set holds (a sorted set counts each once). */
uint64_t ph_imap_seqset_count(const struct ph_imap_seqset *set);
/* The largest number in the set, 0 for an empty set. */
uint32_t ph_imap_seqset_max(const struct ph_imap_seqset *set);
void ph_imap_seqset_add(struct ph_imap_seqset *set, uint32_t lo, uint32_t hi);
/* Writes "1:3,5" (nothing for an empty set). */
void ph_imap_seqset_write(struct ph_buf *out, const struct ph_imap_seqset *set);

/* ---- Partial ranges (RFC 5267 4.4, RFC 9394 4: partial-range) ---------
 *
 * "n:m" counts results from the first (1 is the first), "-n:-m" from the
 * last (-1 is the last); either order means the same range. (ABI 1.4) */
struct ph_imap_partial {
    bool last;              /* "-n:-m" */
    uint32_t first, second; /* the numbers as written, without the signs */
};

/* Parses a partial-range: nz-numbers (1..4294967295, no leading zero),
 * both negative or neither. -1 with *error_r for a tagged BAD. */
int ph_imap_partial_parse(const char *str, size_t len,
                          struct ph_imap_partial *p_r,
                          const char **error_r) PH_WUR;
/* Writes the range as written ("1:100", "-1:-100"). */
void ph_imap_partial_write(struct ph_buf *out, const struct ph_imap_partial *p);
/* The results [*start_r, *end_r) of n that the range names (empty when
 * it names none). */
void ph_imap_partial_slice(const struct ph_imap_partial *p, size_t n,
                           size_t *start_r, size_t *end_r);

/* ---- Dates -------------------------------------------------------------- */

/* Parses an RFC 3501 date-time "dd-Mon-yyyy hh:mm:ss +zzzz" (the value of
 * a quoted string, without its quotes; the day may be " 7", "07" or "7").
 * Returns 0 with the UTC time and the zone in minutes east of UTC, or -1
 * with *error_r. */
int ph_imap_date_time_parse(const char *str, size_t len, time_t *time_r,
                            int *tz_r, const char **error_r) PH_WUR;
/* Writes "\"dd-Mon-yyyy hh:mm:ss +zzzz\"" as INTERNALDATE sends it, for t
 * seen from a zone tz minutes east of UTC. */
void ph_imap_date_time_write(struct ph_buf *out, time_t t, int tz);
/* Parses a SEARCH date "d-Mon-yyyy" or "dd-Mon-yyyy" (the parser has
 * already removed quotes). *day_r: days since 1970-01-01 (may be
 * negative). -1 with *error_r. */
int ph_imap_date_parse(const char *str, size_t len, int64_t *day_r,
                       const char **error_r) PH_WUR;
/* The day of t as seen from a zone tz minutes east of UTC, in days since
 * 1970-01-01: what SEARCH BEFORE/ON/SINCE compare ("disregarding time and
 * timezone"). */
int64_t ph_imap_day_of(time_t t, int tz);

/* ---- Writing strings into responses ------------------------------------- */

/* Can s go in a quoted string? (No NUL, CR, LF or 8-bit byte.) */
bool ph_imap_string_quotable(const char *s, size_t len);
/* "..." with '"' and '\' escaped; s must be quotable. */
void ph_imap_write_quoted(struct ph_buf *out, const char *s, size_t len);
/* {n}CRLF followed by the bytes. */
void ph_imap_write_literal(struct ph_buf *out, const char *s, size_t len);
/* string: quoted when quotable, else a literal. */
void ph_imap_write_string(struct ph_buf *out, const char *s, size_t len);
/* nstring: NIL for s == NULL, else a string. */
void ph_imap_write_nstring(struct ph_buf *out, const char *s, size_t len);
/* astring: an atom when s is one (not empty, only ASTRING-CHARs, and not
 * "NIL" which a client could read as NIL), else a string. */
void ph_imap_write_astring(struct ph_buf *out, const char *s, size_t len);
void ph_imap_write_nil(struct ph_buf *out);

#endif
