# Connection sync lab tests: two directors (LAB_HA=1) with [sync] on the
# inside link; the master is killed mid-transfer. Sourced by run.sh.

# sync_of NAME FIELD: a counter of `xlbctl show --json`'s sync section.
sync_of() {
  "$BIN/xlbctl" --socket "$D/$1.sock" show --json 2>/dev/null |
    python3 -c "import json,sys; print(json.load(sys.stdin).get('sync',{}).get('$2',0))" 2>/dev/null || echo 0
}
at_least() { [ "$(sync_of "$1" "$2")" -ge "$3" ]; }
# broken_downloads SIZE PID...: waits for the curl PIDs (the i-th wrote
# $D/dl$i and its -w line to $D/dl$i.res), prints a FAIL line for each
# download that is not status 200 and SIZE bytes of 'x', and returns how
# many (fewer than 256 PIDs).
broken_downloads() {
  local size=$1 bad=0 i=0 pid code got
  shift
  for pid in "$@"; do
    i=$((i + 1))
    wait "$pid" || true
    read -r code got _ <"$D/dl$i.res" || true
    if [ "$code" != 200 ] || [ "$got" != "$size" ] ||
      [ "$(tr -d x <"$D/dl$i" | wc -c)" != 0 ] || [ "$(stat -c %s "$D/dl$i")" != "$size" ]; then
      echo "FAIL: download $i: $(cat "$D/dl$i.res") ($(stat -c %s "$D/dl$i") bytes)"; bad=$((bad + 1))
    fi
  done
  return "$bad"
}
# holds NAME SERVICE N: director NAME lists at least N live connections of
# SERVICE: established TCP ones or UDP flows (not persistence templates,
# not the short probes that ended).
holds() {
  local n
  n=$("$BIN/xlbctl" --socket "$D/$1.sock" conns --service "$2" --json 2>/dev/null | python3 -c "
import json, sys
print(sum(1 for c in json.load(sys.stdin)['conns'] if not c.get('template')
          and (c['protocol'] == 'UDP' or c['state'] == 'ESTABLISHED')))" 2>/dev/null) || n=0
  [ "${n:-0}" -ge "$3" ]
}
# holds_all NAME: the NAT test's 50 downloads, 20 UDP flows, and the two
# FTP sessions' control and data connections.
holds_all() { holds "$1" web 50 && holds "$1" dns 20 && holds "$1" ftp 4; }

# server_of_new_connections N: the one server N new connections reached
# (fails, printing them all, if they went to several).
server_of_new_connections() {
  local seen
  seen=$(for _ in $(seq "$1"); do
    in_client curl -s --max-time 1 "http://$VIP:8080/" | grep -o '^rs[0-9]*'
  done | sort -u)
  echo "$seen" | tr '\n' ' ' | sed 's/ $//'
  [ "$(echo "$seen" | grep -c .)" = 1 ]
}

# sync_ha_config NAME PRIORITY: $D/NAME.toml, ha.toml with [sync] on the
# inside link (sync id 7) and a 2 s preempt delay: time for the whole
# table its peer sends a returning master before it takes over.
sync_ha_config() {
  ha_config "$1" "$2" 2 false
  sed -i 's/^nopreempt = false$/nopreempt = false\npreempt_delay = 2/' "$D/$1.toml"
  printf '\n[sync]\ninterface = "in0"\nsync_id = 7\n' >>"$D/$1.toml"
}

# udp_flows N SECONDS: N UDP flows (one source port each) to VIP:53, a
# datagram per flow every 0.2 s until SECONDS pass or $D/udp.stop appears;
# prints per flow "flow PORT SERVERS REPLIES LAST" (LAST: seconds since
# its last reply).
udp_flows() {
  in_client python3 - "$VIP" "$1" "$2" "$D/udp.stop" <<'PY'
import os, select, socket, sys, time
vip, n, secs, stop = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.setblocking(False)
    socks.append(s)
seen = [set() for _ in socks]
replies = [0] * n
last = [0.0] * n
end = time.time() + secs
k = 0
while time.time() < end and not os.path.exists(stop):
    for s in socks:
        try:
            s.sendto(b"f%d" % k, (vip, 53))
        except OSError:
            pass  # the VIP's neighbour entry between two directors: a lost datagram
    k += 1
    until = time.time() + 0.2
    while (left := until - time.time()) > 0:
        ready, _, _ = select.select(socks, [], [], left)
        for s in ready:
            data, _ = s.recvfrom(200)
            i = socks.index(s)
            seen[i].add(data.split()[0].decode())
            replies[i] += 1
            last[i] = time.time()
now = time.time()
for i, s in enumerate(socks):
    print("flow %d %s %d %.1f" % (s.getsockname()[1], ",".join(sorted(seen[i])) or "-", replies[i],
                                  now - last[i] if last[i] else -1))
PY
}

test_sync_nat_failover_and_preempt_keep_every_download() {
  command -v vsftpd >/dev/null || { echo "FAIL: vsftpd missing (scripts/install-deps.sh installs it)"; return 1; }
  LAB_HA=1 lab_up
  for n in x1 x2; do
    sync_ha_config "$n" "$([ $n = x1 ] && echo 250 || echo 100)"
    # One client, persistent: its new connections after a failover must
    # find the server its template names.
    sed -i 's/^scheduler = "rr"$/scheduler = "rr"\npersistence_timeout = 300/' "$D/$n.toml"
    # UDP flows spread by round robin (a new director would spread them
    # anew), and FTP with its helper.
    cat >>"$D/$n.toml" <<EOT
[[virtual_server]]
name = "dns"
address = "$VIP"
port = 53
protocol = "udp"
scheduler = "rr"
  [[virtual_server.real_server]]
  address = "10.200.2.11"
  [[virtual_server.real_server]]
  address = "10.200.2.12"
  [[virtual_server.real_server]]
  address = "10.200.2.13"
[[virtual_server]]
name = "ftp"
address = "$VIP"
port = 21
scheduler = "rr"
ftp = true
  [[virtual_server.real_server]]
  address = "10.200.2.11"
  [[virtual_server.real_server]]
  address = "10.200.2.12"
EOT
  done
  head -c 6000000 /dev/urandom >"$D/data.bin"
  for r in rs1 rs2; do start_vsftpd "$r" nat; done
  start_ha_xlbd dir x1 "$D/x1.toml"
  start_ha_xlbd dir2 x2 "$D/x2.toml"
  wait_until 8 is_state x1 VI_OUT MASTER >/dev/null
  wait_until 3 is_state x2 VI_OUT BACKUP >/dev/null
  wait_until 5 vip_answers >/dev/null
  local who
  who=$(server_of_new_connections 3) || { echo "FAIL: not persistent before the failover: $who"; return 1; }
  # 50 downloads of 4 MB at 200 kB/s each: about 20 s, across a failover
  # and the old master's return (all still running when it is back). A
  # small receive buffer keeps each on the wire until curl has read it
  # (the kernel would otherwise take it all in a few seconds, and close
  # the connection long before curl's limited reading is done).
  in_client sysctl -qw net.ipv4.tcp_rmem="4096 32768 65536"
  local n=50 size=4000000 pids=()
  for i in $(seq $n); do
    in_client curl -s -o "$D/dl$i" -w '%{http_code} %{size_download} %{exitcode} %{errormsg}\n' \
      --max-time 60 --limit-rate 200k "http://$VIP:8080/bytes/$size" >"$D/dl$i.res" 2>&1 &
    pids+=("$!"); EXTRA_PIDS+=("$!")
  done
  # 20 UDP flows and two FTP downloads (6 MB at 300 kB/s) across both
  # changes: active (the server's data connection from its port 20) and
  # passive with PASV (its 227 rewritten to name the VIP, one byte
  # longer: the control connection's sequence offsets must follow it).
  udp_flows 20 40 >"$D/udp.out" &
  local udp=$!; EXTRA_PIDS+=("$udp")
  local ftp=() mode
  for mode in active passive; do
    local how="-P - --disable-eprt"; [ $mode = passive ] && how="--disable-epsv"
    in_client curl -s $how --limit-rate 300k --max-time 60 -o "$D/ftp-$mode.out" \
      -w '%{http_code} %{size_download} %{exitcode} %{errormsg}\n' "ftp://$VIP/data.bin" >"$D/ftp-$mode.res" 2>&1 &
    ftp+=("$!"); EXTRA_PIDS+=("$!")
  done
  # The backup hears of every one before the kill.
  took=$(wait_until 6 holds_all x2) ||
    { "$BIN/xlbctl" --socket "$D/x2.sock" show --sync; return 1; }
  echo "the backup had all $n connections within ${took}s"
  sleep 1
  kill -9 "$x1_PID"
  took=$(wait_until 8 is_state x2 VI_OUT MASTER)
  echo "failover took ${took}s with $n downloads running"
  at_least x2 templates_installed 1 || { echo "FAIL: no persistence template reached the backup"; return 1; }
  local after
  after=$(server_of_new_connections 3)
  [ "$after" = "$who" ] || { echo "FAIL: after the failover new connections went to $after, not $who"; return 1; }
  sleep 1
  # The old master returns: its peer sends it the whole table, then it
  # preempts (after preempt_delay) and carries the downloads again.
  start_ha_xlbd dir x1 "$D/x1.toml"
  took=$(wait_until 8 is_state x1 VI_OUT MASTER)
  echo "the old master took over again after ${took}s"
  wait_until 3 is_state x2 VI_OUT BACKUP >/dev/null
  at_least x2 table_transfers 1 || { echo "FAIL: no whole table sent to the returning master"; return 1; }
  after=$(server_of_new_connections 3)
  [ "$after" = "$who" ] || { echo "FAIL: after the preempt new connections went to $after, not $who"; return 1; }
  holds_all x1 || { "$BIN/xlbctl" --socket "$D/x1.sock" conns; echo "FAIL: the returning master installed $(sync_of x1 installed) of $n"; "$BIN/xlbctl" --socket "$D/x1.sock" show --sync; "$BIN/xlbctl" --socket "$D/x2.sock" show --sync; grep sync "$D/x2.log" "$D/x1.log"; return 1; }
  local bad=0
  broken_downloads "$size" "${pids[@]}" || bad=$?
  "$BIN/xlbctl" --socket "$D/x2.sock" show --sync
  "$BIN/xlbctl" --socket "$D/x1.sock" show --sync
  [ "$bad" = 0 ] || { echo "FAIL: $bad of $n downloads broke"; tail -25 "$D/x1.log"; return 1; }
  echo "all $n downloads completed byte-exact across the failover and the preempt"
  wait "${ftp[@]}" || true
  for mode in active passive; do
    # The bytes, and the control connection's 226 after them.
    [ "$(sha256sum <"$D/ftp-$mode.out")" = "$(sha256sum <"$D/data.bin")" ] &&
      grep -q "^226 6000000 0 $" "$D/ftp-$mode.res" ||
      { echo "FAIL: the $mode FTP download: $(cat "$D/ftp-$mode.res") ($(stat -c %s "$D/ftp-$mode.out") bytes)"; return 1; }
    echo "the $mode FTP download completed byte-exact: $(cat "$D/ftp-$mode.res")"
  done
  touch "$D/udp.stop"; wait "$udp" || true
  # Each flow answered by one server throughout, and still answered at the end.
  awk '$3 ~ /,/ || $3 == "-" || $5 < 0 || $5 > 1 { bad++; print "FAIL: " $0 }
       END { exit bad > 0 }' "$D/udp.out" || return 1
  [ "$(wc -l <"$D/udp.out")" = 20 ] || { echo "FAIL: udp flows: $(cat "$D/udp.out")"; return 1; }
  echo "20 UDP flows kept their real servers: $(awk '{ print $3 }' "$D/udp.out" | sort | uniq -c | tr -s ' \n' ' ')"
}

test_sync_dr_failover_and_preempt_keep_long_connections() {
  LAB_HA=1 lab_up
  "$ROOT/scripts/lab.sh" mode dr "$P"
  for n in x1 x2; do
    sync_ha_config "$n" "$([ $n = x1 ] && echo 250 || echo 100)"
    # The line echo in DR, spread by round robin: a director without the
    # table would send a connection's next segment to any server.
    sed -i '/^\[\[virtual_server\]\]/,/^\[sync\]/{/^\[sync\]/!d}' "$D/$n.toml"
    cat >>"$D/$n.toml" <<EOT
[[virtual_server]]
name = "echo"
address = "$VIP"
port = 9000
scheduler = "rr"
forwarding = "dr"
  [[virtual_server.real_server]]
  address = "10.200.2.11"
  [[virtual_server.real_server]]
  address = "10.200.2.12"
  [[virtual_server.real_server]]
  address = "10.200.2.13"
EOT
  done
  start_ha_xlbd dir x1 "$D/x1.toml"
  start_ha_xlbd dir2 x2 "$D/x2.toml"
  wait_until 8 is_state x1 VI_OUT MASTER >/dev/null
  wait_until 3 is_state x2 VI_OUT BACKUP >/dev/null
  # 30 connections, a line on each every 0.1 s for 14 s; a line may wait
  # out a failover (10 s), a reset or a wrong answer fails the connection.
  in_client python3 - "$VIP" 30 14 >"$D/long.out" <<'PY' &
import socket, sys, time
vip, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
conns = []
for i in range(n):
    s = socket.create_connection((vip, 9000), timeout=3)
    s.settimeout(10)
    conns.append((s, s.makefile("rb")))
who = [None] * n
fail = {}
end = time.time() + secs
k = 0
while time.time() < end:
    for i, (s, f) in enumerate(conns):
        if i in fail:
            continue
        try:
            s.sendall(b"line %d\n" % k)
            line = f.readline()
            name = line.split()[0] if line else b"-"
            if not line.endswith(b"line %d\n" % k) or who[i] not in (None, name):
                fail[i] = "answer %r" % line
            who[i] = name
        except OSError as e:
            fail[i] = repr(e)
    k += 1
    time.sleep(0.1)
for i, why in sorted(fail.items()):
    print("conn %d: %s" % (i, why))
print("long ok=%d fail=%d servers=%s" % (n - len(fail), len(fail), ",".join(sorted({w.decode() for w in who if w}))))
PY
  local long=$!; EXTRA_PIDS+=("$long")
  took=$(wait_until 6 holds x2 echo 30) ||
    { "$BIN/xlbctl" --socket "$D/x2.sock" show --sync; return 1; }
  echo "the backup had all 30 connections within ${took}s"
  sleep 1
  kill -9 "$x1_PID"
  took=$(wait_until 8 is_state x2 VI_OUT MASTER)
  echo "failover took ${took}s"
  sleep 2
  start_ha_xlbd dir x1 "$D/x1.toml"
  took=$(wait_until 8 is_state x1 VI_OUT MASTER)
  echo "the old master took over again after ${took}s"
  holds x1 echo 30 || { echo "FAIL: the returning master holds $("$BIN/xlbctl" --socket "$D/x1.sock" conns --service echo | grep -c TCP) of 30"; return 1; }
  wait "$long" || true
  cat "$D/long.out"
  grep -q "^long ok=30 fail=0 servers=rs1,rs2,rs3$" "$D/long.out" ||
    { echo "FAIL: long connections broke across the failover"; return 1; }
  # DR: the directors saw only the clients' side, and forwarded it.
  "$BIN/xlbctl" --socket "$D/x1.sock" show --sync
}

# IPv6 NAT across a SIGKILL failover: the VIP and the servers' inside
# gateway move by VRRPv3 with unsolicited NAs; the backup installs the
# synced IPv6 connections with their clients' next hops resolved, so the
# servers' data (a download: the client has nothing to say until it
# arrives) is forwarded at once.
test_sync_ipv6_nat_failover_keeps_every_download() {
  LAB_HA=1 lab_up
  local d ifc
  for d in dir dir2; do
    for ifc in out0 in0; do link_local_ready "$d" "$ifc"; done
  done
  local n
  for n in x1 x2; do
    local prio; prio=$([ $n = x1 ] && echo 250 || echo 100)
    sync_ha_config "$n" "$prio"
    sed -i 's/^version = 2$/version = 3/; s/^group = \["VI_OUT", "VI_IN"\]$/group = ["VI_OUT", "VI_IN", "VI6_OUT", "VI6_IN"]/' "$D/$n.toml"
    grep -q '^version = 3$' "$D/$n.toml" && grep -q '"VI6_IN"\]$' "$D/$n.toml" ||
      { echo "FAIL: configs/ha.toml changed: VRRPv3 and the sync group not set"; return 1; }
    cat >>"$D/$n.toml" <<EOT
[[vrrp_instance]]
name = "VI6_OUT"
interface = "out0"
virtual_router_id = 61
priority = $prio
advert_int = 1
preempt_delay = 2
virtual_ipaddress = ["$VIP6/64"]

[[vrrp_instance]]
name = "VI6_IN"
interface = "in0"
virtual_router_id = 62
priority = $prio
advert_int = 1
preempt_delay = 2
virtual_ipaddress = ["2001:db8:2::100/64"]

[[virtual_server]]
name = "web6"
address = "$VIP6"
port = 8080
scheduler = "rr"
forwarding = "nat"
  [[virtual_server.real_server]]
  address = "2001:db8:2::11"
  [[virtual_server.real_server]]
  address = "2001:db8:2::12"
  [[virtual_server.real_server]]
  address = "2001:db8:2::13"
EOT
  done
  # Policy routing on the backup: a table for another source's traffic
  # with a more specific route to the client over in0. The kernel sends
  # by its main table; so must the synced clients' hops.
  ip -n "$P-dir2" -6 route add 2001:db8:1::/112 via 2001:db8:2::99 dev in0 table 100
  ip -n "$P-dir2" -6 rule add from 2001:db8:77::/48 lookup 100
  ip -n "$P-dir2" -6 route get 2001:db8:1::2 | has 'dev out0' ||
    { echo "FAIL: the kernel's own route to the client is not over out0"; return 1; }
  start_ha_xlbd dir x1 "$D/x1.toml"
  start_ha_xlbd dir2 x2 "$D/x2.toml"
  wait_until 8 is_state x1 VI6_OUT MASTER >/dev/null ||
    { "$BIN/xlbctl" --socket "$D/x1.sock" vrrp; cat "$D/x1.log"; return 1; }
  wait_until 3 is_state x1 VI6_IN MASTER >/dev/null
  wait_until 3 is_state x2 VI6_OUT BACKUP >/dev/null
  wait_until 5 bash -c "ip netns exec $P-cli curl -s --max-time 0.5 'http://[$VIP6]:8080/' | has '^rs'" >/dev/null ||
    { echo "FAIL: [$VIP6]:8080 does not answer"; return 1; }
  # 30 downloads of 2 MB at 200 kB/s (10 s each) across the failover, a
  # small receive buffer keeping each on the wire (as the IPv4 test).
  in_client sysctl -qw net.ipv4.tcp_rmem="4096 32768 65536"
  local count=30 size=2000000 pids=() i
  for i in $(seq $count); do
    in_client curl -s -o "$D/dl$i" -w '%{http_code} %{size_download} %{exitcode} %{errormsg}\n' \
      --max-time 40 --limit-rate 200k "http://[$VIP6]:8080/bytes/$size" >"$D/dl$i.res" 2>&1 &
    pids+=("$!"); EXTRA_PIDS+=("$!")
  done
  took=$(wait_until 6 holds x2 web6 "$count") ||
    { "$BIN/xlbctl" --socket "$D/x2.sock" show --sync; return 1; }
  echo "the backup had all $count IPv6 connections within ${took}s"
  sleep 1
  kill -9 "$x1_PID"
  took=$(wait_until 8 is_state x2 VI6_OUT MASTER)
  echo "IPv6 failover took ${took}s with $count downloads running"
  is_state x2 VI6_IN MASTER || { echo "FAIL: the inside IPv6 gateway did not follow"; return 1; }
  local bad=0
  broken_downloads "$size" "${pids[@]}" || bad=$?
  "$BIN/xlbctl" --socket "$D/x2.sock" show --sync
  [ "$bad" = 0 ] || { echo "FAIL: $bad of $count IPv6 downloads broke"; tail -25 "$D/x2.log"; return 1; }
  local unresolved
  unresolved=$("$BIN/xlbctl" --socket "$D/x2.sock" show --json |
    python3 -c "import json,sys; print(json.load(sys.stdin)['sync']['dropped'].get('client_unresolved', 0))")
  assert_eq "$unresolved" 0 "synced IPv6 clients whose next hop stayed unknown"
  echo "all $count IPv6 downloads completed byte-exact across the failover"
}
