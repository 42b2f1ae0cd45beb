# Helpers shared by the walkthroughs: free ports, starting and stopping etcd, and assertions
# that print what the reader of the README sees. Source it; it sets up a trap that stops every
# process it started and removes the temporary directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ETCD_BIN=${ETCD_BIN:-$ROOT/.build/debug/etcd}
# Read here, not passed on: etcd reports an ETCD_* variable that names no flag.
export -n ETCD_BIN
[ -x "$ETCD_BIN" ] || { echo "no etcd binary at $ETCD_BIN: run 'swift build' first (or set ETCD_BIN)" >&2; exit 1; }
# Flags every etcd started here gets too (CI runs Stage 1's walkthroughs again with
# ETCD_EXTRA_FLAGS="-v1-http plain", on the plain HTTP path).
read -ra EXTRA_FLAGS <<<"${ETCD_EXTRA_FLAGS:-}"
export -n ETCD_EXTRA_FLAGS
WORK=$(mktemp -d)
STARTED_PIDS=()
declare -A NODE_PID

cleanup() {
    for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    # A graceful stop is bounded (15 s), then forced: a member stuck in its stop must not keep
    # the script, and CI, waiting.
    # Only this shell's jobs still running get kill -9: a PID already waited for may be
    # another process's by now.
    local deadline=$((SECONDS + 15)) pid running
    running=" $(jobs -pr | tr '\n' ' ') "
    for pid in "${STARTED_PIDS[@]}"; do
        [[ "$running" == *" $pid "* ]] || continue
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# A TCP port nobody is listening on right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_etcd NAME ARGS...: starts etcd in the background with its log in $WORK/NAME.log and
# its data in $WORK/NAME (unless ARGS has -d), and waits (at most 20 s) until it is ready.
# A restart appends to the same log and waits for a new "ready" line.
start_etcd() {
    local name=$1; shift
    # Data stays in this run's temporary directory unless the script names one.
    local data=()
    [[ " $* " == *" -d "* ]] || data=(-d "$WORK/$name")
    "$ETCD_BIN" "$@" "${data[@]}" ${EXTRA_FLAGS[@]+"${EXTRA_FLAGS[@]}"} >>"$WORK/$name.log" 2>&1 &
    STARTED_PIDS+=($!)
    NODE_PID[$name]=$!
    local deadline=$((SECONDS + 20))
    local before
    before=$(grep -c "ready to serve client requests" "$WORK/$name.log" 2>/dev/null || true)
    until [ "$(grep -c "ready to serve client requests" "$WORK/$name.log" 2>/dev/null || true)" -gt "${before:-0}" ]; do
        if ! kill -0 "${STARTED_PIDS[-1]}" 2>/dev/null; then
            echo "etcd $name exited early:" >&2; cat "$WORK/$name.log" >&2; exit 1
        fi
        [ $SECONDS -lt $deadline ] || { echo "etcd $name not ready after 20 s" >&2; cat "$WORK/$name.log" >&2; exit 1; }
        sleep 0.05
    done
}

# Shows a command as the README does, runs it, and prints its output.
show() {
    echo "\$ $*" | sed "s#http://127.0.0.1:$CLIENT_PORT#http://127.0.0.1:4001#g"
    "$@"
    echo
}

# expect ACTUAL EXPECTED: compares after hiding what changes from run to run (the absolute
# expiration time, and the seconds left, which depend on how fast the commands ran).
expect() {
    local normalize='s/"expiration":"[^"]*"/"expiration":"<time>"/g; s/"ttl":[0-9]*/"ttl":<ttl>/g'
    local actual expected
    actual=$(printf '%s' "$1" | sed -E "$normalize")
    expected=$(printf '%s' "$2" | sed -E "$normalize")
    if [ "$actual" != "$expected" ]; then
        printf 'MISMATCH\n  expected: %s\n  actual:   %s\n' "$expected" "$actual" >&2
        exit 1
    fi
    echo "$1"
}

# until_true SECONDS COMMAND...: polls a command until it succeeds, failing after SECONDS.
until_true() {
    local limit=$1; shift
    local deadline=$((SECONDS + limit))
    until "$@"; do
        [ $SECONDS -lt $deadline ] || { echo "timed out after ${limit}s waiting for: $*" >&2; exit 1; }
        sleep 0.05
    done
}

# kill_etcd NAME: kill -9, as a crash would, and wait for it to be gone.
kill_etcd() {
    kill -9 "${NODE_PID[$1]}" 2>/dev/null || true
    wait "${NODE_PID[$1]}" 2>/dev/null || true
}
