# IPv6 services (scripts/lab.sh gives every host an IPv6 address beside its
# IPv4 one): NAT and DR end to end with curl -6 and UDP, the deterministic
# schedulers splitting exactly as they do for IPv4 in the same run,
# persistence by /64, and malformed IPv6 frames counted and dropped while
# ICMPv6 (neighbour discovery, echo) stays the kernel's. Sourced by run.sh.

RS6=(2001:db8:2::11 2001:db8:2::12 2001:db8:2::13)

# ipv6_config FILE FORWARDING: twin IPv4 and IPv6 services on ports 81
# (rr), 82 (wrr 3:2:1), 83 (fo, weights 1:3:2) and UDP 5353 (rr), an IPv6
# persistent service on 84 (/64), and (NAT) a 1 MB download on 80.
ipv6_config() {
  local f=$1 fwd=$2 rport=8080
  [ "$fwd" = dr ] && rport=
  {
    printf '[daemon]\ninterfaces = ["out0", "in0"]\ncores = [1]\n'
    local vip port sched proto reals weights
    for vip in "$VIP" "$VIP6"; do
      if [ "$vip" = "$VIP" ]; then reals=(10.200.2.11 10.200.2.12 10.200.2.13); else reals=("${RS6[@]}"); fi
      for spec in "81 rr tcp 1,1,1" "82 wrr tcp 3,2,1" "83 fo tcp 1,3,2" "5353 rr udp 1,1,1"; do
        read -r port sched proto weights <<<"$spec"
        IFS=, read -r -a w <<<"$weights"
        # DR keeps the port: its real servers listen on the service's.
        [ "$fwd" = dr ] && [ "$proto" = tcp ] && port=8080 && [ "$sched" != rr ] && continue
        printf '\n[[virtual_server]]\naddress = "%s"\nport = %s\nprotocol = "%s"\nscheduler = "%s"\nforwarding = "%s"\n' \
          "$vip" "$port" "$proto" "$sched" "$fwd"
        [ "$port" = 81 ] && printf '  [virtual_server.check]\n  type = "http"\n  path = "/"\n  interval = 0.3\n'
        for i in 0 1 2; do
          printf '  [[virtual_server.real_server]]\n  address = "%s"\n  weight = %s\n' "${reals[$i]}" "${w[$i]}"
          [ "$proto" = tcp ] && [ -n "$rport" ] && printf '  port = %s\n' "$rport"
        done
      done
    done
    if [ "$fwd" = nat ]; then
      printf '\n[[virtual_server]]\naddress = "%s"\nport = 84\nscheduler = "rr"\nforwarding = "nat"\npersistence_timeout = 60\npersistence_granularity = 64\n' "$VIP6"
      for r in "${RS6[@]}"; do printf '  [[virtual_server.real_server]]\n  address = "%s"\n  port = 8080\n' "$r"; done
      # Health checks over IPv6 that every server fails, by their answer.
      printf '\n[[virtual_server]]\naddress = "%s"\nport = 85\nforwarding = "nat"\n' "$VIP6"
      printf '  [virtual_server.check]\n  type = "http"\n  path = "/status/503"\n  interval = 0.3\n  fall = 1\n'
      for r in "${RS6[@]}"; do printf '  [[virtual_server.real_server]]\n  address = "%s"\n  port = 8080\n' "$r"; done
    fi
  } >"$f"
}

# split_from SRC N URL: N new connections bound to client address SRC.
split_from() {
  local out
  out=$(in_client bash -c "for i in \$(seq $2); do curl -s --max-time 3 --interface '$1' '$3' || echo fail; done")
  printf 'rs1=%s rs2=%s rs3=%s fail=%s\n' \
    "$(grep -c '^rs1$' <<<"$out")" "$(grep -c '^rs2$' <<<"$out")" \
    "$(grep -c '^rs3$' <<<"$out")" "$(grep -c '^fail$' <<<"$out")"
}

# ipv6_why: what the director saw, for a failed split.
ipv6_why() {
  xlbctl show --workers
  json_get 's["workers"][0]["drops"]'
  ip -n "$P-cli" -6 neigh; ip -n "$P-dir" -6 neigh
}

test_ipv6_nat_and_dr_split_as_ipv4_and_malformed_frames_are_counted() {
  lab_up
  ipv6_config "$D/nat6.toml" nat
  "$BIN/xlbctl" check-config "$D/nat6.toml" >/dev/null
  start_xlbd "$D/nat6.toml"
  local v4 v6
  # HTTP checks reach the IPv6 servers: up where they answer 200, down with
  # the status where they answer 503.
  local health='"".join(sorted(set(r.get("health", "-")[:24] for v in s["services"] if v["address"] == "'$VIP6'" and v["port"] == PORT for r in v["reals"])))'
  wait_until 10 bash -c "[ \"\$(XLB_X=1 $BIN/xlbctl --socket $SOCK show --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(${health/PORT/85})')\" = 'down: HTTP status 503' ]" >/dev/null ||
    { echo "FAIL: port 85 health:"; xlbctl show; return 1; }
  assert_eq "$(json_get "${health/PORT/81}")" "up" "IPv6 servers' HTTP check on port 81"
  # The same request sequence through each family: the same split.
  for spec in "81 rs1=10 rs2=10 rs3=10 fail=0" "82 rs1=15 rs2=10 rs3=5 fail=0" "83 rs1=0 rs2=30 rs3=0 fail=0"; do
    read -r port want <<<"$spec"
    v4=$(http_split 30 "http://$VIP:$port/")
    v6=$(http_split 30 "http://[$VIP6]:$port/")
    assert_eq "$v4" "$want" "IPv4 NAT split on port $port" || { ipv6_why; return 1; }
    assert_eq "$v6" "$v4" "IPv6 NAT split on port $port, as IPv4's" || { ipv6_why; return 1; }
  done
  assert_eq "$(udp_split 30 5353 "$VIP6")" "rs1=10 rs2=10 rs3=10 fail=0" "IPv6 NAT UDP split"
  # A large transfer, every segment's checksum rewritten on the way.
  local got
  got=$(in_client curl -s -6 --max-time 20 "http://[$VIP6]:82/bytes/1000000" | wc -c)
  assert_eq "$got" 1000000 "IPv6 NAT bytes received"
  # Persistence by /64: two clients of one /64 share a server; a client of
  # another /64 is scheduled afresh (round robin: the next server).
  ip -n "$P-cli" addr add 2001:db8:1::3/64 dev c0 nodad
  ip -n "$P-cli" addr add 2001:db8:1:1::2/64 dev c0 nodad
  local a b c
  a=$(split_from 2001:db8:1::2 4 "http://[$VIP6]:84/")
  b=$(split_from 2001:db8:1::3 4 "http://[$VIP6]:84/")
  c=$(split_from 2001:db8:1:1::2 4 "http://[$VIP6]:84/")
  assert_eq "$a" "rs1=4 rs2=0 rs3=0 fail=0" "first client of the /64"
  assert_eq "$b" "$a" "second client of the same /64"
  assert_eq "$c" "rs1=0 rs2=4 rs3=0 fail=0" "a client of another /64"
  # ipvsadm's spelling of IPv6 endpoints.
  xlbctl show | has "TCP  \[$VIP6\]:82 wrr" || { echo "FAIL: listing:"; xlbctl show; return 1; }
  XLB_SOCKET="$SOCK" "$BIN/xlb-ipvsadm" -L -n | has "\[${RS6[0]}\]:8080" ||
    { echo "FAIL: ipvsadm listing:"; XLB_SOCKET="$SOCK" "$BIN/xlb-ipvsadm" -L -n; return 1; }

  # An IPv6 service added at run time, ipvsadm's way.
  local ipv=(env XLB_SOCKET="$SOCK" "$BIN/xlb-ipvsadm")
  "${ipv[@]}" -A -t "[$VIP6]:86" -s rr
  "${ipv[@]}" -a -t "[$VIP6]:86" -r "[${RS6[2]}]:8080" -m
  assert_eq "$(http_split 3 "http://[$VIP6]:86/")" "rs1=0 rs2=0 rs3=3 fail=0" "a service added by xlb-ipvsadm" || { ipv6_why; return 1; }

  # Malformed IPv6 to the VIP, raw from the client: each counted under its
  # reason, none forwarded; ICMPv6 to the VIP is still the kernel's.
  local dmac
  dmac=$(ip -n "$P-dir" link show out0 | awk '/ether/{print $2}')
  in_client python3 - "$dmac" "$VIP6" <<'PY'
import socket, struct, sys
dmac = bytes.fromhex(sys.argv[1].replace(":", ""))
vip = socket.inet_pton(socket.AF_INET6, sys.argv[2])
cli = socket.inet_pton(socket.AF_INET6, "2001:db8:1::2")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("c0", 0))
smac = s.getsockname()[4]
tcp = struct.pack("!HHIIBBHHH", 40000, 82, 1, 0, 0x50, 0x02, 1024, 0, 0)
def frame(first, ext, plen=None):
    body = ext + tcp
    ip = struct.pack("!IHBB16s16s", 6 << 28, len(body) if plen is None else plen, first, 64, cli, vip)
    return dmac + smac + b"\x86\xdd" + ip + body
def opts(next_header):
    return bytes([next_header, 0, 1, 4, 0, 0, 0, 0])
chain = b"".join(opts(60) for _ in range(8)) + opts(6)  # nine headers
fragment = bytes([6, 0, 0, 1, 0, 0, 0, 7])              # more fragments
routing = bytes([6, 2, 4, 1]) + bytes(20)                # a segment left
for _ in range(3): s.send(frame(60, chain))
for _ in range(2): s.send(frame(43, routing))
for _ in range(4): s.send(frame(44, fragment))
for _ in range(5): s.send(frame(6, b"", plen=1400))      # longer than the frame
PY
  sleep 0.5
  assert_eq "$(json_get 's["workers"][0]["drops"]["bad_extension_header"]')" 5 "bad_extension_header drops"
  assert_eq "$(json_get 's["workers"][0]["drops"]["fragment"]')" 4 "IPv6 fragment drops"
  assert_eq "$(json_get 's["workers"][0]["drops"]["bad_ip_length"]')" 5 "IPv6 bad_ip_length drops"
  # (No ping on this machine kind: an echo request by hand; the kernel
  # fills in ICMPv6 checksums of raw sockets.)
  in_client python3 - "$VIP6" <<'PY' || { echo "FAIL: the VIP does not answer ICMPv6 echo"; return 1; }
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.settimeout(2)
s.sendto(bytes([128, 0, 0, 0, 0x12, 0x34, 0, 1]) + b"xlb", (sys.argv[1], 0))
while True:
    data, src = s.recvfrom(1500)
    if data[0] == 129 and data[4:6] == b"\x12\x34":
        break
PY
  assert_eq "$(http_split 3 "http://[$VIP6]:81/")" "rs1=1 rs2=1 rs3=1 fail=0" "forwarding after bad frames" || { ipv6_why; return 1; }

  # DR: the same, the servers answering the client straight from the VIP.
  stop_xlbd
  "$ROOT/scripts/lab.sh" mode dr "$P"
  ipv6_config "$D/dr6.toml" dr
  start_xlbd "$D/dr6.toml"
  v4=$(http_split 30 "http://$VIP:8080/")
  v6=$(http_split 30 "http://[$VIP6]:8080/")
  assert_eq "$v4" "rs1=10 rs2=10 rs3=10 fail=0" "IPv4 DR split"
  assert_eq "$v6" "$v4" "IPv6 DR split, as IPv4's" || { ipv6_why; return 1; }
  assert_eq "$(udp_split 30 5353 "$VIP6")" "rs1=10 rs2=10 rs3=10 fail=0" "IPv6 DR UDP split"
  got=$(in_client curl -s -6 --max-time 20 "http://[$VIP6]:8080/bytes/1000000" | wc -c)
  assert_eq "$got" 1000000 "IPv6 DR bytes received"
  # DR never sees replies.
  assert_eq "$(json_get 'sum(v["traffic"]["packets_out"] for v in s["services"])')" 0 "DR packets_out"
}
