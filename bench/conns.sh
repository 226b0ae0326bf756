#!/usr/bin/env bash
# New connections per second and request latency through the VIP, side by
# side: xlbd NAT, HAProxy `mode tcp` and kernel iptables DNAT, each in the
# lab's director namespace in turn, in front of nginx on the three real
# servers. Client: wrk in the client namespace, one new connection per
# request (Connection: close) and keep-alive.
# Then xlbd and HAProxy again, each held to CAP (default 0.25) of one core
# by a cgroup CPU quota, with 64 connections in flight (enough to keep
# either busy): uncapped, wrk and nginx on the same two cores bound the
# rate (kernel DNAT, which costs the least CPU, comes out ahead of xlbd),
# so only the capped runs measure the directors themselves.
# Prints per-run figures, then medians (min-max) and
# conns_vs_haproxy=R (xlbd / HAProxy new connections/s with the director
# capped, median of per-run ratios; the shared-cores ratio is printed too).
# Usage: bench/conns.sh [RUNS] [SECONDS]   (default 3 runs of 6 s per case). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${1:-3}
SECS=${2:-6}
VIP=10.200.1.100
scripts/install-deps.sh --bench >/dev/null
cargo build --release --quiet
source bench/lib.sh
bench_lab xlbc
wire_like_veth
nginx_up 8081
in_ns cli sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
sleep 0.5

cat >"$D/xlb.toml" <<EOT
[daemon]
interfaces = ["out0", "in0"]
[[virtual_server]]
address = "$VIP"
port = 80
scheduler = "rr"
$(for i in 11 12 13; do printf '[[virtual_server.real_server]]\naddress = "10.200.2.%s"\nport = 8081\n' "$i"; done)
  [virtual_server.real_server.check]
  type = "misc"
  command = "test -e $D/rs13-up"
  interval = 0.2
  rise = 1
  fall = 1
[[virtual_server]]
address = "$VIP"
port = 53
protocol = "udp"
scheduler = "rr"
$(for i in 11 12 13; do printf '[[virtual_server.real_server]]\naddress = "10.200.2.%s"\n' "$i"; done)
EOT
touch "$D/rs13-up"
# The reload alternates weights (a real change every time).
sed 's/^port = 8081$/port = 8081\nweight = 2/' "$D/xlb.toml" >"$D/xlb-b.toml"
cat >"$D/haproxy.cfg" <<EOT
global
  maxconn 8000
defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend f
  bind $VIP:80
  default_backend b
backend b
  balance roundrobin
$(for i in 11 12 13; do echo "  server rs$i 10.200.2.$i:8081"; done)
EOT

# wrk_run HEADER -> "rps p50_us p99_us" (WRK_CONNS connections at a time)
WRK_CONNS=16
wrk_run() {
  in_ns cli wrk -t1 -c"$WRK_CONNS" -d"${SECS}s" --latency ${1:+-H "$1"} "http://$VIP/" 2>&1 | wrk_figures
}

case_run() { # name [pid [close-only]] -> "name-close rps p50 p99 cpu_ms_per_1k_conns" and "name-keepalive ..."
  local c k c0 c1
  c0=$(cpu "${2:-}")
  c=$(wrk_run "Connection: close")
  c1=$(cpu "${2:-}")
  local rps=${c%% *}
  echo "$1-close $c $(awk -v a="$c0" -v b="$c1" -v n="$rps" -v s="$SECS" 'BEGIN { printf "%.1f", (b - a) * 1e6 / (n * s) }')"
  [ "${3:-}" = close-only ] && return
  k=$(wrk_run "")
  echo "$1-keepalive $k 0"
}

: >"$D/results"
# directors TAG [close-only]: xlbd, then HAProxy, each up, measured once and
# down; with TAG "-capped" each is put into the CPU-quota cgroup first.
directors() {
  local x h
  ip netns exec "$P-dir" "$ROOT/target/release/xlbd" --config "$D/xlb.toml" --socket "$D/x.sock" >"$D/xlbd.log" 2>&1 &
  x=$!; pids+=($x); sleep 2
  if [ -n "$1" ]; then cg_put "$x"; fi
  case_run "xlbd$1" "$x" "${2:-}" | tee -a "$D/results"
  kill "$x" 2>/dev/null || true; wait "$x" 2>/dev/null || true
  ip netns exec "$P-dir" haproxy -db -f "$D/haproxy.cfg" >"$D/haproxy.log" 2>&1 &
  h=$!; pids+=($h); sleep 1
  if [ -n "$1" ]; then cg_put "$h"; fi
  case_run "haproxy$1" "$h" "${2:-}" | tee -a "$D/results"
  kill "$h" 2>/dev/null || true; wait "$h" 2>/dev/null || true
}
for run in $(seq "$RUNS"); do directors ""; done
# The same two directors, each held to CAP of a core, with enough
# connections in flight to keep the capped director busy (with 16, the
# rate is bound by the round trip the throttling lengthens, not by work).
cg_make
WRK_CONNS=64
for run in $(seq "$RUNS"); do directors -capped close-only; done
WRK_CONNS=16
# Kernel DNAT last: once the nat table exists, conntrack follows every
# packet in the director's namespace for good (flushing the rules does not
# unhook it), which would slow HAProxy's later runs (xlbd's frames bypass
# the stack).
for run in $(seq "$RUNS"); do
  for i in 0 1 2; do
    in_ns dir iptables -t nat -A PREROUTING -d "$VIP" -p tcp --dport 80 -m statistic --mode nth \
      --every $((3 - i)) --packet 0 -j DNAT --to-destination "10.200.2.$((11 + i)):8081"
  done
  case_run iptables | tee -a "$D/results"
  in_ns dir iptables -t nat -F PREROUTING
done
# Under load: reloads, and a health-check flap, while new connections keep
# coming (wrk: errors = broken connections) and UDP datagrams are echoed
# back through the VIP (lost = sent - echoed).
udp_probe() { # seconds -> "sent echoed"
  ip netns exec "$P-cli" python3 - "$VIP" "$1" <<'PYU'
import socket, sys, time
vip, secs = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
for x in socks: x.setblocking(False)
sent = got = 0
end = time.time() + secs
while time.time() < end:
    for x in socks:
        try:
            x.sendto(b"%d" % sent, (vip, 53)); sent += 1
        except BlockingIOError:
            pass
    for x in socks:
        while True:
            try: x.recv(64); got += 1
            except BlockingIOError: break
    time.sleep(0.002)
t = time.time() + 1
while time.time() < t:
    for x in socks:
        try: x.recv(64); got += 1
        except BlockingIOError: pass
    time.sleep(0.01)
print(sent, got)
PYU
}
ip netns exec "$P-dir" "$ROOT/target/release/xlbd" --config "$D/xlb.toml" --socket "$D/x.sock" >"$D/xlbd-load.log" 2>&1 &
x=$!; pids+=($x); sleep 2
under_load() { # label action -> "label wrk_errors udp_sent udp_echoed"
  (sleep 0.5; eval "$2") &
  local a=$!
  ip netns exec "$P-cli" wrk -t1 -c16 -d"${SECS}s" -H "Connection: close" "http://$VIP/" >"$D/wrk-$1.txt" 2>&1 &
  local w=$!
  local u; u=$(udp_probe "$SECS")
  wait "$w" || true; wait "$a" || true
  local errs; errs=$(python3 -c 'import re,sys; t=open(sys.argv[1]).read(); e=re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t); n=re.search(r"Non-2xx or 3xx responses: (\d+)", t); r=re.search(r"(\d+) requests in", t); print(sum(map(int, e.groups())) if e else 0, int(n.group(1)) if n else 0, r.group(1))' "$D/wrk-$1.txt")
  echo "$1 $errs $u"
}
reloads() {
  local k f
  for k in 1 2 3 4; do
    f=$D/xlb.toml; [ $((k % 2)) = 1 ] && f=$D/xlb-b.toml
    "$ROOT/target/release/xlbctl" --socket "$D/x.sock" reload "$f" >/dev/null
    sleep 0.5
  done
}
flaps() { for k in 1 2 3 4; do rm -f "$D/rs13-up"; sleep 0.4; touch "$D/rs13-up"; sleep 0.4; done; }
: >"$D/load"
for run in $(seq "$RUNS"); do
  under_load quiet true | tee -a "$D/load"
  under_load reload reloads | tee -a "$D/load"
  under_load flap flaps | tee -a "$D/load"
done
kill "$x" 2>/dev/null || true; wait "$x" 2>/dev/null || true
echo "during the load phase xlbd logged $(grep -c 'configuration reloaded' "$D/xlbd-load.log") reloads and $(grep -c 'real server DOWN' "$D/xlbd-load.log") health-down transitions"
python3 - "$D/load" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split(); rows.setdefault(f[0], []).append(list(map(int, f[1:])))
print("under load (per run): wrk errors, non-2xx, requests; UDP sent, echoed, lost")
for k, v in rows.items():
    for e, n, r, s, g in v:
        print(f"  {k:<7} errors={e} non2xx={n} requests={r}  udp sent={s} echoed={g} lost={s - g}")
broken = sum(e + n for k in ("reload", "flap") for e, n, *_ in rows.get(k, []))
lost = sum(s - g for k in ("reload", "flap") for *_, s, g in rows.get(k, []))
base = sum(s - g for *_, s, g in rows.get("quiet", []))
print(f"broken_on_reload_and_flap={broken} udp_lost_on_reload_and_flap={lost} udp_lost_quiet={base}")
PY
python3 - "$D/results" <<'PY'
import sys, statistics as st
res = {}
for line in open(sys.argv[1]):
    f = line.split()
    res.setdefault(f[0], []).append((float(f[1]), float(f[2]), float(f[3]), float(f[-1])))
print("case                conn/s or req/s (median min-max)   p50 us   p99 us   LB cpu ms per 1k conns")
for k, v in res.items():
    r = [x[0] for x in v]
    cpu = st.median(x[3] for x in v)
    print(f"{k:<19} {st.median(r):>9.0f} ({min(r):.0f}-{max(r):.0f})        {st.median(x[1] for x in v):>6.0f}   {st.median(x[2] for x in v):>6.0f}   {cpu if cpu else '-'}")
cpu = [a[3] / b[3] for a, b in zip(res["xlbd-close"], res["haproxy-close"]) if b[3]]
if cpu:
    print(f"LB CPU per new connection, xlbd/haproxy: {st.median(cpu):.2f}")
ratio = [a[0] / b[0] for a, b in zip(res["xlbd-close"], res["haproxy-close"])]
p99 = [a[2] / b[2] for a, b in zip(res["xlbd-close"], res["haproxy-close"])]
ipt = [a[0] / b[0] for a, b in zip(res["xlbd-close"], res["iptables-close"])]
print(f"xlbd/haproxy new conn/s per run: {', '.join(f'{x:.2f}' for x in ratio)}; p99 xlbd/haproxy: {st.median(p99):.2f}; xlbd/iptables conn/s: {st.median(ipt):.2f}")
capped = [a[0] / b[0] for a, b in zip(res["xlbd-capped-close"], res["haproxy-capped-close"])]
p99c = [a[2] / b[2] for a, b in zip(res["xlbd-capped-close"], res["haproxy-capped-close"])]
print(f"director-bound (each held to a share of one core): xlbd/haproxy new conn/s per run: "
      f"{', '.join(f'{x:.2f}' for x in capped)}; p99 xlbd/haproxy: {st.median(p99c):.2f}")
print(f"conns_vs_haproxy_shared_cores={st.median(ratio):.2f}")
print(f"conns_vs_haproxy={st.median(capped):.2f}")
PY
