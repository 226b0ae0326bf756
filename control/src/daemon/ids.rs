//! Stable ids for virtual services and real servers: the same service (VIP,
//! port, protocol) and the same real server (service, address, port) keep
//! their id across reloads, so counters and connections stay attached.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use xlb_dataplane::snapshot::{RealId, ServiceId};

pub type ServiceKey = (Ipv4Addr, u16, u8);
pub type RealKey = (ServiceKey, Ipv4Addr, u16);

#[derive(Debug)]
pub struct IdTable<K: std::hash::Hash + Eq + Clone> {
    ids: HashMap<K, u32>,
    free: Vec<u32>,
    next: u32,
}

impl<K: std::hash::Hash + Eq + Clone> Default for IdTable<K> {
    fn default() -> Self {
        IdTable {
            ids: HashMap::new(),
            free: Vec::new(),
            next: 0,
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> IdTable<K> {
    pub fn get_or_assign(&mut self, key: &K) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        });
        self.ids.insert(key.clone(), id);
        id
    }

    /// Forget every key not in `keep`, making their ids reusable.
    pub fn retain(&mut self, keep: &std::collections::HashSet<K>) {
        let gone: Vec<K> = self
            .ids
            .keys()
            .filter(|k| !keep.contains(k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(id) = self.ids.remove(&k) {
                self.free.push(id);
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct Ids {
    pub services: IdTable<ServiceKey>,
    pub reals: IdTable<RealKey>,
}

impl Ids {
    pub fn service(&mut self, k: &ServiceKey) -> ServiceId {
        self.services.get_or_assign(k)
    }
    pub fn real(&mut self, k: &RealKey) -> RealId {
        self.reals.get_or_assign(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_stable_and_reused_after_removal() {
        let mut t: IdTable<u8> = IdTable::default();
        assert_eq!(
            (
                t.get_or_assign(&7),
                t.get_or_assign(&8),
                t.get_or_assign(&7)
            ),
            (0, 1, 0)
        );
        t.retain(&HashSet::from([8]));
        assert_eq!(t.get_or_assign(&8), 1);
        assert_eq!(t.get_or_assign(&9), 0, "7's id is free again");
    }
}
