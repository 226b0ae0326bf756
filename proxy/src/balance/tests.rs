//! Whole-balancer tests: HAProxy's recorded choices replayed (golden.rs,
//! produced by proxy/tools/haproxy_gold.py against a real HAProxy), then hand-checked
//! cases and robustness.

mod golden;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use xlb_model::proxy::{Balance, HashFunction, HashKind, HashSpec};

use super::pool::Group;
use super::{Algo, Balancer, KeySource, Lookup, Member, Pick};

// ------------------------------------------------------------ requests

#[derive(Debug, Clone)]
struct Req {
    src: IpAddr,
    target: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
    payload: Option<Vec<u8>>,
}

impl KeySource for Req {
    fn src(&self) -> IpAddr {
        self.src
    }
    fn target(&self) -> Option<&[u8]> {
        self.target.as_deref()
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
    fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }
}

/// An HTTP request as gold.py sends it: from 127.0.0.1, `Host: 127.0.0.1`
/// unless a Host header is given.
fn get(target: &str, headers: &[(&str, &str)]) -> Req {
    let mut h: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect();
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        h.insert(0, ("Host".into(), b"127.0.0.1".to_vec()));
    }
    Req {
        src: IpAddr::V4(Ipv4Addr::LOCALHOST),
        target: Some(target.as_bytes().to_vec()),
        headers: h,
        payload: None,
    }
}

fn from(src: &str) -> Req {
    let mut r = get("/", &[]);
    r.src = src.parse().unwrap();
    r
}

fn tcp() -> Req {
    Req {
        src: IpAddr::V4(Ipv4Addr::LOCALHOST),
        target: None,
        headers: Vec::new(),
        payload: None,
    }
}

// The key generators of gold.py.

fn uris(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "/u{}/{}/x{}.html?q={}&userid=id{}",
                i,
                (i * 37) % 101,
                i % 7,
                (i * i) % 13,
                (i * 7) % 23
            )
        })
        .collect()
}

fn hdr_values(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key-{}", (i * 13) % 97)).collect()
}

const HOSTS: &[&str] = &[
    "www.example.com",
    "example.com",
    "localhost",
    "a.b.mysite.co.uk",
    "www.example.com:8080",
    "foo.example.org",
    "shop.example.net",
    "x.y",
    "intranet",
    "api.service.internal",
    "cdn1.static.example.com",
    "WWW.EXAMPLE.COM",
];

fn src4(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("127.{}.{}.{}", i % 4, (i * 7) % 256, (i * 13) % 250 + 1))
        .collect()
}

fn src6(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("fd00::{:x}", (i * 7919) % 65536 + 1))
        .collect()
}

fn rdp_users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{}", (i * 31) % 101)).collect()
}

/// An RDP connection request carrying `Cookie: mstshash=<user>`.
fn rdp_payload(user: &str) -> Vec<u8> {
    let mut body = format!("Cookie: mstshash={user}\r\n").into_bytes();
    body.extend_from_slice(&[1, 0, 8, 0, 0, 0, 0, 0]);
    let mut x224 = vec![0xe0, 0, 0, 0, 0, 0];
    x224.extend_from_slice(&body);
    let total = (x224.len() + 5) as u16;
    let mut p = vec![3, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.push(x224.len() as u8);
    p.extend_from_slice(&x224);
    p
}

// ------------------------------------------------------------ servers

/// A `server` line of gold.py.
#[derive(Debug, Clone, Copy, Default)]
struct S {
    w: u32,
    backup: bool,
    id: Option<u32>,
    disabled: bool,
    maxconn: u32,
    /// Nothing listens: every connection to it fails.
    dead: bool,
}

fn w(w: u32) -> S {
    S { w, ..S::default() }
}

impl S {
    fn backup(self) -> S {
        S {
            backup: true,
            ..self
        }
    }
    fn id(self, id: u32) -> S {
        S {
            id: Some(id),
            ..self
        }
    }
    fn disabled(self) -> S {
        S {
            disabled: true,
            ..self
        }
    }
    fn maxconn(self, m: u32) -> S {
        S { maxconn: m, ..self }
    }
    fn dead(self) -> S {
        S { dead: true, ..self }
    }
}

/// HAProxy's automatic server ids (cfgparse.c): a server without `id`
/// takes the first free id from a counter that advances past every server.
fn puids(servers: &[S]) -> Vec<u32> {
    let used: Vec<u32> = servers.iter().filter_map(|s| s.id).collect();
    let mut next = 1;
    servers
        .iter()
        .map(|s| {
            let id = s.id.unwrap_or_else(|| {
                while used.contains(&next) {
                    next += 1;
                }
                next
            });
            next += 1;
            id
        })
        .collect()
}

const MAP: HashSpec = HashSpec {
    kind: HashKind::MapBased,
    function: HashFunction::Sdbm,
    avalanche: false,
};

/// `hash-type consistent` alone: sdbm with avalanche.
const CONSISTENT: HashSpec = HashSpec {
    kind: HashKind::Consistent,
    function: HashFunction::Sdbm,
    avalanche: true,
};

fn spec(kind: HashKind, function: HashFunction, avalanche: bool) -> HashSpec {
    HashSpec {
        kind,
        function,
        avalanche,
    }
}

fn uri_all() -> Balance {
    Balance::Uri {
        len: 0,
        depth: 0,
        whole: false,
        path_only: false,
    }
}

/// A backend as gold.py configures it, and the replay of its traffic.
struct Farm {
    b: Balancer,
    servers: Vec<S>,
    weight: Vec<u32>,
    up: Vec<bool>,
    conns: HashMap<u32, usize>,
    out: String,
}

impl Farm {
    fn new(balance: Balance, hash: HashSpec, servers: &[S], allbackups: bool) -> Farm {
        let ids = puids(servers);
        let members: Vec<Member> = servers
            .iter()
            .zip(&ids)
            .map(|(s, &puid)| Member {
                puid,
                weight: s.w,
                backup: s.backup,
                maxconn: s.maxconn,
            })
            .collect();
        let up: Vec<bool> = servers.iter().map(|s| !s.disabled).collect();
        Farm {
            b: Balancer::with_state(&balance, hash, &members, allbackups, &up),
            servers: servers.to_vec(),
            weight: servers.iter().map(|s| s.w).collect(),
            up,
            conns: HashMap::new(),
            out: String::new(),
        }
    }

    fn full(&self, i: usize) -> bool {
        let m = self.servers[i].maxconn;
        m > 0 && self.b.served(i) >= m
    }

    /// One HTTP request (or short connection): a dead server's connection
    /// fails and the request is redispatched avoiding it (`option
    /// redispatch 1`, `retries 5`); served counts rise and fall around it.
    fn request(&mut self, req: &Req) {
        let mut avoid = None;
        for _ in 0..=5 {
            match self.b.pick(req, avoid) {
                Pick::Server(i) if self.servers[i].dead => {
                    self.b.taken(i);
                    self.b.released(i);
                    avoid = Some(i);
                }
                Pick::Server(i) => {
                    self.b.taken(i);
                    self.b.released(i);
                    self.out.push(char::from(b'1' + i as u8));
                    return;
                }
                Pick::Queue => {
                    self.out.push('Q');
                    return;
                }
                Pick::NoServer => {
                    self.out.push('X');
                    return;
                }
            }
        }
        self.out.push('X');
    }

    fn requests(&mut self, reqs: &[Req]) -> &str {
        for r in reqs {
            self.request(r);
        }
        &self.out
    }

    /// A TCP connection that stays open: a full server chosen by a hash
    /// queues it, as does a backend with every server full; gold.py then
    /// lets the queue time out.
    fn open(&mut self, tag: u32, req: &Req) {
        match self.b.pick(req, None) {
            Pick::Server(i) if !self.full(i) => {
                self.b.taken(i);
                self.conns.insert(tag, i);
                self.out.push(char::from(b'1' + i as u8));
            }
            Pick::Server(_) | Pick::Queue => self.out.push('Q'),
            Pick::NoServer => self.out.push('X'),
        }
    }

    fn close(&mut self, tag: u32) {
        let i = self.conns.remove(&tag).expect("open connection");
        self.b.released(i);
    }

    /// `set weight be/sN W`
    fn weight(&mut self, n: usize, w: u32) {
        self.weight[n - 1] = w;
        self.b.set(n - 1, self.up[n - 1], w);
        self.out.push('|');
    }

    /// `disable server be/sN` / `enable server be/sN`
    fn state(&mut self, n: usize, up: bool) {
        self.up[n - 1] = up;
        self.b.set(n - 1, up, self.weight[n - 1]);
        self.out.push('|');
    }

    fn seq(&mut self, n: usize) {
        let r = get("/", &[]);
        for _ in 0..n {
            self.request(&r);
        }
    }
}

fn golden(name: &str) -> &'static str {
    golden::GOLDEN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no golden sequence {name}"))
}

fn check(name: &str, got: &str) {
    assert_eq!(got, golden(name), "scenario {name}: ours vs HAProxy's");
}

fn w4() -> Vec<S> {
    vec![w(3), w(5), w(2), w(7)]
}

fn m3() -> Vec<S> {
    vec![w(1), w(1), w(2)]
}

fn uri_reqs(n: usize) -> Vec<Req> {
    uris(n).iter().map(|u| get(u, &[])).collect()
}

// ------------------------------------------------------------ golden: keys

fn keys(
    name: &str,
    balance: Balance,
    hash: HashSpec,
    servers: &[S],
    allbackups: bool,
    reqs: &[Req],
) {
    let mut f = Farm::new(balance, hash, servers, allbackups);
    let got = f.requests(reqs).to_string();
    check(name, &got);
}

#[test]
fn golden_hash_functions_over_uris() {
    use HashFunction::*;
    use HashKind::*;
    let u = uri_reqs(48);
    let cases: &[(&str, HashSpec)] = &[
        ("map_uri_w4", MAP),
        ("ch_uri_w4", CONSISTENT),
        ("map_djb2", spec(MapBased, Djb2, false)),
        ("map_wt6", spec(MapBased, Wt6, false)),
        ("map_crc32", spec(MapBased, Crc32, false)),
        ("map_sdbm_aval", spec(MapBased, Sdbm, true)),
        ("ch_sdbm", spec(Consistent, Sdbm, false)),
        ("ch_djb2_aval", spec(Consistent, Djb2, true)),
        ("ch_wt6", spec(Consistent, Wt6, false)),
        ("ch_crc32_aval", spec(Consistent, Crc32, true)),
    ];
    for (name, hs) in cases {
        keys(name, uri_all(), *hs, &w4(), false, &u);
    }
    keys(
        "map_gcd",
        uri_all(),
        MAP,
        &[w(20), w(30), w(50), w(0)],
        false,
        &u,
    );
    let ids = [w(1).id(10), w(1), w(1).id(1), w(3).id(7)];
    keys("ch_ids", uri_all(), CONSISTENT, &ids, false, &u);
}

#[test]
fn golden_uri_options() {
    let u = uri_reqs(48);
    let uri = |len, depth, whole, path_only| Balance::Uri {
        len,
        depth,
        whole,
        path_only,
    };
    keys("uri_whole", uri(0, 0, true, false), MAP, &w4(), false, &u);
    keys("uri_len7", uri(7, 0, false, false), MAP, &w4(), false, &u);
    keys("uri_depth2", uri(0, 2, false, false), MAP, &w4(), false, &u);
    keys(
        "uri_depth1_whole",
        uri(0, 1, true, false),
        MAP,
        &w4(),
        false,
        &u,
    );
    let abs: Vec<Req> = uris(48)
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let host = format!("site{}.example", i % 3);
            get(&format!("http://{host}{p}"), &[("Host", &host)])
        })
        .collect();
    keys("uri_abs", uri_all(), MAP, &w4(), false, &abs);
    keys(
        "uri_abs_pathonly",
        uri(0, 0, false, true),
        MAP,
        &w4(),
        false,
        &abs,
    );
    keys(
        "uri_abs_pathonly_whole_ch",
        uri(0, 0, true, true),
        CONSISTENT,
        &w4(),
        false,
        &abs,
    );
}

#[test]
fn golden_url_param_with_round_robin_fallback() {
    let mixed: Vec<Req> = uris(48)
        .iter()
        .enumerate()
        .map(|(i, u)| {
            if i % 3 != 0 {
                get(u, &[])
            } else {
                get(&format!("/nothing/{i}?a={i}"), &[])
            }
        })
        .collect();
    let param = |n: &str| Balance::UrlParam { name: n.into() };
    keys("param_map", param("userid"), MAP, &w4(), false, &mixed);
    keys(
        "param_ch",
        param("userid"),
        CONSISTENT,
        &w4(),
        false,
        &mixed,
    );
    keys("param_q_map", param("q"), MAP, &m3(), false, &uri_reqs(48));
}

#[test]
fn golden_headers() {
    let hv = hdr_values(48);
    let reqs: Vec<Req> = hv
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if i % 4 != 0 {
                get("/", &[("X-Key", v)])
            } else {
                get("/", &[])
            }
        })
        .collect();
    let hdr = |n: &str, d| Balance::Hdr {
        name: n.into(),
        use_domain_only: d,
    };
    keys("hdr_map", hdr("X-Key", false), MAP, &w4(), false, &reqs);
    keys(
        "hdr_ch",
        hdr("x-key", false),
        CONSISTENT,
        &w4(),
        false,
        &reqs,
    );
    let mut lists: Vec<Req> = hv[..16]
        .iter()
        .map(|v| get("/", &[("X-Key", &format!("  {v} , other"))]))
        .collect();
    lists.extend(
        hv[16..24]
            .iter()
            .map(|v| get("/", &[("X-Key", &format!("\"{v},in\" , x"))])),
    );
    lists.extend((0..3).map(|_| get("/", &[("X-Key", "")])));
    keys(
        "hdr_list_map",
        hdr("X-Key", false),
        MAP,
        &w4(),
        false,
        &lists,
    );
    let dom: Vec<Req> = HOSTS.iter().map(|h| get("/", &[("Host", h)])).collect();
    keys("hdr_dom_map", hdr("host", true), MAP, &w4(), false, &dom);
    keys(
        "hdr_dom_ch",
        hdr("Host", true),
        CONSISTENT,
        &w4(),
        false,
        &dom,
    );
}

#[test]
fn golden_source() {
    let s4: Vec<Req> = src4(48).iter().map(|a| from(a)).collect();
    keys("src4_map", Balance::Source, MAP, &w4(), false, &s4);
    keys("src4_ch", Balance::Source, CONSISTENT, &w4(), false, &s4);
    let crc = spec(HashKind::MapBased, HashFunction::Crc32, true);
    keys(
        "src4_map_crc32_aval",
        Balance::Source,
        crc,
        &w4(),
        false,
        &s4,
    );
    let s6: Vec<Req> = src6(24).iter().map(|a| from(a)).collect();
    keys("src6_map", Balance::Source, MAP, &w4(), false, &s6);
    keys("src6_ch", Balance::Source, CONSISTENT, &w4(), false, &s6);
}

#[test]
fn golden_backups_and_zero_weight() {
    let u = uri_reqs(48);
    let b = [w(1).disabled(), w(2).backup(), w(5).backup(), w(3).backup()];
    keys("bck_map", uri_all(), MAP, &b, false, &u);
    keys("bck_map_all", uri_all(), MAP, &b, true, &u);
    keys("bck_ch", uri_all(), CONSISTENT, &b, false, &u);
    keys("bck_ch_all", uri_all(), CONSISTENT, &b, true, &u);
    keys(
        "w0_map",
        uri_all(),
        MAP,
        &[w(2), w(0), w(4), w(6)],
        false,
        &u,
    );
}

#[test]
fn golden_rdp_cookie() {
    let users = rdp_users(24);
    for (name, balance, hash) in [
        (
            "rdp_map",
            Balance::RdpCookie {
                name: "mstshash".into(),
            },
            MAP,
        ),
        (
            "rdp_ch",
            Balance::RdpCookie {
                name: "mstshash".into(),
            },
            CONSISTENT,
        ),
    ] {
        let mut f = Farm::new(balance, hash, &w4(), false);
        for (i, u) in users.iter().enumerate() {
            let mut r = tcp();
            r.payload = Some(rdp_payload(u));
            f.open(i as u32, &r);
        }
        check(name, &f.out);
    }
}

// ------------------------------------------------------------ golden: sequences

fn seq(name: &str, balance: Balance, servers: &[S], allbackups: bool, n: usize) {
    let mut f = Farm::new(balance, MAP, servers, allbackups);
    f.seq(n);
    check(name, &f.out);
}

#[test]
fn golden_round_robin_sequences() {
    let rr = Balance::RoundRobin;
    seq("rr_123", rr.clone(), &[w(1), w(2), w(3)], false, 24);
    seq("rr_w4", rr.clone(), &w4(), false, 60);
    seq(
        "rr_big",
        rr.clone(),
        &[w(10), w(3), w(1), w(1), w(7)],
        false,
        50,
    );
    seq(
        "rr_odd",
        rr.clone(),
        &[w(256), w(1), w(13), w(0), w(100)],
        false,
        80,
    );
    seq("rr_51", rr.clone(), &[w(5), w(1)], false, 14);
    seq("rr_112", rr.clone(), &m3(), false, 12);
    let b = [w(1).disabled(), w(2).backup(), w(5).backup()];
    seq("rr_bck", rr.clone(), &b, false, 10);
    seq("rr_bck_all", rr, &b, true, 14);
    seq("srr_123", Balance::StaticRr, &[w(1), w(2), w(3)], false, 14);
    seq("srr_bck", Balance::StaticRr, &b, false, 9);
}

#[test]
fn golden_round_robin_with_changes() {
    let mut f = Farm::new(Balance::RoundRobin, MAP, &w4(), false);
    f.seq(25);
    f.weight(2, 1);
    f.seq(25);
    f.weight(4, 0);
    f.seq(15);
    f.weight(4, 7);
    f.seq(15);
    f.state(1, false);
    f.seq(15);
    f.state(1, true);
    f.seq(20);
    f.weight(3, 20);
    f.seq(30);
    f.weight(3, 1);
    f.seq(12);
    f.state(2, false);
    f.state(3, false);
    f.state(4, false);
    f.seq(3);
    f.state(3, true);
    f.seq(12);
    check("rr_changes", &f.out);

    let servers = [w(2), w(3), w(1).backup(), w(4).backup()];
    let mut f = Farm::new(Balance::RoundRobin, MAP, &servers, false);
    f.seq(6);
    f.state(1, false);
    f.state(2, false);
    f.seq(5);
    f.state(3, false);
    f.seq(4);
    f.state(3, true);
    f.seq(3);
    f.state(2, true);
    f.seq(8);
    f.weight(2, 256);
    f.seq(10);
    f.state(1, true);
    f.seq(12);
    check("rr_changes_bck", &f.out);
}

#[test]
fn golden_static_rr_with_changes() {
    let mut f = Farm::new(Balance::StaticRr, MAP, &[w(1), w(2), w(3)], false);
    f.seq(7);
    f.state(3, false);
    f.seq(7);
    f.weight(2, 0);
    f.seq(3);
    f.state(3, true);
    f.seq(7);
    f.weight(2, 2); // "set weight be/s2 100%"
    f.seq(8);
    check("srr_changes", &f.out);
}

#[test]
fn golden_missing_key_walks() {
    let nope = || Balance::UrlParam {
        name: "nope".into(),
    };
    let mut f = Farm::new(nope(), CONSISTENT, &[w(1), w(1).id(5), w(2)], false);
    f.seq(40);
    f.state(2, false);
    f.seq(20);
    f.state(2, true);
    f.seq(20);
    f.weight(3, 1);
    f.seq(20);
    f.weight(1, 3);
    f.seq(30);
    check("param_ch_walk", &f.out);

    // With all backups in use the walk's position stays on the backup ring
    // after the active server returns, and HAProxy keeps walking it.
    let mut f = Farm::new(
        nope(),
        CONSISTENT,
        &[w(1), w(1).backup(), w(1).backup()],
        true,
    );
    f.seq(5);
    f.state(1, false);
    f.seq(7);
    f.state(1, true);
    f.seq(5);
    check("param_ch_walk_bck", &f.out);

    let mut f = Farm::new(nope(), MAP, &w4(), false);
    f.seq(20);
    f.state(4, false);
    f.seq(12);
    f.state(4, true);
    f.seq(12);
    check("param_map_walk", &f.out);
}

#[test]
fn golden_random() {
    seq("rnd2", Balance::Random { draws: 2 }, &m3(), false, 40);
    seq("rnd1", Balance::Random { draws: 1 }, &m3(), false, 40);
    let mut f = Farm::new(Balance::Random { draws: 3 }, MAP, &w4(), false);
    f.seq(20);
    f.weight(2, 1);
    f.seq(20);
    f.state(4, false);
    f.seq(20);
    check("rnd3_changes", &f.out);
}

#[test]
fn golden_leastconn_sequential() {
    let mut f = Farm::new(Balance::LeastConn, MAP, &[w(1), w(2), w(3)], false);
    f.seq(12);
    f.weight(1, 5);
    f.seq(12);
    check("lc_seq", &f.out);
}

// ------------------------------------------------------------ golden: in flight

#[test]
fn golden_leastconn_in_flight() {
    let mut f = Farm::new(Balance::LeastConn, MAP, &[w(1), w(2), w(3)], false);
    let t = tcp();
    for i in 0..12 {
        f.open(i, &t);
    }
    for i in [3, 5, 0] {
        f.close(i);
    }
    for i in 0..4 {
        f.open(100 + i, &t);
    }
    for i in [1, 2, 4, 6, 7] {
        f.close(i);
    }
    for i in 0..6 {
        f.open(200 + i, &t);
    }
    f.weight(3, 1);
    for i in 0..6 {
        f.open(300 + i, &t);
    }
    check("lc_tcp", &f.out);

    let servers = [w(1).maxconn(2), w(2).maxconn(3), w(3).maxconn(1)];
    let mut f = Farm::new(Balance::LeastConn, MAP, &servers, false);
    for i in 0..7 {
        f.open(i, &t);
    }
    f.close(2);
    f.open(100, &t);
    f.open(101, &t);
    check("lc_tcp_maxconn", &f.out);
}

#[test]
fn golden_first_with_maxconn() {
    let servers = [
        w(1).maxconn(2).id(3),
        w(1).maxconn(1).id(1),
        w(5).maxconn(2).id(2),
    ];
    let mut f = Farm::new(Balance::First, MAP, &servers, false);
    let t = tcp();
    for i in 0..6 {
        f.open(i, &t);
    }
    f.close(1);
    f.open(100, &t);
    f.close(0);
    f.close(4);
    f.open(101, &t);
    f.open(102, &t);
    f.state(1, false);
    f.open(103, &t);
    f.state(1, true);
    f.open(104, &t);
    check("first_maxconn", &f.out);
}

#[test]
fn golden_round_robin_with_maxconn() {
    let servers = [w(1).maxconn(1), w(2).maxconn(2), w(3).maxconn(2)];
    let t = tcp();
    let mut f = Farm::new(Balance::RoundRobin, MAP, &servers, false);
    for i in 0..6 {
        f.open(i, &t);
    }
    f.close(1);
    f.open(100, &t);
    f.close(0);
    f.close(2);
    for i in 101..104 {
        f.open(i, &t);
    }
    check("rr_maxconn", &f.out);

    let mut f = Farm::new(Balance::StaticRr, MAP, &servers, false);
    for i in 0..6 {
        f.open(i, &t);
    }
    f.close(1);
    f.open(100, &t);
    f.close(0);
    f.close(3);
    f.open(101, &t);
    f.open(102, &t);
    check("srr_maxconn", &f.out);
}

#[test]
fn golden_round_robin_requeue_order() {
    // A pick that finds every server full requeues them in the reverse of
    // the order it took them (HAProxy's `next_full` chain).
    let t = tcp();
    let mut f = Farm::new(Balance::RoundRobin, MAP, &[w(1).maxconn(1); 4], false);
    for i in 0..5 {
        f.open(i, &t);
    }
    for i in 0..4 {
        f.close(i);
    }
    for i in 0..8 {
        f.open(100 + i, &t);
    }
    check("rr_requeue_order", &f.out);

    let servers = [
        w(1).maxconn(1),
        w(2).maxconn(2),
        w(1).maxconn(1),
        w(2).maxconn(2),
    ];
    let mut f = Farm::new(Balance::RoundRobin, MAP, &servers, false);
    for i in 0..7 {
        f.open(i, &t);
    }
    for i in [5, 0, 3] {
        f.close(i);
    }
    for i in 0..3 {
        f.open(100 + i, &t);
    }
    for i in [1, 2, 4, 100, 101, 102] {
        f.close(i);
    }
    for i in 0..10 {
        f.open(200 + i, &t);
    }
    check("rr_requeue_order_w", &f.out);
}

#[test]
fn golden_random_in_flight() {
    let mut f = Farm::new(
        Balance::Random { draws: 2 },
        MAP,
        &[w(1), w(2), w(3)],
        false,
    );
    let t = tcp();
    for i in 0..16 {
        f.open(i, &t);
    }
    for i in (0..16).step_by(3) {
        f.close(i);
    }
    for i in 0..10 {
        f.open(100 + i, &t);
    }
    check("rnd_tcp", &f.out);
}

#[test]
fn golden_ring_walk_with_maxconn() {
    // No cookie in tcp: the ring walk, skipping full servers; once it finds
    // none it forgets its position and then looks at a single point.
    let servers = [w(1).maxconn(1), w(1).maxconn(1), w(1).maxconn(1)];
    let rdp = Balance::RdpCookie {
        name: "mstshash".into(),
    };
    let mut f = Farm::new(rdp, CONSISTENT, &servers, false);
    let t = tcp();
    for i in 0..4 {
        f.open(i, &t);
    }
    f.close(1);
    f.open(100, &t);
    f.open(101, &t);
    check("param_miss_ch_maxconn", &f.out);
}

#[test]
fn golden_redispatch_avoids_the_failed_server() {
    let r = [w(1), w(2).dead(), w(3), w(1)];
    let cases = [
        ("redisp_rr", Balance::RoundRobin, 24),
        ("redisp_srr", Balance::StaticRr, 14),
        ("redisp_lc", Balance::LeastConn, 12),
        ("redisp_rnd", Balance::Random { draws: 2 }, 24),
    ];
    for (name, balance, n) in cases {
        let mut f = Farm::new(balance, MAP, &r, false);
        f.seq(n);
        check(name, &f.out);
    }
    let mut f = Farm::new(Balance::First, MAP, &[w(1).dead(), w(1), w(1)], false);
    f.seq(4);
    check("redisp_first", &f.out);
    let u = uri_reqs(24);
    keys("redisp_ch_uri", uri_all(), CONSISTENT, &r, false, &u);
    // Map-based hashing ignores the server to avoid: 503 after the retries.
    keys("redisp_map_uri", uri_all(), MAP, &r, false, &u);
}

// ------------------------------------------------------------ golden: stress

/// gold.py's `lcg`: the generator of the long mixed sequences.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = (self.0 * 1_103_515_245 + 12_345) & 0x7fff_ffff;
        (self.0 >> 8) as usize
    }
}

/// gold.py's `http_stress_steps`: a state or weight change, then a few
/// requests with or without a `userid` parameter.
fn http_stress(
    name: &str,
    balance: Balance,
    hash: HashSpec,
    servers: &[S],
    allbackups: bool,
    seed: u64,
    n: usize,
) {
    let is_static = matches!(balance, Balance::StaticRr)
        || (balance.hashes() && hash.kind == HashKind::MapBased);
    let mut f = Farm::new(balance, hash, servers, allbackups);
    let mut g = Lcg(seed);
    for _ in 0..n {
        let r = g.next() % 10;
        let k = g.next() % servers.len();
        if r < 5 {
            let w = if is_static {
                if !g.next().is_multiple_of(2) {
                    0
                } else {
                    servers[k].w
                }
            } else if r < 4 {
                (g.next() % 12) as u32
            } else {
                (g.next() % 257) as u32
            };
            f.weight(k + 1, w);
        } else {
            f.state(k + 1, r >= 7);
        }
        for _ in 0..g.next() % 7 + 1 {
            let a = g.next() % 1000;
            let target = if !g.next().is_multiple_of(4) {
                format!("/k{a}?userid=v{}", g.next() % 50)
            } else {
                format!("/k{a}")
            };
            f.request(&get(&target, &[]));
        }
    }
    check(name, &f.out);
}

/// gold.py's `run_tcp_stress`: connections opened and closed at random
/// among the open ones, weights and states changed in between.
fn tcp_stress(name: &str, balance: Balance, servers: &[S], seed: u64, n: usize) {
    let mut f = Farm::new(balance, CONSISTENT, servers, false);
    let mut g = Lcg(seed);
    let mut conns: Vec<u32> = Vec::new();
    let mut tag = 0;
    let t = tcp();
    for _ in 0..n {
        let r = g.next() % 10;
        if r < 5 {
            tag += 1;
            f.open(tag, &t);
            if f.out.ends_with(|c: char| c.is_ascii_digit()) {
                conns.push(tag);
            }
        } else if r < 8 {
            if !conns.is_empty() {
                let i = g.next() % conns.len();
                f.close(conns.remove(i));
            }
        } else if r < 9 {
            let k = g.next() % servers.len();
            f.weight(k + 1, (g.next() % 12) as u32);
        } else {
            let k = g.next() % servers.len();
            f.state(k + 1, g.next().is_multiple_of(2));
        }
    }
    check(name, &f.out);
}

fn s6() -> Vec<S> {
    vec![w(3), w(1), w(4), w(1).backup(), w(5), w(2).backup()]
}

#[test]
fn golden_stress_round_robin() {
    http_stress("rr_stress", Balance::RoundRobin, MAP, &s6(), false, 1, 50);
    http_stress(
        "rr_stress_all",
        Balance::RoundRobin,
        MAP,
        &s6(),
        true,
        2,
        50,
    );
    let s4 = [w(3), w(1), w(4), w(2)];
    http_stress("srr_stress", Balance::StaticRr, MAP, &s4, false, 3, 40);
}

#[test]
fn golden_stress_hashing() {
    let param = || Balance::UrlParam {
        name: "userid".into(),
    };
    let s5 = [w(3), w(1), w(4), w(2), w(1).backup()];
    http_stress("map_param_stress", param(), MAP, &s5, false, 4, 40);
    http_stress("ch_param_stress", param(), CONSISTENT, &s6(), true, 5, 50);
    http_stress(
        "ch_param_stress_fbck",
        param(),
        CONSISTENT,
        &s6(),
        false,
        6,
        50,
    );
}

#[test]
fn golden_stress_others() {
    http_stress(
        "rnd_stress",
        Balance::Random { draws: 2 },
        MAP,
        &s6(),
        false,
        7,
        40,
    );
    http_stress(
        "lc_stress_http",
        Balance::LeastConn,
        MAP,
        &s6(),
        false,
        8,
        40,
    );
    http_stress(
        "first_stress_http",
        Balance::First,
        MAP,
        &s6(),
        false,
        9,
        30,
    );
}

#[test]
fn golden_stress_in_flight() {
    let t4 = [w(1), w(3), w(2), w(5)];
    tcp_stress("lc_stress", Balance::LeastConn, &t4, 11, 90);
    let t4m = [
        w(1).maxconn(2),
        w(3).maxconn(3),
        w(2).maxconn(1),
        w(5).maxconn(2),
    ];
    tcp_stress("lc_stress_maxconn", Balance::LeastConn, &t4m, 12, 70);
    tcp_stress("rr_stress_maxconn", Balance::RoundRobin, &t4m, 13, 70);
    let f4 = [
        w(1).maxconn(2).id(4),
        w(1).maxconn(1),
        w(1).maxconn(3).id(9),
        w(1).maxconn(2),
    ];
    tcp_stress("first_stress", Balance::First, &f4, 14, 70);
    tcp_stress("rnd_stress_tcp", Balance::Random { draws: 2 }, &t4, 15, 90);
    let r4 = [
        w(1).maxconn(1),
        w(1).maxconn(1),
        w(1).maxconn(1),
        w(1).maxconn(1),
    ];
    tcp_stress("rr_full_requeue", Balance::RoundRobin, &r4, 16, 70);
    let r4w = [
        w(1).maxconn(1),
        w(2).maxconn(2),
        w(1).maxconn(1),
        w(2).maxconn(1),
    ];
    tcp_stress("rr_full_requeue_w", Balance::RoundRobin, &r4w, 17, 70);
}

#[test]
fn every_golden_sequence_is_replayed() {
    // A scenario added to gold.py but not here would go unchecked.
    let replayed = include_str!("tests.rs");
    for (name, _) in golden::GOLDEN {
        assert!(
            replayed.contains(&format!("\"{name}\"")),
            "golden sequence {name} is not replayed"
        );
    }
}

// ------------------------------------------------------------ by hand

fn members(weights: &[u32]) -> Vec<Member> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Member {
            puid: i as u32 + 1,
            weight: w,
            backup: false,
            maxconn: 0,
        })
        .collect()
}

fn sequence(b: &mut Balancer, n: usize) -> String {
    let r = tcp();
    (0..n)
        .map(|_| match b.pick(&r, None) {
            Pick::Server(i) => char::from(b'1' + i as u8),
            Pick::Queue => 'Q',
            Pick::NoServer => 'X',
        })
        .collect()
}

#[test]
fn map_layouts() {
    // recalc_server_map worked by hand: the first server wins ties, so the
    // first slot is always the first server; 1,1,2 gives s1 s3 s2 s3 and
    // 1,2,3 gives s1 s3 s2 s3 s2 s3.
    for (weights, layout) in [
        (&[1, 1, 2][..], &[0, 2, 1, 2][..]),
        (&[1, 2, 3], &[0, 2, 1, 2, 1, 2]),
    ] {
        let b = Balancer::new(&uri_all(), MAP, &members(weights), false);
        let Algo::Hash {
            lookup: Lookup::Map(m),
            ..
        } = &b.algo
        else {
            panic!("map-based uri");
        };
        assert_eq!(m.layout(), layout, "weights {weights:?}");
    }
    // The gcd reduces 20,30,50 to 2,3,5: ten slots.
    let b = Balancer::new(&Balance::StaticRr, MAP, &members(&[20, 30, 50, 0]), false);
    let Algo::StaticRr(m) = &b.algo else {
        panic!("static-rr");
    };
    assert_eq!(m.layout().len(), 10);
}

#[test]
fn static_rr_follows_the_map() {
    let mut b = Balancer::new(&Balance::StaticRr, MAP, &members(&[1, 2, 3]), false);
    assert_eq!(sequence(&mut b, 12), "132323132323");
}

#[test]
fn fwrr_matches_the_reference_model() {
    // lb_fwrr.c worked through by hand (and HAProxy's rr_123 / rr_112):
    // 1,2,3 -> s3 s2 s3 s1 s3 s2; 1,1,2 -> s3 s1 s3 s2.
    let mut b = Balancer::new(&Balance::RoundRobin, MAP, &members(&[1, 2, 3]), false);
    assert_eq!(sequence(&mut b, 12), "323132323132");
    let mut b = Balancer::new(&Balance::RoundRobin, MAP, &members(&[1, 1, 2]), false);
    assert_eq!(sequence(&mut b, 8), "31323132");
    let Algo::RoundRobin(f) = &b.algo else {
        panic!("roundrobin");
    };
    // The window is the total effective weight (16 per unit); each pick
    // moves the position by one.
    let (pos, cw, nw) = f.group_weights(Group::Active);
    assert_eq!((cw, nw), (64, 64));
    assert_eq!(pos, 64 + 8);
}

#[test]
fn leastconn_counts_in_flight() {
    let mut b = Balancer::new(&Balance::LeastConn, MAP, &members(&[1, 1, 2]), false);
    let r = tcp();
    let mut got = Vec::new();
    for _ in 0..6 {
        let Pick::Server(i) = b.pick(&r, None) else {
            panic!("a server");
        };
        b.taken(i);
        got.push(i);
    }
    // Idle servers first in order, then by (served+1)*4096/eweight: with
    // eweights 16,16,32, s3 at 1 and 2 connections (keys 256, 384) is below
    // the others at 1 (512); at 3 it ties them at 512 and, reinserted last,
    // comes after s1.
    assert_eq!(got, [0, 1, 2, 2, 2, 0]);
    assert_eq!((b.served(0), b.served(1), b.served(2)), (2, 1, 3));
    b.released(1);
    assert_eq!(b.pick(&r, None), Pick::Server(1));
    // Avoiding s2: s3 (512) before s1 (768).
    assert_eq!(b.pick(&r, Some(1)), Pick::Server(2));
}

#[test]
fn first_fills_lowest_id() {
    let mut m = members(&[1, 1, 1]);
    m[0].puid = 9;
    for x in &mut m {
        x.maxconn = 2;
    }
    let mut b = Balancer::new(&Balance::First, MAP, &m, false);
    let r = tcp();
    let mut got = String::new();
    for _ in 0..7 {
        match b.pick(&r, None) {
            Pick::Server(i) => {
                b.taken(i);
                got.push(char::from(b'1' + i as u8));
            }
            other => got.push(if other == Pick::Queue { 'Q' } else { 'X' }),
        }
    }
    assert_eq!(got, "223311Q");
    b.released(0);
    assert_eq!(b.pick(&r, None), Pick::Server(0));
    // Avoiding the only server with room still gives it.
    assert_eq!(b.pick(&r, Some(0)), Pick::Server(0));
}

#[test]
fn backups_only_when_no_active() {
    let mut m = members(&[1, 2, 3]);
    m[1].backup = true;
    m[2].backup = true;
    let mut b = Balancer::new(&Balance::RoundRobin, MAP, &m, false);
    assert_eq!(sequence(&mut b, 3), "111");
    b.set(0, false, 1);
    assert_eq!(sequence(&mut b, 3), "222", "first backup only");
    let mut all = Balancer::new(&Balance::RoundRobin, MAP, &m, true);
    all.set(0, false, 1);
    let s = sequence(&mut all, 10);
    assert!(s.contains('2') && s.contains('3'), "{s}");
    all.set(1, false, 2);
    all.set(2, false, 0);
    assert_eq!(sequence(&mut all, 1), "X");
}

#[test]
fn consistent_ring_points() {
    let b = Balancer::new(&uri_all(), CONSISTENT, &members(&[1, 2]), false);
    let Algo::Hash {
        lookup: Lookup::Chash(c),
        ..
    } = &b.algo
    else {
        panic!("consistent");
    };
    let ring = c.ring(Group::Active);
    assert_eq!(ring.len(), 48);
    assert!(ring.windows(2).all(|p| p[0].key <= p[1].key));
    // full_hash(1 * 4096 + 0) and full_hash(2 * 4096 + 31) are there.
    assert!(ring
        .iter()
        .any(|n| n.key == super::hash::full_hash(4096) && n.srv == 0));
    assert!(ring
        .iter()
        .any(|n| n.key == super::hash::full_hash(2 * 4096 + 31) && n.srv == 1));
}

#[test]
fn consistent_keeps_keys_when_a_server_leaves() {
    let mut b = Balancer::new(&uri_all(), CONSISTENT, &members(&[1, 1, 1, 1]), false);
    let reqs = uri_reqs(200);
    let before: Vec<Pick> = reqs.iter().map(|r| b.pick(r, None)).collect();
    b.set(2, false, 1);
    let after: Vec<Pick> = reqs.iter().map(|r| b.pick(r, None)).collect();
    for (x, y) in before.iter().zip(&after) {
        if *x != Pick::Server(2) {
            assert_eq!(x, y, "a key not on the removed server moved");
        } else {
            assert_ne!(*y, Pick::Server(2));
        }
    }
    b.set(2, true, 1);
    let back: Vec<Pick> = reqs.iter().map(|r| b.pick(r, None)).collect();
    assert_eq!(before, back);
}

#[test]
fn avoided_server_is_kept_when_nothing_else_has_room() {
    // map_get_server_rr, fwrr, fwlc, fas and chash_get_next_server all
    // fall back to the server to avoid when it alone has room.
    let nope = || Balance::UrlParam {
        name: "nope".into(),
    };
    let cases = [
        (Balance::RoundRobin, MAP),
        (Balance::StaticRr, MAP),
        (Balance::LeastConn, MAP),
        (Balance::First, MAP),
        (nope(), MAP),
        (nope(), CONSISTENT),
    ];
    let mut m = members(&[1, 1, 1]);
    for x in &mut m {
        x.maxconn = 1;
    }
    let r = get("/", &[]);
    for (balance, hash) in cases {
        let mut b = Balancer::new(&balance, hash, &m, false);
        // One pick first: the ring walk has a position to resume from.
        assert!(matches!(b.pick(&r, None), Pick::Server(_)));
        b.taken(0);
        b.taken(2);
        assert_eq!(b.pick(&r, Some(1)), Pick::Server(1), "{balance}");
        b.taken(1);
        assert_eq!(b.pick(&r, None), Pick::Queue, "{balance}");
        assert_eq!(b.pick(&r, Some(1)), Pick::Queue, "{balance}");
    }
}

#[test]
fn leastconn_counts_server_queues_at_reposition() {
    let mut b = Balancer::new(&Balance::LeastConn, MAP, &members(&[1, 1]), false);
    let r = tcp();
    assert_eq!(b.pick(&r, None), Pick::Server(0));
    b.taken(0); // s1: key (1+1)*4096/16 = 512
    b.set_queued(1, 1);
    // HAProxy only rekeys on a served change: s2 still has key 0.
    assert_eq!(b.pick(&r, None), Pick::Server(1));
    b.taken(1); // s2: 1 served + 1 queued: key 768
    b.released(0); // s1: key 0
    assert_eq!(b.pick(&r, None), Pick::Server(0));
    b.taken(0); // s1: 512, below s2's 768 thanks to the queue
    assert_eq!(b.pick(&r, None), Pick::Server(0));
    // And a queue makes a server with a maxconn count as full.
    let mut m = members(&[1, 1]);
    m[0].maxconn = 5;
    let mut b = Balancer::new(&Balance::LeastConn, MAP, &m, false);
    b.set_queued(0, 5);
    assert_eq!(b.pick(&r, None), Pick::Server(1));
}

#[test]
fn random_is_deterministic() {
    let mk = || {
        Balancer::new(
            &Balance::Random { draws: 2 },
            MAP,
            &members(&[1, 1, 2]),
            false,
        )
    };
    let (mut a, mut b) = (mk(), mk());
    let (sa, sb) = (sequence(&mut a, 50), sequence(&mut b, 50));
    assert_eq!(sa, sb);
    assert!(
        sa.contains('1') && sa.contains('2') && sa.contains('3'),
        "{sa}"
    );
}

#[test]
fn static_algorithms_refuse_new_weights() {
    let mut b = Balancer::new(&Balance::StaticRr, MAP, &members(&[1, 2, 3]), false);
    let before = sequence(&mut b.clone(), 12);
    b.set(1, true, 5); // refused: stays 2
    assert_eq!(sequence(&mut b.clone(), 12), before);
    b.set(1, true, 0);
    assert!(!sequence(&mut b.clone(), 12).contains('2'));
    b.set(1, true, 2);
    assert_eq!(sequence(&mut b, 12), before);
}

#[test]
fn hash_with_one_server_skips_the_key() {
    // With one usable server HAProxy hashes nothing: even a request
    // without the header goes to it rather than to round robin.
    let mut m = members(&[1, 1]);
    m[0].maxconn = 1;
    let hdr = Balance::Hdr {
        name: "X-Key".into(),
        use_domain_only: false,
    };
    let mut b = Balancer::with_state(&hdr, MAP, &m, false, &[true, false]);
    b.taken(0);
    assert_eq!(
        b.pick(&get("/", &[]), None),
        Pick::Server(0),
        "full, chosen anyway"
    );
    // url_param has no such shortcut: missing key, round robin, full: queue.
    let p = Balance::UrlParam { name: "k".into() };
    let mut b = Balancer::with_state(&p, MAP, &m, false, &[true, false]);
    b.taken(0);
    assert_eq!(b.pick(&get("/", &[]), None), Pick::Queue);
    assert_eq!(b.pick(&get("/?k=1", &[]), None), Pick::Server(0));
}

#[test]
fn queues_count_as_full() {
    let mut m = members(&[1, 1]);
    m[0].maxconn = 10;
    let mut b = Balancer::new(&Balance::RoundRobin, MAP, &m, false);
    b.set_queued(0, 1);
    assert_eq!(sequence(&mut b, 4), "2222");
    b.set_queued(0, 0);
    b.set_backend_queue(2, 5);
    assert_eq!(sequence(&mut b, 1), "Q");
    b.set_backend_queue(2, 2);
    assert_ne!(sequence(&mut b, 1), "Q");
}

#[test]
fn never_panics_on_odd_input() {
    let all = [
        Balance::RoundRobin,
        Balance::StaticRr,
        Balance::LeastConn,
        Balance::First,
        Balance::Source,
        Balance::Uri {
            len: u32::MAX,
            depth: u32::MAX,
            whole: true,
            path_only: true,
        },
        Balance::UrlParam {
            name: String::new(),
        },
        Balance::Hdr {
            name: String::new(),
            use_domain_only: true,
        },
        Balance::RdpCookie {
            name: String::new(),
        },
        Balance::Random { draws: 0 },
    ];
    let weird = Req {
        src: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        target: Some(vec![0xff; 70_000]),
        headers: vec![
            ("".into(), vec![b'.'; 3]),
            ("host".into(), vec![0x80, b'.', b'.']),
        ],
        payload: Some(vec![0; 5]),
    };
    for balance in &all {
        for hash in [MAP, CONSISTENT] {
            // No servers at all.
            let mut b = Balancer::new(balance, hash, &[], false);
            assert_eq!(b.pick(&weird, Some(3)), Pick::NoServer);
            b.set(0, true, 1);
            b.taken(7);
            b.released(7);
            assert_eq!(b.served(7), 0);
            // All weights 0, then revived, weights out of range, ids colliding.
            let mut m = members(&[0, 0, 0]);
            m[1].puid = 1 + (1 << 20);
            m[2].weight = 10_000;
            m[2].backup = true;
            let mut b = Balancer::new(balance, hash, &m, true);
            b.set(2, false, 0);
            assert_eq!(b.pick(&weird, None), Pick::NoServer);
            b.set(0, true, 300);
            b.set(1, true, 256);
            b.set(2, true, 256);
            for i in 0..50 {
                b.released(i % 3);
                if let Pick::Server(s) = b.pick(&weird, Some(i % 4)) {
                    assert!(s < 3);
                    b.taken(s);
                }
                b.set(i % 3, i % 5 != 0, (i as u32 * 37) % 300);
            }
        }
    }
}
