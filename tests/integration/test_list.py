# SPDX-License-Identifier: MIT
"""The extended LIST through the real binary, byte for byte: LIST-EXTENDED
(RFC 5258) with RFC 6154's SPECIAL-USE options, LIST-STATUS (RFC 5819) and
STATUS=SIZE (RFC 8438), and what hostile LIST commands get.

test_list_pgsql.py runs these classes on storage.pgsql too."""
import re
import time

from test_imap import MSG, ImapTest

# The hierarchy of the tests (RFC 5258 5's examples, with "." for "/"):
# the defaults (INBOX, Archive, Drafts, Junk, Sent, Trash), Fruit (made
# \Noselect by DELETE: it has inferiors), Fruit.Apple, Fruit.Banana, Tofu,
# Vegetable, Vegetable.Broccoli, Vegetable.Corn. Subscribed: INBOX,
# Fruit.Banana, Fruit.Peach (which does not exist), Vegetable and
# Vegetable.Broccoli.
CHILDINFO = b' ("CHILDINFO" ("SUBSCRIBED"))'


def append(tag, mailbox, msg, flags=""):
    return ("%s APPEND %s (%s) {%d+}\r\n" % (tag, mailbox, flags, len(msg))).encode() + msg + b"\r\n"


class ListTest(ImapTest):
    def setUp(self):
        super().setUp()
        r = self.raw()
        r.login()
        for i, cmd in enumerate(["CREATE Fruit.Apple", "CREATE Fruit.Banana", "DELETE Fruit",
                                 "CREATE Tofu", "CREATE Vegetable.Broccoli", "CREATE Vegetable.Corn",
                                 "UNSUBSCRIBE Archive", "UNSUBSCRIBE Drafts", "UNSUBSCRIBE Junk",
                                 "UNSUBSCRIBE Sent", "UNSUBSCRIBE Trash",
                                 "SUBSCRIBE Fruit.Banana",
                                 # Subscriptions are names: they survive DELETE.
                                 "CREATE Fruit.Peach", "SUBSCRIBE Fruit.Peach", "DELETE Fruit.Peach",
                                 "SUBSCRIBE Vegetable", "SUBSCRIBE Vegetable.Broccoli"]):
            out = r.cmd("s%d" % i, cmd)
            self.assertRegex(out, rb"^s\d+ OK ", cmd)
        r.cmd("z", "LOGOUT")

    def session(self):
        r = self.raw()
        r.login()
        return r

    def ok(self, r, tag, cmd, *lines):
        """The answer to cmd: exactly these untagged lines, then OK."""
        self.assertEqual(r.cmd(tag, cmd), b"".join(l + b"\r\n" for l in lines) +
                         tag.encode() + b" OK LIST completed\r\n")


class ListExtendedTest(ListTest):
    def test_plain_list_and_lsub_answer_as_before(self):
        """The two-argument LIST and LSUB are not extended (RFC 5258 3):
        no \\Subscribed, no \\NonExistent, "" asks for the delimiter."""
        r = self.session()
        self.ok(r, "a", 'LIST "" Fruit*',
                b'* LIST (\\Noselect \\HasChildren) "." Fruit',
                b'* LIST (\\HasNoChildren) "." Fruit.Apple',
                b'* LIST (\\HasNoChildren) "." Fruit.Banana')
        self.ok(r, "b", 'LIST "" ""', b'* LIST (\\Noselect) "." ""')
        self.assertEqual(r.cmd("c", 'LSUB "" Fruit.*'),
                         b'* LSUB () "." Fruit.Banana\r\n* LSUB (\\Noselect) "." Fruit.Peach\r\n'
                         b"c OK LSUB completed\r\n")

    def test_subscribed_selection_lists_subscribed_names(self):
        """RFC 5258 5, example 2: "C: A02 LIST (SUBSCRIBED) "" "*" ... S: *
        LIST (\\Subscribed \\NonExistent) "/" "Fruit/Peach"": exactly the
        subscribed names, accurate attributes; \\NonExistent for the one
        that does not exist (3: "MUST be accurately computed")."""
        r = self.session()
        self.ok(r, "a", 'LIST (SUBSCRIBED) "" "*"',
                b'* LIST (\\HasNoChildren \\Subscribed) "." Fruit.Banana',
                b'* LIST (\\NonExistent \\Subscribed) "." Fruit.Peach',
                b'* LIST (\\HasNoChildren \\Subscribed) "." INBOX',
                b'* LIST (\\HasChildren \\Subscribed) "." Vegetable',
                b'* LIST (\\HasNoChildren \\Subscribed) "." Vegetable.Broccoli')
        # REMOTE: "apply the other options, if any, to remote mailboxes, in
        # addition to local ones" (3.1); there are none. Options in any
        # order, each as if given once (3).
        self.ok(r, "b", 'LIST (REMOTE SUBSCRIBED SUBSCRIBED) "" Fruit.%',
                b'* LIST (\\HasNoChildren \\Subscribed) "." Fruit.Banana',
                b'* LIST (\\NonExistent \\Subscribed) "." Fruit.Peach')
        # With CHILDREN, a name that does not exist has no child mailbox
        # (4: "MUST return these attributes").
        self.ok(r, "c", 'LIST (SUBSCRIBED) "" Fruit.Peach RETURN (CHILDREN)',
                b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "." Fruit.Peach')
        # An empty selection list is an extended LIST of existing names.
        self.ok(r, "d", 'LIST () "" Tofu', b'* LIST (\\HasNoChildren) "." Tofu')

    def test_return_subscribed_and_children(self):
        """RFC 5258 5, example 6: RETURN (SUBSCRIBED) says the state of the
        listed mailboxes and lists no extra (non-existent) name; example 3:
        RETURN (CHILDREN)."""
        r = self.session()
        self.ok(r, "a", 'LIST (REMOTE) "" "*" RETURN (SUBSCRIBED)',
                b'* LIST (\\HasNoChildren \\Archive) "." Archive',
                b'* LIST (\\HasNoChildren \\Drafts) "." Drafts',
                b'* LIST (\\Noselect \\HasChildren) "." Fruit',
                b'* LIST (\\HasNoChildren) "." Fruit.Apple',
                b'* LIST (\\HasNoChildren \\Subscribed) "." Fruit.Banana',
                b'* LIST (\\HasNoChildren \\Subscribed) "." INBOX',
                b'* LIST (\\HasNoChildren \\Junk) "." Junk',
                b'* LIST (\\HasNoChildren \\Sent) "." Sent',
                b'* LIST (\\HasNoChildren) "." Tofu',
                b'* LIST (\\HasNoChildren \\Trash) "." Trash',
                b'* LIST (\\HasChildren \\Subscribed) "." Vegetable',
                b'* LIST (\\HasNoChildren \\Subscribed) "." Vegetable.Broccoli',
                b'* LIST (\\HasNoChildren) "." Vegetable.Corn')
        self.ok(r, "b", 'LIST () "" "%" RETURN (CHILDREN CHILDREN)',
                b'* LIST (\\HasNoChildren \\Archive) "." Archive',
                b'* LIST (\\HasNoChildren \\Drafts) "." Drafts',
                b'* LIST (\\Noselect \\HasChildren) "." Fruit',
                b'* LIST (\\HasNoChildren) "." INBOX',
                b'* LIST (\\HasNoChildren \\Junk) "." Junk',
                b'* LIST (\\HasNoChildren \\Sent) "." Sent',
                b'* LIST (\\HasNoChildren) "." Tofu',
                b'* LIST (\\HasNoChildren \\Trash) "." Trash',
                b'* LIST (\\HasChildren) "." Vegetable')

    def test_several_patterns(self):
        """RFC 5258 3: "A mailbox name matches a list of mailbox patterns if
        it matches at least one", with "only a single LIST response" when
        it matches several; the reference applies to each; an empty pattern
        "MUST be ignored for the purpose of matching" (example 7)."""
        r = self.session()
        self.ok(r, "a", 'LIST "" ("INBOX" "Fruit.%" Fruit.* inbox)',
                b'* LIST (\\HasNoChildren) "." Fruit.Apple',
                b'* LIST (\\HasNoChildren) "." Fruit.Banana',
                b'* LIST (\\HasNoChildren) "." INBOX')
        self.ok(r, "b", 'LIST Vegetable. (Corn "" Nothing)',
                b'* LIST (\\HasNoChildren) "." Vegetable.Corn')
        # No delimiter request in an extended LIST: nothing matches "".
        self.ok(r, "c", 'LIST () "" ""')
        self.ok(r, "d", 'LIST "" ("")')
        self.ok(r, "e", 'LIST "" "" RETURN ()')

    def test_recursivematch_childinfo(self):
        """RFC 5258 3.3 2B and 3.5: RECURSIVEMATCH returns a name that is
        not selected when a selected descendant of it matches no pattern,
        with CHILDINFO; a selected name gets CHILDINFO when it has a
        selected descendant (example 8 A1); a parent that does not exist is
        \\NonExistent (example 8 A2)."""
        r = self.session()
        for cmd in ("CREATE Qux.Bar", "SUBSCRIBE Qux.Bar", "DELETE Qux.Bar", "DELETE Qux"):
            self.assertIn(b"s OK", r.cmd("s", cmd))
        self.ok(r, "a", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"',
                b'* LIST (\\Noselect \\HasChildren) "." Fruit' + CHILDINFO,
                b'* LIST (\\HasNoChildren \\Subscribed) "." INBOX',
                b'* LIST (\\NonExistent) "." Qux' + CHILDINFO,
                b'* LIST (\\HasChildren \\Subscribed) "." Vegetable' + CHILDINFO)
        # Example 9: "*" matches every subscribed descendant, so the parents
        # not subscribed are not returned ("Servers SHOULD suppress
        # redundant CHILDINFO responses", 3.5); Vegetable keeps CHILDINFO.
        self.ok(r, "b", 'LIST (RECURSIVEMATCH SUBSCRIBED) "" "*" RETURN (CHILDREN)',
                b'* LIST (\\HasNoChildren \\Subscribed) "." Fruit.Banana',
                b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "." Fruit.Peach',
                b'* LIST (\\HasNoChildren \\Subscribed) "." INBOX',
                b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "." Qux.Bar',
                b'* LIST (\\HasChildren \\Subscribed) "." Vegetable' + CHILDINFO,
                b'* LIST (\\HasNoChildren \\Subscribed) "." Vegetable.Broccoli')
        # Example 8 B: no selected descendant, no response for the parent.
        self.ok(r, "c", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" Tofu')
        # Without RECURSIVEMATCH, never CHILDINFO (3.5: "MUST NOT be
        # returned unless the client has specified the RECURSIVEMATCH").
        self.ok(r, "d", 'LIST (SUBSCRIBED) "" "%"',
                b'* LIST (\\HasNoChildren \\Subscribed) "." INBOX',
                b'* LIST (\\HasChildren \\Subscribed) "." Vegetable')

    def test_special_use_selection(self):
        """RFC 6154 2: with the SPECIAL-USE selection option "the LIST
        command MUST return only those mailboxes that have a special-use
        attribute set" (example 5.2, t3); with SUBSCRIBED too, those that
        satisfy both (RFC 5258 3)."""
        r = self.session()
        self.ok(r, "a", 'LIST (SPECIAL-USE) "" "*"',
                b'* LIST (\\HasNoChildren \\Archive) "." Archive',
                b'* LIST (\\HasNoChildren \\Drafts) "." Drafts',
                b'* LIST (\\HasNoChildren \\Junk) "." Junk',
                b'* LIST (\\HasNoChildren \\Sent) "." Sent',
                b'* LIST (\\HasNoChildren \\Trash) "." Trash')
        r.cmd("s", "SUBSCRIBE Sent")
        self.ok(r, "b", 'LIST (SPECIAL-USE SUBSCRIBED) "" "*" RETURN (SPECIAL-USE)',
                b'* LIST (\\HasNoChildren \\Subscribed \\Sent) "." Sent')
        self.ok(r, "c", 'LIST "" (Sent Tofu) RETURN (SPECIAL-USE)',
                b'* LIST (\\HasNoChildren \\Sent) "." Sent',
                b'* LIST (\\HasNoChildren) "." Tofu')

    def test_bad_options_and_shapes(self):
        """RFC 5258 3: "A server MUST respond to options it does not
        recognize with a BAD response"; 3.1: RECURSIVEMATCH alone (or only
        with REMOTE) "The server MUST return BAD"; 6: patterns hold at least
        one list-mailbox. Each is a tagged BAD, and the session goes on."""
        r = self.session()
        shape = b"BAD LIST takes a reference and a mailbox pattern"
        cases = [
            ('LIST (RECURSIVEMATCH) "" "*"', b"BAD RECURSIVEMATCH needs the SUBSCRIBED selection option"),
            ('LIST (REMOTE RECURSIVEMATCH) "" "*"', b"BAD RECURSIVEMATCH needs the SUBSCRIBED selection option"),
            ('LIST (SPECIAL-USE RECURSIVEMATCH) "" "*"',
             b"BAD RECURSIVEMATCH needs the SUBSCRIBED selection option"),
            ('LIST (FOO) "" "*"', b'BAD Unknown LIST selection option "FOO"'),
            ('LIST (SUBSCRIBED (x)) "" "*"', b"BAD Unknown LIST selection option (a list or string)"),
            ('LIST ((SUBSCRIBED)) "" "*"', b"BAD Unknown LIST selection option (a list or string)"),
            ('LIST ("SUBSCRIBED") "" "*"', b"BAD Unknown LIST selection option (a list or string)"),
            ('LIST "" "*" RETURN (FOO)', b'BAD Unknown LIST return option "FOO"'),
            ('LIST "" "*" RETURN (CHILDREN (x))', b"BAD Unknown LIST return option (a list or string)"),
            ('LIST "" "*" RETURN (STATUS)', b"BAD STATUS return option takes a list of STATUS items"),
            ('LIST "" "*" RETURN (STATUS ())', b"BAD STATUS return option takes a list of STATUS items"),
            ('LIST "" "*" RETURN (STATUS MESSAGES)', b"BAD STATUS return option takes a list of STATUS items"),
            ('LIST "" "*" RETURN (STATUS (MESSAGES FOO))', b'BAD Unknown STATUS item "FOO"'),
            ('LIST "" "*" RETURN (STATUS ((MESSAGES)))', b"BAD Unknown STATUS item (a list or string)"),
            ('LIST "" ()', shape),
            ('LIST "" ("*" ("x"))', shape),
            ('LIST "" "*" RETURN', shape),
            ('LIST "" "*" RETURN CHILDREN', shape),
            ('LIST "" "*" RETURN (CHILDREN) x', shape),
            ('LIST "" "*" RETOUR (CHILDREN)', shape),
            ('LIST () ""', shape),
            ('LIST ()', shape),
            ('LIST (SUBSCRIBED) () "*"', shape),
            ('LSUB (SUBSCRIBED) "" "*"', b"BAD LSUB takes a reference and a mailbox pattern"),
            ('LSUB "" ("*")', b"BAD LSUB takes a reference and a mailbox pattern"),
            ('LSUB "" "*" RETURN ()', b"BAD LSUB takes a reference and a mailbox pattern"),
        ]
        for i, (cmd, answer) in enumerate(cases):
            tag = "b%d" % i
            self.assertEqual(r.cmd(tag, cmd), tag.encode() + b" " + answer + b"\r\n", cmd)
        self.assertEqual(r.cmd("n", "NOOP"), b"n OK NOOP completed\r\n")

    def test_many_patterns_within_bounds(self):
        """1000 patterns are matched (one answer per name), a 1001st is
        refused with BAD; a list over the parser's bounds (items, nesting)
        is a BAD too, and the session goes on."""
        r = self.session()
        pats = " ".join("nope%d*" % i for i in range(999))
        # No time bound (a test never fails on time): a matcher that
        # backtracked exponentially would hang past the socket's timeout.
        self.ok(r, "a", 'LIST "" (%s Fruit.*)' % pats,
                b'* LIST (\\HasNoChildren) "." Fruit.Apple',
                b'* LIST (\\HasNoChildren) "." Fruit.Banana')
        self.assertEqual(r.cmd("b", 'LIST "" (%s Fruit.* Tofu)' % pats),
                         b"b BAD Too many mailbox patterns (at most 1000)\r\n")
        # Hostile patterns that would backtrack exponentially, many times.
        self.ok(r, "c", 'LIST "" (%s)' % " ".join(['"' + "*a" * 40 + '*b"'] * 700))
        out = r.cmd("d", 'LIST "" (%s)' % " ".join(["x"] * 20000))
        self.assertTrue(out.startswith(b"d BAD "), out)
        out = r.cmd("e", "LIST %s SUBSCRIBED %s \"\" *" % ("(" * 200, ")" * 200))
        self.assertTrue(out.startswith(b"e BAD ") or out.startswith(b"* BAD "), out)
        self.assertEqual(r.cmd("n", "NOOP"), b"n OK NOOP completed\r\n")


class ListStatusTest(ListTest):
    def fill(self):
        r = self.session()
        big = MSG + b"x" * 1000 + b"\r\n"
        self.sizes = {"INBOX": [len(MSG), len(big)], "Fruit.Apple": [len(MSG)]}
        for i, (mbox, msg, flags) in enumerate([("INBOX", MSG, "\\Seen"), ("INBOX", big, ""),
                                                ("Fruit.Apple", MSG, "")]):
            r.send(append("p%d" % i, mbox, msg, flags))
            self.assertIn(b"p%d OK" % i, r.until("p%d" % i))
        # Take \Recent away, so that no answer depends on which session has it.
        r.cmd("e", "SELECT INBOX")
        return r

    def test_status_after_each_selectable_mailbox(self):
        """RFC 5819 2: "For each selectable mailbox matching the list
        pattern and selection options, the server MUST return an untagged
        LIST response followed by an untagged STATUS response"; none for a
        \\Noselect one (example A01) nor a \\NonExistent one."""
        r = self.fill()
        inbox, apple = sum(self.sizes["INBOX"]), sum(self.sizes["Fruit.Apple"])
        self.ok(r, "a", 'LIST "" (INBOX Fruit Fruit.Apple Fruit.Peach) RETURN (STATUS (MESSAGES UNSEEN SIZE))',
                b'* LIST (\\Noselect \\HasChildren) "." Fruit',
                b'* LIST (\\HasNoChildren) "." Fruit.Apple',
                b'* STATUS Fruit.Apple (MESSAGES 1 UNSEEN 1 SIZE %d)' % apple,
                b'* LIST (\\HasNoChildren) "." INBOX',
                b'* STATUS INBOX (MESSAGES 2 UNSEEN 1 SIZE %d)' % inbox)
        self.ok(r, "b", 'LIST (SUBSCRIBED) "" Fruit.* RETURN (STATUS (MESSAGES RECENT))',
                b'* LIST (\\HasNoChildren \\Subscribed) "." Fruit.Banana',
                b'* STATUS Fruit.Banana (MESSAGES 0 RECENT 0)',
                b'* LIST (\\NonExistent \\Subscribed) "." Fruit.Peach')
        # Example A02: "The LIST reply for "foo" is returned because it has
        # matching children, but no STATUS reply is returned because "foo"
        # itself doesn't match the selection criteria."
        self.ok(r, "c", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (STATUS (MESSAGES))',
                b'* LIST (\\Noselect \\HasChildren) "." Fruit' + CHILDINFO,
                b'* LIST (\\HasNoChildren \\Subscribed) "." INBOX',
                b'* STATUS INBOX (MESSAGES 2)',
                b'* LIST (\\HasChildren \\Subscribed) "." Vegetable' + CHILDINFO,
                b'* STATUS Vegetable (MESSAGES 0)')

    def test_status_items_are_those_of_status(self):
        """The STATUS return option takes STATUS's items (RFC 5819 4:
        status-att), answered as STATUS answers them: the same line for the
        same items, each item once, in the order asked."""
        r = self.fill()
        items = "UIDNEXT MESSAGES UIDVALIDITY UNSEEN RECENT SIZE APPENDLIMIT MESSAGES"
        status = r.cmd("s", "STATUS INBOX (%s)" % items)
        self.assertRegex(status, rb"^\* STATUS INBOX \(UIDNEXT 3 MESSAGES 2 UIDVALIDITY \d+ UNSEEN 1 "
                                 rb"RECENT 0 SIZE \d+ APPENDLIMIT (\d+|NIL)\)\r\n")
        listed = r.cmd("l", 'LIST "" INBOX RETURN (STATUS (%s))' % items)
        self.assertEqual(listed, b'* LIST (\\HasNoChildren) "." INBOX\r\n' +
                         status.split(b"\r\n")[0] + b"\r\nl OK LIST completed\r\n")
        # Two STATUS options: as if the items were asked once (RFC 5258 3).
        self.ok(r, "m", 'LIST "" Tofu RETURN (STATUS (MESSAGES) CHILDREN STATUS (MESSAGES UNSEEN))',
                b'* LIST (\\HasNoChildren) "." Tofu', b"* STATUS Tofu (MESSAGES 0 UNSEEN 0)")
        r.cmd("c", "CREATE &ZeVnLIqe-")
        self.ok(r, "u", 'LIST "" &ZeVnLIqe- RETURN (STATUS (MESSAGES))',
                b'* LIST (\\HasNoChildren) "." &ZeVnLIqe-', b"* STATUS &ZeVnLIqe- (MESSAGES 0)")

    def test_highestmodseq_item_enables_condstore(self):
        """RFC 7162 3.1: STATUS (HIGHESTMODSEQ) is a CONDSTORE enabling
        command; through LIST's STATUS option too."""
        r = self.session()
        out = r.cmd("l", 'LIST "" INBOX RETURN (STATUS (HIGHESTMODSEQ))')
        m = re.match(rb'^\* LIST \(\\HasNoChildren\) "\." INBOX\r\n\* STATUS INBOX \(HIGHESTMODSEQ (\d+)\)\r\n'
                     rb"l OK LIST completed\r\n$", out)
        self.assertTrue(m, out)
        self.assertIn(b"* OK [HIGHESTMODSEQ %s]" % m.group(1), r.cmd("s", "SELECT INBOX"))

    def test_status_size_is_the_sum_of_rfc822_sizes(self):
        """RFC 8438 3: SIZE "MUST be equal to or greater than the sum of the
        values of the RFC822.SIZE FETCH message data item ... of all
        messages in the mailbox"; it is that sum, after APPEND (bare LF
        lines too), COPY, MOVE and EXPUNGE, in STATUS and LIST-STATUS."""
        r = self.fill()
        r.send(append("p", "INBOX", b"Subject: lf\n\nbare\nlines\n"))
        self.assertIn(b"p OK", r.until("p"))

        def check(mbox):
            st = r.cmd("s", "STATUS %s (SIZE MESSAGES)" % mbox)
            size, n = map(int, re.match(rb"^\* STATUS \S+ \(SIZE (\d+) MESSAGES (\d+)\)\r\n", st).groups())
            listed = r.cmd("l", 'LIST "" %s RETURN (STATUS (SIZE MESSAGES))' % mbox)
            self.assertIn(st.split(b"\r\n")[0] + b"\r\n", listed)
            r.cmd("x", "EXAMINE %s" % mbox)
            sizes = [int(x) for x in re.findall(rb"RFC822\.SIZE (\d+)", r.cmd("f", "FETCH 1:* RFC822.SIZE"))
                     ] if n else []
            self.assertEqual((size, n), (sum(sizes), len(sizes)), mbox)
            return size

        self.assertEqual(check("INBOX"), sum(self.sizes["INBOX"]) + len(b"Subject: lf\r\n\r\nbare\r\nlines\r\n"))
        self.assertEqual(check("Tofu"), 0)
        r.cmd("s", "SELECT INBOX")
        self.assertIn(b"c OK", r.cmd("c", "COPY 1:3 Tofu"))
        self.assertIn(b"m OK", r.cmd("m", "MOVE 2 Fruit.Apple"))
        check("Fruit.Apple")
        tofu = check("Tofu")
        r.cmd("s", "SELECT Tofu")
        self.assertIn(b"d OK", r.cmd("d", "STORE 1 +FLAGS.SILENT (\\Deleted)"))
        self.assertIn(b"e OK", r.cmd("e", "EXPUNGE"))
        self.assertEqual(check("Tofu"), tofu - len(MSG))
        check("INBOX")


class CapabilityTest(ImapTest):
    def test_list_capabilities_advertised(self):
        r = self.raw()
        r.login()
        caps = r.cmd("c", "CAPABILITY").split(b"\r\n")[0].split(b" ")
        for cap in (b"LIST-EXTENDED", b"LIST-STATUS", b"STATUS=SIZE"):
            self.assertIn(cap, caps)


if __name__ == "__main__":
    import phtest
    phtest.main()
