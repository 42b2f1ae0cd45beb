#!/usr/bin/env bash
# Installs what the tests need, then runs every test: unit and HTTP tests (swift test) and the
# walkthroughs that mirror the README. Works on a fresh machine; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the walkthroughs use; installed only when missing.
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

swift build
swift test
export ETCD_BIN="$(swift build --show-bin-path)/etcd"
# Crash durability against real processes: writers, kill -9 of random members and the leader.
Tests/Integration/kill-nine.sh 15
# The single-machine demos against Stage 1 alone, then every walkthrough against the daemon.
ETCD_BIN="$(swift build --show-bin-path)/etcd-stage1" Walkthroughs/run-all.sh 01 02 03 04
Walkthroughs/run-all.sh
