#!/usr/bin/env bash
# README "Setting the value to a key", "Getting the value of a key", "Changing the value of a
# key", "Deleting a key", and the error for a key that is not there.
source "$(dirname "$0")/lib.sh"

CLIENT_PORT=$(free_port)
start_etcd node1 -c "127.0.0.1:$CLIENT_PORT" -s "127.0.0.1:$(free_port)" -n node1
C=http://127.0.0.1:$CLIENT_PORT

echo '$ curl -L http://127.0.0.1:4001/v1/keys/message -d value="Hello world"'
expect "$(curl -sL $C/v1/keys/message -d value="Hello world")" \
    '{"action":"SET","key":"/message","value":"Hello world","newKey":true,"index":3}'

echo '$ curl -L http://127.0.0.1:4001/v1/keys/message'
expect "$(curl -sL $C/v1/keys/message)" \
    '{"action":"GET","key":"/message","value":"Hello world","index":3}'

echo '$ curl -L http://127.0.0.1:4001/v1/keys/message -d value="Hello etcd"'
expect "$(curl -sL $C/v1/keys/message -d value="Hello etcd")" \
    '{"action":"SET","key":"/message","prevValue":"Hello world","value":"Hello etcd","index":4}'

echo '$ curl -L http://127.0.0.1:4001/v1/keys/message -X DELETE'
expect "$(curl -sL $C/v1/keys/message -X DELETE)" \
    '{"action":"DELETE","key":"/message","prevValue":"Hello etcd","index":5}'

echo '$ curl -i http://127.0.0.1:4001/v1/keys/message'
status=$(curl -s -o "$WORK/body" -w '%{http_code}' $C/v1/keys/message)
[ "$status" = 404 ] || { echo "expected HTTP 404, got $status" >&2; exit 1; }
expect "$(cat "$WORK/body")" '{"errorCode":100,"message":"Key Not Found","cause":"/message"}'

echo '$ curl -L http://127.0.0.1:4001/version'
# Stage 1 alone speaks only v0.1 and says so; the daemon, which also serves the v3 API,
# answers as etcd 3.4 does, since today's tools read /version as its JSON.
if [[ "$(basename "$ETCD_BIN")" == etcd-stage1 ]]; then
    expect "$(curl -sL $C/version)" 'etcd v0.1.2'
else
    expect "$(curl -sL $C/version)" '{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}'
fi

# Run again on the plain HTTP path (CI: ETCD_EXTRA_FLAGS="-v1-http plain"), the member says so.
if [[ " ${EXTRA_FLAGS[*]-} " == *" -v1-http plain "* ]]; then
    grep -q "http-path=plain" "$WORK/node1.log" || { echo "expected the plain HTTP path in node1's log" >&2; exit 1; }
fi
