# bench/common.sh - shared by bench/run.sh and bench/soak.sh (sourced).
# Builds pwgate and ldapbench, prepares a results directory, starts a private
# slapd on 127.0.0.1:$SLAPD_PORT seeded with users userK/passK and
# password-change accounts pwuserK, and stops every process it or the caller
# registered in PIDS on exit.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${WORK:-/tmp/pwgate-bench}
USERS=${USERS:-1000}
PWUSERS=${PWUSERS:-256}
SUFFIX="dc=example,dc=com"

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

"$ROOT/scripts/install-deps.sh" --bench >&2
command -v cargo >/dev/null || die "cargo is needed to build pwgate and ldapbench"
say "building pwgate and ldapbench (release)"
(cd "$ROOT" && cargo build --release --quiet)
(cd "$ROOT/bench" && cargo build --release --quiet)
# PWGATE_BIN: measure another pwgate binary (e.g. a build of an earlier commit).
PWGATE=${PWGATE_BIN:-$ROOT/target/release/pwgate}
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

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# Resident memory of a process in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# slapd with users userK/passK and password-change accounts pwuserK; also
# LDAPS on 127.0.0.1:$SLAPD_TLS_PORT when that is set.
start_slapd() {
  SLAPD_DIR="$WORK/slapd"
  rm -rf "$SLAPD_DIR"; mkdir -p "$SLAPD_DIR/data"
  local urls="ldap://127.0.0.1:$SLAPD_PORT/"
  {
    if [[ -n ${SLAPD_TLS_PORT:-} ]]; then
      make_certs
      printf 'TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n' \
        "$CERTS/ca.crt" "$CERTS/server.crt" "$CERTS/server.key"
      urls="$urls ldaps://127.0.0.1:$SLAPD_TLS_PORT/"
    fi
    slapd_conf "$SLAPD_DIR" "$SUFFIX" 268435456
    cat <<CONF
dbnosync
loglevel 0
index objectClass,uid eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
CONF
  } >"$SLAPD_DIR/slapd.conf"
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
  /usr/sbin/slapd -h "$urls" -f "$SLAPD_DIR/slapd.conf" -d none \
    </dev/null >"$RES/slapd.log" 2>&1 &
  SLAPD_PID=$!; PIDS+=("$SLAPD_PID")
  wait_port "$SLAPD_PORT"
  [[ -z ${SLAPD_TLS_PORT:-} ]] || wait_port "$SLAPD_TLS_PORT"
}

# Test certificates (certs/generate.sh) in $CERTS, and $CERTS/server.pem
# (certificate and key in one file, for HAProxy).
make_certs() {
  CERTS="$WORK/certs"
  "$ROOT/certs/generate.sh" "$CERTS" >&2
  cat "$CERTS/server.crt" "$CERTS/server.key" >"$CERTS/server.pem"
}
