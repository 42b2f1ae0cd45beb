#!/usr/bin/env bash
# The seed's security demos: HTTPS for clients, client-certificate authentication, and TLS
# between the members of a cluster, with certificates made by the openssl CLI.
# Stage 3 is enough: ETCD_BIN=.build/debug/etcd-stage3 runs it without the v3 API (CI does).
source "$(dirname "$0")/lib.sh"
cd "$WORK"

echo '# A CA, then a server and a client certificate it signs (openssl; see Scripts/make-certs.sh):'
"$ROOT/Scripts/make-certs.sh" . server client
ls *.pem | tr '\n' ' '; echo; echo

CLIENT_PORT=$(free_port); PEER_PORT=$(free_port)
URL="https://127.0.0.1:$CLIENT_PORT"
echo '$ ./etcd -n node0 -d node0 -clientCert server.pem -clientKey server-key.pem'
start_etcd https -n node0 -c "127.0.0.1:$CLIENT_PORT" -s "127.0.0.1:$PEER_PORT" -clientCert server.pem -clientKey server-key.pem
echo '$ curl --cacert ca.pem https://127.0.0.1:4001/v1/keys/foo -d value=bar'
expect "$(curl -s --cacert ca.pem "$URL/v1/keys/foo" -d value=bar)" '{"action":"SET","key":"/foo","value":"bar","newKey":true,"index":3}'
echo '$ curl --cacert ca.pem https://127.0.0.1:4001/machines   # the advertised URL says https'
expect "$(curl -s --cacert ca.pem "$URL/machines")" "https://127.0.0.1:$CLIENT_PORT"
echo '$ curl http://127.0.0.1:4001/v1/keys/foo   # plaintext at a TLS port: a clear refusal'
expect "$(curl -s "http://127.0.0.1:$CLIENT_PORT/v1/keys/foo")" 'Client sent an HTTP request to an HTTPS server.'
kill "${NODE_PID[https]}"; wait "${NODE_PID[https]}" 2>/dev/null || true

echo
echo '# Client-certificate authentication: add -clientCAFile.'
echo '$ ./etcd -n node0 -d node0 -clientCert server.pem -clientKey server-key.pem -clientCAFile ca.pem'
start_etcd https -n node0 -c "127.0.0.1:$CLIENT_PORT" -s "127.0.0.1:$PEER_PORT" -clientCert server.pem -clientKey server-key.pem -clientCAFile ca.pem
echo '$ curl --cacert ca.pem https://127.0.0.1:4001/v1/keys/foo   # no client certificate'
if output=$(curl -sS --cacert ca.pem "$URL/v1/keys/foo" 2>&1); then
    echo "MISMATCH: a request without a client certificate was answered: $output" >&2; exit 1
fi
echo "$output" | sed "s/:$CLIENT_PORT/:4001/g"
until_true 5 grep -q "TLS handshake failed on the client port: the client sent no certificate" "$WORK/https.log"
echo "# the server's log says why:"
grep "TLS handshake failed" "$WORK/https.log" | tail -1 | sed 's/^.*warning /warning /; s/remote=[^ ]*/remote=<client>/'
echo '$ curl --cacert ca.pem --cert client.pem --key client-key.pem https://127.0.0.1:4001/v1/keys/foo -d value=secret'
# Index 5: the restart's new leader entry took 4.
expect "$(curl -s --cacert ca.pem --cert client.pem --key client-key.pem "$URL/v1/keys/foo" -d value=secret)" \
    '{"action":"SET","key":"/foo","prevValue":"bar","value":"secret","index":5}'
kill "${NODE_PID[https]}"; wait "${NODE_PID[https]}" 2>/dev/null || true

echo
echo '# Three machines talking to each other over TLS: -serverCert, -serverKey, -serverCAFile on all.'
declare -A C P
for n in 1 2 3; do C[$n]=$(free_port); P[$n]=$(free_port); done
PEER_TLS=(-serverCert server.pem -serverKey server-key.pem -serverCAFile ca.pem)
echo '$ ./etcd -s 7001 -c 4001 -d nodes/node1 -serverCert server.pem -serverKey server-key.pem -serverCAFile ca.pem'
start_etcd node1 -s "127.0.0.1:${P[1]}" -c "127.0.0.1:${C[1]}" -d nodes/node1 "${PEER_TLS[@]}"
for n in 2 3; do
    echo "\$ ./etcd -s 700$n -c 400$n -C 127.0.0.1:7001 -d nodes/node$n -serverCert server.pem -serverKey server-key.pem -serverCAFile ca.pem"
    start_etcd "node$n" -s "127.0.0.1:${P[$n]}" -c "127.0.0.1:${C[$n]}" -C "127.0.0.1:${P[1]}" -d "nodes/node$n" "${PEER_TLS[@]}"
done
echo '$ curl -L http://127.0.0.1:4002/v1/keys/replicated -d value=over-tls'
expect "$(curl -sL "http://127.0.0.1:${C[2]}/v1/keys/replicated" -d value=over-tls | sed 's/"index":[0-9]*/"index":N/')" \
    '{"action":"SET","key":"/replicated","value":"over-tls","newKey":true,"index":N}'
everywhere() { for n in 1 2 3; do curl -s "http://127.0.0.1:${C[$n]}/v1/keys/replicated" | grep -q over-tls || return 1; done; }
until_true 5 everywhere
echo '$ curl http://127.0.0.1:4003/v1/keys/replicated'
expect "$(curl -s "http://127.0.0.1:${C[3]}/v1/keys/replicated" | sed 's/"index":[0-9]*/"index":N/')" \
    '{"action":"GET","key":"/replicated","value":"over-tls","index":N}'
echo '$ curl http://127.0.0.1:4001/leader   # peer URLs say https'
until_true 5 bash -c "curl -s http://127.0.0.1:${C[1]}/leader | grep -q '^https://'"
curl -s "http://127.0.0.1:${C[1]}/leader" | sed -E 's/:[0-9]+$/:700N/'; echo

echo
echo '# A machine without server TLS cannot join: both sides log why.'
P4=$(free_port); C4=$(free_port)
echo '$ ./etcd -s 7004 -c 4004 -C 127.0.0.1:7001 -d nodes/node4'
"$ETCD_BIN" -s "127.0.0.1:$P4" -c "127.0.0.1:$C4" -C "127.0.0.1:${P[1]}" -d nodes/node4 >"$WORK/node4.log" 2>&1 &
STARTED_PIDS+=($!)
until_true 10 grep -q "a peer refused this member's connection" "$WORK/node4.log"
grep -m1 "a peer refused" "$WORK/node4.log" | sed 's/^.*error /error /; s/remote=[^ ]*/remote=<node1>/'
until_true 5 grep -q "refused a plaintext peer connection" "$WORK/node1.log"
grep -m1 "refused a plaintext peer connection" "$WORK/node1.log" | sed 's/^.*error /error /; s/remote=[^ ]*/remote=<node4>/'

echo
echo '# Mistakes stop the daemon at start, naming the file and the fix:'
for args in "-clientCert server.pem" "-clientCert server.pem -clientKey client-key.pem" "-clientCAFile ca.pem"; do
    echo "\$ ./etcd $args"
    if output=$("$ETCD_BIN" -d "$WORK/never" $args 2>&1); then echo "MISMATCH: etcd started with $args" >&2; exit 1; fi
    echo "$output" | sed "s#$WORK/##g"
done
