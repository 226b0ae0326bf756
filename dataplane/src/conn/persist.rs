//! Persistence templates (IPVS `persistence_timeout`/`_granularity`): a
//! client (or client subnet) of a service goes back to the same real server
//! while its template lives. One table shared by every worker, since a
//! client's connections reach different workers; lock-free: 4-way buckets
//! of atomic words packing (tag, real server id, deadline).
//!
//! A template is refreshed when a connection is scheduled through it, kept
//! fresh while its connections carry traffic, and set to outlive a
//! connection that ends by the full timeout (as IPVS's template outlives its
//! controlled connections). Two workers creating the same template at the
//! same instant may pick different servers for those first connections;
//! the later write wins for the rest. A tag collision (1 in 65536 per
//! probe) sends a client to another client's server: a scheduling choice,
//! never a broken connection.
//!
//! Beside each way, the template's full key (client and service) is kept
//! for listings (`ipvsadm -Lnc` shows templates) and connection sync; the
//! lookup itself reads only the packed word. The array is reserved, and
//! backed by memory only where templates land.

use super::huge::HugeArray;
use crate::snapshot::{RealId, ServiceId};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::*};
use xlb_model::Address;

const WAYS: usize = 4;

#[repr(C, align(64))]
struct Bucket {
    /// (tag, real server, deadline) per way: what lookups read.
    ways: [AtomicU64; WAYS],
    /// Per way: the client's address (two words) and the service.
    keys: [[AtomicU64; 3]; WAYS],
}

/// A live template, as listings show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub service: ServiceId,
    /// The client, masked to the service's granularity.
    pub client: Address,
    pub real: RealId,
    pub expires: u32,
}

pub struct PersistTable {
    buckets: HugeArray<Bucket>,
    mask: usize,
    seed: u64,
}

fn pack(tag: u16, real: RealId, expires: u32) -> u64 {
    (u64::from(tag) << 48) | (u64::from(real as u16) << 32) | u64::from(expires)
}

fn expired(expires: u32, now: u32) -> bool {
    (now.wrapping_sub(expires) as i32) >= 0
}

impl PersistTable {
    /// Room for about `templates` live templates.
    pub fn new(templates: usize) -> PersistTable {
        let n = (templates / WAYS).next_power_of_two().max(1);
        PersistTable {
            // SAFETY: atomics only; all zero is an empty way.
            buckets: unsafe { HugeArray::reserved(n) },
            mask: n - 1,
            seed: RandomState::new().hash_one(0x7065_7273_6973_7400u64),
        }
    }

    fn place(&self, service: ServiceId, client: Address) -> (usize, u16) {
        use crate::splitmix::splitmix64 as mix;
        let mut x = mix((u64::from(service) << 32 | u64::from(client.low32())) ^ self.seed);
        if !client.is_v4() {
            let (h, l) = client.halves();
            x = mix(mix(x ^ h) ^ (l >> 32));
        }
        ((x as usize) & self.mask, ((x >> 48) as u16) | 1)
    }

    /// The live template's real server for (service, masked client).
    pub fn get(&self, service: ServiceId, client: Address, now: u32) -> Option<RealId> {
        let (b, tag) = self.place(service, client);
        self.buckets[b].ways.iter().find_map(|e| {
            let v = e.load(Relaxed);
            ((v >> 48) as u16 == tag && !expired(v as u32, now))
                .then_some(((v >> 32) & 0xffff) as RealId)
        })
    }

    /// Create or refresh the template: `real` until `expires`.
    pub fn set(&self, service: ServiceId, client: Address, real: RealId, expires: u32, now: u32) {
        let (b, tag) = self.place(service, client);
        let ways = &self.buckets[b].ways;
        let v = pack(tag, real, expires);
        // Same template, else an empty or expired way, else the way that
        // expires first.
        let pos = ways
            .iter()
            .position(|e| (e.load(Relaxed) >> 48) as u16 == tag)
            .or_else(|| {
                ways.iter().position(|e| {
                    let x = e.load(Relaxed);
                    x == 0 || expired(x as u32, now)
                })
            })
            .unwrap_or_else(|| {
                (0..WAYS)
                    .min_by_key(|&i| (ways[i].load(Relaxed) as u32).wrapping_sub(now) as i32)
                    .unwrap_or(0)
            });
        // The key first, then the word lookups read (listings check it).
        let (hi, lo) = client.halves();
        let key = &self.buckets[b].keys[pos];
        key[0].store(hi, Relaxed);
        key[1].store(lo, Relaxed);
        key[2].store(u64::from(service), Relaxed);
        ways[pos].store(v, Release);
    }

    /// Push the deadline of an existing template for `real` to at least
    /// `expires` (no-op if it now points elsewhere or is gone).
    pub fn extend(&self, service: ServiceId, client: Address, real: RealId, expires: u32) {
        let (b, tag) = self.place(service, client);
        for e in &self.buckets[b].ways {
            let v = e.load(Relaxed);
            if (v >> 48) as u16 == tag && ((v >> 32) & 0xffff) as RealId == real {
                if (expires.wrapping_sub(v as u32) as i32) > 0 {
                    let _ = e.compare_exchange(v, pack(tag, real, expires), Relaxed, Relaxed);
                }
                return;
            }
        }
    }

    /// Seconds left on a template for `real`, if it exists.
    pub fn remaining(
        &self,
        service: ServiceId,
        client: Address,
        real: RealId,
        now: u32,
    ) -> Option<u32> {
        let (b, tag) = self.place(service, client);
        self.buckets[b].ways.iter().find_map(|e| {
            let v = e.load(Relaxed);
            ((v >> 48) as u16 == tag
                && ((v >> 32) & 0xffff) as RealId == real
                && !expired(v as u32, now))
            .then(|| (v as u32).wrapping_sub(now))
        })
    }
}

impl PersistTable {
    /// Every live template: read way by way without stopping the workers
    /// (a moving picture, as `ipvsadm -Lnc`). Real server ids are 16 bits
    /// here; `reals` maps them back to the snapshot's.
    pub fn iter(&self, now: u32) -> impl Iterator<Item = Template> + '_ {
        self.buckets.iter().flat_map(move |b| {
            (0..WAYS).filter_map(move |w| {
                let v = b.ways[w].load(Acquire);
                if v == 0 || expired(v as u32, now) {
                    return None;
                }
                let k = &b.keys[w];
                let (hi, lo, svc) = (k[0].load(Relaxed), k[1].load(Relaxed), k[2].load(Relaxed));
                // Rewritten while read: skip it this time.
                (b.ways[w].load(Acquire) == v).then_some(Template {
                    service: svc as ServiceId,
                    client: Address::from_halves(hi, lo),
                    real: ((v >> 32) & 0xffff) as RealId,
                    expires: v as u32,
                })
            })
        })
    }
}

/// The client key for a granularity given as a prefix length (of the
/// client's family).
pub fn masked(client: Address, prefix: u8) -> Address {
    client.masked(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_live_until_their_deadline() {
        let t = PersistTable::new(1024);
        let client = Address::v4(0x0a00_0001);
        t.set(1, client, 7, 100, 0);
        assert_eq!(t.get(1, client, 99), Some(7));
        assert_eq!(t.get(1, client, 100), None);
        assert_eq!(t.get(2, client, 50), None, "per service");
        t.extend(1, client, 7, 500);
        assert_eq!(t.get(1, client, 400), Some(7));
        t.extend(1, client, 8, 900);
        assert_eq!(
            t.remaining(1, client, 7, 400),
            Some(100),
            "extend for another server is ignored"
        );
    }

    #[test]
    fn templates_are_listed_with_their_keys() {
        let t = PersistTable::new(64);
        let six = Address::from("2001:db8::7".parse::<std::net::IpAddr>().unwrap());
        t.set(3, Address::v4(0x0a00_0001), 7, 100, 0);
        t.set(4, six, 9, 50, 0);
        let mut all: Vec<Template> = t.iter(10).collect();
        all.sort_by_key(|x| x.service);
        assert_eq!(
            all,
            vec![
                Template {
                    service: 3,
                    client: Address::v4(0x0a00_0001),
                    real: 7,
                    expires: 100
                },
                Template {
                    service: 4,
                    client: six,
                    real: 9,
                    expires: 50
                }
            ]
        );
        assert_eq!(t.iter(60).count(), 1, "expired ones are not listed");
    }

    #[test]
    fn granularity_groups_a_subnet() {
        let a = Address::v4(0x0a01_02ff);
        assert_eq!(masked(a, 24), Address::v4(0x0a01_0200));
        assert_eq!(masked(a, 32), a);
        assert_eq!(masked(a, 0), Address::v4(0));
        let six = Address::from("2001:db8:1:2::7".parse::<std::net::IpAddr>().unwrap());
        let t = PersistTable::new(1024);
        t.set(1, masked(six, 64), 3, 100, 0);
        let neighbour = Address::from("2001:db8:1:2::99".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(t.get(1, masked(neighbour, 64), 1), Some(3), "one /64");
        assert_eq!(t.get(1, Address::v4(0), 1), None);
    }

    #[test]
    fn many_clients_keep_their_templates() {
        let t = PersistTable::new(1 << 16);
        for c in 0..20_000u32 {
            t.set(3, Address::v4(c * 7919), c % 5, 1000, 0);
        }
        let kept = (0..20_000u32)
            .filter(|&c| t.get(3, Address::v4(c * 7919), 1) == Some(c % 5))
            .count();
        assert!(kept > 19_500, "{kept} of 20000 templates kept at 30% load");
    }
}
