#!/usr/bin/env bash
# Membership changes under load: while etcdctl writers put keys through every member, a fourth
# member is added as a learner, started, promoted, made leader and removed; then a fifth is
# added as a voter and one of the founders removed. Nothing acknowledged may be lost, and at
# the end HashKV must agree on every member (the cross-check that replicas hold the same), after a
# compaction and a defragmentation. The v3 store holds about 100 MB before the changes begin, and
# more entries than the log keeps behind each snapshot (1,000) came after it, so each new member
# is sent a copy of the backend file to start from (the first is killed while it takes it in).
#
#   Tests/Integration/membership-load.sh      (ETCD_BIN: our binary; needs etcdctl 3.4)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ETCD_BIN=${ETCD_BIN:-$ROOT/.build/debug/etcd}
# Read here, not passed on: etcd reports an ETCD_* variable that names no flag.
export -n ETCD_BIN
export ETCDCTL_API=3
WORK=$(mktemp -d)
PIDS=()
trap 'touch "$WORK/stop"; for p in "${PIDS[@]}"; do kill -9 $p 2>/dev/null || true; done; wait 2>/dev/null; [ -n "${KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# until_true SECONDS COMMAND...: polls until it succeeds; fails the test after SECONDS.
until_true() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || { echo "timed out waiting for: $*" >&2; exit 1; }
        sleep 0.1
    done
}
declare -A C P PID
# Ten distinct ports (the kernel may hand the same free port out twice).
ports=()
while [ ${#ports[@]} -lt 10 ]; do
    port=$(free_port)
    [[ " ${ports[*]} " == *" $port "* ]] || ports+=("$port")
done
i=0
for n in m0 m1 m2 l3 v4; do C[$n]=${ports[$i]}; P[$n]=${ports[$((i + 1))]}; i=$((i + 2)); done
start() {  # NAME STATE CLUSTER
    "$ETCD_BIN" --name "$1" --data-dir "$WORK/$1" --initial-cluster "$3" --initial-cluster-state "$2" \
        --listen-client-urls "http://127.0.0.1:${C[$1]}" --advertise-client-urls "http://127.0.0.1:${C[$1]}" \
        --listen-peer-urls "http://127.0.0.1:${P[$1]}" --initial-advertise-peer-urls "http://127.0.0.1:${P[$1]}" \
        --snapshot-count 50 --experimental-snapshot-catchup-entries 1000 >"$WORK/$1.log" 2>&1 &
    PID[$1]=$!
    PIDS+=($!)
}
founders="m0=http://127.0.0.1:${P[m0]},m1=http://127.0.0.1:${P[m1]},m2=http://127.0.0.1:${P[m2]}"
for n in m0 m1 m2; do start $n new "$founders"; done
for n in m0 m1 m2; do until_true 20 etcdctl --endpoints="127.0.0.1:${C[$n]}" --command-timeout=1s get x; done
ctl() { etcdctl --endpoints="127.0.0.1:${C[m0]},127.0.0.1:${C[m1]}" --command-timeout=5s "$@"; }
# About 100 MB of values, 1 MB each (etcd's request limit is 1.5 MiB), some overwritten twice so
# that compaction has history to remove.
head -c 750000 /dev/urandom | base64 -w0 >"$WORK/big"
for i in $(seq 100); do ctl --command-timeout=20s put "big/$((i % 80))" <"$WORK/big" >/dev/null; done
# Then 1,100 small v1 writes, one connection, so the log moves past what it keeps.
python3 - "${C[m0]}" <<'PY'
import http.client, sys
from urllib.parse import urlsplit
connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
i = 0
while i < 1100:
    connection.request("POST", f"/v1/keys/fill/{i}", body=f"value={i}", headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    response.read()
    if response.status in (301, 302, 307):  # a follower names the leader: write there
        leader = urlsplit(response.getheader("Location"))
        connection = http.client.HTTPConnection(leader.hostname, leader.port, timeout=10)
        continue
    assert response.status == 200, (i, response.status)
    i += 1
PY
echo "v3 store before the changes: $(du -sm "$WORK/m0/snap/db" | cut -f1) MB on m0"

# writer W: puts w<W>/<i> through the members in turn, recording what was acknowledged.
writer() {
    local i=0 targets=(m0 m1 m2)
    while [ ! -e "$WORK/stop" ]; do
        i=$((i + 1))
        local n=${targets[$((i % 3))]}
        if [ "$(etcdctl --endpoints="127.0.0.1:${C[$n]}" --dial-timeout=1s --command-timeout=3s put "w$1/$i" "v$i" 2>/dev/null)" = OK ]; then
            echo "w$1/$i v$i" >>"$WORK/acked.$1"
        fi
    done
}
WRITERS=()
for w in 1 2 3; do writer $w & WRITERS+=($!); PIDS+=($!); done

echo "add l3 as a learner, start it, promote it"
learner=$(ctl member add l3 --peer-urls="http://127.0.0.1:${P[l3]}" --learner | awk 'NR==1{print $2}')
start l3 existing "$founders,l3=http://127.0.0.1:${P[l3]}"
# A crash while the copy of the leader's store arrives or is swapped in: kill -9 as soon as it is
# under way (or done, if it was quick), then start it again on the same data directory.
receiving() { compgen -G "$WORK/l3/snap/state.received-*" >/dev/null || grep -q "restored the store from a snapshot" "$WORK/l3.log"; }
until_true 60 receiving
kill -9 "${PID[l3]}"
wait "${PID[l3]}" 2>/dev/null || true
echo "killed l3 while it took the leader's store; starting it again"
start l3 existing "$founders,l3=http://127.0.0.1:${P[l3]}"
until_true 60 ctl member promote "$learner"
# (Promotion may come first: the leader counts a snapshot sent as caught up.)
until_true 60 grep -q "restored the store from a snapshot" "$WORK/l3.log"
echo "make it leader, then remove it"
until_true 20 etcdctl --endpoints="127.0.0.1:${C[m0]},127.0.0.1:${C[m1]},127.0.0.1:${C[m2]},127.0.0.1:${C[l3]}" move-leader "$learner"
until_true 20 ctl member remove "$learner"
deadline=$((SECONDS + 15))
while kill -0 "${PID[l3]}" 2>/dev/null; do [ $SECONDS -lt $deadline ] || { echo "l3 did not exit after its removal" >&2; exit 1; }; sleep 0.1; done
echo "add v4 as a voter and start it; remove m2"
until_true 20 ctl member add v4 --peer-urls="http://127.0.0.1:${P[v4]}"
start v4 existing "$founders,v4=http://127.0.0.1:${P[v4]}"
until_true 20 etcdctl --endpoints="127.0.0.1:${C[v4]}" --command-timeout=1s get x
m2id=$(ctl member list | awk -F', ' '$3=="m2"{print $1}')
until_true 20 ctl member remove "$m2id"
deadline=$((SECONDS + 15))
while kill -0 "${PID[m2]}" 2>/dev/null; do [ $SECONDS -lt $deadline ] || { echo "m2 did not exit after its removal" >&2; exit 1; }; sleep 0.1; done

touch "$WORK/stop"
wait "${WRITERS[@]}"
cat "$WORK"/acked.* | sort >"$WORK/acked"
echo "acknowledged writes: $(wc -l <"$WORK/acked")"
[ "$(wc -l <"$WORK/acked")" -gt 20 ] || { echo "too few writes were acknowledged to mean anything" >&2; exit 1; }
remaining=(m0 m1 v4)
endpoints="127.0.0.1:${C[m0]},127.0.0.1:${C[m1]},127.0.0.1:${C[v4]}"
echo "$(ctl member list | wc -l) members: $(ctl member list | awk -F', ' '{print $3}' | sort | tr '\n' ' ')"
[ "$(ctl member list | awk -F', ' '{print $3}' | sort | tr '\n' ' ')" = "m0 m1 v4 " ] || { echo "unexpected members" >&2; exit 1; }
until_true 60 grep -q "restored the store from a snapshot" "$WORK/v4.log"
# Compaction (rows deleted in batches) and defragmentation (each member rebuilds its file), then
# a final write through each member, so every member has applied the same revision.
revision=$(ctl get final -w json | sed -E 's/.*"revision":([0-9]+).*/\1/')
ctl compact "$revision" >/dev/null
etcdctl --endpoints="$endpoints" --command-timeout=30s defrag
for n in "${remaining[@]}"; do etcdctl --endpoints="127.0.0.1:${C[$n]}" put final "$n" >/dev/null; done
agree() { [ "$(etcdctl --endpoints="$endpoints" endpoint hashkv | awk '{print $2}' | sort -u | wc -l)" = 1 ]; }
until_true 20 agree
etcdctl --endpoints="$endpoints" endpoint hashkv
for n in "${remaining[@]}"; do
    etcdctl --endpoints="127.0.0.1:${C[$n]}" get w --prefix --consistency=s | paste - - | tr '\t' ' ' | sort >"$WORK/found.$n"
    missing=$(comm -23 "$WORK/acked" "$WORK/found.$n")
    [ -z "$missing" ] || { echo "LOST acknowledged writes on $n:" >&2; echo "$missing" | head >&2; exit 1; }
done
echo "every acknowledged write is on every remaining member, and HashKV agrees on all of them"
