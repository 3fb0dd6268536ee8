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

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OPS=${OPS:-"base sub bind passwd"}
CONNS=${CONNS:-"1 16 64"}
TARGETS=${TARGETS:-"direct haproxy pwgate"}
DUR=${DUR:-5}; WARM=${WARM:-1}; REPS=${REPS:-3}
PORT_BASE=${PORT_BASE:-20389}
SLAPD_PORT=$PORT_BASE; HAPROXY_PORT=$((PORT_BASE + 1)); PWGATE_PORT=$((PORT_BASE + 2))
WORK=${WORK:-/tmp/pwgate-bench}
HAPROXY_THREADS=${HAPROXY_THREADS:-1}
USERS=1000
PWUSERS=256
SUFFIX="dc=example,dc=com"

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

"$ROOT/scripts/install-deps.sh" --bench >&2
command -v cargo >/dev/null || die "cargo is needed to build pwgate and ldapbench"
say "building pwgate and ldapbench (release)"
(cd "$ROOT" && cargo build --release --quiet)
(cd "$ROOT/bench" && cargo build --release --quiet)
PWGATE="$ROOT/target/release/pwgate"
LDAPBENCH="$ROOT/bench/target/release/ldapbench"

RES="$WORK/results-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RES"
JSON="$RES/results.jsonl"

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$SLAPD_PORT" "$HAPROXY_PORT" "$PWGATE_PORT"; do
  port_in_use "$p" && die "127.0.0.1:$p is in use (set PORT_BASE)"
done

wait_port() {
  local i
  for i in $(seq 100); do port_in_use "$1" && return 0; sleep 0.05; done
  die "nothing listens on 127.0.0.1:$1"
}

# --- slapd: users userK/passK, password-change accounts pwuserK -------------
SLAPD_DIR="$WORK/slapd"
rm -rf "$SLAPD_DIR"; mkdir -p "$SLAPD_DIR/data"
rootpw=$(slappasswd -s admin-secret)
cat >"$SLAPD_DIR/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $SLAPD_DIR/slapd.pid
database mdb
maxsize 268435456
dbnosync
suffix "$SUFFIX"
rootdn "cn=admin,$SUFFIX"
rootpw $rootpw
directory $SLAPD_DIR/data
index objectClass,uid eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
CONF
say "seeding slapd with $USERS users and $PWUSERS password-change accounts"
python3 - "$USERS" "$PWUSERS" >"$SLAPD_DIR/seed.ldif" <<'PY'
import sys
users, pwusers = int(sys.argv[1]), int(sys.argv[2])
s = "dc=example,dc=com"
print(f"dn: {s}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n")
print(f"dn: ou=people,{s}\nobjectClass: organizationalUnit\nou: people\n")
for k in range(users):
    print(f"dn: uid=user{k},ou=people,{s}\nobjectClass: inetOrgPerson\nuid: user{k}\ncn: User {k}\nsn: {k}\n"
          f"mail: user{k}@example.com\nuserPassword: pass{k}\n")
for k in range(pwusers):
    print(f"dn: uid=pwuser{k},ou=people,{s}\nobjectClass: inetOrgPerson\nuid: pwuser{k}\ncn: Pw {k}\nsn: {k}\n"
          f"userPassword: Kv7#qLp2-Tz9!mWd\n")
PY
slapadd -q -f "$SLAPD_DIR/slapd.conf" -l "$SLAPD_DIR/seed.ldif"
/usr/sbin/slapd -h "ldap://127.0.0.1:$SLAPD_PORT/" -f "$SLAPD_DIR/slapd.conf" -d none \
  </dev/null >"$RES/slapd.log" 2>&1 &
SLAPD_PID=$!; PIDS+=("$SLAPD_PID")
wait_port "$SLAPD_PORT"

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
