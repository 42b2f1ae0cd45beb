#!/usr/bin/env bash
# The fault harness: first the checkers' own tests (each must reject a doctored history), then a
# run against a three-member cluster of ours and the same run against the real etcd 3.4, faults
# and all. Prints one JSON line per run; fails on any violation (the history is kept to replay).
#
#   Tests/Chaos/run.sh [seconds] [seed]      (CI: 50 s each, every fault kind; a long run: Tests/Chaos/run.sh 600)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ETCD_BIN=${ETCD_BIN:-$ROOT/.build/debug/etcd}
export -n ETCD_BIN
SECONDS_EACH=${1:-20}
SEED=${2:-$(( $(date +%s) % 100000 ))}
cd "$ROOT/Tests/Chaos"
python3 -m unittest -q test_checker test_slowlink test_netem
VENV=$ROOT/.build/py-etcd3
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import etcd3' 2>/dev/null; then
    python3 -m venv "$VENV" 2>/dev/null || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"; }
    "$VENV/bin/pip" install -q 'etcd3==0.12.0' 'protobuf<4'
fi
FAULTS=kill-leader,kill,stop,replace,slow,lossy
# As root, each member gets a network namespace of its own, and the faults include partitions
# (the leader cut from its peers both ways, and one way) and a member's links slowed or made
# lossy packet by packet (netem.py: this kernel has no sch_netem for `tc netem`). The members
# then run as $CHAOS_RUN_AS (CI: etcd-tests), never as root.
if [ "$(id -u)" -eq 0 ] && "$VENV/bin/python" -c 'import netns, sys; sys.exit(0 if netns.available() else 1)'; then
    FLAGS=(--netns)
    FAULTS+=,partition-leader,one-way
    if [ -n "${CHAOS_RUN_AS:-}" ]; then FLAGS+=(--run-as "$CHAOS_RUN_AS"); fi
else
    # On loopback a relay in front of each member's peer port (slowlink.py) holds what passes
    # instead: what slow and lossy links come to above TCP.
    FLAGS=(--slow-links)
    echo "not root (or no network namespaces here): no partitions, and relays for slow and lossy links, in this run"
fi
# Disk faults, for ours only, through the disk-fault shim: power cuts (it journals what each
# write overwrites, and a cut undoes every write since each file's last sync), a disk whose
# syncs all fail (the member must stop by itself), and one member's writes always coming up
# short. (etcd is Go: its writes are system calls the shim cannot see.) Built with the C
# compiler beside swift, as Tests/DiskFaults does.
SHIM_DIR=$(mktemp -d)
trap 'rm -rf "$SHIM_DIR"' EXIT
CC=$(command -v clang || true)
[ -n "$CC" ] || CC=$(dirname "$(readlink -f "$(command -v swift)")")/clang
"$CC" -shared -fPIC -O2 -o "$SHIM_DIR/faults.so" "$ROOT/Tests/DiskFaults/faults.c" -ldl -lpthread
chmod 0755 "$SHIM_DIR"
echo "seed $SEED (replay a run with: Tests/Chaos/run.sh $SECONDS_EACH $SEED)"
# Ours also takes v1 writes through redirects (etcd 3.4 has no v1 API).
"$VENV/bin/python" harness.py --binary "$ETCD_BIN" --seconds "$SECONDS_EACH" --seed "$SEED" --label ours --v1-clients 3 \
    --faults "$FAULTS,power-cut,sync-fails" --power-cut-shim "$SHIM_DIR/faults.so" "${FLAGS[@]}"
if [ -x /usr/bin/etcd ]; then
    # The reference: etcd 3.4's own known bugs (#18089) are reported, not counted against it.
    "$VENV/bin/python" harness.py --binary /usr/bin/etcd --seconds "$SECONDS_EACH" --seed "$SEED" --label etcd-3.4 --known-etcd-bugs \
        --faults "$FAULTS" "${FLAGS[@]}"
fi
