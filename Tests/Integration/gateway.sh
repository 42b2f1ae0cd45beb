#!/usr/bin/env bash
# The v3 API as JSON over HTTP (etcd's gRPC gateway) with curl, call by call beside the real
# etcd 3.4: status codes and bodies must match once IDs, terms, sizes and URLs are masked
# (Tests/Integration/gateway-normalize.py). Streams (watch, keep-alive, observe) are compared
# chunk by chunk. Then the Lock and Election services, through the same gateway.
#
#   Tests/Integration/gateway.sh            (ETCD_BIN: our binary; etcd-server installed by
#                                            Scripts/test-all.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ETCD_BIN=${ETCD_BIN:-$ROOT/.build/debug/etcd}
export -n ETCD_BIN
REAL_ETCD=${REAL_ETCD:-/usr/bin/etcd}
WORK=$(mktemp -d)
PIDS=()
# Members started inside $(...) record their PIDs in $WORK/*.pid: a subshell's PIDS+= is lost.
trap 'for p in "${PIDS[@]}" $(cat "$WORK"/*.pid 2>/dev/null); do kill -9 $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
fail() { echo "FAIL: $*" >&2; exit 1; }
start() {  # BINARY NAME: prints the client URL once it serves (both members are named solo)
    local url="http://127.0.0.1:$(free_port)" peer="http://127.0.0.1:$(free_port)"
    "$1" --name solo --data-dir "$WORK/$2" --listen-client-urls "$url" --advertise-client-urls "$url" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "solo=$peer" >"$WORK/$2.log" 2>&1 &
    echo $! >"$WORK/$2.pid"
    for _ in $(seq 200); do curl -sf -X POST "$url/v3/kv/range" -d '{"key":"eA=="}' >/dev/null 2>&1 && { echo "$url"; return; }; sleep 0.05; done
    fail "$2 did not serve: $(tail -3 "$WORK/$2.log")"
}
OURS=$(start "$ETCD_BIN" ours)
REAL=""
if [ -x "$REAL_ETCD" ]; then REAL=$(start "$REAL_ETCD" real); else echo "(no real etcd at $REAL_ETCD: running ours alone)"; fi
passed=0

# call URL PATH [BODY] [curl options...]: status code, then the normalized body.
call() {
    local url=$1 path=$2 body=${3-} out status
    shift 3 || shift $#
    out=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "$url$path" ${body:+--data-binary "$body"} "$@" || true)
    status=$out
    printf '%s ' "$status"
    python3 "$ROOT/Tests/Integration/gateway-normalize.py" < "$WORK/body"
}

# same PATH [BODY] [curl options...]: the same call on both; masked answers must match.
# MASK_MESSAGE=1: a field's value of the wrong type or not base64, which Go words with its own
# type names ("cannot unmarshal number into Go value of type []uint8"): compared by code and status.
same() {
    local ours real
    ours=$(call "$OURS" "$@")
    printf '$ curl -X POST %s %s\n%s\n' "$1" "${2:+-d '${2:0:80}'}" "$ours"
    if [ -n "$REAL" ]; then
        real=$(call "$REAL" "$@")
        if [ -n "${MASK_MESSAGE:-}" ]; then
            ours=$(sed -E 's/"(error|message)": "[^"]*"/"\1": "<words>"/g' <<<"$ours")
            real=$(sed -E 's/"(error|message)": "[^"]*"/"\1": "<words>"/g' <<<"$real")
        fi
        [ "$ours" = "$real" ] || { printf 'MISMATCH\n--- ours\n%s\n--- etcd 3.4\n%s\n' "$ours" "$real" >&2; exit 1; }
    fi
    passed=$((passed + 1))
}

b64() { printf '%s' "$1" | base64 -w0; }

echo "== keys"
same /v3/kv/put "{\"key\":\"$(b64 foo)\",\"value\":\"$(b64 bar)\"}"
same /v3/kv/range "{\"key\":\"$(b64 foo)\"}"
same /v3/kv/put "{\"key\":\"$(b64 foo)\",\"value\":\"$(b64 baz)\",\"prev_kv\":true}"
same /v3/kv/put "{\"key\":\"$(b64 fop)\",\"value\":\"$(b64 1)\"}"
same /v3/kv/range "{\"key\":\"$(b64 fo)\",\"range_end\":\"$(b64 fp)\",\"keys_only\":true}"
same /v3/kv/range "{\"key\":\"$(b64 fo)\",\"range_end\":\"$(b64 fp)\",\"sort_order\":\"DESCEND\",\"limit\":1}"
same /v3/kv/range "{\"key\":\"$(b64 fo)\",\"rangeEnd\":\"$(b64 fp)\",\"countOnly\":true}"
same /v3/kv/range "{\"key\":\"$(b64 foo)\",\"revision\":2}"
same /v3/kv/txn "{\"compare\":[{\"key\":\"$(b64 foo)\",\"result\":\"EQUAL\",\"target\":\"VALUE\",\"value\":\"$(b64 baz)\"}],\"success\":[{\"request_put\":{\"key\":\"$(b64 txn)\",\"value\":\"$(b64 yes)\"}}],\"failure\":[{\"request_range\":{\"key\":\"$(b64 foo)\"}}]}"
same /v3/kv/txn "{\"compare\":[{\"key\":\"$(b64 foo)\",\"result\":\"EQUAL\",\"target\":\"VALUE\",\"value\":\"$(b64 nope)\"}],\"success\":[{\"request_put\":{\"key\":\"$(b64 txn)\",\"value\":\"$(b64 yes)\"}}],\"failure\":[{\"request_range\":{\"key\":\"$(b64 foo)\"}}]}"
same /v3/kv/deleterange "{\"key\":\"$(b64 fop)\",\"prev_kv\":true}"
same /v3/kv/compaction '{"revision":3}'
same /v3/kv/range "{\"key\":\"$(b64 foo)\",\"revision\":2}"
same /v3beta/kv/range "{\"key\":\"$(b64 foo)\"}"

echo "== errors"
same /v3/kv/range '{"key":""}'
same /v3/kv/put '{}'
same /v3/kv/range "{\"key\":\"$(b64 foo)\",\"revision\":100}"
same /v3/kv/range "{\"key\":\"$(b64 foo)\",\"unknown_field\":1}"
same /v3/kv/range '{"key":'
same /v3/kv/range 'not json'
same /v3/kv/range '{"key":"Zm9v",}'
same /v3/kv/range '[1]'
same /v3/kv/range "{\"key\":\"$(b64 foo)\"} trailing"
MASK_MESSAGE=1 same /v3/kv/range '{"key":"not base64!"}'
MASK_MESSAGE=1 same /v3/kv/range '{"key":1}'
same /v3/kv/nothing '{}'
printf '$ curl -X GET /v3/kv/range\n'
ours=$(curl -s -o /dev/null -w '%{http_code}' "$OURS/v3/kv/range")
[ -z "$REAL" ] || [ "$ours" = "$(curl -s -o /dev/null -w '%{http_code}' "$REAL/v3/kv/range")" ] || fail "GET /v3/kv/range: $ours"
echo "$ours"
passed=$((passed + 1))
python3 -c "import base64,sys; sys.stdout.write('{\"key\":\"' + base64.b64encode(b'big').decode() + '\",\"value\":\"' + base64.b64encode(b'x' * 2_200_000).decode() + '\"}')" > "$WORK/big.json"
same /v3/kv/put "" --data-binary "@$WORK/big.json"

echo "== leases"
same /v3/lease/grant '{"TTL":60,"ID":1000}'
same /v3/kv/put "{\"key\":\"$(b64 leased)\",\"value\":\"$(b64 v)\",\"lease\":1000}"
same /v3/lease/timetolive '{"ID":1000,"keys":true}'
same /v3/kv/lease/leases '{}'
same /v3/lease/keepalive '{"ID":1000}' --max-time 1
same /v3/lease/revoke '{"ID":1000}'
same /v3/lease/revoke '{"ID":1000}'
same /v3/kv/range "{\"key\":\"$(b64 leased)\"}"

echo "== a watch that sees two changes"
watched() {  # URL
    (sleep 0.5; curl -s -X POST "$1/v3/kv/put" -d "{\"key\":\"$(b64 w1)\",\"value\":\"$(b64 a)\"}" >/dev/null
     curl -s -X POST "$1/v3/kv/deleterange" -d "{\"key\":\"$(b64 w1)\"}" >/dev/null) &
    curl -sN -X POST "$1/v3/watch" -d "{\"create_request\":{\"key\":\"$(b64 w1)\",\"prev_kv\":true}}" --max-time 2 > "$WORK/watch" || true
    wait
    python3 "$ROOT/Tests/Integration/gateway-normalize.py" < "$WORK/watch"
}
ours=$(watched "$OURS")
echo "$ours"
[ -z "$REAL" ] || [ "$ours" = "$(watched "$REAL")" ] || fail "the watch's chunks differ from etcd 3.4's: $(watched "$REAL")"
[ "$(grep -c '"events"' <<<"$ours")" = 2 ] || fail "the watch did not see two changes"
passed=$((passed + 1))

echo "== cluster and maintenance"
same /v3/cluster/member/list '{}'
same /v3/maintenance/status '{}'
same /v3/maintenance/alarm '{"action":"GET"}'
same /v3/maintenance/defragment '{}'
same /v3/maintenance/hash '{}'
same /v3/cluster/member/remove '{"ID":1}'

echo "== locks"
same /v3/lease/grant '{"TTL":60,"ID":2000}'
same /v3/lease/grant '{"TTL":60,"ID":3000}'
same /v3/lock/lock "{\"name\":\"$(b64 mylock)\",\"lease\":2000}"
same /v3/kv/range "{\"key\":\"$(b64 mylock/)\",\"range_end\":\"$(b64 mylock0)\",\"keys_only\":true}"
locked_after_unlock() {  # URL: a second locker waits; the first unlocks; the second gets it
    local first
    first=$(curl -s -X POST "$1/v3/lock/lock" -d "{\"name\":\"$(b64 mylock)\",\"lease\":2000}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
    curl -s -X POST "$1/v3/lock/lock" -d "{\"name\":\"$(b64 mylock)\",\"lease\":3000}" --max-time 5 > "$WORK/second" &
    local waiter=$!
    sleep 0.7
    kill -0 $waiter 2>/dev/null || { echo "the second locker did not wait"; return; }
    curl -s -X POST "$1/v3/lock/unlock" -d "{\"key\":\"$first\"}" | python3 "$ROOT/Tests/Integration/gateway-normalize.py"
    wait $waiter
    python3 "$ROOT/Tests/Integration/gateway-normalize.py" < "$WORK/second"
}
ours=$(locked_after_unlock "$OURS")
echo "$ours"
[ -z "$REAL" ] || [ "$ours" = "$(locked_after_unlock "$REAL")" ] || fail "lock handover differs from etcd 3.4's"
passed=$((passed + 1))

abandoned_lock() {  # URL: a locker that gives up waiting (its client goes) leaves no key behind
    curl -s -X POST "$1/v3/lease/grant" -d '{"TTL":60,"ID":4000}' >/dev/null
    curl -s -X POST "$1/v3/lock/lock" -d "{\"name\":\"$(b64 other)\",\"lease\":2000}" >/dev/null
    curl -s -X POST "$1/v3/lock/lock" -d "{\"name\":\"$(b64 other)\",\"lease\":4000}" --max-time 1 >/dev/null || true
    sleep 0.5
    curl -s -X POST "$1/v3/kv/range" -d "{\"key\":\"$(b64 other/)\",\"range_end\":\"$(b64 other0)\",\"count_only\":true}" \
        | python3 "$ROOT/Tests/Integration/gateway-normalize.py"
}
ours=$(abandoned_lock "$OURS")
echo "a locker that gave up: $ours"
[[ $ours == *'"count": "1"'* ]] || fail "the abandoned locker's key stayed: $ours"
[ -z "$REAL" ] || [ "$ours" = "$(abandoned_lock "$REAL")" ] || fail "an abandoned lock differs from etcd 3.4's"
passed=$((passed + 1))

echo "== elections"
same /v3/election/leader "{\"name\":\"$(b64 web)\"}"
same /v3/election/campaign "{\"name\":\"$(b64 web)\",\"lease\":2000,\"value\":\"$(b64 a)\"}"
same /v3/election/leader "{\"name\":\"$(b64 web)\"}"
leader_key() {  # URL
    curl -s -X POST "$1/v3/election/campaign" -d "{\"name\":\"$(b64 web)\",\"lease\":2000,\"value\":\"$(b64 a)\"}" \
        | python3 -c 'import json,sys; l=json.load(sys.stdin)["leader"]; print(json.dumps(l))'
}
proclaimed() {  # URL: proclaim, observe, resign, then errors for the old leader key
    local leader
    leader=$(leader_key "$1")
    curl -sN -X POST "$1/v3/election/observe" -d "{\"name\":\"$(b64 web)\"}" --max-time 2 > "$WORK/observe" &
    local observer=$!
    sleep 0.5
    curl -s -X POST "$1/v3/election/proclaim" -d "{\"leader\":$leader,\"value\":\"$(b64 a2)\"}" | python3 "$ROOT/Tests/Integration/gateway-normalize.py"
    sleep 0.3
    curl -s -X POST "$1/v3/election/resign" -d "{\"leader\":$leader}" | python3 "$ROOT/Tests/Integration/gateway-normalize.py"
    wait $observer || true
    python3 "$ROOT/Tests/Integration/gateway-normalize.py" < "$WORK/observe"
    curl -s -w ' %{http_code}' -X POST "$1/v3/election/proclaim" -d "{\"leader\":$leader,\"value\":\"$(b64 a3)\"}"; echo
    curl -s -w ' %{http_code}' -X POST "$1/v3/election/proclaim" -d '{}'; echo
    curl -s -w ' %{http_code}' -X POST "$1/v3/election/leader" -d "{\"name\":\"$(b64 web)\"}"; echo
}
ours=$(proclaimed "$OURS")
echo "$ours"
if [ -n "$REAL" ]; then
    real=$(proclaimed "$REAL")
    [ "$ours" = "$real" ] || { printf 'MISMATCH\n--- ours\n%s\n--- etcd 3.4\n%s\n' "$ours" "$real" >&2; exit 1; }
fi
passed=$((passed + 1))

echo "== authentication: a token from /v3/auth/authenticate in the Authorization header"
same /v3/auth/user/add '{"name":"root","password":"rootpw"}'
same /v3/auth/user/grant '{"user":"root","role":"root"}'
same /v3/auth/enable '{}'
same /v3/kv/range "{\"key\":\"$(b64 foo)\"}"
same /v3/auth/authenticate '{"name":"root","password":"wrong"}'
token() { curl -s -X POST "$1/v3/auth/authenticate" -d '{"name":"root","password":"rootpw"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
authorized() {  # URL PATH BODY
    curl -s -w ' %{http_code}' -X POST "$1$2" -H "Authorization: $(token "$1")" -d "$3" | python3 -c '
import subprocess, sys
text = sys.stdin.read(); body, status = text.rsplit(" ", 1)
out = subprocess.run([sys.executable, sys.argv[1]], input=body, capture_output=True, text=True).stdout.strip()
print(status, out)' "$ROOT/Tests/Integration/gateway-normalize.py"
}
for path_body in "/v3/kv/range|{\"key\":\"$(b64 foo)\"}" "/v3/auth/user/list|{}" "/v3/auth/disable|{}"; do
    ours=$(authorized "$OURS" "${path_body%%|*}" "${path_body#*|}")
    printf '$ curl -X POST %s -H "Authorization: <token>"\n%s\n' "${path_body%%|*}" "$ours"
    [ -z "$REAL" ] || [ "$ours" = "$(authorized "$REAL" "${path_body%%|*}" "${path_body#*|}")" ] || fail "with a token, ${path_body%%|*} differs from etcd 3.4"
    passed=$((passed + 1))
done
same /v3/kv/range "{\"key\":\"$(b64 foo)\"}" -H "Authorization: not-a-token"

echo
echo "== over TLS with --client-cert-auth (ours): the gateway takes the port's certificate rules"
"$ROOT/Scripts/make-certs.sh" "$WORK" server client >/dev/null 2>&1
TLS="https://127.0.0.1:$(free_port)"
TLS_PEER="http://127.0.0.1:$(free_port)"
"$ETCD_BIN" --name tls --data-dir "$WORK/tls" --listen-client-urls "$TLS" --advertise-client-urls "$TLS" \
    --listen-peer-urls "$TLS_PEER" --initial-advertise-peer-urls "$TLS_PEER" --initial-cluster "tls=$TLS_PEER" \
    --cert-file "$WORK/server.pem" --key-file "$WORK/server-key.pem" --trusted-ca-file "$WORK/ca.pem" --client-cert-auth >"$WORK/tls.log" 2>&1 &
PIDS+=($!)
cert=(--cacert "$WORK/ca.pem" --cert "$WORK/client.pem" --key "$WORK/client-key.pem")
for _ in $(seq 200); do curl -sf "${cert[@]}" -X POST "$TLS/v3/kv/range" -d '{"key":"eA=="}' >/dev/null 2>&1 && break; sleep 0.05; done
out=$(curl -s "${cert[@]}" -X POST "$TLS/v3/kv/put" -d "{\"key\":\"$(b64 secure)\",\"value\":\"$(b64 v)\"}")
[[ $out == *'"revision":"2"'* ]] || fail "a put over TLS with a client certificate: $out"
echo "with a client certificate: $out"
if curl -s --cacert "$WORK/ca.pem" -X POST "$TLS/v3/kv/range" -d "{\"key\":\"$(b64 secure)\"}" >/dev/null 2>&1; then
    fail "a client without a certificate was answered over TLS"
fi
echo "without a certificate: refused by TLS"
# With auth on, the gateway's caller is its token, never a certificate name, and never one a
# client writes into a header.
curl -s "${cert[@]}" -X POST "$TLS/v3/auth/user/add" -d '{"name":"root","password":"rootpw"}' >/dev/null
curl -s "${cert[@]}" -X POST "$TLS/v3/auth/user/grant" -d '{"user":"root","role":"root"}' >/dev/null
curl -s "${cert[@]}" -X POST "$TLS/v3/auth/enable" -d '{}' >/dev/null
out=$(curl -s "${cert[@]}" -X POST "$TLS/v3/kv/range" -H 'Grpc-Metadata-Etcd-Swift-Verified-Cn: root' -d "{\"key\":\"$(b64 secure)\"}")
[[ $out == *"user name is empty"* ]] || fail "a client named itself root through a header: $out"
echo "a header naming the caller root: $out"
passed=$((passed + 3))

echo
echo "gateway suite: $passed compared calls passed"
