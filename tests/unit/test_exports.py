#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""libposthorn exports what core/lib/libposthorn.map says: every symbol of
version POSTHORN_1 is declared by an installed header (the SDK), the
POSTHORN_PRIVATE ones are exactly the map's list (the program's, no ABI),
and nothing else leaves the library."""
import glob
import os
import re
import subprocess
import sys


def main():
    build = os.environ.get("top_builddir", ".")
    src = os.environ.get("top_srcdir", ".")
    lib = os.path.join(build, "core", "lib", ".libs", "libposthorn.so")
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        print("%s: %s" % ("ok" if ok else "FAIL", what))
        if ok:
            passed += 1
        else:
            failed += 1

    out = subprocess.run(["nm", "-D", "--defined-only", "--with-symbol-versions", lib],
                         capture_output=True, text=True, check=True).stdout
    by_version = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) != 3 or f[1] == "A":
            continue  # the version nodes themselves
        m = re.match(r"([^@]+)@@?(\S+)$", f[2])
        name, version = (m.group(1), m.group(2)) if m else (f[2], None)
        by_version.setdefault(version, set()).add(name)
    check(set(by_version) == {"POSTHORN_1", "POSTHORN_PRIVATE"},
          "every export is of version POSTHORN_1 or POSTHORN_PRIVATE (%s)"
          % ", ".join(sorted(str(v) for v in by_version)))

    headers = ""
    for h in glob.glob(os.path.join(src, "core", "include", "posthorn", "*.h")):
        with open(h) as f:
            headers += f.read()
    public = by_version.get("POSTHORN_1", set())
    undeclared = sorted(s for s in public if not re.search(r"\b%s\b" % re.escape(s), headers))
    check(len(public) > 200 and not undeclared,
          "the %d POSTHORN_1 symbols are declared by installed headers%s"
          % (len(public), (": not " + ", ".join(undeclared)) if undeclared else ""))

    with open(os.path.join(src, "core", "lib", "libposthorn.map")) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    node = re.search(r"POSTHORN_PRIVATE\s*\{\s*global:(.*?)local:", text, re.S).group(1)
    listed = {s.strip() for s in node.split(";") if s.strip()}
    private = by_version.get("POSTHORN_PRIVATE", set())
    check(private == listed and len(listed) > 0,
          "POSTHORN_PRIVATE is the map's list of %d%s" % (len(listed), "" if private == listed else
                                                          ": differs by " + ", ".join(sorted(private ^ listed))))
    leaked = sorted(s for s in private if re.search(r"\b%s\b" % re.escape(s), headers))
    check(not leaked, "no installed header declares a private symbol%s"
          % (": " + ", ".join(leaked) if leaked else ""))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
