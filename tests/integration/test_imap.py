# SPDX-License-Identifier: MIT
"""The imap endpoint through the real binary: Python's imaplib for the
ordinary paths, raw sockets for exact bytes on the wire."""
import imaplib
import os
import re
import socket
import subprocess
import threading
import time

import phtest

PASSWORD = "s3cret pw"
# The storage the suite runs on: test_imap_pgsql.py sets "pgsql".
STORAGE = "sqlite"
_hash = None


def password_hash():
    global _hash
    if _hash is None:
        rc, out, err = phtest.posthorn("hash", "-p", PASSWORD)
        assert rc == 0, err
        _hash = out.strip()
    return _hash


class Raw:
    """A raw IMAP connection: send bytes, read lines."""

    def __init__(self, port=None, path=None):
        if path:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(30)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        self.sock.sendall(data)

    def send_apart(self, server, chunks):
        """Sends each chunk once the server has read the one before, so that
        it gets them in as many reads: its io_debug lines (which the server
        must have on) name this connection's port and say what it read."""
        mine = "port=%d dir=C" % self.sock.getsockname()[1]
        seen = server.count_log(mine)
        for chunk in chunks:
            self.send(chunk)
            # io_debug writes a line per line of what it read.
            seen += chunk.count(b"\n") + (not chunk.endswith(b"\n"))
            server.wait_log(mine, count=seen)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; got %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def until(self, tag):
        """Reads up to and including the tagged line; returns all bytes."""
        out = b""
        while True:
            line = self.line()
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m and not line.startswith(b"+"):
                line += self.read_exact(int(m.group(1)))
                out += line
                continue
            out += line
            if line.startswith(tag.encode() + b" "):
                return out

    def cmd(self, tag, text):
        self.send(("%s %s\r\n" % (tag, text)).encode())
        return self.until(tag)

    def login(self, user="bob"):
        r = self.cmd("L", 'LOGIN %s "%s"' % (user, PASSWORD))
        assert b"L OK" in r, r
        return r

    def close(self):
        self.sock.close()


class ImapTest(phtest.TempDirTest):
    extra = ""
    storage_extra = ""
    users = ("bob",)
    fail_delay = "50ms"

    def setUp(self):
        super().setUp()
        self.sock_path = os.path.join(self.dir, "imap.sock")
        entries = "\n        ".join("entry %s %s" % (u, password_hash()) for u in self.users)
        self.conf = self.write("posthorn.conf", """
state_dir %(d)s/state
storage.sqlite local_mailboxes { %(storage_extra)s }
imap tcp://127.0.0.1:0 unix://%(sock)s {
    auth pass_table static {
        %(entries)s
    }
    storage &local_mailboxes
    insecure_auth yes
    auth_fail_delay %(fail_delay)s
    %(extra)s
}
""" % {"d": self.dir, "sock": self.sock_path, "entries": entries, "fail_delay": self.fail_delay,
       "extra": self.extra, "storage_extra": self.storage_extra})
        os.makedirs(os.path.join(self.dir, "state"), exist_ok=True)
        self.server = self.start(self.conf)

    @property
    def port(self):
        """The port of self.server, read again each time: a test that starts
        the server anew (a changed config) only sets self.server."""
        return self.server.port

    def raw(self):
        r = Raw(self.port)
        self.addCleanup(r.close)
        return r

    def client(self, user="bob"):
        c = imaplib.IMAP4("127.0.0.1", self.port)
        c.login(user, PASSWORD)
        self.addCleanup(self._logout, c)
        return c

    @staticmethod
    def _logout(c):
        try:
            c.logout()
        except Exception:
            pass


CAPS = (b"IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE CHILDREN UNSELECT MOVE "
        b"UIDPLUS MULTIAPPEND CATENATE SPECIAL-USE CREATE-SPECIAL-USE CONDSTORE QRESYNC ESEARCH SEARCHRES WITHIN "
        b"SORT SORT=DISPLAY ESORT CONTEXT=SEARCH CONTEXT=SORT PARTIAL LIST-EXTENDED LIST-STATUS STATUS=SIZE UTF8=ACCEPT "
        b"THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS BINARY OBJECTID PREVIEW "
        b"QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE QUOTA=RES-MAILBOX APPENDLIMIT")


class SessionTest(ImapTest):
    def test_greeting_exact(self):
        r = self.raw()
        self.assertEqual(r.greeting, b"* OK [CAPABILITY " + CAPS + b" AUTH=PLAIN] posthorn ready\r\n")

    def test_capability_noop_logout(self):
        r = self.raw()
        self.assertEqual(r.cmd("a", "CAPABILITY"),
                         b"* CAPABILITY " + CAPS + b" AUTH=PLAIN\r\na OK CAPABILITY completed\r\n")
        self.assertEqual(r.cmd("b", "NOOP"), b"b OK NOOP completed\r\n")
        self.assertEqual(r.cmd("c", "LOGOUT"), b"* BYE Logging out\r\nc OK LOGOUT completed\r\n")
        self.assertEqual(r.sock.recv(10), b"")

    def test_unknown_and_bad_syntax(self):
        r = self.raw()
        self.assertEqual(r.cmd("a", "FROB"), b'a BAD Unknown command "FROB"\r\n')
        self.assertEqual(r.cmd("b", "NOOP extra"), b"b BAD Unexpected arguments\r\n")
        r.send(b"c LOGIN \"unterminated\r\n")
        self.assertTrue(r.line().startswith(b"c BAD "))
        self.assertEqual(r.cmd("d", "NOOP"), b"d OK NOOP completed\r\n")

    def test_wrong_state(self):
        r = self.raw()
        self.assertEqual(r.cmd("a", "SELECT INBOX"), b"a BAD Log in first\r\n")
        self.assertEqual(r.cmd("b", "FETCH 1 FLAGS"), b"b BAD Log in first\r\n")
        r.login()
        self.assertEqual(r.cmd("c", "LOGIN bob x"), b"c BAD Already logged in\r\n")
        self.assertEqual(r.cmd("d", "FETCH 1 FLAGS"), b"d BAD No mailbox selected\r\n")
        self.assertEqual(r.cmd("e", "CLOSE"), b"e BAD No mailbox selected\r\n")

    def test_pipelining_in_one_packet(self):
        r = self.raw()
        r.send(b"a NOOP\r\nb NOOP\r\nc CAPABILITY\r\n")
        out = r.until("c")
        self.assertTrue(out.startswith(b"a OK NOOP completed\r\nb OK NOOP completed\r\n* CAPABILITY "), out)

    def test_sync_literal_gets_continuation(self):
        r = self.raw()
        r.send(b"a LOGIN {3}\r\n")
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(("bob {%d}\r\n" % len(PASSWORD)).encode())
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(PASSWORD.encode() + b"\r\n")
        self.assertTrue(r.line().startswith(b"a OK [CAPABILITY IMAP4rev1 "))

    def test_nonsync_literal(self):
        r = self.raw()
        r.send(("a LOGIN {3+}\r\nbob {%d+}\r\n%s\r\n" % (len(PASSWORD), PASSWORD)).encode())
        self.assertTrue(r.line().startswith(b"a OK [CAPABILITY"))

    def test_literal_too_big_for_a_string(self):
        r = self.raw()
        r.send(b"a LOGIN bob {100000}\r\n")
        self.assertTrue(r.line().startswith(b"a BAD "))
        self.assertEqual(r.cmd("b", "NOOP"), b"b OK NOOP completed\r\n")

    def test_uid_unknown_subcommand(self):
        r = self.raw()
        r.login()
        r.cmd("s", "SELECT INBOX")
        self.assertEqual(r.cmd("a", "UID FROB 1"), b'a BAD Unknown UID command "FROB"\r\n')

    def test_line_too_long(self):
        r = self.raw()
        r.send(b"a NOOP " + b"x" * 70000 + b"\r\n")
        line = r.line()
        self.assertTrue(line.startswith(b"a BAD") or line.startswith(b"* BAD"), line)

    def test_unix_socket(self):
        r = Raw(path=self.sock_path)
        self.addCleanup(r.close)
        self.assertTrue(r.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1"))
        r.login()

    def test_starttls_without_tls_configured(self):
        r = self.raw()
        self.assertEqual(r.cmd("a", "STARTTLS"), b"a NO TLS is not available\r\n")

    def test_id_enable_namespace(self):
        r = self.raw()
        self.assertEqual(r.cmd("a", 'ID ("name" "test")'), b'* ID ("name" "posthorn")\r\na OK ID completed\r\n')
        r.login()
        self.assertEqual(r.cmd("b", "ENABLE FOO"), b"* ENABLED\r\nb OK ENABLE completed\r\n")
        self.assertEqual(r.cmd("c", "NAMESPACE"),
                         b'* NAMESPACE (("" ".")) NIL NIL\r\nc OK NAMESPACE completed\r\n')


class LoginTest(ImapTest):
    extra = "workers 1"

    def test_login_ok_and_capability_after(self):
        r = self.raw()
        out = r.login()
        # After login: APPENDLIMIT from the storage (storage.sqlite: 32M),
        # and COMPRESS=DEFLATE, a command of the authenticated state (RFC
        # 4978 5: command-auth).
        self.assertEqual(out, b"L OK [CAPABILITY " + CAPS + b"=33554432 COMPRESS=DEFLATE] Logged in\r\n")
        self.server.wait_log("event=login result=ok user=bob client=127.0.0.1 mech=LOGIN")

    def test_clients_inside_authenticate_hold_no_worker(self):
        """One worker; three clients stop after AUTHENTICATE's "+" and
        another still logs in meanwhile, then they finish their exchange.
        (Were the worker held, the login would wait for the three: Raw's
        timeout fails it.)"""
        import base64
        waiting = []
        for i in range(3):
            r = self.raw()
            r.send(b"a%d AUTHENTICATE PLAIN\r\n" % i)
            self.assertEqual(r.line(), b"+ \r\n")
            waiting.append(r)
        other = self.raw()
        other.login()
        for i, r in enumerate(waiting):
            r.send(base64.b64encode(b"\0bob\0" + PASSWORD.encode()) + b"\r\n")
            self.assertTrue(r.until("a%d" % i).startswith(b"a%d OK [CAPABILITY" % i))

    def test_login_failure_logged_without_password(self):
        r = self.raw()
        self.assertEqual(r.cmd("a", "LOGIN bob wrongpass"),
                         b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
        self.assertEqual(r.cmd("b", "LOGIN nobody wrongpass"),
                         b"b NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
        self.server.wait_log("event=login result=failed user=bob client=127.0.0.1")
        self.server.wait_log("event=login result=failed user=nobody")
        self.assertNotIn("wrongpass", self.server.log_text())

    def test_failed_logins_slow_down(self):
        # The delay grows per client address, across connections.
        t0 = time.time()
        for i in range(4):
            self.raw().cmd("a%d" % i, "LOGIN bob bad")
        # 50 + 100 + 200 + 400 ms
        self.assertGreaterEqual(time.time() - t0, 0.7)
        self.raw().login()

    def test_max_auth_failures_per_connection(self):
        """The third failure on one connection (max_auth_failures 3) is
        answered, then the server says BYE and closes."""
        r = self.raw()
        for i in range(2):
            self.assertEqual(r.cmd("a%d" % i, "LOGIN bob bad"),
                             b"a%d NO [AUTHENTICATIONFAILED] Authentication failed\r\n" % i)
        r.send(b"b LOGIN bob bad\r\nc NOOP\r\n")
        self.assertEqual(r.line(), b"b NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
        self.assertEqual(r.line(), b"* BYE Too many authentication failures\r\n")
        with self.assertRaises(EOFError):
            r.line()
        self.server.wait_log("event=login result=failed user=bob", count=3)

    def test_authenticate_plain_sasl_ir(self):
        import base64
        r = self.raw()
        ir = base64.b64encode(b"\0bob\0" + PASSWORD.encode()).decode()
        self.assertTrue(r.cmd("a", "AUTHENTICATE PLAIN " + ir).startswith(b"a OK [CAPABILITY"))

    def test_authenticate_plain_continuation(self):
        import base64
        r = self.raw()
        r.send(b"a AUTHENTICATE PLAIN\r\n")
        self.assertEqual(r.line(), b"+ \r\n")
        r.send(base64.b64encode(b"bob\0bob\0" + PASSWORD.encode()) + b"\r\n")
        self.assertTrue(r.line().startswith(b"a OK [CAPABILITY"))

    def test_authenticate_plain_authzid_other(self):
        import base64
        r = self.raw()
        ir = base64.b64encode(b"alice\0bob\0" + PASSWORD.encode()).decode()
        self.assertEqual(r.cmd("a", "AUTHENTICATE PLAIN " + ir),
                         b"a NO [AUTHORIZATIONFAILED] Cannot log in as another user\r\n")

    def test_authenticate_cancel_and_bad_base64(self):
        r = self.raw()
        r.send(b"a AUTHENTICATE PLAIN\r\n")
        self.assertEqual(r.line(), b"+ \r\n")
        r.send(b"*\r\n")
        self.assertEqual(r.line(), b"a BAD Authentication cancelled\r\n")
        self.assertEqual(r.cmd("b", "AUTHENTICATE PLAIN !!!!"),
                         b"b BAD Invalid base64 in the SASL response\r\n")
        self.assertEqual(r.cmd("c", "AUTHENTICATE CRAM-MD5"),
                         b"c NO Unsupported authentication mechanism\r\n")

    def test_imaplib_login(self):
        c = self.client()
        typ, data = c.capability()
        self.assertEqual(typ, "OK")
        self.assertNotIn(b"AUTH=PLAIN", data[0])


class FailDelayTest(ImapTest):
    extra = "workers 1"
    fail_delay = "3s"

    def test_failed_login_delay_holds_no_worker(self):
        """One worker: while a client waits out its failed login's delay,
        another is served; the delayed answer and the command pipelined
        behind it come after."""
        r = self.raw()
        r.send(b"b LOGIN bob bad\r\nc NOOP\r\n")
        # The delay starts once the failure is logged.
        self.server.wait_log("event=login result=failed user=bob")
        other = self.raw()
        self.assertEqual(other.cmd("x", "NOOP"), b"x OK NOOP completed\r\n")
        r.sock.setblocking(False)
        with self.assertRaises(BlockingIOError, msg="the delayed answer came first"):
            r.sock.recv(1)
        r.sock.settimeout(30)
        self.assertEqual(r.line(), b"b NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
        self.assertEqual(r.line(), b"c OK NOOP completed\r\n")


class IoDebugTest(ImapTest):
    extra = "io_debug yes\n    sasl_login yes\n    debug yes"
    storage_extra = "debug yes"

    def test_command_split_byte_by_byte(self):
        r = self.raw()
        r.send_apart(self.server, [bytes([b]) for b in b"a1 NOOP\r\n"])
        self.assertEqual(r.line(), b"a1 OK NOOP completed\r\n")

    def test_append_literal_split_across_packets(self):
        r = self.raw()
        r.login()
        r.send(b"a APPEND INBOX {%d}\r\n" % len(MSG))
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send_apart(self.server, [MSG[i:i + 7] for i in range(0, len(MSG), 7)] + [b"\r\n"])
        self.assertRegex(r.line(), rb"^a OK \[APPENDUID \d+ 1\] APPEND completed\r\n$")
        r.cmd("s", "SELECT INBOX")
        out = r.cmd("f", "FETCH 1 BODY.PEEK[]")
        self.assertIn(MSG, out)

    def test_every_line_of_a_session_names_it(self):
        """Two sessions from one address, their lines interleaved: each
        io_debug line names the client's port, and every line logged for a
        session (connect, io, login, command, storage's own) ends with the
        same session=ID, another for each session."""
        a, b = self.raw(), self.raw()
        a.cmd("a1", "NOOP")
        b.cmd("b1", "NOOP")
        a.login()
        b.login()
        a.cmd("a2", "SELECT INBOX")
        a.cmd("a3", "SEARCH SUBJECT hello")
        b.cmd("b2", "NOOP")
        ports = [r.sock.getsockname()[1] for r in (a, b)]
        a.cmd("a4", "LOGOUT")
        a.close()
        self.server.wait_log("event=disconnect")
        log = self.server.log_text()
        ids = []
        for port in ports:
            found = set(re.findall(r"event=io client=127\.0\.0\.1 port=%d dir=[CS] data=.* "
                                   r"(session=\d+)$" % port, log, re.M))
            self.assertEqual(len(found), 1, (port, found, log))
            ids.append(found.pop())
        self.assertNotEqual(ids[0], ids[1])
        a_lines = [line.split(" ", 1)[1] for line in log.splitlines() if line.endswith(" " + ids[0])]
        # Each line's fields, the time aside; then what a sent and was told.
        self.assertEqual(a_lines[0], "level=info mod=imap event=connect client=127.0.0.1 port=%d "
                         "listen=tcp://127.0.0.1:0 %s" % (ports[0], ids[0]))
        self.assertIn('level=info mod=imap event=io client=127.0.0.1 port=%d dir=C data="a1 NOOP" %s'
                      % (ports[0], ids[0]), a_lines)
        self.assertIn('level=info mod=imap event=io client=127.0.0.1 port=%d dir=C '
                      'data="L LOGIN bob <masked>" %s' % (ports[0], ids[0]), a_lines)
        self.assertIn("level=info mod=imap event=login result=ok user=bob client=127.0.0.1 "
                      "mech=LOGIN %s" % ids[0], a_lines)
        # What follows a LOGIN is a command, not a secret.
        self.assertIn('level=info mod=imap event=io client=127.0.0.1 port=%d dir=C '
                      'data="a2 SELECT INBOX" %s' % (ports[0], ids[0]), a_lines)
        self.assertTrue(any(re.match(r"level=info mod=imap event=command client=127\.0\.0\.1 "
                                     r"user=bob command=SEARCH ms=\d+ result=OK %s$" % ids[0], line)
                            for line in a_lines), a_lines)
        # storage's own (the account made at the first login) too.
        self.assertTrue(any(line.startswith("level=info mod=storage.") for line in a_lines),
                        a_lines)
        self.assertEqual(a_lines[-1], "level=info mod=imap event=disconnect %s" % ids[0])
        # What names a's port belongs to a alone; b's lines have b's id.
        for line in log.splitlines():
            if "port=%d " % ports[0] in line:
                self.assertTrue(line.endswith(" " + ids[0]), line)
        self.assertFalse(any("port=%d " % ports[1] in line and not line.endswith(" " + ids[1])
                             for line in log.splitlines()))
        self.assertNotIn(PASSWORD, log)

    def test_io_debug_masks_secrets(self):
        import base64
        r = self.raw()
        r.login()
        r2 = self.raw()
        ir = base64.b64encode(b"\0bob\0" + PASSWORD.encode()).decode()
        r2.cmd("a", "AUTHENTICATE PLAIN " + ir)
        r3 = self.raw()
        r3.send(b"x AUTHENTICATE LOGIN\r\n")
        self.assertEqual(r3.line(), b"+ VXNlcm5hbWU6\r\n")
        r3.send(base64.b64encode(b"bob") + b"\r\n")
        self.assertEqual(r3.line(), b"+ UGFzc3dvcmQ6\r\n")
        r3.send(base64.b64encode(PASSWORD.encode()) + b"\r\n")
        self.assertTrue(r3.line().startswith(b"x OK"))
        r3.cmd("y", "NOOP")
        # A password in a literal, waited for or not (LITERAL+, in one
        # packet with what follows): masked, and the command after shown.
        r4 = self.raw()
        r4.send(b"a LOGIN bob {%d}\r\n" % len(PASSWORD))
        self.assertEqual(r4.line(), b"+ Ready for literal data\r\n")
        r4.send(PASSWORD.encode() + b"\r\n")
        self.assertTrue(r4.line().startswith(b"a OK"))
        r5 = self.raw()
        r5.send(b"c LOGIN bob {%d+}\r\n%s\r\nd NOOP\r\n" % (len(PASSWORD), PASSWORD.encode()))
        self.assertTrue(r5.until("d").endswith(b"d OK NOOP completed\r\n"))
        self.server.wait_log("data=\"y NOOP\"")
        self.server.wait_log("data=\"d NOOP\"")
        log = self.server.log_text()
        self.assertNotIn(PASSWORD, log)
        self.assertNotIn(ir, log)
        self.assertNotIn(base64.b64encode(PASSWORD.encode()).decode(), log)
        self.assertIn("AUTH=LOGIN", log)
        self.assertIn("<masked>", log)
        self.assertIn("event=command client=127.0.0.1 user=bob command=NOOP ms=", log)


class LoginDisabledTest(ImapTest):
    def setUp(self):
        self.extra = ""
        super().setUp()

    def test_logindisabled_without_tls(self):
        # insecure_auth no without TLS: LOGINDISABLED, NO with a reason.
        self.server.stop()
        self.servers.remove(self.server)
        with open(self.conf) as f:
            text = f.read().replace("insecure_auth yes", "insecure_auth no")
        with open(self.conf, "w") as f:
            f.write(text)
        self.server = self.start(self.conf)
        r = self.raw()
        self.assertIn(b" LOGINDISABLED]", r.greeting)
        self.assertNotIn(b"AUTH=", r.greeting)
        out = r.cmd("a", "LOGIN bob x")
        self.assertEqual(out, b"a NO [PRIVACYREQUIRED] Plaintext authentication is disabled: "
                              b"use STARTTLS or a TLS port first\r\n")
        self.server.wait_log("reason=\"plaintext authentication without TLS is disabled")


class StorageMapTest(ImapTest):
    users = ("user@example.org", "user@example.com")
    extra = "storage_map email_localpart"

    def test_two_addresses_share_one_account(self):
        a = self.client("user@example.org")
        a.create("Shared")
        b = self.client("user@example.com")
        typ, data = b.list()
        self.assertTrue(any(b'"Shared"' in d or b" Shared" in d for d in data), data)
        rc, out, err = phtest.posthorn("accounts", "list", "--config", self.conf)
        self.assertEqual(out, "user\n", err)


def insecure_context():
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class TlsServer(phtest.TempDirTest):
    """A server with tls self_signed: implicit TLS on tls://, STARTTLS on
    tcp://."""

    def setUp(self):
        super().setUp()
        self.conf = self.write("posthorn.conf", """
state_dir %(d)s/state
tls self_signed
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 tls://127.0.0.1:0 {
    auth pass_table static {
        entry bob %(hash)s
    }
    storage &local_mailboxes
    workers 2
    debug yes
}
""" % {"d": self.dir, "hash": password_hash()})
        os.makedirs(os.path.join(self.dir, "state"), exist_ok=True)
        self.server = self.start(self.conf)
        self.port = self.server.port_for("tcp")
        self.tls_port = self.server.port_for("tls")


class TlsTest(TlsServer):
    """Implicit TLS, STARTTLS, and LOGINDISABLED in the clear (insecure_auth
    defaults to no with TLS)."""

    def test_implicit_tls_login(self):
        c = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=insecure_context())
        self.assertNotIn(b"STARTTLS", c.welcome)
        self.assertIn(b"AUTH=PLAIN", c.welcome)
        c.login("bob", PASSWORD)
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()

    def test_silent_tls_clients_hold_no_worker(self):
        # Two workers; five connections that never start their handshake.
        # Were a worker held by one, the login below would time out.
        silent = [socket.create_connection(("127.0.0.1", self.tls_port)) for _ in range(5)]
        for sock in silent:
            self.addCleanup(sock.close)
        self.server.wait_log("event=connect", count=5)
        c = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=insecure_context(), timeout=30)
        c.login("bob", PASSWORD)
        c.logout()

    def test_silent_starttls_clients_hold_no_worker(self):
        silent = []
        for _ in range(4):
            r = Raw(self.port)
            self.addCleanup(r.close)
            self.assertEqual(r.cmd("a", "STARTTLS"), b"a OK Begin TLS negotiation now\r\n")
            silent.append(r)
        c = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=insecure_context(), timeout=30)
        c.login("bob", PASSWORD)
        c.logout()

    def test_tls_clients_that_never_read_do_not_starve_the_others(self):
        # As test_hostile's NonReaderTest, over TLS: the worker waits inside
        # the TLS layer, which tells the endpoint (ph_tls_set_wait_hook).
        c = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=insecure_context(), timeout=30)
        c.login("bob", PASSWORD)
        big = b"From: a@example.org\r\nSubject: big\r\n\r\n" + (b"x" * 1022 + b"\r\n") * 1024
        self.assertEqual(c.append("INBOX", None, None, big)[0], "OK")
        c.logout()
        stuck = []
        try:
            for _ in range(3):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(("127.0.0.1", self.tls_port))
                t = insecure_context().wrap_socket(s)
                stuck.append(t)
                t.sendall(b'l LOGIN bob "%s"\r\ns SELECT INBOX\r\n' % PASSWORD.encode() +
                          b"f FETCH 1 BODY.PEEK[]\r\n" * 30)
            self.server.wait_log("event=worker_added", count=3)
            c = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=insecure_context(),
                                  timeout=30)
            c.login("bob", PASSWORD)
            self.assertEqual(c.select("INBOX")[0], "OK")
            c.logout()
        finally:
            for t in stuck:
                t.close()

    def test_reload_keeps_each_port_0_listener(self):
        """Port 0 asks the kernel for a port: the tcp:// and the tls://
        listener get one each, and a reload that changes the config keeps
        both sockets (no connection refused, the same ports)."""
        before = self.server.listeners
        self.assertEqual([(scheme, host) for scheme, host, _ in before],
                         [("tcp", "127.0.0.1"), ("tls", "127.0.0.1")])
        self.assertNotEqual(self.port, self.tls_port)
        self.server.reload("workers 2", "workers 3")
        self.assertNotIn("event=listener_closed", self.server.log_text())
        self.assertEqual(self.server.listeners, before)
        r = Raw(self.port)
        self.addCleanup(r.close)
        self.assertIn(b" STARTTLS ", r.greeting)
        c = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=insecure_context(), timeout=30)
        c.login("bob", PASSWORD)
        c.logout()

    def test_sighup_in_place_keeps_tls(self):
        import signal
        self.server.signal(signal.SIGHUP)
        self.server.wait_log("event=reloaded")
        c = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=insecure_context(), timeout=30)
        c.login("bob", PASSWORD)
        c.logout()

    def s_client(self, *args):
        # -ign_eof: s_client would otherwise hang up at the end of its input,
        # maybe before the greeting arrives; LOGOUT makes the server close.
        p = subprocess.run(["openssl", "s_client", "-ign_eof", "-connect",
                            "127.0.0.1:%d" % self.tls_port] + list(args),
                           input=b"a LOGOUT\r\n", capture_output=True, timeout=20)
        return p.returncode, p.stdout.decode(errors="replace")

    def test_tls_policy_defaults(self):
        """TLS 1.2 at least, ECDHE key exchange only, AEAD suites only."""
        rc, out = self.s_client("-tls1_2")
        self.assertEqual(rc, 0, out)
        self.assertIn("* OK [CAPABILITY", out)
        # The client side allows everything (SECLEVEL=0); the server refuses.
        for args in (["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
                     ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"],
                     ["-tls1_2", "-cipher", "AES128-GCM-SHA256:AES256-GCM-SHA384"],  # RSA kx
                     ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:"
                      "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES256-SHA"]):  # CBC
            rc, out = self.s_client(*args)
            self.assertNotEqual(rc, 0, (args, out))
            self.assertNotIn("* OK [CAPABILITY", out, args)

    def test_starttls_then_login(self):
        c = imaplib.IMAP4("127.0.0.1", self.port)
        self.assertIn(b"STARTTLS LOGINDISABLED", c.welcome)
        self.assertRaises(imaplib.IMAP4.error, c.login, "bob", PASSWORD)
        c.starttls(ssl_context=insecure_context())
        typ, data = c.capability()
        self.assertNotIn(b"STARTTLS", data[0])
        self.assertIn(b"AUTH=PLAIN", data[0])
        c.login("bob", PASSWORD)
        c.logout()

    def test_starttls_discards_pipelined_commands(self):
        r = Raw(self.port)
        self.addCleanup(r.close)
        r.send(b"a STARTTLS\r\nb CAPABILITY\r\n")
        self.assertEqual(r.line(), b"a OK Begin TLS negotiation now\r\n")
        self.assertEqual(r.buf, b"")
        tls = insecure_context().wrap_socket(r.sock)
        tls.sendall(b"c NOOP\r\n")
        data = b""
        while not data.endswith(b"\r\n"):
            data += tls.recv(4096)
        self.assertEqual(data, b"c OK NOOP completed\r\n")
        tls.sendall(b"d STARTTLS\r\n")
        data = b""
        while not data.endswith(b"\r\n"):
            data += tls.recv(4096)
        self.assertEqual(data, b"d BAD TLS is already active\r\n")

class ConfigTest(phtest.TempDirTest):
    def test_tls_listener_without_tls_is_an_error(self):
        path = self.write("p.conf", """
state_dir %s
storage.sqlite s { }
imap tls://127.0.0.1:9993 {
    auth pass_table static { entry bob x }
    storage &s
}
""" % self.dir)
        rc, out, err = phtest.posthorn("check-config", "--config", path)
        self.assertNotEqual(rc, 0)
        self.assertIn("tls://127.0.0.1:9993 needs TLS", err)

    def test_issue_config_block_checks(self):
        """The block of issue 4, as written, with real certificate files."""
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                            "-days", "2", "-subj", "/CN=localhost"], capture_output=True)
        if p.returncode != 0:
            self.skipTest("openssl cannot make a certificate")
        self.write("passwd", "")
        path = self.write("p.conf", """
state_dir %(d)s
tls %(cert)s %(key)s
storage.sqlite local_mailboxes { }
imap tcp://0.0.0.0:143 tls://0.0.0.0:993 {
    tls %(cert)s %(key)s { protocols tls1.2 tls1.3 }
    io_debug no
    io_errors no
    debug no
    insecure_auth no
    auth pass_table file %(d)s/passwd
    storage &local_mailboxes
    auth_map identity
    auth_map_normalize auto
    storage_map email_localpart
    storage_map_normalize auto
}
""" % {"d": self.dir, "cert": cert, "key": key})
        rc, out, err = phtest.posthorn("check-config", "--config", path)
        self.assertEqual((rc, out), (0, "ok\n"), err)

    def test_idle_timeout_minimum(self):
        path = self.write("p.conf", """
state_dir %s
storage.sqlite s { }
imap tcp://127.0.0.1:9993 {
    auth pass_table static { entry bob x }
    storage &s
    idle_timeout 5m
}
""" % self.dir)
        rc, out, err = phtest.posthorn("check-config", "--config", path)
        self.assertNotEqual(rc, 0)
        self.assertIn("idle_timeout must be at least 30m", err)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("idle_timeout 5m", "login_timeout 0s"))
        rc, out, err = phtest.posthorn("check-config", "--config", path)
        self.assertNotEqual(rc, 0)
        self.assertIn("login_timeout must be at least 1s", err)


    def test_sqlite_cache_size_is_checked(self):
        """storage.sqlite's cache_size: 64K to 1G, else a config error."""
        for value, ok in (("1K", False), ("2G", False), ("64K", True), ("16M", True)):
            path = self.write("c.conf", """
state_dir %s
imap tcp://127.0.0.1:9993 {
    auth pass_table static { entry bob x }
    storage sqlite { cache_size %s }
}
""" % (self.dir, value))
            rc, out, err = phtest.posthorn("check-config", "--config", path)
            if ok:
                self.assertEqual(rc, 0, (value, err))
            else:
                self.assertNotEqual(rc, 0, value)
                self.assertIn("cache_size must be between 64K and 1G", err)

    def test_limit_directives_are_checked(self):
        """max_sequence_ranges, max_pipelined_commands, max_session_memory:
        a bad value is a config error at its file:line."""
        cases = [
            ("max_sequence_ranges 0", 'p.conf:6: bad value "0" for "max_sequence_ranges" '
             "in imap block: expected an integer from 1 to 1000000"),
            ("max_pipelined_commands lots", 'p.conf:6: bad value "lots" for '
             '"max_pipelined_commands" in imap block: expected an integer'),
            ("max_session_memory 2X", 'p.conf:6: bad value "2X" for "max_session_memory" '
             "in imap block: expected a size like 4096, 512K, 32M or 1G"),
            ("max_session_memory 100K", "p.conf:3: imap block: max_session_memory (at "
             "p.conf:6) must be between max_line_length + max_literal_size + 128K "
             "(262144 bytes here) and 1T"),
        ]
        for directive, message in cases:
            path = self.write("p.conf", """
state_dir %s
imap tcp://127.0.0.1:9993 {
    auth pass_table static { entry bob x }
    storage sqlite { }
    %s
}
""" % (self.dir, directive))
            rc, out, err = phtest.posthorn("check-config", "--config", path)
            self.assertNotEqual(rc, 0, directive)
            self.assertIn(message.replace("p.conf", path), err)
        path = self.write("p.conf", """
state_dir %s
imap tcp://127.0.0.1:9993 {
    auth pass_table static { entry bob x }
    storage sqlite { }
    max_sequence_ranges 1000
    max_pipelined_commands 64
    max_session_memory 4M
}
""" % self.dir)
        rc, out, err = phtest.posthorn("check-config", "--config", path)
        self.assertEqual((rc, out), (0, "ok\n"), err)

class MailboxTest(ImapTest):
    def test_list_lsub_wildcards(self):
        r = self.raw()
        r.login()
        r.cmd("a", "CREATE Lists.posthorn")
        r.cmd("b", "CREATE Lists.other")
        out = r.cmd("c", 'LIST "" %')
        self.assertIn(b'* LIST (\\HasNoChildren) "." INBOX\r\n', out)
        self.assertIn(b'* LIST (\\HasChildren) "." Lists\r\n', out)
        self.assertNotIn(b"Lists.posthorn", out)
        self.assertIn(b"\\Sent) \".\" Sent\r\n", out)
        out = r.cmd("d", 'LIST Lists. *')
        self.assertEqual(out, b'* LIST (\\HasNoChildren) "." Lists.other\r\n'
                              b'* LIST (\\HasNoChildren) "." Lists.posthorn\r\n'
                              b'd OK LIST completed\r\n')
        self.assertEqual(r.cmd("e", 'LIST "" ""'),
                         b'* LIST (\\Noselect) "." ""\r\ne OK LIST completed\r\n')
        self.assertIn(b'* LIST (\\HasNoChildren) "." INBOX\r\n', r.cmd("f", 'LIST "" inbox'))
        r.cmd("g", "SUBSCRIBE Lists.posthorn")
        self.assertEqual(r.cmd("h", 'LSUB "" Lists.*'),
                         b'* LSUB () "." Lists.posthorn\r\nh OK LSUB completed\r\n')
        self.assertEqual(r.cmd("h2", 'LSUB "" L%'),
                         b'* LSUB (\\Noselect) "." Lists\r\nh2 OK LSUB completed\r\n')
        r.cmd("i", "UNSUBSCRIBE Lists.posthorn")
        self.assertEqual(r.cmd("j", 'LSUB "" Lists.*'), b"j OK LSUB completed\r\n")

    def test_mutf7_names_both_ways(self):
        c = self.client()
        self.assertEqual(c.create("&ZeVnLIqe-")[0], "OK")
        typ, data = c.list('""', "*")
        self.assertTrue(any(d.endswith(b' "." &ZeVnLIqe-') for d in data), data)
        r = self.raw()
        r.login()
        # Valid syntax, no modified UTF-7: no mailbox can have the name.
        self.assertEqual(r.cmd("a", "CREATE &Jjo"),
                         b"a NO [CANNOT] Unterminated &-sequence in mailbox name\r\n")

    def test_create_delete_rename_status(self):
        r = self.raw()
        r.login()
        self.assertRegex(r.cmd("a", "CREATE Work"), rb"^a OK \[MAILBOXID \(F[0-9a-f]{24}\)\] CREATE completed\r\n$")
        self.assertTrue(r.cmd("b", "CREATE Work").startswith(b"b NO [ALREADYEXISTS]"))
        self.assertEqual(r.cmd("c", "RENAME Work Job"), b"c OK RENAME completed\r\n")
        self.assertEqual(r.cmd("d", "STATUS Job (MESSAGES UNSEEN RECENT)"),
                         b"* STATUS Job (MESSAGES 0 UNSEEN 0 RECENT 0)\r\nd OK STATUS completed\r\n")
        self.assertTrue(r.cmd("e", "STATUS Work (MESSAGES)").startswith(b"e NO [NONEXISTENT]"))
        self.assertEqual(r.cmd("f", "DELETE Job"), b"f OK DELETE completed\r\n")
        self.assertTrue(r.cmd("g", "DELETE INBOX").startswith(b"g NO "))
        self.assertEqual(r.cmd("h", "STATUS Job (FOO)"), b'h BAD Unknown STATUS item "FOO"\r\n')

    def test_rename_inbox_and_delete_parent(self):
        c = self.client()
        c.append("INBOX", None, None, MSG)
        r = self.raw()
        r.login()
        self.assertEqual(r.cmd("a", "RENAME INBOX Old"), b"a OK RENAME completed\r\n")
        self.assertEqual(r.cmd("b", "STATUS INBOX (MESSAGES)"),
                         b"* STATUS INBOX (MESSAGES 0)\r\nb OK STATUS completed\r\n")
        self.assertEqual(r.cmd("c", "STATUS Old (MESSAGES)"),
                         b"* STATUS Old (MESSAGES 1)\r\nc OK STATUS completed\r\n")
        r.cmd("d", "CREATE P.Q")
        self.assertEqual(r.cmd("e", "DELETE P"), b"e OK DELETE completed\r\n")
        self.assertIn(b'* LIST (\\Noselect \\HasChildren) "." P\r\n', r.cmd("f", 'LIST "" P'))
        self.assertTrue(r.cmd("g", "SELECT P").startswith(b"g NO "))

    def test_bad_syntax_in_every_state(self):
        r = self.raw()
        self.assertEqual(r.cmd("a", "LOGIN"), b"a BAD LOGIN takes a user name and a password\r\n")
        r.login()
        self.assertEqual(r.cmd("b", "CREATE"), b"b BAD CREATE takes a mailbox name\r\n")
        self.assertEqual(r.cmd("c", "STATUS INBOX"), b"c BAD STATUS takes a mailbox name and a list of items\r\n")
        r.cmd("s", "SELECT INBOX")
        self.assertEqual(r.cmd("d", "FETCH"), b"d BAD FETCH takes a sequence set and items\r\n")
        self.assertEqual(r.cmd("e", "STORE 1"), b"e BAD STORE takes a set, an operation and flags\r\n")
        self.assertEqual(r.cmd("f", "UID"), b"f BAD UID needs a command\r\n")
        self.assertEqual(r.cmd("g", "COPY 1"), b"g BAD COPY takes a set and a mailbox name\r\n")
        self.assertEqual(r.cmd("h", "UID FETCH x FLAGS").split(b" ")[:2], [b"h", b"BAD"])

    def test_create_special_use(self):
        r = self.raw()
        r.login()
        self.assertRegex(r.cmd("a", "CREATE Arch (USE (\\Archive))"), rb"^a OK \[MAILBOXID \(F[0-9a-f]{24}\)\] CREATE completed\r\n$")
        self.assertIn(b'* LIST (\\HasNoChildren \\Archive) "." Arch\r\n', r.cmd("b", 'LIST "" Arch'))
        self.assertEqual(r.cmd("c", "CREATE X (USE (\\Bogus))"),
                         b"c NO [USEATTR] Unsupported special-use attribute\r\n")


MSG = (b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n"
       b"Subject: hello there\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
       b"Message-ID: <1@example.org>\r\n\r\nHello Bob,\r\nthis is the body.\r\n")


class SelectTest(ImapTest):
    def test_select_empty_and_examine(self):
        r = self.raw()
        r.login()
        out = r.cmd("a", "SELECT INBOX")
        self.assertRegex(out, rb"^\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft\)\r\n"
                              rb"\* OK \[PERMANENTFLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\\*\)\] Flags permitted\r\n"
                              rb"\* 0 EXISTS\r\n\* 0 RECENT\r\n"
                              rb"\* OK \[UIDVALIDITY \d+\] UIDs valid\r\n"
                              rb"\* OK \[UIDNEXT 1\] Predicted next UID\r\n"
                              rb"\* OK \[MAILBOXID \(F[0-9a-f]{24}\)\] Ok\r\n"
                              rb"a OK \[READ-WRITE\] SELECT completed\r\n$")
        self.assertEqual(r.cmd("b", "FETCH * FLAGS"),
                         b"b BAD Invalid message sequence number (the mailbox has 0 messages)\r\n")
        self.assertEqual(r.cmd("b2", "UID FETCH 1:* FLAGS"), b"b2 OK FETCH completed\r\n")
        out = r.cmd("c", "EXAMINE INBOX")
        self.assertIn(b"* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n", out)
        self.assertTrue(out.endswith(b"c OK [READ-ONLY] EXAMINE completed\r\n"))
        # RFC 7162 3.2.11 (RFC 9051 7.1): a SELECT that replaces a selected
        # mailbox says [CLOSED] first, whether the new one opens or not.
        self.assertTrue(r.cmd("d", "SELECT Nope").startswith(
            b"* OK [CLOSED] Previous mailbox is now closed\r\nd NO [NONEXISTENT]"))
        self.assertEqual(r.cmd("e", "CLOSE"), b"e BAD No mailbox selected\r\n")

    def test_append_select_store_expunge(self):
        c = self.client()
        typ, data = c.append("INBOX", None, None, MSG)
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0], rb"^\[APPENDUID \d+ 1\] APPEND completed$")
        c.append("INBOX", r"(\Seen)", None, MSG)
        typ, data = c.select("INBOX")
        self.assertEqual(data, [b"2"])
        self.assertEqual(c.untagged_responses.get("UNSEEN"), [b"1"])
        typ, data = c.store("1", "+FLAGS", r"(\Deleted)")
        self.assertEqual(data, [b"1 (FLAGS (\\Deleted \\Recent))"])
        typ, data = c.expunge()
        self.assertEqual(data, [b"1"])
        typ, data = c.uid("STORE", "2", "+FLAGS.SILENT", "(\\Flagged)")
        self.assertEqual(typ, "OK")
        r = self.raw()
        r.login()
        r.cmd("s", "SELECT INBOX")
        self.assertEqual(r.cmd("t", "STORE 1 -FLAGS.SILENT (\\Flagged)"), b"t OK STORE completed\r\n")
        # RFC 3501 7.2.6: a new keyword is listed by FLAGS before a FETCH
        # carries it (test_imap_state.py has the rest).
        self.assertEqual(r.cmd("u", "STORE 1 FLAGS (\\Seen $Label)"),
                         b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label)\r\n"
                         b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label \\*)] "
                         b"Flags permitted\r\n"
                         b"* 1 FETCH (FLAGS (\\Seen $Label))\r\nu OK STORE completed\r\n")
        self.assertEqual(r.cmd("v", "STORE 1 +FLAGS (\\Recent)"),
                         b'v BAD Invalid flag "\\Recent": \\Recent is set by the server only\r\n')

    def test_append_limits_and_trycreate(self):
        r = self.raw()
        r.login()
        # RFC 3501 6.3.11, 7.5: refused before "+", no upload to waste.
        r.send(b"a APPEND Nope {5}\r\n")
        self.assertEqual(r.line(), b"a NO [TRYCREATE] Mailbox does not exist\r\n")
        r.send(b"b APPEND INBOX (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {%d+}\r\n" % len(MSG) + MSG + b"\r\n")
        self.assertRegex(r.line(), rb"^b OK \[APPENDUID \d+ 1\] APPEND completed\r\n$")

    def test_copy_move_uidplus(self):
        c = self.client()
        for i in range(3):
            c.append("INBOX", None, None, MSG)
        c.create("Dest")
        c.select("INBOX")
        typ, data = c.copy("1:2", "Dest")
        self.assertRegex(data[0], rb"^\[COPYUID \d+ 1:2 1:2\] COPY completed$")
        self.assertEqual(c.copy("1", "Nope")[1][0][:11], b"[TRYCREATE]")
        r = self.raw()
        r.login()
        r.cmd("a", "SELECT INBOX")
        out = r.cmd("b", "MOVE 2 Dest")
        self.assertRegex(out, rb"^\* OK \[COPYUID \d+ 2 3\] Moved\r\n\* 2 EXPUNGE\r\nb OK MOVE completed\r\n$")
        out = r.cmd("c", "UID MOVE 3 Dest")
        self.assertRegex(out, rb"^\* OK \[COPYUID \d+ 3 4\] Moved\r\n\* 2 EXPUNGE\r\nc OK MOVE completed\r\n$")
        self.assertEqual(r.cmd("d", "STATUS Dest (MESSAGES)"),
                         b"* STATUS Dest (MESSAGES 4)\r\nd OK STATUS completed\r\n")
        r.cmd("e", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(r.cmd("f", "UID EXPUNGE 2:5"), b"f OK UID EXPUNGE completed\r\n")
        self.assertEqual(r.cmd("g", "UID EXPUNGE 1"), b"* 1 EXPUNGE\r\ng OK UID EXPUNGE completed\r\n")
        self.assertEqual(r.cmd("h", "UNSELECT"), b"h OK UNSELECT completed\r\n")
        self.assertEqual(r.cmd("i", "CHECK"), b"i BAD No mailbox selected\r\n")

    def test_examine_is_read_only(self):
        c = self.client()
        c.append("INBOX", None, None, MSG)
        r = self.raw()
        r.login()
        r.cmd("a", "EXAMINE INBOX")
        self.assertEqual(r.cmd("b", "STORE 1 +FLAGS (\\Seen)"),
                         b"b NO [READ-ONLY] The mailbox is open read-only\r\n")
        self.assertEqual(r.cmd("c", "EXPUNGE"), b"c NO [READ-ONLY] The mailbox is open read-only\r\n")
        # BODY[] in a read-only mailbox does not set \Seen.
        out = r.cmd("d", "FETCH 1 BODY[]")
        self.assertNotIn(b"\\Seen", out)
        self.assertIn(b"e OK [COPYUID ", r.cmd("e", "COPY 1 INBOX"))
        self.assertEqual(r.cmd("f", "CLOSE"), b"f OK CLOSE completed\r\n")

    def test_pipelined_appends(self):
        r = self.raw()
        r.login()
        r.send(b"a APPEND INBOX {%d+}\r\n%s\r\nb APPEND INBOX {%d+}\r\n%s\r\nc NOOP\r\n"
               % (len(MSG), MSG, len(MSG), MSG))
        out = r.until("c")
        self.assertRegex(out, rb"^a OK \[APPENDUID \d+ 1\] APPEND completed\r\n"
                              rb"b OK \[APPENDUID \d+ 2\] APPEND completed\r\nc OK NOOP completed\r\n$")

    def test_close_expunges_silently(self):
        c = self.client()
        c.append("INBOX", r"(\Deleted)", None, MSG)
        c.append("INBOX", None, None, MSG)
        r = self.raw()
        r.login()
        r.cmd("a", "SELECT INBOX")
        self.assertEqual(r.cmd("b", "CHECK"), b"b OK CHECK completed\r\n")
        self.assertEqual(r.cmd("c", "CLOSE"), b"c OK CLOSE completed\r\n")
        self.assertEqual(r.cmd("d", "STATUS INBOX (MESSAGES)"),
                         b"* STATUS INBOX (MESSAGES 1)\r\nd OK STATUS completed\r\n")

    def test_unsolicited_exists_and_no_expunge_during_fetch(self):
        a = self.raw()
        a.login()
        a.cmd("s", "SELECT INBOX")
        c = self.client()
        c.append("INBOX", None, None, MSG)
        c.append("INBOX", None, None, MSG)
        out = a.cmd("n", "NOOP")
        self.assertEqual(out, b"* 2 EXISTS\r\n* 2 RECENT\r\nn OK NOOP completed\r\n")
        c.select("INBOX")
        c.store("1", "+FLAGS", r"(\Deleted)")
        c.expunge()
        out = a.cmd("f", "STORE 2 +FLAGS.SILENT (\\Flagged)")
        self.assertNotIn(b"* 1 EXPUNGE", out)
        out = a.cmd("g", "NOOP")
        self.assertIn(b"* 1 EXPUNGE\r\n", out)


MULTI = (b"From: Carol <carol@example.org>\r\nTo: bob@example.org\r\n"
         b"Subject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\r\nDate: Tue, 8 Feb 1994 10:00:00 +0000\r\n"
         b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
         b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Transfer-Encoding: quoted-printable\r\n\r\nStra=C3=9Fe und Meer\r\n"
         b"--XX\r\nContent-Type: application/octet-stream\r\n\r\nBINARYDATA\r\n--XX--\r\n")


class FetchSearchTest(ImapTest):
    def setUp(self):
        super().setUp()
        c = self.client()
        c.append("INBOX", None, '"07-Feb-1994 21:52:25 -0800"', MSG)
        c.append("INBOX", r"(\Flagged)", None, MULTI)
        self.r = self.raw()
        self.r.login()
        self.r.cmd("s", "SELECT INBOX")

    def test_fetch_simple_items(self):
        out = self.r.cmd("a", "FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE)")
        self.assertEqual(out, b'* 1 FETCH (FLAGS (\\Recent) UID 1 RFC822.SIZE %d '
                              b'INTERNALDATE "07-Feb-1994 21:52:25 -0800")\r\na OK FETCH completed\r\n'
                         % len(MSG))
        out = self.r.cmd("b", "UID FETCH 2 FLAGS")
        self.assertEqual(out, b"* 2 FETCH (FLAGS (\\Flagged \\Recent) UID 2)\r\nb OK FETCH completed\r\n")
        out = self.r.cmd("c", "FETCH 1 ENVELOPE")
        self.assertIn(b'"hello there"', out)
        self.assertIn(b'(("Alice" NIL "alice" "example.org"))', out)
        out = self.r.cmd("d", "FETCH 2 BODYSTRUCTURE")
        self.assertIn(b'"mixed"', out)
        self.assertEqual(self.r.cmd("e", "FETCH 1 (BOGUS)"), b'e BAD Invalid FETCH item "BOGUS"\r\n')
        self.assertEqual(self.r.cmd("f", "FETCH 3 FLAGS"),
                         b"f BAD Invalid message sequence number (the mailbox has 2 messages)\r\n")
        out = self.r.cmd("g", "FETCH 1:* FAST")
        self.assertEqual(out.count(b" FETCH (FLAGS "), 2)

    def test_fetch_and_search_sets_with_gaps(self):
        # RFC 3501 6.4.5/6.4.8: a UID set names the UIDs that exist in it,
        # a sequence set positions; the session's view is walked range by
        # range, so gaps on either side must come out right.
        c = self.client()
        for k in range(8):
            c.append("INBOX", r"(\Seen)" if k % 2 else None, None, MSG)  # UIDs 3..10
        r = self.raw()
        r.login()
        r.cmd("s", "SELECT INBOX")
        r.cmd("d", "UID STORE 4,6:7 +FLAGS.SILENT (\\Deleted)")
        r.cmd("x", "EXPUNGE")  # left: UIDs 1 2 3 5 8 9 10 as 1..7
        # 11:* is 10:11 (RFC 3501 9: * is the largest UID in use).
        out = r.cmd("a", "UID FETCH 2,4:6,9,11:* (UID)")
        self.assertEqual(re.findall(rb"\* (\d+) FETCH \(UID (\d+)\)", out),
                         [(b"2", b"2"), (b"4", b"5"), (b"6", b"9"), (b"7", b"10")])
        out = r.cmd("b", "FETCH 1,3:4,7 (UID)")
        self.assertEqual(re.findall(rb"\* (\d+) FETCH \(UID (\d+)\)", out),
                         [(b"1", b"1"), (b"3", b"3"), (b"4", b"5"), (b"7", b"10")])
        self.assertEqual(r.cmd("c", "UID FETCH 6:7 (UID)"), b"c OK FETCH completed\r\n")
        self.assertIn(b"* SEARCH 5 9\r\n", r.cmd("e", "UID SEARCH UID 4:20 NOT SEEN"))
        self.assertIn(b"* SEARCH 2 3 4 5 6 7\r\n", r.cmd("f", "SEARCH 2:*"))

    def test_fetch_body_peek_keeps_unseen(self):
        out = self.r.cmd("a", "FETCH 1 BODY.PEEK[]")
        self.assertEqual(out, b"* 1 FETCH (BODY[] {%d}\r\n" % len(MSG) + MSG + b")\r\na OK FETCH completed\r\n")
        self.assertEqual(self.r.cmd("b", "FETCH 1 FLAGS"),
                         b"* 1 FETCH (FLAGS (\\Recent))\r\nb OK FETCH completed\r\n")

    def test_fetch_body_sets_seen(self):
        body = MSG.split(b"\r\n\r\n", 1)[1]
        out = self.r.cmd("a", "FETCH 1 BODY[TEXT]")
        self.assertEqual(out, b"* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[TEXT] {%d}\r\n" % len(body)
                         + body + b")\r\na OK FETCH completed\r\n")
        self.assertEqual(self.r.cmd("b", "NOOP"), b"b OK NOOP completed\r\n")

    def test_fetch_sections_and_partial(self):
        out = self.r.cmd("a", "FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject From)]")
        hdr = b"From: Alice <alice@example.org>\r\nSubject: hello there\r\n\r\n"
        self.assertEqual(out, b"* 1 FETCH (BODY[HEADER.FIELDS (Subject From)] {%d}\r\n" % len(hdr)
                         + hdr + b")\r\na OK FETCH completed\r\n")
        out = self.r.cmd("b", "FETCH 1 BODY.PEEK[]<6.5>")
        self.assertEqual(out, b"* 1 FETCH (BODY[]<6> {5}\r\nAlice)\r\nb OK FETCH completed\r\n")
        out = self.r.cmd("c", "FETCH 2 BODY.PEEK[2]")
        self.assertEqual(out, b"* 2 FETCH (BODY[2] {10}\r\nBINARYDATA)\r\nc OK FETCH completed\r\n")
        out = self.r.cmd("d", "FETCH 2 BODY.PEEK[9]")
        self.assertEqual(out, b'* 2 FETCH (BODY[9] "")\r\nd OK FETCH completed\r\n')
        out = self.r.cmd("e", "FETCH 2 RFC822.HEADER")
        self.assertIn(b"RFC822.HEADER {", out)
        out = self.r.cmd("f", "FETCH 1 RFC822")
        self.assertIn(b"RFC822 {%d}\r\n" % len(MSG) + MSG, out)

    def test_search(self):
        r = self.r
        self.assertEqual(r.cmd("a", "SEARCH ALL"), b"* SEARCH 1 2\r\na OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("b", "SEARCH FLAGGED"), b"* SEARCH 2\r\nb OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("c", "UID SEARCH FROM alice"), b"* SEARCH 1\r\nc OK SEARCH completed\r\n")
        r.send(b"d SEARCH CHARSET UTF-8 SUBJECT {7}\r\n")
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send("grüße".encode() + b"\r\n")
        self.assertEqual(r.until("d"), b"* SEARCH 2\r\nd OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("e", "SEARCH BODY strasse"), b"* SEARCH 2\r\ne OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("f", "SEARCH TEXT meer"), b"* SEARCH 2\r\nf OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("g", "SEARCH OR SEEN NOT FLAGGED"), b"* SEARCH 1\r\ng OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("h", "SEARCH SENTBEFORE 8-Feb-1994"), b"* SEARCH 1\r\nh OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("i", "SEARCH LARGER 300 2:*"), b"* SEARCH 2\r\ni OK SEARCH completed\r\n")
        self.assertTrue(r.cmd("j", "SEARCH CHARSET KOI8-R ALL").startswith(b"j NO [BADCHARSET (UTF-8 US-ASCII)]"))
        self.assertTrue(r.cmd("k", "SEARCH FROB").startswith(b"k BAD "))
        self.assertEqual(r.cmd("l", "SEARCH BODY BINARYDATA"), b"* SEARCH\r\nl OK SEARCH completed\r\n")

    def test_imaplib_fetch_roundtrip_large(self):
        big = b"Subject: big\r\n\r\n" + (b"0123456789abcdef" * 63 + b"x\r\n") * 20000
        c = self.client()
        typ, data = c.append("INBOX", None, None, big)
        self.assertEqual(typ, "OK")
        c.select("INBOX")
        typ, data = c.fetch("3", "(BODY.PEEK[])")
        self.assertEqual(data[0][1], big)


class SearchTextIndexTest(FetchSearchTest):
    """SEARCH TEXT and BODY (RFC 3501 6.4.4) through the binary are answered
    by storage.sqlite from its text index: its debug lines show the query
    that asked the trigram index (body_fts), or for a key under 3
    characters the text alone; the inherited tests run again here with the
    same answers."""
    storage_extra = "debug yes"

    def test_text_keys_answered_by_storage(self):
        r = self.r
        self.assertEqual(r.cmd("a", "SEARCH TEXT BOB"), b"* SEARCH 1 2\r\na OK SEARCH completed\r\n")
        self.server.wait_log("matches=2 sql=")
        self.assertIn("body_fts MATCH", self.server.log_text())
        self.assertEqual(r.cmd("b", "SEARCH NOT BODY \"the body\""), b"* SEARCH 2\r\nb OK SEARCH completed\r\n")
        self.server.wait_log("matches=1 sql=")
        self.assertEqual(r.cmd("c", "UID SEARCH BODY is"), b"* SEARCH 1\r\nc OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("d", "SEARCH BODY alice"), b"* SEARCH\r\nd OK SEARCH completed\r\n")


ADDR_MSG = (b"From: <user-from (comment)@ (comment) domain.org>\r\n"
            b"To: \"Joe (not a comment)\" (c) <joe . (x) q @ example . com>\r\n"
            b"Cc: Group (c) : (x) <a (y) @ b.example> ,\r\n c@d.example (Carl) ; (z)\r\n"
            b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
            b"Subject: comments\r\n\r\nbody\r\n")


class TwoMessagesTest(ImapTest):
    """MSG and self.second in INBOX, selected on self.r."""
    second = b""

    def setUp(self):
        super().setUp()
        c = self.client()
        c.append("INBOX", None, None, MSG)
        c.append("INBOX", None, None, self.second)
        self.r = self.raw()
        self.r.login()
        self.r.cmd("s", "SELECT INBOX")


class AddressSearchTest(TwoMessagesTest):
    """RFC 5322 3.2.2, 3.4.1: comments and folding whitespace around the '@'
    and the dots, inside the angle brackets, in display names and group
    syntax. ENVELOPE shows the address they leave, and SEARCH FROM/TO/CC
    (RFC 3501 6.4.4) finds it, whether storage answers from its index
    (a program of header keys alone) or the endpoint evaluates (SENTSINCE
    is no key storage.sqlite answers)."""

    second = ADDR_MSG

    def test_envelope_skips_comments_in_addresses(self):
        out = self.r.cmd("a", "FETCH 2 ENVELOPE")
        self.assertEqual(out, b'* 2 FETCH (ENVELOPE ("Mon, 7 Feb 1994 21:52:25 -0800" "comments" '
                         b'((NIL NIL "user-from" "domain.org")) ((NIL NIL "user-from" "domain.org")) '
                         b'((NIL NIL "user-from" "domain.org")) '
                         b'(("Joe (not a comment)" NIL "joe.q" "example.com")) '
                         b'((NIL NIL "Group" NIL)(NIL NIL "a" "b.example")("Carl" NIL "c" "d.example")'
                         b'(NIL NIL NIL NIL)) NIL NIL NIL))\r\na OK FETCH completed\r\n')

    def test_search_from_finds_address_written_with_comments(self):
        r = self.r
        for sent in ("", " SENTSINCE 1-Jan-1990"):
            self.assertEqual(r.cmd("a", "SEARCH FROM user-from@domain.org" + sent),
                             b"* SEARCH 2\r\na OK SEARCH completed\r\n")
            self.assertEqual(r.cmd("b", "SEARCH TO joe.q@example.com" + sent),
                             b"* SEARCH 2\r\nb OK SEARCH completed\r\n")
            self.assertEqual(r.cmd("c", "SEARCH CC a@b.example" + sent),
                             b"* SEARCH 2\r\nc OK SEARCH completed\r\n")
            self.assertEqual(r.cmd("d", 'SEARCH CC "Carl <c@d.example>"' + sent),
                             b"* SEARCH 2\r\nd OK SEARCH completed\r\n")
            # The raw field still matches as a substring.
            self.assertEqual(r.cmd("e", 'SEARCH FROM "user-from (comment)@"' + sent),
                             b"* SEARCH 2\r\ne OK SEARCH completed\r\n")
            self.assertEqual(r.cmd("f", "SEARCH FROM alice@example.org" + sent),
                             b"* SEARCH 1\r\nf OK SEARCH completed\r\n")
            self.assertEqual(r.cmd("g", "SEARCH NOT FROM user-from@domain.org" + sent),
                             b"* SEARCH 1\r\ng OK SEARCH completed\r\n")

    def test_header_fields_ignore_repeated_names_and_their_case(self):
        """RFC 3501 6.4.5: the subset of the fields whose names match; a
        name twice in the list, or in another case, changes nothing."""
        want = (b"From: <user-from (comment)@ (comment) domain.org>\r\n"
                b"Subject: comments\r\n\r\n")
        for names in (b"From Subject", b"From Subject References Subject",
                      b"FROM subject REFERENCES \"Subject\" from"):
            out = self.r.cmd("a", "FETCH 2 BODY.PEEK[HEADER.FIELDS (%s)]" % names.decode())
            self.assertEqual(out, b"* 2 FETCH (BODY[HEADER.FIELDS (%s)] {%d}\r\n" % (names, len(want))
                             + want + b")\r\na OK FETCH completed\r\n")
        out = self.r.cmd("b", "FETCH 2 BODY.PEEK[HEADER.FIELDS.NOT (To Cc Date to DATE cc)]")
        self.assertEqual(out, b"* 2 FETCH (BODY[HEADER.FIELDS.NOT (To Cc Date to DATE cc)] {%d}\r\n"
                         % len(want) + want + b")\r\nb OK FETCH completed\r\n")


PARTS_MSG = (b"From: a@example.org\r\nSubject: invoice\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
             b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
             b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
             b"see attached\r\n"
             b"--b\r\nContent-Type: application/pdf\r\n"
             b"Content-Disposition: attachment; filename=\"Rechnung.pdf\"\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
             b"--b\r\nContent-Type: application/octet-stream\r\n"
             b"Content-Disposition: attachment;\r\n filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt\r\n\r\nx\r\n"
             b"--b\r\nContent-Type: message/rfc822\r\n\r\n"
             b"From: Quentin <quentin@example.org>\r\n"
             b"Subject: =?UTF-8?Q?Angebot_f=C3=BCr_Sie?=\r\n\r\nembedded text\r\n--b--\r\n")


class TextPartsSearchTest(TwoMessagesTest):
    """RFC 3501 6.4.4: TEXT is the header or body of the message, and the
    body is everything after the top-level header: MIME part headers, the
    attachments' file names (RFC 2231, decoded) and the headers of an
    attached message (RFC 2047, decoded) are found; BODY is the parts' text
    alone. The same answers from storage.sqlite's text index and from the
    endpoint's evaluation (SENTSINCE is no key storage.sqlite answers)."""
    storage_extra = "debug yes"

    second = PARTS_MSG

    def test_text_finds_part_headers_file_names_and_attached_message(self):
        r = self.r
        for sent in ("", " SENTSINCE 1-Jan-1990"):
            for key, text, body in ((b"Content-Transfer-Encoding", b"2", b""),
                                    (b"Rechnung", b"2", b""),
                                    ("\"gr\u00fc\u00dfe.txt\"".encode(), b"2", b""),
                                    (b"quentin@example.org", b"2", b""),
                                    ("\"Angebot f\u00fcr\"".encode(), b"2", b""),
                                    (b"\"embedded text\"", b"2", b"2"),
                                    (b"\"the body\"", b"1", b"1")):
                lit = b"{%d}\r\n" % len(key.strip(b'"')) if b"\xc3" in key else None
                for op, want in ((b"TEXT", text), (b"BODY", body)):
                    cmd = b"SEARCH CHARSET UTF-8 " + op + b" "
                    if lit:
                        r.send(b"t " + cmd + lit)
                        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
                        r.send(key.strip(b'"') + sent.encode() + b"\r\n")
                        out = r.until("t")
                    else:
                        out = r.cmd("t", (cmd + key).decode() + sent)
                    self.assertEqual(out, b"* SEARCH" + (b" " + want if want else b"")
                                     + b"\r\nt OK SEARCH completed\r\n", (op, key, sent))
        if STORAGE == "sqlite":
            self.assertIn("body_fts MATCH", self.server.log_text())


class LimitsTest(ImapTest):
    extra = "appendlimit 1K\n    max_connections_per_ip 3\n    debug yes"

    def test_appendlimit_toobig_without_continuation(self):
        r = self.raw()
        out = r.login()
        self.assertIn(b" APPENDLIMIT=1024 COMPRESS=DEFLATE]", out)
        r.send(b"a APPEND INBOX {2000}\r\n")
        self.assertEqual(r.line(), b"a NO [TOOBIG] Message larger than the limit of 1024 bytes\r\n")
        # A too big non-synchronizing literal is read and thrown away.
        r.send(b"b APPEND INBOX {2000+}\r\n" + b"x" * 2000 + b"\r\nc NOOP\r\n")
        self.assertEqual(r.line(), b"b NO [TOOBIG] Message larger than the limit of 1024 bytes\r\n")
        self.assertEqual(r.line(), b"c OK NOOP completed\r\n")
        self.assertEqual(r.cmd("d", "STATUS INBOX (APPENDLIMIT MESSAGES)"),
                         b"* STATUS INBOX (APPENDLIMIT 1024 MESSAGES 0)\r\nd OK STATUS completed\r\n")

    def test_append_in_wrong_state(self):
        r = self.raw()
        r.send(b"a APPEND INBOX {5}\r\n")
        self.assertEqual(r.line(), b"a BAD Log in first\r\n")
        self.assertEqual(r.cmd("b", "NOOP"), b"b OK NOOP completed\r\n")

    def test_max_connections_per_ip(self):
        conns = [self.raw() for _ in range(3)]
        r = Raw(self.port)
        self.addCleanup(r.close)
        self.assertEqual(r.greeting, b"* BYE Too many connections\r\n")
        conns[0].cmd("x", "LOGOUT")
        # The slot is free once the session is gone, which it logs.
        self.server.wait_log("event=disconnect")
        r2 = self.raw()
        self.assertTrue(r2.greeting.startswith(b"* OK "))


class LifecycleTest(ImapTest):
    def test_reload_keeps_sessions_and_listener(self):
        r = self.raw()
        r.login()
        r.cmd("s", "SELECT INBOX")
        self.server.reload("auth_fail_delay 50ms", "auth_fail_delay 60ms")
        self.assertEqual(r.cmd("n", "NOOP"), b"n OK NOOP completed\r\n")
        r2 = self.raw()
        r2.login()
        c = self.client()
        c.append("INBOX", None, None, MSG)
        self.assertEqual(r.cmd("m", "NOOP"), b"* 1 EXISTS\r\n* 1 RECENT\r\nm OK NOOP completed\r\n")
        r.cmd("o", "LOGOUT")

    def test_shutdown_says_bye(self):
        r = self.raw()
        r.login()
        self.server.stop()
        self.assertEqual(r.line(), b"* BYE Server shutting down\r\n")

    def test_list_return_special_use_and_status_items(self):
        r = self.raw()
        r.login()
        out = r.cmd("a", 'LIST "" Sent RETURN (SPECIAL-USE)')
        self.assertEqual(out, b'* LIST (\\HasNoChildren \\Sent) "." Sent\r\na OK LIST completed\r\n')
        out = r.cmd("b", "STATUS INBOX (UIDNEXT HIGHESTMODSEQ SIZE)")
        self.assertRegex(out, rb"^\* STATUS INBOX \(UIDNEXT 1 HIGHESTMODSEQ \d+ SIZE 0\)\r\nb OK STATUS completed\r\n$")


class TimeoutTest(ImapTest):
    extra = "login_timeout 1s"

    def test_login_timeout_closes_only_unauthenticated_sessions(self):
        """RFC 3501 5.4: the autologout timer of a logged-in session is at
        least 30 minutes; login_timeout closes connections that never log in."""
        idle = self.raw()
        logged_in = self.raw()
        logged_in.login()
        # Connected after the login: when its timer fires, logged_in has
        # been idle longer, and the same scan of the sessions passed it.
        later = self.raw()
        for r in (idle, later):
            self.assertEqual(r.line(), b"* BYE Autologout; idle for too long\r\n")
            with self.assertRaises(EOFError):
                r.line()
        self.assertEqual(logged_in.cmd("n", "NOOP"), b"n OK NOOP completed\r\n")

    def test_activity_resets_the_login_timer(self):
        """A client that keeps sending commands outlives login_timeout: it
        is still served after a connection opened after it timed out."""
        import select
        r = self.raw()
        probe = self.raw()
        i = 0
        while not select.select([probe.sock], [], [], 0.1)[0]:
            self.assertEqual(r.cmd("n%d" % i, "NOOP"), b"n%d OK NOOP completed\r\n" % i)
            i += 1
        self.assertEqual(probe.line(), b"* BYE Autologout; idle for too long\r\n")
        self.assertEqual(r.cmd("m", "NOOP"), b"m OK NOOP completed\r\n")

    def test_append_spool_leaves_no_file_behind(self):
        r = self.raw()
        r.login()
        r.send(b"a APPEND INBOX {5}\r\n")
        self.assertTrue(r.line().startswith(b"+ "))
        r.send(b"hello\r\n")
        self.assertIn(b"a OK [APPENDUID", r.until("a"))
        self.assertEqual([f for f in os.listdir(os.path.join(self.dir, "state"))
                          if f.startswith(".append")], [])


class ExpungeRaceTest(ImapTest):
    def selected(self, n, *commands):
        """n messages in INBOX, an imaplib client and a raw session that
        sent commands, then selected INBOX."""
        c = self.client()
        for _ in range(n):
            c.append("INBOX", None, None, MSG)
        a = self.raw()
        a.login()
        for i, command in enumerate(commands + ("SELECT INBOX",)):
            self.assertIn(b"p%d OK" % i, a.cmd("p%d" % i, command))
        return c, a


class GhostFetchTest(ExpungeRaceTest):
    """RFC 2180 4.1.1: "The server MAY allow the EXPUNGE of a
    multi-accessed mailbox but keep the messages available to satisfy
    subsequent FETCH commands until it is able to send an EXPUNGE response
    to each client." A message another session expunged is FETCHed with the
    data it had, flags and MODSEQ as this session last saw them, until this
    session's NOOP tells it (RFC 3501 7.4.1: no EXPUNGE during FETCH)."""

    ITEMS = ("(UID FLAGS MODSEQ INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE "
             "BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[TEXT]<2.9> BODY.PEEK[])")

    def test_expunged_message_is_fetched_as_it_was_until_told(self):
        c, a = self.selected(3, "ENABLE CONDSTORE")
        c.select("INBOX")
        c.store("2", "+FLAGS", "(\\Deleted \\Flagged)")
        self.assertEqual(a.cmd("n", "NOOP"),
                         b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Deleted \\Recent) MODSEQ (5))\r\n"
                         b"n OK NOOP completed\r\n")
        before = a.cmd("f", "FETCH 2 " + self.ITEMS)
        self.assertTrue(before.startswith(b"* 2 FETCH (FLAGS (\\Flagged \\Deleted \\Recent) UID 2 MODSEQ (5) "),
                        before)
        self.assertTrue(before.endswith(b")\r\nf OK FETCH completed\r\n"), before)
        c.expunge()
        # The same answer, byte for byte; the HIGHESTMODSEQ of the MODSEQ
        # sent lies below the pending expunge's (RFC 7162 3.2).
        same = before.replace(b"f OK", b"* OK [HIGHESTMODSEQ 5] Expunges are pending\r\nf OK")
        self.assertEqual(a.cmd("f", "FETCH 2 " + self.ITEMS), same)
        out = a.cmd("g", "FETCH 1:3 (UID RFC822.SIZE)")
        self.assertEqual(out, b"".join(b"* %d FETCH (UID %d RFC822.SIZE %d)\r\n" % (i, i, len(MSG))
                                       for i in (1, 2, 3)) + b"g OK FETCH completed\r\n")
        # Told: it is gone, and sequence number 2 is UID 3.
        self.assertEqual(a.cmd("n", "NOOP"), b"* 2 EXPUNGE\r\nn OK NOOP completed\r\n")
        self.assertEqual(a.cmd("u", "UID FETCH 2 (UID BODY.PEEK[])"), b"u OK FETCH completed\r\n")
        self.assertTrue(a.cmd("h", "FETCH 2 (UID)").startswith(b"* 2 FETCH (UID 3)\r\nh OK"))

    def test_a_session_told_no_longer_reads_it_another_still_does(self):
        _, a = self.selected(2)
        b = self.raw()
        b.login()
        b.cmd("s", "SELECT INBOX")
        b.cmd("d", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(b.cmd("e", "EXPUNGE"), b"* 1 EXPUNGE\r\ne OK EXPUNGE completed\r\n")
        # b was told at once; a was not, and reads the message (UID 1)
        # whole. UID FETCH may tell it after (RFC 3501 7.4.1).
        self.assertEqual(b.cmd("f", "UID FETCH 1 (UID)"), b"f OK FETCH completed\r\n")
        one = b"* 1 FETCH (UID 1 BODY[] {%d}\r\n%s)\r\n" % (len(MSG), MSG)
        self.assertEqual(a.cmd("f", "FETCH 1 (UID BODY.PEEK[])"), one + b"f OK FETCH completed\r\n")
        self.assertEqual(a.cmd("u", "UID FETCH 1 (UID BODY.PEEK[])"),
                         one + b"* 1 EXPUNGE\r\nu OK FETCH completed\r\n")
        self.assertEqual(a.cmd("v", "UID FETCH 1 (UID BODY.PEEK[])"), b"v OK FETCH completed\r\n")


class ExpungeIssuedTest(ExpungeRaceTest):
    """A message whose body went before the session was told (body_grace
    0s: at the expunge's sweep): no ghost is left to read, so RFC 2180
    4.1.2: FETCH answers for the others and a tagged NO, [EXPUNGEISSUED]
    (RFC 5530 3); then NOOP tells the client."""
    storage_extra = "body_grace 0s"

    def test_fetch_of_a_message_expunged_with_its_body(self):
        c, a = self.selected(2)
        c.select("INBOX")
        c.store("1", "+FLAGS", "(\\Deleted)")
        c.expunge()
        out = a.cmd("f", "FETCH 1:2 (UID BODY.PEEK[])")
        self.assertNotIn(b"* 1 EXPUNGE", out)
        self.assertEqual(out, b"* 2 FETCH (UID 2 BODY[] {%d}\r\n%s)\r\n" % (len(MSG), MSG)
                         + b"f NO [EXPUNGEISSUED] Some of the requested messages no longer exist\r\n")
        self.assertEqual(a.cmd("n", "NOOP"), b"* 1 EXPUNGE\r\nn OK NOOP completed\r\n")
        self.assertTrue(a.cmd("g", "FETCH 1 (UID)").startswith(b"* 1 FETCH (UID 2)\r\ng OK"))


class ServerLimitsTest(ImapTest):
    extra = "max_connections 2\n    max_line_length 1K\n    io_errors yes\n    debug yes"

    def test_line_longer_than_max_line_length(self):
        r = self.raw()
        r.send(b"a NOOP " + b"x" * 2000 + b"\r\n")
        self.assertEqual(r.line(), b"a BAD Command line too long\r\n")
        self.assertEqual(r.cmd("b", "NOOP"), b"b OK NOOP completed\r\n")

    def test_max_connections(self):
        a = self.raw()
        b = self.raw()
        self.assertTrue(b.greeting.startswith(b"* OK "))
        c = Raw(self.port)
        self.addCleanup(c.close)
        self.assertEqual(c.greeting, b"* BYE Too many connections\r\n")
        with self.assertRaises(EOFError):
            c.line()
        a.cmd("z", "LOGOUT")
        a.close()
        # The slot is free once the session is gone, which it logs.
        self.server.wait_log("event=disconnect")
        d = Raw(self.port)
        self.addCleanup(d.close)
        self.assertTrue(d.greeting.startswith(b"* OK "), d.greeting)

    def test_io_errors_are_logged(self):
        import struct
        r = self.raw()
        r.login()
        r.send(b"a NOOP")
        # SO_LINGER 0: the close is a reset, a read error for the server.
        r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        r.close()
        self.server.wait_log("event=io_error", timeout=30)
        self.assertRegex(self.server.log_text(), r"event=io_error client=127\.0\.0\.1 op=read error=\"Connection reset by peer\"")


class Ipv6Test(ImapTest):
    def setUp(self):
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback here")
        self.extra = ""
        super().setUp()

    def test_ipv6_listener(self):
        with open(self.conf) as f:
            text = f.read()
        conf = self.write("v6.conf", text.replace("tcp://127.0.0.1:0", "tcp://[::1]:0"))
        conf = self.write("v6.conf", open(conf).read().replace(self.dir + "/state", self.dir + "/state6"))
        os.makedirs(os.path.join(self.dir, "state6"))
        v6 = self.start(conf)
        self.assertEqual(v6.listeners[0][:2], ("tcp", "::1"))
        c = imaplib.IMAP4("::1", v6.port)
        c.login("bob", PASSWORD)
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()


class TlsReloadTest(phtest.TempDirTest):
    """Certificates are read again on SIGHUP (issue 4: tls)."""

    def make_cert(self, cn):
        return phtest.make_cert(self.dir, cn)

    def peer_cert(self):
        import ssl
        c = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=insecure_context(), timeout=30)
        der = c.sock.getpeercert(binary_form=True)
        c.login("bob", PASSWORD)
        return c, ssl.DER_cert_to_PEM_cert(der)

    def test_sighup_reads_the_new_certificate(self):
        import signal
        cert, key = self.make_cert("one.example")
        conf = self.write("posthorn.conf", """
state_dir %(d)s
tls %(cert)s %(key)s
storage.sqlite s { }
imap tls://127.0.0.1:0 {
    auth pass_table static { entry bob %(hash)s }
    storage &s
}
""" % {"d": self.dir, "cert": cert, "key": key, "hash": password_hash()})
        server = self.start(conf)
        self.port = server.port
        old, pem = self.peer_cert()
        with open(cert) as f:
            self.assertEqual(pem.split(), f.read().split())
        self.make_cert("two.example")
        server.signal(signal.SIGHUP)
        server.wait_log("event=reloaded")
        new, pem2 = self.peer_cert()
        with open(cert) as f:
            self.assertEqual(pem2.split(), f.read().split())
        self.assertNotEqual(pem, pem2)
        # The session that started before the reload goes on.
        self.assertEqual(old.noop()[0], "OK")
        old.logout()
        new.logout()


class PrivilegeTest(phtest.TempDirTest):
    """Global `user` and `group` (issue 8): listeners, a port below 1024
    among them, are bound as root; then the server drops to the user for
    good before serving, and still reads and writes its mail."""

    def test_drops_to_user_after_binding_a_privileged_port(self):
        import grp
        import pwd
        if os.geteuid() != 0:
            self.skipTest("needs root")
        nobody = pwd.getpwnam("nobody")
        group = grp.getgrnam("nogroup")
        low = None
        for port in range(700, 1000):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            low = port
            break
        self.assertIsNotNone(low)
        os.chmod(self.dir, 0o755)  # nobody must reach its state_dir
        conf = self.write("posthorn.conf", """
state_dir %(d)s/state
user nobody
group nogroup
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:%(port)d unix://%(d)s/imap.sock {
    auth pass_table static { entry bob %(hash)s }
    storage &local_mailboxes
    insecure_auth yes
}
""" % {"d": self.dir, "port": low, "hash": password_hash()})
        server = self.start(conf)
        server.wait_log("event=privileges_dropped user=nobody")
        with open("/proc/%d/status" % server.proc.pid) as f:
            status = f.read()
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
        groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()
        self.assertEqual(uids, [str(nobody.pw_uid)] * 4)
        self.assertEqual(gids, [str(group.gr_gid)] * 4)
        self.assertNotIn("0", groups)
        # Mail is stored and read as nobody.
        c = imaplib.IMAP4("127.0.0.1", low)
        c.login("bob", PASSWORD)
        self.assertEqual(c.append("INBOX", None, None, MSG)[0], "OK")
        c.select("INBOX")
        self.assertEqual(c.fetch("1", "(BODY[])")[1][0][1], MSG)
        c.logout()
        self.assertEqual(os.stat(os.path.join(self.dir, "state", "posthorn.db")).st_uid,
                         nobody.pw_uid)

    def test_unknown_user_is_a_config_error(self):
        conf = self.write("posthorn.conf", "state_dir %s/state\nuser no-such-user-here\n" % self.dir)
        rc, out, err = phtest.posthorn("check-config", "--config", conf)
        self.assertNotEqual(rc, 0)
        self.assertIn("user no-such-user-here: no such user", err)


class IdleTest(ImapTest):
    def test_idle_wakes_on_append_from_other_session(self):
        a = self.raw()
        a.login()
        a.cmd("s", "SELECT INBOX")
        a.send(b"i IDLE\r\n")
        self.assertEqual(a.line(), b"+ idling\r\n")
        # Storage wakes an IDLE session; nothing polls, so an answer at all
        # (within Raw's timeout, a guard against a hang) is the wake.
        c = self.client()
        c.append("INBOX", None, None, MSG)
        self.assertEqual(a.line(), b"* 1 EXISTS\r\n")
        self.assertEqual(a.line(), b"* 1 RECENT\r\n")
        c.select("INBOX")
        c.store("1", "+FLAGS", r"(\Flagged)")
        self.assertEqual(a.line(), b"* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n")
        a.send(b"DONE\r\n")
        self.assertEqual(a.line(), b"i OK IDLE terminated\r\n")
        self.assertEqual(a.cmd("n", "NOOP"), b"n OK NOOP completed\r\n")

    def test_idle_wakes_on_cli_add(self):
        a = self.raw()
        a.login()
        a.cmd("s", "SELECT INBOX")
        a.send(b"i IDLE\r\n")
        self.assertEqual(a.line(), b"+ idling\r\n")
        rc, out, err = phtest.posthorn("messages", "add", "bob", "INBOX", "--config", self.conf,
                                       input=MSG)
        self.assertEqual(rc, 0, err)
        self.assertEqual(a.line(), b"* 1 EXISTS\r\n")
        self.assertEqual(a.line(), b"* 1 RECENT\r\n")
        a.send(b"DONE\r\n")
        self.assertEqual(a.line(), b"i OK IDLE terminated\r\n")

    def test_idle_sends_expunge(self):
        c = self.client()
        c.append("INBOX", None, None, MSG)
        a = self.raw()
        a.login()
        a.cmd("s", "SELECT INBOX")
        a.send(b"i IDLE\r\n")
        self.assertEqual(a.line(), b"+ idling\r\n")
        c.select("INBOX")
        c.store("1", "+FLAGS.SILENT", r"(\Deleted)")
        self.assertEqual(a.line(), b"* 1 FETCH (FLAGS (\\Deleted \\Recent))\r\n")
        c.expunge()
        self.assertEqual(a.line(), b"* 1 EXPUNGE\r\n")
        a.send(b"DONE\r\n")
        self.assertEqual(a.line(), b"i OK IDLE terminated\r\n")

    def test_idle_bad_line(self):
        a = self.raw()
        a.login()
        a.send(b"i IDLE\r\n")
        self.assertEqual(a.line(), b"+ idling\r\n")
        a.send(b"NOPE\r\n")
        self.assertEqual(a.line(), b"i BAD Expected DONE\r\n")


if __name__ == "__main__":
    phtest.main()
