#!/usr/bin/env bash
# Runs python-etcd3.py (the PyPI `etcd3` client) against a fresh etcd of ours. The client lives
# in a virtualenv under .build (etcd3 0.12 needs protobuf 3.x, hence the pin).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ETCD_BIN=${ETCD_BIN:-$ROOT/.build/debug/etcd}
# Read here, not passed on: etcd reports an ETCD_* variable that names no flag.
export -n ETCD_BIN
VENV=$ROOT/.build/py-etcd3
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import etcd3' 2>/dev/null; then
    python3 -m venv "$VENV" 2>/dev/null || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"; }
    "$VENV/bin/pip" install -q 'etcd3==0.12.0' 'protobuf<4'
fi
WORK=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
PORT=$(free_port)
"$ETCD_BIN" --name py --data-dir "$WORK/data" --listen-client-urls "http://127.0.0.1:$PORT" \
    --listen-peer-urls "http://127.0.0.1:$(free_port)" >"$WORK/etcd.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 200); do grep -q "ready to serve client requests" "$WORK/etcd.log" && break; sleep 0.05; done
"$VENV/bin/python" "$ROOT/Tests/Integration/python-etcd3.py" "127.0.0.1:$PORT"
