#!/usr/bin/env bash
# README "Now watch it": `etcd lab` starts three members with the live Raft view; the lab's
# controls kill the leader and restart it, and cut a member off and heal it, while the view's
# JSON (what the page draws) shows a new leader, a member falling behind, and the logs agreeing
# again. Tests/Browser/raft-lab.py does the same through the page itself, in Chromium.
source "$(dirname "$0")/lib.sh"

# Six ports in a row for the members (client, peer each), and one for the lab's controls.
BASE=$(python3 -c '
import random, socket
for _ in range(200):
    base = random.randrange(20000, 60000)
    try:
        held = []
        for port in range(base, base + 7):
            s = socket.socket(); s.bind(("127.0.0.1", port)); held.append(s)
        print(base); break
    except OSError:
        pass
    finally:
        for s in held: s.close()')
CONTROL=$((BASE + 6))
normalize() {
    sed "s/:$CONTROL\b/:2378/g; s/:$BASE\b/:2379/g; s/:$((BASE + 1))\b/:2380/g; s/:$((BASE + 2))\b/:2381/g; s/:$((BASE + 3))\b/:2382/g;
         s/:$((BASE + 4))\b/:2383/g; s/:$((BASE + 5))\b/:2384/g; s#$WORK/lab#/tmp/etcd-lab-N#g"
}
# The members other than $1, comma-separated.
others_than() { local m out=(); for m in infra1 infra2 infra3; do [ "$m" = "$1" ] || out+=("$m"); done; (IFS=,; echo "${out[*]}"); }

echo '$ etcd lab'
"$ETCD_BIN" lab --base-port "$BASE" --control-port "$CONTROL" --data-dir "$WORK/lab" >"$WORK/lab.out" 2>&1 &
LAB=$!
STARTED_PIDS+=($LAB)
# The view's JSON, one line per member: name, role, term, last index, what it is cut off from.
roles() {
    curl -s "http://127.0.0.1:$1/debug/raft/state" | python3 -c '
import json, sys
for m in json.load(sys.stdin)["members"]:
    if m.get("unreachable"):
        print(m["name"], "unreachable")
    else:
        print(m["name"], m["role"], "term", m["term"], "last", m["lastIndex"], *(["cut off from " + ",".join(m["cutOff"])] if m["cutOff"] else []))'
}
leader_of() { roles "$1" | awk '$2 == "leader" { print $1 }'; }
one_leader() { [ "$(roles "$BASE" 2>/dev/null | grep -c ' leader ')" = 1 ]; }
until_true 30 one_leader
sed -n 1,6p "$WORK/lab.out" | normalize
grep -q 'the live view: http' "$WORK/lab.out"

echo '# Open http://127.0.0.1:2379/debug/raft in a browser: every member serves the page. The same'
echo '# state as JSON (one object per member; the leader is whoever won the first election):'
echo '$ curl -s http://127.0.0.1:2379/debug/raft/state'
roles "$BASE"
LEADER=$(leader_of "$BASE")
port_of() { case $1 in infra1) echo "$BASE" ;; infra2) echo $((BASE + 2)) ;; infra3) echo $((BASE + 4)) ;; esac; }
ANOTHER=$(others_than "$LEADER" | cut -d, -f1)

echo "# Kill the leader ($LEADER) as the page's kill -9 button does; another member takes over."
echo "\$ curl -X POST http://127.0.0.1:2378/members/$LEADER/kill"
killed=$(curl -s -X POST "http://127.0.0.1:$CONTROL/members/$LEADER/kill")
expect "$(echo "$killed" | python3 -c 'import json,sys; m=json.load(sys.stdin)["member"]; print(m["name"], m["state"])')" "$LEADER killed"
new_leader() { local l; l=$(leader_of "$(port_of "$ANOTHER")"); [ -n "$l" ] && [ "$l" != "$LEADER" ]; }
until_true 5 new_leader
roles "$(port_of "$ANOTHER")"
expect "$(roles "$(port_of "$ANOTHER")" | grep "^$LEADER ")" "$LEADER unreachable"

echo "\$ curl -X POST http://127.0.0.1:2378/members/$LEADER/restart"
curl -s -X POST "http://127.0.0.1:$CONTROL/members/$LEADER/restart" >/dev/null
back() { roles "$(port_of "$ANOTHER")" | grep -q "^$LEADER follower"; }
until_true 20 back

# A follower now, to cut off (the new leader may be the member asked so far).
ANOTHER=$(roles "$BASE" | awk '$2 == "follower" { print $1; exit }')
echo "# Cut $ANOTHER off from the others (its Raft messages both ways are dropped), write, heal."
OTHERS=$(others_than "$ANOTHER")
echo "\$ curl -X POST 'http://127.0.0.1:$(port_of "$ANOTHER")/debug/raft/cut?from=$OTHERS'" | normalize
expect "$(curl -s -X POST "http://127.0.0.1:$(port_of "$ANOTHER")/debug/raft/cut?from=$OTHERS")" "{\"cutOff\":[\"${OTHERS/,/\",\"}\"]}"
NOW_LEADER=$(leader_of "$BASE")
for i in 1 2 3; do curl -s "http://127.0.0.1:$(port_of "$NOW_LEADER")/v1/keys/lab/k$i" -d value=$i >/dev/null; done
last_of() { roles "$BASE" | awk -v m="$1" '$1 == m { print $6 }'; }
behind() { [ "$(last_of "$ANOTHER")" -le "$(( $(last_of "$NOW_LEADER") - 3 ))" ]; }
until_true 5 behind
roles "$BASE"
echo "\$ curl -X POST http://127.0.0.1:$(port_of "$ANOTHER")/debug/raft/heal" | normalize
expect "$(curl -s -X POST "http://127.0.0.1:$(port_of "$ANOTHER")/debug/raft/heal")" '{"cutOff":[]}'
agree() { [ "$(roles "$BASE" | awk '{ print $2 == "unreachable" ? "x" : $4 "/" $6 }' | sort -u | wc -l)" = 1 ]; }
until_true 10 agree
roles "$BASE"

echo '# A member started without the lab serves the view read-only (with --enable-raft-view), or not at all.'
C=$(free_port); P=$(free_port)
start_etcd plain --listen-client-urls "http://127.0.0.1:$C" --advertise-client-urls "http://127.0.0.1:$C" \
    --listen-peer-urls "http://127.0.0.1:$P" --initial-advertise-peer-urls "http://127.0.0.1:$P" \
    --initial-cluster "default=http://127.0.0.1:$P" --enable-raft-view
echo '$ curl -X POST http://127.0.0.1:2379/debug/raft/heal     # on a member the lab did not start'
expect "$(curl -s -X POST "http://127.0.0.1:$C/debug/raft/heal")" '{"error":"the lab controls are off: this member was not started by etcd lab"}'

kill -INT "$LAB"
wait "$LAB" || true
expect "$(tail -1 "$WORK/lab.out")" "etcd lab: stopping the members"
