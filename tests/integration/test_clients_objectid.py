# SPDX-License-Identifier: MIT
"""imapflow and OBJECTID (RFC 8474) (tests/clients/imapflow/objectid.mjs)
against posthorn, on storage.sqlite and storage.pgsql: mailboxId from
CREATE and SELECT, emailId and threadId from FETCH, search() by them, the
ids kept through RENAME and MOVE.

Needs node and imapflow (scripts/check installs it: `npm ci` in
tests/clients/imapflow); without them the test is skipped."""
import re
import unittest

import pgtest
import phtest
from test_clients_sort import client_missing, run_client
from test_imap import ImapTest
from test_imapflow import PGSQL_BUILT, OnPgsql

ID = r"[FMT][0-9a-f]{24}"


@unittest.skipIf(client_missing("imapflow", "imapflow"), client_missing("imapflow", "imapflow"))
class ImapflowObjectIdTest(ImapTest):
    extra = "io_debug yes"
    maxDiff = None

    def test_imapflow_reads_mailboxid_emailid_threadid(self):
        got = run_client(self, "imapflow", "objectid.mjs")
        self.assertEqual(got["capabilities"], ["OBJECTID", "PREVIEW"])
        # One MAILBOXID from CREATE and SELECT, kept by RENAME (4).
        self.assertRegex(got["created"], "^F" + ID[5:] + "$")
        self.assertEqual(got["opened"], got["created"])
        self.assertEqual(got["reopened"], got["created"])
        before = got["before"]
        self.assertEqual([m["uid"] for m in before], [1, 2, 3])
        for m in before:
            self.assertRegex(m["emailId"], "^M[0-9a-f]{24}$")
            self.assertRegex(m["threadId"], "^T[0-9a-f]{24}$")
        # The reply is in its parent's thread (5.2), the other is not.
        self.assertEqual(before[0]["threadId"], before[1]["threadId"])
        self.assertNotEqual(before[0]["threadId"], before[2]["threadId"])
        self.assertEqual(got["byEmail"], [2])
        self.assertEqual(got["byThread"], [1, 2])
        # MOVE keeps EMAILID and THREADID (5.1).
        self.assertEqual(got["moved"], [dict(before[1], uid=1)])
        # imapflow asked for them with FETCH and SEARCH on the wire.
        log = self.server.log_text()
        self.assertTrue(re.search(r"dir=C .*FETCH .*EMAILID.*THREADID", log), log[-3000:])
        self.assertTrue(re.search(r"dir=C .*SEARCH EMAILID M", log), log[-3000:])


@unittest.skipUnless(PGSQL_BUILT, "built without storage.pgsql")
class ImapflowObjectIdPgsqlTest(OnPgsql, ImapflowObjectIdTest):
    pass


def tearDownModule():
    pgtest.teardown()


if __name__ == "__main__":
    phtest.main()
