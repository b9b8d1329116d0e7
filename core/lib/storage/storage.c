/* SPDX-License-Identifier: MIT */
/* Storage caller API: dispatch to the module's vtable, plus what every
 * storage shares (flags, UID sets, mailbox names, the append pipeline that
 * normalizes line endings and parses the message once). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistr.h>

#include <posthorn/log.h>
#include <posthorn/message.h>
#include <posthorn/storage-impl.h>
#include <posthorn/table.h>

#include "module/graph.h"

static const struct ph_storage_vfuncs *svf(struct ph_instance *storage)
{
    ph_assert(ph_instance_kind(storage) == PH_MODULE_STORAGE);
    return ph_instance_iface(storage);
}

const char *ph_storage_err_code(int err)
{
    switch (err) {
    case PH_STORAGE_ERR_NOT_FOUND: return "NONEXISTENT";
    case PH_STORAGE_ERR_EXISTS: return "ALREADYEXISTS";
    case PH_STORAGE_ERR_LIMIT: return "LIMIT";
    case PH_STORAGE_ERR_TEMP: return "UNAVAILABLE";
    case PH_STORAGE_ERR_CORRUPTED: return "CORRUPTION";
    case PH_STORAGE_ERR_INVALID: return "CANNOT";
    case PH_STORAGE_ERR_NOT_ALLOWED: return "CANNOT";
    case PH_STORAGE_ERR_NO_ACCOUNT: return "NONEXISTENT";
    case PH_STORAGE_ERR_MODIFIED: return "MODIFIED";
    case PH_STORAGE_ERR_UNSUPPORTED: return "CANNOT";
    case PH_STORAGE_ERR_OVERQUOTA: return "OVERQUOTA";
    default: return "SERVERBUG";
    }
}

/* ---- flags -------------------------------------------------------------- */

static const struct {
    const char *name;
    uint32_t bit;
} system_flags[] = {
    {"\\Seen", PH_FLAG_SEEN},       {"\\Answered", PH_FLAG_ANSWERED},
    {"\\Flagged", PH_FLAG_FLAGGED}, {"\\Deleted", PH_FLAG_DELETED},
    {"\\Draft", PH_FLAG_DRAFT},
};

void ph_flags_clear(struct ph_flags *f)
{
    ph_strlist_clear(&f->keywords);
    f->system = 0;
}

int ph_flags_add_name(struct ph_flags *f, const char *name)
{
    if (name[0] == '\\') {
        for (size_t i = 0; i < PH_N_ELEMENTS(system_flags); i++) {
            if (strcasecmp(system_flags[i].name, name) == 0) {
                f->system |= system_flags[i].bit;
                return 0;
            }
        }
        return -1; /* \Recent and unknown system flags */
    }
    /* A keyword is an atom: no specials, no 8-bit, not empty. */
    if (*name == '\0' || strlen(name) > 255)
        return -1;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("(){%*\"\\]", *p))
            return -1;
    for (size_t i = 0; i < f->keywords.n; i++)
        if (strcasecmp(f->keywords.v[i], name) == 0)
            return 0;
    ph_strlist_add(&f->keywords, name);
    return 0;
}

/* ---- UID sets ----------------------------------------------------------- */

void ph_uidset_add_range(struct ph_uidset *s, uint32_t lo, uint32_t hi)
{
    if (lo > hi) {
        uint32_t t = lo;
        lo = hi;
        hi = t;
    }
    if (lo == 0)
        lo = 1;
    if (hi == 0)
        return;
    /* Find the first range that could touch [lo, hi]. */
    size_t i = 0;
    while (i < s->n && s->r[i].hi != UINT32_MAX && s->r[i].hi + 1 < lo)
        i++;
    if (i == s->n || (lo != 0 && hi != UINT32_MAX && hi + 1 < s->r[i].lo)) {
        ph_array_grow(&s->r, &s->cap, s->n + 1, sizeof(*s->r));
        memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(*s->r));
        s->r[i] = (struct ph_uid_range){lo, hi};
        s->n++;
        return;
    }
    /* Merge with range i and every following one it reaches. */
    if (lo < s->r[i].lo)
        s->r[i].lo = lo;
    if (hi > s->r[i].hi)
        s->r[i].hi = hi;
    size_t j = i + 1;
    while (j < s->n &&
           (s->r[i].hi == UINT32_MAX || s->r[j].lo <= s->r[i].hi + 1)) {
        if (s->r[j].hi > s->r[i].hi)
            s->r[i].hi = s->r[j].hi;
        j++;
    }
    memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof(*s->r));
    s->n -= j - i - 1;
}

void ph_uidset_add(struct ph_uidset *s, uint32_t uid)
{
    ph_uidset_add_range(s, uid, uid);
}

bool ph_uidset_contains(const struct ph_uidset *s, uint32_t uid)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (uid < s->r[mid].lo)
            hi = mid;
        else if (uid > s->r[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

uint64_t ph_uidset_count(const struct ph_uidset *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += (uint64_t)s->r[i].hi - s->r[i].lo + 1;
    return n;
}

void ph_uidset_clear(struct ph_uidset *s)
{
    free(s->r);
    s->r = NULL;
    s->n = s->cap = 0;
}

char *ph_uidset_format(const struct ph_uidset *s)
{
    struct ph_buf b = {0};
    for (size_t i = 0; i < s->n; i++) {
        if (s->r[i].lo == s->r[i].hi)
            ph_buf_printf(&b, "%s%u", i ? "," : "", s->r[i].lo);
        else
            ph_buf_printf(&b, "%s%u:%u", i ? "," : "", s->r[i].lo, s->r[i].hi);
    }
    return ph_buf_steal(&b);
}

/* ---- mailbox names and defaults ----------------------------------------- */

const struct ph_default_mailbox ph_default_mailboxes[] = {
    {"Sent", PH_MBOX_SENT},       {"Drafts", PH_MBOX_DRAFTS},
    {"Trash", PH_MBOX_TRASH},     {"Junk", PH_MBOX_JUNK},
    {"Archive", PH_MBOX_ARCHIVE}, {NULL, 0},
};

static const struct {
    const char *name;
    uint32_t bit;
} special_uses[] = {
    {"\\Sent", PH_MBOX_SENT},       {"\\Drafts", PH_MBOX_DRAFTS},
    {"\\Trash", PH_MBOX_TRASH},     {"\\Junk", PH_MBOX_JUNK},
    {"\\Archive", PH_MBOX_ARCHIVE}, {"\\All", PH_MBOX_ALL},
    {"\\Flagged", PH_MBOX_FLAGGED},
};

const char *ph_mailbox_special_use_name(uint32_t bit)
{
    for (size_t i = 0; i < PH_N_ELEMENTS(special_uses); i++)
        if (special_uses[i].bit == bit)
            return special_uses[i].name;
    return NULL;
}

uint32_t ph_mailbox_special_use_parse(const char *name)
{
    for (size_t i = 0; i < PH_N_ELEMENTS(special_uses); i++)
        if (strcasecmp(special_uses[i].name, name) == 0)
            return special_uses[i].bit;
    return 0;
}

char *ph_mailbox_name_canonical(const char *name, const char **error_r)
{
    size_t len = strlen(name);
    if (len == 0) {
        *error_r = "Mailbox name is empty";
        return NULL;
    }
    if (len > PH_MAILBOX_NAME_MAX) {
        *error_r = "Mailbox name is too long";
        return NULL;
    }
    if (u8_check((const uint8_t *)name, len) != NULL) {
        *error_r = "Mailbox name is not valid UTF-8";
        return NULL;
    }
    size_t depth = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f) {
            *error_r = "Mailbox name contains a control character";
            return NULL;
        }
        /* Wildcards would make LIST patterns ambiguous (RFC 3501 5.1). */
        if (c == '*' || c == '%') {
            *error_r = "Mailbox name contains a wildcard character";
            return NULL;
        }
        if (c == PH_STORAGE_DELIMITER) {
            if (i == 0 || i == len - 1 || name[i + 1] == PH_STORAGE_DELIMITER) {
                *error_r = "Mailbox name has an empty hierarchy level";
                return NULL;
            }
            depth++;
        }
    }
    if (depth > PH_MAILBOX_DEPTH_MAX) {
        *error_r = "Mailbox name is nested too deeply";
        return NULL;
    }
    char *out = ph_strdup(name);
    /* INBOX is case-insensitive, also as the first level of a path. */
    if (strncasecmp(out, "INBOX", 5) == 0 &&
        (out[5] == '\0' || out[5] == PH_STORAGE_DELIMITER))
        memcpy(out, "INBOX", 5);
    return out;
}

void ph_mailbox_list_clear(struct ph_mailbox_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* ---- accounts ----------------------------------------------------------- */

static int account_create(struct ph_instance *storage, const char *name,
                          const char *how, const char **error_r)
{
    int r = svf(storage)->account_create(ph_instance_ctx(storage), name,
                                         error_r);
    /* A module built before 1.4 logs its own. */
    if (r == 0 && ph_instance_abi_minor(storage) >= 4)
        ph_log_info("mod=%s event=account_created account=%s%s",
                    ph_instance_module(storage), name, how);
    return r;
}

/* The core does auto-create for modules built for ABI 1.4 or later:
 * their account_get only finds. An account made meanwhile by another
 * session or node (EXISTS) is as good as one made here. */
int ph_storage_account_get(struct ph_instance *storage, const char *name,
                           bool create, struct ph_account **acct_r,
                           const char **error_r)
{
    const struct ph_storage_vfuncs *v = svf(storage);
    void *ctx = ph_instance_ctx(storage);
    *acct_r = NULL;
    if (ph_instance_abi_minor(storage) < 4)
        return v->account_get(ctx, name, create, acct_r, error_r);
    int r = v->account_get(ctx, name, false, acct_r, error_r);
    if (r != PH_STORAGE_ERR_NO_ACCOUNT || !create ||
        !ph_storage_conf(storage)->auto_create)
        return r;
    r = account_create(storage, name, " how=auto", error_r);
    if (r == 0 || r == PH_STORAGE_ERR_EXISTS)
        r = v->account_get(ctx, name, false, acct_r, error_r);
    return r;
}

void ph_account_release(struct ph_account **acct)
{
    if (*acct == NULL)
        return;
    (*acct)->v->account_release(*acct);
    *acct = NULL;
}

const char *ph_account_name(const struct ph_account *acct)
{
    return acct->name;
}

int ph_storage_account_create(struct ph_instance *storage, const char *name,
                              const char **error_r)
{
    return account_create(storage, name, "", error_r);
}

int ph_storage_account_delete(struct ph_instance *storage, const char *name,
                              const char **error_r)
{
    return svf(storage)->account_delete(ph_instance_ctx(storage), name,
                                        error_r);
}

int ph_storage_account_list(struct ph_instance *storage,
                            struct ph_strlist *names_r, const char **error_r)
{
    return svf(storage)->account_list(ph_instance_ctx(storage), names_r,
                                      error_r);
}

uint64_t ph_account_appendlimit(const struct ph_account *acct)
{
    return acct->appendlimit;
}

/* ---- quota -------------------------------------------------------------- */

const char *const ph_quota_resource_names[PH_QUOTA_N] = {
    [PH_QUOTA_STORAGE] = "STORAGE",
    [PH_QUOTA_MESSAGE] = "MESSAGE",
    [PH_QUOTA_MAILBOX] = "MAILBOX",
};

bool ph_storage_has_quota(struct ph_instance *storage)
{
    return ph_instance_abi_minor(storage) >= 7 &&
           svf(storage)->quota_get != NULL;
}

int ph_account_quota(struct ph_account *acct, struct ph_quota *quota_r,
                     const char **error_r)
{
    memset(quota_r, 0, sizeof(*quota_r));
    if (acct->storage == NULL || !ph_storage_has_quota(acct->storage)) {
        *error_r = "The storage keeps no quota";
        return PH_STORAGE_ERR_UNSUPPORTED;
    }
    return acct->v->quota_get(acct, quota_r, error_r);
}

int ph_storage_quota_set(struct ph_instance *storage, const char *name,
                         const uint64_t limit[PH_QUOTA_N], const char **error_r)
{
    if (!ph_storage_has_quota(storage) || svf(storage)->quota_set == NULL) {
        *error_r = "The storage keeps no quota";
        return PH_STORAGE_ERR_UNSUPPORTED;
    }
    return svf(storage)->quota_set(ph_instance_ctx(storage), name, limit,
                                   error_r);
}

/* ---- mailboxes ---------------------------------------------------------- */

int ph_mailbox_list(struct ph_account *acct, struct ph_mailbox_list *list_r,
                    const char **error_r)
{
    return acct->v->mailbox_list(acct, list_r, error_r);
}

int ph_mailbox_create(struct ph_account *acct, const char *name,
                      uint32_t special_use, const char **error_r)
{
    return acct->v->mailbox_create(acct, name, special_use, error_r);
}

int ph_mailbox_delete(struct ph_account *acct, const char *name,
                      const char **error_r)
{
    return acct->v->mailbox_delete(acct, name, error_r);
}

int ph_mailbox_rename(struct ph_account *acct, const char *from, const char *to,
                      const char **error_r)
{
    return acct->v->mailbox_rename(acct, from, to, error_r);
}

int ph_mailbox_subscribe(struct ph_account *acct, const char *name, bool on,
                         const char **error_r)
{
    return acct->v->mailbox_subscribe(acct, name, on, error_r);
}

int ph_mailbox_status(struct ph_account *acct, const char *name,
                      struct ph_mailbox_status *st_r, const char **error_r)
{
    memset(st_r, 0, sizeof(*st_r));
    return acct->v->mailbox_status(acct, name, st_r, error_r);
}

int ph_mailbox_open(struct ph_account *acct, const char *name, bool readonly,
                    struct ph_mailbox **mb_r, const char **error_r)
{
    *mb_r = NULL;
    return acct->v->mailbox_open(acct, name, readonly, mb_r, error_r);
}

void ph_mailbox_close(struct ph_mailbox **mb)
{
    if (*mb == NULL)
        return;
    (*mb)->v->mailbox_close(*mb);
    *mb = NULL;
}

const char *ph_mailbox_name(const struct ph_mailbox *mb)
{
    return mb->name;
}

uint32_t ph_mailbox_uidvalidity(const struct ph_mailbox *mb)
{
    return mb->uidvalidity;
}

/* Whether mb's module was built for ABI minor `minor` or later: only then
 * do its vtable and the structs it fills have what that minor added. */
static bool built_for(const struct ph_mailbox *mb, uint32_t minor)
{
    return mb->acct != NULL && mb->acct->storage != NULL &&
           ph_instance_abi_minor(mb->acct->storage) >= minor;
}

struct fetch_values_ctx {
    ph_meta_cb *cb;
    void *arg;
    bool want_fetch, keep_info;
    bool v16; /* the module fills the fields of ABI 1.6 */
};

/* A module's meta as the caller expects it: copied field by field (a
 * module built for ABI 1.0 fills a shorter struct), with the FETCH values
 * made from the structure when asked for and the module keeps none. */
static int fetch_values_cb(void *arg, const struct ph_message_meta *m)
{
    struct fetch_values_ctx *c = arg;
    struct ph_message_meta meta = {
        .uid = m->uid,
        .modseq = m->modseq,
        .flags = m->flags,
        .keywords = m->keywords,
        .nkeywords = m->nkeywords,
        .recent = m->recent,
        .internal_date = m->internal_date,
        .internal_tz = m->internal_tz,
        .size = m->size,
        .info = m->info,
        .info_size = m->info_size,
    };
    if (c->v16) {
        meta.emailid = m->emailid;
        meta.threadid = m->threadid;
        meta.preview = m->preview;
    }
    struct ph_message_info *info = NULL;
    const char *err;
    if (c->want_fetch && m->info != NULL &&
        ph_message_info_deserialize(m->info, m->info_size, &info, &err) == 0) {
        meta.envelope = info->envelope;
        meta.bodystructure = info->bodystructure;
        meta.body = info->body;
    }
    /* A structure that does not read stays, for the caller to see why. */
    if (!c->keep_info && info != NULL) {
        meta.info = NULL;
        meta.info_size = 0;
    }
    int r = c->cb(c->arg, &meta);
    ph_message_info_free(&info);
    return r;
}

int ph_mailbox_fetch(struct ph_mailbox *mb, const struct ph_uidset *set,
                     unsigned what, ph_meta_cb *cb, void *arg,
                     const char **error_r)
{
    bool v11 = built_for(mb, 1); /* fetch_what and the FETCH values */
    bool v16 = built_for(mb, 6); /* object ids and previews */
    unsigned has = v11 ? mb->v->fetch_what : 0;
    if ((what & PH_META_GHOSTS) && !(has & PH_META_GHOSTS))
        return 0;
    if (!v16)
        has &= ~(unsigned)(PH_META_OBJECTID | PH_META_PREVIEW);
    /* Never asked of a module that does not say it gives them. */
    what &= has | PH_META_INFO | PH_META_FETCH | PH_META_GHOSTS;
    bool make_fetch = (what & PH_META_FETCH) && !(has & PH_META_FETCH);
    if (!v11 || !v16 || make_fetch) {
        struct fetch_values_ctx c = {cb, arg, make_fetch,
                                     (what & PH_META_INFO) != 0, v16};
        unsigned ask = what & ~PH_META_FETCH;
        if (make_fetch)
            ask |= PH_META_INFO;
        return mb->v->fetch(mb, set, ask, fetch_values_cb, &c, error_r);
    }
    return mb->v->fetch(mb, set, what, cb, arg, error_r);
}

bool ph_storage_has(struct ph_instance *storage, unsigned what)
{
    return ph_instance_abi_minor(storage) >= 6 &&
           (svf(storage)->fetch_what & what) == what;
}

int ph_mailbox_read(struct ph_mailbox *mb, uint32_t uid, uint64_t offset,
                    uint64_t len, ph_data_cb *cb, void *arg,
                    const char **error_r)
{
    return mb->v->read(mb, uid, offset, len, cb, arg, error_r);
}

int ph_mailbox_store(struct ph_mailbox *mb, const struct ph_uidset *set,
                     enum ph_store_op op, const struct ph_flags *flags,
                     uint64_t unchangedsince, struct ph_uidset *modified_r,
                     ph_meta_cb *cb, void *arg, const char **error_r)
{
    if (mb->readonly) {
        *error_r = "Mailbox is read-only";
        return PH_STORAGE_ERR_NOT_ALLOWED;
    }
    return mb->v->store(mb, set, op, flags, unchangedsince, modified_r, cb, arg,
                        error_r);
}

int ph_mailbox_copy(struct ph_mailbox *mb, const struct ph_uidset *set,
                    const char *dest, bool move, struct ph_uidset *src_r,
                    struct ph_uidset *dst_r, uint32_t *dest_uidvalidity_r,
                    const char **error_r)
{
    if (move && mb->readonly) {
        *error_r = "Mailbox is read-only";
        return PH_STORAGE_ERR_NOT_ALLOWED;
    }
    return mb->v->copy(mb, set, dest, move, src_r, dst_r, dest_uidvalidity_r,
                       error_r);
}

int ph_mailbox_expunge(struct ph_mailbox *mb, const struct ph_uidset *set,
                       struct ph_uidset *expunged_r, const char **error_r)
{
    if (mb->readonly) {
        *error_r = "Mailbox is read-only";
        return PH_STORAGE_ERR_NOT_ALLOWED;
    }
    return mb->v->expunge(mb, set, expunged_r, error_r);
}

int ph_mailbox_changes(struct ph_mailbox *mb, uint64_t modseq,
                       struct ph_uidset *expunged_r, uint64_t *highest_r,
                       ph_meta_cb *cb, void *arg, const char **error_r)
{
    return mb->v->changes(mb, modseq, expunged_r, highest_r, cb, arg, error_r);
}

int ph_mailbox_watch(struct ph_mailbox *mb, void (*wake)(void *arg), void *arg,
                     const char **error_r)
{
    return mb->v->watch(mb, wake, arg, error_r);
}

int ph_mailbox_search(struct ph_mailbox *mb,
                      const struct ph_imap_search_key *key,
                      struct ph_uidset *result_r, const char **error_r)
{
    if (mb->v->search == NULL) {
        *error_r = "This storage does not search by itself";
        return PH_STORAGE_ERR_UNSUPPORTED;
    }
    return mb->v->search(mb, key, result_r, error_r);
}

int ph_mailbox_sort(struct ph_mailbox *mb, const struct ph_uidset *set,
                    const struct ph_sort_program_item *program,
                    size_t program_len, uint32_t **uids_r, size_t *n_r,
                    const char **error_r)
{
    if (!built_for(mb, 5) || mb->v->sort == NULL) {
        *error_r = "This storage keeps no sort keys";
        return PH_STORAGE_ERR_UNSUPPORTED;
    }
    return mb->v->sort(mb, set, program, program_len, uids_r, n_r, error_r);
}

int ph_mailbox_sort_keys(struct ph_mailbox *mb, const struct ph_uidset *set,
                         ph_sort_keys_cb *cb, void *arg, const char **error_r)
{
    if (!built_for(mb, 5) || mb->v->sort_keys == NULL) {
        *error_r = "This storage keeps no sort keys";
        return PH_STORAGE_ERR_UNSUPPORTED;
    }
    return mb->v->sort_keys(mb, set, cb, arg, error_r);
}

/* RFC 5322 3.6.2, 3.6.3, 3.6.6: the fields that hold addresses. */
static bool is_address_field(const char *name)
{
    static const char *const names[] = {
        "from",      "sender",    "reply-to",    "to",
        "cc",        "bcc",       "resent-from", "resent-sender",
        "resent-to", "resent-cc", "resent-bcc",
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(names); i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

void ph_message_header_values(const struct ph_message_info *info,
                              const char *name, struct ph_strlist *values_r)
{
    if (info == NULL || info->header == NULL)
        return;
    bool address = is_address_field(name);
    struct ph_strlist forms = {0};
    struct ph_strlist names = {0};
    ph_strlist_add(&names, name);
    struct ph_buf f = {0};
    ph_message_header_filter(info->header, info->header_size, &names, false,
                             &f);
    ph_strlist_clear(&names);
    /* Fields start at a line that does not begin with white space. */
    const char *p = f.data ? f.data : "", *end = p + f.len;
    while (p < end) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon == NULL)
            break;
        struct ph_buf raw = {0};
        const char *q = colon + 1;
        for (;;) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            const char *le = nl ? nl : end;
            size_t l = (size_t)(le - q);
            if (l > 0 && q[l - 1] == '\r')
                l--;
            ph_buf_append(&raw, q, l);
            q = nl ? nl + 1 : end;
            if (q >= end || (*q != ' ' && *q != '\t'))
                break;
        }
        const char *v = raw.data ? raw.data : "";
        while (*v == ' ' || *v == '\t')
            v++;
        if (address)
            ph_message_address_forms(v, strlen(v), &forms);
        struct ph_buf dec = {0};
        ph_rfc2047_decode(v, strlen(v), &dec);
        ph_strlist_add(values_r, dec.data ? dec.data : "");
        ph_buf_free(&dec);
        ph_buf_free(&raw);
        p = q;
        if (p < end && (*p == '\r' || *p == '\n'))
            break;
    }
    ph_buf_free(&f);
    /* After the values, so that those keep their order and count. */
    for (size_t i = 0; i < forms.n; i++)
        ph_strlist_add_owned(values_r, forms.v[i]);
    free(forms.v);
}

/* ---- appends ------------------------------------------------------------ */

struct ph_append {
    struct ph_account *acct;
    void *handle;
    struct ph_crlf_normalizer norm;
    struct ph_message_parser *parser;
    uint64_t limit;
    char *buf;
    size_t buf_size;
};

int ph_append_begin(struct ph_account *acct, const char *mailbox, uint64_t size,
                    struct ph_append **app_r, const char **error_r)
{
    *app_r = NULL;
    /* Normalizing may add a CR per line: the limit is on what is stored,
     * but a literal already over it can be refused before reading it. */
    if (acct->appendlimit != 0 && size > acct->appendlimit) {
        *error_r = "Message is larger than the append limit";
        return PH_STORAGE_ERR_LIMIT;
    }
    void *handle;
    int r = acct->v->append_begin(acct, mailbox, size, &handle, error_r);
    if (r < 0)
        return r;
    struct ph_append *app = ph_calloc(1, sizeof(*app));
    app->acct = acct;
    app->handle = handle;
    app->limit = acct->appendlimit;
    ph_crlf_normalizer_init(&app->norm);
    app->parser = ph_message_parser_new(NULL);
    *app_r = app;
    return 0;
}

static int append_pass(struct ph_append *app, const void *data, size_t len,
                       const char **error_r)
{
    if (len == 0)
        return 0;
    ph_message_parser_feed(app->parser, data, len);
    return app->acct->v->append_write(app->handle, data, len, error_r);
}

int ph_append_write(struct ph_append *app, const void *data, size_t len,
                    const char **error_r)
{
    const char *p = data;
    while (len > 0) {
        size_t chunk = len > 65536 ? 65536 : len;
        size_t need = 2 * chunk + 2;
        if (app->buf_size < need) {
            app->buf = ph_realloc(app->buf, need);
            app->buf_size = need;
        }
        size_t n = ph_crlf_normalize(&app->norm, p, chunk, app->buf);
        if (app->limit != 0 && app->norm.out_size > app->limit) {
            *error_r = "Message is larger than the append limit";
            return PH_STORAGE_ERR_LIMIT;
        }
        int r = append_pass(app, app->buf, n, error_r);
        if (r < 0)
            return r;
        p += chunk;
        len -= chunk;
    }
    return 0;
}

/* The end of an append's bytes: the tail of the normalizer, the limit, the
 * parsed structure serialized into *meta_r (*blob_r to free). 0, or an
 * error with the append left for ph_append_abort. */
static int append_close(struct ph_append *app, const struct ph_flags *flags,
                        time_t internal_date, int internal_tz,
                        struct ph_append_meta *meta_r, void **blob_r,
                        const char **error_r)
{
    char tail[4];
    size_t n = ph_crlf_normalize_finish(&app->norm, tail);
    int r = append_pass(app, tail, n, error_r);
    if (r == 0 && app->limit != 0 && app->norm.out_size > app->limit) {
        *error_r = "Message is larger than the append limit";
        r = PH_STORAGE_ERR_LIMIT;
    }
    if (r < 0)
        return r;
    struct ph_message_info *info = ph_message_parser_finish(&app->parser);
    size_t blob_size;
    ph_message_info_serialize(info, blob_r, &blob_size);
    ph_message_info_free(&info);
    static const struct ph_flags no_flags;
    *meta_r = (struct ph_append_meta){
        .flags = flags ? flags : &no_flags,
        .internal_date = internal_date,
        .internal_tz = internal_tz,
        .size = app->norm.out_size,
        .info = *blob_r,
        .info_size = blob_size,
    };
    return 0;
}

/* Frees an append whose module handle is gone (finished). */
static void append_free(struct ph_append **appp)
{
    struct ph_append *app = *appp;
    ph_message_parser_free(&app->parser);
    free(app->buf);
    free(app);
    *appp = NULL;
}

int ph_append_finish(struct ph_append **appp, const struct ph_flags *flags,
                     time_t internal_date, int internal_tz, uint32_t *uid_r,
                     uint32_t *uidvalidity_r, const char **error_r)
{
    struct ph_append *app = *appp;
    struct ph_append_meta meta;
    void *blob = NULL;
    int r = append_close(app, flags, internal_date, internal_tz, &meta, &blob,
                         error_r);
    if (r < 0) {
        ph_append_abort(appp);
        return r;
    }
    r = app->acct->v->append_finish(app->handle, &meta, uid_r, uidvalidity_r,
                                    error_r);
    free(blob);
    append_free(appp);
    return r;
}

bool ph_storage_append_batch(const struct ph_instance *storage)
{
    const struct ph_storage_vfuncs *v = ph_instance_iface(storage);
    return ph_instance_abi_minor(storage) >= 6 && v->append_finish_all != NULL;
}

int ph_append_finish_all(struct ph_append_msg *msgs, size_t n, uint32_t *uids_r,
                         uint32_t *uidvalidity_r, const char **error_r)
{
    ph_assert(n > 0);
    if (n == 1)
        return ph_append_finish(&msgs[0].app, msgs[0].flags,
                                msgs[0].internal_date, msgs[0].internal_tz,
                                &uids_r[0], uidvalidity_r, error_r);
    struct ph_account *acct = msgs[0].app->acct;
    int r = 0;
    if (!ph_storage_append_batch(acct->storage)) {
        *error_r = "This storage appends one message at a time";
        r = PH_STORAGE_ERR_UNSUPPORTED;
    }
    struct ph_append_meta *metas = ph_calloc(n, sizeof(*metas));
    void **blobs = ph_calloc(n, sizeof(*blobs));
    void **handles = ph_calloc(n, sizeof(*handles));
    for (size_t i = 0; i < n && r == 0; i++) {
        ph_assert(msgs[i].app->acct == acct);
        r = append_close(msgs[i].app, msgs[i].flags, msgs[i].internal_date,
                         msgs[i].internal_tz, &metas[i], &blobs[i], error_r);
        handles[i] = msgs[i].app->handle;
    }
    if (r == 0) {
        r = acct->v->append_finish_all(handles, metas, n, uids_r, uidvalidity_r,
                                       error_r);
        for (size_t i = 0; i < n; i++)
            append_free(&msgs[i].app);
    } else {
        for (size_t i = 0; i < n; i++)
            ph_append_abort(&msgs[i].app);
    }
    for (size_t i = 0; i < n; i++)
        free(blobs[i]);
    free(blobs);
    free(handles);
    free(metas);
    return r;
}

void ph_append_abort(struct ph_append **appp)
{
    struct ph_append *app = *appp;
    if (app == NULL)
        return;
    app->acct->v->append_abort(app->handle);
    append_free(appp);
}

int ph_storage_deliver(struct ph_instance *storage, const char *recipient,
                       const char *mailbox, const void *data, size_t len,
                       uint32_t *uid_r, const char **error_r)
{
    char *account = NULL;
    int r;
    if (ph_instance_abi_minor(storage) < 4) {
        r = svf(storage)->deliver_resolve(ph_instance_ctx(storage), recipient,
                                          &account, error_r);
    } else {
        const struct ph_storage_conf *conf = ph_storage_conf(storage);
        ph_normalize_fn *normalize =
            ph_normalize_find(ph_normalize_names[conf->delivery_normalize]);
        ph_assert(normalize != NULL);
        r = ph_storage_deliver_resolve(normalize, conf->delivery_map,
                                       recipient, &account, error_r);
    }
    if (r < 0)
        return r;
    struct ph_account *acct;
    r = ph_storage_account_get(storage, account, false, &acct, error_r);
    free(account);
    if (r < 0)
        return r;
    struct ph_append *app;
    uint32_t uidvalidity;
    r = ph_append_begin(acct, mailbox ? mailbox : "INBOX", len, &app, error_r);
    if (r == 0)
        r = ph_append_write(app, data, len, error_r);
    if (r == 0)
        r = ph_append_finish(&app, NULL, time(NULL), 0, uid_r, &uidvalidity,
                             error_r);
    else if (app != NULL)
        ph_append_abort(&app);
    ph_account_release(&acct);
    return r;
}

int ph_meta_list_add(void *list, const struct ph_message_meta *m)
{
    struct ph_meta_list *l = list;
    ph_array_grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
    struct ph_meta_copy *x = &l->v[l->n++];
    memset(x, 0, sizeof(*x));
    x->uid = m->uid;
    x->modseq = m->modseq;
    x->flags = m->flags;
    x->recent = m->recent;
    for (size_t i = 0; i < m->nkeywords; i++)
        ph_strlist_add(&x->keywords, m->keywords[i]);
    x->internal_date = m->internal_date;
    x->internal_tz = m->internal_tz;
    x->size = m->size;
    if (m->info && m->info_size) {
        x->info = ph_malloc(m->info_size);
        memcpy(x->info, m->info, m->info_size);
        x->info_size = m->info_size;
    }
    x->envelope = m->envelope ? ph_strdup(m->envelope) : NULL;
    x->bodystructure = m->bodystructure ? ph_strdup(m->bodystructure) : NULL;
    x->body = m->body ? ph_strdup(m->body) : NULL;
    x->emailid = m->emailid ? ph_strdup(m->emailid) : NULL;
    x->threadid = m->threadid ? ph_strdup(m->threadid) : NULL;
    x->preview = m->preview ? ph_strdup(m->preview) : NULL;
    return 0;
}

void ph_meta_list_free(struct ph_meta_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        ph_strlist_clear(&l->v[i].keywords);
        free(l->v[i].info);
        free(l->v[i].envelope);
        free(l->v[i].bodystructure);
        free(l->v[i].body);
        free(l->v[i].emailid);
        free(l->v[i].threadid);
        free(l->v[i].preview);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* ---- Flags and keywords ------------------------------------------------- */

bool ph_keyword_valid(const char *k)
{
    if (k == NULL || k[0] == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)k; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return false;
    return true;
}

int ph_flags_check(const struct ph_flags *flags, const char **error_r)
{
    for (size_t i = 0; i < flags->keywords.n; i++) {
        if (!ph_keyword_valid(flags->keywords.v[i])) {
            *error_r = "Invalid keyword";
            return PH_STORAGE_ERR_INVALID;
        }
    }
    return 0;
}

bool ph_keywords_has(const struct ph_strlist *l, const char *k)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcasecmp(l->v[i], k) == 0)
            return true;
    return false;
}

void ph_keywords_parse(const char *text, struct ph_strlist *l)
{
    char *copy = text != NULL ? ph_strdup(text) : NULL, *save = NULL;
    for (char *t = copy != NULL ? strtok_r(copy, " ", &save) : NULL; t != NULL;
         t = strtok_r(NULL, " ", &save))
        if (!ph_keywords_has(l, t))
            ph_strlist_add(l, t);
    free(copy);
}

char *ph_keywords_join(const struct ph_strlist *l)
{
    if (l->n == 0)
        return NULL;
    struct ph_buf b = {0};
    for (size_t i = 0; i < l->n; i++) {
        if (i > 0)
            ph_buf_putc(&b, ' ');
        ph_buf_puts(&b, l->v[i]);
    }
    return ph_buf_steal(&b);
}

size_t ph_keywords_split(char *text, char ***v, size_t *cap)
{
    size_t n = 0;
    for (char *p = text; p != NULL && *p;) {
        ph_array_grow(v, cap, n + 1, sizeof(**v));
        (*v)[n++] = p;
        p = strchr(p, ' ');
        if (p != NULL)
            *p++ = '\0';
    }
    return n;
}

bool ph_flags_apply(uint32_t *system, char **keywords, enum ph_store_op op,
                    const struct ph_flags *flags)
{
    struct ph_strlist old = {0}, kw = {0};
    ph_keywords_parse(*keywords, &old);
    uint32_t sys = *system;
    switch (op) {
    case PH_STORE_ADD:
        sys |= flags->system;
        ph_keywords_parse(*keywords, &kw);
        for (size_t i = 0; i < flags->keywords.n; i++)
            if (!ph_keywords_has(&kw, flags->keywords.v[i]))
                ph_strlist_add(&kw, flags->keywords.v[i]);
        break;
    case PH_STORE_REMOVE:
        sys &= ~flags->system;
        for (size_t i = 0; i < old.n; i++)
            if (!ph_keywords_has(&flags->keywords, old.v[i]))
                ph_strlist_add(&kw, old.v[i]);
        break;
    case PH_STORE_REPLACE:
        sys = flags->system;
        /* Keywords already there keep how they were first written. */
        for (size_t i = 0; i < old.n; i++)
            if (ph_keywords_has(&flags->keywords, old.v[i]))
                ph_strlist_add(&kw, old.v[i]);
        for (size_t i = 0; i < flags->keywords.n; i++)
            if (!ph_keywords_has(&kw, flags->keywords.v[i]))
                ph_strlist_add(&kw, flags->keywords.v[i]);
        break;
    }
    /* Neither list repeats a word: the same size and every new word among
     * the old ones is the same set (FLAGS may swap words one for one). */
    bool changed = sys != *system || kw.n != old.n;
    for (size_t i = 0; i < kw.n && !changed; i++)
        changed = !ph_keywords_has(&old, kw.v[i]);
    if (changed) {
        *system = sys;
        free(*keywords);
        *keywords = ph_keywords_join(&kw);
    }
    ph_strlist_clear(&old);
    ph_strlist_clear(&kw);
    return changed;
}

/* ---- Directives every storage shares ------------------------------------ */

static const struct ph_directive storage_rows[] = {
    PH_STORAGE_CONF_ROWS_(struct ph_storage_conf),
    /* ABI 1.7: not in the macro, which modules built before 1.4 used in
     * their own tables. */
    {.name = "quota_storage",
     .type = PH_DT_SIZE,
     .offset = offsetof(struct ph_storage_conf, quota[PH_QUOTA_STORAGE]),
     .def = "0",
     .help = "the size of an account's messages without a limit of its own "
             "(posthorn accounts quota; 0: no limit)"},
    {.name = "quota_messages",
     .type = PH_DT_INT,
     .offset = offsetof(struct ph_storage_conf, quota[PH_QUOTA_MESSAGE]),
     .min = 0,
     .max = INT64_MAX,
     .def = "0",
     .help = "the messages an account without a limit of its own may hold "
             "(0: no limit)"},
    {.name = "quota_mailboxes",
     .type = PH_DT_INT,
     .offset = offsetof(struct ph_storage_conf, quota[PH_QUOTA_MAILBOX]),
     .min = 0,
     .max = INT64_MAX,
     .def = "0",
     .help = "the mailboxes an account without a limit of its own may have "
             "(0: no limit)"},
    {.name = NULL},
};

/* The graph parses these in every storage block (graph.h says why the
 * storage layer hands them over at load). */
__attribute__((constructor)) static void storage_rows_register(void)
{
    ph_graph_kind_directives(PH_MODULE_STORAGE, storage_rows,
                             sizeof(struct ph_storage_conf));
}

const struct ph_storage_conf *ph_storage_conf(const struct ph_instance *storage)
{
    static const struct ph_storage_conf builtin = {
        .appendlimit = 32 * 1024 * 1024,
        .auto_create = true,
    };
    const struct ph_storage_conf *c = ph_instance_kind_conf(storage);
    return c != NULL ? c : &builtin;
}

size_t ph_storage_default_mailboxes(const struct ph_instance *storage,
                                    const struct ph_storage_default_mailbox **v_r)
{
    static const struct ph_storage_default_mailbox builtin[] = {
        {(char *)"Sent", PH_MBOX_SENT},   {(char *)"Drafts", PH_MBOX_DRAFTS},
        {(char *)"Trash", PH_MBOX_TRASH}, {(char *)"Junk", PH_MBOX_JUNK},
        {(char *)"Archive", PH_MBOX_ARCHIVE},
    };
    const struct ph_storage_defaults *d = &ph_storage_conf(storage)->defaults;
    *v_r = d->set ? d->v : builtin;
    return d->set ? d->n : PH_N_ELEMENTS(builtin);
}

void ph_storage_defaults_free(void *field)
{
    struct ph_storage_defaults *d = field;
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].name);
    free(d->v);
    *d = (struct ph_storage_defaults){0};
}

int ph_storage_defaults_parse(const struct ph_cfg_node *node, void *field,
                              struct ph_conf_ctx *cctx, char **error_r)
{
    struct ph_storage_defaults *d = field;
    (void)cctx;
    ph_storage_defaults_free(d);
    d->set = true;
    if (node->nargs == 1 && strcmp(node->args[0], "none") == 0)
        return 0;
    d->v = ph_calloc(node->nargs, sizeof(*d->v));
    for (size_t i = 0; i < node->nargs; i++) {
        const char *arg = node->args[i], *eq = strchr(arg, '=');
        const char *name = eq != NULL ? eq + 1 : arg, *why = NULL;
        uint32_t use = 0;
        if (eq != NULL) {
            char *flag = ph_strdup_printf("\\%.*s", (int)(eq - arg), arg);
            use = ph_mailbox_special_use_parse(flag);
            free(flag);
            if (use == 0) {
                *error_r = ph_strdup_printf(
                    "unknown special use \"%.*s\" (expected sent, drafts, "
                    "trash, junk, archive, all or flagged)",
                    (int)(eq - arg), arg);
                goto fail;
            }
        }
        char *canon = ph_mailbox_name_canonical(name, &why);
        if (canon == NULL || strcmp(canon, "INBOX") == 0) {
            *error_r =
                ph_strdup_printf("bad mailbox name \"%s\": %s", name,
                                 canon != NULL ? "INBOX always exists" : why);
            free(canon);
            goto fail;
        }
        d->v[d->n++] = (struct ph_storage_default_mailbox){.name = canon,
                                                           .special_use = use};
    }
    return 0;
fail:
    ph_storage_defaults_free(d);
    return -1;
}

/* ---- Errors and delivery ------------------------------------------------ */

static _Thread_local char storage_error_buf[512];

const char *ph_storage_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(storage_error_buf, sizeof(storage_error_buf), fmt, ap);
    va_end(ap);
    return storage_error_buf;
}

int ph_storage_deliver_resolve(ph_normalize_fn *normalize,
                               struct ph_instance *delivery_map,
                               const char *recipient, char **account_r,
                               const char **error_r)
{
    char *norm = NULL;
    const char *why = NULL;
    if (recipient == NULL || normalize(recipient, &norm, &why) < 0) {
        *error_r = ph_storage_errorf("Invalid recipient: %s",
                                     why != NULL ? why : "missing");
        return PH_STORAGE_ERR_INVALID;
    }
    if (delivery_map == NULL) {
        *account_r = norm;
        return 0;
    }
    struct ph_strlist values = {0};
    const char *lerr = NULL;
    enum ph_lookup r = ph_table_lookup(delivery_map, norm, &values, &lerr);
    free(norm);
    if (r == PH_LOOKUP_TEMPFAIL) {
        *error_r = ph_storage_errorf("Recipient lookup failed: %s",
                                     lerr != NULL ? lerr : "temporary failure");
        return PH_STORAGE_ERR_TEMP;
    }
    if (r == PH_LOOKUP_NOT_FOUND || values.n == 0 || values.v[0][0] == '\0') {
        ph_strlist_clear(&values);
        *error_r = "No such account";
        return PH_STORAGE_ERR_NO_ACCOUNT;
    }
    *account_r = ph_strdup(values.v[0]);
    ph_strlist_clear(&values);
    return 0;
}
