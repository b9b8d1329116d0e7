# SPDX-License-Identifier: MIT
"""Existing stores upgrade in place (issue 15): a store written by an
earlier posthorn, one per schema version of each engine, opens under this
build, upgrades, and serves the very answers the build that wrote it gave.

The fixtures are in tests/storage/fixtures (README.md there says how each
was made, MANIFEST lists them): a SQLite database file or a pg_dump per
schema version, and the answers of the old build to LIST, LSUB, STATUS,
SELECT, UID FETCH of every message (FLAGS INTERNALDATE RFC822.SIZE
ENVELOPE BODYSTRUCTURE BODY[] HEADER.FIELDS) and UID SEARCH. The answers
a later commit changed on purpose are in changed.answers, each with the
commit and the reason. Each fixture is copied (SQLite) or restored into a
fresh database (PostgreSQL), the current posthorn is started on it, and
the recorded commands are replayed and compared byte for byte; then new
mail is written and read back on the upgraded store.

This goes through the real binary over IMAP, not the storage API, since
what must not change is what a client is answered: the stored FETCH
values, the re-derived structure and the search pushdown all show there.
The server listens on a unix socket only, so no TCP port is involved."""
import contextlib
import gzip
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import unittest

import pgtest
import phtest

FIXTURES = os.path.join(phtest.SRC, "tests", "storage", "fixtures")
sys.path.insert(0, FIXTURES)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree's fixtures
import scenario  # noqa: E402

# A store older than this schema version has every body's structure made
# anew from its bytes at start (storage.sqlite 5, storage.pgsql 3: the
# parser changes of issue 14; storage.sqlite 8, storage.pgsql 7: the sort
# keys of issue 17; storage.sqlite 10, storage.pgsql 9: the object ids and
# previews of issue 18), logged as event=rederived.
REDERIVED_BELOW = {"sqlite": 10, "pgsql": 9}
OBJECT_IDS = rb"EMAILID \(M[0-9a-f]{24}\) THREADID \(T[0-9a-f]{24}\) "
MAILBOXID_LINE = rb"\* OK \[MAILBOXID \(F[0-9a-f]{24}\)\] Ok\r\n"
SORT_KEYS = ("ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO",
             "DISPLAYFROM", "DISPLAYTO")


def manifest():
    with open(os.path.join(FIXTURES, "MANIFEST")) as f:
        rows = [line.rstrip("\n").split("\t") for line in f if not line.startswith("#")]
    return [{"name": r[0], "engine": r[1], "version": int(r[2])} for r in rows if r[0]]


def tag(answer):
    """The tag of an answer's last line: with the user and the command, it
    tells one asked twice (a SEARCH in each mailbox) apart."""
    return answer.rsplit(b"\r\n", 2)[-2].split(b" ", 1)[0]


def changed_answers():
    """{(fixture, user, command, tag): answer} from changed.answers: the
    answers a later commit changed on purpose, each block under a line
    "@@@ FIXTURE..." naming the fixtures whose recorded answer it replaces,
    and a comment with the commit and the reason."""
    out = {}
    for user, command, answer, names in scenario.load_answers(
            os.path.join(FIXTURES, "changed.answers"), with_fixtures=True):
        for name in names:
            out[(name, user, command, tag(answer))] = answer
    return out


def fetch_items(answer):
    """The data items of a one-message FETCH answer without its sequence
    number, UID and tagged line: what a copy of the message must share."""
    first, _, rest = answer.partition(b"\r\n")
    m = re.match(rb"\* \d+ FETCH \((.*)$", first)
    assert m, answer[:200]
    items = re.sub(rb"UID \d+ ?", b"", m.group(1)) + b"\r\n" + rest
    return items[:items.rindex(b"\r\nA")]


class UpgradeTest(phtest.TempDirTest):
    engine = None

    def store(self, name):
        """Puts fixture name where the config's storage finds it; returns
        (storage block, number of stored bodies)."""
        raise NotImplementedError

    def schema_version(self):
        raise NotImplementedError

    def start_on(self, name):
        block, self.bodies = self.store(name)
        self.sock = os.path.join(self.dir, "imap.sock")
        entries = "\n        ".join("entry %s %s" % (u, password_hash()) for u in scenario.USERS)
        conf = self.write("posthorn.conf", """
state_dir %(d)s/state
%(block)s
imap unix://%(sock)s {
    auth pass_table static {
        %(entries)s
    }
    storage &local_mailboxes
    insecure_auth yes
}
""" % {"d": self.dir, "block": block, "sock": self.sock, "entries": entries})
        # The upgrade, its re-derivation included, is done before the
        # server says it started.
        self.server = self.start(conf)
        self.conns = {}

    def conn(self, user):
        if user not in self.conns:
            c = scenario.Imap(self.sock).login(user)
            self.addCleanup(c.close)
            self.conns[user] = c
        return self.conns[user]

    def check_upgrade_log(self, fixture):
        """The schema went up one version at a time from the fixture's to
        this build's, and the stored bodies were made anew where due."""
        log = self.server.log_text()
        ups = [int(v) for v in re.findall(r"storage\.%s event=schema_upgraded db=\S+ version=(\d+)"
                                          % self.engine, log)]
        old = fixture["version"]
        self.assertEqual(ups, list(range(old + 1, old + 1 + len(ups))), log)
        latest = ups[-1] if ups else old
        newest = max(f["version"] for f in manifest() if f["engine"] == self.engine)
        self.assertGreaterEqual(latest, newest, "this build knows an older schema than a fixture")
        self.assertEqual(self.schema_version(), latest)
        rederived = re.findall(r"storage\.%s event=rederived db=\S+ bodies=(\d+)" % self.engine, log)
        if old < REDERIVED_BELOW[self.engine]:
            self.assertEqual(rederived[-1:], [str(self.bodies)], log)

    def replay(self, fixture):
        """Every recorded command, in order, on the same connections: the
        answers byte for byte (big literals by their hash)."""
        name = fixture["name"]
        changed = changed_answers()
        recorded = scenario.load_answers(os.path.join(FIXTURES, name + ".answers"))
        used = set()
        wrong = []
        expected, served = [], []
        for user, command, answer in recorded:
            key = (name, user, command, tag(answer))
            if key in changed:
                answer = changed[key]
                used.add(key)
            expected.append((user, command, answer))
            got = self.conn(user).command(command)
            served.append((user, command, got))
            got = scenario.squeeze(got)
            if re.match(r"(SELECT|EXAMINE) ", command):
                # RFC 8474 4.2: a SELECT says the MAILBOXID, which the
                # upgrade gives every mailbox (at random): there, once,
                # and compared without it.
                got, n = re.subn(MAILBOXID_LINE, b"", got)
                if re.search(rb"\r\n\w+ OK [^\r\n]*\r\n$", b"\r\n" + got):
                    self.assertEqual(n, 1, got)
            if got != answer:
                wrong.append("%s %s\n--- recorded\n%s\n--- served\n%s" % (
                    user, command, answer.decode(errors="replace")[:3000],
                    got.decode(errors="replace")[:3000]))
        if os.environ.get("PH_UPGRADE_SERVED"):
            # For a maintainer: what this build answers, in the format of
            # the answers files (README.md: when an answer changes).
            scenario.dump_answers(os.path.join(os.environ["PH_UPGRADE_SERVED"], name + ".answers"),
                                  served, "%s: the answers of this build after the upgrade" % name)
        if wrong:
            self.fail("%d of %d answers differ from those of the build that wrote %s:\n\n%s"
                      % (len(wrong), len(recorded), name, "\n\n".join(wrong[:20])))
        stale = sorted(k for k in changed if k[0] == name and k not in used)
        self.assertFalse(stale, "changed.answers has answers to commands %s never asks" % name)
        return expected

    @staticmethod
    def recorded(expected, user, pattern):
        """(command, answer) of the first recorded command of user that
        matches pattern."""
        for u, command, answer in expected:
            if u == user and re.fullmatch(pattern, command):
                return command, answer
        raise AssertionError("no recorded %s %s" % (user, pattern))

    def check_new_mail(self, expected):
        """The upgraded store takes new mail: a copy of a stored message
        (alice's INBOX UID 4, its bytes, flags and date as recorded) is
        answered as the original is, is found by the same searches, and
        flags and expunge work on it."""
        c = self.conn("alice")
        _, status = self.recorded(expected, "alice", r'STATUS "INBOX" .*')
        uidvalidity, uidnext = re.search(rb"UIDNEXT (\d+) UIDVALIDITY (\d+)", status).group(2, 1)
        command, old = self.recorded(expected, "alice", r"UID FETCH 4 \(UID FLAGS INTERNALDATE .*")
        m = re.search(rb'FLAGS \(([^)]*)\).*INTERNALDATE "([^"]*)".* BODY\[\] \{(\d+)\}\r\n', old)
        flags_appended = [f.decode() for f in m.group(1).split() if f != b"\\Recent"]
        body = old[m.end():m.end() + int(m.group(3))]
        a = c.append("INBOX", body, flags_appended, m.group(2).decode())
        self.assertIn(b"OK [APPENDUID %s %s]" % (uidvalidity, uidnext), a)
        uid = int(uidnext)
        c.must('SELECT "INBOX"')
        command = command.replace("UID FETCH 4 ", "UID FETCH %d " % uid)
        new = scenario.squeeze(c.command(command))
        # New mail is \Recent in the first session to see it (RFC 3501
        # 2.3.2); the original was not.
        flags = re.search(rb"FLAGS \(([^)]*)\)", new)
        self.assertIn(b"\\Recent", flags.group(1).split())
        kept = b" ".join(f for f in flags.group(1).split() if f != b"\\Recent")
        new = new[:flags.start(1)] + kept + new[flags.end(1):]
        self.assertEqual(fetch_items(new), fetch_items(old))
        for key in ('FROM "Jane"', 'SUBJECT "report"', "KEYWORD Project-X", 'TEXT "report.pdf"'):
            _, before = self.recorded(expected, "alice", re.escape("UID SEARCH " + key))
            after = c.command("UID SEARCH " + key)
            # alice's first search list is INBOX's (SELECTABLE order).
            self.assertEqual(after.split(b"\r\n")[0], before.split(b"\r\n")[0] + b" %d" % uid)
        c.must("UID STORE %d +FLAGS.SILENT (\\Seen $Forwarded)" % uid)
        flags = re.search(rb"FLAGS \(([^)]*)\)", c.command("UID FETCH %d (FLAGS)" % uid)).group(1)
        self.assertEqual(sorted(flags.split()),
                         sorted(f.encode() for f in flags_appended + ["\\Seen", "$Forwarded", "\\Recent"]))
        c.must("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid)
        c.must("UID EXPUNGE %d" % uid)
        c.must("UNSELECT")
        self.assertEqual(c.command('STATUS "INBOX" (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)').split(b"\r\n")[0],
                         status.split(b"\r\n")[0].replace(b"UIDNEXT %d" % uid, b"UIDNEXT %d" % (uid + 1)))

    def settle(self):
        """Waits until what the store does in the background after an
        upgrade is done (nothing here; storage.sqlite indexes text)."""

    def check_searches_again(self, expected):
        """After settle(), the same SEARCH answers (on new connections, so
        without the tags): storage.sqlite answered the first time mostly
        from text still pending, now from its index."""
        conns = {}
        for user, command, answer in expected:
            if user not in conns:
                conns[user] = scenario.Imap(self.sock).login(user)
                self.addCleanup(conns[user].close)
            if command.startswith("SELECT "):
                conns[user].must(command)
            elif command.startswith("UID SEARCH "):
                self.assertEqual(conns[user].command(command).split(b"\r\n")[0],
                                 answer.split(b"\r\n")[0], "%s %s" % (user, command))

    def check_sort_keys(self):
        """The upgrade gave the stored mail its sort keys (issue 17): each
        selectable mailbox sorts and threads as a copy of it made by
        APPEND now, message for message (sequence number n is the n-th
        appended), by every key each way (RFC 5256, RFC 5957)."""
        asks = ["SORT (%s%s) UTF-8 ALL" % (rev, key) for key in SORT_KEYS for rev in ("", "REVERSE ")]
        asks += ["THREAD REFERENCES UTF-8 ALL", "THREAD ORDEREDSUBJECT UTF-8 ALL"]
        for user in scenario.USERS:
            c = scenario.Imap(self.sock).login(user)
            self.addCleanup(c.close)
            for n, mbox in enumerate(scenario.SELECTABLE[user]):
                copy = "SortCheck%d" % n
                c.must('CREATE "%s"' % copy)
                count = int(re.search(rb"\* (\d+) EXISTS", c.must('EXAMINE "%s"' % mbox)).group(1))
                for seq in range(1, count + 1):
                    got = c.must("FETCH %d (INTERNALDATE BODY.PEEK[])" % seq)
                    m = re.search(rb'INTERNALDATE "([^"]*)" BODY\[\] \{(\d+)\}\r\n', got)
                    self.assertIsNotNone(m, got[:300])
                    body = got[m.end():m.end() + int(m.group(2))]
                    self.assertIn(b" OK", c.append(copy, body, [], m.group(1).decode()))
                answers, objects = {}, {}
                for box in (mbox, copy):
                    c.must('EXAMINE "%s"' % box)
                    answers[box] = [c.must(a).split(b"\r\n")[0] for a in asks]
                    # The upgrade gave the stored mail object ids and
                    # previews (issue 18): the previews APPEND makes now.
                    got = c.must("FETCH 1:* (EMAILID THREADID PREVIEW)") if count else b""
                    objects[box], n = re.subn(OBJECT_IDS, b"", got.rsplit(b"\r\n", 2)[0])
                    self.assertEqual(n, count, got[:300])
                for a, old, new in zip(asks, answers[mbox], answers[copy]):
                    self.assertEqual(old, new, "%s %s: %s" % (user, mbox, a))
                self.assertEqual(objects[mbox], objects[copy], "%s %s" % (user, mbox))
                c.must("UNSELECT")
                c.must('DELETE "%s"' % copy)

    def check(self, fixture):
        self.start_on(fixture["name"])
        self.check_upgrade_log(fixture)
        expected = self.replay(fixture)
        self.check_new_mail(expected)
        self.settle()
        self.check_searches_again(expected)
        self.check_sort_keys()
        # Nothing of the old store was refused (a body that does not
        # parse, an info blob that does not read, the indexer failing).
        self.assertNotRegex(self.server.log_text(), r"level=(warn|error)")


class SqliteUpgradeTest(UpgradeTest):
    engine = "sqlite"

    def store(self, name):
        state = os.path.join(self.dir, "state")
        os.makedirs(state)
        self.db = os.path.join(state, "posthorn.db")
        with gzip.open(os.path.join(FIXTURES, name + ".db.gz")) as src, open(self.db, "wb") as dst:
            shutil.copyfileobj(src, dst)
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            bodies = db.execute("SELECT count(*) FROM bodies").fetchone()[0]
        return "storage.sqlite local_mailboxes { }", bodies

    def query(self, sql):
        with contextlib.closing(sqlite3.connect("file:%s?mode=ro" % self.db, uri=True)) as db:
            return db.execute(sql).fetchone()[0]

    def schema_version(self):
        return self.query("PRAGMA user_version")

    def settle(self):
        """The text indexer has taken every pending text (indexed -1,
        sqlite_db.c migration 4) into the trigram index."""
        deadline = time.time() + 90
        while self.query("SELECT count(*) FROM body_text WHERE indexed = -1"):
            self.assertLess(time.time(), deadline, "the text indexer left texts pending")
            time.sleep(0.1)


class PgsqlUpgradeTest(UpgradeTest):
    engine = "pgsql"

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(phtest.BUILD, "modules", ".libs", "storage_pgsql.so")):
            raise unittest.SkipTest("built without storage.pgsql")
        pgtest.setup()

    @classmethod
    def tearDownClass(cls):
        pgtest.teardown()

    def sql(self, text):
        return subprocess.run(["psql", self.dsn, "-XtAv", "ON_ERROR_STOP=1", "-c", text], check=True,
                              capture_output=True, text=True, timeout=60).stdout.strip()

    def store(self, name):
        os.makedirs(os.path.join(self.dir, "state"))
        db = "upgrade_%d_%s" % (os.getpid(), name.replace("-", "_"))
        pgtest.psql("CREATE DATABASE " + db)
        self.addCleanup(pgtest.psql, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        self.dsn = pgtest.dsn_for(db)
        with gzip.open(os.path.join(FIXTURES, name + ".sql.gz")) as f:
            dump = f.read()
        subprocess.run(["psql", self.dsn, "-qXv", "ON_ERROR_STOP=1", "-f", "-"], input=dump,
                       check=True, capture_output=True, timeout=300)
        return ("storage.pgsql local_mailboxes {\n    dsn %s\n}" % self.dsn,
                int(self.sql("SELECT count(*) FROM bodies")))

    def schema_version(self):
        return int(self.sql("SELECT version FROM posthorn_schema"))


_hash = None


def password_hash():
    global _hash
    if _hash is None:
        rc, out, err = phtest.posthorn("hash", "-p", scenario.PASSWORD)
        assert rc == 0, err
        _hash = out.strip()
    return _hash


for _f in manifest():
    setattr(SqliteUpgradeTest if _f["engine"] == "sqlite" else PgsqlUpgradeTest,
            "test_" + _f["name"].replace("-", "_"), lambda self, f=_f: self.check(f))

if __name__ == "__main__":
    phtest.main()
