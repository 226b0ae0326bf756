# HAProxy 2.6's own regression tests (reg-tests/balance, http-messaging,
# checks) ported to the lab: tests/lab/proxy_regtests.py plays the VTCs'
# clients and servers against Debian's haproxy (dir2) and xlbd (dir) running
# one haproxy.cfg, and asserts each VTC's expectations on both
# (docs/proxy-regtests.md). Sourced by run.sh after proxy.sh.

test_proxy_passes_haproxys_regtests() {
  proxy_lab_up
  site_pem
  local r="$ROOT/tests/lab/proxy_regtests.py"
  # haproxy's copy adds an admin stats socket (disable/enable server), the
  # one thing xlb is driven through xlbctl for instead.
  python3 "$r" cfg "$D" haproxy >"$D/regtests-haproxy.cfg"
  python3 "$r" cfg "$D" xlb >"$D/regtests.cfg"
  # The VTCs' scripted servers, in rs1 (ports 7101-7839).
  ip netns exec "$P-rs1" python3 "$r" server "$D" </dev/null >/dev/null 2>&1 &
  EXTRA_PIDS+=("$!")
  for _ in $(seq 50); do [ -e "$D/vtcsrv.ready" ] && break; sleep 0.1; done
  [ -e "$D/vtcsrv.ready" ] || { echo "the scripted servers did not start"; return 1; }
  start_haproxy "$D/regtests-haproxy.cfg"
  import_and_start "$D/regtests.cfg"
  local rc=0
  in_client env XLB_BIN="$BIN" python3 "$r" run "$D" "$HAPROXY_ADDR" "$XLB_ADDR" | tee "$D/regtests.out" || rc=$?
  [ "$rc" -eq 0 ] && grep -q "^regtests: [0-9]* ok, 0 different" "$D/regtests.out"
}
