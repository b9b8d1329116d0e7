# SPDX-License-Identifier: MIT
"""test_append.py's classes on storage.pgsql (through test_imap_pgsql.py's
config rewrite): MULTIAPPEND and CATENATE, the same bytes on the wire, and
a batch committed in one PostgreSQL transaction."""
import pgtest
import phtest
import test_append
import test_imap_pgsql  # noqa: F401 - storage.pgsql for every config a test writes
from test_append import *  # noqa: F401,F403 - the suite's classes

test_append.setUpModule = pgtest.setup


if __name__ == "__main__":
    phtest.main()
