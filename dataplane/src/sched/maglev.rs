//! `mh`: Maglev consistent hashing (Eisenbud et al., NSDI 2016; IPVS
//! ip_vs_mh.c). Each server has a permutation of the table's M slots from
//! two hashes of its address and port (offset, skip); servers take turns,
//! in proportion to weight / gcd(weights), claiming their next free slot
//! until the table is full. The client's address picks a slot. Hashes have
//! no secret seed: every director computes the same table, so they agree
//! on the server for a flow (active/active behind ECMP). When one of N
//! servers leaves, about 1/N of the slots change owner.

use super::{gcd, Candidates, Scheduler};
use crate::conn::FlowKey;
use crate::snapshot::RealServer;
use crate::splitmix::splitmix64 as mix;
use xlb_model::Address;

/// A prime well above any server count times its weight share.
pub const TABLE_SIZE: usize = 65537;

pub struct Maglev {
    table: Vec<u16>,
}

impl Maglev {
    pub fn new(reals: &[RealServer]) -> Self {
        Maglev {
            table: populate(reals, TABLE_SIZE),
        }
    }
}

/// 64 bits naming a server's address: the IPv4 address as it always was
/// (tables stay the same across versions), IPv6 mixed down.
fn address_key(a: Address) -> u64 {
    match a.v4_bits() {
        Some(v4) => u64::from(v4),
        None => {
            let (h, l) = a.halves();
            mix(h ^ mix(l))
        }
    }
}

/// The lookup table; empty when no server can take connections.
pub fn populate(reals: &[RealServer], m: usize) -> Vec<u16> {
    let live: Vec<usize> = (0..reals.len())
        .filter(|&i| reals[i].schedulable())
        .collect();
    if live.is_empty() {
        return Vec::new();
    }
    let g = live.iter().map(|&i| reals[i].weight).fold(0, gcd).max(1);
    let perm: Vec<(usize, usize)> = live
        .iter()
        .map(|&i| {
            let key = (address_key(reals[i].addr) << 16) | u64::from(reals[i].port);
            let offset = (mix(key ^ 0x6d61_676c_6576_0001) % m as u64) as usize;
            let skip = (mix(key ^ 0x6d61_676c_6576_0002) % (m as u64 - 1)) as usize + 1;
            (offset, skip)
        })
        .collect();
    let mut next = vec![0usize; live.len()];
    let mut table = vec![u16::MAX; m];
    let mut filled = 0;
    'fill: loop {
        for (k, &i) in live.iter().enumerate() {
            for _ in 0..reals[i].weight / g {
                let (offset, skip) = perm[k];
                let mut slot = (offset + next[k] * skip) % m;
                while table[slot] != u16::MAX {
                    next[k] += 1;
                    slot = (offset + next[k] * skip) % m;
                }
                table[slot] = i as u16;
                next[k] += 1;
                filled += 1;
                if filled == m {
                    break 'fill;
                }
            }
        }
    }
    table
}

impl Scheduler for Maglev {
    fn schedule(&mut self, c: &Candidates<'_>, flow: &FlowKey) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let slot = (mix(u64::from(flow.src.fold32())) % self.table.len() as u64) as usize;
        let i = usize::from(self.table[slot]);
        (i < c.reals.len() && c.available(i)).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::reals;

    #[test]
    fn slots_follow_weights() {
        let t = populate(&reals(&[1, 2, 1]), 4093);
        let n = |i: u16| t.iter().filter(|&&x| x == i).count() as f64 / t.len() as f64;
        assert!((n(1) - 0.5).abs() < 0.01, "{}", n(1));
        assert!((n(0) - 0.25).abs() < 0.01, "{}", n(0));
    }

    #[test]
    fn one_of_n_leaving_moves_about_one_nth_of_keys() {
        for n in [3usize, 5, 10] {
            let mut rs = reals(&vec![1; n]);
            let before = populate(&rs, TABLE_SIZE);
            rs[n / 2].weight = 0; // leaves
            let after = populate(&rs, TABLE_SIZE);
            let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count() as f64;
            let frac = moved / TABLE_SIZE as f64;
            // Ideal: exactly its 1/N share. Maglev moves a little more.
            assert!(
                frac <= 1.0 / n as f64 * 1.15,
                "N={n}: {frac:.4} of slots moved"
            );
            // Slots of the others mostly stay.
            let kept = before
                .iter()
                .zip(&after)
                .filter(|(a, b)| **a as usize != n / 2 && a == b)
                .count() as f64;
            let others = before.iter().filter(|&&a| a as usize != n / 2).count() as f64;
            assert!(
                kept / others > 0.97,
                "N={n}: only {:.3} of others' slots kept",
                kept / others
            );
        }
    }

    #[test]
    fn same_client_same_server_and_same_table_everywhere() {
        let rs = reals(&[1, 1, 1]);
        assert_eq!(
            populate(&rs, 4093),
            populate(&rs, 4093),
            "deterministic: directors agree"
        );
        let gauges = crate::stats::new_gauges();
        let c = Candidates {
            reals: &rs,
            gauges: &gauges,
        };
        let mut s = Maglev::new(&rs);
        let f = |sport| FlowKey {
            src: Address::v4(0x0a00_0042),
            dst: Address::v4(1),
            sport,
            dport: 80,
            proto: 6,
        };
        let first = s.schedule(&c, &f(1));
        assert!((2..100).all(|p| s.schedule(&c, &f(p)) == first));
    }
}
