#!/usr/bin/env bash
# Installs what the tests need, then runs every test: unit and HTTP tests (swift test) and the
# walkthroughs that mirror the README. Works on a fresh machine; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the walkthroughs use; installed only when missing.
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
command -v openssl >/dev/null || missing+=(openssl)
# SQLite's headers and library: Stage 4 keeps its store in a SQLite file.
[ -f /usr/include/sqlite3.h ] || missing+=(libsqlite3-dev)
[ -f /usr/include/crypt.h ] || missing+=(libcrypt-dev)
# The real etcdctl 3.4 drives the v3 API; the real etcd 3.4 answers the same commands beside ours.
command -v etcdctl >/dev/null || missing+=(etcd-client)
[ -x /usr/bin/etcd ] || missing+=(etcd-server)
# A real browser for the live Raft view: headless Chromium, driven by Selenium through chromedriver.
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
/usr/bin/python3 -c 'import selenium' 2>/dev/null || missing+=(python3-selenium)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
# Debian's etcd-server may start a service on 2379/2380 where an init system runs: the tests
# start their own etcds, and a walkthrough needs those ports free.
if pgrep -x etcd >/dev/null; then $sudo service etcd stop 2>/dev/null || $sudo pkill -x etcd || true; fi

# Every step is timed and bounded: a step that hangs fails the run with its name, instead of
# using up CI's time with nothing said; the times show where a slower machine spends its time.
step() {
    local limit=$1 name=$2 status=0 start=$SECONDS
    shift 2
    echo "=== $name: started at $(date -u +%T), at most $limit min"
    timeout --kill-after=30 "${limit}m" "$@" || status=$?
    echo "=== $name: $((SECONDS - start)) s, exit $status"
    [ "$status" -ne 124 ] && [ "$status" -ne 137 ] || echo "=== $name did not finish within $limit minutes"
    return "$status"
}

step 45 "swift build" swift build
step 15 "swift test" swift test
# Every daemon below runs as an ordinary user, as etcd runs under systemd (User=etcd) or in a
# pod: root hides permission bugs (a socket option that needs CAP_NET_ADMIN, a file only root can
# read). As root, this script makes the user etcd-tests and runs the suites as it, from a copy of
# the tree and binaries that it can read (the clone may sit under a directory only root enters).
BIN=$(swift build --show-bin-path)
# What CI keeps besides the log: the browser test's screenshots of the live Raft view.
ARTIFACTS=${CI_ARTIFACTS:-$PWD/artifacts}
mkdir -p "$ARTIFACTS/raft-lab"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
    python3 -c 'import venv, ensurepip' 2>/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    id etcd-tests >/dev/null 2>&1 || useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin etcd-tests
    STAGE=$(mktemp -d /tmp/etcd-tests.XXXXXX)
    trap 'rm -rf "$STAGE"' EXIT
    tar --exclude=./.build --exclude=./.git -cf - . | tar -C "$STAGE" -xf -
    mkdir -p "$STAGE/.build/debug" "$STAGE/home"
    cp "$BIN/etcd" "$BIN/etcd-stage1" "$BIN/etcd-stage2" "$BIN/etcd-stage3" "$STAGE/.build/debug/"
    chown -R etcd-tests:etcd-tests "$STAGE"
    chmod 0755 "$STAGE"
    cd "$STAGE"
    BIN=$STAGE/.build/debug
    as_user=(setpriv --reuid=etcd-tests --regid=etcd-tests --clear-groups env HOME="$STAGE/home" TMPDIR=/tmp)
    echo "running the integration suites and walkthroughs as $(id etcd-tests)"
fi
export ETCD_BIN=$BIN/etcd
# Crash durability against real processes: writers, kill -9 of random members and the leader.
step 15 kill-nine "${as_user[@]}" Tests/Integration/kill-nine.sh 15
# The v3 API through the real etcdctl, compared command by command with the real etcd 3.4.
step 15 etcdctl "${as_user[@]}" Tests/Integration/etcdctl.sh
step 15 etcdctl-cluster "${as_user[@]}" Tests/Integration/etcdctl-cluster.sh
# v3 authentication through etcdctl, beside etcd 3.4; then auth state across restarts of a cluster.
step 10 auth "${as_user[@]}" Tests/Integration/auth.sh
# The v3 API as JSON over HTTP (the gateway), and Lock and Election, with curl beside etcd 3.4.
step 10 gateway "${as_user[@]}" Tests/Integration/gateway.sh
# Membership changes while writers run: nothing acknowledged lost, HashKV agreeing at the end.
step 15 membership-load "${as_user[@]}" Tests/Integration/membership-load.sh
# As deployments start it: every flag of etcd 3.4's --help, config files, probes, systemd.
step 15 deployment "${as_user[@]}" Tests/Integration/deployment.sh
# As operators recover and secure it: a lost majority, corruption checks, TLS and its migration.
step 15 deployment-recovery-tls "${as_user[@]}" Tests/Integration/deployment-recovery-tls.sh
# Disk faults through an LD_PRELOAD shim: short writes, and syncs failing while writing, during
# a compaction and a defragmentation, and for snapshot files only; nothing acknowledged lost.
step 15 disk-faults "${as_user[@]}" Tests/DiskFaults/run.sh
# --pre-vote on a real cluster: a follower cut off and healed deposes the leader only without it.
step 10 pre-vote "${as_user[@]}" Tests/Integration/pre-vote.sh
# A client library written elsewhere: the Python etcd3 package from PyPI.
step 10 python-etcd3 "${as_user[@]}" Tests/Integration/python-etcd3.sh
# Faults while clients run (kill -9, SIGSTOP, partitions), histories judged for linearizability,
# beside etcd 3.4.
# As root it puts each member in a network namespace of its own (for partitions), and runs the
# members themselves as etcd-tests.
if [ "$(id -u)" -eq 0 ]; then step 20 chaos env CHAOS_RUN_AS=etcd-tests Tests/Chaos/run.sh 50; else step 20 chaos Tests/Chaos/run.sh 50; fi
# The live Raft view in headless Chromium against `etcd lab`: a leader killed from the page and
# replaced, a member cut off and healed; screenshots of each state in $ARTIFACTS/raft-lab.
# As another user, they are taken in the staged tree and copied out, failed run or not.
shots="$ARTIFACTS/raft-lab"
if [ -n "${STAGE:-}" ]; then shots="$STAGE/artifacts/raft-lab"; mkdir -p "$shots"; chown -R etcd-tests:etcd-tests "$STAGE/artifacts"; fi
status=0
step 10 browser "${as_user[@]}" env RAFT_LAB_SCREENSHOTS="$shots" Tests/Browser/raft-lab.py || status=$?
[ "$shots" = "$ARTIFACTS/raft-lab" ] || cp -r "$shots/." "$ARTIFACTS/raft-lab/" || true
[ "$status" -eq 0 ] || { echo "the browser test failed (screenshots in $ARTIFACTS/raft-lab)"; exit "$status"; }
# Each stage's demos against the smallest binary that has them (Stage 1 alone; the v1 cluster
# of Stage 2; Stage 3's TLS), then every walkthrough against the daemon, which has them all.
step 10 "walkthroughs, stage 1" "${as_user[@]}" env ETCD_BIN="$BIN/etcd-stage1" Walkthroughs/run-all.sh 01 02 03 04
step 10 "walkthroughs, stage 1, plain HTTP path" "${as_user[@]}" env ETCD_BIN="$BIN/etcd-stage1" ETCD_EXTRA_FLAGS="-v1-http plain" Walkthroughs/run-all.sh 01 02 03 04
step 10 "walkthroughs, stage 2" "${as_user[@]}" env ETCD_BIN="$BIN/etcd-stage2" Walkthroughs/run-all.sh 06 08
step 10 "walkthroughs, stage 3" "${as_user[@]}" env ETCD_BIN="$BIN/etcd-stage3" Walkthroughs/run-all.sh 09
step 15 walkthroughs "${as_user[@]}" Walkthroughs/run-all.sh
echo "=== every step passed in $SECONDS s"
