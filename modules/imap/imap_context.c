/* SPDX-License-Identifier: MIT */
/* CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 4.3): a SEARCH or SORT with
 * RETURN (UPDATE) leaves an update context (its program, its sort
 * criteria and its result as UIDs in the requested order). When the
 * session learns changes (imap_send_updates(): after each command, at
 * NOOP, during IDLE) only the messages that arrived or whose flags changed
 * are evaluated again, as Appendix B suggests (whether a message matches
 * changes only then: sequence numbers, "$" and OLDER/YOUNGER were resolved
 * to UIDs when the command ran), and ESEARCH ADDTO/REMOVEFROM responses
 * tell the client. */
#include <stdlib.h>
#include <string.h>

#include <posthorn/sort.h>

#include "imap-private.h"

struct imap_update {
    char *tag;
    bool uid; /* UID SEARCH/UID SORT: UIDs, else sequence numbers */
    struct ph_imap_search *prog;
    /* SORT: positions count (RFC 5267 4.3.3); NULL for SEARCH, whose
     * result is in mailbox order and whose updates use position 0. */
    struct ph_sort_program_item *crit;
    size_t ncrit;
    uint32_t *uids; /* the result, in the requested order */
    size_t n, cap;
};

static void update_free(struct imap_update **up)
{
    struct imap_update *u = *up;
    if (u == NULL)
        return;
    free(u->tag);
    ph_imap_search_free(&u->prog);
    free(u->crit);
    free(u->uids);
    free(u);
    *up = NULL;
}

static size_t update_find(const struct imap_session *s, const char *tag)
{
    for (size_t i = 0; i < s->nupdates; i++)
        if (strcmp(s->updates[i]->tag, tag) == 0)
            return i;
    return SIZE_MAX;
}

static void update_drop(struct imap_session *s, size_t i)
{
    update_free(&s->updates[i]);
    memmove(&s->updates[i], &s->updates[i + 1],
            (s->nupdates - i - 1) * sizeof(*s->updates));
    s->nupdates--;
}

void imap_updates_free(struct imap_session *s)
{
    for (size_t i = 0; i < s->nupdates; i++)
        update_free(&s->updates[i]);
    free(s->updates);
    s->updates = NULL;
    s->nupdates = s->cap_updates = 0;
}

size_t imap_updates_memory(const struct imap_session *s)
{
    size_t n = s->cap_updates * sizeof(*s->updates);
    for (size_t i = 0; i < s->nupdates; i++)
        n += sizeof(*s->updates[i]) + s->updates[i]->cap * sizeof(uint32_t);
    return n;
}

bool imap_update_refused(struct imap_session *s,
                         const struct ph_imap_search_return *ret)
{
    /* RFC 5267 4.3: "An attempt to use UPDATE where a tag is already in
     * use with a previous searching command that itself used UPDATE SHALL
     * result in the server rejecting the searching command with a BAD
     * response." */
    if ((ret->options & PH_IMAP_RETURN_UPDATE) == 0 ||
        update_find(s, s->tag) == SIZE_MAX)
        return false;
    imap_tagged(s, "BAD", "Tag reuse: an update context has this tag");
    return true;
}

void imap_update_add(struct imap_session *s, struct ph_imap_search **prog,
                     struct ph_sort_program_item **crit, size_t ncrit,
                     const struct imap_hits *hits, const uint32_t *order)
{
    /* RFC 5267 4.3.1: a context refused is an untagged NO [NOUPDATE] "during
     * processing of the command"; the other options were honoured. */
    const char *refusal = NULL;
    if (s->nupdates >= (size_t)s->srv->conf->max_update_contexts)
        refusal = "Too many update contexts";
    else if (!imap_memory_fits(s, sizeof(struct imap_update) +
                                      (hits->n + 1) * sizeof(uint32_t)))
        refusal = "Update context would exceed the session memory limit";
    if (refusal != NULL) {
        ph_buf_printf(&s->out, "* NO [NOUPDATE \"%s\"] %s\r\n", s->tag,
                      refusal);
        return;
    }
    struct imap_update *u = ph_calloc(1, sizeof(*u));
    u->tag = ph_strdup(s->tag);
    u->uid = s->cmd_uid;
    u->prog = *prog;
    *prog = NULL;
    if (crit != NULL) {
        u->crit = *crit;
        *crit = NULL;
        u->ncrit = ncrit;
    }
    ph_array_grow(&u->uids, &u->cap, hits->n + 1, sizeof(*u->uids));
    for (size_t i = 0; i < hits->n; i++)
        u->uids[i] = s->uids[hits->pos[order ? order[i] : i]];
    u->n = hits->n;
    ph_array_grow(&s->updates, &s->cap_updates, s->nupdates + 1,
                  sizeof(*s->updates));
    s->updates[s->nupdates++] = u;
}

/* ---- ADDTO and REMOVEFROM ----------------------------------------------- */

static uint32_t update_number(const struct imap_session *s,
                              const struct imap_update *u, uint32_t uid)
{
    return u->uid ? uid : imap_view_seq(s, uid);
}

/* Appends "pos set" for the UIDs uids[0..n) to the pairs in b. */
static void write_pair(const struct imap_session *s,
                       const struct imap_update *u, struct ph_buf *b,
                       size_t pos, const uint32_t *uids, size_t n)
{
    uint32_t *nums = ph_calloc(n, sizeof(*nums));
    for (size_t i = 0; i < n; i++)
        nums[i] = update_number(s, u, uids[i]);
    ph_buf_printf(b, "%s%zu ", b->len ? " " : "", pos);
    ph_imap_numbers_write(b, nums, n);
    free(nums);
}

/* One ESEARCH response with what changed, when anything did. */
static void write_update(struct imap_session *s, const struct imap_update *u,
                         const struct ph_buf *removed,
                         const struct ph_buf *added)
{
    if (removed->len == 0 && added->len == 0)
        return;
    ph_buf_printf(&s->out, "* ESEARCH (TAG \"%s\")%s", u->tag,
                  u->uid ? " UID" : "");
    if (removed->len)
        ph_buf_printf(&s->out, " REMOVEFROM (%s)", removed->data);
    if (added->len)
        ph_buf_printf(&s->out, " ADDTO (%s)", added->data);
    ph_buf_puts(&s->out, "\r\n");
    (void)imap_out_check(s);
}

typedef bool update_gone_fn(uint32_t uid, void *arg);

/* Drops from u's result the UIDs gone() names, as REMOVEFROM pairs in b:
 * for SEARCH one pair at position 0 in mailbox order (RFC 5267 4.3.4
 * recommends it); for SORT one pair per run of adjacent results, at its
 * position once the runs before it are gone. */
static void remove_where(const struct imap_session *s, struct imap_update *u,
                         update_gone_fn *gone, void *arg, struct ph_buf *b)
{
    size_t kept = 0, i = 0;
    if (u->crit == NULL) {
        uint32_t *out = ph_calloc(u->n + 1, sizeof(*out));
        size_t nout = 0;
        for (; i < u->n; i++) {
            if (gone(u->uids[i], arg))
                out[nout++] = u->uids[i];
            else
                u->uids[kept++] = u->uids[i];
        }
        if (nout > 0)
            write_pair(s, u, b, 0, out, nout);
        free(out);
        u->n = kept;
        return;
    }
    while (i < u->n) {
        if (!gone(u->uids[i], arg)) {
            u->uids[kept++] = u->uids[i++];
            continue;
        }
        size_t start = i;
        while (i < u->n && gone(u->uids[i], arg))
            i++;
        write_pair(s, u, b, kept + 1, &u->uids[start], i - start);
    }
    u->n = kept;
}

static bool in_uidset(uint32_t uid, void *arg)
{
    return ph_uidset_contains(arg, uid);
}

void imap_updates_expunged(struct imap_session *s,
                           const struct ph_uidset *expunged)
{
    if (expunged->n == 0)
        return;
    /* RFC 5267 4.3.4: a REMOVEFROM of expunged messages "MUST be sent prior
     * to the expunge notification itself": the view still holds them. */
    for (size_t i = 0; i < s->nupdates; i++) {
        struct ph_buf removed = {0}, added = {0};
        remove_where(s, s->updates[i], in_uidset, (void *)expunged, &removed);
        write_update(s, s->updates[i], &removed, &added);
        ph_buf_free(&removed);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool in_sorted(const uint32_t *v, size_t n, uint32_t uid)
{
    return n > 0 && bsearch(&uid, v, n, sizeof(*v), cmp_u32) != NULL;
}

/* For remove_where() in a re-evaluation: touched, and no longer matching. */
struct stale_ctx {
    const struct ph_uidset *touched;
    const uint32_t *match;
    size_t nmatch;
};

static bool stale(uint32_t uid, void *arg)
{
    const struct stale_ctx *c = arg;
    return ph_uidset_contains(c->touched, uid) &&
           !in_sorted(c->match, c->nmatch, uid);
}

/* SEARCH: the new matches join the result in mailbox order, as one ADDTO
 * pair at position 0 (RFC 5267 4.3.3). */
static void add_search(const struct imap_session *s, struct imap_update *u,
                       const uint32_t *fresh, size_t nfresh, struct ph_buf *b)
{
    write_pair(s, u, b, 0, fresh, nfresh);
    ph_array_grow(&u->uids, &u->cap, u->n + nfresh + 1, sizeof(*u->uids));
    memcpy(u->uids + u->n, fresh, nfresh * sizeof(*fresh));
    u->n += nfresh;
    qsort(u->uids, u->n, sizeof(*u->uids), cmp_u32);
}

/* SORT: the result with the new matches, sorted again; each run of new
 * results is an ADDTO pair at the position its first takes (RFC 5267
 * 4.3.3: "the first result in the set will occupy the new context position
 * after insertion"). The results kept keep their relative order (the keys
 * of a message never change and ties go by mailbox order). -1 with
 * *error_r when the keys cannot be had. */
static int add_sort(struct imap_session *s, struct imap_update *u,
                    const uint32_t *fresh, size_t nfresh,
                    struct ph_buf *removed, struct ph_buf *b,
                    const char **error_r)
{
    size_t n = u->n + nfresh;
    if (!imap_memory_fits(s, (uint64_t)n *
                                 (2 * sizeof(uint32_t) + sizeof(void *)))) {
        *error_r = "Session memory limit reached";
        return -1;
    }
    uint32_t *all = ph_calloc(n, sizeof(*all));
    memcpy(all, u->uids, u->n * sizeof(*all));
    memcpy(all + u->n, fresh, nfresh * sizeof(*all));
    qsort(all, n, sizeof(*all), cmp_u32);
    struct imap_hits hits = {.n = n, .cap = n};
    hits.pos = ph_calloc(n, sizeof(*hits.pos));
    for (size_t i = 0; i < n; i++)
        hits.pos[i] = (uint32_t)imap_view_lower_bound(s, all[i]);
    const struct ph_sort_keys **keys = ph_calloc(n, sizeof(*keys));
    uint32_t *order = ph_calloc(n, sizeof(*order));
    int r = imap_sort_keys_on(s, &hits, keys, error_r);
    if (r == 0) {
        ph_sort_messages(keys, (uint32_t)n, u->crit, u->ncrit, order);
        uint32_t *next = ph_calloc(n, sizeof(*next));
        for (size_t i = 0; i < n; i++)
            next[i] = all[order[i]];
        size_t j = 0;
        for (size_t i = 0; i < n;) {
            if (j < u->n && next[i] == u->uids[j]) {
                i++, j++;
                continue;
            }
            size_t start = i;
            while (i < n && !(j < u->n && next[i] == u->uids[j]))
                i++;
            write_pair(s, u, b, start + 1, &next[start], i - start);
        }
        if (j < u->n) {
            /* Not expected (see above), but if the kept results moved,
             * the client is told the whole result again. */
            ph_buf_free(b);
            write_pair(s, u, removed, 1, u->uids, u->n);
            write_pair(s, u, b, 1, next, n);
        }
        free(u->uids);
        u->uids = next;
        u->n = u->cap = n;
    }
    free(order);
    free(keys);
    imap_hits_free(&hits);
    free(all);
    return r;
}

/* Evaluates u's program over touched (UIDs of the view) and tells what
 * changed. -1 with *error_r when it cannot. */
static int update_touched(struct imap_session *s, struct imap_update *u,
                          const struct ph_uidset *touched, const char **error_r)
{
    struct imap_hits hits = {0};
    if (imap_search_run_on(s, u->prog, touched, &hits, error_r) < 0) {
        imap_hits_free(&hits);
        return -1;
    }
    struct stale_ctx c = {.touched = touched,
                          .match = ph_calloc(hits.n + 1, sizeof(uint32_t)),
                          .nmatch = hits.n};
    for (size_t i = 0; i < hits.n; i++)
        ((uint32_t *)c.match)[i] = s->uids[hits.pos[i]];
    imap_hits_free(&hits);
    struct ph_buf removed = {0}, added = {0};
    remove_where(s, u, stale, &c, &removed);
    /* What matches and is not in the result yet. */
    uint32_t *sorted = ph_calloc(u->n + 1, sizeof(*sorted));
    memcpy(sorted, u->uids, u->n * sizeof(*sorted));
    qsort(sorted, u->n, sizeof(*sorted), cmp_u32);
    uint32_t *fresh = ph_calloc(c.nmatch + 1, sizeof(*fresh));
    size_t nfresh = 0;
    for (size_t i = 0; i < c.nmatch; i++)
        if (!in_sorted(sorted, u->n, c.match[i]))
            fresh[nfresh++] = c.match[i];
    free(sorted);
    int r = 0;
    if (nfresh > 0 && u->crit == NULL)
        add_search(s, u, fresh, nfresh, &added);
    else if (nfresh > 0)
        r = add_sort(s, u, fresh, nfresh, &removed, &added, error_r);
    /* The removals went from the result: the client is told of them even
     * when the additions failed. */
    write_update(s, u, &removed, &added);
    ph_buf_free(&removed);
    ph_buf_free(&added);
    free(fresh);
    free((uint32_t *)c.match);
    return r;
}

void imap_updates_touched(struct imap_session *s,
                          const struct ph_uidset *touched)
{
    if (touched->n == 0)
        return;
    for (size_t i = 0; i < s->nupdates;) {
        const char *err = NULL;
        if (update_touched(s, s->updates[i], touched, &err) == 0) {
            i++;
            continue;
        }
        /* No way to stay exact: the context ends, and the client is told
         * as when a context is refused (RFC 5267 4.3.1). */
        ph_log_warn("mod=imap event=update_failed user=%s tag=\"%s\" "
                    "error=\"%s\"",
                    s->user, s->updates[i]->tag, err ? err : "");
        ph_buf_printf(&s->out, "* NO [NOUPDATE \"%s\"] Updates ended: %s\r\n",
                      s->updates[i]->tag, err ? err : "failure");
        update_drop(s, i);
    }
}

/* ---- CANCELUPDATE (RFC 5267 4.3.5) ---------------------------------------
 *
 * command-select =/ "CANCELUPDATE" 1*(SP quoted). Every tag must name a
 * context; otherwise nothing is cancelled. */
void imap_cmd_cancelupdate(struct imap_session *s,
                           const struct ph_imap_value *args, size_t n)
{
    if (n == 0) {
        imap_tagged(s, "BAD", "CANCELUPDATE takes the tags of contexts");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (args[i].type != PH_IMAP_VALUE_STRING) {
            imap_tagged(s, "BAD", "CANCELUPDATE takes quoted tags");
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (update_find(s, args[i].str) == SIZE_MAX) {
            char *t = imap_token_text(args[i].str);
            imap_tagged(s, "NO", "No update context for tag %s", t);
            free(t);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = update_find(s, args[i].str);
        if (k != SIZE_MAX)
            update_drop(s, k);
    }
    imap_tagged(s, "OK", "No further updates");
}
