/* SPDX-License-Identifier: MIT */
/* posthorn SDK: the command syntax of CONDSTORE and QRESYNC (RFC 7162) on
 * the modifier grammar of RFC 4466: SELECT/EXAMINE parameters, FETCH and
 * STORE modifiers, mod-sequences, and the QRESYNC sequence match. Parsed
 * from the command parser's values; no I/O, no storage. (ABI 1.4)
 *
 * Every parse function returns 0, or -1 with *error_r, a static text for a
 * tagged BAD ("Invalid CHANGEDSINCE value"). */
#ifndef POSTHORN_IMAP_CONDSTORE_H
#define POSTHORN_IMAP_CONDSTORE_H

#include <posthorn/common.h>
#include <posthorn/imap-parser.h>
#include <posthorn/imap-util.h>

/* mod-sequence-value: 1 <= n <= 9,223,372,036,854,775,807 (RFC 7162 7). */
#define PH_IMAP_MODSEQ_MAX ((uint64_t)INT64_MAX)

/* A mod-sequence-value, or with zero_ok a mod-sequence-valzer ("0" too). */
bool ph_imap_value_get_modseq(const struct ph_imap_value *v, bool zero_ok,
                              uint64_t *n_r);

/* ---- SELECT / EXAMINE parameters (RFC 4466 2.1, RFC 7162 3.1.8, 3.2.5) -- */

/* QRESYNC (uidvalidity modseq [known-uids] [(known-seqs known-uids)]). */
struct ph_imap_qresync {
    uint32_t uidvalidity;
    uint64_t modseq;
    /* known-uids, sorted; without them the caller takes 1:UIDNEXT-1. */
    bool has_known_uids;
    struct ph_imap_seqset known_uids;
    /* seq-match-data: message numbers and the UIDs the client knows for
     * them, pairwise (the Nth number goes with the Nth UID); both ascending
     * as written and of the same count. */
    bool has_seq_match;
    struct ph_imap_seqset match_seqs, match_uids;
};

struct ph_imap_select_params {
    bool condstore; /* the CONDSTORE parameter */
    bool qresync;   /* the QRESYNC parameter: qr holds it */
    struct ph_imap_qresync qr;
};

/* Parses the parameter list after the mailbox name: "(" select-param
 * *(SP select-param) ")" with the parameters CONDSTORE and QRESYNC, each
 * at most once. Sets have at most max_ranges ranges (0: the default of
 * ph_imap_seqset_parse) and no "*". params_r is cleared first; free it
 * with ph_imap_select_params_clear() in every case. */
int ph_imap_select_params_parse(const struct ph_imap_value *v,
                                size_t max_ranges,
                                struct ph_imap_select_params *params_r,
                                const char **error_r) PH_WUR;
void ph_imap_select_params_clear(struct ph_imap_select_params *params);

/* The seq-match shortcut (RFC 7162 3.2.5.2): the pairs are compared in
 * order with the mailbox as uids (its UIDs by message number, ascending,
 * n of them) has it; the answer is the UID of the last pair that matches
 * before the first that does not (0: none does, or there is no seq-match
 * data). The client knows every expunge up to that UID: no UID at or below
 * it belongs in VANISHED (EARLIER). At most n + 1 pairs are looked at,
 * whatever the client sent. */
uint32_t ph_imap_qresync_match(const struct ph_imap_qresync *qr,
                               const uint32_t *uids, size_t n);

/* ---- FETCH and STORE modifiers (RFC 4466 2.4, 2.5; RFC 7162 3.1.3,
 * 3.1.4.1, 3.2.6) ---------------------------------------------------------- */

struct ph_imap_fetch_modifiers {
    bool changedsince_set;
    uint64_t changedsince; /* a mod-sequence-value */
    /* VANISHED: only with CHANGEDSINCE (checked here); only in UID FETCH
     * and after ENABLE QRESYNC (the caller checks). */
    bool vanished;
    /* RFC 9394 3.3: PARTIAL partial-range, of UID FETCH only (the caller
     * checks). (ABI 1.4) */
    bool partial_set;
    struct ph_imap_partial partial;
};

/* Parses the list after the FETCH items: "(" fetch-modifier *(SP
 * fetch-modifier) ")", each modifier at most once. */
int ph_imap_fetch_modifiers_parse(const struct ph_imap_value *v,
                                  struct ph_imap_fetch_modifiers *mods_r,
                                  const char **error_r) PH_WUR;

struct ph_imap_store_modifiers {
    bool unchangedsince_set;
    uint64_t unchangedsince; /* a mod-sequence-valzer: 0 is valid */
};

/* Parses the list after STORE's set: "(" store-modifier *(SP
 * store-modifier) ")", UNCHANGEDSINCE at most once. */
int ph_imap_store_modifiers_parse(const struct ph_imap_value *v,
                                  struct ph_imap_store_modifiers *mods_r,
                                  const char **error_r) PH_WUR;

#endif
