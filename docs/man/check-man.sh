#!/bin/sh
# SPDX-License-Identifier: MIT
# Renders the built man pages with man-db and fails on any troff warning.
# Exit 77 (skip) when man(1) is not man-db.
b=${top_builddir:-.}
if ! man --version 2>/dev/null | grep -q '^man'; then
    echo "man-db not installed: skipped"
    exit 77
fi
fail=0
for page in "$b/docs/man/posthorn.1" "$b/docs/man/posthorn.conf.5"; do
    err=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
        man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
    if [ -n "$err" ]; then
        echo "FAIL: $page"
        echo "$err"
        fail=1
    else
        echo "ok: $page"
    fi
done
exit $fail
