#!/usr/bin/env bash
# The replication engine (Standalone, protocol A, protocol C over loopback TCP) against raw
# io_uring writes to one and to two files, side by side in one run; prints the table and the
# ratios (see benches/README.md).
#
# Usage: benches/engine.sh [SECS=3] [SIZE_MIB=256] [extra engine-bench arguments...]
# Environment: BENCH_DIR (default /var/tmp/engine-bench; must be a real disk file system with
# O_DIRECT, not tmpfs) holds four backing files of SIZE_MIB (+8 MiB) each; they stay there for
# the next run (KEEP=0 removes them at the end).
set -euo pipefail

secs=${1:-3}
size=${2:-256}
shift $(( $# > 2 ? 2 : $# ))
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
dir=${BENCH_DIR:-/var/tmp/engine-bench}

fs=$(stat -f -c %T "$(dirname "$dir")" 2>/dev/null || echo unknown)
if [ "$fs" = tmpfs ] || [ "$fs" = ramfs ]; then
  echo "engine.sh: $dir is on $fs; use a real disk (BENCH_DIR=...)" >&2
  exit 1
fi

(cd "$repo" && cargo build --release -p benches --bin engine-bench)
cleanup() { [ "${KEEP:-1}" = 0 ] && rm -rf "$dir"; true; }
trap cleanup EXIT
"$repo/target/release/engine-bench" --dir "$dir" --size-mib "$size" --secs "$secs" "$@" \
  2> >(grep -v '^drbd ' >&2)
