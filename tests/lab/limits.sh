# Limits through a running director: connection thresholds per real
# server, a per-service new-connection rate limit and a per-client cap.
# Sourced by run.sh.

test_limits_thresholds_rate_and_per_client_cap() {
  lab_up
  # A second client address (not the other director's 10.200.1.3).
  in_client ip addr add 10.200.1.20/24 dev c0
  cat >"$D/limits.toml" <<EOT
[daemon]
interfaces = ["out0", "in0"]
cores = [1]
poll = "wakeup"
[timeouts]
tcp_fin = 1
[[virtual_server]]
name = "echo"
address = "$VIP"
port = 9000
scheduler = "rr"
max_conns_per_client = 8
  [[virtual_server.real_server]]
  address = "10.200.2.11"
  uthreshold = 3
  lthreshold = 1
  [[virtual_server.real_server]]
  address = "10.200.2.12"
[[virtual_server]]
name = "web"
address = "$VIP"
port = 80
scheduler = "rr"
max_conn_rate = 20
  [[virtual_server.real_server]]
  address = "10.200.2.12"
  port = 8080
EOT
  start_xlbd "$D/limits.toml"

  # Thresholds and the cap: 10 long-lived connections from 10.200.1.2
  # (each says which server answers), 2 from 10.200.1.20. rs1 takes 3 and
  # is then at its uthreshold; the client's ninth and tenth are refused.
  in_client python3 - "$VIP" >"$D/hold.out" <<'PY' &
import socket, sys, time
vip = sys.argv[1]
def conn(src):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(2)
    try:
        s.connect((vip, 9000))
        s.sendall(b"who\n")
        return s, s.makefile("rb").readline().split()[0].decode()
    except OSError:
        s.close()
        return None, "refused"
mine = [conn("10.200.1.2") for _ in range(10)]
print("first", " ".join(w for _, w in mine), flush=True)
other = [conn("10.200.1.20") for _ in range(2)]
print("other", " ".join(w for _, w in other), flush=True)
time.sleep(1)
# Close two of rs1's: 1 left is not below lthreshold 1.
rs1 = [s for s, w in mine if w == "rs1"]
for s in rs1[:2]:
    s.close()
time.sleep(4)
late = conn("10.200.1.20")
print("after_two", late[1], flush=True)
rs1[2].close()
time.sleep(4)
again = [conn("10.200.1.20") for _ in range(2)]
print("after_three", " ".join(w for _, w in again), flush=True)
time.sleep(0.5)
PY
  local hold=$!
  EXTRA_PIDS+=("$hold")
  wait_until 15 has '^first' "$D/hold.out" >/dev/null
  sleep 0.5
  xlbctl show | grep -A3 9000
  wait "$hold" || true
  cat "$D/hold.out"
  local first
  first=$(sed -n 's/^first //p' "$D/hold.out")
  assert_eq "$(tr ' ' '\n' <<<"$first" | grep -c '^rs1$')" 3 "rs1's connections up to its uthreshold ($first)"
  assert_eq "$(tr ' ' '\n' <<<"$first" | grep -c '^rs2$')" 5 "the rest to rs2 up to the client's 8 ($first)"
  assert_eq "$(tr ' ' '\n' <<<"$first" | grep -c '^refused$')" 2 "the client's 9th and 10th refused ($first)"
  has '^other rs2 rs2$' "$D/hold.out" || { echo "FAIL: another client was capped or sent to rs1"; return 1; }
  has '^after_two rs2$' "$D/hold.out" || { echo "FAIL: rs1 took a connection above lthreshold"; return 1; }
  has '^after_three .*rs1' "$D/hold.out" || { echo "FAIL: rs1 took nothing once below lthreshold"; return 1; }
  local drops
  drops=$(json_get '[v["traffic"]["drops"] for v in s["services"] if v["name"]=="echo"][0]')
  echo "echo drops: $drops"
  has "'client_cap': [1-9]" <<<"$drops" || { echo "FAIL: the cap's drops are not counted"; return 1; }

  # The rate limit: 200 connections started at once (non-blocking), then
  # 0.6 s to complete (a refused SYN comes again only after 1 s): the
  # bucket's 20 and 20/s for the time the SYNs took to send get through.
  local rate
  rate=$(in_client python3 - "$VIP" <<'PY'
import select, socket, sys, time
vip = sys.argv[1]
socks = []
t0 = time.time()
for _ in range(200):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex((vip, 80))
    socks.append(s)
sent = time.time() - t0
time.sleep(0.6)
_, w, _ = select.select([], socks, [], 0)
ok = sum(1 for s in w if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
print(ok, "%.3f" % sent)
PY
)
  local ok sent allowed
  read -r ok sent <<<"$rate"
  allowed=$(awk -v t="$sent" 'BEGIN { printf "%d", 20 + 20 * t + 2 }')
  echo "rate limit 20/s: $ok of 200 connected (sent in ${sent}s: at most $allowed allowed)"
  [ "$ok" -ge 18 ] || { echo "FAIL: fewer than the burst got through"; return 1; }
  [ "$ok" -le "$allowed" ] || { echo "FAIL: more than the rate got through"; return 1; }
  drops=$(json_get '[v["traffic"]["drops"] for v in s["services"] if v["name"]=="web"][0]')
  echo "web drops: $drops"
  has "'rate_limited': [1-9]" <<<"$drops" || { echo "FAIL: the rate limit's drops are not counted"; return 1; }
  xlbctl show | grep -E '^TCP'
}
