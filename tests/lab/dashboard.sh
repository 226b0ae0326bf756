# The live dashboard in headless Chromium: xlbd serves it inside the
# director's namespace, traffic goes through a service, and Chromium (run in
# that namespace, talking only to the dashboard's address) renders the page
# twice. Sourced by run.sh.

# chromium_dom NS URL OUT [PNG]: the DOM after the page ran ~4 s of its
# own time (virtual: the polls go as fast as the answers come), Chromium
# run in namespace NS; with PNG, a screenshot of it instead.
chromium_dom() {
  local ns=$1 profile rc out=(--dump-dom)
  shift
  profile=$(mktemp -d "$D/chromium.XXXXXX")
  [ -n "${3:-}" ] && out=(--screenshot="$3" --window-size=1280,1000 --hide-scrollbars)
  ip netns exec "$ns" timeout 60 chromium --headless --no-sandbox --disable-gpu \
    --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-dev-shm-usage \
    --user-data-dir="$profile" --virtual-time-budget=4000 "${out[@]}" "$1" \
    >"$2" 2>"$D/chromium.log"
  rc=$?
  rm -rf "$profile"
  return $rc
}

test_dashboard_in_chromium_shows_the_service_and_its_charts_move() {
  command -v chromium >/dev/null || { echo "FAIL: chromium missing (scripts/install-deps.sh)"; return 1; }
  lab_up
  # checks.toml: rs1 and rs2 pass their HTTP check, rs3's hangs (down).
  { cat "$ROOT/tests/lab/configs/checks.toml"
    printf '\n[metrics]\nlisten = "127.0.0.1:9469"\n[dashboard]\nlisten = "127.0.0.1:9470"\n'; } >"$D/dash.toml"
  start_xlbd "$D/dash.toml"
  wait_health web 10.200.2.13 "down: no answer within 500 ms"
  wait_health web 10.200.2.11 up
  # Traffic for at most 40 s (or until the lab goes down): new connections
  # through the web service, one at a time.
  in_client bash -c "end=\$((SECONDS + 40)); while [ \$SECONDS -lt \$end ]; do
    curl -s --max-time 1 http://$VIP/ >/dev/null; sleep 0.05; done" &
  EXTRA_PIDS+=($!)
  local url=http://127.0.0.1:9470/
  # The page and its JSON answer at once; the sampler needs two readings.
  ip netns exec "$P-dir" curl -sf --max-time 3 "$url" | has '<script src="dashboard.js">' ||
    { echo "FAIL: no page at $url"; return 1; }
  sleep 3
  chromium_dom "$P-dir" "$url" "$D/dom1.html" || { echo "FAIL: chromium:"; tail -20 "$D/chromium.log"; return 1; }
  sleep 3
  chromium_dom "$P-dir" "$url" "$D/dom2.html" || { echo "FAIL: chromium:"; tail -20 "$D/chromium.log"; return 1; }
  python3 "$ROOT/tests/lab/dashboard_dom.py" web "svc:TCP/$VIP/80:conns" \
    "$D/dom1.html" "$D/dom2.html" 10.200.2.11:8080=up 10.200.2.12:8080=up 10.200.2.13:8080=down
  # The same rates as the metrics count: the page's connections are
  # Prometheus's too (one collection).
  local m
  m=$(ip netns exec "$P-dir" curl -s --max-time 3 http://127.0.0.1:9469/metrics)
  grep -q '^xlb_service_connections_total{service="web",.*} [1-9]' <<<"$m" ||
    { echo "FAIL: metrics do not count the traffic"; return 1; }
  # XLB_DASHBOARD_SCREENSHOT=FILE keeps a picture of the page (docs/).
  if [ -n "${XLB_DASHBOARD_SCREENSHOT:-}" ]; then
    sleep 20
    chromium_dom "$P-dir" "$url" /dev/null "$XLB_DASHBOARD_SCREENSHOT"
  fi
}

# The parts the lab director does not run (VRRP, sync, the proxy), drawn
# from a made-up api/state served with the page's own assets: a namespace
# of its own, only its loopback.
test_dashboard_draws_vrrp_sync_and_proxy_from_a_made_up_state() {
  command -v chromium >/dev/null || { echo "FAIL: chromium missing (scripts/install-deps.sh)"; return 1; }
  # Globals, not locals: the EXIT trap runs after the function returned.
  PAGE_NS="xlbt-$$-$RANDOM-page" PAGE_PID= D=$(mktemp -d)
  trap 'if [ -n "$PAGE_PID" ]; then kill "$PAGE_PID" || true; wait "$PAGE_PID" || true; fi
        ip netns del "$PAGE_NS" || true; rm -rf "$D"' EXIT
  ip netns add "$PAGE_NS"
  ip -n "$PAGE_NS" link set lo up
  ip netns exec "$PAGE_NS" python3 "$ROOT/tests/lab/dashboard_fake.py" \
    "$ROOT/control/src/dashboard/assets" 9470 &
  PAGE_PID=$!
  wait_until 5 ip netns exec "$PAGE_NS" curl -sf --max-time 1 -o /dev/null http://127.0.0.1:9470/ >/dev/null
  chromium_dom "$PAGE_NS" http://127.0.0.1:9470/ "$D/dom.html" ||
    { echo "FAIL: chromium:"; tail -20 "$D/chromium.log"; return 1; }
  python3 - "$D/dom.html" <<'PY'
import sys
dom = open(sys.argv[1], encoding="utf-8").read()
for want in ['data-instance="VI_1"', '>MASTER<', 'data-frontend="www"', 'data-backend="app"',
             'data-server="a1"', 'data-server="a2"', '>DOWN<', 'sync id 7', 'data-series="sync:sent"',
             'data-series="fe:www:total"', 'bad_version 2', '>live<']:
    if want not in dom:
        print(f"FAIL: the page lacks {want}")
        sys.exit(1)
print("VRRP, sync and proxy drawn")
PY
}
