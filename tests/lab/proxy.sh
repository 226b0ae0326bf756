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

# site_pem: a throwaway certificate for both directors' addresses (the
# client checks it with --cacert), key appended as HAProxy's crt takes it.
site_pem() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=xlb-lab \
    -addext "subjectAltName=IP:$XLB_ADDR,IP:$HAPROXY_ADDR" \
    -keyout "$D/site.key" -out "$D/site.crt" 2>/dev/null
  cat "$D/site.crt" "$D/site.key" >"$D/site.pem"
}

test_proxy_behaves_as_haproxy() {
  proxy_lab_up
  site_pem
  local b="$ROOT/tests/lab/proxy_behaviour.py"
  python3 "$b" cfg "$D" >"$D/behaviour.cfg"
  # Health listeners (rs1:7001, rs2:7002) and the recorder (rs3:7100).
  for pid in $(python3 "$b" helpers "$D" "$P"); do EXTRA_PIDS+=("$pid"); done
  start_haproxy "$D/behaviour.cfg"
  import_and_start "$D/behaviour.cfg"
  sleep 1
  local rc=0
  in_client python3 "$b" run "$D" "$P" "$HAPROXY_ADDR" "$XLB_ADDR" | tee "$D/behaviour.out" || rc=$?
  # Health listeners the scenarios restarted are theirs to stop.
  for f in "$D"/health-*.pid; do kill "$(cat "$f")" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ]; then
    echo "xlbd's checks:"; grep -a "xlb_proxy::check" "$D/xlbd.log" | grep -v L4OK | head -20
    echo "haproxy's checks:"; grep -a "Health check\|is DOWN\|is UP" "$D/haproxy.log" | tail -20
  fi
  [ "$rc" -eq 0 ] && grep -q "^behaviour: 0 different$" "$D/behaviour.out"
}
