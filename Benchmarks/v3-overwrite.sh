#!/usr/bin/env bash
# Stage 4 benchmark: overwrites, as Kubernetes writes (an update replaces a key that exists).
# Ours and the real etcd 3.4, one member each, same machine, same run (and, if BEFORE_BIN names
# an earlier build of ours, that one too): each is first loaded with KEYS random keys of 1 KiB,
# then takes rounds of PUTS puts over those same keys (64 clients over 16 connections, the
# official Go client), and puts/s and p99 are reported per round.
#
#   Benchmarks/v3-overwrite.sh [rounds, default 3] [keys, default 100000] [puts per round, default 50000]
#
# OURS_BIN and ETCDBENCH as for v3-etcdbench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
KEYS=${2:-100000}
PUTS=${3:-50000}
source Benchmarks/lib-v3.sh

# puts KIND TOTAL -> "rps p99"
puts() {
    local client
    read -r client _ <<<"${PORT[$1]}"
    "$BENCH" -endpoints "127.0.0.1:$client" -clients 64 -conns 16 -total "$2" -op put \
        -key-size 16 -key-space "$KEYS" -val-size 1024 -timeout 600s \
        | sed -nE 's/.*rps=([0-9.]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+).*/\1 \3/p'
}

for kind in "${KINDS[@]}"; do
    start_one "$kind"
    puts "$kind" $((KEYS * 2)) >/dev/null  # keys drawn at random: about 86% of them exist afterwards
done
header="| round |" rule="|---:|"
for kind in "${KINDS[@]}"; do header+=" $kind puts/s | $kind p99 ms |"; rule+="---:|---:|"; done
for kind in "${KINDS[@]}"; do [ "$kind" = etcd ] || { header+=" $kind/etcd |"; rule+="---:|"; }; done
echo "$header"; echo "$rule"
declare -A RPS
for ((r = 1; r <= ROUNDS; r++)); do
    RPS=()
    line="| $r |"
    for kind in "${KINDS[@]}"; do
        out=$(puts "$kind" "$PUTS") || { echo "etcdbench failed against $kind (errors, or no answer)" >&2; exit 1; }
        [ -n "$out" ] || { echo "etcdbench gave no result for $kind" >&2; exit 1; }
        read -r rps p99 <<<"$out"
        RPS[$kind]=$rps
        line+=" $(printf '%.0f' "$rps") | $p99 |"
    done
    for kind in "${KINDS[@]}"; do
        [ "$kind" = etcd ] || line+=" $(awk -v a="${RPS[$kind]}" -v b="${RPS[etcd]}" 'BEGIN { printf "%.2fx", a / b }') |"
    done
    echo "$line"
done
