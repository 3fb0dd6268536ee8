#!/usr/bin/env bash
# install-deps.sh - install the system packages pwgate's tests and demo need:
# OpenLDAP's slapd (run privately by the tests, never as a system service),
# ldap-utils, openssl and ca-certificates. Debian/Ubuntu, needs root.
#
# --bench is accepted for compatibility (haproxy is always installed now).
#
# Idempotent: when every needed command is already present, apt is not run.
# The slapd package is preseeded with slapd/no_configuration=true so it does
# not create /etc/ldap/slapd.d or a system database (so no system slapd
# starts). A slapd already running on the machine is left alone.
set -euo pipefail

# haproxy: the scale-out test runs two pwgates behind it (and the benchmarks
# compare pwgate with it).
needed=(/usr/sbin/slapd slapadd slappasswd ldapsearch ldapmodify ldappasswd openssl haproxy)
packages=(slapd ldap-utils openssl ca-certificates haproxy)

missing=()
for cmd in "${needed[@]}"; do
  # slapadd/slappasswd live in /usr/sbin, which a non-root PATH may lack.
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [[ "$cmd" != /* && -x "/usr/sbin/$cmd" ]]; then
    missing+=("$cmd")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps.sh: all needed commands present (${needed[*]}); nothing to install"
  exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
  echo "install-deps.sh: missing: ${missing[*]}" >&2
  echo "install-deps.sh: run as root (e.g. sudo $0) to install: ${packages[*]}" >&2
  exit 1
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "install-deps.sh: apt-get not found; install ${packages[*]} with your package manager" >&2
  exit 1
}

# Tell the slapd package not to create a configuration or a system database.
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"

still=()
for cmd in "${needed[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [[ -x "/usr/sbin/$cmd" ]] || still+=("$cmd")
done
if ((${#still[@]} > 0)); then
  echo "install-deps.sh: still missing after install: ${still[*]}" >&2
  exit 1
fi
echo "install-deps.sh: installed ${packages[*]} (was missing: ${missing[*]})"
