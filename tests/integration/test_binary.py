# SPDX-License-Identifier: MIT
"""BINARY (RFC 3516, RFC 9051 6.4.5 and 7.5.2) through the real binary,
byte for byte: FETCH BINARY[section]<partial>, BINARY.PEEK and
BINARY.SIZE with base64 and quoted-printable decoded, literal8 for
decoded data with NUL, [UNKNOWN-CTE], and the mime corpus decoded as
Python decodes it.

test_binary_pgsql.py runs these classes on storage.pgsql too."""
import base64
import email
import email.errors
import email.policy
import os
import re

import phtest
from test_imap_state import StateTest

BLOB = bytes(range(256)) * 3  # NUL and every other octet
BIG = os.urandom(3 << 20)      # decodes to more than the in-memory bound


def b64_lines(data):
    enc = base64.b64encode(data)
    return b"".join(enc[i:i + 76] + b"\r\n" for i in range(0, len(enc), 76))


MIXED = (b"From: a@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
         b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
         b"caf=C3=A9 with a soft =\r\nbreak, trailing  \r\nspace=3D\r\n"
         b"--XX\r\nContent-Type: application/octet-stream\r\n"
         b"Content-Transfer-Encoding: base64\r\n\r\n" + b64_lines(BLOB) +
         b"--XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: BASE64\r\n\r\n" +
         b64_lines(b"one\ntwo\r\nthree\n") +
         b"--XX\r\nContent-Type: application/x-thing\r\n"
         b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\nend\r\n"
         b"--XX\r\nContent-Type: message/rfc822\r\n\r\n"
         b"Subject: inner\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
         b64_lines(b"inner body") +
         b"--XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
         b"plain \xc3\xa9\r\n"
         b"--XX--\r\n")

SINGLE = (b"From: a@example.org\r\nSubject: single\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: application/octet-stream\r\n"
          b"Content-Transfer-Encoding: base64\r\n\r\n" + b64_lines(b"\x00one\x01"))

LARGE = (b"From: a@example.org\r\nSubject: large\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=YY\r\n\r\n"
         b"--YY\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
         b"--YY\r\nContent-Type: application/octet-stream\r\n"
         b"Content-Transfer-Encoding: base64\r\n\r\n" + b64_lines(BIG) + b"--YY--\r\n")


def literal(data, binary=False):
    return b"%s{%d}\r\n%s" % (b"~" if binary else b"", len(data), data)


class BinaryTest(StateTest):
    extra = "debug yes\n    appendlimit 20M"

    def setUp(self):
        super().setUp()
        self.fill_with(MIXED, SINGLE)

    def fill_with(self, *msgs):
        c = self.client()
        for m in msgs:
            typ, data = c.append("INBOX", None, None, m)
            self.assertEqual(typ, "OK", data)
        c.select("INBOX")
        c.close()

    def test_capability_names_binary(self):
        r = self.raw()
        r.login()
        # RFC 3516 4.1: servers "MUST include "BINARY" in the response list
        # to the CAPABILITY command".
        self.assertRegex(r.cmd("c", "CAPABILITY"), rb"^\* CAPABILITY [^\r]* BINARY ")

    def test_quoted_printable_decoded(self):
        r, _ = self.session()
        # RFC 2045 6.7: =XX, soft line breaks, trailing white space dropped.
        body = "café with a soft break, trailing\r\nspace=".encode()
        self.assertEqual(r.cmd("a", "FETCH 1 (BINARY.PEEK[1])"),
                         b"* 1 FETCH (BINARY[1] " + literal(body) + b")\r\na OK FETCH completed\r\n")
        self.assertEqual(r.cmd("b", "FETCH 1 (BINARY.SIZE[1])"),
                         b"* 1 FETCH (BINARY.SIZE[1] %d)\r\nb OK FETCH completed\r\n" % len(body))

    def test_base64_with_nul_is_literal8(self):
        r, _ = self.session()
        # RFC 3516 4.3: "<nstring> or <literal8>"; a string only for data
        # without NUL, so this one is "~{n}".
        self.assertEqual(r.cmd("a", "FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])"),
                         b"* 1 FETCH (BINARY.SIZE[2] 768 BINARY[2] " + literal(BLOB, True) +
                         b")\r\na OK FETCH completed\r\n")
        # Partials count decoded octets (4.2), "<" origin ">" in the answer.
        self.assertEqual(r.cmd("b", "UID FETCH 1 (UID BINARY.PEEK[2]<254.4>)"),
                         b"* 1 FETCH (UID 1 BINARY[2]<254> " + literal(b"\xfe\xff\x00\x01", True) +
                         b")\r\nb OK FETCH completed\r\n")
        self.assertEqual(r.cmd("c", "FETCH 1 BINARY.PEEK[2]<800.10>"),
                         b"* 1 FETCH (BINARY[2]<800> ~{0}\r\n)\r\nc OK FETCH completed\r\n")

    def test_text_gets_crlf_line_ends(self):
        r, _ = self.session()
        # RFC 9051 7.5.2: "textual line-oriented sections are always
        # transmitted using the IMAP CRLF line termination syntax".
        self.assertEqual(r.cmd("a", "FETCH 1 (BINARY.PEEK[3] BINARY.SIZE[3])"),
                         b"* 1 FETCH (BINARY[3] " + literal(b"one\r\ntwo\r\nthree\r\n") +
                         b" BINARY.SIZE[3] 17)\r\na OK FETCH completed\r\n")

    def test_unknown_encoding_fails_with_unknown_cte(self):
        r, _ = self.session()
        # RFC 3516 4.3: "If the server does not know how to decode the
        # section's CTE, it MUST fail the request and issue a "NO" response
        # that contains the "UNKNOWN-CTE" extended response code." No FETCH
        # response goes out for the message; the others are answered.
        no = b"NO [UNKNOWN-CTE] Cannot decode the Content-Transfer-Encoding of a section\r\n"
        self.assertEqual(r.cmd("a", "FETCH 1 (FLAGS BINARY.PEEK[4])"), b"a " + no)
        self.assertEqual(r.cmd("b", "FETCH 1:2 BINARY.SIZE[4]"),
                         b"* 2 FETCH (BINARY.SIZE[4] 0)\r\nb " + no)
        # The encoding is no part of BODY[]: that still works.
        self.assertEqual(r.cmd("c", "FETCH 1 BODY.PEEK[4]"),
                         b"* 1 FETCH (BODY[4] {16}\r\nbegin 644 x\r\nend)\r\nc OK FETCH completed\r\n")

    def test_identity_encodings_and_composites_are_body(self):
        r, _ = self.session()
        # 8bit is no encoding to undo; a multipart or message/rfc822 can have
        # no other (RFC 2045 6.4): their BINARY is BODY's bytes.
        self.assertEqual(r.cmd("a", "FETCH 1 (BINARY.PEEK[6] BINARY.SIZE[6])"),
                         b"* 1 FETCH (BINARY[6] {8}\r\nplain \xc3\xa9 BINARY.SIZE[6] 8)\r\n"
                         b"a OK FETCH completed\r\n")
        body = r.cmd("b", "FETCH 1 BODY.PEEK[]")
        binary = r.cmd("b", "FETCH 1 BINARY.PEEK[]")
        self.assertEqual(binary, body.replace(b"BODY[]", b"BINARY[]"))
        self.assertEqual(r.cmd("c", "FETCH 1 BINARY.SIZE[]"),
                         b"* 1 FETCH (BINARY.SIZE[] %d)\r\nc OK FETCH completed\r\n" % len(MIXED))
        # The embedded message's body is its part 5.1, decoded.
        self.assertEqual(r.cmd("d", "FETCH 1 (BINARY.PEEK[5.1])"),
                         b"* 1 FETCH (BINARY[5.1] {10}\r\ninner body)\r\nd OK FETCH completed\r\n")
        # A part the message does not have: empty, as BODY[9] is.
        self.assertEqual(r.cmd("e", "FETCH 1 (BINARY.PEEK[9] BINARY.SIZE[9])"),
                         b'* 1 FETCH (BINARY[9] "" BINARY.SIZE[9] 0)\r\ne OK FETCH completed\r\n')

    def test_binary_of_a_single_part_message(self):
        r, _ = self.session()
        # BINARY[] of the whole message: the header, saying the body is now
        # binary, and the decoded body; BINARY[1] is the body alone.
        header = SINGLE[:SINGLE.index(b"Content-Transfer-Encoding")]
        whole = header + b"Content-Transfer-Encoding: binary\r\n\r\n\x00one\x01"
        self.assertEqual(r.cmd("a", "FETCH 2 (BINARY.PEEK[] BINARY.SIZE[] BINARY.PEEK[1])"),
                         b"* 2 FETCH (BINARY[] " + literal(whole, True) +
                         b" BINARY.SIZE[] %d BINARY[1] " % len(whole) + literal(b"\x00one\x01", True) +
                         b")\r\na OK FETCH completed\r\n")

    def test_binary_sets_seen_and_peek_does_not(self):
        r, _ = self.session()
        # RFC 3516 4.2: BINARY.PEEK is "an alternate form of FETCH BINARY
        # that does not implicitly set the \Seen flag"; BINARY.SIZE is none.
        self.assertEqual(r.cmd("a", "FETCH 1 (BINARY.PEEK[6] BINARY.SIZE[1])"),
                         b"* 1 FETCH (BINARY[6] {8}\r\nplain \xc3\xa9 BINARY.SIZE[1] 41)\r\n"
                         b"a OK FETCH completed\r\n")
        self.assertEqual(r.cmd("b", "FETCH 1 FLAGS"), b"* 1 FETCH (FLAGS ())\r\nb OK FETCH completed\r\n")
        self.assertEqual(r.cmd("c", "FETCH 1 BINARY[6]"),
                         b"* 1 FETCH (FLAGS (\\Seen) BINARY[6] {8}\r\nplain \xc3\xa9)\r\n"
                         b"c OK FETCH completed\r\n")

    def test_bad_binary_items(self):
        r, _ = self.session()
        # section-binary = "[" [section-part] "]": part numbers only, and
        # nz-number; BINARY.SIZE takes no partial (RFC 3516 7).
        for item, why in ((b"BINARY[1.MIME]", b"section-binary takes part numbers only (RFC 3516)"),
                          (b"BINARY.PEEK[HEADER]", b"section-binary takes part numbers only (RFC 3516)"),
                          (b"BINARY[0]", b"section-binary takes part numbers only (RFC 3516)"),
                          (b"BINARY[1.]", b"section-binary takes part numbers only (RFC 3516)"),
                          (b"BINARY.SIZE[1]<0.10>", b"BINARY.SIZE takes no partial"),
                          (b"BINARY[1]<0.0>", b"expected <offset.length> (length > 0) after the section")):
            self.assertEqual(r.cmd("a", "FETCH 1 (%s)" % item.decode()),
                             b'a BAD Invalid FETCH item "' + item + b'": ' + why + b"\r\n")

    def test_large_part_decoded_once_for_its_partials(self):
        self.fill_with(LARGE)
        r, _ = self.session()
        # imapflow's download(): BINARY.SIZE, then 64 KiB partials. The part
        # is decoded once (and kept in a file: it is larger than the bound
        # held in memory), not once per partial.
        self.assertEqual(r.cmd("s", "UID FETCH 3 (UID BINARY.SIZE[2])"),
                         b"* 3 FETCH (UID 3 BINARY.SIZE[2] %d)\r\ns OK FETCH completed\r\n" % len(BIG))
        got = b""
        chunk = 65536
        for off in range(0, len(BIG), chunk):
            out = r.cmd("p", "UID FETCH 3 (UID BINARY.PEEK[2]<%d.%d>)" % (off, chunk))
            want = BIG[off:off + chunk]
            prefix = b"* 3 FETCH (UID 3 BINARY[2]<%d> %s{%d}\r\n" % (
                off, b"~" if b"\x00" in BIG else b"", len(want))
            self.assertTrue(out.startswith(prefix), out[:80])
            self.assertTrue(out.endswith(b")\r\np OK FETCH completed\r\n"), out[-80:])
            got += out[len(prefix):-len(b")\r\np OK FETCH completed\r\n")]
        self.assertEqual(got, BIG)
        self.assertEqual(self.server.count_log("event=binary_decoded user=bob uid=3 part=2 size=%d spilled=yes"
                                               % len(BIG)), 1)


RAW = b"\x00\x01\r\nbare\nlf\rcr\x00\xff" * 20  # data a binary part holds

BINMSG = (b"From: a@example.org\r\nSubject: binary\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=ZZ\r\n\r\n"
          b"--ZZ\r\nContent-Type: text/plain; charset=utf-8\r\n"
          b"Content-Transfer-Encoding: 8bit\r\n\r\nna\xc3\xafve\r\n"
          b"--ZZ\r\nContent-Type: application/octet-stream\r\n"
          b"Content-Transfer-Encoding: binary\r\n\r\n" + RAW +
          b"\r\n--ZZ--\r\n")


class Literal8Test(StateTest):
    """APPEND with literal8 (RFC 3516 4.4, RFC 4466 for "~{n+}")."""
    extra = "appendlimit 20M"

    def selected(self):
        r, _ = self.session()
        return r

    def append8(self, r, tag, msg, sync=True):
        if sync:
            r.send(b"%s APPEND INBOX ~{%d}\r\n" % (tag.encode(), len(msg)))
            self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
            r.send(msg + b"\r\n")
        else:
            r.send(b"%s APPEND INBOX ~{%d+}\r\n" % (tag.encode(), len(msg)) + msg + b"\r\n")
        return r.until(tag)

    def test_binary_part_stored_base64_and_given_back_by_binary(self):
        r = self.selected()
        self.assertRegex(self.append8(r, "a", BINMSG),
                         rb"^\* 1 EXISTS\r\n\* 1 RECENT\r\na OK \[APPENDUID \d+ 1\] APPEND completed\r\n$")
        # RFC 3516 4.4: "The server MAY modify the CTE of the appended data,
        # however any such transformation MUST NOT result in a loss of
        # data"; 6: BODY returns what BODYSTRUCTURE describes, which "MUST
        # ... describe the message as though the binary-encoded sections
        # are encoded in a CTE acceptable to the IMAP4 base specification".
        # The NULs and bare line ends of part 2 survive only as base64.
        mime = (b"Content-Type: application/octet-stream\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n")
        enc = b64_lines(RAW)[:-2]  # the CRLF before the boundary is its own
        self.assertEqual(r.cmd("b", "FETCH 1 (BODY.PEEK[2.MIME] BODY.PEEK[2])"),
                         b"* 1 FETCH (BODY[2.MIME] " + literal(mime) + b" BODY[2] " + literal(enc) +
                         b")\r\nb OK FETCH completed\r\n")
        self.assertEqual(r.cmd("c", "FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])"),
                         b"* 1 FETCH (BINARY[2] " + literal(RAW, True) +
                         b" BINARY.SIZE[2] %d)\r\nc OK FETCH completed\r\n" % len(RAW))
        self.assertRegex(r.cmd("d", "FETCH 1 BODYSTRUCTURE"),
                         rb'\("application" "octet-stream" NIL NIL NIL "base64" %d NIL' % len(enc))
        # The part without NUL is as sent.
        self.assertEqual(r.cmd("e", "FETCH 1 BINARY.PEEK[1]"),
                         b"* 1 FETCH (BINARY[1] {6}\r\nna\xc3\xafve)\r\ne OK FETCH completed\r\n")

    def test_non_synchronizing_literal8(self):
        r = self.selected()
        # RFC 4466 (literal8 = "~{" number ["+"] "}" CRLF *OCTET) with
        # LITERAL+: no continuation request.
        out = self.append8(r, "a", BINMSG, sync=False)
        self.assertRegex(out, rb"a OK \[APPENDUID \d+ 1\] APPEND completed\r\n$")
        self.assertNotIn(b"+ ", out)
        self.assertEqual(r.cmd("b", "UID FETCH 1 (BINARY.PEEK[2])"),
                         b"* 1 FETCH (BINARY[2] " + literal(RAW, True) + b" UID 1)\r\nb OK FETCH completed\r\n")

    def test_multiappend_of_literal8_messages(self):
        r = self.selected()
        # RFC 3502 with RFC 3516 4.4: each message of one APPEND may be a
        # literal8; binary, plain and binary again, all stored.
        r.send(b"a APPEND INBOX ~{%d+}\r\n" % len(BINMSG) + BINMSG +
               b" {%d+}\r\n" % len(MIXED) + MIXED + b" ~{%d+}\r\n" % len(BINMSG) + BINMSG + b"\r\n")
        self.assertRegex(r.until("a"), rb"a OK \[APPENDUID \d+ 1:3\] APPEND completed\r\n$")
        self.assertEqual(r.cmd("b", "FETCH 1:3 (BINARY.SIZE[2])"),
                         b"* 1 FETCH (BINARY.SIZE[2] %d)\r\n* 2 FETCH (BINARY.SIZE[2] 768)\r\n"
                         b"* 3 FETCH (BINARY.SIZE[2] %d)\r\nb OK FETCH completed\r\n" % (len(RAW), len(RAW)))
        self.assertEqual(r.cmd("c", "FETCH 3 (BINARY.PEEK[2])"),
                         b"* 3 FETCH (BINARY[2] " + literal(RAW, True) + b")\r\nc OK FETCH completed\r\n")

    def test_literal8_without_binary_content_is_stored_as_sent(self):
        r = self.selected()
        self.assertIn(b"a OK [APPENDUID", self.append8(r, "a", MIXED))
        self.assertEqual(r.cmd("b", "FETCH 1 BODY.PEEK[]"),
                         b"* 1 FETCH (BODY[] " + literal(MIXED) + b")\r\nb OK FETCH completed\r\n")

    def test_nul_outside_a_body_part_is_refused(self):
        r = self.selected()
        # RFC 3516 4.4: "If the destination mailbox does not support the
        # storage of binary content, the server MUST fail the request and
        # issue a "NO" response that contains the "UNKNOWN-CTE" extended
        # response code." A header has no transfer encoding to carry a NUL.
        msg = b"Subject: a\x00b\r\n\r\nbody\r\n"
        self.assertEqual(self.append8(r, "a", msg),
                         b"a NO [UNKNOWN-CTE] Binary content outside a body part's content cannot be stored\r\n")
        # So is a NUL in a base64 part (its text, not its content).
        msg = (b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
               b"aGk=\x00\r\n")
        self.assertEqual(self.append8(r, "b", msg, sync=False),
                         b"a NO [UNKNOWN-CTE] Binary content outside a body part's content cannot be stored\r\n"
                         .replace(b"a NO", b"b NO"))
        self.assertEqual(r.cmd("c", "NOOP"), b"c OK NOOP completed\r\n")
        # A single-part message's body is a leaf: its NUL is carried.
        msg = b"Subject: a\r\n\r\nbo\x00dy\r\n"
        self.assertIn(b"d OK [APPENDUID", self.append8(r, "d", msg))
        self.assertEqual(r.cmd("e", "FETCH 1 (BODY.PEEK[] BINARY.PEEK[1])"),
                         b"* 1 FETCH (BODY[] {63}\r\nSubject: a\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                         b"Ym8AZHkNCg==\r\n BINARY[1] ~{7}\r\nbo\x00dy\r\n)\r\ne OK FETCH completed\r\n")

    def test_literal8_elsewhere_and_hostile_sizes(self):
        r = self.selected()
        # RFC 3516 7: literal8 is APPEND's message, no other string.
        self.assertEqual(r.cmd("a", "SELECT ~{5+}\r\nINBOX"),
                         b"a BAD A binary literal (~{n}) is only allowed for APPEND's message\r\n")
        self.assertEqual(r.cmd("b", "APPEND INBOX ~{99999999999999}"),
                         b"b NO [TOOBIG] Message larger than the limit of 20971520 bytes\r\n")
        self.assertEqual(r.cmd("c", "APPEND INBOX ~{99999999999999999999999}"),
                         b"c BAD Invalid literal size\r\n")
        self.assertEqual(r.cmd("d", "APPEND INBOX ~{0}"), b"d NO [CANNOT] Empty message\r\n")
        self.assertEqual(r.cmd("e", "APPEND INBOX ~5}"), b"e BAD APPEND takes a mailbox, then for each message optional flags and date "
                         b"and a literal or CATENATE (TEXT literal / URL url ...)\r\n")
        self.assertEqual(r.cmd("f", "NOOP"), b"f OK NOOP completed\r\n")


class LiteralPlusTest(StateTest):
    def test_large_non_synchronizing_literal_accepted(self):
        r, _ = self.session()
        # RFC 7888 5: LITERAL+ has no 4096-byte limit.
        msg = MIXED + b"x" * 5000 + b"\r\n"
        r.send(b"a APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
        self.assertIn(b"a OK [APPENDUID", r.until("a"))


class LiteralMinusTest(StateTest):
    extra = "literal_minus yes"

    def test_capability_is_literal_minus_not_both(self):
        r = self.raw()
        # RFC 7888 5: "IMAP servers MUST NOT advertise both of these
        # capabilities at the same time."
        caps = r.cmd("c", "CAPABILITY")
        self.assertTrue(caps.startswith(b"* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL- SASL-IR "), caps)
        self.assertNotIn(b"LITERAL+", caps)

    def test_small_non_synchronizing_literals_work(self):
        r = self.raw()
        # RFC 7888 3: "A001 LOGIN {11+} ..." as literals of the command.
        self.assertRegex(r.cmd("a", "LOGIN {3+}\r\nbob {9+}\r\ns3cret pw"), rb"^a OK \[CAPABILITY [^\r]*\] Logged in\r\n$")
        msg = MIXED + b"x" * (4096 - len(MIXED) - 2) + b"\r\n"
        self.assertEqual(len(msg), 4096)
        r.send(b"b APPEND INBOX {4096+}\r\n" + msg + b"\r\n")
        self.assertRegex(r.until("b"), rb"^b OK \[APPENDUID \d+ 1\] APPEND completed\r\n$")

    def test_over_long_non_synchronizing_literal_is_read_and_refused(self):
        r, _ = self.session()
        # RFC 7888 5: a non-synchronizing literal "larger than 4096 bytes
        # proceeds as described in Section 4" (read, then the command
        # rejected); "If responding to an APPEND command, the tagged BAD
        # response MUST contain the TOOBIG response code".
        big = b"x" * 4097
        r.send(b"a APPEND INBOX {4097+}\r\n" + big + b"\r\n")
        self.assertEqual(r.until("a"),
                         b"a BAD [TOOBIG] Non-synchronizing literals are limited to 4096 bytes (LITERAL-)\r\n")
        r.send(b"b APPEND INBOX ~{4097+}\r\n" + big + b"\r\n")
        self.assertEqual(r.until("b"),
                         b"b BAD [TOOBIG] Non-synchronizing literals are limited to 4096 bytes (LITERAL-)\r\n")
        r.send(b"c SEARCH TEXT {4097+}\r\n" + big + b"\r\n")
        self.assertEqual(r.until("c"), b"c BAD Non-synchronizing literals are limited to 4096 bytes (LITERAL-)\r\n")
        # The literal's bytes were no command; the synchronizing form works.
        self.assertEqual(r.cmd("d", "NOOP"), b"d OK NOOP completed\r\n")
        r.send(b"e SEARCH TEXT {4097}\r\n")
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(big + b"\r\n")
        self.assertEqual(r.until("e"), b"* SEARCH\r\ne OK SEARCH completed\r\n")


def imap_sexp(data, i=0):
    """Parses one IMAP value (list, string, literal, atom) at data[i:];
    returns (value, next index). Strings come back as bytes."""
    while data[i:i + 1] == b" ":
        i += 1
    c = data[i:i + 1]
    if c == b"(":
        out, i = [], i + 1
        while True:
            while data[i:i + 1] == b" ":
                i += 1
            if data[i:i + 1] == b")":
                return out, i + 1
            v, i = imap_sexp(data, i)
            out.append(v)
    if c == b'"':
        j, s = i + 1, b""
        while data[j:j + 1] != b'"':
            if data[j:j + 1] == b"\\":
                j += 1
            s += data[j:j + 1]
            j += 1
        return s, j + 1
    if c == b"{":
        j = data.index(b"}", i)
        n = int(data[i + 1:j])
        return data[j + 3:j + 3 + n], j + 3 + n
    m = re.compile(rb"[^ ()]+").match(data, i)
    v = m.group(0)
    return (None if v.upper() == b"NIL" else v), m.end()


def leaf_sections(bs, prefix=()):
    """(section, encoding, media type, charset) of every leaf in a
    BODYSTRUCTURE, numbered as RFC 3501 6.4.5 numbers parts."""
    if isinstance(bs[0], list):
        n = 0
        for child in bs:
            if not isinstance(child, list):
                break
            n += 1
            yield from leaf_sections(child, prefix + (n,))
        return
    sec = prefix or (1,)
    mtype, subtype = bs[0].lower(), bs[1].lower()
    if mtype == b"message" and len(bs) > 8 and isinstance(bs[7], list) and isinstance(bs[8], list):
        inner = bs[8]
        if isinstance(inner[0], list):
            yield from leaf_sections(inner, sec)
        else:
            yield from leaf_sections(inner, sec + (1,))
        return
    params = dict(zip(bs[2][::2], bs[2][1::2])) if bs[2] else {}
    charset = next((v for k, v in params.items() if k.lower() == b"charset"), None)
    yield ".".join(map(str, sec)), (bs[5] or b"").lower(), mtype, charset


def python_decoded(mime_header, body):
    """What Python's email package makes of a part: get_payload(decode=True)."""
    msg = email.message_from_bytes(mime_header + body, policy=email.policy.compat32)
    cte = msg["Content-Transfer-Encoding"]
    if cte is not None and str(cte).strip() != str(cte):
        # "base64 " (0089.eml): white space around a header value is no part
        # of it (RFC 2045 6.1, RFC 5322 2.2), but Python compares it raw.
        msg.replace_header("Content-Transfer-Encoding", str(cte).strip())
    value = msg.get_payload(decode=True)
    if any(isinstance(d, email.errors.InvalidBase64LengthDefect) for d in msg.defects):
        # 4n+1 base64 characters (0196.eml): Python gives the encoded text
        # back; the whole 4-character groups decode (RFC 2045 6.8), the
        # last character alone makes no octet.
        chars = re.sub(rb"[^A-Za-z0-9+/]", b"", body)
        value = base64.b64decode(chars[:len(chars) // 4 * 4])
    chars = re.sub(rb"[^A-Za-z0-9+/=]", b"", body)
    if (msg.get_content_maintype() != "multipart" and str(cte).strip().lower() == "base64"
            and re.search(rb"=[A-Za-z0-9+/]", chars)):
        # Text after the padding (0291.eml: "...Cg== ignored"): Python stops
        # at the padding, posthorn reads on as mailers that concatenate
        # encodings write it (its SEARCH decoder, tests/unit/test_base64.c):
        # each padded encoding decoded by Python, in turn.
        value = b"".join(python_decoded(b"Content-Transfer-Encoding: base64\r\n\r\n", seg)
                         for seg in re.findall(rb"[A-Za-z0-9+/]+=*", chars))
    return value


def crlf_text(data):
    """RFC 9051 7.5.2: text goes out with CRLF line ends."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def corpus_dir():
    for d in (os.environ.get("POSTHORN_MIME_CORPUS"),
              os.path.join(phtest.SRC, "..", "shared", "mime-corpus"),
              "/work/shared/mime-corpus"):
        if d and os.path.isfile(os.path.join(d, "MANIFEST.tsv")):
            return d
    return None


class CorpusBinaryTest(StateTest):
    """Every base64 and quoted-printable leaf part of the mime corpus: its
    BINARY is what Python decodes from its BODY[n.MIME] and BODY[n] (with
    CRLF line ends for text), and BINARY.SIZE is its length."""
    extra = "appendlimit 20M"

    def test_corpus_parts_decode_as_python_decodes_them(self):
        d = corpus_dir()
        if d is None:
            self.skipTest("no mime corpus (POSTHORN_MIME_CORPUS)")
        files = sorted(os.listdir(os.path.join(d, "messages")))
        c = self.client()
        for name in files:
            with open(os.path.join(d, "messages", name), "rb") as f:
                typ, data = c.append("INBOX", None, None, f.read())
            self.assertEqual(typ, "OK", (name, data))
        r, _ = self.session("EXAMINE INBOX")
        checked = {b"base64": 0, b"quoted-printable": 0}
        for uid, name in enumerate(files, 1):
            out = r.cmd("s", "UID FETCH %d BODYSTRUCTURE" % uid)
            bs, _ = imap_sexp(out, out.index(b"BODYSTRUCTURE ") + len(b"BODYSTRUCTURE "))
            for sec, enc, mtype, charset in leaf_sections(bs):
                if enc not in checked:
                    continue
                out = r.cmd("f", "UID FETCH %d (UID BODY.PEEK[%s.MIME] BODY.PEEK[%s] BINARY.SIZE[%s] BINARY.PEEK[%s])"
                            % (uid, sec, sec, sec, sec))
                m = re.match(rb"\* \d+ FETCH \(UID \d+ BODY\[[\d.]+MIME\] ", out)
                self.assertIsNotNone(m, (name, sec, out[:200]))
                mime, i = imap_sexp(out, m.end())
                i = out.index(b"BODY[%s] " % sec.encode(), i) + len(sec) + 7
                body, i = imap_sexp(out, i)
                size = re.compile(rb" BINARY\.SIZE\[[\d.]+\] (\d+) BINARY\[[\d.]+\] ").match(out, i)
                self.assertIsNotNone(size, (name, sec, out[i:i + 100]))
                lit = re.compile(rb"(~?)\{(\d+)\}\r\n").match(out, size.end())
                binary = out[lit.end():lit.end() + int(lit.group(2))]
                body = body or b""
                if enc == b"quoted-printable":
                    # RFC 2045 6.7 (3): "when decoding a Quoted-Printable
                    # body, any trailing white space on a line must be
                    # deleted"; Python's quopri keeps it.
                    body = re.sub(rb"[ \t]+(\r\n|$)", rb"\1", body)
                want = python_decoded(mime or b"", body)
                if mtype == b"text" and not (charset or b"").lower().startswith((b"utf-16", b"utf-32")):
                    want = crlf_text(want)
                self.assertEqual(binary, want, (name, sec, enc))
                self.assertEqual(int(size.group(1)), len(binary), (name, sec))
                self.assertEqual(lit.group(1) == b"~", b"\x00" in binary, (name, sec))
                checked[enc] += 1
        # The corpus has many of both (a walk that found none proves nothing).
        self.assertGreater(checked[b"base64"], 100, checked)
        self.assertGreater(checked[b"quoted-printable"], 30, checked)


if __name__ == "__main__":
    phtest.main()
