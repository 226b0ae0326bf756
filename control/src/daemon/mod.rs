//! The daemon: wires the parts together and carries out the operator's
//! commands. It builds snapshots from the configuration and what the host
//! says (`build`), lets the weight policy decide weights (`policy`),
//! publishes them to the dataplane and steers traffic through the gate
//! that VRRP also drives (`dataplane`, `crate::ownership`), and keeps the
//! neighbour facts fresh (`host`). Listings are rendered elsewhere
//! (`status`), from lock-free handles.

mod affinity;
mod announce;
mod build;
mod dataplane;
mod host;
mod ids;
mod lookup;
mod policy;
mod proxy;
mod reload;
mod status;
mod sync;
#[cfg(test)]
mod tests;

pub use build::{build, check_host, BuildError, Built};
pub use dataplane::{Dataplane, DataplaneView, StartError, Workers};
pub use host::{Host, KernelHost};
pub use ids::{Ids, RealKey, ServiceKey};
pub use policy::{OverrideOp, Published};
pub use status::Shared;

use crate::config::Config;
use crate::ha::Vrrp;
use crate::health::HealthRunner;
use crate::ownership::VipOwner;
use policy::Policy;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use xlb_dataplane::snapshot::{RealId, RealRoute, Snapshot};
use xlb_dataplane::stats::{new_gauges, ConnGauge};
use xlb_dataplane::steer::{EndpointKey, SteeringRules};
use xlb_model::addr::endpoint;

/// A real server a reload removed: its connections drain to it until they
/// end; after the id quarantine it is forgotten (at the next reload).
#[derive(Debug, Clone)]
struct Retired {
    id: RealId,
    route: RealRoute,
    since: Instant,
    /// Its service's (VIP, port, proto): still steered while it drains
    /// (a firewall-mark service's ports come from its rules).
    service_key: Option<EndpointKey>,
    /// NAT: its reply endpoint, still steered.
    reply_key: Option<EndpointKey>,
}

pub struct Daemon {
    cfg: Config,
    /// The running configuration's TOML: the file's, with run-time edits.
    text: String,
    dataplane: Box<dyn Dataplane>,
    host: Box<dyn Host>,
    policy: Policy,
    checks: HealthRunner,
    vrrp: Vrrp,
    ids: Ids,
    gauges: Arc<[ConnGauge]>,
    generation: u64,
    /// Real servers removed by a reload, still draining.
    retired: Vec<Retired>,
    /// (ifindex, address) of every real server: neighbours kept fresh.
    wanted: Vec<(u32, IpAddr)>,
    /// The neighbour table's generation the snapshot was built from.
    neighbours_seen: u64,
    shared: Arc<Shared>,
    /// `xlbd --socket`, which wins over every file's [daemon] socket.
    socket_override: Option<PathBuf>,
    /// HAProxy's half, while the configuration has frontends.
    proxy: Option<xlb_proxy::Proxy>,
    /// Connection sync with the other director, while configured.
    sync: Option<crate::sync::SyncChannel>,
    /// The BGP speaker announcing the VIPs, while `[announce]` is set.
    announce: Option<crate::announce::Announcer>,
    /// `xlbctl drain-director` in force (until undrain or a restart).
    director_drained: bool,
}

impl Daemon {
    /// Start everything on the host: VRRP, the health checks and the
    /// AF_XDP dataplane. `text` is the configuration file `cfg` was parsed
    /// from.
    pub fn start(cfg: Config, text: String) -> Result<Daemon, StartError> {
        let io = |what| move |source| StartError::Io { what, source };
        // Before any thread starts: they all inherit it.
        match affinity::keep_off_worker_cores(&cfg.daemon.cores) {
            Ok(Some(cores)) => {
                tracing::info!(?cores, "threads other than the workers run on these cores")
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not keep other threads off the workers' cores")
            }
        }
        let mut host = KernelHost::open().map_err(io("open rtnetlink"))?;
        let checks = HealthRunner::start().map_err(io("start the health-check thread"))?;
        // VRRP first: a crash may have left virtual addresses behind, which
        // a backup must drop before the dataplane is told what it holds.
        let vrrp = Vrrp::start(cfg.vrrp.clone()).map_err(io("start VRRP"))?;
        let (mut ids, gauges) = (Ids::default(), new_gauges());
        let ifaces = host.interfaces().map_err(io("list interfaces"))?;
        let wrong = check_host(&cfg, &ifaces);
        if !wrong.is_empty() {
            let all: Vec<String> = wrong.iter().map(|e| e.placed(&cfg, &text)).collect();
            return Err(StartError::Host(all.join("\n")));
        }
        // Read before the table: a change after it is seen at the next tick.
        let seen = host.neighbours_generation();
        let built = build(
            &cfg,
            &ifaces,
            &host.neighbours(),
            &mut ids,
            &[],
            1,
            gauges.clone(),
        )?;
        host.keep_fresh(&built.neighbours);
        let mut policy = Policy::new();
        let plan = policy.configure(None, &cfg, Instant::now());
        checks.plan(plan);
        let mut snapshot = built.snapshot;
        let published = policy.apply(&cfg, &mut snapshot, Instant::now());
        let workers = Workers::start(&cfg, snapshot)?;
        let proxy = proxy::start(&cfg).map_err(StartError::Host)?;
        let sync = sync::start(&cfg, &workers.view()).map_err(StartError::Host)?;
        let d = Daemon::assemble(
            (cfg, text),
            Box::new(workers),
            Box::new(host),
            (policy, published),
            checks,
            vrrp,
            (ids, gauges),
            built.rules,
            (built.neighbours, seen),
        );
        let mut d = d.map_err(|e| StartError::Io {
            what: "steer traffic to the dataplane",
            source: std::io::Error::other(e),
        })?;
        d.set_proxy(proxy);
        sync::publish(&d.shared, &sync);
        d.sync = sync;
        // Last: a route draws traffic, which must find the dataplane
        // steered and forwarding.
        match announce::start(&d.cfg, &d.dataplane.snapshot(), false) {
            Ok(a) => d.announce = a,
            Err(e) => {
                d.shutdown();
                return Err(StartError::Host(e));
            }
        }
        announce::publish(&d.shared, &d.announce);
        Ok(d)
    }

    fn set_proxy(&mut self, proxy: Option<xlb_proxy::Proxy>) {
        self.shared
            .proxy
            .store(proxy.as_ref().map(|p| Arc::new(p.view())));
        self.proxy = proxy;
    }

    /// Put the parts together around a dataplane already forwarding with
    /// the first snapshot, and steer its traffic.
    #[allow(clippy::too_many_arguments)] // the parts, each once
    fn assemble(
        (cfg, text): (Config, String),
        mut dataplane: Box<dyn Dataplane>,
        host: Box<dyn Host>,
        (policy, published): (Policy, Published),
        checks: HealthRunner,
        vrrp: Vrrp,
        (ids, gauges): (Ids, Arc<[ConnGauge]>),
        rules: SteeringRules,
        (wanted, neighbours_seen): (Vec<(u32, IpAddr)>, u64),
    ) -> Result<Daemon, String> {
        let shared = Arc::new(Shared::new(
            dataplane.view(),
            cfg.path.display().to_string(),
            vrrp.status(),
        ));
        shared.published.store(Arc::new(published));
        let gate = dataplane.gate();
        // Services of VRRP addresses stay unsteered until VRRP reports
        // them held, which it does at once when watched.
        gate.set_rules(rules, cfg.vrrp.vips())?;
        vrrp.watch(gate);
        dataplane.attach()?;
        let mut d = Daemon {
            neighbours_seen,
            cfg,
            text,
            dataplane,
            host,
            policy,
            checks,
            vrrp,
            ids,
            gauges,
            generation: 1,
            retired: Vec::new(),
            wanted,
            shared,
            socket_override: None,
            proxy: None,
            sync: None,
            announce: None,
            director_drained: false,
        };
        d.run_quorum();
        Ok(d)
    }

    /// The socket given on the command line, kept across reloads.
    pub fn set_socket_override(&mut self, socket: Option<PathBuf>) {
        self.socket_override = socket;
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Periodic upkeep: rates, slow-start steps, and neighbour facts (the
    /// kernel is asked to resolve what is missing or stale; a changed MAC
    /// is republished).
    pub fn tick(&mut self) {
        self.shared.sample_rates(Duration::from_secs(2));
        let ramping = self.policy.ramps_to_publish(&self.cfg, Instant::now());
        self.host.keep_fresh(&self.wanted);
        let neighbours_moved = self.macs_changed();
        if !(ramping || neighbours_moved) {
            return;
        }
        let before = self.dataplane.snapshot();
        if let Err(e) = self.rebuild() {
            tracing::warn!(error = %e, "keeping the running configuration");
            return;
        }
        let after = self.dataplane.snapshot();
        for s in &after.services {
            for r in &s.reals {
                let old = before.real(r.id).and_then(|o| o.mac);
                if old != r.mac {
                    tracing::info!(service = %s.name, real = %r.addr,
                        mac = ?r.mac.map(fmt_mac), "real server neighbour changed");
                }
            }
        }
    }

    /// Whether the neighbour table changed since the snapshot was built
    /// and a real server's usable MAC in it differs from the one the
    /// dataplane forwards with.
    fn macs_changed(&mut self) -> bool {
        let generation = self.host.neighbours_generation();
        if generation == self.neighbours_seen {
            return false;
        }
        self.neighbours_seen = generation;
        let table = self.host.neighbours();
        let snap = self.dataplane.snapshot();
        snap.services.iter().flat_map(|s| s.reals.iter()).any(|r| {
            let ifindex = snap.ports[r.egress as usize].ifindex;
            table
                .get(&(ifindex, r.gateway.unwrap_or(r.addr).ip()))
                .and_then(|n| n.usable_mac())
                != r.mac
        })
    }

    /// Build the running configuration again (new neighbour facts, a
    /// verdict, an override, a ramp step) and publish it.
    fn rebuild(&mut self) -> Result<(), String> {
        let ifaces = self
            .host
            .interfaces()
            .map_err(|e| format!("cannot list interfaces: {e}"))?;
        let retired: Vec<(RealId, RealRoute)> =
            self.retired.iter().map(|x| (x.id, x.route)).collect();
        self.neighbours_seen = self.host.neighbours_generation();
        let b = build(
            &self.cfg,
            &ifaces,
            &self.host.neighbours(),
            &mut self.ids,
            &retired,
            self.generation + 1,
            self.gauges.clone(),
        )
        .map_err(|e| e.to_string())?;
        self.generation += 1;
        self.wanted = b.neighbours;
        self.publish(b.snapshot);
        Ok(())
    }

    /// Let the policy set the weights of a freshly built snapshot, swap it
    /// in, and act on quorum changes.
    fn publish(&mut self, mut snap: Snapshot) {
        let published = self.policy.apply(&self.cfg, &mut snap, Instant::now());
        self.dataplane.publish(snap);
        self.shared.published.store(Arc::new(published));
        self.run_quorum();
        self.announce_wanted();
    }

    fn run_quorum(&mut self) {
        let snap = self.dataplane.snapshot();
        for cmd in self.policy.quorum(&self.cfg, &snap) {
            run_command(cmd);
        }
    }

    /// Take the health-check verdicts that arrived; republish on change.
    pub fn poll_checks(&mut self) {
        let mut changed = false;
        while let Ok((key, report)) = self.checks.reports.try_recv() {
            let why = report.reason.clone().unwrap_or_default();
            let Some(commands) = self
                .policy
                .report(&self.cfg, key, report.clone(), Instant::now())
            else {
                continue; // a check the last reload removed
            };
            match report.health {
                xlb_checks::Health::Down => tracing::info!(
                    service = %key.service, real = %key.endpoint(), reason = %why, "real server DOWN"),
                xlb_checks::Health::Up => match report.weight {
                    Some(w) => tracing::info!(
                        service = %key.service, real = %key.endpoint(), weight = w, "real server UP"),
                    None => tracing::info!(
                        service = %key.service, real = %key.endpoint(), "real server UP"),
                },
            }
            commands.into_iter().for_each(run_command);
            changed = true;
        }
        if changed {
            if let Err(e) = self.rebuild() {
                tracing::warn!(error = %e, "cannot apply health-check verdicts");
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
        let key = match lookup::find_real(&self.cfg, service, real) {
            Ok(k) => k,
            // Not a virtual server's: a backend's server, by their names.
            Err(e) if self.cfg.proxy.backend(service).is_some() => {
                let _ = e;
                let what = proxy::override_server(&self.proxy, service, real, op)?;
                tracing::info!(backend = %service, server = %real, %what, "run-time change");
                return Ok(what);
            }
            Err(e) => return Err(e),
        };
        let what = self
            .policy
            .override_real(&self.cfg, key, op, Instant::now())?;
        self.rebuild()?;
        let service = match key.service {
            ServiceKey::Endpoint { addr, port, .. } => endpoint(addr, port),
            ServiceKey::Mark(m) => format!("fwmark {m}"),
        };
        tracing::info!(%service, real = %key.endpoint(), %what, "run-time change");
        Ok(format!("{} in {service}: {what}", key.endpoint()))
    }

    pub fn shutdown(mut self) {
        // Withdraw the routes and leave VRRP first (priority 0): the other
        // directors take over while our workers still forward what is in
        // flight.
        if let Some(a) = self.announce.take() {
            a.stop();
        }
        self.vrrp.shutdown();
        if let Some(p) = self.proxy.take() {
            p.shutdown();
        }
        if let Some(s) = self.sync.take() {
            s.stop(&self.dataplane.view());
        }
        self.dataplane.shutdown();
    }
}

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

fn fmt_mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
