//! `fo` and `ovf` (ip_vs_fo.c, ip_vs_ovf.c): the available server with the
//! highest weight (first on ties); `ovf` only among servers whose active
//! connections do not exceed their weight.

use super::{Candidates, Scheduler};
use crate::conn::FlowKey;

pub struct WeightedFailover {
    pub overflow: bool,
}

impl Scheduler for WeightedFailover {
    fn schedule(&mut self, c: &Candidates<'_>, _flow: &FlowKey) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, r) in c.reals.iter().enumerate() {
            if !c.available(i) {
                continue;
            }
            if self.overflow && c.gauges[r.id as usize].active() > u64::from(r.weight) {
                continue;
            }
            if best.is_none_or(|b| r.weight > c.reals[b].weight) {
                best = Some(i);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use crate::sched::testing::{picks, reals};
    use crate::sched::SchedulerKind;

    #[test]
    fn fo_sticks_to_the_heaviest() {
        let (p, _) = picks(SchedulerKind::Fo, &reals(&[2, 5, 5, 0]), 4, true);
        assert_eq!(p, vec![1, 1, 1, 1]);
    }

    #[test]
    fn ovf_overflows_when_active_exceeds_weight() {
        // weight 2 takes 3 (active 0,1,2 <= 2), then the next heaviest.
        let (p, _) = picks(SchedulerKind::Ovf, &reals(&[1, 2]), 5, true);
        assert_eq!(p, vec![1, 1, 1, 0, 0]);
    }
}
