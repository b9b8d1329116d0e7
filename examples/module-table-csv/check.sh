#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples/module-table-csv/check.sh ROOT [WORKDIR]
#
# Proves that a module author needs only what `make install` put under ROOT
# (a `--prefix=ROOT` install, or DESTDIR/PREFIX of a staged one):
#   1. every public header compiles alone and all together with
#      -std=c11 -Wall -Wextra -Werror -pedantic; posthorn.pc, the abi file
#      and PH_ABI_MAJOR agree
#   2. this example builds from a copy with its own Makefile and
#      `pkg-config posthorn` (no path into posthorn's source tree), installs
#      into the SDK's moduledir, and exports posthorn_module only
#   3. the installed posthorn lists table.csv, accepts a config that uses it
#      (check-config) and answers lookups with `posthorn table lookup`
#   4. the installed `posthorn run` logs a user in over IMAP with a password
#      hash from a CSV file (auth.pass_table over table.csv, storage_map over
#      a second table.csv), and follows a change of the file while running
# Prints one line per check; exits 1 when one failed.
set -uo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 ROOT [WORKDIR]  (ROOT: where posthorn was installed)" >&2
    exit 2
fi
root=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -ge 2 ]; then
    work=$2
    rm -rf "$work" && mkdir -p "$work"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/ph-sdk.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
work=$(cd "$work" && pwd)
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }
finish() {
    echo "sdk: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

# Only this SDK: its .pc alone on the pkg-config path, relocated to ROOT.
pcfile=$(find "$root" -name posthorn.pc -path '*/pkgconfig/*' | head -n1)
if [ -z "$pcfile" ]; then
    fail "no posthorn.pc under $root"
    finish
fi
export PKG_CONFIG_LIBDIR=$(dirname "$pcfile")
export PKG_CONFIG_PATH=
pc="pkg-config --define-variable=prefix=$root"
cflags=$($pc --cflags posthorn)
libdir=$($pc --variable=libdir posthorn)
incdir=$($pc --variable=includedir posthorn)
moduledir=$($pc --variable=moduledir posthorn)
bin=$root/bin/posthorn
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export POSTHORN_MODULE_PATH=$moduledir
cc=${CC:-cc}

# ---- 1. headers and ABI metadata ------------------------------------------
strict="-std=c11 -Wall -Wextra -Werror -pedantic -Wstrict-prototypes -Wmissing-prototypes"
all="$work/all_headers.c"
: >"$all"
hfail=0
nh=0
for h in "$incdir"/posthorn/*.h; do
    name=posthorn/$(basename "$h")
    echo "#include <$name>" >>"$all"
    printf '#include <%s>\n' "$name" >"$work/one.c"
    nh=$((nh + 1))
    if ! $cc $strict $cflags -c "$work/one.c" -o "$work/one.o" 2>"$work/one.err"; then
        hfail=1
        fail "$name does not compile on its own:"
        cat "$work/one.err"
    fi
done
printf 'int main(void)\n{\n    return 0;\n}\n' >>"$all"
if [ "$nh" -gt 0 ] && $cc $strict $cflags -c "$all" -o "$work/all.o" 2>"$work/all.err"; then
    [ "$hfail" -eq 0 ] && ok "$nh public headers compile alone and together with $strict"
else
    fail "the public headers together do not compile:"
    cat "$work/all.err"
fi
abi_pc=$($pc --variable=abi_version posthorn)
abi_h=$(sed -n 's/^#define PH_ABI_MAJOR \([0-9]*\)$/\1/p' "$incdir/posthorn/common.h")
abi_file=$(cat "$root/share/posthorn/abi" 2>/dev/null)
if [ -n "$abi_pc" ] && [ "$abi_pc" = "$abi_h" ] && [ "$abi_file" = "posthorn-abi-$abi_h" ]; then
    ok "ABI $abi_h in posthorn.pc, common.h and share/posthorn/abi"
else
    fail "ABI disagrees: posthorn.pc '$abi_pc', common.h '$abi_h', abi file '$abi_file'"
fi

# ---- 2. the out-of-tree build ----------------------------------------------
mkdir -p "$work/src"
cp "$here/Makefile" "$here/table_csv.c" "$work/src/"
if make -C "$work/src" PKG_CONFIG="$pc" CC="$cc" CFLAGS="-O2 -g -Werror -pedantic" \
        >"$work/build.log" 2>&1 &&
    make -C "$work/src" PKG_CONFIG="$pc" install >>"$work/build.log" 2>&1 &&
    [ -f "$moduledir/table_csv.so" ]; then
    ok "table_csv.so built with pkg-config posthorn and installed in $moduledir"
else
    fail "building or installing the example:"
    cat "$work/build.log"
    finish
fi
exports=$(nm -D --defined-only "$moduledir/table_csv.so" | awk '{print $3}' |
    grep -v '^_\(init\|fini\)$' | tr '\n' ' ')
if [ "$exports" = "posthorn_module " ]; then
    ok "table_csv.so exports posthorn_module only"
else
    fail "table_csv.so exports: $exports"
fi

# ---- 3. the installed program loads it -------------------------------------
if "$bin" modules 2>&1 | grep -q "^table\.csv  *table  *$abi_h\.[0-9]*  *$moduledir/table_csv.so$"; then
    ok "posthorn modules lists table.csv from $moduledir"
else
    fail "posthorn modules does not list table.csv:"
    "$bin" modules 2>&1
fi

# users.csv: a header, quoted fields with the delimiter, a doubled quote and
# a line break, CRLF line ends. Column order differs from the config's.
hash_bob=$("$bin" hash -p 'old secret')
hash_bob2=$("$bin" hash -p 'new secret')
printf '%s\r\n' 'quota,password,login' \
    "1G,$hash_bob,bob" \
    '"2G, soft","x""y",carol' \
    '"multi' 'line",z,"dave, the ""admin"""' >"$work/users.csv"
# aliases.csv: ';' between fields, no header, a key on two records.
printf '%s\n' 'bob;robert' 'team;alice' 'team;bob' '' >"$work/aliases.csv"
mkdir -p "$work/state"
cat >"$work/posthorn.conf" <<EOF
state_dir $work/state
storage.sqlite local_mailboxes { }
table.csv users {
    file $work/users.csv
    header yes
    key_column login
    value_column password
    check_interval 100ms
}
table.csv aliases {
    file aliases.csv
    delimiter ";"
}
auth.pass_table local_authdb {
    table &users
}
imap tcp://127.0.0.1:0 {
    auth &local_authdb
    storage &local_mailboxes
    storage_map &aliases
    insecure_auth yes
    auth_fail_delay 50ms
}
EOF
cp "$work/aliases.csv" "$work/state/aliases.csv" # relative: from state_dir
conf=$work/posthorn.conf
if out=$("$bin" check-config --config "$conf" 2>"$work/check-config.err") &&
    [ "$out" = ok ]; then
    ok "posthorn check-config accepts a config with two table.csv blocks"
else
    fail "posthorn check-config: $out"
    cat "$work/check-config.err"
fi

# expect CODE OUTPUT ARGS...: runs `posthorn table ARGS` and compares.
expect() {
    local want_rc=$1 want_out=$2 rc out
    shift 2
    out=$("$bin" table "$@" --config "$conf" 2>&1)
    rc=$?
    if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ]; then
        ok "posthorn table $* -> $rc"
    else
        fail "posthorn table $*: exit $rc (want $want_rc), output:"
        printf '%s\n--- wanted:\n%s\n' "$out" "$want_out"
    fi
}
expect 0 "$hash_bob" lookup --cfg-block users bob
expect 0 'x"y' lookup --cfg-block users carol
expect 0 z lookup --cfg-block users 'dave, the "admin"'
expect 3 'posthorn: quota: not found' lookup --cfg-block users quota
expect 0 "$(printf 'alice\nbob')" lookup --cfg-block aliases team
expect 0 "$(printf 'bob\ncarol\ndave, the "admin"')" keys --cfg-block users
expect 1 'posthorn: table set: this table cannot be changed (table.csv)' \
    set --cfg-block aliases x y

# A malformed file is a config error naming the file and line.
printf 'login,password\nbob,"x\n' >"$work/bad.csv"
sed "s|file $work/users.csv|file $work/bad.csv|" "$conf" >"$work/bad.conf"
out=$("$bin" check-config --config "$work/bad.conf" 2>&1 >/dev/null)
case $out in
*"bad.conf:3: table.csv block users: $work/bad.csv:2: unterminated quoted field"*)
    ok "a malformed CSV file is a config error with its file and line" ;;
*) fail "malformed CSV file: $out" ;;
esac

# ---- 4. a login through the running server --------------------------------
"$bin" run --config "$conf" >"$work/run.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
    grep -q "server started" "$work/run.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
# Port 0 above: the kernel chose one, and the server logged it.
port=$(sed -n 's|.* event=listening addr=tcp://127\.0\.0\.1:\([0-9]*\) .*|\1|p' "$work/run.log")
login() { # USER PASSWORD -> exit 0 when LOGIN and SELECT INBOX succeed
    python3 - "$port" "$1" "$2" <<'PY'
import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]), timeout=20)
try:
    c.login(sys.argv[2], sys.argv[3])
except imaplib.IMAP4.error:
    sys.exit(1)
typ, _ = c.select("INBOX")
c.logout()
sys.exit(0 if typ == "OK" else 1)
PY
}
if login bob 'old secret' && ! login bob 'wrong' &&
    "$bin" accounts list --config "$conf" 2>/dev/null | grep -qx robert; then
    ok "IMAP LOGIN bob: hash from users.csv, mailbox robert from aliases.csv"
else
    fail "IMAP login through table.csv:"
    tail -n 20 "$work/run.log"
fi
# Replace the file as an editor would; the running server follows it.
sed "s|$hash_bob|$hash_bob2|" "$work/users.csv" >"$work/users.csv.new"
mv "$work/users.csv.new" "$work/users.csv"
sleep 0.3
if login bob 'new secret' && ! login bob 'old secret' &&
    grep -q 'mod=table.csv name=users .*event=reloaded' "$work/run.log"; then
    ok "the running server reloaded users.csv after it changed"
else
    fail "reload of users.csv:"
    tail -n 20 "$work/run.log"
fi
# A broken version keeps the old contents, logged once.
printf 'login,password\nbob\n' >"$work/users.csv.new"
mv "$work/users.csv.new" "$work/users.csv"
sleep 0.3
if login bob 'new secret' &&
    [ "$(grep -c 'mod=table.csv name=users .*event=reload_failed' "$work/run.log")" = 1 ]; then
    ok "a malformed new version keeps the old contents, logged once"
else
    fail "malformed new version:"
    tail -n 20 "$work/run.log"
fi
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
finish
