/* SPDX-License-Identifier: MIT */
/* posthorn SDK (ABI 1.4): a storage module made of an SQL driver and its
 * dialect.
 *
 * The mail logic (accounts, mailboxes, messages, flags, the modseq log,
 * \Recent, SEARCH pushdown, wake-ups, schema upgrades and the values kept
 * beside each body) is libposthorn's, written once against the SQL layer
 * (sql.h). A module gives a driver for its engine (struct ph_sql_driver,
 * whose stmts is its table of enum ph_sqlstore_stmt), a dialect for what
 * the engines really do differently (below), and its directive table;
 * its create() calls ph_sqlstore_new() and its descriptor's iface is
 * &ph_sqlstore_vfuncs (the instance's ctx is the struct ph_sqlstore *).
 * docs/modules.md, "An SQL storage: writing a driver", walks through one.
 *
 * The data model every driver's schema holds: tables meta, accounts,
 * mailboxes, bodies (+ the driver's byte storage), messages, tombstones,
 * subscriptions, fetch_values, header_values, body_text, sort_values,
 * rederive and body_unref, with the columns the statements' contracts
 * name (messages also PH_SQS_SORT_COLUMNS, indexed); triggers
 * keep the mailbox counters (messages, unseen, size) and the account's
 * quota usage (usage_storage, usage_messages, usage_mailboxes: ABI 1.7;
 * the store locks the account row, ACCT_QUOTA_LOCK, before it changes
 * them) and record in body_unref each body a deleted message had. */
#ifndef POSTHORN_SQLSTORE_H
#define POSTHORN_SQLSTORE_H

#include <posthorn/message.h>
#include <posthorn/sql.h>
#include <posthorn/sqlstore-stmt.h>
#include <posthorn/storage-impl.h>

struct ph_sqlstore;

/* What body_text keeps of a body. */
#define PH_SQLSTORE_TEXT_PENDING 0x1 /* kept UTF-8 text waits for the
                                      * engine's indexer (state -1; 0 never
                                      * indexed; 1 indexed) */
#define PH_SQLSTORE_TEXT_RAW 0x2     /* text that is not UTF-8 or holds a NUL
                                      * goes in raw (a blob), not text */
#define PH_SQLSTORE_HDR_FOLDED 0x4   /* header_values.value is kept folded
                                      * (ph_message_fold), for engines that
                                      * compare bytes */

struct ph_sqlstore_dialect {
    uint32_t abi_minor, size; /* PH_ABI_MINOR and sizeof() when built */

    /* Schema: migrations[i] takes version i to i + 1 (statements without
     * parameters; never edit a released one: add the next). A step that
     * changes what is derived from bodies (structure, FETCH values, header
     * values, text) refills table rederive: the store makes those anew
     * from the bytes after the upgrade, in batches. Where the version is
     * kept, as SQL without parameters run in a PH_SQL_SCHEMA transaction:
     * schema_init (a script run first, or NULL); schema_version (-> the
     * version; no row: 0, an empty database); schema_foreign (-> 1 when
     * the database holds what the store did not make: it is refused);
     * schema_set (a script, %lld the version to record). */
    const char *const *migrations;
    size_t n_migrations;
    const char *schema_init, *schema_version, *schema_foreign, *schema_set;
    /* Optional: after the upgrade, at every start, what may be missing
     * without harm (an index of an extension); it logs its own failure. */
    void (*schema_extras)(void *dctx, struct ph_sql_conn *c);

    /* Bodies' bytes. NULL: rows of PH_SQS_BODY_CHUNK_INSERT/GET of
     * chunk_size bytes (the last one shorter; an empty body has one empty
     * chunk). body_write gets the bytes from read. body_read reads len
     * bytes at offset (within one chunk_size piece) of a body of size;
     * NOT_FOUND when the body is gone. */
    int (*body_write)(struct ph_sql_conn *c, int64_t body_id, uint64_t size,
                      ph_message_reader *read, void *read_arg,
                      const char **error_r);
    int (*body_read)(struct ph_sql_conn *c, int64_t body_id, uint64_t size,
                     uint64_t offset, void *buf, size_t len,
                     const char **error_r);
    size_t chunk_size;
    uint64_t body_max; /* the largest message the engine stores */

    /* body_text and header_values. */
    unsigned text_flags;            /* PH_SQLSTORE_TEXT_*, _HDR_FOLDED */
    /* Optional: after a commit that left text pending, kick the engine's
     * own indexer. NULL: the store runs its indexer (a thread that takes
     * PH_SQS_TEXT_PENDING's texts in batches, PH_SQS_TEXT_INDEX each,
     * after a pause in APPENDs of text_index_wait). */
    void (*text_added)(void *dctx);

    /* SEARCH: fragments of the WHERE clause over table messages. One '?',
     * given " keyword " lowered: keywords holds it (never NULL). */
    const char *keyword_expr;
    /* Optional: the index hint (" INDEXED BY ...") after "SELECT uid FROM
     * messages" for a top-level key of a flag of enum ph_flag, set or not,
     * when a partial index serves it; NULL when none does. For an engine
     * whose planner has no statistics to pick it itself. */
    const char *(*index_hint)(uint32_t flag, bool set);
    /* Appends a predicate over messages (body_id) true when a value of
     * field (index in ph_sqlstore_header_fields) of its body's header
     * contains key as SEARCH compares (key non-empty). */
    void (*put_header)(struct ph_sql_builder *b, int field, const char *key,
                       size_t len);
    /* The same for the text (whole: TEXT, else BODY) of body_text. */
    void (*put_text)(struct ph_sql_builder *b, const char *key, size_t len,
                     bool whole);

    /* Wake-ups. announce: in the writing transaction, before its commit,
     * for each mailbox it changed (PostgreSQL NOTIFY: sent by the
     * commit, with token, which this process skips when it hears it).
     * announced: after the commit (SQLite: datagrams to other processes).
     * listen: this process starts (on) or stops hearing of a mailbox's
     * changes elsewhere; it returns once that is in place (or the channel
     * is down). Any may be NULL. */
    int (*announce)(struct ph_sql_conn *c, const char *token,
                    const int64_t *ids, size_t n, const char **error_r);
    void (*announced)(void *dctx, const int64_t *ids, size_t n);
    void (*listen)(void *dctx, int64_t mailbox_id, bool on);
};

struct ph_sqlstore_params {
    struct ph_instance *inst;
    const struct ph_sql_driver *drv;
    const struct ph_sqlstore_dialect *dialect;
    void *dctx;           /* the driver's context, handed to its hooks */
    unsigned max_conns;   /* the pool's size */
    const char *log_mod;  /* "storage.pgsql" */
    const char *db;       /* for log lines: a path, "host:port/db" */
    const char *spill_dir; /* large APPENDs wait there (unlinked files) */
    int64_t body_grace_s; /* bodies stay this long after their last message */
    int64_t tombstone_horizon_s; /* tombstones older than this are purged */
    bool debug;
    /* The pause in APPENDs the text indexer waits for (0: 500 ms). */
    int64_t text_index_wait_ms;
};

/* Opens the store: the schema upgraded, the bodies waiting in rederive
 * made anew, unreferenced bodies swept. *s_r is set before that work (the
 * driver's hooks may log through it), NULL again on failure. */
int ph_sqlstore_new(const struct ph_sqlstore_params *p,
                    struct ph_sqlstore **s_r, char **error_r) PH_WUR;
void ph_sqlstore_free(struct ph_sqlstore **s);
struct ph_sql *ph_sqlstore_sql(struct ph_sqlstore *s);
void *ph_sqlstore_dctx(struct ph_sqlstore *s);
/* A token unique to this store in this process (announce's). */
const char *ph_sqlstore_token(const struct ph_sqlstore *s);
/* The module's .iface; the instance's ctx is the struct ph_sqlstore *. */
extern const struct ph_storage_vfuncs ph_sqlstore_vfuncs;
/* From any thread, only signals: mailbox_id changed elsewhere; -1:
 * anything may have (a lost notification channel): every watcher reads. */
void ph_sqlstore_wake(struct ph_sqlstore *s, int64_t mailbox_id);
/* Logs like the store (mod=..., debug=1) when the module's debug is on. */
void ph_sqlstore_debug(const struct ph_sqlstore *s, const char *fmt, ...)
    PH_PRINTF(2, 3);
/* The header fields header_values keeps (field is the index). */
#define PH_SQLSTORE_HEADER_FIELDS 5
extern const char *const ph_sqlstore_header_fields[PH_SQLSTORE_HEADER_FIELDS];

/* Directive rows every SQL store module has, for a conf struct T with
 * fields body_grace, tombstone_horizon and text_index_wait (int64_t ms)
 * and debug (bool). */
#define PH_SQLSTORE_DIRECTIVES(T)                                              \
    {.name = "body_grace",                                                     \
     .type = PH_DT_DURATION,                                                   \
     .offset = offsetof(T, body_grace),                                        \
     .def = "10m",                                                             \
     .help = "how long an expunged message stays readable (a FETCH that "      \
             "streams it finishes; a session not yet told of the expunge "     \
             "still FETCHes it, RFC 2180 4.1.1)"},                             \
        {.name = "tombstone_horizon",                                          \
         .type = PH_DT_DURATION,                                               \
         .offset = offsetof(T, tombstone_horizon),                             \
         .def = "90d",                                                         \
         .help = "how long the UIDs of expunged messages are remembered for "  \
                 "QRESYNC (a client asking from before gets every missing "    \
                 "UID; 0s: none kept)"},                                       \
        {.name = "text_index_wait",                                            \
         .type = PH_DT_DURATION,                                               \
         .offset = offsetof(T, text_index_wait),                               \
         .def = "500ms",                                                       \
         .help = "the pause in APPENDs after which new messages' text enters " \
                 "the SEARCH TEXT/BODY index (it waits 10s at most, or this "  \
                 "when longer; until then searches read it without the "       \
                 "index)"},                                                    \
        PH_STORAGE_DEBUG_ROW_(T)

#endif
