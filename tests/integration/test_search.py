# SPDX-License-Identifier: MIT
"""Extended SEARCH through the real binary, byte for byte: ESEARCH (RFC
4731) with CONDSTORE's MODSEQ (RFC 7162 3.1.10), SEARCHRES (RFC 5182) and
WITHIN (RFC 5032).

test_search_pgsql.py runs these classes on storage.pgsql too."""
import imaplib
import re
import time

from test_imap import MSG
import phtest
from test_imap_state import StateTest


class SearchTest(StateTest):
    # Seven messages, the first expunged so that UIDs (2..7) are not the
    # sequence numbers (1..6). \\Flagged: sequence numbers 2, 3, 5.
    FLAGS = ("(\\Deleted)", None, "(\\Flagged)", "(\\Flagged \\Seen)", None,
             "(\\Flagged)", "(\\Seen)")

    def setUp(self):
        super().setUp()
        self.fill(*self.FLAGS)
        r, _ = self.session()
        self.assertIn(b"x OK", r.cmd("x", "EXPUNGE"))
        r.cmd("l", "LOGOUT")

    def selected(self):
        r, _ = self.session()
        return r


class EsearchTest(SearchTest):
    def test_return_options_answer_one_esearch(self):
        r = self.selected()
        # RFC 4731 3.1: "C: A282 SEARCH RETURN (MIN COUNT) FLAGGED ...
        # S: * ESEARCH (TAG "A282") MIN 2 COUNT 3".
        self.assertEqual(r.cmd("A282", "SEARCH RETURN (MIN COUNT) FLAGGED"),
                         b'* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\nA282 OK SEARCH completed\r\n')
        # "C: A283 SEARCH RETURN () FLAGGED ... S: * ESEARCH (TAG "A283")
        # ALL 2,10:11": RETURN () is (ALL), in sequence-set syntax.
        self.assertEqual(r.cmd("A283", "SEARCH RETURN () FLAGGED"),
                         b'* ESEARCH (TAG "A283") ALL 2:3,5\r\nA283 OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("b", "search return (all count max min) flagged"),
                         b'* ESEARCH (TAG "b") MIN 2 MAX 5 COUNT 3 ALL 2:3,5\r\nb OK SEARCH completed\r\n')
        # "C: A284 SEARCH RETURN (MIN) UNSEEN / S: * ESEARCH (TAG "A284")
        # MIN 4".
        self.assertEqual(r.cmd("A284", "SEARCH RETURN (MIN) UNSEEN"),
                         b'* ESEARCH (TAG "A284") MIN 1\r\nA284 OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("A286", "SEARCH RETURN (COUNT) SEEN"),
                         b'* ESEARCH (TAG "A286") COUNT 2\r\nA286 OK SEARCH completed\r\n')

    def test_uid_search_has_the_uid_indicator(self):
        r = self.selected()
        # RFC 4731 3.1: "An extended UID SEARCH command MUST cause an
        # ESEARCH response with the UID indicator present", and "all data
        # in the ESEARCH response is referring to UIDs".
        self.assertEqual(r.cmd("A285", "UID SEARCH RETURN (MIN MAX) 1:5000"),
                         b'* ESEARCH (TAG "A285") UID MIN 2 MAX 7\r\nA285 OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("c", "UID SEARCH RETURN (ALL COUNT) FLAGGED"),
                         b'* ESEARCH (TAG "c") UID COUNT 3 ALL 3:4,6\r\nc OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("d", "UID SEARCH RETURN () 2:4 UNFLAGGED"),
                         b'* ESEARCH (TAG "d") UID ALL 5\r\nd OK SEARCH completed\r\n')

    def test_no_match_still_answers_esearch(self):
        r = self.selected()
        # RFC 4731 3.1, of MIN, MAX and ALL: "If the SEARCH results in no
        # matches, the server MUST NOT include the ... result option in
        # the ESEARCH response; however, it still MUST send the ESEARCH
        # response." COUNT "MUST always be included".
        self.assertEqual(r.cmd("a", "SEARCH RETURN (MIN MAX ALL COUNT) DRAFT"),
                         b'* ESEARCH (TAG "a") COUNT 0\r\na OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("b", "UID SEARCH RETURN (MIN) DRAFT"),
                         b'* ESEARCH (TAG "b") UID\r\nb OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("c", "SEARCH RETURN () KEYWORD $Nothing"),
                         b'* ESEARCH (TAG "c")\r\nc OK SEARCH completed\r\n')

    def test_plain_search_unchanged(self):
        r = self.selected()
        self.assertEqual(r.cmd("a", "SEARCH FLAGGED"), b"* SEARCH 2 3 5\r\na OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("b", "UID SEARCH CHARSET UTF-8 FLAGGED"),
                         b"* SEARCH 3 4 6\r\nb OK SEARCH completed\r\n")

    def test_return_syntax_errors(self):
        r = self.selected()
        # RFC 4466 2.6.1: search = "SEARCH" [search-return-opts] SP
        # search-criteria: RETURN comes first, its options are a list.
        for tag, args, text in (
                ("a", "RETURN (FOO) ALL", b"Unknown RETURN option"),
                ("b", "RETURN MIN ALL", b"RETURN takes a list of options"),
                ("c", "RETURN (MIN)", b"Missing search key"),
                ("d", "CHARSET UTF-8 RETURN (MIN) ALL", b"Unknown search key RETURN"),
                ("e", "RETURN (MIN) RETURN (MAX) ALL", b"Unknown search key RETURN"),
                ("f", "RETURN", b"RETURN takes a list of options")):
            self.assertEqual(r.cmd(tag, "SEARCH " + args), tag.encode() + b" BAD " + text + b"\r\n")
        self.assertEqual(r.cmd("g", "SEARCH RETURN (MIN) CHARSET KOI8-R ALL"),
                         b"g NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n")

    def modseqs(self, r):
        out = r.cmd("m", "FETCH 1:* (MODSEQ)")
        return {int(s): int(m) for s, m in re.findall(rb"\* (\d+) FETCH \(MODSEQ \((\d+)\)\)", out)}

    def test_modseq_result_option(self):
        r = self.selected()
        # Message 3 changes last, 2 before it: modseqs 2 < 5 > 3.
        self.assertIn(b"a OK", r.cmd("a", "STORE 2 +FLAGS.SILENT ($A)"))
        self.assertIn(b"b OK", r.cmd("b", "STORE 3 +FLAGS.SILENT ($A)"))
        ms = self.modseqs(r)
        since = ms[2]
        # RFC 4731 3.2, RFC 7162 3.1.10: with MODSEQ in the criteria the
        # ESEARCH response carries MODSEQ: "If the SEARCH/UID SEARCH
        # command contained a single MIN or MAX result option, the MODSEQ
        # result option contains the mod-sequence for the found message.
        # If ... both MIN and MAX result options and no ALL/COUNT option,
        # ... the highest mod-sequence for the two returned messages.
        # Otherwise ... the highest mod-sequence for all messages being
        # returned."
        self.assertEqual(r.cmd("a1", "SEARCH RETURN (MIN) MODSEQ %d" % since),
                         b'* ESEARCH (TAG "a1") MIN 2 MODSEQ %d\r\na1 OK SEARCH completed\r\n' % ms[2])
        self.assertEqual(r.cmd("a2", "SEARCH RETURN (MAX) MODSEQ %d" % since),
                         b'* ESEARCH (TAG "a2") MAX 3 MODSEQ %d\r\na2 OK SEARCH completed\r\n' % ms[3])
        self.assertEqual(r.cmd("a3", 'SEARCH RETURN (MIN MAX) MODSEQ "/flags/\\\\draft" all %d' % since),
                         b'* ESEARCH (TAG "a3") MIN 2 MAX 3 MODSEQ %d\r\na3 OK SEARCH completed\r\n'
                         % max(ms[2], ms[3]))
        # RFC 7162 Example 19: "S: * ESEARCH (TAG "a") ALL 1:3,5 MODSEQ
        # 1236".
        self.assertEqual(r.cmd("a4", "UID SEARCH RETURN (ALL) MODSEQ 1"),
                         b'* ESEARCH (TAG "a4") UID ALL 2:7 MODSEQ %d\r\na4 OK SEARCH completed\r\n'
                         % max(ms.values()))
        # "the server returns a non-empty SEARCH result": none, no MODSEQ.
        self.assertEqual(r.cmd("a5", "SEARCH RETURN (COUNT MIN) MODSEQ %d" % (max(ms.values()) + 1)),
                         b'* ESEARCH (TAG "a5") COUNT 0\r\na5 OK SEARCH completed\r\n')
        # With MIN, MAX and a message in between of a lower modseq.
        self.assertIn(b"c OK", r.cmd("c", "STORE 1 +FLAGS.SILENT ($B)"))
        ms = self.modseqs(r)
        self.assertEqual(r.cmd("a6", "SEARCH RETURN (MIN MAX) MODSEQ 1 NOT 2"),
                         b'* ESEARCH (TAG "a6") MIN 1 MAX 6 MODSEQ %d\r\na6 OK SEARCH completed\r\n'
                         % max(ms[1], ms[6]))
        self.assertEqual(r.cmd("a7", "SEARCH RETURN (MIN COUNT) MODSEQ 1 NOT 2"),
                         b'* ESEARCH (TAG "a7") MIN 1 COUNT 5 MODSEQ %d\r\na7 OK SEARCH completed\r\n'
                         % max(v for k, v in ms.items() if k != 2))


class SearchresTest(SearchTest):
    def test_save_then_fetch_store_copy(self):
        r = self.selected()
        # RFC 5182 Example 1: "C: A282 SEARCH RETURN (SAVE) FLAGGED ...
        # S: A282 OK SEARCH completed, result saved" and nothing else: "In
        # absence of any other SEARCH result option, the SAVE result option
        # also suppresses any SEARCH response" (1).
        self.assertEqual(r.cmd("A282", "SEARCH RETURN (SAVE) FLAGGED"), b"A282 OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("A283", "FETCH $ (UID)"),
                         b"* 2 FETCH (UID 3)\r\n* 3 FETCH (UID 4)\r\n* 5 FETCH (UID 6)\r\n"
                         b"A283 OK FETCH completed\r\n")
        # 2.1: "$" can be set by SEARCH and used by UID FETCH, and the
        # other way round.
        self.assertEqual(r.cmd("b", "UID FETCH $ (FLAGS)"),
                         b"* 2 FETCH (FLAGS (\\Flagged) UID 3)\r\n* 3 FETCH (FLAGS (\\Seen \\Flagged) UID 4)\r\n"
                         b"* 5 FETCH (FLAGS (\\Flagged) UID 6)\r\nb OK FETCH completed\r\n")
        # Example 3: "C: A301 UID SEARCH UID $ SMALLER 4096" and "the
        # second command in Example 3 can be replaced with: C: A301 UID
        # SEARCH $ SMALLER 4096".
        self.assertEqual(r.cmd("A301", "UID SEARCH UID $ SMALLER 4096"),
                         b"* SEARCH 3 4 6\r\nA301 OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("A302", "UID SEARCH $ SEEN"), b"* SEARCH 4\r\nA302 OK SEARCH completed\r\n")
        # Example 4: "$" combined with message numbers by OR.
        self.assertEqual(r.cmd("P283", "SEARCH CHARSET UTF-8 (OR $ 1,6) NOT SEEN"),
                         b"* SEARCH 1 2 5\r\nP283 OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("c", "STORE $ +FLAGS.SILENT (\\Answered)"), b"c OK STORE completed\r\n")
        self.assertEqual(r.cmd("d", "SEARCH ANSWERED"), b"* SEARCH 2 3 5\r\nd OK SEARCH completed\r\n")
        self.assertIn(b"e OK", r.cmd("e", "CREATE Other"))
        self.assertRegex(r.cmd("f", "COPY $ Other"), rb"^f OK \[COPYUID \d+ 3:4,6 1:3\] COPY completed\r\n$")

    def test_uid_search_saves_for_sequence_commands(self):
        r = self.selected()
        self.assertEqual(r.cmd("a", "UID SEARCH RETURN (SAVE) UNFLAGGED"), b"a OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("b", "FETCH $ UID"),
                         b"* 1 FETCH (UID 2)\r\n* 4 FETCH (UID 5)\r\n* 6 FETCH (UID 7)\r\nb OK FETCH completed\r\n")

    def test_pipelined_save_and_use(self):
        r = self.selected()
        # RFC 5182 2.3, Example 7: SEARCH RETURN (SAVE) pipelined with the
        # commands using "$"; "a server MUST execute the two commands in
        # the order they were received".
        r.send(b"F282 SEARCH RETURN (SAVE) FLAGGED\r\nF283 FETCH $ (UID)\r\n"
               b"F284 STORE $ +FLAGS.Silent (\\Deleted)\r\nF285 SEARCH DELETED\r\n")
        self.assertEqual(r.until("F285"),
                         b"F282 OK SEARCH completed\r\n"
                         b"* 2 FETCH (UID 3)\r\n* 3 FETCH (UID 4)\r\n* 5 FETCH (UID 6)\r\nF283 OK FETCH completed\r\n"
                         b"F284 OK STORE completed\r\n* SEARCH 2 3 5\r\nF285 OK SEARCH completed\r\n")
        # Example 9: "the result of the second SEARCH always overrides the
        # result of the first".
        r.send(b"H282 SEARCH RETURN (SAVE) FLAGGED\r\nH283 SEARCH RETURN (SAVE) SEEN\r\nH284 SEARCH $\r\n")
        self.assertEqual(r.until("H284"),
                         b"H282 OK SEARCH completed\r\nH283 OK SEARCH completed\r\n"
                         b"* SEARCH 3 6\r\nH284 OK SEARCH completed\r\n")

    def test_save_with_min_max_all_count(self):
        r = self.selected()
        # RFC 5182 2.4, Example 10 and the table: SAVE MIN: MIN; SAVE MAX:
        # MAX; SAVE MIN MAX: MIN & MAX; SAVE with ALL and/or COUNT: all
        # found messages.
        for tag, opts, answer, saved in (
                ("C283", "ALL SAVE", b"ALL 2:3,5", b"2 3 5"),
                ("C284", "SAVE MIN", b"MIN 2", b"2"),
                ("C285", "MAX SAVE", b"MAX 5", b"5"),
                ("C286", "MAX SAVE MIN", b"MIN 2 MAX 5", b"2 5"),
                ("C287", "MAX SAVE MIN COUNT", b"MIN 2 MAX 5 COUNT 3", b"2 3 5"),
                ("C288", "COUNT SAVE", b"COUNT 3", b"2 3 5")):
            self.assertEqual(r.cmd(tag, "SEARCH RETURN (%s) FLAGGED" % opts),
                             b'* ESEARCH (TAG "%s") %s\r\n%s OK SEARCH completed\r\n'
                             % (tag.encode(), answer, tag.encode()))
            self.assertEqual(r.cmd("s", "SEARCH $"), b"* SEARCH %s\r\ns OK SEARCH completed\r\n" % saved)
        # Under UID SEARCH the MIN and MAX saved are UIDs' messages too.
        self.assertEqual(r.cmd("u", "UID SEARCH RETURN (SAVE MAX) UNFLAGGED"),
                         b'* ESEARCH (TAG "u") UID MAX 7\r\nu OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("v", "SEARCH $"), b"* SEARCH 6\r\nv OK SEARCH completed\r\n")

    def test_failed_searches(self):
        r = self.selected()
        self.assertEqual(r.cmd("a", "SEARCH RETURN (SAVE) FLAGGED"), b"a OK SEARCH completed\r\n")
        # RFC 5182 2.1: these "MUST NOT change the search result variable":
        # "a SEARCH command that caused the server to return the BAD tagged
        # response" (with SAVE too),
        self.assertEqual(r.cmd("b", "SEARCH RETURN (SAVE) FOO"), b"b BAD Unknown search key FOO\r\n")
        # a command both malformed and in an unknown charset among them: its
        # syntax is checked first (RFC 3501 7.1.5: BAD is "command unknown
        # or arguments invalid"; NO [BADCHARSET] is for a valid SEARCH in
        # an unknown charset, 6.4.4),
        self.assertEqual(r.cmd("b2", "SEARCH RETURN (SAVE) CHARSET KOI8-R FOO"),
                         b"b2 BAD Unknown search key FOO\r\n")
        self.assertEqual(r.cmd("c", "SEARCH $"), b"* SEARCH 2 3 5\r\nc OK SEARCH completed\r\n")
        # "a SEARCH command with no SAVE result option that caused the
        # server to return NO tagged response" (Example 5 shows the
        # contrary; the normative text of 2.1 decides),
        self.assertEqual(r.cmd("d", "SEARCH CHARSET KOI8-R (OR $ 1) SEEN"),
                         b"d NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n")
        self.assertEqual(r.cmd("e", "SEARCH $"), b"* SEARCH 2 3 5\r\ne OK SEARCH completed\r\n")
        # "a successful SEARCH command with no SAVE result option".
        self.assertEqual(r.cmd("f", "SEARCH RETURN (MIN) SEEN"),
                         b'* ESEARCH (TAG "f") MIN 3\r\nf OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("g", "SEARCH $"), b"* SEARCH 2 3 5\r\ng OK SEARCH completed\r\n")
        # "A SEARCH command with the SAVE result option that caused the
        # server to return the NO tagged response sets the value of the
        # search result variable to the empty sequence."
        self.assertEqual(r.cmd("h", "SEARCH RETURN (SAVE) CHARSET KOI8-R SEEN"),
                         b"h NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n")
        self.assertEqual(r.cmd("i", "SEARCH $"), b"* SEARCH\r\ni OK SEARCH completed\r\n")
        # A successful SAVE that found nothing: "if no messages were found,
        # the search result variable will contain the empty list".
        self.assertEqual(r.cmd("j", "SEARCH RETURN (SAVE) FLAGGED"), b"j OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("k", "SEARCH RETURN (SAVE) DRAFT"), b"k OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("l", "SEARCH $"), b"* SEARCH\r\nl OK SEARCH completed\r\n")

    def test_empty_saved_result_is_valid(self):
        r = self.selected()
        # RFC 5182 2.1: "even if the "$" marker contains the empty list of
        # messages, it must be treated ... as a valid, but non-matching
        # list of messages. For example, the "FETCH $" command would return
        # a tagged OK response and no FETCH responses." Before any SAVE,
        # "$" is empty (reset by SELECT).
        self.assertEqual(r.cmd("a", "FETCH $ FLAGS"), b"a OK FETCH completed\r\n")
        self.assertEqual(r.cmd("b", "UID FETCH $ FLAGS"), b"b OK FETCH completed\r\n")
        self.assertEqual(r.cmd("c", "SEARCH $"), b"* SEARCH\r\nc OK SEARCH completed\r\n")
        # Example 6: "C: E283 COPY $ "Other Messages" ... S: E283 OK COPY
        # completed, nothing copied".
        self.assertIn(b"d OK", r.cmd("d", 'CREATE "Other Messages"'))
        self.assertEqual(r.cmd("E282", 'SEARCH RETURN (SAVE) SINCE 28-Oct-2036 NOT FROM "Eric"'),
                         b"E282 OK SEARCH completed\r\n")
        self.assertRegex(r.cmd("E283", 'COPY $ "Other Messages"'), rb"^E283 OK [^\r]*\r\n$")
        self.assertEqual(r.cmd("e", "STORE $ +FLAGS (\\Seen)"), b"e OK STORE completed\r\n")

    def test_dollar_is_a_whole_set(self):
        r = self.selected()
        self.assertEqual(r.cmd("a", "SEARCH RETURN (SAVE) FLAGGED"), b"a OK SEARCH completed\r\n")
        # RFC 5182 3: sequence-set =/ seq-last-command, seq-last-command =
        # "$": "$" is a whole sequence set, not part of one.
        self.assertEqual(r.cmd("b", "FETCH 1,$ FLAGS"), b"b BAD Invalid sequence set\r\n")
        self.assertEqual(r.cmd("c", "SEARCH $:4"), b"c BAD Invalid sequence set\r\n")
        self.assertEqual(r.cmd("d", "UID STORE $,9 +FLAGS (\\Seen)"), b"d BAD Invalid sequence set\r\n")

    def test_expunged_messages_leave_and_select_resets(self):
        r = self.selected()
        self.assertEqual(r.cmd("a", "UID SEARCH RETURN (SAVE) FLAGGED"), b"a OK SEARCH completed\r\n")
        # RFC 5182 2.1: "When a message listed in the search result
        # variable is EXPUNGEd, it is automatically removed from the list",
        # and sequence numbers follow the EXPUNGE responses.
        self.assertEqual(r.cmd("b", "STORE 1:2 +FLAGS.SILENT (\\Deleted)"), b"b OK STORE completed\r\n")
        self.assertEqual(r.cmd("c", "EXPUNGE"), b"* 2 EXPUNGE\r\n* 1 EXPUNGE\r\nc OK EXPUNGE completed\r\n")
        self.assertEqual(r.cmd("d", "FETCH $ (UID)"),
                         b"* 1 FETCH (UID 4)\r\n* 3 FETCH (UID 6)\r\nd OK FETCH completed\r\n")
        # Expunged by another session: gone once this one was told.
        self.other("UID STORE 4 +FLAGS.SILENT (\\Deleted)", "UID EXPUNGE 4")
        self.assertEqual(r.cmd("e", "NOOP"), b"* 1 EXPUNGE\r\ne OK NOOP completed\r\n")
        self.assertEqual(r.cmd("f", "SEARCH $"), b"* SEARCH 2\r\nf OK SEARCH completed\r\n")
        # "Upon successful completion of a SELECT or an EXAMINE command
        # ..., the current search result variable is reset to the empty
        # sequence."
        self.assertIn(b"g OK", r.cmd("g", "EXAMINE INBOX"))
        self.assertEqual(r.cmd("h", "SEARCH $"), b"* SEARCH\r\nh OK SEARCH completed\r\n")

    def other(self, *commands):
        o = self.raw()
        o.login()
        for i, c in enumerate(("SELECT INBOX",) + commands):
            self.assertIn(b"o%d OK" % i, o.cmd("o%d" % i, c), c)
        o.cmd("l", "LOGOUT")

    def test_uid_expunge_and_move_take_dollar(self):
        r = self.selected()
        self.assertIn(b"a OK", r.cmd("a", "CREATE Other"))
        self.assertEqual(r.cmd("b", "SEARCH RETURN (SAVE) SEEN"), b"b OK SEARCH completed\r\n")
        self.assertRegex(r.cmd("c", "MOVE $ Other"),
                         rb"^\* OK \[COPYUID \d+ 4,7 1:2\] Moved\r\n\* 6 EXPUNGE\r\n\* 3 EXPUNGE\r\nc OK MOVE completed\r\n$")
        self.assertEqual(r.cmd("d", "UID SEARCH RETURN (SAVE) FLAGGED"), b"d OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("e", "STORE $ +FLAGS.SILENT (\\Deleted)"), b"e OK STORE completed\r\n")
        self.assertEqual(r.cmd("f", "UID EXPUNGE $"), b"* 4 EXPUNGE\r\n* 2 EXPUNGE\r\nf OK UID EXPUNGE completed\r\n")


class WithinTest(StateTest):
    def test_older_and_younger(self):
        c = self.client()
        now = time.time()
        # INTERNALDATEs 10 days, 2 hours and 1 minute ago.
        for age in (10 * 86400, 7200, 60):
            typ, data = c.append("INBOX", None, imaplib.Time2Internaldate(now - age), MSG)
            self.assertEqual(typ, "OK", data)
        r, _ = self.session()
        # RFC 5032 2: "For OLDER, messages match if the INTERNALDATE is
        # less recent than or equal to the target time. For YOUNGER,
        # messages match if the INTERNALDATE is more recent than or equal
        # to the target time", the target being now minus the interval.
        self.assertEqual(r.cmd("a", "SEARCH YOUNGER 86400"), b"* SEARCH 2 3\r\na OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("b", "SEARCH OLDER 86400"), b"* SEARCH 1\r\nb OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("c", "UID SEARCH OLDER 600 YOUNGER 30000"),
                         b"* SEARCH 2\r\nc OK SEARCH completed\r\n")
        # RFC 5032 4: "C: a1 SEARCH UNSEEN YOUNGER 259200".
        self.assertIn(b"d OK", r.cmd("d", "STORE 3 +FLAGS.SILENT (\\Seen)"))
        self.assertEqual(r.cmd("a1", "SEARCH UNSEEN YOUNGER 259200"),
                         b"* SEARCH 2\r\na1 OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("e", "SEARCH RETURN (COUNT) OR OLDER 86400 YOUNGER 300"),
                         b'* ESEARCH (TAG "e") COUNT 2\r\ne OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("f", "SEARCH NOT YOUNGER 4294967295"), b"* SEARCH\r\nf OK SEARCH completed\r\n")
        # RFC 5032 3: ( "OLDER" / "YOUNGER" ) SP nz-number.
        self.assertEqual(r.cmd("g", "SEARCH YOUNGER 0"), b"g BAD Invalid interval for YOUNGER\r\n")
        self.assertEqual(r.cmd("h", "SEARCH OLDER"), b"h BAD Missing argument for OLDER\r\n")
        self.assertEqual(r.cmd("i", "SEARCH OLDER -5"), b"i BAD Invalid interval for OLDER\r\n")

    def test_within_in_an_empty_mailbox(self):
        r, _ = self.session()
        self.assertEqual(r.cmd("a", "SEARCH YOUNGER 60"), b"* SEARCH\r\na OK SEARCH completed\r\n")


if __name__ == "__main__":
    phtest.main()
