# VRRP lab tests: two directors on the lab's bridges (LAB_HA=1), xlbd
# against xlbd and against Debian's keepalived. Sourced by run.sh.

# ha_config NAME PRIORITY VERSION NOPREEMPT: $D/NAME.toml from
# configs/ha.toml (NAT service + outside VIP and inside gateway VIP in one
# sync group); notify commands touch $D/NAME/{master,backup}.
ha_config() {
  mkdir -p "$D/$1"
  sed -e "s/@PRIO@/$2/g; s/@VERSION@/$3/; s/@NOPREEMPT@/$4/g; s#@DIR@#$D/$1#g" \
    "$ROOT/tests/lab/configs/ha.toml" >"$D/$1.toml"
}

mac_of() { ip -n "$P-$1" -br link show out0 | awk '{print $3}'; }

# The client namespace's view of ARP, with MACs, into $D/NAME.arp.
capture_arp() {
  in_client tcpdump -i c0 -n -e -l arp >"$D/$1.arp" 2>/dev/null &
  EXTRA_PIDS+=("$!")
  sleep 0.5
}

# saw_garp FILE MAC: a gratuitous ARP for the VIP from MAC was captured.
saw_garp() {
  grep "who-has $VIP tell $VIP" "$1" | has -i "^[0-9:.]* $2 >" || {
    echo "FAIL: no gratuitous ARP for $VIP from $2 in $1:"; cat "$1"; return 1; }
}

test_vrrp_sigkill_failover_garp_sync_group_and_preempt() {
  LAB_HA=1 lab_up
  ha_config x1 250 2 false
  ha_config x2 100 2 false
  start_ha_xlbd dir x1 "$D/x1.toml"
  start_ha_xlbd dir2 x2 "$D/x2.toml"
  wait_until 8 is_state x1 VI_OUT MASTER >/dev/null
  wait_until 3 is_state x1 VI_IN MASTER >/dev/null   # the sync group follows
  wait_until 3 is_state x2 VI_OUT BACKUP >/dev/null
  holds_vip dir && ! holds_vip dir2
  wait_until 5 vip_answers >/dev/null
  wait_file "$D/x1/master"
  capture_arp failover
  kill -9 "$x1_PID"
  # Master_Down_Interval = 3 * 1 s + (256 - 100) / 256 s = 3.61 s; + 1 s.
  took=$(wait_until 8 is_state x2 VI_OUT MASTER)
  echo "SIGKILL failover took ${took}s"
  less_than "$took" 4.61 || { echo "FAIL: failover ${took}s > 4.61s"; return 1; }
  is_state x2 VI_IN MASTER
  wait_file "$D/x2/master"
  # The client's connections succeed again, NAT replies through dir2.
  wait_until 3 vip_answers >/dev/null
  sleep 0.3
  saw_garp "$D/failover.arp" "$(mac_of dir2)"
  # The old master comes back and, with preempt, takes over again.
  capture_arp preempt
  start_ha_xlbd dir x1 "$D/x1.toml"
  wait_until 8 is_state x1 VI_OUT MASTER >/dev/null
  wait_until 3 is_state x2 VI_OUT BACKUP >/dev/null
  wait_until 3 is_state x2 VI_IN BACKUP >/dev/null
  wait_until 3 vip_answers >/dev/null
  holds_vip dir && ! holds_vip dir2
  sleep 0.3
  saw_garp "$D/preempt.arp" "$(mac_of dir)"
  # A backup never forwards: its steering map has no VIP entry, so the
  # frames its dataplane saw are only what reached it before the takeover.
  "$BIN/xlbctl" --socket "$D/x2.sock" vrrp
}

test_vrrp_graceful_stop_hands_over_at_once_and_nopreempt_holds() {
  LAB_HA=1 lab_up
  ha_config x1 250 3 true
  ha_config x2 200 3 true
  start_ha_xlbd dir x1 "$D/x1.toml"
  wait_until 8 is_state x1 VI_OUT MASTER >/dev/null
  start_ha_xlbd dir2 x2 "$D/x2.toml"
  wait_until 3 is_state x2 VI_OUT BACKUP >/dev/null
  sleep 1
  kill -TERM "$x1_PID"
  # Priority 0: the backup waits only Skew_Time (0.22 s), not 3.2 s.
  took=$(wait_until 5 is_state x2 VI_OUT MASTER)
  echo "graceful handover took ${took}s (advert interval 1 s)"
  less_than "$took" 1.0 || { echo "FAIL: graceful handover ${took}s >= 1s"; return 1; }
  wait "$x1_PID" 2>/dev/null || true
  ! holds_vip dir
  wait_until 3 vip_answers >/dev/null
  grep -q "the master left (priority 0 advert)" <("$BIN/xlbctl" --socket "$D/x2.sock" vrrp)
  # nopreempt: the higher-priority router returns and stays backup.
  start_ha_xlbd dir x1 "$D/x1.toml"
  sleep 5
  assert_eq "$(vrrp_state x1 VI_OUT)" BACKUP "nopreempt keeps the returning router backup"
  assert_eq "$(vrrp_state x2 VI_OUT)" MASTER
  holds_vip dir2 && ! holds_vip dir
  # A reload that changes x2's instances: they leave gracefully and start
  # again as backups, so x1 takes over; the dataplane keeps running.
  sed -i 's/^priority = 200/priority = 100/' "$D/x2.toml"
  "$BIN/xlbctl" --socket "$D/x2.sock" reload >/dev/null
  wait_until 3 is_state x1 VI_OUT MASTER >/dev/null
  wait_until 3 is_state x2 VI_OUT BACKUP >/dev/null
  "$BIN/xlbctl" --socket "$D/x2.sock" vrrp | has "^VI_OUT .* 100/100 "
  wait_until 3 vip_answers >/dev/null
}

# A VRRP-only xlb config (no interfaces, no dataplane: keepalived --vrrp).
vrrp_only_config() { # FILE VERSION PRIORITY [AUTH]
  cat >"$1" <<CONF
[vrrp]
version = $2
garp_master_delay = 1
[[vrrp_instance]]
name = "VI_1"
interface = "out0"
virtual_router_id = 51
priority = $3
advert_int = 1
virtual_ipaddress = ["$VIP/32"]
${4:+authentication = { auth_type = \"PASS\", auth_pass = \"$4\" \}}
CONF
}

keepalived_config() { # FILE VERSION PRIORITY [AUTH]
  cat >"$1" <<CONF
global_defs {
  router_id lab-keepalived
  vrrp_version $2
}
vrrp_instance VI_1 {
  state BACKUP
  interface out0
  virtual_router_id 51
  priority $3
  advert_int 1
  ${4:+authentication \{ auth_type PASS
    auth_pass $4 \}}
  virtual_ipaddress {
    $VIP/32
  }
}
CONF
}

# Exactly one router holds the VIP, sampled N times over N * 0.2 s.
one_master() {
  for _ in $(seq "$1"); do
    local n=0
    holds_vip dir && n=$((n + 1))
    holds_vip dir2 && n=$((n + 1))
    assert_eq "$n" 1 "routers holding $VIP"
    sleep 0.2
  done
}

test_vrrp_interop_keepalived_v2_pass_xlb_master() {
  LAB_HA=1 lab_up
  vrrp_only_config "$D/x1.toml" 2 150 s3cret
  keepalived_config "$D/k.conf" 2 100 s3cret
  start_keepalived dir2 k "$D/k.conf"
  start_ha_xlbd dir x1 "$D/x1.toml"
  wait_until 8 is_state x1 VI_1 MASTER >/dev/null
  sleep 1.5
  one_master 10
  holds_vip dir
  grep -q "Entering BACKUP STATE" "$D/k.log"
  # keepalived accepts our adverts (PASS checked): no complaint logged.
  ! grep -qi "auth\|invalid\|error" "$D/k.log" || { echo "FAIL: keepalived complains:"; cat "$D/k.log"; return 1; }
  # xlb dies: keepalived takes over within its master-down interval + 1 s.
  kill -9 "$x1_PID"
  took=$(wait_until 8 holds_vip dir2)
  echo "keepalived took over after ${took}s"
  less_than "$took" 4.61
  # xlb returns (releasing the VIP the crash left) and preempts.
  start_ha_xlbd dir x1 "$D/x1.toml"
  wait_until 8 is_state x1 VI_1 MASTER >/dev/null
  wait_until 3 bash -c "! ip -n $P-dir2 -4 addr show dev out0 | has 'inet $VIP/'" >/dev/null
  one_master 5
  # Before preempting, xlb heard keepalived's adverts and dropped none.
  "$BIN/xlbctl" --socket "$D/x1.sock" vrrp --json | python3 -c '
import json, sys
i = json.load(sys.stdin)[0]
assert i["adverts_received"] >= 1, i
bad = {k: v for k, v in i["errors"].items() if not k.startswith("ignored")}
assert not bad, bad'
}

test_vrrp_interop_keepalived_v3_keepalived_master() {
  LAB_HA=1 lab_up
  vrrp_only_config "$D/x1.toml" 3 150
  keepalived_config "$D/k.conf" 3 200
  start_keepalived dir2 k "$D/k.conf"
  wait_until 8 holds_vip dir2 >/dev/null
  start_ha_xlbd dir x1 "$D/x1.toml"
  sleep 4.5  # more than xlb's master-down interval: it must stay backup
  assert_eq "$(vrrp_state x1 VI_1)" BACKUP
  "$BIN/xlbctl" --socket "$D/x1.sock" vrrp | has "10.200.1.3 " || {
    echo "FAIL: xlb does not name keepalived as master"; "$BIN/xlbctl" --socket "$D/x1.sock" vrrp; return 1; }
  one_master 5
  # keepalived stops gracefully (priority 0): xlb takes over at once.
  capture_arp takeover
  kill -TERM "$k_PID"
  took=$(wait_until 5 is_state x1 VI_1 MASTER)
  echo "xlb took over from a stopping keepalived after ${took}s"
  less_than "$took" 1.5
  wait "$k_PID" 2>/dev/null || true
  holds_vip dir && ! holds_vip dir2
  sleep 0.3
  saw_garp "$D/takeover.arp" "$(mac_of dir)"
  # keepalived returns with the higher priority and preempts xlb.
  start_keepalived dir2 k "$D/k.conf"
  wait_until 8 is_state x1 VI_1 BACKUP >/dev/null
  wait_until 3 holds_vip dir2 >/dev/null
  one_master 5
}

test_vrrp_v3_over_ipv6_moves_the_address_with_unsolicited_na() {
  LAB_HA=1 lab_up
  local v6=2001:db8:1::100
  for d in dir dir2; do
    link_local_ready "$d" out0
    cat >"$D/$d.toml" <<CONF
[[vrrp_instance]]
name = "VI6"
interface = "out0"
virtual_router_id = 61
version = 3
priority = $([ "$d" = dir ] && echo 200 || echo 100)
advert_int = 0.5
virtual_ipaddress = ["$v6/64"]
CONF
  done
  in_client tcpdump -i c0 -n -e -l icmp6 >"$D/na.txt" 2>/dev/null &
  EXTRA_PIDS+=("$!")
  start_ha_xlbd dir x1 "$D/dir.toml"
  start_ha_xlbd dir2 x2 "$D/dir2.toml"
  # 3 * 0.5 s + skew: master within 2 s of start.
  wait_until 5 is_state x1 VI6 MASTER >/dev/null
  wait_until 3 is_state x2 VI6 BACKUP >/dev/null
  ip -n "$P-dir" -6 addr show dev out0 | has "inet6 $v6/64" ||
    { echo "FAIL: the master does not hold $v6:"; ip -n "$P-dir" -6 addr show dev out0; cat "$D/x1.log"; return 1; }
  # A backup starts as BACKUP before any advert: wait for the first one.
  wait_until 3 bash -c "'$BIN/xlbctl' --socket '$D/x2.sock' vrrp | has fe80::" >/dev/null ||
    { echo "FAIL: the backup does not name the master's link-local address"; return 1; }
  kill -TERM "$x1_PID"
  took=$(wait_until 5 is_state x2 VI6 MASTER)
  echo "IPv6 graceful handover took ${took}s"
  less_than "$took" 1.0
  ip -n "$P-dir2" -6 addr show dev out0 | has "inet6 $v6/64" ||
    { echo "FAIL: the new master does not hold $v6:"; ip -n "$P-dir2" -6 addr show dev out0; cat "$D/x2.log"; return 1; }
  wait "$x1_PID" 2>/dev/null || true
  ! ip -n "$P-dir" -6 addr show dev out0 | has "inet6 $v6/64"
  sleep 0.3
  grep "neighbor advertisement, tgt is $v6" "$D/na.txt" | has -i "^[0-9:.]* $(mac_of dir2) > 33:33:00:00:00:01" ||
    { echo "FAIL: no unsolicited NA from dir2:"; cat "$D/na.txt"; return 1; }
}

test_vrrp_track_interface_lowers_priority_or_faults() {
  LAB_HA=1 lab_up
  for d in x1 x2; do
    # Unicast adverts to the peer's address instead of 224.0.0.18.
    local prio=100 track1="" track2="" peer='unicast_peer = ["10.200.1.1"]'
    if [ "$d" = x1 ]; then prio=150; track1='track_interface = ["in0 weight -60"]'; track2='track_interface = ["in0"]'; peer='unicast_peer = ["10.200.1.3"]'; fi
    cat >"$D/$d.toml" <<CONF
[[vrrp_instance]]
name = "VI_W"
interface = "out0"
virtual_router_id = 51
priority = $prio
virtual_ipaddress = ["10.200.1.100/32"]
$peer
$track1
[[vrrp_instance]]
name = "VI_F"
interface = "out0"
virtual_router_id = 52
priority = $prio
virtual_ipaddress = ["10.200.1.101/32"]
$peer
$track2
CONF
  done
  start_ha_xlbd dir x1 "$D/x1.toml"
  wait_until 8 is_state x1 VI_W MASTER >/dev/null
  start_ha_xlbd dir2 x2 "$D/x2.toml"
  wait_until 3 is_state x2 VI_F BACKUP >/dev/null
  # The backup hears the master's unicast adverts (and so stays backup).
  sleep 2
  assert_eq "$(vrrp_state x2 VI_W)" BACKUP
  "$BIN/xlbctl" --socket "$D/x2.sock" vrrp --json | python3 -c '
import json, sys
i = json.load(sys.stdin)[0]
assert i["adverts_received"] >= 2 and i["master"] == "10.200.1.1", i'
  ip -n "$P-dir" link set in0 down
  # Weight: 150 - 60 = 90 < 100, so the backup preempts (master-down).
  wait_until 6 is_state x2 VI_W MASTER >/dev/null
  "$BIN/xlbctl" --socket "$D/x1.sock" vrrp | has "^VI_W .* 90/150 " ||
    { echo "FAIL: effective priority not shown"; "$BIN/xlbctl" --socket "$D/x1.sock" vrrp; return 1; }
  # Weight 0: fault at once, priority 0 sent, the backup takes over.
  assert_eq "$(vrrp_state x1 VI_F)" FAULT
  wait_until 2 is_state x2 VI_F MASTER >/dev/null
  ip -n "$P-dir" -4 addr show dev out0 | has "10.200.1.101" && { echo "FAIL: a faulted instance kept its address"; return 1; }
  ip -n "$P-dir" link set in0 up
  # Back to 150: x1 preempts both again.
  wait_until 8 is_state x1 VI_W MASTER >/dev/null
  wait_until 8 is_state x1 VI_F MASTER >/dev/null
  wait_until 3 is_state x2 VI_F BACKUP >/dev/null
}
