/* SPDX-License-Identifier: MIT */
/* posthorn SDK: IMAP SEARCH programs (RFC 3501 6.4.4, MODSEQ of RFC 7162,
 * "$" of RFC 5182, OLDER and YOUNGER of RFC 5032):
 * parsed from the command parser's values into a tree of keys, evaluated
 * against one message at a time.
 *
 * The tree is normalized: UNSEEN is NOT SEEN, NEW is (RECENT NOT SEEN), OLD
 * is NOT RECENT, FROM/TO/CC/BCC/SUBJECT are HEADER keys, nested groups are
 * flattened, and within each AND and OR the cheap keys (flags, numbers,
 * dates) come before header keys, which come before body and text keys, so
 * that evaluation stops before the expensive ones where it can. */
#ifndef POSTHORN_IMAP_SEARCH_H
#define POSTHORN_IMAP_SEARCH_H

#include <time.h>

#include <posthorn/common.h>
#include <posthorn/imap-parser.h>
#include <posthorn/imap-util.h>
#include <posthorn/sort.h>

enum ph_imap_search_op {
    PH_IMAP_SEARCH_AND, /* every child: a group, or the program itself */
    PH_IMAP_SEARCH_OR,  /* two children */
    PH_IMAP_SEARCH_NOT, /* one child */
    PH_IMAP_SEARCH_ALL,
    PH_IMAP_SEARCH_FLAG, /* flag: one enum ph_flag bit is set */
    PH_IMAP_SEARCH_RECENT,
    PH_IMAP_SEARCH_KEYWORD, /* str: the keyword */
    PH_IMAP_SEARCH_SEQSET,  /* set: sequence numbers */
    PH_IMAP_SEARCH_UIDSET,  /* set: UIDs */
    PH_IMAP_SEARCH_LARGER,  /* number */
    PH_IMAP_SEARCH_SMALLER, /* number */
    PH_IMAP_SEARCH_BEFORE,  /* day: internal date */
    PH_IMAP_SEARCH_ON,
    PH_IMAP_SEARCH_SINCE,
    PH_IMAP_SEARCH_SENTBEFORE, /* day: Date header */
    PH_IMAP_SEARCH_SENTON,
    PH_IMAP_SEARCH_SENTSINCE,
    PH_IMAP_SEARCH_HEADER, /* field, str/len (FROM is HEADER FROM ...) */
    PH_IMAP_SEARCH_BODY,   /* str/len */
    PH_IMAP_SEARCH_TEXT,   /* str/len */
    PH_IMAP_SEARCH_MODSEQ, /* number: modseq >= number */
    /* ABI 1.6 (RFC 8474 6): str, an objectid, compared exactly */
    PH_IMAP_SEARCH_EMAILID,
    PH_IMAP_SEARCH_THREADID,
};

/* How expensive a key is to evaluate. */
enum ph_imap_search_cost {
    PH_IMAP_SEARCH_COST_META = 0, /* flags, numbers, dates: no message */
    PH_IMAP_SEARCH_COST_HEADER = 1,
    PH_IMAP_SEARCH_COST_BODY = 2,
};

struct ph_imap_search_key {
    enum ph_imap_search_op op;
    enum ph_imap_search_cost cost; /* of the key and all below it */
    struct ph_imap_search_key *children;
    size_t n_children;
    uint32_t flag;   /* FLAG: enum ph_flag bit (posthorn/storage.h) */
    char *field;     /* HEADER: the field name as sent */
    char *str;       /* KEYWORD, HEADER, BODY, TEXT (NUL-terminated) */
    size_t len;      /* bytes of str */
    uint64_t number; /* LARGER, SMALLER, MODSEQ */
    int64_t day;     /* dates: days since 1970-01-01 */
    struct ph_imap_seqset set; /* SEQSET, UIDSET: sorted and merged */
};

struct ph_imap_search {
    struct ph_imap_search_key root;
    /* MODSEQ appears: the response carries (MODSEQ n) (RFC 7162 3.1.5). */
    bool has_modseq;
};

struct ph_imap_search_params {
    uint32_t max_seq; /* messages in the mailbox: "*" in sequence sets */
    uint32_t max_uid; /* largest UID in use (0: none): "*" in UID sets */
    /* Nesting of OR, NOT and groups; 0: the default, 1000. */
    unsigned max_depth;
    /* Ranges of one sequence set; 0: PH_IMAP_SEQSET_MAX_RANGES. */
    size_t max_ranges;
    /* The fields below are of ABI 1.4; zero them for the behaviour of
     * before (a caller that initializes with designated initializers
     * does). */
    /* RFC 5182 (SEARCHRES): the saved search result, as sorted UIDs, that
     * "$" stands for (as a sequence set or after UID): a UID key. NULL:
     * "$" is refused. */
    const struct ph_imap_seqset *saved;
    /* RFC 5032 (WITHIN): OLDER and YOUNGER (younger true) n, resolved
     * when parsed to the UIDs whose INTERNALDATE is at most (OLDER) or at
     * least (YOUNGER) n seconds before now, which the callback adds to
     * uids_r (it may leave it unsorted); the key becomes a UID key. A
     * callback that cannot tell records its failure in ctx and answers
     * nothing. NULL: the keys are unknown. */
    void (*within)(void *ctx, bool younger, uint64_t seconds,
                   struct ph_imap_seqset *uids_r);
    void *within_ctx;
    /* SORT and THREAD (RFC 5256): the arguments start with the charset,
     * which is required and not preceded by the word CHARSET. */
    bool charset_first;
};

/* What ph_imap_search_parse() returns. */
#define PH_IMAP_SEARCH_OK 0
#define PH_IMAP_SEARCH_BAD (-1)        /* syntax: tagged BAD *error_r */
#define PH_IMAP_SEARCH_BADCHARSET (-2) /* NO [BADCHARSET ...] *error_r */
/* The charsets SEARCH accepts, as BADCHARSET lists them. */
#define PH_IMAP_SEARCH_CHARSETS "(UTF-8 US-ASCII)"

/* Parses the arguments after SEARCH (for UID SEARCH, after "UID SEARCH"):
 * [CHARSET astring] 1*search-key (with charset_first: astring
 * 1*search-key). A caller that supports ESEARCH reads the RETURN options
 * first (ph_imap_search_return_parse()). Strings are used as sent (the matcher
 * treats text that is not UTF-8 byte by byte). On error *error_r is static or
 * owned by the calling thread until its next call here. */
int ph_imap_search_parse(const struct ph_imap_value *args, size_t n_args,
                         const struct ph_imap_search_params *params,
                         struct ph_imap_search **prog_r,
                         const char **error_r) PH_WUR;
void ph_imap_search_free(struct ph_imap_search **prog);

/* ---- RETURN options (RFC 4466 2.6.1) -------------------------------------
 *
 * search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP
 * search-return-opt)] ")", before CHARSET: ESEARCH (RFC 4731), SEARCHRES
 * (RFC 5182) and ESORT (RFC 5267) options. */
#define PH_IMAP_RETURN_MIN 0x01u
#define PH_IMAP_RETURN_MAX 0x02u
#define PH_IMAP_RETURN_ALL 0x04u
#define PH_IMAP_RETURN_COUNT 0x08u
#define PH_IMAP_RETURN_SAVE 0x10u
/* RFC 5267 4 (CONTEXT=SEARCH, CONTEXT=SORT) and RFC 9394 (PARTIAL); ABI
 * 1.4. CONTEXT is a hint that asks for nothing. */
#define PH_IMAP_RETURN_PARTIAL 0x20u
#define PH_IMAP_RETURN_UPDATE 0x40u
#define PH_IMAP_RETURN_CONTEXT 0x80u

struct ph_imap_search_return {
    bool present;     /* RETURN was given: an extended SEARCH or SORT */
    unsigned options; /* PH_IMAP_RETURN_* bits; RETURN () is ALL */
    struct ph_imap_partial partial; /* with PH_IMAP_RETURN_PARTIAL */
};

/* Reads RETURN and its list at args[*pos] when args[*pos] is the atom
 * RETURN, and moves *pos past them; otherwise leaves both as they are
 * (ret_r->present false). An option outside accepted (PH_IMAP_RETURN_*
 * bits), PARTIAL twice, without its range or with ALL (RFC 5267 4.4),
 * or a malformed list: -1 with *error_r (static) for a tagged
 * BAD. */
int ph_imap_search_return_parse(const struct ph_imap_value *args, size_t n,
                                size_t *pos, unsigned accepted,
                                struct ph_imap_search_return *ret_r,
                                const char **error_r) PH_WUR;

/* The partial-range argument of PARTIAL (a RETURN option, a UID FETCH
 * modifier: RFC 9394 4) at items[*i + 1] of a list of n, *i moved to it.
 * -1 with *error_r (static) for a tagged BAD. (ABI 1.4) */
int ph_imap_partial_arg(const struct ph_imap_value *items, size_t n, size_t *i,
                        struct ph_imap_partial *p_r,
                        const char **error_r) PH_WUR;

/* Writes the ESEARCH response (RFC 4731 section 4, RFC 5267 section 3.2)
 * for the result numbers[0..n) given in the command's order (ascending for
 * SEARCH, sorted for SORT): `* ESEARCH (TAG "tag")[ UID]` then MIN (the
 * first), MAX (the last), COUNT, ALL (runs of consecutive ascending
 * numbers as ranges), PARTIAL (the range and the results it names, or NIL:
 * RFC 9394 3.1) as ret->options asks, with MIN, MAX and ALL left out of an
 * empty result (RFC 4731 3.1), and, with modseqs (parallel to numbers) and
 * a non-empty result, MODSEQ as RFC 4731 3.2 computes it: the MIN's or
 * MAX's alone, the higher of the two, or the highest of all messages
 * returned (all that were found with ALL or COUNT). Ends with CRLF. */
void ph_imap_esearch_write(struct ph_buf *out, const char *tag, bool uid,
                           const struct ph_imap_search_return *ret,
                           const uint32_t *numbers, const uint64_t *modseqs,
                           size_t n);
/* Writes numbers[0..n) in their order as a sequence-set: runs of
 * consecutive ascending numbers as ranges ("1:3,7,5"). */
void ph_imap_numbers_write(struct ph_buf *out, const uint32_t *numbers,
                           size_t n);

/* ---- SORT criteria (RFC 5256 section 5, RFC 5957 section 5) -------------
 *
 * sort-criteria = "(" sort-criterion *(SP sort-criterion) ")",
 * sort-criterion = ["REVERSE" SP] sort-key. DISPLAYFROM and DISPLAYTO only
 * with display (SORT=DISPLAY). The program (malloc'ed, *n_r items) goes to
 * ph_sort_messages(); -1 with *error_r (static) for a tagged BAD. */
int ph_imap_sort_criteria_parse(const struct ph_imap_value *v, bool display,
                                struct ph_sort_program_item **program_r,
                                size_t *n_r, const char **error_r) PH_WUR;

/* Writes the normalized program as IMAP search keys (dates as d-Mon-yyyy,
 * sets as resolved; a set that names nothing as NOT ALL). Parsing the
 * output again gives the same output. */
void ph_imap_search_write(struct ph_buf *out,
                          const struct ph_imap_search *prog);

/* One message, as the evaluator sees it. The callbacks are asked only for
 * keys that need them. */
struct ph_imap_search_msg {
    uint32_t seq, uid;
    uint32_t flags; /* enum ph_flag bits */
    bool recent;
    char *const *keywords;
    size_t n_keywords;
    uint64_t size; /* RFC822.SIZE */
    time_t internal_date;
    int internal_tz; /* minutes east of UTC */
    bool has_date;   /* a Date header could be parsed */
    time_t date;
    int date_tz;
    uint64_t modseq;
    /* The values of every header field called name (case-insensitive),
     * unfolded and RFC 2047-decoded to UTF-8; none: *n_r = 0. The values
     * stay valid while this message is evaluated. -1 on failure. */
    int (*header)(void *context, const char *name, const char *const **values_r,
                  size_t *n_r);
    /* Does the body (whole = false: BODY) or the whole message (whole =
     * true: TEXT, header included) contain key, as ph_message_matcher
     * compares? -1 on failure. */
    int (*text_contains)(void *context, bool whole, const char *key,
                         size_t key_len, bool *match_r);
    void *context;
    /* ABI 1.6: EMAILID and THREADID (RFC 8474), NULL for none: EMAILID
     * and THREADID keys match no message then (5.2: "a SEARCH for
     * THREADID MUST NOT match any messages" without threads). */
    const char *emailid, *threadid;
};

/* 1: the message matches, 0: it does not, -1: a callback failed (and the
 * answer depended on it). */
int ph_imap_search_match(const struct ph_imap_search *prog,
                         const struct ph_imap_search_msg *msg) PH_WUR;

/* The most expensive kind of key in the program: whether the caller must
 * get headers or bodies ready. */
enum ph_imap_search_cost ph_imap_search_cost(const struct ph_imap_search *prog);

#endif
