//! Traffic counters of frontends, backends and servers: atomics the
//! sessions bump and the status reads, with HAProxy's stats names.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What every proxy object counts (HAProxy's `scur`, `stot`, `bin`,
/// `bout`, `hrsp_*`...).
#[derive(Debug, Default)]
pub struct Counters {
    /// Sessions (tcp) or requests being served now.
    pub current: AtomicU64,
    /// The most at once.
    pub max: AtomicU64,
    /// Sessions (tcp) or requests handled in all.
    pub total: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Connection attempts to a server that failed.
    pub connect_errors: AtomicU64,
    /// Responses that did not come (server died, timed out, malformed).
    pub response_errors: AtomicU64,
    /// Requests refused before any server (bad requests, no server, queue
    /// timeout).
    pub request_errors: AtomicU64,
    /// Retries to the same server, and retries that went to another one.
    pub retries: AtomicU64,
    pub redispatches: AtomicU64,
    /// HTTP responses by status class, 1xx to 5xx, then other.
    pub http_responses: [AtomicU64; 6],
}

impl Counters {
    pub fn started(&self) {
        self.total.fetch_add(1, Relaxed);
        let now = self.current.fetch_add(1, Relaxed) + 1;
        self.max.fetch_max(now, Relaxed);
    }

    pub fn finished(&self) {
        self.current.fetch_sub(1, Relaxed);
    }

    pub fn bytes(&self, client_to_server: u64, server_to_client: u64) {
        self.bytes_in.fetch_add(client_to_server, Relaxed);
        self.bytes_out.fetch_add(server_to_client, Relaxed);
    }

    pub fn response(&self, status: u16) {
        let class = match status {
            100..=599 => (status / 100 - 1) as usize,
            _ => 5,
        };
        self.http_responses[class].fetch_add(1, Relaxed);
    }

    pub fn read(&self) -> CounterValues {
        CounterValues {
            current: self.current.load(Relaxed),
            max: self.max.load(Relaxed),
            total: self.total.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            connect_errors: self.connect_errors.load(Relaxed),
            response_errors: self.response_errors.load(Relaxed),
            request_errors: self.request_errors.load(Relaxed),
            retries: self.retries.load(Relaxed),
            redispatches: self.redispatches.load(Relaxed),
            http_responses: std::array::from_fn(|i| self.http_responses[i].load(Relaxed)),
        }
    }
}

/// A reading of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CounterValues {
    pub current: u64,
    pub max: u64,
    pub total: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub connect_errors: u64,
    pub response_errors: u64,
    pub request_errors: u64,
    pub retries: u64,
    pub redispatches: u64,
    pub http_responses: [u64; 6],
}
