-- pktgen-dpdk script: 64-byte UDP to the VIP from a range of clients on
-- port 0, a rate ramp, and the no-drop rate search. Set VIP, DMAC and the
-- real-server-side port (1) before running:
--   pktgen -l 0-4 -n 4 -- -P -m "[1:2].0, [3:4].1" -f bench/pktgen/pktgen_dpdk.lua
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local VIP = "192.0.2.10"
local DMAC = "00:00:00:00:00:00"   -- the director's outside NIC
local SECONDS = 30

pktgen.stop("all")
pktgen.set("0", "size", 64)
pktgen.set_proto("0", "udp")
pktgen.set_mac("0", "dst", DMAC)
pktgen.range.ip("0", "dst", "start", VIP)
pktgen.range.ip("0", "dst", "inc", "0.0.0.0")
pktgen.range.ip("0", "src", "start", "16.0.0.1")
pktgen.range.ip("0", "src", "inc", "0.0.0.1")
pktgen.range.ip("0", "src", "min", "16.0.0.1")
pktgen.range.ip("0", "src", "max", "16.0.255.254")
pktgen.range.src_port("0", "start", 1025)
pktgen.range.src_port("0", "inc", 1)
pktgen.range.src_port("0", "min", 1025)
pktgen.range.src_port("0", "max", 65000)
pktgen.range.dst_port("0", "start", 9)
pktgen.range.dst_port("0", "inc", 0)
pktgen.set_range("0", "on")

local function run(rate)
  pktgen.clr()
  pktgen.set("0", "rate", rate)
  pktgen.start("0")
  pktgen.delay(SECONDS * 1000)
  pktgen.stop("0")
  pktgen.delay(2000)
  local tx = pktgen.portStats("0", "port")[0].opackets
  local rx = pktgen.portStats("1", "port")[1].ipackets
  printf("rate %3d%%: tx %d rx %d loss %.4f%%\n", rate, tx, rx, 100 * (tx - rx) / math.max(tx, 1))
  return tx, rx
end

-- Ramp, then the highest rate with (almost) no loss.
for _, r in ipairs({10, 25, 50, 75, 100}) do run(r) end
local lo, hi = 0, 100
while hi - lo > 1 do
  local mid = math.floor((lo + hi) / 2)
  local tx, rx = run(mid)
  if (tx - rx) <= tx * 0.0001 then lo = mid else hi = mid end
end
printf("no-drop rate: %d%% of line rate\n", lo)
