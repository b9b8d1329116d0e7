# SPDX-License-Identifier: MIT
"""CONDSTORE and QRESYNC (RFC 7162, ENABLE of RFC 5161) through the real
binary, byte for byte: every grammar form and response code, the answers
a session gets about changes other sessions make, and the resync of a
client that comes back.

test_condstore_pgsql.py runs these classes on storage.pgsql too, with
the two-node cases."""
import re

import phtest
from test_imap import MSG
from test_imap_state import StateTest

SYSTEM = b"\\Answered \\Flagged \\Deleted \\Seen \\Draft"
HIGHEST = b"* OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence\r\n"


def select_answer(exists, uidvalidity, uidnext, highest=None, readonly=False, unseen=1, closed=False, *,
                  mailboxid):
    """SELECT's (EXAMINE's) untagged lines, in the server's order, for a
    mailbox without keywords and without \\Recent for this session."""
    out = b"* OK [CLOSED] Previous mailbox is now closed\r\n" if closed else b""
    out += b"* FLAGS (" + SYSTEM + b")\r\n"
    out += (b"* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n" if readonly else
            b"* OK [PERMANENTFLAGS (" + SYSTEM + b" \\*)] Flags permitted\r\n")
    out += b"* %d EXISTS\r\n* 0 RECENT\r\n" % exists
    if unseen:
        out += b"* OK [UNSEEN %d] First unseen\r\n" % unseen
    out += b"* OK [UIDVALIDITY %d] UIDs valid\r\n* OK [UIDNEXT %d] Predicted next UID\r\n" % (
        uidvalidity, uidnext)
    out += b"* OK [MAILBOXID (%s)] Ok\r\n" % mailboxid  # RFC 8474 4.2
    if highest is not None:
        out += HIGHEST % highest
    return out


class CondstoreTest(StateTest):
    COUNT = 4

    def setUp(self):
        super().setUp()
        self.fill(*[None] * self.COUNT)
        self.uidvalidity = self.look()[2]

    def look(self):
        """(HIGHESTMODSEQ, {uid: modseq}, UIDVALIDITY) of INBOX, as a session
        of its own sees them (asking enables CONDSTORE there, not in the
        sessions under test)."""
        r = self.raw()
        r.login()
        out = r.cmd("e", "EXAMINE INBOX (CONDSTORE)")
        highest = int(re.search(rb"HIGHESTMODSEQ (\d+)", out).group(1))
        uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", out).group(1))
        self.mailboxid = re.search(rb"MAILBOXID \((\w+)\)", out).group(1)
        out = r.cmd("f", "UID FETCH 1:* (MODSEQ)")
        modseqs = {int(u): int(m) for m, u in re.findall(rb"MODSEQ \((\d+)\) UID (\d+)", out)}
        r.cmd("l", "LOGOUT")
        return highest, modseqs, uidvalidity

    def other(self, *commands):
        """Runs commands in a session of their own (SELECT INBOX first);
        each must answer OK."""
        r = self.raw()
        r.login()
        for i, c in enumerate(("SELECT INBOX",) + commands):
            out = r.cmd("o%d" % i, c)
            self.assertIn(b"o%d OK" % i, out, c)
        r.cmd("l", "LOGOUT")

    def enabled(self, what="QRESYNC", select="SELECT INBOX"):
        """A session with ENABLE what, and INBOX selected."""
        r = self.raw()
        r.login()
        self.assertEqual(r.cmd("e", "ENABLE " + what),
                         b"* ENABLED %s\r\ne OK ENABLE completed\r\n" % what.encode())
        if select:
            self.assertIn(b"s OK", r.cmd("s", select))
        return r


class EnableTest(CondstoreTest):
    def test_enable_answers_what_it_enabled(self):
        # RFC 5161 3.1: unknown names are ignored; 3.2: ENABLED lists what
        # the command enabled ("SHOULD only contain extensions enabled by
        # the corresponding ENABLE command").
        r = self.raw()
        r.login()
        self.assertEqual(r.cmd("a", "ENABLE X-FOO CONDSTORE"),
                         b"* ENABLED CONDSTORE\r\na OK ENABLE completed\r\n")
        self.assertEqual(r.cmd("b", "ENABLE CONDSTORE"), b"* ENABLED\r\nb OK ENABLE completed\r\n")
        self.assertEqual(r.cmd("c", "ENABLE qresync CONDSTORE"),
                         b"* ENABLED QRESYNC\r\nc OK ENABLE completed\r\n")
        # RFC 7162 3.2.3: "ENABLE QRESYNC" and "ENABLE QRESYNC CONDSTORE"
        # "have identical results".
        r2 = self.raw()
        r2.login()
        self.assertEqual(r2.cmd("a", "ENABLE QRESYNC CONDSTORE"),
                         b"* ENABLED CONDSTORE QRESYNC\r\na OK ENABLE completed\r\n")

    def test_capability_is_the_same_after_enable(self):
        # RFC 5161 3.1: "The server MUST NOT change the CAPABILITY list as a
        # result of executing ENABLE". RFC 7162 3.1.1, 3.2.2: both named.
        r = self.raw()
        r.login()
        before = r.cmd("a", "CAPABILITY")
        self.assertRegex(before, rb"^\* CAPABILITY [^\r]* CONDSTORE QRESYNC ")
        r.cmd("b", "ENABLE QRESYNC")
        self.assertEqual(r.cmd("a", "CAPABILITY"), before)


class SelectTest(CondstoreTest):
    def test_select_condstore_parameter(self):
        # RFC 7162 3.1.8, Example 18; 3.1.2.1: HIGHESTMODSEQ, never NOMODSEQ.
        highest = self.look()[0]
        r = self.raw()
        r.login()
        self.assertEqual(r.cmd("a", "SELECT INBOX (CONDSTORE)"),
                         select_answer(4, self.uidvalidity, 5, highest, mailboxid=self.mailboxid) +
                         b"a OK [READ-WRITE] SELECT completed\r\n")
        # From then on every SELECT and EXAMINE says it (3.1.2).
        self.assertEqual(r.cmd("b", "EXAMINE INBOX"),
                         select_answer(4, self.uidvalidity, 5, highest, readonly=True, closed=True, mailboxid=self.mailboxid) +
                         b"b OK [READ-ONLY] EXAMINE completed\r\n")

    def test_no_highestmodseq_before_condstore(self):
        # 3.1.2: the response code comes "for any successful SELECT/EXAMINE
        # command issued after a CONDSTORE enabling command".
        r = self.raw()
        r.login()
        self.assertEqual(r.cmd("a", "SELECT INBOX"),
                         select_answer(4, self.uidvalidity, 5, mailboxid=self.mailboxid) +
                         b"a OK [READ-WRITE] SELECT completed\r\n")

    def test_first_enabling_command_with_a_mailbox_selected_says_highestmodseq(self):
        # RFC 7162 3.1: "A first CONDSTORE enabling command executed in the
        # session with a mailbox selected MUST cause the server to return
        # HIGHESTMODSEQ ... for the mailbox". Each enabling command, in a
        # session of its own; the second time nothing more.
        highest = self.look()[0]
        for command in ("ENABLE CONDSTORE", "STATUS INBOX (HIGHESTMODSEQ)", "FETCH 1 (MODSEQ)",
                        "FETCH 1 (FLAGS) (CHANGEDSINCE 1)", "SEARCH MODSEQ 1",
                        "STORE 1 (UNCHANGEDSINCE %d) +FLAGS.SILENT ()" % highest):
            r = self.raw()
            r.login()
            r.cmd("s", "SELECT INBOX")
            out = r.cmd("a", command)
            if command.startswith("ENABLE"):
                out = out.replace(b"* ENABLED CONDSTORE\r\n", b"")
            self.assertTrue(out.startswith(HIGHEST % highest), (command, out))
            self.assertEqual(out.count(b"HIGHESTMODSEQ %d]" % highest), 1, (command, out))
            self.assertNotIn(b"[HIGHESTMODSEQ", r.cmd("b", command), command)

    def test_status_highestmodseq(self):
        # RFC 7162 3.1.7, Example 17.
        highest = self.look()[0]
        r = self.raw()
        r.login()
        self.assertEqual(r.cmd("a", "STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)"),
                         b"* STATUS INBOX (MESSAGES 4 UIDNEXT 5 HIGHESTMODSEQ %d)\r\n"
                         b"a OK STATUS completed\r\n" % highest)

    def test_closed_when_select_replaces_the_selected_mailbox(self):
        # RFC 7162 3.2.11: "whether or not a CONDSTORE enabling command was
        # issued"; not after CLOSE or UNSELECT, whose "purpose is to close
        # the currently selected mailbox without opening a new one".
        r = self.raw()
        r.login()
        self.assertNotIn(b"CLOSED", r.cmd("a", "SELECT INBOX"))
        self.assertTrue(r.cmd("b", "EXAMINE INBOX").startswith(
            b"* OK [CLOSED] Previous mailbox is now closed\r\n* FLAGS"))
        self.assertEqual(r.cmd("c", "UNSELECT"), b"c OK UNSELECT completed\r\n")
        self.assertNotIn(b"CLOSED", r.cmd("d", "SELECT INBOX"))
        self.assertEqual(r.cmd("e", "CLOSE"), b"e OK CLOSE completed\r\n")
        self.assertNotIn(b"CLOSED", r.cmd("f", "SELECT INBOX"))

    def test_select_that_fails_on_its_name_closes_the_selected_mailbox(self):
        # RFC 3501 6.3.1: "if a mailbox is selected and a SELECT command
        # that fails is attempted, no mailbox is selected", and RFC 7162
        # 3.2.11 marks the boundary with [CLOSED]: a name that no mailbox
        # can have (not modified UTF-7) fails as a name that no mailbox
        # has does.
        r = self.raw()
        r.login()
        for command, answer in (
                ("SELECT Nosuch", b"NO [NONEXISTENT] Mailbox does not exist"),
                ("EXAMINE &Jjo", b"NO [NONEXISTENT] Unterminated &-sequence in mailbox name")):
            r.cmd("a", "SELECT INBOX")
            self.assertEqual(r.cmd("b", command),
                             b"* OK [CLOSED] Previous mailbox is now closed\r\nb " + answer + b"\r\n")
            self.assertEqual(r.cmd("c", "FETCH 1 (UID)"), b"c BAD No mailbox selected\r\n")
        # Not a mailbox name at all (no astring): a BAD, which changes
        # nothing.
        r.cmd("a", "SELECT INBOX")
        self.assertEqual(r.cmd("b", "SELECT (INBOX)"), b"b BAD Expected a mailbox name\r\n")
        self.assertEqual(r.cmd("c", "FETCH 1 (UID)"), b"* 1 FETCH (UID 1)\r\nc OK FETCH completed\r\n")

    def test_bad_parameters_leave_the_selected_mailbox(self):
        # RFC 7162 3.2.5: "If any parameter is not syntactically valid, the
        # server returns the tagged BAD response"; 3.2.3: QRESYNC only after
        # ENABLE QRESYNC.
        r = self.raw()
        r.login()
        r.cmd("a", "SELECT INBOX")
        for command, answer in (
                ("SELECT INBOX (FOO)", b"BAD Unknown SELECT parameter"),
                ("SELECT INBOX ()", b"BAD SELECT parameters are a non-empty list"),
                ("SELECT INBOX (CONDSTORE CONDSTORE)", b"BAD CONDSTORE given twice"),
                ("EXAMINE INBOX (QRESYNC (1 0))", b"BAD Invalid QRESYNC mod-sequence"),
                ("SELECT INBOX (QRESYNC (%d 1))" % self.uidvalidity,
                 b"BAD QRESYNC needs ENABLE QRESYNC first")):
            self.assertEqual(r.cmd("b", command), b"b " + answer + b"\r\n", command)
        self.assertEqual(r.cmd("c", "FETCH 4 (UID)"), b"* 4 FETCH (UID 4)\r\nc OK FETCH completed\r\n")


class FetchTest(CondstoreTest):
    def test_fetch_modseq(self):
        # RFC 7162 3.1.4.2, Example 13.
        highest, m, _ = self.look()
        r = self.raw()
        r.login()
        r.cmd("s", "SELECT INBOX")
        self.assertEqual(r.cmd("a", "FETCH 1:3 (MODSEQ)"),
                         HIGHEST % highest +
                         b"* 1 FETCH (MODSEQ (%d))\r\n* 2 FETCH (MODSEQ (%d))\r\n"
                         b"* 3 FETCH (MODSEQ (%d))\r\na OK FETCH completed\r\n" % (m[1], m[2], m[3]))

    def test_flags_carry_modseq_once_enabled(self):
        # 3.1: "The server MUST then include mod-sequence data in all
        # subsequent untagged FETCH responses".
        m = self.look()[1]
        r = self.enabled("CONDSTORE")
        self.assertEqual(r.cmd("a", "FETCH 2 (FLAGS)"),
                         b"* 2 FETCH (FLAGS () MODSEQ (%d))\r\na OK FETCH completed\r\n" % m[2])
        self.assertEqual(r.cmd("b", "UID FETCH 2 (FLAGS)"),
                         b"* 2 FETCH (FLAGS () UID 2 MODSEQ (%d))\r\nb OK FETCH completed\r\n" % m[2])
        # Without flags, no modseq unless asked for.
        self.assertEqual(r.cmd("c", "FETCH 2 (RFC822.SIZE)"),
                         b"* 2 FETCH (RFC822.SIZE %d)\r\nc OK FETCH completed\r\n" % len(MSG))

    def test_changedsince(self):
        # 3.1.4.1, Example 12: only messages with a mod-sequence bigger than
        # the one given, MODSEQ implied.
        base = self.look()[0]
        self.other("STORE 2 +FLAGS (\\Flagged)", "STORE 4 +FLAGS (\\Seen)")
        _, m, _ = self.look()
        r = self.raw()
        r.login()
        r.cmd("s", "SELECT INBOX")
        self.assertEqual(r.cmd("a", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % base),
                         HIGHEST % m[4] +
                         b"* 2 FETCH (FLAGS (\\Flagged) UID 2 MODSEQ (%d))\r\n"
                         b"* 4 FETCH (FLAGS (\\Seen) UID 4 MODSEQ (%d))\r\n"
                         b"a OK FETCH completed\r\n" % (m[2], m[4]))
        self.assertEqual(r.cmd("b", "FETCH 1:3 (UID) (CHANGEDSINCE %d)" % base),
                         b"* 2 FETCH (UID 2 MODSEQ (%d))\r\nb OK FETCH completed\r\n" % m[2])
        self.assertEqual(r.cmd("c", "FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % m[4]),
                         b"c OK FETCH completed\r\n")

    def test_fetch_modifier_errors(self):
        r = self.raw()
        r.login()
        r.cmd("s", "SELECT INBOX")
        for command, answer in (
                # chgsince-fetch-mod = "CHANGEDSINCE" SP mod-sequence-value
                ("FETCH 1 (FLAGS) (CHANGEDSINCE 0)", b"BAD Invalid CHANGEDSINCE mod-sequence"),
                ("FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775808)",
                 b"BAD Invalid CHANGEDSINCE mod-sequence"),
                ("FETCH 1 (FLAGS) (FOO 1)", b"BAD Unknown FETCH modifier"),
                ("FETCH 1 (FLAGS) ()", b"BAD FETCH modifiers are a non-empty list"),
                # 3.2.6: VANISHED "is NOT allowed with a FETCH command",
                # "MUST only be specified together with the CHANGEDSINCE",
                # and only after ENABLE QRESYNC.
                ("FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",
                 b"BAD VANISHED is a modifier of UID FETCH only"),
                ("UID FETCH 1 (FLAGS) (VANISHED)", b"BAD VANISHED needs CHANGEDSINCE (RFC 7162 3.2.6)"),
                ("UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",
                 b"BAD VANISHED needs ENABLE QRESYNC first")):
            self.assertEqual(r.cmd("b", command), b"b " + answer + b"\r\n", command)
        # None of them enabled CONDSTORE.
        self.assertEqual(r.cmd("c", "FETCH 1 (FLAGS)"), b"* 1 FETCH (FLAGS ())\r\nc OK FETCH completed\r\n")

    def test_implicit_seen_carries_uid_and_modseq(self):
        # 3.2.4: UID and MODSEQ in every untagged FETCH caused by "a
        # FETCH/UID FETCH that implicitly set the \Seen flag".
        r = self.enabled("CONDSTORE")
        out = r.cmd("a", "FETCH 3 (BODY[TEXT])")
        m = self.look()[1]
        text = MSG.split(b"\r\n\r\n", 1)[1]
        self.assertEqual(out, b"* 3 FETCH (FLAGS (\\Seen) BODY[TEXT] {%d}\r\n%s"
                              b" UID 3 MODSEQ (%d))\r\na OK FETCH completed\r\n" % (len(text), text, m[3]))


class StoreTest(CondstoreTest):
    def test_unchangedsince_passed_answers_even_silent(self):
        # RFC 7162 3.1.3, Example 3: "An untagged FETCH response MUST be
        # sent, even if the .SILENT suffix is specified, and the response
        # MUST include the MODSEQ message data item." A message whose
        # flags the STORE did not change keeps its modseq (3.1.11).
        highest = self.look()[0]
        r = self.enabled("CONDSTORE")
        self.other("STORE 2 +FLAGS (\\Deleted)")
        out = r.cmd("a", "UID STORE 1,2,4 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Deleted)" % (highest + 1))
        m = self.look()[1]
        self.assertEqual(m[1], m[4])
        # Message 2's \Deleted (another session's) is news to this
        # session: told with the flags.
        self.assertEqual(out, b"* 1 FETCH (UID 1 MODSEQ (%d))\r\n* 4 FETCH (UID 4 MODSEQ (%d))\r\n"
                              b"* 2 FETCH (UID 2 FLAGS (\\Deleted) MODSEQ (%d))\r\n"
                              b"a OK STORE completed\r\n" % (m[1], m[4], m[2]))

    def test_unchangedsince_failures_are_named_in_modified(self):
        # 3.1.3, Examples 6 and 10: the messages that failed the test in
        # MODIFIED, as message numbers for STORE, UIDs for UID STORE, with
        # an unsolicited FETCH that tells the client why.
        self.other("STORE 1 +FLAGS (\\Deleted)", "EXPUNGE")  # numbers are UIDs - 1
        base = self.look()[0]
        self.other("STORE 2 +FLAGS (\\Answered)")  # UID 3
        r = self.enabled("CONDSTORE")
        out = r.cmd("a", "STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Seen)" % base)
        m = self.look()[1]
        self.assertEqual(out, b"* 1 FETCH (UID 2 MODSEQ (%d))\r\n* 3 FETCH (UID 4 MODSEQ (%d))\r\n"
                              b"* 2 FETCH (UID 3 FLAGS (\\Answered) MODSEQ (%d))\r\n"
                              b"a OK [MODIFIED 2] Conditional STORE failed\r\n" % (m[2], m[4], m[3]))
        out = r.cmd("b", "UID STORE 2:4 (UNCHANGEDSINCE %d) FLAGS (\\Draft)" % m[3])
        m2 = self.look()[1]
        self.assertEqual(out, b"* 2 FETCH (UID 3 FLAGS (\\Draft) MODSEQ (%d))\r\n"
                              b"* 1 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (%d))\r\n"
                              b"* 3 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (%d))\r\n"
                              b"b OK [MODIFIED 2,4] Conditional STORE failed\r\n" % (m2[3], m[2], m[4]))

    def test_unchangedsince_zero_always_fails(self):
        # 3.1.3, Example 8: "Use of UNCHANGEDSINCE with a modification
        # sequence of 0 always fails if the metadata item exists. A system
        # flag MUST always be considered existent".
        m = self.look()[1]
        r = self.enabled("CONDSTORE")
        self.assertEqual(r.cmd("a", "STORE 3 (UNCHANGEDSINCE 0) +FLAGS.SILENT ($MDNSent)"),
                         b"* 3 FETCH (UID 3 FLAGS () MODSEQ (%d))\r\n"
                         b"a OK [MODIFIED 3] Conditional STORE failed\r\n" % m[3])
        self.assertEqual(self.look()[1], m)

    def test_store_modifier_errors(self):
        r = self.raw()
        r.login()
        r.cmd("s", "SELECT INBOX")
        for command, answer in (
                ("STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 1) +FLAGS (\\Seen)",
                 b"BAD UNCHANGEDSINCE given twice"),
                ("STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)", b"BAD Invalid UNCHANGEDSINCE mod-sequence"),
                ("STORE 1 (FOO 1) +FLAGS (\\Seen)", b"BAD Unknown STORE modifier"),
                ("STORE 1 (UNCHANGEDSINCE 1)", b"BAD STORE takes a set, an operation and flags")):
            self.assertEqual(r.cmd("b", command), b"b " + answer + b"\r\n", command)

    def test_plain_store_tells_the_new_modseq_once_enabled(self):
        # 3.1.4.2, Example 14 (session 1): "STORE 7 +FLAGS.SILENT (\Deleted)"
        # answers "* 7 FETCH (MODSEQ (...))"; with QRESYNC's UID (3.2.4).
        r = self.enabled("CONDSTORE")
        out = r.cmd("a", "STORE 2 +FLAGS.SILENT (\\Deleted)")
        out2 = r.cmd("b", "UID STORE 3 +FLAGS ($Label)")
        m = self.look()[1]
        self.assertEqual(out, b"* 2 FETCH (UID 2 MODSEQ (%d))\r\na OK STORE completed\r\n" % m[2])
        self.assertEqual(out2, b"* FLAGS (" + SYSTEM + b" $Label)\r\n"
                               b"* OK [PERMANENTFLAGS (" + SYSTEM + b" $Label \\*)] Flags permitted\r\n"
                               b"* 3 FETCH (UID 3 FLAGS ($Label) MODSEQ (%d))\r\n"
                               b"b OK STORE completed\r\n" % m[3])


class SearchTest(CondstoreTest):
    def test_search_modseq(self):
        # RFC 7162 3.1.5, 3.1.6, Examples 15 and 16: the highest modseq of
        # the messages found ends a result that is not empty.
        base = self.look()[0]
        self.other("STORE 3 +FLAGS (\\Draft)", "STORE 1 +FLAGS (\\Seen)")
        m = self.look()[1]
        r = self.raw()
        r.login()
        r.cmd("s", "SELECT INBOX")
        self.assertEqual(r.cmd("a", "SEARCH MODSEQ %d" % (base + 1)),
                         HIGHEST % m[1] + b"* SEARCH 1 3 (MODSEQ %d)\r\na OK SEARCH completed\r\n" % m[1])
        self.assertEqual(r.cmd("b", 'UID SEARCH MODSEQ "/flags/\\\\draft" all %d' % (base + 1)),
                         b"* SEARCH 1 3 (MODSEQ %d)\r\nb OK SEARCH completed\r\n" % m[1])
        self.assertEqual(r.cmd("c", "SEARCH MODSEQ %d DRAFT" % (base + 1)),
                         b"* SEARCH 3 (MODSEQ %d)\r\nc OK SEARCH completed\r\n" % m[3])
        self.assertEqual(r.cmd("d", "SEARCH OR NOT MODSEQ 1 LARGER 50000"),
                         b"* SEARCH\r\nd OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("e", "SEARCH MODSEQ 0 FLAGGED"), b"* SEARCH\r\ne OK SEARCH completed\r\n")
        # Evaluated by the endpoint (SENTBEFORE needs the Date header,
        # which storage does not search): the same answer.
        self.assertEqual(r.cmd("f", "SEARCH MODSEQ %d NOT SENTBEFORE 1-Jan-1970" % (base + 1)),
                         b"* SEARCH 1 3 (MODSEQ %d)\r\nf OK SEARCH completed\r\n" % m[1])
        # Without MODSEQ in the program, no (MODSEQ n).
        self.assertEqual(r.cmd("g", "SEARCH DRAFT"), b"* SEARCH 3\r\ng OK SEARCH completed\r\n")


class UpdatesTest(CondstoreTest):
    def test_flag_changes_of_another_session_in_modseq_order(self):
        # RFC 7162 3.1.4.2, Example 14; 3.2.4: UID and MODSEQ in every
        # unsolicited FETCH; in modseq order, so that a client that follows
        # each MODSEQ as it comes loses nothing when the connection drops.
        r = self.enabled("CONDSTORE")
        self.other("STORE 3 +FLAGS (\\Flagged)", "STORE 1 +FLAGS (\\Seen)", "STORE 2 +FLAGS (\\Answered)")
        m = self.look()[1]
        self.assertEqual(r.cmd("n", "NOOP"),
                         b"* 3 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (%d))\r\n"
                         b"* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (%d))\r\n"
                         b"* 2 FETCH (UID 2 FLAGS (\\Answered) MODSEQ (%d))\r\n"
                         b"n OK NOOP completed\r\n" % (m[3], m[1], m[2]))

    def test_idle_gets_keywords_before_the_fetch_that_carries_them(self):
        # RFC 3501 7.2.6 (issue 14) with RFC 7162 3.2.4.
        r = self.enabled("CONDSTORE")
        self.idle(r)
        self.other("STORE 2 +FLAGS ($Junk)")
        m = self.look()[1]
        self.assertEqual(r.line(), b"* FLAGS (" + SYSTEM + b" $Junk)\r\n")
        self.assertEqual(r.line(), b"* OK [PERMANENTFLAGS (" + SYSTEM + b" $Junk \\*)] Flags permitted\r\n")
        self.assertEqual(r.line(), b"* 2 FETCH (UID 2 FLAGS ($Junk) MODSEQ (%d))\r\n" % m[2])
        r.send(b"DONE\r\n")
        self.assertEqual(r.line(), b"i OK IDLE terminated\r\n")

    def test_expunges_held_back_lower_highestmodseq(self):
        # RFC 7162 3.2: "if the server sends MODSEQ FETCH data items while
        # EXPUNGE (or VANISHED) replies with lower mod-sequences being
        # delayed, the server MUST send the HIGHESTMODSEQ response code with
        # a lower value than the EXPUNGE's mod-sequence" (section 6's
        # example). No EXPUNGE during FETCH (RFC 3501 7.4.1).
        before = self.look()[0]
        r = self.enabled("CONDSTORE")
        self.other("STORE 1 +FLAGS.SILENT (\\Deleted)", "EXPUNGE", "UID STORE 2 +FLAGS (\\Seen)")
        m = self.look()[1]
        self.assertEqual(r.cmd("a", "FETCH 2 (FLAGS)"),
                         b"* 2 FETCH (FLAGS (\\Seen) MODSEQ (%d))\r\n"
                         b"* OK [HIGHESTMODSEQ %d] Expunges are pending\r\n"
                         b"a OK FETCH completed\r\n" % (m[2], before))
        self.assertEqual(r.cmd("b", "NOOP"), b"* 1 EXPUNGE\r\nb OK NOOP completed\r\n")


class QresyncTest(CondstoreTest):
    def test_expunge_answers_vanished_and_highestmodseq(self):
        # RFC 7162 3.2.7 and 3.2.10.2: VANISHED instead of EXPUNGE, and "the
        # server MUST send the updated per-mailbox modification sequence
        # using the HIGHESTMODSEQ response code ... in the tagged OK".
        r = self.enabled()
        r.cmd("a", "STORE 2,4 +FLAGS.SILENT (\\Deleted)")
        out = r.cmd("b", "EXPUNGE")
        self.assertEqual(out, b"* VANISHED 2,4\r\nb OK [HIGHESTMODSEQ %d] EXPUNGE completed\r\n"
                         % self.look()[0])
        # Nothing expunged: no code (3.2.7 "If at least one message got
        # expunged").
        self.assertEqual(r.cmd("c", "EXPUNGE"), b"c OK EXPUNGE completed\r\n")

    def test_uid_expunge_and_move(self):
        # 3.2.9; RFC 6851 4.4: "The same requirement applies to MOVE".
        r = self.enabled()
        r.cmd("a", "CREATE Other")
        r.cmd("b", "STORE 1:4 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(r.cmd("c", "UID EXPUNGE 2:3"),
                         b"* VANISHED 2:3\r\nc OK [HIGHESTMODSEQ %d] UID EXPUNGE completed\r\n"
                         % self.look()[0])
        out = r.cmd("d", "UID MOVE 4 Other")
        self.assertRegex(out, rb"^\* OK \[COPYUID \d+ 4 1\] Moved\r\n\* VANISHED 4\r\n"
                              rb"d OK \[HIGHESTMODSEQ %d\] MOVE completed\r\n$" % self.look()[0])

    def test_close_sends_no_highestmodseq(self):
        # 3.2.8: "The server MUST NOT send the updated per-mailbox
        # modification sequence using the HIGHESTMODSEQ response code ...
        # in the tagged OK response".
        r = self.enabled()
        r.cmd("a", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(r.cmd("b", "CLOSE"), b"b OK CLOSE completed\r\n")

    def test_expunge_of_another_session_reaches_idle_as_vanished(self):
        r = self.enabled()
        self.other("STORE 3 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(r.cmd("n", "NOOP"), b"* 3 FETCH (UID 3 FLAGS (\\Deleted) MODSEQ (%d))\r\n"
                                             b"n OK NOOP completed\r\n" % self.look()[0])
        self.idle(r)
        self.other("EXPUNGE")
        self.assertEqual(r.line(), b"* VANISHED 3\r\n")
        r.send(b"DONE\r\n")
        self.assertEqual(r.line(), b"i OK IDLE terminated\r\n")

    def test_vanished_names_only_messages_the_session_was_told_of(self):
        # 3.2.10.2: "servers MUST NOT send UIDs for previously expunged
        # messages or messages that were not announced to the client via
        # EXISTS."
        r = self.enabled()
        c = self.client()
        c.append("INBOX", "(\\Deleted)", None, MSG)
        c.select("INBOX")
        c.expunge()
        self.assertEqual(r.cmd("n", "NOOP"), b"n OK NOOP completed\r\n")

    def test_uid_search_with_message_numbers_holds_vanished_back(self):
        # 3.2.10.2: "the VANISHED response MUST NOT be sent during a UID
        # SEARCH command that contains message numbers in the search
        # criteria". The next command without them may send it.
        r = self.enabled()
        self.other("STORE 2 +FLAGS.SILENT (\\Deleted)", "EXPUNGE")
        self.assertEqual(r.cmd("a", "UID SEARCH 1:2"), b"* SEARCH 1\r\na OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("b", "UID SEARCH UID 1:4"),
                         b"* SEARCH 1 3 4\r\n* VANISHED 2\r\nb OK SEARCH completed\r\n")

    def test_select_qresync_reports_vanished_earlier_and_changes(self):
        # 3.2.5.1: "The server sends the client any pending flag changes
        # (using FETCH responses that MUST contain UIDs) and expunges that
        # have occurred in this mailbox since the provided modification
        # sequence" (its example, A03).
        known = self.look()[0]
        self.other("STORE 2 +FLAGS.SILENT (\\Deleted)", "EXPUNGE", "UID STORE 4 +FLAGS (\\Flagged)")
        highest, m, _ = self.look()
        r = self.enabled(select=None)
        r.cmd("a", "SELECT INBOX")
        self.assertEqual(r.cmd("b", "SELECT INBOX (QRESYNC (%d %d))" % (self.uidvalidity, known)),
                         select_answer(3, self.uidvalidity, 5, highest, closed=True, mailboxid=self.mailboxid) +
                         b"* VANISHED (EARLIER) 2\r\n"
                         b"* 3 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (%d))\r\n"
                         b"b OK [READ-WRITE] SELECT completed\r\n" % m[4])
        # Known UIDs restrict both (3.2.5.1: "the server should only report
        # flag changes and expunges for the specified messages").
        self.assertEqual(r.cmd("c", "EXAMINE INBOX (QRESYNC (%d %d 1,3))" % (self.uidvalidity, known)),
                         select_answer(3, self.uidvalidity, 5, highest, readonly=True, closed=True, mailboxid=self.mailboxid) +
                         b"c OK [READ-ONLY] EXAMINE completed\r\n")
        # 3.2.5: "If the provided UIDVALIDITY doesn't match ... the server
        # MUST ignore the remaining parameters".
        self.assertEqual(r.cmd("d", "SELECT INBOX (QRESYNC (%d 1))" % (self.uidvalidity + 1)),
                         select_answer(3, self.uidvalidity, 5, highest, closed=True, mailboxid=self.mailboxid) +
                         b"d OK [READ-WRITE] SELECT completed\r\n")
        # Up to date: nothing to tell.
        self.assertEqual(r.cmd("e", "SELECT INBOX (QRESYNC (%d %d 1:4))" % (self.uidvalidity, highest)),
                         select_answer(3, self.uidvalidity, 5, highest, closed=True, mailboxid=self.mailboxid) +
                         b"e OK [READ-WRITE] SELECT completed\r\n")

    def test_select_qresync_seq_match_keeps_vanished_small(self):
        # 3.2.5.2: "If a pair matches, then the client knows of any
        # expunges up to, and including, the message; thus, it will not
        # include that range in the VANISHED response".
        known = self.look()[0]
        self.other("STORE 1,3 +FLAGS.SILENT (\\Deleted)", "EXPUNGE")
        highest = self.look()[0]
        r = self.enabled(select=None)
        # Now message 1 is UID 2 and message 2 is UID 4.
        for i, (seq_match, vanished) in enumerate(((b"(1 2)", b"3"), (b"(1:2 2,4)", None),
                                                   (b"(2 3)", b"1,3"), (b"(1:2 2,3)", b"3"))):
            expected = select_answer(2, self.uidvalidity, 5, highest, readonly=True, closed=i > 0, mailboxid=self.mailboxid)
            if vanished:
                expected += b"* VANISHED (EARLIER) " + vanished + b"\r\n"
            self.assertEqual(r.cmd("a", "EXAMINE INBOX (QRESYNC (%d %d 1:4 %s))"
                                   % (self.uidvalidity, known, seq_match.decode())),
                             expected + b"a OK [READ-ONLY] EXAMINE completed\r\n", seq_match)

    def test_uid_fetch_vanished(self):
        # 3.2.6, its second example: "Any VANISHED (EARLIER) responses MUST
        # be returned before any FETCH responses".
        known = self.look()[0]
        self.other("STORE 1,3 +FLAGS.SILENT (\\Deleted)", "EXPUNGE", "UID STORE 2 +FLAGS (\\Seen)")
        m = self.look()[1]
        r = self.enabled()
        self.assertEqual(r.cmd("a", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % known),
                         b"* VANISHED (EARLIER) 1,3\r\n"
                         b"* 1 FETCH (FLAGS (\\Seen) UID 2 MODSEQ (%d))\r\n"
                         b"a OK FETCH completed\r\n" % m[2])
        # Only what the set names.
        self.assertEqual(r.cmd("b", "UID FETCH 2:3 (FLAGS) (CHANGEDSINCE %d VANISHED)" % known),
                         b"* VANISHED (EARLIER) 3\r\n"
                         b"* 1 FETCH (FLAGS (\\Seen) UID 2 MODSEQ (%d))\r\n"
                         b"b OK FETCH completed\r\n" % m[2])

    def test_vanished_earlier_leaves_messages_the_session_still_has(self):
        # A message expunged since this session last looked is still in its
        # view: VANISHED (EARLIER) must not name it (the client would take
        # it from its count twice); it goes as VANISHED once that may be
        # sent (3.2.10.2), here before the UID FETCH ends.
        known = self.look()[0]
        r = self.enabled()
        self.other("STORE 2 +FLAGS.SILENT (\\Deleted)", "EXPUNGE")
        self.assertEqual(r.cmd("a", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % known),
                         b"* VANISHED 2\r\na OK FETCH completed\r\n")


class HorizonTest(CondstoreTest):
    """Tombstones purged at the sweep after each expunge (tombstone_horizon
    0s): a client from before the last one purged gets a full answer."""
    storage_extra = "tombstone_horizon 0s"

    def test_resync_from_before_the_horizon_names_every_missing_uid(self):
        # RFC 7162 3.2.5.2: "the server MAY send VANISHED ... for all UIDs
        # in the known set that no longer exist". The storage no longer
        # knows what went after `known` (UID 3's tombstone is purged): it
        # must not answer "nothing vanished", so it names every UID of the
        # known set that is gone, UID 1 (expunged before `known`) too.
        self.other("STORE 1 +FLAGS.SILENT (\\Deleted)", "EXPUNGE")
        known = self.look()[0]
        self.other("UID STORE 3 +FLAGS.SILENT (\\Deleted)", "EXPUNGE", "UID STORE 4 +FLAGS (\\Flagged)")
        highest, m, _ = self.look()
        r = self.enabled(select=None)
        self.assertEqual(r.cmd("a", "SELECT INBOX (QRESYNC (%d %d))" % (self.uidvalidity, known)),
                         select_answer(2, self.uidvalidity, 5, highest, mailboxid=self.mailboxid) +
                         b"* VANISHED (EARLIER) 1,3\r\n"
                         b"* 2 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (%d))\r\n"
                         b"a OK [READ-WRITE] SELECT completed\r\n" % m[4])
        # Within known-uids only (3.2.5.1).
        self.assertEqual(r.cmd("b", "EXAMINE INBOX (QRESYNC (%d %d 2:4))" % (self.uidvalidity, known)),
                         select_answer(2, self.uidvalidity, 5, highest, readonly=True, closed=True, mailboxid=self.mailboxid) +
                         b"* VANISHED (EARLIER) 3\r\n"
                         b"* 2 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (%d))\r\n"
                         b"b OK [READ-ONLY] EXAMINE completed\r\n" % m[4])
        # UID FETCH ... (CHANGEDSINCE ... VANISHED) (3.2.6) answers alike.
        self.assertEqual(r.cmd("c", "UID FETCH 1:4 (FLAGS) (CHANGEDSINCE %d VANISHED)" % known),
                         b"* VANISHED (EARLIER) 1,3\r\n"
                         b"* 2 FETCH (FLAGS (\\Flagged) UID 4 MODSEQ (%d))\r\n"
                         b"c OK FETCH completed\r\n" % m[4])
        # From the last purged expunge on, the answer is exact again.
        self.assertEqual(r.cmd("d", "UID FETCH 1:4 (FLAGS) (CHANGEDSINCE %d VANISHED)" % (highest - 1)),
                         b"* 2 FETCH (FLAGS (\\Flagged) UID 4 MODSEQ (%d))\r\n"
                         b"d OK FETCH completed\r\n" % m[4])


if __name__ == "__main__":
    phtest.main()
