# SPDX-License-Identifier: MIT
"""auth.ldap and table.ldap through the real binary against a real slapd
(OpenLDAP) started by the test on loopback in a temporary directory: the
DN from a template or found by a search, the service bind, escaping of
hostile usernames (RFC 4515 filters, RFC 4514 DNs), the empty password
(RFC 4513 5.1.2), several logins at once on the pool, a directory that
goes away and comes back, and table.ldap through `posthorn table`."""
import imaplib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import phtest

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=org"
ADMIN = "cn=admin," + SUFFIX
ADMIN_PW = "admin-secret"
PASSWORD = "ldap s3cret-pw"

slapd = None  # the module's directory server


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Slapd:
    """A throwaway slapd: slapd.conf in a temp dir, an mdb database, a few
    people, passwords stored as slappasswd makes them ({SSHA})."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ph-slapd-")
        os.makedirs(os.path.join(self.dir, "db"))
        self.port = free_port()
        self.url = "ldap://127.0.0.1:%d" % self.port
        with open(os.path.join(self.dir, "slapd.conf"), "w") as f:
            f.write("""
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile %(d)s/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix "%(s)s"
rootdn "%(a)s"
rootpw %(pw)s
directory %(d)s/db
access to attrs=userPassword by anonymous auth by self read by * none
access to dn.subtree="ou=other,%(s)s" by anonymous none by * read
access to * by * read
""" % {"d": self.dir, "s": SUFFIX, "a": ADMIN, "pw": ADMIN_PW})
        self.start()
        ssha = subprocess.run(["slappasswd", "-s", PASSWORD], capture_output=True, text=True,
                              check=True, timeout=60).stdout.strip()
        people = ["alice", "bob", "twin", "twin"]
        ldif = ["dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n" % SUFFIX,
                "dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n" % SUFFIX,
                "dn: ou=other,%s\nobjectClass: organizationalUnit\nou: other\n" % SUFFIX]
        for i, uid in enumerate(people):
            ou = "people" if i < 3 else "other"  # a second "twin": ambiguous
            ldif.append("dn: uid=%s,ou=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\n"
                        "sn: %s\nuserPassword: %s\n" % (uid, ou, SUFFIX, uid, uid, uid, ssha))
        # A DN that needs escaping in a template: cn=a\,b (RFC 4514).
        ldif.append("dn: uid=a\\,b,ou=people,%s\nobjectClass: inetOrgPerson\nuid: a,b\ncn: ab\n"
                    "sn: ab\nuserPassword: %s\n" % (SUFFIX, ssha))
        subprocess.run(["ldapadd", "-x", "-H", self.url, "-D", ADMIN, "-w", ADMIN_PW],
                       input="\n".join(ldif), text=True, check=True, capture_output=True, timeout=60)

    def start(self):
        subprocess.run([SLAPD, "-f", os.path.join(self.dir, "slapd.conf"), "-h", self.url + "/"],
                       check=True, capture_output=True, timeout=60)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("slapd did not start")

    def stop(self):
        pidfile = os.path.join(self.dir, "slapd.pid")
        try:
            with open(pidfile) as f:
                pid = int(f.read())
        except OSError:
            return
        os.kill(pid, 15)
        for _ in range(300):
            try:
                os.kill(pid, 0)
                time.sleep(0.1)
            except OSError:
                return

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def setUpModule():
    global slapd
    if not os.access(SLAPD, os.X_OK) or shutil.which("ldapadd") is None:
        raise unittest.SkipTest("slapd or ldapadd not installed (apt-get install slapd ldap-utils)")
    slapd = Slapd()


def tearDownModule():
    if slapd:
        slapd.remove()


class LdapBase(phtest.TempDirTest):
    block = ""

    def setUp(self):
        super().setUp()
        os.makedirs(os.path.join(self.dir, "state"))
        self.conf = self.write("posthorn.conf", """
state_dir %(d)s/state
%(block)s
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    auth &dir
    storage &local_mailboxes
    auth_fail_delay 0ms
}
""" % {"d": self.dir, "block": self.block % {"url": slapd.url, "suffix": SUFFIX,
                                              "admin": ADMIN, "pw": ADMIN_PW}})
        self.server = self.start(self.conf)

    def client(self):
        c = imaplib.IMAP4("127.0.0.1", self.server.port, timeout=60)
        self.addCleanup(c.sock.close)
        return c

    def login(self, user, password):
        # imaplib sends the user name as it is: quote it.
        user = user.replace("\\", "\\\\").replace('"', '\\"')
        return self.client().login('"%s"' % user, password)[0]

    def login_fails(self, user, password, code="AUTHENTICATIONFAILED"):
        with self.assertRaisesRegex(imaplib.IMAP4.error, code):
            self.login(user, password)


class TemplateTest(LdapBase):
    """dn_template: no search, the user's DN from the name."""
    block = """auth.ldap dir {
    urls %(url)s
    dn_template "uid={username},ou=people,%(suffix)s"
}"""

    def test_right_and_wrong_password(self):
        self.assertEqual(self.login("alice", PASSWORD), "OK")
        self.login_fails("alice", PASSWORD + "x")
        self.login_fails("nobody", PASSWORD)

    def test_dn_is_escaped(self):
        # RFC 4514: "a,b" becomes uid=a\2cb: the entry whose uid is "a,b".
        self.assertEqual(self.login("a,b", PASSWORD), "OK")
        # Not a way to another DN: "alice,ou=people" is one escaped value.
        self.login_fails("alice,ou=people", PASSWORD)

    def test_empty_password_is_refused(self):
        # RFC 4513 5.1.2: a simple bind with a DN and no password is an
        # unauthenticated bind, which the server accepts.
        self.login_fails("alice", "")
        self.assertNotIn("event=login result=ok", self.server.log_text())

    def test_password_never_logged(self):
        self.login("alice", PASSWORD)
        self.login_fails("alice", PASSWORD + "-wrong")
        self.assertNotIn("s3cret", self.server.log_text())

    def test_concurrent_logins(self):
        results = []

        def one(i):
            try:
                results.append(self.login("alice" if i % 2 else "bob",
                                          PASSWORD if i % 3 else "bad"))
            except imaplib.IMAP4.error:
                results.append("NO")
        threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(sorted(results), ["NO"] * 4 + ["OK"] * 8)


class SearchTest(LdapBase):
    """base_dn + filter with a service bind: the DN found by a search."""
    block = """auth.ldap dir {
    urls %(url)s
    bind plain "%(admin)s" "%(pw)s"
    base_dn "%(suffix)s"
    filter "(&(objectClass=inetOrgPerson)(uid={username}))"
}"""

    def test_found_and_bound(self):
        self.assertEqual(self.login("alice", PASSWORD), "OK")
        # After a user's bind the connection binds as the service again.
        self.assertEqual(self.login("bob", PASSWORD), "OK")
        self.login_fails("bob", "nope")

    def test_filter_is_escaped(self):
        # RFC 4515: '*' and parentheses are escaped, so a wildcard or a
        # filter of the client's own matches nothing.
        for user in ("*", "al*", "*)(uid=*", "alice)(|(uid=*"):
            with self.subTest(user=user):
                self.login_fails(user, PASSWORD)

    def test_ambiguous_name_is_refused(self):
        self.login_fails("twin", PASSWORD)
        self.server.wait_log("the filter matches several entries")

    def test_directory_down_is_unavailable(self):
        self.assertEqual(self.login("alice", PASSWORD), "OK")  # a pooled connection
        slapd.stop()
        try:
            self.login_fails("alice", PASSWORD, "UNAVAILABLE")
        finally:
            slapd.start()
        # The pool reconnects.
        self.assertEqual(self.login("alice", PASSWORD), "OK")


class AnonymousSearchTest(LdapBase):
    """bind off: the search is anonymous, also on a pooled connection a
    user has just bound on. Anonymous sees one "twin" (ou=other is hidden
    from it by the directory's ACL); a logged-in user would see two."""
    block = """auth.ldap dir {
    urls %(url)s
    base_dn "%(suffix)s"
    filter "(&(objectClass=inetOrgPerson)(uid={username}))"
}"""

    def test_search_after_a_user_bind_is_anonymous(self):
        self.assertEqual(self.login("twin", PASSWORD), "OK")
        self.assertEqual(self.login("alice", PASSWORD), "OK")
        # The same connection from the pool, rebound anonymously.
        self.assertEqual(self.login("twin", PASSWORD), "OK")


class TableTest(phtest.TempDirTest):
    def test_table_lookup(self):
        conf = self.write("posthorn.conf", """state_dir %(d)s
table.ldap dir {
    urls %(url)s
    bind plain "%(admin)s" "%(pw)s"
    base_dn "%(suffix)s"
    filter "(uid={username})"
}
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    auth pass_table static { }
    auth_map &dir
    storage &local_mailboxes
}
""" % {"d": self.dir, "url": slapd.url, "suffix": SUFFIX, "admin": ADMIN, "pw": ADMIN_PW})
        for key, code, out in [("alice", 0, "alice"), ("nobody", 3, ""), ("*", 3, ""),
                               ("twin", 3, "")]:
            with self.subTest(key=key):
                rc, stdout, err = phtest.posthorn("table", "lookup", "--cfg-block", "dir", key,
                                                  config=conf)
                self.assertEqual((rc, stdout.strip()), (code, out), err)


class ConfigTest(phtest.TempDirTest):
    def test_unreachable_directory_is_a_warning(self):
        # The operations issue: check-config says an address cannot be
        # reached, and the config is still valid (the directory may come
        # back; logins answer [UNAVAILABLE] meanwhile).
        path = self.write("posthorn.conf", """state_dir %s
auth.ldap dir {
    urls ldap://127.0.0.1:%d
    dn_template "uid={username},ou=people,dc=example,dc=org"
}
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    auth &dir
    storage &local_mailboxes
}
""" % (self.dir, free_port()))
        code, out, err = phtest.posthorn("check-config", config=path)
        self.assertEqual(code, 0, out + err)
        self.assertIn("level=warn mod=auth.ldap instance=dir event=unreachable", err)

    def test_bad_configs_are_refused(self):
        for block, message in [
                ("auth.ldap dir {\n urls ldap://127.0.0.1:1\n}", "dn_template, or base_dn"),
                ("auth.ldap dir {\n urls http://x\n dn_template \"uid={username}\"\n}", "urls"),
                ("auth.ldap dir {\n urls ldap://x\n dn_template \"uid=x\"\n}", "{username}"),
                ("auth.ldap dir {\n urls ldap://x\n bind plain onlydn\n dn_template \"uid={username}\"\n}",
                 "bind"),
        ]:
            with self.subTest(block=block):
                path = self.write("posthorn.conf", """state_dir %s
%s
storage.sqlite local_mailboxes { }
imap tcp://127.0.0.1:0 {
    auth &dir
    storage &local_mailboxes
}
""" % (self.dir, block))
                code, out, err = phtest.posthorn("check-config", config=path)
                self.assertNotEqual(code, 0, out + err)
                self.assertIn(message, out + err)


if __name__ == "__main__":
    phtest.main()
