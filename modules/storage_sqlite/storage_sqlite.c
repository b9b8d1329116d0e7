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
 * Threads: a small pool of connections, each used by one thread at a time
 * with its prepared statements; write transactions of this process take a
 * mutex first, so only other processes' writers meet the busy timeout.
 *
 * \Recent: each mailbox records the first UID no session has claimed; a
 * read-write open (and changes() later) moves it to UIDNEXT in a write
 * transaction and keeps what it took, so one session sees each message as
 * recent. STATUS RECENT counts the messages nobody has claimed yet.
 *
 * SEARCH: a program of flags, keywords, UIDs, sizes, internal dates,
 * modseqs, \Recent, FROM/TO/CC/BCC/SUBJECT (decoded header values kept
 * per body at APPEND) and TEXT/BODY (the folded text kept per body, with
 * a trigram index) becomes one SQL query; other headers and the Date
 * header are left to the endpoint (UNSUPPORTED).
 *
 * The files: sqlite_db.c (connections, schema, errors), sqlite_mailbox.c
 * (accounts, mailboxes), sqlite_message.c (messages, appends),
 * sqlite_search.c (SEARCH), sqlite_watch.c (waking sessions),
 * sqlite_index.c (the text indexer). */
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
    {
        .name = "debug",
        .type = PH_DT_BOOL,
        .flags = PH_DF_INHERIT,
        .offset = offsetof(struct sq_conf, debug),
        .def = "no",
        .help = "log what the storage does",
    },
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

static void sqlite_destroy(void *ctx_p)
{
    struct sq_ctx *ctx = ctx_p;
    sq_indexer_stop(ctx);
    sq_watch_deinit(ctx);
    sq_pool_close(ctx);
    pthread_mutex_destroy(&ctx->pool_lock);
    pthread_cond_destroy(&ctx->pool_cond);
    pthread_mutex_destroy(&ctx->write_lock);
    pthread_mutex_destroy(&ctx->index_lock);
    pthread_cond_destroy(&ctx->index_cond);
    free(ctx->path);
    free(ctx);
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

    ctx->inst = inst;
    ctx->conf = conf;
    ctx->debug = conf->debug;
    ctx->path = ph_state_path(conf->dsn);
    sq_ctx_init(ctx);
    if (db_file_create(ctx->path, error_r) < 0 ||
        sq_watch_init(ctx, error_r) < 0 || sq_schema_init(ctx, error_r) < 0 ||
        sq_rederive(ctx, error_r) < 0 || sq_indexer_start(ctx, error_r) < 0) {
        sqlite_destroy(ctx);
        return -1;
    }
    sq_debug(ctx, "event=opened db=%s", ctx->path);
    *ctx_r = ctx;
    return 0;
}

const struct ph_storage_vfuncs sq_vfuncs = {
    .account_get = sq_account_get,
    .account_release = sq_account_release,
    .account_create = sq_account_create,
    .account_delete = sq_account_delete,
    .account_list = sq_account_list,
    .mailbox_list = sq_mailbox_list,
    .mailbox_create = sq_mailbox_create,
    .mailbox_delete = sq_mailbox_delete,
    .mailbox_rename = sq_mailbox_rename,
    .mailbox_subscribe = sq_mailbox_subscribe,
    .mailbox_status = sq_mailbox_status,
    .mailbox_open = sq_mailbox_open,
    .mailbox_close = sq_mailbox_close,
    .fetch = sq_fetch,
    .read = sq_read,
    .store = sq_store,
    .copy = sq_copy,
    .expunge = sq_expunge,
    .changes = sq_changes,
    .watch = sq_watch,
    .append_begin = sq_append_begin,
    .append_write = sq_append_write,
    .append_finish = sq_append_finish,
    .append_abort = sq_append_abort,
    .search = sq_search,
    .fetch_what = PH_META_FETCH,
};

PH_MODULE(.names = (const char *const[]){"storage.sqlite", NULL},
          .kind = PH_MODULE_STORAGE,
          .description = "mail kept in an embedded SQLite database",
          .directives = sqlite_directives, .conf_size = sizeof(struct sq_conf),
          .inline_directive = "dsn", .create = sqlite_create,
          .destroy = sqlite_destroy, .iface = &sq_vfuncs);
