#!/usr/bin/env bash
# The v3 API with curl, where no etcdctl is installed: etcd's JSON gateway on the client port.
# Keys and values are base64 in JSON; 64-bit numbers are strings. A key and its value, a watch
# in one terminal and a put in another, a lease, and an election.
source "$(dirname "$0")/lib.sh"
CLIENT_PORT=$(free_port); PEER_PORT=$(free_port)
EP=http://127.0.0.1:$CLIENT_PORT
echo "\$ etcd --name curl ..."
start_etcd curl --name curl --listen-client-urls $EP --advertise-client-urls $EP \
    --listen-peer-urls http://127.0.0.1:$PEER_PORT --initial-advertise-peer-urls http://127.0.0.1:$PEER_PORT \
    --initial-cluster curl=http://127.0.0.1:$PEER_PORT
# What differs from run to run: the cluster's and member's IDs, the term, lease IDs.
ids='s/"(cluster_id|member_id|raft_term|ID|lease)":"[0-9]+"/"\1":"N"/g'
post() { curl -s -X POST "$EP$1" -d "$2" | sed -E "$ids"; }

echo '$ echo -n foo | base64; echo -n bar | base64'
expect "$(echo -n foo | base64; echo -n bar | base64)" $'Zm9v\nYmFy'
echo '$ curl -X POST http://127.0.0.1:2379/v3/kv/put -d '"'"'{"key":"Zm9v","value":"YmFy"}'"'"
expect "$(post /v3/kv/put '{"key":"Zm9v","value":"YmFy"}')" \
    '{"header":{"cluster_id":"N","member_id":"N","revision":"2","raft_term":"N"}}'
echo '$ curl -X POST http://127.0.0.1:2379/v3/kv/range -d '"'"'{"key":"Zm9v"}'"'"
expect "$(post /v3/kv/range '{"key":"Zm9v"}')" \
    '{"header":{"cluster_id":"N","member_id":"N","revision":"2","raft_term":"N"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}'
echo '$ curl -X POST http://127.0.0.1:2379/v3/kv/range -d '"'"'{"key":""}'"'"'     # errors: etcd'"'"'s words, HTTP status and gRPC code'
expect "$(curl -s -w ' %{http_code}' -X POST $EP/v3/kv/range -d '{"key":""}')" \
    '{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3} 400'

echo
echo '$ curl -N -X POST http://127.0.0.1:2379/v3/watch -d '"'"'{"create_request":{"key":"Zm9v"}}'"'"' &   # one JSON object per change'
( curl -sN -X POST $EP/v3/watch -d '{"create_request":{"key":"Zm9v"}}' --max-time 3 > "$WORK/watch.out" || true ) & watcher=$!
sleep 1
echo '$ curl -X POST http://127.0.0.1:2379/v3/kv/put -d '"'"'{"key":"Zm9v","value":"YmF6"}'"'"'    # from another terminal'
post /v3/kv/put '{"key":"Zm9v","value":"YmF6"}' >/dev/null
wait $watcher
echo '# the watcher printed:'
expect "$(sed -E "$ids" "$WORK/watch.out")" \
    $'{"result":{"header":{"cluster_id":"N","member_id":"N","revision":"2","raft_term":"N"},"created":true}}\n{"result":{"header":{"cluster_id":"N","member_id":"N","revision":"3","raft_term":"N"},"events":[{"kv":{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2","value":"YmF6"}}]}}'

echo
echo '$ curl -X POST http://127.0.0.1:2379/v3/lease/grant -d '"'"'{"TTL":60}'"'"
lease=$(curl -s -X POST $EP/v3/lease/grant -d '{"TTL":60}')
expect "$(sed -E "$ids" <<<"$lease")" '{"header":{"cluster_id":"N","member_id":"N","revision":"3","raft_term":"N"},"ID":"N","TTL":"60"}'
id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ID"])' "$lease")
echo '$ curl -X POST http://127.0.0.1:2379/v3/kv/put -d '"'"'{"key":"c2Vzc2lvbg==","value":"MQ==","lease":"<ID>"}'"'"
expect "$(post /v3/kv/put "{\"key\":\"c2Vzc2lvbg==\",\"value\":\"MQ==\",\"lease\":\"$id\"}")" \
    '{"header":{"cluster_id":"N","member_id":"N","revision":"4","raft_term":"N"}}'
echo '$ curl -X POST http://127.0.0.1:2379/v3/lease/keepalive -d '"'"'{"ID":"<ID>"}'"'"
expect "$(curl -s -X POST $EP/v3/lease/keepalive -d "{\"ID\":\"$id\"}" --max-time 1 | sed -E "$ids")" \
    '{"result":{"header":{"cluster_id":"N","member_id":"N","revision":"4","raft_term":"N"},"ID":"N","TTL":"60"}}'

echo
echo '$ curl -X POST http://127.0.0.1:2379/v3/election/campaign -d '"'"'{"name":"d2Vi","lease":"<ID>","value":"bm9kZTE="}'"'"'   # "web", "node1"'
campaign=$(curl -s -X POST $EP/v3/election/campaign -d "{\"name\":\"d2Vi\",\"lease\":\"$id\",\"value\":\"bm9kZTE=\"}")
hex=$(printf '%x' "$id")
expect "$(sed -E "$ids" <<<"$campaign")" \
    "{\"header\":{\"cluster_id\":\"N\",\"member_id\":\"N\",\"revision\":\"5\",\"raft_term\":\"N\"},\"leader\":{\"name\":\"d2Vi\",\"key\":\"$(printf 'web/%s' "$hex" | base64 -w0)\",\"rev\":\"5\",\"lease\":\"N\"}}"
echo '$ curl -X POST http://127.0.0.1:2379/v3/election/leader -d '"'"'{"name":"d2Vi"}'"'"
expect "$(post /v3/election/leader '{"name":"d2Vi"}' | python3 -c 'import json,sys,base64; kv=json.load(sys.stdin)["kv"]; print(base64.b64decode(kv["value"]).decode())')" 'node1'
leader=$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])["leader"]))' "$campaign")
echo '$ curl -X POST http://127.0.0.1:2379/v3/election/resign -d '"'"'{"leader":<the leader key Campaign answered>}'"'"
expect "$(post /v3/election/resign "{\"leader\":$leader}")" '{"header":{"cluster_id":"N","member_id":"N","revision":"6","raft_term":"N"}}'
echo '$ curl -X POST http://127.0.0.1:2379/v3/election/leader -d '"'"'{"name":"d2Vi"}'"'"
expect "$(curl -s -w ' %{http_code}' -X POST $EP/v3/election/leader -d '{"name":"d2Vi"}')" \
    '{"error":"election: no leader","message":"election: no leader","code":2} 500'
