# Lab test of ipvsadm habits: a running xlbd driven only through
# xlb-ipvsadm with ipvsadm's own syntax. Sourced by run.sh.

# all_resolved: every real server xlbd lists has a MAC.
all_resolved() {
  xlbctl show --json | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if all(r["resolved"] for v in s["services"] for r in v["reals"]) else 1)'
}

test_ipvsadm_command_line_drives_a_running_director() {
  lab_up
  cat >"$D/bare.toml" <<EOT
# The services come from ipvsadm below.
[daemon]
interfaces = ["out0", "in0"]
cores = [1]
poll = "wakeup"
EOT
  start_xlbd "$D/bare.toml"
  ipv() { XLB_SOCKET="$SOCK" "$BIN/xlb-ipvsadm" "$@"; }
  ipv -A -t "$VIP:80" -s wrr
  ipv -a -t "$VIP:80" -r 10.200.2.11:8080 -m -w 3
  ipv -a -t "$VIP:80" -r 10.200.2.12:8080 -m -w 2
  # xlbctl's own door to the same command line.
  xlbctl ipvsadm -a -t "$VIP:80" -r 10.200.2.13:8080 -m -w 1
  wait_until 15 all_resolved >/dev/null
  assert_eq "$(http_split 12 "http://$VIP/")" "rs1=6 rs2=4 rs3=2 fail=0" "wrr 3:2:1"

  local list
  list=$(ipv -Ln)
  assert_eq "$(sed -n 4p <<<"$list")" "TCP  $VIP:80 wrr" "service line"
  # ipvsadm's own format for a destination line.
  assert_eq "$(sed -n 5p <<<"$list")" \
    "$(printf '  -> %-28s %-7s %-6d %-10u %-10u' 10.200.2.11:8080 Masq 3 0 6)" "first server line"
  assert_eq "$(grep -c -- '->' <<<"$list")" 4 "header and three servers"

  # Quiesce one, delete another (its connections drain).
  ipv -e -t "$VIP:80" -r 10.200.2.12:8080 -m -w 0
  ipv -d -t "$VIP:80" -r 10.200.2.13:8080
  assert_eq "$(http_split 6 "http://$VIP/")" "rs1=6 rs2=0 rs3=0 fail=0" "after -e -w 0 and -d"
  list=$(ipv -Ln)
  grep -q "10.200.2.12:8080 .*Masq    0 " <<<"$list" || { echo "FAIL: -Ln: $list"; return 1; }
  ! grep -q "10.200.2.13" <<<"$list" || { echo "FAIL: deleted server listed: $list"; return 1; }

  # Connections and persistence templates, as -Lnc lists them.
  ipv -E -t "$VIP:80" -s rr -p 600
  http_split 2 "http://$VIP/" >/dev/null
  local conns; conns=$(ipv -Lnc)
  assert_eq "$(sed -n 1p <<<"$conns")" "IPVS connection entries" "-Lnc title"
  grep -qE "^TCP .* TIME_WAIT|^TCP .* FIN_WAIT|^TCP .* CLOSE" <<<"$conns" || { echo "FAIL: no connection: $conns"; return 1; }
  grep -qE "^TCP .* NONE +10\.200\.1\.2:0 +$VIP:80 +10\.200\.2\.1[12]:8080" <<<"$conns" ||
    { echo "FAIL: no persistence template: $conns"; return 1; }
  # --persistent-conn counts the templates per real server (column 4).
  local persist
  persist=$(ipv -Ln --persistent-conn | awk '/-> 10\.200\.2\.1[12]:8080/ { n += $4 } END { print n + 0 }')
  [ "$persist" -ge 1 ] || { echo "FAIL: PersistConn $persist: $(ipv -Ln --persistent-conn)"; return 1; }
  # An unknown service in a filter is an error, not an empty list.
  local rc=0
  xlbctl conns --service 10.200.1.100:81 >/dev/null 2>&1 || rc=$?
  assert_eq "$rc" 2 "conns of an unknown service"

  # Counters: --stats counts, -Z zeroes the listing.
  local conns_before
  conns_before=$(ipv -Ln --stats --exact | awk -v s="$VIP:80" '$2 == s { print $3 }')
  [ "${conns_before:-0}" -ge 20 ] || { echo "FAIL: --stats conns $conns_before"; return 1; }
  ipv -Z
  assert_eq "$(ipv -Ln --stats --exact | awk -v s="$VIP:80" '$2 == s { print $3 }')" 0 "conns after -Z"
  ipv --set 600 0 30
  assert_eq "$(ipv -L --timeout)" "Timeout (tcp tcpfin udp): 600 120 30" "--set"

  # -S gives the rules back; save + reload gives the same running state.
  assert_eq "$(ipv -S -n)" "-A -t $VIP:80 -s rr -p 600
-a -t $VIP:80 -r 10.200.2.11:8080 -m -w 3
-a -t $VIP:80 -r 10.200.2.12:8080 -m -w 0" "-S -n"
  xlbctl save >"$D/saved.toml"
  grep -q "^# The services come from ipvsadm below." "$D/saved.toml" || { echo "FAIL: comment lost"; return 1; }
  local before after; before=$(ipv -Ln)
  xlbctl reload "$D/saved.toml" >/dev/null
  after=$(ipv -Ln)
  assert_eq "$(sed 1d <<<"$after" | awk '{print $1, $2, $3, $4}')" \
    "$(sed 1d <<<"$before" | awk '{print $1, $2, $3, $4}')" "same services after save + reload"

  # -E sends the whole service, as ipvsadm: no -p turns persistence off.
  ipv -E -t "$VIP:80" -s rr
  grep -q "^TCP  $VIP:80 rr *$" <<<"$(ipv -Ln)" || { echo "FAIL: persistence kept: $(ipv -Ln)"; return 1; }
  ipv -E -t "$VIP:80" -s rr -p 600
  local out

  # -x/-y set a server's connection thresholds, listed by --thresholds;
  # a lower one not below the upper is refused as the file's would be.
  thresholds() { ipv -Ln --thresholds | awk '$2 == "10.200.2.11:8080" { print $3, $4 }'; }
  ipv -e -t "$VIP:80" -r 10.200.2.11:8080 -x 200 -y 150
  assert_eq "$(thresholds)" "200 150" "-x 200 -y 150"
  rc=0; out=$(ipv -e -t "$VIP:80" -r 10.200.2.11:8080 -y 300 2>&1) || rc=$?
  assert_eq "$rc" 255 "a lower threshold above the upper"
  grep -q "lthreshold 300 is not below uthreshold 200" <<<"$out" || { echo "FAIL: said: $out"; return 1; }
  assert_eq "$(thresholds)" "200 150" "unchanged after the refusal"
  ipv -e -t "$VIP:80" -r 10.200.2.11:8080 -x 0
  assert_eq "$(thresholds)" "0 0" "-x 0 removes them"

  # Refusals, in ipvsadm's words and exit status.
  rc=0
  out=$(ipv -A -t "$VIP:80" -s rr 2>&1) || rc=$?
  assert_eq "$rc" 255 "adding an existing service"
  grep -q "exists already" <<<"$out" || { echo "FAIL: said: $out"; return 1; }
  rc=0; out=$(ipv -a -t "$VIP:80" -r 10.9.9.9 -m 2>&1) || rc=$?
  assert_eq "$rc" 255 "an unreachable server"
  grep -q "not on a directly connected subnet" <<<"$out" || { echo "FAIL: said: $out"; return 1; }
  rc=0; out=$(ipv -D -s rr 2>&1) || rc=$?
  assert_eq "$rc" 2 "a malformed line"
  assert_eq "$out" "You need to supply the 'service-address' option for the 'delete-service' command" "its message"

  # -C removes every service; -R puts the rules back.
  ipv -S -n >"$D/rules"
  ipv -C
  assert_eq "$(ipv -Ln | wc -l)" 3 "only the headers after -C"
  ipv -R <"$D/rules"
  wait_until 15 all_resolved >/dev/null
  assert_eq "$(http_split 3 "http://$VIP/")" "rs1=3 rs2=0 rs3=0 fail=0" "after -R"
}
