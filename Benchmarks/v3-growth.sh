#!/usr/bin/env bash
# Stage 4 benchmark: a store that grows. Ours and the real etcd 3.4, one member each, same
# machine, same run; each round puts PUTS fresh keys (random 16-byte keys, 1 KiB values, 64
# clients over 16 connections, the official Go client) into each, then records puts/s, p99,
# the member's memory (RSS) and its backend file. The question: does a put cost the same with
# 2 GiB stored as with 50 MB, and does memory follow the key index rather than the data?
#
#   Benchmarks/v3-growth.sh [rounds, default 40] [puts per round, default 50000]
#
# 40 rounds of 50,000 puts store about 2 GiB in each (etcd's default quota; both run with an
# 8 GiB quota so neither stops). Then both are killed with -9 and restarted, and the time to
# their first answered read is measured. OURS_BIN and ETCDBENCH as for v3-etcdbench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-40}
PUTS=${2:-50000}
source Benchmarks/lib-v3.sh

# round KIND R -> "rps p99" for round R; fails unless every put succeeded.
# etcdbench seeds each client's random keys with the client's number, so one key space gives the
# same keys in every round: each round after the first would overwrite the first round's keys.
# A key space of its own per round makes every round's keys new ones. It is above 2^31, where Go's
# rand.Intn draws 63 bits and takes them modulo the space, so spaces one apart give unrelated keys
# (below 2^31 a draw under both spaces gives the same key in each); 16 digits hold it.
round() {
    local client out
    read -r client _ <<<"${PORT[$1]}"
    out=$("$BENCH" -endpoints "127.0.0.1:$client" -clients 64 -conns 16 -total "$PUTS" -op put \
        -key-size 16 -key-space $((4000000000 + $2)) -val-size 1024 -timeout 600s)
    [[ $out == *" errors=0 "* ]] || { echo "$1, round $2: $out" >&2; return 1; }
    sed -E 's/.*rps=([0-9.]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+).*/\1 \3/' <<<"$out"
}

rss() { echo $(( $(ps -o rss= -p "${PID[$1]}") / 1024 )); }
dbsize() {
    local client
    read -r client _ <<<"${PORT[$1]}"
    ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$client" endpoint status -w json \
        | sed -E 's/.*"dbSize":([0-9]+).*/\1/' | awk '{ printf "%.0f", $1 / 1048576 }'
}

start_one ours
start_one etcd
echo "| keys stored | ours puts/s | etcd puts/s | ours/etcd | ours p99 ms | etcd p99 ms | ours RSS MiB | etcd RSS MiB | ours db MiB | etcd db MiB |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for ((r = 1; r <= ROUNDS; r++)); do
    ours=$(round ours $r)
    etcd=$(round etcd $r)
    read -r o_rps o_p99 <<<"$ours"
    read -r e_rps e_p99 <<<"$etcd"
    printf '| %dk | %.0f | %.0f | %.2fx | %.1f | %.1f | %d | %d | %d | %d |\n' $((r * PUTS / 1000)) \
        "$o_rps" "$e_rps" "$(awk -v a="$o_rps" -v b="$e_rps" 'BEGIN { print a / b }')" "$o_p99" "$e_p99" \
        "$(rss ours)" "$(rss etcd)" "$(dbsize ours)" "$(dbsize etcd)"
done
# A crash with everything stored: how long until each answers again.
for kind in ours etcd; do kill -9 "${PID[$kind]}"; wait "${PID[$kind]}" 2>/dev/null || true; done
start_one ours; o_ready=$READY
start_one etcd; e_ready=$READY
echo
echo "Restart after kill -9 with $((ROUNDS * PUTS / 1000))k keys: ours ${o_ready} s, etcd ${e_ready} s to the first answered read; RSS after: ours $(rss ours) MiB, etcd $(rss etcd) MiB"
