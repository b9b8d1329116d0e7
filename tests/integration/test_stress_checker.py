# SPDX-License-Identifier: MIT
"""The stress checker (tests/stress/imapstress.py) finds what it is meant
to find: it runs against posthorn through a proxy that breaks the server's
answers in one way each (a keyword dropped from FETCH FLAGS, a UID moved, a
header field changed, an EXPUNGE beyond the count, a BAD, a lost answer, a
closed connection, an APPENDUID below a UID already seen, a wrong
RFC822.SIZE), and each run must fail with the violation that names it.

And it does not report what the RFC allows: ScriptedTest drives one of the
checker's clients against a server that answers each command with a
scripted exchange (a race as a real server can answer it), and the
checker's model must take it without a violation."""
import argparse
import importlib.util
import os
import random
import re
import socket
import subprocess
import sys
import threading
import unittest

import phtest

PASSWORD = "stress pw"
CHECKER = os.path.join(phtest.SRC, "tests", "stress", "imapstress.py")
RESPONSE_END = re.compile(rb"\{(\d+)\}\r\n$")


def listen(backlog):
    """A listening socket on a port the kernel chose, and the port."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    return s, s.getsockname()[1]


class Proxy:
    """Passes bytes from client to server as they are, and the server's
    responses (a line and its literals) through mutate(rnd, response), which
    returns the bytes to send, None to drop the response, or False to
    close the connection."""

    def __init__(self, upstream, mutate, seed=1):
        self.upstream = upstream
        self.mutate = mutate
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.listener, self.port = listen(128)
        self.socks = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.upstream))
            self.socks += [c, s]
            threading.Thread(target=self.up, args=(c, s), daemon=True).start()
            threading.Thread(target=self.down, args=(s, c), daemon=True).start()

    def up(self, c, s):
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                s.sendall(d)
        except OSError:
            pass
        self.shut(c, s)

    def down(self, s, c):
        buf = bytearray()
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
                while True:
                    end = self.response_end(buf)
                    if end is None:
                        break
                    r = bytes(buf[:end])
                    del buf[:end]
                    with self.lock:
                        out = self.mutate(self.rnd, r)
                    if out is False:
                        raise OSError("closed by the proxy")
                    if out is not None:
                        c.sendall(out)
        except OSError:
            pass
        self.shut(c, s)

    @staticmethod
    def shut(*socks):
        for x in socks:
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @staticmethod
    def response_end(buf):
        pos = 0
        while True:
            i = buf.find(b"\r\n", pos)
            if i < 0:
                return None
            m = RESPONSE_END.search(bytes(buf[pos:i + 2]))
            if not m:
                return i + 2
            pos = i + 2 + int(m.group(1))
            if pos > len(buf):
                return None

    def close(self):
        self.listener.close()
        for x in self.socks:
            try:
                x.close()
            except OSError:
                pass


def fetch(r):
    return r.startswith(b"* ") and b" FETCH (" in r


def drop_own_keyword(rnd, r):
    """One of a client's own keywords left out of a FETCH FLAGS."""
    m = re.search(rb"FLAGS \(([^)]*)\)", r)
    if not fetch(r) or not m or rnd.random() > 0.3:
        return r
    words = m.group(1).split()
    own = [w for w in words if re.match(rb"\$s\d+-k\d$", w)]
    if not own:
        return r
    words.remove(own[0])
    return r[:m.start(1)] + b" ".join(words) + r[m.end(1):]


def shift_uid(rnd, r):
    if not fetch(r) or rnd.random() > 0.05:
        return r
    return re.sub(rb"UID (\d+)", lambda m: b"UID %d" % (int(m.group(1)) + 1), r, count=1)


def change_header_field(rnd, r):
    """A header field name in lower case in a HEADER.FIELDS answer (its
    literal keeps its length)."""
    m = re.search(rb"BODY\[HEADER\.FIELDS \([^)]*\)\] \{(\d+)\}\r\n([A-Z])", r)
    if not m or rnd.random() > 0.3:
        return r
    return r[:m.start(2)] + m.group(2).lower() + r[m.end(2):]


def expunge_beyond(rnd, r):
    return re.sub(rb"^\* (\d+) EXPUNGE", lambda m: b"* %d EXPUNGE" % (int(m.group(1)) + 1000), r)


def tagged_bad(rnd, r):
    if rnd.random() > 0.02:
        return r
    return re.sub(rb"^(c\d+\.\d+) OK", rb"\1 BAD", r)


def lose_answer(rnd, r):
    if re.match(rb"c\d+\.\d+ OK", r) and rnd.random() < 0.01:
        return None
    return r


def close_connection(rnd, r):
    return False if rnd.random() < 0.005 else r


def appenduid_low(rnd, r):
    return re.sub(rb"\[APPENDUID (\d+) (\d+)\]",
                  lambda m: b"[APPENDUID %s %d]" % (m.group(1), max(1, int(m.group(2)) - 1)), r)


def wrong_size(rnd, r):
    if not fetch(r) or rnd.random() > 0.1:
        return r
    return re.sub(rb"RFC822\.SIZE (\d+)", lambda m: b"RFC822.SIZE %d" % (int(m.group(1)) + 1), r)


def password_hash():
    rc, out, err = phtest.posthorn("hash", "--hash", "sha512-crypt", "-p", PASSWORD)
    assert rc == 0, err
    return out.strip()


def port_not_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CheckerFindsTest(phtest.TempDirTest):
    def setUp(self):
        super().setUp()
        h = password_hash()
        for attempt in range(3):  # another test may take the port before posthorn binds it
            self.port = port_not_in_use()
            try:
                self.start_server(h)
                return
            except AssertionError:
                if attempt == 2:
                    raise

    def start_server(self, h):
        conf = self.write("posthorn.conf", """
state_dir %s
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:%d {
    auth pass_table static {
        entry stress0 %s
        entry stress1 %s
    }
    storage &local_mailboxes
    insecure_auth yes
    max_connections_per_ip 100
}
""" % (self.dir, self.port, h, h))
        self.start(conf)

    def check_finds(self, mutate, kinds, timeout=10, detail=None):
        """Runs the checker through a proxy that mutates answers; it must
        fail and name one of kinds (in a report that matches detail)."""
        proxy = Proxy(self.port, mutate)
        try:
            p = subprocess.run([sys.executable, CHECKER, "--connect", "127.0.0.1:%d" % proxy.port,
                                "--password", PASSWORD, "--users", "2", "--clients", "4", "--seconds", "60",
                                "--timeout", str(timeout), "--until", ",".join(kinds), "--quiet"],
                               capture_output=True, text=True, timeout=180)
        finally:
            proxy.close()
        found = [k for k in kinds if "VIOLATION [%s]" % k in p.stdout]
        self.assertEqual(p.returncode, 1, p.stdout[-3000:] + p.stderr[-3000:])
        self.assertTrue(found, "none of %s in:\n%s%s" % (kinds, p.stdout[-6000:], p.stderr[-3000:]))
        if detail:
            self.assertTrue(any(detail(line) for line in p.stdout.splitlines() if line.startswith("VIOLATION")),
                            p.stdout[-6000:])
        self.assertIn("imapstress: FAILED", p.stdout)

    def test_keyword_missing_from_fetch_flags_after_store(self):
        self.check_finds(drop_own_keyword, ["store-fetch"])

    def test_uid_changed_without_expunge(self):
        self.check_finds(shift_uid, ["uid", "uid-reuse"])

    def test_header_fields_answer_differs_from_the_message(self):
        # The field name the proxy wrote in lower case, not another report.
        def lowered(line):
            m = re.search(r"> is b'([a-z])[^;]*; from the message's own bytes \([^)]*\) it is b'([A-Z])", line)
            return m and m.group(1) == m.group(2).lower()
        self.check_finds(change_header_field, ["header-fields"], detail=lowered)

    def test_expunge_beyond_the_message_count(self):
        self.check_finds(expunge_beyond, ["seq"])

    def test_bad_to_a_valid_command(self):
        self.check_finds(tagged_bad, ["bad"])

    def test_command_without_answer(self):
        self.check_finds(lose_answer, ["hang"], timeout=3)

    def test_connection_closed_unasked(self):
        self.check_finds(close_connection, ["closed"])

    def test_appenduid_not_above_uids_seen(self):
        self.check_finds(appenduid_low, ["uid", "uid-reuse"])

    def test_rfc822_size_differs_from_the_message(self):
        self.check_finds(wrong_size, ["computed", "immutable"], detail=lambda line: "RFC822.SIZE of" in line)


def load_checker():
    spec = importlib.util.spec_from_file_location("imapstress", CHECKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class ScriptedServer:
    """One connection: a greeting, then each command line (no literals)
    is answered with what script(tag, text) returns, "TAG" in it replaced
    by the command's tag."""

    def __init__(self, script):
        self.script = script
        self.listener, self.port = listen(1)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        c, _ = self.listener.accept()
        with c:
            c.sendall(b"* OK scripted\r\n")
            buf = b""
            while True:
                while b"\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                line, buf = buf.split(b"\r\n", 1)
                tag, _, text = line.decode().partition(" ")
                answer = self.script(tag, text)
                c.sendall(answer.replace("TAG", tag).encode())
                if text.upper() == "LOGOUT":
                    return

    def close(self):
        self.listener.close()


class ScriptedTest(unittest.TestCase):
    """Answers a real server may give in a race, each fed to a checker
    client whose model must accept it (a violation is a checker bug)."""

    def client(self, script, k=0, world=None):
        st = load_checker()
        if world is None:
            args = argparse.Namespace(seed=1, timeout=10, until=set(), max_report=10, password=PASSWORD,
                                      mailbox_size=80, messages=None)
            world = st.World(args)
            world.corpus = []
        server = ScriptedServer(script)
        self.addCleanup(server.close)
        w = st.Worker(k, world, ("127.0.0.1", server.port), "stress0")
        self.addCleanup(w.close)
        return st, world, w

    def selected(self, extra, messages=tuple((u, "") for u in range(444, 449)), flags="\\Seen $s0-k0"):
        """A script: LOGIN, SELECT INBOX of messages ((UID, flags) in
        order; FLAGS lists flags), FETCH 1:* (UID FLAGS), then extra(text)
        for the commands after."""
        def script(tag, text):
            if text.startswith("LOGIN"):
                return "TAG OK Logged in\r\n"
            if text == "SELECT INBOX":
                return ("* FLAGS (%s)\r\n* OK [PERMANENTFLAGS (%s \\*)] ok\r\n* %d EXISTS\r\n* 0 RECENT\r\n"
                        "* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT %d] ok\r\nTAG OK [READ-WRITE] SELECT completed\r\n"
                        % (flags, flags, len(messages), messages[-1][0] + 1))
            if text == "FETCH 1:* (UID FLAGS)":
                return "".join("* %d FETCH (UID %d FLAGS (%s))\r\n" % (i + 1, u, f) for i, (u, f) in
                               enumerate(messages)) + "TAG OK FETCH completed\r\n"
            return extra(text)
        return script

    def login_select(self, st, w, uids=(444, 445, 446, 447, 448)):
        w.login()
        w.view = st.View("INBOX", False)
        w.run_cmd("SELECT INBOX", target="INBOX")
        w.run_cmd("FETCH 1:* (UID FLAGS)")
        self.assertEqual(w.view.uids, list(uids))

    def test_uid_fetch_up_to_star_while_the_highest_message_is_expunged(self):
        """RFC 3501 7.4.1: a UID FETCH may announce EXPUNGEs; "448:*" was
        UID 448 alone when the command began, although 447 is the highest
        UID after the EXPUNGE of 448 that comes with the answer (6.4.8:
        "*" is the largest number in use, and n:* with n above it means
        *:n only when the mailbox has no n)."""
        def extra(text):
            if text == "UID FETCH 448:* (UID)":
                return "* 5 FETCH (UID 448)\r\n* 5 EXPUNGE\r\n* 2 EXPUNGE\r\nTAG OK FETCH completed\r\n"
            return "TAG OK\r\n"
        st, world, w = self.client(self.selected(extra))
        self.login_select(st, w)
        w.fetch(True, "448:*", ["UID"])
        self.assertEqual(w.view.uids, [444, 446, 447])
        self.assertEqual(world.nviolations, 0, world.violations)

    def test_replace_by_another_client_just_before_a_store_is_sent(self):
        """Client 42 replaces the flags of UID 323 (STORE FLAGS), dropping
        client 30's $s30-n3, after client 30 has looked up what its
        keywords were but before its own STORE +FLAGS ($s30-n4) goes out
        (its thread was not scheduled meanwhile): the answer without
        $s30-n3 is right (RFC 3501 6.4.6: FLAGS replaces the flags)."""
        def script(store, answer):
            return self.selected(lambda text: answer + "TAG OK STORE completed\r\n" if text == store
                                 else "TAG BAD unexpected\r\n", ((323, "$s30-n3"),),
                                 "\\Seen $s30-n3 $s30-n4 $s42-k1 $s42-k2")

        st, world, c30 = self.client(script("STORE 1 +FLAGS ($s30-n4)",
                                            "* 1 FETCH (FLAGS ($s42-k1 $s42-k2 $s30-n4))\r\n"), k=30)
        _, _, c42 = self.client(script("UID STORE 323 FLAGS ($s42-k1 $s42-k2)",
                                       "* 1 FETCH (FLAGS ($s42-k1 $s42-k2) UID 323)\r\n"), k=42, world=world)
        for c in (c30, c42):
            self.login_select(st, c, [323])
        sent = c30.run_cmd

        def run_cmd(text, *a, **kw):
            if text.startswith("STORE"):  # client 30 has taken its keywords' state and marked its STORE
                c42.store(True, "323", "", "", ["$s42-k1", "$s42-k2"], "replace", ["$s42-k1", "$s42-k2"])
            return sent(text, *a, **kw)
        c30.run_cmd = run_cmd
        c30.store(False, "1", "+", "", ["$s30-n4"], "fresh", ["$s30-n4"])
        self.assertEqual(world.nviolations, 0, world.violations)


if __name__ == "__main__":
    phtest.main()
