use super::*;
use crate::config::{Config, SyncPeers, SyncSettings};
use std::path::Path;

/// The NAT example of the source document (keepalived's LVS NAT pair,
/// docs/design/source.md), verbatim.
const DIGEST_NAT: &str = include_str!("../../../tests/import/digest-nat.conf");
/// The digest's direct-routing example, written out from its description.
const DIGEST_DR: &str = include_str!("../../../tests/import/digest-dr.conf");

const LENIENT: Options = Options { lenient: true };

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
    let sync = c.sync.as_ref().expect("lvs_sync_daemon_interface: [sync]");
    assert_eq!((sync.interface.as_str(), sync.sync_id), ("eth1", 0));
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
    // Strict, the scheduler is an error with its line.
    let Err(ImportError::Refused { errors, .. }) = import(conf) else {
        panic!("random is not xlb's")
    };
    assert_eq!(
        errors.iter().map(|e| e.0).collect::<Vec<_>>(),
        [3],
        "{errors:#?}"
    );
    let out = import_with(conf, LENIENT).unwrap();
    let c = validate(&out.toml);
    assert_eq!(c.services[0].forwarding, xlb_model::Forwarding::Tun);
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
        "lb_algo \"random\"",
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
    let e = import("virtual_server 10.0.0.1 80 {\n  lb_algo rr\n");
    let Err(ImportError::Syntax(e)) = e else {
        panic!("{e:?}")
    };
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

/// `[sync]` from a keepalived.conf, with the warnings (line, text).
fn import_sync(conf: &str) -> (Option<SyncSettings>, Vec<(usize, String)>) {
    let out = import(conf).unwrap();
    (validate(&out.toml).sync, out.warnings)
}

const SYNC_INSTANCE: &str = "vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  virtual_ipaddress { 192.0.2.1/24 }
}
";

#[test]
fn lvs_sync_daemon_translates_every_option() {
    let conf = format!(
        "global_defs {{\n  lvs_sync_daemon eth2 VI_1 id 7 maxlen 1400 port 8849 ttl 2 group 239.0.0.81\n}}\n{SYNC_INSTANCE}"
    );
    let (sync, warnings) = import_sync(&conf);
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert_eq!(
        sync,
        Some(SyncSettings {
            interface: "eth2".into(),
            sync_id: 7,
            peers: SyncPeers::Group("239.0.0.81".parse().unwrap()),
            port: 8849,
            ttl: 2,
            maxlen: Some(1400),
        })
    );
    // IPv6 groups too, as keepalived takes them.
    let v6 = conf.replace("239.0.0.81", "ff02::81");
    let (sync, _) = import_sync(&v6);
    assert_eq!(
        sync.unwrap().peers,
        SyncPeers::Group("ff02::81".parse().unwrap())
    );
}

/// keepalived's defaults (vrrp/vrrp.c, vrrp_complete_init): the id is the
/// named instance's virtual_router_id, else 0; the rest is the kernel's.
#[test]
fn lvs_sync_daemon_ids_default_as_in_keepalived() {
    let with = |line: &str| {
        let (sync, warnings) =
            import_sync(&format!("global_defs {{\n  {line}\n}}\n{SYNC_INSTANCE}"));
        assert!(warnings.is_empty(), "{line}: {warnings:#?}");
        sync.unwrap()
    };
    let s = with("lvs_sync_daemon eth2 VI_1");
    assert_eq!(s.sync_id, 51, "the instance's virtual_router_id");
    assert_eq!(
        (s.peers, s.port, s.ttl, s.maxlen),
        (
            SyncPeers::Group("224.0.0.81".parse().unwrap()),
            8848,
            1,
            None
        )
    );
    assert_eq!(with("lvs_sync_daemon eth2 inst VI_1").sync_id, 51);
    assert_eq!(with("lvs_sync_daemon eth2").sync_id, 0, "no instance");
    assert_eq!(
        with("lvs_sync_daemon eth2 VI_1 9").sync_id,
        9,
        "the positional id of keepalived 1.2"
    );
    assert_eq!(with("lvs_sync_daemon eth2 id 3").sync_id, 3);
}

/// The deprecated per-instance form: keepalived 2.1+ syncs with id 0 (its
/// vrid default is only for a named instance); the output and a warning
/// name the virtual_router_id older keepalived used.
#[test]
fn lvs_sync_daemon_interface_in_an_instance_translates() {
    let conf = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  lvs_sync_daemon_interface eth1\n  virtual_ipaddress { 192.0.2.1/24 }\n}\n";
    let out = import(conf).unwrap();
    let sync = validate(&out.toml).sync.unwrap();
    assert_eq!(
        sync,
        SyncSettings {
            interface: "eth1".into(),
            sync_id: 0,
            peers: SyncPeers::Group("224.0.0.81".parse().unwrap()),
            port: 8848,
            ttl: 1,
            maxlen: None,
        }
    );
    assert_eq!(out.warnings.len(), 1, "{:#?}", out.warnings);
    let (line, w) = &out.warnings[0];
    assert_eq!(*line, 4);
    assert!(w.contains("virtual_router_id, 51"), "{w}");
    assert!(
        out.toml.contains("sync_id = 0  # XLB-IMPORT:"),
        "{}",
        out.toml
    );
    // The condensed form some guides use reads the same.
    let condensed = "vrrp_instance VI_1 { interface eth0 lvs_sync_daemon_interface eth1 virtual_router_id 51 virtual_ipaddress { 192.0.2.1/24 } }\n";
    assert_eq!(import_sync(condensed).0, Some(sync));
}

#[test]
fn global_lvs_sync_daemon_wins_over_an_instances() {
    let conf = "global_defs {\n  lvs_sync_daemon eth2 VI_1\n}\n\
                vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  lvs_sync_daemon_interface eth1\n  virtual_ipaddress { 192.0.2.1/24 }\n}\n";
    let (sync, warnings) = import_sync(conf);
    let sync = sync.unwrap();
    assert_eq!((sync.interface.as_str(), sync.sync_id), ("eth2", 51));
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0].0, 7);
    assert!(
        warnings[0].1.starts_with(
            "vrrp_instance VI_1: lvs_sync_daemon_interface eth1: ignored: the sync daemon is global_defs lvs_sync_daemon's (line 2)"
        ),
        "{warnings:#?}"
    );
}

#[test]
fn lvs_sync_daemon_options_keepalived_ignores_are_warned_with_their_line() {
    let conf = format!(
        "global_defs {{\n  router_id LB1\n  lvs_sync_daemon eth2 id 3 bogus 1 ttl 0 group 10.0.0.81 maxlen 100 port\n}}\n{SYNC_INSTANCE}"
    );
    let out = import(&conf).unwrap();
    let sync = validate(&out.toml).sync.unwrap();
    assert_eq!(
        (sync.sync_id, sync.ttl, sync.maxlen, sync.port),
        (3, 1, None, 8848),
        "left out: the defaults"
    );
    assert_eq!(sync.peers, SyncPeers::Group("224.0.0.81".parse().unwrap()));
    for want in [
        "option \"bogus\" is not one of keepalived's",
        "option \"1\" is not one of keepalived's",
        "ttl 0 is not 1 to 255",
        "group 10.0.0.81 is not a multicast address",
        "maxlen 100: xlb takes 500 to 65507",
        "port without a value",
    ] {
        assert!(
            out.warnings
                .iter()
                .any(|(line, w)| *line == 3 && w.contains(want)),
            "no warning for {want}: {:#?}",
            out.warnings
        );
    }
    assert_eq!(out.warnings.len(), 6, "{:#?}", out.warnings);
    assert!(
        out.toml
            .contains("# XLB-IMPORT: line 3: lvs_sync_daemon ttl 0"),
        "{}",
        out.toml
    );
}

/// keepalived drops the sync daemon when its instance does not exist
/// ("Unable to find vrrp instance ... clearing lvs_syncd config").
#[test]
fn lvs_sync_daemon_for_a_missing_instance_is_not_written() {
    let conf = format!("global_defs {{\n  lvs_sync_daemon eth2 VI_9\n}}\n{SYNC_INSTANCE}");
    let out = import(&conf).unwrap();
    assert_eq!(validate(&out.toml).sync, None, "{}", out.toml);
    assert_eq!(out.warnings.len(), 1, "{:#?}", out.warnings);
    assert_eq!(out.warnings[0].0, 2);
    assert!(
        out.warnings[0]
            .1
            .contains("vrrp_instance VI_9 is not in this file"),
        "{:#?}",
        out.warnings
    );
}

/// The refusals of a strict import, (line, text).
fn refused(conf: &str) -> Vec<(usize, String)> {
    match import(conf) {
        Err(ImportError::Refused { errors, .. }) => errors,
        Err(e) => panic!("another error: {e:?}"),
        Ok(out) => panic!("imported:\n{}", out.toml),
    }
}

const UNKNOWN_VALUES: &str = "virtual_server 10.0.0.1 80 {
  lb_algo wrrr
  lb_kind FNAT
  protocol SCTP
  real_server 10.0.0.11 80 {
    SMTP_CHECK { connect_timeout 3 }
  }
}
virtual_server 10.0.0.2 80 {
  lvs_method ROUTE
  real_server 10.0.0.12 80 { weight 1 }
}
";

#[test]
fn unknown_values_are_errors_naming_the_known_ones() {
    let errors = refused(UNKNOWN_VALUES);
    let want = [
        (2, "lb_algo \"wrrr\" is not a scheduler xlb knows; known: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh, fo, ovf"),
        (3, "lb_kind \"FNAT\" is not a forwarding method xlb knows; known: NAT, DR, TUN"),
        (4, "protocol \"SCTP\" is not one xlb forwards; known: TCP, UDP"),
        (6, "SMTP_CHECK is not a checker xlb translates; known: TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK"),
        (10, "lvs_method \"ROUTE\" is not a forwarding method xlb knows; known: NAT, DR, TUN"),
    ];
    let got: Vec<(usize, &str)> = errors.iter().map(|(l, e)| (*l, e.as_str())).collect();
    assert_eq!(got, want);
}

/// The lists the errors give are the model's and the validator's.
#[test]
fn known_value_lists_match_what_xlb_takes() {
    let names: Vec<&str> = xlb_model::sched::SchedulerKind::ALL
        .iter()
        .map(|k| k.name())
        .collect();
    assert_eq!(SCHEDULERS, names.join(", "));
    for p in PROTOCOLS.split(", ") {
        assert!(
            p.to_ascii_lowercase()
                .parse::<xlb_model::proto::Protocol>()
                .is_ok(),
            "{p}"
        );
    }
    for checker in CHECKERS.split(", ") {
        let conf = format!(
            "virtual_server 10.0.0.1 80 {{\n real_server 10.0.0.11 80 {{ {checker} {{ {} }} }}\n}}\n",
            if checker == "MISC_CHECK" { "misc_path /bin/true" } else { "" }
        );
        let c = validate(&import(&conf).unwrap().toml);
        assert!(c.services[0].reals[0].check.is_some(), "{checker}");
    }
}

#[test]
fn lenient_writes_a_draft_that_validates() {
    let out = import_with(UNKNOWN_VALUES, LENIENT).unwrap();
    let c = validate(&out.toml);
    let s = &c.services[0];
    assert_eq!(s.scheduler.name(), "wlc", "the placeholder");
    assert_eq!(s.forwarding, xlb_model::Forwarding::Dr);
    assert!(s.reals[0].check.is_none(), "SMTP_CHECK left out");
    for w in [
        "lb_algo \"wrrr\"",
        "lb_kind \"FNAT\"",
        "protocol \"SCTP\"",
        "SMTP_CHECK is not",
    ] {
        assert!(
            out.warnings.iter().any(|(_, x)| x.contains(w)),
            "no warning about {w}: {:#?}",
            out.warnings
        );
    }
    for placeholder in [
        "scheduler = \"wlc\"  # XLB-IMPORT: lb_algo wrrr",
        "# XLB-IMPORT: line 4: protocol SCTP",
        "# XLB-IMPORT: line 6: SMTP_CHECK left out",
    ] {
        assert!(
            out.toml.contains(placeholder),
            "{placeholder}:\n{}",
            out.toml
        );
    }
}

/// Values that would not parse as TOML are refused, never written.
#[test]
fn malformed_numbers_and_addresses_are_errors() {
    let conf = "virtual_server 10.0.0.1 80 {
  delay_loop often
  persistence_timeout -1
  real_server 10.0.0.11 80 { weight heavy TCP_CHECK { connect_timeout soon retry x } }
  real_server db.example 80 { }
  real_server 10.0.0.12 http { }
}
virtual_server fe80::1 80 { }
virtual_server 10.0.0.3 99999 { }
virtual_server 10.0.0.4 { }
";
    let lines: Vec<usize> = refused(conf).iter().map(|e| e.0).collect();
    assert_eq!(lines, [2, 3, 4, 4, 4, 5, 6, 8, 9, 10]);
    let out = import_with(conf, LENIENT).unwrap();
    let c = validate(&out.toml);
    assert_eq!(c.services.len(), 1, "{}", out.toml);
    assert_eq!(c.services[0].reals.len(), 1);
    assert!(out
        .toml
        .contains("# XLB-IMPORT: line 8: virtual_server fe80::1 80 left out"));
}

/// IPv6 virtual servers import as keepalived runs them; a server of the
/// other family is refused at its line (NAT and DR keep the family).
#[test]
fn ipv6_virtual_servers_import_and_validate() {
    let conf = "virtual_server 2001:db8::1 80 {
  lb_algo mh
  lb_kind DR
  persistence_timeout 300
  persistence_granularity 64
  real_server 2001:db8:2::11 80 { weight 2 TCP_CHECK { connect_timeout 3 } }
  real_server fd00::12 80 { }
}
virtual_server_group v6web {
  2001:db8::2 443
}
virtual_server group v6web {
  lb_kind NAT
  real_server 2001:db8:2::13 8443 { }
}
";
    let out = import(conf).unwrap();
    let c = validate(&out.toml);
    assert_eq!(c.services.len(), 2, "{}", out.toml);
    assert_eq!(
        c.services[0].key.address().unwrap().0,
        "2001:db8::1".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(c.services[0].persistence.unwrap().prefix, 64);
    assert_eq!(c.services[0].reals[0].weight, 2);
    assert!(c.services[0].reals[0].check.is_some());
    assert_eq!(
        c.services[1].reals[0].address,
        "2001:db8:2::13".parse::<std::net::IpAddr>().unwrap()
    );
    let e = refused("virtual_server 2001:db8::1 80 {\n  real_server 10.0.0.11 80 { }\n}\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].0, 2);
    assert!(
        e[0].1
            .contains("10.0.0.11 is IPv4, its virtual_server IPv6"),
        "{}",
        e[0].1
    );
}

/// keepalived's own sample (doc/samples/keepalived.conf.virtual_server_group).
const VSG: &str = "virtual_server_group VSG_1 {
	10.0.0.1 8080
	10.0.0.2 80
	192.168.200.3-5 80
	fwmark 1
	fwmark 2
}
virtual_server group VSG_1 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.168.200.1 1358 {
        weight 2
        TCP_CHECK { connect_timeout 3 }
    }
}
";

#[test]
fn a_virtual_server_group_is_one_service_per_member() {
    let out = import(VSG).unwrap();
    let c = validate(&out.toml);
    let keys: Vec<String> = c
        .services
        .iter()
        .map(|s| match s.key.address() {
            Some((a, p, _)) => format!("{a}:{p}"),
            None => format!("fwmark {}", s.key.mark().unwrap()),
        })
        .collect();
    assert_eq!(
        keys,
        [
            "10.0.0.1:8080",
            "10.0.0.2:80",
            "192.168.200.3:80",
            "192.168.200.4:80",
            "192.168.200.5:80",
            "fwmark 1",
            "fwmark 2"
        ]
    );
    for s in &c.services {
        assert_eq!(s.scheduler.name(), "rr");
        assert_eq!(s.reals.len(), 1);
        assert_eq!((s.reals[0].port, s.reals[0].weight), (1358, 2));
        assert!(s.reals[0].check.is_some());
    }
    // Two placeholders that do not claim the same port.
    assert_eq!(c.mark_rules.len(), 2);
    assert_ne!(c.mark_rules[0].ports, c.mark_rules[1].ports);
}

#[test]
fn virtual_server_group_ranges_expand_as_keepalived_reads_them() {
    let conf = |entry: &str| {
        format!("virtual_server_group G {{\n  {entry}\n}}\nvirtual_server group G {{\n  lb_kind DR\n  real_server 10.1.0.1 80 {{ }}\n}}\n")
    };
    let vips = |entry: &str| -> Vec<String> {
        validate(&import(&conf(entry)).unwrap().toml)
            .services
            .iter()
            .map(|s| s.key.address().unwrap().0.to_string())
            .collect()
    };
    assert_eq!(vips("10.0.0.254-255 80"), ["10.0.0.254", "10.0.0.255"]);
    assert_eq!(
        vips("10.0.0.255-10.0.1.1 80"),
        ["10.0.0.255", "10.0.1.0", "10.0.1.1"]
    );
    assert_eq!(
        vips("10.0.0.9/30 80"),
        ["10.0.0.8", "10.0.0.9", "10.0.0.10", "10.0.0.11"]
    );
    for (entry, says) in [
        (
            "10.0.0.0/16 80",
            "65536 addresses; xlb writes a service per address, at most 256",
        ),
        ("10.0.0.9-3 80", "0 addresses"),
        ("2001:db8::1-9 80", "an IPv6 range; list each IPv6 address"),
        ("fe80::1 80", "link-local"),
        ("10.0.0.300 80", "is not ADDRESS, ADDRESS-LAST_OCTET"),
        ("10.0.0.1", "has no port"),
        ("fwmark 0", "fwmark \"0\" is not a mark"),
        (
            "10.0.0.1 80 10.0.0.2 80",
            "\"10.0.0.1 80 10.0.0.2 80\" is not one entry",
        ),
    ] {
        let e = refused(&conf(entry));
        assert_eq!(e.len(), 1, "{entry}: {e:#?}");
        assert_eq!(e[0].0, 2, "{entry}");
        assert!(e[0].1.contains(says), "{entry}: {}", e[0].1);
    }
    let e = refused("virtual_server group NOPE {\n  lb_kind NAT\n}\n");
    assert_eq!(
        e,
        [(
            1,
            "virtual_server group NOPE: no virtual_server_group NOPE in this file".to_string()
        )]
    );
}

/// Today's `virtual_server fwmark` form, with real servers keepalived
/// writes without a port (doc/samples/keepalived.conf.fwmark) and a DR
/// one that names a port.
#[test]
fn fwmark_real_servers_without_a_port_and_dr_ports() {
    let conf = "virtual_server fwmark 1 {
  lb_kind NAT
  real_server 192.168.201.100 { TCP_CHECK { connect_port 80 } }
}
virtual_server fwmark 2 {
  lb_kind DR
  real_server 192.168.201.101 443 { TCP_CHECK { connect_timeout 3 } }
}
virtual_server 10.0.0.1 80 {
  lb_kind DR
  real_server 192.168.201.102 8080 { }
}
";
    let out = import(conf).unwrap();
    let c = validate(&out.toml);
    assert_eq!(c.services.len(), 3);
    assert_eq!(c.services[0].reals[0].port, 0, "the client's port");
    let dr = &c.services[1].reals[0];
    assert_eq!(dr.port, 0, "DR keeps the client's port");
    assert_eq!(
        dr.check.as_ref().unwrap().spec.target.port(),
        443,
        "checked where keepalived checked"
    );
    assert_eq!(c.services[2].reals[0].port, 80);
    assert!(
        out.warnings.iter().any(|(l, w)| *l == 11
            && w.contains("in DR and TUN the server gets the port the client asked for")),
        "{:#?}",
        out.warnings
    );
}

#[test]
fn auth_type_ah_is_an_error_and_lenient_drops_it() {
    let conf = "vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  authentication {
    auth_type AH
    auth_pass secret
  }
  virtual_ipaddress { 192.0.2.1/24 }
}
";
    let e = refused(conf);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, 5);
    assert!(
        e[0].1
            .contains("auth_type AH (IPsec AH) is not supported by xlb; known: PASS"),
        "{e:?}"
    );
    let out = import_with(conf, LENIENT).unwrap();
    assert_eq!(validate(&out.toml).vrrp.instances[0].auth, None);
    assert!(out
        .toml
        .contains("# XLB-IMPORT: line 5: auth_type AH left out"));
    let pass = conf.replace("AH", "PASS");
    assert_eq!(
        validate(&import(&pass).unwrap().toml).vrrp.instances[0].auth,
        Some(*b"secret\0\0")
    );
}

#[test]
fn an_old_form_sync_group_lists_its_instances() {
    let instances = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress { 192.0.2.1/24 }\n}\n\
                     vrrp_instance VI_2 {\n interface eth1\n virtual_router_id 52\n virtual_ipaddress { 10.0.0.1/24 }\n}\n";
    for group in [
        "vrrp_sync_group VG {\n  VI_1\n  VI_2\n  notify_master /bin/true\n}\n",
        "vrrp_sync_group VG { VI_1 VI_2 }\n",
        "vrrp_sync_group VG {\n  group {\n    VI_1\n    VI_2\n  }\n}\n",
    ] {
        let out = import(&format!("{group}{instances}")).unwrap();
        let c = validate(&out.toml);
        assert_eq!(c.vrrp.groups[0].members, ["VI_1", "VI_2"], "{group}");
    }
    // A name that is no instance: an error; lenient leaves it out, and a
    // group left with none is left out whole.
    let typo =
        format!("vrrp_sync_group VG {{\n  group {{\n    VI_1\n    VI_3\n  }}\n}}\n{instances}");
    let e = refused(&typo);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, 4);
    assert!(
        e[0].1
            .contains("\"VI_3\" is not a vrrp_instance of this file; known: VI_1, VI_2"),
        "{e:?}"
    );
    let c = validate(&import_with(&typo, LENIENT).unwrap().toml);
    assert_eq!(c.vrrp.groups[0].members, ["VI_1"]);
    let empty = format!("vrrp_sync_group VG {{\n  group {{\n  }}\n}}\n{instances}");
    assert_eq!(refused(&empty)[0].0, 1);
    assert!(validate(&import_with(&empty, LENIENT).unwrap().toml)
        .vrrp
        .groups
        .is_empty());
}

#[test]
fn a_file_with_nothing_translatable_is_an_error() {
    for text in [
        "",
        "# only a comment\n",
        "global\n  maxconn 100\nfrontend web\n  bind :80\n",
        "global_defs {\n  router_id LB1\n}\n",
    ] {
        for opts in [Options::default(), LENIENT] {
            match import_with(text, opts) {
                Err(ImportError::NothingToTranslate(m)) => {
                    assert!(
                        m.starts_with("nothing to translate: no vrrp_instance or virtual_server"),
                        "{m}"
                    );
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
    let Err(ImportError::NothingToTranslate(m)) = import("global\n  maxconn 100\nfrontend web\n")
    else {
        panic!()
    };
    assert!(
        m.contains("its top-level keywords are global, maxconn, frontend"),
        "{m}"
    );
}

/// What the translation checks not itself, check-config does: the import
/// is then refused rather than write what xlb refuses.
#[test]
fn output_check_config_refuses_is_never_written() {
    let conf = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 300\n virtual_ipaddress { 192.0.2.1/24 }\n}\n";
    for opts in [Options::default(), LENIENT] {
        let Err(ImportError::Invalid(m)) = import_with(conf, opts) else {
            panic!("virtual_router_id 300 passed")
        };
        assert!(m.contains("`virtual_router_id = 300`"), "{m}");
    }
}

/// keepalived.conf files modelled on real-world layouts (our own text in
/// tests/import/keepalived/, each saying on its first line what it is
/// modelled on): the strict import takes
/// them (services, VRRP instances) or refuses them with these errors
/// (line, words); the lenient draft of every one passes check-config's
/// validation.
#[test]
fn real_world_keepalived_configurations() {
    /// Services and VRRP instances, or the refusals.
    type Want = Result<(usize, usize), &'static [(usize, &'static str)]>;
    let cases: &[(&str, Want)] = &[
        ("vsg-ranges-fwmark.conf", Ok((13, 0))),
        ("fwmark-no-port.conf", Ok((1, 0))),
        ("old-sync-group-lvs-syncd.conf", Ok((0, 3))),
        ("nat-sync-group.conf", Ok((1, 2))),
        ("dr-notify-no-weight.conf", Ok((1, 1))),
        (
            "smtp-check.conf",
            Err(&[
                (
                    14,
                    "SMTP_CHECK is not a checker xlb translates; known: TCP_CHECK,",
                ),
                (23, "SMTP_CHECK is not a checker"),
            ]),
        ),
        (
            "ah-ssl-get.conf",
            Err(&[(
                19,
                "auth_type AH (IPsec AH) is not supported by xlb; known: PASS",
            )]),
        ),
        (
            "dr-bad-lb-algo.conf",
            Err(&[(
                22,
                "lb_algo \"loadbalance\" is not a scheduler xlb knows; known: rr, wrr,",
            )]),
        ),
        (
            "fnat-laddr-group-ipv6.conf",
            Err(&[
                (
                    37,
                    "lb_kind \"FNAT\" is not a forwarding method xlb knows; known: NAT, DR",
                ),
                (59, "lb_algo \"conhash\" is not a scheduler"),
                (60, "lb_kind \"FNAT\""),
                (
                    64,
                    "real_server 198.51.100.30 is IPv4, its virtual_server IPv6",
                ),
            ]),
        ),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/import/keepalived");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut named: Vec<String> = cases.iter().map(|c| c.0.to_string()).collect();
    named.sort();
    assert_eq!(files, named, "every fixture has its case");
    for (file, want) in cases {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(
            text.lines().next().unwrap().contains("Modelled on"),
            "{file}: its first line says what it is modelled on"
        );
        match (import(&text), want) {
            (Ok(out), Ok((services, instances))) => {
                let c = validate(&out.toml);
                assert_eq!(
                    (c.services.len(), c.vrrp.instances.len()),
                    (*services, *instances),
                    "{file}"
                );
            }
            (Err(ImportError::Refused { errors, .. }), Err(want)) => {
                assert_eq!(errors.len(), want.len(), "{file}: {errors:#?}");
                for ((line, e), (wline, words)) in errors.iter().zip(want.iter()) {
                    assert_eq!(line, wline, "{file}: {e}");
                    assert!(e.contains(words), "{file}:{line}: {e}");
                }
            }
            (got, _) => panic!("{file}: {got:?}"),
        }
        let draft = import_with(&text, LENIENT).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        validate(&draft.toml);
    }
}

/// keepalived ignores authentication in VRRPv3 and without a password
/// (vrrp.c, vrrp_complete_instance); so does the import, with a warning.
#[test]
fn authentication_keepalived_ignores_is_left_out() {
    let inst = |version: &str, auth: &str| {
        format!("global_defs {{\n  {version}\n}}\nvrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  authentication {{\n    {auth}\n  }}\n  virtual_ipaddress {{ 192.0.2.1/24 }}\n}}\n")
    };
    for (conf, why) in [
        (
            inst("vrrp_version 3", "auth_type PASS\n auth_pass x"),
            "VRRPv3 has no authentication",
        ),
        (
            inst("vrrp_version 3", "auth_type AH\n auth_pass x"),
            "VRRPv3 has no authentication",
        ),
        (
            inst("router_id A", "auth_type PASS"),
            "PASS without an auth_pass",
        ),
    ] {
        let out = import(&conf).unwrap();
        assert_eq!(validate(&out.toml).vrrp.instances[0].auth, None);
        assert!(
            out.warnings.iter().any(|(l, w)| *l == 8 && w.contains(why)),
            "{why}: {:#?}",
            out.warnings
        );
    }
    // The instance's own version wins over global_defs'.
    let v2 = inst("vrrp_version 3", "auth_type PASS\n auth_pass x")
        .replace("interface eth0", "interface eth0\n  version 2");
    assert_eq!(
        validate(&import(&v2).unwrap().toml).vrrp.instances[0].auth,
        Some(*b"x\0\0\0\0\0\0\0")
    );
}

/// keepalived does not advertise excluded addresses, so they may be of the
/// other family; xlb advertises them all, in one family.
#[test]
fn an_excluded_address_of_the_other_family_is_refused() {
    let conf = "vrrp_instance V {\n  interface eth0\n  virtual_router_id 7\n  virtual_ipaddress {\n    192.0.2.1\n  }\n  virtual_ipaddress_excluded {\n    192.0.2.2\n    2001:db8::1\n  }\n}\n";
    let e = refused(conf);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].0, 7);
    assert!(
        e[0].1.contains(
            "virtual_ipaddress_excluded 2001:db8::1: not of the instance's address family"
        ),
        "{e:?}"
    );
    let c = validate(&import_with(conf, LENIENT).unwrap().toml);
    let vips: Vec<String> = c.vrrp.instances[0]
        .vips
        .iter()
        .map(|v| v.addr.to_string())
        .collect();
    assert_eq!(vips, ["192.0.2.1", "192.0.2.2"]);
}

#[test]
fn connection_thresholds_translate_and_a_bad_pair_is_refused() {
    let conf = |u: &str, l: &str| {
        format!(
            "virtual_server 192.0.2.10 80 {{\n  lb_algo wlc\n  lb_kind NAT\n  protocol TCP\n  \
             real_server 198.51.100.11 8080 {{\n    weight 1\n    uthreshold {u}\n    lthreshold {l}\n  }}\n}}\n"
        )
    };
    let out = import(&conf("200", "150")).unwrap();
    let c = validate(&out.toml);
    let r = &c.services[0].reals[0];
    assert_eq!((r.u_threshold, r.l_threshold), (200, 150));
    assert!(
        out.warnings.iter().all(|(_, w)| !w.contains("threshold")),
        "{:?}",
        out.warnings
    );
    // keepalived takes a lower threshold above the upper; xlb's validator
    // does not, so nothing is written.
    let e = import(&conf("100", "150")).unwrap_err().to_string();
    assert!(
        e.contains("lthreshold 150 is not below uthreshold 100"),
        "{e}"
    );
}
