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

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// TCP_CHECK: the connection is accepted.
    Tcp,
    /// HTTP_GET (and SSL_GET with `tls`): the response's status is in
    /// `status` (any 2xx if empty), and, with `digest`, the body's MD5
    /// matches (hex, as keepalived's genhash prints it). TLS is not
    /// verified, as keepalived's SSL_GET by default: the check proves the
    /// service answers, not who it is.
    Http {
        tls: bool,
        path: String,
        host: Option<String>,
        status: Vec<u16>,
        digest: Option<String>,
    },
    /// MISC_CHECK: the command exits 0 within the timeout. With `dynamic`,
    /// exit codes 2..=255 mean "up with weight code-2" (keepalived's
    /// misc_dynamic); 1 means down.
    Misc { command: String, dynamic: bool },
    /// UDP_CHECK: send `payload`; with `require_reply`, a datagram must come
    /// back, otherwise only an ICMP error (port unreachable) fails it.
    Udp {
        payload: Vec<u8>,
        require_reply: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub kind: CheckKind,
    pub target: SocketAddr,
    /// Source address for the probe (keepalived `bindto`).
    pub bind: Option<IpAddr>,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub retry: u32,
    pub delay_before_retry: Duration,
}

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
