#!/usr/bin/env bash
# report-screenshot.sh - render `pwgate audit report` of the sample trail
# (scripts/sample-audit-trail.py) in headless Chromium and save what a
# person sees, for the README: docs/audit-report.png. Installs chromium
# (Debian package) when missing, as root.
#
#   scripts/report-screenshot.sh [OUT.png]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
out=${1:-docs/audit-report.png}

if ! command -v chromium >/dev/null 2>&1; then
  [[ "$(id -u)" == 0 ]] || { echo "report-screenshot.sh: chromium is missing; run as root to install it" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi
cargo build --release --locked --bin pwgate >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/sample-audit-trail.py "$work/audit.jsonl"
# The sample must be a trail pwgate itself accepts.
target/release/pwgate audit verify "$work/audit.jsonl"
target/release/pwgate audit report "$work/audit.jsonl" -o "$work/report.html"
# No network: the page is self-contained, and Chromium is kept offline.
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
  --no-first-run --disable-extensions --proxy-server=127.0.0.1:9 \
  --user-data-dir="$work/profile" --window-size=1000,1650 \
  --screenshot="$work/shot.png" "file://$work/report.html" >&2
mkdir -p "$(dirname "$out")"
cp "$work/shot.png" "$out"
echo "$out"
