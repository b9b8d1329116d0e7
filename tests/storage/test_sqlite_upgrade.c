/* SPDX-License-Identifier: MIT */
/* storage.sqlite: a database of schema version 2 (before fetch_values
 * and header_values, and before body_text and its index) is upgraded when
 * the module starts; SEARCH FROM/SUBJECT/TEXT/BODY and the FETCH values
 * then cover the messages stored before the upgrade, and an expunge after
 * it keeps the text index in step.
 *
 * usage: test_sqlite_upgrade STATE_DIR (empty; the test writes its config
 * and database there) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <posthorn/imap-parser.h>
#include <posthorn/imap-search.h>
#include <posthorn/message.h>
#include <posthorn/storage.h>

#include "module/graph.h"

static const char *state_dir;

/* What migration 11 (quota counters and limits) added, taken away again
 * for a database that stands for an older one. */
#define UNDO_FROM_11                                                           \
    "DROP TRIGGER quota_message_insert;"                                       \
    "DROP TRIGGER quota_message_delete;"                                       \
    "DROP TRIGGER quota_mailbox_insert;"                                       \
    "DROP TRIGGER quota_mailbox_delete;"                                       \
    "DROP TRIGGER quota_mailbox_noselect;"                                     \
    "ALTER TABLE accounts DROP COLUMN usage_storage;"                          \
    "ALTER TABLE accounts DROP COLUMN usage_messages;"                         \
    "ALTER TABLE accounts DROP COLUMN usage_mailboxes;"                        \
    "ALTER TABLE accounts DROP COLUMN quota_storage;"                          \
    "ALTER TABLE accounts DROP COLUMN quota_messages;"                         \
    "ALTER TABLE accounts DROP COLUMN quota_mailboxes;"

/* What migrations 10 (object ids, previews) and 11 added. */
#define UNDO_FROM_10                                                           \
    UNDO_FROM_11                                                               \
    "DROP TABLE previews;"                                                     \
    "DROP TABLE threads;"                                                      \
    "DROP TABLE body_objects;"                                                 \
    "ALTER TABLE mailboxes DROP COLUMN objectid;"

/* What migrations 9 (tombstones that keep their message's row), 8 (sort
 * keys) and 7 (tombstone_horizon) added, and the later ones, taken away
 * again for a database that stands for an older one. */
#define UNDO_FROM_7                                                            \
    UNDO_FROM_10                                                               \
    "DROP TRIGGER bodies_delete;"                                              \
    "DROP INDEX tombstones_body;"                                              \
    "ALTER TABLE tombstones DROP COLUMN body_id;"                              \
    "ALTER TABLE tombstones DROP COLUMN msg_modseq;"                           \
    "ALTER TABLE tombstones DROP COLUMN flags;"                                \
    "ALTER TABLE tombstones DROP COLUMN keywords;"                             \
    "ALTER TABLE tombstones DROP COLUMN internal_date;"                        \
    "ALTER TABLE tombstones DROP COLUMN internal_tz;"                          \
    "ALTER TABLE tombstones DROP COLUMN size;"                                 \
    "DROP INDEX messages_sort_subject;"                                        \
    "DROP INDEX messages_sort_from;"                                           \
    "DROP INDEX messages_sort_display_from;"                                   \
    "DROP INDEX messages_sent_date;"                                           \
    "DROP INDEX messages_size;"                                                \
    "ALTER TABLE messages DROP COLUMN sort_subject;"                           \
    "ALTER TABLE messages DROP COLUMN sort_from;"                              \
    "ALTER TABLE messages DROP COLUMN sort_display_from;"                      \
    "ALTER TABLE messages DROP COLUMN sent_date;"                              \
    "DROP TABLE sort_values;"                                                  \
    "DROP INDEX tombstones_at;"                                                \
    "ALTER TABLE tombstones DROP COLUMN at;"                                   \
    "ALTER TABLE mailboxes DROP COLUMN tombstones_from;"

/* The storage of the current test: its database is named after it. */
static const char *db_name = "posthorn.db";

/* The graph with storage "s" on db_name; *error_r set when the storage
 * does not start. */
static struct ph_graph *load_or_fail(struct ph_instance **storage_r,
                                     char **error_r)
{
    char *conf = ph_strdup_printf("%s/posthorn.conf", state_dir);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    /* body_grace 0s: an expunged message's body goes at once. */
    fprintf(f,
            "state_dir %s\nstorage.sqlite s {\n dsn %s\n body_grace 0s\n}\n",
            state_dir, db_name);
    fclose(f);
    struct ph_graph *graph = NULL;
    *error_r = NULL;
    if (ph_graph_load_file(conf, PH_GRAPH_LAZY, &graph, error_r) < 0)
        fail_msg("%s", *error_r);
    *storage_r = ph_graph_instance(graph, "s", error_r);
    free(conf);
    return graph;
}

static struct ph_graph *load(struct ph_instance **storage_r)
{
    char *error = NULL;
    struct ph_graph *graph = load_or_fail(storage_r, &error);
    if (*storage_r == NULL)
        fail_msg("%s", error);
    return graph;
}

static void append(struct ph_account *acct, const char *text)
{
    struct ph_append *app = NULL;
    const char *err = NULL;
    struct ph_flags flags = {0};
    uint32_t uid, uidvalidity;
    assert_int_equal(ph_append_begin(acct, "INBOX", strlen(text), &app, &err),
                     0);
    assert_int_equal(ph_append_write(app, text, strlen(text), &err), 0);
    assert_int_equal(
        ph_append_finish(&app, &flags, 1700000000, 0, &uid, &uidvalidity, &err),
        0);
}

/* The UIDs storage finds for keys, as "1:3,7". */
static char *search(struct ph_mailbox *mb, const char *keys)
{
    struct ph_buf line = {0};
    ph_buf_printf(&line, "a SEARCH %s\r\n", keys);
    struct ph_imap_parser *p = ph_imap_parser_new(NULL);
    size_t used = 0;
    assert_int_equal(ph_imap_parser_feed(p, line.data, line.len, &used),
                     PH_IMAP_PARSE_COMMAND);
    const struct ph_imap_command *cmd = ph_imap_parser_command(p);
    struct ph_imap_search_params params = {.max_seq = 3, .max_uid = 3};
    struct ph_imap_search *prog = NULL;
    const char *err = NULL;
    assert_int_equal(
        ph_imap_search_parse(cmd->args, cmd->n_args, &params, &prog, &err),
        PH_IMAP_SEARCH_OK);
    struct ph_uidset got = {0};
    int r = ph_mailbox_search(mb, &prog->root, &got, &err);
    if (r != 0)
        fail_msg("SEARCH %s: %d %s", keys, r, err);
    char *s = ph_uidset_format(&got);
    ph_uidset_clear(&got);
    ph_imap_search_free(&prog);
    ph_imap_parser_free(&p);
    ph_buf_free(&line);
    return s;
}

#define assert_search(mb, keys, expected)                                      \
    do {                                                                       \
        char *found_ = search((mb), (keys));                                   \
        assert_string_equal(found_, (expected));                               \
        free(found_);                                                          \
    } while (0)

/* Waits until no text is pending for the indexer (60 s: a guard against a
 * hang on a loaded machine, not a bound on the indexer). */
static bool wait_indexed(const char *db_path)
{
    for (int i = 0; i < 1200; i++) {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int pending = -1;
        if (sqlite3_open(db_path, &db) == SQLITE_OK &&
            sqlite3_prepare_v2(db,
                               "SELECT count(*) FROM body_text WHERE "
                               "indexed < 0",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            pending = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        if (pending == 0)
            return true;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void test_version_2_database_is_upgraded_and_searchable(void **state)
{
    (void)state;
    struct ph_instance *storage;
    struct ph_graph *graph = load(&storage);
    struct ph_account *acct = NULL;
    const char *err = NULL;
    assert_int_equal(ph_storage_account_get(storage, "old", true, &acct, &err),
                     0);
    append(acct,
           "From: Alice <alice@example.org>\r\nSubject: one\r\n\r\nx\r\n");
    append(acct, "From: bob@example.org\r\nSubject: two\r\n\r\nx\r\n");
    append(acct, "From: =?UTF-8?Q?Stra=C3=9Fe?= <s@example.de>\r\n"
                 "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n"
                 "bm90aGluZyB0byBzZWUgaGVyZQ==\r\n");
    ph_account_release(&acct);
    ph_graph_unref(&graph);

    /* What posthorn before version 3 left: no such tables. */
    char *db_path = ph_strdup_printf("%s/posthorn.db", state_dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  UNDO_FROM_7 "DROP TRIGGER body_text_index;"
                                  "DROP TRIGGER body_text_delete;"
                                  "DROP TABLE body_fts;"
                                  "DROP VIEW body_text_indexed;"
                                  "DROP TABLE body_text;"
                                  "DROP TABLE header_values;"
                                  "DROP TABLE fetch_values;"
                                  "DROP TABLE rederive;"
                                  "PRAGMA user_version = 2;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    graph = load(&storage);
    assert_int_equal(ph_storage_account_get(storage, "old", false, &acct, &err),
                     0);
    struct ph_mailbox *mb = NULL;
    assert_int_equal(ph_mailbox_open(acct, "INBOX", false, &mb, &err), 0);
    assert_search(mb, "FROM alice", "1");
    assert_search(mb, "FROM example.org", "1:2");
    assert_search(mb, "FROM strasse", "3");
    assert_search(mb, "SUBJECT \"gr\xc3\xbc\xc3\x9f\"", "3");
    assert_search(mb, "NOT SUBJECT o", "3");
    assert_search(mb, "TEXT alice", "1");
    assert_search(mb, "BODY alice", "");
    assert_search(mb, "BODY \"to see\"", "3");
    assert_search(mb, "TEXT \"GR\xc3\x9c\xc3\x9f\"", "3");
    assert_search(mb, "BODY x", "1:2");
    struct ph_meta_list l = {0};
    assert_int_equal(
        ph_mailbox_fetch(mb, NULL, PH_META_FETCH, ph_meta_list_add, &l, &err),
        0);
    assert_int_equal(l.n, 3);
    for (size_t i = 0; i < l.n; i++) {
        assert_non_null(l.v[i].envelope);
        assert_non_null(l.v[i].bodystructure);
        assert_non_null(l.v[i].body);
        assert_null(l.v[i].info);
    }
    assert_non_null(strstr(l.v[0].envelope, "\"alice\" \"example.org\""));
    ph_meta_list_free(&l);
    /* An expunge takes the body's text out of the index with it. */
    struct ph_flags deleted = {.system = PH_FLAG_DELETED};
    struct ph_uidset one = {0}, gone = {0};
    ph_uidset_add(&one, 1);
    assert_int_equal(ph_mailbox_store(mb, &one, PH_STORE_ADD, &deleted, 0, NULL,
                                      NULL, NULL, &err),
                     0);
    assert_int_equal(ph_mailbox_expunge(mb, &one, &gone, &err), 0);
    assert_true(ph_uidset_contains(&gone, 1));
    ph_uidset_clear(&one);
    ph_uidset_clear(&gone);
    assert_search(mb, "TEXT alice", "");
    assert_search(mb, "BODY x", "2");
    /* The indexer takes the pending texts into the index in the
     * background; the same answers once it has. */
    assert_true(wait_indexed(db_path));
    assert_search(mb, "TEXT alice", "");
    assert_search(mb, "BODY x", "2");
    assert_search(mb, "TEXT \"GR\xc3\x9c\xc3\x9f\"", "3");
    assert_search(mb, "BODY \"to see\"", "3");
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
    ph_graph_unref(&graph);

    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true(sqlite3_column_int(st, 0) >= 4);
    sqlite3_finalize(st);
    /* Index and text agree: two bodies left, each found by its words. */
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO body_fts (body_fts) VALUES "
                                  "('integrity-check')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM body_fts WHERE "
                                        "body_fts MATCH '\"exa\"'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(db_path);
}

/* Messages stored before issue 14's fixes, as they were kept then. */
static const char *const old_msgs[] = {
    /* The address forms: header_values kept only the raw field. */
    "From: <user-from (comment)@ (comment) domain.org>\r\nSubject: a\r\n"
    "\r\nbody\r\n",
    /* The text: part headers and file names were not in body_text. */
    "Subject: b\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
    "--b\r\nContent-Type: application/pdf\r\n"
    "Content-Disposition: attachment; filename=\"Rechnung.pdf\"\r\n\r\n"
    "JVBERi0=\r\n--b--\r\n",
    /* The structure: a boundary quoted with a trailing space was taken
     * with the space, and the parts were one. */
    "Subject: c\r\nContent-Type: multipart/mixed; boundary=\"sep \"\r\n\r\n"
    "--sep\r\nContent-Type: text/plain\r\n\r\none\r\n"
    "--sep\r\nContent-Type: text/html\r\n\r\ntwo\r\n--sep--\r\n",
};

static const char *const c_structure =
    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0 NIL "
    "NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL "
    "\"7bit\" 3 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"sep \") NIL "
    "NIL NIL)";

static void exec_sql(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static int64_t query_int(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Turns what the current code kept into what the code before issue 14
 * kept: header values without the address forms, body text without part
 * headers, the structure (info and its FETCH values) of the third message
 * as the old parser made it (one part: taken from a one-part message). */
static void make_stale(const char *db_path)
{
    exec_sql(db_path,
             "DELETE FROM header_values WHERE value = 'user-from@domain.org';"
             "UPDATE body_text SET text = 'stale', header_len = 0;"
             "UPDATE fetch_values SET bodystructure = (SELECT bodystructure "
             "FROM fetch_values WHERE body_id = 1), body = (SELECT body FROM "
             "fetch_values WHERE body_id = 1) WHERE body_id % 3 = 0;"
             "UPDATE bodies SET info = (SELECT info FROM bodies WHERE id = 1) "
             "WHERE id % 3 = 0;");
}

static void check_rederived(struct ph_mailbox *mb, size_t n)
{
    char *all = ph_strdup_printf("1:%zu", n);
    struct ph_buf a = {0}, b = {0}, c = {0};
    for (size_t i = 1; i <= n; i++)
        ph_buf_printf(i % 3 == 1   ? &a
                      : i % 3 == 2 ? &b
                                   : &c,
                      "%s%zu",
                      (i % 3 == 1   ? a.len
                       : i % 3 == 2 ? b.len
                                    : c.len)
                          ? ","
                          : "",
                      i);
    /* ph_uidset_format joins runs: with n a multiple of 3 and each
     * residue one in three, no two are adjacent. */
    assert_search(mb, "FROM user-from@domain.org", a.data);
    assert_search(mb, "TEXT Rechnung", b.data);
    assert_search(mb, "BODY \"see attached\"", b.data);
    assert_search(mb, "TEXT \"Content-Type: text/html\"", c.data);
    assert_search(mb, "NOT TEXT stale", all);
    struct ph_meta_list l = {0};
    const char *err = NULL;
    assert_int_equal(ph_mailbox_fetch(mb, NULL, PH_META_FETCH | PH_META_INFO,
                                      ph_meta_list_add, &l, &err),
                     0);
    assert_int_equal(l.n, n);
    for (size_t i = 0; i < l.n; i++) {
        if (l.v[i].uid % 3 != 0)
            continue;
        assert_string_equal(l.v[i].bodystructure, c_structure);
        struct ph_message_info *info = NULL;
        assert_int_equal(ph_message_info_deserialize(
                             l.v[i].info, l.v[i].info_size, &info, &err),
                         0);
        assert_string_equal(info->bodystructure, c_structure);
        assert_int_equal(info->n_parts, 3);
        ph_message_info_free(&info);
    }
    ph_meta_list_free(&l);
    ph_buf_free(&a);
    ph_buf_free(&b);
    ph_buf_free(&c);
    free(all);
}

/* A database of schema version 4, filled by the code before issue 14, is
 * upgraded to 5: every body's structure, FETCH values, header values and
 * text are made anew from its bytes, a batch per transaction (more
 * bodies than one batch here). An upgrade that stopped half-way (rows
 * left in table rederive) goes on at the next start. */
static void test_version_4_database_gets_values_made_anew(void **state)
{
    (void)state;
    const size_t n = 150; /* over two batches of 64 */
    db_name = "v4.db";
    struct ph_instance *storage;
    struct ph_graph *graph = load(&storage);
    struct ph_account *acct = NULL;
    const char *err = NULL;
    assert_int_equal(ph_storage_account_get(storage, "v4", true, &acct, &err),
                     0);
    for (size_t i = 0; i < n; i++)
        append(acct, old_msgs[i % 3]);
    ph_account_release(&acct);
    ph_graph_unref(&graph);
    char *db_path = ph_strdup_printf("%s/v4.db", state_dir);

    make_stale(db_path);
    exec_sql(db_path,
             UNDO_FROM_7 "DROP TABLE rederive; PRAGMA user_version = 4;");
    graph = load(&storage);
    assert_int_equal(query_int(db_path, "PRAGMA user_version"), 11);
    assert_int_equal(query_int(db_path, "SELECT count(*) FROM rederive"), 0);
    assert_int_equal(ph_storage_account_get(storage, "v4", false, &acct, &err),
                     0);
    struct ph_mailbox *mb = NULL;
    assert_int_equal(ph_mailbox_open(acct, "INBOX", false, &mb, &err), 0);
    check_rederived(mb, n);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
    ph_graph_unref(&graph);

    /* Stopped half-way: version 5, some bodies still listed. */
    make_stale(db_path);
    exec_sql(db_path, "INSERT INTO rederive (body_id) SELECT id FROM bodies;");
    graph = load(&storage);
    assert_int_equal(query_int(db_path, "SELECT count(*) FROM rederive"), 0);
    assert_int_equal(ph_storage_account_get(storage, "v4", false, &acct, &err),
                     0);
    assert_int_equal(ph_mailbox_open(acct, "INBOX", false, &mb, &err), 0);
    check_rederived(mb, n);
    assert_true(wait_indexed(db_path));
    check_rederived(mb, n);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
    ph_graph_unref(&graph);
    exec_sql(db_path,
             "INSERT INTO body_fts (body_fts) VALUES ('integrity-check')");
    free(db_path);
}

/* A database of an older schema version with mail, upgraded to 11:
 * each account's usage is counted from what it holds (RFC 9208 5.1-5.3:
 * the messages' sizes and count, the selectable mailboxes), and the
 * triggers keep it from there. undo makes the database stand for the
 * version before (it sets user_version). */
static void quota_counted_after_upgrade(const char *name, const char *undo)
{
    db_name = name;
    struct ph_instance *storage;
    struct ph_graph *graph = load(&storage);
    struct ph_account *acct = NULL;
    const char *err = NULL;
    assert_int_equal(ph_storage_account_get(storage, "q", true, &acct, &err),
                     0);
    assert_int_equal(ph_mailbox_create(acct, "Lists.Old", 0, &err), 0);
    assert_int_equal(ph_mailbox_delete(acct, "Lists", &err), 0); /* \Noselect */
    size_t size = 0;
    for (size_t i = 0; i < 3; i++) {
        append(acct, old_msgs[i]);
        size += strlen(old_msgs[i]);
    }
    ph_account_release(&acct);
    ph_graph_unref(&graph);
    char *db_path = ph_strdup_printf("%s/%s", state_dir, name);
    exec_sql(db_path, undo);

    graph = load(&storage);
    assert_int_equal(query_int(db_path, "PRAGMA user_version"), 11);
    /* Migration 10 (when it ran) gave every mailbox its MAILBOXID. */
    assert_int_equal(query_int(db_path, "SELECT count(*) FROM mailboxes "
                                        "WHERE objectid IS NULL"),
                     0);
    assert_int_equal(ph_storage_account_get(storage, "q", false, &acct, &err),
                     0);
    struct ph_quota q;
    assert_int_equal(ph_account_quota(acct, &q, &err), 0);
    assert_int_equal(q.usage[PH_QUOTA_STORAGE], size);
    assert_int_equal(q.usage[PH_QUOTA_MESSAGE], 3);
    /* INBOX, the five special-use ones and Lists.Old; not Lists. */
    assert_int_equal(q.usage[PH_QUOTA_MAILBOX], 7);
    append(acct, old_msgs[0]);
    assert_int_equal(ph_account_quota(acct, &q, &err), 0);
    assert_int_equal(q.usage[PH_QUOTA_STORAGE], size + strlen(old_msgs[0]));
    assert_int_equal(q.usage[PH_QUOTA_MESSAGE], 4);
    ph_account_release(&acct);
    ph_graph_unref(&graph);
    free(db_path);
}

/* Version 10 (OBJECTID, before QUOTA): migration 11 alone. */
static void test_version_10_database_gets_its_quota_counted(void **state)
{
    (void)state;
    quota_counted_after_upgrade("v10.db",
                                UNDO_FROM_11 "PRAGMA user_version = 10;");
}

/* Version 9 (before OBJECTID and QUOTA): migrations 10 and 11 in order. */
static void test_version_9_database_gets_object_ids_and_quota(void **state)
{
    (void)state;
    quota_counted_after_upgrade("v9.db",
                                UNDO_FROM_10 "PRAGMA user_version = 9;");
}

/* A database another program made (tables without posthorn's
 * application_id, or another application_id) is refused, and left as it
 * was: no migration runs on it. */
static void test_database_posthorn_did_not_make_is_refused(void **state)
{
    (void)state;
    const char *const setups[] = {
        "CREATE TABLE accounts (x); PRAGMA user_version = 2;",
        "PRAGMA application_id = 42;",
    };
    const char *const names[] = {"other1.db", "other2.db"};
    for (size_t i = 0; i < 2; i++) {
        db_name = names[i];
        char *db_path = ph_strdup_printf("%s/%s", state_dir, names[i]);
        exec_sql(db_path, setups[i]);
        struct ph_instance *storage = NULL;
        char *error = NULL;
        struct ph_graph *graph = load_or_fail(&storage, &error);
        assert_null(storage);
        assert_non_null(error);
        assert_non_null(strstr(error, "not a posthorn mail database"));
        free(error);
        ph_graph_unref(&graph);
        assert_int_equal(query_int(db_path, "PRAGMA user_version"), i ? 0 : 2);
        assert_int_equal(query_int(db_path, "SELECT count(*) FROM "
                                            "sqlite_schema"),
                         i ? 0 : 1);
        free(db_path);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s STATE_DIR\n", argv[0]);
        return 2;
    }
    state_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_2_database_is_upgraded_and_searchable),
        cmocka_unit_test(test_version_4_database_gets_values_made_anew),
        cmocka_unit_test(test_version_10_database_gets_its_quota_counted),
        cmocka_unit_test(test_version_9_database_gets_object_ids_and_quota),
        cmocka_unit_test(test_database_posthorn_did_not_make_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
