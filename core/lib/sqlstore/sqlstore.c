/* SPDX-License-Identifier: MIT */
/* The SQL mail store (sqlstore.h): opening it (schema, re-derivation,
 * sweeping), the rows every file reads, bodies' bytes, wake-ups.
 *
 * Bodies are shared by copies. A deleted message records its body in
 * body_unref (a trigger); a body that has no message left after the grace
 * period (body_grace) goes in a sweep after an expunge, never in the
 * transaction that expunged it: two expunges of two copies on two nodes
 * each see the other's message still there and would both keep it, and a
 * FETCH that streams the bytes chunk by chunk must find them to the end. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "sqlstore-private.h"

#define RETRIES 3
#define REDERIVE_BATCH 64
#define SWEEP_BATCH 256
/* At most this long between sweeps after expunges. */
#define SWEEP_INTERVAL_S 60

const char *const ph_sqlstore_header_fields[PH_SQLSTORE_HEADER_FIELDS] = {
    "from", "to", "cc", "bcc", "subject"};

const char *const ph_sqlstore_stmt_ops[PH_SQS_COUNT] = {
#define OP_(name, op, sql) [PH_SQS_##name] = op,
    PH_SQS_STATEMENTS(OP_)
#undef OP_
};

/* The SQL both engines take; a driver's table overrides it. */
static const char *const stmt_sql[PH_SQS_COUNT] = {
#define SQL_(name, op, sql) [PH_SQS_##name] = sql,
    PH_SQS_STATEMENTS(SQL_)
#undef SQL_
};

void ph_sqlstore_debug(const struct ph_sqlstore *s, const char *fmt, ...)
{
    if (!s->debug && !ph_log_debug_enabled())
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* The module's own `debug` shows its lines without the global one. */
    ph_log(s->debug ? PH_LOG_INFO : PH_LOG_DEBUG, "mod=%s debug=1 %s",
           s->log_mod, line);
}

char *sqls_name(const char *name, int *err_r, const char **error_r)
{
    const char *why = NULL;
    char *canon = name != NULL ? ph_mailbox_name_canonical(name, &why) : NULL;
    if (canon == NULL) {
        *error_r = ph_storage_errorf("Invalid mailbox name: %s",
                                     why != NULL ? why : "missing");
        *err_r = PH_STORAGE_ERR_INVALID;
    }
    return canon;
}

int sqls_mbox_get(struct ph_sql_conn *c, int stmt, int64_t key,
                  const char *name, struct sqls_mbox *r, const char **error_r)
{
    struct ph_sql_cursor *cur = NULL;
    int ret = name != NULL
                  ? ph_sql_query(c, stmt, &cur, error_r, PH_SQL_I(key),
                                 PH_SQL_S(name))
                  : ph_sql_query(c, stmt, &cur, error_r, PH_SQL_I(key));
    if (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 1)
        *r = (struct sqls_mbox){
            .id = ph_sql_int(cur, 0),
            .uidvalidity = (uint32_t)ph_sql_int(cur, 1),
            .uidnext = (uint32_t)ph_sql_int(cur, 2),
            .highestmodseq = (uint64_t)ph_sql_int(cur, 3),
            .recent_uid = (uint32_t)ph_sql_int(cur, 4),
            .special_use = (uint32_t)ph_sql_int(cur, 5),
            .noselect = ph_sql_int(cur, 6) != 0,
            .messages = (uint32_t)ph_sql_int(cur, 7),
            .unseen = (uint32_t)ph_sql_int(cur, 8),
            .size = (uint64_t)ph_sql_int(cur, 9),
            .tombstones_from = (uint64_t)ph_sql_int(cur, 10),
        };
    ph_sql_close(&cur);
    return ret;
}

int sqls_mb_row(struct sqls_mailbox *mb, struct ph_sql_conn *c, int stmt,
                struct sqls_mbox *r, const char **error_r)
{
    int ret = sqls_mbox_get(c, stmt, mb->id, NULL, r, error_r);
    if (ret < 0)
        return ret;
    if (ret == 0 || r->noselect || r->uidvalidity != mb->pub.uidvalidity)
        return sqls_fail(PH_STORAGE_ERR_NOT_FOUND, "Mailbox was deleted",
                         error_r);
    return 0;
}

static int uid_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void sqls_uidset_add_many(struct ph_uidset *s, uint32_t *v, size_t n)
{
    if (n == 0)
        return;
    qsort(v, n, sizeof(*v), uid_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && v[j + 1] <= v[j] + 1)
            j++;
        if (s->n == 0 || (uint64_t)s->r[s->n - 1].hi + 1 < v[i]) {
            ph_array_grow(&s->r, &s->cap, s->n + 1, sizeof(*s->r));
            s->r[s->n++] = (struct ph_uid_range){v[i], v[j]};
        } else {
            ph_uidset_add_range(s, v[i], v[j]);
        }
        i = j + 1;
    }
}

int sqls_uids_read(struct ph_sql_cursor **cur, struct ph_uidset *s,
                   const char **error_r)
{
    uint32_t *v = NULL;
    size_t n = 0, cap = 0;
    int ret;
    while ((ret = ph_sql_next(*cur, error_r)) == 1) {
        ph_array_grow(&v, &cap, n + 1, sizeof(*v));
        v[n++] = (uint32_t)ph_sql_int(*cur, 0);
    }
    ph_sql_close(cur);
    if (ret == 0)
        sqls_uidset_add_many(s, v, n);
    free(v);
    return ret;
}

void sqls_objectid_new(char prefix, char out[SQLS_OBJECTID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t rnd[(SQLS_OBJECTID_LEN - 1) / 2];
    size_t got = 0;
    while (got < sizeof(rnd)) {
        ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
        ph_assert(n > 0 || errno == EINTR);
        if (n > 0)
            got += (size_t)n;
    }
    out[0] = prefix;
    for (size_t i = 0; i < sizeof(rnd); i++) {
        out[1 + 2 * i] = hex[rnd[i] >> 4];
        out[2 + 2 * i] = hex[rnd[i] & 15];
    }
    out[SQLS_OBJECTID_LEN] = '\0';
}

void sqls_row_free(struct msg_row *r)
{
    free(r->keywords);
    free(r->info);
    free(r->envelope);
    free(r->bodystructure);
    free(r->body);
    free(r->emailid);
    free(r->threadid);
    free(r->preview);
    *r = (struct msg_row){0};
}

void sqls_rows_clear(struct msg_rows *rows)
{
    for (size_t i = 0; i < rows->n; i++)
        sqls_row_free(&rows->v[i]);
    free(rows->v);
    *rows = (struct msg_rows){0};
}

void sqls_row_add(struct ph_sql_cursor *cur, int ncols, struct msg_rows *rows)
{
    ph_array_grow(&rows->v, &rows->cap, rows->n + 1, sizeof(*rows->v));
    struct msg_row *r = &rows->v[rows->n++];
    *r = (struct msg_row){
        .uid = (uint32_t)ph_sql_int(cur, 0),
        .modseq = (uint64_t)ph_sql_int(cur, 1),
        .flags = (uint32_t)ph_sql_int(cur, 2),
        .keywords = ph_sql_strdup(cur, 3),
        .internal_date = ph_sql_int(cur, 4),
        .internal_tz = (int)ph_sql_int(cur, 5),
        .size = (uint64_t)ph_sql_int(cur, 6),
        .body_id = ph_sql_int(cur, 7),
    };
    if (r->keywords != NULL && r->keywords[0] == '\0') {
        free(r->keywords);
        r->keywords = NULL;
    }
    size_t len;
    const void *info = ncols > 8 ? ph_sql_bytes(cur, 8, &len) : NULL;
    if (info != NULL) {
        r->info = ph_malloc(len > 0 ? len : 1);
        memcpy(r->info, info, len);
        r->info_size = len;
    }
    if (ncols > 9) {
        r->envelope = ph_sql_strdup(cur, 9);
        r->bodystructure = ph_sql_strdup(cur, 10);
        r->body = ph_sql_strdup(cur, 11);
    }
    if (ncols > 12) {
        r->emailid = ph_sql_strdup(cur, 12);
        r->threadid = ph_sql_strdup(cur, 13);
        r->preview = ph_sql_strdup(cur, 14);
    }
}

int sqls_rows_read(struct ph_sql_cursor *cur, int ncols, struct msg_rows *rows,
                   const char **error_r)
{
    int ret;
    while ((ret = ph_sql_next(cur, error_r)) == 1)
        sqls_row_add(cur, ncols, rows);
    return ret;
}

int sqls_rows_deliver(const struct sqls_mailbox *mb, struct msg_rows *rows,
                      ph_meta_cb *cb, void *arg)
{
    char **kw = NULL;
    size_t cap = 0;
    int ret = 0;
    for (size_t i = 0; i < rows->n && ret == 0; i++) {
        struct msg_row *r = &rows->v[i];
        size_t nkw = ph_keywords_split(r->keywords, &kw, &cap);
        struct ph_message_meta meta = {
            .uid = r->uid,
            .modseq = r->modseq,
            .flags = r->flags,
            .keywords = kw,
            .nkeywords = nkw,
            .recent = ph_uidset_contains(&mb->recent, r->uid),
            .internal_date = (time_t)r->internal_date,
            .internal_tz = r->internal_tz,
            .size = r->size,
            .info = r->info,
            .info_size = r->info_size,
            .envelope = r->envelope,
            .bodystructure = r->bodystructure,
            .body = r->body,
            .emailid = r->emailid,
            .threadid = r->threadid,
            .preview = r->preview,
        };
        ret = cb(arg, &meta);
    }
    free(kw);
    return ret;
}

int sqls_body_read(struct ph_sqlstore *s, struct ph_sql_conn *c,
                   int64_t body_id, uint64_t size, uint64_t offset, void *buf,
                   size_t len, const char **error_r)
{
    if (s->d->body_read != NULL)
        return s->d->body_read(c, body_id, size, offset, buf, len, error_r);
    uint64_t seq = offset / s->d->chunk_size;
    size_t at = (size_t)(offset - seq * s->d->chunk_size), got = 0;
    struct ph_sql_cursor *cur = NULL;
    int ret = ph_sql_query(c, PH_SQS_BODY_CHUNK_GET, &cur, error_r,
                           PH_SQL_I(body_id), PH_SQL_I(seq));
    if (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 0)
        ret = sqls_fail(PH_STORAGE_ERR_NOT_FOUND, "Message was expunged",
                        error_r);
    const char *data = ret == 1 ? ph_sql_bytes(cur, 0, &got) : NULL;
    if (ret == 1 && (got < at || got - at < len)) {
        ph_log_error("mod=%s event=corrupt db=%s body=%" PRId64
                     " reason=short_chunk",
                     s->log_mod, s->db, body_id);
        ret = sqls_fail(PH_STORAGE_ERR_CORRUPTED, "Stored message is damaged",
                        error_r);
    } else if (ret == 1) {
        memcpy(buf, data + at, len);
        ret = 0;
    }
    ph_sql_close(&cur);
    return ret;
}

/* ---- Wake-ups --------------------------------------------------------------
 */

void ph_sqlstore_wake(struct ph_sqlstore *s, int64_t mailbox_id)
{
    pthread_mutex_lock(&s->watch_lock);
    for (struct sqls_watcher *w = s->watchers; w != NULL; w = w->next)
        if (mailbox_id < 0 || w->mailbox_id == mailbox_id)
            w->wake(w->arg);
    pthread_mutex_unlock(&s->watch_lock);
}

static int before_commit(void *arg, struct ph_sql_conn *c, const int64_t *ids,
                         size_t n, const char **error_r)
{
    struct ph_sqlstore *s = arg;
    return s->d->announce != NULL
               ? s->d->announce(c, s->token, ids, n, error_r)
               : 0;
}

static void after_commit(void *arg, const int64_t *ids, size_t n)
{
    struct ph_sqlstore *s = arg;
    for (size_t i = 0; i < n; i++)
        ph_sqlstore_wake(s, ids[i]);
    if (s->d->announced != NULL)
        s->d->announced(s->dctx, ids, n);
}

/* Under watch_lock: whether a watcher of this process watches the mailbox. */
static bool watched(struct ph_sqlstore *s, int64_t mailbox_id)
{
    for (struct sqls_watcher *w = s->watchers; w != NULL; w = w->next)
        if (w->mailbox_id == mailbox_id)
            return true;
    return false;
}

/* Tells the dialect whether this process hears of the mailbox now; in
 * turns, so that it learns the last word of a watch and a remove that
 * race. For a watch it returns once that is in place: the caller's
 * changes() after watch() misses nothing. */
static void listen_sync(struct ph_sqlstore *s, int64_t mailbox_id)
{
    if (s->d->listen == NULL)
        return;
    pthread_mutex_lock(&s->listen_lock);
    pthread_mutex_lock(&s->watch_lock);
    bool on = watched(s, mailbox_id);
    pthread_mutex_unlock(&s->watch_lock);
    s->d->listen(s->dctx, mailbox_id, on);
    pthread_mutex_unlock(&s->listen_lock);
}

int sqls_watch(struct ph_mailbox *pub, void (*wake)(void *arg), void *arg,
               const char **error_r)
{
    struct sqls_mailbox *mb = (struct sqls_mailbox *)pub;
    struct ph_sqlstore *s = mb->s;
    (void)error_r;
    if (wake == NULL) {
        sqls_watch_remove(mb);
        return 0;
    }
    pthread_mutex_lock(&s->watch_lock);
    mb->watcher.mailbox_id = mb->id;
    mb->watcher.wake = wake;
    mb->watcher.arg = arg;
    if (!mb->watching) {
        mb->watcher.prev = NULL;
        mb->watcher.next = s->watchers;
        if (s->watchers != NULL)
            s->watchers->prev = &mb->watcher;
        s->watchers = &mb->watcher;
        mb->watching = true;
    }
    pthread_mutex_unlock(&s->watch_lock);
    listen_sync(s, mb->id);
    return 0;
}

void sqls_watch_remove(struct sqls_mailbox *mb)
{
    struct ph_sqlstore *s = mb->s;
    bool last = false;
    pthread_mutex_lock(&s->watch_lock);
    if (mb->watching) {
        struct sqls_watcher *w = &mb->watcher;
        if (w->prev != NULL)
            w->prev->next = w->next;
        else
            s->watchers = w->next;
        if (w->next != NULL)
            w->next->prev = w->prev;
        mb->watching = false;
        last = !watched(s, mb->id);
    }
    pthread_mutex_unlock(&s->watch_lock);
    if (last)
        listen_sync(s, mb->id);
}

/* ---- Opening: schema, re-derivation, sweeping ------------------------------
 */

/* The first column of the first row of parameterless sql (0 without). */
static int text_int(struct ph_sql_conn *c, const char *sql, int64_t *v_r,
                    const char **error_r)
{
    struct ph_sql_builder b = {0};
    struct ph_sql_cursor *cur = NULL;
    ph_sql_frag(&b, sql);
    *v_r = 0;
    int ret = ph_sql_query_built(c, &b, &cur, error_r);
    if (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 1) {
        *v_r = ph_sql_int(cur, 0);
        ret = 0;
    }
    ph_sql_close(&cur);
    ph_sql_builder_clear(&b);
    return ret;
}

static int schema_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct ph_sqlstore *s = arg;
    const struct ph_sqlstore_dialect *d = s->d;
    const int64_t latest = (int64_t)d->n_migrations;
    int64_t version = 0, foreign = 0;
    int ret = d->schema_init != NULL ? ph_sql_script(c, d->schema_init, error_r)
                                     : 0;
    if (ret == 0)
        ret = text_int(c, d->schema_version, &version, error_r);
    if (ret == 0)
        ret = text_int(c, d->schema_foreign, &foreign, error_r);
    if (ret == 0 && foreign)
        ret = sqls_fail(PH_STORAGE_ERR_CORRUPTED,
                        "it is not a posthorn mail database", error_r);
    if (ret == 0 && version > latest)
        ret = sqls_fail(PH_STORAGE_ERR_CORRUPTED,
                        ph_storage_errorf("schema version %" PRId64
                                          " is newer than this posthorn "
                                          "knows (%" PRId64
                                          "): upgrade posthorn",
                                          version, latest),
                        error_r);
    for (int64_t v = version; ret == 0 && v < latest; v++) {
        ret = ph_sql_script(c, d->migrations[v], error_r);
        if (ret == 0)
            ph_log_info("mod=%s event=schema_upgraded db=%s version=%" PRId64,
                        s->log_mod, s->db, v + 1);
    }
    if (ret == 0 && version < latest) {
        char *sql = ph_strdup_printf(d->schema_set, (long long)latest);
        ret = ph_sql_script(c, sql, error_r);
        free(sql);
    }
    return ret;
}

/* The first column of up to max rows of *cur (ret: the query's), which
 * it closes; *n_r says how many. */
static int ids_read(int ret, struct ph_sql_cursor **cur, int64_t *ids,
                    int64_t max, int64_t *n_r, const char **error_r)
{
    *n_r = 0;
    while (ret == 0 && *n_r < max && (ret = ph_sql_next(*cur, error_r)) == 1) {
        ids[(*n_r)++] = ph_sql_int(*cur, 0);
        ret = 0;
    }
    ph_sql_close(cur);
    return ret;
}

struct rederive_op {
    struct ph_sqlstore *s;
    int64_t n;
};

static int rederive_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct rederive_op *o = arg;
    int64_t ids[REDERIVE_BATCH];
    struct ph_sql_cursor *cur = NULL;
    int ret = ph_sql_query(c, PH_SQS_REDERIVE_NEXT, &cur, error_r,
                           PH_SQL_I(REDERIVE_BATCH));
    ret = ids_read(ret, &cur, ids, REDERIVE_BATCH, &o->n, error_r);
    for (int64_t i = 0; ret == 0 && i < o->n; i++) {
        ret = sqls_rederive_body(o->s, c, ids[i], error_r);
        if (ret == 0)
            ret = ph_sql_exec(c, PH_SQS_REDERIVE_DONE, error_r,
                              PH_SQL_I(ids[i]));
    }
    return ret;
}

/* The bodies listed in rederive, made anew a batch per transaction: an
 * upgrade that stops half-way goes on at the next start, and nodes that
 * start together share the work. */
static int rederive(struct ph_sqlstore *s, const char **error_r)
{
    struct rederive_op o = {.s = s};
    uint64_t done = 0;
    for (;;) {
        int ret = ph_sql_txn(s->sql, PH_SQL_WRITE, PH_SQL_ALONE, rederive_txn,
                             &o, error_r);
        if (ret < 0)
            return ret;
        done += (uint64_t)o.n;
        if (o.n > 0)
            ph_log_info("mod=%s event=rederived db=%s bodies=%" PRIu64,
                        s->log_mod, s->db, done);
        if (o.n < REDERIVE_BATCH)
            return 0;
    }
}

struct sweep_op {
    int64_t before, n;
    uint64_t deleted;
};

static int sweep_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct sweep_op *o = arg;
    int64_t ids[SWEEP_BATCH];
    o->deleted = 0;
    struct ph_sql_cursor *cur = NULL;
    int ret = ph_sql_query(c, PH_SQS_UNREF_DUE, &cur, error_r,
                           PH_SQL_I(o->before), PH_SQL_I(SWEEP_BATCH));
    ret = ids_read(ret, &cur, ids, SWEEP_BATCH, &o->n, error_r);
    for (int64_t i = 0; ret == 0 && i < o->n; i++) {
        uint64_t gone = 0;
        ret = ph_sql_exec_a(c, PH_SQS_BODY_DELETE_UNREF,
                            PH_SQL_ARGS(PH_SQL_I(ids[i])), &gone, error_r);
        o->deleted += gone;
        if (ret == 0)
            ret = ph_sql_exec(c, PH_SQS_UNREF_DONE, error_r, PH_SQL_I(ids[i]),
                              PH_SQL_I(o->before));
    }
    return ret;
}

/* Purges the tombstones made before the horizon: each mailbox's
 * tombstones_from is raised to the highest modseq among them and every
 * tombstone at or below it goes, in one transaction, so that what is left
 * above tombstones_from stays complete (a tombstone that came late across
 * nodes' clocks still goes with the ones below it). */
static int purge_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct sweep_op *o = arg;
    o->deleted = 0;
    int ret = ph_sql_exec(c, PH_SQS_TOMB_PURGE_MARK, error_r,
                          PH_SQL_I(o->before));
    if (ret == 0)
        ret = ph_sql_exec_a(c, PH_SQS_TOMB_PURGE,
                            PH_SQL_ARGS(PH_SQL_I(o->before)), &o->deleted,
                            error_r);
    return ret;
}

/* Seconds of the clock the database stamps tombstones and unreferenced
 * bodies with (SQLite's 'now' and PostgreSQL's now() read the precise
 * clock). Not time(): it reads the kernel's coarse clock, which lags by up
 * to a tick, so just after a second begins a row stamped 13 would be
 * compared with 12 and outlive a horizon of 0s. */
static int64_t db_clock_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

/* Deletes the bodies that lost their last message before the grace, and
 * the tombstones older than the horizon. */
static int sweep(struct ph_sqlstore *s, const char **error_r)
{
    struct sweep_op o = {.before = db_clock_s() - s->horizon};
    atomic_store(&s->last_sweep, (long long)time(NULL));
    int ret = ph_sql_txn(s->sql, PH_SQL_WRITE_LIGHT, PH_SQL_ALONE, purge_txn,
                         &o, error_r);
    if (ret < 0)
        return ret;
    if (o.deleted > 0)
        ph_sqlstore_debug(s, "event=tombstones_purged db=%s tombstones=%" PRIu64,
                          s->db, o.deleted);
    o.before = db_clock_s() - s->grace;
    do {
        ret = ph_sql_txn(s->sql, PH_SQL_WRITE_LIGHT, PH_SQL_ALONE, sweep_txn,
                         &o, error_r);
        if (ret < 0)
            return ret;
        if (o.deleted > 0)
            ph_sqlstore_debug(s, "event=bodies_swept db=%s bodies=%" PRIu64,
                              s->db, o.deleted);
    } while (o.n == SWEEP_BATCH);
    return 0;
}

void sqls_sweep_maybe(struct ph_sqlstore *s)
{
    long long now = (long long)time(NULL), last = atomic_load(&s->last_sweep);
    long long every = s->grace < SWEEP_INTERVAL_S ? s->grace : SWEEP_INTERVAL_S;
    every = s->horizon < every ? s->horizon : every;
    if (now - last < every ||
        !atomic_compare_exchange_strong(&s->last_sweep, &last, now))
        return;
    const char *err = NULL;
    if (sweep(s, &err) < 0)
        ph_log_warn("mod=%s event=sweep_failed db=%s reason=\"%s\"",
                    s->log_mod, s->db, err);
}

int ph_sqlstore_new(const struct ph_sqlstore_params *p,
                    struct ph_sqlstore **s_r, char **error_r)
{
    const struct ph_sqlstore_dialect *d = p->dialect;
    if (d->abi_minor < 4 || d->size < sizeof(*d)) {
        *error_r = ph_strdup_printf("%s: dialect not built for this posthorn",
                                    p->log_mod);
        return -1;
    }
    struct ph_sqlstore *s = ph_calloc(1, sizeof(*s));
    s->inst = p->inst;
    s->d = d;
    s->dctx = p->dctx;
    s->log_mod = ph_strdup(p->log_mod);
    s->db = ph_strdup(p->db);
    s->spill_dir = ph_strdup(p->spill_dir);
    s->debug = p->debug;
    s->grace = p->body_grace_s;
    s->horizon = p->tombstone_horizon_s;
    s->ghosts = p->drv->n_stmts > PH_SQS_TOMB_KEEP_UIDS &&
                p->drv->stmts[PH_SQS_TOMB_KEEP_UIDS] != NULL;
    uint64_t token = 0;
    if (getrandom(&token, sizeof(token), 0) != (ssize_t)sizeof(token))
        /* Only a filter for this process's echoes: distinct is enough. */
        token = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    snprintf(s->token, sizeof(s->token), "%016" PRIx64, token);
    pthread_mutex_init(&s->watch_lock, NULL);
    pthread_mutex_init(&s->listen_lock, NULL);
    pthread_mutex_init(&s->shared_lock, NULL);
    pthread_cond_init(&s->shared_cond, NULL);
    struct ph_sql_params sp = {
        .max_conns = p->max_conns,
        .retries = RETRIES,
        .stmts = stmt_sql,
        .n_stmts = PH_SQS_COUNT,
        .log_mod = p->log_mod,
        .db = p->db,
        .before_commit = before_commit,
        .after_commit = after_commit,
        .hook_arg = s,
    };
    const char *err = NULL;
    struct ph_sql_conn *c = NULL;
    /* The driver's hooks may log through it from here on. */
    *s_r = s;
    if (ph_sql_new(p->drv, p->dctx, &sp, &s->sql, error_r) < 0)
        goto fail;
    if (ph_sql_txn(s->sql, PH_SQL_SCHEMA, PH_SQL_ALONE, schema_txn, s, &err) <
        0)
        goto fail_err;
    if (d->schema_extras != NULL) {
        if (ph_sql_get(s->sql, &c, &err) < 0)
            goto fail_err;
        d->schema_extras(p->dctx, c);
        ph_sql_put(s->sql, &c);
    }
    if (rederive(s, &err) < 0 || sweep(s, &err) < 0)
        goto fail_err;
    if (sqls_indexer_start(s, p->text_index_wait_ms, error_r) < 0)
        goto fail;
    return 0;
fail_err:
    *error_r = ph_strdup_printf("%s: %s", p->db, err);
fail:
    ph_sqlstore_free(&s);
    *s_r = NULL;
    return -1;
}

void ph_sqlstore_free(struct ph_sqlstore **sp)
{
    struct ph_sqlstore *s = *sp;
    if (s == NULL)
        return;
    ph_assert(s->watchers == NULL);
    /* *sp stays until the indexer is joined: a driver's dctx holds the
     * store there, and the indexer's statements read it (its log). */
    sqls_indexer_stop(s);
    ph_sql_free(&s->sql);
    pthread_mutex_destroy(&s->watch_lock);
    pthread_mutex_destroy(&s->listen_lock);
    sqls_shared_clear(s);
    pthread_mutex_destroy(&s->shared_lock);
    pthread_cond_destroy(&s->shared_cond);
    free(s->log_mod);
    free(s->db);
    free(s->spill_dir);
    free(s);
    *sp = NULL;
}

struct ph_sql *ph_sqlstore_sql(struct ph_sqlstore *s)
{
    return s->sql;
}

void *ph_sqlstore_dctx(struct ph_sqlstore *s)
{
    return s->dctx;
}

const char *ph_sqlstore_token(const struct ph_sqlstore *s)
{
    return s->token;
}

const struct ph_storage_vfuncs ph_sqlstore_vfuncs = {
    .account_get = sqls_account_get,
    .account_release = sqls_account_release,
    .account_create = sqls_account_create,
    .account_delete = sqls_account_delete,
    .account_list = sqls_account_list,
    .mailbox_list = sqls_mailbox_list,
    .mailbox_create = sqls_mailbox_create,
    .mailbox_delete = sqls_mailbox_delete,
    .mailbox_rename = sqls_mailbox_rename,
    .mailbox_subscribe = sqls_mailbox_subscribe,
    .mailbox_status = sqls_mailbox_status,
    .mailbox_open = sqls_mailbox_open,
    .mailbox_close = sqls_mailbox_close,
    .fetch = sqls_fetch,
    .read = sqls_read,
    .store = sqls_store,
    .copy = sqls_copy,
    .expunge = sqls_expunge,
    .changes = sqls_changes,
    .watch = sqls_watch,
    .append_begin = sqls_append_begin,
    .append_write = sqls_append_write,
    .append_finish = sqls_append_finish,
    .append_abort = sqls_append_abort,
    .search = sqls_search,
    .fetch_what =
        PH_META_FETCH | PH_META_GHOSTS | PH_META_OBJECTID | PH_META_PREVIEW,
    .sort = sqls_sort,
    .sort_keys = sqls_sort_keys,
    .append_finish_all = sqls_append_finish_all,
    .quota_get = sqls_quota_get,
    .quota_set = sqls_quota_set,
};
