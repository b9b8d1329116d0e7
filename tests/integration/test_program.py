# SPDX-License-Identifier: MIT
"""The posthorn program: check-config, modules, version, help, run with
SIGHUP reload and SIGTERM stop, through the real binary."""
import os
import signal
import socket
import time

import phtest


def ask(path, line, sock=None):
    """Sends one line to a tablequery endpoint and reads the answer."""
    own = sock is None
    if own:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(30)
        sock.connect(path)
    sock.sendall(line.encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    if own:
        sock.close()
    return data.decode().rstrip("\n")


class ProgramTest(phtest.TempDirTest):
    def conf(self, body):
        return self.write("posthorn.conf", "state_dir %s/state\n%s" % (self.dir, body))

    def test_version_prints_abi(self):
        rc, out, _ = phtest.posthorn("version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^posthorn \S+ \(module ABI \d+\.\d+\)\n$")

    def test_help_per_subcommand(self):
        for cmd in ("run", "check-config", "modules", "version"):
            rc, out, _ = phtest.posthorn(cmd, "--help")
            self.assertEqual(rc, 0, cmd)
            self.assertTrue(out.startswith("usage: posthorn " + cmd), out)
        rc, out, _ = phtest.posthorn("--help")
        self.assertEqual(rc, 0)
        self.assertIn("check-config", out)

    def test_unknown_command(self):
        rc, _, err = phtest.posthorn("frobnicate")
        self.assertEqual(rc, 2)
        self.assertIn('unknown command "frobnicate"', err)

    def test_modules_lists_table_modules(self):
        rc, out, _ = phtest.posthorn("modules", config=self.conf(""))
        self.assertEqual(rc, 0)
        for name in ("table.identity", "table.email_localpart", "table.email_localpart_optional",
                     "table.email_with_domain", "table.static", "table.file", "table.regexp",
                     "table.chain"):
            self.assertRegex(out, r"(?m)^%s +table +\d+\.\d+ +/\S+\.so$" % name.replace(".", r"\."))

    def every_construct(self):
        """A config using every construct of the language, with every table
        module; returns its path."""
        self.write("users.txt", "alice: alice@example.org\n# a comment\nbob: b1, b2\n")
        self.write("extra.conf", "table.identity ident_from_import { }\n")
        os.environ["PH_TEST_TAG"] = "from env"
        return self.conf("""
$(domains) = example.org example.com
$(qsock) = unix://%(dir)s/q.sock
hostname mx.example.org
debug yes
log stderr
auth_map_normalize auto
tls off
runtime_dir run
(common) {
    tag "{env:PH_TEST_TAG}"
}
import extra
table.static users users_alias {
    entry alice alice@example.org
    entry "quoted key" "value with # and spaces"
}
table.file passwd {
    file %(dir)s/users.txt
}
table.regexp rx {
    regexp "(.+)@example\\\\.(org|com)" "$1"
    full_match yes
    case_insensitive yes
}
table.chain names {
    step &users_alias
    step &rx
    optional_step email_localpart
}
tablequery $(qsock) {
    import common
    table &names
}
tablequery unix://%(dir)s/q2.sock {
    table email_with_domain $(domains)
    debug no
}
tablequery unix://%(dir)s/q3.sock {
    table chain {
        step &passwd
        optional_step static { entry x y }
        step email_localpart_optional
        step &ident_from_import
    }
}
tablequery unix://%(dir)s/q4.sock \\
    unix://%(dir)s/q5.sock {
    table identity
}
""" % {"dir": self.dir})

    def test_check_config_every_construct_ok(self):
        rc, out, err = phtest.posthorn("check-config", config=self.every_construct())
        self.assertEqual((rc, out), (0, "ok\n"), err)

    def test_every_construct_serves(self):
        srv = self.start(self.every_construct())
        q = os.path.join(self.dir, "q.sock")
        self.assertEqual(ask(q, "alice"), "FOUND alice")
        self.assertEqual(ask(q, "GRAPH"), "GRAPH from env")
        self.assertEqual(ask(q, "DEBUG"), "DEBUG yes")  # the global, inherited
        self.assertEqual(ask(os.path.join(self.dir, "q2.sock"), "DEBUG"), "DEBUG no")
        self.assertEqual(ask(os.path.join(self.dir, "q2.sock"), "bob"),
                         "FOUND bob@example.org bob@example.com")
        self.assertEqual(ask(os.path.join(self.dir, "q3.sock"), "bob"), "FOUND b1 b2")
        self.assertEqual(ask(os.path.join(self.dir, "q5.sock"), "z"), "FOUND z")
        self.assertTrue(os.path.isdir(os.path.join(self.dir, "state", "run")))

    def test_shipped_config_checks_ok(self):
        shipped = os.path.join(phtest.SRC, "conf", "posthorn.conf")
        path = self.conf("import %s\n" % shipped)
        rc, out, err = phtest.posthorn("check-config", config=path)
        self.assertEqual((rc, out), (0, "ok\n"), err)

    def test_check_config_reports_file_line(self):
        path = self.conf("tablequery unix://%s/q.sock {\n    table identity\n    tsl on\n}\n" % self.dir)
        rc, out, err = phtest.posthorn("check-config", config=path)
        self.assertEqual(rc, 1)
        self.assertEqual(err, '%s:4: unknown directive "tsl" in tablequery block\n' % path)

    def test_check_config_wrong_abi_module(self):
        bad = os.path.join(phtest.BUILD, "tests", "modules", "bad", ".libs")
        path = self.conf("module_dir %s\ntable.abi t { }\ntablequery unix://%s/q.sock { table &t }\n"
                         % (bad, self.dir))
        rc, _, err = phtest.posthorn("check-config", config=path)
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"^%s:3: module table\.abi: table_abi\.so was built for module ABI (\d+); "
                              r"this posthorn has ABI \d+: rebuild it against posthorn-dev\n$" % path)

    def test_run_serves_reloads_and_stops(self):
        sock = os.path.join(self.dir, "q.sock")
        path = self.conf("table.static t { entry k one }\n"
                         "tablequery unix://%s {\n table &t\n tag g1\n}\n" % sock)
        srv = self.start(path)
        self.assertEqual(ask(sock, "k"), "FOUND one")
        held = socket.socket(socket.AF_UNIX)
        held.settimeout(30)
        held.connect(sock)
        self.assertEqual(ask(sock, "GRAPH", held), "GRAPH g1")

        # A changed config: new sessions see it, the held one keeps its graph.
        self.conf("table.static t { entry k two }\n"
                  "tablequery unix://%s {\n table &t\n tag g2\n}\n" % sock)
        srv.signal(signal.SIGHUP)
        srv.wait_log("configuration reloaded")
        self.assertEqual(ask(sock, "k"), "FOUND two")
        self.assertEqual(ask(sock, "GRAPH"), "GRAPH g2")
        self.assertEqual(ask(sock, "GRAPH", held), "GRAPH g1")
        self.assertEqual(ask(sock, "k", held), "FOUND one")

        # A broken config is logged and the running one stays.
        self.conf("table.static t { entry k three }\n"
                  "tablequery unix://%s {\n table &t\n tag g3\n bogus\n}\n" % sock)
        srv.signal(signal.SIGHUP)
        srv.wait_log("event=reload_failed")
        self.assertIn('unknown directive \\"bogus\\"', srv.log_text())
        self.assertEqual(ask(sock, "k"), "FOUND two")
        held.close()
        self.assertEqual(srv.stop(), 0)
        self.assertIn("server stopped", srv.log_text())

    def test_reload_keeps_tcp_listener(self):
        conf = "tablequery tcp://127.0.0.1:0 {\n table identity\n tag %s\n}\n"
        path = self.conf(conf % "a")
        srv = self.start(path)
        port = srv.port
        c = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.assertEqual(ask(None, "x", c), "FOUND x")
        self.conf(conf % "b")
        srv.signal(signal.SIGHUP)
        srv.wait_log("configuration reloaded")
        # The same socket is kept: no "listener_closed", and the session
        # that was open goes on.
        self.assertNotIn("event=listener_closed", srv.log_text())
        self.assertEqual(ask(None, "GRAPH", c), "GRAPH a")
        c.close()
        self.assertEqual(srv.port, port)
        c = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.assertEqual(ask(None, "GRAPH", c), "GRAPH b")
        c.close()

    def test_reload_unchanged_config_rereads_files(self):
        users = self.write("users.txt", "k: v1\n")
        sock = os.path.join(self.dir, "q.sock")
        path = self.conf("table.file t {\n file %s\n check_interval 1h\n}\n"
                         "tablequery unix://%s {\n table &t\n}\n" % (users, sock))
        srv = self.start(path)
        self.assertEqual(ask(sock, "k"), "FOUND v1")
        self.write("users.txt", "k: v2\n")
        # The table polls once an hour: only the SIGHUP makes it look.
        self.assertEqual(ask(sock, "k"), "FOUND v1")
        srv.signal(signal.SIGHUP)
        srv.wait_log("event=reloaded mode=in_place")
        self.assertEqual(ask(sock, "k"), "FOUND v2")
        self.assertNotIn("configuration reloaded", srv.log_text())

    def test_notify_socket_gets_ready(self):
        ns = os.path.join(self.dir, "notify.sock")
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(ns)
        rx.settimeout(20)
        os.environ["NOTIFY_SOCKET"] = ns
        try:
            path = self.conf("tablequery unix://%s/q.sock { table identity }\n" % self.dir)
            self.start(path)
        finally:
            del os.environ["NOTIFY_SOCKET"]
        self.assertEqual(rx.recv(100), b"READY=1")
        rx.close()


if __name__ == "__main__":
    phtest.main()
