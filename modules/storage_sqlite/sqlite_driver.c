/* SPDX-License-Identifier: MIT */
/* storage.sqlite: the SQL driver (sql.h) over SQLite: connections and
 * their cached statements, cursors, transactions with the durability each
 * kind asks for, the mapping of SQLite's errors, bodies as blobs read and
 * written in pieces, and the SQL function ph_contains.
 *
 * WAL mode: readers never wait for the writer. A connection is used by one
 * thread at a time (the pool), so it is opened NOMUTEX. synchronous=FULL:
 * with WAL, NORMAL already survives kill -9, but a mail server that said
 * OK to APPEND (or to an MTA) must also survive a power cut, so every
 * commit is fsync'ed; `sync appends` leaves it out of commits that only
 * change flags, expunge or claim \Recent (WRITE_LIGHT, WRITE_ONE), and the
 * indexer's (WRITE_LAZY) never has it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/log.h>

#include "sqlite_private.h"

#define BUSY_TIMEOUT_MS 10000
#define BLOB_CHUNK (64 * 1024)

/* What the engine is told besides the statements of sqlite_dialect.c. */
static const char SQL_BEGIN[] = "BEGIN";
static const char SQL_BEGIN_WRITE[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_WAL[] = "PRAGMA journal_mode = WAL";
static const char SQL_SYNC_FULL[] = "PRAGMA synchronous = FULL";
static const char SQL_SYNC_NORMAL[] = "PRAGMA synchronous = NORMAL";
/* cache_size: negative is KiB (the directive, checked at create). */
static const char SQL_OPEN_FMT[] = "PRAGMA foreign_keys = ON;"
                                   "PRAGMA synchronous = FULL;"
                                   "PRAGMA cache_size = -%llu;"
                                   "PRAGMA journal_size_limit = 67108864;";
static const char *const SQL_SAVEPOINT[] = {
    [PH_SQL_SP_SET] = "SAVEPOINT r",
    [PH_SQL_SP_RELEASE] = "RELEASE r",
    [PH_SQL_SP_UNDO] = "ROLLBACK TO r; RELEASE r",
};

struct sq_conn {
    struct ph_sql_conn pub;
    struct sq_ctx *ctx;
    sqlite3 *db;
    sqlite3_stmt **stmts;
    bool unsynced; /* PRAGMA synchronous is NORMAL, not FULL */
};

struct sq_cursor {
    struct ph_sql_conn *c;
    sqlite3_stmt *st;
    bool adhoc; /* finalized at close, not kept */
};

static struct sq_conn *conn(struct ph_sql_conn *c)
{
    return (struct sq_conn *)c;
}

/* Maps a SQLite result to a storage error on pc, logging what is
 * unexpected. */
static int sq_fail(struct ph_sql_conn *pc, int rc, const char *what,
            const char **error_r)
{
    struct sq_conn *c = conn(pc);
    const char *path = c->ctx->path;
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        ph_log_warn("%s event=busy db=%s op=%s", SQ_MOD, path, what);
        pc->retry = true;
        *error_r = "Mail storage is busy, try again later";
        return PH_STORAGE_ERR_TEMP;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        ph_log_error("%s event=corrupt db=%s op=%s reason=\"%s\"", SQ_MOD, path,
                     what, sqlite3_errmsg(c->db));
        *error_r = "Mail storage is damaged";
        return PH_STORAGE_ERR_CORRUPTED;
    case SQLITE_TOOBIG:
        *error_r = "Message is too large for this storage";
        return PH_STORAGE_ERR_LIMIT;
    case SQLITE_FULL:
        ph_log_error("%s event=disk_full db=%s op=%s", SQ_MOD, path, what);
        *error_r = "Mail storage is full";
        return PH_STORAGE_ERR_TEMP;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
            *error_r = "The account or mailbox was deleted meanwhile";
            return PH_STORAGE_ERR_NOT_FOUND;
        }
        break;
    default: break;
    }
    char *emsg = ph_log_escape(sqlite3_errmsg(c->db));
    ph_log_error("%s event=sqlite_error db=%s op=%s code=%d reason=%s", SQ_MOD,
                 path, what, rc, emsg);
    free(emsg);
    *error_r = "Internal mail storage error";
    return PH_STORAGE_ERR_TEMP;
}

static int exec_text(struct ph_sql_conn *c, const char *sql, const char *what,
                     const char **error_r)
{
    int rc = sqlite3_exec(conn(c)->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sq_fail(c, rc, what, error_r);
}

static void sq_close(struct ph_sql_conn *pc)
{
    struct sq_conn *c = conn(pc);
    for (size_t i = 0; c->stmts != NULL && i < PH_SQS_COUNT; i++)
        sqlite3_finalize(c->stmts[i]);
    free(c->stmts);
    sqlite3_close(c->db);
    free(c);
}

static int sq_open(void *dctx, struct ph_sql_conn **c_r, const char **error_r)
{
    struct sq_ctx *ctx = dctx;
    struct sq_conn *c = ph_calloc(1, sizeof(*c));
    c->ctx = ctx;
    c->stmts = ph_calloc(PH_SQS_COUNT, sizeof(*c->stmts));
    int rc = sqlite3_open_v2(
        ctx->path, &c->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(c->db, 1);
        sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
        char pragmas[256];
        snprintf(pragmas, sizeof(pragmas), SQL_OPEN_FMT,
                 (unsigned long long)(ctx->conf->cache_size / 1024));
        rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sq_functions_register(c->db);
    if (rc != SQLITE_OK) {
        int err = sq_fail(&c->pub, rc, "open", error_r);
        *error_r = ph_storage_errorf("Cannot open the mail database: %s",
                                     sqlite3_errmsg(c->db));
        sq_close(&c->pub);
        return err;
    }
    *c_r = &c->pub;
    return 0;
}

static bool sq_idle_ok(struct ph_sql_conn *c)
{
    return sqlite3_get_autocommit(conn(c)->db);
}

/* A list of UIDs as json_each() reads it. */
static char *uids_json(const uint32_t *v, size_t n)
{
    struct ph_buf b = {0};
    ph_buf_putc(&b, '[');
    for (size_t i = 0; i < n; i++)
        ph_buf_printf(&b, i > 0 ? ",%u" : "%u", v[i]);
    ph_buf_putc(&b, ']');
    return ph_buf_steal(&b);
}

static void bind(sqlite3_stmt *st, size_t nargs, const struct ph_sql_value *v)
{
    /* A statement may leave a parameter of its contract unused at the
     * end: SQLite has no slot for it. */
    size_t max = (size_t)sqlite3_bind_parameter_count(st);
    for (size_t i = 0; i < nargs && i < max; i++) {
        int k = (int)i + 1;
        switch (v[i].type) {
        case PH_SQL_NULL: sqlite3_bind_null(st, k); break;
        case PH_SQL_INT: sqlite3_bind_int64(st, k, v[i].i); break;
        case PH_SQL_TEXT:
            sqlite3_bind_text(st, k, v[i].p, (int)v[i].len, SQLITE_STATIC);
            break;
        case PH_SQL_BLOB:
            sqlite3_bind_blob(st, k, v[i].p != NULL ? v[i].p : "",
                              (int)v[i].len, SQLITE_STATIC);
            break;
        case PH_SQL_UIDS:
            sqlite3_bind_text(st, k, uids_json(v[i].p, v[i].len), -1, free);
            break;
        }
    }
}

static int sq_run(struct ph_sql_conn *pc, int stmt, const char *sql,
                  size_t nargs, const struct ph_sql_value *args,
                  struct ph_sql_cursor **cur_r, uint64_t *changed_r,
                  const char **error_r)
{
    struct sq_conn *c = conn(pc);
    const char *what = stmt >= 0 ? ph_sqlstore_stmt_ops[stmt] : "search";
    sqlite3_stmt *st = stmt >= 0 ? c->stmts[stmt] : NULL;
    int rc = SQLITE_OK;
    if (st == NULL && stmt >= 0) {
        rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                &st, NULL);
        /* The SQL is ours and the schema migrated: a failure is a bug. */
        if (rc != SQLITE_OK)
            ph_log_error("%s event=prepare_failed stmt=%d reason=\"%s\"",
                         SQ_MOD, stmt, sqlite3_errmsg(c->db));
        ph_assert(rc == SQLITE_OK);
        c->stmts[stmt] = st;
    } else if (stmt < 0) {
        /* Not cached: ad hoc programs rarely repeat. */
        rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
            return sq_fail(pc, rc, what, error_r);
    }
    bind(st, nargs, args);
    if (cur_r != NULL) {
        struct sq_cursor *cur = ph_calloc(1, sizeof(*cur));
        *cur = (struct sq_cursor){pc, st, stmt < 0};
        *cur_r = (struct ph_sql_cursor *)cur;
        return 0;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (stmt < 0)
        sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sq_fail(pc, rc, what, error_r);
    if (changed_r != NULL)
        *changed_r = (uint64_t)sqlite3_changes64(c->db);
    return 0;
}

static int sq_next(struct ph_sql_cursor *pcur, const char **error_r)
{
    struct sq_cursor *cur = (struct sq_cursor *)pcur;
    int rc = sqlite3_step(cur->st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : sq_fail(cur->c, rc, "query", error_r);
}

static int64_t sq_col_int(struct ph_sql_cursor *cur, int col)
{
    return sqlite3_column_int64(((struct sq_cursor *)cur)->st, col);
}

static const void *sq_col_bytes(struct ph_sql_cursor *pcur, int col,
                                size_t *len_r)
{
    sqlite3_stmt *st = ((struct sq_cursor *)pcur)->st;
    int type = sqlite3_column_type(st, col);
    if (type == SQLITE_NULL)
        return NULL;
    const void *p = type == SQLITE_BLOB ? sqlite3_column_blob(st, col)
                                        : sqlite3_column_text(st, col);
    *len_r = (size_t)sqlite3_column_bytes(st, col);
    return p != NULL ? p : "";
}

static void sq_close_cursor(struct ph_sql_cursor *pcur)
{
    struct sq_cursor *cur = (struct sq_cursor *)pcur;
    if (cur->adhoc) {
        sqlite3_finalize(cur->st);
    } else {
        sqlite3_reset(cur->st);
        sqlite3_clear_bindings(cur->st);
    }
    free(cur);
}

static int sq_script(struct ph_sql_conn *c, const char *sql,
                     const char **error_r)
{
    char *msg = NULL;
    int rc = sqlite3_exec(conn(c)->db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    *error_r = ph_storage_errorf("%s", msg != NULL ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return PH_STORAGE_ERR_CORRUPTED;
}

static int sq_begin(struct ph_sql_conn *pc, enum ph_sql_txn_kind kind,
                    const char **error_r)
{
    struct sq_conn *c = conn(pc);
    bool light = kind == PH_SQL_WRITE_LIGHT || kind == PH_SQL_WRITE_ONE;
    bool synced = kind == PH_SQL_READ || kind == PH_SQL_WRITE ||
                  kind == PH_SQL_SCHEMA ||
                  (light && c->ctx->conf->sync == SQ_SYNC_FULL);
    int ret = 0;
    /* PRAGMA synchronous cannot change inside a transaction: before. */
    if (kind != PH_SQL_READ && c->unsynced == synced) {
        ret = exec_text(pc, synced ? SQL_SYNC_FULL : SQL_SYNC_NORMAL,
                        "synchronous", error_r);
        c->unsynced = ret == 0 ? !synced : c->unsynced;
    }
    /* WAL is a property of the database file: set once, kept. */
    if (ret == 0 && kind == PH_SQL_SCHEMA)
        ret = exec_text(pc, SQL_WAL, "journal_mode", error_r);
    /* WRITE_ONE: each statement its own transaction, under the layer's
     * one-writer turn. */
    if (ret == 0 && kind != PH_SQL_WRITE_ONE)
        ret = exec_text(pc, kind == PH_SQL_READ ? SQL_BEGIN : SQL_BEGIN_WRITE,
                        "begin", error_r);
    return ret;
}

static void sq_rollback(struct ph_sql_conn *c)
{
    if (!sqlite3_get_autocommit(conn(c)->db))
        sqlite3_exec(conn(c)->db, SQL_ROLLBACK, NULL, NULL, NULL);
}

static int sq_commit(struct ph_sql_conn *c, const char **error_r)
{
    if (sqlite3_get_autocommit(conn(c)->db))
        return 0;
    int ret = exec_text(c, SQL_COMMIT, "commit", error_r);
    if (ret < 0)
        sq_rollback(c);
    return ret;
}

static int sq_savepoint(struct ph_sql_conn *c, enum ph_sql_savepoint op,
                        const char **error_r)
{
    return exec_text(c, SQL_SAVEPOINT[op], "savepoint", error_r);
}

/* ---- Bodies: blobs read and written in pieces ---------------------------- */

struct blob_fill {
    struct ph_sql_conn *c;
    sqlite3_blob *blob;
    uint64_t pos;
    int rc;
};

static int blob_piece(void *arg, const void *data, size_t len)
{
    struct blob_fill *f = arg;
    for (size_t done = 0; done < len && f->rc == SQLITE_OK;) {
        size_t n = len - done < BLOB_CHUNK ? len - done : BLOB_CHUNK;
        f->rc = sqlite3_blob_write(f->blob, (const char *)data + done, (int)n,
                                   (int)f->pos);
        done += n;
        f->pos += n;
    }
    return f->rc == SQLITE_OK ? 0 : -1;
}

/* The row was made with zeroblob(size); its bytes are written in place. */
int sq_body_write(struct ph_sql_conn *c, int64_t body_id, uint64_t size,
                  ph_message_reader *read, void *read_arg, const char **error_r)
{
    struct blob_fill f = {.c = c};
    int rc = sqlite3_blob_open(conn(c)->db, "main", "bodies", "data", body_id,
                               1, &f.blob);
    if (rc != SQLITE_OK)
        return sq_fail(c, rc, "append_blob", error_r);
    int r = read(read_arg, 0, size, blob_piece, &f);
    rc = sqlite3_blob_close(f.blob);
    if (f.rc != SQLITE_OK || (r == 0 && rc != SQLITE_OK))
        return sq_fail(c, f.rc != SQLITE_OK ? f.rc : rc, "append_blob",
                       error_r);
    if (r != 0) {
        ph_log_error("%s event=tempfile_failed reason=\"short read\"", SQ_MOD);
        *error_r = "Cannot store the message for now";
        return PH_STORAGE_ERR_TEMP;
    }
    return 0;
}

/* The blob is opened per piece: no handle outlives the caller's turn. */
int sq_body_read(struct ph_sql_conn *c, int64_t body_id, uint64_t size,
                 uint64_t offset, void *buf, size_t len, const char **error_r)
{
    sqlite3_blob *blob = NULL;
    int ret = 0;
    int rc = sqlite3_blob_open(conn(c)->db, "main", "bodies", "data", body_id,
                               0, &blob);
    if (rc == SQLITE_ERROR) {
        *error_r = "Message was expunged";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    } else if (rc != SQLITE_OK) {
        ret = sq_fail(c, rc, "read", error_r);
    } else if ((uint64_t)sqlite3_blob_bytes(blob) != size) {
        ph_log_error("%s event=corrupt db=%s body=%" PRId64 " reason=size",
                     SQ_MOD, conn(c)->ctx->path, body_id);
        *error_r = "Stored message is damaged";
        ret = PH_STORAGE_ERR_CORRUPTED;
    } else if ((rc = sqlite3_blob_read(blob, buf, (int)len, (int)offset)) !=
               SQLITE_OK) {
        ret = sq_fail(c, rc, "read", error_r);
    }
    sqlite3_blob_close(blob);
    return ret;
}

/* ---- ph_contains -----------------------------------------------------------
 */

/* ph_contains(text, key[, start]): does text (from byte start on) contain
 * key as SEARCH compares (ph_message_text_contains)? The key's matcher is
 * kept with the statement's constant argument: a scan folds it once. */
static void matcher_destroy(void *p)
{
    struct ph_message_matcher *m = p;
    ph_message_matcher_free(&m);
}

static void contains_fn(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    const char *text = (const char *)sqlite3_value_text(argv[0]);
    size_t text_len = (size_t)sqlite3_value_bytes(argv[0]);
    if (argc == 3 && text != NULL) {
        sqlite3_int64 start = sqlite3_value_int64(argv[2]);
        start = start < 0 ? 0 : start;
        if ((uint64_t)start > text_len)
            start = (sqlite3_int64)text_len;
        text += start;
        text_len -= (size_t)start;
    }
    struct ph_message_matcher *m = sqlite3_get_auxdata(cx, 1);
    if (m == NULL) {
        const char *key = (const char *)sqlite3_value_text(argv[1]);
        size_t key_len = (size_t)sqlite3_value_bytes(argv[1]);
        m = ph_message_matcher_new(key ? key : "", key ? key_len : 0);
        sqlite3_set_auxdata(cx, 1, m, matcher_destroy);
        /* SQLite may free it at once (out of memory, or a key that is not
         * a constant): then ask again each time. */
        if ((m = sqlite3_get_auxdata(cx, 1)) == NULL) {
            sqlite3_result_int(cx, ph_message_text_contains(
                                       text ? text : "", text ? text_len : 0,
                                       key ? key : "", key ? key_len : 0));
            return;
        }
    }
    ph_message_matcher_reset(m);
    sqlite3_result_int(
        cx, ph_message_matcher_feed(m, text ? text : "", text ? text_len : 0));
}

int sq_functions_register(sqlite3 *db)
{
    int rc = SQLITE_OK;
    for (int nargs = 2; nargs <= 3 && rc == SQLITE_OK; nargs++)
        rc = sqlite3_create_function_v2(db, "ph_contains", nargs,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC |
                                            SQLITE_INNOCUOUS,
                                        NULL, contains_fn, NULL, NULL, NULL);
    return rc;
}

const struct ph_sql_driver sq_driver = {
    .abi_minor = PH_ABI_MINOR,
    .size = sizeof(struct ph_sql_driver),
    .name = "sqlite",
    .caps = PH_SQL_CAP_ONE_WRITER,
    .stmts = sq_stmts,
    .n_stmts = PH_SQS_COUNT,
    .open = sq_open,
    .close = sq_close,
    .idle_ok = sq_idle_ok,
    .run = sq_run,
    .next = sq_next,
    .col_int = sq_col_int,
    .col_bytes = sq_col_bytes,
    .close_cursor = sq_close_cursor,
    .script = sq_script,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
};
