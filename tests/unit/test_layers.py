#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""libposthorn's layers point one way (core/lib/local.mk, docs/design.md):
every symbol an object of core/lib/GROUP/ uses from another object of the
library is defined in a group GROUP may use. Read from the built objects
with nm, so a call that reaches up (say net's TLS asking the module graph
for the hostname) fails here with the file and the symbol."""
import glob
import os
import subprocess
import sys

# What each folder may use besides itself; the order is the build's.
ALLOWED = {
    "base": set(),
    "sql": {"base"},
    "config": {"base"},
    "normalize": {"base"},
    "mail": {"base"},
    "net": {"config", "base"},
    "imap": {"mail", "base"},
    "module": {"net", "normalize", "config", "base"},
    "storage": {"module", "imap", "mail", "net", "normalize", "config", "base"},
    "sqlstore": {"storage", "sql", "module", "imap", "mail", "net", "normalize",
                 "config", "base"},
}


def objects(lib):
    found = {}
    for group in ALLOWED:
        objs = glob.glob(os.path.join(lib, group, ".libs", "*.o")) or \
            glob.glob(os.path.join(lib, group, "*.o"))
        for o in objs:
            found[o] = group
    return found


def main():
    lib = os.path.join(os.environ.get("top_builddir", "."), "core", "lib")
    objs = objects(lib)
    folders = {d for d in os.listdir(os.path.join(os.environ.get("top_srcdir", "."), "core", "lib"))
               if os.path.isdir(os.path.join(os.environ.get("top_srcdir", "."), "core", "lib", d))}
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        print("%s: %s" % ("ok" if ok else "FAIL", what))
        if ok:
            passed += 1
        else:
            failed += 1

    odd = sorted(folders ^ set(ALLOWED))
    check(not odd, "the folders of core/lib are the layers this test knows" +
          (" (not: %s)" % ", ".join(odd) if odd else ""))
    check(set(objs.values()) == set(ALLOWED), "every layer has objects in the build")
    defined, used = {}, {}
    for o, group in objs.items():
        for line in subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in "TDBRVW":
                defined[f[2]] = (group, os.path.basename(o))
            elif len(f) == 2 and f[0] == "U":
                used.setdefault(o, set()).add(f[1])
    bad = []
    for o, syms in sorted(used.items()):
        group = objs[o]
        for s in sorted(syms):
            if s in defined and defined[s][0] != group and defined[s][0] not in ALLOWED[group]:
                bad.append("%s (%s) uses %s from %s (%s)" % (
                    os.path.basename(o), group, s, defined[s][1], defined[s][0]))
    check(not bad, "no layer uses one it may not" + "".join("\n  " + b for b in bad))
    check(len(defined) > 200, "symbols read from the objects (%d)" % len(defined))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
