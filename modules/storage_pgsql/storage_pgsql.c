/* SPDX-License-Identifier: MIT */
/* storage.pgsql: mail kept in PostgreSQL, shared by several nodes.
 *
 *   storage.pgsql shared_mail {
 *       dsn host=db.example.org dbname=posthorn user=posthorn
 *       max_connections 8               # pool size of this node
 *       prepared_statements yes         # each statement parsed once per
 *                                       # connection
 *       appendlimit 32M
 *       auto_create yes
 *       default_mailboxes sent=Sent drafts=Drafts trash=Trash junk=Junk
 *       delivery_map identity
 *       delivery_normalize auto
 *   }
 *   storage pgsql postgresql://posthorn@db/posthorn    (inline)
 *
 * `dsn` is a libpq connection string or URI (its arguments are joined with
 * spaces); a password in it is never logged (log lines name host, port
 * and database only). The data model and the answers are storage.sqlite's.
 *
 * Nodes are stateless; the truth is in the database. Writers on any node
 * are ordered by a row lock on the mailbox, and wake each other's
 * sessions with NOTIFY (docs/design.md, The SQL store). The mail logic is
 * libposthorn's SQL mail store (sqlstore.h); this module is its driver
 * and dialect: pgsql_driver.c (connections, statements, transactions,
 * errors: a broken connection answers TEMP and the next operation
 * connects again), pgsql_dialect.c (schema, bodies as bytea chunks,
 * statements, SEARCH through pg_trgm, NOTIFY), pgsql_listen.c (LISTEN). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/log.h>

#include "pgsql_private.h"

static const struct ph_directive pgsql_directives[] = {
    {
        .name = "dsn",
        .type = PH_DT_LIST,
        .flags = PH_DF_REQUIRED,
        .offset = offsetof(struct pg_conf, dsn),
        .min_args = 1,
        .max_args = -1,
        .help = "libpq connection string or URI (arguments joined by spaces)",
    },
    {
        .name = "max_connections",
        .type = PH_DT_INT,
        .offset = offsetof(struct pg_conf, max_connections),
        .def = "8",
        .min = 1,
        .max = 1000,
        .help = "connections this node keeps to the database at most",
    },
    {
        .name = "prepared_statements",
        .type = PH_DT_BOOL,
        .offset = offsetof(struct pg_conf, prepared_statements),
        .def = "yes",
        .help = "prepare each statement once per connection (no behind a "
                "pooler that cannot keep them, e.g. pgbouncer in "
                "transaction mode before 1.21)",
    },
    PH_SQLSTORE_DIRECTIVES(struct pg_conf),
    {.name = NULL},
};

/* "host:port/dbname" as libpq understands the DSN: what log lines show
 * instead of the DSN, which may carry a password. */
static char *dsn_target(const char *dsn, char **error_r)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &err);
    if (opts == NULL) {
        /* libpq's parse errors quote pieces of the DSN: not when it may
         * hold a password. */
        bool secret =
            strstr(dsn, "password") != NULL || strchr(dsn, '@') != NULL;
        char *why = err != NULL ? ph_strdup(err) : ph_strdup("out of memory");
        size_t len = strlen(why);
        while (len > 0 && why[len - 1] == '\n')
            why[--len] = '\0';
        *error_r = ph_strdup_printf(
            "bad dsn: %s",
            secret ? "not a libpq connection string or URI (details "
                     "withheld: it may hold a password)"
                   : why);
        free(why);
        PQfreemem(err);
        return NULL;
    }
    const char *host = NULL, *port = NULL, *db = NULL;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
    }
    char *t = ph_strdup_printf("%s:%s/%s", host != NULL ? host : "default",
                               port != NULL ? port : "default",
                               db != NULL ? db : "default");
    PQconninfoFree(opts);
    return t;
}

static void ctx_free(struct pg_ctx *ctx)
{
    pg_listen_deinit(ctx);
    ph_sqlstore_free(&ctx->store);
    free(ctx->dsn);
    free(ctx->target);
    free(ctx);
}

static void pgsql_destroy(void *ctx)
{
    ctx_free(ph_sqlstore_dctx(ctx));
}

static int pgsql_create(struct ph_instance *inst, void *conf_p, void **ctx_r,
                        char **error_r)
{
    const struct pg_conf *conf = conf_p;
    struct pg_ctx *ctx = ph_calloc(1, sizeof(*ctx));
    struct ph_buf dsn = {0};
    for (size_t i = 0; i < conf->dsn.n; i++) {
        if (i > 0)
            ph_buf_putc(&dsn, ' ');
        ph_buf_puts(&dsn, conf->dsn.v[i]);
    }
    ctx->conf = conf;
    ctx->dsn = ph_buf_steal(&dsn);
    ctx->stop_pipe[0] = ctx->stop_pipe[1] = -1;
    ctx->ctl_pipe[0] = ctx->ctl_pipe[1] = -1;
    pthread_mutex_init(&ctx->watch_lock, NULL);
    pthread_cond_init(&ctx->listen_cond, NULL);
    ctx->target = dsn_target(ctx->dsn, error_r);
    /* Large APPENDs wait in state_dir (the server's own), else TMPDIR. */
    const char *spill = ph_global_state_dir();
    if (spill == NULL)
        spill = getenv("TMPDIR");
    struct ph_sqlstore_params p = {
        .inst = inst,
        .drv = &pg_driver,
        .dialect = &pg_dialect,
        .dctx = ctx,
        .max_conns = (unsigned)conf->max_connections,
        .log_mod = "storage.pgsql",
        .db = ctx->target,
        .spill_dir = spill != NULL && spill[0] != '\0' ? spill : "/tmp",
        .body_grace_s = conf->body_grace / 1000,
        .tombstone_horizon_s = conf->tombstone_horizon / 1000,
        .text_index_wait_ms = conf->text_index_wait,
        .debug = conf->debug,
    };
    if (ctx->target == NULL || ph_sqlstore_new(&p, &ctx->store, error_r) < 0) {
        ctx_free(ctx);
        return -1;
    }
    ph_sqlstore_debug(ctx->store, "event=opened db=%s", ctx->target);
    *ctx_r = ctx->store;
    return 0;
}

PH_MODULE(.names = (const char *const[]){"storage.pgsql", NULL},
          .kind = PH_MODULE_STORAGE,
          .description = "mail kept in PostgreSQL, shared by several nodes",
          .directives = pgsql_directives, .conf_size = sizeof(struct pg_conf),
          .inline_directive = "dsn", .create = pgsql_create,
          .destroy = pgsql_destroy, .iface = &ph_sqlstore_vfuncs);
