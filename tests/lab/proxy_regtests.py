#!/usr/bin/env python3
"""HAProxy 2.6's own regression tests (reg-tests/balance, http-messaging and
checks), ported to the lab and run against Debian's haproxy and xlbd side by
side: each function below is named after the VTC it ports and asserts that
VTC's expectations (which server a URI lands on, which malformed message gets
which status, what the server receives) on both. A failure on haproxy means
the port is wrong; on xlb, a behaviour difference. The mapping of every VTC
(ported, partly ported, not applicable) is docs/proxy-regtests.md.

  proxy_regtests.py cfg DIR haproxy|xlb   the haproxy.cfg (haproxy's adds an
                                          admin stats socket in DIR)
  proxy_regtests.py server DIR            the scripted servers (run in rs1's
                                          namespace; records what they receive
                                          in DIR/vtcsrv.jsonl)
  proxy_regtests.py run DIR HAPROXY XLB   every scenario (ONLY=name: those
                                          whose name contains it); one line
                                          per scenario, a summary line, exit 1
                                          on any difference

The scripted servers play the VTCs' server roles; they tell haproxy's
connections (from dir2, 10.200.2.3) from xlbd's (from dir, 10.200.2.1) by
source address. h2 is spoken by a minimal client of our own over TLS with
ALPN h2 (xlb takes h2 from clients over TLS only; the VTCs' clear-text h2
binds become TLS binds). XLB_BIN names the directory of xlbctl."""
import base64
import hashlib
import itertools
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

SRV = "10.200.2.11"  # every scripted server listens in rs1
SOURCES = {"10.200.2.3": "haproxy", "10.200.2.1": "xlb"}
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key

# ---------------------------------------------------------------------------
# The configuration (one haproxy.cfg; haproxy's copy adds an admin socket).

BALANCE_SERVERS = "".join(f"  server srv{i} {SRV}:{7100 + i}\n" for i in range(1, 5))


def cfg(d, who):
    sock = f"  stats socket {d}/haproxy.sock level admin\n" if who == "haproxy" else ""
    tls = f"ssl crt {d}/site.pem alpn h2,http/1.1"
    out = f"""global
  maxconn 2000
  nbthread 1
  log stdout local0
{sock}
defaults
  mode http
  log global
  timeout connect 2s
  timeout client 5s
  timeout server 5s

listen stats
  bind *:9300
  stats enable
  stats uri /st

# reg-tests/balance
listen balance_rr
  bind *:9310
  balance roundrobin
{BALANCE_SERVERS}
listen balance_uri
  bind *:9311
  balance uri
{BALANCE_SERVERS}
listen balance_uri_path_only
  bind *:9312
  bind *:9313 {tls}
  balance uri path-only
{BALANCE_SERVERS}
# reg-tests/http-messaging
listen h1_to_h1
  bind *:9320
  server s1 {SRV}:7201

listen te_fe1
  bind *:9321
  server s1 {SRV}:7211

listen te_fe2
  bind *:9322
  server s2 {SRV}:7212

listen bodyless
  bind *:9323
  server s1 {SRV}:7221

listen upgrade
  bind *:9324
  bind *:9325 {tls}
  server srv_h1 {SRV}:7231

listen ws_fe1
  bind *:9326
  server s1 {SRV}:7241

listen ws_fe2
  bind *:9327
  server s2 {SRV}:7242

listen ws_fe3
  bind *:9328 {tls}
  server hap_srv {SRV}:7243

listen ws_fe4
  bind *:9329 {tls}
  server hap_srv_bad_key {SRV}:7244

listen h2norm
  bind *:9330 {tls}
  option httplog
  server s1 {SRV}:7251

listen h2_to_h1
  bind *:9331 {tls}
  server s1 {SRV}:7261

listen h2_desync
  bind *:9332 {tls}
  server s1 {SRV}:7271

listen splice_li1
  bind *:9333
  server srv1 {SRV}:7281

listen splice_li2
  bind *:9334
  server srv2 {SRV}:7282

# reg-tests/checks
backend chk_be1
  option httpchk
  server srv {SRV}:7501 check inter 300ms rise 1 fall 1

backend chk_be2
  option httpchk GET /status HTTP/1.1
  server srv {SRV}:7502 check inter 300ms rise 1 fall 1

backend chk_be3
  option httpchk
  http-check send meth GET uri /status ver HTTP/1.1
  server srv {SRV}:7503 check inter 300ms rise 1 fall 1

backend expect_be1
  option httpchk
  http-check expect status 200-399
  server srv {SRV}:7511 check inter 300ms rise 1 fall 1

backend send_be1
  option httpchk
  server srv {SRV}:7521 check inter 300ms rise 1 fall 1

backend send_be2
  option httpchk GET /test HTTP/1.1
  server srv {SRV}:7522 check inter 300ms rise 1 fall 1

backend l47_be2
  mode tcp
  option httpchk OPTIONS / HTTP/1.1\\r\\nHost:\\ www
  server srv2 {SRV}:7531 check inter 200ms downinter 100ms rise 1 fall 1

backend l47_be3
  server srv3 255.255.255.255:11111 check inter 200ms downinter 100ms rise 1 fall 1

backend l47_be4
  server srv4 {SRV}:11111 check inter 200ms downinter 100ms rise 1 fall 1
"""
    for i in range(1, 5):
        out += f"""
frontend fe_4be{i}
  mode tcp
  bind *:{9340 + i}
  use_backend be_4be{i}

backend be_4be{i}
  mode tcp
  server srv{i} {SRV}:{7600 + i} check inter 200ms downinter 100s rise 1 fall 1
"""
    out += "\nbackend be_40srv\n  mode tcp\n  default-server no-check inter 200ms downinter 100ms rise 1 fall 1\n"
    for i in range(40):
        out += f"  server srv{i} {SRV}:{7700 + i}{' check' if i % 2 else ''}\n"
    for i in range(20):
        n = 2 * i + 1
        out += f"""
frontend fe_40be{n}
  mode tcp
  bind *:{9400 + i}
  use_backend be_40be{n}

backend be_40be{n}
  mode tcp
  balance first
  default-server no-check inter 200ms downinter 1s rise 1 fall 1
  server srv{n - 1} {SRV}:{7800 + n - 1}
  server srv{n} {SRV}:{7800 + n} check
"""
    # http-check-send's second defaults section: last, since every section
    # after it starts from it.
    out += f"""
defaults
  mode http
  timeout connect 2s
  timeout client 5s
  timeout server 5s
  option httpchk GET /status HTTP/1.1\\r\\nHdr:\\ must-be-removed
  http-check send hdr Host my-www-host

backend send_be3
  option httpchk
  server srv {SRV}:7523 check inter 300ms rise 1 fall 1

backend send_be4
  server srv {SRV}:7524 check inter 300ms rise 1 fall 1

backend send_be5
  http-check send hdr Host other-www-host
  server srv {SRV}:7525 check inter 300ms rise 1 fall 1
"""
    return out


# ---------------------------------------------------------------------------
# The scripted servers.


class Buffered:
    """A socket read through a buffer: what a read brought beyond what was
    asked for is kept for the next ask."""

    def fill(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError
        self.buf += b

    def until(self, sep):
        while sep not in self.buf:
            self.fill()
        out, self.buf = self.buf.split(sep, 1)
        return out

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


class Peer(Buffered):
    """A server-side connection: reads requests, keeps what is left over."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def request(self):
        head = self.until(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        words = lines[0].decode("latin-1").split()
        method, url, proto = (words + ["", "", ""])[:3]
        headers = []
        for l in lines[1:]:
            k, _, v = l.decode("latin-1").partition(":")
            headers.append([k.strip().lower(), v.strip()])
        te = [v for k, v in headers if k == "transfer-encoding"]
        cl = [v for k, v in headers if k == "content-length"]
        body = b""
        if te and te[-1].lower().split(",")[-1].strip() == "chunked":
            while True:
                size = int(self.until(b"\r\n").split(b";")[0].strip(), 16)
                if size == 0:
                    while self.until(b"\r\n") != b"":
                        pass
                    break
                body += self.take(size)
                self.until(b"\r\n")
        elif cl:
            body = self.take(int(cl[0]))
        return {
            "method": method,
            "url": url,
            "proto": proto,
            "headers": headers,
            "body": body.decode("latin-1"),
            "raw": head.decode("latin-1") + "\r\n\r\n",
        }


def hdr(req, name):
    """The first value of a header (vtest's req.http.NAME), or None."""
    return next((v for k, v in req["headers"] if k == name), None)


def resp(status, reason="OK", headers=(), body=b"", length=True, proto="HTTP/1.1"):
    out = f"{proto} {status} {reason}\r\n".encode()
    for h in headers:
        out += h.encode() + b"\r\n"
    if length:
        out += b"Content-Length: %d\r\n" % len(body)
    return out + b"\r\n" + body


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def tunnel(p):
    """After a 101: echo until the proxy closes."""
    if p.buf:
        p.s.sendall(p.buf)
    while True:
        b = p.s.recv(65536)
        if not b:
            return False
        p.s.sendall(b)


# Each role answers one request; False closes the connection (vtest's
# `accept`: the next request comes on a new connection).


def role_name(n):
    def answer(p, req, ctx):
        p.s.sendall(resp(200, headers=[f"Server: s{n}"], body=f"s{n}".encode()))
        return True

    return answer


def role_h1(p, req, ctx):
    # /testN.html: "response K" with K the last digit; a HEAD is answered
    # with the body all the same and the connection closed, as the VTC's
    # server does.
    k = int(re.search(r"(\d+)", req["url"]).group(1)) % 10
    p.s.sendall(resp(200, body=f"response {k}".encode()))
    return req["method"] != "HEAD"


def role_te1(p, req, ctx):
    u = req["url"]
    if u == "/http10-chunked":
        p.s.sendall(b"HTTP/1.0 200 Ok\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        return False
    if u == "/te-and-cl":
        # The length covers a last chunk and 25 bytes after it.
        p.s.sendall(
            b"HTTP/1.1 200 Ok\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n"
            b"0\r\n\r\nHTTP/1.1 999 Split\r\n\r\nXXXX"
        )
        return False
    p.s.sendall(resp(200))
    # The first two (smuggling attempt, HTTP/1.0 client) close, /1 /2 /3
    # share one connection.
    return u in ("/1", "/2", "/3")


def role_te2(p, req, ctx):
    te = {
        "/r1": "chunked, chunked",
        "/r2": "chunked, gzip, chunked",
        "/r3": "chunked, gzip",
    }.get(req["url"])
    if te:
        p.s.sendall(resp(200, headers=[f"Transfer-Encoding: {te}"], body=b"0\r\n\r\n", length=False))
    else:
        p.s.sendall(resp(200, headers=["Transfer-Encoding: gzip"]))
    return False


def role_bodyless(p, req, ctx):
    u = req["url"]
    if u == "/req1":
        p.s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n")
    elif u == "/req2":
        p.s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n")
    elif u == "/req3":
        p.s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    else:
        p.s.sendall(resp(200, body=b"last response"))
    return True


def role_upgrade(p, req, ctx):
    p.s.sendall(resp(101, "Switching Protocols", ["connection: upgrade", "upgrade: custom_protocol"], length=False))
    return tunnel(p)


def role_ws(mode):
    def answer(p, req, ctx):
        key = hdr(req, "sec-websocket-key")
        if mode == "valid":
            hs = ["connection: upgrade", "upgrade: websocket", f"sec-websocket-accept: {ws_accept(key or '')}"]
        elif mode == "nokey":
            hs = ["connection: upgrade", "upgrade: websocket"]
        else:
            if key is None:
                return False  # the VTC's server refuses a request without a key
            accept = ws_accept(key) if mode == "compute" else "invalid_key"
            hs = ["connection: upgrade", "upgrade: websocket", f"sec-websocket-accept: {accept}"]
        p.s.sendall(resp(101, "Switching Protocols", hs, length=False))
        return tunnel(p)

    return answer


def role_ok(p, req, ctx):
    p.s.sendall(resp(200, body=b"ok"))
    return True


def role_splice1(p, req, ctx):
    p.s.sendall(resp(200, body=b"b" * 1048576))
    return True


def role_splice2(p, req, ctx):
    p.s.sendall(resp(200, body=b"c" * 1048576, length=False))
    return False


def role_check(p, req, ctx):
    p.s.sendall(resp(200))
    return False


def role_check202(p, req, ctx):
    p.s.sendall(
        resp(
            202,
            "Accepted",
            [
                "x-test1: true, next value",
                "x-test2: true, begin-value, value-end, value-sub-string, value-reg-123ABC",
                "x-begin-test: 1",
                "x-test-end: 1",
                "x-sub-test: 1",
                "x-reg-test1: 1",
                "x-hdr-name: x-test1",
            ],
        )
    )
    return False


def role_first_then_silent(p, req, ctx):
    # The first check of each proxy is answered; later ones are read and
    # never answered (the VTC's server runs its script once).
    with ctx["lock"]:
        first = p.src not in ctx["answered"]
        ctx["answered"].add(p.src)
    if first:
        p.s.sendall(resp(200))
        return False
    while p.s.recv(4096):
        pass
    return False


HTTP_ROLES = {
    **{7100 + i: role_name(i) for i in range(1, 5)},
    7201: role_h1,
    7211: role_te1,
    7212: role_te2,
    7221: role_bodyless,
    7231: role_upgrade,
    7241: role_ws("valid"),
    7242: role_ws("nokey"),
    7243: role_ws("compute"),
    7244: role_ws("badkey"),
    7251: role_ok,
    7261: role_h1,
    7271: role_ok,
    7281: role_splice1,
    7282: role_splice2,
    **{p: role_check for p in (7501, 7502, 7503, 7521, 7522, 7523, 7524, 7525)},
    7511: role_check202,
    7531: role_first_then_silent,
}
# Plain TCP servers (L4 checks): accept; the ones that log record each
# connection; the ones that answer give one HTTP 200 to a request.
TCP_PORTS = {
    **{7600 + i: dict(log=False, answer=False) for i in range(1, 5)},
    **{7700 + i: dict(log=i % 2 == 0, answer=False) for i in range(40)},
    **{7800 + i: dict(log=i % 2 == 0, answer=i % 2 == 0) for i in range(40)},
}


def serve(d):
    log_lock = threading.Lock()
    log = open(f"{d}/vtcsrv.jsonl", "a")
    conns = itertools.count(1)
    ctx = {"lock": threading.Lock(), "answered": set()}

    def record(entry):
        with log_lock:
            log.write(json.dumps(entry) + "\n")
            log.flush()

    def http_conn(sock, port, src):
        p = Peer(sock)
        p.src = src
        cid = next(conns)
        try:
            for n in itertools.count():
                req = p.request()
                record(dict(req, port=port, src=src, conn=cid, n=n))
                if not HTTP_ROLES[port](p, req, ctx):
                    break
        except (EOFError, OSError, ValueError):
            pass
        finally:
            sock.close()

    def tcp_conn(sock, port, src):
        opts = TCP_PORTS[port]
        if opts["log"]:
            record({"port": port, "src": src, "conn": next(conns), "tcp": True})
        try:
            if opts["answer"]:
                sock.settimeout(3)
                Peer(sock).request()
                sock.sendall(resp(200))
            else:
                sock.settimeout(1)
                while sock.recv(4096):
                    pass
        except (EOFError, OSError, ValueError):
            pass
        finally:
            sock.close()

    def listen(port, handler):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(128)

        def loop():
            while True:
                c, a = s.accept()
                c.settimeout(30)
                threading.Thread(target=handler, args=(c, port, a[0]), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()

    for port in HTTP_ROLES:
        listen(port, http_conn)
    for port in TCP_PORTS:
        listen(port, tcp_conn)
    open(f"{d}/vtcsrv.ready", "w").close()
    while True:
        time.sleep(3600)


def received(d, port, who, since=0):
    """What the server on `port` received from `who` (records after line
    `since` of the log)."""
    out = []
    try:
        with open(f"{d}/vtcsrv.jsonl") as f:
            for i, line in enumerate(f):
                if i < since:
                    continue
                e = json.loads(line)
                if e["port"] == port and SOURCES.get(e["src"]) == who:
                    out.append(e)
    except FileNotFoundError:
        pass
    return out


def log_mark(d):
    try:
        with open(f"{d}/vtcsrv.jsonl") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


# ---------------------------------------------------------------------------
# Clients: HTTP/1 over a raw socket, and a minimal h2 over TLS.


class H1(Buffered):
    """A client connection that sends raw bytes and reads responses."""

    def __init__(self, addr, port, timeout=5.0):
        self.s = socket.create_connection((addr, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        # A proxy may answer and close before reading everything (an
        # error): what it answered is still to be read.
        try:
            self.s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return self

    def response(self, head=False):
        """The next response (vtest's rxresp): a dict with status, proto,
        headers (lower-case names) and body; None if the connection closed
        or timed out first."""
        try:
            h = self.until(b"\r\n\r\n")
        except (EOFError, OSError):
            return None
        lines = h.split(b"\r\n")
        first = lines[0].decode("latin-1").split(" ", 2)
        r = {"proto": first[0], "status": int(first[1]), "headers": [], "body": b""}
        for l in lines[1:]:
            k, _, v = l.decode("latin-1").partition(":")
            r["headers"].append([k.strip().lower(), v.strip()])
        st = r["status"]
        te = hdr(r, "transfer-encoding")
        cl = hdr(r, "content-length")
        try:
            if head or st < 200 or st in (204, 304):
                pass
            elif te is not None and te.lower().split(",")[-1].strip() == "chunked":
                while True:
                    size = int(self.until(b"\r\n").split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.until(b"\r\n") != b"":
                            pass
                        break
                    r["body"] += self.take(size)
                    self.until(b"\r\n")
            elif cl is not None:
                r["body"] = self.take(int(cl))
            else:
                while True:
                    try:
                        self.fill()
                    except EOFError:
                        break
                r["body"], self.buf = self.buf, b""
        except (EOFError, OSError) as e:
            r["error"] = type(e).__name__
        return r

    def closed(self, wait=2.0):
        """vtest's expect_close: the connection ends with nothing more."""
        if self.buf:
            return False
        self.s.settimeout(wait)
        try:
            return self.s.recv(4096) == b""
        except ConnectionResetError:
            return True
        except OSError:
            return False

    def close(self):
        self.s.close()


def one(addr, port, data, head=False):
    """One request on a new connection: its response."""
    c = H1(addr, port)
    try:
        return c.send(data).response(head)
    finally:
        c.close()


def req(method="GET", url="/", headers=(), body=None, proto="HTTP/1.1", length=True):
    """A request as vtest's txreq writes it: no Host unless given, a
    Content-Length only with a body (unless length=False)."""
    out = f"{method} {url} {proto}\r\n".encode()
    for h in headers:
        out += h.encode() + b"\r\n"
    if body is not None and length:
        out += b"Content-Length: %d\r\n" % len(body)
    return out + b"\r\n" + (body or b"")


# h2: frame types and a request encoder (HPACK literals without indexing or
# Huffman); of the answers only :status is decoded (static-table index, or
# a literal whose value may be Huffman-coded digits).
DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINUP, CONT = 0, 1, 3, 4, 6, 7, 8, 9
STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}
# RFC 7541 Appendix B: the digits' Huffman codes (0-2: 5 bits, 3-9: 6 bits).
HUFF_DIGITS = {(0, 5): "0", (1, 5): "1", (2, 5): "2", **{(0x19 + i, 6): str(3 + i) for i in range(7)}}


def hp_int(value, prefix_bits, first=0):
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first | value])
    out = [first | top]
    value -= top
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    return bytes(out + [value])


def hp_str(s):
    b = s.encode("latin-1")
    return hp_int(len(b), 7) + b


def hp_read_int(b, i, prefix_bits):
    top = (1 << prefix_bits) - 1
    v = b[i] & top
    i += 1
    if v < top:
        return v, i
    m = 0
    while True:
        v += (b[i] & 127) << m
        m += 7
        i += 1
        if b[i - 1] < 128:
            return v, i


def huff_digits(data):
    bits = "".join(f"{x:08b}" for x in data)
    out, pos = "", 0
    while pos + 5 <= len(bits):
        if (int(bits[pos : pos + 5], 2), 5) in HUFF_DIGITS:
            out += HUFF_DIGITS[(int(bits[pos : pos + 5], 2), 5)]
            pos += 5
        elif pos + 6 <= len(bits) and (int(bits[pos : pos + 6], 2), 6) in HUFF_DIGITS:
            out += HUFF_DIGITS[(int(bits[pos : pos + 6], 2), 6)]
            pos += 6
        else:
            break
    return out


def h2_status(block):
    """:status from a response header block (its first field)."""
    i = 0
    while i < len(block) and block[i] & 0xE0 == 0x20:  # table size updates
        _, i = hp_read_int(block, i, 5)
    b = block[i]
    if b & 0x80:
        idx, _ = hp_read_int(block, i, 7)
        return STATIC_STATUS.get(idx)
    idx, i = hp_read_int(block, i, 6 if b & 0x40 else 4)
    if idx != 8:
        return None
    huff = block[i] & 0x80
    n, i = hp_read_int(block, i, 7)
    v = block[i : i + n]
    s = huff_digits(v) if huff else v.decode("latin-1")
    return int(s) if s.isdigit() else None


class H2:
    def __init__(self, addr, port, cafile):
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection((addr, port), timeout=5)
        self.s = ctx.wrap_socket(raw, server_hostname=addr)
        if self.s.selected_alpn_protocol() != "h2":
            raise Fail(f"{addr}:{port} did not select h2")
        self.buf = b""
        self.streams = {}
        self.goaway = None
        self.s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + self.frame(SETTINGS, 0, 0, b""))

    @staticmethod
    def frame(typ, flags, sid, payload):
        return struct.pack(">I", len(payload))[1:] + bytes([typ, flags]) + struct.pack(">I", sid) + payload

    def request(self, sid, headers, body=None, end=True):
        """HEADERS (+ DATA); with end=False the stream stays open."""
        block = b"".join(b"\x00" + hp_str(n) + hp_str(v) for n, v in headers)
        flags = 0x4 | (0x1 if body is None and end else 0)
        self.s.sendall(self.frame(HEADERS, flags, sid, block))
        self.streams[sid] = {"status": None, "body": b"", "rst": None, "end": False}
        if body is not None:
            self.data(sid, body, end)

    def data(self, sid, body, end=True):
        self.s.sendall(self.frame(DATA, 0x1 if end else 0, sid, body))

    def wait(self, sid, timeout=4.0):
        """Read frames until stream sid ends (END_STREAM, RST_STREAM, GOAWAY
        or the connection closing); its dict."""
        st = self.streams[sid]
        t0 = time.monotonic()
        self.s.settimeout(0.5)
        while not st["end"] and time.monotonic() - t0 < timeout:
            while len(self.buf) >= 9 and len(self.buf) >= 9 + int.from_bytes(self.buf[:3], "big"):
                n = int.from_bytes(self.buf[:3], "big")
                typ, flags = self.buf[3], self.buf[4]
                fsid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                payload, self.buf = self.buf[9 : 9 + n], self.buf[9 + n :]
                self.on_frame(typ, flags, fsid, payload)
            if st["end"]:
                break
            try:
                b = self.s.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except OSError:
                b = b""
            if not b:
                for s in self.streams.values():
                    s["end"] = True
                    s.setdefault("closed", True)
                break
            self.buf += b
        return st

    def on_frame(self, typ, flags, sid, payload):
        st = self.streams.get(sid)
        if typ in (HEADERS, DATA) and flags & 0x8:  # PADDED
            payload = payload[1 : len(payload) - payload[0]]
        if typ == SETTINGS and not flags & 0x1:
            self.s.sendall(self.frame(SETTINGS, 0x1, 0, b""))
        elif typ == PING and not flags & 0x1:
            self.s.sendall(self.frame(PING, 0x1, 0, payload))
        elif typ == HEADERS and st is not None:
            if flags & 0x20:  # PRIORITY
                payload = payload[5:]
            if st["status"] is None:
                st["status"] = h2_status(payload)
            if flags & 0x1:
                st["end"] = True
        elif typ == DATA and st is not None:
            st["body"] += payload
            if payload:
                inc = struct.pack(">I", len(payload))
                self.s.sendall(self.frame(WINUP, 0, 0, inc) + self.frame(WINUP, 0, sid, inc))
            if flags & 0x1:
                st["end"] = True
        elif typ == RST and st is not None:
            st["rst"] = int.from_bytes(payload[:4], "big")
            st["end"] = True
        elif typ == GOAWAY:
            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            self.goaway = int.from_bytes(payload[4:8], "big")
            for k, s in self.streams.items():
                if k > last:
                    s["end"] = True
                    s["goaway"] = True

    def close(self):
        self.s.close()


def h2_one(addr, port, d, headers, body=None):
    c = H2(addr, port, f"{d}/site.pem")
    try:
        c.request(1, headers, body)
        return c.wait(1)
    finally:
        c.close()


def h2_outcome(st):
    """A stream's end as a word: the status, or RST(code), or closed."""
    if st["status"] is not None:
        return st["status"]
    if st["rst"] is not None:
        return f"RST({st['rst']})"
    if st.get("goaway"):
        return "GOAWAY"
    return "closed" if st.get("closed") else "nothing"


# ---------------------------------------------------------------------------
# The status pages and the admin channels.


def get(addr, port, path):
    r = one(addr, port, req("GET", path, ["Host: lab"]))
    return r["body"].decode() if r else ""


def csv_servers(addr):
    """{(backend, server): (status, check_status)} from the CSV page."""
    lines = get(addr, 9300, "/st;csv").splitlines()
    cols = lines[0].lstrip("# ").split(",")
    st, ck = cols.index("status"), cols.index("check_status")
    out = {}
    for l in lines[1:]:
        f = l.split(",")
        if len(f) > ck and f[1] not in ("FRONTEND", "BACKEND"):
            out[(f[0], f[1])] = (f[st], f[ck].lstrip("* "))
    return out


def wait_states(t, want, limit):
    """Until every target shows want[(be, sv)] == (status, check_status)
    (None: any); the seconds each took, or raises with what was seen."""
    t0 = time.monotonic()
    done, seen = {}, {}
    while len(done) < len(t) and time.monotonic() - t0 < limit:
        for who, addr in t.items():
            if who in done:
                continue
            cur = csv_servers(addr)
            seen[who] = {k: cur.get(k) for k in want}
            if all(
                cur.get(k) is not None and all(w is None or w == g for w, g in zip(v, cur[k]))
                for k, v in want.items()
            ):
                done[who] = time.monotonic() - t0
        time.sleep(0.05)
    return done, seen


def admin(d, who, action, be, sv):
    if who == "haproxy":
        s = socket.socket(socket.AF_UNIX)
        s.connect(f"{d}/haproxy.sock")
        s.sendall(f"{action} server {be}/{sv}\n".encode())
        s.recv(4096)
        s.close()
    else:
        xlbctl = os.path.join(os.environ.get("XLB_BIN", "target/release"), "xlbctl")
        subprocess.run([xlbctl, "--socket", f"{d}/xlbd.sock", action, be, sv], check=True, capture_output=True)


def xlb_check_text(d, be, sv):
    """xlbd's last check result for a server (`xlbctl show --json`)."""
    xlbctl = os.path.join(os.environ.get("XLB_BIN", "target/release"), "xlbctl")
    out = subprocess.run([xlbctl, "--socket", f"{d}/xlbd.sock", "show", "--json"], capture_output=True, text=True).stdout
    s = json.loads(out)
    for b in s.get("proxy", {}).get("backends", []):
        if b["name"] == be:
            for x in b["servers"]:
                if x["name"] == sv:
                    return x["check"]
    return ""


# ---------------------------------------------------------------------------
# Scenarios: one per VTC. `R.want(who, case, got, want)` asserts one
# expectation; an xlb difference listed in KNOWN is reported as an expected
# difference (skipped) instead of a failure.


class Fail(Exception):
    pass


# (scenario, case) -> the behaviour difference, for xlb only: measured in
# the lab against Debian's haproxy 2.6.12, each naming where xlb would
# change (parts of xlb these tests may not fix). A case listed here that
# passes is reported ("note"), to be removed.
H2_CONNECT = (
    "h2 extended CONNECT (RFC 8441): xlb's h2 server does not announce SETTINGS_ENABLE_CONNECT_PROTOCOL "
    "and resets the stream (RST_STREAM PROTOCOL_ERROR); HAProxy sends the h1 server 'GET / HTTP/1.1' with "
    "'connection: upgrade' and the :protocol as 'upgrade' (plus a generated sec-websocket-key for websocket), "
    "and turns its 101 into 200 (a bad sec-websocket-accept into 502) [proxy/src/http/h2.rs]"
)
KNOWN = {
    ("protocol_upgrade", "h2 CONNECT :protocol answer"): H2_CONNECT,
    ("protocol_upgrade", "h2 CONNECT :protocol server receives"): H2_CONNECT,
    ("websocket", "c4 h2 websocket to h1 server"): H2_CONNECT,
    ("websocket", "c4 the proxy adds a key"): H2_CONNECT,
    ("websocket", "c5 h2 websocket, invalid accept: 502"): H2_CONNECT,
    ("h2_desync_attacks", "c4 invalid :scheme: 400"): (
        "':scheme: http://localhost/?': HAProxy answers 400, xlb resets the stream "
        "(RST_STREAM PROTOCOL_ERROR, from hyper) [proxy/src/http/h2.rs]"
    ),
    ("h2_desync_attacks", "c5 invalid :method: 400"): (
        "':method: GET?': HAProxy answers 400 on the stream, xlb closes the whole connection "
        "(GOAWAY PROTOCOL_ERROR, from hyper) [proxy/src/http/h2.rs]"
    ),
}


def short(v, n=160):
    r = repr(v)
    return r if len(r) <= n else r[: n - 3] + "..."


class Report:
    def __init__(self, name):
        self.name = name
        self.fails = []
        self.skipped = {}  # message -> cases
        self.fixed = []

    def want(self, who, case, got, want):
        known = KNOWN.get((self.name, case)) if who == "xlb" else None
        if got == want:
            if known:
                self.fixed.append(case)
            return True
        if known:
            self.skipped.setdefault(known, []).append(f"{case} (got {short(got)}, want {short(want)})")
        else:
            self.fails.append(f"{who} {case}: got {got!r}, want {want!r}")
        return False


def balance_rr(R, t, d):
    for who, addr in t.items():
        got = []
        for _ in range(5):
            r = one(addr, 9310, req("GET", "/url1"))
            got.append(r and (r["status"], hdr(r, "server")))
        R.want(who, "5 new connections", got, [(200, s) for s in ("s1", "s2", "s3", "s4", "s1")])
    return "roundrobin over 4 servers: s1 s2 s3 s4 s1"


URI_CASES = [("/url1", "s2"), ("/url1?ignore=arg", "s2"), ("/url2", "s3"), ("/url3", "s4"), ("/url4", "s1")]


def balance_uri(R, t, d):
    for who, addr in t.items():
        for url, srv in URI_CASES:
            r = one(addr, 9311, req("GET", url))
            R.want(who, url, r and (r["status"], hdr(r, "server")), (200, srv))
    return "uri hash (map-based): /url1, /url1?arg -> s2, /url2 -> s3, /url3 -> s4, /url4 -> s1"


def balance_uri_path_only(R, t, d):
    cases = [
        ("http://127.0.0.1/url1", "s2"),
        ("/url1?ignore=arg", "s2"),
        ("http://127.0.0.1/url2", "s3"),
        ("/url3", "s4"),
        ("/url4", "s1"),
    ]
    for who, addr in t.items():
        for url, srv in cases:
            r = one(addr, 9312, req("GET", url))
            R.want(who, url, r and (r["status"], hdr(r, "server")), (200, srv))
        st = h2_one(addr, 9313, d, [(":method", "GET"), (":scheme", "https"), (":path", "/url1")])
        R.want(who, "h2 /url1", (h2_outcome(st), st["body"]), (200, b"s2"))
    return "uri path-only: absolute and origin forms and an h2 request hash the path alone"


JUNK = b"not a request at all\r\n\r\n"
GET_BODY = b"a GET with a body still gets it through"
POST_BODY = b"this one is sent"


def h1_to_h1(R, t, d):
    for who, addr in t.items():
        for method, base, bodies in (
            ("GET", 0, [None, None, GET_BODY, None]),
            ("HEAD", 10, [None, None, GET_BODY, None]),
            ("POST", 20, [None, None, POST_BODY, None]),
        ):
            mark = log_mark(d)
            c = H1(addr, 9320)
            got = []
            for i, body in enumerate(bodies):
                url = f"/test{base + i + 1}.html"
                hs = ["content-length: 0"] if i in (1, 3) else []
                if i == 3:
                    hs.append("connection: close")
                c.send(req(method, url, hs, body) + (JUNK if i == 3 else b""))
                r = c.response(head=method == "HEAD")
                got.append(r and (r["status"], r["body"]))
            closed = c.closed()
            c.close()
            want_body = (lambda k: b"") if method == "HEAD" else (lambda k: f"response {k}".encode())
            R.want(who, f"{method} answers", got, [(200, want_body(k)) for k in (1, 2, 3, 4)])
            R.want(who, f"{method} closes after connection: close", closed, True)
            seen = [(e["method"], e["url"], e["body"]) for e in received(d, 7201, who, mark)]
            R.want(
                who,
                f"{method} server receives",
                seen,
                [(method, f"/test{base + i + 1}.html", (b or b"").decode()) for i, b in enumerate(bodies)],
            )
    return "GET, HEAD, POST with no body, C-L 0, a body, C-L 0 + close + junk: 4 answers, bodies delivered, junk dropped, close"


def http_transfer_encoding(R, t, d):
    smuggled = b"0\r\n\r\nGET /hidden HTTP/1.1\r\n\r\n"
    for who, addr in t.items():
        mark = log_mark(d)
        # c1: Transfer-Encoding and Content-Length: the length goes, the
        # connection closes after the answer, nothing is smuggled.
        c = H1(addr, 9321)
        r = c.send(
            req("POST", "/", ["Transfer-Encoding: chunked", f"Content-Length: {len(smuggled)}"], smuggled, length=False)
        ).response()
        R.want(who, "c1 TE+CL answer", r and (r["status"], hdr(r, "connection")), (200, "close"))
        R.want(who, "c1 closes", c.closed(), True)
        c.close()
        # c2: an HTTP/1.0 chunked request.
        c = H1(addr, 9321)
        r = c.send(b"POST /http10 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").response()
        R.want(who, "c2 HTTP/1.0 chunked", r and r["status"], 200)
        R.want(who, "c2 closes", c.closed(), True)
        c.close()
        seen = [
            (e["url"], hdr(e, "content-length"), hdr(e, "transfer-encoding"), e["body"])
            for e in received(d, 7211, who, mark)
        ]
        R.want(
            who,
            "c1/c2 server receives",
            seen,
            [("/", None, "chunked", ""), ("/http10", None, "chunked", "")],
        )
        # c3: an HTTP/1.0 server's chunked answer; c4: chunked + length.
        for case, url, close in (("c3", "/http10-chunked", True), ("c4", "/te-and-cl", None)):
            c = H1(addr, 9321)
            r = c.send(req("GET", url)).response()
            R.want(
                who,
                f"{case} answer",
                r and (r["status"], hdr(r, "content-length"), hdr(r, "transfer-encoding"), r["body"]),
                (200, None, "chunked", b""),
            )
            if close:
                R.want(who, f"{case} closes", c.closed(), True)
            c.close()
        # c5: TE keeps "trailers" only, without a q-value.
        mark = log_mark(d)
        c = H1(addr, 9321)
        got = []
        for url, te in (("/1", "trailers, gzip"), ("/2", "gzip"), ("/3", "trailers;q=0.5")):
            c.send(req("POST", url, ["Transfer-Encoding: chunked", f"TE: {te}"], b"0\r\n\r\n", length=False))
            r = c.response()
            got.append(r and r["status"])
        c.close()
        R.want(who, "c5 answers", got, [200, 200, 200])
        seen = [(e["url"], hdr(e, "transfer-encoding"), hdr(e, "te")) for e in received(d, 7211, who, mark)]
        R.want(who, "c5 server receives TE", seen, [("/1", "chunked", "trailers"), ("/2", "chunked", None), ("/3", "chunked", None)])
        # c6-c10: refused codings.
        for case, te, status in (
            ("c6", "chunked, chunked", 400),
            ("c7", "chunked, gzip, chunked", 400),
            ("c8", "chunked, gzip", 400),
            ("c9", "gzip", 400),
            ("c10", "gzip, chunked", 422),
        ):
            body = None if case == "c9" else b"0\r\n\r\n"
            r = one(addr, 9321, req("GET", "/", [f"Transfer-Encoding: {te}"], body, length=case == "c9"))
            R.want(who, f"{case} TE {te}", r and r["status"], status)
        # c11: servers answering with those codings: 502.
        for url in ("/r1", "/r2", "/r3", "/r4"):
            r = one(addr, 9322, req("GET", url))
            R.want(who, f"c11 server TE {url}", r and r["status"], 502)
    return "TE+CL (close, no smuggling), HTTP/1.0 chunked, server TE framing, TE: trailers, 400/400/400/400/422, server codings 502"


def http_bodyless_response(R, t, d):
    framing = {}
    for who, addr in t.items():
        c = H1(addr, 9323)
        got = []
        framing[who] = []
        for url in ("/req1", "/req2", "/req3"):
            c.send(req("HEAD", url))
            r = c.response(head=True)
            got.append(r and (r["status"], r["body"]))
            framing[who].append(r and (hdr(r, "content-length"), hdr(r, "transfer-encoding")))
        c.send(req("GET", "/req4"))
        r = c.response()
        got.append(r and (r["status"], r["body"]))
        # Nothing was left over from the HEAD answers.
        leftover = c.buf
        c.close()
        R.want(who, "3 HEAD then GET on one connection", got, [(200, b""), (200, b""), (200, b""), (200, b"last response")])
        R.want(who, "no payload after the answers", leftover, b"")
    # Beyond the VTC, side by side: the HEAD answers' framing headers.
    R.want("xlb", "HEAD answer headers as haproxy's", framing["xlb"], framing["haproxy"])
    return "HEAD answers with C-L 12, C-L 20000, chunked: no body, the connection goes on (partly: no set-method)"


def protocol_upgrade(R, t, d):
    for who, addr in t.items():
        mark = log_mark(d)
        c = H1(addr, 9324)
        r = c.send(req("GET", "/", ["host: 127.0.0.1", "connection: upgrade", "upgrade: custom_protocol"])).response()
        c.close()
        R.want(
            who,
            "h1 upgrade answer",
            r and (r["status"], hdr(r, "connection"), hdr(r, "upgrade")),
            (101, "upgrade", "custom_protocol"),
        )
        seen = [(e["method"], hdr(e, "connection"), hdr(e, "upgrade")) for e in received(d, 7231, who, mark)]
        R.want(who, "h1 server receives", seen, [("GET", "upgrade", "custom_protocol")])
        # h2 extended CONNECT (RFC 8441) to the same h1 server.
        mark = log_mark(d)
        st = h2_one(
            addr,
            9325,
            d,
            [(":method", "CONNECT"), (":scheme", "https"), (":path", "/"), (":authority", "127.0.0.1"), (":protocol", "custom_protocol")],
        )
        R.want(who, "h2 CONNECT :protocol answer", h2_outcome(st), 200)
        seen = [(e["method"], hdr(e, "connection"), hdr(e, "upgrade")) for e in received(d, 7231, who, mark)]
        R.want(who, "h2 CONNECT :protocol server receives", seen, [("GET", "upgrade", "custom_protocol")])
    return "h1 Connection: upgrade to an h1 server: 101 relayed; h2 extended CONNECT becomes an h1 upgrade, 101 becomes 200"


def websocket(R, t, d):
    ws = ["host: 127.0.0.1", "connection: upgrade", "upgrade: websocket"]
    for who, addr in t.items():
        mark = log_mark(d)
        c = H1(addr, 9326)
        r = c.send(req("GET", "/", ws + [f"sec-websocket-key: {WS_KEY}"])).response()
        c.close()
        R.want(
            who,
            "c1 valid handshake",
            r and (r["status"], hdr(r, "connection"), hdr(r, "upgrade"), hdr(r, "sec-websocket-accept")),
            (101, "upgrade", "websocket", ws_accept(WS_KEY)),
        )
        seen = [(e["method"], hdr(e, "connection"), hdr(e, "upgrade"), hdr(e, "sec-websocket-key")) for e in received(d, 7241, who, mark)]
        R.want(who, "c1 server receives", seen, [("GET", "upgrade", "websocket", WS_KEY)])
        mark = log_mark(d)
        r = one(addr, 9326, req("GET", "/", ws))
        R.want(who, "c2 no key: 400", r and r["status"], 400)
        R.want(who, "c2 reaches no server", len(received(d, 7241, who, mark)), 0)
        r = one(addr, 9327, req("GET", "/", ws + [f"sec-websocket-key: {WS_KEY}"]))
        R.want(who, "c3 server 101 without accept: 502", r and r["status"], 502)
        h2ws = [(":method", "CONNECT"), (":scheme", "https"), (":path", "/"), (":authority", "127.0.0.1"), (":protocol", "websocket")]
        mark = log_mark(d)
        st = h2_one(addr, 9328, d, h2ws)
        R.want(who, "c4 h2 websocket to h1 server", h2_outcome(st), 200)
        seen = [bool(hdr(e, "sec-websocket-key")) for e in received(d, 7243, who, mark)]
        R.want(who, "c4 the proxy adds a key", seen, [True])
        st = h2_one(addr, 9329, d, h2ws)
        R.want(who, "c5 h2 websocket, invalid accept: 502", h2_outcome(st), 502)
    return "101 with the key's accept, no key 400, no accept 502; h2 extended CONNECT: key added, 200, bad accept 502"


def log_lines(d, who, needle):
    path = f"{d}/haproxy.log" if who == "haproxy" else f"{d}/xlbd.log"
    with open(path, errors="replace") as f:
        return [l for l in f if needle in l]


def scheme_based_normalize(R, t, d):
    cases = [
        ("http", "hostname:80", "GET http://hostname/ HTTP/2.0", "hostname"),
        ("http", "hostname:8080", "GET http://hostname:8080/ HTTP/2.0", "hostname:8080"),
        ("https", "hostname:443", "GET https://hostname/ HTTP/2.0", "hostname"),
        ("https", "hostname:80", "GET https://hostname:80/ HTTP/2.0", "hostname:80"),
    ]
    for who, addr in t.items():
        mark = log_mark(d)
        before = len(log_lines(d, who, "h2norm"))
        for scheme, authority, _, _ in cases:
            st = h2_one(addr, 9330, d, [(":method", "GET"), (":scheme", scheme), (":path", "/"), (":authority", authority)])
            R.want(who, f"{scheme}://{authority} answer", h2_outcome(st), 200)
        # Logged when each stream ends: wait for the four lines.
        t0 = time.monotonic()
        while len(log_lines(d, who, "h2norm")) < before + len(cases) and time.monotonic() - t0 < 2:
            time.sleep(0.05)
        lines = log_lines(d, who, "h2norm")[before:]
        logged = [l.split('"')[1] if l.count('"') >= 2 else l.strip() for l in lines]
        hosts = [hdr(e, "host") for e in received(d, 7251, who, mark)]
        for i, (scheme, authority, line, host) in enumerate(cases):
            R.want(who, f"{scheme}://{authority} logged", logged[i] if i < len(logged) else None, line)
            R.want(who, f"{scheme}://{authority} host", hosts[i] if i < len(hosts) else None, host)
    return "h2 :authority with the scheme's default port loses it (log's request line, server's Host), other ports stay"


def h2_to_h1(R, t, d):
    for who, addr in t.items():
        for method, base, body in (("GET", 0, GET_BODY), ("POST", 20, GET_BODY)):
            mark = log_mark(d)
            c = H2(addr, 9331, f"{d}/site.pem")
            got = []
            for i in range(4):
                sid = 2 * i + 1
                hs = [(":method", method), (":scheme", "https"), (":path", f"/test{base + i + 1}.html")]
                if i == 0:
                    c.request(sid, hs)
                elif i == 1:
                    c.request(sid, hs + [("content-length", "0")])
                elif i == 2:
                    c.request(sid, hs, body)
                else:
                    # A length of 2 and more data than that: a stream error.
                    c.request(sid, hs + [("content-length", "2")], b"this is sent and ignored")
                st = c.wait(sid)
                got.append((h2_outcome(st), st["body"]) if i < 3 else ("RST" if st["rst"] is not None else h2_outcome(st)))
            c.close()
            R.want(
                who,
                f"{method} streams",
                got,
                [(200, b"response 1"), (200, b"response 2"), (200, b"response 3"), "RST"],
            )
            seen = [(e["method"], e["url"], e["body"]) for e in received(d, 7261, who, mark)][:3]
            R.want(
                who,
                f"{method} server receives",
                seen,
                [(method, f"/test{base + 1}.html", ""), (method, f"/test{base + 2}.html", ""), (method, f"/test{base + 3}.html", body.decode())],
            )
    return "h2 GET and POST: no body, C-L 0, a body (delivered to the h1 server), C-L 2 with more data: RST_STREAM"


def h2_desync_attacks(R, t, d):
    for who, addr in t.items():
        st = h2_one(addr, 9332, d, [(":method", "GET"), (":scheme", "http"), (":path", "/")])
        R.want(who, "c1 valid", h2_outcome(st), 200)
        st = h2_one(addr, 9332, d, [(":method", "GET"), (":scheme", "http"), (":path", "hello-world")])
        R.want(who, "c3 invalid :path: RST_STREAM", "RST" if st["rst"] is not None else h2_outcome(st), "RST")
        st = h2_one(addr, 9332, d, [(":method", "GET"), (":scheme", "http://localhost/?"), (":path", "/")])
        R.want(who, "c4 invalid :scheme: 400", h2_outcome(st), 400)
        st = h2_one(addr, 9332, d, [(":method", "GET?"), (":scheme", "http"), (":path", "/")])
        R.want(who, "c5 invalid :method: 400", h2_outcome(st), 400)
        mark = log_mark(d)
        st = h2_one(
            addr,
            9332,
            d,
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "hostname"), ("host", "other_host")],
        )
        hosts = [hdr(e, "host") for e in received(d, 7271, who, mark)]
        R.want(who, "c6 :authority wins over host", hosts, ["hostname"])
    return "invalid :path RST, invalid :scheme/:method 400, :authority wins over a different host"


def http_splicing(R, t, d):
    big = os.urandom(1048576)
    for who, addr in t.items():
        mark = log_mark(d)
        r = one(addr, 9333, req("POST", "/", [], big))
        R.want(who, "c1 1 MB each way", r and (r["status"], hdr(r, "content-length"), len(r["body"])), (200, "1048576", 1048576))
        seen = [(hdr(e, "content-length"), e["body"].encode("latin-1") == big) for e in received(d, 7281, who, mark)]
        R.want(who, "c1 server receives", seen, [("1048576", True)])
        r = one(addr, 9334, req("GET", "/"))
        R.want(who, "c2 close-delimited 1 MB", r and (r["status"], hdr(r, "content-length"), len(r["body"])), (200, None, 1048576))
    return "1 MB request with C-L, 1 MB answers with C-L and close-delimited (partly: no splice counters)"


def check_requests(d, who, port):
    """The check requests a server got from `who`, first first."""
    return received(d, port, who)


def http_check(R, t, d):
    want = {
        ("chk_be1", "srv"): ("UP", "L7OK"),
        ("chk_be2", "srv"): ("UP", "L7OK"),
        ("chk_be3", "srv"): ("UP", "L7OK"),
    }
    done, seen = wait_states(t, want, 3)
    for who in t:
        R.want(who, "servers up by L7 checks", seen.get(who), want)
        for port, line in ((7501, "OPTIONS / HTTP/1.0"), (7502, "GET /status HTTP/1.1"), (7503, "GET /status HTTP/1.1")):
            reqs = check_requests(d, who, port)
            got = (reqs[0]["method"], reqs[0]["url"], reqs[0]["proto"], reqs[0]["body"]) if reqs else None
            R.want(who, f"be{port - 7500} check request", got, tuple(line.split()) + ("",))
    for port in (7501, 7502, 7503):
        raw = {who: [e["raw"] for e in check_requests(d, who, port)[:1]] for who in t}
        R.want("xlb", f"be{port - 7500} bytes as haproxy's", raw["xlb"], raw["haproxy"])
    return "option httpchk (OPTIONS / HTTP/1.0), with METH URI VER, and http-check send: the request line the server gets, L7OK"


def http_check_send(R, t, d):
    want = {(f"send_be{i}", "srv"): ("UP", "L7OK") for i in range(1, 6)}
    done, seen = wait_states(t, want, 3)
    # What the VTC's servers look at (None: the header must be absent).
    expect = {
        1: dict(line="OPTIONS / HTTP/1.0"),
        2: dict(line="GET /test HTTP/1.1", connection="close"),
        3: dict(line="OPTIONS / HTTP/1.0", hdr=None, host=None),
        4: dict(line="GET /status HTTP/1.1", connection="close", hdr=None, host="my-www-host"),
        5: dict(line="OPTIONS / HTTP/1.0", hdr=None, host="other-www-host"),
    }
    for who in t:
        R.want(who, "servers up", seen.get(who), want)
        for i, w in expect.items():
            reqs = check_requests(d, who, 7520 + i)
            e = reqs[0] if reqs else None
            got = e and {k: (f"{e['method']} {e['url']} {e['proto']}" if k == "line" else hdr(e, k)) for k in w}
            R.want(who, f"be{i} check request", got, w)
    for i in expect:
        raw = {who: [e["raw"] for e in check_requests(d, who, 7520 + i)[:1]] for who in t}
        R.want("xlb", f"be{i} bytes as haproxy's", raw["xlb"], raw["haproxy"])
    return "defaults' and backends' httpchk/http-check send: method, URI, version, Host, connection: close on 1.1"


def http_check_expect(R, t, d):
    want = {("expect_be1", "srv"): ("UP", "L7OK")}
    done, seen = wait_states(t, want, 3)
    for who in t:
        R.want(who, "202 passes status 200-399", seen.get(who), want)
    return "http-check expect status 200-399: a 202 passes (partly: no hdr expectations)"


def four_be_1srv_health_checks(R, t, d):
    names = [(f"be_4be{i}", f"srv{i}") for i in range(1, 5)]
    done, seen = wait_states(t, {k: ("UP", "L4OK") for k in names}, 3)
    for who in t:
        R.want(who, "checks passed", seen.get(who), {k: ("UP", "L4OK") for k in names})
    for who in t:
        for be, sv in names:
            admin(d, who, "disable", be, sv)
    done, seen = wait_states(t, {k: ("MAINT", None) for k in names}, 2)
    for who, addr in t.items():
        R.want(who, "disabled: MAINT", {k: v[0] for k, v in (seen.get(who) or {}).items() if v}, {k: "MAINT" for k in names})
        # No server left: the connection ends with nothing.
        c = H1(addr, 9341)
        c.send(req("GET", "/"))
        R.want(who, "no server available: closed", c.closed(), True)
        c.close()
    for who in t:
        for be, sv in names:
            admin(d, who, "enable", be, sv)
    # downinter is 100 s: back up on leaving maintenance, not at a check.
    done, seen = wait_states(t, {k: ("UP", None) for k in names}, 3)
    for who in t:
        R.want(who, "enabled: UP", {k: v[0] for k, v in (seen.get(who) or {}).items() if v}, {k: "UP" for k in names})
    took = "/".join(f"{done[w]:.1f}s" if w in done else "-" for w in t)
    return f"4 backends' L4 checks pass; disable: MAINT, no server; enable: UP again after {took} (haproxy/xlb; downinter 100s)"


def one_be_40srv_odd_health_checks(R, t, d):
    want = {("be_40srv", f"srv{i}"): ("UP", "L4OK") if i % 2 else ("no check", "") for i in range(40)}
    done, seen = wait_states(t, want, 3)
    for who in t:
        bad = {k: v for k, v in (seen.get(who) or {}).items() if v != want[k]}
        R.want(who, "odd servers checked, even not", bad, {})
        R.want(who, "even servers never connected", sum(len(received(d, 7700 + i, who)) for i in range(0, 40, 2)), 0)
    return "40 servers, odd ones with check: L4OK, even ones no check and never contacted"


def forty_be_2srv_odd_health_checks(R, t, d):
    want = {(f"be_40be{2 * i + 1}", f"srv{2 * i + 1}"): ("UP", "L4OK") for i in range(20)}
    done, seen = wait_states(t, want, 3)
    for who, addr in t.items():
        R.want(who, "checked servers up", seen.get(who), want)
        mark = log_mark(d)
        statuses = []
        for i in range(20):
            r = one(addr, 9400 + i, req("GET", "/"))
            statuses.append(r and r["status"])
        R.want(who, "20 clients", statuses, [200] * 20)
        conns = [len(received(d, 7800 + 2 * i, who, mark)) for i in range(20)]
        R.want(who, "each unchecked server: one connection, the client's", conns, [1] * 20)
    return "20 backends (first): clients reach the unchecked server, checks never take its connection"


def four_be_1srv_smtpchk_httpchk_layer47errors(R, t, d):
    want = {
        ("l47_be2", "srv2"): ("DOWN", "L7TOUT"),
        ("l47_be3", "srv3"): ("DOWN", "L4CON"),
        ("l47_be4", "srv4"): ("DOWN", "L4CON"),
    }
    done, seen = wait_states(t, want, 3)
    for who in t:
        R.want(who, "be2 L7 timeout, be3 unreachable, be4 refused", seen.get(who), want)
        first = check_requests(d, who, 7531)[:1]
        R.want(who, "be2 first check (answered 200)", [(e["method"], e["url"], e["proto"], hdr(e, "host")) for e in first], [("OPTIONS", "/", "HTTP/1.1", "www")])
    R.want("xlb", "be3 reason", "Network is unreachable" in xlb_check_text(d, "l47_be3", "srv3"), True)
    R.want("xlb", "be4 reason", "refused" in xlb_check_text(d, "l47_be4", "srv4"), True)
    return "httpchk in a tcp backend: L7OK then L7TOUT; unreachable and refused: L4CON (partly: no smtpchk)"


# Named after the VTC each ports (Python names cannot start with a digit).
SCENARIOS = [
    ("balance-rr", balance_rr),
    ("balance-uri", balance_uri),
    ("balance-uri-path-only", balance_uri_path_only),
    ("h1_to_h1", h1_to_h1),
    ("http_transfer_encoding", http_transfer_encoding),
    ("http_bodyless_response", http_bodyless_response),
    ("protocol_upgrade", protocol_upgrade),
    ("websocket", websocket),
    ("scheme_based_normalize", scheme_based_normalize),
    ("h2_to_h1", h2_to_h1),
    ("h2_desync_attacks", h2_desync_attacks),
    ("http_splicing", http_splicing),
    ("http-check", http_check),
    ("http-check-send", http_check_send),
    ("http-check-expect", http_check_expect),
    ("4be_1srv_health_checks", four_be_1srv_health_checks),
    ("1be_40srv_odd_health_checks", one_be_40srv_odd_health_checks),
    ("40be_2srv_odd_health_checks", forty_be_2srv_odd_health_checks),
    ("4be_1srv_smtpchk_httpchk_layer47errors", four_be_1srv_smtpchk_httpchk_layer47errors),
]


def run(d, haproxy, xlb):
    t = {"haproxy": haproxy, "xlb": xlb}
    only = os.environ.get("ONLY")
    n_ok = n_diff = n_skip = 0
    for name, fn in SCENARIOS:
        if only and only not in name:
            continue
        R = Report(name)
        try:
            summary = fn(R, t, d)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            R.fails.append(f"{type(e).__name__}: {e}")
            summary = ""
        for msg, cases in R.skipped.items():
            n_skip += len(cases)
            print(f"SKIP {name}: expected difference: {msg}", flush=True)
            for c in cases:
                print(f"       {c}", flush=True)
        for f in R.fixed:
            print(f"note {name}: {f}: xlb now does as HAProxy (remove it from KNOWN)", flush=True)
        if R.fails:
            n_diff += 1
            print(f"DIFF {name}: " + "; ".join(R.fails), flush=True)
        else:
            n_ok += 1
            k = sum(len(c) for c in R.skipped.values())
            extra = f" [xlb: {k} expected difference{'s' * (k > 1)}, SKIP above]" if k else ""
            print(f"ok   {name}: {summary}{extra}", flush=True)
    print(f"regtests: {n_ok} ok, {n_diff} different, {n_skip} expected differences skipped")
    return 1 if n_diff else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "cfg":
        sys.stdout.write(cfg(sys.argv[2], sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "server":
        serve(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "run":
        sys.exit(run(*sys.argv[2:]))
    else:
        sys.exit(__doc__)
