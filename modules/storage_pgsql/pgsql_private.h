/* SPDX-License-Identifier: MIT */
/* storage.pgsql: what the module's files share. Not part of the SDK. */
#ifndef PGSQL_PRIVATE_H
#define PGSQL_PRIVATE_H

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>

#include <posthorn/normalize.h>
#include <posthorn/storage-impl.h>

#define PG_MOD "mod=storage.pgsql"
/* NOTIFY channels: one per mailbox, this prefix and its id; a node LISTENs
 * only to the mailboxes its sessions watch. Payloads are the mailbox id. */
#define PG_CHANNEL_PREFIX "posthorn_mb_"

struct pg_conf {
    struct ph_strlist dsn;
    int64_t max_connections;
    bool prepared_statements;
    bool debug;
};

/* A statement this connection has prepared, in a table of PG_STMT_SLOTS
 * (open addressing, never deleted: the slot names the statement). */
#define PG_STMT_SLOTS 128
struct pg_stmt {
    char *sql;
    uint32_t hash;
};

struct pg_conn {
    PGconn *db;
    char sqlstate[6];      /* of the last failed statement */
    struct pg_stmt *stmts; /* NULL until the first one */
    unsigned nstmts;
    bool broken; /* lost, or not to be trusted: never pooled again */
    struct pg_conn *next;
};

struct pg_watcher {
    int64_t mailbox_id;
    void (*wake)(void *arg);
    void *arg;
    struct pg_watcher *prev, *next;
};

struct pg_ctx {
    struct ph_instance *inst;
    const struct pg_conf *conf;
    char *dsn;    /* never logged: it may hold a password */
    char *target; /* "host:port/db" for log lines */
    bool debug;

    /* Connection pool: a call takes a connection for its duration. */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct pg_conn *idle;
    unsigned nconns, max_conns;

    /* Watchers of this process, and the LISTEN thread (pgsql_watch.c). */
    pthread_mutex_t watch_lock;
    struct pg_watcher *watchers;
    int stop_pipe[2];
    pthread_t listen_thread;
    bool listen_running;
    /* The thread's first connection attempt is over (listening or not);
     * signalled with listen_cond under watch_lock. */
    bool listen_tried;
    pthread_cond_t listen_cond;
    /* The channels wanted changed (want_gen, bumped by watchers, who poke
     * ctl_pipe) and were applied by the thread on a live connection
     * (have_gen, listen_up); under watch_lock. */
    int ctl_pipe[2];
    uint64_t want_gen, have_gen;
    bool listen_up;
    /* Sent with every NOTIFY of this process: the echo of its own
     * notifications is skipped, since its commits wake its watchers at
     * once (pg_wake_local); a second wake would be a spurious one. */
    char node_token[17];
};

struct pg_account {
    struct ph_account pub;
    struct pg_ctx *ctx;
    int64_t id;
};

struct pg_mbox_handle {
    struct ph_mailbox pub;
    struct pg_ctx *ctx;
    int64_t id, account_id;
    struct ph_uidset recent; /* UIDs whose \Recent this handle holds */
    struct pg_watcher watcher;
    bool watching;
};

/* A mailbox row. */
struct pg_mbox {
    int64_t id;
    uint32_t uidvalidity, uidnext, recent_uid;
    uint64_t highestmodseq;
    uint32_t special_use;
    bool noselect;
    uint32_t messages, unseen;
    uint64_t size;
};

/* A statement argument: every value reaches the server as a parameter. */
enum pg_arg_kind { PG_A_NULL, PG_A_INT, PG_A_TEXT, PG_A_BYTEA };
struct pg_arg {
    enum pg_arg_kind kind;
    int64_t i;
    const char *s;
    const void *b;
    size_t blen;
};
#define PA_I(v) ((struct pg_arg){.kind = PG_A_INT, .i = (int64_t)(v)})
/* NULL text is SQL NULL. */
#define PA_S(v) ((struct pg_arg){.kind = PG_A_TEXT, .s = (v)})
#define PA_B(p, n) ((struct pg_arg){.kind = PG_A_BYTEA, .b = (p), .blen = (n)})
#define PG_ARGS(...)                                                           \
    (sizeof((struct pg_arg[]){__VA_ARGS__}) / sizeof(struct pg_arg)),          \
        (const struct pg_arg[])                                                \
    {                                                                          \
        __VA_ARGS__                                                            \
    }
#define PG_NOARGS 0, NULL

extern const struct ph_storage_vfuncs pg_vfuncs;

/* pgsql_db.c: connections, statements, transactions, errors, schema. */
void pg_ctx_init(struct pg_ctx *ctx);
int pg_schema_init(struct pg_ctx *ctx, char **error_r);
/* Makes the structure of the bodies listed in table rederive anew from
 * their bytes, a batch per transaction (migration 3); at start, after
 * pg_schema_init. */
int pg_rederive(struct pg_ctx *ctx, char **error_r);
/* A new connection (for the pool and the LISTEN thread); NULL with the
 * reason in *why_r (malloc'ed, free it). */
PGconn *pg_connect(struct pg_ctx *ctx, char **why_r);
int pg_conn_get(struct pg_ctx *ctx, struct pg_conn **c_r,
                const char **error_r) PH_WUR;
/* Gives the connection back, or closes it when it is broken or was left
 * in a transaction. */
void pg_conn_put(struct pg_ctx *ctx, struct pg_conn **c);
void pg_pool_close(struct pg_ctx *ctx);
/* Runs sql with args. Returns the result (PQclear it) or NULL with *err_r
 * and *error_r set; binary asks for binary result columns. A statement
 * with arguments is prepared on the connection at its first use (unless
 * prepared_statements is off) and run by name after: sql must be one of
 * a bounded set of texts. */
PGresult *pg_query(struct pg_ctx *ctx, struct pg_conn *c, const char *what,
                   const char *sql, bool binary, size_t nargs,
                   const struct pg_arg *args, int *err_r,
                   const char **error_r) PH_WUR;
/* The same for sql built per request (SEARCH): never prepared. */
PGresult *pg_query_adhoc(struct pg_ctx *ctx, struct pg_conn *c,
                         const char *what, const char *sql, bool binary,
                         size_t nargs, const struct pg_arg *args, int *err_r,
                         const char **error_r) PH_WUR;
/* The same for statements whose rows are not needed: 0 or an error. */
int pg_exec(struct pg_ctx *ctx, struct pg_conn *c, const char *what,
            const char *sql, size_t nargs, const struct pg_arg *args,
            const char **error_r) PH_WUR;
int64_t pg_int(const PGresult *res, int row, int col);
bool pg_state_is(const struct pg_conn *c, const char *sqlstate);
int pg_begin(struct pg_ctx *ctx, struct pg_conn *c,
             const char **error_r) PH_WUR;
int pg_commit(struct pg_ctx *ctx, struct pg_conn *c,
              const char **error_r) PH_WUR;
void pg_rollback(struct pg_conn *c);
/* A UIDVALIDITY never given before in this database (in a transaction). */
int pg_next_uidvalidity(struct pg_ctx *ctx, struct pg_conn *c,
                        uint32_t *uidvalidity_r, const char **error_r) PH_WUR;
/* Reads a mailbox row; with lock, FOR UPDATE (in a transaction): the lock
 * that orders UID and modseq allocation across nodes. 1 found, 0 not
 * found, or an error. */
int pg_mbox_by_name(struct pg_ctx *ctx, struct pg_conn *c, int64_t account_id,
                    const char *name, bool lock, struct pg_mbox *mb_r,
                    const char **error_r) PH_WUR;
int pg_mbox_by_id(struct pg_ctx *ctx, struct pg_conn *c, int64_t id, bool lock,
                  struct pg_mbox *mb_r, const char **error_r) PH_WUR;
/* Moves recent_uid to uidnext when it is below, uidvalidity matches and
 * the mailbox is selectable: 1 with the new row and the old recent_uid in
 * *claimed_r (this call took [*claimed_r, uidnext) for \Recent), 0 when
 * there was nothing to take, or an error. */
int pg_mbox_claim_recent(struct pg_ctx *ctx, struct pg_conn *c, int64_t id,
                         uint32_t uidvalidity, struct pg_mbox *mb_r,
                         uint32_t *claimed_r, const char **error_r) PH_WUR;
/* Queues the change announcement of a mailbox; sent at commit. */
int pg_announce(struct pg_ctx *ctx, struct pg_conn *c, int64_t mailbox_id,
                const char **error_r) PH_WUR;

#define pg_errorf ph_storage_errorf
void pg_debug(const struct pg_ctx *ctx, const char *fmt, ...) PH_PRINTF(2, 3);

/* pgsql_mailbox.c: accounts and mailboxes. */
int pg_account_get(void *ctx, const char *name, bool create,
                   struct ph_account **acct_r, const char **error_r);
void pg_account_release(struct ph_account *acct);
int pg_account_create(void *ctx, const char *name, const char **error_r);
int pg_account_delete(void *ctx, const char *name, const char **error_r);
int pg_account_list(void *ctx, struct ph_strlist *names_r,
                    const char **error_r);
int pg_mailbox_list(struct ph_account *acct, struct ph_mailbox_list *list_r,
                    const char **error_r);
int pg_mailbox_create(struct ph_account *acct, const char *name,
                      uint32_t special_use, const char **error_r);
int pg_mailbox_delete(struct ph_account *acct, const char *name,
                      const char **error_r);
int pg_mailbox_rename(struct ph_account *acct, const char *from, const char *to,
                      const char **error_r);
int pg_mailbox_subscribe(struct ph_account *acct, const char *name, bool on,
                         const char **error_r);
int pg_mailbox_status(struct ph_account *acct, const char *name,
                      struct ph_mailbox_status *st_r, const char **error_r);
char *pg_name(const char *name, int *err_r, const char **error_r);

/* pgsql_message.c: open mailboxes and appends. */
int pg_mailbox_open(struct ph_account *acct, const char *name, bool readonly,
                    struct ph_mailbox **mb_r, const char **error_r);
void pg_mailbox_close(struct ph_mailbox *mb);
int pg_fetch(struct ph_mailbox *mb, const struct ph_uidset *set, unsigned what,
             ph_meta_cb *cb, void *arg, const char **error_r);
int pg_read(struct ph_mailbox *mb, uint32_t uid, uint64_t offset, uint64_t len,
            ph_data_cb *cb, void *arg, const char **error_r);
int pg_store(struct ph_mailbox *mb, const struct ph_uidset *set,
             enum ph_store_op op, const struct ph_flags *flags,
             uint64_t unchangedsince, struct ph_uidset *modified_r,
             ph_meta_cb *cb, void *arg, const char **error_r);
int pg_copy(struct ph_mailbox *mb, const struct ph_uidset *set,
            const char *dest, bool move, struct ph_uidset *src_r,
            struct ph_uidset *dst_r, uint32_t *dest_uidvalidity_r,
            const char **error_r);
int pg_expunge(struct ph_mailbox *mb, const struct ph_uidset *set,
               struct ph_uidset *expunged_r, const char **error_r);
int pg_changes(struct ph_mailbox *mb, uint64_t modseq,
               struct ph_uidset *expunged_r, uint64_t *highest_r,
               ph_meta_cb *cb, void *arg, const char **error_r);
int pg_append_begin(struct ph_account *acct, const char *mailbox, uint64_t size,
                    void **handle_r, const char **error_r);
int pg_append_write(void *handle, const void *data, size_t len,
                    const char **error_r);
int pg_append_finish(void *handle, const struct ph_append_meta *meta,
                     uint32_t *uid_r, uint32_t *uidvalidity_r,
                     const char **error_r);
void pg_append_abort(void *handle);
/* Reads the handle's mailbox row (locked with lock): NOT_FOUND once the
 * mailbox is gone (or was deleted and made again). */
int pg_mb_row(struct pg_mbox_handle *mb, struct pg_conn *c, bool lock,
              struct pg_mbox *row_r, const char **error_r) PH_WUR;
void pg_uidset_add_many(struct ph_uidset *s, uint32_t *v, size_t n);

/* pgsql_search.c: SEARCH pushdown. */
int pg_search(struct ph_mailbox *mb, const struct ph_imap_search_key *key,
              struct ph_uidset *result_r, const char **error_r);

/* pgsql_watch.c: waking sessions on this node from LISTEN. */
int pg_watch(struct ph_mailbox *mb, void (*wake)(void *arg), void *arg,
             const char **error_r);
void pg_watch_remove(struct pg_mbox_handle *mb);
void pg_watch_deinit(struct pg_ctx *ctx);
/* After a commit that changed the mailbox: wakes this node's watchers at
 * once (other nodes hear the NOTIFY). */
void pg_wake_local(struct pg_ctx *ctx, int64_t mailbox_id);

#endif
