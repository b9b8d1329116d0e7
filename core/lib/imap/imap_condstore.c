/* SPDX-License-Identifier: MIT */
/* The command syntax of CONDSTORE and QRESYNC (RFC 7162 7): SELECT
 * parameters, FETCH and STORE modifiers, and the QRESYNC sequence match. */
#include <string.h>

#include <posthorn/imap-condstore.h>
#include <posthorn/imap-search.h>

bool ph_imap_value_get_modseq(const struct ph_imap_value *v, bool zero_ok,
                              uint64_t *n_r)
{
    uint64_t n;
    if (!ph_imap_value_get_number(v, PH_IMAP_MODSEQ_MAX, &n) ||
        (n == 0 && !zero_ok))
        return false;
    *n_r = n;
    return true;
}

/* A sequence-set where RFC 7162 allows no "*" (known-uids and the sets of
 * seq-match-data). */
static int parse_set(const struct ph_imap_value *v, size_t max_ranges,
                     struct ph_imap_seqset *set_r, const char *what,
                     const char **error_r)
{
    const char *str;
    if (!ph_imap_value_get_atom(v, &str)) {
        *error_r = what;
        return -1;
    }
    if (ph_imap_seqset_parse(str, v->len, 0, max_ranges, set_r, error_r) < 0)
        return -1;
    if (set_r->has_star) {
        *error_r = "\"*\" is not allowed in QRESYNC sets (RFC 7162 7)";
        return -1;
    }
    return 0;
}

/* "Both MUST be provided in ascending order" (RFC 7162 3.2.5.2). */
static bool ascending(const struct ph_imap_seqset *set)
{
    for (size_t i = 1; i < set->n; i++)
        if (set->ranges[i].lo <= set->ranges[i - 1].hi)
            return false;
    return true;
}

#define E_QRESYNC                                                              \
    "QRESYNC takes (uidvalidity mod-sequence [known-uids] "                    \
    "[(known-sequence-set known-uid-set)])"

static int parse_qresync(const struct ph_imap_value *v, size_t max_ranges,
                         struct ph_imap_qresync *qr, const char **error_r)
{
    const struct ph_imap_value *it;
    size_t n, k = 2;
    uint64_t uidvalidity;
    if (!ph_imap_value_get_list(v, &it, &n) || n < 2 || n > 4) {
        *error_r = E_QRESYNC;
        return -1;
    }
    if (!ph_imap_value_get_number(&it[0], UINT32_MAX, &uidvalidity) ||
        uidvalidity == 0) {
        *error_r = "Invalid QRESYNC UIDVALIDITY";
        return -1;
    }
    qr->uidvalidity = (uint32_t)uidvalidity;
    if (!ph_imap_value_get_modseq(&it[1], false, &qr->modseq)) {
        *error_r = "Invalid QRESYNC mod-sequence";
        return -1;
    }
    if (k < n && it[k].type != PH_IMAP_VALUE_LIST) {
        if (parse_set(&it[k], max_ranges, &qr->known_uids,
                      "Invalid QRESYNC known-uids", error_r) < 0)
            return -1;
        ph_imap_seqset_sort(&qr->known_uids);
        qr->has_known_uids = true;
        k++;
    }
    if (k < n) {
        const struct ph_imap_value *m;
        size_t nm;
        if (!ph_imap_value_get_list(&it[k], &m, &nm) || nm != 2) {
            *error_r = "QRESYNC seq-match-data is (known-sequence-set "
                       "known-uid-set)";
            return -1;
        }
        if (parse_set(&m[0], max_ranges, &qr->match_seqs,
                      "Invalid QRESYNC known-sequence-set", error_r) < 0 ||
            parse_set(&m[1], max_ranges, &qr->match_uids,
                      "Invalid QRESYNC known-uid-set", error_r) < 0)
            return -1;
        if (!ascending(&qr->match_seqs) || !ascending(&qr->match_uids)) {
            *error_r = "QRESYNC seq-match-data must be in ascending order";
            return -1;
        }
        if (ph_imap_seqset_count(&qr->match_seqs) !=
            ph_imap_seqset_count(&qr->match_uids)) {
            *error_r = "QRESYNC seq-match-data pairs a message number with "
                       "each UID: the sets differ in size";
            return -1;
        }
        qr->has_seq_match = true;
        k++;
    }
    if (k != n) {
        *error_r = E_QRESYNC;
        return -1;
    }
    return 0;
}

int ph_imap_select_params_parse(const struct ph_imap_value *v,
                                size_t max_ranges,
                                struct ph_imap_select_params *params_r,
                                const char **error_r)
{
    memset(params_r, 0, sizeof(*params_r));
    const struct ph_imap_value *it;
    size_t n;
    /* select-params = SP "(" select-param *(SP select-param) ")" */
    if (!ph_imap_value_get_list(v, &it, &n) || n == 0) {
        *error_r = "SELECT parameters are a non-empty list";
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (ph_imap_value_is_atom(&it[i], "CONDSTORE")) {
            if (params_r->condstore) {
                *error_r = "CONDSTORE given twice";
                return -1;
            }
            params_r->condstore = true;
        } else if (ph_imap_value_is_atom(&it[i], "QRESYNC")) {
            if (params_r->qresync) {
                *error_r = "QRESYNC given twice";
                return -1;
            }
            params_r->qresync = true;
            if (++i == n) {
                *error_r = E_QRESYNC;
                return -1;
            }
            if (parse_qresync(&it[i], max_ranges, &params_r->qr, error_r) < 0)
                return -1;
        } else {
            *error_r = "Unknown SELECT parameter";
            return -1;
        }
    }
    return 0;
}

void ph_imap_select_params_clear(struct ph_imap_select_params *params)
{
    ph_imap_seqset_clear(&params->qr.known_uids);
    ph_imap_seqset_clear(&params->qr.match_seqs);
    ph_imap_seqset_clear(&params->qr.match_uids);
    memset(params, 0, sizeof(*params));
}

/* The numbers of a set in the order written, one at a time. */
struct set_iter {
    const struct ph_imap_seqset *set;
    size_t k;
    uint64_t next; /* 64 bits: the range may end at 4294967295 */
};

static bool iter_next(struct set_iter *it, uint32_t *n_r)
{
    while (it->k < it->set->n) {
        const struct ph_imap_seq_range *r = &it->set->ranges[it->k];
        if (it->next < r->lo)
            it->next = r->lo;
        if (it->next <= r->hi) {
            *n_r = (uint32_t)it->next++;
            return true;
        }
        it->k++;
    }
    return false;
}

uint32_t ph_imap_qresync_match(const struct ph_imap_qresync *qr,
                               const uint32_t *uids, size_t n)
{
    if (!qr->has_seq_match)
        return 0;
    struct set_iter seqs = {.set = &qr->match_seqs};
    struct set_iter known = {.set = &qr->match_uids};
    uint32_t seq, uid, floor = 0;
    /* The numbers ascend: a pair past the n-th message ends the walk. */
    while (iter_next(&seqs, &seq) && iter_next(&known, &uid)) {
        if (seq > n || uids[seq - 1] != uid)
            break;
        floor = uid;
    }
    return floor;
}

int ph_imap_fetch_modifiers_parse(const struct ph_imap_value *v,
                                  struct ph_imap_fetch_modifiers *mods_r,
                                  const char **error_r)
{
    memset(mods_r, 0, sizeof(*mods_r));
    const struct ph_imap_value *it;
    size_t n;
    if (!ph_imap_value_get_list(v, &it, &n) || n == 0) {
        *error_r = "FETCH modifiers are a non-empty list";
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (ph_imap_value_is_atom(&it[i], "CHANGEDSINCE")) {
            if (mods_r->changedsince_set) {
                *error_r = "CHANGEDSINCE given twice";
                return -1;
            }
            if (++i == n || !ph_imap_value_get_modseq(&it[i], false,
                                                      &mods_r->changedsince)) {
                *error_r = "Invalid CHANGEDSINCE mod-sequence";
                return -1;
            }
            mods_r->changedsince_set = true;
        } else if (ph_imap_value_is_atom(&it[i], "VANISHED")) {
            if (mods_r->vanished) {
                *error_r = "VANISHED given twice";
                return -1;
            }
            mods_r->vanished = true;
        } else if (ph_imap_value_is_atom(&it[i], "PARTIAL")) {
            if (mods_r->partial_set) {
                *error_r = "PARTIAL given twice";
                return -1;
            }
            if (ph_imap_partial_arg(it, n, &i, &mods_r->partial, error_r) < 0)
                return -1;
            mods_r->partial_set = true;
        } else {
            *error_r = "Unknown FETCH modifier";
            return -1;
        }
    }
    if (mods_r->vanished && !mods_r->changedsince_set) {
        *error_r = "VANISHED needs CHANGEDSINCE (RFC 7162 3.2.6)";
        return -1;
    }
    return 0;
}

int ph_imap_store_modifiers_parse(const struct ph_imap_value *v,
                                  struct ph_imap_store_modifiers *mods_r,
                                  const char **error_r)
{
    memset(mods_r, 0, sizeof(*mods_r));
    const struct ph_imap_value *it;
    size_t n;
    if (!ph_imap_value_get_list(v, &it, &n) || n == 0) {
        *error_r = "STORE modifiers are a non-empty list";
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!ph_imap_value_is_atom(&it[i], "UNCHANGEDSINCE")) {
            *error_r = "Unknown STORE modifier";
            return -1;
        }
        if (mods_r->unchangedsince_set) {
            *error_r = "UNCHANGEDSINCE given twice";
            return -1;
        }
        if (++i == n ||
            !ph_imap_value_get_modseq(&it[i], true, &mods_r->unchangedsince)) {
            *error_r = "Invalid UNCHANGEDSINCE mod-sequence";
            return -1;
        }
        mods_r->unchangedsince_set = true;
    }
    return 0;
}
