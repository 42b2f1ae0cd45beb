#!/usr/bin/env bash
# Stage 4 benchmark: a backup of a large store. Ours and the real etcd 3.4, one member each,
# same machine, same run: PUTS fresh keys (1 KiB values, the official Go client) into each, then
# `etcdctl snapshot save` while the member's memory (RSS) is sampled every 50 ms, then a restore
# of the saved file into a new data directory (`etcd snapshot restore` for ours, `etcdctl
# snapshot restore` for etcd), whose peak memory GNU time reports. The question: does a backup
# cost memory in proportion to the store, or a fixed amount?
#
#   Benchmarks/v3-backup.sh [puts, default 400000]       (about 400 MB stored in each)
#
# BEFORE_BIN, if set, is measured too (an older build of ours, for a before/after in one run).
# OURS_BIN and ETCDBENCH as for v3-etcdbench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PUTS=${1:-400000}
source Benchmarks/lib-v3.sh

rss() { echo $(( $(ps -o rss= -p "${PID[$1]}") / 1024 )); }

echo "| server | stored | RSS before | RSS peak during save | save s | file | restore s | restore peak RSS |"
echo "|---|---|---|---|---|---|---|---|"
for kind in "${KINDS[@]}"; do
    start_one "$kind"
    read -r client _ <<<"${PORT[$kind]}"
    "$BENCH" -endpoints "127.0.0.1:$client" -clients 64 -conns 16 -total "$PUTS" -op put \
        -key-size 16 -key-space 1000000000 -val-size 1024 -timeout 1200s >/dev/null
    stored=$(ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$client" endpoint status -w json \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"] // 1048576)')
    sleep 2  # let the backend's last batch commit and the allocator settle
    before=$(rss "$kind")
    peak=$before
    begin=$(date +%s.%N)
    ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$client" --command-timeout=600s snapshot save "$WORK/$kind.saved" >"$WORK/$kind.save.log" 2>&1 &
    saver=$!
    while kill -0 $saver 2>/dev/null; do
        now=$(rss "$kind"); [ "$now" -gt "$peak" ] && peak=$now
        sleep 0.05
    done
    wait $saver || { echo "$kind: snapshot save failed: $(tail -3 "$WORK/$kind.save.log")" >&2; exit 1; }
    save=$(awk -v a="$begin" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    file=$(( $(stat -c %s "$WORK/$kind.saved") / 1048576 ))
    kill -9 "${PID[$kind]}"; wait "${PID[$kind]}" 2>/dev/null || true; unset "PID[$kind]"
    if [ "$kind" = etcd ]; then
        restore=(env ETCDCTL_API=3 etcdctl snapshot restore "$WORK/$kind.saved" --data-dir "$WORK/$kind-restored")
    else
        restore=("${BIN[$kind]}" snapshot restore "$WORK/$kind.saved" --data-dir "$WORK/$kind-restored")
    fi
    begin=$(date +%s.%N)
    /usr/bin/time -f %M -o "$WORK/$kind.time" "${restore[@]}" >/dev/null 2>&1
    took=$(awk -v a="$begin" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    echo "| $kind | ${stored} MiB | ${before} MiB | ${peak} MiB | $save | ${file} MiB | $took | $(( $(cat "$WORK/$kind.time") / 1024 )) MiB |"
    rm -rf "$WORK/$kind" "$WORK/$kind-restored" "$WORK/$kind.saved"
done
