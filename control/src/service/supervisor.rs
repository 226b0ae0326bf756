//! What xlbd tells systemd over its life: READY=1 once the dataplane and
//! the API are up, RELOADING=1 / READY=1 around a reload, STOPPING=1, a
//! STATUS= line kept current, and the watchdog petted while the workers
//! move. Without `NOTIFY_SOCKET` (not run by systemd) it does nothing.

use super::notify::{monotonic_now, Notice, Notifier};
use super::watchdog::{self, Verdict, Watchdog};
use crate::daemon::Shared;
use std::time::Instant;

pub struct Supervisor {
    notifier: Option<Notifier>,
    watchdog: Option<Watchdog>,
    /// The STATUS= last sent (sent again only when it changes).
    status: String,
    /// A stall already logged (logged once, until the workers move again).
    stalled: bool,
}

/// The one-line summary `systemctl status` shows.
pub fn summary(services: usize, workers: usize, vrrp: &[(&str, &str)]) -> String {
    let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let mut s = format!(
        "{}, {}",
        plural(services, "service"),
        plural(workers, "worker")
    );
    if !vrrp.is_empty() {
        let states: Vec<String> = vrrp.iter().map(|(n, st)| format!("{n} {st}")).collect();
        s.push_str(&format!(", VRRP {}", states.join(" ")));
    }
    s
}

fn summary_of(shared: &Shared) -> String {
    let services = shared.dataplane.snapshot.load().services.len();
    let vrrp = shared.vrrp.load();
    let states: Vec<(&str, &str)> = vrrp
        .iter()
        .map(|i| (i.name.as_str(), i.state.as_str()))
        .collect();
    summary(services, shared.dataplane.workers.len(), &states)
}

impl Supervisor {
    /// Reads (and then clears, so that the commands xlbd runs do not take
    /// them for theirs) `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    /// Call before any thread starts.
    /// A NOTIFY_SOCKET it cannot use (another transport, a name too long)
    /// is returned beside a supervisor that notifies nobody: sd_notify is
    /// best effort, and xlbd runs on.
    pub fn from_env() -> (Supervisor, Option<super::notify::NotifyError>) {
        let (notifier, unusable) = match Notifier::from_env() {
            Ok(n) => (n, None),
            Err(e) => (None, Some(e)),
        };
        let var = |k| std::env::var(k).ok();
        let interval = watchdog::interval(
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
            std::process::id(),
        );
        for k in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            std::env::remove_var(k);
        }
        let supervisor = Supervisor {
            watchdog: interval.filter(|_| notifier.is_some()).map(Watchdog::new),
            notifier,
            status: String::new(),
            stalled: false,
        };
        (supervisor, unusable)
    }

    fn send(&self, notices: &[Notice]) {
        if let Some(n) = &self.notifier {
            if let Err(e) = n.send(notices) {
                tracing::warn!(error = %e, "cannot notify systemd");
            }
        }
    }

    /// Startup is over: the dataplane forwards and the API answers.
    pub fn ready(&mut self, shared: &Shared) {
        // Logged at the first READY (no STATUS sent yet): `from_env` runs
        // before logging is set up.
        if let (Some(w), "") = (&self.watchdog, self.status.as_str()) {
            tracing::info!(interval = ?w.interval(), "systemd watchdog on: petted while the workers move");
        }
        self.status = summary_of(shared);
        self.send(&[Notice::Ready, Notice::Status(self.status.clone())]);
    }

    pub fn reloading(&self) {
        self.send(&[Notice::Reloading {
            monotonic: monotonic_now(),
        }]);
    }

    /// A reload ended (applied or refused: the daemon runs either way).
    pub fn reloaded(&mut self, shared: &Shared) {
        self.ready(shared);
    }

    pub fn stopping(&self) {
        self.send(&[Notice::Stopping]);
    }

    /// At every turn of the control loop: the watchdog, and STATUS= when
    /// it changed.
    pub fn turn(&mut self, shared: &Shared) {
        if self.notifier.is_none() {
            return;
        }
        if let Some(w) = &mut self.watchdog {
            let progress: Vec<u64> = shared
                .dataplane
                .workers
                .iter()
                .map(|(s, _)| s.poll_iterations.get())
                .collect();
            match w.check(Instant::now(), &progress) {
                Verdict::Pet => {
                    self.stalled = false;
                    self.send(&[Notice::Watchdog]);
                }
                Verdict::NotYet => self.stalled = false,
                Verdict::Stalled { worker, since } => {
                    if !self.stalled {
                        tracing::error!(worker, stalled_for = ?since,
                            "a worker stopped turning: no longer petting systemd's watchdog");
                        self.stalled = true;
                    }
                }
            }
        }
        let now = summary_of(shared);
        if now != self.status {
            self.status = now;
            self.send(&[Notice::Status(self.status.clone())]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_services_workers_and_vrrp_states() {
        assert_eq!(summary(1, 1, &[]), "1 service, 1 worker");
        assert_eq!(
            summary(3, 2, &[("VI_1", "MASTER"), ("VI_2", "BACKUP")]),
            "3 services, 2 workers, VRRP VI_1 MASTER VI_2 BACKUP"
        );
        assert_eq!(summary(0, 4, &[]), "0 services, 4 workers");
    }
}
