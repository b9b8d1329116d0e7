/* SPDX-License-Identifier: MIT */
/* CONDSTORE and QRESYNC (RFC 7162) in the session: enabling, HIGHESTMODSEQ
 * while expunges are held back, VANISHED, the FETCHes that tell flags and
 * mod-sequences, CHANGEDSINCE, and SELECT/EXAMINE (QRESYNC ...).
 *
 * Every answer comes from the storage's change log (ph_mailbox_changes):
 * what changed after a modseq, and the tombstones of what was expunged
 * after it. VANISHED (EARLIER) is exact for as long as the storage keeps
 * its tombstones. */
#include <stdlib.h>

#include <posthorn/imap-condstore.h>

#include "imap-private.h"

uint64_t imap_highestmodseq(const struct imap_session *s)
{
    return s->pending_expunge.n > 0 ? s->pending_modseq : s->modseq;
}

void imap_condstore_enable(struct imap_session *s)
{
    if (s->condstore)
        return;
    s->condstore = true;
    /* RFC 7162 3.1: "A first CONDSTORE enabling command executed in the
     * session with a mailbox selected MUST cause the server to return
     * HIGHESTMODSEQ (Section 3.1.2.1) for the mailbox". */
    if (s->mb && s->state == IMAP_STATE_SELECTED)
        ph_buf_printf(&s->out,
                      "* OK [HIGHESTMODSEQ %llu] Highest mailbox "
                      "mod-sequence\r\n",
                      (unsigned long long)imap_highestmodseq(s));
}

/* Ranges per VANISHED line: a client reads lines of some kilobytes. */
#define VANISHED_RANGES 1000

void imap_write_vanished(struct imap_session *s, bool earlier,
                         const struct ph_uidset *set)
{
    for (size_t i = 0; i < set->n; i++) {
        if (i % VANISHED_RANGES == 0) {
            if (i > 0)
                ph_buf_puts(&s->out, "\r\n");
            ph_buf_puts(&s->out,
                        earlier ? "* VANISHED (EARLIER) " : "* VANISHED ");
        } else {
            ph_buf_putc(&s->out, ',');
        }
        if (set->r[i].lo == set->r[i].hi)
            ph_buf_printf(&s->out, "%u", set->r[i].lo);
        else
            ph_buf_printf(&s->out, "%u:%u", set->r[i].lo, set->r[i].hi);
        (void)imap_out_check(s);
    }
    if (set->n > 0)
        ph_buf_puts(&s->out, "\r\n");
}

void imap_write_flag_fetch(struct imap_session *s, uint32_t seq, uint32_t uid,
                           uint64_t modseq, const char *flags, bool with_uid)
{
    if (s->condstore) {
        ph_buf_printf(&s->out, "* %u FETCH (UID %u", seq, uid);
        if (flags != NULL)
            ph_buf_printf(&s->out, " FLAGS %s", flags);
        ph_buf_printf(&s->out, " MODSEQ (%llu))\r\n",
                      (unsigned long long)modseq);
        s->modseq_sent = true;
    } else if (flags != NULL) {
        ph_buf_printf(&s->out, "* %u FETCH (FLAGS %s", seq, flags);
        if (with_uid)
            ph_buf_printf(&s->out, " UID %u", uid);
        ph_buf_puts(&s->out, ")\r\n");
    }
    (void)imap_out_check(s);
}

void imap_uidset_append(struct ph_uidset *set, uint32_t lo, uint32_t hi)
{
    struct ph_uid_range *last = set->n ? &set->r[set->n - 1] : NULL;
    if (last == NULL || lo > (uint64_t)last->hi + 1) {
        ph_array_grow(&set->r, &set->cap, set->n + 1, sizeof(*set->r));
        set->r[set->n++] = (struct ph_uid_range){lo, hi};
    } else if (lo >= last->lo) {
        if (hi > last->hi)
            last->hi = hi;
    } else {
        ph_uidset_add_range(set, lo, hi);
    }
}

int imap_fetch_batches(struct imap_session *s, const struct ph_uidset *set,
                       unsigned what, imap_batch_fn *cb, void *arg,
                       const char **error_r)
{
    struct ph_uidset batch = {0};
    struct imap_view_walk walk = {.set = set};
    size_t inbatch = 0, pos;
    int r = 0;
    for (bool more = true; more && r == 0 && !s->io_failed;) {
        more = imap_view_walk_next(s, &walk, &pos);
        if (more) {
            imap_uidset_append(&batch, s->uids[pos], s->uids[pos]);
            inbatch++;
        }
        if (inbatch == 0 || (inbatch < IMAP_FETCH_BATCH && more))
            continue;
        struct ph_meta_list l = {0};
        r = ph_mailbox_fetch(s->mb, &batch, what, ph_meta_list_add, &l,
                             error_r);
        ph_uidset_clear(&batch);
        inbatch = 0;
        if (r == 0)
            r = cb(s, &l, arg);
        ph_meta_list_free(&l);
    }
    ph_uidset_clear(&batch);
    return r;
}

/* Flags are shown when asked for, and when they changed after the
 * session last looked: it would be told them after the command anyway. */
static bool shows_flags(const struct imap_session *s,
                        const struct ph_meta_copy *m, bool asked)
{
    return asked || m->modseq > s->modseq;
}

static int flag_fetch_batch(struct imap_session *s,
                            const struct ph_meta_list *l, void *arg)
{
    bool asked = *(bool *)arg;
    /* A keyword new to the session is announced before a FETCH carries
     * it (RFC 3501 7.2.6). */
    for (size_t i = 0; i < l->n; i++)
        if (shows_flags(s, &l->v[i], asked))
            imap_keywords_learn(s, l->v[i].keywords.v, l->v[i].keywords.n);
    imap_keywords_announce(s);
    struct ph_buf flags = {0};
    for (size_t i = 0; i < l->n; i++) {
        const struct ph_meta_copy *m = &l->v[i];
        uint32_t seq = imap_view_seq(s, m->uid);
        if (seq == 0)
            continue;
        bool show = shows_flags(s, m, asked);
        ph_buf_reset(&flags);
        if (show) {
            imap_write_flags(&flags, m->flags, m->keywords.v, m->keywords.n,
                             imap_recent(s, m->recent));
            imap_reported_add(s, m->uid, m->modseq);
        }
        imap_write_flag_fetch(s, seq, m->uid, m->modseq,
                              show ? flags.data : NULL, false);
    }
    ph_buf_free(&flags);
    return 0;
}

int imap_flag_fetches(struct imap_session *s, const struct ph_uidset *set,
                      bool show_flags, const char **error_r)
{
    return imap_fetch_batches(s, set, 0, flag_fetch_batch, &show_flags,
                              error_r);
}

/* ---- What changed since a modseq ---------------------------------------- */

struct since_ctx {
    struct imap_session *s;
    const struct ph_uidset *want;
    struct ph_uidset found; /* of want, in the view, changed */
};

static int since_cb(void *arg, const struct ph_message_meta *m)
{
    struct since_ctx *c = arg;
    /* Messages the session has not been told of yet are left to the
     * updates after the command. */
    if (ph_uidset_contains(c->want, m->uid) && imap_view_seq(c->s, m->uid))
        imap_uidset_append(&c->found, m->uid, m->uid);
    return 0;
}

/* The UIDs of a and b. */
static void uidset_intersect(const struct ph_uidset *a,
                             const struct ph_uidset *b, struct ph_uidset *out)
{
    size_t i = 0, j = 0;
    while (i < a->n && j < b->n) {
        uint32_t lo = a->r[i].lo > b->r[j].lo ? a->r[i].lo : b->r[j].lo;
        uint32_t hi = a->r[i].hi < b->r[j].hi ? a->r[i].hi : b->r[j].hi;
        if (lo <= hi)
            imap_uidset_append(out, lo, hi);
        if (a->r[i].hi < b->r[j].hi)
            i++;
        else
            j++;
    }
}

/* The UIDs of in above floor that the view does not hold: a UID that is
 * still in the view was expunged after the session's last look, and is
 * told as VANISHED without EARLIER once it may be (RFC 7162 3.2.10.2). */
static void expunged_unseen(const struct imap_session *s,
                            const struct ph_uidset *in, uint32_t floor,
                            struct ph_uidset *out)
{
    for (size_t i = 0; i < in->n; i++) {
        uint64_t cur = in->r[i].lo > floor ? in->r[i].lo : (uint64_t)floor + 1;
        uint32_t hi = in->r[i].hi;
        if (cur > hi)
            continue;
        for (size_t k = imap_view_lower_bound(s, (uint32_t)cur);
             k < s->nuids && s->uids[k] <= hi; k++) {
            if (s->uids[k] > cur)
                imap_uidset_append(out, (uint32_t)cur, s->uids[k] - 1);
            cur = (uint64_t)s->uids[k] + 1;
        }
        if (cur <= hi)
            imap_uidset_append(out, (uint32_t)cur, hi);
    }
}

/* Asks storage what changed after since: *found the messages of want in
 * the view, *gone the UIDs of want expunged that the view no longer holds,
 * above floor. */
static int changed_since(struct imap_session *s, uint64_t since,
                         const struct ph_uidset *want, uint32_t floor,
                         struct ph_uidset *found, struct ph_uidset *gone,
                         const char **error_r)
{
    struct since_ctx c = {.s = s, .want = want};
    struct ph_uidset tomb = {0}, named = {0};
    uint64_t highest;
    int r = ph_mailbox_changes(s->mb, since, &tomb, &highest, since_cb, &c,
                               error_r);
    if (r == 0 && gone != NULL) {
        uidset_intersect(&tomb, want, &named);
        expunged_unseen(s, &named, floor, gone);
    }
    if (r == 0)
        *found = c.found;
    else
        ph_uidset_clear(&c.found);
    ph_uidset_clear(&tomb);
    ph_uidset_clear(&named);
    return r;
}

int imap_changedsince(struct imap_session *s, uint64_t since,
                      struct ph_uidset *set, const struct ph_uidset *vanished)
{
    struct ph_uidset found = {0}, gone = {0}, want = {0};
    const char *err;
    /* The VANISHED set holds the client's UIDs beyond the view too. */
    for (size_t i = 0; i < set->n; i++)
        imap_uidset_append(&want, set->r[i].lo, set->r[i].hi);
    for (size_t i = 0; vanished && i < vanished->n; i++)
        ph_uidset_add_range(&want, vanished->r[i].lo, vanished->r[i].hi);
    int r = changed_since(s, since, &want, 0, &found, vanished ? &gone : NULL,
                          &err);
    ph_uidset_clear(&want);
    if (r < 0) {
        imap_storage_no(s, r, err);
        return -1;
    }
    if (vanished) {
        struct ph_uidset early = {0};
        uidset_intersect(&gone, vanished, &early);
        /* RFC 7162 3.2.6: "Any VANISHED (EARLIER) responses MUST be
         * returned before any FETCH responses". */
        imap_write_vanished(s, true, &early);
        ph_uidset_clear(&early);
    }
    /* Only the messages of set: found may hold others of vanished. */
    struct ph_uidset keep = {0};
    uidset_intersect(&found, set, &keep);
    ph_uidset_clear(set);
    *set = keep;
    ph_uidset_clear(&found);
    ph_uidset_clear(&gone);
    return 0;
}

int imap_qresync_select(struct imap_session *s,
                        const struct ph_imap_qresync *qr, uint32_t uidnext,
                        const char **error_r)
{
    /* RFC 7162 3.2.5: "If the provided UIDVALIDITY doesn't match the
     * UIDVALIDITY for the mailbox being opened, then the server MUST ignore
     * the remaining parameters and behave as if no dynamic message data
     * changed." */
    if (qr->uidvalidity != ph_mailbox_uidvalidity(s->mb))
        return 0;
    /* 3.2.5.1: without known-uids, "1:<maxuid>", <maxuid> being UIDNEXT
     * minus 1 (none for a mailbox that never had a message). */
    struct ph_uidset known = {0}, found = {0}, gone = {0};
    if (qr->has_known_uids) {
        for (size_t i = 0; i < qr->known_uids.n; i++)
            imap_uidset_append(&known, qr->known_uids.ranges[i].lo,
                               qr->known_uids.ranges[i].hi);
    } else if (uidnext > 1) {
        imap_uidset_append(&known, 1, uidnext - 1);
    }
    uint32_t floor = ph_imap_qresync_match(qr, s->uids, s->nuids);
    int r = changed_since(s, qr->modseq, &known, floor, &found, &gone, error_r);
    ph_uidset_clear(&known);
    if (r == 0) {
        imap_write_vanished(s, true, &gone);
        /* Semantically "UID FETCH known-uids (FLAGS) (CHANGEDSINCE modseq
         * VANISHED)" (3.2.5.1): FETCH responses with UIDs. */
        r = imap_flag_fetches(s, &found, true, error_r);
    }
    ph_uidset_clear(&found);
    ph_uidset_clear(&gone);
    return r;
}
