/* SPDX-License-Identifier: MIT */
/* table.sql_query: a table answered by SQL queries of the admin's, with
 * maddy's directives:
 *
 *   table.sql_query users {
 *       driver sqlite3                  # or postgres
 *       dsn /var/lib/posthorn/users.db  # a file; for postgres a libpq DSN
 *       lookup "SELECT hash FROM users WHERE name = :key"
 *       init "PRAGMA busy_timeout = 5000"   # run on every new connection
 *       named_args yes                  # no: $1 is the key, $2 the value
 *       # optional, for the admin CLI (posthorn creds ...):
 *       list "SELECT name FROM users"
 *       set "UPDATE users SET hash = :value WHERE name = :key"
 *       add "INSERT INTO users (name, hash) VALUES (:key, :value)"
 *       del "DELETE FROM users WHERE name = :key"
 *   }
 *
 * A lookup's rows are its values (the first and only column, NULLs
 * skipped; no row: not found). Every value the queries see is bound as a
 * parameter, never pasted into the SQL. Connections are pooled: a lookup
 * takes one, many workers at once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#ifdef WITH_PGSQL
#include <libpq-fe.h>
#endif

#include <posthorn/log.h>
#include <posthorn/table-impl.h>

/* Bounds: values per lookup, idle connections kept. */
#define SQLQ_MAX_ROWS 1000
#define SQLQ_MAX_IDLE 8

enum sqlq_query { Q_LOOKUP, Q_LIST, Q_SET, Q_ADD, Q_DEL, Q_COUNT };

struct sqlq_conf {
    int driver; /* index in driver_names */
    char *dsn;
    char *query[Q_COUNT];
    struct ph_strlist init;
    bool named_args;
    bool debug;
};

/* What a driver does: open (running nothing), run one statement with text
 * parameters, and say whether a connection is still usable. */
struct sqlq_driver {
    void *(*open)(const char *dsn, char *err, size_t cap);
    void (*close)(void *c);
    /* Appends the first column of each row (at most SQLQ_MAX_ROWS) to out
     * when out is not NULL; *changes_r: the rows a change touched. A
     * result with other than one column is an error when out is given. */
    int (*run)(void *c, const char *sql, const char *const *args,
               size_t nargs, struct ph_strlist *out, int64_t *changes_r,
               char *err, size_t cap);
    bool (*usable)(void *c);
    char placeholder; /* '$' for $1, '?' for ?1 */
};

struct sqlq_ctx {
    const struct sqlq_conf *conf;
    const struct sqlq_driver *drv;
    const char *name;
    char *sql[Q_COUNT]; /* the queries with the driver's placeholders */
    pthread_mutex_t lock;
    void *idle[SQLQ_MAX_IDLE];
    size_t nidle;
};

/* ---- SQLite ------------------------------------------------------------ */

static void *sq_open(const char *dsn, char *err, size_t cap)
{
    sqlite3 *db = NULL;
    /* No CREATE: a mistyped path is an error, not an empty database. */
    int r = sqlite3_open_v2(dsn, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                            NULL);
    if (r != SQLITE_OK) {
        snprintf(err, cap, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(r));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void sq_close(void *c) { sqlite3_close(c); }

static int sq_run(void *c, const char *sql, const char *const *args,
                  size_t nargs, struct ph_strlist *out, int64_t *changes_r,
                  char *err, size_t cap)
{
    sqlite3 *db = c;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, cap, "%s", sqlite3_errmsg(db));
        return -1;
    }
    if (out != NULL && sqlite3_column_count(st) != 1) {
        sqlite3_finalize(st);
        snprintf(err, cap, "the query must return one column");
        return -1;
    }
    for (size_t i = 0; i < nargs; i++)
        sqlite3_bind_text(st, (int)i + 1, args[i], -1, SQLITE_TRANSIENT);
    int r;
    size_t rows = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        if (out != NULL && v != NULL && rows++ < SQLQ_MAX_ROWS)
            ph_strlist_add(out, (const char *)v);
    }
    if (r != SQLITE_DONE) {
        snprintf(err, cap, "%s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    *changes_r = sqlite3_changes64(db);
    return 0;
}

static bool sq_usable(void *c)
{
    (void)c;
    return true;
}

static const struct sqlq_driver sqlite_driver = {
    .open = sq_open,
    .close = sq_close,
    .run = sq_run,
    .usable = sq_usable,
    .placeholder = '?',
};

/* ---- PostgreSQL -------------------------------------------------------- */

#ifdef WITH_PGSQL
static void *pg_open(const char *dsn, char *err, size_t cap)
{
    PGconn *pg = PQconnectdb(dsn);
    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, cap, "%s", pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

static void pg_close(void *c) { PQfinish(c); }

static int pg_run(void *c, const char *sql, const char *const *args,
                  size_t nargs, struct ph_strlist *out, int64_t *changes_r,
                  char *err, size_t cap)
{
    PGresult *res = PQexecParams(c, sql, (int)nargs, NULL, args, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        snprintf(err, cap, "%s", PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    if (out != NULL && (st != PGRES_TUPLES_OK || PQnfields(res) != 1)) {
        PQclear(res);
        snprintf(err, cap, "the query must return one column");
        return -1;
    }
    int n = st == PGRES_TUPLES_OK ? PQntuples(res) : 0;
    for (int i = 0; out != NULL && i < n && i < SQLQ_MAX_ROWS; i++)
        if (!PQgetisnull(res, i, 0))
            ph_strlist_add(out, PQgetvalue(res, i, 0));
    const char *t = PQcmdTuples(res);
    *changes_r = t[0] ? strtoll(t, NULL, 10) : 0;
    PQclear(res);
    return 0;
}

static bool pg_usable(void *c) { return PQstatus(c) == CONNECTION_OK; }

static const struct sqlq_driver pgsql_driver = {
    .open = pg_open,
    .close = pg_close,
    .run = pg_run,
    .usable = pg_usable,
    .placeholder = '$',
};
#endif

static const char *const driver_names[] = {"sqlite3", "postgres", NULL};

/* ---- Queries ----------------------------------------------------------- */

/* Rewrites a query's parameters into the driver's: with named_args,
 * :key -> 1 and :value -> 2; without, $1 and $2 stay their numbers. Quoted
 * strings, quoted names, comments and PostgreSQL's "::" casts are left as
 * they are. NULL with *error_r for another parameter. */
static char *rewrite(const char *q, bool named, char ph, int max_param,
                     char **error_r)
{
    struct ph_buf b = {0};
    for (const char *p = q; *p;) {
        if (*p == '\'' || *p == '"') {
            const char *e = strchr(p + 1, *p);
            e = e ? e + 1 : p + strlen(p);
            ph_buf_append(&b, p, (size_t)(e - p));
            p = e;
            continue;
        }
        if (p[0] == '-' && p[1] == '-') {
            const char *e = strchr(p, '\n');
            e = e ? e : p + strlen(p);
            ph_buf_append(&b, p, (size_t)(e - p));
            p = e;
            continue;
        }
        if (p[0] == ':' && p[1] == ':') {
            ph_buf_append(&b, p, 2);
            p += 2;
            continue;
        }
        int n = 0;
        size_t len = 0;
        if (named && *p == ':') {
            if (strncmp(p + 1, "key", 3) == 0 &&
                !strchr("abcdefghijklmnopqrstuvwxyz_0123456789", p[4] ? p[4] : ' '))
                n = 1, len = 4;
            else if (strncmp(p + 1, "value", 5) == 0 &&
                     !strchr("abcdefghijklmnopqrstuvwxyz_0123456789",
                             p[6] ? p[6] : ' '))
                n = 2, len = 6;
            else if ((p[1] >= 'a' && p[1] <= 'z') || p[1] == '_') {
                *error_r = ph_strdup_printf("unknown named argument in \"%s\" "
                                            "(:key and :value are known)",
                                            q);
                ph_buf_free(&b);
                return NULL;
            }
        } else if (!named && *p == '$' && p[1] >= '1' && p[1] <= '9') {
            n = p[1] - '0';
            len = 2;
            if (p[2] >= '0' && p[2] <= '9')
                n = 99;
        }
        if (n > max_param) {
            *error_r = ph_strdup_printf("\"%s\": this query gets %s", q,
                                        max_param == 0   ? "no argument"
                                        : max_param == 1 ? "only the key"
                                                         : "the key and the value");
            ph_buf_free(&b);
            return NULL;
        }
        if (n > 0) {
            ph_buf_printf(&b, "%c%d", ph, n);
            p += len;
            continue;
        }
        ph_buf_putc(&b, *p++);
    }
    ph_buf_putc(&b, '\0');
    return ph_buf_steal(&b);
}

/* A connection from the pool, or a new one with the init queries run. */
static void *conn_get(struct sqlq_ctx *ctx, const char **error_r)
{
    pthread_mutex_lock(&ctx->lock);
    void *c = ctx->nidle > 0 ? ctx->idle[--ctx->nidle] : NULL;
    pthread_mutex_unlock(&ctx->lock);
    if (c != NULL)
        return c;
    char err[512];
    c = ctx->drv->open(ctx->conf->dsn, err, sizeof(err));
    for (size_t i = 0; c != NULL && i < ctx->conf->init.n; i++) {
        int64_t changes;
        if (ctx->drv->run(c, ctx->conf->init.v[i], NULL, 0, NULL, &changes,
                          err, sizeof(err)) < 0) {
            ctx->drv->close(c);
            c = NULL;
        }
    }
    if (c == NULL) {
        char *why = ph_log_escape(err);
        ph_log_error("mod=table.sql_query instance=%s event=connect error=%s",
                     ctx->name, why);
        free(why);
        *error_r = "cannot connect to the database";
    }
    return c;
}

static void conn_put(struct sqlq_ctx *ctx, void *c, bool failed)
{
    if (!failed || ctx->drv->usable(c)) {
        pthread_mutex_lock(&ctx->lock);
        if (ctx->nidle < SQLQ_MAX_IDLE) {
            ctx->idle[ctx->nidle++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&ctx->lock);
    }
    if (c != NULL)
        ctx->drv->close(c);
}

/* Runs query q with args; 0, or -1 with *error_r and a log line. */
static int run_query(struct sqlq_ctx *ctx, enum sqlq_query q,
                     const char *const *args, size_t nargs,
                     struct ph_strlist *out, int64_t *changes_r,
                     const char **error_r)
{
    void *c = conn_get(ctx, error_r);
    if (c == NULL)
        return -1;
    char err[512];
    int r = ctx->drv->run(c, ctx->sql[q], args, nargs, out, changes_r, err,
                          sizeof(err));
    /* A connection that broke mid-query is replaced: one retry. */
    if (r < 0 && !ctx->drv->usable(c)) {
        conn_put(ctx, c, true);
        if ((c = conn_get(ctx, error_r)) == NULL)
            return -1;
        if (out != NULL)
            ph_strlist_clear(out);
        r = ctx->drv->run(c, ctx->sql[q], args, nargs, out, changes_r, err,
                          sizeof(err));
    }
    conn_put(ctx, c, r < 0);
    if (r < 0) {
        static const char *const names[] = {"lookup", "list", "set", "add",
                                            "del"};
        char *why = ph_log_escape(err);
        ph_log_error("mod=table.sql_query instance=%s event=query query=%s "
                     "error=%s",
                     ctx->name, names[q], why);
        free(why);
        *error_r = "the table's query failed";
    }
    return r;
}

static enum ph_lookup sqlq_lookup(void *ctx_p, const char *key,
                                  struct ph_strlist *values_r,
                                  const char **error_r)
{
    struct sqlq_ctx *ctx = ctx_p;
    struct ph_strlist rows = {0};
    int64_t changes;
    const char *args[] = {key};
    if (run_query(ctx, Q_LOOKUP, args, 1, &rows, &changes, error_r) < 0) {
        ph_strlist_clear(&rows);
        return PH_LOOKUP_TEMPFAIL;
    }
    if (ctx->conf->debug || ph_log_debug_enabled()) {
        char *k = ph_log_escape(key);
        ph_log_info("mod=table.sql_query instance=%s event=lookup key=%s "
                    "values=%zu",
                    ctx->name, k, rows.n);
        free(k);
    }
    if (rows.n == 0)
        return PH_LOOKUP_NOT_FOUND;
    for (size_t i = 0; i < rows.n; i++)
        ph_strlist_add_owned(values_r, rows.v[i]);
    free(rows.v);
    return PH_LOOKUP_FOUND;
}

static int sqlq_set(void *ctx_p, const char *key, const char *const *values,
                    size_t nvalues, const char **error_r)
{
    struct sqlq_ctx *ctx = ctx_p;
    if (ctx->sql[Q_SET] == NULL && ctx->sql[Q_ADD] == NULL) {
        *error_r = "table.sql_query: no set or add query configured";
        return -1;
    }
    if (nvalues != 1) {
        *error_r = "table.sql_query keeps one value per key";
        return -1;
    }
    const char *args[] = {key, values[0]};
    int64_t changes = 0;
    /* set replaces; a key it did not find is added (maddy's add). */
    if (ctx->sql[Q_SET] != NULL &&
        run_query(ctx, Q_SET, args, 2, NULL, &changes, error_r) < 0)
        return -1;
    if (changes == 0 && ctx->sql[Q_ADD] != NULL &&
        run_query(ctx, Q_ADD, args, 2, NULL, &changes, error_r) < 0)
        return -1;
    if (changes == 0) {
        *error_r = "table.sql_query: the set query changed no row";
        return -1;
    }
    return 0;
}

static int sqlq_remove(void *ctx_p, const char *key, const char **error_r)
{
    struct sqlq_ctx *ctx = ctx_p;
    if (ctx->sql[Q_DEL] == NULL) {
        *error_r = "table.sql_query: no del query configured";
        return -1;
    }
    const char *args[] = {key};
    int64_t changes = 0;
    if (run_query(ctx, Q_DEL, args, 1, NULL, &changes, error_r) < 0)
        return -1;
    return changes > 0 ? 1 : 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int sqlq_keys(void *ctx_p, struct ph_strlist *keys_r,
                     const char **error_r)
{
    struct sqlq_ctx *ctx = ctx_p;
    if (ctx->sql[Q_LIST] == NULL) {
        *error_r = "table.sql_query: no list query configured";
        return -1;
    }
    int64_t changes;
    size_t first = keys_r->n;
    if (run_query(ctx, Q_LIST, NULL, 0, keys_r, &changes, error_r) < 0)
        return -1;
    qsort(keys_r->v + first, keys_r->n - first, sizeof(char *), cmp_str);
    return 0;
}

static void sqlq_destroy(void *ctx_p)
{
    struct sqlq_ctx *ctx = ctx_p;
    if (ctx == NULL)
        return;
    for (size_t i = 0; i < ctx->nidle; i++)
        ctx->drv->close(ctx->idle[i]);
    for (int q = 0; q < Q_COUNT; q++)
        free(ctx->sql[q]);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

static int sqlq_create(struct ph_instance *inst, void *conf_p, void **ctx_r,
                       char **error_r)
{
    const struct sqlq_conf *conf = conf_p;
    static const int max_param[Q_COUNT] = {1, 0, 2, 2, 1};
    struct sqlq_ctx *ctx = ph_calloc(1, sizeof(*ctx));
    pthread_mutex_init(&ctx->lock, NULL);
    ctx->conf = conf;
    ctx->name = ph_instance_name(inst);
    if (conf->driver == 0) {
        ctx->drv = &sqlite_driver;
    } else {
#ifdef WITH_PGSQL
        ctx->drv = &pgsql_driver;
#else
        *error_r = ph_strdup("driver postgres: posthorn was built without "
                             "PostgreSQL (configure --with-pgsql)");
        sqlq_destroy(ctx);
        return -1;
#endif
    }
    for (int q = 0; q < Q_COUNT; q++) {
        if (conf->query[q] == NULL)
            continue;
        ctx->sql[q] = rewrite(conf->query[q], conf->named_args,
                              ctx->drv->placeholder, max_param[q], error_r);
        if (ctx->sql[q] == NULL) {
            sqlq_destroy(ctx);
            return -1;
        }
    }
    /* A first connection now. A SQLite file that cannot be opened, or an
     * init query that fails, is a configuration error; a PostgreSQL server
     * that cannot be reached is a warning (lookups fail as temporary until
     * it is back), as the operations issue asks of check-config. */
    const char *err;
    void *c = conn_get(ctx, &err);
    if (c == NULL && conf->driver == 0) {
        *error_r = ph_strdup_printf("dsn: %s (see the log line above)", err);
        sqlq_destroy(ctx);
        return -1;
    }
    if (c == NULL)
        ph_log_warn("mod=table.sql_query instance=%s event=unreachable "
                    "msg=\"the database cannot be reached now; lookups fail "
                    "as temporary until it can\"",
                    ctx->name);
    else
        conn_put(ctx, c, false);
    *ctx_r = ctx;
    return 0;
}

static const struct ph_table_vfuncs sqlq_vfuncs = {
    .lookup = sqlq_lookup,
    .set = sqlq_set,
    .remove = sqlq_remove,
    .keys = sqlq_keys,
};

#define OFF(f) offsetof(struct sqlq_conf, f)
static const struct ph_directive sqlq_directives[] = {
    {.name = "driver",
     .type = PH_DT_ENUM,
     .flags = PH_DF_REQUIRED,
     .offset = OFF(driver),
     .values = driver_names,
     .help = "sqlite3 or postgres"},
    {.name = "dsn",
     .type = PH_DT_STRING,
     .flags = PH_DF_REQUIRED,
     .offset = OFF(dsn),
     .help = "the database: a file (sqlite3) or a libpq connection string"},
    {.name = "lookup",
     .type = PH_DT_STRING,
     .flags = PH_DF_REQUIRED,
     .offset = OFF(query[Q_LOOKUP]),
     .help = "the query answering a key (:key): one column, a row a value"},
    {.name = "init",
     .type = PH_DT_LIST,
     .flags = PH_DF_REPEAT,
     .offset = OFF(init),
     .min_args = 1,
     .max_args = -1,
     .help = "statements run on every new connection"},
    {.name = "named_args",
     .type = PH_DT_BOOL,
     .offset = OFF(named_args),
     .def = "yes",
     .help = ":key and :value (yes), or $1 and $2 (no)"},
    {.name = "list",
     .type = PH_DT_STRING,
     .offset = OFF(query[Q_LIST]),
     .help = "every key, one column"},
    {.name = "set",
     .type = PH_DT_STRING,
     .offset = OFF(query[Q_SET]),
     .help = "replace the value of :key with :value"},
    {.name = "add",
     .type = PH_DT_STRING,
     .offset = OFF(query[Q_ADD]),
     .help = "add :key with :value (when set changed no row)"},
    {.name = "del",
     .type = PH_DT_STRING,
     .offset = OFF(query[Q_DEL]),
     .help = "remove :key"},
    {.name = "debug",
     .type = PH_DT_BOOL,
     .flags = PH_DF_INHERIT,
     .offset = OFF(debug),
     .def = "no"},
    {.name = NULL},
};

PH_MODULE(.names = (const char *const[]){"table.sql_query", NULL},
          .kind = PH_MODULE_TABLE,
          .description = "a table answered by SQL queries (SQLite or "
                         "PostgreSQL)",
          .directives = sqlq_directives, .conf_size = sizeof(struct sqlq_conf),
          .create = sqlq_create, .destroy = sqlq_destroy, .iface = &sqlq_vfuncs);
