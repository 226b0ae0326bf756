//! Stable ids for virtual services and real servers: the same service (VIP,
//! port, protocol) and the same real server (service, address, port) keep
//! their id across reloads, so counters and connections stay attached.
//!
//! An id freed by a reload is not given to another server until no
//! connection can still refer to it: connections carry the real server's
//! id, and a reused id would send an old connection's packets to the new
//! server. A connection whose server left is dropped at its next packet, or
//! expires after at most the longest idle timeout, so ids sit out
//! `QUARANTINE` before reuse.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};
use xlb_dataplane::snapshot::{RealId, ServiceId};
pub use xlb_model::{RealKey, ServiceKey};

/// Quarantine before any configuration is applied (IPVS's longest default
/// timeout, 900 s, plus a margin); `set_quarantine` follows the config.
pub const DEFAULT_QUARANTINE: Duration = Duration::from_secs(960);

#[derive(Debug, Clone)]
pub struct IdTable<K: std::hash::Hash + Eq + Clone> {
    ids: HashMap<K, u32>,
    retired: VecDeque<(u32, Instant)>,
    next: u32,
    limit: u32,
    quarantine: Duration,
}

impl<K: std::hash::Hash + Eq + Clone> IdTable<K> {
    pub fn new(limit: u32) -> Self {
        IdTable {
            ids: HashMap::new(),
            retired: VecDeque::new(),
            next: 0,
            limit,
            quarantine: DEFAULT_QUARANTINE,
        }
    }

    /// The key's id, assigning one if new; `None` when every id is taken or
    /// still in quarantine.
    pub fn get_or_assign(&mut self, key: &K, now: Instant) -> Option<u32> {
        if let Some(&id) = self.ids.get(key) {
            return Some(id);
        }
        let id = if self.next < self.limit {
            self.next += 1;
            self.next - 1
        } else {
            match self.retired.front() {
                Some(&(id, when)) if now.duration_since(when) >= self.quarantine => {
                    self.retired.pop_front();
                    id
                }
                _ => return None,
            }
        };
        self.ids.insert(key.clone(), id);
        Some(id)
    }

    /// How long a freed id waits: longer than any connection can stay idle.
    /// Never shortened: ids retired under a longer timeout keep waiting.
    pub fn set_quarantine(&mut self, d: Duration) {
        self.quarantine = self.quarantine.max(d);
    }

    /// Forget every key not in `keep`; their ids retire into quarantine.
    pub fn retain(&mut self, keep: &HashSet<K>, now: Instant) {
        let gone: Vec<K> = self
            .ids
            .keys()
            .filter(|k| !keep.contains(k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(id) = self.ids.remove(&k) {
                self.retired.push_back((id, now));
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Ids {
    pub services: IdTable<ServiceKey>,
    pub reals: IdTable<RealKey>,
}

impl Default for Ids {
    fn default() -> Self {
        Ids {
            services: IdTable::new(xlb_dataplane::stats::MAX_SERVICES as u32),
            reals: IdTable::new(xlb_dataplane::stats::MAX_REALS as u32),
        }
    }
}

impl Ids {
    pub fn quarantine(&self) -> Duration {
        self.reals.quarantine
    }
    /// Quarantine = the longest idle timeout of `t` plus a minute.
    pub fn follow_timeouts(&mut self, t: &xlb_dataplane::conn::Timeouts) {
        let longest = t.tcp.iter().copied().chain([t.udp]).max().unwrap_or(900);
        let q = Duration::from_secs(u64::from(longest) + 60);
        self.services.set_quarantine(q);
        self.reals.set_quarantine(q);
    }

    pub fn service(&mut self, k: &ServiceKey, now: Instant) -> Option<ServiceId> {
        self.services.get_or_assign(k, now)
    }
    pub fn real(&mut self, k: &RealKey, now: Instant) -> Option<RealId> {
        self.reals.get_or_assign(k, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_never_reused_before_quarantine_ends() {
        let t0 = Instant::now();
        let mut t: IdTable<u8> = IdTable::new(3);
        assert_eq!(
            (
                t.get_or_assign(&7, t0),
                t.get_or_assign(&8, t0),
                t.get_or_assign(&7, t0)
            ),
            (Some(0), Some(1), Some(0))
        );
        t.retain(&HashSet::from([8]), t0);
        assert_eq!(t.get_or_assign(&8, t0), Some(1), "kept key keeps its id");
        assert_eq!(t.get_or_assign(&9, t0), Some(2), "fresh id, not 7's");
        assert_eq!(t.get_or_assign(&10, t0), None, "7's id is in quarantine");
        assert_eq!(
            t.get_or_assign(&10, t0 + DEFAULT_QUARANTINE),
            Some(0),
            "reused after it"
        );
    }
}
