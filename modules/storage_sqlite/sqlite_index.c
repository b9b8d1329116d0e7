/* SPDX-License-Identifier: MIT */
/* storage.sqlite: the text indexer.
 *
 * APPEND stores a body's folded text as pending; this thread moves
 * pending texts into the trigram index body_fts, many per transaction.
 * Tokenizing is most of an index insert's cost (about 0.7 ms for 11 KB of
 * text here), and a batch of 50 costs half as much per text as 50 single
 * inserts: done inside APPEND's write transaction it cut APPEND
 * throughput by a quarter. It also waits for a pause in APPENDs (at
 * most 10 s). A pending text is a candidate of every TEXT
 * and BODY search (confirmed by ph_contains like any other), so answers
 * never depend on how far the indexer has come. Its commits are not
 * synced: a batch a power cut takes back is pending again, and indexed
 * once more. */
#include <errno.h>
#include <time.h>

#include <posthorn/log.h>

#include "sqlite_private.h"

/* One transaction indexes at most this many texts, and stops adding
 * once they hold this many bytes: APPENDs wait for it. */
#define BATCH_MAX_TEXTS 64
#define BATCH_MAX_BYTES (1024 * 1024)
/* After a kick the indexer waits for a pause in APPENDs this long, but
 * not longer than DELAY_MAX_MS in all: during a burst of APPENDs it
 * would take CPU and the write lock from them. */
#define QUIET_MS 500
#define DELAY_MAX_MS 10000
/* Without a kick, a look every so often: another process (a `posthorn`
 * admin command delivering mail) may have left pending texts. */
#define IDLE_CHECK_S 60
#define INDEX_CACHE_KIB "2048"

/* Waits on the indexer's condition until stop, or kick when wake_on_kick,
 * or ms passed; called and returns with index_lock held. */
static void wait_ms(struct sq_ctx *ctx, long ms, bool wake_on_kick)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!ctx->index_stop && !(wake_on_kick && ctx->index_kick))
        if (pthread_cond_timedwait(&ctx->index_cond, &ctx->index_lock,
                                   &until) == ETIMEDOUT)
            break;
}

/* Indexes one batch: the number of texts indexed, or -1. */
static int index_batch(struct sq_ctx *ctx)
{
    struct sq_conn *c = ctx->index_conn;
    const char *err = NULL;
    if (sq_write_begin_unsynced(ctx, c, &err) < 0) {
        ph_log_error("%s event=index_failed reason=\"%s\"", SQ_MOD, err);
        return -1;
    }
    int64_t ids[BATCH_MAX_TEXTS];
    int n = 0, rc;
    int64_t bytes = 0;
    sqlite3_stmt *st = sq_stmt(c, SQ_TEXT_PENDING);
    sqlite3_bind_int(st, 1, BATCH_MAX_TEXTS);
    while (bytes < BATCH_MAX_BYTES && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ids[n++] = sqlite3_column_int64(st, 0);
        bytes += sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    rc = SQLITE_DONE;
    for (int i = 0; i < n && rc == SQLITE_DONE; i++) {
        st = sq_stmt(c, SQ_TEXT_INDEX);
        sqlite3_bind_int64(st, 1, ids[i]);
        rc = sq_step_done(st);
    }
    int ret = n;
    if (rc != SQLITE_DONE) {
        ret = sq_fail(ctx, c, rc, "index", &err);
        sq_write_rollback(ctx, c);
    } else if (sq_write_commit(ctx, c, &err) < 0) {
        ret = -1;
    }
    if (ret < 0)
        ph_log_error("%s event=index_failed reason=\"%s\"", SQ_MOD, err);
    else if (n > 0)
        sq_debug(ctx, "event=indexed texts=%d bytes=%" PRId64, n, bytes);
    return ret;
}

static void *index_main(void *arg)
{
    struct sq_ctx *ctx = arg;
    pthread_mutex_lock(&ctx->index_lock);
    while (!ctx->index_stop) {
        if (!ctx->index_kick)
            wait_ms(ctx, IDLE_CHECK_S * 1000L, true);
        for (long waited = 0; !ctx->index_stop && waited < DELAY_MAX_MS;
             waited += QUIET_MS) {
            ctx->index_kick = false;
            wait_ms(ctx, QUIET_MS, false);
            if (!ctx->index_kick)
                break;
        }
        ctx->index_kick = false;
        while (!ctx->index_stop) {
            pthread_mutex_unlock(&ctx->index_lock);
            int n = index_batch(ctx);
            pthread_mutex_lock(&ctx->index_lock);
            if (n <= 0)
                break;
        }
    }
    pthread_mutex_unlock(&ctx->index_lock);
    return NULL;
}

int sq_indexer_start(struct sq_ctx *ctx, char **error_r)
{
    const char *err = NULL;
    if (sq_conn_open(ctx, &ctx->index_conn, &err) < 0) {
        *error_r = ph_strdup_printf("%s: %s", ctx->path, err);
        return -1;
    }
    /* Its page cache: what a batch and its merges touch, not the 8M a
     * pooled connection may keep. */
    sqlite3_exec(ctx->index_conn->db, "PRAGMA cache_size = -" INDEX_CACHE_KIB,
                 NULL, NULL, NULL);
    ctx->index_kick = true; /* a first look at once */
    if (pthread_create(&ctx->index_thread, NULL, index_main, ctx) != 0) {
        sq_conn_close(ctx->index_conn);
        ctx->index_conn = NULL;
        *error_r =
            ph_strdup_printf("%s: cannot start the text indexer", ctx->path);
        return -1;
    }
    ctx->index_running = true;
    return 0;
}

void sq_indexer_stop(struct sq_ctx *ctx)
{
    if (!ctx->index_running)
        return;
    pthread_mutex_lock(&ctx->index_lock);
    ctx->index_stop = true;
    pthread_cond_signal(&ctx->index_cond);
    pthread_mutex_unlock(&ctx->index_lock);
    pthread_join(ctx->index_thread, NULL);
    ctx->index_running = false;
    sq_conn_close(ctx->index_conn);
    ctx->index_conn = NULL;
}

void sq_indexer_kick(struct sq_ctx *ctx)
{
    pthread_mutex_lock(&ctx->index_lock);
    ctx->index_kick = true;
    pthread_cond_signal(&ctx->index_cond);
    pthread_mutex_unlock(&ctx->index_lock);
}
