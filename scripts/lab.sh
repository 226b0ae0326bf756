#!/usr/bin/env bash
# The xlb lab: network namespaces joined by veth pairs and two bridges.
#
#   client (c0 10.200.1.2) --+                     +-- rs1 (r0 10.200.2.11)
#                            |                     +-- rs2 (r0 10.200.2.12)
#                  br-out (sw 10.200.1.254)   br-in (sw 10.200.2.254)
#                            |                     +-- rs3 (r0 10.200.2.13)
#        director  out0 10.200.1.1 + VIP 10.200.1.100  in0 10.200.2.1
#
# IPv6 beside it, the same shape: client 2001:db8:1::2, director out0
# 2001:db8:1::1 + VIP6 2001:db8:1::100, in0 2001:db8:2::1, real servers
# 2001:db8:2::11-13, switch ::fe on both (all without DAD, so usable at once).
#
# "sw" is the switch and also the router that DR replies take back to the
# client. Real servers run scripts/lab/rs-server.py: HTTP on 80 and 8080,
# UDP echo on 53 and 5353, answering with their name.
#
# LAB_HA=1 adds a second director "dir2" (out0 10.200.1.3 and 2001:db8:1::103,
# in0 10.200.2.3 and 2001:db8:2::3) and leaves the VIPs off both: VRRP adds
# them (and the inside gateway VIPs 10.200.2.100 and 2001:db8:2::100, which
# NAT real servers then route through).
#
# Usage: scripts/lab.sh up [PREFIX]        create (prints the prefix);
#                                          LAB_QUEUES=N: N queues per director port
#        scripts/lab.sh mode nat|dr PREFIX  real servers' gateway for NAT or DR
#        scripts/lab.sh down PREFIX        remove everything the lab made
#        scripts/lab.sh dir PREFIX         print the lab's own folder
# Every name carries PREFIX (default: xlb-<pid>-<random>), so runs never
# collide; state (PIDs, logs) lives in a folder of the lab's own,
# ${XLB_LAB_STATE:-/tmp/xlb-lab}/PREFIX, and `down` deletes only that folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
VIP=10.200.1.100
RS_ADDRS=(10.200.2.11 10.200.2.12 10.200.2.13)
VIP6=2001:db8:1::100
RS6_ADDRS=(2001:db8:2::11 2001:db8:2::12 2001:db8:2::13)

ns() { echo "$P-$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

NAMES="cli dir sw rs1 rs2 rs3"

up() {
  mkdir -p "$S"
  # What `down` looks for before it deletes anything.
  echo "scripts/lab.sh $P" >"$S/.xlb-lab"
  [ "${LAB_HA:-0}" = 1 ] && { touch "$S/ha"; NAMES="$NAMES dir2"; }
  # xlbd pins its steering programs here (so that a killed xlbd's traffic
  # is dropped, not reset by the kernel); mounted on the host, since
  # `ip netns exec` gives each xlbd a mount namespace that dies with it.
  mountpoint -q /run/xlb/bpf || { mkdir -p /run/xlb/bpf && mount -t bpf bpf /run/xlb/bpf; }
  for n in $NAMES; do
    ip netns add "$(ns $n)"
    ip -n "$(ns $n)" link set lo up
  done
  ip -n "$(ns sw)" link add br-out type bridge
  ip -n "$(ns sw)" link add br-in type bridge
  # veth pairs are created with each end directly in its namespace.
  ip link add c0 netns "$(ns cli)" type veth peer name o-cli netns "$(ns sw)"
  # LAB_QUEUES>1 gives the director's ports several queues (one worker
  # each): a veth delivers on the queue the sender transmitted on, which the
  # sender picks per flow, so NAT replies can land on another worker.
  local q="numtxqueues ${LAB_QUEUES:-1} numrxqueues ${LAB_QUEUES:-1}"
  ip link add out0 netns "$(ns dir)" $q type veth peer name o-dir netns "$(ns sw)" $q
  ip link add in0 netns "$(ns dir)" $q type veth peer name i-dir netns "$(ns sw)" $q
  for i in 1 2 3; do
    ip link add r0 netns "$(ns rs$i)" type veth peer name "i-rs$i" netns "$(ns sw)"
  done
  for p in o-cli o-dir; do ip -n "$(ns sw)" link set "$p" master br-out up; done
  for p in i-dir i-rs1 i-rs2 i-rs3; do ip -n "$(ns sw)" link set "$p" master br-in up; done
  ip -n "$(ns sw)" addr add 10.200.1.254/24 dev br-out
  ip -n "$(ns sw)" addr add 10.200.2.254/24 dev br-in
  ip -n "$(ns sw)" addr add 2001:db8:1::fe/64 dev br-out nodad
  ip -n "$(ns sw)" addr add 2001:db8:2::fe/64 dev br-in nodad
  ip -n "$(ns sw)" link set br-out up
  ip -n "$(ns sw)" link set br-in up
  in_ns sw sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv6.conf.all.forwarding=1
  # A switch must not inspect frames: when br_netfilter is loaded on the host
  # it would validate (and drop) malformed IPv4 that the tests send on purpose.
  for k in iptables ip6tables arptables; do
    in_ns sw sysctl -qw "net.bridge.bridge-nf-call-$k=0" 2>/dev/null || true
  done

  ip -n "$(ns cli)" addr add 10.200.1.2/24 dev c0
  ip -n "$(ns cli)" link set c0 up
  ip -n "$(ns cli)" route add default via 10.200.1.1
  ip -n "$(ns cli)" addr add 2001:db8:1::2/64 dev c0 nodad
  ip -n "$(ns cli)" -6 route add default via 2001:db8:1::1

  ip -n "$(ns dir)" addr add 10.200.1.1/24 dev out0
  if [ -e "$S/ha" ]; then
    ip link add out0 netns "$(ns dir2)" $q type veth peer name o-dir2 netns "$(ns sw)" $q
    ip link add in0 netns "$(ns dir2)" $q type veth peer name i-dir2 netns "$(ns sw)" $q
    ip -n "$(ns sw)" link set o-dir2 master br-out up
    ip -n "$(ns sw)" link set i-dir2 master br-in up
    ip -n "$(ns dir2)" link set lo up
    ip -n "$(ns dir2)" addr add 10.200.1.3/24 dev out0
    ip -n "$(ns dir2)" addr add 10.200.2.3/24 dev in0
    ip -n "$(ns dir2)" addr add 2001:db8:1::103/64 dev out0 nodad
    ip -n "$(ns dir2)" addr add 2001:db8:2::3/64 dev in0 nodad
    ip -n "$(ns dir2)" link set out0 up
    ip -n "$(ns dir2)" link set in0 up
    in_ns dir2 sysctl -qw net.ipv4.ip_forward=1
  else
    # The VIP, as keepalived's virtual_ipaddress would add it on the master.
    ip -n "$(ns dir)" addr add "$VIP/32" dev out0
    ip -n "$(ns dir)" addr add "$VIP6/128" dev out0 nodad
  fi
  ip -n "$(ns dir)" addr add 2001:db8:1::1/64 dev out0 nodad
  ip -n "$(ns dir)" addr add 2001:db8:2::1/64 dev in0 nodad
  ip -n "$(ns dir)" addr add 10.200.2.1/24 dev in0
  ip -n "$(ns dir)" link set out0 up
  ip -n "$(ns dir)" link set in0 up
  in_ns dir sysctl -qw net.ipv4.ip_forward=1

  for i in 1 2 3; do
    local r; r=$(ns rs$i)
    ip -n "$r" addr add "${RS_ADDRS[$((i-1))]}/24" dev r0
    ip -n "$r" addr add "${RS6_ADDRS[$((i-1))]}/64" dev r0 nodad
    ip -n "$r" link set r0 up
    # IPv6 neighbour discovery answers only for addresses of the interface
    # asked on: the VIP on lo needs no arp_ignore's equivalent.
    ip -n "$r" addr add "$VIP6/128" dev lo
    # DR: the VIP on lo, never answered for by ARP (the digest's recipe).
    ip -n "$r" addr add "$VIP/32" dev lo
    ip netns exec "$r" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
      net.ipv4.conf.r0.arp_ignore=1 net.ipv4.conf.r0.arp_announce=2
  done
  # Senders compute full checksums and segment themselves: a veth would
  # otherwise hand XDP a partial checksum or a 64 KB GSO frame that a real
  # NIC never delivers.
  ethtool_off "$(ns cli)" c0
  for i in 1 2 3; do ethtool_off "$(ns rs$i)" r0; done
  mode nat
  for i in 1 2 3; do
    ip netns exec "$(ns rs$i)" python3 "$here/lab/rs-server.py" "rs$i" 80,8080 53,5353 \
      >"$S/rs$i.log" 2>&1 &
    echo $! >"$S/rs$i.pid"
  done
  # Wait until every server listens.
  for i in 1 2 3; do
    for _ in $(seq 50); do
      in_ns "rs$i" bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080' 2>/dev/null && break
      sleep 0.1
    done
  done
  echo "$P"
}

ethtool_off() {
  ip netns exec "$1" ethtool -K "$2" tx off gso off gro off >/dev/null 2>&1 || true
}

mode() {
  local gw gw6=2001:db8:2::fe decap=
  case "$1" in
    nat) gw=10.200.2.1      # replies must cross the director to be un-NATed
         gw6=2001:db8:2::1
         # ... the VRRP master's
         [ -e "$S/ha" ] && gw=10.200.2.100 && gw6=2001:db8:2::100 ;;
    dr) gw=10.200.2.254 ;;  # replies go straight to the router, not the director
    tun) gw=10.200.2.254    # as DR, and the real servers unwrap IP-in-IP
         decap=$S/ipip_decap.o
         clang -O2 -g -target bpf -I/usr/include/"$(gcc -dumpmachine)" \
           -c "$here/lab/ipip_decap.c" -o "$decap" ;;
    *) echo "lab.sh: mode must be nat, dr or tun" >&2; exit 2 ;;
  esac
  for i in 1 2 3; do
    ip -n "$(ns rs$i)" route replace default via "$gw"
    ip -n "$(ns rs$i)" -6 route replace default via "$gw6"
    if [ -n "$decap" ]; then
      ip -n "$(ns rs$i)" link set dev r0 xdpdrv obj "$decap" sec xdp
    else
      ip -n "$(ns rs$i)" link set dev r0 xdp off 2>/dev/null || true
    fi
  done
}

down() {
  for f in "$S"/*.pid; do
    [ -e "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
  done
  for n in $NAMES dir2; do
    # Pins a killed xlbd left for this namespace's interfaces.
    [ -e "/run/netns/$(ns $n)" ] &&
      rm -f /run/xlb/bpf/steer-"$(stat -L -c %i "/run/netns/$(ns $n)")"-* 2>/dev/null
    ip netns del "$(ns $n)" 2>/dev/null || true
  done
  # Only a folder this script made.
  if [ -e "$S/.xlb-lab" ]; then rm -rf "$S"; fi
}

# The lab's folder for prefix $P.
state() { echo "${XLB_LAB_STATE:-/tmp/xlb-lab}/$P"; }

cmd=${1:-}
case "$cmd" in
  up) P=${2:-xlb-$$-$RANDOM}; S=$(state); up ;;
  mode) P=${3:?prefix}; S=$(state); mode "${2:?nat|dr|tun}" ;;
  down) P=${2:?prefix}; S=$(state); down ;;
  dir) P=${2:?prefix}; state ;;
  *) echo "usage: $0 up [PREFIX] | mode nat|dr|tun PREFIX | down PREFIX | dir PREFIX" >&2; exit 2 ;;
esac
