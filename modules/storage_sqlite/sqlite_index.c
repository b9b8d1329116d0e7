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
 * once more. Its batches go through the store's writer turn, as APPENDs
 * do (PH_SQL_WRITE_LAZY, alone). */
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

struct batch {
    int n;
    int64_t bytes;
};

static int batch_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct batch *b = arg;
    int64_t ids[BATCH_MAX_TEXTS];
    struct ph_sql_cursor *cur = NULL;
    *b = (struct batch){0};
    int ret = ph_sql_query(c, PH_SQS_TEXT_PENDING, &cur, error_r,
                           PH_SQL_I(BATCH_MAX_TEXTS));
    while (ret == 0 && b->n < BATCH_MAX_TEXTS && b->bytes < BATCH_MAX_BYTES &&
           (ret = ph_sql_next(cur, error_r)) == 1) {
        ids[b->n++] = ph_sql_int(cur, 0);
        b->bytes += ph_sql_int(cur, 1);
        ret = 0;
    }
    ph_sql_close(&cur);
    for (int i = 0; ret == 0 && i < b->n; i++)
        ret = ph_sql_exec(c, PH_SQS_TEXT_INDEX, error_r, PH_SQL_I(ids[i]));
    return ret;
}

/* Indexes one batch: the number of texts indexed, or -1. */
static int index_batch(struct sq_ctx *ctx)
{
    struct batch b;
    const char *err = NULL;
    if (ph_sql_txn(ph_sqlstore_sql(ctx->store), PH_SQL_WRITE_LAZY,
                   PH_SQL_ALONE, batch_txn, &b, &err) < 0) {
        ph_log_error("%s event=index_failed reason=\"%s\"", SQ_MOD, err);
        return -1;
    }
    if (b.n > 0)
        ph_sqlstore_debug(ctx->store, "event=indexed texts=%d bytes=%" PRId64,
                          b.n, b.bytes);
    return b.n;
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
    ctx->index_kick = true; /* a first look at once */
    if (pthread_create(&ctx->index_thread, NULL, index_main, ctx) != 0) {
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
}

void sq_indexer_kick(void *dctx)
{
    struct sq_ctx *ctx = dctx;
    pthread_mutex_lock(&ctx->index_lock);
    ctx->index_kick = true;
    pthread_cond_signal(&ctx->index_cond);
    pthread_mutex_unlock(&ctx->index_lock);
}
