# SPDX-License-Identifier: MIT
"""test_quota.py's classes on storage.pgsql (through test_imap_pgsql.py's
config rewrite): the same bytes on the wire. Two nodes racing near a
limit: test_pgsql.py's TwoNodeQuota."""
import pgtest
import phtest
import test_imap_pgsql  # noqa: F401 - storage.pgsql for every config a test writes
import test_quota
from test_quota import *  # noqa: F401,F403 - the suite's classes

test_quota.setUpModule = pgtest.setup


if __name__ == "__main__":
    phtest.main()
