#!/usr/bin/env bash
# SYN flood against a NAT service: the SYN proxy against plain NAT, side by
# side. One director (scripts/lab.sh), its worker on core 0, a 16k
# connection table (the flood overflows it); xlb-gen on core 1 sends
# spoofed SYNs from 10.201.0.0/10 to VIP:80 as fast as it can for SECS s
# while 6 clients make 50 HTTP requests each through the same VIP.
# Per round: the worker's packets/s (every frame it took off its rings,
# SYNs and the servers' SYN-ACKs alike, from `xlbctl show --json`) over
# the middle of the flood, and the share of the clients' requests that got
# their 200 (each may take 10 s: a SYN the flood crowds out is sent again).
# RUNS pairs (proxy on, proxy off), the order alternating; prints each
# round and, last:
#   synproxy_vs_nat=R (min-max) legit_ok_proxy=P% legit_ok_nat=N%
# R is the median per-pair ratio of the worker's packets/s (goal >= 0.8).
# Usage: bench/synflood.sh [RUNS] [SECS]   (default 3 pairs, 12 s).
#        Needs root and the release binaries (xlbd, xlbctl, xlb-gen).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${1:-3}
SECS=${2:-12}
VIP=10.200.1.100
BIN=$ROOT/target/release
[ -x "$BIN/xlbd" ] && [ -x "$BIN/xlbctl" ] && [ -x "$BIN/xlb-gen" ] || cargo build --release --quiet
P=xlbf-$$-$RANDOM
pids=()
down() {
  for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done
  for p in ${pids[@]+"${pids[@]}"}; do wait "$p" 2>/dev/null || true; done
  scripts/lab.sh down "$P" >/dev/null 2>&1 || true
}
trap down EXIT
scripts/lab.sh up "$P" >/dev/null
D=$(scripts/lab.sh dir "$P")
# SYN-ACKs to the spoofed sources are dropped in the client's namespace.
ip netns exec "$P-cli" sysctl -qw net.ipv4.ip_forward=0
config() { # MODE
  cat <<EOT
[daemon]
interfaces = ["out0", "in0"]
cores = [0]
poll = "wakeup"
conn_table_size = 16384
[[virtual_server]]
name = "web"
address = "$VIP"
port = 80
scheduler = "rr"
syn_proxy = "$1"
EOT
  for i in 1 2 3; do
    printf '  [[virtual_server.real_server]]\n  address = "10.200.2.1%s"\n  port = 8080\n' "$i"
  done
}
config on >"$D/on.toml"
config off >"$D/off.toml"
ctl() { "$BIN/xlbctl" --socket "$D/xlbd.sock" "$@"; }
ip netns exec "$P-dir" "$BIN/xlbd" --config "$D/on.toml" --socket "$D/xlbd.sock" >"$D/xlbd.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
  ip netns exec "$P-cli" curl -s --max-time 0.5 "http://$VIP/" | grep '^rs' >/dev/null && break
  sleep 0.1
done
MAC=$(ip -n "$P-dir" -br link show out0 | awk '{print $3}')
rx() { ctl show --json | python3 -c 'import json,sys; print(sum(w["rx_packets"] for w in json.load(sys.stdin)["workers"]))'; }

round() { # MODE -> "PPS OK TOTAL"
  ctl reload "$D/$1.toml" >/dev/null
  # Let the previous round's half-open entries go (SYN_RECV lasts 60 s in
  # IPVS's table; the sweep here takes what is idle).
  sleep 2
  ip netns exec "$P-cli" taskset -c 1 "$BIN/xlb-gen" --iface c0 --dst-mac "$MAC" --src 10.201.0.1 \
    --dst "$VIP" --proto tcp --pattern S --dport 80 --flows 4000000 --secs "$SECS" \
    >"$D/gen.out" 2>&1 &
  local gen=$!
  pids+=("$gen")
  ip netns exec "$P-cli" bash -c "
    sleep 1
    for w in 1 2 3 4 5 6; do
      ( for i in \$(seq 50); do curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 http://$VIP/ || true; done ) &
    done; wait" >"$D/new.out" &
  local clients=$!
  sleep 3
  local a b
  a=$(rx); sleep 5; b=$(rx)
  wait "$gen"
  wait "$clients"
  echo "$(( (b - a) / 5 )) $(grep -c '^200$' "$D/new.out") $(wc -l <"$D/new.out")"
}

declare -a ratios
ok_on=0; ok_off=0; all_on=0; all_off=0
for r in $(seq "$RUNS"); do
  if [ $((r % 2)) -eq 1 ]; then order="on off"; else order="off on"; fi
  declare -A pps=()
  for m in $order; do
    read -r p ok all < <(round "$m")
    pps[$m]=$p
    if [ "$m" = on ]; then ok_on=$((ok_on + ok)); all_on=$((all_on + all)); else ok_off=$((ok_off + ok)); all_off=$((all_off + all)); fi
    echo "run $r syn_proxy=$m: worker ${p} pps, clients $ok/$all ok"
  done
  ratios+=("$(awk -v a="${pps[on]}" -v b="${pps[off]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')")
done
sorted=$(printf '%s\n' "${ratios[@]}" | sort -n)
med=$(sed -n "$(( (RUNS + 1) / 2 ))p" <<<"$sorted")
echo "synproxy_vs_nat=$med ($(head -1 <<<"$sorted")-$(tail -1 <<<"$sorted")) legit_ok_proxy=$(awk -v a=$ok_on -v b=$all_on 'BEGIN { printf "%.1f", 100 * a / b }')% legit_ok_nat=$(awk -v a=$ok_off -v b=$all_off 'BEGIN { printf "%.1f", 100 * a / b }')%"
