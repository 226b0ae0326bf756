//! What `xlbctl show`, `conns`, `vrrp` and the metrics read: the daemon's
//! state rendered from lock-free handles (the snapshot, the workers'
//! counters and connection tables), on the API's threads, never the
//! control loop's.

use super::dataplane::DataplaneView;
use super::policy::Published;
use crate::api::server::StatusSource;
use crate::api::WorkerStatus;
use crate::api::{ConnFilter, ConnStatus, Rates, RealStatus, ServiceStatus, Status, Traffic};
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use xlb_dataplane::snapshot::{RealId, Snapshot, VirtualService};
use xlb_dataplane::stats::{DropReason, TrafficCounters, WorkerStats};
use xlb_model::addr::endpoint;
use xlb_model::tcp::TcpState;
use xlb_model::{Address, Protocol, RealKey, ServiceKey};

/// Counters at one instant: by service id and by real server id.
type Reading = (Instant, HashMap<u32, Traffic>, HashMap<RealId, Traffic>);

/// What `zero` read, per service and per real server.
#[derive(Debug, Default, Clone)]
struct Baselines {
    services: HashMap<ServiceKey, Traffic>,
    reals: HashMap<RealKey, Traffic>,
}

/// The daemon's state as the API and metrics threads see it.
pub struct Shared {
    pub dataplane: DataplaneView,
    /// Configured weights and health of the published snapshot.
    pub published: ArcSwap<Published>,
    /// Per-second rates by service id and by real server id (last sample).
    pub rates: ArcSwap<(HashMap<u32, Rates>, HashMap<RealId, Rates>)>,
    /// The previous reading the rates are computed from (control loop only).
    last_sample: Mutex<Option<Reading>>,
    /// Readings taken by `zero`, which listings count from: by service and
    /// by real server key (ids may be reused, keys name the same thing).
    zeroed: ArcSwap<Baselines>,
    /// The file the running configuration came from (a reload may name
    /// another, which then becomes the running one).
    pub config_path: ArcSwap<String>,
    /// The proxy's status side, while it runs.
    pub proxy: arc_swap::ArcSwapOption<xlb_proxy::ProxyView>,
    /// Connection sync's settings and counters, while it runs.
    pub sync: arc_swap::ArcSwapOption<(crate::config::SyncSettings, Arc<crate::sync::SyncStats>)>,
    /// Route announcement's state, while it runs (the speaker's thread
    /// updates the inner one).
    pub announce: arc_swap::ArcSwapOption<ArcSwap<crate::announce::AnnounceStatus>>,
    /// VRRP instances as `xlbctl vrrp` shows them.
    pub vrrp: Arc<ArcSwap<Vec<crate::ha::InstanceStatus>>>,
}

impl Shared {
    pub fn new(
        dataplane: DataplaneView,
        config_path: String,
        vrrp: Arc<ArcSwap<Vec<crate::ha::InstanceStatus>>>,
    ) -> Shared {
        Shared {
            dataplane,
            published: ArcSwap::from_pointee(Published::default()),
            rates: ArcSwap::from_pointee((HashMap::new(), HashMap::new())),
            last_sample: Mutex::new(None),
            zeroed: ArcSwap::from_pointee(Baselines::default()),
            config_path: ArcSwap::from_pointee(config_path),
            proxy: Default::default(),
            sync: Default::default(),
            announce: Default::default(),
            vrrp,
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.dataplane.snapshot.load_full()
    }

    /// One counter set summed over every worker.
    fn total(&self, pick: &dyn Fn(&WorkerStats) -> &TrafficCounters) -> Traffic {
        let mut t = Traffic::default();
        for (w, _) in &self.dataplane.workers {
            t.add(pick(w));
        }
        t
    }

    /// Read the counters and, when `period` has passed since the last
    /// reading, publish per-second rates. Called from the control loop.
    pub fn sample_rates(&self, period: Duration) {
        let snap = self.snapshot();
        let now = Instant::now();
        let mut last = self.last_sample.lock().unwrap_or_else(|e| e.into_inner());
        if last
            .as_ref()
            .is_some_and(|(t, _, _)| now.duration_since(*t) < period)
        {
            return;
        }
        let services: HashMap<u32, Traffic> = snap
            .services
            .iter()
            .map(|s| (s.id, self.total(&|w| &w.services[s.id as usize])))
            .collect();
        let reals: HashMap<RealId, Traffic> = snap
            .services
            .iter()
            .flat_map(|s| s.reals.iter())
            .map(|r| (r.id, self.total(&|w| &w.reals[r.id as usize])))
            .collect();
        if let Some((t0, s0, r0)) = last.as_ref() {
            let secs = now.duration_since(*t0).as_secs_f64();
            let sr = services
                .iter()
                .filter_map(|(id, t)| Some((*id, Rates::between(s0.get(id)?, t, secs))))
                .collect();
            let rr = reals
                .iter()
                .filter_map(|(id, t)| Some((*id, Rates::between(r0.get(id)?, t, secs))))
                .collect();
            self.rates.store(Arc::new((sr, rr)));
        }
        *last = Some((now, services, reals));
    }

    /// Live persistence templates per real server (ipvsadm's PersistConn).
    /// A walk of the template table, so only when a service persists.
    fn templates_per_real(&self, snap: &Snapshot) -> HashMap<RealId, u64> {
        let mut n = HashMap::new();
        if snap.services.iter().all(|s| s.persistence.is_none()) {
            return n;
        }
        let now = xlb_dataplane::worker::coarse_seconds();
        for t in self.dataplane.templates.iter().flat_map(|t| t.iter(now)) {
            *n.entry(t.real).or_insert(0) += 1;
        }
        n
    }

    fn service_status(
        &self,
        s: &VirtualService,
        snap: &Snapshot,
        templates: &HashMap<RealId, u64>,
    ) -> ServiceStatus {
        let rates = self.rates.load();
        let published = self.published.load();
        let (address, port, protocol) = match s.key {
            ServiceKey::Mark(m) => (m.to_string(), 0, "FWM".to_string()),
            ServiceKey::Endpoint { addr, port, proto } => {
                (addr.to_string(), port, proto.label().to_string())
            }
        };
        ServiceStatus {
            name: s.name.clone(),
            key: Some(s.key),
            persistence: s.persistence,
            address,
            port,
            protocol,
            scheduler: s.scheduler.name().into(),
            flags: flags(s),
            forwarding: s.forwarding.label().into(),
            traffic: self.total(&|w| &w.services[s.id as usize]),
            rates: rates.0.get(&s.id).copied().unwrap_or_default(),
            reals: s
                .reals
                .iter()
                .map(|r| RealStatus {
                    address: r.addr.to_string(),
                    port: r.port,
                    weight: r.weight,
                    configured_weight: published.configured.get(&r.id).copied().unwrap_or(r.weight),
                    enabled: r.enabled,
                    health: published.health.get(&r.id).cloned(),
                    resolved: r.mac.is_some(),
                    u_threshold: r.u_threshold,
                    l_threshold: r.l_threshold,
                    overloaded: snap.gauges[r.id as usize].overloaded(),
                    active: snap.gauges[r.id as usize].active(),
                    inactive: snap.gauges[r.id as usize].inactive(),
                    persistent: templates.get(&r.id).copied().unwrap_or(0),
                    traffic: self.total(&|w| &w.reals[r.id as usize]),
                    rates: rates.1.get(&r.id).copied().unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// ipvsadm's flags column: persistence (with its mask) and ours, `ftp`.
fn flags(s: &VirtualService) -> String {
    let persistent = s.persistence.map(|p| {
        let v4 = s.key.address().is_none_or(|(a, _, _)| a.is_ipv4());
        let (full, mask) = if v4 {
            (32, Address::v4(u32::MAX).masked(p.prefix).to_string())
        } else {
            (128, p.prefix.to_string())
        };
        if p.prefix == full {
            format!("persistent {}", p.timeout)
        } else {
            format!("persistent {} mask {mask}", p.timeout)
        }
    });
    // Limits and the SYN proxy when not the default ("auto" is, and means
    // nothing until a flood).
    persistent
        .into_iter()
        .chain(s.ftp.then(|| "ftp".to_string()))
        .chain((s.syn_proxy == xlb_dataplane::snapshot::SynProxy::On).then(|| "synproxy".into()))
        .chain((s.max_conn_rate > 0).then(|| format!("rate {}/s", s.max_conn_rate)))
        .chain(
            (s.max_conns_per_client > 0).then(|| format!("per-client {}", s.max_conns_per_client)),
        )
        .chain(s.sloppy_tcp.then(|| "sloppy".into()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl StatusSource for Shared {
    fn listing(&self) -> Status {
        let mut st = self.status();
        let base = self.zeroed.load();
        let snap = self.snapshot();
        for (v, s) in st.services.iter_mut().zip(&snap.services) {
            if let Some(b) = base.services.get(&s.key) {
                v.traffic = v.traffic.since(b);
            }
            for (rv, r) in v.reals.iter_mut().zip(&s.reals) {
                let key = RealKey::new(s.key, r.addr.ip(), r.port);
                if let Some(b) = base.reals.get(&key) {
                    rv.traffic = rv.traffic.since(b);
                }
            }
        }
        st
    }

    fn zero(&self, service: Option<&ServiceKey>) -> Result<String, String> {
        let snap = self.snapshot();
        if let Some(k) = service {
            if snap.service_by_key(k).is_none() {
                return Err(format!("no virtual service {k}"));
            }
        }
        let mut fresh = Baselines::default();
        for s in snap
            .services
            .iter()
            .filter(|s| service.is_none_or(|k| *k == s.key))
        {
            fresh
                .services
                .insert(s.key, self.total(&|w| &w.services[s.id as usize]));
            for r in &s.reals {
                fresh.reals.insert(
                    RealKey::new(s.key, r.addr.ip(), r.port),
                    self.total(&|w| &w.reals[r.id as usize]),
                );
            }
        }
        let n = fresh.services.len();
        // Two clients zeroing at once both count.
        self.zeroed.rcu(|old| {
            let mut b = (**old).clone();
            b.services.extend(fresh.services.clone());
            b.reals.extend(fresh.reals.clone());
            b
        });
        Ok(format!(
            "zeroed the counters of {n} virtual service{} (metrics keep counting)",
            if n == 1 { "" } else { "s" }
        ))
    }

    fn vrrp(&self) -> Vec<crate::ha::InstanceStatus> {
        (**self.vrrp.load()).clone()
    }

    fn conns(&self, f: &ConnFilter) -> Result<(Vec<ConnStatus>, usize), String> {
        let snap = self.snapshot();
        // The services the filter names (by name, VIP:PORT or
        // VIP:PORT/PROTO); naming none that exists is an error, as for the
        // other commands, not an empty list.
        let wanted: Option<Vec<u32>> = match &f.service {
            None => None,
            Some(w) => {
                let ids: Vec<u32> = snap
                    .services
                    .iter()
                    .filter(|s| {
                        s.name == *w
                            || s.key.to_string().eq_ignore_ascii_case(w)
                            || s.key
                                .address()
                                .is_some_and(|(a, p, _)| endpoint(a, p) == *w)
                    })
                    .map(|s| s.id)
                    .collect();
                if ids.is_empty() {
                    let all: Vec<String> = snap
                        .services
                        .iter()
                        .map(|s| format!("{} ({})", s.name, s.key))
                        .collect();
                    return Err(format!(
                        "no virtual server {w:?}; there are: {}",
                        all.join(", ")
                    ));
                }
                Some(ids)
            }
        };
        let service_ok = |id: u32| wanted.as_ref().is_none_or(|w| w.contains(&id));
        let now = xlb_dataplane::worker::coarse_seconds();
        let matches = |want: &Option<String>, a: Address, p: u16| match want {
            None => true,
            Some(w) => *w == a.to_string() || *w == endpoint(a, p),
        };
        let limit = f.limit.unwrap_or(1000);
        let (mut out, mut more) = (Vec::new(), 0);
        for (worker, t) in self.dataplane.tables.iter().enumerate() {
            for c in t.iter() {
                if !(service_ok(c.service)
                    && matches(&f.real, c.real_addr, c.real_port)
                    && matches(&f.client, c.client, c.cport))
                {
                    continue;
                }
                if out.len() >= limit {
                    more += 1;
                    continue;
                }
                let proto = Protocol::from_number(c.proto);
                out.push(ConnStatus {
                    protocol: proto.map_or("?", |p| p.label()).into(),
                    client: endpoint(c.client, c.cport),
                    virtual_address: endpoint(c.vip, c.vport),
                    real: endpoint(c.real_addr, c.real_port),
                    state: if proto == Some(Protocol::Tcp) {
                        c.state.name().into()
                    } else {
                        "UDP".into()
                    },
                    expires_in: c.expires.wrapping_sub(now).min(i32::MAX as u32),
                    worker,
                    template: false,
                });
            }
        }
        // Persistence templates, as ipvsadm lists them: client port 0.
        let templates = self.dataplane.templates.iter().flat_map(|t| t.iter(now));
        for t in templates {
            let (Some(svc), Some(real)) = (snap.service_by_id(t.service), snap.real(t.real)) else {
                continue;
            };
            let (vaddr, vport, proto) = match svc.key {
                ServiceKey::Endpoint { addr, port, proto } => (addr, port, proto.label()),
                // IPVS shows a firewall-mark template's "address" as the mark.
                ServiceKey::Mark(m) => (std::net::Ipv4Addr::from(m).into(), 0, "IP"),
            };
            if !(service_ok(svc.id)
                && matches(&f.real, real.addr, real.port)
                && matches(&f.client, t.client, 0))
            {
                continue;
            }
            if out.len() >= limit {
                more += 1;
                continue;
            }
            out.push(ConnStatus {
                protocol: proto.into(),
                client: endpoint(t.client, 0),
                virtual_address: endpoint(vaddr, vport),
                real: endpoint(real.addr, real.port),
                state: "NONE".into(),
                expires_in: t.expires.wrapping_sub(now).min(i32::MAX as u32),
                worker: 0,
                template: true,
            });
        }
        Ok((out, more))
    }

    fn status(&self) -> Status {
        let snap = self.snapshot();
        let templates = self.templates_per_real(&snap);
        let services = snap
            .services
            .iter()
            .map(|s| self.service_status(s, &snap, &templates))
            .collect();
        let workers = self
            .dataplane
            .workers
            .iter()
            .enumerate()
            .map(|(index, (w, zc))| WorkerStatus {
                index,
                zero_copy: *zc,
                rx_packets: w.rx_packets.get(),
                tx_packets: w.tx_packets.get(),
                rx_batches: w.rx_batches.get(),
                poll_iterations: w.poll_iterations.get(),
                conns_live: w.conns_live.get(),
                conns_created: w.conns_created.get(),
                conns_expired: w.conns_expired.get(),
                remote_hits: w.remote_hits.get(),
                conns_evicted: w.conns_evicted.get(),
                conns_picked_up: w.conns_picked_up.get(),
                frag_needed_sent: w.frag_needed_sent.get(),
                conns_installed: w.conns_installed.get(),
                installs_refused: w.installs_refused.get(),
                ip_options: w.ip_options.get(),
                ftp_rewrites: w.ftp_rewrites.get(),
                ftp_data_conns: w.ftp_data_conns.get(),
                ftp_unhelped: w.ftp_unhelped.get(),
                syn_cookies_sent: w.syn_cookies_sent.get(),
                syn_cookies_accepted: w.syn_cookies_accepted.get(),
                syn_proxy_engaged: w.syn_proxy_engaged.get() != 0,
                syn_proxy_parked: w.syn_proxy_parked.get(),
                drops: DropReason::ALL
                    .iter()
                    .map(|r| (r.name().to_string(), w.drops(*r)))
                    .collect(),
            })
            .collect();
        let t = &snap.timeouts;
        Status {
            generation: snap.generation,
            config: self.config_path.load().to_string(),
            services,
            workers,
            timeouts: [
                t.tcp(TcpState::Established),
                t.tcp(TcpState::FinWait),
                t.udp,
            ],
            conn_table_size: self
                .dataplane
                .tables
                .first()
                .map_or(0, |t| t.capacity() as u64),
            proxy: self.proxy.load().as_ref().map(|p| p.status()),
            sync: self
                .sync
                .load()
                .as_ref()
                .map(|s| sync_status(self, &s.0, &s.1)),
            announce: self
                .announce
                .load()
                .as_ref()
                .map(|a| (*a.load_full()).clone()),
        }
    }
}

fn sync_status(
    shared: &Shared,
    cfg: &crate::config::SyncSettings,
    stats: &crate::sync::SyncStats,
) -> crate::api::SyncStatus {
    use crate::sync::SyncStats as S;
    crate::api::SyncStatus {
        interface: cfg.interface.clone(),
        sync_id: cfg.sync_id,
        peers: match &cfg.peers {
            crate::config::SyncPeers::Group(g) => vec![g.to_string()],
            crate::config::SyncPeers::Unicast(p) => p.iter().map(|a| a.to_string()).collect(),
        },
        port: cfg.port,
        sent_datagrams: S::get(&stats.sent_datagrams),
        sent_conns: S::get(&stats.sent_conns),
        send_errors: S::get(&stats.send_errors),
        unsendable: S::get(&stats.unsendable),
        received_datagrams: S::get(&stats.received_datagrams),
        received_conns: S::get(&stats.received_conns),
        installed: S::get(&stats.installed),
        table_transfers: S::get(&stats.table_transfers),
        templates_installed: S::get(&stats.templates_installed),
        overflow: shared
            .dataplane
            .workers
            .iter()
            .map(|(w, _)| w.sync_overflow.get())
            .sum(),
        dropped: stats
            .dropped()
            .into_iter()
            .map(|(r, n)| (r.to_string(), n))
            .collect(),
        heard_from: stats
            .peers()
            .into_iter()
            .map(|(a, n)| (a.to_string(), n))
            .collect(),
    }
}
