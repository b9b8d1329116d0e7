/* SPDX-License-Identifier: MIT */
/* storage.sqlite: what the module's files share. Not part of the SDK. */
#ifndef SQLITE_PRIVATE_H
#define SQLITE_PRIVATE_H

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>

#include <posthorn/message.h>
#include <posthorn/normalize.h>
#include <posthorn/storage-impl.h>

#define SQ_MOD "mod=storage.sqlite"

struct sq_conf {
    char *dsn;
    bool debug;
    int sync;            /* enum sq_sync */
    uint64_t cache_size; /* page cache of each pooled connection, bytes */
};

/* Which commits are fsync'ed (directive `sync`). */
enum sq_sync {
    SQ_SYNC_FULL,    /* every commit */
    SQ_SYNC_APPENDS, /* commits that add messages or change mailboxes;
                      * flag changes, expunges and \Recent claims reach
                      * the disk with the next fsync'ed commit */
};

/* Prepared statements, cached per connection (sqlite_db.c has the SQL). */
enum sq_stmt {
    SQ_META_GET,
    SQ_META_SET,
    SQ_ACCT_GET,
    SQ_ACCT_INSERT,
    SQ_ACCT_DELETE,
    SQ_ACCT_LIST,
    SQ_ACCT_MAILBOX_IDS,
    SQ_MBOX_BY_NAME,
    SQ_MBOX_BY_ID,
    SQ_MBOX_INSERT,
    SQ_MBOX_LIST,
    SQ_MBOX_RANGE,
    SQ_MBOX_DELETE,
    SQ_MBOX_REVIVE,
    SQ_MBOX_RENAME,
    SQ_MBOX_SET_NEXT,
    SQ_MBOX_SET_MODSEQ,
    SQ_MBOX_SET_RECENT,
    SQ_MBOX_TAKE_OVER,
    SQ_MBOX_RECENT_COUNT,
    SQ_SUB_ADD,
    SQ_SUB_DEL,
    SQ_SUB_LIST,
    SQ_SUB_RENAME,
    SQ_MSG_RANGE,
    SQ_MSG_RANGE_INFO,
    SQ_MSG_CHANGED_UIDS,
    SQ_MSG_CHANGED,
    SQ_MSG_BODY,
    SQ_MSG_INSERT,
    SQ_MSG_SET_FLAGS,
    SQ_MSG_DELETED,
    SQ_MSG_DELETE,
    SQ_MSG_MOVE_ALL,
    SQ_BODY_INSERT,
    SQ_TOMB_INSERT,
    SQ_TOMB_FROM_MAILBOX,
    SQ_TOMB_SINCE,
    SQ_HDR_INSERT,
    SQ_FETCH_VALUES_INSERT,
    SQ_MSG_RANGE_FETCH,
    SQ_TEXT_INSERT,
    SQ_TEXT_UNKEPT,
    SQ_TEXT_PENDING,
    SQ_TEXT_INDEX,
    SQ_STMT_COUNT
};

struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[SQ_STMT_COUNT];
    bool unsynced; /* PRAGMA synchronous is NORMAL, not FULL */
    struct sq_conn *next;
};

struct sq_watcher {
    int64_t mailbox_id;
    void (*wake)(void *arg);
    void *arg;
    struct sq_watcher *prev, *next;
};

struct sq_ctx {
    struct ph_instance *inst;
    const struct sq_conf *conf;
    char *path; /* the database file */
    bool debug;

    /* Connection pool: SQLite connections are used by one thread at a
     * time; a call takes one for its duration and gives it back. */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct sq_conn *idle;
    unsigned nconns, max_conns;

    /* Serializes this process's write transactions, so that only writers
     * of other processes ever wait in SQLite's busy handler. */
    pthread_mutex_t write_lock;

    /* Watchers of this process, and the cross-process wake socket
     * (sqlite_watch.c). */
    pthread_mutex_t watch_lock;
    struct sq_watcher *watchers;
    char *sock_dir, *sock_prefix, *sock_path;
    int send_fd, recv_fd, stop_pipe[2];
    pthread_t recv_thread;
    bool recv_running, recv_failed;

    /* The text indexer (sqlite_index.c). */
    pthread_mutex_t index_lock;
    pthread_cond_t index_cond;
    pthread_t index_thread;
    struct sq_conn *index_conn; /* its own, opened at start */
    bool index_running, index_stop, index_kick;
};

struct sq_account {
    struct ph_account pub;
    struct sq_ctx *ctx;
    int64_t id;
};

struct sq_mailbox {
    struct ph_mailbox pub;
    struct sq_ctx *ctx;
    int64_t id, account_id;
    struct ph_uidset recent; /* UIDs whose \Recent this handle holds */
    struct sq_watcher watcher;
    bool watching;
};

/* A mailbox row. */
struct sq_mbox {
    int64_t id;
    uint32_t uidvalidity, uidnext, recent_uid;
    uint64_t highestmodseq;
    uint32_t special_use;
    bool noselect;
    uint32_t messages, unseen;
    uint64_t size;
};

extern const struct ph_storage_vfuncs sq_vfuncs;

/* sqlite_db.c: connections, statements, transactions, errors. */
/* Locks and empty slots: what destroy can undo at any point. */
void sq_ctx_init(struct sq_ctx *ctx);
int sq_schema_init(struct sq_ctx *ctx, char **error_r);
/* A connection outside the pool, for a thread that keeps its own (the
 * text indexer: it would otherwise grow the pool while sessions hold
 * every pooled one). */
int sq_conn_open(struct sq_ctx *ctx, struct sq_conn **c_r,
                 const char **error_r) PH_WUR;
void sq_conn_close(struct sq_conn *c);
int sq_conn_get(struct sq_ctx *ctx, struct sq_conn **c_r,
                const char **error_r) PH_WUR;
void sq_conn_put(struct sq_ctx *ctx, struct sq_conn **c);
void sq_pool_close(struct sq_ctx *ctx);
/* A cached statement, reset and with its bindings cleared. */
sqlite3_stmt *sq_stmt(struct sq_conn *c, enum sq_stmt id);
/* Maps a SQLite result to a storage error, logging what is unexpected. */
int sq_fail(struct sq_ctx *ctx, struct sq_conn *c, int rc, const char *what,
            const char **error_r);
/* BEGIN IMMEDIATE under the process's write lock; commit or roll back
 * release it. */
int sq_write_begin(struct sq_ctx *ctx, struct sq_conn *c,
                   const char **error_r) PH_WUR;
/* The same for a transaction that only changes flags, expunges or claims
 * \Recent: its commit is not fsync'ed with `sync appends` (WAL order
 * keeps the database whole; a power cut may undo it, never half of it). */
int sq_write_begin_light(struct sq_ctx *ctx, struct sq_conn *c,
                         const char **error_r) PH_WUR;
/* A write that needs no sync of its own: what a power cut takes of it is
 * done again (the text indexer's batches). */
int sq_write_begin_unsynced(struct sq_ctx *ctx, struct sq_conn *c,
                            const char **error_r) PH_WUR;
int sq_write_commit(struct sq_ctx *ctx, struct sq_conn *c,
                    const char **error_r) PH_WUR;
void sq_write_rollback(struct sq_ctx *ctx, struct sq_conn *c);
int sq_read_begin(struct sq_ctx *ctx, struct sq_conn *c,
                  const char **error_r) PH_WUR;
void sq_read_end(struct sq_conn *c);
/* Runs a statement that returns no rows (rc: SQLITE_DONE or an error). */
int sq_step_done(sqlite3_stmt *st);
/* A UIDVALIDITY never given before in this database (in a write txn). */
int sq_next_uidvalidity(struct sq_ctx *ctx, struct sq_conn *c,
                        uint32_t *uidvalidity_r, const char **error_r) PH_WUR;
/* Reads a mailbox row; 1 found, 0 not found, or an error. */
int sq_mbox_by_name(struct sq_ctx *ctx, struct sq_conn *c, int64_t account_id,
                    const char *name, struct sq_mbox *mb_r,
                    const char **error_r) PH_WUR;
int sq_mbox_by_id(struct sq_ctx *ctx, struct sq_conn *c, int64_t id,
                  struct sq_mbox *mb_r, const char **error_r) PH_WUR;

/* The header fields whose decoded values table header_values keeps for
 * SEARCH; a row's field is the index here. */
#define SQ_HEADER_FIELDS 5
extern const char *const sq_header_fields[SQ_HEADER_FIELDS];
/* A body's serialized info, parsed once for what is kept of it below;
 * NULL when there is none or it does not read back. */
struct ph_message_info *sq_info_read(const void *info, size_t info_size);
/* Inserts what fetch_values and header_values keep of a body, from its
 * parsed info (NULL: nothing), with SQ_HDR_INSERT and
 * SQ_FETCH_VALUES_INSERT; SQLITE_DONE or an error. */
int sq_body_values_insert(sqlite3_stmt *hdr, sqlite3_stmt *fetch,
                          int64_t body_id, const struct ph_message_info *mi);
/* What table body_text keeps of a body for SEARCH TEXT and BODY: the
 * folded text (ph_message_fold) that ph_message_search_text() streams
 * for TEXT: the headers (header_len bytes), then the text of BODY. indexable:
 * valid UTF-8, so it may go into the trigram index body_fts; kept false: longer
 * than SQ_TEXT_MAX, not stored (text NULL), SEARCH reads the message. Column
 * indexed: 1 once in body_fts, -1 pending until the indexer has put it there, 0
 * for text that never goes there. */
#define SQ_TEXT_MAX (16u * 1024 * 1024)
#define SQ_TEXT_STATE_NEVER 0
#define SQ_TEXT_STATE_INDEXED 1
#define SQ_TEXT_STATE_PENDING (-1)
struct sq_body_text {
    struct ph_buf text;
    size_t header_len;
    bool indexable, kept;
};
/* Builds it from a body's parsed info (NULL: the whole message) and a
 * reader of the body's bytes; read's error, or 0. */
int sq_body_text_make(const struct ph_message_info *mi, uint64_t size,
                      ph_message_reader *read, void *read_arg,
                      struct sq_body_text *t_r);
/* Inserts it with SQ_TEXT_INSERT, pending for the indexer when
 * indexable; SQLITE_DONE or an error. */
int sq_body_text_insert(sqlite3_stmt *st, int64_t body_id,
                        const struct sq_body_text *t);
/* Makes the structure, FETCH values, header values and text of the
 * bodies listed in table rederive anew from their bytes, a batch per
 * transaction (migration 5); at start, after sq_schema_init. */
int sq_rederive(struct sq_ctx *ctx, char **error_r);
/* The indexer: a thread that moves pending texts into body_fts in
 * batches, after APPENDs (kicked) and at start (a migration or another
 * process may have left some). Until then a pending text is searched
 * without the index, so answers never wait for it. */
int sq_indexer_start(struct sq_ctx *ctx, char **error_r);
void sq_indexer_stop(struct sq_ctx *ctx);
void sq_indexer_kick(struct sq_ctx *ctx);
/* SQL functions ph_contains(text, key[, start]): ph_message_text_contains
 * over text from byte start on. */
int sq_functions_register(sqlite3 *db);

/* Errors: static texts, or per-thread ones from sq_errorf. */
#define sq_errorf ph_storage_errorf
void sq_debug(const struct sq_ctx *ctx, const char *fmt, ...) PH_PRINTF(2, 3);

/* sqlite_mailbox.c: accounts and mailboxes. */
int sq_account_get(void *ctx, const char *name, bool create,
                   struct ph_account **acct_r, const char **error_r);
void sq_account_release(struct ph_account *acct);
int sq_account_create(void *ctx, const char *name, const char **error_r);
int sq_account_delete(void *ctx, const char *name, const char **error_r);
int sq_account_list(void *ctx, struct ph_strlist *names_r,
                    const char **error_r);
int sq_mailbox_list(struct ph_account *acct, struct ph_mailbox_list *list_r,
                    const char **error_r);
int sq_mailbox_create(struct ph_account *acct, const char *name,
                      uint32_t special_use, const char **error_r);
int sq_mailbox_delete(struct ph_account *acct, const char *name,
                      const char **error_r);
int sq_mailbox_rename(struct ph_account *acct, const char *from, const char *to,
                      const char **error_r);
int sq_mailbox_subscribe(struct ph_account *acct, const char *name, bool on,
                         const char **error_r);
int sq_mailbox_status(struct ph_account *acct, const char *name,
                      struct ph_mailbox_status *st_r, const char **error_r);
/* A canonical name, or NULL with an INVALID error. */
char *sq_name(const char *name, int *err_r, const char **error_r);

/* sqlite_message.c: open mailboxes and appends. */
int sq_mailbox_open(struct ph_account *acct, const char *name, bool readonly,
                    struct ph_mailbox **mb_r, const char **error_r);
void sq_mailbox_close(struct ph_mailbox *mb);
int sq_fetch(struct ph_mailbox *mb, const struct ph_uidset *set, unsigned what,
             ph_meta_cb *cb, void *arg, const char **error_r);
int sq_read(struct ph_mailbox *mb, uint32_t uid, uint64_t offset, uint64_t len,
            ph_data_cb *cb, void *arg, const char **error_r);
int sq_store(struct ph_mailbox *mb, const struct ph_uidset *set,
             enum ph_store_op op, const struct ph_flags *flags,
             uint64_t unchangedsince, struct ph_uidset *modified_r,
             ph_meta_cb *cb, void *arg, const char **error_r);
int sq_copy(struct ph_mailbox *mb, const struct ph_uidset *set,
            const char *dest, bool move, struct ph_uidset *src_r,
            struct ph_uidset *dst_r, uint32_t *dest_uidvalidity_r,
            const char **error_r);
int sq_expunge(struct ph_mailbox *mb, const struct ph_uidset *set,
               struct ph_uidset *expunged_r, const char **error_r);
int sq_changes(struct ph_mailbox *mb, uint64_t modseq,
               struct ph_uidset *expunged_r, uint64_t *highest_r,
               ph_meta_cb *cb, void *arg, const char **error_r);
/* Reads the handle's mailbox row: NOT_FOUND once the mailbox is gone (or
 * was deleted and made again). */
int sq_mb_row(struct sq_mailbox *mb, struct sq_conn *c, struct sq_mbox *row_r,
              const char **error_r) PH_WUR;
/* Adds UIDs to s, sorting v first; cheap for an empty s. */
void sq_uidset_add_many(struct ph_uidset *s, uint32_t *v, size_t n);
int sq_append_begin(struct ph_account *acct, const char *mailbox, uint64_t size,
                    void **handle_r, const char **error_r);
int sq_append_write(void *handle, const void *data, size_t len,
                    const char **error_r);
int sq_append_finish(void *handle, const struct ph_append_meta *meta,
                     uint32_t *uid_r, uint32_t *uidvalidity_r,
                     const char **error_r);
void sq_append_abort(void *handle);

/* sqlite_search.c: SEARCH pushdown. */
int sq_search(struct ph_mailbox *mb, const struct ph_imap_search_key *key,
              struct ph_uidset *result_r, const char **error_r);

/* sqlite_watch.c: waking sessions, in this process and in others. */
int sq_watch_init(struct sq_ctx *ctx, char **error_r);
void sq_watch_deinit(struct sq_ctx *ctx);
int sq_watch(struct ph_mailbox *mb, void (*wake)(void *arg), void *arg,
             const char **error_r);
void sq_watch_remove(struct sq_mailbox *mb);
/* After a commit that changed the mailbox. */
void sq_notify(struct sq_ctx *ctx, int64_t mailbox_id);

#endif
