//! Health checkers with keepalived's names and semantics (TCP_CHECK,
//! HTTP_GET, MISC_CHECK, UDP_CHECK) and HAProxy's rise/fall thresholds.
//!
//! A checker probes one real server every `interval`; a probe that fails is
//! retried `retry` times, `delay_before_retry` apart, before the attempt
//! counts as failed. `fall` failed attempts in a row take the server down,
//! `rise` good ones bring it back. Servers start up (as in keepalived and
//! HAProxy). Checks run from the kernel stack; the dataplane passes their
//! replies to the kernel.

mod probe;
mod threshold;

pub use probe::probe;
pub use threshold::{Health, Threshold};

pub use xlb_model::check::{CheckKind, CheckSpec};

/// What one probe found: `Ok(Some(w))` up with a dynamic weight.
pub type ProbeResult = Result<Option<u32>, String>;

/// A change of a checker's verdict, as reported to the control loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub health: Health,
    /// MISC_CHECK dynamic weight, when the script gave one.
    pub weight: Option<u32>,
    /// The last probe's failure, for logs and `xlbctl show`.
    pub reason: Option<String>,
}

/// Run one checker forever, calling `report` whenever the verdict or the
/// dynamic weight changes. Cancel by dropping (aborting) the task.
pub async fn run(spec: CheckSpec, mut report: impl FnMut(Report)) {
    let mut t = Threshold::new(spec.rise, spec.fall);
    let mut weight = None;
    let mut ticker = tokio::time::interval(spec.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let mut result = probe(&spec).await;
        for _ in 0..spec.retry {
            if result.is_ok() {
                break;
            }
            tokio::time::sleep(spec.delay_before_retry).await;
            result = probe(&spec).await;
        }
        let (ok, w, reason) = match result {
            Ok(w) => (true, w, None),
            Err(e) => (false, None, Some(e)),
        };
        let changed = t.record(ok);
        if changed.is_some() || (ok && w != weight) {
            weight = w;
            report(Report {
                health: t.health(),
                weight,
                reason,
            });
        }
    }
}
