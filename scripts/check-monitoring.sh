#!/usr/bin/env bash
# check-monitoring.sh - check the Prometheus alerting rules in monitoring/:
# `promtool check rules` (syntax, PromQL) and `promtool test rules` (the
# unit tests on synthetic series in pwgate-alerts.test.yml). promtool comes
# from Debian's prometheus package (scripts/install-deps.sh installs it).
# The Grafana dashboard and the rules' metric names are checked against a
# running pwgate by tests/metrics.rs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT/monitoring/prometheus"
command -v promtool >/dev/null 2>&1 || {
  echo "check-monitoring.sh: promtool not found (Debian package prometheus; run scripts/install-deps.sh as root)" >&2
  exit 1
}
promtool check rules pwgate-alerts.yml
promtool test rules pwgate-alerts.test.yml
