# SPDX-License-Identifier: MIT
"""auth.external through the real binary: a helper program of the test's
with maddy's protocol (username and password on stdin, one line each; exit
0 accepted, 1 rejected, 2 error), maddy's perdomain/domains rules, the
timeout, and the password kept out of the log and off the command line."""
import imaplib
import os
import stat
import time
import unittest

import phtest

PASSWORD = "ext s3cret-word"

# The helper: a table of users, what it was given written to a file the
# test reads (argv and the username, never the password), and behaviours
# picked by the username.
HELPER = r"""#!/usr/bin/env python3
import sys, time
user = sys.stdin.readline()
password = sys.stdin.readline()
with open(%(seen)r, "a") as f:
    f.write(repr((sys.argv[1:], user)) + "\n")
if not user.endswith("\n") or not password.endswith("\n"):
    sys.exit(2)
user, password = user[:-1], password[:-1]
if user == "broken":
    sys.stderr.write("directory unreachable\n")
    sys.exit(2)
if user == "crash":
    sys.exit(7)
if user.split("@")[0] == "slow":
    time.sleep(60)
users = {"alice": %(pw)r, "bob@example.org": %(pw)r}
sys.exit(0 if users.get(user) == password else 1)
"""


class ExternalBase(phtest.TempDirTest):
    auth = "auth external %(helper)s"
    block = ""

    def setUp(self):
        super().setUp()
        os.makedirs(os.path.join(self.dir, "state"))
        self.seen = os.path.join(self.dir, "seen")
        self.helper = self.write("helper.py", HELPER % {"seen": self.seen, "pw": PASSWORD})
        os.chmod(self.helper, stat.S_IRWXU)
        self.conf = self.write("posthorn.conf", """
state_dir %(d)s/state
%(block)s
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    %(auth)s
    storage &local_mailboxes
    auth_fail_delay 0ms
}
""" % {"d": self.dir, "block": self.block % {"helper": self.helper},
       "auth": self.auth % {"helper": self.helper}})
        self.server = self.start(self.conf)

    def client(self):
        c = imaplib.IMAP4("127.0.0.1", self.server.port, timeout=60)
        self.addCleanup(c.sock.close)
        return c

    def login_fails(self, user, password, code="AUTHENTICATIONFAILED"):
        with self.assertRaisesRegex(imaplib.IMAP4.error, code):
            self.client().login(user, password)

    def seen_users(self):
        with open(self.seen) as f:
            return [eval(line)[1].rstrip("\n") for line in f]


class ExternalTest(ExternalBase):
    """`auth external PATH`: the inline form, no domains."""

    def test_right_password(self):
        c = self.client()
        self.assertEqual(c.login("alice", PASSWORD)[0], "OK")
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()
        self.assertIn("event=login result=ok user=alice", self.server.log_text())

    def test_wrong_password_and_unknown_user(self):
        self.login_fails("alice", PASSWORD + "x")
        self.login_fails("mallory", PASSWORD)

    def test_helper_error_is_unavailable(self):
        # Exit 2: the helper could not decide. RFC 5530 3: [UNAVAILABLE].
        self.login_fails("broken", PASSWORD, "UNAVAILABLE")
        self.server.wait_log("directory unreachable")
        self.login_fails("crash", PASSWORD, "UNAVAILABLE")
        self.server.wait_log("exit status 7")

    def test_domain_without_domains_is_refused(self):
        # maddy: a domain must be one of `domains`; none are listed here.
        self.login_fails("alice@example.org", PASSWORD)
        self.assertNotIn("alice@example.org", self.seen_users() if os.path.exists(self.seen) else [])

    def test_password_never_logged_nor_in_argv(self):
        self.client().login("alice", PASSWORD)
        self.login_fails("alice", PASSWORD + "-wrong")
        self.assertNotIn("s3cret", self.server.log_text())
        with open(self.seen) as f:
            self.assertNotIn("s3cret", f.read())

    def test_authenticate_plain(self):
        c = self.client()
        typ, _ = c.authenticate("PLAIN", lambda _: b"\0alice\0" + PASSWORD.encode())
        self.assertEqual(typ, "OK")
        c.logout()


class ExternalDomainsTest(ExternalBase):
    """perdomain no, domains example.org: user and user@example.org both
    reach the helper as user; other domains never reach it."""
    auth = "auth &directory"
    block = """auth.external directory {
    helper %(helper)s
    domains example.org example.net
}"""

    def test_domain_is_stripped(self):
        self.assertEqual(self.client().login("alice@EXAMPLE.org", PASSWORD)[0], "OK")
        self.assertEqual(self.client().login("alice", PASSWORD)[0], "OK")
        self.login_fails("alice@example.com", PASSWORD)
        self.assertEqual(self.seen_users(), ["alice", "alice"])


class ExternalPerDomainTest(ExternalBase):
    """perdomain yes: the helper sees user@domain, and a name without a
    listed domain is refused before it."""
    auth = "auth &directory"
    block = """auth.external directory {
    helper %(helper)s
    perdomain yes
    domains example.org
}"""

    def test_whole_name_reaches_helper(self):
        self.assertEqual(self.client().login("bob@example.org", PASSWORD)[0], "OK")
        self.login_fails("bob", PASSWORD)
        self.login_fails("bob@example.net", PASSWORD)
        self.assertEqual(self.seen_users(), ["bob@example.org"])


class ExternalTimeoutTest(ExternalBase):
    """helper_timeout: a helper that does not answer is killed and the
    login answers [UNAVAILABLE] (a loaded machine that starts the helper
    late gives the same answer)."""
    auth = "auth &directory"
    block = """auth.external directory {
    helper %(helper)s
    helper_timeout 2s
}"""

    def test_slow_helper_is_killed(self):
        t0 = time.monotonic()
        self.login_fails("slow", PASSWORD, "UNAVAILABLE")
        self.assertLess(time.monotonic() - t0, 50)  # killed, not the 60 s sleep
        self.server.wait_log("no answer within the helper_timeout")


class ExternalConfigTest(phtest.TempDirTest):
    def check(self, block):
        path = self.write("posthorn.conf", """state_dir %s
%s
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    auth &x
    storage &local_mailboxes
}
""" % (self.dir, block))
        return phtest.posthorn("check-config", config=path)

    def test_bad_configs_are_refused(self):
        for block, message in [
                ("auth.external x {\n}", "helper"),
                ("auth.external x {\n helper relative/path\n}", "absolute path"),
                ("auth.external x {\n helper /nonexistent/helper\n}", "/nonexistent/helper"),
                ("auth.external x {\n helper /bin/true\n perdomain yes\n}", "perdomain needs"),
        ]:
            with self.subTest(block=block):
                code, out, err = self.check(block)
                self.assertNotEqual(code, 0, out + err)
                self.assertIn(message, out + err)


if __name__ == "__main__":
    phtest.main()
