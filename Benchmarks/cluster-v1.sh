#!/usr/bin/env bash
# Stage 2 benchmark: a 3-machine cluster on loopback under v1 SETs sent to the leader with
# 1, 16, 64 and 256 keep-alive connections (wrk), every write synced to disk on a majority
# before it is acknowledged. Then the same with TLS everywhere (https for clients, TLS between
# the machines, Stage 3), and, as the reference for this machine on this day, the same load on
# a 3-member cluster of the real etcd 3.4 through its v2 keys API (`--enable-v2`; the nearest
# thing it has to v1 writes). Prints writes/s, p50 and p99 for all three, and memory after.
#
#   Benchmarks/cluster-v1.sh [seconds per row, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-5}
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v openssl >/dev/null || missing+=(openssl)
command -v etcd >/dev/null || missing+=(etcd-server)
[ ${#missing[@]} -eq 0 ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; }

swift build -c release --product etcd >/dev/null
BIN="$(swift build -c release --show-bin-path)/etcd"
WORK=$(mktemp -d -p "$PWD/.build")   # on the project's disk: syncs must reach the device
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
Scripts/make-certs.sh "$WORK" server
TLS=(-clientCert "$WORK/server.pem" -clientKey "$WORK/server-key.pem"
     -serverCert "$WORK/server.pem" -serverKey "$WORK/server-key.pem" -serverCAFile "$WORK/ca.pem")

# start_cluster NAME [TLS flags...]: three machines; sets LEADER to the first one's client URL.
start_cluster() {
    local name=$1; shift
    local scheme=http; [ $# -eq 0 ] || scheme=https
    local C=() S=()
    for n in 0 1 2; do C+=("$(free_port)"); S+=("$(free_port)"); done
    for n in 0 1 2; do
        join=(); [ $n = 0 ] || join=(-C "127.0.0.1:${S[0]}")
        "$BIN" -n "$name$n" -c "${C[$n]}" -s "${S[$n]}" -d "$WORK/$name$n" "${join[@]}" "$@" >"$WORK/$name$n.log" 2>&1 &
        PIDS+=($!)
        for _ in $(seq 200); do grep -q "ready to serve" "$WORK/$name$n.log" && break; sleep 0.05; done
    done
    LEADER="$scheme://127.0.0.1:${C[0]}"
    for _ in $(seq 100); do [ "$(curl -sk "$LEADER/machines" | tr ',' '\n' | wc -l)" = 3 ] && break; sleep 0.1; done
}
start_cluster plain; PLAIN=$LEADER
start_cluster tls "${TLS[@]}"; SECURE=$LEADER
OURS_PIDS=("${PIDS[@]}")

# The real etcd 3.4, three members, v2 API on; LEADER_V2 is the leader's client URL.
start_etcd() {
    local C=() P=() initial="" n
    for n in 0 1 2; do C+=("$(free_port)"); P+=("$(free_port)"); initial+="${initial:+,}e$n=http://127.0.0.1:${P[$n]}"; done
    for n in 0 1 2; do
        etcd --name "e$n" --data-dir "$WORK/etcd$n" --enable-v2 --initial-cluster "$initial" --initial-cluster-state new \
            --listen-client-urls "http://127.0.0.1:${C[$n]}" --advertise-client-urls "http://127.0.0.1:${C[$n]}" \
            --listen-peer-urls "http://127.0.0.1:${P[$n]}" --initial-advertise-peer-urls "http://127.0.0.1:${P[$n]}" \
            >"$WORK/etcd$n.log" 2>&1 &
        PIDS+=($!)
    done
    LEADER_V2=""
    for _ in $(seq 100); do
        for n in 0 1 2; do
            if curl -s "http://127.0.0.1:${C[$n]}/v2/stats/self" | grep -q '"state":"StateLeader"'; then LEADER_V2="http://127.0.0.1:${C[$n]}"; fi
        done
        [ -n "$LEADER_V2" ] && return 0
        sleep 0.1
    done
    echo "the etcd cluster elected no leader" >&2; exit 1
}
start_etcd

cat >"$WORK/set.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/keys/bench/" .. (n % 1000), {["Content-Type"] = "application/x-www-form-urlencoded"}, "value=benchmark-value")
end
LUA
cat >"$WORK/set-v2.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("PUT", "/v2/keys/bench/" .. (n % 1000), {["Content-Type"] = "application/x-www-form-urlencoded"}, "value=benchmark-value")
end
LUA
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us/,"",v); print v/1000 } else if (v ~ /ms$/) { sub(/ms/,"",v); print v } else { sub(/s/,"",v); print v*1000 } }'; }
# measure URL CONNECTIONS [SCRIPT] -> "writes/s p50-ms p99-ms"
measure() {
    local threads=$(( $2 < 2 ? 1 : 2 ))
    wrk -t"$threads" -c"$2" -d"${DURATION}s" --latency -s "$WORK/${3:-set.lua}" "$1" >"$WORK/wrk.out" 2>&1
    if grep -q "Non-2xx" "$WORK/wrk.out"; then echo "warning: $(grep Non-2xx "$WORK/wrk.out")" >&2; fi
    echo "$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$WORK/wrk.out") $(ms "$(awk '$1 == "50%" {print $2}' "$WORK/wrk.out")") $(ms "$(awk '$1 == "99%" {print $2}' "$WORK/wrk.out")")"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "| connections | http writes/s | p50 ms | p99 ms | TLS writes/s | p50 ms | p99 ms | TLS/http | etcd 3.4 v2 writes/s | p50 ms | p99 ms | http ours/etcd |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for conns in 1 16 64 256; do
    read -r rps p50 p99 < <(measure "$PLAIN" "$conns")
    read -r trps tp50 tp99 < <(measure "$SECURE" "$conns")
    read -r erps ep50 ep99 < <(measure "$LEADER_V2" "$conns" set-v2.lua)
    echo "| $conns | $rps | $p50 | $p99 | $trps | $tp50 | $tp99 | $(ratio "$trps" "$rps")x | $erps | $ep50 | $ep99 | $(ratio "$rps" "$erps")x |"
done
echo
echo "Memory after the run (RSS, plaintext cluster then TLS cluster): $(for p in "${OURS_PIDS[@]}"; do echo -n "$(( $(ps -o rss= -p $p) / 1024 )) MiB "; done)"
echo "etcd 3.4 (v2 API on): $(for p in "${PIDS[@]:${#OURS_PIDS[@]}}"; do echo -n "$(( $(ps -o rss= -p $p) / 1024 )) MiB "; done)"
