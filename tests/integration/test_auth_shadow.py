# SPDX-License-Identifier: MIT
"""auth.shadow through the real binary: in-process against a shadow file
of the test's (shadow(5): locked, expired and must-change entries are
refused), and, as root, through posthorn-pam-helper --shadow against a real
system user in /etc/shadow."""
import imaplib
import os
import subprocess
import unittest

import phtest

HELPER = os.path.join(phtest.BUILD, "modules", "auth_pam", "posthorn-pam-helper")
PASSWORD = "shadow s3cret-pw"


def hash_of(password, method="sha512-crypt"):
    rc, out, err = phtest.posthorn("hash", "--hash", method, "-p", password)
    assert rc == 0, err
    return out.strip()


class ShadowBase(phtest.TempDirTest):
    auth = "auth shadow { shadow_file %(shadow)s }"

    def setUp(self):
        super().setUp()
        os.makedirs(os.path.join(self.dir, "state"))
        self.hash = hash_of(PASSWORD)
        yes = hash_of(PASSWORD, "yescrypt")
        # name:hash:lastchg:min:max:warn:inactive:expire:  (days since 1970)
        lines = [
            "root:*:19000:0:99999:7:::",
            "alice:%s:19000:0:99999:7:::" % self.hash,
            "a malformed line, skipped as getspnam skips it",
            "yves:%s:19000::::::" % yes,
            "bob:!%s:19000:0:99999:7:::" % self.hash,       # locked
            "carol:%s:19000:0:99999:7::1:" % self.hash,     # account expired 1970
            "dave:%s:1:0:1:7:0::" % self.hash,              # password expired
            "erin:%s:0:0:99999:7:::" % self.hash,           # must change first
            "frank:*:19000:0:99999:7:::",                   # no password login
        ]
        self.shadow = self.write("shadow", "\n".join(lines) + "\n")
        self.conf = self.write("posthorn.conf", """
state_dir %(d)s/state
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    %(auth)s
    storage &local_mailboxes
    auth_fail_delay 0ms
}
""" % {"d": self.dir, "auth": self.auth % {"shadow": self.shadow}})
        self.server = self.start(self.conf)

    def client(self):
        c = imaplib.IMAP4("127.0.0.1", self.server.port, timeout=60)
        self.addCleanup(c.sock.close)
        return c

    def login_fails(self, user, password, code="AUTHENTICATIONFAILED"):
        with self.assertRaisesRegex(imaplib.IMAP4.error, code):
            self.client().login(user, password)


class ShadowTest(ShadowBase):
    def test_right_password(self):
        for user in ("alice", "yves"):
            c = self.client()
            self.assertEqual(c.login(user, PASSWORD)[0], "OK", user)
            self.assertEqual(c.select("INBOX")[0], "OK")
            c.logout()

    def test_wrong_password_and_unknown_user(self):
        self.login_fails("alice", PASSWORD + "x")
        self.login_fails("mallory", PASSWORD)
        self.login_fails("root", "")

    def test_locked_expired_and_no_password_refused(self):
        # shadow(5): "!" locks the password; the expiration date ends the
        # account; a password past max+inactive days, or lastchg 0 (change
        # it first), does not log in; "*" has no password login.
        for user in ("bob", "carol", "dave", "erin", "frank"):
            with self.subTest(user=user):
                self.login_fails(user, PASSWORD)

    def test_password_never_logged(self):
        self.client().login("alice", PASSWORD)
        self.login_fails("alice", PASSWORD + "-wrong")
        self.assertNotIn("s3cret", self.server.log_text())


class ShadowMissingFileTest(ShadowBase):
    auth = "auth shadow { shadow_file %(shadow)s.missing }"

    def test_unreadable_file_is_unavailable(self):
        self.login_fails("alice", PASSWORD, "UNAVAILABLE")
        self.server.wait_log("cannot open the shadow file")


class ShadowConfigTest(phtest.TempDirTest):
    def test_helper_reads_etc_shadow_only(self):
        path = self.write("posthorn.conf", """state_dir %s
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    auth shadow {
        use_helper yes
        helper /bin/true
        shadow_file /tmp/other
    }
    storage &local_mailboxes
}
""" % self.dir)
        code, out, err = phtest.posthorn("check-config", config=path)
        self.assertNotEqual(code, 0)
        self.assertIn("a setuid program takes no file name", out + err)


class ShadowHelperTest(phtest.TempDirTest):
    """posthorn-pam-helper --shadow reads /etc/shadow: a real system user,
    made and removed by the test (root only)."""

    def test_system_user_through_helper(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to create a system user (useradd)")
        for tool in ("useradd", "userdel", "chpasswd"):
            if not any(os.access(os.path.join(d, tool), os.X_OK)
                       for d in ("/usr/sbin", "/sbin", "/usr/bin")):
                self.skipTest("%s not installed" % tool)
        if not os.access(HELPER, os.X_OK):
            self.skipTest("%s is not built" % HELPER)
        user = "phsh%d" % os.getpid()
        password = "Shadow-pw %d" % os.getpid()
        os.makedirs(os.path.join(self.dir, "state"))
        conf = self.write("posthorn.conf", """
state_dir %(d)s/state
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    auth shadow {
        use_helper yes
        helper %(helper)s
    }
    storage &local_mailboxes
    auth_fail_delay 0ms
}
""" % {"d": self.dir, "helper": HELPER})
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_PRELOAD", "PAM_WRAPPER"))}
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", user], check=True,
                       env=env, timeout=60, capture_output=True)
        try:
            subprocess.run(["chpasswd"], input=("%s:%s\n" % (user, password)).encode(),
                           check=True, env=env, timeout=60, capture_output=True)
            server = self.start(conf)
            c = imaplib.IMAP4("127.0.0.1", server.port, timeout=60)
            self.assertEqual(c.login(user, password)[0], "OK")
            c.logout()
            c = imaplib.IMAP4("127.0.0.1", server.port, timeout=60)
            with self.assertRaisesRegex(imaplib.IMAP4.error, "AUTHENTICATIONFAILED"):
                c.login(user, password + "x")
            c.shutdown()
            # The helper's own protocol: a file name is never an argument.
            r = subprocess.run([HELPER, "--shadow", "/etc/passwd"], input=b"x\ny\n",
                               capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 2)
        finally:
            subprocess.run(["userdel", user], env=env, timeout=60, capture_output=True)


if __name__ == "__main__":
    phtest.main()
