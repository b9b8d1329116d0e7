# SPDX-License-Identifier: MIT
"""The imap endpoint at the edges of RFC 3501's grammar (section 9): what
the grammar allows is answered OK or NO, never BAD; every line gets an
answer; APPEND refuses before the continuation, not after the upload;
connection limits per address and per user; BAD texts that name what was
wrong. Raw sockets, exact bytes."""
import re
import socket

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


if __name__ == "__main__":
    phtest.main()
