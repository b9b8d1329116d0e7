/* SPDX-License-Identifier: MIT */
/* Changing messages: STORE, COPY, MOVE, EXPUNGE, UID EXPUNGE, CLOSE,
 * UNSELECT. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/imap-condstore.h>

#include "imap-private.h"

static bool writable(struct imap_session *s)
{
    if (!s->readonly)
        return true;
    imap_tagged(s, "NO", "[READ-ONLY] The mailbox is open read-only");
    return false;
}

void imap_cmd_expunge(struct imap_session *s, const struct ph_imap_value *args,
                      size_t n)
{
    struct ph_uidset set = {0};
    if (s->cmd_uid) {
        if (n != 1) {
            imap_tagged(s, "BAD", "UID EXPUNGE takes a UID set");
            return;
        }
        if (imap_parse_set(s, &args[0], true, &set) < 0)
            return;
    } else if (n != 0) {
        imap_tagged(s, "BAD", "EXPUNGE takes no arguments");
        return;
    }
    if (!writable(s)) {
        ph_uidset_clear(&set);
        return;
    }
    struct ph_uidset expunged = {0};
    const char *err;
    int r = 0;
    if (!s->cmd_uid || set.n > 0)
        r = ph_mailbox_expunge(s->mb, s->cmd_uid ? &set : NULL, &expunged,
                               &err);
    ph_uidset_clear(&set);
    if (r < 0) {
        imap_storage_no(s, r, err);
    } else {
        imap_send_expunges(s, &expunged);
        /* RFC 7162 3.2.7, 3.2.9: "If at least one message got expunged and
         * QRESYNC was enabled, the server MUST send the updated per-mailbox
         * modification sequence using the HIGHESTMODSEQ response code". */
        s->ok_highestmodseq = s->qresync && expunged.n > 0;
        imap_tagged(s, "OK", "%sEXPUNGE completed", s->cmd_uid ? "UID " : "");
    }
    ph_uidset_clear(&expunged);
}

void imap_cmd_close(struct imap_session *s, const struct ph_imap_value *args,
                    size_t n)
{
    (void)args;
    if (n != 0) {
        imap_tagged(s, "BAD", "CLOSE takes no arguments");
        return;
    }
    if (!s->readonly) {
        struct ph_uidset expunged = {0};
        const char *err;
        if (ph_mailbox_expunge(s->mb, NULL, &expunged, &err) < 0)
            ph_log_warn(
                "mod=imap event=close_expunge_failed user=%s error=\"%s\"",
                s->user, err);
        ph_uidset_clear(&expunged);
    }
    imap_close_selected(s);
    imap_tagged(s, "OK", "CLOSE completed");
}

void imap_cmd_unselect(struct imap_session *s, const struct ph_imap_value *args,
                       size_t n)
{
    (void)args;
    if (n != 0) {
        imap_tagged(s, "BAD", "UNSELECT takes no arguments");
        return;
    }
    imap_close_selected(s);
    imap_tagged(s, "OK", "UNSELECT completed");
}

struct store_ctx {
    struct imap_session *s;
    bool silent;
    struct ph_uidset changed;
};

static int store_cb(void *arg, const struct ph_message_meta *m)
{
    struct store_ctx *c = arg;
    uint32_t seq = imap_view_seq(c->s, m->uid);
    /* The client made this change: even .SILENT needs no FETCH later. */
    imap_reported_add(c->s, m->uid, m->modseq);
    imap_uidset_append(&c->changed, m->uid, m->uid);
    /* Still, a keyword new to the mailbox is announced (RFC 3501 7.2.6). */
    imap_keywords_learn(c->s, m->keywords, m->nkeywords);
    imap_keywords_announce(c->s);
    /* With CONDSTORE even .SILENT tells the new modseq (RFC 7162 3.1.3,
     * Example 14). */
    if ((c->silent && !c->s->condstore) || seq == 0)
        return 0;
    struct ph_buf flags = {0};
    if (!c->silent)
        imap_write_flags(&flags, m->flags, m->keywords, m->nkeywords,
                         imap_recent(c->s, m->recent));
    imap_write_flag_fetch(c->s, seq, m->uid, m->modseq, flags.data,
                          c->s->cmd_uid);
    ph_buf_free(&flags);
    return 0;
}

/* UIDs of the view as the sequence set STORE's MODIFIED names them. */
static char *modified_text(struct imap_session *s, const struct ph_uidset *set)
{
    if (s->cmd_uid)
        return ph_uidset_format(set);
    struct ph_uidset seqs = {0};
    struct imap_view_walk walk = {.set = set};
    size_t pos;
    while (imap_view_walk_next(s, &walk, &pos))
        imap_uidset_append(&seqs, (uint32_t)pos + 1, (uint32_t)pos + 1);
    char *text = ph_uidset_format(&seqs);
    ph_uidset_clear(&seqs);
    return text;
}

/* STORE (UNCHANGEDSINCE n), RFC 7162 3.1.3. Every message that passed the
 * test gets a FETCH with its modseq, "even if the .SILENT suffix is
 * specified" (storage tells those it changed; the others kept their flags
 * and modseq), and those that failed one with their flags, so that the
 * client need not ask why (Examples 6 and 10). */
static int store_conditional(struct imap_session *s,
                             const struct ph_uidset *set, enum ph_store_op op,
                             const struct ph_flags *flags,
                             uint64_t unchangedsince, struct store_ctx *c,
                             struct ph_uidset *modified, const char **error_r)
{
    int r = 0;
    /* "Use of UNCHANGEDSINCE with a modification sequence of 0 always
     * fails": every message has a modseq of at least 1. */
    if (unchangedsince == 0) {
        for (size_t i = 0; i < set->n; i++)
            imap_uidset_append(modified, set->r[i].lo, set->r[i].hi);
    } else {
        r = ph_mailbox_store(s->mb, set, op, flags, unchangedsince, modified,
                             store_cb, c, error_r);
    }
    struct ph_uidset kept = {0};
    struct imap_view_walk walk = {.set = set};
    size_t pos;
    while (r == 0 && imap_view_walk_next(s, &walk, &pos)) {
        uint32_t uid = s->uids[pos];
        if (!ph_uidset_contains(modified, uid) &&
            !ph_uidset_contains(&c->changed, uid))
            imap_uidset_append(&kept, uid, uid);
    }
    if (r == 0 && kept.n > 0)
        r = imap_flag_fetches(s, &kept, !c->silent, error_r);
    if (r == 0 && modified->n > 0)
        r = imap_flag_fetches(s, modified, true, error_r);
    ph_uidset_clear(&kept);
    return r;
}

void imap_cmd_store(struct imap_session *s, const struct ph_imap_value *args,
                    size_t n)
{
    const char *op, *err;
    struct ph_imap_store_modifiers mods = {0};
    /* STORE set [SP "(" store-modifier ... ")"] SP op SP flags (RFC 4466
     * 2.5): rest is what follows the set and the modifiers. */
    const struct ph_imap_value *rest = n > 0 ? args + 1 : args;
    size_t nrest = n > 0 ? n - 1 : 0;
    if (nrest > 0 && rest[0].type == PH_IMAP_VALUE_LIST) {
        if (ph_imap_store_modifiers_parse(&rest[0], &mods, &err) < 0) {
            imap_tagged(s, "BAD", "%s", err);
            return;
        }
        rest++;
        nrest--;
    }
    if (nrest < 2 || !ph_imap_value_get_atom(&rest[0], &op)) {
        imap_tagged(s, "BAD", "STORE takes a set, an operation and flags");
        return;
    }
    enum ph_store_op sop;
    const char *item = op;
    if (*item == '+') {
        sop = PH_STORE_ADD;
        item++;
    } else if (*item == '-') {
        sop = PH_STORE_REMOVE;
        item++;
    } else {
        sop = PH_STORE_REPLACE;
    }
    bool silent = false;
    if (strcasecmp(item, "FLAGS.SILENT") == 0)
        silent = true;
    else if (strcasecmp(item, "FLAGS") != 0) {
        char *t = imap_token_text(op);
        imap_tagged(s, "BAD", "Unknown STORE item %s", t);
        free(t);
        return;
    }
    const struct ph_imap_value *fl = &rest[1];
    size_t nfl = nrest - 1;
    if (nrest == 2 && rest[1].type == PH_IMAP_VALUE_LIST)
        (void)ph_imap_value_get_list(&rest[1], &fl, &nfl);
    struct ph_flags flags = {0};
    char *ferr = imap_flags_parse(fl, nfl, "", &flags);
    if (ferr != NULL) {
        ph_flags_clear(&flags);
        imap_tagged(s, "BAD", "%s", ferr);
        free(ferr);
        return;
    }
    struct ph_uidset set = {0}, modified = {0};
    if (imap_parse_set(s, &args[0], s->cmd_uid, &set) < 0) {
        ph_flags_clear(&flags);
        return;
    }
    /* RFC 7162 3.1: UNCHANGEDSINCE is CONDSTORE enabling. */
    if (mods.unchangedsince_set)
        imap_condstore_enable(s);
    if (writable(s)) {
        struct store_ctx c = {.s = s, .silent = silent};
        int r = 0;
        if (set.n > 0 && mods.unchangedsince_set)
            r = store_conditional(s, &set, sop, &flags, mods.unchangedsince, &c,
                                  &modified, &err);
        else if (set.n > 0)
            r = ph_mailbox_store(s->mb, &set, sop, &flags, 0, NULL, store_cb,
                                 &c, &err);
        if (r < 0) {
            imap_storage_no(s, r, err);
        } else if (modified.n > 0) {
            /* 3.1.3: the MODIFIED response code names the messages that
             * failed the test: numbers for STORE, UIDs for UID STORE. */
            char *text = modified_text(s, &modified);
            imap_tagged(s, "OK", "[MODIFIED %s] Conditional STORE failed",
                        text);
            free(text);
        } else {
            imap_tagged(s, "OK", "STORE completed");
        }
        ph_uidset_clear(&c.changed);
    }
    ph_uidset_clear(&set);
    ph_uidset_clear(&modified);
    ph_flags_clear(&flags);
}

/* A copy's NOT_FOUND is the destination's (TRYCREATE, RFC 3501 6.4.7) or
 * the selected mailbox's, which another session deleted meanwhile
 * (NONEXISTENT: creating the destination would not help). A selected
 * mailbox that is gone stays gone (one created under its name later is
 * another), so one that is still there was there for the copy: the
 * destination was missing then, whatever another session has done with
 * that name since. Only with both perhaps gone does the destination decide
 * (as the copy looks it up first). */
static bool copy_trycreate(struct imap_session *s, const char *dest)
{
    struct ph_mailbox_status st;
    uint64_t highest;
    const char *err;
    return ph_mailbox_changes(s->mb, s->modseq, NULL, &highest, NULL, NULL,
                              &err) != PH_STORAGE_ERR_NOT_FOUND ||
           ph_mailbox_status(s->acct, dest, &st, &err) ==
               PH_STORAGE_ERR_NOT_FOUND;
}

static void copy_common(struct imap_session *s,
                        const struct ph_imap_value *args, size_t n, bool move)
{
    if (n != 2) {
        imap_tagged(s, "BAD", "%s takes a set and a mailbox name",
                    move ? "MOVE" : "COPY");
        return;
    }
    struct ph_uidset set = {0}, src = {0}, dst = {0};
    if (imap_parse_set(s, &args[0], s->cmd_uid, &set) < 0)
        return;
    char *dest = imap_mailbox_arg(s, &args[1]);
    if (dest == NULL) {
        ph_uidset_clear(&set);
        return;
    }
    if (move && !writable(s))
        goto out;
    const char *err;
    uint32_t uidvalidity = 0;
    if (set.n == 0) {
        imap_tagged(s, "OK", "%s completed", move ? "MOVE" : "COPY");
        goto out;
    }
    int r = ph_mailbox_copy(s->mb, &set, dest, move, &src, &dst, &uidvalidity,
                            &err);
    if (r == PH_STORAGE_ERR_NOT_FOUND && copy_trycreate(s, dest)) {
        imap_tagged(s, "NO", "[TRYCREATE] %s", err);
    } else if (r < 0) {
        imap_storage_no(s, r, err);
    } else if (src.n == 0) {
        /* Each message of the set was expunged meanwhile: nothing was
         * copied, and COPYUID may not name empty sets (RFC 4315). */
        imap_tagged(s, "NO", "%s", IMAP_GONE_TEXT);
    } else {
        char *a = ph_uidset_format(&src), *b = ph_uidset_format(&dst);
        if (move) {
            ph_buf_printf(&s->out, "* OK [COPYUID %u %s %s] Moved\r\n",
                          uidvalidity, a, b);
            imap_send_expunges(s, &src);
            /* RFC 6851 4.4: with QRESYNC, "the server MUST send the updated
             * per-mailbox modification sequence using the HIGHESTMODSEQ
             * response code". */
            s->ok_highestmodseq = s->qresync;
            imap_tagged(s, "OK", "MOVE completed");
        } else {
            imap_tagged(s, "OK", "[COPYUID %u %s %s] COPY completed",
                        uidvalidity, a, b);
        }
        free(a);
        free(b);
    }
out:
    free(dest);
    ph_uidset_clear(&set);
    ph_uidset_clear(&src);
    ph_uidset_clear(&dst);
}

void imap_cmd_copy(struct imap_session *s, const struct ph_imap_value *args,
                   size_t n)
{
    copy_common(s, args, n, false);
}

void imap_cmd_move(struct imap_session *s, const struct ph_imap_value *args,
                   size_t n)
{
    copy_common(s, args, n, true);
}
