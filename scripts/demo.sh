#!/usr/bin/env bash
# The xlb demo: builds xlbd, brings up the lab (client, director, three real
# servers in network namespaces), starts xlbd on the embedded NAT example
# (`xlbctl example nat`, the same file as examples/nat.toml) plus one HTTP
# frontend of the proxy (HAProxy's half) on the same VIP, sends real HTTP
# and UDP traffic through the L4 services and HTTP requests through the
# frontend, shows the per-server counts, then tears everything down.
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/install-deps.sh
echo "== building"; cargo build --release --quiet
BIN=target/release
P=$(scripts/lab.sh up "xlb-demo-$$")
D=$(scripts/lab.sh dir "$P")
SOCK=$D/xlbd.sock
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  scripts/lab.sh down "$P"
}
trap cleanup EXIT
echo "== lab $P up; starting xlbd on the default NAT config (xlbctl example nat: VIP 10.200.1.100, wrr 3:2:1)"
"$BIN/xlbctl" example nat >"$D/xlb.toml"
# Beside the L4 services, the proxy: one HTTP frontend on the VIP's port
# 8000, routing /static to its own backend and balancing the rest with
# cookie persistence (the real servers' port 80: NAT services use 8080).
cat >>"$D/xlb.toml" <<'EOT'

[proxy.defaults]
mode = "http"
timeout = { connect = "2s", client = "30s", server = "30s" }

[[frontend]]
name = "www"
bind = ["10.200.1.100:8000"]
acl = ["is_static path_beg /static"]
use_backend = ["static if is_static"]
default_backend = "app"

[[backend]]
name = "app"
balance = "roundrobin"
cookie = "SRV insert indirect nocache"
server = [
  { name = "app1", address = "10.200.2.11:80", cookie = "a1", check = true },
  { name = "app2", address = "10.200.2.12:80", cookie = "a2", check = true },
]

[[backend]]
name = "static"
server = [{ name = "static1", address = "10.200.2.13:80", check = true }]
EOT
"$BIN/xlbctl" check-config "$D/xlb.toml"
ip netns exec "$P-dir" "$BIN/xlbd" --config "$D/xlb.toml" --socket "$SOCK" >"$D/xlbd.log" 2>&1 &
pid=$!
# Ready when the API answers and every real server's MAC is known.
for _ in $(seq 150); do
  out=$("$BIN/xlbctl" --socket "$SOCK" show 2>/dev/null) && ! grep -q "no neighbour" <<<"$out" && break
  sleep 0.1
done
"$BIN/xlbctl" --socket "$SOCK" show
echo "== 60 HTTP requests from the client to http://10.200.1.100/ (a new connection each)"
ip netns exec "$P-cli" bash -c 'for i in $(seq 60); do curl -s --max-time 3 http://10.200.1.100/ || echo failed; done' |
  sort | uniq -c | sed 's/^/   /'
echo "== 30 UDP queries to 10.200.1.100:53 (rr)"
ip netns exec "$P-cli" python3 -c '
import socket, collections
c = collections.Counter()
for i in range(30):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
    s.sendto(b"hello", ("10.200.1.100", 53))
    try: c[s.recv(100).split()[0].decode()] += 1
    except socket.timeout: c["failed"] += 1
for k in sorted(c): print("   %4d %s" % (c[k], k))'
echo "== 20 HTTP requests through the proxy's frontend http://10.200.1.100:8000/ (10 to /static/)"
ip netns exec "$P-cli" bash -c 'for i in $(seq 10); do curl -s --max-time 3 http://10.200.1.100:8000/ || echo failed; curl -s --max-time 3 http://10.200.1.100:8000/static/x || echo failed; done' |
  sort | uniq -c | sed 's/^/   /'
echo "== the same client with the persistence cookie the proxy set: 5 requests, one server"
ip netns exec "$P-cli" bash -c 'j=$(mktemp); for i in $(seq 5); do curl -s --max-time 3 -b "$j" -c "$j" http://10.200.1.100:8000/ || echo failed; done; rm -f "$j"' |
  sort | uniq -c | sed 's/^/   /'
echo "== xlbctl show (connections per real server; frontends, backends, servers)"
"$BIN/xlbctl" --socket "$SOCK" show
echo "== xlbctl show --stats --workers"
"$BIN/xlbctl" --socket "$SOCK" show --stats --workers
echo "== done; tearing the lab down"
