# SPDX-License-Identifier: MIT
"""CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 4: RETURN (UPDATE) with ADDTO
and REMOVEFROM while another session changes the mailbox, CANCELUPDATE,
NOUPDATE, PARTIAL) and PARTIAL (RFC 9394: negative ranges, with MIN, MAX,
COUNT and SAVE, and UID FETCH's PARTIAL modifier) through the real binary,
byte for byte, over test_sort.py's mailbox.

The mailbox: sequence numbers 1..6 are UIDs 2..7; no flags; (DATE) orders
it 3 2 1 4 5 6.

test_context_pgsql.py runs these classes on storage.pgsql too."""
import random
import re

import phtest
from test_imap import MSG
from test_sort import SortBase, message
from test_imap_state import append_cmd

# Sorts before every message of the mailbox by DATE.
OLDEST = message(["From: old@a.example", "Subject: old",
                  "Date: Mon, 1 Jan 2018 00:00:00 +0000"])


def esearch(tag, data, uid=False):
    return b'* ESEARCH (TAG "%s")%s%s\r\n' % (
        tag.encode(), b" UID" if uid else b"", b" " + data if data else b"")


class PartialTest(SortBase):
    def answer(self, r, tag, cmd, data, done=b"SEARCH completed", uid=False):
        self.assertEqual(r.cmd(tag, cmd),
                         esearch(tag, data, uid) + b"%s OK %s\r\n" % (tag.encode(), done), cmd)

    def test_search_partial_ranges(self):
        r, _ = self.session()
        # RFC 9394 3.1: "The first result ... is 1"; "-1 is the last
        # message"; the range as requested, then the results of it.
        self.answer(r, "a", "SEARCH RETURN (PARTIAL 1:2) ALL", b"PARTIAL (1:2 1:2)")
        self.answer(r, "b", "UID SEARCH RETURN (PARTIAL -1:-2) ALL",
                    b"PARTIAL (-1:-2 6:7)", uid=True)
        # RFC 5267 5: "A range 500:400 is the same as 400:500"; RFC 9394
        # 4: "A range -500:-400 is the same as -400:-500".
        self.answer(r, "c", "SEARCH RETURN (PARTIAL 3:2) ALL", b"PARTIAL (3:2 2:3)")
        self.answer(r, "d", "SEARCH RETURN (PARTIAL -3:-5) ALL", b"PARTIAL (-3:-5 2:4)")
        # "a range that starts or ends higher (or lower) than the current
        # number of results": the results that are in it; none: NIL.
        self.answer(r, "e", "SEARCH RETURN (PARTIAL 5:500) ALL", b"PARTIAL (5:500 5:6)")
        self.answer(r, "f", "SEARCH RETURN (PARTIAL -6:-4294967295) ALL",
                    b"PARTIAL (-6:-4294967295 1)")
        self.answer(r, "g", "SEARCH RETURN (PARTIAL 7:4294967295) ALL",
                    b"PARTIAL (7:4294967295 NIL)")
        self.answer(r, "h", "SEARCH RETURN (PARTIAL 1:10) FLAGGED", b"PARTIAL (1:10 NIL)")
        # Over what matches, in mailbox order.
        self.answer(r, "i", "UID SEARCH RETURN (PARTIAL 2:3) NOT 2",
                    b"PARTIAL (2:3 4:5)", uid=True)

    def test_partial_with_min_max_count(self):
        r, _ = self.session()
        self.answer(r, "a", "SEARCH RETURN (MIN MAX COUNT PARTIAL -1:-1) ALL",
                    b"MIN 1 MAX 6 COUNT 6 PARTIAL (-1:-1 6)")
        self.answer(r, "b", "SEARCH RETURN (COUNT PARTIAL 9:10) ALL",
                    b"COUNT 6 PARTIAL (9:10 NIL)")
        self.answer(r, "c", "SEARCH RETURN (CONTEXT COUNT) ALL", b"COUNT 6")

    def test_sort_partial_in_sort_order(self):
        r, _ = self.session()
        # RFC 5267 4.4 with ESORT: the positions are those of the sort
        # order (3 2 1 4 5 6).
        self.answer(r, "a", "SORT RETURN (PARTIAL 2:4) (DATE) UTF-8 ALL",
                    b"PARTIAL (2:4 2,1,4)", b"SORT completed")
        self.answer(r, "b", "UID SORT RETURN (PARTIAL -1:-3 COUNT) (REVERSE DATE) UTF-8 ALL",
                    b"COUNT 6 PARTIAL (-1:-3 2:4)", b"SORT completed", uid=True)
        self.answer(r, "c", "SORT RETURN (MIN MAX PARTIAL 7:8) (DATE) UTF-8 ALL",
                    b"MIN 3 MAX 6 PARTIAL (7:8 NIL)", b"SORT completed")

    def test_partial_and_save(self):
        r, _ = self.session()

        def saved(tag):
            return r.cmd(tag, "SEARCH $")

        # RFC 9394 3.2, Table 1: SAVE PARTIAL: the messages PARTIAL
        # returns; with MIN and/or MAX, those too; with COUNT, every
        # message found.
        self.answer(r, "a", "SEARCH RETURN (SAVE PARTIAL 2:3) ALL", b"PARTIAL (2:3 2:3)")
        self.assertEqual(saved("a2"), b"* SEARCH 2 3\r\na2 OK SEARCH completed\r\n")
        self.answer(r, "b", "SEARCH RETURN (SAVE PARTIAL 3:4 MIN) ALL",
                    b"MIN 1 PARTIAL (3:4 3:4)")
        self.assertEqual(saved("b2"), b"* SEARCH 1 3 4\r\nb2 OK SEARCH completed\r\n")
        self.answer(r, "c", "SEARCH RETURN (SAVE PARTIAL 3:3 MAX) ALL",
                    b"MAX 6 PARTIAL (3:3 3)")
        self.assertEqual(saved("c2"), b"* SEARCH 3 6\r\nc2 OK SEARCH completed\r\n")
        self.answer(r, "d", "SEARCH RETURN (SAVE PARTIAL 3:3 MIN MAX) ALL",
                    b"MIN 1 MAX 6 PARTIAL (3:3 3)")
        self.assertEqual(saved("d2"), b"* SEARCH 1 3 6\r\nd2 OK SEARCH completed\r\n")
        self.answer(r, "e", "SEARCH RETURN (SAVE PARTIAL 1:1 COUNT MIN) ALL",
                    b"MIN 1 COUNT 6 PARTIAL (1:1 1)")
        self.assertEqual(saved("e2"), b"* SEARCH 1 2 3 4 5 6\r\ne2 OK SEARCH completed\r\n")
        # In SORT, the PARTIAL of the sort order.
        self.answer(r, "f", "SORT RETURN (SAVE PARTIAL -2:-1) (DATE) UTF-8 ALL",
                    b"PARTIAL (-2:-1 5:6)", b"SORT completed")
        self.assertEqual(saved("f2"), b"* SEARCH 5 6\r\nf2 OK SEARCH completed\r\n")

    def test_bad_partial_and_return_options(self):
        r, _ = self.session()
        bad = b"Invalid partial range (n:m or -n:-m, n and m from 1)"
        cases = [
            ("PARTIAL 0:5", bad), ("PARTIAL 1:0", bad), ("PARTIAL -0:-1", bad),
            ("PARTIAL 1:*", bad), ("PARTIAL *:1", bad), ("PARTIAL 1:-5", bad),
            ("PARTIAL -1:5", bad), ("PARTIAL 01:5", bad), ("PARTIAL 1", bad),
            ("PARTIAL 1:4294967296", bad), ("PARTIAL 99999999999999999999:1", bad),
            ("PARTIAL 1:2:3", bad), ("PARTIAL 1,2", bad), ("PARTIAL $", bad),
            ("PARTIAL", b"PARTIAL needs a range"),
            ("PARTIAL (1:2)", b"PARTIAL needs a range"),
            ('PARTIAL "1:2"', b"PARTIAL needs a range"),
            # RFC 5267 4.4: "either one PARTIAL, one ALL, or neither".
            ("PARTIAL 1:2 ALL", b"PARTIAL and ALL cannot be combined"),
            ("ALL PARTIAL 1:2", b"PARTIAL and ALL cannot be combined"),
            ("PARTIAL 1:2 PARTIAL 3:4", b"PARTIAL given twice"),
            ("FOO", b"Unknown RETURN option"),
        ]
        for i, (opts, text) in enumerate(cases):
            for cmd in ("SEARCH RETURN (%s) ALL", "UID SORT RETURN (%s) (DATE) UTF-8 ALL"):
                tag = "b%d" % i
                self.assertEqual(r.cmd(tag, cmd % opts),
                                 b"%s BAD %s\r\n" % (tag.encode(), text), cmd % opts)
        self.assertIn(b"n OK", r.cmd("n", "NOOP"))


class FetchPartialTest(SortBase):
    def fetch(self, r, tag, cmd, seqs):
        want = b"".join(b"* %d FETCH (FLAGS () UID %d)\r\n" % (n, n + 1) for n in seqs)
        self.assertEqual(r.cmd(tag, cmd), want + b"%s OK FETCH completed\r\n" % tag.encode(), cmd)

    def test_uid_fetch_partial(self):
        r, _ = self.session()
        # RFC 9394 3.3: "Returning information for the last 3 messages in
        # the UID range": "10 UID FETCH 25900:26600 (UID FLAGS) (PARTIAL
        # -1:-3)"; counted over the messages in the set.
        self.fetch(r, "a", "UID FETCH 1:* (UID FLAGS) (PARTIAL -1:-3)", [4, 5, 6])
        self.fetch(r, "b", "UID FETCH 3:6 (FLAGS) (PARTIAL 1:2)", [2, 3])
        self.fetch(r, "c", "UID FETCH 3,5,7 (FLAGS) (PARTIAL 3:2)", [4, 6])
        self.fetch(r, "d", "UID FETCH 1:100 (FLAGS) (PARTIAL 6:4294967295)", [6])
        self.fetch(r, "e", "UID FETCH 1:* (FLAGS) (PARTIAL 7:8)", [])
        self.fetch(r, "f", "UID FETCH 1:* (FLAGS) (PARTIAL -7:-9)", [])

    def test_uid_fetch_partial_with_changedsince(self):
        r, _ = self.session()
        out = r.cmd("s", "STORE 1,5 +FLAGS.SILENT (\\Seen)")
        self.assertIn(b"s OK", out)
        out = r.cmd("m", "UID FETCH 6 (MODSEQ)")
        base = int(out.split(b"MODSEQ (")[1].split(b")")[0])
        self.assertIn(b"s2 OK", r.cmd("s2", "STORE 1,5 +FLAGS.SILENT (\\Flagged)"))
        # RFC 9394 3.4: "first select the last 30 messages and then only
        # return flag changes for a subset of those messages that have
        # MODSEQ higher"; the modifiers in either order.
        for i, mods in enumerate(("PARTIAL -1:-3 CHANGEDSINCE %d" % base,
                                  "CHANGEDSINCE %d PARTIAL -3:-1" % base)):
            out = r.cmd("c%d" % i, "UID FETCH 1:* (FLAGS) (%s)" % mods)
            self.assertRegex(out, rb"^\* 5 FETCH \(FLAGS \(\\Seen \\Flagged\) UID 6 "
                             rb"MODSEQ \(\d+\)\)\r\nc%d OK FETCH completed\r\n$" % i)

    def test_bad_fetch_partial(self):
        r, _ = self.session()
        bad = b"Invalid partial range (n:m or -n:-m, n and m from 1)"
        for cmd, text in [
                ("FETCH 1:* (FLAGS) (PARTIAL 1:2)", b"PARTIAL is a modifier of UID FETCH only"),
                ("UID FETCH 1:* (FLAGS) (PARTIAL 0:2)", bad),
                ("UID FETCH 1:* (FLAGS) (PARTIAL -1:2)", bad),
                ("UID FETCH 1:* (FLAGS) (PARTIAL 1:4294967296)", bad),
                ("UID FETCH 1:* (FLAGS) (PARTIAL 1:*)", bad),
                ("UID FETCH 1:* (FLAGS) (PARTIAL)", b"PARTIAL needs a range"),
                ("UID FETCH 1:* (FLAGS) (PARTIAL 1:2 PARTIAL 1:2)", b"PARTIAL given twice"),
        ]:
            self.assertEqual(r.cmd("x", cmd), b"x BAD " + text + b"\r\n", cmd)


class UpdateTest(SortBase):
    extra = "max_update_contexts 3"

    def other(self):
        b, _ = self.session()
        return b

    def noop(self, r, tag="n"):
        return r.cmd(tag, "NOOP")

    def test_search_update_follows_append_store_expunge(self):
        a, _ = self.session()
        b = self.other()
        # RFC 5267 4.3: "B01 UID SEARCH RETURN (UPDATE COUNT) ...".
        self.assertEqual(a.cmd("B01", "SEARCH RETURN (UPDATE COUNT) FLAGGED"),
                         esearch("B01", b"COUNT 0") + b"B01 OK SEARCH completed\r\n")
        # A flag change that makes messages match: ADDTO at position 0 in
        # mailbox order (4.3.3), after the FETCH that carries the change.
        self.assertIn(b"s OK", b.cmd("s", "STORE 2,4:5 +FLAGS.SILENT (\\Flagged)"))
        self.assertEqual(self.noop(a),
                         b"* 2 FETCH (FLAGS (\\Flagged))\r\n"
                         b"* 4 FETCH (FLAGS (\\Flagged))\r\n"
                         b"* 5 FETCH (FLAGS (\\Flagged))\r\n"
                         + esearch("B01", b"ADDTO (0 2,4:5)") + b"n OK NOOP completed\r\n")
        # A flag change that does not change the result: nothing.
        self.assertIn(b"s OK", b.cmd("s", "STORE 4 +FLAGS.SILENT (\\Seen)"))
        self.assertEqual(self.noop(a), b"* 4 FETCH (FLAGS (\\Seen \\Flagged))\r\n"
                         b"n OK NOOP completed\r\n")
        # New mail that matches: "MUST be sent after the EXISTS".
        b.send(append_cmd("ap", "\\Flagged"))
        self.assertIn(b"ap OK", b.until("ap"))
        b.send(append_cmd("ap2", ""))
        self.assertIn(b"ap2 OK", b.until("ap2"))
        self.assertEqual(self.noop(a), b"* 8 EXISTS\r\n* 0 RECENT\r\n"
                         + esearch("B01", b"ADDTO (0 7)") + b"n OK NOOP completed\r\n")
        # Flags taken away: REMOVEFROM.
        self.assertIn(b"s OK", b.cmd("s", "STORE 4 -FLAGS.SILENT (\\Flagged)"))
        self.assertEqual(self.noop(a), b"* 4 FETCH (FLAGS (\\Seen))\r\n"
                         + esearch("B01", b"REMOVEFROM (0 4)") + b"n OK NOOP completed\r\n")
        # An expunge: REMOVEFROM "MUST be sent prior to the expunge
        # notification itself" (4.3.4).
        self.assertIn(b"s OK", b.cmd("s", "STORE 2 +FLAGS.SILENT (\\Deleted)"))
        self.assertIn(b"x OK", b.cmd("x", "EXPUNGE"))
        self.assertEqual(self.noop(a), esearch("B01", b"REMOVEFROM (0 2)")
                         + b"* 2 EXPUNGE\r\nn OK NOOP completed\r\n")
        # The result is now 4 (was 5) and 6 (was 7): a SEARCH agrees.
        self.assertEqual(a.cmd("c", "SEARCH FLAGGED"), b"* SEARCH 4 6\r\nc OK SEARCH completed\r\n")

    def test_uid_search_update_and_own_store(self):
        a, _ = self.session()
        self.assertEqual(a.cmd("u", "UID SEARCH RETURN (UPDATE) UNSEEN"),
                         esearch("u", b"", uid=True) + b"u OK SEARCH completed\r\n")
        # The session's own STORE: the update comes before its tagged OK,
        # in UIDs.
        self.assertEqual(a.cmd("s", "STORE 1:2 +FLAGS (\\Seen)"),
                         b"* 1 FETCH (FLAGS (\\Seen))\r\n* 2 FETCH (FLAGS (\\Seen))\r\n"
                         + esearch("u", b"REMOVEFROM (0 2:3)", uid=True)
                         + b"s OK STORE completed\r\n")
        self.assertEqual(a.cmd("s2", "STORE 2 -FLAGS.SILENT (\\Seen)"),
                         esearch("u", b"ADDTO (0 3)", uid=True) + b"s2 OK STORE completed\r\n")

    def test_sort_update_positions(self):
        a, _ = self.session()
        b = self.other()
        self.assertEqual(a.cmd("S1", "SORT RETURN (UPDATE ALL) (DATE) UTF-8 UNFLAGGED"),
                         esearch("S1", b"ALL 3,2,1,4:6") + b"S1 OK SORT completed\r\n")
        # 1 and 4 are the 3rd and 4th of the sort order: one run removed at
        # position 3 (RFC 5267 4.3.4: "the first result in the set will
        # occupy the given context position before removal").
        self.assertIn(b"s OK", b.cmd("s", "STORE 1,4,6 +FLAGS.SILENT (\\Flagged)"))
        self.assertEqual(self.noop(a),
                         b"* 1 FETCH (FLAGS (\\Flagged))\r\n* 4 FETCH (FLAGS (\\Flagged))\r\n"
                         b"* 6 FETCH (FLAGS (\\Flagged))\r\n"
                         + esearch("S1", b"REMOVEFROM (3 1,4 4 6)") + b"n OK NOOP completed\r\n")
        # Back in: inserted where they sort (4.3.3: "the first result in
        # the set will occupy the new context position after insertion").
        self.assertIn(b"s OK", b.cmd("s", "STORE 1,4,6 -FLAGS.SILENT (\\Flagged)"))
        self.assertEqual(self.noop(a),
                         b"* 1 FETCH (FLAGS ())\r\n* 4 FETCH (FLAGS ())\r\n"
                         b"* 6 FETCH (FLAGS ())\r\n"
                         + esearch("S1", b"ADDTO (3 1,4 6 6)") + b"n OK NOOP completed\r\n")
        # A new message that sorts first, after its EXISTS.
        b.send(b"ap APPEND INBOX {%d+}\r\n" % len(OLDEST) + OLDEST + b"\r\n")
        self.assertIn(b"ap OK", b.until("ap"))
        self.assertEqual(self.noop(a), b"* 7 EXISTS\r\n* 0 RECENT\r\n"
                         + esearch("S1", b"ADDTO (1 7)") + b"n OK NOOP completed\r\n")
        # An expunge of the 3rd in sort order (7 3 2 1 4 5 6: message 2),
        # before its EXPUNGE.
        self.assertIn(b"s OK", b.cmd("s", "STORE 2 +FLAGS.SILENT (\\Deleted)"))
        self.assertIn(b"x OK", b.cmd("x", "EXPUNGE"))
        self.assertEqual(self.noop(a), esearch("S1", b"REMOVEFROM (3 2)")
                         + b"* 2 EXPUNGE\r\nn OK NOOP completed\r\n")
        self.assertEqual(a.cmd("c", "SORT (DATE) UTF-8 UNFLAGGED"),
                         b"* SORT 6 2 1 3 4 5\r\nc OK SORT completed\r\n")

    def test_uid_sort_update_in_uids(self):
        a, _ = self.session()
        b = self.other()
        self.assertEqual(a.cmd("S2", "UID SORT RETURN (UPDATE COUNT) (REVERSE DATE) UTF-8 SEEN"),
                         esearch("S2", b"COUNT 0", uid=True) + b"S2 OK SORT completed\r\n")
        self.assertIn(b"s OK", b.cmd("s", "STORE 2:3 +FLAGS.SILENT (\\Seen)"))
        # REVERSE DATE: 2 (UID 3) before 3 (UID 4)... 3 sorts first by
        # date, so last in reverse: UID 3 then UID 4.
        self.assertEqual(self.noop(a),
                         b"* 2 FETCH (FLAGS (\\Seen))\r\n* 3 FETCH (FLAGS (\\Seen))\r\n"
                         + esearch("S2", b"ADDTO (1 3:4)", uid=True) + b"n OK NOOP completed\r\n")

    def test_update_keeps_the_numbers_of_its_command(self):
        a, _ = self.session()
        b = self.other()
        # RFC 5267 4.3: "any message sequence numbers used in the search
        # program are evaluated at the time the command is received": 5:*
        # is messages 5 and 6, not the message that comes after.
        self.assertEqual(a.cmd("u1", "SEARCH RETURN (UPDATE ALL) 5:* UNSEEN"),
                         esearch("u1", b"ALL 5:6") + b"u1 OK SEARCH completed\r\n")
        # Header and body keys are evaluated on new mail too.
        self.assertEqual(a.cmd("u2", "UID SEARCH RETURN (UPDATE) OR SUBJECT old BODY needle"),
                         esearch("u2", b"", uid=True) + b"u2 OK SEARCH completed\r\n")
        needle = message(["Subject: x"], b"a needle here\r\n")
        for i, msg in enumerate((OLDEST, needle, MSG)):
            b.send(b"ap%d APPEND INBOX {%d+}\r\n" % (i, len(msg)) + msg + b"\r\n")
            self.assertIn(b"ap%d OK" % i, b.until("ap%d" % i))
        self.assertEqual(self.noop(a), b"* 9 EXISTS\r\n* 0 RECENT\r\n"
                         + esearch("u2", b"ADDTO (0 8:9)", uid=True) + b"n OK NOOP completed\r\n")
        self.assertIn(b"s OK", b.cmd("s", "STORE 5 +FLAGS.SILENT (\\Seen)"))
        self.assertEqual(self.noop(a), b"* 5 FETCH (FLAGS (\\Seen))\r\n"
                         + esearch("u1", b"REMOVEFROM (0 5)") + b"n OK NOOP completed\r\n")

    def test_update_during_idle(self):
        a, _ = self.session()
        b = self.other()
        self.assertIn(b"u OK", a.cmd("u", "SEARCH RETURN (UPDATE) DELETED"))
        self.idle(a)
        self.assertIn(b"s OK", b.cmd("s", "STORE 3 +FLAGS.SILENT (\\Deleted)"))
        got = self.lines_until(a, rb"^\* ESEARCH")
        self.assertEqual(got, b"* 3 FETCH (FLAGS (\\Deleted))\r\n" + esearch("u", b"ADDTO (0 3)"))
        self.assertIn(b"x OK", b.cmd("x", "EXPUNGE"))
        got = self.lines_until(a, rb"EXPUNGE")
        self.assertEqual(got, esearch("u", b"REMOVEFROM (0 3)") + b"* 3 EXPUNGE\r\n")
        a.send(b"DONE\r\n")
        self.assertEqual(a.until("i"), b"i OK IDLE terminated\r\n")

    def test_removefrom_during_fetch_before_the_expunge(self):
        a, _ = self.session()
        b = self.other()
        self.assertIn(b"u OK", a.cmd("u", "SEARCH RETURN (UPDATE) ALL"))
        self.assertIn(b"s OK", b.cmd("s", "STORE 6 +FLAGS.SILENT (\\Deleted)"))
        self.assertIn(b"x OK", b.cmd("x", "EXPUNGE"))
        # RFC 5267 A.3: "notifies immediately about expunged messages, yet
        # will not affect message sequence numbers until the normal EXPUNGE
        # message can be sent" (no EXPUNGE during FETCH: RFC 3501 7.4.1).
        self.assertEqual(a.cmd("f", "FETCH 1 UID"),
                         b"* 1 FETCH (UID 2)\r\n" + esearch("u", b"REMOVEFROM (0 6)")
                         + b"f OK FETCH completed\r\n")
        self.assertEqual(self.noop(a), b"* 6 EXPUNGE\r\nn OK NOOP completed\r\n")

    def test_cancelupdate(self):
        a, _ = self.session()
        b = self.other()
        self.assertIn(b"u1 OK", a.cmd("u1", "SEARCH RETURN (UPDATE) FLAGGED"))
        self.assertIn(b"u2 OK", a.cmd("u2", "UID SORT RETURN (UPDATE) (DATE) UTF-8 FLAGGED"))
        # RFC 5267 4.3.5: 'C: B04 CANCELUPDATE "B01"'.
        self.assertEqual(a.cmd("c", 'CANCELUPDATE "u1"'), b"c OK No further updates\r\n")
        self.assertIn(b"s OK", b.cmd("s", "STORE 1 +FLAGS.SILENT (\\Flagged)"))
        self.assertEqual(self.noop(a), b"* 1 FETCH (FLAGS (\\Flagged))\r\n"
                         + esearch("u2", b"ADDTO (1 2)", uid=True) + b"n OK NOOP completed\r\n")
        # A tag with no context: NO, and nothing is cancelled.
        self.assertEqual(a.cmd("c2", 'CANCELUPDATE "u2" "u1"'),
                         b'c2 NO No update context for tag "u1"\r\n')
        self.assertEqual(a.cmd("c3", 'CANCELUPDATE "u2"'), b"c3 OK No further updates\r\n")
        self.assertIn(b"s OK", b.cmd("s", "STORE 2 +FLAGS.SILENT (\\Flagged)"))
        self.assertEqual(self.noop(a), b"* 2 FETCH (FLAGS (\\Flagged))\r\nn OK NOOP completed\r\n")
        # The tags are free again.
        self.assertIn(b"u1 OK", a.cmd("u1", "SEARCH RETURN (UPDATE) FLAGGED"))

    def test_tag_reuse_limit_and_reselect(self):
        a, _ = self.session()
        self.assertIn(b"B01 OK", a.cmd("B01", "UID SEARCH RETURN (UPDATE COUNT) DELETED"))
        # RFC 5267 4.3: "Note that the following is rejected, and has no
        # effect: C: B01 SORT RETURN (UPDATE) FLAGGED / S: B01 BAD Tag
        # reuse".
        self.assertEqual(a.cmd("B01", "SORT RETURN (UPDATE) (DATE) UTF-8 FLAGGED"),
                         b"B01 BAD Tag reuse: an update context has this tag\r\n")
        # Without UPDATE the tag may be used.
        self.assertEqual(a.cmd("B01", "SEARCH RETURN (COUNT) DELETED"),
                         esearch("B01", b"COUNT 0") + b"B01 OK SEARCH completed\r\n")
        # 4.3.1: past the limit (max_update_contexts 3 here), an untagged
        # NO [NOUPDATE "tag"]; "Other return options specified SHALL still
        # be honoured".
        self.assertIn(b"B02 OK", a.cmd("B02", "SEARCH RETURN (UPDATE) ALL"))
        self.assertIn(b"B03 OK", a.cmd("B03", "SORT RETURN (UPDATE) (DATE) UTF-8 ALL"))
        self.assertEqual(a.cmd("B04", "UID SORT RETURN (UPDATE COUNT) (DATE) UTF-8 ALL"),
                         esearch("B04", b"COUNT 6", uid=True)
                         + b'* NO [NOUPDATE "B04"] Too many update contexts\r\n'
                         + b"B04 OK SORT completed\r\n")
        self.assertEqual(a.cmd("c", 'CANCELUPDATE "B04"'),
                         b'c NO No update context for tag "B04"\r\n')
        # "Updates will cease when the mailbox is no longer selected".
        self.assertIn(b"s OK", a.cmd("s", "SELECT INBOX"))
        self.assertEqual(a.cmd("c", 'CANCELUPDATE "B01"'),
                         b'c NO No update context for tag "B01"\r\n')
        self.assertEqual(a.cmd("s2", "STORE 1 +FLAGS (\\Deleted)"),
                         b"* 1 FETCH (FLAGS (\\Deleted))\r\ns2 OK STORE completed\r\n")
        for i in range(3):
            self.assertIn(b"B0%d OK" % i, a.cmd("B0%d" % i, "SEARCH RETURN (UPDATE) ALL"))

    def test_hostile_cancelupdate_and_updates(self):
        a, _ = self.session()
        for cmd, text in [
                ("CANCELUPDATE", b"BAD CANCELUPDATE takes the tags of contexts"),
                ("CANCELUPDATE u1", b"BAD CANCELUPDATE takes quoted tags"),
                ("CANCELUPDATE (u1)", b"BAD CANCELUPDATE takes quoted tags"),
                ("CANCELUPDATE {2+}\r\nu1", b"BAD CANCELUPDATE takes quoted tags"),
                ('CANCELUPDATE ""', b'NO No update context for tag ""'),
                ('CANCELUPDATE "%s"' % ("x" * 5000), b'NO No update context for tag "'
                 + b"x" * 60),
        ]:
            got = a.cmd("h", cmd)
            self.assertTrue(got.startswith(b"h " + text), (cmd, got))
        # Many contexts asked for at once: the limit holds, each answered.
        a.send(b"".join(b"m%d SEARCH RETURN (UPDATE) ALL\r\n" % i for i in range(50)))
        out = a.until("m49")
        self.assertEqual(out.count(b"NOUPDATE"), 47)
        self.assertEqual(out.count(b" OK SEARCH completed"), 50)
        # And updates still flow to the three that were kept.
        b = self.other()
        b.send(append_cmd("ap", ""))
        self.assertIn(b"ap OK", b.until("ap"))
        got = self.noop(a)
        self.assertEqual(got.count(b"ADDTO (0 7)"), 3, got)

    def test_capabilities(self):
        r, _ = self.session()
        caps = r.cmd("c", "CAPABILITY").split(b"\r\n")[0].split()
        # RFC 5267 4.1: "Servers advertising CONTEXT=SORT also advertise
        # the SORT capability".
        for cap in (b"CONTEXT=SEARCH", b"CONTEXT=SORT", b"SORT", b"ESORT", b"ESEARCH",
                    b"PARTIAL"):
            self.assertIn(cap, caps)


def numbers(text):
    """A sequence-set in its order: "3:5,1" is 3 4 5 1."""
    out = []
    for part in text.split(b","):
        lo, _, hi = part.partition(b":")
        lo, hi = int(lo), int(hi or lo)
        out.extend(range(lo, hi + 1) if lo <= hi else range(lo, hi - 1, -1))
    return out


class ClientModel:
    """A client's copy of one context's result, kept by applying ADDTO and
    REMOVEFROM as RFC 5267 4.3.3 and 4.3.4 say, and renumbered by EXPUNGE
    (sequence numbers)."""

    def __init__(self, test, tag, result, by_position):
        self.test, self.tag, self.result = test, tag, list(result)
        self.by_position = by_position
        self.pairs = 0

    def apply(self, line):
        m = re.match(rb'\* (\d+) EXPUNGE\r\n$', line)
        if m and not self.test.uid_mode(self.tag):
            n = int(m.group(1))
            # REMOVEFROM came first (4.3.4): n is no longer in the result.
            self.test.assertNotIn(n, self.result, line)
            self.result = [x - 1 if x > n else x for x in self.result]
            return
        m = re.match(rb'\* ESEARCH \(TAG "([^"]+)"\)(?: UID)?(.*)\r\n$', line)
        if not m or m.group(1).decode() != self.tag:
            return
        for kind, pairs in re.findall(rb" (ADDTO|REMOVEFROM) \(([^)]*)\)", m.group(2)):
            items = pairs.split()
            for pos, nums in zip(items[0::2], items[1::2]):
                pos, nums = int(pos), numbers(nums)
                self.pairs += 1
                if kind == b"ADDTO" and pos == 0:
                    self.test.assertFalse(self.by_position, line)
                    self.result = sorted(self.result + nums)
                elif kind == b"ADDTO":
                    self.result[pos - 1:pos - 1] = nums
                elif pos == 0:
                    for n in nums:
                        self.result.remove(n)
                else:
                    # "the first result in the set will occupy the given
                    # context position before removal".
                    self.test.assertEqual(self.result[pos - 1:pos - 1 + len(nums)], nums, line)
                    del self.result[pos - 1:pos - 1 + len(nums)]


class UpdateModelTest(SortBase):
    """Random changes by another session; after each, every context's
    result as its updates make it equals the command run afresh."""
    CONTEXTS = [
        ("U1", "UID SORT", "(SUBJECT REVERSE DATE) UTF-8 OR FLAGGED SEEN"),
        ("U2", "SORT", "(REVERSE ARRIVAL) UTF-8 NOT FLAGGED"),
        ("U3", "UID SEARCH", "OR FLAGGED SUBJECT b"),
        ("U4", "SEARCH", "SEEN"),
        ("U5", "SORT", "(FROM SIZE) UTF-8 SEEN"),
    ]

    def uid_mode(self, tag):
        return dict((t, c) for t, c, _ in self.CONTEXTS)[tag].startswith("UID")

    def fresh(self, r, cmd, args):
        out = r.cmd("f", "%s RETURN (ALL) %s" % (cmd, args))
        m = re.search(rb" ALL ([0-9:,]+)", out)
        return numbers(m.group(1)) if m else []

    def test_results_follow_random_changes(self):
        rng = random.Random(5267)
        a, _ = self.session()
        b, _ = self.session()
        models = []
        for tag, cmd, args in self.CONTEXTS:
            out = a.cmd(tag, "%s RETURN (UPDATE ALL) %s" % (cmd, args))
            m = re.search(rb" ALL ([0-9:,]+)", out)
            models.append(ClientModel(self, tag, numbers(m.group(1)) if m else [],
                                      "SORT" in cmd))
        subjects = ["a", "b", "Re: a", "c", "Re: b"]
        for round_ in range(25):
            op = rng.choice(["flag", "flag", "unflag", "append", "expunge"])
            count = int(b.cmd("c", "SEARCH RETURN (COUNT) ALL").split(b"COUNT ")[1].split()[0])
            picks = ",".join(str(rng.randint(1, max(count, 1))) for _ in range(3))
            flag = rng.choice(["\\Flagged", "\\Seen"])
            if op in ("flag", "unflag") and count:
                sign = "+" if op == "flag" else "-"
                self.assertIn(b"s OK", b.cmd("s", "STORE %s %sFLAGS.SILENT (%s)" % (picks, sign, flag)))
            elif op == "append":
                msg = message(["From: u%d@x.example" % rng.randint(1, 9),
                               "Subject: " + rng.choice(subjects),
                               "Date: %d Jan 2020 10:00:00 +0000" % rng.randint(1, 28)],
                              b"x" * rng.randint(1, 50) + b"\r\n")
                flags = rng.choice(["", "\\Seen", "\\Flagged", "\\Seen \\Flagged"])
                b.send(b"ap APPEND INBOX (%s) {%d+}\r\n" % (flags.encode(), len(msg)) + msg + b"\r\n")
                self.assertIn(b"ap OK", b.until("ap"))
            elif count > 1:
                self.assertIn(b"s OK", b.cmd("s", "STORE %s +FLAGS.SILENT (\\Deleted)" % picks))
                self.assertIn(b"x OK", b.cmd("x", "EXPUNGE"))
            for line in a.cmd("n", "NOOP").splitlines(keepends=True):
                for model in models:
                    model.apply(line)
            for model, (tag, cmd, args) in zip(models, self.CONTEXTS):
                self.assertEqual(model.result, self.fresh(a, cmd, args),
                                 "round %d (%s): %s" % (round_, op, tag))
        # Every context was updated along the way, more than once.
        self.assertTrue(all(m.pairs >= 5 for m in models), [m.pairs for m in models])


if __name__ == "__main__":
    phtest.main()
