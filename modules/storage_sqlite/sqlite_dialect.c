/* SPDX-License-Identifier: MIT */
/* storage.sqlite: the dialect of the SQL mail store (sqlstore.h): the
 * schema and its migrations, the statement table, the SEARCH fragments
 * (the trigram index, ph_contains), the schema version in PRAGMA
 * user_version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#include "sqlite_private.h"

/* PRAGMA application_id 1346925361 (0x50487331, "PHs1") marks a posthorn
 * mail database; another one, or tables without it, are not ours. */
#define SQ_APPLICATION_ID "1346925361"

/* Each entry upgrades the schema from version i to i + 1; the database
 * records its version in PRAGMA user_version. Never edit a released entry
 * (3 and 4 had fills: migration 5 makes every body's values anew): add the
 * next one. */
static const char *const migrations[] = {
    /* 1: the data model (docs/design.md, Storage model). Counters on
     * mailboxes are kept by triggers so that STATUS never scans messages. */
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
    /* 2: SEARCH pushdown (sqlite_search.c). What a large mailbox holds
     * few of (unseen, flagged; deleted has its index) gets a partial
     * index, and internal dates are indexed as seconds of their own
     * zone, which BEFORE/ON/SINCE compare. The expressions must stay as
     * sqlite_search.c writes them, or the planner will not match them.
     */
    "CREATE INDEX messages_unseen ON messages (mailbox_id, uid)"
    "  WHERE (flags & 1) = 0;"
    "CREATE INDEX messages_flagged ON messages (mailbox_id, uid)"
    "  WHERE (flags & 4) != 0;"
    "CREATE INDEX messages_local_date ON messages"
    "  (mailbox_id, internal_date + internal_tz * 60);",
    /* 3: what FETCH 1:* and SEARCH FROM/SUBJECT read, kept apart from
     * the serialized structure, filled at APPEND and here for the
     * bodies already stored (sq_body_values_insert). fetch_values:
     * ENVELOPE, BODYSTRUCTURE and BODY as sent. header_values: the
     * decoded values of the fields of sq_header_fields (field is the
     * index there; n orders repeated fields), for SEARCH pushdown. */
    "CREATE TABLE fetch_values ("
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
    /* 4: SEARCH TEXT and BODY (sq_body_text_make): the folded text of
     * each body, and a trigram index over it that gives the bodies that
     * hold every trigram of a key, which ph_contains then confirms.
     * detail=none keeps the index near a tenth of the text (no
     * positions: a set of trigrams, not a phrase, is asked for; no
     * column sizes either). A text enters the index when the indexer
     * (sqlstore_index.c) sets indexed from pending (-1) to 1; text that is
     * not valid UTF-8 stays at 0; both others are always candidates.
     * The triggers keep the index in step with the table, bodies'
     * cascade included; its content is the view of the indexed rows
     * (what an FTS5 'rebuild' would read). */
    "CREATE TABLE body_text ("
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
    /* 5: the parser and what is kept from it changed (issue 14: boundaries
     * without their trailing whitespace, address forms in header_values,
     * part headers and file names in body_text). Every body stored before
     * is made anew from its bytes by sq_rederive(), a batch per
     * transaction, after this migration has committed: an upgrade that
     * stops half-way goes on at the next start. A later change to what is
     * derived adds its own migration that refills table rederive. */
    "CREATE TABLE rederive (body_id INTEGER PRIMARY KEY);"
    "INSERT INTO rederive (body_id) SELECT id FROM bodies;",

    /* 6: a body whose last message goes stays until a sweep after the
     * grace period (sqlstore.c says why): the delete trigger records it
     * in body_unref instead of deleting it. */
    "CREATE TABLE IF NOT EXISTS body_unref (body_id INTEGER NOT NULL,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS body_unref_at ON body_unref (at, body_id);"
    "DROP TRIGGER IF EXISTS messages_delete;"
    "CREATE TRIGGER messages_delete AFTER DELETE ON messages BEGIN"
    "  UPDATE mailboxes SET messages = messages - 1,"
    "    unseen = unseen - (OLD.flags & 1 = 0), size = size - OLD.size"
    "    WHERE id = OLD.mailbox_id;"
    "  INSERT INTO body_unref (body_id, at)"
    "    VALUES (OLD.body_id, CAST(strftime('%s', 'now') AS INTEGER));"
    "END;",
    /* 7: tombstones go after tombstone_horizon (sqlstore.c's sweep):
     * each remembers when it was made, and a mailbox the highest modseq
     * of those purged, below which its expunges are no longer known. */
    "ALTER TABLE mailboxes ADD COLUMN tombstones_from INTEGER NOT NULL "
    "DEFAULT 0;"
    "ALTER TABLE tombstones ADD COLUMN at INTEGER NOT NULL DEFAULT 0;"
    "UPDATE tombstones SET at = CAST(strftime('%s', 'now') AS INTEGER);"
    "CREATE INDEX tombstones_at ON tombstones (at, mailbox_id);",
    /* 8: SORT and THREAD from stored keys (issue 17). sort_values: what
     * ph_sort_keys_from_info() makes of a body (collation keys, normalized
     * Message-IDs and references), made at APPEND; each message row
     * copies the keys of SUBJECT, FROM, DISPLAYFROM and DATE (the sent
     * date, else its own internal date) and an index over each, with
     * size's, serves SORT by them as a walk of the index: the implicit
     * tail of an index of a WITHOUT ROWID table is its primary key
     * (mailbox_id, uid), the tie-break SORT wants. Bodies stored before
     * get them from the re-derivation after the upgrade (a batch per
     * transaction, each body parsed once). */
    "CREATE TABLE sort_values ("
    "  body_id INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE "
    "CASCADE,"
    "  subject BLOB NOT NULL,"
    "  from_addr BLOB NOT NULL,"
    "  to_addr BLOB NOT NULL,"
    "  cc_addr BLOB NOT NULL,"
    "  display_from BLOB NOT NULL,"
    "  display_to BLOB NOT NULL,"
    "  sent_date INTEGER,"
    "  subject_is_reply INTEGER NOT NULL,"
    "  message_id BLOB NOT NULL,"
    "  refs BLOB NOT NULL);"
    "ALTER TABLE messages ADD COLUMN sort_subject BLOB;"
    "ALTER TABLE messages ADD COLUMN sort_from BLOB;"
    "ALTER TABLE messages ADD COLUMN sort_display_from BLOB;"
    "ALTER TABLE messages ADD COLUMN sent_date INTEGER;"
    "CREATE INDEX messages_sort_subject ON messages (mailbox_id, "
    "sort_subject);"
    "CREATE INDEX messages_sort_from ON messages (mailbox_id, sort_from);"
    "CREATE INDEX messages_sort_display_from ON messages (mailbox_id, "
    "sort_display_from);"
    "CREATE INDEX messages_sent_date ON messages (mailbox_id, sent_date);"
    "CREATE INDEX messages_size ON messages (mailbox_id, size);"
    "INSERT OR IGNORE INTO rederive (body_id) SELECT id FROM bodies;",
    /* 9: an expunged message stays readable for the sessions not yet told
     * (RFC 2180 4.1.1): its tombstone keeps its row, and its body while
     * the body stays (body_grace); the body's sweep sets body_id NULL
     * (a trigger: SQLite gives a freed rowid to the next body). */
    "ALTER TABLE tombstones ADD COLUMN body_id INTEGER;"
    "ALTER TABLE tombstones ADD COLUMN msg_modseq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tombstones ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tombstones ADD COLUMN keywords TEXT;"
    "ALTER TABLE tombstones ADD COLUMN internal_date INTEGER NOT NULL "
    "DEFAULT 0;"
    "ALTER TABLE tombstones ADD COLUMN internal_tz INTEGER NOT NULL "
    "DEFAULT 0;"
    "ALTER TABLE tombstones ADD COLUMN size INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX tombstones_body ON tombstones (body_id)"
    "  WHERE body_id IS NOT NULL;"
    "CREATE TRIGGER bodies_delete AFTER DELETE ON bodies BEGIN"
    "  UPDATE tombstones SET body_id = NULL WHERE body_id = OLD.id;"
    "END;",
    /* 10: OBJECTID (RFC 8474) and PREVIEW (RFC 8970). A mailbox's
     * MAILBOXID is kept on its row (RENAME keeps it; a new UIDVALIDITY
     * makes a new one); a body's EMAILID and THREADID in body_objects
     * (copies share the body, so COPY and MOVE keep them), made once:
     * bodies' ids are no ids to show, SQLite gives a freed one again.
     * threads maps the Message-IDs an account has seen to their thread.
     * previews holds each body's PREVIEW. Bodies stored before get all
     * three from the re-derivation after the upgrade, in the order they
     * came (sqlstore_append.c). */
    "ALTER TABLE mailboxes ADD COLUMN objectid TEXT;"
    "UPDATE mailboxes SET objectid = 'F' || lower(hex(randomblob(12)));"
    "CREATE TABLE body_objects ("
    "  body_id INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE "
    "CASCADE,"
    "  emailid TEXT NOT NULL UNIQUE,"
    "  threadid TEXT NOT NULL);"
    "CREATE INDEX body_objects_thread ON body_objects (threadid);"
    "CREATE TABLE threads ("
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE "
    "CASCADE,"
    "  msgid BLOB NOT NULL,"
    "  threadid TEXT NOT NULL,"
    "  PRIMARY KEY (account_id, msgid)) WITHOUT ROWID;"
    "CREATE TABLE previews ("
    "  body_id INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE "
    "CASCADE,"
    "  preview TEXT NOT NULL);"
    "INSERT OR IGNORE INTO rederive (body_id) SELECT id FROM bodies;",
    /* 11: QUOTA (RFC 9208): each account's usage as counters that the
     * triggers keep in the transaction of every change (the messages'
     * sizes and count, the selectable mailboxes), computed here for the
     * accounts there are, and its own limits (NULL: the storage block's
     * default; -1: none). A mailbox that goes takes its messages with it:
     * the cascade deletes them after its row, where the message trigger
     * finds no account, so the mailbox trigger takes off what it held. */
    "ALTER TABLE accounts ADD COLUMN usage_storage INTEGER NOT NULL "
    "DEFAULT 0;"
    "ALTER TABLE accounts ADD COLUMN usage_messages INTEGER NOT NULL "
    "DEFAULT 0;"
    "ALTER TABLE accounts ADD COLUMN usage_mailboxes INTEGER NOT NULL "
    "DEFAULT 0;"
    "ALTER TABLE accounts ADD COLUMN quota_storage INTEGER;"
    "ALTER TABLE accounts ADD COLUMN quota_messages INTEGER;"
    "ALTER TABLE accounts ADD COLUMN quota_mailboxes INTEGER;"
    "UPDATE accounts SET"
    "  usage_storage = (SELECT COALESCE(sum(size), 0) FROM mailboxes"
    "    WHERE account_id = accounts.id),"
    "  usage_messages = (SELECT COALESCE(sum(messages), 0) FROM mailboxes"
    "    WHERE account_id = accounts.id),"
    "  usage_mailboxes = (SELECT count(*) FROM mailboxes"
    "    WHERE account_id = accounts.id AND NOT noselect);"
    "CREATE TRIGGER quota_message_insert AFTER INSERT ON messages BEGIN"
    "  UPDATE accounts SET usage_messages = usage_messages + 1,"
    "    usage_storage = usage_storage + NEW.size"
    "    WHERE id = (SELECT account_id FROM mailboxes"
    "      WHERE id = NEW.mailbox_id);"
    "END;"
    "CREATE TRIGGER quota_message_delete AFTER DELETE ON messages BEGIN"
    "  UPDATE accounts SET usage_messages = usage_messages - 1,"
    "    usage_storage = usage_storage - OLD.size"
    "    WHERE id = (SELECT account_id FROM mailboxes"
    "      WHERE id = OLD.mailbox_id);"
    "END;"
    "CREATE TRIGGER quota_mailbox_insert AFTER INSERT ON mailboxes BEGIN"
    "  UPDATE accounts SET usage_mailboxes = usage_mailboxes +"
    "    (NOT NEW.noselect) WHERE id = NEW.account_id;"
    "END;"
    "CREATE TRIGGER quota_mailbox_delete AFTER DELETE ON mailboxes BEGIN"
    "  UPDATE accounts SET usage_mailboxes = usage_mailboxes -"
    "    (NOT OLD.noselect), usage_messages = usage_messages - OLD.messages,"
    "    usage_storage = usage_storage - OLD.size WHERE id = OLD.account_id;"
    "END;"
    "CREATE TRIGGER quota_mailbox_noselect AFTER UPDATE OF noselect ON "
    "mailboxes WHEN OLD.noselect != NEW.noselect BEGIN"
    "  UPDATE accounts SET usage_mailboxes = usage_mailboxes +"
    "    (NOT NEW.noselect) - (NOT OLD.noselect) WHERE id = NEW.account_id;"
    "END;",
};

/* The database's clock in seconds, as the triggers write it. */
#define SQ_NOW "CAST(strftime('%s', 'now') AS INTEGER)"

/* Where SQLite's SQL differs from the store's (sqlstore-stmt.h). No row
 * locks: the one writer orders writers. The plans matter where a mailbox
 * is large: INDEXED BY where SQLite, without statistics, would scan by
 * primary key; `+modseq` where it should not use the modseq index. */
const char *const sq_stmts[PH_SQS_COUNT] = {
    [PH_SQS_UIDVALIDITY_NEXT] =
        "INSERT INTO meta (key, value) VALUES ('uidvalidity', ?1) "
        "ON CONFLICT (key) DO UPDATE SET value = CASE WHEN "
        "max(value + 1, ?1) > 4294967295 THEN 1 ELSE max(value + 1, ?1) END "
        "RETURNING value",
    [PH_SQS_ACCT_LOCK] = "SELECT id FROM accounts WHERE id = ?1",
    [PH_SQS_ACCT_QUOTA_LOCK] = PH_SQS_ACCT_QUOTA_ "WHERE id = ?1",
    /* The few messages with \\Deleted through their partial index, not
     * the whole mailbox by primary key. */
    [PH_SQS_MBOX_STATUS] =
        "SELECT b.messages, b.uidnext, b.uidvalidity, b.unseen, "
        "b.highestmodseq, b.size, b.noselect, (SELECT count(*) FROM "
        "messages m WHERE m.mailbox_id = b.id AND m.uid >= b.recent_uid), "
        "b.objectid, (SELECT count(*) FROM messages m INDEXED BY "
        "messages_deleted WHERE "
        "m.mailbox_id = b.id AND (m.flags & 8) != 0), (SELECT "
        "COALESCE(sum(m.size), 0) FROM messages m INDEXED BY "
        "messages_deleted WHERE m.mailbox_id = b.id AND (m.flags & 8) != 0) "
        "FROM mailboxes b WHERE b.account_id = ?1 AND b.name = ?2",
    [PH_SQS_MBOX_BY_NAME_LOCK] = PH_SQS_MBOX_BY_ "account_id = ?1 AND "
                                                 "name = ?2",
    [PH_SQS_MBOX_BY_ID_LOCK] = PH_SQS_MBOX_BY_ "id = ?1",
    [PH_SQS_SUB_RENAME] = "UPDATE OR REPLACE subscriptions SET name = ?3 "
                          "WHERE account_id = ?1 AND name = ?2",
    [PH_SQS_MSG_CHANGES] =
        "SELECT * FROM (SELECT " PH_SQS_MSG_COLUMNS ", 0 FROM messages m "
        "INDEXED BY messages_modseq WHERE ?5 AND m.mailbox_id = ?1 AND "
        "m.modseq > ?2 AND m.modseq <= ?3 ORDER BY m.uid LIMIT ?6) UNION ALL "
        "SELECT uid, modseq, 0, NULL, 0, 0, 0, 0, 1 FROM tombstones "
        "INDEXED BY tombstones_modseq WHERE ?4 AND mailbox_id = ?1 "
        "AND modseq > ?2 AND modseq <= ?3 UNION ALL "
        "SELECT 0, tombstones_from, 0, NULL, 0, 0, 0, 0, 2 FROM mailboxes "
        "WHERE ?4 AND id = ?1",
    [PH_SQS_MSG_CHANGED_AFTER] = "SELECT uid FROM messages INDEXED BY "
                                 "messages_modseq WHERE mailbox_id = ?1 AND "
                                 "modseq > ?2 AND modseq <= ?3 AND uid > ?4",
    [PH_SQS_MSG_CHANGED_RANGE] =
        "SELECT " PH_SQS_MSG_COLUMNS " FROM messages m WHERE m.mailbox_id = ?1 "
        "AND m.uid >= ?2 AND m.uid <= ?3 AND +m.modseq > ?5 AND "
        "+m.modseq <= ?6 ORDER BY m.uid LIMIT ?4",
    [PH_SQS_MSG_DELETED] = "SELECT uid FROM messages INDEXED BY "
                           "messages_deleted WHERE mailbox_id = ?1 "
                           "AND uid >= ?2 AND uid <= ?3 AND (flags & 8) != 0 "
                           "ORDER BY uid",
    [PH_SQS_MSG_DELETE_UIDS] = "DELETE FROM messages WHERE mailbox_id = ?1 "
                               "AND uid IN (SELECT value FROM json_each(?2))",
    [PH_SQS_TOMB_INSERT_UIDS] = "INSERT OR REPLACE INTO tombstones "
                                "(mailbox_id, uid, modseq, at) SELECT ?1, "
                                "value, ?3, " SQ_NOW " FROM json_each(?2)",
    [PH_SQS_TOMB_KEEP_UIDS] =
        "INSERT OR REPLACE INTO tombstones (mailbox_id, uid, modseq, at, "
        "body_id, msg_modseq, flags, keywords, internal_date, internal_tz, "
        "size) SELECT mailbox_id, uid, ?3, " SQ_NOW ", body_id, modseq, "
        "flags, keywords, internal_date, internal_tz, size FROM messages "
        "WHERE mailbox_id = ?1 AND uid IN (SELECT value FROM json_each(?2))",
    [PH_SQS_TOMB_FROM_MAILBOX] = "INSERT OR REPLACE INTO tombstones "
                                 "(mailbox_id, uid, modseq, at) SELECT "
                                 "mailbox_id, uid, ?2, " SQ_NOW " FROM "
                                 "messages WHERE mailbox_id = ?1",
    [PH_SQS_BODY_INSERT] = "INSERT INTO bodies (size, info, data) "
                           "VALUES (?1, ?2, zeroblob(?1)) RETURNING id",
    /* header_chars and raw are PostgreSQL's. */
    [PH_SQS_TEXT_INSERT] = "INSERT INTO body_text (body_id, header_len, "
                           "text_len, indexed, text) "
                           "VALUES (?1, ?2, ?4, ?5, ?6)",
    [PH_SQS_REDERIVE_NEXT] = "SELECT body_id FROM rederive ORDER BY body_id "
                             "LIMIT ?1",
    /* The partial index holds the few bodies that are not in the trigram
     * index. */
    [PH_SQS_TEXT_UNKEPT] = "SELECT 1 FROM body_text t INDEXED BY "
                           "body_text_unindexed JOIN messages m ON "
                           "m.body_id = t.body_id WHERE t.indexed != 1 AND "
                           "t.text IS NULL AND m.mailbox_id = ?1 LIMIT 1",
    [PH_SQS_TEXT_PENDING] = "SELECT body_id, text_len FROM body_text INDEXED "
                            "BY body_text_unindexed WHERE indexed != 1 AND "
                            "indexed < 0 LIMIT ?1",
    [PH_SQS_TEXT_INDEX] = "UPDATE body_text SET indexed = 1 WHERE "
                          "body_id = ?1 AND indexed < 0",
    [PH_SQS_TOMB_PURGE_MARK] =
        "UPDATE mailboxes SET tombstones_from = max(tombstones_from, "
        "(SELECT max(modseq) FROM tombstones t WHERE t.mailbox_id = "
        "mailboxes.id AND t.at <= ?1)) WHERE id IN (SELECT mailbox_id FROM "
        "tombstones INDEXED BY tombstones_at WHERE at <= ?1)",
    [PH_SQS_TOMB_PURGE] =
        "DELETE FROM tombstones WHERE mailbox_id IN (SELECT mailbox_id FROM "
        "tombstones INDEXED BY tombstones_at WHERE at <= ?1) AND modseq <= "
        "(SELECT tombstones_from FROM mailboxes WHERE id = "
        "tombstones.mailbox_id)",
};

/* ---- SEARCH ----------------------------------------------------------------
 */

/* Without statistics SQLite would scan the mailbox by primary key: a
 * top-level flag key with a partial index starts from it. */
static const char *index_hint(uint32_t flag, bool set)
{
    if (flag == PH_FLAG_SEEN && !set)
        return " INDEXED BY messages_unseen";
    if (flag == PH_FLAG_FLAGGED && set)
        return " INDEXED BY messages_flagged";
    if (flag == PH_FLAG_DELETED && set)
        return " INDEXED BY messages_deleted";
    return NULL;
}

/* ph_contains compares as the endpoint (folding both sides itself). */
static void put_header(struct ph_sql_builder *b, int field, const char *key,
                       size_t len)
{
    (void)field;
    ph_sql_fragv(b, " AND ph_contains(h.value, ?)", PH_SQL_SN(key, len));
}

/* At most this many trigrams of a key are asked for: any subset gives
 * candidates that include every match. */
#define MAX_TRIGRAMS 24

/* The FTS5 query for a folded key: "abc" AND "bcd" ..., each term one
 * trigram, quoted (a '"' doubled), spread over the key; NULL when the key
 * has fewer than 3 characters, a NUL, or is not UTF-8. */
static char *trigram_query(const char *key, size_t len)
{
    if (memchr(key, '\0', len) != NULL ||
        u8_check((const uint8_t *)key, len) != NULL)
        return NULL;
    size_t *starts = ph_calloc(len + 1, sizeof(*starts));
    size_t nchars = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)key[i] & 0xc0) != 0x80)
            starts[nchars++] = i;
    starts[nchars] = len;
    if (nchars < 3) {
        free(starts);
        return NULL;
    }
    size_t ntri = nchars - 2, want = ntri < MAX_TRIGRAMS ? ntri : MAX_TRIGRAMS;
    struct ph_buf b = {0};
    for (size_t j = 0; j < want; j++) {
        size_t t = want == 1 ? 0 : j * (ntri - 1) / (want - 1);
        ph_buf_puts(&b, j > 0 ? " AND \"" : "\"");
        for (size_t i = starts[t]; i < starts[t + 3]; i++) {
            if (key[i] == '"')
                ph_buf_putc(&b, '"');
            ph_buf_putc(&b, key[i]);
        }
        ph_buf_putc(&b, '"');
    }
    free(starts);
    return ph_buf_steal(&b);
}

/* The body must be among those holding each trigram of the key (FTS5
 * folds both sides alike, so this never drops a match) or not indexed
 * (yet, or ever); ph_contains confirms the candidates only. */
static void put_text(struct ph_sql_builder *b, const char *key, size_t len,
                     bool whole)
{
    struct ph_buf folded = {0};
    ph_message_fold(key, len, &folded);
    char *tri = trigram_query(folded.data, folded.len);
    ph_buf_free(&folded);
    ph_sql_frag(b, "(EXISTS (SELECT 1 FROM body_text t WHERE "
                   "t.body_id = messages.body_id AND ");
    if (tri != NULL)
        ph_sql_fragv(b,
                     "(t.indexed != 1 OR t.body_id IN (SELECT rowid FROM "
                     "body_fts WHERE body_fts MATCH ?)) AND ",
                     PH_SQL_S(tri));
    free(tri);
    ph_sql_fragv(b,
                 whole ? "ph_contains(t.text, ?))"
                       : "ph_contains(t.text, ?, t.header_len))",
                 PH_SQL_SN(key, len));
    ph_sql_frag(b, ")");
}

const struct ph_sqlstore_dialect sq_dialect = {
    .abi_minor = PH_ABI_MINOR,
    .size = sizeof(struct ph_sqlstore_dialect),
    .migrations = migrations,
    .n_migrations = PH_N_ELEMENTS(migrations),
    .schema_version = "PRAGMA user_version",
    .schema_foreign = "SELECT application_id <> " SQ_APPLICATION_ID " AND "
                      "(application_id <> 0 OR (SELECT count(*) FROM "
                      "sqlite_schema) > 0) FROM pragma_application_id",
    .schema_set = "PRAGMA user_version = %lld; "
                  "PRAGMA application_id = " SQ_APPLICATION_ID,
    .body_write = sq_body_write,
    .body_read = sq_body_read,
    .chunk_size = 128 * 1024,
    /* Under SQLite's default limit of 10^9 bytes for a row. */
    .body_max = 900u * 1024 * 1024,
    .text_flags = PH_SQLSTORE_TEXT_PENDING,
    .keyword_expr = "(keywords IS NOT NULL AND "
                    "instr(' ' || lower(keywords) || ' ', ?) > 0)",
    .index_hint = index_hint,
    .put_header = put_header,
    .put_text = put_text,
    .announced = sq_wake_announced,
    .listen = sq_wake_listen,
};
