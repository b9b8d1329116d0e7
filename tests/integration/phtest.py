# SPDX-License-Identifier: MIT
"""Helpers for integration tests: run the real posthorn binary with a
generated config, wait for it to start, and talk to it over sockets."""
import os
import shutil
import signal
import socket
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sanitized():
    """True when the build tree was configured with -fsanitize (gcc links
    libasan as a shared library, clang links its runtime in statically, so
    the build's Makefile is what tells)."""
    import re
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


class Server:
    """A `posthorn run` process; its log lines are collected from stderr."""

    def __init__(self, config_path):
        self.config = config_path
        self.log_path = config_path + ".log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([POSTHORN, "run", "--config", config_path],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env())
        try:
            self.wait_log("server started")
        except BaseException:
            self.stop()  # not left running when it started too late
            raise

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, text, count=1, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.log_text().count(text) >= count:
                return
            if self.proc.poll() is not None:
                raise AssertionError("posthorn exited (%s):\n%s" % (self.proc.returncode, self.log_text()))
            time.sleep(0.05)
        raise AssertionError("no %r in the log after %ss:\n%s" % (text, timeout, self.log_text()))

    def signal(self, sig):
        self.proc.send_signal(sig)

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
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, config_path):
        s = Server(config_path)
        self.servers.append(s)
        return s


def main():
    """unittest.main with a closing line the CI reads: N passed, N failed."""
    import sys
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print("%d passed, %d failed, %d skipped" % (passed, failed, len(result.skipped)))
    sys.exit(0 if failed == 0 else 1)
