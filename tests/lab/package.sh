# Lab test of the Debian package: build it (scripts/package.sh, reusing the
# release build), install it with apt-get, run the installed xlbd on the
# installed /etc/xlb/xlb.toml adapted to a lab, purge it, and check that
# nothing is left. Sourced by run.sh.

# The packaged example, uncommented ("#key" and "#[section]" lines) and
# pointed at the lab: eth1/eth2 -> out0/in0, the documentation addresses
# -> the lab's VIP and real servers.
adapt_packaged_config() {
  sed -e 's/^#\([a-z[]\)/\1/' -e 's/^#  \([a-z[]\)/  \1/' \
    -e 's/"eth1"/"out0"/' -e 's/"eth2"/"in0"/' \
    -e "s/192\.0\.2\.10/$VIP/" -e 's/198\.51\.100\./10.200.2./' "$1"
}

# installed_xlbd_pids: processes running the packaged binary (even deleted).
installed_xlbd_pids() {
  local p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case "$exe" in /usr/sbin/xlbd | "/usr/sbin/xlbd (deleted)") echo "${p#/proc/}" ;; esac
  done
}

package_cleanup() {
  lab_down
  # A failed run must not leave the package installed.
  if dpkg-query -W -f='${Status}' xlb 2>/dev/null | has "install ok installed"; then
    apt-get purge -y -qq xlb >/dev/null 2>&1 || true
  fi
}

test_package_installs_runs_and_purges_clean() {
  local deb
  deb=$("$ROOT/scripts/package.sh" 2>"/tmp/xlbt-package-$$.err") ||
    { cat "/tmp/xlbt-package-$$.err"; return 1; }
  rm -f "/tmp/xlbt-package-$$.err"
  [ -f "$deb" ] || { echo "FAIL: package.sh printed '$deb', not a file"; return 1; }
  lab_up
  trap package_cleanup EXIT
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null
  # What the package put where.
  /usr/sbin/xlbd --version | has "^xlbd $(dpkg-query -W -f='${Version}' xlb | sed 's/-.*//')"
  /usr/sbin/xlbctl --version >/dev/null
  /usr/sbin/xlb-ipvsadm -h >/dev/null 2>&1 || true
  # (Man pages may be compressed: .8.gz.)
  for f in /usr/sbin/xlb-ipvsadm /etc/xlb/xlb.toml /usr/share/man/man8/xlbd.8* \
    /usr/share/man/man8/xlbctl.8* /usr/share/man/man8/xlbctl-show.8* /usr/share/man/man8/xlb-ipvsadm.8* \
    /usr/share/man/man5/xlb.toml.5* \
    /usr/share/bash-completion/completions/xlbctl /usr/share/zsh/vendor-completions/_xlbctl \
    /usr/share/doc/xlb/config.md /usr/share/doc/xlb/examples/nat.toml; do
    [ -f "$f" ] || { echo "FAIL: the package did not install $f"; return 1; }
  done
  dpkg-query -W -f='${Conffiles}\n' xlb | has '^ /etc/xlb/xlb.toml '
  if command -v man >/dev/null; then
    man -w xlb.toml | has 'man5/xlb.toml.5'
    man -w xlbctl-reload | has 'man8/xlbctl-reload.8'
    man -w xlb-ipvsadm | has 'man8/xlb-ipvsadm.8'
  fi
  local unit
  unit=$(dpkg -L xlb | grep '/systemd/system/xlb.service$')
  local findings; findings=$(systemd-analyze verify "$unit" 2>&1) || true
  assert_eq "$findings" "" "systemd-analyze verify $unit"
  # As shipped, the configuration is valid (xlbd starts with nothing to do).
  /usr/sbin/xlbctl check-config /etc/xlb/xlb.toml >/dev/null
  # Its example, adapted to the lab, is a working NAT director.
  adapt_packaged_config /etc/xlb/xlb.toml >"$D/xlb.toml"
  BIN=/usr/sbin start_xlbd "$D/xlb.toml"
  assert_eq "$(http_split 12 http://$VIP/)" "rs1=6 rs2=4 rs3=2 fail=0" "installed xlbd, wrr 3:2:1"
  ip -n "$P-dir" link show out0 | has ' xdp' || { echo "FAIL: no XDP program on out0"; return 1; }
  stop_xlbd
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq xlb >/dev/null
  # Nothing left: no process, no XDP program, no file.
  assert_eq "$(installed_xlbd_pids)" "" "processes of /usr/sbin/xlbd after purge"
  local ifc
  for ifc in out0 in0; do
    ! ip -n "$P-dir" link show "$ifc" | has ' xdp' || { echo "FAIL: XDP left on $ifc"; return 1; }
  done
  for f in /usr/sbin/xlbd /usr/sbin/xlbctl /usr/sbin/xlb-ipvsadm /etc/xlb "$unit" \
    /usr/share/man/man5/xlb.toml.5.gz /usr/share/man/man5/xlb.toml.5 /usr/share/doc/xlb; do
    [ ! -e "$f" ] || { echo "FAIL: $f is left after purge"; return 1; }
  done
  ! dpkg-query -W -f='${Status}' xlb 2>/dev/null | has "installed" ||
    { echo "FAIL: dpkg still lists xlb"; return 1; }
  # The namespaces go with the lab; run.sh checks that none is left.
}
