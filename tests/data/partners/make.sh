#!/usr/bin/env bash
# Regenerates the rotation fixtures: two CAs valid 2019-01-01..2030-01-01 and, under
# each, the reference's two rotating certificates with its NotBefore/NotAfter dates
# (Cert1 2019-11-01..2024-01-01, Cert2 2020-11-01..2025-01-01).
# `openssl ca` is used because only it sets arbitrary validity dates in OpenSSL 3.0.
set -euo pipefail
cd "$(dirname "$0")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/ca.cnf" <<'CNF'
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[ policy_any ]
commonName = supplied
organizationName = optional
[ ca_ext ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ leaf_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

# issue NAME SUBJECT START END EXT SIGNER(-selfsign|CA-name)
issue() {
  local name=$1 subj=$2 start=$3 end=$4 ext=$5 signer=$6
  openssl req -new -newkey rsa:2048 -nodes -keyout "$name.key" -subj "$subj" \
    -out "$work/$name.csr" 2>/dev/null
  (cd "$work" && : > index.txt && openssl rand -hex 8 > serial)
  if [ "$signer" = "-selfsign" ]; then
    set -- -selfsign -keyfile "$PWD/$name.key"
  else
    set -- -cert "$PWD/$signer.crt" -keyfile "$PWD/$signer.key"
  fi
  (cd "$work" && openssl ca -batch -config ca.cnf -notext -extensions "$ext" \
    -startdate "$start" -enddate "$end" "$@" -in "$name.csr" -out "$OLDPWD/$name.crt" 2>/dev/null)
}

for party in partner local; do
  issue "$party-ca" "/CN=$party CA/O=as2-proto tests" 20190101000000Z 20300101000000Z ca_ext -selfsign
  issue "$party-cert1" "/CN=$party Cert1/O=as2-proto tests" 20191101000000Z 20240101000000Z leaf_ext "$party-ca"
  issue "$party-cert2" "/CN=$party Cert2/O=as2-proto tests" 20201101000000Z 20250101000000Z leaf_ext "$party-ca"
done
# The CA keys are needed only to issue the leaves above.
rm -f ./*-ca.key
