# SPDX-License-Identifier: MIT
"""IMAP4rev2 (RFC 9051) through the real binary, byte for byte: RFC 9051
Appendix E ("Changes from RFC 3501 / IMAP4rev1") item by item, one test
per item named test_eNN_..., each on a session that sent "ENABLE
IMAP4rev2" (Appendix A: a server that advertises both versions follows
IMAP4rev1 until then), beside an IMAP4rev1 session where the two differ.
Items that were already true of IMAP4rev1 sessions are proven all the
same.

test_imap4rev2_pgsql.py runs these classes on storage.pgsql too."""
import base64
import re
import select
import socket
import ssl

from test_imap import MSG, PASSWORD, ImapTest, password_hash


def no_id(answer):
    """The answer without OBJECTID's MAILBOXID (RFC 8474 4.1, 4.2: CREATE's
    and SELECT's codes): these tests are about names, not ids."""
    answer = re.sub(rb"\* OK \[MAILBOXID \([^)]*\)\] Ok\r\n", b"", answer)
    return re.sub(rb"\[MAILBOXID \([^)]*\)\] ", b"", answer)

# Appendix E 2: the extensions IMAP4rev2 folds in, as capabilities. BINARY
# and LITERAL- come from h/binary18 (issue 18): add them here once merged.
FOLDED = ["NAMESPACE", "UNSELECT", "UIDPLUS", "ESEARCH", "SEARCHRES", "ENABLE", "IDLE",
          "SASL-IR", "LIST-EXTENDED", "LIST-STATUS", "MOVE", "SPECIAL-USE", "BINARY",
          "LITERAL+"]  # LITERAL+ is LITERAL- and more (RFC 7888 5)
UTF8_SUBJECT = "Grüße".encode()
UTF8_MSG = (b"From: a@example.org\r\nSubject: " + UTF8_SUBJECT + b"\r\n\r\nHallo\r\n")
# RFC 2231 3 and 4: a parameter in continuations, one of them encoded.
RFC2231_MSG = (b"From: a@example.org\r\nSubject: cont\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: text/plain; charset=us-ascii;\r\n"
               b" name*0=\"long-\"; name*1=\"file\"; name*2=\".txt\"\r\n\r\nbody\r\n")
# RFC 9051 7.1: the response codes of IMAP4rev2, and those of the
# extensions posthorn also speaks (RFC 4315, 4731, 5182, 5465, 5530, 7162,
# 7889, 5267, 9208's OVERQUOTA).
KNOWN_CODES = {
    "MAILBOXID",  # RFC 8474 (OBJECTID)
    "ALERT", "ALREADYEXISTS", "APPENDUID", "AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED",
    "BADCHARSET", "CANNOT", "CAPABILITY", "CLIENTBUG", "CLOSED", "CONTACTADMIN", "COPYUID",
    "CORRUPTION", "EXPIRED", "EXPUNGEISSUED", "HASCHILDREN", "INUSE", "LIMIT", "NONEXISTENT",
    "NOPERM", "OVERQUOTA", "PARSE", "PERMANENTFLAGS", "PRIVACYREQUIRED", "READ-ONLY",
    "READ-WRITE", "SERVERBUG", "TRYCREATE", "UIDNEXT", "UIDNOTSTICKY", "UIDVALIDITY",
    "UNAVAILABLE", "UNKNOWN-CTE", "HIGHESTMODSEQ", "NOMODSEQ", "MODIFIED", "NOUPDATE",
    "UNSEEN", "USEATTR", "TOOBIG", "APPENDLIMIT"}


def append(tag, mailbox, msg, flags=""):
    return (("%s APPEND %s (%s) {%d+}\r\n" % (tag, mailbox, flags, len(msg))).encode() + msg)


class Rev2Test(ImapTest):
    maxDiff = None

    def session(self, rev2=True):
        r = self.raw()
        r.login()
        if rev2:
            self.assertEqual(r.cmd("e", "ENABLE IMAP4rev2"),
                             b"* ENABLED IMAP4rev2\r\ne OK ENABLE completed\r\n")
        return r

    def put(self, r, tag, mailbox, msg, flags=""):
        r.send(append(tag, mailbox, msg, flags) + b"\r\n")
        out = r.until(tag)
        self.assertRegex(out, rb"^%s OK \[APPENDUID \d+ \d+\] APPEND completed\r\n$" % tag.encode())

    def selected(self, rev2=True, messages=(MSG, MSG), mailbox="INBOX"):
        r = self.session(rev2)
        for i, m in enumerate(messages):
            self.put(r, "p%d" % i, mailbox, m)
        out = r.cmd("s", "SELECT " + mailbox)
        self.assertTrue(no_id(out).endswith(b"s OK [READ-WRITE] SELECT completed\r\n"), out)
        return r, out

    def uidvalidity(self, out):
        return int(re.search(rb"\[UIDVALIDITY (\d+)\]", out).group(1))


class EnableTest(Rev2Test):
    def test_enable_imap4rev2(self):
        """Appendix A: "If both IMAP4rev1 and IMAP4rev2 are advertised, an
        IMAP client that wants to use IMAP4rev2 MUST issue an "ENABLE
        IMAP4rev2" command"; ENABLED names it once (RFC 5161 3.2)."""
        r = self.raw()
        self.assertTrue(r.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2 "), r.greeting)
        r.login()
        self.assertEqual(r.cmd("a", "ENABLE IMAP4rev2 UTF8=ACCEPT"),
                         b"* ENABLED IMAP4rev2 UTF8=ACCEPT\r\na OK ENABLE completed\r\n")
        self.assertEqual(r.cmd("b", "ENABLE IMAP4REV2"), b"* ENABLED\r\nb OK ENABLE completed\r\n")


class Off(ImapTest):
    extra = "imap4rev2 no"

    def test_not_advertised_not_enabled(self):
        """With `imap4rev2 no` IMAP4rev2 is not advertised, and ENABLE
        ignores what the server does not support (RFC 5161 3.1)."""
        r = self.raw()
        self.assertTrue(r.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 LITERAL+ "), r.greeting)
        r.login()
        self.assertEqual(r.cmd("a", "ENABLE IMAP4rev2"), b"* ENABLED\r\na OK ENABLE completed\r\n")
        self.assertEqual(r.cmd("b", 'LSUB "" INBOX'), b'* LSUB () "." INBOX\r\nb OK LSUB completed\r\n')


class AppendixETest(Rev2Test):
    def test_e01_64bit_sizes(self):
        """E 1: "Support for 64-bit message and body part sizes": a
        literal of 2^32 + 1 octets is that size, not 1 (so APPENDLIMIT
        refuses it, before the client sends it: RFC 7889)."""
        r = self.session()
        r.send(b"a APPEND INBOX {4294967297}\r\n")
        self.assertEqual(r.line(), b"a NO [TOOBIG] Message larger than the limit of 1048576 bytes\r\n")
        out = r.cmd("b", "STATUS INBOX (SIZE)")
        self.assertEqual(out, b"* STATUS INBOX (SIZE 0)\r\nb OK STATUS completed\r\n")

    def test_e02_folded_extensions(self):
        """E 2: NAMESPACE, UNSELECT, UIDPLUS, ESEARCH, SEARCHRES, ENABLE,
        IDLE, SASL-IR, LIST-EXTENDED, LIST-STATUS, MOVE and SPECIAL-USE's
        attributes are advertised and work in an IMAP4rev2 session."""
        r = self.raw()
        caps = r.cmd("c", "CAPABILITY").split(b"\r\n")[0].split()[2:]
        self.assertEqual([c for c in FOLDED if c.encode() not in caps], [])
        # SASL-IR: the initial response on the AUTHENTICATE line.
        ir = base64.b64encode(b"\0bob\0" + PASSWORD.encode()).decode()
        self.assertRegex(r.cmd("L", "AUTHENTICATE PLAIN " + ir), rb"^L OK \[CAPABILITY IMAP4rev1 IMAP4rev2 [^\]]+\] ")
        self.assertEqual(r.cmd("e", "ENABLE IMAP4rev2"), b"* ENABLED IMAP4rev2\r\ne OK ENABLE completed\r\n")
        self.assertEqual(r.cmd("n", "NAMESPACE"), b'* NAMESPACE (("" ".")) NIL NIL\r\nn OK NAMESPACE completed\r\n')
        self.assertEqual(r.cmd("l", 'LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES))'),
                         b'* LIST (\\HasNoChildren \\Archive) "." Archive\r\n* STATUS Archive (MESSAGES 0)\r\n'
                         b'* LIST (\\HasNoChildren \\Drafts) "." Drafts\r\n* STATUS Drafts (MESSAGES 0)\r\n'
                         b'* LIST (\\HasNoChildren \\Junk) "." Junk\r\n* STATUS Junk (MESSAGES 0)\r\n'
                         b'* LIST (\\HasNoChildren \\Sent) "." Sent\r\n* STATUS Sent (MESSAGES 0)\r\n'
                         b'* LIST (\\HasNoChildren \\Trash) "." Trash\r\n* STATUS Trash (MESSAGES 0)\r\n'
                         b"l OK LIST completed\r\n")
        self.put(r, "p", "INBOX", MSG)
        r.cmd("s", "SELECT INBOX")
        uv = int(re.search(rb"UIDVALIDITY (\d+)", r.cmd("t", "STATUS Trash (UIDVALIDITY)")).group(1))
        self.assertEqual(r.cmd("f", "SEARCH RETURN (SAVE) ALL"), b"f OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("m", "UID MOVE $ Trash"),
                         b"* OK [COPYUID %d 1 1] Moved\r\n* 1 EXPUNGE\r\nm OK MOVE completed\r\n" % uv)
        r.send(b"i IDLE\r\n")
        self.assertEqual(r.line(), b"+ idling\r\n")
        r.send(b"DONE\r\n")
        self.assertEqual(r.until("i"), b"i OK IDLE terminated\r\n")
        self.assertEqual(r.cmd("u", "UNSELECT"), b"u OK UNSELECT completed\r\n")

    def test_e03_status_size(self):
        """E 3: "Added STATUS SIZE [RFC8438]": the total octets of the
        mailbox's messages."""
        r, _ = self.selected()
        self.assertEqual(r.cmd("a", "STATUS INBOX (MESSAGES SIZE)"),
                         b"* STATUS INBOX (MESSAGES 2 SIZE %d)\r\na OK STATUS completed\r\n" % (2 * len(MSG)))

    def test_e04_search_answers_esearch(self):
        """E 4: "SEARCH command now requires to return the ESEARCH
        response"; 6.4.4: without RETURN, ALL is assumed, and no match
        gives an ESEARCH with the tag only. An IMAP4rev1 session still
        gets SEARCH."""
        r, _ = self.selected()
        self.assertEqual(r.cmd("a", "SEARCH ALL"), b'* ESEARCH (TAG "a") ALL 1:2\r\na OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("b", "UID SEARCH 2"), b'* ESEARCH (TAG "b") UID ALL 2\r\nb OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("c", "SEARCH DELETED"), b'* ESEARCH (TAG "c")\r\nc OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("d", "SEARCH RETURN (COUNT) ALL"),
                         b'* ESEARCH (TAG "d") COUNT 2\r\nd OK SEARCH completed\r\n')
        old = self.session(rev2=False)
        old.cmd("s", "SELECT INBOX")
        self.assertEqual(old.cmd("a", "SEARCH ALL"), b"* SEARCH 1 2\r\na OK SEARCH completed\r\n")

    def test_e05_substring_match(self):
        """E 5: SEARCH's string keys (SUBJECT, FROM, HEADER, BODY, TEXT)
        match substrings, case-insensitively (6.4.4)."""
        r, _ = self.selected(messages=(MSG,))
        subject = re.search(rb"Subject: ([^\r]+)", MSG).group(1)
        part = subject[1:4].swapcase().decode()
        self.assertEqual(r.cmd("a", 'SEARCH SUBJECT "%s"' % part),
                         b'* ESEARCH (TAG "a") ALL 1\r\na OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("b", 'SEARCH FROM "LICE@EXAMPLE"'),
                         b'* ESEARCH (TAG "b") ALL 1\r\nb OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("c", 'SEARCH HEADER To "b@exam"'),
                         b'* ESEARCH (TAG "c") ALL 1\r\nc OK SEARCH completed\r\n')
        self.assertEqual(r.cmd("d", 'SEARCH SUBJECT "no such words"'), b'* ESEARCH (TAG "d")\r\nd OK SEARCH completed\r\n')

    def test_e06_rfc2231_continuations(self):
        """E 6: "the server should decode parameter value continuations as
        described in [RFC2231]": name*0, name*1, name*2 make one NAME."""
        r, _ = self.selected(messages=(RFC2231_MSG,))
        out = r.cmd("a", "FETCH 1 BODYSTRUCTURE")
        self.assertIn(b'("charset" "us-ascii" "name" "long-file.txt")', out)

    def test_e07_copyuid_for_move_and_uid_move(self):
        """E 7: "the COPYUID response code is returned for both MOVE and
        UID MOVE" (RFC 6851 4.3: in an untagged OK before the
        expunges)."""
        r, out = self.selected()
        uv = self.uidvalidity(out)
        trash = r.cmd("t", "STATUS Trash (UIDVALIDITY)")
        tuv = int(re.search(rb"UIDVALIDITY (\d+)", trash).group(1))
        self.assertEqual(r.cmd("a", "MOVE 1 Trash"),
                         b"* OK [COPYUID %d 1 1] Moved\r\n* 1 EXPUNGE\r\na OK MOVE completed\r\n" % tuv)
        self.assertEqual(r.cmd("b", "UID MOVE 2 Trash"),
                         b"* OK [COPYUID %d 2 2] Moved\r\n* 1 EXPUNGE\r\nb OK MOVE completed\r\n" % tuv)
        self.assertNotEqual(uv, 0)

    def test_e08_copy_move_never_create_the_target(self):
        """E 8: COPY and MOVE do not create their target; they answer NO
        [TRYCREATE] when it does not exist (6.4.7, 6.4.8)."""
        r, _ = self.selected()
        for tag, cmd in (("a", "COPY 1 Nowhere"), ("b", "MOVE 1 Nowhere"), ("c", "UID COPY 1 Nowhere"),
                         ("d", "UID MOVE 1 Nowhere")):
            out = r.cmd(tag, cmd)
            self.assertTrue(out.startswith(tag.encode() + b" NO [TRYCREATE] "), out)
        self.assertEqual(r.cmd("l", 'LIST "" Nowhere'), b"l OK LIST completed\r\n")

    def test_e09_closed_on_select_when_selected(self):
        """E 9: "SELECT/EXAMINE when a mailbox is already selected now
        requires a CLOSED response code to be returned", before the new
        mailbox's responses."""
        r, _ = self.selected()
        out = r.cmd("a", "EXAMINE Trash")
        self.assertTrue(out.startswith(b"* OK [CLOSED] Previous mailbox is now closed\r\n"), out)
        self.assertTrue(out.endswith(b"a OK [READ-ONLY] EXAMINE completed\r\n"), out)

    def test_e10_select_returns_a_list_response(self):
        """E 10: "SELECT/EXAMINE are now required to return an untagged
        LIST response" with accurate attributes (6.3.2)."""
        r = self.session()
        self.assertEqual(no_id(r.cmd("c", "CREATE Work.Reports")), b"c OK CREATE completed\r\n")
        out = r.cmd("s", "SELECT Work")
        self.assertIn(b'\r\n* LIST (\\HasChildren) "." Work\r\n', out)
        out = r.cmd("t", "EXAMINE Sent")
        self.assertIn(b'\r\n* LIST (\\HasNoChildren \\Sent) "." Sent\r\n', out)
        old = self.session(rev2=False)
        self.assertNotIn(b"* LIST", old.cmd("s", "SELECT Work"))

    def test_e11_no_unseen_code(self):
        """E 11: "UNSEEN response code on SELECT/EXAMINE is now
        deprecated": an IMAP4rev2 session does not get it."""
        r, out = self.selected()
        self.assertNotIn(b"[UNSEEN", out)
        old = self.session(rev2=False)
        self.assertIn(b"* OK [UNSEEN 1] First unseen\r\n", old.cmd("s", "SELECT INBOX"))

    def test_e12_no_recent(self):
        """E 12: no RECENT response and no \\Recent flag in IMAP4rev2 (an
        IMAP4rev1 session still gets both)."""
        r = self.session()
        self.put(r, "p", "INBOX", MSG)
        uv = int(re.search(rb"UIDVALIDITY (\d+)", r.cmd("x", "STATUS INBOX (UIDVALIDITY)")).group(1))
        out = r.cmd("s", "SELECT INBOX")
        self.assertEqual(no_id(out), b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                              b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] "
                              b"Flags permitted\r\n"
                              b"* 1 EXISTS\r\n"
                              b'* LIST (\\HasNoChildren) "." INBOX\r\n'
                              b"* OK [UIDVALIDITY %d] UIDs valid\r\n* OK [UIDNEXT 2] Predicted next UID\r\n"
                              b"s OK [READ-WRITE] SELECT completed\r\n" % uv)
        self.assertEqual(r.cmd("f", "FETCH 1 FLAGS"), b"* 1 FETCH (FLAGS ())\r\nf OK FETCH completed\r\n")
        other = self.session(rev2=False)
        self.put(other, "q", "INBOX", MSG)
        self.assertEqual(r.cmd("n", "NOOP"), b"* 2 EXISTS\r\nn OK NOOP completed\r\n")
        self.assertEqual(r.cmd("g", "FETCH 2 FLAGS"), b"* 2 FETCH (FLAGS ())\r\ng OK FETCH completed\r\n")
        self.assertEqual(r.cmd("h", "STORE 2 +FLAGS (\\Seen)"),
                         b"* 2 FETCH (FLAGS (\\Seen))\r\nh OK STORE completed\r\n")
        old = self.session(rev2=False)
        self.put(old, "p", "INBOX", MSG)
        out = old.cmd("s", "EXAMINE INBOX")
        self.assertIn(b"* 3 EXISTS\r\n* 1 RECENT\r\n", out)
        self.assertEqual(old.cmd("f", "FETCH 3 FLAGS"), b"* 3 FETCH (FLAGS (\\Recent))\r\nf OK FETCH completed\r\n")

    def test_e13_keywords_announced_without_new_permanentflags(self):
        """E 13: "the server doesn't need to send a new PERMANENTFLAGS
        response code when a new keyword was successfully added and the
        server advertised \\* earlier": a keyword made by STORE is in the
        new FLAGS response (7.3.5); posthorn repeats PERMANENTFLAGS, with
        the keyword and \\* still, which the clarification leaves open."""
        r, out = self.selected(messages=(MSG,))
        self.assertIn(b"\\*)] Flags permitted\r\n", out)
        self.assertEqual(r.cmd("a", "STORE 1 +FLAGS (Project)"),
                         b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Project)\r\n"
                         b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Project \\*)] "
                         b"Flags permitted\r\n"
                         b"* 1 FETCH (FLAGS (Project))\r\na OK STORE completed\r\n")

    def test_e14_number64_in_tagged_ext(self):
        """E 14: tagged-ext-simple allows a bare number64: a STORE modifier
        (RFC 7162 UNCHANGEDSINCE) of 2^32 and more is taken as it is."""
        r, _ = self.selected(messages=(MSG,))
        out = r.cmd("a", "STORE 1 (UNCHANGEDSINCE 5000000000) +FLAGS.SILENT (\\Seen)")
        self.assertRegex(out, rb"^\* OK \[HIGHESTMODSEQ \d+\] Highest mailbox mod-sequence\r\n"
                         rb"\* 1 FETCH \(UID 1 MODSEQ \(\d+\)\)\r\na OK STORE completed\r\n$")
        self.assertRegex(r.cmd("b", "FETCH 1 FLAGS"), rb"^\* 1 FETCH \(FLAGS \(\\Seen\) MODSEQ \(\d+\)\)\r\nb OK FETCH completed\r\n$")

    def test_e15_predefined_keywords(self):
        """E 15: "$MDNSent, $Forwarded, $Junk, $NonJunk, and $Phishing"
        (2.3.2) are kept like any keyword."""
        r, _ = self.selected(messages=(MSG,))
        out = r.cmd("a", "STORE 1 +FLAGS.SILENT ($MDNSent $Forwarded $Junk $NonJunk $Phishing)")
        self.assertTrue(out.endswith(b"a OK STORE completed\r\n"), out)
        self.assertEqual(r.cmd("b", "FETCH 1 FLAGS"),
                         b"* 1 FETCH (FLAGS ($MDNSent $Forwarded $Junk $NonJunk $Phishing))\r\nb OK FETCH completed\r\n")

    def test_e16_utf8_names_and_headers(self):
        """E 16: "Mailbox names and message headers now allow for UTF-8"
        (5.1, 4.3.1): after ENABLE IMAP4rev2 alone a name is UTF-8 and an
        8-bit header goes in."""
        r = self.session()
        r.send(b'c CREATE "\xc3\x84rger"\r\n')
        self.assertEqual(no_id(r.until("c")), b"c OK CREATE completed\r\n")
        r.send(b'l LIST "" "\xc3\x84*"\r\n')
        self.assertEqual(r.until("l"), b'* LIST (\\HasNoChildren) "." "\xc3\x84rger"\r\nl OK LIST completed\r\n')
        r.send(b'p APPEND "\xc3\x84rger" {%d+}\r\n' % len(UTF8_MSG) + UTF8_MSG + b"\r\n")
        self.assertRegex(r.until("p"), rb"^p OK \[APPENDUID \d+ 1\] APPEND completed\r\n$")
        old = self.session(rev2=False)
        self.assertEqual(old.cmd("l", 'LIST "" &AMQ-*'), b'* LIST (\\HasNoChildren) "." &AMQ-rger\r\nl OK LIST completed\r\n')

    def test_e17_no_check(self):
        """E 17: "Removed the CHECK command. Clients should use NOOP
        instead."; IMAP4rev1 keeps it."""
        r, _ = self.selected(messages=())
        self.assertEqual(r.cmd("a", "CHECK"),
                         b"a BAD CHECK is not in IMAP4rev2 (RFC 9051 Appendix E): use NOOP\r\n")
        self.assertEqual(r.cmd("b", "NOOP"), b"b OK NOOP completed\r\n")
        old = self.session(rev2=False)
        old.cmd("s", "SELECT INBOX")
        self.assertEqual(old.cmd("a", "CHECK"), b"a OK CHECK completed\r\n")

    def test_e18_body_for_rfc822_items(self):
        """E 18: RFC822, RFC822.HEADER and RFC822.TEXT are deprecated for
        BODY[], BODY[HEADER] and BODY[TEXT], which carry the same bytes."""
        r, _ = self.selected(messages=(MSG,))
        head, text = MSG.split(b"\r\n\r\n", 1)
        head += b"\r\n\r\n"
        self.assertEqual(r.cmd("a", "FETCH 1 (BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT])"),
                         b"* 1 FETCH (BODY[] {%d}\r\n" % len(MSG) + MSG +
                         b" BODY[HEADER] {%d}\r\n" % len(head) + head +
                         b" BODY[TEXT] {%d}\r\n" % len(text) + text + b")\r\na OK FETCH completed\r\n")

    def test_e19_no_lsub(self):
        """E 19: "LSUB command was deprecated. Clients should use LIST
        (SUBSCRIBED) instead."; IMAP4rev1 keeps it."""
        r = self.session()
        self.assertEqual(r.cmd("a", 'LSUB "" *'),
                         b"a BAD LSUB is not in IMAP4rev2 (RFC 9051 Appendix E): use LIST (SUBSCRIBED)\r\n")
        self.assertEqual(r.cmd("b", 'LIST (SUBSCRIBED) "" INBOX'),
                         b'* LIST (\\HasNoChildren \\Subscribed) "." INBOX\r\nb OK LIST completed\r\n')
        old = self.session(rev2=False)
        self.assertEqual(old.cmd("a", 'LSUB "" INBOX'), b'* LSUB () "." INBOX\r\na OK LSUB completed\r\n')

    def test_e20_idle_updates(self):
        """E 20: IDLE "can now return updates not related to the currently
        selected mailbox" (a MAY posthorn does not use); it tells the
        selected mailbox's, in IMAP4rev2's form (no RECENT)."""
        r, _ = self.selected(messages=(MSG,))
        r.send(b"i IDLE\r\n")
        self.assertEqual(r.line(), b"+ idling\r\n")
        other = self.session(rev2=False)
        self.put(other, "p", "INBOX", MSG)
        self.assertEqual(r.line(), b"* 2 EXISTS\r\n")
        r.send(b"DONE\r\n")
        self.assertEqual(r.until("i"), b"i OK IDLE terminated\r\n")

    def test_e21_unsolicited_fetch_has_uid(self):
        """E 21: "All unsolicited FETCH updates are required to include
        UID"; an IMAP4rev1 session's omit it as before."""
        r, _ = self.selected()
        old = self.session(rev2=False)
        old.cmd("s", "SELECT INBOX")
        other = self.session(rev2=False)
        other.cmd("s", "SELECT INBOX")
        self.assertEqual(other.cmd("a", "STORE 2 +FLAGS.SILENT (\\Flagged)"), b"a OK STORE completed\r\n")
        self.assertEqual(r.cmd("n", "NOOP"), b"* 2 FETCH (FLAGS (\\Flagged) UID 2)\r\nn OK NOOP completed\r\n")
        self.assertEqual(old.cmd("n", "NOOP"), b"* 2 FETCH (FLAGS (\\Flagged))\r\nn OK NOOP completed\r\n")

    def test_e22_e23_response_codes_and_texts(self):
        """E 22: clients ignore codes they do not know; posthorn sends only
        those of RFC 9051 7.1 and the extensions it advertises. E 23:
        resp-text may be empty now; posthorn's never are, which either
        grammar takes."""
        r, out = self.selected()
        for tag, cmd in (("a", "NOOP"), ("b", "SELECT Nowhere"), ("c", "SELECT INBOX"), ("d", "FETCH 9 FLAGS"),
                         ("e", "CREATE INBOX"), ("f", "COPY 1 Nowhere"), ("g", "STORE 1 +FLAGS (\\Recent)"),
                         ("h", "EXPUNGE"), ("i", "UID MOVE 1 Trash"), ("j", "BOGUS")):
            out += r.cmd(tag, cmd)
        for line in out.split(b"\r\n"):
            m = re.match(rb"^[*a-z] (OK|NO|BAD|BYE) (\[([A-Z-]+)[^\]]*\] )?(.*)$", line)
            if m is None:
                continue
            if m.group(3):
                self.assertIn(m.group(3).decode(), KNOWN_CODES, line)
            self.assertNotEqual(m.group(4), b"", line)

    def test_e24_response_text_is_utf8(self):
        """E 24: after ENABLE, human-readable text "can include non-ASCII
        encoded in UTF-8" (a MAY): posthorn's texts stay in ASCII, which
        is UTF-8, and a client's token in one never carries a raw byte."""
        r = self.session()
        r.send(b'a SELECT "\xc3\x84rger"\r\n')
        out = r.until("a")
        self.assertTrue(out.startswith(b"a NO [NONEXISTENT] "), out)
        out.decode("ascii")

    def test_e25_modern_tls(self):
        """E 25: TLS per RFC 8314 / RFC 7525: implicit TLS negotiates TLS
        1.2 or later."""
        self.server.stop()
        conf = self.write("posthorn.conf", """
state_dir %(d)s/state
tls self_signed
storage.sqlite local_mailboxes { }
imap tls://127.0.0.1:0 {
    auth pass_table static {
        entry bob %(hash)s
    }
    storage &local_mailboxes
}
""" % {"d": self.dir, "hash": password_hash()})
        self.server = self.start(conf)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.server.port_for("tls")), timeout=30) as raw:
            with ctx.wrap_socket(raw) as t:
                self.assertIn(t.version(), ("TLSv1.2", "TLSv1.3"))
                self.assertTrue(t.recv(4096).startswith(b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2 "))

    def test_e26_no_preauth_no_alert_before_login(self):
        """E 26: warnings about ALERT and PREAUTH before authentication:
        the greeting is OK (never PREAUTH) and carries no ALERT."""
        r = self.raw()
        self.assertRegex(r.greeting, rb"^\* OK \[CAPABILITY [^\]]+\] posthorn ready\r\n$")
        self.assertNotIn(b"ALERT", r.greeting)

    def test_e27_sasl_mechanisms(self):
        """E 27: DIGEST-MD5 is deprecated (SCRAM-SHA-256 named instead);
        AUTH=PLAIN, which 7.2.2 requires, is offered, DIGEST-MD5 never."""
        r = self.raw()
        caps = r.cmd("c", "CAPABILITY").split(b"\r\n")[0].split()
        self.assertIn(b"AUTH=PLAIN", caps)
        self.assertNotIn(b"AUTH=DIGEST-MD5", caps)

    def test_e29_no_x_capabilities(self):
        """E 29: the "X" convention for extensions is gone (BCP 178):
        posthorn advertises no X- names."""
        r = self.session()
        caps = r.cmd("c", "CAPABILITY").split(b"\r\n")[0].split()[2:]
        self.assertEqual([c for c in caps if c.upper().startswith(b"X")], [])

    def test_e30_logout_closes_after_bye(self):
        """E 30: closing connections: LOGOUT answers BYE, then OK, then
        the server closes."""
        r = self.session()
        self.assertEqual(r.cmd("z", "LOGOUT"), b"* BYE Logging out\r\nz OK LOGOUT completed\r\n")
        with self.assertRaises(EOFError):
            r.line()


class AutologoutTest(Rev2Test):
    extra = "login_timeout 1s"

    def test_e28_any_command_resets_the_timer(self):
        """E 28: "any command received from the client resets server
        autologout timer", a BAD one too: a client sending only unknown
        commands outlives a connection opened after it that times out
        (the logged-in timer is at least 30 minutes, 5.4: the same
        reset)."""
        r = self.raw()
        probe = self.raw()
        i = 0
        while not select.select([probe.sock], [], [], 0.1)[0]:
            self.assertEqual(r.cmd("n%d" % i, "BOGUS"), b'n%d BAD Unknown command "BOGUS"\r\n' % i)
            i += 1
        self.assertEqual(probe.line(), b"* BYE Autologout; idle for too long\r\n")
        self.assertEqual(r.cmd("m", "NOOP"), b"m OK NOOP completed\r\n")


class Rev2AppendLimitTest(Rev2Test):
    extra = "appendlimit 1048576"

    test_e01_64bit_sizes = AppendixETest.test_e01_64bit_sizes


del AppendixETest.test_e01_64bit_sizes


if __name__ == "__main__":
    import phtest
    phtest.main()
