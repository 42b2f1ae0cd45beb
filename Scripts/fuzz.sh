#!/usr/bin/env bash
# Fuzzes the decoders with libFuzzer: Scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Builds Fuzz/ (every module compiled for libFuzzer and AddressSanitizer; the first build takes
# about five minutes), then runs each target (all by default) for SECONDS (default 60), starting
# from Tests/FuzzTests/corpus/TARGET. Inputs that reach new code are merged back into that
# folder, minimized; commit them, and FuzzTests replays them on every test run. A crash, a
# hang (over 10 s), an allocation over 256 MB or a broken property stops the target, is saved
# under Tests/FuzzTests/crashers/TARGET/ (add it to git: it is a regression test from then
# on), and makes the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(wal peer-frame snapshot v1-command v1-http v3-request v3-entry)

(cd Fuzz && swift build -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --product etcd-fuzz)
fuzzer=$PWD/Fuzz/.build/debug/etcd-fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for target in "${targets[@]}"; do
    corpus=Tests/FuzzTests/corpus/$target
    crashers=Tests/FuzzTests/crashers/$target
    mkdir -p "$corpus" "$crashers" "$work/$target"
    echo "=== $target: $seconds s"
    # Swift's own backtracer would read memory AddressSanitizer watches: libFuzzer reports instead.
    if ! SWIFT_BACKTRACE=enable=no FUZZ_TARGET=$target "$fuzzer" "$work/$target" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=256 -max_len=65536 -artifact_prefix="$crashers/" -print_final_stats=1 2>"$work/$target.log"; then
        tail -40 "$work/$target.log"
        failed+=("$target")
    fi
    grep -E "^(stat::number_of_executed_units|stat::new_units_added|Done)" "$work/$target.log" || true
    # Keep only inputs that add coverage to what the corpus already reaches.
    FUZZ_TARGET=$target "$fuzzer" -merge=1 "$corpus" "$work/$target" 2>/dev/null || true
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found problems in: ${failed[*]} (inputs in Tests/FuzzTests/crashers/)"
    exit 1
fi
echo "fuzzing: no problem found in ${targets[*]}"
