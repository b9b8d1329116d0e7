# SPDX-License-Identifier: MIT
"""User isolation (issue 8): two accounts on one server; whatever mailbox
name alice sends (`..`, `/`, `%`, `*`, `#`, `~`, modified UTF-7 spellings of
them, NULs, very long names), it names one of her own mailboxes or none,
never bob's; the storage account comes only from storage_map (a PLAIN
authorization identity cannot pick another), and bob's mail is the same
bytes after all of it.

RFC 3501 6.3.1 (SELECT), 6.3.8 (LIST: the reference and the wildcards are
interpreted by the server), 6.3.10 (STATUS), 6.3.11 (APPEND), 6.4.7 (COPY);
RFC 4616 2 (an authzid the server does not allow fails the exchange)."""
import base64
import re

import phtest
from test_imap import PASSWORD, Raw, password_hash

SECRET = b"bob's secret marker 7f3a"
BOB_MSG = (b"From: bob@example.org\r\nTo: bob@example.org\r\nSubject: private\r\n"
           b"Message-ID: <secret@example.org>\r\n\r\n" + SECRET + b"\r\n")
ALICE_MSG = (b"From: alice@example.org\r\nTo: alice@example.org\r\nSubject: hers\r\n"
             b"Message-ID: <alice@example.org>\r\n\r\nalice's own\r\n")

# Names that try to reach bob's INBOX or Secret folder from alice's session
# (the hierarchy delimiter is "."; "/" and the rest are tried as well).
HOSTILE = [
    "..bob.INBOX", ".bob", "bob.INBOX", "INBOX..bob", "..Secret", "Secret..", ".Secret",
    "Secret.Deep", "Secret.Deep..", "~bob.Secret", "#user.bob.INBOX", "&AC4-bob",
    "../bob/INBOX", "../bob", "..", "../..", "/bob/INBOX", "/bob", "bob/INBOX", "bob",
    "~bob/INBOX", "~bob", "~/bob", "#user/bob/INBOX", "#user/bob", "#shared/bob/INBOX",
    "#shared", "#public/Secret", "Other Users/bob/INBOX", "Shared/bob", "%", "*", "*/Secret",
    "INBOX/../../bob/INBOX", "INBOX/../Secret", "./Secret", "Secret/..", "/Secret",
    "//Secret", "Secret", "SECRET", "secret", "bob@example.org/INBOX", "bob\\INBOX",
    "&AC4ALg-/bob/INBOX",   # ".." in modified UTF-7
    "&AC8-bob&AC8-INBOX",   # "/" in modified UTF-7
    "&AH4-bob",             # "~"
    "&ACM-user/bob",        # "#"
    "&ACU-", "&ACo-",       # "%" and "*"
    "&AC4ALgAv-bob",        # "../" at once
    "x" * 1000 + "/../../bob/INBOX", "a/" * 200 + "Secret",
]


class IsolationTest(phtest.TempDirTest):
    storage = "storage.sqlite local_mailboxes { }"

    def setUp(self):
        super().setUp()
        conf = self.write("posthorn.conf", """
state_dir %(d)s
%(storage)s
imap tcp://127.0.0.1:0 {
    auth pass_table static {
        entry alice@example.org %(hash)s
        entry bob@example.org %(hash)s
    }
    storage &local_mailboxes
    insecure_auth yes
    auth_map identity
    storage_map email_localpart
    auth_fail_delay 10ms
}
""" % {"d": self.dir, "storage": self.storage_block(),
       "hash": password_hash()})
        self.server = self.start(conf)
        self.port = self.server.port
        bob = self.raw("bob@example.org")
        for name in ("Secret", "Secret.Deep"):
            self.assertIn(b"c OK", bob.cmd("c", "CREATE %s" % name))
        for box in ("INBOX", "Secret", "Secret.Deep"):
            self.append(bob, box, BOB_MSG)
        self.bob_before = self.snapshot(bob)
        self.assertEqual(sum(v.count(SECRET) for v in self.bob_before.values()), 3)
        bob.close()
        self.alice = self.raw("alice@example.org")
        self.append(self.alice, "INBOX", ALICE_MSG)

    def storage_block(self):
        return self.storage

    def raw(self, user):
        r = Raw(self.port)
        self.assertIn(b"L OK", r.cmd("L", 'LOGIN %s "%s"' % (user, PASSWORD)))
        return r

    def append(self, r, box, msg):
        r.send(b'a APPEND "%s" {%d+}\r\n' % (box.encode(), len(msg)) + msg + b"\r\n")
        self.assertIn(b"a OK", r.until("a"))

    def snapshot(self, r):
        """Every mailbox of the session's account with its messages' bytes."""
        out = {}
        listing = r.cmd("l", 'LIST "" "*"')
        for name in re.findall(rb'^\* LIST \([^)]*\) (?:"[^"]*"|NIL) "?([^"\r\n]*)"?\r\n',
                               listing, re.M):
            ex = r.cmd("e", 'EXAMINE "%s"' % name.decode())
            self.assertIn(b"e OK", ex)
            out[name] = r.cmd("f", "UID FETCH 1:* (UID BODY.PEEK[])") if b" EXISTS" in ex \
                and not re.search(rb"\* 0 EXISTS", ex) else b""
            out[name] = re.sub(rb"^f OK.*$", b"", out[name], flags=re.M)
        return out

    def assert_no_secret(self, data, what):
        self.assertNotIn(SECRET, data, what)
        self.assertNotIn(b"Secret.Deep", data, what)

    def test_hostile_names_reach_nothing_of_bob(self):
        a = self.alice
        n = 0
        for name in HOSTILE:
            quoted = '"%s"' % name.replace("\\", "\\\\")
            for cmd in ("SELECT %s", "EXAMINE %s", "STATUS %s (MESSAGES UIDNEXT)",
                        "SUBSCRIBE %s", "DELETE %s", "RENAME %s Stolen",
                        'LIST "" %s', "LIST %s \"*\"", "LIST %s \"%%\"", 'LSUB "" %s'):
                n += 1
                t = "t%d" % n
                r = a.cmd(t, cmd % quoted)
                self.assert_no_secret(r, cmd % quoted)
                tagged = r.splitlines()[-1]
                if cmd.startswith(("SELECT", "EXAMINE")):
                    if tagged.startswith(t.encode() + b" OK"):
                        # It named one of alice's own mailboxes: hers is empty
                        # of bob's mail whatever the name.
                        body = a.cmd(t + "f", "FETCH 1:* (BODY.PEEK[])")
                        self.assert_no_secret(body, cmd % quoted)
                    else:
                        self.assertRegex(tagged, rb"^%s (NO|BAD) " % t.encode())
                elif cmd.startswith(("DELETE", "RENAME", "STATUS")):
                    self.assertRegex(tagged, rb"^%s (NO|BAD) " % t.encode(), cmd % quoted)
            # The same names as destinations: nothing lands in bob's account.
            self.assertIn(b"s OK", a.cmd("s", "SELECT INBOX"))
            for cmd in ("COPY 1 %s", "UID COPY 1:* %s", "MOVE 1 %s"):
                r = a.cmd("c", cmd % quoted)
                self.assertRegex(r.splitlines()[-1], rb"^c (OK|NO|BAD)")
                if r.splitlines()[-1].startswith(b"c OK"):
                    # MOVE took alice's message into a mailbox of hers: put
                    # it back for the next name.
                    self.append(a, "INBOX", ALICE_MSG)
            a.send(b'p APPEND %s {%d+}\r\n' % (quoted.encode(), len(ALICE_MSG)) + ALICE_MSG
                   + b"\r\n")
            self.assertRegex(a.until("p").splitlines()[-1], rb"^p (OK|NO|BAD)")
        # alice's view of everything is her own.
        mine = self.snapshot(a)
        for name, data in mine.items():
            self.assert_no_secret(data, name)
        a.close()
        # bob's mail is what it was, byte for byte, and nothing was added.
        bob = self.raw("bob@example.org")
        self.assertEqual(self.snapshot(bob), self.bob_before)
        bob.close()

    def test_list_shows_only_own_mailboxes(self):
        # What a fresh account has (INBOX and the special-use mailboxes).
        own = set(re.findall(rb"^\* LIST \([^)]*\) \S+ (.*?)\r?$",
                             self.alice.cmd("l", 'LIST "" "*"'), re.M))
        self.assertIn(b"INBOX", own)
        for ref, pat in (('""', '"*"'), ('""', '"%"'), ('"/"', '"*"'), ('"~bob"', '"*"'),
                         ('"#user"', '"*"'), ('"../"', '"*"'), ('""', '"*Secret*"')):
            r = self.alice.cmd("l", "LIST %s %s" % (ref, pat))
            self.assertIn(b"l OK", r)
            self.assertNotIn(b"Secret", r, (ref, pat))
            names = set(re.findall(rb"^\* LIST \([^)]*\) \S+ (.*?)\r?$", r, re.M))
            self.assertLessEqual(names, own, (ref, pat))

    def test_authzid_cannot_pick_another_account(self):
        r = Raw(self.port)
        r.send(b"a AUTHENTICATE PLAIN\r\n")
        self.assertTrue(r.line().startswith(b"+"))
        r.send(base64.b64encode(b"bob@example.org\0alice@example.org\0" + PASSWORD.encode())
               + b"\r\n")
        out = r.until("a")
        self.assertRegex(out.splitlines()[-1], rb"^a NO \[AUTHORIZATIONFAILED\]")
        # The connection is still not logged in: nothing of bob's is reachable.
        self.assertRegex(r.cmd("s", "SELECT INBOX").splitlines()[-1], rb"^s (BAD|NO)")
        r.close()

    def test_login_names_map_to_their_own_account(self):
        # Case and the domain part are normalized; the storage account is
        # storage_map's answer, so alice's login spelled any way is alice.
        for login in ("ALICE@EXAMPLE.ORG", "Alice@Example.Org"):
            r = self.raw(login)
            self.assertIn(b"s OK", r.cmd("s", "EXAMINE INBOX"))
            body = r.cmd("f", "FETCH 1:* (BODY.PEEK[])")
            self.assertIn(b"alice's own", body)
            self.assert_no_secret(body, login)
            r.close()
        # A name that only looks like bob's with alice's password fails.
        for login in ("bob@example.org", "bob", "bob@example.org\\", "bob@example.org.",
                      "alice@example.org/../bob"):
            r = Raw(self.port)
            out = r.cmd("L", 'LOGIN "%s" "x%s"' % (login.replace("\\", "\\\\"), PASSWORD))
            self.assertRegex(out.splitlines()[-1], rb"^L (NO|BAD)")
            r.close()


if __name__ == "__main__":
    phtest.main()
