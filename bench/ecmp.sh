#!/usr/bin/env bash
# Active/active throughput: three directors behind the ECMP router against
# one, in the lab of tests/lab/ecmp.sh (a BIRD router with `merge paths`
# and an L4 hash in front of xlbd directors announcing the VIP over BGP,
# three real servers). The same generator, real servers and directors
# serve both cases: "one" is d2 and d3 drained (`xlbctl drain-director`:
# the router has a single next hop), "three" is all three announcing; the
# cases alternate within each run, so the ratios are side by side.
#
#   xlb-gen (client, core 1): 64-byte UDP to VIP:9 over FLOWS flows
#   (source ports), flat out, for SECS seconds and at most 3M packets a
#   second of them;
#   the router forwards in the kernel (its softirq runs on the sender's
#   core, 1); each director: xlbd DR, `mh`, one worker on core 0 in wakeup
#   mode (a drained director sleeps instead of spinning on the core the
#   others use); the real servers drop the datagrams in XDP
#   (bench/xdp_udp_sink.c) and answer everything else.
#
# Each case twice per run: with the directors uncapped (what this 2-core
# machine gives), then each held to CAP of a core by its own CPU quota
# (cgroup, 10 ms period: the director-bound case, where the directors and
# not the router or the generator are the limit).
# Per measurement, over the middle of the generator's run: packets/s each
# director forwarded (its workers' tx), received and dropped, its CPU, what
# the router took in and what the real servers received. Then per pair of
# cases the ratios, and their medians (min-max) over the runs, ending with:
#   ecmp_aggregate_3_vs_1=R ecmp_per_director_3_vs_1=R ecmp_capped_aggregate_3_vs_1=R ecmp_capped_per_director_3_vs_1=R
# (aggregate: the three's sum over the one alone; per director: that over
# three). Not in bench/lab.sh --quick (its 10-minute budget).
# Usage: bench/ecmp.sh [RUNS] [SECS]   (default 3 runs of 8 s: about 2.5
#        minutes); CAP=0.1 by default, FLOWS=4096. Needs root, bird2 and
#        the release binaries (XLB_BIN as for the lab tests).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
SECS=${2:-8}
CAP=${CAP:-0.1}
FLOWS=${FLOWS:-4096}
# The window is the generator's run less 1.5 s at the start and 1.5 s at
# the end.
[ "$SECS" -ge 5 ] 2>/dev/null || { echo "ecmp.sh: SECS must be a whole number of seconds, at least 5"; exit 2; }
# shellcheck source=../tests/lab/lib.sh
source tests/lab/lib.sh
# shellcheck source=../tests/lab/ecmp.sh
source tests/lab/ecmp.sh
[ -x "$BIN/xlbd" ] && [ -x "$BIN/xlbctl" ] && [ -x "$BIN/xlb-gen" ] ||
  { echo "ecmp.sh: no release binaries in $BIN (cargo build --release)"; exit 1; }
command -v bird >/dev/null || { echo "ecmp.sh: bird missing (scripts/install-deps.sh installs bird2)"; exit 1; }

# The directors' configuration for the bench (replaces the lab test's).
ecmp_services() {
  printf '[daemon]\ninterfaces = ["out0", "in0"]\ncores = [0]\npoll = "wakeup"\n\n'
  printf '[[virtual_server]]\naddress = "%s"\nport = 9\nprotocol = "udp"\nscheduler = "mh"\nforwarding = "dr"\n' "$ECMP_VIP"
  local a
  for a in "${ECMP_RS[@]}"; do printf '  [[virtual_server.real_server]]\n  address = "%s"\n' "$a"; done
}

# One CPU cgroup per director (v1 or v2), its quota set per case.
CGS=()
cg_dir() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo "/sys/fs/cgroup/$E-d$1"; else echo "/sys/fs/cgroup/cpu/$E-d$1"; fi
}
cg_make() { # I PID: director I's cgroup, with every thread of PID in it
  local cg t; cg=$(cg_dir "$1")
  mkdir -p "$cg"; CGS+=("$cg")
  if [ -f "$cg/cgroup.procs" ] && [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    echo "$2" >"$cg/cgroup.procs"
  else
    for t in /proc/"$2"/task/*; do echo "${t##*/}" >"$cg/tasks"; done
  fi
}
cg_cap() { # I CAP|max
  local cg quota; cg=$(cg_dir "$1")
  quota=$([ "$2" = max ] && echo -1 || awk -v c="$2" 'BEGIN { printf "%d", c * 10000 }')
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    echo "$([ "$quota" = -1 ] && echo max || echo "$quota") 10000" >"$cg/cpu.max"
  else
    echo 10000 >"$cg/cpu.cfs_period_us"; echo "$quota" >"$cg/cpu.cfs_quota_us"
  fi
}
bench_down() {
  ecmp_down
  local cg
  for cg in ${CGS[@]+"${CGS[@]}"}; do rmdir "$cg" 2>/dev/null || true; done
}

ecmp_up
trap bench_down EXIT
clang -O2 -g -target bpf -I/usr/include/"$(gcc -dumpmachine)" -c bench/xdp_udp_sink.c -o "$D/sink.o"
for i in 1 2 3; do ip -n "$(ecmp_ns rs$i)" link set dev r0 xdpdrv obj "$D/sink.o" sec xdp; done
for i in 1 2 3; do ecmp_director "$i"; done
for i in 1 2 3; do pid=D${i}_PID; cg_make "$i" "${!pid}"; done
wait_until 20 nexthops_are "10.201.2.1 10.201.2.2 10.201.2.3" >/dev/null
RT_MAC=$(ip -n "$(ecmp_ns rt)" link show rt-cli | awk '/ether/{print $2}')

# snap: one line of counters, each group preceded by the moment it was
# read (the middle of the read: an xlbctl call takes tens of milliseconds,
# more on a loaded machine): per director "t cpu tx rx drops batches",
# then the
# router's input "t rx" and the real servers' "t rx" (r0, the sink's drops
# included).
now() { date +%s%N; }
mid() { echo "$((($1 + $(now)) / 2))"; }
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$1/stat"; }
snap() {
  local i pid line= rs=0 t v
  for i in 1 2 3; do
    pid=D${i}_PID
    t=$(now)
    v="$(cpu "${!pid}") $(ecmp_field "$i" "'%d %d %d %d' % (sum(w['tx_packets'] for w in s['workers']), sum(w['rx_packets'] for w in s['workers']), sum(sum(w['drops'].values()) for w in s['workers']), sum(w['rx_batches'] for w in s['workers']))")"
    line+=" $(mid "$t") $v"
  done
  t=$(now)
  v=$(ip netns exec "$(ecmp_ns rt)" cat /sys/class/net/rt-cli/statistics/rx_packets)
  line+=" $(mid "$t") $v"
  t=$(now)
  for i in 1 2 3; do rs=$((rs + $(ip netns exec "$(ecmp_ns rs$i)" cat /sys/class/net/r0/statistics/rx_packets))); done
  echo "$line $(mid "$t") $rs"
}

# rates.py: the results' lines ("RUN CASE CAP SENT_PPS SNAP SNAP") to
# rates; --last prints the last measurement, otherwise the summary.
cat >"$D/rates.py" <<'PY'
import statistics, sys
def rates(line):
    f = line.split()
    run, case, cap, sent = f[0], f[1], f[2], float(f[3])
    v = [float(x) for x in f[4:]]
    n = len(v) // 2
    a, b = v[:n], v[n:]
    r = lambda t, k: (b[k] - a[k]) / (b[t] - a[t]) * 1e9
    # per director: tx, rx, drops, cpu share, rx batches (a group: t cpu
    # tx rx drops batches)
    dirs = [tuple(r(6 * i, 6 * i + k) for k in (2, 3, 4, 1, 5)) for i in range(3)]
    return run, case, cap, sent, dirs, r(18, 19), r(20, 21)
lines = open(sys.argv[1]).read().splitlines()
if sys.argv[2:] == ["--last"]:
    run, case, cap, sent, dirs, rt, rs = rates(lines[-1])
    print("run %s %-5s cap %-4s sent %.0f pps, router in %.0f, real servers %.0f |" % (run, case, cap, sent, rt, rs),
          "  ".join("d%d tx %.0f rx %.0f drop %.0f cpu %.0f%% batch %.1f" % (i + 1, t, x, d, 100 * c, x / max(1, n))
                    for i, (t, x, d, c, n) in enumerate(dirs)))
    sys.exit()
rows = {}
for line in lines:
    run, case, cap, sent, dirs, rt, rs = rates(line)
    rows[(run, case, cap)] = (dirs, rs)
def med(xs):
    return "%.2f (%.2f-%.2f)" % (statistics.median(xs), min(xs), max(xs))
summary = []
for capped in (False, True):
    agg, per, bal, cpp, deliv, dropped = [], [], [], [], [], []
    for (run, case, cap), (dirs, rs) in sorted(rows.items()):
        if case != "three" or (cap != "max") != capped:
            continue
        one, _ = rows[(run, "one", cap)]
        one_tx, one_cpu = one[0][0], one[0][3]
        tx = [d[0] for d in dirs]
        three = sum(tx)
        agg.append(three / one_tx)
        per.append(three / 3 / one_tx)
        bal.append(min(tx) / max(tx))
        # CPU per forwarded packet, the three's over the one's.
        cpp.append((sum(d[3] for d in dirs) / three) / (one_cpu / one_tx))
        deliv.append(rs / three)
        # Dropped before the directors' workers took them (their rings
        # full: more offered than they move), as a share of what was
        # offered to them: one alone, then the three.
        drop = lambda ds: sum(d[2] for d in ds) / max(1, sum(d[1] + d[2] for d in ds))
        dropped.append(min(drop(one[:1]), drop(dirs)))
        # Packets a worker takes per RX batch (a wake-up in wakeup mode).
        batch = lambda ds: sum(d[1] for d in ds) / max(1, sum(d[4] for d in ds))
        print("run %s %s: one %.0f pps (cpu %.0f%%, dropped %.0f%%, %.1f per batch); three %s = %.0f pps "
              "(cpu %.0f%%, dropped %.0f%%, %.1f per batch); aggregate %.2f, per director %.2f, balance %.2f, "
              "CPU per packet %.2fx"
              % (run, "uncapped" if cap == "max" else "capped at " + cap, one_tx, 100 * one_cpu,
                 100 * drop(one[:1]), batch(one[:1]), " + ".join("%.0f" % t for t in tx), three,
                 100 * sum(d[3] for d in dirs), 100 * drop(dirs), batch(dirs), agg[-1], per[-1], bal[-1], cpp[-1]))
    if not agg:
        continue
    tag = "capped_" if capped else ""
    print("%s: aggregate 3 vs 1 %s, per director %s, balance (slowest/fastest) %s, CPU per packet 3 vs 1 %s, "
          "real servers received / directors sent %s" % ("capped" if capped else "uncapped", med(agg), med(per),
                                                         med(bal), med(cpp), med(deliv)))
    # Director-bound: in both cases of every run the directors dropped for
    # want of CPU (5 % or more of what was offered), so the router and the
    # generator offered more than they took.
    print("  director-bound in every run (both cases dropped >= 5%%): %s"
          % ("yes" if min(dropped) >= 0.05 else "no: the limit was elsewhere (router, generator) in some run"))
    summary.append("ecmp_%saggregate_3_vs_1=%.2f ecmp_%sper_director_3_vs_1=%.2f"
                   % (tag, statistics.median(agg), tag, statistics.median(per)))
print(" ".join(summary))
PY

# measure CASE CAP RUN: one measurement, appended to $D/results as
# "RUN CASE CAP SENT_PPS SNAP SNAP" and printed.
measure() {
  local case=$1 cap=$2 run=$3 i want a b gen sent
  if [ "$case" = one ]; then
    for i in 2 3; do "$BIN/xlbctl" --socket "$D/d$i.sock" drain-director >/dev/null; done
    want=10.201.2.1
  else
    for i in 2 3; do "$BIN/xlbctl" --socket "$D/d$i.sock" undrain-director >/dev/null; done
    want="10.201.2.1 10.201.2.2 10.201.2.3"
  fi
  wait_until 10 nexthops_are "$want" >/dev/null
  for i in 1 2 3; do cg_cap "$i" "$cap"; done
  # Bounded in time and count: SECS, at most 3 Mpps (more than this lab
  # moves), and a timeout in case the generator itself hangs.
  ip netns exec "$(ecmp_ns cli)" timeout $((SECS + 10)) taskset -c 1 "$BIN/xlb-gen" --iface c0 \
    --dst-mac "$RT_MAC" --src 10.201.1.2 --dst "$ECMP_VIP" --dport 9 --flows "$FLOWS" \
    --secs "$SECS" --count $((SECS * 3000000)) >"$D/gen.out" 2>&1 </dev/null &
  gen=$!
  ECMP_PIDS+=("$gen")
  sleep 1.5
  a=$(snap)
  sleep "$(awk -v s="$SECS" 'BEGIN { print s - 3 }')"
  b=$(snap)
  wait "$gen" || { echo "ecmp.sh: the generator failed:"; cat "$D/gen.out"; exit 1; }
  sent=$(sed -n 's/.*pps=\([0-9]*\).*/\1/p' "$D/gen.out" | head -1)
  echo "$run $case $cap ${sent:-0} $a $b" >>"$D/results"
  python3 "$D/rates.py" "$D/results" --last
}

echo "bench/ecmp.sh: $RUNS runs of ${SECS}s, $FLOWS flows, capped cases at $CAP of a core per director"
: >"$D/results"
for run in $(seq "$RUNS"); do
  for cap in max "$CAP"; do
    # The order alternates between runs: a drift of the machine cancels out.
    for case in $([ $((run % 2)) = 1 ] && echo "one three" || echo "three one"); do
      measure "$case" "$cap" "$run"
    done
  done
done
python3 "$D/rates.py" "$D/results"
# The directors' counts against the real servers' over the whole run (the
# windows above are short and the capped directors forward in bursts, so
# their two rates differ by a few per cent either way), the kernel's drops
# on the veths between them, and the directors' drops by reason.
sent=0 got=0
for i in 1 2 3; do
  sent=$((sent + $(ecmp_field "$i" "sum(w['tx_packets'] for w in s['workers'])")))
  got=$((got + $(ip netns exec "$(ecmp_ns rs$i)" cat /sys/class/net/r0/statistics/rx_packets)))
done
echo "whole run: the directors sent $sent packets, the real servers received $got (ARP and the like included)"
lost=$(for i in 1 2 3; do
  ip -n "$(ecmp_ns rt)" -s -j link show "b-rs$i"; ip -n "$(ecmp_ns rs$i)" -s -j link show r0
  ip -n "$(ecmp_ns rt)" -s -j link show "b-d$i"; ip -n "$(ecmp_ns d$i)" -s -j link show in0
done | python3 -c '
import json, sys
n = 0
for doc in sys.stdin.read().replace("][", "]\n[").splitlines():
    for l in json.loads(doc):
        n += l["stats64"]["rx"]["dropped"] + l["stats64"]["tx"]["dropped"]
print(n)')
echo "veth drops between the directors and the real servers: $lost"
for i in 1 2 3; do
  echo "d$i drops by reason: $(ecmp_field "$i" "' '.join('%s=%d' % (k, sum(w['drops'][k] for w in s['workers'])) for k in s['workers'][0]['drops'] if sum(w['drops'][k] for w in s['workers'])) or 'none'")"
done
