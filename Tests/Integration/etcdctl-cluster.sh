#!/usr/bin/env bash
# The real etcdctl 3.4 against a three-member cluster of ours, through a follower (reads, a
# watch, leases, a lock); the same membership changes on a cluster of ours and of etcd 3.4,
# masked outputs compared; and TLS with client certificates, etcdctl and curl on one port.
#
#   Tests/Integration/etcdctl-cluster.sh    (ETCD_BIN: our binary; etcd-server and etcd-client
#                                            installed by Scripts/test-all.sh)
source "$(dirname "$0")/etcdctl-lib.sh"
# Whether etcd 3.4 is here to compare the membership changes with.
REAL=""
if [ -x "$REAL_ETCD" ]; then REAL=$REAL_ETCD; else echo "(no real etcd at $REAL_ETCD: the membership flow runs on ours alone)"; fi
passed=0

echo "== a three-member cluster of ours, through a follower"
declare -a C P
for n in 0 1 2; do C[$n]=$(free_port); P[$n]=$(free_port); done
CLUSTER="m0=http://127.0.0.1:${P[0]},m1=http://127.0.0.1:${P[1]},m2=http://127.0.0.1:${P[2]}"
for n in 0 1 2; do
    "$ETCD_BIN" --name "m$n" --data-dir "$WORK/m$n" --initial-cluster "$CLUSTER" --initial-cluster-state new \
        --listen-client-urls "http://127.0.0.1:${C[$n]}" --advertise-client-urls "http://127.0.0.1:${C[$n]}" \
        --listen-peer-urls "http://127.0.0.1:${P[$n]}" >"$WORK/m$n.log" 2>&1 &
    PIDS+=($!)
done
for n in 0 1 2; do wait_ready "http://127.0.0.1:${C[$n]}"; done
follower=""
for n in 0 1 2; do
    grep -q "role=follower" "$WORK/m$n.log" && follower="http://127.0.0.1:${C[$n]}" && break
done
[ -n "$follower" ] || follower="http://127.0.0.1:${C[1]}"
all="http://127.0.0.1:${C[0]},http://127.0.0.1:${C[1]},http://127.0.0.1:${C[2]}"
(timeout 4 etcdctl --endpoints="$follower" watch cluster --prefix > "$WORK/cw.out" 2>&1 || true) & clusterWatch=$!
sleep 1
etcdctl --endpoints="$follower" put cluster/a 1
etcdctl --endpoints="$follower" put cluster/b 2
printf 'version("cluster/a") = "1"\n\ndel cluster/a\n\n\n' | etcdctl --endpoints="$follower" txn -i
for n in 0 1 2; do
    got=$(etcdctl --endpoints="http://127.0.0.1:${C[$n]}" get cluster --prefix --print-value-only | tr '\n' ' ')
    [ "$got" = "2 " ] || { echo "member $n answers '$got' (linearizable read), expected '2 '" >&2; exit 1; }
done
echo "every member reads the same: cluster/b=2, cluster/a deleted"
l=$(etcdctl --endpoints="$follower" lease grant 30 | awk '{print $2}')
etcdctl --endpoints="$all" put --lease="$l" cluster/leased v
# Keep-alives and time-to-live are the leader's: a follower forwards them on its peer connection.
kept=$(etcdctl --endpoints="$follower" lease keep-alive --once "$l")
[ "$kept" = "lease $l keepalived with TTL(30)" ] || { echo "keep-alive through a follower: $kept" >&2; exit 1; }
echo "a keep-alive through a follower: $kept"
ttl=$(etcdctl --endpoints="$follower" lease timetolive "$l" --keys)
[[ "$ttl" == "lease $l granted with TTL(30s), remaining("*"s), attached keys([cluster/leased])" ]] || { echo "time-to-live through a follower: $ttl" >&2; exit 1; }
echo "time-to-live through a follower: $ttl"
etcdctl --endpoints="$follower" lease revoke "$l"
[ -z "$(etcdctl --endpoints="$all" get cluster/leased)" ] || { echo "a lease revoked through a follower left its key" >&2; exit 1; }
echo "a lease revoked through a follower deletes its key everywhere"
etcdctl --endpoints="$follower" lock cluster-lock echo "locked through a follower"
wait $clusterWatch
cat "$WORK/cw.out"
[ "$(grep -c '^PUT\|^DELETE' "$WORK/cw.out")" -ge 4 ] || { echo "the watch on a follower missed events" >&2; exit 1; }

echo
echo "== membership: the same changes on a three-member cluster of ours and of etcd 3.4"
# membership_flow KIND BIN: grows, changes and shrinks a fresh cluster of BIN, writing what
# etcdctl printed at each step, masked, to $WORK/membership.KIND.
membership_flow() {
    local kind=$1 bin=$2 out="$WORK/membership.$1" n
    local -a c p pid
    for n in 0 1 2 3; do c[$n]=$(free_port); p[$n]=$(free_port); done
    local cluster="m0=http://127.0.0.1:${p[0]},m1=http://127.0.0.1:${p[1]},m2=http://127.0.0.1:${p[2]}"
    for n in 0 1 2; do
        "$bin" --name "m$n" --data-dir "$WORK/$kind-m$n" --initial-cluster "$cluster" --initial-cluster-state new \
            --listen-client-urls "http://127.0.0.1:${c[$n]}" --advertise-client-urls "http://127.0.0.1:${c[$n]}" \
            --listen-peer-urls "http://127.0.0.1:${p[$n]}" --initial-advertise-peer-urls "http://127.0.0.1:${p[$n]}" >"$WORK/$kind-m$n.log" 2>&1 &
        pid[$n]=$!; PIDS+=($!)
    done
    for n in 0 1 2; do wait_ready "http://127.0.0.1:${c[$n]}"; done
    local all="127.0.0.1:${c[0]},127.0.0.1:${c[1]},127.0.0.1:${c[2]}"
    local ep="127.0.0.1:${c[0]}"
    # Ports and IDs differ by nature; so does the order of lists sorted by ID.
    mask() {
        { grep -v '^{"level"' || true; } | sed -E "s/127\.0\.0\.1:${c[0]}/C0/g; s/127\.0\.0\.1:${c[1]}/C1/g; s/127\.0\.0\.1:${c[2]}/C2/g; s/127\.0\.0\.1:${c[3]}/C3/g;
            s/127\.0\.0\.1:${p[0]}/P0/g; s/127\.0\.0\.1:${p[1]}/P1/g; s/127\.0\.0\.1:${p[2]}/P2/g; s/127\.0\.0\.1:${p[3]}/P3/g;
            s/127\.0\.0\.1:[0-9]+/P9/g; s/(^| +)[0-9a-f]{12,16}\b/\1<id>/g; s/ +<id>/ <id>/g; s/[0-9a-f]{12,16}( |$)/<id>\1/g; s/took = [^ ]+/took = <t>/" |
            python3 -c '
import sys
for line in sys.stdin:
    if line.startswith("ETCD_INITIAL_CLUSTER=\""):
        line = "ETCD_INITIAL_CLUSTER=\"" + ",".join(sorted(line.strip()[22:-1].split(","))) + "\"\n"
    sys.stdout.write(line)'
    }
    # retry SECONDS COMMAND...: until it succeeds, at most SECONDS.
    retry() {
        local deadline=$((SECONDS + $1)); shift
        until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.1; done
    }
    step() { echo "\$ etcdctl $*" | mask >>"$out"; { etcdctl --endpoints="$ep" --command-timeout=3s "$@" 2>&1 || true; } | mask >>"$out"; }
    sorted() { echo "\$ etcdctl $* | sort" | mask >>"$out"; { etcdctl --endpoints="$ep" "$@" 2>&1 || true; } | mask | sort >>"$out"; }
    : >"$out"
    # etcd takes membership changes only once its leader has been connected to every voter for
    # 5 s (its HealthInterval); before that it answers "unhealthy cluster". Ours only asks that
    # it hears from them now. The first change is retried until taken, on both.
    echo "\$ etcdctl member add l3 --peer-urls=P3 --learner" >>"$out"
    local added=""
    for _ in $(seq 40); do
        added=$(etcdctl --endpoints="$ep" --command-timeout=3s member add l3 --peer-urls="http://127.0.0.1:${p[3]}" --learner 2>&1) && break
        sleep 0.5
    done
    mask <<<"$added" >>"$out"
    local learner
    learner=$(etcdctl --endpoints="$ep" member list | awk -F', ' '$6=="true"{print $1}')
    sorted member list
    step member promote "$learner"
    step member add l4 --peer-urls="http://127.0.0.1:$(free_port)" --learner
    step member add again --peer-urls="http://127.0.0.1:${p[1]}"
    "$bin" --name l3 --data-dir "$WORK/$kind-l3" --initial-cluster "$cluster,l3=http://127.0.0.1:${p[3]}" --initial-cluster-state existing \
        --listen-client-urls "http://127.0.0.1:${c[3]}" --advertise-client-urls "http://127.0.0.1:${c[3]}" \
        --listen-peer-urls "http://127.0.0.1:${p[3]}" --initial-advertise-peer-urls "http://127.0.0.1:${p[3]}" >"$WORK/$kind-l3.log" 2>&1 &
    pid[3]=$!; PIDS+=($!)
    retry 20 etcdctl --endpoints="127.0.0.1:${c[3]}" --command-timeout=1s get x --consistency=s || { echo "the learner did not start" >&2; cat "$WORK/$kind-l3.log" >&2; exit 1; }
    echo "\$ etcdctl --endpoints=<learner> get x    # linearizable: refused" >>"$out"
    etcdctl --endpoints="127.0.0.1:${c[3]}" --command-timeout=1s get x 2>&1 | grep -o 'code = [A-Za-z]* desc = [^"]*' | head -1 >>"$out" || true
    echo "\$ etcdctl --endpoints=<learner> member list    # refused too" >>"$out"
    etcdctl --endpoints="127.0.0.1:${c[3]}" --command-timeout=1s member list 2>&1 | grep -o 'code = [A-Za-z]* desc = [^"]*' | head -1 >>"$out" || true
    retry 20 etcdctl --endpoints="$ep" --command-timeout=2s member promote "$learner" || { echo "the learner was never promoted" >&2; exit 1; }
    # Its name and client URL arrive through the log once it runs.
    named() { etcdctl --endpoints="$ep" member list | grep -q ', l3, http'; }
    retry 20 named || { echo "l3 never announced itself" >&2; exit 1; }
    sorted member list
    echo "\$ etcdctl endpoint health --cluster | sort" >>"$out"
    { etcdctl --endpoints="$ep" endpoint health --cluster 2>&1 || true; } | mask | sort >>"$out"
    echo "\$ etcdctl endpoint status --cluster | endpoint, version, learner" >>"$out"
    { etcdctl --endpoints="$ep" endpoint status --cluster 2>&1 || true; } | mask | awk -F', ' '{print $1 ", " $3 ", " $6}' | sort >>"$out"
    local four="$all,127.0.0.1:${c[3]}"
    etcdctl --endpoints="$four" put grown 4 >/dev/null
    agree() { [ "$(etcdctl --endpoints="$four" --command-timeout=2s endpoint hashkv | awk '{print $2}' | sort -u | wc -l)" = 1 ]; }
    retry 20 agree || true
    echo "\$ etcdctl endpoint hashkv --cluster | distinct hashes" >>"$out"
    etcdctl --endpoints="$ep" endpoint hashkv --cluster | awk '{print $2}' | sort -u | wc -l >>"$out"
    echo "\$ etcdctl move-leader <l3>" >>"$out"
    etcdctl --endpoints="$four" move-leader "$learner" 2>&1 | mask >>"$out" || true
    step member remove "$learner"
    local status=0
    local deadline=$((SECONDS + 15))
    while kill -0 "${pid[3]}" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    kill -0 "${pid[3]}" 2>/dev/null && { echo "the removed member did not exit" >&2; exit 1; }
    wait "${pid[3]}" || status=$?
    echo "# the removed member exited with status $status" >>"$out"
    retry 20 etcdctl --endpoints="$all" --command-timeout=2s put after-removal 1 || { echo "no writes after the removal" >&2; exit 1; }
    sorted member list
    # m2 crashes: a new voter would be one failure from losing the quorum; removing m2 is fine.
    kill -9 "${pid[2]}"; wait "${pid[2]}" 2>/dev/null || true
    sleep 1  # the leader notices the dropped connection (etcd checks its transport; so do we)
    leader_of_two() {
        ep=$(etcdctl --endpoints="127.0.0.1:${c[0]},127.0.0.1:${c[1]}" --command-timeout=1s endpoint status 2>/dev/null | awk -F', ' '$5=="true"{print $1}')
        [ -n "$ep" ]
    }
    local deadline2=$((SECONDS + 20))
    until leader_of_two; do [ $SECONDS -lt $deadline2 ] || { echo "no leader after m2 crashed" >&2; exit 1; }; sleep 0.1; done
    step member add x --peer-urls="http://127.0.0.1:$(free_port)"
    local m2id
    m2id=$(etcdctl --endpoints="$ep" member list | awk -F', ' '$3=="m2"{print $1}')
    step member remove "$m2id"
    local unstarted="http://127.0.0.1:$(free_port)"
    step member add x --peer-urls="$unstarted"
    step member add y --peer-urls="http://127.0.0.1:$(free_port)"
    local xid
    xid=$(etcdctl --endpoints="$ep" member list | awk -F', ' '$2=="unstarted"{print $1}')
    step member remove "$xid"
    sorted member list
    for n in 0 1; do kill "${pid[$n]}" 2>/dev/null || true; done
}
membership_flow ours "$ETCD_BIN"
cat "$WORK/membership.ours"
if [ -n "$REAL" ]; then
    membership_flow real "$REAL_ETCD"
    diff "$WORK/membership.ours" "$WORK/membership.real" >&2 || { echo "MISMATCH: membership changes differ from etcd 3.4 (- ours, + etcd)" >&2; exit 1; }
    echo "(identical to etcd 3.4's, masked)"
fi
passed=$((passed + $(grep -c '^\$' "$WORK/membership.ours")))

echo
echo "== TLS with client certificates: etcdctl (HTTP/2 by ALPN) and curl (HTTP/1.1) on one port"
"$ROOT/Scripts/make-certs.sh" "$WORK" server client >/dev/null 2>&1
TLS_PORT=$(free_port)
TLS_URL="https://127.0.0.1:$TLS_PORT"
"$ETCD_BIN" --name tls --data-dir "$WORK/tls" --listen-client-urls "$TLS_URL" --advertise-client-urls "$TLS_URL" \
    --listen-peer-urls "http://127.0.0.1:$(free_port)" --cert-file "$WORK/server.pem" --key-file "$WORK/server-key.pem" \
    --trusted-ca-file "$WORK/ca.pem" --client-cert-auth >"$WORK/tls.log" 2>&1 &
PIDS+=($!)
with_cert=(--endpoints="$TLS_URL" --cacert "$WORK/ca.pem" --cert "$WORK/client.pem" --key "$WORK/client-key.pem")
wait_ready "$TLS_URL" "${with_cert[@]:1}"
[ "$(etcdctl "${with_cert[@]}" put secure v)" = OK ] || { echo "etcdctl put over TLS failed" >&2; exit 1; }
echo "etcdctl --cert/--key: OK"
[ "$(etcdctl "${with_cert[@]}" get secure --print-value-only)" = v ] || { echo "etcdctl get over TLS failed" >&2; exit 1; }
echo "etcdctl get over TLS: v"
if etcdctl --endpoints="$TLS_URL" --cacert "$WORK/ca.pem" --dial-timeout=2s get secure >/dev/null 2>&1; then
    echo "a client without a certificate was served" >&2; exit 1
fi
grep -q "the client sent no certificate" "$WORK/tls.log" || { echo "the server's log does not say why it refused a client without a certificate" >&2; exit 1; }
echo "without a certificate: refused, and the server's log says why"
curl -sf --cacert "$WORK/ca.pem" --cert "$WORK/client.pem" --key "$WORK/client-key.pem" "$TLS_URL/v1/keys/over-tls" -d value=1 | grep -q '"value":"1"' \
    || { echo "curl over TLS: the v1 API did not answer" >&2; exit 1; }
echo "curl over TLS on the same port: the v1 API answers"

echo
echo "etcdctl cluster suite: $passed compared commands passed"
