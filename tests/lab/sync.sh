# Connection sync lab tests: two directors (LAB_HA=1) with [sync] on the
# inside link; the master is killed mid-transfer. Sourced by run.sh.

# sync_of NAME FIELD: a counter of `xlbctl show --json`'s sync section.
sync_of() {
  "$BIN/xlbctl" --socket "$D/$1.sock" show --json 2>/dev/null |
    python3 -c "import json,sys; print(json.load(sys.stdin).get('sync',{}).get('$2',0))" 2>/dev/null || echo 0
}
at_least() { [ "$(sync_of "$1" "$2")" -ge "$3" ]; }

test_sync_nat_failover_keeps_every_download() {
  LAB_HA=1 lab_up
  ha_config x1 250 2 false
  ha_config x2 100 2 false
  for n in x1 x2; do
    printf '\n[sync]\ninterface = "in0"\nsync_id = 7\n' >>"$D/$n.toml"
  done
  start_ha_xlbd dir x1 "$D/x1.toml"
  start_ha_xlbd dir2 x2 "$D/x2.toml"
  wait_until 8 is_state x1 VI_OUT MASTER >/dev/null
  wait_until 3 is_state x2 VI_OUT BACKUP >/dev/null
  wait_until 5 vip_answers >/dev/null
  # 40 downloads of 2 MB at 250 kB/s each: about 8 s, across the failover.
  local n=40 size=2000000 pids=()
  for i in $(seq $n); do
    in_client curl -s -o "$D/dl$i" -w '%{http_code} %{size_download} %{exitcode} %{errormsg}\n' \
      --max-time 60 --limit-rate 250k "http://$VIP:8080/bytes/$size" >"$D/dl$i.res" 2>&1 &
    pids+=("$!"); EXTRA_PIDS+=("$!")
  done
  # The backup hears of every one (and of the earlier probes) before the kill.
  wait_until 3 at_least x2 installed "$n" >/dev/null ||
    { "$BIN/xlbctl" --socket "$D/x2.sock" show --sync; return 1; }
  "$BIN/xlbctl" --socket "$D/x1.sock" show --sync
  sleep 1
  kill -9 "$x1_PID"
  took=$(wait_until 8 is_state x2 VI_OUT MASTER)
  echo "failover took ${took}s with $n downloads running"
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
  "$BIN/xlbctl" --socket "$D/x2.sock" show --workers | grep -E "worker|drops"
  [ "$bad" = 0 ] || { echo "FAIL: $bad of $n downloads broke across the failover"; tail -25 "$D/x2.log"; return 1; }
  echo "all $n downloads completed byte-exact across the failover"
}
