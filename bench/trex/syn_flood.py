# TRex stateless profile: TCP SYNs to VIP:80 from random spoofed clients
# (a SYN flood). Measures how many SYNs per second the director turns into
# half-open connections, and that legitimate traffic (a second stream, or the
# ASTF profile on other ports) keeps flowing while the table fills.
# Use: start -f bench/trex/syn_flood.py -m 1mpps --port 0 -t vip=192.0.2.10,dmac=...
from trex_stl_lib.api import (STLPktBuilder, STLProfile, STLStream, STLTXCont,
                              STLScVmRaw, STLVmFlowVar, STLVmWrFlowVar, STLVmFixIpv4)
from scapy.layers.l2 import Ether
from scapy.layers.inet import IP, TCP


class SynFlood:
    def get_streams(self, tunables=None, **kwargs):
        t = dict(vip="192.0.2.10", dmac="00:00:00:00:00:00", port=80)
        t.update({k: v for k, v in (tunables or {}).items()})
        t.update(kwargs)
        base = Ether(dst=t["dmac"]) / IP(src="10.0.0.1", dst=t["vip"]) / \
            TCP(sport=1025, dport=int(t["port"]), flags="S", seq=1)
        vm = STLScVmRaw([
            STLVmFlowVar(name="src", min_value="10.0.0.1", max_value="10.255.255.254",
                         size=4, op="random"),
            STLVmWrFlowVar(fv_name="src", pkt_offset="IP.src"),
            STLVmFlowVar(name="sport", min_value=1025, max_value=65000, size=2, op="random"),
            STLVmWrFlowVar(fv_name="sport", pkt_offset="TCP.sport"),
            STLVmFixIpv4(offset="IP"),
        ])
        pad = max(0, 60 - len(base)) * b"\0"
        return [STLStream(packet=STLPktBuilder(pkt=base / pad, vm=vm), mode=STLTXCont())]


def register():
    return SynFlood()
