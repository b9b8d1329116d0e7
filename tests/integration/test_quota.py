# SPDX-License-Identifier: MIT
"""QUOTA (RFC 9208) through the real binary, byte for byte: GETQUOTA,
GETQUOTAROOT, SETQUOTA (refused: limits are the admin's), STATUS DELETED
and DELETED-STORAGE, and [OVERQUOTA] on APPEND (a MULTIAPPEND batch as a
whole), COPY and CREATE while EXPUNGE and DELETE go on and give room back.
Limits are set as an admin does, with `posthorn accounts quota`, or by the
storage block's defaults.

test_quota_pgsql.py runs these classes on storage.pgsql too."""
import re

import phtest
from test_imap import MSG, ImapTest

ROOT = b'"User quota"'


def append(mailbox, msg):
    """APPEND's arguments with msg as a LITERAL+ (Raw.cmd ends the line)."""
    return "APPEND %s {%d+}\r\n%s" % (mailbox, len(msg), msg.decode())


def multiappend(mailbox, msgs):
    """MULTIAPPEND's arguments (RFC 3502), each message a LITERAL+."""
    return "APPEND %s %s" % (mailbox, " ".join("{%d+}\r\n%s" % (len(m), m.decode()) for m in msgs))


class QuotaTest(ImapTest):
    def session(self):
        r = self.raw()
        r.login()
        return r

    def admin(self, *args):
        rc, out, err = phtest.posthorn("accounts", "quota", "bob", *args, config=self.conf)
        self.assertEqual(rc, 0, err)
        return out

    def quota(self, r, tag, resources):
        self.assertEqual(r.cmd(tag, 'GETQUOTA "User quota"'),
                         b"* QUOTA " + ROOT + b" (" + resources + b")\r\n" + tag.encode() +
                         b" OK GETQUOTA completed\r\n")


class QuotaCommandTest(QuotaTest):
    def test_getquotaroot_names_the_one_root_and_its_quota(self):
        """RFC 9208 4.1.2: "* QUOTAROOT INBOX ..." then a QUOTA response for
        each root; 4.2.1: "an empty list means there are no administrative
        resource limits"; the mailbox need not exist (4.1.2) and comes back
        as the client wrote it."""
        r = self.session()
        self.assertEqual(r.cmd("a", "GETQUOTAROOT INBOX"),
                         b"* QUOTAROOT INBOX " + ROOT + b"\r\n* QUOTA " + ROOT + b" ()\r\n"
                         b"a OK GETQUOTAROOT completed\r\n")
        self.assertEqual(r.cmd("b", 'GETQUOTAROOT "Not there yet"'),
                         b'* QUOTAROOT "Not there yet" ' + ROOT + b"\r\n* QUOTA " + ROOT + b" ()\r\n"
                         b"b OK GETQUOTAROOT completed\r\n")
        self.assertEqual(r.cmd("c", "getquotaroot inbox"),
                         b"* QUOTAROOT inbox " + ROOT + b"\r\n* QUOTA " + ROOT + b" ()\r\n"
                         b"c OK GETQUOTAROOT completed\r\n")
        self.quota(r, "d", b"")

    def test_limits_show_usage_in_kib_messages_and_mailboxes(self):
        """RFC 9208 5.1: STORAGE "in units of 1024 octets"; 5.2, 5.3: exact
        counts of messages and mailboxes; 4.2.1: resources without a limit
        are not named."""
        r = self.session()
        self.assertRegex(r.cmd("a", append("INBOX", MSG)), rb"a OK \[APPENDUID ")
        self.admin("--storage", "2G", "--messages", "100000")
        self.quota(r, "b", b"STORAGE 1 2097152 MESSAGE 1 100000")
        self.admin("--mailboxes", "10", "--storage", "none")
        self.quota(r, "c", b"MESSAGE 1 100000 MAILBOX 6 10")
        self.assertEqual(r.cmd("d", "GETQUOTAROOT Sent"),
                         b"* QUOTAROOT Sent " + ROOT + b"\r\n* QUOTA " + ROOT +
                         b" (MESSAGE 1 100000 MAILBOX 6 10)\r\nd OK GETQUOTAROOT completed\r\n")

    def test_bad_and_refused_quota_commands(self):
        """4.1.1: "NO - getquota error: no such quota root"; 4.1.3: SETQUOTA
        "NO - setquota error: can't set that data" (the admin sets limits,
        QUOTASET is not advertised); "BAD - command unknown or arguments
        invalid"; and none of it before login (8: no quota information to
        anonymous users)."""
        r = self.raw()
        self.assertEqual(r.cmd("a", 'GETQUOTA "User quota"'), b"a BAD Log in first\r\n")
        self.assertEqual(r.cmd("b", "GETQUOTAROOT INBOX"), b"b BAD Log in first\r\n")
        r.login()
        for tag, cmd, answer in (
                ("c", 'GETQUOTA ""', b"NO [NONEXISTENT] No such quota root"),
                ("d", 'GETQUOTA "user quota"', b"NO [NONEXISTENT] No such quota root"),
                ("e", "GETQUOTA", b"BAD GETQUOTA takes a quota root"),
                ("f", 'GETQUOTA "User quota" extra', b"BAD GETQUOTA takes a quota root"),
                ("g", "GETQUOTA (x)", b"BAD The quota root is an astring"),
                ("h", "GETQUOTAROOT", b"BAD GETQUOTAROOT takes a mailbox name"),
                ("i", "GETQUOTAROOT (INBOX)", b"BAD GETQUOTAROOT takes a mailbox name"),
                ("j", 'SETQUOTA "User quota" (STORAGE 512)',
                 b"NO [NOPERM] Quota limits are set by the administrator"),
                ("k", 'SETQUOTA "User quota" ()', b"NO [NOPERM] Quota limits are set by the administrator"),
                ("l", 'SETQUOTA "User quota" (STORAGE)',
                 b"BAD SETQUOTA takes a quota root and a list of resource limits"),
                ("m", 'SETQUOTA "User quota" (STORAGE -1)',
                 b"BAD SETQUOTA takes a quota root and a list of resource limits"),
                ("n", 'SETQUOTA "User quota" (STORAGE 9223372036854775808)',
                 b"BAD SETQUOTA takes a quota root and a list of resource limits"),
                ("o", 'SETQUOTA "User quota"', b"BAD SETQUOTA takes a quota root and a list of resource limits"),
                ("p", "STATUS INBOX (DELETED BOGUS)", b'BAD Unknown STATUS item "BOGUS"')):
            self.assertEqual(r.cmd(tag, cmd), tag.encode() + b" " + answer + b"\r\n", cmd)
        self.quota(r, "q", b"")

    def test_status_deleted_and_deleted_storage(self):
        """RFC 9208 4.1.4: DELETED, the messages with \\Deleted; DELETED-
        STORAGE, what an EXPUNGE would reclaim, in STORAGE's 1024 octets
        (the RFC's example: 4 messages, 8)."""
        r = self.session()
        for i in range(3):
            r.cmd("a%d" % i, append("INBOX", MSG + b"x" * 1000 * i))
        self.assertEqual(r.cmd("b", "STATUS INBOX (MESSAGES DELETED DELETED-STORAGE)"),
                         b"* STATUS INBOX (MESSAGES 3 DELETED 0 DELETED-STORAGE 0)\r\nb OK STATUS completed\r\n")
        r.cmd("c", "SELECT INBOX")
        r.cmd("d", "STORE 2:3 +FLAGS.SILENT (\\Deleted)")
        # 2 x 176 + 1000 + 2000 octets = 3352: 4 KiB rounded up.
        self.assertEqual(r.cmd("e", "STATUS INBOX (DELETED-STORAGE DELETED MESSAGES)"),
                         b"* STATUS INBOX (DELETED-STORAGE 4 DELETED 2 MESSAGES 3)\r\ne OK STATUS completed\r\n")
        self.assertEqual(r.cmd("f", 'LIST "" Sent RETURN (STATUS (DELETED))'),
                         b'* LIST (\\HasNoChildren \\Sent) "." Sent\r\n* STATUS Sent (DELETED 0)\r\n'
                         b"f OK LIST completed\r\n")
        r.cmd("g", "EXPUNGE")
        self.assertEqual(r.cmd("h", "STATUS INBOX (DELETED DELETED-STORAGE)"),
                         b"* STATUS INBOX (DELETED 0 DELETED-STORAGE 0)\r\nh OK STATUS completed\r\n")


class OverQuotaTest(QuotaTest):
    def test_append_copy_and_create_over_the_limit_get_overquota(self):
        """RFC 9208 4.3.1: "The OVERQUOTA response code SHOULD be returned in
        the tagged NO response to an APPEND/COPY/MOVE when the addition of
        the message(s) puts the target mailbox over any one of its quota
        limits"; nothing is added. MOVE stays in the quota root: it adds
        nothing and goes through. EXPUNGE and DELETE are never refused and
        give room back."""
        r = self.session()
        self.admin("--messages", "2", "--mailboxes", "7")
        self.assertRegex(r.cmd("a", append("INBOX", MSG)), rb"^a OK \[APPENDUID \d+ 1\]")
        self.assertRegex(r.cmd("b", append("INBOX", MSG)), rb"^b OK \[APPENDUID \d+ 2\]")
        self.assertEqual(r.cmd("c", append("INBOX", MSG)),
                         b"c NO [OVERQUOTA] Quota exceeded (messages)\r\n")
        # A synchronizing literal that cannot fit is refused before "+":
        # the client never uploads it.
        r.send(b"c2 APPEND INBOX {%d}\r\n" % len(MSG))
        self.assertEqual(r.line(), b"c2 NO [OVERQUOTA] Quota exceeded (messages)\r\n")
        self.quota(r, "d", b"MESSAGE 2 2 MAILBOX 6 7")
        r.cmd("e", "SELECT INBOX")
        self.assertEqual(r.cmd("f", "COPY 1 Sent"), b"f NO [OVERQUOTA] Quota exceeded (messages)\r\n")
        self.assertEqual(r.cmd("g", "UID COPY 1:2 Sent"), b"g NO [OVERQUOTA] Quota exceeded (messages)\r\n")
        self.assertRegex(r.cmd("h", "MOVE 1 Sent"), rb"\* 1 EXPUNGE\r\nh OK Done\r\n|h OK ")
        self.assertEqual(r.cmd("i", "STATUS Sent (MESSAGES)"),
                         b"* STATUS Sent (MESSAGES 1)\r\ni OK STATUS completed\r\n")
        # RFC 8474 4.1: CREATE answers with the new MAILBOXID.
        self.assertRegex(r.cmd("j", "CREATE Projects"),
                         rb"^j OK \[MAILBOXID \(F[0-9a-f]{24}\)\] CREATE completed\r\n$")
        self.assertEqual(r.cmd("k", "CREATE Another"), b"k NO [OVERQUOTA] Quota exceeded (mailboxes)\r\n")
        self.assertEqual(r.cmd("l", "CREATE Deep.Down"), b"l NO [OVERQUOTA] Quota exceeded (mailboxes)\r\n")
        self.assertNotIn(b"Deep", r.cmd("m", 'LIST "" *'))
        self.quota(r, "n", b"MESSAGE 2 2 MAILBOX 7 7")
        # A limit lowered below the usage keeps the mail; EXPUNGE and
        # DELETE still work and lower the usage.
        self.admin("--messages", "0", "--mailboxes", "1")
        r.cmd("o", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        self.assertIn(b"o2 OK", r.cmd("o2", "EXPUNGE"))
        self.assertEqual(r.cmd("p", "DELETE Projects"), b"p OK DELETE completed\r\n")
        self.quota(r, "q", b"MESSAGE 1 0 MAILBOX 6 1")

    def test_storage_limit_counts_octets(self):
        """5.1: STORAGE is the messages' size, checked in octets: a message
        that would take the usage past the limit is refused, one that
        fills it exactly is not."""
        r = self.session()
        self.admin("--storage", str(2 * len(MSG)))
        self.assertRegex(r.cmd("a", append("INBOX", MSG)), rb"^a OK ")
        self.assertEqual(r.cmd("b", append("INBOX", MSG + b"x")),
                         b"b NO [OVERQUOTA] Quota exceeded (storage)\r\n")
        self.assertRegex(r.cmd("c", append("INBOX", MSG)), rb"^c OK ")
        self.quota(r, "d", b"STORAGE 1 0")

    def test_multiappend_batch_is_checked_as_a_whole(self):
        """RFC 3502 (Introduction): "A MULTIAPPEND APPEND operation is
        atomic; either all messages are successfully appended, or no
        messages are appended"; RFC 9208 4.3.1: OVERQUOTA when "the
        addition of the message(s)" goes over a limit. The batch's count
        and its sizes summed are checked at once, at the commit: each
        message alone fits, all of them do not. A batch that fills the
        limit exactly is stored."""
        r = self.session()
        self.assertRegex(r.cmd("a", append("INBOX", MSG)), rb"^a OK \[APPENDUID \d+ 1\]")
        self.admin("--messages", "3")
        self.assertEqual(r.cmd("b", multiappend("INBOX", [MSG, MSG, MSG])),
                         b"b NO [OVERQUOTA] Quota exceeded (messages)\r\n")
        self.assertEqual(r.cmd("c", "STATUS INBOX (MESSAGES)"),
                         b"* STATUS INBOX (MESSAGES 1)\r\nc OK STATUS completed\r\n")
        self.assertRegex(r.cmd("d", multiappend("INBOX", [MSG, MSG])),
                         rb"^d OK \[APPENDUID \d+ 2:3\] APPEND completed\r\n$")
        self.quota(r, "e", b"MESSAGE 3 3")
        # Storage: two messages of one octet too many between them, then
        # two that fill the limit to the octet.
        self.admin("--messages", "none", "--storage", str(5 * len(MSG)))
        self.assertEqual(r.cmd("f", multiappend("INBOX", [MSG, MSG + b"x"])),
                         b"f NO [OVERQUOTA] Quota exceeded (storage)\r\n")
        self.assertEqual(r.cmd("g", "STATUS INBOX (MESSAGES)"),
                         b"* STATUS INBOX (MESSAGES 3)\r\ng OK STATUS completed\r\n")
        self.assertRegex(r.cmd("h", multiappend("INBOX", [MSG, MSG])),
                         rb"^h OK \[APPENDUID \d+ 4:5\] APPEND completed\r\n$")
        self.quota(r, "i", b"STORAGE 1 0")
        # CATENATE's message goes through the same storage append: one
        # made of a URL alone (no literal to refuse before "+") too.
        self.admin("--storage", "none", "--messages", "5")
        r.send(b'j APPEND INBOX CATENATE (URL "/INBOX/;UID=1")\r\n')
        self.assertEqual(r.until("j"), b"j NO [OVERQUOTA] Quota exceeded (messages)\r\n")
        self.assertEqual(r.cmd("k", "STATUS INBOX (MESSAGES)"),
                         b"* STATUS INBOX (MESSAGES 5)\r\nk OK STATUS completed\r\n")


class QuotaDefaultTest(QuotaTest):
    """The storage block's quota_messages: the limit of every account
    without its own; the CLI's `default` goes back to it."""

    storage_extra = "quota_messages 1"

    def test_default_limit_applies_and_an_own_limit_overrides_it(self):
        r = self.session()
        self.quota(r, "a", b"MESSAGE 0 1")
        self.assertRegex(r.cmd("b", append("INBOX", MSG)), rb"^b OK ")
        self.assertEqual(r.cmd("c", append("INBOX", MSG)),
                         b"c NO [OVERQUOTA] Quota exceeded (messages)\r\n")
        self.admin("--messages", "none")
        self.assertRegex(r.cmd("d", append("INBOX", MSG)), rb"^d OK ")
        self.quota(r, "e", b"")
        self.admin("--messages", "default")
        self.quota(r, "f", b"MESSAGE 2 1")
        # Delivery through the storage (here the CLI's) is held to it too.
        rc, _, err = phtest.posthorn("messages", "add", "bob", "INBOX", config=self.conf, input=MSG)
        self.assertEqual(rc, 1)
        self.assertIn("Quota exceeded (messages) (OVERQUOTA)", err)


if __name__ == "__main__":
    phtest.main()
