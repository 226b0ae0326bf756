#!/usr/bin/env bash
# Which generator can load the director harder on this machine: 64-byte
# UDP from one namespace into an XDP drop sink over one veth pair (nothing
# in between), counted at the sink, for dpdk-testpmd txonly over net_af_xdp
# and netsniff-ng's trafgen (AF_PACKET TX ring), each on one core.
# Usage: bench/gen_compare.sh [SECONDS]   Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
P=xlbg-$$-$RANDOM
scripts/install-deps.sh --bench >/dev/null
command -v trafgen >/dev/null || apt-get install -y -qq netsniff-ng >/dev/null
mkdir -p "/tmp/$P"
down() { ip netns del "$P-a" 2>/dev/null || true; ip netns del "$P-b" 2>/dev/null || true; rm -rf "/tmp/$P"; }
trap down EXIT
ip netns add "$P-a"; ip netns add "$P-b"
ip link add g0 netns "$P-a" type veth peer name s0 netns "$P-b"
ip -n "$P-a" addr add 10.201.0.1/24 dev g0; ip -n "$P-b" addr add 10.201.0.2/24 dev s0
ip -n "$P-a" link set g0 up; ip -n "$P-b" link set s0 up
clang -O2 -target bpf -I/usr/include/"$(gcc -dumpmachine)" -c bench/xdp_sink.c -o "/tmp/$P/sink.o"
ip -n "$P-b" link set dev s0 xdp obj "/tmp/$P/sink.o" sec xdp
MAC=$(ip -n "$P-b" link show s0 | awk '/ether/{print $2}')
rx() { ip netns exec "$P-b" cat /sys/class/net/s0/statistics/rx_packets; }
count() { # runs "$@" for SECS + 4 s, prints the sink's pps over SECS
  timeout -s INT $((SECS + 4)) "$@" >"/tmp/$P/gen.log" 2>&1 </dev/null &
  local g=$! a b; sleep 3; a=$(rx); sleep "$SECS"; b=$(rx)
  wait "$g" 2>/dev/null || true
  echo $(( (b - a) / SECS ))
}
tp=$(count ip netns exec "$P-a" taskset -c 1 dpdk-testpmd --file-prefix "$P" --no-huge -m 1024 --no-pci \
  -l 0,1 --main-lcore 0 --vdev net_af_xdp0,iface=g0 -- --forward-mode=txonly --txpkts=64 \
  --eth-peer=0,"$MAC" --tx-ip=10.201.0.1,10.201.0.2 --auto-start --nb-cores=1 --stats-period 100)
cat >"/tmp/$P/udp.cfg" <<EOT
{ eth(da=$MAC), ipv4(saddr=10.201.0.1, daddr=10.201.0.2), udp(sp=9, dp=9), fill(0x00, 18) }
EOT
tg=$(count ip netns exec "$P-a" taskset -c 1 trafgen --dev g0 --conf "/tmp/$P/udp.cfg" --cpus 1 --qdisc-path -q)
echo "testpmd_txonly_pps=$tp trafgen_pps=$tg testpmd_vs_trafgen=$(awk -v a="$tp" -v b="$tg" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
