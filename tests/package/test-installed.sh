#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/package/test-installed.sh DEBDIR: installs the posthorn packages of
# DEBDIR on this machine (apt-get, as root), serves IMAP from the installed
# files only (/usr/bin/posthorn, the installed modules, posthorn-pam-helper
# and /etc/pam.d/posthorn) with storage.pgsql and auth.pam as the posthorn
# user, logs in a real system user over TLS with imaplib, checks the unit
# (systemd-analyze verify) and the man pages (man --warnings), then stops
# the server, purges the packages and removes the user.
#
# PostgreSQL: $PH_PGSQL_DSN (scripts/check exports one), else a throwaway
# cluster started here with scripts/pg-cluster. The last line says how many
# checks passed and failed.
#
# It purges posthorn's packages at the end (also after an early exit): run
# it on a test machine or in a container, never where posthorn serves mail.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
debdir=${1:-}
if [ -z "$debdir" ] || [ ! -d "$debdir" ]; then
  echo "usage: $0 DEBDIR" >&2
  exit 2
fi
debdir=$(cd "$debdir" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "$0: needs root (apt-get install, useradd)" >&2
  exit 2
fi

passed=0
failed=0
skipped=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
skip() { echo "skip: $*"; skipped=$((skipped + 1)); }
check() { # description command...
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

tmp=$(mktemp -d /tmp/posthorn-pkgtest.XXXXXX)
chmod 755 "$tmp" # the server enters it as user posthorn
testuser=phpkg$$
testpass="Pkg-test pw $$"
server_pid=
own_pg=
installed=
packages=(posthorn posthorn-pgsql posthorn-pam posthorn-dev)

cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  getent passwd "$testuser" >/dev/null && userdel -f "$testuser" >/dev/null 2>&1
  # A run that stopped half-way leaves no packages behind either.
  if [ -n "$installed" ] && dpkg-query -W -f='${Status}' posthorn 2>/dev/null | grep -q installed; then
    apt-get purge -y -qq "${packages[@]}" >/dev/null 2>&1
  fi
  if [ -n "$own_pg" ]; then
    "$top/scripts/pg-cluster" stop "$own_pg" >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive

# --- install ------------------------------------------------------------
debs=()
for p in "${packages[@]}"; do
  f=$(ls "$debdir/${p}"_*.deb 2>/dev/null | head -n1)
  [ -n "$f" ] && debs+=("$f")
done
if [ ${#debs[@]} -ne 4 ]; then
  fail "four packages in $debdir (found ${#debs[@]})"
  echo "$passed passed, $failed failed"
  exit 1
fi
installed=1
if apt-get install -y -qq --no-install-recommends "${debs[@]}" >"$tmp/apt.log" 2>&1; then
  ok "apt-get install of the four packages"
else
  cat "$tmp/apt.log"
  fail "apt-get install of the four packages"
  echo "$passed passed, $failed failed"
  exit 1
fi

helper=/usr/libexec/posthorn/posthorn-pam-helper
check "posthorn system user and group exist" bash -c "getent passwd posthorn >/dev/null && getent group posthorn >/dev/null"
check "/usr/bin/posthorn version" /usr/bin/posthorn version
check "the installed modules load (posthorn modules)" \
  bash -c '/usr/bin/posthorn modules >"$0/modules.txt" 2>&1 &&
    for m in imap storage.sqlite storage.pgsql auth.pam auth.pass_table table.file; do
      grep -q "^$m " "$0/modules.txt" || { cat "$0/modules.txt"; exit 1; }
    done' "$tmp"
check "$helper is root:shadow 2755" \
  test "$(stat -c '%U:%G %a' "$helper")" = "root:shadow 2755"
check "$(dirname "$helper") is root:posthorn 750" \
  test "$(stat -c '%U:%G %a' "$(dirname "$helper")")" = "root:posthorn 750"
check "/etc/pam.d/posthorn installed" test -f /etc/pam.d/posthorn
check "/etc/posthorn/posthorn.conf says user posthorn" \
  grep -qx 'user posthorn' /etc/posthorn/posthorn.conf
check "posthorn-dev: pkg-config posthorn" \
  bash -c 'test "$(pkg-config --variable=abi_version posthorn)" -ge 0 &&
    test "posthorn-abi-$(pkg-config --variable=abi_version posthorn)" = "$(cat /usr/share/posthorn/abi)"'
abi=$(cat /usr/share/posthorn/abi 2>/dev/null)
check "posthorn Provides $abi, the plugins depend on it" \
  bash -c 'dpkg-query -W -f="\${Provides}" posthorn | grep -qw "$0" &&
    dpkg-query -W -f="\${Depends}" posthorn-pgsql | grep -qw "$0" &&
    dpkg-query -W -f="\${Depends}" posthorn-pam | grep -qw "$0"' "$abi"
check "the in-tree plugins depend on the very posthorn they were built with" \
  bash -c 'v=$(dpkg-query -W -f="\${Version}" posthorn) &&
    dpkg-query -W -f="\${Depends}" posthorn-pgsql | grep -qF "posthorn (= $v)" &&
    dpkg-query -W -f="\${Depends}" posthorn-pam | grep -qF "posthorn (= $v)"'

# --- the SDK: a third-party module against posthorn-dev alone -----------
sdk_check=$top/examples/module-table-csv/check.sh
if [ -x "$sdk_check" ]; then
  moduledir=$(pkg-config --variable=moduledir posthorn)
  if "$sdk_check" /usr "$tmp/sdk" >"$tmp/sdk.log" 2>&1; then
    ok "examples/module-table-csv builds against posthorn-dev, loads and serves ($(tail -n1 "$tmp/sdk.log"))"
  else
    fail "examples/module-table-csv against the installed posthorn-dev"
    grep -v '^ok:' "$tmp/sdk.log" | tail -n 30
  fi
  # Not a packaged file: remove it so that the purge leaves nothing behind.
  rm -f "$moduledir/table_csv.so"
else
  skip "examples/module-table-csv/check.sh not in this tree"
fi

# --- serve: storage.pgsql, auth.pam through the helper, as posthorn -----
dsn=${PH_PGSQL_DSN:-}
if [ -z "$dsn" ]; then
  own_pg=$tmp/pg
  dsn=$("$top/scripts/pg-cluster" start "$own_pg") || {
    fail "a throwaway PostgreSQL cluster (scripts/pg-cluster)"
    dsn=
  }
fi

useradd -M -s /usr/sbin/nologin "$testuser" &&
  printf '%s:%s\n' "$testuser" "$testpass" | chpasswd
check "system user $testuser created (useradd + chpasswd)" bash -c "getent passwd $testuser >/dev/null"

mkdir -p "$tmp/state"
cat >"$tmp/posthorn.conf" <<EOF
user posthorn
state_dir $tmp/state
tls self_signed
log stderr

storage.pgsql mail {
    dsn $dsn
}

imap tls://127.0.0.1:0 {
    auth pam {
        use_helper yes
    }
    storage &mail
    storage_map identity
    auth_fail_delay 0ms
}
EOF

/usr/bin/posthorn run --config "$tmp/posthorn.conf" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q 'server started' "$tmp/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
# Port 0 above: the kernel chose one, and the server logged it.
port=$(sed -n 's|.* event=listening addr=tls://127\.0\.0\.1:\([0-9]*\) .*|\1|p' "$tmp/server.log")
if grep -q 'server started' "$tmp/server.log"; then
  ok "posthorn run (storage.pgsql, auth.pam) logs server started"
else
  fail "posthorn run (storage.pgsql, auth.pam) logs server started"
  cat "$tmp/server.log"
fi
check "privileges dropped (event=privileges_dropped user=posthorn)" \
  grep -q 'event=privileges_dropped user=posthorn' "$tmp/server.log"

uid=$(id -u posthorn 2>/dev/null)
gid=$(id -g posthorn 2>/dev/null)
check "the server process runs as posthorn ($uid:$gid, /proc/PID/status)" \
  bash -c 'awk -v u="$1" -v g="$2" "
    /^Uid:/ { if (\$2 != u || \$3 != u || \$4 != u || \$5 != u) bad = 1; su = 1 }
    /^Gid:/ { if (\$2 != g || \$3 != g || \$4 != g || \$5 != g) bad = 1; sg = 1 }
    END { exit (bad || !su || !sg) }" "/proc/$0/status"' "$server_pid" "$uid" "$gid"

if python3 - "$port" "$testuser" "$testpass" >"$tmp/imap.log" 2>&1 <<'EOF'
import imaplib, ssl, sys, time
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # tls self_signed
c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30)
typ, _ = c.login(user, password)
assert typ == "OK", typ
typ, data = c.select("INBOX")
assert typ == "OK", (typ, data)
subject = "package test %d" % time.time_ns()
msg = ("From: a@example.org\r\nTo: %s@example.org\r\nSubject: %s\r\n\r\n"
       "hello from the installed packages\r\n" % (user, subject)).encode()
typ, data = c.append("INBOX", r"(\Seen)", None, msg)
assert typ == "OK", (typ, data)
typ, data = c.select("INBOX")
n = int(data[0])
typ, data = c.fetch(str(n), "(FLAGS BODY.PEEK[])")
assert typ == "OK", (typ, data)
assert data[0][1] == msg, data
assert b"\\Seen" in data[0][0], data
c.logout()
# A wrong password is refused.
c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30)
try:
    c.login(user, password + "x")
    raise SystemExit("a wrong password logged in")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
c.shutdown()
print("imap ok")
EOF
then
  ok "imaplib over TLS: LOGIN (PAM via the helper), SELECT, APPEND, FETCH; a wrong password fails"
else
  fail "imaplib over TLS: LOGIN (PAM via the helper), SELECT, APPEND, FETCH; a wrong password fails"
  cat "$tmp/imap.log"
  tail -n 20 "$tmp/server.log"
fi

kill -TERM "$server_pid" 2>/dev/null
for _ in $(seq 1 100); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
  fail "SIGTERM stops the server"
  kill -KILL "$server_pid" 2>/dev/null
else
  wait "$server_pid"
  rc=$?
  if [ $rc -eq 0 ] && grep -q 'server stopped' "$tmp/server.log"; then
    ok "SIGTERM stops the server (exit 0)"
  else
    fail "SIGTERM stops the server (exit $rc)"
  fi
fi
server_pid=

# --- the unit -----------------------------------------------------------
unit=/lib/systemd/system/posthorn.service
check "$unit installed" test -f "$unit"
if ! command -v systemd-analyze >/dev/null; then
  apt-get install -y -qq --no-install-recommends systemd >/dev/null 2>&1
fi
if ! command -v systemd-analyze >/dev/null; then
  skip "systemd-analyze verify: systemd-analyze not available (apt-get install systemd failed)"
else
  systemd-analyze verify "$unit" >"$tmp/verify.log" 2>&1
  vrc=$?
  if [ $vrc -eq 0 ] && ! grep -q . "$tmp/verify.log"; then
    ok "systemd-analyze verify $unit (no output)"
  elif grep -qiE 'Failed to (connect|initialize|setup)|Operation not permitted|not booted|Permission denied' "$tmp/verify.log" &&
    ! grep -q 'posthorn.service:' "$tmp/verify.log"; then
    skip "systemd-analyze verify cannot run here: $(head -n1 "$tmp/verify.log")"
  else
    fail "systemd-analyze verify $unit (exit $vrc)"
    cat "$tmp/verify.log"
  fi
fi

# --- the man pages ------------------------------------------------------
for page in /usr/share/man/man1/posthorn.1.gz /usr/share/man/man5/posthorn.conf.5.gz; do
  if [ ! -f "$page" ]; then
    fail "$page installed"
    continue
  fi
  err=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
  if [ -z "$err" ]; then
    ok "man --warnings -l $page: no warnings"
  else
    fail "man --warnings -l $page"
    echo "$err"
  fi
done

# --- purge --------------------------------------------------------------
if apt-get purge -y -qq "${packages[@]}" >"$tmp/purge.log" 2>&1; then
  ok "apt-get purge of the four packages"
else
  fail "apt-get purge of the four packages"
  cat "$tmp/purge.log"
fi
leftovers=()
for f in /usr/bin/posthorn /etc/posthorn /etc/pam.d/posthorn /usr/libexec/posthorn \
  /usr/lib/*/posthorn /usr/include/posthorn /usr/share/posthorn /var/lib/posthorn \
  /lib/systemd/system/posthorn.service; do
  [ -e "$f" ] && leftovers+=("$f")
done
check "purge leaves nothing behind (${leftovers[*]:-no leftovers})" test ${#leftovers[@]} -eq 0
check "purge removed the statoverrides of the helper" \
  bash -c '! dpkg-statoverride --list | grep -q /usr/libexec/posthorn'
check "purge removed the posthorn user" bash -c '! getent passwd posthorn >/dev/null'
userdel -f "$testuser" >/dev/null 2>&1
check "system user $testuser removed" bash -c '! getent passwd "$0" >/dev/null' "$testuser"

[ $skipped -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
