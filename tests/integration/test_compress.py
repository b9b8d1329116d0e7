# SPDX-License-Identifier: MIT
"""COMPRESS=DEFLATE (RFC 4978) through the real binary, on raw sockets
wrapped in raw deflate (zlib.compressobj(wbits=-15) / decompressobj): the
grammar and response codes, pipelining right after COMPRESS, IDLE, a big
FETCH, TLS under COMPRESS, hostile compressed input, and what a parked
compressed session keeps.

test_compress_pgsql.py runs these classes on storage.pgsql too."""
import random
import socket
import zlib

import phtest
import test_imap
from test_imap import MSG, Raw, insecure_context

# RFC 1951 3.2.4 / zlib: a sync flush ends in an empty stored block.
SYNC_MARKER = b"\x00\x00\xff\xff"


class ZSock:
    """A socket whose bytes are raw deflate both ways, as RFC 4978 3 has it
    after the tagged OK. Keeps the compressed bytes it received."""

    def __init__(self, sock, flush=zlib.Z_SYNC_FLUSH):
        self.sock = sock
        self.flush = flush
        self.c = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.d = zlib.decompressobj(-15)
        self.wire_in = b""
        self.wire_out = 0

    def deflate(self, data, flush=None):
        return self.c.compress(data) + self.c.flush(self.flush if flush is None else flush)

    def sendall(self, data):
        z = self.deflate(data)
        self.wire_out += len(z)
        self.sock.sendall(z)

    def inflate(self, z):
        self.wire_in += z
        return self.d.decompress(z)

    def recv(self, n):
        while True:
            z = self.sock.recv(n)
            if not z:
                return b""
            out = self.inflate(z)
            if out:
                return out

    def getsockname(self):
        return self.sock.getsockname()

    def close(self):
        self.sock.close()


def compress(r, tag="z", flush=zlib.Z_SYNC_FLUSH):
    """COMPRESS DEFLATE on Raw r; from its OK on, r speaks deflate."""
    r.send(("%s COMPRESS DEFLATE\r\n" % tag).encode())
    ok = r.line()
    assert ok == ("%s OK DEFLATE active\r\n" % tag).encode(), ok
    z = ZSock(r.sock, flush)
    # What came with the OK is compressed already.
    r.buf = z.inflate(r.buf)
    r.sock = z
    return z


class CompressTest(test_imap.ImapTest):
    extra = "debug yes"

    def session(self):
        r = self.raw()
        r.login()
        return r

    def append(self, msg, mailbox="INBOX"):
        c = self.client()
        self.assertEqual(c.append(mailbox, None, None, msg)[0], "OK")


class GrammarTest(CompressTest):
    def test_advertised_only_after_login(self):
        # RFC 4978 5: compress is a command-auth; the capability comes with
        # the state it may be used in.
        r = self.raw()
        self.assertNotIn(b"COMPRESS", r.greeting)
        self.assertNotIn(b"COMPRESS", r.cmd("a", "CAPABILITY"))
        self.assertEqual(r.cmd("b", "COMPRESS DEFLATE"), b"b BAD Log in first\r\n")
        self.assertIn(b" COMPRESS=DEFLATE]", r.login())
        out = r.cmd("c", "CAPABILITY")
        self.assertRegex(out, rb"^\* CAPABILITY IMAP4rev1 .* COMPRESS=DEFLATE\r\nc OK ")

    def test_bad_arguments(self):
        # RFC 4978 3: "BAD Command unknown, invalid or unknown argument";
        # 5: compress = "COMPRESS" SP algorithm, algorithm = "DEFLATE".
        r = self.session()
        usage = b"BAD COMPRESS takes one argument: DEFLATE\r\n"
        self.assertEqual(r.cmd("a", "COMPRESS"), b"a " + usage)
        self.assertEqual(r.cmd("b", "COMPRESS DEFLATE DEFLATE"), b"b " + usage)
        self.assertEqual(r.cmd("c", 'COMPRESS "DEFLATE"'), b"c " + usage)
        self.assertEqual(r.cmd("d", "COMPRESS (DEFLATE)"), b"d " + usage)
        self.assertEqual(r.cmd("e", "COMPRESS GZIP"), b'e BAD Unknown compression mechanism "GZIP"\r\n')
        self.assertEqual(r.cmd("f", "COMPRESS DEFLATE=9"),
                         b'f BAD Unknown compression mechanism "DEFLATE=9"\r\n')
        # "the server MUST NOT turn on compression": the session goes on in
        # the clear.
        self.assertEqual(r.cmd("g", "NOOP"), b"g OK NOOP completed\r\n")

    def test_case_insensitive_and_in_selected_state(self):
        # RFC 4978 5: "Implementations MUST accept these strings in a
        # case-insensitive fashion"; command-auth is valid when selected.
        r = self.session()
        self.assertIn(b"s OK [READ-WRITE]", r.cmd("s", "SELECT INBOX"))
        r.send(b"c compress deflate\r\n")
        self.assertEqual(r.line(), b"c OK DEFLATE active\r\n")
        compress_rest = ZSock(r.sock)
        r.sock = compress_rest
        self.assertEqual(r.cmd("n", "NOOP"), b"n OK NOOP completed\r\n")
        self.assertEqual(r.cmd("f", "UID SEARCH ALL"), b"* SEARCH\r\nf OK SEARCH completed\r\n")

    def test_second_compress_is_refused_with_compressionactive(self):
        # RFC 4978 3: "If the server responds NO because it knows that the
        # same mechanism is active already ... it MUST send
        # COMPRESSIONACTIVE as resp-text-code ... and the resp-text SHOULD
        # say which layer compresses."
        r = self.session()
        compress(r)
        self.assertEqual(r.cmd("a", "COMPRESS DEFLATE"),
                         b"a NO [COMPRESSIONACTIVE] DEFLATE active via COMPRESS\r\n")
        self.assertEqual(r.cmd("b", "COMPRESS GZIP"), b'b BAD Unknown compression mechanism "GZIP"\r\n')
        self.assertEqual(r.cmd("c", "NOOP"), b"c OK NOOP completed\r\n")

    def test_ok_is_in_the_clear_and_what_follows_compressed(self):
        # RFC 4978 3: "the server MUST compress starting immediately after
        # the CRLF which ends the tagged OK response."
        r = self.session()
        r.send(b"z COMPRESS DEFLATE\r\n")
        sock = r.sock
        ok = b""
        while not ok.endswith(b"\r\n"):
            ok += sock.recv(1)
        self.assertEqual(ok, b"z OK DEFLATE active\r\n")
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        sock.sendall(c.compress(b"n NOOP\r\n") + c.flush(zlib.Z_SYNC_FLUSH))
        wire = b""
        d = zlib.decompressobj(-15)
        while not wire.endswith(SYNC_MARKER):
            wire += sock.recv(4096)
        # Each batch of output ends in a sync flush, so the client can read
        # it all without waiting for more.
        self.assertEqual(d.decompress(wire), b"n OK NOOP completed\r\n")
        self.assertTrue(wire.endswith(SYNC_MARKER), wire)

    def test_logout_under_compression(self):
        r = self.session()
        compress(r)
        self.assertEqual(r.cmd("l", "LOGOUT"), b"* BYE Logging out\r\nl OK LOGOUT completed\r\n")
        self.assertEqual(r.sock.recv(10), b"")


class PipelineTest(CompressTest):
    def test_commands_in_the_packet_of_compress_are_compressed(self):
        # RFC 4978 3: "If the response was OK, the client MUST compress
        # starting with the first command after COMPRESS": bytes right
        # after the COMPRESS line, even in the same packet, are deflate.
        r = self.session()
        z = ZSock(r.sock)
        r.sock.sendall(b"z COMPRESS DEFLATE\r\n" +
                       z.deflate(b"a NOOP\r\nb SELECT INBOX\r\nc UID FETCH 1:* FLAGS\r\n"))
        self.assertEqual(r.line(), b"z OK DEFLATE active\r\n")
        r.buf = z.inflate(r.buf)
        r.sock = z
        self.assertEqual(r.until("a"), b"a OK NOOP completed\r\n")
        self.assertIn(b"b OK [READ-WRITE] SELECT completed\r\n", r.until("b"))
        self.assertEqual(r.until("c"), b"c OK FETCH completed\r\n")

    def test_pipelined_after_a_refused_compress_stays_clear(self):
        # "If the server response was BAD or NO, the client MUST NOT turn
        # on compression."
        r = self.session()
        r.send(b"z COMPRESS LZ4\r\na NOOP\r\n")
        self.assertEqual(r.line(), b'z BAD Unknown compression mechanism "LZ4"\r\n')
        self.assertEqual(r.line(), b"a OK NOOP completed\r\n")

    def test_many_commands_across_parks_share_the_dictionaries(self):
        # The client's compressor refers back into earlier commands and the
        # server's into earlier answers: both sides' history survives the
        # session parking between commands.
        r = self.session()
        compress(r)
        r.cmd("s", "SELECT INBOX")
        for i in range(40):
            self.assertEqual(r.cmd("n%d" % i, "NOOP"), b"n%d OK NOOP completed\r\n" % i)
        # One packet, many commands: answered in batches.
        r.send(b"".join(b"p%d NOOP\r\n" % i for i in range(300)))
        out = r.until("p299")
        self.assertEqual(out.count(b" OK NOOP completed\r\n"), 300)

    def test_client_that_flushes_without_byte_alignment(self):
        # A Z_PARTIAL_FLUSH client leaves bits of its stream mid-byte: the
        # server keeps its inflater over a park and reads on.
        r = self.session()
        compress(r, flush=zlib.Z_PARTIAL_FLUSH)
        for i in range(10):
            self.assertEqual(r.cmd("n%d" % i, "NOOP"), b"n%d OK NOOP completed\r\n" % i)

    def test_client_that_ends_its_stream(self):
        # A final block (Z_FINISH) ends the client's input like EOF: what
        # came before it is answered.
        r = self.session()
        z = compress(r)
        r.sock.sock.sendall(z.deflate(b"l LOGOUT\r\n", zlib.Z_FINISH))
        self.assertEqual(r.until("l"), b"* BYE Logging out\r\nl OK LOGOUT completed\r\n")


class IdleTest(CompressTest):
    def test_idle_updates_arrive_flushed(self):
        # RFC 2177 under COMPRESS: an untagged update while idling must
        # reach the client at once, so it is flushed.
        r = self.session()
        compress(r)
        r.cmd("s", "SELECT INBOX")
        r.send(b"i IDLE\r\n")
        self.assertEqual(r.line(), b"+ idling\r\n")
        self.server.wait_log("event=compress_parked")
        self.append(MSG)
        self.assertEqual(r.line(), b"* 1 EXISTS\r\n")
        self.assertEqual(r.line(), b"* 1 RECENT\r\n")
        self.append(MSG)
        self.assertEqual(r.line(), b"* 2 EXISTS\r\n")
        self.assertEqual(r.line(), b"* 2 RECENT\r\n")
        r.send(b"DONE\r\n")
        self.assertEqual(r.until("i"), b"i OK IDLE terminated\r\n")
        self.assertIn(b"* 2 FETCH (UID 2)", r.cmd("f", "FETCH 2 UID"))


class FetchTest(CompressTest):
    def test_big_fetch_round_trips_and_shrinks(self):
        # 1.5 MB of text, several times IMAP_OUT_HIGH_WATER: written in
        # pieces without flushing between them, flushed at the end.
        lines = [b"Line %d of a long and repetitive text body, quoted > again\r\n" % i
                 for i in range(25000)]
        big = b"From: a@example.org\r\nSubject: big\r\n\r\n" + b"".join(lines)
        self.append(big)
        r = self.session()
        z = compress(r)
        r.cmd("s", "SELECT INBOX")
        before = len(z.wire_in)
        out = r.cmd("f", "FETCH 1 BODY.PEEK[]")
        self.assertEqual(out, b"* 1 FETCH (BODY[] {%d}\r\n" % len(big) + big + b")\r\nf OK FETCH completed\r\n")
        wire = len(z.wire_in) - before
        self.assertLess(wire, len(big) // 4)
        # Nothing but the answer was waiting: the stream ends in a flush.
        self.assertTrue(z.wire_in.endswith(SYNC_MARKER))

    def test_compressed_append_of_a_big_literal(self):
        r = self.session()
        compress(r)
        body = b"Subject: up\r\n\r\n" + b"upload line of text\r\n" * 20000
        r.send(b"a APPEND INBOX {%d}\r\n" % len(body))
        self.assertEqual(r.line(), b"+ Ready for literal data\r\n")
        r.send(body + b"\r\n")
        self.assertRegex(r.until("a"), rb"^a OK \[APPENDUID \d+ 1\] APPEND completed\r\n$")
        r.cmd("s", "SELECT INBOX")
        self.assertEqual(r.cmd("f", "FETCH 1 RFC822.SIZE"),
                         b"* 1 FETCH (RFC822.SIZE %d)\r\nf OK FETCH completed\r\n" % len(body))


class HostileTest(CompressTest):
    extra = "debug yes\n    max_line_length 8k\n    max_literal_size 64k"

    def assert_alive(self):
        r = self.session()
        self.assertEqual(r.cmd("n", "NOOP"), b"n OK NOOP completed\r\n")

    def test_garbage_gets_a_bye_and_the_end(self):
        r = self.session()
        compress(r)
        self.assertEqual(r.cmd("n", "NOOP"), b"n OK NOOP completed\r\n")
        # Not deflate: block type 3 is reserved (RFC 1951 3.2.3).
        r.sock.sock.sendall(b"\xff" * 64)
        self.assertEqual(r.line(), b"* BYE Invalid compressed data\r\n")
        self.assertEqual(r.sock.recv(10), b"")
        self.server.wait_log("event=compress_failed")
        self.assert_alive()

    def test_random_garbage_never_hangs_or_crashes(self):
        rng = random.Random(4978)
        for i in range(20):
            r = self.session()
            compress(r)
            junk = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 4096)))
            r.sock.sock.sendall(junk)
            r.sock.sock.shutdown(socket.SHUT_WR)
            # The session ends: a BYE for bad data, or answers to whatever
            # the junk inflated to, then EOF.
            rest = b""
            while True:
                try:
                    chunk = r.sock.recv(65536)
                except zlib.error:
                    self.fail("the server's output is no deflate stream")
                if not chunk:
                    break
                rest += chunk
            self.assertTrue(rest == b"" or rest.endswith(b"\r\n"), rest)
        self.assertEqual(self.server.sanitizer_reports(), "")
        self.assert_alive()

    def test_inflated_line_is_bounded_as_in_the_clear(self):
        # 10 MB of one line deflate to ~10 KB: the parser's max_line_length
        # holds for what inflates, as for what arrives in the clear.
        r = self.session()
        compress(r)
        r.send(b"a NOOP " + b"x" * (10 * 1024 * 1024) + b"\r\n")
        line = r.line()
        self.assertTrue(line.startswith(b"a BAD") or line.startswith(b"* BAD"), line)
        self.assertEqual(r.cmd("n", "NOOP"), b"n OK NOOP completed\r\n")

    def test_inflated_literal_is_bounded_as_in_the_clear(self):
        r = self.session()
        compress(r)
        # A non-synchronizing literal over max_literal_size: BAD, and the
        # session reads on (RFC 7888 4).
        r.send(b"a LOGIN bob {100000+}\r\n" + b"x" * 100000 + b"\r\nn NOOP\r\n")
        out = r.until("n")
        self.assertTrue(out.startswith(b"a BAD "), out)
        self.assertTrue(out.endswith(b"n OK NOOP completed\r\n"), out)


class MemoryTest(CompressTest):
    def test_parked_session_keeps_history_not_zlib(self):
        # A parked session has no zlib stream: at most 32 KiB of the
        # client's history (its compressor may refer back that far) and 4
        # KiB of ours (event=compress_parked, held: all it holds).
        r = self.session()
        compress(r)
        r.cmd("s", "SELECT INBOX")
        self.append(MSG)
        for i in range(200):
            r.cmd("f%d" % i, "FETCH 1 (FLAGS UID)")
        mine = "event=compress_parked"
        n = self.server.count_log(mine)
        self.assertEqual(r.cmd("n", "NOOP"), b"n OK NOOP completed\r\n")
        self.server.wait_log(mine, count=n + 1)
        last = [ln for ln in self.server.log_text().splitlines() if mine in ln][-1]
        fields = dict(f.split("=", 1) for f in last.split() if "=" in f)
        self.assertEqual(fields["zlib"], "0", last)
        self.assertLessEqual(int(fields["held"]), 32768 + 4096 + 256, last)
        self.assertGreater(int(fields["history"]), 4096, last)


class TlsCompressTest(test_imap.TlsServer):
    """RFC 4978 3: compression above TLS ("first COMPRESS ... finally
    TLS"), on tls:// and after STARTTLS."""

    def exercise(self, r):
        r.login()
        compress(r)
        self.assertEqual(r.cmd("n", "NOOP"), b"n OK NOOP completed\r\n")
        body = b"Subject: t\r\n\r\n" + b"tls and deflate\r\n" * 5000
        r.send(b"a APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
        self.assertIn(b"a OK [APPENDUID", r.until("a"))
        r.cmd("s", "SELECT INBOX")
        self.assertEqual(r.cmd("f", "FETCH 1 BODY.PEEK[]"),
                         b"* 1 FETCH (BODY[] {%d}\r\n" % len(body) + body + b")\r\nf OK FETCH completed\r\n")

    def test_implicit_tls_then_compress(self):
        sock = socket.create_connection(("127.0.0.1", self.tls_port), timeout=30)
        r = Raw.__new__(Raw)
        r.sock = insecure_context().wrap_socket(sock)
        r.buf = b""
        r.greeting = r.line()
        self.addCleanup(r.sock.close)
        self.exercise(r)

    def test_starttls_then_compress(self):
        r = Raw(self.port)
        self.addCleanup(r.close)
        self.assertEqual(r.cmd("t", "STARTTLS"), b"t OK Begin TLS negotiation now\r\n")
        r.sock = insecure_context().wrap_socket(r.sock)
        self.exercise(r)


if __name__ == "__main__":
    phtest.main()
