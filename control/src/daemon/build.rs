//! Turn a checked `Config` plus what the kernel says (interfaces, neighbours)
//! into a dataplane `Snapshot` and the steering program's rules.

use super::ids::Ids;
use crate::api::access::{AccessError, SocketAccess};
use crate::config::Config;
use crate::net::ifaces::Interface;
use crate::net::neigh::NeighbourTable;
use std::collections::HashSet;
use std::sync::Arc;
use xlb_dataplane::snapshot::{
    Forwarding, PortInfo, RealId, RealRoute, RealServer, Snapshot, VirtualService,
};
use xlb_dataplane::stats::ConnGauge;
use xlb_dataplane::steer::{EndpointKey, SteeringRules};
use xlb_model::{Address, Protocol, ServiceKey};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    #[error(
        "interface {0} does not exist in this network namespace; \
             fix [daemon] interfaces or create the interface"
    )]
    NoInterface(String),
    #[error(
        "real server {addr} of {service} is not on a directly connected subnet of \
             any dataplane interface ({interfaces}); give one of them an address in its \
             subnet, or list the interface that reaches it (forwarding = \"tun\" also \
             follows a route over one of them)"
    )]
    Unreachable {
        service: String,
        addr: std::net::IpAddr,
        interfaces: String,
    },
    #[error("{0}")]
    Snapshot(#[from] xlb_dataplane::snapshot::SnapshotError),
    #[error("the firewall-mark rules cover {0} address:port pairs; the steering map holds {MAX_STEERED}: \
             narrow the port ranges or the address lists")]
    TooManySteered(usize),
    #[error(
        "no free id for {0}: too many services or real servers added and removed \
             within an hour (ids of removed ones are held until their connections are gone); \
             restart xlbd to start afresh"
    )]
    NoId(String),
    #[error("{0}")]
    SocketAccess(#[from] crate::api::access::AccessError),
}

impl BuildError {
    /// The error as `file:line:col: what`, placed at the key it is about
    /// when it is one (`text` is the configuration `cfg` was parsed from).
    pub fn placed(&self, cfg: &Config, text: &str) -> String {
        let key = match self {
            BuildError::NoInterface(name) => cfg
                .daemon
                .interfaces
                .iter()
                .position(|i| i == name)
                .map(|_| "daemon.interfaces".to_string()),
            BuildError::Unreachable { service, addr, .. } => {
                cfg.services.iter().enumerate().find_map(|(i, s)| {
                    if s.name != *service {
                        return None;
                    }
                    match s.reals.iter().position(|r| r.address == *addr) {
                        Some(j) => Some(format!("virtual_server.{i}.real_server.{j}.address")),
                        None => Some(format!("virtual_server.{i}.sorry_server")),
                    }
                })
            }
            BuildError::SocketAccess(AccessError::NoUser(_)) => {
                Some("daemon.socket_owner".to_string())
            }
            BuildError::SocketAccess(AccessError::NoGroup(_)) => {
                Some("daemon.socket_group".to_string())
            }
            _ => None,
        };
        match key.and_then(|k| xlb_model::config::locate(text, &k)) {
            Some((line, col)) => format!("{}:{line}:{col}: {self}", cfg.path.display()),
            None => format!("{}: {self}", cfg.path.display()),
        }
    }
}

/// Entries the steering program's services map can hold (steer.c: 65536,
/// with room kept for plain services).
pub const MAX_STEERED: usize = 60_000;

pub struct Built {
    pub snapshot: Snapshot,
    pub rules: SteeringRules,
    /// (ifindex, address) of every real server, for neighbour upkeep.
    pub neighbours: Vec<(u32, std::net::IpAddr)>,
}

/// `retired`: real servers removed by earlier reloads whose connections may
/// still drain to them.
pub fn build(
    cfg: &Config,
    ifaces: &[Interface],
    neigh: &NeighbourTable,
    ids: &mut Ids,
    retired: &[(RealId, RealRoute)],
    generation: u64,
    gauges: Arc<[ConnGauge]>,
) -> Result<Built, BuildError> {
    let mut ports = Vec::new();
    let mut port_ifaces = Vec::new();
    for name in &cfg.daemon.interfaces {
        let i = ifaces
            .iter()
            .find(|i| &i.name == name)
            .ok_or_else(|| BuildError::NoInterface(name.clone()))?;
        ports.push(PortInfo {
            name: name.clone(),
            ifindex: i.ifindex,
            mac: i.mac,
            ipv4: i.primary_ipv4().map(u32::from),
            // An interface the kernel gives no MTU for: Ethernet's.
            mtu: u16::try_from(i.mtu).ok().filter(|&m| m > 0).unwrap_or(1500),
        });
        port_ifaces.push(i);
    }
    let mut rules = SteeringRules::default();
    for i in ifaces {
        rules
            .locals
            .extend(i.ipv4.iter().map(|(a, _)| Address::from(*a)));
        rules
            .locals
            .extend(i.ipv6.iter().map(|(a, _)| Address::from(*a)));
    }
    let mut services = Vec::new();
    // Read once, when a TUN real server is off every port's link.
    let mut routes = None;
    let mut keep_s = HashSet::new();
    let mut keep_r = HashSet::new();
    let mut neighbours = Vec::new();
    let now = std::time::Instant::now();
    ids.follow_timeouts(&cfg.timeouts);
    for s in &cfg.services {
        keep_s.insert(s.key);
        // Protocols whose replies come back from this service's servers.
        let protos = steer_service(&mut rules, cfg, s)?;
        let mut reals = Vec::new();
        let mut sorry = None;
        let sorry_def = s.sorry.map(|(address, port)| crate::config::RealServerDef {
            address,
            port,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            check: None,
            notify_up: None,
            notify_down: None,
        });
        for (r, is_sorry) in s
            .reals
            .iter()
            .map(|r| (r, false))
            .chain(sorry_def.iter().map(|r| (r, true)))
        {
            // On a port's link; or, for TUN, wherever a route over a port
            // leads (the gateway's MAC is the frame's destination).
            let on_link = port_ifaces
                .iter()
                .position(|i| i.on_link(r.address))
                .map(|e| (e, r.address));
            let off_link = || {
                let routes = routes.get_or_insert_with(crate::net::route::read);
                tunnel_hop(s, r.address, routes, &cfg.daemon.interfaces)
            };
            let (egress, hop) =
                on_link
                    .or_else(off_link)
                    .ok_or_else(|| BuildError::Unreachable {
                        service: s.name.clone(),
                        addr: r.address,
                        interfaces: cfg.daemon.interfaces.join(", "),
                    })?;
            let ifindex = port_ifaces[egress].ifindex;
            let rkey = s.real_key(r);
            keep_r.insert(rkey);
            let addr = Address::from(r.address);
            if s.forwarding == Forwarding::Nat {
                // Port 0 (a firewall-mark server keeping the client's port):
                // the steering program's any-port key.
                for &proto in &protos {
                    rules.reals.insert(EndpointKey::new(addr, r.port, proto));
                }
                if s.ftp {
                    // Data connections leave the server from any port.
                    rules
                        .reals
                        .insert(EndpointKey::new(addr, 0, Protocol::Tcp.number()));
                }
            }
            neighbours.push((ifindex, hop));
            let real = RealServer {
                id: ids
                    .real(&rkey, now)
                    .ok_or_else(|| BuildError::NoId(format!("real server {}", r.address)))?,
                addr,
                port: r.port,
                weight: r.weight,
                egress: egress as u8,
                mac: neigh.get(&(ifindex, hop)).and_then(|n| n.usable_mac()),
                gateway: (hop != r.address).then(|| Address::from(hop)),
                enabled: true,
                u_threshold: r.u_threshold,
                l_threshold: r.l_threshold,
            };
            if is_sorry {
                sorry = Some(real);
            } else {
                reals.push(real);
            }
        }
        services.push(VirtualService {
            id: ids
                .service(&s.key, now)
                .ok_or_else(|| BuildError::NoId(format!("virtual server {}", s.name)))?,
            name: s.name.clone(),
            key: s.key,
            forwarding: s.forwarding,
            scheduler: s.scheduler,
            reals,
            sorry,
            persistence: s.persistence,
            ftp: s.ftp,
            syn_proxy: s.syn_proxy,
            max_conn_rate: s.max_conn_rate,
            max_conns_per_client: s.max_conns_per_client,
            sloppy_tcp: s.sloppy_tcp,
        });
    }
    ids.services.retain(&keep_s, now);
    ids.reals.retain(&keep_r, now);
    neighbours.sort();
    neighbours.dedup();
    let mut snapshot = Snapshot::new(generation, ports, services, retired, cfg.timeouts, gauges)?
        .with_mark_rules(cfg.mark_rules.clone());
    snapshot.syn_proxy_threshold = cfg.daemon.syn_proxy_threshold;
    snapshot.workers = cfg.daemon.cores.len().max(1);
    Ok(Built {
        snapshot,
        rules,
        neighbours,
    })
}

/// A TUN server off every port's link: the port and the next hop of the
/// kernel's own route to it, when that route leaves by a port.
fn tunnel_hop(
    s: &crate::config::ServiceDef,
    addr: std::net::IpAddr,
    routes: &[crate::net::route::Route],
    ports: &[String],
) -> Option<(usize, std::net::IpAddr)> {
    match (s.forwarding, addr) {
        // IPv4-in-IPv4: an IPv4 server.
        (Forwarding::Tun, std::net::IpAddr::V4(_)) => {
            crate::net::route::kernel_next_hop(routes, addr, ports)
        }
        _ => None,
    }
}

/// What xlbd checks of the host at start, every problem at once: the API
/// socket's owner and group exist, the dataplane interfaces exist here,
/// and each real (and sorry) server is on a directly connected subnet of
/// one of them.
pub fn check_host(cfg: &Config, ifaces: &[Interface]) -> Vec<BuildError> {
    let mut errors: Vec<BuildError> = match SocketAccess::resolve(&cfg.daemon.socket_access) {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(BuildError::from).collect(),
    };
    let mut ports = Vec::new();
    let mut missing = false;
    for name in &cfg.daemon.interfaces {
        match ifaces.iter().find(|i| &i.name == name) {
            Some(i) => ports.push(i),
            None => {
                missing = true;
                errors.push(BuildError::NoInterface(name.clone()));
            }
        }
    }
    if missing {
        return errors;
    }
    let mut routes = None;
    for s in &cfg.services {
        let reals = s
            .reals
            .iter()
            .map(|r| r.address)
            .chain(s.sorry.map(|(a, _)| a));
        for addr in reals {
            let mut routed = || {
                let routes = routes.get_or_insert_with(crate::net::route::read);
                tunnel_hop(s, addr, routes, &cfg.daemon.interfaces).is_some()
            };
            if !ports.iter().any(|i| i.on_link(addr)) && !routed() {
                errors.push(BuildError::Unreachable {
                    service: s.name.clone(),
                    addr,
                    interfaces: cfg.daemon.interfaces.join(", "),
                });
            }
        }
    }
    errors
}

/// Steer a service's packets to the dataplane; returns the protocols its
/// servers' replies come back with.
fn steer_service(
    rules: &mut SteeringRules,
    cfg: &Config,
    s: &crate::config::ServiceDef,
) -> Result<Vec<u8>, BuildError> {
    match s.key {
        ServiceKey::Endpoint { addr, port, proto } => {
            let vip = Address::from(addr);
            rules
                .services
                .insert(EndpointKey::new(vip, port, proto.number()));
            rules.services.insert(EndpointKey::new(vip, 0, 0));
            if s.ftp {
                // Passive data connections go to ports the server picks,
                // active ones come back to VIP:20: every TCP port of the
                // VIP reaches the dataplane (the program's any-port key).
                rules
                    .services
                    .insert(EndpointKey::new(vip, 0, proto.number()));
            }
            Ok(vec![proto.number()])
        }
        ServiceKey::Mark(mark) => {
            let mut protos = Vec::new();
            for rule in cfg.mark_rules.iter().filter(|r| r.mark == mark) {
                let proto = rule.proto.number();
                protos.push(proto);
                for &a in &rule.addrs {
                    rules.services.insert(EndpointKey::new(a, 0, 0));
                    for &(lo, hi) in &rule.ports {
                        for p in lo..=hi {
                            rules.services.insert(EndpointKey::new(a, p, proto));
                        }
                    }
                }
            }
            if rules.services.len() > MAX_STEERED {
                return Err(BuildError::TooManySteered(rules.services.len()));
            }
            Ok(protos)
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::path::Path;
    use xlb_dataplane::stats::new_gauges;

    pub fn iface(name: &str, idx: u32, addr: &str) -> Interface {
        Interface {
            name: name.into(),
            ifindex: idx,
            mac: [2, 0, 0, 0, 0, idx as u8],
            ipv4: vec![(addr.parse().unwrap(), 24)],
            ..Default::default()
        }
    }

    #[test]
    fn builds_ports_routes_macs_and_steering_rules() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/nat.toml");
        let cfg = Config::load(&root).unwrap();
        let ifaces = vec![
            iface("out0", 5, "10.200.1.1"),
            iface("in0", 6, "10.200.2.1"),
        ];
        let mut neigh = NeighbourTable::new();
        let entry = crate::net::neigh::Neighbour {
            mac: Some([2, 0x55, 0, 0, 0, 11]),
            state: 0x02,
        };
        neigh.insert((6, "10.200.2.11".parse().unwrap()), entry);
        let mut ids = Ids::default();
        let b = build(&cfg, &ifaces, &neigh, &mut ids, &[], 1, new_gauges()).unwrap();
        let web = &b.snapshot.services[0];
        assert_eq!(web.reals[0].egress, 1);
        assert_eq!(web.reals[0].mac, Some([2, 0x55, 0, 0, 0, 11]));
        assert_eq!(web.reals[1].mac, None);
        assert!(b
            .rules
            .services
            .contains(&EndpointKey::new(Address::v4(0x0ac8_0164), 80, 6)));
        assert!(b
            .rules
            .reals
            .contains(&EndpointKey::new(Address::v4(0x0ac8_020b), 8080, 6)));
        assert!(b.rules.locals.contains(&Address::v4(0x0ac8_0201)));
        assert_eq!(b.neighbours.len(), 3);
        // A rebuild keeps ids.
        let b2 = build(&cfg, &ifaces, &neigh, &mut ids, &[], 2, new_gauges()).unwrap();
        assert_eq!(b2.snapshot.services[0].reals[2].id, web.reals[2].id);
    }

    #[test]
    fn missing_interface_and_unreachable_real_are_clear_errors() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/nat.toml");
        let cfg = Config::load(&root).unwrap();
        let e = build(
            &cfg,
            &[iface("out0", 5, "10.200.1.1")],
            &NeighbourTable::new(),
            &mut Ids::default(),
            &[],
            1,
            new_gauges(),
        );
        assert_eq!(e.err(), Some(BuildError::NoInterface("in0".into())));
        let ifaces = vec![iface("out0", 5, "10.200.1.1"), iface("in0", 6, "10.9.9.1")];
        let e = build(
            &cfg,
            &ifaces,
            &NeighbourTable::new(),
            &mut Ids::default(),
            &[],
            1,
            new_gauges(),
        )
        .err()
        .unwrap();
        assert!(
            e.to_string()
                .contains("real server 10.200.2.11 of web is not on a directly connected subnet"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_socket_group_is_placed_at_its_key_with_every_other_host_error() {
        let text = "[daemon]\ninterfaces = [\"in0\"]\nsocket_mode = \"0660\"\n\
            socket_group = \"no-such-group-xlb\"\n";
        let cfg = Config::parse(Path::new("t.toml"), text).unwrap();
        let e = check_host(&cfg, &[]);
        assert_eq!(
            e,
            vec![
                BuildError::SocketAccess(AccessError::NoGroup("no-such-group-xlb".into())),
                BuildError::NoInterface("in0".into()),
            ]
        );
        let placed = e[0].placed(&cfg, text);
        assert!(
            placed.starts_with("t.toml:4:1: socket_group \"no-such-group-xlb\": no such group"),
            "{placed}"
        );
        assert!(
            placed.contains("groupadd --system no-such-group-xlb"),
            "{placed}"
        );
    }

    #[test]
    fn firewall_mark_ports_are_steered_and_replies_from_any_port() {
        let text = "[daemon]\ninterfaces = [\"out0\", \"in0\"]\n\
            [[firewall_mark]]\nmark = 5\naddresses = [\"10.200.1.100\"]\nports = [80]\nport_ranges = [\"8080-8081\"]\n\
            [[virtual_server]]\nfwmark = 5\n[[virtual_server.real_server]]\naddress = \"10.200.2.11\"\n";
        let cfg = Config::parse(Path::new("t.toml"), text).unwrap();
        let ifaces = vec![
            iface("out0", 5, "10.200.1.1"),
            iface("in0", 6, "10.200.2.1"),
        ];
        let b = build(
            &cfg,
            &ifaces,
            &NeighbourTable::new(),
            &mut Ids::default(),
            &[],
            1,
            new_gauges(),
        )
        .unwrap();
        for port in [80, 8080, 8081] {
            assert!(
                b.rules
                    .services
                    .contains(&EndpointKey::new(Address::v4(0x0ac8_0164), port, 6)),
                "port {port}"
            );
        }
        assert!(!b
            .rules
            .services
            .contains(&EndpointKey::new(Address::v4(0x0ac8_0164), 8082, 6)));
        assert!(
            b.rules
                .reals
                .contains(&EndpointKey::new(Address::v4(0x0ac8_020b), 0, 6)),
            "any-port reply key"
        );
        assert_eq!(
            b.snapshot
                .classify(Address::v4(0x0ac8_0164), 8081, 6)
                .map(|(_, s)| s.key.mark()),
            Some(Some(5))
        );
    }
}
