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
    /// Senders heard from (address, datagrams).
    peers: Mutex<Vec<(std::net::IpAddr, u64)>>,
}

impl SyncStats {
    pub fn drop_for(&self, reason: &'static str, n: u64) {
        let mut d = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        match d.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, c)) => *c += n,
            None => d.push((reason, n)),
        }
    }

    pub fn heard_from(&self, peer: std::net::IpAddr) {
        let mut p = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        match p.iter_mut().find(|(a, _)| *a == peer) {
            Some((_, c)) => *c += 1,
            None => p.push((peer, 1)),
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
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Relaxed)
    }

    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }
}
