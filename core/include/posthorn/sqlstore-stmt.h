/* SPDX-License-Identifier: MIT */
/* posthorn SDK (ABI 1.4): the statements of the SQL mail store.
 *
 * Each statement has a number (enum ph_sqlstore_stmt), an op that names it
 * in log lines, and its SQL as both bundled engines take it, with ?N
 * parameters (storage.pgsql writes them $N when it prepares). A driver's
 * table (struct ph_sql_driver's stmts, indexed by this enum) gives its own
 * SQL only where its engine spells a statement differently, and must where
 * the SQL here is NULL: there the comment is the contract. Statements that
 * lock rows say FOR UPDATE; an engine without row locks (SQLite: one
 * writer at a time) gives them without. Comments name what the SQL does
 * not show: what a driver's own SQL must keep. MBOX and MSG are the
 * columns of a mailbox and of a message row (below); a UIDS parameter is a
 * list of UIDs (PH_SQL_U). Statements are only ever added at the end. */
#ifndef POSTHORN_SQLSTORE_STMT_H
#define POSTHORN_SQLSTORE_STMT_H

/* tombstones_from: the highest modseq of a purged tombstone, 0 for none */
#define PH_SQS_MBOX_COLUMNS                                                    \
    "id, uidvalidity, uidnext, highestmodseq, recent_uid, special_use, "       \
    "noselect, messages, unseen, size, tombstones_from"
#define PH_SQS_MSG_COLUMNS                                                     \
    "m.uid, m.modseq, m.flags, m.keywords, m.internal_date, m.internal_tz, "   \
    "m.size, m.body_id"

/* The sort keys kept on each message row (sort_values' values copied, for
 * the indexes a SORT walks): SUBJECT, FROM, DISPLAYFROM and DATE. */
#define PH_SQS_SORT_COLUMNS                                                    \
    "sort_subject, sort_from, sort_display_from, sent_date"
#define PH_SQS_SORT_OF_(col, param)                                            \
    "(SELECT " col " FROM sort_values WHERE body_id = " param ")"

#define PH_SQS_ACCT_QUOTA_                                                     \
    "SELECT usage_storage, usage_messages, usage_mailboxes, quota_storage, "   \
    "quota_messages, quota_mailboxes FROM accounts "

#define PH_SQS_MBOX_BY_ "SELECT " PH_SQS_MBOX_COLUMNS " FROM mailboxes WHERE "
#define PH_SQS_MSG_RANGE_                                                      \
    " WHERE m.mailbox_id = ?1 AND m.uid >= ?2 AND m.uid <= ?3 "                \
    "ORDER BY m.uid LIMIT ?4"

/* ABI 1.6: a message's EMAILID, THREADID and (when ?7 asks) PREVIEW. */
#define PH_SQS_OBJECT_COLUMNS_                                                 \
    "(SELECT emailid FROM body_objects WHERE body_id = m.body_id), "           \
    "(SELECT threadid FROM body_objects WHERE body_id = m.body_id), "          \
    "CASE WHEN ?7 <> 0 THEN (SELECT preview FROM previews WHERE body_id = "    \
    "m.body_id) END"

/* X(name, op, sql) */
#define PH_SQS_STATEMENTS(X)                                                   \
    /* now -> value: the clock, but never one given before (1 after            \
     * 4294967295) */                                                          \
    X(UIDVALIDITY_NEXT, "uidvalidity", NULL)                                   \
    X(ACCT_GET, "account",                                                     \
      "SELECT id, appendlimit FROM accounts WHERE name = ?1")                  \
    /* no row when the name is taken */                                        \
    X(ACCT_INSERT, "account_insert",                                           \
      "INSERT INTO accounts (name, created) VALUES (?1, ?2) "                  \
      "ON CONFLICT (name) DO NOTHING RETURNING id")                            \
    /* NO KEY UPDATE: hierarchy changes take turns, but a writer that          \
     * updates a mailbox row twice in its transaction (a COPY's count and      \
     * UIDNEXT) has PostgreSQL check the row's account key again (KEY          \
     * SHARE), which FOR UPDATE would block: with the writer holding that      \
     * mailbox and a CREATE or DELETE holding the account and waiting for      \
     * it, a deadlock. (storage.sqlite spells it without the lock.) */         \
    X(ACCT_LOCK, "account_lock",                                               \
      "SELECT id FROM accounts WHERE id = ?1 FOR NO KEY UPDATE")               \
    X(ACCT_DELETE, "account_delete", "DELETE FROM accounts WHERE id = ?1")     \
    X(ACCT_LIST, "account_list", "SELECT name FROM accounts ORDER BY name")    \
    X(ACCT_MAILBOX_IDS, "account_delete",                                      \
      "SELECT id FROM mailboxes WHERE account_id = ?1")                        \
    X(MBOX_BY_NAME, "mailbox",                                                 \
      PH_SQS_MBOX_BY_ "account_id = ?1 AND name = ?2")                         \
    X(MBOX_BY_NAME_LOCK, "mailbox",                                            \
      PH_SQS_MBOX_BY_ "account_id = ?1 AND name = ?2 FOR UPDATE")              \
    X(MBOX_BY_ID, "mailbox", PH_SQS_MBOX_BY_ "id = ?1")                        \
    X(MBOX_BY_ID_LOCK, "mailbox", PH_SQS_MBOX_BY_ "id = ?1 FOR UPDATE")        \
    /* ?6: the MAILBOXID (RFC 8474), made by the store (ABI 1.6) */            \
    X(MBOX_INSERT, "mailbox_insert",                                           \
      "INSERT INTO mailboxes (account_id, name, uidvalidity, special_use, "    \
      "noselect, objectid) VALUES (?1, ?2, ?3, ?4, ?5 <> 0, ?6) RETURNING id") \
    /* kind 0: mailboxes, 1: subscriptions; one snapshot, so that they         \
     * agree; names sort bytewise */                                           \
    X(MBOX_LIST, "mailbox_list",                                               \
      "SELECT 0, name, special_use, noselect FROM mailboxes "                  \
      "WHERE account_id = ?1 UNION ALL SELECT 1, name, 0, false "              \
      "FROM subscriptions WHERE account_id = ?1 ORDER BY 1, 2")                \
    X(MBOX_RANGE, "mailbox_inferiors",                                         \
      "SELECT id, name FROM mailboxes WHERE account_id = ?1 AND name >= ?2 "   \
      "AND name < ?3 ORDER BY name LIMIT ?4")                                  \
    X(MBOX_DELETE, "mailbox_delete", "DELETE FROM mailboxes WHERE id = ?1")    \
    /* a new UIDVALIDITY: a new MAILBOXID ?4 (RFC 8474 4) */                   \
    X(MBOX_REVIVE, "create",                                                   \
      "UPDATE mailboxes SET noselect = false, uidvalidity = ?2, "              \
      "special_use = ?3, objectid = ?4 WHERE id = ?1")                         \
    X(MBOX_RENAME, "rename", "UPDATE mailboxes SET name = ?2 WHERE id = ?1")   \
    X(MBOX_SET_NEXT, "append",                                                 \
      "UPDATE mailboxes SET uidnext = ?2, highestmodseq = ?3 WHERE id = ?1")   \
    X(MBOX_SET_MODSEQ, "modseq",                                               \
      "UPDATE mailboxes SET highestmodseq = ?2 WHERE id = ?1")                 \
    X(MBOX_TAKE_OVER, "rename_inbox",                                          \
      "UPDATE mailboxes SET uidnext = ?2, highestmodseq = ?3, "                \
      "recent_uid = ?4 WHERE id = ?1")                                         \
    /* a compare-and-set (rows changed: 1 won, 0 lost); where rows lock, a     \
     * racing claim waits for the one before it and rechecks the row it        \
     * committed (READ COMMITTED) */                                           \
    X(MBOX_CLAIM_RECENT, "recent",                                             \
      "UPDATE mailboxes SET recent_uid = ?4 WHERE id = ?1 AND "                \
      "uidvalidity = ?2 AND recent_uid = ?3 AND NOT noselect")                 \
    /* the counters, RECENT, and the count and size of the messages with       \
     * the Deleted flag (the partial index messages_deleted serves them)       \
     * from one snapshot */                                                    \
    X(MBOX_STATUS, "status",                                                   \
      "SELECT b.messages, b.uidnext, b.uidvalidity, b.unseen, "                \
      "b.highestmodseq, b.size, b.noselect, (SELECT count(*) FROM "            \
      "messages m WHERE m.mailbox_id = b.id AND m.uid >= b.recent_uid), "      \
      "b.objectid, (SELECT count(*) FROM messages m WHERE m.mailbox_id = "     \
      "b.id AND (m.flags & 8) <> 0), (SELECT CAST(COALESCE(sum(m.size), 0) "   \
      "AS bigint) FROM messages m WHERE m.mailbox_id = b.id AND "              \
      "(m.flags & 8) <> 0) "                                                   \
      "FROM mailboxes b WHERE b.account_id = ?1 AND b.name = ?2")              \
    X(SUB_ADD, "subscribe",                                                    \
      "INSERT INTO subscriptions (account_id, name) VALUES (?1, ?2) "          \
      "ON CONFLICT DO NOTHING")                                                \
    X(SUB_DEL, "subscribe",                                                    \
      "DELETE FROM subscriptions WHERE account_id = ?1 AND name = ?2")         \
    /* account_id, old, new: a subscription of new already there stays, old    \
     * goes */                                                                 \
    X(SUB_RENAME, "rename", NULL)                                              \
    /* limit: the most rows (the store's "none" is INT64_MAX) */               \
    X(MSG_RANGE, "messages",                                                   \
      "SELECT " PH_SQS_MSG_COLUMNS " FROM messages m" PH_SQS_MSG_RANGE_)       \
    X(MSG_RANGE_INFO, "fetch",                                                 \
      "SELECT " PH_SQS_MSG_COLUMNS ", b.info FROM messages m JOIN bodies b "   \
      "ON b.id = m.body_id" PH_SQS_MSG_RANGE_)                                 \
    /* the FETCH values without reading the structure: info only when ?5 asks  \
     * for it, or when the body has no values */                               \
    X(MSG_RANGE_FETCH, "fetch",                                                \
      "SELECT " PH_SQS_MSG_COLUMNS ", CASE WHEN ?5 <> 0 OR f.body_id IS "      \
      "NULL THEN (SELECT info FROM bodies WHERE id = m.body_id) END, "         \
      "f.envelope, f.bodystructure, f.body FROM messages m LEFT JOIN "         \
      "fetch_values f ON f.body_id = m.body_id" PH_SQS_MSG_RANGE_)             \
    /* mailbox_id, since, until, want_gone, want_rows, limit -> MSG, gone:     \
     * the first limit messages by uid with since < modseq <= until (when      \
     * want_rows), then every tombstone in it (when want_gone; gone 1, only    \
     * uid and modseq count), and (when want_gone) the mailbox's               \
     * tombstones_from as modseq with gone 2: one snapshot */                  \
    X(MSG_CHANGES, "changes",                                                  \
      "(SELECT " PH_SQS_MSG_COLUMNS ", 0 AS gone FROM messages m WHERE "       \
      "?5 <> 0 AND m.mailbox_id = ?1 AND m.modseq > ?2 AND m.modseq <= ?3 "    \
      "ORDER BY m.uid LIMIT ?6) UNION ALL SELECT t.uid, t.modseq, 0, NULL, "   \
      "0, 0, 0, 0, 1 FROM tombstones t WHERE ?4 <> 0 AND "                     \
      "t.mailbox_id = ?1 AND t.modseq > ?2 AND t.modseq <= ?3 UNION ALL "      \
      "SELECT 0, tombstones_from, 0, NULL, 0, 0, 0, 0, 2 FROM mailboxes "      \
      "WHERE ?4 <> 0 AND id = ?1")                                             \
    X(MSG_CHANGED_AFTER, "changes",                                            \
      "SELECT uid FROM messages WHERE mailbox_id = ?1 AND modseq > ?2 AND "    \
      "modseq <= ?3 AND uid > ?4")                                             \
    /* mailbox_id, lo, hi, limit, since, until */                              \
    X(MSG_CHANGED_RANGE, "changes",                                            \
      "SELECT " PH_SQS_MSG_COLUMNS " FROM messages m WHERE m.mailbox_id = ?1 " \
      "AND m.uid >= ?2 AND m.uid <= ?3 AND m.modseq > ?5 AND m.modseq <= ?6 "  \
      "ORDER BY m.uid LIMIT ?4")                                               \
    X(MSG_BODY, "read",                                                        \
      "SELECT body_id, size FROM messages WHERE mailbox_id = ?1 AND uid = ?2") \
    /* the indexed sort keys come from the body's sort_values (made before, \
     * in the same transaction); the sent date is the internal date when    \
     * the body has none */                                                  \
    X(MSG_INSERT, "append",                                                    \
      "INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, "       \
      "internal_date, internal_tz, size, body_id, " PH_SQS_SORT_COLUMNS ") "   \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "                           \
      PH_SQS_SORT_OF_("subject", "?9") ", "                                    \
      PH_SQS_SORT_OF_("from_addr", "?9") ", "                                  \
      PH_SQS_SORT_OF_("display_from", "?9") ", COALESCE("                      \
      PH_SQS_SORT_OF_("sent_date", "?9") ", ?6))")                             \
    X(MSG_SET_FLAGS, "store",                                                  \
      "UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5 "            \
      "WHERE mailbox_id = ?1 AND uid = ?2")                                    \
    /* \Deleted; the partial index messages_deleted serves it */               \
    X(MSG_DELETED, "expunge",                                                  \
      "SELECT uid FROM messages WHERE mailbox_id = ?1 AND uid >= ?2 AND "      \
      "uid <= ?3 AND (flags & 8) <> 0 ORDER BY uid")                           \
    /* mailbox_id, UIDS */                                                     \
    X(MSG_DELETE_UIDS, "expunge", NULL)                                        \
    X(MSG_MOVE_ALL, "rename_inbox",                                            \
      "UPDATE messages SET mailbox_id = ?2 WHERE mailbox_id = ?1")             \
    /* mailbox_id, UIDS, modseq: a tombstone of each, replacing */             \
    X(TOMB_INSERT_UIDS, "expunge", NULL)                                       \
    /* mailbox_id, modseq: a tombstone of each message, made now (the         \
     * database's clock in seconds, as its triggers write it), replacing */    \
    X(TOMB_FROM_MAILBOX, "rename_inbox", NULL)                                 \
    X(BODY_INSERT, "append",                                                   \
      "INSERT INTO bodies (size, info) VALUES (?1, ?2) RETURNING id")          \
    /* the chunks of a body (unused with the dialect's body_write/_read) */    \
    X(BODY_CHUNK_INSERT, "append",                                             \
      "INSERT INTO body_chunks (body_id, seq, data) VALUES (?1, ?2, ?3)")      \
    X(BODY_CHUNK_GET, "read",                                                  \
      "SELECT data FROM body_chunks WHERE body_id = ?1 AND seq = ?2")          \
    X(BODY_GET, "rederive", "SELECT size FROM bodies WHERE id = ?1")           \
    X(BODY_SET_INFO, "rederive", "UPDATE bodies SET info = ?2 WHERE id = ?1")  \
    X(FETCH_VALUES_INSERT, "append",                                           \
      "INSERT INTO fetch_values (body_id, envelope, bodystructure, body) "     \
      "VALUES (?1, ?2, ?3, ?4)")                                               \
    X(HDR_INSERT, "append",                                                    \
      "INSERT INTO header_values (body_id, field, n, value) "                  \
      "VALUES (?1, ?2, ?3, ?4)")                                               \
    /* header_len in bytes; text is NULL when raw is not */                    \
    X(TEXT_INSERT, "append",                                                   \
      "INSERT INTO body_text (body_id, header_len, header_chars, text_len, "   \
      "indexed, text, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")               \
    X(FETCH_VALUES_DELETE, "rederive",                                         \
      "DELETE FROM fetch_values WHERE body_id = ?1")                           \
    X(HDR_DELETE, "rederive", "DELETE FROM header_values WHERE body_id = ?1")  \
    X(TEXT_DELETE, "rederive", "DELETE FROM body_text WHERE body_id = ?1")     \
    /* bodies to make anew; SKIP LOCKED: nodes starting together share them */ \
    X(REDERIVE_NEXT, "rederive",                                               \
      "SELECT body_id FROM rederive ORDER BY body_id LIMIT ?1 "                \
      "FOR UPDATE SKIP LOCKED")                                                \
    X(REDERIVE_DONE, "rederive", "DELETE FROM rederive WHERE body_id = ?1")    \
    /* a row when a message's body has no text kept */                         \
    X(TEXT_UNKEPT, "search",                                                   \
      "SELECT 1 FROM body_text t JOIN messages m ON m.body_id = t.body_id "    \
      "WHERE t.text IS NULL AND t.raw IS NULL AND m.mailbox_id = ?1 LIMIT 1")  \
    /* limit -> body_id, text_len: texts waiting for the engine's indexer      \
     * (none without one) */                                                   \
    X(TEXT_PENDING, "index", NULL)                                             \
    X(TEXT_INDEX, "index", NULL) /* body_id (none without an indexer) */       \
    /* channel, payload (none without a notification channel) */               \
    X(NOTIFY, "notify", NULL)                                                  \
    /* bodies that lost a message before ?1 (seconds) */                       \
    X(UNREF_DUE, "sweep",                                                      \
      "SELECT DISTINCT body_id FROM body_unref WHERE at <= ?1 "                \
      "ORDER BY body_id LIMIT ?2")                                             \
    X(BODY_DELETE_UNREF, "sweep",                                              \
      "DELETE FROM bodies WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM "        \
      "messages WHERE body_id = ?1)")                                          \
    X(UNREF_DONE, "sweep",                                                     \
      "DELETE FROM body_unref WHERE body_id = ?1 AND at <= ?2")                \
    /* before: tombstones_from of each mailbox with tombstones made at         \
     * `before` (seconds) or earlier raised to their highest modseq */         \
    X(TOMB_PURGE_MARK, "sweep", NULL)                                          \
    /* before: deletes the tombstones of those mailboxes at or below           \
     * tombstones_from */                                                      \
    X(TOMB_PURGE, "sweep", NULL)                                               \
    X(MSG_UIDS, "changes",                                                     \
      "SELECT uid FROM messages WHERE mailbox_id = ?1 AND uid <= ?2 "          \
      "ORDER BY uid")                                                          \
    /* the keys of struct ph_sort_keys a body gives (ph_sort_keys_from_info:  \
     * collation keys, normalized IDs, as blobs); sent_date NULL when the     \
     * Date header gives none */                                               \
    X(SORT_VALUES_INSERT, "append",                                            \
      "INSERT INTO sort_values (body_id, subject, from_addr, to_addr, "        \
      "cc_addr, display_from, display_to, sent_date, subject_is_reply, "       \
      "message_id, refs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 <> 0, "    \
      "?10, ?11)")                                                             \
    X(SORT_VALUES_DELETE, "rederive",                                          \
      "DELETE FROM sort_values WHERE body_id = ?1")                            \
    /* the keys of the messages of a body made anew, as MSG_INSERT takes    \
     * them */                                                                 \
    X(MSG_SET_SORT, "rederive",                                                \
      "UPDATE messages SET sort_subject = " PH_SQS_SORT_OF_("subject", "?1")   \
      ", sort_from = " PH_SQS_SORT_OF_("from_addr", "?1")                      \
      ", sort_display_from = " PH_SQS_SORT_OF_("display_from", "?1")           \
      ", sent_date = COALESCE(" PH_SQS_SORT_OF_("sent_date", "?1")             \
      ", internal_date) WHERE body_id = ?1")                                   \
    /* mailbox_id, lo, hi, limit -> uid, internal_date, size, sent_date,      \
     * subject, from, to, cc, display_from, display_to, date from the        \
     * header, subject_is_reply, message_id, refs (NULLs: a body without     \
     * sort_values) */                                                         \
    X(MSG_SORT_KEYS, "sort",                                                   \
      "SELECT m.uid, m.internal_date, m.size, m.sent_date, v.subject, "        \
      "v.from_addr, v.to_addr, v.cc_addr, v.display_from, v.display_to, "      \
      "v.sent_date IS NOT NULL, v.subject_is_reply, v.message_id, v.refs "     \
      "FROM messages m LEFT JOIN sort_values v ON v.body_id = m.body_id"       \
      PH_SQS_MSG_RANGE_)                                                      \
    /* mailbox_id, UIDS, modseq: as TOMB_INSERT_UIDS, but run before the       \
     * messages go, and each tombstone keeps its message's row                 \
     * (msg_modseq, flags, keywords, internal_date, internal_tz, size,         \
     * body_id, which goes NULL when its body goes) for the sessions not       \
     * yet told of the expunge (RFC 2180 4.1.1). NULL: the                     \
     * schema keeps no ghosts; TOMB_INSERT_UIDS runs, MSG_GHOSTS and           \
     * TOMB_BODY never do */                                                   \
    X(TOMB_KEEP_UIDS, "expunge", NULL)                                         \
    /* mailbox_id, lo, hi, limit, info, values -> MSG_RANGE_FETCH's columns:   \
     * the ghosts of the range (tombstones whose row and body are kept),       \
     * msg_modseq as the modseq; info when ?5 asks for it, or ?6 and the       \
     * body has no values; the values when ?6 asks */                          \
    /* ABI 1.6: then MSG_RANGE_OBJECTS' last three columns, ?7 as there */    \
    X(MSG_GHOSTS, "fetch",                                                     \
      "SELECT m.uid, m.msg_modseq, m.flags, m.keywords, m.internal_date, "     \
      "m.internal_tz, m.size, m.body_id, CASE WHEN ?5 <> 0 OR (?6 <> 0 AND "   \
      "f.body_id IS NULL) THEN b.info END, CASE WHEN ?6 <> 0 THEN "            \
      "f.envelope END, CASE WHEN ?6 <> 0 THEN f.bodystructure END, CASE "      \
      "WHEN ?6 <> 0 THEN f.body END, " PH_SQS_OBJECT_COLUMNS_ " FROM "         \
      "tombstones m JOIN bodies b ON b.id = m.body_id LEFT JOIN fetch_values " \
      "f ON f.body_id = m.body_id" PH_SQS_MSG_RANGE_)                          \
    /* a ghost's body (MSG_BODY's columns) */                                  \
    X(TOMB_BODY, "read",                                                       \
      "SELECT body_id, size FROM tombstones WHERE mailbox_id = ?1 AND "        \
      "uid = ?2 AND body_id IS NOT NULL")                                      \
    /* ABI 1.6 (RFC 8474, RFC 8970). mailbox_id, lo, hi, limit, info,          \
     * values, preview -> MSG_GHOSTS' columns from messages, then emailid,     \
     * threadid and (when ?7 asks) the preview */                              \
    X(MSG_RANGE_OBJECTS, "fetch",                                              \
      "SELECT " PH_SQS_MSG_COLUMNS ", CASE WHEN ?5 <> 0 OR (?6 <> 0 AND "      \
      "f.body_id IS NULL) THEN (SELECT info FROM bodies WHERE id = "           \
      "m.body_id) END, CASE WHEN ?6 <> 0 THEN f.envelope END, CASE WHEN "      \
      "?6 <> 0 THEN f.bodystructure END, CASE WHEN ?6 <> 0 THEN f.body END, "  \
      PH_SQS_OBJECT_COLUMNS_ " FROM messages m LEFT JOIN fetch_values f ON "   \
      "f.body_id = m.body_id" PH_SQS_MSG_RANGE_)                               \
    /* a body's EMAILID and THREADID, made once: they never change */          \
    X(OBJECTS_INSERT, "append",                                                \
      "INSERT INTO body_objects (body_id, emailid, threadid) "                 \
      "VALUES (?1, ?2, ?3)")                                                   \
    X(OBJECTS_GET, "rederive",                                                 \
      "SELECT 1 FROM body_objects WHERE body_id = ?1")                         \
    /* the account of a body's messages (its copies never leave it) */         \
    X(BODY_ACCOUNT, "rederive",                                                \
      "SELECT b.account_id FROM messages m JOIN mailboxes b ON b.id = "        \
      "m.mailbox_id WHERE m.body_id = ?1 LIMIT 1")                             \
    /* account_id, a normalized Message-ID -> the THREADID it is in */         \
    X(THREAD_GET, "append",                                                    \
      "SELECT threadid FROM threads WHERE account_id = ?1 AND msgid = ?2")     \
    X(THREAD_INSERT, "append",                                                 \
      "INSERT INTO threads (account_id, msgid, threadid) VALUES (?1, ?2, ?3) " \
      "ON CONFLICT DO NOTHING")                                                \
    X(PREVIEW_INSERT, "append",                                                \
      "INSERT INTO previews (body_id, preview) VALUES (?1, ?2)")               \
    X(PREVIEW_DELETE, "rederive",                                              \
      "DELETE FROM previews WHERE body_id = ?1")                               \
    /* the account's usage counters (kept by triggers: messages' sizes and     \
     * count, selectable mailboxes) and its own limits (NULL: the storage      \
     * block's default; -1: none), in enum ph_quota_resource order */          \
    X(ACCT_QUOTA, "quota", PH_SQS_ACCT_QUOTA_ "WHERE id = ?1")                 \
    /* the same, the row locked as ACCT_LOCK locks it: a writer that changes   \
     * the counters takes it before any mailbox row */                         \
    X(ACCT_QUOTA_LOCK, "quota",                                                \
      PH_SQS_ACCT_QUOTA_ "WHERE id = ?1 FOR NO KEY UPDATE")                    \
    /* id, storage, messages, mailboxes (NULL: the default; -1: none) */       \
    X(ACCT_QUOTA_SET, "quota",                                                 \
      "UPDATE accounts SET quota_storage = ?2, quota_messages = ?3, "          \
      "quota_mailboxes = ?4 WHERE id = ?1")

enum ph_sqlstore_stmt {
#define PH_SQS_ENUM_(name, op, sql) PH_SQS_##name,
    PH_SQS_STATEMENTS(PH_SQS_ENUM_)
#undef PH_SQS_ENUM_
        PH_SQS_COUNT
};

/* The op of each statement, for log lines. */
extern const char *const ph_sqlstore_stmt_ops[PH_SQS_COUNT];

#endif
