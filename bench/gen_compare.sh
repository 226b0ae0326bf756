#!/usr/bin/env bash
# Which generator can load the director harder on this machine: 64-byte
# UDP from one namespace into an XDP drop sink over one veth pair (nothing
# in between), counted at the sink, for dpdk-testpmd txonly over net_af_xdp
# netsniff-ng's trafgen (AF_PACKET TX ring) and our xlb-gen (AF_XDP), each
# on one core; then the TCP SYN/ACK mix from trafgen and xlb-gen.
# Usage: bench/gen_compare.sh [SECONDS]   Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
P=xlbg-$$-$RANDOM
scripts/install-deps.sh --bench >/dev/null
cargo build --release --quiet -p xlb-bench
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
GEN=(target/release/xlb-gen --iface g0 --dst-mac "$MAC" --src 10.201.0.1 --dst 10.201.0.2 --secs $((SECS + 3)))
xg=$(count ip netns exec "$P-a" taskset -c 1 "${GEN[@]}")
# The TCP mix the forwarding bench uses: SYN + 4 ACKs per flow, fresh flows.
cat >"/tmp/$P/tcp.cfg" <<EOT
{ eth(da=$MAC), ipv4(saddr=10.201.0.1, daddr=10.201.0.2, ttl=64), tcp(sp=dinc(1024, 65000), dp=80, syn), fill(0x00, 10) }
{ eth(da=$MAC), ipv4(saddr=10.201.0.1, daddr=10.201.0.2, ttl=64), tcp(sp=5000, dp=80, ack, seq=2, ackseq=1), fill(0x00, 10) }
EOT
tgt=$(count ip netns exec "$P-a" taskset -c 1 trafgen --dev g0 --conf "/tmp/$P/tcp.cfg" --cpus 1 --qdisc-path -q)
xgt=$(count ip netns exec "$P-a" taskset -c 1 "${GEN[@]}" --proto tcp --pattern SAAAA --dport 80 --flows 1000000)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
echo "udp: testpmd_txonly_pps=$tp trafgen_pps=$tg xlb_gen_pps=$xg tcp: trafgen_pps=$tgt xlb_gen_pps=$xgt"
echo "testpmd_vs_trafgen=$(ratio "$tp" "$tg") xlb_gen_vs_testpmd=$(ratio "$xg" "$tp") xlb_gen_tcp_vs_trafgen_tcp=$(ratio "$xgt" "$tgt")"
