#!/usr/bin/env bash
# Nothing acknowledged is lost: four writers put keys into a 3-machine cluster while machines,
# the leader included, are killed with SIGKILL and restarted; afterwards every acknowledged write
# must be on every machine with its value, and the machines' stores must be identical.
#   Tests/Integration/kill-nine.sh [seconds of chaos, default 20]
source "$(dirname "$0")/../../Walkthroughs/lib.sh"
CHAOS=${1:-20}

declare -A CLIENT PEER
for n in 1 2 3; do CLIENT[$n]=$(free_port); PEER[$n]=$(free_port); done
start_node() {
    local join=()
    [ "$1" = 1 ] || join=(-C "127.0.0.1:${PEER[1]}")
    start_etcd "node$1" -s "${PEER[$1]}" -c "${CLIENT[$1]}" -d "$WORK/node$1" "${join[@]}"
}
for n in 1 2 3; do start_node $n; done

# writer W: puts w<W>-<i> = v<i> through a random machine (curl -L follows redirects to the
# leader) and records the keys whose SET was acknowledged.
writer() {
    local w=$1 i=0
    while [ ! -e "$WORK/stop" ]; do
        i=$((i + 1))
        local n=$((RANDOM % 3 + 1))
        if curl -sL -m 3 "http://127.0.0.1:${CLIENT[$n]}/v1/keys/w$w-$i" -d "value=v$i" 2>/dev/null | grep -q '"action":"SET"'; then
            echo "w$w-$i v$i" >>"$WORK/acked.$w"
        fi
    done
}
WRITERS=()
for w in 1 2 3 4; do writer $w & WRITERS+=($!); done

deadline=$((SECONDS + CHAOS))
kills=0
while [ $SECONDS -lt $deadline ]; do
    sleep 1.5
    leader_url=$(curl -s -m 1 "http://127.0.0.1:${CLIENT[1]}/leader" || true)
    victim=$((RANDOM % 3 + 1))
    # Every other kill goes to the leader, when it is known.
    if [ $((kills % 2)) = 0 ]; then
        for n in 1 2 3; do [ "$leader_url" = "http://127.0.0.1:${PEER[$n]}" ] && victim=$n; done
    fi
    kill_etcd "node$victim"
    kills=$((kills + 1))
    sleep 0.7
    start_node "$victim"
done
touch "$WORK/stop"
# Each writer finishes its last request (bounded by curl -m 3) and exits.
for pid in "${WRITERS[@]}"; do wait "$pid"; done

acked=$(cat "$WORK"/acked.* 2>/dev/null | wc -l)
echo "kills: $kills, acknowledged writes: $acked"
[ "$acked" -gt 50 ] || { echo "too few acknowledged writes to mean anything" >&2; exit 1; }

# Let every machine catch up, then compare.
converged() {
    local first="" listing
    for n in 1 2 3; do
        listing=$(curl -s -m 2 "http://127.0.0.1:${CLIENT[$n]}/v1/keys/") || return 1
        [ -z "$first" ] && first=$listing
        [ "$listing" = "$first" ] || return 1
    done
}
until_true 20 converged
# Every acknowledged key with its value, checked against each machine's listing at once.
cat "$WORK"/acked.* | while read -r key value; do printf '"key":"/%s","value":"%s"\n' "$key" "$value"; done | sort -u >"$WORK/expected"
for n in 1 2 3; do
    curl -s "http://127.0.0.1:${CLIENT[$n]}/v1/keys/" | grep -o -F -f "$WORK/expected" | sort -u >"$WORK/found.$n"
    if ! cmp -s "$WORK/expected" "$WORK/found.$n"; then
        echo "LOST on node$n:" >&2
        comm -23 "$WORK/expected" "$WORK/found.$n" | head >&2
        exit 1
    fi
done
echo "every acknowledged write is on every machine, and the three stores are identical"
