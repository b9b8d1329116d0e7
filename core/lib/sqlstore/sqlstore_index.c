/* SPDX-License-Identifier: MIT */
/* The SQL mail store: the text indexer, for engines whose dialect keeps
 * new texts pending (PH_SQLSTORE_TEXT_PENDING).
 *
 * APPEND stores a body's folded text as pending; this thread moves
 * pending texts into the engine's text index (PH_SQS_TEXT_PENDING, then
 * PH_SQS_TEXT_INDEX for each), many per transaction. An index insert is
 * costly, and more so inside APPEND's transaction: storage.sqlite's FTS5
 * trigram tokenizing (about 0.7 ms for 11 KB of text; a batch of 50 costs
 * half as much per text as 50 single inserts) cut APPEND throughput by a
 * quarter; storage.pgsql's pg_trgm GIN index, maintained by every APPEND,
 * by 40 to 50% (docs/design.md, Storage model). The indexer waits for a
 * pause in APPENDs (text_index_wait, but never longer than DELAY_MAX_MS
 * or that wait in all): during a burst it would take CPU, and with
 * SQLite the write lock, from them.
 *
 * A pending text is a candidate of every TEXT and BODY search (the
 * dialect's put_text reads it without the index and confirms it like any
 * other), so answers never depend on how far the indexer has come. Its
 * commits are lazy (PH_SQL_WRITE_LAZY): a batch a power cut takes back is
 * pending again, and indexed once more; a crash between an APPEND and
 * the move loses nothing, the move being one transaction. Several
 * processes or nodes may run one each: PH_SQS_TEXT_INDEX changes only a
 * text still pending (and storage.pgsql's PH_SQS_TEXT_PENDING skips rows
 * another node's batch holds). */
#include <errno.h>
#include <time.h>

#include "sqlstore-private.h"

/* One transaction indexes at most this many texts, and stops adding
 * once they hold this many bytes: APPENDs may wait for it. */
#define BATCH_MAX_TEXTS 64
#define BATCH_MAX_BYTES (1024 * 1024)
/* After a kick the indexer waits for a pause in APPENDs of
 * text_index_wait, but not longer than this in all (or that wait, when
 * it is longer). */
#define DELAY_MAX_MS 10000
/* Without a kick, a look every so often: another process (a `posthorn`
 * admin command delivering mail, another node that stopped) may have left
 * pending texts. */
#define IDLE_CHECK_S 60

/* Waits on the indexer's condition until stop, or kick when wake_on_kick,
 * or ms passed; called and returns with index_lock held. */
static void wait_ms(struct ph_sqlstore *s, int64_t ms, bool wake_on_kick)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!s->index_stop && !(wake_on_kick && s->index_kick))
        if (pthread_cond_timedwait(&s->index_cond, &s->index_lock, &until) ==
            ETIMEDOUT)
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
static int index_batch(struct ph_sqlstore *s)
{
    struct batch b;
    const char *err = NULL;
    if (ph_sql_txn(s->sql, PH_SQL_WRITE_LAZY, PH_SQL_ALONE, batch_txn, &b,
                   &err) < 0) {
        ph_log_error("mod=%s event=index_failed db=%s reason=\"%s\"",
                     s->log_mod, s->db, err);
        return -1;
    }
    if (b.n > 0)
        ph_sqlstore_debug(s, "event=indexed texts=%d bytes=%" PRId64, b.n,
                          b.bytes);
    return b.n;
}

static void *index_main(void *arg)
{
    struct ph_sqlstore *s = arg;
    int64_t delay_max =
        s->index_wait > DELAY_MAX_MS ? s->index_wait : DELAY_MAX_MS;
    pthread_mutex_lock(&s->index_lock);
    while (!s->index_stop) {
        if (!s->index_kick)
            wait_ms(s, IDLE_CHECK_S * 1000, true);
        for (int64_t waited = 0; !s->index_stop && waited < delay_max;
             waited += s->index_wait) {
            s->index_kick = false;
            wait_ms(s, s->index_wait, false);
            if (!s->index_kick)
                break;
        }
        s->index_kick = false;
        while (!s->index_stop) {
            pthread_mutex_unlock(&s->index_lock);
            int n = index_batch(s);
            pthread_mutex_lock(&s->index_lock);
            if (n <= 0)
                break;
        }
    }
    pthread_mutex_unlock(&s->index_lock);
    return NULL;
}

int sqls_indexer_start(struct ph_sqlstore *s, int64_t wait_ms_, char **error_r)
{
    pthread_mutex_init(&s->index_lock, NULL);
    pthread_cond_init(&s->index_cond, NULL);
    s->index_init = true;
    if (!(s->d->text_flags & PH_SQLSTORE_TEXT_PENDING) ||
        s->d->text_added != NULL)
        return 0; /* no pending texts, or the engine's own indexer */
    s->index_wait = wait_ms_ > 0 ? wait_ms_ : SQLS_INDEX_WAIT_MS;
    s->index_kick = true; /* a first look at once */
    if (pthread_create(&s->index_thread, NULL, index_main, s) != 0) {
        *error_r = ph_strdup_printf("%s: cannot start the text indexer", s->db);
        return -1;
    }
    s->index_running = true;
    return 0;
}

void sqls_indexer_stop(struct ph_sqlstore *s)
{
    if (!s->index_init)
        return;
    if (s->index_running) {
        pthread_mutex_lock(&s->index_lock);
        s->index_stop = true;
        pthread_cond_signal(&s->index_cond);
        pthread_mutex_unlock(&s->index_lock);
        pthread_join(s->index_thread, NULL);
        s->index_running = false;
    }
    pthread_mutex_destroy(&s->index_lock);
    pthread_cond_destroy(&s->index_cond);
    s->index_init = false;
}

void sqls_indexer_kick(struct ph_sqlstore *s)
{
    if (s->d->text_added != NULL) {
        s->d->text_added(s->dctx);
        return;
    }
    if (!s->index_init)
        return;
    pthread_mutex_lock(&s->index_lock);
    s->index_kick = true;
    pthread_cond_signal(&s->index_cond);
    pthread_mutex_unlock(&s->index_lock);
}
