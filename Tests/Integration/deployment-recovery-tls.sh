#!/usr/bin/env bash
# The daemon as real deployments recover and secure it: --force-new-cluster, the corruption
# checks (a healthy cluster, and two members whose stores differ), --auto-tls, TLS as etcd
# restricts it, and a cluster moving to peer TLS a member at a time, each beside etcd 3.4 where
# it has the flag.
#
#   Tests/Integration/deployment-recovery-tls.sh      (ETCD_BIN: our binary; REAL_ETCD: etcd 3.4)
source "$(dirname "$0")/deployment-lib.sh"

echo "# --force-new-cluster: two of three members lost for good; the survivor restarts alone with its data."
declare -A FC FP
for n in 1 2 3; do FC[$n]=$(free_port); FP[$n]=$(free_port); done
force_cluster="f1=http://127.0.0.1:${FP[1]},f2=http://127.0.0.1:${FP[2]},f3=http://127.0.0.1:${FP[3]}"
force_args() {
    echo --name "f$1" --data-dir "$WORK/force$1" --listen-client-urls "http://127.0.0.1:${FC[$1]}" \
        --advertise-client-urls "http://127.0.0.1:${FC[$1]}" --listen-peer-urls "http://127.0.0.1:${FP[$1]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${FP[$1]}" --initial-cluster "$force_cluster"
}
for n in 1 2 3; do
    try_start "force$n" $(force_args $n)
    [ "$OUTCOME" = ready ] || fail "force$n did not start"
done
until_true 20 bash -c "etcdctl --endpoints=127.0.0.1:${FC[1]} put survivor-data kept >/dev/null 2>&1"
until_true 10 bash -c "etcdctl --endpoints=127.0.0.1:${FC[1]} get survivor-data --consistency=s --print-value-only | grep -q kept"
for n in 1 2 3; do kill -9 "${NODE_PID[force$n]}"; wait "${NODE_PID[force$n]}" 2>/dev/null || true; done
try_start force1 $(force_args 1) --force-new-cluster
[ "$OUTCOME" = ready ] || fail "the survivor did not start: $(tail -3 "$WORK/force1.log")"
grep -o "forcing restart of member [0-9a-f]* in cluster [0-9a-f]* at commit index [0-9]*" "$WORK/force1.log" | sed -E 's/[0-9a-f]{16}/<id>/g; s/index [0-9]+/index N/'
until_true 20 bash -c "etcdctl --endpoints=127.0.0.1:${FC[1]} put after-force yes >/dev/null 2>&1"
expect "$(etcdctl --endpoints="127.0.0.1:${FC[1]}" get survivor-data --print-value-only)" kept
expect "$(etcdctl --endpoints="127.0.0.1:${FC[1]}" member list | cut -d, -f2,3)" " started, f1"
stop force1

echo
echo "# --experimental-initial-corrupt-check and --experimental-corrupt-check-time on a healthy cluster,"
echo "# with authentication on (peers are asked over the peer port, not the client API's root-only HashKV)."
declare -A HC HP
for n in 1 2 3; do HC[$n]=$(free_port); HP[$n]=$(free_port); done
hash_cluster="h1=http://127.0.0.1:${HP[1]},h2=http://127.0.0.1:${HP[2]},h3=http://127.0.0.1:${HP[3]}"
hash_args() {
    echo --name "h$1" --data-dir "$WORK/hash$1" --listen-client-urls "http://127.0.0.1:${HC[$1]}" \
        --advertise-client-urls "http://127.0.0.1:${HC[$1]}" --listen-peer-urls "http://127.0.0.1:${HP[$1]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${HP[$1]}" --initial-cluster "$hash_cluster" \
        --experimental-initial-corrupt-check=true --experimental-corrupt-check-time=1s
}
for n in 1 2 3; do
    try_start "hash$n" $(hash_args $n)
    [ "$OUTCOME" = ready ] || fail "hash$n did not start: $(tail -3 "$WORK/hash$n.log")"
done
until_true 20 bash -c "etcdctl --endpoints=127.0.0.1:${HC[1]} put hashed 1 >/dev/null 2>&1"
etcdctl --endpoints="127.0.0.1:${HC[1]}" user add root:rootpw >/dev/null
etcdctl --endpoints="127.0.0.1:${HC[1]}" auth enable >/dev/null
# hash3 asks the members it has applied: let it learn all of them first.
until_true 20 bash -c "[ \$(etcdctl --endpoints=127.0.0.1:${HC[3]} member list | grep -c 'started, h') = 3 ]"
stop hash3
try_start hash3 $(hash_args 3)
[ "$OUTCOME" = ready ] || fail "hash3 did not restart"
grep -q "peers-checked=2.*initial corruption checking passed; no corruption" "$WORK/hash3.log" \
    || fail "the restarted member did not compare with both peers: $(grep -i "corrupt\|remote peer" "$WORK/hash3.log")"
echo "a restarted member compared its HashKV with both peers before serving"
until_true 20 bash -c "cat $WORK/hash[123].log | grep -q 'periodic corruption check passed'"
expect "$(etcdctl --endpoints="127.0.0.1:${HC[1]}" --user root:rootpw alarm list)" ""
expect "$(etcdctl --endpoints="127.0.0.1:${HC[2]}" --user root:rootpw put after-checks 1)" OK
for n in 1 2 3; do stop "hash$n"; done

echo "# ... and on two members whose stores differ at the same revision (each restored from another"
echo "# cluster's snapshot with the same --initial-cluster): the leader raises CORRUPT; a restart is refused."
for x in a b; do
    base "src-$x"
    try_start "src-$x" "${BASE[@]}"
    [ "$OUTCOME" = ready ] || fail "src-$x did not start"
    until_true 20 bash -c "etcdctl --endpoints=$CLIENT put k $x >/dev/null 2>&1"
    etcdctl --endpoints="$CLIENT" --command-timeout=120s snapshot save "$WORK/src-$x.db" >/dev/null 2>&1 || fail "snapshot save from src-$x"
    stop "src-$x"
done
declare -A DC DP
for n in 1 2; do DC[$n]=$(free_port); DP[$n]=$(free_port); done
div_cluster="d1=http://127.0.0.1:${DP[1]},d2=http://127.0.0.1:${DP[2]}"
env -u ETCD_BIN "$ETCD_BIN" snapshot restore "$WORK/src-a.db" --name d1 --data-dir "$WORK/div1" --initial-cluster "$div_cluster" \
    --initial-advertise-peer-urls "http://127.0.0.1:${DP[1]}" >/dev/null
env -u ETCD_BIN "$ETCD_BIN" snapshot restore "$WORK/src-b.db" --name d2 --data-dir "$WORK/div2" --initial-cluster "$div_cluster" \
    --initial-advertise-peer-urls "http://127.0.0.1:${DP[2]}" >/dev/null
div_args() {
    echo --name "d$1" --data-dir "$WORK/div$1" --listen-client-urls "http://127.0.0.1:${DC[$1]}" \
        --advertise-client-urls "http://127.0.0.1:${DC[$1]}" --listen-peer-urls "http://127.0.0.1:${DP[$1]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${DP[$1]}" --initial-cluster "$div_cluster" --experimental-corrupt-check-time=1s
}
for n in 1 2; do
    try_start "div$n" $(div_args $n)
    [ "$OUTCOME" = ready ] || fail "div$n did not start"
done
until_true 20 bash -c "etcdctl --endpoints=127.0.0.1:${DC[1]} alarm list 2>/dev/null | grep -q CORRUPT"
etcdctl --endpoints="127.0.0.1:${DC[1]}" alarm list | sed -E 's/memberID:[0-9]+/memberID:<id>/; s/ *$//'
expect "$(etcdctl --endpoints="127.0.0.1:${DC[2]}" put after-corruption 1 2>&1 | grep -v '^{"level"')" 'Error: etcdserver: corrupt cluster'
until_true 20 bash -c "[ \$(etcdctl --endpoints=127.0.0.1:${DC[2]} member list | grep -c 'started, d') = 2 ]"
stop div2
try_start div2 $(div_args 2) --experimental-initial-corrupt-check=true
expect "$OUTCOME" "exit 1"
grep -o "cannot serve: [0-9a-f]* found data inconsistency with peers" "$WORK/div2.log" | sed -E 's/[0-9a-f]{16}/<id>/'
stop div1

echo
echo "# --auto-tls and --peer-auto-tls: two members encrypting with self-signed certificates made at first start."
declare -A AC AP
for n in 1 2; do AC[$n]=$(free_port); AP[$n]=$(free_port); done
auto_cluster="auto1=https://127.0.0.1:${AP[1]},auto2=https://127.0.0.1:${AP[2]}"
auto_args() {
    echo --name "auto$1" --data-dir "$WORK/auto$1" --auto-tls --peer-auto-tls --listen-client-urls "https://127.0.0.1:${AC[$1]}" \
        --advertise-client-urls "https://127.0.0.1:${AC[$1]}" --listen-peer-urls "https://127.0.0.1:${AP[$1]}" \
        --initial-advertise-peer-urls "https://127.0.0.1:${AP[$1]}" --initial-cluster "$auto_cluster"
}
for n in 1 2; do
    try_start "auto$n" $(auto_args $n)
    [ "$OUTCOME" = ready ] || fail "auto$n did not start: $(tail -3 "$WORK/auto$n.log")"
done
insecure=(--insecure-skip-tls-verify --insecure-transport=false --dial-timeout=3s --command-timeout=5s)
until_true 20 bash -c "etcdctl --endpoints=https://127.0.0.1:${AC[1]} ${insecure[*]} put auto yes >/dev/null 2>&1"
expect "$(etcdctl --endpoints="https://127.0.0.1:${AC[2]}" "${insecure[@]}" get auto --print-value-only)" yes
expect "$(stat -c '%a' "$WORK/auto1/fixtures/client/key.pem" "$WORK/auto1/fixtures/peer" | tr '\n' ' ')" '600 700 '
fingerprint=$(openssl x509 -in "$WORK/auto1/fixtures/client/cert.pem" -noout -fingerprint)
openssl x509 -in "$WORK/auto1/fixtures/client/cert.pem" -noout -subject -ext subjectAltName | tr -s ' \n' ' '; echo
stop auto1
try_start auto1 $(auto_args 1)
[ "$OUTCOME" = ready ] || fail "auto1 did not restart"
expect "$(openssl x509 -in "$WORK/auto1/fixtures/client/cert.pem" -noout -fingerprint)" "$fingerprint"
until_true 20 bash -c "etcdctl --endpoints=https://127.0.0.1:${AC[1]} ${insecure[*]} get auto --print-value-only 2>/dev/null | grep -q yes"
echo "restarted with the same certificate; the cluster still answers over TLS"
stop auto1; stop auto2

echo
echo "# TLS as etcd restricts it: a revocation list, cipher suites, a host name client certificates must carry."
mkdir -p "$WORK/pki/db" && touch "$WORK/pki/db/index.txt" && echo 01 >"$WORK/pki/db/crlnumber"
"$ROOT/Scripts/make-certs.sh" "$WORK/pki" server good revoked >/dev/null
printf '[ca]\ndefault_ca=ca\n[ca]\ndatabase=db/index.txt\ncrlnumber=db/crlnumber\ndefault_md=sha256\ndefault_crl_days=1\n' >"$WORK/pki/ca.cnf"
(cd "$WORK/pki" && openssl ca -config ca.cnf -keyfile ca-key.pem -cert ca.pem -revoke revoked.pem 2>/dev/null \
    && openssl ca -config ca.cnf -keyfile ca-key.pem -cert ca.pem -gencrl -out crl.pem 2>/dev/null) || fail "openssl could not make a CRL"
base tls
https=${CLIENT/http:/https:}
tls_args=("${BASE[@]/$CLIENT/$https}" --cert-file "$WORK/pki/server.pem" --key-file "$WORK/pki/server-key.pem"
    --trusted-ca-file "$WORK/pki/ca.pem" --client-cert-auth --client-crl-file "$WORK/pki/crl.pem"
    --cipher-suites TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305 --client-cert-allowed-hostname localhost)
try_start tls "${tls_args[@]}"
[ "$OUTCOME" = ready ] || fail "tls did not start: $(tail -5 "$WORK/tls.log")"
as() { etcdctl --endpoints="$https" --cacert "$WORK/pki/ca.pem" --cert "$WORK/pki/$1.pem" --key "$WORK/pki/$1-key.pem" --dial-timeout=2s --command-timeout=3s "${@:2}"; }
expect "$(as good put through yes)" OK
! as revoked get through >/dev/null 2>&1 || fail "a revoked certificate was served"
until_true 5 grep -q "certificate serial [0-9a-f]* revoked" "$WORK/tls.log"
grep -o "TLS handshake failed on the client port: transport: certificate serial [0-9a-f]* revoked (CN=etcd revoked)" "$WORK/tls.log" | head -1 | sed -E 's/serial [0-9a-f]+/serial <hex>/'
cipher() { openssl s_client -connect "${https#https://}" -tls1_2 -cipher "$1" -CAfile "$WORK/pki/ca.pem" -cert "$WORK/pki/good.pem" -key "$WORK/pki/good-key.pem" </dev/null 2>&1; }
cipher ECDHE-ECDSA-AES128-GCM-SHA256 | grep -q "Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" || fail "an allowed cipher suite was not negotiated"
! cipher ECDHE-ECDSA-AES256-GCM-SHA384 | grep -q "Cipher is ECDHE-ECDSA-AES256-GCM-SHA384" || fail "a cipher suite outside --cipher-suites was negotiated"
echo "TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256: accepted; ECDHE-ECDSA-AES256-GCM-SHA384: refused"
stop tls
try_start tls "${tls_args[@]/localhost/other.example}"
[ "$OUTCOME" = ready ] || fail "tls did not restart"
! as good get through >/dev/null 2>&1 || fail "a certificate not valid for --client-cert-allowed-hostname was served"
until_true 5 grep -q "client certificate authentication failed" "$WORK/tls.log"
grep -o "client certificate authentication failed: .*other.example.*" "$WORK/tls.log" | head -1
stop tls
base tlssock
tsock="localhost:$(free_port)"
tls_https=${CLIENT/http:/https:}
sock_args=("${BASE[@]/$CLIENT/$tls_https}" --cert-file "$WORK/pki/server.pem" --key-file "$WORK/pki/server-key.pem"
    --trusted-ca-file "$WORK/pki/ca.pem" --client-cert-auth)
sock_args[5]="$tls_https,unixs://$tsock"
START_DIR=$WORK
try_start tlssock "${sock_args[@]}"
START_DIR=
[ "$OUTCOME" = ready ] || fail "tlssock did not start: $(tail -3 "$WORK/tlssock.log")"
expect "$(cd "$WORK" && etcdctl --endpoints="unixs://$tsock" --cacert pki/ca.pem --cert pki/good.pem --key pki/good-key.pem \
    --dial-timeout=3s put over-unixs yes)" OK
echo "unixs:// served TLS with client certificates on a Unix socket"
stop tlssock
expect "$(env -u ETCD_BIN "$ETCD_BIN" --cipher-suites TLS_RSA_WITH_RC4_128_SHA 2>&1 | cut -c1-106)" \
    'etcd: --cipher-suites: TLS_RSA_WITH_RC4_128_SHA is a cipher suite BoringSSL, this server'"'"'s TLS library, no'

echo
echo "# Peer URLs by their schemes, as a cluster moves to peer TLS a member at a time (etcd's migration):"
echo "# both members listen on http:// and https:// with peer certificates, one advertised by each;"
echo "# then the http:// one is moved to https:// (member update) and both restart on https:// alone."
echo "# The same steps run against etcd 3.4 first, so the flags are etcd's."
"$ROOT/Scripts/make-certs.sh" "$WORK/pki" peer >/dev/null
scheme_migration() {
    local label=$1 bin=$2 n
    local -A SC SH SS
    for n in 1 2; do SC[$n]=$(free_port); SH[$n]=$(free_port); SS[$n]=$(free_port); done
    local cluster="${label}1=http://127.0.0.1:${SH[1]},${label}2=https://127.0.0.1:${SS[2]}"
    # member N, its peer listen URLs, its advertised peer URL
    member_args() {
        echo --name "$label$1" --data-dir "$WORK/$label$1" --listen-client-urls "http://127.0.0.1:${SC[$1]}" \
            --advertise-client-urls "http://127.0.0.1:${SC[$1]}" --listen-peer-urls "$2" --initial-advertise-peer-urls "$3" \
            --initial-cluster "$cluster" --peer-cert-file "$WORK/pki/peer.pem" --peer-key-file "$WORK/pki/peer-key.pem" \
            --peer-trusted-ca-file "$WORK/pki/ca.pem" --peer-client-cert-auth
    }
    on() { etcdctl --endpoints="http://127.0.0.1:${SC[$1]}" --dial-timeout=2s --command-timeout=5s "${@:2}"; }
    replicated() { [ "$(on "$2" get "$1" --print-value-only 2>/dev/null)" = "$1" ]; }
    # etcd is ready only once the two have a leader: both start, then both are waited for.
    launch() {
        : >"$WORK/$1.log"
        (exec env -u ETCD_BIN "$bin" "${@:2}") >"$WORK/$1.log" 2>&1 &
        NODE_PID[$1]=$!
        STARTED_PIDS+=($!)
    }
    ready() { grep -q "ready to serve client requests" "$WORK/$1.log"; }
    launch "${label}1" $(member_args 1 "http://127.0.0.1:${SH[1]},https://127.0.0.1:${SS[1]}" "http://127.0.0.1:${SH[1]}")
    launch "${label}2" $(member_args 2 "http://127.0.0.1:${SH[2]},https://127.0.0.1:${SS[2]}" "https://127.0.0.1:${SS[2]}")
    until_true 30 ready "${label}1"
    until_true 30 ready "${label}2"
    until_true 20 bash -c "etcdctl --endpoints=http://127.0.0.1:${SC[1]} --dial-timeout=1s --command-timeout=2s put mixed mixed >/dev/null 2>&1"
    until_true 20 replicated mixed 2
    # Each member's client URL is in the member list once it has published it.
    published() { [ "$(on 1 member list 2>/dev/null | grep -c 'https*://[^,]*, http://')" = 2 ]; }
    until_true 20 published
    on 1 member list | sed -E "s/^[0-9a-f]+/<id>/; s/127.0.0.1:[0-9]+/<port>/g"
    if [ "$label" = mig ]; then
        # etcd's warning, word for word, for the http:// listener of a member with peer certificates.
        grep -m1 "scheme is HTTP while key and cert files are present; ignoring key and cert files" "$WORK/mig1.log" \
            | sed -E 's/^.*etcd: //; s/127.0.0.1:[0-9]+/<port>/' | grep . || fail "no warning for the http:// peer listener"
    fi
    # The https:// peer port speaks TLS with the peer certificates; the http:// one does not.
    openssl s_client -connect "127.0.0.1:${SS[1]}" -CAfile "$WORK/pki/ca.pem" -cert "$WORK/pki/peer.pem" -key "$WORK/pki/peer-key.pem" \
        </dev/null 2>&1 | grep -q "Verify return code: 0" || fail "$label: no TLS on the https:// peer port"
    ! openssl s_client -connect "127.0.0.1:${SH[1]}" -CAfile "$WORK/pki/ca.pem" </dev/null 2>&1 | grep -q "Verify return code: 0" \
        || fail "$label: TLS on the http:// peer port"
    local id
    id=$(on 1 member list | grep "${label}1" | cut -d, -f1)
    on 1 member update "$id" --peer-urls="https://127.0.0.1:${SS[1]}" | sed -E 's/Member +[0-9a-f]+/Member <id>/; s/cluster +[0-9a-f]+/cluster <id>/'
    until_true 20 bash -c "etcdctl --endpoints=http://127.0.0.1:${SC[2]} --dial-timeout=1s --command-timeout=2s put moved moved >/dev/null 2>&1"
    until_true 20 replicated moved 1
    # On https:// alone now: only TLS links remain, and they carry the writes.
    stop "${label}1"; stop "${label}2"
    launch "${label}1" $(member_args 1 "https://127.0.0.1:${SS[1]}" "https://127.0.0.1:${SS[1]}")
    launch "${label}2" $(member_args 2 "https://127.0.0.1:${SS[2]}" "https://127.0.0.1:${SS[2]}")
    until_true 30 ready "${label}1"
    until_true 30 ready "${label}2"
    until_true 30 bash -c "etcdctl --endpoints=http://127.0.0.1:${SC[2]} --dial-timeout=1s --command-timeout=2s put secured secured >/dev/null 2>&1"
    until_true 20 replicated secured 1
    echo "$label: replicated over http:// and https:// peer links, then over https:// alone"
    stop "${label}1"; stop "${label}2"
}
scheme_migration real "$REAL_ETCD"
scheme_migration mig "$ETCD_BIN"

echo
echo "deployment-recovery-tls: all checks passed"
