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
# The real etcdctl 3.4 drives the v3 API; the real etcd 3.4 answers the same commands beside ours.
command -v etcdctl >/dev/null || missing+=(etcd-client)
[ -x /usr/bin/etcd ] || missing+=(etcd-server)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
# Debian's etcd-server may start a service on 2379/2380 where an init system runs: the tests
# start their own etcds, and a walkthrough needs those ports free.
if pgrep -x etcd >/dev/null; then $sudo service etcd stop 2>/dev/null || $sudo pkill -x etcd || true; fi

swift build
swift test
export ETCD_BIN="$(swift build --show-bin-path)/etcd"
# Crash durability against real processes: writers, kill -9 of random members and the leader.
Tests/Integration/kill-nine.sh 15
# The v3 API through the real etcdctl, compared command by command with the real etcd 3.4.
Tests/Integration/etcdctl.sh
# Membership changes while writers run: nothing acknowledged lost, HashKV agreeing at the end.
Tests/Integration/membership-load.sh
# A client library written elsewhere: the Python etcd3 package from PyPI.
Tests/Integration/python-etcd3.sh
# The single-machine demos against Stage 1 alone, then every walkthrough against the daemon.
ETCD_BIN="$(swift build --show-bin-path)/etcd-stage1" Walkthroughs/run-all.sh 01 02 03 04
Walkthroughs/run-all.sh
