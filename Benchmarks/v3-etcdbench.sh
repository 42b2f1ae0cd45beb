#!/usr/bin/env bash
# Stage 4 benchmark: the v3 API of this etcd against the real etcd 3.4, same machine, same load,
# same run, driven by etcdbench (a load generator built on the official Go client, clientv3).
#
#   Benchmarks/v3-etcdbench.sh [requests per row, default 60000]
#
# 60,000 rather than the 20,000 of earlier sessions: with 256 clients 20,000 puts last about a
# second, and eight such samples back to back on one pair of members ranged from 0.92x to 1.23x
# (1.10x on average); a row that short is a draw, not a measurement.
#
# Rows: put with 1, 16 and 256 clients, linearizable and serializable get with 16 clients; on
# one member, then on three. Prints requests/s, p50 and p99 for both and the ratio ours/etcd,
# and each server's memory after. Set OURS_BIN to use an already built release binary, and
# OURS_FLAGS for flags of ours only (e.g. OURS_FLAGS="--grpc-transport plain" measures grpc-swift's
# own transport, the baseline of Stage 4's "Making it fast").
set -euo pipefail
cd "$(dirname "$0")/.."
TOTAL=${1:-60000}
source Benchmarks/lib-v3.sh
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT

# cluster KIND SIZE: starts SIZE members of KIND (ours|etcd); sets ENDPOINTS and MEMBER_PIDS.
cluster() {
    local kind=$1 size=$2 bin
    local extra=()
    if [ "$kind" = ours ]; then bin=$OURS_BIN; read -r -a extra <<<"${OURS_FLAGS:-}"; else bin=etcd; fi
    local C=() P=() initial="" n
    for ((n = 0; n < size; n++)); do C+=("$(free_port)"); P+=("$(free_port)"); initial+="${initial:+,}$kind$n=http://127.0.0.1:${P[$n]}"; done
    MEMBER_PIDS=()
    ENDPOINTS=""
    for ((n = 0; n < size; n++)); do
        "$bin" --name "$kind$n" --data-dir "$WORK/$kind-$size-$n" --initial-cluster "$initial" --initial-cluster-state new \
            --listen-client-urls "http://127.0.0.1:${C[$n]}" --advertise-client-urls "http://127.0.0.1:${C[$n]}" \
            --listen-peer-urls "http://127.0.0.1:${P[$n]}" --initial-advertise-peer-urls "http://127.0.0.1:${P[$n]}" "${extra[@]}" \
            >"$WORK/$kind-$size-$n.log" 2>&1 &
        PIDS+=($!); MEMBER_PIDS+=($!)
        ENDPOINTS+="${ENDPOINTS:+,}127.0.0.1:${C[$n]}"
    done
    for _ in $(seq 200); do ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" --command-timeout=1s put warmup x >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "$kind cluster of $size did not start" >&2; exit 1
}

# run OP CLIENTS -> "rps p50 p99"; fails unless every request succeeded. etcdbench's own bound on a
# run (60 s by default) would cut the one-client rows short, so it is raised.
run() {
    local out
    out=$("$BENCH" -endpoints "$ENDPOINTS" -clients "$2" -conns $(( $2 < 16 ? $2 : 16 )) -total "$TOTAL" -op "$1" -timeout 900s)
    [[ $out == *" errors=0 "* ]] || { echo "$1 with $2 clients: $out" >&2; return 1; }
    sed -nE 's/.*rps=([0-9.]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+).*/\1 \2 \3/p' <<<"$out"
}

rss() { local total=0 p; for p in "$@"; do total=$((total + $(ps -o rss= -p "$p"))); done; echo $((total / 1024)); }

echo "| members | op | clients | ours req/s | ours p50 ms | ours p99 ms | etcd req/s | etcd p50 ms | etcd p99 ms | req/s ours/etcd |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for size in 1 3; do
    cluster ours $size; OURS_EP=$ENDPOINTS; OURS_PIDS=("${MEMBER_PIDS[@]}")
    cluster etcd $size; REAL_EP=$ENDPOINTS; REAL_PIDS=("${MEMBER_PIDS[@]}")
    for row in "put 1" "put 16" "put 256" "get 16" "getser 16"; do
        set -- $row
        ENDPOINTS=$OURS_EP; out=$(run "$1" "$2"); read -r o_rps o_p50 o_p99 <<<"$out"
        ENDPOINTS=$REAL_EP; out=$(run "$1" "$2"); read -r e_rps e_p50 e_p99 <<<"$out"
        printf '| %d | %s | %d | %.0f | %.2f | %.2f | %.0f | %.2f | %.2f | %.2fx |\n' "$size" "$1" "$2" \
            "$o_rps" "$o_p50" "$o_p99" "$e_rps" "$e_p50" "$e_p99" "$(awk -v a="$o_rps" -v b="$e_rps" 'BEGIN { print a / b }')"
    done
    echo "| $size | RSS after (MiB, all members) | | $(rss "${OURS_PIDS[@]}") | | | $(rss "${REAL_PIDS[@]}") | | | |"
    for p in "${OURS_PIDS[@]}" "${REAL_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${OURS_PIDS[@]}" "${REAL_PIDS[@]}" 2>/dev/null || true
done
