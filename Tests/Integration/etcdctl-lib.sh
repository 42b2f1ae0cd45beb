# What etcdctl.sh and etcdctl-cluster.sh share: the work directory, ports, waiting for a
# member, and the masking of what differs between two correct servers. Sourced, never run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ETCD_BIN=${ETCD_BIN:-$ROOT/.build/debug/etcd}
# Read here, not passed on: etcd reports an ETCD_* variable that names no flag.
export -n ETCD_BIN
REAL_ETCD=${REAL_ETCD:-/usr/bin/etcd}
export ETCDCTL_API=3
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_ready() {  # URL [etcdctl flags, e.g. certificates]
    for _ in $(seq 200); do etcdctl --endpoints="$1" "${@:2}" --command-timeout=1s get x >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "not ready: $1" >&2; exit 1
}
# What differs between two correct servers: identities, terms, lease IDs, durations.
normalize() {
    { grep -v '^{"level":"warn"' || true; } | sed -E 's/"cluster_id":[0-9]+/"cluster_id":C/g; s/"member_id":[0-9]+/"member_id":M/g; s/"raft_term":[0-9]+/"raft_term":T/g;
            s/"(ID|lease)":[1-9][0-9]*/"\1":L/g; s/\b[0-9a-f]{16}\b/<lease>/g; s/took = [^ ]+/took = <t>/; s/"(TTL)":[0-9]+/"\1":N/g;
            s/remaining\([0-9]+s\)/remaining(Ns)/g'
}
