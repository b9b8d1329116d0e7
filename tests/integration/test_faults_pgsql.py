# SPDX-License-Identifier: MIT
"""The faults of test_faults.py once more with storage.pgsql (issue 8): the
node killed with SIGKILL in the middle of APPENDs from 8 clients keeps every
APPEND it answered OK, byte for byte, shows nothing half-written, and its
UIDs never go backwards; a full state_dir (where APPEND spools a literal
before it reaches PostgreSQL) refuses APPEND with a clear NO, damages
nothing stored, and recovers when space returns.

Each test gets a database of its own on the shared cluster (PH_PGSQL_DSN
from scripts/check, or one started for this file)."""
import itertools
import os

import pgtest
import phtest
import test_faults  # the module, not its class: only the pgsql one runs here
from test_imap import password_hash

_n = itertools.count()


def setUpModule():
    pgtest.setup()


def tearDownModule():
    pgtest.teardown()


class PgFaultTest(test_faults.FaultTest):
    # With storage.pgsql, state_dir holds only the spool of an APPEND in
    # flight (the mail goes to PostgreSQL), so it is one APPEND larger than
    # the space left that runs out there. (A full disk under PostgreSQL
    # itself is the database's: a full WAL stops the server.)
    big_append = 400000

    def config(self, state_dir):
        db = "faults_%d_%d" % (os.getpid(), next(_n))
        pgtest.psql("CREATE DATABASE " + db)
        self.addCleanup(pgtest.psql, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        return self.write("posthorn.conf", """
state_dir %(s)s
storage.pgsql local_mailboxes { dsn %(dsn)s }
imap tcp://127.0.0.1:0 {
    auth pass_table static { entry bob %(hash)s }
    storage &local_mailboxes
    insecure_auth yes
}
""" % {"s": state_dir, "dsn": pgtest.dsn_for(db), "hash": password_hash()})

if __name__ == "__main__":
    phtest.main()
