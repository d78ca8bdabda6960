#!/usr/bin/env bash
# Baton's whole test suite: what CI runs, and what a newcomer runs.
#   1. installs what the tests need (nothing beyond Rust yet; as root on
#      Debian it will apt-get the interop peers once the suites use them),
#   2. builds the node and runs every test of the workspace over loopback,
#   3. runs each fuzz target for a bounded time (needs the nightly toolchain).
# Usage: scripts/test.sh [--no-fuzz] [fuzz-seconds-per-target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz=1
secs=60
for arg in "$@"; do
  case "$arg" in
    --no-fuzz) fuzz=0 ;;
    *) secs="$arg" ;;
  esac
done

echo "== build"
cargo build --locked -p baton
echo "== tests (unit, property, system over loopback; benches run once in test mode)"
cargo test --locked --workspace --all-targets
cargo test --locked --workspace --doc

if [ "$fuzz" = 1 ]; then
  echo "== fuzz (${secs}s per target)"
  if rustup toolchain list 2>/dev/null | grep -q nightly; then
    scripts/fuzz.sh "$secs"
  else
    echo "SKIPPED: fuzzing needs the nightly toolchain (rustup toolchain install nightly)" >&2
  fi
fi
echo "== all tests passed"
