#!/usr/bin/env bash
# generate.sh - make THROWAWAY TEST CERTIFICATES for pwgate's tests and demo.
#
#   TEST ONLY. The CA key is written next to the certificates, unencrypted,
#   and anyone with the directory can mint certificates this CA signs. Never
#   use these files, or this CA, for anything but local tests.
#
# Usage: certs/generate.sh [--force] OUTDIR
#
# Writes into OUTDIR (created if missing):
#   ca.crt, ca.key          self-signed test CA (RSA 2048, 10 years)
#   server.crt, server.key  server certificate signed by the CA, serverAuth,
#                           SANs DNS:localhost, DNS:$(hostname), IP:127.0.0.1,
#                           IP:::1 and every address in $EXTRA_IPS (space separated)
#   client.crt, client.key  client certificate signed by the CA, clientAuth,
#                           CN=pwgate test client
#   server.san              the SAN list used (to notice when it must change)
#
# Idempotent: when OUTDIR already holds a complete, valid set (certificates
# chain to ca.crt, match their keys, are valid for another day, and the server
# certificate carries the SANs asked for), nothing is done. --force regenerates.
# RSA 2048 + SHA-256 works with rustls (ring provider) and with GnuTLS-based
# libldap/slapd.
set -euo pipefail

die() { echo "generate.sh: ERROR: $*" >&2; exit 1; }
usage() { echo "usage: $0 [--force] OUTDIR" >&2; exit 2; }

force=0
outdir=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help) usage ;;
    -*) echo "generate.sh: unknown option: $arg" >&2; usage ;;
    *) [[ -z "$outdir" ]] || usage; outdir="$arg" ;;
  esac
done
[[ -n "$outdir" ]] || usage
command -v openssl >/dev/null || die "openssl not found (run scripts/install-deps.sh)"

host="$(hostname 2>/dev/null || true)"
read -r -a extra_ips <<<"${EXTRA_IPS:-}"

# subjectAltName for the server certificate.
san="DNS:localhost"
if [[ -n "$host" && "$host" != "localhost" ]]; then san+=",DNS:$host"; fi
san+=",IP:127.0.0.1,IP:::1"
for ip in "${extra_ips[@]}"; do
  [[ "$ip" =~ ^[0-9A-Fa-f.:]+$ ]] || die "EXTRA_IPS entry is not an IP address: $ip"
  [[ "$ip" == "127.0.0.1" || "$ip" == "::1" ]] || san+=",IP:$ip"
done

files=(ca.crt ca.key server.crt server.key client.crt client.key)

# True when the public key of certificate $1 is the one of private key $2.
key_matches() {
  local a b
  a="$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null)" || return 1
  b="$(openssl pkey -in "$2" -pubout 2>/dev/null)" || return 1
  [[ -n "$a" && "$a" == "$b" ]]
}

# True when $outdir holds a complete, usable set matching the requested SANs.
existing_valid() {
  local f name
  for f in "${files[@]}"; do [[ -s "$outdir/$f" ]] || return 1; done
  for name in ca server client; do
    openssl x509 -in "$outdir/$name.crt" -noout -checkend 86400 >/dev/null 2>&1 || return 1
    key_matches "$outdir/$name.crt" "$outdir/$name.key" || return 1
  done
  openssl verify -CAfile "$outdir/ca.crt" -purpose sslserver "$outdir/server.crt" >/dev/null 2>&1 || return 1
  openssl verify -CAfile "$outdir/ca.crt" -purpose sslclient "$outdir/client.crt" >/dev/null 2>&1 || return 1
  # The server certificate must carry the SANs asked for this time (hostname and
  # EXTRA_IPS may differ from the previous run); generation records them.
  [[ -s "$outdir/server.san" && "$(<"$outdir/server.san")" == "$san" ]] || return 1
}

mkdir -p -- "$outdir"
if ((force == 0)) && existing_valid; then
  echo "generate.sh: test certificates in $outdir are present and valid; nothing to do (use --force to regenerate)"
  exit 0
fi

# Generate into a private scratch dir inside OUTDIR, then move into place, so a
# failure never leaves a half-written set behind.
work="$(mktemp -d "$outdir/.generate.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
umask 077

# A minimal openssl config of our own, so the system openssl.cnf cannot add or
# clash with extensions.
cat >"$work/openssl.cnf" <<EOF
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

serial() { echo "0x$(openssl rand -hex 16)"; }

run_openssl() {
  local out
  if ! out="$(openssl "$@" 2>&1)"; then
    echo "$out" >&2
    die "openssl $1 failed"
  fi
}

# Test CA.
run_openssl req -config "$work/openssl.cnf" -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
  -set_serial "$(serial)" -subj "/O=pwgate test/CN=pwgate test CA (TEST ONLY)" \
  -extensions ca_ext -keyout "$work/ca.key" -out "$work/ca.crt"

# Leaf certificates: key + CSR, then signed by the CA.
issue() { # name subject extensions-section
  run_openssl req -config "$work/openssl.cnf" -new -newkey rsa:2048 -nodes -sha256 \
    -subj "$2" -keyout "$work/$1.key" -out "$work/$1.csr"
  run_openssl x509 -req -sha256 -days 3650 -set_serial "$(serial)" -in "$work/$1.csr" \
    -CA "$work/ca.crt" -CAkey "$work/ca.key" \
    -extfile "$work/openssl.cnf" -extensions "$3" -out "$work/$1.crt"
}
issue server "/O=pwgate test/CN=localhost" server_ext
issue client "/O=pwgate test/CN=pwgate test client" client_ext

chmod 600 "$work"/*.key
echo "$san" >"$work/server.san"
chmod 644 "$work"/*.crt "$work/server.san"
for f in "${files[@]}" server.san; do mv -f -- "$work/$f" "$outdir/$f"; done

echo "generate.sh: wrote TEST-ONLY CA, server and client certificates to $outdir (server SANs: $san)"
