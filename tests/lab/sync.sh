# Connection sync lab tests: two directors (LAB_HA=1) with [sync] on the
# inside link; the master is killed mid-transfer. Sourced by run.sh.

# sync_of NAME FIELD: a counter of `xlbctl show --json`'s sync section.
sync_of() {
  "$BIN/xlbctl" --socket "$D/$1.sock" show --json 2>/dev/null |
    python3 -c "import json,sys; print(json.load(sys.stdin).get('sync',{}).get('$2',0))" 2>/dev/null || echo 0
}
at_least() { [ "$(sync_of "$1" "$2")" -ge "$3" ]; }

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

test_sync_nat_failover_and_preempt_keep_every_download() {
  LAB_HA=1 lab_up
  ha_config x1 250 2 false
  ha_config x2 100 2 false
  for n in x1 x2; do
    # A returning master waits 2 s before it preempts: time for the
    # whole table its peer sends it when it appears.
    sed -i 's/^nopreempt = false$/nopreempt = false\npreempt_delay = 2/' "$D/$n.toml"
    printf '\n[sync]\ninterface = "in0"\nsync_id = 7\n' >>"$D/$n.toml"
    # One client, persistent: its new connections after a failover must
    # find the server its template names.
    sed -i 's/^scheduler = "rr"$/scheduler = "rr"\npersistence_timeout = 300/' "$D/$n.toml"
  done
  start_ha_xlbd dir x1 "$D/x1.toml"
  start_ha_xlbd dir2 x2 "$D/x2.toml"
  wait_until 8 is_state x1 VI_OUT MASTER >/dev/null
  wait_until 3 is_state x2 VI_OUT BACKUP >/dev/null
  wait_until 5 vip_answers >/dev/null
  local who
  who=$(server_of_new_connections 3) || { echo "FAIL: not persistent before the failover: $who"; return 1; }
  # 40 downloads of 3 MB at 200 kB/s each: about 15 s, across a failover
  # and the old master's return.
  local n=40 size=3000000 pids=()
  for i in $(seq $n); do
    in_client curl -s -o "$D/dl$i" -w '%{http_code} %{size_download} %{exitcode} %{errormsg}\n' \
      --max-time 60 --limit-rate 200k "http://$VIP:8080/bytes/$size" >"$D/dl$i.res" 2>&1 &
    pids+=("$!"); EXTRA_PIDS+=("$!")
  done
  # The backup hears of every one before the kill.
  took=$(wait_until 3 at_least x2 installed "$n") ||
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
  at_least x1 installed "$n" || { echo "FAIL: the returning master installed $(sync_of x1 installed) of $n"; "$BIN/xlbctl" --socket "$D/x1.sock" show --sync; "$BIN/xlbctl" --socket "$D/x2.sock" show --sync; grep sync "$D/x2.log" "$D/x1.log"; return 1; }
  local bad=0
  for i in $(seq $n); do
    wait "${pids[$((i - 1))]}" || true
    read -r code got _ <"$D/dl$i.res" || true
    if [ "$code" != 200 ] || [ "$got" != "$size" ] ||
      [ "$(tr -d x <"$D/dl$i" | wc -c)" != 0 ] || [ "$(stat -c %s "$D/dl$i")" != "$size" ]; then
      echo "FAIL: download $i: $(cat "$D/dl$i.res") ($(stat -c %s "$D/dl$i") bytes)"; bad=$((bad + 1))
    fi
  done
  "$BIN/xlbctl" --socket "$D/x2.sock" show --sync
  "$BIN/xlbctl" --socket "$D/x1.sock" show --sync
  [ "$bad" = 0 ] || { echo "FAIL: $bad of $n downloads broke"; tail -25 "$D/x1.log"; return 1; }
  echo "all $n downloads completed byte-exact across the failover and the preempt"
}
