# Proxy lab tests, side by side with Debian's haproxy: haproxy runs a
# haproxy.cfg on the second director (LAB_HA=1: dir2, 10.200.1.3), xlbd runs
# the same file through `xlbctl import` on the first (10.200.1.1), and the
# client compares what each does. Sourced by run.sh.

HAPROXY_ADDR=10.200.1.3
XLB_ADDR=10.200.1.1

# proxy_lab_up: a lab with dir2, and client addresses 10.200.1.21-24.
proxy_lab_up() {
  LAB_HA=1 lab_up
  for a in 21 22 23 24; do ip -n "$P-cli" addr add "10.200.1.$a/24" dev c0; done
}

# start_haproxy CFG: Debian's haproxy on dir2, in the foreground (killed by
# PID with the lab); waits until it answers its first bind.
start_haproxy() {
  haproxy -c -q -f "$1" || { echo "haproxy refuses $1"; return 1; }
  ip netns exec "$P-dir2" haproxy -db -f "$1" >>"$D/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
  EXTRA_PIDS+=("$HAPROXY_PID")
  sleep 0.5
  kill -0 "$HAPROXY_PID" || { echo "haproxy exited:"; cat "$D/haproxy.log"; return 1; }
}

# import_and_start CFG: xlbctl import CFG (warnings must be none), then xlbd
# on dir with the result.
import_and_start() {
  "$BIN/xlbctl" import "$1" >"$D/imported.toml" 2>"$D/import.warn"
  if [ -s "$D/import.warn" ]; then echo "import warned:"; cat "$D/import.warn"; return 1; fi
  ip netns exec "$P-dir" "$BIN/xlbctl" check-config "$D/imported.toml" >/dev/null
  start_xlbd "$D/imported.toml"
}

test_proxy_balances_as_haproxy() {
  proxy_lab_up
  python3 "$ROOT/tests/lab/proxy_compare.py" cfg >"$D/compare.cfg"
  start_haproxy "$D/compare.cfg"
  import_and_start "$D/compare.cfg"
  in_client python3 "$ROOT/tests/lab/proxy_compare.py" run "$HAPROXY_ADDR" "$XLB_ADDR" | tee "$D/compare.out"
  grep -q "^compare: 19 same, 0 different$" "$D/compare.out"
}
