#!/usr/bin/env python3
"""Golden sequences from a real HAProxy for xlb's balancer tests.

Run as root: python3 proxy/tools/haproxy_gold.py [haproxy-binary] > golden.txt
(default binary: Debian's haproxy 2.6, /usr/sbin/haproxy; ONLY=a,b
limits the run to scenarios whose names start so). It creates a private
network namespace, runs every scenario against a fresh haproxy (nbthread 1)
inside it, prints one line per scenario (`name expected`), and removes the
namespace. Only loopback addresses inside that namespace are used. golden.rs
holds these lines as a Rust table; tests.rs replays each scenario.
"""
import os, socket, subprocess, sys, time, threading, json

NS = "xlbgold%d" % os.getpid()
HAP = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "/usr/sbin/haproxy"
WORK = "/tmp/xlbgold/run"

# ---------------------------------------------------------------- key sets
# The same generators exist in the Rust tests (proxy/src/balance/tests.rs).
def uris(n):
    return ["/u%d/%d/x%d.html?q=%d&userid=id%d" % (i, (i * 37) % 101, i % 7, (i * i) % 13, (i * 7) % 23) for i in range(n)]

def hdr_values(n):
    return ["key-%d" % ((i * 13) % 97) for i in range(n)]

HOSTS = ["www.example.com", "example.com", "localhost", "a.b.mysite.co.uk", "www.example.com:8080",
         "foo.example.org", "shop.example.net", "x.y", "intranet", "api.service.internal",
         "cdn1.static.example.com", "WWW.EXAMPLE.COM"]

def src4(n):
    return ["127.%d.%d.%d" % (i % 4, (i * 7) % 256, (i * 13) % 250 + 1) for i in range(n)]

def src6(n):
    return ["fd00::%x" % ((i * 7919) % 65536 + 1) for i in range(n)]

def rdp_users(n):
    return ["user%d" % ((i * 31) % 101) for i in range(n)]

# ---------------------------------------------------------------- plumbing
BASE = """global
    nbthread 1
    stats socket %(work)s/hap.sock level admin
resolvers default
    nameserver local 127.0.0.1:53
defaults
    timeout connect 200ms
    timeout client 300s
    timeout server 300s
    timeout queue 600ms
"""

def http_responders(n):
    out = []
    for i in range(1, n + 1):
        out.append("listen r%d\n    mode http\n    bind 127.0.0.1:%d\n    http-request return status 200 content-type text/plain string \"s%d\\n\"\n" % (i, 9000 + i, i))
    return "".join(out)

def server_lines(servers, base_port=9000):
    """servers: list of dicts with w, and optional backup, id, disabled, maxconn, dead."""
    out = []
    for i, s in enumerate(servers, 1):
        port = 9999 if s.get("dead") else base_port + i
        line = "    server s%d 127.0.0.1:%d weight %d" % (i, port, s.get("w", 1))
        if s.get("backup"): line += " backup"
        if "id" in s: line += " id %d" % s["id"]
        if s.get("disabled"): line += " disabled"
        if s.get("maxconn"): line += " maxconn %d" % s["maxconn"]
        out.append(line)
    return "\n".join(out) + "\n"

class Haproxy:
    def __init__(self, cfg):
        os.makedirs(WORK, exist_ok=True)
        self.cfgpath = WORK + "/hap.cfg"
        with open(self.cfgpath, "w") as f:
            f.write(cfg)
        self.p = subprocess.Popen([HAP, "-f", self.cfgpath, "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(100):
            if os.path.exists(WORK + "/hap.sock"):
                try:
                    self.cli("show info")
                    break
                except OSError:
                    pass
            time.sleep(0.02)
        else:
            raise RuntimeError("haproxy did not start: " + self.p.stderr.read().decode())

    def cli(self, cmd):
        s = socket.socket(socket.AF_UNIX)
        s.connect(WORK + "/hap.sock")
        s.sendall((cmd + "\n").encode())
        out = b""
        while True:
            d = s.recv(65536)
            if not d: break
            out += d
        s.close()
        return out.decode()

    def stop(self):
        self.p.kill()  # our own child, by its Popen handle
        self.p.wait()
        try: os.unlink(WORK + "/hap.sock")
        except FileNotFoundError: pass

def http(port, target, headers=(), src=None, host="127.0.0.1", family=socket.AF_INET, dst="127.0.0.1"):
    s = socket.socket(family)
    if src: s.bind((src, 0))
    s.connect((dst, port))
    h = "".join("%s: %s\r\n" % kv for kv in headers)
    if not any(k.lower() == "host" for k, _ in headers):
        h = "Host: %s\r\n" % host + h
    s.sendall(("GET %s HTTP/1.1\r\n%sConnection: close\r\n\r\n" % (target, h)).encode())
    data = b""
    while True:
        d = s.recv(65536)
        if not d: break
        data += d
    s.close()
    status = data.split(b" ", 2)[1]
    if status != b"200":
        return "X"
    body = data.split(b"\r\n\r\n", 1)[1].strip()
    return body.decode()[1:]

class TcpResponders:
    """s<i> on 127.0.0.1:9100+i: sends its name and holds the connection."""
    def __init__(self, n):
        self.socks = []
        for i in range(1, n + 1):
            l = socket.socket()
            l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind(("127.0.0.1", 9100 + i))
            l.listen(64)
            self.socks.append(l)
            threading.Thread(target=self.accept, args=(l, i), daemon=True).start()

    def accept(self, l, i):
        while True:
            try: c, _ = l.accept()
            except OSError: return
            threading.Thread(target=self.hold, args=(c, i), daemon=True).start()

    def hold(self, c, i):
        try:
            c.sendall(b"%d\n" % i)
            while c.recv(4096): pass
        except OSError: pass
        c.close()

    def stop(self):
        for l in self.socks:
            try: l.shutdown(socket.SHUT_RDWR)
            except OSError: pass
            l.close()

class TcpClient:
    def __init__(self, port):
        self.port = port
        self.conns = {}

    def open(self, tag, payload=None):
        s = socket.socket()
        s.connect(("127.0.0.1", self.port))
        if payload: s.sendall(payload)
        s.settimeout(0.3)
        try:
            d = s.recv(64)
        except socket.timeout:
            d = None
        if d is None:
            # queued: wait for haproxy's queue timeout to drop it
            s.settimeout(3)
            try: s.recv(64)
            except OSError: pass
            s.close()
            time.sleep(0.1)
            return "Q"
        if not d:
            s.close()
            return "X"
        self.conns[tag] = s
        return d.decode().strip()

    def close(self, tag):
        self.conns.pop(tag).close()
        time.sleep(0.08)

def rdp_payload(user):
    body = b"Cookie: mstshash=%s\r\n" % user.encode() + b"\x01\x00\x08\x00\x00\x00\x00\x00"
    x224 = b"\xe0\x00\x00\x00\x00\x00" + body
    tpkt = b"\x03\x00" + (len(x224) + 5).to_bytes(2, "big") + bytes([len(x224)])
    return tpkt + x224

# ---------------------------------------------------------------- scenarios
W4 = [dict(w=3), dict(w=5), dict(w=2), dict(w=7)]
M3 = [dict(w=1), dict(w=1), dict(w=2)]
results = {}

ONLY = [x for x in os.environ.get("ONLY", "").split(",") if x]

def wanted(name):
    return not ONLY or any(name.startswith(x) for x in ONLY)

def run_http_keys(name, balance_lines, servers, reqs, extra=""):
    if not wanted(name): return
    """reqs: list of (target, headers, src)."""
    print(name, file=sys.stderr)
    cfg = BASE % dict(work=WORK) + http_responders(len(servers)) + \
        "backend be\n    mode http\n" + "".join("    %s\n" % l for l in balance_lines) + extra + server_lines(servers) + \
        "frontend fe\n    mode http\n    bind 127.0.0.1:8000\n    bind :::8000 v6only\n    default_backend be\n"
    h = Haproxy(cfg)
    try:
        out = []
        for target, headers, src in reqs:
            fam = socket.AF_INET6 if src and ":" in src else socket.AF_INET
            dst = "::1" if fam == socket.AF_INET6 else "127.0.0.1"
            out.append(http(8000, target, headers, src, family=fam, dst=dst))
        results[name] = "".join(out)
    finally:
        h.stop()

def run_http_seq(name, balance_lines, servers, steps, extra=""):
    if not wanted(name): return
    """steps: list of ('req', n) or ('cli', cmd) or ('get', target, headers)."""
    print(name, file=sys.stderr)
    cfg = BASE % dict(work=WORK) + http_responders(len(servers)) + \
        "backend be\n    mode http\n" + "".join("    %s\n" % l for l in balance_lines) + extra + server_lines(servers) + \
        "frontend fe\n    mode http\n    bind 127.0.0.1:8000\n    default_backend be\n"
    h = Haproxy(cfg)
    try:
        out = []
        for st in steps:
            if st[0] == "req":
                for _ in range(st[1]): out.append(http(8000, "/"))
            elif st[0] == "get":
                out.append(http(8000, st[1], st[2] if len(st) > 2 else ()))
            elif st[0] == "cli":
                r = h.cli(st[1])
                assert r.strip() == "", (st, r)
                out.append("|")
        results[name] = "".join(out)
    finally:
        h.stop()

def run_tcp(name, balance_lines, servers, steps, extra=""):
    if not wanted(name): return
    """steps: ('open', tag[, payload]) / ('close', tag) / ('cli', cmd)."""
    print(name, file=sys.stderr)
    cfg = BASE % dict(work=WORK) + \
        "backend be\n    mode tcp\n" + "".join("    %s\n" % l for l in balance_lines) + extra + server_lines(servers, 9100) + \
        "frontend fe\n    mode tcp\n    bind 127.0.0.1:8000\n    default_backend be\n"
    if any(len(st) > 2 for st in steps if st[0] == "open"):
        cfg += "    tcp-request inspect-delay 2s\n    tcp-request content accept if RDP_COOKIE\n"
    tr = TcpResponders(len(servers))
    h = Haproxy(cfg)
    try:
        c = TcpClient(8000)
        out = []
        for st in steps:
            if st[0] == "open":
                out.append(c.open(st[1], st[2] if len(st) > 2 else None))
            elif st[0] == "close":
                c.close(st[1])
            elif st[0] == "cli":
                r = h.cli(st[1])
                assert r.strip() == "", (st, r)
                out.append("|")
        for t in list(c.conns): c.close(t)
        results[name] = "".join(out)
    finally:
        h.stop()
        tr.stop()

def keyreqs_uri(n, **kw):
    return [(u, (), None) for u in uris(n)]

def main():
    N = 48
    U = keyreqs_uri(N)
    # --- hash functions and lookups over request targets
    run_http_keys("map_uri_w4", ["balance uri"], W4, U)
    run_http_keys("ch_uri_w4", ["balance uri", "hash-type consistent"], W4, U)
    run_http_keys("map_djb2", ["balance uri", "hash-type map-based djb2"], W4, U)
    run_http_keys("map_wt6", ["balance uri", "hash-type map-based wt6"], W4, U)
    run_http_keys("map_crc32", ["balance uri", "hash-type map-based crc32"], W4, U)
    run_http_keys("map_sdbm_aval", ["balance uri", "hash-type map-based sdbm avalanche"], W4, U)
    run_http_keys("ch_sdbm", ["balance uri", "hash-type consistent sdbm"], W4, U)
    run_http_keys("ch_djb2_aval", ["balance uri", "hash-type consistent djb2 avalanche"], W4, U)
    run_http_keys("ch_wt6", ["balance uri", "hash-type consistent wt6"], W4, U)
    run_http_keys("ch_crc32_aval", ["balance uri", "hash-type consistent crc32 avalanche"], W4, U)
    run_http_keys("map_gcd", ["balance uri"], [dict(w=20), dict(w=30), dict(w=50), dict(w=0)], U)
    run_http_keys("ch_ids", ["balance uri", "hash-type consistent"], [dict(w=1, id=10), dict(w=1), dict(w=1, id=1), dict(w=3, id=7)], U)
    # --- uri options
    run_http_keys("uri_whole", ["balance uri whole"], W4, U)
    run_http_keys("uri_len7", ["balance uri len 7"], W4, U)
    run_http_keys("uri_depth2", ["balance uri depth 2"], W4, U)
    run_http_keys("uri_depth1_whole", ["balance uri depth 1 whole"], W4, U)
    absu = [("http://site%d.example%s" % (i % 3, u), (("Host", "site%d.example" % (i % 3)),), None) for i, (u, _, _) in enumerate(U)]
    run_http_keys("uri_abs", ["balance uri"], W4, absu)
    run_http_keys("uri_abs_pathonly", ["balance uri path-only"], W4, absu)
    run_http_keys("uri_abs_pathonly_whole_ch", ["balance uri path-only whole", "hash-type consistent"], W4, absu)
    # --- url_param, with missing parameters falling back to round robin
    mixed = []
    for i, (u, _, _) in enumerate(U):
        mixed.append((u if i % 3 else "/nothing/%d?a=%d" % (i, i), (), None))
    run_http_keys("param_map", ["balance url_param userid"], W4, mixed)
    run_http_keys("param_ch", ["balance url_param userid", "hash-type consistent"], W4, mixed)
    run_http_keys("param_q_map", ["balance url_param q"], M3, U)
    # --- hdr
    hv = hdr_values(N)
    hreq = [("/", (("X-Key", v),) if i % 4 else (), None) for i, v in enumerate(hv)]
    run_http_keys("hdr_map", ["balance hdr(X-Key)"], W4, hreq)
    run_http_keys("hdr_ch", ["balance hdr(x-key)", "hash-type consistent"], W4, hreq)
    lists = [("/", (("X-Key", "  %s , other" % v),), None) for v in hv[:16]] + \
            [("/", (("X-Key", '"%s,in" , x' % v),), None) for v in hv[16:24]] + \
            [("/", (("X-Key", ""),), None)] * 3
    run_http_keys("hdr_list_map", ["balance hdr(X-Key)"], W4, lists)
    dom = [("/", (("Host", hst),), None) for hst in HOSTS]
    run_http_keys("hdr_dom_map", ["balance hdr(host) use_domain_only"], W4, dom)
    run_http_keys("hdr_dom_ch", ["balance hdr(Host) use_domain_only", "hash-type consistent"], W4, dom)
    # --- source
    s4 = [("/", (), ip) for ip in src4(N)]
    run_http_keys("src4_map", ["balance source"], W4, s4)
    run_http_keys("src4_ch", ["balance source", "hash-type consistent"], W4, s4)
    run_http_keys("src4_map_crc32_aval", ["balance source", "hash-type map-based crc32 avalanche"], W4, s4)
    s6 = [("/", (), ip) for ip in src6(24)]
    run_http_keys("src6_map", ["balance source"], W4, s6)
    run_http_keys("src6_ch", ["balance source", "hash-type consistent"], W4, s6)
    # --- backups and weight 0
    B = [dict(w=1, disabled=1), dict(w=2, backup=1), dict(w=5, backup=1), dict(w=3, backup=1)]
    run_http_keys("bck_map", ["balance uri"], B, U)
    run_http_keys("bck_map_all", ["balance uri", "option allbackups"], B, U)
    run_http_keys("bck_ch", ["balance uri", "hash-type consistent"], B, U)
    run_http_keys("bck_ch_all", ["balance uri", "hash-type consistent", "option allbackups"], B, U)
    run_http_keys("w0_map", ["balance uri"], [dict(w=2), dict(w=0), dict(w=4), dict(w=6)], U)

    # --- round robin and friends: plain sequences
    run_http_seq("rr_123", ["balance roundrobin"], [dict(w=1), dict(w=2), dict(w=3)], [("req", 24)])
    run_http_seq("rr_w4", ["balance roundrobin"], W4, [("req", 60)])
    run_http_seq("rr_big", ["balance roundrobin"], [dict(w=10), dict(w=3), dict(w=1), dict(w=1), dict(w=7)], [("req", 50)])
    run_http_seq("rr_odd", ["balance roundrobin"], [dict(w=256), dict(w=1), dict(w=13), dict(w=0), dict(w=100)], [("req", 80)])
    run_http_seq("rr_51", ["balance roundrobin"], [dict(w=5), dict(w=1)], [("req", 14)])
    run_http_seq("rr_112", ["balance roundrobin"], M3, [("req", 12)])
    run_http_seq("rr_bck", ["balance roundrobin"], [dict(w=1, disabled=1), dict(w=2, backup=1), dict(w=5, backup=1)], [("req", 10)])
    run_http_seq("rr_bck_all", ["balance roundrobin", "option allbackups"], [dict(w=1, disabled=1), dict(w=2, backup=1), dict(w=5, backup=1)], [("req", 14)])
    run_http_seq("srr_123", ["balance static-rr"], [dict(w=1), dict(w=2), dict(w=3)], [("req", 14)])
    run_http_seq("srr_bck", ["balance static-rr"], [dict(w=1, disabled=1), dict(w=2, backup=1), dict(w=5, backup=1)], [("req", 9)])
    # --- with run-time changes
    run_http_seq("rr_changes", ["balance roundrobin"], W4, [
        ("req", 25), ("cli", "set weight be/s2 1"), ("req", 25), ("cli", "set weight be/s4 0"), ("req", 15),
        ("cli", "set weight be/s4 7"), ("req", 15), ("cli", "disable server be/s1"), ("req", 15),
        ("cli", "enable server be/s1"), ("req", 20), ("cli", "set weight be/s3 20"), ("req", 30),
        ("cli", "set weight be/s3 1"), ("req", 12), ("cli", "disable server be/s2"), ("cli", "disable server be/s3"),
        ("cli", "disable server be/s4"), ("req", 3), ("cli", "enable server be/s3"), ("req", 12)])
    run_http_seq("rr_changes_bck", ["balance roundrobin"], [dict(w=2), dict(w=3), dict(w=1, backup=1), dict(w=4, backup=1)], [
        ("req", 6), ("cli", "disable server be/s1"), ("cli", "disable server be/s2"), ("req", 5),
        ("cli", "disable server be/s3"), ("req", 4), ("cli", "enable server be/s3"), ("req", 3), ("cli", "enable server be/s2"),
        ("req", 8), ("cli", "set weight be/s2 256"), ("req", 10), ("cli", "enable server be/s1"), ("req", 12)])
    run_http_seq("srr_changes", ["balance static-rr"], [dict(w=1), dict(w=2), dict(w=3)], [
        ("req", 7), ("cli", "disable server be/s3"), ("req", 7), ("cli", "set weight be/s2 0"), ("req", 3),
        ("cli", "enable server be/s3"), ("req", 7), ("cli", "set weight be/s2 100%"), ("req", 8)])
    # --- missing-key fallbacks with changes: map rr and the ring walk
    run_http_seq("param_ch_walk", ["balance url_param nope", "hash-type consistent"], [dict(w=1), dict(w=1, id=5), dict(w=2)], [
        ("req", 40), ("cli", "disable server be/s2"), ("req", 20), ("cli", "enable server be/s2"), ("req", 20),
        ("cli", "set weight be/s3 1"), ("req", 20), ("cli", "set weight be/s1 3"), ("req", 30)])
    run_http_seq("param_ch_walk_bck", ["balance url_param nope", "hash-type consistent", "option allbackups"],
        [dict(w=1), dict(w=1, backup=1), dict(w=1, backup=1)], [
        ("req", 5), ("cli", "disable server be/s1"), ("req", 7), ("cli", "enable server be/s1"), ("req", 5)])
    run_http_seq("param_map_walk", ["balance url_param nope"], W4, [
        ("req", 20), ("cli", "disable server be/s4"), ("req", 12), ("cli", "enable server be/s4"), ("req", 12)])
    # --- random: draws from a fresh PRNG; loads are all 0 in sequence
    run_http_seq("rnd2", ["balance random"], [dict(w=1), dict(w=1), dict(w=2)], [("req", 40)])
    run_http_seq("rnd1", ["balance random(1)"], [dict(w=1), dict(w=1), dict(w=2)], [("req", 40)])
    run_http_seq("rnd3_changes", ["balance random(3)"], W4, [("req", 20), ("cli", "set weight be/s2 1"), ("req", 20), ("cli", "disable server be/s4"), ("req", 20)])
    # --- leastconn, sequential (ties rotate)
    run_http_seq("lc_seq", ["balance leastconn"], [dict(w=1), dict(w=2), dict(w=3)], [("req", 12), ("cli", "set weight be/s1 5"), ("req", 12)])

    # --- tcp: in-flight counts
    T3 = [dict(w=1), dict(w=2), dict(w=3)]
    steps = [("open", "a%d" % i) for i in range(12)] + [("close", "a3"), ("close", "a5"), ("close", "a0")] + \
        [("open", "b%d" % i) for i in range(4)] + [("close", "a%d" % i) for i in (1, 2, 4, 6, 7)] + \
        [("open", "c%d" % i) for i in range(6)] + [("cli", "set weight be/s3 1")] + [("open", "d%d" % i) for i in range(6)]
    run_tcp("lc_tcp", ["balance leastconn"], T3, steps)
    run_tcp("lc_tcp_maxconn", ["balance leastconn"], [dict(w=1, maxconn=2), dict(w=2, maxconn=3), dict(w=3, maxconn=1)],
        [("open", "a%d" % i) for i in range(7)] + [("close", "a2"), ("open", "b0"), ("open", "b1")])
    first_steps = [("open", "a%d" % i) for i in range(6)] + [("close", "a1"), ("open", "b0"), ("close", "a0"), ("close", "a4"),
        ("open", "b1"), ("open", "b2"), ("cli", "disable server be/s1"), ("open", "b3"), ("cli", "enable server be/s1"), ("open", "b4")]
    run_tcp("first_maxconn", ["balance first"], [dict(w=1, maxconn=2, id=3), dict(w=1, maxconn=1, id=1), dict(w=5, maxconn=2, id=2)], first_steps)
    run_tcp("rr_maxconn", ["balance roundrobin"], [dict(w=1, maxconn=1), dict(w=2, maxconn=2), dict(w=3, maxconn=2)],
        [("open", "a%d" % i) for i in range(6)] + [("close", "a1"), ("open", "b0"), ("close", "a0"), ("close", "a2"), ("open", "b1"), ("open", "b2"), ("open", "b3")])
    run_tcp("srr_maxconn", ["balance static-rr"], [dict(w=1, maxconn=1), dict(w=2, maxconn=2), dict(w=3, maxconn=2)],
        [("open", "a%d" % i) for i in range(6)] + [("close", "a1"), ("open", "b0"), ("close", "a0"), ("close", "a3"), ("open", "b1"), ("open", "b2")])
    run_tcp("rnd_tcp", ["balance random"], [dict(w=1), dict(w=2), dict(w=3)],
        [("open", "a%d" % i) for i in range(16)] + [("close", "a%d" % i) for i in range(0, 16, 3)] + [("open", "b%d" % i) for i in range(10)])
    run_tcp("param_miss_ch_maxconn", ["balance rdp-cookie", "hash-type consistent"], [dict(w=1, maxconn=1), dict(w=1, maxconn=1), dict(w=1, maxconn=1)],
        [("open", "a%d" % i) for i in range(4)] + [("close", "a1"), ("open", "b0"), ("open", "b1")])
    users = rdp_users(24)
    run_tcp("rdp_map", ["balance rdp-cookie"], W4, [("open", "u%d" % i, rdp_payload(u)) for i, u in enumerate(users)])
    run_tcp("rdp_ch", ["balance rdp-cookie(mstshash)", "hash-type consistent"], W4, [("open", "u%d" % i, rdp_payload(u)) for i, u in enumerate(users)])

    # --- fwrr requeue order after a pick that found every server full
    fill = [("open", "a%d" % i) for i in range(4)] + [("open", "q")] + [("close", "a%d" % i) for i in range(4)]
    run_tcp("rr_requeue_order", ["balance roundrobin"], [dict(w=1, maxconn=1)] * 4, fill + [("open", "b%d" % i) for i in range(8)])
    fillw = [("open", "a%d" % i) for i in range(6)] + [("open", "q")] + [("close", "a%d" % i) for i in (5, 0, 3)]
    run_tcp("rr_requeue_order_w", ["balance roundrobin"], [dict(w=1, maxconn=1), dict(w=2, maxconn=2), dict(w=1, maxconn=1), dict(w=2, maxconn=2)],
        fillw + [("open", "b%d" % i) for i in range(3)] + [("close", "a%d" % i) for i in (1, 2, 4)] + [("close", "b%d" % i) for i in range(3)] + [("open", "c%d" % i) for i in range(10)])
    # --- redispatch: s2 is dead (nothing listens), `option redispatch 1`
    R = [dict(w=1), dict(w=2, dead=1), dict(w=3), dict(w=1)]
    red = ["option redispatch 1", "retries 5"]
    run_http_seq("redisp_rr", ["balance roundrobin"] + red, R, [("req", 24)])
    run_http_seq("redisp_srr", ["balance static-rr"] + red, R, [("req", 14)])
    run_http_seq("redisp_lc", ["balance leastconn"] + red, R, [("req", 12)])
    run_http_seq("redisp_first", ["balance first"] + red, [dict(w=1, dead=1), dict(w=1), dict(w=1)], [("req", 4)])
    run_http_seq("redisp_rnd", ["balance random"] + red, R, [("req", 24)])
    run_http_keys("redisp_ch_uri", ["balance uri", "hash-type consistent"] + red, R, U[:24])
    run_http_keys("redisp_map_uri", ["balance uri"] + red, R, U[:24])


# ---------------------------------------------------------------- stress
# Long mixed sequences driven by one LCG, mirrored in tests.rs (`Lcg`).
def lcg(seed):
    x = seed
    while True:
        x = (x * 1103515245 + 12345) & 0x7fffffff
        yield x >> 8

def http_stress_steps(seed, n, servers, static=False):
    g = lcg(seed)
    steps = []
    for _ in range(n):
        r = next(g) % 10
        k = next(g) % len(servers)
        if r < 5:
            if static:
                w = 0 if next(g) % 2 else servers[k]["w"]
            elif r < 4:
                w = next(g) % 12
            else:
                w = next(g) % 257
            steps.append(("cli", "set weight be/s%d %d" % (k + 1, w)))
        elif r < 7:
            steps.append(("cli", "disable server be/s%d" % (k + 1)))
        else:
            steps.append(("cli", "enable server be/s%d" % (k + 1)))
        for _ in range(next(g) % 7 + 1):
            a = next(g) % 1000
            if next(g) % 4:
                steps.append(("get", "/k%d?userid=v%d" % (a, next(g) % 50)))
            else:
                steps.append(("get", "/k%d" % a))
    return steps

def run_tcp_stress(name, balance_lines, servers, seed, n, extra=""):
    if not wanted(name): return
    print(name, file=sys.stderr)
    cfg = BASE % dict(work=WORK) + \
        "backend be\n    mode tcp\n" + "".join("    %s\n" % l for l in balance_lines) + extra + server_lines(servers, 9100) + \
        "frontend fe\n    mode tcp\n    bind 127.0.0.1:8000\n    default_backend be\n"
    tr = TcpResponders(len(servers))
    h = Haproxy(cfg)
    try:
        c = TcpClient(8000)
        g = lcg(seed)
        conns = []
        out = []
        tag = 0
        for _ in range(n):
            r = next(g) % 10
            if r < 5:
                tag += 1
                res = c.open(tag)
                out.append(res)
                if res not in ("Q", "X"):
                    conns.append(tag)
            elif r < 8:
                if conns:
                    c.close(conns.pop(next(g) % len(conns)))
            elif r < 9:
                k = next(g) % len(servers)
                assert h.cli("set weight be/s%d %d" % (k + 1, next(g) % 12)).strip() == ""
                out.append("|")
            else:
                k = next(g) % len(servers)
                cmd = "disable" if next(g) % 2 else "enable"
                assert h.cli("%s server be/s%d" % (cmd, k + 1)).strip() == ""
                out.append("|")
        for t in list(c.conns): c.close(t)
        results[name] = "".join(out)
    finally:
        h.stop()
        tr.stop()

def stress():
    S6 = [dict(w=3), dict(w=1), dict(w=4), dict(w=1, backup=1), dict(w=5), dict(w=2, backup=1)]
    run_http_seq("rr_stress", ["balance roundrobin"], S6, http_stress_steps(1, 50, S6))
    run_http_seq("rr_stress_all", ["balance roundrobin", "option allbackups"], S6, http_stress_steps(2, 50, S6))
    S4 = [dict(w=3), dict(w=1), dict(w=4), dict(w=2)]
    run_http_seq("srr_stress", ["balance static-rr"], S4, http_stress_steps(3, 40, S4, static=True))
    S5 = [dict(w=3), dict(w=1), dict(w=4), dict(w=2), dict(w=1, backup=1)]
    run_http_seq("map_param_stress", ["balance url_param userid"], S5, http_stress_steps(4, 40, S5, static=True))
    run_http_seq("ch_param_stress", ["balance url_param userid", "hash-type consistent", "option allbackups"], S6, http_stress_steps(5, 50, S6))
    run_http_seq("ch_param_stress_fbck", ["balance url_param userid", "hash-type consistent"], S6, http_stress_steps(6, 50, S6))
    run_http_seq("rnd_stress", ["balance random(2)"], S6, http_stress_steps(7, 40, S6))
    run_http_seq("lc_stress_http", ["balance leastconn"], S6, http_stress_steps(8, 40, S6))
    run_http_seq("first_stress_http", ["balance first"], S6, http_stress_steps(9, 30, S6))
    T4 = [dict(w=1), dict(w=3), dict(w=2), dict(w=5)]
    run_tcp_stress("lc_stress", ["balance leastconn"], T4, 11, 90)
    T4m = [dict(w=1, maxconn=2), dict(w=3, maxconn=3), dict(w=2, maxconn=1), dict(w=5, maxconn=2)]
    run_tcp_stress("lc_stress_maxconn", ["balance leastconn"], T4m, 12, 70)
    run_tcp_stress("rr_stress_maxconn", ["balance roundrobin"], T4m, 13, 70)
    run_tcp_stress("first_stress", ["balance first"], [dict(w=1, maxconn=2, id=4), dict(w=1, maxconn=1), dict(w=1, maxconn=3, id=9), dict(w=1, maxconn=2)], 14, 70)
    run_tcp_stress("rnd_stress_tcp", ["balance random"], T4, 15, 90)
    R4 = [dict(w=1, maxconn=1), dict(w=1, maxconn=1), dict(w=1, maxconn=1), dict(w=1, maxconn=1)]
    run_tcp_stress("rr_full_requeue", ["balance roundrobin"], R4, 16, 70)
    run_tcp_stress("rr_full_requeue_w", ["balance roundrobin"], [dict(w=1, maxconn=1), dict(w=2, maxconn=2), dict(w=1, maxconn=1), dict(w=2, maxconn=1)], 17, 70)

def inner():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for ip in src6(24):
        subprocess.run(["ip", "-6", "addr", "add", ip + "/128", "dev", "lo", "nodad"], check=True)
    time.sleep(0.3)
    main()
    stress()
    json.dump(results, sys.stdout)

if __name__ == "__main__":
    if "--inner" in sys.argv:
        inner()
    else:
        subprocess.run(["ip", "netns", "add", NS], check=True)
        try:
            r = subprocess.run(["ip", "netns", "exec", NS, sys.executable, os.path.abspath(__file__), HAP, "--inner"],
                               stdout=subprocess.PIPE, check=False)
            if r.returncode != 0:
                print("inner failed", r.returncode, file=sys.stderr)
            out = json.loads(r.stdout or b"{}")
            for k, v in out.items():
                print(k, v)
        finally:
            pids = subprocess.run(["ip", "netns", "pids", NS], stdout=subprocess.PIPE, text=True).stdout.split()
            for p in pids:
                print("leftover pid", p, file=sys.stderr)
                os.kill(int(p), 9)
            subprocess.run(["ip", "netns", "del", NS], check=True)
