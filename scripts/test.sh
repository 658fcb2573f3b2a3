#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, unit and integration tests (real kernel
# parts as root), the deterministic simulator and the scheduler conformance floor.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR=never

scripts/install-deps.sh

echo "== dependency directions"
python3 scripts/check-deps.py
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace --no-fail-fast 2>&1 | tee target/test.log
if grep -qE '^test result: FAILED|error: [0-9]+ targets? failed' target/test.log; then
  exit 1
fi
echo "== ublk front-end in a VM (scripts/vm-test.sh)"
if [ -x ../shared/vm/run-in-vm.sh ]; then
  scripts/vm-test.sh
else
  echo "skipped: ../shared/vm/run-in-vm.sh not found (the ublk front-end needs a kernel with ublk_drv)"
fi
