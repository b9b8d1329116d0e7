/* SPDX-License-Identifier: MIT */
/* storage.sqlite: what the module's files share. Not part of the SDK. */
#ifndef SQLITE_PRIVATE_H
#define SQLITE_PRIVATE_H

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>

#include <posthorn/sqlstore.h>

#define SQ_MOD "mod=storage.sqlite"

struct sq_conf {
    char *dsn;
    int sync;            /* enum sq_sync */
    uint64_t cache_size; /* page cache of each pooled connection, bytes */
    int64_t body_grace;  /* ms */
    int64_t tombstone_horizon;  /* ms */
    int64_t text_index_wait;    /* ms */
    bool debug;
};

/* Which commits are fsync'ed (directive `sync`). */
enum sq_sync {
    SQ_SYNC_FULL,    /* every commit */
    SQ_SYNC_APPENDS, /* commits that add messages or change mailboxes;
                      * flag changes, expunges and \Recent claims reach
                      * the disk with the next fsync'ed commit */
};

/* The driver's context (dctx). */
struct sq_ctx {
    const struct sq_conf *conf;
    char *path; /* the database file */
    struct ph_sqlstore *store;

    /* The cross-process wake socket (sqlite_wake.c). */
    pthread_mutex_t wake_lock;
    char *sock_dir, *sock_prefix, *sock_path;
    int send_fd, recv_fd, stop_pipe[2];
    pthread_t recv_thread;
    bool recv_running, recv_failed;
};

extern const struct ph_sql_driver sq_driver;
extern const struct ph_sqlstore_dialect sq_dialect;
/* sqlite_dialect.c: the SQL of each statement. */
extern const char *const sq_stmts[PH_SQS_COUNT];

/* sqlite_driver.c: ph_contains(text, key[, start]) for the search
 * fragments (sqlite_dialect.c). */
int sq_functions_register(sqlite3 *db);
/* Bodies as blobs (the dialect's body_write and body_read). */
int sq_body_write(struct ph_sql_conn *c, int64_t body_id, uint64_t size,
                  ph_message_reader *read, void *read_arg,
                  const char **error_r);
int sq_body_read(struct ph_sql_conn *c, int64_t body_id, uint64_t size,
                 uint64_t offset, void *buf, size_t len, const char **error_r);

/* sqlite_wake.c: waking other processes' sessions. */
int sq_wake_init(struct sq_ctx *ctx, char **error_r);
void sq_wake_deinit(struct sq_ctx *ctx);
void sq_wake_announced(void *dctx, const int64_t *ids, size_t n);
void sq_wake_listen(void *dctx, int64_t mailbox_id, bool on);

#endif
