use super::*;
use crate::import::{detect, import_any, Format, ImportError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use xlb_model::config::Config;
use xlb_model::proxy::{
    Balance, CookieMode, HashFunction, HashKind, HttpExpect, LogFormat, LogTarget, Mode,
};

/// The source document's haproxy.cfg, verbatim.
const DIGEST: &str = include_str!("../../../../tests/import/digest-haproxy.cfg");
/// Every keyword the import translates.
const RICH: &str = include_str!("../../../../tests/import/rich-haproxy.cfg");
/// Keywords it does not.
const UNSUPPORTED: &str = include_str!("../../../../tests/import/unsupported-haproxy.cfg");

fn validate(toml: &str) -> Config {
    Config::parse(Path::new("imported.toml"), toml)
        .unwrap_or_else(|e| panic!("{e}\n--- output:\n{toml}"))
}

/// The configuration's errors, for outputs the operator must complete.
fn refused(toml: &str) -> Vec<String> {
    Config::parse(Path::new("imported.toml"), toml)
        .expect_err("check-config should refuse this output")
        .0
        .iter()
        .map(|e| e.to_string())
        .collect()
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn digest_example_converts_with_no_warning_and_validates() {
    let out = import(DIGEST).unwrap();
    assert!(out.warnings.is_empty(), "{:#?}", out.warnings);
    assert!(out.toml.contains("xlbd runs as a service"), "{}", out.toml);
    let c = validate(&out.toml);
    let p = &c.proxy;
    assert_eq!((p.threads, p.maxconn), (1, 4000));
    let f = &p.frontends[0];
    assert_eq!(f.name, "main");
    assert_eq!(f.mode, Mode::Http);
    assert_eq!(f.binds[0].addr, addr("192.168.0.10:80"));
    assert_eq!(f.default_backend.as_deref(), Some("app"));
    assert_eq!(
        f.log,
        Some(LogTarget::Syslog {
            addr: addr("127.0.0.1:514"),
            facility: 18
        }),
        "log global: the global section's target"
    );
    assert_eq!(f.log_format, LogFormat::Http);
    assert!(f.dontlognull);
    assert_eq!(f.timeouts.http_request, secs(10));
    assert_eq!(f.timeouts.client, secs(60));
    let b = p.backend("app").unwrap();
    assert_eq!(b.mode, Mode::Http);
    assert_eq!(b.balance, Balance::RoundRobin);
    assert_eq!(b.retries, 3);
    assert_eq!(
        (b.timeouts.queue, b.timeouts.connect, b.timeouts.server),
        (secs(60), secs(10), secs(60))
    );
    let s = &b.servers;
    assert_eq!(
        s.iter()
            .map(|s| (s.name.as_str(), s.addr))
            .collect::<Vec<_>>(),
        [
            ("app1", addr("192.168.1.1:80")),
            ("app2", addr("192.168.1.2:80")),
            ("app3", addr("192.168.1.3:80")),
            ("app4", addr("192.168.1.4:80")),
        ]
    );
    let c1 = s[0].check.unwrap();
    assert_eq!((c1.inter, c1.rise, c1.fall), (Duration::from_secs(2), 2, 3));
    assert!(s[1].check.is_some());
    let c3 = s[2].check.unwrap();
    assert_eq!((c3.inter, c3.rise, c3.fall), (Duration::from_secs(2), 4, 3));
    assert!(s[3].backup && s[3].check.is_none());
    assert!(!s[0].backup);
}

#[test]
fn every_translated_keyword_reaches_the_configuration() {
    let out = import(RICH).unwrap();
    assert!(out.warnings.is_empty(), "{:#?}", out.warnings);
    let c = validate(&out.toml);
    let p = &c.proxy;
    assert_eq!((p.threads, p.maxconn), (4, 20000));

    // Two defaults sections: each section carries its own's settings.
    assert!(!out.toml.contains("[proxy.defaults]"), "{}", out.toml);
    let www = &p.frontends[0];
    assert_eq!(
        (www.name.as_str(), www.mode, www.maxconn),
        ("www", Mode::Http, 5000)
    );
    assert_eq!(
        www.log,
        Some(LogTarget::Syslog {
            addr: addr("10.0.0.5:5140"),
            facility: 16
        })
    );
    assert_eq!(www.log_format, LogFormat::Http);
    assert!(www.dontlognull && www.forwardfor);
    assert_eq!(www.timeouts.http_keep_alive, secs(2));
    assert_eq!(www.binds.len(), 2);
    assert!(www.binds[0].tls.is_none());
    let tls = www.binds[1].tls.as_ref().unwrap();
    assert_eq!(
        tls.crt,
        PathBuf::from("/etc/xlb/certs/site.pem"),
        "crt-base"
    );
    assert_eq!(tls.alpn, ["h2", "http/1.1"]);
    assert_eq!(
        www.acls.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["is_api", "inside", "is_static"]
    );
    assert_eq!(www.acls[0].criteria.len(), 2, "two lines of one acl");
    assert_eq!(
        www.use_backend
            .iter()
            .map(|u| u.backend.as_str())
            .collect::<Vec<_>>(),
        ["api", "static"]
    );
    assert!(www.use_backend[0].cond.any_of[0][1].negate, "!inside");
    assert_eq!(
        www.use_backend[1].cond.any_of.len(),
        2,
        "or {{ anonymous }}"
    );
    assert_eq!(www.default_backend.as_deref(), Some("app"));
    assert_eq!(www.stats_uri.as_deref(), Some("/lb-status"));

    let app = p.backend("app").unwrap();
    assert_eq!(
        app.balance,
        Balance::Uri {
            len: 0,
            depth: 2,
            whole: false,
            path_only: false
        }
    );
    assert_eq!(
        (app.hash.kind, app.hash.function, app.hash.avalanche),
        (HashKind::Consistent, HashFunction::Sdbm, true)
    );
    let cookie = app.cookie.as_ref().unwrap();
    assert_eq!(cookie.name, "SRV");
    assert_eq!(cookie.mode, CookieMode::Insert);
    assert!(cookie.indirect && cookie.nocache);
    let chk = app.httpchk.as_ref().unwrap();
    assert_eq!((chk.method.as_str(), chk.uri.as_str()), ("GET", "/health"));
    assert_eq!(chk.host.as_deref(), Some("www.example.com"));
    assert_eq!(
        chk.expect,
        HttpExpect::Status {
            ranges: vec![(200, 399)],
            negate: false
        }
    );
    assert!(app.redispatch && app.forwardfor);
    assert_eq!(app.retries, 2);
    assert_eq!(app.timeouts.check, secs(3));
    let [a1, a2, a3] = &app.servers[..] else {
        panic!("{:?}", app.servers)
    };
    assert_eq!(a1.cookie.as_deref(), Some("a1"));
    assert_eq!((a1.weight, a1.maxconn), (50, 100));
    let c1 = a1.check.unwrap();
    assert_eq!(
        (c1.inter, c1.fall, c1.rise),
        (Duration::from_secs(3), 2, 2),
        "default-server inter 3s fall 2 from the defaults"
    );
    let c2 = a2.check.unwrap();
    assert_eq!(
        (c2.fastinter, c2.downinter),
        (Duration::from_secs(1), Duration::from_secs(10))
    );
    assert_eq!(
        (c2.port, c2.addr),
        (Some(8081), Some("10.1.1.2".parse().unwrap()))
    );
    assert!(a3.disabled && a3.check.is_none());
    assert_eq!(a3.id, 7);

    let api = p.backend("api").unwrap();
    assert_eq!(
        api.balance,
        Balance::UrlParam {
            name: "userid".into()
        }
    );
    assert!(api.allbackups);
    assert!(!api.redispatch, "no option redispatch");
    assert_eq!(api.servers.iter().filter(|s| s.backup).count(), 2);

    let st = p.backend("static").unwrap();
    assert_eq!(
        st.balance,
        Balance::Hdr {
            name: "host".into(),
            use_domain_only: true
        }
    );
    assert_eq!(st.servers[0].addr, addr("[2001:db8::10]:80"));

    // listen: a frontend and a backend of one name, from the tcp defaults.
    let fe = p.frontends.iter().find(|f| f.name == "mysql").unwrap();
    assert_eq!(fe.mode, Mode::Tcp);
    assert_eq!(fe.default_backend.as_deref(), Some("mysql"));
    assert_eq!(fe.log_format, LogFormat::Tcp);
    let db = p.backend("mysql").unwrap();
    assert_eq!(db.mode, Mode::Tcp);
    assert_eq!(db.balance, Balance::Source);
    assert_eq!(
        (db.hash.kind, db.hash.function),
        (HashKind::MapBased, HashFunction::Djb2)
    );
    assert_eq!(db.timeouts.tunnel, secs(7200));
    let hc = db.httpchk.as_ref().unwrap();
    assert_eq!((hc.method.as_str(), hc.uri.as_str()), ("OPTIONS", "/"));
    let c = db.servers[0].check.unwrap();
    assert_eq!((c.inter, c.rise), (Duration::from_secs(5), 3));
    assert!(db.servers[1].backup);
    assert_eq!(
        db.servers[2].addr,
        addr("10.3.0.3:3306"),
        "no port: the only port its frontend listens on"
    );
    assert_eq!(db.servers[2].check.unwrap().port, Some(3306));

    // A listen with only the status page: a frontend alone.
    let stats = p.frontends.iter().find(|f| f.name == "stats").unwrap();
    assert_eq!(stats.stats_uri.as_deref(), Some("/haproxy?stats"));
    assert_eq!(stats.log, None, "no log");
    assert_eq!(stats.binds[0].addr, addr("0.0.0.0:8404"));
    assert!(p.backend("stats").is_none());
}

#[test]
fn untranslated_keywords_warn_once_each_at_their_line_and_the_rest_validates() {
    let out = import(UNSUPPORTED).unwrap();
    let got: Vec<(usize, &str)> = out
        .warnings
        .iter()
        .map(|(l, w)| (*l, w.split(':').next().unwrap_or("")))
        .collect();
    assert_eq!(
        got,
        [
            (3, "log /dev/log local0"),
            (4, "chroot /var/lib/haproxy"),
            (
                5,
                "stats socket /run/haproxy/admin.sock mode 660 level admin"
            ),
            (7, "tune.bufsize 32768"),
            (14, "errorfile 503 /etc/haproxy/errors/503.http"),
            (16, "peers mypeers"),
            (20, "resolvers mydns"),
            (25, "tcp-request content reject if { src 192.0.2.66 }"),
            (26, "http-request set-header X-Forwarded-Proto http"),
            (27, "option http-server-close"),
            (31, "stick-table type ip size 100k expire 30m peers mypeers"),
            (32, "stick on src"),
            (33, "server a1"),
            (34, "server a2"),
        ],
        "{:#?}",
        out.warnings
    );
    assert!(out.warnings[12].1.contains("slowstart 30s"));
    assert!(out.warnings[13].1.contains("resolvers mydns"));
    // Each has its comment in the output.
    for (line, _) in &out.warnings {
        assert!(
            out.toml.contains(&format!("# {MARK}: line {line}: ")),
            "line {line}:\n{}",
            out.toml
        );
    }
    assert!(
        out.toml.contains("#     peer lb1 10.0.0.1:10000"),
        "{}",
        out.toml
    );
    let c = validate(&out.toml);
    assert_eq!(c.proxy.maxconn, 1000);
    assert_eq!(c.proxy.backend("app").unwrap().servers.len(), 2);
}

#[test]
fn haproxy_and_keepalived_are_told_apart() {
    assert_eq!(detect(DIGEST), Format::Haproxy);
    assert_eq!(detect(RICH), Format::Haproxy);
    assert_eq!(detect("# lb\n\nlisten web\n  bind :80\n"), Format::Haproxy);
    assert_eq!(detect("frontend www from web\n"), Format::Haproxy);
    let keepalived = include_str!("../../../../tests/import/digest-nat.conf");
    assert_eq!(detect(keepalived), Format::Keepalived);
    assert_eq!(
        detect("! c\nglobal_defs {\n router_id x\n}\n"),
        Format::Keepalived
    );
    assert_eq!(
        detect("virtual_server 10.0.0.1 80 {\n}\n"),
        Format::Keepalived
    );
    // keepalived's blocks may open on the next line.
    assert_eq!(detect("vrrp_instance VI\n{\n}\n"), Format::Keepalived);

    let (f, out) = import_any(DIGEST, Default::default());
    assert_eq!(f, Format::Haproxy);
    validate(&out.unwrap().toml);
    let (f, out) = import_any(keepalived, Default::default());
    assert_eq!(f, Format::Keepalived);
    assert!(out.unwrap().toml.contains("[[virtual_server]]"));
    let (f, out) = import_any("global\n  log \"127.0.0.1 local0\n", Default::default());
    assert_eq!(f, Format::Haproxy);
    assert!(
        matches!(out, Err(ImportError::Syntax(SyntaxError { line: 2, .. }))),
        "{out:?}"
    );
    assert!(f.syntax_help().contains("haproxy.cfg"));
}

#[test]
fn one_defaults_section_is_proxy_defaults_and_sections_override_it() {
    let cfg = "\
global
    maxconn 100
defaults
    mode http
    option httplog
    option forwardfor
    default_backend web
    stats enable
    timeout client 10s
    timeout server 10s
    timeout connect 1s
    default-server check fall 5
frontend a
    bind 10.0.0.1:80
frontend b
    bind 10.0.0.1:81
    option tcplog
    no option forwardfor
    default_backend other
    stats uri /st
backend web
    default-server inter 1s
    server w1 10.1.0.1:80
backend other
    retries 1
    server o1 10.1.0.2:80 no-check
";
    let out = import(cfg).unwrap();
    assert!(out.warnings.is_empty(), "{:#?}", out.warnings);
    assert!(out.toml.contains("[proxy.defaults]"), "{}", out.toml);
    let c = validate(&out.toml);
    let [a, b] = &c.proxy.frontends[..] else {
        panic!()
    };
    assert_eq!(
        a.default_backend.as_deref(),
        Some("web"),
        "the defaults' default_backend"
    );
    assert_eq!(a.stats_uri.as_deref(), Some("/haproxy?stats"));
    assert_eq!((a.log_format, a.forwardfor), (LogFormat::Http, true));
    assert_eq!(b.default_backend.as_deref(), Some("other"));
    assert_eq!(b.stats_uri.as_deref(), Some("/st"));
    assert_eq!(
        b.log_format,
        LogFormat::Tcp,
        "tcplog over the defaults' httplog"
    );
    assert!(!b.forwardfor);
    let w = c.proxy.backend("web").unwrap();
    let wc = w.servers[0].check.unwrap();
    assert_eq!(
        (wc.inter, wc.fall),
        (Duration::from_secs(1), 5),
        "the backend's default-server on top of the defaults'"
    );
    let o = c.proxy.backend("other").unwrap();
    assert!(o.servers[0].check.is_none());
    assert_eq!(o.retries, 1);
    assert_eq!(o.timeouts.connect, secs(1));
}

#[test]
fn defaults_that_do_not_fit_every_section_are_written_into_each() {
    // HAProxy ignores the defaults' cookie and uri hashing in a tcp
    // backend; xlb refuses them there, so no [proxy.defaults].
    let cfg = "\
defaults unused
    mode tcp
defaults
    mode http
    balance uri
    cookie SRV insert
frontend f
    bind 10.0.0.1:80
    default_backend web
backend web
    description the web farm
    server w 10.0.1.1:80 cookie w
backend raw
    mode tcp
    server r 10.0.1.2:9000
";
    let out = import(cfg).unwrap();
    assert!(out.warnings.is_empty(), "{:#?}", out.warnings);
    assert!(!out.toml.contains("[proxy.defaults]"), "{}", out.toml);
    assert!(out
        .toml
        .contains("defaults unused (line 1): no section starts from it"));
    assert!(out.toml.contains("# the web farm"), "{}", out.toml);
    let c = validate(&out.toml);
    let web = c.proxy.backend("web").unwrap();
    assert!(web.cookie.is_some() && web.balance.needs_http());
    let raw = c.proxy.backend("raw").unwrap();
    assert_eq!((raw.mode, &raw.balance), (Mode::Tcp, &Balance::RoundRobin));
    assert!(raw.cookie.is_none());
}

#[test]
fn host_names_and_unknown_ports_are_kept_for_check_config_to_name() {
    let cfg = "\
frontend www
    mode http
    bind 192.0.2.1:80
    bind 192.0.2.1:8080
    default_backend app
backend app
    mode http
    server a1 app1.example.com:80
    server a2 10.0.0.2
    server a3 10.0.0.3:80
";
    let out = import(cfg).unwrap();
    let lines: Vec<usize> = out.warnings.iter().map(|w| w.0).collect();
    assert_eq!(lines, [8, 9], "{:#?}", out.warnings);
    assert!(out.warnings[0]
        .1
        .contains("app1.example.com is a host name"));
    assert!(
        out.warnings[1].1.contains("listen on 80, 8080"),
        "{}",
        out.warnings[1].1
    );
    assert!(out
        .toml
        .contains("address = \"app1.example.com:80\" },  # XLB-IMPORT"));
    let errors = refused(&out.toml);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].contains("app1.example.com:80") && errors[0].contains("names are not resolved")
    );
    assert!(errors[1].contains("10.0.0.2") && errors[1].contains("no valid port"));

    // One port, or an offset from it: HAProxy's port is known.
    let out =
        import("listen l\n  bind :5000\n  server a 10.0.0.1\n  server b 10.0.0.2:+1\n").unwrap();
    assert!(out.warnings.is_empty(), "{:#?}", out.warnings);
    let c = validate(&out.toml);
    let s = &c.proxy.backend("l").unwrap().servers;
    assert_eq!(
        (s[0].addr, s[1].addr),
        (addr("10.0.0.1:5000"), addr("10.0.0.2:5001"))
    );
}

#[test]
fn what_would_weaken_security_is_left_out_not_half_translated() {
    let cfg = "\
defaults
    mode http
frontend www
    bind 192.0.2.1:443 ssl crt /etc/site.pem verify required ca-file /etc/ca.pem
    bind 192.0.2.1:80 accept-proxy
    bind 192.0.2.1:81 defer-accept
    acl bad path_reg ^/admin
    acl bad path_beg /private
    use_backend deny if bad
    default_backend app
    stats enable
    stats auth admin:secret
backend app
    server a1 10.0.0.1:443 ssl verify none
    server a2 10.0.0.2:80
backend deny
    server d1 10.0.0.9:80
";
    let out = import(cfg).unwrap();
    let w: Vec<(usize, &str)> = out.warnings.iter().map(|(l, w)| (*l, w.as_str())).collect();
    let has = |line: usize, what: &str| w.iter().any(|(l, m)| *l == line && m.contains(what));
    assert!(has(4, "verify required") && has(4, "left out"), "{w:#?}");
    assert!(has(5, "accept-proxy") && has(5, "left out"), "{w:#?}");
    assert!(has(6, "option defer-accept not translated"), "{w:#?}");
    assert!(has(7, "regular expressions"), "{w:#?}");
    assert!(has(8, "left out with acl bad's line 7"), "{w:#?}");
    assert!(has(9, "acl bad is not translated"), "{w:#?}");
    assert!(has(12, "no password"), "{w:#?}");
    assert!(
        has(14, "ssl") && has(14, "the server is left out"),
        "{w:#?}"
    );
    assert!(has(14, "verify none not translated"), "{w:#?}");
    let c = validate(&out.toml);
    let f = &c.proxy.frontends[0];
    assert_eq!(f.binds.len(), 1, "only the plain bind");
    assert_eq!(f.binds[0].addr, addr("192.0.2.1:81"));
    assert!(f.acls.is_empty() && f.use_backend.is_empty());
    assert_eq!(f.stats_uri, None);
    let app = c.proxy.backend("app").unwrap();
    assert_eq!(app.servers.len(), 1);
    assert_eq!(app.servers[0].name, "a2");
}

#[test]
fn old_timeout_names_translate_with_a_warning() {
    let out = import(
        "defaults\n  contimeout 4000\n  clitimeout 30s\n  srvtimeout 1m\n  timeout tarpit 5s\nbackend b\n  server s 10.0.0.1:80\n",
    )
    .unwrap();
    let lines: Vec<usize> = out.warnings.iter().map(|w| w.0).collect();
    assert_eq!(lines, [2, 3, 4, 5], "{:#?}", out.warnings);
    assert!(out.warnings[0].1.contains("translated as timeout connect"));
    let c = validate(&out.toml);
    let t = c.proxy.backend("b").unwrap().timeouts;
    assert_eq!(
        (t.connect, t.client, t.server),
        (Some(Duration::from_millis(4000)), secs(30), secs(60))
    );
}

#[test]
fn late_default_server_applies_to_the_servers_after_it_only() {
    let cfg = "\
defaults
    default-server weight 10
backend b
    server s1 10.0.0.1:80
    default-server check
    server s2 10.0.0.2:80
";
    let out = import(cfg).unwrap();
    assert!(out.warnings.is_empty(), "{:#?}", out.warnings);
    let c = validate(&out.toml);
    let s = &c.proxy.backend("b").unwrap().servers;
    assert_eq!((s[0].weight, s[0].check.is_some()), (10, false));
    assert_eq!((s[1].weight, s[1].check.is_some()), (10, true));
}

#[test]
fn quoting_escapes_and_environment_variables() {
    let cfg = "\
frontend f
    mode http
    bind \"${VIP}:80\"
    acl q hdr(x-name) -i \"two words\" it\\'s
    use_backend b if q
    default_backend b
backend b
    mode http
    option httpchk GET /h HTTP/1.1\\r\\nHost:\\ example.org
    server s 10.0.0.1:80
";
    let out = import(cfg).unwrap();
    assert_eq!(out.warnings.len(), 2, "{:#?}", out.warnings);
    assert_eq!(out.warnings[0].0, 3);
    assert!(out.warnings[0].1.contains("$VIP is not expanded"));
    assert!(out.warnings[1].1.contains("${VIP}"), "{:#?}", out.warnings);
    let toml = out.toml.replace("${VIP}", "192.0.2.1");
    let c = validate(&toml);
    let f = &c.proxy.frontends[0];
    assert_eq!(f.acls[0].criteria[0].patterns, ["two words", "it's"]);
    let chk = c.proxy.backend("b").unwrap().httpchk.clone().unwrap();
    assert_eq!(chk.version, "HTTP/1.1");
    assert_eq!(chk.host.as_deref(), Some("example.org"));
}

#[test]
fn conditional_blocks_warn_and_their_lines_are_imported() {
    let out =
        import("frontend f\n.if defined(X)\n  bind :80\n.endif\n  default_backend b\nbackend b\n")
            .unwrap();
    let lines: Vec<usize> = out.warnings.iter().map(|w| w.0).collect();
    assert_eq!(lines, [2, 4], "{:#?}", out.warnings);
    validate(&out.toml);
}

#[test]
fn syntax_errors_name_the_line() {
    let e = import("global\n  maxconn 10\n  log \"x local0\n")
        .err()
        .unwrap();
    assert_eq!((e.line, e.message.as_str()), (3, "unmatched quote"));
    assert_eq!(import("frontend f\n  bind \\xZ1\n").err().unwrap().line, 2);
}

// reg-tests/checks/http-check-send.vtc, as Debian's HAProxy 2.6.12 sent the
// checks in the lab: a backend's own `option httpchk` or `http-check send`
// replaces the defaults' whole check request.
#[test]
fn a_backends_own_check_request_replaces_the_defaults() {
    let cfg = "\
defaults
    mode http
    option httpchk GET /status HTTP/1.1
    http-check send hdr Host my-www-host
backend inherit
    server s 10.0.0.1:80 check
backend own_option
    option httpchk
    server s 10.0.0.2:80 check
backend own_send
    http-check send hdr Host other-www-host
    server s 10.0.0.3:80 check
";
    let out = import(cfg).unwrap();
    let c = validate(&out.toml);
    let chk = |b: &str| c.proxy.backend(b).unwrap().httpchk.clone().unwrap();
    let line = |b: &str| {
        let h = chk(b);
        (format!("{} {} {}", h.method, h.uri, h.version), h.host)
    };
    assert_eq!(
        line("inherit"),
        ("GET /status HTTP/1.1".into(), Some("my-www-host".into()))
    );
    assert_eq!(line("own_option"), ("OPTIONS / HTTP/1.0".into(), None));
    assert_eq!(
        line("own_send"),
        ("OPTIONS / HTTP/1.0".into(), Some("other-www-host".into()))
    );
}
