/* SPDX-License-Identifier: MIT */
/* posthorn SDK: what SORT (RFC 5256), SORT=DISPLAY (RFC 5957) and THREAD
 * (RFC 5256, posthorn/thread.h) compare, computed once per message.
 *
 * A storage module calls ph_sort_keys_from_info() when it stores a message
 * and keeps the fields of struct ph_sort_keys as columns. Every string key
 * is a collation key (below): its bytes compare, unsigned and shorter-first
 * (memcmp, then length; SQLite's BINARY, PostgreSQL's COLLATE "C", a BLOB
 * or bytea column), exactly as the collation orders the original strings.
 * So `ORDER BY subject_key, uid` in SQL is SORT (SUBJECT) and an index on
 * the column makes it an index walk. Keys never hold NUL bytes and are at
 * most PH_SORT_KEY_MAX bytes (cut at a character boundary), which keeps
 * them indexable (PostgreSQL refuses index rows over ~2700 bytes); strings
 * that agree on their first PH_SORT_KEY_MAX key bytes sort as equal, and
 * the next criterion or the sequence number decides. */
#ifndef POSTHORN_SORT_H
#define POSTHORN_SORT_H

#include <time.h>

#include <posthorn/common.h>

struct ph_message_info;

/* ---- Collations (RFC 4790) ----------------------------------------------
 *
 * RFC 5256 section 7 makes SORT and THREAD collate with i;unicode-casemap
 * (RFC 5051, the I18NLEVEL=1 collation of RFC 5255), which is
 * PH_COLLATION_DEFAULT. The others are there for COMPARATOR (RFC 5255
 * section 4.7) and for callers that want ASCII-only folding.
 *
 * A collation key is the collation's prepared string, whose octet order is
 * the collation's order:
 *   - i;unicode-casemap: each character's simple titlecase mapping, then
 *     its canonical decomposition, both repeated until nothing changes
 *     (RFC 5051 section 2, from the Unicode data libunistring carries;
 *     Hangul syllables stay whole: UnicodeData.txt lists no decomposition
 *     for them); a string that is not valid UTF-8 is taken as binary, its
 *     bytes as they are (RFC 5051: "treated as binary");
 *   - i;ascii-casemap: a-z become A-Z (RFC 4790 section 9.2), so "_" sorts
 *     after the letters;
 *   - i;octet: the bytes (RFC 4790 section 9.3).
 * NUL bytes are dropped (no header value the keys come from can carry one
 * legitimately). Keys are idempotent: the key of a key is itself. */
enum ph_collation {
    PH_COLLATION_UNICODE_CASEMAP = 0,
    PH_COLLATION_ASCII_CASEMAP,
    PH_COLLATION_OCTET,
};
#define PH_COLLATION_DEFAULT PH_COLLATION_UNICODE_CASEMAP

/* "i;unicode-casemap", "i;ascii-casemap", "i;octet" (case-insensitively,
 * as RFC 4790 section 3.1 names are compared). false for another name. */
bool ph_collation_lookup(const char *name, size_t len,
                         enum ph_collation *coll_r) PH_WUR;
const char *ph_collation_name(enum ph_collation coll);
/* Appends the collation key of s (len bytes) to out. */
void ph_collation_key(enum ph_collation coll, const char *s, size_t len,
                      struct ph_buf *out);
/* <0, 0, >0 as a sorts before, with or after b under coll: the
 * comparison of their collation keys. The empty string sorts first. */
int ph_collation_compare(enum ph_collation coll, const char *a, size_t alen,
                         const char *b, size_t blen);
/* The order of two collation keys: memcmp over the shorter length, then
 * the shorter first (what SQL's byte order does). */
int ph_sort_key_compare(const char *a, size_t alen, const char *b, size_t blen);

/* ---- Base subject (RFC 5256 section 2.1) --------------------------------
 *
 * The procedure of section 2.1 as written: (1) RFC 2047 encoded words to
 * UTF-8 (ph_rfc2047_decode), tabs and line breaks to spaces, runs of
 * spaces to one; (2) remove subj-trailer ("(fwd)" or WSP) from the end
 * while one matches; (3) remove a subj-leader (WSP, or *subj-blob
 * subj-refwd: "[list] Re:", "Fwd:", "fw [x]:") from the start; (4) remove
 * a leading subj-blob ("[...]" without inner brackets) when a non-empty
 * subj-base follows it; (5) repeat (3) and (4); (6) when the text is
 * "[fwd:" ... "]", remove those and repeat from (2). The ABNF's literals
 * match without regard to ASCII case (RFC 5234 section 2.3).
 *
 * The result keeps its case (compare it through a collation key) and is
 * appended to out. Returns true when the message is a reply or forward in
 * the sense of RFC 5256 section 3 (REFERENCES): the extraction removed a
 * subj-refwd, a "(fwd)" subj-trailer, or a subj-fwd-hdr and subj-fwd-trl.
 * Linear in the length of the subject. */
bool ph_sort_base_subject(const char *subject, size_t len, struct ph_buf *out);
/* Steps (1) without the decoding, then (2) to (6), for text that is
 * already decoded. It is a projection: applied to its own result it gives
 * the same text and returns false. */
bool ph_sort_base_subject_decoded(const char *text, size_t len,
                                  struct ph_buf *out);

/* ---- Message IDs (RFC 5322 section 3.6.4) -------------------------------
 *
 * RFC 5256 compares Message IDs after normalizing away the differences of
 * quoting (`<"a"@b>` is `<a@b>`), case-sensitively. The normalized form
 * is again a valid msg-id: "<" id-left "@" id-right ">", with comments and
 * whitespace removed (the obsolete syntax of section 4.5.4 allows them
 * around the dots and the "@"), a quoted id-left unquoted when it is a
 * dot-atom-text and otherwise quoted with only '"' and '\' escaped, and
 * id-right as written without whitespace. Longer than PH_MSGID_MAX bytes,
 * an ID is taken as invalid. */
#define PH_MSGID_MAX 998

/* Finds the next valid msg-id in value at or after *pos (an offset, 0 to
 * start), appends its normalized form to out (without clearing it) and
 * moves *pos past it. Anything between IDs is skipped, so is an invalid
 * ID ("<no-at-sign>", a bare "<"): as RFC 5256 wants it for In-Reply-To,
 * "the first valid Message ID". Returns false when there is none left. */
bool ph_msgid_next(const char *value, size_t len, size_t *pos,
                   struct ph_buf *out);

/* The references RFC 5256 section 3 (REFERENCES) threads by: the valid IDs
 * of References when it has any, else the first valid ID of In-Reply-To,
 * else none. Either value may be NULL (the field is absent). Appends the
 * normalized IDs to out separated by one space (a valid References value,
 * which ph_msgid_next() reads back as it is); at most the last
 * PH_THREAD_MAX_REFERENCES of them, the closest ancestors, as an MUA that
 * trims References keeps them (RFC 5256 1.A expects trimmed fields). */
#define PH_THREAD_MAX_REFERENCES 100
void ph_thread_references(const char *references, size_t references_len,
                          const char *in_reply_to, size_t in_reply_to_len,
                          struct ph_buf *out);

/* ---- Per-message keys ---------------------------------------------------- */

/* Limit of a string key's length, in bytes. */
#define PH_SORT_KEY_MAX 1000

struct ph_sort_keys {
    /* Collation keys under PH_COLLATION_DEFAULT; never NULL, "" when the
     * field is absent (RFC 5256: "treated as the empty string"). */
    char *subject; /* SUBJECT: the base subject (RFC 5256 2.1) */
    /* FROM, TO, CC: the addr-mailbox of the first address of the field
     * (RFC 5256 section 3), as ENVELOPE has it (for a group, its name). */
    char *from, *to, *cc;
    /* DISPLAYFROM, DISPLAYTO (RFC 5957 section 3): the first address's
     * decoded display name when it is not empty, else addr-mailbox "@"
     * addr-host, else addr-mailbox, else "". */
    char *display_from, *display_to;
    /* DATE: the sent date in UTC seconds (RFC 5256 2.2): the Date header
     * (ph_rfc5322_date_parse: a bad zone counts as UTC), or the
     * INTERNALDATE when it is absent or cannot be parsed (date_from_header
     * false). */
    int64_t sent_date;
    bool date_from_header;
    int64_t arrival; /* ARRIVAL: the INTERNALDATE */
    uint64_t size;   /* SIZE: RFC822.SIZE */
    /* THREAD: whether the base subject extraction found a reply or
     * forward, the normalized Message-ID ("" when the message has no
     * valid one) and the references (ph_thread_references()). */
    bool subject_is_reply;
    char *message_id;
    char *references;
};

/* Computes every key of a parsed message (its header, ENVELOPE, size and
 * Date) and its INTERNALDATE. The caller frees with ph_sort_keys_clear().
 */
void ph_sort_keys_from_info(const struct ph_message_info *info,
                            time_t internal_date, struct ph_sort_keys *keys_r);
void ph_sort_keys_clear(struct ph_sort_keys *keys);

/* ---- SORT ---------------------------------------------------------------- */

/* The sort-key of RFC 5256 section 5 and RFC 5957 section 5. */
enum ph_sort_criterion {
    PH_SORT_ARRIVAL = 0,
    PH_SORT_CC,
    PH_SORT_DATE,
    PH_SORT_FROM,
    PH_SORT_SIZE,
    PH_SORT_SUBJECT,
    PH_SORT_TO,
    PH_SORT_DISPLAYFROM,
    PH_SORT_DISPLAYTO,
};

/* One sort-criterion: a key, descending when reverse (REVERSE reverses
 * that criterion alone, RFC 5256 section 3). */
struct ph_sort_program_item {
    enum ph_sort_criterion criterion;
    bool reverse;
};

/* The criterion's name as SORT spells it ("ARRIVAL", "DISPLAYFROM"...),
 * case-insensitively. */
bool ph_sort_criterion_lookup(const char *name, size_t len,
                              enum ph_sort_criterion *crit_r) PH_WUR;
const char *ph_sort_criterion_name(enum ph_sort_criterion crit);

/* Compares two messages' keys under a sort program: <0 when a sorts first,
 * 0 when every criterion ties (the caller then orders by sequence number,
 * RFC 5256's implicit last criterion). */
int ph_sort_keys_compare(const struct ph_sort_keys *a,
                         const struct ph_sort_keys *b,
                         const struct ph_sort_program_item *program,
                         size_t program_len);

/* Sorts n messages, given in mailbox order: fills order_r (n entries) with
 * their indexes, ordered by the program and then by index. */
void ph_sort_messages(const struct ph_sort_keys *const *keys, uint32_t n,
                      const struct ph_sort_program_item *program,
                      size_t program_len, uint32_t *order_r);

#endif
