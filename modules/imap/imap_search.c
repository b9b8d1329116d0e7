/* SPDX-License-Identifier: MIT */
/* SEARCH and UID SEARCH (RFC 3501 6.4.4): the program is parsed and
 * evaluated by libposthorn; this file feeds it messages of the view, with
 * header values from the stored structure and bodies decoded on demand. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/imap-search.h>
#include <posthorn/message.h>

#include "imap-private.h"

/* Per message: the parsed structure and the header values handed out. */
struct eval_ctx {
    struct imap_session *s;
    const struct ph_meta_copy *m;
    struct ph_message_info *info;
    struct ph_strlist **lists;
    size_t nlists, caplists;
};

static int header_cb(void *context, const char *name,
                     const char *const **values_r, size_t *n_r)
{
    struct eval_ctx *c = context;
    struct ph_strlist *vals = ph_calloc(1, sizeof(*vals));
    ph_array_grow(&c->lists, &c->caplists, c->nlists + 1, sizeof(*c->lists));
    c->lists[c->nlists++] = vals;
    ph_message_header_values(c->info, name, vals);
    *values_r = (const char *const *)vals->v;
    *n_r = vals->n;
    return 0;
}

static bool match_sink(void *arg, const char *data, size_t len)
{
    return ph_message_matcher_feed(arg, data, len);
}

struct read_ctx {
    struct imap_session *s;
    uint32_t uid;
};

static int read_range(void *arg, uint64_t offset, uint64_t size,
                      ph_message_data_cb *cb, void *cb_arg)
{
    struct read_ctx *r = arg;
    const char *err;
    return ph_mailbox_read(r->s->mb, r->uid, offset, size, cb, cb_arg, &err);
}

/* TEXT and BODY read the message's text from storage. A message another
 * session expunged while this one searched matches nothing (its text is
 * gone), without a failure. */
static int text_cb(void *context, bool whole, const char *key, size_t key_len,
                   bool *match_r)
{
    struct eval_ctx *c = context;
    struct ph_message_matcher *m = ph_message_matcher_new(key, key_len);
    struct read_ctx r = {.s = c->s, .uid = c->m->uid};
    int ret = ph_message_search_text(c->info, c->m->size, whole, read_range, &r,
                                     match_sink, m);
    *match_r = ret == 0 && ph_message_matcher_feed(m, "", 0);
    ph_message_matcher_free(&m);
    if (ret == PH_STORAGE_ERR_NOT_FOUND)
        ret = 0;
    return ret < 0 ? -1 : 0;
}

/* SENTBEFORE/SENTON/SENTSINCE are cheap keys but need the Date header,
 * which comes with the stored structure. */
static bool uses_sent_date(const struct ph_imap_search_key *k)
{
    if (k->op == PH_IMAP_SEARCH_SENTBEFORE || k->op == PH_IMAP_SEARCH_SENTON ||
        k->op == PH_IMAP_SEARCH_SENTSINCE)
        return true;
    for (size_t i = 0; i < k->n_children; i++)
        if (uses_sent_date(&k->children[i]))
            return true;
    return false;
}

/* Sequence-set keys become the UID sets they name in this session's view,
 * which storage can evaluate; the answer stays the same. */
static void seqsets_to_uids(const struct imap_session *s,
                            struct ph_imap_search_key *k)
{
    for (size_t i = 0; i < k->n_children; i++)
        seqsets_to_uids(s, &k->children[i]);
    if (k->op != PH_IMAP_SEARCH_SEQSET)
        return;
    struct ph_imap_seqset uids = {.has_star = k->set.has_star};
    for (size_t i = 0; i < k->set.n; i++) {
        for (uint64_t seq = k->set.ranges[i].lo;
             seq <= k->set.ranges[i].hi && seq <= s->nuids; seq++)
            ph_imap_seqset_add(&uids, s->uids[seq - 1], s->uids[seq - 1]);
    }
    ph_imap_seqset_sort(&uids);
    ph_imap_seqset_clear(&k->set);
    k->set = uids;
    k->op = PH_IMAP_SEARCH_UIDSET;
}

static bool has_seqset(const struct ph_imap_search_key *k)
{
    if (k->op == PH_IMAP_SEARCH_SEQSET)
        return true;
    for (size_t i = 0; i < k->n_children; i++)
        if (has_seqset(&k->children[i]))
            return true;
    return false;
}

static int max_modseq_batch(struct imap_session *s,
                            const struct ph_meta_list *l, void *arg)
{
    (void)s;
    uint64_t *max = arg;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].modseq > *max)
            *max = l->v[i].modseq;
    return 0;
}

/* Asks storage to evaluate the whole program (its indexes); 1 with *res
 * written when it did, 0 when it cannot (the caller evaluates), -1 after
 * a tagged NO. With MODSEQ in the program, *modseq_r gets the highest
 * modseq of the messages found, which storage does not give with them. */
static int search_pushdown(struct imap_session *s, struct ph_imap_search *prog,
                           struct ph_buf *res, uint64_t *modseq_r)
{
    seqsets_to_uids(s, &prog->root);
    struct ph_uidset found = {0}, shown = {0};
    const char *err;
    int r = ph_mailbox_search(s->mb, &prog->root, &found, &err);
    if (r == PH_STORAGE_ERR_UNSUPPORTED)
        return 0;
    if (r < 0) {
        imap_storage_no(s, r, err);
        return -1;
    }
    /* UIDs the session has not been told of yet are left out. */
    struct imap_view_walk walk = {.set = &found};
    size_t pos;
    while (imap_view_walk_next(s, &walk, &pos)) {
        ph_buf_printf(res, " %u",
                      s->cmd_uid ? s->uids[pos] : (uint32_t)pos + 1);
        imap_uidset_append(&shown, s->uids[pos], s->uids[pos]);
    }
    ph_uidset_clear(&found);
    r = prog->has_modseq && shown.n > 0
            ? imap_fetch_batches(s, &shown, 0, max_modseq_batch, modseq_r, &err)
            : 0;
    ph_uidset_clear(&shown);
    if (r < 0) {
        imap_storage_no(s, r, err);
        return -1;
    }
    return 1;
}

void imap_cmd_search(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    struct ph_imap_search_params params = {
        .max_seq = (uint32_t)s->nuids,
        .max_uid = s->nuids ? s->uids[s->nuids - 1] : 0,
        .max_ranges = (size_t)s->srv->conf->max_sequence_ranges,
    };
    struct ph_imap_search *prog = NULL;
    const char *err;
    int r = ph_imap_search_parse(args, n, &params, &prog, &err);
    if (r == PH_IMAP_SEARCH_BADCHARSET) {
        imap_tagged(s, "NO", "[BADCHARSET %s] %s", PH_IMAP_SEARCH_CHARSETS,
                    err);
        return;
    }
    if (r != PH_IMAP_SEARCH_OK) {
        imap_tagged(s, "BAD", "%s", err);
        return;
    }
    /* RFC 7162 3.1: SEARCH MODSEQ is CONDSTORE enabling. 3.2.10.2: no
     * VANISHED "during a UID SEARCH command that contains message numbers
     * in the search criteria". */
    if (prog->has_modseq)
        imap_condstore_enable(s);
    if (s->cmd_uid && s->qresync && has_seqset(&prog->root))
        s->allow_expunge = false;
    struct ph_buf res = {0};
    struct ph_meta_list c = {0};
    bool failed = false;
    uint64_t modseq = 0;
    r = search_pushdown(s, prog, &res, &modseq);
    if (r < 0)
        goto out;
    if (r > 0)
        goto done;
    bool need_info = ph_imap_search_cost(prog) != PH_IMAP_SEARCH_COST_META ||
                     uses_sent_date(&prog->root);
    struct ph_uidset all = {0};
    for (size_t i = 0; i < s->nuids; i++)
        ph_uidset_add(&all, s->uids[i]);
    r = all.n ? ph_mailbox_fetch(s->mb, &all, need_info ? PH_META_INFO : 0,
                                 ph_meta_list_add, &c, &err)
              : 0;
    ph_uidset_clear(&all);
    if (r < 0) {
        imap_storage_no(s, r, err);
        goto out;
    }
    for (size_t i = 0; i < c.n && !failed; i++) {
        const struct ph_meta_copy *m = &c.v[i];
        uint32_t seq = imap_view_seq(s, m->uid);
        if (seq == 0)
            continue;
        struct eval_ctx ec = {.s = s, .m = m};
        if (m->info && ph_message_info_deserialize(m->info, m->info_size,
                                                   &ec.info, &err) < 0)
            ec.info = NULL;
        struct ph_imap_search_msg sm = {
            .seq = seq,
            .uid = m->uid,
            .flags = m->flags,
            .recent = m->recent,
            .keywords = m->keywords.v,
            .n_keywords = m->keywords.n,
            .size = m->size,
            .internal_date = m->internal_date,
            .internal_tz = m->internal_tz,
            .has_date = ec.info && ec.info->has_date,
            .date = ec.info ? ec.info->date : 0,
            .date_tz = ec.info ? ec.info->date_tz_offset : 0,
            .modseq = m->modseq,
            .header = header_cb,
            .text_contains = text_cb,
            .context = &ec,
        };
        int mr = ph_imap_search_match(prog, &sm);
        if (mr < 0)
            failed = true;
        else if (mr == 1) {
            ph_buf_printf(&res, " %u", s->cmd_uid ? m->uid : seq);
            if (m->modseq > modseq)
                modseq = m->modseq;
        }
        for (size_t k = 0; k < ec.nlists; k++) {
            ph_strlist_clear(ec.lists[k]);
            free(ec.lists[k]);
        }
        free(ec.lists);
        ph_message_info_free(&ec.info);
    }
done:
    if (failed) {
        imap_tagged(s, "NO", "[SERVERBUG] Search failed");
    } else {
        /* RFC 7162 3.1.5: with MODSEQ in the program, a result that is
         * not empty ends with the highest modseq of what it holds. */
        if (prog->has_modseq && res.len > 0)
            ph_buf_printf(&res, " (MODSEQ %llu)", (unsigned long long)modseq);
        ph_buf_printf(&s->out, "* SEARCH%s\r\n", res.data ? res.data : "");
        imap_tagged(s, "OK", "SEARCH completed");
    }
out:
    ph_buf_free(&res);
    ph_meta_list_free(&c);
    ph_imap_search_free(&prog);
}
