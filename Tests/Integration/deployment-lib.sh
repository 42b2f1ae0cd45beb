# What deployment.sh and deployment-recovery-tls.sh share: starting ours with a one-member
# cluster's flags, and stopping it. Sourced, never run.
source "$(dirname "$0")/../../Walkthroughs/lib.sh"
REAL_ETCD=${REAL_ETCD:-/usr/bin/etcd}
export ETCDCTL_API=3
fail() { echo "FAILED: $*" >&2; exit 1; }

# try_start NAME ARGS...: starts ours (in START_DIR, with the variables in EXTRA_ENV, if any) and its log in
# $WORK/NAME.log; sets OUTCOME to "ready" once it serves, or "exit N" if it stops first (20 s at
# most). A ready member is left running: stop NAME.
EXTRA_ENV=()
try_start() {
    local name=$1; shift
    : >"$WORK/$name.log"
    (cd "${START_DIR:-.}" && exec env -u ETCD_BIN ${EXTRA_ENV[@]+"${EXTRA_ENV[@]}"} "$ETCD_BIN" "$@") >"$WORK/$name.log" 2>&1 &
    local pid=$! deadline=$((SECONDS + 20))
    STARTED_PIDS+=($pid)
    NODE_PID[$name]=$pid
    OUTCOME=timeout
    while [ $SECONDS -lt $deadline ]; do
        if grep -q "ready to serve client requests" "$WORK/$name.log"; then OUTCOME=ready; return; fi
        if ! kill -0 $pid 2>/dev/null; then
            local code=0
            wait $pid 2>/dev/null || code=$?
            OUTCOME="exit $code"
            return
        fi
        sleep 0.05
    done
}
# base NAME: sets BASE to the flags of a one-member cluster on free ports with its data in
# $WORK/NAME, and CLIENT to its client URL.
base() {
    local c p
    c=$(free_port); p=$(free_port)
    CLIENT="http://127.0.0.1:$c"
    BASE=(--name "$1" --data-dir "$WORK/$1" --listen-client-urls "$CLIENT" --advertise-client-urls "$CLIENT"
        --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" --initial-cluster "$1=http://127.0.0.1:$p")
}
stop() { kill -9 "${NODE_PID[$1]}" 2>/dev/null || true; wait "${NODE_PID[$1]}" 2>/dev/null || true; }
