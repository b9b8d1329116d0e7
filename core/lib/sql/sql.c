/* SPDX-License-Identifier: MIT */
/* The SQL layer (sql.h): a pool of a driver's connections, transactions
 * run again after transient failures, commit hooks, the ad hoc builder.
 *
 * One-writer engines (PH_SQL_CAP_ONE_WRITER): this process's write
 * transactions take turns on write_lock, so only other processes'
 * writers ever wait in the engine's busy handler. Their small writes
 * (flags, expunges, small APPENDs) commit in groups: the writers that
 * queued while a commit was being made go into the next transaction
 * together, one savepoint each, and pay for one commit and its fsync;
 * each is answered after that commit. No writer waits for a group to
 * fill: a group is whatever queued meanwhile, so a lone writer commits
 * at once, as before. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <posthorn/log.h>
#include <posthorn/sql.h>

struct ph_sql {
    const struct ph_sql_driver *drv;
    void *dctx;
    struct ph_sql_params p;
    char *log_mod, *db;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct ph_sql_conn *idle;
    unsigned nconns;
    pthread_mutex_t write_lock;
    const char **stmts; /* the driver's, else the caller's */
    size_t n_stmts;
    /* The writers waiting for a group commit, and whether one of them is
     * making one (under group_lock). */
    pthread_mutex_t group_lock;
    pthread_cond_t group_cond;
    struct txn_req *queue, **queue_tail;
    bool leading;
    struct ph_sql_stats stats; /* under lock */
};

/* A writer's transaction, waiting for a group commit. */
struct txn_req {
    enum ph_sql_txn_kind kind;
    ph_sql_txn_fn *fn;
    void *arg;
    int ret;
    bool retry, done;
    char *error; /* a copy: fn's text lives on the committing thread */
    struct txn_req *next;
};

/* The most transactions in one group: a bound on what one commit undoes
 * if it fails, and on the wait of the first of them. */
#define GROUP_MAX 64

int ph_sql_new(const struct ph_sql_driver *drv, void *dctx,
               const struct ph_sql_params *params, struct ph_sql **sql_r,
               char **error_r)
{
    if (drv->abi_minor < 4 || drv->size < sizeof(*drv)) {
        *error_r = ph_strdup_printf("SQL driver %s: not built for this "
                                    "posthorn (ABI 1.%u)",
                                    drv->name, drv->abi_minor);
        return -1;
    }
    struct ph_sql *sql = ph_calloc(1, sizeof(*sql));
    sql->drv = drv;
    sql->dctx = dctx;
    sql->p = *params;
    sql->log_mod = ph_strdup(params->log_mod ? params->log_mod : drv->name);
    sql->db = ph_strdup(params->db ? params->db : "");
    sql->p.log_mod = sql->log_mod;
    sql->p.db = sql->db;
    if (sql->p.max_conns == 0)
        sql->p.max_conns = 1;
    sql->n_stmts = params->n_stmts > drv->n_stmts ? params->n_stmts
                                                  : drv->n_stmts;
    sql->stmts = ph_calloc(sql->n_stmts + 1, sizeof(*sql->stmts));
    for (size_t i = 0; i < sql->n_stmts; i++)
        sql->stmts[i] = i < drv->n_stmts && drv->stmts[i] != NULL
                            ? drv->stmts[i]
                        : i < params->n_stmts ? params->stmts[i]
                                              : NULL;
    pthread_mutex_init(&sql->lock, NULL);
    pthread_cond_init(&sql->cond, NULL);
    pthread_mutex_init(&sql->write_lock, NULL);
    pthread_mutex_init(&sql->group_lock, NULL);
    pthread_cond_init(&sql->group_cond, NULL);
    sql->queue_tail = &sql->queue;
    *sql_r = sql;
    return 0;
}

static void conn_close(struct ph_sql_conn *c)
{
    free(c->marks);
    c->drv->close(c);
}

/* Closes the idle connections (under lock). */
static void pool_flush(struct ph_sql *sql)
{
    while (sql->idle != NULL) {
        struct ph_sql_conn *c = sql->idle;
        sql->idle = c->next;
        sql->nconns--;
        conn_close(c);
    }
    pthread_cond_broadcast(&sql->cond);
}

void ph_sql_free(struct ph_sql **sqlp)
{
    struct ph_sql *sql = *sqlp;
    if (sql == NULL)
        return;
    *sqlp = NULL;
    pthread_mutex_lock(&sql->lock);
    pool_flush(sql);
    ph_assert(sql->nconns == 0);
    pthread_mutex_unlock(&sql->lock);
    pthread_mutex_destroy(&sql->lock);
    pthread_cond_destroy(&sql->cond);
    pthread_mutex_destroy(&sql->write_lock);
    pthread_mutex_destroy(&sql->group_lock);
    pthread_cond_destroy(&sql->group_cond);
    free(sql->stmts);
    free(sql->log_mod);
    free(sql->db);
    free(sql);
}

int ph_sql_get(struct ph_sql *sql, struct ph_sql_conn **c_r,
               const char **error_r)
{
    struct ph_sql_conn *c;
    pthread_mutex_lock(&sql->lock);
    for (;;) {
        while (sql->idle == NULL && sql->nconns >= sql->p.max_conns)
            pthread_cond_wait(&sql->cond, &sql->lock);
        if ((c = sql->idle) == NULL)
            break;
        sql->idle = c->next;
        c->next = NULL;
        if (sql->drv->idle_ok(c)) {
            pthread_mutex_unlock(&sql->lock);
            *c_r = c;
            return 0;
        }
        /* Found closed before use: the caller gets a new one instead of
         * an error. */
        ph_log_info("mod=%s event=connection_closed_by_server db=%s",
                    sql->log_mod, sql->db);
        sql->nconns--;
        conn_close(c);
    }
    sql->nconns++;
    pthread_mutex_unlock(&sql->lock);
    int ret = sql->drv->open(sql->dctx, &c, error_r);
    if (ret < 0) {
        pthread_mutex_lock(&sql->lock);
        sql->nconns--;
        pthread_cond_signal(&sql->cond);
        pthread_mutex_unlock(&sql->lock);
        return ret;
    }
    c->drv = sql->drv;
    c->sql = sql;
    c->next = NULL;
    *c_r = c;
    return 0;
}

void ph_sql_put(struct ph_sql *sql, struct ph_sql_conn **cp)
{
    struct ph_sql_conn *c = *cp;
    if (c == NULL)
        return;
    *cp = NULL;
    c->retry = false;
    c->nmarks = 0;
    pthread_mutex_lock(&sql->lock);
    if (c->lost) {
        /* The others most likely went with it (the server restarted). */
        sql->nconns--;
        conn_close(c);
        pool_flush(sql);
    } else {
        c->next = sql->idle;
        sql->idle = c;
        pthread_cond_signal(&sql->cond);
    }
    pthread_mutex_unlock(&sql->lock);
}

void ph_sql_stats(struct ph_sql *sql, struct ph_sql_stats *st_r)
{
    pthread_mutex_lock(&sql->lock);
    *st_r = sql->stats;
    pthread_mutex_unlock(&sql->lock);
    st_r->waiting = 0;
    pthread_mutex_lock(&sql->group_lock);
    for (const struct txn_req *r = sql->queue; r != NULL; r = r->next)
        st_r->waiting++;
    pthread_mutex_unlock(&sql->group_lock);
}

void ph_sql_mark(struct ph_sql_conn *c, int64_t id)
{
    for (size_t i = 0; i < c->nmarks; i++)
        if (c->marks[i] == id)
            return;
    ph_array_grow(&c->marks, &c->marks_cap, c->nmarks + 1, sizeof(*c->marks));
    c->marks[c->nmarks++] = id;
}

/* One run of fn in a transaction on c; c->retry says whether another may
 * succeed. */
static int txn_once(struct ph_sql *sql, struct ph_sql_conn *c,
                    enum ph_sql_txn_kind kind, ph_sql_txn_fn *fn, void *arg,
                    const char **error_r)
{
    c->nmarks = 0;
    c->retry = false;
    int ret = sql->drv->begin(c, kind, error_r);
    if (ret < 0)
        return ret;
    ret = fn(c, arg, error_r);
    if (ret == 0 && c->nmarks > 0 && sql->p.before_commit != NULL)
        ret = sql->p.before_commit(sql->p.hook_arg, c, c->marks, c->nmarks,
                                   error_r);
    if (ret == 0)
        return sql->drv->commit(c, error_r);
    sql->drv->rollback(c);
    return ret;
}

/* Gives c back to the pool, then tells this process's watchers what the
 * transaction that just committed on it changed. */
static void put_after_commit(struct ph_sql *sql, struct ph_sql_conn **cp,
                             bool committed)
{
    struct ph_sql_conn *c = *cp;
    int64_t *marks = NULL;
    size_t nmarks = 0;
    if (committed && c->nmarks > 0 && sql->p.after_commit != NULL) {
        /* The hook runs with the connection back in the pool. */
        nmarks = c->nmarks;
        marks = ph_malloc(nmarks * sizeof(*marks));
        memcpy(marks, c->marks, nmarks * sizeof(*marks));
    }
    ph_sql_put(sql, cp);
    if (marks != NULL) {
        sql->p.after_commit(sql->p.hook_arg, marks, nmarks);
        free(marks);
    }
}

static void req_fail(struct txn_req *r, int ret, bool retry, const char *error)
{
    ph_assert(ret < 0);
    r->ret = ret;
    r->retry = retry;
    free(r->error);
    r->error = ph_strdup(error != NULL ? error : "SQL transaction failed");
}

/* One transaction for the requests of g (n of them, in queue order), on c
 * under the write turn: each in a savepoint, so that one that fails is
 * undone alone; one commit for all. */
static void group_run(struct ph_sql *sql, struct ph_sql_conn *c,
                      struct txn_req *g, size_t n)
{
    const char *err = NULL;
    enum ph_sql_txn_kind kind = PH_SQL_WRITE_LIGHT;
    for (struct txn_req *r = g; r != NULL; r = r->next)
        if (r->kind == PH_SQL_WRITE) /* the stricter durability for all */
            kind = PH_SQL_WRITE;
    c->nmarks = 0;
    c->retry = false;
    int ret = sql->drv->begin(c, kind, &err);
    bool rerun = ret < 0 && c->retry;
    for (struct txn_req *r = g; r != NULL && ret == 0; r = r->next) {
        c->retry = false;
        r->ret = sql->drv->savepoint(c, PH_SQL_SP_SET, &err);
        if (r->ret == 0 && (r->ret = r->fn(c, r->arg, &err)) == 0)
            r->ret = sql->drv->savepoint(c, PH_SQL_SP_RELEASE, &err);
        if (r->ret == 0)
            continue;
        req_fail(r, r->ret, c->retry, err);
        /* A failure the savepoint cannot undo ends the transaction: what
         * the others did is lost with it, and each runs again. */
        if (sql->drv->savepoint(c, PH_SQL_SP_UNDO, &err) < 0) {
            ret = r->ret;
            rerun = true;
        }
    }
    if (ret == 0 && c->nmarks > 0 && sql->p.before_commit != NULL)
        ret = sql->p.before_commit(sql->p.hook_arg, c, c->marks, c->nmarks,
                                   &err);
    if (ret == 0) {
        ret = sql->drv->commit(c, &err);
        rerun = ret < 0 && c->retry;
    } else {
        sql->drv->rollback(c);
    }
    if (ret < 0) {
        /* Those that succeeded, or never ran, share the failure. */
        c->nmarks = 0;
        for (struct txn_req *r = g; r != NULL; r = r->next)
            if (r->ret == 0)
                req_fail(r, ret, rerun, err);
    }
    pthread_mutex_lock(&sql->lock);
    sql->stats.groups++;
    sql->stats.grouped += n;
    pthread_mutex_unlock(&sql->lock);
}

/* Runs the queue's first GROUP_MAX requests as one group (the caller
 * leads: it is one of them). */
static void group_lead(struct ph_sql *sql)
{
    struct ph_sql_conn *c = NULL;
    const char *err = NULL;
    int ret = ph_sql_get(sql, &c, &err);
    if (ret == 0)
        pthread_mutex_lock(&sql->write_lock);
    /* What queued until the turn came is this group. */
    pthread_mutex_lock(&sql->group_lock);
    struct txn_req *g = sql->queue, **end = &sql->queue;
    size_t n = 0;
    while (*end != NULL && n < GROUP_MAX) {
        end = &(*end)->next;
        n++;
    }
    sql->queue = *end;
    if (sql->queue == NULL)
        sql->queue_tail = &sql->queue;
    *end = NULL;
    pthread_mutex_unlock(&sql->group_lock);
    if (ret < 0) {
        for (struct txn_req *r = g; r != NULL; r = r->next)
            req_fail(r, ret, false, err);
    } else if (n == 1) {
        /* Alone: as without groups, no savepoint. */
        g->ret = txn_once(sql, c, g->kind, g->fn, g->arg, &err);
        if (g->ret < 0)
            req_fail(g, g->ret, c->retry, err);
    } else {
        group_run(sql, c, g, n);
    }
    if (ret == 0) {
        pthread_mutex_unlock(&sql->write_lock);
        bool committed = false;
        for (struct txn_req *r = g; r != NULL; r = r->next)
            committed = committed || r->ret == 0;
        put_after_commit(sql, &c, committed);
    }
    pthread_mutex_lock(&sql->group_lock);
    while (g != NULL) {
        struct txn_req *next = g->next;
        g->next = NULL;
        g->done = true;
        g = next;
    }
    sql->leading = false;
    pthread_cond_broadcast(&sql->group_cond);
    pthread_mutex_unlock(&sql->group_lock);
}

/* The text of a grouped transaction's failure, for the caller's thread. */
static _Thread_local char group_error[512];

/* r, in a group commit: queued; the first writer to find no group being
 * made makes the next one, with every writer queued by then. */
static int txn_grouped(struct ph_sql *sql, struct txn_req *r, bool *retry_r,
                       const char **error_r)
{
    pthread_mutex_lock(&sql->group_lock);
    *sql->queue_tail = r;
    sql->queue_tail = &r->next;
    while (!r->done) {
        if (!sql->leading) {
            sql->leading = true;
            pthread_mutex_unlock(&sql->group_lock);
            group_lead(sql);
            pthread_mutex_lock(&sql->group_lock);
        } else {
            pthread_cond_wait(&sql->group_cond, &sql->group_lock);
        }
    }
    pthread_mutex_unlock(&sql->group_lock);
    *retry_r = r->ret < 0 && r->retry;
    if (r->error != NULL) {
        snprintf(group_error, sizeof(group_error), "%s", r->error);
        *error_r = group_error;
        free(r->error);
    }
    return r->ret;
}

int ph_sql_txn(struct ph_sql *sql, enum ph_sql_txn_kind kind, unsigned flags,
               ph_sql_txn_fn *fn, void *arg, const char **error_r)
{
    bool serial = (sql->drv->caps & PH_SQL_CAP_ONE_WRITER) && kind != PH_SQL_READ;
    /* Grouped: the writes that are small and durable alike; the
     * indexer's, the large ones (PH_SQL_ALONE), a \Recent claim and the
     * schema's, never. */
    bool grouped = serial && sql->drv->savepoint != NULL &&
                   !(flags & PH_SQL_ALONE) &&
                   (kind == PH_SQL_WRITE || kind == PH_SQL_WRITE_LIGHT);
    for (unsigned attempt = 0;; attempt++) {
        int ret;
        bool retry;
        if (grouped) {
            struct txn_req r = {.kind = kind, .fn = fn, .arg = arg};
            ret = txn_grouped(sql, &r, &retry, error_r);
        } else {
            struct ph_sql_conn *c = NULL;
            ret = ph_sql_get(sql, &c, error_r);
            if (ret < 0)
                return ret;
            if (serial)
                pthread_mutex_lock(&sql->write_lock);
            ret = txn_once(sql, c, kind, fn, arg, error_r);
            if (serial)
                pthread_mutex_unlock(&sql->write_lock);
            retry = ret < 0 && c->retry;
            put_after_commit(sql, &c, ret == 0);
        }
        if (!retry || attempt >= sql->p.retries)
            return ret;
        ph_log_info("mod=%s event=retry db=%s attempt=%u reason=\"%s\"",
                    sql->log_mod, sql->db, attempt + 1, *error_r);
        /* Two writers that deadlocked should not meet again at once. */
        struct timespec ts = {0, (long)(1 + rand() % 4) * (attempt + 1) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ---- Statements ----------------------------------------------------------- */

static int run(struct ph_sql_conn *c, int stmt, const char *sql, size_t n,
               const struct ph_sql_value *v, struct ph_sql_cursor **cur_r,
               uint64_t *changed_r, const char **error_r)
{
    if (stmt >= 0) {
        ph_assert((size_t)stmt < c->sql->n_stmts);
        sql = c->sql->stmts[stmt];
    }
    ph_assert(sql != NULL);
    if (changed_r != NULL)
        *changed_r = 0;
    return c->drv->run(c, stmt, sql, n, v, cur_r, changed_r, error_r);
}

int ph_sql_exec_a(struct ph_sql_conn *c, int stmt, size_t n,
                  const struct ph_sql_value *v, uint64_t *changed_r,
                  const char **error_r)
{
    return run(c, stmt, NULL, n, v, NULL, changed_r, error_r);
}

int ph_sql_query_a(struct ph_sql_conn *c, int stmt, size_t n,
                   const struct ph_sql_value *v, struct ph_sql_cursor **cur_r,
                   const char **error_r)
{
    *cur_r = NULL;
    return run(c, stmt, NULL, n, v, cur_r, NULL, error_r);
}

int ph_sql_one_a(struct ph_sql_conn *c, int stmt, size_t n,
                 const struct ph_sql_value *v, int64_t *v_r,
                 const char **error_r)
{
    struct ph_sql_cursor *cur = NULL;
    int ret = ph_sql_query_a(c, stmt, n, v, &cur, error_r);
    if (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 1)
        *v_r = ph_sql_int(cur, 0);
    ph_sql_close(&cur);
    return ret;
}

int ph_sql_script(struct ph_sql_conn *c, const char *sql, const char **error_r)
{
    return c->drv->script(c, sql, error_r);
}

/* The cursor's connection: the driver's cursor starts with it. */
struct cursor_head {
    struct ph_sql_conn *c;
};

int ph_sql_next(struct ph_sql_cursor *cur, const char **error_r)
{
    return ((struct cursor_head *)cur)->c->drv->next(cur, error_r);
}

int64_t ph_sql_int(struct ph_sql_cursor *cur, int col)
{
    return ((struct cursor_head *)cur)->c->drv->col_int(cur, col);
}

const void *ph_sql_bytes(struct ph_sql_cursor *cur, int col, size_t *len_r)
{
    size_t len = 0;
    const void *p =
        ((struct cursor_head *)cur)->c->drv->col_bytes(cur, col, &len);
    if (len_r != NULL)
        *len_r = len;
    return p;
}

char *ph_sql_strdup(struct ph_sql_cursor *cur, int col)
{
    size_t len;
    const char *p = ph_sql_bytes(cur, col, &len);
    return p != NULL ? ph_strndup(p, len) : NULL;
}

void ph_sql_close(struct ph_sql_cursor **cur)
{
    if (*cur != NULL)
        ((struct cursor_head *)*cur)->c->drv->close_cursor(*cur);
    *cur = NULL;
}

/* ---- Ad hoc SQL ----------------------------------------------------------- */

void ph_sql_build(struct ph_sql_builder *b, const char *fragment, size_t n,
                  const struct ph_sql_value *v)
{
    size_t k = 0;
    for (const char *p = fragment; *p; p++)
        k += *p == '?';
    ph_assert(k == n);
    ph_buf_puts(&b->sql, fragment);
    for (size_t i = 0; i < n; i++) {
        struct ph_sql_value x = v[i];
        if (x.type == PH_SQL_TEXT || x.type == PH_SQL_BLOB ||
            x.type == PH_SQL_UIDS) {
            size_t bytes = x.type == PH_SQL_UIDS ? x.len * sizeof(uint32_t)
                                                 : x.len;
            char *copy = ph_malloc(bytes + 1);
            memcpy(copy, x.p != NULL ? x.p : "", bytes);
            copy[bytes] = '\0';
            ph_array_grow(&b->owned, &b->owned_cap, b->nowned + 1,
                          sizeof(*b->owned));
            b->owned[b->nowned++] = copy;
            x.p = copy;
        }
        ph_array_grow(&b->v, &b->cap, b->n + 1, sizeof(*b->v));
        b->v[b->n++] = x;
    }
}

void ph_sql_builder_clear(struct ph_sql_builder *b)
{
    for (size_t i = 0; i < b->nowned; i++)
        free(b->owned[i]);
    free(b->owned);
    free(b->v);
    ph_buf_free(&b->sql);
    memset(b, 0, sizeof(*b));
}

int ph_sql_query_built(struct ph_sql_conn *c, const struct ph_sql_builder *b,
                       struct ph_sql_cursor **cur_r, const char **error_r)
{
    *cur_r = NULL;
    return run(c, -1, b->sql.data ? b->sql.data : "", b->n, b->v, cur_r, NULL,
               error_r);
}
