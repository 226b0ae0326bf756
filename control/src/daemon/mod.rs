//! The daemon: attaches the steering program, binds and starts the workers,
//! publishes snapshots, and keeps real servers' MACs fresh from the kernel's
//! neighbour table. Workers only ever read what it publishes.

mod build;
mod ids;

pub use build::{build, BuildError, Built};
pub use ids::{Ids, RealKey, ServiceKey};

use crate::api::server::StatusSource;
use crate::api::{Rates, RealStatus, ServiceStatus, Status, Traffic, WorkerStatus};
use crate::config::{CheckDef, Config};
use crate::health::HealthRunner;
use crate::net::ifaces;
use crate::net::neigh::{needs_poke, NeighbourTable, Netlink};
use crate::nic::{self, NicProfile};
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use xlb_dataplane::snapshot::{Forwarding, RealId, RealRoute, Snapshot};
use xlb_dataplane::stats::{new_gauges, ConnGauge, DropReason, WorkerStats};
use xlb_dataplane::steer::{EndpointKey, Steering, SteeringRules};
use xlb_dataplane::worker::{PortSpec, Worker, WorkerConfig, WorkerHandle};

impl From<xlb_dataplane::steer::SteerError> for StartError {
    fn from(e: xlb_dataplane::steer::SteerError) -> Self {
        StartError::Steer(Box::new(e))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Build(#[from] BuildError),
    #[error("{0}")]
    Steer(Box<xlb_dataplane::steer::SteerError>),
    #[error("{0}")]
    Xsk(#[from] xlb_dataplane::xsk::XskError),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideOp {
    Weight(u32),
    Disable,
    Enable,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Override {
    weight: Option<u32>,
    disabled: bool,
}

fn real_key_of(
    s: &xlb_dataplane::snapshot::VirtualService,
    r: &xlb_dataplane::snapshot::RealServer,
) -> RealKey {
    (
        (Ipv4Addr::from(s.vip), s.port, s.proto),
        Ipv4Addr::from(r.addr),
        r.port,
    )
}

fn real_keys(cfg: &Config) -> std::collections::HashSet<RealKey> {
    cfg.services
        .iter()
        .flat_map(|s| {
            s.reals
                .iter()
                .map(move |r| ((s.address, s.port, s.protocol), r.address, r.port))
        })
        .collect()
}

/// Apply overrides and health verdicts, record the configured weights and
/// verdicts for listings, swap the snapshot in.
fn publish(
    shared: &Shared,
    overrides: &HashMap<RealKey, Override>,
    plan: &HashMap<RealKey, CheckDef>,
    verdicts: &HashMap<RealKey, xlb_checks::Report>,
    ramps: &HashMap<RealKey, f64>,
    mut snap: Snapshot,
) {
    let mut configured = HashMap::new();
    let mut health = HashMap::new();
    for s in &mut snap.services {
        let keys: Vec<RealKey> = s.reals.iter().map(|r| real_key_of(s, r)).collect();
        for (r, k) in s.reals.iter_mut().zip(keys) {
            configured.insert(r.id, r.weight);
            if let Some(v) = verdicts.get(&k) {
                match v.health {
                    xlb_checks::Health::Up => r.weight = v.weight.unwrap_or(r.weight),
                    // keepalived: removed from the pool, or weight 0 with
                    // inhibit_on_failure. Either way existing connections go on.
                    xlb_checks::Health::Down
                        if plan.get(&k).is_some_and(|c| c.inhibit_on_failure) =>
                    {
                        r.weight = 0
                    }
                    xlb_checks::Health::Down => r.enabled = false,
                }
            }
            if plan.contains_key(&k) {
                let text = match verdicts.get(&k) {
                    Some(v) if v.health == xlb_checks::Health::Down => {
                        format!("down: {}", v.reason.as_deref().unwrap_or("check failed"))
                    }
                    _ => "up".to_string(),
                };
                health.insert(r.id, text);
            }
            if let Some(o) = overrides.get(&k) {
                r.weight = o.weight.unwrap_or(r.weight);
                r.enabled &= !o.disabled;
            }
            if let (Some(f), true) = (ramps.get(&k), r.weight > 0) {
                r.weight = ramped(r.weight, *f);
            }
        }
    }
    shared.configured_weights.store(Arc::new(configured));
    shared.health.store(Arc::new(health));
    shared.snapshot.store(Arc::new(snap));
}

/// The slow-start setting of the service a real server belongs to.
fn slow_start_of(cfg: &Config, key: &RealKey) -> u32 {
    cfg.services
        .iter()
        .find(|s| (s.address, s.port, s.protocol) == key.0)
        .map_or(0, |s| s.slow_start)
}

/// How far (0..1) each ramping server is into its slow start.
fn ramp_factors(cfg: &Config, ramps: &HashMap<RealKey, Instant>) -> HashMap<RealKey, f64> {
    ramps
        .iter()
        .filter_map(|(k, since)| {
            let secs = slow_start_of(cfg, k);
            let progress = since.elapsed().as_secs_f64() / f64::from(secs.max(1));
            (secs > 0 && progress < 1.0).then_some((*k, progress))
        })
        .collect()
}

/// Slow start: the weight a server has `progress` (0..1) into its ramp,
/// never below 1 (it must get some traffic to warm up).
fn ramped(weight: u32, progress: f64) -> u32 {
    ((f64::from(weight) * progress).ceil() as u32).clamp(1, weight)
}

/// Find a real server by service (name, VIP:port or VIP:port/proto) and
/// address (ADDR or ADDR:PORT), with an error that lists what exists.
fn find_real(cfg: &Config, service: &str, real: &str) -> Result<RealKey, String> {
    let proto_name = |p: u8| {
        if p == xlb_dataplane::wire::IPPROTO_TCP {
            "tcp"
        } else {
            "udp"
        }
    };
    let label = |s: &crate::config::ServiceDef| {
        format!(
            "{} ({}:{}/{})",
            s.name,
            s.address,
            s.port,
            proto_name(s.protocol)
        )
    };
    let matches: Vec<_> = cfg
        .services
        .iter()
        .filter(|s| {
            let ep = format!("{}:{}", s.address, s.port);
            s.name == service
                || ep == service
                || format!("{ep}/{}", proto_name(s.protocol)) == service.to_ascii_lowercase()
        })
        .collect();
    let svc = match matches.as_slice() {
        [one] => *one,
        [] => {
            let all: Vec<String> = cfg.services.iter().map(label).collect();
            return Err(format!(
                "no virtual server {service:?}; there are: {}",
                all.join(", ")
            ));
        }
        many => {
            let all: Vec<String> = many.iter().map(|s| label(s)).collect();
            return Err(format!(
                "{service:?} matches {}; add /tcp or /udp",
                all.join(" and ")
            ));
        }
    };
    let rmatches: Vec<_> = svc
        .reals
        .iter()
        .filter(|r| r.address.to_string() == real || format!("{}:{}", r.address, r.port) == real)
        .collect();
    match rmatches.as_slice() {
        [r] => Ok(((svc.address, svc.port, svc.protocol), r.address, r.port)),
        [] => {
            let all: Vec<String> = svc
                .reals
                .iter()
                .map(|r| format!("{}:{}", r.address, r.port))
                .collect();
            Err(format!(
                "{} has no real server {real:?}; it has: {}",
                svc.name,
                all.join(", ")
            ))
        }
        _ => Err(format!(
            "{real:?} is ambiguous in {}; give ADDRESS:PORT",
            svc.name
        )),
    }
}

/// A real server a reload removed: its connections drain to it until they
/// end; after the id quarantine it is forgotten (at the next reload).
#[derive(Debug, Clone)]
struct Retired {
    id: RealId,
    route: RealRoute,
    since: Instant,
    /// Its service's (VIP, port, proto): still steered while it drains.
    service_key: EndpointKey,
    /// NAT: its reply endpoint, still steered.
    reply_key: Option<EndpointKey>,
}

/// Counters at one instant: by service id and by real server id.
type Reading = (Instant, HashMap<u32, Traffic>, HashMap<RealId, Traffic>);

/// The daemon's view shared with the API thread: lock-free handles only.
pub struct Shared {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Every worker's connection table (read-only, lock-free).
    pub tables: Vec<Arc<xlb_dataplane::conn::SharedTable>>,
    /// Weights as configured (before run-time overrides), by real server id.
    pub configured_weights: ArcSwap<HashMap<RealId, u32>>,
    /// Health-check verdicts of checked real servers, by id ("up", "down: why").
    pub health: ArcSwap<HashMap<RealId, String>>,
    /// Per-second rates by service id and by real server id (last sample).
    pub rates: ArcSwap<(HashMap<u32, Rates>, HashMap<RealId, Rates>)>,
    /// The previous reading the rates are computed from.
    last_sample: std::sync::Mutex<Option<Reading>>,
    pub workers: Vec<(Arc<WorkerStats>, bool)>,
    pub config_path: String,
    /// VRRP instances as `xlbctl vrrp` shows them.
    pub vrrp: Arc<ArcSwap<Vec<crate::ha::InstanceStatus>>>,
}

pub struct Daemon {
    cfg: Config,
    shared: Arc<Shared>,
    gauges: Arc<[ConnGauge]>,
    ids: Ids,
    generation: u64,
    netlink: Netlink,
    neighbours: Vec<(u32, Ipv4Addr)>,
    stop: Arc<AtomicBool>,
    workers: Vec<WorkerHandle>,
    current_rules: SteeringRules,
    /// Run-time changes to real servers, kept across reloads while they exist.
    overrides: HashMap<RealKey, Override>,
    checks: HealthRunner,
    /// Real servers ramping up after joining or coming back (slow start).
    ramps: HashMap<RealKey, Instant>,
    /// Per service: quorum currently held (absent: held).
    quorum_up: HashMap<ServiceKey, bool>,
    /// The checks running, and what they last said (absent: up, no report).
    check_plan: HashMap<RealKey, CheckDef>,
    verdicts: HashMap<RealKey, xlb_checks::Report>,
    /// `xlbd --socket`, which wins over every file's [daemon] socket.
    socket_override: Option<std::path::PathBuf>,
    /// Real servers removed by a reload, still draining.
    retired: Vec<Retired>,
    vrrp: crate::ha::Vrrp,
    /// The VRRP generation the steering maps reflect.
    vrrp_generation: u64,
    // Dropped last: detaching the programs after the workers stopped.
    steering: Vec<Steering>,
}

impl Daemon {
    pub fn start(cfg: Config) -> Result<Daemon, StartError> {
        let io = |what| move |source| StartError::Io { what, source };
        let mut netlink = Netlink::open().map_err(io("open rtnetlink"))?;
        let all = ifaces::all().map_err(io("list interfaces"))?;
        let gauges = new_gauges();
        let mut ids = Ids::default();
        // First pass only to learn which neighbours to resolve.
        let first = build(
            &cfg,
            &all,
            &Default::default(),
            &mut ids,
            &[],
            1,
            gauges.clone(),
        )?;
        let table = netlink.neighbours().map_err(io("read neighbour table"))?;
        poke_missing(&mut netlink, &first.neighbours, &table);
        let table = netlink.neighbours().map_err(io("read neighbour table"))?;
        let built = build(&cfg, &all, &table, &mut ids, &[], 1, gauges.clone())?;

        let nic = effective_nic_settings(&cfg);
        let mut steering = Vec::new();
        for name in &cfg.daemon.interfaces {
            // Empty until the VRRP state is known (sync_steering below).
            steering.push(Steering::attach(name, nic.xdp_mode)?);
        }
        let checks = HealthRunner::start().map_err(io("start the health-check thread"))?;
        let built_rules = built.rules.clone();
        let snapshot = Arc::new(ArcSwap::from_pointee(built.snapshot));
        let stop = Arc::new(AtomicBool::new(false));
        let ports: Vec<PortSpec> = snapshot
            .load()
            .ports
            .iter()
            .map(|p| PortSpec {
                ifname: p.name.clone(),
                ifindex: p.ifindex,
            })
            .collect();
        // VRRP first: a crash may have left virtual addresses behind, which
        // a backup must drop before the dataplane is told what it holds.
        let vrrp = crate::ha::Vrrp::start(cfg.vrrp.clone()).map_err(io("start VRRP"))?;
        let mut bound = Vec::new();
        // With no interfaces (a VRRP-only configuration) no worker runs.
        let cores = if cfg.daemon.interfaces.is_empty() {
            &[][..]
        } else {
            &cfg.daemon.cores[..]
        };
        for (i, core) in cores.iter().enumerate() {
            let w = Worker::bind(WorkerConfig {
                index: i,
                core: *core,
                queue: i as u32,
                ports: ports.clone(),
                xsk: nic.rings,
                poll: nic.poll,
                table_capacity: cfg.daemon.conn_table_size,
            })?;
            for (s, fd) in steering.iter_mut().zip(w.socket_fds()) {
                s.set_socket(i as u32, fd)?;
            }
            bound.push(w);
        }
        // Every worker reads the others' tables: replies may arrive on
        // another queue than their connection's (docs/design/conn-table.md).
        let tables: Vec<_> = bound.iter().map(|w| w.conn_table()).collect();
        // One template table for all workers: a client's connections reach
        // different workers and must find the same server.
        let templates = Arc::new(xlb_dataplane::conn::PersistTable::new(
            cfg.daemon.conn_table_size,
        ));
        // One FTP helper: a control connection's replies may reach any worker.
        let ftp = Arc::new(xlb_dataplane::ftp::FtpHelper::new());
        let mut workers = Vec::new();
        for (i, mut w) in bound.into_iter().enumerate() {
            let peers = tables
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, t)| t.clone())
                .collect();
            w.set_peers(peers);
            w.set_persistence(templates.clone());
            w.set_ftp(ftp.clone());
            workers.push(
                w.spawn(snapshot.clone(), stop.clone())
                    .map_err(io("start worker thread"))?,
            );
        }
        for w in &workers {
            tracing::info!(
                worker = w.index,
                zero_copy = w.zero_copy,
                "AF_XDP sockets bound"
            );
        }
        let shared = Arc::new(Shared {
            snapshot,
            tables: tables.clone(),
            configured_weights: ArcSwap::from_pointee(HashMap::new()),
            health: ArcSwap::from_pointee(HashMap::new()),
            rates: ArcSwap::from_pointee((HashMap::new(), HashMap::new())),
            last_sample: std::sync::Mutex::new(None),
            workers: workers
                .iter()
                .map(|w| (w.stats.clone(), w.zero_copy))
                .collect(),
            config_path: cfg.path.display().to_string(),
            vrrp: vrrp.status(),
        });
        let mut daemon = Daemon {
            cfg,
            shared,
            gauges,
            ids,
            generation: 1,
            netlink,
            neighbours: built.neighbours,
            stop,
            workers,
            current_rules: built_rules,
            retired: Vec::new(),
            overrides: HashMap::new(),
            checks,
            quorum_up: HashMap::new(),
            ramps: HashMap::new(),
            check_plan: HashMap::new(),
            verdicts: HashMap::new(),
            socket_override: None,
            vrrp_generation: vrrp.generation(),
            vrrp,
            steering,
        };
        daemon
            .sync_steering(&daemon.current_rules.clone())
            .map_err(StartError::Steer)?;
        daemon.plan_checks();
        daemon.evaluate_quorum();
        Ok(daemon)
    }

    /// The socket given on the command line, kept across reloads.
    pub fn set_socket_override(&mut self, socket: Option<std::path::PathBuf>) {
        self.socket_override = socket;
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Periodic upkeep: ask the kernel to resolve real servers whose entry
    /// is missing, failed or stale (it never sees our traffic, so nothing
    /// else would), and republish when a MAC changed.
    pub fn tick(&mut self) {
        self.shared.sample_rates(std::time::Duration::from_secs(2));
        if !self.ramps.is_empty() {
            // Slow start: step the ramping weights; a finished ramp gets one
            // last publication at full weight, then is forgotten.
            let active = ramp_factors(&self.cfg, &self.ramps);
            self.ramps.retain(|k, _| active.contains_key(k));
            match self.netlink.neighbours() {
                Ok(t) => {
                    if let Err(e) = self.rebuild(&t) {
                        tracing::warn!(error = %e, "cannot step slow start");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the neighbour table"),
            }
        }
        let snap = self.shared.snapshot.load_full();
        let table = match self.netlink.neighbours() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the neighbour table");
                return;
            }
        };
        poke_missing(&mut self.netlink, &self.neighbours, &table);
        let changed = snap.services.iter().flat_map(|s| s.reals.iter()).any(|r| {
            let ifindex = snap.ports[r.egress as usize].ifindex;
            table
                .get(&(ifindex, Ipv4Addr::from(r.addr)))
                .and_then(|n| n.usable_mac())
                != r.mac
        });
        if !changed {
            return;
        }
        match self.rebuild(&table) {
            Ok(()) => {
                let new = self.shared.snapshot.load();
                for s in &new.services {
                    for r in &s.reals {
                        let old = snap.real(r.id).and_then(|o| o.mac);
                        if old != r.mac {
                            tracing::info!(service = %s.name, real = %Ipv4Addr::from(r.addr),
                                mac = ?r.mac.map(fmt_mac), "real server neighbour changed");
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "keeping the running configuration"),
        }
    }

    /// Build the running configuration again (new neighbour facts or
    /// run-time overrides) and publish it.
    fn rebuild(&mut self, table: &NeighbourTable) -> Result<(), String> {
        let all = ifaces::all().map_err(|e| format!("cannot list interfaces: {e}"))?;
        let retired = self.retired_routes();
        let b = build(
            &self.cfg,
            &all,
            table,
            &mut self.ids,
            &retired,
            self.generation + 1,
            self.gauges.clone(),
        )
        .map_err(|e| e.to_string())?;
        self.generation += 1;
        self.neighbours = b.neighbours;
        self.publish(b.snapshot);
        Ok(())
    }

    /// Apply run-time overrides and health verdicts to a freshly built
    /// snapshot and swap it in.
    fn publish(&mut self, snap: Snapshot) {
        let ramps = ramp_factors(&self.cfg, &self.ramps);
        publish(
            &self.shared,
            &self.overrides,
            &self.check_plan,
            &self.verdicts,
            &ramps,
            snap,
        );
        self.evaluate_quorum();
    }

    /// keepalived's quorum: compare each service's live weight with its
    /// quorum (with hysteresis) and run quorum_up/quorum_down on a change.
    fn evaluate_quorum(&mut self) {
        let snap = self.shared.snapshot.load_full();
        for s in &snap.services {
            let key = (Ipv4Addr::from(s.vip), s.port, s.proto);
            let Some(def) = self
                .cfg
                .services
                .iter()
                .find(|d| (d.address, d.port, d.protocol) == key)
            else {
                continue;
            };
            let q = &def.quorum;
            let live: u64 = s
                .reals
                .iter()
                .filter(|r| r.enabled)
                .map(|r| u64::from(r.weight))
                .sum();
            let up = *self.quorum_up.get(&key).unwrap_or(&true);
            let (min, h) = (u64::from(q.min), u64::from(q.hysteresis));
            let now_up = if up { live + h >= min } else { live >= min + h };
            if now_up != up {
                self.quorum_up.insert(key, now_up);
                let state = if now_up { "gained" } else { "lost" };
                tracing::info!(service = %s.name, live_weight = live, quorum = q.min, "quorum {state}");
                if let Some(cmd) = if now_up { q.up.clone() } else { q.down.clone() } {
                    run_command(cmd);
                }
            }
        }
    }

    /// Start the checks of the running configuration; unchanged ones keep
    /// running with their state.
    fn plan_checks(&mut self) {
        let plan: HashMap<RealKey, CheckDef> = self
            .cfg
            .services
            .iter()
            .flat_map(|s| {
                s.reals.iter().filter_map(move |r| {
                    let c = r.check.clone()?;
                    Some((((s.address, s.port, s.protocol), r.address, r.port), c))
                })
            })
            .collect();
        // A check that changed starts afresh (up), like a new one.
        self.verdicts
            .retain(|k, _| plan.get(k).map(|c| &c.spec) == self.check_plan.get(k).map(|c| &c.spec));
        self.checks
            .plan(plan.iter().map(|(k, c)| (*k, c.spec.clone())).collect());
        self.check_plan = plan;
    }

    /// Take the health-check verdicts that arrived; republish on change.
    pub fn poll_checks(&mut self) {
        let mut changed = false;
        while let Ok((key, report)) = self.checks.reports.try_recv() {
            if !self.check_plan.contains_key(&key) {
                continue; // a check the last reload removed
            }
            let ((vip, vport, _), addr, port) = key;
            let why = report.reason.clone().unwrap_or_default();
            match report.health {
                xlb_checks::Health::Down => tracing::info!(
                    service = %format!("{vip}:{vport}"), real = %format!("{addr}:{port}"),
                    reason = %why, "real server DOWN"),
                xlb_checks::Health::Up => tracing::info!(
                    service = %format!("{vip}:{vport}"), real = %format!("{addr}:{port}"),
                    weight = ?report.weight, "real server UP"),
            }
            let real = self
                .cfg
                .services
                .iter()
                .flat_map(|s| {
                    s.reals.iter().filter(move |r| {
                        ((s.address, s.port, s.protocol), r.address, r.port) == key
                    })
                })
                .next();
            let cmd = match report.health {
                xlb_checks::Health::Up => real.and_then(|r| r.notify_up.clone()),
                xlb_checks::Health::Down => real.and_then(|r| r.notify_down.clone()),
            };
            if let Some(cmd) = cmd {
                run_command(cmd);
            }
            let was_down = self
                .verdicts
                .get(&key)
                .is_some_and(|v| v.health == xlb_checks::Health::Down);
            if was_down
                && report.health == xlb_checks::Health::Up
                && slow_start_of(&self.cfg, &key) > 0
            {
                self.ramps.insert(key, Instant::now());
            }
            self.verdicts.insert(key, report);
            changed = true;
        }
        if changed {
            match self.netlink.neighbours() {
                Ok(t) => {
                    if let Err(e) = self.rebuild(&t) {
                        tracing::warn!(error = %e, "cannot apply health-check verdicts");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the neighbour table"),
            }
        }
    }

    /// `xlbctl set-weight | drain | disable | enable`.
    pub fn override_real(
        &mut self,
        service: &str,
        real: &str,
        op: OverrideOp,
    ) -> Result<String, String> {
        let key = find_real(&self.cfg, service, real)?;
        let entry = self.overrides.entry(key).or_default();
        match op {
            OverrideOp::Weight(w) if w > 65535 => {
                return Err(format!("weight {w} is out of range; use 0 to 65535"))
            }
            OverrideOp::Weight(w) => entry.weight = Some(w),
            OverrideOp::Disable => entry.disabled = true,
            OverrideOp::Enable => {
                *entry = Override::default();
                if slow_start_of(&self.cfg, &key) > 0 {
                    self.ramps.insert(key, Instant::now());
                }
            }
        }
        if *entry == Override::default() {
            self.overrides.remove(&key);
        }
        let table = self
            .netlink
            .neighbours()
            .map_err(|e| format!("cannot read the neighbour table: {e}"))?;
        self.rebuild(&table)?;
        let what = match op {
            OverrideOp::Weight(0) => "drained (weight 0, connections continue)".to_string(),
            OverrideOp::Weight(w) => format!("weight {w}"),
            OverrideOp::Disable => "disabled (no new connections, existing continue)".to_string(),
            OverrideOp::Enable => "enabled with its configured weight".to_string(),
        };
        let ((vip, vport, _), addr, port) = key;
        tracing::info!(service = %format!("{vip}:{vport}"), real = %format!("{addr}:{port}"), %what, "run-time change");
        Ok(format!("{addr}:{port} in {vip}:{vport}: {what}"))
    }

    /// Load, validate and apply a configuration. Nothing changes unless the
    /// whole new configuration is valid and buildable; then the steering
    /// maps gain the new entries, the snapshot is swapped in one atomic
    /// store, and the maps lose the old entries. Connections keep their real
    /// server when it is still configured (same service, address, port).
    pub fn reload(&mut self, path: Option<&Path>) -> Result<String, String> {
        let path = path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.cfg.path.clone());
        let mut new = Config::load(&path)
            .map_err(|e| format!("{e}\nthe running configuration is unchanged"))?;
        if let Some(s) = &self.socket_override {
            new.daemon.socket = s.clone();
        }
        let mut needs_restart = Vec::new();
        let (a, b) = (&self.cfg.daemon, &new.daemon);
        if a.interfaces != b.interfaces {
            needs_restart.push("[daemon] interfaces");
        }
        if a.cores != b.cores {
            needs_restart.push("[daemon] cores/workers");
        }
        if a.conn_table_size != b.conn_table_size {
            needs_restart.push("[daemon] conn_table_size");
        }
        if (a.poll, a.bind, a.xdp_mode) != (b.poll, b.bind, b.xdp_mode) {
            needs_restart.push("[daemon] poll/bind/xdp_mode");
        }
        if a.socket != b.socket {
            needs_restart.push("[daemon] socket");
        }
        if a.metrics != b.metrics {
            needs_restart.push("[metrics] listen");
        }
        if !needs_restart.is_empty() {
            return Err(format!(
                "{}: {} changed, which only a restart of xlbd applies; \
                 revert it to reload the rest, or restart\nthe running configuration is unchanged",
                path.display(),
                needs_restart.join(", ")
            ));
        }
        let fail = |e: String| {
            format!(
                "{}: {e}\nthe running configuration is unchanged",
                path.display()
            )
        };
        let all = ifaces::all().map_err(|e| fail(format!("cannot list interfaces: {e}")))?;
        let table = self
            .netlink
            .neighbours()
            .map_err(|e| fail(format!("cannot read the neighbour table: {e}")))?;
        // Build against a copy of the ids: a failed reload must not retire any.
        let mut ids = self.ids.clone();
        let old = self.shared.snapshot.load_full();
        // Servers this reload removes keep draining their connections.
        let now = Instant::now();
        let mut retired = self.retired.clone();
        let kept: std::collections::HashSet<RealId> = new_real_ids(&new, &mut ids.clone());
        for s in &old.services {
            for r in &s.reals {
                if !kept.contains(&r.id) {
                    if let Some(route) = old.real(r.id) {
                        retired.retain(|x| x.id != r.id);
                        retired.push(Retired {
                            id: r.id,
                            route: *route,
                            since: now,
                            service_key: EndpointKey::new(s.vip, s.port, s.proto),
                            reply_key: (s.forwarding == Forwarding::Nat)
                                .then(|| EndpointKey::new(r.addr, r.port, s.proto)),
                        });
                    }
                }
            }
        }
        let quarantine = ids.quarantine();
        retired.retain(|x| now.duration_since(x.since) < quarantine);
        let routes: Vec<(RealId, RealRoute)> = retired.iter().map(|x| (x.id, x.route)).collect();
        let mut built = build(
            &new,
            &all,
            &table,
            &mut ids,
            &routes,
            self.generation + 1,
            self.gauges.clone(),
        )
        .map_err(|e| fail(e.to_string()))?;
        // Draining servers keep their traffic steered to the dataplane, even
        // when their whole service is gone.
        for x in &retired {
            built.rules.services.insert(x.service_key);
            built.rules.reals.extend(x.reply_key);
        }
        // Phase 1: the maps hold old and new entries, so traffic for a kept
        // or a new service reaches the dataplane before and after the swap.
        let mut both = built.rules.clone();
        both.services
            .extend(self.current_rules.services.iter().copied());
        both.reals.extend(self.current_rules.reals.iter().copied());
        both.locals
            .extend(self.current_rules.locals.iter().copied());
        self.sync_steering(&both).map_err(|e| fail(e.to_string()))?;
        let summary = describe_change(&old, &built.snapshot);
        self.generation += 1;
        let keep = real_keys(&new);
        self.overrides.retain(|k, _| keep.contains(k));
        // Real servers this reload adds ramp up (slow start).
        let old_keys = real_keys(&self.cfg);
        for k in real_keys(&new).difference(&old_keys) {
            if slow_start_of(&new, k) > 0 {
                self.ramps.insert(*k, Instant::now());
            }
        }
        let ramps = ramp_factors(&new, &self.ramps);
        publish(
            &self.shared,
            &self.overrides,
            &self.check_plan,
            &self.verdicts,
            &ramps,
            built.snapshot,
        );
        self.plan_checks();
        self.evaluate_quorum();
        // Phase 2: drop what the new configuration no longer has.
        if self.cfg.vrrp != new.vrrp {
            self.vrrp.reconfigure(new.vrrp.clone());
        }
        self.current_rules = built.rules.clone();
        self.ids = ids;
        self.retired = retired;
        self.neighbours = built.neighbours;
        self.cfg = new;
        // Gated by the new configuration's VRRP addresses.
        if let Err(e) = self.sync_steering(&built.rules) {
            tracing::warn!(error = %e, "stale steering entries left after reload");
        }
        tracing::info!(config = %path.display(), generation = self.generation, %summary, "configuration reloaded");
        Ok(summary)
    }

    fn retired_routes(&self) -> Vec<(RealId, RealRoute)> {
        self.retired.iter().map(|x| (x.id, x.route)).collect()
    }

    /// Write `rules` to every port's steering maps, leaving out the
    /// virtual addresses VRRP does not hold: a backup never forwards.
    fn sync_steering(
        &mut self,
        rules: &SteeringRules,
    ) -> Result<(), Box<xlb_dataplane::steer::SteerError>> {
        self.vrrp_generation = self.vrrp.generation();
        let held = self.vrrp.held();
        let standby: std::collections::HashSet<u32> = self
            .cfg
            .vrrp
            .vips()
            .filter(|a| !held.contains(a))
            .filter_map(|a| match a {
                std::net::IpAddr::V4(v) => Some(u32::from(v).to_be()),
                std::net::IpAddr::V6(_) => None,
            })
            .collect();
        let mut gated = rules.clone();
        gated.services.retain(|k| !standby.contains(&k.addr));
        for s in &mut self.steering {
            s.sync(&gated).map_err(Box::new)?;
        }
        Ok(())
    }

    /// Follow VRRP: steer a virtual address's traffic to the dataplane
    /// once this router holds it, and stop when it lets go.
    pub fn poll_vrrp(&mut self) {
        if self.vrrp.generation() == self.vrrp_generation {
            return;
        }
        let rules = self.current_rules.clone();
        match self.sync_steering(&rules) {
            Ok(()) => {
                let held = self.vrrp.held();
                tracing::info!(held = ?held, "forwarding follows VRRP");
            }
            Err(e) => tracing::warn!(error = %e, "cannot update steering after a VRRP change"),
        }
    }

    pub fn shutdown(self) {
        // Leave VRRP first (priority 0): the backup takes over while our
        // workers still forward what is in flight.
        self.vrrp.shutdown();
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            w.join();
        }
    }
}

/// The NIC profile of the interfaces' driver, with the config's explicit
/// keys applied on top. With mixed drivers the first interface's profile is
/// used, and the difference is logged.
fn effective_nic_settings(cfg: &Config) -> NicProfile {
    let mut chosen: Option<NicProfile> = None;
    for name in &cfg.daemon.interfaces {
        let driver = nic::driver_of(name).unwrap_or_else(|e| {
            tracing::warn!(interface = %name, error = %e, "cannot read the driver; using the default NIC profile");
            "default".into()
        });
        let p = nic::profile_for(&driver);
        tracing::info!(interface = %name, %driver, profile = p.driver, "NIC profile");
        match chosen {
            None => chosen = Some(p),
            Some(c) if c != p => tracing::warn!(
                interface = %name, profile = p.driver, using = c.driver,
                "interfaces have different NIC profiles; using the first interface's"
            ),
            Some(_) => {}
        }
    }
    let mut p = chosen.unwrap_or_else(|| nic::profile_for("default"));
    let d = &cfg.daemon;
    p.poll = d.poll.unwrap_or(p.poll);
    p.xdp_mode = d.xdp_mode.unwrap_or(p.xdp_mode);
    p.bind = d.bind.unwrap_or(p.bind);
    p.rings.mode = p.bind;
    tracing::info!(poll = ?p.poll, xdp_mode = ?p.xdp_mode, bind = ?p.bind, "dataplane settings");
    p
}

/// The ids the real servers of `cfg` have (or would get) in `ids`.
fn new_real_ids(cfg: &Config, ids: &mut Ids) -> std::collections::HashSet<RealId> {
    let now = Instant::now();
    real_keys(cfg)
        .iter()
        .filter_map(|k| ids.real(k, now))
        .collect()
}

/// One line on what a reload changed, for the log and for `xlbctl reload`.
fn describe_change(old: &Snapshot, new: &Snapshot) -> String {
    use std::collections::HashMap;
    let key = |s: &xlb_dataplane::snapshot::VirtualService| (s.vip, s.port, s.proto);
    let old_s: HashMap<_, _> = old.services.iter().map(|s| (key(s), s)).collect();
    let new_s: HashMap<_, _> = new.services.iter().map(|s| (key(s), s)).collect();
    let (mut sa, mut sr, mut ra, mut rr, mut rw) = (0, 0, 0, 0, 0);
    for (k, s) in &new_s {
        let Some(o) = old_s.get(k) else {
            sa += 1;
            ra += s.reals.len();
            continue;
        };
        let ow: HashMap<_, _> = o
            .reals
            .iter()
            .map(|r| ((r.addr, r.port), r.weight))
            .collect();
        let nw: HashMap<_, _> = s
            .reals
            .iter()
            .map(|r| ((r.addr, r.port), r.weight))
            .collect();
        ra += nw.keys().filter(|k| !ow.contains_key(k)).count();
        rr += ow.keys().filter(|k| !nw.contains_key(k)).count();
        rw += nw
            .iter()
            .filter(|(k, w)| ow.get(k).is_some_and(|o| o != *w))
            .count();
    }
    for (k, o) in &old_s {
        if !new_s.contains_key(k) {
            sr += 1;
            rr += o.reals.len();
        }
    }
    format!(
        "{} virtual servers ({sa} added, {sr} removed), real servers: {ra} added, {rr} removed, {rw} re-weighted",
        new.services.len()
    )
}

/// Run a notify/quorum command with /bin/sh -c, without waiting for it.
/// Run an operator's command with `/bin/sh -c` on a thread of its own,
/// logging a failure; the caller never waits.
pub fn run_command(cmd: String) {
    let _ = std::thread::Builder::new()
        .name("xlb-notify".into())
        .spawn(move || {
            match std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&cmd)
                .status()
            {
                Ok(st) if st.success() => {}
                Ok(st) => tracing::warn!(command = %cmd, status = %st, "notify command failed"),
                Err(e) => tracing::warn!(command = %cmd, error = %e, "cannot run notify command"),
            }
        });
}

fn poke_missing(netlink: &mut Netlink, wanted: &[(u32, Ipv4Addr)], table: &NeighbourTable) {
    for &(ifindex, addr) in wanted {
        if needs_poke(table.get(&(ifindex, addr))) {
            if let Err(e) = netlink.poke(ifindex, addr) {
                tracing::warn!(%addr, error = %e, "cannot ask the kernel to resolve a real server");
            }
        }
    }
}

fn fmt_mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Shared {
    /// Read the counters and, when `period` has passed since the last
    /// reading, publish per-second rates. Called from the control loop.
    pub fn sample_rates(&self, period: std::time::Duration) {
        let snap = self.snapshot.load();
        let total = |pick: &dyn Fn(&WorkerStats) -> &xlb_dataplane::stats::TrafficCounters| {
            let mut t = Traffic::default();
            for (w, _) in &self.workers {
                t.add(pick(w));
            }
            t
        };
        let now = Instant::now();
        let mut last = self
            .last_sample
            .lock()
            .expect("only the control loop samples");
        if last
            .as_ref()
            .is_some_and(|(t, _, _)| now.duration_since(*t) < period)
        {
            return;
        }
        let services: HashMap<u32, Traffic> = snap
            .services
            .iter()
            .map(|s| (s.id, total(&|w| &w.services[s.id as usize])))
            .collect();
        let reals: HashMap<RealId, Traffic> = snap
            .services
            .iter()
            .flat_map(|s| s.reals.iter())
            .map(|r| (r.id, total(&|w| &w.reals[r.id as usize])))
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
}

impl StatusSource for Shared {
    fn vrrp(&self) -> Vec<crate::ha::InstanceStatus> {
        (**self.vrrp.load()).clone()
    }

    fn conns(&self, f: &crate::api::ConnFilter) -> (Vec<crate::api::ConnStatus>, usize) {
        let snap = self.snapshot.load();
        let now = xlb_dataplane::worker::coarse_seconds();
        let ep = |a: u32, p: u16| format!("{}:{p}", Ipv4Addr::from(a));
        let matches = |want: &Option<String>, a: u32, p: u16| match want {
            None => true,
            Some(w) => *w == Ipv4Addr::from(a).to_string() || *w == ep(a, p),
        };
        let limit = f.limit.unwrap_or(1000);
        let (mut out, mut more) = (Vec::new(), 0);
        for (worker, t) in self.tables.iter().enumerate() {
            for c in t.iter() {
                let name = snap
                    .services
                    .iter()
                    .find(|s| s.id == c.service)
                    .map(|s| s.name.as_str());
                let service_ok = match &f.service {
                    None => true,
                    Some(w) => Some(w.as_str()) == name || *w == ep(c.vip, c.vport),
                };
                if !(service_ok
                    && matches(&f.real, c.real_addr, c.real_port)
                    && matches(&f.client, c.client, c.cport))
                {
                    continue;
                }
                if out.len() >= limit {
                    more += 1;
                    continue;
                }
                let tcp = c.proto == xlb_dataplane::wire::IPPROTO_TCP;
                out.push(crate::api::ConnStatus {
                    protocol: if tcp { "TCP" } else { "UDP" }.into(),
                    client: ep(c.client, c.cport),
                    virtual_address: ep(c.vip, c.vport),
                    real: ep(c.real_addr, c.real_port),
                    state: if tcp {
                        c.state.name().into()
                    } else {
                        "UDP".into()
                    },
                    expires_in: c.expires.wrapping_sub(now).min(i32::MAX as u32),
                    worker,
                });
            }
        }
        (out, more)
    }

    fn status(&self) -> Status {
        let snap = self.snapshot.load();
        let rates = self.rates.load();
        let sum = |pick: &dyn Fn(&WorkerStats) -> &xlb_dataplane::stats::TrafficCounters| {
            let mut t = Traffic::default();
            for (w, _) in &self.workers {
                t.add(pick(w));
            }
            t
        };
        let services = snap
            .services
            .iter()
            .map(|s| ServiceStatus {
                name: s.name.clone(),
                address: match s.fwmark {
                    Some(m) => m.to_string(),
                    None => Ipv4Addr::from(s.vip).to_string(),
                },
                port: s.port,
                protocol: match (s.fwmark, s.proto) {
                    (Some(_), _) => "FWM",
                    (None, xlb_dataplane::wire::IPPROTO_TCP) => "TCP",
                    _ => "UDP",
                }
                .into(),
                scheduler: s.scheduler.name().into(),
                flags: s
                    .persistence
                    .map(|p| {
                        let mask = Ipv4Addr::from(if p.prefix == 0 {
                            0
                        } else {
                            u32::MAX << (32 - u32::from(p.prefix))
                        });
                        if p.prefix == 32 {
                            format!("persistent {}", p.timeout)
                        } else {
                            format!("persistent {} mask {mask}", p.timeout)
                        }
                    })
                    .into_iter()
                    .chain(s.ftp.then(|| "ftp".to_string()))
                    .collect::<Vec<_>>()
                    .join(" "),
                forwarding: match s.forwarding {
                    Forwarding::Nat => "Masq",
                    Forwarding::Dr => "Route",
                }
                .into(),
                traffic: sum(&|w| &w.services[s.id as usize]),
                rates: rates.0.get(&s.id).copied().unwrap_or_default(),
                reals: s
                    .reals
                    .iter()
                    .map(|r| RealStatus {
                        address: Ipv4Addr::from(r.addr).to_string(),
                        port: r.port,
                        weight: r.weight,
                        configured_weight: self
                            .configured_weights
                            .load()
                            .get(&r.id)
                            .copied()
                            .unwrap_or(r.weight),
                        enabled: r.enabled,
                        health: self.health.load().get(&r.id).cloned(),
                        resolved: r.mac.is_some(),
                        active: snap.gauges[r.id as usize].active(),
                        inactive: snap.gauges[r.id as usize].inactive(),
                        traffic: sum(&|w| &w.reals[r.id as usize]),
                        rates: rates.1.get(&r.id).copied().unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        let workers = self
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
                ip_options: w.ip_options.get(),
                ftp_rewrites: w.ftp_rewrites.get(),
                ftp_data_conns: w.ftp_data_conns.get(),
                ftp_unhelped: w.ftp_unhelped.get(),
                drops: DropReason::ALL
                    .iter()
                    .map(|r| (r.name().to_string(), w.drops(*r)))
                    .collect(),
            })
            .collect();
        Status {
            generation: snap.generation,
            config: self.config_path.clone(),
            services,
            workers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ramped;

    #[test]
    fn slow_start_ramps_from_one_to_the_full_weight() {
        assert_eq!(ramped(10, 0.0), 1, "never 0: the server must warm up");
        assert_eq!(ramped(10, 0.25), 3);
        assert_eq!(ramped(10, 0.99), 10);
        assert_eq!(ramped(1, 0.1), 1);
    }
}
