# SPDX-License-Identifier: MIT
"""Real clients with UTF8=ACCEPT (RFC 6855) against posthorn:

- imapflow (npm, tests/clients/imapflow/utf8.mjs) enables UTF8=ACCEPT at
  connect and then names mailboxes in UTF-8, appends UTF-8 headers,
  lists, asks STATUS and searches without a CHARSET; on storage.sqlite
  and storage.pgsql.
- neomutt, driven in tmux, enables UTF8=ACCEPT, lists the folders in its
  browser and opens a UTF-8 folder: the screen shows the names and the
  subject, and the protocol log shows UTF-8 on the wire, no modified
  UTF-7.

Without node and imapflow (scripts/check installs them), or without
neomutt and tmux, the tests are skipped."""
import os
import shutil
import subprocess
import time
import unittest

import pgtest
import phtest
from test_clients_sort import client_missing, run_client
from test_imap import PASSWORD, ImapTest
from test_utf8 import no_id
from test_imapflow import PGSQL_BUILT, OnPgsql

SUBJECT = "Grüße aus Köln"
UTF8_MSG = ("From: Jürgen <juergen@example.org>\r\nTo: bob@example.org\r\n"
            "Subject: %s\r\nMessage-ID: <utf8@example.org>\r\n\r\nHallo\r\n" % SUBJECT).encode()


@unittest.skipIf(client_missing("imapflow", "imapflow"), client_missing("imapflow", "imapflow"))
class ImapflowUtf8Test(ImapTest):
    extra = "io_debug yes"
    maxDiff = None

    def test_imapflow_with_utf8_accept(self):
        got = run_client(self, "imapflow", "utf8.mjs")
        self.assertEqual(got, {
            # imapflow asks for IMAP4rev2 too (RFC 9051 Appendix A).
            "enabled": ["CONDSTORE", "IMAP4REV2", "UTF8=ACCEPT"],
            "created": "Ärger.Köln",
            "appended": 1,
            "paths": ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash", "Ärger", "Ärger.Köln"],
            "status": {"messages": 1, "unseen": 0},
            "found": [1],
            "subject": SUBJECT,
            "from": "Jürgen",
            "header": "Subject: %s\r\n\r\n" % SUBJECT,
        })
        # On the wire: UTF-8 names, never modified UTF-7, and no CHARSET.
        log = self.server.log_text()
        sent = [l for l in log.splitlines() if "dir=C" in l]
        self.assertTrue(any("ENABLE" in l and "UTF8=ACCEPT" in l for l in sent), sent)
        self.assertTrue(any("Ärger.Köln" in l and "SELECT" in l for l in sent), sent)
        self.assertEqual([l for l in log.splitlines() if "&AMQ-" in l or "CHARSET" in l], [])


@unittest.skipUnless(PGSQL_BUILT, "built without storage.pgsql")
class ImapflowUtf8PgsqlTest(OnPgsql, ImapflowUtf8Test):
    pass


def neomutt_missing():
    for tool in ("neomutt", "tmux"):
        if shutil.which(tool) is None:
            return "no %s (apt-get install neomutt tmux)" % tool
    return None


@unittest.skipIf(neomutt_missing(), neomutt_missing())
class NeomuttUtf8Test(ImapTest):
    extra = "io_debug yes"

    def screen(self):
        return subprocess.run(["tmux", "-L", self.tmux, "capture-pane", "-p", "-t", "mutt"],
                              capture_output=True, text=True, timeout=30).stdout

    def wait_screen(self, text, timeout=60):
        """The screen once it shows text: neomutt draws when it has read
        the server's answers."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if text in shown:
                return shown
            self.assertLess(time.monotonic(), deadline, "never shown: %r in\n%s" % (text, shown))
            time.sleep(0.1)

    def keys(self, *keys):
        subprocess.run(["tmux", "-L", self.tmux, "send-keys", "-t", "mutt"] + list(keys), check=True, timeout=30)

    def test_neomutt_lists_and_opens_a_utf8_folder(self):
        r = self.raw()
        r.login()
        self.assertIn(b"e OK", r.cmd("e", "ENABLE UTF8=ACCEPT"))
        r.send(b'c CREATE "\xc3\x84rger.K\xc3\xb6ln"\r\n')
        self.assertEqual(no_id(r.until("c")), b"c OK CREATE completed\r\n")
        r.send(b'a APPEND "\xc3\x84rger.K\xc3\xb6ln" UTF8 (~{%d+}\r\n' % len(UTF8_MSG) + UTF8_MSG + b")\r\n")
        self.assertIn(b"a OK [APPENDUID", r.until("a"))
        muttrc = self.write("muttrc", """
set folder="imap://bob@127.0.0.1:%d/"
set imap_pass="%s"
set spoolfile="+INBOX"
set ssl_starttls=no
set ssl_force_tls=no
set charset="utf-8"
set header_cache=""
set message_cachedir=""
set record=""
set postponed=""
set imap_check_subscribed=no
set mail_check_stats=no
set sort=date
set index_format="%%4C %%-15.15L %%s"
""" % (self.port, PASSWORD))
        # A tmux server of the test's own (-L), so nothing is shared with
        # others and kill-server ends only what this test started.
        self.tmux = "posthorn-utf8-%d" % os.getpid()
        env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm-256color",
                   HOME=self.dir)
        subprocess.run(["tmux", "-L", self.tmux, "-f", "/dev/null", "new-session", "-d", "-s", "mutt",
                        "-x", "160", "-y", "40", "neomutt", "-n", "-F", muttrc, "-f",
                        "imap://bob@127.0.0.1:%d/\u00c4rger.K\u00f6ln" % self.port],
                       check=True, env=env, timeout=30)
        self.addCleanup(subprocess.run, ["tmux", "-L", self.tmux, "kill-server"], timeout=30)
        shown = self.wait_screen(SUBJECT)
        self.assertIn("Jürgen", shown)
        # The folder browser: "c" (change folder), "?" (the browser, on
        # its list of `mailboxes`: none), Tab (the folders of the server,
        # by LIST).
        self.keys("c")
        self.wait_screen("Open mailbox")
        self.keys("?")
        self.wait_screen("Mailboxes [0]")
        self.keys("Tab")
        shown = self.wait_screen("Ärger")
        self.assertRegex(shown, r"\n +7 +IMAP \+ +Ärger\.\n")
        self.assertNotIn("&AMQ-", shown)
        self.keys("q")
        self.keys("q")
        log = self.server.log_text()
        sent = [l for l in log.splitlines() if "dir=C" in l]
        self.assertTrue(any("ENABLE UTF8=ACCEPT" in l for l in sent), sent)
        self.assertTrue(any("SELECT" in l and "Ärger.Köln" in l for l in sent), sent)
        self.assertTrue(any("LIST" in l for l in sent), sent)
        self.assertIn('\\".\\" \\"Ärger\\"', log)
        self.assertEqual([l for l in log.splitlines() if "&AMQ-" in l], [])


def tearDownModule():
    pgtest.teardown()


if __name__ == "__main__":
    phtest.main()
