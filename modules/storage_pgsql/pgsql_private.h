/* SPDX-License-Identifier: MIT */
/* storage.pgsql: what the module's files share. Not part of the SDK. */
#ifndef PGSQL_PRIVATE_H
#define PGSQL_PRIVATE_H

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>

#include <posthorn/sqlstore.h>

#define PG_MOD "mod=storage.pgsql"
/* NOTIFY channels: one per mailbox, this prefix and its id; a node LISTENs
 * only to the mailboxes its sessions watch. */
#define PG_CHANNEL_PREFIX "posthorn_mb_"

struct pg_conf {
    struct ph_strlist dsn;
    int64_t max_connections;
    bool prepared_statements;
    int64_t body_grace; /* ms */
    int64_t tombstone_horizon; /* ms */
    int64_t text_index_wait;   /* ms */
    bool debug;
};

/* The driver's context (dctx). */
struct pg_ctx {
    const struct pg_conf *conf;
    char *dsn;    /* never logged: it may hold a password */
    char *target; /* "host:port/db" for log lines */
    struct ph_sqlstore *store;
    bool trgm; /* the trigram index is there (schema_extras) */

    /* The LISTEN thread (pgsql_listen.c), under watch_lock: the mailboxes
     * this node hears of (want, want_gen, bumped by listen(), which pokes
     * ctl_pipe), those the thread's connection listens to (have_gen,
     * listen_up). */
    pthread_mutex_t watch_lock;
    pthread_cond_t listen_cond;
    int64_t *want;
    size_t nwant, want_cap;
    uint64_t want_gen, have_gen;
    bool listen_up, listen_tried, listen_running;
    int stop_pipe[2], ctl_pipe[2];
    pthread_t listen_thread;
};

extern const struct ph_sql_driver pg_driver;
extern const struct ph_sqlstore_dialect pg_dialect;
/* pgsql_dialect.c: the SQL of each statement. */
extern const char *const pg_stmts[PH_SQS_COUNT];

/* pgsql_driver.c */
/* A new connection (the pool's and the LISTEN thread's); NULL with the
 * reason logged as event. */
PGconn *pg_connect(struct pg_ctx *ctx, const char *event);
PGconn *pg_db(struct ph_sql_conn *c);

/* pgsql_listen.c */
void pg_listen(void *dctx, int64_t mailbox_id, bool on);
void pg_listen_deinit(struct pg_ctx *ctx);

#endif
