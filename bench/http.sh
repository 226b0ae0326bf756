#!/usr/bin/env bash
# xlbd's proxy against HAProxy, side by side in one run: one haproxy.cfg,
# run by Debian's haproxy and, imported with `xlbctl import`, by xlbd; each
# alone in the lab's director namespace in turn, one thread each, held to
# the same CAP (default 0.5) of one core by a cgroup CPU quota, in front of
# nginx on the three real servers; wrk in the client namespace.
#   keep-alive   requests/s and p99, 64 connections kept open
#   close        new connections/s and p99 (Connection: close)
#   tls          TLS handshakes/s (HTTPS, Connection: close: one full
#                handshake per request, ECDSA P-256)
#   idle memory  RSS growth per idle keep-alive connection, 9000
#                connections that each made one request (not capped; this
#                machine kind's hard limit of 20000 open files per process
#                bounds haproxy's maxconn at 9900: two descriptors each)
# Each case also counts the director's TIME_WAIT sockets toward the servers
# at its end ("tw"): a proxy that closes server connections it could keep
# leaves them, and at about half of the servers' port space connect() stalls
# every case after it (xlbd did, until it kept them as HAProxy does).
# Prints per-run figures, medians (min-max), the ratios, and last
#   http_vs_haproxy=R   (keep-alive requests/s, xlbd / haproxy, median of
#                        per-run ratios)
# Usage: bench/http.sh [RUNS] [SECONDS] [IDLE]   (default 3 runs of 6 s per
#        case, 9000 idle connections; IDLE=0 skips the memory pass).
#        Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${1:-3}
SECS=${2:-6}
IDLE=${3:-9000}
CAP=${CAP:-0.5}
VIP=10.200.1.100
scripts/install-deps.sh --bench >/dev/null
cargo build --release --quiet
source bench/lib.sh
bench_lab xlbh
wire_like_veth
nginx_up 8081
in_ns cli sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
in_ns dir sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.core.somaxconn=4096
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=bench.xlb.test" -keyout "$D/site.key" -out "$D/site.crt" 2>/dev/null
cat "$D/site.crt" "$D/site.key" >"$D/site.pem"
cat >"$D/haproxy.cfg" <<EOT
global
  maxconn 9900
  nbthread 1

defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 10s
  timeout http-request 10s
  timeout http-keep-alive 60s

frontend web
  bind $VIP:80
  bind $VIP:443 ssl crt $D/site.pem
  default_backend farm

backend farm
  balance roundrobin
$(for i in 1 2 3; do echo "  server rs$i 10.200.2.1$i:8081"; done)
EOT
haproxy -c -q -f "$D/haproxy.cfg"
"$ROOT/target/release/xlbctl" import "$D/haproxy.cfg" >"$D/xlb.toml" 2>"$D/import.warn"
if [ -s "$D/import.warn" ]; then echo "import warned:" >&2; cat "$D/import.warn" >&2; exit 1; fi

# start NAME: the proxy in the director namespace (its pid in $pid), once
# it answers on port 80. Not in a $(...) subshell: the proxy must be this
# shell's child, for `stop` and for the cleanup.
# start NAME [nothp]: nothp runs it without transparent huge pages
# (PR_SET_THP_DISABLE, for itself alone), so that its RSS grows by 4 KiB
# pages: with them it grows by 2 MiB steps, and the memory per idle
# connection of 9000 came out 1049 to 1398 bytes for one build depending
# on where the steps fell.
start() {
  local bin=haproxy args="-db -f $D/haproxy.cfg" wrap=()
  [ "$1" = xlbd ] && bin=$ROOT/target/release/xlbd args="--config $D/xlb.toml --socket $D/x.sock"
  [ "${2:-}" = nothp ] && wrap=(python3 -c 'import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE
os.execvp(sys.argv[1], sys.argv[1:])')
  ip netns exec "$P-dir" "${wrap[@]}" $bin $args >"$D/$1.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    in_ns cli curl -s -o /dev/null -m 1 "http://$VIP/" && return
    sleep 0.1
  done
  echo "$1 did not answer on $VIP:80" >&2; cat "$D/$1.log" >&2; return 1
}
# stop PID: and wait until it is gone (its listeners with it).
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
  kill -9 "$1" 2>/dev/null || true
}

wrk_case() { # URL [HEADER] -> rate p50 p99 tw [wrk's errors]
  local rate p50 p99 rest
  read -r rate p50 p99 rest < <(in_ns cli wrk -t1 -c64 -d"${SECS}s" --latency ${2:+-H "$2"} "$1" 2>&1 | wrk_figures)
  # (wrk_figures says why on stderr when wrk gave no figures.)
  [ -n "$p99" ] || return 1
  echo "$rate $p50 $p99 $(in_ns dir ss -Htan state time-wait dst 10.200.2.0/24 | wc -l) $rest"
}

# idle PID N -> bytes of RSS per idle keep-alive connection: N clients
# each make one request and stay connected.
idle() {
  in_ns cli python3 - "$VIP" "$1" "$2" <<'PY'
import re, resource, socket, sys, time
vip, pid, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1000, n + 1000))
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
time.sleep(0.5)
before = rss()
conns = []
for _ in range(n):
    s = socket.create_connection((vip, 80), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    got = b""
    while not re.search(rb"\r\n\r\nrs\d\n$", got):
        b = s.recv(4096)
        if not b:
            sys.exit("a connection closed before its answer")
        got += b
    conns.append(s)
time.sleep(1.0)
after = rss()
# Every connection must still be open (nothing to read: no close, no data).
for s in conns:
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            sys.exit("an idle connection was closed")
    except BlockingIOError:
        pass
print(f"{(after - before) / n:.0f}")
for s in conns:
    s.close()
PY
}

: >"$D/results"
cg_make
for run in $(seq "$RUNS"); do
  for name in xlbd haproxy; do
    start "$name"
    cg_put "$pid"
    echo "$name-keepalive $(wrk_case "http://$VIP/")" | tee -a "$D/results"
    echo "$name-close $(wrk_case "http://$VIP/" "Connection: close")" | tee -a "$D/results"
    echo "$name-tls $(wrk_case "https://$VIP/" "Connection: close")" | tee -a "$D/results"
    stop "$pid"
  done
done
if [ "$IDLE" -gt 0 ]; then
  for name in xlbd haproxy; do
    start "$name" nothp
    echo "$name-idle $(idle "$pid" "$IDLE")" | tee -a "$D/results"
    stop "$pid"
  done
fi
python3 - "$D/results" <<'PY'
import sys, statistics as st
res = {}
for line in open(sys.argv[1]):
    f = line.split()
    res.setdefault(f[0], []).append([float(x) for x in f[1:5]])
print("case                rate/s (median min-max)       p50 us   p99 us  TIME_WAIT to servers at the end (last 60 s)")
for k, v in res.items():
    if k.endswith("-idle"):
        print(f"{k:<19} {v[0][0]:>7.0f} bytes per idle keep-alive connection")
        continue
    r = [x[0] for x in v]
    print(f"{k:<19} {st.median(r):>7.0f} ({min(r):.0f}-{max(r):.0f})     {st.median(x[1] for x in v):>7.0f}  {st.median(x[2] for x in v):>7.0f}  {max(x[3] for x in v):>7.0f}")
def ratios(case, i):
    return [a[i] / b[i] for a, b in zip(res[f"xlbd-{case}"], res[f"haproxy-{case}"]) if b[i]]
out = {}
for case in ("keepalive", "close", "tls"):
    r, p = ratios(case, 0), ratios(case, 2)
    out[case] = st.median(r)
    print(f"{case:<10} xlbd/haproxy rate per run: {', '.join(f'{x:.2f}' for x in r)}; p99 xlbd/haproxy: {st.median(p):.2f}")
if "xlbd-idle" in res and res["haproxy-idle"][0][0]:
    print(f"idle memory xlbd/haproxy: {res['xlbd-idle'][0][0] / res['haproxy-idle'][0][0]:.2f}")
print(f"http_close_vs_haproxy={out['close']:.2f} tls_vs_haproxy={out['tls']:.2f}")
print(f"http_vs_haproxy={out['keepalive']:.2f}")
PY
