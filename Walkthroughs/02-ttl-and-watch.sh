#!/usr/bin/env bash
# README "Using key TTL" and "Watching a prefix", including watching from an index.
source "$(dirname "$0")/lib.sh"

CLIENT_PORT=$(free_port)
# -v logs each watcher as it starts waiting, which tells this script when to go on.
start_etcd node1 -c "127.0.0.1:$CLIENT_PORT" -s "127.0.0.1:$(free_port)" -n node1 -v
C=http://127.0.0.1:$CLIENT_PORT

echo '$ curl -L http://127.0.0.1:4001/v1/keys/foo -d value=bar -d ttl=2'
expect "$(curl -sL $C/v1/keys/foo -d value=bar -d ttl=2)" \
    '{"action":"SET","key":"/foo","value":"bar","newKey":true,"expiration":"<time>","ttl":1,"index":3}'

echo '$ curl -L http://127.0.0.1:4001/v1/keys/foo   # before it expires'
expect "$(curl -sL $C/v1/keys/foo)" \
    '{"action":"GET","key":"/foo","value":"bar","expiration":"<time>","ttl":1,"index":3}'

echo '# ...two seconds later the key has expired:'
gone() { [ "$(curl -s -o /dev/null -w '%{http_code}' $C/v1/keys/foo)" = 404 ]; }
until_true 5 gone
echo '$ curl -L http://127.0.0.1:4001/v1/keys/foo'
expect "$(curl -sL $C/v1/keys/foo)" '{"errorCode":100,"message":"Key Not Found","cause":"/foo"}'

echo '# In one terminal, wait for the next change under /foo:'
echo '$ curl -L http://127.0.0.1:4001/v1/watch/foo'
curl -sL $C/v1/watch/foo >"$WORK/watch.out" &
watcher=$!
until_true 5 grep -q "prefix=/foo.*watcher waiting\|watcher waiting.*prefix=/foo" "$WORK/node1.log"
# A change beside the prefix must not wake the watcher.
curl -sL $C/v1/keys/foobar -d value=elsewhere >/dev/null
echo '# In another terminal:'
echo '$ curl -L http://127.0.0.1:4001/v1/keys/foo/foo -d value=barbar'
curl -sL $C/v1/keys/foo/foo -d value=barbar >/dev/null
until_true 5 test -s "$WORK/watch.out"
wait $watcher
echo '# The first terminal prints:'
expect "$(cat "$WORK/watch.out")" '{"action":"SET","key":"/foo/foo","value":"barbar","newKey":true,"index":6}'

echo '# Catch up from an index: the first change at or after index 6 under /foo.'
echo '$ curl -L http://127.0.0.1:4001/v1/watch/foo -d index=6'
expect "$(curl -sL $C/v1/watch/foo -d index=6)" \
    '{"action":"SET","key":"/foo/foo","value":"barbar","newKey":true,"index":6}'

echo '# Watching the whole tree from an index works too (the original never answered this one).'
echo '$ curl -L http://127.0.0.1:4001/v1/watch/ -d index=5'
expect "$(curl -sL $C/v1/watch/ -d index=5)" \
    '{"action":"SET","key":"/foobar","value":"elsewhere","newKey":true,"index":5}'
