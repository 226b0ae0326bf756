# Crash-safety lab tests: xlbd SIGKILLed under load and restarted, again
# and again; a storm of reloads under load. Sourced by run.sh.

# short_load SECONDS: sequential short HTTP requests to VIP:80 and UDP
# datagrams to VIP:53, side by side, until SECONDS pass or $D/load.stop
# appears; prints "http ok=N timeout=T reset=R udp ok=N fail=M". A reset
# (refused, reset, or closed without an answer) is someone's answer: a
# director that is merely gone answers nothing.
short_load() {
  in_client python3 - "$VIP" "$1" "$D/load.stop" <<'PY'
import os, socket, sys, threading, time
vip, secs, stop = sys.argv[1], float(sys.argv[2]), sys.argv[3]
end = time.time() + secs
count = {"http ok": 0, "http timeout": 0, "http reset": 0, "udp ok": 0, "udp fail": 0}
def running():
    return time.time() < end and not os.path.exists(stop)
def http():
    while running():
        try:
            with socket.create_connection((vip, 80), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            r = "http ok" if b"\r\n\r\nrs" in data else "http reset"
        except (ConnectionRefusedError, ConnectionResetError):
            r = "http reset"
        except OSError:
            r = "http timeout"
        count[r] += 1
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    k = 0
    while running():
        k += 1
        try:
            s.sendto(b"u%d" % k, (vip, 53))
            # Replies to earlier, late datagrams are skipped.
            while not s.recv(200).endswith(b"u%d" % k):
                pass
            count["udp ok"] += 1
        except OSError:
            count["udp fail"] += 1
        time.sleep(0.01)
threads = [threading.Thread(target=f) for f in (http, udp)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("http ok=%d timeout=%d reset=%d udp ok=%d fail=%d" % tuple(count.values()))
PY
}

# serves_since T0 LIMIT: wait until an HTTP request through VIP:80 is
# answered by a real server; print the seconds since T0 (epoch seconds)
# when it was, or fail after LIMIT seconds. Each attempt is a new
# connection given 50 ms to connect: a SYN the dead director dropped
# would otherwise cost TCP's 1 s retransmission.
serves_since() {
  in_client python3 - "$VIP" "$1" "$2" <<'PY'
import socket, sys, time
vip, t0, limit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
while time.time() - t0 < limit:
    try:
        with socket.create_connection((vip, 80), timeout=0.05) as s:
            s.settimeout(1)
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        if b"\r\n\r\nrs" in data:
            print("%.3f" % (time.time() - t0))
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.01)
sys.exit(1)
PY
}

test_sigkill_under_load_50_times_restarts_serve_within_2s_p90() {
  lab_up
  local cfg=$ROOT/examples/nat.toml
  start_xlbd "$cfg"
  short_load 170 >"$D/load.out" &
  local load=$!; EXTRA_PIDS+=("$load")
  local i t0 took times=() log slowest=0 slow_i=0 slow_t0=0
  for i in $(seq 50); do
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.2 + 1.3 * r / 32767 }')"
    t0=$(date +%s.%N)
    kill -9 "$XLBD_PID"; wait "$XLBD_PID" 2>/dev/null || true
    # Each run's log of its own, to show the one that failed.
    log=$D/xlbd-$i.log
    ip netns exec "$P-dir" "$BIN/xlbd" --config "$cfg" --socket "$SOCK" >"$log" 2>&1 &
    XLBD_PID=$!
    if ! took=$(serves_since "$t0" 5); then
      echo "FAIL: restart $i did not serve within 5 s"
      kill -0 "$XLBD_PID" 2>/dev/null || echo "(xlbd exited)"
      cat "$log"; return 1
    fi
    # Served, and still running: nothing made it give up after the start.
    kill -0 "$XLBD_PID" 2>/dev/null || { echo "FAIL: restart $i exited:"; cat "$log"; return 1; }
    times+=("$took")
    if less_than "$slowest" "$took"; then slowest=$took slow_i=$i slow_t0=$t0; fi
  done
  touch "$D/load.stop"; wait "$load"
  local sorted
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  echo "restart to first answer, 50 runs: min $(head -1 <<<"$sorted") s," \
    "median $(sed -n 25p <<<"$sorted") s, max $(tail -1 <<<"$sorted") s"
  echo "load across it: $(cat "$D/load.out")"
  # Where the slowest restart's time went: its log's steps, in seconds
  # since its kill.
  echo "slowest, restart $slow_i:"
  while read -r stamp rest; do
    awk -v a="$slow_t0" -v b="$(date -d "$stamp" +%s.%N)" -v r="$rest" \
      'BEGIN { printf "  %.3f %s\n", b - a, r }'
  done < <(grep -E "NIC profile interface=out0|AF_XDP sockets bound|replaced|xlbd ready" "$D/xlbd-$slow_i.log" |
    sed -E 's/\x1b\[[0-9;]*m//g; s/^([^ ]+) +[A-Z]+ +([^:]+: )?/\1 /')
  # Each restart served within 5 s (above); the 2 s goal holds for 9 in
  # 10: on a loaded machine (a CI run beside builds) a restart's socket
  # bind has waited 2 s for the kernel to release the killed one's.
  local slow
  slow=$(awk '$1 >= 2' <<<"$sorted" | tr '\n' ' ')
  [ -z "$slow" ] || echo "restarts that took 2 s or more: $slow"
  less_than "$(sed -n 45p <<<"$sorted")" 2 || { echo "FAIL: p90 restart 2 s or more"; return 1; }
  # The load kept running (and mostly succeeded) between the kills, and
  # nothing answered for the VIP but the real servers: a dead director's
  # program drops, and a starting one steers before it replaces it.
  local ok
  ok=$(sed -E 's/^http ok=([0-9]+).*/\1/' "$D/load.out")
  [ "$ok" -gt 100 ] || { echo "FAIL: the load barely ran: $(cat "$D/load.out")"; return 1; }
  has " reset=0 " "$D/load.out" || { echo "FAIL: connections refused or reset: $(cat "$D/load.out")"; return 1; }
  # The fiftieth daemon is a whole one: its API answers and the split
  # is the configured one.
  assert_eq "$(http_split 6 http://$VIP/)" "rs1=3 rs2=2 rs3=1 fail=0" "forwarding after 50 restarts"
}

test_reload_storm_under_load_breaks_no_connection() {
  lab_up
  # Two valid configurations that differ in the web service's weights
  # (3:2:1 and 1:1:4), both with a UDP service for the short load.
  local a=$D/a.toml b=$D/b.toml
  cp "$ROOT/tests/lab/configs/reload-a.toml" "$a"
  printf '\n[[virtual_server]]\nname = "dns-like"\naddress = "%s"\nport = 53\nprotocol = "udp"\nscheduler = "rr"\n' "$VIP" >>"$a"
  for n in 11 12 13; do
    printf '  [[virtual_server.real_server]]\n  address = "10.200.2.%s"\n  port = 5353\n' "$n" >>"$a"
  done
  python3 - "$a" >"$b" <<'PY'
import sys
text = open(sys.argv[1]).read()
head, tail = text.split('name = "echo"')
for old, new in (("weight = 3", "weight = 1"), ("weight = 2", "weight = 1"), ("weight = 1\n\n", "weight = 4\n\n")):
    assert old in head, old
    head = head.replace(old, new, 1)
print(head + 'name = "echo"' + tail, end="")
PY
  printf '[daemon]\ninterfaces = ["out0", "in0"]\ncores = [1]\n[[virtual_server]]\naddress = "%s"\nport = 80\nscheduler = "nope"\n' "$VIP" >"$D/bad.toml"
  start_xlbd "$a"
  assert_eq "$(http_split 6 http://$VIP/)" "rs1=3 rs2=2 rs3=1 fail=0" "split of the first config"
  local gen0; gen0=$(json_get 's["generation"]')

  long_clients 9 14 >"$D/long.out" &
  local long=$!; EXTRA_PIDS+=("$long")
  short_load 13 >"$D/short.out" &
  local short=$!; EXTRA_PIDS+=("$short")
  sleep 1
  # 200 reloads paced at 20/s, alternating, the last one to b; a bad
  # file halfway through.
  local i f out ok=0 start now late gen_before
  start=$(date +%s%N)
  for i in $(seq 200); do
    if [ $((i % 2)) = 1 ]; then f=$a; else f=$b; fi
    if out=$(xlbctl reload "$f" 2>&1); then
      ok=$((ok + 1))
    else
      echo "reload $i refused: $out"
    fi
    if [ "$i" = 100 ]; then
      gen_before=$(json_get 's["generation"]')
      local rc=0
      out=$(xlbctl reload "$D/bad.toml" 2>&1) || rc=$?
      assert_eq "$rc" 2 "exit code of the bad reload in the storm ($out)"
      grep -q "running configuration is unchanged" <<<"$out" || { echo "FAIL: said: $out"; return 1; }
      assert_eq "$(json_get 's["generation"]')" "$gen_before" "generation across the refused reload"
      assert_eq "$(json_get 's["config"]')" "$b" "running config after the refused reload"
    fi
    now=$(date +%s%N); late=$((start + i * 50000000 - now))
    [ "$late" -le 0 ] || sleep "0.$(printf '%09d' "$late")"
  done
  local secs
  secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  local gen1; gen1=$(json_get 's["generation"]')
  wait "$long" "$short"
  echo "200 reloads in $secs s ($ok answered ok), generation $gen0 -> $gen1"
  echo "long: $(cat "$D/long.out"); short: $(cat "$D/short.out")"
  assert_eq "$ok" 200 "reloads applied"
  [ $((gen1 - gen0)) -ge 200 ] || { echo "FAIL: generation moved by $((gen1 - gen0)) only"; return 1; }
  less_than "$secs" 11 || { echo "FAIL: the storm took $secs s, not 10"; return 1; }
  assert_eq "$(cat "$D/long.out")" "long ok=9 fail=0" "long-lived connections across the storm"
  grep -q "^http ok=[1-9][0-9]* timeout=0 reset=0 udp ok=[1-9][0-9]* fail=0$" "$D/short.out" ||
    { echo "FAIL: short requests: $(cat "$D/short.out")"; return 1; }
  # The last reload (b) is the one forwarding.
  assert_eq "$(http_split 6 http://$VIP/)" "rs1=1 rs2=1 rs3=4 fail=0" "split after the storm"
  assert_eq "$(json_get 'sum(sum(w["drops"].values()) for w in s["workers"])')" 0 "dataplane drops"
}
