//! Route announcement for active/active directors: the VIPs this director
//! can serve, announced over BGP by BIRD 2, which xlbd runs as its child
//! (docs/design/route-announcement.md). The daemon hands in what it wants
//! announced (`wanted`); a thread of this module keeps BIRD running and
//! told, and publishes what BIRD was told for `xlbctl show --announce`.

pub mod bird;
mod wanted;

pub use wanted::{wanted, Capacity, DrainedBy, VipState, Wanted};

use arc_swap::ArcSwap;
use bird::BirdProcess;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use xlb_model::config::AnnounceSettings;

/// `xlbctl show --announce` and the `xlb_announce_*` metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnounceStatus {
    pub speaker: String,
    /// BIRD's pid while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drained: Option<DrainedBy>,
    /// Every VIP of `[announce]`, whether it should be announced and why.
    pub vips: Vec<VipState>,
    /// What BIRD was last told to announce (differs from `vips` only while
    /// telling it fails).
    pub told: BTreeSet<IpAddr>,
    /// Routes files BIRD took, and attempts that failed.
    pub updates: u64,
    pub update_errors: u64,
    /// Times BIRD exited on its own and was started again.
    pub restarts: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

enum Msg {
    Want(Wanted),
    /// BIRD should read its configuration again (after an xlbd reload).
    Configure,
    Stop,
}

/// The speaker's thread: started with the settings, told what to
/// announce, stopped (BIRD with it) at the end.
pub struct Announcer {
    pub settings: AnnounceSettings,
    tx: mpsc::Sender<Msg>,
    thread: Option<std::thread::JoinHandle<()>>,
    status: Arc<ArcSwap<AnnounceStatus>>,
}

/// How often the thread looks at BIRD between requests, and the least
/// time between two starts of a BIRD that keeps exiting.
const SUPERVISE: Duration = Duration::from_secs(1);

impl Announcer {
    /// Write the routes file for `first`, check BIRD's configuration, start
    /// BIRD and make sure the configuration includes the routes file; any
    /// failure is returned, nothing left running.
    pub fn start(settings: AnnounceSettings, first: Wanted) -> Result<Announcer, String> {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let status = Arc::new(ArcSwap::from_pointee(AnnounceStatus {
            speaker: "bird".into(),
            ..Default::default()
        }));
        let mut speaker = Speaker {
            settings: settings.clone(),
            status: status.clone(),
            bird: None,
            wanted: first,
            told: None,
            last_start: Instant::now(),
            counters: (0, 0, 0),
            last_error: None,
        };
        // BIRD is started on this thread, which lives as long as it should:
        // its death signal follows the thread that started it.
        let thread = std::thread::Builder::new()
            .name("xlb-announce".into())
            .spawn(move || {
                let started = speaker.start();
                let ok = started.is_ok();
                let _ = ready_tx.send(started);
                if ok {
                    speaker.run(rx);
                }
            })
            .map_err(|e| format!("cannot start the announcement thread: {e}"))?;
        let started = ready_rx
            .recv()
            .unwrap_or_else(|_| Err("the announcement thread died at start".into()));
        if let Err(e) = started {
            let _ = thread.join();
            return Err(e);
        }
        Ok(Announcer {
            settings,
            tx,
            thread: Some(thread),
            status,
        })
    }

    /// Announce `w` from now on (BIRD is told only if the set changed).
    pub fn want(&self, w: Wanted) {
        let _ = self.tx.send(Msg::Want(w));
    }

    /// Make BIRD read its configuration again (an xlbd reload: the
    /// operator may have changed BIRD's too).
    pub fn reconfigure(&self) {
        let _ = self.tx.send(Msg::Configure);
    }

    pub fn status(&self) -> Arc<ArcSwap<AnnounceStatus>> {
        self.status.clone()
    }

    /// Stop BIRD (its peers withdraw every route at once) and the thread.
    pub fn stop(mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Speaker {
    settings: AnnounceSettings,
    status: Arc<ArcSwap<AnnounceStatus>>,
    bird: Option<BirdProcess>,
    wanted: Wanted,
    /// The set the routes file holds and BIRD took; `None`: unknown (BIRD
    /// must be told again).
    told: Option<BTreeSet<IpAddr>>,
    last_start: Instant,
    /// Updates, update errors, restarts.
    counters: (u64, u64, u64),
    last_error: Option<String>,
}

impl Speaker {
    fn start(&mut self) -> Result<(), String> {
        let s = &self.settings;
        let set = self.wanted.announced();
        bird::write_atomically(&s.routes, &bird::render(&set))
            .map_err(|e| format!("cannot write {}: {e}", s.routes.display()))?;
        bird::check_config(&s.bird, &s.config)?;
        let mut p = BirdProcess::spawn(&s.bird, &s.config, &s.control_socket)?;
        match bird::has_routes_protocol(&s.control_socket) {
            Ok(true) => {}
            Ok(false) => {
                p.stop();
                return Err(format!(
                    "BIRD's configuration {} does not include the routes file: add \
                     `include \"{}\";` to it (docs/scale-out.md)",
                    s.config.display(),
                    s.routes.display()
                ));
            }
            Err(e) => {
                p.stop();
                return Err(e);
            }
        }
        tracing::info!(pid = p.pid(), config = %s.config.display(),
            announced = ?set, "BIRD started");
        self.bird = Some(p);
        self.told = Some(set);
        self.last_start = Instant::now();
        self.publish();
        Ok(())
    }

    fn run(&mut self, rx: mpsc::Receiver<Msg>) {
        let mut configure = false;
        loop {
            match rx.recv_timeout(SUPERVISE) {
                Ok(Msg::Want(w)) => self.wanted = w,
                Ok(Msg::Configure) => configure = true,
                Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            // Only the latest wish counts: a burst of verdicts is one update.
            let mut stop = false;
            while let Ok(m) = rx.try_recv() {
                match m {
                    Msg::Want(w) => self.wanted = w,
                    Msg::Configure => configure = true,
                    Msg::Stop => stop = true,
                }
            }
            if stop {
                break;
            }
            self.supervise();
            if self.bird.is_some() {
                let set = self.wanted.announced();
                if configure || self.told.as_ref() != Some(&set) {
                    configure = !self.tell(set);
                }
            }
            self.publish();
        }
        if let Some(mut p) = self.bird.take() {
            p.stop();
            tracing::info!("BIRD stopped: its peers withdraw this director's routes");
        }
        // A BIRD started by hand later must not announce what was.
        let _ = bird::write_atomically(&self.settings.routes, &bird::render(&BTreeSet::new()));
        self.told = None;
        self.status.rcu(|s| AnnounceStatus {
            pid: None,
            told: BTreeSet::new(),
            ..(**s).clone()
        });
    }

    /// Start BIRD again if it exited (at most once per `SUPERVISE`).
    fn supervise(&mut self) {
        let Some(p) = &mut self.bird else {
            if self.last_start.elapsed() >= SUPERVISE {
                self.restart();
            }
            return;
        };
        if let Some(st) = p.exited() {
            tracing::error!(status = %st, "BIRD exited: this director announces nothing until it runs again");
            self.bird = None;
            self.told = None;
            self.last_error = Some(format!("BIRD exited ({st})"));
            if self.last_start.elapsed() >= SUPERVISE {
                self.restart();
            }
        }
    }

    fn restart(&mut self) {
        self.last_start = Instant::now();
        self.counters.2 += 1;
        let s = &self.settings;
        let set = self.wanted.announced();
        let started = bird::write_atomically(&s.routes, &bird::render(&set))
            .map_err(|e| format!("cannot write {}: {e}", s.routes.display()))
            .and_then(|_| BirdProcess::spawn(&s.bird, &s.config, &s.control_socket));
        match started {
            Ok(p) => {
                tracing::info!(pid = p.pid(), "BIRD started again");
                self.bird = Some(p);
                self.told = Some(set);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start BIRD again; trying every second");
                self.last_error = Some(e);
            }
        }
    }

    /// Write the routes file for `set` and make BIRD read it; whether it
    /// took it.
    fn tell(&mut self, set: BTreeSet<IpAddr>) -> bool {
        let s = &self.settings;
        let done = bird::write_atomically(&s.routes, &bird::render(&set))
            .map_err(|e| format!("cannot write {}: {e}", s.routes.display()))
            .and_then(|_| bird::configure(&s.control_socket));
        match done {
            Ok(()) => {
                tracing::info!(announced = ?set, "BIRD told what to announce");
                self.counters.0 += 1;
                self.told = Some(set);
                true
            }
            Err(e) => {
                // BIRD keeps the routes of its last good configuration, which
                // may hold a VIP that must go: withdraw them all until a
                // configure goes through (which enables the protocols again).
                let withdrawn = bird::withdraw_all(&s.control_socket);
                tracing::error!(error = %e, withdrawn = withdrawn.is_ok(),
                    "cannot tell BIRD what to announce: nothing announced; trying again every second");
                self.counters.1 += 1;
                self.told = withdrawn.ok().map(|_| BTreeSet::new());
                // Told nothing, but not what is wanted: try again.
                self.last_error = Some(e);
                false
            }
        }
    }

    fn publish(&self) {
        self.status.store(Arc::new(AnnounceStatus {
            speaker: "bird".into(),
            pid: self.bird.as_ref().map(|p| p.pid()),
            drained: self.wanted.drained,
            vips: self.wanted.vips.clone(),
            told: self.told.clone().unwrap_or_default(),
            updates: self.counters.0,
            update_errors: self.counters.1,
            restarts: self.counters.2,
            last_error: self.last_error.clone(),
        }));
    }
}
