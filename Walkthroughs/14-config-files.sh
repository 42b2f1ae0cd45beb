#!/usr/bin/env bash
# A three-member cluster, each member started from a config file in etcd's YAML (the keys of
# etcd's etcd.conf.yml.sample), then used with etcdctl.
source "$(dirname "$0")/lib.sh"
export ETCDCTL_API=3
cd "$WORK"
declare -A C P
for n in 1 2 3; do C[$n]=$(free_port); P[$n]=$(free_port); done
cluster="infra1=http://127.0.0.1:${P[1]},infra2=http://127.0.0.1:${P[2]},infra3=http://127.0.0.1:${P[3]}"
for n in 1 2 3; do
    cat >"infra$n.conf.yml" <<CONF
# This member's name and where it keeps its data.
name: 'infra$n'
data-dir: $WORK/infra$n.etcd
wal-dir:
snapshot-count: 10000
# Milliseconds.
heartbeat-interval: 100
election-timeout: 1000
listen-peer-urls: http://127.0.0.1:${P[$n]}
listen-client-urls: http://127.0.0.1:${C[$n]}
initial-advertise-peer-urls: http://127.0.0.1:${P[$n]}
advertise-client-urls: http://127.0.0.1:${C[$n]}
initial-cluster: $cluster
initial-cluster-token: 'etcd-cluster-1'
initial-cluster-state: 'new'
strict-reconfig-check: true
client-transport-security:
  client-cert-auth: false
  auto-tls: false
peer-transport-security:
  client-cert-auth: false
  auto-tls: false
log-level: info
log-outputs: [stderr]
CONF
done
echo '$ cat infra1.conf.yml'
sed -E "s#$WORK/##; s/:${P[1]}/:2380/g; s/:${C[1]}/:2379/g; s/:${P[2]}/:22380/g; s/:${P[3]}/:32380/g" infra1.conf.yml
# The three start together: each waits for the others to elect a leader.
for n in 1 2 3; do
    "$ETCD_BIN" --config-file "infra$n.conf.yml" >"$WORK/infra$n.log" 2>&1 &
    STARTED_PIDS+=($!)
done
for n in 1 2 3; do until_true 20 grep -q "ready to serve client requests" "$WORK/infra$n.log"; done
until_true 20 bash -c "etcdctl --endpoints=127.0.0.1:${C[1]} endpoint health >/dev/null 2>&1"   # a leader elected
echo '$ etcd --config-file infra1.conf.yml   # and infra2, infra3 from theirs'
grep -o "loaded server configuration from infra1.conf.yml" "$WORK/infra1.log" | head -1

echo '$ etcdctl --endpoints=127.0.0.1:2379 put greeting hello'
expect "$(etcdctl --endpoints="127.0.0.1:${C[1]}" put greeting hello)" OK
echo '$ etcdctl --endpoints=127.0.0.1:32379 get greeting   # another member'
expect "$(etcdctl --endpoints="127.0.0.1:${C[3]}" get greeting)" $'greeting\nhello'
echo '$ etcdctl --endpoints=127.0.0.1:2379 member list'
until_true 10 bash -c "[ \$(etcdctl --endpoints=127.0.0.1:${C[1]} member list | grep -c started) = 3 ]"
etcdctl --endpoints="127.0.0.1:${C[1]}" member list | cut -d, -f2- | sort | sed -E "s/:${P[1]}/:2380/; s/:${C[1]}/:2379/; s/:${P[2]}/:22380/; s/:${C[2]}/:22379/; s/:${P[3]}/:32380/; s/:${C[3]}/:32379/"

echo
echo '# A flag beside the file is refused (etcd 3.4 would silently run with the file alone):'
echo '$ etcd --config-file infra1.conf.yml --name other'
expect "$("$ETCD_BIN" --config-file infra1.conf.yml --name other 2>&1; echo "exit $?")" \
    $'etcd: --config-file infra1.conf.yml was given with other flags (--name): put every setting in the file, or give no config file\nexit 2'
