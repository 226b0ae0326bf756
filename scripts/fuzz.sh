#!/usr/bin/env bash
# Every fuzz target (fuzz/fuzz_targets/) for SECONDS each (default 60),
# starting from its seed corpus in fuzz/corpus/TARGET, which it only reads
# (new inputs go to a scratch folder); fails on the first crash, whose
# input cargo-fuzz keeps in fuzz/artifacts/TARGET/ (make it a regression
# test, then delete it). Prints per target the executions and coverage.
# Needs the nightly toolchain (the product builds on stable) and installs
# cargo-fuzz if it is missing.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
SECS=${1:-60}; shift || true
rustup toolchain list | grep '^nightly' >/dev/null ||
  { echo "fuzz.sh: needs the nightly toolchain: rustup toolchain install nightly" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
cd fuzz
targets=("$@")
# Debug assertions on: an overflow is a crash too. One build for all when
# all run (cargo fuzz build takes one target or none).
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
  cargo +nightly fuzz build --debug-assertions 2>&1 | grep -v "^\s*Compiling" | tail -3
fi
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
summary=()
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "corpus/$t"
  log=$scratch/$t.log
  if ! cargo +nightly fuzz run --debug-assertions "$t" "$scratch/$t" "corpus/$t" -- \
      -max_total_time="$SECS" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz.sh: $t crashed; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  summary+=("$(printf '%-14s %10s executions in %ss, coverage %s edges, corpus %s' \
    "$t" "${execs:-?}" "$SECS" "${cov:-?}" "$(ls "$scratch/$t" "corpus/$t" | wc -l)")")
done
printf '%s\n' "${summary[@]}"
echo "fuzz: ${#targets[@]} targets, no crash"
