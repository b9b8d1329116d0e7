# SPDX-License-Identifier: MIT
"""imapflow's getQuota() (tests/clients/imapflow/quota.mjs) against
posthorn, on storage.sqlite and storage.pgsql: one GETQUOTAROOT per
mailbox, whose QUOTAROOT and QUOTA replies (RFC 9208 4.2) it reads into
the usage and limits an admin set with `posthorn accounts quota`.

Needs node and imapflow (scripts/check installs it: `npm ci` in
tests/clients/imapflow); without them the test is skipped."""
import unittest

import pgtest
import phtest
from test_clients_sort import client_missing, run_client
from test_imap import MSG, ImapTest
from test_imapflow import PGSQL_BUILT, OnPgsql


@unittest.skipIf(client_missing("imapflow", "imapflow"), client_missing("imapflow", "imapflow"))
class ImapflowQuotaTest(ImapTest):
    extra = "io_debug yes"
    maxDiff = None

    def test_imapflow_get_quota(self):
        c = self.client()
        for _ in range(3):
            typ, data = c.append("INBOX", None, None, MSG + b"x" * 1000)
            self.assertEqual(typ, "OK", data)
        rc, _, err = phtest.posthorn("accounts", "quota", "bob", "--storage", "1M", "--messages", "300",
                                     config=self.conf)
        self.assertEqual(rc, 0, err)
        got = run_client(self, "imapflow", "quota.mjs")
        self.assertEqual(got["capabilities"], ["QUOTA", "QUOTA=RES-MAILBOX", "QUOTA=RES-MESSAGE",
                                               "QUOTA=RES-STORAGE"])
        # 3 x 1176 octets: 4 KiB (rounded up), which imapflow gives in octets.
        quota = {"quotaRoot": "User quota",
                 "storage": {"usage": 4096, "limit": 1048576, "status": "0%"},
                 "message": {"usage": 3, "limit": 300, "status": "1%"}}
        self.assertEqual(got["INBOX"], dict(path="INBOX", **quota))
        self.assertEqual(got["Sent"], dict(path="Sent", **quota))
        # GETQUOTAROOT answered with its QUOTA inline: no GETQUOTA after it.
        log = [l for l in self.server.log_text().splitlines() if "dir=C" in l]
        self.assertEqual(len([l for l in log if " GETQUOTAROOT " in l]), 2)
        self.assertEqual([l for l in log if " GETQUOTA " in l], [])


@unittest.skipUnless(PGSQL_BUILT, "built without storage.pgsql")
class ImapflowQuotaPgsqlTest(OnPgsql, ImapflowQuotaTest):
    pass


def tearDownModule():
    pgtest.teardown()


if __name__ == "__main__":
    phtest.main()
