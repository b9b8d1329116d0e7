# SPDX-License-Identifier: MIT
"""test_binary.py's classes on storage.pgsql (through test_imap_pgsql.py's
config rewrite): the same bytes on the wire."""
import pgtest
import phtest
import test_binary
import test_imap_pgsql  # noqa: F401 - storage.pgsql for every config a test writes
from test_binary import *  # noqa: F401,F403 - the suite's classes

test_binary.setUpModule = pgtest.setup


if __name__ == "__main__":
    phtest.main()
