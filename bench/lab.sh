#!/usr/bin/env bash
# Side-by-side forwarding benchmark, packets counted at the real server:
#   generators on core 1 in the client namespace: dpdk-testpmd txonly over
#   net_af_xdp (64-byte UDP, one flow), xlb-gen (bench/src/bin/xlb_gen.rs:
#   the TCP SYN/ACK mix, and UDP over 1k or 1M flows)
#   forwarders in the director namespace, on core 0, one at a time:
#     kernel IP forwarding, kernel iptables DNAT (also with RPS to core 0),
#     dpdk-testpmd io-forward (no logic: the ceiling), xlbd NAT and xlbd DR
#     (one busy-polling worker)
# Then: the TCP mix through the same forwarders (not iptables: see below),
# and xlbd NAT again with connection sync on (every new connection and
# state change sent to a peer: the master's cost of [sync]);
# the whole director's rate with 1k and 1M live connections;
# bench/conns.sh (new connections/s and latency vs HAProxy and iptables,
# loss under reload and health flaps); bench/http.sh (the proxy against
# HAProxy: keep-alive and new-connection requests/s, TLS handshakes/s,
# memory per idle connection); conn_scale (the forwarder alone).
# Prints each figure per run, then medians (min, max) and the ratios, and
# ends with one line (scale: the whole director's cost at 1M vs 1k):
#   nat_vs_testpmd=R dr_vs_testpmd=R nat_vs_iptables=R conns_vs_haproxy=R scale_1m_vs_1k=R http_vs_haproxy=R nat_sync_vs_nat=R worker_sync_vs_off=R sync_p99_ms=N worker_tun_vs_nat=R worker_nat6_vs_nat=R
# (nat_sync_vs_nat: the TCP mix through xlbd NAT with [sync] on over off;
# worker_tun_vs_nat: TUN over NAT, the forwarder alone, bench forwarding_cost;
# worker_nat6_vs_nat: NAT of the same mix over IPv6 against IPv4, likewise;
# worker_sync_vs_off: the same for the forwarder alone, bench sync_cost;
# sync_p99_ms: bench/sync.sh, how long a new connection takes to reach
# the backup director, p99, milliseconds).
# Usage: bench/lab.sh [RUNS]   (default 3: about 20 minutes)
#        bench/lab.sh --quick  (3 UDP runs, 1 of the others, short
#                               connection tests: about 9 minutes)
#        bench/lab.sh --forwarding-only [RUNS]
#        bench/lab.sh --sync-cost [RUNS]   (only xlbd NAT under the TCP mix
#                               with sync off, then on, RUNS pairs)
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=0 FWD_ONLY=0 SYNC_ONLY=0
[ "${1:-}" = "--quick" ] && { QUICK=1; shift; }
[ "${1:-}" = "--forwarding-only" ] && { FWD_ONLY=1; shift; }
[ "${1:-}" = "--sync-cost" ] && { SYNC_ONLY=1; shift; }
RUNS=${1:-3}
CONN_SECS=$([ "$QUICK" = 1 ] && echo 4 || echo 8)
P=xlbb-$$-$RANDOM
VIP=10.200.1.10
OUT=bench/results; mkdir -p "$OUT" "/tmp/$P"
scripts/install-deps.sh --bench
command -v dpdk-testpmd >/dev/null || apt-get install -y -qq dpdk-dev >/dev/null
cargo build --release --quiet
[ -d /sys/fs/bpf ] && { mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf; }

down() {
  [ -n "${xlbd:-}" ] && kill "$xlbd" 2>/dev/null
  for n in cli dir rs1 peer; do ip netns del "$P-$n" 2>/dev/null || true; done
  rm -rf "/tmp/$P"
}
trap down EXIT
for n in cli dir rs1 peer; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
ip link add c0 netns "$P-cli" type veth peer name out0 netns "$P-dir"
ip link add in0 netns "$P-dir" type veth peer name r0 netns "$P-rs1"
ip -n "$P-cli" addr add 10.200.1.2/24 dev c0; ip -n "$P-dir" addr add 10.200.1.1/24 dev out0
ip -n "$P-dir" addr add 10.200.2.1/24 dev in0; ip -n "$P-rs1" addr add 10.200.2.2/24 dev r0
for x in "cli c0" "dir out0" "dir in0" "rs1 r0"; do set -- $x; ip -n "$P-$1" link set "$2" up; done
ip -n "$P-cli" route add default via 10.200.1.1
ip -n "$P-rs1" route add default via 10.200.2.1
ip netns exec "$P-dir" sysctl -qw net.ipv4.ip_forward=1
# The sink drops everything, ARP included: give the director a static entry.
clang -O2 -target bpf -I/usr/include/"$(gcc -dumpmachine)" -c bench/xdp_sink.c -o "/tmp/$P/sink.o"
R0=$(ip -n "$P-rs1" link show r0 | awk '/ether/{print $2}')
D0=$(ip -n "$P-dir" link show out0 | awk '/ether/{print $2}')
ip -n "$P-dir" neigh replace 10.200.2.2 lladdr "$R0" dev in0 nud permanent
ip -n "$P-rs1" link set dev r0 xdp obj "/tmp/$P/sink.o" sec xdp
# A sync peer on a link of its own (as a director pair's sync link is),
# which drops what it receives in XDP: the director's sync costs what it
# costs to send, nothing more.
ip link add sy0 netns "$P-dir" type veth peer name sy1 netns "$P-peer"
ip -n "$P-dir" addr add 10.200.3.1/24 dev sy0; ip -n "$P-peer" addr add 10.200.3.2/24 dev sy1
ip -n "$P-dir" link set sy0 up; ip -n "$P-peer" link set sy1 up
ip -n "$P-peer" link set dev sy1 xdp obj "/tmp/$P/sink.o" sec xdp
Y1=$(ip -n "$P-peer" link show sy1 | awk '/ether/{print $2}')
ip -n "$P-dir" addr add "$VIP/32" dev out0
cat >"/tmp/$P/xlb.toml" <<EOT
[daemon]
interfaces = ["out0", "in0"]
cores = [0]
poll = "busy-poll"
conn_table_size = 8388608   # the TCP mix opens ~4M connections per run
[[virtual_server]]
address = "$VIP"
port = 9              # testpmd txonly sends UDP 9 -> 9
protocol = "udp"
scheduler = "rr"
[[virtual_server.real_server]]
address = "10.200.2.2"
[[virtual_server]]
address = "$VIP"
port = 80             # the TCP SYN/ACK mix (xlb-gen)
scheduler = "rr"
[[virtual_server.real_server]]
address = "10.200.2.2"
EOT
# The same service in DR mode (DR keeps the port: 9 -> 9 already).
sed 's/^scheduler = "rr"/scheduler = "rr"\nforwarding = "dr"/' "/tmp/$P/xlb.toml" >"/tmp/$P/xlb-dr.toml"
# The same NAT services with connection sync to the peer on sy0.
cp "/tmp/$P/xlb.toml" "/tmp/$P/xlb-sync.toml"
printf '[sync]\ninterface = "sy0"\npeers = ["10.200.3.2"]\nsync_id = 1\n' >>"/tmp/$P/xlb-sync.toml"

rx() { ip netns exec "$P-rs1" cat /sys/class/net/r0/statistics/rx_packets; }
gen() {
  ip netns exec "$P-cli" timeout 16 dpdk-testpmd --file-prefix "$P-gen" --no-huge -m 1024 --no-pci \
    -l 0,1 --main-lcore 0 --vdev net_af_xdp0,iface=c0 -- --forward-mode=txonly --txpkts=64 \
    --eth-peer=0,"$D0" --tx-ip=10.200.1.2,"$1" --auto-start --nb-cores=1 -i \
    >"/tmp/$P/gen.log" 2>&1 < <(sleep 13; echo quit)
}
# TCP mix from xlb-gen (bench/src/bin/xlb_gen.rs; testpmd txonly sends only
# UDP, trafgen is slower: bench/gen_compare.sh): every flow sends a SYN and
# then four ACKs, and the run never reaches the last of its 4M flows, so a
# fifth of the packets open a new connection and the rest hit live ones.
gen_tcp() {
  ip netns exec "$P-cli" taskset -c 1 "$ROOT/target/release/xlb-gen" --iface c0 --dst-mac "$D0" \
    --src 10.201.0.1 --dst "$1" --proto tcp --pattern SAAAA --dport 80 --flows 4000000 --secs 13 \
    >"/tmp/$P/gen.log" 2>&1 </dev/null
}
GEN=gen
pin_neigh() {
  ip -n "$P-dir" neigh replace 10.200.2.2 lladdr "$R0" dev in0 nud permanent
  ip -n "$P-dir" neigh replace 10.200.3.2 lladdr "$Y1" dev sy0 nud permanent
}
measure() { # name dst-ip -> prints pps
  # testpmd's net_af_xdp bounces the link, which flushes even permanent
  # neighbour entries; the sink drops ARP, so pin the entry every time.
  pin_neigh
  "$GEN" "$2" &
  local g=$! a; sleep 6; a=$(rx); sleep 5; local b; b=$(rx); wait $g || true
  echo $(( (b - a) / 5 ))
}
declare -A res fr
ipt() { ip netns exec "$P-dir" iptables "$@"; }
# forwarders PROTO TAG: measure every forwarder once with $GEN into fr[name]
# (iptables DNAT matches PROTO); xlbd's counters go to /tmp/$P/xlbd-TAG-MODE.txt.
forwarders() {
  fr[kernel]=$(measure kernel 10.200.2.2)
  # Not for the one-way TCP mix: conntrack marks a client's ACK that arrives
  # before the server's SYN-ACK invalid, leaves it untranslated, and the
  # director's own stack answers it with a RST (measured: only the SYNs
  # reach the server).
  if [ "$1" = udp ]; then
    ipt -t nat -A PREROUTING -d "$VIP" -p "$1" -j DNAT --to-destination 10.200.2.2
    fr[iptables]=$(measure iptables "$VIP")
    # The same with its own core: the kernel forwards in the softirq of
    # whoever hands it the frame, here the generator's send on core 1,
    # while the AF_XDP forwarders get core 0. RPS moves out0's receive
    # processing to core 0, as a NIC interrupt on its own core would.
    # (A diagnostic: not in --quick, which must stay under 10 minutes.)
    fr[iptables-rps]=0
    if [ "$QUICK" = 0 ]; then
      ip netns exec "$P-dir" sh -c 'echo 1 >/sys/class/net/out0/queues/rx-0/rps_cpus'
      fr[iptables-rps]=$(measure iptables-rps "$VIP")
      ip netns exec "$P-dir" sh -c 'echo 0 >/sys/class/net/out0/queues/rx-0/rps_cpus'
    fi
    ipt -t nat -F PREROUTING
  else
    fr[iptables]=0
  fi
  ip netns exec "$P-dir" timeout 30 dpdk-testpmd --file-prefix "$P-fwd" --no-huge -m 1024 --no-pci \
    -l 0,1 --main-lcore 1 --vdev net_af_xdp0,iface=out0 --vdev net_af_xdp1,iface=in0 -- \
    --forward-mode=io --auto-start --nb-cores=1 -i >"/tmp/$P/fwd.log" 2>&1 < <(sleep 24; echo quit) &
  local fwd=$! mode cfg; sleep 4
  fr[testpmd]=$(measure testpmd 10.200.2.2)
  wait $fwd || true
  for mode in nat dr; do
    cfg=/tmp/$P/xlb.toml; [ "$mode" = dr ] && cfg=/tmp/$P/xlb-dr.toml
    xlbd_measure "xlbd-$mode" "$cfg" "/tmp/$P/xlbd-$2-$mode.txt"
    # The TCP mix opens connections: NAT again with sync on, right after
    # NAT with it off (side by side, minutes apart at most).
    if [ "$1" = tcp ] && [ "$mode" = nat ]; then
      xlbd_measure xlbd-nat-sync /tmp/$P/xlb-sync.toml "/tmp/$P/xlbd-$2-nat-sync.txt"
      # It must have sent: a ratio of nothing proves nothing.
      [ "$(sed -n 's/^  sent *\([0-9]*\) connections.*/\1/p' "/tmp/$P/xlbd-$2-nat-sync.txt")" -gt 0 ] 2>/dev/null ||
        { echo "xlbd with [sync] sent nothing:"; cat "/tmp/$P/xlbd-$2-nat-sync.txt"; fr[xlbd-nat-sync]=0; }
    fi
  done
}
# xlbd_measure NAME CONFIG COUNTERS_FILE: xlbd up with CONFIG, fr[NAME] from
# $GEN towards the VIP, its counters kept, xlbd down.
xlbd_measure() {
  pin_neigh
  ip netns exec "$P-dir" "$ROOT/target/release/xlbd" --config "$2" \
    --socket "/tmp/$P/xlbd.sock" >"/tmp/$P/xlbd.log" 2>&1 &
  xlbd=$!; sleep 2
  fr[$1]=$(measure "$1" "$VIP")
  "$ROOT/target/release/xlbctl" --socket "/tmp/$P/xlbd.sock" show --stats --workers >"$3" || true
  "$ROOT/target/release/xlbctl" --socket "/tmp/$P/xlbd.sock" show --sync >>"$3" || true
  kill "$xlbd"; wait "$xlbd" 2>/dev/null || true; xlbd=
}
if [ "$SYNC_ONLY" = 1 ]; then
  GEN=gen_tcp
  for run in $(seq "$RUNS"); do
    # Off then on, then on then off: a bias of the order cancels out.
    for m in $([ $((run % 2)) = 1 ] && echo "nat nat-sync" || echo "nat-sync nat"); do
      cfg=/tmp/$P/xlb.toml; [ "$m" = nat-sync ] && cfg=/tmp/$P/xlb-sync.toml
      xlbd_measure "xlbd-$m" "$cfg" "/tmp/$P/xlbd-$m.txt"
    done
    echo "sync-cost run $run: xlbd-nat=${fr[xlbd-nat]} xlbd-nat-sync=${fr[xlbd-nat-sync]} pps" \
      "(on/off $(awk -v a="${fr[xlbd-nat-sync]}" -v b="${fr[xlbd-nat]}" 'BEGIN { printf "%.2f", a / b }'))" |
      tee -a "/tmp/$P/sync-cost"
  done
  grep -h "sent" "/tmp/$P/xlbd-nat-sync.txt" || true
  python3 - "/tmp/$P/sync-cost" <<'PY'
import statistics, sys
r = []
for line in open(sys.argv[1]):
    f = dict(w.split("=") for w in line.split() if "=" in w)
    if int(f["xlbd-nat"]):
        r.append(int(f["xlbd-nat-sync"]) / int(f["xlbd-nat"]))
print(f"nat_sync_vs_nat={statistics.median(r):.2f} (min {min(r):.2f}, max {max(r):.2f}, {len(r)} runs)")
PY
  exit 0
fi
for run in $(seq "$RUNS"); do
  forwarders udp "udp-$run"
  for n in kernel iptables iptables-rps testpmd xlbd-nat xlbd-dr; do
    res[$n,$run]=${fr[$n]}
    echo "$n ${fr[$n]}" >>"/tmp/$P/results"
  done
  echo "run $run: kernel=${fr[kernel]} iptables=${fr[iptables]} iptables-rps=${fr[iptables-rps]} testpmd=${fr[testpmd]} xlbd-nat=${fr[xlbd-nat]} xlbd-dr=${fr[xlbd-dr]} pps"
done
grep -hE "drops|worker" "/tmp/$P/xlbd-udp-$RUNS-nat.txt" "/tmp/$P/xlbd-udp-$RUNS-dr.txt" || true
python3 - "/tmp/$P/results" <<'PY'
import sys, statistics
res = {}
for line in open(sys.argv[1]):
    name, v = line.split(); res.setdefault(name, []).append(int(v))
print("path        median      min      max  (pps)")
for n in ("kernel", "iptables", "iptables-rps", "testpmd", "xlbd-nat", "xlbd-dr"):
    v = [x for x in res[n] if x]
    if v:
        print(f"{n:<10} {statistics.median(v):>8.0f} {min(v):>8} {max(v):>8}")
# Ratios per run (side by side), then their median.
def ratio(a, b):
    r = [x / t for x, t in zip(res[a], res[b]) if t]
    return f"{statistics.median(r):.2f} (min {min(r):.2f}, max {max(r):.2f})"
print("nat_vs_testpmd=" + ratio("xlbd-nat", "testpmd"))
print("dr_vs_testpmd=" + ratio("xlbd-dr", "testpmd"))
print("nat_vs_iptables=" + ratio("xlbd-nat", "iptables"))
if any(res["iptables-rps"]):
    print("nat_vs_iptables_own_core=" + ratio("xlbd-nat", "iptables-rps") + "  (iptables with RPS on core 0)")
print("dr_vs_nat=" + ratio("xlbd-dr", "xlbd-nat"))
def med(a, b):
    return statistics.median(x / t for x, t in zip(res[a], res[b]) if t)
with open(sys.argv[1] + ".summary", "w") as f:
    f.write(f"nat_vs_testpmd={med('xlbd-nat', 'testpmd'):.2f} dr_vs_testpmd={med('xlbd-dr', 'testpmd'):.2f} "
            f"nat_vs_iptables={med('xlbd-nat', 'iptables'):.2f}")
PY
# The same forwarders under the TCP SYN/ACK mix (one run with --quick).
GEN=gen_tcp
TCP_RUNS=$([ "$QUICK" = 1 ] && echo 1 || echo "$RUNS")
for run in $(seq "$TCP_RUNS"); do
  forwarders tcp "tcp-$run"
  for n in kernel testpmd xlbd-nat xlbd-dr xlbd-nat-sync; do echo "tcp-$n ${fr[$n]}"; done >>"/tmp/$P/results-tcp"
  echo "tcp mix run $run: kernel=${fr[kernel]} testpmd=${fr[testpmd]} xlbd-nat=${fr[xlbd-nat]} xlbd-dr=${fr[xlbd-dr]}" \
    "xlbd-nat-sync=${fr[xlbd-nat-sync]} pps" \
    "(nat/testpmd $(awk -v a="${fr[xlbd-nat]}" -v b="${fr[testpmd]}" 'BEGIN { printf "%.2f", a / b }')," \
    "dr/testpmd $(awk -v a="${fr[xlbd-dr]}" -v b="${fr[testpmd]}" 'BEGIN { printf "%.2f", a / b }')," \
    "sync on/off $(awk -v a="${fr[xlbd-nat-sync]}" -v b="${fr[xlbd-nat]}" 'BEGIN { printf "%.2f", a / b }'))"
done
grep -h "conns\|drops" "/tmp/$P/xlbd-tcp-$TCP_RUNS-nat.txt" "/tmp/$P/xlbd-tcp-$TCP_RUNS-dr.txt" || true
# What the sync run sent.
grep -h "sent\|overflow\|lost" "/tmp/$P/xlbd-tcp-$TCP_RUNS-nat-sync.txt" || true
cat "/tmp/$P/results-tcp" >>"/tmp/$P/results"
# The whole director's per-packet cost against its live connections: xlbd
# NAT forwarding UDP spread over 1k, then 1M flows (each a connection),
# flat out; the cost ratio is the inverse of the packet rates' ratio.
gen_flows() {
  ip netns exec "$P-cli" taskset -c 1 "$ROOT/target/release/xlb-gen" --iface c0 --dst-mac "$D0" \
    --src 10.201.0.1 --dst "$1" --dport 9 --flows "$FLOWS" --secs 13 >"/tmp/$P/gen.log" 2>&1 </dev/null
}
GEN=gen_flows
for run in $(seq "$TCP_RUNS"); do
  for FLOWS in 1000 1000000; do
    xlbd_measure "flows-$FLOWS" "/tmp/$P/xlb.toml" "/tmp/$P/xlbd-flows-$FLOWS.txt"
    echo "e2e-flows-$FLOWS ${fr[flows-$FLOWS]}" >>"/tmp/$P/results"
  done
  echo "live connections run $run: 1k flows=${fr[flows-1000]} 1M flows=${fr[flows-1000000]} pps" \
    "(cost 1M vs 1k $(awk -v a="${fr[flows-1000]}" -v b="${fr[flows-1000000]}" 'BEGIN { printf "%.2f", b ? a / b : 0 }'))"
done
grep -h "conns" "/tmp/$P/xlbd-flows-1000000.txt" || true
python3 - "/tmp/$P/results" <<'PY' | tee "/tmp/$P/e2e"
import sys, statistics as st
res = {}
for line in open(sys.argv[1]):
    name, v = line.split(); res.setdefault(name, []).append(int(v))
def ratio(a, b):
    r = [x / t for x, t in zip(res[a], res[b]) if t]
    return f"{st.median(r):.2f} (min {min(r):.2f}, max {max(r):.2f}, {len(r)} runs)"
print("tcp mix: nat_vs_testpmd=" + ratio("tcp-xlbd-nat", "tcp-testpmd") + " dr_vs_testpmd=" + ratio("tcp-xlbd-dr", "tcp-testpmd")
      + " dr_vs_nat=" + ratio("tcp-xlbd-dr", "tcp-xlbd-nat"))
print("tcp mix, NAT with connection sync on vs off: " + ratio("tcp-xlbd-nat-sync", "tcp-xlbd-nat"))
r = [a / b for a, b in zip(res["tcp-xlbd-nat-sync"], res["tcp-xlbd-nat"]) if a and b]
open(sys.argv[1] + ".sync", "w").write(f"{st.median(r):.2f}" if r else "n/a")
# Cost per packet is the inverse of the rate: 1k-flow rate over 1M-flow rate.
print("whole director, cost at 1M vs 1k live connections: " + ratio("e2e-flows-1000", "e2e-flows-1000000"))
r = [a / b for a, b in zip(res["e2e-flows-1000"], res["e2e-flows-1000000"]) if b]
open(sys.argv[1] + ".scale", "w").write(f"{st.median(r):.2f}")
PY
cp "/tmp/$P/results" "$OUT/forwarding-$(date +%Y%m%d-%H%M%S).txt"
fwd_summary=$(cat "/tmp/$P/results.summary")
scale=$(cat "/tmp/$P/results.scale")
nat_sync=$(cat "/tmp/$P/results.sync")
# The forwarding lab goes before the next one comes up.
down; trap - EXIT
[ "$FWD_ONLY" = 1 ] && { echo "$fwd_summary scale_1m_vs_1k=$scale nat_sync_vs_nat=$nat_sync"; exit 0; }
bench/conns.sh "$RUNS" "$CONN_SECS" | tee "/tmp/xlbb-conns-$$.txt"
conns=$(sed -n 's/^conns_vs_haproxy=//p' "/tmp/xlbb-conns-$$.txt")
# The proxy against HAProxy (--quick: one 3 s run per case, no idle-memory
# pass, to stay under 10 minutes).
if [ "$QUICK" = 1 ]; then bench/http.sh 1 3 0; else bench/http.sh "$RUNS" "$CONN_SECS"; fi | tee "/tmp/xlbb-http-$$.txt"
http=$(sed -n 's/^http_vs_haproxy=//p' "/tmp/xlbb-http-$$.txt")
taskset -c 1 "$ROOT/target/release/conn_scale" 1000000 | tee "/tmp/xlbb-scale-$$.txt"
# The worker's own cost of sync (the forwarder alone, no kernel or noise).
"$ROOT/target/release/sync_cost" 200000 | tee -a "/tmp/xlbb-scale-$$.txt"
worker_sync=$(sed -n 's/^worker_sync_vs_off=//p' "/tmp/xlbb-scale-$$.txt")
# Forwarding methods, the forwarder alone, one worker's core.
taskset -c 1 "$ROOT/target/release/forwarding_cost" 200000 | tee -a "/tmp/xlbb-scale-$$.txt"
worker_tun=$(sed -n 's/.*tun_vs_nat=//p' "/tmp/xlbb-scale-$$.txt")
worker_nat6=$(sed -n 's/^nat6_vs_nat=//p' "/tmp/xlbb-scale-$$.txt")
# Connection sync latency (a shorter run with --quick).
bench/sync.sh 200 "$([ "$QUICK" = 1 ] && echo 3 || echo 10)" | tee "/tmp/xlbb-sync-$$.txt"
sync_p99=$(sed -n 's/^sync_p99_ms=//p' "/tmp/xlbb-sync-$$.txt")
# The summary's scale is the whole director's per-packet cost at 1M live
# connections against 1k, measured in the lab above. The forwarder alone
# (no kernel copy to hide behind, prefetching batches as the worker does
# on large tables) is the stricter figure, printed on its own line.
fscale=$(awk '$1 == 1000000 { printf "%.2f", $6 / b } $1 == 1000 { b = $2 }' "/tmp/xlbb-scale-$$.txt")
echo "forwarder_alone_scale_1m_vs_1k=$fscale"
cp "/tmp/xlbb-conns-$$.txt" "$OUT/conns-$(date +%Y%m%d-%H%M%S).txt"
cp "/tmp/xlbb-scale-$$.txt" "$OUT/scale-$(date +%Y%m%d-%H%M%S).txt"
cp "/tmp/xlbb-http-$$.txt" "$OUT/http-$(date +%Y%m%d-%H%M%S).txt"
cp "/tmp/xlbb-sync-$$.txt" "$OUT/sync-$(date +%Y%m%d-%H%M%S).txt"
echo "$fwd_summary conns_vs_haproxy=$conns scale_1m_vs_1k=$scale http_vs_haproxy=$http nat_sync_vs_nat=$nat_sync worker_sync_vs_off=$worker_sync sync_p99_ms=$sync_p99 worker_tun_vs_nat=$worker_tun worker_nat6_vs_nat=$worker_nat6"
rm -f "/tmp/xlbb-conns-$$.txt" "/tmp/xlbb-scale-$$.txt" "/tmp/xlbb-http-$$.txt" "/tmp/xlbb-sync-$$.txt"
