/* SPDX-License-Identifier: MIT */
/* posthorn SDK: implementing a storage module.
 *
 * The module's account and mailbox structs embed struct ph_account and
 * struct ph_mailbox as their first member and fill in the public fields;
 * the caller API (storage.h) dispatches through acct->v / mb->v.
 *
 * Threads: the storage instance is shared by every worker thread; one
 * account or mailbox handle is used by one session, so by one thread at a
 * time. Blocking I/O is fine: storage calls run on workers.
 *
 * Errors: return a negative enum ph_storage_err and set *error_r to a
 * static or thread-owned text ready for a tagged NO.
 *
 * Appends: the core normalizes line endings and parses the message on the
 * way (shared by every storage); the module gets the normalized bytes in
 * append_write and the serialized parse result in append_finish. */
#ifndef POSTHORN_STORAGE_IMPL_H
#define POSTHORN_STORAGE_IMPL_H

#include <stddef.h>

#include <posthorn/module.h>
#include <posthorn/normalize.h>
#include <posthorn/storage.h>

struct ph_storage_vfuncs;

struct ph_account {
    const struct ph_storage_vfuncs *v;
    struct ph_instance *storage; /* the module's own instance: set it */
    char *name;           /* owned by the module */
    uint64_t appendlimit; /* 0: none */
};

struct ph_mailbox {
    const struct ph_storage_vfuncs *v;
    struct ph_account *acct;
    char *name; /* owned by the module */
    uint32_t uidvalidity;
    bool readonly;
};

struct ph_append_meta {
    const struct ph_flags *flags; /* never NULL */
    time_t internal_date;
    int internal_tz;
    uint64_t size; /* normalized bytes written */
    const void *info; /* serialized struct ph_message_info */
    size_t info_size;
};

struct ph_storage_vfuncs {
    /* Accounts; ctx is the instance's context. Since ABI 1.4 the core
     * does auto-create (ph_storage_account_get): it calls account_get
     * with create false, then account_create, and a module built for 1.4
     * may ignore create. */
    int (*account_get)(void *ctx, const char *name, bool create,
                       struct ph_account **acct_r, const char **error_r);
    void (*account_release)(struct ph_account *acct);
    int (*account_create)(void *ctx, const char *name, const char **error_r);
    int (*account_delete)(void *ctx, const char *name, const char **error_r);
    int (*account_list)(void *ctx, struct ph_strlist *names_r,
                        const char **error_r);
    /* Before ABI 1.4: delivery's recipient -> account name through the
     * module's delivery_normalize and delivery_map. Since 1.4 the core
     * resolves it (ph_storage_deliver) and never calls this slot: leave
     * it NULL. It keeps its place so that the slots after it stay put. */
    int (*deliver_resolve)(void *ctx, const char *recipient,
                           char **account_r, const char **error_r);

    /* Mailboxes of an account. */
    int (*mailbox_list)(struct ph_account *acct, struct ph_mailbox_list *list_r,
                        const char **error_r);
    int (*mailbox_create)(struct ph_account *acct, const char *name,
                          uint32_t special_use, const char **error_r);
    int (*mailbox_delete)(struct ph_account *acct, const char *name,
                          const char **error_r);
    int (*mailbox_rename)(struct ph_account *acct, const char *from,
                          const char *to, const char **error_r);
    int (*mailbox_subscribe)(struct ph_account *acct, const char *name,
                             bool on, const char **error_r);
    int (*mailbox_status)(struct ph_account *acct, const char *name,
                          struct ph_mailbox_status *st_r,
                          const char **error_r);

    /* Open mailboxes. */
    int (*mailbox_open)(struct ph_account *acct, const char *name,
                        bool readonly, struct ph_mailbox **mb_r,
                        const char **error_r);
    void (*mailbox_close)(struct ph_mailbox *mb);
    int (*fetch)(struct ph_mailbox *mb, const struct ph_uidset *set,
                 unsigned what, ph_meta_cb *cb, void *arg,
                 const char **error_r);
    int (*read)(struct ph_mailbox *mb, uint32_t uid, uint64_t offset,
                uint64_t len, ph_data_cb *cb, void *arg, const char **error_r);
    int (*store)(struct ph_mailbox *mb, const struct ph_uidset *set,
                 enum ph_store_op op, const struct ph_flags *flags,
                 uint64_t unchangedsince, struct ph_uidset *modified_r,
                 ph_meta_cb *cb, void *arg, const char **error_r);
    int (*copy)(struct ph_mailbox *mb, const struct ph_uidset *set,
                const char *dest, bool move, struct ph_uidset *src_r,
                struct ph_uidset *dst_r, uint32_t *dest_uidvalidity_r,
                const char **error_r);
    int (*expunge)(struct ph_mailbox *mb, const struct ph_uidset *set,
                   struct ph_uidset *expunged_r, const char **error_r);
    int (*changes)(struct ph_mailbox *mb, uint64_t modseq,
                   struct ph_uidset *expunged_r, uint64_t *highest_r,
                   ph_meta_cb *cb, void *arg, const char **error_r);
    int (*watch)(struct ph_mailbox *mb, void (*wake)(void *arg), void *arg,
                 const char **error_r);

    /* Appends: begin (check the mailbox and the size), write normalized
     * bytes, finish (commit atomically, durable on return) or abort.
     * finish frees the handle whether it succeeds or fails; abort is for
     * a handle that never reached finish. */
    int (*append_begin)(struct ph_account *acct, const char *mailbox,
                        uint64_t size, void **handle_r, const char **error_r);
    int (*append_write)(void *handle, const void *data, size_t len,
                        const char **error_r);
    int (*append_finish)(void *handle, const struct ph_append_meta *meta,
                         uint32_t *uid_r, uint32_t *uidvalidity_r,
                         const char **error_r);
    void (*append_abort)(void *handle);

    /* Optional (NULL: PH_STORAGE_ERR_UNSUPPORTED): SEARCH pushdown, as
     * ph_mailbox_search describes. Appended last: slots are only ever
     * added at the end of this struct. */
    int (*search)(struct ph_mailbox *mb, const struct ph_imap_search_key *key,
                  struct ph_uidset *result_r, const char **error_r);

    /* ABI 1.1: the PH_META_* bits besides PH_META_INFO that fetch fills
     * itself (PH_META_FETCH); for the others ph_mailbox_fetch asks for
     * PH_META_INFO and makes them from the structure. Read only from
     * modules built for 1.1 or later (their account's `storage` instance
     * says which); so is struct ph_message_meta's envelope/bodystructure/
     * body, which the core copies field by field from older modules.
     * PH_META_GHOSTS here: fetch delivers ghosts; without it the core
     * answers a fetch for them with none. */
    unsigned fetch_what;

    /* ABI 1.5, optional (NULL: PH_STORAGE_ERR_UNSUPPORTED): SORT and
     * THREAD from keys the storage keeps, as ph_mailbox_sort and
     * ph_mailbox_sort_keys describe. Read only from modules built for
     * 1.5 or later. */
    int (*sort)(struct ph_mailbox *mb, const struct ph_uidset *set,
                const struct ph_sort_program_item *program, size_t program_len,
                uint32_t **uids_r, size_t *n_r, const char **error_r);
    int (*sort_keys)(struct ph_mailbox *mb, const struct ph_uidset *set,
                     ph_sort_keys_cb *cb, void *arg, const char **error_r);

    /* ABI 1.6, optional (NULL: only single appends): commits n appends to
     * one mailbox (handles from append_begin, written in full) in one
     * transaction, as ph_append_finish_all describes; uids_r gets their
     * UIDs in order. It frees every handle, whether it succeeds or fails.
     * Read only from modules built for 1.6 or later. */
    int (*append_finish_all)(void *const *handles,
                             const struct ph_append_meta *metas, size_t n,
                             uint32_t *uids_r, uint32_t *uidvalidity_r,
                             const char **error_r);
    /* ABI 1.7, optional (NULL: no quota): ph_account_quota and
     * ph_storage_quota_set (ctx is the instance's context); a module that
     * gives them enforces the limits (storage.h, Quota) and fills
     * ph_mailbox_status's deleted and deleted_size. Read only from
     * modules built for 1.7 or later. */
    int (*quota_get)(struct ph_account *acct, struct ph_quota *quota_r,
                     const char **error_r);
    int (*quota_set)(void *ctx, const char *name,
                     const uint64_t limit[PH_QUOTA_N], const char **error_r);
};

/* Mailbox name rules shared by every storage: valid UTF-8, no control
 * characters, no empty hierarchy levels, no leading or trailing '.', at most
 * PH_MAILBOX_NAME_MAX bytes and PH_MAILBOX_DEPTH_MAX levels; "INBOX" in any
 * case becomes "INBOX". Returns a malloc'ed canonical name, or NULL with a
 * reason. */
#define PH_MAILBOX_NAME_MAX 1024
#define PH_MAILBOX_DEPTH_MAX 32
char *ph_mailbox_name_canonical(const char *name, const char **error_r);

/* The default special-use mailboxes created with an account. */
struct ph_default_mailbox {
    const char *name;
    uint32_t special_use;
};
extern const struct ph_default_mailbox ph_default_mailboxes[]; /* NULL-ended */


/* ---- Flags and keywords, as SQL storages keep them ---------------------- */

/* Keywords are stored as one string of words separated by single spaces
 * (NULL for none), compared case-insensitively, kept as first written. */
bool ph_keyword_valid(const char *keyword);
/* PH_STORAGE_ERR_INVALID with a text when a keyword of flags is invalid. */
int ph_flags_check(const struct ph_flags *flags, const char **error_r);
bool ph_keywords_has(const struct ph_strlist *l, const char *keyword);
/* Adds the words of text (NULL: none) to l, skipping ones already there. */
void ph_keywords_parse(const char *text, struct ph_strlist *l);
/* The stored form of l: malloc'ed, or NULL when l is empty. */
char *ph_keywords_join(const struct ph_strlist *l);
/* Splits a stored string into words in place (for ph_message_meta);
 * *v grows as needed. Returns the count. */
size_t ph_keywords_split(char *text, char ***v, size_t *cap);
/* STORE's op applied to one message's system flags and stored keywords;
 * true (with both updated) when anything changed. */
bool ph_flags_apply(uint32_t *system, char **keywords, enum ph_store_op op,
                    const struct ph_flags *flags);


/* ---- Directives every storage shares ------------------------------------ */

/* default_mailboxes [USE=]NAME... | none: what an account is created with
 * besides INBOX. */
struct ph_storage_default_mailbox {
    char *name; /* canonical */
    uint32_t special_use;
};

struct ph_storage_defaults {
    struct ph_storage_default_mailbox *v;
    size_t n;
    bool set; /* the directive was given */
};

int ph_storage_defaults_parse(const struct ph_cfg_node *node, void *field,
                              struct ph_conf_ctx *cctx, char **error_r);
void ph_storage_defaults_free(void *field);

/* ABI 1.4: appendlimit, auto_create, default_mailboxes, delivery_map and
 * delivery_normalize are the core's. The graph parses them in every
 * storage block besides the module's own directives (a module built for
 * 1.4 declares none of them) and the core acts on them: auto-create in
 * ph_storage_account_get, the append limit in ph_append_begin and
 * _write, recipient resolution in ph_storage_deliver. A module reads
 * them here: the account's append limit when its store keeps none of its
 * own, the default mailboxes when it makes an account. */
struct ph_storage_conf {
    uint64_t appendlimit; /* 0: none */
    bool auto_create;
    struct ph_storage_defaults defaults;
    struct ph_instance *delivery_map;
    int delivery_normalize; /* index in ph_normalize_names */
    /* ABI 1.7: the limits of an account without its own (0: none), by
     * enum ph_quota_resource. */
    uint64_t quota[PH_QUOTA_N];
};
/* storage's; for a module built before 1.4, the defaults. */
const struct ph_storage_conf *ph_storage_conf(const struct ph_instance *storage);
/* What an account is created with besides INBOX, in order: the
 * default_mailboxes directive's (none: 0), else Sent, Drafts, Trash, Junk
 * and Archive with their special use. */
size_t ph_storage_default_mailboxes(const struct ph_instance *storage,
                                    const struct ph_storage_default_mailbox **v_r);

/* Before ABI 1.4, the rows of these directives (and debug) that a storage
 * module put in its own table, for a conf struct T with fields of those
 * names (uint64_t, bool, struct ph_storage_defaults, struct ph_instance *,
 * int, bool); a module built for 1.4 declares none of them. */
#define PH_STORAGE_DIRECTIVES(T)                                               \
    PH_STORAGE_CONF_ROWS_(T), PH_STORAGE_DEBUG_ROW_(T)
/* The debug row (a storage module's own, in every version). */
#define PH_STORAGE_DEBUG_ROW_(T)                                               \
    {.name = "debug",                                                          \
     .type = PH_DT_BOOL,                                                       \
     .flags = PH_DF_INHERIT,                                                   \
     .offset = offsetof(T, debug),                                             \
     .def = "no",                                                              \
     .help = "log what the storage does"}
/* The rows themselves (the core's table is made of them). */
#define PH_STORAGE_CONF_ROWS_(T)                                               \
    {.name = "appendlimit",                                                    \
     .type = PH_DT_SIZE,                                                       \
     .offset = offsetof(T, appendlimit),                                       \
     .def = "32M",                                                             \
     .help = "the largest message APPEND accepts (0: no limit)"},              \
    {.name = "auto_create",                                                    \
     .type = PH_DT_BOOL,                                                       \
     .offset = offsetof(T, auto_create),                                       \
     .def = "yes",                                                             \
     .help = "create an account at its first IMAP login"},                     \
    {.name = "default_mailboxes",                                              \
     .type = PH_DT_CUSTOM,                                                     \
     .offset = offsetof(T, defaults),                                          \
     .min_args = 1,                                                            \
     .max_args = -1,                                                           \
     .parse = ph_storage_defaults_parse,                                       \
     .free = ph_storage_defaults_free,                                         \
     .help = "default_mailboxes [USE=]NAME... | none"},                        \
    {.name = "delivery_map",                                                   \
     .type = PH_DT_MODULE,                                                     \
     .offset = offsetof(T, delivery_map),                                      \
     .kind = PH_MODULE_TABLE,                                                  \
     .prefix = "table",                                                        \
     .def = "identity",                                                        \
     .help = "maps a recipient to an account name"},                           \
    {.name = "delivery_normalize",                                             \
     .type = PH_DT_ENUM,                                                       \
     .offset = offsetof(T, delivery_normalize),                                \
     .values = ph_normalize_names,                                             \
     .def = "auto",                                                            \
     .help = "how a recipient is normalized before delivery_map"}


/* ---- Errors and delivery ------------------------------------------------ */

/* A per-thread error text for *error_r (valid until the thread's next
 * call), as the storage contract's texts must outlive the call. */
const char *ph_storage_errorf(const char *fmt, ...) PH_PRINTF(1, 2);

/* Delivery's recipient -> account: normalize, then delivery_map (NULL:
 * the normalized name itself). 0 with a malloc'ed *account_r, or
 * PH_STORAGE_ERR_INVALID / _TEMP / _NO_ACCOUNT with a text. */
int ph_storage_deliver_resolve(ph_normalize_fn *normalize,
                               struct ph_instance *delivery_map,
                               const char *recipient, char **account_r,
                               const char **error_r);

#endif
