# SPDX-License-Identifier: MIT
"""Real clients of SORT, THREAD, ESEARCH and WITHIN against posthorn, on
storage.sqlite and storage.pgsql: node-imap (npm imap; its sort(),
thread() and esearch(), tests/clients/node-imap/sort-thread.cjs) over
test_sort.py's mailbox, and imapflow's search() (tests/clients/imapflow/
search.mjs), which sends YOUNGER/OLDER when WITHIN is advertised and RETURN
options when ESEARCH is.

Needs node and the clients' packages (scripts/check installs them: `npm
ci` in tests/clients/*); without them the tests are skipped."""
import imaplib
import json
import os
import shutil
import subprocess
import time
import unittest

import pgtest
import phtest
import test_imap
from test_imap import MSG
from test_imap_state import StateTest
from test_imapflow import PGSQL_BUILT, OnPgsql
from test_sort import MAILBOX, SortBase

CLIENTS = os.path.join(phtest.SRC, "tests", "clients")


def client_missing(name, package):
    if shutil.which("node") is None:
        return "no node (apt-get install nodejs npm)"
    if not os.path.isdir(os.path.join(CLIENTS, name, "node_modules", package)):
        return "%s is not installed (npm ci in tests/clients/%s)" % (package, name)
    return None


def run_client(test, name, script):
    p = subprocess.run(["node", os.path.join(CLIENTS, name, script), str(test.port), "bob",
                        test_imap.PASSWORD], capture_output=True, text=True, timeout=120)
    test.assertEqual(p.returncode, 0, p.stdout + p.stderr)
    return json.loads(p.stdout)


@unittest.skipIf(client_missing("node-imap", "imap"), client_missing("node-imap", "imap"))
class NodeImapTest(SortBase):
    extra = "io_debug yes"

    def test_node_imap_sort_thread_esearch(self):
        got = run_client(self, "node-imap", "sort-thread.cjs")
        # The answers test_sort.py checks byte for byte, as node-imap reads
        # them (UIDs are sequence numbers + 1 there).
        self.assertEqual(got, {
            "uid sort -DATE": [7, 6, 5, 2, 3, 4],
            "seq sort SUBJECT -DATE": [4, 3, 6, 5, 1, 2],
            "seq sort FROM of unseen": [1, 2, 5, 6, 4, 3],
            "seq sort SIZE": sorted(range(1, 7), key=lambda n: (len(MAILBOX[n - 1][1]), n)),
            "seq sort ARRIVAL from Émile": [4],
            "uid thread REFERENCES": [[2, 3, 4], [5], [[6], [7]]],
            "seq thread ORDEREDSUBJECT": [[3, 4], [2, 1], [5, 6]],
            "seq esearch min max count": {"min": 2, "max": 5, "count": 2},
            # node-imap leaves the ranges of ALL as they came.
            "uid esearch all": {"all": ["2:7"]},
        })
        # What went out: RFC 5256's forms, the UTF-8 criterion as a literal.
        self.assertEqual(self.server.count_log(" UID SORT (REVERSE DATE) US-ASCII ALL"), 1)
        self.assertEqual(self.server.count_log("SORT (ARRIVAL) UTF-8 FROM {6}"), 1)
        self.assertEqual(self.server.count_log("UID THREAD REFERENCES US-ASCII ALL"), 1)


@unittest.skipIf(client_missing("imapflow", "imapflow"), client_missing("imapflow", "imapflow"))
class ImapflowSearchTest(StateTest):
    extra = "io_debug yes"

    def test_imapflow_search_within_and_esearch(self):
        c = self.client()
        now = time.time()
        for age, flags in ((72 * 3600, None), (30 * 3600, None), (3600, "(\\Seen)")):
            typ, data = c.append("INBOX", flags, imaplib.Time2Internaldate(now - age), MSG)
            self.assertEqual(typ, "OK", data)
        got = run_client(self, "imapflow", "search.mjs")
        self.assertEqual(got, {
            "capabilities": ["ESEARCH", "WITHIN"],
            "uid since 24h": [3],
            "seq before 24h": [1, 2],
            "uid since 48h unseen": [2],
            "esearch uid all": {"min": 1, "max": 3, "count": 3, "all": "1:3"},
            "esearch count since 24h": {"count": 1},
            "esearch nothing": {"count": 0},
        })
        # imapflow asked with WITHIN's keys (RFC 5032) and RETURN (RFC 4731).
        self.assertGreaterEqual(self.server.count_log(" YOUNGER "), 3)
        self.assertGreaterEqual(self.server.count_log(" OLDER "), 1)
        self.assertEqual(self.server.count_log("UID SEARCH RETURN (MIN MAX COUNT ALL) ALL"), 1)


@unittest.skipUnless(PGSQL_BUILT, "built without storage.pgsql")
class NodeImapPgsqlTest(OnPgsql, NodeImapTest):
    pass


@unittest.skipUnless(PGSQL_BUILT, "built without storage.pgsql")
class ImapflowSearchPgsqlTest(OnPgsql, ImapflowSearchTest):
    pass


def tearDownModule():
    pgtest.teardown()


if __name__ == "__main__":
    phtest.main()
