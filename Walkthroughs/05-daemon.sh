#!/usr/bin/env bash
# The daemon itself: its version, a mistake in its flags, its log milestones, and a clean stop.
# Needs the full etcd: it checks etcd 3.4's --version shape.
source "$(dirname "$0")/lib.sh"

echo '$ etcd --version   # etcd 3.4'"'"'s shape: tools read the first line'
expect "$("$ETCD_BIN" --version | head -1)" 'etcd Version: 3.4.23'
"$ETCD_BIN" --version | sed -n '2,$p'

echo '$ etcd -bogus'
set +e
"$ETCD_BIN" -bogus >"$WORK/bogus.out" 2>&1
status=$?
set -e
[ $status -eq 2 ] || { echo "expected exit status 2 for an unknown flag, got $status" >&2; exit 1; }
expect "$(head -1 "$WORK/bogus.out")" 'etcd: flag provided but not defined: -bogus'

echo '$ etcd -c 4001x'
set +e
"$ETCD_BIN" -c 4001x >"$WORK/badaddr.out" 2>&1
status=$?
set -e
[ $status -eq 2 ] || { echo "expected exit status 2 for a bad address, got $status" >&2; exit 1; }
expect "$(cat "$WORK/badaddr.out")" 'etcd: -c 4001x: expected host:port or a port number, e.g. -c 127.0.0.1:4001'

echo '$ etcd -c <a port already in use>'
BUSY=$(free_port)
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$BUSY)); s.listen(); time.sleep(20)" &
holder=$!
until_true 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$BUSY" 2>/dev/null
set +e
"$ETCD_BIN" -c "$BUSY" -s "$(free_port)" -d "$WORK/busy" >"$WORK/busy.out" 2>&1
status=$?
set -e
kill $holder 2>/dev/null || true
[ $status -eq 1 ] || { echo "expected exit status 1 for a busy port, got $status" >&2; exit 1; }
grep -o "cannot listen for clients on 127.0.0.1:$BUSY" "$WORK/busy.out" | sed "s/$BUSY/<port>/"
grep -q "choose another with -c" "$WORK/busy.out"

# The seed's own command form: bare ports, a data directory, no name.
CLIENT_PORT=$(free_port)
PEER_PORT=$(free_port)
echo '$ etcd -s 7001 -c 4001 -d nodes/node1'
start_etcd node1 -s "$PEER_PORT" -c "$CLIENT_PORT" -d "$WORK/nodes/node1"
grep -q "listening for client requests" "$WORK/node1.log"
expect "$(curl -s http://127.0.0.1:$CLIENT_PORT/v1/keys/_etcd/machines | sed "s/$CLIENT_PORT/4001/; s/$PEER_PORT/7001/")" \
    '[{"action":"GET","key":"/_etcd/machines/node1","value":"raft=http://127.0.0.1:7001\u0026etcd=http://127.0.0.1:4001","index":1}]'

echo '$ kill -TERM <etcd>   # stops cleanly, exit status 0'
pid=${STARTED_PIDS[-1]}
kill -TERM "$pid"
set +e
wait "$pid"
status=$?
set -e
[ $status -eq 0 ] || { echo "expected exit status 0 after SIGTERM, got $status" >&2; cat "$WORK/node1.log" >&2; exit 1; }
grep -q "stopped serving client requests" "$WORK/node1.log"
echo "exit status $status; log: $(grep -o 'stopped serving client requests' "$WORK/node1.log")"
