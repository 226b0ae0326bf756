#!/usr/bin/env bash
# Charts from the newest bench results (bench/results/, written by
# bench/lab.sh) into bench/charts/: side-by-side forwarding bars (median,
# min-max whiskers) and the connection-table scaling curve. Needs gnuplot
# (scripts/install-deps.sh --bench). Usage: bench/plot.sh [FORWARDING_FILE] [SCALE_FILE]
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p charts
fwd=${1:-$(ls -t results/forwarding-*.txt | head -1)}
scale=${2:-$(ls -t results/scale-*.txt | head -1)}
conns=$(ls -t results/conns-*.txt 2>/dev/null | head -1 || true)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 - "$fwd" >"$tmp/fwd.dat" <<'PY'
import sys, statistics
res = {}
for line in open(sys.argv[1]):
    n, v = line.split(); res.setdefault(n, []).append(int(v) / 1000)
names = {"kernel": "kernel fwd", "iptables": "iptables DNAT", "testpmd": "testpmd io-fwd",
         "xlbd-nat": "xlbd NAT", "xlbd-dr": "xlbd DR",
         "tcp-testpmd": "TCP mix: testpmd", "tcp-xlbd-nat": "TCP mix: xlbd NAT",
         "tcp-xlbd-dr": "TCP mix: xlbd DR"}
i = 0
for k, label in names.items():
    v = res.get(k)
    if v:
        print(f'{i} "{label}" {statistics.median(v):.1f} {min(v):.1f} {max(v):.1f}')
        i += 1
PY
# New connections/s per director from the conns run, if there is one.
if [ -n "$conns" ]; then
  python3 - "$conns" >"$tmp/conns.dat" <<'PY'
import re, sys, statistics
res = {}
for line in open(sys.argv[1]):
    m = re.match(r"^(\S+-close) (\d+) \d+ \d+ [\d.]+$", line)
    if m:
        res.setdefault(m.group(1), []).append(int(m.group(2)))
names = {"xlbd-close": "xlbd NAT, shared", "haproxy-close": "HAProxy tcp, shared", "iptables-close": "iptables DNAT, shared",
         "xlbd-capped-close": "xlbd NAT, 1/4 core", "haproxy-capped-close": "HAProxy tcp, 1/4 core"}
i = 0
for k, label in names.items():
    v = res.get(k)
    if v:
        print(f'{i} "{label}" {statistics.median(v):.0f} {min(v)} {max(v)}')
        i += 1
PY
fi
awk 'NR > 1 { print $1, $2, $6 }' "$scale" >"$tmp/scale.dat"
gnuplot <<EOT
set terminal pngcairo size 800,450 font ",10"
set output "charts/forwarding.png"
set title "64-byte frames through one forwarder on veth: UDP, and the TCP SYN+4 ACK mix\n(kpps, median of runs, min-max) $(basename "$fwd")"
set style fill solid 0.6
set boxwidth 0.6
set yrange [0:*]
set ylabel "kpps"
set xtics rotate by -20
set grid ytics
plot "$tmp/fwd.dat" using 1:3:xtic(2) with boxes notitle lc rgb "#4477aa", \
     "" using 1:3:4:5 with yerrorbars notitle lc rgb "black" pt 0

set output "charts/conn-scaling.png"
set title "Forwarder cost per packet vs live connections\n$(basename "$scale")"
set logscale x
set xlabel "live connections"
set ylabel "ns per packet"
set yrange [0:*]
set xtics rotate by 0
set key top left
plot "$tmp/scale.dat" using 1:2 with linespoints title "one packet at a time", \
     "" using 1:3 with linespoints title "batched with prefetch (worker: tables >= 32k)"
EOT
if [ -s "$tmp/conns.dat" ]; then
  gnuplot <<EOT
set terminal pngcairo size 800,450 font ",10"
set output "charts/connections.png"
set title "New connections/s through the VIP (wrk, Connection: close; median, min-max)\nshared: 2 cores with wrk and nginx, 16 in flight; 1/4 core: director capped, 64 in flight"
set style fill solid 0.6
set boxwidth 0.6
set yrange [0:*]
set ylabel "connections/s"
set xtics rotate by -20
set grid ytics
plot "$tmp/conns.dat" using 1:3:xtic(2) with boxes notitle lc rgb "#228833", \
     "" using 1:3:4:5 with yerrorbars notitle lc rgb "black" pt 0
EOT
fi
echo "charts/forwarding.png charts/connections.png charts/conn-scaling.png from $fwd, $scale ${conns:+, $conns}"
