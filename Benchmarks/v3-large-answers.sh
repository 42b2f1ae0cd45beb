#!/usr/bin/env bash
# Stage 4 benchmark: large answers, as listing a big prefix or reading a large value gives them.
# Ours and the real etcd 3.4, one member each, same machine, same run (and, if BEFORE_BIN names
# an earlier build of ours, that one too): each is loaded with KEYS random keys of 100-byte
# values (the official Go client) and one value of 1.4 MB; then the real etcdctl reads, REPEATS
# times each, the large value, the whole keyspace keys-only, and the whole keyspace with values.
# Reported: the median seconds per read (the lower middle one for an even count; etcdctl's own
# start-up included, about 20 ms here), how many reads saw an attempt fail (etcdctl warns on
# stderr, then retries from the start) and how many failed altogether.
#
#   Benchmarks/v3-large-answers.sh [keys, default 60000] [repeats, default 5]
#
# OURS_BIN and ETCDBENCH as for v3-etcdbench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${1:-60000}
REPEATS=${2:-5}
source Benchmarks/lib-v3.sh
head -c 1400000 /dev/zero | tr '\0' v > "$WORK/large"

for kind in "${KINDS[@]}"; do
    start_one "$kind"
    read -r client _ <<<"${PORT[$kind]}"
    "$BENCH" -endpoints "127.0.0.1:$client" -clients 16 -conns 4 -total "$KEYS" -op put \
        -key-size 16 -key-space 1000000000 -val-size 100 -timeout 600s >/dev/null \
        || { echo "etcdbench failed against $kind" >&2; exit 1; }
    ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$client" put large < "$WORK/large" >/dev/null
done

# read KIND ARGS... -> "median-seconds retried failed": REPEATS reads with `etcdctl get ARGS`.
read_times() {
    local kind=$1 client times=() retried=0 failed=0 begin; shift
    read -r client _ <<<"${PORT[$kind]}"
    for ((i = 0; i < REPEATS; i++)); do
        begin=$(date +%s.%N)
        ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$client" --command-timeout=60s get "$@" \
            >/dev/null 2>"$WORK/stderr" || failed=$((failed + 1))
        times+=("$(awk -v a="$begin" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')")
        if grep -q retrying "$WORK/stderr"; then retried=$((retried + 1)); fi
    done
    echo "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((REPEATS + 1) / 2))p") $retried $failed"
}

header="| read |" rule="|---|"
for kind in "${KINDS[@]}"; do header+=" $kind s | $kind retried, failed |"; rule+="---:|---:|"; done
echo "$header"; echo "$rule"
for what in "the 1.4 MB value:large" "$KEYS keys, keys only:--from-key  --keys-only" "$KEYS keys with values:--from-key "; do
    name=${what%%:*} args=${what#*:}
    line="| $name |"
    for kind in "${KINDS[@]}"; do
        if [ "$args" = large ]; then out=$(read_times "$kind" large); else out=$(read_times "$kind" "" $args); fi
        read -r seconds retried failed <<<"$out"
        line+=" $seconds | $retried, $failed of $REPEATS |"
    done
    echo "$line"
done
