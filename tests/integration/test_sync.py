# SPDX-License-Identifier: MIT
"""A mail client's sync of a few hundred messages, through the real binary
over TLS: first a client written against imaplib that keeps a model of the
mailbox from the untagged responses (RFC 3501 7.4.1, 5.5), then isync's
mbsync, a real client, syncing to a Maildir and back."""
import email.policy
import email.utils
import imaplib
import os
import random
import re
import shutil
import ssl
import subprocess
import time
import unittest
from email.message import EmailMessage

import phtest

PASSWORD = "sync pw"
COUNT = 300
SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Draft")


def make_messages(n, seed=7):
    """n varied messages as CRLF bytes: plain, 8-bit, encoded words,
    alternatives, attachments, nested message/rfc822."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        m = EmailMessage(policy=email.policy.SMTP)
        m["From"] = rnd.choice(["Ann <ann@example.org>", "=?utf-8?q?J=C3=BCrgen?= <j@example.de>",
                                "bob@example.com"])
        m["To"] = "bob@example.com"
        if i % 7 == 0:
            m["Cc"] = "Carl <carl@example.net>, dora@example.net"
        m["Subject"] = rnd.choice(["report %d" % i, "Grüße %d" % i, "re: [list] thread %d" % (i % 13)])
        m["Date"] = email.utils.format_datetime(
            email.utils.localtime().replace(microsecond=0) if i % 50 == 0 else
            __import__("datetime").datetime(2025, 1 + i % 12, 1 + i % 28, i % 24, i % 60,
                                            tzinfo=__import__("datetime").timezone.utc))
        m["Message-ID"] = "<sync.%d@example.org>" % i
        body = "Line %d of message %d.\n" * (1 + i % 40) % tuple(x for k in range(1 + i % 40) for x in (k, i))
        kind = i % 5
        if kind == 0:
            m.set_content(body)
        elif kind == 1:
            m.set_content(body + "Ünïcödé text.\n", charset="utf-8", cte="8bit")
        elif kind == 2:
            m.set_content(body)
            m.add_alternative("<p>%s</p>" % body.replace("\n", "<br>"), subtype="html")
        elif kind == 3:
            m.set_content(body)
            m.add_attachment(bytes(rnd.getrandbits(8) for _ in range(200 + 37 * i)),
                             maintype="application", subtype="octet-stream", filename="blob%d.bin" % i)
        else:
            inner = EmailMessage(policy=email.policy.SMTP)
            inner["Subject"] = "inner %d" % i
            inner["From"] = "inner@example.org"
            inner.set_content("forwarded body %d\n" % i)
            m.set_content(body)
            m.add_attachment(inner)
        out.append(m.as_bytes())
    return out


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class SyncTest(phtest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.cert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", self.cert,
                            "-days", "2", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                           capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        rc, out, err = phtest.posthorn("hash", "-p", PASSWORD)
        self.assertEqual(rc, 0, err)
        os.makedirs(os.path.join(self.dir, "state"))
        self.conf = self.write("posthorn.conf", """
state_dir %(d)s/state
tls %(cert)s %(key)s
storage.sqlite local_mailboxes { }
imap tls://127.0.0.1:0 {
    auth pass_table static { entry bob %(hash)s }
    storage &local_mailboxes
}
""" % {"d": self.dir, "cert": self.cert, "key": key, "hash": out.strip()})
        self.server = self.start(self.conf)
        self.port = self.server.port
        self.messages = make_messages(COUNT)

    def client(self):
        c = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=tls_context(), timeout=30)
        c.login("bob", PASSWORD)
        self.addCleanup(self._logout, c)
        return c

    @staticmethod
    def _logout(c):
        try:
            c.logout()
        except Exception:
            pass

    def fill(self, c, mailbox="INBOX"):
        """APPENDs every message with some flags and internal dates; returns
        {uid: (bytes, flags)} from the APPENDUID answers (RFC 4315)."""
        rnd = random.Random(11)
        model = {}
        for i, msg in enumerate(self.messages):
            flags = tuple(f for f in SYSTEM_FLAGS if rnd.random() < 0.3)
            if i % 17 == 0:
                flags += ("$Label%d" % (i % 3),)
            date = imaplib.Time2Internaldate(1.7e9 + i * 3600)
            typ, data = c.append(mailbox, "(%s)" % " ".join(flags), date, msg)
            self.assertEqual(typ, "OK", data)
            m = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
            self.assertIsNotNone(m, data)
            model[int(m.group(2))] = (msg, set(flags))
        return model

    @staticmethod
    def parse_fetch(data):
        """imaplib's FETCH data to {uid: {item: value}}; literals as bytes."""
        out = {}
        for item in data:
            if isinstance(item, tuple):
                head, lit = item
                uid = int(re.search(rb"UID (\d+)", head).group(1))
                name = re.search(rb"(BODY\[[^\]]*\](?:<\d+>)?|RFC822(?:\.\w+)?) \{\d+\}$", head).group(1)
                out.setdefault(uid, {})[name] = lit
                meta = head
            elif item == b")":
                continue
            else:
                meta = item
                uid = int(re.search(rb"UID (\d+)", meta).group(1))
            entry = out.setdefault(uid, {})
            f = re.search(rb"FLAGS \(([^)]*)\)", meta)
            if f:
                entry["FLAGS"] = set(f.group(1).decode().split())
            s = re.search(rb"RFC822\.SIZE (\d+)", meta)
            if s:
                entry["SIZE"] = int(s.group(1))
        return out

    def test_imaplib_client_keeps_an_exact_model(self):
        c = self.client()
        model = self.fill(c)
        self.assertEqual(sorted(model), list(range(1, COUNT + 1)))

        typ, data = c.select("INBOX")
        self.assertEqual((typ, int(data[0])), ("OK", COUNT))
        uidvalidity = c.response("UIDVALIDITY")[1][0]

        # The first sync: headers and flags of everything, then bodies in
        # batches of 50, compared byte for byte.
        typ, data = c.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)")
        self.assertEqual(typ, "OK")
        got = self.parse_fetch(data)
        self.assertEqual(sorted(got), sorted(model))
        for uid, (msg, flags) in model.items():
            self.assertEqual(got[uid]["SIZE"], len(msg), uid)
            self.assertEqual(got[uid]["FLAGS"], flags | {"\\Recent"}, uid)
        for start in range(1, COUNT + 1, 50):
            typ, data = c.uid("FETCH", "%d:%d" % (start, start + 49), "(UID BODY.PEEK[])")
            self.assertEqual(typ, "OK")
            for uid, entry in self.parse_fetch(data).items():
                self.assertEqual(entry[b"BODY[]"], model[uid][0], uid)

        # PEEK set nothing: no untagged FETCH came with it, and UNSEEN is
        # what the model says.
        unseen = sorted(u for u, (m, f) in model.items() if "\\Seen" not in f)
        typ, data = c.uid("SEARCH", "UNSEEN")
        self.assertEqual([int(x) for x in data[0].split()], unseen)

        # Another client changes things; this one learns all of it from the
        # untagged responses of one NOOP.
        other = self.client()
        other.select("INBOX")
        for uid in range(10, 60, 5):
            other.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Flagged $Work)")
            model[uid][1].update({"\\Flagged", "$Work"})
        gone = [3, 4, 5, 100, 299]
        other.uid("STORE", ",".join(map(str, gone)), "+FLAGS.SILENT", "(\\Deleted)")
        typ, data = other.uid("EXPUNGE", ",".join(map(str, gone)))
        self.assertEqual(typ, "OK")
        new = make_messages(3, seed=99)
        for msg in new:
            typ, data = other.append("INBOX", "", None, msg)
            uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
            model[uid] = (msg, set())

        # The model by sequence number, as a client keeps it.
        seq = sorted(u for u in range(1, COUNT + 1))
        typ, data = c.noop()
        self.assertEqual(typ, "OK")
        for typ_name, values in (("EXPUNGE", c.untagged_responses.pop("EXPUNGE", [])),):
            for n in values:
                del seq[int(n) - 1]
        exists = int(c.untagged_responses.pop("EXISTS", [b"0"])[-1])
        fetches = c.untagged_responses.pop("FETCH", [])
        # The seq model after the EXPUNGEs; the FETCH responses named
        # sequence numbers in it, and EXISTS counts the new messages too.
        self.assertEqual(seq, [u for u in range(1, COUNT + 1) if u not in gone])
        self.assertEqual(exists, len(seq) + len(new))
        changed = set()
        for f in fetches:
            changed.add(seq[int(f.split(b" ")[0]) - 1])
        self.assertEqual(changed, set(range(10, 60, 5)))
        for u in gone:
            del model[u]

        # A resync by UID agrees with the model in every flag.
        typ, data = c.uid("FETCH", "1:*", "(UID FLAGS)")
        got = self.parse_fetch(data)
        self.assertEqual(sorted(got), sorted(model))
        for uid, (msg, flags) in model.items():
            self.assertEqual(got[uid]["FLAGS"] - {"\\Recent"}, flags, uid)

        # Reopening gives the same UIDVALIDITY and the right UIDNEXT.
        c.close()
        typ, data = c.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
        self.assertIn(b"MESSAGES %d" % len(model), data[0])
        self.assertIn(b"UIDNEXT %d" % (max(model) + 1), data[0])
        self.assertIn(b"UIDVALIDITY %s" % uidvalidity, data[0])

        # COPY of everything to another mailbox: COPYUID maps every UID, and
        # the copies are the same bytes.
        c.create("Archive")
        c.select("INBOX")
        # (imaplib's uid() keeps only untagged data; COPYUID is in the tagged OK)
        typ, data = c._simple_command("UID", "COPY", "1:*", "Archive")
        m = re.search(rb"COPYUID \d+ ([\d:,]+) ([\d:,]+)", data[-1])
        self.assertIsNotNone(m, data)
        src = phtest_expand(m.group(1).decode())
        dst = phtest_expand(m.group(2).decode())
        self.assertEqual(src, sorted(model))
        c.select("Archive", readonly=True)
        typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
        copies = self.parse_fetch(data)
        for s, d in zip(src, dst):
            self.assertEqual(copies[d][b"BODY[]"], model[s][0])

    @unittest.skipIf(shutil.which("mbsync") is None, "mbsync (Debian package isync) is not installed")
    def test_mbsync_round_trip(self):
        c = self.client()
        model = self.fill(c)
        maildir = os.path.join(self.dir, "Mail")
        os.makedirs(maildir)
        rc_path = self.write("mbsyncrc", """
IMAPAccount posthorn
Host localhost
Port %(port)d
User bob
Pass "%(pw)s"
SSLType IMAPS
CertificateFile %(cert)s

IMAPStore far
Account posthorn

MaildirStore near
Path %(maildir)s/
Inbox %(maildir)s/INBOX
SubFolders Verbatim

Channel sync
Far :far:
Near :near:
Patterns *
Create Both
Expunge Both
SyncState *
CopyArrivalDate yes
""" % {"port": self.port, "pw": PASSWORD, "cert": self.cert, "maildir": maildir})

        def mbsync():
            p = subprocess.run(["mbsync", "-c", rc_path, "-a"], capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            return p.stdout + p.stderr

        def maildir_messages():
            out = {}
            for sub in ("cur", "new"):
                d = os.path.join(maildir, "INBOX", sub)
                for name in os.listdir(d):
                    with open(os.path.join(d, name), "rb") as f:
                        # isync marks what it copies with an X-TUID header
                        data = re.sub(rb"(?m)^X-TUID: .*\n", b"", f.read(), count=1)
                    info = name.split(":2,")[1] if ":2," in name else ""
                    out[os.path.join(d, name)] = (data, info)
            return out

        mbsync()
        local = maildir_messages()
        self.assertEqual(len(local), COUNT)
        by_body = {m.replace(b"\r\n", b"\n"): f for m, f in model.values()}
        letters = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S"}
        for path, (data, info) in local.items():
            self.assertTrue(data in by_body, "%s: %r" % (path, data[:300]))
            want = "".join(sorted(letters[f] for f in by_body[data] if f in letters))
            self.assertEqual(info, want, path)

        # Local changes go up: one message marked seen, one deleted.
        paths = sorted(p for p, (d, info) in local.items() if "S" not in info)
        seen_path, deleted_path = paths[0], paths[1]
        seen_id = re.search(rb"Message-ID: (<[^>]+>)", local[seen_path][0]).group(1)
        deleted_id = re.search(rb"Message-ID: (<[^>]+>)", local[deleted_path][0]).group(1)
        base, info = seen_path.split(":2,")
        os.rename(seen_path, base + ":2," + "".join(sorted(info + "S")))
        os.unlink(deleted_path)
        # Server changes come down: a new message and a flag.
        fresh = make_messages(1, seed=5)[0].replace(b"<sync.0@", b"<sync.fresh@")
        typ, data = c.append("INBOX", "", None, fresh)
        self.assertEqual(typ, "OK")
        c.select("INBOX")
        typ, data = c.uid("SEARCH", "HEADER", "Message-ID", "<sync.8@example.org>")
        flag_uid = data[0].split()[0]
        c.uid("STORE", flag_uid, "+FLAGS", "(\\Flagged)")
        c.close()
        mbsync()

        c.select("INBOX", readonly=True)
        typ, data = c.uid("SEARCH", "HEADER", "Message-ID", seen_id.decode())
        self.assertEqual(len(data[0].split()), 1)
        typ, flags = c.uid("FETCH", data[0], "(FLAGS)")
        self.assertIn(b"\\Seen", flags[0])
        typ, data = c.uid("SEARCH", "HEADER", "Message-ID", deleted_id.decode())
        self.assertEqual(data[0], b"")
        local = maildir_messages()
        self.assertEqual(len(local), COUNT)  # one gone, one new
        flagged = [i for d, i in local.values() if b"<sync.8@example.org>" in d]
        self.assertEqual(len(flagged), 1)
        self.assertIn("F", flagged[0])

        # Nothing changed: a third run moves nothing either way.
        before = sorted(os.path.basename(p) for p in maildir_messages())
        mbsync()
        self.assertEqual(sorted(os.path.basename(p) for p in maildir_messages()), before)


def phtest_expand(uidset):
    """An RFC 3501 sequence set of UIDs to a list, in the order written."""
    out = []
    for part in uidset.split(","):
        if ":" in part:
            a, b = map(int, part.split(":"))
            out.extend(range(a, b + 1) if a <= b else range(a, b - 1, -1))
        else:
            out.append(int(part))
    return out


if __name__ == "__main__":
    phtest.main()
