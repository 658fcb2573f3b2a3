#!/usr/bin/env bash
# fio on the loop-over-FUSE front-end vs a plain loop device, both over a file on the same
# file system, side by side: 4 KiB random read/write at QD 1 and 32, 1 MiB sequential write.
#
# Usage (root): benches/fuse-vs-loop.sh [RUNTIME_S=10] [SIZE=1G] [THREADS=8]
# Environment: BENCH_DIR (default /var/tmp) holds the two backing files (2 x SIZE).
# Prints one table: IOPS and MiB/s of each target and the ratio FUSE / plain loop.
set -euo pipefail

runtime=${1:-10}
size=${2:-1G}
threads=${3:-8}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
jobs=(randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd1 randwrite-4k-qd32 seqwrite-1M-qd4)

[ "$(id -u)" = 0 ] || { echo "fuse-vs-loop.sh: needs root" >&2; exit 1; }
command -v fio >/dev/null || { echo "fuse-vs-loop.sh: fio is not installed" >&2; exit 1; }

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/drbd-fuse-bench-XXXXXX")
plain_dev=""
serve_pid=""
cleanup() {
  set +e
  [ -n "$plain_dev" ] && losetup -d "$plain_dev"
  if [ -n "$serve_pid" ]; then
    exec 4>&-                      # EOF on the server's stdin: it tears its device down
    wait "$serve_pid"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "building fuse_loop_serve (release)..." >&2
(cd "$repo" && cargo build -q --release -p benches --bin fuse_loop_serve)
serve="$repo/target/release/fuse_loop_serve"

for f in plain.img fuse.img; do
  # Written out, not sparse: reads must hit the disk on both targets.
  dd if=/dev/zero of="$work/$f" bs=1M count="$(numfmt --from=iec "$size" | awk '{print int($1/1048576)}')" \
     oflag=direct status=none
done

plain_dev=$(losetup --direct-io=on -f --show "$work/plain.img")
mkfifo "$work/ctl"
"$serve" "$work/fuse.img" "$work/run" "$work/fuse.dev" "$threads" <"$work/ctl" &
serve_pid=$!
exec 4>"$work/ctl"
for _ in $(seq 100); do [ -s "$work/fuse.dev" ] && break; sleep 0.1; done
fuse_dev=$(cat "$work/fuse.dev")
echo "plain loop: $plain_dev  fuse loop: $fuse_dev (threads $threads)  runtime ${runtime}s  size $size" >&2

run_job() { # job dev -> "iops mibs"
  DEV=$2 RUNTIME=$runtime SIZE=$size fio --output-format=json "$here/fio/$1.fio" |
    python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
s = j["read"] if j["read"]["io_bytes"] > 0 else j["write"]
print("%.0f %.1f" % (s["iops"], s["bw_bytes"] / 1048576))'
}

printf '%-18s %12s %10s %12s %10s %8s\n' job loop-IOPS loop-MiB/s fuse-IOPS fuse-MiB/s ratio
for job in "${jobs[@]}"; do
  read -r pi pb < <(run_job "$job" "$plain_dev")
  read -r fi fb < <(run_job "$job" "$fuse_dev")
  ratio=$(awk -v a="$fi" -v b="$pi" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')
  printf '%-18s %12s %10s %12s %10s %8s\n' "$job" "$pi" "$pb" "$fi" "$fb" "$ratio"
done
