"""Checks on the DOM headless Chromium rendered from xlbd's dashboard.

Usage: dashboard_dom.py SERVICE SERIES DOM1 DOM2 [REAL[=STATE]...]
Passes when DOM1 and DOM2 both show the service's card with every REAL in
it (in the second, with its STATE badge when one is given), the link badge says "live", the chart SERIES has a non-zero latest rate
and at least two points in DOM2, and its drawn line differs between the two
loads (the chart moved). Prints what it found; exits 1 on the first miss.
"""
import sys
from html.parser import HTMLParser


class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cards = {}       # data-service -> set of data-real inside it
        self.states = {}      # (data-service, data-real) -> state badge text
        self.charts = {}      # data-series -> (data-last, data-points, path d)
        self.link = ""
        self._card = None
        self._depth = 0
        self._chart = None
        self._in_link = False
        self._real = None
        self._in_badge = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self._card is not None and tag == "div":
            self._depth += 1
        if "data-service" in a:
            self._card = a["data-service"]
            self._depth = 1
            self.cards.setdefault(self._card, set())
        if "data-real" in a and self._card is not None:
            self.cards[self._card].add(a["data-real"])
            self._real = (self._card, a["data-real"])
            self.states[self._real] = ""
        if tag == "span" and "badge" in a.get("class", "").split() and self._real:
            self._in_badge = True
        if tag == "svg" and "data-series" in a:
            self._chart = a["data-series"]
            self.charts[self._chart] = [a.get("data-last", ""), a.get("data-points", "0"), ""]
        if tag == "path" and self._chart is not None:
            self.charts[self._chart][2] = a.get("d", "")
        if a.get("id") == "link":
            self._in_link = True

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart = None
        if tag == "span":
            self._in_link = False
            self._in_badge = False
        if tag == "tr":
            self._real = None
        if self._card is not None and tag == "div":
            self._depth -= 1
            if self._depth == 0:
                self._card = None

    def handle_data(self, data):
        if self._in_link:
            self.link += data
        if self._in_badge:
            self.states[self._real] += data


def load(path):
    d = Dom()
    with open(path, encoding="utf-8") as f:
        d.feed(f.read())
    return d


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


service, series, first, second = sys.argv[1:5]
wanted = dict((r.split("=") + [None])[:2] for r in sys.argv[5:])
reals = list(wanted)
doms = [load(first), load(second)]
for name, d in zip(("first", "second"), doms):
    if d.link.strip() != "live":
        fail(f"{name} load: link badge says {d.link.strip()!r}, not 'live'")
    if service not in d.cards:
        fail(f"{name} load: no card for service {service!r}; cards: {sorted(d.cards)}")
    missing = [r for r in reals if r not in d.cards[service]]
    if missing:
        fail(f"{name} load: {service} lacks real servers {missing}; has {sorted(d.cards[service])}")
    if series not in d.charts:
        fail(f"{name} load: no chart {series!r}; charts: {sorted(d.charts)[:20]}")
for real, state in wanted.items():
    shown = doms[1].states.get((service, real))
    if state is not None and shown != state:
        fail(f"{service} {real} shows state {shown!r}, not {state!r}")
print("states:", {r: doms[1].states.get((service, r)) for r in reals})
last, points, path = doms[1].charts[series]
print(f"{series}: latest {last}/s, {points} points; first load {doms[0].charts[series][1]} points")
if not last or float(last) <= 0:
    fail(f"{series} shows no traffic (latest {last!r})")
if int(points) < 2:
    fail(f"{series} has {points} points")
if doms[0].charts[series][2] == path:
    fail(f"{series} drew the same line on both loads: {path}")
print("ok: the charts moved")
