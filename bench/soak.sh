#!/usr/bin/env bash
# bench/soak.sh - pwgate under many connections, and its memory per idle one.
#
# 1. Load: LOAD_CONNS connections doing searches and binds (ldapbench
#    --op mixed) plus PW_CONNS connections changing passwords (RFC 3062),
#    both for LOAD_SECS seconds, through pwgate to slapd. Passes when both
#    report zero errors (every answer checked: message ID, result code,
#    entry count). pwgate's peak RSS is sampled every second.
# 2. Idle: IDLE_CONNS connections opened through pwgate and held; pwgate's
#    RSS before and while they are open gives the memory per idle
#    connection, with the descriptors pwgate holds meanwhile (an idle
#    client that sent nothing has no connection to slapd yet); and RSS
#    again 10 s after they closed (freed memory given back).
# Everything on 127.0.0.1; every process started here is stopped on exit.
#
# Knobs: LOAD_CONNS=1000 PW_CONNS=8 LOAD_SECS=60 IDLE_CONNS=9500
# (pwgate holds up to two descriptors per client, so IDLE_CONNS is bounded by half
# the open-file limit; this machine's hard limit is 20,000)
#        PORT_BASE=21389 WORK=/tmp/pwgate-bench
set -euo pipefail

LOAD_CONNS=${LOAD_CONNS:-1000}
PW_CONNS=${PW_CONNS:-8}
LOAD_SECS=${LOAD_SECS:-60}
IDLE_CONNS=${IDLE_CONNS:-9500}
PORT_BASE=${PORT_BASE:-21389}
SLAPD_PORT=$PORT_BASE; PWGATE_PORT=$((PORT_BASE + 2))

# Each idle client costs a descriptor in ldapbench, two in pwgate, one in slapd.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) >= 2 * IDLE_CONNS + 500 )) || {
  echo "bench: error: open-file limit $(ulimit -n) is too low for IDLE_CONNS=$IDLE_CONNS" >&2; exit 1; }

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for p in "$SLAPD_PORT" "$PWGATE_PORT"; do
  port_in_use "$p" && die "127.0.0.1:$p is in use (set PORT_BASE)"
done
start_slapd

cat >"$RES/pwgate.toml" <<TOML
[upstream]
urls = ["ldap://127.0.0.1:$SLAPD_PORT"]
[listen]
ldap = "127.0.0.1:$PWGATE_PORT"
allow_cleartext_password_changes = true
$("$PWGATE" serve --help | grep -q -- --allow-cleartext-binds && echo "allow_cleartext_binds = true")
[limits]
max_connections = $((IDLE_CONNS + LOAD_CONNS + 100))
[log]
level = "warn"
TOML
"$PWGATE" serve --config "$RES/pwgate.toml" >"$RES/pwgate.log" 2>&1 &
PWGATE_PID=$!; PIDS+=("$PWGATE_PID")
wait_port "$PWGATE_PORT"
TARGET="127.0.0.1:$PWGATE_PORT"

# Samples pwgate's RSS every second into a file until killed.
sample_rss() { while kill -0 "$PWGATE_PID" 2>/dev/null; do rss_kib "$PWGATE_PID" >>"$1" || true; sleep 1; done; }

rss_start=$(rss_kib "$PWGATE_PID")
say "load: $LOAD_CONNS connections (mixed) + $PW_CONNS password changers for $LOAD_SECS s"
sample_rss "$RES/rss-load.txt" & SAMPLER=$!; PIDS+=("$SAMPLER")
timeout $((LOAD_SECS + 90)) "$LDAPBENCH" --target "$TARGET" --op mixed --conns "$LOAD_CONNS" \
  --duration "$LOAD_SECS" --warmup 2 --pid "slapd=$SLAPD_PID" --pid "proxy=$PWGATE_PID" \
  --label "soak-mixed" --json "$JSON" >"$RES/load-mixed.txt" 2>&1 & MIXED=$!
timeout $((LOAD_SECS + 90)) "$LDAPBENCH" --target "$TARGET" --op passwd --conns "$PW_CONNS" \
  --duration "$LOAD_SECS" --warmup 2 --label "soak-passwd" --json "$JSON" >"$RES/load-passwd.txt" 2>&1 & PASSWD=$!
load_ok=1
wait "$MIXED" || load_ok=0
wait "$PASSWD" || load_ok=0
kill "$SAMPLER" 2>/dev/null || true
rss_load_peak=$(sort -n "$RES/rss-load.txt" | tail -1)
cat "$RES/load-mixed.txt" "$RES/load-passwd.txt"

sleep 2
rss_before_idle=$(rss_kib "$PWGATE_PID")
say "idle: $IDLE_CONNS connections held open"
"$LDAPBENCH" --target "$TARGET" --op idle --conns "$IDLE_CONNS" --warmup 10 --duration 5 \
  --threads 2 --label "soak-idle" >"$RES/idle.txt" 2>&1 & IDLE=$!
sleep 12
rss_idle=$(rss_kib "$PWGATE_PID")
fds_idle=$(ls "/proc/$PWGATE_PID/fd" | wc -l)
idle_ok=1
wait "$IDLE" || idle_ok=0
sleep 10
rss_after_idle=$(rss_kib "$PWGATE_PID")
cat "$RES/idle.txt"
per_conn=$(( (rss_idle - rss_before_idle) * 1024 / IDLE_CONNS ))

{
  echo "| measure | value |"
  echo "|---|---:|"
  echo "| load: $LOAD_CONNS mixed + $PW_CONNS passwd connections, $LOAD_SECS s | $([[ $load_ok == 1 ]] && echo "0 errors" || echo "ERRORS (see above)") |"
  echo "| pwgate RSS at start | $((rss_start / 1024)) MiB |"
  echo "| pwgate peak RSS under load | $((rss_load_peak / 1024)) MiB |"
  echo "| pwgate RSS before idle connections | $((rss_before_idle / 1024)) MiB |"
  echo "| pwgate RSS with $IDLE_CONNS idle connections | $((rss_idle / 1024)) MiB |"
  echo "| RSS per idle client connection | $per_conn bytes |"
  echo "| pwgate descriptors with $IDLE_CONNS idle connections | $fds_idle |"
  echo "| pwgate RSS 10 s after they closed | $((rss_after_idle / 1024)) MiB |"
  echo "| idle connections all held | $([[ $idle_ok == 1 ]] && echo yes || echo NO) |"
} | tee "$RES/soak.md"
[[ $load_ok == 1 && $idle_ok == 1 ]]
