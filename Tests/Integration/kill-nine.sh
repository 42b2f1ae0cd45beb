#!/usr/bin/env bash
# Nothing acknowledged is lost: four v1 writers (curl) and a v3 writer (etcdctl) put keys into a
# 3-machine cluster while machines, the leader included, are killed with SIGKILL and restarted;
# afterwards every acknowledged write must be on every machine with its value, and the machines'
# stores (v1 and v3) must be identical. The v3 store holds about 100 MB before the chaos starts,
# and snapshots come every 50 entries with 200 kept behind them, so restarts reopen a real file and
# a member that fell behind is sent a copy of it (and may be killed while installing it).
#   Tests/Integration/kill-nine.sh [seconds of chaos, default 20]
source "$(dirname "$0")/../../Walkthroughs/lib.sh"
CHAOS=${1:-20}

declare -A CLIENT PEER
for n in 1 2 3; do CLIENT[$n]=$(free_port); PEER[$n]=$(free_port); done
start_node() {
    local join=()
    [ "$1" = 1 ] || join=(-C "127.0.0.1:${PEER[1]}")
    start_etcd "node$1" -s "${PEER[$1]}" -c "${CLIENT[$1]}" -d "$WORK/node$1" "${join[@]}" \
        -snapshot-count 50 --experimental-snapshot-catchup-entries 200
}
for n in 1 2 3; do start_node $n; done
if command -v etcdctl >/dev/null; then
    # About 100 MB of values, 1 MB each (etcd's request limit is 1.5 MiB).
    head -c 750000 /dev/urandom | base64 -w0 >"$WORK/big"
    for i in $(seq 100); do
        ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:${CLIENT[1]}" --command-timeout=20s put "big/$i" <"$WORK/big" >/dev/null
    done
    echo "v3 store before the chaos: $(du -sm "$WORK/node1/snap/db" | cut -f1) MB on node1"
fi

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
# The v3 writer: etcdctl put through a random machine (a follower forwards the proposal).
v3writer() {
    local i=0
    while [ ! -e "$WORK/stop" ]; do
        i=$((i + 1))
        local n=$((RANDOM % 3 + 1))
        if [ "$(ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:${CLIENT[$n]}" --dial-timeout=1s --command-timeout=3s put "v3/k$i" "v$i" 2>/dev/null)" = OK ]; then
            echo "v3/k$i v$i" >>"$WORK/acked3"
        fi
    done
}
WRITERS=()
for w in 1 2 3 4; do writer $w & WRITERS+=($!); done
# The maintainer: rewrites a big value, compacts and defragments a random machine, again and
# again, so that kills also land in the middle of a compaction's batches and of a defrag.
maintainer() {
    while [ ! -e "$WORK/stop" ]; do
        local n=$((RANDOM % 3 + 1)) revision
        local ctl=(etcdctl --endpoints="127.0.0.1:${CLIENT[$n]}" --dial-timeout=1s --command-timeout=10s)
        ETCDCTL_API=3 "${ctl[@]}" put "big/$((RANDOM % 100 + 1))" <"$WORK/big" >/dev/null 2>&1 || true
        revision=$(ETCDCTL_API=3 "${ctl[@]}" get big/1 -w json 2>/dev/null | sed -E 's/.*"revision":([0-9]+).*/\1/') || true
        if [[ "$revision" =~ ^[0-9]+$ ]]; then ETCDCTL_API=3 "${ctl[@]}" compact $((revision - 2)) >/dev/null 2>&1 || true; fi
        ETCDCTL_API=3 "${ctl[@]}" defrag >/dev/null 2>&1 || true
        sleep 0.3
    done
}
if command -v etcdctl >/dev/null; then
    v3writer & WRITERS+=($!)
    maintainer & WRITERS+=($!)
fi
# Stopped by the trap too: a run that fails early removes $WORK, and with it their stop file.
STARTED_PIDS+=("${WRITERS[@]}")

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
echo "every acknowledged v1 write is on every machine, and the three v1 stores are identical"

if [ -e "$WORK/acked3" ]; then
    echo "acknowledged v3 writes: $(wc -l <"$WORK/acked3")"
    # Each machine's own view (serializable reads), once they agree.
    v3listing() { ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:${CLIENT[$1]}" --command-timeout=3s get v3/ --prefix --consistency=s -w json \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["header"]["revision"]); [print(k["key"], k["value"], k["mod_revision"]) for k in d.get("kvs",[])]'; }
    v3converged() {
        local first="" listing
        for n in 1 2 3; do
            listing=$(v3listing $n) || return 1
            [ -z "$first" ] && first=$listing
            [ "$listing" = "$first" ] || return 1
        done
    }
    until_true 20 v3converged
    for n in 1 2 3; do
        ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:${CLIENT[$n]}" get v3/ --prefix --consistency=s | paste - - | sort >"$WORK/found3.$n"
        sort -u "$WORK/acked3" | tr ' ' '\t' >"$WORK/expected3"
        missing=$(comm -23 "$WORK/expected3" "$WORK/found3.$n")
        [ -z "$missing" ] || { echo "LOST v3 writes on node$n:" >&2; echo "$missing" | head >&2; exit 1; }
    done
    echo "every acknowledged v3 write is on every machine, and the three v3 stores are identical (keys, values, revisions)"
fi
