//! `rr`: round-robin over the servers that may take connections (IPVS
//! ip_vs_rr.c: weight 0 is skipped, otherwise weights are ignored).

use super::{Candidates, Scheduler};
use crate::conn::FlowKey;

#[derive(Default)]
pub struct RoundRobin {
    next: usize,
}

impl Scheduler for RoundRobin {
    fn schedule(&mut self, c: &Candidates<'_>, _flow: &FlowKey) -> Option<usize> {
        let n = c.reals.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            if c.available(i) {
                self.next = (i + 1) % n;
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
    fn cycles_in_order_skipping_quiesced() {
        let (p, _) = picks(SchedulerKind::Rr, &reals(&[1, 0, 5, 1]), 7, false);
        assert_eq!(p, vec![0, 2, 3, 0, 2, 3, 0]);
    }

    #[test]
    fn none_when_all_quiesced() {
        let (p, _) = picks(SchedulerKind::Rr, &reals(&[0, 0]), 3, false);
        assert!(p.is_empty());
    }
}
