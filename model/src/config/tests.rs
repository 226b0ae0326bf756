use super::*;

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(Path::new("t.toml"), text)
}

fn errors(text: &str) -> Vec<String> {
    parse(text)
        .unwrap_err()
        .0
        .iter()
        .map(|e| e.to_string())
        .collect()
}

const OK: &str = r#"
[daemon]
interfaces = ["eth0"]
[[virtual_server]]
address = "192.0.2.1"
port = 80
[[virtual_server.real_server]]
address = "198.51.100.1"
weight = 2
"#;

#[test]
fn examples_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for name in ["nat.toml", "dr.toml"] {
        let c = Config::load(&root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!c.services.is_empty(), "{name}");
    }
}

#[test]
fn defaults_follow_ipvs_and_keepalived() {
    let c = parse(OK).unwrap();
    let s = &c.services[0];
    assert_eq!(s.scheduler, SchedulerKind::Wlc);
    assert_eq!(s.forwarding, Forwarding::Nat);
    assert_eq!(s.key.protocol(), Some(crate::proto::Protocol::Tcp));
    assert_eq!(
        s.reals[0],
        RealServerDef {
            address: "198.51.100.1".parse().unwrap(),
            port: 80,
            weight: 2,
            u_threshold: 0,
            l_threshold: 0,
            check: None,
            notify_up: None,
            notify_down: None,
        }
    );
    assert_eq!(c.daemon.socket, PathBuf::from(DEFAULT_SOCKET));
    assert_eq!(c.timeouts, Timeouts::default());
}

#[test]
fn syntax_error_names_line_and_column() {
    let e = errors("[daemon]\ninterfaces = [\"eth0\"\n");
    // The unclosed array is noticed where the file ends.
    assert!(e[0].starts_with("t.toml:3:1: invalid array"), "{e:?}");
}

#[test]
fn unknown_key_is_an_error_with_help() {
    let e = errors("[daemon]\ninterfacez = []\n");
    assert!(
        e[0].starts_with("t.toml:2:1: unknown field `interfacez`"),
        "{e:?}"
    );
    assert!(e[0].contains("help:"), "{e:?}");
}

#[test]
fn every_semantic_error_is_reported_with_its_place() {
    let text = r#"[daemon]
interfaces = ["eth0"]
[[virtual_server]]
address = "192.0.2.300"
port = 80
scheduler = "maglev"
[[virtual_server]]
address = "192.0.2.1"
port = 70000
[[virtual_server]]
address = "192.0.2.2"
port = 80
forwarding = "dr"
[[virtual_server.real_server]]
address = "198.51.100.1"
port = 8080
weight = -1
"#;
    let e = errors(text);
    assert!(
        e.iter().any(|m| m.starts_with(
            "t.toml:4:11: virtual server address \"192.0.2.300\" is not an IP address"
        )),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m
                .starts_with("t.toml:6:13: unknown scheduler \"maglev\"; known: rr, wrr, lc, wlc")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("t.toml:9:8: virtual server port 70000 is not a port")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("t.toml:16:8: real server port 8080 differs")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("t.toml:17:10: weight -1 is out of range")),
        "{e:#?}"
    );
}

#[test]
fn duplicates_are_rejected() {
    let text = format!("{OK}[[virtual_server]]\naddress = \"192.0.2.1\"\nport = 80\n");
    let e = errors(&text);
    assert!(
        e.iter()
            .any(|m| m.contains("t.toml:11:11: virtual server 192.0.2.1:80 tcp is defined twice")),
        "{e:#?}"
    );
    let text = format!("{OK}[[virtual_server.real_server]]\naddress = \"198.51.100.1\"\n");
    let e = errors(&text);
    assert!(e.iter().any(|m| m.contains("is listed twice")), "{e:#?}");
}

#[test]
fn services_need_interfaces() {
    let e = errors("[[virtual_server]]\naddress = \"192.0.2.1\"\nport = 80\n");
    assert!(e[0].contains("interfaces is empty"), "{e:?}");
}

#[test]
fn ipv6_services_take_ipv6_servers_and_a_128_bit_granularity() {
    let c = parse(
        r#"
[daemon]
interfaces = ["e"]
[[virtual_server]]
address = "2001:db8::1"
port = 80
scheduler = "sh"
forwarding = "dr"
persistence_timeout = 300
[[virtual_server.real_server]]
address = "2001:db8:2::11"
[[virtual_server.real_server]]
address = "fd00::12"
[[virtual_server]]
address = "2001:db8::1"
port = 443
persistence_timeout = 300
persistence_granularity = 64
[[virtual_server.real_server]]
address = "2001:db8:2::11"
"#,
    )
    .unwrap();
    assert_eq!(c.services[0].reals.len(), 2);
    assert!(c.services[0].reals[1].address.is_ipv6());
    assert_eq!(c.services[0].persistence.unwrap().prefix, 128);
    assert_eq!(c.services[1].persistence.unwrap().prefix, 64);
    assert_eq!(c.services[1].syn_proxy, crate::service::SynProxy::Off);
}

#[test]
fn ipv6_mistakes_are_named_each_at_its_place() {
    let e = errors(
        r#"
[daemon]
interfaces = ["e"]
[[virtual_server]]
address = "2001:db8::1"
port = 21
forwarding = "tun"
ftp = true
syn_proxy = "on"
persistence_timeout = 60
persistence_granularity = "255.255.255.0"
sorry_server = "192.0.2.99"
[[virtual_server.real_server]]
address = "192.0.2.11"
[[virtual_server.real_server]]
address = "fe80::1"
[[virtual_server.real_server]]
address = "::ffff:192.0.2.12"
[[virtual_server]]
address = "192.0.2.1"
port = 80
[[virtual_server.real_server]]
address = "2001:db8:2::11"
[[firewall_mark]]
mark = 7
protocol = "tcp"
addresses = ["192.0.2.1", "2001:db8::1"]
ports = [8000]
"#,
    );
    let want = [
        "t.toml:7:14: forwarding = \"tun\" wraps IPv4 in IPv4; this virtual server is IPv6",
        "t.toml:14:11: real server 192.0.2.11 is IPv4, its virtual server IPv6",
        "t.toml:16:11: real server address fe80::1 cannot be used",
        "t.toml:18:11: real server address ::ffff:192.0.2.12 cannot be used",
        "t.toml:12:16: sorry_server 192.0.2.99 is IPv4, its virtual server IPv6",
        "t.toml:11:27: persistence_granularity \"255.255.255.0\" is not a netmask",
        "t.toml:8:7: ftp = true on an IPv6 service",
        "t.toml:9:13: syn_proxy = \"on\" needs forwarding = \"nat\"",
        "t.toml:23:11: real server 2001:db8:2::11 is IPv6, its virtual server IPv4",
        "t.toml:27:13: firewall_mark 7 mixes IPv4 and IPv6 addresses",
    ];
    for w in want {
        assert!(e.iter().any(|m| m.starts_with(w)), "{w}\nnot in {e:#?}");
    }
    assert!(e.iter().all(|m| m.contains("help:")), "{e:#?}");
}

#[test]
fn timeouts_map_to_ipvs_states() {
    let c = parse(&format!(
        "{OK}[timeouts]\ntcp = 100\ntcp_fin = 20\nudp = 30\n"
    ))
    .unwrap();
    assert_eq!(c.timeouts.tcp(TcpState::Established), 100);
    assert_eq!(c.timeouts.tcp(TcpState::TimeWait), 20);
    assert_eq!(c.timeouts.udp, 30);
}

#[test]
fn unknown_mode_words_list_the_known_ones() {
    let e = errors("[daemon]\npoll = \"fast\"\nbind = \"copy\"\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("t.toml:2:8: unknown poll mode \"fast\""),
        "{e:?}"
    );
    assert!(
        e[0].contains("help: use one of \"wakeup\", \"busy-poll\""),
        "{e:?}"
    );
    let c = parse("[daemon]\nbind = \"Zero-Copy\"\n").unwrap();
    assert_eq!(c.daemon.bind, Some(BindMode::ZeroCopy));
    assert_eq!(c.daemon.poll, None, "unset: the NIC profile decides");
}

#[test]
fn metrics_address_is_checked() {
    let c = parse(&format!("{OK}[metrics]\nlisten = \"127.0.0.1:9469\"\n")).unwrap();
    assert_eq!(c.daemon.metrics, Some("127.0.0.1:9469".parse().unwrap()));
    let e = errors(&format!("{OK}[metrics]\nlisten = \"localhost\"\n"));
    assert!(
        e[0].starts_with("t.toml:11:10: metrics listen \"localhost\" is not ADDRESS:PORT"),
        "{e:?}"
    );
    assert_eq!(parse(OK).unwrap().daemon.metrics, None, "off by default");
}

#[test]
fn dashboard_address_is_checked_like_the_metrics_one() {
    let c = parse(&format!("{OK}[dashboard]\nlisten = \"[::1]:9470\"\n")).unwrap();
    assert_eq!(c.daemon.dashboard, Some("[::1]:9470".parse().unwrap()));
    assert_eq!(parse(OK).unwrap().daemon.dashboard, None, "off by default");
    let e = errors(&format!("{OK}[dashboard]\nlisten = \"9470\"\n"));
    assert!(
        e[0].starts_with("t.toml:11:10: dashboard listen \"9470\" is not ADDRESS:PORT"),
        "{e:?}"
    );
    assert!(e[0].contains("127.0.0.1:9470"), "{e:?}");
    let e = errors(&format!(
        "{OK}[metrics]\nlisten = \"127.0.0.1:9469\"\n[dashboard]\nlisten = \"127.0.0.1:9469\"\n"
    ));
    assert!(
        e[0].starts_with("t.toml:13:10: dashboard listen 127.0.0.1:9469 is also [metrics] listen"),
        "{e:?}"
    );
}

#[test]
fn checks_take_keepalived_defaults_and_per_real_overrides() {
    let text = format!(
        "{OK}[virtual_server.check]\ntype = \"http\"\npath = \"/health\"\nstatus = [200, 204]\nfall = 3\n\
         [[virtual_server.real_server]]\naddress = \"198.51.100.2\"\n\
         [virtual_server.real_server.check]\ntype = \"tcp\"\nconnect_port = 22\ntimeout = 0.5\n"
    );
    let c = parse(&text).unwrap();
    let r = &c.services[0].reals;
    let a = r[0].check.as_ref().unwrap();
    assert_eq!(a.spec.target, "198.51.100.1:80".parse().unwrap());
    assert_eq!(a.spec.fall, 3);
    assert_eq!(
        a.spec.interval,
        std::time::Duration::from_secs(6),
        "keepalived's delay_loop default"
    );
    assert!(
        matches!(&a.spec.kind, crate::check::CheckKind::Http { path, status, .. } if path == "/health" && status == &vec![200, 204])
    );
    let b = r[1].check.as_ref().unwrap();
    assert_eq!(b.spec.kind, crate::check::CheckKind::Tcp);
    assert_eq!(b.spec.target, "198.51.100.2:22".parse().unwrap());
    assert_eq!(b.spec.timeout, std::time::Duration::from_millis(500));
}

#[test]
fn check_errors_name_the_key() {
    let e = errors(&format!(
        "{OK}[virtual_server.check]\ntype = \"tcp\"\npath = \"/\"\n"
    ));
    assert!(
        e[0].contains("t.toml:12:8: path is only for type = \"http\" checks"),
        "{e:?}"
    );
    let e = errors(&format!("{OK}[virtual_server.check]\ntype = \"icmp\"\n"));
    assert!(e[0].contains("unknown check type \"icmp\""), "{e:?}");
    let e = errors(&format!("{OK}[virtual_server.check]\ntype = \"misc\"\n"));
    assert!(e[0].contains("a misc check needs a command"), "{e:?}");
    let e = errors(&format!(
        "{OK}[virtual_server.check]\ntype = \"tcp\"\ninterval = 0\n"
    ));
    assert!(e[0].contains("interval = 0 is out of range"), "{e:?}");
}

#[test]
fn sorry_server_and_quorum() {
    let c = parse(&format!("{OK}sorry_server = \"192.0.2.99:8080\"\nquorum = 3\nhysteresis = 1\nquorum_down = \"logger down\"\n")).unwrap_err();
    // Keys after [[virtual_server.real_server]] belong to the real server.
    assert!(
        c.to_string().contains("unknown field `sorry_server`"),
        "{c}"
    );
    let text = "[daemon]\ninterfaces=[\"e\"]\n[[virtual_server]]\naddress = \"192.0.2.1\"\nport = 80\n\
                sorry_server = \"192.0.2.99\"\nquorum = 3\nhysteresis = 1\nquorum_down = \"logger down\"\n";
    let c = parse(text).unwrap();
    let s = &c.services[0];
    assert_eq!(s.sorry, Some(("192.0.2.99".parse().unwrap(), 80)));
    assert_eq!(
        s.quorum,
        Quorum {
            min: 3,
            hysteresis: 1,
            up: None,
            down: Some("logger down".into())
        }
    );
    let e = errors(&text.replace("hysteresis = 1", "hysteresis = 3"));
    assert!(e[0].contains("hysteresis 3 is not below quorum 3"), "{e:?}");
    let e = errors(&text.replace("\"192.0.2.99\"", "\"nope:1\""));
    assert!(
        e[0].contains("sorry_server \"nope:1\" is not ADDRESS"),
        "{e:?}"
    );
}

#[test]
fn ssl_checks_are_http_over_tls() {
    let c = parse(&format!(
        "{OK}[virtual_server.check]\ntype = \"ssl\"\npath = \"/hc\"\n"
    ))
    .unwrap();
    let k = &c.services[0].reals[0].check.as_ref().unwrap().spec.kind;
    assert!(
        matches!(k, crate::check::CheckKind::Http { tls: true, path, .. } if path == "/hc"),
        "{k:?}"
    );
}

#[test]
fn persistence_timeout_and_granularity() {
    let base = "[daemon]\ninterfaces=[\"e\"]\n[[virtual_server]]\naddress = \"192.0.2.1\"\nport = 80\npersistence_timeout = 9600\n";
    let p = |extra: &str| parse(&format!("{base}{extra}")).map(|c| c.services[0].persistence);
    let want = |prefix| {
        Ok(Some(crate::service::Persistence {
            timeout: 9600,
            prefix,
        }))
    };
    assert_eq!(p(""), want(32));
    assert_eq!(p("persistence_granularity = 24\n"), want(24));
    assert_eq!(p("persistence_granularity = \"255.255.0.0\"\n"), want(16));
    let e = errors(&format!(
        "{base}persistence_granularity = \"255.0.255.0\"\n"
    ));
    assert!(
        e[0].contains("7:27: persistence_granularity \"255.0.255.0\" is not a netmask"),
        "{e:?}"
    );
}

#[test]
fn firewall_mark_rules_and_services() {
    let base = "[daemon]\ninterfaces=[\"e\"]\n\
        [[firewall_mark]]\nmark = 21\naddresses = [\"192.0.2.1\"]\nports = [21]\nport_ranges = [\"10000-20000\"]\n\
        [[virtual_server]]\nfwmark = 21\npersistence_timeout = 300\n\
        [[virtual_server.real_server]]\naddress = \"198.51.100.1\"\n";
    let c = parse(base).unwrap();
    assert_eq!(c.mark_rules[0].ports, vec![(21, 21), (10000, 20000)]);
    let s = &c.services[0];
    assert_eq!(
        (s.key.mark(), s.name.as_str(), s.reals[0].port),
        (Some(21), "fwmark 21", 0),
        "real keeps the client's port"
    );
    let e = errors(&base.replace("fwmark = 21", "fwmark = 22"));
    assert!(
        e[0].contains("no [[firewall_mark]] rule gives mark 22"),
        "{e:?}"
    );
    let e = errors(&base.replace("\"10000-20000\"", "\"20000-10000\""));
    assert!(
        e[0].contains("port range \"20000-10000\" is not LOW-HIGH"),
        "{e:?}"
    );
    let clash = format!("{base}[[virtual_server]]\naddress = \"192.0.2.1\"\nport = 21\n");
    assert!(errors(&clash)
        .iter()
        .any(|m| m.contains("192.0.2.1:21 is both this virtual server and firewall_mark 21")));
    let e = errors(&base.replace("fwmark = 21", "fwmark = 21\naddress = \"192.0.2.1\""));
    assert!(
        e[0].contains("a fwmark virtual server has no address or port"),
        "{e:?}"
    );
}

const VRRP: &str = r#"
[vrrp]
version = 3
garp_master_repeat = 3
notification_email = ["ops@example.com"]

[[vrrp_instance]]
name = "VI_OUT"
interface = "out0"
virtual_router_id = 51
priority = 150
advert_int = 0.5
virtual_ipaddress = ["10.200.1.100/32", "10.200.1.101 dev out1"]
track_interface = ["in0", "out1 weight -20"]
unicast_peer = ["10.200.1.3"]
notify_master = "/bin/true"

[[vrrp_instance]]
name = "VI_IN"
interface = "in0"
virtual_router_id = 52
version = 2
nopreempt = true
authentication = { auth_type = "PASS", auth_pass = "secret" }
virtual_ipaddress = ["10.200.2.100/24"]

[[vrrp_sync_group]]
name = "VG"
group = ["VI_OUT", "VI_IN"]
"#;

#[test]
fn a_vrrp_only_config_is_valid_and_keeps_every_keyword() {
    let c = parse(VRRP).unwrap();
    assert!(c.services.is_empty() && c.daemon.interfaces.is_empty());
    let v = &c.vrrp;
    assert_eq!(v.instances.len(), 2);
    let out = &v.instances[0];
    assert_eq!(out.version, xlb_vrrp::packet::Version::V3);
    assert_eq!(out.advert_interval, std::time::Duration::from_millis(500));
    assert_eq!(out.priority, 150);
    assert!(out.preempt);
    assert_eq!(out.vips[1].dev.as_deref(), Some("out1"));
    assert_eq!(out.vips[0].prefix, 32);
    assert_eq!(out.track[1].weight, -20);
    assert_eq!(out.track[0].weight, 0);
    assert_eq!(out.garp.repeat, 3, "from [vrrp]");
    let inn = &v.instances[1];
    assert_eq!(inn.version, xlb_vrrp::packet::Version::V2);
    assert!(!inn.preempt);
    assert_eq!(inn.auth, Some(*b"secret\0\0"));
    assert_eq!(inn.priority, 100, "keepalived's default");
    assert_eq!(v.groups[0].members, ["VI_OUT", "VI_IN"]);
    assert_eq!(v.mail.to, ["ops@example.com"]);
}

#[test]
fn vrrp_mistakes_are_named_with_their_place() {
    let bad = VRRP
        .replace("virtual_router_id = 52", "virtual_router_id = 256")
        .replace("advert_int = 0.5", "advert_int = 41")
        .replace(
            "group = [\"VI_OUT\", \"VI_IN\"]",
            "group = [\"VI_OUT\", \"VI_NONE\"]",
        )
        .replace("\"out1 weight -20\"", "\"out1 heavy\"");
    let e = errors(&bad).join("\n");
    assert!(e.contains("virtual_router_id 256 is out of range"), "{e}");
    assert!(e.contains("advert_int = 41 is out of range"), "{e}");
    assert!(
        e.contains("\"VI_NONE\", which is not a vrrp_instance"),
        "{e}"
    );
    assert!(e.contains("cannot read track_interface"), "{e}");
    assert!(e.contains("t.toml:"), "{e}");

    let v2_auth_on_v3 = VRRP.replace("version = 2\n", "");
    let e = errors(&v2_auth_on_v3).join("\n");
    assert!(e.contains("VRRPv3 has no authentication"), "{e}");

    let v6_on_v2 = VRRP.replace("10.200.2.100/24", "2001:db8::1/64");
    let e = errors(&v6_on_v2).join("\n");
    assert!(
        e.contains("IPv6 virtual addresses need VRRP version 3"),
        "{e}"
    );

    let dup = VRRP.replace(
        "virtual_router_id = 52",
        "virtual_router_id = 51\ninterface2 = 1",
    );
    assert!(
        errors(&dup).join("\n").contains("interface2"),
        "unknown keys are refused"
    );
    let same_vrid = VRRP
        .replace("virtual_router_id = 52", "virtual_router_id = 51")
        .replace("interface = \"in0\"", "interface = \"out0\"");
    let e = errors(&same_vrid).join("\n");
    assert!(
        e.contains("already used by vrrp_instance \"VI_OUT\""),
        "{e}"
    );

    let shared_vip = VRRP.replace("10.200.2.100/24", "10.200.1.100/32");
    let e = errors(&shared_vip).join("\n");
    assert!(e.contains("also a virtual address"), "{e}");
}

#[test]
fn the_ftp_helper_is_for_nat_tcp_services_only() {
    let ok = OK.replace(
        "port = 80\n",
        "port = 21\nforwarding = \"nat\"\nftp = true\n",
    );
    assert!(parse(&ok).unwrap().services[0].ftp);
    let dr = OK.replace(
        "port = 80\n",
        "port = 21\nforwarding = \"dr\"\nftp = true\n",
    );
    let e = errors(&dr).join("\n");
    assert!(e.contains("ftp = true needs forwarding = \"nat\""), "{e}");
    assert!(e.contains("firewall_mark"), "the DR recipe is named: {e}");
    let udp = OK.replace("port = 80\n", "port = 21\nprotocol = \"udp\"\nftp = true\n");
    assert!(errors(&udp).join("\n").contains("needs a TCP service"));
}

#[test]
fn a_per_client_cap_of_zero_is_an_error() {
    let t = |v: &str| {
        OK.replace(
            "port = 80\n",
            &format!("port = 80\nmax_conns_per_client = {v}\n"),
        )
    };
    assert_eq!(
        parse(&t("20")).unwrap().services[0].max_conns_per_client,
        20
    );
    let e = errors(&t("0")).join("\n");
    assert!(
        e.contains("max_conns_per_client = 0 would refuse every connection"),
        "{e}"
    );
}

#[test]
fn a_rate_limit_of_zero_is_an_error() {
    let t = |v: &str| OK.replace("port = 80\n", &format!("port = 80\nmax_conn_rate = {v}\n"));
    assert_eq!(parse(&t("500")).unwrap().services[0].max_conn_rate, 500);
    assert_eq!(parse(OK).unwrap().services[0].max_conn_rate, 0);
    let e = errors(&t("0")).join("\n");
    assert!(
        e.contains("max_conn_rate = 0 would refuse every connection"),
        "{e}"
    );
}

#[test]
fn connection_thresholds_need_the_lower_below_the_upper() {
    let t = |extra: &str| OK.replace("weight = 2\n", &format!("weight = 2\n{extra}"));
    let c = parse(&t("uthreshold = 100\nlthreshold = 60\n")).unwrap();
    assert_eq!(
        (
            c.services[0].reals[0].u_threshold,
            c.services[0].reals[0].l_threshold
        ),
        (100, 60)
    );
    let c = parse(&t("uthreshold = 100\n")).unwrap();
    assert_eq!(
        c.services[0].reals[0].l_threshold, 0,
        "3/4 of the upper, as IPVS"
    );
    let e = errors(&t("lthreshold = 60\n")).join("\n");
    assert!(
        e.contains("t.toml:10:14: lthreshold 60 without a uthreshold"),
        "{e}"
    );
    let e = errors(&t("uthreshold = 50\nlthreshold = 60\n")).join("\n");
    assert!(
        e.contains("lthreshold 60 is not below uthreshold 50"),
        "{e}"
    );
}

#[test]
fn the_syn_proxy_is_auto_on_nat_tcp_and_refused_where_it_cannot_work() {
    use crate::service::SynProxy;
    let c = parse(OK).unwrap();
    assert_eq!(c.services[0].syn_proxy, SynProxy::Auto);
    assert_eq!(c.daemon.syn_proxy_threshold, 0);
    let on = OK.replace("port = 80\n", "port = 80\nsyn_proxy = \"on\"\n");
    assert_eq!(parse(&on).unwrap().services[0].syn_proxy, SynProxy::On);
    // "auto" where it cannot work is quietly off; "on" is an error.
    let dr = OK.replace("port = 80\n", "port = 80\nforwarding = \"dr\"\n");
    assert_eq!(parse(&dr).unwrap().services[0].syn_proxy, SynProxy::Off);
    let dr_on = dr.replace("port = 80\n", "port = 80\nsyn_proxy = \"on\"\n");
    let e = errors(&dr_on).join("\n");
    assert!(
        e.contains("t.toml:7:13: syn_proxy = \"on\" needs forwarding = \"nat\""),
        "{e}"
    );
    assert!(e.contains("docs/security.md"), "{e}");
    let udp = on.replace("port = 80\n", "port = 80\nprotocol = \"udp\"\n");
    assert!(errors(&udp).join("\n").contains("is for TCP services"));
    let ftp = on.replace("port = 80\n", "port = 21\nftp = true\n");
    assert!(errors(&ftp).join("\n").contains("FTP helper"));
    let two = on.replace("[daemon]\n", "[daemon]\nworkers = 2\n");
    assert_eq!(parse(&two).unwrap().services[0].syn_proxy, SynProxy::On);
    let bad = OK.replace("port = 80\n", "port = 80\nsyn_proxy = \"yes\"\n");
    let e = errors(&bad).join("\n");
    assert!(
        e.contains("syn_proxy = \"yes\" is not a SYN proxy mode"),
        "{e}"
    );
    assert!(e.contains("use one of off, auto, on"), "{e}");
    let t = OK.replace(
        "[daemon]\n",
        "[daemon]\nconn_table_size = 4096\nsyn_proxy_threshold = 100\n",
    );
    assert_eq!(parse(&t).unwrap().daemon.syn_proxy_threshold, 100);
    let t = OK.replace(
        "[daemon]\n",
        "[daemon]\nconn_table_size = 4096\nsyn_proxy_threshold = 5000\n",
    );
    assert!(errors(&t)
        .join("\n")
        .contains("syn_proxy_threshold = 5000 is out of range"));
}

#[test]
fn every_problem_of_a_file_is_reported_at_once_unknown_keys_included() {
    let e = errors(
        "[daemon]\ninterfaces = [\"eth0\"]\nworkerz = 2\n\
         [[virtual_server]]\naddress = \"10.0.0.300\"\nport = 80\n\
         [[virtual_server.real_server]]\naddress = \"192.0.2.1\"\nwieght = 2\n",
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(
        e.iter()
            .any(|x| x.starts_with("t.toml:3:1: unknown field `workerz` in [daemon]")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|x| x
                .starts_with("t.toml:9:1: unknown field `wieght` in [virtual_server.real_server]")),
        "{e:#?}"
    );
    assert!(
        e.iter().any(|x| x.contains("is not an IP address")),
        "{e:#?}"
    );
    assert!(e.iter().all(|x| x.contains("help:")), "{e:#?}");
}

#[test]
fn a_syntax_error_says_how_to_fix_it() {
    let e = errors("[daemon]\nsocket = \"C:\\xlb\"\n");
    assert!(e[0].contains("invalid"), "{e:?}");
    assert!(e[0].contains("help: a string is in double quotes"), "{e:?}");
    let e = errors("[daemon]\ninterfaces = [\"a\" \"b\"]\n");
    assert!(e[0].contains("help: an array is [a, b, c]"), "{e:?}");
    let e = errors("[daemon]\ninterfaces\n");
    assert!(
        e[0].contains("help: write one key = value per line"),
        "{e:?}"
    );
}

/// keepalived.conf or haproxy.cfg given where TOML belongs: the help
/// names `xlbctl import`, not a TOML rule.
#[test]
fn another_directors_file_points_at_import() {
    let keepalived =
        "global_defs {\n  router_id LVS_1\n}\nvirtual_server 192.0.2.1 80 {\n  lb_algo rr\n}\n";
    let e = errors(keepalived);
    assert!(e[0].contains("looks like a keepalived.conf"), "{e:?}");
    assert!(e[0].contains("xlbctl import"), "{e:?}");
    let haproxy = "global\n  maxconn 4000\nfrontend main\n  bind :80\n  default_backend app\n";
    let e = errors(haproxy);
    assert!(e[0].contains("looks like a haproxy.cfg"), "{e:?}");
    // A TOML file with a key named like a section keyword is not mistaken.
    let e = errors("[proxy]\ndefaults = [\n");
    assert!(!e[0].contains("looks like"), "{e:?}");
}

#[test]
fn a_wrong_type_points_at_the_reference() {
    let e = errors("[daemon]\nconn_table_size = \"big\"\n");
    assert!(
        e[0].contains("help: docs/config.md gives every key with its type"),
        "{e:?}"
    );
}

const SYNC: &str = r#"
[sync]
interface = "sync0"
sync_id = 7
group = "239.1.1.81"
port = 8849
ttl = 2
maxlen = 1400
"#;

#[test]
fn a_sync_section_keeps_every_key() {
    let c = parse(SYNC).unwrap();
    assert_eq!(
        c.sync,
        Some(SyncSettings {
            interface: "sync0".into(),
            sync_id: 7,
            peers: SyncPeers::Group("239.1.1.81".parse().unwrap()),
            port: 8849,
            ttl: 2,
            maxlen: Some(1400),
        })
    );
    assert_eq!(parse(OK).unwrap().sync, None, "no [sync]: off");
}

#[test]
fn sync_defaults_are_the_kernels() {
    let c = parse("[sync]\ninterface = \"sync0\"\n").unwrap();
    assert_eq!(
        c.sync,
        Some(SyncSettings {
            interface: "sync0".into(),
            sync_id: 0,
            peers: SyncPeers::Group("224.0.0.81".parse().unwrap()),
            port: 8848,
            ttl: 1,
            maxlen: None,
        })
    );
}

#[test]
fn sync_peers_are_unicast() {
    let c = parse("[sync]\ninterface = \"sync0\"\npeers = [\"10.0.0.2\", \"10.0.0.3\"]\n").unwrap();
    assert_eq!(
        c.sync.unwrap().peers,
        SyncPeers::Unicast(vec![
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap()
        ])
    );
    let c = parse("[sync]\ninterface = \"sync0\"\npeers = [\"2001:db8::2\"]\n").unwrap();
    assert_eq!(
        c.sync.unwrap().peers,
        SyncPeers::Unicast(vec!["2001:db8::2".parse().unwrap()])
    );
}

/// Each mistake alone: its place, what is wrong and how to fix it.
#[test]
fn sync_mistakes_are_named_with_their_place_and_fix() {
    let one = |text: &str| {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:#?}");
        e.into_iter().next().unwrap()
    };
    let e = one("[daemon]\n\n[sync]\nsync_id = 1\n");
    assert!(
        e.starts_with("t.toml:3:2: [sync] names no interface"),
        "{e}"
    );
    assert!(e.contains("help: add interface = \"eth1\""), "{e}");

    let e = one(&SYNC.replace("sync_id = 7", "sync_id = 300"));
    assert!(
        e.starts_with("t.toml:4:11: sync_id 300 is out of range"),
        "{e}"
    );
    assert!(
        e.contains("help: use 0 to 255, the same on both directors"),
        "{e}"
    );

    let e = one(&SYNC.replace("239.1.1.81", "10.0.0.81"));
    assert!(
        e.starts_with("t.toml:5:9: sync group 10.0.0.81 is not a multicast address"),
        "{e}"
    );
    assert!(
        e.contains("help: a group is a multicast address (224.0.0.81"),
        "{e}"
    );
    assert!(e.contains("peers = [\"ADDRESS\"] instead of group"), "{e}");

    let e = one(&SYNC.replace("port = 8849", "peers = [\"10.0.0.2\"]"));
    assert!(
        e.starts_with("t.toml:5:9: [sync] has both a group and peers"),
        "{e}"
    );
    assert!(
        e.contains("help: updates go to a multicast group or to unicast peers: keep one"),
        "{e}"
    );

    let e = one("[sync]\ninterface = \"sync0\"\npeers = [\"10.0.0.2\", \"224.0.0.81\"]\n");
    assert!(
        e.starts_with("t.toml:3:22: sync peer 224.0.0.81 is a multicast address"),
        "{e}"
    );
    assert!(
        e.contains("write group = \"224.0.0.81\" and no peers"),
        "{e}"
    );

    let e = one(&SYNC.replace("ttl = 2", "ttl = 0"));
    assert!(
        e.starts_with("t.toml:7:7: sync ttl 0 is out of range"),
        "{e}"
    );
    assert!(e.contains("help: use 1 to 255; 1, the default"), "{e}");

    let e = one(&SYNC.replace("port = 8849", "port = 0"));
    assert!(
        e.starts_with("t.toml:6:8: sync port 0 is out of range"),
        "{e}"
    );
    assert!(
        e.contains("help: use 1 to 65535, the same on both directors"),
        "{e}"
    );

    let e = one(&SYNC.replace("maxlen = 1400", "maxlen = 100"));
    assert!(
        e.starts_with("t.toml:8:10: sync maxlen 100 is out of range"),
        "{e}"
    );
    let e = one(&SYNC.replace("\"sync0\"", "\"a-very-long-sync-if\""));
    assert!(e.contains("is not a valid interface name"), "{e}");
    let e = one("[sync]\ninterface = \"s\"\npeers = [\"10.0.0.2\", \"2001:db8::2\"]\n");
    assert!(
        e.contains("sync peer 2001:db8::2 is IPv6 but the first peer, 10.0.0.2, is not"),
        "{e}"
    );
    let e = one("[sync]\ninterface = \"s\"\npeers = [\"10.0.0.2\", \"10.0.0.2\"]\n");
    assert!(e.contains("sync peer 10.0.0.2 is listed twice"), "{e}");
}

#[test]
fn every_sync_mistake_is_reported_at_once() {
    let e = errors("[sync]\nsync_id = -1\nport = 70000\nttl = 256\npeers = [\"nope\"]\n");
    assert_eq!(e.len(), 5, "{e:#?}");
    for want in [
        "t.toml:1:2: [sync] names no interface",
        "t.toml:2:11: sync_id -1 is out of range",
        "t.toml:3:8: sync port 70000 is out of range",
        "t.toml:4:7: sync ttl 256 is out of range",
        "t.toml:5:10: sync peer \"nope\" is not an IP address",
    ] {
        assert!(e.iter().any(|m| m.starts_with(want)), "{want}: {e:#?}");
    }
    assert!(e.iter().all(|m| m.contains("help:")), "{e:#?}");
}

#[test]
fn socket_access_defaults_to_root_only() {
    let c = parse(OK).unwrap();
    assert_eq!(c.daemon.socket_access, SocketAccess::default());
    assert_eq!(c.daemon.socket_access.mode, 0o600);
}

#[test]
fn socket_access_is_read_and_checked() {
    let c = parse(&format!(
        "[daemon]\nsocket_mode = \"0660\"\nsocket_owner = \"root\"\nsocket_group = \"xlb\"\n{}",
        OK.replace("[daemon]\n", "")
    ))
    .unwrap();
    assert_eq!(
        c.daemon.socket_access,
        SocketAccess {
            mode: 0o660,
            owner: Some("root".into()),
            group: Some("xlb".into()),
        }
    );
    let e = errors("[daemon]\nsocket_mode = \"0666\"\n");
    assert!(
        e[0].starts_with("t.toml:2:15: socket_mode \"0666\" lets every local user control xlbd"),
        "{e:?}"
    );
    assert!(e[0].contains("help: the API reloads and drains"), "{e:?}");
    let e = errors("[daemon]\nsocket_mode = \"rw-rw----\"\n");
    assert!(e[0].contains("is not an octal file mode"), "{e:?}");
    let e = errors("[daemon]\nsocket_mode = \"4770\"\n");
    assert!(e[0].contains("is not an octal file mode"), "{e:?}");
    let e = errors("[daemon]\nsocket_group = \"\"\n");
    assert!(e[0].contains("socket_group \"\" is not a name"), "{e:?}");
}

#[test]
fn sloppy_tcp_defaults_on_where_every_director_picks_the_same_server() {
    let t = |extra: &str| {
        let c = parse(&OK.replace("port = 80\n", &format!("port = 80\n{extra}"))).unwrap();
        c.services[0].sloppy_tcp
    };
    assert!(!t(""), "NAT wlc: only a SYN opens");
    assert!(t("forwarding = \"dr\"\nscheduler = \"mh\"\n"));
    assert!(t("forwarding = \"dr\"\nscheduler = \"sh\"\n"));
    assert!(!t("forwarding = \"dr\"\nscheduler = \"rr\"\n"));
    assert!(!t("scheduler = \"mh\"\n"), "NAT: sync carries the flows");
    assert!(!t(
        "forwarding = \"dr\"\nscheduler = \"mh\"\nsloppy_tcp = false\n"
    ));
    assert!(t("sloppy_tcp = true\n"));
}

#[test]
fn an_announce_section_keeps_every_key_and_defaults_the_paths() {
    let text = format!(
        "{OK}[announce]\nconfig = \"/etc/xlb/bird.conf\"\nvips = [\"192.0.2.1\"]\ndrain = true\n"
    );
    let a = parse(&text).unwrap().announce.unwrap();
    assert_eq!(
        a,
        AnnounceSettings {
            bird: "/usr/sbin/bird".into(),
            config: "/etc/xlb/bird.conf".into(),
            routes: "/run/xlb/bird-vips.conf".into(),
            control_socket: "/run/xlb/bird.ctl".into(),
            vips: Some(["192.0.2.1".parse().unwrap()].into()),
            drain: true,
        }
    );
    assert_eq!(parse(OK).unwrap().announce, None, "no [announce]: off");
    let all = parse(&format!("{OK}[announce]\nconfig = \"/b.conf\"\n")).unwrap();
    assert_eq!(all.announce.unwrap().vips, None, "no vips: every service's");
}

#[test]
fn announce_errors_are_placed_and_say_what_to_do() {
    let e = errors(&format!("{OK}[announce]\nspeaker = \"exabgp\"\n"));
    assert!(
        e.iter()
            .any(|e| e.contains("t.toml:11:11") && e.contains("\"exabgp\" is not supported")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|e| e.contains("t.toml:10:2")
            && e.contains("names no BIRD config")
            && e.contains("include")),
        "{e:?}"
    );
    let e = errors(&format!(
        "{OK}[announce]\nconfig = \"bird.conf\"\nvips = [\"192.0.2.9\", \"nope\"]\n"
    ));
    assert!(
        e.iter()
            .any(|e| e.contains("t.toml:11:10") && e.contains("not an absolute path")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|e| e.contains("t.toml:12:9")
            && e.contains("192.0.2.9 is the address of no virtual server")
            && e.contains("192.0.2.1")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("t.toml:12:22") && e.contains("\"nope\" is not an IP address")),
        "{e:?}"
    );
    let e = errors(&format!(
        "{OK}[announce]\nconfig = \"/b.conf\"\nroutes = \"/b.conf\"\nvips = []\n"
    ));
    assert!(
        e.iter()
            .any(|e| e.contains("t.toml:12:10") && e.contains("BIRD's configuration file itself")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("t.toml:13:8") && e.contains("vips is empty")),
        "{e:?}"
    );
}

#[test]
fn an_announced_vip_cannot_also_be_a_vrrp_address() {
    let text = format!(
        "{OK}[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\n\
         virtual_ipaddress = [\"192.0.2.1\"]\n[announce]\nconfig = \"/b.conf\"\n"
    );
    let e = errors(&text);
    assert!(
        e.iter()
            .any(|e| e.contains("192.0.2.1 would be announced and is also a VRRP virtual address")),
        "{e:?}"
    );
}
