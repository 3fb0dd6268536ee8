#!/usr/bin/env bash
# pwgate's whole test suite, as CI runs it: installs the system packages the
# tests need (slapd, ldap-utils, openssl, Samba's AD DC; as root on Debian),
# then checks formatting and lints and the Prometheus alerting rules
# (promtool), then runs unit and integration tests, then builds the Debian
# package and checks it on this machine (install, run, man, unit, lintian,
# upgrade, purge: packaging/debian/test-deb.sh; as root only).
# Integration tests start their own private slapd instances on free 127.0.0.1
# ports, and tests/active_directory.rs one private Samba AD DC on a free
# 127.0.0.x address.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

"$ROOT/scripts/install-deps.sh"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
"$ROOT/scripts/check-monitoring.sh"
cargo test --locked
if [[ "$(id -u)" == 0 ]]; then
  # The debug binaries cargo test built: no release build in CI's time.
  "$ROOT/packaging/debian/test-deb.sh" --no-build --profile dev
else
  echo "test.sh: SKIPPED packaging/debian/test-deb.sh: installing the package needs root" >&2
fi
