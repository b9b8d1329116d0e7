# SPDX-License-Identifier: MIT
"""table.sql_query through the real binary, on SQLite and on the test
PostgreSQL: auth.pass_table's table (logins, and `posthorn creds` through
the list/set/add/del queries), auth_map, `posthorn table`, values bound as
parameters (an injection attempt finds nothing), named and numbered
arguments, several values, and configuration errors."""
import imaplib
import os
import socket
import sqlite3
import subprocess
import unittest

import pgtest
import phtest
from test_imap import PASSWORD, password_hash


def setUpModule():
    try:
        pgtest.setup()
    except unittest.SkipTest:
        pass  # the SQLite half runs; the PostgreSQL half skips itself


def tearDownModule():
    pgtest.teardown()


QUERIES = """
    lookup "SELECT hash FROM %(t)s WHERE name = :key"
    list "SELECT name FROM %(t)s"
    set "UPDATE %(t)s SET hash = :value WHERE name = :key"
    add "INSERT INTO %(t)s (name, hash) VALUES (:key, :value)"
    del "DELETE FROM %(t)s WHERE name = :key"
"""


class SqlQueryCases:
    """The cases, for a TempDirTest that names its database."""
    table = "users"

    def db_block(self):
        raise NotImplementedError

    def make_tables(self):
        raise NotImplementedError

    def setUp(self):
        super().setUp()
        os.makedirs(os.path.join(self.dir, "state"))
        self.make_tables()
        self.conf = self.write("posthorn.conf", """
state_dir %(d)s/state
table.sql_query users {
    %(db)s
%(q)s
}
table.sql_query logins {
    %(db)s
    named_args no
    lookup "SELECT name FROM %(t)s_alias WHERE alias = $1"
}
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    auth pass_table &users
    auth_map &logins
    storage &local_mailboxes
    auth_fail_delay 0ms
}
""" % {"d": self.dir, "db": self.db_block(), "q": QUERIES % {"t": self.table},
       "t": self.table})

    def client(self, server):
        c = imaplib.IMAP4("127.0.0.1", server.port, timeout=60)
        self.addCleanup(c.sock.close)
        return c

    def cli(self, *args, input=None):
        return phtest.posthorn(*args, config=self.conf, input=input)

    def test_login_through_the_tables(self):
        server = self.start(self.conf)
        c = self.client(server)
        # auth_map: alice@example.org is alice in the alias table.
        self.assertEqual(c.login("alice@example.org", PASSWORD)[0], "OK")
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()
        for user, pw in [("alice@example.org", PASSWORD + "x"), ("bob@example.org", PASSWORD),
                         ("x' OR '1'='1", PASSWORD), ("alice@example.org' --", PASSWORD)]:
            with self.subTest(user=user):
                with self.assertRaisesRegex(imaplib.IMAP4.error, "AUTHENTICATIONFAILED"):
                    # imaplib sends the user name as it is: quote it.
                    self.client(server).login('"%s"' % user, pw)

    def test_table_command(self):
        code, out, err = self.cli("table", "lookup", "--cfg-block", "logins", "alice@example.org")
        self.assertEqual((code, out.split()), (0, ["alice"]), err)
        # Several rows are several values.
        code, out, err = self.cli("table", "lookup", "--cfg-block", "logins", "team@example.org")
        self.assertEqual((code, sorted(out.split())), (0, ["alice", "carol"]), err)
        code, out, err = self.cli("table", "lookup", "--cfg-block", "logins", "' OR 1=1 --")
        self.assertEqual(code, 3, out + err)

    def test_creds_through_queries(self):
        code, out, err = self.cli("creds", "create", "dave", "-p", "dave-pw")
        self.assertEqual(code, 0, out + err)
        code, out, err = self.cli("creds", "list")
        self.assertEqual(out.split(), ["alice", "dave"], err)
        code, out, err = self.cli("creds", "password", "dave", "-p", "dave-pw2")
        self.assertEqual(code, 0, out + err)
        code, out, err = self.cli("table", "lookup", "--cfg-block", "users", "dave")
        self.assertTrue(out.strip().startswith("$"), out)
        code, out, err = self.cli("creds", "remove", "dave")
        self.assertEqual(code, 0, out + err)
        code, out, err = self.cli("creds", "list")
        self.assertEqual(out.split(), ["alice"], err)


class SqliteTest(SqlQueryCases, phtest.TempDirTest):
    def db_block(self):
        return "driver sqlite3\n    dsn %s\n    init \"PRAGMA busy_timeout = 2000\"" % self.db

    def make_tables(self):
        self.db = os.path.join(self.dir, "users.db")
        con = sqlite3.connect(self.db)
        con.execute("CREATE TABLE users (name TEXT PRIMARY KEY, hash TEXT NOT NULL)")
        con.execute("CREATE TABLE users_alias (alias TEXT, name TEXT)")
        con.execute("INSERT INTO users VALUES ('alice', ?)", (password_hash(),))
        con.executemany("INSERT INTO users_alias VALUES (?, ?)",
                        [("alice@example.org", "alice"), ("team@example.org", "alice"),
                         ("team@example.org", "carol")])
        con.commit()
        con.close()


class PgsqlTest(SqlQueryCases, phtest.TempDirTest):
    def setUp(self):
        if not pgtest.dsn:
            self.skipTest("no PostgreSQL")
        self.table = "sqlq_%d" % os.getpid()
        super().setUp()
        self.addCleanup(pgtest.psql, "DROP TABLE IF EXISTS %s, %s_alias" % (self.table, self.table))

    def db_block(self):
        return "driver postgres\n    dsn \"%s\"" % pgtest.dsn

    def make_tables(self):
        t = self.table
        pgtest.psql("DROP TABLE IF EXISTS %s, %s_alias; "
                    "CREATE TABLE %s (name text PRIMARY KEY, hash text NOT NULL); "
                    "CREATE TABLE %s_alias (alias text, name text); "
                    "INSERT INTO %s VALUES ('alice', '%s'); "
                    "INSERT INTO %s_alias VALUES ('alice@example.org', 'alice'), "
                    "('team@example.org', 'alice'), ('team@example.org', 'carol')"
                    % (t, t, t, t, t, password_hash(), t))


class ConfigTest(phtest.TempDirTest):
    def check(self, block):
        path = self.write("posthorn.conf", """state_dir %s
%s
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    auth pass_table &t
    storage &local_mailboxes
}
""" % (self.dir, block))
        return phtest.posthorn("check-config", config=path)

    def test_unreachable_postgres_is_a_warning(self):
        if not pgtest.dsn:
            self.skipTest("no PostgreSQL (a build without it refuses the driver)")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        code, out, err = self.check(
            "table.sql_query t {\n driver postgres\n dsn \"host=127.0.0.1 port=%d dbname=x\"\n"
            " lookup \"SELECT :key\"\n}" % port)
        self.assertEqual(code, 0, out + err)
        self.assertIn("level=warn mod=table.sql_query instance=t event=unreachable", err)

    def test_bad_configs_are_refused(self):
        db = os.path.join(self.dir, "t.db")
        sqlite3.connect(db).close()
        for block, message in [
                ("table.sql_query t {\n driver sqlite3\n dsn %s\n}" % db, "lookup"),
                ("table.sql_query t {\n driver mysql\n dsn x\n lookup \"SELECT 1\"\n}", "driver"),
                ("table.sql_query t {\n driver sqlite3\n dsn %s.missing\n lookup \"SELECT :key\"\n}" % db,
                 "cannot connect"),
                ("table.sql_query t {\n driver sqlite3\n dsn %s\n lookup \"SELECT :user\"\n}" % db,
                 "unknown named argument"),
                ("table.sql_query t {\n driver sqlite3\n dsn %s\n lookup \"SELECT :value\"\n}" % db,
                 "only the key"),
                ("table.sql_query t {\n driver sqlite3\n dsn %s\n init \"NOT SQL\"\n lookup \"SELECT :key\"\n}" % db,
                 "cannot connect"),
        ]:
            with self.subTest(block=block):
                code, out, err = self.check(block)
                self.assertNotEqual(code, 0, out + err)
                self.assertIn(message, out + err)


if __name__ == "__main__":
    phtest.main()
