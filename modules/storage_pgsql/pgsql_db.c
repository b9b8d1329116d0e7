/* SPDX-License-Identifier: MIT */
/* storage.pgsql: connections, statements, transactions, the schema and its
 * migrations, and the mapping of PostgreSQL errors. */
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <posthorn/log.h>
#include <posthorn/message.h>

#include "pgsql_private.h"

#define PG_MAX_ARGS 16

/* Each entry upgrades the schema from version i to i + 1; the database
 * records its version in posthorn_schema. Never edit a released entry:
 * add the next one. */
static const char *const migrations[] = {
    /* 1: the data model of DESIGN.md, as storage.sqlite holds it. Names
     * sort bytewise (COLLATE "C"), as strcmp and the hierarchy ranges
     * need. Counters on mailboxes are kept by triggers so that STATUS
     * never scans messages. Bodies are bytea chunks of 256 KiB: a byte
     * range reads only the chunks it covers (the primary key finds them),
     * and a body goes with its rows, which large objects would not do. */
    "CREATE TABLE meta (key text PRIMARY KEY, value bigint NOT NULL);"
    "INSERT INTO meta (key, value) VALUES ('uidvalidity', 0);"
    "CREATE TABLE accounts ("
    "  id bigserial PRIMARY KEY,"
    "  name text COLLATE \"C\" NOT NULL UNIQUE,"
    "  created bigint NOT NULL,"
    "  appendlimit bigint);"
    "CREATE TABLE mailboxes ("
    "  id bigserial PRIMARY KEY,"
    "  account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,"
    "  name text COLLATE \"C\" NOT NULL,"
    "  uidvalidity bigint NOT NULL,"
    "  uidnext bigint NOT NULL DEFAULT 1,"
    "  highestmodseq bigint NOT NULL DEFAULT 1,"
    "  recent_uid bigint NOT NULL DEFAULT 1,"
    "  special_use integer NOT NULL DEFAULT 0,"
    "  noselect boolean NOT NULL DEFAULT false,"
    "  messages bigint NOT NULL DEFAULT 0,"
    "  unseen bigint NOT NULL DEFAULT 0,"
    "  size bigint NOT NULL DEFAULT 0,"
    "  UNIQUE (account_id, name));"
    "CREATE TABLE bodies ("
    "  id bigserial PRIMARY KEY,"
    "  size bigint NOT NULL,"
    "  info bytea NOT NULL);"
    "CREATE TABLE body_chunks ("
    "  body_id bigint NOT NULL REFERENCES bodies ON DELETE CASCADE,"
    "  seq integer NOT NULL,"
    "  data bytea NOT NULL,"
    "  PRIMARY KEY (body_id, seq));"
    "CREATE TABLE messages ("
    "  mailbox_id bigint NOT NULL REFERENCES mailboxes ON DELETE CASCADE,"
    "  uid bigint NOT NULL,"
    "  modseq bigint NOT NULL,"
    "  flags integer NOT NULL,"
    "  keywords text,"
    "  internal_date bigint NOT NULL,"
    "  internal_tz integer NOT NULL,"
    "  size bigint NOT NULL,"
    "  body_id bigint NOT NULL REFERENCES bodies,"
    "  PRIMARY KEY (mailbox_id, uid));"
    "CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);"
    "CREATE INDEX messages_body ON messages (body_id);"
    /* EXPUNGE visits only what has \Deleted. */
    "CREATE INDEX messages_deleted ON messages (mailbox_id, uid)"
    "  WHERE (flags & 8) <> 0;"
    "CREATE TABLE tombstones ("
    "  mailbox_id bigint NOT NULL REFERENCES mailboxes ON DELETE CASCADE,"
    "  uid bigint NOT NULL,"
    "  modseq bigint NOT NULL,"
    "  PRIMARY KEY (mailbox_id, uid));"
    "CREATE INDEX tombstones_modseq ON tombstones (mailbox_id, modseq);"
    "CREATE TABLE subscriptions ("
    "  account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,"
    "  name text COLLATE \"C\" NOT NULL,"
    "  PRIMARY KEY (account_id, name));"
    "CREATE FUNCTION posthorn_messages_count() RETURNS trigger"
    "  LANGUAGE plpgsql AS $$ BEGIN"
    "  IF TG_OP <> 'INSERT' THEN"
    "    UPDATE mailboxes SET messages = messages - 1,"
    "      unseen = unseen - (1 - (OLD.flags & 1)), size = size - OLD.size"
    "      WHERE id = OLD.mailbox_id;"
    "  END IF;"
    "  IF TG_OP <> 'DELETE' THEN"
    "    UPDATE mailboxes SET messages = messages + 1,"
    "      unseen = unseen + (1 - (NEW.flags & 1)), size = size + NEW.size"
    "      WHERE id = NEW.mailbox_id;"
    "  END IF;"
    /* Bodies are shared by copies: the last message to go takes its body. */
    "  IF TG_OP = 'DELETE' THEN"
    "    DELETE FROM bodies WHERE id = OLD.body_id AND NOT EXISTS"
    "      (SELECT 1 FROM messages WHERE body_id = OLD.body_id);"
    "  END IF;"
    "  RETURN NULL;"
    "END $$;"
    "CREATE TRIGGER messages_count AFTER INSERT OR DELETE ON messages"
    "  FOR EACH ROW EXECUTE FUNCTION posthorn_messages_count();"
    "CREATE TRIGGER messages_count_update AFTER UPDATE ON messages"
    "  FOR EACH ROW WHEN (OLD.mailbox_id <> NEW.mailbox_id"
    "    OR (OLD.flags & 1) <> (NEW.flags & 1))"
    "  EXECUTE FUNCTION posthorn_messages_count();",
    /* 2: SEARCH pushdown (pgsql_search.c). What a large mailbox holds few
     * of gets a partial index, and internal dates are indexed as seconds
     * of their own zone, which BEFORE/ON/SINCE compare. The expressions
     * must stay as pgsql_search.c writes them. */
    "CREATE INDEX messages_unseen ON messages (mailbox_id, uid)"
    "  WHERE (flags & 1) = 0;"
    "CREATE INDEX messages_flagged ON messages (mailbox_id, uid)"
    "  WHERE (flags & 4) <> 0;"
    "CREATE INDEX messages_local_date ON messages"
    "  (mailbox_id, (internal_date + internal_tz * 60));",
    /* 3: the parser changed (issue 14: a boundary without its trailing
     * whitespace, address forms): every body stored before gets its
     * structure made anew from its bytes by pg_rederive(), a batch per
     * transaction, after this migration has committed; nodes share the
     * work, and an upgrade that stops goes on at the next start. A later
     * change to what is derived adds a migration that refills rederive. */
    ("CREATE TABLE rederive (body_id bigint PRIMARY KEY);"
     "INSERT INTO rederive (body_id) SELECT id FROM bodies;"),
};

#define MBOX_COLUMNS                                                           \
    "id, uidvalidity, uidnext, highestmodseq, recent_uid, special_use, "       \
    "noselect, messages, unseen, size"

void pg_debug(const struct pg_ctx *ctx, const char *fmt, ...)
{
    if (!ctx->debug && !ph_log_debug_enabled())
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    ph_log(ctx->debug ? PH_LOG_INFO : PH_LOG_DEBUG, "%s debug=1 %s", PG_MOD,
           line);
}

/* ---- Connections -------------------------------------------------------- */

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

PGconn *pg_connect(struct pg_ctx *ctx, char **why_r)
{
    /* The DSN is expanded as "dbname"; what it says itself wins over the
     * defaults before it. */
    const char *const keys[] = {"connect_timeout", "fallback_application_name",
                                "dbname", NULL};
    const char *const values[] = {"5", "posthorn", ctx->dsn, NULL};
    PGconn *db = PQconnectdbParams(keys, values, 1);
    if (db == NULL) {
        *why_r = ph_strdup("out of memory");
        return NULL;
    }
    if (PQstatus(db) != CONNECTION_OK) {
        /* libpq's message names host and port, never the password. */
        char *msg = ph_strdup(PQerrorMessage(db));
        size_t len = strlen(msg);
        while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
            msg[--len] = '\0';
        for (char *p = msg; *p; p++)
            if (*p == '\n' || *p == '\t')
                *p = ' ';
        *why_r = msg;
        PQfinish(db);
        return NULL;
    }
    PQsetNoticeProcessor(db, notice_log, ctx);
    /* Our SQL relies on these, whatever the server's defaults say; the
     * server's NOTICEs ("already exists, skipping") are no news. */
    PGresult *res = PQexec(db, "SET standard_conforming_strings = on; "
                               "SET client_encoding = 'UTF8'; "
                               "SET client_min_messages = warning");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        *why_r = ph_strdup(PQerrorMessage(db));
        PQfinish(db);
        return NULL;
    }
    return db;
}

static void conn_close(struct pg_conn *c)
{
    PQfinish(c->db);
    if (c->stmts != NULL)
        for (unsigned i = 0; i < PG_STMT_SLOTS; i++)
            free(c->stmts[i].sql);
    free(c->stmts);
    free(c);
}

/* Closes the idle connections: after one was found broken (the server
 * restarted), the others are most likely broken too. */
static void pool_flush(struct pg_ctx *ctx)
{
    pthread_mutex_lock(&ctx->pool_lock);
    while (ctx->idle != NULL) {
        struct pg_conn *c = ctx->idle;
        ctx->idle = c->next;
        ctx->nconns--;
        conn_close(c);
    }
    pthread_cond_broadcast(&ctx->pool_cond);
    pthread_mutex_unlock(&ctx->pool_lock);
}

/* A pooled connection has nothing to read: if its socket is readable,
 * the server is closing it (a restart sends its FATAL first, a crash an
 * EOF). A false alarm costs one reconnection. */
static bool conn_alive(struct pg_conn *c)
{
    struct pollfd p = {.fd = PQsocket(c->db), .events = POLLIN};
    if (p.fd < 0 || PQstatus(c->db) != CONNECTION_OK)
        return false;
    return poll(&p, 1, 0) == 0;
}

int pg_conn_get(struct pg_ctx *ctx, struct pg_conn **c_r, const char **error_r)
{
    struct pg_conn *c;
    pthread_mutex_lock(&ctx->pool_lock);
    for (;;) {
        while (ctx->idle == NULL && ctx->nconns >= ctx->max_conns)
            pthread_cond_wait(&ctx->pool_cond, &ctx->pool_lock);
        c = ctx->idle;
        if (c == NULL)
            break;
        ctx->idle = c->next;
        c->next = NULL;
        if (conn_alive(c)) {
            pthread_mutex_unlock(&ctx->pool_lock);
            *c_r = c;
            return 0;
        }
        /* Found closed before use: the caller gets a fresh one instead
         * of an error. */
        ph_log_info("%s event=connection_closed_by_server db=%s", PG_MOD,
                    ctx->target);
        ctx->nconns--;
        conn_close(c);
    }
    ctx->nconns++;
    pthread_mutex_unlock(&ctx->pool_lock);

    char *why = NULL;
    PGconn *db = pg_connect(ctx, &why);
    if (db == NULL) {
        char *ewhy = ph_log_escape(why);
        ph_log_warn("%s event=connect_failed db=%s reason=%s", PG_MOD,
                    ctx->target, ewhy);
        free(ewhy);
        free(why);
        pthread_mutex_lock(&ctx->pool_lock);
        ctx->nconns--;
        pthread_cond_signal(&ctx->pool_cond);
        pthread_mutex_unlock(&ctx->pool_lock);
        *error_r = "Mail storage is unavailable, try again later";
        return PH_STORAGE_ERR_TEMP;
    }
    c = ph_calloc(1, sizeof(*c));
    c->db = db;
    *c_r = c;
    return 0;
}

void pg_conn_put(struct pg_ctx *ctx, struct pg_conn **cp)
{
    struct pg_conn *c = *cp;
    if (c == NULL)
        return;
    *cp = NULL;
    bool broken = c->broken || PQstatus(c->db) != CONNECTION_OK;
    /* A caller that left a transaction open must not hand it on. */
    if (!broken && PQtransactionStatus(c->db) != PQTRANS_IDLE) {
        ph_log_error("%s event=transaction_left_open", PG_MOD);
        broken = true;
    }
    pthread_mutex_lock(&ctx->pool_lock);
    if (broken) {
        ctx->nconns--;
        conn_close(c);
    } else {
        c->next = ctx->idle;
        ctx->idle = c;
    }
    pthread_cond_signal(&ctx->pool_cond);
    pthread_mutex_unlock(&ctx->pool_lock);
}

void pg_pool_close(struct pg_ctx *ctx)
{
    pthread_mutex_lock(&ctx->pool_lock);
    ph_assert(ctx->nconns == 0 || ctx->idle != NULL);
    pthread_mutex_unlock(&ctx->pool_lock);
    pool_flush(ctx);
}

/* ---- Statements --------------------------------------------------------- */

static bool state_class(const char *state, const char *cls)
{
    return strncmp(state, cls, 2) == 0;
}

bool pg_state_is(const struct pg_conn *c, const char *sqlstate)
{
    return strcmp(c->sqlstate, sqlstate) == 0;
}

/* Maps a failed statement to a storage error, logging what is unexpected.
 * res may be NULL (libpq gave no result: the connection is gone). */
static int pg_fail(struct pg_ctx *ctx, struct pg_conn *c, const PGresult *res,
                   const char *what, const char **error_r)
{
    const char *state =
        res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(c->sqlstate, sizeof(c->sqlstate), "%s",
             state != NULL ? state : "");
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(c->db);
    char *emsg = ph_log_escape(msg);
    int ret;

    if (PQstatus(c->db) != CONNECTION_OK || state_class(c->sqlstate, "08") ||
        state_class(c->sqlstate, "57")) {
        ph_log_warn("%s event=connection_lost db=%s op=%s reason=%s", PG_MOD,
                    ctx->target, what, emsg);
        /* Make sure this connection is not pooled again. */
        c->broken = true;
        pool_flush(ctx);
        *error_r = "Mail storage is unavailable, try again later";
        ret = PH_STORAGE_ERR_TEMP;
    } else if (pg_state_is(c, "40001") || pg_state_is(c, "40P01") ||
               pg_state_is(c, "55P03")) {
        ph_log_warn("%s event=busy db=%s op=%s state=%s", PG_MOD, ctx->target,
                    what, c->sqlstate);
        *error_r = "Mail storage is busy, try again later";
        ret = PH_STORAGE_ERR_TEMP;
    } else if (pg_state_is(c, "23505")) {
        *error_r = "Already exists";
        ret = PH_STORAGE_ERR_EXISTS;
    } else if (pg_state_is(c, "23503")) {
        *error_r = "The account or mailbox was deleted meanwhile";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    } else if (pg_state_is(c, "53100")) {
        ph_log_error("%s event=disk_full db=%s op=%s", PG_MOD, ctx->target,
                     what);
        *error_r = "Mail storage is full";
        ret = PH_STORAGE_ERR_TEMP;
    } else if (pg_state_is(c, "54000")) {
        *error_r = "Message is too large for this storage";
        ret = PH_STORAGE_ERR_LIMIT;
    } else if (state_class(c->sqlstate, "XX")) {
        ph_log_error("%s event=corrupt db=%s op=%s reason=%s", PG_MOD,
                     ctx->target, what, emsg);
        *error_r = "Mail storage is damaged";
        ret = PH_STORAGE_ERR_CORRUPTED;
    } else {
        ph_log_error("%s event=pgsql_error db=%s op=%s state=%s reason=%s",
                     PG_MOD, ctx->target, what, c->sqlstate, emsg);
        *error_r = "Internal mail storage error";
        ret = PH_STORAGE_ERR_TEMP;
    }
    free(emsg);
    return ret;
}

/* The name of sql prepared on c ("ph_SLOT"), preparing it first when it
 * is new and a slot is free (half the table at most, so probes stay
 * short). Parsing and planning cost PostgreSQL more CPU than running most
 * of our statements, whose plans do not depend on their arguments. false
 * with *res_r set when PostgreSQL refused to prepare it; true with
 * name[0] == '\0' to run it unprepared. */
static bool stmt_name(struct pg_ctx *ctx, struct pg_conn *c, const char *what,
                      const char *sql, char name[16], PGresult **res_r)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = sql; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    if (c->stmts == NULL)
        c->stmts = ph_calloc(PG_STMT_SLOTS, sizeof(*c->stmts));
    unsigned i = h & (PG_STMT_SLOTS - 1);
    while (c->stmts[i].sql != NULL &&
           (c->stmts[i].hash != h || strcmp(c->stmts[i].sql, sql) != 0))
        i = (i + 1) & (PG_STMT_SLOTS - 1);
    snprintf(name, 16, "ph_%u", i);
    if (c->stmts[i].sql != NULL)
        return true;
    if (c->nstmts >= PG_STMT_SLOTS / 2) {
        name[0] = '\0';
        return true;
    }
    PGresult *res = PQprepare(c->db, name, sql, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        *res_r = res;
        return false;
    }
    PQclear(res);
    c->stmts[i].sql = ph_strdup(sql);
    c->stmts[i].hash = h;
    c->nstmts++;
    pg_debug(ctx, "event=prepared stmt=%s op=%s", name, what);
    return true;
}

static PGresult *query(struct pg_ctx *ctx, struct pg_conn *c, const char *what,
                       const char *sql, bool prepare, bool binary, size_t nargs,
                       const struct pg_arg *args, int *err_r,
                       const char **error_r)
{
    const char *values_s[PG_MAX_ARGS], **values = values_s;
    int lengths_s[PG_MAX_ARGS], *lengths = lengths_s;
    int formats_s[PG_MAX_ARGS], *formats = formats_s;
    char ints_s[PG_MAX_ARGS][24], (*ints)[24] = ints_s;

    /* Many arguments only come from SEARCH programs (pgsql_search.c),
     * which bound their count far below the protocol's 65535. */
    ph_assert(nargs <= 65535);
    if (nargs > PG_MAX_ARGS) {
        values = ph_calloc(nargs, sizeof(*values));
        lengths = ph_calloc(nargs, sizeof(*lengths));
        formats = ph_calloc(nargs, sizeof(*formats));
        ints = ph_calloc(nargs, sizeof(*ints));
    }
    for (size_t i = 0; i < nargs; i++) {
        lengths[i] = 0;
        formats[i] = 0;
        switch (args[i].kind) {
        case PG_A_NULL: values[i] = NULL; break;
        case PG_A_INT:
            snprintf(ints[i], sizeof(ints[i]), "%" PRId64, args[i].i);
            values[i] = ints[i];
            break;
        case PG_A_TEXT: values[i] = args[i].s; break;
        case PG_A_BYTEA:
            ph_assert(args[i].blen <= INT32_MAX);
            values[i] = args[i].b != NULL ? args[i].b : "";
            lengths[i] = (int)args[i].blen;
            formats[i] = 1;
            break;
        }
    }
    c->sqlstate[0] = '\0';
    char name[16] = "";
    PGresult *res = NULL;
    if (!prepare || nargs == 0 || !ctx->conf->prepared_statements ||
        stmt_name(ctx, c, what, sql, name, &res)) {
        if (name[0] != '\0')
            res = PQexecPrepared(c->db, name, (int)nargs, values, lengths,
                                 formats, binary ? 1 : 0);
        else
            res = PQexecParams(c->db, sql, (int)nargs, NULL, values, lengths,
                               formats, binary ? 1 : 0);
    }
    if (values != values_s) {
        free(values);
        free(lengths);
        free(formats);
        free(ints);
    }
    ExecStatusType st = PQresultStatus(res);
    if (res != NULL && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK))
        return res;
    *err_r = pg_fail(ctx, c, res, what, error_r);
    PQclear(res);
    return NULL;
}

PGresult *pg_query(struct pg_ctx *ctx, struct pg_conn *c, const char *what,
                   const char *sql, bool binary, size_t nargs,
                   const struct pg_arg *args, int *err_r, const char **error_r)
{
    return query(ctx, c, what, sql, true, binary, nargs, args, err_r, error_r);
}

PGresult *pg_query_adhoc(struct pg_ctx *ctx, struct pg_conn *c,
                         const char *what, const char *sql, bool binary,
                         size_t nargs, const struct pg_arg *args, int *err_r,
                         const char **error_r)
{
    return query(ctx, c, what, sql, false, binary, nargs, args, err_r, error_r);
}

int pg_exec(struct pg_ctx *ctx, struct pg_conn *c, const char *what,
            const char *sql, size_t nargs, const struct pg_arg *args,
            const char **error_r)
{
    int err = 0;
    PGresult *res =
        pg_query(ctx, c, what, sql, false, nargs, args, &err, error_r);
    bool ok = res != NULL;
    PQclear(res);
    return ok ? 0 : err;
}

int64_t pg_int(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    const char *v = PQgetvalue(res, row, col);
    if (v[0] == 't' || v[0] == 'f') /* boolean */
        return v[0] == 't';
    return strtoll(v, NULL, 10);
}

/* ---- Transactions ------------------------------------------------------- */

int pg_begin(struct pg_ctx *ctx, struct pg_conn *c, const char **error_r)
{
    return pg_exec(ctx, c, "begin", "BEGIN", PG_NOARGS, error_r);
}

int pg_commit(struct pg_ctx *ctx, struct pg_conn *c, const char **error_r)
{
    int ret = pg_exec(ctx, c, "commit", "COMMIT", PG_NOARGS, error_r);
    if (ret < 0)
        pg_rollback(c);
    return ret;
}

void pg_rollback(struct pg_conn *c)
{
    if (PQstatus(c->db) == CONNECTION_OK &&
        PQtransactionStatus(c->db) != PQTRANS_IDLE)
        PQclear(PQexec(c->db, "ROLLBACK"));
}

int pg_announce(struct pg_ctx *ctx, struct pg_conn *c, int64_t mailbox_id,
                const char **error_r)
{
    char id[48], channel[48];
    /* "ID TOKEN": the token lets this process skip its own echo. */
    snprintf(id, sizeof(id), "%" PRId64 " %s", mailbox_id, ctx->node_token);
    snprintf(channel, sizeof(channel), PG_CHANNEL_PREFIX "%" PRId64,
             mailbox_id);
    return pg_exec(ctx, c, "notify", "SELECT pg_notify($1, $2)",
                   PG_ARGS(PA_S(channel), PA_S(id)), error_r);
}

/* ---- Rows --------------------------------------------------------------- */

int pg_next_uidvalidity(struct pg_ctx *ctx, struct pg_conn *c,
                        uint32_t *uidvalidity_r, const char **error_r)
{
    /* The clock, as usual, but never a value given before; the row lock
     * orders concurrent creators on every node. */
    int64_t now = (int64_t)time(NULL) & 0xffffffff;
    int err = 0;
    PGresult *res = pg_query(
        ctx, c, "uidvalidity",
        "UPDATE meta SET value = CASE WHEN greatest(value + 1, $1::bigint) "
        "> 4294967295 THEN 1 ELSE greatest(value + 1, $1::bigint) END "
        "WHERE key = 'uidvalidity' RETURNING value",
        false, PG_ARGS(PA_I(now)), &err, error_r);
    if (res == NULL)
        return err;
    bool ok = PQntuples(res) == 1;
    if (ok)
        *uidvalidity_r = (uint32_t)pg_int(res, 0, 0);
    PQclear(res);
    if (!ok) {
        *error_r = "Mail storage is damaged";
        return PH_STORAGE_ERR_CORRUPTED;
    }
    return 0;
}

static int mbox_row(PGresult *res, struct pg_mbox *mb_r)
{
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    *mb_r = (struct pg_mbox){
        .id = pg_int(res, 0, 0),
        .uidvalidity = (uint32_t)pg_int(res, 0, 1),
        .uidnext = (uint32_t)pg_int(res, 0, 2),
        .highestmodseq = (uint64_t)pg_int(res, 0, 3),
        .recent_uid = (uint32_t)pg_int(res, 0, 4),
        .special_use = (uint32_t)pg_int(res, 0, 5),
        .noselect = pg_int(res, 0, 6) != 0,
        .messages = (uint32_t)pg_int(res, 0, 7),
        .unseen = (uint32_t)pg_int(res, 0, 8),
        .size = (uint64_t)pg_int(res, 0, 9),
    };
    PQclear(res);
    return 1;
}

int pg_mbox_by_name(struct pg_ctx *ctx, struct pg_conn *c, int64_t account_id,
                    const char *name, bool lock, struct pg_mbox *mb_r,
                    const char **error_r)
{
    int err = 0;
    PGresult *res = pg_query(
        ctx, c, "mailbox",
        lock ? "SELECT " MBOX_COLUMNS " FROM mailboxes WHERE account_id = $1 "
               "AND name = $2 FOR UPDATE"
             : "SELECT " MBOX_COLUMNS " FROM mailboxes WHERE account_id = $1 "
               "AND name = $2",
        false, PG_ARGS(PA_I(account_id), PA_S(name)), &err, error_r);
    return res != NULL ? mbox_row(res, mb_r) : err;
}

int pg_mbox_by_id(struct pg_ctx *ctx, struct pg_conn *c, int64_t id, bool lock,
                  struct pg_mbox *mb_r, const char **error_r)
{
    int err = 0;
    PGresult *res =
        pg_query(ctx, c, "mailbox",
                 lock ? "SELECT " MBOX_COLUMNS " FROM mailboxes WHERE id = $1 "
                        "FOR UPDATE"
                      : "SELECT " MBOX_COLUMNS " FROM mailboxes WHERE id = $1",
                 false, PG_ARGS(PA_I(id)), &err, error_r);
    return res != NULL ? mbox_row(res, mb_r) : err;
}

/* One statement, autocommit: no BEGIN, no COMMIT, the lock held only for
 * the statement. The subquery locks the row and, under READ COMMITTED,
 * rechecks its condition on the newest version once a concurrent holder
 * commits: of sessions racing on any nodes, one moves recent_uid and gets
 * the old value back (RETURNING gives only the new row, hence the join);
 * the others update nothing. */
int pg_mbox_claim_recent(struct pg_ctx *ctx, struct pg_conn *c, int64_t id,
                         uint32_t uidvalidity, struct pg_mbox *mb_r,
                         uint32_t *claimed_r, const char **error_r)
{
    int err = 0;
    PGresult *res = pg_query(
        ctx, c, "recent",
        "UPDATE mailboxes m SET recent_uid = m.uidnext FROM (SELECT id, "
        "recent_uid FROM mailboxes WHERE id = $1 AND uidvalidity = $2 "
        "AND NOT noselect AND recent_uid < uidnext FOR UPDATE) prev "
        "WHERE m.id = prev.id RETURNING m.id, m.uidvalidity, m.uidnext, "
        "m.highestmodseq, m.recent_uid, m.special_use, m.noselect, "
        "m.messages, m.unseen, m.size, prev.recent_uid",
        false, PG_ARGS(PA_I(id), PA_I(uidvalidity)), &err, error_r);
    if (res == NULL)
        return err;
    if (PQntuples(res) > 0)
        *claimed_r = (uint32_t)pg_int(res, 0, 10);
    return mbox_row(res, mb_r);
}

/* ---- Re-deriving stored bodies ----------------------------------------- */

/* Bodies made anew per transaction. */
#define PG_REDERIVE_BATCH 64
/* As storage.pgsql stores them (pgsql_message.c). */
#define PG_CHUNK_SIZE (256 * 1024)

/* One body: parsed again from its chunks, read one at a time, and its
 * structure replaced. A body whose chunks do not read back keeps its
 * structure (FETCH then reports what is wrong with it). */
static int rederive_body(struct pg_ctx *ctx, struct pg_conn *c, int64_t id,
                         const char **error_r)
{
    int err = 0;
    PGresult *res =
        pg_query(ctx, c, "rederive", "SELECT size FROM bodies WHERE id = $1",
                 false, PG_ARGS(PA_I(id)), &err, error_r);
    if (res == NULL)
        return err;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0; /* gone meanwhile */
    }
    uint64_t size = (uint64_t)pg_int(res, 0, 0);
    PQclear(res);
    struct ph_message_parser *parser = ph_message_parser_new(NULL);
    bool whole = true;
    for (uint64_t pos = 0; pos < size && whole;) {
        res = pg_query(ctx, c, "rederive",
                       "SELECT data FROM body_chunks WHERE body_id = $1 "
                       "AND seq = $2",
                       true, PG_ARGS(PA_I(id), PA_I(pos / PG_CHUNK_SIZE)), &err,
                       error_r);
        if (res == NULL) {
            ph_message_parser_free(&parser);
            return err;
        }
        size_t got = PQntuples(res) > 0 ? (size_t)PQgetlength(res, 0, 0) : 0;
        if (got > size - pos)
            got = (size_t)(size - pos);
        whole = got > 0;
        if (whole)
            ph_message_parser_feed(parser, PQgetvalue(res, 0, 0), got);
        PQclear(res);
        pos += got;
    }
    if (!whole) {
        ph_log_warn("%s event=rederive_skipped db=%s body=%" PRId64
                    " reason=short_body",
                    PG_MOD, ctx->target, id);
        ph_message_parser_free(&parser);
        return 0;
    }
    struct ph_message_info *mi = ph_message_parser_finish(&parser);
    void *info;
    size_t info_size;
    ph_message_info_serialize(mi, &info, &info_size);
    ph_message_info_free(&mi);
    int ret =
        pg_exec(ctx, c, "rederive", "UPDATE bodies SET info = $1 WHERE id = $2",
                PG_ARGS(PA_B(info, info_size), PA_I(id)), error_r);
    free(info);
    return ret;
}

int pg_rederive(struct pg_ctx *ctx, char **error_r)
{
    struct pg_conn *c = NULL;
    const char *err = NULL;
    uint64_t done = 0;
    int ret = pg_conn_get(ctx, &c, &err);
    while (ret == 0) {
        if ((ret = pg_begin(ctx, c, &err)) < 0)
            break;
        /* SKIP LOCKED: nodes starting together share the bodies. */
        int e = 0;
        PGresult *res =
            pg_query(ctx, c, "rederive",
                     "SELECT body_id FROM rederive ORDER BY "
                     "body_id LIMIT $1 FOR UPDATE SKIP LOCKED",
                     false, PG_ARGS(PA_I(PG_REDERIVE_BATCH)), &e, &err);
        if (res == NULL) {
            ret = e;
            pg_rollback(c);
            break;
        }
        int n = PQntuples(res);
        for (int i = 0; i < n && ret == 0; i++) {
            int64_t id = pg_int(res, i, 0);
            ret = rederive_body(ctx, c, id, &err);
            if (ret == 0)
                ret = pg_exec(ctx, c, "rederive",
                              "DELETE FROM rederive WHERE body_id = $1",
                              PG_ARGS(PA_I(id)), &err);
        }
        PQclear(res);
        if (ret < 0) {
            pg_rollback(c);
            break;
        }
        if ((ret = pg_commit(ctx, c, &err)) < 0)
            break;
        done += (uint64_t)n;
        if (n > 0)
            ph_log_info("%s event=rederived db=%s bodies=%" PRIu64, PG_MOD,
                        ctx->target, done);
        if (n < PG_REDERIVE_BATCH)
            break;
    }
    pg_conn_put(ctx, &c);
    if (ret < 0)
        *error_r = ph_strdup_printf("database %s: making stored messages' "
                                    "structure anew: %s",
                                    ctx->target, err);
    return ret < 0 ? -1 : 0;
}

/* ---- Schema ------------------------------------------------------------- */

/* Runs fixed SQL text (no values: migrations, locks) on a raw connection. */
static int run_text(PGconn *db, const char *sql, char **error_r)
{
    PGresult *res = PQexec(db, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return 0;
    }
    *error_r = ph_strdup(PQerrorMessage(db));
    PQclear(res);
    return -1;
}

int pg_schema_init(struct pg_ctx *ctx, char **error_r)
{
    char *why = NULL;
    const int64_t latest = (int64_t)PH_N_ELEMENTS(migrations);
    PGconn *db = pg_connect(ctx, &why);
    if (db == NULL) {
        *error_r =
            ph_strdup_printf("cannot connect to %s: %s", ctx->target, why);
        free(why);
        return -1;
    }
    if (run_text(db,
                 /* 0x50487067, "PHpg": nodes starting together migrate once. */
                 "BEGIN; SELECT pg_advisory_xact_lock(1346924647);"
                 "CREATE TABLE IF NOT EXISTS posthorn_schema "
                 "(version integer NOT NULL)",
                 &why) < 0)
        goto fail;
    PGresult *res = PQexec(db, "SELECT version FROM posthorn_schema");
    int64_t version = 0;
    bool have_row = false, foreign = false;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
        version = pg_int(res, 0, 0);
        have_row = true;
    }
    PQclear(res);
    if (!have_row) {
        /* A database with our table names but no version is not ours. */
        res = PQexec(db, "SELECT to_regclass('accounts') IS NOT NULL");
        foreign = PQresultStatus(res) == PGRES_TUPLES_OK &&
                  PQntuples(res) > 0 && PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
    }
    if (foreign) {
        why = ph_strdup("it holds tables that posthorn did not make");
        goto fail;
    }
    if (version > latest) {
        why = ph_strdup_printf("schema version %" PRId64 " is newer than "
                               "this posthorn knows (%" PRId64
                               "): upgrade posthorn",
                               version, latest);
        goto fail;
    }
    for (int64_t v = version; v < latest; v++) {
        if (run_text(db, migrations[v], &why) < 0)
            goto fail;
        ph_log_info("%s event=schema_upgraded db=%s version=%" PRId64, PG_MOD,
                    ctx->target, v + 1);
    }
    if (version < latest) {
        /* The version is ours, a constant: no value from outside. */
        char *set = ph_strdup_printf("DELETE FROM posthorn_schema; "
                                     "INSERT INTO posthorn_schema VALUES "
                                     "(%" PRId64 ")",
                                     latest);
        int r = run_text(db, set, &why);
        free(set);
        if (r < 0)
            goto fail;
    }
    if (run_text(db, "COMMIT", &why) < 0)
        goto fail;
    PQfinish(db);
    return 0;
fail:
    *error_r = ph_strdup_printf("database %s: %s", ctx->target, why);
    free(why);
    PQfinish(db);
    return -1;
}

void pg_ctx_init(struct pg_ctx *ctx)
{
    ctx->stop_pipe[0] = ctx->stop_pipe[1] = -1;
    ctx->ctl_pipe[0] = ctx->ctl_pipe[1] = -1;
    pthread_mutex_init(&ctx->watch_lock, NULL);
    pthread_cond_init(&ctx->listen_cond, NULL);
    pthread_mutex_init(&ctx->pool_lock, NULL);
    pthread_cond_init(&ctx->pool_cond, NULL);
}
