# SPDX-License-Identifier: MIT
"""OBJECTID (RFC 8474) and PREVIEW (RFC 8970) through the real binary,
byte for byte: MAILBOXID in CREATE, SELECT/EXAMINE, STATUS and LIST
RETURN (STATUS), EMAILID and THREADID in FETCH and SEARCH, ids stable
across RENAME, COPY, MOVE and a restart; PREVIEW and PREVIEW (LAZY).

test_objectid_pgsql.py runs these classes on storage.pgsql too."""
import base64
import re

from test_imap import ImapTest

# RFC 8474 7: objectid = 1*255(ALPHA / DIGIT / "_" / "-"); posthorn's are
# a letter (F mailbox, M email, T thread) and 24 lowercase hex digits
# (8.1: never a leading digit or dash, never "NIL", no case pairs).
MBOXID = rb"F[0-9a-f]{24}"
EMAILID = rb"M[0-9a-f]{24}"
THREADID = rb"T[0-9a-f]{24}"


def message(headers, body=b"body\r\n"):
    return b"".join(h.encode() + b"\r\n" for h in headers) + b"\r\n" + body


def append(r, tag, mailbox, msg):
    r.send(b"%s APPEND %s {%d+}\r\n" % (tag.encode(), mailbox.encode(), len(msg)) + msg + b"\r\n")
    out = r.until(tag)
    assert re.search(rb"^%s OK \[APPENDUID \d+ \d+\]" % tag.encode(), out, re.M), out
    return out


class ObjectIdBase(ImapTest):
    def session(self):
        r = self.raw()
        r.login()
        return r

    def mailboxid(self, r, name):
        out = r.cmd("st", "STATUS %s (MAILBOXID)" % name)
        m = re.match(rb"\* STATUS %s \(MAILBOXID \((%s)\)\)\r\nst OK STATUS completed\r\n$"
                     % (re.escape(name.encode()), MBOXID), out)
        self.assertIsNotNone(m, out)
        return m.group(1)

    def ids(self, r, seqs="1:*"):
        """{seq: (emailid, threadid)} of FETCH (EMAILID THREADID)."""
        out = r.cmd("f", "FETCH %s (EMAILID THREADID)" % seqs)
        self.assertTrue(out.endswith(b"f OK FETCH completed\r\n"), out)
        found = re.findall(rb"\* (\d+) FETCH \(EMAILID \((%s)\) THREADID \((%s)\)\)\r\n"
                           % (EMAILID, THREADID), out)
        self.assertEqual(len(found), out.count(b"\r\n") - 1, out)
        return {int(s): (e, t) for s, e, t in found}


class MailboxIdTest(ObjectIdBase):
    def test_create_status_select_examine_list_give_one_mailboxid(self):
        r = self.session()
        # RFC 8474 4.1: "MUST include the MAILBOXID response code in the
        # tagged OK response to all successful CREATE commands".
        out = r.cmd("c", "CREATE Work")
        m = re.match(rb"c OK \[MAILBOXID \((%s)\)\] CREATE completed\r\n$" % MBOXID, out)
        self.assertIsNotNone(m, out)
        mid = m.group(1)
        self.assertEqual(self.mailboxid(r, "Work"), mid)
        # 4.2: an untagged OK [MAILBOXID] on SELECT and EXAMINE.
        for cmd in ("SELECT", "EXAMINE"):
            out = r.cmd("s", "%s Work" % cmd)
            self.assertIn(b"* OK [MAILBOXID (" + mid + b")] Ok\r\n", out)
        # 4.3 with LIST-STATUS (RFC 5819).
        out = r.cmd("l", 'LIST "" Work RETURN (STATUS (MESSAGES MAILBOXID))')
        self.assertEqual(out, b'* LIST (\\HasNoChildren) "." Work\r\n'
                              b"* STATUS Work (MESSAGES 0 MAILBOXID (" + mid + b"))\r\n"
                              b"l OK LIST completed\r\n")
        # 4: "MUST NOT report the same MAILBOXID for two mailboxes".
        self.assertNotEqual(self.mailboxid(r, "INBOX"), mid)

    def test_rename_keeps_mailboxid_and_delete_create_makes_another(self):
        r = self.session()
        r.cmd("c", "CREATE A.B")
        a, b = self.mailboxid(r, "A"), self.mailboxid(r, "A.B")
        self.assertEqual(r.cmd("m", "RENAME A Z"), b"m OK RENAME completed\r\n")
        # 4: "MUST keep the same MAILBOXID for the source and destination
        # when renaming a mailbox", inferiors too.
        self.assertEqual(self.mailboxid(r, "Z"), a)
        self.assertEqual(self.mailboxid(r, "Z.B"), b)
        self.assertIn(b"d OK", r.cmd("d", "DELETE Z.B"))
        r.cmd("c", "CREATE Z.B")
        self.assertNotEqual(self.mailboxid(r, "Z.B"), b)
        # A \Noselect parent made a mailbox again has a new UIDVALIDITY: 4
        # "MUST NOT reuse the same MAILBOXID".
        self.assertIn(b"d OK", r.cmd("d", "DELETE Z"))
        r.cmd("c", "CREATE Z")
        self.assertNotEqual(self.mailboxid(r, "Z"), a)

    def test_rename_inbox_makes_a_new_mailbox(self):
        r = self.session()
        inbox = self.mailboxid(r, "INBOX")
        append(r, "a", "INBOX", message(["Subject: x"]))
        self.assertIn(b"m OK", r.cmd("m", "RENAME INBOX Old"))
        # 8.2 and RFC 3501 6.3.5: the messages go to a new mailbox; INBOX
        # stays itself.
        self.assertEqual(self.mailboxid(r, "INBOX"), inbox)
        self.assertNotEqual(self.mailboxid(r, "Old"), inbox)

    def test_mailboxid_is_a_status_item_and_bad_forms_are_refused(self):
        r = self.session()
        out = r.cmd("s", "STATUS INBOX (mailboxid messages)")
        self.assertRegex(out, rb"^\* STATUS INBOX \(MAILBOXID \(%s\) MESSAGES 0\)\r\n" % MBOXID)
        self.assertEqual(r.cmd("b", "STATUS INBOX (MAILBOXID2)"),
                         b'b BAD Unknown STATUS item "MAILBOXID2"\r\n')


class EmailIdTest(ObjectIdBase):
    PARENT = message(["Subject: Message A", "Message-ID: <a@example.com>"])
    REPLY = message(["Subject: Re: Message A", "Message-ID: <b@example.org>",
                     "References: <a@example.com>"])
    OTHER = message(["Subject: Message C", "Message-ID: <c@example.com>"])

    def test_fetch_and_search_as_in_the_rfc_example(self):
        r = self.session()
        for i, msg in enumerate((self.PARENT, self.REPLY, self.OTHER)):
            append(r, "a%d" % i, "INBOX", msg)
        r.cmd("s", "SELECT INBOX")
        ids = self.ids(r)
        # 5.2: related messages share a THREADID, others do not; 5.1:
        # EMAILIDs are unique; 5.2: "MUST NOT use the same ObjectID value
        # for both EMAILIDs and THREADIDs".
        self.assertEqual(ids[1][1], ids[2][1])
        self.assertNotEqual(ids[1][1], ids[3][1])
        self.assertEqual(len({ids[k][0] for k in ids}), 3)
        # 6: SEARCH EMAILID / THREADID, exactly.
        self.assertEqual(r.cmd("x", "SEARCH EMAILID %s" % ids[1][0].decode()),
                         b"* SEARCH 1\r\nx OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("x", "UID SEARCH THREADID %s" % ids[1][1].decode()),
                         b"* SEARCH 1 2\r\nx OK SEARCH completed\r\n")
        self.assertEqual(r.cmd("x", "SEARCH OR EMAILID %s EMAILID %s" % (ids[3][0].decode(), ids[2][0].decode())),
                         b"* SEARCH 2 3\r\nx OK SEARCH completed\r\n")
        # Case matters (7: "ObjectID values are case sensitive").
        self.assertEqual(r.cmd("x", "SEARCH EMAILID %s" % ids[1][0].decode().upper()),
                         b"* SEARCH\r\nx OK SEARCH completed\r\n")
        # The endpoint's own evaluation (a Date key storage does not push
        # down) answers the same.
        self.assertEqual(r.cmd("x", "SEARCH NOT SENTBEFORE 1-Jan-1970 THREADID %s" % ids[1][1].decode()),
                         b"* SEARCH 1 2\r\nx OK SEARCH completed\r\n")
        # 7: objectid = 1*255(ALPHA / DIGIT / "_" / "-").
        for bad in ('"M1"', "M.1", "a" * 256, "(M1)"):
            self.assertEqual(r.cmd("b", "SEARCH EMAILID %s" % bad),
                             b"b BAD Invalid object id for EMAILID\r\n", bad)

    def test_copy_and_move_keep_emailid_and_threadid(self):
        r = self.session()
        r.cmd("c", "CREATE Dest")
        append(r, "a", "INBOX", self.PARENT)
        append(r, "b", "INBOX", self.REPLY)
        r.cmd("s", "SELECT INBOX")
        before = self.ids(r)
        # 5.1: "MUST return the same EMAILID as the source message for the
        # matching destination message in the COPYUID pairing after a COPY
        # or MOVE command".
        self.assertIn(b"c OK [COPYUID", r.cmd("c", "COPY 1 Dest"))
        self.assertIn(b"m OK", r.cmd("m", "MOVE 2 Dest"))
        r.cmd("s", "SELECT Dest")
        self.assertEqual(self.ids(r), {1: before[1], 2: before[2]})
        # A copy is the same content: SEARCH EMAILID finds it.
        self.assertEqual(r.cmd("x", "SEARCH EMAILID %s" % before[1][0].decode()),
                         b"* SEARCH 1\r\nx OK SEARCH completed\r\n")

    def test_a_new_append_of_the_same_bytes_is_another_email(self):
        r = self.session()
        append(r, "a", "INBOX", self.PARENT)
        append(r, "b", "INBOX", self.PARENT)
        r.cmd("s", "SELECT INBOX")
        ids = self.ids(r)
        # 5.1 allows the same EMAILID here (MAY); posthorn stores each
        # APPEND apart. The Message-ID makes them one thread.
        self.assertNotEqual(ids[1][0], ids[2][0])
        self.assertEqual(ids[1][1], ids[2][1])

    def test_threads_join_in_any_order_and_never_change(self):
        r = self.session()
        # A reply first: its parent, stored after, joins its thread.
        append(r, "a", "INBOX", self.REPLY)
        append(r, "b", "INBOX", self.PARENT)
        append(r, "c", "INBOX", self.OTHER)
        r.cmd("s", "SELECT INBOX")
        ids = self.ids(r)
        self.assertEqual(ids[1][1], ids[2][1])
        # A message that refers to both threads joins the first it names
        # (the root of its References); 5.2: "MUST NOT change the THREADID
        # of a message once reported", so the threads stay apart.
        append(r, "d", "INBOX", message(["Subject: both", "Message-ID: <d@x>",
                                         "References: <c@example.com> <a@example.com>"]))
        r.cmd("n", "NOOP")
        after = self.ids(r)
        self.assertEqual(after[4][1], ids[3][1])
        self.assertEqual({k: after[k] for k in ids}, ids)
        # In-Reply-To alone threads too (RFC 5256 REFERENCES' rule).
        append(r, "e", "INBOX", message(["Subject: r", "In-Reply-To: <d@x>"]))
        r.cmd("n", "NOOP")
        self.assertEqual(self.ids(r, "5")[5][1], ids[3][1])

    def test_other_mailboxes_share_threads_of_the_account(self):
        r = self.session()
        r.cmd("c", "CREATE Sent")
        append(r, "a", "INBOX", self.PARENT)
        append(r, "b", "Sent", self.REPLY)
        r.cmd("s", "SELECT INBOX")
        t = self.ids(r)[1][1]
        r.cmd("s", "SELECT Sent")
        # 5.2: "SHOULD return the same THREADID for related messages, even
        # if they are in different mailboxes".
        self.assertEqual(self.ids(r)[1][1], t)

    def test_ids_survive_a_restart(self):
        r = self.session()
        r.cmd("c", "CREATE Keep")
        append(r, "a", "Keep", self.PARENT)
        mid = self.mailboxid(r, "Keep")
        r.cmd("s", "SELECT Keep")
        ids = self.ids(r)
        r.close()
        self.server.stop()
        self.server = self.start(self.conf)
        r = self.session()
        self.assertEqual(self.mailboxid(r, "Keep"), mid)
        r.cmd("s", "SELECT Keep")
        self.assertEqual(self.ids(r), ids)

    def test_fetch_items_without_a_mailbox_or_with_garbage(self):
        r = self.session()
        append(r, "a", "INBOX", self.PARENT)
        r.cmd("s", "SELECT INBOX")
        out = r.cmd("f", "UID FETCH 1 (EMAILID)")
        self.assertRegex(out, rb"^\* 1 FETCH \(EMAILID \(%s\) UID 1\)\r\nf OK FETCH completed\r\n$" % EMAILID)
        self.assertEqual(r.cmd("b", "FETCH 1 (EMAILID (x))"),
                         b"b BAD Invalid FETCH item: a list or string is no FETCH item\r\n")


class PreviewTest(ObjectIdBase):
    def preview(self, r, msg, item="PREVIEW"):
        append(r, "a", "INBOX", msg)
        r.cmd("s", "SELECT INBOX")
        out = r.cmd("f", "FETCH * (%s)" % item)
        self.assertTrue(out.endswith(b"f OK FETCH completed\r\n"), out)
        return out[:-len(b"f OK FETCH completed\r\n")]

    def test_plain_text_white_space_collapsed(self):
        r = self.session()
        out = self.preview(r, message(["Subject: x"], b"  Hello\tBob,\r\n\r\n  see you\r\n"))
        # RFC 8970 3.3: "whatever processing might be useful in rendering
        # the preview as plain text".
        self.assertEqual(out, b'* 1 FETCH (PREVIEW "Hello Bob, see you")\r\n')

    def test_html_markup_removed_and_plain_alternative_preferred(self):
        r = self.session()
        html = message(["Content-Type: text/html"],
                       b"<html><head><title>T</title><style>p{}</style></head><body>"
                       b"<p>Caf&eacute; &amp; <b>bar</b><!-- c -->&#33;</p><p>next</p></body></html>\r\n")
        text = "Café & bar! next".encode()
        self.assertEqual(self.preview(r, html), b"* 1 FETCH (PREVIEW {%d}\r\n%s)\r\n" % (len(text), text))
        alt = message(["Content-Type: multipart/alternative; boundary=b"],
                      b"--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
                      b"--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b--\r\n")
        self.assertEqual(self.preview(r, alt), b'* 2 FETCH (PREVIEW "plain")\r\n')

    def test_charset_and_transfer_encoding_decoded_to_utf8(self):
        r = self.session()
        msg = message(["Content-Type: text/plain; charset=iso-8859-1",
                       "Content-Transfer-Encoding: base64"],
                      base64.b64encode("Grüße aus Köln".encode("latin-1")) + b"\r\n")
        # 3.3: "MUST NOT be content transfer encoded and MUST be encoded in
        # UTF-8": a literal, its bytes UTF-8.
        self.assertEqual(self.preview(r, msg), "* 1 FETCH (PREVIEW {17}\r\nGrüße aus Köln)\r\n".encode())

    def test_cut_at_200_characters_never_inside_one(self):
        r = self.session()
        body = ("é" * 300).encode()
        msg = message(["Content-Type: text/plain; charset=utf-8"], body + b"\r\n")
        # 3.3: "SHOULD limit the length of the preview text to 200 preview
        # characters".
        self.assertEqual(self.preview(r, msg), b"* 1 FETCH (PREVIEW {400}\r\n" + ("é" * 200).encode() + b")\r\n")

    def test_no_text_gives_the_empty_string_and_lazy_the_same(self):
        r = self.session()
        msg = message(["Content-Type: image/png", "Content-Transfer-Encoding: base64"], b"iVBORw0KGgo=\r\n")
        # 3.2: "In such cases, the server MUST return a zero-length string."
        self.assertEqual(self.preview(r, msg), b'* 1 FETCH (PREVIEW "")\r\n')
        # 4.1: previews are made at APPEND, so LAZY has them too.
        self.assertEqual(r.cmd("f", "FETCH 1 (UID PREVIEW (LAZY))"),
                         b'* 1 FETCH (UID 1 PREVIEW "")\r\nf OK FETCH completed\r\n')
        self.assertEqual(r.cmd("f", "FETCH 1 (PREVIEW (lazy) UID)"),
                         b'* 1 FETCH (PREVIEW "" UID 1)\r\nf OK FETCH completed\r\n')
        for bad in ("(PREVIEW (FAST))", "(PREVIEW ())", "(PREVIEW (LAZY x))"):
            self.assertEqual(r.cmd("b", "FETCH 1 " + bad),
                             b"b BAD Invalid FETCH item PREVIEW: its modifiers are (LAZY)\r\n", bad)

    def test_the_message_own_text_before_what_it_carries(self):
        r = self.session()
        msg = message(["Content-Type: multipart/mixed; boundary=b"],
                      b"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner text\r\n"
                      b"--b\r\nContent-Type: text/plain\r\n\r\nouter\r\n--b--\r\n")
        self.assertEqual(self.preview(r, msg), b'* 1 FETCH (PREVIEW "outer")\r\n')
        # A message that only carries another (a forward, a bounce) shows
        # that one's text; an empty part gives way to the next.
        fwd = message(["Content-Type: multipart/mixed; boundary=b"],
                      b"--b\r\nContent-Type: text/plain\r\n\r\n\r\n"
                      b"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner <b>text</b>\r\n--b--\r\n")
        self.assertEqual(self.preview(r, fwd), b'* 2 FETCH (PREVIEW "inner <b>text</b>")\r\n')


if __name__ == "__main__":
    import phtest
    phtest.main()
