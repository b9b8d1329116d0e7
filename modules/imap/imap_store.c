/* SPDX-License-Identifier: MIT */
/* Changing messages: STORE, COPY, MOVE, EXPUNGE, UID EXPUNGE, CLOSE,
 * UNSELECT. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
};

static int store_cb(void *arg, const struct ph_message_meta *m)
{
    struct store_ctx *c = arg;
    uint32_t seq = imap_view_seq(c->s, m->uid);
    /* The client made this change: even .SILENT needs no FETCH later. */
    imap_reported_add(c->s, m->uid, m->modseq);
    /* Still, a keyword new to the mailbox is announced (RFC 3501 7.2.6). */
    imap_keywords_learn(c->s, m->keywords, m->nkeywords);
    imap_keywords_announce(c->s);
    if (c->silent || seq == 0)
        return 0;
    ph_buf_printf(&c->s->out, "* %u FETCH (FLAGS ", seq);
    imap_write_flags(&c->s->out, m->flags, m->keywords, m->nkeywords,
                     m->recent);
    if (c->s->cmd_uid)
        ph_buf_printf(&c->s->out, " UID %u", m->uid);
    ph_buf_puts(&c->s->out, ")\r\n");
    return 0;
}

void imap_cmd_store(struct imap_session *s, const struct ph_imap_value *args,
                    size_t n)
{
    const char *op;
    if (n < 3 || !ph_imap_value_get_atom(&args[1], &op)) {
        imap_tagged(s, "BAD", "STORE takes a set, an operation and flags");
        return;
    }
    enum ph_store_op sop;
    const char *rest = op;
    if (*rest == '+') {
        sop = PH_STORE_ADD;
        rest++;
    } else if (*rest == '-') {
        sop = PH_STORE_REMOVE;
        rest++;
    } else {
        sop = PH_STORE_REPLACE;
    }
    bool silent = false;
    if (strcasecmp(rest, "FLAGS.SILENT") == 0)
        silent = true;
    else if (strcasecmp(rest, "FLAGS") != 0) {
        char *t = imap_token_text(op);
        imap_tagged(s, "BAD", "Unknown STORE item %s", t);
        free(t);
        return;
    }
    const struct ph_imap_value *fl = &args[2];
    size_t nfl = n - 2;
    if (n == 3 && args[2].type == PH_IMAP_VALUE_LIST)
        (void)ph_imap_value_get_list(&args[2], &fl, &nfl);
    struct ph_flags flags = {0};
    char *ferr = imap_flags_parse(fl, nfl, "", &flags);
    if (ferr != NULL) {
        ph_flags_clear(&flags);
        imap_tagged(s, "BAD", "%s", ferr);
        free(ferr);
        return;
    }
    struct ph_uidset set = {0};
    if (imap_parse_set(s, &args[0], s->cmd_uid, &set) < 0) {
        ph_flags_clear(&flags);
        return;
    }
    if (writable(s)) {
        struct store_ctx c = {.s = s, .silent = silent};
        const char *err;
        int r = set.n ? ph_mailbox_store(s->mb, &set, sop, &flags, 0, NULL,
                                         store_cb, &c, &err)
                      : 0;
        if (r < 0)
            imap_storage_no(s, r, err);
        else
            imap_tagged(s, "OK", "STORE completed");
    }
    ph_uidset_clear(&set);
    ph_flags_clear(&flags);
}

/* A copy's NOT_FOUND is the destination's (TRYCREATE, RFC 3501 6.4.7) or
 * the selected mailbox's, which another session deleted meanwhile
 * (NONEXISTENT: creating the destination would not help). */
static bool dest_missing(struct imap_session *s, const char *dest)
{
    struct ph_mailbox_status st;
    const char *err;
    return ph_mailbox_status(s->acct, dest, &st, &err) ==
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
    if (r == PH_STORAGE_ERR_NOT_FOUND && dest_missing(s, dest)) {
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
