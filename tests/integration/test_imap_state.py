# SPDX-License-Identifier: MIT
"""What a session is told about its selected mailbox, byte for byte:
keywords announced by FLAGS before a FETCH carries them (RFC 3501 7.2.6,
7.4.1), \\Recent under EXAMINE (RFC 3501 6.3.2), COPY and MOVE into the
selected mailbox itself (RFC 6851 3.3, RFC 4315 COPYUID).

test_imap_pgsql.py runs these classes on storage.pgsql too; test_pgsql.py
has the two-node cases."""
import collections
import re
import socket
import threading

import phtest
from test_imap import MSG, ImapTest, Raw

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


def tcp_wmem_max():
    """The most a TCP socket's send buffer grows to here (Linux)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 << 20


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


class KeywordTest(StateTest):
    def test_store_and_append_announce_new_keywords_first(self):
        self.fill(None, None)
        r, out = self.session()
        self.assertTrue(out.startswith(flags_lines()))
        # RFC 3501 7.2.6: the FLAGS that lists $Label1 comes before the
        # first FETCH that carries it.
        self.assertEqual(r.cmd("a", "STORE 1 +FLAGS ($Label1)"),
                         flags_lines("$Label1") +
                         b"* 1 FETCH (FLAGS ($Label1))\r\na OK STORE completed\r\n")
        # Keywords compare case-insensitively: nothing new here.
        self.assertEqual(r.cmd("b", "STORE 2 +FLAGS ($label1)"),
                         b"* 2 FETCH (FLAGS ($label1))\r\nb OK STORE completed\r\n")
        # .SILENT sends no FETCH, but the new keyword is the mailbox's.
        self.assertEqual(r.cmd("c", "UID STORE 2 +FLAGS.SILENT ($Label2)"),
                         flags_lines("$Label1", "$Label2") + b"c OK STORE completed\r\n")
        # An APPEND to the selected mailbox with a new keyword.
        r.send(append_cmd("d", "\\Seen $Label3"))
        self.assertRegex(r.until("d"),
                         re.escape(flags_lines("$Label1", "$Label2", "$Label3") +
                                   b"* 3 EXISTS\r\n* 1 RECENT\r\n") +
                         rb"d OK \[APPENDUID \d+ 3\] APPEND completed\r\n$")
        self.assertEqual(r.cmd("e", "FETCH 1:* FLAGS"),
                         b"* 1 FETCH (FLAGS ($Label1))\r\n* 2 FETCH (FLAGS ($label1 $Label2))\r\n"
                         b"* 3 FETCH (FLAGS (\\Seen \\Recent $Label3))\r\ne OK FETCH completed\r\n")
        # FLAGS replaces: other words in the same number are a change.
        self.assertEqual(r.cmd("r", "STORE 3 FLAGS (\\Seen $Label4)"),
                         flags_lines("$Label1", "$Label2", "$Label3", "$Label4") +
                         b"* 3 FETCH (FLAGS (\\Seen \\Recent $Label4))\r\nr OK STORE completed\r\n")
        self.assertEqual(r.cmd("r2", "STORE 3 FLAGS (\\Seen $LABEL4)"), b"r2 OK STORE completed\r\n")
        # An APPEND to another mailbox announces nothing here.
        r.cmd("f", "CREATE Other")
        r.send(append_cmd("g", "$Label5").replace(b"INBOX", b"Other"))
        self.assertRegex(r.until("g"), rb"^g OK \[APPENDUID \d+ 1\] APPEND completed\r\n$")

    def test_select_lists_every_keyword(self):
        # Not the first 100 only: every keyword a message carries.
        many = ["$K%03d" % i for i in range(150)]
        self.fill("(%s)" % " ".join(many[:75]), "(%s)" % " ".join(many[75:]))
        r, out = self.session()
        self.assertTrue(out.startswith(flags_lines(*many)), out[:200])
        r, out = self.session("EXAMINE INBOX")
        self.assertTrue(out.startswith(flags_lines(*many, readonly=True) +
                                       b"* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n"))

    def test_keywords_of_another_session_reach_idle_noop_fetch_and_examine(self):
        self.fill(None, None)
        a, _ = self.session()
        b, _ = self.session()
        ro, _ = self.session("EXAMINE INBOX")
        self.idle(a)
        self.assertEqual(b.cmd("b1", "STORE 1 +FLAGS ($Label1)"),
                         flags_lines("$Label1") +
                         b"* 1 FETCH (FLAGS ($Label1))\r\nb1 OK STORE completed\r\n")
        self.assertEqual(self.lines_until(a, rb"FETCH"),
                         flags_lines("$Label1") + b"* 1 FETCH (FLAGS ($Label1))\r\n")
        # A message another session appends with a new keyword: FLAGS
        # before its EXISTS (no FETCH is sent for it).
        appender = self.raw()
        appender.login()
        appender.send(append_cmd("p", "$Label2"))
        self.assertIn(b"p OK [APPENDUID", appender.until("p"))
        self.assertEqual(self.lines_until(a, rb"RECENT"),
                         flags_lines("$Label1", "$Label2") + b"* 3 EXISTS\r\n* 1 RECENT\r\n")
        a.send(b"DONE\r\n")
        self.assertEqual(a.line(), b"i OK IDLE terminated\r\n")

        # NOOP after another session's STORE .SILENT.
        b.cmd("b2", "STORE 2 +FLAGS.SILENT ($Label3)")
        self.assertEqual(a.cmd("n", "NOOP"),
                         flags_lines("$Label1", "$Label2", "$Label3") +
                         b"* 2 FETCH (FLAGS ($Label3))\r\nn OK NOOP completed\r\n")
        # A FETCH that meets a keyword before any NOOP has told of it.
        b.cmd("b3", "STORE 1 +FLAGS.SILENT ($Label4)")
        self.assertEqual(a.cmd("f", "FETCH 1 FLAGS"),
                         flags_lines("$Label1", "$Label2", "$Label3", "$Label4") +
                         b"* 1 FETCH (FLAGS ($Label1 $Label4))\r\nf OK FETCH completed\r\n")
        self.assertEqual(a.cmd("g", "NOOP"), b"g OK NOOP completed\r\n")
        # Read-only: FLAGS, and no PERMANENTFLAGS (it stays ()).
        self.assertEqual(ro.cmd("r", "NOOP"),
                         flags_lines("$Label1", "$Label2", "$Label3", "$Label4", readonly=True) +
                         b"* 3 EXISTS\r\n* 0 RECENT\r\n"
                         b"* 1 FETCH (FLAGS ($Label1 $Label4))\r\n* 2 FETCH (FLAGS ($Label3))\r\n"
                         b"r OK NOOP completed\r\n")

    def test_copy_brings_keywords_into_the_selected_mailbox(self):
        self.fill(None)
        a, _ = self.session()
        b, _ = self.session()
        b.cmd("c", "CREATE Other")
        b.send(append_cmd("p", "$Moved").replace(b"INBOX", b"Other"))
        self.assertIn(b"p OK", b.until("p"))
        b.cmd("s", "SELECT Other")
        self.assertRegex(b.cmd("m", "MOVE 1 INBOX"), rb"\* 1 EXPUNGE\r\nm OK MOVE completed\r\n$")
        self.assertEqual(a.cmd("n", "NOOP"),
                         flags_lines("$Moved") + b"* 2 EXISTS\r\n* 1 RECENT\r\nn OK NOOP completed\r\n")


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
                         rb"\* OK \[MAILBOXID \(F[0-9a-f]{24}\)\] Ok\r\n"
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


class SelfCopyTest(StateTest):
    def test_copy_into_the_selected_mailbox(self):
        self.fill("(\\Seen $Label1)", "(\\Flagged)")
        r, out = self.session()
        v = self.uidvalidity(out)
        # RFC 4315: COPYUID names the new UIDs; the new messages come as
        # EXISTS (and RECENT: this session is the first to see them).
        self.assertEqual(r.cmd("a", "COPY 1 INBOX"),
                         b"* 3 EXISTS\r\n* 1 RECENT\r\na OK [COPYUID %d 1 3] COPY completed\r\n" % v)
        self.assertEqual(r.cmd("b", "UID COPY 1:2 INBOX"),
                         b"* 5 EXISTS\r\n* 3 RECENT\r\nb OK [COPYUID %d 1:2 4:5] COPY completed\r\n" % v)
        self.assertEqual(r.cmd("c", "FETCH 3:5 (UID FLAGS)"),
                         b"* 3 FETCH (FLAGS (\\Seen \\Recent $Label1) UID 3)\r\n"
                         b"* 4 FETCH (FLAGS (\\Seen \\Recent $Label1) UID 4)\r\n"
                         b"* 5 FETCH (FLAGS (\\Flagged \\Recent) UID 5)\r\nc OK FETCH completed\r\n")
        self.assertEqual(r.cmd("d", "FETCH 3 BODY.PEEK[]"),
                         b"* 3 FETCH (BODY[] {%d}\r\n%s)\r\nd OK FETCH completed\r\n" % (len(MSG), MSG))

    def test_move_into_the_selected_mailbox(self):
        self.fill("(\\Seen $Label1)", "(\\Flagged)", None)
        other, _ = self.session()
        r, out = self.session()
        v = self.uidvalidity(out)
        # RFC 6851 3.3: moving to the selected mailbox is allowed where
        # copying is: COPYUID in an untagged OK, the EXPUNGE of the
        # source, and the new message's EXISTS.
        self.assertEqual(r.cmd("a", "MOVE 1 INBOX"),
                         b"* OK [COPYUID %d 1 4] Moved\r\n* 1 EXPUNGE\r\n"
                         b"* 3 EXISTS\r\n* 1 RECENT\r\na OK MOVE completed\r\n" % v)
        # Now UIDs 2 3 4: UID 2 is message 1.
        self.assertEqual(r.cmd("b", "UID MOVE 2 INBOX"),
                         b"* OK [COPYUID %d 2 5] Moved\r\n* 1 EXPUNGE\r\n"
                         b"* 3 EXISTS\r\n* 2 RECENT\r\nb OK MOVE completed\r\n" % v)
        self.assertEqual(r.cmd("c", "FETCH 1:* (UID FLAGS)"),
                         b"* 1 FETCH (FLAGS () UID 3)\r\n"
                         b"* 2 FETCH (FLAGS (\\Seen \\Recent $Label1) UID 4)\r\n"
                         b"* 3 FETCH (FLAGS (\\Flagged \\Recent) UID 5)\r\nc OK FETCH completed\r\n")
        self.assertEqual(r.cmd("d", "STATUS INBOX (MESSAGES UIDNEXT)"),
                         b"* STATUS INBOX (MESSAGES 3 UIDNEXT 6)\r\nd OK STATUS completed\r\n")
        # Another session with it selected: both expunges (highest first),
        # then the new messages.
        self.assertEqual(other.cmd("n", "NOOP"),
                         b"* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n* 3 EXISTS\r\n* 0 RECENT\r\n"
                         b"n OK NOOP completed\r\n")
        # Read-only: no MOVE, into itself or anywhere.
        ro, _ = self.session("EXAMINE INBOX")
        self.assertEqual(ro.cmd("e", "MOVE 1 INBOX"),
                         b"e NO [READ-ONLY] The mailbox is open read-only\r\n")

    def test_copy_and_move_of_messages_another_session_expunged(self):
        self.fill(None, None, None)
        r, out = self.session()
        v = self.uidvalidity(out)
        other, _ = self.session()
        other.cmd("d", "STORE 1:2 +FLAGS.SILENT (\\Deleted)")
        other.cmd("e", "EXPUNGE")
        # Nothing left to copy: COPYUID may not name empty sets (RFC
        # 4315), so NO [EXPUNGEISSUED] (RFC 5530, RFC 2180 4.4.1); COPY
        # sends no EXPUNGE (RFC 3501 7.4.1), the next command does.
        self.assertEqual(r.cmd("a", "COPY 1 INBOX"),
                         b"a NO [EXPUNGEISSUED] Some of the requested messages no longer exist\r\n")
        self.assertEqual(r.cmd("b", "UID MOVE 2 INBOX"),
                         b"* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n"
                         b"b NO [EXPUNGEISSUED] Some of the requested messages no longer exist\r\n")
        self.assertEqual(r.cmd("c", "STATUS INBOX (MESSAGES UIDNEXT)"),
                         b"* STATUS INBOX (MESSAGES 1 UIDNEXT 4)\r\nc OK STATUS completed\r\n")
        # Some left: those are copied, and COPYUID names them alone.
        other.cmd("f", "APPEND INBOX {%d+}\r\n%s" % (len(MSG), MSG.decode()))
        self.assertIn(b"2 EXISTS", r.cmd("g", "NOOP"))
        other.cmd("h", "NOOP")
        other.cmd("i", "UID STORE 3 +FLAGS.SILENT (\\Deleted)")
        other.cmd("j", "UID EXPUNGE 3")
        self.assertEqual(r.cmd("k", "MOVE 1:2 INBOX"),
                         b"* OK [COPYUID %d 4 5] Moved\r\n* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n"
                         b"* 1 EXISTS\r\n* 1 RECENT\r\nk OK MOVE completed\r\n" % v)

    def test_copy_and_move_out_of_a_mailbox_another_session_deleted(self):
        c = self.client()
        c.create("Scratch")
        c.append("Scratch", None, None, MSG)
        r, _ = self.session("SELECT Scratch")
        other, _ = self.session("LIST \"\" \"\"")
        self.assertEqual(other.cmd("d", "DELETE Scratch"), b"d OK DELETE completed\r\n")
        # The destination exists: TRYCREATE (RFC 3501 6.4.7) would send
        # the client to create it in vain; the source is what is gone.
        self.assertEqual(r.cmd("a", "COPY 1 INBOX"), b"a NO [NONEXISTENT] Mailbox was deleted\r\n")
        self.assertEqual(r.cmd("b", "MOVE 1 INBOX"), b"b NO [NONEXISTENT] Mailbox was deleted\r\n")
        self.assertTrue(r.cmd("c", "COPY 1 Nope").startswith(b"c NO [TRYCREATE] "))

    def test_copy_to_a_destination_that_another_session_deletes_and_creates(self):
        """RFC 3501 6.4.7: a destination that does not exist when the COPY
        runs gets NO [TRYCREATE], also when another session creates it
        again before the answer is sent; NO [NONEXISTENT] would say the
        selected mailbox (INBOX here, which nobody deletes) is gone. The
        other session deletes and creates the destination all the while:
        each answer must be OK or TRYCREATE, and the other session's
        commands must succeed (on storage.pgsql they deadlocked with the
        COPY and ended NO [UNAVAILABLE])."""
        self.fill(None)
        r, _ = self.session()
        other, _ = self.session("LIST \"\" \"\"")
        stop = threading.Event()
        errors = []

        def toggle():
            n = 0
            try:
                while not stop.is_set():
                    n += 1
                    verb = "CREATE" if n % 2 else "DELETE"
                    out = other.cmd("t%d" % n, "%s Scratch" % verb)
                    if not re.search(rb"OK (\[MAILBOXID \(\w+\)\] )?%s completed\r\n$" % verb.encode(), out):
                        errors.append(out)
                        return
            except Exception as e:  # the assertion below names it
                errors.append(repr(e))

        t = threading.Thread(target=toggle)
        t.start()
        answers = collections.Counter()
        try:
            # At least 300 COPYs, and on until both answers came (a guard
            # against a hang bounds it).
            for i in range(20000):
                if i >= 300 and answers[b"OK"] and answers[b"NO [TRYCREATE]"] or errors:
                    break
                out = r.cmd("c%d" % i, "COPY 1 Scratch")
                answers[re.sub(rb"^c\d+ (OK|NO \[\w+\]).*", rb"\1", out.split(b"\r\n")[-2])] += 1
        finally:
            stop.set()
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(set(answers) - {b"OK", b"NO [TRYCREATE]"}, set(), answers)
        self.assertTrue(answers[b"OK"] > 0 and answers[b"NO [TRYCREATE]"] > 0, answers)


# ~110 KB, under 256 KB: read whole before its literal is announced.
BODY = b"".join(b"line %05d of a long body, long enough to fill buffers\r\n" % i
                for i in range(2000))
# ~370 KB: streamed to the client chunk by chunk.
BIG = b"".join(b"line %05d of a longer body that is streamed to the client\r\n" % i
               for i in range(6000))


class ExpungeUnderFetch(StateTest):
    def expunge_under_fetch(self, texts):
        """Appends a message of each text, copies them until the answer is
        large, and FETCHes every message on a slow connection while another
        session expunges them all: (the answer, the message count)."""
        c = self.client()
        for b in texts:
            msg = b"From: a@example.org\r\nSubject: s\r\n\r\n" + b
            self.assertEqual(c.append("INBOX", None, None, msg)[0], "OK")
        r, _ = self.session()
        # The answer must be well over what the kernel lets the server
        # buffer ahead of a slow reader (its send buffer grows up to
        # tcp_wmem's maximum), or the FETCH is written in full before the
        # EXPUNGE: 64 messages (~15 MB) where that maximum is 4 MiB.
        n = len(texts)
        while n * sum(map(len, texts)) / len(texts) < 3 * tcp_wmem_max() + (1 << 20):
            self.assertIn(b"a OK", r.cmd("a", "COPY 1:* INBOX"))
            n *= 2
        other, _ = self.session()
        self.assertIn(b"d OK", other.cmd("d", "STORE 1:* +FLAGS.SILENT (\\Deleted)"))
        # A client that reads slowly: the server cannot get far ahead of it.
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.settimeout(30)
        slow.connect(("127.0.0.1", self.port))
        s = Raw.__new__(Raw)
        s.sock, s.buf = slow, b""
        self.addCleanup(s.close)
        s.greeting = s.line()
        s.login()
        self.assertIn(b"s OK", s.cmd("s", "SELECT INBOX"))
        s.send(b"f FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (From)] BODY.PEEK[TEXT])\r\n")
        first = s.line()
        self.assertTrue(first.startswith(b"* 1 FETCH "), first)
        # The server is at most a few MB ahead: expunge all under the FETCH.
        self.assertIn(b"x OK", other.cmd("x", "EXPUNGE"))
        out = first + s.until("f")
        # No EXPUNGE during FETCH (RFC 3501 7.4.1); the next command tells.
        self.assertNotIn(b" EXPUNGE\r\n", out)
        self.assertEqual(s.cmd("n", "NOOP"), b"".join(b"* %d EXPUNGE\r\n" % i for i in range(n, 0, -1))
                         + b"n OK NOOP completed\r\n")
        return out, n


class ExpungedDuringFetchTest(ExpungeUnderFetch):
    """Messages another session expunges while a FETCH of them is being
    answered. RFC 2180 4.1.1: the server MAY "keep the messages available
    to satisfy subsequent FETCH commands until it is able to send an
    EXPUNGE response to each client": every value is the real one, bodies
    streamed chunk by chunk included, and the FETCH ends OK."""

    def test_messages_expunged_meanwhile_are_read_whole(self):
        out, n = self.expunge_under_fetch((BODY, BIG))
        self.assertEqual(out.count(b"BODY[HEADER.FIELDS (From)] {23}\r\nFrom: a@example.org\r\n\r\n"), n)
        self.assertEqual(out.count(BODY) + out.count(BIG), n)
        self.assertNotIn(b"NIL", out)
        self.assertTrue(out.endswith(b"f OK FETCH completed\r\n"), out[-200:])


class ExpungedWithBodiesDuringFetchTest(ExpungeUnderFetch):
    """The same with body_grace 0s: the bodies go at the expunge, under the
    FETCH, and what is gone cannot be read. RFC 2180 4.1.3 lets the FETCH
    answer NIL (and end NO [EXPUNGEISSUED], as 4.1.2), never a value that
    looks real: not a HEADER.FIELDS of the blank line alone, not a body
    literal padded with spaces. (Bodies under 256 KB only: one streamed
    whose bytes go half-way through its literal can only be padded.)"""
    storage_extra = "body_grace 0s"

    def test_sections_of_messages_expunged_meanwhile_are_nil(self):
        out, n = self.expunge_under_fetch((BODY,))
        hdrs = re.findall(rb"BODY\[HEADER\.FIELDS \(From\)\] (NIL|\{\d+\}\r\n)", out)
        self.assertEqual(len(hdrs), n, out[-300:])
        self.assertIn(b"NIL", hdrs)
        # Each header value is the real one or NIL.
        self.assertEqual(out.count(b"BODY[HEADER.FIELDS (From)] {23}\r\nFrom: a@example.org\r\n\r\n")
                         + hdrs.count(b"NIL"), n)
        # No body padded out: every TEXT literal is the real text, or NIL.
        texts = re.findall(rb"BODY\[TEXT\] (NIL|\{\d+\}\r\n)", out)
        self.assertIn(b"NIL", texts)
        self.assertNotIn(b"    ", out)
        self.assertEqual(out.count(BODY) + texts.count(b"NIL"), n)
        self.assertTrue(out.endswith(
            b"f NO [EXPUNGEISSUED] Some of the requested messages no longer exist\r\n"),
            out[-200:])


if __name__ == "__main__":
    phtest.main()
