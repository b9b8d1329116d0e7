/* storage.pgsql: waking sessions when a mailbox changes.
 *
 * On this node: every open mailbox that watches registers in the
 * instance's list; a commit here wakes the watchers of its mailbox at once.
 *
 * Across nodes: writers NOTIFY PG_CHANNEL with the mailbox id inside their
 * transaction (PostgreSQL delivers it at commit). The first watcher starts
 * a thread that holds one dedicated connection, LISTENs, and wakes the
 * watchers of each announced mailbox; that first watch returns once the
 * LISTEN is in place (or its first attempt failed), so the caller's
 * changes() after watch() misses nothing. When that connection is lost, every
 * watcher is woken (it resyncs through changes(), which answers TEMP while
 * the database is away), the thread reconnects with a back-off, and wakes
 * every watcher again once it listens: what was announced meanwhile is not
 * lost, only re-read. Notifications only wake: the truth is in the
 * database. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <posthorn/log.h>

#include "pgsql_private.h"

#define RECONNECT_MIN_MS 200
#define RECONNECT_MAX_MS 5000

void pg_wake_local(struct pg_ctx *ctx, int64_t mailbox_id)
{
    pthread_mutex_lock(&ctx->watch_lock);
    for (struct pg_watcher *w = ctx->watchers; w != NULL; w = w->next)
        if (mailbox_id < 0 || w->mailbox_id == mailbox_id)
            w->wake(w->arg);
    pthread_mutex_unlock(&ctx->watch_lock);
}

/* Waits up to ms for the stop pipe; true when asked to stop. */
static bool stop_wait(struct pg_ctx *ctx, int ms)
{
    struct pollfd p = {.fd = ctx->stop_pipe[0], .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    return r > 0;
}

static PGconn *listen_connect(struct pg_ctx *ctx)
{
    char *why = NULL;
    PGconn *db = pg_connect(ctx, &why);
    if (db == NULL) {
        char *ewhy = ph_log_escape(why);
        ph_log_warn("%s event=listen_connect_failed db=%s reason=%s", PG_MOD,
                    ctx->target, ewhy);
        free(ewhy);
        free(why);
        return NULL;
    }
    PGresult *res = PQexec(db, "LISTEN " PG_CHANNEL);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok || PQsetnonblocking(db, 1) != 0) {
        char *emsg = ph_log_escape(PQerrorMessage(db));
        ph_log_warn("%s event=listen_failed db=%s reason=%s", PG_MOD,
                    ctx->target, emsg);
        free(emsg);
        PQfinish(db);
        return NULL;
    }
    return db;
}

/* Wakes the watchers named by the notifications waiting; false when the
 * connection is lost. */
static bool listen_drain(struct pg_ctx *ctx, PGconn *db)
{
    if (!PQconsumeInput(db))
        return false;
    PGnotify *n;
    while ((n = PQnotifies(db)) != NULL) {
        char *end = NULL;
        long long id = strtoll(n->extra, &end, 10);
        if (end != n->extra && *end == '\0' && id > 0)
            pg_wake_local(ctx, id);
        PQfreemem(n);
    }
    return PQstatus(db) == CONNECTION_OK;
}

/* The first attempt is over: the first watch() may return. */
static void listen_tried(struct pg_ctx *ctx)
{
    pthread_mutex_lock(&ctx->watch_lock);
    ctx->listen_tried = true;
    pthread_cond_broadcast(&ctx->listen_cond);
    pthread_mutex_unlock(&ctx->watch_lock);
}

static void *listen_main(void *arg)
{
    struct pg_ctx *ctx = arg;
    int backoff = RECONNECT_MIN_MS;
    bool was_lost = false;

    for (;;) {
        PGconn *db = listen_connect(ctx);
        if (!ctx->listen_tried) {
            listen_tried(ctx);
            was_lost = db == NULL;
        }
        if (db == NULL) {
            if (stop_wait(ctx, backoff))
                return NULL;
            backoff =
                backoff * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff * 2;
            continue;
        }
        backoff = RECONNECT_MIN_MS;
        if (was_lost) {
            /* What was announced while nobody listened is read again. */
            ph_log_info("%s event=listen_restored db=%s", PG_MOD, ctx->target);
            pg_wake_local(ctx, -1);
        }
        pg_debug(ctx, "event=listening db=%s", ctx->target);
        for (;;) {
            struct pollfd fds[2] = {
                {.fd = PQsocket(db), .events = POLLIN},
                {.fd = ctx->stop_pipe[0], .events = POLLIN},
            };
            if (poll(fds, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                ph_log_error("%s event=listen_poll_failed reason=\"%s\"",
                             PG_MOD, strerror(errno));
                break;
            }
            if (fds[1].revents != 0) {
                PQfinish(db);
                return NULL;
            }
            if (!listen_drain(ctx, db))
                break;
        }
        ph_log_warn("%s event=listen_lost db=%s msg=\"sessions resync\"",
                    PG_MOD, ctx->target);
        PQfinish(db);
        was_lost = true;
        pg_wake_local(ctx, -1);
        if (stop_wait(ctx, backoff))
            return NULL;
    }
}

/* Starts the LISTEN thread; under watch_lock. A failure costs only the
 * wake-ups from other nodes, so it is logged, not returned. */
static void listen_start(struct pg_ctx *ctx)
{
    if (pipe2(ctx->stop_pipe, O_CLOEXEC) < 0) {
        ph_log_warn("%s event=listen_start_failed reason=\"%s\"", PG_MOD,
                    strerror(errno));
        return;
    }
    if (pthread_create(&ctx->listen_thread, NULL, listen_main, ctx) != 0) {
        ph_log_warn("%s event=listen_start_failed reason=\"cannot start a "
                    "thread\"",
                    PG_MOD);
        close(ctx->stop_pipe[0]);
        close(ctx->stop_pipe[1]);
        ctx->stop_pipe[0] = ctx->stop_pipe[1] = -1;
        return;
    }
    ctx->listen_running = true;
}

void pg_watch_deinit(struct pg_ctx *ctx)
{
    if (ctx->listen_running) {
        ssize_t r = write(ctx->stop_pipe[1], "x", 1);
        (void)r;
        pthread_join(ctx->listen_thread, NULL);
        close(ctx->stop_pipe[0]);
        close(ctx->stop_pipe[1]);
        ctx->listen_running = false;
    }
    ph_assert(ctx->watchers == NULL);
    pthread_cond_destroy(&ctx->listen_cond);
    pthread_mutex_destroy(&ctx->watch_lock);
}

int pg_watch(struct ph_mailbox *pub, void (*wake)(void *arg), void *arg,
             const char **error_r)
{
    struct pg_mbox_handle *mb = (struct pg_mbox_handle *)pub;
    struct pg_ctx *ctx = mb->ctx;
    (void)error_r;

    if (wake == NULL) {
        pg_watch_remove(mb);
        return 0;
    }
    pthread_mutex_lock(&ctx->watch_lock);
    mb->watcher.mailbox_id = mb->id;
    mb->watcher.wake = wake;
    mb->watcher.arg = arg;
    if (!mb->watching) {
        mb->watcher.prev = NULL;
        mb->watcher.next = ctx->watchers;
        if (ctx->watchers != NULL)
            ctx->watchers->prev = &mb->watcher;
        ctx->watchers = &mb->watcher;
        mb->watching = true;
    }
    if (!ctx->listen_running)
        listen_start(ctx);
    while (ctx->listen_running && !ctx->listen_tried)
        pthread_cond_wait(&ctx->listen_cond, &ctx->watch_lock);
    pthread_mutex_unlock(&ctx->watch_lock);
    return 0;
}

void pg_watch_remove(struct pg_mbox_handle *mb)
{
    struct pg_ctx *ctx = mb->ctx;
    pthread_mutex_lock(&ctx->watch_lock);
    if (mb->watching) {
        struct pg_watcher *w = &mb->watcher;
        if (w->prev != NULL)
            w->prev->next = w->next;
        else
            ctx->watchers = w->next;
        if (w->next != NULL)
            w->next->prev = w->prev;
        mb->watching = false;
    }
    pthread_mutex_unlock(&ctx->watch_lock);
}
