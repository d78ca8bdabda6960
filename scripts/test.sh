#!/usr/bin/env bash
# Baton's whole test suite: what CI runs, and what a newcomer runs.
#   1. installs what the tests need: the interop peers SIPp (Debian package
#      sip-tester) and baresip, and iproute2, with apt-get when run as root
#      on Debian,
#   2. checks formatting (cargo fmt --check) and lints (clippy, warnings denied),
#   3. builds the node and runs every test of the workspace over loopback,
#   4. runs each fuzz target for a bounded time (needs the nightly toolchain).
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

# `ip` (iproute2) makes the network namespace of the admin surface's
# off-loopback test; that test and the full-disk one (a tmpfs) need root.
if ! command -v sipp >/dev/null || ! command -v baresip >/dev/null || ! command -v ip >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing the interop peers (sip-tester, baresip) and iproute2"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester baresip iproute2 >/dev/null
  else
    echo "WARNING: sipp/baresip/ip missing and not root: the interop and namespace tests will be skipped" >&2
  fi
fi

echo "== format and lints"
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings

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
