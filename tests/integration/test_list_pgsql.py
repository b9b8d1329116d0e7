# SPDX-License-Identifier: MIT
"""test_list.py's classes on storage.pgsql (through test_imap_pgsql.py's
config rewrite): the same bytes on the wire. And a mailbox deleted between
LIST's listing and its STATUS, which a lock held in PostgreSQL makes
happen there deterministically."""
import subprocess
import time

import pgtest
import phtest
import test_imap_pgsql  # noqa: F401 - storage.pgsql for every config a test writes
import test_list
from test_list import *  # noqa: F401,F403 - the suite's classes

test_list.setUpModule = pgtest.setup


class ListStatusRaceTest(test_list.ListTest):
    def test_mailbox_gone_before_its_status_is_noselect(self):
        """RFC 5819 2: "If an attempted STATUS for a listed mailbox fails
        because the mailbox can't be selected (... due to a race condition
        between LIST and STATUS ...), the STATUS response MUST NOT be
        returned and the LIST response MUST include the \\NoSelect
        attribute"; the LIST goes on and completes OK. The STATUS of Gone
        waits on a lock of the messages table (the listing does not read
        it) while Gone is deleted."""
        dsn = pgtest.dsn_for(self.pg_databases[-1])
        r = self.session()
        self.assertIn(b"c OK", r.cmd("c", "CREATE Gone"))
        locker = subprocess.Popen(["psql", dsn, "-qX", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            locker.stdin.write("BEGIN;\nLOCK TABLE messages IN ACCESS EXCLUSIVE MODE;\n\\echo locked\n")
            locker.stdin.flush()
            self.assertEqual(locker.stdout.readline(), "locked\n")
            r.send(b'l LIST "" (Gone INBOX) RETURN (STATUS (MESSAGES))\r\n')
            deadline = time.monotonic() + 30
            while subprocess.run(["psql", dsn, "-qXAtc", "SELECT count(*) FROM pg_locks WHERE NOT granted"],
                                 capture_output=True, text=True, timeout=30).stdout.strip() == "0":
                self.assertLess(time.monotonic(), deadline, "the STATUS never waited on the lock")
                time.sleep(0.02)
            locker.stdin.write("DELETE FROM mailboxes WHERE name = 'Gone';\nCOMMIT;\n\\echo done\n")
            locker.stdin.flush()
            self.assertEqual(locker.stdout.readline(), "done\n")
        finally:
            locker.stdin.close()
            locker.wait(timeout=30)
        self.assertEqual(r.until("l"), b'* LIST (\\Noselect \\HasNoChildren) "." Gone\r\n'
                                       b'* LIST (\\HasNoChildren) "." INBOX\r\n'
                                       b"* STATUS INBOX (MESSAGES 0)\r\n"
                                       b"l OK LIST completed\r\n")


if __name__ == "__main__":
    phtest.main()
