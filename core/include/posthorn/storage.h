/* SPDX-License-Identifier: MIT */
/* posthorn SDK: using a storage (caller side: the imap endpoint, the CLI).
 *
 * The model (docs/design.md, Storage model): every change to a mailbox
 * (append, flag change, expunge) takes that mailbox's next modification
 * sequence (modseq) and is recorded with it; an expunge leaves a tombstone
 * (uid, modseq). A session with a mailbox open remembers the highest modseq
 * it has shown its client and asks "what changed since N?"
 * (ph_mailbox_changes). Notifications only wake sessions up
 * (ph_mailbox_watch).
 *
 * Every fallible call returns 0 on success or a negative enum ph_storage_err
 * value, with *error_r set to a text ready for a tagged NO ("Mailbox does
 * not exist"). The text is static or owned by the calling thread and stays
 * valid until that thread's next storage call.
 *
 * Names are UTF-8 (the endpoint converts modified UTF-7); the hierarchy
 * delimiter is '.'; "INBOX" is case-insensitive. */
#ifndef POSTHORN_STORAGE_H
#define POSTHORN_STORAGE_H

#include <time.h>

#include <posthorn/common.h>
#include <posthorn/imap-util.h>

struct ph_instance;
struct ph_account;         /* a user's mail: from ph_storage_account_get */
struct ph_mailbox;         /* an open (selected) mailbox of an account */
struct ph_imap_search_key; /* a SEARCH program: posthorn/imap-search.h */

#define PH_STORAGE_DELIMITER '.'

enum ph_storage_err {
    PH_STORAGE_OK = 0,
    PH_STORAGE_ERR_NOT_FOUND = -1,    /* no such mailbox or message */
    PH_STORAGE_ERR_EXISTS = -2,       /* the name is taken */
    PH_STORAGE_ERR_LIMIT = -3,        /* over a size or count limit */
    PH_STORAGE_ERR_TEMP = -4,         /* try again later (busy, unavailable) */
    PH_STORAGE_ERR_CORRUPTED = -5,    /* stored data is damaged */
    PH_STORAGE_ERR_INVALID = -6,      /* bad name or argument */
    PH_STORAGE_ERR_NOT_ALLOWED = -7,  /* e.g. deleting INBOX */
    PH_STORAGE_ERR_NO_ACCOUNT = -8,   /* unknown account (no auto-create) */
    PH_STORAGE_ERR_MODIFIED = -9,     /* UNCHANGEDSINCE failed for all */
    PH_STORAGE_ERR_UNSUPPORTED = -10, /* optional operation not provided */
    PH_STORAGE_ERR_OVERQUOTA = -11    /* ABI 1.7: over the account's quota */
};

/* The IMAP response code that fits an error ("NONEXISTENT", "ALREADYEXISTS",
 * "LIMIT", "UNAVAILABLE", "CORRUPTION", "CANNOT", ...), RFC 5530, and
 * RFC 9208's "OVERQUOTA". */
const char *ph_storage_err_code(int err);

/* ---- Flags -------------------------------------------------------------- */

/* enum ph_flag (the system flags' bits) is IMAP's: posthorn/imap-util.h. */

/* System flags and keywords. Keywords are atoms, compared
 * case-insensitively, kept as first written. */
struct ph_flags {
    uint32_t system; /* enum ph_flag bits */
    struct ph_strlist keywords;
};

void ph_flags_clear(struct ph_flags *f);
/* Parses "\\Seen", "\\Deleted", ... (case-insensitive) or a keyword atom.
 * Returns -1 for "\\Recent" and unknown system flags. */
int ph_flags_add_name(struct ph_flags *f, const char *name) PH_WUR;

/* ---- UID sets ----------------------------------------------------------- */

struct ph_uid_range {
    uint32_t lo, hi; /* inclusive, lo <= hi, lo >= 1 */
};

/* Sorted, non-overlapping, non-adjacent ranges. */
struct ph_uidset {
    struct ph_uid_range *r;
    size_t n, cap;
};

void ph_uidset_add_range(struct ph_uidset *s, uint32_t lo, uint32_t hi);
void ph_uidset_add(struct ph_uidset *s, uint32_t uid);
bool ph_uidset_contains(const struct ph_uidset *s, uint32_t uid);
uint64_t ph_uidset_count(const struct ph_uidset *s);
void ph_uidset_clear(struct ph_uidset *s);
/* "1:3,7,9:12", as IMAP writes a sequence set; malloc'ed. */
char *ph_uidset_format(const struct ph_uidset *s);

/* ---- Accounts ----------------------------------------------------------- */

/* Looks an account up by its storage name (after storage_map). With create,
 * a missing account is created when the storage allows auto-create
 * (otherwise PH_STORAGE_ERR_NO_ACCOUNT). Release with ph_account_release. */
int ph_storage_account_get(struct ph_instance *storage, const char *name,
                           bool create, struct ph_account **acct_r,
                           const char **error_r) PH_WUR;
void ph_account_release(struct ph_account **acct);
const char *ph_account_name(const struct ph_account *acct);
/* Creates an account with INBOX and the default special-use mailboxes. */
int ph_storage_account_create(struct ph_instance *storage, const char *name,
                              const char **error_r) PH_WUR;
/* Deletes an account and all its mail. */
int ph_storage_account_delete(struct ph_instance *storage, const char *name,
                              const char **error_r) PH_WUR;
int ph_storage_account_list(struct ph_instance *storage,
                            struct ph_strlist *names_r,
                            const char **error_r) PH_WUR;
/* The largest message APPEND accepts for this account, 0 for no limit. */
uint64_t ph_account_appendlimit(const struct ph_account *acct);

/* ---- Quota (ABI 1.7) ---------------------------------------------------- */

/* The resources of RFC 9208 section 5 a storage counts per account: one
 * quota root, the account. Usage is kept as counters, changed in the
 * transaction of each change, and the limits are enforced there: an
 * APPEND, COPY, mailbox creation or delivery that would go over a limit
 * fails with PH_STORAGE_ERR_OVERQUOTA and changes nothing; an EXPUNGE or
 * a DELETE is never refused and lowers the usage. */
enum ph_quota_resource {
    PH_QUOTA_STORAGE, /* bytes (IMAP says KiB) of the messages stored */
    PH_QUOTA_MESSAGE, /* messages in every mailbox */
    PH_QUOTA_MAILBOX, /* selectable mailboxes */
    PH_QUOTA_N
};
/* A limit: none. */
#define PH_QUOTA_UNLIMITED UINT64_MAX
/* In ph_storage_quota_set: the storage block's default (quota_storage,
 * quota_messages, quota_mailboxes), or the limit left as it is. */
#define PH_QUOTA_DEFAULT (UINT64_MAX - 1)
#define PH_QUOTA_KEEP (UINT64_MAX - 2)

struct ph_quota {
    uint64_t usage[PH_QUOTA_N];
    uint64_t limit[PH_QUOTA_N]; /* the limit in force, or UNLIMITED */
    bool own[PH_QUOTA_N];       /* the account's own, not the default */
};

/* "STORAGE", "MESSAGE", "MAILBOX": RFC 9208's resource names. */
extern const char *const ph_quota_resource_names[PH_QUOTA_N];
/* Whether the storage counts and enforces quotas (a module built for
 * 1.7 or later that gives quota_get). */
bool ph_storage_has_quota(struct ph_instance *storage);
/* The account's usage and limits, read now. */
int ph_account_quota(struct ph_account *acct, struct ph_quota *quota_r,
                     const char **error_r) PH_WUR;
/* An admin's change to account name's limits: each a value, UNLIMITED,
 * DEFAULT or KEEP. Limits below the usage are allowed (what is stored
 * stays; nothing more gets in). */
int ph_storage_quota_set(struct ph_instance *storage, const char *name,
                         const uint64_t limit[PH_QUOTA_N],
                         const char **error_r) PH_WUR;

/* ---- Mailboxes ---------------------------------------------------------- */

enum ph_mailbox_attr {
    PH_MBOX_NOSELECT = 1u << 0,   /* exists only as a parent */
    PH_MBOX_NOINFERIORS = 1u << 1,
    PH_MBOX_HASCHILDREN = 1u << 2,
    PH_MBOX_HASNOCHILDREN = 1u << 3,
    PH_MBOX_SUBSCRIBED = 1u << 4,
    PH_MBOX_NONEXISTENT = 1u << 5, /* subscribed, but deleted */
    /* Special use (RFC 6154). */
    PH_MBOX_SENT = 1u << 8,
    PH_MBOX_DRAFTS = 1u << 9,
    PH_MBOX_TRASH = 1u << 10,
    PH_MBOX_JUNK = 1u << 11,
    PH_MBOX_ARCHIVE = 1u << 12,
    PH_MBOX_ALL = 1u << 13,
    PH_MBOX_FLAGGED = 1u << 14,
};
#define PH_MBOX_SPECIAL_USE_MASK 0x7f00u

/* "\\Sent" ... for a special-use bit; NULL for others. */
const char *ph_mailbox_special_use_name(uint32_t bit);
/* The bit for "\\Sent" (case-insensitive), 0 when unknown. */
uint32_t ph_mailbox_special_use_parse(const char *name);

struct ph_mailbox_entry {
    char *name;
    uint32_t attrs; /* enum ph_mailbox_attr */
};

struct ph_mailbox_list {
    struct ph_mailbox_entry *v;
    size_t n;
};
void ph_mailbox_list_clear(struct ph_mailbox_list *l);

/* Every mailbox of the account, sorted by name, with attributes; names only
 * subscribed (deleted since) come with PH_MBOX_NONEXISTENT. */
int ph_mailbox_list(struct ph_account *acct, struct ph_mailbox_list *list_r,
                    const char **error_r) PH_WUR;
/* Creates name and any missing parents; special_use is 0 or one bit. */
int ph_mailbox_create(struct ph_account *acct, const char *name,
                      uint32_t special_use, const char **error_r) PH_WUR;
/* RFC 3501 6.3.4: INBOX cannot be deleted; a mailbox with inferiors loses
 * its messages and becomes \Noselect; a \Noselect mailbox with inferiors
 * cannot be deleted. */
int ph_mailbox_delete(struct ph_account *acct, const char *name,
                      const char **error_r) PH_WUR;
/* Renames with inferiors; renaming INBOX moves its messages to a new
 * mailbox and leaves INBOX empty (RFC 3501 6.3.5). */
int ph_mailbox_rename(struct ph_account *acct, const char *from,
                      const char *to, const char **error_r) PH_WUR;
/* Subscriptions are names: they survive deletion (RFC 3501 6.3.6). */
int ph_mailbox_subscribe(struct ph_account *acct, const char *name, bool on,
                         const char **error_r) PH_WUR;

/* RFC 8474 7: objectid = 1*255(ALPHA / DIGIT / "_" / "-"). */
#define PH_OBJECTID_MAX 255

struct ph_mailbox_status {
    uint32_t messages, recent, uidnext, uidvalidity, unseen;
    uint64_t highestmodseq, size;
    /* ABI 1.6: the MAILBOXID (RFC 8474 4): the same for the mailbox's
     * life under any name (RENAME keeps it), another one once it is
     * deleted or made anew with a new UIDVALIDITY; "" from a storage
     * that keeps none (ph_storage_has(PH_META_OBJECTID) says). */
    char mailboxid[PH_OBJECTID_MAX + 1];
    /* ABI 1.7 (0 from older modules): the messages with \Deleted and the
     * sum of their sizes, STATUS DELETED and DELETED-STORAGE (RFC 9208
     * 4.1.4: what an EXPUNGE would free). */
    uint32_t deleted;
    uint64_t deleted_size;
};
int ph_mailbox_status(struct ph_account *acct, const char *name,
                      struct ph_mailbox_status *st_r,
                      const char **error_r) PH_WUR;

/* ---- Open mailboxes ----------------------------------------------------- */

/* Opens a mailbox for SELECT (readonly false: this session takes \Recent
 * for messages no session has seen yet, RFC 3501 2.3.1.4) or EXAMINE
 * (readonly: it shows \Recent for those and takes nothing, 6.3.2). */
int ph_mailbox_open(struct ph_account *acct, const char *name, bool readonly,
                    struct ph_mailbox **mb_r, const char **error_r) PH_WUR;
void ph_mailbox_close(struct ph_mailbox **mb);
const char *ph_mailbox_name(const struct ph_mailbox *mb);
uint32_t ph_mailbox_uidvalidity(const struct ph_mailbox *mb);

/* What storage knows of one message. Pointers are valid only during the
 * callback that receives it. */
struct ph_message_meta {
    uint32_t uid;
    uint64_t modseq;
    uint32_t flags; /* enum ph_flag bits */
    char *const *keywords;
    size_t nkeywords;
    bool recent; /* \Recent belongs to this open mailbox */
    time_t internal_date;
    int internal_tz; /* minutes east of UTC */
    uint64_t size;   /* RFC822.SIZE */
    /* Serialized struct ph_message_info (ph_message_info_deserialize),
     * present when PH_META_INFO was asked for. */
    const void *info;
    size_t info_size;
    /* ABI 1.1: ENVELOPE, BODYSTRUCTURE and BODY exactly as FETCH sends
     * them, present when PH_META_FETCH was asked for. */
    const char *envelope, *bodystructure, *body;
    /* ABI 1.6, with PH_META_OBJECTID: EMAILID and THREADID (RFC 8474 5),
     * NULL where the storage has none for the message (THREADID NIL). */
    const char *emailid, *threadid;
    /* ABI 1.6, with PH_META_PREVIEW: the PREVIEW text (RFC 8970,
     * ph_message_preview), NULL when none was made yet. */
    const char *preview;
};

#define PH_META_INFO 0x1 /* include the parsed structure */
/* Include the FETCH values: FETCH ENVELOPE/BODYSTRUCTURE without the whole
 * structure to read (ph_mailbox_fetch makes them from it for a storage
 * that does not keep them apart). */
#define PH_META_FETCH 0x2
/* Instead of the messages of set, its ghosts: the messages of set that were
 * expunged but whose data the storage still keeps, with their flags as at
 * the expunge (RFC 2180 4.1.1: a session that has not been told of an
 * expunge may still FETCH the message). A caller asks only for UIDs it
 * still shows its client. A storage that keeps none (its fetch_what
 * without the bit) delivers none. */
#define PH_META_GHOSTS 0x4
/* ABI 1.6: include emailid and threadid (RFC 8474); only from a storage
 * whose fetch_what has the bit (ph_storage_has). */
#define PH_META_OBJECTID 0x8
/* ABI 1.6: include the preview (RFC 8970), as PH_META_OBJECTID. */
#define PH_META_PREVIEW 0x10

/* Whether storage's mailboxes and messages give what the PH_META_OBJECTID
 * or PH_META_PREVIEW bits of what ask for (a module built for ABI 1.6 or
 * later that says so in its fetch_what): OBJECTID and PREVIEW are
 * advertised only then. */
bool ph_storage_has(struct ph_instance *storage, unsigned what);

typedef int ph_meta_cb(void *arg, const struct ph_message_meta *meta);

/* One message's metadata copied out of the callback, owning its keywords
 * and serialized structure; a list of them, filled by ph_meta_list_add
 * given as the ph_meta_cb of ph_mailbox_fetch with the list as arg. */
struct ph_meta_copy {
    uint32_t uid;
    uint64_t modseq;
    uint32_t flags;
    bool recent;
    struct ph_strlist keywords;
    time_t internal_date;
    int internal_tz;
    uint64_t size;
    void *info; /* NULL unless PH_META_INFO */
    size_t info_size;
    char *envelope, *bodystructure, *body; /* NULL unless PH_META_FETCH */
    char *emailid, *threadid, *preview;    /* ABI 1.6, as in the meta */
};

struct ph_meta_list {
    struct ph_meta_copy *v;
    size_t n, cap;
};

int ph_meta_list_add(void *list, const struct ph_message_meta *meta);
void ph_meta_list_free(struct ph_meta_list *list);

/* Calls cb for each message of set (NULL: all) in UID order; a non-zero
 * return from cb stops and is returned. */
int ph_mailbox_fetch(struct ph_mailbox *mb, const struct ph_uidset *set,
                     unsigned what, ph_meta_cb *cb, void *arg,
                     const char **error_r) PH_WUR;

typedef int ph_data_cb(void *arg, const void *data, size_t len);

/* Streams bytes [offset, offset+len) of a message (clamped to its size) to
 * cb in chunks, never reading the whole message into memory. The message
 * may be a ghost (PH_META_GHOSTS), or expunged since: its bytes are read
 * while the storage keeps them, NOT_FOUND after. */
int ph_mailbox_read(struct ph_mailbox *mb, uint32_t uid, uint64_t offset,
                    uint64_t len, ph_data_cb *cb, void *arg,
                    const char **error_r) PH_WUR;

enum ph_store_op {
    PH_STORE_REPLACE,
    PH_STORE_ADD,
    PH_STORE_REMOVE,
};

/* Changes flags of set. unchangedsince (0: none) skips messages whose
 * modseq is higher and adds them to *modified_r (RFC 7162). cb gets each
 * message whose flags changed, with its new modseq. */
int ph_mailbox_store(struct ph_mailbox *mb, const struct ph_uidset *set,
                     enum ph_store_op op, const struct ph_flags *flags,
                     uint64_t unchangedsince, struct ph_uidset *modified_r,
                     ph_meta_cb *cb, void *arg, const char **error_r) PH_WUR;

/* Copies (or moves) set to the mailbox named dest, which may be mb's own
 * (RFC 6851 3.3: new UIDs). *src_r and *dst_r get the UID pairs in order
 * (COPYUID), *dest_uidvalidity_r the destination's UIDVALIDITY. A move
 * expunges the sources. */
int ph_mailbox_copy(struct ph_mailbox *mb, const struct ph_uidset *set,
                    const char *dest, bool move, struct ph_uidset *src_r,
                    struct ph_uidset *dst_r, uint32_t *dest_uidvalidity_r,
                    const char **error_r) PH_WUR;

/* Expunges the messages of set (NULL: all) that have \Deleted; their UIDs
 * go to *expunged_r. */
int ph_mailbox_expunge(struct ph_mailbox *mb, const struct ph_uidset *set,
                       struct ph_uidset *expunged_r,
                       const char **error_r) PH_WUR;

/* What changed since modseq: cb gets every message appended or changed
 * after it (new ones claim \Recent for a read-write open mailbox, show
 * it unclaimed for a read-only one; either way it is decided for every
 * message delivered),
 * *expunged_r the UIDs expunged after it, *highest_r the mailbox's
 * HIGHESTMODSEQ now. A storage that forgets expunges after a while (the
 * SQL store's tombstone_horizon) and no longer knows every one after
 * modseq puts in *expunged_r every UID below UIDNEXT that the mailbox does
 * not hold: a superset, never a wrong small answer (RFC 7162 3.2.5.2 lets
 * VANISHED (EARLIER) name UIDs that no longer exist); the caller keeps
 * only the UIDs it has shown. */
int ph_mailbox_changes(struct ph_mailbox *mb, uint64_t modseq,
                       struct ph_uidset *expunged_r, uint64_t *highest_r,
                       ph_meta_cb *cb, void *arg,
                       const char **error_r) PH_WUR;

/* Asks to be woken (from any thread) when the mailbox changes, by this
 * process, another session, another process (the CLI) or another node.
 * wake must only signal: it must not call back into storage. NULL stops. */
int ph_mailbox_watch(struct ph_mailbox *mb, void (*wake)(void *arg), void *arg,
                     const char **error_r) PH_WUR;

/* ---- Searching ---------------------------------------------------------- */

/* SEARCH pushdown: adds to *result_r the UIDs of the messages of mb that
 * match key (a normalized tree of posthorn/imap-search.h, usually
 * &prog->root), when the storage can evaluate every key in the tree
 * itself. When it cannot, it returns PH_STORAGE_ERR_UNSUPPORTED having
 * changed nothing, and the caller evaluates the program over
 * ph_mailbox_fetch with ph_imap_search_match; a storage without pushdown
 * always answers so. On any error *result_r is left as it was.
 *
 * - Sequence numbers are the session's view, which storage does not know:
 *   the caller converts SEQSET keys to UIDSET keys before asking (storage
 *   answers UNSUPPORTED for SEQSET).
 * - RECENT is this handle's \Recent, as ph_message_meta.recent says.
 * - BEFORE/ON/SINCE compare the day of the internal date in its own zone
 *   (internal_tz), as ph_imap_day_of computes it.
 * - The answer is the mailbox as stored now, like ph_mailbox_fetch: it may
 *   hold UIDs the session has not announced yet, which the caller drops. */
int ph_mailbox_search(struct ph_mailbox *mb,
                      const struct ph_imap_search_key *key,
                      struct ph_uidset *result_r, const char **error_r) PH_WUR;

/* ---- Sorting (ABI 1.5) -------------------------------------------------- */

struct ph_sort_keys;
struct ph_sort_program_item;

/* SORT from stored keys (posthorn/sort.h): the UIDs of the messages of set
 * that mb holds, ordered by program and then by UID (the sequence number
 * order RFC 5256 section 3 ties with), as ph_sort_messages() would order
 * their keys; a malloc'ed *uids_r of *n_r entries. A storage that keeps
 * no keys answers PH_STORAGE_ERR_UNSUPPORTED, and the caller sorts keys it
 * makes from the structure (ph_sort_keys_from_info). As with search, the
 * answer is the mailbox as stored now: UIDs the session does not know are
 * the caller's to drop, and UIDs of set gone meanwhile are missing. */
int ph_mailbox_sort(struct ph_mailbox *mb, const struct ph_uidset *set,
                    const struct ph_sort_program_item *program,
                    size_t program_len, uint32_t **uids_r, size_t *n_r,
                    const char **error_r) PH_WUR;

/* The stored keys of each message of set, in UID order: what
 * ph_sort_keys_from_info() made of it at APPEND. keys (and its strings)
 * are valid only during the call; a non-zero return from cb stops and is
 * returned. PH_STORAGE_ERR_UNSUPPORTED as above. */
typedef int ph_sort_keys_cb(void *arg, uint32_t uid,
                            const struct ph_sort_keys *keys);
int ph_mailbox_sort_keys(struct ph_mailbox *mb, const struct ph_uidset *set,
                         ph_sort_keys_cb *cb, void *arg,
                         const char **error_r) PH_WUR;

struct ph_message_info;

/* The values of every field called name (case-insensitive) of a message's
 * top-level header (info->header), unfolded, leading white space removed
 * and RFC 2047-decoded to UTF-8: what SEARCH HEADER, FROM, SUBJECT, ...
 * compare (ph_imap_search_msg.header). For an address field (From, To,
 * Cc, Bcc, Sender, Reply-To, Resent-*) the address forms of
 * ph_message_address_forms() follow the values, so that FROM finds
 * "user@example.org" in `<user (comment)@example.org>` (RFC 3501 6.4.4
 * asks for the string in the field; Dovecot compares the addresses).
 * One definition, so that a storage that indexes header values answers
 * exactly as the endpoint would. */
void ph_message_header_values(const struct ph_message_info *info,
                              const char *name, struct ph_strlist *values_r);

/* ---- Appending ---------------------------------------------------------- */

struct ph_append;

/* Starts an APPEND to mailbox; size is the literal's size (it is checked
 * against the append limit now, PH_STORAGE_ERR_LIMIT). Raw bytes are then
 * written in any pieces: line endings are normalized (CRLF) and the
 * message is parsed on the way, once. */
int ph_append_begin(struct ph_account *acct, const char *mailbox,
                    uint64_t size, struct ph_append **app_r,
                    const char **error_r) PH_WUR;
int ph_append_write(struct ph_append *app, const void *data, size_t len,
                    const char **error_r) PH_WUR;
/* Commits: the message is durable and visible when this returns 0. */
int ph_append_finish(struct ph_append **app, const struct ph_flags *flags,
                     time_t internal_date, int internal_tz, uint32_t *uid_r,
                     uint32_t *uidvalidity_r, const char **error_r) PH_WUR;
/* Drops an unfinished append; nothing of it becomes visible. */
void ph_append_abort(struct ph_append **app);

/* ABI 1.6: MULTIAPPEND (RFC 3502). Commits n appends begun on one account
 * to one mailbox, each written in full, as one: when this returns 0 every
 * message is durable and visible, at once, with the UIDs in uids_r[0..n)
 * in order; otherwise none is. Every msgs[i].app is freed and set NULL,
 * whatever the outcome. A storage built before 1.6, or without the entry
 * point, takes only n == 1 (else PH_STORAGE_ERR_UNSUPPORTED, nothing
 * stored): ph_storage_append_batch() says which. */
struct ph_append_msg {
    struct ph_append *app;
    const struct ph_flags *flags; /* NULL: none */
    time_t internal_date;
    int internal_tz;
};
int ph_append_finish_all(struct ph_append_msg *msgs, size_t n,
                         uint32_t *uids_r, uint32_t *uidvalidity_r,
                         const char **error_r) PH_WUR;
/* Whether storage commits several appends as one (ph_append_finish_all
 * with n > 1). */
bool ph_storage_append_batch(const struct ph_instance *storage);

/* Delivery (an MTA handing mail in): never creates an account; the account
 * name goes through the storage's delivery_normalize and delivery_map. */
int ph_storage_deliver(struct ph_instance *storage, const char *recipient,
                       const char *mailbox, const void *data, size_t len,
                       uint32_t *uid_r, const char **error_r) PH_WUR;

#endif
