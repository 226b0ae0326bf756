#!/usr/bin/env bash
# Installs what building and running xlb's lab needs, from Debian's packages.
# Idempotent: only missing packages are installed. Needs root.
set -euo pipefail
# chromium: the dashboard's lab test renders the page headless
# (tests/lab/dashboard.sh); fonts-dejavu-core gives its screenshots glyphs.
pkgs=(clang llvm libbpf-dev linux-libc-dev gcc iproute2 ethtool curl python3 iptables vsftpd keepalived tcpdump haproxy openssl bpftool bird2 systemd
  chromium fonts-dejavu-core)
[ "${1:-}" = "--bench" ] && pkgs+=(dpdk wrk nginx-light gnuplot-nox netsniff-ng)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is missing: this machine kind ships Rust via rustup (~/.cargo/bin)" >&2
  exit 1
fi
