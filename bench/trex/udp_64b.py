# TRex stateless profile: 64-byte UDP to the VIP from many clients.
# Use: start -f bench/trex/udp_64b.py -m 100% --port 0 -t vip=192.0.2.10,dmac=...,flows=65536
# (port 0 faces the director's outside NIC; see README.md).
from trex_stl_lib.api import (STLPktBuilder, STLProfile, STLStream, STLTXCont,
                              STLScVmRaw, STLVmFlowVar, STLVmWrFlowVar, STLVmFixIpv4)
from scapy.layers.l2 import Ether
from scapy.layers.inet import IP, UDP


class UdpToVip:
    def get_streams(self, tunables=None, **kwargs):
        t = dict(vip="192.0.2.10", dmac="00:00:00:00:00:00", port=9, flows=65536, size=64)
        t.update({k: v for k, v in (tunables or {}).items()})
        t.update(kwargs)
        flows = int(t["flows"])
        base = Ether(dst=t["dmac"]) / IP(src="16.0.0.1", dst=t["vip"]) / UDP(sport=1025, dport=int(t["port"]))
        pad = max(0, int(t["size"]) - 4 - len(base)) * b"x"  # 4: the FCS the NIC adds
        vm = STLScVmRaw([
            # Clients: 16.0.0.0 + up to 65536 addresses, source ports vary too,
            # so RSS spreads the flows over the director's queues.
            STLVmFlowVar(name="src", min_value="16.0.0.1", max_value="16.0.255.254",
                         size=4, op="random"),
            STLVmWrFlowVar(fv_name="src", pkt_offset="IP.src"),
            STLVmFlowVar(name="sport", min_value=1025, max_value=1025 + max(1, flows // 65534),
                         size=2, op="inc"),
            STLVmWrFlowVar(fv_name="sport", pkt_offset="UDP.sport"),
            STLVmFixIpv4(offset="IP"),
        ])
        return [STLStream(packet=STLPktBuilder(pkt=base / pad, vm=vm), mode=STLTXCont())]


def register():
    return UdpToVip()
