# SPDX-License-Identifier: MIT
"""SIGHUP while clients are connected: a changed table file, a new
certificate, an LDAP URL that now reaches a directory and a listener added
to the endpoint all take effect, while an established session in IDLE goes
on and still hears of new mail (posthorn(1), SIGNALS, says what needs a
restart)."""
import imaplib
import os
import signal
import socket
import ssl
import unittest

import phtest
import test_ldap
from test_imap import PASSWORD, password_hash

MSG = b"From: a@example.org\r\nSubject: reload\r\n\r\nhello\r\n"


def insecure_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def setUpModule():
    if not os.path.exists(os.path.join(phtest.BUILD, "modules", ".libs", "auth_ldap.so")):
        raise unittest.SkipTest("auth.ldap is not built (configure --with-ldap)")
    test_ldap.setUpModule()


def tearDownModule():
    test_ldap.tearDownModule()


class ReloadTest(phtest.TempDirTest):
    def make_cert(self, cn):
        return phtest.make_cert(self.dir, cn)

    def config(self, listeners, ldap_url):
        return self.write("posthorn.conf", """
state_dir %(d)s/state
tls %(cert)s %(key)s
auth.ldap dir {
    urls %(url)s
    dn_template "uid={username},ou=people,%(suffix)s"
    connect_timeout 5s
}
storage.sqlite s { }
imap %(listeners)s {
    auth pass_table file %(users)s
    auth &dir
    storage &s
    auth_fail_delay 0ms
}
""" % {"d": self.dir, "cert": self.cert, "key": self.key, "url": ldap_url,
       "suffix": test_ldap.SUFFIX, "listeners": listeners, "users": self.users})

    def tls_client(self, port):
        c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=insecure_context(), timeout=60)
        self.addCleanup(c.sock.close)
        return c

    def peer_pem(self, port):
        c = self.tls_client(port)
        pem = ssl.DER_cert_to_PEM_cert(c.sock.getpeercert(binary_form=True))
        c.logout()
        return pem

    def test_sighup_applies_changes_while_idle_goes_on(self):
        os.makedirs(os.path.join(self.dir, "state"))
        self.cert, self.key = self.make_cert("one.example")
        self.users = self.write("users", "bob: %s\n" % password_hash())
        dead = test_ldap.free_port()  # nothing listens there
        self.config("tls://127.0.0.1:0", "ldap://127.0.0.1:%d" % dead)
        server = self.start(os.path.join(self.dir, "posthorn.conf"))
        tls_port = server.port_for("tls")

        # Before: carol is unknown; the directory cannot be reached.
        with self.assertRaisesRegex(imaplib.IMAP4.error, "AUTHENTICATIONFAILED|UNAVAILABLE"):
            self.tls_client(tls_port).login("carol", PASSWORD)
        with self.assertRaisesRegex(imaplib.IMAP4.error, "UNAVAILABLE"):
            self.tls_client(tls_port).login("alice", test_ldap.PASSWORD)
        pem_before = self.peer_pem(tls_port)

        # A session in IDLE over TLS, from before the reload.
        raw = ssl.create_default_context()
        raw.check_hostname = False
        raw.verify_mode = ssl.CERT_NONE
        idle = raw.wrap_socket(socket.create_connection(("127.0.0.1", tls_port), 60))
        f = idle.makefile("rb")
        self.addCleanup(idle.close)
        f.readline()
        idle.sendall(b'a LOGIN bob "%s"\r\n' % PASSWORD.encode())
        while not f.readline().startswith(b"a OK"):
            pass
        idle.sendall(b"b SELECT INBOX\r\n")
        while not f.readline().startswith(b"b OK"):
            pass
        idle.sendall(b"c IDLE\r\n")
        self.assertTrue(f.readline().startswith(b"+ "))

        # The changes: a user in the table file, a new certificate, the
        # directory's real URL, a second listener.
        with open(self.users, "a") as uf:
            uf.write("carol: %s\n" % password_hash())
        self.make_cert("two.example")
        self.config("tls://127.0.0.1:0 tcp://127.0.0.1:0", test_ldap.slapd.url)
        server.signal(signal.SIGHUP)
        server.wait_log("configuration reloaded")

        self.assertEqual(server.port_for("tls"), tls_port)  # kept
        tcp_port = server.port_for("tcp")
        self.assertIsNotNone(tcp_port)
        c = imaplib.IMAP4("127.0.0.1", tcp_port, timeout=60)
        self.addCleanup(c.sock.close)
        c.starttls(ssl_context=insecure_context())
        self.assertEqual(c.login("carol", PASSWORD)[0], "OK")
        c.logout()
        self.assertEqual(self.tls_client(tls_port).login("alice", test_ldap.PASSWORD)[0], "OK")
        pem_after = self.peer_pem(tls_port)
        self.assertNotEqual(pem_before, pem_after)
        with open(self.cert) as cf:
            self.assertEqual(pem_after.split(), cf.read().split())

        # The IDLE session from before hears of mail delivered after.
        c = imaplib.IMAP4("127.0.0.1", tcp_port, timeout=60)
        self.addCleanup(c.sock.close)
        c.starttls(ssl_context=insecure_context())
        c.login("bob", PASSWORD)
        c.append("INBOX", None, None, MSG)
        c.logout()
        self.assertEqual(f.readline(), b"* 1 EXISTS\r\n")
        idle.sendall(b"DONE\r\n")
        line = f.readline()
        while line.startswith(b"* "):
            line = f.readline()
        self.assertEqual(line, b"c OK IDLE terminated\r\n")


if __name__ == "__main__":
    phtest.main()
