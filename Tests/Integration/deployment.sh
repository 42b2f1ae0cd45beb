#!/usr/bin/env bash
# The daemon as real deployments start it: with any flag of etcd 3.4.23's `etcd --help` (on the
# command line or as ETCD_* variables), a config file, systemd's readiness protocol, probes, and
# the flags this server implements, each checked through etcdctl, curl or a socket.
#
#   Tests/Integration/deployment.sh      (ETCD_BIN: our binary; REAL_ETCD: etcd 3.4, whose
#                                         --help lists the flags to check)
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

echo "# Every flag of etcd 3.4.23's --help, given a value that asks for something: implemented"
echo "# (starts, no warning), accepted with one warning saying why, or refused saying what instead."
# flag -> "value|expectation"; expectation: ready, warn, or refuse:<text the error contains>.
declare -A CASES=(
    [wal-dir]="$WORK/wal-dir-case|ready" [snapshot-count]="500|ready" [heartbeat-interval]="50|ready" [election-timeout]="500|ready"
    [initial-election-tick-advance]="false|warn" [max-snapshots]="3|warn" [max-wals]="3|warn" [quota-backend-bytes]="100000000|ready"
    [backend-batch-interval]="50ms|ready" [backend-batch-limit]="100|ready" [max-txn-ops]="64|ready" [max-request-bytes]="100000|ready"
    [max-concurrent-streams]="100|ready" [grpc-keepalive-min-time]="10s|ready" [grpc-keepalive-interval]="1h|ready"
    [grpc-keepalive-timeout]="10s|ready" [initial-cluster-state]="new|ready" [initial-cluster-token]="other-token|ready"
    [discovery]="https://discovery.example/x|refuse:this server has no discovery" [discovery-fallback]="exit|refuse:this server has no discovery"
    [discovery-proxy]="http://127.0.0.1:1|refuse:this server has no discovery" [discovery-srv]="example.com|refuse:this server has no discovery"
    [discovery-srv-name]="x|refuse:this server has no discovery" [strict-reconfig-check]="false|ready" [pre-vote]="false|ready"
    [auto-compaction-retention]="1h|ready" [auto-compaction-mode]="revision|ready" [enable-v2]="true|warn"
    [cert-file]="x.pem|refuse:was given without" [key-file]="x.pem|refuse:was given without"
    [client-cert-auth]="true|refuse:without a certificate and key" [client-crl-file]="x.pem|refuse:but this port has no TLS"
    [client-cert-allowed-hostname]="x|refuse:but this port has no TLS" [trusted-ca-file]="x.pem|refuse:without a certificate and key"
    [auto-tls]="true|ready" [peer-cert-file]="x.pem|refuse:was given without"
    [peer-key-file]="x.pem|refuse:was given without" [peer-client-cert-auth]="true|refuse:without a certificate and key"
    [peer-trusted-ca-file]="x.pem|refuse:without a certificate and key" [peer-cert-allowed-cn]="x|refuse:but this port has no TLS"
    [peer-cert-allowed-hostname]="x|refuse:but this port has no TLS" [peer-auto-tls]="true|ready"
    [peer-crl-file]="x.pem|refuse:but this port has no TLS" [cipher-suites]="TLS_ECDHE_RSA_WITH_BOGUS|refuse:unexpected TLS cipher suite"
    [cors]="http://example.com:80|ready" [host-whitelist]="example.com|ready" [auth-token]="jwt,sign-method=RS256|refuse:give pub-key"
    [bcrypt-cost]="12|ready" [auth-token-ttl]="60|ready" [enable-pprof]="true|warn" [metrics]="extensive|ready"
    [listen-metrics-urls]="http://127.0.0.1:$(free_port)|ready" [logger]="zap|ready" [log-outputs]="stdout|ready" [log-level]="debug|ready"
    [proxy]="on|refuse:this server has no v2 proxy" [proxy-failure-wait]="1000|refuse:this server has no v2 proxy"
    [proxy-refresh-interval]="1000|refuse:this server has no v2 proxy" [proxy-dial-timeout]="500|refuse:this server has no v2 proxy"
    [proxy-write-timeout]="500|refuse:this server has no v2 proxy" [proxy-read-timeout]="500|refuse:this server has no v2 proxy"
    [experimental-initial-corrupt-check]="true|ready" [experimental-corrupt-check-time]="1m|ready" [experimental-enable-v2v3]="/v2|warn"
    [experimental-backend-bbolt-freelist-type]="map|warn" [experimental-enable-lease-checkpoint]="true|warn"
    [experimental-compaction-batch-limit]="10|ready" [experimental-peer-skip-client-san-verification]="true|warn"
    [experimental-watch-progress-notify-interval]="5s|ready" [experimental-warning-apply-duration]="1s|warn"
    [force-new-cluster]="true|ready" [debug]="true|ready" [log-package-levels]="etcdserver=DEBUG|warn"
)
BASE_FLAGS=" name data-dir listen-peer-urls listen-client-urls initial-advertise-peer-urls initial-cluster advertise-client-urls "
FLAGS=$("$REAL_ETCD" --help 2>&1 | sed -nE "s/^ +--([a-z0-9-]+) .*/\1/p")
[ "$(echo "$FLAGS" | wc -l)" -ge 80 ] || fail "expected etcd 3.4.23's 80 flags from $REAL_ETCD --help"
checked=0 warned=0 refused=0
for flag in $FLAGS; do
    [[ $BASE_FLAGS == *" $flag "* ]] && continue
    [ -n "${CASES[$flag]:-}" ] || fail "etcd's --$flag has no case here: add what ours does with it"
    value=${CASES[$flag]%%|*} expected=${CASES[$flag]#*|}
    # Half the flags go through their ETCD_* variable instead of the command line.
    args=()
    if [ $((checked % 2)) = 1 ]; then
        EXTRA_ENV=("ETCD_$(echo "$flag" | tr 'a-z-' 'A-Z_')=$value")
        how=${EXTRA_ENV[0]}
    else
        args=("--$flag=$value")
        how=${args[0]}
    fi
    base "f-$flag"
    try_start "f-$flag" "${BASE[@]}" ${args[@]+"${args[@]}"}
    EXTRA_ENV=()
    outcome=$OUTCOME
    stop "f-$flag"
    log="$WORK/f-$flag.log"
    grep -q "flag provided but not defined\|unrecognized environment variable" "$log" && fail "$how: not recognised: $(head -3 "$log")"
    case $expected in
    ready)
        [ "$outcome" = ready ] || fail "$how: expected to start, got $outcome: $(tail -3 "$log")"
        ! grep -q "is accepted but " "$log" || fail "$how: implemented, yet warned: $(grep 'no effect' "$log")"
        ;;
    warn)
        [ "$outcome" = ready ] || fail "$how: expected to start, got $outcome: $(tail -3 "$log")"
        [ "$(grep -c -- "--$flag=$value is accepted but " "$log")" = 1 ] || fail "$how: expected one warning saying why: $(head -5 "$log")"
        warned=$((warned + 1))
        ;;
    refuse:*)
        [ "$outcome" = "exit 2" ] || fail "$how: expected a refusal (exit 2), got $outcome"
        grep -q -- "${expected#refuse:}" "$log" || fail "$how: expected the refusal to say '${expected#refuse:}': $(cat "$log")"
        ! grep -q "^Usage:" "$log" || fail "$how: refused with a usage dump"
        refused=$((refused + 1))
        ;;
    esac
    checked=$((checked + 1))
done
echo "checked $checked flags beside the 7 every run uses: $warned accepted with a warning, $refused refused with a reason, the rest implemented"

echo
echo "# Every flag at etcd's default at once (as etcd's own sample config spells them out): starts, warns of nothing."
defaults=()
while read -r flag value; do
    [[ $BASE_FLAGS == *" $flag "* ]] && continue
    value=${value#\'}; value=${value%\'}
    case $flag in max-concurrent-streams) value=4294967295 ;; data-dir|wal-dir) continue ;; esac
    defaults+=("--$flag=$value")
done < <("$REAL_ETCD" --help 2>&1 | sed -nE "s/^ +--([a-z0-9-]+) (.*)/\1 \2/p")
base defaults
try_start defaults "${BASE[@]}" "${defaults[@]}"
[ "$OUTCOME" = ready ] || fail "etcd's defaults: $(tail -5 "$WORK/defaults.log")"
! grep -q "no effect\|unrecognized" "$WORK/defaults.log" || fail "etcd's defaults raised warnings: $(grep 'no effect\|unrecognized' "$WORK/defaults.log")"
echo "started with ${#defaults[@]} flags at etcd's defaults, no warning"
stop defaults

echo
echo "# ETCD_* variables as etcd checks them."
EXTRA_ENV=(ETCD_NO_SUCH_SETTING=1)
base unknown-var
try_start unknown-var "${BASE[@]}"
EXTRA_ENV=()
grep -q "unrecognized environment variable ETCD_NO_SUCH_SETTING=1" "$WORK/unknown-var.log" || fail "an unknown ETCD_ variable was not reported"
grep -o "unrecognized environment variable ETCD_NO_SUCH_SETTING=1" "$WORK/unknown-var.log"
stop unknown-var
out=$(ETCD_NAME=other "$ETCD_BIN" --name shadowing 2>&1; echo "exit $?")
expect "$out" $'etcd: conflicting environment variable "ETCD_NAME" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)\nexit 2'

echo
echo "# --version, in etcd's shape"
expect "$("$ETCD_BIN" --version | head -1)" "$("$REAL_ETCD" --version | head -1)"

echo
echo "# The data directory: created 0700; a looser existing one is reported in etcd's words."
base perms
args=("${BASE[@]}")
try_start perms "${args[@]}"
[ "$OUTCOME" = ready ] || fail "perms did not start"
expect "$(stat -c %a "$WORK/perms")" 700
stop perms
chmod 0755 "$WORK/perms"
try_start perms "${args[@]}"
[ "$OUTCOME" = ready ] || fail "perms did not restart"
grep -q "check file permission: directory \"$WORK/perms\" exist, but the permission is \"drwxr-xr-x\". The recommended permission is \"-rwx------\" to prevent possible unprivileged access to the data." "$WORK/perms.log" \
    || fail "no permission warning: $(head -5 "$WORK/perms.log")"
grep -o 'check file permission: .*' "$WORK/perms.log" | sed "s#$WORK/##"
stop perms
out=$(env -u ETCD_BIN "$ETCD_BIN" "${args[@]}" --wal-dir "$WORK/an-empty-wal-dir" 2>&1; echo "exit $?")
expect "$(echo "$out" | tail -2 | sed "s#$WORK/##g")" \
    $'etcd: --wal-dir an-empty-wal-dir holds no log, but perms/wal does: move the files of perms/wal into an-empty-wal-dir, or start without --wal-dir\nexit 2'

echo
echo "# --metrics extensive: gRPC calls timed (grpc_server_handling_seconds); basic leaves them out."
base metrics
try_start metrics "${BASE[@]}" --metrics extensive
[ "$OUTCOME" = ready ] || fail "metrics did not start"
until_true 20 bash -c "etcdctl --endpoints=$CLIENT put timed 1 >/dev/null 2>&1"
etcdctl --endpoints="$CLIENT" member list >/dev/null
expect "$(curl -s "$CLIENT/metrics" | grep -E '^grpc_server_handling_seconds_count\{.*grpc_method="(Put|MemberList)"' | sed -E 's/ [0-9.]+$/ N/' | sort)" \
    'grpc_server_handling_seconds_count{grpc_type="unary",grpc_service="etcdserverpb.Cluster",grpc_method="MemberList"} N
grpc_server_handling_seconds_count{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Put"} N'
stop metrics
base metrics-basic
try_start metrics-basic "${BASE[@]}"
until_true 20 bash -c "etcdctl --endpoints=$CLIENT put timed 1 >/dev/null 2>&1"
! curl -s "$CLIENT/metrics" | grep -q grpc_server_handling_seconds || fail "basic metrics timed calls"
stop metrics-basic

echo
echo "# --log-outputs: a file beside standard error (0600: logs name keys and clients)."
base logfile
try_start logfile "${BASE[@]}" --log-outputs "stderr,$WORK/member.log"
[ "$OUTCOME" = ready ] || fail "logfile did not start: $(tail -3 "$WORK/logfile.log")"
grep -q "ready to serve client requests" "$WORK/member.log" || fail "the log file lacks the ready line"
grep -q "ready to serve client requests" "$WORK/logfile.log" || fail "standard error lacks the ready line"
expect "$(stat -c %a "$WORK/member.log")" 600
stop logfile

echo
echo "# --wal-dir: the log apart from the data, and back after a restart."
base waldir
args=("${BASE[@]}")
try_start waldir "${args[@]}" --wal-dir "$WORK/waldir-log"
[ "$OUTCOME" = ready ] || fail "waldir did not start"
expect "$(etcdctl --endpoints="$CLIENT" put kept yes)" OK
ls "$WORK/waldir-log" | grep -q '\.wal$' || fail "no WAL segment in --wal-dir"
[ ! -e "$WORK/waldir/wal" ] || fail "a WAL in the data directory despite --wal-dir"
stop waldir
try_start waldir "${args[@]}" --wal-dir "$WORK/waldir-log"
[ "$OUTCOME" = ready ] || fail "waldir did not restart"
expect "$(etcdctl --endpoints="$CLIENT" get kept --print-value-only)" yes
stop waldir

echo
echo "# --max-request-bytes, --max-txn-ops, --max-concurrent-streams: etcd's limits, etcd's errors."
base limits
try_start limits "${BASE[@]}" --max-request-bytes 1024 --max-txn-ops 2 --max-concurrent-streams 7
[ "$OUTCOME" = ready ] || fail "limits did not start"
expect "$(etcdctl --endpoints="$CLIENT" put big "$(head -c 2000 /dev/zero | tr '\0' x)" 2>&1 | grep -v '^{"level"')" 'Error: etcdserver: request is too large'
expect "$(etcdctl --endpoints="$CLIENT" put small "$(head -c 500 /dev/zero | tr '\0' x)")" OK
# txn_puts URL N: a transaction of N puts, no compares (etcdctl's prompts dropped).
txn_puts() {
    { printf '\n'; for i in $(seq "$2"); do printf 'put k%s v\n' "$i"; done; printf '\n\n'; } | etcdctl --endpoints="$1" txn -i 2>&1 \
        | grep -v '^{"level"' | sed '/^compares:$/d; /requests (get, put, del):$/d'
}
expect "$(txn_puts "$CLIENT" 3)" 'Error: etcdserver: too many operations in txn request'
expect "$(txn_puts "$CLIENT" 2)" $'SUCCESS\n\nOK\n\nOK'
# The server's first HTTP/2 SETTINGS frame announces the stream limit (SETTINGS_MAX_CONCURRENT_STREAMS, 3).
streams=$(python3 - "${CLIENT#http://}" <<'EOF'
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + struct.pack(">I", 0)[1:] + b"\x04\x00" + struct.pack(">I", 0))
data = b""
while len(data) < 9 or len(data) < 9 + int.from_bytes(data[:3], "big"):
    data += s.recv(4096)
length, kind = int.from_bytes(data[:3], "big"), data[3]
assert kind == 4, "first frame is not SETTINGS"
settings = dict(struct.unpack(">HI", data[9 + i:15 + i]) for i in range(0, length, 6))
print(settings.get(3, "none"))
EOF
)
expect "$streams" 7
stop limits

echo
echo "# --auto-compaction-mode periodic --auto-compaction-retention 2s: the leader compacts by itself."
base compactor
try_start compactor "${BASE[@]}" --auto-compaction-retention 2s
[ "$OUTCOME" = ready ] || fail "compactor did not start"
etcdctl --endpoints="$CLIENT" put k v1 >/dev/null
etcdctl --endpoints="$CLIENT" put k v2 >/dev/null
until_true 10 grep -q "Finished auto-compaction at revision 3" "$WORK/compactor.log"
expect "$(etcdctl --endpoints="$CLIENT" get k --rev=2 2>&1 | grep -v '^{"level"')" 'Error: etcdserver: mvcc: required revision has been compacted'
grep -o "Starting auto-compaction at revision 3 (retention: 2s)" "$WORK/compactor.log" | head -1
stop compactor

echo
echo "# Probes: /health (etcd 3.4, with ?exclude and ?serializable), /livez and /readyz (3.4.29, 3.5)."
base probes
try_start probes "${BASE[@]}" --quota-backend-bytes 20000
[ "$OUTCOME" = ready ] || fail "probes did not start"
status() { curl -s -o "$WORK/body" -w '%{http_code}' "$CLIENT$1"; echo " $(cat "$WORK/body" | tr '\n' '|')"; }
expect "$(status /health)" '200 {"health":"true"}'
expect "$(status /livez)" '200 ok|'
expect "$(status '/readyz?verbose')" '200 [+]data_corruption ok|[+]serializable_read ok|[+]linearizable_read ok|ok|'
expect "$(status /readyz/linearizable_read)" '200 ok|'
expect "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$CLIENT/readyz")" 405
etcdctl --endpoints="$CLIENT" put big "$(head -c 30000 /dev/zero | tr '\0' x)" >/dev/null 2>&1 || true
expect "$(etcdctl --endpoints="$CLIENT" alarm list | sed "s/ *$//")" "memberID:$(etcdctl --endpoints="$CLIENT" endpoint status -w json | sed -E 's/.*"member_id":([0-9]+).*/\1/') alarm:NOSPACE"
expect "$(status /health)" '503 {"health":"false"}|'
expect "$(status '/health?exclude=NOSPACE')" '200 {"health":"true"}'
expect "$(status '/health?serializable=true&exclude=NOSPACE')" '200 {"health":"true"}'
expect "$(status /readyz)" '200 ok|'
stop probes

echo
echo "# systemd Type=notify: READY=1 on NOTIFY_SOCKET once the member has published itself."
python3 - "$WORK/notify.sock" >"$WORK/notified" <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
s.settimeout(30)
print(s.recv(4096).decode())
EOF
listener=$!
until_true 5 test -S "$WORK/notify.sock"
EXTRA_ENV=(NOTIFY_SOCKET="$WORK/notify.sock")
base notify
try_start notify "${BASE[@]}"
EXTRA_ENV=()
[ "$OUTCOME" = ready ] || fail "notify did not start"
wait $listener
expect "$(cat "$WORK/notified")" READY=1
stop notify

echo
echo "# unix:// in --listen-client-urls: a socket file etcdctl and curl dial (named as etcd names it)."
base unixsock
socket="localhost:$(free_port)"
BASE[5]="$CLIENT,unix://$socket"   # the --listen-client-urls value
START_DIR=$WORK
try_start unixsock "${BASE[@]}"
START_DIR=
[ "$OUTCOME" = ready ] || fail "unixsock did not start: $(tail -3 "$WORK/unixsock.log")"
[ -S "$WORK/$socket" ] || fail "no socket file $socket in the working directory"
expect "$(cd "$WORK" && etcdctl --endpoints="unix://$socket" put through-socket yes)" OK
expect "$(curl -s --unix-socket "$WORK/$socket" http://localhost/v1/keys/x -d value=1 | sed 's/"index":[0-9]*/"index":N/')" \
    '{"action":"SET","key":"/x","value":"1","newKey":true,"index":N}'
stop unixsock

echo
echo "# --host-whitelist (against DNS rebinding) and --cors, as etcd applies them to plaintext HTTP."
base access
try_start access "${BASE[@]}" --host-whitelist etcd.example,127.0.0.1 --cors http://app.example:80
[ "$OUTCOME" = ready ] || fail "access did not start"
port=${CLIENT##*:}
expect "$(curl -s -o /dev/null -w '%{http_code}' "$CLIENT/version")" 200
expect "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: etcd.example:$port" "$CLIENT/version")" 200
expect "$(curl -s -w '%{http_code}' -H "Host: attacker.example:$port" "$CLIENT/v1/keys/secret" | head -3 | tr '\n' '|')" \
    '|etcd received your request, but the Host header was unrecognized.||'
expect "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: attacker.example" "$CLIENT/health")" 421
headers() { curl -s -D - -o /dev/null "$@" | tr -d '\r' | grep -i '^access-control' | sort; }
expect "$(headers -H 'Origin: http://app.example:80' "$CLIENT/version")" \
    $'Access-Control-Allow-Headers: accept, content-type, authorization\nAccess-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\nAccess-Control-Allow-Origin: http://app.example:80'
expect "$(headers -H 'Origin: http://other.example:80' "$CLIENT/version")" ""
expect "$(curl -s -w '%{http_code}' -X OPTIONS -H 'Origin: http://app.example:80' "$CLIENT/v1/keys/anything")" 200
stop access
base cors-default
try_start cors-default "${BASE[@]}"
expect "$(headers "$CLIENT/health" | grep Origin)" 'Access-Control-Allow-Origin: *'
stop cors-default

echo
echo "# --force-new-cluster: two of three members lost for good; the survivor restarts alone with its data."
declare -A FC FP
for n in 1 2 3; do FC[$n]=$(free_port); FP[$n]=$(free_port); done
force_cluster="f1=http://127.0.0.1:${FP[1]},f2=http://127.0.0.1:${FP[2]},f3=http://127.0.0.1:${FP[3]}"
force_args() {
    echo --name "f$1" --data-dir "$WORK/force$1" --listen-client-urls "http://127.0.0.1:${FC[$1]}" \
        --advertise-client-urls "http://127.0.0.1:${FC[$1]}" --listen-peer-urls "http://127.0.0.1:${FP[$1]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${FP[$1]}" --initial-cluster "$force_cluster"
}
for n in 1 2 3; do
    try_start "force$n" $(force_args $n)
    [ "$OUTCOME" = ready ] || fail "force$n did not start"
done
until_true 20 bash -c "etcdctl --endpoints=127.0.0.1:${FC[1]} put survivor-data kept >/dev/null 2>&1"
until_true 10 bash -c "etcdctl --endpoints=127.0.0.1:${FC[1]} get survivor-data --consistency=s --print-value-only | grep -q kept"
for n in 1 2 3; do kill -9 "${NODE_PID[force$n]}"; wait "${NODE_PID[force$n]}" 2>/dev/null || true; done
try_start force1 $(force_args 1) --force-new-cluster
[ "$OUTCOME" = ready ] || fail "the survivor did not start: $(tail -3 "$WORK/force1.log")"
grep -o "forcing restart of member [0-9a-f]* in cluster [0-9a-f]* at commit index [0-9]*" "$WORK/force1.log" | sed -E 's/[0-9a-f]{16}/<id>/g; s/index [0-9]+/index N/'
until_true 20 bash -c "etcdctl --endpoints=127.0.0.1:${FC[1]} put after-force yes >/dev/null 2>&1"
expect "$(etcdctl --endpoints="127.0.0.1:${FC[1]}" get survivor-data --print-value-only)" kept
expect "$(etcdctl --endpoints="127.0.0.1:${FC[1]}" member list | cut -d, -f2,3)" " started, f1"
stop force1

echo
echo "# --experimental-initial-corrupt-check and --experimental-corrupt-check-time on a healthy cluster,"
echo "# with authentication on (peers are asked over the peer port, not the client API's root-only HashKV)."
declare -A HC HP
for n in 1 2 3; do HC[$n]=$(free_port); HP[$n]=$(free_port); done
hash_cluster="h1=http://127.0.0.1:${HP[1]},h2=http://127.0.0.1:${HP[2]},h3=http://127.0.0.1:${HP[3]}"
hash_args() {
    echo --name "h$1" --data-dir "$WORK/hash$1" --listen-client-urls "http://127.0.0.1:${HC[$1]}" \
        --advertise-client-urls "http://127.0.0.1:${HC[$1]}" --listen-peer-urls "http://127.0.0.1:${HP[$1]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${HP[$1]}" --initial-cluster "$hash_cluster" \
        --experimental-initial-corrupt-check=true --experimental-corrupt-check-time=1s
}
for n in 1 2 3; do
    try_start "hash$n" $(hash_args $n)
    [ "$OUTCOME" = ready ] || fail "hash$n did not start: $(tail -3 "$WORK/hash$n.log")"
done
until_true 20 bash -c "etcdctl --endpoints=127.0.0.1:${HC[1]} put hashed 1 >/dev/null 2>&1"
etcdctl --endpoints="127.0.0.1:${HC[1]}" user add root:rootpw >/dev/null
etcdctl --endpoints="127.0.0.1:${HC[1]}" auth enable >/dev/null
# hash3 asks the members it has applied: let it learn all of them first.
until_true 20 bash -c "[ \$(etcdctl --endpoints=127.0.0.1:${HC[3]} member list | grep -c 'started, h') = 3 ]"
stop hash3
try_start hash3 $(hash_args 3)
[ "$OUTCOME" = ready ] || fail "hash3 did not restart"
grep -q "peers-checked=2.*initial corruption checking passed; no corruption" "$WORK/hash3.log" \
    || fail "the restarted member did not compare with both peers: $(grep -i "corrupt\|remote peer" "$WORK/hash3.log")"
echo "a restarted member compared its HashKV with both peers before serving"
until_true 20 bash -c "cat $WORK/hash[123].log | grep -q 'periodic corruption check passed'"
expect "$(etcdctl --endpoints="127.0.0.1:${HC[1]}" --user root:rootpw alarm list)" ""
expect "$(etcdctl --endpoints="127.0.0.1:${HC[2]}" --user root:rootpw put after-checks 1)" OK
for n in 1 2 3; do stop "hash$n"; done

echo "# ... and on two members whose stores differ at the same revision (each restored from another"
echo "# cluster's snapshot with the same --initial-cluster): the leader raises CORRUPT; a restart is refused."
for x in a b; do
    base "src-$x"
    try_start "src-$x" "${BASE[@]}"
    [ "$OUTCOME" = ready ] || fail "src-$x did not start"
    until_true 20 bash -c "etcdctl --endpoints=$CLIENT put k $x >/dev/null 2>&1"
    etcdctl --endpoints="$CLIENT" --command-timeout=120s snapshot save "$WORK/src-$x.db" >/dev/null 2>&1 || fail "snapshot save from src-$x"
    stop "src-$x"
done
declare -A DC DP
for n in 1 2; do DC[$n]=$(free_port); DP[$n]=$(free_port); done
div_cluster="d1=http://127.0.0.1:${DP[1]},d2=http://127.0.0.1:${DP[2]}"
env -u ETCD_BIN "$ETCD_BIN" snapshot restore "$WORK/src-a.db" --name d1 --data-dir "$WORK/div1" --initial-cluster "$div_cluster" \
    --initial-advertise-peer-urls "http://127.0.0.1:${DP[1]}" >/dev/null
env -u ETCD_BIN "$ETCD_BIN" snapshot restore "$WORK/src-b.db" --name d2 --data-dir "$WORK/div2" --initial-cluster "$div_cluster" \
    --initial-advertise-peer-urls "http://127.0.0.1:${DP[2]}" >/dev/null
div_args() {
    echo --name "d$1" --data-dir "$WORK/div$1" --listen-client-urls "http://127.0.0.1:${DC[$1]}" \
        --advertise-client-urls "http://127.0.0.1:${DC[$1]}" --listen-peer-urls "http://127.0.0.1:${DP[$1]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${DP[$1]}" --initial-cluster "$div_cluster" --experimental-corrupt-check-time=1s
}
for n in 1 2; do
    try_start "div$n" $(div_args $n)
    [ "$OUTCOME" = ready ] || fail "div$n did not start"
done
until_true 20 bash -c "etcdctl --endpoints=127.0.0.1:${DC[1]} alarm list 2>/dev/null | grep -q CORRUPT"
etcdctl --endpoints="127.0.0.1:${DC[1]}" alarm list | sed -E 's/memberID:[0-9]+/memberID:<id>/; s/ *$//'
expect "$(etcdctl --endpoints="127.0.0.1:${DC[2]}" put after-corruption 1 2>&1 | grep -v '^{"level"')" 'Error: etcdserver: corrupt cluster'
until_true 20 bash -c "[ \$(etcdctl --endpoints=127.0.0.1:${DC[2]} member list | grep -c 'started, d') = 2 ]"
stop div2
try_start div2 $(div_args 2) --experimental-initial-corrupt-check=true
expect "$OUTCOME" "exit 1"
grep -o "cannot serve: [0-9a-f]* found data inconsistency with peers" "$WORK/div2.log" | sed -E 's/[0-9a-f]{16}/<id>/'
stop div1

echo
echo "# --auto-tls and --peer-auto-tls: two members encrypting with self-signed certificates made at first start."
declare -A AC AP
for n in 1 2; do AC[$n]=$(free_port); AP[$n]=$(free_port); done
auto_cluster="auto1=https://127.0.0.1:${AP[1]},auto2=https://127.0.0.1:${AP[2]}"
auto_args() {
    echo --name "auto$1" --data-dir "$WORK/auto$1" --auto-tls --peer-auto-tls --listen-client-urls "https://127.0.0.1:${AC[$1]}" \
        --advertise-client-urls "https://127.0.0.1:${AC[$1]}" --listen-peer-urls "https://127.0.0.1:${AP[$1]}" \
        --initial-advertise-peer-urls "https://127.0.0.1:${AP[$1]}" --initial-cluster "$auto_cluster"
}
for n in 1 2; do
    try_start "auto$n" $(auto_args $n)
    [ "$OUTCOME" = ready ] || fail "auto$n did not start: $(tail -3 "$WORK/auto$n.log")"
done
insecure=(--insecure-skip-tls-verify --insecure-transport=false --dial-timeout=3s --command-timeout=5s)
until_true 20 bash -c "etcdctl --endpoints=https://127.0.0.1:${AC[1]} ${insecure[*]} put auto yes >/dev/null 2>&1"
expect "$(etcdctl --endpoints="https://127.0.0.1:${AC[2]}" "${insecure[@]}" get auto --print-value-only)" yes
expect "$(stat -c '%a' "$WORK/auto1/fixtures/client/key.pem" "$WORK/auto1/fixtures/peer" | tr '\n' ' ')" '600 700 '
fingerprint=$(openssl x509 -in "$WORK/auto1/fixtures/client/cert.pem" -noout -fingerprint)
openssl x509 -in "$WORK/auto1/fixtures/client/cert.pem" -noout -subject -ext subjectAltName | tr -s ' \n' ' '; echo
stop auto1
try_start auto1 $(auto_args 1)
[ "$OUTCOME" = ready ] || fail "auto1 did not restart"
expect "$(openssl x509 -in "$WORK/auto1/fixtures/client/cert.pem" -noout -fingerprint)" "$fingerprint"
until_true 20 bash -c "etcdctl --endpoints=https://127.0.0.1:${AC[1]} ${insecure[*]} get auto --print-value-only 2>/dev/null | grep -q yes"
echo "restarted with the same certificate; the cluster still answers over TLS"
stop auto1; stop auto2

echo
echo "# TLS as etcd restricts it: a revocation list, cipher suites, a host name client certificates must carry."
mkdir -p "$WORK/pki/db" && touch "$WORK/pki/db/index.txt" && echo 01 >"$WORK/pki/db/crlnumber"
"$ROOT/Scripts/make-certs.sh" "$WORK/pki" server good revoked >/dev/null
printf '[ca]\ndefault_ca=ca\n[ca]\ndatabase=db/index.txt\ncrlnumber=db/crlnumber\ndefault_md=sha256\ndefault_crl_days=1\n' >"$WORK/pki/ca.cnf"
(cd "$WORK/pki" && openssl ca -config ca.cnf -keyfile ca-key.pem -cert ca.pem -revoke revoked.pem 2>/dev/null \
    && openssl ca -config ca.cnf -keyfile ca-key.pem -cert ca.pem -gencrl -out crl.pem 2>/dev/null) || fail "openssl could not make a CRL"
base tls
https=${CLIENT/http:/https:}
tls_args=("${BASE[@]/$CLIENT/$https}" --cert-file "$WORK/pki/server.pem" --key-file "$WORK/pki/server-key.pem"
    --trusted-ca-file "$WORK/pki/ca.pem" --client-cert-auth --client-crl-file "$WORK/pki/crl.pem"
    --cipher-suites TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305 --client-cert-allowed-hostname localhost)
try_start tls "${tls_args[@]}"
[ "$OUTCOME" = ready ] || fail "tls did not start: $(tail -5 "$WORK/tls.log")"
as() { etcdctl --endpoints="$https" --cacert "$WORK/pki/ca.pem" --cert "$WORK/pki/$1.pem" --key "$WORK/pki/$1-key.pem" --dial-timeout=2s --command-timeout=3s "${@:2}"; }
expect "$(as good put through yes)" OK
! as revoked get through >/dev/null 2>&1 || fail "a revoked certificate was served"
until_true 5 grep -q "certificate serial [0-9a-f]* revoked" "$WORK/tls.log"
grep -o "TLS handshake failed on the client port: transport: certificate serial [0-9a-f]* revoked (CN=etcd revoked)" "$WORK/tls.log" | head -1 | sed -E 's/serial [0-9a-f]+/serial <hex>/'
cipher() { openssl s_client -connect "${https#https://}" -tls1_2 -cipher "$1" -CAfile "$WORK/pki/ca.pem" -cert "$WORK/pki/good.pem" -key "$WORK/pki/good-key.pem" </dev/null 2>&1; }
cipher ECDHE-ECDSA-AES128-GCM-SHA256 | grep -q "Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" || fail "an allowed cipher suite was not negotiated"
! cipher ECDHE-ECDSA-AES256-GCM-SHA384 | grep -q "Cipher is ECDHE-ECDSA-AES256-GCM-SHA384" || fail "a cipher suite outside --cipher-suites was negotiated"
echo "TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256: accepted; ECDHE-ECDSA-AES256-GCM-SHA384: refused"
stop tls
try_start tls "${tls_args[@]/localhost/other.example}"
[ "$OUTCOME" = ready ] || fail "tls did not restart"
! as good get through >/dev/null 2>&1 || fail "a certificate not valid for --client-cert-allowed-hostname was served"
until_true 5 grep -q "client certificate authentication failed" "$WORK/tls.log"
grep -o "client certificate authentication failed: .*other.example.*" "$WORK/tls.log" | head -1
stop tls
base tlssock
tsock="localhost:$(free_port)"
tls_https=${CLIENT/http:/https:}
sock_args=("${BASE[@]/$CLIENT/$tls_https}" --cert-file "$WORK/pki/server.pem" --key-file "$WORK/pki/server-key.pem"
    --trusted-ca-file "$WORK/pki/ca.pem" --client-cert-auth)
sock_args[5]="$tls_https,unixs://$tsock"
START_DIR=$WORK
try_start tlssock "${sock_args[@]}"
START_DIR=
[ "$OUTCOME" = ready ] || fail "tlssock did not start: $(tail -3 "$WORK/tlssock.log")"
expect "$(cd "$WORK" && etcdctl --endpoints="unixs://$tsock" --cacert pki/ca.pem --cert pki/good.pem --key pki/good-key.pem \
    --dial-timeout=3s put over-unixs yes)" OK
echo "unixs:// served TLS with client certificates on a Unix socket"
stop tlssock
expect "$(env -u ETCD_BIN "$ETCD_BIN" --cipher-suites TLS_RSA_WITH_RC4_128_SHA 2>&1 | cut -c1-106)" \
    'etcd: --cipher-suites: TLS_RSA_WITH_RC4_128_SHA is a cipher suite BoringSSL, this server'"'"'s TLS library, no'

echo
echo "# Peer URLs by their schemes, as a cluster moves to peer TLS a member at a time (etcd's migration):"
echo "# both members listen on http:// and https:// with peer certificates, one advertised by each;"
echo "# then the http:// one is moved to https:// (member update) and both restart on https:// alone."
echo "# The same steps run against etcd 3.4 first, so the flags are etcd's."
"$ROOT/Scripts/make-certs.sh" "$WORK/pki" peer >/dev/null
scheme_migration() {
    local label=$1 bin=$2 n
    local -A SC SH SS
    for n in 1 2; do SC[$n]=$(free_port); SH[$n]=$(free_port); SS[$n]=$(free_port); done
    local cluster="${label}1=http://127.0.0.1:${SH[1]},${label}2=https://127.0.0.1:${SS[2]}"
    # member N, its peer listen URLs, its advertised peer URL
    member_args() {
        echo --name "$label$1" --data-dir "$WORK/$label$1" --listen-client-urls "http://127.0.0.1:${SC[$1]}" \
            --advertise-client-urls "http://127.0.0.1:${SC[$1]}" --listen-peer-urls "$2" --initial-advertise-peer-urls "$3" \
            --initial-cluster "$cluster" --peer-cert-file "$WORK/pki/peer.pem" --peer-key-file "$WORK/pki/peer-key.pem" \
            --peer-trusted-ca-file "$WORK/pki/ca.pem" --peer-client-cert-auth
    }
    on() { etcdctl --endpoints="http://127.0.0.1:${SC[$1]}" --dial-timeout=2s --command-timeout=5s "${@:2}"; }
    replicated() { [ "$(on "$2" get "$1" --print-value-only 2>/dev/null)" = "$1" ]; }
    # etcd is ready only once the two have a leader: both start, then both are waited for.
    launch() {
        : >"$WORK/$1.log"
        (exec env -u ETCD_BIN "$bin" "${@:2}") >"$WORK/$1.log" 2>&1 &
        NODE_PID[$1]=$!
        STARTED_PIDS+=($!)
    }
    ready() { grep -q "ready to serve client requests" "$WORK/$1.log"; }
    launch "${label}1" $(member_args 1 "http://127.0.0.1:${SH[1]},https://127.0.0.1:${SS[1]}" "http://127.0.0.1:${SH[1]}")
    launch "${label}2" $(member_args 2 "http://127.0.0.1:${SH[2]},https://127.0.0.1:${SS[2]}" "https://127.0.0.1:${SS[2]}")
    until_true 30 ready "${label}1"
    until_true 30 ready "${label}2"
    until_true 20 bash -c "etcdctl --endpoints=http://127.0.0.1:${SC[1]} --dial-timeout=1s --command-timeout=2s put mixed mixed >/dev/null 2>&1"
    until_true 20 replicated mixed 2
    # Each member's client URL is in the member list once it has published it.
    published() { [ "$(on 1 member list 2>/dev/null | grep -c 'https*://[^,]*, http://')" = 2 ]; }
    until_true 20 published
    on 1 member list | sed -E "s/^[0-9a-f]+/<id>/; s/127.0.0.1:[0-9]+/<port>/g"
    if [ "$label" = mig ]; then
        # etcd's warning, word for word, for the http:// listener of a member with peer certificates.
        grep -m1 "scheme is HTTP while key and cert files are present; ignoring key and cert files" "$WORK/mig1.log" \
            | sed -E 's/^.*etcd: //; s/127.0.0.1:[0-9]+/<port>/' | grep . || fail "no warning for the http:// peer listener"
    fi
    # The https:// peer port speaks TLS with the peer certificates; the http:// one does not.
    openssl s_client -connect "127.0.0.1:${SS[1]}" -CAfile "$WORK/pki/ca.pem" -cert "$WORK/pki/peer.pem" -key "$WORK/pki/peer-key.pem" \
        </dev/null 2>&1 | grep -q "Verify return code: 0" || fail "$label: no TLS on the https:// peer port"
    ! openssl s_client -connect "127.0.0.1:${SH[1]}" -CAfile "$WORK/pki/ca.pem" </dev/null 2>&1 | grep -q "Verify return code: 0" \
        || fail "$label: TLS on the http:// peer port"
    local id
    id=$(on 1 member list | grep "${label}1" | cut -d, -f1)
    on 1 member update "$id" --peer-urls="https://127.0.0.1:${SS[1]}" | sed -E 's/Member +[0-9a-f]+/Member <id>/; s/cluster +[0-9a-f]+/cluster <id>/'
    until_true 20 bash -c "etcdctl --endpoints=http://127.0.0.1:${SC[2]} --dial-timeout=1s --command-timeout=2s put moved moved >/dev/null 2>&1"
    until_true 20 replicated moved 1
    # On https:// alone now: only TLS links remain, and they carry the writes.
    stop "${label}1"; stop "${label}2"
    launch "${label}1" $(member_args 1 "https://127.0.0.1:${SS[1]}" "https://127.0.0.1:${SS[1]}")
    launch "${label}2" $(member_args 2 "https://127.0.0.1:${SS[2]}" "https://127.0.0.1:${SS[2]}")
    until_true 30 ready "${label}1"
    until_true 30 ready "${label}2"
    until_true 30 bash -c "etcdctl --endpoints=http://127.0.0.1:${SC[2]} --dial-timeout=1s --command-timeout=2s put secured secured >/dev/null 2>&1"
    until_true 20 replicated secured 1
    echo "$label: replicated over http:// and https:// peer links, then over https:// alone"
    stop "${label}1"; stop "${label}2"
}
scheme_migration real "$REAL_ETCD"
scheme_migration mig "$ETCD_BIN"

if command -v systemd-analyze >/dev/null; then
    echo "# contrib/systemd/etcd.service is a unit systemd accepts (systemd-analyze verify, with this binary)."
    sed "s#/usr/local/bin/etcd#$ETCD_BIN#" "$ROOT/contrib/systemd/etcd.service" >"$WORK/etcd.service"
    (cd "$WORK" && systemd-analyze verify ./etcd.service) || fail "systemd-analyze rejected contrib/systemd/etcd.service"
    grep -E '^(Type|User)=' "$WORK/etcd.service"
fi

echo
echo "# --config-file: etcd's YAML; flags beside it are refused."
c=$(free_port); p=$(free_port)
cat >"$WORK/etcd.conf.yml" <<EOF
name: 'from-file'
data-dir: $WORK/from-file
wal-dir:
snapshot-count: 10000
heartbeat-interval: 100
election-timeout: 1000
listen-peer-urls: http://127.0.0.1:$p
listen-client-urls: http://127.0.0.1:$c
initial-advertise-peer-urls: http://127.0.0.1:$p
advertise-client-urls: http://127.0.0.1:$c
initial-cluster: from-file=http://127.0.0.1:$p
initial-cluster-state: 'new'
discovery-fallback: 'proxy'
proxy: 'off'
client-transport-security:
  cert-file:
  client-cert-auth: false
  auto-tls: false
max-txn-ops: 1
grpc-keepalive-min-time: 5000000000
log-outputs: [stderr]
a-key-etcd-never-had: 1
EOF
try_start from-file --config-file "$WORK/etcd.conf.yml"
[ "$OUTCOME" = ready ] || fail "config file: $(cat "$WORK/from-file.log")"
expect "$(txn_puts "http://127.0.0.1:$c" 2)" 'Error: etcdserver: too many operations in txn request'
grep -o "unknown key a-key-etcd-never-had, ignored" "$WORK/from-file.log"
stop from-file
out=$("$ETCD_BIN" --config-file "$WORK/etcd.conf.yml" --name other 2>&1; echo "exit $?")
expect "$out" "etcd: --config-file $WORK/etcd.conf.yml was given with other flags (--name): put every setting in the file, or give no config file"$'\nexit 2'

echo
echo "# --config-file values of the wrong kind: refused in etcd 3.4's words (its JSON decoding's)."
bad_values=(
    'snapshot-count: abc' 'snapshot-count: 1.5' 'snapshot-count: -3' 'name: 123' 'pre-vote: maybe' "pre-vote: 'true'"
    'grpc-keepalive-interval: 5s' 'listen-client-urls: [http://127.0.0.1:1]' 'log-outputs: stderr' 'max-concurrent-streams: 5000000000'
    'client-transport-security: 5' $'client-transport-security:\n  cert-file: 5' $'peer-transport-security:\n  client-cert-auth: maybe'
    'proxy-dial-timeout: soon'
)
for value in "${bad_values[@]}"; do
    printf '%s\n' "$value" >"$WORK/bad.yml"
    ours=$("$ETCD_BIN" --config-file "$WORK/bad.yml" 2>&1 | grep -o "json: .*" | head -1 || true)
    theirs=$(/usr/bin/etcd --config-file "$WORK/bad.yml" 2>&1 | grep -o "json: .*" | head -1 || true)
    [ -n "$theirs" ] || fail "etcd 3.4 took '$value'"
    expect "$ours" "$theirs"
done
echo "deployment: all checks passed"
