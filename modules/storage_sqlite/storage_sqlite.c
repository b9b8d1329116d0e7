/* SPDX-License-Identifier: MIT */
/* storage.sqlite: the embedded default storage, one SQLite database.
 *
 *   storage.sqlite local_mailboxes {
 *       dsn posthorn.db                 # relative to state_dir
 *       appendlimit 32M
 *       auto_create yes                 # create accounts on IMAP login
 *       default_mailboxes sent=Sent drafts=Drafts trash=Trash junk=Junk
 *       delivery_map identity
 *       delivery_normalize auto
 *       sync full                       # or appends (below)
 *       cache_size 8M                   # per pooled connection (8 of them)
 *   }
 *   storage sqlite /var/lib/posthorn/mail.db    (inline, in an endpoint)
 *
 * `default_mailboxes` lists what an account is created with besides INBOX:
 * USE=NAME makes NAME with the special-use attribute \USE (sent, drafts,
 * trash, junk, archive, all, flagged), a bare NAME an ordinary mailbox,
 * `none` nothing. Without it: Sent, Drafts, Trash, Junk and Archive.
 *
 * The database is in WAL mode (readers never wait for the writer), with
 * foreign keys on and a busy timeout; the schema carries its version in
 * PRAGMA user_version and is migrated forward when the module starts.
 * Message bodies are blobs written and read with SQLite's incremental blob
 * I/O, so a byte range is served in chunks, never by loading the message;
 * copies share one body. Every commit is fsync'ed (synchronous=FULL): an
 * APPEND that returned survives a crash or a power cut, and a message is
 * visible only from the commit that makes it whole. `sync appends` leaves
 * the fsync out of commits that only change flags, expunge or claim
 * \Recent: a power cut may then undo the last of them, in order, never
 * an APPEND and never half a transaction (WAL); a crash of posthorn alone
 * loses nothing.
 *
 * Threads: a pool of 8 connections, each used by one thread at a time
 * with its prepared statements; write transactions of this process take
 * turns first (PH_SQL_CAP_ONE_WRITER), so only other processes' writers
 * meet the busy timeout.
 *
 * The mail logic (\Recent, SEARCH pushdown, wake-ups: docs/design.md,
 * The SQL store) is libposthorn's SQL mail store (sqlstore.h); this
 * module is its driver and dialect: sqlite_driver.c (connections,
 * statements, transactions, errors, blobs, ph_contains), sqlite_dialect.c
 * (schema, statements, SEARCH fragments), sqlite_wake.c (waking other
 * processes); the text indexer is the store's (sqlstore_index.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <posthorn/log.h>

#include "sqlite_private.h"

static const char *const sync_names[] = {"full", "appends", NULL};

static const struct ph_directive sqlite_directives[] = {
    {
        .name = "dsn",
        .type = PH_DT_STRING,
        .offset = offsetof(struct sq_conf, dsn),
        .def = "posthorn.db",
        .help = "the database file; relative to state_dir",
    },
    {
        .name = "sync",
        .type = PH_DT_ENUM,
        .offset = offsetof(struct sq_conf, sync),
        .values = sync_names,
        .def = "full",
        .help = "full: fsync every commit; appends: only commits that add "
                "messages or change mailboxes, not flag changes and "
                "expunges",
    },
    {
        .name = "cache_size",
        .type = PH_DT_SIZE,
        .offset = offsetof(struct sq_conf, cache_size),
        .def = "8M",
        .help = "SQLite page cache of each of the pooled connections "
                "(64K to 1G): the storage holds at most this times "
                "the pool size once the database is larger",
    },
    PH_SQLSTORE_DIRECTIVES(struct sq_conf),
    {.name = NULL},
};

/* A new database is made mode 0600 (SQLite gives its -wal and -shm files
 * the same mode and owner), owned like its directory: the server's user
 * when the CLI runs as root. */
static int db_file_create(const char *path, char **error_r)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return 0;
    if (fd < 0) {
        *error_r =
            ph_strdup_printf("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    char *dir = ph_strdup(path), *slash = strrchr(dir, '/');
    struct stat st;
    if (slash != NULL)
        *slash = '\0';
    if (geteuid() == 0 && stat(slash != NULL ? dir : ".", &st) == 0 &&
        fchown(fd, st.st_uid, st.st_gid) < 0)
        ph_log_warn("%s event=chown_failed file=%s reason=\"%s\"", SQ_MOD, path,
                    strerror(errno));
    free(dir);
    close(fd);
    return 0;
}

static void ctx_free(struct sq_ctx *ctx)
{
    sq_wake_deinit(ctx);
    ph_sqlstore_free(&ctx->store);
    free(ctx->path);
    free(ctx);
}

static void sqlite_destroy(void *ctx)
{
    ctx_free(ph_sqlstore_dctx(ctx));
}

static int sqlite_create(struct ph_instance *inst, void *conf_p, void **ctx_r,
                         char **error_r)
{
    const struct sq_conf *conf = conf_p;
    if (conf->cache_size < 64 * 1024 || conf->cache_size > (1ULL << 30)) {
        *error_r = ph_strdup_printf("storage.sqlite: cache_size must be "
                                    "between 64K and 1G");
        return -1;
    }
    struct sq_ctx *ctx = ph_calloc(1, sizeof(*ctx));
    ctx->conf = conf;
    ctx->path = ph_state_path(conf->dsn);
    ctx->send_fd = ctx->recv_fd = -1;
    ctx->stop_pipe[0] = ctx->stop_pipe[1] = -1;
    pthread_mutex_init(&ctx->wake_lock, NULL);
    /* Large APPENDs wait beside the database. */
    char *dir = ph_strdup(ctx->path), *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    struct ph_sqlstore_params p = {
        .inst = inst,
        .drv = &sq_driver,
        .dialect = &sq_dialect,
        .dctx = ctx,
        .max_conns = 8,
        .log_mod = "storage.sqlite",
        .db = ctx->path,
        .spill_dir = slash != NULL ? dir : ".",
        .body_grace_s = conf->body_grace / 1000,
        .tombstone_horizon_s = conf->tombstone_horizon / 1000,
        .debug = conf->debug,
        .text_index_wait_ms = conf->text_index_wait,
    };
    int ret = db_file_create(ctx->path, error_r);
    if (ret == 0)
        ret = sq_wake_init(ctx, error_r);
    if (ret == 0)
        ret = ph_sqlstore_new(&p, &ctx->store, error_r);
    free(dir);
    if (ret < 0) {
        ctx_free(ctx);
        return -1;
    }
    ph_sqlstore_debug(ctx->store, "event=opened db=%s", ctx->path);
    *ctx_r = ctx->store;
    return 0;
}

PH_MODULE(.names = (const char *const[]){"storage.sqlite", NULL},
          .kind = PH_MODULE_STORAGE,
          .description = "mail kept in an embedded SQLite database",
          .directives = sqlite_directives, .conf_size = sizeof(struct sq_conf),
          .inline_directive = "dsn", .create = sqlite_create,
          .destroy = sqlite_destroy, .iface = &ph_sqlstore_vfuncs);
