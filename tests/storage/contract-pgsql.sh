#!/bin/sh
# SPDX-License-Identifier: MIT
# The storage contract suite against storage.pgsql. The database comes from
# PH_PGSQL_DSN when the caller has one (scripts/check starts a cluster);
# otherwise a throwaway cluster is started here with scripts/pg-cluster
# and stopped on exit. Accounts are named per test process, so a shared
# database needs no cleaning. The second instance (INSTANCE_limits) serves
# the tests of auto_create off, of the APPEND limit and of
# default_mailboxes none; INSTANCE_defaults, of default_mailboxes given.
set -eu
: "${top_builddir:=.}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ph-contract-pgsql.XXXXXX")
cluster=
cleanup() {
    if [ -n "$cluster" ]; then
        "$top_srcdir/scripts/pg-cluster" stop "$cluster" || true
        rm -rf "$cluster"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
dsn=${PH_PGSQL_DSN:-}
if [ -z "$dsn" ]; then
    if ! command -v initdb >/dev/null 2>&1 &&
        ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        echo "no PH_PGSQL_DSN and no PostgreSQL server to start: skipped" >&2
        exit 77
    fi
    cluster=$(mktemp -d "${TMPDIR:-/tmp}/ph-pg.XXXXXX")
    dsn=$("$top_srcdir/scripts/pg-cluster" start "$cluster")
fi
cat >"$tmp/posthorn.conf" <<CONF
state_dir $tmp
storage.pgsql s {
    dsn $dsn
}
storage.pgsql s_limits {
    dsn $dsn
    auto_create no
    appendlimit 1M
    default_mailboxes none
}
storage.pgsql s_defaults {
    dsn $dsn
    default_mailboxes archive=Old.Archive Lists
}
CONF
"$top_builddir/tests/storage/test_contract" "$tmp/posthorn.conf" s
