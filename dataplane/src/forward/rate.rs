//! Per-service new-connection rate limits: a token bucket per service on
//! each worker, filled at the worker's share of the service's rate, one
//! second of it at most (the burst). Worker-local: no shared write per
//! connection.

use crate::snapshot::{ServiceId, Snapshot};

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Connections per second this worker may open (0: no limit).
    rate: u64,
    /// Tokens in thousandths of a connection.
    milli: u64,
    /// When it was last filled (worker milliseconds).
    at_ms: u64,
}

#[derive(Debug, Default)]
pub struct RateLimits {
    /// Indexed like `Snapshot::services`, with the services' ids.
    buckets: Vec<Bucket>,
    ids: Vec<ServiceId>,
}

impl RateLimits {
    /// The limits of a new snapshot (at a batch boundary, never per
    /// packet); a service that kept its rate keeps its bucket.
    pub fn adopt(&mut self, snap: &Snapshot, now_ms: u64) {
        let workers = snap.workers.max(1) as u64;
        let buckets = snap
            .services
            .iter()
            .map(|s| {
                let rate = u64::from(s.max_conn_rate).div_ceil(workers);
                let kept = self
                    .ids
                    .iter()
                    .position(|&id| id == s.id)
                    .and_then(|i| self.buckets.get(i).copied())
                    .filter(|b| b.rate == rate);
                kept.unwrap_or(Bucket {
                    rate,
                    milli: rate * 1000,
                    at_ms: now_ms,
                })
            })
            .collect();
        self.buckets = buckets;
        self.ids = snap.services.iter().map(|s| s.id).collect();
    }

    /// Whether service `si` may open a connection now (and if so, one
    /// token is spent).
    #[inline]
    pub fn admit(&mut self, si: usize, now_ms: u64) -> bool {
        let Some(b) = self.buckets.get_mut(si) else {
            return true;
        };
        if b.rate == 0 {
            return true;
        }
        let elapsed = now_ms.saturating_sub(b.at_ms);
        b.at_ms = b.at_ms.max(now_ms);
        b.milli = b
            .milli
            .saturating_add(elapsed.saturating_mul(b.rate))
            .min(b.rate * 1000);
        if b.milli < 1000 {
            return false;
        }
        b.milli -= 1000;
        true
    }
}
