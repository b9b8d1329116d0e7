/* SPDX-License-Identifier: MIT */
/* storage.pgsql: the dialect of the SQL mail store (sqlstore.h): the
 * schema and its migrations, the statement table, the SEARCH fragments
 * (the pg_trgm index), NOTIFY, the schema version in posthorn_schema.
 *
 * SEARCH TEXT and BODY are exact, as storage.sqlite's ph_contains is:
 * body_text keeps the folded text (ph_message_fold), and folding is
 * idempotent, so "key in text as SEARCH compares" is "fold(key) is a
 * substring of the stored bytes". Text that is valid UTF-8 without NUL is
 * kept in text (COLLATE "C"): LIKE '%k%' (escaped) is that substring test
 * character by character, which for UTF-8 is byte by byte, and pg_trgm's
 * GIN index, when there, gives candidates for it without ever dropping a
 * match (it extracts the pattern's trigrams by the rules it indexed with;
 * the executor rechecks LIKE). A new text waits in pending, outside the
 * index, until the store's indexer (sqlstore_index.c) moves it to text;
 * searches read pending texts too, the same way. Other text is kept in
 * raw (bytea) and compared with position(). Header values are kept
 * folded, as bytea, and compared the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#include <posthorn/log.h>

#include "pgsql_private.h"

/* A GIN index keeps new entries in a pending list that every search reads
 * through until it is merged (by VACUUM, or once it outgrows its limit,
 * 4 MB by default): after a fill of big messages TEXT took 150 ms instead
 * of a few. 256 kB keeps that read short and the merges still batched. */
static const char SQL_TRGM[] =
    "CREATE EXTENSION IF NOT EXISTS pg_trgm; "
    "CREATE INDEX IF NOT EXISTS body_text_trgm ON body_text "
    "USING gin (text gin_trgm_ops) WITH (gin_pending_list_limit = 256); "
    "ALTER INDEX body_text_trgm SET (gin_pending_list_limit = 256)";

/* The database's clock in seconds, as the triggers write it. */
#define PG_NOW "floor(extract(epoch FROM now()))::bigint"

/* Each entry upgrades the schema from version i to i + 1; the database
 * records its version in posthorn_schema. Never edit a released entry:
 * add the next one. */
static const char *const migrations[] = {
    /* 1: the data model (docs/design.md, Storage model), as storage.sqlite
     * holds it. Names sort bytewise (COLLATE "C"), as strcmp and the
     * hierarchy ranges need. Counters on mailboxes are kept by triggers so that
     * STATUS never scans messages. Bodies are bytea chunks of 256 KiB: a byte
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
    /* 2: SEARCH pushdown (sqlstore_search.c). What a large mailbox holds few
     * of gets a partial index, and internal dates are indexed as seconds
     * of their own zone, which BEFORE/ON/SINCE compare. The expressions
     * must stay as sqlstore_search.c writes them. */
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
    /* 4: what storage.sqlite keeps beside each body (sqlstore_append.c),
     * made for every body stored before by the re-derivation after the
     * upgrade: fetch_values (bytea: a header's 8-bit bytes stay as sent),
     * header_values (folded, bytea) and body_text (text or raw, see above;
     * body_text_trgm is made by schema_extras, where pg_trgm can be had).
     * A body whose last message goes stays until a sweep after the grace
     * period (sqlstore.c says why): the trigger records it in body_unref
     * instead of deleting it. (IF NOT EXISTS: a database put back to
     * version 3 by hand takes it again.) */
    ("CREATE TABLE IF NOT EXISTS fetch_values ("
     "  body_id bigint PRIMARY KEY REFERENCES bodies ON DELETE CASCADE,"
     "  envelope bytea NOT NULL,"
     "  bodystructure bytea NOT NULL,"
     "  body bytea NOT NULL);"
     "CREATE TABLE IF NOT EXISTS header_values ("
     "  body_id bigint NOT NULL REFERENCES bodies ON DELETE CASCADE,"
     "  field integer NOT NULL,"
     "  n integer NOT NULL,"
     "  value bytea NOT NULL,"
     "  PRIMARY KEY (body_id, field, n));"
     "CREATE TABLE IF NOT EXISTS body_text ("
     "  body_id bigint PRIMARY KEY REFERENCES bodies ON DELETE CASCADE,"
     "  header_len bigint NOT NULL,"
     "  header_chars bigint NOT NULL,"
     "  text_len bigint NOT NULL,"
     "  indexed smallint NOT NULL,"
     "  text text COLLATE \"C\","
     "  raw bytea);"
     "CREATE INDEX IF NOT EXISTS body_text_raw ON body_text (body_id) WHERE "
     "raw IS NOT NULL;"
     "CREATE INDEX IF NOT EXISTS body_text_unkept ON body_text (body_id)"
     "  WHERE text IS NULL AND raw IS NULL;"
     "CREATE TABLE IF NOT EXISTS body_unref (body_id bigint NOT NULL, at "
     "bigint NOT NULL);"
     "CREATE INDEX IF NOT EXISTS body_unref_at ON body_unref (at, body_id);"
     "CREATE OR REPLACE FUNCTION posthorn_messages_count() RETURNS trigger"
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
     "  IF TG_OP = 'DELETE' THEN"
     "    INSERT INTO body_unref (body_id, at)"
     "      VALUES (OLD.body_id, floor(extract(epoch FROM now()))::bigint);"
     "  END IF;"
     "  RETURN NULL;"
     "END $$;"
     "INSERT INTO rederive (body_id) SELECT id FROM bodies"
     "  ON CONFLICT DO NOTHING;"),
    /* 5: tombstones go after tombstone_horizon (sqlstore.c's sweep):
     * each remembers when it was made, and a mailbox the highest modseq
     * of those purged, below which its expunges are no longer known.
     * (IF NOT EXISTS: a database put back to an older version by hand
     * takes it again.) */
    ("ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS tombstones_from "
     "bigint NOT NULL DEFAULT 0;"
     "ALTER TABLE tombstones ADD COLUMN IF NOT EXISTS at bigint NOT NULL "
     "DEFAULT 0;"
     "UPDATE tombstones SET at = " PG_NOW " WHERE at = 0;"
     "CREATE INDEX IF NOT EXISTS tombstones_at ON tombstones (at, "
     "mailbox_id);"),
    /* 6: a new text waits in pending, outside body_text_trgm (a NULL text
     * is one cheap entry of the GIN index), until the store's indexer
     * moves it to text (PH_SQS_TEXT_INDEX) in a batch: kept up inside
     * every APPEND, the index cost 40 to 50% of APPEND throughput. TEXT
     * and BODY read pending texts through body_text_pending. A body
     * without text kept has none of the three. Texts stored before stay
     * where they are, in the index. */
    ("ALTER TABLE body_text ADD COLUMN IF NOT EXISTS pending text "
     "COLLATE \"C\";"
     "DROP INDEX IF EXISTS body_text_unkept;"
     "CREATE INDEX body_text_unkept ON body_text (body_id)"
     "  WHERE text IS NULL AND raw IS NULL AND pending IS NULL;"
     "CREATE INDEX IF NOT EXISTS body_text_pending ON body_text (body_id)"
     "  WHERE pending IS NOT NULL;"),
    /* 7: SORT and THREAD from stored keys (issue 17), as storage.sqlite
     * keeps them (its migration 8 says how); bytea, whose order is
     * memcmp's then the shorter first, the order of collation keys. The
     * indexes end with uid, the tie-break SORT wants. Bodies stored
     * before get them from the re-derivation after the upgrade. */
    ("CREATE TABLE IF NOT EXISTS sort_values ("
     "  body_id bigint PRIMARY KEY REFERENCES bodies ON DELETE CASCADE,"
     "  subject bytea NOT NULL,"
     "  from_addr bytea NOT NULL,"
     "  to_addr bytea NOT NULL,"
     "  cc_addr bytea NOT NULL,"
     "  display_from bytea NOT NULL,"
     "  display_to bytea NOT NULL,"
     "  sent_date bigint,"
     "  subject_is_reply boolean NOT NULL,"
     "  message_id bytea NOT NULL,"
     "  refs bytea NOT NULL);"
     "ALTER TABLE messages ADD COLUMN IF NOT EXISTS sort_subject bytea;"
     "ALTER TABLE messages ADD COLUMN IF NOT EXISTS sort_from bytea;"
     "ALTER TABLE messages ADD COLUMN IF NOT EXISTS sort_display_from "
     "bytea;"
     "ALTER TABLE messages ADD COLUMN IF NOT EXISTS sent_date bigint;"
     "CREATE INDEX IF NOT EXISTS messages_sort_subject ON messages "
     "(mailbox_id, sort_subject, uid);"
     "CREATE INDEX IF NOT EXISTS messages_sort_from ON messages "
     "(mailbox_id, sort_from, uid);"
     "CREATE INDEX IF NOT EXISTS messages_sort_display_from ON messages "
     "(mailbox_id, sort_display_from, uid);"
     "CREATE INDEX IF NOT EXISTS messages_sent_date ON messages "
     "(mailbox_id, sent_date, uid);"
     "CREATE INDEX IF NOT EXISTS messages_size ON messages "
     "(mailbox_id, size, uid);"
     "INSERT INTO rederive (body_id) SELECT id FROM bodies"
     "  ON CONFLICT DO NOTHING;"),
    /* 8: an expunged message stays readable for the sessions not yet told
     * (RFC 2180 4.1.1): its tombstone keeps its row, and its body while
     * the body stays (body_grace); the body's sweep sets body_id NULL. */
    ("ALTER TABLE tombstones"
     "  ADD COLUMN IF NOT EXISTS body_id bigint REFERENCES bodies"
     "    ON DELETE SET NULL,"
     "  ADD COLUMN IF NOT EXISTS msg_modseq bigint NOT NULL DEFAULT 0,"
     "  ADD COLUMN IF NOT EXISTS flags integer NOT NULL DEFAULT 0,"
     "  ADD COLUMN IF NOT EXISTS keywords text,"
     "  ADD COLUMN IF NOT EXISTS internal_date bigint NOT NULL DEFAULT 0,"
     "  ADD COLUMN IF NOT EXISTS internal_tz integer NOT NULL DEFAULT 0,"
     "  ADD COLUMN IF NOT EXISTS size bigint NOT NULL DEFAULT 0;"
     "CREATE INDEX IF NOT EXISTS tombstones_body ON tombstones (body_id)"
     "  WHERE body_id IS NOT NULL;"),
    /* 9: OBJECTID (RFC 8474) and PREVIEW (RFC 8970), as storage.sqlite
     * keeps them (its migration 10 says how). */
    ("ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS objectid text"
     "  COLLATE \"C\";"
     "UPDATE mailboxes SET objectid = 'F' || substr(md5(random()::text || "
     "id::text || clock_timestamp()::text), 1, 24) WHERE objectid IS NULL;"
     "CREATE TABLE IF NOT EXISTS body_objects ("
     "  body_id bigint PRIMARY KEY REFERENCES bodies ON DELETE CASCADE,"
     "  emailid text COLLATE \"C\" NOT NULL UNIQUE,"
     "  threadid text COLLATE \"C\" NOT NULL);"
     "CREATE INDEX IF NOT EXISTS body_objects_thread ON body_objects "
     "(threadid);"
     "CREATE TABLE IF NOT EXISTS threads ("
     "  account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,"
     "  msgid bytea NOT NULL,"
     "  threadid text COLLATE \"C\" NOT NULL,"
     "  PRIMARY KEY (account_id, msgid));"
     "CREATE TABLE IF NOT EXISTS previews ("
     "  body_id bigint PRIMARY KEY REFERENCES bodies ON DELETE CASCADE,"
     "  preview text NOT NULL);"
     "INSERT INTO rederive (body_id) SELECT id FROM bodies"
     "  ON CONFLICT DO NOTHING;"),
    /* 10: QUOTA (RFC 9208), as storage.sqlite keeps it (its migration 11
     * says how): counters on the account row that the triggers keep in
     * the transaction of every change, computed here, and the account's
     * own limits. A writer that changes them locks the account row before
     * any mailbox row (PH_SQS_ACCT_QUOTA_LOCK), so that writers on every
     * node take turns on the counters and never deadlock. */
    ("ALTER TABLE accounts"
     "  ADD COLUMN IF NOT EXISTS usage_storage bigint NOT NULL DEFAULT 0,"
     "  ADD COLUMN IF NOT EXISTS usage_messages bigint NOT NULL DEFAULT 0,"
     "  ADD COLUMN IF NOT EXISTS usage_mailboxes bigint NOT NULL DEFAULT 0,"
     "  ADD COLUMN IF NOT EXISTS quota_storage bigint,"
     "  ADD COLUMN IF NOT EXISTS quota_messages bigint,"
     "  ADD COLUMN IF NOT EXISTS quota_mailboxes bigint;"
     "UPDATE accounts a SET"
     "  usage_storage = (SELECT COALESCE(sum(size), 0) FROM mailboxes"
     "    WHERE account_id = a.id),"
     "  usage_messages = (SELECT COALESCE(sum(messages), 0) FROM mailboxes"
     "    WHERE account_id = a.id),"
     "  usage_mailboxes = (SELECT count(*) FROM mailboxes"
     "    WHERE account_id = a.id AND NOT noselect);"
     "CREATE OR REPLACE FUNCTION posthorn_quota_messages() RETURNS trigger"
     "  LANGUAGE plpgsql AS $$ BEGIN"
     "  IF TG_OP = 'INSERT' THEN"
     "    UPDATE accounts SET usage_messages = usage_messages + 1,"
     "      usage_storage = usage_storage + NEW.size"
     "      WHERE id = (SELECT account_id FROM mailboxes"
     "        WHERE id = NEW.mailbox_id);"
     "  ELSE"
     "    UPDATE accounts SET usage_messages = usage_messages - 1,"
     "      usage_storage = usage_storage - OLD.size"
     "      WHERE id = (SELECT account_id FROM mailboxes"
     "        WHERE id = OLD.mailbox_id);"
     "  END IF;"
     "  RETURN NULL;"
     "END $$;"
     "DROP TRIGGER IF EXISTS messages_quota ON messages;"
     "CREATE TRIGGER messages_quota AFTER INSERT OR DELETE ON messages"
     "  FOR EACH ROW EXECUTE FUNCTION posthorn_quota_messages();"
     "CREATE OR REPLACE FUNCTION posthorn_quota_mailboxes() RETURNS trigger"
     "  LANGUAGE plpgsql AS $$ BEGIN"
     "  IF TG_OP = 'INSERT' THEN"
     "    UPDATE accounts SET usage_mailboxes = usage_mailboxes +"
     "      (NOT NEW.noselect)::int WHERE id = NEW.account_id;"
     "  ELSIF TG_OP = 'DELETE' THEN"
     "    UPDATE accounts SET usage_mailboxes = usage_mailboxes -"
     "      (NOT OLD.noselect)::int,"
     "      usage_messages = usage_messages - OLD.messages,"
     "      usage_storage = usage_storage - OLD.size"
     "      WHERE id = OLD.account_id;"
     "  ELSE"
     "    UPDATE accounts SET usage_mailboxes = usage_mailboxes +"
     "      (NOT NEW.noselect)::int - (NOT OLD.noselect)::int"
     "      WHERE id = NEW.account_id;"
     "  END IF;"
     "  RETURN NULL;"
     "END $$;"
     "DROP TRIGGER IF EXISTS mailboxes_quota ON mailboxes;"
     "CREATE TRIGGER mailboxes_quota AFTER INSERT OR DELETE ON mailboxes"
     "  FOR EACH ROW EXECUTE FUNCTION posthorn_quota_mailboxes();"
     "DROP TRIGGER IF EXISTS mailboxes_quota_noselect ON mailboxes;"
     "CREATE TRIGGER mailboxes_quota_noselect AFTER UPDATE ON mailboxes"
     "  FOR EACH ROW WHEN (OLD.noselect <> NEW.noselect)"
     "  EXECUTE FUNCTION posthorn_quota_mailboxes();"),
};

/* Where PostgreSQL's SQL differs from the store's (sqlstore-stmt.h). */
const char *const pg_stmts[PH_SQS_COUNT] = {
    /* The row lock orders concurrent creators on every node. */
    [PH_SQS_UIDVALIDITY_NEXT] =
        "UPDATE meta SET value = CASE WHEN greatest(value + 1, ?1::bigint) "
        "> 4294967295 THEN 1 ELSE greatest(value + 1, ?1::bigint) END "
        "WHERE key = 'uidvalidity' RETURNING value",
    [PH_SQS_SUB_RENAME] = "WITH old AS (DELETE FROM subscriptions "
                          "WHERE account_id = ?1 AND name = ?2 RETURNING 1) "
                          "INSERT INTO subscriptions (account_id, name) "
                          "SELECT ?1, ?3 FROM old ON CONFLICT DO NOTHING",
    [PH_SQS_MSG_DELETE_UIDS] = "DELETE FROM messages WHERE mailbox_id = ?1 "
                               "AND uid = ANY (?2::bigint[])",
    [PH_SQS_TOMB_INSERT_UIDS] = "INSERT INTO tombstones (mailbox_id, uid, "
                                "modseq, at) SELECT ?1, u, ?3, " PG_NOW
                                " FROM unnest(?2::bigint[]) AS u ON CONFLICT "
                                "(mailbox_id, uid) DO UPDATE SET "
                                "modseq = excluded.modseq, at = excluded.at",
    [PH_SQS_TOMB_KEEP_UIDS] =
        "INSERT INTO tombstones (mailbox_id, uid, modseq, at, body_id, "
        "msg_modseq, flags, keywords, internal_date, internal_tz, size) "
        "SELECT mailbox_id, uid, ?3, " PG_NOW ", body_id, modseq, flags, "
        "keywords, internal_date, internal_tz, size FROM messages WHERE "
        "mailbox_id = ?1 AND uid = ANY (?2::bigint[]) ON CONFLICT "
        "(mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq, "
        "at = excluded.at, body_id = excluded.body_id, "
        "msg_modseq = excluded.msg_modseq, flags = excluded.flags, "
        "keywords = excluded.keywords, "
        "internal_date = excluded.internal_date, "
        "internal_tz = excluded.internal_tz, size = excluded.size",
    [PH_SQS_TOMB_FROM_MAILBOX] = "INSERT INTO tombstones (mailbox_id, uid, "
                                 "modseq, at) SELECT mailbox_id, uid, ?2, "
                                 PG_NOW " FROM messages WHERE mailbox_id = ?1 "
                                 "ON CONFLICT (mailbox_id, uid) DO UPDATE SET "
                                 "modseq = excluded.modseq, at = excluded.at",
    [PH_SQS_NOTIFY] = "SELECT pg_notify(?1, ?2)",
    [PH_SQS_TOMB_PURGE_MARK] =
        "UPDATE mailboxes b SET tombstones_from = greatest(b.tombstones_from, "
        "(SELECT max(modseq) FROM tombstones t WHERE t.mailbox_id = b.id "
        "AND t.at <= ?1)) WHERE b.id IN (SELECT mailbox_id FROM tombstones "
        "WHERE at <= ?1)",
    /* A text bound for the index (indexed -1) goes to pending. */
    [PH_SQS_TEXT_INSERT] =
        "INSERT INTO body_text (body_id, header_len, header_chars, text_len, "
        "indexed, text, pending, raw) VALUES (?1, ?2, ?3, ?4, ?5::integer, "
        "CASE WHEN ?5::integer < 0 THEN NULL ELSE ?6::text END, "
        "CASE WHEN ?5::integer < 0 THEN ?6::text END, ?7)",
    [PH_SQS_TEXT_UNKEPT] =
        "SELECT 1 FROM body_text t JOIN messages m ON m.body_id = t.body_id "
        "WHERE t.text IS NULL AND t.raw IS NULL AND t.pending IS NULL AND "
        "m.mailbox_id = ?1 LIMIT 1",
    /* SKIP LOCKED: each node's indexer takes other texts. */
    [PH_SQS_TEXT_PENDING] =
        "SELECT body_id, text_len FROM body_text WHERE pending IS NOT NULL "
        "ORDER BY body_id LIMIT ?1 FOR UPDATE SKIP LOCKED",
    [PH_SQS_TEXT_INDEX] = "UPDATE body_text SET text = pending, pending = "
                          "NULL, indexed = 1 WHERE body_id = ?1 AND pending "
                          "IS NOT NULL",
    [PH_SQS_TOMB_PURGE] =
        "DELETE FROM tombstones t USING mailboxes b WHERE b.id = t.mailbox_id "
        "AND t.modseq <= b.tombstones_from AND b.id IN (SELECT mailbox_id "
        "FROM tombstones WHERE at <= ?1)",
};

/* The trigram index, where the pg_trgm extension can be had (Debian's
 * postgresql package ships it; a database owner may create it since
 * PostgreSQL 13). Without it TEXT and BODY are answered the same, by a
 * scan. */
static void schema_extras(void *dctx, struct ph_sql_conn *c)
{
    struct pg_ctx *ctx = dctx;
    PGresult *res = PQexec(pg_db(c), SQL_TRGM);
    ctx->trgm = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ctx->trgm) {
        char *emsg = ph_log_escape(PQresultErrorMessage(res));
        ph_log_warn("%s event=text_index_missing db=%s reason=%s "
                    "fix=\"CREATE EXTENSION pg_trgm as a superuser\"",
                    PG_MOD, ctx->target, emsg);
        free(emsg);
    }
    PQclear(res);
}

/* ---- SEARCH ----------------------------------------------------------------
 */

static void put_header(struct ph_sql_builder *b, int field, const char *key,
                       size_t len)
{
    (void)field;
    struct ph_buf k = {0};
    ph_message_fold(key, len, &k);
    ph_sql_fragv(b, " AND position(? IN h.value) > 0",
                 PH_SQL_B(k.data ? k.data : "", k.len));
    ph_buf_free(&k);
}

static void put_text(struct ph_sql_builder *b, const char *key, size_t len,
                     bool whole)
{
    struct ph_buf k = {0}, like = {0};
    ph_message_fold(key, len, &k);
    const char *p = k.data ? k.data : "";
    bool text = u8_check((const uint8_t *)p, k.len) == NULL &&
                memchr(p, '\0', k.len) == NULL;
    /* = ANY (ARRAY(...)): the bodies that match, found once (an InitPlan).
     * As IN (...) the planner may pick a nested loop that runs the
     * trigram scan again for every message of the mailbox, which it does
     * while a freshly filled mailbox has no statistics yet (seen: 110 ms
     * instead of 1 ms for 400 messages). */
    ph_sql_frag(b, "(messages.body_id = ANY (ARRAY(");
    if (text) {
        ph_buf_putc(&like, '%');
        for (size_t i = 0; i < k.len; i++) {
            if (p[i] == '%' || p[i] == '_' || p[i] == '\\')
                ph_buf_putc(&like, '\\');
            ph_buf_putc(&like, p[i]);
        }
        ph_buf_putc(&like, '%');
        /* The indexed texts, then the pending ones (migration 6) through
         * their own partial index: few, the indexer's backlog. */
        static const char *const like_sql[] = {
            "SELECT t.body_id FROM body_text t WHERE t.text LIKE ? "
            "ESCAPE '\\'",
            "SELECT t.body_id FROM body_text t WHERE t.pending IS NOT NULL "
            "AND t.pending LIKE ? ESCAPE '\\'"};
        static const char *const body_sql[] = {
            " AND strpos(substr(t.text, (t.header_chars + 1)::int), ?) > 0",
            " AND strpos(substr(t.pending, (t.header_chars + 1)::int), ?) "
            "> 0"};
        for (int i = 0; i < 2; i++) {
            ph_sql_fragv(b, like_sql[i], PH_SQL_SN(like.data, like.len));
            if (!whole)
                ph_sql_fragv(b, body_sql[i], PH_SQL_SN(p, k.len));
            ph_sql_frag(b, " UNION ALL ");
        }
    }
    ph_sql_fragv(b,
                 whole ? "SELECT t.body_id FROM body_text t WHERE t.raw IS NOT "
                         "NULL AND position(? IN t.raw) > 0)))"
                       : "SELECT t.body_id FROM body_text t WHERE t.raw IS NOT "
                         "NULL AND position(? IN substring(t.raw FROM "
                         "(t.header_len + 1)::int)) > 0)))",
                 PH_SQL_B(p, k.len));
    ph_buf_free(&k);
    ph_buf_free(&like);
}

/* NOTIFY on each mailbox's channel, sent by the commit: "ID TOKEN", the
 * token lets this process skip its own echo (its commits wake its
 * watchers at once). */
static int announce(struct ph_sql_conn *c, const char *token,
                    const int64_t *ids, size_t n, const char **error_r)
{
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++) {
        char channel[48], payload[64];
        snprintf(channel, sizeof(channel), PG_CHANNEL_PREFIX "%" PRId64,
                 ids[i]);
        snprintf(payload, sizeof(payload), "%" PRId64 " %s", ids[i], token);
        ret = ph_sql_exec(c, PH_SQS_NOTIFY, error_r, PH_SQL_S(channel),
                          PH_SQL_S(payload));
    }
    return ret;
}

const struct ph_sqlstore_dialect pg_dialect = {
    .abi_minor = PH_ABI_MINOR,
    .size = sizeof(struct ph_sqlstore_dialect),
    .migrations = migrations,
    .n_migrations = PH_N_ELEMENTS(migrations),
    .schema_init = "CREATE TABLE IF NOT EXISTS posthorn_schema "
                   "(version integer NOT NULL)",
    .schema_version = "SELECT version FROM posthorn_schema",
    /* Our table names without a version. */
    .schema_foreign = "SELECT NOT EXISTS (SELECT 1 FROM posthorn_schema) "
                      "AND to_regclass('accounts') IS NOT NULL",
    .schema_set = "DELETE FROM posthorn_schema; "
                  "INSERT INTO posthorn_schema VALUES (%lld)",
    .schema_extras = schema_extras,
    /* bytea chunks: a byte range reads only the chunks it covers (the
     * primary key finds them), and a body goes with its rows. */
    .chunk_size = 256 * 1024,
    /* bytea values stay well under PostgreSQL's 1 GB; and as storage.sqlite. */
    .body_max = 900u * 1024 * 1024,
    .text_flags = PH_SQLSTORE_TEXT_PENDING | PH_SQLSTORE_TEXT_RAW |
                  PH_SQLSTORE_HDR_FOLDED,
    .keyword_expr = "(keywords IS NOT NULL AND "
                    "strpos(' ' || lower(keywords) || ' ', ?) > 0)",
    .put_header = put_header,
    .put_text = put_text,
    .announce = announce,
    .listen = pg_listen,
};
