#!/bin/bash
# Long simulator run: N seeds split over J parallel vopr processes (release build).
#
#   scripts/vopr-long.sh N [J] [FIRST_SEED]
#
# Seeds FIRST_SEED .. FIRST_SEED+N-1 (default: derived from the clock) are cut into J
# consecutive ranges, one process each. Every seed runs (`vopr --keep-going`); each failing
# seed is printed with its replay command (`vopr --seed S`) and the exit code is non-zero if
# any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: vopr-long.sh N [JOBS] [FIRST_SEED]}
jobs=${2:-$(nproc)}
first=${3:-$(( $(date +%s%N) / 1000 % 1000000000000 ))}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
cargo build --release -q -p tests --bin vopr
vopr=target/release/vopr
logdir=$(mktemp -d /tmp/vopr-long.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true' INT TERM
per=$(( (n + jobs - 1) / jobs ))
start=$(date +%s)
pids=()
for ((j = 0; j < jobs; j++)); do
  from=$(( first + j * per ))
  count=$(( n - j * per < per ? n - j * per : per ))
  (( count > 0 )) || break
  "$vopr" --seeds "$count" --from "$from" --keep-going > "$logdir/range-$j.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
secs=$(( $(date +%s) - start ))
passed=0 failed=0 rc=0
for f in "$logdir"/range-*.log; do
  while read -r k _; do passed=$(( passed + k )); done < <(grep -E '^[0-9]+ seeds passed' "$f")
  grep -qE '^[0-9]+ seeds passed' "$f" || { echo "INCOMPLETE: $f"; cat "$f"; rc=1; }
  while read -r line; do
    failed=$(( failed + 1 )); rc=1
    echo "FAILED: $line"
  done < <(grep -E '^seed=[0-9]+ \(replay' "$f")
done
echo "vopr-long: $passed seeds passed, $failed failed of $n in ${secs} s with $jobs processes, seeds $first..$(( first + n - 1 )) (logs: $logdir)"
exit $rc
