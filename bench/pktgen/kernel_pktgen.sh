#!/usr/bin/env bash
# Kernel pktgen (modprobe pktgen) on a generator host: 64-byte UDP to the
# director's VIP from many source addresses and ports, one thread per
# queue. Prints what each thread sent; compare with the real servers' RX
# (or the director's `xlbctl show --stats`).
# Usage: kernel_pktgen.sh DEV VIP DIRECTOR_MAC [THREADS] [COUNT_PER_THREAD] [SIZE]
# Only ever aim it at a director you own, on a link you own.
set -euo pipefail
DEV=${1:?device}; VIP=${2:?vip}; DMAC=${3:?director mac}
THREADS=${4:-4}; COUNT=${5:-10000000}; SIZE=${6:-60}
modprobe pktgen
pg() { echo "$2" >"/proc/net/pktgen/$1"; }
pg pgctrl reset
for t in $(seq 0 $((THREADS - 1))); do
  pg "kpktgend_$t" rem_device_all
  pg "kpktgend_$t" "add_device $DEV@$t"
  f="$DEV@$t"
  pg "$f" "count $COUNT"
  pg "$f" "pkt_size $SIZE"          # without the 4-byte FCS: 60 = 64 on the wire
  pg "$f" "delay 0"
  pg "$f" "queue_map_min $t"
  pg "$f" "queue_map_max $t"
  pg "$f" "dst $VIP"
  pg "$f" "dst_mac $DMAC"
  pg "$f" "src_min 16.$t.0.1"
  pg "$f" "src_max 16.$t.255.254"
  pg "$f" "udp_src_min 1025"
  pg "$f" "udp_src_max 65000"
  pg "$f" "udp_dst_min 9"
  pg "$f" "udp_dst_max 9"
  pg "$f" "flag IPSRC_RND"
  pg "$f" "flag UDPSRC_RND"
  pg "$f" "burst 32"
done
pg pgctrl start
for t in $(seq 0 $((THREADS - 1))); do
  grep -E "Result|pps" "/proc/net/pktgen/$DEV@$t"
done
