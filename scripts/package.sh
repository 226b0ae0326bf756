#!/usr/bin/env bash
# Builds the Debian package (cargo-deb): prints the path of xlb_VERSION_ARCH.deb.
# Reuses the release build when it is current (scripts/test.sh makes it);
# installs cargo-deb if it is missing. Install the result with
#   apt-get install ./xlb_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo-deb >/dev/null; then
  echo "installing cargo-deb" >&2
  cargo install cargo-deb --locked --quiet
fi
# The same build as scripts/test.sh's (the whole workspace: a subset would
# unify features differently and build everything again).
cargo build --workspace --release --quiet
target=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# Man pages and completions from the binaries' own definitions.
rm -rf packaging/out
"$target/release/xlb-docgen" packaging/out >/dev/null
mkdir -p "$target/debian"
# Stripped, as Debian ships binaries (the release profile keeps line tables).
cargo deb -p xlb-control --no-build --strip --quiet --output "$target/debian" | tail -1
