# SPDX-License-Identifier: MIT
"""imapflow's list() with a statusQuery (tests/clients/imapflow/
list-status.mjs) against posthorn, on storage.sqlite and storage.pgsql:
one LIST ... RETURN (STATUS (...) SPECIAL-USE CHILDREN SUBSCRIBED) for the
whole folder pane (RFC 5819, RFC 5258), no STATUS command per mailbox.

Needs node and imapflow (scripts/check installs it: `npm ci` in
tests/clients/imapflow); without them the test is skipped."""
import unittest

import pgtest
import phtest
from test_clients_sort import client_missing, run_client
from test_imap import MSG, ImapTest
from test_imapflow import PGSQL_BUILT, OnPgsql


@unittest.skipIf(client_missing("imapflow", "imapflow"), client_missing("imapflow", "imapflow"))
class ImapflowListStatusTest(ImapTest):
    extra = "io_debug yes"
    maxDiff = None

    def test_imapflow_list_with_status_in_one_command(self):
        c = self.client()
        self.assertEqual(c.create("Work.Reports")[0], "OK")
        for mbox, flags in (("INBOX", "(\\Seen)"), ("INBOX", None), ("Work.Reports", None)):
            typ, data = c.append(mbox, flags, None, MSG)
            self.assertEqual(typ, "OK", data)
        self.assertEqual(c.subscribe("Work.Reports")[0], "OK")
        self.assertEqual(c.delete("Work")[0], "OK")  # \Noselect: it has an inferior
        got = run_client(self, "imapflow", "list-status.mjs")
        # imapflow moves \\Subscribed from the flags to "subscribed".
        self.assertEqual(got["capabilities"], ["LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE"])
        empty = {"messages": 0, "unseen": 0, "size": 0}
        self.assertEqual(got["mailboxes"], {
            "INBOX": {"flags": ["\\HasNoChildren"], "subscribed": True,
                      "status": {"messages": 2, "unseen": 1, "size": 2 * len(MSG)}},
            "Archive": {"flags": ["\\Archive", "\\HasNoChildren"], "subscribed": True,
                        "status": empty},
            "Drafts": {"flags": ["\\Drafts", "\\HasNoChildren"], "subscribed": True,
                       "status": empty},
            "Junk": {"flags": ["\\HasNoChildren", "\\Junk"], "subscribed": True,
                     "status": empty},
            "Sent": {"flags": ["\\HasNoChildren", "\\Sent"], "subscribed": True,
                     "status": empty},
            "Trash": {"flags": ["\\HasNoChildren", "\\Trash"], "subscribed": True,
                      "status": empty},
            "Work": {"flags": ["\\HasChildren", "\\Noselect"], "subscribed": False, "status": None},
            "Work.Reports": {"flags": ["\\HasNoChildren"], "subscribed": True,
                             "status": {"messages": 1, "unseen": 1, "size": len(MSG)}},
        })
        # One LIST with the STATUS return option, and no STATUS command.
        log = self.server.log_text()
        lists = [l for l in log.splitlines() if "dir=C" in l and " LIST " in l]
        self.assertEqual(len(lists), 1, lists)
        self.assertIn("RETURN (STATUS (MESSAGES UNSEEN SIZE)", lists[0])
        self.assertEqual([l for l in log.splitlines() if "dir=C" in l and " STATUS " in l], [])


@unittest.skipUnless(PGSQL_BUILT, "built without storage.pgsql")
class ImapflowListStatusPgsqlTest(OnPgsql, ImapflowListStatusTest):
    pass


def tearDownModule():
    pgtest.teardown()


if __name__ == "__main__":
    phtest.main()
