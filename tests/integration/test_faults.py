# SPDX-License-Identifier: MIT
"""Faults (issue 8): the server killed with SIGKILL in the middle of many
APPENDs, and a full disk under state_dir. What was answered OK must survive
byte for byte, nothing half-written may become visible, UIDs never go
backwards, and the server recovers."""
import imaplib
import os
import random
import re
import signal
import subprocess
import threading
import time

import phtest
from test_imap import PASSWORD, password_hash


def message(client, n, size):
    rnd = random.Random(client * 100000 + n)
    import base64
    raw = base64.b64encode(rnd.randbytes(size * 3 // 4 + 3)).decode()[:size]
    body = "\r\n".join(raw[i:i + 76] for i in range(0, len(raw), 76))
    return ("From: c%d@example.org\r\nTo: bob@example.org\r\nSubject: c%d n%d\r\n"
            "Message-ID: <c%d.n%d@example.org>\r\n\r\n%s\r\n" % (
                client, client, n, client, n, body)).encode()


class FaultTest(phtest.TempDirTest):
    # The size of the APPENDs that fill the disk: storage.sqlite keeps what
    # they add in state_dir, so 100 KB ones fill the last 300 KB.
    big_append = 100000

    def config(self, state_dir):
        return self.write("posthorn.conf", """
state_dir %(s)s
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    auth pass_table static { entry bob %(hash)s }
    storage &local_mailboxes
    insecure_auth yes
}
""" % {"s": state_dir, "hash": password_hash()})

    def start(self, conf):
        server = super().start(conf)
        self.port = server.port  # a new one after each start
        return server

    def client(self):
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        c.login("bob", PASSWORD)
        return c

    def stored(self):
        """{uid: bytes} of INBOX, and its UIDVALIDITY and UIDNEXT."""
        c = self.client()
        c.select("INBOX", readonly=True)
        validity = int(c.response("UIDVALIDITY")[1][0])
        uidnext = int(c.response("UIDNEXT")[1][0])
        out = {}
        typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple):
                out[int(re.search(rb"UID (\d+)", item[0]).group(1))] = item[1]
        c.logout()
        return out, validity, uidnext

    def test_sigkill_during_concurrent_appends(self):
        state = os.path.join(self.dir, "state")
        os.makedirs(state)
        conf = self.config(state)
        server = self.start(conf)
        c = self.client()
        c.select("INBOX")
        validity = int(c.response("UIDVALIDITY")[1][0])
        c.logout()

        ok = {}  # uid -> bytes, answered OK with APPENDUID
        sent = set()
        lock = threading.Lock()
        stop = threading.Event()
        enough = threading.Event()  # 300 APPENDs answered OK

        def appender(k):
            try:
                c = self.client()
                for n in range(125):
                    if stop.is_set():
                        return
                    msg = message(k, n, 500 + (n * 997) % 60000)
                    with lock:
                        sent.add(msg)
                    typ, data = c.append("INBOX", None, None, msg)
                    if typ == "OK":
                        uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
                        with lock:
                            ok[uid] = msg
                            if len(ok) >= 300:
                                enough.set()
            except Exception:
                pass  # the server went away under it: expected

        threads = [threading.Thread(target=appender, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        # A guard against a hang, not a clock: wait while APPENDs still
        # complete (a loaded CI machine is slow, not stuck); the assertion
        # below says whether 300 were reached.
        last, seen = time.monotonic(), 0
        while not enough.wait(5) and time.monotonic() - last < 60:
            with lock:
                if len(ok) > seen:
                    last, seen = time.monotonic(), len(ok)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        stop.set()
        for t in threads:
            t.join(30)
        self.assertGreaterEqual(len(ok), 300)

        self.start(conf)
        got, validity2, uidnext = self.stored()
        self.assertEqual(validity2, validity)
        for uid, msg in ok.items():
            self.assertIn(uid, got, "answered OK, then lost")
            self.assertEqual(got[uid], msg, uid)
        for uid, data in got.items():
            self.assertIn(data, sent, "uid %d is no message any client sent whole" % uid)
        # UIDs never go backwards: the next one is above all ever given.
        self.assertGreater(uidnext, max(ok))
        c = self.client()
        typ, data = c.append("INBOX", None, None, message(99, 0, 100))
        uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
        self.assertGreater(uid, max(got))
        c.logout()

    def test_disk_full(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a small tmpfs needs root")
        mnt = os.path.join(self.dir, "small")
        os.makedirs(mnt)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mnt],
                           capture_output=True)
        if p.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: %s" % p.stderr.decode().strip())
        self.addCleanup(subprocess.run, ["umount", "-l", mnt])
        conf = self.config(mnt)
        server = self.start(conf)
        c = self.client()
        kept = {}
        for n in range(5):
            msg = message(1, n, 20000)
            typ, data = c.append("INBOX", None, None, msg)
            self.assertEqual(typ, "OK")
            kept[int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))] = msg
        # Leave about 300 KB free; then APPEND 100 KB messages until refused.
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - 300 * 1024))
        refused = None
        for n in range(5, 40):
            msg = message(1, n, self.big_append)
            try:
                typ, data = c.append("INBOX", None, None, msg)
            except imaplib.IMAP4.error as e:
                refused = str(e)
                break
            if typ != "OK":
                refused = data[0].decode()
                break
            kept[int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))] = msg
        self.assertIsNotNone(refused, "a full disk never refused an APPEND")
        print("disk full answer:", refused)
        self.assertRegex(refused, r"(?i)\[(UNAVAILABLE|SERVERBUG|OVERQUOTA|LIMIT)\].*")
        self.assertRegex(refused, r"(?i)space|full|disk")
        # What was stored is intact, and the session still works.
        self.assertEqual(c.noop()[0], "OK")
        c.logout()
        got, _, _ = self.stored()
        for uid, msg in kept.items():
            self.assertEqual(got.get(uid), msg, uid)
        # Space returns: APPEND works again, without a restart.
        os.unlink(filler)
        c = self.client()
        typ, data = c.append("INBOX", None, None, message(2, 0, 100000))
        self.assertEqual(typ, "OK", data)
        c.logout()
        server.stop()


if __name__ == "__main__":
    phtest.main()
