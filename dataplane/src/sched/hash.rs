//! `sh` and `dh` (ip_vs_sh.c, ip_vs_dh.c): a static table of 256 buckets,
//! filled server by server in list order, each taking `weight` consecutive
//! buckets; the client's (sh) or the destination's (dh) address picks a
//! bucket. Only servers that can take connections are in the table (it is
//! rebuilt with each snapshot): a drained, disabled, failed or unresolved
//! server's keys go to the others instead of finding no server, as IPVS
//! would without its sh-fallback flag (docs/schedulers.md).

use super::{Candidates, Scheduler};
use crate::conn::FlowKey;
use crate::snapshot::RealServer;

const BUCKETS: usize = 256;

pub struct TableHash {
    table: Vec<Option<usize>>,
    by_source: bool,
}

impl TableHash {
    pub fn new(reals: &[RealServer], by_source: bool) -> Self {
        let mut table = vec![None; BUCKETS];
        let live: Vec<usize> = (0..reals.len())
            .filter(|&i| reals[i].schedulable())
            .collect();
        if !live.is_empty() {
            let (mut p, mut count) = (0, 0);
            for slot in table.iter_mut() {
                *slot = Some(live[p]);
                count += 1;
                if count >= reals[live[p]].weight {
                    p = (p + 1) % live.len();
                    count = 0;
                }
            }
        }
        TableHash { table, by_source }
    }
}

/// The kernel's hash_32(): golden-ratio multiply, top bits.
fn hash_32(v: u32, bits: u32) -> usize {
    (v.wrapping_mul(0x61C8_8647) >> (32 - bits)) as usize
}

impl Scheduler for TableHash {
    fn schedule(&mut self, c: &Candidates<'_>, flow: &FlowKey) -> Option<usize> {
        let addr = if self.by_source { flow.src } else { flow.dst };
        let i = self.table[hash_32(addr.fold32(), 8) % BUCKETS]?;
        (i < c.reals.len() && c.available(i)).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use crate::conn::FlowKey;
    use crate::sched::testing::{picks, reals};
    use crate::sched::{Candidates, SchedulerKind};
    use xlb_model::Address;

    #[test]
    fn same_source_same_server_and_shares_follow_weights() {
        let rs = reals(&[1, 3]);
        let gauges = crate::stats::new_gauges();
        let mut s = crate::sched::build(SchedulerKind::Sh, &rs);
        let c = Candidates {
            reals: &rs,
            gauges: &gauges,
        };
        let flow = |src| FlowKey {
            src: Address::v4(src),
            dst: Address::v4(9),
            sport: 1,
            dport: 80,
            proto: 6,
        };
        let first = s.schedule(&c, &flow(0x0a00_0001));
        for port in 0..50 {
            let mut f = flow(0x0a00_0001);
            f.sport = port;
            assert_eq!(
                s.schedule(&c, &f),
                first,
                "a client always lands on one server"
            );
        }
        // Over many clients: buckets 1:3.
        let (p, _) = picks(SchedulerKind::Sh, &rs, 20_000, false);
        let share = p.iter().filter(|&&x| x == 1).count() as f64 / p.len() as f64;
        assert!((share - 0.75).abs() < 0.05, "share of weight 3: {share}");
    }

    #[test]
    fn dh_keys_on_destination_and_a_quiesced_bucket_gives_none() {
        let rs = reals(&[1, 1]);
        let gauges = crate::stats::new_gauges();
        let mut s = crate::sched::build(SchedulerKind::Dh, &rs);
        let c = Candidates {
            reals: &rs,
            gauges: &gauges,
        };
        let a = s.schedule(
            &c,
            &FlowKey {
                src: Address::v4(1),
                dst: Address::v4(77),
                sport: 1,
                dport: 80,
                proto: 6,
            },
        );
        let b = s.schedule(
            &c,
            &FlowKey {
                src: Address::v4(2),
                dst: Address::v4(77),
                sport: 9,
                dport: 80,
                proto: 6,
            },
        );
        assert_eq!(a, b, "same destination, same server, whatever the client");
        let mut off = rs.clone();
        off[a.unwrap()].weight = 0;
        let c2 = Candidates {
            reals: &off,
            gauges: &gauges,
        };
        assert_eq!(
            s.schedule(
                &c2,
                &FlowKey {
                    src: Address::v4(1),
                    dst: Address::v4(77),
                    sport: 1,
                    dport: 80,
                    proto: 6
                }
            ),
            None
        );
    }
}
