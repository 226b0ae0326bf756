#!/usr/bin/env python3
"""Side by side with HAProxy: the same request sequence, per balance
algorithm, sent to a haproxy and to xlbd running the same haproxy.cfg (xlbd
through `xlbctl import`), must reach the same server at every step.

  proxy_compare.py cfg          print the haproxy.cfg (one frontend/backend
                                per case, on ports 9101 and up)
  proxy_compare.py run A B      send every case's sequence to A (haproxy) and
                                B (xlbd), print the sequences and the verdict
                                (exit 1 on any difference)

The lab's real servers answer HTTP with their name (rs1, rs2, rs3) and echo
lines on TCP 9000 prefixed with it. Client addresses 10.200.1.21-24 must be
on the client's interface (source hashing)."""
import http.client
import socket
import sys

SERVERS = [("rs1", "10.200.2.11"), ("rs2", "10.200.2.12"), ("rs3", "10.200.2.13")]
SOURCES = ["10.200.1.21", "10.200.1.22", "10.200.1.23", "10.200.1.24"]

URIS = [f"/static/img{i}.png" for i in range(12)] + [
    "/", "/a/b/c/d", "/a/b/x", "/a/c?x=1", "/a/c?x=2", "/index.html",
    "/search?q=cat&page=2", "/search?q=dog", "/very/long/path/to/resource.js",
    "/x?userid=9", "/api/v1/users/42", "/api/v2/orders?id=7",
]
PARAMS = [f"/p?userid={i}" for i in range(16)] + ["/p", "/p?user=3", "/p?a=1&userid=77&b=2", "/p?userid="]
KEYS = [f"k{i}" for i in range(14)] + [None, None]
HOSTS = ["www.example.com", "img.example.com", "a.b.example.org", "example.net", "x.y.z.example.com", "localhost"]



# name, mode, backend lines, server options per server, requests
def cases():
    plain = [{"path": "/"}] * 30
    by_source = [{"path": "/", "src": s} for _ in range(3) for s in SOURCES]
    uris = [{"path": u} for u in URIS + URIS[::-1]]
    params = [{"path": u} for u in PARAMS + PARAMS[::-1]]
    keyed = [{"path": "/", "headers": {"X-Key": k} if k else {}} for k in KEYS + KEYS[::-1]]
    hosts = [{"path": "/", "host": h} for h in HOSTS * 3]
    users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
    rdp = [{"rdp": users[i % len(users)]} for i in range(24)]
    w123 = ["weight 1", "weight 2", "weight 3"]
    w111 = ["", "", ""]
    return [
        ("rr", "http", ["balance roundrobin"], w123, plain),
        ("rr_equal", "http", ["balance roundrobin"], w111, plain),
        ("static_rr", "http", ["balance static-rr"], w123, plain),
        ("leastconn", "http", ["balance leastconn"], w123, plain[:18]),
        ("first", "http", ["balance first"], ["maxconn 1"] * 3, plain[:6]),
        ("random", "http", ["balance random"], w123, plain),
        ("source_map", "http", ["balance source"], w123, by_source),
        ("source_ch", "http", ["balance source", "hash-type consistent"], w123, by_source),
        ("uri_map", "http", ["balance uri"], w123, uris),
        ("uri_ch", "http", ["balance uri", "hash-type consistent"], w123, uris),
        ("uri_depth", "http", ["balance uri len 9 depth 2 whole"], w111, uris),
        ("uri_djb2", "http", ["balance uri", "hash-type map-based djb2"], w123, uris),
        ("uri_wt6", "http", ["balance uri whole", "hash-type consistent wt6"], w123, uris),
        ("param_map", "http", ["balance url_param userid"], w123, params),
        ("param_ch", "http", ["balance url_param userid", "hash-type consistent"], w111, params),
        ("hdr_map", "http", ["balance hdr(X-Key)"], w123, keyed),
        ("hdr_ch", "http", ["balance hdr(X-Key)", "hash-type consistent crc32"], w123, keyed),
        ("host_dom", "http", ["balance hdr(host) use_domain_only", "hash-type consistent"], w111, hosts),
        ("rdp", "tcp", ["balance rdp-cookie",
                        "tcp-request inspect-delay 5s",
                        "tcp-request content accept if RDP_COOKIE"], w111, rdp),
    ]


def cfg():
    out = [
        "global",
        "  maxconn 1000",
        "  nbthread 1",
        "defaults",
        "  mode http",
        "  timeout connect 2s",
        "  timeout client 30s",
        "  timeout server 30s",
    ]
    for i, (name, mode, lines, opts, _) in enumerate(cases()):
        port = 9101 + i
        out += ["", f"listen {name}", f"  bind *:{port}", f"  mode {mode}"]
        out += [f"  {l}" for l in lines]
        srv_port = 9000 if mode == "tcp" else 8080
        for (sname, addr), o in zip(SERVERS, opts):
            out.append(f"  server {sname} {addr}:{srv_port} {o}".rstrip())
    return "\n".join(out) + "\n"


def one_http(addr, port, req):
    src = (req.get("src", "0.0.0.0"), 0)
    c = http.client.HTTPConnection(addr, port, timeout=5, source_address=src)
    headers = dict(req.get("headers", {}))
    if "host" in req:
        headers["Host"] = req["host"]
    try:
        c.request("GET", req["path"], headers=headers)
        r = c.getresponse()
        body = r.read().decode(errors="replace").strip()
        return body if r.status == 200 else f"<{r.status}>"
    except Exception as e:  # noqa: BLE001 - a failure is a result to compare
        return f"<{type(e).__name__}>"
    finally:
        c.close()


def one_rdp(addr, port, req):
    # RDP's X.224 request carries "Cookie: mstshash=USER\r\n" after an
    # 11-byte header; HAProxy's rdp-cookie reads it from there.
    payload = b"\x03\x00\x00\x2f\x2a\xe0\x00\x00\x00\x00\x00" + f"Cookie: mstshash={req['rdp']}\r\n".encode()
    s = socket.create_connection((addr, port), timeout=5)
    try:
        s.sendall(payload)
        data = s.recv(200).decode(errors="replace")
        return data.split(" ", 1)[0] if data else "<empty>"
    except Exception as e:  # noqa: BLE001
        return f"<{type(e).__name__}>"
    finally:
        s.close()


def run(a, b):
    bad = 0
    for i, (name, mode, lines, _, reqs) in enumerate(cases()):
        port = 9101 + i
        seqs = []
        for target in (a, b):
            send = one_rdp if mode == "tcp" else one_http
            seqs.append([send(target, port, r) for r in reqs])
        same = seqs[0] == seqs[1]
        counts = {s: seqs[0].count(s) for s in sorted(set(seqs[0]))}
        print(f"{'ok  ' if same else 'DIFF'} {name:<10} {' '.join(lines[:2]):<45} {counts}")
        if not same:
            bad += 1
            print(f"     haproxy: {' '.join(seqs[0])}")
            print(f"     xlb:     {' '.join(seqs[1])}")
        if any(x.startswith("<") for x in seqs[0]):
            print(f"     haproxy failed requests: {seqs[0]}")
            bad += 1
    print(f"compare: {len(cases()) - bad} same, {bad} different")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["cfg"]:
        sys.stdout.write(cfg())
    elif len(sys.argv) == 4 and sys.argv[1] == "run":
        sys.exit(run(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
