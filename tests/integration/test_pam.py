# SPDX-License-Identifier: MIT
"""auth.pam through the real binary over TLS, with real PAM: pam_wrapper and
its pam_matrix module (service files in a temporary directory, never
/etc/pam.d), in-process and through posthorn-pam-helper; the helper's
protocol; and, as root, a real system user against the stock pam_unix.

Every process that loads pam_wrapper gets PAM_WRAPPER=1 (without it the
wrapper spins) and a timeout. Skipped, with the reason, in a sanitizer
build: pam_wrapper cannot be preloaded ahead of AddressSanitizer."""
import base64
import glob
import imaplib
import os
import shutil
import signal
import ssl
import subprocess
import unittest

import phtest

HELPER = os.path.join(phtest.BUILD, "modules", "auth_pam", "posthorn-pam-helper")
PASSWORD = "pam-s3cret word"


def first(patterns):
    for p in patterns:
        found = sorted(glob.glob(p))
        if found:
            return found[0]
    return None


WRAPPER = first(["/usr/lib/*/libpam_wrapper.so", "/usr/lib64/libpam_wrapper.so",
                 "/usr/lib/libpam_wrapper.so", "/usr/local/lib/libpam_wrapper.so"])
MATRIX = first(["/usr/lib/*/pam_wrapper/pam_matrix.so", "/usr/lib64/pam_wrapper/pam_matrix.so",
                "/usr/lib/pam_wrapper/pam_matrix.so"])
SECURITY = ["/usr/lib/*/security/%s", "/lib/*/security/%s", "/usr/lib64/security/%s",
            "/lib64/security/%s", "/usr/lib/security/%s", "/lib/security/%s"]
PAM_UNIX = first([p % "pam_unix.so" for p in SECURITY])
PAM_DENY = first([p % "pam_deny.so" for p in SECURITY])


def why_skip():
    if phtest.SANITIZED:
        return "sanitizer build: pam_wrapper cannot be preloaded ahead of AddressSanitizer"
    if not (WRAPPER and MATRIX and PAM_DENY):
        return "libpam_wrapper.so / pam_matrix.so / pam_deny.so not found (apt-get install libpam-wrapper)"
    if not os.access(HELPER, os.X_OK):
        return "%s is not built" % HELPER
    return None


SKIP = why_skip()
if SKIP:
    print("SKIP: auth.pam integration tests: " + SKIP)


def insecure_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


MARK = "ph_test_pam"  # an empty service file that marks our wrapper copies


def clean_wrapper_dirs():
    """pam_wrapper copies the service files into /tmp/pam.X in every process
    it is preloaded into, and not every process removes its copy: remove
    those of these tests whose process is gone."""
    for d in glob.glob("/tmp/pam.?"):
        try:
            with open(os.path.join(d, "pid")) as f:
                pid = int(f.read().strip())
            if not os.path.exists(os.path.join(d, MARK)):
                continue
            try:
                os.kill(pid, 0)
                continue
            except ProcessLookupError:
                pass
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, ValueError):
            pass


def make_service_dir(parent, services):
    svc = os.path.join(parent, "pam.d")
    os.makedirs(svc)
    services = dict(services, **{MARK: ""})
    for name, text in services.items():
        with open(os.path.join(svc, name), "w") as f:
            f.write(text)
    return svc


class PamDirTest(phtest.TempDirTest):
    def tearDown(self):
        super().tearDown()
        clean_wrapper_dirs()


def pam_env(service_dir):
    e = phtest.env()
    e.update({"LD_PRELOAD": WRAPPER, "PAM_WRAPPER": "1",
              "PAM_WRAPPER_SERVICE_DIR": service_dir})
    return e


class PamServer(phtest.Server):
    """posthorn run with pam_wrapper preloaded."""

    def __init__(self, config_path, service_dir, preload=True):
        e = pam_env(service_dir)
        if not preload:
            # The wrapper for the helper shim to preload, not for posthorn.
            e["PH_TEST_WRAPPER"] = e.pop("LD_PRELOAD")
        super().__init__(config_path, e)


class PamBase(PamDirTest):
    """A pam_matrix stack as the service `posthorn`, so that the seed's bare
    `auth pam` is what the server runs."""
    auth = "auth pam"
    maps = "auth_map identity\n    storage_map identity"

    def setUp(self):
        super().setUp()
        os.makedirs(os.path.join(self.dir, "state"))
        db = self.write("passdb", "alice:%s:posthorn\ncarol:%s:elsewhere\n" % (PASSWORD, PASSWORD))
        self.svc = make_service_dir(self.dir, self.services(db))
        self.conf = self.write("posthorn.conf", """
state_dir %(d)s/state
tls self_signed
storage.sqlite local_mailboxes { }
imap tls://127.0.0.1:0 {
    %(auth)s
    storage &local_mailboxes
    %(maps)s
    auth_fail_delay 0ms
}
""" % {"d": self.dir, "auth": self.auth % {"d": self.dir}, "maps": self.maps})
        self.server = PamServer(self.conf, self.svc, preload=self.preload)
        self.servers.append(self.server)
        self.port = self.server.port

    preload = True

    def services(self, db):
        m = "%s passdb=%s" % (MATRIX, db)
        return {"posthorn": "auth required %s\naccount required %s\n" % (m, m),
                "other": "auth required %s\naccount required %s\n" % (PAM_DENY, PAM_DENY)}

    def client(self):
        c = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=insecure_context(), timeout=30)
        self.addCleanup(c.sock.close)
        return c

    def assert_login_fails(self, user, password):
        with self.assertRaisesRegex(imaplib.IMAP4.error, "AUTHENTICATIONFAILED"):
            self.client().login(user, password)

    def assert_plain_fails(self, user, password):
        c = self.client()
        with self.assertRaisesRegex(imaplib.IMAP4.error, "AUTHENTICATIONFAILED"):
            c.authenticate("PLAIN", lambda _: b"\0" + user.encode() + b"\0" + password.encode())



class PamTest(PamBase):
    """The seed's config shape: `auth pam`, identity maps, over TLS."""

    def test_login_right_password(self):
        c = self.client()
        typ, data = c.login("alice", PASSWORD)
        self.assertEqual(typ, "OK")
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()
        self.assertIn("event=login result=ok user=alice", self.server.log_text())

    def test_login_wrong_password(self):
        self.assert_login_fails("alice", PASSWORD + "x")

    def test_login_unknown_user(self):
        self.assert_login_fails("mallory", PASSWORD)

    def test_login_account_refused(self):
        # Right password; pam_matrix's account check allows carol elsewhere.
        self.assert_login_fails("carol", PASSWORD)

    def test_authenticate_plain(self):
        c = self.client()
        typ, data = c.authenticate("PLAIN", lambda _: b"\0alice\0" + PASSWORD.encode())
        self.assertEqual(typ, "OK")
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()

    def test_authenticate_plain_wrong_password(self):
        self.assert_plain_fails("alice", "nope")
        self.assert_plain_fails("mallory", PASSWORD)

    def test_password_never_logged(self):
        self.client().login("alice", PASSWORD)
        self.assert_login_fails("alice", PASSWORD + "-wrong")
        self.assertNotIn("s3cret", self.server.log_text())


    def test_concurrent_logins(self):
        # PAM runs on the endpoint's workers, one handle per check.
        import threading
        results = []

        def login(user, password):
            c = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=insecure_context(), timeout=30)
            try:
                results.append((user, password == PASSWORD, c.login(user, password)[0]))
                c.logout()
            except imaplib.IMAP4.error:
                results.append((user, password == PASSWORD, "NO"))
                c.sock.close()

        threads = [threading.Thread(target=login, args=("alice", PASSWORD if i % 2 else "bad"))
                   for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(sorted(results), [("alice", False, "NO")] * 4 + [("alice", True, "OK")] * 4)


class PamMappedTest(PamBase):
    """PAM sees the name after auth_map; storage_map names the account."""
    maps = "auth_map email_localpart\n    storage_map identity"

    def test_login_right_password(self):
        c = self.client()
        self.assertEqual(c.login("alice@example.org", PASSWORD)[0], "OK")
        c.logout()
        log = self.server.log_text()
        self.assertIn("account_created account=alice@example.org", log)
        self.assertIn("event=login result=ok user=alice@example.org", log)

    def test_unmapped_name_never_reaches_pam(self):
        # email_localpart has no entry for a bare name: refused before PAM.
        self.assert_login_fails("alice", PASSWORD)


class PamDelayTest(PamBase):
    """PAM's failure delay (pam_faildelay) holds one worker, not the server;
    a success carries no delay of the module's own."""
    # io_debug: the log says when the server has read the failing LOGIN.
    maps = PamBase.maps + "\n    io_debug yes"

    def services(self, db):
        s = super().services(db)
        delay = first([p % "pam_faildelay.so" for p in SECURITY])
        if delay is None:
            self.skipTest("pam_faildelay.so not found")
        s["posthorn"] = "auth optional %s delay=4000000\n" % delay + s["posthorn"]
        return s

    def test_failed_login_waits_alone(self):
        import threading
        import time
        failed = {}

        def fail():
            t0 = time.time()
            c = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=insecure_context(), timeout=30)
            try:
                c.login("alice", "wrong")
            except imaplib.IMAP4.error as e:
                failed["error"] = str(e)
            failed["seconds"] = time.time() - t0
            c.sock.close()

        t = threading.Thread(target=fail)
        t.start()
        # From here a worker sits in PAM's delay for the failed login.
        self.server.wait_log("LOGIN alice <masked>")
        c = self.client()
        self.assertEqual(c.login("alice", PASSWORD)[0], "OK")
        self.assertTrue(t.is_alive(), "the failed login should still be waiting")
        t.join(30)
        self.assertIn("AUTHENTICATIONFAILED", failed["error"])
        # Linux-PAM randomizes a fail delay around its value (a rough
        # Gaussian, seen 34% short of it here): 4 s waits well over 1 s.
        self.assertGreaterEqual(failed["seconds"], 1.0)


class PamHelperTest(PamTest):
    """The same through posthorn-pam-helper (a logging shim in front of the
    helper built in the tree proves each check went through it)."""
    auth = """auth pam {
        use_helper yes
        helper %(d)s/helper.sh
        debug
    }"""
    preload = False

    def services(self, db):
        self.calls = os.path.join(self.dir, "helper.calls")
        # Every process pam_wrapper is preloaded into copies the service
        # files into a /tmp/pam.X directory it picks without a lock, so
        # processes started at the same instant can take each other's (a
        # race in the wrapper, not in PAM or posthorn). So posthorn and
        # this shell run without it, and only the helper, one at a time
        # under flock, runs with it.
        shim = self.write("helper.sh", '#!/bin/sh\necho "$*" >> %s\n'
                          'exec flock %s env LD_PRELOAD="$PH_TEST_WRAPPER" %s "$@"\n'
                          % (self.calls, os.path.join(self.dir, "helper.lock"), HELPER))
        os.chmod(shim, 0o755)
        return super().services(db)

    def helper_calls(self):
        try:
            with open(self.calls) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def test_login_right_password(self):
        super().test_login_right_password()
        self.assertEqual(self.helper_calls(), ["posthorn"])
        self.assertIn("mode=helper user=alice result=ok", self.server.log_text())

    def test_login_wrong_password(self):
        super().test_login_wrong_password()
        self.assertEqual(self.helper_calls(), ["posthorn"])
        self.assertIn("mode=helper user=alice result=failed", self.server.log_text())


class HelperProtocolTest(PamDirTest):
    """posthorn-pam-helper on its own: two bounded lines in, 0/1/2 out."""

    def setUp(self):
        super().setUp()
        db = self.write("passdb", "alice:%s:posthorn\n" % PASSWORD)
        m = "%s passdb=%s" % (MATRIX, db)
        self.svc = make_service_dir(self.dir, {
            "posthorn": "auth required %s\naccount required %s\n" % (m, m),
            "other": "auth required %s\naccount required %s\n" % (PAM_DENY, PAM_DENY)})

    def run_helper(self, data, *args):
        p = subprocess.run([HELPER] + list(args), input=data, capture_output=True,
                           env=pam_env(self.svc), timeout=30)
        return p.returncode, p.stderr.decode(errors="replace")

    def test_accepts_and_rejects(self):
        self.assertEqual(self.run_helper(b"alice\n" + PASSWORD.encode() + b"\n")[0], 0)
        self.assertEqual(self.run_helper(b"alice\n" + PASSWORD.encode() + b"\n", "posthorn")[0], 0)
        rc, err = self.run_helper(b"alice\nwrong\n")
        self.assertEqual(rc, 1)
        self.assertIn("posthorn-pam-helper: Authentication failure", err)
        self.assertEqual(self.run_helper(b"bob\nwrong\n")[0], 1)

    def test_service_from_argv(self):
        # `other` is pam_deny: the right password is refused there.
        self.assertEqual(self.run_helper(b"alice\n" + PASSWORD.encode() + b"\n", "other")[0], 1)

    def test_malformed_input_is_an_error(self):
        cases = [
            (b"alice\n" + PASSWORD.encode(), "input ends inside the password"),
            (b"alice", "input ends inside the username"),
            (b"", "input ends inside the username"),
            (b"al\0ice\npw\n", "NUL byte in the username"),
            (b"alice\np\0w\n", "NUL byte in the password"),
            (b"a" * 257 + b"\npw\n", "username longer than 256 bytes"),
            (b"alice\n" + b"p" * 1025 + b"\n", "password longer than 1024 bytes"),
            (b"alice\npw\nmore\n", "extra input after the password"),
            (b"\npw\n", "empty username"),
        ]
        for data, why in cases:
            rc, err = self.run_helper(data)
            self.assertEqual(rc, 2, (data, err))
            self.assertIn("posthorn-pam-helper: " + why, err)
            self.assertNotIn("pw", err.replace("password", ""))

    def test_bad_arguments_are_an_error(self):
        for args in (["../etc/shadow"], [".hidden"], [""], ["a", "b"], ["x" * 65]):
            rc, err = self.run_helper(b"alice\npw\n", *args)
            self.assertEqual(rc, 2, args)
            self.assertIn("posthorn-pam-helper: ", err)


class SystemUserTest(PamDirTest):
    """A real account made with useradd + chpasswd, checked by the stock
    pam_unix through the helper (service file in a temporary directory,
    given to the helper through pam_wrapper; /etc/pam.d is not touched)."""

    def test_system_user_logs_in_through_pam_unix(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to create a system user (useradd)")
        for tool in ("useradd", "userdel", "chpasswd"):
            if not any(os.access(os.path.join(d, tool), os.X_OK)
                       for d in ("/usr/sbin", "/sbin", "/usr/bin")):
                self.skipTest("%s not installed" % tool)
        if PAM_UNIX is None:
            self.skipTest("pam_unix.so not found")
        user = "phpam%d" % os.getpid()
        password = "Unix-pw %d" % os.getpid()
        os.makedirs(os.path.join(self.dir, "state"))
        svc = make_service_dir(self.dir, {
            "posthorn_unix": "auth required %s\naccount required %s\n" % (PAM_UNIX, PAM_UNIX),
            "other": "auth required %s\naccount required %s\n" % (PAM_DENY, PAM_DENY)})
        conf = self.write("posthorn.conf", """
state_dir %(d)s/state
tls self_signed
storage.sqlite local_mailboxes { }
imap tls://127.0.0.1:0 {
    auth pam {
        service posthorn_unix
        use_helper yes
        helper %(helper)s
    }
    storage &local_mailboxes
    auth_map identity
    storage_map identity
    auth_fail_delay 0ms
}
""" % {"d": self.dir, "helper": HELPER})
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_PRELOAD", "PAM_WRAPPER"))}
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", user], check=True,
                       env=env, timeout=60, capture_output=True)
        try:
            subprocess.run(["chpasswd"], input=("%s:%s\n" % (user, password)).encode(),
                           check=True, env=env, timeout=60, capture_output=True)
            server = PamServer(conf, svc)
            self.servers.append(server)
            port = server.port
            c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=insecure_context(), timeout=30)
            self.assertEqual(c.login(user, password)[0], "OK")
            self.assertEqual(c.select("INBOX")[0], "OK")
            c.logout()
            c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=insecure_context(), timeout=30)
            with self.assertRaisesRegex(imaplib.IMAP4.error, "AUTHENTICATIONFAILED"):
                c.login(user, password + "x")
            c.shutdown()
            c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=insecure_context(), timeout=30)
            typ, _ = c.authenticate("PLAIN", lambda _: b"\0" + user.encode() + b"\0" + password.encode())
            self.assertEqual(typ, "OK")
            c.logout()
        finally:
            subprocess.run(["userdel", "-f", user], env=env, timeout=60, capture_output=True)


if SKIP:
    for _cls in (PamDirTest, PamBase, PamTest, PamMappedTest, PamDelayTest, PamHelperTest, HelperProtocolTest, SystemUserTest):
        globals()[_cls.__name__] = unittest.skip(SKIP)(_cls)
    del _cls

if __name__ == "__main__":
    signal.alarm(600)  # a wedged PAM stack ends the run instead of hanging it
    phtest.main()
