#!/usr/bin/env bash
# Disk faults under a real member, through an LD_PRELOAD shim (faults.c):
#
# 1. Short writes: every write to disk goes half through (the kernel may do that; every caller
#    must loop). The member writes keys through snapshots, a compaction, a defragmentation and a
#    backup; killed with kill -9 and started without the shim, it holds every acknowledged key,
#    with the same hash.
# 2. Failing syncs, at chosen moments (while writes run, in the middle of a snapshot, a
#    compaction and a defragmentation): from the moment a trigger file appears, every fsync and
#    fdatasync fails with EIO. The member must stop with an error naming what it could not sync,
#    having acknowledged nothing it did not sync; started again without the shim, it serves
#    every acknowledged key.
#
# 3. Power cuts, in the middle of writes, a compaction and a defragmentation: the member is
#    killed and every write it made to a file since that file's last sync is undone, and every
#    file or directory created, renamed or removed in its data directory since that directory's
#    last sync is undone: a new name lost, a removed file back (powercut.py, from the shim's
#    undo journal; its own tests first); started again, it
#    serves every acknowledged key, or refuses to start naming the damaged file.
#
# 4. kill -9 at chosen points: just before the Nth write to the backend file once a batch's
#    commit, a compaction or a defragmentation begins; restarted, every acknowledged key.
#
# 5. kill -9 of `etcd snapshot restore` before each of its writes, and a power cut there (what it
#    had not synced undone): the member refuses to start on the unfinished restore, naming it;
#    run again, the restore makes a member with every key.
#
#   Tests/DiskFaults/run.sh          (ETCD_BIN names the binary; default .build/debug/etcd)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ETCD_BIN=${ETCD_BIN:-$ROOT/.build/debug/etcd}
export -n ETCD_BIN
(cd "$ROOT/Tests/DiskFaults" && python3 -m unittest -q test_powercut)
WORK=$(mktemp -d)
MEMBER=0
cleanup() { [ "$MEMBER" = 0 ] || kill -9 "$MEMBER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
checks=0
ok() { checks=$((checks + 1)); echo "ok $checks - $*"; }
fail() { echo "not ok - $*"; echo "--- member log:"; tail -20 "$WORK/member.log"; exit 1; }

# The shim, built with the C compiler beside swift (every machine that builds this has one).
CC=$(command -v clang || true)
[ -n "$CC" ] || CC=$(dirname "$(readlink -f "$(command -v swift)")")/clang
"$CC" -shared -fPIC -O2 -o "$WORK/faults.so" "$ROOT/Tests/DiskFaults/faults.c" -ldl -lpthread

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PEER=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ctl() { ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$PORT" --command-timeout=3s "$@"; }

# start [ENV=VALUE...]: the member on $DATA ($WORK/data), with the given environment (the shim's).
DATA=$WORK/data
start() {
    env "$@" "$ETCD_BIN" --name default --data-dir "$DATA" --snapshot-count 40 \
        --listen-client-urls "http://127.0.0.1:$PORT" --advertise-client-urls "http://127.0.0.1:$PORT" \
        --listen-peer-urls "http://127.0.0.1:$PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PEER" \
        --initial-cluster "default=http://127.0.0.1:$PEER" >>"$WORK/member.log" 2>&1 &
    MEMBER=$!
    for _ in $(seq 100); do
        kill -0 "$MEMBER" 2>/dev/null || fail "the member exited while starting"
        ctl endpoint health >/dev/null 2>&1 && kill -0 "$MEMBER" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "the member did not become healthy"
}

# Every key in $WORK/acked must be there with its value.
check_acked() {
    # One read of every key (keys and values alternate, one per line), compared in one pass.
    ctl get k --prefix >"$WORK/stored" || return 1
    python3 - "$WORK/acked" "$WORK/stored" <<'PY'
import sys
acked = [line.split(" ", 1) for line in open(sys.argv[1]).read().splitlines() if line]
lines = open(sys.argv[2]).read().splitlines()
stored = dict(zip(lines[0::2], lines[1::2]))
missing = [key for key, value in acked if stored.get(key) != value]
for key in missing[:10]:
    print("missing or wrong:", key)
sys.exit(1 if missing else 0)
PY
}

echo "== short writes"
: >"$WORK/acked"
start LD_PRELOAD="$WORK/faults.so" FAULT_SHORT_WRITES=1 FAULT_LOG="$WORK/short.log"
for i in $(seq 1 150); do ctl put "k$i" "v$i" >/dev/null && echo "k$i v$i" >>"$WORK/acked"; done
ctl compact "$(ctl get k1 -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"] - 20)')" >/dev/null
ctl defrag >/dev/null
ctl snapshot save "$WORK/backup.db" >/dev/null
cp "$WORK/acked" "$WORK/backup-acked"
for i in $(seq 151 200); do ctl put "k$i" "v$i" >/dev/null && echo "k$i v$i" >>"$WORK/acked"; done
[ "$(wc -l <"$WORK/short.log")" -gt 100 ] || fail "the shim shortened too few writes to mean anything"
ok "$(wc -l <"$WORK/short.log") writes came up short; 200 puts, snapshots, a compaction, a defrag and a backup went through"
hash_before=$(ctl endpoint hashkv -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["HashKV"]["hash"])')
kill -9 "$MEMBER"; wait "$MEMBER" 2>/dev/null || true
start
check_acked || fail "keys lost after short writes and kill -9"
hash_after=$(ctl endpoint hashkv -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["HashKV"]["hash"])')
[ "$hash_before" = "$hash_after" ] || fail "HashKV $hash_before before kill -9, $hash_after after restart"
ok "after kill -9 and a restart without the shim, all 200 keys and the same HashKV"
kill "$MEMBER"; wait "$MEMBER" 2>/dev/null || true

# sync_fails WHEN: syncs start failing at WHEN (writes, snapshot, compact, defrag) while keys are
# written; the member must stop with the reason, and every acknowledged key survive a restart.
sync_fails() {
    local when=$1 trigger="$WORK/trigger-$1" base=$2 i
    : >"$WORK/member.log"
    start LD_PRELOAD="$WORK/faults.so" FAULT_SYNC_FAILS_AFTER="$trigger" FAULT_LOG="$WORK/sync-$when.log"
    for i in $(seq "$base" $((base + 25))); do ctl put "k$i" "v$i" >/dev/null && echo "k$i v$i" >>"$WORK/acked"; done
    case $when in
        writes) touch "$trigger" ;;
        compact) touch "$trigger"; ctl compact "$(ctl get "k$base" -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')" >/dev/null 2>&1 || true ;;
        defrag) touch "$trigger"; ctl defrag >/dev/null 2>&1 || true ;;
    esac
    for i in $(seq $((base + 26)) $((base + 80))); do
        if ctl put "k$i" "v$i" >/dev/null 2>&1; then echo "k$i v$i" >>"$WORK/acked"; else break; fi
    done
    for _ in $(seq 50); do kill -0 "$MEMBER" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$MEMBER" 2>/dev/null || fail "with failing syncs ($when), the member is still running"
    local status=0; wait "$MEMBER" || status=$?
    [ "$status" != 0 ] || fail "the member exited 0 with failing syncs"
    grep -qE "cannot persist|cannot record a change|cannot save" "$WORK/member.log" || fail "no log line saying what could not be synced"
    [ -s "$WORK/sync-$when.log" ] || fail "the shim failed no sync"
    ok "syncs failing ($when): the member stopped (status $status): $(grep -oE "(cannot persist|cannot record a change|cannot save)[^\"]*" "$WORK/member.log" | head -1 | cut -c1-90)"
    MEMBER=0
    start
    check_acked || fail "an acknowledged key is missing after failing syncs ($when)"
    ok "restarted without the shim, every acknowledged key is there ($(wc -l <"$WORK/acked") so far)"
    kill "$MEMBER"; wait "$MEMBER" 2>/dev/null || true
}
echo "== failing syncs"
sync_fails writes 1000
sync_fails compact 3000
sync_fails defrag 4000

# Only the snapshot files' syncs fail (the WAL's go through): every snapshot fails to save. The
# member may carry on (the log still holds everything, and must not be cut behind a snapshot
# that was never saved) or stop; either way nothing acknowledged may be lost.
echo "== failing snapshot syncs"
: >"$WORK/member.log"
touch "$WORK/trigger-snap"
start LD_PRELOAD="$WORK/faults.so" FAULT_SYNC_FAILS_AFTER="$WORK/trigger-snap" FAULT_SYNC_ONLY=.snap FAULT_LOG="$WORK/sync-snap.log"
for i in $(seq 5000 5120); do ctl put "k$i" "v$i" >/dev/null 2>&1 && echo "k$i v$i" >>"$WORK/acked" || break; done
[ -s "$WORK/sync-snap.log" ] || fail "no snapshot sync was failed"
grep -q "cannot save a snapshot" "$WORK/member.log" || fail "no log line about the snapshot that could not be saved"
ok "every snapshot's sync failed ($(wc -l <"$WORK/sync-snap.log") syncs): logged, $(kill -0 "$MEMBER" 2>/dev/null && echo "the member serving on" || echo "the member stopped")"
kill -9 "$MEMBER" 2>/dev/null || true; wait "$MEMBER" 2>/dev/null || true
MEMBER=0
start
check_acked || fail "an acknowledged key is missing after snapshots failed to save"
ok "after kill -9 and a restart, every acknowledged key is there ($(wc -l <"$WORK/acked"))"
kill "$MEMBER"; wait "$MEMBER" 2>/dev/null || true
MEMBER=0
# power_cut WHEN BASE: keys written (and WHEN: a compaction or a defragmentation running) while
# the shim journals every write; then kill -9, the unsynced writes undone, and a restart.
power_cut() {
    local when=$1 base=$2 i
    rm -f "$WORK/undo" "$WORK"/undo.unlinked.*
    : >"$WORK/member.log"
    start LD_PRELOAD="$WORK/faults.so" FAULT_UNDO_JOURNAL="$WORK/undo" FAULT_DIR_OPS_UNDER="$WORK/data"
    for i in $(seq "$base" $((base + 30))); do ctl put "k$i" "v$i" >/dev/null && echo "k$i v$i" >>"$WORK/acked"; done
    # Writes keep coming while the power goes: in the middle of a put, or of the compaction or
    # defragmentation started a moment before.
    ( for i in $(seq $((base + 31)) $((base + 400))); do ctl put "k$i" "v$i" >/dev/null 2>&1 && echo "k$i v$i" >>"$WORK/acked"; done ) &
    local writer=$!
    sleep "0.$((RANDOM % 5 + 3))"
    case $when in
        compact) ctl compact "$(ctl get "k$base" -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"] + 20)')" >/dev/null 2>&1 & ;;
        defrag) ctl defrag >/dev/null 2>&1 & ;;
    esac
    sleep "0.0$((RANDOM % 9 + 1))"
    kill -9 "$MEMBER"; wait "$MEMBER" 2>/dev/null || true
    MEMBER=0
    # The writer's put in flight fails (not acknowledged); no more are tried.
    pkill -P "$writer" 2>/dev/null || true
    kill "$writer" 2>/dev/null || true
    wait 2>/dev/null || true
    local undone; undone=$(python3 "$ROOT/Tests/DiskFaults/powercut.py" "$WORK/undo")
    echo "  $undone"
    : >"$WORK/member.log"
    env "$ETCD_BIN" --name default --data-dir "$WORK/data" --snapshot-count 40 \
        --listen-client-urls "http://127.0.0.1:$PORT" --advertise-client-urls "http://127.0.0.1:$PORT" \
        --listen-peer-urls "http://127.0.0.1:$PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PEER" \
        --initial-cluster "default=http://127.0.0.1:$PEER" >>"$WORK/member.log" 2>&1 &
    MEMBER=$!
    local up=no
    for _ in $(seq 100); do
        if ctl endpoint health >/dev/null 2>&1; then up=yes; break; fi
        kill -0 "$MEMBER" 2>/dev/null || break
        sleep 0.1
    done
    if [ $up = no ]; then
        # Refusing is allowed only with a reason that names the damaged file.
        grep -qE "corrupt|damaged|cannot" "$WORK/member.log" || fail "after a power cut ($when) the member neither served nor said why"
        ok "after a power cut ($when) the member refused to start: $(grep -oE "(corrupt|damaged|cannot)[^\"]*" "$WORK/member.log" | head -1 | cut -c1-100)"
        fail "a power cut ($when) left a member that cannot start"
    fi
    check_acked || fail "an acknowledged key is missing after a power cut ($when)"
    ok "power cut ($when; ${undone#power cut: }): restarted with every acknowledged key ($(wc -l <"$WORK/acked"))"
    kill "$MEMBER"; wait "$MEMBER" 2>/dev/null || true
    MEMBER=0
}
# kill_at WHEN N BASE: keys written, then the member killed just before its Nth write to the
# backend file (snap/db and its -wal) once WHEN begins: inside a batch's commit, a compaction's
# row deletions, or a defragmentation. Restarted without the shim, it must serve every
# acknowledged key.
kill_at() {
    local when=$1 n=$2 base=$3 arm="$WORK/arm-$1-$2" i
    local value; value="v$(printf '%0400d' 0)"
    : >"$WORK/member.log"; : >"$WORK/kill.log"
    start LD_PRELOAD="$WORK/faults.so" FAULT_KILL_AT_WRITE="$n" FAULT_KILL_ONLY=/snap/db FAULT_KILL_ARMED_BY="$arm" FAULT_LOG="$WORK/kill.log"
    for i in $(seq "$base" $((base + 120))); do ctl put "k$i" "$value$i" >/dev/null && echo "k$i $value$i" >>"$WORK/acked"; done
    sleep 0.3  # the last batch committed (100 ms batches): what is counted from here is WHEN's
    touch "$arm"
    case $when in
        commit) for i in $(seq $((base + 121)) $((base + 400))); do
                    if ctl put "k$i" "$value$i" >/dev/null 2>&1; then echo "k$i $value$i" >>"$WORK/acked"; else break; fi
                done ;;
        compact) ctl compact "$(ctl get "k$((base + 100))" -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')" >/dev/null 2>&1 || true ;;
        defrag) ctl defrag >/dev/null 2>&1 || true ;;
    esac
    for _ in $(seq 50); do kill -0 "$MEMBER" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$MEMBER" 2>/dev/null || fail "the member was never killed before write $n ($when)"
    wait "$MEMBER" 2>/dev/null || true
    MEMBER=0
    grep -q "killed before a write" "$WORK/kill.log" || fail "the member died ($when), but not by the shim's kill"
    start
    check_acked || fail "an acknowledged key is missing after a kill before write $n ($when)"
    ok "killed just before write $n to the backend file ($when): restarted with every acknowledged key ($(wc -l <"$WORK/acked"))"
    kill "$MEMBER"; wait "$MEMBER" 2>/dev/null || true
    MEMBER=0
}
echo "== kill -9 at chosen writes to the backend file"
kill_at commit 2 9000
kill_at commit 40 9500
kill_at compact 3 10000
kill_at defrag 2 10500
kill_at defrag 30 11000

# A restore killed just before its Nth write into the new directory (the store's file copied,
# the log, the snapshot, the member's identity), for every N until one runs to the end: the
# member refuses to start, naming the unfinished restore, and the same restore run again makes
# a member with every key the backup holds. With `power-cut`, the kill is also a power cut:
# every write and name the restore had not synced is undone first.
restore() {
    env "$@" "$ETCD_BIN" snapshot restore "$WORK/backup.db" --name default --data-dir "$WORK/restored" \
        --initial-cluster "default=http://127.0.0.1:$PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PEER" >>"$WORK/restore.log" 2>&1
}
restore_cut_short() {
    local mode=$1 n status killed=0 finished=no journal=() undone_writes=0 undone_names=0 w names
    for n in $(seq 1 40); do
        rm -rf "$WORK/restored" "$WORK/rundo" "$WORK"/rundo.unlinked.*; : >"$WORK/restore.log"
        [ "$mode" = kill ] || journal=(FAULT_UNDO_JOURNAL="$WORK/rundo" FAULT_DIR_OPS_UNDER="$WORK/restored")
        status=0
        restore LD_PRELOAD="$WORK/faults.so" FAULT_KILL_AT_WRITE="$n" FAULT_KILL_ONLY="$WORK/restored/" FAULT_KILL_COUNTS_WRITE=1 \
            ${journal[@]+"${journal[@]}"} || status=$?
        [ "$status" != 0 ] || { finished=yes; break; }
        [ "$status" = 137 ] || { cat "$WORK/restore.log"; fail "the restore failed (status $status), not by the shim's kill before write $n"; }
        killed=$((killed + 1))
        if [ "$mode" != kill ]; then
            # "power cut: undid W unsynced writes in F files, N unsynced names"
            read -r _ _ _ w _ _ _ _ _ names _ < <(python3 "$ROOT/Tests/DiskFaults/powercut.py" "$WORK/rundo")
            undone_writes=$((undone_writes + w)); undone_names=$((undone_names + names))
        fi
        status=0
        timeout 20 "$ETCD_BIN" --name default --data-dir "$WORK/restored" --listen-client-urls "http://127.0.0.1:$PORT" \
            --listen-peer-urls "http://127.0.0.1:$PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PEER" \
            --initial-cluster "default=http://127.0.0.1:$PEER" >"$WORK/member.log" 2>&1 || status=$?
        [ "$status" != 0 ] && [ "$status" != 124 ] || fail "a member started on a restore cut short ($mode) before write $n (status $status)"
        grep -q "snapshot restore into .* did not finish" "$WORK/member.log" || fail "cut short ($mode) before write $n, the member did not say the restore was unfinished"
        restore || { cat "$WORK/restore.log"; fail "the restore, run again after a $mode before write $n, failed"; }
        DATA=$WORK/restored start
        cp "$WORK/acked" "$WORK/acked.all"; cp "$WORK/backup-acked" "$WORK/acked"
        check_acked || fail "a key of the backup is missing after a restore cut short ($mode) before write $n and run again"
        cp "$WORK/acked.all" "$WORK/acked"
        kill "$MEMBER"; wait "$MEMBER" 2>/dev/null || true
        MEMBER=0
    done
    [ "$killed" -ge 3 ] && [ "$finished" = yes ] || fail "the restore was cut short ($mode) at $killed points and finished at none of the first 40 writes"
    local undone=""
    [ "$mode" = kill ] || undone=" (the power cuts undid $undone_writes writes and $undone_names names in all)"
    ok "a restore cut short ($mode) before each of its $killed writes$undone: the member refused to start, saying the restore did not finish; run again, the restore made a member with all $(wc -l <"$WORK/backup-acked") keys of the backup"
    rm -rf "$WORK/restored"
}
echo "== kill -9 inside a restore"
restore_cut_short kill
echo "== power cuts inside a restore"
restore_cut_short power-cut

echo "== power cuts"
power_cut writes 6000
power_cut compact 7000
power_cut defrag 8000
echo "1..$checks"
