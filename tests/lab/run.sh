#!/usr/bin/env bash
# Runs every lab test (or those whose name contains $1), each in a subshell
# with its own namespaces, and ends with "lab: N passed, M failed".
# Needs root, the release binaries (cargo build --release) and the lab's
# Debian packages (scripts/install-deps.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/cases.sh"
source "$here/vrrp.sh"
source "$here/ipvsadm.sh"
source "$here/proxy.sh"
source "$here/proxy_regtests.sh"
source "$here/sync.sh"
source "$here/flood.sh"
source "$here/limits.sh"
source "$here/crash.sh"
source "$here/tun.sh"
source "$here/ipv6.sh"
source "$here/ecmp.sh"
source "$here/service.sh"
source "$here/package.sh"
source "$here/dashboard.sh"
source "$here/top.sh"
filter=${1:-}
pass=0; fail=0; failed=()
before=$(ip netns list | wc -l)
for t in $(declare -F | awk '{print $3}' | grep '^test_'); do
  [[ "$t" == *"$filter"* ]] || continue
  start=$(date +%s)
  # Not inside `if`: bash ignores set -e in a subshell that is a condition.
  ( set -e; "$t" ) >"/tmp/xlb-lab-$t.log" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then
    pass=$((pass + 1)); echo "ok   $t ($(( $(date +%s) - start ))s)"
  else
    fail=$((fail + 1)); failed+=("$t"); echo "FAIL $t"; sed 's/^/    /' "/tmp/xlb-lab-$t.log" | tail -30
  fi
done
after=$(ip netns list | wc -l)
if [ "$after" -ne "$before" ]; then
  echo "FAIL lab tests left namespaces behind:"; ip netns list; fail=$((fail + 1))
fi
echo "lab: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
