//! The daemon's handle on the dataplane, behind a trait: it publishes
//! snapshots and steers traffic through the steering gate. `Workers` is
//! the real one (XDP steering programs and pinned AF_XDP workers); tests
//! of the daemon's logic use a recorder instead.

use crate::config::Config;
use crate::nic::{self, NicProfile};
use crate::ownership::{SteeringGate, SteeringMaps};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use xlb_dataplane::conn::{PersistTable, SharedTable};
use xlb_dataplane::inbox::Inbox;
use xlb_dataplane::outbox::Outbox;
use xlb_dataplane::snapshot::Snapshot;
use xlb_dataplane::stats::WorkerStats;
use xlb_dataplane::steer::{SteerError, Steering, SteeringRules};
use xlb_dataplane::worker::{PortSpec, Worker, WorkerConfig, WorkerHandle};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Build(#[from] super::BuildError),
    /// The host checks' errors, each placed in the file, all of them.
    #[error("{0}")]
    Host(String),
    #[error("{0}")]
    Steer(Box<SteerError>),
    #[error("{0}")]
    Xsk(#[from] xlb_dataplane::xsk::XskError),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
}

impl From<SteerError> for StartError {
    fn from(e: SteerError) -> Self {
        StartError::Steer(Box::new(e))
    }
}

/// Connections waiting in a worker's inbox at most: a burst of a peer's
/// whole table arrives faster than one batch takes it.
const INBOX_CAPACITY: usize = 65536;
/// Reports waiting for the sync sender at most, per worker (it drains
/// them every 10 ms: room for 6.5 M new connections a second).
const OUTBOX_CAPACITY: usize = 65536;

/// Handles on the running dataplane: for listings and metrics, and the
/// inboxes that install connections from outside the workers.
#[derive(Clone)]
pub struct DataplaneView {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Every worker's connection table (lock-free reads).
    pub tables: Vec<Arc<SharedTable>>,
    /// Every worker's counters, and whether it bound zero-copy.
    pub workers: Vec<(Arc<WorkerStats>, bool)>,
    /// Every worker's inbox: connections to install from outside.
    pub inboxes: Vec<Arc<Inbox>>,
    /// Every worker's reports for connection sync (queued while sync runs).
    pub outboxes: Vec<Arc<Outbox>>,
    /// Persistence templates, shared by the workers.
    pub templates: Option<Arc<PersistTable>>,
    /// The FTP helper's state (control connections' sequence offsets).
    pub ftp: Option<Arc<xlb_dataplane::ftp::FtpHelper>>,
}

pub trait Dataplane: Send {
    /// The snapshot the workers forward with now.
    fn snapshot(&self) -> Arc<Snapshot> {
        self.view().snapshot.load_full()
    }
    /// Swap in a new snapshot; each worker adopts it at its next batch.
    fn publish(&self, snap: Snapshot) {
        self.view().snapshot.store(Arc::new(snap));
    }
    /// What steering rules and the address owner go through.
    fn gate(&self) -> Arc<SteeringGate>;
    fn view(&self) -> DataplaneView;
    /// Put the steering programs on their interfaces, once the gate wrote
    /// the first rules into their maps (`Steering::attach` says why).
    fn attach(&mut self) -> Result<(), String>;
    /// Stop the workers (each finishes its batch) and detach the programs.
    fn shutdown(&mut self);
}

/// The XDP maps of every dataplane interface.
struct InterfaceMaps(Arc<Mutex<Vec<Steering>>>);

impl SteeringMaps for InterfaceMaps {
    fn apply(&mut self, add: &SteeringRules, remove: &SteeringRules) -> Result<(), String> {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for s in all.iter_mut() {
            s.apply(add, remove).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// The real dataplane: one steering program per interface, one pinned
/// worker per configured core.
pub struct Workers {
    view: DataplaneView,
    gate: Arc<SteeringGate>,
    stop: Arc<AtomicBool>,
    handles: Vec<WorkerHandle>,
    // Dropped last: the programs detach after the workers stopped.
    steering: Arc<Mutex<Vec<Steering>>>,
}

impl Workers {
    /// Load the steering programs (attached later: `Dataplane::attach`)
    /// and start the workers on `first`.
    pub fn start(cfg: &Config, first: Snapshot) -> Result<Workers, StartError> {
        let io = |what| move |source| StartError::Io { what, source };
        let nic = effective_nic_settings(cfg);
        let mut steering = Vec::new();
        for name in &cfg.daemon.interfaces {
            steering.push(Steering::load(name, nic.xdp_mode)?);
        }
        let ports: Vec<PortSpec> = first
            .ports
            .iter()
            .map(|p| PortSpec {
                ifname: p.name.clone(),
                ifindex: p.ifindex,
            })
            .collect();
        let snapshot = Arc::new(ArcSwap::from_pointee(first));
        let stop = Arc::new(AtomicBool::new(false));
        // With no interfaces (a VRRP-only configuration) no worker runs.
        let cores = if cfg.daemon.interfaces.is_empty() {
            &[][..]
        } else {
            &cfg.daemon.cores[..]
        };
        let mut bound = Vec::new();
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
        let templates = Arc::new(PersistTable::new(cfg.daemon.conn_table_size));
        // One FTP helper: a control connection's replies may reach any worker.
        let ftp = Arc::new(xlb_dataplane::ftp::FtpHelper::new());
        let inboxes: Vec<Arc<Inbox>> = (0..bound.len())
            .map(|_| Arc::new(Inbox::new(INBOX_CAPACITY)))
            .collect();
        let outboxes: Vec<Arc<Outbox>> = (0..bound.len())
            .map(|_| Arc::new(Outbox::new(OUTBOX_CAPACITY)))
            .collect();
        let mut handles = Vec::new();
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
            w.set_inbox(inboxes[i].clone());
            w.set_outbox(outboxes[i].clone());
            handles.push(
                w.spawn(snapshot.clone(), stop.clone())
                    .map_err(io("start worker thread"))?,
            );
        }
        for w in &handles {
            tracing::info!(
                worker = w.index,
                zero_copy = w.zero_copy,
                "AF_XDP sockets bound"
            );
        }
        let steering = Arc::new(Mutex::new(steering));
        let gate = Arc::new(SteeringGate::new(Box::new(InterfaceMaps(steering.clone()))));
        Ok(Workers {
            view: DataplaneView {
                snapshot,
                tables,
                workers: handles
                    .iter()
                    .map(|w| (w.stats.clone(), w.zero_copy))
                    .collect(),
                inboxes,
                outboxes,
                templates: Some(templates),
                ftp: Some(ftp),
            },
            gate,
            stop,
            handles,
            steering,
        })
    }
}

impl Dataplane for Workers {
    fn gate(&self) -> Arc<SteeringGate> {
        self.gate.clone()
    }

    fn view(&self) -> DataplaneView {
        self.view.clone()
    }

    fn attach(&mut self) -> Result<(), String> {
        let mut all = self.steering.lock().unwrap_or_else(|e| e.into_inner());
        for s in all.iter_mut() {
            s.attach().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.handles.drain(..) {
            w.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown();
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

#[cfg(test)]
pub mod fake {
    //! A dataplane that only remembers: what was published and steered.

    use super::*;
    use std::collections::HashSet;
    use xlb_dataplane::steer::EndpointKey;

    /// The service keys the maps would hold, after every write.
    #[derive(Clone, Default)]
    pub struct Maps(pub Arc<Mutex<HashSet<EndpointKey>>>);

    impl SteeringMaps for Maps {
        fn apply(&mut self, add: &SteeringRules, remove: &SteeringRules) -> Result<(), String> {
            let mut m = self.0.lock().unwrap();
            m.extend(add.services.iter().copied());
            for k in &remove.services {
                m.remove(k);
            }
            Ok(())
        }
    }

    pub struct FakeDataplane {
        pub view: DataplaneView,
        pub gate: Arc<SteeringGate>,
        pub maps: Maps,
        /// What the maps held when the programs were attached (None: not yet).
        pub attached_with: Arc<Mutex<Option<HashSet<EndpointKey>>>>,
    }

    impl FakeDataplane {
        pub fn new(first: Snapshot) -> FakeDataplane {
            let maps = Maps::default();
            FakeDataplane {
                view: DataplaneView {
                    snapshot: Arc::new(ArcSwap::from_pointee(first)),
                    tables: Vec::new(),
                    workers: Vec::new(),
                    inboxes: Vec::new(),
                    outboxes: Vec::new(),
                    templates: None,
                    ftp: None,
                },
                gate: Arc::new(SteeringGate::new(Box::new(maps.clone()))),
                maps,
                attached_with: Arc::default(),
            }
        }
    }

    impl Dataplane for FakeDataplane {
        fn gate(&self) -> Arc<SteeringGate> {
            self.gate.clone()
        }
        fn view(&self) -> DataplaneView {
            self.view.clone()
        }
        fn attach(&mut self) -> Result<(), String> {
            let now = self.maps.0.lock().unwrap().clone();
            self.attached_with.lock().unwrap().get_or_insert(now);
            Ok(())
        }
        fn shutdown(&mut self) {}
    }
}
