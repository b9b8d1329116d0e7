# SPDX-License-Identifier: MIT
"""test_objectid.py's classes on storage.pgsql (through test_imap_pgsql.py's
config rewrite): the same bytes on the wire; and two posthorn nodes on one
database give the same ids."""
import re

import pgtest
import phtest
import test_condstore_pgsql
import test_imap_pgsql  # noqa: F401 - storage.pgsql for every config a test writes
import test_objectid
from test_objectid import *  # noqa: F401,F403 - the suite's classes
from test_objectid import EMAILID, MBOXID, THREADID

test_objectid.setUpModule = pgtest.setup


class TwoNodeObjectIdTest(test_condstore_pgsql.TwoNodeBase):
    def ids(self, r):
        out = r.cmd("f", "UID FETCH 1:* (EMAILID THREADID)")
        found = re.findall(rb"EMAILID \((%s)\) THREADID \((%s)\) UID (\d+)\)" % (EMAILID, THREADID), out)
        self.assertEqual(len(found), out.count(b"\r\n") - 1, out)
        return {int(u): (e, t) for e, t, u in found}

    def test_both_nodes_give_the_same_ids(self):
        a, b = self.session(0), self.session(1)
        m = re.match(rb"c OK \[MAILBOXID \((%s)\)\]" % MBOXID, a.cmd("c", "CREATE Work"))
        self.assertIsNotNone(m)
        mid = m.group(1)
        # RFC 8474 4: one MAILBOXID for the mailbox, whichever node asks,
        # kept by a RENAME on the other node.
        self.assertEqual(b.cmd("s", "STATUS Work (MAILBOXID)"),
                         b"* STATUS Work (MAILBOXID (%s))\r\ns OK STATUS completed\r\n" % mid)
        self.assertIn(b"r OK", b.cmd("r", "RENAME Work Job"))
        self.assertEqual(a.cmd("s", "STATUS Job (MAILBOXID)"),
                         b"* STATUS Job (MAILBOXID (%s))\r\ns OK STATUS completed\r\n" % mid)
        self.assertIn(b"s OK", a.cmd("s", "SELECT INBOX"))
        self.assertIn(b"s OK", b.cmd("s", "SELECT INBOX"))
        ids = self.ids(a)
        self.assertEqual(len(ids), 4)
        self.assertEqual(self.ids(b), ids)
        # 5.1: a MOVE on node B keeps the EMAILID node A reads.
        self.assertIn(b"m OK", b.cmd("m", "UID MOVE 2 Job"))
        self.assertIn(b"s OK", a.cmd("s", "SELECT Job"))
        self.assertEqual(list(self.ids(a).values()), [ids[2]])


if __name__ == "__main__":
    phtest.main()
