#!/bin/bash
# Long simulator run: N seeds split over J parallel vopr processes (release build).
#
#   scripts/vopr-long.sh N [J] [FIRST_SEED]
#
# Seeds FIRST_SEED .. FIRST_SEED+N-1 (default: derived from the clock) are cut into J
# consecutive ranges, one process each. A failing seed stops its process and is printed with
# its replay command (`vopr --seed S`); the script exits non-zero if any range failed.
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
  "$vopr" --seeds "$count" --from "$from" > "$logdir/range-$j.log" 2>&1 &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
secs=$(( $(date +%s) - start ))
passed=0
for f in "$logdir"/range-*.log; do
  if line=$(grep -E '^[0-9]+ seeds passed' "$f"); then
    passed=$(( passed + ${line%% *} ))
  else
    echo "FAILED range ($f):"; tail -n 40 "$f"
  fi
done
echo "vopr-long: $passed of $n seeds passed in ${secs} s with $jobs processes, seeds $first..$(( first + n - 1 )) (logs: $logdir)"
exit $rc
