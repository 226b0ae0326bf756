# TRex advanced-stateful (ASTF) profile: many short HTTP connections. TRex
# plays both sides: clients (port 0, towards the director's outside NIC)
# connect to the VIP; the director forwards (NAT) to the real-server
# addresses, which TRex's server side (port 1, on the director's inside
# NIC) answers. Reports connections/s, and TRex's own latency histogram.
# Use: start -f bench/trex/http_many_flows.py -m 10000 -t vip=192.0.2.10,servers=10.0.0.11-10.0.0.14
# -m is the number of new connections per second (the client's cps).
from trex.astf.api import (ASTFProfile, ASTFIPGen, ASTFIPGenDist, ASTFIPGenGlobal,
                           ASTFProgram, ASTFTemplate, ASTFTCPClientTemplate,
                           ASTFTCPServerTemplate, ASTFAssociationRule)

REQ = b"GET /bytes/64 HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n"
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\nConnection: close\r\n\r\n" + b"x" * 64


class HttpManyFlows:
    def get_profile(self, tunables=None, **kwargs):
        t = dict(vip="192.0.2.10", servers="10.0.0.11-10.0.0.14")
        t.update({k: v for k, v in (tunables or {}).items()})
        t.update(kwargs)
        lo, hi = t["servers"].split("-")
        client = ASTFProgram()
        client.send(REQ)
        client.recv(len(RESP))
        server = ASTFProgram()
        server.recv(len(REQ))
        server.send(RESP)
        ip_gen = ASTFIPGen(glob=ASTFIPGenGlobal(ip_offset="1.0.0.0"),
                           dist_client=ASTFIPGenDist(ip_range=["16.0.0.1", "16.0.255.254"],
                                                     distribution="seq"),
                           # Clients aim at the VIP; the servers TRex emulates are
                           # the real servers the director picks.
                           dist_server=ASTFIPGenDist(ip_range=[t["vip"], t["vip"]],
                                                     distribution="seq"))
        tmpl = ASTFTemplate(
            client_template=ASTFTCPClientTemplate(program=client, ip_gen=ip_gen, port=80),
            server_template=ASTFTCPServerTemplate(
                program=server, assoc=ASTFAssociationRule(port=80, ip_start=lo, ip_end=hi)))
        return ASTFProfile(default_ip_gen=ip_gen, templates=tmpl)


def register():
    return HttpManyFlows()
