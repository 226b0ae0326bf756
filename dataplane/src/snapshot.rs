//! The immutable service table the workers forward with. The control thread
//! builds a new `Snapshot` for every change (reload, neighbour, health) and
//! publishes it with an atomic pointer swap; a worker picks the newest one at
//! a batch boundary and never waits for the control thread.

use crate::conn::Timeouts;
use crate::sched::SchedulerKind;
use crate::stats::{ConnGauge, MAX_REALS, MAX_SERVICES};
use hashbrown::HashMap;
use std::sync::Arc;
pub use xlb_model::service::{Forwarding, MarkRule, Persistence, SynProxy};
use xlb_model::{Address, ServiceKey};

/// Index of a dataplane port (an interface the daemon owns) in `Snapshot::ports`.
pub type PortId = u8;
/// Stable id of a real server (same service, address and port keep their id
/// across reloads), indexing counters and `Snapshot::reals`.
pub type RealId = u32;
pub type ServiceId = u32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub name: String,
    pub ifindex: u32,
    pub mac: [u8; 6],
    /// The port's (first) IPv4 address, host order: the source of TUN
    /// packets sent out of it.
    pub ipv4: Option<u32>,
    /// Largest IP datagram the port sends (the interface's MTU).
    pub mtu: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServer {
    pub id: RealId,
    pub addr: Address,
    pub port: u16,
    pub weight: u32,
    /// Port the real server is reached through.
    pub egress: PortId,
    /// From the kernel's neighbour table; `None` until resolved.
    pub mac: Option<[u8; 6]>,
    /// Whose MAC `mac` is when not the server's own: the gateway of the
    /// route to a TUN server off every port's link.
    pub gateway: Option<Address>,
    /// `false` when the operator disabled it (`xlbctl disable`): no new
    /// connections; existing ones continue.
    pub enabled: bool,
    /// Connection thresholds (keepalived's uthreshold/lthreshold; 0: none),
    /// kept in the server's gauge (`ConnGauge::set_thresholds`).
    pub u_threshold: u32,
    pub l_threshold: u32,
}

impl RealServer {
    /// Whether the scheduler may give it new connections.
    pub fn schedulable(&self) -> bool {
        self.enabled && self.weight > 0 && self.mac.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualService {
    pub id: ServiceId,
    pub name: String,
    /// VIP:port/protocol, or the firewall mark packets get from
    /// `Snapshot::mark_rules` (its real servers may have port 0: keep the
    /// port the client asked for).
    pub key: ServiceKey,
    pub forwarding: Forwarding,
    pub scheduler: SchedulerKind,
    pub reals: Vec<RealServer>,
    /// keepalived's sorry_server: takes new connections only when no real
    /// server of the service can.
    pub sorry: Option<RealServer>,
    pub persistence: Option<Persistence>,
    /// NAT FTP helper on this (control) service (IPVS's ip_vs_ftp).
    pub ftp: bool,
    /// SYN proxy (NAT TCP services without the FTP helper; `Off` for
    /// every other kind).
    pub syn_proxy: SynProxy,
    /// New connections per second over the director (0: no limit); each
    /// of `workers` workers takes its share.
    pub max_conn_rate: u32,
    /// Live connections per client address (0: no limit); each worker
    /// holds its share.
    pub max_conns_per_client: u32,
    /// A TCP segment other than a SYN may open a connection (IPVS's
    /// sloppy_tcp): a flow another director started, moved here by ECMP.
    pub sloppy_tcp: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("real server id {0} is out of range (at most {MAX_REALS} real servers)")]
    RealIdRange(RealId),
    #[error("service id {0} is out of range (at most {MAX_SERVICES} services)")]
    ServiceIdRange(ServiceId),
    #[error("more than 255 dataplane ports")]
    TooManyPorts,
}

/// Where an existing connection's packets go: kept per real server id so a
/// connection survives reloads as long as its real server exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealRoute {
    pub addr: Address,
    pub port: u16,
    pub egress: PortId,
    pub mac: Option<[u8; 6]>,
}

#[derive(Debug)]
pub struct Snapshot {
    pub generation: u64,
    pub ports: Vec<PortInfo>,
    pub services: Vec<VirtualService>,
    pub timeouts: Timeouts,
    pub gauges: Arc<[ConnGauge]>,
    pub mark_rules: Vec<MarkRule>,
    /// Some service has the FTP helper: data connections may be expected.
    pub ftp: bool,
    /// Some service may be SYN-proxied, and some always is.
    pub syn_proxy: bool,
    pub syn_proxy_on: bool,
    /// Dataplane workers: each takes `1/workers` of a service's
    /// `max_conn_rate`.
    pub workers: usize,
    /// Half-open connections per worker above which `auto` services are
    /// SYN-proxied (0: an eighth of the worker's table).
    pub syn_proxy_threshold: usize,
    by_endpoint: HashMap<(Address, u16, u8), usize>,
    by_mark: HashMap<u32, usize>,
    by_id: HashMap<ServiceId, usize>,
    reals: Vec<Option<RealRoute>>,
}

impl Snapshot {
    /// `retired`: real servers a reload removed whose connections still
    /// drain to them (no new connections: they are in no service).
    pub fn new(
        generation: u64,
        ports: Vec<PortInfo>,
        services: Vec<VirtualService>,
        retired: &[(RealId, RealRoute)],
        timeouts: Timeouts,
        gauges: Arc<[ConnGauge]>,
    ) -> Result<Snapshot, SnapshotError> {
        if ports.len() > 255 {
            return Err(SnapshotError::TooManyPorts);
        }
        let mut by_endpoint = HashMap::new();
        let mut by_mark = HashMap::new();
        let mut by_id = HashMap::new();
        let mut reals = vec![None; MAX_REALS];
        for (i, s) in services.iter().enumerate() {
            by_id.insert(s.id, i);
            if s.id as usize >= MAX_SERVICES {
                return Err(SnapshotError::ServiceIdRange(s.id));
            }
            match s.key {
                ServiceKey::Mark(m) => {
                    by_mark.insert(m, i);
                }
                ServiceKey::Endpoint { addr, port, proto } => {
                    by_endpoint.insert((Address::from(addr), port, proto.number()), i);
                }
            }
            for r in s.reals.iter().chain(s.sorry.iter()) {
                if let Some(g) = gauges.get(r.id as usize) {
                    g.set_thresholds(r.u_threshold, r.l_threshold);
                }
                let slot = reals
                    .get_mut(r.id as usize)
                    .ok_or(SnapshotError::RealIdRange(r.id))?;
                *slot = Some(RealRoute {
                    addr: r.addr,
                    port: r.port,
                    egress: r.egress,
                    mac: r.mac,
                });
            }
        }
        for &(id, route) in retired {
            let slot = reals
                .get_mut(id as usize)
                .ok_or(SnapshotError::RealIdRange(id))?;
            if slot.is_none() {
                *slot = Some(route);
            }
        }
        let ftp = services.iter().any(|s| s.ftp);
        let syn_proxy = services.iter().any(|s| s.syn_proxy != SynProxy::Off);
        let syn_proxy_on = services.iter().any(|s| s.syn_proxy == SynProxy::On);
        Ok(Snapshot {
            generation,
            ports,
            services,
            timeouts,
            gauges,
            mark_rules: Vec::new(),
            ftp,
            syn_proxy,
            syn_proxy_on,
            workers: 1,
            syn_proxy_threshold: 0,
            by_endpoint,
            by_mark,
            by_id,
            reals,
        })
    }

    /// The service a connection's id names.
    pub fn service_by_id(&self, id: ServiceId) -> Option<&VirtualService> {
        Some(&self.services[*self.by_id.get(&id)?])
    }

    /// The service a key names.
    pub fn service_by_key(&self, key: &ServiceKey) -> Option<&VirtualService> {
        let i = match *key {
            ServiceKey::Mark(m) => *self.by_mark.get(&m)?,
            ServiceKey::Endpoint { addr, port, proto } => {
                *self
                    .by_endpoint
                    .get(&(Address::from(addr), port, proto.number()))?
            }
        };
        Some(&self.services[i])
    }

    #[inline]
    pub fn service(&self, vip: Address, port: u16, proto: u8) -> Option<(usize, &VirtualService)> {
        let i = *self.by_endpoint.get(&(vip, port, proto))?;
        Some((i, &self.services[i]))
    }

    /// The service a new connection belongs to: an exact (vip, port, proto)
    /// service first, else the first firewall-mark rule that matches.
    #[inline]
    pub fn classify(
        &self,
        dst: Address,
        dport: u16,
        proto: u8,
    ) -> Option<(usize, &VirtualService)> {
        if let Some(hit) = self.service(dst, dport, proto) {
            return Some(hit);
        }
        let rule = self
            .mark_rules
            .iter()
            .find(|r| r.matches(dst, dport, proto))?;
        let i = *self.by_mark.get(&rule.mark)?;
        Some((i, &self.services[i]))
    }

    /// Install firewall-mark rules (built with the services).
    pub fn with_mark_rules(mut self, rules: Vec<MarkRule>) -> Snapshot {
        self.mark_rules = rules;
        self
    }

    #[inline]
    pub fn real(&self, id: RealId) -> Option<&RealRoute> {
        self.reals.get(id as usize)?.as_ref()
    }

    /// An empty table: the daemon forwards nothing until configured.
    pub fn empty(gauges: Arc<[ConnGauge]>) -> Snapshot {
        Snapshot::new(0, Vec::new(), Vec::new(), &[], Timeouts::default(), gauges)
            .expect("an empty snapshot is always valid")
    }
}
