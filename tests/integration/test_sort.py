# SPDX-License-Identifier: MIT
"""SORT (RFC 5256), SORT=DISPLAY (RFC 5957) and THREAD (RFC 5256:
ORDEREDSUBJECT, REFERENCES, and Dovecot's REFS) through the real binary,
byte for byte, over a mailbox whose every key is known.

test_sort_pgsql.py runs these classes on storage.pgsql too."""
import re

import phtest
from test_imap_state import StateTest


def message(headers, body=b"body\r\n"):
    return b"".join(h.encode() + b"\r\n" for h in headers) + b"\r\n" + body


# The mailbox: (INTERNALDATE, message). Sequence numbers 1..6 (UIDs 2..7:
# a first message is expunged).
MAILBOX = [
    ("05-Jan-2020 12:00:00 +0000", message([
        'From: "Zed" <alice@b.example>', "To: carol@x.example",
        "Subject: Re: [list] Hello", "Date: Thu, 2 Jan 2020 10:00:00 +0000",
        "Message-ID: <a@x>"])),
    ("04-Jan-2020 12:00:00 +0000", message([
        "From: bob@a.example", 'To: "Aaron" <dave@x.example>', "Subject: hello",
        "Date: Wed, 1 Jan 2020 23:00:00 -0500", "Message-ID: <b@x>",
        "In-Reply-To: <a@x>"], b"a longer body than the others\r\n" * 3)),
    ("01-Jan-2020 12:00:00 +0000", message([
        'From: "Alice" <zoe@c.example>', "To: ann@x.example", "Cc: bea@x.example",
        "Subject: Fwd: apples", "Message-ID: <c@x>", "References: <a@x> <b@x>"])),
    ("02-Jan-2020 12:00:00 +0000", message([
        "From: =?UTF-8?Q?=C3=89mile?= <emile@d.example>", "Subject: Apples (fwd)",
        "Date: Fri, 3 Jan 2020 00:00:00 +0000", "Message-ID: <d@x>"], b"")),
    ("03-Jan-2020 12:00:00 +0000", message([
        "From: bob@a.example", "To: carol@x.example", "Subject: [list] Bananas",
        "Date: Sat, 4 Jan 2020 00:00:00 +0000", "Message-ID: <e@x>",
        "References: <zzz@x>"])),
    ("06-Jan-2020 12:00:00 +0000", message([
        "From: carol@x.example", "Subject: Re: bananas",
        "Date: Sun, 5 Jan 2020 00:00:00 +0000", "Message-ID: <f@x>",
        "References: <zzz@x>"])),
]


class SortBase(StateTest):
    def setUp(self):
        super().setUp()
        r = self.raw()
        r.login()
        for i, (date, msg) in enumerate([("01-Jan-2019 00:00:00 +0000", b"x\r\n")] + MAILBOX):
            r.send(b'a%d APPEND INBOX "%s" {%d+}\r\n' % (i, date.encode(), len(msg)) + msg + b"\r\n")
            self.assertIn(b"a%d OK" % i, r.until("a%d" % i))
        self.assertIn(b"s OK", r.cmd("s", "SELECT INBOX"))
        self.assertIn(b"d OK", r.cmd("d", "STORE 1 +FLAGS.SILENT (\\Deleted)"))
        self.assertIn(b"x OK", r.cmd("x", "EXPUNGE"))
        self.assertIn(b"c OK", r.cmd("c", "CLOSE"))
        r.cmd("l", "LOGOUT")


class SortTest(SortBase):
    def sort(self, r, criteria, expect, search="ALL", uid=False, tag="a"):
        cmd = "%sSORT (%s) UTF-8 %s" % ("UID " if uid else "", criteria, search)
        want = b"* SORT%s\r\n%s OK SORT completed\r\n" % (
            b"".join(b" %d" % (n + uid) for n in expect), tag.encode())
        self.assertEqual(r.cmd(tag, cmd), want, cmd)

    def test_every_sort_key(self):
        r, _ = self.session()
        # RFC 5256 3: ARRIVAL is the INTERNALDATE.
        self.sort(r, "ARRIVAL", [3, 4, 5, 2, 1, 6])
        # DATE: the Date header in UTC (2: Wed 23:00 -0500 is Thu 04:00,
        # before 1's Thu 10:00); "If the sent date cannot be determined (a
        # Date: header is missing or cannot be parsed), the INTERNALDATE
        # for that message is used" (3).
        self.sort(r, "DATE", [3, 2, 1, 4, 5, 6])
        # FROM, TO, CC: "the [IMAP] addr-mailbox of the first "From"
        # address" (and To, Cc); "If the ... address is missing, the
        # field is treated as the empty string" (4, 6 have no To; only 3
        # has Cc).
        self.sort(r, "FROM", [1, 2, 5, 6, 4, 3])
        self.sort(r, "TO", [4, 6, 3, 1, 5, 2])
        self.sort(r, "CC", [1, 2, 4, 5, 6, 3])
        # SUBJECT: the base subject (2.1): "Re: [list] Hello" and "hello",
        # "Fwd: apples" and "Apples (fwd)", "[list] Bananas" and "Re:
        # bananas" are one subject each, compared with i;unicode-casemap;
        # ties in mailbox order ("sorted according to the order in which
        # they appear in the mailbox").
        self.sort(r, "SUBJECT", [3, 4, 5, 6, 1, 2])
        # SIZE: RFC822.SIZE; 4 is the smallest, 2 the largest.
        sizes = [len(m) for _, m in MAILBOX]
        self.sort(r, "SIZE", sorted(range(1, 7), key=lambda n: (sizes[n - 1], n)))
        self.assertEqual(sizes.index(min(sizes)), 3)

    def test_reverse_and_several_criteria(self):
        r, _ = self.session()
        # RFC 5256 3: REVERSE "Followed by another sort criterion, has the
        # effect of that criterion but in reverse (descending) order"; the
        # tie-break by mailbox order is not reversed.
        self.sort(r, "REVERSE DATE", [6, 5, 4, 1, 2, 3])
        self.sort(r, "REVERSE ARRIVAL", [6, 1, 2, 5, 4, 3])
        # "C: A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL".
        self.sort(r, "SUBJECT REVERSE DATE", [4, 3, 6, 5, 1, 2], tag="A283")
        self.sort(r, "REVERSE FROM", [3, 4, 6, 2, 5, 1])
        self.sort(r, "TO FROM", [6, 4, 3, 1, 5, 2])

    def test_display_keys(self):
        r, _ = self.session()
        # RFC 5957 3: DISPLAYFROM sorts by "the display-name of the first
        # mailbox in the From header", decoded (4's "=?UTF-8?Q?=C3=89mile?="
        # is "Émile", after "carol@x.example" and before "Zed"), or when
        # none, "the addr-mailbox and the addr-host" joined by "@".
        self.sort(r, "DISPLAYFROM", [3, 2, 5, 6, 4, 1])
        self.sort(r, "DISPLAYTO", [4, 6, 2, 3, 1, 5])
        self.sort(r, "REVERSE DISPLAYTO", [1, 5, 3, 2, 4, 6])

    def test_search_criteria_and_uid_sort(self):
        r, _ = self.session()
        # RFC 5256 5: sort = ["UID" SP] "SORT" SP sort-criteria SP
        # search-criteria; "UID SORT ... returns unique identifiers".
        self.sort(r, "DATE", [2, 5], search="FROM bob")
        self.sort(r, "REVERSE SUBJECT", [1, 2, 5, 3, 4], search="NOT FROM carol", uid=True)
        self.sort(r, "ARRIVAL", [3, 4, 5, 2, 1, 6], uid=True)
        self.sort(r, "DATE", [], search="SUBJECT nothing-like-this")
        self.assertEqual(r.cmd("b", "SORT (SIZE) US-ASCII 1:2"), b"* SORT 1 2\r\nb OK SORT completed\r\n")
        self.assertEqual(r.cmd("c", "sort (date) \"utf-8\" subject APPLES"),
                         b"* SORT 3 4\r\nc OK SORT completed\r\n")

    def test_sort_errors(self):
        r, _ = self.session()
        # RFC 5256 3: "The charset argument is mandatory"; an unknown one is
        # NO [BADCHARSET].
        self.assertEqual(r.cmd("a", "SORT (DATE) KOI8-R ALL"),
                         b"a NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n")
        # Without it, the first key is taken for the charset and no key is
        # left: RFC 5256 5, search-criteria = charset 1*(SP search-key), is
        # not met, a syntax error (BAD), not an unknown charset.
        self.assertEqual(r.cmd("b", "SORT (DATE) ALL"), b"b BAD Missing search key\r\n")
        self.assertEqual(r.cmd("b2", "SORT (DATE) KOI8-R FOO"), b"b2 BAD Unknown search key FOO\r\n")
        for tag, args, text in (
                ("c", "DATE UTF-8 ALL", b"SORT takes a list of sort criteria"),
                ("d", "() UTF-8 ALL", b"SORT takes a list of sort criteria"),
                ("e", "(DATE REVERSE) UTF-8 ALL", b"REVERSE needs a sort key"),
                ("f", "(FOO) UTF-8 ALL", b"Unknown sort key"),
                ("g", "(DATE) UTF-8", b"Missing search key"),
                ("h", "(DATE)", b"Missing charset"),
                ("i", "", b"SORT needs sort criteria"),
                ("j", "(DATE) UTF-8 FOO", b"Unknown search key FOO")):
            self.assertEqual(r.cmd(tag, ("SORT " + args).strip()), tag.encode() + b" BAD " + text + b"\r\n")
        self.assertEqual(r.cmd("k", "UID SORT (DATE) UTF-8 UID 8:9"), b"* SORT\r\nk OK SORT completed\r\n")

    def test_sort_with_modseq(self):
        r, _ = self.session()
        self.assertIn(b"a OK", r.cmd("a", "STORE 4 +FLAGS.SILENT (\\Flagged)"))
        out = r.cmd("b", "FETCH 4 (MODSEQ)")
        m4 = int(out.split(b"MODSEQ (")[1].split(b")")[0])
        # RFC 7162 3.1.9: with MODSEQ in the criteria, "the server MUST
        # also append (to the end of the untagged SORT response) the
        # highest mod-sequence for all messages being returned".
        self.assertEqual(r.cmd("c", "SORT (REVERSE DATE) UTF-8 MODSEQ 1"),
                         b"* SORT 6 5 4 1 2 3 (MODSEQ %d)\r\nc OK SORT completed\r\n" % m4)
        self.assertEqual(r.cmd("d", "SORT (DATE) UTF-8 MODSEQ %d" % (m4 + 1)),
                         b"* SORT\r\nd OK SORT completed\r\n")
        # "THREAD responses are unchanged by the CONDSTORE extension".
        self.assertEqual(r.cmd("e", "THREAD ORDEREDSUBJECT UTF-8 MODSEQ %d" % m4),
                         b"* THREAD (4)\r\ne OK THREAD completed\r\n")

    def test_thread_orderedsubject(self):
        r, _ = self.session()
        # RFC 5256 3: ORDEREDSUBJECT sorts by base subject, then sent date,
        # splits into threads by subject; "the first message in each thread
        # is the parent and the remaining messages are children of the
        # parent"; threads sorted "by the sent date of the first message in
        # the thread". Apples (3: 1 Jan), hello (2: 2 Jan 04:00 UTC),
        # bananas (5: 4 Jan).
        self.assertEqual(r.cmd("a", "THREAD ORDEREDSUBJECT UTF-8 ALL"),
                         b"* THREAD (3 4)(2 1)(5 6)\r\na OK THREAD completed\r\n")
        self.assertEqual(r.cmd("b", "UID THREAD ORDEREDSUBJECT UTF-8 ALL"),
                         b"* THREAD (4 5)(3 2)(6 7)\r\nb OK THREAD completed\r\n")
        self.assertEqual(r.cmd("c", "THREAD ORDEREDSUBJECT UTF-8 NOT FROM zoe"),
                         b"* THREAD (2 1)(4)(5 6)\r\nc OK THREAD completed\r\n")

    def test_thread_references(self):
        r, _ = self.session()
        # RFC 5256 3, REFERENCES: 2 replies to 1 (In-Reply-To), 3 to 2
        # (References "<a@x> <b@x>"); 5 and 6 reference the same missing
        # message, which stays as a dummy parent at the top level (step 2:
        # "do not promote the children if doing so would make them
        # children of the root, unless there is only one child"); threads
        # sorted by date (step 3, a dummy by its first child's date).
        self.assertEqual(r.cmd("a", "THREAD REFERENCES UTF-8 ALL"),
                         b"* THREAD (1 2 3)(4)((5)(6))\r\na OK THREAD completed\r\n")
        self.assertEqual(r.cmd("b", "UID THREAD REFERENCES US-ASCII ALL"),
                         b"* THREAD (2 3 4)(5)((6)(7))\r\nb OK THREAD completed\r\n")
        # Without 5, 6's dummy parent has one child: promoted. Without 1,
        # its place is a dummy with the one child 2: promoted too.
        self.assertEqual(r.cmd("c", "THREAD REFERENCES UTF-8 NOT 5 NOT 1"),
                         b"* THREAD (2 3)(4)(6)\r\nc OK THREAD completed\r\n")
        self.assertEqual(r.cmd("d", "THREAD REFS UTF-8 ALL"),
                         b"* THREAD (1 2 3)(4)((5)(6))\r\nd OK THREAD completed\r\n")

    def test_thread_errors_and_empty(self):
        r, _ = self.session()
        # RFC 5256 5: thread-data = "THREAD" [SP 1*thread-list].
        self.assertEqual(r.cmd("a", "THREAD REFERENCES UTF-8 SUBJECT nothing-like-this"),
                         b"* THREAD\r\na OK THREAD completed\r\n")
        self.assertEqual(r.cmd("b", "THREAD FOO UTF-8 ALL"), b"b BAD Unknown threading algorithm\r\n")
        self.assertEqual(r.cmd("c", "THREAD"), b"c BAD Unknown threading algorithm\r\n")
        self.assertEqual(r.cmd("d", "THREAD REFERENCES UTF-8"), b"d BAD Missing search key\r\n")
        self.assertEqual(r.cmd("e", "THREAD REFERENCES KOI8-R ALL"),
                         b"e NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n")
        self.assertEqual(r.cmd("e2", "THREAD REFERENCES ALL"), b"e2 BAD Missing search key\r\n")
        self.assertEqual(r.cmd("f", 'THREAD "REFERENCES" UTF-8 ALL'), b"f BAD Unknown threading algorithm\r\n")

    def test_saved_result_and_keys_after_changes(self):
        r, _ = self.session()
        # "$" (RFC 5182) in SORT's criteria, and a message that arrives
        # after a SORT is sorted in by the next one (its keys are new).
        self.assertEqual(r.cmd("a", "SEARCH RETURN (SAVE) FROM bob"), b"a OK SEARCH completed\r\n")
        self.sort(r, "REVERSE DATE", [5, 2], search="$", tag="b")
        msg = message(["From: aaron@a.example", "Subject: zzz", "Date: Mon, 6 Jan 2020 00:00:00 +0000"])
        r.send(b'c APPEND INBOX {%d+}\r\n' % len(msg) + msg + b"\r\n")
        self.assertIn(b"c OK", r.until("c"))
        self.assertEqual(r.cmd("d", "SORT (FROM) UTF-8 ALL"),
                         b"* SORT 7 1 2 5 6 4 3\r\nd OK SORT completed\r\n")


class EsortTest(SortBase):
    def test_return_options_answer_esearch_in_sort_order(self):
        r, _ = self.session()
        # RFC 5267 3.3: "C: E01 UID SORT RETURN () (REVERSE DATE) UTF-8
        # UNDELETED UNKEYWORD $Junk / S: * ESEARCH (TAG "E01") UID ALL
        # 23765,23764,23763,23761,[...]": "the initial three results are
        # not represented as the range 23765:23763 as mandated in Section
        # 3.2" (ranges only "when the first seq-number is lower").
        self.assertEqual(r.cmd("E01", "UID SORT RETURN () (REVERSE DATE) UTF-8 UNDELETED UNKEYWORD $Junk"),
                         b'* ESEARCH (TAG "E01") UID ALL 7,6,5,2:4\r\nE01 OK SORT completed\r\n')
        # 3.1: MIN is "the lowest sorted message", MAX "the highest sorted
        # message": the first and the last in the sort order.
        self.assertEqual(r.cmd("a", "SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL"),
                         b'* ESEARCH (TAG "a") MIN 3 MAX 6 COUNT 6\r\na OK SORT completed\r\n')
        self.assertEqual(r.cmd("b", "SORT RETURN (ALL) (SUBJECT) UTF-8 ALL"),
                         b'* ESEARCH (TAG "b") ALL 3:6,1:2\r\nb OK SORT completed\r\n')
        self.assertEqual(r.cmd("c", "SORT RETURN (MIN MAX ALL COUNT) (DATE) UTF-8 DRAFT"),
                         b'* ESEARCH (TAG "c") COUNT 0\r\nc OK SORT completed\r\n')
        self.assertEqual(r.cmd("d", "SORT RETURN (FOO) (DATE) UTF-8 ALL"), b"d BAD Unknown RETURN option\r\n")
        # RETURN after the criteria: "RETURN" is the charset and "UTF-8" a
        # search key, a syntax error before an unknown charset.
        self.assertEqual(r.cmd("e", "SORT (DATE) RETURN (ALL) UTF-8 ALL"),
                         b"e BAD Unknown search key UTF-8\r\n")

    def test_modseq_and_save(self):
        r, _ = self.session()
        self.assertIn(b"a OK", r.cmd("a", "STORE 3,5 +FLAGS.SILENT (\\Flagged)"))
        out = r.cmd("b", "FETCH 3,5 (MODSEQ)")
        m3, m5 = (int(m) for m in re.findall(rb"MODSEQ \((\d+)\)", out))
        # RFC 7162 3.1.10, Example 20: "C: a SORT RETURN (ALL) (DATE) UTF-8
        # MODSEQ 1234 / S: * ESEARCH (TAG "a") ALL 5,3,2,1 MODSEQ 1236".
        self.assertEqual(r.cmd("c", "SORT RETURN (ALL) (REVERSE DATE) UTF-8 MODSEQ %d" % m3),
                         b'* ESEARCH (TAG "c") ALL 5,3 MODSEQ %d\r\nc OK SORT completed\r\n' % m5)
        # RFC 4731 3.2 through RFC 5267: MIN alone carries its own modseq.
        self.assertEqual(r.cmd("d", "SORT RETURN (MIN) (REVERSE DATE) UTF-8 MODSEQ %d" % m3),
                         b'* ESEARCH (TAG "d") MIN 5 MODSEQ %d\r\nd OK SORT completed\r\n' % m5)
        self.assertEqual(r.cmd("e", "SORT RETURN (MAX) (REVERSE DATE) UTF-8 MODSEQ %d" % m3),
                         b'* ESEARCH (TAG "e") MAX 3 MODSEQ %d\r\ne OK SORT completed\r\n' % m3)
        # RFC 5182 2.4 with SORT: SAVE MIN keeps the first sorted message.
        self.assertEqual(r.cmd("f", "SORT RETURN (SAVE MIN) (REVERSE ARRIVAL) UTF-8 ALL"),
                         b'* ESEARCH (TAG "f") MIN 6\r\nf OK SORT completed\r\n')
        self.assertEqual(r.cmd("g", "FETCH $ (UID)"), b"* 6 FETCH (UID 7)\r\ng OK FETCH completed\r\n")
        self.assertEqual(r.cmd("h", "UID SORT RETURN (SAVE) (DATE) UTF-8 FROM bob"), b"h OK SORT completed\r\n")
        self.assertEqual(r.cmd("i", "SEARCH $"), b"* SEARCH 2 5\r\ni OK SEARCH completed\r\n")
        # A SORT with SAVE that fails with NO empties "$" (RFC 5182 2.1).
        self.assertEqual(r.cmd("j", "SORT RETURN (SAVE) (DATE) KOI8-R ALL"),
                         b"j NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n")
        self.assertEqual(r.cmd("k", "SEARCH $"), b"* SEARCH\r\nk OK SEARCH completed\r\n")


class SortMemoryTest(StateTest):
    # The least max_session_memory allows (max_line_length +
    # max_literal_size + 128K) and 4K more: enough for the view and a
    # search of 150 messages, not for their keys (long subjects and
    # references, 2K a message). SORT holds none of them: storage sorts
    # by the keys it keeps (issue 17); THREAD needs the references.
    extra = "max_line_length 1024\n    max_literal_size 4096\n    max_session_memory 140288"

    def test_keys_count_against_session_memory(self):
        r = self.raw()
        r.login()
        refs = " ".join("<%d.reference@example.org>" % i for i in range(36))
        for i in range(150):
            msg = message(["Subject: %d %s" % (i, "x" * 900), "References: " + refs])
            r.send(b"a%d APPEND INBOX {%d+}\r\n" % (i, len(msg)) + msg + b"\r\n")
        self.assertIn(b"a149 OK", r.until("a149"))
        self.assertIn(b"s OK", r.cmd("s", "SELECT INBOX"))
        self.assertEqual(r.cmd("b", "SEARCH RETURN (COUNT) ALL"),
                         b'* ESEARCH (TAG "b") COUNT 150\r\nb OK SEARCH completed\r\n')
        order = sorted(range(1, 151), key=lambda n: "%d %s" % (n - 1, "X" * 900))
        self.assertEqual(r.cmd("c", "SORT (SUBJECT) UTF-8 ALL"),
                         b"* SORT %s\r\nc OK SORT completed\r\n"
                         % " ".join(map(str, order)).encode())
        self.assertEqual(r.cmd("d", "THREAD REFERENCES UTF-8 ALL"),
                         b"d NO [LIMIT] Command would exceed the session memory limit\r\n")
        # A smaller search fits.
        self.assertEqual(r.cmd("e", "SORT (REVERSE SUBJECT) UTF-8 1:3"),
                         b"* SORT 3 2 1\r\ne OK SORT completed\r\n")


class SortLargeTest(StateTest):
    """SORT of a large mailbox under the default max_session_memory (16M):
    storage sorts by the keys it kept at APPEND (issue 17) and the session
    holds only UIDs. The keys here (600-byte subjects) would take about
    1K a message in the session, 20M over these 20,000. The mailbox is
    1,250 messages appended and copied into itself four times: COPY shares
    the body and its keys, and the copies' ties go by sequence number
    (RFC 5256 3)."""

    DISTINCT = 1250
    WORDS = ["alpha", "Bravo", "charlie", "DELTA", "echo", "foxtrot", "golf"]

    def messages(self):
        import random
        from email.utils import format_datetime
        from datetime import datetime, timedelta, timezone
        rnd = random.Random(17)
        out = []
        for i in range(self.DISTINCT):
            prefix = rnd.choice(["", "Re: ", "RE: ", "Fwd: "])
            words = " ".join(rnd.choice(self.WORDS) for _ in range(100))[:600].strip()
            mailbox = "".join(rnd.choice("abcXYZ") for _ in range(6))
            headers = ["From: Someone %d <%s@example.org>" % (i, mailbox),
                       "Subject: %s%s" % (prefix, words)]
            arrival = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(hours=rnd.randrange(500))
            sent = None
            if rnd.randrange(6):
                zone = timezone(timedelta(minutes=rnd.choice([-300, 0, 60, 330])))
                sent = datetime(2023, 6, 1, tzinfo=timezone.utc) + timedelta(minutes=rnd.randrange(20000))
                headers.append("Date: " + format_datetime(sent.astimezone(zone)))
            msg = message(headers, b"x" * rnd.randrange(300) + b"\r\n")
            out.append({"msg": msg, "arrival": arrival,
                        "subject": words.upper(), "from": mailbox.upper(),
                        "date": (sent or arrival).timestamp(), "size": len(msg)})
        return out

    def test_sort_of_20000_messages_fits_default_session_memory(self):
        msgs = self.messages()
        r = self.raw()
        # A COPY of 10,000 messages is one command: slow under sanitizers.
        r.sock.settimeout(600)
        r.login()
        for i, m in enumerate(msgs):
            date = m["arrival"].strftime("%d-%b-%Y %H:%M:%S +0000")
            r.send(b'a%d APPEND INBOX "%s" {%d+}\r\n' % (i, date.encode(), len(m["msg"]))
                   + m["msg"] + b"\r\n")
        self.assertIn(b"a%d OK" % (len(msgs) - 1), r.until("a%d" % (len(msgs) - 1)))
        self.assertIn(b"s OK", r.cmd("s", "SELECT INBOX"))
        for n in range(4):
            self.assertIn(b"c%d OK" % n, r.cmd("c%d" % n, "COPY 1:* INBOX"))
        self.assertIn(b"n OK", r.cmd("n", "NOOP"))
        self.assertEqual(r.cmd("b", "SEARCH RETURN (COUNT) ALL"),
                         b'* ESEARCH (TAG "b") COUNT 20000\r\nb OK SEARCH completed\r\n')
        seqs = range(1, 20001)

        def of(seq):
            return msgs[(seq - 1) % self.DISTINCT]

        cases = [
            ("SUBJECT", sorted(seqs, key=lambda q: of(q)["subject"])),
            ("REVERSE DATE", sorted(seqs, key=lambda q: -of(q)["date"])),
            ("FROM SIZE", sorted(seqs, key=lambda q: (of(q)["from"], of(q)["size"]))),
            ("REVERSE SIZE ARRIVAL", sorted(seqs, key=lambda q: (-of(q)["size"], of(q)["arrival"]))),
        ]
        for i, (criteria, order) in enumerate(cases):
            tag = "t%d" % i
            want = b"* SORT %s\r\n%s OK SORT completed\r\n" % (
                " ".join(map(str, order)).encode(), tag.encode())
            got = r.cmd(tag, "SORT (%s) UTF-8 ALL" % criteria)
            self.assertEqual(got[:200], want[:200], criteria)
            self.assertEqual(got, want, criteria)


if __name__ == "__main__":
    phtest.main()
