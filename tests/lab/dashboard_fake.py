"""Serves xlbd's dashboard assets from the source tree and a made-up
api/state with VRRP, connection sync and a proxy (which the lab's director
test does not run), so the page's drawing of them is tested in Chromium.

Usage: dashboard_fake.py ASSETS_DIR PORT   (listens on 127.0.0.1 only)
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ASSETS, PORT = sys.argv[1], int(sys.argv[2])
TYPES = {"/": ("index.html", "text/html"), "/dashboard.js": ("dashboard.js", "text/javascript"),
         "/dashboard.css": ("dashboard.css", "text/css")}
C = dict(current=2, max=5, total=40, bytes_in=1000, bytes_out=9000, connect_errors=1,
         response_errors=0, request_errors=3, retries=0, redispatches=0, http_responses=[0, 38, 0, 2, 0, 0])


def state(since):
    now = int(time.time() * 1000)
    t = [now - 1000, now]
    return {
        "time": now, "period_ms": 1000,
        "status": {
            "generation": 5, "config": "/etc/xlb/xlb.toml", "services": [], "workers": [],
            "timeouts": [900, 120, 300], "conn_table_size": 1024,
            "proxy": {
                "frontends": [{"name": "www", "mode": "http", "binds": ["192.0.2.10:80"], "maxconn": 100, "counters": C}],
                "backends": [{"name": "app", "mode": "http", "balance": "roundrobin", "active": 1, "backups": 1,
                              "queued": 0, "queue_max": 0, "queue_timeouts": 0, "counters": C,
                              "servers": [
                                  {"name": "a1", "address": "10.0.0.1:80", "status": "UP", "weight": 1,
                                   "configured_weight": 1, "backup": False, "check": "L7OK", "served": 2,
                                   "queued": 0, "maxconn": 0, "since_secs": 30, "counters": C},
                                  {"name": "a2", "address": "10.0.0.2:80", "status": "DOWN", "weight": 1,
                                   "configured_weight": 1, "backup": True, "check": "L4CON", "served": 0,
                                   "queued": 0, "maxconn": 0, "since_secs": 30, "counters": C}]}]},
            "sync": {"interface": "eth1", "sync_id": 7, "peers": ["10.1.0.2"], "port": 8848,
                     "sent_datagrams": 10, "sent_conns": 30, "send_errors": 0, "unsendable": 0,
                     "received_datagrams": 0, "received_conns": 0, "installed": 0, "templates_installed": 0,
                     "table_transfers": 1, "overflow": 0, "dropped": {"bad_version": 2},
                     "heard_from": {"10.1.0.2": 4}},
        },
        "vrrp": [{"name": "VI_1", "interface": "eth0", "vrid": 51, "version": 2, "group": None,
                  "state": "MASTER", "priority": 100, "configured_priority": 100, "master": "10.1.0.1",
                  "vips": ["192.0.2.10"], "adverts_sent": 9, "adverts_received": 0, "transitions": 1,
                  "errors": {}, "since_secs": 12.5, "reason": "no master heard"}],
        "history": {"t": [x for x in t if since is None or x > since],
                    "series": {"fe:www:total": [4.0, 6.0], "sync:sent": [3.0, 5.0],
                               "srv:app/a1:total": [4.0, 6.0]}},
    }


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path in TYPES:
            name, kind = TYPES[path]
            with open(f"{ASSETS}/{name}", "rb") as f:
                body = f.read()
        elif path == "/api/state":
            since = int(query[6:]) if query.startswith("since=") else None
            body, kind = json.dumps(state(since)).encode(), "application/json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
