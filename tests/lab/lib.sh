# Helpers for lab tests: each test gets its own lab (unique prefix) and its
# own xlbd, both removed on exit whatever happens. Sourced by run.sh.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${XLB_BIN:-$ROOT/target/release}
VIP=10.200.1.100
VIP6=2001:db8:1::100

lab_up() {
  P=$("$ROOT/scripts/lab.sh" up "xlbt-$$-$RANDOM")
  # The lab's own folder (scripts/lab.sh dir): configs, sockets, logs.
  D=$("$ROOT/scripts/lab.sh" dir "$P")
  trap lab_down EXIT
}

lab_down() {
  stop_xlbd
  for pid in ${EXTRA_PIDS[@]+"${EXTRA_PIDS[@]}"}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${EXTRA_PIDS[@]+"${EXTRA_PIDS[@]}"}; do wait "$pid" 2>/dev/null || true; done
  "$ROOT/scripts/lab.sh" down "$P" >/dev/null 2>&1 || true
}

# start_xlbd CONFIG: run xlbd in the director namespace and wait until every
# real server's MAC is resolved (or fail after 15 s).
start_xlbd() {
  SOCK=$D/xlbd.sock
  ip netns exec "$P-dir" "$BIN/xlbd" --config "$1" --socket "$SOCK" >"$D/xlbd.log" 2>&1 &
  XLBD_PID=$!
  for _ in $(seq 150); do
    if "$BIN/xlbctl" --socket "$SOCK" show --json 2>/dev/null |
      python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if all(r["resolved"] for v in s["services"] for r in v["reals"]) else 1)' 2>/dev/null; then
      return 0
    fi
    kill -0 "$XLBD_PID" 2>/dev/null || { echo "xlbd exited:"; cat "$D/xlbd.log"; return 1; }
    sleep 0.1
  done
  echo "xlbd did not resolve its real servers in 15 s:"; cat "$D/xlbd.log"; return 1
}

stop_xlbd() {
  if [ -n "${XLBD_PID:-}" ]; then
    kill "$XLBD_PID" 2>/dev/null || true
    wait "$XLBD_PID" 2>/dev/null || true
    XLBD_PID=
  fi
}

xlbctl() { "$BIN/xlbctl" --socket "$SOCK" "$@"; }
in_client() { ip netns exec "$P-cli" "$@"; }

# http_split N URL: N sequential requests, each a new connection; prints
# "rs1=a rs2=b rs3=c fail=f".
http_split() {
  local n=$1 url=$2 out
  out=$(in_client bash -c "for i in \$(seq $n); do curl -s --max-time 3 '$url' || echo fail; done")
  printf 'rs1=%s rs2=%s rs3=%s fail=%s\n' \
    "$(grep -c '^rs1$' <<<"$out")" "$(grep -c '^rs2$' <<<"$out")" \
    "$(grep -c '^rs3$' <<<"$out")" "$(grep -c '^fail$' <<<"$out")"
}

# udp_split N PORT [ADDRESS]: N datagrams to the VIP (or ADDRESS, IPv4 or
# IPv6), each from a new socket, each answer checked to come from
# VIP:PORT and to echo its datagram; prints "rs1=a rs2=b rs3=c fail=f".
# The sockets stay open to the end: a closed one's port may be picked
# again, and a datagram from it is the old flow's, not a new one to
# schedule (one split in ~30 had 11/10/9).
udp_split() {
  in_client python3 - "${3:-$VIP}" "$2" "$1" <<'PY'
import socket, sys, collections
vip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
family = socket.AF_INET6 if ":" in vip else socket.AF_INET
c = collections.Counter()
held = []
for i in range(n):
    s = socket.socket(family, socket.SOCK_DGRAM)
    held.append(s)
    s.settimeout(2)
    s.sendto(b"q%d" % i, (vip, port))
    try:
        data, src = s.recvfrom(100)
        assert src[:2] == (vip, port), src  # the reply comes from the VIP
        assert data.endswith(b"q%d" % i), data
        c[data.split()[0].decode()] += 1
    except socket.timeout:
        c["fail"] += 1
print(" ".join("%s=%d" % (k, c[k]) for k in ("rs1", "rs2", "rs3", "fail")))
PY
}

# json_get EXPR: evaluate a Python expression on `xlbctl show --json` as s.
json_get() {
  xlbctl show --json | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"
}

assert_eq() {
  if [ "$1" != "$2" ]; then
    echo "FAIL: ${3:-values differ}: got '$1', want '$2'"
    return 1
  fi
}

# A second lab director and keepalived for the VRRP tests: every process
# started here is remembered and killed (by PID) when the lab goes down.
EXTRA_PIDS=()

# start_ha_xlbd NS NAME CONFIG: xlbd in namespace NS with socket
# $D/NAME.sock; sets NAME_PID (e.g. x1_PID).
start_ha_xlbd() {
  ip netns exec "$P-$1" "$BIN/xlbd" --config "$3" --socket "$D/$2.sock" \
    >>"$D/$2.log" 2>&1 &
  local pid=$!
  EXTRA_PIDS+=("$pid")
  printf -v "${2}_PID" '%s' "$pid"
  for _ in $(seq 100); do
    "$BIN/xlbctl" --socket "$D/$2.sock" vrrp >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { echo "xlbd $2 exited:"; cat "$D/$2.log"; return 1; }
    sleep 0.1
  done
  echo "xlbd $2 never answered"; return 1
}

# start_keepalived NS NAME CONF: Debian's keepalived, VRRP only, in NS.
start_keepalived() {
  ip netns exec "$P-$1" keepalived --vrrp --dont-fork --log-console --log-detail \
    --use-file "$3" --pid "$D/$2.pid" --vrrp_pid "$D/$2-vrrp.pid" \
    >>"$D/$2.log" 2>&1 &
  local pid=$!
  EXTRA_PIDS+=("$pid")
  printf -v "${2}_PID" '%s' "$pid"
}

# vrrp_state NAME INSTANCE: the instance's state in xlbd NAME ("" if down).
vrrp_state() {
  "$BIN/xlbctl" --socket "$D/$1.sock" vrrp --json 2>/dev/null |
    python3 -c "import json,sys; print(next((i['state'] for i in json.load(sys.stdin) if i['name']=='$2'), ''))" 2>/dev/null || true
}

# wait_until SECONDS CMD...: poll CMD every 50 ms; print the seconds it took.
wait_until() {
  local limit=$1; shift
  local t0; t0=$(date +%s%N)
  while :; do
    if "$@"; then
      awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f\n", (b - a) / 1e9 }'
      return 0
    fi
    if [ $(( ($(date +%s%N) - t0) / 1000000 )) -gt $((limit * 1000)) ]; then
      echo "FAIL: not within ${limit}s: $*" >&2; return 1
    fi
    sleep 0.05
  done
}

is_state() { [ "$(vrrp_state "$1" "$2")" = "$3" ]; }
holds_vip() { ip -n "$P-$1" -4 addr show dev out0 | has "inet $VIP/"; }
vip_answers() { in_client curl -s --max-time 0.5 "http://$VIP:8080/" | has '^rs'; }

# `... | has PATTERN`: grep -q under pipefail fails at random, since it exits
# at the first match and the writer's SIGPIPE then fails the pipeline.
has() { grep "$@" >/dev/null; }
export -f has  # for the checks that wait_until runs in `bash -c`
# less_than A B: true when the number A < B.
less_than() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# link_local_ready HOST IFACE: waits (5 s at most) until IFACE of $P-HOST
# has its link-local IPv6 address past duplicate address detection: VRRP
# over IPv6 speaks from it, and cannot before.
link_local_ready() {
  wait_until 5 bash -c "ip -n $P-$1 -6 addr show dev $2 scope link | has inet6 &&
    ! ip -n $P-$1 -6 addr show dev $2 | has tentative" >/dev/null
}

# xdp_decapsulated NS: packets the IP-in-IP unwrapping XDP program
# (scripts/lab/ipip_decap.c) on NS's r0 unwrapped (its map, found from the
# program attached).
xdp_decapsulated() {
  local prog map
  prog=$(ip -n "$1" -j link show r0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["xdp"]["prog"]["id"])')
  map=$(bpftool prog show id "$prog" -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["map_ids"][0])')
  bpftool map dump id "$map" -j | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["formatted"]["value"])'
}
