#!/usr/bin/env bash
# bench/profile.sh - where pwgate's CPU time goes under a pass-through load.
#
# Starts the benchmark slapd and pwgate (release build, debug symbols) on
# 127.0.0.1, runs ldapbench through pwgate for PROFILE_SECS seconds, and
# samples pwgate's threads with `perf record` (software cpu-clock event, so
# it works on VMs without hardware counters). Writes:
#   $RES/perf.data            the samples
#   $RES/perf-top.txt         the hottest functions (self time), text
#   docs/flamegraph-OP.svg    a flame graph (inferno), or OUT=path
# perf (Debian's linux-perf) and inferno (crates.io) are installed when
# missing.
#
# Knobs: OP=base CONNS=16 PROFILE_SECS=10 FREQ=999 PWGATE_THREADS=
#        PORT_BASE=22389 WORK=/tmp/pwgate-bench OUT=docs/flamegraph-$OP.svg
set -euo pipefail

OP=${OP:-base}
CONNS=${CONNS:-16}
PROFILE_SECS=${PROFILE_SECS:-10}
FREQ=${FREQ:-999}
PORT_BASE=${PORT_BASE:-22389}
SLAPD_PORT=$PORT_BASE; PWGATE_PORT=$((PORT_BASE + 2))

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
OUT=${OUT:-$ROOT/docs/flamegraph-$OP.svg}
if ! command -v perf >/dev/null; then
  say "installing perf (linux-perf)"
  apt-get update >&2 && apt-get install -y linux-perf >&2 || die "cannot install linux-perf"
fi
if ! command -v inferno-flamegraph >/dev/null; then
  say "installing inferno (cargo install inferno)"
  cargo install --locked inferno >&2 || say "cannot install inferno: no flame graph"
  export PATH="$HOME/.cargo/bin:$PATH"
fi
for p in "$SLAPD_PORT" "$PWGATE_PORT"; do
  port_in_use "$p" && die "127.0.0.1:$p is in use (set PORT_BASE)"
done
start_slapd

env ${PWGATE_THREADS:+TOKIO_WORKER_THREADS=$PWGATE_THREADS} \
  "$PWGATE" serve --upstream "ldap://127.0.0.1:$SLAPD_PORT" --listen "127.0.0.1:$PWGATE_PORT" \
  --allow-cleartext-password-changes --allow-cleartext-binds --log-level warn >"$RES/pwgate.log" 2>&1 &
PWGATE_PID=$!; PIDS+=("$PWGATE_PID")
wait_port "$PWGATE_PORT"

say "profiling pwgate ($OP, $CONNS connections, ${PROFILE_SECS}s at ${FREQ} Hz)"
timeout $((PROFILE_SECS + 70)) "$LDAPBENCH" --target "127.0.0.1:$PWGATE_PORT" --op "$OP" \
  --conns "$CONNS" --duration "$((PROFILE_SECS + 2))" --warmup 1 \
  --pid "proxy=$PWGATE_PID" --label "pwgate profiled" --json "$JSON" >&2 &
LOAD_PID=$!; PIDS+=("$LOAD_PID")
sleep 1.5
perf record -q -e cpu-clock -F "$FREQ" -g --call-graph dwarf,16384 -p "$PWGATE_PID" \
  -o "$RES/perf.data" -- sleep "$PROFILE_SECS" >&2 2>"$RES/perf-record.log" ||
  die "perf record failed: $(tail -3 "$RES/perf-record.log")"
wait "$LOAD_PID" || die "the load failed"

perf report -i "$RES/perf.data" --no-children --percent-limit 0.7 --stdio \
  --sort symbol -g none 2>/dev/null | grep -v '^$' >"$RES/perf-top.txt"
say "hottest functions (self time): $RES/perf-top.txt"
head -45 "$RES/perf-top.txt" >&2

if command -v inferno-collapse-perf >/dev/null && command -v inferno-flamegraph >/dev/null; then
  mkdir -p "$(dirname "$OUT")"
  perf script -i "$RES/perf.data" 2>/dev/null | inferno-collapse-perf >"$RES/stacks.folded"
  inferno-flamegraph --title "pwgate, $OP, $CONNS connections (perf cpu-clock ${FREQ} Hz)" \
    <"$RES/stacks.folded" >"$OUT"
  say "flame graph: $OUT"
else
  say "inferno not installed (cargo install inferno): no flame graph"
fi
