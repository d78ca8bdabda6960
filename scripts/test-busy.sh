#!/usr/bin/env bash
# The system tests on a busy machine: one CPU hog per core (busy loops at
# normal priority) while the system tests (crate baton-system-tests: SIP and
# RTP over loopback against real `baton` processes) run RUNS times in a row.
# Every run must pass: the tests wait on events, never on sleeps, and accept
# everything the RFCs allow (retransmissions, repeated provisionals).
# Usage: scripts/test-busy.sh [runs, default 3] [extra cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
shift || true

cargo build --locked -p baton
cargo test --locked -p baton-system-tests --no-run

hogs=()
stop_hogs() {
  for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_hogs EXIT INT TERM
for _ in $(seq "$(nproc)"); do
  # A bounded busy loop (at most an hour), stopped on every exit path.
  timeout 3600 bash -c 'while :; do :; done' &
  hogs+=("$!")
done
echo "== $(nproc) CPU hogs running: ${hogs[*]}"

for run in $(seq "$runs"); do
  echo "== system tests under load, run $run of $runs"
  cargo test --locked -p baton-system-tests "$@"
done
echo "== $runs runs under load passed"
