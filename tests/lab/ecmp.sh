# Active/active lab tests: directors behind an ECMP router, each xlbd
# announcing the VIP over BGP through the BIRD it runs ([announce]).
# Sourced by run.sh. Processes are started with `ip netns exec ... &`
# (not through a shell function), so that $! is the process itself, which
# is what the test kills. The topology is this file's own (docs/scale-out.md):
#
#   client c0 10.201.1.2 --- rt-cli 10.201.1.254  router "rt" (BIRD, AS 65000,
#                                                  ECMP: merge paths, L4 hash)
#                            br-front 10.201.2.254 --- dN out0 10.201.2.N  (AS 65001)
#                            br-back  10.201.3.254 --- dN in0  10.201.3.N
#                                                  +-- rsN r0 10.201.3.1N (VIP on lo)
#
# Directors d1..d4 (d4 joins later) forward with `mh`, in DR mode or in
# TUN mode (ECMP_MODE, set by each test: the same scenario runs for both);
# real servers answer the client straight through the router. In TUN mode
# they unwrap IP-in-IP with scripts/lab/ipip_decap.c on r0, as tun.sh's do
# (this kernel has no ipip module).

ECMP_VIP=10.201.100.100
ECMP_RS=(10.201.3.11 10.201.3.12 10.201.3.13)
ECMP_MODE=dr

ecmp_ns() { echo "$E-$1"; }
in_e() { local n=$1; shift; ip netns exec "$(ecmp_ns "$n")" "$@"; }

# ecmp_up: the namespaces, links, real servers and the router's BIRD; every
# name carries the prefix $E, every process is remembered by PID.
ecmp_up() {
  E="xlbe-$$-$RANDOM"
  D=${XLB_LAB_STATE:-/tmp/xlb-lab}/$E
  mkdir -p "$D"
  ECMP_PIDS=()
  ECMP_NAMES="cli rt rs1 rs2 rs3 d1 d2 d3 d4"
  trap ecmp_down EXIT
  mountpoint -q /run/xlb/bpf || { mkdir -p /run/xlb/bpf && mount -t bpf bpf /run/xlb/bpf; }
  for n in $ECMP_NAMES; do
    ip netns add "$(ecmp_ns $n)"
    ip -n "$(ecmp_ns $n)" link set lo up
  done
  local rt; rt=$(ecmp_ns rt)
  ip link add c0 netns "$(ecmp_ns cli)" type veth peer name rt-cli netns "$rt"
  ip -n "$rt" link add br-front type bridge
  ip -n "$rt" link add br-back type bridge
  ip -n "$rt" addr add 10.201.1.254/24 dev rt-cli
  ip -n "$rt" addr add 10.201.2.254/24 dev br-front
  ip -n "$rt" addr add 10.201.3.254/24 dev br-back
  for l in rt-cli br-front br-back; do ip -n "$rt" link set "$l" up; done
  # L4 hash: the flows of one client spread over every next hop.
  in_e rt sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.fib_multipath_hash_policy=1
  for k in iptables ip6tables arptables; do
    in_e rt sysctl -qw "net.bridge.bridge-nf-call-$k=0" 2>/dev/null || true
  done
  ip -n "$(ecmp_ns cli)" addr add 10.201.1.2/24 dev c0
  # More client addresses: mh hashes the source address, so long-lived
  # connections from several reach several real servers.
  for a in 3 4 5 6 7 8 9; do ip -n "$(ecmp_ns cli)" addr add 10.201.1.$a/24 dev c0; done
  ip -n "$(ecmp_ns cli)" link set c0 up
  ip -n "$(ecmp_ns cli)" route add default via 10.201.1.254
  for i in 1 2 3 4; do
    local d; d=$(ecmp_ns d$i)
    ip link add out0 netns "$d" type veth peer name f-d$i netns "$rt"
    ip link add in0 netns "$d" type veth peer name b-d$i netns "$rt"
    ip -n "$rt" link set f-d$i master br-front up
    ip -n "$rt" link set b-d$i master br-back up
    ip -n "$d" addr add 10.201.2.$i/24 dev out0
    ip -n "$d" addr add 10.201.3.$i/24 dev in0
    ip -n "$d" link set out0 up
    ip -n "$d" link set in0 up
    ecmp_offloads_off "$rt" f-d$i
  done
  if [ "$ECMP_MODE" = tun ]; then
    clang -O2 -g -target bpf -I/usr/include/"$(gcc -dumpmachine)" \
      -c "$ROOT/scripts/lab/ipip_decap.c" -o "$D/ipip_decap.o"
  fi
  for i in 1 2 3; do
    local r; r=$(ecmp_ns rs$i)
    ip link add r0 netns "$r" type veth peer name b-rs$i netns "$rt"
    ip -n "$rt" link set b-rs$i master br-back up
    ip -n "$r" addr add "${ECMP_RS[$((i-1))]}/24" dev r0
    ip -n "$r" link set r0 up
    ip -n "$r" route add default via 10.201.3.254
    ip -n "$r" addr add "$ECMP_VIP/32" dev lo
    in_e rs$i sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
      net.ipv4.conf.r0.arp_ignore=1 net.ipv4.conf.r0.arp_announce=2
    ecmp_offloads_off "$r" r0
    if [ "$ECMP_MODE" = tun ]; then
      ip -n "$r" link set dev r0 xdpdrv obj "$D/ipip_decap.o" sec xdp
    fi
    ip netns exec "$r" python3 "$ROOT/scripts/lab/rs-server.py" "rs$i" 8080 "" >"$D/rs$i.log" 2>&1 &
    ECMP_PIDS+=("$!")
    ecmp_check_port up "$i"
  done
  ecmp_offloads_off "$(ecmp_ns cli)" c0
  ecmp_offloads_off "$rt" rt-cli
  for i in 1 2 3; do
    for _ in $(seq 50); do
      in_e rs$i bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080' 2>/dev/null && break
      sleep 0.1
    done
  done
  ecmp_router_bird
}

# Senders compute full checksums and segment themselves (scripts/lab.sh).
ecmp_offloads_off() {
  ip netns exec "$1" ethtool -K "$2" tx off gso off gro off >/dev/null 2>&1 || true
}

# ecmp_check_port up|down I: the port (9200) every director's health check
# connects to on real server I, opened or closed.
ecmp_check_port() {
  local pidfile=$D/check-rs$2.pid
  if [ "$1" = up ]; then
    ip netns exec "$(ecmp_ns rs$2)" python3 -m http.server 9200 --bind "${ECMP_RS[$(($2-1))]}" >/dev/null 2>&1 &
    echo $! >"$pidfile"
    ECMP_PIDS+=("$!")
  else
    kill "$(cat "$pidfile")"
    wait "$(cat "$pidfile")" 2>/dev/null || true
  fi
}

# The router: a passive BGP peer of every director, their routes merged
# into one ECMP route in its kernel table.
ecmp_router_bird() {
  cat >"$D/rt-bird.conf" <<EOT
router id 10.201.2.254;
log "$D/rt-bird.log" all;
protocol device { scan time 1; }
protocol kernel {
  ipv4 { import none; export all; };
  merge paths on;
}
template bgp director {
  local 10.201.2.254 as 65000;
  passive on;
  hold time 3;
  keepalive time 1;
  ipv4 { import all; export none; };
}
EOT
  for i in 1 2 3 4; do
    echo "protocol bgp d$i from director { neighbor 10.201.2.$i as 65001; }" >>"$D/rt-bird.conf"
  done
  ip netns exec "$(ecmp_ns rt)" bird -f -c "$D/rt-bird.conf" -s "$D/rt-bird.ctl" >>"$D/rt-bird.out" 2>&1 &
  ECMP_PIDS+=("$!")
  for _ in $(seq 50); do
    birdc -s "$D/rt-bird.ctl" show status >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "FAIL: the router's BIRD did not start:"; cat "$D/rt-bird.out" "$D/rt-bird.log" 2>/dev/null
  return 1
}

# ecmp_services: a director's [daemon] and services, the same on every
# director: $ECMP_MODE forwarding with `mh` on VIP:8080 (and VIP:9000 for
# long-lived connections), a TCP check of every real server on port 9200.
# (bench/ecmp.sh defines its own after sourcing this file.)
ecmp_services() {
  printf '[daemon]\ninterfaces = ["out0", "in0"]\ncores = [1]\n\n'
  local port a
  for port in 8080 9000; do
    printf '[[virtual_server]]\naddress = "%s"\nport = %s\nscheduler = "mh"\nforwarding = "%s"\n' "$ECMP_VIP" "$port" "$ECMP_MODE"
    printf '  [virtual_server.check]\n  type = "tcp"\n  connect_port = 9200\n  interval = 0.3\n  timeout = 0.5\n  fall = 1\n  rise = 1\n'
    for a in "${ECMP_RS[@]}"; do printf '  [[virtual_server.real_server]]\n  address = "%s"\n' "$a"; done
  done
}

# ecmp_director I: xlbd in dI with ecmp_services and [announce] through
# its own BIRD; waits until it serves.
ecmp_director() {
  local i=$1
  cat >"$D/d$i-bird.conf" <<EOT
router id 10.201.2.$i;
log stderr all;
protocol device { scan time 1; }
include "$D/d$i-vips.conf";
protocol bgp uplink {
  local 10.201.2.$i as 65001;
  neighbor 10.201.2.254 as 65000;
  hold time 3;
  keepalive time 1;
  start delay time 1;
  connect retry time 1;
  error wait time 1, 5;
  ipv4 { import none; export where proto = "xlb_vips4"; next hop self; };
}
EOT
  {
    ecmp_services
    printf '\n[announce]\nconfig = "%s"\nroutes = "%s"\ncontrol_socket = "%s"\n' \
      "$D/d$i-bird.conf" "$D/d$i-vips.conf" "$D/d$i-bird.ctl"
  } >"$D/d$i.toml"
  ip netns exec "$(ecmp_ns d$i)" "$BIN/xlbd" --config "$D/d$i.toml" --socket "$D/d$i.sock" >>"$D/d$i.log" 2>&1 &
  local pid=$!
  ECMP_PIDS+=("$pid")
  printf -v "D${i}_PID" '%s' "$pid"
  for _ in $(seq 100); do
    [ "$(ecmp_field "$i" "s['announce']['pid'] is not None")" = True ] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "FAIL: xlbd d$i exited:"; cat "$D/d$i.log"; return 1; }
    sleep 0.1
  done
  echo "FAIL: xlbd d$i never answered"; cat "$D/d$i.log"; return 1
}

# ecmp_field I EXPR: a Python expression on director I's `show --json` (s).
ecmp_field() {
  "$BIN/xlbctl" --socket "$D/d$1.sock" show --json 2>/dev/null |
    python3 -c "import json,sys; s=json.load(sys.stdin); print($2)" 2>/dev/null || true
}

# ecmp_conns I: connections director I has scheduled (every service).
ecmp_conns() { ecmp_field "$1" "sum(v['traffic']['conns'] for v in s['services'])"; }

# nexthops: the router's next hops for the VIP, as "10.201.2.1 10.201.2.3".
nexthops() {
  ip -n "$(ecmp_ns rt)" -4 route show "$ECMP_VIP/32" | grep -o 'via [0-9.]*' | awk '{print $2}' | sort | tr '\n' ' ' | sed 's/ $//'
}
nexthops_are() { [ "$(nexthops)" = "$1" ]; }

# bird_restarted I OLD_PID: director I started its BIRD again (one restart,
# a new pid).
bird_restarted() {
  [ "$(ecmp_field "$1" "(s['announce']['restarts'], s['announce']['pid'] not in (None, $2))")" = "(1, True)" ]
}

# new_conns N: N new connections to VIP:8080 from the client; prints
# "ok=A fail=B" and fails unless every one was answered by a real server.
new_conns() {
  local out ok
  out=$(in_e cli bash -c "for i in \$(seq $1); do curl -s --max-time 2 'http://$ECMP_VIP:8080/' || echo fail; echo; done")
  ok=$(grep -c '^rs[123]$' <<<"$out" || true)
  echo "ok=$ok fail=$(($1 - ok))"
  [ "$ok" = "$1" ]
}

# long_lived N: N connections to VIP:9000 (the real servers' line echo),
# from the client's eight addresses in turn, each sending a line every 0.2 s and waiting for its echo, until
# $D/long.stop appears; prints one line per connection, "conn PORT SERVER
# EXCHANGES ERROR" (ERROR "-" when none: no reset, no echo missing for 5 s,
# the same server throughout), then "failed=F".
long_lived() {
  # exec: the PID the caller's $! holds is the client's own.
  exec ip netns exec "$(ecmp_ns cli)" python3 - "$ECMP_VIP" "$1" "$D/long.stop" <<'PY'
import os, socket, sys, time
vip, n, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conns = []
for i in range(n):
    s = socket.create_connection((vip, 9000), timeout=5, source_address=("10.201.1.%d" % (2 + i % 8), 0))
    conns.append({"s": s, "f": s.makefile("rb"), "server": None, "n": 0, "error": None})
k = 0
while not os.path.exists(stop):
    for c in conns:
        if c["error"]:
            continue
        try:
            c["s"].sendall(b"line %d\n" % k)
            reply = c["f"].readline()
            if not reply:
                raise ConnectionError("closed by the server")
            server = reply.split()[0].decode()
            if c["server"] and server != c["server"]:
                raise ConnectionError("moved from %s to %s" % (c["server"], server))
            c["server"] = server
            c["n"] += 1
        except (OSError, ConnectionError) as e:
            c["error"] = type(e).__name__ + ": " + str(e)
    k += 1
    time.sleep(0.2)
failed = 0
for c in conns:
    print("conn %d %s %d %s" % (c["s"].getsockname()[1], c["server"], c["n"], c["error"] or "-"))
    failed += c["error"] is not None
print("failed=%d" % failed)
PY
}

# established I: director I's established connections to VIP:9000.
established() {
  "$BIN/xlbctl" --socket "$D/d$1.sock" conns --json 2>/dev/null | python3 -c "
import json, sys
print(sum(1 for c in json.load(sys.stdin)['conns']
          if c['virtual_address'].endswith(':9000') and c['state'] == 'ESTABLISHED'))" 2>/dev/null || echo 0
}

# all_established N: the three directors hold N established connections
# to VIP:9000 between them.
all_established() {
  [ $(($(established 1) + $(established 2) + $(established 3))) -ge "$1" ]
}

# ecmp_decapsulated I: packets real server I's XDP program unwrapped.
ecmp_decapsulated() { xdp_decapsulated "$(ecmp_ns rs$1)"; }

# ecmp_count_to_servers: ebtables rules on the router's back bridge that
# count the frames it passes to each real server, plain to the VIP (DR) or
# IP-in-IP (TUN); read with to_server I plain|ipip.
ecmp_count_to_servers() {
  local i
  for i in 1 2 3; do
    in_e rt ebtables -A FORWARD -o "b-rs$i" -p IPv4 --ip-dst "$ECMP_VIP" -j ACCEPT
    in_e rt ebtables -A FORWARD -o "b-rs$i" -p IPv4 --ip-proto 4 -j ACCEPT
  done
}
to_server() {
  local match
  # (ebtables lists protocol 4 by its name, ipencap)
  match=$([ "$2" = plain ] && echo "--ip-dst $ECMP_VIP" || echo "--ip-proto")
  in_e rt ebtables -L FORWARD --Lc | grep -- "-o b-rs$1 " | grep -- "$match" | sed -n 's/.*pcnt = \([0-9]*\).*/\1/p'
}

ecmp_down() {
  # xlbd first: each stops its own BIRD.
  for pid in ${ECMP_PIDS[@]+"${ECMP_PIDS[@]}"}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${ECMP_PIDS[@]+"${ECMP_PIDS[@]}"}; do wait "$pid" 2>/dev/null || true; done
  for n in $ECMP_NAMES; do
    [ -e "/run/netns/$(ecmp_ns $n)" ] &&
      rm -f /run/xlb/bpf/steer-"$(stat -L -c %i "/run/netns/$(ecmp_ns $n)")"-* 2>/dev/null
    ip netns del "$(ecmp_ns $n)" 2>/dev/null || true
  done
  case "$D" in */xlbe-*) rm -rf "$D" ;; esac
}

# ecmp_scenario: the whole test, for the directors' forwarding in
# $ECMP_MODE; it also checks how the client's packets reached the real
# servers (plain for DR; for TUN all inside IP-in-IP, moved flows
# included, and unwrapped by the real servers).
ecmp_scenario() {
  command -v bird >/dev/null || { echo "FAIL: bird missing (scripts/install-deps.sh installs bird2)"; return 1; }
  command -v ebtables >/dev/null || { echo "FAIL: ebtables missing (Debian's iptables package has it)"; return 1; }
  ecmp_up
  ecmp_count_to_servers
  for i in 1 2 3; do ecmp_director "$i"; done
  assert_eq "$(ecmp_field 1 "s['services'][0]['forwarding']")" \
    "$([ "$ECMP_MODE" = tun ] && echo Tunnel || echo Route)" "d1's services' forwarding"
  local t
  t=$(wait_until 20 nexthops_are "10.201.2.1 10.201.2.2 10.201.2.3")
  echo "three directors announced: the router has three next hops after ${t}s"
  ip -n "$(ecmp_ns rt)" route show "$ECMP_VIP/32"
  birdc -s "$D/rt-bird.ctl" show route "$ECMP_VIP/32" all | head -20

  # ECMP spreads new connections over all three; mh sends each to a real
  # server, whichever director it crossed.
  new_conns 60
  local c1 c2 c3
  c1=$(ecmp_conns 1) c2=$(ecmp_conns 2) c3=$(ecmp_conns 3)
  echo "connections per director: d1=$c1 d2=$c2 d3=$c3"
  for c in "$c1" "$c2" "$c3"; do less_than 0 "$c" || { echo "FAIL: a director got no connection"; return 1; }; done

  # Long-lived connections across everything below until the checks fail:
  # a flow ECMP moves to another director finds the same real server there
  # (mh, sloppy_tcp) and goes on.
  long_lived 24 >"$D/long.out" 2>&1 &
  local long=$!
  ECMP_PIDS+=("$long")
  # All 24 counted before the split is judged: on a loaded machine the
  # client opens them over more than a second (one run saw 6/0/12).
  t=$(wait_until 15 all_established 24) ||
    { echo "FAIL: not every long-lived connection is established"; cat "$D/long.out"; return 1; }
  local e1 e2 e3
  e1=$(established 1) e2=$(established 2) e3=$(established 3)
  echo "long-lived connections per director after ${t}s: d1=$e1 d2=$e2 d3=$e3"
  less_than 0 "$e2" || { echo "FAIL: no long-lived connection crosses d2, whose drain is tested"; return 1; }

  # Drain d2: its next hop goes, it keeps forwarding, new connections
  # avoid it.
  "$BIN/xlbctl" --socket "$D/d2.sock" drain-director
  t=$(wait_until 5 nexthops_are "10.201.2.1 10.201.2.3")
  echo "drained d2: its next hop gone after ${t}s"
  "$BIN/xlbctl" --socket "$D/d2.sock" show --announce
  "$BIN/xlbctl" --socket "$D/d2.sock" show --announce | has 'DRAINED (xlbctl drain-director)'
  "$BIN/xlbctl" --socket "$D/d2.sock" show --announce | has '10.201.100.100 *withdrawn'
  kill -0 "$D2_PID"
  c2=$(ecmp_conns 2)
  new_conns 30
  assert_eq "$(ecmp_conns 2)" "$c2" "new connections reached the drained director"
  "$BIN/xlbctl" --socket "$D/d2.sock" undrain-director
  t=$(wait_until 5 nexthops_are "10.201.2.1 10.201.2.2 10.201.2.3")
  echo "undrained d2: back after ${t}s"

  # A fourth director joins: a fourth next hop.
  ecmp_director 4
  t=$(wait_until 20 nexthops_are "10.201.2.1 10.201.2.2 10.201.2.3 10.201.2.4")
  echo "d4 joined: four next hops after ${t}s"
  new_conns 30

  # d2's BIRD dies alone: xlbd starts it again, announced again.
  local bird2
  bird2=$(ecmp_field 2 "s['announce']['pid']")
  kill -KILL "$bird2"
  t=$(wait_until 10 bird_restarted 2 "$bird2")
  echo "d2's BIRD killed: started again after ${t}s"
  t=$(wait_until 10 nexthops_are "10.201.2.1 10.201.2.2 10.201.2.3 10.201.2.4")
  echo "d2 announced again after ${t}s more"

  # A reload with [announce] drain = true drains d4; undrain-director
  # cannot lift it; a reload without it can.
  echo "drain = true" >>"$D/d4.toml"
  "$BIN/xlbctl" --socket "$D/d4.sock" reload | tee "$D/reload.out"
  has 'announce: drain = true' "$D/reload.out"
  t=$(wait_until 5 nexthops_are "10.201.2.1 10.201.2.2 10.201.2.3")
  echo "d4 drained by its configuration: gone after ${t}s"
  "$BIN/xlbctl" --socket "$D/d4.sock" undrain-director | has 'drain = true'
  "$BIN/xlbctl" --socket "$D/d4.sock" show --announce | has 'DRAINED (\[announce\] drain = true)'
  sed -i '/^drain = true$/d' "$D/d4.toml"
  "$BIN/xlbctl" --socket "$D/d4.sock" reload
  t=$(wait_until 5 nexthops_are "10.201.2.1 10.201.2.2 10.201.2.3 10.201.2.4")
  echo "d4 reloaded without drain: back after ${t}s"

  # A BIRD configuration BIRD refuses at a reload: BIRD would keep its old
  # routes, so xlbd withdraws them all until one it takes.
  cp "$D/d4-bird.conf" "$D/d4-bird.good"
  echo "this is not BIRD;" >>"$D/d4-bird.conf"
  "$BIN/xlbctl" --socket "$D/d4.sock" reload
  t=$(wait_until 5 nexthops_are "10.201.2.1 10.201.2.2 10.201.2.3")
  echo "d4's BIRD configuration broken: withdrawn after ${t}s"
  "$BIN/xlbctl" --socket "$D/d4.sock" show --announce | has 'last error: BIRD refused its configuration'
  cp "$D/d4-bird.good" "$D/d4-bird.conf"
  "$BIN/xlbctl" --socket "$D/d4.sock" reload
  t=$(wait_until 5 nexthops_are "10.201.2.1 10.201.2.2 10.201.2.3 10.201.2.4")
  echo "d4's BIRD configuration mended: back after ${t}s"

  # SIGKILL d1's xlbd: its BIRD dies with it (the parent-death signal),
  # the session closes, the next hop goes well within the hold time (3 s).
  local bird1
  bird1=$(ecmp_field 1 "s['announce']['pid']")
  kill -KILL "$D1_PID"
  t=$(wait_until 3 nexthops_are "10.201.2.2 10.201.2.3 10.201.2.4")
  echo "SIGKILLed d1: its next hop gone after ${t}s (hold time 3 s)"
  wait_until 2 bash -c "! kill -0 $bird1 2>/dev/null" >/dev/null ||
    { echo "FAIL: d1's BIRD ($bird1) outlived its xlbd"; return 1; }
  new_conns 30

  # d1 restarted after its SIGKILL (its BIRD's socket file left behind):
  # announced again.
  ecmp_director 1
  t=$(wait_until 20 nexthops_are "10.201.2.1 10.201.2.2 10.201.2.3 10.201.2.4")
  echo "d1 restarted: back after ${t}s"
  touch "$D/long.stop"
  wait "$long" || true
  cat "$D/long.out"
  has '^failed=0$' "$D/long.out" ||
    { echo "FAIL: long-lived connections broke on drain, join or SIGKILL"; return 1; }
  local servers
  servers=$(awk '/^conn /{print $3}' "$D/long.out" | sort -u | wc -l)
  echo "long-lived connections on $servers real servers"
  less_than 1 "$servers" || { echo "FAIL: every long-lived connection on one server: a move to another could not show"; return 1; }
  local moved=0 m
  for i in 2 3 4; do
    m=$(ecmp_field "$i" "sum(w.get('conns_picked_up', 0) for w in s['workers'])")
    moved=$((moved + ${m:-0}))
  done
  echo "flows picked up mid-connection by another director: $moved"
  less_than 0 "$moved" || { echo "FAIL: no flow moved between directors: the test proved nothing"; return 1; }
  # How the client's packets reached the real servers, counted on the
  # router's back bridge: DR, all plain to the VIP; TUN, all inside IP-in-IP
  # (none plain), moved flows included. Each exchange of a long-lived
  # connection is at least one client segment.
  local i plain ipip want n
  for i in 1 2 3; do
    plain=$(to_server "$i" plain) ipip=$(to_server "$i" ipip)
    want=$(awk -v s="rs$i" '/^conn / && $3 == s { n += $4 } END { print n + 0 }' "$D/long.out")
    echo "to rs$i: $plain frames plain to the VIP, $ipip IP-in-IP; $want exchanges on its long-lived connections"
    if [ "$ECMP_MODE" = tun ]; then
      assert_eq "$plain" 0 "frames to rs$i not wrapped by TUN directors"
      [ "$ipip" -ge "$want" ] || { echo "FAIL: fewer IP-in-IP frames to rs$i than exchanges"; return 1; }
      # ... and the real server unwrapped them.
      n=$(ecmp_decapsulated "$i")
      echo "rs$i unwrapped $n packets"
      [ "$n" -ge "$want" ] || { echo "FAIL: rs$i unwrapped fewer packets than it answered"; return 1; }
    else
      assert_eq "$ipip" 0 "IP-in-IP frames to rs$i from DR directors"
      [ "$plain" -ge "$want" ] || { echo "FAIL: fewer frames to rs$i than exchanges"; return 1; }
    fi
  done

  # No real server passes its check: every director withdraws; one that
  # comes back: announced again.
  for i in 1 2 3; do ecmp_check_port down "$i"; done
  t=$(wait_until 10 nexthops_are "")
  echo "every real server down: VIP withdrawn by all after ${t}s"
  "$BIN/xlbctl" --socket "$D/d3.sock" show --announce | has 'none of its 6 real servers takes new connections'
  ecmp_check_port up 2
  t=$(wait_until 10 nexthops_are "10.201.2.1 10.201.2.2 10.201.2.3 10.201.2.4")
  echo "rs2 back: announced again after ${t}s"
  new_conns 20

  # SIGTERM d3: a graceful stop withdraws before the process ends.
  kill -TERM "$D3_PID"
  t=$(wait_until 5 nexthops_are "10.201.2.1 10.201.2.2 10.201.2.4")
  echo "stopped d3: its next hop gone after ${t}s"
  wait "$D3_PID" 2>/dev/null || true
  ! grep -q 'route ' "$D/d3-vips.conf" ||
    { echo "FAIL: d3's routes file still announces after a stop"; cat "$D/d3-vips.conf"; return 1; }
  "$BIN/xlbctl" --socket "$D/d2.sock" show --announce
  ecmp_field 2 "s['announce']['updates']"
}

test_ecmp_bgp_announce_withdraw_drain_kill_and_a_fourth_director() {
  ECMP_MODE=dr
  ecmp_scenario
}

test_ecmp_tun_bgp_announce_withdraw_drain_kill_and_a_fourth_director() {
  ECMP_MODE=tun
  ecmp_scenario
}
