#!/usr/bin/env bash
# Stage 2 benchmarks: the Raft core alone (3 nodes in memory) and the WAL at batch sizes 1,
# 16 and 256 against this disk's own pwrite+fdatasync rate, measured in the same run.
#
#   Benchmarks/stage2-raft.sh [seconds per row, default 2]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product raft-bench >/dev/null
"$(swift build -c release --show-bin-path)/raft-bench" "${1:-2}"
