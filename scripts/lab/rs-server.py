#!/usr/bin/env python3
"""A lab real server: HTTP on the given TCP ports (paths: / answers the
name, /bytes/N N bytes, /status/N an empty response with status N, /hang
never answers), a UDP echo on the given
UDP ports and a line echo on TCP 9000 (for long-lived connections), each
answering with this server's name so clients can count the split. Runs until
killed (the lab kills it by PID)."""
import http.server
import socket
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
        if self.path.startswith("/bytes/"):
            body = b"x" * int(self.path.split("/")[2])
        else:
            body = (name + "\n").encode()
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


def udp_echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(name.encode() + b" " + data, peer)


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
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
