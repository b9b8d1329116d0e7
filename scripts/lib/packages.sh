# SPDX-License-Identifier: MIT
# scripts/lib/packages.sh: sourced by scripts/check and scripts/quickstart.
#
# ph_install_packages PKG...: installs the Debian packages that are not
# installed yet (apt-get, as root); says which ones are missing otherwise.

ph_build_packages=(build-essential autoconf automake libtool pkg-config
  libltdl-dev libunistring-dev libidn2-dev libgnutls28-dev libsqlite3-dev
  libcrypt-dev zlib1g-dev openssl python3)

# What scripts/package needs beyond a build: Debian's packaging tools, the
# optional modules' libraries, and what the installed-package test runs.
ph_package_packages=(debhelper dpkg-dev fakeroot lintian libpq-dev libpam0g-dev libldap-dev
  man-db systemd)

ph_install_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  printf '\n=== installing: %s\n' "${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "$(basename "$0"): missing packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
