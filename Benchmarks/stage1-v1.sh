#!/usr/bin/env bash
# Stage 1 benchmark: the v1 API of this server (in memory) against the real etcd 3.4's v2 API
# (etcd --enable-v2, durable) under the same wrk load, in the same run, on loopback.
#
#   Benchmarks/stage1-v1.sh [seconds per row, default 5]
#
# Prints a Markdown table of requests/s and p99 latency for SET and GET with 1, 16 and 128
# keep-alive connections, over http and over https (each server with a certificate, same run),
# and the ratio ours/etcd. Needs wrk, openssl and etcd-server (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-5}

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v etcd >/dev/null || missing+=(etcd-server)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

swift build -c release --product etcd >/dev/null
OURS_BIN="$(swift build -c release --show-bin-path)/etcd"
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { for _ in $(seq 200); do curl -sfk "$1" >/dev/null && return 0; sleep 0.05; done; echo "not up: $1" >&2; exit 1; }

OURS_PORT=$(free_port)
"$OURS_BIN" -c "127.0.0.1:$OURS_PORT" -s "127.0.0.1:$(free_port)" -n bench >"$WORK/ours.log" 2>&1 &
PIDS+=($!)
ETCD_PORT=$(free_port)
etcd --enable-v2 --data-dir "$WORK/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$(free_port)" \
    >"$WORK/etcd.log" 2>&1 &
PIDS+=($!)
# The same two again with TLS on the client port.
Scripts/make-certs.sh "$WORK" server
OURS_TLS_PORT=$(free_port)
"$OURS_BIN" -c "127.0.0.1:$OURS_TLS_PORT" -s "127.0.0.1:$(free_port)" -n bench-tls -d "$WORK/ours-tls" \
    -clientCert "$WORK/server.pem" -clientKey "$WORK/server-key.pem" >"$WORK/ours-tls.log" 2>&1 &
PIDS+=($!)
ETCD_TLS_PORT=$(free_port)
etcd --enable-v2 --data-dir "$WORK/etcd-tls" --listen-client-urls "https://127.0.0.1:$ETCD_TLS_PORT" \
    --advertise-client-urls "https://127.0.0.1:$ETCD_TLS_PORT" --listen-peer-urls "http://127.0.0.1:$(free_port)" \
    --cert-file "$WORK/server.pem" --key-file "$WORK/server-key.pem" >"$WORK/etcd-tls.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$OURS_PORT/version"
wait_http "http://127.0.0.1:$ETCD_PORT/version"
wait_http "https://127.0.0.1:$OURS_TLS_PORT/version"
wait_http "https://127.0.0.1:$ETCD_TLS_PORT/version"

source Benchmarks/lib-wrk.sh

echo "| op | scheme | conns | ours req/s | ours p99 ms | etcd 3.4 v2 req/s | etcd p99 ms | req/s ours/etcd |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for op in set get; do
    for scheme in http https; do
        if [ $scheme = http ]; then ours=$OURS_PORT etcd_port=$ETCD_PORT; else ours=$OURS_TLS_PORT etcd_port=$ETCD_TLS_PORT; fi
        for conns in 1 16 128; do
            read -r ours_rps ours_p99 < <(wrk_run "$scheme://127.0.0.1:$ours" /v1/keys/bench/ POST "$op" "$conns")
            read -r etcd_rps etcd_p99 < <(wrk_run "$scheme://127.0.0.1:$etcd_port" /v2/keys/bench/ PUT "$op" "$conns")
            ratio=$(awk -v a="$ours_rps" -v b="$etcd_rps" 'BEGIN { printf "%.1f", a / b }')
            printf '| %s | %s | %d | %.0f | %.2f | %.0f | %.2f | %sx |\n' "$op" "$scheme" "$conns" "$ours_rps" "$ours_p99" "$etcd_rps" "$etcd_p99" "$ratio"
        done
    done
done
ours_rss=$(ps -o rss= -p "${PIDS[0]}")
etcd_rss=$(ps -o rss= -p "${PIDS[1]}")
echo
echo "RSS after the run: ours $((ours_rss / 1024)) MiB, etcd $((etcd_rss / 1024)) MiB"
