//! What the sync channel did, for `xlbctl show --sync` and the metrics:
//! counters only (atomics), written by the sender and receiver threads.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

#[derive(Default)]
pub struct SyncStats {
    pub sent_datagrams: AtomicU64,
    pub sent_conns: AtomicU64,
    pub send_errors: AtomicU64,
    /// Connections reported by the workers that could not be described
    /// (their service left with a reload) or encoded.
    pub unsendable: AtomicU64,
    pub received_datagrams: AtomicU64,
    pub received_conns: AtomicU64,
    /// Records handed to a worker's inbox (it installs them at its next
    /// batch; what it refuses is counted in its own stats).
    pub installed: AtomicU64,
    /// Persistence templates received and put in the template table.
    pub templates_installed: AtomicU64,
    /// Whole-table transfers sent to a peer that appeared (or came back).
    pub table_transfers: AtomicU64,
    /// Set by the receiver when a peer appears: the sender then sends the
    /// whole table (what a returning director missed).
    pub transfer_wanted: std::sync::atomic::AtomicBool,
    /// Datagrams or records dropped, by reason (decode errors, another
    /// sync id, a stranger, an unknown service, a full inbox...).
    dropped: Mutex<Vec<(&'static str, u64)>>,
    /// Senders heard from: address, datagrams, when last.
    peers: Mutex<Vec<(std::net::IpAddr, u64, std::time::Instant)>>,
}

impl SyncStats {
    pub fn drop_for(&self, reason: &'static str, n: u64) {
        let mut d = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        match d.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, c)) => *c += n,
            None => d.push((reason, n)),
        }
    }

    /// Count a datagram from `peer`; true when the peer is new, or was
    /// silent for longer than `silent`.
    pub fn heard_from(&self, peer: std::net::IpAddr, silent: std::time::Duration) -> bool {
        let now = std::time::Instant::now();
        let mut p = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        match p.iter_mut().find(|(a, _, _)| *a == peer) {
            Some((_, c, last)) => {
                *c += 1;
                let was = std::mem::replace(last, now);
                now - was > silent
            }
            None => {
                p.push((peer, 1, now));
                true
            }
        }
    }

    pub fn dropped(&self) -> Vec<(&'static str, u64)> {
        let mut d = self
            .dropped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        d.sort();
        d
    }

    pub fn peers(&self) -> Vec<(std::net::IpAddr, u64)> {
        let p = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        p.iter().map(|&(a, n, _)| (a, n)).collect()
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Relaxed)
    }

    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_peer_is_new_at_first_then_again_only_after_a_silence() {
        let s = SyncStats::default();
        let a: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        assert!(s.heard_from(a, Duration::from_secs(60)));
        assert!(!s.heard_from(a, Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            s.heard_from(a, Duration::from_millis(1)),
            "silent past the limit"
        );
        assert_eq!(s.peers(), vec![(a, 3)]);
    }
}
