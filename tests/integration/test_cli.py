# SPDX-License-Identifier: MIT
"""The admin CLI through the real binary: creds, hash, accounts, mailboxes
and messages against storage.sqlite and auth.pass_table over table.file;
table lookups and changes through the table modules."""
import hashlib
import os
import random

import phtest


class CliTest(phtest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.conf = self.write("posthorn.conf", """
state_dir %(d)s/state
storage.sqlite local_mailboxes { }
auth.pass_table local_authdb {
    table file %(d)s/passwd
}
""" % {"d": self.dir})

    def ph(self, *args, input=None):
        return phtest.posthorn(*args, "--config", self.conf, input=input)

    def ok(self, *args, input=None):
        rc, out, err = self.ph(*args, input=input)
        self.assertEqual(rc, 0, "posthorn %s: %s" % (" ".join(args), err))
        return out

    def test_creds_lifecycle(self):
        self.ok("creds", "create", "bob", "-p", "s3cret")
        self.ok("creds", "create", "alice", input=b"from stdin\n")
        self.assertEqual(self.ok("creds", "list"), "alice\nbob\n")
        with open(os.path.join(self.dir, "passwd")) as f:
            text = f.read()
        # yescrypt hashes, never the password itself.
        self.assertRegex(text, r"(?m)^bob: \$y\$")
        self.assertNotIn("s3cret", text)
        self.assertNotIn("from stdin", text)
        rc, _, err = self.ph("creds", "create", "bob", "-p", "x")
        self.assertEqual(rc, 1)
        self.assertIn("user bob already exists", err)
        old = text
        self.ok("creds", "password", "bob", "-p", "n3w")
        with open(os.path.join(self.dir, "passwd")) as f:
            self.assertNotEqual(f.read(), old)
        self.ok("creds", "remove", "alice")
        self.assertEqual(self.ok("creds", "list"), "bob\n")
        rc, _, err = self.ph("creds", "remove", "alice")
        self.assertEqual(rc, 1)
        self.assertIn("user alice does not exist", err)

    def test_accounts_quota_shows_and_sets_limits(self):
        """`posthorn accounts quota USER`: usage and limits (RFC 9208's
        STORAGE, MESSAGE and MAILBOX, here in bytes); --storage takes a
        size, each option also none and default (the storage block's)."""
        self.ok("accounts", "create", "bob")
        self.ok("messages", "add", "bob", "INBOX", input=b"Subject: q\r\n\r\nbody\r\n")
        self.assertEqual(self.ok("accounts", "quota", "bob"),
                         "storage 20 (no limit, the default)\n"
                         "messages 1 (no limit, the default)\n"
                         "mailboxes 6 (no limit, the default)\n")
        self.assertEqual(self.ok("accounts", "quota", "bob", "--storage", "2G", "--messages", "100000"),
                         "storage 20 of 2147483648 (the account's)\n"
                         "messages 1 of 100000 (the account's)\n"
                         "mailboxes 6 (no limit, the default)\n")
        self.assertEqual(self.ok("accounts", "quota", "bob", "--mailboxes", "10", "--storage", "none"),
                         "storage 20 (no limit, the account's)\n"
                         "messages 1 of 100000 (the account's)\n"
                         "mailboxes 6 of 10 (the account's)\n")
        with open(self.conf, "a") as f:
            f.write("storage.sqlite other {\n    dsn other.db\n    quota_messages 50\n    quota_storage 1M\n}\n")
        self.ok("accounts", "create", "carol", "--cfg-block", "other")
        self.assertEqual(self.ok("accounts", "quota", "carol", "--cfg-block", "other",
                                 "--messages", "default", "--mailboxes", "0"),
                         "storage 0 of 1048576 (the default)\n"
                         "messages 0 of 50 (the default)\n"
                         "mailboxes 6 of 0 (the account's)\n")
        for args, code, text in (
                (("quota", "bob", "--storage", "lots"), 2, "lots: "),
                (("quota", "bob", "--messages", "-1"), 2, "-1: expected a number"),
                (("quota", "bob", "--messages"), 2, "usage:"),
                (("quota", "bob", "--bananas", "3"), 2, "usage:"),
                (("quota", "nobody"), 1, "posthorn: quota: No such account (NONEXISTENT)")):
            rc, out, err = self.ph("accounts", *args)
            self.assertEqual(rc, code, err)
            self.assertIn(text, err)
            self.assertEqual(out, "")
        # A refused option changed nothing.
        self.assertIn("messages 1 of 100000", self.ok("accounts", "quota", "bob"))

    def test_hash_methods(self):
        for method, prefix in (("yescrypt", "$y$"), ("bcrypt", "$2b$"),
                               ("sha512-crypt", "$6$"), ("sha256-crypt", "$5$")):
            rc, out, err = phtest.posthorn("hash", "--hash", method, "-p", "pw")
            self.assertEqual(rc, 0, err)
            self.assertTrue(out.startswith(prefix), out)
        rc, _, err = phtest.posthorn("hash", "--hash", "md5", "-p", "pw")
        self.assertEqual(rc, 1)
        self.assertIn("unknown hash method", err)

    def test_accounts_and_mailboxes(self):
        self.ok("accounts", "create", "bob")
        self.ok("accounts", "create", "carol")
        self.assertEqual(self.ok("accounts", "list"), "bob\ncarol\n")
        out = self.ok("mailboxes", "list", "bob")
        self.assertIn("INBOX\t", out)
        self.assertRegex(out, r"(?m)^Sent\t.*\\Sent")
        self.assertRegex(out, r"(?m)^Trash\t.*\\Trash")
        self.ok("mailboxes", "create", "bob", "Lists.posthorn", "--special", "archive")
        self.ok("mailboxes", "rename", "bob", "Lists", "Groups")
        out = self.ok("mailboxes", "list", "bob")
        self.assertRegex(out, r"(?m)^Groups\t.*\\HasChildren")
        self.assertRegex(out, r"(?m)^Groups\.posthorn\t.*\\Archive")
        self.ok("mailboxes", "remove", "bob", "Groups.posthorn")
        self.assertNotIn("Groups.posthorn", self.ok("mailboxes", "list", "bob"))
        rc, _, err = self.ph("mailboxes", "remove", "bob", "INBOX")
        self.assertEqual(rc, 1)
        self.ok("accounts", "remove", "carol")
        self.assertEqual(self.ok("accounts", "list"), "bob\n")
        rc, _, err = self.ph("mailboxes", "list", "nobody")
        self.assertEqual(rc, 1)

    def roundtrip(self, data):
        uid = self.ok("messages", "add", "bob", "INBOX", input=data).strip()
        self.assertRegex(uid, r"^\d+$")
        rc = phtest.subprocess.run(
            [phtest.POSTHORN, "messages", "dump", "bob", "INBOX", uid, "--config", self.conf],
            capture_output=True, env=phtest.env(), timeout=120)
        self.assertEqual(rc.returncode, 0, rc.stderr)
        return uid, rc.stdout

    def test_messages_roundtrip_byte_exact(self):
        self.ok("accounts", "create", "bob")
        msg = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
        uid, back = self.roundtrip(msg)
        self.assertEqual(back, msg)
        # 20 MB, CRLF lines of random printable text: compared byte for byte.
        rnd = random.Random(20)
        lines = [b"From: big@example.org", b"Subject: twenty megabytes", b""]
        size = sum(len(l) + 2 for l in lines)
        while size < 20 * 1024 * 1024:
            line = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(76))
            lines.append(line)
            size += 78
        big = b"\r\n".join(lines) + b"\r\n"
        uid2, back = self.roundtrip(big)
        self.assertEqual(len(back), len(big))
        self.assertEqual(hashlib.sha256(back).hexdigest(), hashlib.sha256(big).hexdigest())
        self.assertGreater(int(uid2), int(uid))

    def test_messages_flags_list_remove(self):
        self.ok("accounts", "create", "bob")
        for i in range(3):
            self.ok("messages", "add", "bob", "INBOX", "--flag", "\\Seen",
                    "--date", "2026-01-0%dT10:00:00+02:00" % (i + 1),
                    input=b"Subject: %d\r\n\r\nx\r\n" % i)
        out = self.ok("messages", "list", "bob", "INBOX")
        self.assertEqual(out.count("\n"), 3)
        self.assertIn("1\t1\t2026-01-01T10:00:00+02:00\t", out)
        self.ok("messages", "flags", "bob", "INBOX", "2:3", "+\\Flagged", "-\\Seen", "+todo")
        out = self.ok("messages", "list", "bob", "INBOX", "2")
        self.assertEqual(out.strip().split("\t")[-1], "(\\Flagged todo)")
        self.assertEqual(self.ok("messages", "remove", "bob", "INBOX", "1,3"), "expunged 1,3\n")
        out = self.ok("messages", "list", "bob", "INBOX")
        self.assertEqual([l.split("\t")[1] for l in out.splitlines()], ["2"])
        rc, _, err = self.ph("messages", "add", "bob", "INBOX", "--date", "yesterday", input=b"x")
        self.assertEqual(rc, 2)
        self.assertIn("invalid date", err)


class TableCliTest(phtest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.write("aliases", "# aliases\npostmaster: admin@example.org\n"
                   "team: alice@example.org, bob@example.org\n")
        self.conf = self.write("posthorn.conf", """
table.file aliases { file %(d)s/aliases }
table.static fixed {
    entry team alice bob
}
""" % {"d": self.dir})

    def ph(self, *args):
        return phtest.posthorn("table", *args, "--config", self.conf)

    def test_table_lookup_found_not_found_and_every_value(self):
        self.assertEqual(self.ph("lookup", "--cfg-block", "aliases", "postmaster"),
                         (0, "admin@example.org\n", ""))
        self.assertEqual(self.ph("lookup", "--cfg-block", "aliases", "team"),
                         (0, "alice@example.org\nbob@example.org\n", ""))
        self.assertEqual(self.ph("lookup", "--cfg-block=fixed", "team"),
                         (0, "alice\nbob\n", ""))
        self.assertEqual(self.ph("lookup", "--cfg-block", "aliases", "nobody"),
                         (3, "", "posthorn: nobody: not found\n"))
        self.assertEqual(self.ph("keys", "--cfg-block", "aliases"),
                         (0, "postmaster\nteam\n", ""))

    def test_table_lookup_needs_a_table_it_can_pick(self):
        rc, out, err = self.ph("lookup", "team")
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("several tables in the config", err)
        self.assertIn("pick one with --cfg-block NAME", err)
        rc, _, err = self.ph("lookup", "--cfg-block", "nosuch", "team")
        self.assertEqual(rc, 1)
        self.assertIn("nosuch", err)
        rc, _, err = self.ph("lookup", "--cfg-block", "aliases")
        self.assertEqual(rc, 2)
        self.assertIn("usage: posthorn table lookup", err)

    def test_table_set_and_remove_change_the_file(self):
        self.assertEqual(self.ph("set", "--cfg-block", "aliases", "abuse",
                                 "admin@example.org", "sec@example.org"), (0, "", ""))
        with open(os.path.join(self.dir, "aliases")) as f:
            self.assertIn("abuse: admin@example.org, sec@example.org\n", f.read())
        self.assertEqual(self.ph("lookup", "--cfg-block", "aliases", "abuse"),
                         (0, "admin@example.org\nsec@example.org\n", ""))
        self.assertEqual(self.ph("remove", "--cfg-block", "aliases", "abuse"), (0, "", ""))
        self.assertEqual(self.ph("remove", "--cfg-block", "aliases", "abuse"),
                         (3, "", "posthorn: abuse: not found\n"))
        rc, _, err = self.ph("set", "--cfg-block", "fixed", "k", "v")
        self.assertEqual(rc, 1)
        self.assertIn("this table cannot be changed", err)

    def test_table_lookup_finds_the_only_table_even_inline(self):
        conf = self.write("inline.conf", """
auth.pass_table local_authdb {
    table file %s/passwd
}
""" % self.dir)
        rc, _, err = phtest.posthorn("creds", "create", "bob", "-p", "pw", config=conf)
        self.assertEqual(rc, 0, err)
        rc, out, err = phtest.posthorn("table", "lookup", "bob", config=conf)
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("$y$"), out)


if __name__ == "__main__":
    phtest.main()
