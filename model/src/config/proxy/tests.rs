use super::*;
use crate::config::{Config, ConfigErrors};
use crate::proxy::acl::{AclRef, MatchKind};
use std::path::Path;

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(Path::new("p.toml"), text)
}

fn errors(text: &str) -> Vec<String> {
    parse(text)
        .expect_err("the configuration should be refused")
        .0
        .iter()
        .map(|e| e.to_string())
        .collect()
}

fn has(errors: &[String], what: &str) -> bool {
    errors.iter().any(|e| e.contains(what))
}

/// The source document's haproxy.cfg, as TOML.
const DIGEST: &str = r#"
[proxy]
maxconn = 4000
log = "127.0.0.1 local2"

[proxy.defaults]
mode = "http"
log = "global"
httplog = true
dontlognull = true
retries = 3
timeout = { http_request = "10s", queue = "1m", connect = "10s", client = "1m", server = "1m" }

[[frontend]]
name = "main"
bind = ["192.168.0.10:80"]
default_backend = "app"

[[backend]]
name = "app"
balance = "roundrobin"
server = [
  { name = "app1", address = "192.168.1.1:80", check = true },
  { name = "app2", address = "192.168.1.2:80", check = true },
  { name = "app3", address = "192.168.1.3:80", check = true, inter = "2s", rise = 4, fall = 3 },
  { name = "app4", address = "192.168.1.4:80", backup = true },
]
"#;

#[test]
fn the_documents_haproxy_example_validates_with_haproxys_defaults() {
    let c = parse(DIGEST).unwrap_or_else(|e| panic!("{e}"));
    let p = &c.proxy;
    assert_eq!((p.threads, p.maxconn), (1, 4000));
    let f = &p.frontends[0];
    assert_eq!(f.mode, Mode::Http);
    assert_eq!(f.binds[0].addr, "192.168.0.10:80".parse().unwrap());
    assert_eq!(f.default_backend.as_deref(), Some("app"));
    assert_eq!(f.log_format, LogFormat::Http);
    assert!(f.dontlognull);
    assert_eq!(
        f.log,
        Some(LogTarget::Syslog {
            addr: "127.0.0.1:514".parse().unwrap(),
            facility: 18
        })
    );
    assert_eq!(f.timeouts.http_request, Some(Duration::from_secs(10)));
    assert_eq!(f.timeouts.client, Some(Duration::from_secs(60)));
    let b = p.backend("app").unwrap();
    assert_eq!(b.balance, Balance::RoundRobin);
    assert_eq!(b.hash, HashSpec::default());
    assert_eq!(b.retries, 3);
    assert_eq!(b.timeouts.queue, Some(Duration::from_secs(60)));
    assert_eq!(b.servers.len(), 4);
    assert_eq!(
        b.servers.iter().map(|s| s.id).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    let c1 = b.servers[0].check.unwrap();
    assert_eq!(
        (c1.inter, c1.fastinter, c1.rise, c1.fall),
        (Duration::from_secs(2), Duration::from_secs(2), 2, 3),
        "HAProxy's check defaults"
    );
    let c3 = b.servers[2].check.unwrap();
    assert_eq!((c3.rise, c3.fall), (4, 3));
    assert!(b.servers[3].backup && b.servers[3].check.is_none());
    assert_eq!(b.servers[0].weight, 1);
}

#[test]
fn acls_route_to_backends_and_defaults_apply_to_each_section() {
    let c = parse(
        r#"
[proxy.defaults]
mode = "http"
timeout = { connect = 5000, client = "30s", server = "30s" }
forwardfor = true
default_server = { check = true, inter = "1s", fall = 2 }

[[frontend]]
name = "www"
bind = ["*:8080", "[::1]:8443 ssl crt /etc/xlb/site.pem alpn h2,http/1.1"]
acl = ["is_api path_beg /api", "is_api hdr_dom(host) -i api.example.com", "inside src 10.0.0.0/8"]
use_backend = ["api if is_api !inside", "static if { path_end .png .css } or METH_GET"]
default_backend = "web"
stats_uri = "/haproxy?stats"
timeout = { client = "5s" }

[[backend]]
name = "api"
balance = "uri depth 2 whole"
hash_type = "consistent"
cookie = "SRV insert indirect nocache"
httpchk = "GET /health HTTP/1.1"
http_check_host = "api.example.com"
http_check_expect = "status 200-299,304"
server = [
  { name = "a1", address = "10.1.0.1:80", cookie = "a1", weight = 256 },
  { name = "a2", address = "10.1.0.2:80", cookie = "a2", id = 1, check = false },
]

[[backend]]
name = "static"
balance = "hdr(Host) use_domain_only"
server = [{ name = "s1", address = "10.1.0.3:80" }]

[[backend]]
name = "web"
balance = "url_param sid"
hash_type = "map-based djb2 avalanche"
forwardfor = false
server = [{ name = "w1", address = "[2001:db8::5]:80", maxconn = 100, disabled = true }]
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let f = &c.proxy.frontends[0];
    assert_eq!(f.binds[0].addr, "0.0.0.0:8080".parse().unwrap());
    let tls = f.binds[1].tls.as_ref().unwrap();
    assert_eq!(tls.crt, PathBuf::from("/etc/xlb/site.pem"));
    assert_eq!(tls.alpn, ["h2", "http/1.1"]);
    assert_eq!(f.acls.len(), 2, "two lines of is_api are one acl");
    assert_eq!(f.acls[0].criteria.len(), 2);
    assert_eq!(f.acls[0].criteria[1].kind, MatchKind::Dom);
    assert_eq!(f.use_backend.len(), 2);
    assert!(f.use_backend[0].cond.any_of[0][1].negate);
    assert!(matches!(
        f.use_backend[1].cond.any_of[0][0].acl,
        AclRef::Inline(_)
    ));
    assert_eq!(f.timeouts.client, Some(Duration::from_secs(5)), "own");
    assert_eq!(
        f.timeouts.connect,
        Some(Duration::from_secs(5)),
        "defaults'"
    );
    assert!(f.forwardfor);
    assert_eq!(f.stats_uri.as_deref(), Some("/haproxy?stats"));

    let api = c.proxy.backend("api").unwrap();
    assert_eq!(
        api.balance,
        Balance::Uri {
            len: 0,
            depth: 2,
            whole: true,
            path_only: false
        }
    );
    assert_eq!(
        api.hash,
        HashSpec {
            kind: HashKind::Consistent,
            function: HashFunction::Sdbm,
            avalanche: true
        },
        "consistent alone avalanches sdbm, as HAProxy"
    );
    let ck = api.cookie.as_ref().unwrap();
    assert_eq!(
        (ck.mode, ck.indirect, ck.nocache),
        (CookieMode::Insert, true, true)
    );
    let chk = api.httpchk.as_ref().unwrap();
    assert_eq!((chk.method.as_str(), chk.uri.as_str()), ("GET", "/health"));
    assert_eq!(chk.host.as_deref(), Some("api.example.com"));
    assert_eq!(
        chk.expect,
        HttpExpect::Status {
            ranges: vec![(200, 299), (304, 304)],
            negate: false
        }
    );
    // a2 claims id 1, so a1 takes the next free one.
    assert_eq!((api.servers[0].id, api.servers[1].id), (2, 1));
    let a1 = api.servers[0].check.unwrap();
    assert_eq!(
        (a1.inter, a1.fall),
        (Duration::from_secs(1), 2),
        "default_server"
    );
    assert!(api.servers[1].check.is_none(), "check = false wins");
    let web = c.proxy.backend("web").unwrap();
    assert_eq!(web.hash.function, HashFunction::Djb2);
    assert!(web.hash.avalanche);
    assert!(!web.forwardfor);
    assert_eq!(web.servers[0].maxconn, 100);
    assert!(web.servers[0].disabled);
    assert_eq!(
        c.proxy.backend("static").unwrap().balance,
        Balance::Hdr {
            name: "Host".into(),
            use_domain_only: true
        }
    );
}

#[test]
fn mistakes_are_reported_together_with_where_and_how() {
    let e = errors(
        r#"
[daemon]
interfaces = ["eth0"]
[[virtual_server]]
address = "192.0.2.1"
port = 80
[[virtual_server.real_server]]
address = "198.51.100.1"

[proxy.defaults]
mode = "http"
bind = ["1.2.3.4:80"]

[[frontend]]
name = "a"
bind = ["192.0.2.1:80", "192.0.2.2:80 transparent"]
balance = "roundrobin"
use_backend = ["nope if x"]
default_backend = "t"

[[frontend]]
name = "b"
bind = ["192.0.2.1:80"]
default_backend = "nothere"
timeout = { client = "10x" }

[[backend]]
name = "t"
mode = "tcp"
balance = "uri"
cookie = "S insert"
server = [{ name = "x", address = "host.example:80" }]

[[backend]]
name = "w"
server = [
  { name = "y", address = "10.0.0.1:80", weight = 300, cookie = "c" },
  { name = "y", address = "10.0.0.2:80" },
]
"#,
    );
    for want in [
        "`bind` cannot be in [proxy.defaults]",
        "bind option \"transparent\" is not supported",
        "`balance` does not belong in a [[frontend]]",
        "no acl named \"x\"",
        "frontend a (mode http) cannot use backend t (mode tcp)",
        "192.0.2.1:80 is bound by frontend a already",
        "192.0.2.1:80 is virtual server 192.0.2.1:80's",
        "backend \"nothere\", which does not exist",
        "unknown time unit",
        "balance uri reads HTTP requests; backend t is mode tcp",
        "cookie persistence needs mode = \"http\"",
        "names are not resolved",
        "weight 300 is out of range",
        "server y has a cookie but backend w no `cookie`",
        "backend w has two servers named y",
    ] {
        assert!(has(&e, want), "missing {want:?} in:\n{}", e.join("\n"));
    }
    assert!(e.iter().all(|x| x.contains("p.toml:")), "{e:#?}");
    assert!(
        e.iter().filter(|x| x.contains("help:")).count() >= e.len() - 1,
        "{e:#?}"
    );
}

#[test]
fn a_frontend_needs_a_bind_and_a_backend() {
    let e = errors("[[frontend]]\nname = \"f\"\n");
    assert!(has(&e, "frontend f has no bind"), "{e:?}");
    assert!(has(&e, "frontend f sends its traffic nowhere"), "{e:?}");
    let e = errors("[[frontend]]\nbind = [\":80\"]\ndefault_backend = \"b\"\n");
    assert!(has(&e, "a [[frontend]] has no name"), "{e:?}");
}

#[test]
fn balance_spellings_round_trip() {
    for text in [
        "roundrobin",
        "static-rr",
        "leastconn",
        "first",
        "source",
        "uri",
        "uri path-only whole len 10 depth 3",
        "url_param userid",
        "hdr(host)",
        "hdr(host) use_domain_only",
        "rdp-cookie(mstshash)",
        "random(2)",
        "random(3)",
    ] {
        let b = balance(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        assert_eq!(balance(&b.to_string()).unwrap(), b, "{text} -> {b}");
    }
    assert_eq!(
        balance("rdp-cookie").unwrap(),
        Balance::RdpCookie {
            name: "mstshash".into()
        }
    );
    assert_eq!(balance("random").unwrap(), Balance::Random { draws: 2 });
    for (bad, what) in [
        ("roundrobin x", "takes no"),
        ("uri depth", "needs a number"),
        ("url_param", "one parameter name"),
        ("url_param id check_post 64", "check_post"),
        ("hdr()", "needs a header name"),
        ("random(0)", "draws >= 1"),
        ("wrr", "unknown balance algorithm"),
    ] {
        let e = balance(bad).unwrap_err();
        assert!(e.0.contains(what), "{bad}: {e:?}");
    }
}

#[test]
fn hash_types_follow_haproxy() {
    assert_eq!(hash_type("map-based").unwrap(), HashSpec::default());
    let h = hash_type("consistent wt6").unwrap();
    assert_eq!((h.function, h.avalanche), (HashFunction::Wt6, false));
    let h = hash_type("map-based crc32 avalanche").unwrap();
    assert!(h.avalanche);
    assert!(hash_type("ring").is_err());
    assert!(hash_type("consistent md5").is_err());
}

#[test]
fn checks_and_cookies_parse_as_haproxy_writes_them() {
    assert_eq!(
        httpchk("").unwrap(),
        ("OPTIONS".into(), "/".into(), "HTTP/1.0".into(), None)
    );
    assert_eq!(httpchk("/ping").unwrap().0, "OPTIONS");
    let legacy = httpchk("GET /  HTTP/1.1\\r\\nHost:\\ www.example.com").unwrap();
    assert_eq!(legacy.2, "HTTP/1.1");
    assert_eq!(legacy.3.as_deref(), Some("www.example.com"));
    assert!(httpchk("GET health").is_err());
    assert_eq!(
        http_expect("! string maintenance").unwrap(),
        HttpExpect::String {
            text: "maintenance".into(),
            negate: true
        }
    );
    assert!(http_expect("status 2xx").is_err());
    assert!(http_expect("rstatus ^2")
        .unwrap_err()
        .0
        .contains("not supported"));
    let c = cookie("JSESSIONID prefix nocache").unwrap();
    assert_eq!(c.mode, CookieMode::Prefix);
    assert_eq!(cookie("SRV").unwrap().mode, CookieMode::Passive);
    assert!(cookie("SRV insert maxlife 1h").is_err());
}
