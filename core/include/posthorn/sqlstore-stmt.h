/* SPDX-License-Identifier: MIT */
/* posthorn SDK (ABI 1.4): the statements of the SQL mail store.
 *
 * A driver of the store (sqlstore.h) gives the SQL of each in one table,
 * indexed by this enum: struct ph_sql_driver's stmts. Each comment is the
 * statement's contract: its parameters in order, "->" its result columns
 * in order. MBOX is id, uidvalidity, uidnext, highestmodseq, recent_uid,
 * special_use, noselect, messages, unseen, size, tombstones_from (a
 * mailbox row; tombstones_from: the highest modseq of a purged tombstone,
 * 0 for none); MSG is
 * uid, modseq, flags, keywords, internal_date, internal_tz, size, body_id
 * (a message row). A UIDS parameter is a list of UIDs (PH_SQL_U). A
 * statement a driver's engine does not need is NULL in its table (noted
 * below). Statements are only ever added at the end. */
#ifndef POSTHORN_SQLSTORE_STMT_H
#define POSTHORN_SQLSTORE_STMT_H

/* X(name, op): op names the statement in log lines. */
#define PH_SQS_STATEMENTS(X)                                                   \
    X(UIDVALIDITY_NEXT, "uidvalidity") /* now -> value: the clock, but         \
                                          never one given before (1 after      \
                                          4294967295) */                       \
    X(ACCT_GET, "account")             /* name -> id, appendlimit */           \
    X(ACCT_INSERT, "account_insert")   /* name, created -> id; no row when     \
                                          the name is taken */                 \
    X(ACCT_LOCK, "account_lock")       /* id -> id; locks the row till the     \
                                          commit where rows lock */            \
    X(ACCT_DELETE, "account_delete")   /* id */                                \
    X(ACCT_LIST, "account_list")       /* -> name, sorted */                   \
    X(ACCT_MAILBOX_IDS, "account_delete") /* account_id -> id */               \
    X(MBOX_BY_NAME, "mailbox")            /* account_id, name -> MBOX */       \
    X(MBOX_BY_NAME_LOCK, "mailbox")       /* the same, locking the row */      \
    X(MBOX_BY_ID, "mailbox")              /* id -> MBOX */                     \
    X(MBOX_BY_ID_LOCK, "mailbox")         /* the same, locking the row */      \
    X(MBOX_INSERT, "mailbox_insert")      /* account_id, name, uidvalidity,    \
                                             special_use, noselect -> id */    \
    X(MBOX_LIST, "mailbox_list")          /* account_id -> kind (0 mailbox,    \
                                             1 subscription), name,            \
                                             special_use, noselect; sorted     \
                                             by kind, name (bytewise) */       \
    X(MBOX_RANGE, "mailbox_inferiors")    /* account_id, lo, hi, limit -> id,  \
                                             name: lo <= name < hi, sorted */  \
    X(MBOX_DELETE, "mailbox_delete")      /* id */                             \
    X(MBOX_REVIVE, "create")              /* id, uidvalidity, special_use:     \
                                             selectable again */               \
    X(MBOX_RENAME, "rename")              /* id, name */                       \
    X(MBOX_SET_NEXT, "append")            /* id, uidnext, highestmodseq */     \
    X(MBOX_SET_MODSEQ, "modseq")          /* id, highestmodseq */              \
    X(MBOX_TAKE_OVER, "rename_inbox")     /* id, uidnext, highestmodseq,       \
                                             recent_uid */                     \
    X(MBOX_CLAIM_RECENT, "recent")        /* id, uidvalidity, old, new:        \
                                             recent_uid = new where it is old, \
                                             the uidvalidity matches and the   \
                                             mailbox is selectable (rows       \
                                             changed: 1 won, 0 lost) */        \
    X(MBOX_STATUS, "status")              /* account_id, name -> messages,     \
                                             uidnext, uidvalidity, unseen,     \
                                             highestmodseq, size, noselect,    \
                                             recent (messages with uid >=      \
                                             recent_uid), one snapshot */      \
    X(SUB_ADD, "subscribe")               /* account_id, name (no error when   \
                                             there) */                         \
    X(SUB_DEL, "subscribe")               /* account_id, name */               \
    X(SUB_RENAME, "rename")               /* account_id, old, new: a           \
                                             subscription of new already there \
                                             stays, old goes */                \
    X(MSG_RANGE, "messages")              /* mailbox_id, lo, hi, limit (-1:    \
                                             none) -> MSG, sorted by uid */    \
    X(MSG_RANGE_INFO, "fetch")            /* the same -> MSG, info */          \
    X(MSG_RANGE_FETCH, "fetch")           /* mailbox_id, lo, hi, limit,        \
                                             with_info -> MSG, info (when      \
                                             with_info or no FETCH values),    \
                                             envelope, bodystructure, body */  \
    X(MSG_CHANGES, "changes")             /* mailbox_id, since, until,         \
                                             want_gone, want_rows, limit ->    \
                                             MSG, gone: the first limit        \
                                             messages by uid with since <      \
                                             modseq <= until (when want_rows), \
                                             then every tombstone in it (when  \
                                             want_gone; gone 1, only uid       \
                                             counts), and (when want_gone)     \
                                             the mailbox's tombstones_from     \
                                             as modseq with gone 2: one        \
                                             snapshot */                       \
    X(MSG_CHANGED_AFTER, "changes")       /* mailbox_id, since, until,         \
                                             after_uid -> uid */               \
    X(MSG_CHANGED_RANGE, "changes")       /* mailbox_id, lo, hi, since,        \
                                             until, limit -> MSG, sorted */    \
    X(MSG_BODY, "read")                   /* mailbox_id, uid -> body_id, size  \
                                           */                                  \
    X(MSG_INSERT, "append")               /* mailbox_id, uid, modseq, flags,   \
                                             keywords, internal_date,          \
                                             internal_tz, size, body_id */     \
    X(MSG_SET_FLAGS, "store")             /* mailbox_id, uid, flags, keywords, \
                                             modseq */                         \
    X(MSG_DELETED, "expunge")             /* mailbox_id, lo, hi -> uid:        \
                                             \Deleted, sorted */               \
    X(MSG_DELETE_UIDS, "expunge")         /* mailbox_id, UIDS */               \
    X(MSG_MOVE_ALL, "rename_inbox")       /* from_id, to_id */                 \
    X(TOMB_INSERT_UIDS, "expunge")        /* mailbox_id, UIDS, modseq          \
                                             (replacing) */                    \
    X(TOMB_FROM_MAILBOX, "rename_inbox")  /* mailbox_id, modseq: a tombstone   \
                                             for each of its messages */       \
    X(BODY_INSERT, "append")              /* size, info -> id */               \
    X(BODY_CHUNK_INSERT, "append")        /* body_id, seq, data (NULL with     \
                                             the dialect's body_write) */      \
    X(BODY_CHUNK_GET, "read")             /* body_id, seq -> data (NULL with   \
                                             the dialect's body_read) */       \
    X(BODY_GET, "rederive")               /* id -> size */                     \
    X(BODY_SET_INFO, "rederive")          /* id, info */                       \
    X(FETCH_VALUES_INSERT, "append")      /* body_id, envelope,                \
                                             bodystructure, body */            \
    X(HDR_INSERT, "append")               /* body_id, field, n, value */       \
    X(TEXT_INSERT, "append")              /* body_id, header_len (bytes),      \
                                             header_chars, text_len, state,    \
                                             text, raw (text is NULL when raw  \
                                             is not) */                        \
    X(FETCH_VALUES_DELETE, "rederive")    /* body_id */                        \
    X(HDR_DELETE, "rederive")             /* body_id */                        \
    X(TEXT_DELETE, "rederive")            /* body_id */                        \
    X(REDERIVE_NEXT, "rederive")          /* limit -> body_id: bodies to make  \
                                             anew (locked, others skipped,     \
                                             where rows lock) */               \
    X(REDERIVE_DONE, "rederive")          /* body_id */                        \
    X(TEXT_UNKEPT, "search")              /* mailbox_id -> 1 when a message's  \
                                             body has no text kept */          \
    X(TEXT_PENDING, "index")              /* limit -> body_id, text_len: texts \
                                             waiting for the engine's indexer  \
                                             (NULL without one) */             \
    X(TEXT_INDEX, "index")                /* body_id (NULL without one) */     \
    X(NOTIFY, "notify")                   /* channel, payload (NULL without a  \
                                             notification channel) */          \
    X(UNREF_DUE, "sweep")                 /* before, limit -> body_id: bodies  \
                                             that lost a message before        \
                                             `before` (seconds) */             \
    X(BODY_DELETE_UNREF, "sweep")         /* id: the body, unless a message    \
                                             still has it */                   \
    X(UNREF_DONE, "sweep")                /* body_id, before */               \
    X(TOMB_PURGE_MARK, "sweep")           /* before: tombstones_from of each   \
                                             mailbox with tombstones from      \
                                             `before` (seconds) or earlier     \
                                             raised to their highest modseq */ \
    X(TOMB_PURGE, "sweep")                /* before: deletes the tombstones    \
                                             of those mailboxes at or below    \
                                             tombstones_from */                \
    X(MSG_UIDS, "changes")                /* mailbox_id, hi -> uid <= hi,      \
                                             sorted */

enum ph_sqlstore_stmt {
#define PH_SQS_ENUM_(name, op) PH_SQS_##name,
    PH_SQS_STATEMENTS(PH_SQS_ENUM_)
#undef PH_SQS_ENUM_
        PH_SQS_COUNT
};

/* The op of each statement, for log lines. */
extern const char *const ph_sqlstore_stmt_ops[PH_SQS_COUNT];

#endif
