#!/usr/bin/env bash
# What Stage 1's fast HTTP path buys: the same v1 load against two members of ours, one with
# `-v1-http plain` (NIO's pipelining handler in front of PlainV1HTTPHandler) and one with the
# default fast path (V1HTTPHandler), in the same run, rows interleaved.
#
#   Benchmarks/v1-paths.sh [seconds per row, default 5]
#
# Both are the full etcd binary as a one-member cluster (writes go through Raft and the log, as a
# user's do). Prints a Markdown table of requests/s and p99 latency for SET and GET with 1, 16
# and 128 keep-alive connections, and the ratio fast/plain. Needs wrk (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-5}

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
swift build -c release --product etcd >/dev/null
BIN="$(swift build -c release --show-bin-path)/etcd"
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { for _ in $(seq 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.05; done; echo "not up: $1" >&2; exit 1; }

declare -A PORT
for path in plain fast; do
    PORT[$path]=$(free_port)
    "$BIN" -v1-http "$path" -c "127.0.0.1:${PORT[$path]}" -s "127.0.0.1:$(free_port)" -n "bench-$path" -d "$WORK/$path" \
        >"$WORK/$path.log" 2>&1 &
    PIDS+=($!)
done
for path in plain fast; do wait_http "http://127.0.0.1:${PORT[$path]}/version"; done

source Benchmarks/lib-wrk.sh

echo "| op | conns | plain req/s | plain p99 ms | fast req/s | fast p99 ms | req/s fast/plain |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for op in set get; do
    for conns in 1 16 128; do
        read -r plain_rps plain_p99 < <(wrk_run "http://127.0.0.1:${PORT[plain]}" /v1/keys/bench/ POST "$op" "$conns")
        read -r fast_rps fast_p99 < <(wrk_run "http://127.0.0.1:${PORT[fast]}" /v1/keys/bench/ POST "$op" "$conns")
        ratio=$(awk -v a="$fast_rps" -v b="$plain_rps" 'BEGIN { printf "%.2f", a / b }')
        printf '| %s | %d | %.0f | %.2f | %.0f | %.2f | %sx |\n' "$op" "$conns" "$plain_rps" "$plain_p99" "$fast_rps" "$fast_p99" "$ratio"
    done
done
