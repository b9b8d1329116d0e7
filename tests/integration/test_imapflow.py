# SPDX-License-Identifier: MIT
"""imapflow (npm), a real client that uses QRESYNC, against posthorn on
storage.sqlite and on storage.pgsql: tests/clients/imapflow/resync.mjs
syncs INBOX, lets a second session change flags, expunge and append,
comes back with SELECT (QRESYNC ...) and checks that its view is the
mailbox's, then once more with changes that arrive while it has INBOX
selected (RFC 7162 3.2.5.1, 3.2.10).

Needs node and the client's packages (scripts/check installs them: `npm
ci` in tests/clients/imapflow); without them the test is skipped."""
import os
import shutil
import subprocess
import unittest

import pgtest
import phtest
import test_imap

CLIENT = os.path.join(phtest.SRC, "tests", "clients", "imapflow")


def client_missing():
    if shutil.which("node") is None:
        return "no node (apt-get install nodejs npm)"
    if not os.path.isdir(os.path.join(CLIENT, "node_modules", "imapflow")):
        return "imapflow is not installed (npm ci in tests/clients/imapflow)"
    return None


@unittest.skipIf(client_missing(), client_missing())
class ImapflowTest(test_imap.ImapTest):
    def test_imapflow_resyncs_with_qresync(self):
        p = subprocess.run(["node", os.path.join(CLIENT, "resync.mjs"), str(self.port), "bob",
                            test_imap.PASSWORD], capture_output=True, text=True, timeout=120)
        print(p.stdout, p.stderr)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(p.stdout.rstrip().endswith(" passed, 0 failed"), p.stdout)

    def test_imapflow_with_compress_deflate(self):
        """tests/clients/imapflow/compress.mjs: imapflow negotiates COMPRESS
        DEFLATE (RFC 4978) after login, APPENDs and FETCHes a big message,
        IDLEs and pipelines through the one compressed connection."""
        p = subprocess.run(["node", os.path.join(CLIENT, "compress.mjs"), str(self.port), "bob",
                            test_imap.PASSWORD], capture_output=True, text=True, timeout=120)
        print(p.stdout, p.stderr)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(p.stdout.rstrip().endswith(" passed, 0 failed"), p.stdout)


PGSQL_BUILT = os.path.exists(os.path.join(phtest.BUILD, "modules", ".libs", "storage_pgsql.so"))


class OnPgsql:
    """A test class's tests on storage.pgsql, each on a database of its
    own (put it before the class: `class XPgsqlTest(OnPgsql, XTest)`)."""

    @classmethod
    def setUpClass(cls):
        pgtest.setup()

    def write(self, name, text):
        db = "imapflow_%d" % os.getpid()
        pgtest.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        pgtest.psql("CREATE DATABASE " + db)
        self.addCleanup(pgtest.psql, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        text = text.replace("storage.sqlite local_mailboxes { ",
                            "storage.pgsql local_mailboxes { dsn %s " % pgtest.dsn_for(db))
        return super().write(name, text)


@unittest.skipIf(client_missing(), client_missing())
@unittest.skipUnless(PGSQL_BUILT, "built without storage.pgsql")
class ImapflowPgsqlTest(OnPgsql, ImapflowTest):
    """The same on storage.pgsql, on a database of its own."""


def tearDownModule():
    pgtest.teardown()


if __name__ == "__main__":
    phtest.main()
