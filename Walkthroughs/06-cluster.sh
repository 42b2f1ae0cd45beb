#!/usr/bin/env bash
# README "Clustering": three machines, the machines and the leader, a write seen everywhere, a
# killed leader replaced, and every machine killed and restarted with nothing lost.
# Stage 2 is enough: ETCD_BIN=.build/debug/etcd-stage2 runs it on the v1 cluster alone (CI does).
source "$(dirname "$0")/lib.sh"

C1=$(free_port); S1=$(free_port); C2=$(free_port); S2=$(free_port); C3=$(free_port); S3=$(free_port)
normalize() { sed "s/:$C1/:4001/g; s/:$C2/:4002/g; s/:$C3/:4003/g; s/:$S1/:7001/g; s/:$S2/:7002/g; s/:$S3/:7003/g"; }

echo '$ etcd -s 7001 -c 4001 -d nodes/node1'
start_etcd node1 -s "$S1" -c "$C1" -d "$WORK/nodes/node1"
echo '$ etcd -s 7002 -c 4002 -C 127.0.0.1:7001 -d nodes/node2'
start_etcd node2 -s "$S2" -c "$C2" -C "127.0.0.1:$S1" -d "$WORK/nodes/node2"
echo '$ etcd -s 7003 -c 4003 -C 127.0.0.1:7001 -d nodes/node3'
start_etcd node3 -s "$S3" -c "$C3" -C "127.0.0.1:$S1" -d "$WORK/nodes/node3"

echo '$ curl -L http://127.0.0.1:4001/machines'
expect "$(curl -sL http://127.0.0.1:$C1/machines | normalize)" 'http://127.0.0.1:4001,http://127.0.0.1:4002,http://127.0.0.1:4003'
echo '$ curl -L http://127.0.0.1:4001/leader'
expect "$(curl -sL http://127.0.0.1:$C1/leader | normalize)" 'http://127.0.0.1:7001'

echo '# The joins took indexes 1, 3 and 4 (2 is the first leader'"'"'s entry), so the first write is 5.'
echo '$ curl -L http://127.0.0.1:4001/v1/keys/foo -d value=bar'
expect "$(curl -sL http://127.0.0.1:$C1/v1/keys/foo -d value=bar)" '{"action":"SET","key":"/foo","value":"bar","newKey":true,"index":5}'

has_key() { [ "$(curl -s http://127.0.0.1:$1/v1/keys/foo)" = "$2" ]; }
until_true 5 has_key "$C3" '{"action":"GET","key":"/foo","value":"bar","index":5}'
echo '$ curl -L http://127.0.0.1:4003/v1/keys/foo'
expect "$(curl -sL http://127.0.0.1:$C3/v1/keys/foo)" '{"action":"GET","key":"/foo","value":"bar","index":5}'

echo '# A write sent to a follower is redirected to the leader; curl -L follows it.'
echo '$ curl -i http://127.0.0.1:4002/v1/keys/foo -d value=via-follower'
redirect=$(curl -si http://127.0.0.1:$C2/v1/keys/foo -d value=via-follower | tr -d '\r' | grep -i '^location:' | normalize)
expect "$redirect" 'Location: http://127.0.0.1:4001/v1/keys/foo'
echo '$ curl -L http://127.0.0.1:4002/v1/keys/foo -d value=via-follower'
expect "$(curl -sL http://127.0.0.1:$C2/v1/keys/foo -d value=via-follower)" \
    '{"action":"SET","key":"/foo","prevValue":"bar","value":"via-follower","index":6}'

echo '# Kill the leader (kill -9). Within a couple of seconds the others elect a new one.'
kill_etcd node1
new_leader() { local l; l=$(curl -s http://127.0.0.1:$C2/leader); [ -n "$l" ] && [ "$l" != "http://127.0.0.1:$S1" ] && [[ "$l" == http* ]]; }
until_true 5 new_leader
echo '$ curl -L http://127.0.0.1:4002/leader'
curl -sL http://127.0.0.1:$C2/leader | normalize; echo
echo '$ curl -L http://127.0.0.1:4002/v1/keys/foo'
expect "$(curl -sL http://127.0.0.1:$C2/v1/keys/foo)" '{"action":"GET","key":"/foo","value":"via-follower","index":6}'
echo '$ curl -L http://127.0.0.1:4002/v1/keys/foo -d value=after-failover'
expect "$(curl -sL http://127.0.0.1:$C2/v1/keys/foo -d value=after-failover | sed 's/"index":[0-9]*/"index":N/')" \
    '{"action":"SET","key":"/foo","prevValue":"via-follower","value":"after-failover","index":N}'

echo '# Kill every machine, then start them all again with the same commands.'
kill_etcd node2
kill_etcd node3
start_etcd node1 -s "$S1" -c "$C1" -d "$WORK/nodes/node1"
start_etcd node2 -s "$S2" -c "$C2" -C "127.0.0.1:$S1" -d "$WORK/nodes/node2"
start_etcd node3 -s "$S3" -c "$C3" -C "127.0.0.1:$S1" -d "$WORK/nodes/node3"
grep -q "found an existing data directory" "$WORK/node2.log"
has_leader() { [[ "$(curl -s http://127.0.0.1:$C1/leader)" == http* ]]; }
until_true 10 has_leader
value_everywhere() { for c in $C1 $C2 $C3; do curl -s http://127.0.0.1:$c/v1/keys/foo | grep -q '"value":"after-failover"' || return 1; done; }
until_true 10 value_everywhere
echo '$ curl -L http://127.0.0.1:4001/v1/keys/foo'
expect "$(curl -sL http://127.0.0.1:$C1/v1/keys/foo | sed 's/"index":[0-9]*/"index":N/')" \
    '{"action":"GET","key":"/foo","value":"after-failover","index":N}'
