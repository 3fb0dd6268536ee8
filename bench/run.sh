#!/usr/bin/env bash
# bench/run.sh - pwgate's pass-through and password-path benchmarks.
#
# Runs the same closed-loop load (bench/src/main.rs, `ldapbench`) against
#   direct   slapd itself
#   haproxy  HAProxy in TCP mode in front of slapd
#   pwgate   pwgate (release build) in front of slapd
#   pwgate1  the same with one worker thread (scaling: compare with pwgate)
#   haproxy2 HAProxy with two threads (scaling: compare with haproxy)
#   pwgate-base     another pwgate binary, PWGATE_BASE_BIN=path (e.g. a build
#                   of an earlier commit), to measure a change in the same run
#   pwgate-lookup   pwgate with [directory] account lookups (60 s cache)
#   pwgate-nocache  the same with cache_secs = 0: one search per change
#                   (the lookup targets matter for OPS=passwd)
#   pwgate-tickets  pwgate sending TLS 1.3 session tickets ([listen]
#                   tls13_session_tickets = 2; the default is none), so
#                   clients can resume as they do with HAProxy (TLS=client)
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
#   TLS=off                     off | client | both | upstream:
#                                 client   clients use LDAPS; the proxy terminates
#                                          TLS (direct: slapd's own LDAPS)
#                                 both     as client, and the proxy talks LDAPS to
#                                          slapd (verifying its certificate)
#                                 upstream clients use plain LDAP; the proxy talks
#                                          LDAPS to slapd (direct: plain)
#                               certificates: certs/generate.sh, under $WORK/certs
set -euo pipefail

OPS=${OPS:-"base sub bind passwd"}
CONNS=${CONNS:-"1 16 64"}
TARGETS=${TARGETS:-"direct haproxy pwgate"}
DUR=${DUR:-5}; WARM=${WARM:-1}; REPS=${REPS:-3}
PORT_BASE=${PORT_BASE:-20389}
SLAPD_PORT=$PORT_BASE; HAPROXY_PORT=$((PORT_BASE + 1)); PWGATE_PORT=$((PORT_BASE + 2))
PWGATE1_PORT=$((PORT_BASE + 3)); HAPROXY2_PORT=$((PORT_BASE + 4))
LOOKUP_PORT=$((PORT_BASE + 7)); NOCACHE_PORT=$((PORT_BASE + 8)); BASE_PORT=$((PORT_BASE + 9))
TICKETS_PORT=$((PORT_BASE + 16))
HAPROXY_THREADS=${HAPROXY_THREADS:-1}
TLS=${TLS:-off}
case $TLS in off | client | both | upstream) ;; *) echo "bench: error: TLS=$TLS" >&2; exit 2 ;; esac
client_tls() { [[ $TLS == client || $TLS == both ]]; }
upstream_tls() { [[ $TLS == upstream || $TLS == both ]]; }
# slapd's LDAPS port, and the plain-LDAP ports pwgate keeps when it listens
# for LDAPS only.
[[ $TLS == off ]] || SLAPD_TLS_PORT=$((PORT_BASE + 5))
PLAIN_SIDE_PORT=$((PORT_BASE + 10))

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for p in "$SLAPD_PORT" "$HAPROXY_PORT" "$PWGATE_PORT" "$PWGATE1_PORT" "$HAPROXY2_PORT" \
  "$LOOKUP_PORT" "$NOCACHE_PORT" "$BASE_PORT" "$TICKETS_PORT" ${SLAPD_TLS_PORT:-} \
  $(seq "$PLAIN_SIDE_PORT" $((PLAIN_SIDE_PORT + 5))); do
  port_in_use "$p" && die "127.0.0.1:$p is in use (set PORT_BASE)"
done
start_slapd


# --- haproxy, TCP mode ---------------------------------------------------------
# start_haproxy NAME PORT THREADS: sets NAME_PID.
start_haproxy() {
  local name=$1 port=$2 threads=$3
  cat >"$RES/$name.cfg" <<CFG
global
  nbthread $threads
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend ldap
  bind 127.0.0.1:$port$(client_tls && echo " ssl crt $CERTS/server.pem")
  default_backend slapd
backend slapd
  server s1 $(if upstream_tls; then
    echo "127.0.0.1:$SLAPD_TLS_PORT ssl verify required ca-file $CERTS/ca.crt"
  else
    echo "127.0.0.1:$SLAPD_PORT"
  fi)
CFG
  haproxy -db -f "$RES/$name.cfg" >"$RES/$name.log" 2>&1 &
  printf -v "${name^^}_PID" '%s' "$!"; PIDS+=("$!")
  wait_port "$port"
}
HAPROXY_PID=; HAPROXY2_PID=
[[ " $TARGETS " == *" haproxy "* ]] && start_haproxy haproxy "$HAPROXY_PORT" "$HAPROXY_THREADS"
[[ " $TARGETS " == *" haproxy2 "* ]] && start_haproxy haproxy2 "$HAPROXY2_PORT" 2

# --- pwgate ------------------------------------------------------------------
# start_pwgate NAME PORT THREADS PLAIN_SIDE_PORT [CONFIG]: sets NAME_PID.
# THREADS empty: the default.
# The passwd workload runs on plain LDAP (as for the other targets), so
# cleartext password changes are allowed here; the policy still checks them.
# The log level is the default (info), so every decision's audit event is
# written, as in production (pass-through writes nothing per request).
start_pwgate() {
  local name=$1 port=$2 threads=$3 plain_side=$4 config=(${5:+--config "$5"}) bin=$PWGATE
  [[ $name == pwgate-base ]] && bin=$PWGATE_BASE_BIN
  local listen=(--listen "127.0.0.1:$port") upstream=(--upstream "ldap://127.0.0.1:$SLAPD_PORT")
  if client_tls; then
    listen=(--listen "127.0.0.1:$plain_side" --listen-ldaps "127.0.0.1:$port"
      --certificate "$CERTS/server.crt" --private-key "$CERTS/server.key")
  fi
  if upstream_tls; then
    upstream=(--upstream "ldaps://127.0.0.1:$SLAPD_TLS_PORT" --upstream-ca "$CERTS/ca.crt")
  fi
  # --workers for this build; TOKIO_WORKER_THREADS for builds before it.
  local workers=()
  "$bin" serve --help | grep -q -- --workers && workers=(${threads:+--workers "$threads"})
  # Simple binds on plain LDAP are refused by default since --allow-cleartext-binds.
  "$bin" serve --help | grep -q -- --allow-cleartext-binds && workers+=(--allow-cleartext-binds)
  env ${threads:+TOKIO_WORKER_THREADS=$threads} \
    PWGATE_BENCH_LOOKUP_SECRET=admin-secret \
    "$bin" serve "${config[@]}" "${upstream[@]}" "${listen[@]}" \
    "${workers[@]}" --allow-cleartext-password-changes >"$RES/$name.log" 2>&1 &
  local var=${name^^}; printf -v "${var//-/_}_PID" '%s' "$!"; PIDS+=("$!")
  wait_port "$port"
}
# lookup_config CACHE_SECS: a config with account lookups by slapd's admin.
lookup_config() {
  local file="$RES/lookup-$1.toml"
  cat >"$file" <<TOML
[directory]
urls = ["ldap://127.0.0.1:$SLAPD_PORT"]
allow_cleartext = true
bind_dn = "cn=admin,$SUFFIX"
bind_password_env = "PWGATE_BENCH_LOOKUP_SECRET"
cache_secs = $1
TOML
  echo "$file"
}
PWGATE_PID=; PWGATE1_PID=; PWGATE_LOOKUP_PID=; PWGATE_NOCACHE_PID=; PWGATE_BASE_PID=; PWGATE_TICKETS_PID=
[[ " $TARGETS " == *" pwgate "* ]] && start_pwgate pwgate "$PWGATE_PORT" "${PWGATE_THREADS:-}" "$PLAIN_SIDE_PORT"
[[ " $TARGETS " == *" pwgate1 "* ]] && start_pwgate pwgate1 "$PWGATE1_PORT" 1 $((PLAIN_SIDE_PORT + 1))
if [[ " $TARGETS " == *" pwgate-base "* ]]; then
  [[ -x ${PWGATE_BASE_BIN:-} ]] || die "pwgate-base needs PWGATE_BASE_BIN=path to a pwgate binary"
  start_pwgate pwgate-base "$BASE_PORT" "${PWGATE_THREADS:-}" $((PLAIN_SIDE_PORT + 4))
fi
[[ " $TARGETS " == *" pwgate-lookup "* ]] && start_pwgate pwgate-lookup "$LOOKUP_PORT" \
  "${PWGATE_THREADS:-}" $((PLAIN_SIDE_PORT + 2)) "$(lookup_config 60)"
[[ " $TARGETS " == *" pwgate-nocache "* ]] && start_pwgate pwgate-nocache "$NOCACHE_PORT" \
  "${PWGATE_THREADS:-}" $((PLAIN_SIDE_PORT + 3)) "$(lookup_config 0)"
if [[ " $TARGETS " == *" pwgate-tickets "* ]]; then
  printf '[listen]\ntls13_session_tickets = 2\n' >"$RES/tickets.toml"
  start_pwgate pwgate-tickets "$TICKETS_PORT" "${PWGATE_THREADS:-}" $((PLAIN_SIDE_PORT + 5)) "$RES/tickets.toml"
fi

port_of() {
  case $1 in
    direct) if client_tls; then echo "$SLAPD_TLS_PORT"; else echo "$SLAPD_PORT"; fi ;;
    haproxy) echo "$HAPROXY_PORT" ;; pwgate) echo "$PWGATE_PORT" ;;
    pwgate1) echo "$PWGATE1_PORT" ;; haproxy2) echo "$HAPROXY2_PORT" ;;
    pwgate-base) echo "$BASE_PORT" ;; pwgate-lookup) echo "$LOOKUP_PORT" ;; pwgate-nocache) echo "$NOCACHE_PORT" ;;
    pwgate-tickets) echo "$TICKETS_PORT" ;;
  esac
}
proxy_pid_of() {
  case $1 in
    haproxy) echo "$HAPROXY_PID" ;; pwgate) echo "$PWGATE_PID" ;;
    pwgate1) echo "$PWGATE1_PID" ;; haproxy2) echo "$HAPROXY2_PID" ;;
    pwgate-base) echo "$PWGATE_BASE_PID" ;; pwgate-lookup) echo "$PWGATE_LOOKUP_PID" ;; pwgate-nocache) echo "$PWGATE_NOCACHE_PID" ;;
    pwgate-tickets) echo "$PWGATE_TICKETS_PID" ;;
    *) echo "" ;;
  esac
}

say "results in $RES (TLS=$TLS)"
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
          "${pids[@]}" ${CERTS:+$(client_tls && echo "--tls-ca $CERTS/ca.crt")} \
          --label "$target rep=$rep tls=$TLS" --json "$JSON" >&2 ||
          say "run failed: $target $op conns=$conns (see above)"
      done
    done
  done
done

python3 "$ROOT/bench/summarize.py" "$JSON" | tee "$RES/table.md"
