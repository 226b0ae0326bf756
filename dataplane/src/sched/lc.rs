//! `lc` and `wlc` (ip_vs_lc.c, ip_vs_wlc.c): the server with the least
//! overhead (active*256 + inactive), divided by weight for `wlc`; ties go to
//! the first in list order. Weight 0 servers are skipped by both.

use super::{Candidates, Scheduler};
use crate::conn::FlowKey;

pub struct LeastConn;
pub struct WeightedLeastConn;

impl Scheduler for LeastConn {
    fn schedule(&mut self, c: &Candidates<'_>, _flow: &FlowKey) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for i in 0..c.reals.len() {
            if !c.available(i) {
                continue;
            }
            let oh = c.overhead(i);
            if best.is_none_or(|(_, b)| oh < b) {
                best = Some((i, oh));
            }
        }
        best.map(|(i, _)| i)
    }
}

impl Scheduler for WeightedLeastConn {
    fn schedule(&mut self, c: &Candidates<'_>, _flow: &FlowKey) -> Option<usize> {
        super::least_by(c, 0..c.reals.len(), |i| c.overhead(i))
    }
}

#[cfg(test)]
mod tests {
    use crate::sched::testing::{picks, reals};
    use crate::sched::SchedulerKind;

    #[test]
    fn lc_fills_the_least_loaded_first() {
        let (p, _) = picks(SchedulerKind::Lc, &reals(&[1, 9, 1]), 6, true);
        assert_eq!(p, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn wlc_spreads_in_proportion_to_weight() {
        let rs = reals(&[3, 1, 0]);
        let (p, g) = picks(SchedulerKind::Wlc, &rs, 400, true);
        assert_eq!(p[..4], [0, 1, 0, 0]);
        assert_eq!((g[0].active(), g[1].active(), g[2].active()), (300, 100, 0));
    }

    #[test]
    fn inactive_connections_weigh_less_than_active() {
        let rs = reals(&[1, 1]);
        let gauges = crate::stats::new_gauges();
        // 0 has one active (overhead 256), 1 has 200 inactive (overhead 200).
        gauges[0].change(None, Some(true));
        for _ in 0..200 {
            gauges[1].change(None, Some(false));
        }
        let c = crate::sched::Candidates {
            reals: &rs,
            gauges: &gauges,
        };
        let mut s = crate::sched::build(SchedulerKind::Lc, &rs);
        assert_eq!(s.schedule(&c, &crate::sched::testing::flow(1)), Some(1));
    }
}
