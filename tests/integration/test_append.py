# SPDX-License-Identifier: MIT
"""MULTIAPPEND (RFC 3502) and CATENATE (RFC 4469, with the IMAP URLs of
RFC 5092) through the real binary, byte for byte: several messages in one
APPEND with one APPENDUID set, all or none when one of them fails, the
limits, synchronizing and non-synchronizing literals, and messages made of
TEXT literals and URL parts compared with what FETCH sends of the parts.

test_append_pgsql.py runs these classes on storage.pgsql too."""
import re
import threading

import phtest
from test_imap import MSG, ImapTest

MSG2 = (b"From: Joe <joe@example.net>\r\nSubject: second\r\n"
        b"Date: Tue, 8 Feb 1994 10:00:00 -0800\r\n\r\nThe second one.\r\n")
MSG3 = b"Subject: third\r\n\r\nThree.\r\n"

# A multipart message: part 1 text/plain, part 2 an attachment.
MULTI = (b"From: Bob <bob@example.org>\r\n"
         b"Subject: parts\r\n"
         b"MIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
         b"\r\n"
         b"--XX\r\n"
         b"Content-Type: text/plain\r\n"
         b"\r\n"
         b"Hello there.\r\n"
         b"--XX\r\n"
         b"Content-Type: application/octet-stream\r\n"
         b"Content-Transfer-Encoding: base64\r\n"
         b"\r\n"
         b"AAECAwQF\r\n"
         b"--XX--\r\n")


def lit(data, plus=False):
    return b"{%d%s}\r\n" % (len(data), b"+" if plus else b"") + data


class AppendTest(ImapTest):
    def session(self):
        r = self.raw()
        r.login()
        return r

    def uidvalidity(self, r, mailbox="INBOX"):
        out = r.cmd("v", "STATUS %s (UIDVALIDITY)" % mailbox)
        return int(re.search(rb"UIDVALIDITY (\d+)", out).group(1))

    def count(self, r, mailbox="INBOX"):
        out = r.cmd("m", "STATUS %s (MESSAGES)" % mailbox)
        return int(re.search(rb"MESSAGES (\d+)", out).group(1))

    def fetch(self, r, uid, item="BODY.PEEK[]", mailbox="INBOX"):
        """The literal FETCH sends for item of message uid (the session
        ends up with mailbox selected)."""
        self.assertIn(b"x OK", r.cmd("x", "EXAMINE " + mailbox))
        out = r.cmd("y", "UID FETCH %d %s" % (uid, item))
        m = re.search(rb"\{(\d+)\}\r\n", out)
        self.assertIsNotNone(m, out)
        return out[m.end():m.end() + int(m.group(1))]

    def flags(self, r, mailbox="INBOX"):
        """{uid: (FLAGS, INTERNALDATE)} of mailbox, \\Recent left out."""
        self.assertIn(b"x OK", r.cmd("x", "EXAMINE " + mailbox))
        out = r.cmd("y", "UID FETCH 1:* (FLAGS INTERNALDATE)")
        got = {}
        for f, d, u in re.findall(rb'FLAGS \(([^)]*)\) INTERNALDATE "([^"]+)" UID (\d+)', out):
            got[int(u)] = (b" ".join(x for x in f.split() if x != b"\\Recent"), d)
        return got

    def append_sync(self, r, tag, head, literals, tail=b""):
        """Sends APPEND with synchronizing literals: head, then each literal
        after its "+", each followed by what comes after it; returns the
        answer to the command."""
        r.send(head)
        for i, (data, after) in enumerate(literals):
            self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
            r.send(data + after)
        return r.until(tag)


class MultiappendTest(AppendTest):
    def test_capability_names_multiappend_and_catenate(self):
        # RFC 3502 "MULTIAPPEND", RFC 4469 2 "CATENATE".
        r = self.raw()
        self.assertIn(b" UIDPLUS MULTIAPPEND CATENATE ", r.greeting)

    def test_three_messages_synchronizing(self):
        # RFC 3502 6.3.11's example: each literal after its "+"; one tagged
        # OK, and (UIDPLUS) "APPENDUID ... set" with as many UIDs as
        # messages, in order.
        r = self.session()
        v = self.uidvalidity(r)
        out = self.append_sync(
            r, "a", b"a APPEND INBOX (\\Seen) {%d}\r\n" % len(MSG),
            [(MSG, b' (\\Seen) " 7-Feb-1994 22:43:04 -0800" {%d}\r\n' % len(MSG2)),
             (MSG2, b" {%d}\r\n" % len(MSG3)), (MSG3, b"\r\n")])
        self.assertEqual(out, b"a OK [APPENDUID %d 1:3] APPEND completed\r\n" % v)
        self.assertEqual(self.fetch(r, 1), MSG)
        self.assertEqual(self.fetch(r, 2), MSG2)
        self.assertEqual(self.fetch(r, 3), MSG3)
        f = self.flags(r)
        self.assertEqual([f[1][0], f[2], f[3][0]],
                         [b"\\Seen", (b"\\Seen", b"07-Feb-1994 22:43:04 -0800"), b""])

    def date_of(self, r, uid):
        out = r.cmd("d", "UID FETCH %d INTERNALDATE" % uid)
        return re.search(rb'INTERNALDATE "([^"]+)"', out).group(1)

    def test_literal_plus_one_round_trip(self):
        # RFC 3502 Introduction: with LITERAL+ the whole upload is one
        # round trip.
        r = self.session()
        v = self.uidvalidity(r)
        r.send(b"a APPEND INBOX " + lit(MSG, True) + b" ($Work) " + lit(MSG2, True) + b"\r\n")
        self.assertEqual(r.until("a"), b"a OK [APPENDUID %d 1:2] APPEND completed\r\n" % v)
        self.assertEqual(self.fetch(r, 2), MSG2)
        self.assertEqual([x[0] for x in self.flags(r).values()], [b"", b"$Work"])

    def test_appenduid_set_continues_after_earlier_messages(self):
        r = self.session()
        v = self.uidvalidity(r)
        r.send(b"a APPEND INBOX " + lit(MSG, True) + b"\r\n")
        self.assertEqual(r.until("a"), b"a OK [APPENDUID %d 1] APPEND completed\r\n" % v)
        r.send(b"b APPEND INBOX " + lit(MSG, True) + b" " + lit(MSG2, True) + b" " +
               lit(MSG3, True) + b"\r\n")
        self.assertEqual(r.until("b"), b"b OK [APPENDUID %d 2:4] APPEND completed\r\n" % v)

    def test_bad_flags_of_the_third_message_store_nothing(self):
        # RFC 3502 6.3.11: "If the append is unsuccessful for any reason
        # ..., the mailbox MUST be restored to its state before the APPEND
        # attempt; no partial appending is permitted." The third message's
        # flag is refused before its "+"; the two before it are dropped.
        r = self.session()
        out = self.append_sync(r, "a", b"a APPEND INBOX {%d}\r\n" % len(MSG),
                               [(MSG, b" {%d}\r\n" % len(MSG2)),
                                (MSG2, b" (\\Recent) {%d}\r\n" % len(MSG3))])
        self.assertEqual(out, b'a BAD Invalid flag "\\Recent" in APPEND: \\Recent is set by the server only\r\n')
        # The client sends no third literal; the connection goes on.
        self.assertEqual(self.count(r), 0)

    def test_bad_date_of_the_third_message_with_literal_plus(self):
        # The rest of the command (its literals sent without waiting) is
        # read and dropped (RFC 7888 4): the next command is answered.
        r = self.session()
        r.send(b"a APPEND INBOX " + lit(MSG, True) + b" " + lit(MSG2, True) +
               b' "31-Feb-2020 99:00:00 +0000" ' + lit(MSG3, True) + b"\r\nb NOOP\r\n")
        out = r.until("b")
        self.assertRegex(out, rb"^a BAD Invalid date-time \"31-Feb-2020 99:00:00 \+0000\": [^\r]*\r\n"
                              rb"b OK NOOP completed\r\n$")
        self.assertEqual(self.count(r), 0)

    def test_zero_length_literal_cancels_the_batch(self):
        # RFC 3502 6.3.11: "A zero-length message literal argument is an
        # error, and MUST return a NO. This can be used to cancel the
        # append."
        r = self.session()
        out = self.append_sync(r, "a", b"a APPEND INBOX {%d}\r\n" % len(MSG),
                               [(MSG, b" {0}\r\n")])
        self.assertEqual(out, b"a NO [CANNOT] Empty message\r\n")
        self.assertEqual(r.cmd("b", "NOOP"), b"b OK NOOP completed\r\n")
        self.assertEqual(self.count(r), 0)

    def test_missing_mailbox_is_trycreate_before_the_first_literal(self):
        # RFC 3502 6.3.11's A004: "NO [TRYCREATE]" instead of "+".
        r = self.session()
        r.send(b"a APPEND Nope (\\Flagged) {1023}\r\n")
        self.assertEqual(r.line(), b"a NO [TRYCREATE] Mailbox does not exist\r\n")
        self.assertEqual(r.cmd("b", "NOOP"), b"b OK NOOP completed\r\n")

    def test_concurrent_session_never_sees_part_of_a_batch(self):
        # All or none at once: a session idling on the mailbox is told of
        # each batch of 5 in one EXISTS, never of a part of one.
        watcher = self.session()
        self.assertIn(b"s OK", watcher.cmd("s", "SELECT INBOX"))
        watcher.send(b"i IDLE\r\n")
        self.assertEqual(watcher.line(), b"+ idling\r\n")
        batches = 8
        errors = []

        def writer():
            try:
                w = self.session()
                for b in range(batches):
                    w.send(b"a%d APPEND INBOX " % b + b" ".join(lit(MSG3, True) for _ in range(5)) + b"\r\n")
                    out = w.until("a%d" % b)
                    if not out.startswith(b"a%d OK" % b):
                        errors.append(out)
            except Exception as e:  # reported below
                errors.append(e)
        t = threading.Thread(target=writer)
        t.start()
        seen = 0
        while seen < 5 * batches:
            line = watcher.line()
            m = re.match(rb"\* (\d+) EXISTS\r\n$", line)
            if m:
                seen = int(m.group(1))
                self.assertEqual(seen % 5, 0, "a batch seen in part")
            else:
                self.assertRegex(line, rb"^\* \d+ RECENT\r\n$")
        t.join()
        self.assertEqual(errors, [])
        watcher.send(b"DONE\r\n")
        self.assertRegex(watcher.until("i"), rb"^(\* \d+ RECENT\r\n)?i OK IDLE terminated\r\n$")


class StorageLimitTest(AppendTest):
    storage_extra = "appendlimit 200"

    def test_failure_found_at_the_commit_stores_nothing(self):
        # Normalizing bare LFs to CRLF makes the third message larger
        # than the storage's append limit, which only the bytes tell:
        # storage refuses it at the end, and the first two go too.
        r = self.session()
        third = b"Subject: lf\n\n" + b"x\n" * 90  # 193 bytes, 285 stored
        r.send(b"a APPEND INBOX " + lit(MSG3, True) + b" " + lit(MSG3, True) + b" " +
               lit(third, True) + b"\r\n")
        self.assertEqual(r.until("a"), b"a NO [TOOBIG] Message is larger than the append limit\r\n")
        self.assertEqual(self.count(r), 0)



class MultiappendLimitTest(AppendTest):
    extra = "max_append_messages 2\n    max_append_size 150\n    appendlimit 100"

    def test_too_many_messages_is_limit(self):
        # A cap on the messages of one command: NO [LIMIT] (RFC 5530
        # "an implementation limit") at the literal past it, before "+".
        r = self.session()
        out = self.append_sync(r, "a", b"a APPEND INBOX {%d}\r\n" % len(MSG3),
                               [(MSG3, b" {%d}\r\n" % len(MSG3)), (MSG3, b" {%d}\r\n" % len(MSG3))])
        self.assertEqual(out, b"a NO [LIMIT] Too many messages in one APPEND (at most 2)\r\n")
        self.assertEqual(self.count(r), 0)
        # With LITERAL+ the rest is read and dropped.
        r.send(b"b APPEND INBOX " + (lit(MSG3, True) + b" ") * 3 + b"\r\nc NOOP\r\n")
        self.assertEqual(r.until("c"), b"b NO [LIMIT] Too many messages in one APPEND (at most 2)\r\n"
                                       b"c OK NOOP completed\r\n")
        self.assertEqual(self.count(r), 0)

    def test_total_size_over_the_cap_is_limit(self):
        r = self.session()
        one = b"Subject: a\r\n\r\n" + b"y" * 64 + b"\r\n"  # 80 bytes
        r.send(b"a APPEND INBOX " + lit(one, True) + b" " + lit(one, True) + b"\r\nb NOOP\r\n")
        self.assertEqual(r.until("b"), b"a NO [LIMIT] The messages of one APPEND are larger than "
                                       b"150 bytes together\r\nb OK NOOP completed\r\n")
        self.assertEqual(self.count(r), 0)

    def test_message_over_appendlimit_in_the_middle_is_toobig(self):
        # RFC 7889 (APPENDLIMIT): [TOOBIG] for the message over it, before
        # its "+"; the first message is dropped.
        r = self.session()
        out = self.append_sync(r, "a", b"a APPEND INBOX {%d}\r\n" % len(MSG3),
                               [(MSG3, b" {101}\r\n")])
        self.assertEqual(out, b"a NO [TOOBIG] Message larger than the limit of 100 bytes\r\n")
        self.assertEqual(self.count(r), 0)


class CatenateBase(AppendTest):
    """INBOX: 1 MULTI, 2 MSG; "Dräfts": 1 MSG2."""

    def setUp(self):
        super().setUp()
        r = self.session()
        r.send(b"a APPEND INBOX " + lit(MULTI, True) + b" " + lit(MSG, True) + b"\r\n")
        self.assertIn(b"a OK", r.until("a"))
        self.assertIn(b"c OK", r.cmd("c", "CREATE Dr&AOQ-fts"))  # "Dräfts"
        r.send(b"b APPEND Dr&AOQ-fts " + lit(MSG2, True) + b"\r\n")
        self.assertIn(b"b OK", r.until("b"))
        self.v = self.uidvalidity(r)
        self.vd = self.uidvalidity(r, "Dr&AOQ-fts")
        r.cmd("z", "LOGOUT")


class CatenateTest(CatenateBase):
    def test_text_and_url_parts_are_the_fetched_sections(self):
        # RFC 4469 3: a URL part is "as if the literal returned in a FETCH
        # BODY response were put in place of the message part specifier".
        r = self.session()
        head = b"Subject: made\r\nContent-Type: multipart/mixed; boundary=\"YY\"\r\n\r\n--YY\r\n"
        mid = b"\r\n--YY\r\n"
        end = b"\r\n--YY--\r\n"
        v = self.v
        out = self.append_sync(
            r, "a", b"a APPEND INBOX (\\Draft) CATENATE (TEXT {%d}\r\n" % len(head),
            [(head, b' URL "/INBOX;UIDVALIDITY=%d/;UID=1/;SECTION=1.MIME" '
                    b'URL "/INBOX;UIDVALIDITY=%d/;UID=1/;section=1" TEXT {%d}\r\n' % (v, v, len(mid))),
             (mid, b' URL "/INBOX/;UID=2" TEXT {%d}\r\n' % len(end)),
             (end, b")\r\n")])
        self.assertEqual(out, b"a OK [APPENDUID %d 3] APPEND completed\r\n" % v)
        expected = (head + self.fetch(r, 1, "BODY.PEEK[1.MIME]") + self.fetch(r, 1, "BODY.PEEK[1]") +
                    mid + self.fetch(r, 2) + end)
        self.assertEqual(self.fetch(r, 3), expected)
        # RFC 4469 3: "The APPEND command does not cause the \Seen flag to
        # be set for any catenated body part."
        self.assertEqual([x[0] for x in self.flags(r).values()], [b"", b"", b"\\Draft"])

    def test_url_forms_name_the_same_bytes(self):
        # Absolute (same user, this server), absolute-path, and relative to
        # the selected mailbox (RFC 4469 3's base URL); HEADER, TEXT,
        # HEADER.FIELDS and PARTIAL as FETCH has them.
        r = self.session()
        self.assertIn(b"s OK", r.cmd("s", "SELECT INBOX"))
        cases = [
            ("imap://bob@127.0.0.1:%d/INBOX;UIDVALIDITY=%d/;UID=1/;SECTION=HEADER" % (self.port, self.v),
             "BODY.PEEK[HEADER]"),
            ("//bob;AUTH=*@127.0.0.1/INBOX/;UID=1/;SECTION=2", "BODY.PEEK[2]"),
            (";UID=1/;SECTION=TEXT", "BODY.PEEK[TEXT]"),
            ("/INBOX/;UID=2/;SECTION=HEADER.FIELDS%20(Subject%20From)", "BODY.PEEK[HEADER.FIELDS (Subject From)]"),
            ("/INBOX/;UID=2/;PARTIAL=3.10", "BODY.PEEK[]<3.10>"),
            ("/INBOX/;UID=1/;SECTION=1/;PARTIAL=6", "BODY.PEEK[1]<6.1000>"),
            # The mailbox name: percent-encoded UTF-8 (RFC 5092 8)...
            ("/Dr%C3%A4fts;UIDVALIDITY=" + str(self.vd) + "/;UID=1", "BODY.PEEK[]"),
            # ... or, from RFC 2192 clients, IMAP's modified UTF-7.
            ("/Dr&AOQ-fts/;UID=1", "BODY.PEEK[]"),
        ]
        for i, (url, item) in enumerate(cases):
            mailbox = "Dr&AOQ-fts" if "fts" in url else "INBOX"
            want = self.fetch(r, 2 if mailbox == "INBOX" and "UID=2" in url else 1, item, mailbox)
            self.assertIn(b"s OK", r.cmd("s", "SELECT INBOX"))
            r.send(b'c%d APPEND Drafts CATENATE (URL "%s")\r\n' % (i, url.encode()))
            out = r.until("c%d" % i)
            m = re.search(rb"c%d OK \[APPENDUID (\d+) (\d+)\]" % i, out)
            self.assertIsNotNone(m, (url, out))
            self.assertEqual(self.fetch(r, int(m.group(2)), "BODY.PEEK[]", "Drafts"), want, url)

    def test_badurl_cases(self):
        # RFC 4469 4.1: NO [BADURL url] with the first URL that failed;
        # nothing is stored.
        r = self.session()
        v = self.v
        bad = [
            "/INBOX;UIDVALIDITY=%d/;UID=1" % (v + 1),  # stale (RFC 5092 5)
            "/INBOX/;UID=9",  # no such message
            "/INBOX/;UID=1/;SECTION=7",  # no such part
            "/INBOX/;UID=1/;SECTION=FOO",  # not a section
            "/Nope/;UID=1",  # no such mailbox
            "imap://alice@127.0.0.1/INBOX/;UID=1",  # another user
            "imap://bob@mail.example.com/INBOX/;UID=1",  # another server
            "imap://bob@127.0.0.1:1/INBOX/;UID=1",  # another port
            ";UID=1",  # relative, but no mailbox is selected
            "INBOX/;UID=1",  # RFC 5092 7.2: no relative-path references
            "/INBOX/;UID=1/;SECTION=1;URLAUTH=anonymous:internal:0123456789abcdef0123456789abcdef",
            "/INBOX/;UID=0",
            "/IN%ZZBOX/;UID=1",
            "http://example.com/",
        ]
        for i, url in enumerate(bad):
            r.send(b'b%d APPEND INBOX CATENATE (TEXT {3+}\r\nabc URL "%s")\r\n' % (i, url.encode()))
            out = r.until("b%d" % i)
            self.assertRegex(out, rb"^b%d NO \[BADURL %s\] [^\r]+\r\n$" % (i, re.escape(url.encode())), url)
        self.assertEqual(self.count(r), 2)
        # Only the first bad URL is named.
        r.send(b'c APPEND INBOX CATENATE (URL "/INBOX/;UID=1" URL "/INBOX/;UID=8" URL "/INBOX/;UID=9")\r\n')
        self.assertEqual(r.until("c"), b"c NO [BADURL /INBOX/;UID=8] No such message\r\n")
        # A "]" in the URL is percent-encoded in the answer (4.1's
        # url-resp-text holds none).
        r.send(b'd APPEND INBOX CATENATE (URL "/INBOX/;UID=1/;SECTION=]")\r\n')
        self.assertEqual(r.until("d"), b"d NO [BADURL /INBOX/;UID=1/;SECTION=%5D] Bad section in the URL\r\n")

    def test_badurl_in_a_multiappend_stores_nothing(self):
        r = self.session()
        r.send(b"a APPEND INBOX " + lit(MSG3, True) + b' CATENATE (URL "/INBOX/;UID=1") '
               b'CATENATE (TEXT {3+}\r\nabc URL "/INBOX/;UID=5")\r\n')
        self.assertEqual(r.until("a"), b"a NO [BADURL /INBOX/;UID=5] No such message\r\n")
        self.assertEqual(self.count(r), 2)
        r.send(b"b APPEND INBOX " + lit(MSG3, True) + b' CATENATE (URL "/INBOX/;UID=1") '
               b'CATENATE (TEXT {3+}\r\nabc URL "/INBOX/;UID=2")\r\n')
        self.assertEqual(r.until("b"), b"b OK [APPENDUID %d 3:5] APPEND completed\r\n" % self.v)
        self.assertEqual(self.fetch(r, 4), MULTI)
        self.assertEqual(self.fetch(r, 5), b"abc" + MSG)

    def test_catenate_grammar(self):
        r = self.session()
        for i, cmd in enumerate([b"APPEND INBOX CATENATE ()", b"APPEND INBOX CATENATE (TEXT)",
                                 b'APPEND INBOX CATENATE (URL)', b"APPEND INBOX CATENATE (FOO \"x\")",
                                 b"APPEND INBOX CATENATE", b'APPEND INBOX CATENATE "x"']):
            r.send(b"g%d " % i + cmd + b"\r\n")
            self.assertRegex(r.until("g%d" % i), rb"^g%d BAD [^\r]+\r\n$" % i, cmd)
        # A URL sent as a literal is a URL all the same (astring).
        url = b"/INBOX/;UID=2"
        r.send(b"u APPEND INBOX CATENATE (URL {%d+}\r\n%s)\r\n" % (len(url), url))
        self.assertEqual(r.until("u"), b"u OK [APPENDUID %d 3] APPEND completed\r\n" % self.v)
        self.assertEqual(self.fetch(r, 3), MSG)



LIMIT = len(MULTI) + 10


class CatenateLimitTest(CatenateBase):
    extra = "appendlimit %d" % LIMIT

    def test_toobig(self):
        # RFC 4469 4.2: the message made would be over the limit.
        r = self.session()
        r.send(b'a APPEND INBOX (\\Seen) CATENATE (URL "/INBOX/;UID=1" URL "/INBOX/;UID=1")\r\n')
        self.assertEqual(r.until("a"), b"a NO [TOOBIG] The message made is larger than the limit of "
                                        b"%d bytes\r\n" % LIMIT)
        r.send(b'b APPEND INBOX CATENATE (URL "/INBOX/;UID=1" TEXT {11+}\r\n12345678901)\r\nc NOOP\r\n')
        self.assertEqual(r.until("c"), b"b NO [TOOBIG] The message made is larger than the append limit\r\n"
                                       b"c OK NOOP completed\r\n")
        self.assertEqual(self.count(r), 2)

    def test_synchronizing_text_refused_mid_command(self):
        # Sizes are checked before each "+": the second TEXT literal, over
        # the limit with the first, is refused and the command ends there.
        r = self.session()
        out = self.append_sync(r, "a", b"a APPEND INBOX CATENATE (TEXT {200}\r\n",
                               [(b"x" * 200, b" TEXT {72}\r\n")])
        self.assertEqual(out, b"a NO [TOOBIG] Message larger than the limit of %d bytes\r\n" % LIMIT)
        self.assertEqual(r.cmd("b", "NOOP"), b"b OK NOOP completed\r\n")
        self.assertEqual(self.count(r), 2)


if __name__ == "__main__":
    phtest.main()
