# SPDX-License-Identifier: MIT
"""Helpers for integration tests: run the real posthorn binary with a
generated config, wait for it to start, and talk to it over sockets.

Ports: a test never picks a port itself. A port found free and closed
again can be taken by another test (`make -j check`) before posthorn binds
it. Write port 0 in the config and let the kernel choose; the server logs
`event=listening addr=tcp://127.0.0.1:40123 listen=tcp://127.0.0.1:0` for
each listener, and Server reads it back:

    conf = self.write("posthorn.conf", "... imap tcp://127.0.0.1:0 tls://127.0.0.1:0 {...")
    self.server = self.start(conf)
    self.port = self.server.port               # the first TCP/TLS listener
    tls_port = self.server.port_for("tls")     # the first tls:// one
    self.server.ports                          # all, in the order written

(A test written with the old free_port(): replace the port in the config
with 0 and read self.port from the server after start().) A reload with the
same address text keeps the socket and so the port; a server started again
gets a new one, so read it again after each start (a class that starts
its server more than once overrides start() to set self.port, as
test_faults.py does; test_imap's ImapTest has port as a property of
self.server, so its subclasses only set self.server).

Waiting: tests wait for events (a line on the wire, a log line through
wait_log()), never for a fixed time; a timeout is only a guard against a
hang. Where the server shows nothing to wait for, it should log an event
(at debug level with `debug yes` if need be)."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

BUILD = os.environ.get("top_builddir", os.getcwd())
SRC = os.environ.get("top_srcdir", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
POSTHORN = os.path.join(BUILD, "core", "posthorn", "posthorn")
MODULE_PATH = os.environ.get(
    "POSTHORN_MODULE_PATH",
    os.path.join(BUILD, "modules", ".libs") + ":" + os.path.join(BUILD, "tests", "modules", ".libs"))


def _sanitized():
    """True when the build tree was configured with -fsanitize (gcc links
    libasan as a shared library, clang links its runtime in statically, so
    the build's Makefile is what tells)."""
    try:
        with open(os.path.join(BUILD, "Makefile")) as f:
            return any(re.match(r"^(CFLAGS|LDFLAGS|CC) = .*-fsanitize", line) for line in f)
    except OSError:
        return False


SANITIZED = _sanitized()


def env():
    e = dict(os.environ)
    e["POSTHORN_MODULE_PATH"] = MODULE_PATH
    return e


def posthorn(*args, input=None, config=None, timeout=60):
    """Runs `posthorn ARGS` and returns (exit code, stdout, stderr)."""
    cmd = [POSTHORN] + list(args)
    if config is not None:
        cmd[2:2] = ["--config", config]
    p = subprocess.run(cmd, input=input, capture_output=True, env=env(), timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


_LISTENING = re.compile(r"event=(listening|listener_closed) addr=(\w+)://(?:\[([^\]]*)\]|([^:\s]*)):(\d+)")


_SANITIZER_REPORT = re.compile(
    r"^(==\d+==)?(WARNING: ThreadSanitizer:|ERROR: (Address|Leak)Sanitizer:)"
    r"|^\S+:\d+:\d+: runtime error: ", re.M)


def listeners_in(log):
    """[(scheme, host, port)] of the TCP and TLS listeners a log says are
    open, in the order they were bound (the order written in the config)."""
    out = []
    for m in _LISTENING.finditer(log):
        entry = (m.group(2), m.group(3) if m.group(3) is not None else m.group(4), int(m.group(5)))
        if m.group(1) == "listening":
            out.append(entry)
        elif entry in out:
            out.remove(entry)
    return out


class Server:
    """A `posthorn run` process; its log lines are collected from stderr."""

    def __init__(self, config_path, environ=None):
        self.config = config_path
        self.log_path = config_path + ".log"
        self._counts = {}  # text -> [offset read, count, tail kept]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([POSTHORN, "run", "--config", config_path],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=environ or env())
        try:
            self.wait_log("server started")
        except BaseException:
            self.stop()  # not left running when it started too late
            raise

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    @property
    def listeners(self):
        return listeners_in(self.log_text())

    @property
    def ports(self):
        """The ports of the TCP and TLS listeners, in the order written."""
        return [port for _, _, port in self.listeners]

    @property
    def port(self):
        """The port of the first TCP or TLS listener."""
        ports = self.ports
        if not ports:
            raise AssertionError("no event=listening in the log:\n" + self.log_text())
        return ports[0]

    def port_for(self, scheme):
        """The port of the first listener with this scheme ("tcp", "tls")."""
        for s, _, port in self.listeners:
            if s == scheme:
                return port
        raise AssertionError("no %s:// listener in the log:\n%s" % (scheme, self.log_text()))

    def sanitizer_reports(self):
        """What a sanitizer of scripts/check's builds wrote to the log, from
        the first report on. A ThreadSanitizer report or a leak found at
        exit does not stop the server, so tests look."""
        text = self.log_text()
        m = _SANITIZER_REPORT.search(text)
        return text[m.start():] if m else ""

    def count_log(self, text):
        """How often text is in the log. Reads only what was added since the
        last call for the same text: a test that polls a log of megabytes
        (io_debug, debug) stays linear."""
        t = text.encode()
        st = self._counts.setdefault(text, [0, 0, b""])
        with open(self.log_path, "rb") as f:
            f.seek(st[0])
            new = f.read()
        data = st[2] + new
        st[0] += len(new)
        st[1] += data.count(t)
        # What may begin an occurrence that the next read completes.
        st[2] = data[max(0, len(data) - len(t) + 1):] if len(t) > 1 else b""
        return st[1]

    def wait_log(self, text, count=1, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count_log(text) >= count:
                return
            if self.proc.poll() is not None:
                raise AssertionError("posthorn exited (%s):\n%s" % (self.proc.returncode, self.log_text()))
            time.sleep(0.01)
        raise AssertionError("no %r in the log after %ss:\n%s" % (text, timeout, self.log_text()))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self, old=None, new=None):
        """Replaces old by new in the config file (when given), sends SIGHUP
        and waits until the server says it reloaded."""
        if old is not None:
            with open(self.config) as f:
                text = f.read()
            assert old in text, old
            with open(self.config, "w") as f:
                f.write(text.replace(old, new))
        done = self.log_text().count("event=reloaded")
        self.signal(signal.SIGHUP)
        self.wait_log("event=reloaded", count=done + 1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ph-it-")
        self.servers = []

    def tearDown(self):
        reports = ""
        for s in self.servers:
            s.stop()
            reports += s.sanitizer_reports()
        shutil.rmtree(self.dir, ignore_errors=True)
        if reports:
            self.fail("the server's log has a sanitizer report:\n" + reports)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, config_path):
        s = Server(config_path)
        self.servers.append(s)
        return s


def make_cert(directory, cn):
    """A self-signed P-256 certificate for CN in directory/cert.pem and
    key.pem, each renamed into place whole (a reload never reads half)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key + ".new",
                        "-out", cert + ".new", "-days", "2", "-subj", "/CN=" + cn],
                       capture_output=True)
    if p.returncode != 0:
        raise AssertionError(p.stderr.decode(errors="replace"))
    os.rename(key + ".new", key)
    os.rename(cert + ".new", cert)
    return cert, key


def main():
    """unittest.main with a closing line the CI reads: N passed, N failed."""
    import sys
    main_module = sys.modules["__main__"]
    loader = unittest.defaultTestLoader
    # python3 test_imap.py [Class[.test] ...]: those only.
    suite = (loader.loadTestsFromNames(sys.argv[1:], main_module) if sys.argv[1:]
             else loader.loadTestsFromModule(main_module))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print("%d passed, %d failed, %d skipped" % (passed, failed, len(result.skipped)))
    sys.exit(0 if failed == 0 else 1)
