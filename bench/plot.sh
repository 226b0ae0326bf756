#!/usr/bin/env bash
# Charts from the newest bench results (bench/results/, written by
# bench/lab.sh) into bench/charts/: side-by-side forwarding and
# connection-rate bars (median, min-max whiskers) and the connection-table
# scaling curve. Needs gnuplot
# (scripts/install-deps.sh --bench). Usage: bench/plot.sh [FORWARDING_FILE] [SCALE_FILE] [CONNS_FILE]
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p charts
fwd=${1:-$(ls -t results/forwarding-*.txt | head -1)}
scale=${2:-$(ls -t results/scale-*.txt | head -1)}
conns=${3:-$(ls -t results/conns-*.txt 2>/dev/null | head -1 || true)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# bars FILE SCALE NAME=LABEL... > DAT: "i label median min max" per NAME
# found in FILE, from lines "NAME N [N...]" (numbers only after the name),
# values divided by SCALE.
bars() {
  python3 - "$@" <<'PY'
import sys, statistics
path, scale, pairs = sys.argv[1], float(sys.argv[2]), [a.split("=", 1) for a in sys.argv[3:]]
res = {}
for line in open(path):
    f = line.split()
    if len(f) >= 2 and all(x.replace(".", "", 1).isdigit() for x in f[1:]):
        res.setdefault(f[0], []).append(float(f[1]) / scale)
i = 0
for name, label in pairs:
    v = res.get(name)
    if v:
        print(f'{i} "{label}" {statistics.median(v):.1f} {min(v):.1f} {max(v):.1f}')
        i += 1
PY
}
# bar_chart DAT PNG TITLE YLABEL COLOUR
bar_chart() {
  gnuplot <<EOT
set terminal pngcairo size 800,450 font ",10"
set output "$2"
set title "$3"
set style fill solid 0.6
set boxwidth 0.6
set yrange [0:*]
set ylabel "$4"
set xtics rotate by -20
set grid ytics
plot "$1" using 1:3:xtic(2) with boxes notitle lc rgb "$5", \
     "" using 1:3:4:5 with yerrorbars notitle lc rgb "black" pt 0
EOT
}
bars "$fwd" 1000 "kernel=kernel fwd" "iptables=iptables DNAT" "testpmd=testpmd io-fwd" \
  "xlbd-nat=xlbd NAT" "xlbd-dr=xlbd DR" "tcp-testpmd=TCP mix: testpmd" \
  "tcp-xlbd-nat=TCP mix: xlbd NAT" "tcp-xlbd-dr=TCP mix: xlbd DR" >"$tmp/fwd.dat"
bar_chart "$tmp/fwd.dat" charts/forwarding.png \
  "64-byte frames through one forwarder on veth: UDP, and the TCP SYN+4 ACK mix\n(kpps, median of runs, min-max) $(basename "$fwd")" \
  kpps "#4477aa"
# New connections/s per director from the conns run, if there is one.
if [ -n "$conns" ]; then
  bars "$conns" 1 "xlbd-close=xlbd NAT, shared" "haproxy-close=HAProxy tcp, shared" \
    "iptables-close=iptables DNAT, shared" "xlbd-capped-close=xlbd NAT, 1/4 core" \
    "haproxy-capped-close=HAProxy tcp, 1/4 core" >"$tmp/conns.dat"
  bar_chart "$tmp/conns.dat" charts/connections.png \
    "New connections/s through the VIP (wrk, Connection: close; median, min-max)\nshared: 2 cores with wrk and nginx, 16 in flight; 1/4 core: director capped, 64 in flight" \
    connections/s "#228833"
fi
awk 'NR > 1 { print $1, $2, $6 }' "$scale" >"$tmp/scale.dat"
gnuplot <<EOT
set terminal pngcairo size 800,450 font ",10"
set output "charts/conn-scaling.png"
set title "Forwarder cost per packet vs live connections\n$(basename "$scale")"
set logscale x
set xlabel "live connections"
set ylabel "ns per packet"
set yrange [0:*]
set key top left
plot "$tmp/scale.dat" using 1:2 with linespoints title "one packet at a time", \
     "" using 1:3 with linespoints title "batched with prefetch (worker: tables >= 32k)"
EOT
echo "charts/forwarding.png charts/connections.png charts/conn-scaling.png from $fwd, $scale ${conns:+, $conns}"
