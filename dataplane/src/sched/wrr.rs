//! `wrr`: IPVS's weighted round-robin (ip_vs_wrr.c). The current weight `cw`
//! steps down by the gcd of the weights each pass over the list; a server is
//! picked when its weight is at least `cw`. Weights 4,3,2 give
//! A A B A B C A B C, interleaved rather than in runs.

use super::{gcd, Candidates, Scheduler};
use crate::conn::FlowKey;
use crate::snapshot::RealServer;

pub struct WeightedRoundRobin {
    /// Index of the last pick (`None` before the first).
    last: Option<usize>,
    cw: u32,
    max_weight: u32,
    gcd: u32,
}

impl WeightedRoundRobin {
    pub fn new(reals: &[RealServer]) -> Self {
        let weights = reals.iter().map(|r| r.weight).filter(|&w| w > 0);
        let max_weight = weights.clone().max().unwrap_or(0);
        let gcd = weights.fold(0, gcd).max(1);
        WeightedRoundRobin {
            last: None,
            cw: 0,
            max_weight,
            gcd,
        }
    }
}

impl Scheduler for WeightedRoundRobin {
    fn schedule(&mut self, c: &Candidates<'_>, _flow: &FlowKey) -> Option<usize> {
        let n = c.reals.len();
        if n == 0 || self.max_weight == 0 || !(0..n).any(|i| c.available(i)) {
            return None;
        }
        // Bounded: at most max_weight/gcd passes of n steps.
        let limit = n * (self.max_weight / self.gcd + 1) as usize + n;
        let mut i = self.last.unwrap_or(n - 1);
        for _ in 0..limit {
            i = (i + 1) % n;
            if i == 0 {
                self.cw = self.cw.saturating_sub(self.gcd);
                if self.cw == 0 {
                    self.cw = self.max_weight;
                }
            }
            let r = &c.reals[i];
            if c.available(i) && r.weight >= self.cw {
                self.last = Some(i);
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::sched::testing::{picks, reals};
    use crate::sched::SchedulerKind;

    #[test]
    fn sequence_matches_ipvs() {
        let (p, _) = picks(SchedulerKind::Wrr, &reals(&[4, 3, 2]), 9, false);
        assert_eq!(p, vec![0, 0, 1, 0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn shares_follow_weights_over_many_picks() {
        let (p, _) = picks(SchedulerKind::Wrr, &reals(&[5, 1, 0, 2]), 8000, false);
        let count = |i| p.iter().filter(|&&x| x == i).count();
        assert_eq!(
            (count(0), count(1), count(2), count(3)),
            (5000, 1000, 0, 2000)
        );
    }

    #[test]
    fn gcd_steps_keep_equal_weights_round_robin() {
        let (p, _) = picks(SchedulerKind::Wrr, &reals(&[10, 10]), 4, false);
        assert_eq!(p, vec![0, 1, 0, 1]);
    }
}
