#!/usr/bin/env bash
# bench/run.sh - pwgate's pass-through and password-path benchmarks.
#
# Runs the same closed-loop load (bench/src/main.rs, `ldapbench`) against
#   direct   slapd itself
#   haproxy  HAProxy in TCP mode in front of slapd
#   pwgate   pwgate (release build) in front of slapd
# in the same run, targets interleaved per cell, and prints a table of
# throughput, latency and CPU seconds per 10,000 operations with ratios to
# direct and to HAProxy (bench/summarize.py). Everything listens on
# 127.0.0.1; every process started here is stopped on exit.
#
# Knobs (environment):
#   OPS="base sub bind passwd"  workloads (see ldapbench --help)
#   CONNS="1 16 64"             concurrent connections
#   TARGETS="direct haproxy pwgate"
#   DUR=5 WARM=1 REPS=3         seconds measured / warm-up, repeats (medians)
#   PORT_BASE=20389             slapd; haproxy +1, pwgate +2
#   WORK=/tmp/pwgate-bench      scratch directory (slapd data, logs, results)
#   PWGATE_THREADS=             pwgate worker threads (default: one per core)
#   HAPROXY_THREADS=1
set -euo pipefail

OPS=${OPS:-"base sub bind passwd"}
CONNS=${CONNS:-"1 16 64"}
TARGETS=${TARGETS:-"direct haproxy pwgate"}
DUR=${DUR:-5}; WARM=${WARM:-1}; REPS=${REPS:-3}
PORT_BASE=${PORT_BASE:-20389}
SLAPD_PORT=$PORT_BASE; HAPROXY_PORT=$((PORT_BASE + 1)); PWGATE_PORT=$((PORT_BASE + 2))
HAPROXY_THREADS=${HAPROXY_THREADS:-1}

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for p in "$SLAPD_PORT" "$HAPROXY_PORT" "$PWGATE_PORT"; do
  port_in_use "$p" && die "127.0.0.1:$p is in use (set PORT_BASE)"
done
start_slapd

# --- haproxy, TCP mode ---------------------------------------------------------
HAPROXY_PID=
if [[ " $TARGETS " == *" haproxy "* ]]; then
  cat >"$RES/haproxy.cfg" <<CFG
global
  nbthread $HAPROXY_THREADS
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend ldap
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend slapd
backend slapd
  server s1 127.0.0.1:$SLAPD_PORT
CFG
  haproxy -db -f "$RES/haproxy.cfg" >"$RES/haproxy.log" 2>&1 &
  HAPROXY_PID=$!; PIDS+=("$HAPROXY_PID")
  wait_port "$HAPROXY_PORT"
fi

# --- pwgate ------------------------------------------------------------------
PWGATE_PID=
if [[ " $TARGETS " == *" pwgate "* ]]; then
  # The passwd workload runs on plain LDAP (as for the other targets), so
  # cleartext password changes are allowed here; the policy still checks them.
  env ${PWGATE_THREADS:+TOKIO_WORKER_THREADS=$PWGATE_THREADS} \
    "$PWGATE" serve --upstream "ldap://127.0.0.1:$SLAPD_PORT" --listen "127.0.0.1:$PWGATE_PORT" \
    --allow-cleartext-password-changes --log-level warn >"$RES/pwgate.log" 2>&1 &
  PWGATE_PID=$!; PIDS+=("$PWGATE_PID")
  wait_port "$PWGATE_PORT"
fi

port_of() {
  case $1 in direct) echo "$SLAPD_PORT" ;; haproxy) echo "$HAPROXY_PORT" ;; pwgate) echo "$PWGATE_PORT" ;; esac
}
proxy_pid_of() {
  case $1 in haproxy) echo "$HAPROXY_PID" ;; pwgate) echo "$PWGATE_PID" ;; *) echo "" ;; esac
}

say "results in $RES"
for rep in $(seq "$REPS"); do
  for op in $OPS; do
    for conns in $CONNS; do
      for target in $TARGETS; do
        pids=(--pid "slapd=$SLAPD_PID")
        proxy=$(proxy_pid_of "$target")
        [[ -n $proxy ]] && pids+=(--pid "proxy=$proxy")
        users=$USERS
        [[ $op == passwd ]] && (( conns > PWUSERS )) && die "passwd needs conns <= $PWUSERS"
        timeout $(( ${DUR%.*} + ${WARM%.*} + 60 )) "$LDAPBENCH" --target "127.0.0.1:$(port_of "$target")" \
          --op "$op" --conns "$conns" --duration "$DUR" --warmup "$WARM" --users "$users" \
          "${pids[@]}" --label "$target rep=$rep" --json "$JSON" >&2 ||
          say "run failed: $target $op conns=$conns (see above)"
      done
    done
  done
done

python3 "$ROOT/bench/summarize.py" "$JSON" | tee "$RES/table.md"
