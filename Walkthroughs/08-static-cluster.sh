#!/usr/bin/env bash
# etcd 3's usual way to found a cluster: every member started with the same --initial-cluster.
# They agree on the membership from their first entries, elect a leader, and publish their
# client URLs through the log.
# Stage 2 is enough: ETCD_BIN=.build/debug/etcd-stage2 runs it on the v1 cluster alone (CI does).
source "$(dirname "$0")/lib.sh"

declare -A C P
for n in 0 1 2; do C[$n]=$(free_port); P[$n]=$(free_port); done
CLUSTER="infra0=http://127.0.0.1:${P[0]},infra1=http://127.0.0.1:${P[1]},infra2=http://127.0.0.1:${P[2]}"
echo '$ etcd --name infraN --initial-cluster infra0=http://127.0.0.1:2380,infra1=...:2381,infra2=...:2382 \'
echo '       --initial-cluster-state new --listen-client-urls http://127.0.0.1:237N --listen-peer-urls http://127.0.0.1:238N'
for n in 0 1 2; do
    start_etcd "infra$n" --name "infra$n" --initial-cluster "$CLUSTER" --initial-cluster-state new \
        --listen-client-urls "http://127.0.0.1:${C[$n]}" --listen-peer-urls "http://127.0.0.1:${P[$n]}"
done
all_published() { [ "$(curl -s "http://127.0.0.1:${C[2]}/machines" | tr ',' '\n' | grep -c http)" = 3 ]; }
until_true 10 all_published
echo '$ curl -L http://127.0.0.1:2372/machines   # leader first'
curl -sL "http://127.0.0.1:${C[2]}/machines" | sed "s/:${C[0]}/:2370/; s/:${C[1]}/:2371/; s/:${C[2]}/:2372/"; echo
echo '$ curl -L http://127.0.0.1:2371/v1/keys/greeting -d value=hello'
expect "$(curl -sL "http://127.0.0.1:${C[1]}/v1/keys/greeting" -d value=hello | sed 's/"index":[0-9]*/"index":N/')" \
    '{"action":"SET","key":"/greeting","value":"hello","newKey":true,"index":N}'
everywhere() { for n in 0 1 2; do curl -s "http://127.0.0.1:${C[$n]}/v1/keys/greeting" | grep -q hello || return 1; done; }
until_true 5 everywhere
echo '$ curl -L http://127.0.0.1:2370/v1/keys/greeting'
expect "$(curl -sL "http://127.0.0.1:${C[0]}/v1/keys/greeting" | sed 's/"index":[0-9]*/"index":N/')" '{"action":"GET","key":"/greeting","value":"hello","index":N}'

echo '# Kill all three and start them again with the same commands: the data directories win.'
for n in 0 1 2; do kill_etcd "infra$n"; done
for n in 0 1 2; do
    start_etcd "infra$n" --name "infra$n" --initial-cluster "$CLUSTER" --initial-cluster-state new \
        --listen-client-urls "http://127.0.0.1:${C[$n]}" --listen-peer-urls "http://127.0.0.1:${P[$n]}"
done
grep -q "found an existing data directory" "$WORK/infra1.log"
until_true 10 everywhere
has_leader() { [[ "$(curl -s "http://127.0.0.1:${C[0]}/leader")" == http* ]]; }
until_true 10 has_leader
echo '$ curl -L http://127.0.0.1:2371/v1/keys/greeting'
expect "$(curl -sL "http://127.0.0.1:${C[1]}/v1/keys/greeting" | sed 's/"index":[0-9]*/"index":N/')" '{"action":"GET","key":"/greeting","value":"hello","index":N}'
