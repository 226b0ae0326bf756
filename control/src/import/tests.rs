use super::*;
use crate::config::Config;
use std::path::Path;

/// The NAT example of the source document (keepalived's LVS NAT pair,
/// docs/design/source.md), verbatim.
const DIGEST_NAT: &str = include_str!("../../../tests/import/digest-nat.conf");
/// The digest's direct-routing example, written out from its description.
const DIGEST_DR: &str = include_str!("../../../tests/import/digest-dr.conf");

fn validate(toml: &str) -> Config {
    Config::parse(Path::new("imported.toml"), toml)
        .unwrap_or_else(|e| panic!("{e}\n--- output:\n{toml}"))
}

#[test]
fn digest_nat_example_converts_and_validates() {
    let out = import(DIGEST_NAT).unwrap();
    let c = validate(&out.toml);
    assert_eq!(
        c.daemon.interfaces,
        vec!["eth0", "eth1"],
        "NICs from the VRRP instances"
    );
    let s = &c.services[0];
    let (addr, port, _) = s.key.address().unwrap();
    assert_eq!((addr.to_string(), port), ("192.168.1.11".into(), 80));
    assert_eq!(s.scheduler.name(), "rr");
    assert_eq!(s.forwarding, xlb_model::Forwarding::Nat);
    assert_eq!(s.reals.len(), 4);
    let chk = s.reals[3].check.as_ref().unwrap();
    assert_eq!(chk.spec.kind, xlb_checks::CheckKind::Tcp);
    assert_eq!(chk.spec.timeout, std::time::Duration::from_secs(10));
    assert_eq!(
        chk.spec.interval,
        std::time::Duration::from_secs(6),
        "delay_loop"
    );
    // The same check on every real server became the service's.
    assert!(out.toml.contains("[virtual_server.check]"), "{}", out.toml);
    assert!(
        !out.toml.contains("[virtual_server.real_server.check]"),
        "{}",
        out.toml
    );
    // VRRP and the mail settings translate: nothing to warn about.
    assert!(out.warnings.is_empty(), "{:#?}", out.warnings);
    let v = &c.vrrp;
    assert_eq!(v.instances.len(), 2);
    let ext = &v.instances[0];
    assert_eq!(
        (ext.name.as_str(), ext.interface.as_str(), ext.vrid),
        ("RH_EXT", "eth0", 50)
    );
    assert_eq!(ext.priority, 100);
    assert!(ext.start_as_master, "state MASTER");
    assert_eq!(
        ext.auth,
        Some(*b"password"),
        "keepalived sends the first 8 bytes"
    );
    assert_eq!(ext.vips[0].addr.to_string(), "10.0.0.1");
    assert_eq!(ext.vips[0].prefix, 32);
    let int = &v.instances[1];
    assert_eq!(
        (int.interface.as_str(), int.vrid),
        ("eth1", 2),
        "one-line block"
    );
    assert_eq!(v.groups[0].name, "VG1");
    assert_eq!(v.groups[0].members, ["RH_EXT", "RH_INT"]);
    assert_eq!(v.mail.to, ["admin@example.com"]);
    assert_eq!(v.mail.smtp_server.as_deref(), Some("127.0.0.1"));
}

#[test]
fn a_keepalived_pair_converts_with_every_vrrp_keyword() {
    let conf = r#"
global_defs {
  router_id LB2
  vrrp_version 3
  vrrp_garp_master_delay 2
  enable_script_security
}
vrrp_sync_group VG {
  group {
    VI_OUT
    VI_IN
  }
  notify_master "/etc/xlb/master.sh VG"
  smtp_alert
}
vrrp_instance VI_OUT {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 90
  advert_int 0.5
  nopreempt
  preempt_delay 2.4
  unicast_src_ip 192.0.2.2
  unicast_peer {
    192.0.2.1
  }
  track_interface {
    eth2 weight -20
    eth3
  }
  virtual_ipaddress {
    192.0.2.100/32 dev eth0 label eth0:vip
    192.0.2.101
  }
  lvs_sync_daemon_interface eth1
  notify_backup /bin/true
}
vrrp_instance VI_IN {
  interface eth1
  virtual_router_id 52
  virtual_ipaddress { 10.1.0.1/24 }
  virtual_ipaddress_excluded { 10.1.0.2/24 }
}
"#;
    let out = import(conf).unwrap();
    let c = validate(&out.toml);
    assert!(
        c.daemon.interfaces.is_empty(),
        "no virtual_server: VRRP only"
    );
    let v = &c.vrrp;
    let o = &v.instances[0];
    assert_eq!(o.version, xlb_vrrp::packet::Version::V3, "from global_defs");
    assert_eq!(o.advert_interval, std::time::Duration::from_millis(500));
    assert!(!o.preempt && !o.start_as_master);
    assert_eq!(o.preempt_delay, std::time::Duration::from_secs(2));
    assert_eq!(
        o.unicast_src.map(|a| a.to_string()).as_deref(),
        Some("192.0.2.2")
    );
    assert_eq!(o.unicast_peers.len(), 1);
    assert_eq!(o.track.len(), 2);
    assert_eq!(
        (o.track[0].interface.as_str(), o.track[0].weight),
        ("eth2", -20)
    );
    assert_eq!(o.vips.len(), 2);
    assert_eq!(o.vips[0].dev.as_deref(), Some("eth0"));
    assert_eq!(o.notify.backup.as_deref(), Some("/bin/true"));
    assert_eq!(o.garp.delay, std::time::Duration::from_secs(2));
    assert_eq!(v.instances[1].vips.len(), 2, "excluded addresses kept");
    assert_eq!(v.groups[0].members, ["VI_OUT", "VI_IN"]);
    assert_eq!(
        v.groups[0].notify.master.as_deref(),
        Some("/etc/xlb/master.sh VG")
    );
    assert!(v.groups[0].notify.mail);
    assert_eq!(v.router_id.as_deref(), Some("LB2"));
    let warned: Vec<&str> = out.warnings.iter().map(|w| w.1.as_str()).collect();
    for want in [
        "enable_script_security",
        "label eth0:vip",
        "lvs_sync_daemon_interface",
        "preempt_delay 2.4",
        "virtual_ipaddress_excluded",
    ] {
        assert!(
            warned.iter().any(|w| w.contains(want)),
            "no warning for {want}: {warned:#?}"
        );
    }
    assert_eq!(out.warnings.len(), 5, "{warned:#?}");
}

#[test]
fn digest_dr_example_converts_and_validates() {
    let out = import(DIGEST_DR).unwrap();
    let c = validate(&out.toml);
    // Its real servers (192.168.1.0/24) are on no subnet its only VRRP
    // address (10.0.0.1 on eth0) names: said, line by line.
    let lines: Vec<usize> = out.warnings.iter().map(|w| w.0).collect();
    assert_eq!(lines, vec![17, 24, 31], "{:#?}", out.warnings);
    assert!(out.warnings[0]
        .1
        .starts_with("real server 192.168.1.20: no VRRP address shares its subnet"));
    assert!(
        out.toml
            .contains("# XLB-IMPORT: add the NIC that reaches 192.168.1.20"),
        "{}",
        out.toml
    );
    let s = &c.services[0];
    assert_eq!(s.forwarding, xlb_model::Forwarding::Dr);
    assert!(s.reals.iter().all(|r| r.weight == 1 && r.port == 80));
    assert_eq!(s.reals[0].check.as_ref().unwrap().spec.target.port(), 80);
    assert_eq!(
        s.persistence.map(|p| p.timeout),
        Some(9600),
        "persistence_timeout 9600"
    );
}

/// A NAT pair whose inside gateway address sits on another NIC (`dev`)
/// than its instance: both NICs are the dataplane's, and the real servers
/// behind the gateway are reached without a warning.
#[test]
fn interfaces_come_from_addresses_dev_too() {
    let conf = r#"
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  virtual_ipaddress {
    192.0.2.10/24
    10.1.0.254/24 dev eth1
  }
}
virtual_server 192.0.2.10 80 {
  lb_kind NAT
  real_server 10.1.0.11 80 { weight 1 }
  real_server 10.2.0.11 80 { weight 1 }
}
"#;
    let out = import(conf).unwrap();
    let c = validate(&out.toml);
    assert_eq!(c.daemon.interfaces, vec!["eth0", "eth1"]);
    let unreached: Vec<&str> = out
        .warnings
        .iter()
        .filter(|w| w.1.contains("no VRRP address shares its subnet"))
        .map(|w| w.1.as_str())
        .collect();
    assert_eq!(unreached.len(), 1, "{:#?}", out.warnings);
    assert!(
        unreached[0].starts_with("real server 10.2.0.11:"),
        "{unreached:?}"
    );
}

#[test]
fn checkers_translate_with_their_options() {
    let conf = r#"
virtual_server 10.0.0.1 443 {
  lb_algo random
  lb_kind TUN
  real_server 10.0.1.1 443 {
    inhibit_on_failure
    HTTP_GET {
      url { path /health digest 900150983cd24fb0d6963f7d28e17f72 status_code 204 }
      connect_timeout 3
      nb_get_retry 2
      delay_before_retry 1
    }
    MISC_CHECK { misc_path "/bin/true x" }
  }
  real_server 10.0.1.2 443 { SSL_GET { url { path / } } }
  real_server 10.0.1.3 443 { MISC_CHECK { misc_path "/usr/bin/check" misc_timeout 4 misc_dynamic } }
}
virtual_server fwmark 80 { lb_algo rr persistence_timeout 600 real_server 10.0.2.1 0 { weight 2 } }
"#;
    let out = import(conf).unwrap();
    let c = validate(&out.toml);
    let r = &c.services[0].reals;
    let a = r[0].check.as_ref().unwrap();
    assert!(a.inhibit_on_failure);
    assert_eq!((a.spec.retry, a.spec.timeout.as_secs()), (2, 3));
    assert!(
        matches!(&a.spec.kind, xlb_checks::CheckKind::Http { path, status, digest: Some(_), .. } if path == "/health" && status == &vec![204])
    );
    assert_eq!(
        r[1].check.as_ref().unwrap().spec.kind,
        xlb_checks::CheckKind::Http {
            tls: true,
            path: "/".into(),
            host: None,
            status: vec![],
            digest: None
        },
        "SSL_GET is HTTP over TLS"
    );
    assert_eq!(
        r[2].check.as_ref().unwrap().spec.kind,
        xlb_checks::CheckKind::Misc {
            command: "/usr/bin/check".into(),
            dynamic: true
        }
    );
    for w in [
        "lb_algo random",
        "lb_kind TUN",
        "MISC_CHECK: xlb runs one check",
        "fwmark 80: wrote a placeholder",
    ] {
        assert!(
            out.warnings.iter().any(|(_, x)| x.contains(w)),
            "no warning about {w}: {:#?}",
            out.warnings
        );
    }
}

#[test]
fn syntax_errors_name_the_line() {
    let e = import("virtual_server 10.0.0.1 80 {\n  lb_algo rr\n")
        .err()
        .unwrap();
    assert_eq!(e.line, 1);
    assert!(e.message.contains("never closed"));
}

#[test]
fn quorum_sorry_server_and_notify_translate() {
    let conf = r#"
virtual_server 10.0.0.1 80 {
  lb_algo wrr
  sorry_server 10.0.9.9 8080
  quorum 2
  hysteresis 1
  quorum_down "/usr/bin/logger quorum down"
  real_server 10.0.1.1 80 { weight 2 notify_down "/bin/echo down" }
}
"#;
    let out = import(conf).unwrap();
    assert!(
        out.warnings
            .iter()
            .filter(|(_, w)| !w.starts_with("sorry server 10.0.9.9: no VRRP address"))
            .all(|(_, w)| !w.contains("quorum") && !w.contains("sorry")),
        "{:#?}",
        out.warnings
    );
    let c = validate(&out.toml);
    let s = &c.services[0];
    assert_eq!(s.sorry, Some(("10.0.9.9".parse().unwrap(), 8080)));
    assert_eq!((s.quorum.min, s.quorum.hysteresis), (2, 1));
    assert_eq!(
        s.quorum.down.as_deref(),
        Some("/usr/bin/logger quorum down")
    );
    assert_eq!(s.reals[0].notify_down.as_deref(), Some("/bin/echo down"));
}

#[test]
fn every_ipvs_scheduler_translates() {
    for algo in [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf",
    ] {
        let out = import(&format!(
            "virtual_server 10.0.0.1 80 {{\n lb_algo {algo}\n}}\n"
        ))
        .unwrap();
        assert!(
            out.warnings.iter().all(|(_, w)| !w.contains("lb_algo")),
            "{algo}: {:?}",
            out.warnings
        );
        assert_eq!(validate(&out.toml).services[0].scheduler.name(), algo);
    }
}

#[test]
fn fwmark_services_get_a_marked_placeholder_rule() {
    let out = import(
        "virtual_server fwmark 21 {\n lb_algo rr\n protocol TCP\n real_server 10.0.2.1 0 { }\n}\n",
    )
    .unwrap();
    let c = validate(&out.toml);
    assert_eq!(c.services[0].key.mark(), Some(21));
    assert_eq!(
        c.services[0].reals[0].port, 0,
        "port 0: keep the client's port"
    );
    assert_eq!(c.mark_rules[0].mark, 21);
    assert!(
        out.toml
            .contains("XLB-IMPORT: keepalived took mark 21 from iptables"),
        "{}",
        out.toml
    );
}

#[test]
fn a_nat_ftp_service_gets_the_helper() {
    let conf =
        "virtual_server 10.0.0.1 21 {\n  lb_kind NAT\n  real_server 192.168.1.20 21 {\n  }\n}\n";
    let out = import(conf).unwrap();
    let c = validate(&out.toml);
    assert!(c.services[0].ftp, "{}", out.toml);
    let web = conf.replace(" 21 {\n  lb_kind", " 80 {\n  lb_kind");
    assert!(!validate(&import(&web).unwrap().toml).services[0].ftp);
}
