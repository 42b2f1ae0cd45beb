#!/usr/bin/env bash
# Runs every walkthrough in order (or only those whose numbers are given, e.g. `01 02`) and ends
# with one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")"
passed=0 failed=0
for script in [0-9][0-9]-*.sh; do
    if [ $# -gt 0 ] && [[ " $* " != *" ${script:0:2} "* ]]; then continue; fi
    echo "=== $script"
    if bash "$script"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "--- FAILED: $script"; fi
done
echo "walkthroughs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
