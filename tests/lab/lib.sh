# Helpers for lab tests: each test gets its own lab (unique prefix) and its
# own xlbd, both removed on exit whatever happens. Sourced by run.sh.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${XLB_BIN:-$ROOT/target/release}
VIP=10.200.1.100

lab_up() {
  P=$("$ROOT/scripts/lab.sh" up "xlbt-$$-$RANDOM")
  trap lab_down EXIT
}

lab_down() {
  stop_xlbd
  "$ROOT/scripts/lab.sh" down "$P" >/dev/null 2>&1 || true
}

# start_xlbd CONFIG: run xlbd in the director namespace and wait until every
# real server's MAC is resolved (or fail after 15 s).
start_xlbd() {
  SOCK=/tmp/$P/xlbd.sock
  ip netns exec "$P-dir" "$BIN/xlbd" --config "$1" --socket "$SOCK" >"/tmp/$P/xlbd.log" 2>&1 &
  XLBD_PID=$!
  for _ in $(seq 150); do
    if "$BIN/xlbctl" --socket "$SOCK" show --json 2>/dev/null |
      python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if all(r["resolved"] for v in s["services"] for r in v["reals"]) else 1)' 2>/dev/null; then
      return 0
    fi
    kill -0 "$XLBD_PID" 2>/dev/null || { echo "xlbd exited:"; cat "/tmp/$P/xlbd.log"; return 1; }
    sleep 0.1
  done
  echo "xlbd did not resolve its real servers in 15 s:"; cat "/tmp/$P/xlbd.log"; return 1
}

stop_xlbd() {
  if [ -n "${XLBD_PID:-}" ]; then
    kill "$XLBD_PID" 2>/dev/null || true
    wait "$XLBD_PID" 2>/dev/null || true
    XLBD_PID=
  fi
}

xlbctl() { "$BIN/xlbctl" --socket "$SOCK" "$@"; }
in_client() { ip netns exec "$P-cli" "$@"; }

# http_split N URL: N sequential requests, each a new connection; prints
# "rs1=a rs2=b rs3=c fail=f".
http_split() {
  local n=$1 url=$2 out
  out=$(in_client bash -c "for i in \$(seq $n); do curl -s --max-time 3 '$url' || echo fail; done")
  printf 'rs1=%s rs2=%s rs3=%s fail=%s\n' \
    "$(grep -c '^rs1$' <<<"$out")" "$(grep -c '^rs2$' <<<"$out")" \
    "$(grep -c '^rs3$' <<<"$out")" "$(grep -c '^fail$' <<<"$out")"
}

# json_get EXPR: evaluate a Python expression on `xlbctl show --json` as s.
json_get() {
  xlbctl show --json | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"
}

assert_eq() {
  if [ "$1" != "$2" ]; then
    echo "FAIL: ${3:-values differ}: got '$1', want '$2'"
    return 1
  fi
}
