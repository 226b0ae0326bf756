#!/usr/bin/env python3
"""A lab real server: HTTP on the given TCP ports (paths: / answers the
name, /bytes/N N bytes, /status/N an empty response with status N, /hang
never answers, /die/N promises N bytes and closes after 10, /headers echoes
the request's headers; POST answers "NAME LENGTH SHA256" of the body, sent
with Content-Length or chunked; a websocket upgrade (GET with `Upgrade:
websocket`) is answered 101 and then echoes raw bytes), a UDP echo on the given
UDP ports and a line echo on TCP 9000 (for long-lived connections), each
answering with this server's name so clients can count the split. Runs until
killed (the lab kills it by PID)."""
import base64
import hashlib
import http.server
import socket
import struct
import socketserver
import sys
import threading

name = sys.argv[1]
tcp_ports = [int(p) for p in sys.argv[2].split(",") if p]
udp_ports = [int(p) for p in sys.argv[3].split(",") if p]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        if self.path.startswith("/hang"):
            # A hung server: accepted, never answered (health-check tests).
            import time
            time.sleep(60)
            return
        if self.path.startswith("/status/"):
            self.send_response(int(self.path.split("/")[2]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("Upgrade", "").lower() == "websocket":
            # RFC 6455's handshake, then a raw echo (enough for a tunnel test).
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            self.wfile.write((name + "\n").encode())
            self.wfile.flush()
            while True:
                data = self.connection.recv(65536)
                if not data:
                    return
                self.connection.sendall(data)
        if self.path.startswith("/die/"):
            self.send_response(200)
            self.send_header("Content-Length", self.path.split("/")[2])
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.path.startswith("/chunked/"):
            # An HTTP/1.1 chunked answer (a proxy must frame it for the client).
            n = int(self.path.split("/")[2])
            self.protocol_version = "HTTP/1.1"
            self.close_connection = True
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(0, n, 4096):
                part = b"c" * min(4096, n - i)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path.startswith("/until-close/"):
            # No length at all: the body ends when the connection does.
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"u" * int(self.path.split("/")[2]))
            return
        if self.path.startswith("/bytes/"):
            body = b"x" * int(self.path.split("/")[2])
        elif self.path.startswith("/headers"):
            # The request line as received, then the headers.
            body = (f"request-line: {self.requestline}\n"
                    + "".join(f"{k.lower()}: {v}\n" for k, v in self.headers.items())).encode()
        else:
            body = (name + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = f"{name} {len(data)} {hashlib.sha256(data).hexdigest()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


class Server6(Server):
    """The same on IPv6 alone (IPv4 clients keep their plain addresses on
    the IPv4 socket, as tests that read them expect)."""
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


# Linux's IP_PKTINFO (Python names only the IPv6 one).
IP_PKTINFO = 8


def udp_echo(port, v6=False):
    # Answers from the address the datagram was sent to, as a DNS server
    # does: in DR and TUN that is the VIP on loopback, not the address the
    # route to the client would pick.
    if v6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        s.bind(("::", port))
        level, kind, size = socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, 20
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind(("0.0.0.0", port))
        level, kind, size = socket.IPPROTO_IP, IP_PKTINFO, 12
    while True:
        data, anc, _, peer = s.recvmsg(2048, socket.CMSG_SPACE(size))
        info = next((d for lvl, typ, d in anc if lvl == level and typ == kind), None)
        reply = name.encode() + b" " + data
        if info is None:
            s.sendto(reply, peer)
        elif v6:
            # in6_pktinfo: the address it came to, any interface.
            s.sendmsg([reply], [(level, kind, info[:16] + bytes(4))], 0, peer)
        else:
            info = struct.pack("=I4s4s", 0, info[8:12], bytes(4))
            s.sendmsg([reply], [(level, kind, info)], 0, peer)


class LineEcho(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(name.encode() + b" " + line)


class EchoServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


echo = EchoServer(("0.0.0.0", 9000), LineEcho)
threading.Thread(target=echo.serve_forever, daemon=True).start()

for p in udp_ports:
    threading.Thread(target=udp_echo, args=(p,), daemon=True).start()
servers = [Server(("0.0.0.0", p), Handler) for p in tcp_ports]
# IPv6 beside it, where the namespace has IPv6 (the lab gives it).
try:
    servers += [Server6(("::", p), Handler) for p in tcp_ports]
    for p in udp_ports:
        threading.Thread(target=udp_echo, args=(p, True), daemon=True).start()
except OSError as e:
    print("no IPv6 listeners:", e, file=sys.stderr)
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
