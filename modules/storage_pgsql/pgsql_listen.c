/* SPDX-License-Identifier: MIT */
/* storage.pgsql: hearing of changes other nodes make (this node's own
 * commits wake its watchers at once: sqlstore.c).
 *
 * Across nodes: writers NOTIFY the mailbox's own channel (PG_CHANNEL_PREFIX
 * and its id) inside their transaction (PostgreSQL delivers it at commit),
 * so a node hears only of the mailboxes its sessions watch. The first
 * listen() starts a thread that holds one dedicated connection and LISTENs
 * to the channel of every watched mailbox, adding and dropping channels as
 * watchers come and go; a listen() that adds a channel returns once that
 * LISTEN is in place (or the connection is down), so the caller's
 * changes() after watch() misses nothing. When that connection is lost, every
 * watcher is woken (it resyncs through changes(), which answers TEMP while
 * the database is away), the thread reconnects with a back-off, and wakes
 * every watcher again once it listens: what was announced meanwhile is not
 * lost, only re-read. Notifications only wake: the truth is in the
 * database. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <posthorn/log.h>

#include "pgsql_private.h"

/* LISTEN or UNLISTEN, and the channel of a mailbox id. */
static const char SQL_LISTEN_FMT[] = "%s " PG_CHANNEL_PREFIX "%" PRId64;

#define RECONNECT_MIN_MS 200
#define RECONNECT_MAX_MS 5000

/* Waits up to ms for the stop pipe; true when asked to stop. */
static bool stop_wait(struct pg_ctx *ctx, int ms)
{
    struct pollfd p = {.fd = ctx->stop_pipe[0], .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    return r > 0;
}

static bool id_in(const int64_t *v, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == id)
            return true;
    return false;
}

/* LISTEN or UNLISTEN one mailbox's channel. The channel is an identifier,
 * which SQL cannot take as a parameter; it is built from an integer. */
static bool channel_cmd(struct pg_ctx *ctx, PGconn *db, const char *verb,
                        int64_t id)
{
    char sql[80];
    snprintf(sql, sizeof(sql), SQL_LISTEN_FMT, verb, id);
    PGresult *res = PQexec(db, sql);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        char *emsg = ph_log_escape(PQerrorMessage(db));
        ph_log_warn("%s event=listen_failed db=%s reason=%s", PG_MOD,
                    ctx->target, emsg);
        free(emsg);
    }
    return ok;
}

/* Brings the connection's channels to the watched mailboxes; false when the
 * connection failed. *listening holds what the connection listens to. */
static bool channels_sync(struct pg_ctx *ctx, PGconn *db, int64_t **listening,
                          size_t *nlistening, size_t *cap)
{
    int64_t *want = NULL;
    size_t nwant = 0, wcap = 0;
    pthread_mutex_lock(&ctx->watch_lock);
    uint64_t gen = ctx->want_gen;
    ph_array_grow(&want, &wcap, ctx->nwant + 1, sizeof(*want));
    nwant = ctx->nwant;
    if (nwant > 0)
        memcpy(want, ctx->want, nwant * sizeof(*want));
    pthread_mutex_unlock(&ctx->watch_lock);
    bool ok = true;
    for (size_t i = 0; ok && i < nwant; i++)
        if (!id_in(*listening, *nlistening, want[i]))
            ok = channel_cmd(ctx, db, "LISTEN", want[i]);
    for (size_t i = 0; ok && i < *nlistening; i++)
        if (!id_in(want, nwant, (*listening)[i]))
            ok = channel_cmd(ctx, db, "UNLISTEN", (*listening)[i]);
    if (ok) {
        free(*listening);
        *listening = want;
        *nlistening = nwant;
        *cap = wcap;
        pthread_mutex_lock(&ctx->watch_lock);
        ctx->have_gen = gen;
        pthread_cond_broadcast(&ctx->listen_cond);
        pthread_mutex_unlock(&ctx->watch_lock);
    } else {
        free(want);
    }
    return ok && PQstatus(db) == CONNECTION_OK;
}

/* The connection listens (up) or not; tried: the first attempt is over,
 * the first watch() may return. */
static void set_listen_up(struct pg_ctx *ctx, bool up, bool tried)
{
    pthread_mutex_lock(&ctx->watch_lock);
    ctx->listen_up = up;
    ctx->listen_tried |= tried;
    pthread_cond_broadcast(&ctx->listen_cond);
    pthread_mutex_unlock(&ctx->watch_lock);
}

static void drain_pipe(int fd)
{
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
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
        bool own =
            *end == ' ' && strcmp(end + 1, ph_sqlstore_token(ctx->store)) == 0;
        if (end != n->extra && (*end == '\0' || *end == ' ') && id > 0 && !own)
            ph_sqlstore_wake(ctx->store, id);
        PQfreemem(n);
    }
    return PQstatus(db) == CONNECTION_OK;
}

static void *listen_main(void *arg)
{
    struct pg_ctx *ctx = arg;
    int backoff = RECONNECT_MIN_MS;
    bool was_lost = false;
    int64_t *listening = NULL;
    size_t nlistening = 0, cap = 0;

    for (;;) {
        PGconn *db = pg_connect(ctx, "listen_connect_failed");
        nlistening = 0; /* a new connection listens to nothing yet */
        bool up =
            db != NULL && channels_sync(ctx, db, &listening, &nlistening, &cap);
        if (db != NULL && !up) {
            PQfinish(db);
            db = NULL;
        }
        if (!ctx->listen_tried)
            was_lost = db == NULL;
        set_listen_up(ctx, up, true);
        if (db == NULL) {
            if (stop_wait(ctx, backoff))
                break;
            backoff =
                backoff * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff * 2;
            continue;
        }
        backoff = RECONNECT_MIN_MS;
        if (was_lost) {
            /* What was announced while nobody listened is read again. */
            ph_log_info("%s event=listen_restored db=%s", PG_MOD, ctx->target);
            ph_sqlstore_wake(ctx->store, -1);
        }
        ph_sqlstore_debug(ctx->store, "event=listening db=%s", ctx->target);
        bool stop = false;
        for (;;) {
            struct pollfd fds[3] = {
                {.fd = PQsocket(db), .events = POLLIN},
                {.fd = ctx->stop_pipe[0], .events = POLLIN},
                {.fd = ctx->ctl_pipe[0], .events = POLLIN},
            };
            if (poll(fds, 3, -1) < 0) {
                if (errno == EINTR)
                    continue;
                ph_log_error("%s event=listen_poll_failed reason=\"%s\"",
                             PG_MOD, strerror(errno));
                break;
            }
            if (fds[1].revents != 0) {
                stop = true;
                break;
            }
            if (fds[2].revents != 0) {
                drain_pipe(ctx->ctl_pipe[0]);
                if (!channels_sync(ctx, db, &listening, &nlistening, &cap))
                    break;
            }
            if (fds[0].revents != 0 && !listen_drain(ctx, db))
                break;
        }
        PQfinish(db);
        set_listen_up(ctx, false, false);
        if (stop)
            break;
        ph_log_warn("%s event=listen_lost db=%s msg=\"sessions resync\"",
                    PG_MOD, ctx->target);
        was_lost = true;
        ph_sqlstore_wake(ctx->store, -1);
        if (stop_wait(ctx, backoff))
            break;
    }
    free(listening);
    return NULL;
}

/* Starts the LISTEN thread; under watch_lock. A failure costs only the
 * wake-ups from other nodes, so it is logged, not returned. */
static void listen_start(struct pg_ctx *ctx)
{
    const char *why = NULL;
    if (pipe2(ctx->stop_pipe, O_CLOEXEC) < 0 ||
        pipe2(ctx->ctl_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        why = strerror(errno);
    else if (pthread_create(&ctx->listen_thread, NULL, listen_main, ctx) != 0)
        why = "cannot start a thread";
    if (why == NULL) {
        ctx->listen_running = true;
        return;
    }
    ph_log_warn("%s event=listen_start_failed reason=\"%s\"", PG_MOD, why);
    for (int i = 0; i < 2; i++) {
        if (ctx->stop_pipe[i] >= 0)
            close(ctx->stop_pipe[i]);
        if (ctx->ctl_pipe[i] >= 0)
            close(ctx->ctl_pipe[i]);
        ctx->stop_pipe[i] = ctx->ctl_pipe[i] = -1;
    }
}

void pg_listen_deinit(struct pg_ctx *ctx)
{
    if (ctx->listen_running) {
        ssize_t r = write(ctx->stop_pipe[1], "x", 1);
        (void)r;
        pthread_join(ctx->listen_thread, NULL);
        close(ctx->stop_pipe[0]);
        close(ctx->stop_pipe[1]);
        close(ctx->ctl_pipe[0]);
        close(ctx->ctl_pipe[1]);
        ctx->listen_running = false;
    }
    free(ctx->want);
    pthread_cond_destroy(&ctx->listen_cond);
    pthread_mutex_destroy(&ctx->watch_lock);
}

/* Under watch_lock: the set of channels changed; pokes the thread. Returns
 * the generation to wait for. */
static uint64_t channels_changed(struct pg_ctx *ctx)
{
    uint64_t gen = ++ctx->want_gen;
    if (ctx->listen_running) {
        ssize_t r = write(ctx->ctl_pipe[1], "x", 1);
        (void)r; /* a full pipe already says "changed" */
    }
    return gen;
}

/* This node hears of the mailbox from now on (on) or no more. */
void pg_listen(void *dctx, int64_t mailbox_id, bool on)
{
    struct pg_ctx *ctx = dctx;
    pthread_mutex_lock(&ctx->watch_lock);
    size_t i = 0;
    while (i < ctx->nwant && ctx->want[i] != mailbox_id)
        i++;
    uint64_t gen = ctx->want_gen;
    if (on && i == ctx->nwant) {
        ph_array_grow(&ctx->want, &ctx->want_cap, ctx->nwant + 1,
                      sizeof(*ctx->want));
        ctx->want[ctx->nwant++] = mailbox_id;
        gen = channels_changed(ctx);
    } else if (!on && i < ctx->nwant) {
        ctx->want[i] = ctx->want[--ctx->nwant];
        gen = channels_changed(ctx);
    }
    if (!ctx->listen_running && on)
        listen_start(ctx);
    /* Until this mailbox's LISTEN is in place, or the connection is down
     * (it resyncs every watcher when it comes back). */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    while (on && ctx->listen_running &&
           (!ctx->listen_tried || (ctx->listen_up && ctx->have_gen < gen)))
        if (pthread_cond_timedwait(&ctx->listen_cond, &ctx->watch_lock,
                                   &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&ctx->watch_lock);
}
