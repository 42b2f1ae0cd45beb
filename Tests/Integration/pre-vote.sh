#!/usr/bin/env bash
# --pre-vote on a real cluster: a follower cut off from the others (every Raft message both ways
# dropped, through the live view's lab control) campaigns alone; when the cut heals, with
# pre-vote (the default here) it has asked first and never raised its term, so the leader keeps
# leading in the same term; with --pre-vote=false its higher term deposes the leader (Raft thesis
# §9.6, the reason etcd 3.5 turned pre-vote on).
#
#   Tests/Integration/pre-vote.sh          (ETCD_BIN names the binary; default .build/debug/etcd)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ETCD_BIN=${ETCD_BIN:-$ROOT/.build/debug/etcd}
export -n ETCD_BIN
WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
checks=0
ok() { checks=$((checks + 1)); echo "ok $checks - $*"; }
fail() { echo "not ok - $*"; tail -5 "$WORK"/*.log; exit 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The view's JSON for member $1 (a client port): "name role term" per member.
roles() {
    curl -s "http://127.0.0.1:$1/debug/raft/state" | python3 -c '
import json, sys
for m in json.load(sys.stdin)["members"]:
    if not m.get("unreachable"): print(m["name"], m["role"], m["term"])'
}
until_true() {
    local seconds=$1; shift
    local deadline=$((SECONDS + seconds))
    until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.1; done
}

run() {
    local prevote=$1 names=(p1 p2 p3) clients=() peers=() cluster="" i
    for i in 0 1 2; do clients+=("$(port)"); peers+=("$(port)"); done
    for i in 0 1 2; do cluster+="${cluster:+,}${names[$i]}=http://127.0.0.1:${peers[$i]}"; done
    PIDS=()
    for i in 0 1 2; do
        "$ETCD_BIN" --name "${names[$i]}" --data-dir "$WORK/$prevote-${names[$i]}" --pre-vote="$prevote" \
            --listen-client-urls "http://127.0.0.1:${clients[$i]}" --advertise-client-urls "http://127.0.0.1:${clients[$i]}" \
            --listen-peer-urls "http://127.0.0.1:${peers[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${peers[$i]}" \
            --initial-cluster "$cluster" --raft-lab-control http://127.0.0.1:1 >"$WORK/$prevote-${names[$i]}.log" 2>&1 &
        PIDS+=($!)
    done
    one_leader() { [ "$(roles "${clients[0]}" 2>/dev/null | grep -c ' leader ')" = 1 ] && [ "$(roles "${clients[0]}" | wc -l)" = 3 ]; }
    until_true 30 one_leader || fail "no leader"
    local leader term follower follower_port
    read -r leader _ term < <(roles "${clients[0]}" | awk '$2 == "leader"')
    follower=$(roles "${clients[0]}" | awk '$2 == "follower" { print $1; exit }')
    for i in 0 1 2; do [ "${names[$i]}" = "$follower" ] && follower_port=${clients[$i]}; done
    local others
    others=$(printf '%s\n' "${names[@]}" | grep -v "^$follower\$" | paste -sd,)
    curl -s -X POST "http://127.0.0.1:$follower_port/debug/raft/cut?from=$others" >/dev/null
    # Cut off, it campaigns: as a pre-candidate (its term stays) or a candidate (its term grows).
    campaigning() {
        local state; state=$(roles "$follower_port" | awk -v f="$follower" '$1 == f { print $2, $3 }')
        if [ "$prevote" = true ]; then [ "${state% *}" = pre-candidate ]; else [ "${state% *}" = candidate ] && [ "${state#* }" -gt $((term + 1)) ]; fi
    }
    until_true 15 campaigning || fail "the cut-off follower $follower never campaigned (pre-vote $prevote)"
    curl -s -X POST "http://127.0.0.1:$follower_port/debug/raft/heal" >/dev/null
    settled() { [ "$(roles "$follower_port" | awk '$2 == "leader"' | wc -l)" = 1 ] && [ "$(roles "$follower_port" | awk '{ print $3 }' | sort -u | wc -l)" = 1 ]; }
    until_true 15 settled || fail "the cluster did not settle after the heal"
    local after_leader after_term
    read -r after_leader _ after_term < <(roles "$follower_port" | awk '$2 == "leader"')
    if [ "$prevote" = true ]; then
        [ "$after_leader" = "$leader" ] && [ "$after_term" = "$term" ] || fail "with pre-vote, $leader (term $term) was deposed: $after_leader leads in term $after_term"
        ok "--pre-vote=true: $follower cut off stayed a pre-candidate; healed, $leader still leads in term $term"
    else
        [ "$after_term" -gt "$term" ] || fail "without pre-vote, the term stayed $term"
        ok "--pre-vote=false: $follower cut off ran up its term; healed, it forced an election: term $term -> $after_term ($after_leader leads)"
    fi
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
run true
run false
echo "1..$checks"
