#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/TARGET/NAME): a few
well-formed inputs each, so that the fuzzer starts from traffic and files
the parsers accept. Run from anywhere; rewrites only the seeds it names."""
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


CLIENT_MAC, OUT_MAC, IN_MAC = b"\x02\xc1\0\0\0\x01", b"\x02\xd0\0\0\0\0", b"\x02\xd1\0\0\0\x01"
RS_MAC = b"\x02\x55\0\0\0\x01"


def frame(src, dst, proto, l4, smac, dmac):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0, ip4(src), ip4(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, len(l4))
    off = 16 if proto == 6 else 6
    l4 = l4[:off] + struct.pack("!H", csum(pseudo + l4)) + l4[off + 2:]
    return dmac + smac + b"\x08\x00" + ip + l4


def tcp(src, sport, dst, dport, flags, seq=1000, ack=0, payload=b"", smac=CLIENT_MAC, dmac=OUT_MAC):
    bits = {"S": 0x02, "SA": 0x12, "A": 0x10, "PA": 0x18, "FA": 0x11, "R": 0x04}[flags]
    l4 = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, bits, 64000, 0, 0) + payload
    return frame(src, dst, 6, l4, smac, dmac)


def udp(src, sport, dst, dport, payload, smac=CLIENT_MAC, dmac=OUT_MAC):
    l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return frame(src, dst, 17, l4, smac, dmac)


def frames(*fs):
    """frame_forward's input: [ingress][len hi][len lo][frame] ..."""
    out = b""
    for port, f in fs:
        out += bytes([port]) + struct.pack("!H", len(f)) + f
    return out


C, V, R = "10.0.1.2", "10.0.1.100", "10.0.2.11"
put("frame_forward", "nat_handshake", frames(
    (0, tcp(C, 40000, V, 80, "S")),
    (1, tcp(R, 8080, C, 40000, "SA", 5000, 1001, smac=RS_MAC, dmac=IN_MAC)),
    (0, tcp(C, 40000, V, 80, "PA", 1001, 5001, b"GET / HTTP/1.0\r\n\r\n")),
    (0, tcp(C, 40000, V, 80, "FA", 1019, 5001))))
put("frame_forward", "dr_udp", frames((0, udp(C, 5353, V, 53, b"query"))))
put("frame_forward", "ftp_passive", frames(
    (0, tcp(C, 40001, V, 21, "S")),
    (1, tcp(R, 21, C, 40001, "PA", 5000, 1001, b"227 Entering Passive Mode (10,0,2,11,39,16).\r\n",
            smac=RS_MAC, dmac=IN_MAC)),
    (0, tcp(C, 50000, V, 10000, "S"))))
put("frame_forward", "ftp_active", frames(
    (0, tcp(C, 40002, V, 21, "S")),
    (0, tcp(C, 40002, V, 21, "PA", 1001, 7, b"PORT 10,0,1,2,195,80\r\n")),
    (1, tcp(R, 20, C, 50000, "S", 900, smac=RS_MAC, dmac=IN_MAC))))



def ip6(a):
    import ipaddress
    return ipaddress.IPv6Address(a).packed


def tcp6(src, sport, dst, dport, flags, seq=1000, ack=0, payload=b"", smac=CLIENT_MAC, dmac=OUT_MAC,
         ext=b"", first=6):
    """An IPv6 TCP segment; `ext` extension headers (their next-header bytes
    already chained, the last naming TCP), `first` the fixed header's."""
    bits = {"S": 0x02, "SA": 0x12, "A": 0x10, "PA": 0x18, "FA": 0x11, "R": 0x04}[flags]
    l4 = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, bits, 64000, 0, 0) + payload
    pseudo = ip6(src) + ip6(dst) + struct.pack("!I3xB", len(l4), 6)
    l4 = l4[:16] + struct.pack("!H", csum(pseudo + l4)) + l4[18:]
    ip = struct.pack("!IHBB16s16s", 6 << 28, len(ext) + len(l4), first if ext else 6, 64, ip6(src), ip6(dst))
    return dmac + smac + b"\x86\xdd" + ip + ext + l4


C6, V6, R6 = "2001:db8:1::2", "2001:db8:1::100", "fd00:0:0:2::11"
hop_by_hop = bytes([60, 0, 1, 4, 0, 0, 0, 0])
dest_opts = bytes([6, 0, 1, 4, 0, 0, 0, 0])
put("frame_forward", "nat6_handshake", frames(
    (0, tcp6(C6, 40000, V6, 80, "S")),
    (1, tcp6(R6, 8080, C6, 40000, "SA", 5000, 1001, smac=RS_MAC, dmac=IN_MAC)),
    (0, tcp6(C6, 40000, V6, 80, "PA", 1001, 5001, b"GET / HTTP/1.1\r\n\r\n", ext=hop_by_hop + dest_opts, first=0)),
    (0, tcp6(C6, 40000, V6, 80, "FA", 1019, 5001))))

put("ftp_lines", "port", "PORT 10,0,1,2,195,80\r\n")
put("ftp_lines", "eprt", "EPRT |1|10.0.1.2|50000|\r\n")
put("ftp_lines", "pasv", "227 Entering Passive Mode (10,0,2,11,39,16).\r\n")
put("ftp_lines", "epsv", "229 Entering Extended Passive Mode (|||40000|)\r\n")

# VRRP: the first byte selects the variant (bit 0 IPv6, bit 1 v3, bit 2
# password, bit 3 TTL), then the advertisement.
v2 = struct.pack("!BBBBBBH", 0x21, 51, 100, 1, 1, 1, 0) + ip4(V) + b"\0" * 8
v2 = v2[:6] + struct.pack("!H", csum(v2)) + v2[8:]
put("vrrp_packet", "v2", b"\x00" + v2)
v3 = struct.pack("!BBBBHH", 0x31, 51, 100, 1, 100, 0) + ip4(V)
put("vrrp_packet", "v3", b"\x02" + v3)

for name in ("nat.toml", "dr.toml"):
    put("config_toml", name, open(os.path.join(ROOT, "examples", name)).read())
for name in sorted(os.listdir(os.path.join(ROOT, "tests/lab/configs"))):
    put("config_toml", name, open(os.path.join(ROOT, "tests/lab/configs", name)).read())

put("import_conf", "keepalived.conf", """global_defs { router_id LVS_A }
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication { auth_type PASS auth_pass secret }
    virtual_ipaddress { 192.0.2.10/24 }
}
virtual_server 192.0.2.10 80 {
    delay_loop 6
    lb_algo wlc
    lb_kind NAT
    persistence_timeout 300
    protocol TCP
    real_server 10.0.0.2 8080 {
        weight 3
        HTTP_GET { url { path /health status_code 200 } connect_timeout 3 }
    }
    real_server 10.0.0.3 8080 { weight 1 TCP_CHECK { connect_timeout 3 } }
}
""")
put("import_conf", "keepalived-groups.conf", """vrrp_sync_group VG { VI_1 VI_2 }
vrrp_instance VI_1 { interface eth0 virtual_router_id 51 virtual_ipaddress { 192.0.2.10/24 } }
vrrp_instance VI_2 {
    interface eth1
    virtual_router_id 52
    authentication { auth_type AH auth_pass x }
    virtual_ipaddress { 10.0.0.1/24 }
}
virtual_server_group G {
    192.0.2.10 80
    192.0.2.20-22 443
    192.0.2.32/30 8080
    fwmark 7
}
virtual_server group G {
    lb_algo rr
    lb_kind DR
    real_server 10.0.0.2 80 { MISC_CHECK { misc_path /bin/true } }
    real_server 10.0.0.3 { SMTP_CHECK { } }
}
virtual_server fwmark 9 { lb_kind TUN protocol SCTP real_server 10.0.0.4 { } }
""")
put("import_conf", "haproxy.cfg", """global
    log 127.0.0.1 local2
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend web
    bind 192.0.2.10:80
    acl static path_beg /static
    use_backend statics if static
    default_backend app
backend app
    balance roundrobin
    option httpchk GET /health
    server a 10.0.0.2:8080 check weight 2
    server b 10.0.0.3:8080 check backup
backend statics
    balance uri
    hash-type consistent
    server s1 10.0.0.4:80 check
""")

put("api_request", "show", '{"cmd":"show"}')
put("api_request", "weight", '{"cmd":"set-weight","service":"web","real":"10.0.0.2:8080","weight":3}')
put("api_request", "conns", '{"cmd":"conns","filter":{"service":"10.0.1.100:80","limit":10}}')
put("api_request", "reload", '{"cmd":"reload","path":"/etc/xlb/xlb.toml"}')

# HTTP/1: the first byte's bit 0 selects a server response (1) or a
# client request (0).
put("http1_head", "get", b"\0GET /a?b=c HTTP/1.1\r\nHost: example.test\r\nUser-Agent: x\r\n\r\n")
put("http1_head", "post_length", b"\0POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
put("http1_head", "post_chunked", b"\0POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n")
put("http1_head", "response", b"\x01HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")

# Sync: a version 1 message with one IPv4 TCP connection (NAT,
# established) and one template.
def sync_conn(flags, state, cport, vport, dport, timeout, c, v, d, proto=6):
    body = struct.pack("!BBHIHHHHII", 0, proto, (0 << 12) | 36, flags, state, cport, vport, dport, 0, timeout)
    return body + ip4(c) + ip4(v) + ip4(d)

conns = sync_conn(0, 1, 40000, 80, 8080, 850, C, V, R) + sync_conn(0x1000, 0, 0, 80, 8080, 300, C, V, R)
msg = struct.pack("!BBHBBH", 0, 7, 8 + len(conns), 2, 1, 0) + conns
put("sync_datagram", "two", msg)
put("sync_datagram", "hello", struct.pack("!BBHBBH", 0, 7, 8, 0, 1, 0))
