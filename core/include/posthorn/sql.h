/* SPDX-License-Identifier: MIT */
/* posthorn SDK (ABI 1.4): an SQL engine under libposthorn's SQL layer.
 *
 * A driver (storage.sqlite's, storage.pgsql's, a third party's) fills
 * struct ph_sql_driver: connections, statements by number or ad hoc text,
 * cursors over their rows, transactions. The layer above it is the same
 * for every engine: a pool of connections, transactions that are run
 * again when the engine calls a failure transient, and hooks around each
 * commit for change notification. It knows nothing of mail: the SQL mail
 * store (sqlstore.h) is written against it.
 *
 * Errors: every fallible call returns 0 (1 for "a row"), or a negative
 * enum ph_storage_err with *error_r set to a text ready for a tagged NO
 * (static, or ph_storage_errorf's per-thread buffer). A driver maps its
 * engine's codes to those and logs what is unexpected. */
#ifndef POSTHORN_SQL_H
#define POSTHORN_SQL_H

#include <string.h>

#include <posthorn/common.h>

/* ---- Values: every value reaches the engine as a parameter ------------- */

enum ph_sql_type {
    PH_SQL_NULL,
    PH_SQL_INT,
    PH_SQL_TEXT, /* p, len: bytes (the engine's text; UTF-8 for PostgreSQL) */
    PH_SQL_BLOB, /* p, len: bytes */
    PH_SQL_UIDS, /* p: const uint32_t[len], one parameter: SQLite reads it
                  * with json_each(), PostgreSQL as a bigint[] */
};

struct ph_sql_value {
    enum ph_sql_type type;
    int64_t i;
    const void *p;
    size_t len;
};

#define PH_SQL_I(v) ((struct ph_sql_value){.type = PH_SQL_INT, .i = (int64_t)(v)})
/* NUL-terminated text; a NULL pointer is SQL NULL. */
#define PH_SQL_S(s)                                                            \
    ((struct ph_sql_value){.type = (s) != NULL ? PH_SQL_TEXT : PH_SQL_NULL,    \
                           .p = (s),                                           \
                           .len = (s) != NULL ? strlen(s) : 0})
#define PH_SQL_SN(s, n)                                                        \
    ((struct ph_sql_value){.type = PH_SQL_TEXT, .p = (s), .len = (n)})
#define PH_SQL_B(b, n)                                                         \
    ((struct ph_sql_value){.type = PH_SQL_BLOB, .p = (b), .len = (n)})
#define PH_SQL_U(v, n)                                                         \
    ((struct ph_sql_value){.type = PH_SQL_UIDS, .p = (v), .len = (n)})
/* "n, values" of the arguments of a ph_sql_*_a() call. */
#define PH_SQL_ARGS(...)                                                       \
    (sizeof((struct ph_sql_value[]){__VA_ARGS__}) /                            \
     sizeof(struct ph_sql_value)),                                             \
        (const struct ph_sql_value[]){__VA_ARGS__}

/* ---- Transactions ------------------------------------------------------- */

enum ph_sql_txn_kind {
    PH_SQL_READ,        /* one snapshot for several statements */
    PH_SQL_WRITE,       /* durable when commit returns (an APPEND, a mailbox) */
    PH_SQL_WRITE_LIGHT, /* flags, expunges, \Recent: durable unless the
                         * engine is told otherwise (storage.sqlite's
                         * `sync appends`) */
    PH_SQL_WRITE_LAZY,  /* a power cut may take it back: it is done again
                         * (storage.sqlite's text indexer) */
    PH_SQL_WRITE_ONE,   /* statements that may each commit on their own (a
                         * \Recent claim: a compare-and-set), durable like
                         * PH_SQL_WRITE_LIGHT: an engine may run them
                         * without BEGIN and COMMIT */
    PH_SQL_SCHEMA,      /* exclusive against other processes and nodes */
};

enum ph_sql_savepoint { PH_SQL_SP_SET, PH_SQL_SP_RELEASE, PH_SQL_SP_UNDO };

/* ---- What a driver implements -------------------------------------------- */

struct ph_sql;
struct ph_sql_driver;
/* The driver's own: the rows of one statement, read in order. Its struct
 * starts with the struct ph_sql_conn * it was run on (the layer finds the
 * driver through it). */
struct ph_sql_cursor;

/* The driver's connection struct embeds this as its first member; open()
 * zeroes it (ph_calloc) and the layer fills drv. */
struct ph_sql_conn {
    const struct ph_sql_driver *drv;
    /* Set by the driver with an error: the failure is transient (busy,
     * serialization failure, deadlock, a connection lost before the
     * transaction's first statement), the transaction may be run again. */
    bool retry;
    /* Set by the driver: the connection is gone, never pooled again (the
     * idle ones are dropped too: they most likely went with it). */
    bool lost;
    /* The layer's. */
    const struct ph_sql *sql;
    int64_t *marks;
    size_t nmarks, marks_cap;
    struct ph_sql_conn *next;
};

/* One writer at a time (SQLite): the layer serializes this process's
 * write transactions itself, so that only other processes' writers wait
 * in the engine's busy handler. */
#define PH_SQL_CAP_ONE_WRITER 0x1

struct ph_sql_driver {
    uint32_t abi_minor; /* PH_ABI_MINOR when built */
    uint32_t size;      /* sizeof(struct ph_sql_driver) when built */
    const char *name;   /* "sqlite", for log lines */
    unsigned caps;      /* PH_SQL_CAP_* */
    /* The SQL of numbered statements where the engine's differs from the
     * caller's (struct ph_sql_params), n_stmts of them; NULL: the
     * caller's. */
    const char *const *stmts;
    size_t n_stmts;

    /* A new connection, ready to use; dctx is ph_sql_new()'s. */
    int (*open)(void *dctx, struct ph_sql_conn **c_r, const char **error_r);
    void (*close)(struct ph_sql_conn *c);
    /* Before the pool hands an idle connection out: still alive and
     * outside any transaction. */
    bool (*idle_ok)(struct ph_sql_conn *c);

    /* Runs sql: numbered statement stmt's (>= 0: the same text every
     * time, to be prepared once per connection at its first use) or, with
     * stmt < 0, ad hoc text (SEARCH). Parameters are ?N, or each '?' in
     * order; never inside a literal. With cur_r, the rows are read through
     * *cur_r (closed with close_cursor before the connection runs
     * anything else); without, the statement runs to its end and
     * *changed_r (when not NULL) gets the number of rows it changed. */
    int (*run)(struct ph_sql_conn *c, int stmt, const char *sql,
               size_t nargs, const struct ph_sql_value *args,
               struct ph_sql_cursor **cur_r, uint64_t *changed_r,
               const char **error_r);
    /* 1: a row; 0: no more; or an error. */
    int (*next)(struct ph_sql_cursor *cur, const char **error_r);
    /* The column as an integer (NULL is 0, a boolean 0 or 1). */
    int64_t (*col_int)(struct ph_sql_cursor *cur, int col);
    /* The column's bytes, NUL-terminated, valid until next() or
     * close_cursor(); NULL for SQL NULL. */
    const void *(*col_bytes)(struct ph_sql_cursor *cur, int col,
                             size_t *len_r);
    void (*close_cursor)(struct ph_sql_cursor *cur);
    /* Statements without parameters, separated by ';' (schema DDL). */
    int (*script)(struct ph_sql_conn *c, const char *sql,
                  const char **error_r);

    int (*begin)(struct ph_sql_conn *c, enum ph_sql_txn_kind kind,
                 const char **error_r);
    int (*commit)(struct ph_sql_conn *c, const char **error_r);
    /* Never fails: a connection it cannot roll back is marked lost. */
    void (*rollback)(struct ph_sql_conn *c);
    /* Optional (NULL: never asked): a savepoint inside a transaction, for
     * the requests of a group commit on a one-writer engine. */
    int (*savepoint)(struct ph_sql_conn *c, enum ph_sql_savepoint op,
                     const char **error_r);
};

/* ---- The layer ----------------------------------------------------------- */

struct ph_sql_params {
    unsigned max_conns; /* the pool's size */
    unsigned retries;   /* reruns of a transaction after a transient failure */
    /* The SQL of each numbered statement, n_stmts of them, with ?N
     * parameters; the driver's table overrides it. */
    const char *const *stmts;
    size_t n_stmts;
    const char *log_mod; /* "storage.sqlite": log lines say mod=... */
    const char *db;      /* what log lines call the database (no password) */
    /* Called with the ids ph_sql_mark() collected in a transaction that
     * is about to commit, on its connection (PostgreSQL's NOTIFY, sent by
     * the commit), and after the commit on the committing thread (waking
     * this process's watchers). Either may be NULL. */
    int (*before_commit)(void *arg, struct ph_sql_conn *c, const int64_t *ids,
                         size_t n, const char **error_r);
    void (*after_commit)(void *arg, const int64_t *ids, size_t n);
    void *hook_arg;
};

/* A database: drv's connections to it, opened with dctx. */
int ph_sql_new(const struct ph_sql_driver *drv, void *dctx,
               const struct ph_sql_params *params, struct ph_sql **sql_r,
               char **error_r) PH_WUR;
/* Every connection must be back in the pool. */
void ph_sql_free(struct ph_sql **sql);

/* A pooled connection for statements that need no transaction (each one
 * its own snapshot). Give it back before anything that may wait on
 * another connection (a caller's callback, another ph_sql_get()). */
int ph_sql_get(struct ph_sql *sql, struct ph_sql_conn **c_r,
               const char **error_r) PH_WUR;
void ph_sql_put(struct ph_sql *sql, struct ph_sql_conn **c);

typedef int ph_sql_txn_fn(struct ph_sql_conn *c, void *arg,
                          const char **error_r);
/* What the layer did, for tests and bench: the group commits made (of
 * more than one transaction) and the transactions they held; the writers
 * waiting for the next one now. */
struct ph_sql_stats {
    uint64_t groups, grouped;
    size_t waiting;
};
void ph_sql_stats(struct ph_sql *sql, struct ph_sql_stats *st_r);

/* A transaction that is never grouped with others (a large APPEND, a
 * batch of the text indexer). */
#define PH_SQL_ALONE 0x1
/* Runs fn in a transaction of kind on a connection of the pool, and
 * commits it when fn returns 0; rolls back otherwise. A transient failure
 * (of fn's statements or of the commit) runs it again, up to the
 * params' retries, each time from the start: fn must start from arg as
 * given every time (reset what it fills) and touch nothing outside the
 * transaction and arg. fn may run on another thread than the caller's
 * (a group commit runs the waiting requests of several callers in one
 * transaction, each in a savepoint, and answers each after the commit
 * that covers its change), so it must not use the caller's thread's
 * state; a text it sets in *error_r is copied for the caller. Never call
 * ph_sql_txn() or ph_sql_get() from fn. */
int ph_sql_txn(struct ph_sql *sql, enum ph_sql_txn_kind kind, unsigned flags,
               ph_sql_txn_fn *fn, void *arg, const char **error_r) PH_WUR;
/* Inside fn: id changed; given to the commit hooks once. */
void ph_sql_mark(struct ph_sql_conn *c, int64_t id);

/* Statement stmt with arguments (PH_SQL_ARGS): run to its end (*changed_r:
 * rows changed; may be NULL), or read through a cursor. */
int ph_sql_exec_a(struct ph_sql_conn *c, int stmt, size_t n,
                  const struct ph_sql_value *v, uint64_t *changed_r,
                  const char **error_r) PH_WUR;
int ph_sql_query_a(struct ph_sql_conn *c, int stmt, size_t n,
                   const struct ph_sql_value *v, struct ph_sql_cursor **cur_r,
                   const char **error_r) PH_WUR;
/* The first column of the first row as an integer (INSERT ... RETURNING
 * id): 1 with *v_r, 0 without a row, or an error. */
int ph_sql_one_a(struct ph_sql_conn *c, int stmt, size_t n,
                 const struct ph_sql_value *v, int64_t *v_r,
                 const char **error_r) PH_WUR;
#define ph_sql_exec(c, stmt, error_r, ...)                                     \
    ph_sql_exec_a(c, stmt, PH_SQL_ARGS(__VA_ARGS__), NULL, error_r)
#define ph_sql_query(c, stmt, cur_r, error_r, ...)                             \
    ph_sql_query_a(c, stmt, PH_SQL_ARGS(__VA_ARGS__), cur_r, error_r)
#define ph_sql_one(c, stmt, v_r, error_r, ...)                                 \
    ph_sql_one_a(c, stmt, PH_SQL_ARGS(__VA_ARGS__), v_r, error_r)
/* Several statements without parameters (DDL). */
int ph_sql_script(struct ph_sql_conn *c, const char *sql,
                  const char **error_r) PH_WUR;

/* 1 a row, 0 no more, or an error (the cursor is done either way). */
int ph_sql_next(struct ph_sql_cursor *cur, const char **error_r) PH_WUR;
int64_t ph_sql_int(struct ph_sql_cursor *cur, int col);
/* Bytes, NUL-terminated; NULL for SQL NULL. */
const void *ph_sql_bytes(struct ph_sql_cursor *cur, int col, size_t *len_r);
/* A malloc'ed copy of a text column, NULL for SQL NULL. */
char *ph_sql_strdup(struct ph_sql_cursor *cur, int col);
void ph_sql_close(struct ph_sql_cursor **cur);

/* Ad hoc SQL (SEARCH programs): fixed fragments and '?' only, every value
 * a parameter. The builder keeps copies of the text and blob values. */
struct ph_sql_builder {
    struct ph_buf sql;
    struct ph_sql_value *v;
    size_t n, cap;
    char **owned;
    size_t nowned, owned_cap;
};
/* Appends fragment, whose '?'s take the n values in order. */
void ph_sql_build(struct ph_sql_builder *b, const char *fragment, size_t n,
                  const struct ph_sql_value *v);
#define ph_sql_frag(b, fragment) ph_sql_build(b, fragment, 0, NULL)
#define ph_sql_fragv(b, fragment, ...)                                         \
    ph_sql_build(b, fragment, PH_SQL_ARGS(__VA_ARGS__))
void ph_sql_builder_clear(struct ph_sql_builder *b);
int ph_sql_query_built(struct ph_sql_conn *c, const struct ph_sql_builder *b,
                       struct ph_sql_cursor **cur_r,
                       const char **error_r) PH_WUR;

#endif
