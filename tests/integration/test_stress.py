# SPDX-License-Identifier: MIT
"""The stress checker (tests/stress/imapstress.py, issue 14) for 30 seconds
with 10 clients on 3 users against posthorn on storage.sqlite: sequence
numbers, UIDs, FLAGS announced before use (RFC 3501 7.2.6), immutable
message data and HEADER.FIELDS as computed from the message (6.4.5), STORE
answers against later FETCHes, no BAD, NO only for the races the checker
lists. Any violation fails with the command and the answer.

The seed is random unless STRESS_SEED is set; the summary line names it.
A command may take up to 300 s before the checker calls it a hang: make
check shares the machine (and a sanitizer build is slow), and a loaded
machine must not fail the run on time."""
import os
import random
import subprocess
import sys
import unittest

import phtest

CHECKER = os.path.join(phtest.SRC, "tests", "stress", "imapstress.py")


class StressTest(unittest.TestCase):
    def test_ten_clients_for_thirty_seconds_without_a_violation(self):
        seed = os.environ.get("STRESS_SEED") or str(random.randrange(1, 1 << 20))
        p = subprocess.run([sys.executable, CHECKER, "--build", phtest.BUILD, "--clients", "10", "--users", "3",
                            "--seconds", "30", "--seed", seed, "--timeout", "300", "--quiet"],
                           capture_output=True, text=True, timeout=1200)
        sys.stdout.write(p.stdout[-30000:])
        sys.stdout.write(p.stderr[-5000:])
        self.assertEqual(p.returncode, 0, "the stress checker failed (seed %s): %s" % (
            seed, p.stdout.strip().splitlines()[-2:] if p.stdout.strip() else p.stderr[-2000:]))


if __name__ == "__main__":
    phtest.main()
