# SPDX-License-Identifier: MIT
"""imapflow's download() with BINARY (tests/clients/imapflow/binary.mjs)
against posthorn, on storage.sqlite and storage.pgsql: a base64
attachment comes back decoded through BINARY.PEEK[2]<offset.65536>
partials, decoded once on the server (RFC 3516 4.2), and a message with
NUL bytes appended by imapflow as literal8 (RFC 3516 4.4) comes back byte
for byte from BINARY[1] while BODY[1] is base64.

Needs node and imapflow (scripts/check installs it: `npm ci` in
tests/clients/imapflow); without them the test is skipped."""
import base64
import re
import unittest

import pgtest
import phtest
from test_clients_sort import client_missing, run_client
from test_imap import ImapTest
from test_imapflow import PGSQL_BUILT, OnPgsql

SIZE = 300 * 1024


@unittest.skipIf(client_missing("imapflow", "imapflow"), client_missing("imapflow", "imapflow"))
class ImapflowBinaryTest(ImapTest):
    extra = "io_debug yes\n    debug yes"
    maxDiff = None

    def test_imapflow_downloads_through_binary(self):
        got = run_client(self, "imapflow", "binary.mjs")
        self.assertEqual(got["capabilities"], ["BINARY", "LITERAL+"])
        self.assertEqual(got["attachment"]["size"], SIZE)
        self.assertEqual(got["attachment"]["sha256"], got["attachment"]["expected"])
        raw = bytes([0, 1, 2, 13, 10, 0, 10, 13, 255, 0, 65])
        self.assertEqual(bytes(got["raw"]), raw)
        self.assertEqual(got["rawEncoding"], "base64")
        self.assertEqual(base64.b64decode(got["rawBody"]), raw)
        log = self.server.log_text()
        client = [line for line in log.splitlines() if "dir=C" in line]
        # The attachment: one BINARY.PEEK partial per 64 KiB, no BODY.
        partials = [l for l in client if re.search(r"BINARY\.PEEK\[2\]<\d+\.65536>", l)]
        self.assertGreaterEqual(len(partials), SIZE // 65536 + 1, client)
        self.assertEqual([l for l in client if "BODY.PEEK[2]<" in l], [])
        # Decoded once for all of its partials.
        self.assertEqual(log.count("event=binary_decoded user=bob uid=1 part=2 size=%d" % SIZE), 1, log)
        # imapflow's APPEND of the NUL bytes: a literal8.
        self.assertTrue([l for l in client if re.search(r"APPEND INBOX ~\{\d+\+?\}", l)], client)


@unittest.skipUnless(PGSQL_BUILT, "built without storage.pgsql")
@unittest.skipIf(client_missing("imapflow", "imapflow"), client_missing("imapflow", "imapflow"))
class ImapflowBinaryPgsqlTest(OnPgsql, ImapflowBinaryTest):
    """The same on storage.pgsql, on a database of its own."""


def tearDownModule():
    pgtest.teardown()


if __name__ == "__main__":
    phtest.main()
