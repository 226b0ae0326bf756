#!/usr/bin/env bash
# Every xlb test: formatting and lints, unit and packet-in/packet-out tests,
# a fuzz smoke run of every target (nightly, scripts/fuzz.sh),
# then the lab tests in network namespaces (root). Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# One build, not an edit loop: incremental state would only take disk
# (1.2 GB of it beside the tests).
export CARGO_INCREMENTAL=0
scripts/install-deps.sh
echo "== cargo fmt --check"; cargo fmt --all --check
echo "== cargo clippy"; cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"; cargo test --workspace --quiet 2>&1 | tee /tmp/xlb-cargo-test.log
echo "== cargo build --release"; cargo build --workspace --release --quiet
echo "== fuzz smoke (every parser that takes outside input, 20 s each)"; scripts/fuzz.sh 20
echo "== lab tests"; tests/lab/run.sh
