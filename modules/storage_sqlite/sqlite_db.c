/* SPDX-License-Identifier: MIT */
/* storage.sqlite: connections, prepared statements, transactions, the
 * schema and its migrations, and the mapping of SQLite errors. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <posthorn/log.h>
#include <posthorn/message.h>
#include <unistr.h>

#include "sqlite_private.h"

#define SQ_APPLICATION_ID 0x50487331 /* "PHs1": a posthorn mail database */
#define SQ_BUSY_TIMEOUT_MS 10000
#define SQ_MAX_CONNS 8

static int fill_body_values(sqlite3 *db, char **msg_r);
static int fill_body_text(sqlite3 *db, char **msg_r);

/* Each entry upgrades the schema from version i to i + 1: its SQL, then
 * its fill function, if any, for what SQL alone cannot compute. The
 * database records its version in PRAGMA user_version. Never edit a
 * released entry: add the next one. */
static const struct {
    const char *sql;
    int (*fill)(sqlite3 *db, char **msg_r);
} migrations[] = {
    /* 1: the data model of DESIGN.md. Counters on mailboxes are kept by
     * triggers so that STATUS never scans messages. */
    {
        .sql =
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
            "  WITHOUT ROWID;"
            "CREATE TABLE accounts ("
            "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
            "  name TEXT NOT NULL UNIQUE,"
            "  created INTEGER NOT NULL,"
            "  appendlimit INTEGER);"
            "CREATE TABLE mailboxes ("
            "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
            "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE "
            "CASCADE,"
            "  name TEXT NOT NULL,"
            "  uidvalidity INTEGER NOT NULL,"
            "  uidnext INTEGER NOT NULL DEFAULT 1,"
            "  highestmodseq INTEGER NOT NULL DEFAULT 1,"
            "  recent_uid INTEGER NOT NULL DEFAULT 1,"
            "  special_use INTEGER NOT NULL DEFAULT 0,"
            "  noselect INTEGER NOT NULL DEFAULT 0,"
            "  messages INTEGER NOT NULL DEFAULT 0,"
            "  unseen INTEGER NOT NULL DEFAULT 0,"
            "  size INTEGER NOT NULL DEFAULT 0,"
            "  UNIQUE (account_id, name));"
            "CREATE TABLE bodies ("
            "  id INTEGER PRIMARY KEY,"
            "  size INTEGER NOT NULL,"
            "  info BLOB NOT NULL,"
            "  data BLOB NOT NULL);"
            "CREATE TABLE messages ("
            "  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE "
            "CASCADE,"
            "  uid INTEGER NOT NULL,"
            "  modseq INTEGER NOT NULL,"
            "  flags INTEGER NOT NULL,"
            "  keywords TEXT,"
            "  internal_date INTEGER NOT NULL,"
            "  internal_tz INTEGER NOT NULL,"
            "  size INTEGER NOT NULL,"
            "  body_id INTEGER NOT NULL REFERENCES bodies(id),"
            "  PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
            "CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);"
            "CREATE INDEX messages_body ON messages (body_id);"
            /* EXPUNGE visits only what has \Deleted. */
            "CREATE INDEX messages_deleted ON messages (mailbox_id, uid)"
            "  WHERE (flags & 8) != 0;"
            "CREATE TABLE tombstones ("
            "  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE "
            "CASCADE,"
            "  uid INTEGER NOT NULL,"
            "  modseq INTEGER NOT NULL,"
            "  PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
            "CREATE INDEX tombstones_modseq ON tombstones (mailbox_id, modseq);"
            "CREATE TABLE subscriptions ("
            "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE "
            "CASCADE,"
            "  name TEXT NOT NULL,"
            "  PRIMARY KEY (account_id, name)) WITHOUT ROWID;"
            "CREATE TRIGGER messages_insert AFTER INSERT ON messages BEGIN"
            "  UPDATE mailboxes SET messages = messages + 1,"
            "    unseen = unseen + (NEW.flags & 1 = 0), size = size + NEW.size"
            "    WHERE id = NEW.mailbox_id;"
            "END;"
            /* Bodies are shared by copies: the last message to go takes
             * its body. */
            "CREATE TRIGGER messages_delete AFTER DELETE ON messages BEGIN"
            "  UPDATE mailboxes SET messages = messages - 1,"
            "    unseen = unseen - (OLD.flags & 1 = 0), size = size - OLD.size"
            "    WHERE id = OLD.mailbox_id;"
            "  DELETE FROM bodies WHERE id = OLD.body_id AND NOT EXISTS"
            "    (SELECT 1 FROM messages WHERE body_id = OLD.body_id);"
            "END;"
            "CREATE TRIGGER messages_seen AFTER UPDATE OF flags ON messages"
            "  WHEN (OLD.flags & 1) != (NEW.flags & 1) BEGIN"
            "  UPDATE mailboxes SET unseen = unseen + (NEW.flags & 1 = 0)"
            "    - (OLD.flags & 1 = 0) WHERE id = NEW.mailbox_id;"
            "END;"
            "CREATE TRIGGER messages_moved AFTER UPDATE OF mailbox_id ON "
            "messages"
            "  WHEN OLD.mailbox_id != NEW.mailbox_id BEGIN"
            "  UPDATE mailboxes SET messages = messages - 1,"
            "    unseen = unseen - (OLD.flags & 1 = 0), size = size - OLD.size"
            "    WHERE id = OLD.mailbox_id;"
            "  UPDATE mailboxes SET messages = messages + 1,"
            "    unseen = unseen + (NEW.flags & 1 = 0), size = size + NEW.size"
            "    WHERE id = NEW.mailbox_id;"
            "END;",
    },
    /* 2: SEARCH pushdown (sqlite_search.c). What a large mailbox holds
     * few of (unseen, flagged; deleted has its index) gets a partial
     * index, and internal dates are indexed as seconds of their own
     * zone, which BEFORE/ON/SINCE compare. The expressions must stay as
     * sqlite_search.c writes them, or the planner will not match them.
     */
    {
        .sql = "CREATE INDEX messages_unseen ON messages (mailbox_id, uid)"
               "  WHERE (flags & 1) = 0;"
               "CREATE INDEX messages_flagged ON messages (mailbox_id, uid)"
               "  WHERE (flags & 4) != 0;"
               "CREATE INDEX messages_local_date ON messages"
               "  (mailbox_id, internal_date + internal_tz * 60);",
    },
    /* 3: what FETCH 1:* and SEARCH FROM/SUBJECT read, kept apart from
     * the serialized structure, filled at APPEND and here for the
     * bodies already stored (sq_body_values_insert). fetch_values:
     * ENVELOPE, BODYSTRUCTURE and BODY as sent. header_values: the
     * decoded values of the fields of sq_header_fields (field is the
     * index there; n orders repeated fields), for SEARCH pushdown. */
    {
        .sql = "CREATE TABLE fetch_values ("
               "  body_id INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE "
               "CASCADE,"
               "  envelope TEXT NOT NULL,"
               "  bodystructure TEXT NOT NULL,"
               "  body TEXT NOT NULL);"
               "CREATE TABLE header_values ("
               "  body_id INTEGER NOT NULL REFERENCES bodies(id) ON DELETE "
               "CASCADE,"
               "  field INTEGER NOT NULL,"
               "  n INTEGER NOT NULL,"
               "  value TEXT NOT NULL,"
               "  PRIMARY KEY (body_id, field, n)) WITHOUT ROWID;",
        .fill = fill_body_values,
    },
    /* 4: SEARCH TEXT and BODY (sq_body_text_make): the folded text of
     * each body, and a trigram index over it that gives the bodies that
     * hold every trigram of a key, which ph_contains then confirms.
     * detail=none keeps the index near a tenth of the text (no
     * positions: a set of trigrams, not a phrase, is asked for; no
     * column sizes either). A text enters the index when the indexer
     * (sqlite_index.c) sets indexed from pending (-1) to 1; text that is
     * not valid UTF-8 stays at 0; both others are always candidates.
     * The triggers keep the index in step with the table, bodies'
     * cascade included; its content is the view of the indexed rows
     * (what an FTS5 'rebuild' would read). */
    {
        .sql = "CREATE TABLE body_text ("
               "  body_id INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE "
               "CASCADE,"
               "  header_len INTEGER NOT NULL,"
               "  text_len INTEGER NOT NULL,"
               "  indexed INTEGER NOT NULL,"
               "  text TEXT);"
               "CREATE INDEX body_text_unindexed ON body_text (body_id)"
               "  WHERE indexed != 1;"
               "CREATE VIEW body_text_indexed AS SELECT body_id, text "
               "FROM body_text WHERE indexed = 1;"
               "CREATE VIRTUAL TABLE body_fts USING fts5(text, "
               "content='body_text_indexed', content_rowid='body_id', "
               "tokenize='trigram', detail='none', columnsize=0);"
               "CREATE TRIGGER body_text_index AFTER UPDATE OF indexed ON "
               "body_text WHEN OLD.indexed != 1 AND NEW.indexed = 1 BEGIN"
               "  INSERT INTO body_fts (rowid, text) VALUES (NEW.body_id, "
               "NEW.text);"
               "END;"
               "CREATE TRIGGER body_text_delete AFTER DELETE ON body_text"
               "  WHEN OLD.indexed = 1 BEGIN"
               "  INSERT INTO body_fts (body_fts, rowid, text) VALUES "
               "('delete', OLD.body_id, OLD.text);"
               "END;",
        .fill = fill_body_text,
    },
    /* 5: the parser and what is kept from it changed (issue 14: boundaries
     * without their trailing whitespace, address forms in header_values,
     * part headers and file names in body_text). Every body stored before
     * is made anew from its bytes by sq_rederive(), a batch per
     * transaction, after this migration has committed: an upgrade that
     * stops half-way goes on at the next start. A later change to what is
     * derived adds its own migration that refills table rederive. */
    {
        .sql = "CREATE TABLE rederive (body_id INTEGER PRIMARY KEY);"
               "INSERT INTO rederive (body_id) SELECT id FROM bodies;",
    },
};

#define MBOX_COLUMNS                                                           \
    "id, uidvalidity, uidnext, highestmodseq, recent_uid, special_use, "       \
    "noselect, messages, unseen, size"
#define MSG_COLUMNS                                                            \
    "uid, modseq, flags, keywords, internal_date, internal_tz, size, body_id"

static const char *const stmt_sql[SQ_STMT_COUNT] = {
    [SQ_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [SQ_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [SQ_ACCT_GET] = "SELECT id, appendlimit FROM accounts WHERE name = ?1",
    [SQ_ACCT_INSERT] = "INSERT INTO accounts (name, created) VALUES (?1, ?2)",
    [SQ_ACCT_DELETE] = "DELETE FROM accounts WHERE id = ?1",
    [SQ_ACCT_LIST] = "SELECT name FROM accounts ORDER BY name",
    [SQ_ACCT_MAILBOX_IDS] = "SELECT id FROM mailboxes WHERE account_id = ?1",
    [SQ_MBOX_BY_NAME] = "SELECT " MBOX_COLUMNS " FROM mailboxes "
                        "WHERE account_id = ?1 AND name = ?2",
    [SQ_MBOX_BY_ID] = "SELECT " MBOX_COLUMNS " FROM mailboxes WHERE id = ?1",
    [SQ_MBOX_INSERT] = "INSERT INTO mailboxes (account_id, name, uidvalidity, "
                       "special_use, noselect) VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQ_MBOX_LIST] = "SELECT name, special_use, noselect FROM mailboxes "
                     "WHERE account_id = ?1 ORDER BY name",
    /* Names in [?2, ?3): a mailbox's inferiors are those in
     * ["name.", "name/"), '/' being the byte after '.'. */
    [SQ_MBOX_RANGE] = "SELECT id, name, noselect FROM mailboxes "
                      "WHERE account_id = ?1 AND name >= ?2 AND name < ?3 "
                      "ORDER BY name",
    [SQ_MBOX_DELETE] = "DELETE FROM mailboxes WHERE id = ?1",
    [SQ_MBOX_REVIVE] = "UPDATE mailboxes SET noselect = 0, uidvalidity = ?2, "
                       "special_use = ?3 WHERE id = ?1",
    [SQ_MBOX_RENAME] = "UPDATE mailboxes SET name = ?2 WHERE id = ?1",
    [SQ_MBOX_SET_NEXT] = "UPDATE mailboxes SET uidnext = ?2, "
                         "highestmodseq = ?3 WHERE id = ?1",
    [SQ_MBOX_SET_MODSEQ] = "UPDATE mailboxes SET highestmodseq = ?2 "
                           "WHERE id = ?1",
    [SQ_MBOX_SET_RECENT] = "UPDATE mailboxes SET recent_uid = ?2 "
                           "WHERE id = ?1 AND recent_uid < ?2",
    [SQ_MBOX_TAKE_OVER] = "UPDATE mailboxes SET uidnext = ?2, "
                          "highestmodseq = ?3, recent_uid = ?4 WHERE id = ?1",
    [SQ_MBOX_RECENT_COUNT] = "SELECT count(*) FROM messages "
                             "WHERE mailbox_id = ?1 AND uid >= ?2",
    [SQ_SUB_ADD] = "INSERT OR IGNORE INTO subscriptions (account_id, name) "
                   "VALUES (?1, ?2)",
    [SQ_SUB_DEL] = "DELETE FROM subscriptions WHERE account_id = ?1 "
                   "AND name = ?2",
    [SQ_SUB_LIST] = "SELECT name FROM subscriptions WHERE account_id = ?1 "
                    "ORDER BY name",
    [SQ_SUB_RENAME] = "UPDATE OR REPLACE subscriptions SET name = ?3 "
                      "WHERE account_id = ?1 AND name = ?2",
    [SQ_MSG_RANGE] = "SELECT " MSG_COLUMNS ", NULL FROM messages "
                     "WHERE mailbox_id = ?1 AND uid >= ?2 AND uid <= ?3 "
                     "ORDER BY uid LIMIT ?4",
    [SQ_MSG_RANGE_INFO] =
        "SELECT m.uid, m.modseq, m.flags, m.keywords, m.internal_date, "
        "m.internal_tz, m.size, m.body_id, b.info "
        "FROM messages m JOIN bodies b ON b.id = m.body_id "
        "WHERE m.mailbox_id = ?1 AND m.uid >= ?2 AND m.uid <= ?3 "
        "ORDER BY m.uid LIMIT ?4",
    /* Changed UIDs come from the modseq index, then their rows by UID
     * range (`+modseq` keeps the planner on the primary key there). */
    [SQ_MSG_CHANGED_UIDS] = "SELECT uid FROM messages INDEXED BY "
                            "messages_modseq WHERE mailbox_id = ?1 "
                            "AND modseq > ?2 AND modseq <= ?3",
    [SQ_MSG_CHANGED] = "SELECT " MSG_COLUMNS ", NULL FROM messages "
                       "WHERE mailbox_id = ?1 AND uid >= ?2 AND uid <= ?3 "
                       "AND +modseq > ?4 AND +modseq <= ?5 "
                       "ORDER BY uid LIMIT ?6",
    [SQ_MSG_BODY] = "SELECT body_id, size FROM messages "
                    "WHERE mailbox_id = ?1 AND uid = ?2",
    [SQ_MSG_INSERT] = "INSERT INTO messages (mailbox_id, uid, modseq, flags, "
                      "keywords, internal_date, internal_tz, size, body_id) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [SQ_MSG_SET_FLAGS] = "UPDATE messages SET flags = ?3, keywords = ?4, "
                         "modseq = ?5 WHERE mailbox_id = ?1 AND uid = ?2",
    [SQ_MSG_DELETED] = "SELECT uid FROM messages INDEXED BY "
                       "messages_deleted WHERE mailbox_id = ?1 "
                       "AND uid >= ?2 AND uid <= ?3 AND (flags & 8) != 0 "
                       "ORDER BY uid",
    [SQ_MSG_DELETE] = "DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
    [SQ_MSG_MOVE_ALL] = "UPDATE messages SET mailbox_id = ?2 "
                        "WHERE mailbox_id = ?1",
    [SQ_BODY_INSERT] = "INSERT INTO bodies (size, info, data) "
                       "VALUES (?1, ?2, zeroblob(?1))",
    [SQ_TOMB_INSERT] = "INSERT OR REPLACE INTO tombstones (mailbox_id, uid, "
                       "modseq) VALUES (?1, ?2, ?3)",
    [SQ_TOMB_FROM_MAILBOX] = "INSERT OR REPLACE INTO tombstones "
                             "(mailbox_id, uid, modseq) SELECT mailbox_id, "
                             "uid, ?2 FROM messages WHERE mailbox_id = ?1",
    [SQ_HDR_INSERT] = "INSERT INTO header_values (body_id, field, n, value) "
                      "VALUES (?1, ?2, ?3, ?4)",
    [SQ_FETCH_VALUES_INSERT] = "INSERT INTO fetch_values (body_id, envelope, "
                               "bodystructure, body) VALUES (?1, ?2, ?3, ?4)",
    /* The FETCH values, without reading the structure (the info only
     * when ?5 asks for it, or when a body has no values row). */
    [SQ_MSG_RANGE_FETCH] =
        "SELECT m.uid, m.modseq, m.flags, m.keywords, m.internal_date, "
        "m.internal_tz, m.size, m.body_id, "
        "CASE WHEN ?5 OR f.body_id IS NULL THEN "
        "(SELECT info FROM bodies WHERE id = m.body_id) END, "
        "f.envelope, f.bodystructure, f.body "
        "FROM messages m LEFT JOIN fetch_values f ON f.body_id = m.body_id "
        "WHERE m.mailbox_id = ?1 AND m.uid >= ?2 AND m.uid <= ?3 "
        "ORDER BY m.uid LIMIT ?4",
    [SQ_TEXT_INSERT] = "INSERT INTO body_text (body_id, header_len, "
                       "text_len, indexed, text) VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQ_TEXT_PENDING] = "SELECT body_id, text_len FROM body_text INDEXED BY "
                        "body_text_unindexed WHERE indexed != 1 AND "
                        "indexed < 0 LIMIT ?1",
    [SQ_TEXT_INDEX] = "UPDATE body_text SET indexed = 1 WHERE body_id = ?1 "
                      "AND indexed < 0",
    [SQ_TEXT_UNKEPT] = "SELECT 1 FROM body_text t INDEXED BY "
                       "body_text_unindexed JOIN messages m ON m.body_id = "
                       "t.body_id WHERE t.indexed != 1 AND t.text IS NULL "
                       "AND m.mailbox_id = ?1 LIMIT 1",
    [SQ_TOMB_SINCE] = "SELECT uid FROM tombstones INDEXED BY "
                      "tombstones_modseq WHERE mailbox_id = ?1 "
                      "AND modseq > ?2 AND modseq <= ?3",
};

void sq_debug(const struct sq_ctx *ctx, const char *fmt, ...)
{
    if (!ctx->debug && !ph_log_debug_enabled())
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* The module's own `debug` shows its lines without the global one. */
    ph_log(ctx->debug ? PH_LOG_INFO : PH_LOG_DEBUG, "%s debug=1 %s", SQ_MOD,
           line);
}

int sq_fail(struct sq_ctx *ctx, struct sq_conn *c, int rc, const char *what,
            const char **error_r)
{
    const char *msg = c != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    char *emsg = ph_log_escape(msg);

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        ph_log_warn("%s event=busy db=%s op=%s", SQ_MOD, ctx->path, what);
        free(emsg);
        *error_r = "Mail storage is busy, try again later";
        return PH_STORAGE_ERR_TEMP;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        ph_log_error("%s event=corrupt db=%s op=%s reason=%s", SQ_MOD,
                     ctx->path, what, emsg);
        free(emsg);
        *error_r = "Mail storage is damaged";
        return PH_STORAGE_ERR_CORRUPTED;
    case SQLITE_TOOBIG:
        free(emsg);
        *error_r = "Message is too large for this storage";
        return PH_STORAGE_ERR_LIMIT;
    case SQLITE_FULL:
        ph_log_error("%s event=disk_full db=%s op=%s", SQ_MOD, ctx->path, what);
        free(emsg);
        *error_r = "Mail storage is full";
        return PH_STORAGE_ERR_TEMP;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
            free(emsg);
            *error_r = "The account or mailbox was deleted meanwhile";
            return PH_STORAGE_ERR_NOT_FOUND;
        }
        break;
    default: break;
    }
    ph_log_error("%s event=sqlite_error db=%s op=%s code=%d reason=%s", SQ_MOD,
                 ctx->path, what, rc, emsg);
    free(emsg);
    *error_r = "Internal mail storage error";
    return PH_STORAGE_ERR_TEMP;
}

/* ---- Connections -------------------------------------------------------- */

void sq_conn_close(struct sq_conn *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < SQ_STMT_COUNT; i++)
        sqlite3_finalize(c->stmts[i]);
    sqlite3_close(c->db);
    free(c);
}

int sq_conn_open(struct sq_ctx *ctx, struct sq_conn **c_r, const char **error_r)
{
    struct sq_conn *c = ph_calloc(1, sizeof(*c));
    /* NOMUTEX: a connection is used by one thread at a time (the pool). */
    int rc = sqlite3_open_v2(
        ctx->path, &c->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(c->db, 1);
        sqlite3_busy_timeout(c->db, SQ_BUSY_TIMEOUT_MS);
        /* synchronous=FULL: with WAL, NORMAL already survives kill -9, but
         * a mail server that said OK to APPEND (or to an MTA) must also
         * survive a power cut, so every commit is fsync'ed. */
        char pragmas[256];
        /* cache_size: negative is KiB (the directive, checked at create). */
        snprintf(pragmas, sizeof(pragmas),
                 "PRAGMA foreign_keys = ON;"
                 "PRAGMA synchronous = FULL;"
                 "PRAGMA cache_size = -%llu;"
                 "PRAGMA journal_size_limit = 67108864;",
                 (unsigned long long)(ctx->conf->cache_size / 1024));
        rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sq_functions_register(c->db);
    if (rc != SQLITE_OK) {
        int err = sq_fail(ctx, c, rc, "open", error_r);
        *error_r = sq_errorf("Cannot open the mail database: %s",
                             sqlite3_errmsg(c->db));
        sq_conn_close(c);
        return err;
    }
    *c_r = c;
    return 0;
}

int sq_conn_get(struct sq_ctx *ctx, struct sq_conn **c_r, const char **error_r)
{
    pthread_mutex_lock(&ctx->pool_lock);
    while (ctx->idle == NULL && ctx->nconns >= ctx->max_conns)
        pthread_cond_wait(&ctx->pool_cond, &ctx->pool_lock);
    struct sq_conn *c = ctx->idle;
    if (c != NULL) {
        ctx->idle = c->next;
        pthread_mutex_unlock(&ctx->pool_lock);
        c->next = NULL;
        *c_r = c;
        return 0;
    }
    ctx->nconns++;
    pthread_mutex_unlock(&ctx->pool_lock);

    int ret = sq_conn_open(ctx, c_r, error_r);
    if (ret < 0) {
        pthread_mutex_lock(&ctx->pool_lock);
        ctx->nconns--;
        pthread_cond_signal(&ctx->pool_cond);
        pthread_mutex_unlock(&ctx->pool_lock);
    }
    return ret;
}

void sq_conn_put(struct sq_ctx *ctx, struct sq_conn **cp)
{
    struct sq_conn *c = *cp;
    if (c == NULL)
        return;
    *cp = NULL;
    /* A caller that forgot its transaction must not hand it on. */
    ph_assert(sqlite3_get_autocommit(c->db));
    pthread_mutex_lock(&ctx->pool_lock);
    c->next = ctx->idle;
    ctx->idle = c;
    pthread_cond_signal(&ctx->pool_cond);
    pthread_mutex_unlock(&ctx->pool_lock);
}

void sq_pool_close(struct sq_ctx *ctx)
{
    pthread_mutex_lock(&ctx->pool_lock);
    ph_assert(ctx->nconns == 0 || ctx->idle != NULL);
    while (ctx->idle != NULL) {
        struct sq_conn *c = ctx->idle;
        ctx->idle = c->next;
        ctx->nconns--;
        sq_conn_close(c);
    }
    pthread_mutex_unlock(&ctx->pool_lock);
}

sqlite3_stmt *sq_stmt(struct sq_conn *c, enum sq_stmt id)
{
    sqlite3_stmt *st = c->stmts[id];
    if (st == NULL) {
        int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1,
                                    SQLITE_PREPARE_PERSISTENT, &st, NULL);
        /* The SQL is ours and the schema is migrated: a failure here is a
         * bug, not a condition to handle. */
        if (rc != SQLITE_OK)
            ph_log_error("%s event=prepare_failed stmt=%d reason=\"%s\"",
                         SQ_MOD, (int)id, sqlite3_errmsg(c->db));
        ph_assert(rc == SQLITE_OK);
        c->stmts[id] = st;
    } else {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    return st;
}

int sq_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

/* ---- Transactions ------------------------------------------------------- */

/* PRAGMA synchronous cannot change inside a transaction: set it before. */
static int set_synced(struct sq_ctx *ctx, struct sq_conn *c, bool synced,
                      const char **error_r)
{
    if (c->unsynced == !synced)
        return 0;
    int rc = sqlite3_exec(c->db,
                          synced ? "PRAGMA synchronous = FULL"
                                 : "PRAGMA synchronous = NORMAL",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(ctx, c, rc, "synchronous", error_r);
    c->unsynced = !synced;
    return 0;
}

static int write_begin(struct sq_ctx *ctx, struct sq_conn *c, bool synced,
                       const char **error_r)
{
    int ret = set_synced(ctx, c, synced, error_r);
    if (ret < 0)
        return ret;
    pthread_mutex_lock(&ctx->write_lock);
    int rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        pthread_mutex_unlock(&ctx->write_lock);
        return sq_fail(ctx, c, rc, "begin", error_r);
    }
    return 0;
}

int sq_write_begin(struct sq_ctx *ctx, struct sq_conn *c, const char **error_r)
{
    return write_begin(ctx, c, true, error_r);
}

int sq_write_begin_light(struct sq_ctx *ctx, struct sq_conn *c,
                         const char **error_r)
{
    return write_begin(ctx, c, ctx->conf->sync == SQ_SYNC_FULL, error_r);
}

int sq_write_begin_unsynced(struct sq_ctx *ctx, struct sq_conn *c,
                            const char **error_r)
{
    return write_begin(ctx, c, false, error_r);
}

int sq_write_commit(struct sq_ctx *ctx, struct sq_conn *c, const char **error_r)
{
    int rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        int err = sq_fail(ctx, c, rc, "commit", error_r);
        if (!sqlite3_get_autocommit(c->db))
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        pthread_mutex_unlock(&ctx->write_lock);
        return err;
    }
    pthread_mutex_unlock(&ctx->write_lock);
    return 0;
}

void sq_write_rollback(struct sq_ctx *ctx, struct sq_conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&ctx->write_lock);
}

int sq_read_begin(struct sq_ctx *ctx, struct sq_conn *c, const char **error_r)
{
    int rc = sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sq_fail(ctx, c, rc, "begin", error_r);
}

void sq_read_end(struct sq_conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
}

/* ---- Rows --------------------------------------------------------------- */

int sq_next_uidvalidity(struct sq_ctx *ctx, struct sq_conn *c,
                        uint32_t *uidvalidity_r, const char **error_r)
{
    sqlite3_stmt *st = sq_stmt(c, SQ_META_GET);
    sqlite3_bind_text(st, 1, "uidvalidity", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t last = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_fail(ctx, c, rc, "uidvalidity", error_r);

    /* The clock, as usual, but never a value given before. */
    int64_t now = (int64_t)time(NULL) & 0xffffffff;
    int64_t next = now > last ? now : last + 1;
    if (next > UINT32_MAX)
        next = 1;
    st = sq_stmt(c, SQ_META_SET);
    sqlite3_bind_text(st, 1, "uidvalidity", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, next);
    rc = sq_step_done(st);
    if (rc != SQLITE_DONE)
        return sq_fail(ctx, c, rc, "uidvalidity", error_r);
    *uidvalidity_r = (uint32_t)next;
    return 0;
}

static int mbox_row(struct sq_ctx *ctx, struct sq_conn *c, sqlite3_stmt *st,
                    struct sq_mbox *mb_r, const char **error_r)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *mb_r = (struct sq_mbox){
            .id = sqlite3_column_int64(st, 0),
            .uidvalidity = (uint32_t)sqlite3_column_int64(st, 1),
            .uidnext = (uint32_t)sqlite3_column_int64(st, 2),
            .highestmodseq = (uint64_t)sqlite3_column_int64(st, 3),
            .recent_uid = (uint32_t)sqlite3_column_int64(st, 4),
            .special_use = (uint32_t)sqlite3_column_int64(st, 5),
            .noselect = sqlite3_column_int(st, 6) != 0,
            .messages = (uint32_t)sqlite3_column_int64(st, 7),
            .unseen = (uint32_t)sqlite3_column_int64(st, 8),
            .size = (uint64_t)sqlite3_column_int64(st, 9),
        };
        sqlite3_reset(st);
        return 1;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    return sq_fail(ctx, c, rc, "mailbox", error_r);
}

int sq_mbox_by_name(struct sq_ctx *ctx, struct sq_conn *c, int64_t account_id,
                    const char *name, struct sq_mbox *mb_r,
                    const char **error_r)
{
    sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_BY_NAME);
    sqlite3_bind_int64(st, 1, account_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    return mbox_row(ctx, c, st, mb_r, error_r);
}

int sq_mbox_by_id(struct sq_ctx *ctx, struct sq_conn *c, int64_t id,
                  struct sq_mbox *mb_r, const char **error_r)
{
    sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_BY_ID);
    sqlite3_bind_int64(st, 1, id);
    return mbox_row(ctx, c, st, mb_r, error_r);
}

/* ---- Header values ------------------------------------------------------ */

const char *const sq_header_fields[SQ_HEADER_FIELDS] = {"from", "to", "cc",
                                                        "bcc", "subject"};

struct ph_message_info *sq_info_read(const void *info, size_t info_size)
{
    struct ph_message_info *mi = NULL;
    const char *err;
    if (info == NULL ||
        ph_message_info_deserialize(info, info_size, &mi, &err) < 0)
        return NULL;
    return mi;
}

int sq_body_values_insert(sqlite3_stmt *hdr, sqlite3_stmt *fetch,
                          int64_t body_id, const struct ph_message_info *mi)
{
    /* An info that does not read back gets no rows: FETCH then reads the
     * info (and reports it), SEARCH finds no header, as the endpoint
     * would. */
    if (mi == NULL)
        return SQLITE_DONE;
    sqlite3_reset(fetch);
    sqlite3_bind_int64(fetch, 1, body_id);
    sqlite3_bind_text(fetch, 2, mi->envelope, -1, SQLITE_STATIC);
    sqlite3_bind_text(fetch, 3, mi->bodystructure, -1, SQLITE_STATIC);
    sqlite3_bind_text(fetch, 4, mi->body, -1, SQLITE_STATIC);
    int rc = sq_step_done(fetch);
    for (int f = 0; f < SQ_HEADER_FIELDS && rc == SQLITE_DONE; f++) {
        struct ph_strlist vals = {0};
        ph_message_header_values(mi, sq_header_fields[f], &vals);
        for (size_t i = 0; i < vals.n && rc == SQLITE_DONE; i++) {
            sqlite3_reset(hdr);
            sqlite3_bind_int64(hdr, 1, body_id);
            sqlite3_bind_int(hdr, 2, f);
            sqlite3_bind_int64(hdr, 3, (int64_t)i);
            sqlite3_bind_text(hdr, 4, vals.v[i], -1, SQLITE_STATIC);
            rc = sq_step_done(hdr);
        }
        ph_strlist_clear(&vals);
    }
    sqlite3_clear_bindings(fetch);
    sqlite3_clear_bindings(hdr);
    return rc;
}

/* Migration 3: the values of the bodies stored before it. */
static int fill_body_values(sqlite3 *db, char **msg_r)
{
    sqlite3_stmt *sel = NULL, *hdr = NULL, *fetch = NULL;
    int rc =
        sqlite3_prepare_v2(db, "SELECT id, info FROM bodies", -1, &sel, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, stmt_sql[SQ_HDR_INSERT], -1, &hdr, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, stmt_sql[SQ_FETCH_VALUES_INSERT], -1,
                                &fetch, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
        struct ph_message_info *mi = sq_info_read(
            sqlite3_column_blob(sel, 1), (size_t)sqlite3_column_bytes(sel, 1));
        rc =
            sq_body_values_insert(hdr, fetch, sqlite3_column_int64(sel, 0), mi);
        ph_message_info_free(&mi);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    if (rc != SQLITE_OK)
        *msg_r = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    sqlite3_finalize(sel);
    sqlite3_finalize(hdr);
    sqlite3_finalize(fetch);
    return rc;
}

/* ---- Body text ---------------------------------------------------------- */

struct text_fill {
    struct sq_body_text *t;
    bool over;
};

static bool text_sink(void *arg, const char *data, size_t len)
{
    struct text_fill *f = arg;
    /* Folding may lengthen text a little (ß is ss): bounded after. */
    if (f->t->text.len + len > SQ_TEXT_MAX) {
        f->over = true;
        return true;
    }
    ph_message_fold(data, len, &f->t->text);
    return false;
}

int sq_body_text_make(const struct ph_message_info *mi, uint64_t size,
                      ph_message_reader *read, void *read_arg,
                      struct sq_body_text *t_r)
{
    struct text_fill f = {.t = t_r};
    *t_r = (struct sq_body_text){0};
    /* TEXT's text is the headers, then BODY's: header_len marks where
     * BODY begins. */
    int ret = ph_message_search_text(mi, size, PH_MESSAGE_TEXT_HEADERS, read,
                                     read_arg, text_sink, &f);
    t_r->header_len = t_r->text.len;
    if (ret == 0 && !f.over)
        ret = ph_message_search_text(mi, size, PH_MESSAGE_TEXT_BODY, read,
                                     read_arg, text_sink, &f);
    t_r->kept = !f.over && t_r->text.len <= SQ_TEXT_MAX;
    if (!t_r->kept)
        ph_buf_free(&t_r->text);
    t_r->indexable = t_r->kept && u8_check((const uint8_t *)t_r->text.data,
                                           t_r->text.len) == NULL;
    return ret;
}

int sq_body_text_insert(sqlite3_stmt *st, int64_t body_id,
                        const struct sq_body_text *t)
{
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, body_id);
    sqlite3_bind_int64(st, 2, (int64_t)t->header_len);
    sqlite3_bind_int64(st, 3, (int64_t)t->text.len);
    sqlite3_bind_int(
        st, 4, t->indexable ? SQ_TEXT_STATE_PENDING : SQ_TEXT_STATE_NEVER);
    if (t->kept)
        sqlite3_bind_text(st, 5, t->text.data ? t->text.data : "",
                          (int)t->text.len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    int rc = sq_step_done(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Reads a body's bytes through an open blob (migration 4). */
static int blob_reader(void *arg, uint64_t offset, uint64_t size,
                       ph_message_data_cb *cb, void *cb_arg)
{
    sqlite3_blob *blob = arg;
    char buf[16384];
    while (size > 0) {
        int n = size < sizeof(buf) ? (int)size : (int)sizeof(buf);
        if (offset + (uint64_t)n > (uint64_t)sqlite3_blob_bytes(blob) ||
            sqlite3_blob_read(blob, buf, n, (int)offset) != SQLITE_OK)
            return -1;
        int r = cb(cb_arg, buf, (size_t)n);
        if (r != 0)
            return r;
        offset += (uint64_t)n;
        size -= (uint64_t)n;
    }
    return 0;
}

/* Migration 4: the text of the bodies stored before it. A body whose
 * bytes do not read back gets no text kept (SEARCH then reads it, and
 * reports it). */
static int fill_body_text(sqlite3 *db, char **msg_r)
{
    sqlite3_stmt *sel = NULL, *ins = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT id, size, info FROM bodies", -1,
                                &sel, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, stmt_sql[SQ_TEXT_INSERT], -1, &ins, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(sel, 0);
        sqlite3_blob *blob = NULL;
        struct sq_body_text t = {0};
        struct ph_message_info *mi = sq_info_read(
            sqlite3_column_blob(sel, 2), (size_t)sqlite3_column_bytes(sel, 2));
        rc = sqlite3_blob_open(db, "main", "bodies", "data", id, 0, &blob);
        if (rc == SQLITE_OK &&
            sq_body_text_make(mi, (uint64_t)sqlite3_column_int64(sel, 1),
                              blob_reader, blob, &t) != 0) {
            ph_buf_free(&t.text);
            t = (struct sq_body_text){0};
        }
        sqlite3_blob_close(blob);
        ph_message_info_free(&mi);
        if (rc == SQLITE_OK)
            rc = sq_body_text_insert(ins, id, &t);
        ph_buf_free(&t.text);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    if (rc != SQLITE_OK)
        *msg_r = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    return rc;
}

/* ---- Re-deriving stored bodies ----------------------------------------- */

/* Bodies made anew per transaction: a few MB of text at most each, and a
 * writer that waits for the lock waits for one batch only. */
#define SQ_REDERIVE_BATCH 64

static int feed_parser(void *arg, const void *data, size_t len)
{
    ph_message_parser_feed(arg, data, len);
    return 0;
}

enum rederive_stmt {
    RD_BODY,
    RD_SET_INFO,
    RD_DEL_FETCH,
    RD_DEL_HDR,
    RD_DEL_TEXT,
    RD_DONE,
    RD_HDR,
    RD_FETCH,
    RD_TEXT,
    RD_COUNT
};

/* One body: its structure parsed again from its bytes, then its FETCH
 * values, header values and text replaced. */
static int rederive_body(sqlite3 *db, sqlite3_stmt **st, int64_t id)
{
    sqlite3_stmt *q = st[RD_BODY];
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(q);
        return rc == SQLITE_DONE ? SQLITE_OK : rc; /* gone meanwhile */
    }
    uint64_t size = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    sqlite3_blob *blob = NULL;
    rc = sqlite3_blob_open(db, "main", "bodies", "data", id, 0, &blob);
    if (rc != SQLITE_OK)
        return rc;
    struct ph_message_parser *parser = ph_message_parser_new(NULL);
    struct ph_message_info *mi = NULL;
    struct sq_body_text t = {0};
    if (blob_reader(blob, 0, size, feed_parser, parser) != 0) {
        /* Bytes that do not read back: the structure stays as it is,
         * without derived rows (FETCH and SEARCH then report it). */
        ph_message_parser_free(&parser);
        rc = SQLITE_DONE;
    } else {
        mi = ph_message_parser_finish(&parser);
        /* Before the row changes: an UPDATE expires the blob handle. */
        if (sq_body_text_make(mi, size, blob_reader, blob, &t) != 0) {
            ph_buf_free(&t.text);
            t = (struct sq_body_text){0};
        }
        void *info;
        size_t info_size;
        ph_message_info_serialize(mi, &info, &info_size);
        sqlite3_reset(st[RD_SET_INFO]);
        sqlite3_bind_blob(st[RD_SET_INFO], 1, info, (int)info_size,
                          SQLITE_TRANSIENT);
        sqlite3_bind_int64(st[RD_SET_INFO], 2, id);
        rc = sq_step_done(st[RD_SET_INFO]);
        free(info);
    }
    sqlite3_blob_close(blob);
    for (int d = RD_DEL_FETCH; d <= RD_DEL_TEXT && rc == SQLITE_DONE; d++) {
        sqlite3_reset(st[d]);
        sqlite3_bind_int64(st[d], 1, id);
        rc = sq_step_done(st[d]);
    }
    if (rc == SQLITE_DONE)
        rc = sq_body_values_insert(st[RD_HDR], st[RD_FETCH], id, mi);
    if (rc == SQLITE_DONE)
        rc = sq_body_text_insert(st[RD_TEXT], id, &t);
    ph_buf_free(&t.text);
    ph_message_info_free(&mi);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int sq_rederive(struct sq_ctx *ctx, char **error_r)
{
    static const char *const sql[RD_COUNT] = {
        [RD_BODY] = "SELECT size FROM bodies WHERE id = ?1",
        [RD_SET_INFO] = "UPDATE bodies SET info = ?1 WHERE id = ?2",
        [RD_DEL_FETCH] = "DELETE FROM fetch_values WHERE body_id = ?1",
        [RD_DEL_HDR] = "DELETE FROM header_values WHERE body_id = ?1",
        [RD_DEL_TEXT] = "DELETE FROM body_text WHERE body_id = ?1",
        [RD_DONE] = "DELETE FROM rederive WHERE body_id = ?1",
        [RD_HDR] = NULL,
        [RD_FETCH] = NULL,
        [RD_TEXT] = NULL,
    };
    struct sq_conn *c = NULL;
    const char *err = NULL;
    if (sq_conn_get(ctx, &c, &err) < 0) {
        *error_r = ph_strdup_printf("%s: %s", ctx->path, err);
        return -1;
    }
    sqlite3_stmt *st[RD_COUNT] = {NULL}, *next = NULL;
    int rc = sqlite3_prepare_v2(c->db,
                                "SELECT body_id FROM rederive "
                                "ORDER BY body_id LIMIT ?1",
                                -1, &next, NULL);
    for (int i = 0; i < RD_COUNT && rc == SQLITE_OK; i++) {
        const char *q = i == RD_HDR     ? stmt_sql[SQ_HDR_INSERT]
                        : i == RD_FETCH ? stmt_sql[SQ_FETCH_VALUES_INSERT]
                        : i == RD_TEXT  ? stmt_sql[SQ_TEXT_INSERT]
                                        : sql[i];
        rc = sqlite3_prepare_v2(c->db, q, -1, &st[i], NULL);
    }
    uint64_t done = 0;
    bool in_tx = false;
    while (rc == SQLITE_OK) {
        rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            break;
        in_tx = true;
        int64_t ids[SQ_REDERIVE_BATCH];
        size_t n = 0;
        sqlite3_reset(next);
        sqlite3_bind_int(next, 1, SQ_REDERIVE_BATCH);
        while ((rc = sqlite3_step(next)) == SQLITE_ROW)
            ids[n++] = sqlite3_column_int64(next, 0);
        sqlite3_reset(next);
        if (rc != SQLITE_DONE)
            break;
        rc = SQLITE_OK;
        for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
            rc = rederive_body(c->db, st, ids[i]);
            if (rc == SQLITE_OK) {
                sqlite3_reset(st[RD_DONE]);
                sqlite3_bind_int64(st[RD_DONE], 1, ids[i]);
                rc = sq_step_done(st[RD_DONE]);
                rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
            }
        }
        if (rc != SQLITE_OK)
            break;
        rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            break;
        in_tx = false;
        done += n;
        if (n > 0)
            ph_log_info("%s event=rederived db=%s bodies=%" PRIu64, SQ_MOD,
                        ctx->path, done);
        if (n < SQ_REDERIVE_BATCH)
            break;
    }
    if (rc != SQLITE_OK)
        *error_r = ph_strdup_printf("%s: making stored messages' values "
                                    "anew: %s",
                                    ctx->path, sqlite3_errmsg(c->db));
    if (in_tx)
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(next);
    for (int i = 0; i < RD_COUNT; i++)
        sqlite3_finalize(st[i]);
    sq_conn_put(ctx, &c);
    return rc == SQLITE_OK ? 0 : -1;
}

/* ---- Schema ------------------------------------------------------------- */

static int pragma_int(sqlite3 *db, const char *sql, int64_t *v_r)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *v_r = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

int sq_schema_init(struct sq_ctx *ctx, char **error_r)
{
    struct sq_conn *c = NULL;
    const char *err = NULL;
    int64_t version = 0, app_id = 0, ntables = 0;
    const int64_t latest = (int64_t)PH_N_ELEMENTS(migrations);

    if (sq_conn_get(ctx, &c, &err) < 0) {
        *error_r = ph_strdup_printf("%s: %s", ctx->path, err);
        return -1;
    }
    /* WAL is a property of the database file: set once, kept. */
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        goto fail;
    if ((rc = pragma_int(c->db, "PRAGMA user_version", &version)) !=
            SQLITE_OK ||
        (rc = pragma_int(c->db, "PRAGMA application_id", &app_id)) !=
            SQLITE_OK ||
        (rc = pragma_int(c->db, "SELECT count(*) FROM sqlite_schema",
                         &ntables)) != SQLITE_OK)
        goto fail_tx;
    if (app_id != SQ_APPLICATION_ID && (app_id != 0 || ntables != 0)) {
        *error_r =
            ph_strdup_printf("%s is not a posthorn mail database", ctx->path);
        goto out_tx;
    }
    if (version > latest) {
        *error_r = ph_strdup_printf("%s has schema version %" PRId64
                                    ", newer than this posthorn knows (%" PRId64
                                    "): upgrade posthorn",
                                    ctx->path, version, latest);
        goto out_tx;
    }
    for (int64_t v = version; v < latest; v++) {
        rc = sqlite3_exec(c->db, migrations[v].sql, NULL, NULL, &msg);
        if (rc == SQLITE_OK && migrations[v].fill != NULL)
            rc = migrations[v].fill(c->db, &msg);
        if (rc != SQLITE_OK)
            goto fail_tx;
        ph_log_info("%s event=schema_upgraded db=%s version=%" PRId64, SQ_MOD,
                    ctx->path, v + 1);
    }
    char *set = ph_strdup_printf("PRAGMA user_version = %" PRId64 ";"
                                 "PRAGMA application_id = %d;",
                                 latest, SQ_APPLICATION_ID);
    rc = sqlite3_exec(c->db, set, NULL, NULL, &msg);
    free(set);
    if (rc != SQLITE_OK)
        goto fail_tx;
    rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        goto fail_tx;
    sq_conn_put(ctx, &c);
    return 0;

fail_tx:
    *error_r = ph_strdup_printf("%s: %s", ctx->path,
                                msg ? msg : sqlite3_errmsg(c->db));
out_tx:
    sqlite3_free(msg);
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    sq_conn_put(ctx, &c);
    return -1;
fail:
    *error_r = ph_strdup_printf("%s: %s", ctx->path,
                                msg ? msg : sqlite3_errmsg(c->db));
    sqlite3_free(msg);
    sq_conn_put(ctx, &c);
    return -1;
}

void sq_ctx_init(struct sq_ctx *ctx)
{
    ctx->send_fd = ctx->recv_fd = -1;
    ctx->stop_pipe[0] = ctx->stop_pipe[1] = -1;
    pthread_mutex_init(&ctx->watch_lock, NULL);
    pthread_mutex_init(&ctx->pool_lock, NULL);
    pthread_cond_init(&ctx->pool_cond, NULL);
    pthread_mutex_init(&ctx->write_lock, NULL);
    pthread_mutex_init(&ctx->index_lock, NULL);
    pthread_cond_init(&ctx->index_cond, NULL);
    ctx->max_conns = SQ_MAX_CONNS;
}
