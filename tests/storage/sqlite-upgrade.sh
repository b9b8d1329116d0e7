#!/bin/sh
# SPDX-License-Identifier: MIT
# storage.sqlite upgrades a database of an older schema (test_sqlite_upgrade).
set -eu
: "${top_builddir:=.}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ph-sqlite-upgrade.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
"$top_builddir/tests/storage/test_sqlite_upgrade" "$tmp"
