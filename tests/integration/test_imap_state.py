# SPDX-License-Identifier: MIT
"""What a session is told about its selected mailbox, byte for byte:
\\Recent under EXAMINE (RFC 3501 6.3.2).

test_imap_pgsql.py runs these classes on storage.pgsql too."""
import re

import phtest
from test_imap import MSG, ImapTest

SYSTEM = b"\\Answered \\Flagged \\Deleted \\Seen \\Draft"


def flags_lines(*keywords, readonly=False):
    """The untagged FLAGS (and, read-write, PERMANENTFLAGS) that list the
    system flags and keywords (in the server's order: case-insensitive)."""
    listed = b" ".join([SYSTEM] + [k.encode() for k in keywords])
    out = b"* FLAGS (" + listed + b")\r\n"
    if not readonly:
        out += b"* OK [PERMANENTFLAGS (" + listed + b" \\*)] Flags permitted\r\n"
    return out


def append_cmd(tag, flags, msg=MSG):
    return ("%s APPEND INBOX (%s) {%d+}\r\n" % (tag, flags, len(msg))).encode() + msg + b"\r\n"


class StateTest(ImapTest):
    def fill(self, *flag_lists):
        """Appends one message per flag list, then takes their \\Recent away
        (a SELECT that ends), so that no session's answer depends on which
        one takes it."""
        c = self.client()
        for flags in flag_lists:
            typ, data = c.append("INBOX", flags, None, MSG)
            self.assertEqual(typ, "OK", data)
        c.select("INBOX")
        c.close()

    def session(self, command="SELECT INBOX"):
        r = self.raw()
        r.login()
        out = r.cmd("s", command)
        self.assertIn(b"s OK", out)
        return r, out

    def idle(self, r):
        r.send(b"i IDLE\r\n")
        self.assertEqual(r.line(), b"+ idling\r\n")

    def lines_until(self, r, pattern):
        """Reads lines (each waits for the server, up to the socket
        timeout) through the first one matching pattern."""
        out = b""
        while True:
            line = r.line()
            out += line
            if re.search(pattern, line):
                return out

    def uidvalidity(self, select_answer):
        return int(re.search(rb"UIDVALIDITY (\d+)", select_answer).group(1))


class RecentTest(StateTest):
    def test_examine_shows_recent_without_taking_it(self):
        c = self.client()
        c.append("INBOX", None, None, MSG)
        c.append("INBOX", None, None, MSG)
        r = self.raw()
        r.login()
        self.assertEqual(r.cmd("a", "STATUS INBOX (RECENT)"),
                         b"* STATUS INBOX (RECENT 2)\r\na OK STATUS completed\r\n")
        # RFC 3501 6.3.2: EXAMINE answers as SELECT does, RECENT included,
        # and "MUST NOT cause messages to lose the \Recent flag".
        self.assertRegex(r.cmd("b", "EXAMINE INBOX"),
                         re.escape(flags_lines(readonly=True) +
                                   b"* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n"
                                   b"* 2 EXISTS\r\n* 2 RECENT\r\n* OK [UNSEEN 1] First unseen\r\n") +
                         rb"\* OK \[UIDVALIDITY \d+\] UIDs valid\r\n"
                         rb"\* OK \[UIDNEXT 3\] Predicted next UID\r\n"
                         rb"b OK \[READ-ONLY\] EXAMINE completed\r\n$")
        self.assertEqual(r.cmd("c", "FETCH 1:* FLAGS"),
                         b"* 1 FETCH (FLAGS (\\Recent))\r\n* 2 FETCH (FLAGS (\\Recent))\r\n"
                         b"c OK FETCH completed\r\n")
        self.assertEqual(r.cmd("d", "SEARCH RECENT"), b"* SEARCH 1 2\r\nd OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("e", "STATUS INBOX (RECENT)"),
                         b"* STATUS INBOX (RECENT 2)\r\ne OK STATUS completed\r\n")
        # A later arrival is recent here too, and still nobody's.
        c.append("INBOX", None, None, MSG)
        self.assertEqual(r.cmd("f", "NOOP"), b"* 3 EXISTS\r\n* 3 RECENT\r\nf OK NOOP completed\r\n")
        # A COPY into the examined mailbox makes a new message: the same.
        self.assertRegex(r.cmd("g", "COPY 1 INBOX"),
                         rb"^\* 4 EXISTS\r\n\* 4 RECENT\r\ng OK \[COPYUID \d+ 1 4\] COPY completed\r\n$")
        self.assertEqual(r.cmd("h", "STATUS INBOX (RECENT)"),
                         b"* STATUS INBOX (RECENT 4)\r\nh OK STATUS completed\r\n")
        # SELECT afterwards, in the same session: it takes them.
        self.assertIn(b"* 4 EXISTS\r\n* 4 RECENT\r\n", r.cmd("i", "SELECT INBOX"))
        self.assertEqual(r.cmd("j", "STATUS INBOX (RECENT)"),
                         b"* STATUS INBOX (RECENT 0)\r\nj OK STATUS completed\r\n")
        # A new EXAMINE finds none left.
        o, out = self.session("EXAMINE INBOX")
        self.assertIn(b"* 4 EXISTS\r\n* 0 RECENT\r\n", out)
        self.assertEqual(o.cmd("k", "FETCH 1 FLAGS"), b"* 1 FETCH (FLAGS ())\r\nk OK FETCH completed\r\n")

    def test_examine_while_another_session_has_it_selected(self):
        self.fill(None)
        w, _ = self.session()
        ro, _ = self.session("EXAMINE INBOX")
        c = self.client()
        c.append("INBOX", None, None, MSG)
        # Whoever asks first: the read-write session takes it, the
        # read-only one does not show what is taken.
        self.assertEqual(w.cmd("n", "NOOP"), b"* 2 EXISTS\r\n* 1 RECENT\r\nn OK NOOP completed\r\n")
        self.assertEqual(ro.cmd("n", "NOOP"), b"* 2 EXISTS\r\n* 0 RECENT\r\nn OK NOOP completed\r\n")
        c.append("INBOX", None, None, MSG)
        self.assertEqual(ro.cmd("o", "NOOP"), b"* 3 EXISTS\r\n* 1 RECENT\r\no OK NOOP completed\r\n")
        self.assertEqual(w.cmd("o", "NOOP"), b"* 3 EXISTS\r\n* 2 RECENT\r\no OK NOOP completed\r\n")


if __name__ == "__main__":
    phtest.main()
