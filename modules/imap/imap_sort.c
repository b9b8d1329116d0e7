/* SPDX-License-Identifier: MIT */
/* SORT and THREAD (RFC 5256), SORT=DISPLAY (RFC 5957), over the messages a
 * search program finds, with the keys and threading of posthorn/sort.h and
 * posthorn/thread.h.
 *
 * A storage that keeps the keys from APPEND on (ABI 1.5, issue 17) sorts
 * by itself (ph_mailbox_sort: an index walk, nothing held here but the
 * UIDs) and gives THREAD its keys (ph_mailbox_sort_keys). For another,
 * the keys come through imap_sort_keys(): computed from the parsed
 * structure storage keeps for every message (PH_META_INFO) and cached per
 * UID while the mailbox stays selected (a message never changes). */
#include <stdlib.h>
#include <string.h>

#include <posthorn/message.h>
#include <posthorn/sort.h>
#include <posthorn/thread.h>

#include "imap-private.h"

struct imap_sort_cache {
    /* Sorted by UID. */
    struct imap_sort_entry {
        uint32_t uid;
        struct ph_sort_keys keys;
    } * v;
    size_t n, cap;
    size_t bytes; /* of the entries and their strings */
};

static size_t keys_bytes(const struct ph_sort_keys *k)
{
    const char *const strs[] = {k->subject,    k->from,         k->to,
                                k->cc,         k->display_from, k->display_to,
                                k->message_id, k->references};
    size_t n = sizeof(struct imap_sort_entry);
    for (size_t i = 0; i < PH_N_ELEMENTS(strs); i++)
        n += strs[i] ? strlen(strs[i]) + 1 : 0;
    return n;
}

void imap_sort_cache_free(struct imap_sort_cache **c)
{
    if (*c == NULL)
        return;
    for (size_t i = 0; i < (*c)->n; i++)
        ph_sort_keys_clear(&(*c)->v[i].keys);
    free((*c)->v);
    free(*c);
    *c = NULL;
}

size_t imap_sort_cache_memory(const struct imap_sort_cache *c)
{
    return c ? c->bytes + (c->cap - c->n) * sizeof(*c->v) : 0;
}

static struct imap_sort_entry *cache_find(struct imap_sort_cache *c,
                                          uint32_t uid)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->v[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->n && c->v[lo].uid == uid ? &c->v[lo] : NULL;
}

static int entry_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct imap_sort_entry *)a)->uid,
             y = ((const struct imap_sort_entry *)b)->uid;
    return x < y ? -1 : x > y;
}

struct fill_ctx {
    struct imap_session *s;
    struct imap_sort_entry *v;
    size_t n, cap, bytes;
    bool over; /* the session's memory limit was reached */
};

/* A new entry's keys are in place: 0, or 1 (stop) past the memory limit. */
static int fill_added(struct fill_ctx *f)
{
    f->bytes += keys_bytes(&f->v[f->n - 1].keys);
    if (!imap_memory_fits(f->s, f->bytes + f->cap * sizeof(*f->v))) {
        f->over = true;
        return 1;
    }
    return 0;
}

/* Keys as storage keeps them (a ph_sort_keys_cb). */
static int fill_stored(void *arg, uint32_t uid, const struct ph_sort_keys *k)
{
    struct fill_ctx *f = arg;
    ph_array_grow(&f->v, &f->cap, f->n + 1, sizeof(*f->v));
    struct imap_sort_entry *e = &f->v[f->n++];
    e->uid = uid;
    e->keys = *k;
    char **strs[] = {&e->keys.subject,      &e->keys.from,
                     &e->keys.to,           &e->keys.cc,
                     &e->keys.display_from, &e->keys.display_to,
                     &e->keys.message_id,   &e->keys.references};
    for (size_t i = 0; i < PH_N_ELEMENTS(strs); i++)
        *strs[i] = ph_strdup(*strs[i] != NULL ? *strs[i] : "");
    return fill_added(f);
}

static int fill_batch(struct imap_session *s, const struct ph_meta_list *l,
                      void *arg)
{
    (void)s;
    struct fill_ctx *f = arg;
    for (size_t i = 0; i < l->n; i++) {
        const struct ph_meta_copy *m = &l->v[i];
        struct ph_message_info *info = NULL;
        const char *err;
        ph_array_grow(&f->v, &f->cap, f->n + 1, sizeof(*f->v));
        struct imap_sort_entry *e = &f->v[f->n++];
        e->uid = m->uid;
        if (m->info != NULL && ph_message_info_deserialize(
                                   m->info, m->info_size, &info, &err) == 0) {
            ph_sort_keys_from_info(info, m->internal_date, &e->keys);
            ph_message_info_free(&info);
        } else {
            /* No structure: every string key empty ("treated as the
             * empty string", RFC 5256 3), the dates those of arrival. */
            memset(&e->keys, 0, sizeof(e->keys));
            char **strs[] = {&e->keys.subject,      &e->keys.from,
                             &e->keys.to,           &e->keys.cc,
                             &e->keys.display_from, &e->keys.display_to,
                             &e->keys.message_id,   &e->keys.references};
            for (size_t k = 0; k < PH_N_ELEMENTS(strs); k++)
                *strs[k] = ph_strdup("");
            e->keys.sent_date = e->keys.arrival = (int64_t)m->internal_date;
            e->keys.size = m->size;
        }
        if (fill_added(f) != 0)
            return 1;
    }
    return 0;
}

/* imap_sort_keys() without an answer: 0, or -1 with *error_r (NULL:
 * the session's memory limit) and *code_r, the storage error. */
static int sort_keys_get(struct imap_session *s, const struct imap_hits *hits,
                         const struct ph_sort_keys **keys_r, int *code_r,
                         const char **error_r)
{
    if (s->sort_cache == NULL)
        s->sort_cache = ph_calloc(1, sizeof(*s->sort_cache));
    struct imap_sort_cache *c = s->sort_cache;
    struct ph_uidset missing = {0};
    for (size_t i = 0; i < hits->n; i++) {
        uint32_t uid = s->uids[hits->pos[i]];
        if (cache_find(c, uid) == NULL)
            imap_uidset_append(&missing, uid, uid);
    }
    struct fill_ctx f = {.s = s};
    const char *err = NULL;
    int r = missing.n
                ? ph_mailbox_sort_keys(s->mb, &missing, fill_stored, &f, &err)
                : 0;
    if (r == PH_STORAGE_ERR_UNSUPPORTED)
        r = imap_fetch_batches(s, &missing, PH_META_INFO, fill_batch, &f, &err);
    ph_uidset_clear(&missing);
    if (r != 0) {
        for (size_t i = 0; i < f.n; i++)
            ph_sort_keys_clear(&f.v[i].keys);
        free(f.v);
        *code_r = r;
        *error_r = f.over ? NULL : err;
        return -1;
    }
    if (f.n > 0) {
        /* Batches come in UID order; merge them in. */
        ph_array_grow(&c->v, &c->cap, c->n + f.n, sizeof(*c->v));
        memcpy(c->v + c->n, f.v, f.n * sizeof(*f.v));
        c->n += f.n;
        c->bytes += f.bytes;
        qsort(c->v, c->n, sizeof(*c->v), entry_cmp);
        free(f.v);
    }
    static const struct ph_sort_keys none = {
        .subject = "",
        .from = "",
        .to = "",
        .cc = "",
        .display_from = "",
        .display_to = "",
        .message_id = "",
        .references = "",
    };
    for (size_t i = 0; i < hits->n; i++) {
        /* A message storage no longer has (another session expunged it
         * meanwhile) sorts with empty keys. */
        const struct imap_sort_entry *e = cache_find(c, s->uids[hits->pos[i]]);
        keys_r[i] = e ? &e->keys : &none;
    }
    return 0;
}

int imap_sort_keys(struct imap_session *s, const struct imap_hits *hits,
                   const struct ph_sort_keys **keys_r)
{
    int code;
    const char *err;
    if (sort_keys_get(s, hits, keys_r, &code, &err) == 0)
        return 0;
    if (err == NULL)
        imap_tagged(s, "NO", "%s", IMAP_LIMIT_TEXT);
    else
        imap_storage_no(s, code, err);
    return -1;
}

int imap_sort_keys_on(struct imap_session *s, const struct imap_hits *hits,
                      const struct ph_sort_keys **keys_r, const char **error_r)
{
    int code;
    if (sort_keys_get(s, hits, keys_r, &code, error_r) == 0)
        return 0;
    if (*error_r == NULL)
        *error_r = "Session memory limit reached";
    return -1;
}

/* The hits' UIDs as a set. */
static void hits_uidset(const struct imap_session *s,
                        const struct imap_hits *hits, struct ph_uidset *set)
{
    for (size_t i = 0; i < hits->n; i++) {
        uint32_t uid = s->uids[hits->pos[i]];
        imap_uidset_append(set, uid, uid);
    }
}

/* The index in hits (in view order, so by UID) of uid, or hits->n. */
static size_t hit_find(const struct imap_session *s,
                       const struct imap_hits *hits, uint32_t uid)
{
    size_t lo = 0, hi = hits->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->uids[hits->pos[mid]] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < hits->n && s->uids[hits->pos[lo]] == uid ? lo : hits->n;
}

/* SORT by storage (ph_mailbox_sort): 0 with order_r filled, 1 when the
 * storage keeps no keys, or -1 with a tagged NO sent. */
static int sort_stored(struct imap_session *s, const struct imap_hits *hits,
                       const struct ph_sort_program_item *crit, size_t ncrit,
                       uint32_t *order_r)
{
    struct ph_uidset set = {0};
    uint32_t *uids = NULL;
    size_t n = 0;
    const char *err = NULL;
    hits_uidset(s, hits, &set);
    /* What is held: the set, the UIDs storage answers (at most the
     * set's) and a flag per hit. */
    int r = imap_memory_fits(s, set.cap * sizeof(*set.r) +
                                    hits->n * (sizeof(*uids) + 1))
                ? ph_mailbox_sort(s->mb, &set, crit, ncrit, &uids, &n, &err)
                : 1;
    ph_uidset_clear(&set);
    if (r == PH_STORAGE_ERR_UNSUPPORTED || r == 1) {
        if (r == 1)
            imap_tagged(s, "NO", "%s", IMAP_LIMIT_TEXT);
        return r == 1 ? -1 : 1;
    }
    if (r < 0) {
        imap_storage_no(s, r, err);
        return -1;
    }
    /* uids[i] becomes its hit's index, or hits->n for one the session
     * does not have (new since its view) or names twice. */
    bool *seen = ph_calloc(hits->n ? hits->n : 1, sizeof(*seen));
    size_t named = 0;
    for (size_t i = 0; i < n; i++) {
        size_t h = hit_find(s, hits, uids[i]);
        if (h < hits->n && !seen[h]) {
            seen[h] = true;
            named++;
        } else {
            h = hits->n;
        }
        uids[i] = (uint32_t)h;
    }
    /* A hit another session expunged meanwhile has no keys: it sorts as
     * one whose every key is empty, so first by the first criterion
     * (last when that is reversed), in mailbox order. */
    bool gone_first = ncrit == 0 || !crit[0].reverse;
    size_t k = gone_first ? hits->n - named : 0;
    for (size_t i = 0; i < n; i++)
        if (uids[i] < hits->n)
            order_r[k++] = uids[i];
    k = gone_first ? 0 : named;
    for (size_t i = 0; i < hits->n; i++)
        if (!seen[i])
            order_r[k++] = (uint32_t)i;
    free(seen);
    free(uids);
    return 0;
}

/* The order of the hits under the program (indexes into hits, ties in
 * mailbox order: RFC 5256 section 3): by storage, else by the keys. 0, or
 * -1 with a tagged NO sent. */
static int sort_order(struct imap_session *s, const struct imap_hits *hits,
                      const struct ph_sort_program_item *crit, size_t ncrit,
                      uint32_t *order_r)
{
    int r = sort_stored(s, hits, crit, ncrit, order_r);
    if (r <= 0)
        return r;
    const struct ph_sort_keys **keys =
        ph_calloc(hits->n ? hits->n : 1, sizeof(*keys));
    r = imap_sort_keys(s, hits, keys);
    if (r == 0)
        ph_sort_messages(keys, (uint32_t)hits->n, crit, ncrit, order_r);
    free(keys);
    return r;
}

/* SORT and THREAD's common part: the program after the command's own
 * arguments (charset first), run over the view. 0, or -1 with a tagged
 * answer sent (*prog_r NULL: a BAD or a NO that handled save). */
static int sort_run(struct imap_session *s, const struct ph_imap_value *args,
                    size_t n, struct ph_imap_search **prog_r,
                    struct imap_hits *hits, bool save)
{
    *prog_r = imap_search_parse(s, args, n, true, save);
    if (*prog_r == NULL)
        return -1;
    return imap_search_run(s, *prog_r, hits);
}

void imap_cmd_sort(struct imap_session *s, const struct ph_imap_value *args,
                   size_t n)
{
    struct ph_imap_search_return ret;
    struct ph_sort_program_item *crit = NULL;
    size_t ncrit = 0, pos = 0;
    const char *err;
    /* RFC 5267 3: the extended SORT "is otherwise identical in its
     * behaviour to the extended SEARCH command": ESORT's options (3.1) and
     * SEARCHRES's SAVE alike. */
    if (ph_imap_search_return_parse(args, n, &pos, IMAP_RETURN_OPTIONS, &ret,
                                    &err) < 0) {
        imap_tagged(s, "BAD", "%s", err);
        return;
    }
    if (pos >= n || ph_imap_sort_criteria_parse(&args[pos], true, &crit, &ncrit,
                                                &err) < 0) {
        imap_tagged(s, "BAD", "%s",
                    pos >= n ? "SORT needs sort criteria" : err);
        return;
    }
    pos++;
    if (imap_update_refused(s, &ret)) {
        free(crit);
        return;
    }
    bool save = (ret.options & PH_IMAP_RETURN_SAVE) != 0;
    struct ph_imap_search *prog = NULL;
    struct imap_hits hits = {0};
    uint32_t *order = NULL;
    if (sort_run(s, args + pos, n - pos, &prog, &hits, save) == 0)
        order = ph_calloc(hits.n ? hits.n : 1, sizeof(*order));
    /* RFC 5256 3: "If two or more messages exactly match according to the
     * sorting criteria, these messages are sorted according to the order
     * in which they appear in the mailbox": hits are in that order. */
    if (order == NULL || sort_order(s, &hits, crit, ncrit, order) < 0) {
        if (save && prog != NULL)
            ph_imap_seqset_clear(&s->saved);
        goto out;
    }
    if (ret.present) {
        /* RFC 5267 3: "the extended SORT command returns results in an
         * ESEARCH response", MIN and MAX being the first and last in the
         * sort order (3.1). */
        imap_esearch_answer(s, &ret, prog->has_modseq, &hits, order);
        if (ret.options & PH_IMAP_RETURN_UPDATE)
            imap_update_add(s, &prog, &crit, ncrit, &hits, order);
    } else {
        ph_buf_puts(&s->out, "* SORT");
        uint64_t modseq = 0;
        for (size_t i = 0; i < hits.n; i++) {
            ph_buf_printf(&s->out, " %u",
                          imap_hit_number(s, hits.pos[order[i]]));
            if (hits.modseqs[order[i]] > modseq)
                modseq = hits.modseqs[order[i]];
            (void)imap_out_check(s);
        }
        /* RFC 7162 3.1.9: with MODSEQ in the criteria, a non-empty SORT
         * response ends with the highest mod-sequence of its messages. */
        if (prog->has_modseq && hits.n > 0)
            ph_buf_printf(&s->out, " (MODSEQ %llu)",
                          (unsigned long long)modseq);
        ph_buf_puts(&s->out, "\r\n");
    }
    imap_tagged(s, "OK", "SORT completed");
out:
    free(order);
    free(crit);
    imap_hits_free(&hits);
    ph_imap_search_free(&prog);
}

/* THREAD's messages from the keys storage keeps: what threading needs
 * and nothing else, the strings in one arena. */
struct thread_fill {
    struct imap_session *s;
    const struct imap_hits *hits;
    struct ph_thread_message *msgs;
    size_t (*offs)[3]; /* subject, message_id, references in text */
    struct ph_buf text;
    bool over;
};

#define NO_TEXT SIZE_MAX

static size_t text_put(struct ph_buf *text, const char *str)
{
    if (str == NULL || *str == '\0')
        return NO_TEXT;
    size_t off = text->len;
    ph_buf_append(text, str, strlen(str) + 1);
    return off;
}

static int thread_fill_cb(void *arg, uint32_t uid, const struct ph_sort_keys *k)
{
    struct thread_fill *t = arg;
    size_t h = hit_find(t->s, t->hits, uid);
    if (h == t->hits->n)
        return 0;
    t->msgs[h].sent_date = k->sent_date;
    t->msgs[h].subject_is_reply = k->subject_is_reply;
    t->offs[h][0] = text_put(&t->text, k->subject);
    t->offs[h][1] = text_put(&t->text, k->message_id);
    t->offs[h][2] = text_put(&t->text, k->references);
    if (!imap_memory_fits(
            t->s,
            t->text.cap + t->hits->n * (sizeof(*t->msgs) + sizeof(*t->offs)))) {
        t->over = true;
        return 1;
    }
    return 0;
}

/* msgs (hits->n, numbers set) filled from stored keys, their strings in
 * *text: 0, 1 when the storage keeps none, or -1 with a tagged NO sent. */
static int thread_stored(struct imap_session *s, const struct imap_hits *hits,
                         struct ph_thread_message *msgs, struct ph_buf *text)
{
    struct thread_fill t = {.s = s, .hits = hits, .msgs = msgs};
    t.offs = ph_malloc((hits->n ? hits->n : 1) * sizeof(*t.offs));
    for (size_t i = 0; i < hits->n; i++)
        for (size_t j = 0; j < 3; j++)
            t.offs[i][j] = NO_TEXT;
    struct ph_uidset set = {0};
    const char *err = NULL;
    hits_uidset(s, hits, &set);
    int r = hits->n
                ? ph_mailbox_sort_keys(s->mb, &set, thread_fill_cb, &t, &err)
                : 0;
    ph_uidset_clear(&set);
    if (r == 0) {
        for (size_t i = 0; i < hits->n; i++) {
            const char **strs[] = {&msgs[i].subject, &msgs[i].message_id,
                                   &msgs[i].references};
            for (size_t j = 0; j < 3; j++)
                *strs[j] =
                    t.offs[i][j] == NO_TEXT ? NULL : t.text.data + t.offs[i][j];
        }
        *text = t.text;
    } else {
        ph_buf_free(&t.text);
        if (t.over)
            imap_tagged(s, "NO", "%s", IMAP_LIMIT_TEXT);
        else if (r != PH_STORAGE_ERR_UNSUPPORTED)
            imap_storage_no(s, r, err);
    }
    free(t.offs);
    return r == 0 ? 0 : r == PH_STORAGE_ERR_UNSUPPORTED ? 1 : -1;
}

void imap_cmd_thread(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    const char *name;
    enum ph_thread_algorithm alg;
    /* RFC 5256 5: thread = ["UID" SP] "THREAD" SP thread-alg SP
     * search-criteria. */
    if (n < 1 || args[0].type != PH_IMAP_VALUE_ATOM ||
        !ph_imap_value_get_atom(&args[0], &name) ||
        !ph_thread_algorithm_lookup(name, args[0].len, &alg)) {
        imap_tagged(s, "BAD", "Unknown threading algorithm");
        return;
    }
    struct ph_imap_search *prog = NULL;
    struct imap_hits hits = {0};
    const struct ph_sort_keys **keys = NULL;
    struct ph_thread_message *msgs = NULL;
    struct ph_buf text = {0};
    if (sort_run(s, args + 1, n - 1, &prog, &hits, false) < 0)
        goto out;
    msgs = ph_calloc(hits.n ? hits.n : 1, sizeof(*msgs));
    for (size_t i = 0; i < hits.n; i++)
        msgs[i].number = imap_hit_number(s, hits.pos[i]);
    int r = thread_stored(s, &hits, msgs, &text);
    if (r == 1) {
        keys = ph_calloc(hits.n ? hits.n : 1, sizeof(*keys));
        r = imap_sort_keys(s, &hits, keys);
        for (size_t i = 0; r == 0 && i < hits.n; i++) {
            msgs[i].sent_date = keys[i]->sent_date;
            msgs[i].subject = keys[i]->subject;
            msgs[i].subject_is_reply = keys[i]->subject_is_reply;
            msgs[i].message_id = keys[i]->message_id;
            msgs[i].references = keys[i]->references;
        }
    }
    if (r < 0)
        goto out;
    struct ph_thread_tree tree;
    ph_thread_build(alg, msgs, (uint32_t)hits.n, &tree);
    struct ph_buf res = {0};
    ph_thread_write(&tree, msgs, &res);
    ph_thread_tree_free(&tree);
    /* RFC 5256 5: thread-data = "THREAD" [SP 1*thread-list]. */
    ph_buf_printf(&s->out, "* THREAD%s%s\r\n", res.len ? " " : "",
                  res.len ? res.data : "");
    ph_buf_free(&res);
    imap_tagged(s, "OK", "THREAD completed");
out:
    free(msgs);
    free(keys);
    ph_buf_free(&text);
    imap_hits_free(&hits);
    ph_imap_search_free(&prog);
}
