# Shared by the Stage 4 benchmarks (sourced from the project's root): etcd 3.4 installed if
# missing, etcdbench found (ETCDBENCH, or built by the script ETCDBENCH_BUILD names), our
# release binary built unless OURS_BIN names one, and WORK, a scratch directory on the
# project's disk (syncs must reach the device, not a tmpfs).
command -v etcd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server; }
BENCH=${ETCDBENCH:-/tmp/etcdbench}
[ -x "$BENCH" ] || { [ -n "${ETCDBENCH_BUILD:-}" ] && bash "$ETCDBENCH_BUILD" "$BENCH" >/dev/null; } \
    || { echo "no etcdbench at $BENCH: set ETCDBENCH to its binary (or ETCDBENCH_BUILD to a script that builds it)" >&2; exit 1; }
if [ -z "${OURS_BIN:-}" ]; then
    swift build -c release --product etcd >/dev/null
    OURS_BIN="$(swift build -c release --show-bin-path)/etcd"
fi
WORK=$(mktemp -d -p "$PWD/.build")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
