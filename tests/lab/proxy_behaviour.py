#!/usr/bin/env python3
"""Side by side with HAProxy, beyond balancing: checks and backups, queues,
cookies, retries and redispatch, bodies, keep-alive and pipelining,
websockets, TLS with h2, hostile input, slow clients and dying servers.

  proxy_behaviour.py cfg DIR    print the haproxy.cfg (DIR: the lab folder
                                with site.pem and the health listeners' pids)
  proxy_behaviour.py run DIR PREFIX HAPROXY XLB
                                run every scenario against both, print one
                                line per scenario and exit 1 on a difference

Runs in the lab's client namespace. The real servers are the lab's
rs-server.py; health listeners (TCP 7001 on rs1, 7002 on rs2) and a
recorder (TCP 7100 on rs3, one line per connection in DIR/recorder.log) are
started by the shell test, their pids in DIR/health-rsN.pid."""
import hashlib
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

CHECK = "check port {port} inter 500 rise 2 fall 3"


def cfg(d):
    return f"""global
  maxconn 1000
  nbthread 1

defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  timeout http-request 2s
  timeout queue 1s
  retries 2

listen stats
  bind *:9300
  stats enable
  stats uri /st

listen backup
  bind *:9301
  balance roundrobin
  server rs1 10.200.2.11:8080 {CHECK.format(port=7001)}
  server rs2 10.200.2.12:8080 {CHECK.format(port=7002)}
  server rs3 10.200.2.13:8080 backup

listen queue
  bind *:9302
  server rs1 10.200.2.11:8080 maxconn 1

listen cookie
  bind *:9303
  balance roundrobin
  cookie SRV insert indirect nocache
  server rs1 10.200.2.11:8080 cookie s1
  server rs2 10.200.2.12:8080 cookie s2

listen redisp
  bind *:9304
  balance roundrobin
  option redispatch
  server bad 10.200.2.11:8089
  server rs2 10.200.2.12:8080

listen noredisp
  bind *:9305
  balance roundrobin
  server bad 10.200.2.11:8089
  server rs2 10.200.2.12:8080

listen plain
  bind *:9306
  server rs1 10.200.2.11:8080

listen record
  bind *:9307
  server rec 10.200.2.13:7100

listen tls
  bind *:9443 ssl crt {d}/site.pem alpn h2,http/1.1
  server rs1 10.200.2.11:8080
"""


class Fail(Exception):
    pass


def get(addr, port, path="/", headers=None, timeout=5):
    c = http.client.HTTPConnection(addr, port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


def names(addr, port, n, headers=None):
    out = []
    for _ in range(n):
        try:
            st, _, body = get(addr, port, headers=headers)
            out.append(body.decode().strip() if st == 200 else f"<{st}>")
        except Exception as e:  # noqa: BLE001
            out.append(f"<{type(e).__name__}>")
    return out


def csv_status(addr, pxname, svname):
    _, _, body = get(addr, 9300, "/st;csv")
    lines = body.decode().splitlines()
    cols = lines[0].lstrip("# ").split(",")
    for l in lines[1:]:
        f = l.split(",")
        if f[0] == pxname and f[1] == svname:
            return f[cols.index("status")]
    raise Fail(f"{pxname}/{svname} not in {addr}'s stats")


def wait_status(targets, pxname, svname, want, limit=10.0):
    """Seconds until each target shows `want` for the server."""
    t0 = time.monotonic()
    seen = {}
    while len(seen) < len(targets) and time.monotonic() - t0 < limit:
        for label, addr in targets.items():
            if label not in seen and csv_status(addr, pxname, svname).startswith(want):
                seen[label] = time.monotonic() - t0
        time.sleep(0.02)
    if len(seen) < len(targets):
        raise Fail(f"{pxname}/{svname} not {want} within {limit}s: {seen}")
    return seen


def detached(argv):
    # Not on our stdout: the shell reads the pids through a pipe and would
    # wait for every listener to close it.
    n = subprocess.DEVNULL
    return subprocess.Popen(argv, stdin=n, stdout=n, stderr=n, start_new_session=True)


def health(d, prefix, rs, port):
    """(Re)start a health listener; returns its pid (recorded in DIR)."""
    code = (
        "import socket\n"
        "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('0.0.0.0',{port})); s.listen(64)\n"
        "while True:\n  c,_=s.accept(); c.close()\n"
    )
    p = detached(["ip", "netns", "exec", f"{prefix}-{rs}", "python3", "-c", code])
    with open(f"{d}/health-{rs}.pid", "w") as f:
        f.write(str(p.pid))
    time.sleep(0.3)
    return p.pid


RECORDER = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0',7100)); s.listen(64)\n"
    "while True:\n"
    "  c,a=s.accept(); open(sys.argv[1],'a').write(str(a)+'\\n')\n"
    "  c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: 4\\r\\n\\r\\nrec\\n'); c.close()\n"
)


def start_helpers(d, prefix):
    """The health listeners and the recorder; their pids, one per line."""
    pids = [health(d, prefix, "rs1", 7001), health(d, prefix, "rs2", 7002)]
    p = detached(["ip", "netns", "exec", f"{prefix}-rs3", "python3", "-c", RECORDER, f"{d}/recorder.log"])
    pids.append(p.pid)
    return pids


def stop_health(d, rs):
    with open(f"{d}/health-{rs}.pid") as f:
        pid = int(f.read())
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.05)


def scenario_checks_and_backup(t, d, prefix):
    a = {k: names(v, 9301, 6) for k, v in t.items()}
    if a["haproxy"] != a["xlb"] or set(a["xlb"]) != {"rs1", "rs2"}:
        raise Fail(f"both up: {a}")
    stop_health(d, "rs1")
    down1 = wait_status(t, "backup", "rs1", "DOWN")
    stop_health(d, "rs2")
    down2 = wait_status(t, "backup", "rs2", "DOWN")
    b = {k: names(v, 9301, 4) for k, v in t.items()}
    if b["haproxy"] != b["xlb"] or set(b["xlb"]) != {"rs3"}:
        raise Fail(f"backup only when all are down: {b}")
    health(d, prefix, "rs1", 7001)
    up1 = wait_status(t, "backup", "rs1", "UP")
    c = {k: names(v, 9301, 4) for k, v in t.items()}
    if c["haproxy"] != c["xlb"] or set(c["xlb"]) != {"rs1"}:
        raise Fail(f"back from backup: {c}")
    health(d, prefix, "rs2", 7002)
    wait_status(t, "backup", "rs2", "UP")
    # HAProxy moves a server after fall (3) or rise (2) checks 500 ms apart,
    # the first of them up to 500 ms after the change (the clock starts
    # 0.3 s after a listener's start): xlb within one check interval of it,
    # both within the expected window.
    for what, seen, lo, hi in (("down", down1, 0.8, 2.6), ("down", down2, 0.8, 2.6), ("up", up1, 0.1, 1.9)):
        if abs(seen["haproxy"] - seen["xlb"]) > 0.6 or not all(lo <= v <= hi for v in seen.values()):
            raise Fail(f"{what} times differ: {seen}")
    return f"down after {down1['haproxy']:.2f}s/{down1['xlb']:.2f}s, up after {up1['haproxy']:.2f}s/{up1['xlb']:.2f}s (haproxy/xlb)"


def scenario_queue_timeout(t, d, prefix):
    out = {}
    for k, addr in t.items():
        hang = threading.Thread(target=lambda: names_safe(addr, 9302, "/hang"), daemon=True)
        hang.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        st, _, _ = get(addr, 9302)
        out[k] = (st, time.monotonic() - t0)
    if out["haproxy"][0] != 503 or out["xlb"][0] != 503:
        raise Fail(f"maxconn 1 + timeout queue 1s should be 503: {out}")
    if not all(0.8 <= v[1] <= 2.0 for v in out.values()):
        raise Fail(f"503 after the queue timeout: {out}")
    return f"503 after {out['haproxy'][1]:.2f}s/{out['xlb'][1]:.2f}s"


def names_safe(addr, port, path):
    try:
        get(addr, port, path, timeout=4)
    except Exception:  # noqa: BLE001 - it is meant to hang
        pass


def scenario_cookies(t, d, prefix):
    res = {}
    for k, addr in t.items():
        st, h, body = get(addr, 9303)
        h = {n.lower(): v for n, v in h}
        first = (st, h.get("set-cookie"), h.get("cache-control"), body.decode().strip())
        sticky = names(addr, 9303, 5, {"Cookie": "SRV=s2"})
        unknown = names(addr, 9303, 4, {"Cookie": "SRV=zz"})
        _, _, seen = get(addr, 9303, "/headers", {"Cookie": "SRV=s1; other=1"})
        cookie_seen = [l for l in seen.decode().splitlines() if l.startswith("cookie:")]
        res[k] = (first, sticky, unknown, cookie_seen)
    if res["haproxy"] != res["xlb"]:
        raise Fail(f"cookies differ:\n  haproxy {res['haproxy']}\n  xlb     {res['xlb']}")
    first, sticky, _, seen = res["xlb"]
    if set(sticky) != {"rs2"} or not first[1] or seen != ["cookie: other=1"]:
        raise Fail(f"cookie persistence: {res['xlb']}")
    return f"set-cookie {first[1]!r}, indirect strips it"


def scenario_retries(t, d, prefix):
    res = {}
    for k, addr in t.items():
        res[k] = (names(addr, 9304, 6), names(addr, 9305, 4))
    if res["haproxy"] != res["xlb"]:
        raise Fail(f"retries differ:\n  haproxy {res['haproxy']}\n  xlb     {res['xlb']}")
    redisp, plain = res["xlb"]
    if set(redisp) != {"rs2"} or "<503>" not in plain:
        raise Fail(f"redispatch should save every request, none without: {res['xlb']}")
    return f"with redispatch {set(redisp)}, without {plain}"


def sha(b):
    return hashlib.sha256(b).hexdigest()


def scenario_bodies(t, d, prefix):
    big = os.urandom(5_000_000)
    res = {}
    for k, addr in t.items():
        st, _, body = get(addr, 9306, "/bytes/10000000", timeout=20)
        down = (st, len(body), sha(body))
        c = http.client.HTTPConnection(addr, 9306, timeout=20)
        c.request("POST", "/up", body=big, headers={"Content-Type": "application/octet-stream"})
        up_cl = c.getresponse().read().decode().split()[1:]
        c.close()
        c = http.client.HTTPConnection(addr, 9306, timeout=20)
        chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
        c.request("POST", "/up", body=chunks, encode_chunked=True)
        up_chunked = c.getresponse().read().decode().split()[1:]
        c.close()
        # A chunked answer and one delimited by the close: framed for the
        # client (http.client decodes the chunks) and whole.
        framed = []
        for path in ("/chunked/1000000", "/until-close/1000000"):
            c = http.client.HTTPConnection(addr, 9306, timeout=20)
            c.request("GET", path)
            r = c.getresponse()
            framed.append((r.getheader("transfer-encoding"), len(r.read())))
            c.close()
        res[k] = (down, up_cl, up_chunked, framed)
    want = (
        (200, 10_000_000, sha(b"x" * 10_000_000)),
        [str(len(big)), sha(big)],
        [str(len(big)), sha(big)],
        [("chunked", 1_000_000), (None, 1_000_000)],
    )
    for k in res:
        if res[k] != want:
            raise Fail(f"{k}: bodies not byte-exact: {res[k]}")
    return "10 MB down, 5 MB up (length and chunked), chunked and close-delimited answers, byte-exact"


# A status line (the version is the server's, as HAProxy passes it on).
STATUS = re.compile(rb"HTTP/1\.[01] \d{3} ")
STATUS_200 = re.compile(rb"HTTP/1\.[01] 200 ")


def raw(addr, port, data, wait=3.0, tls=None):
    s = socket.create_connection((addr, port), timeout=wait)
    s.sendall(data)
    out = b""
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < wait:
            b = s.recv(65536)
            if not b:
                return out, True
            out += b
    except socket.timeout:
        pass
    finally:
        s.close()
    return out, False


def scenario_pipelining(t, d, prefix):
    req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    res = {}
    for k, addr in t.items():
        s = socket.create_connection((addr, 9306), timeout=5)
        s.sendall(req * 3)
        got = b""
        while got.count(b"rs1\n") < 3:
            b = s.recv(65536)
            if not b:
                break
            got += b
        # Still open: a fourth request on the same connection.
        s.sendall(req)
        more = s.recv(65536)
        s.close()
        res[k] = (len(STATUS_200.findall(got)), got.count(b"rs1\n"), bool(STATUS_200.match(more)))
    if res["haproxy"] != res["xlb"] or res["xlb"] != (3, 3, True):
        raise Fail(f"pipelined keep-alive: {res}")
    return "3 pipelined + 1 more on one connection"


def scenario_websocket(t, d, prefix):
    req = (
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    res = {}
    for k, addr in t.items():
        s = socket.create_connection((addr, 9306), timeout=5)
        s.sendall(req)
        got = b""
        while b"rs1\n" not in got:
            b = s.recv(4096)
            if not b:
                break
            got += b
        s.sendall(b"ping through the tunnel")
        echo = b""
        while len(echo) < 23:
            b = s.recv(4096)
            if not b:
                break
            echo += b
        s.close()
        status = got.split(b"\r\n", 1)[0]
        accept = [l for l in got.split(b"\r\n") if l.lower().startswith(b"sec-websocket-accept")]
        res[k] = (status, accept, echo)
    if res["haproxy"][0] != res["xlb"][0] or res["xlb"][2] != b"ping through the tunnel":
        raise Fail(f"websocket: {res}")
    if [a.lower() for a in res["haproxy"][1]] != [a.lower() for a in res["xlb"][1]]:
        raise Fail(f"websocket accept differs: {res}")
    return f"{res['xlb'][0].decode()}, echo through the tunnel"


def scenario_tls(t, d, prefix):
    res = {}
    for k, addr in t.items():
        ctx = ssl.create_default_context(cafile=f"{d}/site.pem")
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection((addr, 9443), timeout=5) as s, ctx.wrap_socket(s, server_hostname=addr) as tls:
            alpn = tls.selected_alpn_protocol()
        h1 = subprocess.run(
            ["curl", "-s", "--http1.1", "--cacert", f"{d}/site.pem", f"https://{addr}:9443/"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        h2 = subprocess.run(
            ["curl", "-s", "--http2", "-w", " %{http_version}", "--cacert", f"{d}/site.pem", f"https://{addr}:9443/"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        res[k] = (alpn, h1, h2)
    if res["haproxy"] != res["xlb"] or res["xlb"] != ("h2", "rs1", "rs1\n 2"):
        raise Fail(f"tls: {res}")
    return "TLS, ALPN h2, curl --http1.1 and --http2 with --cacert"


BAD = [
    ("bad request line", b"GET\r\n\r\n"),
    ("bad method", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("bad version", b"GET / HTTP/x.1\r\nHost: a\r\n\r\n"),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
    ("oversized headers", b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"y" * 20000 + b"\r\n\r\n"),
    ("two content-lengths", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
    ("bad content-length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\na"),
    ("invalid chunk size", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
    ("te not chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
    ("unknown coding then chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n"),
    ("http/1.0 get with body", b"GET / HTTP/1.0\r\nContent-Length: 2\r\n\r\nab"),
    ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("host vs authority", b"GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n"),
]


def scenario_hostile_input(t, d, prefix):
    before = recorded(d)
    res = {}
    for k, addr in t.items():
        res[k] = [(name, raw(addr, 9307, data, wait=2.0)) for name, data in BAD]
    lines = []
    for (name, (h, hc)), (_, (x, xc)) in zip(res["haproxy"], res["xlb"]):
        same = h == x and hc == xc
        first_line = x.split(b"\r\n", 1)[0].decode(errors="replace")
        lines.append(f"{name}: {first_line}")
        if not same:
            raise Fail(f"{name}: haproxy {h[:120]!r} closed={hc}, xlb {x[:120]!r} closed={xc}")
    reached = recorded(d) - before
    if reached:
        raise Fail(f"{reached} bad requests reached the server")
    # CL + TE together: not an error in HAProxy (the length goes, the
    # connection closes after the request), and no smuggled request.
    smuggle = (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    cl_te = {k: raw(addr, 9306, smuggle, wait=3.0) for k, addr in t.items()}
    for k, (out, closed) in cl_te.items():
        if len(STATUS.findall(out)) != 1 or not closed:
            raise Fail(f"{k}: CL+TE should give one response and close: {out!r} closed={closed}")
    if cl_te["haproxy"][0].split(b"\r\n", 1)[0] != cl_te["xlb"][0].split(b"\r\n", 1)[0]:
        raise Fail(f"CL+TE status differs: {cl_te}")
    return f"{len(BAD)} byte-exact answers, none reached the server; CL+TE: one response, then close"


def recorded(d):
    try:
        with open(f"{d}/recorder.log") as f:
            return len(f.readlines())
    except FileNotFoundError:
        return 0


def scenario_slow_client(t, d, prefix):
    res = {}
    for k, addr in t.items():
        s = socket.create_connection((addr, 9306), timeout=6)
        t0 = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
        out = b""
        try:
            while time.monotonic() - t0 < 5:
                try:
                    s.sendall(b"X")
                except OSError:
                    break
                s.settimeout(0.7)
                try:
                    b = s.recv(4096)
                    if not b:
                        break
                    out += b
                except socket.timeout:
                    pass
        finally:
            s.close()
        res[k] = (out.split(b"\r\n", 1)[0], round(time.monotonic() - t0, 1))
    h, x = res["haproxy"], res["xlb"]
    if h[0] != x[0] or not x[0].startswith(b"HTTP/1.1 408") or abs(h[1] - x[1]) > 1.0:
        raise Fail(f"dribbled headers: {res}")
    return f"408 after {h[1]}s/{x[1]}s"


def scenario_dying_server(t, d, prefix):
    res = {}
    for k, addr in t.items():
        out, closed = raw(addr, 9306, b"GET /die/1000 HTTP/1.1\r\nHost: a\r\n\r\n", wait=4.0)
        head, _, body = out.partition(b"\r\n\r\n")
        res[k] = (head.split(b"\r\n", 1)[0], len(body), closed)
    if res["haproxy"] != res["xlb"]:
        raise Fail(f"server dying mid-response: {res}")
    return f"{res['xlb'][0].decode()}, {res['xlb'][1]} of 1000 bytes, then closed"


def scenario_http10(t, d, prefix):
    """An HTTP/1.0 client, without and with keep-alive: what the server
    gets (request line, Connection) and what the client gets back."""
    res = {}
    for k, addr in t.items():
        rows = []
        for extra in (b"", b"Connection: keep-alive\r\n"):
            # Within 1 s: the keep-alive timeout (2 s) must not count as a close.
            out, closed = raw(addr, 9306, b"GET /headers HTTP/1.0\r\nHost: a\r\n" + extra + b"\r\n", wait=1.0)
            head, _, body = out.partition(b"\r\n\r\n")
            seen = [l for l in body.decode(errors="replace").splitlines() if l.startswith(("request-line:", "connection:"))]
            conn = [l.lower() for l in head.split(b"\r\n") if l.lower().startswith(b"connection:")]
            rows.append((head.split(b"\r\n", 1)[0], conn, closed, seen))
        res[k] = rows
    if res["haproxy"] != res["xlb"]:
        raise Fail(f"HTTP/1.0:\n  haproxy {res['haproxy']}\n  xlb     {res['xlb']}")
    return f"server sees {res['xlb'][0][3]}; keep-alive asked: {res['xlb'][1][1]}, closed={res['xlb'][1][2]}"


SCENARIOS = [
    scenario_checks_and_backup,
    scenario_queue_timeout,
    scenario_cookies,
    scenario_retries,
    scenario_bodies,
    scenario_pipelining,
    scenario_websocket,
    scenario_tls,
    scenario_hostile_input,
    scenario_slow_client,
    scenario_dying_server,
    scenario_http10,
]


def run(d, prefix, haproxy, xlb):
    t = {"haproxy": haproxy, "xlb": xlb}
    bad = 0
    only = os.environ.get("ONLY")
    for s in SCENARIOS:
        name = s.__name__.removeprefix("scenario_")
        if only and only not in name:
            continue
        try:
            print(f"ok   {name}: {s(t, d, prefix)}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            bad += 1
            print(f"DIFF {name}: {type(e).__name__}: {e}", flush=True)
    print(f"behaviour: {bad} different")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "cfg":
        sys.stdout.write(cfg(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "helpers":
        print("\n".join(str(p) for p in start_helpers(sys.argv[2], sys.argv[3])))
    elif len(sys.argv) == 6 and sys.argv[1] == "run":
        sys.exit(run(*sys.argv[2:]))
    else:
        sys.exit(__doc__)
