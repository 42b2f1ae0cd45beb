#!/usr/bin/env bash
# Operating a member: what monitoring polls (/version, /health, /metrics), the NOSPACE alarm
# and how to recover from it, a snapshot saved with etcdctl and restored into a new cluster,
# and a graceful stop.
source "$(dirname "$0")/lib.sh"
export ETCDCTL_API=3
CLIENT_PORT=$(free_port); PEER_PORT=$(free_port); METRICS_PORT=$(free_port)
EP=127.0.0.1:$CLIENT_PORT
ctl() { etcdctl --endpoints=$EP "$@"; }
echo "\$ etcd --name ops --quota-backend-bytes=65536 --listen-metrics-urls=http://127.0.0.1:<metrics port> ..."
start_etcd ops --name ops --listen-client-urls http://$EP --advertise-client-urls http://$EP \
    --listen-peer-urls http://127.0.0.1:$PEER_PORT --initial-advertise-peer-urls http://127.0.0.1:$PEER_PORT \
    --initial-cluster ops=http://127.0.0.1:$PEER_PORT --quota-backend-bytes=65536 \
    --listen-metrics-urls http://127.0.0.1:$METRICS_PORT
until_true 10 sh -c "curl -fs http://$EP/health >/dev/null"

echo '$ curl http://127.0.0.1:2379/version'
expect "$(curl -s http://$EP/version)" '{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}'
echo '$ curl http://127.0.0.1:2379/health'
expect "$(curl -s http://$EP/health)" '{"health":"true"}'
echo '$ curl http://127.0.0.1:<metrics port>/metrics | grep -E "^etcd_server_(has|is)_leader"'
expect "$(curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep -E '^etcd_server_(has|is)_leader' | sort)" $'etcd_server_has_leader 1.0\netcd_server_is_leader 1.0'
# Every name dashboards expect is there (the histograms and counters once something was counted).
ctl put metered 1 >/dev/null
metrics=$(curl -s http://$EP/metrics)
for name in etcd_server_leader_changes_seen_total etcd_server_proposals_committed_total etcd_server_proposals_applied_total \
    etcd_server_proposals_pending etcd_server_is_learner etcd_disk_wal_fsync_duration_seconds_bucket etcd_mvcc_db_total_size_in_bytes \
    etcd_mvcc_db_total_size_in_use_in_bytes 'grpc_server_started_total{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Put"}' \
    'grpc_server_handled_total{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Put",grpc_code="OK"}'; do
    grep -qF "$name" <<<"$metrics" || { echo "/metrics lacks $name" >&2; exit 1; }
done
echo "# /metrics also has leader changes, proposals, WAL fsync histograms, db sizes, gRPC calls by method and code"
echo '$ etcd --log-level=loud'
expect "$("$ETCD_BIN" --log-level=loud 2>&1; echo "exit $?")" $'etcd: --log-level loud: expected debug, info, warn, error, panic or fatal\nexit 2'

echo
echo '# Fill the store past its 64 KiB quota:'
value=$(head -c 3000 /dev/zero | tr '\0' x)
i=0
until ! out=$(ctl put "big$i" "$value" 2>&1); do
    i=$((i + 1))
    [ $i -lt 20 ] || { echo "the quota never filled" >&2; exit 1; }
done
echo "\$ etcdctl put big$i <3000 bytes>"
expect "$(echo "$out" | grep -v '^{')" 'Error: etcdserver: mvcc: database space exceeded'
echo '$ etcdctl alarm list'
expect "$(ctl alarm list | sed -E 's/memberID:[0-9]+/memberID:<id>/')" 'memberID:<id> alarm:NOSPACE '
echo '$ curl http://127.0.0.1:2379/health'
expect "$(curl -s http://$EP/health)" '{"health":"false"}'   # HTTP 503; the server's log says why
echo '$ etcdctl put small x     # every write that adds data is refused until the alarm is cleared'
expect "$(ctl put small x 2>&1 | grep -v '^{')" 'Error: etcdserver: mvcc: database space exceeded'
echo '# Recover as with etcd: delete, compact, defragment, then disarm.'
echo '$ etcdctl del --prefix big'
expect "$(ctl del --prefix big)" "$i"
revision=$(ctl endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
echo '$ etcdctl compact <revision> && etcdctl defrag && etcdctl alarm disarm'
expect "$(ctl compact "$revision")" "compacted revision $revision"
expect "$(ctl defrag)" "Finished defragmenting etcd member[$EP]"
expect "$(ctl alarm disarm | sed -E 's/memberID:[0-9]+/memberID:<id>/')" 'memberID:<id> alarm:NOSPACE '
expect "$(ctl put small x)" 'OK'
expect "$(curl -s http://$EP/health)" '{"health":"true"}'

echo
echo '$ etcdctl put before-snapshot kept && etcdctl snapshot save backup.db'
ctl put before-snapshot kept >/dev/null
expect "$(ctl snapshot save "$WORK/backup.db" 2>/dev/null)" "Snapshot saved at $WORK/backup.db"
echo '$ etcdctl put after-snapshot lost'
ctl put after-snapshot lost >/dev/null
echo '# A new two-member cluster from the file: `etcd snapshot restore` once per member, then start them.'
P1=$(free_port); P2=$(free_port); C1=$(free_port); C2=$(free_port)
cluster="r1=http://127.0.0.1:$P1,r2=http://127.0.0.1:$P2"
for n in 1 2; do
    peer=$([ $n = 1 ] && echo $P1 || echo $P2)
    echo "\$ etcd snapshot restore backup.db --name r$n --data-dir r$n --initial-cluster $cluster --initial-advertise-peer-urls http://127.0.0.1:$peer"
    "$ETCD_BIN" snapshot restore "$WORK/backup.db" --name r$n --data-dir "$WORK/r$n" --initial-cluster "$cluster" \
        --initial-advertise-peer-urls http://127.0.0.1:$peer
done
start_etcd r1 --name r1 --data-dir "$WORK/r1" --listen-client-urls http://127.0.0.1:$C1 --advertise-client-urls http://127.0.0.1:$C1 \
    --listen-peer-urls http://127.0.0.1:$P1 --initial-advertise-peer-urls http://127.0.0.1:$P1 --initial-cluster "$cluster"
start_etcd r2 --name r2 --data-dir "$WORK/r2" --listen-client-urls http://127.0.0.1:$C2 --advertise-client-urls http://127.0.0.1:$C2 \
    --listen-peer-urls http://127.0.0.1:$P2 --initial-advertise-peer-urls http://127.0.0.1:$P2 --initial-cluster "$cluster"
restored=127.0.0.1:$C1,127.0.0.1:$C2
until_true 10 sh -c "etcdctl --endpoints=$restored get before-snapshot >/dev/null 2>&1"
# Each member announces its client URL through the log once there is a leader.
until_true 10 sh -c "etcdctl --endpoints=$restored member list 2>/dev/null | grep -c ', http://127.0.0.1:[0-9]*, false' | grep -qx 2"
echo '$ etcdctl get --prefix "" --keys-only    # on the restored cluster'
expect "$(etcdctl --endpoints=$restored get --prefix '' --keys-only | grep -v '^$')" $'before-snapshot\nmetered\nsmall'
echo '$ etcdctl member list'
expect "$(etcdctl --endpoints=$restored member list | sed -E 's/^[0-9a-f]+/<id>/' | sort)" "<id>, started, r1, http://127.0.0.1:$P1, http://127.0.0.1:$C1, false
<id>, started, r2, http://127.0.0.1:$P2, http://127.0.0.1:$C2, false"
echo '$ truncate -s -1 backup.db && etcd snapshot restore backup.db ...   # a damaged file is refused'
truncate -s -1 "$WORK/backup.db"
expect "$("$ETCD_BIN" snapshot restore "$WORK/backup.db" --name r3 --data-dir "$WORK/r3" 2>&1 || true)" \
    "etcd snapshot restore: the snapshot's SHA-256 does not match its contents: the file is damaged or truncated"

echo
echo '$ kill -TERM <etcd>     # a graceful stop: exit status 0'
kill -TERM "${NODE_PID[ops]}"
status=0
wait "${NODE_PID[ops]}" || status=$?
expect "$status" '0'
grep -q "stopped serving client requests" "$WORK/ops.log"
