#!/usr/bin/env bash
# test-deb.sh - build pwgate's Debian package and check it on this machine,
# as an administrator would use it: install on a machine without it, run
# it, read its man page, verify its unit, lint it, upgrade it with a
# modified conffile, purge it. Run by scripts/test.sh (as root, on CI's
# clean machine).
#
#   packaging/debian/test-deb.sh [--no-build] [--profile release|dev]
#
# --profile dev packages the debug binaries (scripts/test.sh does, after
# `cargo test` built them, to keep CI's time: the package's files, scripts
# and unit are the same; only the optimisation differs).
#
# Needs root and a machine where the package pwgate is not installed (it
# refuses otherwise, rather than replace an installation). Everything it
# installs is purged at the end, also when a check fails. The system user
# pwgate stays, as Debian policy has it (postrm).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
build=()
profile=release
while (($#)); do
  case "$1" in
    --no-build) build=(--no-build); shift ;;
    --profile) profile=${2:?--profile release|dev}; shift 2 ;;
    *) echo "test-deb.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

fail() { echo "test-deb.sh: FAIL: $*" >&2; exit 1; }
step() { echo "test-deb.sh: $*"; }

[[ "$(id -u)" == 0 ]] || fail "needs root (dpkg -i)"
if dpkg-query -W -f='${Status}' pwgate 2>/dev/null | grep -q "installed"; then
  fail "the package pwgate is installed here already; this test installs and purges it, so run it where it is not"
fi

out=$(mktemp -d)
installed=0
cleanup() {
  if ((installed)); then dpkg --purge pwgate >/dev/null 2>&1 || true; fi
  rm -rf "$out"
}
trap cleanup EXIT

upstream=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
first="$upstream-1"
second="$upstream-1+upgrade1"
deb1=$(packaging/debian/build-deb.sh "${build[@]}" --profile "$profile" --version "$first" --out "$out")
deb2=$(packaging/debian/build-deb.sh --no-build --profile "$profile" --version "$second" --out "$out")

step "lintian (errors and warnings fail; overrides: packaging/debian/lintian-overrides)"
lintian --tag-display-limit 0 --fail-on error,warning "$deb1" 2>&1 | grep -v "running with root privileges" || true
lintian --tag-display-limit 0 --fail-on error,warning "$deb1" >/dev/null 2>&1 || fail "lintian found errors or warnings (above)"

step "dpkg -i $first"
installed=1
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb1" || fail "dpkg -i $deb1"
[[ "$(dpkg-query -W -f='${Version}' pwgate)" == "$first" ]] || fail "installed version is not $first"

step "the binaries, the user, the directories"
# Captured first: `cmd | grep -q` under pipefail fails when grep stops
# reading before cmd has written everything (SIGPIPE).
version=$(pwgate --version) || fail "pwgate --version"
grep -q "^pwgate $upstream" <<<"$version" || fail "pwgate --version: $version"
usage=$(pwgate-samba-hook --help) || fail "pwgate-samba-hook --help"
grep -q "^usage: pwgate-samba-hook" <<<"$usage" || fail "pwgate-samba-hook --help: $usage"
getent passwd pwgate >/dev/null || fail "no system user pwgate"
for d in /var/lib/pwgate /var/log/pwgate; do
  [[ "$(stat -c '%U:%G %a' "$d")" == "pwgate:pwgate 750" ]] || fail "$d is $(stat -c '%U:%G %a' "$d"), not pwgate:pwgate 750"
done
conf=/etc/pwgate/pwgate.toml
[[ "$(stat -c '%U:%G %a' "$conf")" == "root:pwgate 640" ]] || fail "$conf is $(stat -c '%U:%G %a' "$conf")"

wants=/etc/systemd/system/multi-user.target.wants/pwgate.service
[[ ! -e "$wants" && ! -L "$wants" ]] || fail "the package enabled the service ($wants)"

step "pwgate config check $conf (as the service's user)"
check=$(runuser -u pwgate -- pwgate config check "$conf") || fail "config check: $check"
grep -q "^$conf: valid" <<<"$check" || fail "config check did not say valid: $check"
grep -q "is a placeholder" <<<"$check" || fail "config check did not explain the placeholder directory: $check"

step "man pages and completions"
man -w pwgate >/dev/null || fail "man -w pwgate"
for page in pwgate-serve pwgate-check pwgate-config-check pwgate-samba-hook; do
  man -w "$page" >/dev/null || fail "man -w $page"
done
page=$(man -P cat pwgate-serve 2>/dev/null) || fail "man pwgate-serve"
grep -q -- "--config" <<<"$page" || fail "man pwgate-serve lacks --config"
bash -c 'source /usr/share/bash-completion/completions/pwgate && complete -p pwgate' >/dev/null ||
  fail "the bash completion does not register"
[[ -s /usr/share/zsh/vendor-completions/_pwgate && -s /usr/share/fish/vendor_completions.d/pwgate.fish ]] ||
  fail "zsh or fish completion missing"

step "systemd-analyze verify"
systemd-analyze verify /lib/systemd/system/pwgate.service || fail "systemd-analyze verify"
grep -q "^User=pwgate" /lib/systemd/system/pwgate.service || fail "the unit does not run as pwgate"

# The administrator enables it (systemctl enable, without a running
# systemd: the same link); the upgrade keeps it, the purge removes it.
mkdir -p "$(dirname "$wants")"
ln -s /lib/systemd/system/pwgate.service "$wants"

step "upgrade to $second keeps a modified conffile"
printf '\n# modified by test-deb.sh\n' >>"$conf"
sed -i 's/^level = "info"/level = "debug"/' "$conf"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb2" </dev/null || fail "dpkg -i $deb2"
[[ "$(dpkg-query -W -f='${Version}' pwgate)" == "$second" ]] || fail "upgraded version is not $second"
grep -q "^# modified by test-deb.sh" "$conf" && grep -q '^level = "debug"' "$conf" ||
  fail "the upgrade replaced the modified $conf"
[[ -L "$wants" ]] || fail "the upgrade disabled the service the administrator enabled"
runuser -u pwgate -- pwgate config check "$conf" >/dev/null || fail "config check after the upgrade"

step "dpkg --purge removes what it installed"
mapfile -t files < <(dpkg-query -L pwgate | sort -r)
dpkg --purge pwgate || fail "dpkg --purge"
installed=0
dpkg-query -W pwgate >/dev/null 2>&1 && fail "still known to dpkg after purge"
for f in "${files[@]}"; do
  # Directories shared with the system (/usr/bin, /etc...) stay; the
  # package's own (their name has pwgate in it) go with the files.
  if [[ -d "$f" && "$f" != *pwgate* ]]; then continue; fi
  if [[ -e "$f" ]]; then fail "$f is left after purge"; fi
done
for f in /etc/pwgate /var/lib/pwgate /var/log/pwgate /usr/bin/pwgate /lib/systemd/system/pwgate.service "$wants"; do
  if [[ -e "$f" ]]; then fail "$f is left after purge"; fi
done
step "ok: installed, checked, linted, upgraded with the conffile kept, purged"
