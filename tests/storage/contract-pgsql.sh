#!/bin/sh
# SPDX-License-Identifier: MIT
# The storage contract suite against storage.pgsql. The database comes from
# PH_PGSQL_DSN when the caller has one (scripts/check starts a cluster);
# otherwise a throwaway cluster is started here with scripts/pg-cluster
# and stopped on exit. Accounts are named per test process, so a shared
# database needs no cleaning. The second instance (INSTANCE_limits) serves
# the tests of auto_create off, of the APPEND limit and of
# default_mailboxes none; INSTANCE_defaults, of default_mailboxes given and the quota defaults;
# INSTANCE_horizon, of tombstone_horizon; INSTANCE_pending, of texts not yet
# in the text index (a database of its own, whose indexer waits an hour);
# INSTANCE_grace, of body_grace.
set -eu
: "${top_builddir:=.}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ph-contract-pgsql.XXXXXX")
cluster=
horizon_db=
pending_db=
cleanup() {
    for db in $horizon_db $pending_db; do
        psql "$dsn" -qXc "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
            >/dev/null 2>&1 || true
    done
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
# tombstone_horizon 0s purges every tombstone of its database, body_grace
# 0s every body without a message: one of their own, so that nothing else
# sharing the cluster loses any.
horizon_db=horizon_$$
psql "$dsn" -qXv ON_ERROR_STOP=1 -c "CREATE DATABASE $horizon_db" >/dev/null
horizon_dsn="$(printf '%s\n' "$dsn" | tr ' ' '\n' | grep -v '^dbname=' |
    tr '\n' ' ')dbname=$horizon_db"
# The same for texts kept out of the index: no other instance's indexer
# may take them.
pending_db=pending_$$
psql "$dsn" -qXv ON_ERROR_STOP=1 -c "CREATE DATABASE $pending_db" >/dev/null
pending_dsn="$(printf '%s\n' "$dsn" | tr ' ' '\n' | grep -v '^dbname=' |
    tr '\n' ' ')dbname=$pending_db"
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
    quota_storage 1M
    quota_messages 2
    quota_mailboxes 100
}
storage.pgsql s_horizon {
    dsn $horizon_dsn
    tombstone_horizon 0s
}
storage.pgsql s_pending {
    dsn $pending_dsn
    text_index_wait 1h
}
storage.pgsql s_grace {
    dsn $horizon_dsn
    body_grace 0s
}
CONF
"$top_builddir/tests/storage/test_contract" "$tmp/posthorn.conf" s
