//! `lblc` and `lblcr` (ip_vs_lblc.c, ip_vs_lblcr.c): locality-based least
//! connections for cache clusters. A table remembers, per destination
//! address, the server (lblc) or the set of servers (lblcr) it went to; a
//! remembered server is kept unless it is unavailable or overloaded (more
//! active connections than its weight while another server is under half
//! of its weight), else the least loaded server (wlc's measure) is chosen
//! and remembered. lblcr grows the set instead of replacing, and drops the
//! most loaded member when the set has not changed for `SET_EXPIRY`.
//!
//! The table is per worker, bounded (`MAX_ENTRIES`, cleared when full, as
//! IPVS's garbage collection would forget idle entries) and allocated once.

use super::{Candidates, Scheduler};
use crate::conn::FlowKey;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use xlb_model::Address;

const MAX_ENTRIES: usize = 16384;
const SET_SIZE: usize = 8;
const SET_EXPIRY: Duration = Duration::from_secs(6 * 60);

fn overloaded(c: &Candidates<'_>, i: usize) -> bool {
    let r = &c.reals[i];
    c.gauges[r.id as usize].active() > u64::from(r.weight)
        && c.reals
            .iter()
            .any(|d| c.gauges[d.id as usize].active() * 2 < u64::from(d.weight))
}

/// wlc's choice among `among` (indices), or all servers.
fn least(c: &Candidates<'_>, among: Option<&[u16]>) -> Option<usize> {
    match among {
        Some(ids) => super::least_by(c, ids.iter().map(|&i| usize::from(i)), |i| c.overhead(i)),
        None => super::least_by(c, 0..c.reals.len(), |i| c.overhead(i)),
    }
}

pub struct Lblc {
    table: HashMap<Address, u16>,
}

impl Lblc {
    pub fn new() -> Self {
        Lblc {
            table: HashMap::with_capacity(MAX_ENTRIES),
        }
    }
}

impl Scheduler for Lblc {
    fn schedule(&mut self, c: &Candidates<'_>, flow: &FlowKey) -> Option<usize> {
        if let Some(&i) = self.table.get(&flow.dst) {
            let i = usize::from(i);
            if i < c.reals.len() && c.available(i) && !overloaded(c, i) {
                return Some(i);
            }
        }
        let i = least(c, None)?;
        if self.table.len() >= MAX_ENTRIES && !self.table.contains_key(&flow.dst) {
            self.table.clear();
        }
        self.table.insert(flow.dst, i as u16);
        Some(i)
    }
}

struct ServerSet {
    members: [u16; SET_SIZE],
    len: usize,
    modified: Instant,
}

pub struct Lblcr {
    table: HashMap<Address, ServerSet>,
}

impl Lblcr {
    pub fn new() -> Self {
        Lblcr {
            table: HashMap::with_capacity(MAX_ENTRIES),
        }
    }
}

impl Scheduler for Lblcr {
    fn schedule(&mut self, c: &Candidates<'_>, flow: &FlowKey) -> Option<usize> {
        if let Some(set) = self.table.get_mut(&flow.dst) {
            let members = &set.members[..set.len];
            let pick = least(c, Some(members));
            if set.len > 1 && set.modified.elapsed() > SET_EXPIRY {
                // Drop the most loaded member (highest overhead per weight).
                let most = (0..set.len).max_by(|&a, &b| {
                    let (ia, ib) = (usize::from(set.members[a]), usize::from(set.members[b]));
                    let la = u128::from(c.overhead(ia)) * u128::from(c.reals[ib].weight.max(1));
                    let lb = u128::from(c.overhead(ib)) * u128::from(c.reals[ia].weight.max(1));
                    la.cmp(&lb)
                });
                if let Some(m) = most {
                    set.members.copy_within(m + 1..set.len, m);
                    set.len -= 1;
                    set.modified = Instant::now();
                }
            }
            if let Some(i) = pick.filter(|&i| !overloaded(c, i)) {
                return Some(i);
            }
            let i = least(c, None)?;
            if !set.members[..set.len].contains(&(i as u16)) && set.len < SET_SIZE {
                set.members[set.len] = i as u16;
                set.len += 1;
                set.modified = Instant::now();
            }
            return Some(i);
        }
        let i = least(c, None)?;
        if self.table.len() >= MAX_ENTRIES {
            self.table.clear();
        }
        let mut members = [0u16; SET_SIZE];
        members[0] = i as u16;
        self.table.insert(
            flow.dst,
            ServerSet {
                members,
                len: 1,
                modified: Instant::now(),
            },
        );
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use crate::sched::testing::{picks, reals};
    use crate::sched::SchedulerKind;

    #[test]
    fn lblc_sticks_to_one_server_per_destination_until_overloaded() {
        // One destination (dst 1 in testing::flow): weight 2 servers. The
        // first server keeps it until it has more active connections than
        // its weight while another is under half of its own.
        let (p, _) = picks(SchedulerKind::Lblc, &reals(&[2, 2]), 5, true);
        assert_eq!(p, vec![0, 0, 0, 1, 1]);
    }

    #[test]
    fn lblcr_grows_the_set_when_its_members_overload() {
        let (p, _) = picks(SchedulerKind::Lblcr, &reals(&[2, 2, 2]), 7, true);
        // 0 until overloaded (3 > 2 while 1 is idle), then the set {0, 1}
        // serves by least load, then grows again.
        assert_eq!(&p[..3], &[0, 0, 0]);
        assert!(p[3..].contains(&1), "{p:?}");
    }
}
