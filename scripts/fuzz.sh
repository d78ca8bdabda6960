#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each), seeded with
# the RFC 4475/5118 corpus. Needs the nightly toolchain and cargo-fuzz
# (installed here if missing). Usage: scripts/fuzz.sh [seconds-per-target]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || { echo "fuzz.sh: the nightly toolchain is needed" >&2; exit 1; }
for target in codec transaction; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  cp tests/conformance/rfc4475/*.sip tests/conformance/rfc4475/rfc5118/*.sip "$corpus/"
  cp benches/data/*.sip "$corpus/"
  # Built on its own first: the run below is piped through grep, which
  # would hide a target that no longer compiles.
  cargo +nightly fuzz build "$target"
  echo "fuzz.sh: $target for ${secs}s"
  cargo +nightly fuzz run "$target" "$corpus" -- -max_total_time="$secs" -max_len=70000 -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|thread|Done)" || true
  # cargo fuzz exits non-zero on a crash; pipefail would hide it behind grep, so check artifacts.
  if ls "fuzz/artifacts/$target"/crash-* >/dev/null 2>&1; then
    echo "fuzz.sh: $target found a crash: $(ls fuzz/artifacts/$target/crash-*)" >&2
    exit 1
  fi
done
echo "fuzz.sh: no crashes"
