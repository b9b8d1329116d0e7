/* SPDX-License-Identifier: MIT */
/* Mailbox commands: LIST, LSUB, CREATE, DELETE, RENAME, SUBSCRIBE,
 * UNSUBSCRIBE, STATUS, SELECT, EXAMINE. Names are UTF-8 in storage and
 * modified UTF-7 on the wire, or UTF-8 there too once the client enabled
 * UTF8=ACCEPT or IMAP4rev2 (RFC 6855 3, RFC 9051 5.1). */
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

/* The UTF-8 form of a name on the wire (utf8: it is UTF-8 there); NULL
 * with *error_r when it is no modified UTF-7 (no UTF-8). */
static char *utf8_name(const char *wire, size_t len, bool utf8, bool pattern,
                       const char **error_r)
{
    struct ph_buf b = {0};
    if (utf8 &&
        (memchr(wire, '\0', len) != NULL || !ph_imap_utf8_valid(wire, len))) {
        *error_r = "Mailbox name is not valid UTF-8";
        return NULL;
    }
    if (utf8)
        ph_buf_append(&b, wire, len);
    else if (ph_imap_mutf7_to_utf8(wire, len, &b, error_r) < 0) {
        ph_buf_free(&b);
        return NULL;
    }
    char *n = b.data ? ph_buf_steal(&b) : ph_strdup("");
    if (!pattern && strncasecmp(n, "INBOX", 5) == 0 &&
        (n[5] == '\0' || n[5] == PH_STORAGE_DELIMITER))
        memcpy(n, "INBOX", 5);
    return n;
}

char *imap_mailbox_name(const struct imap_session *s,
                        const struct ph_imap_value *v, const char *code,
                        const char **status_r, char **text_r)
{
    const char *str, *err;
    if (!ph_imap_value_get_astring(v, &str)) {
        *status_r = "BAD";
        *text_r = ph_strdup("Expected a mailbox name");
        return NULL;
    }
    bool utf8 = imap_utf8(s);
    if (utf8 && v->type == PH_IMAP_VALUE_STRING &&
        !ph_imap_utf8_valid(str, v->len)) {
        /* RFC 6855 3: invalid UTF-8 in a quoted string is BAD. */
        *status_r = "BAD";
        *text_r = ph_strdup("Quoted string is not valid UTF-8");
        return NULL;
    }
    char *name = utf8_name(str, v->len, utf8, false, &err);
    /* RFC 9051 5.1: "Server implementations MUST prohibit the creation of
     * 8-bit mailbox names that do not comply with Net-Unicode". */
    if (name != NULL && utf8 && strcmp(code, "CANNOT") == 0 &&
        ph_imap_mailbox_name_check(name, strlen(name), &err) < 0) {
        free(name);
        name = NULL;
    }
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
    char *name = imap_mailbox_name(s, v, code, &status, &text);
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

/* utf8_out: the client takes UTF-8 names, quoted (RFC 6855 3). */
static void write_name(struct ph_buf *out, const char *utf8, bool utf8_out)
{
    struct ph_buf m = {0};
    const char *err;
    size_t len = strlen(utf8);
    if (utf8_out && !ph_imap_string_quotable(utf8, len) &&
        ph_imap_utf8_valid(utf8, len) && strpbrk(utf8, "\r\n") == NULL) {
        ph_imap_write_quoted(out, utf8, len);
        return;
    }
    if (utf8_out)
        ph_buf_puts(&m, utf8);
    else if (ph_imap_utf8_to_mutf7(utf8, len, &m, &err) < 0)
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
            write_name(&s->out, parent, imap_utf8(s));
            ph_buf_puts(&s->out, "\r\n");
        }
        break;
    }
    free(parent);
}

/* ---- STATUS items: the STATUS command and LIST's STATUS return option -- */

enum status_item {
    ST_MESSAGES,
    ST_RECENT,
    ST_UIDNEXT,
    ST_UIDVALIDITY,
    ST_UNSEEN,
    ST_HIGHESTMODSEQ,
    ST_SIZE, /* RFC 8438 */
    ST_APPENDLIMIT,
    ST_MAILBOXID, /* RFC 8474 4.3, with OBJECTID */
    ST_DELETED,   /* RFC 9208 4.1.4, with QUOTA */
    ST_DELETED_STORAGE,
    ST_N
};

static const char *const status_names[ST_N] = {
    "MESSAGES",  "RECENT",        "UIDNEXT",        "UIDVALIDITY",
    "UNSEEN",    "HIGHESTMODSEQ", "SIZE",           "APPENDLIMIT",
    "MAILBOXID", "DELETED",       "DELETED-STORAGE"};

/* The items asked for, in the order first asked, each once. */
struct status_items {
    uint8_t v[ST_N];
    size_t n;
};

/* An option or item of the client's, quoted and bounded for a BAD. */
static char *option_text(const struct ph_imap_value *v)
{
    const char *atom;
    return ph_imap_value_get_atom(v, &atom) ? imap_token_text(atom)
                                            : ph_strdup("(a list or string)");
}

/* Adds items to *si; -1 with *error_r (allocated, for a BAD) at the first
 * one that is no STATUS item. */
static int status_items_parse(const struct ph_imap_value *items, size_t ni,
                              bool has_objectid, bool quota,
                              struct status_items *si, char **error_r)
{
    /* DELETED and DELETED-STORAGE come with QUOTA=RES-MESSAGE and
     * QUOTA=RES-STORAGE, from a storage that counts them. */
    size_t known = quota ? ST_N : ST_DELETED;
    for (size_t i = 0; i < ni; i++) {
        size_t k = 0;
        while (k < known && !ph_imap_value_is_atom(&items[i], status_names[k]))
            k++;
        /* Only where the storage keeps MAILBOXIDs (OBJECTID advertised). */
        if (k == ST_MAILBOXID && !has_objectid)
            k = known;
        if (k == known) {
            char *t = option_text(&items[i]);
            *error_r = ph_strdup_printf("Unknown STATUS item %s", t);
            free(t);
            return -1;
        }
        if (memchr(si->v, (int)k, si->n) == NULL)
            si->v[si->n++] = (uint8_t)k;
    }
    return 0;
}

/* RFC 7162 3.1: STATUS (HIGHESTMODSEQ) enables CONDSTORE. */
static void status_items_enable(struct imap_session *s,
                                const struct status_items *si)
{
    if (memchr(si->v, ST_HIGHESTMODSEQ, si->n) != NULL)
        imap_condstore_enable(s);
}

static void status_write(struct imap_session *s, const char *name,
                         const struct ph_mailbox_status *st,
                         const struct status_items *si)
{
    ph_buf_puts(&s->out, "* STATUS ");
    write_name(&s->out, name, imap_utf8(s));
    ph_buf_puts(&s->out, " (");
    for (size_t i = 0; i < si->n; i++) {
        unsigned long long v = 0;
        switch ((enum status_item)si->v[i]) {
        case ST_MESSAGES: v = st->messages; break;
        case ST_RECENT: v = st->recent; break;
        case ST_UIDNEXT: v = st->uidnext; break;
        case ST_UIDVALIDITY: v = st->uidvalidity; break;
        case ST_UNSEEN: v = st->unseen; break;
        case ST_HIGHESTMODSEQ: v = st->highestmodseq; break;
        case ST_SIZE: v = st->size; break;
        case ST_MAILBOXID: break;
        case ST_DELETED: v = st->deleted; break;
        /* "the amount of storage space that can be reclaimed" (RFC 9208
         * 4.1.4) in the unit of the STORAGE resource it goes with, 1024
         * octets (5.1; the RFC's example, 4 messages and 8 of it, is in
         * no other), rounded up as GETQUOTA rounds the usage. */
        case ST_DELETED_STORAGE:
            v = st->deleted_size / 1024 + (st->deleted_size % 1024 != 0);
            break;
        default: /* ST_APPENDLIMIT */
            v = s->srv->conf->appendlimit ? s->srv->conf->appendlimit
                                          : ph_account_appendlimit(s->acct);
            break;
        }
        ph_buf_printf(&s->out, "%s%s ", i ? " " : "", status_names[si->v[i]]);
        if (si->v[i] == ST_MAILBOXID) /* "MAILBOXID" SP "(" objectid ")" */
            ph_buf_printf(&s->out, "(%s)", st->mailboxid);
        else if (si->v[i] == ST_APPENDLIMIT && v == 0)
            ph_buf_puts(&s->out, "NIL");
        else
            ph_buf_printf(&s->out, "%llu", v);
    }
    ph_buf_puts(&s->out, ")\r\n");
}

/* ---- LIST / LSUB -------------------------------------------------------- */

/* What a LIST asks for: RFC 5258's selection and return options, RFC
 * 6154's SPECIAL-USE and RFC 5819's STATUS. */
struct list_opts {
    bool extended; /* any of RFC 5258's three extensions of the syntax */
    bool sel_subscribed, sel_special_use, recursive;
    bool ret_subscribed, ret_children;
    struct status_items status; /* n == 0: no STATUS return option */
    bool objectid;              /* MAILBOXID is a STATUS item */
    bool quota; /* STATUS may ask for DELETED and DELETED-STORAGE */
};

/* More patterns than clients send, few enough to bound the matching. */
#define LIST_MAX_PATTERNS 1000

static int list_select_parse(const struct ph_imap_value *v, struct list_opts *o,
                             char **error_r)
{
    const struct ph_imap_value *it;
    size_t n;
    (void)ph_imap_value_get_list(v, &it, &n);
    for (size_t i = 0; i < n; i++) {
        /* RFC 5258 3.1: SUBSCRIBED implies the SUBSCRIBED return option;
         * RFC 6154 2: SPECIAL-USE its own (special-use attributes are
         * always returned). REMOTE: there are no remote mailboxes. */
        if (ph_imap_value_is_atom(&it[i], "SUBSCRIBED"))
            o->sel_subscribed = o->ret_subscribed = true;
        else if (ph_imap_value_is_atom(&it[i], "SPECIAL-USE"))
            o->sel_special_use = true;
        else if (ph_imap_value_is_atom(&it[i], "RECURSIVEMATCH"))
            o->recursive = true;
        else if (!ph_imap_value_is_atom(&it[i], "REMOTE")) {
            /* RFC 5258 3: "A server MUST respond to options it does not
             * recognize with a BAD response." */
            char *t = option_text(&it[i]);
            *error_r = ph_strdup_printf("Unknown LIST selection option %s", t);
            free(t);
            return -1;
        }
    }
    /* 3.1: RECURSIVEMATCH "MUST NOT occur as the only selection option
     * (or only with REMOTE)"; the base option it modifies is SUBSCRIBED
     * (6: list-select-base-opt; SPECIAL-USE is an independent one). */
    if (o->recursive && !o->sel_subscribed) {
        *error_r = ph_strdup("RECURSIVEMATCH needs the SUBSCRIBED selection "
                             "option");
        return -1;
    }
    return 0;
}

static int list_return_parse(const struct ph_imap_value *v, struct list_opts *o,
                             char **error_r)
{
    const struct ph_imap_value *it, *items;
    size_t n, ni;
    (void)ph_imap_value_get_list(v, &it, &n);
    for (size_t i = 0; i < n; i++) {
        if (ph_imap_value_is_atom(&it[i], "SUBSCRIBED"))
            o->ret_subscribed = true;
        else if (ph_imap_value_is_atom(&it[i], "CHILDREN"))
            o->ret_children = true;
        else if (ph_imap_value_is_atom(&it[i], "SPECIAL-USE"))
            continue; /* always returned (RFC 6154 2) */
        else if (ph_imap_value_is_atom(&it[i], "STATUS")) {
            /* RFC 5819 4: "STATUS" SP "(" status-att *(SP status-att) ")" */
            if (i + 1 == n ||
                !ph_imap_value_get_list(&it[i + 1], &items, &ni) || ni == 0) {
                *error_r = ph_strdup("STATUS return option takes a list of "
                                     "STATUS items");
                return -1;
            }
            if (status_items_parse(items, ni, o->objectid, o->quota, &o->status,
                                   error_r) < 0)
                return -1;
            i++;
        } else {
            char *t = option_text(&it[i]);
            *error_r = ph_strdup_printf("Unknown LIST return option %s", t);
            free(t);
            return -1;
        }
    }
    return 0;
}

/* RFC 5258 3: whether a name meets the selection criteria (LSUB: that it
 * is subscribed). */
static bool list_selects(const struct list_opts *o, uint32_t a)
{
    if (o->sel_subscribed ? !(a & PH_MBOX_SUBSCRIBED)
                          : (a & PH_MBOX_NONEXISTENT) != 0)
        return false;
    return !o->sel_special_use || (a & PH_MBOX_SPECIAL_USE_MASK) != 0;
}

static bool match_any(const struct pattern *p, size_t np, const char *name)
{
    for (size_t i = 0; i < np; i++)
        if (match_name(&p[i], name))
            return true;
    return false;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ph_mailbox_entry *)a)->name,
                  ((const struct ph_mailbox_entry *)b)->name);
}

static struct ph_mailbox_entry *entry_find(const struct ph_mailbox_list *l,
                                           size_t n, const char *name)
{
    struct ph_mailbox_entry key = {.name = (char *)name};
    return bsearch(&key, l->v, n, sizeof(*l->v), entry_cmp);
}

enum { CHILD_SELECTED = 1, CHILD_UNMATCHED = 2 };

/* RECURSIVEMATCH (RFC 5258 3.5): adds the missing parents of the selected
 * names to l (as \NonExistent) and returns, per entry of l, whether it has
 * a selected descendant (CHILD_SELECTED) that matches no pattern
 * (CHILD_UNMATCHED). */
static uint8_t *list_children(struct ph_mailbox_list *l,
                              const struct list_opts *o,
                              const struct pattern *p, size_t np)
{
    size_t n0 = l->n, cap = l->n;
    for (size_t i = 0; i < n0; i++) {
        if (!list_selects(o, l->v[i].attrs))
            continue;
        char *up = ph_strdup(l->v[i].name);
        for (char *dot = strrchr(up, PH_STORAGE_DELIMITER); dot;
             dot = strrchr(up, PH_STORAGE_DELIMITER)) {
            *dot = '\0';
            if (entry_find(l, n0, up) != NULL)
                continue;
            ph_array_grow(&l->v, &cap, l->n + 1, sizeof(*l->v));
            l->v[l->n++] =
                (struct ph_mailbox_entry){ph_strdup(up), PH_MBOX_NONEXISTENT};
        }
        free(up);
    }
    if (l->n > n0) {
        qsort(l->v, l->n, sizeof(*l->v), entry_cmp);
        size_t k = 0;
        for (size_t i = 0; i < l->n; i++) {
            if (k > 0 && strcmp(l->v[k - 1].name, l->v[i].name) == 0)
                free(l->v[i].name);
            else
                l->v[k++] = l->v[i];
        }
        l->n = k;
    }
    uint8_t *info = ph_calloc(l->n ? l->n : 1, 1);
    for (size_t i = 0; i < l->n; i++) {
        if (!list_selects(o, l->v[i].attrs))
            continue;
        uint8_t bits = CHILD_SELECTED |
                       (match_any(p, np, l->v[i].name) ? 0 : CHILD_UNMATCHED);
        char *up = ph_strdup(l->v[i].name);
        for (char *dot = strrchr(up, PH_STORAGE_DELIMITER); dot;
             dot = strrchr(up, PH_STORAGE_DELIMITER)) {
            *dot = '\0';
            struct ph_mailbox_entry *e = entry_find(l, l->n, up);
            if (e != NULL)
                info[e - l->v] |= bits;
        }
        free(up);
    }
    return info;
}

static void attr_put(struct ph_buf *out, bool *first, const char *text)
{
    ph_buf_printf(out, "%s%s", *first ? "" : " ", text);
    *first = false;
}

static void list_write(struct ph_buf *out, bool lsub, const char *name,
                       uint32_t a, const struct list_opts *o, bool childinfo,
                       bool utf8)
{
    bool first = true, nonexistent = (a & PH_MBOX_NONEXISTENT) != 0;
    ph_buf_printf(out, "* %s (", lsub ? "LSUB" : "LIST");
    /* A plain LIST never lists a \NonExistent name; LSUB says \Noselect. */
    if (nonexistent && !lsub)
        attr_put(out, &first, "\\NonExistent");
    else if (nonexistent || (a & PH_MBOX_NOSELECT))
        attr_put(out, &first, "\\Noselect");
    if (a & PH_MBOX_NOINFERIORS)
        attr_put(out, &first, "\\Noinferiors");
    if (!lsub) {
        /* RFC 5258 4: with CHILDREN, one of the two for every name. */
        if (a & PH_MBOX_HASCHILDREN)
            attr_put(out, &first, "\\HasChildren");
        else if ((a & PH_MBOX_HASNOCHILDREN) ||
                 (nonexistent && o->ret_children))
            attr_put(out, &first, "\\HasNoChildren");
        if (o->ret_subscribed && (a & PH_MBOX_SUBSCRIBED))
            attr_put(out, &first, "\\Subscribed");
        for (uint32_t bit = PH_MBOX_SENT; bit & PH_MBOX_SPECIAL_USE_MASK;
             bit <<= 1)
            if (a & bit)
                attr_put(out, &first, ph_mailbox_special_use_name(bit));
    }
    ph_buf_puts(out, ") \".\" ");
    write_name(out, name, utf8);
    /* 3.5 and 6: the base selection options, quoted. */
    if (childinfo)
        ph_buf_puts(out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
    ph_buf_puts(out, "\r\n");
}

/* RFC 5819 2: the STATUS of a listed mailbox, or false when there is none
 * to send; a mailbox gone (or made \Noselect) since the listing gets
 * \Noselect on its LIST line: "the STATUS response MUST NOT be returned
 * and the LIST response MUST include the \NoSelect attribute". */
static int list_status(struct imap_session *s, const char *name,
                       uint32_t *attrs, struct ph_mailbox_status *st_r,
                       const char **error_r)
{
    int r = ph_mailbox_status(s->acct, name, st_r, error_r);
    if (r == PH_STORAGE_ERR_NOT_FOUND || r == PH_STORAGE_ERR_NOT_ALLOWED) {
        *attrs |= PH_MBOX_NOSELECT;
        return 0;
    }
    return r < 0 ? r : 1;
}

static void list_common(struct imap_session *s,
                        const struct ph_imap_value *args, size_t n, bool lsub)
{
    const char *cmd = lsub ? "LSUB" : "LIST", *ref, *pat, *err;
    struct list_opts o = {
        .sel_subscribed = lsub,
        .objectid = ph_storage_has(s->srv->conf->storage, PH_META_OBJECTID),
        .quota = imap_quota_enabled(s)};
    const struct ph_imap_value *pv;
    size_t i = 0, npv = 1;
    char *text = NULL;
    /* RFC 5258 6: "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
     * [SP list-return-opts] */
    if (!lsub && n > 0 && args[0].type == PH_IMAP_VALUE_LIST) {
        o.extended = true;
        if (list_select_parse(&args[0], &o, &text) < 0)
            goto bad;
        i = 1;
    }
    if (n < i + 2 || !ph_imap_value_get_astring(&args[i], &ref))
        goto shape;
    pv = &args[i + 1];
    if (!lsub && pv->type == PH_IMAP_VALUE_LIST) {
        o.extended = true;
        npv = pv->len;
        pv = pv->list;
        if (npv == 0) /* patterns = "(" list-mailbox *(SP list-mailbox) ")" */
            goto shape;
    }
    for (size_t k = 0; k < npv; k++)
        if (!ph_imap_value_get_list_mailbox(&pv[k], &pat))
            goto shape;
    i += 2;
    if (!lsub && n == i + 2 && ph_imap_value_is_atom(&args[i], "RETURN") &&
        args[i + 1].type == PH_IMAP_VALUE_LIST) {
        o.extended = true;
        if (list_return_parse(&args[i + 1], &o, &text) < 0)
            goto bad;
    } else if (n != i) {
        goto shape;
    }
    if (npv > LIST_MAX_PATTERNS) {
        text = ph_strdup_printf("Too many mailbox patterns (at most %d)",
                                LIST_MAX_PATTERNS);
        goto bad;
    }
    status_items_enable(s, &o.status);
    /* RFC 5258 3: only the non-extended LIST asks for the delimiter with
     * an empty pattern; an extended one ignores empty patterns. */
    (void)ph_imap_value_get_list_mailbox(&pv[0], &pat);
    if (!o.extended && !lsub && *pat == '\0') {
        ph_buf_puts(&s->out, "* LIST (\\Noselect) \".\" \"\"\r\n");
        imap_tagged(s, "OK", "LIST completed");
        return;
    }
    struct pattern *pats = ph_calloc(npv, sizeof(*pats));
    size_t np = 0;
    for (size_t k = 0; k < npv; k++) {
        (void)ph_imap_value_get_list_mailbox(&pv[k], &pat);
        if (o.extended && *pat == '\0')
            continue;
        char *full = ph_strdup_printf("%s%s", ref, pat);
        pats[np].str = utf8_name(full, strlen(full), imap_utf8(s), true, &err);
        if (pats[np].str == NULL) {
            pats[np].str = full;
            pats[np].wire = true;
        } else {
            free(full);
        }
        np++;
    }
    struct ph_mailbox_list l = {0};
    struct ph_strlist shown = {0};
    uint8_t *info = NULL;
    int r = ph_mailbox_list(s->acct, &l, &err);
    if (r == 0 && o.recursive)
        info = list_children(&l, &o, pats, np);
    for (size_t k = 0; r == 0 && k < l.n; k++) {
        uint32_t a = l.v[k].attrs;
        const char *name = l.v[k].name;
        bool selected = list_selects(&o, a);
        if (lsub && !selected)
            continue;
        if (!match_any(pats, np, name)) {
            /* RFC 3501 6.3.9: "%" hides a subscribed child; its parent is
             * then listed as \Noselect when it is not subscribed itself. */
            if (lsub)
                lsub_parent(s, &pats[0], name, &l, &shown);
            continue;
        }
        /* RFC 5258 3.3 2: selected, or (RECURSIVEMATCH) with a selected
         * descendant that matches no pattern. */
        if (!selected && !(info && (info[k] & CHILD_UNMATCHED)))
            continue;
        if (lsub)
            ph_strlist_add(&shown, name);
        struct ph_mailbox_status st;
        int have_st = 0;
        if (selected && o.status.n > 0 &&
            !(a & (PH_MBOX_NOSELECT | PH_MBOX_NONEXISTENT)) &&
            (have_st = list_status(s, name, &a, &st, &err)) < 0) {
            r = have_st;
            break;
        }
        list_write(&s->out, lsub, name, a, &o,
                   info && (info[k] & CHILD_SELECTED), imap_utf8(s));
        if (have_st)
            status_write(s, name, &st, &o.status);
    }
    ph_mailbox_list_clear(&l);
    ph_strlist_clear(&shown);
    free(info);
    for (size_t k = 0; k < np; k++)
        free(pats[k].str);
    free(pats);
    if (r < 0)
        imap_storage_no(s, r, err);
    else
        imap_tagged(s, "OK", "%s completed", cmd);
    return;
shape:
    text = ph_strdup_printf("%s takes a reference and a mailbox pattern", cmd);
bad:
    imap_tagged(s, "BAD", "%s", text);
    free(text);
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

/* RFC 8474 4.1: "MUST include the MAILBOXID response code in the tagged
 * OK response to all successful CREATE commands". Read back by name: a
 * mailbox deleted again by another session meanwhile has none to give. */
static void create_ok(struct imap_session *s, const char *name)
{
    struct ph_mailbox_status st;
    const char *err;
    if (ph_storage_has(s->srv->conf->storage, PH_META_OBJECTID) &&
        ph_mailbox_status(s->acct, name, &st, &err) == 0 &&
        st.mailboxid[0] != '\0')
        imap_tagged(s, "OK", "[MAILBOXID (%s)] CREATE completed", st.mailboxid);
    else
        imap_tagged(s, "OK", "CREATE completed");
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
        create_ok(s, name);
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
    struct status_items si = {0};
    char *text;
    if (n != 2 || !ph_imap_value_get_list(&args[1], &items, &ni) || ni == 0) {
        imap_tagged(s, "BAD",
                    "STATUS takes a mailbox name and a list of items");
        return;
    }
    if (status_items_parse(
            items, ni, ph_storage_has(s->srv->conf->storage, PH_META_OBJECTID),
            imap_quota_enabled(s), &si, &text) < 0) {
        imap_tagged(s, "BAD", "%s", text);
        free(text);
        return;
    }
    char *name = imap_mailbox_arg(s, &args[0]);
    if (name == NULL)
        return;
    status_items_enable(s, &si);
    struct ph_mailbox_status st;
    const char *err;
    int r = ph_mailbox_status(s->acct, name, &st, &err);
    if (r < 0)
        imap_storage_no(s, r, err);
    else {
        status_write(s, name, &st, &si);
        imap_tagged(s, "OK", "STATUS completed");
    }
    free(name);
}

/* ---- SELECT / EXAMINE --------------------------------------------------- */

/* SELECT's LIST response (RFC 9051 6.3.2): what LIST "" name says of the
 * mailbox selected, attributes accurate. 0, or a storage error. */
static int select_list(struct imap_session *s, const char **error_r)
{
    const char *name = ph_mailbox_name(s->mb);
    struct ph_mailbox_list l = {0};
    int r = ph_mailbox_list(s->acct, &l, error_r);
    uint32_t a = 0;
    for (size_t k = 0; r == 0 && k < l.n; k++)
        if (strcmp(l.v[k].name, name) == 0)
            a = l.v[k].attrs;
    ph_mailbox_list_clear(&l);
    if (r == 0)
        list_write(&s->out, false, name, a, &(struct list_opts){0}, false,
                   imap_utf8(s));
    return r;
}

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
    char *name = imap_mailbox_name(s, &args[0], "NONEXISTENT", &status, &text);
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
    imap_write_exists(s);
    /* RFC 9051 6.3.2: "The server MUST return a LIST response with the
     * mailbox name"; Appendix E 11: no UNSEEN code. */
    if (s->rev2 && (r = select_list(s, &err)) < 0) {
        free(c.v);
        ph_imap_select_params_clear(&params);
        imap_close_selected(s);
        imap_storage_no(s, r, err);
        return;
    }
    if (first_unseen && !s->rev2)
        ph_buf_printf(&s->out, "* OK [UNSEEN %u] First unseen\r\n",
                      first_unseen);
    ph_buf_printf(&s->out,
                  "* OK [UIDVALIDITY %u] UIDs valid\r\n* OK [UIDNEXT %u] "
                  "Predicted next UID\r\n",
                  ph_mailbox_uidvalidity(s->mb), uidnext);
    /* RFC 8474 4.2, from the status read before the open: the same
     * mailbox when its UIDVALIDITY is the open one's. */
    if (st.mailboxid[0] != '\0' &&
        st.uidvalidity == ph_mailbox_uidvalidity(s->mb))
        ph_buf_printf(&s->out, "* OK [MAILBOXID (%s)] Ok\r\n", st.mailboxid);
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
