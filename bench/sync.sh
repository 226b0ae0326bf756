#!/usr/bin/env bash
# Connection sync latency: how long after a client starts a connection the
# backup director has it. Two directors (scripts/lab.sh with LAB_HA=1),
# [sync] on the inside link; the client opens RATE TCP connections per
# second to the NAT VIP for SECS seconds through the master (each: connect,
# then close), while a poller asks the backup over its API for every
# connection it holds, back to back. A connection's latency is the end of
# the first poll whose answer lists it, minus the moment the client called
# connect(): an upper bound, it includes the poll that found it (the
# poll's own duration is printed).
# Prints p50, p99, max and, last:
#   sync_p99_ms=N
# Usage: bench/sync.sh [RATE] [SECS]   (default 200 connections/s, 10 s).
#        Needs root and the release binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RATE=${1:-200}
SECS=${2:-10}
VIP=10.200.1.100
BIN=$ROOT/target/release
[ -x "$BIN/xlbd" ] && [ -x "$BIN/xlbctl" ] || cargo build --release --quiet
P=xlbs-$$-$RANDOM
pids=()
down() {
  for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done
  for p in ${pids[@]+"${pids[@]}"}; do wait "$p" 2>/dev/null || true; done
  scripts/lab.sh down "$P" >/dev/null 2>&1 || true
}
trap down EXIT
LAB_HA=1 scripts/lab.sh up "$P" >/dev/null
D=$(scripts/lab.sh dir "$P")
for n in x1 x2; do
  mkdir -p "$D/$n"   # where the config's notify commands touch files
  prio=$([ $n = x1 ] && echo 250 || echo 100)
  sed -e "s/@PRIO@/$prio/g; s/@VERSION@/2/; s/@NOPREEMPT@/false/g; s#@DIR@#$D/$n#g" \
    tests/lab/configs/ha.toml >"$D/$n.toml"
  printf '\n[sync]\ninterface = "in0"\nsync_id = 7\n' >>"$D/$n.toml"
done
start() { # NS NAME
  ip netns exec "$P-$1" "$BIN/xlbd" --config "$D/$2.toml" --socket "$D/$2.sock" >"$D/$2.log" 2>&1 &
  pids+=("$!")
}
state() { "$BIN/xlbctl" --socket "$D/$1.sock" vrrp --json 2>/dev/null |
  python3 -c "import json,sys; print(json.load(sys.stdin)[0]['state'])" 2>/dev/null || true; }
start dir x1
start dir2 x2
for _ in $(seq 100); do
  [ "$(state x1)" = MASTER ] && [ "$(state x2)" = BACKUP ] && break
  sleep 0.1
done
[ "$(state x1)" = MASTER ] || { echo "sync.sh: no master after 10 s"; cat "$D/x1.log"; exit 1; }
for _ in $(seq 50); do
  ip netns exec "$P-cli" curl -s --max-time 0.5 "http://$VIP:8080/" | grep '^rs' >/dev/null && break
  sleep 0.1
done

# The poller: the backup's connections, back to back, until the client ends.
python3 - "$D/x2.sock" "$D/client.done" >"$D/seen" <<'PY' &
import json, os, socket, sys, time
path, done = sys.argv[1], sys.argv[2]
first = {}
took = []
while not os.path.exists(done):
    t0 = time.time()
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b'{"cmd":"conns","filter":{"service":"web","limit":1000000}}\n')
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    s.close()
    t1 = time.time()
    took.append(t1 - t0)
    for c in json.loads(buf).get("conns") or []:
        first.setdefault(c["client"], t1)
for k, t in first.items():
    print(k, "%.6f" % t)
took.sort()
print("# polls %d, median %.1f ms, max %.1f ms" % (len(took), 1e3 * took[len(took) // 2], 1e3 * took[-1]),
      file=sys.stderr)
PY
poller=$!; pids+=("$poller")
# The client: RATE connections per second, each connect() timed.
ip netns exec "$P-cli" python3 - "$VIP" "$RATE" "$SECS" >"$D/opened" <<'PY'
import socket, sys, time
vip, rate, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
start = time.time()
k = 0
while time.time() - start < secs:
    due = start + k / rate
    if due > time.time():
        time.sleep(due - time.time())
    s = socket.socket()
    s.bind(("10.200.1.2", 0))
    t = time.time()
    try:
        s.settimeout(2)
        s.connect((vip, 8080))
        print("10.200.1.2:%d %.6f" % (s.getsockname()[1], t))
    except OSError:
        print("# failed", file=sys.stderr)
    s.close()
    k += 1
PY
# Time for the last ones to arrive (well beyond the goal), then stop.
sleep 1
touch "$D/client.done"
wait "$poller"
python3 - "$D/opened" "$D/seen" <<'PY'
import sys
opened = dict(l.split() for l in open(sys.argv[1]) if not l.startswith("#"))
seen = dict(l.split() for l in open(sys.argv[2]) if not l.startswith("#"))
if not opened:
    sys.exit("sync.sh: the client opened no connection")
# A connection the backup never listed counts as beyond every percentile.
lat = sorted((float(seen[k]) - float(t)) * 1e3 if k in seen else float("inf")
             for k, t in opened.items())
missing = sum(1 for x in lat if x == float("inf"))
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print("connections %d, on the backup %d, never seen %d" % (len(opened), len(lat) - missing, missing))
print("latency ms: p50 %.1f  p99 %.1f  max %.1f" % (q(0.5), q(0.99), lat[-1]))
print("sync_p99_ms=%.0f" % q(0.99))
PY
"$BIN/xlbctl" --socket "$D/x1.sock" show --sync | sed 's/^/master: /'
