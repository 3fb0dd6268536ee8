#!/usr/bin/env bash
# build-deb.sh - build pwgate's Debian package from a staged tree with
# dpkg-deb (no debhelper, no source package).
#
#   packaging/debian/build-deb.sh [--version VERSION] [--out DIR] [--no-build] [--profile release|dev]
#
# VERSION defaults to Cargo.toml's version with Debian revision -1
# (0.1.0-1). --no-build packages the binaries as they are. --profile dev
# packages target/debug instead of target/release (the test suite does, to
# reuse the binaries `cargo test` built; what is shipped is release).
# Prints the path of the .deb. Needs dpkg-deb, dpkg-shlibdeps (dpkg-dev),
# strip and gzip.
#
# What goes where:
#   /usr/bin/pwgate, /usr/bin/pwgate-samba-hook      (stripped)
#   /lib/systemd/system/pwgate.service              (hardened; not enabled)
#   /etc/pwgate/pwgate.toml                         (conffile)
#   /etc/logrotate.d/pwgate                         (conffile: the audit trail)
#   /usr/share/man/man1/pwgate*.1.gz                (from the CLI definitions)
#   bash, zsh and fish completions                  (from the CLI definitions)
#   /usr/share/doc/pwgate/                          (README, copyright,
#       changelog, examples/, monitoring/: Grafana dashboard, alert rules)
#   /var/lib/pwgate, /var/log/pwgate                (owned by pwgate: postinst)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/packaging/debian"
cd "$ROOT"

version=""
out="$ROOT/target/debian"
build=1
profile=release
while (($#)); do
  case "$1" in
    --version) version=${2:?--version VERSION}; shift 2 ;;
    --out) out=${2:?--out DIR}; shift 2 ;;
    --no-build) build=0; shift ;;
    --profile) profile=${2:?--profile release|dev}; shift 2 ;;
    *) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$version" ]]; then
  upstream=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
  version="$upstream-1"
fi
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*-[A-Za-z0-9.+~]+$ ]] || {
  echo "build-deb.sh: $version is not a Debian version (UPSTREAM-REVISION)" >&2
  exit 2
}
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "build-deb.sh: $tool not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
done

case "$profile" in
  release) bin="$ROOT/target/release" ;;
  dev) bin="$ROOT/target/debug" ;;
  *) echo "build-deb.sh: --profile release or dev" >&2; exit 2 ;;
esac
if ((build)); then
  cargo build --profile "$profile" --locked --bins >&2
fi
for b in pwgate pwgate-samba-hook; do
  [[ -x "$bin/$b" ]] || { echo "build-deb.sh: $bin/$b missing (build it, or drop --no-build)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/pwgate"
doc="$stage/usr/share/doc/pwgate"
install -d -m 0755 "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/share/man/man1" \
  "$stage/etc/pwgate" "$stage/lib/systemd/system" "$doc/examples" "$doc/monitoring" \
  "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
  "$stage/usr/share/fish/vendor_completions.d" "$stage/var/lib/pwgate" "$stage/var/log/pwgate" \
  "$stage/usr/share/lintian/overrides"

for b in pwgate pwgate-samba-hook; do
  install -m 0755 "$bin/$b" "$stage/usr/bin/$b"
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/$b"
done

# Man pages and completions from the same definitions as --help.
"$stage/usr/bin/pwgate" manpages "$stage/usr/share/man/man1"
install -m 0644 "$HERE/pwgate-samba-hook.1" "$stage/usr/share/man/man1/"
gzip -9n "$stage"/usr/share/man/man1/*.1
"$stage/usr/bin/pwgate" completions bash >"$stage/usr/share/bash-completion/completions/pwgate"
"$stage/usr/bin/pwgate" completions zsh >"$stage/usr/share/zsh/vendor-completions/_pwgate"
"$stage/usr/bin/pwgate" completions fish >"$stage/usr/share/fish/vendor_completions.d/pwgate.fish"
chmod 0644 "$stage/usr/share/bash-completion/completions/pwgate" \
  "$stage/usr/share/zsh/vendor-completions/_pwgate" \
  "$stage/usr/share/fish/vendor_completions.d/pwgate.fish"

install -m 0644 "$HERE/pwgate.toml" "$stage/etc/pwgate/pwgate.toml"
install -d -m 0755 "$stage/etc/logrotate.d"
install -m 0644 "$HERE/logrotate" "$stage/etc/logrotate.d/pwgate"
install -m 0644 "$HERE/pwgate.service" "$stage/lib/systemd/system/pwgate.service"

install -m 0644 "$HERE/copyright" "$doc/copyright"
install -m 0644 "$HERE/lintian-overrides" "$stage/usr/share/lintian/overrides/pwgate"
gzip -9nc "$HERE/changelog" >"$doc/changelog.Debian.gz"
gzip -9nc README.md >"$doc/README.md.gz"
install -m 0644 examples/*.toml "$doc/examples/"
install -m 0644 monitoring/grafana/pwgate.json monitoring/prometheus/pwgate-alerts.yml \
  monitoring/prometheus/pwgate-alerts.test.yml "$doc/monitoring/"

for script in postinst prerm postrm; do
  install -m 0755 "$HERE/$script" "$stage/DEBIAN/$script"
done
printf '/etc/pwgate/pwgate.toml\n/etc/logrotate.d/pwgate\n' >"$stage/DEBIAN/conffiles"

# Shared-library dependencies, as dpkg-shlibdeps computes them for
# debhelper packages (it wants a debian/control to read).
mkdir -p "$work/src/debian"
printf 'Source: pwgate\n\nPackage: pwgate\nArchitecture: any\n' >"$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$stage/usr/bin/pwgate" "$stage/usr/bin/pwgate-samba-hook" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
[[ -n "$shlibs" ]] || { echo "build-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

arch=$(dpkg --print-architecture)
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: pwgate
Version: $version
Architecture: $arch
Maintainer: pwgate maintainers <pwgate@example.invalid>
Installed-Size: $size
Depends: $shlibs, adduser
Suggests: prometheus, samba-ad-dc
Section: net
Priority: optional
Homepage: https://example.invalid/pwgate
Description: LDAP proxy that refuses weak and breached passwords
 pwgate sits between LDAP clients and a directory (Active Directory,
 Samba AD, OpenLDAP). Every operation passes through unchanged; password
 changes and resets are checked against a policy (banned words with
 leetspeak, breached passwords, the account's names, patterns, similarity
 to the old password) and refused with the failed rule named, before they
 reach the directory. Every decision is audited without the password.
 .
 It also serves the same decision to Samba's check password script and to
 a Windows DC filter, and can synchronize accepted passwords to other
 directories.
CONTROL
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/pwgate_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
echo "$deb"
