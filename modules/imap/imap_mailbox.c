/* SPDX-License-Identifier: MIT */
/* Mailbox commands: LIST, LSUB, CREATE, DELETE, RENAME, SUBSCRIBE,
 * UNSUBSCRIBE, STATUS, SELECT, EXAMINE. Names are modified UTF-7 on the
 * wire and UTF-8 in storage. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/imap-condstore.h>

#include "imap-private.h"

void imap_storage_no(struct imap_session *s, int err, const char *error)
{
    const char *code = ph_storage_err_code(err);
    if (code && *code)
        imap_tagged(s, "NO", "[%s] %s", code, error);
    else
        imap_tagged(s, "NO", "%s", error);
}

/* The UTF-8 form of a name on the wire; NULL with *error_r when it is no
 * modified UTF-7. */
static char *utf8_name(const char *wire, bool pattern, const char **error_r)
{
    struct ph_buf b = {0};
    if (ph_imap_mutf7_to_utf8(wire, strlen(wire), &b, error_r) < 0) {
        ph_buf_free(&b);
        return NULL;
    }
    char *n = ph_buf_steal(&b);
    if (!pattern && strncasecmp(n, "INBOX", 5) == 0 &&
        (n[5] == '\0' || n[5] == PH_STORAGE_DELIMITER))
        memcpy(n, "INBOX", 5);
    return n;
}

char *imap_mailbox_name(const struct ph_imap_value *v, const char *code,
                        const char **status_r, char **text_r)
{
    const char *str, *err;
    if (!ph_imap_value_get_astring(v, &str)) {
        *status_r = "BAD";
        *text_r = ph_strdup("Expected a mailbox name");
        return NULL;
    }
    char *name = utf8_name(str, false, &err);
    if (name == NULL) {
        /* Valid syntax (an astring) that no mailbox can have. */
        *status_r = "NO";
        *text_r = ph_strdup_printf("[%s] %s", code, err);
    }
    return name;
}

static char *mailbox_arg(struct imap_session *s, const struct ph_imap_value *v,
                         const char *code)
{
    const char *status;
    char *text;
    char *name = imap_mailbox_name(v, code, &status, &text);
    if (name == NULL) {
        imap_tagged(s, status, "%s", text);
        free(text);
    }
    return name;
}

char *imap_mailbox_arg(struct imap_session *s, const struct ph_imap_value *v)
{
    return mailbox_arg(s, v, "NONEXISTENT");
}

char *imap_mailbox_arg_new(struct imap_session *s,
                           const struct ph_imap_value *v)
{
    return mailbox_arg(s, v, "CANNOT");
}

static void write_name(struct ph_buf *out, const char *utf8)
{
    struct ph_buf m = {0};
    const char *err;
    if (ph_imap_utf8_to_mutf7(utf8, strlen(utf8), &m, &err) < 0)
        ph_buf_puts(&m, utf8);
    ph_imap_write_astring(out, m.data ? m.data : "", m.len);
    ph_buf_free(&m);
}

/* '*' matches anything, '%' anything but the delimiter (RFC 3501 6.3.8).
 * One pass over the pattern keeps the set of name positions it can have
 * reached: |pattern| x |name| steps, where backtracking would take
 * exponential time for a hostile "*a*a*a...*b". */
static bool match(const char *p, const char *n)
{
    size_t nl = strlen(n), literals = 0;
    for (const char *q = p; *q; q++)
        literals += *q != '*' && *q != '%';
    if (literals > nl)
        return false;
    bool *cur = ph_calloc(2 * (nl + 1), sizeof(bool)), *next = cur + nl + 1;
    bool any = true;
    cur[0] = true;
    for (; *p && any; p++) {
        any = false;
        for (size_t j = 0; j <= nl; j++) {
            if (*p == '*')
                next[j] = cur[j] || (j > 0 && next[j - 1]);
            else if (*p == '%')
                next[j] = cur[j] || (j > 0 && next[j - 1] &&
                                     n[j - 1] != PH_STORAGE_DELIMITER);
            else
                next[j] = j > 0 && cur[j - 1] && n[j - 1] == *p;
            any = any || next[j];
        }
        bool *t = cur;
        cur = next;
        next = t;
    }
    bool r = any && cur[nl];
    free(cur < next ? cur : next);
    return r;
}

static bool match_string(const char *pattern, const char *name)
{
    if (strncmp(name, "INBOX", 5) == 0 &&
        (name[5] == '\0' || name[5] == PH_STORAGE_DELIMITER) &&
        strncasecmp(pattern, "INBOX", 5) == 0) {
        char *p = ph_strdup(pattern);
        memcpy(p, "INBOX", 5);
        bool m = match(p, name);
        free(p);
        return m;
    }
    return match(pattern, name);
}

/* A LIST pattern: in UTF-8 when it is modified UTF-7 (RFC 3501 5.1.3);
 * otherwise it is matched as sent against the names as the client sees
 * them, in modified UTF-7 ("&AP*" cuts an encoded run short), for a
 * list-mailbox may be any astring (RFC 3501 6.3.8, 9). */
struct pattern {
    char *str;
    bool wire;
};

static bool match_name(const struct pattern *pat, const char *name)
{
    if (!pat->wire)
        return match_string(pat->str, name);
    struct ph_buf m = {0};
    const char *err;
    bool r = ph_imap_utf8_to_mutf7(name, strlen(name), &m, &err) == 0 &&
             match_string(pat->str, m.data ? m.data : "");
    ph_buf_free(&m);
    return r;
}

static bool subscribed(const struct ph_mailbox_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return (l->v[i].attrs & PH_MBOX_SUBSCRIBED) != 0;
    return false;
}

static void lsub_parent(struct imap_session *s, const struct pattern *pattern,
                        const char *name, const struct ph_mailbox_list *l,
                        struct ph_strlist *shown)
{
    char *parent = ph_strdup(name);
    for (char *dot = strrchr(parent, PH_STORAGE_DELIMITER); dot;
         dot = strrchr(parent, PH_STORAGE_DELIMITER)) {
        *dot = '\0';
        if (!match_name(pattern, parent))
            continue;
        if (!subscribed(l, parent) && !ph_strlist_contains(shown, parent)) {
            ph_strlist_add(shown, parent);
            ph_buf_puts(&s->out, "* LSUB (\\Noselect) \".\" ");
            write_name(&s->out, parent);
            ph_buf_puts(&s->out, "\r\n");
        }
        break;
    }
    free(parent);
}

static void list_common(struct imap_session *s,
                        const struct ph_imap_value *args, size_t n, bool lsub)
{
    const char *ref, *pat;
    bool ret_ok = n == 4 && ph_imap_value_is_atom(&args[2], "RETURN") &&
                  args[3].type == PH_IMAP_VALUE_LIST;
    if ((n != 2 && !(ret_ok && !lsub)) ||
        !ph_imap_value_get_astring(&args[0], &ref) ||
        !ph_imap_value_get_list_mailbox(&args[1], &pat)) {
        imap_tagged(s, "BAD", "%s takes a reference and a mailbox pattern",
                    lsub ? "LSUB" : "LIST");
        return;
    }
    const char *cmd = lsub ? "LSUB" : "LIST";
    if (*pat == '\0' && !lsub) {
        ph_buf_puts(&s->out, "* LIST (\\Noselect) \".\" \"\"\r\n");
        imap_tagged(s, "OK", "LIST completed");
        return;
    }
    char *full = ph_strdup_printf("%s%s", ref, pat);
    const char *err;
    struct pattern upat = {.str = utf8_name(full, true, &err)};
    if (upat.str == NULL) {
        upat.str = full;
        upat.wire = true;
    } else {
        free(full);
    }
    struct ph_mailbox_list l = {0};
    struct ph_strlist shown = {0};
    int r = ph_mailbox_list(s->acct, &l, &err);
    if (r < 0) {
        free(upat.str);
        imap_storage_no(s, r, err);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        uint32_t a = l.v[i].attrs;
        if (lsub ? !(a & PH_MBOX_SUBSCRIBED) : (a & PH_MBOX_NONEXISTENT) != 0)
            continue;
        if (!match_name(&upat, l.v[i].name)) {
            /* RFC 3501 6.3.9: "%" hides a subscribed child; its parent is
             * then listed as \Noselect when it is not subscribed itself. */
            if (lsub)
                lsub_parent(s, &upat, l.v[i].name, &l, &shown);
            continue;
        }
        if (lsub)
            ph_strlist_add(&shown, l.v[i].name);
        ph_buf_printf(&s->out, "* %s (", cmd);
        bool first = true;
#define ATTR(bit, text)                                                        \
    if (a & (bit)) {                                                           \
        ph_buf_printf(&s->out, "%s%s", first ? "" : " ", text);                \
        first = false;                                                         \
    }
        ATTR(PH_MBOX_NOSELECT | (lsub ? PH_MBOX_NONEXISTENT : 0), "\\Noselect");
        ATTR(PH_MBOX_NOINFERIORS, "\\Noinferiors");
        if (!lsub) {
            ATTR(PH_MBOX_HASCHILDREN, "\\HasChildren");
            ATTR(PH_MBOX_HASNOCHILDREN, "\\HasNoChildren");
        }
#undef ATTR
        for (uint32_t bit = PH_MBOX_SENT; bit & PH_MBOX_SPECIAL_USE_MASK;
             bit <<= 1) {
            if ((a & bit) && !lsub) {
                ph_buf_printf(&s->out, "%s%s", first ? "" : " ",
                              ph_mailbox_special_use_name(bit));
                first = false;
            }
        }
        ph_buf_puts(&s->out, ") \".\" ");
        write_name(&s->out, l.v[i].name);
        ph_buf_puts(&s->out, "\r\n");
    }
    ph_mailbox_list_clear(&l);
    ph_strlist_clear(&shown);
    free(upat.str);
    imap_tagged(s, "OK", "%s completed", cmd);
}

void imap_cmd_list(struct imap_session *s, const struct ph_imap_value *args,
                   size_t n)
{
    list_common(s, args, n, false);
}

void imap_cmd_lsub(struct imap_session *s, const struct ph_imap_value *args,
                   size_t n)
{
    list_common(s, args, n, true);
}

void imap_cmd_create(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    uint32_t use = 0;
    if (n == 2) {
        /* RFC 6154: CREATE name (USE (\Sent)) */
        const struct ph_imap_value *opts, *uses;
        size_t no, nu;
        if (!ph_imap_value_get_list(&args[1], &opts, &no) || no != 2 ||
            !ph_imap_value_is_atom(&opts[0], "USE") ||
            !ph_imap_value_get_list(&opts[1], &uses, &nu) || nu > 1) {
            imap_tagged(s, "BAD", "CREATE options must be (USE (flag))");
            return;
        }
        const char *f;
        if (nu == 1) {
            if (!ph_imap_value_get_atom(&uses[0], &f) ||
                (use = ph_mailbox_special_use_parse(f)) == 0) {
                imap_tagged(s, "NO",
                            "[USEATTR] Unsupported special-use attribute");
                return;
            }
        }
    } else if (n != 1) {
        imap_tagged(s, "BAD", "CREATE takes a mailbox name");
        return;
    }
    char *name = imap_mailbox_arg_new(s, &args[0]);
    if (name == NULL)
        return;
    size_t len = strlen(name);
    if (len > 0 && name[len - 1] == PH_STORAGE_DELIMITER)
        name[len - 1] = '\0';
    const char *err;
    int r;
    if (strcmp(name, "INBOX") == 0)
        imap_tagged(s, "NO", "[ALREADYEXISTS] INBOX always exists");
    else if (*name == '\0')
        imap_tagged(s, "NO", "[CANNOT] Invalid mailbox name");
    else if ((r = ph_mailbox_create(s->acct, name, use, &err)) < 0)
        imap_storage_no(s, r, err);
    else
        imap_tagged(s, "OK", "CREATE completed");
    free(name);
}

void imap_cmd_delete(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    if (n != 1) {
        imap_tagged(s, "BAD", "DELETE takes a mailbox name");
        return;
    }
    char *name = imap_mailbox_arg(s, &args[0]);
    if (name == NULL)
        return;
    const char *err;
    int r = ph_mailbox_delete(s->acct, name, &err);
    if (r < 0)
        imap_storage_no(s, r, err);
    else
        imap_tagged(s, "OK", "DELETE completed");
    free(name);
}

void imap_cmd_rename(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    if (n != 2) {
        imap_tagged(s, "BAD", "RENAME takes two mailbox names");
        return;
    }
    char *from = imap_mailbox_arg(s, &args[0]);
    if (from == NULL)
        return;
    char *to = imap_mailbox_arg_new(s, &args[1]);
    if (to == NULL) {
        free(from);
        return;
    }
    const char *err;
    int r = ph_mailbox_rename(s->acct, from, to, &err);
    if (r < 0)
        imap_storage_no(s, r, err);
    else
        imap_tagged(s, "OK", "RENAME completed");
    free(from);
    free(to);
}

static void subscribe(struct imap_session *s, const struct ph_imap_value *args,
                      size_t n, bool on)
{
    if (n != 1) {
        imap_tagged(s, "BAD", "Expected one mailbox name");
        return;
    }
    /* One can subscribe to a name that does not exist (RFC 3501 6.3.6),
     * not to one that cannot. */
    char *name =
        on ? imap_mailbox_arg_new(s, &args[0]) : imap_mailbox_arg(s, &args[0]);
    if (name == NULL)
        return;
    const char *err;
    int r = ph_mailbox_subscribe(s->acct, name, on, &err);
    if (r < 0)
        imap_storage_no(s, r, err);
    else
        imap_tagged(s, "OK", "%s completed", on ? "SUBSCRIBE" : "UNSUBSCRIBE");
    free(name);
}

void imap_cmd_subscribe(struct imap_session *s,
                        const struct ph_imap_value *args, size_t n)
{
    subscribe(s, args, n, true);
}

void imap_cmd_unsubscribe(struct imap_session *s,
                          const struct ph_imap_value *args, size_t n)
{
    subscribe(s, args, n, false);
}

void imap_cmd_status(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    const struct ph_imap_value *items;
    size_t ni;
    if (n != 2 || !ph_imap_value_get_list(&args[1], &items, &ni) || ni == 0) {
        imap_tagged(s, "BAD",
                    "STATUS takes a mailbox name and a list of items");
        return;
    }
    static const char *const known[] = {
        "MESSAGES", "RECENT",        "UIDNEXT", "UIDVALIDITY",
        "UNSEEN",   "HIGHESTMODSEQ", "SIZE",    "APPENDLIMIT"};
    for (size_t i = 0; i < ni; i++) {
        bool ok = false;
        for (size_t k = 0; k < PH_N_ELEMENTS(known); k++)
            ok = ok || ph_imap_value_is_atom(&items[i], known[k]);
        if (!ok) {
            const char *item;
            char *t = ph_imap_value_get_atom(&items[i], &item)
                          ? imap_token_text(item)
                          : ph_strdup("(a list or string)");
            imap_tagged(s, "BAD", "Unknown STATUS item %s", t);
            free(t);
            return;
        }
    }
    char *name = imap_mailbox_arg(s, &args[0]);
    if (name == NULL)
        return;
    /* RFC 7162 3.1: STATUS (HIGHESTMODSEQ) enables CONDSTORE. */
    for (size_t i = 0; i < ni; i++)
        if (ph_imap_value_is_atom(&items[i], "HIGHESTMODSEQ"))
            imap_condstore_enable(s);
    struct ph_mailbox_status st;
    const char *err;
    int r = ph_mailbox_status(s->acct, name, &st, &err);
    if (r < 0) {
        imap_storage_no(s, r, err);
        free(name);
        return;
    }
    ph_buf_puts(&s->out, "* STATUS ");
    write_name(&s->out, name);
    ph_buf_puts(&s->out, " (");
    for (size_t i = 0; i < ni; i++) {
        const char *item;
        (void)ph_imap_value_get_atom(&items[i], &item);
        ph_buf_puts(&s->out, i ? " " : "");
        if (strcasecmp(item, "MESSAGES") == 0)
            ph_buf_printf(&s->out, "MESSAGES %u", st.messages);
        else if (strcasecmp(item, "RECENT") == 0)
            ph_buf_printf(&s->out, "RECENT %u", st.recent);
        else if (strcasecmp(item, "UIDNEXT") == 0)
            ph_buf_printf(&s->out, "UIDNEXT %u", st.uidnext);
        else if (strcasecmp(item, "UIDVALIDITY") == 0)
            ph_buf_printf(&s->out, "UIDVALIDITY %u", st.uidvalidity);
        else if (strcasecmp(item, "UNSEEN") == 0)
            ph_buf_printf(&s->out, "UNSEEN %u", st.unseen);
        else if (strcasecmp(item, "HIGHESTMODSEQ") == 0)
            ph_buf_printf(&s->out, "HIGHESTMODSEQ %llu",
                          (unsigned long long)st.highestmodseq);
        else if (strcasecmp(item, "SIZE") == 0)
            ph_buf_printf(&s->out, "SIZE %llu", (unsigned long long)st.size);
        else {
            uint64_t lim = s->srv->conf->appendlimit
                               ? s->srv->conf->appendlimit
                               : ph_account_appendlimit(s->acct);
            if (lim)
                ph_buf_printf(&s->out, "APPENDLIMIT %llu",
                              (unsigned long long)lim);
            else
                ph_buf_puts(&s->out, "APPENDLIMIT NIL");
        }
    }
    ph_buf_puts(&s->out, ")\r\n");
    free(name);
    imap_tagged(s, "OK", "STATUS completed");
}

/* ---- SELECT / EXAMINE --------------------------------------------------- */

struct select_ctx {
    struct imap_session *s;
    uint32_t recent;
    /* (uid, seen) pairs, to find the first unseen after sorting. */
    struct uid_seen {
        uint32_t uid;
        bool seen, recent;
    } * v;
    size_t n, cap;
};

static int select_cb(void *arg, const struct ph_message_meta *m)
{
    struct select_ctx *c = arg;
    ph_array_grow(&c->v, &c->cap, c->n + 1, sizeof(*c->v));
    c->v[c->n].uid = m->uid;
    c->v[c->n].recent = m->recent;
    c->v[c->n++].seen = (m->flags & PH_FLAG_SEEN) != 0;
    if (m->recent)
        c->recent++;
    imap_keywords_learn(c->s, m->keywords, m->nkeywords);
    return 0;
}

static int cmp_uid_seen(const void *a, const void *b)
{
    uint32_t x = ((const struct uid_seen *)a)->uid,
             y = ((const struct uid_seen *)b)->uid;
    return x < y ? -1 : x > y;
}

void imap_close_selected(struct imap_session *s)
{
    if (s->mb)
        ph_mailbox_close(&s->mb);
    imap_view_reset(s);
    if (s->state == IMAP_STATE_SELECTED)
        s->state = IMAP_STATE_AUTH;
}

static void select_common(struct imap_session *s,
                          const struct ph_imap_value *args, size_t n,
                          bool readonly)
{
    const char *cmd = readonly ? "EXAMINE" : "SELECT", *err;
    struct ph_imap_select_params params = {0};
    if (n != 1 && n != 2) {
        imap_tagged(s, "BAD", "%s takes a mailbox name", cmd);
        return;
    }
    /* RFC 7162 3.2.5: every parameter is checked before the mailbox is
     * opened (a BAD leaves the selected one as it was). */
    if (n == 2 && ph_imap_select_params_parse(
                      &args[1], (size_t)s->srv->conf->max_sequence_ranges,
                      &params, &err) < 0) {
        imap_tagged(s, "BAD", "%s", err);
        ph_imap_select_params_clear(&params);
        return;
    }
    if (params.qresync && !s->qresync) {
        /* 3.2.5: "A server MUST respond with a tagged BAD response if the
         * Quick Resynchronization parameter ... is specified and the client
         * hasn't issued "ENABLE QRESYNC"". */
        imap_tagged(s, "BAD", "QRESYNC needs ENABLE QRESYNC first");
        ph_imap_select_params_clear(&params);
        return;
    }
    const char *status;
    char *text = NULL;
    char *name = imap_mailbox_name(&args[0], "NONEXISTENT", &status, &text);
    if (name == NULL && strcmp(status, "BAD") == 0) {
        imap_tagged(s, status, "%s", text);
        free(text);
        ph_imap_select_params_clear(&params);
        return;
    }
    /* RFC 3501 6.3.1: "if a mailbox is selected and a SELECT command that
     * fails is attempted, no mailbox is selected": a name no mailbox can
     * have (NO) too. */
    bool replaced = s->state == IMAP_STATE_SELECTED;
    imap_close_selected(s);
    /* RFC 7162 3.2.11 (and RFC 9051 7.1): the boundary between the
     * responses of the mailbox closed and those of the one opened, "whether
     * or not a CONDSTORE enabling command was issued". */
    if (replaced)
        ph_buf_puts(&s->out,
                    "* OK [CLOSED] Previous mailbox is now closed\r\n");
    if (name == NULL) {
        imap_tagged(s, status, "%s", text);
        free(text);
        ph_imap_select_params_clear(&params);
        return;
    }
    /* 3.1.8: the CONDSTORE parameter enables CONDSTORE. */
    s->condstore = s->condstore || params.condstore;
    struct ph_mailbox_status st;
    int r = ph_mailbox_status(s->acct, name, &st, &err);
    if (r == 0)
        r = ph_mailbox_open(s->acct, name, readonly, &s->mb, &err);
    free(name);
    if (r < 0) {
        ph_imap_select_params_clear(&params);
        imap_storage_no(s, r, err);
        return;
    }
    struct select_ctx c = {.s = s};
    struct ph_uidset expunged = {0};
    uint64_t highest = 0;
    r = ph_mailbox_changes(s->mb, 0, &expunged, &highest, select_cb, &c, &err);
    ph_uidset_clear(&expunged);
    if (r < 0) {
        ph_mailbox_close(&s->mb);
        free(c.v);
        imap_view_reset(s);
        ph_imap_select_params_clear(&params);
        imap_storage_no(s, r, err);
        return;
    }
    /* The view and the keywords are the session's to hold: they count to
     * max_session_memory (a failed SELECT leaves no mailbox selected, RFC
     * 3501 6.3.1). */
    if (!imap_memory_fits(s, (c.n ? c.n : 1) *
                                 (sizeof(*s->uids) + sizeof(*s->recent)))) {
        ph_mailbox_close(&s->mb);
        free(c.v);
        imap_view_reset(s);
        ph_imap_select_params_clear(&params);
        imap_tagged(s, "NO",
                    "[LIMIT] Mailbox too large for this session's "
                    "memory limit");
        return;
    }
    if (c.n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(c.v, c.n, sizeof(*c.v), cmp_uid_seen);
    s->uids = ph_calloc(c.n ? c.n : 1, sizeof(uint32_t));
    s->cap_uids = c.n ? c.n : 1;
    s->recent = ph_calloc(s->cap_uids, sizeof(bool));
    s->cap_recent = s->cap_uids;
    /* UIDNEXT is read before the view, so it is never above a UID the
     * view lacks (a client resuming from it would skip that message). A
     * mailbox deleted and created again between the status and the open
     * has another UIDVALIDITY: the old UIDNEXT means nothing, and the
     * view's own bound (the highest UID it holds, plus one) is used. */
    uint32_t first_unseen = 0, uidnext = st.uidnext;
    if (st.uidvalidity != ph_mailbox_uidvalidity(s->mb))
        uidnext = 1;
    for (size_t i = 0; i < c.n; i++) {
        s->uids[i] = c.v[i].uid;
        s->recent[i] = c.v[i].recent;
        if (!c.v[i].seen && first_unseen == 0)
            first_unseen = (uint32_t)i + 1;
        if (c.v[i].uid >= uidnext)
            uidnext = c.v[i].uid + 1;
    }
    s->nuids = c.n;
    s->nrecent = c.recent;
    s->modseq = highest;
    s->readonly = readonly;
    s->state = IMAP_STATE_SELECTED;
    imap_keywords_write(s, true);
    ph_buf_printf(&s->out, "* %zu EXISTS\r\n* %u RECENT\r\n", s->nuids,
                  s->nrecent);
    if (first_unseen)
        ph_buf_printf(&s->out, "* OK [UNSEEN %u] First unseen\r\n",
                      first_unseen);
    ph_buf_printf(&s->out,
                  "* OK [UIDVALIDITY %u] UIDs valid\r\n* OK [UIDNEXT %u] "
                  "Predicted next UID\r\n",
                  ph_mailbox_uidvalidity(s->mb), uidnext);
    free(c.v);
    /* RFC 7162 3.1.2.1: after a CONDSTORE enabling command; every mailbox
     * keeps mod-sequences, so never NOMODSEQ. */
    if (s->condstore)
        ph_buf_printf(&s->out,
                      "* OK [HIGHESTMODSEQ %llu] Highest mailbox "
                      "mod-sequence\r\n",
                      (unsigned long long)highest);
    r = params.qresync ? imap_qresync_select(s, &params.qr, uidnext, &err) : 0;
    ph_imap_select_params_clear(&params);
    if (r < 0) {
        /* RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected. */
        imap_close_selected(s);
        imap_storage_no(s, r, err);
        return;
    }
    imap_tagged(s, "OK", "[%s] %s completed",
                readonly ? "READ-ONLY" : "READ-WRITE", cmd);
}

void imap_cmd_select(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    select_common(s, args, n, false);
}

void imap_cmd_examine(struct imap_session *s, const struct ph_imap_value *args,
                      size_t n)
{
    select_common(s, args, n, true);
}
