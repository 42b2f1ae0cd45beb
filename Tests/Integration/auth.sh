#!/usr/bin/env bash
# v3 authentication through the real etcdctl 3.4, command by command beside the real etcd 3.4:
# users, roles, permissions on keys, ranges and prefixes, auth on and off, password changes,
# and etcd's errors, word for word once identities are masked. Then what etcd does not have to
# match: this server's deliberate differences, and auth state surviving restarts of a
# three-member cluster and a new member catching up from a snapshot.
#
#   Tests/Integration/auth.sh            (ETCD_BIN: our binary; etcd-server and etcd-client
#                                         installed by Scripts/test-all.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ETCD_BIN=${ETCD_BIN:-$ROOT/.build/debug/etcd}
export -n ETCD_BIN
REAL_ETCD=${REAL_ETCD:-/usr/bin/etcd}
export ETCDCTL_API=3
WORK=$(mktemp -d)
PIDS=()
# Members started inside $(...) record their PIDs in $WORK/*.pid: a subshell's PIDS+= is lost.
trap 'for p in "${PIDS[@]}" $(cat "$WORK"/*.pid 2>/dev/null); do kill -9 $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_ready() {  # URL [etcdctl options]
    local url=$1; shift
    for _ in $(seq 200); do etcdctl --endpoints="$url" "$@" --command-timeout=1s endpoint health >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "not ready: $url" >&2; exit 1
}
normalize() {
    { grep -v '^{"level":"warn"' || true; } | sed -E 's/"cluster_id":[0-9]+/"cluster_id":C/g; s/"member_id":[0-9]+/"member_id":M/g; s/"raft_term":[0-9]+/"raft_term":T/g;
            s/"target":"[^"]*"/"target":"<t>"/; s/"ts":"[^"]*"/"ts":"<ts>"/; s/[0-9a-f]{16}, [0-9]+/<member>, <hash>/'
}
fail() { echo "FAIL: $*" >&2; exit 1; }

OURS="http://127.0.0.1:$(free_port)"
"$ETCD_BIN" --name solo --data-dir "$WORK/ours" --listen-client-urls "$OURS" --advertise-client-urls "$OURS" \
    --listen-peer-urls "http://127.0.0.1:$(free_port)" --bcrypt-cost 4 >"$WORK/ours.log" 2>&1 &
PIDS+=($!)
wait_ready "$OURS"
REAL=""
if [ -x "$REAL_ETCD" ]; then
    REAL="http://127.0.0.1:$(free_port)"
    "$REAL_ETCD" --name solo --data-dir "$WORK/real" --listen-client-urls "$REAL" --advertise-client-urls "$REAL" \
        --listen-peer-urls "http://127.0.0.1:$(free_port)" --bcrypt-cost 4 >"$WORK/real.log" 2>&1 &
    PIDS+=($!)
    wait_ready "$REAL"
else
    echo "(no real etcd at $REAL_ETCD: running ours alone)"
fi
passed=0

# same ARGS...: `etcdctl ARGS` against both (stdin from $INPUT if set); the masked outputs and
# the exit statuses must agree.
same() {
    local ours real ours_status=0 real_status=0
    ours=$(etcdctl --endpoints="$OURS" "$@" < "${INPUT:-/dev/null}" 2>&1) || ours_status=$?
    ours=${ours//$OURS/<endpoint>}
    printf '$ etcdctl %s\n%s\n' "$*" "$ours"
    if [ -n "$REAL" ]; then
        real=$(etcdctl --endpoints="$REAL" "$@" < "${INPUT:-/dev/null}" 2>&1) || real_status=$?
        real=${real//$REAL/<endpoint>}
        if [ "$(normalize <<<"$ours")" != "$(normalize <<<"$real")" ] || [ $ours_status != $real_status ]; then
            printf 'MISMATCH (exit %s vs etcd %s)\n--- ours\n%s\n--- etcd 3.4\n%s\n' "$ours_status" "$real_status" "$ours" "$real" >&2
            exit 1
        fi
    fi
    passed=$((passed + 1))
}

# watched ARGS...: a watch on both for 1.5 s while a put lands in its range; outputs must match.
watched() {
    local ours real
    ours=$( (sleep 0.7; etcdctl --endpoints="$OURS" --user root:rootpw put /other/w 1 >/dev/null 2>&1) &
            timeout 1.5 etcdctl --endpoints="$OURS" watch "$@" 2>&1 || true)
    printf '$ etcdctl watch %s\n%s\n' "$*" "$ours"
    if [ -n "$REAL" ]; then
        real=$( (sleep 0.7; etcdctl --endpoints="$REAL" --user root:rootpw put /other/w 1 >/dev/null 2>&1) &
                timeout 1.5 etcdctl --endpoints="$REAL" watch "$@" 2>&1 || true)
        [ "$(normalize <<<"$ours")" = "$(normalize <<<"$real")" ] || {
            printf 'MISMATCH\n--- ours\n%s\n--- etcd 3.4\n%s\n' "$ours" "$real" >&2; exit 1; }
    fi
    passed=$((passed + 1))
}

alice=(--user alice:alicepw)
root=(--user root:rootpw)

echo "== users and roles, before auth is on"
same user add root:rootpw
same user add alice:alicepw
same user add carol --no-password
same user add alice:again
same role add app
same role add app
same role grant-permission app --prefix=true readwrite /app/
same role grant-permission app read /config
same role grant-permission app write /logs/a /logs/m
same role grant-permission app --from-key=true read /zzz
same role grant-permission app read /config
same role grant-permission nosuch read /x
same user grant-role alice app
same user grant-role alice nosuch
same user grant-role nobody app
same user get alice
same user get nobody
same role get app
same role get nosuch
same role list
same user list
same put /app/seed 0
same put /other/seed 0

echo "== enabling auth: etcdctl gives root the root role first"
same auth enable
same get /app/seed
same put /app/x 1
same "${root[@]}" user get root

echo "== credentials"
same --user alice:wrong get /app/seed
same --user nobody:pw get /app/seed
same --user carol:anything get /app/seed
same "${alice[@]}" put /app/x 1
same "${alice[@]}" get /app/x -w json
same "${alice[@]}" get /app/ --prefix
same "${root[@]}" get / --prefix --keys-only

echo "== a role limited to a prefix, a key and a range"
same "${alice[@]}" get /other/seed
same "${alice[@]}" get / --prefix
same "${alice[@]}" put /other/x 1
same "${alice[@]}" get /config
same "${alice[@]}" put /config 1
same "${alice[@]}" put /logs/b 1
same "${alice[@]}" put /logs/z 1
same "${alice[@]}" get /logs/b
same "${alice[@]}" get /zzz/anything
same "${alice[@]}" get /zzz --from-key
same "${alice[@]}" get /zz --from-key
same --user alice --password alicepw get /app/seed
same --user alice --password wrong get /app/seed
same "${alice[@]}" del /app/x --prev-kv
same "${alice[@]}" del /other/seed
printf 'value("/app/seed") = "0"\n\nput /app/t yes\n\nput /app/t no\n\n' > "$WORK/inside"
INPUT="$WORK/inside" same "${alice[@]}" txn -i
printf 'value("/app/seed") = "0"\n\nput /app/t yes\n\nput /other/t no\n\n' > "$WORK/both"
INPUT="$WORK/both" same "${alice[@]}" txn -i
printf 'value("/other/seed") = "0"\n\nput /app/t yes\n\n\n' > "$WORK/compare"
INPUT="$WORK/compare" same "${alice[@]}" txn -i
watched "${alice[@]}" /other/w
watched "${root[@]}" /other/w

echo "== what only root may do"
same "${alice[@]}" user list
same "${alice[@]}" user add mallory:pw
same "${alice[@]}" role grant-permission app readwrite /
same "${alice[@]}" user get alice
same "${alice[@]}" user get root
same "${alice[@]}" role get app
same "${alice[@]}" role get root
same "${alice[@]}" auth disable
same "${alice[@]}" defrag
same "${alice[@]}" endpoint hashkv
same "${root[@]}" role list
same "${root[@]}" user list

echo "== what auth management refuses while auth is on"
same "${root[@]}" user delete root
same "${root[@]}" role delete root
same "${root[@]}" user revoke-role root root
same "${root[@]}" user revoke-role alice nosuch
same "${root[@]}" role revoke-permission app /nothing
same "${root[@]}" user delete nobody
same "${root[@]}" role delete nosuch

echo "== a password change: the old one stops working"
echo newpw > "$WORK/newpw"
INPUT="$WORK/newpw" same "${root[@]}" user passwd alice --interactive=false
same "${alice[@]}" get /app/seed
same --user alice:newpw get /app/seed
alice=(--user alice:newpw)

echo "== revocations take effect at once"
same "${root[@]}" role revoke-permission app /config
same "${root[@]}" role revoke-permission app /logs/a /logs/m
same "${root[@]}" role revoke-permission app /zzz --from-key
same "${alice[@]}" get /config
same "${root[@]}" role get app
same "${root[@]}" user revoke-role alice app
same "${alice[@]}" get /app/seed
same "${root[@]}" user get alice

echo "== turning auth off"
same "${root[@]}" auth disable
same get /app/seed
same auth disable
same user delete alice
same role delete app
same user list
same role list

echo
echo "== over TLS with --client-cert-auth: a call without a token is its certificate's Common Name"
"$ROOT/Scripts/make-certs.sh" "$WORK" server client >/dev/null 2>&1
tls_flags() {  # URL
    echo --listen-client-urls "$1" --advertise-client-urls "$1" --listen-peer-urls "http://127.0.0.1:$(free_port)" \
        --cert-file "$WORK/server.pem" --key-file "$WORK/server-key.pem" --trusted-ca-file "$WORK/ca.pem" --client-cert-auth --bcrypt-cost 4
}
cert=(--cacert "$WORK/ca.pem" --cert "$WORK/client.pem" --key "$WORK/client-key.pem")
OURS_PLAIN=$OURS REAL_PLAIN=$REAL
OURS="https://127.0.0.1:$(free_port)"
# shellcheck disable=SC2046
"$ETCD_BIN" --name tls --data-dir "$WORK/ours-tls" $(tls_flags "$OURS") >"$WORK/ours-tls.log" 2>&1 &
PIDS+=($!)
wait_ready "$OURS" "${cert[@]}"
if [ -n "$REAL" ]; then
    REAL="https://127.0.0.1:$(free_port)"
    # shellcheck disable=SC2046
    "$REAL_ETCD" --name tls --data-dir "$WORK/real-tls" $(tls_flags "$REAL") >"$WORK/real-tls.log" 2>&1 &
    PIDS+=($!)
    wait_ready "$REAL" "${cert[@]}"
fi
same "${cert[@]}" user add root:rootpw
same "${cert[@]}" user add "etcd client" --no-password
same "${cert[@]}" role add tls
same "${cert[@]}" role grant-permission tls --prefix=true readwrite /tls/
same "${cert[@]}" user grant-role "etcd client" tls
same "${cert[@]}" auth enable
same "${cert[@]}" put /tls/a 1
same "${cert[@]}" get /tls/a
same "${cert[@]}" put /other 1
same "${cert[@]}" user list
same "${cert[@]}" "${root[@]}" put /other 1
same "${cert[@]}" "${root[@]}" auth disable
OURS=$OURS_PLAIN REAL=$REAL_PLAIN

echo
echo "== a token held across time (the PyPI etcd3 client, which logs in once): --auth-token-ttl 3"
VENV=$ROOT/.build/py-etcd3
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import etcd3' 2>/dev/null; then
    python3 -m venv "$VENV" 2>/dev/null || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"; }
    "$VENV/bin/pip" install -q 'etcd3==0.12.0' 'protobuf<4'
fi
ttl_member() {  # BINARY NAME: prints its URL once it serves, with erin allowed /team/ and auth on
    local url="http://127.0.0.1:$(free_port)"
    "$1" --name "$2" --data-dir "$WORK/$2" --listen-client-urls "$url" --advertise-client-urls "$url" \
        --listen-peer-urls "http://127.0.0.1:$(free_port)" --auth-token-ttl 3 --bcrypt-cost 4 >"$WORK/$2.log" 2>&1 &
    echo $! >"$WORK/$2.pid"
    wait_ready "$url"
    for command in "user add root:rootpw" "user add erin:erinpw" "role add team" "role grant-permission team --prefix=true readwrite /team/" \
        "user grant-role erin team" "auth enable"; do
        # shellcheck disable=SC2086
        etcdctl --endpoints="$url" $command >/dev/null 2>&1
    done
    etcdctl --endpoints="$url" --user erin:erinpw put /team/k1 v1 >/dev/null
    echo "$url"
}
url=$(ttl_member "$ETCD_BIN" ttl-ours)
ours_expiry=$("$VENV/bin/python" "$ROOT/Tests/Integration/auth-tokens.py" expiry "${url#http://}" 3)
echo "$ours_expiry"
if [ -n "$REAL" ]; then
    url=$(ttl_member "$REAL_ETCD" ttl-real)
    real_expiry=$("$VENV/bin/python" "$ROOT/Tests/Integration/auth-tokens.py" expiry "${url#http://}" 3)
    [ "$ours_expiry" = "$real_expiry" ] || fail "token expiry differs from etcd 3.4's: $real_expiry"
    echo "(identical to etcd 3.4's)"
fi
passed=$((passed + 3))

echo
echo "== ours alone: where this server is stricter than etcd 3.4, on purpose"
etcdctl --endpoints="$OURS" user add dave:davepw >/dev/null
etcdctl --endpoints="$OURS" role add r >/dev/null
etcdctl --endpoints="$OURS" role grant-permission r --prefix=true readwrite / >/dev/null
etcdctl --endpoints="$OURS" user grant-role dave r >/dev/null
etcdctl --endpoints="$OURS" "${root[@]}" auth enable >/dev/null
# etcd 3.4 lets any client, even one with no credentials, compact the store or change the membership.
out=$(etcdctl --endpoints="$OURS" --user dave:davepw compact 2 2>&1 || true)
[[ $out == *"etcdserver: permission denied"* ]] || fail "a compaction by a user without the root role: $out"
echo "compact by a non-root user: permission denied"
out=$(etcdctl --endpoints="$OURS" member add x --peer-urls=http://127.0.0.1:1 2>&1 || true)
[[ $out == *"etcdserver: user name is empty"* ]] || fail "a member add without credentials: $out"
echo "member add without credentials: user name is empty"
etcdctl --endpoints="$OURS" "${root[@]}" compact 2 >/dev/null && echo "compact by root: done"
passed=$((passed + 3))

echo
echo "== a three-member cluster of ours with JWT tokens: auth state through restarts and a snapshot"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/jwt.pem" 2>/dev/null
openssl pkey -in "$WORK/jwt.pem" -pubout -out "$WORK/jwt.pub.pem"
JWT="jwt,pub-key=$WORK/jwt.pub.pem,priv-key=$WORK/jwt.pem,sign-method=RS256,ttl=10m"
declare -a C P
CLUSTER=""
for n in 1 2 3; do C[$n]=$(free_port); P[$n]=$(free_port); CLUSTER+="${CLUSTER:+,}m$n=http://127.0.0.1:${P[$n]}"; done
start_member() {  # N [extra flags]
    local n=$1; shift
    "$ETCD_BIN" --name "m$n" --data-dir "$WORK/m$n" --initial-cluster "$CLUSTER" --initial-cluster-state "${STATE:-new}" \
        --listen-client-urls "http://127.0.0.1:${C[$n]}" --advertise-client-urls "http://127.0.0.1:${C[$n]}" \
        --listen-peer-urls "http://127.0.0.1:${P[$n]}" --initial-advertise-peer-urls "http://127.0.0.1:${P[$n]}" \
        --snapshot-count 20 --experimental-snapshot-catchup-entries 5 --bcrypt-cost 4 --auth-token "$JWT" "$@" >>"$WORK/m$n.log" 2>&1 &
    PIDS+=($!)
    eval "PID$n=$!"
}
for n in 1 2 3; do start_member $n; done
for n in 1 2 3; do wait_ready "http://127.0.0.1:${C[$n]}"; done
E1="http://127.0.0.1:${C[1]}"
etcdctl --endpoints="$E1" user add root:rootpw >/dev/null
etcdctl --endpoints="$E1" user add erin:erinpw >/dev/null
etcdctl --endpoints="$E1" role add team >/dev/null
etcdctl --endpoints="$E1" role grant-permission team --prefix=true readwrite /team/ >/dev/null
etcdctl --endpoints="$E1" user grant-role erin team >/dev/null
etcdctl --endpoints="$E1" auth enable >/dev/null
# Enough writes for several snapshots, so a new member must take one.
for i in $(seq 60); do etcdctl --endpoints="$E1" --user erin:erinpw put "/team/k$i" "v$i" >/dev/null; done
for n in 1 2 3; do
    out=$(etcdctl --endpoints="http://127.0.0.1:${C[$n]}" --user erin:erinpw get /team/k60 --print-value-only)
    [ "$out" = v60 ] || fail "member $n: erin reads /team/k60: $out"
done
echo "every member honours erin's credentials"
"$VENV/bin/python" "$ROOT/Tests/Integration/auth-tokens.py" across "127.0.0.1:${C[1]}" "127.0.0.1:${C[2]}" "127.0.0.1:${C[3]}"
passed=$((passed + 7))
for n in 1 2 3; do eval "kill \$PID$n"; done
wait "$PID1" "$PID2" "$PID3" 2>/dev/null || true
for n in 1 2 3; do start_member $n; done
for n in 1 2 3; do
    url="http://127.0.0.1:${C[$n]}"
    for _ in $(seq 200); do etcdctl --endpoints="$url" --user erin:erinpw --command-timeout=1s get /team/k1 >/dev/null 2>&1 && break; sleep 0.05; done
    out=$(etcdctl --endpoints="$url" get /team/k1 2>&1 || true)
    [[ $out == *"user name is empty"* ]] || fail "member $n after a restart: auth is off? $out"
    out=$(etcdctl --endpoints="$url" --user erin:erinpw get /other 2>&1 || true)
    [[ $out == *"permission denied"* ]] || fail "member $n after a restart: erin's role forgot its limits: $out"
done
echo "after a restart of every member: auth still on, erin still limited to /team/"
C[4]=$(free_port); P[4]=$(free_port)
etcdctl --endpoints="$E1" --user root:rootpw member add m4 --peer-urls="http://127.0.0.1:${P[4]}" >/dev/null
CLUSTER+=",m4=http://127.0.0.1:${P[4]}"
STATE=existing start_member 4
wait_ready "http://127.0.0.1:${C[4]}" --user erin:erinpw
grep -q "restored the store from a snapshot" "$WORK/m4.log" || fail "the new member did not catch up from a snapshot: $(tail -5 "$WORK/m4.log")"
out=$(etcdctl --endpoints="http://127.0.0.1:${C[4]}" --user erin:erinpw get /team/k60 --print-value-only)
[ "$out" = v60 ] || fail "the new member: erin reads /team/k60: $out"
out=$(etcdctl --endpoints="http://127.0.0.1:${C[4]}" --user erin:wrong get /team/k60 2>&1 || true)
[[ $out == *"authentication failed"* ]] || fail "the new member took a wrong password: $out"
echo "a member added later (caught up by snapshot) knows the users, roles and passwords"
passed=$((passed + 4))

echo
echo "auth suite: $passed checks passed"
