#!/usr/bin/env bash
# README "Listing directory", and the machine and leader endpoints of a one-machine cluster.
source "$(dirname "$0")/lib.sh"

CLIENT_PORT=$(free_port)
PEER_PORT=$(free_port)
start_etcd node1 -c "127.0.0.1:$CLIENT_PORT" -s "127.0.0.1:$PEER_PORT" -n node1
C=http://127.0.0.1:$CLIENT_PORT

curl -sL $C/v1/keys/foo/foo -d value=barbar >/dev/null
curl -sL $C/v1/keys/foo/foo_dir/bar -d value=barbarbar >/dev/null
echo '$ curl -L http://127.0.0.1:4001/v1/keys/foo/'
expect "$(curl -sL $C/v1/keys/foo/)" \
    '[{"action":"GET","key":"/foo/foo","value":"barbar","index":4},{"action":"GET","key":"/foo/foo_dir","dir":true,"index":4}]'

echo '$ curl -L http://127.0.0.1:4001/v1/keys/_etcd/machines'
expect "$(curl -sL $C/v1/keys/_etcd/machines | sed "s/$CLIENT_PORT/4001/; s/$PEER_PORT/7001/")" \
    '[{"action":"GET","key":"/_etcd/machines/node1","value":"raft=http://127.0.0.1:7001\u0026etcd=http://127.0.0.1:4001","index":4}]'

echo '$ curl -L http://127.0.0.1:4001/machines'
expect "$(curl -sL $C/machines | sed "s/$CLIENT_PORT/4001/")" 'http://127.0.0.1:4001'

echo '$ curl -L http://127.0.0.1:4001/leader'
expect "$(curl -sL $C/leader | sed "s/$PEER_PORT/7001/")" 'http://127.0.0.1:7001'
