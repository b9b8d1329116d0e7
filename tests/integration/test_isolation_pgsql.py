# SPDX-License-Identifier: MIT
"""test_isolation.py once more with storage.pgsql: both accounts in one
database of this test's own."""
import itertools
import os

import pgtest
import test_isolation  # the module, not its class: only the pgsql one runs here

_n = itertools.count()


def setUpModule():
    pgtest.setup()


def tearDownModule():
    pgtest.teardown()


class PgIsolationTest(test_isolation.IsolationTest):
    def storage_block(self):
        db = "isolation_%d_%d" % (os.getpid(), next(_n))
        pgtest.psql("CREATE DATABASE " + db)
        self.addCleanup(pgtest.psql, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        return "storage.pgsql local_mailboxes { dsn %s }" % pgtest.dsn_for(db)


if __name__ == "__main__":
    import phtest
    phtest.main()
