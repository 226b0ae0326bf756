# TUN forwarding: the director wraps each client packet in an outer IPv4
# header to its real server, which unwraps it (the lab's real servers with
# an XDP program of ours: this kernel has no ipip module) and answers the
# client directly. Sourced by run.sh.

# tun_config FILE: TCP 80 and UDP 53, round robin over the three servers.
tun_config() {
  local port proto i
  : >"$1"
  cat >>"$1" <<EOT
[daemon]
interfaces = ["out0", "in0"]
cores = [1]
EOT
  for port in 80/tcp 53/udp; do
    proto=${port#*/}
    cat >>"$1" <<EOT
[[virtual_server]]
name = "$proto-tun"
address = "$VIP"
port = ${port%/*}
protocol = "$proto"
scheduler = "rr"
forwarding = "tun"
EOT
    for i in 1 2 3; do
      printf '[[virtual_server.real_server]]\naddress = "10.200.2.1%s"\n' "$i" >>"$1"
    done
  done
}

# decapsulated N: packets rsN's XDP program unwrapped.
decapsulated() { xdp_decapsulated "$P-rs$1"; }

test_tun_http_udp_large_transfers_and_path_mtu() {
  lab_up
  "$ROOT/scripts/lab.sh" mode tun "$P"
  local cfg=$D/tun.toml
  tun_config "$cfg"
  start_xlbd "$cfg"
  assert_eq "$(json_get 's["services"][0]["forwarding"]')" Tunnel "listed as TUN"
  # HTTP: new connections, round robin, each answered by its server.
  assert_eq "$(http_split 30 http://$VIP/)" "rs1=10 rs2=10 rs3=10 fail=0" "TUN HTTP split"
  # UDP: the reply comes from the VIP, straight from the server.
  local out
  out=$(udp_split 30 53)
  assert_eq "$out" "rs1=10 rs2=10 rs3=10 fail=0" "TUN UDP split"
  # A large download, byte-exact (the server's data never crosses the
  # director; the client's ACKs go through the tunnel).
  local want got
  want=$(python3 -c 'import hashlib; print(hashlib.sha256(b"x" * 20000000).hexdigest())')
  got=$(in_client curl -s --max-time 30 "http://$VIP/bytes/20000000" | sha256sum | cut -d' ' -f1)
  assert_eq "$got" "$want" "20 MB download through the tunnel"
  # An upload: full-size segments (1500 bytes, DF) do not fit the inside
  # link once wrapped; the director answers "fragmentation needed" with the
  # tunnel's MTU and the client's TCP sends smaller ones.
  in_client ip route flush cache
  head -c 4000000 /dev/urandom >"$D/upload.bin"
  want=$(sha256sum <"$D/upload.bin" | cut -d' ' -f1)
  got=$(in_client curl -s --max-time 30 --data-binary "@$D/upload.bin" "http://$VIP/upload")
  echo "upload answered: $got"
  [[ "$got" =~ ^rs[123]\ 4000000\ $want$ ]] || { echo "FAIL: upload not byte-exact: $got"; return 1; }
  local sent
  sent=$(xlbctl show --json | python3 -c 'import json,sys; print(sum(w["frag_needed_sent"] for w in json.load(sys.stdin)["workers"]))')
  echo "fragmentation needed sent: $sent"
  [ "$sent" -ge 1 ] || { echo "FAIL: no ICMP fragmentation needed sent"; return 1; }
  in_client ip route get "$VIP" | has "mtu 1480" ||
    { echo "FAIL: the client did not learn the tunnel's MTU:"; in_client ip route get "$VIP"; return 1; }
  # Every server unwrapped what it got: the tunnel was used.
  local i n
  for i in 1 2 3; do
    n=$(decapsulated "$i")
    echo "rs$i decapsulated $n"
    [ "$n" -gt 0 ] || { echo "FAIL: rs$i unwrapped nothing"; return 1; }
  done
}
