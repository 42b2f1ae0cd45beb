# Shared by the Stage 4 benchmarks (sourced from the project's root): etcd 3.4 installed if
# missing, etcdbench found (ETCDBENCH, or built by the script ETCDBENCH_BUILD names), our
# release binary built unless OURS_BIN names one, and WORK, a scratch directory on the
# project's disk (syncs must reach the device, not a tmpfs); KINDS, the members a script may
# start (ours, the earlier build of ours BEFORE_BIN names if set, etcd 3.4), each killed and WORK
# removed at exit; start_one, one member of a kind.
command -v etcd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server; }
BENCH=${ETCDBENCH:-/tmp/etcdbench}
[ -x "$BENCH" ] || { [ -n "${ETCDBENCH_BUILD:-}" ] && bash "$ETCDBENCH_BUILD" "$BENCH" >/dev/null; } \
    || { echo "no etcdbench at $BENCH: set ETCDBENCH to its binary (or ETCDBENCH_BUILD to a script that builds it)" >&2; exit 1; }
if [ -z "${OURS_BIN:-}" ]; then
    swift build -c release --product etcd >/dev/null
    OURS_BIN="$(swift build -c release --show-bin-path)/etcd"
fi
WORK=$(mktemp -d -p "$PWD/.build")
declare -gA PID PORT BIN=([ours]=$OURS_BIN [etcd]=etcd)
KINDS=(ours)
if [ -n "${BEFORE_BIN:-}" ]; then BIN[before]=$BEFORE_BIN; KINDS+=(before); fi
KINDS+=(etcd)
trap 'for p in "${PID[@]}"; do kill -9 $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_one KIND: starts one member of KIND from the binary BIN[KIND] (BIN, PORT and PID are
# declared above), or restarts it on its data and ports; PORT[KIND] is
# "client peer", PID[KIND] its process. Waits up to 5 minutes (a large store's restart) for it to
# answer a read, and sets READY to the seconds that took.
start_one() {
    local kind=$1 client peer begin
    [ -n "${PORT[$kind]:-}" ] || PORT[$kind]="$(free_port) $(free_port)"
    read -r client peer <<<"${PORT[$kind]}"
    begin=$(date +%s.%N)
    "${BIN[$kind]}" --name "$kind" --data-dir "$WORK/$kind" --quota-backend-bytes 8589934592 \
        --initial-cluster "$kind=http://127.0.0.1:$peer" --initial-cluster-state new \
        --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        >>"$WORK/$kind.log" 2>&1 &
    PID[$kind]=$!
    for _ in $(seq 6000); do
        if ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$client" --command-timeout=1s get probe >/dev/null 2>&1; then
            READY=$(awk -v a="$begin" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
            return 0
        fi
        sleep 0.05
    done
    echo "$kind did not start" >&2; exit 1
}
