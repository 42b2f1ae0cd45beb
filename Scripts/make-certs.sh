#!/usr/bin/env bash
# Makes a CA and certificates it signs with the openssl CLI, for the walkthroughs and benchmarks:
#
#   Scripts/make-certs.sh DIR NAME...
#
# writes DIR/ca.pem and DIR/ca-key.pem (once), then DIR/NAME.pem and DIR/NAME-key.pem for each
# NAME: P-256 keys, valid one day for 127.0.0.1 and localhost, usable by servers and clients
# (extendedKeyUsage serverAuth and clientAuth, as etcd's peers need both).
set -euo pipefail
dir=$1; shift
mkdir -p "$dir" && cd "$dir"
if [ ! -f ca.pem ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem 2>/dev/null
    openssl req -x509 -new -key ca-key.pem -subj "/CN=etcd example CA" -days 1 -out ca.pem
fi
for name in "$@"; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name-key.pem" 2>/dev/null
    openssl req -new -key "$name-key.pem" -subj "/CN=etcd $name" -out "$name.csr"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > "$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
done
