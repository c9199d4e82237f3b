#!/usr/bin/env bash
# A development CA and the certificates for mutual TLS between Envoy and metaroute (ext_proc, xDS).
#
#   scripts/dev-certs.sh <dir> [client-name ...]     (default client: envoy)
#
# <dir>/ca.crt, ca.key              the CA (kept out of every container; reused by later runs)
# <dir>/metaroute/{ca.crt,tls.crt,tls.key}   metaroute's server certificate: CN and DNS SAN
#                                   `metaroute` (the Service / compose name Envoy dials and
#                                   checks), plus localhost and 127.0.0.1
# <dir>/<client>/{ca.crt,tls.crt,tls.key}    a client certificate per name: CN and DNS SAN <client>
#                                   (what metaroute's xds.clients.certificateNames lists)
#
# Each folder is what one Secret / mount holds (deploy/README.md). For production, issue these
# from your own CA (cert-manager, Vault, ...) with the same names; this CA is for trying it out.
set -euo pipefail

dir=${1:?usage: scripts/dev-certs.sh <dir> [client-name ...]}
shift
clients=("${@:-envoy}")
days=${DEV_CERT_DAYS:-365}
mkdir -p "$dir"

if [[ ! -f "$dir/ca.key" ]]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$dir/ca.key" -subj /CN=metaroute-dev-ca -days "$days" -out "$dir/ca.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
fi

# leaf <name> <subjectAltName> <extendedKeyUsage>
leaf() {
  local out="$dir/$1"
  mkdir -p "$out"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/tls.key" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nkeyUsage=critical,digitalSignature\n' "$2" "$3" >"$out/ext.cnf"
  openssl req -new -key "$out/tls.key" -subj "/CN=$1" |
    openssl x509 -req -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days "$days" -extfile "$out/ext.cnf" -out "$out/tls.crt" 2>/dev/null
  rm "$out/ext.cnf"
  cp "$dir/ca.crt" "$out/ca.crt"
  chmod 0644 "$out/tls.key" # read by the container's unprivileged user (Envoy 101, node 1000) from a read-only mount
}

leaf metaroute DNS:metaroute,DNS:localhost,IP:127.0.0.1 serverAuth
for client in "${clients[@]}"; do leaf "$client" "DNS:$client" clientAuth; done
echo "CA and certificates in $dir: metaroute/ ${clients[*]/%//}"
