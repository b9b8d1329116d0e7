# SPDX-License-Identifier: MIT
"""The imap endpoint at the edges of RFC 3501's grammar (section 9): what
the grammar allows is answered OK or NO, never BAD; every line gets an
answer; APPEND refuses before the continuation, not after the upload;
connection limits per address and per user; BAD texts that name what was
wrong. Raw sockets, exact bytes."""
import phtest
from test_imap import MSG, PASSWORD, ImapTest, Raw

# Every ATOM-CHAR (RFC 3501 9: CHAR except atom-specials), once: a valid
# atom, so a valid mailbox name on the wire; its "&'+,-" is no modified
# UTF-7 (RFC 3501 5.1.3), so no mailbox can have that name.
ATOM_CHARS = "".join(chr(c) for c in range(0x21, 0x7f) if chr(c) not in '(){%*"\\]')
BAD_MUTF7 = "Invalid modified BASE64 in mailbox name"


class AtomTest(ImapTest):
    def setUp(self):
        super().setUp()
        self.r = self.raw()
        self.r.login()

    def select_with_message(self):
        r = self.r
        r.send(b"A APPEND INBOX {%d+}\r\n" % len(MSG) + MSG + b"\r\n")
        self.assertIn(b"A OK [APPENDUID", r.until("A"))
        r.cmd("S", "SELECT INBOX")

    def test_store_nil_is_a_keyword(self):
        """RFC 3501 9: flag-keyword = atom, and NIL is an atom: a keyword
        named NIL, with or without the parentheses."""
        self.select_with_message()
        r = self.r
        out = r.cmd("a", "STORE 1 +FLAGS NIL")
        self.assertTrue(out.endswith(b"* 1 FETCH (FLAGS (\\Recent NIL))\r\na OK STORE completed\r\n"), out)
        self.assertIn(b"* 1 FETCH (FLAGS (\\Recent NIL))\r\n", r.cmd("b", "FETCH 1 FLAGS"))
        self.assertEqual(r.cmd("c", "SEARCH KEYWORD NIL"), b"* SEARCH 1\r\nc OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("d", "SEARCH UNKEYWORD nil"), b"* SEARCH\r\nd OK SEARCH completed\r\n")
        out = r.cmd("e", "STORE 1 -FLAGS (Nil)")
        self.assertTrue(out.endswith(b"* 1 FETCH (FLAGS (\\Recent))\r\ne OK STORE completed\r\n"), out)
        r.send(b"f APPEND INBOX (NIL \\Seen) {%d}\r\n" % len(MSG))
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(MSG + b"\r\n")
        self.assertRegex(r.until("f"), rb"f OK \[APPENDUID \d+ 2\] APPEND completed\r\n$")
        self.assertIn(b"FLAGS (\\Seen \\Recent NIL)", r.cmd("g", "UID FETCH 2 FLAGS"))

    def test_every_atom_char_names_no_mailbox(self):
        """RFC 3501 9: mailbox = "INBOX" / astring. An atom of every
        ATOM-CHAR is a valid mailbox argument; as no mailbox can have the
        name (RFC 3501 5.1.3), each command answers NO with the RFC 5530
        code that fits, not BAD."""
        r = self.r
        name = ATOM_CHARS
        for tag, cmd, code in [
                ("a", "SELECT %s", "NONEXISTENT"),
                ("b", "EXAMINE %s", "NONEXISTENT"),
                ("c", "STATUS %s (MESSAGES)", "NONEXISTENT"),
                ("d", "DELETE %s", "NONEXISTENT"),
                ("e", "UNSUBSCRIBE %s", "NONEXISTENT"),
                ("f", "RENAME %s Other", "NONEXISTENT"),
                ("g", "CREATE %s", "CANNOT"),
                ("h", "RENAME INBOX %s", "CANNOT"),
                ("i", "SUBSCRIBE %s", "CANNOT")]:
            self.assertEqual(r.cmd(tag, cmd % name),
                             ("%s NO [%s] %s\r\n" % (tag, code, BAD_MUTF7)).encode())
        # The same name in a literal and in a quoted string.
        r.send(b"j SELECT {%d}\r\n" % len(name))
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(name.encode() + b"\r\n")
        self.assertEqual(r.line(), ("j NO [NONEXISTENT] %s\r\n" % BAD_MUTF7).encode())
        self.assertEqual(r.cmd("k", 'SELECT "&Jjo"'),
                         b"k NO [NONEXISTENT] Unterminated &-sequence in mailbox name\r\n")
        # COPY and MOVE: no TRYCREATE, the name can never be created.
        self.select_with_message()
        for tag, cmd in [("l", "COPY"), ("m", "MOVE"), ("n", "UID COPY")]:
            self.assertEqual(r.cmd(tag, "%s 1 %s" % (cmd, name)),
                             ("%s NO [NONEXISTENT] %s\r\n" % (tag, BAD_MUTF7)).encode())
        # Still BAD: what the grammar rejects (list-wildcards, an open
        # quote, a NUL in a literal, a missing argument).
        self.assertEqual(r.cmd("o", "SELECT a%b"), b"o BAD Expected a mailbox name\r\n")
        self.assertEqual(r.cmd("p", "CREATE a*"), b"p BAD Expected a mailbox name\r\n")
        self.assertEqual(r.cmd("q", 'SELECT "INBOX').split(b" ")[:2], [b"q", b"BAD"])
        r.send(b"s SELECT {3+}\r\na\x00b\r\n")
        self.assertEqual(r.line(), b"s BAD Expected a mailbox name\r\n")
        self.assertEqual(r.cmd("t", "SELECT"), b"t BAD SELECT takes a mailbox name\r\n")

    def test_list_pattern_of_every_atom_char(self):
        """RFC 3501 6.3.8: list-mailbox is any astring or wildcard atom; a
        pattern that is no modified UTF-7 matches the names as the client
        sees them (modified UTF-7), so LIST answers OK."""
        r = self.r
        self.assertEqual(r.cmd("a", 'LIST "" %s' % ATOM_CHARS), b"a OK LIST completed\r\n")
        self.assertEqual(r.cmd("b", 'LSUB "" %s' % ATOM_CHARS), b"b OK LSUB completed\r\n")
        self.assertEqual(r.cmd("c", 'LIST %s *' % ATOM_CHARS), b"c OK LIST completed\r\n")
        self.assertEqual(r.cmd("d", "CREATE Entw&APw-rfe"), b"d OK CREATE completed\r\n")
        # "&AP*" cuts an encoded run: it matches on the wire form.
        self.assertEqual(r.cmd("e", 'LIST "" Entw&AP*'),
                         b'* LIST (\\HasNoChildren) "." Entw&APw-rfe\r\ne OK LIST completed\r\n')
        self.assertEqual(r.cmd("f", 'LIST "" Entw&*'),
                         b'* LIST (\\HasNoChildren) "." Entw&APw-rfe\r\nf OK LIST completed\r\n')

    def test_list_pattern_without_backtracking(self):
        """A pattern of many wildcards against a long name (RFC 3501
        6.3.8) is answered at once; a backtracking matcher took hours."""
        r = self.r
        name = "a" * 60
        self.assertEqual(r.cmd("a", "CREATE " + name), b"a OK CREATE completed\r\n")
        for pat in ["*a" * 20 + "*b", "%a" * 20 + "%b", "*a%" * 20 + "b"]:
            self.assertEqual(r.cmd("b", 'LIST "" "%s"' % pat), b"b OK LIST completed\r\n")
        self.assertEqual(r.cmd("c", 'LIST "" "%s"' % ("*a" * 30 + "*")),
                         b'* LIST (\\HasNoChildren) "." %s\r\nc OK LIST completed\r\n' % name.encode())
        self.assertEqual(r.cmd("d", 'LIST "" "a%%a*%%"'),
                         b'* LIST (\\HasNoChildren) "." %s\r\nd OK LIST completed\r\n' % name.encode())

    def test_section_lookalike_atoms_are_mailbox_names(self):
        """"BODY[x" and "BODY[x]y" are atoms (ASTRING-CHAR includes "["
        and "]"): valid mailbox names, not unterminated sections."""
        r = self.r
        self.assertEqual(r.cmd("a", "CREATE BODY[x"), b"a OK CREATE completed\r\n")
        self.assertEqual(r.cmd("b", "STATUS BODY[x (MESSAGES)"),
                         b"* STATUS BODY[x (MESSAGES 0)\r\nb OK STATUS completed\r\n")
        self.assertEqual(r.cmd("c", "CREATE body[x]y"), b"c OK CREATE completed\r\n")
        self.assertEqual(r.cmd("d", "STATUS body[x]y (MESSAGES)"),
                         b"* STATUS body[x]y (MESSAGES 0)\r\nd OK STATUS completed\r\n")
        self.assertEqual(r.cmd("e", "SELECT BINARY[1]<"), b"e NO [NONEXISTENT] Mailbox does not exist\r\n")

    def test_search_keys_of_any_astring(self):
        """RFC 3501 9: header-fld-name = astring. A field name no header
        can have matches no message; NOT of it matches every message."""
        self.select_with_message()
        r = self.r
        self.assertEqual(r.cmd("a", 'SEARCH HEADER "" x'), b"* SEARCH\r\na OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("b", 'SEARCH HEADER "Sub ject" hello'),
                         b"* SEARCH\r\nb OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("c", 'SEARCH NOT HEADER "a:b" ""'),
                         b"* SEARCH 1\r\nc OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("d", "SEARCH HEADER Subject hello"),
                         b"* SEARCH 1\r\nd OK SEARCH completed\r\n")

    def test_id_takes_strings_and_nstrings(self):
        """RFC 2971: id-params-list = "(" *(string SP nstring) ")" / nil."""
        r = self.r
        self.assertEqual(r.cmd("a", 'ID ("name" NIL "os" "x")'),
                         b'* ID ("name" "posthorn")\r\na OK ID completed\r\n')
        self.assertEqual(r.cmd("b", "ID ()"), b'* ID ("name" "posthorn")\r\nb OK ID completed\r\n')
        self.assertEqual(r.cmd("c", 'ID ("name" foo)'),
                         b"c BAD ID values are strings or NIL (RFC 2971)\r\n")
        self.assertEqual(r.cmd("d", 'ID (name "foo")'),
                         b"d BAD ID field names are strings (RFC 2971)\r\n")


class EmptyLineTest(ImapTest):
    def test_every_line_gets_an_answer(self):
        """RFC 3501 7.1.3: a line whose command cannot be determined gets
        an untagged BAD; a client that sends one is never left waiting."""
        r = self.raw()
        for line in [b"\r\n", b"\n", b"   \r\n", b" \t \r\n"]:
            r.send(line)
            self.assertTrue(r.line().startswith(b"* BAD "), line)
        r.send(b"\r\n")
        self.assertEqual(r.line(), b"* BAD Empty command line\r\n")
        self.assertEqual(r.cmd("a", ""), b"a BAD Missing command\r\n")
        self.assertEqual(r.cmd("b", "  "), b"b BAD Missing command\r\n")
        r.login()
        r.cmd("s", "SELECT INBOX")
        r.send(b"\r\nc NOOP\r\n")
        self.assertEqual(r.line(), b"* BAD Empty command line\r\n")
        self.assertEqual(r.line(), b"c OK NOOP completed\r\n")


class AppendCheckTest(ImapTest):
    extra = "appendlimit 1K"

    def setUp(self):
        super().setUp()
        self.r = self.raw()
        self.r.login()

    def refused_before_continuation(self, tag, args, answer, size=5):
        """A synchronizing literal refused: the answer comes instead of
        "+", and the next line is read as a command (RFC 3501 7.5: the
        client sends no literal after a tagged NO or BAD)."""
        r = self.r
        r.send(b"%s APPEND %s {%d}\r\n" % (tag.encode(), args, size))
        self.assertEqual(r.line(), b"%s %s\r\n" % (tag.encode(), answer))
        self.assertEqual(r.cmd(tag + "n", "NOOP"), b"%sn OK NOOP completed\r\n" % tag.encode())

    def test_appends_refused_before_the_continuation(self):
        SHAPE = (b"BAD APPEND takes a mailbox, then for each message optional flags and date and "
                 b"a literal or CATENATE (TEXT literal / URL url ...)")
        self.refused_before_continuation(
            "a", b"INBOX (\\Seen \\Recent)",
            b'BAD Invalid flag "\\Recent" in APPEND: \\Recent is set by the server only')
        self.refused_before_continuation(
            "b", b'INBOX "99-Xyz-2026 00:00:00 +0000"',
            b'BAD Invalid date-time "99-Xyz-2026 00:00:00 +0000": expected "dd-Mon-yyyy hh:mm:ss +zzzz"')
        self.refused_before_continuation("c", b"Nope", b"NO [TRYCREATE] Mailbox does not exist")
        self.refused_before_continuation("d", ATOM_CHARS.encode(), b"NO [NONEXISTENT] " + BAD_MUTF7.encode())
        self.refused_before_continuation(
            "e", b"INBOX", b"NO [TOOBIG] Message larger than the limit of 1024 bytes", size=2000)
        self.refused_before_continuation("f", b"INBOX", b"NO [CANNOT] Empty message", size=0)
        self.refused_before_continuation(
            "g", b"INBOX NIL",
            SHAPE)
        self.refused_before_continuation(
            "h", b'INBOX (\\Seen) " 7-Feb-1994 21:52:25 -0800" x',
            SHAPE)
        self.refused_before_continuation("i", b"INBOX (\\Seen (x))",
                                         b"BAD Invalid flag in APPEND: a list is no flag")
        self.refused_before_continuation("j", b"a%b", b"BAD Expected a mailbox name")
        # Nothing was stored.
        self.assertEqual(self.r.cmd("k", "STATUS INBOX (MESSAGES)"),
                         b"* STATUS INBOX (MESSAGES 0)\r\nk OK STATUS completed\r\n")

    def test_valid_append_still_gets_the_continuation(self):
        r = self.r
        r.send(b'a APPEND INBOX (\\Seen $Label) " 7-Feb-1994 21:52:25 -0800" {%d}\r\n' % len(MSG))
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(MSG + b"\r\n")
        self.assertRegex(r.line(), rb"^a OK \[APPENDUID \d+ 1\] APPEND completed\r\n$")

    def test_refused_nonsync_literal_is_read_and_discarded(self):
        """RFC 7888 4: a non-synchronizing literal comes anyway; its bytes
        are read and dropped, never taken for commands (the answer may come
        before them: "The server is allowed to send the tagged BAD/NO
        response before reading the whole non-synchronizing literal")."""
        r = self.r
        data = b"z1 NOOP\r\n"  # taken for a command, it would be answered
        r.send(b"a APPEND Nope {%d+}\r\n" % len(data) + data[:4])
        self.assertEqual(r.line(), b"a NO [TRYCREATE] Mailbox does not exist\r\n")
        r.send(data[4:] + b"\r\nb NOOP\r\n")
        self.assertEqual(r.line(), b"b OK NOOP completed\r\n")
        r.send(b'c APPEND INBOX (\\Bogus) {%d+}\r\n' % len(data) + data + b"\r\nd NOOP\r\n")
        self.assertEqual(r.line(), b'c BAD Invalid flag "\\Bogus" in APPEND: no such system flag\r\n')
        self.assertEqual(r.line(), b"d OK NOOP completed\r\n")

    def test_second_message_literal_is_multiappend(self):
        """RFC 3502: a second message literal is the second message of one
        APPEND (it was refused while MULTIAPPEND was not offered)."""
        r = self.r
        r.send(b"a APPEND INBOX {3+}\r\nabc {3}\r\n")
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(b"def\r\n")
        self.assertRegex(r.line(), rb"^a OK \[APPENDUID \d+ 1:2\] APPEND completed\r\n$")
        r.send(b"b APPEND INBOX {%d}\r\n" % len(MSG))
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(MSG + b"\r\n")
        self.assertRegex(r.line(), rb"^b OK \[APPENDUID \d+ 3\] APPEND completed\r\n$")


class LiteralRefusalTest(ImapTest):
    """RFC 3501 7.5: the server refuses a command before "+" when it knows
    it will refuse it; the client then sends no literal."""

    def setUp(self):
        super().setUp()
        self.server.stop()
        self.servers.remove(self.server)
        with open(self.conf) as f:
            text = f.read().replace("insecure_auth yes", "insecure_auth no")
        with open(self.conf, "w") as f:
            f.write(text)
        self.server = self.start(self.conf)

    def test_commands_refused_before_the_continuation(self):
        r = self.raw()
        for tag, line, answer in [
                ("a", b"a FROB {5}\r\n", b'a BAD Unknown command "FROB"\r\n'),
                ("b", b"b SELECT {5}\r\n", b"b BAD Log in first\r\n"),
                ("c", b"c APPEND {5}\r\n", b"c BAD Log in first\r\n"),
                # No password in the clear where plaintext logins are off.
                ("d", b"d LOGIN {3}\r\n",
                 b"d NO [PRIVACYREQUIRED] Plaintext authentication is disabled: "
                 b"use STARTTLS or a TLS port first\r\n")]:
            r.send(line)
            self.assertEqual(r.line(), answer)
            self.assertEqual(r.cmd(tag + "n", "NOOP"), b"%sn OK NOOP completed\r\n" % tag.encode())
        # A non-synchronizing literal is read and dropped, never a command.
        r.send(b"e LOGIN bob {9+}\r\nz1 NOOP\r\n\r\nf NOOP\r\n")
        self.assertTrue(r.line().startswith(b"e NO [PRIVACYREQUIRED] "))
        self.assertEqual(r.line(), b"f OK NOOP completed\r\n")


class StateRefusalTest(ImapTest):
    def test_logged_in_commands_refused_before_the_continuation(self):
        r = self.raw()
        r.login()
        r.send(b"a LOGIN {3}\r\n")
        self.assertEqual(r.line(), b"a BAD Already logged in\r\n")
        r.send(b"b COPY 1 {4}\r\n")
        self.assertEqual(r.line(), b"b BAD No mailbox selected\r\n")
        self.assertEqual(r.cmd("c", "NOOP"), b"c OK NOOP completed\r\n")


class ConnectionLimitTest(ImapTest):
    users = ("bob", "carol")

    def login(self, r, user, tag="L"):
        return r.cmd(tag, 'LOGIN %s "%s"' % (user, PASSWORD))

    def test_sixty_clients_from_one_address(self):
        """One address is many users (NAT, a webmail front-end): 60
        connections are greeted; the limit that bites is per user and
        address (default 10), answered at login with NO [LIMIT] (RFC
        5530) while other users log in."""
        conns = [self.raw() for _ in range(60)]
        for c in conns:
            self.assertTrue(c.greeting.startswith(b"* OK [CAPABILITY "), c.greeting)
        for c in conns[:10]:
            self.assertIn(b"L OK [CAPABILITY", self.login(c, "bob"))
        self.assertEqual(
            self.login(conns[10], "bob"),
            b"L NO [LIMIT] Too many connections of this user from this address "
            b"(max_user_connections_per_ip 10)\r\n")
        # AUTHENTICATE gets the same answer; the connection stays usable.
        plain = b"AGJvYgBzM2NyZXQgcHc="  # "\0bob\0s3cret pw"
        self.assertEqual(conns[10].cmd("A", "AUTHENTICATE PLAIN %s" % plain.decode()),
                         b"A NO [LIMIT] Too many connections of this user from this address "
                         b"(max_user_connections_per_ip 10)\r\n")
        self.assertIn(b"L OK [CAPABILITY", self.login(conns[11], "carol"))
        # A LOGOUT frees the slot once the server has closed the
        # connection (the event: EOF on the socket).
        self.assertEqual(conns[0].cmd("x", "LOGOUT"), b"* BYE Logging out\r\nx OK LOGOUT completed\r\n")
        self.assertEqual(conns[0].sock.recv(10), b"")
        self.assertIn(b"L OK [CAPABILITY", self.login(conns[10], "bob"))
        self.assertTrue(self.login(conns[12], "bob").startswith(b"L NO [LIMIT] "))
        self.assertIn(b"result=refused user=bob client=127.0.0.1 mech=LOGIN "
                      b"reason=\"max_user_connections_per_ip (10) reached\"",
                      self.server.log_text().encode())


class UnauthenticatedLimitTest(ImapTest):
    extra = "max_connections_per_ip 3\n    max_user_connections_per_ip 2"
    users = ("bob", "carol")

    def test_per_address_cap_counts_unauthenticated_connections(self):
        """max_connections_per_ip bounds the connections of one address
        that have not logged in; logged-in ones count per user."""
        logged = [self.raw() for _ in range(3)]
        logged[0].login("bob")
        logged[1].login("bob")
        logged[2].login("carol")
        waiting = [self.raw() for _ in range(3)]
        for c in waiting:
            self.assertTrue(c.greeting.startswith(b"* OK "), c.greeting)
        r = Raw(self.port)
        self.addCleanup(r.close)
        self.assertEqual(r.greeting, b"* BYE Too many connections\r\n")
        self.assertTrue(waiting[0].cmd("L", 'LOGIN bob "%s"' % PASSWORD).startswith(
            b"L NO [LIMIT] Too many connections of this user from this address "
            b"(max_user_connections_per_ip 2)"))
        self.assertIn(b"L OK", waiting[1].cmd("L", 'LOGIN carol "%s"' % PASSWORD))
        # waiting[1] logged in: a place for one more unauthenticated one.
        r2 = self.raw()
        self.assertTrue(r2.greeting.startswith(b"* OK "), r2.greeting)


class NoUserLimitTest(ImapTest):
    extra = "max_user_connections_per_ip 0"

    def test_zero_is_no_limit(self):
        conns = [self.raw() for _ in range(12)]
        for c in conns:
            c.login()

    def test_bad_value_is_a_config_error(self):
        path = self.write("p.conf", """
state_dir %s
imap tcp://127.0.0.1:9993 {
    auth pass_table static { entry bob x }
    storage sqlite { }
    max_user_connections_per_ip -1
}
""" % self.dir)
        rc, out, err = phtest.posthorn("check-config", "--config", path)
        self.assertNotEqual(rc, 0)
        self.assertIn('%s:6: bad value "-1" for "max_user_connections_per_ip" in imap block: '
                      "expected an integer from 0 to 1000000" % path, err)


class BadTextTest(ImapTest):
    def setUp(self):
        super().setUp()
        self.r = self.raw()
        self.r.login()
        self.r.send(b"A APPEND INBOX {%d+}\r\n" % len(MSG) + MSG + b"\r\n")
        self.r.until("A")
        self.r.cmd("S", "SELECT INBOX")

    def test_bad_names_what_was_wrong(self):
        r = self.r
        for tag, cmd, answer in [
                ("a", "FETCH 1 BODY[FOO]",
                 'BAD Invalid FETCH item "BODY[FOO]": Unknown section text (expected HEADER, '
                 'HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME)'),
                ("b", "FETCH 1 (FLAGS FOO UID)", 'BAD Invalid FETCH item "FOO"'),
                ("c", "FETCH 1 ()", "BAD Empty FETCH item list"),
                ("d", "FETCH 1 BODY[]<1>", 'BAD Invalid FETCH item "BODY[]<1>": expected '
                 "<offset.length> (length > 0) after the section"),
                ("d2", "FETCH 1 (UID NIL)", 'BAD Invalid FETCH item "NIL"'),
                ("d3", 'FETCH 1 (UID "x")', "BAD Invalid FETCH item: a list or string is no FETCH item"),
                ("d4", "FETCH 1 (%s)" % " ".join(["UID"] * 65), "BAD Too many FETCH items (at most 64)"),
                ("d5", "FETCH 2 FLAGS", "BAD Invalid message sequence number (the mailbox has 1 message)"),
                ("e", "FETCH 1", "BAD FETCH takes a sequence set and items"),
                ("f", "STATUS INBOX (MESSAGES FOO)", 'BAD Unknown STATUS item "FOO"'),
                ("g", "STORE 1 +FLAGS (\\Recent)",
                 'BAD Invalid flag "\\Recent": \\Recent is set by the server only'),
                ("h", "STORE 1 +FLAGS (\\Bogus)", 'BAD Invalid flag "\\Bogus": no such system flag'),
                ("i", 'STORE 1 +FLAGS ("x")', 'BAD Invalid flag: a string is no flag'),
                ("j", "STORE 1 +FLAGZ (\\Seen)", 'BAD Unknown STORE item "+FLAGZ"'),
                ("k", "FROB", 'BAD Unknown command "FROB"'),
                ("l", "UID FROB 1", 'BAD Unknown UID command "FROB"'),
                ("m", "FETCH 1 " + "X" * 200, 'BAD Invalid FETCH item "' + "X" * 60 + '..."')]:
            self.assertEqual(r.cmd(tag, cmd), ("%s %s\r\n" % (tag, answer)).encode())


if __name__ == "__main__":
    phtest.main()
