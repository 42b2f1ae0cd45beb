#!/usr/bin/env bash
# etcd 3's getting started, on a bare `etcd`: etcdctl on 2379, curl on 4001, one daemon; then
# watching a prefix.
source "$(dirname "$0")/lib.sh"
export ETCDCTL_API=3
for port in 2379 2380 4001; do
    if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$port))==0)"; then :; else
        echo "port $port is in use: this walkthrough runs etcd with no flags at all, on its default ports" >&2; exit 1
    fi
done
echo '$ etcd        # no flags: a one-member cluster in ./default.etcd, clients on 2379 and 4001'
( cd "$WORK" && exec "$ETCD_BIN" ) >"$WORK/etcd.log" 2>&1 &
STARTED_PIDS+=($!)
until_true 20 grep -qs "ready to serve client requests" "$WORK/etcd.log"
echo '$ etcdctl put mykey "this is awesome"'
expect "$(etcdctl put mykey "this is awesome")" 'OK'
echo '$ etcdctl get mykey'
expect "$(etcdctl get mykey)" $'mykey\nthis is awesome'
echo '$ etcdctl get mykey -w json   # revisions: the first write of a new cluster is revision 2'
expect "$(etcdctl get mykey -w json | sed -E 's/"(cluster_id|member_id|raft_term)":[0-9]+/"\1":N/g')" \
    '{"header":{"cluster_id":N,"member_id":N,"revision":2,"raft_term":N},"kvs":[{"key":"bXlrZXk=","create_revision":2,"mod_revision":2,"version":1,"value":"dGhpcyBpcyBhd2Vzb21l"}],"count":1}'
echo '$ curl -L http://127.0.0.1:4001/v1/keys/message -d value="Hello world"   # the v1 API, same daemon'
# Raft index 4: the member (1), the leader's first entry (2), the v3 put (3), this write.
expect "$(curl -sL http://127.0.0.1:4001/v1/keys/message -d value="Hello world")" \
    '{"action":"SET","key":"/message","value":"Hello world","newKey":true,"index":4}'
echo '$ curl -L http://127.0.0.1:2379/v1/keys/message   # both ports speak both APIs'
expect "$(curl -sL http://127.0.0.1:2379/v1/keys/message | sed 's/"index":[0-9]*/"index":N/')" \
    '{"action":"GET","key":"/message","value":"Hello world","index":N}'

echo
echo '$ etcdctl watch --prefix /foo &     # then, from another terminal:'
( timeout 4 etcdctl watch --prefix /foo > "$WORK/watch.out" 2>&1 || true ) & watcher=$!
sleep 1
echo '$ etcdctl put /foo/a 1 && etcdctl put /foo/b 2 && etcdctl put /other x && etcdctl del /foo/a'
etcdctl put /foo/a 1 >/dev/null && etcdctl put /foo/b 2 >/dev/null && etcdctl put /other x >/dev/null && etcdctl del /foo/a >/dev/null
wait $watcher
echo '# the watcher printed:'
expect "$(cat "$WORK/watch.out")" $'PUT\n/foo/a\n1\nPUT\n/foo/b\n2\nDELETE\n/foo/a'
echo '$ etcdctl watch --prefix /foo --rev=3   # history: every change from revision 3 on'
expect "$(timeout 1.5 etcdctl watch --prefix /foo --rev=3 || true)" $'PUT\n/foo/a\n1\nPUT\n/foo/b\n2\nDELETE\n/foo/a'
