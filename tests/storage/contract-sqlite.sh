#!/bin/sh
# SPDX-License-Identifier: MIT
# The storage contract suite against storage.sqlite, in a fresh state_dir.
# The second instance (INSTANCE_limits) serves the tests of auto_create off,
# of the APPEND limit and of default_mailboxes none; the third, of
# default_mailboxes given and of the quota defaults; the fourth, of tombstone_horizon; the fifth, of
# texts not yet in the text index; the sixth, of body_grace.
set -eu
: "${top_builddir:=.}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ph-contract-sqlite.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
cat >"$tmp/posthorn.conf" <<EOF
state_dir $tmp
storage.sqlite s { }
storage.sqlite s_limits {
    dsn limits.db
    auto_create no
    appendlimit 1M
    default_mailboxes none
}
storage.sqlite s_defaults {
    dsn defaults.db
    default_mailboxes archive=Old.Archive Lists
    quota_storage 1M
    quota_messages 2
    quota_mailboxes 100
}
storage.sqlite s_horizon {
    dsn horizon.db
    tombstone_horizon 0s
}
storage.sqlite s_pending {
    dsn pending.db
    text_index_wait 1h
}
storage.sqlite s_grace {
    dsn grace.db
    body_grace 0s
}
EOF
"$top_builddir/tests/storage/test_contract" "$tmp/posthorn.conf" s
