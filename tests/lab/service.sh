# Lab tests of xlbd as a system service: what it tells systemd through
# NOTIFY_SOCKET, its JSON log lines, and the capabilities it names when it
# lacks them. Sourced by run.sh.

# notify_listen NAME: collect the datagrams sent to the abstract socket
# @NAME in the director namespace (abstract names are per network
# namespace) into $D/notify, one per line, lines joined by '|'; ends by
# itself after 60 s.
notify_listen() {
  ip netns exec "$P-dir" timeout 60 python3 - "$1" "$D/notify" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    print("LISTENING", file=out)
    while True:
        out.write(s.recv(4096).decode().strip().replace("\n", "|") + "\n")
PY
  EXTRA_PIDS+=("$!")
  wait_until 5 has LISTENING "$D/notify" >/dev/null
}

# notices PATTERN: how many datagrams so far match PATTERN.
notices() { grep -c -E "$1" "$D/notify" || true; }

# reload_notified: a READY=1 follows a RELOADING=1 with its MONOTONIC_USEC.
reload_notified() {
  awk '/^RELOADING=1[|]MONOTONIC_USEC=[0-9]+$/ { r = 1 } r && /^READY=1/ { ok = 1 } END { exit !ok }' "$D/notify"
}

test_service_tells_systemd_ready_status_reload_watchdog_and_stop() {
  lab_up
  local name="xlbt-notify-$P"
  notify_listen "$name"
  SOCK=$D/xlbd.sock
  ip netns exec "$P-dir" env NOTIFY_SOCKET="@$name" WATCHDOG_USEC=2000000 \
    "$BIN/xlbd" --config "$ROOT/examples/nat.toml" --socket "$SOCK" --log-format json \
    >"$D/xlbd.log" 2>&1 &
  XLBD_PID=$!
  wait_until 15 has '^READY=1|STATUS=' "$D/notify"
  # READY=1 only once the API answers.
  xlbctl show >/dev/null
  has '^READY=1|STATUS=2 services, 1 worker$' "$D/notify" ||
    { echo "FAIL: first notice:"; cat "$D/notify"; return 1; }
  # The watchdog (2 s) is petted four times an interval while the worker turns.
  local pets0; pets0=$(notices '^WATCHDOG=1$')
  sleep 2
  local pets=$(( $(notices '^WATCHDOG=1$') - pets0 ))
  [ "$pets" -ge 3 ] && [ "$pets" -le 6 ] || { echo "FAIL: $pets pets in 2 s, want about 4"; return 1; }
  # A reload is bracketed by RELOADING=1 and READY=1.
  xlbctl reload >/dev/null
  wait_until 5 reload_notified >/dev/null ||
    { echo "FAIL: no RELOADING=1 then READY=1:"; cat "$D/notify"; return 1; }
  # Traffic still flows, and STOPPING=1 comes with SIGTERM.
  assert_eq "$(http_split 6 http://$VIP/)" "rs1=3 rs2=2 rs3=1 fail=0" "forwarding"
  stop_xlbd
  has '^STOPPING=1$' "$D/notify" || { echo "FAIL: no STOPPING=1:"; cat "$D/notify"; return 1; }
  # --log-format json: every line an object with level, message and target.
  python3 - "$D/xlbd.log" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) >= 3, lines
for l in lines:
    o = json.loads(l)
    assert {"level", "message", "target", "timestamp"} <= o.keys(), l
assert any(json.loads(l)["message"] == "xlbd ready" for l in lines)
assert any(json.loads(l)["message"].startswith("systemd watchdog on") for l in lines)
PY
}

# The capabilities xlbd needs, found by dropping each (docs/deploy.md).
SERVICE_CAPS="-all,+bpf,+perfmon,+net_admin,+net_raw,+ipc_lock"

# run_with_caps SET: xlbd on the NAT example (with metrics, for an
# AF_INET socket too) with bounding set SET (as root, the effective set is
# what the bounding set leaves); its PID in XLBD_PID.
run_with_caps() {
  SOCK=$D/xlbd.sock
  [ -f "$D/caps.toml" ] ||
    printf '%s\n[metrics]\nlisten = "127.0.0.1:9300"\n' "$(cat "$ROOT/examples/nat.toml")" >"$D/caps.toml"
  ip netns exec "$P-dir" setpriv --bounding-set "$1" --inh-caps -all -- \
    "$BIN/xlbd" --config "$D/caps.toml" --socket "$SOCK" >"$D/xlbd.log" 2>&1 &
  XLBD_PID=$!
}

test_service_runs_with_its_capabilities_and_names_each_missing_one() {
  lab_up
  # The smallest set: xlbd starts and forwards.
  run_with_caps "$SERVICE_CAPS"
  wait_until 15 bash -c "'$BIN/xlbctl' --socket '$SOCK' show >/dev/null 2>&1" >/dev/null ||
    { cat "$D/xlbd.log"; return 1; }
  assert_eq "$(http_split 6 http://$VIP/)" "rs1=3 rs2=2 rs3=1 fail=0" "forwarding with $SERVICE_CAPS"
  # Its sockets are of the families the unit allows (RestrictAddressFamilies=).
  local families allowed fam
  families=$(python3 "$ROOT/tests/lab/socket_families.py" "$XLBD_PID")
  allowed=$(sed -n 's/^RestrictAddressFamilies=//p' "$ROOT/packaging/xlb.service")
  for fam in AF_XDP AF_INET AF_NETLINK; do
    has -w "$fam" <<<"$families" || { echo "FAIL: no $fam socket seen in '$families'"; return 1; }
  done
  for fam in $families; do
    has -w "$fam" <<<"$allowed" || { echo "FAIL: xlbd opened $fam, the unit forbids it"; return 1; }
  done
  stop_xlbd
  # Each one dropped: xlbd refuses to start and names it.
  local cap caps=(bpf perfmon net_admin net_raw)
  # CAP_IPC_LOCK is needed only while locked memory is limited.
  [ "$(ulimit -Hl)" = unlimited ] || caps+=(ipc_lock)
  for cap in "${caps[@]}"; do
    run_with_caps "${SERVICE_CAPS/,+$cap/}"
    local rc=0; wait "$XLBD_PID" || rc=$?; XLBD_PID=
    assert_eq "$rc" 1 "exit status without $cap"
    has "missing capability CAP_${cap^^}: needed" "$D/xlbd.log" ||
      { echo "FAIL: CAP_${cap^^} not named:"; cat "$D/xlbd.log"; return 1; }
    # Named before anything is tried: no opaque map or socket error.
    ! has "failed to create map\|Operation not permitted" "$D/xlbd.log" ||
      { echo "FAIL: kernel error without $cap:"; cat "$D/xlbd.log"; return 1; }
  done
}

test_service_unit_passes_systemd_analyze_verify() {
  # Not installed here: the unit's commands point at the binaries under
  # test instead of /usr/sbin, and the man pages are not looked up.
  local dir; dir=$(mktemp -d /tmp/xlbt-unit-XXXXXX)
  EXTRA_PIDS=()
  sed "s|/usr/sbin/|$BIN/|g" "$ROOT/packaging/xlb.service" >"$dir/xlb.service"
  local out rc=0
  out=$(systemd-analyze verify --man=no "$dir/xlb.service" 2>&1) || rc=$?
  rm -rf "$dir"
  assert_eq "$rc" 0 "systemd-analyze verify exit status ($out)"
  assert_eq "$out" "" "systemd-analyze verify findings"
  # The unit grants exactly the capabilities the lab test above proves enough.
  local granted; granted=$(sed -n 's/^CapabilityBoundingSet=//p' "$ROOT/packaging/xlb.service")
  for cap in ${SERVICE_CAPS//,+/ }; do
    [ "$cap" = "-all" ] && continue
    has "CAP_${cap^^}" <<<"$granted" || { echo "FAIL: the unit lacks CAP_${cap^^}"; return 1; }
  done
}
