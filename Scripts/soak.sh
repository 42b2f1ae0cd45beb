#!/usr/bin/env bash
# A longer run of the Raft simulator than CI's million steps:
#   Scripts/soak.sh [seeds, default 1000] [steps per seed, default 50000]
# Each failure prints its seed; Simulator(seed:) with that seed replays it exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
SIMULATION_SEEDS=${1:-1000} SIMULATION_STEPS=${2:-50000} swift test -c release --filter "SimulationTests/safety"
