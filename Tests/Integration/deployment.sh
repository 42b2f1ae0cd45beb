#!/usr/bin/env bash
# The daemon as real deployments start it: with any flag of etcd 3.4.23's `etcd --help` (on the
# command line or as ETCD_* variables), a config file, systemd's readiness protocol, probes, and
# the flags this server implements, each checked through etcdctl, curl or a socket. Recovery,
# corruption checks and TLS are in deployment-recovery-tls.sh.
#
#   Tests/Integration/deployment.sh      (ETCD_BIN: our binary; REAL_ETCD: etcd 3.4, whose
#                                         --help lists the flags to check)
source "$(dirname "$0")/deployment-lib.sh"

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
