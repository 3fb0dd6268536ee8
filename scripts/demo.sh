#!/usr/bin/env bash
# pwgate demo: a throwaway OpenLDAP slapd with sample users, and pwgate in
# front of it, on this machine only (127.0.0.1). Installs what it needs
# (Debian packages, as root), builds pwgate, prints commands to try, and runs
# pwgate in the foreground. Ctrl-C stops pwgate and the demo slapd.
#
# Settings (environment):
#   DEMO_DIR          state directory (default: .demo in the repository)
#   DEMO_SLAPD_PORT   slapd's plain LDAP port       (default 3389)
#   DEMO_LDAP_PORT    pwgate's LDAP+StartTLS port   (default 1389)
#   DEMO_LDAPS_PORT   pwgate's LDAPS port           (default 1636)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO_DIR=${DEMO_DIR:-$ROOT/.demo}
SLAPD_PORT=${DEMO_SLAPD_PORT:-3389}
LDAP_PORT=${DEMO_LDAP_PORT:-1389}
LDAPS_PORT=${DEMO_LDAPS_PORT:-1636}
SUFFIX="dc=example,dc=com"
SLAPD_DIR="$DEMO_DIR/slapd"

say() { echo "demo: $*" >&2; }
die() { echo "demo: error: $*" >&2; exit 1; }

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

"$ROOT/scripts/install-deps.sh"
command -v cargo >/dev/null || die "cargo is not installed (a Rust toolchain is needed to build pwgate)"

say "building pwgate (release)"
(cd "$ROOT" && cargo build --release --quiet)
PWGATE="$ROOT/target/release/pwgate"

mkdir -p "$DEMO_DIR"
"$ROOT/certs/generate.sh" "$DEMO_DIR/certs" >&2
CA="$DEMO_DIR/certs/ca.crt"

for p in "$SLAPD_PORT" "$LDAP_PORT" "$LDAPS_PORT"; do
  port_in_use "$p" && die "127.0.0.1:$p is already in use (set DEMO_SLAPD_PORT / DEMO_LDAP_PORT / DEMO_LDAPS_PORT)"
done

# A fresh slapd every run, so the sample passwords below are always valid.
rm -rf "$SLAPD_DIR"
mkdir -p "$SLAPD_DIR/data"
{
  slapd_conf "$SLAPD_DIR" "$SUFFIX" 67108864
  cat <<CONF
access to attrs=userPassword
  by self write
  by dn.exact="uid=helpdesk,ou=people,$SUFFIX" write
  by anonymous auth
  by * none
access to * by * read
CONF
} >"$SLAPD_DIR/slapd.conf"
{
  printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n' "$SUFFIX"
  printf 'dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n\n' "$SUFFIX"
  uid=1000
  for u in alice:Alice-Passw0rd bob:Bob-Passw0rd helpdesk:Helpdesk-Passw0rd; do
    name=${u%%:*}; pw=${u#*:}; uid=$((uid + 1))
    printf 'dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@example.com\nuserPassword: %s\n\n' \
      "$name" "$SUFFIX" "$name" "${name^}" "${name^}" "$name" "$(slappasswd -s "$pw")"
  done
} >"$SLAPD_DIR/seed.ldif"
slapadd -q -f "$SLAPD_DIR/slapd.conf" -l "$SLAPD_DIR/seed.ldif"

/usr/sbin/slapd -h "ldap://127.0.0.1:$SLAPD_PORT/" -f "$SLAPD_DIR/slapd.conf" -d 0 \
  </dev/null >"$SLAPD_DIR/slapd.log" 2>&1 &
SLAPD_PID=$!
cleanup() { kill "$SLAPD_PID" 2>/dev/null || true; wait "$SLAPD_PID" 2>/dev/null || true; say "stopped"; }
trap cleanup EXIT
for _ in $(seq 50); do
  ldapsearch -x -LLL -H "ldap://127.0.0.1:$SLAPD_PORT" -b "" -s base >/dev/null 2>&1 && break
  kill -0 "$SLAPD_PID" 2>/dev/null || { cat "$SLAPD_DIR/slapd.log" >&2; die "slapd did not start"; }
  sleep 0.1
done

ALICE="uid=alice,ou=people,$SUFFIX"
cat <<TRY

pwgate is in front of a demo slapd (127.0.0.1:$SLAPD_PORT, users alice/bob/helpdesk).
  LDAP + StartTLS : ldap://127.0.0.1:$LDAP_PORT      LDAPS : ldaps://127.0.0.1:$LDAPS_PORT
Binds with a password and password changes must be encrypted (-ZZ = StartTLS):
on plain LDAP pwgate answers confidentialityRequired (13).
In another terminal, try:

  export LDAPTLS_CACERT=$CA

  # a weak password: refused by pwgate (19), slapd never sees it
  ldappasswd -ZZ -x -H ldap://127.0.0.1:$LDAP_PORT -D $ALICE -w Alice-Passw0rd -a Alice-Passw0rd -s 'P@ssw0rd2024!'

  # a strong one: forwarded, accepted by slapd
  ldappasswd -ZZ -x -H ldap://127.0.0.1:$LDAP_PORT -D $ALICE -w Alice-Passw0rd -a Alice-Passw0rd -s 'tangerine-Otter-42-lamp'

  # the same change without TLS: its bind is refused with confidentialityRequired (13)
  ldappasswd -x -H ldap://127.0.0.1:$LDAP_PORT -D $ALICE -w tangerine-Otter-42-lamp -s 'another-Long-phrase-7'

  # everything else passes through unchanged
  ldapsearch -x -LLL -H ldaps://127.0.0.1:$LDAPS_PORT -b ou=people,$SUFFIX '(uid=alice)' cn mail

  # the policy offline
  echo 'Summer2025!!' | $PWGATE check

Audit events appear below. Ctrl-C stops pwgate and slapd.

TRY

"$PWGATE" serve --upstream "ldap://127.0.0.1:$SLAPD_PORT" \
  --listen "127.0.0.1:$LDAP_PORT" --listen-ldaps "127.0.0.1:$LDAPS_PORT" \
  --certificate "$DEMO_DIR/certs/server.crt" --private-key "$DEMO_DIR/certs/server.key" &
PWGATE_PID=$!
trap 'kill "$PWGATE_PID" 2>/dev/null || true; cleanup' EXIT
trap 'exit 130' INT TERM
wait "$PWGATE_PID"
