#!/usr/bin/env bash
# The same daemon configured with etcd 3's flags and ETCD_ variables: found a cluster with one
# member, add a second with --initial-cluster-state existing, and use the v1 API on both.
# Needs the full etcd: ETCD_* variables are read by the daemon, not by the stage binaries.
source "$(dirname "$0")/lib.sh"

C0=$(free_port); P0=$(free_port); C1=$(free_port); P1=$(free_port)
echo '$ etcd --name infra0 --data-dir infra0.etcd --listen-client-urls http://127.0.0.1:2379 \'
echo '       --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \'
echo '       --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster infra0=http://127.0.0.1:2380'
start_etcd infra0 --name infra0 --data-dir "$WORK/infra0.etcd" \
    --listen-client-urls "http://127.0.0.1:$C0" --advertise-client-urls "http://127.0.0.1:$C0" \
    --listen-peer-urls "http://127.0.0.1:$P0" --initial-advertise-peer-urls "http://127.0.0.1:$P0" \
    --initial-cluster "infra0=http://127.0.0.1:$P0"

echo '$ ETCD_NAME=infra1 ETCD_INITIAL_CLUSTER_STATE=existing etcd --data-dir infra1.etcd \'
echo '       --listen-client-urls http://127.0.0.1:22379 --listen-peer-urls http://127.0.0.1:22380 \'
echo '       --initial-cluster infra0=http://127.0.0.1:2380,infra1=http://127.0.0.1:22380'
ETCD_NAME=infra1 ETCD_INITIAL_CLUSTER_STATE=existing start_etcd infra1 --data-dir "$WORK/infra1.etcd" \
    --listen-client-urls "http://127.0.0.1:$C1" --listen-peer-urls "http://127.0.0.1:$P1" \
    --initial-cluster "infra0=http://127.0.0.1:$P0,infra1=http://127.0.0.1:$P1"

echo '$ curl -L http://127.0.0.1:2379/v1/keys/config -d value=shared'
expect "$(curl -sL http://127.0.0.1:$C0/v1/keys/config -d value=shared)" \
    '{"action":"SET","key":"/config","value":"shared","newKey":true,"index":4}'
replicated() { curl -s "http://127.0.0.1:$C1/v1/keys/config" | grep -q '"value":"shared"'; }
until_true 5 replicated
echo '$ curl -L http://127.0.0.1:22379/v1/keys/config'
expect "$(curl -sL http://127.0.0.1:$C1/v1/keys/config)" '{"action":"GET","key":"/config","value":"shared","index":4}'
echo '$ curl -L http://127.0.0.1:22379/machines'
expect "$(curl -sL http://127.0.0.1:$C1/machines | sed "s/:$C0/:2379/; s/:$C1/:22379/")" 'http://127.0.0.1:2379,http://127.0.0.1:22379'
