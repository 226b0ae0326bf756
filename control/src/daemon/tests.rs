//! The daemon's logic with a recording dataplane and a made-up host: what
//! reloads, overrides and neighbour changes publish and steer, without
//! netlink facts or AF_XDP workers.

use super::build::tests::iface;
use super::dataplane::fake::FakeDataplane;
use super::host::fake::FakeHost;
use super::*;
use crate::config::VrrpSettings;
use crate::net::neigh::Neighbour;
use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use xlb_dataplane::steer::EndpointKey;

const CONFIG: &str = r#"
[daemon]
interfaces = ["out0", "in0"]
[[virtual_server]]
name = "web"
address = "10.200.1.100"
port = 80
scheduler = "wrr"
[[virtual_server.real_server]]
address = "10.200.2.11"
weight = 3
check = { type = "tcp" }
[[virtual_server.real_server]]
address = "10.200.2.12"
weight = 1
"#;

struct Lab {
    daemon: Daemon,
    file: tempfile::NamedTempFile,
    maps: super::dataplane::fake::Maps,
    attached_with: Arc<Mutex<Option<HashSet<EndpointKey>>>>,
    host: FakeHost,
}

fn write(file: &mut tempfile::NamedTempFile, text: &str) {
    let f = file.as_file_mut();
    f.set_len(0).unwrap();
    use std::io::Seek;
    f.rewind().unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn mac(last: u8) -> Neighbour {
    Neighbour {
        mac: Some([2, 0x55, 0, 0, 0, last]),
        state: 0x02,
    }
}

fn lab(text: &str) -> Lab {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write(&mut file, text);
    let cfg = Config::load(file.path()).unwrap();
    let host = FakeHost {
        interfaces: vec![
            iface("out0", 5, "10.200.1.1"),
            iface("in0", 6, "10.200.2.1"),
        ],
        ..Default::default()
    };
    host.neighbours
        .lock()
        .unwrap()
        .0
        .insert((6, "10.200.2.11".parse().unwrap()), mac(11));
    let (mut ids, gauges) = (Ids::default(), new_gauges());
    let built = build(
        &cfg,
        &host.interfaces,
        &host.neighbours(),
        &mut ids,
        &[],
        1,
        gauges.clone(),
    )
    .unwrap();
    let mut policy = Policy::new();
    let checks = HealthRunner::start().unwrap();
    checks.plan(policy.configure(None, &cfg, Instant::now()));
    let mut snap = built.snapshot;
    let published = policy.apply(&cfg, &mut snap, Instant::now());
    let dp = FakeDataplane::new(snap);
    let maps = dp.maps.clone();
    let attached_with = dp.attached_with.clone();
    let vrrp = Vrrp::start(VrrpSettings::default()).unwrap();
    let daemon = Daemon::assemble(
        (cfg, text.to_string()),
        Box::new(dp),
        Box::new(host.clone()),
        (policy, published),
        checks,
        vrrp,
        (ids, gauges),
        built.rules,
        (built.neighbours, 0),
    )
    .unwrap();
    Lab {
        daemon,
        file,
        maps,
        attached_with,
        host,
    }
}

impl Lab {
    fn weights(&self) -> Vec<(String, u32, bool)> {
        let snap = self.daemon.dataplane.snapshot();
        snap.services
            .iter()
            .flat_map(|s| s.reals.iter())
            .map(|r| (r.addr.to_string(), r.weight, r.enabled))
            .collect()
    }

    fn steered_ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .maps
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|k| u16::from_be(k.port))
            .collect();
        v.sort();
        v
    }
}

#[test]
fn health_is_listed_from_the_start_and_overrides_republish() {
    let mut l = lab(CONFIG);
    let published = l.daemon.shared.published.load();
    assert_eq!(
        published.health.values().collect::<Vec<_>>(),
        vec!["up"],
        "a checked server shows its health before any verdict"
    );
    assert_eq!(
        l.daemon
            .override_real("web", "10.200.2.12", OverrideOp::Weight(5))
            .unwrap(),
        "10.200.2.12:80 in 10.200.1.100:80: weight 5"
    );
    assert_eq!(
        l.weights(),
        vec![
            ("10.200.2.11".into(), 3, true),
            ("10.200.2.12".into(), 5, true)
        ]
    );
    let e = l
        .daemon
        .override_real("web", "10.9.9.9", OverrideOp::Disable)
        .unwrap_err();
    assert!(e.contains("it has: 10.200.2.11:80, 10.200.2.12:80"), "{e}");
    // Only the server resolved in the neighbour table can be scheduled.
    let snap = l.daemon.dataplane.snapshot();
    assert!(snap.services[0].reals[0].mac.is_some());
    assert!(snap.services[0].reals[1].mac.is_none());
    l.daemon.shutdown();
}

#[test]
fn the_programs_go_on_the_interfaces_only_once_their_maps_steer_the_services() {
    // A restart after a kill replaces the program the dead daemon left
    // (which drops the services' traffic): with empty maps, the kernel
    // would reset that traffic until they were filled.
    let l = lab(CONFIG);
    let at_attach = l.attached_with.lock().unwrap().clone();
    let mut ports: Vec<u16> = at_attach
        .expect("attached at start")
        .iter()
        .map(|k| u16::from_be(k.port))
        .collect();
    ports.sort();
    assert_eq!(ports, vec![0, 80], "the service and its fragment key");
}

#[test]
fn a_reload_publishes_steers_and_summarises_and_a_bad_one_changes_nothing() {
    let mut l = lab(CONFIG);
    assert_eq!(
        l.steered_ports(),
        vec![0, 80],
        "the service and its fragment key"
    );
    let before = l.daemon.dataplane.snapshot();
    let id = before.services[0].reals[0].id;
    let added = format!(
        "{CONFIG}[[virtual_server]]\naddress = \"10.200.1.100\"\nport = 443\n\
         [[virtual_server.real_server]]\naddress = \"10.200.2.13\"\n"
    );
    write(&mut l.file, &added);
    let summary = l.daemon.reload(None).unwrap();
    assert_eq!(
        summary,
        "2 virtual servers (1 added, 0 removed), real servers: 1 added, 0 removed, 0 re-weighted"
    );
    let after = l.daemon.dataplane.snapshot();
    assert_eq!(after.generation, before.generation + 1);
    assert_eq!(
        after.services[0].reals[0].id, id,
        "a kept server keeps its id"
    );
    assert_eq!(l.steered_ports(), vec![0, 80, 443]);

    write(
        &mut l.file,
        "[daemon]\ninterfaces = [\"out0\", \"in0\"]\nbogus = 1\n",
    );
    let e = l.daemon.reload(None).unwrap_err();
    assert!(e.contains("the running configuration is unchanged"), "{e}");
    write(
        &mut l.file,
        &added.replace("[\"out0\", \"in0\"]", "[\"out0\"]"),
    );
    let e = l.daemon.reload(None).unwrap_err();
    assert!(e.contains("[daemon] interfaces changed"), "{e}");
    assert_eq!(l.daemon.dataplane.snapshot().generation, after.generation);
    assert_eq!(l.steered_ports(), vec![0, 80, 443]);

    // Removing the 443 service: its server drains (still steered and
    // routed) while the 80 service stays.
    write(&mut l.file, CONFIG);
    let summary = l.daemon.reload(None).unwrap();
    assert!(
        summary.starts_with("1 virtual server (0 added, 1 removed)"),
        "{summary}"
    );
    assert_eq!(l.steered_ports(), vec![0, 80, 443], "draining");
    let gone = after.services[1].reals[0].id;
    assert!(l.daemon.dataplane.snapshot().real(gone).is_some());
    l.daemon.shutdown();
}

/// Host errors name the line of the key they are about, all at once; a
/// reload from another file makes that file the running one (listings say
/// so, and the next plain reload reads it).
#[test]
fn host_errors_are_placed_and_another_file_becomes_the_running_one() {
    let mut l = lab(CONFIG);
    let unreachable = format!(
        "{CONFIG}[[virtual_server.real_server]]\naddress = \"10.9.9.9\"\n\
         [[virtual_server.real_server]]\naddress = \"10.9.9.10\"\n"
    );
    write(&mut l.file, &unreachable);
    let e = l.daemon.reload(None).unwrap_err();
    let name = l.file.path().display().to_string();
    assert!(
        e.contains(&format!("{name}:17:1: real server 10.9.9.9 of web")),
        "{e}"
    );
    assert!(
        e.contains(&format!("{name}:19:1: real server 10.9.9.10 of web")),
        "{e}"
    );

    let mut other = tempfile::NamedTempFile::new().unwrap();
    write(&mut other, &CONFIG.replace("weight = 1", "weight = 2"));
    l.daemon.reload(Some(other.path())).unwrap();
    let shown = l.daemon.shared().config_path.load().to_string();
    assert_eq!(shown, other.path().display().to_string());
    write(&mut other, &CONFIG.replace("weight = 1", "weight = 5"));
    l.daemon.reload(None).unwrap();
    assert!(
        l.weights().contains(&("10.200.2.12".into(), 5, true)),
        "the plain reload read the new file: {:?}",
        l.weights()
    );
    l.daemon.shutdown();
}

#[test]
fn a_neighbour_that_resolves_is_published_at_the_next_tick() {
    let mut l = lab(CONFIG);
    l.daemon.tick();
    assert!(
        l.host
            .poked
            .lock()
            .unwrap()
            .contains(&"10.200.2.12".parse().unwrap()),
        "the kernel is asked to resolve the unresolved server"
    );
    {
        let mut n = l.host.neighbours.lock().unwrap();
        n.0.insert((6, "10.200.2.12".parse().unwrap()), mac(12));
        n.1 += 1;
    }
    l.daemon.tick();
    let snap = l.daemon.dataplane.snapshot();
    assert_eq!(snap.services[0].reals[1].mac, Some([2, 0x55, 0, 0, 0, 12]));
    l.daemon.shutdown();
}

#[test]
fn drain_director_without_announce_says_there_is_nothing_to_drain() {
    let mut l = lab(CONFIG);
    let e = l.daemon.drain_director(true).unwrap_err();
    assert!(e.contains("no [announce]"), "{e}");
    assert!(!l.daemon.director_drained, "nothing changed");
    assert!(l.daemon.drain_director(false).is_err());
}
