# Lab test cases. Each function runs in its own subshell (run.sh), builds its
# own lab, and fails on the first unmet assertion.

test_nat_tcp_split_follows_wrr_weights() {
  lab_up
  start_xlbd "$ROOT/examples/nat.toml"
  # wrr 3:2:1, one worker, sequential new connections: exactly 30/20/10.
  assert_eq "$(http_split 60 http://$VIP/)" "rs1=30 rs2=20 rs3=10 fail=0" "NAT wrr split"
  assert_eq "$(json_get 's["services"][0]["traffic"]["conns"]')" 60 "service connection count"
  # The veth NIC profile was picked for both ports.
  [ "$(grep -c 'driver=veth profile="veth"' "$D/xlbd.log")" = 2 ] ||
    { echo "FAIL: NIC profile not applied:"; grep -i profile "$D/xlbd.log"; return 1; }
}

test_nat_large_transfer_is_byte_exact() {
  lab_up
  start_xlbd "$ROOT/examples/nat.toml"
  # ~700 segments each way through the rewrite; curl checks length, and TCP
  # checksums on every segment must have stayed valid for it to complete.
  local got
  got=$(in_client curl -s --max-time 20 "http://$VIP/bytes/1000000" | wc -c)
  assert_eq "$got" 1000000 "bytes received"
}

test_nat_udp_service_round_robins() {
  lab_up
  start_xlbd "$ROOT/examples/nat.toml"
  local out
  out=$(udp_split 30 53)
  assert_eq "$out" "rs1=10 rs2=10 rs3=10 fail=0" "UDP rr split"
}

test_dr_tcp_split_follows_wlc_weights() {
  lab_up
  "$ROOT/scripts/lab.sh" mode dr "$P"
  start_xlbd "$ROOT/examples/dr.toml"
  local out rs1 rs3 fail
  out=$(http_split 60 http://$VIP/)
  fail=$(sed -E 's/.*fail=([0-9]+).*/\1/' <<<"$out")
  rs1=$(sed -E 's/.*rs1=([0-9]+).*/\1/' <<<"$out")
  rs3=$(sed -E 's/.*rs3=([0-9]+).*/\1/' <<<"$out")
  assert_eq "$fail" 0 "DR requests failed ($out)"
  # wlc 1:1:2 on inactive counts: 15/15/30, allow for connections that
  # expired or were still in SYN_RECV when the next one was scheduled.
  if [ "$rs3" -lt 27 ] || [ "$rs3" -gt 33 ] || [ "$rs1" -lt 12 ] || [ "$rs1" -gt 18 ]; then
    echo "FAIL: DR wlc split $out, want about rs1=15 rs2=15 rs3=30"; return 1
  fi
  # DR never sees replies: no outbound packets counted.
  assert_eq "$(json_get 's["services"][0]["traffic"]["packets_out"]')" 0 "DR packets_out"
}

test_removed_and_quiesced_servers_get_no_new_connections() {
  lab_up
  local cfg=$D/removed.toml
  # rs3 removed from the config, rs2 quiesced with weight 0.
  cat >"$cfg" <<EOT
[daemon]
interfaces = ["out0", "in0"]
cores = [1]
[[virtual_server]]
address = "$VIP"
port = 80
scheduler = "rr"
[[virtual_server.real_server]]
address = "10.200.2.11"
port = 8080
[[virtual_server.real_server]]
address = "10.200.2.12"
port = 8080
weight = 0
EOT
  start_xlbd "$cfg"
  assert_eq "$(http_split 20 http://$VIP/)" "rs1=20 rs2=0 rs3=0 fail=0" "split without rs3 and with rs2 quiesced"
}

test_malformed_frames_are_counted_and_dropped() {
  lab_up
  start_xlbd "$ROOT/examples/nat.toml"
  local dmac
  dmac=$(ip -n "$P-dir" link show out0 | awk '/ether/{print $2}')
  # Raw frames to VIP:80 that the steering program hands to the dataplane:
  # 5 with an IP total length beyond the frame, 4 fragments, 3 bare ACKs.
  in_client python3 - "$dmac" "$VIP" <<'PY'
import socket, struct, sys
dmac = bytes.fromhex(sys.argv[1].replace(":", ""))
vip = socket.inet_aton(sys.argv[2]); cli = socket.inet_aton("10.200.1.2")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("c0", 0))
smac = s.getsockname()[4]
def frame(total_len, frag, flags=0x02):
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 0x50, flags, 1024, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total_len, 1, frag, 64, 6, 0, cli, vip)
    return dmac + smac + b"\x08\x00" + ip + tcp
for _ in range(5): s.send(frame(1400, 0))
for _ in range(4): s.send(frame(40, 0x2000))
for _ in range(3): s.send(frame(40, 0, flags=0x10))  # ACK, no connection
PY
  sleep 0.5
  assert_eq "$(json_get 's["workers"][0]["drops"]["bad_ip_length"]')" 5 "bad_ip_length drops"
  assert_eq "$(json_get 's["workers"][0]["drops"]["fragment"]')" 4 "fragment drops"
  # Drops after classification are also charged to the service.
  assert_eq "$(json_get 's["services"][0]["traffic"]["drops"].get("no_connection", 0)')" 3 "service no_connection drops"
  # And the daemon still forwards.
  assert_eq "$(http_split 6 http://$VIP/)" "rs1=3 rs2=2 rs3=1 fail=0" "forwarding after bad frames"
}

test_bad_config_is_refused_with_its_place() {
  local dir; dir=$(mktemp -d)
  printf '[daemon]\ninterfaces = ["out0"]\n[[virtual_server]]\naddress = "10.0.0.300"\nport = 80\n' >"$dir/bad.toml"
  local out rc=0
  out=$("$BIN/xlbctl" check-config "$dir/bad.toml" 2>&1) || rc=$?
  assert_eq "$rc" 2 "check-config exit code"
  grep -q "bad.toml:4:11: virtual server address \"10.0.0.300\" is not an IP address" <<<"$out" ||
    { echo "FAIL: message was: $out"; return 1; }
  rc=0; out=$("$BIN/xlbd" --config "$dir/bad.toml" --socket "$dir/s" 2>&1) || rc=$?
  assert_eq "$rc" 2 "xlbd exit code on a bad config"
  grep -q "not started" <<<"$out" || { echo "FAIL: xlbd said: $out"; return 1; }
  "$BIN/xlbctl" check-config "$ROOT/examples/nat.toml" >/dev/null
  "$BIN/xlbctl" check-config "$ROOT/examples/dr.toml" >/dev/null
  rm -rf "$dir"
}

test_static_neighbour_entries_are_left_alone() {
  lab_up
  local mac
  mac=$(ip -n "$P-rs1" link show r0 | awk '/ether/{print $2}')
  ip -n "$P-dir" neigh replace 10.200.2.11 lladdr "$mac" dev in0 nud permanent
  start_xlbd "$ROOT/examples/nat.toml"
  sleep 1.5  # a few control ticks
  # An operator's static entry must stay static (NTF_USE would make it dynamic).
  ip -n "$P-dir" neigh show 10.200.2.11 | has PERMANENT ||
    { echo "FAIL: entry became: $(ip -n "$P-dir" neigh show 10.200.2.11)"; return 1; }
  assert_eq "$(http_split 6 http://$VIP/)" "rs1=3 rs2=2 rs3=1 fail=0" "forwarding with a static entry"
}

test_nat_replies_on_another_workers_queue_are_forwarded() {
  # Two queues per director port, one worker each: a connection's replies
  # often arrive on the other worker's queue (docs/design/conn-table.md).
  LAB_QUEUES=2 lab_up
  local cfg=$D/two.toml
  sed 's/^cores = \[1\]/cores = [0, 1]/' "$ROOT/examples/nat.toml" >"$cfg"
  start_xlbd "$cfg"
  local out
  out=$(http_split 60 http://$VIP/)
  assert_eq "$(sed -E 's/.*fail=([0-9]+).*/\1/' <<<"$out")" 0 "failed requests with two workers ($out)"
  # Both workers received traffic, and some replies were found in the other
  # worker's table.
  local w0 w1 remote
  w0=$(json_get 's["workers"][0]["rx_packets"]'); w1=$(json_get 's["workers"][1]["rx_packets"]')
  remote=$(json_get 'sum(w["remote_hits"] for w in s["workers"])')
  [ "$w0" -gt 0 ] && [ "$w1" -gt 0 ] || { echo "FAIL: traffic on one worker only: $w0 / $w1"; return 1; }
  [ "$remote" -gt 0 ] || { echo "FAIL: no packet was handled from another worker's table"; return 1; }
  echo "worker0 rx=$w0 worker1 rx=$w1 remote_hits=$remote"
}

test_sigkilled_daemon_leaves_nothing_that_blocks_a_restart() {
  lab_up
  start_xlbd "$ROOT/examples/nat.toml"
  kill -9 "$XLBD_PID"; wait "$XLBD_PID" 2>/dev/null || true; XLBD_PID=
  # The steering program outlives the process (pinned under /run/xlb/bpf):
  # the services' traffic is dropped, as a dead LVS director's would be,
  # not handed to the kernel (whose resets would end the connections a
  # peer director is about to take over); everything else passes.
  ip -n "$P-dir" link show out0 | has xdp ||
    { echo "FAIL: no XDP program left after SIGKILL"; return 1; }
  local rc=0
  in_client curl -s -o /dev/null --max-time 1 "http://$VIP/" || rc=$?
  [ "$rc" = 28 ] || { echo "FAIL: a killed director's service answered or reset (curl $rc, want 28: timeout)"; return 1; }
  # The director's own address still answers (a port nobody listens on:
  # the kernel's reset is the answer).
  in_client python3 -c '
import socket
try:
    socket.create_connection(("10.200.1.1", 9), timeout=1)
except ConnectionRefusedError:
    pass' || { echo "FAIL: the director's own address stopped answering"; return 1; }
  # A restart replaces the stale program (and the stale socket file).
  start_xlbd "$ROOT/examples/nat.toml"
  assert_eq "$(http_split 6 http://$VIP/)" "rs1=3 rs2=2 rs3=1 fail=0" "forwarding after restart"
}

# Long-lived echo connections: N connections to VIP:9000, a line on each
# every 0.1 s for SECONDS; prints "long ok=N fail=M".
long_clients() {
  in_client python3 - "$VIP" "$1" "$2" <<'PY'
import socket, sys, time
vip, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
conns = []
for i in range(n):
    s = socket.create_connection((vip, 9000), timeout=3)
    conns.append((s, s.makefile("rb")))
ok = [True] * n
end = time.time() + secs
k = 0
while time.time() < end:
    for i, (s, f) in enumerate(conns):
        if not ok[i]:
            continue
        try:
            s.sendall(b"line %d\n" % k)
            if not f.readline().endswith(b"line %d\n" % k):
                ok[i] = False
        except OSError:
            ok[i] = False
    k += 1
    time.sleep(0.1)
print("long ok=%d fail=%d" % (sum(ok), n - sum(ok)))
PY
}

test_reload_keeps_every_connection_and_applies_new_weights() {
  lab_up
  local live=$D/live.toml
  cp "$ROOT/tests/lab/configs/reload-a.toml" "$live"
  start_xlbd "$live"
  assert_eq "$(http_split 6 http://$VIP/)" "rs1=3 rs2=2 rs3=1 fail=0" "split before reload"
  # 9 long connections (3 per server) and a stream of short ones across
  # two reloads: SIGHUP with the file changed, then back with xlbctl reload.
  long_clients 9 6 >"$D/long.out" &
  local long=$!
  http_split 80 http://$VIP/ >"$D/short.out" &
  local short=$!
  sleep 1.5
  cp "$ROOT/tests/lab/configs/reload-b.toml" "$live"
  kill -HUP "$XLBD_PID"
  sleep 1.5
  local out rc=0
  out=$(xlbctl reload "$ROOT/tests/lab/configs/reload-a.toml") || rc=$?
  assert_eq "$rc" 0 "xlbctl reload exit code ($out)"
  grep -q "real servers: 1 added" <<<"$out" || { echo "FAIL: reload said: $out"; return 1; }
  wait "$long" "$short"
  assert_eq "$(cat "$D/long.out")" "long ok=9 fail=0" "long-lived connections across reloads"
  grep -q "fail=0" "$D/short.out" || { echo "FAIL: short requests: $(cat "$D/short.out")"; return 1; }

  # Back on B: the new weights and the removed server show in the split.
  # (`xlbctl reload FILE` made FILE the running config's path; name live.toml
  # again, then a bare `xlbctl reload` re-reads it.)
  out=$(xlbctl reload "$live") || { echo "FAIL: reload: $out"; return 1; }
  out=$(xlbctl reload) || { echo "FAIL: reload: $out"; return 1; }
  assert_eq "$(http_split 40 http://$VIP/)" "rs1=10 rs2=0 rs3=30 fail=0" "split after reload"
  # The service the reload added forwards.
  local udp
  udp=$(in_client python3 -c "
import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b'x', ('$VIP', 53)); print(s.recv(100).split()[0].decode())")
  assert_eq "$udp" rs2 "added UDP service"

  # An invalid file is refused with its place; the old one keeps forwarding.
  printf '[daemon]\ninterfaces = ["out0", "in0"]\ncores = [1]\n[[virtual_server]]\naddress = "10.200.1.100"\nport = 80\nscheduler = "nope"\n' >"$D/bad.toml"
  rc=0; out=$(xlbctl reload "$D/bad.toml" 2>&1) || rc=$?
  assert_eq "$rc" 2 "exit code of a refused reload"
  grep -q "bad.toml:7:13: unknown scheduler \"nope\"" <<<"$out" || { echo "FAIL: said: $out"; return 1; }
  grep -q "running configuration is unchanged" <<<"$out" || { echo "FAIL: said: $out"; return 1; }
  # A change that needs a restart is refused too.
  sed 's/cores = \[1\]/cores = [0]/' "$live" >"$D/cores.toml"
  rc=0; out=$(xlbctl reload "$D/cores.toml" 2>&1) || rc=$?
  assert_eq "$rc" 2 "exit code of a restart-only change"
  grep -q "cores/workers changed, which only a restart" <<<"$out" || { echo "FAIL: said: $out"; return 1; }
  assert_eq "$(http_split 8 http://$VIP/)" "rs1=2 rs2=0 rs3=6 fail=0" "still on the last good config"
  # Not one packet was dropped through all of it.
  assert_eq "$(json_get 'sum(sum(w["drops"].values()) for w in s["workers"])')" 0 "dataplane drops"
}

test_reload_removing_a_service_lets_its_connections_drain() {
  lab_up
  start_xlbd "$ROOT/tests/lab/configs/reload-a.toml"
  long_clients 6 4 >"$D/long.out" &
  local long=$!
  sleep 1
  # A config without the echo service at all.
  python3 - "$ROOT/tests/lab/configs/reload-a.toml" >"$D/no-echo.toml" <<'PY'
import sys
text = open(sys.argv[1]).read()
print(text[: text.index('[[virtual_server]]\nname = "echo"')])
PY
  xlbctl reload "$D/no-echo.toml" >/dev/null
  wait "$long"
  assert_eq "$(cat "$D/long.out")" "long ok=6 fail=0" "connections of a removed service"
  # New connections to it are not accepted any more.
  if in_client python3 -c "import socket; socket.create_connection(('$VIP', 9000), timeout=2)" 2>/dev/null; then
    echo "FAIL: a removed service accepted a new connection"; return 1
  fi
}

test_runtime_drain_disable_and_weights() {
  lab_up
  start_xlbd "$ROOT/tests/lab/configs/reload-a.toml"
  long_clients 6 4 >"$D/long.out" &
  local long=$!
  sleep 0.5
  xlbctl drain echo 10.200.2.11 >/dev/null
  xlbctl drain web 10.200.2.11 >/dev/null
  # wrr over rs2:rs3 = 2:1
  assert_eq "$(http_split 12 http://$VIP/)" "rs1=0 rs2=8 rs3=4 fail=0" "split with rs1 drained"
  xlbctl disable 10.200.1.100:80/tcp 10.200.2.12:8080 >/dev/null
  assert_eq "$(http_split 5 http://$VIP/)" "rs1=0 rs2=0 rs3=5 fail=0" "split with rs2 disabled"
  local show; show=$(xlbctl show)
  grep -q "10.200.2.11:8080 .*(configured weight 3)" <<<"$show" || { echo "FAIL: show: $show"; return 1; }
  grep -q "10.200.2.12:8080 .*(disabled)" <<<"$show" || { echo "FAIL: show: $show"; return 1; }
  # Overrides survive a reload of the same file.
  xlbctl reload >/dev/null
  assert_eq "$(http_split 3 http://$VIP/)" "rs1=0 rs2=0 rs3=3 fail=0" "overrides after reload"
  xlbctl set-weight web 10.200.2.13 0 >/dev/null
  local rc=0 out
  out=$(http_split 2 http://$VIP/)
  assert_eq "$out" "rs1=0 rs2=0 rs3=0 fail=2" "no server left"
  xlbctl enable web 10.200.2.11 >/dev/null; xlbctl enable web 10.200.2.12 >/dev/null
  xlbctl enable web 10.200.2.13 >/dev/null
  assert_eq "$(http_split 6 http://$VIP/)" "rs1=3 rs2=2 rs3=1 fail=0" "all enabled again"
  wait "$long"
  assert_eq "$(cat "$D/long.out")" "long ok=6 fail=0" "connections to a drained server"
  # Errors name what exists.
  rc=0; out=$(xlbctl drain nosuch 10.200.2.11 2>&1) || rc=$?
  assert_eq "$rc" 2 "unknown service exit code"
  grep -q 'no virtual server "nosuch"; there are: web (10.200.1.100:80/tcp), echo' <<<"$out" || { echo "FAIL: said: $out"; return 1; }
  rc=0; out=$(xlbctl drain web 10.9.9.9 2>&1) || rc=$?
  assert_eq "$rc" 2 "unknown real exit code"
  grep -q 'web has no real server "10.9.9.9"; it has: 10.200.2.11:8080' <<<"$out" || { echo "FAIL: said: $out"; return 1; }
}

test_prometheus_metrics_count_what_was_forwarded() {
  lab_up
  { cat "$ROOT/examples/nat.toml"; printf '\n[metrics]\nlisten = "127.0.0.1:9469"\n'; } >"$D/m.toml"
  start_xlbd "$D/m.toml"
  assert_eq "$(http_split 6 http://$VIP/)" "rs1=3 rs2=2 rs3=1 fail=0" "traffic"
  local m
  m=$(ip netns exec "$P-dir" curl -s --max-time 3 http://127.0.0.1:9469/metrics)
  grep -qx 'xlb_real_connections_total{service="web",real="10.200.2.11:8080"} 3' <<<"$m" ||
    { echo "FAIL: metrics:"; grep real_connections <<<"$m"; return 1; }
  grep -qx 'xlb_service_connections_total{service="web",vip="10.200.1.100",port="80",protocol="TCP"} 6' <<<"$m" ||
    { echo "FAIL: metrics:"; grep service_connections <<<"$m"; return 1; }
  grep -q '^xlb_worker_rx_packets_total{worker="0"} [1-9]' <<<"$m" || { echo "FAIL: no worker rx"; return 1; }
}

# wait_health SERVICE REAL PREFIX: until the real's health starts with PREFIX (10 s).
wait_health() {
  local expr="[r.get('health','') for v in s['services'] if v['name']=='$1' for r in v['reals'] if r['address']=='$2'][0]"
  for _ in $(seq 100); do
    [[ "$(json_get "$expr")" == "$3"* ]] && return 0
    sleep 0.1
  done
  echo "FAIL: $1 $2 health is '$(json_get "$expr")', want $3*"; return 1
}

test_health_checks_take_failed_servers_out_and_back() {
  lab_up
  start_xlbd "$ROOT/tests/lab/configs/checks.toml"
  # rs3's check hangs: down by timeout. web2 answers 503: down by status,
  # except rs2 whose script check says up.
  wait_health web 10.200.2.13 "down: no answer within 500 ms"
  wait_health web2 10.200.2.11 "down: HTTP status 503"
  wait_health web2 10.200.2.12 up
  wait_health web 10.200.2.11 up
  assert_eq "$(http_split 10 http://$VIP/)" "rs1=6 rs2=4 rs3=0 fail=0" "split without the hung server"
  assert_eq "$(http_split 3 http://$VIP:81/)" "rs1=0 rs2=3 rs3=0 fail=0" "web2 without the 503 server"

  # Stop rs2's servers: after fall (2) failed checks it gets no new connection.
  kill "$(cat "$D/rs2.pid")"
  wait_health web 10.200.2.12 "down: connect to 10.200.2.12:8080"
  assert_eq "$(http_split 4 http://$VIP/)" "rs1=4 rs2=0 rs3=0 fail=0" "split with rs2 stopped"
  grep -q "real server DOWN.*10.200.2.12:8080" "$D/xlbd.log" || { echo "FAIL: no DOWN log line"; return 1; }
  # Start it again: back after rise (2) good checks.
  ip netns exec "$P-rs2" python3 "$ROOT/scripts/lab/rs-server.py" rs2 80,8080 53,5353 >/dev/null 2>&1 &
  echo $! >"$D/rs2.pid"
  wait_health web 10.200.2.12 up
  assert_eq "$(http_split 5 http://$VIP/)" "rs1=3 rs2=2 rs3=0 fail=0" "split with rs2 back"
  xlbctl show | has "10.200.2.13:8080 .*(down: no answer within 500 ms)" ||
    { echo "FAIL: show:"; xlbctl show; return 1; }
}

test_import_of_the_digest_examples_passes_check_config() {
  local dir; dir=$(mktemp -d)
  # An empty namespace: no eth0 there, so check-config validates the file
  # and says it skipped the host checks (the host's own eth0 is not the
  # director's).
  local ns="xlbt-imp-$$-$RANDOM"
  ip netns add "$ns"
  # Expanded now: the trap runs after this function's locals are gone.
  trap "ip netns del '$ns' 2>/dev/null; rm -rf '$dir'" EXIT
  for f in digest-nat digest-dr; do
    "$BIN/xlbctl" import "$ROOT/tests/import/$f.conf" >"$dir/$f.toml" 2>"$dir/$f.warn"
    ip netns exec "$ns" "$BIN/xlbctl" check-config "$dir/$f.toml" >"$dir/$f.check" || { cat "$dir/$f.toml"; return 1; }
    grep -q "skipped: interface and real-server reachability checks: eth0" "$dir/$f.check" ||
      { echo "FAIL: check-config said: $(cat "$dir/$f.check")"; return 1; }
  done
  # On a director whose eth0 holds only the VIP's subnet, the DR import's
  # real servers are unreachable: check-config says so, as xlbd would, and
  # the import warned about each of them.
  ip -n "$ns" link add eth0 type veth peer name eth0-peer
  ip -n "$ns" addr add 10.0.0.2/24 dev eth0
  local rc=0 out
  out=$(ip netns exec "$ns" "$BIN/xlbctl" check-config "$dir/digest-dr.toml" 2>&1) || rc=$?
  assert_eq "$rc" 2 "check-config on the director"
  grep -q "real server 192.168.1.20 of 10.0.0.1:80 is not on a directly connected subnet" <<<"$out" ||
    { echo "FAIL: said: $out"; return 1; }
  assert_eq "$(grep -c 'no VRRP address shares its subnet' "$dir/digest-dr.warn")" 3 "import warnings"
  grep -qx "persistence_timeout = 9600" "$dir/digest-dr.toml" || { echo "FAIL: DR import:"; cat "$dir/digest-dr.toml"; return 1; }
  # The NAT pair's VRRP side translates whole: no warnings at all.
  [ ! -s "$dir/digest-nat.warn" ] || { echo "FAIL: warnings were: $(cat "$dir/digest-nat.warn")"; return 1; }
  grep -qx 'name = "RH_EXT"' "$dir/digest-nat.toml" && grep -qx 'group = \["RH_EXT", "RH_INT"\]' "$dir/digest-nat.toml" ||
    { echo "FAIL: NAT import lacks its VRRP side:"; cat "$dir/digest-nat.toml"; return 1; }
  # What cannot be translated is named with its line; a file with nothing
  # that translates is an error.
  printf 'vrrp_script chk {
  script "/bin/true"
}
' >"$dir/script.conf"
  rc=0; out=$("$BIN/xlbctl" import "$dir/script.conf" 2>&1) || rc=$?
  assert_eq "$rc" 2 "exit code on a file with nothing to translate"
  has "script.conf: nothing to translate" <<<"$out" || { echo "FAIL: said: $out"; return 1; }
  printf 'virtual_server 10.0.0.1 80 {
  lb_algo rr
  lb_kind DR
  real_server 10.0.0.2 80 {
    weight 1
  }
}
' >>"$dir/script.conf"
  "$BIN/xlbctl" import "$dir/script.conf" 2>&1 >/dev/null | has "script.conf:1: warning: vrrp_script chk" ||
    { echo "FAIL: no warning for vrrp_script"; return 1; }
  printf 'virtual_server 10.0.0.1 80 {\n  lb_algo rr\n' >"$dir/broken.conf"
  local rc=0 out
  rc=0; out=$("$BIN/xlbctl" import "$dir/broken.conf" 2>&1) || rc=$?
  assert_eq "$rc" 2 "exit code on a syntax error"
  grep -q "broken.conf:1: block opened here is never closed" <<<"$out" || { echo "FAIL: said: $out"; return 1; }
}

wait_file() { for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done; echo "FAIL: $1 never appeared"; return 1; }

restart_rs() {
  ip netns exec "$P-$1" python3 "$ROOT/scripts/lab/rs-server.py" "$1" 80,8080 53,5353 >/dev/null 2>&1 &
  echo $! >"$D/$1.pid"
}

test_quorum_sorry_server_and_notify_commands() {
  lab_up
  sed "s#STATE#$D#g" "$ROOT/tests/lab/configs/quorum.toml" >"$D/q.toml"
  start_xlbd "$D/q.toml"
  assert_eq "$(http_split 4 http://$VIP/)" "rs1=2 rs2=2 rs3=0 fail=0" "all up: no sorry server"
  [ ! -e "$D/quorum-down" ] || { echo "FAIL: quorum-down ran with quorum held"; return 1; }
  # rs2 down: live weight 1 < quorum 2.
  kill "$(cat "$D/rs2.pid")"
  wait_file "$D/quorum-down"
  assert_eq "$(http_split 3 http://$VIP/)" "rs1=3 rs2=0 rs3=0 fail=0" "rs1 left: still no sorry server"
  # rs1 down too: none left, the sorry server takes the traffic.
  kill "$(cat "$D/rs1.pid")"
  wait_health web 10.200.2.11 down
  assert_eq "$(http_split 3 http://$VIP/)" "rs1=0 rs2=0 rs3=3 fail=0" "the sorry server"
  grep -qx "rs1 down" "$D/notify" || { echo "FAIL: notify_down did not run"; return 1; }
  grep -q "quorum lost" "$D/xlbd.log" || { echo "FAIL: no quorum log line"; return 1; }
  # Both back: quorum gained, traffic leaves the sorry server.
  restart_rs rs1; restart_rs rs2
  wait_file "$D/quorum-up"
  wait_health web 10.200.2.12 up
  assert_eq "$(http_split 4 http://$VIP/)" "rs1=2 rs2=2 rs3=0 fail=0" "back to the real servers"
  grep -qx "rs1 up" "$D/notify" || { echo "FAIL: notify_up did not run"; return 1; }
}

test_conns_and_rates_listings() {
  lab_up
  start_xlbd "$ROOT/tests/lab/configs/reload-a.toml"
  long_clients 3 3 >/dev/null &
  local long=$!
  sleep 1
  # Three long connections, one per server (rr), listed as ESTABLISHED.
  local out
  out=$(xlbctl conns --service echo)
  assert_eq "$(grep -c ESTABLISHED <<<"$out")" 3 "echo connections ($out)"
  assert_eq "$(xlbctl conns --service 10.200.1.100:9000 --real 10.200.2.12 | grep -c '10.200.2.12:9000')" 1 "filter by real"
  assert_eq "$(xlbctl conns --client 10.9.9.9 | grep -c TCP)" 0 "filter by client"
  # Traffic flowing: after a sampling period the echo service shows rates.
  sleep 2.5
  local rate
  rate=$(xlbctl show --json | python3 -c "import json,sys; s=json.load(sys.stdin); print([v for v in s['services'] if v['name']=='echo'][0]['rates']['packets_in'])")
  [ "$rate" -gt 0 ] || { echo "FAIL: echo packets_in rate is $rate"; return 1; }
  xlbctl show --rate | has "CPS    InPPS" || { echo "FAIL: no --rate header"; return 1; }
  wait "$long"
}

test_source_hash_pins_a_client_and_maglev_forwards() {
  lab_up
  sed 's/scheduler = "wrr"/scheduler = "sh"/' "$ROOT/examples/nat.toml" >"$D/sh.toml"
  start_xlbd "$D/sh.toml"
  local out
  out=$(http_split 12 http://$VIP/)
  # One client address: all twelve connections on one server.
  grep -Eq "rs1=12|rs2=12|rs3=12" <<<"$out" || { echo "FAIL: sh split $out"; return 1; }
  stop_xlbd
  sed 's/scheduler = "wrr"/scheduler = "mh"/' "$ROOT/examples/nat.toml" >"$D/mh.toml"
  start_xlbd "$D/mh.toml"
  out=$(http_split 12 http://$VIP/)
  grep -Eq "rs1=12|rs2=12|rs3=12" <<<"$out" || { echo "FAIL: mh split $out"; return 1; }
}

test_persistence_keeps_a_client_on_its_server() {
  lab_up
  "$ROOT/scripts/lab.sh" mode dr "$P"
  { cat "$ROOT/examples/dr.toml"; } | sed 's/^forwarding = "dr"/forwarding = "dr"\npersistence_timeout = 300/' >"$D/p.toml"
  grep -q "persistence_timeout = 300" "$D/p.toml"
  start_xlbd "$D/p.toml"
  # wlc 1:1:2 would spread twelve connections; persistence keeps them on one.
  local out
  out=$(http_split 12 http://$VIP/)
  grep -Eq "rs1=12|rs2=12|rs3=12" <<<"$out" || { echo "FAIL: persistent split $out"; return 1; }
  # Drain that server: new connections move (the template no longer applies).
  local srv
  srv=$(sed -E 's/.*(rs[123])=12.*/\1/' <<<"$out")
  xlbctl drain web-dr "10.200.2.1${srv#rs}" >/dev/null
  out=$(http_split 4 http://$VIP/)
  grep -q "$srv=0" <<<"$out" || { echo "FAIL: after draining $srv: $out"; return 1; }
}

test_firewall_mark_groups_ports_with_one_persistence() {
  lab_up
  start_xlbd "$ROOT/tests/lab/configs/fwmark.toml"
  local out
  out=$(in_client bash -c 'for i in 1 2 3; do curl -s --max-time 3 http://10.200.1.100:80/; curl -s --max-time 3 http://10.200.1.100:8080/; done')
  assert_eq "$(wc -l <<<"$out")" 6 "answers ($out)"
  assert_eq "$(sort -u <<<"$out" | wc -l)" 1 "one server across both ports ($out)"
  xlbctl show | has "^FWM  80 rr persistent 300" || { echo "FAIL: show:"; xlbctl show; return 1; }
  # A port outside the mark is not forwarded (nothing listens on the VIP).
  if in_client curl -s --max-time 2 http://10.200.1.100:81/ >/dev/null; then
    echo "FAIL: port 81 answered"; return 1
  fi
}

test_slow_start_ramps_a_returning_server() {
  lab_up
  start_xlbd "$ROOT/tests/lab/configs/slowstart.toml"
  local w="[r['weight'] for v in s['services'] for r in v['reals'] if r['address']=='10.200.2.12'][0]"
  assert_eq "$(json_get "$w")" 10 "full weight at start (no ramp)"
  kill "$(cat "$D/rs2.pid")"
  wait_health web 10.200.2.12 down
  restart_rs rs2
  wait_health web 10.200.2.12 up
  local early; early=$(json_get "$w")
  [ "$early" -ge 1 ] && [ "$early" -lt 10 ] || { echo "FAIL: weight right after coming back is $early"; return 1; }
  xlbctl show | has "10.200.2.12:8080 .*(configured weight 10)" || { echo "FAIL: show:"; xlbctl show; return 1; }
  sleep 3.5
  assert_eq "$(json_get "$w")" 10 "full weight after slow_start"
}

# start_vsftpd rsN: anonymous read-only FTP in the real server's namespace,
# passive range 10000-10100 advertised as the VIP.
# start_vsftpd RS [nat]: anonymous vsftpd on RS. DR: it advertises the VIP
# (pasv_address). nat: it advertises its own address, which the director's
# FTP helper rewrites, connects from port 20 in active mode, and takes
# uploads into upload/.
start_vsftpd() {
  local r=$1 root=$D/ftp-$1 extra="pasv_address=$VIP"
  mkdir -p "$root" "$D/empty"
  echo "$r" >"$root/who.txt"
  cp "$D/data.bin" "$root/data.bin"
  if [ "${2:-}" = nat ]; then
    mkdir -p "$root/upload" && chmod 777 "$root/upload"
    extra=$'write_enable=YES\nanon_upload_enable=YES\nconnect_from_port_20=YES\nport_enable=YES'
  fi
  chmod 555 "$root"
  cat >"$D/vsftpd-$r.conf" <<EOT
listen=YES
listen_ipv6=NO
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$root
local_enable=NO
pasv_enable=YES
$extra
pasv_min_port=10000
pasv_max_port=10100
secure_chroot_dir=$D/empty
seccomp_sandbox=NO
xferlog_enable=NO
EOT
  ip netns exec "$P-$r" vsftpd "$D/vsftpd-$r.conf" >"$D/vsftpd-$r.log" 2>&1 &
  echo $! >"$D/vsftpd-$r.pid"
}

# ftp_lab nat|dr CONFIG: a lab in that mode, 300 KB of random data.bin,
# vsftpd on every real server, xlbd on tests/lab/configs/CONFIG.
ftp_lab() {
  command -v vsftpd >/dev/null || { echo "FAIL: vsftpd missing (scripts/install-deps.sh installs it)"; return 1; }
  lab_up
  "$ROOT/scripts/lab.sh" mode "$1" "$P"
  head -c 300000 /dev/urandom >"$D/data.bin"
  local r
  for r in rs1 rs2 rs3; do start_vsftpd "$r" "$1"; done
  sleep 0.5
  start_xlbd "$ROOT/tests/lab/configs/$2"
}

test_dr_passive_ftp_through_a_firewall_mark_group() {
  ftp_lab dr ftp-dr.toml
  local want got who
  want=$(sha256sum <"$D/data.bin")
  # EPSV (curl's default) and PASV (227 with the VIP), several downloads.
  for mode in "" "--disable-epsv" "" "--disable-epsv"; do
    got=$(in_client curl -s --max-time 10 $mode "ftp://$VIP/data.bin" | sha256sum)
    assert_eq "$got" "$want" "passive download ($mode)"
  done
  # Persistence: every control and data connection of this client on one server.
  who=$(in_client bash -c "for i in 1 2 3; do curl -s --max-time 10 ftp://$VIP/who.txt; done" | sort -u)
  assert_eq "$(wc -l <<<"$who")" 1 "one server for the client ($who)"
}

test_nat_ftp_active_and_passive_download_and_upload() {
  ftp_lab nat ftp-nat.toml
  local want got mode
  want=$(sha256sum <"$D/data.bin")
  # Passive: EPSV (229, curl's default) and PASV (227, the real server's
  # address rewritten to the VIP). Active: EPRT and PORT (the server
  # connects back from its port 20, masqueraded as VIP:20).
  for mode in "" "--disable-epsv" "-P -" "-P - --disable-eprt"; do
    got=$(in_client curl -s --max-time 10 $mode "ftp://$VIP/data.bin" | sha256sum)
    assert_eq "$got" "$want" "download ($mode)"
    # Upload, then read it back from the server that holds it.
    in_client curl -s --max-time 10 $mode -T "$D/data.bin" "ftp://$VIP/upload/up${#mode}.bin"
    got=$(cat $D/ftp-rs*/upload/"up${#mode}.bin" | sha256sum)
    assert_eq "$got" "$want" "upload ($mode)"
  done
  json_get "sum(w['ftp_rewrites'] for w in s['workers'])" >"$D/rewrites"
  json_get "sum(w['ftp_data_conns'] for w in s['workers'])" >"$D/data"
  [ "$(cat "$D/rewrites")" -ge 2 ] || { echo "FAIL: 227 replies rewritten: $(cat "$D/rewrites")"; return 1; }
  [ "$(cat "$D/data")" -ge 8 ] || { echo "FAIL: data connections admitted: $(cat "$D/data")"; return 1; }
  # The PASV reply the client saw names the VIP, not the real server.
  local seen
  seen=$(in_client curl -sv --max-time 10 --disable-epsv "ftp://$VIP/who.txt" 2>&1)
  grep -q "227 Entering Passive Mode (10,200,1,100," <<<"$seen" ||
    { echo "FAIL: the client saw a 227 without the VIP: $seen"; return 1; }
}

test_a_nic_with_another_xdp_program_is_a_clear_startup_error() {
  lab_up
  clang -O2 -target bpf -I/usr/include/"$(gcc -dumpmachine)" -c "$ROOT/bench/xdp_sink.c" -o "$D/sink.o"
  ip -n "$P-dir" link set dev out0 xdp obj "$D/sink.o" sec xdp
  local out rc=0
  out=$(ip netns exec "$P-dir" timeout 10 "$BIN/xlbd" --config "$ROOT/examples/nat.toml" --socket "$D/s.sock" 2>&1) || rc=$?
  assert_eq "$rc" 1 "exit code"
  grep -q "XDP program on out0: .*Device or resource busy (os error 16).*another XDP program already attached" <<<"$out" ||
    { echo "FAIL: said: $(tail -1 <<<"$out")"; return 1; }
  # Nothing half-started: the other program is still the one attached.
  ip -n "$P-dir" link show out0 | has "prog/xdp" || { echo "FAIL: the existing program was removed"; return 1; }
}
