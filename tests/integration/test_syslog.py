# SPDX-License-Identifier: MIT
"""`log syslog` through the real binary (issue 9): every event reaches the
syslog socket as one datagram with facility mail, ident posthorn[PID], the
level as its priority and in the text, and never a line break inside, so
journald (which serves /dev/log too) and rsyslog keep one event a record.

The socket is this test's own: posthorn runs in a private mount namespace
(unshare, as root) whose /dev is a small tmpfs holding the device nodes a
run needs and the test's socket as /dev/log; the machine's /dev is not
touched."""
import os
import re
import shutil
import socket
import subprocess
import time
import unittest

import phtest
from test_imap import PASSWORD, Raw, password_hash

# Puts the socket in $1 at /dev/log in a private /dev, then runs the rest.
NAMESPACE = r"""
set -e
sock=$1; shift
old=$(mktemp -d)
mount --rbind /dev "$old"
mount -t tmpfs -o mode=755,size=1m tmpfs /dev
for f in null zero full random urandom; do
  touch /dev/$f; mount --bind "$old/$f" /dev/$f
done
ln -s /proc/self/fd /dev/fd
touch /dev/log; mount --bind "$sock" /dev/log
umount -l "$old"; rmdir "$old"
exec "$@"
"""

LOG_MAIL = 2  # RFC 5424 facility numbers
SEVERITY = {"error": 3, "warn": 4, "info": 6, "debug": 7}


def why_skip():
    if os.geteuid() != 0:
        return "needs root for a private mount namespace"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) not installed"
    p = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if p.returncode != 0:
        return "cannot make a mount namespace here: %s" % p.stderr.decode().strip()
    return None


@unittest.skipIf(why_skip(), why_skip())
class SyslogTest(phtest.TempDirTest):
    def test_events_are_one_datagram_each(self):
        sock_path = os.path.join(self.dir, "log.sock")
        logsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        logsock.bind(sock_path)
        self.addCleanup(logsock.close)
        conf = self.write("posthorn.conf", """
state_dir %(d)s
log syslog
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    auth pass_table static { entry bob %(hash)s }
    storage &local_mailboxes
    insecure_auth yes
    auth_fail_delay 0ms
}
""" % {"d": self.dir, "hash": password_hash()})
        out = open(os.path.join(self.dir, "stderr"), "wb")
        self.addCleanup(out.close)
        proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                 NAMESPACE, "sh", sock_path, phtest.POSTHORN, "run",
                                 "--config", conf],
                                stdout=out, stderr=subprocess.STDOUT, env=phtest.env())
        self.addCleanup(lambda: (proc.poll() is None and proc.kill(), proc.wait()))
        records = []

        def read_until(pattern, timeout=20):
            logsock.settimeout(0.5)
            deadline = time.time() + timeout
            while time.time() < deadline:
                try:
                    records.append(logsock.recv(65536))
                except socket.timeout:
                    pass
                if any(re.search(pattern, r) for r in records):
                    return
            self.fail("no syslog record matching %r; got %r (stderr %r)" % (
                pattern, records, open(os.path.join(self.dir, "stderr"), "rb").read()))

        read_until(rb"server started")
        port = phtest.listeners_in(b"\n".join(records).decode(errors="replace"))[0][2]
        import imaplib
        c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        c.login("bob", PASSWORD)
        c.logout()
        # A user name with a line break in it (a quoted string may not hold
        # one, a literal may): its event stays one line.
        r = Raw(port)
        r.send(b"a LOGIN {4+}\r\nx\r\ny \"wrong\"\r\n")
        self.assertRegex(r.until("a").splitlines()[-1], rb"^a NO ")
        r.close()
        read_until(rb"event=login result=ok user=bob")
        read_until(rb'event=login result=failed user="x\\x0d\\x0ay"')
        proc.terminate()
        proc.wait(20)
        read_until(rb"event=stopped|msg=\"?server stop")
        self.assertEqual(open(os.path.join(self.dir, "stderr"), "rb").read(), b"",
                         "with log syslog nothing goes to stderr")
        pid = proc.pid
        for r in records:
            m = re.match(rb"^<(\d+)>(.*)$", r, re.S)
            self.assertIsNotNone(m, r)
            pri = int(m.group(1))
            text = m.group(2)
            self.assertEqual(pri >> 3, LOG_MAIL, r)
            self.assertNotIn(b"\n", text.rstrip(b"\n"), r)
            self.assertNotIn(b"\r", text, r)
            lm = re.search(rb" posthorn\[(\d+)\]: level=(\w+) ", text)
            self.assertIsNotNone(lm, r)
            self.assertEqual(pri & 7, SEVERITY[lm.group(2).decode()], r)
            # unshare execs sh, which execs posthorn: the same pid.
            self.assertEqual(int(lm.group(1)), pid, r)
        self.assertNotIn(PASSWORD.encode(), b"".join(records))


if __name__ == "__main__":
    phtest.main()
