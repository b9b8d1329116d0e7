# SPDX-License-Identifier: MIT
"""UTF8=ACCEPT (RFC 6855) through the real binary, byte for byte: after
"ENABLE UTF8=ACCEPT" mailbox names are UTF-8 on the wire (quoted strings,
no modified UTF-7), APPEND takes "UTF8 (~{n}...)" and UTF-8 headers come
back as they went in; before it, a session sees the same names in modified
UTF-7.

test_utf8_pgsql.py runs these classes on storage.pgsql too."""
import re

from test_imap import ImapTest


def no_id(answer):
    """The answer without OBJECTID's MAILBOXID (RFC 8474 4.1, 4.2: CREATE's
    and SELECT's codes): these tests are about names, not ids."""
    answer = re.sub(rb"\* OK \[MAILBOXID \([^)]*\)\] Ok\r\n", b"", answer)
    return re.sub(rb"\[MAILBOXID \([^)]*\)\] ", b"", answer)

AERGER = "Ärger".encode()            # U+00C4: precomposed, NFC
AERGER_NFD = "A\u0308rger".encode()  # the same, decomposed: not NFC
AERGER_MUTF7 = b"&AMQ-rger"
SUBJECT = "Grüße aus Köln".encode()
UTF8_MSG = (b"From: J\xc3\xbcrgen <j\xc3\xbcrgen@example.org>\r\nTo: bob@example.org\r\n"
            b"Subject: " + SUBJECT + b"\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
            b"Message-ID: <utf8@example.org>\r\n\r\nHallo\r\n")


class Utf8Test(ImapTest):
    maxDiff = None

    def session(self, enable=True):
        r = self.raw()
        r.login()
        if enable:
            self.assertEqual(r.cmd("e", "ENABLE UTF8=ACCEPT"),
                             b"* ENABLED UTF8=ACCEPT\r\ne OK ENABLE completed\r\n")
        return r

    def cmd(self, r, tag, line):
        r.send(tag.encode() + b" " + line + b"\r\n")
        return r.until(tag)


class EnableTest(Utf8Test):
    def test_enable_utf8_accept_once(self):
        """RFC 5161 3.1: the ENABLED response lists what this ENABLE turned
        on: UTF8=ACCEPT the first time, nothing the second."""
        r = self.session()
        self.assertEqual(r.cmd("f", "ENABLE UTF8=ACCEPT"), b"* ENABLED\r\nf OK ENABLE completed\r\n")

    def test_enable_before_login_is_refused(self):
        """RFC 6855 3: "The "ENABLE UTF8=ACCEPT" command is only valid in
        the authenticated state"."""
        r = self.raw()
        self.assertEqual(r.cmd("e", "ENABLE UTF8=ACCEPT"), b"e BAD Log in first\r\n")


class MailboxNameTest(Utf8Test):
    def test_utf8_names_on_the_wire_after_enable(self):
        """RFC 6855 3: after ENABLE the server "can provide UTF-8 responses
        to the "LIST" and "LSUB" commands" and takes UTF8-quoted mailbox
        names in CREATE, STATUS, SELECT, SUBSCRIBE, RENAME."""
        r = self.session()
        self.assertEqual(no_id(self.cmd(r, "c", b'CREATE "' + AERGER + b'"')), b"c OK CREATE completed\r\n")
        self.assertEqual(self.cmd(r, "l", b'LIST "" "' + AERGER + b'"'),
                         b'* LIST (\\HasNoChildren) "." "' + AERGER + b'"\r\nl OK LIST completed\r\n')
        self.assertEqual(self.cmd(r, "s", b'STATUS "' + AERGER + b'" (MESSAGES UIDNEXT)'),
                         b'* STATUS "' + AERGER + b'" (MESSAGES 0 UIDNEXT 1)\r\ns OK STATUS completed\r\n')
        self.assertEqual(self.cmd(r, "b", b'SUBSCRIBE "' + AERGER + b'"'), b"b OK SUBSCRIBE completed\r\n")
        self.assertEqual(self.cmd(r, "u", b'LSUB "" "\xc3\x84*"'),
                         b'* LSUB () "." "' + AERGER + b'"\r\nu OK LSUB completed\r\n')
        out = self.cmd(r, "x", b'SELECT "' + AERGER + b'"')
        self.assertTrue(no_id(out).endswith(b"x OK [READ-WRITE] SELECT completed\r\n"), out)
        self.assertEqual(self.cmd(r, "n", b'RENAME "' + AERGER + b'" "\xe2\x82\xacuro"'),
                         b"n OK RENAME completed\r\n")
        self.assertEqual(self.cmd(r, "m", b'LIST "" "\xe2\x82\xac*"'),
                         b'* LIST (\\HasNoChildren) "." "\xe2\x82\xacuro"\r\n'
                         b"m OK LIST completed\r\n")

    def test_session_without_enable_sees_modified_utf7(self):
        """RFC 6855 3: "The IMAP server MUST NOT send UTF-8 in
        quoted-strings to the client unless the client has indicated
        support"; the name made by a UTF-8 client is modified UTF-7 (RFC
        3501 5.1.3) to the others, and the other way round."""
        u = self.session()
        self.assertEqual(no_id(self.cmd(u, "c", b'CREATE "' + AERGER + b'"')), b"c OK CREATE completed\r\n")
        old = self.session(enable=False)
        self.assertEqual(old.cmd("l", 'LIST "" "&AMQ-*"'),
                         b'* LIST (\\HasNoChildren) "." ' + AERGER_MUTF7 + b"\r\nl OK LIST completed\r\n")
        self.assertEqual(no_id(old.cmd("c", "CREATE &AMQ-rger.&ZeVnLA-")), b"c OK CREATE completed\r\n")
        self.assertEqual(self.cmd(u, "l", b'LIST "" "' + AERGER + b'.*"'),
                         b'* LIST (\\HasNoChildren) "." "' + AERGER + b'.\xe6\x97\xa5\xe6\x9c\xac"\r\n'
                         b"l OK LIST completed\r\n")
        # Before ENABLE a quoted UTF-8 name is what it was: no modified UTF-7.
        self.assertEqual(self.cmd(old, "d", b'CREATE "' + AERGER + b'2"'),
                         b"d NO [CANNOT] Invalid character in mailbox name\r\n")

    def test_ampersand_is_itself_after_enable(self):
        """RFC 9051 5.1 / 6855 3: no modified UTF-7 for a UTF-8 client, so
        "&" is an ampersand; a legacy client sees it as "&-"."""
        u = self.session()
        self.assertEqual(no_id(u.cmd("c", 'CREATE "Tom&Jerry"')), b"c OK CREATE completed\r\n")
        self.assertEqual(u.cmd("l", 'LIST "" Tom*'),
                         b'* LIST (\\HasNoChildren) "." Tom&Jerry\r\nl OK LIST completed\r\n')
        old = self.session(enable=False)
        self.assertEqual(old.cmd("l", 'LIST "" Tom*'),
                         b'* LIST (\\HasNoChildren) "." Tom&-Jerry\r\nl OK LIST completed\r\n')

    def test_invalid_utf8_in_a_quoted_string_is_bad(self):
        """RFC 6855 3: "the server MUST reject, with a "BAD" response, any
        octet sequences with the high bit set that fail to comply with the
        formal syntax requirements of UTF-8" (here a lone continuation
        byte, a truncated sequence, an overlong "/" and a surrogate), in a
        mailbox name and in any other quoted string."""
        r = self.session()
        for i, bad in enumerate([b"\x80", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80"]):
            self.assertEqual(self.cmd(r, "c%d" % i, b'CREATE "x' + bad + b'"'),
                             b"c%d BAD Quoted string is not valid UTF-8\r\n" % i)
        self.assertEqual(self.cmd(r, "i", b'ID ("name" "\xff")'),
                         b"i BAD Quoted string is not valid UTF-8\r\n")
        self.assertEqual(self.cmd(r, "j", b'ID ("name" "\xc3\xa9")'),
                         b'* ID ("name" "posthorn")\r\nj OK ID completed\r\n')

    def test_invalid_utf8_in_a_literal_name_is_no(self):
        """A literal is no quoted string: its bytes are syntax, the name is
        what cannot exist (RFC 5530 CANNOT, NONEXISTENT)."""
        r = self.session()
        self.assertEqual(self.cmd(r, "c", b"CREATE {2+}\r\nx\xff"),
                         b"c NO [CANNOT] Mailbox name is not valid UTF-8\r\n")
        self.assertEqual(self.cmd(r, "s", b"STATUS {2+}\r\nx\xff (MESSAGES)"),
                         b"s NO [NONEXISTENT] Mailbox name is not valid UTF-8\r\n")

    def test_names_outside_net_unicode_cannot_be_created(self):
        """RFC 6855 3: mailbox names "MUST NOT contain control characters
        (U+0000-U+001F and U+0080-U+009F), a delete character (U+007F), a
        line separator (U+2028), or a paragraph separator (U+2029)"; RFC
        9051 5.1: the server "MUST prohibit the creation of 8-bit mailbox
        names that do not comply with Net-Unicode" (NFC, RFC 5198 2)."""
        r = self.session()
        for i, name in enumerate([b"a\x7fb", b"a\xc2\x85b", b"a\xe2\x80\xa8b", b"a\xe2\x80\xa9b", b"a\x01b"]):
            self.assertEqual(self.cmd(r, "c%d" % i, b'CREATE "' + name + b'"'),
                             b"c%d NO [CANNOT] Control character or line separator in mailbox name\r\n" % i)
        self.assertEqual(self.cmd(r, "n", b'CREATE "' + AERGER_NFD + b'"'),
                         b"n NO [CANNOT] Mailbox name is not in Unicode Normalization Form C\r\n")
        self.assertEqual(self.cmd(r, "m", b'RENAME INBOX "' + AERGER_NFD + b'"'),
                         b"m NO [CANNOT] Mailbox name is not in Unicode Normalization Form C\r\n")
        self.assertEqual(r.cmd("l", 'LIST "" a*'), b"l OK LIST completed\r\n")


class SearchTest(Utf8Test):
    def test_search_with_charset_is_bad_after_enable(self):
        """RFC 6855 3: after ENABLE UTF8=ACCEPT a client "MUST NOT issue a
        "SEARCH" command that contains a charset specification ... it
        SHOULD reject the command with a "BAD" response"; a UTF-8 quoted
        string searches without one. Before ENABLE, CHARSET works as
        ever."""
        old = self.session(enable=False)
        r = self.session()
        out = self.cmd(r, "a", b"APPEND INBOX UTF8 (~{%d+}\r\n" % len(UTF8_MSG) + UTF8_MSG + b")")
        self.assertRegex(out, rb"^a OK \[APPENDUID \d+ 1\] APPEND completed\r\n$")
        self.assertIn(b"s OK", self.cmd(r, "s", b"SELECT INBOX"))
        self.assertEqual(self.cmd(r, "f", b'SEARCH SUBJECT "K\xc3\xb6ln"'),
                         b"* SEARCH 1\r\nf OK SEARCH completed\r\n")
        self.assertEqual(self.cmd(r, "g", b'SEARCH CHARSET UTF-8 SUBJECT "K\xc3\xb6ln"'),
                         b"g BAD No CHARSET after ENABLE UTF8=ACCEPT\r\n")
        self.assertEqual(self.cmd(r, "h", b'UID SEARCH RETURN (COUNT) CHARSET US-ASCII ALL'),
                         b"h BAD No CHARSET after ENABLE UTF8=ACCEPT\r\n")
        self.assertEqual(no_id(self.cmd(old, "s", b"SELECT INBOX"))[-36:], b"s OK [READ-WRITE] SELECT completed\r\n")
        self.assertEqual(self.cmd(old, "f", b"SEARCH CHARSET UTF-8 SUBJECT {5+}\r\nK\xc3\xb6ln"),
                         b"* SEARCH 1\r\nf OK SEARCH completed\r\n")


class AppendTest(Utf8Test):
    def test_append_utf8_data_item_and_headers_unchanged(self):
        """RFC 6855 4: "append-data =/ utf8-literal", utf8-literal = "UTF8"
        SP "(" literal8 ")"; the UTF-8 header comes back as it went in."""
        r = self.session()
        # A synchronizing literal8: "+" first, then the message.
        r.send(b"a APPEND INBOX (\\Seen) UTF8 (~{%d}\r\n" % len(UTF8_MSG))
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(UTF8_MSG + b")\r\n")
        self.assertRegex(r.until("a"), rb"^a OK \[APPENDUID \d+ 1\] APPEND completed\r\n$")
        self.assertIn(b"s OK", self.cmd(r, "s", b"SELECT INBOX"))
        self.assertEqual(self.cmd(r, "f", b"FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"),
                         b"* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[HEADER.FIELDS (SUBJECT)] {%d}\r\n"
                         b"Subject: " % (len(SUBJECT) + 13) + SUBJECT + b"\r\n\r\n)\r\n"
                         b"f OK FETCH completed\r\n")
        self.assertEqual(self.cmd(r, "g", b"FETCH 1 BODY.PEEK[]"),
                         b"* 1 FETCH (BODY[] {%d}\r\n" % len(UTF8_MSG) + UTF8_MSG + b")\r\ng OK FETCH completed\r\n")

    def test_8bit_headers_without_enable_go_in_as_before(self):
        """RFC 6855 4 says a server "MUST reject, with a "NO" response, an
        "APPEND" command that includes any 8-bit character in message
        header fields" from a client that did not ENABLE UTF8=ACCEPT.
        posthorn does not: clients that append such mail without ENABLE
        (copies of old mail with raw 8-bit headers: test_upgrade.py's
        stores, the stress checker's clients) kept working before
        UTF8=ACCEPT was advertised and keep working; the message is kept
        byte for byte, in either form of APPEND."""
        old = self.session(enable=False)
        self.assertRegex(self.cmd(old, "a", b"APPEND INBOX {%d+}\r\n" % len(UTF8_MSG) + UTF8_MSG),
                         rb"^a OK \[APPENDUID \d+ 1\] APPEND completed\r\n$")
        self.assertRegex(self.cmd(old, "b", b"APPEND INBOX UTF8 (~{%d+}\r\n" % len(UTF8_MSG) + UTF8_MSG + b")"),
                         rb"^b OK \[APPENDUID \d+ 2\] APPEND completed\r\n$")
        self.assertIn(b"OK", old.cmd("s", "EXAMINE INBOX"))
        self.assertEqual(self.cmd(old, "f", b"FETCH 2 BODY.PEEK[]"),
                         b"* 2 FETCH (BODY[] {%d}\r\n" % len(UTF8_MSG) + UTF8_MSG + b")\r\nf OK FETCH completed\r\n")

    def test_utf8_data_item_shapes(self):
        """utf8-literal takes exactly one literal8 in parentheses; a
        literal8 anywhere else is refused before the client sends it."""
        r = self.session()
        self.assertEqual(self.cmd(r, "a", b'APPEND INBOX UTF8 ("x")'),
                         b"a BAD UTF8 takes a list of one literal8 (~{n})\r\n")
        self.assertEqual(self.cmd(r, "b", b"APPEND INBOX UTF8 ({3+}\r\nabc)"),
                         b"b BAD UTF8 takes a list of one literal8 (~{n})\r\n")
        r.send(b"c SELECT ~{5}\r\n")
        self.assertEqual(r.line(), b"c BAD A binary literal (~{n}) is only allowed for APPEND's message\r\n")
        self.assertEqual(r.cmd("d", "NOOP"), b"d OK NOOP completed\r\n")


if __name__ == "__main__":
    import phtest
    phtest.main()
