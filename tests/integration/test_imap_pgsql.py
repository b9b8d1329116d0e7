# SPDX-License-Identifier: MIT
"""The imap integration suites (test_imap.py, test_imap_grammar.py,
test_imap_state.py) once more, with storage.pgsql in place of
storage.sqlite: the same answers on the wire.

Each config the suite writes with its storage.sqlite instance gets a
storage.pgsql instance of the same name instead, on a database of its own
(created here, dropped after the test), so every test starts empty as it
does with a fresh state_dir. Configs that test other things (config checks
with `storage.sqlite s`) are left as they are."""
import atexit
import itertools
import os
import re
import unittest

import pgtest
import phtest
import test_imap
import test_imap_grammar
import test_imap_state
from test_imap import *  # noqa: F401,F403 - the suite's test classes
from test_imap_grammar import *  # noqa: F401,F403 - and the grammar edges
from test_imap_state import ExpungedDuringFetchTest, ExpungedWithBodiesDuringFetchTest, KeywordTest, RecentTest, SelfCopyTest  # noqa: F401

# The suite's block, with whatever directives a test adds inside it.
SQLITE_BLOCK = re.compile(r"storage\.sqlite local_mailboxes \{ *([^}]*?) *\}")
_n = itertools.count()
_write = phtest.TempDirTest.write
_teardown = phtest.TempDirTest.tearDown


# unittest runs the fixtures of the module that defines the classes, and
# it runs the classes of the modules interleaved (by name): every module
# sets the database up (once; later calls find it), and it is stopped when
# the process ends.
for _module in (test_imap, test_imap_grammar, test_imap_state):
    _module.setUpModule = pgtest.setup
atexit.register(pgtest.teardown)


def write(self, name, text):
    if SQLITE_BLOCK.search(text):
        db = "imap_%d_%d" % (os.getpid(), next(_n))
        pgtest.psql("CREATE DATABASE " + db)
        self.__dict__.setdefault("pg_databases", []).append(db)
        text = SQLITE_BLOCK.sub(lambda m: "storage.pgsql local_mailboxes {\n    dsn %s\n    %s\n}"
                                % (pgtest.dsn_for(db), m.group(1)), text)
    return _write(self, name, text)


def tear_down(self):
    _teardown(self)  # stops the servers first
    for db in self.__dict__.get("pg_databases", []):
        pgtest.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)


test_imap.STORAGE = "pgsql"
phtest.TempDirTest.write = write
phtest.TempDirTest.tearDown = tear_down

# Tests of what only storage.sqlite has: the database file in state_dir
# (its owner), the debug lines of its text index.
SQLITE_ONLY_TESTS = [
    ("PrivilegeTest", "test_drops_to_user_after_binding_a_privileged_port",
     "checks the SQLite database file"),
    ("SearchTextIndexTest", "test_text_keys_answered_by_storage",
     "checks storage.sqlite's text index queries"),
]
for cls, name, why in SQLITE_ONLY_TESTS:
    klass = getattr(test_imap, cls, None)
    if klass is not None and hasattr(klass, name):
        setattr(klass, name, unittest.skip(why)(getattr(klass, name)))

if __name__ == "__main__":
    phtest.main()
