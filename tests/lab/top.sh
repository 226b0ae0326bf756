# `xlbctl top` against a director with traffic: one frame (--once, or
# stdout not a terminal) shows the service with a non-zero rate; on a
# terminal it redraws until q and gives the terminal back. Sourced by run.sh.

# top_web_line: the web service's line of one frame once its conn/s column
# is not 0 (the API's rates are over 2 s; 10 s at most).
top_web_line() {
  local out line
  for _ in $(seq 50); do
    out=$(xlbctl top --once)
    line=$(grep '^web ' <<<"$out" || true)
    if [ -n "$line" ] && [ "$(awk '{print $4}' <<<"$line")" != 0 ]; then
      echo "$line"; return 0
    fi
    sleep 0.2
  done
  echo "FAIL: no frame with a web rate; the last one:" >&2; echo "$out" >&2; return 1
}

test_xlbctl_top_shows_the_service_rates_and_quits_on_q() {
  lab_up
  start_xlbd "$ROOT/examples/nat.toml"
  # New connections through web for at most 30 s.
  in_client bash -c "end=\$((SECONDS + 30)); while [ \$SECONDS -lt \$end ]; do
    curl -s --max-time 1 http://$VIP/ >/dev/null; sleep 0.05; done" &
  EXTRA_PIDS+=($!)
  local line frame name proto vip cps pps bps reals drops
  line=$(top_web_line)
  echo "$line"
  # name, protocol, VIP:port, conn/s, pkt/s, bit/s, active, inactive, reals, drops
  read -r name proto vip cps pps bps _ _ reals drops _ <<<"$line"
  assert_eq "$proto $vip" "TCP $VIP:80" "virtual address"
  assert_eq "$reals" "3/3" "usable real servers"
  assert_eq "$drops" 0 "drops"
  [ "$pps" != 0 ] && [ "$bps" != 0 ] || { echo "FAIL: $cps conn/s but $pps packets/s, $bps bits/s"; return 1; }
  frame=$(xlbctl top --once)
  for rs in 10.200.2.11 10.200.2.12 10.200.2.13; do
    # No health checks in nat.toml: "unchecked", not "up".
    has -E "^  -> $rs:8080 +unchecked +w [123] " <<<"$frame" || { echo "FAIL: no line for $rs:"; echo "$frame"; return 1; }
  done
  # Not a terminal: `top` alone prints one frame and exits.
  timeout 5 "$BIN/xlbctl" --socket "$SOCK" top >"$D/top.txt" || { echo "FAIL: top without a terminal did not exit"; return 1; }
  has '^web ' "$D/top.txt" || { echo "FAIL: no web line"; cat "$D/top.txt"; return 1; }
  # On a terminal (script(1) gives it one): the alternate screen, redrawn
  # until q, then the screen and the cursor given back.
  (sleep 2.5; printf q) | timeout 10 script -qfec "$BIN/xlbctl --socket $SOCK top" /dev/null >"$D/top.tty" ||
    { echo "FAIL: top on a terminal did not quit on q"; return 1; }
  python3 - "$D/top.tty" <<'PY'
import sys
t = open(sys.argv[1], "rb").read()
enter, leave, show = t.find(b"\x1b[?1049h"), t.rfind(b"\x1b[?1049l"), t.rfind(b"\x1b[?25h")
frames = t.count(b"xlb top")
assert 0 <= enter < leave, f"alternate screen not entered and left: {enter} {leave}"
assert show > enter, "cursor not shown again"
assert frames >= 2, f"{frames} frames in 2.5 s"
print(f"terminal: {frames} frames, restored")
PY
}
