/* SPDX-License-Identifier: MIT */
/* storage.pgsql: the SQL driver (sql.h) over libpq: connections, the
 * statements of pgsql_dialect.c prepared once per connection and run by
 * name (prepared_statements), ad hoc SEARCH SQL with its '?' numbered,
 * binary results, transactions, and the mapping of PostgreSQL's errors.
 *
 * Failures: a connection found broken is lost (the pool drops its idle
 * ones too); a serialization failure, a deadlock, a lock not available,
 * or a connection lost before a transaction's first statement is
 * transient: the layer runs the transaction again. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/log.h>

#include "pgsql_private.h"

#define MAX_ARGS 16
/* The type oids results are decoded by (pg_type.h). */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23

static const char SQL_SESSION[] = "SET standard_conforming_strings = on; "
                                  "SET client_encoding = 'UTF8'; "
                                  "SET client_min_messages = warning";
static const char *const SQL_BEGIN[] = {
    [PH_SQL_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    [PH_SQL_WRITE] = "BEGIN",
    [PH_SQL_WRITE_LIGHT] = "BEGIN",
    /* The text indexer's moves: a commit a crash takes back leaves its
     * texts pending, to be moved again; none waits for the WAL flush. */
    [PH_SQL_WRITE_LAZY] = "BEGIN; SET LOCAL synchronous_commit = off",
    [PH_SQL_WRITE_ONE] = NULL,
    /* 0x50487067, "PHpg": nodes starting together migrate once. */
    [PH_SQL_SCHEMA] = "BEGIN; SELECT pg_advisory_xact_lock(1346924647)",
};
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

struct pg_conn {
    struct ph_sql_conn pub;
    struct pg_ctx *ctx;
    PGconn *db;
    bool *prepared; /* by statement */
    unsigned nrun;  /* statements since the transaction began */
    bool in_txn, committing;
};

struct pg_cursor {
    struct ph_sql_conn *c;
    PGresult *res;
    int row, nrows;
};

static struct pg_conn *conn(struct ph_sql_conn *c)
{
    return (struct pg_conn *)c;
}

PGconn *pg_db(struct ph_sql_conn *c)
{
    return conn(c)->db;
}

/* The server's notices and asynchronous errors ("terminating connection
 * due to administrator command") go to the log, not to stderr. */
static void notice_log(void *arg, const char *message)
{
    const struct pg_ctx *ctx = arg;
    char *emsg = ph_log_escape(message);
    ph_log_warn("%s event=server_notice db=%s reason=%s", PG_MOD, ctx->target,
                emsg);
    free(emsg);
}

PGconn *pg_connect(struct pg_ctx *ctx, const char *event)
{
    /* The DSN is expanded as "dbname"; what it says itself wins over the
     * defaults before it. */
    const char *const keys[] = {"connect_timeout", "fallback_application_name",
                                "dbname", NULL};
    const char *const values[] = {"5", "posthorn", ctx->dsn, NULL};
    PGconn *db = PQconnectdbParams(keys, values, 1);
    if (db != NULL && PQstatus(db) == CONNECTION_OK) {
        PQsetNoticeProcessor(db, notice_log, ctx);
        /* Our SQL relies on these, whatever the server's defaults say; the
         * server's NOTICEs ("already exists, skipping") are no news. */
        PGresult *res = PQexec(db, SQL_SESSION);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (ok)
            return db;
    }
    /* libpq's message names host and port, never the password. */
    char *msg = ph_strdup(db != NULL ? PQerrorMessage(db) : "out of memory");
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        msg[--len] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    char *ewhy = ph_log_escape(msg);
    ph_log_warn("%s event=%s db=%s reason=%s", PG_MOD, event, ctx->target,
                ewhy);
    free(ewhy);
    free(msg);
    PQfinish(db);
    return NULL;
}

static int pg_open(void *dctx, struct ph_sql_conn **c_r, const char **error_r)
{
    struct pg_ctx *ctx = dctx;
    PGconn *db = pg_connect(ctx, "connect_failed");
    if (db == NULL) {
        *error_r = "Mail storage is unavailable, try again later";
        return PH_STORAGE_ERR_TEMP;
    }
    struct pg_conn *c = ph_calloc(1, sizeof(*c));
    c->ctx = ctx;
    c->db = db;
    c->prepared = ph_calloc(PH_SQS_COUNT, sizeof(*c->prepared));
    *c_r = &c->pub;
    return 0;
}

static void pg_close(struct ph_sql_conn *pc)
{
    PQfinish(conn(pc)->db);
    free(conn(pc)->prepared);
    free(pc);
}

/* A pooled connection has nothing to read: if its socket is readable, the
 * server is closing it (a restart sends its FATAL first, a crash an EOF).
 * A false alarm costs one reconnection. */
static bool pg_idle_ok(struct ph_sql_conn *pc)
{
    PGconn *db = conn(pc)->db;
    struct pollfd p = {.fd = PQsocket(db), .events = POLLIN};
    return p.fd >= 0 && PQstatus(db) == CONNECTION_OK &&
           PQtransactionStatus(db) == PQTRANS_IDLE && poll(&p, 1, 0) == 0;
}

static bool state_is(const char *state, const char *code)
{
    return strncmp(state, code, strlen(code)) == 0;
}

/* Maps a failed statement to a storage error, logging what is unexpected.
 * res may be NULL (libpq gave no result: the connection is gone). */
static int pg_fail(struct ph_sql_conn *pc, const PGresult *res,
                   const char *what, const char **error_r)
{
    struct pg_conn *c = conn(pc);
    const char *target = c->ctx->target;
    const char *state =
        res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    state = state != NULL ? state : "";
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(c->db);
    char *emsg = ph_log_escape(msg);
    int ret = PH_STORAGE_ERR_TEMP;
    if (PQstatus(c->db) != CONNECTION_OK || state_is(state, "08") ||
        state_is(state, "57")) {
        ph_log_warn("%s event=connection_lost db=%s op=%s reason=%s", PG_MOD,
                    target, what, emsg);
        pc->lost = true;
        /* The server rolls back what a lost connection had not committed:
         * the transaction may run on a new one, unless its COMMIT (or an
         * autocommitted statement) was under way. */
        pc->retry = c->in_txn ? !c->committing : c->nrun == 0;
        *error_r = "Mail storage is unavailable, try again later";
    } else if (state_is(state, "40001") || state_is(state, "40P01") ||
               state_is(state, "55P03")) {
        ph_log_warn("%s event=busy db=%s op=%s state=%s", PG_MOD, target, what,
                    state);
        pc->retry = true;
        *error_r = "Mail storage is busy, try again later";
    } else if (state_is(state, "23505")) {
        *error_r = "Already exists";
        ret = PH_STORAGE_ERR_EXISTS;
    } else if (state_is(state, "23503")) {
        *error_r = "The account or mailbox was deleted meanwhile";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    } else if (state_is(state, "53100")) {
        ph_log_error("%s event=disk_full db=%s op=%s", PG_MOD, target, what);
        *error_r = "Mail storage is full";
    } else if (state_is(state, "54000")) {
        *error_r = "Message is too large for this storage";
        ret = PH_STORAGE_ERR_LIMIT;
    } else if (state_is(state, "XX")) {
        ph_log_error("%s event=corrupt db=%s op=%s reason=%s", PG_MOD, target,
                     what, emsg);
        *error_r = "Mail storage is damaged";
        ret = PH_STORAGE_ERR_CORRUPTED;
    } else {
        ph_log_error("%s event=pgsql_error db=%s op=%s state=%s reason=%s",
                     PG_MOD, target, what, state, emsg);
        *error_r = "Internal mail storage error";
    }
    free(emsg);
    return ret;
}

/* Runs parameterless SQL of the driver's own on pc: 0 or a storage
 * error. */
static int pg_exec_text(struct ph_sql_conn *pc, const char *sql, const char *what,
                 const char **error_r)
{
    PGresult *res = PQexec(conn(pc)->db, sql);
    ExecStatusType st = PQresultStatus(res);
    int ret = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK
                  ? 0
                  : pg_fail(pc, res, what, error_r);
    PQclear(res);
    return ret;
}

/* ?N becomes $N, and each bare '?' the next number (no SQL of ours has
 * one in a literal). */
static char *number_params(const char *sql)
{
    struct ph_buf b = {0};
    unsigned n = 0;
    for (const char *p = sql; *p; p++) {
        if (*p == '?' && (p[1] < '0' || p[1] > '9'))
            ph_buf_printf(&b, "$%u", ++n);
        else
            ph_buf_putc(&b, *p == '?' ? '$' : *p);
    }
    return ph_buf_steal(&b);
}

/* Prepares stmt on c at its first use; false with *res_r when the server
 * refused. */
static bool prepare(struct pg_conn *c, int stmt, const char *name,
                    const char *sql, PGresult **res_r)
{
    if (c->prepared[stmt])
        return true;
    char *text = number_params(sql);
    PGresult *res = PQprepare(c->db, name, text, 0, NULL);
    free(text);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        *res_r = res;
        return false;
    }
    PQclear(res);
    c->prepared[stmt] = true;
    ph_sqlstore_debug(c->ctx->store, "event=prepared stmt=%s op=%s", name,
                      ph_sqlstore_stmt_ops[stmt]);
    return true;
}

static int pg_run(struct ph_sql_conn *pc, int stmt, const char *sql,
                  size_t nargs, const struct ph_sql_value *args,
                  struct ph_sql_cursor **cur_r, uint64_t *changed_r,
                  const char **error_r)
{
    struct pg_conn *c = conn(pc);
    const char *what = stmt >= 0 ? ph_sqlstore_stmt_ops[stmt] : "search";
    const char *values_s[MAX_ARGS], **values = values_s;
    int lengths_s[MAX_ARGS], *lengths = lengths_s;
    int formats_s[MAX_ARGS], *formats = formats_s;
    char *owned_s[MAX_ARGS], **owned = owned_s;
    /* Many arguments only come from SEARCH programs, which bound their
     * count far below the protocol's 65535. */
    ph_assert(nargs <= 65535);
    if (nargs > MAX_ARGS) {
        values = ph_calloc(nargs, sizeof(*values));
        lengths = ph_calloc(nargs, sizeof(*lengths));
        formats = ph_calloc(nargs, sizeof(*formats));
        owned = ph_calloc(nargs, sizeof(*owned));
    }
    for (size_t i = 0; i < nargs; i++) {
        const struct ph_sql_value *v = &args[i];
        owned[i] = NULL;
        lengths[i] = (int)v->len;
        /* Text and blobs go as bytes (binary format: no NUL needed). */
        formats[i] = v->type == PH_SQL_TEXT || v->type == PH_SQL_BLOB;
        values[i] = v->p != NULL ? v->p : "";
        if (v->type == PH_SQL_NULL)
            values[i] = NULL;
        else if (v->type == PH_SQL_INT)
            values[i] = owned[i] = ph_strdup_printf("%lld", (long long)v->i);
        else if (v->type == PH_SQL_UIDS) {
            struct ph_buf b = {0};
            ph_buf_putc(&b, '{');
            for (size_t k = 0; k < v->len; k++)
                ph_buf_printf(&b, k > 0 ? ",%u" : "%u",
                              ((const uint32_t *)v->p)[k]);
            ph_buf_putc(&b, '}');
            values[i] = owned[i] = ph_buf_steal(&b);
        }
    }
    char name[16] = "";
    PGresult *res = NULL;
    if (stmt >= 0 && c->ctx->conf->prepared_statements) {
        snprintf(name, sizeof(name), "ph_%d", stmt);
        if (prepare(c, stmt, name, sql, &res))
            res = PQexecPrepared(c->db, name, (int)nargs, values, lengths,
                                 formats, 1);
    } else {
        char *text = number_params(sql);
        res = PQexecParams(c->db, text, (int)nargs, NULL, values, lengths,
                           formats, 1);
        free(text);
    }
    for (size_t i = 0; i < nargs; i++)
        free(owned[i]);
    if (values != values_s) {
        free(values);
        free(lengths);
        free(formats);
        free(owned);
    }
    ExecStatusType st = PQresultStatus(res);
    if (res == NULL || (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)) {
        int ret = pg_fail(pc, res, what, error_r);
        PQclear(res);
        return ret;
    }
    c->nrun++;
    if (changed_r != NULL)
        *changed_r = strtoull(PQcmdTuples(res), NULL, 10);
    if (cur_r == NULL) {
        PQclear(res);
        return 0;
    }
    struct pg_cursor *cur = ph_calloc(1, sizeof(*cur));
    *cur = (struct pg_cursor){pc, res, -1, PQntuples(res)};
    *cur_r = (struct ph_sql_cursor *)cur;
    return 0;
}

static int pg_next(struct ph_sql_cursor *pcur, const char **error_r)
{
    struct pg_cursor *cur = (struct pg_cursor *)pcur;
    (void)error_r;
    return ++cur->row < cur->nrows;
}

static int64_t pg_col_int(struct ph_sql_cursor *pcur, int col)
{
    struct pg_cursor *cur = (struct pg_cursor *)pcur;
    if (PQgetisnull(cur->res, cur->row, col))
        return 0;
    const unsigned char *v =
        (const unsigned char *)PQgetvalue(cur->res, cur->row, col);
    switch (PQftype(cur->res, col)) {
    case OID_BOOL: return v[0] != 0;
    case OID_INT2: return (int16_t)(v[0] << 8 | v[1]);
    case OID_INT4: return (int32_t)ntohl(*(const uint32_t *)(const void *)v);
    case OID_INT8: {
        uint64_t x = 0;
        for (int i = 0; i < 8; i++)
            x = x << 8 | v[i];
        return (int64_t)x;
    }
    default: return strtoll((const char *)v, NULL, 10);
    }
}

static const void *pg_col_bytes(struct ph_sql_cursor *pcur, int col,
                                size_t *len_r)
{
    struct pg_cursor *cur = (struct pg_cursor *)pcur;
    if (PQgetisnull(cur->res, cur->row, col))
        return NULL;
    *len_r = (size_t)PQgetlength(cur->res, cur->row, col);
    return PQgetvalue(cur->res, cur->row, col);
}

static void pg_close_cursor(struct ph_sql_cursor *pcur)
{
    PQclear(((struct pg_cursor *)pcur)->res);
    free(pcur);
}

/* The server's own words: an administrator reads them at start. */
static int pg_script(struct ph_sql_conn *c, const char *sql,
                     const char **error_r)
{
    int ret = pg_exec_text(c, sql, "schema", error_r);
    if (ret < 0)
        *error_r = ph_storage_errorf("%s", PQerrorMessage(conn(c)->db));
    return ret;
}

static int pg_begin(struct ph_sql_conn *pc, enum ph_sql_txn_kind kind,
                    const char **error_r)
{
    struct pg_conn *c = conn(pc);
    c->nrun = 0;
    c->in_txn = SQL_BEGIN[kind] != NULL;
    return c->in_txn ? pg_exec_text(pc, SQL_BEGIN[kind], "begin", error_r) : 0;
}

static void pg_rollback(struct ph_sql_conn *pc)
{
    struct pg_conn *c = conn(pc);
    c->in_txn = false;
    if (PQstatus(c->db) == CONNECTION_OK &&
        PQtransactionStatus(c->db) != PQTRANS_IDLE)
        PQclear(PQexec(c->db, SQL_ROLLBACK));
    if (PQstatus(c->db) != CONNECTION_OK ||
        PQtransactionStatus(c->db) != PQTRANS_IDLE)
        pc->lost = true;
}

static int pg_commit(struct ph_sql_conn *pc, const char **error_r)
{
    struct pg_conn *c = conn(pc);
    if (!c->in_txn)
        return 0;
    c->committing = true; /* a lost COMMIT may have committed */
    int ret = pg_exec_text(pc, SQL_COMMIT, "commit", error_r);
    c->committing = false;
    if (ret < 0)
        pg_rollback(pc);
    c->in_txn = false;
    return ret;
}

const struct ph_sql_driver pg_driver = {
    .abi_minor = PH_ABI_MINOR,
    .size = sizeof(struct ph_sql_driver),
    .name = "pgsql",
    .stmts = pg_stmts,
    .n_stmts = PH_SQS_COUNT,
    .open = pg_open,
    .close = pg_close,
    .idle_ok = pg_idle_ok,
    .run = pg_run,
    .next = pg_next,
    .col_int = pg_col_int,
    .col_bytes = pg_col_bytes,
    .close_cursor = pg_close_cursor,
    .script = pg_script,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
};
