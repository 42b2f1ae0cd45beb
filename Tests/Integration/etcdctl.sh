#!/usr/bin/env bash
# The real etcdctl 3.4 against this etcd, command by command beside the real etcd 3.4, same
# commands, same order: outputs must match once the parts that differ by nature are masked
# (cluster and member IDs, Raft terms, lease IDs, timings), on one member each.
#
#   Tests/Integration/etcdctl.sh            (ETCD_BIN: our binary; etcd-server and etcd-client
#                                            installed by Scripts/test-all.sh)
# The three-member cluster, membership changes and TLS are in etcdctl-cluster.sh.
source "$(dirname "$0")/etcdctl-lib.sh"

OURS_PORT=$(free_port)
OURS="http://127.0.0.1:$OURS_PORT"
"$ETCD_BIN" --name solo --data-dir "$WORK/ours" --listen-client-urls "$OURS" --advertise-client-urls "$OURS" \
    --listen-peer-urls "http://127.0.0.1:$(free_port)" >"$WORK/ours.log" 2>&1 &
PIDS+=($!)
wait_ready "$OURS"
REAL=""
if [ -x "$REAL_ETCD" ]; then
    REAL_PORT=$(free_port)
    REAL="http://127.0.0.1:$REAL_PORT"
    "$REAL_ETCD" --name solo --data-dir "$WORK/real" --listen-client-urls "$REAL" --advertise-client-urls "$REAL" \
        --listen-peer-urls "http://127.0.0.1:$(free_port)" >"$WORK/real.log" 2>&1 &
    PIDS+=($!)
    wait_ready "$REAL"
else
    echo "(no real etcd at $REAL_ETCD: checking ours alone against the expected outputs)"
fi
passed=0

# same ARGS...: runs `etcdctl ARGS` against both (stdin from $INPUT if set), prints ours, and
# fails if the masked outputs differ. Exit statuses must agree too.
same() {
    local ours real ours_status=0 real_status=0
    ours=$(etcdctl --endpoints="$OURS" "$@" < "${INPUT:-/dev/null}" 2>&1) || ours_status=$?
    printf '$ etcdctl %s\n%s\n' "$*" "$ours"
    if [ -n "$REAL" ]; then
        real=$(etcdctl --endpoints="$REAL" "$@" < "${INPUT:-/dev/null}" 2>&1) || real_status=$?
        # Endpoints appear in some answers ("Failed to get the hash of endpoint ..."): masked.
        if [ "$(normalize <<<"${ours//$OURS/<endpoint>}")" != "$(normalize <<<"${real//$REAL/<endpoint>}")" ] || [ $ours_status != $real_status ]; then
            printf 'MISMATCH (exit %s vs etcd %s)\n--- ours\n%s\n--- etcd 3.4\n%s\n' "$ours_status" "$real_status" "$ours" "$real" >&2
            exit 1
        fi
    fi
    passed=$((passed + 1))
}

# expect EXPECTED ARGS...: for what etcd answers with values that differ by nature, checked alone.
expect() {
    local expected=$1; shift
    local ours
    ours=$(etcdctl --endpoints="$OURS" "$@" 2>&1 | normalize || true)
    printf '$ etcdctl %s\n%s\n' "$*" "$ours"
    [ "$ours" = "$expected" ] || { printf 'MISMATCH\n  expected: %s\n  actual:   %s\n' "$expected" "$ours" >&2; exit 1; }
    passed=$((passed + 1))
}

echo "== keys"
same put mykey "this is awesome"
same get mykey
same get mykey -w json
same put foo bar
same put foo baz --prev-kv
same put fop 1
same put fo 2
same get fo --prefix
same get fo --prefix --keys-only
same get fo --prefix --limit=2 -w json
same get fo --prefix --sort-by=VALUE --order=DESCEND
same get foo --rev=3
same get a z
same get "" --from-key --keys-only
same get foo --print-value-only
same put foo --ignore-value
same get foo
same put missing --ignore-value
same put missing v --ignore-lease
same del fop --prev-kv
same del fo --prefix
same get fo --prefix -w json
same del nothing
same put "" empty

echo "== transactions"
printf 'value("mykey") = "this is awesome"\n\nput txnkey yes\nget mykey\n\nput txnkey no\n\n' > "$WORK/txn1"
INPUT="$WORK/txn1" same txn -i -w json
printf 'mod("mykey") > "100"\n\nput txnkey yes\n\nput txnkey no\n\n' > "$WORK/txn2"
INPUT="$WORK/txn2" same txn -i
same get txnkey

# watched ARGS...: a watch on both, stopped after 1.5 s; what it printed must match.
watched() {
    local ours real
    ours=$(timeout 1.5 etcdctl --endpoints="$OURS" watch "$@" 2>&1 || true)
    printf '$ etcdctl watch %s\n%s\n' "$*" "$ours"
    if [ -n "$REAL" ]; then
        real=$(timeout 1.5 etcdctl --endpoints="$REAL" watch "$@" 2>&1 || true)
        [ "$(normalize <<<"$ours")" = "$(normalize <<<"$real")" ] || {
            printf 'MISMATCH\n--- ours\n%s\n--- etcd 3.4\n%s\n' "$ours" "$real" >&2; exit 1; }
    fi
    passed=$((passed + 1))
}
revision() { etcdctl --endpoints="$OURS" get x -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])'; }

echo "== watch: from a past revision, with previous values, filtered, a prefix"
start=$(( $(revision) + 1 ))
same put w/1 a
same put w/1 b
same put w/2 c
same del w/1
watched w/1 --rev=$start --prev-kv
watched w/ --prefix --rev=$start
watched w/ --prefix --rev=$start -w json
echo "== watch: live changes reach a watcher started before them"
watchers=()
for server in OURS REAL; do
    [ -n "${!server}" ] || continue
    (timeout 3 etcdctl --endpoints="${!server}" watch live --prefix > "$WORK/live.$server" 2>&1 || true) &
    watchers+=($!)
done
sleep 1
same put live/a 1
same put live/b 2
same del live/a
wait "${watchers[@]}"
cat "$WORK/live.OURS"
[ -z "$REAL" ] || [ "$(cat "$WORK/live.OURS")" = "$(cat "$WORK/live.REAL")" ] || { echo "MISMATCH in live watch" >&2; diff "$WORK/live.OURS" "$WORK/live.REAL" >&2; exit 1; }

echo "== compaction"
same compaction $start
same get w/1 --rev=$((start - 1))
watched w/1 --rev=$((start - 1))
same get w/2 --rev=$((start + 2))

echo "== leases"
lease=$(etcdctl --endpoints="$OURS" lease grant 60 | awk '{print $2}')
expect "lease <lease> granted with TTL(60s)" lease grant 60
expect "OK" put --lease="$lease" leased v
expect "OK" put leased v2 --ignore-lease  # a new value, the same lease
expect "lease <lease> granted with TTL(60s), remaining(Ns), attached keys([leased])" lease timetolive "$lease" --keys
expect "lease <lease> keepalived with TTL(60)" lease keep-alive --once "$lease"
etcdctl --endpoints="$OURS" lease list | grep -q "$lease"
expect "lease <lease> revoked" lease revoke "$lease"
expect "" get leased
expect "lease <lease> already expired" lease timetolive "$lease"
short=$(etcdctl --endpoints="$OURS" lease grant 2 | awk '{print $2}')
etcdctl --endpoints="$OURS" put --lease="$short" fleeting v >/dev/null
gone() { [ -z "$(etcdctl --endpoints="$OURS" get fleeting)" ]; }
for _ in $(seq 80); do gone && break; sleep 0.1; done
gone || { echo "a key on an expired lease is still there" >&2; exit 1; }
echo "a key on a 2 s lease is gone once the lease expires"
same lease revoke 1234
expect "Error: etcdserver: requested lease not found" put --lease=1234 k v

echo "== lock and elect (leases, transactions and watches together)"
expect "locked" lock mutex echo locked
( timeout 3 etcdctl --endpoints="$OURS" elect election leader-a > "$WORK/elect.out" 2>&1 || true ) & candidate=$!
sleep 1
( timeout 1 etcdctl --endpoints="$OURS" elect -l election > "$WORK/observe.out" 2>&1 || true )
wait $candidate
grep -q "leader-a" "$WORK/observe.out" || { echo "elect: the observer did not see leader-a: $(cat "$WORK/observe.out")" >&2; exit 1; }
echo "elect: an observer sees leader-a"

echo "== errors, with etcd's codes and words"
same get foo --rev=999999
same compaction 1
head -c 2000000 /dev/zero | tr '\0' a > "$WORK/big"
INPUT="$WORK/big" same put big

echo "== a large answer: 1.4 MB, sent in pieces as etcdctl opens its window, pinging as it reads"
head -c 1400000 /dev/zero | tr '\0' b > "$WORK/large"
INPUT="$WORK/large" same put large
want=$( (cat "$WORK/large"; echo) | sha256sum)
etcdctl --endpoints="$OURS" get large --print-value-only > "$WORK/large.out" 2>&1 || true
# Retries would show as warnings in the output: the value must come back whole, at once.
[ "$(sha256sum < "$WORK/large.out")" = "$want" ] || { echo "get large: $(grep -v '^b*$' "$WORK/large.out" | head -c 400)" >&2; exit 1; }
echo "get large: the value put, at the first try"
passed=$((passed + 1))

echo "== health, members, status"
expect "$OURS is healthy: successfully committed proposal: took = <t>" endpoint health
members=$(etcdctl --endpoints="$OURS" member list)
echo "$members"
[[ "$members" == *", started, solo, http://127.0.0.1:"*", $OURS, false" ]] || { echo "unexpected member list" >&2; exit 1; }
status=$(etcdctl --endpoints="$OURS" endpoint status)
echo "$status"
[[ "$status" == "$OURS, "*", 3.4.23, "*", true, false, "* ]] || { echo "unexpected endpoint status" >&2; exit 1; }

echo "== maintenance: alarms, membership errors, defrag, hashes, snapshots, move-leader"
same alarm list
same member remove 1234
same member update 1234 --peer-urls=http://127.0.0.1:1
same member promote 1234
same endpoint hashkv --rev=999999
same move-leader zz
expect "Finished defragmenting etcd member[$OURS]" defrag
hashes=$(etcdctl --endpoints="$OURS" endpoint hashkv)
echo "$hashes"
[[ "$hashes" =~ ^$OURS,\ [0-9]+$ ]] || { echo "unexpected endpoint hashkv" >&2; exit 1; }
[ "$hashes" = "$(etcdctl --endpoints="$OURS" endpoint hashkv)" ] || { echo "hashkv moved without a write" >&2; exit 1; }
etcdctl --endpoints="$OURS" put hash-moves yes >/dev/null
[ "$hashes" != "$(etcdctl --endpoints="$OURS" endpoint hashkv)" ] || { echo "hashkv did not move with a write" >&2; exit 1; }
me=$(etcdctl --endpoints="$OURS" endpoint status -w json | python3 -c 'import json,sys; print("%x" % json.load(sys.stdin)[0]["Status"]["header"]["member_id"])')
expect "Leadership transferred from <lease> to <lease>" move-leader "$me"   # (IDs masked as 16 hex digits)
# Saved snapshots: etcdctl's own check (512-byte blocks, then a SHA-256) passes; the checksum is right.
# About 14 MB stored first: streaming that many chunks, grpc-go's client pings each time data
# arrives (BDP pings), several hundred times a second; a server that counts those as a flood
# drops the connection mid-snapshot ("the connection is draining"), as ours once did.
head -c 660000 /dev/urandom | base64 -w0 >"$WORK/big-value"
for server in OURS REAL; do
    [ -n "${!server}" ] || continue
    for n in $(seq 16); do etcdctl --endpoints="${!server}" put "big-$n" <"$WORK/big-value" >/dev/null; done
done
for server in OURS REAL; do
    [ -n "${!server}" ] || continue
    saved=$(etcdctl --endpoints="${!server}" --command-timeout=120s snapshot save "$WORK/$server.db" 2>/dev/null)
    [ "$saved" = "Snapshot saved at $WORK/$server.db" ] || { echo "snapshot save on $server: $saved" >&2; exit 1; }
done
echo "Snapshot saved at <file> (both)"
python3 - "$WORK/OURS.db" <<'PY'
import hashlib, sys
data = open(sys.argv[1], "rb").read()
assert len(data) % 512 == 32, len(data)
assert hashlib.sha256(data[:-32]).digest() == data[-32:], "checksum"
print("our snapshot: %d bytes, SHA-256 verified" % len(data))
PY
for server in OURS REAL; do [ -z "${!server}" ] || etcdctl --endpoints="${!server}" del --prefix big- >/dev/null; done

echo "== check perf --load=s (a minute of writes through the real client's load generator)"
if [ -n "${SKIP_PERF:-}" ]; then perf="Throughput is (skipped: SKIP_PERF is set)"; else
    perf=$(etcdctl --endpoints="$OURS" check perf --load=s 2>&1 | tr '\r' '\n' | grep -E '^(PASS|FAIL)' || true)
fi
echo "$perf"
# Its verdict depends on the machine; what matters here is that it ran its minute against ours.
grep -q "Throughput is" <<<"$perf" || { echo "check perf did not complete" >&2; exit 1; }
[ -z "$(etcdctl --endpoints="$OURS" get /etcdctl-check-perf/ --prefix --keys-only)" ] || { echo "check perf left keys behind" >&2; exit 1; }

echo "== the NOSPACE alarm: both servers with a 64 KiB quota, filled until refused"
declare -A QUOTA
quota_server() {  # KEY BIN: starts BIN with a small quota, its URL in QUOTA[KEY]
    local port; port=$(free_port)
    "$2" --name "q$1" --data-dir "$WORK/quota-$1" --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
        --listen-peer-urls "http://127.0.0.1:$(free_port)" --quota-backend-bytes=65536 >"$WORK/quota-$1.log" 2>&1 &
    PIDS+=($!)
    QUOTA[$1]="http://127.0.0.1:$port"
}
quota_server OURS "$ETCD_BIN"
[ -z "$REAL" ] || quota_server REAL "$REAL_ETCD"
for server in "${!QUOTA[@]}"; do
    wait_ready "${QUOTA[$server]}"
    value=$(head -c 8000 /dev/zero | tr '\0' v)
    for i in $(seq 40); do
        etcdctl --endpoints="${QUOTA[$server]}" put "fill$i" "$value" >/dev/null 2>&1 || break
    done
    [ "$i" -lt 40 ] || { echo "$server never ran out of space" >&2; exit 1; }
done
# alarmed ARGS...: the same command on both quota servers; outputs must match once member IDs are masked.
alarmed() {
    local out=() server
    for server in OURS REAL; do
        [ -n "${QUOTA[$server]:-}" ] || continue
        out+=("$({ etcdctl --endpoints="${QUOTA[$server]}" "$@" 2>&1 || true; } | normalize | sed -E 's/memberID:[0-9]+/memberID:<id>/g')")
    done
    printf '$ etcdctl %s\n%s\n' "$*" "${out[0]}"
    [ "${#out[@]}" = 1 ] || [ "${out[0]}" = "${out[1]}" ] || { printf 'MISMATCH\n--- ours\n%s\n--- etcd 3.4\n%s\n' "${out[0]}" "${out[1]}" >&2; exit 1; }
    passed=$((passed + 1))
}
alarmed put one-more x
alarmed alarm list
alarmed lease grant 10
alarmed del fill1
alarmed alarm disarm
alarmed alarm list

echo
echo "etcdctl suite: $passed compared commands passed"
