#!/usr/bin/env bash
# The one entry point for checks: installs what the tests need (if missing), then
# format check, clippy with warnings denied, every test, and the fuzz smoke runs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
# The end-to-end tests start the real binary; build it first so they find it.
cargo build --locked -p steward --bin steward
cargo test --workspace --locked

if [ -x scripts/fuzz-smoke.sh ] || [ -f scripts/fuzz-smoke.sh ]; then
  echo "== fuzz smoke"
  # Bounded: each target runs at most FUZZ_RUNS inputs or FUZZ_SECONDS seconds.
  CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-$(nproc)}" FUZZ_SECONDS="${FUZZ_SECONDS:-15}" \
    bash scripts/fuzz-smoke.sh
fi
