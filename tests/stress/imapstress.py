#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/stress/imapstress.py: a consistency stress checker for an IMAP server.

    imapstress.py [--clients 10] [--users 3] [--seconds 30] [--seed 1]
                  [--build DIR | --pgsql DSN [--nodes 2] | --connect H:P[,H:P] --password PW]

CLIENTS threads share USERS accounts; each logs in, does random valid
commands (SELECT/EXAMINE, FETCH, STORE, APPEND, COPY, MOVE, EXPUNGE, UID
EXPUNGE, SEARCH, UID variants, NOOP, IDLE, CHECK, CLOSE, UNSELECT, STATUS,
CREATE/DELETE of a scratch mailbox, LOGOUT and a new login) and keeps a model
of everything the server told it. Every response is read off a raw socket
exactly as sent. With --build (the default) posthorn is started from a build
tree on storage.sqlite in a temporary state_dir; with --pgsql, NODES posthorn
processes share one storage.pgsql database and the clients are spread over
them, so announcements cross nodes; with --connect the server is already
running (users PREFIX0.. with --password).

What is checked (any violation fails the run; it is printed as
"VIOLATION [kind] client (user@server mailbox): what" with the command, the
answer and the tail of that connection's transcript; --max-report of each
kind in full, all of them counted):
  - sequence numbers: EXPUNGE names a message the session has (1..count) and
    shifts the ones above; EXISTS never shrinks; no FETCH beyond the count;
    no EXPUNGE while a FETCH, STORE or SEARCH is answered (RFC 3501 7.4.1)
    [seq];
  - UIDs: strictly increasing with the sequence number, a sequence number
    keeps its UID, messages announced by EXISTS get UIDs above every UID the
    session saw and at or above UIDNEXT; APPENDUID/COPYUID name new UIDs
    above every UID any client saw in that mailbox before the command; a
    STATUS UIDNEXT is above them too; UIDVALIDITY of a mailbox that is never
    deleted does not change; a UID never names two messages [uid,
    uidvalidity, uid-reuse];
  - SELECT/EXAMINE answer FLAGS, EXISTS, RECENT and UIDVALIDITY (6.3.1),
    EXAMINE's OK [READ-ONLY] (6.3.2) [select];
  - every flag and keyword in a FETCH FLAGS was listed by an untagged FLAGS
    response of this selected session before that FETCH (RFC 3501 7.2.6;
    keywords compared without case); \\Recent excepted [unannounced-flag];
  - immutable data, remembered by Message-ID (each APPENDed message has a
    unique one) in a store shared by all clients: RFC822.SIZE, ENVELOPE,
    BODYSTRUCTURE, each BODY[HEADER.FIELDS (...)] and .NOT (by the set of
    names, case-insensitive), BODY[HEADER], BODY[TEXT], BODY[]<0.n> and a
    hash of BODY[] never change between fetches, sessions, clients, copies;
    BODY[] is the message as APPENDed (one with a bare CR, which a server
    may repair, as BODY[] first answered), RFC822.SIZE its length,
    ENVELOPE's message-id its Message-ID, and the header sections are what
    the client computes itself from those bytes (RFC 3501 6.4.5: fields
    whose names match without case, duplicates in the list changing
    nothing, the blank line included unless the message has none)
    [immutable, computed, header-fields];
  - data a FETCH carries for a message that was expunged meanwhile must
    be the message's own (RFC 2180 4.1.1: the server keeps it readable
    until the session is told) or NIL or "" (4.1.3), never other data
    that looks real [expunged-data];
  - FETCH answers each requested item for each message of the set when the
    tagged answer is OK [fetch];
  - STORE and FETCH agree: client N alone touches its own keywords
    ($sN-k0..2, and new ones $sN-nM), so for those the answer to its STORE
    and every later FETCH by anyone, and SEARCH KEYWORD/UNKEYWORD, must
    agree exactly (unless a STORE that could change them ran meanwhile, a
    FLAGS replacement by another client among them). A STORE answered OK
    without a FETCH for a message may have found it expunged (RFC 2180
    4.2.1) and changed nothing, while FETCH still shows it as it was at
    the expunge (4.1.1): a FETCH that disagrees with such a STORE is
    followed by a NOOP, which must announce the message's EXPUNGE
    [store-fetch]; SEARCH
    LARGER/SMALLER and HEADER Message-ID only return messages that match
    [search];
  - COPYUID and APPENDUID are well formed (RFC 4315: non-empty UID sets of
    equal size) [uidplus]; STATUS answers what was asked [status];
  - no BAD, and NO only in the cases listed below; no untagged BAD [bad,
    no]; the server never closes the connection except after LOGOUT (which
    it must), never sends BYE unasked, answers each command within
    --timeout [closed, bye, hang, protocol, syntax];
  - with --build/--pgsql: the server is still running at the end, and its
    log has no sanitizer report [server, sanitizer].

NO answers allowed (races RFC 3501 allows; each is counted and printed in
the summary; any other NO is a violation):
  - expungeissued: FETCH, STORE, COPY, MOVE (and UID forms) answered
    NO [EXPUNGEISSUED] (RFC 5530 3, RFC 2180 4.1.2/4.2/4.4.1) when another
    session expunged some of the messages; checked: the command itself or
    the NOOP sent right after it announces an EXPUNGE, unless the selected
    mailbox is Scratch and a STATUS shows another session deleted it (then
    any message of the command may have gone with it, EXPUNGE or not);
  - scratch-gone: the mailbox "Scratch" is created and deleted by the
    clients of a user at random: SELECT/EXAMINE/STATUS/DELETE of it may be
    NO [NONEXISTENT], APPEND/COPY/MOVE to it NO [TRYCREATE] (RFC 3501
    6.3.11, 6.4.7), CREATE NO [ALREADYEXISTS] (RFC 5530);
  - selected-gone: a session that has Scratch selected when another deletes
    it may get NO [NONEXISTENT] for what it does there (RFC 3501 leaves the
    session's fate to the server; it must not be BAD).

Exit status 0 when no violation was seen. The summary at the end counts
the comparisons made, the commands by name, the allowed NOs and the
violations by kind; the last line says "imapstress: passed" or "FAILED".
--seed makes each client's choices reproducible (their interleaving is the
scheduler's); --until KIND ends the run at the first violation of a kind.
To find a violation's cause: --debug --keep keeps the servers' logs with
every command and response (io_debug) and the storage's debug lines; a
violation names the client's port, which the server's lines of that
connection carry."""
import argparse
import collections
import glob
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORD = "stress pw"
MAILBOXES = ["INBOX", "Archive"]  # never deleted
SCRATCH = "Scratch"  # created and deleted at random
SYSTEM_FLAGS = ["\\Seen", "\\Answered", "\\Flagged", "\\Draft"]
SHARED_KEYWORDS = ["$Label1", "$Label2", "NonJunk", "$Forwarded", "$MDNSent"]
HEADER_NAMES = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "References",
                "In-Reply-To", "Content-Type", "MIME-Version", "X-Stress", "Received",
                "Reply-To", "Sender", "X-Absent"]
PARTIAL = 256  # BODY.PEEK[]<0.PARTIAL>
TAIL = 24  # transcript lines kept per connection
HISTORY = 60  # events kept per UID for a store-fetch report
OWN_RE = re.compile(r"^\$s(\d+)-")


class Closed(Exception):
    """The server closed the connection."""


class Hang(Exception):
    """No complete answer within the command timeout."""


class ParseError(Exception):
    pass


class StopSession(Exception):
    """The session cannot go on (after a violation that broke its model)."""


# --- the wire: parsing responses ------------------------------------------

class Parser:
    """Values of a response as sent: atoms are str, strings (quoted or
    literal) are bytes, NIL is None, parenthesized lists are lists."""

    LITERAL = re.compile(rb"\{(\d+)\}\r\n")

    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def skip_sp(self):
        while self.pos < len(self.data) and self.data[self.pos] == 0x20:
            self.pos += 1

    def expect(self, b):
        if self.data[self.pos:self.pos + len(b)] != b:
            raise ParseError("expected %r at %d" % (b, self.pos))
        self.pos += len(b)

    def value(self):
        self.skip_sp()
        if self.pos >= len(self.data):
            raise ParseError("value expected at the end")
        c = self.data[self.pos]
        if c == 0x28:  # (
            return self.list()
        if c == 0x22:  # "
            return self.quoted()
        if c == 0x7B:  # {
            return self.literal()
        a = self.atom()
        return None if a.upper() == "NIL" else a

    def list(self):
        self.pos += 1
        out = []
        while True:
            self.skip_sp()
            if self.pos >= len(self.data):
                raise ParseError("unterminated list")
            if self.data[self.pos] == 0x29:  # )
                self.pos += 1
                return out
            out.append(self.value())

    def quoted(self):
        self.pos += 1
        out = bytearray()
        d = self.data
        while True:
            if self.pos >= len(d):
                raise ParseError("unterminated quoted string")
            c = d[self.pos]
            if c == 0x5C:  # backslash
                out.append(d[self.pos + 1])
                self.pos += 2
            elif c == 0x22:
                self.pos += 1
                return bytes(out)
            elif c in (0x0D, 0x0A):
                raise ParseError("CR or LF in a quoted string")
            else:
                out.append(c)
                self.pos += 1

    def literal(self):
        m = self.LITERAL.match(self.data, self.pos)
        if not m:
            raise ParseError("bad literal at %d" % self.pos)
        start = m.end()
        self.pos = start + int(m.group(1))
        if self.pos > len(self.data):
            raise ParseError("short literal")
        return self.data[start:self.pos]

    def atom(self):
        d = self.data
        start = self.pos
        while self.pos < len(d) and d[self.pos] not in b" ()\r\n":
            if d[self.pos] == 0x5B:  # [ ... ] of BODY[section], with its spaces
                end = d.find(b"]", self.pos)
                if end < 0:
                    raise ParseError("unterminated [")
                self.pos = end + 1
                continue
            self.pos += 1
        if self.pos == start:
            raise ParseError("atom expected at %d: %r" % (start, d[start:start + 20]))
        return d[start:self.pos].decode("latin-1")

    def rest(self):
        end = self.data.find(b"\r\n", self.pos)
        s = self.data[self.pos:end if end >= 0 else len(self.data)]
        self.pos = len(self.data)
        return s


def resp_text(b):
    """(CODE, args, text) of a resp-text (code None when there is none)."""
    b = b.lstrip(b" ")
    if b.startswith(b"["):
        end = b.find(b"]")
        if end < 0:
            return None, "", b.decode("latin-1")
        inner = b[1:end].decode("latin-1")
        code, _, args = inner.partition(" ")
        return code.upper(), args, b[end + 1:].strip().decode("latin-1", "replace")
    return None, "", b.decode("latin-1", "replace")


class Response:
    """One untagged response: kind (EXISTS, FETCH, FLAGS, OK, ...), num,
    data, raw bytes."""
    __slots__ = ("kind", "num", "data", "raw", "code", "args", "text")

    def __init__(self, raw):
        self.raw = raw
        self.num = None
        self.data = None
        self.code = self.args = self.text = None
        p = Parser(raw, 2)
        first = p.atom()
        if first.isdigit():
            self.num = int(first)
            p.expect(b" ")
            self.kind = p.atom().upper()
            if self.kind == "FETCH":
                p.skip_sp()
                self.data = p.list()
        else:
            self.kind = first.upper()
            if self.kind in ("OK", "NO", "BAD", "BYE", "PREAUTH"):
                self.code, self.args, self.text = resp_text(p.rest())
            elif self.kind == "FLAGS":
                p.skip_sp()
                self.data = p.list()
            elif self.kind == "SEARCH":
                self.data = [int(x) for x in p.rest().split()]
            elif self.kind == "STATUS":
                p.skip_sp()
                name = p.value()
                p.skip_sp()
                lst = p.list()
                self.data = (name, {lst[i].upper(): int(lst[i + 1]) for i in range(0, len(lst) - 1, 2)})


def parse_set(s):
    """An IMAP number set without '*' as a list of ints in order; None when
    it is not one (RFC 4315 uid-set is non-empty)."""
    if not re.fullmatch(r"\d+(:\d+)?(,\d+(:\d+)?)*", s or ""):
        return None
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        a = int(a)
        b = int(b) if b else a
        if a == 0 or b == 0:
            return None
        out.extend(range(min(a, b), max(a, b) + 1))
    return out


def item_key(name):
    """A FETCH item's name as a key: BODY[...] without PEEK, section text
    upper-cased, a header list as the set of lower-cased names."""
    m = re.match(r"(?i)BODY(?:\.PEEK)?\[(.*)\](?:<(\d+)(?:\.\d+)?>)?$", name)
    if not m:
        return name.upper()
    section, origin = m.group(1), m.group(2)
    sm = re.match(r"(?i)((?:\d+\.)*)(HEADER\.FIELDS(?:\.NOT)?)\s*\((.*)\)$", section)
    if sm:
        names = frozenset(n.strip('"').lower() for n in sm.group(3).split())
        return ("BODY", sm.group(1) + sm.group(2).upper(), names, origin)
    return ("BODY", section.upper(), None, origin)


def key_text(key):
    if isinstance(key, str):
        return key
    sec = key[1]
    if key[2] is not None:
        sec += " (" + " ".join(sorted(key[2])) + ")"
    return "BODY[%s]%s" % (sec, "<%s>" % key[3] if key[3] is not None else "")


def show(v, limit=160):
    """A value for a report line."""
    if isinstance(v, bytes):
        if len(v) > limit:
            return "%r... (%d bytes, sha256 %s)" % (v[:limit], len(v), hashlib.sha256(v).hexdigest()[:12])
        return repr(v)
    r = repr(v)
    return r if len(r) <= limit * 2 else r[:limit * 2] + "..."


def wire(b, limit=300):
    """Bytes of the wire for a transcript line."""
    s = b.decode("latin-1")
    s = s[:-2] if s.endswith("\r\n") else s
    s = s.replace("\r", "\\r").replace("\n", "\\n")
    return s if len(s) <= limit else s[:limit] + "...(%d bytes)" % len(b)


# --- messages ----------------------------------------------------------------

def header_split(msg):
    """(header, has_blank_line, text) as RFC 3501 6.4.5 sees a message."""
    if msg.startswith(b"\r\n"):
        return b"", True, msg[2:]
    i = msg.find(b"\r\n\r\n")
    if i < 0:
        return msg, False, b""
    return msg[:i + 2], True, msg[i + 4:]


def header_fields(hdr):
    """[(lower-cased name or None, bytes of the field with its folds)]: a
    field is a line and the lines after it that start with SP or HTAB; a
    line without a colon (or starting the header with WSP) has no name."""
    lines = []
    i = 0
    while i < len(hdr):
        j = hdr.find(b"\n", i)
        j = len(hdr) if j < 0 else j + 1
        lines.append(hdr[i:j])
        i = j
    out = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and out:
            out[-1][1] += line
            continue
        name = None
        if line[:1] not in (b" ", b"\t") and b":" in line:
            name = line.split(b":", 1)[0].rstrip(b" \t").decode("latin-1").lower()
        out.append([name, line])
    return out


def expected_section(msg, key):
    """What BODY[section] must be for a message, from its bytes; None when
    this checker does not compute it."""
    if isinstance(key, str) or key[3] is not None and key[1] != "":
        return None
    sec = key[1]
    if sec == "" and key[3] is not None:
        return msg[int(key[3]):int(key[3]) + PARTIAL]
    if sec == "":
        return msg
    hdr, blank, text = header_split(msg)
    tail = b"\r\n" if blank else b""
    if sec == "HEADER":
        return hdr + tail
    if sec == "TEXT":
        return text
    if sec in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        names, nt = key[2], sec.endswith(".NOT")
        fields = header_fields(hdr)
        parts = []
        for name, f in fields:
            if (name in names) != nt and not (nt is False and name is None):
                parts.append(f if f.endswith(b"\n") else f + b"\r\n")
        return b"".join(parts) + tail
    return None


def crlf(b):
    return re.sub(rb"(?<!\r)\n", b"\r\n", b)


def with_message_id(raw, msgid):
    """The message with its top-level Message-ID fields replaced by ours,
    added at the end of the header (a first line that starts with WSP
    stays where it is)."""
    hdr, blank, text = header_split(raw)
    keep = b"".join(f for name, f in header_fields(hdr) if name != "message-id")
    if keep and not keep.endswith(b"\n"):
        keep += b"\r\n"
    keep += b"Message-ID: <%s>\r\n" % msgid.encode()
    return keep + (b"\r\n" + text if blank else b"")


def load_corpus(d):
    out = []
    for path in sorted(glob.glob(os.path.join(d, "*.eml"))):
        b = open(path, "rb").read()
        if b"\0" in b:
            continue  # RFC 3501 literals carry no NUL (CHAR8)
        out.append((os.path.basename(path), crlf(b)))
    return out


def b64(data):
    import base64
    e = base64.b64encode(data)
    return b"\r\n".join(e[i:i + 76] for i in range(0, len(e), 76))


def hname(rnd, name):
    r = rnd.random()
    return name.upper() if r < 0.08 else name.lower() if r < 0.16 else name


def generate(rnd, msgid, corpus, k, n):
    """A message with the Message-ID <msgid>: plain, multipart with
    attachments, alternative, an attached message, encoded words, folded
    References, names in odd case, repeated fields; or one of the corpus."""
    kind = rnd.choice(["plain", "plain", "mixed", "alternative", "rfc822", "corpus", "corpus"])
    if kind == "corpus" and corpus:
        return with_message_id(rnd.choice(corpus)[1], msgid)
    h = []
    frm = rnd.choice(["Stress Client <c%d@example.org>" % k, "=?UTF-8?B?SsO8cmdlbg==?= <j%d@example.de>" % k,
                      '"Doe, Jane" <jane%d@example.com>' % k, "c%d@example.org" % k])
    h.append((hname(rnd, "From"), frm))
    h.append((hname(rnd, "To"), rnd.choice(["user@example.org", "a@example.org, b@example.org",
                                              "undisclosed-recipients:;"])))
    if rnd.random() < 0.3:
        h.append((hname(rnd, "Cc"), "cc%d@example.net" % n))
    subj = rnd.choice(["stress %d of c%d" % (n, k), "=?ISO-8859-1?Q?Gr=FC=DFe?= %d" % n,
                       "=?UTF-8?Q?caf=C3=A9?=\r\n =?UTF-8?Q?_au_lait?= %d" % n,
                       "a long subject " + " ".join("word%d" % i for i in range(rnd.randint(5, 40)))])
    h.append((hname(rnd, "Subject"), subj))
    if rnd.random() < 0.05:
        h.append(("Subject", "second subject %d" % n))
    h.append(("Date", time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(1.7e9 + rnd.randint(0, 10 ** 8)))))
    h.append((hname(rnd, "Message-ID"), "<%s>" % msgid))
    if rnd.random() < 0.5:
        refs = ["<ref.%d.%d@example.org>" % (k, rnd.randint(0, 10 ** 6)) for _ in range(rnd.randint(1, 6))]
        h.append((hname(rnd, "References"), "\r\n\t".join(refs)))
        h.append(("In-Reply-To", refs[-1]))
    if rnd.random() < 0.2:
        h.append(("Received", "from a by b; Mon, 7 Dec 2026 10:00:00 +0000"))
        h.append(("Received", "from c by d;\r\n\tMon, 7 Dec 2026 09:59:00 +0000"))
    h.append(("X-Stress", "c%d n%d" % (k, n)))
    lines = ["line %d of message %d from c%d" % (i, n, k) for i in range(rnd.randint(1, 60))]
    text = "\r\n".join(lines) + "\r\n"
    if kind == "plain":
        body = text
        h.append(("Content-Type", "text/plain; charset=us-ascii"))
    elif kind == "alternative":
        h.append(("MIME-Version", "1.0"))
        h.append(("Content-Type", 'multipart/alternative; boundary="alt-%d"' % n))
        body = ("--alt-%d\r\nContent-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 %s--alt-%d\r\n"
                "Content-Type: text/html\r\n\r\n<p>%d</p>\r\n--alt-%d--\r\n" % (n, text, n, n, n))
    elif kind == "rfc822":
        h.append(("MIME-Version", "1.0"))
        h.append(("Content-Type", "multipart/mixed; boundary=mix%d" % n))
        inner = ("From: inner@example.org\r\nSubject: inner %d\r\nMessage-ID: <inner.%s>\r\n\r\n%s"
                 % (n, msgid, text))
        body = ("preamble\r\n--mix%d\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--mix%d\r\n"
                "Content-Type: message/rfc822\r\n\r\n%s\r\n--mix%d--\r\nepilogue\r\n" % (n, n, inner, n))
    else:  # mixed, with an attachment
        h.append(("MIME-Version", "1.0"))
        h.append(("Content-Type", "multipart/mixed;\r\n boundary=\"b-%d-%s\"" % (n, "x" * rnd.randint(1, 50))))
        bnd = h[-1][1].split('"')[1]
        data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 6000)))
        fname = rnd.choice(['filename="Rechnung %d.pdf"' % n,
                            "filename*=UTF-8''R%%C3%%A9sum%%C3%%A9-%d.bin" % n])
        body = ("--%s\r\nContent-Type: text/plain\r\n\r\n%s--%s\r\nContent-Type: application/octet-stream\r\n"
                "Content-Disposition: attachment; %s\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n--%s--\r\n"
                % (bnd, text, bnd, fname, b64(data).decode(), bnd))
    head = "".join("%s: %s\r\n" % f for f in h)
    return (head + "\r\n" + body).encode()


# --- what all clients share ----------------------------------------------------

class Guard:
    """Who may be changing whose keywords in one mailbox (user, name,
    UIDVALIDITY): the last time (a World tick) an owner's STORE began or
    ended, mailbox-wide or per UID, and the same for FLAGS replacements
    (which change every owner's keywords); and what each owner's keywords
    of a UID were last known to be, with the tick since when."""

    def __init__(self):
        self.mb_last = collections.defaultdict(int)
        self.mb_in = collections.Counter()
        self.msg_last = {}
        self.msg_in = collections.Counter()
        self.r_mb_last = 0
        self.r_mb_in = 0
        self.r_msg_last = {}
        self.r_msg_in = collections.Counter()
        self.rec = collections.defaultdict(dict)  # uid -> owner -> (state, tick)
        # (uid, owner) whose rec came from a STORE answered without a FETCH
        # for uid: the message may have been expunged before it.
        self.unanswered = set()
        # What the checker saw of each UID (None: STOREs that named the
        # mailbox as a whole), with the ticks: a store-fetch violation
        # shows it.
        self.hist = collections.defaultdict(lambda: collections.deque(maxlen=HISTORY))
        self.wide = collections.deque(maxlen=HISTORY * 8)

    def note(self, t, uid, text):
        (self.wide if uid is None else self.hist[uid]).append((t, text))

    def history(self, uid):
        """The UID's events and the mailbox-wide STOREs among them, in
        tick order."""
        own = list(self.hist.get(uid, ()))
        first = own[0][0] if own else 0
        wide = [(t, x) for t, x in self.wide if t >= first]
        return "\n".join("    %6d %s" % e for e in sorted(own + wide, key=lambda e: e[0]))

    def replace_stable(self, uid, since):
        return (self.r_mb_in == 0 and self.r_mb_last <= since and self.r_msg_in[uid] == 0
                and self.r_msg_last.get(uid, 0) <= since)

    def stable(self, uid, owner, since):
        return (self.mb_in[owner] == 0 and self.mb_last[owner] <= since
                and self.msg_in[(uid, owner)] == 0 and self.msg_last.get((uid, owner), 0) <= since
                and self.replace_stable(uid, since))

    def mark(self, t, owner, uids, replace, delta):
        if uids is None:
            if owner is not None:
                self.mb_in[owner] += delta
                self.mb_last[owner] = t
            if replace:
                self.r_mb_in += delta
                self.r_mb_last = t
            return
        for u in uids:
            if owner is not None:
                self.msg_in[(u, owner)] += delta
                self.msg_last[(u, owner)] = t
            if replace:
                self.r_msg_in[u] += delta
                self.r_msg_last[u] = t

    def known(self, uid, owner):
        """The owner's keywords of uid while nothing changed them since."""
        r = self.rec.get(uid, {}).get(owner)
        if r and self.stable(uid, owner, r[1]):
            return r[0]
        return None


class World:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.out_lock = threading.Lock()
        self.stop = threading.Event()
        self.ticks = 0
        self.uidmap = {}  # (user, mbox, uv, uid) -> msgid
        self.content = {}  # msgid -> bytes as APPENDed (or as BODY[] first answered)
        self.source = {}  # msgid -> where content came from, when not from APPEND
        self.immut = collections.defaultdict(dict)  # msgid -> key -> (value, where)
        self.pending = collections.defaultdict(list)  # (user, mbox, uv, uid) -> [(key, value, ctx)]
        self.maxuid = {}  # (user, mbox) -> (uv, max uid seen)
        self.uvs = {}  # (user, mbox) -> UIDVALIDITY, mailboxes never deleted
        self.guards = collections.defaultdict(Guard)
        self.counts = collections.Counter()
        self.checks = collections.Counter()  # comparisons made, by what they compared
        self.allowed = collections.Counter()
        self.violations = collections.Counter()
        self.printed = collections.Counter()
        self.nviolations = 0
        self.run_id = "%x%x" % (int(time.time()) & 0xFFFFFF, os.getpid())

    def tick(self):
        self.ticks += 1
        return self.ticks

    def report(self, kind, who, detail, cmd=None, answer=None, tail=None):
        with self.out_lock:
            self.violations[kind] += 1
            self.nviolations += 1
            if kind in self.args.until:
                self.stop.set()
            n = self.printed[kind]
            if n >= self.args.max_report:
                return
            self.printed[kind] += 1
            lines = ["VIOLATION [%s] %s: %s" % (kind, who, detail)]
            if cmd:
                lines.append("  command: %s" % cmd)
            if answer:
                for a in (answer if isinstance(answer, list) else [answer]):
                    lines.append("  answer:  %s" % wire(a, 600))
            if tail:
                lines.append("  transcript tail:")
                lines.extend("    " + t for t in tail)
            print("\n".join(lines), flush=True)

    # The store of immutable data (all under self.lock).
    def learn_msgid(self, ukey, msgid, ctx):
        old = self.uidmap.get(ukey)
        if old is not None and old != msgid:
            ctx.violation("uid-reuse", "UID %d of %s (UIDVALIDITY %s) named <%s> before and <%s> now"
                          % (ukey[3], ukey[1], ukey[2], old, msgid))
            return
        self.uidmap[ukey] = msgid
        for key, value, pctx in self.pending.pop(ukey, []):
            self.check_immutable(msgid, key, value, pctx)

    def observe(self, ukey, key, value, ctx):
        msgid = self.uidmap.get(ukey)
        if msgid is None:
            self.pending[ukey].append((key, value, ctx))
        else:
            self.check_immutable(msgid, key, value, ctx)

    def check_immutable(self, msgid, key, value, ctx):
        whole = key == ("BODY", "", None, None)
        cmp = hashlib.sha256(value).hexdigest() if whole and isinstance(value, bytes) else value
        rec = self.immut[msgid]
        if key in rec:
            first, where = rec[key][:2]
            self.checks["immutable"] += 1
            if first != cmp:
                ctx.violation("immutable", "%s of <%s> changed: first %s (%s), now %s"
                              % (key_text(key), msgid, show(first), where, show(cmp)))
        content = self.content.get(msgid)
        if key not in rec and not ctx.note:  # data for a message expunged meanwhile is no reference
            # The value itself only while the message's bytes are unknown.
            rec[key] = (cmp, ctx.where()) + ((value, ctx) if content is None else (None, None))
        if content is None and whole and isinstance(value, bytes) and not ctx.note:
            # Not APPENDed by this run as it is stored (a bare CR that the
            # server may repair, or a message that was there before): what
            # the server said first is the message from now on.
            self.content[msgid] = value
            self.source[msgid] = "as BODY[] first answered"
            for k, (first, where, v, c) in list(rec.items()):
                if k != key and c is not None:
                    self.check_computed(msgid, value, k, v, c)
                rec[k] = (first, where, None, None)
            return
        if content is not None:
            self.check_computed(msgid, content, key, value, ctx)

    def check_computed(self, msgid, content, key, value, ctx):
        exp = None
        if key == "RFC822.SIZE":
            exp = len(content)
        elif key == "ENVELOPE":
            got = value[9] if isinstance(value, list) and len(value) > 9 else value
            self.checks["computed"] += 1
            if got != b"<%s>" % msgid.encode():
                ctx.violation("computed", "ENVELOPE message-id of <%s> is %s" % (msgid, show(got)))
            return
        else:
            exp = expected_section(content, key)
        if exp is None:
            return
        self.checks["computed"] += 1
        if exp != value:
            ctx.violation("header-fields" if isinstance(key, tuple) and key[1].startswith("HEADER") else "computed",
                          "%s of <%s> is %s; from the message's own bytes (%s) it is %s "
                          "(RFC 3501 6.4.5)" % (key_text(key), msgid, show(value),
                                                self.source.get(msgid, "as APPENDed"), show(exp)))

    def seen_uid(self, user, mbox, uv, uid):
        k = (user, mbox)
        cur = self.maxuid.get(k)
        if cur is None or cur[0] != uv:
            self.maxuid[k] = (uv, uid)
        elif uid > cur[1]:
            self.maxuid[k] = (uv, uid)


# --- one client's session ------------------------------------------------------

class View:
    """The selected mailbox as the server told this session."""

    def __init__(self, name, readonly):
        self.name = name
        self.readonly = readonly
        self.uv = None
        self.uidnext = None
        self.uids = []  # per sequence number: UID or None
        self.lo = []  # per sequence number: its UID is above this
        self.hi = []  # per sequence number: its UID is below this (UIDNEXT) or None
        self.flags = []  # per sequence number: last FLAGS told (lower-cased set) or None
        self.announced = None  # lower-cased flags of the last FLAGS response
        self.maxuid = 0
        self.seen = set()  # what SELECT answered: FLAGS, EXISTS, RECENT, UIDVALIDITY
        self.gone = False  # another session deleted it


class Cmd:
    def __init__(self, tag, text):
        self.tag = tag
        self.text = text
        words = text.split(" ", 2)
        self.name = words[0].upper()
        if self.name == "UID" and len(words) > 1:
            self.name = "UID " + words[1].upper()
        self.responses = []
        self.fetches = []  # (seq, uid, items dict, raw)
        self.expunged_uids = set()
        self.expunges = 0
        self.since = 0
        self.status = None
        self.target = None
        self.ok_codes = ()
        self.noop_expunged = set()
        self.code = None
        self.args = ""
        self.tagged = b""


class Client(threading.Thread):
    def __init__(self, k, world, addr, user):
        super().__init__(name="c%d" % k, daemon=True)
        self.k = k
        self.world = world
        self.args = world.args
        self.addr = addr
        self.user = user
        self.rnd = random.Random("%d/%d" % (self.args.seed, k))
        self.own = ["$s%d-k%d" % (k, i) for i in range(3)]
        self.nfresh = 0
        self.nmsg = 0
        self.ntag = 0
        self.sock = None
        self.port = None
        self.view = None
        self.cmd = None
        self.tail = collections.deque(maxlen=TAIL)
        self.logged_out = False
        self.nflagchecks = 0
        self.suspects = []  # (uid, ctx, detail): resolve_suspects()

    # -- reporting
    def who(self):
        return "%s (%s@%s:%d%s%s)" % (self.name, self.user, self.addr[0], self.addr[1],
                                      " %s" % self.view.name if self.view else "",
                                      " from port %d" % self.port if self.port else "")

    def where(self):
        return "%s %s" % (self.name, self.cmd.tag if self.cmd else "")

    def violation(self, kind, detail, answer=None):
        c = self.cmd
        self.world.report(kind, self.who(), detail, "%s %s" % (c.tag, c.text) if c else None,
                          answer if answer is not None else (c.tagged if c and c.tagged else None),
                          list(self.tail))

    def log(self, d, b):
        self.tail.append("%s: %s" % (d, wire(b, 200)))

    # -- I/O
    def connect(self):
        self.sock = socket.create_connection(self.addr, timeout=self.args.timeout)
        self.port = self.sock.getsockname()[1]
        self.buf = bytearray()
        self.logged_out = False
        self.view = None
        self.tail.clear()

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def fill(self, deadline):
        left = deadline - time.time()
        if left <= 0:
            raise Hang()
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(1 << 16)
        except socket.timeout:
            raise Hang()
        except ConnectionResetError:
            raise Closed()
        if not d:
            raise Closed()
        self.buf += d

    def read_response(self, deadline):
        """One whole response (a line and the literals it announces), taken
        from the buffer only once it is all there."""
        pos = 0
        while True:
            i = self.buf.find(b"\r\n", pos)
            if i < 0:
                self.fill(deadline)
                continue
            m = re.search(rb"\{(\d+)\}\r\n$", self.buf[pos:i + 2])
            if not m:
                break
            end = i + 2 + int(m.group(1))
            while len(self.buf) < end:
                self.fill(deadline)
            pos = end
        out = bytes(self.buf[:i + 2])
        del self.buf[:i + 2]
        self.log("S", out)
        return out

    def send(self, b):
        self.log("C", b)
        try:
            self.sock.sendall(b)
        except socket.timeout:
            raise Hang()
        except (BrokenPipeError, ConnectionResetError):
            raise Closed()

    # -- commands
    def run_cmd(self, text, literal=None, sync=True, idle=None, target=None, ok_codes=()):
        """Sends a command and reads up to its tagged answer, feeding every
        untagged response to the model in order; then judges the answer.
        After NO [EXPUNGEISSUED] a NOOP must announce what was expunged."""
        c = self.exchange(text, literal, sync, idle, target, ok_codes)
        if c.status == "NO" and c.code == "EXPUNGEISSUED" and self.view is not None:
            n = self.exchange("NOOP")
            c.noop_expunged = n.expunged_uids
            if self.view is not None and n.fetches:
                self.check_fetches(n)
            unexplained = c.expunges == 0 and n.expunges == 0
            if self.scratch_deleted():
                # The messages went with their mailbox, with no EXPUNGE for
                # them (whether or not others were expunged before): all of
                # them are gone.
                c.noop_expunged = {uid for _, uid, _, _ in c.fetches}
                unexplained = False
            self.cmd = c
            if unexplained:
                self.violation("expungeissued", "NO [EXPUNGEISSUED] but neither this command nor the NOOP "
                               "after it announced an EXPUNGE", [c.tagged, n.tagged])
        if self.view is not None and c.fetches:
            self.check_fetches(c)
        if self.suspects:
            self.resolve_suspects(c)
        return c

    def resolve_suspects(self, c):
        """FETCH FLAGS that disagreed with a STORE answered without a FETCH
        for the message: that STORE found the message expunged (RFC 2180
        4.2.1) and the FETCH answered its ghost (4.1.1) only if this
        command or the NOOP sent now announces its EXPUNGE."""
        suspects, self.suspects = self.suspects, []
        n = self.exchange("NOOP")
        if self.view is not None and n.fetches:
            self.check_fetches(n)
        gone = c.expunged_uids | c.noop_expunged | n.expunged_uids
        if self.scratch_deleted():  # all went with their mailbox, no EXPUNGE
            gone |= {uid for uid, _, _ in suspects + self.suspects}
        with self.world.lock:
            self.world.checks["ghost keywords"] += len(gone & {uid for uid, _, _ in suspects + self.suspects})
        for uid, ctx, detail in suspects + self.suspects:
            if uid not in gone:
                ctx.violation("store-fetch", detail + " (nor was it expunged: the NOOP after announced no "
                              "EXPUNGE for it)")
        self.suspects = []

    def exchange(self, text, literal=None, sync=True, idle=None, target=None, ok_codes=()):
        self.ntag += 1
        c = Cmd("%s.%d" % (self.name, self.ntag), text)
        c.target = target
        c.ok_codes = ok_codes
        self.cmd = c
        with self.world.lock:
            c.since = self.world.ticks
            self.world.counts[c.name] += 1
        deadline = time.time() + self.args.timeout
        if literal is not None:
            self.send(("%s %s {%d%s}\r\n" % (c.tag, text, len(literal), "" if sync else "+")).encode())
            if sync and not self.continued(c, deadline):
                return c
            self.send(literal + b"\r\n")
        else:
            self.send(("%s %s\r\n" % (c.tag, text)).encode())
        if idle is not None:
            if not self.continued(c, deadline):
                return c
            end = time.time() + idle
            while True:
                try:
                    r = self.read_response(min(end, deadline))
                except Hang:
                    break
                if r.startswith(c.tag.encode() + b" "):
                    return self.finish(c, r)
                self.untagged(c, r)
            self.send(b"DONE\r\n")
        while True:
            r = self.read_response(deadline)
            if r.startswith(c.tag.encode() + b" "):
                return self.finish(c, r)
            if r.startswith(b"+"):
                self.violation("protocol", "a continuation request where none was due", r)
                raise StopSession()
            self.untagged(c, r)

    def continued(self, c, deadline):
        """Reads up to the continuation request c waits for: True, or
        False when the tagged answer came instead (c is finished)."""
        while True:
            r = self.read_response(deadline)
            if r.startswith(b"+"):
                return True
            if r.startswith(c.tag.encode() + b" "):
                self.finish(c, r)
                return False
            self.untagged(c, r)

    def scratch_deleted(self):
        """Whether the selected mailbox is Scratch and another session
        deleted it (its messages are then gone without EXPUNGE)."""
        v = self.view
        if v is None or v.name != SCRATCH:
            return False
        st = self.exchange("STATUS %s (UIDVALIDITY)" % SCRATCH, target=SCRATCH)
        got = [r.data[1].get("UIDVALIDITY") for r in st.responses if r.kind == "STATUS"]
        if st.status == "NO" or (got and got[-1] != v.uv):
            v.gone = True
        return v.gone

    def finish(self, c, r):
        c.tagged = r
        p = Parser(r, len(c.tag) + 1)
        c.status = p.atom().upper()
        c.code, c.args, _ = resp_text(p.rest())
        self.after_command(c)
        return c

    # -- the model: untagged responses in order
    def untagged(self, c, raw):
        if not raw.startswith(b"* "):
            self.violation("protocol", "a line that is neither tagged, untagged nor a continuation", raw)
            raise StopSession()
        try:
            r = Response(raw)
        except (ParseError, ValueError, IndexError) as e:
            self.violation("syntax", "cannot parse the response (%s)" % e, raw)
            raise StopSession()
        c.responses.append(r)
        v = self.view
        if r.kind == "BYE":
            if c.name != "LOGOUT":
                self.violation("bye", "BYE although no LOGOUT was sent", raw)
            return
        if r.kind == "BAD":
            self.violation("bad", "an untagged BAD", raw)
            return
        if v is None:
            if r.kind in ("EXISTS", "EXPUNGE", "FETCH", "RECENT"):
                self.violation("state", "%s while no mailbox is selected" % r.kind, raw)
            return
        if r.kind == "EXISTS":
            v.seen.add("EXISTS")
            n = r.num
            if n < len(v.uids):
                self.violation("seq", "EXISTS %d after %d without EXPUNGE" % (n, len(v.uids)), raw)
                raise StopSession()
            lo = v.maxuid
            if v.uidnext and c.name not in ("SELECT", "EXAMINE"):
                lo = max(lo, v.uidnext - 1)
            new = n - len(v.uids)
            if c.name in ("SELECT", "EXAMINE") and not v.uids:
                lo = 0
            v.uids.extend([None] * new)
            v.lo.extend([lo] * new)
            v.hi.extend([None] * new)
            v.flags.extend([None] * new)
        elif r.kind == "EXPUNGE":
            n = r.num
            if c.name in ("FETCH", "STORE", "SEARCH"):
                self.violation("seq", "EXPUNGE while answering %s (RFC 3501 7.4.1)" % c.name, raw)
            if n < 1 or n > len(v.uids):
                self.violation("seq", "EXPUNGE %d but the session has %d messages" % (n, len(v.uids)), raw)
                raise StopSession()
            uid = v.uids[n - 1]
            if uid is not None:
                c.expunged_uids.add(uid)
            c.expunges += 1
            for lst in (v.uids, v.lo, v.hi, v.flags):
                del lst[n - 1]
        elif r.kind == "RECENT":
            v.seen.add("RECENT")
        elif r.kind == "FLAGS":
            v.seen.add("FLAGS")
            v.announced = {f.lower() for f in r.data if isinstance(f, str)}
        elif r.kind == "OK" and r.code == "UIDVALIDITY":
            v.seen.add("UIDVALIDITY")
            v.uv = int(r.args)
        elif r.kind == "OK" and r.code == "UIDNEXT":
            v.uidnext = int(r.args)
            for i in range(len(v.uids)):
                v.hi[i] = v.uidnext
            for i, u in enumerate(v.uids):
                if u is not None and u >= v.uidnext:
                    self.violation("uid", "UIDNEXT %d but message %d has UID %d" % (v.uidnext, i + 1, u), raw)
        elif r.kind == "FETCH":
            self.fetch_response(c, r)

    def fetch_response(self, c, r):
        v = self.view
        n = r.num
        d = r.data
        if len(d) % 2:
            self.violation("syntax", "a FETCH with an odd number of items", r.raw)
            return
        items = {}
        for i in range(0, len(d), 2):
            if not isinstance(d[i], str):
                self.violation("syntax", "a FETCH item name that is not an atom", r.raw)
                return
            items[item_key(d[i])] = d[i + 1]
        if n < 1 or n > len(v.uids):
            self.violation("seq", "FETCH for message %d but the session has %d" % (n, len(v.uids)), r.raw)
            raise StopSession()
        uid = v.uids[n - 1]
        if "UID" in items:
            try:
                u = int(items["UID"])
            except (TypeError, ValueError):
                self.violation("syntax", "UID is not a number", r.raw)
                return
            if uid is not None and u != uid:
                self.violation("uid", "message %d had UID %d and now %d without EXPUNGE" % (n, uid, u), r.raw)
                raise StopSession()
            if uid is None:
                self.learn_uid(n, u, r.raw)
            uid = u
        if "FLAGS" in items:
            flags = items["FLAGS"]
            if not isinstance(flags, list):
                self.violation("syntax", "FLAGS is not a list", r.raw)
                return
            low = {f.lower() for f in flags}
            v.flags[n - 1] = low
            ann = v.announced or set()
            self.nflagchecks += 1
            missing = [f for f in flags if f.lower() not in ann and f.lower() != "\\recent"]
            if missing:
                self.violation("unannounced-flag", "FETCH FLAGS carries %s, which no FLAGS response of this "
                               "selected session listed before (RFC 3501 7.2.6)" % " ".join(missing), r.raw)
                if v.announced is not None:
                    v.announced |= {f.lower() for f in missing}  # once per keyword and session
        c.fetches.append((n, uid, items, r.raw))

    def learn_uid(self, n, u, raw):
        v = self.view
        i = n - 1
        if u <= v.lo[i]:
            self.violation("uid", "message %d has UID %d, not above %d (a UID seen before it arrived, or "
                           "UIDNEXT-1)" % (n, u, v.lo[i]), raw)
        if v.hi[i] is not None and u >= v.hi[i]:
            self.violation("uid", "message %d was there at SELECT but has UID %d, not below UIDNEXT %d"
                           % (n, u, v.hi[i]), raw)
        for j in range(i - 1, -1, -1):
            if v.uids[j] is not None:
                if v.uids[j] >= u:
                    self.violation("uid", "message %d has UID %d but message %d has UID %d"
                                   % (n, u, j + 1, v.uids[j]), raw)
                    raise StopSession()
                break
        for j in range(i + 1, len(v.uids)):
            if v.uids[j] is not None:
                if v.uids[j] <= u:
                    self.violation("uid", "message %d has UID %d but message %d has UID %d"
                                   % (n, u, j + 1, v.uids[j]), raw)
                    raise StopSession()
                break
        v.uids[i] = u
        if u > v.maxuid:
            v.maxuid = u
        if v.uv is not None:
            with self.world.lock:
                self.world.seen_uid(self.user, v.name, v.uv, u)

    # -- after the tagged answer
    def after_command(self, c):
        v = self.view
        if c.status == "BAD":
            self.violation("bad", "BAD to a valid command")
        elif c.status == "NO":
            reason = self.allowed_no(c)
            if reason is None:
                self.violation("no", "NO to a valid command that no race explains")
            else:
                with self.world.lock:
                    self.world.allowed[reason] += 1
        elif c.status != "OK":
            self.violation("protocol", "tagged answer %r" % c.status)

    def allowed_no(self, c):
        v = self.view
        if c.code in c.ok_codes:
            return "setup"
        if c.code == "EXPUNGEISSUED" and c.name in ("FETCH", "UID FETCH", "STORE", "UID STORE", "COPY",
                                                     "UID COPY", "MOVE", "UID MOVE"):
            return "expungeissued"
        target = getattr(c, "target", None)
        if target == SCRATCH:
            if c.name in ("SELECT", "EXAMINE", "STATUS", "DELETE") and c.code in ("NONEXISTENT", None):
                return "scratch-gone"
            if c.name in ("APPEND", "COPY", "UID COPY", "MOVE", "UID MOVE") and c.code in ("TRYCREATE", None):
                return "scratch-gone"
            if c.name == "CREATE" and c.code in ("ALREADYEXISTS", None):
                return "scratch-exists"
        if v is not None and v.name == SCRATCH and c.code in ("NONEXISTENT", None) and c.name not in (
                "LOGOUT", "NOOP", "SELECT", "EXAMINE", "STATUS", "APPEND", "CREATE", "DELETE"):
            v.gone = True
            return "selected-gone"
        return None

    def check_fetches(self, c):
        """Immutable data and own keywords of the FETCH responses of one
        command, once its tagged answer (and, after NO [EXPUNGEISSUED], the
        NOOP that follows) tells which messages were expunged."""
        v = self.view
        w = self.world
        gone = set(c.expunged_uids)
        if c.status == "NO" and c.code == "EXPUNGEISSUED":
            gone |= c.noop_expunged
        if c.status == "NO" and v.gone:  # NO [NONEXISTENT]: gone with the mailbox
            gone |= {uid for _, uid, _, _ in c.fetches}
        for n, uid, items, raw in c.fetches:
            if uid is None or v.uv is None:
                continue
            ukey = (self.user, v.name, v.uv, uid)
            ctx = FetchCtx(self, c, raw)
            if uid in gone:
                ctx.note = (" (another session expunged the message meanwhile: RFC 2180 4.1.3 lets a FETCH "
                            "answer NIL or \"\" for it, not data that looks real)")
            with w.lock:
                for key, value in items.items():
                    if key in ("UID", "FLAGS", "INTERNALDATE"):
                        continue
                    if key == "RFC822.SIZE":
                        value = int(value) if isinstance(value, str) and value.isdigit() else value
                    if uid in gone and is_nil_answer(key, value):
                        continue  # RFC 2180 4.1.3 (for a message that is there, the checks below judge it)
                    if key == "ENVELOPE" and isinstance(value, list) and len(value) > 9 and isinstance(value[9], bytes):
                        w.learn_msgid(ukey, value[9].decode("latin-1").strip("<>"), ctx)
                    w.observe(ukey, key, value, ctx)
                if "FLAGS" in items:
                    self.check_own_flags(v, uid, items["FLAGS"], c.since, ctx)

    def check_own_flags(self, v, uid, flags, since, ctx):
        """(under the world lock) Each owner's keywords in a FETCH FLAGS
        against what they were last known to be."""
        g = self.world.guards[(self.user, v.name, v.uv)]
        g.note(self.world.ticks, uid, "%s (since %d, port %s): %s" % (ctx.cmdtext.split(" ")[0], since, self.port,
                                                                      wire(ctx.raw, 200)))
        states = collections.defaultdict(set)
        for f in flags:
            m = OWN_RE.match(f.lower())
            if m:
                states[int(m.group(1))].add(f.lower())
        owners = set(states) | set(g.rec.get(uid, {}))
        for o in owners:
            state = frozenset(states.get(o, ()))
            if not g.stable(uid, o, since):
                continue
            known = g.known(uid, o)
            if known is not None:
                self.world.checks["own keywords"] += 1
            if known is not None and known != state:
                detail = ("UID %d: client c%d's keywords are {%s}, but after its last STORE (or the last "
                          "look) they were {%s} and nothing changed them since\n  what the checker saw of "
                          "UID %d (tick, event):\n%s"
                          % (uid, o, " ".join(sorted(state)), " ".join(sorted(known)), uid, g.history(uid)))
                if (uid, o) in g.unanswered:
                    self.suspects.append((uid, ctx, detail))
                else:
                    ctx.violation("store-fetch", detail)
            if known != state:
                g.rec[uid][o] = (state, since)
                g.unanswered.discard((uid, o))


class FetchCtx:
    """Where an observation was made, for a report made now or later."""

    def __init__(self, client, cmd, raw):
        self.client = client
        self.who = client.who()
        self.cmdtext = "%s %s" % (cmd.tag, cmd.text)
        self.raw = raw[:2000]  # what a report shows of it
        self.note = ""

    def where(self):
        return "%s %s" % (self.who.split(" ")[0], self.cmdtext.split(" ")[0])

    def violation(self, kind, detail):
        if self.note and kind in ("immutable", "computed", "header-fields"):
            kind = "expunged-data"
        self.client.world.report(kind, self.who, detail + self.note, self.cmdtext, self.raw,
                                 list(self.client.tail) if self.client.cmd and
                                 self.cmdtext.startswith(self.client.cmd.tag + " ") else None)


def is_nil_answer(key, value):
    """RFC 2180 4.1.3's "NIL FETCH responses" for an expunged message."""
    if value is None or value == b"":
        return True
    if key == "RFC822.SIZE":
        return value == 0
    if key == "ENVELOPE":
        return isinstance(value, list) and all(x is None for x in value)
    return False


# --- random valid commands ---------------------------------------------------------

def weighted(rnd, pairs):
    x = rnd.uniform(0, sum(w for _, w in pairs))
    for name, w in pairs:
        x -= w
        if x <= 0:
            return name
    return pairs[-1][0]


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SetSpec:
    """A sequence set or UID set as ranges; '*' is top (None: unknown)."""

    def __init__(self, spec, top):
        self.ranges = []
        self.unknown = False
        for part in spec.split(","):
            a, colon, b = part.partition(":")
            if "*" in (a, b) and top is None:
                self.unknown = True
                return
            a = top if a == "*" else int(a)
            b = a if not colon else top if b == "*" else int(b)
            self.ranges.append((min(a, b), max(a, b)))

    def __contains__(self, x):
        return any(lo <= x <= hi for lo, hi in self.ranges)


def case_vary(rnd, s):
    r = rnd.random()
    return s.upper() if r < 0.1 else s.lower() if r < 0.2 else s


def internal_date(rnd):
    t = time.gmtime(1.6e9 + rnd.randint(0, 2 * 10 ** 8))
    return "%02d-%s-%04d %02d:%02d:%02d %s%02d%02d" % (
        t.tm_mday, "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()[t.tm_mon - 1], t.tm_year,
        t.tm_hour, t.tm_min, t.tm_sec, rnd.choice("+-"), rnd.randint(0, 12), rnd.choice([0, 30]))


class Worker(Client):
    def run(self):
        w = self.world
        fails = 0
        while not w.stop.is_set():
            try:
                self.session()
                fails = 0
            except StopSession:
                pass
            except Closed:
                if not self.logged_out:
                    self.violation("closed", "the server closed the connection unasked")
            except Hang:
                self.violation("hang", "no complete answer within %ss" % self.args.timeout)
            except OSError as e:
                fails += 1
                self.cmd = None
                self.violation("connect", "cannot connect to or talk with the server: %s" % e)
                if fails >= 3:
                    return
                w.stop.wait(1)
            except Exception as e:  # a bug of the checker is a failure too
                import traceback
                self.violation("checker", "%r\n%s" % (e, traceback.format_exc()))
                return
            finally:
                self.close()
                self.view = None

    def login(self):
        self.cmd = None
        self.connect()
        g = self.read_response(time.time() + self.args.timeout)
        if not g.startswith(b"* OK"):
            self.violation("greeting", "the greeting is not * OK", g)
            raise StopSession()
        c = self.run_cmd("LOGIN %s %s" % (quote(self.user), quote(self.args.password)))
        if c.status != "OK":
            raise StopSession()

    def setup(self):
        """The user's mailboxes besides INBOX."""
        self.login()
        for name in MAILBOXES[1:]:
            self.run_cmd("CREATE %s" % name, ok_codes=("ALREADYEXISTS",))
        self.logout()
        self.close()

    def session(self):
        self.login()
        for _ in range(self.rnd.randint(5, 60)):
            if self.world.stop.is_set():
                break
            self.step()
            if self.logged_out:
                return
        self.logout()

    def logout(self):
        c = self.run_cmd("LOGOUT")
        self.logged_out = True
        self.view = None
        if not any(r.kind == "BYE" for r in c.responses):
            self.violation("protocol", "LOGOUT answered without an untagged BYE (RFC 3501 6.1.3)")
        try:
            extra = self.read_response(time.time() + self.args.timeout)
            self.violation("protocol", "data after LOGOUT completed", extra)
        except Closed:
            pass
        except Hang:
            self.violation("hang", "the connection stays open %ss after LOGOUT" % self.args.timeout)

    def step(self):
        v = self.view
        if v is None or v.gone:
            op = weighted(self.rnd, [("select", 70), ("append", 10), ("status", 8), ("scratch", 4),
                                     ("noop", 3), ("logout", 2), ("idle", 1)])
        else:
            op = weighted(self.rnd, [("fetch", 24), ("sync", 5), ("store", 16), ("append", 8), ("copy", 4),
                                     ("move", 3), ("expunge", 5), ("search", 8), ("noop", 4), ("idle", 3),
                                     ("check", 2), ("close", 2), ("unselect", 1), ("status", 3),
                                     ("select", 6), ("logout", 2), ("scratch", 1)])
            if op in ("append", "copy") and len(v.uids) > self.args.mailbox_size:
                op = "expunge"
            if v.readonly and op in ("store", "expunge", "move"):
                op = "fetch"
        getattr(self, "op_" + op)()

    # -- sets
    def seqset(self, most=None):
        rnd = self.rnd
        n = len(self.view.uids)
        if most is not None:
            a = rnd.randint(1, n)
            b = min(n, a + rnd.randint(0, most - 1))
            return str(a) if a == b else "%d:%d" % ((a, b) if rnd.random() < 0.9 else (b, a))
        r = rnd.random()
        if r < 0.35:
            return str(rnd.randint(1, n))
        if r < 0.6:
            a = rnd.randint(1, n)
            b = rnd.randint(a, min(n, a + 20))
            return "%d:%d" % ((a, b) if rnd.random() < 0.9 else (b, a))
        if r < 0.75:
            return "1:*"
        if r < 0.85:
            return "%d:*" % rnd.randint(1, n)
        return ",".join(str(x) for x in sorted(rnd.sample(range(1, n + 1), min(n, rnd.randint(2, 4)))))

    def uidset(self, most=None):
        """A UID set from the UIDs the session knows (None: it knows none)."""
        rnd = self.rnd
        known = [u for u in self.view.uids if u is not None]
        if not known:
            return None
        r = rnd.random()
        if most is not None or r < 0.5:
            i = rnd.randrange(len(known))
            j = min(len(known) - 1, i + rnd.randint(0, (most or 20) - 1))
            return str(known[i]) if i == j else "%d:%d" % (known[i], known[j])
        if r < 0.6:
            return "%d:*" % rnd.choice(known)
        if r < 0.7:
            return "1:*"
        if r < 0.75:
            return str(max(known) + rnd.randint(1, 1000))  # no such message: an empty answer
        return ",".join(str(u) for u in sorted(rnd.sample(known, min(len(known), rnd.randint(2, 4)))))

    def targets(self, spec, uidcmd):
        """The UIDs a set names in the view, and whether it may name
        messages the session does not know (then marks cover the mailbox)."""
        v = self.view
        if uidcmd:
            if ":" in spec or "*" in spec:
                top = v.uids[-1] if v.uids else None
                ss = SetSpec(spec, top)
                return ([] if ss.unknown else [u for u in v.uids if u is not None and u in ss]), True
            return [int(u) for u in spec.split(",")], False
        ss = SetSpec(spec, len(v.uids))
        uids = [v.uids[i - 1] for i in range(1, len(v.uids) + 1) if i in ss]
        return [u for u in uids if u is not None], any(u is None for u in uids)

    def mkey(self, name=None, uv=None):
        v = self.view
        return (self.user, name or v.name, uv if uv is not None else v.uv)

    def check_uv(self, mbox, uv):
        """(under the world lock) A mailbox that is never deleted keeps its
        UIDVALIDITY."""
        if mbox not in MAILBOXES:
            return
        prev = self.world.uvs.setdefault((self.user, mbox), uv)
        if prev != uv:
            self.violation("uidvalidity", "UIDVALIDITY of %s was %d and is %d, though it was never deleted"
                           % (mbox, prev, uv))

    # -- the operations
    def op_noop(self):
        self.run_cmd("NOOP")

    def op_check(self):
        self.run_cmd("CHECK")

    def op_idle(self):
        self.run_cmd("IDLE", idle=self.rnd.uniform(0.05, 1.0))

    def op_close(self):
        self.run_cmd("CLOSE")
        self.view = None

    def op_unselect(self):
        self.run_cmd("UNSELECT")
        self.view = None

    def op_logout(self):
        self.logout()

    def op_scratch(self):
        if self.view is not None and self.view.name == SCRATCH:
            return self.op_noop()
        verb = "CREATE" if self.rnd.random() < 0.5 else "DELETE"
        self.run_cmd("%s %s" % (verb, SCRATCH), target=SCRATCH)

    def op_select(self):
        rnd = self.rnd
        name = weighted(rnd, [("INBOX", 55), ("Archive", 35), (SCRATCH, 10)])
        examine = rnd.random() < 0.2
        self.view = View(name, examine)
        with self.world.lock:
            snap = self.world.maxuid.get((self.user, name))
        c = self.run_cmd("%s %s" % ("EXAMINE" if examine else "SELECT", name), target=name)
        if c.status != "OK":
            self.view = None
            return
        v = self.view
        missing = {"FLAGS", "EXISTS", "RECENT", "UIDVALIDITY"} - v.seen
        if missing:
            self.violation("select", "%s answered without %s (RFC 3501 6.3.1)"
                           % (c.name, " ".join(sorted(missing))))
        if examine and c.code != "READ-ONLY":
            self.violation("select", "EXAMINE's OK does not begin with [READ-ONLY] (RFC 3501 6.3.2)")
        if v.uv is None:
            raise StopSession()
        if v.uidnext is not None and snap and snap[0] == v.uv and v.uidnext <= snap[1]:
            self.violation("uid", "UIDNEXT %d but UID %d was seen in %s before the %s"
                           % (v.uidnext, snap[1], name, c.name))
        with self.world.lock:
            self.check_uv(name, v.uv)
        if rnd.random() < 0.7:
            self.op_sync()

    def op_sync(self):
        if not self.view.uids:
            return self.op_noop()
        if self.rnd.random() < 0.5:
            self.run_cmd("FETCH 1:* (UID FLAGS)")
        else:
            self.run_cmd("UID FETCH 1:* (FLAGS)")

    def hf_item(self, nt=False):
        rnd = self.rnd
        if not nt and rnd.random() < 0.2:
            names = ["From", "Subject", "References", "Subject"]  # issue 14's form
        else:
            names = rnd.sample(HEADER_NAMES, rnd.randint(1, 5))
            if rnd.random() < 0.4:
                names.insert(rnd.randint(0, len(names)), rnd.choice(names))  # a name twice
            names = [case_vary(rnd, x) for x in names]
        return "BODY.PEEK[HEADER.FIELDS%s (%s)]" % (".NOT" if nt else "", " ".join(names))

    def op_fetch(self):
        v = self.view
        if not v.uids:
            return self.op_noop()
        rnd = self.rnd
        items = ["UID"]
        heavy = False
        for item, p, big in (("FLAGS", 0.7, False), ("RFC822.SIZE", 0.4, False), ("ENVELOPE", 0.35, False),
                             ("BODYSTRUCTURE", 0.3, False), ("BODY.PEEK[HEADER]", 0.1, False),
                             ("BODY.PEEK[]", 0.15, True), ("BODY.PEEK[TEXT]", 0.07, True),
                             ("BODY.PEEK[]<0.%d>" % PARTIAL, 0.07, False), ("BODY[]", 0.03, True)):
            if rnd.random() < p:
                items.append(item)
                heavy = heavy or big
        for _ in range(rnd.randint(1, 2) if rnd.random() < 0.6 else 0):
            items.append(self.hf_item())
        if rnd.random() < 0.1:
            items.append(self.hf_item(nt=True))
        rnd.shuffle(items)
        if rnd.random() < 0.1:
            items = [i.lower() for i in items]
        uidcmd = rnd.random() < 0.5
        spec = self.uidset(most=3 if heavy else None) if uidcmd else None
        if spec is None:
            uidcmd = False
            spec = self.seqset(most=3 if heavy else None)
        self.fetch(uidcmd, spec, items)

    def fetch(self, uidcmd, spec, items):
        """FETCH or UID FETCH spec (items), and whether every message of
        the set got every item."""
        v = self.view
        # "*" is what the server's view held when the command began: a UID
        # FETCH may announce the EXPUNGE of the highest message among its
        # answers (RFC 3501 7.4.1 forbids it only for FETCH, STORE, SEARCH).
        count = len(v.uids)
        top = v.uids[-1] if v.uids else None
        c = self.run_cmd("%sFETCH %s (%s)" % ("UID " if uidcmd else "", spec, " ".join(items)))
        if c.status != "OK" or self.view is not v:
            return
        # RFC 3501 6.4.5: each item for each message of the set.
        want = {item_key(i) for i in items}
        got = collections.defaultdict(set)
        for n, uid, its, raw in c.fetches:
            got[uid if uidcmd else n].update(its)
        if uidcmd:
            ss = SetSpec(spec, top)
            wanted = [] if ss.unknown else [u for u in v.uids if u is not None and u in ss]
        else:
            ss = SetSpec(spec, count)
            wanted = [n for n in range(1, count + 1) if n in ss]
        for x in wanted:
            lack = want - got.get(x, set())
            if lack:
                self.violation("fetch", "FETCH OK but %s %d lacks %s" % (
                    "UID" if uidcmd else "message", x, ", ".join(sorted(key_text(k) for k in lack))))
                break

    def op_store(self):
        v = self.view
        if v.readonly or not v.uids:
            return self.op_fetch()
        rnd = self.rnd
        w = self.world
        kind = weighted(rnd, [("own", 45), ("system", 22), ("shared", 10), ("fresh", 8), ("replace", 5)])
        sign = rnd.choice("+-")
        own = []
        if kind == "own":
            own = rnd.sample(self.own, rnd.randint(1, 2))
            flags = [case_vary(rnd, x) for x in own]
        elif kind == "system":
            flags = rnd.sample(SYSTEM_FLAGS, rnd.randint(1, 2))
        elif kind == "shared":
            flags = [rnd.choice(SHARED_KEYWORDS)]
        elif kind == "fresh":
            self.nfresh += 1
            own = flags = ["$s%d-n%d" % (self.k, self.nfresh)]
            sign = "+"
        else:
            sign = ""
            own = rnd.sample(self.own, rnd.randint(0, 2))
            flags = rnd.sample(SYSTEM_FLAGS, rnd.randint(0, 2)) + own
        silent = ".SILENT" if rnd.random() < 0.2 else ""
        uidcmd = rnd.random() < 0.5
        spec = self.uidset() if uidcmd else None
        if spec is None:
            uidcmd = False
            spec = self.seqset()
        self.store(uidcmd, spec, sign, silent, flags, kind, own)

    def store(self, uidcmd, spec, sign, silent, flags, kind, own):
        """[UID] STORE spec sign FLAGS[.SILENT] (flags): kind "own" and
        "fresh" change only this client's keywords own, "replace" (sign "")
        every keyword; the answer is checked against what this client's
        keywords were before."""
        v = self.view
        w = self.world
        tuids, wide = self.targets(spec, uidcmd)
        owner = self.k if kind in ("own", "fresh", "replace") else None
        replace = kind == "replace"
        g = w.guards[self.mkey()]
        marks = None if wide else tuids
        text = "%sSTORE %s %sFLAGS%s (%s)" % ("UID " if uidcmd else "", spec, sign, silent, " ".join(flags))
        tag = "%s.%d" % (self.name, self.ntag + 1)
        with w.lock:
            # What this client's keywords were now, not when the command
            # goes out: a STORE FLAGS by another client in between (this
            # thread not scheduled meanwhile) makes them unknown.
            t_begin = w.ticks
            prior = {u: g.known(u, self.k) for u in tuids} if owner is not None and not replace else {}
            if owner is not None or replace:
                t = w.tick()
                g.mark(t, owner, marks, replace, +1)
                for u in marks if marks is not None else [None]:
                    g.note(t, u, "%s %s begins (port %s)" % (tag, text, self.port))
        c = None
        try:
            c = self.run_cmd(text)
        finally:
            with w.lock:
                t_end = w.tick()
                if owner is not None or replace:
                    g.mark(t_end, owner, marks, replace, -1)
                    for u in marks if marks is not None else [None]:
                        g.note(t_end, u, "%s ends %s" % (tag, c.status if c is not None else "(no answer)"))
                if c is not None and owner is not None and not replace and self.view is v:
                    self.check_store(c, g, tuids, prior, t_begin, {x.lower() for x in own}, sign, t_end)

    def check_store(self, c, g, tuids, prior, t_begin, kws, sign, t_end):
        """(under the world lock) The answer to this client's STORE of its
        own keywords against what they were before it (prior, taken at
        tick t_begin)."""
        answered = {}
        for n, uid, items, raw in c.fetches:
            if uid is not None and "FLAGS" in items:
                answered[uid] = (frozenset(f.lower() for f in items["FLAGS"]
                                           if f.lower().startswith("$s%d-" % self.k)), raw)
        for u in tuids:
            if not g.replace_stable(u, t_begin):
                continue
            p = prior.get(u)
            exp = None if p is None else (p | kws if sign == "+" else p - kws)
            if u in answered:
                self.world.checks["own keywords"] += 1
                state, raw = answered[u]
                g.note(t_end, u, "%s answered: %s" % (c.tag, wire(raw, 200)))
                if ((sign == "+" and not kws <= state) or (sign == "-" and kws & state)
                        or (exp is not None and state != exp)):
                    self.violation("store-fetch", "UID %d: %sFLAGS (%s) answered this client's keywords {%s}; "
                                   "they were {%s} before\n  what the checker saw of UID %d (tick, event):\n%s"
                                   % (u, sign, " ".join(sorted(kws)), " ".join(sorted(state)),
                                      "?" if p is None else " ".join(sorted(p)), u, g.history(u)), raw)
                g.rec[u][self.k] = (state, t_end)
                g.unanswered.discard((u, self.k))
            elif exp is not None and c.status == "OK":
                g.note(t_end, u, "%s answered no FETCH: c%d's keywords taken as {%s}"
                       % (c.tag, self.k, " ".join(sorted(exp))))
                g.rec[u][self.k] = (frozenset(exp), t_end)
                g.unanswered.add((u, self.k))

    def op_append(self):
        v = self.view
        rnd = self.rnd
        w = self.world
        if v is not None and rnd.random() < 0.7:
            mbox = v.name
        else:
            mbox = weighted(rnd, [("INBOX", 45), ("Archive", 45), (SCRATCH, 10)])
        self.nmsg += 1
        msgid = "st.%s.%d.%d@stress.test" % (w.run_id, self.k, self.nmsg)
        msg = generate(rnd, msgid, w.corpus, self.k, self.nmsg)
        flags = []
        if rnd.random() < 0.7:
            flags += rnd.sample(SYSTEM_FLAGS, rnd.randint(0, 2))
            flags += rnd.sample(self.own, rnd.randint(0, 2))
            if rnd.random() < 0.3:
                flags.append(rnd.choice(SHARED_KEYWORDS))
            if rnd.random() < 0.08:
                self.nfresh += 1
                flags.append("$s%d-n%d" % (self.k, self.nfresh))
        fl = " (%s)" % " ".join(flags) if flags or rnd.random() < 0.2 else ""
        date = ' "%s"' % internal_date(rnd) if rnd.random() < 0.3 else ""
        with w.lock:
            if not re.search(rb"\r(?!\n)", msg):
                w.content[msgid] = msg
            snap = w.maxuid.get((self.user, mbox))
        c = self.run_cmd("APPEND %s%s%s" % (mbox, fl, date), literal=msg, sync=rnd.random() < 0.5, target=mbox)
        if c.status != "OK" or c.code != "APPENDUID":
            return
        parts = c.args.split()
        if len(parts) != 2 or not all(x.isdigit() and x != "0" for x in parts):
            self.violation("uidplus", "malformed APPENDUID (RFC 4315: uidvalidity and one UID)")
            return
        uv, uid = int(parts[0]), int(parts[1])
        with w.lock:
            self.check_uv(mbox, uv)
            if snap and snap[0] == uv and uid <= snap[1]:
                self.violation("uid", "APPENDUID %d is not above UID %d that was seen in %s before the APPEND"
                               % (uid, snap[1], mbox))
            w.seen_uid(self.user, mbox, uv, uid)
            w.learn_msgid((self.user, mbox, uv, uid), msgid, FetchCtx(self, c, c.tagged))
            g = w.guards[(self.user, mbox, uv)]
            g.note(w.ticks, uid, "%s (since %d, port %s): APPEND%s" % (c.tag, c.since, self.port, fl))
            if g.stable(uid, self.k, c.since) and self.k not in g.rec.get(uid, {}):
                g.rec[uid][self.k] = (frozenset(f.lower() for f in flags if f.lower().startswith("$s%d-" % self.k)),
                                      c.since)
                g.note(w.ticks, uid, "%s: c%d's keywords taken from the APPEND" % (c.tag, self.k))

    def op_move(self):
        self.op_copy(move=True)

    def op_copy(self, move=False):
        v = self.view
        if not v.uids or (move and v.readonly):
            return self.op_noop()
        rnd = self.rnd
        w = self.world
        other = "Archive" if v.name == "INBOX" else "INBOX"
        dest = weighted(rnd, [(other, 80), (SCRATCH, 12), (v.name, 8)])
        uidcmd = rnd.random() < 0.5
        spec = self.uidset(most=5) if uidcmd else None
        if spec is None:
            uidcmd = False
            spec = self.seqset(most=5)
        with w.lock:
            snap = w.maxuid.get((self.user, dest))
        c = self.run_cmd("%s%s %s %s" % ("UID " if uidcmd else "", "MOVE" if move else "COPY", spec, dest),
                         target=dest)
        if c.status != "OK":
            return
        found = [(r.args, r.raw) for r in c.responses if r.kind == "OK" and r.code == "COPYUID"]
        if c.code == "COPYUID":
            found.append((c.args, c.tagged))
        for args, raw in found:
            parts = args.split()
            src = parse_set(parts[1]) if len(parts) == 3 else None
            dst = parse_set(parts[2]) if len(parts) == 3 else None
            if not parts or not parts[0].isdigit() or src is None or dst is None or len(src) != len(dst):
                self.violation("uidplus", "malformed [COPYUID %s] (RFC 4315: a UIDVALIDITY and two non-empty "
                               "UID sets of one size)" % args, [raw, c.tagged] if raw != c.tagged else raw)
                continue
            uv = int(parts[0])
            with w.lock:
                self.check_uv(dest, uv)
                if snap and snap[0] == uv and min(dst) <= snap[1]:
                    self.violation("uid", "COPYUID names UID %d in %s, not above UID %d seen there before"
                                   % (min(dst), dest, snap[1]))
                for s_, d_ in zip(src, dst):
                    w.seen_uid(self.user, dest, uv, d_)
                    w.guards[(self.user, dest, uv)].note(w.ticks, d_, "%s (since %d, port %s): %s of %s UID %d"
                                                         % (c.tag, c.since, self.port, c.name, v.name, s_))
                    mid = w.uidmap.get((self.user, v.name, v.uv, s_))
                    if mid is not None:
                        w.learn_msgid((self.user, dest, uv, d_), mid, FetchCtx(self, c, c.tagged))

    def op_expunge(self):
        v = self.view
        if v.readonly or not v.uids:
            return self.op_noop()
        rnd = self.rnd
        over = len(v.uids) - self.args.mailbox_size
        spec = self.seqset(most=min(20, over + 3) if over > 0 else rnd.randint(1, 3))
        tuids, wide = self.targets(spec, False)
        if not wide and tuids and rnd.random() < 0.5:
            us = ",".join(str(u) for u in tuids)
            self.run_cmd("UID STORE %s +FLAGS.SILENT (\\Deleted)" % us)
            self.run_cmd("UID EXPUNGE %s" % us)
        else:
            self.run_cmd("STORE %s +FLAGS.SILENT (\\Deleted)" % spec)
            self.run_cmd("EXPUNGE")

    def op_search(self):
        v = self.view
        rnd = self.rnd
        w = self.world
        uidcmd = rnd.random() < 0.5
        check = None
        r = rnd.random()
        if r < 0.3:
            kw = rnd.choice(self.own)
            check = ("kw", kw, rnd.random() < 0.5)
            crit = ("KEYWORD " if check[2] else "UNKEYWORD ") + case_vary(rnd, kw)
        elif r < 0.4:
            size = rnd.randint(100, 20000)
            check = ("size", size, rnd.random() < 0.5)
            crit = ("LARGER %d" if check[2] else "SMALLER %d") % size
        elif r < 0.5 and any(u is not None for u in v.uids):
            u = rnd.choice([u for u in v.uids if u is not None])
            with w.lock:
                mid = w.uidmap.get(self.mkey() + (u,))
            if mid is None:
                crit = "ALL"
            else:
                check = ("mid", mid)
                crit = "HEADER Message-ID %s" % quote("<%s>" % mid)
        else:
            crit = rnd.choice(["ALL", "UNSEEN", "SEEN", "FLAGGED", "OR SEEN FLAGGED", "NOT DELETED", "ANSWERED",
                               "KEYWORD $Label1", "SUBJECT stress", "FROM example", "BODY line", "NEW",
                               "UID %s" % (self.uidset() or "1:*"), self.seqset() if v.uids else "ALL"])
        c = self.run_cmd("%sSEARCH %s" % ("UID " if uidcmd else "", crit))
        if c.status != "OK" or self.view is not v:
            return
        res = [n for r_ in c.responses if r_.kind == "SEARCH" for n in r_.data]
        uids = []
        for n in res:
            if uidcmd:
                uids.append(n)
            elif n < 1 or n > len(v.uids):
                self.violation("seq", "SEARCH answers message %d but the session has %d" % (n, len(v.uids)))
                return
            elif v.uids[n - 1] is not None:
                uids.append(v.uids[n - 1])
        if check is None:
            return
        with w.lock:
            g = w.guards[self.mkey()]
            for u in uids:
                mid = w.uidmap.get(self.mkey() + (u,))
                if check[0] == "kw" and g.stable(u, self.k, c.since):
                    known = g.known(u, self.k)
                    if known is not None:
                        w.checks["own keywords"] += 1
                    if known is not None and (check[1].lower() in known) != check[2]:
                        self.violation("store-fetch", "SEARCH %s answers UID %d whose keywords of this client are "
                                       "{%s}" % (crit, u, " ".join(sorted(known))))
                elif check[0] == "size" and mid in w.content:
                    size = len(w.content[mid])
                    if (size > check[1]) != check[2]:
                        self.violation("search", "SEARCH %s answers UID %d of %d bytes" % (crit, u, size))
                elif check[0] == "mid" and mid is not None and mid != check[1]:
                    self.violation("search", "SEARCH %s answers UID %d, which is <%s>" % (crit, u, mid))

    def op_status(self):
        rnd = self.rnd
        w = self.world
        mbox = weighted(rnd, [("INBOX", 45), ("Archive", 45), (SCRATCH, 10)])
        items = rnd.sample(["MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN"], rnd.randint(1, 5))
        if "UIDNEXT" in items and "UIDVALIDITY" not in items:
            items.append("UIDVALIDITY")
        with w.lock:
            snap = w.maxuid.get((self.user, mbox))
        c = self.run_cmd("STATUS %s (%s)" % (mbox, " ".join(items)), target=mbox)
        if c.status != "OK":
            return
        st = [r.data[1] for r in c.responses if r.kind == "STATUS"]
        if not st:
            self.violation("status", "STATUS OK without an untagged STATUS")
            return
        st = st[-1]
        lack = [i for i in items if i not in st]
        if lack:
            self.violation("status", "STATUS lacks %s" % " ".join(lack))
        if "UIDVALIDITY" in st:
            with w.lock:
                self.check_uv(mbox, st["UIDVALIDITY"])
            if "UIDNEXT" in st and snap and snap[0] == st["UIDVALIDITY"] and st["UIDNEXT"] <= snap[1]:
                self.violation("uid", "STATUS UIDNEXT %d but UID %d was seen in %s before"
                               % (st["UIDNEXT"], snap[1], mbox))


# --- servers and the run -----------------------------------------------------------

class Node:
    """One posthorn process, listening on a port the kernel chose (port 0:
    no port found free and closed again, which races); its log line
    `event=listening addr=tcp://127.0.0.1:PORT` says which."""

    def __init__(self, args, tmp, i, users_conf, storage):
        self.posthorn = os.path.join(args.build, "core", "posthorn", "posthorn")
        self.env = dict(os.environ, POSTHORN_MODULE_PATH=os.path.join(args.build, "modules", ".libs"))
        self.log_path = os.path.join(tmp, "node%d.log" % i)
        state = os.path.join(tmp, "state%d" % i)
        os.makedirs(state, exist_ok=True)
        conf = os.path.join(tmp, "node%d.conf" % i)
        with open(conf, "w") as f:
            f.write("""state_dir %s
%s%s
imap tcp://127.0.0.1:0 {
    auth pass_table static {
%s
    }
    storage &mailboxes
    insecure_auth yes
    max_connections_per_ip %d
    # All clients of a run share 127.0.0.1 and a few users.
    max_user_connections_per_ip %d%s
}
""" % (state, "debug yes\n" if args.debug else "", storage, users_conf, args.clients * 2 + 20,
       args.clients + 20, "\n    io_debug yes" if args.debug else ""))
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.posthorn, "run", "--config", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + max(60, args.timeout)  # a loaded machine starts slowly
        while time.time() < deadline and self.proc.poll() is None and "server started" not in self.log_text():
            time.sleep(0.05)
        m = re.search(r"event=listening addr=tcp://127\.0\.0\.1:(\d+)", self.log_text())
        if "server started" in self.log_text() and self.proc.poll() is None and m:
            self.port = int(m.group(1))
            return
        self.stop()
        raise SystemExit("imapstress: posthorn did not start:\n" + self.log_text()[-3000:])

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


SANITIZER = re.compile(r"ERROR: AddressSanitizer|runtime error:|WARNING: ThreadSanitizer|ERROR: LeakSanitizer")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--users", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--build", default=os.environ.get("top_builddir") or os.path.join(TOP, "_check", "build"),
                    help="the build tree whose posthorn is started (default: $top_builddir, else _check/build)")
    ap.add_argument("--pgsql", metavar="DSN", help="storage.pgsql on this database instead of storage.sqlite")
    ap.add_argument("--nodes", type=int, default=1, help="posthorn processes on the --pgsql database")
    ap.add_argument("--connect", metavar="HOST:PORT[,HOST:PORT]", help="a server that is already running")
    ap.add_argument("--password", default=PASSWORD, help="the users' password (with --connect)")
    ap.add_argument("--user-prefix", help="users are PREFIX0, PREFIX1, ... (default: stress, with --pgsql "
                    "a prefix of this run's own)")
    ap.add_argument("--mailbox-size", type=int, default=80, help="messages a mailbox is kept near")
    ap.add_argument("--timeout", type=float, default=60, help="seconds a command may take")
    ap.add_argument("--messages", default=os.path.join(TOP, "tests", "data", "messages"),
                    help="a directory of .eml files used besides generated messages")
    ap.add_argument("--max-report", type=int, default=3, help="violations of one kind printed in full")
    ap.add_argument("--until", default="", help="end the run at the first violation of one of these "
                    "kinds (comma-separated)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, state)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    ap.add_argument("--debug", action="store_true", help="the servers log with debug and io_debug (each "
                    "line names the client's port, which a violation shows); best with --keep")
    args = ap.parse_args()
    args.until = set(filter(None, args.until.split(",")))
    if args.nodes > 1 and not args.pgsql:
        ap.error("--nodes needs --pgsql (storage.sqlite is one process's)")

    world = World(args)
    world.corpus = load_corpus(args.messages)
    prefix = args.user_prefix or ("st%su" % world.run_id if args.pgsql else "stress")
    users = ["%s%d" % (prefix, i) for i in range(args.users)]
    nodes = []
    tmp = None
    started = time.time()
    try:
        if args.connect:
            addrs = []
            for a in args.connect.split(","):
                host, _, port = a.rpartition(":")
                addrs.append((host or "127.0.0.1", int(port)))
            what = "server at %s" % args.connect
        else:
            tmp = tempfile.mkdtemp(prefix="ph-stress-")
            posthorn = os.path.join(args.build, "core", "posthorn", "posthorn")
            env = dict(os.environ, POSTHORN_MODULE_PATH=os.path.join(args.build, "modules", ".libs"))
            h = subprocess.run([posthorn, "hash", "--hash", "sha512-crypt", "-p", args.password],
                               capture_output=True, env=env, check=True).stdout.decode().strip()
            users_conf = "\n".join("        entry %s %s" % (u, h) for u in users)
            if args.pgsql:
                storage = "storage.pgsql mailboxes {\n    dsn %s\n}" % args.pgsql
            else:
                storage = "storage.sqlite mailboxes {\n    appendlimit 10M\n}"
            nodes = [Node(args, tmp, i, users_conf, storage) for i in range(args.nodes)]
            addrs = [("127.0.0.1", n.port) for n in nodes]
            what = "%d node%s on storage.%s" % (len(nodes), "s" if len(nodes) > 1 else "",
                                                 "pgsql" if args.pgsql else "sqlite")
        for i, u in enumerate(users):
            Worker(-1 - i, world, addrs[0], u).setup()
        workers = [Worker(k, world, addrs[(k // len(users)) % len(addrs)], users[k % len(users)])
                   for k in range(args.clients)]
        t0 = time.time()
        for t in workers:
            t.start()
        end = t0 + args.seconds
        last = 0
        while time.time() < end and any(t.is_alive() for t in workers) and not world.stop.is_set():
            if any(n.proc.poll() is not None for n in nodes):
                break
            time.sleep(min(1, max(0, end - time.time())))
            if not args.quiet and time.time() - t0 >= last + 10:
                last += 10
                with world.lock:
                    total = sum(world.counts.values())
                print("t=%3.0fs commands=%d (%.0f/s) violations=%d" % (
                    time.time() - t0, total, total / (time.time() - t0), world.nviolations), flush=True)
        world.stop.set()
        for t in workers:
            t.join(args.timeout + 30)
        elapsed = time.time() - t0
        for t in workers:
            if t.is_alive():
                world.report("hang", t.name, "the client did not finish its last command")
        for i, n in enumerate(nodes):
            if n.proc.poll() is not None:
                world.report("server", "node%d" % i, "posthorn exited (status %s) during the run; its log ends:\n%s"
                             % (n.proc.returncode, n.log_text()[-3000:]))
        for i, n in enumerate(nodes):
            n.stop()
            m = SANITIZER.search(n.log_text())
            if m:
                text = n.log_text()
                world.report("sanitizer", "node%d" % i, text[max(0, m.start() - 200):m.start() + 3000])
        total = sum(world.counts.values())
        world.checks["FETCH FLAGS announced"] = sum(t.nflagchecks for t in workers)
        print("imapstress: comparisons: %s" % ", ".join("%s %d" % kv for kv in sorted(world.checks.items())))
        print("imapstress: %d clients on %d users, %s, %.0f s, seed %d: %d commands, %.0f/s (%s); "
              "allowed NO: %s; violations: %d%s" % (
                  args.clients, args.users, what, elapsed, args.seed, total, total / max(elapsed, 1e-9),
                  ", ".join("%s %d" % kv for kv in sorted(world.counts.items())),
                  ", ".join("%s %d" % kv for kv in sorted(world.allowed.items())) or "none",
                  world.nviolations,
                  " (%s)" % ", ".join("%s %d" % kv for kv in sorted(world.violations.items()))
                  if world.nviolations else ""), flush=True)
        print("imapstress: %s" % ("passed" if world.nviolations == 0 else "FAILED"), flush=True)
        return 0 if world.nviolations == 0 else 1
    finally:
        world.stop.set()
        for n in nodes:
            if n.proc.poll() is None:
                n.stop()
        if tmp:
            if args.keep:
                print("imapstress: kept %s" % tmp)
            else:
                shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
