/* SPDX-License-Identifier: MIT */
/* The SQL mail store: what its files share. Not part of the SDK. */
#ifndef SQLSTORE_PRIVATE_H
#define SQLSTORE_PRIVATE_H

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>

#include <posthorn/log.h>
#include <posthorn/sqlstore.h>

/* Rows read per round trip: no connection is held while a caller's
 * callback runs, so rows are read in batches, then handed out. */
#define SQLS_BATCH 256

struct sqls_watcher {
    int64_t mailbox_id;
    void (*wake)(void *arg);
    void *arg;
    struct sqls_watcher *prev, *next;
};

/* What changed in a mailbox between two modseqs, read once for every
 * session of this process that asks after the same wake-up
 * (sqlstore_message.c). */
#define SQLS_SHARED 16
struct sqls_shared {
    int64_t mailbox_id; /* 0: free */
    uint32_t uidvalidity;
    uint64_t from, to; /* the changes in (from, to], to the HIGHESTMODSEQ */
    bool filling;      /* a session reads them; the others wait */
    uint64_t used;
    struct msg_rows *rows;
    uint32_t *gone; /* tombstones, with their modseqs */
    uint64_t *gone_modseq;
    size_t ngone;
};

struct ph_sqlstore {
    struct ph_instance *inst;
    const struct ph_sqlstore_dialect *d;
    void *dctx;
    struct ph_sql *sql;
    char *log_mod, *db, *spill_dir;
    bool debug;
    int64_t grace;
    int64_t horizon; /* tombstone_horizon, seconds */
    bool ghosts;     /* the driver gives TOMB_KEEP_UIDS (RFC 2180 4.1.1) */
    atomic_llong last_sweep; /* seconds */
    char token[17];
    pthread_mutex_t watch_lock, listen_lock;
    struct sqls_watcher *watchers;
    pthread_mutex_t shared_lock;
    pthread_cond_t shared_cond;
    struct sqls_shared shared[SQLS_SHARED];
    uint64_t shared_tick;
    /* The text indexer (sqlstore_index.c). */
    pthread_mutex_t index_lock;
    pthread_cond_t index_cond;
    pthread_t index_thread;
    int64_t index_wait; /* ms */
    bool index_init, index_running, index_stop, index_kick;
};

struct sqls_account {
    struct ph_account pub;
    struct ph_sqlstore *s;
    int64_t id;
};

struct sqls_mailbox {
    struct ph_mailbox pub;
    struct ph_sqlstore *s;
    int64_t id, account_id;
    struct ph_uidset recent; /* UIDs whose \Recent this handle holds */
    struct sqls_watcher watcher;
    bool watching;
};

/* A mailbox row (MBOX of sqlstore-stmt.h). */
struct sqls_mbox {
    int64_t id;
    uint32_t uidvalidity, uidnext, recent_uid;
    uint64_t highestmodseq;
    uint32_t special_use;
    bool noselect;
    uint32_t messages, unseen;
    uint64_t size;
    uint64_t tombstones_from; /* expunges at or below it are not known */
};

/* A message row (MSG), with what the fetch statements add. */
struct msg_row {
    uint32_t uid;
    uint64_t modseq;
    uint32_t flags;
    char *keywords; /* space-separated, or NULL */
    int64_t internal_date;
    int internal_tz;
    uint64_t size;
    int64_t body_id;
    void *info;
    size_t info_size;
    char *envelope, *bodystructure, *body;
    char *emailid, *threadid, *preview; /* with 15 columns */
};

struct msg_rows {
    struct msg_row *v;
    size_t n, cap;
};

static inline int sqls_fail(int err, const char *text, const char **error_r)
{
    *error_r = text;
    return err;
}

/* sqlstore.c */
/* A new object id (RFC 8474 8.1): prefix, then 24 lowercase hex digits
 * of the system's randomness: never starting with a digit or a dash,
 * never NIL, no two differing only by case. */
#define SQLS_OBJECTID_LEN 25
void sqls_objectid_new(char prefix, char out[SQLS_OBJECTID_LEN + 1]);
/* A canonical mailbox name, or NULL with INVALID in *err_r. */
char *sqls_name(const char *name, int *err_r, const char **error_r);
/* Reads a mailbox row by id (name NULL) or by account id and name with
 * stmt: 1 found, 0 not, or an error. */
int sqls_mbox_get(struct ph_sql_conn *c, int stmt, int64_t key,
                  const char *name, struct sqls_mbox *r, const char **error_r);
/* The handle's row (stmt: MBOX_BY_ID or _LOCK); NOT_FOUND once the
 * mailbox is gone, or was deleted and made again. */
int sqls_mb_row(struct sqls_mailbox *mb, struct ph_sql_conn *c, int stmt,
                struct sqls_mbox *r, const char **error_r);
void sqls_uidset_add_many(struct ph_uidset *s, uint32_t *v, size_t n);
/* Appends cur's row (MSG, then info and the FETCH values when it has ncols
 * of them: 8, 9 or 12; then the object ids and preview: 15). */
void sqls_row_add(struct ph_sql_cursor *cur, int ncols, struct msg_rows *rows);
/* Appends the rows of cur (MSG, then info and the FETCH values when it
 * has ncols of them: 8, 9 or 12). */
int sqls_rows_read(struct ph_sql_cursor *cur, int ncols, struct msg_rows *rows,
                   const char **error_r);
void sqls_rows_clear(struct msg_rows *rows);
/* Frees what one row holds. */
void sqls_row_free(struct msg_row *r);
/* The shared reads' memory (ph_sqlstore_free). */
void sqls_shared_clear(struct ph_sqlstore *s);
/* Calls cb for each row; cb's first non-zero result. */
int sqls_rows_deliver(const struct sqls_mailbox *mb, struct msg_rows *rows,
                      ph_meta_cb *cb, void *arg);
/* The UIDs of a one-column cursor, added to s (the cursor is closed). */
int sqls_uids_read(struct ph_sql_cursor **cur, struct ph_uidset *s,
                   const char **error_r);
/* Bytes [offset, offset + len) of a body, within one chunk. */
int sqls_body_read(struct ph_sqlstore *s, struct ph_sql_conn *c,
                   int64_t body_id, uint64_t size, uint64_t offset, void *buf,
                   size_t len, const char **error_r);
/* Sweeps unreferenced bodies and tombstones past the horizon when one
 * is due (after an expunge). */
void sqls_sweep_maybe(struct ph_sqlstore *s);
int sqls_watch(struct ph_mailbox *mb, void (*wake)(void *arg), void *arg,
               const char **error_r);
void sqls_watch_remove(struct sqls_mailbox *mb);

/* sqlstore_mailbox.c */
/* 1 found (*id_r, *limit_r: its append limit), 0 not found, or an error. */
int sqls_account_find(struct ph_sqlstore *s, struct ph_sql_conn *c,
                      const char *name, int64_t *id_r, uint64_t *limit_r,
                      const char **error_r);
int sqls_account_get(void *ctx, const char *name, bool create,
                     struct ph_account **acct_r, const char **error_r);
void sqls_account_release(struct ph_account *acct);
int sqls_account_create(void *ctx, const char *name, const char **error_r);
int sqls_account_delete(void *ctx, const char *name, const char **error_r);
int sqls_account_list(void *ctx, struct ph_strlist *names_r,
                      const char **error_r);
int sqls_mailbox_list(struct ph_account *acct, struct ph_mailbox_list *list_r,
                      const char **error_r);
int sqls_mailbox_create(struct ph_account *acct, const char *name,
                        uint32_t special_use, const char **error_r);
int sqls_mailbox_delete(struct ph_account *acct, const char *name,
                        const char **error_r);
int sqls_mailbox_rename(struct ph_account *acct, const char *from,
                        const char *to, const char **error_r);
int sqls_mailbox_subscribe(struct ph_account *acct, const char *name, bool on,
                           const char **error_r);
int sqls_mailbox_status(struct ph_account *acct, const char *name,
                        struct ph_mailbox_status *st_r, const char **error_r);

/* sqlstore_message.c */
int sqls_mailbox_open(struct ph_account *acct, const char *name,
                      bool readonly, struct ph_mailbox **mb_r,
                      const char **error_r);
void sqls_mailbox_close(struct ph_mailbox *mb);
int sqls_fetch(struct ph_mailbox *mb, const struct ph_uidset *set,
               unsigned what, ph_meta_cb *cb, void *arg, const char **error_r);
int sqls_read(struct ph_mailbox *mb, uint32_t uid, uint64_t offset,
              uint64_t len, ph_data_cb *cb, void *arg, const char **error_r);
int sqls_store(struct ph_mailbox *mb, const struct ph_uidset *set,
               enum ph_store_op op, const struct ph_flags *flags,
               uint64_t unchangedsince, struct ph_uidset *modified_r,
               ph_meta_cb *cb, void *arg, const char **error_r);
int sqls_copy(struct ph_mailbox *mb, const struct ph_uidset *set,
              const char *dest, bool move, struct ph_uidset *src_r,
              struct ph_uidset *dst_r, uint32_t *dest_uidvalidity_r,
              const char **error_r);
int sqls_expunge(struct ph_mailbox *mb, const struct ph_uidset *set,
                 struct ph_uidset *expunged_r, const char **error_r);
int sqls_changes(struct ph_mailbox *mb, uint64_t modseq,
                 struct ph_uidset *expunged_r, uint64_t *highest_r,
                 ph_meta_cb *cb, void *arg, const char **error_r);

/* sqlstore_append.c */
int sqls_append_begin(struct ph_account *acct, const char *mailbox,
                      uint64_t size, void **handle_r, const char **error_r);
int sqls_append_write(void *handle, const void *data, size_t len,
                      const char **error_r);
int sqls_append_finish(void *handle, const struct ph_append_meta *meta,
                       uint32_t *uid_r, uint32_t *uidvalidity_r,
                       const char **error_r);
void sqls_append_abort(void *handle);
int sqls_append_finish_all(void *const *handles,
                           const struct ph_append_meta *metas, size_t n,
                           uint32_t *uids_r, uint32_t *uidvalidity_r,
                           const char **error_r);
/* Makes a body's structure, FETCH values, header values and text anew
 * from its bytes (schema upgrades), on c in the caller's transaction. */
/* sqlstore_sort.c: sort_values of a body (empty keys when mi is NULL: an
 * info that does not read back, which SORT then sorts as absent fields,
 * RFC 5256 section 3). */
int sqls_sort_values_insert(struct ph_sql_conn *c, int64_t body_id,
                            const struct ph_message_info *mi,
                            const char **error_r);
int sqls_sort(struct ph_mailbox *mb, const struct ph_uidset *set,
              const struct ph_sort_program_item *program, size_t program_len,
              uint32_t **uids_r, size_t *n_r, const char **error_r);
int sqls_sort_keys(struct ph_mailbox *mb, const struct ph_uidset *set,
                   ph_sort_keys_cb *cb, void *arg, const char **error_r);
int sqls_rederive_body(struct ph_sqlstore *s, struct ph_sql_conn *c,
                       int64_t body_id, const char **error_r);
/* sqlstore_append.c: a new body's EMAILID and THREADID (account_id 0: a
 * body of no account, in a thread of its own). */
int sqls_objects_insert(struct ph_sql_conn *c, int64_t body_id,
                        int64_t account_id, const struct ph_message_info *mi,
                        const char **error_r);

/* sqlstore_index.c: moves pending texts into the engine's text index in
 * the background, after APPENDs (kicked) and at start; until then a
 * pending text is searched without the index, so answers never wait for
 * it. The default pause in APPENDs it waits for: */
#define SQLS_INDEX_WAIT_MS 500
/* Starts the indexer when the dialect keeps texts pending and has no
 * indexer of its own (text_added); wait_ms: text_index_wait (0: the
 * default). */
int sqls_indexer_start(struct ph_sqlstore *s, int64_t wait_ms,
                       char **error_r);
void sqls_indexer_stop(struct ph_sqlstore *s);
/* After a commit that left a text pending. */
void sqls_indexer_kick(struct ph_sqlstore *s);

/* sqlstore_quota.c */
/* Locks the account's row (before any mailbox row) and reads its usage
 * and the limits in force. */
int sqls_quota_lock(struct ph_sqlstore *s, struct ph_sql_conn *c,
                    int64_t account_id, struct ph_quota *q,
                    const char **error_r);
/* OVERQUOTA when adding add[r] of a resource would go over its limit. */
int sqls_quota_check(const struct ph_quota *q, const uint64_t add[PH_QUOTA_N],
                     const char **error_r);
/* After a change made with the row locked (before: what the lock read):
 * OVERQUOTA when a resource the change made grow is over its limit. */
int sqls_quota_grew(struct ph_sqlstore *s, struct ph_sql_conn *c,
                    int64_t account_id, const struct ph_quota *before,
                    const char **error_r);
int sqls_quota_get(struct ph_account *acct, struct ph_quota *quota_r,
                   const char **error_r);
int sqls_quota_set(void *ctx, const char *name,
                   const uint64_t limit[PH_QUOTA_N], const char **error_r);

/* sqlstore_search.c */
int sqls_search(struct ph_mailbox *mb, const struct ph_imap_search_key *key,
                struct ph_uidset *result_r, const char **error_r);

#endif
