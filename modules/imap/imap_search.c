/* SPDX-License-Identifier: MIT */
/* SEARCH and UID SEARCH (RFC 3501 6.4.4): the program is parsed and
 * evaluated by libposthorn; this file feeds it messages of the view, with
 * header values from the stored structure and bodies decoded on demand. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

/* RFC 8474 6: EMAILID and THREADID need the ids fetched. */
static bool uses_objectid(const struct ph_imap_search_key *k)
{
    if (k->op == PH_IMAP_SEARCH_EMAILID || k->op == PH_IMAP_SEARCH_THREADID)
        return true;
    for (size_t i = 0; i < k->n_children; i++)
        if (uses_objectid(&k->children[i]))
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

/* Writes the modseq of each hit (both sorted by UID) from storage. */
static int hits_modseq_batch(struct imap_session *s,
                             const struct ph_meta_list *l, void *arg)
{
    struct imap_hits *h = arg;
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        while (k < h->n && s->uids[h->pos[k]] < l->v[i].uid)
            k++;
        if (k < h->n && s->uids[h->pos[k]] == l->v[i].uid)
            h->modseqs[k] = l->v[i].modseq;
    }
    return 0;
}

static void hits_add(struct imap_hits *h, size_t pos, uint64_t modseq)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->pos = ph_realloc(h->pos, h->cap * sizeof(*h->pos));
        h->modseqs = ph_realloc(h->modseqs, h->cap * sizeof(*h->modseqs));
    }
    h->pos[h->n] = (uint32_t)pos;
    h->modseqs[h->n++] = modseq;
}

void imap_hits_free(struct imap_hits *h)
{
    free(h->pos);
    free(h->modseqs);
    memset(h, 0, sizeof(*h));
}

/* A failure of an evaluation: a storage error code with its text, or
 * (code 0) a message the matcher could not evaluate. */
struct eval_error {
    int code;
    const char *text;
};

/* Asks storage to evaluate the whole program (its indexes), over the
 * messages of only when given; 1 with hits written when it did, 0 when it
 * cannot (the caller evaluates), -1 with *e set. With MODSEQ in the
 * program, the hits' modseqs come from storage after (it does not give
 * them with the UIDs found). */
static int search_pushdown(struct imap_session *s, struct ph_imap_search *prog,
                           const struct ph_uidset *only, struct imap_hits *hits,
                           struct eval_error *e)
{
    seqsets_to_uids(s, &prog->root);
    struct ph_uidset found = {0}, shown = {0};
    /* only AND the program, the program's tree borrowed. */
    struct ph_imap_search_key kids[2] = {
        {.op = PH_IMAP_SEARCH_UIDSET, .cost = PH_IMAP_SEARCH_COST_META},
        prog->root,
    };
    struct ph_imap_search_key both = {.op = PH_IMAP_SEARCH_AND,
                                      .cost = prog->root.cost,
                                      .children = kids,
                                      .n_children = 2};
    for (size_t i = 0; only != NULL && i < only->n; i++)
        ph_imap_seqset_add(&kids[0].set, only->r[i].lo, only->r[i].hi);
    int r =
        ph_mailbox_search(s->mb, only ? &both : &prog->root, &found, &e->text);
    ph_imap_seqset_clear(&kids[0].set);
    if (r == PH_STORAGE_ERR_UNSUPPORTED)
        return 0;
    if (r < 0) {
        e->code = r;
        return -1;
    }
    /* UIDs the session has not been told of yet are left out. */
    struct imap_view_walk walk = {.set = &found};
    size_t pos;
    while (imap_view_walk_next(s, &walk, &pos)) {
        hits_add(hits, pos, 0);
        imap_uidset_append(&shown, s->uids[pos], s->uids[pos]);
    }
    ph_uidset_clear(&found);
    r = prog->has_modseq && shown.n > 0
            ? imap_fetch_batches(s, &shown, 0, hits_modseq_batch, hits,
                                 &e->text)
            : 0;
    ph_uidset_clear(&shown);
    if (r < 0) {
        e->code = r;
        return -1;
    }
    return 1;
}

/* RFC 5032: the UIDs of the view whose INTERNALDATE is at most (OLDER) or
 * at least (YOUNGER) `seconds` before now, "to the resolution of a
 * second". The dates are read once per command. */
struct within_ctx {
    struct imap_session *s;
    time_t now;
    struct ph_meta_list dates;
    bool fetched, failed;
    int err;
    const char *error;
};

static void within_cb(void *ctx, bool younger, uint64_t seconds,
                      struct ph_imap_seqset *uids_r)
{
    struct within_ctx *w = ctx;
    if (!w->fetched && !w->failed && w->s->nuids > 0) {
        struct ph_uidset all = {0};
        imap_uidset_append(&all, w->s->uids[0], w->s->uids[w->s->nuids - 1]);
        int r = ph_mailbox_fetch(w->s->mb, &all, 0, ph_meta_list_add, &w->dates,
                                 &w->error);
        ph_uidset_clear(&all);
        if (r < 0) {
            w->failed = true;
            w->err = r;
        }
    }
    w->fetched = true;
    int64_t target = (int64_t)w->now - (int64_t)seconds;
    for (size_t i = 0; i < w->dates.n && !w->failed; i++) {
        const struct ph_meta_copy *m = &w->dates.v[i];
        if (imap_view_seq(w->s, m->uid) == 0)
            continue;
        if (younger ? (int64_t)m->internal_date >= target
                    : (int64_t)m->internal_date <= target)
            ph_imap_seqset_add(uids_r, m->uid, m->uid);
    }
}

struct ph_imap_search *imap_search_parse(struct imap_session *s,
                                         const struct ph_imap_value *args,
                                         size_t n, bool charset_first,
                                         bool save)
{
    struct within_ctx w = {.s = s, .now = time(NULL)};
    struct ph_imap_search_params params = {
        .max_seq = (uint32_t)s->nuids,
        .max_uid = s->nuids ? s->uids[s->nuids - 1] : 0,
        .max_ranges = (size_t)s->srv->conf->max_sequence_ranges,
        .saved = &s->saved,
        .within = within_cb,
        .within_ctx = &w,
        .charset_first = charset_first,
    };
    struct ph_imap_search *prog = NULL;
    const char *err;
    int r = ph_imap_search_parse(args, n, &params, &prog, &err);
    ph_meta_list_free(&w.dates);
    if (r == PH_IMAP_SEARCH_BADCHARSET) {
        /* RFC 5182 2.1: a SEARCH with SAVE that fails with NO empties the
         * saved result; one that fails with BAD leaves it. */
        if (save)
            ph_imap_seqset_clear(&s->saved);
        imap_tagged(s, "NO", "[BADCHARSET %s] %s", PH_IMAP_SEARCH_CHARSETS,
                    err);
        return NULL;
    }
    if (r != PH_IMAP_SEARCH_OK) {
        imap_tagged(s, "BAD", "%s", err);
        return NULL;
    }
    if (w.failed) {
        ph_imap_search_free(&prog);
        if (save)
            ph_imap_seqset_clear(&s->saved);
        imap_storage_no(s, w.err, w.error);
        return NULL;
    }
    return prog;
}

/* Evaluates prog over the view, or over the messages of only (UIDs of the
 * view); 0, or -1 with *e set. */
static int search_eval(struct imap_session *s, struct ph_imap_search *prog,
                       const struct ph_uidset *only, struct imap_hits *hits,
                       struct eval_error *e)
{
    int r = search_pushdown(s, prog, only, hits, e);
    if (r != 0)
        return r < 0 ? -1 : 0;
    bool need_info = ph_imap_search_cost(prog) != PH_IMAP_SEARCH_COST_META ||
                     uses_sent_date(&prog->root);
    unsigned what = (need_info ? PH_META_INFO : 0) |
                    (uses_objectid(&prog->root) ? PH_META_OBJECTID : 0);
    struct ph_uidset all = {0};
    struct ph_meta_list c = {0};
    if (only != NULL) {
        for (size_t i = 0; i < only->n; i++)
            imap_uidset_append(&all, only->r[i].lo, only->r[i].hi);
    } else {
        for (size_t i = 0; i < s->nuids; i++)
            imap_uidset_append(&all, s->uids[i], s->uids[i]);
    }
    r = all.n ? ph_mailbox_fetch(s->mb, &all, what, ph_meta_list_add, &c,
                                 &e->text)
              : 0;
    ph_uidset_clear(&all);
    if (r < 0) {
        ph_meta_list_free(&c);
        e->code = r;
        return -1;
    }
    bool failed = false;
    for (size_t i = 0; i < c.n && !failed; i++) {
        const struct ph_meta_copy *m = &c.v[i];
        uint32_t seq = imap_view_seq(s, m->uid);
        if (seq == 0)
            continue;
        struct eval_ctx ec = {.s = s, .m = m};
        const char *err;
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
            .emailid = m->emailid,
            .threadid = m->threadid,
        };
        int mr = ph_imap_search_match(prog, &sm);
        if (mr < 0)
            failed = true;
        else if (mr == 1)
            hits_add(hits, seq - 1, m->modseq);
        for (size_t k = 0; k < ec.nlists; k++) {
            ph_strlist_clear(ec.lists[k]);
            free(ec.lists[k]);
        }
        free(ec.lists);
        ph_message_info_free(&ec.info);
    }
    ph_meta_list_free(&c);
    if (failed) {
        e->code = 0;
        e->text = "Search failed";
        return -1;
    }
    return 0;
}

int imap_search_run(struct imap_session *s, struct ph_imap_search *prog,
                    struct imap_hits *hits)
{
    /* RFC 7162 3.1: SEARCH MODSEQ is CONDSTORE enabling. 3.2.10.2: no
     * VANISHED "during a UID SEARCH command that contains message numbers
     * in the search criteria". */
    if (prog->has_modseq)
        imap_condstore_enable(s);
    if (s->cmd_uid && s->qresync && has_seqset(&prog->root))
        s->allow_expunge = false;
    /* The result may name every message of the view. */
    if (!imap_memory_fits(s, (uint64_t)s->nuids * (sizeof(*hits->pos) +
                                                   sizeof(*hits->modseqs)))) {
        imap_tagged(s, "NO", "%s", IMAP_LIMIT_TEXT);
        return -1;
    }
    struct eval_error e = {0};
    if (search_eval(s, prog, NULL, hits, &e) == 0)
        return 0;
    if (e.code != 0)
        imap_storage_no(s, e.code, e.text);
    else
        imap_tagged(s, "NO", "[SERVERBUG] %s", e.text);
    return -1;
}

int imap_search_run_on(struct imap_session *s, struct ph_imap_search *prog,
                       const struct ph_uidset *only, struct imap_hits *hits,
                       const char **error_r)
{
    struct eval_error e = {0};
    int r = search_eval(s, prog, only, hits, &e);
    *error_r = e.text;
    return r;
}

/* The number a result lists: a UID under UID SEARCH/SORT/THREAD. */
uint32_t imap_hit_number(const struct imap_session *s, uint32_t pos)
{
    return s->cmd_uid ? s->uids[pos] : pos + 1;
}

/* RFC 5182 2.4: what "$" holds after RETURN (SAVE ...): the MIN and MAX
 * returned when those are all that was asked besides SAVE, else every
 * message found; RFC 9394 3.2 (Table 1): with PARTIAL and without COUNT,
 * the messages PARTIAL returns and MIN and MAX if asked. order: the hits
 * in the result's order. */
void imap_search_save(struct imap_session *s,
                      const struct ph_imap_search_return *ret,
                      const struct imap_hits *hits, const uint32_t *order)
{
    unsigned options = ret->options;
    ph_imap_seqset_clear(&s->saved);
    size_t n = hits->n;
#define HIT_UID(i) (s->uids[hits->pos[order ? order[i] : (i)]])
    if ((options & (PH_IMAP_RETURN_ALL | PH_IMAP_RETURN_COUNT)) == 0 &&
        (options & (PH_IMAP_RETURN_MIN | PH_IMAP_RETURN_MAX |
                    PH_IMAP_RETURN_PARTIAL)) != 0) {
        if (n > 0 && (options & PH_IMAP_RETURN_MIN))
            ph_imap_seqset_add(&s->saved, HIT_UID(0), HIT_UID(0));
        if (n > 0 && (options & PH_IMAP_RETURN_MAX))
            ph_imap_seqset_add(&s->saved, HIT_UID(n - 1), HIT_UID(n - 1));
        size_t start = 0, end = 0;
        if (options & PH_IMAP_RETURN_PARTIAL)
            ph_imap_partial_slice(&ret->partial, n, &start, &end);
        for (size_t i = start; i < end; i++)
            ph_imap_seqset_add(&s->saved, HIT_UID(i), HIT_UID(i));
    } else {
        for (size_t i = 0; i < n; i++)
            ph_imap_seqset_add(&s->saved, HIT_UID(i), HIT_UID(i));
    }
#undef HIT_UID
    ph_imap_seqset_sort(&s->saved);
}

void imap_esearch_answer(struct imap_session *s,
                         const struct ph_imap_search_return *ret,
                         bool has_modseq, const struct imap_hits *hits,
                         const uint32_t *order)
{
    if (ret->options & PH_IMAP_RETURN_SAVE)
        imap_search_save(s, ret, hits, order);
    /* RFC 5182 1: "In absence of any other SEARCH result option, the SAVE
     * result option also suppresses any SEARCH response". CONTEXT is a
     * hint (RFC 5267 4.2), no option of the result. */
    if ((ret->options & PH_IMAP_RETURN_SAVE) &&
        (ret->options & ~(PH_IMAP_RETURN_SAVE | PH_IMAP_RETURN_CONTEXT)) == 0)
        return;
    uint32_t *nums = ph_calloc(hits->n ? hits->n : 1, sizeof(*nums));
    uint64_t *modseqs = ph_calloc(hits->n ? hits->n : 1, sizeof(*modseqs));
    for (size_t i = 0; i < hits->n; i++) {
        size_t k = order ? order[i] : i;
        nums[i] = imap_hit_number(s, hits->pos[k]);
        modseqs[i] = hits->modseqs[k];
    }
    /* RFC 4731 3.2, RFC 7162 3.1.10: MODSEQ in the program adds the MODSEQ
     * result option. */
    ph_imap_esearch_write(&s->out, s->tag, s->cmd_uid, ret, nums,
                          has_modseq ? modseqs : NULL, hits->n);
    free(nums);
    free(modseqs);
}

void imap_cmd_search(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    struct ph_imap_search_return ret;
    const char *err;
    size_t pos = 0;
    if (ph_imap_search_return_parse(args, n, &pos, IMAP_RETURN_OPTIONS, &ret,
                                    &err) < 0) {
        imap_tagged(s, "BAD", "%s", err);
        return;
    }
    if (imap_update_refused(s, &ret))
        return;
    /* RFC 6855 3: after "ENABLE UTF8=ACCEPT" a SEARCH "MUST NOT" name a
     * charset; the server "SHOULD reject the command with a "BAD"
     * response (due to the conflicting charset labels)". */
    if (s->utf8_accept && pos < n &&
        ph_imap_value_is_atom(&args[pos], "CHARSET")) {
        imap_tagged(s, "BAD", "No CHARSET after ENABLE UTF8=ACCEPT");
        return;
    }
    /* RFC 9051 6.4.4: IMAP4rev2 answers ESEARCH; "If the server doesn't
     * support the RETURN option, or if the RETURN option is empty, it
     * MUST assume ALL" (Appendix E 4: the SEARCH response is gone). */
    if (s->rev2 && !ret.present) {
        ret.present = true;
        ret.options = PH_IMAP_RETURN_ALL;
    }
    bool save = (ret.options & PH_IMAP_RETURN_SAVE) != 0;
    struct ph_imap_search *prog =
        imap_search_parse(s, args + pos, n - pos, false, save);
    if (prog == NULL)
        return;
    struct imap_hits hits = {0};
    if (imap_search_run(s, prog, &hits) < 0) {
        if (save)
            ph_imap_seqset_clear(&s->saved);
        goto out;
    }
    if (ret.present) {
        imap_esearch_answer(s, &ret, prog->has_modseq, &hits, NULL);
        if (ret.options & PH_IMAP_RETURN_UPDATE)
            imap_update_add(s, &prog, NULL, 0, &hits, NULL);
    } else {
        struct ph_buf res = {0};
        uint64_t modseq = 0;
        for (size_t i = 0; i < hits.n; i++) {
            ph_buf_printf(&res, " %u", imap_hit_number(s, hits.pos[i]));
            modseq = hits.modseqs[i] > modseq ? hits.modseqs[i] : modseq;
        }
        /* RFC 7162 3.1.5: with MODSEQ in the program, a result that is
         * not empty ends with the highest modseq of what it holds. */
        if (prog->has_modseq && hits.n > 0)
            ph_buf_printf(&res, " (MODSEQ %llu)", (unsigned long long)modseq);
        ph_buf_printf(&s->out, "* SEARCH%s\r\n", res.data ? res.data : "");
        ph_buf_free(&res);
    }
    imap_tagged(s, "OK", "SEARCH completed");
out:
    imap_hits_free(&hits);
    ph_imap_search_free(&prog);
}
