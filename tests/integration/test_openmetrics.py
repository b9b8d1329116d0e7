# SPDX-License-Identifier: MIT
"""The openmetrics endpoint through the real binary: /metrics in the
OpenMetrics text format (and Prometheus' text format without the Accept),
counters that move as a scripted IMAP session runs, bounded labels (no
user or address anywhere), HTTP errors, and promtool's check when the
Debian package prometheus is there."""
import imaplib
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request

import phtest
from test_imap import PASSWORD, password_hash

OM = "application/openmetrics-text; version=1.0.0"


class MetricsTest(phtest.TempDirTest):
    def setUp(self):
        super().setUp()
        os.makedirs(os.path.join(self.dir, "state"))
        conf = self.write("posthorn.conf", """
state_dir %(d)s/state
storage.sqlite s { }
imap tcp://127.0.0.1:0 {
    auth pass_table static { entry bob %(hash)s }
    storage &s
    auth_fail_delay 0ms
    insecure_auth yes
}
openmetrics tcp://127.0.0.2:0
""" % {"d": self.dir, "hash": password_hash()})
        self.server = self.start(conf)
        # Two listeners with one address text would share a socket (the
        # listener pool keys them by address): the metrics on 127.0.0.2.
        ports = self.server.ports
        self.imap_port, self.metrics_port = ports[0], ports[1]

    def scrape(self, accept=OM):
        req = urllib.request.Request("http://127.0.0.2:%d/metrics" % self.metrics_port,
                                     headers={"Accept": accept} if accept else {})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.headers.get("Content-Type"), r.read().decode()

    def value(self, text, sample):
        m = re.search(r"^%s (\S+)$" % re.escape(sample), text, re.M)
        return float(m.group(1)) if m else 0.0

    def wait_value(self, sample, want):
        deadline = time.monotonic() + 60
        while True:
            _, text = self.scrape()
            v = self.value(text, sample)
            if v == want or time.monotonic() > deadline:
                return v
            time.sleep(0.05)

    def test_counters_move_with_a_session(self):
        ctype, before = self.scrape()
        self.assertTrue(ctype.startswith("application/openmetrics-text"), ctype)
        self.assertTrue(before.endswith("# EOF\n"))
        self.assertRegex(before, r'posthorn_build_info\{version="[^"]+",abi="1\.\d+"\} 1')

        c = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=60)
        c.login("bob", PASSWORD)
        c.select("INBOX")
        c.noop()
        c.noop()
        with self.assertRaises(imaplib.IMAP4.error):
            c._simple_command("FETCH", "x", "(FLAGS)")
        bad = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=60)
        with self.assertRaises(imaplib.IMAP4.error):
            bad.login("bob", "wrong")
        bad.logout()

        # An IDLE session counts while it idles.
        raw = socket.create_connection(("127.0.0.1", self.imap_port), 60)
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b'a LOGIN bob "%s"\r\nb SELECT INBOX\r\nc IDLE\r\n' % PASSWORD.encode())
        while not f.readline().startswith(b"+ "):
            pass
        self.assertEqual(self.wait_value("posthorn_imap_idle_sessions", 1), 1)
        raw.sendall(b"DONE\r\nd LOGOUT\r\n")
        raw.close()
        self.assertEqual(self.wait_value("posthorn_imap_idle_sessions", 0), 0)

        _, after = self.scrape()
        self.assertEqual(self.value(after, 'posthorn_imap_commands_total{command="NOOP",result="OK"}'), 2)
        self.assertEqual(self.value(after, 'posthorn_imap_commands_total{command="SELECT",result="OK"}'), 2)
        self.assertEqual(self.value(after, 'posthorn_imap_commands_total{command="FETCH",result="BAD"}'), 1)
        self.assertEqual(self.value(after, 'posthorn_imap_commands_total{command="IDLE",result="none"}'), 1)
        self.assertEqual(self.value(after, 'posthorn_logins_total{endpoint="imap",result="ok",mechanism="LOGIN"}'), 2)
        self.assertEqual(self.value(after, 'posthorn_logins_total{endpoint="imap",result="failed",mechanism="LOGIN"}'), 1)
        self.assertEqual(self.value(after, 'posthorn_connections_total{endpoint="imap",tls="no"}'), 3)
        self.assertEqual(self.value(after, 'posthorn_imap_command_duration_seconds_count{command="NOOP"}'), 2)
        self.assertEqual(self.value(after, 'posthorn_imap_command_duration_seconds_bucket{command="NOOP",le="+Inf"}'), 2)
        c.logout()
        # Label cardinality: no user or client address is ever a label.
        self.assertNotIn("bob", after)
        self.assertNotIn("127.0.0.1", after)

    def test_prometheus_text_format_and_promtool(self):
        ctype, text = self.scrape(accept=None)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        self.assertIn("# TYPE posthorn_logins_total counter", text)
        self.assertNotIn("# EOF", text)
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool not installed (apt-get install prometheus)")
        c = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=60)
        c.login("bob", PASSWORD)
        c.logout()
        _, text = self.scrape(accept=None)
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_http_errors(self):
        for path, code in [("/", 404), ("/metrics/x", 404)]:
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen("http://127.0.0.2:%d%s" % (self.metrics_port, path), timeout=30)
            self.assertEqual(e.exception.code, code)
        req = urllib.request.Request("http://127.0.0.2:%d/metrics" % self.metrics_port,
                                     data=b"x", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        self.assertEqual(e.exception.code, 405)
        # A client that sends nothing is dropped after the timeout; a
        # scrape meanwhile waits for it, then is answered.
        s = socket.create_connection(("127.0.0.2", self.metrics_port), 30)
        s.sendall(b"GET /metr")
        self.assertIn("# EOF", self.scrape()[1])
        s.close()


if __name__ == "__main__":
    phtest.main()
