# SPDX-License-Identifier: MIT
"""CONDSTORE and QRESYNC on storage.pgsql: test_condstore.py's classes
once more (through test_imap_pgsql.py's config rewrite), and two posthorn
nodes on one database: a change on node B reaches node A as RFC 7162 says,
and a client that comes back to node A after node B changed the mailbox is
told exactly what changed."""
import os
import re

import pgtest
import phtest
import test_condstore
import test_imap_pgsql  # noqa: F401 - storage.pgsql for every config a test writes
from test_condstore import *  # noqa: F401,F403 - the suite's classes
from test_condstore import HIGHEST, SYSTEM, select_answer
from test_imap import MSG, PASSWORD, Raw, password_hash

test_condstore.setUpModule = pgtest.setup


class TwoNodeBase(phtest.TempDirTest):
    """Node A and node B, each a posthorn with storage.pgsql on the same
    database (one of this test's own); INBOX holds four messages
    (test_objectid_pgsql.py's two-node test starts here too)."""

    def setUp(self):
        super().setUp()
        pgtest.setup()
        self.db = "condstore_%d_%s" % (os.getpid(), self._testMethodName[-20:].lower())
        pgtest.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.db)
        pgtest.psql("CREATE DATABASE " + self.db)
        self.ports = []
        for name in ("a", "b"):
            state = os.path.join(self.dir, "state-" + name)
            os.makedirs(state)
            conf = self.write("node-%s.conf" % name, """
state_dir %(state)s
storage.pgsql shared {
    dsn %(dsn)s
}
imap tcp://127.0.0.1:0 {
    auth pass_table static {
        entry bob %(hash)s
    }
    storage &shared
    insecure_auth yes
}
""" % {"state": state, "dsn": pgtest.dsn_for(self.db), "hash": password_hash()})
            self.ports.append(self.start(conf).port)
        b = self.session(1)
        for i in range(4):
            b.send(b"a%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(MSG), MSG))
            self.assertIn(b"OK", b.until("a%d" % i))
        out = b.cmd("s", "EXAMINE INBOX (CONDSTORE)")  # takes no \Recent: CLOSE below
        self.uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", out).group(1))
        self.mailboxid = re.search(rb"MAILBOXID \((\w+)\)", out).group(1)
        b.cmd("s2", "SELECT INBOX")
        b.cmd("c", "CLOSE")

    def tearDown(self):
        super().tearDown()  # stops the nodes first
        pgtest.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.db)

    def session(self, node, *commands):
        r = Raw(self.ports[node])
        self.addCleanup(r.close)
        self.assertIn(b"L OK", r.cmd("L", 'LOGIN bob "%s"' % PASSWORD))
        for i, c in enumerate(commands):
            self.assertIn(b"c%d OK" % i, r.cmd("c%d" % i, c), c)
        return r

    def modseqs(self):
        r = self.session(1, "EXAMINE INBOX (CONDSTORE)")
        out = r.cmd("f", "UID FETCH 1:* (MODSEQ)")
        highest = int(re.search(rb"HIGHESTMODSEQ (\d+)", r.cmd("s", "STATUS INBOX (HIGHESTMODSEQ)")).group(1))
        return highest, {int(u): int(m) for m, u in re.findall(rb"MODSEQ \((\d+)\) UID (\d+)", out)}


class TwoNodeTest(TwoNodeBase):
    def test_flag_changes_on_node_b_reach_node_a_in_modseq_order(self):
        # RFC 7162 3.1.4.2 (Example 14), 3.2.4: across nodes too; in modseq
        # order, whatever the UIDs.
        a = self.session(0, "ENABLE CONDSTORE", "SELECT INBOX")
        self.session(1, "SELECT INBOX", "STORE 4 +FLAGS (\\Flagged)", "STORE 2 +FLAGS ($Work)",
                     "STORE 1 +FLAGS (\\Seen)")
        m = self.modseqs()[1]
        self.assertEqual(a.cmd("n", "NOOP"),
                         b"* FLAGS (" + SYSTEM + b" $Work)\r\n"
                         b"* OK [PERMANENTFLAGS (" + SYSTEM + b" $Work \\*)] Flags permitted\r\n"
                         b"* 4 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (%d))\r\n"
                         b"* 2 FETCH (UID 2 FLAGS ($Work) MODSEQ (%d))\r\n"
                         b"* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (%d))\r\n"
                         b"n OK NOOP completed\r\n" % (m[4], m[2], m[1]))

    def test_flag_changes_on_node_b_reach_idle_on_node_a_in_modseq_order(self):
        # RFC 7162 3.2.4 (and 3.1.4.2's FETCH with MODSEQ): an IDLE session
        # on node A is told each change node B makes as FETCH (UID n FLAGS
        # (...) MODSEQ (m)), in modseq order, whatever the UIDs and however
        # the wake-ups fall.
        a = self.session(0, "ENABLE CONDSTORE", "SELECT INBOX")
        a.send(b"i IDLE\r\n")
        self.assertEqual(a.line(), b"+ idling\r\n")
        self.session(1, "SELECT INBOX", "STORE 4 +FLAGS.SILENT (\\Flagged)",
                     "STORE 2 +FLAGS.SILENT (\\Answered)", "STORE 1 +FLAGS.SILENT (\\Seen)",
                     "STORE 4 +FLAGS.SILENT (\\Seen)")
        m = self.modseqs()[1]
        self.assertLess(m[2], m[1])
        self.assertLess(m[1], m[4])
        # However the wake-ups fall (one per change, or some together), the
        # MODSEQs on the wire never go down (a change read while a wake-up
        # reads may come again in the next one: the same FETCH twice), and
        # each UID's last FETCH is its state now.
        lines, last = [], {}
        while last.get(4) != m[4]:
            line = a.line()
            lines.append(line)
            got = re.fullmatch(rb"\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\) MODSEQ \((\d+)\)\)\r\n", line)
            self.assertIsNotNone(got, line)
            self.assertEqual(got.group(1), got.group(2))  # seq = UID here
            last[int(got.group(2))] = int(got.group(4))
            if int(got.group(2)) == 4 and int(got.group(4)) == m[4]:
                self.assertEqual(set(got.group(3).split()), {b"\\Flagged", b"\\Seen"})
        a.send(b"DONE\r\n")
        # A wake-up still under way may send the last change again before
        # IDLE ends: a repeat, never anything new.
        line = a.line()
        while line != b"i OK IDLE terminated\r\n":
            self.assertIn(line, lines, "after the last change, before the end of IDLE")
            lines.append(line)
            line = a.line()
        modseqs = [int(re.search(rb"MODSEQ \((\d+)\)", x).group(1)) for x in lines]
        self.assertEqual(modseqs, sorted(modseqs), lines)
        self.assertEqual(last, {2: m[2], 1: m[1], 4: m[4]}, lines)

    def test_idle_on_node_a_gets_flags_and_vanished_from_node_b(self):
        # Only node B's NOTIFY wakes node A: an answer at all is the wake.
        a = self.session(0, "ENABLE QRESYNC", "SELECT INBOX")
        a.send(b"i IDLE\r\n")
        self.assertEqual(a.line(), b"+ idling\r\n")
        b = self.session(1, "SELECT INBOX", "STORE 3 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(a.line(), b"* 3 FETCH (UID 3 FLAGS (\\Deleted) MODSEQ (%d))\r\n" % self.modseqs()[0])
        self.assertIn(b"x OK", b.cmd("x", "EXPUNGE"))
        self.assertEqual(a.line(), b"* VANISHED 3\r\n")
        a.send(b"DONE\r\n")
        self.assertEqual(a.line(), b"i OK IDLE terminated\r\n")

    def test_client_back_on_node_a_learns_what_node_b_changed(self):
        # RFC 7162 3.2.5.1: a client that knew the mailbox at `known` comes
        # back through node A after node B expunged and changed messages.
        known = self.modseqs()[0]
        self.session(1, "SELECT INBOX", "STORE 1,3 +FLAGS.SILENT (\\Deleted)", "EXPUNGE",
                     "UID STORE 4 +FLAGS (\\Answered)")
        highest, m = self.modseqs()
        a = self.session(0, "ENABLE QRESYNC")
        self.assertEqual(a.cmd("s", "SELECT INBOX (QRESYNC (%d %d 1:4))" % (self.uidvalidity, known)),
                         select_answer(2, self.uidvalidity, 5, highest, mailboxid=self.mailboxid) +
                         b"* VANISHED (EARLIER) 1,3\r\n"
                         b"* 2 FETCH (UID 4 FLAGS (\\Answered) MODSEQ (%d))\r\n"
                         b"s OK [READ-WRITE] SELECT completed\r\n" % m[4])
        self.assertEqual(a.cmd("f", "UID FETCH 1:4 (FLAGS) (CHANGEDSINCE %d VANISHED)" % known),
                         b"* VANISHED (EARLIER) 1,3\r\n"
                         b"* 2 FETCH (FLAGS (\\Answered) UID 4 MODSEQ (%d))\r\n"
                         b"f OK FETCH completed\r\n" % m[4])
        self.assertNotIn(HIGHEST[:20], a.cmd("n", "NOOP"))


if __name__ == "__main__":
    phtest.main()
