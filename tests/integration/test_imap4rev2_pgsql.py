# SPDX-License-Identifier: MIT
"""test_imap4rev2.py's classes on storage.pgsql (through test_imap_pgsql.py's
config rewrite): the same bytes on the wire."""
import pgtest
import phtest
import test_imap_pgsql  # noqa: F401 - storage.pgsql for every config a test writes
import test_imap4rev2
from test_imap4rev2 import *  # noqa: F401,F403 - the suite's classes

test_imap4rev2.setUpModule = pgtest.setup

if __name__ == "__main__":
    phtest.main()
