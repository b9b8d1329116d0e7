# SPDX-License-Identifier: MIT
"""storage.pgsql through the real binary: two posthorn nodes sharing one
PostgreSQL. IDLE on node A sees what node B does; concurrent APPENDs from
both nodes get distinct increasing UIDs; a PostgreSQL restart makes
commands answer NO meanwhile and the same sessions work again after.

The database: a throwaway cluster of this file's own (scripts/pg-cluster),
started first and stopped at the end, since one test restarts it."""
import imaplib
import os
import re
import socket
import subprocess
import threading
import time

import pgtest
import phtest

PASSWORD = "pg pw"
# Part of every DSN here (trust auth ignores it): it must never be logged.
SECRET = "password=hunter2-never-logged"
_hash = None


def password_hash():
    global _hash
    if _hash is None:
        rc, out, err = phtest.posthorn("hash", "-p", PASSWORD)
        assert rc == 0, err
        _hash = out.strip()
    return _hash


def setUpModule():
    pgtest.setup(own=True)


def tearDownModule():
    pgtest.teardown()


class Raw:
    """A raw IMAP connection, for IDLE and exact answers."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.greeting = self.line()

    def line(self, timeout=30):
        self.sock.settimeout(timeout)
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; got %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def cmd(self, tag, text):
        self.sock.sendall(("%s %s\r\n" % (tag, text)).encode())
        out = b""
        while True:
            line = self.line(30)
            out += line
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:
                n = int(m.group(1))
                while len(self.buf) < n:
                    self.buf += self.sock.recv(65536)
                out += self.buf[:n]
                self.buf = self.buf[n:]
                continue
            if line.startswith(tag.encode() + b" "):
                return out

    def wait_for(self, pattern, timeout):
        """Reads lines until one matches pattern and returns it; timeout
        only guards against a hang."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r within %ss" % (pattern, timeout))
            try:
                line = self.line(left)
            except socket.timeout:
                raise AssertionError("no %r within %ss" % (pattern, timeout))
            if re.search(pattern, line):
                return line

    def close(self):
        self.sock.close()


class TwoNodeBase(phtest.TempDirTest):
    """Two nodes on one database (`extra`: directives of their storage)."""

    extra = ""

    def setUp(self):
        super().setUp()
        self.user = "pg%d-%s" % (os.getpid(), self._testMethodName[-12:])
        self.nodes = []
        for name in ("a", "b"):
            state = os.path.join(self.dir, "state-" + name)
            os.makedirs(state)
            conf = self.write("node-%s.conf" % name, """
state_dir %(state)s
storage.pgsql shared {
    dsn %(dsn)s %(secret)s
    max_connections 4
%(extra)s
}
imap tcp://127.0.0.1:0 {
    auth pass_table static {
        entry %(user)s %(hash)s
    }
    storage &shared
    insecure_auth yes
}
""" % {"state": state, "dsn": pgtest.dsn, "secret": SECRET, "user": self.user, "hash": password_hash(),
       "extra": self.extra})
            server = self.start(conf)
            self.nodes.append((server.port, server))

    def raw(self, node):
        r = Raw(self.nodes[node][0])
        self.addCleanup(r.close)
        r.cmd("L", 'LOGIN %s "%s"' % (self.user, PASSWORD))
        return r

    def client(self, node):
        c = imaplib.IMAP4("127.0.0.1", self.nodes[node][0])
        c.login(self.user, PASSWORD)
        self.addCleanup(self._logout, c)
        return c

    @staticmethod
    def _logout(c):
        try:
            c.logout()
        except Exception:
            pass

    @staticmethod
    def message(n):
        return ("From: a@example.org\r\nTo: b@example.org\r\nSubject: m%d\r\n\r\nbody %d\r\n"
                % (n, n)).encode()


class TwoNodeQuota(TwoNodeBase):
    """QUOTA (RFC 9208) across nodes: the counters live on the account's
    row, which every writer locks before it checks and adds, so APPENDs
    racing from two nodes near the limit never take it past."""

    extra = "    quota_messages 12"

    def test_appends_racing_from_both_nodes_never_exceed_the_limit(self):
        per_thread, threads = 6, 3
        results, errors = [], []
        lock = threading.Lock()

        def appender(node, k):
            try:
                r = Raw(self.nodes[node][0])
                r.cmd("L", 'LOGIN %s "%s"' % (self.user, PASSWORD))
                for i in range(per_thread):
                    msg = self.message(node * 1000 + k * 100 + i)
                    r.sock.sendall(b"A APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
                    out = r.cmd("N", "NOOP")
                    with lock:
                        results.append(re.search(rb"^A (OK|NO \[OVERQUOTA\] Quota exceeded \(messages\))",
                                                 out, re.M).group(1))
                r.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        workers = [threading.Thread(target=appender, args=(node, k)) for node in (0, 1) for k in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 2 * threads * per_thread)
        self.assertEqual(results.count(b"OK"), 12)
        for node in (0, 1):
            r = self.raw(node)
            self.assertEqual(r.cmd("q", 'GETQUOTA "User quota"'),
                             b'* QUOTA "User quota" (MESSAGE 12 12)\r\nq OK GETQUOTA completed\r\n')
            self.assertIn(b"* 12 EXISTS\r\n", r.cmd("s", "SELECT INBOX"))


class TwoNodes(TwoNodeBase):
    def test_idle_on_a_sees_append_store_expunge_from_b(self):
        b = self.client(1)
        b.append("INBOX", None, None, self.message(0))
        a = self.raw(0)
        r = a.cmd("S", "SELECT INBOX")
        self.assertIn(b"* 1 EXISTS", r)
        a.sock.sendall(b"I IDLE\r\n")
        self.assertEqual(a.line(), b"+ idling\r\n")

        # storage.pgsql polls nothing: only node b's NOTIFY wakes a, so a
        # line at all proves it (the timeout only guards against a hang).
        b.append("INBOX", None, None, self.message(1))
        a.wait_for(rb"^\* 2 EXISTS", 30)

        b.select("INBOX")
        typ, _ = b.store("2", "+FLAGS", "(\\Flagged)")
        self.assertEqual(typ, "OK")
        a.wait_for(rb"^\* 2 FETCH \(.*\\Flagged", 30)

        b.store("1", "+FLAGS", "(\\Deleted)")
        b.expunge()
        a.wait_for(rb"^\* 1 EXPUNGE", 30)

        a.sock.sendall(b"DONE\r\n")
        a.wait_for(rb"^I OK", 30)
        # The node's view stays the database's.
        r = a.cmd("F", "UID FETCH 1:* (UID FLAGS)")
        self.assertRegex(r, rb"^\* 1 FETCH \(FLAGS \(\\Flagged( \\Recent)?\) UID 2\)")
        self.assertNotIn(b"UID 1 ", r)

    def test_update_context_on_a_follows_changes_on_b(self):
        # RFC 5267 4.3 across nodes: a UID SORT context on node a, idling,
        # is told of node b's APPEND, STORE and EXPUNGE in sort order.
        b = self.client(1)
        for n in (3, 1):
            b.append("INBOX", None, None, self.message(n))
        a = self.raw(0)
        self.assertIn(b"S OK", a.cmd("S", "SELECT INBOX"))
        self.assertIn(b'* ESEARCH (TAG "U") UID ALL 2,1\r\n',
                      a.cmd("U", "UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNDELETED"))
        a.sock.sendall(b"I IDLE\r\n")
        self.assertEqual(a.line(), b"+ idling\r\n")
        b.append("INBOX", None, None, self.message(2))
        a.wait_for(rb'^\* ESEARCH \(TAG "U"\) UID ADDTO \(2 3\)\r\n$', 30)
        b.select("INBOX")
        b.store("1", "+FLAGS", "(\\Deleted)")
        a.wait_for(rb'^\* ESEARCH \(TAG "U"\) UID REMOVEFROM \(3 1\)\r\n$', 30)
        b.store("1", "-FLAGS", "(\\Deleted)")
        a.wait_for(rb'^\* ESEARCH \(TAG "U"\) UID ADDTO \(3 1\)\r\n$', 30)
        b.store("3", "+FLAGS", "(\\Deleted)")
        b.expunge()
        a.wait_for(rb'^\* ESEARCH \(TAG "U"\) UID REMOVEFROM \(2 3\)\r\n$', 30)
        a.sock.sendall(b"DONE\r\n")
        a.wait_for(rb"^I OK", 30)

    def test_keywords_from_node_b_are_announced_on_node_a_before_use(self):
        # RFC 3501 7.2.6: a keyword new to the mailbox reaches every
        # session that has it selected, on any node, in FLAGS (and
        # PERMANENTFLAGS) before the first FETCH that carries it.
        b = self.client(1)
        b.append("INBOX", None, None, self.message(0))
        b.select("INBOX")
        b.close()  # takes \Recent: no session's answer depends on it
        a = self.raw(0)
        self.assertTrue(a.cmd("S", "SELECT INBOX").startswith(
            b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"))
        a.sock.sendall(b"I IDLE\r\n")
        self.assertEqual(a.line(), b"+ idling\r\n")

        def flags(*kw):
            listed = b" ".join([b"\\Answered \\Flagged \\Deleted \\Seen \\Draft"] + list(kw))
            return [b"* FLAGS (" + listed + b")\r\n",
                    b"* OK [PERMANENTFLAGS (" + listed + b" \\*)] Flags permitted\r\n"]

        b.select("INBOX")
        typ, data = b.store("1", "+FLAGS", "($Label1)")
        self.assertEqual(typ, "OK", data)
        got = [a.line(10) for _ in range(3)]
        self.assertEqual(got, flags(b"$Label1") + [b"* 1 FETCH (FLAGS ($Label1))\r\n"])

        # A message node B appends with a new keyword: FLAGS before EXISTS.
        c = self.client(1)
        typ, data = c.append("INBOX", "($Label2)", None, self.message(1))
        self.assertEqual(typ, "OK", data)
        got = [a.line(10) for _ in range(4)]
        self.assertEqual(got, flags(b"$Label1", b"$Label2") +
                         [b"* 2 EXISTS\r\n", b"* 1 RECENT\r\n"])
        a.sock.sendall(b"DONE\r\n")
        self.assertEqual(a.line(), b"I OK IDLE terminated\r\n")

        # Not idling: a FETCH on node A that meets node B's new keyword.
        typ, data = b.store("1", "+FLAGS.SILENT", "($Label3)")
        self.assertEqual(typ, "OK", data)
        self.assertEqual(a.cmd("F", "FETCH 1 FLAGS"),
                         b"".join(flags(b"$Label1", b"$Label2", b"$Label3")) +
                         b"* 1 FETCH (FLAGS ($Label1 $Label3))\r\nF OK FETCH completed\r\n")

    def test_concurrent_appends_from_both_nodes_get_distinct_increasing_uids(self):
        self.client(0)  # the account exists before the race
        per_node = 15
        results = {0: [], 1: []}
        errors = []

        def appender(node):
            try:
                c = imaplib.IMAP4("127.0.0.1", self.nodes[node][0])
                c.login(self.user, PASSWORD)
                for i in range(per_node):
                    typ, data = c.append("INBOX", None, None, self.message(node * 100 + i))
                    if typ != "OK":
                        errors.append((node, typ, data))
                        continue
                    m = re.search(rb"APPENDUID \d+ (\d+)", data[0])
                    results[node].append(int(m.group(1)))
                c.logout()
            except Exception as e:  # reported below
                errors.append((node, repr(e)))

        threads = [threading.Thread(target=appender, args=(n,)) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        for node in (0, 1):
            self.assertEqual(len(results[node]), per_node)
            # Each node's own appends come back in increasing order.
            self.assertEqual(results[node], sorted(results[node]))
        everything = results[0] + results[1]
        self.assertEqual(len(set(everything)), 2 * per_node)
        self.assertEqual(sorted(everything), list(range(1, 2 * per_node + 1)))
        c = self.client(1)
        c.select("INBOX")
        typ, data = c.uid("SEARCH", None, "ALL")
        self.assertEqual(sorted(int(x) for x in data[0].split()), sorted(everything))

    def test_postgresql_restart_answers_no_then_same_sessions_work(self):
        b = self.client(1)
        b.append("INBOX", None, None, self.message(0))
        a = self.raw(0)
        self.assertIn(b"* 1 EXISTS", a.cmd("S", "SELECT INBOX"))
        idler = self.raw(0)
        idler.cmd("S", "SELECT INBOX")
        idler.sock.sendall(b"I IDLE\r\n")
        self.assertEqual(idler.line(), b"+ idling\r\n")

        pgtest.cluster("stop")
        try:
            r = a.cmd("T1", "STATUS INBOX (MESSAGES)")
            self.assertRegex(r, rb"T1 NO \[UNAVAILABLE\]")
            r = a.cmd("T2", 'APPEND INBOX {%d+}\r\n%s' % (
                len(self.message(1)), self.message(1).decode()))
            self.assertRegex(r, rb"T2 NO ")
            r = a.cmd("T3", "UID FETCH 1 (FLAGS)")
            self.assertRegex(r, rb"T3 NO ")
        finally:
            pgtest.cluster("start")
        for port, server in self.nodes:
            self.assertIsNone(server.proc.poll(), "a node died during the outage")

        # The same sessions, on both nodes, work again.
        r = a.cmd("T4", "STATUS INBOX (MESSAGES)")
        self.assertIn(b"T4 OK", r)
        self.assertIn(b"(MESSAGES 1)", r)
        typ, data = b.append("INBOX", None, None, self.message(2))
        self.assertEqual(typ, "OK", (data, self.nodes[1][1].log_text()[-3000:]))
        # The IDLE session hears of it: its LISTEN connection came back.
        idler.wait_for(rb"^\* 2 EXISTS", 30)
        r = a.cmd("T5", "NOOP")
        self.assertIn(b"* 2 EXISTS", r)
        self.assertIn(b"T5 OK", r)
        # The outage was logged, the DSN's password never.
        logs = "".join(server.log_text() for port, server in self.nodes)
        self.assertRegex(logs, "event=(connection_lost|connect_failed)")
        self.assertNotIn("hunter2", logs)

    def test_recent_goes_to_one_session_across_nodes(self):
        b = self.client(1)
        b.append("INBOX", None, None, self.message(0))
        sessions = [self.raw(0), self.raw(1)]
        answers = [None, None]

        def select(i):
            answers[i] = sessions[i].cmd("S", "SELECT INBOX")

        threads = [threading.Thread(target=select, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        recent = [int(re.search(rb"\* (\d+) RECENT", a).group(1)) for a in answers]
        self.assertEqual(sorted(recent), [0, 1])

    def test_recent_goes_to_one_of_many_idlers_across_nodes(self):
        # Every idler on both nodes wakes at each APPEND and they race for
        # its \Recent (storage.pgsql claims it in one conditional UPDATE):
        # still each message is recent in exactly one session.
        self.client(1).append("INBOX", None, None, self.message(0))
        idlers = [self.raw(i % 2) for i in range(16)]
        for r in idlers:
            r.cmd("S", "SELECT INBOX")
            r.sock.sendall(b"I IDLE\r\n")
            r.wait_for(rb"^\+ ", 30)
        clients = [self.client(0), self.client(1)]
        for k in range(1, 7):
            typ, data = clients[k % 2].append("INBOX", None, None, self.message(k))
            self.assertEqual(typ, "OK", data)
        recent = []
        for r in idlers:
            r.wait_for(rb"^\* 7 EXISTS", 30)
            r.sock.sendall(b"DONE\r\n")
            r.wait_for(rb"^I OK", 30)
            out = r.cmd("R", "UID SEARCH RECENT")
            self.assertIn(b"R OK", out)
            recent += re.search(rb"\* SEARCH([ \d]*)", out).group(1).split()
        out = idlers[0].cmd("A", "UID SEARCH ALL")
        every = re.search(rb"\* SEARCH([ \d]*)", out).group(1).split()
        self.assertEqual(len(every), 7)
        self.assertEqual(sorted(map(int, recent)), sorted(map(int, every)))


class SharedRead(TwoNodeBase):
    """One change, one read per node: every session of a node watching a
    mailbox asks what changed after a wake-up; the first reads the changed
    rows, the others wait for that read and take their part of it (each
    still reads the mailbox row, which says whether the read is current)."""

    extra = "    debug yes"

    def test_idlers_of_a_node_read_a_change_made_on_the_other_node_once(self):
        b = self.client(1)
        b.append("INBOX", None, None, self.message(0))
        idlers = [self.raw(0) for _ in range(8)]
        for r in idlers:
            r.cmd("S", "SELECT INBOX")
            r.sock.sendall(b"I IDLE\r\n")
            r.wait_for(rb"^\+ ", 30)
        node_a = self.nodes[0][1]
        read, shared = (node_a.log_text().count(e) for e in ("event=changes_read", "event=changes_shared"))
        b.select("INBOX")
        self.assertEqual(b.store("1", "+FLAGS", "(\\Flagged)")[0], "OK")
        for r in idlers:
            r.wait_for(rb"^\* 1 FETCH \(.*\\Flagged", 30)
        log = node_a.log_text()
        self.assertEqual(log.count("event=changes_read") - read, 1, log[-3000:])
        self.assertEqual(log.count("event=changes_shared") - shared, 7)
        # And an expunge: the tombstone goes the same way.
        self.assertEqual(b.store("1", "+FLAGS.SILENT", "(\\Deleted)")[0], "OK")
        self.assertEqual(b.expunge()[0], "OK")
        for r in idlers:
            r.wait_for(rb"^\* 1 EXPUNGE", 30)
        # Two changes, which the idlers may meet as one or as two, each in
        # its own way: an idler that asks from a state no read covers reads
        # again (seen: 3 reads under ThreadSanitizer), but most take their
        # part of a read: far fewer reads than the eight idlers.
        log = node_a.log_text()
        reads = log.count("event=changes_read") - read - 1
        took = log.count("event=changes_shared") - shared - 7
        self.assertGreaterEqual(reads, 1)
        self.assertLessEqual(reads, 4, log[-3000:])
        self.assertGreaterEqual(took + reads, 8)


UPGRADE_MSGS = (
    b"From: <user-from (comment)@ (comment) domain.org>\r\nSubject: a\r\n\r\nbody\r\n",
    b"Subject: b\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
    b"--b\r\nContent-Type: application/pdf\r\n"
    b"Content-Disposition: attachment; filename=\"Rechnung.pdf\"\r\n\r\nJVBERi0=\r\n--b--\r\n",
    # The parser before issue 14 took the quoted trailing space as part of
    # the boundary: one part.
    b"Subject: c\r\nContent-Type: multipart/mixed; boundary=\"sep \"\r\n\r\n"
    b"--sep\r\nContent-Type: text/plain\r\n\r\none\r\n"
    b"--sep\r\nContent-Type: text/html\r\n\r\ntwo\r\n--sep--\r\n",
)
C_STRUCTURE = (b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 0 NIL NIL NIL NIL)'
               b'("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 3 0 NIL NIL NIL NIL) '
               b'"mixed" ("boundary" "sep ") NIL NIL NIL)')


class OwnDatabase(phtest.TempDirTest):
    """A database of the test's own, one node's config for it (user
    `user`, `extra` directives in the storage block), psql on the side."""

    user = "own"
    extra = ""

    def setUp(self):
        super().setUp()
        self.db = "%s_%d" % (self.user, os.getpid())
        pgtest.psql("CREATE DATABASE " + self.db)
        self.addCleanup(pgtest.psql, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.db)
        state = os.path.join(self.dir, "state")
        os.makedirs(state)
        self.conf = self.write(self.user + ".conf", """
state_dir %(state)s
storage.pgsql shared {
    dsn %(dsn)s
%(extra)s
}
imap tcp://127.0.0.1:0 {
    auth pass_table static { entry %(user)s %(hash)s }
    storage &shared
    insecure_auth yes
}
""" % {"state": state, "dsn": pgtest.dsn_for(self.db), "extra": self.extra,
       "user": self.user, "hash": password_hash()})

    def start(self, conf):
        server = super().start(conf)
        self.port = server.port  # a new one at each start
        return server

    def login(self):
        c = imaplib.IMAP4("127.0.0.1", self.port)
        c.login(self.user, PASSWORD)
        return c

    def sql(self, text):
        p = subprocess.run(["psql", pgtest.dsn_for(self.db), "-qXtAv", "ON_ERROR_STOP=1", "-c", text],
                           check=True, capture_output=True, timeout=60)
        return p.stdout.decode().strip()

    def session(self):
        """A psql session kept open: each step runs and is waited for, or,
        with wait=False, is left running (it may wait on a lock) until the
        session's next step waits for it too."""
        p = subprocess.Popen(["psql", pgtest.dsn_for(self.db), "-qXtA", "-v", "ON_ERROR_STOP=1"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(p.kill)
        running = [0]

        def step(text, wait=True):
            p.stdin.write(text + "\n\\echo step-done\n")
            p.stdin.flush()
            running[0] += 1
            while wait and running[0] > 0:
                line = p.stdout.readline()
                self.assertNotEqual(line, "", "psql ended at: " + text)
                if line.strip() == "step-done":
                    running[0] -= 1
        return step


class ForeignDatabase(OwnDatabase):
    """A database that holds tables posthorn did not make (its table names,
    no version) is refused, and nothing is made in it."""

    user = "foreign"

    def test_database_with_tables_posthorn_did_not_make_is_refused(self):
        self.sql("CREATE TABLE accounts (x integer)")
        rc, _, err = phtest.posthorn("accounts", "list", "--config", self.conf, "--cfg-block", "shared")
        self.assertNotEqual(rc, 0)
        self.assertIn("not a posthorn mail database", err)
        self.assertEqual(self.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "1")


class SchemaUpgrade(OwnDatabase):
    """Schema 3 makes the structure of every body stored before it anew
    from the body's bytes (the parser of issue 14 splits differently), a
    batch per transaction; an upgrade that stopped half-way goes on at the
    next start."""

    user = "old"

    def make_stale(self):
        # What the code before issue 14 kept: every body with the
        # structure of a one-part message.
        self.sql("UPDATE bodies SET info = (SELECT info FROM bodies ORDER BY id LIMIT 1)")

    def check(self, server, n):
        server.wait_log("event=rederived")
        self.assertEqual(self.sql("SELECT count(*) FROM rederive"), "0")
        self.assertEqual(self.sql("SELECT version FROM posthorn_schema"), "10")
        r = Raw(self.port)
        r.cmd("L", 'LOGIN old "%s"' % PASSWORD)
        r.cmd("s", "EXAMINE INBOX")
        out = r.cmd("f", "FETCH 1:%d (UID BODYSTRUCTURE)" % n)
        structures = re.findall(rb"\* \d+ FETCH \(UID (\d+) BODYSTRUCTURE (.*)\)\r\n", out)
        self.assertEqual(len(structures), n)
        for uid, bs in structures:
            if int(uid) % 3 == 0:
                self.assertEqual(bs, C_STRUCTURE)
            elif int(uid) % 3 == 2:
                self.assertIn(b'("attachment" ("filename" "Rechnung.pdf"))', bs)
        self.assertEqual(r.cmd("b", "FETCH 3 BODY.PEEK[2]"),
                         b"* 3 FETCH (BODY[2] {3}\r\ntwo)\r\nb OK FETCH completed\r\n")
        self.assertEqual(r.cmd("t", "SEARCH TEXT Rechnung FROM user-from@domain.org"),
                         b"* SEARCH\r\nt OK SEARCH completed\r\n")
        self.assertIn(b"* SEARCH 1 4 ", r.cmd("u", "SEARCH FROM user-from@domain.org"))
        self.assertIn(b"* SEARCH 2 5 ", r.cmd("v", "SEARCH TEXT Rechnung"))
        r.close()

    def test_version_2_bodies_get_their_structure_made_anew(self):
        n = 150  # over two batches of 64
        server = self.start(self.conf)
        c = imaplib.IMAP4("127.0.0.1", self.port)
        c.login("old", PASSWORD)
        for i in range(n):
            self.assertEqual(c.append("INBOX", None, None, UPGRADE_MSGS[i % 3])[0], "OK")
        c.logout()
        server.stop()
        self.make_stale()
        self.sql("DROP TABLE rederive; UPDATE posthorn_schema SET version = 2")
        self.check(self.start(self.conf), n)
        self.servers[-1].stop()

        # Stopped half-way: schema 3, bodies still listed.
        self.make_stale()
        self.sql("INSERT INTO rederive (body_id) SELECT id FROM bodies")
        self.check(self.start(self.conf), n)


class QuotaUpgrade(OwnDatabase):
    """Schema 10 (QUOTA, RFC 9208) counts each account's usage from what it
    holds when it upgrades: the messages' sizes and count, its selectable
    mailboxes; the triggers keep it from there. From schema 8 the upgrade
    runs 9 (OBJECTID, PREVIEW) and 10 in order."""

    user = "quota"

    UNDO_10 = ("DROP TRIGGER messages_quota ON messages; DROP TRIGGER mailboxes_quota ON mailboxes;"
               "DROP TRIGGER mailboxes_quota_noselect ON mailboxes;"
               "DROP FUNCTION posthorn_quota_messages(); DROP FUNCTION posthorn_quota_mailboxes();"
               "ALTER TABLE accounts DROP COLUMN usage_storage, DROP COLUMN usage_messages,"
               " DROP COLUMN usage_mailboxes, DROP COLUMN quota_storage, DROP COLUMN quota_messages,"
               " DROP COLUMN quota_mailboxes;")
    UNDO_9 = ("DROP TABLE previews; DROP TABLE threads; DROP TABLE body_objects;"
              "ALTER TABLE mailboxes DROP COLUMN objectid;")

    def upgrade_counts_usage(self, undo):
        self.start(self.conf)
        c = self.login()
        for i in range(3):
            self.assertEqual(c.append("INBOX", None, None, b"Subject: %d\r\n\r\n%s\r\n" % (i, b"x" * 600))[0],
                             "OK")
        self.assertEqual(c.create("Lists.Old")[0], "OK")
        self.assertEqual(c.delete("Lists")[0], "OK")  # \Noselect: no mailbox
        c.logout()
        self.servers[-1].stop()
        self.sql(undo)
        self.start(self.conf)
        self.assertEqual(self.sql("SELECT version FROM posthorn_schema"), "10")
        self.assertEqual(self.sql("SELECT count(*) FROM mailboxes WHERE objectid IS NULL"), "0")
        r = Raw(self.port)
        self.addCleanup(r.close)
        r.cmd("L", 'LOGIN quota "%s"' % PASSWORD)
        # 3 x 616 octets; INBOX, five special-use, Lists.Old.
        self.assertEqual(self.sql("SELECT usage_storage, usage_messages, usage_mailboxes FROM accounts"),
                         "1848|3|7")
        self.assertEqual(r.cmd("q", "GETQUOTAROOT INBOX"),
                         b'* QUOTAROOT INBOX "User quota"\r\n* QUOTA "User quota" ()\r\n'
                         b"q OK GETQUOTAROOT completed\r\n")
        return r

    def test_version_9_accounts_get_their_usage_counted(self):
        self.upgrade_counts_usage(self.UNDO_10 + "UPDATE posthorn_schema SET version = 9")

    def test_version_8_accounts_get_object_ids_and_their_usage_counted(self):
        r = self.upgrade_counts_usage(self.UNDO_10 + self.UNDO_9 + "UPDATE posthorn_schema SET version = 8")
        self.servers[-1].wait_log("event=rederived")
        r.cmd("s", "EXAMINE INBOX")
        out = r.cmd("f", "FETCH 1:3 (EMAILID THREADID)")
        self.assertEqual(len(re.findall(rb"\* \d+ FETCH \(EMAILID \(M[^)]+\) THREADID \(T[^)]+\)\)\r\n", out)), 3,
                         out)


class BodySweep(OwnDatabase):
    """Bodies are shared by copies. Two expunges of two copies committed
    together each saw the other's message still there: a body deleted by
    the transaction that took its last message (a trigger's NOT EXISTS)
    was then kept forever. Bodies now go in a sweep after body_grace, in
    a transaction of their own (body_unref records every body a deleted
    message had)."""

    user = "sweep"
    extra = "    body_grace 0s"

    def test_copies_expunged_by_two_transactions_at_once_lose_their_body(self):
        self.start(self.conf)
        c = self.login()
        self.assertEqual(c.append("INBOX", None, None, b"Subject: shared\r\n\r\nx\r\n")[0], "OK")
        self.assertEqual(c.create("Other")[0], "OK")
        c.select("INBOX")
        self.assertEqual(c.uid("COPY", "1", "Other")[0], "OK")
        self.assertEqual(self.sql("SELECT count(DISTINCT body_id) FROM messages"), "1")
        # Both copies deleted in two transactions, each begun before the
        # other commits (as two nodes' EXPUNGEs may). The copies are in two
        # mailboxes of one account: the quota trigger has the second delete
        # wait for the first's commit on the account's row, and its
        # statement started before that commit.
        a, b = self.session(), self.session()
        a("BEGIN; DELETE FROM messages WHERE mailbox_id = "
          "(SELECT id FROM mailboxes WHERE name = 'INBOX');")
        b("BEGIN; DELETE FROM messages WHERE mailbox_id = "
          "(SELECT id FROM mailboxes WHERE name = 'Other');", wait=False)
        a("COMMIT;")
        b("COMMIT;")
        self.assertEqual(self.sql("SELECT count(*) FROM messages"), "0")
        # The next EXPUNGE sweeps (body_grace 0s): the shared body and the
        # expunged message's go, nothing else is left.
        self.assertEqual(c.append("INBOX", None, None, b"Subject: other\r\n\r\ny\r\n")[0], "OK")
        c.select("INBOX")
        c.uid("STORE", "1:*", "+FLAGS.SILENT", "(\\Deleted)")
        self.assertEqual(c.expunge()[0], "OK")
        self.assertEqual(self.sql("SELECT count(*) FROM bodies"), "0")
        self.assertEqual(self.sql("SELECT count(*) FROM body_chunks"), "0")
        self.assertEqual(self.sql("SELECT count(*) FROM body_unref"), "0")
        c.logout()


class TextIndex(OwnDatabase):
    """SEARCH TEXT and BODY (RFC 3501 section 6.4.4: "contains the
    specified string") start from body_text's pg_trgm GIN index and are
    confirmed exactly: LIKE with the key's % and _ escaped, BODY past the
    header."""

    user = "trgm"

    def test_text_and_body_use_the_trigram_index_and_match_exactly(self):
        # Without statistics a tiny table is read whole; this says "use
        # an index where one serves".
        self.sql("ALTER DATABASE %s SET enable_seqscan = off" % self.db)
        self.start(self.conf)
        c = self.login()
        for m in (b"Subject: a\r\n\r\nsale: 50%_off today\r\n",
                  b"Subject: b\r\n\r\nsale: 50ab_off today\r\n",
                  b"Subject: c\r\n\r\nsale: 50%xoff today\r\n",
                  b"Subject: 50%_OFF\r\n\r\nnothing here\r\n"):
            self.assertEqual(c.append("INBOX", None, None, m)[0], "OK")
        self.assertIn("gin_trgm_ops", self.sql(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'body_text_trgm'"))
        c.select("INBOX")
        self.assertEqual(c.uid("SEARCH", "TEXT", '"50%_off"'), ("OK", [b"1 4"]))
        self.assertEqual(c.uid("SEARCH", "BODY", '"50%_off"'), ("OK", [b"1"]))
        self.assertEqual(c.uid("SEARCH", "BODY", '"SALE: 50"'), ("OK", [b"1 2 3"]))
        c.logout()
        # The server's backends report their index use when they end.
        self.servers[-1].stop()
        deadline = time.monotonic() + 30
        while self.sql("SELECT idx_scan FROM pg_stat_user_indexes "
                       "WHERE indexrelname = 'body_text_trgm'") in ("", "0"):
            self.assertLess(time.monotonic(), deadline, "body_text_trgm never read")
            time.sleep(0.2)


class TextIndexPending(OwnDatabase):
    """APPEND leaves a new message's text pending, outside the trigram
    index (kept up inside every APPEND, the index cost 40 to 50% of APPEND
    throughput); the store's indexer moves pending texts into it in
    batches after a pause in APPENDs (text_index_wait, here an hour until
    the restart). SEARCH TEXT and BODY read pending texts too, so a search
    right after an APPEND finds the message (RFC 3501 section 6.4.4), and a
    crash between the APPEND and the move loses nothing."""

    user = "pending"
    extra = "    text_index_wait 1h"

    def searches(self):
        c = self.login()
        c.select("INBOX")
        self.assertEqual(c.uid("SEARCH", "TEXT", "zephyrine"), ("OK", [b"1 3"]))
        self.assertEqual(c.uid("SEARCH", "BODY", "zephyrine"), ("OK", [b"1"]))
        self.assertEqual(c.uid("SEARCH", "BODY", '"50%_off"'), ("OK", [b"2"]))
        self.assertEqual(c.uid("SEARCH", "BODY", '"50_%off"'), ("OK", [b""]))
        self.assertEqual(c.uid("SEARCH", "NOT", "TEXT", "zephyrine"), ("OK", [b"2"]))
        c.logout()

    def test_search_reads_pending_texts_and_a_restart_moves_them(self):
        server = self.start(self.conf)
        c = self.login()
        for m in (b"Subject: a\r\n\r\nZephyrine winds\r\n",
                  b"Subject: b\r\n\r\nsale: 50%_off today\r\n",
                  b"Subject: zephyrine\r\n\r\nnothing here\r\n"):
            self.assertEqual(c.append("INBOX", None, None, m)[0], "OK")
        c.logout()
        self.assertEqual(self.sql(
            "SELECT count(*) FROM body_text WHERE pending IS NOT NULL "
            "AND text IS NULL AND indexed = -1"), "3")
        self.searches()
        # A crash before the indexer's move: the texts stay pending.
        server.proc.kill()
        server.proc.wait()
        self.assertEqual(self.sql(
            "SELECT count(*) FROM body_text WHERE pending IS NOT NULL"), "3")
        with open(self.conf) as f:
            text = f.read()
        self.start(self.write("again.conf", text.replace(
            "text_index_wait 1h", "text_index_wait 50ms")))
        # The indexer's first look after the start moves them.
        deadline = time.monotonic() + 30
        while self.sql("SELECT count(*) FROM body_text WHERE pending IS NOT NULL") != "0":
            self.assertLess(time.monotonic(), deadline, "texts never indexed")
            time.sleep(0.05)
        self.assertEqual(self.sql(
            "SELECT count(*) FROM body_text WHERE text IS NOT NULL AND indexed = 1"), "3")
        self.searches()


class Deadlock(OwnDatabase):
    """PostgreSQL ends one transaction of a deadlock (SQLSTATE 40P01) or
    a serialization failure (40001); nothing was written, so the
    transaction is run again. A 2-node stress run answered an APPEND
    `NO [UNAVAILABLE]` after a deadlock with a DELETE of its mailbox."""

    user = "deadlock"

    def test_append_ended_by_a_deadlock_runs_again(self):
        # The server's connections check for a deadlock after 2 s of
        # waiting, the psql session never: when both wait, the server's
        # transaction is the one PostgreSQL ends.
        self.sql("ALTER DATABASE %s SET deadlock_timeout = '2s'" % self.db)
        server = self.start(self.conf)
        c = self.login()
        self.assertEqual(c.select("INBOX")[0], "OK")
        a = self.session()
        a("SET deadlock_timeout = '1h'; BEGIN; "
          "SELECT 1 FROM mailboxes WHERE name = 'INBOX' FOR UPDATE;")
        result = []
        t = threading.Thread(target=lambda: result.append(
            c.append("INBOX", None, None, b"Subject: dl\r\n\r\nx\r\n")))
        t.start()
        # The APPEND has written its body and waits for the mailbox row.
        deadline = time.monotonic() + 30
        while self.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                       "current_database() AND wait_event_type = 'Lock'") != "1":
            self.assertLess(time.monotonic(), deadline, "the APPEND never waited")
            time.sleep(0.05)
        # The session now waits for the APPEND's body (the same key): a
        # cycle. The server's transaction ends, the session's insert goes
        # through, the APPEND runs again and waits for the row again.
        a("INSERT INTO bodies (id, size, info) "
          "SELECT last_value, 0, '' FROM bodies_id_seq;")
        server.wait_log("state=40P01")
        server.wait_log("event=retry")
        a("ROLLBACK;")
        t.join(30)
        self.assertEqual(result[0][0], "OK", result)
        self.assertEqual(self.sql("SELECT uid FROM messages"), "1")
        c.logout()


class PreparedStatements(phtest.TempDirTest):
    """A statement is prepared once per pooled connection and run by name
    after (storage.pgsql's prepared_statements, on by default); with it
    off, nothing is prepared and every command still works."""

    def node(self, prepared):
        self.user = "pgprep%d-%s" % (os.getpid(), prepared)
        state = os.path.join(self.dir, "state-" + prepared)
        os.makedirs(state)
        conf = self.write("prep-%s.conf" % prepared, """
state_dir %(state)s
storage.pgsql shared {
    dsn %(dsn)s
    max_connections 1
    prepared_statements %(prepared)s
    debug yes
}
imap tcp://127.0.0.1:0 {
    auth pass_table static {
        entry %(user)s %(hash)s
    }
    storage &shared
    insecure_auth yes
}
""" % {"state": state, "dsn": pgtest.dsn, "user": self.user,
       "hash": password_hash(), "prepared": prepared})
        server = self.start(conf)
        return server.port, server

    def session(self, port, n):
        c = imaplib.IMAP4("127.0.0.1", port)
        c.login(self.user, PASSWORD)
        for cmd in (lambda: c.append("INBOX", None, None, TwoNodes.message(n)),
                    lambda: c.select("INBOX"),
                    lambda: c.fetch("1:*", "(UID FLAGS ENVELOPE BODY.PEEK[])"),
                    lambda: c.store("1", "+FLAGS", "(\\Flagged)"),
                    lambda: c.search(None, "FLAGGED"),
                    lambda: c.status("INBOX", "(MESSAGES UNSEEN)"),
                    lambda: c.copy("1", "INBOX"),
                    lambda: c.store("1", "+FLAGS", "(\\Deleted)"),
                    lambda: c.expunge()):
            typ, data = cmd()
            self.assertEqual(typ, "OK", data)
        c.logout()

    def test_each_statement_prepared_once_per_connection(self):
        port, server = self.node("yes")
        self.session(port, 1)
        # The text indexer's statements too: it moves the first session's
        # text after text_index_wait.
        deadline = time.monotonic() + 30
        while "event=indexed " not in server.log_text():
            self.assertLess(time.monotonic(), deadline, "the indexer never ran")
            time.sleep(0.05)
        first = server.log_text().count("event=prepared ")
        self.assertGreater(first, 10)
        for n in range(2, 5):
            self.session(port, n)
        # One pooled connection: the same commands prepare nothing more.
        self.assertEqual(server.log_text().count("event=prepared "), first)
        self.assertRegex(server.log_text(), r"event=prepared stmt=ph_\d+ op=append")

    def test_off_prepares_nothing(self):
        port, server = self.node("no")
        for n in range(1, 3):
            self.session(port, n)
        self.assertNotIn("event=prepared", server.log_text())


if __name__ == "__main__":
    phtest.main()
