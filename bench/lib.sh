# Shared by bench/conns.sh and bench/http.sh (sourced from the repository's
# root): the lab's life, nginx on the lab's real servers, a CPU-quota
# cgroup that holds a director to a share of one core, CPU time of a
# process, and wrk's figures.

# bench_lab NAME: the lab up (prefix NAME-PID-RANDOM in P, its folder in D);
# when the script exits, every process in `pids` is stopped, the cgroup
# removed and the lab torn down.
bench_lab() {
  P=$(scripts/lab.sh up "$1-$$-$RANDOM")
  D=$(scripts/lab.sh dir "$P")
  pids=()
  trap bench_down EXIT
}
bench_down() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  cg_drop
  scripts/lab.sh down "$P" >/dev/null 2>&1 || true
}

in_ns() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }

# A veth runs the receiver's stack inline in the sender's send call, so by
# default the director's CPU time includes the bridge's and the end hosts'
# TCP work for every frame it sends (perf: ~80 % of xlbd's worker time was
# tcp_v4_rcv and friends under its sendto). Threaded NAPI on the switch
# ports facing the director ends the director's share at their queue, as
# on a real wire; a frame takes that path only if the sending device does
# no TSO. Both directors get the same setup.
wire_like_veth() {
  for d in o-dir i-dir; do
    in_ns sw ethtool -K "$d" gro on >/dev/null
    in_ns sw sh -c "echo 1 >/sys/class/net/$d/threaded"
  done
  for d in out0 in0; do in_ns dir ethtool -K "$d" tso off gso off >/dev/null; done
}

# nginx_up PORT: nginx on rs1..rs3 answering "rsN\n" on PORT.
nginx_up() {
  local i
  for i in 1 2 3; do
    mkdir -p "$D/nginx$i"
    cat >"$D/nginx$i/nginx.conf" <<EOT
worker_processes 1;
pid $D/nginx$i/nginx.pid;
error_log $D/nginx$i/error.log;
daemon off;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $D/nginx$i;
  proxy_temp_path $D/nginx$i;
  fastcgi_temp_path $D/nginx$i;
  uwsgi_temp_path $D/nginx$i;
  scgi_temp_path $D/nginx$i;
  server { listen $1 backlog=4096; location / { return 200 "rs$i\n"; } }
}
EOT
    # Its own session, as a daemon would be: with autogroup scheduling the
    # servers otherwise share one CPU share with wrk (measured: 30 % fewer
    # connections/s through a capped director).
    ip netns exec "$P-rs$i" setsid nginx -c "$D/nginx$i/nginx.conf" &
    pids+=($!)
    in_ns "rs$i" sysctl -qw net.core.somaxconn=4096
  done
}

# A director held to CAP (default 0.25) of one core by a cgroup CPU quota,
# so that a rate measures the director, not wrk and nginx sharing the same
# two cores with it. A 10 ms period: the director runs in short slices,
# like a slower CPU, rather than for a quarter of every 100 ms and then not
# at all.
CAP=${CAP:-0.25}
CG=
cg_make() {
  local quota
  quota=$(awk -v c="$CAP" 'BEGIN { printf "%d", c * 10000 }')
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    CG=/sys/fs/cgroup/$P-cap; mkdir -p "$CG"; echo "$quota 10000" >"$CG/cpu.max"
  else
    CG=/sys/fs/cgroup/cpu/$P-cap; mkdir -p "$CG"
    echo 10000 >"$CG/cpu.cfs_period_us"; echo "$quota" >"$CG/cpu.cfs_quota_us"
  fi
}
cg_put() { # pid: the process and every thread it has
  local t
  for t in /proc/"$1"/task/*; do echo "${t##*/}" >"$CG/tasks" 2>/dev/null || echo "${t##*/}" >"$CG/cgroup.threads" 2>/dev/null || echo "$1" >"$CG/cgroup.procs"; done
}
cg_drop() { [ -n "$CG" ] && rmdir "$CG" 2>/dev/null || true; }

# CPU seconds (user + system) a process has used.
cpu() { [ -n "${1:-}" ] && awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$1/stat" || echo 0; }

# wrk's output on stdin -> "rps p50_us p99_us [errors:...]"
wrk_figures() {
  python3 -c '
import re, sys
t = sys.stdin.read()
m = re.search(r"Requests/sec:\s+([\d.]+)", t)
if not m:
    sys.exit("wrk gave no figures: " + t[-300:])
rps = float(m.group(1))
def us(p):
    v, u = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)" % p, t, re.M).groups()
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[u]
err = re.search(r"Socket errors: (.*)", t)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
extra = (" errors:" + err.group(1).replace(" ", "") if err else "") + (" non2xx:" + bad.group(1) if bad else "")
print(f"{rps:.0f} {us(50):.0f} {us(99):.0f}" + extra)'
}
