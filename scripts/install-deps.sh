#!/usr/bin/env bash
# install-deps.sh - install the system packages pwgate's tests and demo need:
# OpenLDAP's slapd (run privately by the tests, never as a system service),
# ldap-utils, openssl, ca-certificates, haproxy, and Samba's Active Directory DC
# (samba, samba-ad-dc, samba-ad-provision, winbind, krb5-user; also run
# privately by tests/common/samba.rs, never as a system service), and for
# the Windows DC filter mingw-w64 (gcc-mingw-w64-x86-64, which cross-builds
# it) and Wine (wine, wine64: tests/windows_filter.rs runs it there, in a
# private prefix), and Prometheus's promtool (package prometheus:
# scripts/check-monitoring.sh checks and unit-tests the alerting rules; the
# Prometheus server the package brings is disabled, never started), and for
# the Debian package (packaging/debian/build-deb.sh and test-deb.sh)
# dpkg-dev's dpkg-shlibdeps, lintian and man-db's man.
# Debian/Ubuntu, needs root.
#
# --bench is accepted for compatibility (haproxy is always installed now).
#
# Idempotent: when every needed command is already present, apt is not run.
# The slapd package is preseeded with slapd/no_configuration=true so it does
# not create /etc/ldap/slapd.d or a system database (so no system slapd
# starts). A slapd already running on the machine is left alone.
#
# The Samba packages would start smbd, nmbd and winbind as system services
# from their maintainer scripts. While apt runs, a temporary
# /usr/sbin/policy-rc.d (unless one already exists) tells invoke-rc.d and
# deb-systemd-invoke not to start anything; afterwards the services this run
# installed are disabled, and any smbd/nmbd/winbindd/samba process that
# appeared during the install is stopped. Samba processes that were running
# before (e.g. a test DC) are left alone. The tests never read /etc/samba.
set -euo pipefail

# haproxy: the scale-out test runs two pwgates behind it (and the benchmarks
# compare pwgate with it). ss (iproute2): tests count pwgate's connections
# to the directory.
# x86_64-w64-mingw32-gcc: scripts/build-windows-filter.sh; wine64 (the
# 64-bit loader; Debian puts it in /usr/lib/wine) and wine (its regedit,
# wineboot and wineserver): tests/windows_filter.rs.
needed=(/usr/sbin/slapd slapadd slappasswd ldapsearch ldapmodify ldappasswd openssl
  haproxy samba samba-tool ss smbpasswd net kinit kpasswd
  x86_64-w64-mingw32-gcc wine /usr/lib/wine/wine64 promtool
  dpkg-shlibdeps lintian man systemd-analyze)
# Files (not commands) that must exist: samba-ad-provision's templates are
# only a Recommends of samba-ad-dc, and provisioning fails without them.
# libnss_wrapper.so: its directory depends on the architecture.
needed_files=(/usr/share/samba/setup/provision.ldif
  "/usr/lib/$(uname -m)-linux-gnu/libnss_wrapper.so")
packages=(slapd ldap-utils openssl ca-certificates haproxy iproute2
  samba samba-ad-dc samba-ad-provision winbind krb5-user libnss-wrapper
  gcc-mingw-w64-x86-64 wine wine64 prometheus dpkg-dev lintian man-db systemd)
samba_services=(samba-ad-dc smbd nmbd winbind)
# Services of other packages installed here that must not run either.
other_services=(prometheus)

present() {
  # slapadd/slappasswd/samba live in /usr/sbin, which a non-root PATH may lack.
  command -v "$1" >/dev/null 2>&1 || [[ "$1" != /* && -x "/usr/sbin/$1" ]]
}

missing=()
for cmd in "${needed[@]}"; do
  present "$cmd" || missing+=("$cmd")
done
for file in "${needed_files[@]}"; do
  [[ -e "$file" ]] || missing+=("$file")
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

# Pids of running Samba daemons of the system services: smbd, nmbd, winbindd
# and samba-dcerpcd without a --configfile/-s of their own (a private test
# DC's processes have one, or are `samba` itself, which the packages never
# start: samba-ad-dc stays off unless /etc/samba/smb.conf makes a DC).
system_samba_pids() {
  local d comm args
  for d in /proc/[0-9]*; do
    comm=$(cat "$d/comm" 2>/dev/null) || continue
    case "$comm" in
      smbd | nmbd | winbindd | samba-dcerpcd) ;;
      *) continue ;;
    esac
    args=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
    case " $args" in
      *" --configfile"* | *" -s "* | *" -s/"*) continue ;;
    esac
    echo "${d#/proc/}"
  done
}
samba_was_installed=0
present samba && samba_was_installed=1
prometheus_was_installed=0
present promtool && prometheus_was_installed=1
declare -A before=()
for pid in $(system_samba_pids); do before[$pid]=1; done

# Keep the packages' maintainer scripts from starting services while apt
# runs (policy-rc.d exit 101 = "action forbidden"). An existing policy-rc.d
# (containers usually have one) is left as it is.
policy_rc=/usr/sbin/policy-rc.d
own_policy_rc=0
if [[ ! -e "$policy_rc" ]]; then
  printf '#!/bin/sh\n# temporary, from pwgate scripts/install-deps.sh\nexit 101\n' >"$policy_rc"
  chmod 755 "$policy_rc"
  own_policy_rc=1
fi
cleanup() { if ((own_policy_rc)); then rm -f "$policy_rc"; fi; }
trap cleanup EXIT

# Tell the slapd package not to create a configuration or a system database.
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"
cleanup
own_policy_rc=0

# The system Samba services are not wanted: the tests run their own DC from
# a private smb.conf. Disable the ones this run installed, so they do not
# start at the next boot either (systemctl works without a running systemd).
if ((samba_was_installed == 0)); then
  for unit in "${samba_services[@]}"; do
    if command -v systemctl >/dev/null 2>&1; then
      systemctl disable "$unit.service" >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1 && [[ -e "/etc/init.d/$unit" ]]; then
      update-rc.d "$unit" disable >/dev/null 2>&1 || true
    fi
  done
fi
for unit in "${other_services[@]}"; do
  ((prometheus_was_installed == 0)) || break
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable "$unit.service" >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null 2>&1 && [[ -e "/etc/init.d/$unit" ]]; then
    update-rc.d "$unit" disable >/dev/null 2>&1 || true
  fi
done
# Stop whatever Samba service the install started anyway (none when
# policy-rc.d did its job). Daemons that ran before the install are left alone.
started=()
for pid in $(system_samba_pids); do
  [[ -n "${before[$pid]:-}" ]] || started+=("$pid")
done
if ((${#started[@]} > 0)); then
  echo "install-deps.sh: stopping the Samba services the install started (pids ${started[*]})" >&2
  if [[ -d /run/systemd/system ]]; then
    systemctl stop "${samba_services[@]/%/.service}" >/dev/null 2>&1 || true
  fi
  kill -TERM "${started[@]}" 2>/dev/null || true
  for _ in $(seq 20); do
    alive=0
    for pid in "${started[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.25
  done
  kill -KILL "${started[@]}" 2>/dev/null || true
fi

still=()
for cmd in "${needed[@]}"; do
  present "$cmd" || still+=("$cmd")
done
for file in "${needed_files[@]}"; do
  [[ -e "$file" ]] || still+=("$file")
done
if ((${#still[@]} > 0)); then
  echo "install-deps.sh: still missing after install: ${still[*]}" >&2
  exit 1
fi
echo "install-deps.sh: installed ${packages[*]} (was missing: ${missing[*]})"
